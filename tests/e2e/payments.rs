//! Payment providers and webhooks: the Stripe provider against a local double (idempotency
//! keys, retries after a 500), and Stripe-signed webhooks confirming a payment the customer
//! had to complete.

use std::time::Duration;

use serde_json::{Value, json};
use souk_tests::stripe_double::HoldAt;
use souk_tests::{
    Http, STRIPE_CAPTURE_DELAY_SECONDS, STRIPE_RESERVATION_TTL_SECONDS, WEBHOOK_SECRET, app,
    eventually, stripe_app, unique,
};
use stripe_webhook::Webhook;

use crate::checkout_support::*;

#[tokio::test]
async fn the_stripe_provider_sends_idempotency_keys_and_a_500_then_success_makes_one_intent() {
    let db = stripe_app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::at(&stripe_app().api);
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let checkout_id = format!("checkout-{cart}");
    stripe_app().stripe.fail_next(&checkout_id, "create", 1);
    let body = checkout_body(&cart, &email, "pm_card_visa");
    let r = start(&http, &unique(), body).await;
    assert!(r.status == 201 || r.status == 202, "{}", r.text);
    let done = ended(&http, &checkout_id).await;
    assert_eq!(done["state"], "completed", "{done}");

    let intents = stripe_app().stripe.intents_for(&checkout_id);
    assert_eq!(
        intents.len(),
        1,
        "one PaymentIntent despite the retry: {intents:?}"
    );
    // Charged at the provider: the checkout's total, in its currency, captured in full.
    let i = &intents[0];
    let total = &done["total"];
    assert_eq!(
        (i.status.as_str(), i.amount, i.captured, i.currency.as_str()),
        (
            "succeeded",
            total["amount"].as_i64().unwrap(),
            total["amount"].as_i64().unwrap(),
            total["currency"].as_str().unwrap().to_lowercase().as_str()
        ),
        "{i:?}"
    );
    let ours = stripe_app().stripe.requests_for(&checkout_id);
    assert!(ours.len() >= 3, "create (500), create, capture: {ours:?}");
    for r in &ours {
        let key = r
            .idempotency_key
            .as_deref()
            .unwrap_or_else(|| panic!("no Idempotency-Key on {} {}", r.method, r.path));
        assert!(key.starts_with(&checkout_id), "{key}");
    }
    let creates: Vec<_> = ours
        .iter()
        .filter(|r| r.path == "/v1/payment_intents")
        .collect();
    assert_eq!(creates.len(), 2, "the 500 was retried");
    assert_eq!(
        creates[0].idempotency_key, creates[1].idempotency_key,
        "with the same key"
    );
    assert_eq!(
        creates[0].idempotency_key.as_deref(),
        Some(format!("{checkout_id}:authorize:1").as_str())
    );
    assert_eq!(
        creates[0].form.get("capture_method").map(String::as_str),
        Some("manual")
    );
    let (status, ..) = payment(&db, &checkout_id, 1).await.unwrap();
    assert_eq!(status, "captured");
}

