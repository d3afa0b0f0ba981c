//! Health, readiness, metrics, documentation and request ids.

use souk_tests::{Http, app};

#[tokio::test]
async fn readiness_checks_every_dependency() {
    let r = Http::new().get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "ready");
    for check in [
        "catalog.postgres",
        "inventory.postgres",
        "pricing.postgres",
        "cart.postgres",
        "cart.redis",
        "temporal",
    ] {
        assert_eq!(r.body["checks"][check], "ok", "{check}");
    }
    assert_eq!(Http::new().get("/healthz").await.status, 200);
}

#[tokio::test]
async fn the_openapi_document_covers_the_routes_and_the_docs_page_serves_it() {
    let http = Http::new();
    let r = http.get("/openapi.json").await;
    assert_eq!(r.status, 200);
    let paths = r.body["paths"].as_object().unwrap();
    for p in [
        "/v1/categories",
        "/v1/products",
        "/v1/products/{slug}",
        "/v1/carts",
        "/v1/carts/{id}",
        "/v1/carts/{id}/items",
        "/v1/carts/{id}/items/{sku}",
        "/v1/carts/{id}/coupon",
        "/v1/inventory/{sku}",
        "/v1/admin/inventory/{sku}/{warehouse}",
        "/v1/admin/inventory/alerts",
        "/v1/checkouts",
        "/v1/checkouts/{checkout_id}",
        "/v1/checkouts/{checkout_id}/cancel",
        "/v1/admin/orders/{order_no}",
        "/v1/orders/{order_no}",
        "/v1/webhooks/stripe",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    let docs = http.get("/docs").await;
    assert_eq!(docs.status, 200);
    assert!(
        docs.text.contains("<html") || docs.text.contains("<!doctype"),
        "docs page is HTML"
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let http = Http::new();
    http.get("/v1/categories").await.expect(200);
    let r = http.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert!(
        r.text.contains("souk_http_requests_total"),
        "{}",
        &r.text[..r.text.len().min(500)]
    );
    assert!(r.text.contains("route=\"/v1/categories\""));
}

#[tokio::test]
async fn request_ids_are_returned_and_accepted_from_the_client() {
    let client = reqwest::Client::new();
    let res = client
        .get(app().url("/healthz"))
        .header("x-request-id", "support-ticket-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "support-ticket-42");
    let res = client.get(app().url("/healthz")).send().await.unwrap();
    assert!(
        !res.headers()["x-request-id"].is_empty(),
        "one is generated"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_format() {
    let http = Http::new();
    let r = http.get("/v1/nope").await;
    assert_eq!((r.status, r.code()), (404, "route_not_found"));
    let r = http
        .raw(
            reqwest::Method::PUT,
            "/v1/categories",
            Some("application/json"),
            "{}",
        )
        .await;
    assert_eq!((r.status, r.code()), (405, "method_not_allowed"));
}
