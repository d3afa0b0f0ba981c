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
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;

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
    use crate::checkout_support::{bought, two_vendors};

    let db = app().db().await;
    let (a, b, email) = two_vendors(&db).await;
    let http = souk_tests::Http::new();
    let items = [(a.skus[0].as_str(), 2), (b.skus[0].as_str(), 1)];
    let (checkout_id, order_no) = bought(&http, &items, &email).await;

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
        // (Other test stacks share the Temporal server, with order numbers of their own.)
        let ids: Vec<String> = listed
            .into_iter()
            .filter_map(|w| w.ok().map(|w| w.id().to_string()))
            .filter(|id| shipments.iter().any(|s| &s.0 == id))
            .collect();
        (ids.len() == 2).then_some(ids)
    })
    .await;
    assert_eq!(found.len(), 2);
    // Each shipment was given its search attributes at the start, and opened as a local
    // step: no activity task on `souk.shipping`, no search-attribute upsert in its history.
    for (workflow_id, vendor, _, _) in &shipments {
        let handle =
            temporal.get_workflow_handle::<souk_contracts::shipping::Shipment>(workflow_id.clone());
        let events: Vec<_> = {
            use futures::StreamExt;
            handle
                .fetch_history(Default::default())
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .map(|e| e.expect("history event"))
                .collect()
        };
        let Some(Attributes::WorkflowExecutionStartedEventAttributes(started)) =
            &events[0].attributes
        else {
            panic!("the history starts with WorkflowExecutionStarted");
        };
        let given: Vec<&str> = started
            .search_attributes
            .as_ref()
            .map(|sa| sa.indexed_fields.keys().map(String::as_str).collect())
            .unwrap_or_default();
        for name in ["OrderNo", "VendorId", "ShipmentState"] {
            assert!(
                given.contains(&name),
                "{name} given at the start: {given:?}"
            );
        }
        let remote = events.iter().any(|e| {
            matches!(
                e.attributes,
                Some(Attributes::ActivityTaskScheduledEventAttributes(_))
            )
        });
        // (Patches record their names in `TemporalChangeVersion`; nothing else is upserted.)
        let upserted: Vec<&String> = events
            .iter()
            .filter_map(|e| match &e.attributes {
                Some(Attributes::UpsertWorkflowSearchAttributesEventAttributes(u)) => {
                    u.search_attributes.as_ref()
                }
                _ => None,
            })
            .flat_map(|sa| sa.indexed_fields.keys())
            .filter(|k| *k != "TemporalChangeVersion")
            .collect();
        assert!(!remote, "{workflow_id} opened with a local step");
        assert!(
            upserted.is_empty(),
            "{workflow_id} set no search attribute again: {upserted:?}"
        );
        let by_vendor = format!(
            "WorkflowType = 'Shipment' AND VendorId = '{vendor}' AND ShipmentState = 'awaiting_fulfillment' AND OrderNo = '{order_no}'"
        );
        let n = eventually(
            Duration::from_secs(20),
            "a shipment by VendorId",
            || async {
                let n = temporal
                    .count_workflows(by_vendor.clone(), Default::default())
                    .await;
                n.ok().filter(|c| c.count() == 1).map(|c| c.count())
            },
        )
        .await;
        assert_eq!(n, 1);
    }
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
    let tracking_code = souk_tests::shipments::pack_and_label(&client, &id).await;
    let secret = (
        "SOUK_SHIPPING__SANDBOX_WEBHOOK_SECRET",
        SANDBOX_CARRIER_SECRET.to_string(),
    );
    let (code, out) = crate::profiles::souk(
        &[
            "shipping",
            "simulate",
            &tracking_code,
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
            &tracking_code,
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

/// A signed-in customer's completed checkout of two units of vendor A's product and one of
/// vendor B's.
struct TwoVendorOrder {
    a: souk_tests::fixtures::Product,
    b: souk_tests::fixtures::Product,
    email: String,
    customer: souk_tests::Http,
    checkout_id: String,
    order_no: String,
}

async fn two_vendor_order() -> TwoVendorOrder {
    use crate::checkout_support::{bought, two_vendors};
    let (a, b, _) = two_vendors(&app().db().await).await;
    let (email, customer) = souk_tests::account(&["customer"], None).await;
    let items = [(a.skus[0].as_str(), 2), (b.skus[0].as_str(), 1)];
    let (checkout_id, order_no) = bought(&customer, &items, &email).await;
    TwoVendorOrder {
        a,
        b,
        email,
        customer,
        checkout_id,
        order_no,
    }
}

/// The vendor acts on its shipment of `order_no` over REST: pack, label at the cheapest rate;
/// the shipment's id and tracking code.
pub(crate) async fn pack_and_label(vendor: &souk_tests::Http, order_no: &str) -> (String, String) {
    let listed = eventually(Duration::from_secs(20), "the vendor's shipment", || async {
        let r = vendor.get("/v1/vendor/shipments").await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["items"]
            .as_array()?
            .iter()
            .find(|s| s["order_no"] == order_no)
            .cloned()
    })
    .await;
    let id = listed["id"].as_str().unwrap().to_string();
    let code = pack_and_label_id(vendor, &id).await;
    (id, code)
}

/// The vendor packs shipment `id` and buys its label at the cheapest rate: its tracking code.
async fn pack_and_label_id(vendor: &souk_tests::Http, id: &str) -> String {
    use serde_json::json;
    let r = vendor
        .post(
            &format!("/v1/vendor/shipments/{id}/pack"),
            json!({"weight_grams": 800, "length_mm": 250, "width_mm": 150, "height_mm": 90}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = vendor
        .post(&format!("/v1/vendor/shipments/{id}/label"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["tracking_code"].as_str().unwrap().to_string()
}

async fn order_status(customer: &souk_tests::Http, order_no: &str) -> serde_json::Value {
    let r = customer.get(&format!("/v1/me/orders/{order_no}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

pub(crate) async fn order_reaches(
    customer: &souk_tests::Http,
    order_no: &str,
    status: &str,
) -> serde_json::Value {
    eventually(Duration::from_secs(20), status, || async {
        let o = order_status(customer, order_no).await;
        (o["status"] == status).then_some(o)
    })
    .await
}

/// Five units of one vendor's product, three on hand in one warehouse and three in another:
/// one shipment from each, and the vendor's part (and the order) follows both.
#[tokio::test]
async fn a_part_reserved_in_two_warehouses_ships_from_each_and_the_order_follows_both() {
    use crate::checkout_support::bought;
    use souk_tests::fixtures::{self, VariantSpec};

    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(1_000, 3, 3)]).await;
    fixtures::vendor(&db, p.vendor_id, "Two Warehouses").await;
    let (email, customer) = souk_tests::account(&["customer"], None).await;
    let (_, order_no) = bought(&customer, &[(p.skus[0].as_str(), 5)], &email).await;

    let base = souk_contracts::shipping::workflow_id(&order_no, p.vendor_id);
    let opened: Vec<(String, String, i64)> =
        eventually(Duration::from_secs(20), "two shipments opened", || async {
            let rows: Vec<(String, String, i64)> = sqlx::query_as(
                "SELECT s.workflow_id, s.warehouse,
                        (SELECT sum(quantity) FROM shipping.shipment_lines l WHERE l.shipment_id = s.id)
                 FROM shipping.shipments s WHERE s.order_no = $1 ORDER BY s.workflow_id",
            )
            .bind(&order_no)
            .fetch_all(&db)
            .await
            .unwrap();
            (rows.len() == 2).then_some(rows)
        })
        .await;
    assert_eq!(opened[0].0, base);
    assert_eq!(opened[1].0, format!("{base}-2"));
    assert_ne!(
        opened[0].1, opened[1].1,
        "one from each warehouse: {opened:?}"
    );
    assert_eq!(
        opened[0].2 + opened[1].2,
        5,
        "every unit ships once: {opened:?}"
    );

    let (_, vendor) = souk_tests::account(&["vendor_admin"], Some(p.vendor_id)).await;
    let ids: Vec<String> = {
        let r = vendor.get("/v1/vendor/shipments").await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["order_no"] == order_no.as_str())
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids.len(), 2, "the vendor sees both");
    let sub_order = |o: &serde_json::Value| {
        o["sub_orders"]
            .as_array()
            .and_then(|s| s.first())
            .map(|s| s["status"].clone())
            .unwrap_or_default()
    };

    // One shipment leaves: the part is still being prepared, the order partly shipped.
    let first = pack_and_label_id(&vendor, &ids[0]).await;
    order_reaches(&customer, &order_no, "processing").await;
    souk_tests::shipments::scan(&first, ShipmentStatus::InTransit, at(0)).await;
    let o = order_reaches(&customer, &order_no, "partially_shipped").await;
    assert_eq!(sub_order(&o), "processing", "{o}");
    // The other leaves too: shipped; both delivered: delivered.
    let second = pack_and_label_id(&vendor, &ids[1]).await;
    souk_tests::shipments::scan(&second, ShipmentStatus::InTransit, at(10)).await;
    let o = order_reaches(&customer, &order_no, "shipped").await;
    assert_eq!(sub_order(&o), "shipped", "{o}");
    souk_tests::shipments::scan(&first, ShipmentStatus::Delivered, at(60)).await;
    souk_tests::shipments::scan(&second, ShipmentStatus::Delivered, at(70)).await;
    let o = order_reaches(&customer, &order_no, "delivered").await;
    assert_eq!(sub_order(&o), "delivered", "{o}");
    assert_eq!(o["shipments"].as_array().map(Vec::len), Some(2), "{o}");
}

#[tokio::test]
async fn an_order_follows_its_two_shipments_to_the_door_and_the_customer_hears_of_each_once() {
    use crate::checkout_support::settled_mails_to;
    use serde_json::json;

    let TwoVendorOrder {
        a,
        b,
        email,
        customer,
        order_no,
        ..
    } = two_vendor_order().await;
    let o = eventually(Duration::from_secs(20), "two shipments shown", || async {
        let o = order_status(&customer, &order_no).await;
        (o["shipments"].as_array().map(Vec::len) == Some(2)).then_some(o)
    })
    .await;
    assert_eq!(o["status"], "placed");
    assert!(
        o["shipments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "awaiting_fulfillment" && s.get("alerts").is_none()),
        "{o}"
    );

    // Vendor A packs, labels and hands its parcel over: the order is partly on its way.
    let (_, vendor_a) = souk_tests::account(&["vendor_admin"], Some(a.vendor_id)).await;
    let (_, vendor_b) = souk_tests::account(&["vendor_admin"], Some(b.vendor_id)).await;
    let (id_a, code_a) = pack_and_label(&vendor_a, &order_no).await;
    order_reaches(&customer, &order_no, "processing").await;
    let r = vendor_a
        .post(&format!("/v1/vendor/shipments/{id_a}/ship"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "in_transit");
    let r = vendor_a
        .post(&format!("/v1/vendor/shipments/{id_a}/ship"), json!({}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "shipment_action_refused"),
        "handed over once: {}",
        r.text
    );
    let o = order_reaches(&customer, &order_no, "partially_shipped").await;
    let shown = o["shipments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id_a.as_str())
        .cloned()
        .unwrap();
    assert_eq!(shown["tracking_code"], code_a.as_str(), "{shown}");
    assert_eq!(shown["status"], "in_transit");

    // Vendor B's parcel is scanned by the carrier: all of it is on its way.
    let (_, code_b) = pack_and_label(&vendor_b, &order_no).await;
    souk_tests::shipments::scan(&code_b, ShipmentStatus::InTransit, at(0)).await;
    order_reaches(&customer, &order_no, "shipped").await;

    // One delivered: the order is still on its way. Both: it is delivered.
    souk_tests::shipments::scan(&code_a, ShipmentStatus::Delivered, at(60)).await;
    let o = eventually(Duration::from_secs(20), "A delivered", || async {
        let o = order_status(&customer, &order_no).await;
        o["shipments"]
            .as_array()?
            .iter()
            .any(|s| s["id"] == id_a.as_str() && s["status"] == "delivered")
            .then_some(o)
    })
    .await;
    assert_eq!(o["status"], "shipped", "{o}");
    let a_events = o["shipments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id_a.as_str())
        .map(|s| s["events"].clone())
        .unwrap();
    assert_eq!(a_events.as_array().map(Vec::len), Some(1), "{a_events}");
    assert_eq!(a_events[0]["status"], "delivered");
    souk_tests::shipments::scan(&code_b, ShipmentStatus::Delivered, at(90)).await;
    let o = order_reaches(&customer, &order_no, "delivered").await;
    let events: Vec<&str> = o["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["event"].as_str())
        .collect();
    for step in ["processing", "partially_shipped", "shipped", "delivered"] {
        assert_eq!(
            events.iter().filter(|e| **e == step).count(),
            1,
            "{step} once in {events:?}"
        );
    }
    let vendor_actor = o["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            t["event"] == "sub_order_shipped"
                && t["note"]
                    .as_str()
                    .is_some_and(|n| n.contains(&a.vendor_id.to_string()))
        })
        .map(|t| t["actor"].clone());
    assert!(
        vendor_actor
            .as_ref()
            .and_then(|a| a.as_str())
            .is_some_and(|a| a.starts_with("user:")),
        "vendor A's hand-over is by its user: {vendor_actor:?}"
    );

    // The vendor sees its own shipment in its view of the order, and only that one.
    let r = vendor_b.get(&format!("/v1/vendor/orders/{order_no}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["shipments"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["shipments"][0]["tracking_code"], code_b.as_str());

    // The customer's mails: the confirmation, then each parcel on its way and delivered, once.
    let mails = settled_mails_to(&email, Duration::from_secs(2)).await;
    let subjects: Vec<&str> = mails.iter().map(|(s, _)| s.as_str()).collect();
    let count = |needle: &str| subjects.iter().filter(|s| s.contains(needle)).count();
    assert_eq!(count("is on its way"), 2, "{subjects:?}");
    assert_eq!(count("a parcel was delivered"), 2, "{subjects:?}");
    assert_eq!(count("a problem"), 0, "{subjects:?}");
    for code in [&code_a, &code_b] {
        assert!(
            mails
                .iter()
                .any(|(s, text)| s.contains("on its way") && text.contains(code.as_str())),
            "a shipped mail names {code}"
        );
    }
}

#[tokio::test]
async fn a_late_vendor_is_reminded_and_a_parcel_never_scanned_becomes_an_exception() {
    use crate::checkout_support::settled_mails_to;
    use souk_contracts::shipping::ShipmentSettings;

    let db = app().db().await;
    let vendor = uuid::Uuid::now_v7();
    let vendor_email = souk_tests::fixtures::vendor(&db, vendor, "Late Crafts").await;
    let customer_email = format!("buyer-{}@example.com", souk_tests::unique().to_lowercase());
    let client = ShipmentClient::new(app().temporal().await);
    let mut input = souk_tests::shipments::input(&souk_tests::shipments::order_no(), vendor);
    input.customer_email = customer_email.clone();
    input.settings = ShipmentSettings {
        fulfilment_sla_seconds: 2,
        scan_timeout_seconds: 3,
    };
    let id = souk_tests::shipments::start(app(), &client, input).await;
    let alerts = |kind: &'static str| {
        let db = db.clone();
        let id = id.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT a.note FROM shipping.alerts a JOIN shipping.shipments s ON s.id = a.shipment_id
                 WHERE s.workflow_id = $1 AND a.kind = $2",
            )
            .bind(&id)
            .bind(kind)
            .fetch_all(&db)
            .await
            .unwrap()
        }
    };

    // Not packed within 2 s: the vendor is reminded once, and staff alerted.
    let reminders = settled_mails_to(&vendor_email, Duration::from_secs(3)).await;
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    assert!(
        reminders[0].0.contains("is waiting to be packed"),
        "{reminders:?}"
    );
    assert!(reminders[0].1.contains("2 seconds"), "{}", reminders[0].1);
    assert_eq!(
        alerts("fulfilment_late").await,
        ["not packed within 2 seconds"]
    );

    // Staff find it by its alert (a vendor may not look), and pack it for the vendor.
    let shipment_id = client
        .status(&id)
        .await
        .unwrap()
        .unwrap()
        .shipment_id
        .unwrap();
    let ops = souk_tests::Http::new().with_token(souk_tests::admin_token());
    let r = ops
        .get("/v1/admin/shipments?alert=fulfilment_late&limit=100")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == shipment_id.to_string().as_str()),
        "{}",
        r.text
    );
    let r = ops.get("/v1/admin/shipments?alert=no_scan&limit=100").await;
    assert!(
        !r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == shipment_id.to_string().as_str()),
        "not yet: {}",
        r.text
    );
    let (_, a_vendor) = souk_tests::account(&["vendor_admin"], Some(vendor)).await;
    let r = a_vendor.get("/v1/admin/shipments").await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = ops
        .post(
            &format!("/v1/admin/shipments/{shipment_id}/pack"),
            serde_json::json!({"weight_grams": 700, "length_mm": 200, "width_mm": 150, "height_mm": 100}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("packed")),
        "{}",
        r.text
    );
    let packer: String = sqlx::query_scalar(
        "SELECT actor FROM shipping.history WHERE shipment_id = $1 AND to_status = 'packed'",
    )
    .bind(shipment_id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(packer.starts_with("user:"), "{packer}");

    // Labelled late, then no scan within 3 s: an exception, the customer told.
    let actor = "user:e2e-vendor".to_string();
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
    eventually(Duration::from_secs(20), "the exception", || async {
        (status_of(&client, &id).await == ShipmentStatus::Exception).then_some(())
    })
    .await;
    assert_eq!(
        alerts("no_scan").await,
        ["no carrier scan within 3 seconds of the label"]
    );
    let mails = settled_mails_to(&customer_email, Duration::from_secs(2)).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0].0.contains("a problem with a delivery"),
        "{mails:?}"
    );
    assert!(
        mails[0].1.contains("no carrier scan within 3 seconds"),
        "{}",
        mails[0].1
    );
    assert!(mails[0].1.contains(&label.tracking_code), "{}", mails[0].1);

    // The carrier finds it after all: on its way, then delivered; each mail once.
    souk_tests::shipments::scan(&label.tracking_code, ShipmentStatus::InTransit, at(0)).await;
    souk_tests::shipments::scan(&label.tracking_code, ShipmentStatus::Delivered, at(30)).await;
    let temporal = app().temporal().await;
    let outcome: ShipmentStatus = temporal
        .get_workflow_handle::<souk_contracts::shipping::Shipment>(&id)
        .get_result(Default::default())
        .await
        .expect("the shipment ends");
    assert_eq!(outcome, ShipmentStatus::Delivered);
    let mails = settled_mails_to(&customer_email, Duration::from_secs(2)).await;
    let subjects: Vec<&str> = mails.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert!(
        subjects.iter().any(|s| s.contains("on its way")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("was delivered")),
        "{subjects:?}"
    );
    assert_eq!(
        settled_mails_to(&vendor_email, Duration::from_secs(1))
            .await
            .len(),
        1,
        "one reminder only"
    );
}

#[tokio::test]
async fn a_vendor_cancels_units_it_cannot_send_and_exactly_their_share_is_refunded_once() {
    use crate::checkout_support::{at_provider, payment, settled_mails_to, stock};
    use serde_json::json;
    use souk_domain::refund::{LinePaid, LineRefunds, shipping_shares};

    let db = app().db().await;
    let TwoVendorOrder {
        a,
        b,
        email,
        customer,
        checkout_id,
        order_no,
    } = two_vendor_order().await;
    let on_hand = stock(&db, &a.skus[0]).await.on_hand;

    // What vendor A's line paid, as the order recorded it.
    let (unit_price, quantity, discount, tax, shipping, sub_total): (i64, i32, i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT l.unit_price, l.quantity, l.discount, l.tax, s.shipping, s.total
             FROM orders.order_lines l JOIN orders.sub_orders s ON s.id = l.sub_order_id
             JOIN orders.orders o ON o.id = l.order_id
             WHERE o.order_no = $1 AND l.sku = $2",
        )
        .bind(&order_no)
        .bind(&a.skus[0])
        .fetch_one(&db)
        .await
        .unwrap();
    let line = LinePaid {
        unit_price,
        quantity: i64::from(quantity),
        discount,
        tax,
        shipping: shipping_shares(shipping, &[unit_price * i64::from(quantity)])[0],
    };
    assert_eq!(line.paid(), sub_total, "vendor A's part is this one line");

    let (_, vendor) = souk_tests::account(&["vendor_admin"], Some(a.vendor_id)).await;
    let listed = eventually(Duration::from_secs(20), "the vendor's shipment", || async {
        let r = vendor.get("/v1/vendor/shipments").await;
        r.body["items"]
            .as_array()?
            .iter()
            .find(|s| s["order_no"] == order_no.as_str())
            .cloned()
    })
    .await;
    let id = listed["id"].as_str().unwrap().to_string();
    let path = format!("/v1/vendor/shipments/{id}/cancel-lines");
    let cancel_as = |key: String, body: serde_json::Value| {
        let vendor = vendor.clone();
        let path = path.clone();
        async move { vendor.post_idempotent(&path, &key, body).await }
    };
    let cancel = |body: serde_json::Value| cancel_as(souk_tests::unique(), body);

    // Bad requests change nothing.
    for (body, status, code) in [
        (json!({"lines": [], "reason": "lost"}), 422, "invalid_body"),
        (
            json!({"lines": [{"sku": a.skus[0], "quantity": 1}], "reason": ""}),
            422,
            "invalid_body",
        ),
        (
            json!({"lines": [{"sku": "no such sku!", "quantity": 1}], "reason": "lost"}),
            422,
            "invalid_body",
        ),
        (
            json!({"lines": [{"sku": a.skus[0], "quantity": 0}], "reason": "lost"}),
            422,
            "invalid_body",
        ),
        (
            json!({"lines": [{"sku": a.skus[0], "quantity": 3}], "reason": "lost"}),
            409,
            "shipment_action_refused",
        ),
        (
            json!({"lines": [{"sku": b.skus[0], "quantity": 1}], "reason": "lost"}),
            409,
            "shipment_action_refused",
        ),
    ] {
        let r = cancel(body.clone()).await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.text);
    }
    let r = vendor
        .post(
            &path,
            json!({"lines": [{"sku": a.skus[0], "quantity": 1}], "reason": "lost"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "idempotency_key_required"),
        "{}",
        r.text
    );
    assert_eq!(at_provider(&db, &checkout_id, "refund").await.effects, 0);

    // One unit lost: exactly its share refunded, the stock left as it is (it is gone). The
    // same request again (a retry) answers the same and cancels nothing more.
    let key = souk_tests::unique();
    let body = json!({"lines": [{"sku": a.skus[0], "quantity": 1}], "reason": "one broke in the warehouse"});
    let r = cancel_as(key.clone(), body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let first = line.refund(LineRefunds::default(), 1).unwrap();
    assert_eq!(r.body["refunded"]["amount"], first, "{}", r.text);
    let again = cancel_as(key, body).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["refunded"], r.body["refunded"]);
    assert_eq!(
        again.body["shipment"]["lines"][0]["cancelled"], 1,
        "{}",
        again.text
    );
    assert_eq!(r.body["shipment"]["status"], "awaiting_fulfillment");
    assert_eq!(r.body["shipment"]["lines"][0]["cancelled"], 1);
    assert_eq!(stock(&db, &a.skus[0]).await.on_hand, on_hand);

    // The other unit, back on the shelf: the shipment and vendor A's part are cancelled.
    let r = cancel(json!({"lines": [{"sku": a.skus[0], "quantity": 1}], "reason": "the rest was mislabelled", "restock": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let second = line
        .refund(
            LineRefunds {
                units: 1,
                amount: first,
            },
            1,
        )
        .unwrap();
    assert_eq!(r.body["refunded"]["amount"], second, "{}", r.text);
    assert_eq!(r.body["shipment"]["status"], "cancelled");
    assert_eq!(
        first + second,
        sub_total,
        "all of vendor A's part, to the minor unit"
    );
    assert_eq!(stock(&db, &a.skus[0]).await.on_hand, on_hand + 1);
    let r = cancel(json!({"lines": [{"sku": a.skus[0], "quantity": 1}], "reason": "again"})).await;
    assert_eq!(r.status, 409, "{}", r.text);

    // Each refund reached the provider once; the order says what happened.
    let refunds = at_provider(&db, &checkout_id, "refund").await;
    assert_eq!((refunds.effects, refunds.keys), (2, 2), "{refunds:?}");
    let (_, _, _, refunded) = payment(&db, &checkout_id, 1).await.unwrap();
    assert_eq!(refunded, sub_total);
    let temporal = app().temporal().await;
    let outcome: ShipmentStatus = temporal
        .get_workflow_handle::<souk_contracts::shipping::Shipment>(
            &souk_contracts::shipping::workflow_id(&order_no, a.vendor_id),
        )
        .get_result(Default::default())
        .await
        .expect("the shipment ends");
    assert_eq!(outcome, ShipmentStatus::Cancelled);
    let o = eventually(Duration::from_secs(20), "A's part cancelled", || async {
        let r = customer.get(&format!("/v1/me/orders/{order_no}")).await;
        r.body["sub_orders"]
            .as_array()?
            .iter()
            .any(|s| s["vendor_id"] == a.vendor_id.to_string() && s["status"] == "cancelled")
            .then_some(r.body)
    })
    .await;
    assert_eq!(o["status"], "placed", "vendor B's part still ships: {o}");
    assert_eq!(o["payment_status"], "partially_refunded", "{o}");
    let refunded_entries: Vec<&serde_json::Value> = o["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["event"] == "lines_refunded")
        .collect();
    assert_eq!(refunded_entries.len(), 2, "{o}");
    assert!(
        refunded_entries
            .iter()
            .all(|t| t["actor"].as_str().is_some_and(|a| a.starts_with("user:")))
    );

    // The customer was told twice, with the amounts.
    let mails = settled_mails_to(&email, Duration::from_secs(2)).await;
    let told: Vec<&(String, String)> = mails
        .iter()
        .filter(|(s, _)| s.contains("cannot be sent"))
        .collect();
    assert_eq!(told.len(), 2, "{mails:?}");
    assert!(
        told.iter()
            .any(|(_, t)| t.contains("one broke in the warehouse"))
    );
}
