//! Crashes: a worker process killed mid-checkout (between steps, and inside the money window:
//! while Stripe carries out a capture or a refund, and after it did but before the answer was
//! recorded; a return's refund likewise), and the Temporal server restarted mid-checkout.
//! Each time the checkout (or the return) ends right, with one capture (or refund) at the
//! provider, and the database agrees.

use std::time::Duration;

use souk_tests::process::{SoukProcess, TemporalServer};
use souk_tests::stripe_double::HoldAt;
use souk_tests::{Http, WEBHOOK_SECRET, app, eventually, unique};

use crate::checkout_support::*;

/// A checkout decided (authorized, order placed) and waiting out a capture delay.
async fn decided_checkout(souk: &SoukProcess) -> (String, String) {
    let db = app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let cart = cart_with(&Http::new(), &[(&a.skus[0], 1)]).await;
    let r = start(
        &souk.http(),
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["state"], "running");
    assert_eq!(r.body["step"], "capture_delay", "{}", r.text);
    (
        r.body["checkout_id"].as_str().unwrap().to_string(),
        a.skus[0].clone(),
    )
}

async fn assert_captured_once(checkout_id: &str) {
    let db = app().db().await;
    let (status, amount, captured, _) = payment(&db, checkout_id, 1).await.unwrap();
    assert_eq!((status.as_str(), captured), ("captured", amount));
    once_at_provider(&db, checkout_id, "capture").await;
    once_at_provider(&db, checkout_id, "authorize").await;
    let reference: String = sqlx::query_scalar(
        "SELECT provider_payment_id FROM payments.payments WHERE checkout_id = $1",
    )
    .bind(checkout_id)
    .fetch_one(&db)
    .await
    .unwrap();
    let (state, _, captured_at_provider, _) = souk_payments::sandbox::intent(&db, &reference)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (state.as_str(), captured_at_provider.amount),
        ("succeeded", amount),
        "captured once at the provider"
    );
    assert_eq!(
        order(&db, checkout_id).await.map(|o| o.2),
        Some("captured".into())
    );
}

#[tokio::test]
async fn a_worker_killed_after_authorization_finishes_the_checkout_when_it_comes_back() {
    let mut souk = SoukProcess::start(
        app(),
        "durability-worker",
        &app().temporal_address,
        &[("SOUK_CHECKOUT__CAPTURE_DELAY_SECONDS", "3".into())],
    )
    .await;
    let (checkout_id, sku) = decided_checkout(&souk).await;
    souk.kill().await;
    let db = app().db().await;
    let (status, ..) = payment(&db, &checkout_id, 1).await.unwrap();
    assert_eq!(status, "authorized", "killed before capture");
    assert_eq!(stock(&db, &sku).await.reserved, 1);

    souk.restart().await;
    let done = ended_within(&souk.http(), &checkout_id, Duration::from_secs(90)).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_captured_once(&checkout_id).await;
    assert_eq!(stock(&db, &sku).await.reserved, 0);
    souk.kill().await;
}

#[tokio::test]
async fn a_temporal_restart_mid_checkout_loses_nothing() {
    let mut temporal = TemporalServer::start("durability-temporal").await;
    let mut souk = SoukProcess::start(
        app(),
        "durability-server",
        &temporal.address,
        &[("SOUK_CHECKOUT__CAPTURE_DELAY_SECONDS", "3".into())],
    )
    .await;
    let (checkout_id, sku) = decided_checkout(&souk).await;
    temporal.restart().await;

    let http = souk.http();
    let done = eventually(
        Duration::from_secs(120),
        "the checkout to complete after the restart",
        || async {
            let r = http.get(&format!("/v1/checkouts/{checkout_id}")).await;
            (r.status == 200 && r.body["state"] != "running").then_some(r.body)
        },
    )
    .await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_captured_once(&checkout_id).await;
    assert_eq!(stock(&app().db().await, &sku).await.reserved, 0);
    souk.kill().await;
    temporal.kill().await;
}

/// A Souk process whose cards go to the test run's Stripe double, with a review window.
async fn with_stripe(name: &str) -> SoukProcess {
    SoukProcess::start(
        app(),
        name,
        &app().temporal_address,
        &[
            ("SOUK_CHECKOUT__CAPTURE_DELAY_SECONDS", "1".into()),
            ("SOUK_PAYMENTS__PROVIDERS__CARD", "stripe".into()),
            ("SOUK_PAYMENTS__SANDBOX_ENABLED", "false".into()),
            ("SOUK_PAYMENTS__STRIPE_SECRET_KEY", "sk_test_e2e".into()),
            ("SOUK_PAYMENTS__STRIPE_API_BASE", app().stripe.url()),
            (
                "SOUK_PAYMENTS__STRIPE_WEBHOOK_SECRET",
                WEBHOOK_SECRET.into(),
            ),
        ],
    )
    .await
}