#[tokio::test]
async fn a_card_declined_by_stripe_is_compensated() {
    let db = stripe_app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::at(&stripe_app().api);
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let body = checkout_body(&cart, &email, "pm_card_chargeDeclined");
    let r = start(&http, &unique(), body).await;
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    let done = ended(&http, &checkout_id).await;
    assert_eq!(
        (done["state"].as_str(), done["failure"]["code"].as_str()),
        (Some("compensated"), Some("card_declined")),
        "{done}"
    );
    assert!(
        done["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("generic_decline"),
        "{done}"
    );
    assert_eq!(stock(&db, &a.skus[0]).await.reserved, 0);
}

/// A store that takes cards with Stripe has no sandbox: a request cannot pick the provider,
/// and a checkout that names the sandbox is refused before anything starts.
#[tokio::test]
async fn a_checkout_cannot_choose_the_sandbox_in_a_store_that_takes_cards_with_stripe() {
    let db = stripe_app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::at(&stripe_app().api);
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let checkout_id = format!("checkout-{cart}");
    for provider in ["sandbox", "stripe"] {
        let mut body = checkout_body(&cart, &email, "pm_card_visa");
        body["payment"]["provider"] = json!(provider);
        let r = start(&http, &unique(), body).await;
        assert_eq!((r.status, r.code()), (422, "invalid_body"), "{}", r.text);
        assert!(r.text.contains("provider"), "{}", r.text);
    }
    assert_eq!(
        http.get(&format!("/v1/checkouts/{checkout_id}"))
            .await
            .status,
        404,
        "nothing was started"
    );

    // Without it, the store's configuration decides: Stripe, and the sandbox never hears of it.
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    assert!(r.status == 201 || r.status == 202, "{}", r.text);
    let done = ended(&http, &checkout_id).await;
    assert_eq!(done["state"], "completed", "{done}");
    let (provider,): (String,) =
        sqlx::query_as("SELECT provider FROM payments.payments WHERE checkout_id = $1")
            .bind(&checkout_id)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(provider, "stripe");
    let sandbox_calls: i64 = sqlx::query_scalar("SELECT count(*) FROM payments.sandbox_calls")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(sandbox_calls, 0, "the sandbox is not enabled in this store");
    let intents = stripe_app().stripe.intents_for(&checkout_id);
    assert_eq!(intents.len(), 1, "{intents:?}");
    assert_eq!(intents[0].status, "succeeded");
}

/// A PaymentIntent as Stripe's events carry it, authorized and waiting for capture.
fn capturable_intent(intent: &str) -> Value {
    json!({
        "id": intent, "object": "payment_intent", "amount": 1000, "amount_capturable": 1000,
        "amount_received": 0, "capture_method": "manual", "confirmation_method": "automatic",
        "created": 1_700_000_000, "currency": "usd", "livemode": false, "metadata": {},
        "payment_method_types": ["card"], "status": "requires_capture"
    })
}

/// A Stripe event about a PaymentIntent, in the shape Stripe sends.
fn intent_event(event_id: &str, event_type: &str, intent: Value) -> String {
    json!({
        "id": event_id, "object": "event", "created": 1_700_000_000, "livemode": false,
        "pending_webhooks": 1, "type": event_type,
        "data": {"object": intent}
    })
    .to_string()
}

fn payment_intent_event(event_id: &str, event_type: &str, intent: &str) -> String {
    intent_event(event_id, event_type, capturable_intent(intent))
}

/// Posts `payload` to the stack's Stripe webhook, signed with the stack's webhook secret.
async fn post_signed(app: &souk_tests::TestApp, payload: &str) -> souk_tests::Reply {
    let signature = Webhook::generate_test_header(payload, WEBHOOK_SECRET, None);
    post_webhook(app, payload, Some(signature)).await
}

async fn post_webhook(
    app: &souk_tests::TestApp,
    payload: &str,
    signature: Option<String>,
) -> souk_tests::Reply {
    let mut req = reqwest::Client::new()
        .post(app.url("/v1/webhooks/stripe"))
        .header("content-type", "application/json")
        .body(payload.to_string());
    if let Some(s) = signature {
        req = req.header("stripe-signature", s);
    }
    Http::new().send(req).await
}

#[tokio::test]
async fn a_signed_webhook_confirms_a_payment_that_waited_for_the_customer_once() {
    let db = app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_authenticationRequired"),
    )
    .await;
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    let reference = awaiting_payment(&http, &db, &checkout_id).await;
    // The customer completes 3-D Secure at the provider, which then calls us.
    assert!(
        souk_payments::sandbox::complete_authentication(&db, &reference)
            .await
            .unwrap()
    );
    let event_id = format!("evt_{}", unique());
    let payload = payment_intent_event(
        &event_id,
        "payment_intent.amount_capturable_updated",
        &reference,
    );

    let forged = post_webhook(
        app(),
        &payload,
        Some(Webhook::generate_test_header(&payload, "whsec_wrong", None)),
    )
    .await;
    assert_eq!((forged.status, forged.code()), (400, "invalid_signature"));
    let unsigned = post_webhook(app(), &payload, None).await;
    assert_eq!(
        (unsigned.status, unsigned.code()),
        (400, "invalid_signature")
    );
    let stale_ts = chrono::Utc::now().timestamp() - 3_600;
    let stale = post_webhook(
        app(),
        &payload,
        Some(Webhook::generate_test_header(
            &payload,
            WEBHOOK_SECRET,
            Some(stale_ts),
        )),
    )
    .await;
    assert_eq!(
        (stale.status, stale.code()),
        (400, "invalid_signature"),
        "outside the tolerance"
    );
    let tampered = post_webhook(
        app(),
        &payload.replace("amount_capturable_updated", "succeeded"),
        Some(Webhook::generate_test_header(
            &payload,
            WEBHOOK_SECRET,
            None,
        )),
    )
    .await;
    assert_eq!(tampered.status, 400);

    let ok = post_signed(app(), &payload).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(
        (ok.body["event_id"].as_str(), ok.body["duplicate"].as_bool()),
        (Some(event_id.as_str()), Some(false))
    );
    let again = post_signed(app(), &payload).await;
    assert_eq!(
        again.body["duplicate"], true,
        "delivered twice, handled once"
    );

    let done = ended(&http, &checkout_id).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(payment(&db, &checkout_id, 1).await.unwrap().0, "captured");
    let recorded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM payments.webhook_events WHERE event_id = $1")
            .bind(&event_id)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(recorded, 1);
}

