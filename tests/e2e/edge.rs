//! The API's edge: rate limits in Redis (per address, per user, stricter on sign-in), and
//! what happens when Redis is away. Each test runs an API of its own (same domain services,
//! its own limits and Redis key prefix), so the shared stack keeps its generous limits.

use serde_json::json;
use souk_api::{AppState, Application};
use souk_tests::{Http, PASSWORD, app, unique};
use souk_workers::Config;

/// Starts an extra API on a free port with `change` applied to the run's configuration.
async fn api_with(change: impl FnOnce(&mut Config)) -> Http {
    let mut cfg = app().config.clone();
    cfg.redis.key_prefix = format!("e2e-edge-{}:", unique());
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    change(&mut cfg);
    let settings = souk_workers::stack::api_settings(&cfg).unwrap();
    let state = AppState::new(settings, souk_api::observe::metrics_handle()).unwrap();
    let api = Application::bind(cfg.api.listen, state).await.unwrap();
    let addr = api.local_addr().unwrap();
    tokio::spawn(api.serve(std::future::pending()));
    Http::at(&format!("http://{addr}"))
}

#[tokio::test]
async fn anonymous_calls_are_limited_per_address_with_retry_after() {
    let http = api_with(|c| c.rate_limit.anonymous_per_minute = 5).await;
    for left in (0..5).rev() {
        let r = http.get("/v1/categories").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.headers["ratelimit-limit"], "5");
        assert_eq!(r.headers["ratelimit-remaining"], left.to_string().as_str());
    }
    let r = http.get("/v1/categories").await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{}", r.text);
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    // One call every 12 s refills the bucket.
    assert!((1..=12).contains(&retry), "{retry}");
    assert_eq!(r.body["error"]["details"]["retry_after_seconds"], retry);
    // Health and readiness are never limited.
    assert_eq!(http.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn signed_in_callers_have_their_own_bucket_and_sign_in_is_stricter() {
    let http = api_with(|c| {
        c.rate_limit.anonymous_per_minute = 100;
        c.rate_limit.user_per_minute = 3;
        c.rate_limit.auth_per_minute = 2;
    })
    .await;
    // Sign-in: two tries a minute from one address, right or wrong.
    let wrong =
        json!({"email": format!("rl-{}@example.com", unique()), "password": "not it at all"});
    for _ in 0..2 {
        let r = http.post("/v1/auth/login", wrong.clone()).await;
        assert_eq!((r.status, r.code()), (401, "invalid_credentials"));
    }
    let r = http.post("/v1/auth/login", wrong).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    assert!(r.headers.contains_key("retry-after"));

    // A signed-in user (token from the main API) is counted per user.
    let email = format!("rl-{}@example.com", unique().to_lowercase());
    let r = Http::new()
        .post(
            "/v1/auth/register",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let signed_in = Http::login(&email, PASSWORD).await;
    let user = http.with_token(signed_in.token().unwrap());
    for left in (0..3).rev() {
        let r = user.get("/v1/me").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.headers["ratelimit-remaining"], left.to_string().as_str());
    }
    let r = user.get("/v1/me").await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    // Another caller from the same address is not affected by that user's bucket.
    assert_eq!(http.get("/v1/categories").await.status, 200);
}

#[tokio::test]
async fn without_redis_browsing_goes_through_but_sign_in_and_tokens_wait() {
    let http = api_with(|c| {
        c.rate_limit.anonymous_per_minute = 1;
        c.redis.url = secrecy::SecretString::from("redis://127.0.0.1:1");
    })
    .await;
    for _ in 0..3 {
        assert_eq!(http.get("/v1/categories").await.status, 200);
    }
    // Guessing passwords is not unlimited while the limiter is away.
    let r = http
        .post(
            "/v1/auth/login",
            json!({"email": "someone@example.com", "password": "a guess at it"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (503, "checks_unavailable"),
        "{}",
        r.text
    );
    assert!(r.headers.contains_key("retry-after"));
    // Nor do operator powers work unchecked for revocation.
    let ops = http.with_token(souk_tests::admin_token());
    let r = ops.get("/v1/admin/inventory/alerts").await;
    assert_eq!(
        (r.status, r.code()),
        (503, "checks_unavailable"),
        "{}",
        r.text
    );
    // Nor any token: whether it was revoked (a blocked account) cannot be known.
    let email = format!("nored-{}@example.com", unique().to_lowercase());
    Http::new()
        .post(
            "/v1/auth/register",
            json!({"email": email, "password": PASSWORD}),
        )
        .await
        .expect(202);
    let customer = Http::login(&email, PASSWORD).await;
    let r = http
        .with_token(customer.token().unwrap())
        .get("/v1/me")
        .await;
    assert_eq!(
        (r.status, r.code()),
        (503, "checks_unavailable"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn webhooks_have_their_own_limit_and_an_oversized_one_is_a_json_413() {
    let http = api_with(|c| {
        c.rate_limit.anonymous_per_minute = 1_000;
        c.rate_limit.webhook_per_minute = 2;
        c.api.body_limit_bytes = 1_024;
    })
    .await;
    let post = |body: String| {
        let http = http.clone();
        async move {
            http.send(
                http.request(reqwest::Method::POST, "/v1/webhooks/stripe")
                    .header("content-type", "application/json")
                    .header("stripe-signature", "t=1,v1=00")
                    .body(body),
            )
            .await
        }
    };
    let r = post("x".repeat(4_096)).await;
    assert_eq!(
        (r.status, r.code()),
        (413, "payload_too_large"),
        "{}",
        r.text
    );
    assert_eq!(r.headers["content-type"], "application/json");
    let r = post("{}".into()).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_signature"),
        "{}",
        r.text
    );
    let r = post("{}".into()).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{}", r.text);
}

#[tokio::test]
async fn cors_comes_from_config_and_every_answer_has_security_headers() {
    let http = api_with(|c| c.api.cors_allowed_origins = "https://shop.example".into()).await;
    let base = http.get("/healthz").await;
    assert_eq!(base.headers["x-content-type-options"], "nosniff");
    assert_eq!(base.headers["x-frame-options"], "DENY");
    assert_eq!(base.headers["referrer-policy"], "no-referrer");
    assert!(base.headers.contains_key("strict-transport-security"));
    let r = http.get("/v1/no-such-route").await;
    assert_eq!(
        (
            r.status,
            r.headers["x-content-type-options"].to_str().unwrap()
        ),
        (404, "nosniff")
    );

    let url = |path: &str| format!("{}{path}", http.base());
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, url("/v1/carts"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let ok = preflight("https://shop.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let methods = ok.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(methods.contains("POST"), "{methods}");
    let other = preflight("https://evil.example").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn a_domain_that_is_down_trips_the_breaker_and_recovery_closes_it() {
    // The catalog of this API listens on a port where nothing runs yet.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let http = api_with(|c| {
        c.services.get_mut("catalog").unwrap().url = format!("http://127.0.0.1:{port}");
        c.api.breaker_failures = 2;
        c.api.breaker_open_ms = 300;
    })
    .await;
    for _ in 0..2 {
        let r = http.get("/v1/categories").await;
        assert_eq!(
            (r.status, r.code()),
            (503, "service_unavailable"),
            "{}",
            r.text
        );
        assert!(
            r.body["error"]["details"]["circuit"].is_null(),
            "{}",
            r.text
        );
    }
    // Two failures in a row: the circuit is open and calls fail without trying.
    let r = http.get("/v1/categories").await;
    assert_eq!((r.status, r.code()), (503, "service_unavailable"));
    assert_eq!(r.body["error"]["details"]["circuit"], "open", "{}", r.text);
    assert_eq!(r.body["error"]["details"]["service"], "catalog");
    assert!(r.headers.contains_key("retry-after"));

    // The catalog comes up; the breaker lets a call through after its pause, and closes.
    let pool = souk_workers::domains::pool(&app().config, &souk_catalog::SCHEMA, 2)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(souk_catalog::grpc::Catalog::new(pool).into_server())
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    souk_tests::eventually(
        std::time::Duration::from_secs(10),
        "the catalog answering through the breaker",
        || {
            let http = http.clone();
            async move { (http.get("/v1/categories").await.status == 200).then_some(()) }
        },
    )
    .await;
}

/// A domain whose every database connection is in use answers at once that it is busy (503
/// with Retry-After), not after the API's whole service timeout, and readiness says so now.
#[tokio::test]
async fn a_saturated_domain_pool_is_a_fast_503_and_not_ready_at_once() {
    use sqlx::Connection;
    let mut cfg = app().config.clone();
    cfg.redis.key_prefix = format!("e2e-busy-{}:", unique());
    cfg.temporal.task_queue_prefix = format!("e2e-busy-{}.", unique());
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    cfg.services.get_mut("catalog").unwrap().listen = "127.0.0.1:0".parse().unwrap();
    cfg.database.max_connections = 1;
    cfg.database.acquire_timeout_ms = 200;
    let stack = souk_workers::Stack::start(
        cfg,
        souk_workers::Parts {
            api: true,
            workflows: false,
            domains: vec![&souk_catalog::DOMAIN],
        },
    )
    .await
    .unwrap();
    let http = Http::at(&format!("http://{}", stack.api_addr.unwrap()));
    assert_eq!(http.get("/v1/categories").await.status, 200);

    // Hold the table: the domain's one connection waits on the lock with the first call.
    let mut locker = sqlx::PgConnection::connect(&app().database_url)
        .await
        .unwrap();
    let mut tx = locker.begin().await.unwrap();
    sqlx::query("LOCK TABLE catalog.categories IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let first = tokio::spawn({
        let http = http.clone();
        async move { http.get("/v1/categories").await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let r = http.get("/v1/categories").await;
    let took = started.elapsed();
    assert_eq!((r.status, r.code()), (503, "service_busy"), "{}", r.text);
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!(r.body["error"]["details"]["service"], "catalog");
    assert!(
        took < std::time::Duration::from_secs(2),
        "answered in {took:?}"
    );
    // Reported at once, without taking the API out of service.
    let ready = http.get("/readyz").await;
    assert_eq!(
        (ready.status, ready.body["status"].as_str()),
        (200, Some("degraded")),
        "{}",
        ready.text
    );
    assert!(
        ready.body["busy"]["catalog"]
            .as_str()
            .unwrap()
            .starts_with("no free database connection"),
        "{}",
        ready.text
    );
    // Only this API saw it.
    let main = Http::new().get("/readyz").await;
    assert!(main.body.get("busy").is_none(), "{}", main.text);

    tx.rollback().await.unwrap();
    assert_eq!(
        first.await.unwrap().status,
        200,
        "the waiting call goes through"
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_key_no_record_can_have_is_not_found_or_refused_never_a_server_error() {
    // A NUL character cannot reach the database: each domain checks the key's shape first.
    let (_, customer) = souk_tests::account(&["customer"], None).await;
    let ops = Http::new().with_token(souk_tests::admin_token());
    let nul = "a%00b";
    for (http, path, expected) in [
        (
            &customer,
            format!("/v1/products?category={nul}"),
            (404, "category_not_found"),
        ),
        (
            &customer,
            format!("/v1/products/{nul}"),
            (404, "product_not_found"),
        ),
        (
            &customer,
            "/v1/products/Not-A-Slug".into(),
            (404, "product_not_found"),
        ),
        (
            &customer,
            format!("/v1/me/orders/{nul}"),
            (404, "order_not_found"),
        ),
        (
            &ops,
            format!("/v1/admin/orders/{nul}"),
            (404, "order_not_found"),
        ),
        (
            &ops,
            format!("/v1/admin/inventory/alerts?sku={nul}"),
            (422, "invalid_sku"),
        ),
        (
            &ops,
            format!("/v1/admin/audit?event={nul}"),
            (422, "invalid_event"),
        ),
        (
            &ops,
            "/v1/admin/audit?event=Login".into(),
            (422, "invalid_event"),
        ),
    ] {
        let r = http.get(&path).await;
        assert_eq!((r.status, r.code()), expected, "{path}: {}", r.text);
    }
    let db = app().db().await;
    let p =
        souk_tests::fixtures::product(&db, &[souk_tests::fixtures::VariantSpec::new(1_000, 5, 5)])
            .await;
    let r = ops
        .admin_put(
            &format!("/v1/admin/inventory/{}/{nul}", p.skus[0]),
            None,
            json!({"on_hand": 1}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (404, "unknown_warehouse"),
        "{}",
        r.text
    );
    let (_, vendor) = souk_tests::account(&["vendor_admin"], Some(p.vendor_id)).await;
    let r = vendor.get(&format!("/v1/vendor/orders/{nul}")).await;
    assert_eq!((r.status, r.code()), (404, "order_not_found"), "{}", r.text);
    // An empty filter is no filter.
    let r = ops.get("/v1/admin/audit?event=&limit=1").await;
    assert_eq!(r.status, 200, "{}", r.text);
}
