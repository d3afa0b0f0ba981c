//! The checkout saga over HTTP, against real Temporal, Postgres, Redis and a mail catcher.

use std::time::Duration;

use serde_json::json;
use souk_tests::fixtures::{self, VariantSpec};
use souk_tests::{Http, app, unique};

use crate::checkout_support::*;

#[tokio::test]
async fn a_checkout_reserves_captures_places_a_split_order_and_mails_the_customer() {
    let db = app().db().await;
    let (a, b, email) = two_vendors(&db).await;
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 2), (&b.skus[0], 1)]).await;

    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    assert_eq!(checkout_id, format!("checkout-{cart}"));
    assert_eq!(r.body["decided"], true);
    let order_no = r.body["order_no"]
        .as_str()
        .expect("order placed")
        .to_string();
    assert!(order_no.starts_with("SK-"));

    let done = ended(&http, &checkout_id).await;
    assert_eq!(done["state"], "completed", "{done}");

    // Stock: reserved, then committed (on hand down, nothing left reserved).
    let s = stock(&db, &a.skus[0]).await;
    assert_eq!((s.on_hand, s.reserved), (18, 0));
    let s = stock(&db, &b.skus[0]).await;
    assert_eq!((s.on_hand, s.reserved), (19, 0));
    let committed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM inventory.reservations WHERE id LIKE $1 AND state = 'committed'",
    )
    .bind(format!("{checkout_id}:reserve:%"))
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(committed, 2);

    // One authorization, one capture, of the whole total.
    let total = done["total"]["amount"].as_i64().unwrap();
    let (status, amount, captured, refunded) = payment(&db, &checkout_id, 1).await.unwrap();
    assert_eq!(
        (status.as_str(), amount, captured, refunded),
        ("captured", total, total, 0)
    );
    once_at_provider(&db, &checkout_id, "authorize").await;
    once_at_provider(&db, &checkout_id, "capture").await;

    // The order, split by vendor, with its timeline.
    let r = http
        .admin_get(&format!("/v1/admin/orders/{order_no}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let o = &r.body;
    assert_eq!(o["status"], "placed");
    assert_eq!(o["payment_status"], "captured");
    assert_eq!(o["customer_email"], email.as_str());
    assert_eq!(o["total"]["amount"], total);
    let subs = o["sub_orders"].as_array().unwrap();
    assert_eq!(subs.len(), 2, "one sub-order per vendor");
    let sum: i64 = subs
        .iter()
        .map(|s| s["total"]["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, total, "sub-orders add up to the order");
    assert_eq!(o["payment"]["captured"]["amount"], total);
    let events: Vec<&str> = o["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, vec!["placed", "payment_captured"]);

    // The confirmation was mailed, once (counted at the mail server, after it stays quiet
    // for a while), and can be read.
    let mails = settled_mails_to(&email, Duration::from_secs(2)).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].0, format!("Your Souk order {order_no}"));
    assert!(
        mails[0].1.contains(&format!(
            "Total charged: {}",
            souk_domain::Money::new(total, souk_domain::Currency::USD)
        )),
        "{}",
        mails[0].1
    );
    assert!(mails[0].1.contains("Ada Lovelace"));
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_checkout_and_another_key_conflicts() {
    let db = app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let key = unique();
    let first = start(&http, &key, checkout_body(&cart, &email, "pm_card_visa")).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = start(&http, &key, checkout_body(&cart, &email, "pm_card_visa")).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.body["checkout_id"], first.body["checkout_id"]);
    assert_eq!(again.body["order_no"], first.body["order_no"]);
    let checkout_id = first.body["checkout_id"].as_str().unwrap();
    ended(&http, checkout_id).await;
    let other = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    assert_eq!(
        (other.status, other.code()),
        (409, "cart_already_checked_out"),
        "{}",
        other.text
    );
    once_at_provider(&db, checkout_id, "authorize").await;
}

#[tokio::test]
async fn ten_parallel_identical_requests_start_one_workflow_and_one_authorization() {
    let db = app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let key = unique();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (http, key, body) = (
            http.clone(),
            key.clone(),
            checkout_body(&cart, &email, "pm_card_visa"),
        );
        tasks.push(tokio::spawn(async move { start(&http, &key, body).await }));
    }
    let mut order_nos = std::collections::BTreeSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert!(r.status == 201 || r.status == 202, "{}", r.text);
        if let Some(no) = r.body["order_no"].as_str() {
            order_nos.insert(no.to_string());
        }
    }
    let checkout_id = format!("checkout-{cart}");
    let done = ended(&http, &checkout_id).await;
    assert_eq!(done["state"], "completed");
    // Every reply that named an order named the one order the checkout made.
    let order_no = done["order_no"]
        .as_str()
        .expect("a completed checkout has an order");
    assert!(
        order_nos.iter().all(|n| n == order_no),
        "{order_nos:?} vs {order_no}"
    );
    once_at_provider(&db, &checkout_id, "authorize").await;
    once_at_provider(&db, &checkout_id, "capture").await;
    let orders: i64 =
        sqlx::query_scalar("SELECT count(*) FROM orders.orders WHERE checkout_id = $1")
            .bind(&checkout_id)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(orders, 1);
}