/// The double answers as Stripe documents, so a client that sends what Stripe would refuse
/// fails here too.
#[tokio::test]
async fn the_stripe_double_is_as_strict_as_stripe() {
    let double = &stripe_app().stripe;
    let key = format!("strict-{}", unique());
    let client = reqwest::Client::new();
    let post = |path: &str, key: Option<&str>, form: &[(&str, &str)]| {
        let mut req = client
            .post(format!("{}{}", double.url(), path.trim_start_matches('/')))
            .bearer_auth("sk_test_e2e")
            .form(form);
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        req.send()
    };
    let code = |v: &serde_json::Value| v["error"]["code"].as_str().unwrap_or("").to_string();
    let create = [
        ("amount", "1000"),
        ("currency", "usd"),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
        ("capture_method", "manual"),
    ];
    let r = post("/v1/payment_intents", Some(&key), &create)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pi: serde_json::Value = r.json().await.unwrap();
    let id = pi["id"].as_str().unwrap().to_string();
    // The same key with other parameters, or on another endpoint: refused.
    let mut other = create;
    other[0] = ("amount", "2000");
    let r = post("/v1/payment_intents", Some(&key), &other)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "idempotency_error", "{body}");
    let r = post("/v1/refunds", Some(&key), &[("payment_intent", &id)])
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Parameters: missing, not integers.
    for (form, param, expected) in [
        (vec![("currency", "usd")], "amount", "parameter_missing"),
        (
            vec![("amount", "ten"), ("currency", "usd")],
            "amount",
            "parameter_invalid_integer",
        ),
        (vec![("amount", "1000")], "currency", "parameter_missing"),
    ] {
        let r = post(
            "/v1/payment_intents",
            Some(&format!("{key}-{param}-{expected}")),
            &form,
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 400);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            (code(&body), body["error"]["param"].as_str()),
            (expected.to_string(), Some(param)),
            "{body}"
        );
    }
    // No more captured than capturable, no more refunded than captured.
    let r = post(
        &format!("/v1/payment_intents/{id}/capture"),
        Some(&format!("{key}-c1")),
        &[("amount_to_capture", "1001")],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let r = post(
        &format!("/v1/payment_intents/{id}/capture"),
        Some(&format!("{key}-c2")),
        &[("amount_to_capture", "600")],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = post(
        "/v1/refunds",
        Some(&format!("{key}-r1")),
        &[("payment_intent", &id), ("amount", "601")],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(code(&body), "amount_too_large", "{body}");
    // Without an amount, a refund is of what is left.
    let r = post(
        "/v1/refunds",
        Some(&format!("{key}-r2")),
        &[("payment_intent", &id)],
    )
    .await
    .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["amount"], 600, "{body}");
    let r = post(
        "/v1/refunds",
        Some(&format!("{key}-r3")),
        &[("payment_intent", &id)],
    )
    .await
    .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(code(&body), "charge_already_refunded", "{body}");
    // Unknown routes and bodies that are not form parameters are Stripe-shaped errors too.
    let r = post("/v1/charges", None, &[]).await.unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(code(&body), "resource_missing");
    let r = client
        .post(format!("{}v1/payment_intents", double.url()))
        .bearer_auth("sk_test_e2e")
        .body("%%%=%")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// The Stripe provider's whole surface against the strict double: authorize, retrieve,
/// capture, refund (partial, then too much), cancel.
#[tokio::test]
async fn the_stripe_provider_authorizes_retrieves_captures_refunds_and_cancels() {
    use souk_domain::{Currency, Money};
    use souk_payments::provider::{
        Authorization, AuthorizeRequest, IntentStatus, PaymentProvider, ProviderError,
    };
    let stripe =
        souk_payments::stripe::Stripe::new("sk_test_e2e", &stripe_app().stripe.url()).unwrap();
    let key = format!("provider-{}", unique());
    let usd = |a| Money::new(a, Currency::USD);
    let authorize = |k: String, pm: &str| AuthorizeRequest {
        idempotency_key: k,
        amount: usd(2_500),
        payment_method: pm.into(),
        customer_email: "ada@example.com".into(),
        description: key.clone(),
    };
    let Authorization::Authorized {
        reference,
        fingerprint,
    } = stripe
        .authorize(&authorize(format!("{key}:a"), "pm_card_visa"))
        .await
        .unwrap()
    else {
        panic!("authorized")
    };
    assert_eq!(fingerprint.as_deref(), Some("fp_double_visa"));
    assert_eq!(
        stripe.status(&reference).await.unwrap(),
        IntentStatus::Authorized
    );
    assert_eq!(
        stripe
            .capture(&format!("{key}:c"), &reference, usd(2_500))
            .await
            .unwrap(),
        usd(2_500)
    );
    assert_eq!(
        stripe.status(&reference).await.unwrap(),
        IntentStatus::Captured
    );
    // The same capture retried under a key Stripe no longer has (keys expire after a day):
    // refused as already captured, and reconciled from the intent, not failed.
    assert_eq!(
        stripe
            .capture(&format!("{key}:c-after-a-day"), &reference, usd(2_500))
            .await
            .unwrap(),
        usd(2_500)
    );
    let re = stripe
        .refund(&format!("{key}:r1"), &reference, usd(1_000))
        .await
        .unwrap();
    assert!(re.starts_with("re_"), "{re}");
    // Retried with its key: the same refund, not a second one.
    assert_eq!(
        stripe
            .refund(&format!("{key}:r1"), &reference, usd(1_000))
            .await
            .unwrap(),
        re
    );
    match stripe
        .refund(&format!("{key}:r2"), &reference, usd(1_600))
        .await
    {
        Err(ProviderError::Rejected { code, .. }) => assert_eq!(code, "amount_too_large"),
        other => panic!("refused: {other:?}"),
    }
    let Authorization::Authorized {
        reference: other, ..
    } = stripe
        .authorize(&authorize(format!("{key}:a2"), "pm_card_mastercard"))
        .await
        .unwrap()
    else {
        panic!("authorized")
    };
    stripe.void(&format!("{key}:v"), &other).await.unwrap();
    assert_eq!(stripe.status(&other).await.unwrap(), IntentStatus::Canceled);
    stripe
        .void(&format!("{key}:v-after-a-day"), &other)
        .await
        .expect("a void of a cancelled intent is done already");
    // A capture of what was cancelled is refused, for good.
    assert!(matches!(
        stripe
            .capture(&format!("{key}:c2"), &other, usd(2_500))
            .await,
        Err(ProviderError::Rejected { .. })
    ));
    let refunded: i64 = stripe_app()
        .stripe
        .requests_for(&key)
        .iter()
        .filter(|r| r.path == "/v1/refunds" && r.status == 200)
        .count() as i64;
    assert_eq!(
        refunded, 2,
        "the refund and its retry answered; the over-refund refused"
    );
}

/// (state, reason, seconds it was reserved for at creation until now's expiry) of a reservation.
async fn reservation(db: &sqlx::PgPool, id: &str) -> (String, Option<String>, f64) {
    sqlx::query_as(
        "SELECT state, reason, extract(epoch FROM expires_at - created_at)::float8 \
         FROM inventory.reservations WHERE id = $1",
    )
    .bind(id)
    .fetch_one(db)
    .await
    .unwrap()
}

/// The sweeper runs under the Stripe stack's checkouts (every second), so the tests below
/// that keep stock through long waits prove the checkout extends it, not that nobody sweeps.
#[tokio::test]
async fn the_sweeper_releases_a_reservation_nobody_extends() {
    let db = stripe_app().db().await;
    let (a, _, _) = two_vendors(&db).await;
    let id = format!("test-{}:reserve", unique());
    souk_inventory::store::reserve(
        &db,
        &souk_kit::Ctx::system(),
        &souk_contracts::inventory::ReserveStock {
            reservation_id: id.clone(),
            sku: souk_domain::Sku::parse(&a.skus[0]).unwrap(),
            quantity: 1,
            ttl_seconds: 1,
        },
    )
    .await
    .unwrap();
    eventually(Duration::from_secs(10), "the sweeper", || async {
        let (state, reason, _) = reservation(&db, &id).await;
        (state == "released").then_some(reason)
    })
    .await
    .filter(|r| r == "expired")
    .expect("released as expired");
    assert_eq!(stock(&db, &a.skus[0]).await.reserved, 0);
}

/// A review window longer than a reservation lasts: the checkout extends its reservation
/// before it waits, so the sweeper leaves it alone and the stock is sold, not released.
#[tokio::test]
async fn a_checkout_keeps_its_stock_through_a_review_window_longer_than_a_reservation() {
    const { assert!(STRIPE_CAPTURE_DELAY_SECONDS > STRIPE_RESERVATION_TTL_SECONDS) };
    let db = stripe_app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::at(&stripe_app().api);
    let before = stock(&db, &a.skus[0]).await.on_hand;
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    let rid = reservation_id(&checkout_id, &a.skus[0]);
    let (state, _, leased) = reservation(&db, &rid).await;
    assert_eq!(state, "reserved");
    assert!(
        leased >= (STRIPE_CAPTURE_DELAY_SECONDS + STRIPE_RESERVATION_TTL_SECONDS) as f64 - 1.0,
        "extended for the review window and a margin: {leased} s"
    );
    let done = ended(&http, &checkout_id).await;
    assert_eq!(done["state"], "completed", "{done}");
    let (state, reason, _) = reservation(&db, &rid).await;
    assert_eq!((state.as_str(), reason), ("committed", None));
    assert_eq!(
        done_at_stripe(&stripe_app().stripe, &checkout_id, "/capture"),
        1
    );
    let s = stock(&db, &a.skus[0]).await;
    assert_eq!((s.on_hand, s.reserved), (before - 1, 0), "sold once");
}

/// A reservation lost during the review window (an operator took it back, the checkout
/// stalled past its lease) stops the checkout before money moves: the intent is cancelled,
/// nothing is captured or refunded.
#[tokio::test]
async fn a_reservation_lost_before_capture_cancels_the_intent_without_capturing() {
    let db = stripe_app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::at(&stripe_app().api);
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    assert_eq!(
        (r.status, r.body["step"].as_str()),
        (201, Some("capture_delay")),
        "{}",
        r.text
    );
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    take_back(&db, &reservation_id(&checkout_id, &a.skus[0])).await;
    let done = ended(&http, &checkout_id).await;
    assert_eq!(
        (done["state"].as_str(), done["failure"]["code"].as_str()),
        (Some("compensated"), Some("reservation_expired")),
        "{done}"
    );
    let intents = stripe_app().stripe.intents_for(&checkout_id);
    assert_eq!(intents.len(), 1, "{intents:?}");
    assert_eq!(
        (
            intents[0].status.as_str(),
            intents[0].captured,
            intents[0].refunded
        ),
        ("canceled", 0, 0)
    );
    assert_eq!(
        (
            done_at_stripe(&stripe_app().stripe, &checkout_id, "/capture"),
            done_at_stripe(&stripe_app().stripe, &checkout_id, "/cancel"),
            done_at_stripe(&stripe_app().stripe, &checkout_id, "/v1/refunds")
        ),
        (0, 1, 0)
    );
    let (status, _, captured, refunded) = payment(&db, &checkout_id, 1).await.unwrap();
    assert_eq!((status.as_str(), captured, refunded), ("voided", 0, 0));
}

/// One of two reservations goes while the capture is in flight at Stripe: the capture goes
/// through, no line is sold (all or none), and the checkout refunds the customer at Stripe, in
/// full, once, and ends compensated.
#[tokio::test]
async fn a_reservation_lost_during_the_capture_is_refunded_at_stripe_once() {
    let db = stripe_app().db().await;
    let (a, b, email) = two_vendors(&db).await;
    let http = Http::at(&stripe_app().api);
    let before = (
        stock(&db, &a.skus[0]).await.on_hand,
        stock(&db, &b.skus[0]).await.on_hand,
    );
    let cart = cart_with(&http, &[(&a.skus[0], 1), (&b.skus[0], 2)]).await;
    let checkout_id = format!("checkout-{cart}");
    let held = stripe_app()
        .stripe
        .hold_next(&checkout_id, "capture", HoldAt::Received);
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    tokio::time::timeout(Duration::from_secs(30), held.arrived())
        .await
        .expect("the capture reached Stripe");
    // One line of two loses its stock; the other must not be sold either.
    take_back(&db, &reservation_id(&checkout_id, &b.skus[0])).await;
    held.release();
    let done = ended(&http, &checkout_id).await;
    assert_eq!(
        (done["state"].as_str(), done["failure"]["code"].as_str()),
        (Some("compensated"), Some("reservation_expired")),
        "{done}"
    );
    let total = done["total"]["amount"].as_i64().unwrap();
    let intents = stripe_app().stripe.intents_for(&checkout_id);
    assert_eq!(intents.len(), 1, "{intents:?}");
    assert_eq!(
        (
            intents[0].status.as_str(),
            intents[0].captured,
            intents[0].refunded
        ),
        ("succeeded", total, total)
    );
    assert_eq!(
        (
            done_at_stripe(&stripe_app().stripe, &checkout_id, "/capture"),
            done_at_stripe(&stripe_app().stripe, &checkout_id, "/v1/refunds")
        ),
        (1, 1)
    );
    let (status, _, captured, refunded) = payment(&db, &checkout_id, 1).await.unwrap();
    assert_eq!(
        (status.as_str(), captured, refunded),
        ("refunded", total, total)
    );
    let (sa, sb) = (stock(&db, &a.skus[0]).await, stock(&db, &b.skus[0]).await);
    assert_eq!(
        ((sa.on_hand, sa.reserved), (sb.on_hand, sb.reserved)),
        ((before.0, 0), (before.1, 0)),
        "nothing sold, nothing left reserved"
    );
}

/// A customer who takes longer over 3-D Secure than a reservation lasts still gets the stock:
/// the checkout extended it for the whole payment wait. Confirmed by a Stripe-signed
/// `payment_intent.amount_capturable_updated` for a Stripe intent.
#[tokio::test]
async fn a_slow_3ds_payment_confirmed_by_stripe_keeps_its_stock_and_is_captured_once() {
    let db = stripe_app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::at(&stripe_app().api);
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_authenticationRequired"),
    )
    .await;
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    let reference = awaiting_payment(&http, &db, &checkout_id).await;
    let rid = reservation_id(&checkout_id, &a.skus[0]);
    // Past the reservation's first lease, with the sweeper running every second.
    eventually(
        Duration::from_secs(20),
        "the first lease to run out",
        || async {
            let past: bool = sqlx::query_scalar(
                "SELECT now() > created_at + make_interval(secs => $2 + 2) \
                 FROM inventory.reservations WHERE id = $1",
            )
            .bind(&rid)
            .bind(STRIPE_RESERVATION_TTL_SECONDS as f64)
            .fetch_one(&db)
            .await
            .unwrap();
            past.then_some(())
        },
    )
    .await;
    assert_eq!(reservation(&db, &rid).await.0, "reserved");
    assert!(stripe_app().stripe.complete_authentication(&reference));
    let payload = payment_intent_event(
        &format!("evt_{}", unique()),
        "payment_intent.amount_capturable_updated",
        &reference,
    );
    let ok = post_signed(stripe_app(), &payload).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["duplicate"], false, "{}", ok.text);
    let done = ended(&http, &checkout_id).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(reservation(&db, &rid).await.0, "committed");
    let total = done["total"]["amount"].as_i64().unwrap();
    let intents = stripe_app().stripe.intents_for(&checkout_id);
    assert_eq!(
        (intents.len(), intents[0].captured),
        (1, total),
        "{intents:?}"
    );
    assert_eq!(
        done_at_stripe(&stripe_app().stripe, &checkout_id, "/capture"),
        1
    );
    assert_eq!(payment(&db, &checkout_id, 1).await.unwrap().0, "captured");
}

