//! Stock levels, the admin stock count, and the LowStockAlert workflow it can start.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use souk_tests::fixtures::{self, VariantSpec};
use souk_tests::{Http, admin_token, app, eventually};
use souk_workflows::LowStockAlertWorkflow;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;

#[tokio::test]
async fn stock_is_reported_in_total_and_per_warehouse() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(1_000, 7, 3)]).await;
    let r = Http::new()
        .get(&format!("/v1/inventory/{}", p.skus[0]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.body["on_hand"].as_i64(),
            r.body["reserved"].as_i64(),
            r.body["available"].as_i64()
        ),
        (Some(10), Some(0), Some(10))
    );
    let w = r.body["warehouses"].as_array().unwrap();
    assert_eq!(w.len(), 2);
    assert_eq!(w[0]["warehouse"], "east");
    assert_eq!(w[0]["available"], 7);

    let r = Http::new().get("/v1/inventory/UNKNOWN-SKU-1").await;
    assert_eq!((r.status, r.code()), (404, "unknown_sku"));
    let r = Http::new().get("/v1/inventory/bad%20sku").await;
    assert_eq!((r.status, r.code()), (422, "invalid_sku"));
}

#[tokio::test]
async fn admin_routes_require_an_operator_token() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(1_000, 7, 3)]).await;
    let http = Http::new();
    let path = format!("/v1/admin/inventory/{}/east", p.skus[0]);
    let r = http.admin_put(&path, None, json!({"on_hand": 1})).await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    assert_eq!(r.headers["www-authenticate"], "Bearer realm=\"souk\"");
    let r = http
        .admin_put(&path, Some("not-the-token"), json!({"on_hand": 1}))
        .await;
    assert_eq!((r.status, r.code()), (401, "invalid_token"));
    let after = http.get(&format!("/v1/inventory/{}", p.skus[0])).await;
    assert_eq!(after.body["on_hand"], 10, "nothing changed");
}

#[tokio::test]
async fn stock_count_mistakes_are_clear_4xx_errors() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(1_000, 7, 3)]).await;
    // A reservation in east (as a checkout would make) that a count cannot go below.
    souk_inventory::store::reserve(
        &db,
        &souk_kit::Ctx::new("test"),
        &souk_contracts::inventory::ReserveStock {
            reservation_id: format!("test:{}", p.skus[0]),
            sku: souk_domain::Sku::parse(&p.skus[0]).unwrap(),
            quantity: 6,
            ttl_seconds: 600,
        },
    )
    .await
    .unwrap();
    let http = Http::new();
    let sku = &p.skus[0];
    for (path, body, status, code) in [
        (
            format!("/v1/admin/inventory/{sku}/east"),
            json!({"on_hand": 5}),
            409,
            "below_reserved",
        ),
        (
            format!("/v1/admin/inventory/{sku}/east"),
            json!({"on_hand": -1}),
            422,
            "invalid_quantity",
        ),
        (
            format!("/v1/admin/inventory/{sku}/north"),
            json!({"on_hand": 5}),
            404,
            "unknown_warehouse",
        ),
        (
            "/v1/admin/inventory/NO-SUCH-SKU-9/east".to_string(),
            json!({"on_hand": 5}),
            404,
            "unknown_sku",
        ),
        (
            format!("/v1/admin/inventory/{sku}/east"),
            json!({"on_hand": "5"}),
            422,
            "invalid_body",
        ),
    ] {
        let r = http.admin_put(&path, Some(admin_token()), body).await;
        assert_eq!((r.status, r.code()), (status, code), "{path}: {}", r.text);
    }
    let r = http.get(&format!("/v1/inventory/{sku}")).await;
    assert_eq!(
        (r.body["on_hand"].as_i64(), r.body["reserved"].as_i64()),
        (Some(10), Some(6))
    );
}

#[tokio::test]
async fn a_count_below_the_threshold_runs_a_low_stock_alert_workflow() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(1_000, 7, 3)]).await;
    let sku = &p.skus[0];
    let http = Http::new();

    // Still above the threshold of 5: no alert.
    let r = http
        .admin_put(
            &format!("/v1/admin/inventory/{sku}/east"),
            Some(admin_token()),
            json!({"on_hand": 4}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["stock"]["available"], 7);
    assert!(r.body["low_stock_alert"].is_null());

    // Now 4 + 0 = 4 < 5.
    let r = http
        .admin_put(
            &format!("/v1/admin/inventory/{sku}/west"),
            Some(admin_token()),
            json!({"on_hand": 0}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["stock"]["available"], 4);
    let workflow_id = r.body["low_stock_alert"]["workflow_id"]
        .as_str()
        .expect("alert started")
        .to_string();
    assert_eq!(workflow_id, format!("low-stock-{sku}"));
    let request_id = r.headers["x-request-id"].to_str().unwrap().to_string();

    // The workflow's activity records the alert in the inventory domain.
    let alerts = eventually(Duration::from_secs(20), "the low-stock alert", || async {
        let r = http
            .admin_get(&format!("/v1/admin/inventory/alerts?sku={sku}"))
            .await;
        let items = r.body["items"].as_array().cloned().unwrap_or_default();
        (!items.is_empty()).then_some(items)
    })
    .await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["available"], 4);
    assert_eq!(alerts[0]["threshold"], 5);
    // Raised by the signed-in operator.
    assert!(
        alerts[0]["raised_by"]
            .as_str()
            .is_some_and(|a| a.starts_with("user:")),
        "{}",
        alerts[0]
    );

    // Support can read it in Temporal: completed, with readable JSON payloads, and the id
    // of the request that started it.
    let client = app().temporal().await;
    let handle = client.get_workflow_handle::<LowStockAlertWorkflow>(workflow_id.clone());
    let d = handle.describe(Default::default()).await.unwrap();
    assert_eq!(app().memo::<String>(&d, "request_id"), Some(request_id));
    let events: Vec<_> = handle
        .fetch_history(Default::default())
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|e| e.expect("history event"))
        .collect();
    let completed = events.iter().any(|e| {
        matches!(
            e.attributes,
            Some(Attributes::WorkflowExecutionCompletedEventAttributes(_))
        )
    });
    assert!(completed, "the workflow completed");
    let Some(Attributes::WorkflowExecutionStartedEventAttributes(started)) = &events[0].attributes
    else {
        panic!("the history starts with WorkflowExecutionStarted");
    };
    assert_eq!(
        started.workflow_type.as_ref().unwrap().name,
        "LowStockAlert",
        "pinned type name"
    );
    let sealed = started.input.as_ref().unwrap().payloads[0].clone();
    assert_eq!(
        sealed.metadata["encoding"],
        souk_contracts::codec::ENCODING.as_bytes(),
        "Temporal keeps ciphertext"
    );
    let payload = app().codec().decode_payload(sealed).unwrap();
    assert_eq!(
        payload.metadata["encoding"], b"json/plain",
        "decoded, payloads are readable JSON"
    );
    let input: serde_json::Value = serde_json::from_slice(&payload.data).unwrap();
    assert_eq!(input["sku"], sku.as_str());
    assert_eq!(input["available"], 4);
}