#[tokio::test]
async fn a_declined_card_is_compensated_and_the_cart_can_be_checked_out_again() {
    let db = app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 3)]).await;
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_chargeDeclinedInsufficientFunds"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    let done = ended(&http, &checkout_id).await;
    assert_eq!(done["state"], "compensated", "{done}");
    assert_eq!(done["failure"]["code"], "card_declined");
    assert!(
        done["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("insufficient"),
        "{done}"
    );
    let s = stock(&db, &a.skus[0]).await;
    assert_eq!((s.on_hand, s.reserved), (20, 0), "nothing left reserved");
    let (status, _, captured, _) = payment(&db, &checkout_id, 1).await.unwrap();
    assert_eq!((status.as_str(), captured), ("declined", 0));
    assert!(
        order(&db, &checkout_id).await.is_none(),
        "no order was placed"
    );

    // The customer tries another card: a second attempt of the same checkout.
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["attempt"], 2);
    assert_eq!(ended(&http, &checkout_id).await["state"], "completed");
    let (status, ..) = payment(&db, &checkout_id, 2).await.unwrap();
    assert_eq!(status, "captured");
}

#[tokio::test]
async fn running_out_of_stock_releases_what_was_reserved() {
    let db = app().db().await;
    let plenty = fixtures::product(&db, &[VariantSpec::new(1_000, 10, 0)]).await;
    let scarce = fixtures::product(&db, &[VariantSpec::new(1_000, 2, 0)]).await;
    let http = Http::new();
    let cart = cart_with(&http, &[(&plenty.skus[0], 2), (&scarce.skus[0], 2)]).await;
    // Someone else buys the scarce item after it was put in the cart.
    souk_inventory::store::reserve(
        &db,
        &souk_kit::Ctx::new("test"),
        &souk_contracts::inventory::ReserveStock {
            reservation_id: format!("other-buyer-{}", unique()),
            sku: souk_domain::Sku::parse(&scarce.skus[0]).unwrap(),
            quantity: 1,
            ttl_seconds: 600,
        },
    )
    .await
    .unwrap();
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, "late@example.com", "pm_card_visa"),
    )
    .await;
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    let done = ended(&http, &checkout_id).await;
    assert_eq!(
        (done["state"].as_str(), done["failure"]["code"].as_str()),
        (Some("compensated"), Some("out_of_stock")),
        "{done}"
    );
    assert_eq!(
        stock(&db, &plenty.skus[0]).await.reserved,
        0,
        "the line that was reserved is released"
    );
    assert_eq!(
        stock(&db, &scarce.skus[0]).await.reserved,
        1,
        "only the other buyer's unit stays reserved"
    );
    assert!(
        payment(&db, &checkout_id, 1).await.is_none(),
        "no payment was attempted"
    );
}

