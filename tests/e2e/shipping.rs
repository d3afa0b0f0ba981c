//! The shipment workflow on the whole stack: opened for a vendor's sub-order, packed and
//! labelled through its Updates (an action the shipment is not ready for is refused with a
//! reason), tracked through the carrier webhook endpoint over HTTP (a bad signature is a coded
//! 400, a redelivered event is taken once, a late scan never moves the shipment back), and
//! delivered.

use std::time::Duration;

use souk_contracts::shipping::{LabelRequest, PackRequest, ShipmentClient};
use souk_domain::shipment::{Parcel, ShipmentStatus};
use souk_shipping::carrier::sandbox::{SIGNATURE_HEADER, Sandbox};
use souk_tests::shipments::{at, post_event, started};
use souk_tests::{SANDBOX_CARRIER_SECRET, app, eventually};

async fn status_of(client: &ShipmentClient, id: &str) -> ShipmentStatus {
    client.status(id).await.unwrap().unwrap().status
}

#[tokio::test]
async fn a_shipment_is_packed_labelled_tracked_and_delivered() {
    let client = ShipmentClient::new(app().temporal().await);
    let id = started(app(), &client).await;
    let vendor = "user:e2e-vendor".to_string();

    // Nothing the shipment is not ready for reaches its history.
    let early = client
        .buy_label(
            &id,
            LabelRequest {
                rate_id: None,
                actor: vendor.clone(),
            },
        )
        .await
        .unwrap_err();
    assert!(early.to_string().contains("cannot get a label"), "{early}");
    let bad_parcel = Parcel {
        weight_grams: 0,
        length_mm: 300,
        width_mm: 200,
        height_mm: 100,
    };
    let refused = client
        .pack(
            &id,
            PackRequest {
                parcel: bad_parcel,
                actor: vendor.clone(),
            },
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("weighs"), "{refused}");

    let parcel = Parcel::new(1_200, 300, 200, 100).unwrap();
    let packed = client
        .pack(
            &id,
            PackRequest {
                parcel,
                actor: vendor.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(packed.status, ShipmentStatus::Packed);
    let again = client
        .pack(
            &id,
            PackRequest {
                parcel,
                actor: vendor.clone(),
            },
        )
        .await
        .unwrap_err();
    assert!(again.to_string().contains("cannot be packed"), "{again}");

    let rates = client.rates(&id).await.unwrap();
    let services: Vec<_> = rates.iter().map(|r| r.service.as_str()).collect();
    assert_eq!(services, ["standard", "express"], "cheapest first");
    let unknown = client
        .buy_label(
            &id,
            LabelRequest {
                rate_id: Some("rate_nope".into()),
                actor: vendor.clone(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        unknown.to_string().contains("not one of the rates"),
        "{unknown}"
    );
    let label = client
        .buy_label(
            &id,
            LabelRequest {
                rate_id: Some(rates[1].id.clone()),
                actor: vendor.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(label.service, "express");
    assert_eq!(label.price, rates[1].price);
    assert!(label.tracking_code.starts_with("SBX"));
    assert_eq!(
        status_of(&client, &id).await,
        ShipmentStatus::LabelPurchased
    );

    // The carrier reports, over the webhook endpoint.
    let sandbox = Sandbox::new(SANDBOX_CARRIER_SECRET);
    let code = &label.tracking_code;
    let (body, (_, signature)) = sandbox.event(
        "sbx_evt_1",
        code,
        ShipmentStatus::InTransit,
        at(0),
        Some("Reno"),
    );
    let forged = post_event(&body, (SIGNATURE_HEADER, "sha256=00ff"), "sandbox").await;
    assert_eq!(
        (forged.status, forged.code()),
        (400, "invalid_signature"),
        "{}",
        forged.text
    );
    let unsigned = post_event(&body, ("x-other", "1"), "sandbox").await;
    assert_eq!(unsigned.status, 400, "{}", unsigned.text);
    let elsewhere = post_event(&body, (SIGNATURE_HEADER, &signature), "fedex").await;
    assert_eq!(
        (elsewhere.status, elsewhere.code()),
        (404, "unknown_carrier"),
        "{}",
        elsewhere.text
    );

    let first = post_event(&body, (SIGNATURE_HEADER, &signature), "sandbox").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["received"], 1);
    let redelivered = post_event(&body, (SIGNATURE_HEADER, &signature), "sandbox").await;
    assert_eq!(redelivered.status, 200, "{}", redelivered.text);
    assert_eq!(redelivered.body["duplicates"], 1);
    eventually(Duration::from_secs(20), "in transit", || async {
        (status_of(&client, &id).await == ShipmentStatus::InTransit).then_some(())
    })
    .await;

    // Delivered at 10:00; an out-for-delivery scan from 09:00 arrives after it.
    for (event, status, minutes) in [
        ("sbx_evt_3", ShipmentStatus::Delivered, 120),
        ("sbx_evt_2", ShipmentStatus::OutForDelivery, 60),
    ] {
        let (body, (_, signature)) = sandbox.event(event, code, status, at(minutes), None);
        let reply = post_event(&body, (SIGNATURE_HEADER, &signature), "sandbox").await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        if status == ShipmentStatus::OutForDelivery {
            assert_eq!(reply.body["stale"], 1, "after the delivery: {}", reply.text);
        }
        eventually(Duration::from_secs(20), "the delivery", || async {
            (status_of(&client, &id).await == ShipmentStatus::Delivered).then_some(())
        })
        .await;
    }
    let temporal = app().temporal().await;
    let outcome: ShipmentStatus = temporal
        .get_workflow_handle::<souk_contracts::shipping::Shipment>(&id)
        .get_result(Default::default())
        .await
        .expect("the shipment ends");
    assert_eq!(outcome, ShipmentStatus::Delivered);

    let db = app().db().await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT e.event_id, e.outcome FROM shipping.tracking_events e
         JOIN shipping.shipments s ON s.id = e.shipment_id
         WHERE s.workflow_id = $1 ORDER BY e.event_id",
    )
    .bind(&id)
    .fetch_all(&db)
    .await
    .unwrap();
    let rows: Vec<(&str, &str)> = rows.iter().map(|(e, o)| (e.as_str(), o.as_str())).collect();
    assert_eq!(
        rows,
        [
            ("sbx_evt_1", "applied"),
            ("sbx_evt_2", "stale"),
            ("sbx_evt_3", "applied")
        ]
    );
    let (status, changes): (String, i64) = sqlx::query_as(
        "SELECT s.status, (SELECT count(*) FROM shipping.history h WHERE h.shipment_id = s.id)
         FROM shipping.shipments s WHERE s.workflow_id = $1",
    )
    .bind(&id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(status, "delivered");
    assert_eq!(
        changes, 5,
        "opened, packed, labelled, in transit, delivered"
    );
}

#[tokio::test]
async fn a_captured_checkout_starts_one_shipment_per_vendor() {
    use crate::checkout_support::{cart_with, checkout_body, ended, start, two_vendors};

    let db = app().db().await;
    let (a, b, email) = two_vendors(&db).await;
    let http = souk_tests::Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 2), (&b.skus[0], 1)]).await;
    let r = start(
        &http,
        &souk_tests::unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    let order_no = r.body["order_no"].as_str().unwrap().to_string();
    let done = ended(&http, &checkout_id).await;
    assert_eq!(done["state"], "completed", "{done}");

    let client = ShipmentClient::new(app().temporal().await);
    let shipments: Vec<(String, uuid::Uuid, String, i64)> = eventually(
        Duration::from_secs(20),
        "both shipments opened",
        || async {
            let rows: Vec<(String, uuid::Uuid, String, i64)> = sqlx::query_as(
                "SELECT s.workflow_id, s.vendor_id, s.status,
                        (SELECT sum(quantity) FROM shipping.shipment_lines l WHERE l.shipment_id = s.id)
                 FROM shipping.shipments s WHERE s.order_no = $1 ORDER BY s.workflow_id",
            )
            .bind(&order_no)
            .fetch_all(&db)
            .await
            .unwrap();
            (rows.len() == 2).then_some(rows)
        },
    )
    .await;
    let mut units: Vec<i64> = shipments.iter().map(|s| s.3).collect();
    units.sort_unstable();
    assert_eq!(units, [1, 2], "each vendor ships its own lines");
    assert_ne!(shipments[0].1, shipments[1].1);
    for (workflow_id, vendor, status, _) in &shipments {
        assert_eq!(
            workflow_id,
            &souk_contracts::shipping::workflow_id(&order_no, *vendor)
        );
        assert_eq!(status, "awaiting_fulfillment");
        let view = client.status(workflow_id).await.unwrap().unwrap();
        assert_eq!(view.order_no, order_no);
        assert_eq!(view.status, ShipmentStatus::AwaitingFulfillment);
    }
    // The checkout names them, and support finds them by the order number.
    let status = http.get(&format!("/v1/checkouts/{checkout_id}")).await;
    assert_eq!(status.status, 200, "{}", status.text);
    let temporal = app().temporal().await;
    let found = eventually(Duration::from_secs(20), "shipments by OrderNo", || async {
        use futures::StreamExt;
        let query = format!("WorkflowType = 'Shipment' AND OrderNo = '{order_no}'");
        let listed: Vec<_> = temporal
            .list_workflows(query, Default::default())
            .collect::<Vec<_>>()
            .await;
        let ids: Vec<String> = listed
            .into_iter()
            .filter_map(|w| w.ok().map(|w| w.id().to_string()))
            .collect();
        (ids.len() == 2).then_some(ids)
    })
    .await;
    assert_eq!(found.len(), 2);
}

#[tokio::test]
async fn a_vendor_packs_and_labels_its_shipment_over_rest_and_sees_no_one_elses() {
    use crate::checkout_support::{cart_with, checkout_body, ended, start, two_vendors};
    use serde_json::json;

    let db = app().db().await;
    let (a, b, email) = two_vendors(&db).await;
    let http = souk_tests::Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let r = start(
        &http,
        &souk_tests::unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let order_no = r.body["order_no"].as_str().unwrap().to_string();
    ended(&http, r.body["checkout_id"].as_str().unwrap()).await;

    let (_, vendor) = souk_tests::account(&["vendor_admin"], Some(a.vendor_id)).await;
    let listed = eventually(Duration::from_secs(20), "the vendor's shipment", || async {
        let r = vendor
            .get("/v1/vendor/shipments?status=awaiting_fulfillment")
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["items"]
            .as_array()?
            .iter()
            .find(|s| s["order_no"] == order_no.as_str())
            .cloned()
    })
    .await;
    let id = listed["id"].as_str().unwrap().to_string();
    assert_eq!(listed["lines"][0]["sku"], a.skus[0].as_str());

    // Another vendor: as if it did not exist.
    let (_, stranger) = souk_tests::account(&["vendor_admin"], Some(b.vendor_id)).await;
    let r = stranger.get(&format!("/v1/vendor/shipments/{id}")).await;
    assert_eq!(
        (r.status, r.code()),
        (404, "shipment_not_found"),
        "{}",
        r.text
    );
    let r = stranger
        .post(
            &format!("/v1/vendor/shipments/{id}/pack"),
            json!({"weight_grams": 500, "length_mm": 200, "width_mm": 150, "height_mm": 80}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);

    // Out of order, and bad input: refused with a reason, nothing changes.
    let r = vendor
        .post(&format!("/v1/vendor/shipments/{id}/label"), json!({}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "shipment_action_refused"),
        "{}",
        r.text
    );
    let r = vendor
        .post(
            &format!("/v1/vendor/shipments/{id}/pack"),
            json!({"weight_grams": 90000, "length_mm": 200, "width_mm": 150, "height_mm": 80}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_weight"), "{}", r.text);

    let r = vendor
        .post(
            &format!("/v1/vendor/shipments/{id}/pack"),
            json!({"weight_grams": 500, "length_mm": 200, "width_mm": 150, "height_mm": 80}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "packed");
    assert_eq!(r.body["parcel"]["weight_grams"], 500);
    let r = vendor
        .post(&format!("/v1/vendor/shipments/{id}/rates"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let cheapest = r.body[0]["id"].as_str().unwrap().to_string();
    let r = vendor
        .post(
            &format!("/v1/vendor/shipments/{id}/label"),
            json!({"rate_id": cheapest}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let code = r.body["tracking_code"].as_str().unwrap().to_string();
    let r = vendor.get(&format!("/v1/vendor/shipments/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "label_purchased");
    assert_eq!(r.body["tracking_code"], code.as_str());
    // The actor of each change is the vendor's user.
    let actors: Vec<String> = sqlx::query_scalar(
        "SELECT actor FROM shipping.history WHERE shipment_id = $1::uuid AND to_status IN ('packed', 'label_purchased')",
    )
    .bind(&id)
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(actors.len(), 2);
    assert!(actors.iter().all(|a| a.starts_with("user:")), "{actors:?}");
}

#[tokio::test]
async fn souk_shipping_simulate_reports_tracking_through_the_webhook() {
    let client = ShipmentClient::new(app().temporal().await);
    let id = started(app(), &client).await;
    let actor = "user:e2e-vendor".to_string();
    let parcel = Parcel::new(700, 200, 150, 100).unwrap();
    client
        .pack(
            &id,
            PackRequest {
                parcel,
                actor: actor.clone(),
            },
        )
        .await
        .unwrap();
    let label = client
        .buy_label(
            &id,
            LabelRequest {
                rate_id: None,
                actor,
            },
        )
        .await
        .unwrap();
    let secret = (
        "SOUK_SHIPPING__SANDBOX_WEBHOOK_SECRET",
        SANDBOX_CARRIER_SECRET.to_string(),
    );
    let (code, out) = crate::profiles::souk(
        &[
            "shipping",
            "simulate",
            &label.tracking_code,
            "packed",
            "--api",
            &app().api,
        ],
        std::slice::from_ref(&secret),
    )
    .await;
    assert_ne!(code, Some(0), "a carrier does not pack: {out}");
    let (code, out) = crate::profiles::souk(
        &[
            "shipping",
            "simulate",
            &label.tracking_code,
            "delivered",
            "--location",
            "Boston",
            "--api",
            &app().api,
        ],
        &[secret],
    )
    .await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("\"received\":1"), "{out}");
    eventually(Duration::from_secs(20), "the delivery", || async {
        (status_of(&client, &id).await == ShipmentStatus::Delivered).then_some(())
    })
    .await;
}