/// A checkout cancelled while the customer had not finished 3-D Secure cancels its
/// PaymentIntent at Stripe.
#[tokio::test]
async fn a_cancelled_checkout_cancels_its_intent_at_stripe() {
    let db = stripe_app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::at(&stripe_app().api);
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_authenticationRequired"),
    )
    .await;
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    awaiting_payment(&http, &db, &checkout_id).await;
    let r = http
        .post(&format!("/v1/checkouts/{checkout_id}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(ended(&http, &checkout_id).await["state"], "cancelled");
    let intents = stripe_app().stripe.intents_for(&checkout_id);
    assert_eq!(intents[0].status, "canceled", "{intents:?}");
    let cancels: Vec<_> = stripe_app()
        .stripe
        .requests_for(&checkout_id)
        .into_iter()
        .filter(|r| r.path.ends_with("/cancel"))
        .collect();
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(
        cancels[0].idempotency_key.as_deref(),
        Some(format!("{checkout_id}:void:1").as_str())
    );
    assert_eq!(stock(&db, &a.skus[0]).await.reserved, 0);
}

/// A 3-D Secure checkout on the Stripe stack, waiting for the customer; (id, intent).
async fn waiting_for_the_customer(http: &Http, db: &sqlx::PgPool) -> (String, String, String) {
    let (a, _, email) = two_vendors(db).await;
    let cart = cart_with(http, &[(&a.skus[0], 1)]).await;
    let r = start(
        http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_authenticationRequired"),
    )
    .await;
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    let reference = awaiting_payment(http, db, &checkout_id).await;
    (checkout_id, reference, a.skus[0].clone())
}

/// Stripe reports that the customer's 3-D Secure failed (`payment_intent.payment_failed`, with
/// the bank's decline code) or that the intent was cancelled (`payment_intent.canceled`): the
/// checkout is compensated with the reason, its intent cancelled, nothing captured, the stock
/// back.
#[tokio::test]
async fn stripe_failure_webhooks_compensate_the_waiting_checkout() {
    let db = stripe_app().db().await;
    let http = Http::at(&stripe_app().api);
    for (event_type, error, reason) in [
        (
            "payment_intent.payment_failed",
            json!({"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
                   "message": "Your card has insufficient funds."}),
            "insufficient_funds",
        ),
        (
            "payment_intent.canceled",
            Value::Null,
            "payment_intent.canceled",
        ),
    ] {
        let (checkout_id, reference, sku) = waiting_for_the_customer(&http, &db).await;
        let mut intent = capturable_intent(&reference);
        intent["amount_capturable"] = json!(0);
        intent["status"] = json!(if error.is_null() {
            "canceled"
        } else {
            "requires_payment_method"
        });
        if !error.is_null() {
            intent["last_payment_error"] = error;
        }
        let payload = intent_event(&format!("evt_{}", unique()), event_type, intent);
        let r = post_signed(stripe_app(), &payload).await;
        assert_eq!(r.status, 200, "{event_type}: {}", r.text);
        assert_eq!(r.body["duplicate"], false, "{event_type}: {}", r.text);
        let done = ended(&http, &checkout_id).await;
        assert_eq!(
            (done["state"].as_str(), done["failure"]["code"].as_str()),
            (Some("compensated"), Some("card_declined")),
            "{event_type}: {done}"
        );
        assert!(
            done["failure"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(reason)),
            "{event_type}: the reason is kept: {done}"
        );
        let intents = stripe_app().stripe.intents_for(&checkout_id);
        assert_eq!((intents.len(), intents[0].captured), (1, 0), "{intents:?}");
        assert_eq!(
            done_at_stripe(&stripe_app().stripe, &checkout_id, "/capture"),
            0,
            "{event_type}"
        );
        assert_eq!(stock(&db, &sku).await.reserved, 0, "{event_type}");
        let (status, _, captured, _) = payment(&db, &checkout_id, 1).await.unwrap();
        assert_eq!((status.as_str(), captured), ("voided", 0), "{event_type}");
    }
}

/// A cancel that comes while the capture is in flight at Stripe is refused (`409`: the API
/// sees the capture step): from the capture on the checkout completes, so the customer is
/// charged once and nothing is voided.
#[tokio::test]
async fn a_cancel_once_the_capture_is_in_flight_is_refused_and_the_checkout_completes() {
    let db = stripe_app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::at(&stripe_app().api);
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let checkout_id = format!("checkout-{cart}");
    let held = stripe_app()
        .stripe
        .hold_next(&checkout_id, "capture", HoldAt::Received);
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // While it waits out the review window a second checkout of the cart is refused.
    let again = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    assert_eq!(
        (again.status, again.code()),
        (409, "checkout_in_progress"),
        "{}",
        again.text
    );
    assert_eq!(
        again.body["error"]["details"]["checkout_id"].as_str(),
        Some(checkout_id.as_str()),
        "{}",
        again.text
    );
    tokio::time::timeout(Duration::from_secs(30), held.arrived())
        .await
        .expect("the capture reached Stripe");
    let r = http
        .post(&format!("/v1/checkouts/{checkout_id}/cancel"), json!({}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "checkout_not_cancellable"),
        "{}",
        r.text
    );
    held.release();
    let done = ended(&http, &checkout_id).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(
        (
            done_at_stripe(&stripe_app().stripe, &checkout_id, "/capture"),
            done_at_stripe(&stripe_app().stripe, &checkout_id, "/cancel")
        ),
        (1, 0)
    );
    assert_eq!(payment(&db, &checkout_id, 1).await.unwrap().0, "captured");
}
