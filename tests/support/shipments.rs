//! Shipments driven as a vendor and a carrier would: started for an order number of their
//! own, packed, labelled, and tracked through the carrier webhook endpoint with events the
//! sandbox carrier signs. For the end-to-end tests and the history recorder.

use std::time::Duration;

use chrono::{DateTime, Utc};
use souk_contracts::orders::Address;
use souk_contracts::shipping::{
    LabelRequest, PackRequest, ShipmentClient, ShipmentInput, ShipmentLine, ShipmentSettings,
    workflow_id,
};
use souk_domain::shipment::{Parcel, ShipmentStatus};
use souk_domain::{CountryCode, Currency, Sku};
use souk_shipping::carrier::sandbox::{SIGNATURE_HEADER, Sandbox};
use temporalio_client::WorkflowStartOptions;
use uuid::Uuid;

use crate::{Http, Reply, SANDBOX_CARRIER_SECRET, TestApp, eventually};

pub fn input(order_no: &str, vendor: Uuid) -> ShipmentInput {
    ShipmentInput {
        order_no: order_no.to_string(),
        vendor_id: vendor,
        customer_email: "ada@example.com".into(),
        ship_to: Address {
            name: "Ada Lovelace".into(),
            line1: "12 Harbour St".into(),
            line2: None,
            city: "Boston".into(),
            postal_code: "02110".into(),
            country: CountryCode::parse("US").unwrap(),
        },
        currency: Currency::USD,
        lines: vec![ShipmentLine {
            sku: Sku::parse("MUG-BLUE").unwrap(),
            title: "Blue mug".into(),
            quantity: 2,
            warehouse: "main".into(),
        }],
        settings: ShipmentSettings {
            fulfilment_sla_seconds: 3_600,
            scan_timeout_seconds: 3_600,
        },
        parts: Vec::new(),
    }
}

/// An order number no order has.
pub fn order_no() -> String {
    format!("SK-{}", 900_000_000 + rand_u32() % 99_999_999)
}

/// Starts a shipment for a new order number; its workflow id.
pub async fn started(a: &TestApp, client: &ShipmentClient) -> String {
    start(a, client, input(&order_no(), Uuid::now_v7())).await
}

/// Starts the shipment `input` describes; its workflow id, once it is opened.
pub async fn start(a: &TestApp, client: &ShipmentClient, input: ShipmentInput) -> String {
    start_on(&a.task_queue_prefix, client, input).await
}

/// Starts the shipment `input` describes on the workers of task queue prefix `prefix`.
pub async fn start_on(prefix: &str, client: &ShipmentClient, input: ShipmentInput) -> String {
    let id = workflow_id(&input.order_no, input.vendor_id);
    let queue = souk_contracts::queues::workflows(prefix);
    client
        .start(input, WorkflowStartOptions::new(queue, id.clone()).build())
        .await
        .expect("shipment started");
    eventually(
        Duration::from_secs(20),
        "the shipment to be opened",
        || async { client.status(&id).await.ok().flatten() },
    )
    .await;
    id
}

fn rand_u32() -> u32 {
    Uuid::new_v4().as_u128() as u32
}

/// The sandbox carrier reports `status` for `tracking_code` at `at`, through the webhook.
pub async fn scan(tracking_code: &str, status: ShipmentStatus, at: DateTime<Utc>) -> Reply {
    let (body, (_, signature)) = Sandbox::new(SANDBOX_CARRIER_SECRET).event(
        &format!("sbx_evt_{}", Uuid::now_v7().simple()),
        tracking_code,
        status,
        at,
        None,
    );
    let reply = post_event(&body, (SIGNATURE_HEADER, &signature), "sandbox").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply
}

pub async fn post_event(body: &[u8], signature: (&str, &str), carrier: &str) -> Reply {
    let http = Http::new();
    http.send(
        http.request(
            reqwest::Method::POST,
            &format!("/v1/webhooks/carriers/{carrier}"),
        )
        .header("content-type", "application/json")
        .header(signature.0, signature.1)
        .body(body.to_vec()),
    )
    .await
}

pub fn at(offset_minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z")
        .unwrap()
        .to_utc()
        + chrono::Duration::minutes(offset_minutes)
}

/// Packs the shipment `id`, asks for rates and buys the cheapest label, as its vendor would;
/// the label's tracking code.
pub async fn pack_and_label(client: &ShipmentClient, id: &str) -> String {
    let actor = "user:recorder".to_string();
    let parcel = Parcel::new(900, 250, 200, 100).expect("a parcel");
    client
        .pack(
            id,
            PackRequest {
                parcel,
                actor: actor.clone(),
            },
        )
        .await
        .expect("packed");
    client.rates(id).await.expect("rates");
    client
        .buy_label(
            id,
            LabelRequest {
                rate_id: None,
                actor,
            },
        )
        .await
        .expect("a label")
        .tracking_code
}

/// The sandbox carrier takes the parcel `code` and delivers it an hour later; waits until the
/// shipment `id` has ended.
async fn carried(a: &TestApp, id: &str, code: &str) -> ShipmentStatus {
    scan(code, ShipmentStatus::InTransit, at(0)).await;
    scan(code, ShipmentStatus::Delivered, at(60)).await;
    a.temporal()
        .await
        .get_workflow_handle::<souk_contracts::shipping::Shipment>(id)
        .get_result(Default::default())
        .await
        .expect("the shipment ends")
}

/// Packs and labels the shipment `id`, waits for its scan timeout to make it an exception,
/// then has the carrier find and deliver it; waits until it has ended.
pub async fn deliver_late(a: &TestApp, client: &ShipmentClient, id: &str) -> ShipmentStatus {
    let code = pack_and_label(client, id).await;
    eventually(Duration::from_secs(30), "the exception", || async {
        let v = client.status(id).await.ok().flatten()?;
        (v.status == ShipmentStatus::Exception).then_some(())
    })
    .await;
    carried(a, id, &code).await
}

/// Packs, labels (the cheapest rate) and delivers the shipment `id`, as its vendor and the
/// sandbox carrier would; waits until it has ended.
pub async fn deliver(a: &TestApp, client: &ShipmentClient, id: &str) -> ShipmentStatus {
    let code = pack_and_label(client, id).await;
    carried(a, id, &code).await
}