#[tokio::test]
async fn a_coupon_that_stopped_applying_fails_the_checkout_with_nothing_held() {
    let db = app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let mut c = souk_domain::coupon::Coupon {
        code: format!("LIM{}", unique()),
        description: "one use".into(),
        discount: souk_domain::coupon::DiscountKind::Percent {
            basis_points: 1_000,
        },
        min_order: None,
        max_discount: None,
        starts_at: None,
        ends_at: None,
        total_limit: Some(1),
        per_customer_limit: None,
        scope: souk_domain::coupon::CouponScope::All,
        active: true,
    };
    let code = fixtures::coupon(&db, c.clone()).await;
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let r = http
        .post(&format!("/v1/carts/{cart}/coupon"), json!({"code": code}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The coupon is switched off before the customer checks out.
    c.active = false;
    fixtures::coupon(&db, c).await;
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    let done = ended(&http, &checkout_id).await;
    assert_eq!(
        (done["state"].as_str(), done["failure"]["code"].as_str()),
        (Some("compensated"), Some("coupon_invalid")),
        "{done}"
    );
    assert_eq!(stock(&db, &a.skus[0]).await.reserved, 0);
    assert!(payment(&db, &checkout_id, 1).await.is_none());
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM pricing.coupon_redemptions WHERE redemption_key LIKE $1 AND state <> 'reversed'")
        .bind(format!("{checkout_id}:%"))
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(held, 0);
}

#[tokio::test]
async fn a_coupon_is_held_then_redeemed_by_a_paid_checkout() {
    let db = app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let code = fixtures::coupon(
        &db,
        souk_domain::coupon::Coupon {
            code: format!("TEN{}", unique()),
            description: "10% off".into(),
            discount: souk_domain::coupon::DiscountKind::Percent {
                basis_points: 1_000,
            },
            min_order: None,
            max_discount: None,
            starts_at: None,
            ends_at: None,
            total_limit: None,
            per_customer_limit: Some(1),
            scope: souk_domain::coupon::CouponScope::All,
            active: true,
        },
    )
    .await;
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 2)]).await;
    http.post(&format!("/v1/carts/{cart}/coupon"), json!({"code": code}))
        .await
        .expect(200);
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    let done = ended(&http, &checkout_id).await;
    assert_eq!(done["state"], "completed", "{done}");
    let state: String = sqlx::query_scalar(
        "SELECT state FROM pricing.coupon_redemptions WHERE redemption_key = $1",
    )
    .bind(format!("{checkout_id}:coupon:1"))
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(state, "redeemed");
    let order_no = done["order_no"].as_str().unwrap();
    let o = http
        .admin_get(&format!("/v1/admin/orders/{order_no}"))
        .await;
    assert_eq!(o.body["discount"]["amount"], 500);
    assert_eq!(o.body["coupon_code"], code.as_str());
}

#[tokio::test]
async fn a_cancel_signal_before_capture_undoes_everything() {
    let db = app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    // A payment waiting for the customer keeps the checkout before capture.
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_authenticationRequired"),
    )
    .await;
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    awaiting_payment(&http, &db, &checkout_id).await;
    assert_eq!(stock(&db, &a.skus[0]).await.reserved, 1);
    let r = http
        .post(&format!("/v1/checkouts/{checkout_id}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let done = ended(&http, &checkout_id).await;
    assert_eq!(
        (done["state"].as_str(), done["failure"]["code"].as_str()),
        (Some("cancelled"), Some("cancelled")),
        "{done}"
    );
    assert_eq!(stock(&db, &a.skus[0]).await.reserved, 0);
    let (status, ..) = payment(&db, &checkout_id, 1).await.unwrap();
    assert_eq!(status, "voided");
    let r = http
        .post(&format!("/v1/checkouts/{checkout_id}/cancel"), json!({}))
        .await;
    assert_eq!((r.status, r.code()), (409, "checkout_not_cancellable"));
}

#[tokio::test]
async fn a_payment_never_confirmed_times_out_and_releases_the_stock() {
    let db = app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 2)]).await;
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_authenticationRequired"),
    )
    .await;
    assert_eq!(r.status, 202, "still waiting for the customer: {}", r.text);
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    let done = ended(&http, &checkout_id).await;
    assert_eq!(
        (done["state"].as_str(), done["failure"]["code"].as_str()),
        (Some("compensated"), Some("payment_timeout")),
        "{done}"
    );
    assert_eq!(stock(&db, &a.skus[0]).await.reserved, 0);
    assert_eq!(payment(&db, &checkout_id, 1).await.unwrap().0, "voided");
}