/// Kills the process while Stripe holds one of its calls (at `at`), lets the call finish at
/// Stripe with nobody listening, checks that the database has not recorded it, and brings
/// the process back. Returns the checkout's final status.
async fn kill_during(
    souk: &mut SoukProcess,
    checkout_id: &str,
    held: souk_tests::stripe_double::Held,
    recorded: &str,
) -> serde_json::Value {
    tokio::time::timeout(Duration::from_secs(60), held.arrived())
        .await
        .expect("the call reached Stripe");
    souk.kill().await;
    held.release();
    let db = app().db().await;
    let (status, ..) = payment(&db, checkout_id, 1).await.unwrap();
    assert_eq!(status, recorded, "the database has not seen the answer");
    souk.restart().await;
    ended_within(&souk.http(), checkout_id, Duration::from_secs(120)).await
}

/// The worker dies while its capture is in flight at Stripe, which carries it out anyway.
/// Back up, the checkout retries the capture with the same key and Stripe answers it from what
/// it saved: one capture, of the checkout's total, and the database agrees.
#[tokio::test]
async fn a_worker_killed_while_stripe_captures_captures_once() {
    for at in [HoldAt::Received, HoldAt::Answered] {
        let mut souk = with_stripe(&format!("durability-capture-{at:?}").to_lowercase()).await;
        let db = app().db().await;
        let (a, _, email) = two_vendors(&db).await;
        let cart = cart_with(&Http::new(), &[(&a.skus[0], 1)]).await;
        let checkout_id = format!("checkout-{cart}");
        let held = app().stripe.hold_next(&checkout_id, "capture", at);
        let r = start(
            &souk.http(),
            &unique(),
            checkout_body(&cart, &email, "pm_card_visa"),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let done = kill_during(&mut souk, &checkout_id, held, "authorized").await;
        assert_eq!(done["state"], "completed", "{at:?}: {done}");
        let total = done["total"]["amount"].as_i64().unwrap();
        let intents = app().stripe.intents_for(&checkout_id);
        assert_eq!(intents.len(), 1, "{intents:?}");
        assert_eq!(
            (intents[0].status.as_str(), intents[0].captured),
            ("succeeded", total),
            "{at:?}"
        );
        assert_eq!(
            done_at_stripe(&app().stripe, &checkout_id, "/capture"),
            1,
            "{at:?}"
        );
        assert!(
            retried_at_stripe(&app().stripe, &checkout_id, "/capture") >= 1,
            "{at:?}: the capture was retried after the restart, and answered from what Stripe saved"
        );
        let (status, amount, captured, _) = payment(&db, &checkout_id, 1).await.unwrap();
        assert_eq!(
            (status.as_str(), amount, captured),
            ("captured", total, total),
            "{at:?}"
        );
        assert_eq!(
            order(&db, &checkout_id).await.map(|o| o.2),
            Some("captured".into())
        );
        souk.kill().await;
    }
}

/// The checkout must refund (its stock went while the capture was in flight), and the worker
/// dies after Stripe refunded, before the answer arrived. Back up, the refund is retried with
/// its key: refunded once, in full, and the database agrees.
#[tokio::test]
async fn a_worker_killed_after_stripe_refunded_refunds_once() {
    let mut souk = with_stripe("durability-refund").await;
    let db = app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let cart = cart_with(&Http::new(), &[(&a.skus[0], 1)]).await;
    let checkout_id = format!("checkout-{cart}");
    let capture = app()
        .stripe
        .hold_next(&checkout_id, "capture", HoldAt::Received);
    let refund = app()
        .stripe
        .hold_next(&checkout_id, "refund", HoldAt::Answered);
    let r = start(
        &souk.http(),
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    tokio::time::timeout(Duration::from_secs(60), capture.arrived())
        .await
        .expect("the capture reached Stripe");
    take_back(&db, &reservation_id(&checkout_id, &a.skus[0])).await;
    capture.release();
    let done = kill_during(&mut souk, &checkout_id, refund, "captured").await;
    assert_eq!(
        (done["state"].as_str(), done["failure"]["code"].as_str()),
        (Some("compensated"), Some("reservation_expired")),
        "{done}"
    );
    let total = done["total"]["amount"].as_i64().unwrap();
    let intents = app().stripe.intents_for(&checkout_id);
    assert_eq!(
        (intents.len(), intents[0].captured, intents[0].refunded),
        (1, total, total),
        "{intents:?}"
    );
    assert_eq!(
        (
            done_at_stripe(&app().stripe, &checkout_id, "/capture"),
            done_at_stripe(&app().stripe, &checkout_id, "/v1/refunds")
        ),
        (1, 1)
    );
    assert!(retried_at_stripe(&app().stripe, &checkout_id, "/v1/refunds") >= 1);
    let (status, _, captured, refunded) = payment(&db, &checkout_id, 1).await.unwrap();
    assert_eq!(
        (status.as_str(), captured, refunded),
        ("refunded", total, total)
    );
    souk.kill().await;
}

/// The worker dies while EasyPost is buying a label (the double bought it and holds its
/// answer). Back up, the retried step reads the shipment at EasyPost before buying, finds the
/// label and buys none: one label at the carrier, and the shipment has it.
#[tokio::test]
async fn a_worker_killed_while_the_carrier_buys_a_label_buys_one() {
    use souk_contracts::shipping::{LabelRequest, PackRequest, ShipmentClient};
    use souk_domain::shipment::{Parcel, ShipmentStatus};
    use souk_tests::easypost_double::{BuyFault, EasyPostDouble};

    const KEY: &str = "EZTK_durability";
    let double = EasyPostDouble::start(KEY).await.unwrap();
    let mut souk = SoukProcess::start(
        app(),
        "durability-label",
        &app().temporal_address,
        &[
            ("SOUK_SHIPPING__CARRIER", "easypost".into()),
            ("SOUK_SHIPPING__EASYPOST_API_KEY", KEY.into()),
            ("SOUK_SHIPPING__EASYPOST_API_BASE", double.url()),
            (
                "SOUK_SHIPPING__EASYPOST_WEBHOOK_SECRET",
                "whsec_durability".into(),
            ),
        ],
    )
    .await;
    let client = ShipmentClient::new(app().temporal().await);
    let input =
        souk_tests::shipments::input(&souk_tests::shipments::order_no(), uuid::Uuid::now_v7());
    let id = souk_tests::shipments::start_on(souk.task_queue_prefix(), &client, input).await;
    let shipment_id = client
        .status(&id)
        .await
        .unwrap()
        .unwrap()
        .shipment_id
        .unwrap();
    let reference = shipment_id.to_string();
    let actor = "user:e2e-vendor".to_string();
    client
        .pack(
            &id,
            PackRequest {
                parcel: Parcel::new(900, 250, 200, 100).unwrap(),
                actor: actor.clone(),
            },
        )
        .await
        .unwrap();
    client.rates(&id).await.unwrap();
    double.fault_next_buy(&reference, BuyFault::Delay(Duration::from_secs(15)));
    let buying = tokio::spawn({
        let client = client.clone();
        let id = id.clone();
        async move {
            client
                .buy_label(
                    &id,
                    LabelRequest {
                        rate_id: None,
                        actor,
                    },
                )
                .await
        }
    });
    eventually(
        Duration::from_secs(30),
        "the buy to reach EasyPost",
        || async { (double.purchases(&reference) == 1).then_some(()) },
    )
    .await;
    souk.kill().await;
    let db = app().db().await;
    let recorded: Option<String> =
        sqlx::query_scalar("SELECT tracking_code FROM shipping.shipments WHERE id = $1")
            .bind(shipment_id)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(recorded, None, "the answer never reached the database");

    souk.restart().await;
    let view = eventually(
        Duration::from_secs(150),
        "the label after the restart",
        || async {
            let v = client.status(&id).await.ok().flatten()?;
            (v.status == ShipmentStatus::LabelPurchased).then_some(v)
        },
    )
    .await;
    assert_eq!(double.purchases(&reference), 1, "one label at the carrier");
    let buys = double
        .calls(&reference)
        .iter()
        .filter(|(method, path)| method == "POST" && path.ends_with("/buy"))
        .count();
    assert_eq!(buys, 1, "the retry read the shipment and bought nothing");
    let label = view.label.expect("the label");
    let recorded: Option<String> =
        sqlx::query_scalar("SELECT tracking_code FROM shipping.shipments WHERE id = $1")
            .bind(shipment_id)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(recorded.as_deref(), Some(label.tracking_code.as_str()));
    buying.abort();
    souk.kill().await;
}

/// A return's refund: the worker dies after Stripe refunded, before the answer was recorded.
/// Back up, the refund is retried with its key and Stripe answers it from what it saved: one
/// refund at Stripe, of exactly what the returned units are worth, and the payment, the order
/// and the return agree.
#[tokio::test]
async fn a_worker_killed_after_stripe_refunded_a_return_refunds_once() {
    use serde_json::json;
    use souk_domain::shipment::ShipmentStatus;

    let mut souk = with_stripe("durability-return").await;
    let db = app().db().await;
    let (a, _, _) = two_vendors(&db).await;
    let (email, customer) = souk_tests::account(&["customer"], None).await;
    let buyer = souk.http().with_token(customer.token().unwrap());
    let (checkout_id, order_no) = bought(&buyer, &[(&a.skus[0], 2)], &email).await;
    let shipments = souk_contracts::shipping::ShipmentClient::new(app().temporal().await);
    let shipment = souk_contracts::shipping::workflow_id(&order_no, a.vendor_id);
    eventually(Duration::from_secs(30), "the shipment opened", || async {
        shipments.status(&shipment).await.ok().flatten()
    })
    .await;
    assert_eq!(
        souk_tests::shipments::deliver(app(), &shipments, &shipment).await,
        ShipmentStatus::Delivered
    );
    let seen = |status: &'static str, path: String| {
        let buyer = buyer.clone();
        async move {
            eventually(Duration::from_secs(150), status, || async {
                let r = buyer.get(&path).await;
                (r.status == 200 && r.body["status"] == status).then_some(r.body)
            })
            .await
        }
    };
    seen("delivered", format!("/v1/me/orders/{order_no}")).await;

    // Both units came damaged: approved by the policy, labelled at the seller's cost.
    let r = buyer
        .post(
            &format!("/v1/me/orders/{order_no}/returns"),
            json!({"lines": [{"sku": a.skus[0], "quantity": 2, "reason": "damaged"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rma = r.body["rma_no"].as_str().unwrap().to_string();
    let labelled = seen("label_issued", format!("/v1/me/returns/{rma}")).await;
    assert_eq!(labelled["label"]["postage_paid_by"], "vendor", "{labelled}");

    let refund = app()
        .stripe
        .hold_next(&checkout_id, "refund", HoldAt::Answered);
    let warehouse: String =
        sqlx::query_scalar("SELECT warehouse FROM inventory.stock WHERE sku = $1 LIMIT 1")
            .bind(&a.skus[0])
            .fetch_one(&db)
            .await
            .unwrap();
    let staff = souk.http().with_token(&app().operator_token);
    let r = staff
        .post(
            &format!("/v1/admin/returns/{rma}/receive"),
            json!({"warehouse": warehouse, "lines": [{"sku": a.skus[0], "damaged": 2}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    tokio::time::timeout(Duration::from_secs(60), refund.arrived())
        .await
        .expect("the refund reached Stripe");
    souk.kill().await;
    refund.release();
    let (_, _, captured, refunded) = payment(&db, &checkout_id, 1).await.unwrap();
    assert_eq!(refunded, 0, "the database has not seen the answer");
    let status: String = sqlx::query_scalar("SELECT status FROM returns.returns WHERE rma_no = $1")
        .bind(&rma)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(status, "inspected");

    souk.restart().await;
    let closed = seen("closed", format!("/v1/me/returns/{rma}")).await;
    // Every unit of the only line back, none of it kept: all that was captured.
    assert_eq!(closed["refunded"]["amount"], captured, "{closed}");
    assert_eq!(closed["lines"][0]["postage_kept"], serde_json::Value::Null);
    let intents = app().stripe.intents_for(&checkout_id);
    assert_eq!(
        (intents.len(), intents[0].refunded),
        (1, captured),
        "{intents:?}"
    );
    assert_eq!(
        done_at_stripe(&app().stripe, &checkout_id, "/v1/refunds"),
        1
    );
    assert!(
        retried_at_stripe(&app().stripe, &checkout_id, "/v1/refunds") >= 1,
        "the refund was retried after the restart, and answered from what Stripe saved"
    );
    let (status, _, _, refunded) = payment(&db, &checkout_id, 1).await.unwrap();
    assert_eq!((status.as_str(), refunded), ("refunded", captured));
    souk.kill().await;
}
