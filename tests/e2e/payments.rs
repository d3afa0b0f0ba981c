//! Payment providers and webhooks: the Stripe provider against a local double (idempotency
//! keys, retries after a 500), and Stripe-signed webhooks confirming a payment the customer
//! had to complete.

use std::time::Duration;

use serde_json::json;
use souk_tests::{Http, WEBHOOK_SECRET, app, eventually, stripe_app, unique};
use stripe_webhook::Webhook;

use crate::checkout_support::*;

#[tokio::test]
async fn the_stripe_provider_sends_idempotency_keys_and_a_500_then_success_makes_one_intent() {
    let db = stripe_app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::at(&stripe_app().api);
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let checkout_id = format!("checkout-{cart}");
    stripe_app().stripe.fail_next("create", 1);
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
    let (id, status, amount, captured, _) = &intents[0];
    assert_eq!((status.as_str(), captured), ("succeeded", amount));
    let ours: Vec<_> = stripe_app()
        .stripe
        .requests()
        .into_iter()
        .filter(|r| {
            r.path.contains(id.as_str()) || r.form.get("metadata[checkout]") == Some(&checkout_id)
        })
        .collect();
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
    assert_eq!(intents[0].1, "succeeded");
}

fn payment_intent_event(event_id: &str, event_type: &str, intent: &str) -> String {
    json!({
        "id": event_id, "object": "event", "created": 1_700_000_000, "livemode": false,
        "pending_webhooks": 1, "type": event_type,
        "data": {"object": {
            "id": intent, "object": "payment_intent", "amount": 1000, "amount_capturable": 1000,
            "amount_received": 0, "capture_method": "manual", "confirmation_method": "automatic",
            "created": 1_700_000_000, "currency": "usd", "livemode": false, "metadata": {},
            "payment_method_types": ["card"], "status": "requires_capture"
        }}
    })
    .to_string()
}

async fn post_webhook(payload: &str, signature: Option<String>) -> souk_tests::Reply {
    let mut req = reqwest::Client::new()
        .post(app().url("/v1/webhooks/stripe"))
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
    let reference: String = eventually(Duration::from_secs(20), "the pending payment", || async {
        let r = http.get(&format!("/v1/checkouts/{checkout_id}")).await;
        if r.body["step"] != "awaiting_payment" {
            return None;
        }
        sqlx::query_scalar(
            "SELECT provider_payment_id FROM payments.payments WHERE checkout_id = $1",
        )
        .bind(&checkout_id)
        .fetch_optional(&db)
        .await
        .unwrap()
    })
    .await;
    // The customer completes 3-D Secure at the provider, which then calls us.
    assert!(
        souk_activities::payments::sandbox::complete_authentication(&db, &reference)
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
        &payload,
        Some(Webhook::generate_test_header(&payload, "whsec_wrong", None)),
    )
    .await;
    assert_eq!((forged.status, forged.code()), (400, "invalid_signature"));
    let unsigned = post_webhook(&payload, None).await;
    assert_eq!(
        (unsigned.status, unsigned.code()),
        (400, "invalid_signature")
    );
    let stale_ts = chrono::Utc::now().timestamp() - 3_600;
    let stale = post_webhook(
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
        &payload.replace("amount_capturable_updated", "succeeded"),
        Some(Webhook::generate_test_header(
            &payload,
            WEBHOOK_SECRET,
            None,
        )),
    )
    .await;
    assert_eq!(tampered.status, 400);

    let ok = post_webhook(
        &payload,
        Some(Webhook::generate_test_header(
            &payload,
            WEBHOOK_SECRET,
            None,
        )),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(
        (ok.body["event_id"].as_str(), ok.body["duplicate"].as_bool()),
        (Some(event_id.as_str()), Some(false))
    );
    let again = post_webhook(
        &payload,
        Some(Webhook::generate_test_header(
            &payload,
            WEBHOOK_SECRET,
            None,
        )),
    )
    .await;
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