#[tokio::test]
async fn checkout_mistakes_are_clear_4xx_and_start_nothing() {
    let db = app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let empty = cart_with(&http, &[]).await;
    let mut bad_email = checkout_body(&cart, "not-an-email", "pm_card_visa");
    let mut bad_country = checkout_body(&cart, &email, "pm_card_visa");
    bad_country["shipping_address"]["country"] = json!("USA");
    let mut no_name = checkout_body(&cart, &email, "pm_card_visa");
    no_name["shipping_address"]["name"] = json!("  ");
    let mut bad_provider = checkout_body(&cart, &email, "pm_card_visa");
    bad_provider["payment"]["provider"] = json!("paypal");
    let cases = vec![
        (
            start(
                &http,
                &unique(),
                checkout_body(&empty, &email, "pm_card_visa"),
            )
            .await,
            422,
            "cart_empty",
        ),
        (
            start(
                &http,
                &unique(),
                checkout_body(
                    "00000000-0000-4000-8000-000000000000",
                    &email,
                    "pm_card_visa",
                ),
            )
            .await,
            404,
            "cart_not_found",
        ),
        (
            start(
                &http,
                &unique(),
                checkout_body("nope", &email, "pm_card_visa"),
            )
            .await,
            404,
            "cart_not_found",
        ),
        (
            start(&http, &unique(), {
                bad_email["email"] = json!("no at sign");
                bad_email
            })
            .await,
            422,
            "invalid_email",
        ),
        (
            start(&http, &unique(), bad_country).await,
            422,
            "invalid_country",
        ),
        (
            start(&http, &unique(), no_name).await,
            422,
            "invalid_address",
        ),
        (
            start(
                &http,
                &unique(),
                checkout_body(&cart, &email, "pm card; drop"),
            )
            .await,
            422,
            "invalid_payment_method",
        ),
        (
            // The provider is the store's choice, not a field of the request.
            start(&http, &unique(), bad_provider).await,
            422,
            "invalid_body",
        ),
        (
            start(&http, &unique(), json!({"cart_id": cart})).await,
            422,
            "invalid_body",
        ),
        (
            http.post(
                "/v1/checkouts",
                checkout_body(&cart, &email, "pm_card_visa"),
            )
            .await,
            400,
            "idempotency_key_required",
        ),
        (
            http.get("/v1/checkouts/checkout-00000000-0000-4000-8000-000000000000")
                .await,
            404,
            "checkout_not_found",
        ),
        (
            http.get("/v1/checkouts/whatever").await,
            404,
            "checkout_not_found",
        ),
        (
            http.post("/v1/checkouts/whatever/cancel", json!({})).await,
            404,
            "checkout_not_found",
        ),
    ];
    for (i, (r, status, code)) in cases.iter().enumerate() {
        assert_eq!(
            (r.status, r.code()),
            (*status, *code),
            "case {i}: {}",
            r.text
        );
    }
    let client = app().temporal().await;
    let handle =
        client.get_workflow_handle::<souk_workflows::CheckoutWorkflow>(format!("checkout-{cart}"));
    let r = handle.describe(Default::default()).await;
    assert!(
        matches!(
            r,
            Err(temporalio_client::errors::WorkflowInteractionError::NotFound(_))
        ),
        "no workflow was started for the valid cart: {:?}",
        r.map(|_| ())
    );
}

