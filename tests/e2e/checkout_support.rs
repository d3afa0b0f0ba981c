//! Helpers for checkout tests: carts ready to check out, starting checkouts over HTTP,
//! waiting for them to end, and reading what they left behind.

use std::time::Duration;

use serde_json::{Value, json};
use souk_tests::fixtures::{self, Product, VariantSpec};
use souk_tests::stripe_double::StripeDouble;
use souk_tests::{Http, Reply, app, eventually, unique};
use sqlx::PgPool;

pub fn address() -> Value {
    json!({"name": "Ada Lovelace", "line1": "12 Analytical Row", "city": "Springfield",
           "postal_code": "12345", "country": "US"})
}

pub fn checkout_body(cart: &str, email: &str, payment_method: &str) -> Value {
    json!({"cart_id": cart, "email": email, "shipping_address": address(),
           "payment": {"payment_method": payment_method}})
}

/// A cart holding `quantity` of each given SKU.
pub async fn cart_with(http: &Http, items: &[(&str, i64)]) -> String {
    let r = http.post("/v1/carts", json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    for (sku, qty) in items {
        let r = http
            .post(
                &format!("/v1/carts/{id}/items"),
                json!({"sku": sku, "quantity": qty}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    id
}

pub async fn start(http: &Http, key: &str, body: Value) -> Reply {
    http.post_idempotent("/v1/checkouts", key, body).await
}

/// `http` buys `items` as `email` with the sandbox's good card, and the checkout completes:
/// its id and the order number.
pub async fn bought(http: &Http, items: &[(&str, i64)], email: &str) -> (String, String) {
    let cart = cart_with(http, items).await;
    let r = start(http, &unique(), checkout_body(&cart, email, "pm_card_visa")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    let order_no = r.body["order_no"].as_str().unwrap().to_string();
    let done = ended(http, &checkout_id).await;
    assert_eq!(done["state"], "completed", "{done}");
    (checkout_id, order_no)
}

/// Polls the checkout until it has ended; returns its final status.
pub async fn ended(http: &Http, checkout_id: &str) -> Value {
    ended_within(http, checkout_id, Duration::from_secs(60)).await
}

pub async fn ended_within(http: &Http, checkout_id: &str, within: Duration) -> Value {
    eventually(within, "the checkout to end", || async {
        let r = http.get(&format!("/v1/checkouts/{checkout_id}")).await;
        (r.status == 200 && r.body["state"] != "running").then_some(r.body)
    })
    .await
}

/// Two products from two vendors, and a customer e-mail unique to the test.
pub async fn two_vendors(db: &PgPool) -> (Product, Product, String) {
    let a = fixtures::product(db, &[VariantSpec::new(2_500, 10, 10)]).await;
    let b = fixtures::product(db, &[VariantSpec::new(4_000, 10, 10)]).await;
    (
        a,
        b,
        format!("buyer-{}@example.com", unique().to_lowercase()),
    )
}

pub struct Stock {
    pub on_hand: i64,
    pub reserved: i64,
}

pub async fn stock(db: &PgPool, sku: &str) -> Stock {
    let (on_hand, reserved): (i64, i64) =
        sqlx::query_as("SELECT COALESCE(sum(on_hand), 0)::bigint, COALESCE(sum(reserved), 0)::bigint FROM inventory.stock WHERE sku = $1")
            .bind(sku)
            .fetch_one(db)
            .await
            .unwrap();
    Stock { on_hand, reserved }
}

/// (status, amount, captured, refunded) of the checkout attempt's payment, if any.
pub async fn payment(
    db: &PgPool,
    checkout_id: &str,
    attempt: i32,
) -> Option<(String, i64, i64, i64)> {
    sqlx::query_as("SELECT status, amount, captured_amount, refunded_amount FROM payments.payments WHERE checkout_id = $1 AND attempt = $2")
        .bind(checkout_id)
        .bind(attempt)
        .fetch_optional(db)
        .await
        .unwrap()
}

/// What the sandbox provider itself saw for a checkout, of one kind of call (`authorize`,
/// `capture`, `cancel`, `refund`), from its own request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtProvider {
    /// Requests that did something (the first with their key).
    pub effects: i64,
    /// Requests answered with an earlier reply (retries).
    pub replays: i64,
    /// Distinct idempotency keys.
    pub keys: i64,
}

/// Counts a checkout's calls of `kind` at the sandbox provider (all attempts).
pub async fn at_provider(db: &PgPool, checkout_id: &str, kind: &str) -> AtProvider {
    let (effects, replays, keys): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE NOT replayed), count(*) FILTER (WHERE replayed),
                count(DISTINCT idempotency_key)
           FROM payments.sandbox_requests
          WHERE kind = $2 AND idempotency_key LIKE $1 || ':%'",
    )
    .bind(checkout_id)
    .bind(kind)
    .fetch_one(db)
    .await
    .unwrap();
    AtProvider {
        effects,
        replays,
        keys,
    }
}

/// Exactly one effect of `kind` at the provider for the checkout (retries may have replayed
/// it with the same key).
pub async fn once_at_provider(db: &PgPool, checkout_id: &str, kind: &str) {
    let seen = at_provider(db, checkout_id, kind).await;
    assert_eq!(
        (seen.effects, seen.keys),
        (1, 1),
        "{kind} of {checkout_id} at the provider: {seen:?}"
    );
}

/// (status, payment_status) of the checkout's order, if one was placed.
pub async fn order(db: &PgPool, checkout_id: &str) -> Option<(String, String, String)> {
    sqlx::query_as("SELECT order_no, status, payment_status FROM orders.orders WHERE checkout_id = $1 ORDER BY attempt DESC LIMIT 1")
        .bind(checkout_id)
        .fetch_optional(db)
        .await
        .unwrap()
}

/// Mails the catcher received for `to`: (subject, text). An answer that is not a list of
/// mails fails the test (it is not "no mail").
pub async fn mails_to(to: &str) -> Vec<(String, String)> {
    let all: Vec<Value> = reqwest::get(format!("{}/api/email", app().maildev))
        .await
        .expect("the mail catcher answers")
        .json()
        .await
        .expect("the mail catcher answers a list of mails");
    all.into_iter()
        .filter(|m| {
            m["to"]
                .as_array()
                .is_some_and(|t| t.iter().any(|a| a["address"] == to))
        })
        .map(|m| {
            (
                m["subject"].as_str().unwrap_or_default().to_string(),
                m["text"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The mails to `to` once their number has stopped changing for `settle` (a duplicate sent
/// late is counted, not missed by stopping at the first arrival); at least one must come
/// within 30 s.
pub async fn settled_mails_to(to: &str, settle: Duration) -> Vec<(String, String)> {
    let first = eventually(Duration::from_secs(30), "a mail", || async {
        let m = mails_to(to).await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    let mut seen = first.len();
    let mut since = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = mails_to(to).await;
        if now.len() != seen {
            seen = now.len();
            since = std::time::Instant::now();
        } else if since.elapsed() >= settle {
            return now;
        }
    }
}

/// The id of the reservation a checkout holds for one of its lines.
pub fn reservation_id(checkout_id: &str, sku: &str) -> String {
    format!("{checkout_id}:reserve:{sku}:1")
}

/// Takes a checkout's reservation back, as an operator or the sweeper would.
pub async fn take_back(db: &PgPool, id: &str) {
    souk_inventory::store::release(
        db,
        &souk_kit::Ctx::system(),
        id,
        Some("taken back by the test"),
    )
    .await
    .unwrap();
}

/// A checkout's requests to a Stripe double whose path ends with `path` and that did
/// something there (answered 200, not from a saved reply).
pub fn done_at_stripe(stripe: &StripeDouble, checkout_id: &str, path: &str) -> usize {
    stripe
        .requests_for(checkout_id)
        .iter()
        .filter(|r| r.path.ends_with(path) && r.status == 200 && !r.replayed)
        .count()
}

/// A checkout's requests to a Stripe double whose path ends with `path` that it answered from
/// what it saved under their key.
pub fn retried_at_stripe(stripe: &StripeDouble, checkout_id: &str, path: &str) -> usize {
    stripe
        .requests_for(checkout_id)
        .iter()
        .filter(|r| r.path.ends_with(path) && r.replayed)
        .count()
}

/// Waits until the checkout waits for the customer (3-D Secure); its payment's reference at
/// the provider.
pub async fn awaiting_payment(http: &Http, db: &PgPool, checkout_id: &str) -> String {
    eventually(Duration::from_secs(20), "the pending payment", || async {
        let r = http.get(&format!("/v1/checkouts/{checkout_id}")).await;
        if r.body["step"] != "awaiting_payment" {
            return None;
        }
        sqlx::query_scalar(
            "SELECT provider_payment_id FROM payments.payments WHERE checkout_id = $1",
        )
        .bind(checkout_id)
        .fetch_optional(db)
        .await
        .unwrap()
    })
    .await
}
