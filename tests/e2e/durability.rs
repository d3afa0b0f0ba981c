//! Crashes: a worker process killed mid-checkout, and the Temporal server restarted
//! mid-checkout. Either way the checkout completes, with one capture.

use std::time::Duration;

use souk_tests::process::{SoukProcess, TemporalServer};
use souk_tests::{Http, app, eventually, unique};

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
    let (state, _, captured_at_provider, _) =
        souk_activities::payments::sandbox::intent(&db, &reference)
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