#[tokio::test]
async fn the_request_id_of_a_checkout_is_in_its_workflow_memo() {
    let db = app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let request_id = format!("support-{}", unique());
    let r = http
        .send(
            http.request(reqwest::Method::POST, "/v1/checkouts")
                .header("x-request-id", &request_id)
                .header("idempotency-key", unique())
                .json(&checkout_body(&cart, &email, "pm_card_visa")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.headers["x-request-id"], request_id.as_str());
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    // Support finds the workflow from the id in the customer's error report.
    let client = app().temporal().await;
    let d = client
        .get_workflow_handle::<souk_workflows::CheckoutWorkflow>(checkout_id.clone())
        .describe(Default::default())
        .await
        .unwrap();
    assert_eq!(
        app().memo::<String>(&d, "request_id"),
        Some(request_id.clone())
    );
    ended(&http, &checkout_id).await;
}

/// Taxes and shipping are those of where the order ships: a US cart shipped to Germany pays
/// German tax and German shipping, and its snapshot says what it was priced for.
#[tokio::test]
async fn a_checkout_is_taxed_and_shipped_for_its_shipping_address_not_the_cart() {
    use souk_domain::quote::ShippingRate;
    use souk_domain::{CountryCode, Currency, Money};
    use souk_pricing::store as pricing;
    let db = app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    pricing::upsert_tax_rate(&db, CountryCode::parse("DE").unwrap(), "standard", 1_900)
        .await
        .unwrap();
    pricing::upsert_shipping_rate(
        &db,
        CountryCode::parse("DE").unwrap(),
        ShippingRate {
            per_vendor: Money::new(1_299, Currency::USD),
            free_over: None,
        },
    )
    .await
    .unwrap();
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 2)]).await;
    // The cart is a US one: 8.25 % tax on 50.00, free shipping over 75.00 does not apply.
    let view = http.get(&format!("/v1/carts/{cart}")).await;
    assert_eq!(
        (
            view.body["tax"]["amount"].as_i64(),
            view.body["shipping"]["amount"].as_i64()
        ),
        (Some(413), Some(599)),
        "{}",
        view.text
    );
    let mut body = checkout_body(&cart, &email, "pm_card_visa");
    body["shipping_address"]["country"] = json!("DE");
    let checkout_id = start(&http, &unique(), body).await.body["checkout_id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = ended(&http, &checkout_id).await;
    assert_eq!(done["state"], "completed", "{done}");
    // 19 % of 50.00 is 9.50, shipping to Germany 12.99: 72.49 charged.
    assert_eq!(done["total"]["amount"], 7_249, "{done}");
    let (country, tax, shipping): (String, i64, i64) = sqlx::query_as(
        "SELECT country::text, tax, shipping FROM cart.snapshots WHERE checkout_id = $1",
    )
    .bind(&checkout_id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!((country.as_str(), tax, shipping), ("DE", 950, 1_299));
    let (_, amount, captured, _) = payment(&db, &checkout_id, 1).await.unwrap();
    assert_eq!((amount, captured), (7_249, 7_249));
    let (order_tax, order_shipping): (i64, i64) =
        sqlx::query_as("SELECT tax, shipping FROM orders.orders WHERE checkout_id = $1")
            .bind(&checkout_id)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!((order_tax, order_shipping), (950, 1_299));
}

/// A country the store does not ship to is refused at checkout, before anything starts.
#[tokio::test]
async fn a_checkout_to_a_country_without_shipping_is_refused_before_it_starts() {
    let db = app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let mut body = checkout_body(&cart, &email, "pm_card_visa");
    body["shipping_address"]["country"] = json!("JP");
    let r = start(&http, &unique(), body).await;
    assert_eq!(
        (r.status, r.code()),
        (422, "unsupported_destination"),
        "{}",
        r.text
    );
    assert_eq!(r.body["error"]["details"]["country"], "JP", "{}", r.text);
    assert_eq!(
        http.get(&format!("/v1/checkouts/checkout-{cart}"))
            .await
            .status,
        404,
        "no checkout was started"
    );
    assert_eq!(stock(&db, &a.skus[0]).await.reserved, 0);
}

/// Like Stripe: a key is for one request. Repeating it with another body is refused, not
/// answered with the first request's result.
#[tokio::test]
async fn an_idempotency_key_reused_with_another_body_is_refused() {
    let db = app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let key = unique();
    let first = start(&http, &key, checkout_body(&cart, &email, "pm_card_visa")).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let mut other_address = checkout_body(&cart, &email, "pm_card_visa");
    other_address["shipping_address"]["line1"] = json!("99 Elsewhere Road");
    for body in [
        checkout_body(&cart, "someone-else@example.com", "pm_card_visa"),
        checkout_body(&cart, &email, "pm_card_mastercard"),
        other_address,
    ] {
        let r = start(&http, &key, body).await;
        assert_eq!(
            (r.status, r.code()),
            (422, "idempotency_key_reused"),
            "{}",
            r.text
        );
    }
    // The same request again still answers the first result.
    let again = start(&http, &key, checkout_body(&cart, &email, "pm_card_visa")).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.body["order_no"], first.body["order_no"]);
}

