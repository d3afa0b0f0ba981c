//! Per-customer coupon limits count who really buys: a signed-in customer by account, a
//! guest by mailbox and by card, never by whatever address was typed at checkout.

use serde_json::json;
use souk_domain::coupon::{Coupon, CouponScope, DiscountKind};
use souk_tests::fixtures::{self, Product};
use souk_tests::{Http, account, app, unique};

use crate::checkout_support::*;

async fn once_per_customer(db: &sqlx::PgPool) -> String {
    fixtures::coupon(
        db,
        Coupon {
            code: format!("ONCE{}", unique()),
            description: "10% off, once per customer".into(),
            discount: DiscountKind::Percent {
                basis_points: 1_000,
            },
            min_order: None,
            max_discount: None,
            starts_at: None,
            ends_at: None,
            total_limit: None,
            per_customer_limit: Some(1),
            scope: CouponScope::All,
            active: true,
        },
    )
    .await
}

/// Checks out a cart of `p` with `code` applied (`Http` decides who is signed in).
async fn checkout_with_coupon(
    http: &Http,
    p: &Product,
    code: &str,
    email: &str,
    payment_method: &str,
) -> serde_json::Value {
    let cart = cart_with(http, &[(&p.skus[0], 1)]).await;
    let r = http
        .post(&format!("/v1/carts/{cart}/coupon"), json!({"code": code}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = start(http, &unique(), checkout_body(&cart, email, payment_method)).await;
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    ended(http, &checkout_id).await
}

#[tokio::test]
async fn a_signed_in_customer_redeems_once_whatever_address_they_type() {
    let db = app().db().await;
    let (p, _, _) = two_vendors(&db).await;
    let code = once_per_customer(&db).await;
    let (email, me) = account(&["customer"], None).await;
    let (local, domain) = email.split_once('@').unwrap();

    // Someone else typing the customer's address, as a guest, does not use up their allowance.
    let guest = checkout_with_coupon(&Http::new(), &p, &code, &email, "pm_card_mastercard").await;
    assert_eq!(guest["state"], "completed", "{guest}");

    let first = checkout_with_coupon(&me, &p, &code, &email, "pm_card_visa").await;
    assert_eq!(first["state"], "completed", "{first}");
    // The account's next carts refuse the coupon, and a checkout with another address typed
    // does not get it either.
    for typed in [
        format!("{local}+1@{domain}"),
        format!("other-{}@example.com", unique()),
    ] {
        let cart = cart_with(&me, &[(&p.skus[0], 1)]).await;
        let r = me
            .post(&format!("/v1/carts/{cart}/coupon"), json!({"code": code}))
            .await;
        assert_eq!((r.status, r.code()), (422, "coupon_rejected"), "{}", r.text);
        assert_eq!(
            r.body["error"]["details"]["reason"], "customer_limit_reached",
            "{}",
            r.text
        );
        let r = start(&me, &unique(), checkout_body(&cart, &typed, "pm_card_visa")).await;
        let done = ended(&me, r.body["checkout_id"].as_str().unwrap()).await;
        assert_eq!(done["state"], "completed", "{done}");
        let discount: i64 =
            sqlx::query_scalar("SELECT discount FROM orders.orders WHERE checkout_id = $1")
                .bind(done["checkout_id"].as_str().unwrap())
                .fetch_one(&db)
                .await
                .unwrap();
        assert_eq!(discount, 0, "no discount: {done}");
    }
    let redeemed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pricing.coupon_redemptions r JOIN pricing.coupons c ON c.id = r.coupon_id
          WHERE c.code = $1 AND r.state = 'redeemed'",
    )
    .bind(&code)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(redeemed, 2, "the guest's and the account's");

    // A new account paying with the same card is the same customer.
    let (other_email, other) = account(&["customer"], None).await;
    let again = checkout_with_coupon(&other, &p, &code, &other_email, "pm_card_visa").await;
    assert_eq!(
        (again["state"].as_str(), again["failure"]["code"].as_str()),
        (Some("compensated"), Some("coupon_invalid")),
        "{again}"
    );
}

#[tokio::test]
async fn a_guest_is_counted_by_mailbox_and_by_card() {
    let db = app().db().await;
    let (p, _, _) = two_vendors(&db).await;
    let code = once_per_customer(&db).await;
    let guest = Http::new();
    let mailbox = format!("g{}", unique().to_lowercase());

    let first = checkout_with_coupon(
        &guest,
        &p,
        &code,
        &format!("{mailbox}@example.com"),
        "pm_card_amex",
    )
    .await;
    assert_eq!(first["state"], "completed", "{first}");

    // The same mailbox with a +tag: the coupon no longer applies at checkout.
    let tagged = checkout_with_coupon(
        &guest,
        &p,
        &code,
        &format!("{}+again@EXAMPLE.com", mailbox.to_uppercase()),
        "pm_card_mastercard",
    )
    .await;
    assert_eq!(
        (tagged["state"].as_str(), tagged["failure"]["code"].as_str()),
        (Some("compensated"), Some("coupon_invalid")),
        "{tagged}"
    );

    // Another mailbox paying with the same card: refused once the card is known, and the
    // authorization is voided and the stock given back.
    let other = format!("h{}@example.com", unique().to_lowercase());
    let same_card = checkout_with_coupon(&guest, &p, &code, &other, "pm_card_amex").await;
    assert_eq!(
        (
            same_card["state"].as_str(),
            same_card["failure"]["code"].as_str()
        ),
        (Some("compensated"), Some("coupon_invalid")),
        "{same_card}"
    );
    let checkout_id = same_card["checkout_id"].as_str().unwrap();
    let (status, ..) = payment(&db, checkout_id, 1).await.unwrap();
    assert_eq!(status, "voided");
    let states: Vec<String> = sqlx::query_scalar(
        "SELECT r.state FROM pricing.coupon_redemptions r JOIN pricing.coupons c ON c.id = r.coupon_id
          WHERE c.code = $1 ORDER BY r.created_at",
    )
    .bind(&code)
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(
        states,
        ["redeemed", "reversed"],
        "one redemption; the card's hold released"
    );
    assert_eq!(stock(&db, &p.skus[0]).await.reserved, 0);
}