/// What is added while a checkout runs would be neither charged nor ordered: the cart is held
/// until the checkout ends, given back when it fails, and done when it completes.
#[tokio::test]
async fn a_cart_cannot_change_while_it_is_checked_out_and_is_done_after() {
    let db = app().db().await;
    let (a, b, email) = two_vendors(&db).await;
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_authenticationRequired"),
    )
    .await;
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    awaiting_payment(&http, &db, &checkout_id).await;
    let changes = [
        http.post(
            &format!("/v1/carts/{cart}/items"),
            json!({"sku": b.skus[0], "quantity": 1}),
        )
        .await,
        http.patch(
            &format!("/v1/carts/{cart}/items/{}", a.skus[0]),
            json!({"quantity": 3}),
        )
        .await,
        http.delete(&format!("/v1/carts/{cart}/items/{}", a.skus[0]))
            .await,
    ];
    for r in changes {
        assert_eq!(
            (r.status, r.code()),
            (409, "cart_checking_out"),
            "{}",
            r.text
        );
        assert_eq!(
            r.body["error"]["details"]["checkout_id"],
            checkout_id.as_str()
        );
    }
    let held = http.get(&format!("/v1/carts/{cart}")).await;
    assert_eq!(
        held.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        held.text
    );
    assert_eq!(
        (
            held.body["checkout"]["checkout_id"].as_str(),
            held.body["checkout"]["state"].as_str()
        ),
        (Some(checkout_id.as_str()), Some("running")),
        "{}",
        held.text
    );
    // Cancelled: the cart can change again, and be checked out again.
    http.post(&format!("/v1/checkouts/{checkout_id}/cancel"), json!({}))
        .await
        .expect(202);
    assert_eq!(ended(&http, &checkout_id).await["state"], "cancelled");
    let r = http
        .post(
            &format!("/v1/carts/{cart}/items"),
            json!({"sku": b.skus[0], "quantity": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    let done = ended(&http, &checkout_id).await;
    assert_eq!(
        (r.status, done["state"].as_str()),
        (201, Some("completed")),
        "{done}"
    );
    // Completed: the cart is what was bought.
    let r = http
        .post(
            &format!("/v1/carts/{cart}/items"),
            json!({"sku": a.skus[0], "quantity": 1}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "cart_checked_out"),
        "{}",
        r.text
    );
}

/// A quantity that only two warehouses hold together is reserved from both, and sold.
#[tokio::test]
async fn a_quantity_held_only_across_two_warehouses_is_checked_out() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(1_000, 3, 3)]).await;
    let email = format!("split-{}@example.com", unique().to_lowercase());
    let http = Http::new();
    let cart = cart_with(&http, &[(&p.skus[0], 5)]).await;
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    let done = ended(&http, &checkout_id).await;
    assert_eq!(done["state"], "completed", "{done}");
    let s = stock(&db, &p.skus[0]).await;
    assert_eq!((s.on_hand, s.reserved), (1, 0));
    let parts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT a.warehouse, a.quantity FROM inventory.reservation_allocations a
           JOIN inventory.reservations r ON r.id = a.reservation_id
          WHERE r.id = $1 ORDER BY a.warehouse",
    )
    .bind(format!("{checkout_id}:reserve:{}:1", p.skus[0]))
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(parts.iter().map(|p| p.1).sum::<i64>(), 5, "{parts:?}");
    assert_eq!(parts.len(), 2, "{parts:?}");
}

/// A signed-in customer's checked-out cart is no longer their current cart.
#[tokio::test]
async fn a_customer_starts_a_new_cart_after_checking_out() {
    let db = app().db().await;
    let (a, _, _) = two_vendors(&db).await;
    let (email, me) = souk_tests::account(&["customer"], None).await;
    let cart = cart_with(&me, &[(&a.skus[0], 1)]).await;
    assert_eq!(me.get("/v1/me/cart").await.body["id"], cart.as_str());
    let r = start(&me, &unique(), checkout_body(&cart, &email, "pm_card_visa")).await;
    let done = ended(&me, r.body["checkout_id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "completed", "{done}");
    let r = me.get("/v1/me/cart").await;
    assert_eq!((r.status, r.code()), (404, "cart_not_found"), "{}", r.text);
}

/// One address parser and one text rule for everything that reaches a mail: no display
/// names, no lists of addresses, no line breaks or invisible characters, no markup.
#[tokio::test]
async fn addresses_and_names_that_would_break_a_mail_are_refused() {
    let db = app().db().await;
    let (a, _, email) = two_vendors(&db).await;
    let http = Http::new();
    let cart = cart_with(&http, &[(&a.skus[0], 1)]).await;
    for bad in [
        "\"Ada\" <ada@example.com>",
        "Ada <ada@example.com>",
        "a@example.com,b@example.com",
        "a@example.com\r\nBcc: everyone@example.com",
        "ada..lovelace@example.com",
    ] {
        let r = start(&http, &unique(), checkout_body(&cart, bad, "pm_card_visa")).await;
        assert_eq!(
            (r.status, r.code()),
            (422, "invalid_email"),
            "{bad:?}: {}",
            r.text
        );
    }
    for (field, bad) in [
        (
            "name",
            "Ada\u{2028}Your order was cancelled, call +1 555 0100",
        ),
        ("name", "<b>Ada</b>"),
        ("line1", "1 Main St\r\nExtra line"),
        ("city", "Spring\u{202E}dleif"),
        ("line2", "Flat\u{200B}2"),
    ] {
        let mut body = checkout_body(&cart, &email, "pm_card_visa");
        body["shipping_address"][field] = json!(bad);
        let r = start(&http, &unique(), body).await;
        assert_eq!(
            (r.status, r.code()),
            (422, "invalid_address"),
            "{bad:?}: {}",
            r.text
        );
        assert_eq!(
            r.body["error"]["details"]["field"],
            format!("shipping_address.{field}")
        );
    }
    assert_eq!(
        http.get(&format!("/v1/checkouts/checkout-{cart}"))
            .await
            .status,
        404,
        "nothing was started"
    );
    // Saved addresses follow the same rule.
    let (_, me) = souk_tests::account(&["customer"], None).await;
    let r = me
        .post(
            "/v1/me/addresses",
            json!({"name": "Ada\u{2029}x", "line1": "1", "city": "Y", "postal_code": "1", "country": "US"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
}

/// A unit price that rose since it was put in the cart: up to the tolerance (2% in the test
/// stack) the checkout goes through at today's price; one minor unit more and it stops before
/// any money or stock is touched, naming the line.
#[tokio::test]
async fn a_price_rise_is_accepted_up_to_the_tolerance_and_not_one_cent_more() {
    let db = app().db().await;
    assert_eq!(app().config.checkout.price_tolerance_bp, 200);
    let email = format!("buyer-{}@example.com", unique().to_lowercase());
    let http = Http::new();
    for (now, outcome) in [(2_550, "completed"), (2_551, "compensated")] {
        let p = fixtures::product(&db, &[VariantSpec::new(2_500, 10, 0)]).await;
        let sku = p.skus[0].clone();
        let cart = cart_with(&http, &[(&sku, 1)]).await;
        souk_pricing::store::upsert_price(
            &db,
            &souk_kit::Ctx::new("test"),
            &souk_domain::Sku::parse(&sku).unwrap(),
            souk_domain::Money::new(now, souk_domain::Currency::USD),
            None,
        )
        .await
        .unwrap();
        let r = start(
            &http,
            &unique(),
            checkout_body(&cart, &email, "pm_card_visa"),
        )
        .await;
        let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
        let done = ended(&http, &checkout_id).await;
        assert_eq!(done["state"], outcome, "{now}: {done}");
        if outcome == "completed" {
            let (_, amount, captured, _) = payment(&db, &checkout_id, 1).await.unwrap();
            assert_eq!(captured, amount);
            assert_eq!(done["total"]["amount"].as_i64(), Some(amount));
            let subtotal: i64 =
                sqlx::query_scalar("SELECT subtotal FROM orders.orders WHERE checkout_id = $1")
                    .bind(&checkout_id)
                    .fetch_one(&db)
                    .await
                    .unwrap();
            assert_eq!(subtotal, now, "charged at today's price");
        } else {
            assert_eq!(done["failure"]["code"], "price_changed", "{done}");
            let message = done["failure"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(&sku), "{message}");
            assert_eq!(
                payment(&db, &checkout_id, 1).await,
                None,
                "nothing authorized"
            );
            assert_eq!(stock(&db, &sku).await.reserved, 0);
        }
    }
}
