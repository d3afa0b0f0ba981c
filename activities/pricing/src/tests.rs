//! Pricing store tests: coupon rules as loaded from the database, redemption limits under
//! concurrency, quotes.

use chrono::{Duration, Utc};
use souk_domain::coupon::{Coupon, CouponScope, DiscountKind, Rejection};
use souk_domain::quote::ShippingRate;
use souk_domain::{CountryCode, Currency, Money, Quantity, Sku};
use sqlx::PgPool;
use uuid::Uuid;

use super::store::{self, Error, QuoteLine, QuoteRequest};
use souk_kit::Ctx;
use souk_kit::testing::{racing, test_schema};

fn usd(a: i64) -> Money {
    Money::new(a, Currency::USD)
}

fn coupon(code: &str) -> Coupon {
    Coupon {
        code: code.into(),
        description: format!("{code} test coupon"),
        discount: DiscountKind::Percent {
            basis_points: 1_000,
        },
        min_order: None,
        max_discount: None,
        starts_at: None,
        ends_at: None,
        total_limit: None,
        per_customer_limit: None,
        scope: CouponScope::All,
        active: true,
    }
}

async fn setup(pool: &PgPool) {
    test_schema(pool, &crate::SCHEMA).await;
    let us = CountryCode::US;
    store::upsert_tax_rate(pool, us, "standard", 825)
        .await
        .unwrap();
    store::upsert_shipping_rate(
        pool,
        us,
        ShippingRate {
            per_vendor: usd(500),
            free_over: Some(usd(10_000)),
        },
    )
    .await
    .unwrap();
}

fn line(sku: &str, qty: i64, vendor: Uuid, categories: Vec<Uuid>) -> QuoteLine {
    QuoteLine {
        sku: Sku::parse(sku).unwrap(),
        quantity: Quantity::new(qty).unwrap(),
        tax_class: "standard".into(),
        vendor_id: vendor,
        product_id: Uuid::now_v7(),
        category_ids: categories,
    }
}

fn quote_req(lines: Vec<QuoteLine>, coupon: Option<&str>) -> QuoteRequest {
    QuoteRequest {
        currency: Currency::USD,
        country: CountryCode::US,
        lines,
        coupon_code: coupon.map(str::to_string),
        customer_keys: k("ada@example.com"),
    }
}

/// A guest's keys for per-customer limits.
fn k(email: &str) -> Vec<String> {
    souk_domain::coupon::customer_keys(None, email)
}

#[sqlx::test(migrations = false)]
async fn quote_prices_lines_and_applies_a_category_coupon(pool: PgPool) {
    setup(&pool).await;
    let ctx = Ctx::system();
    for (sku, price) in [("A-1", 2_000), ("B-1", 3_000)] {
        store::upsert_price(&pool, &ctx, &Sku::parse(sku).unwrap(), usd(price), None)
            .await
            .unwrap();
    }
    let outdoors = Uuid::now_v7();
    let mut c = coupon("OUT15");
    c.discount = DiscountKind::Percent {
        basis_points: 1_500,
    };
    c.scope = CouponScope::Category(vec![outdoors]);
    store::upsert_coupon(&pool, &ctx, &c).await.unwrap();
    let vendor = Uuid::now_v7();
    let q = store::quote(
        &pool,
        &quote_req(
            vec![
                line("A-1", 2, vendor, vec![outdoors]),
                line("B-1", 1, vendor, vec![]),
            ],
            Some("out15"),
        ),
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(q.subtotal, usd(7_000));
    assert_eq!(q.discount, usd(600), "15% of the 4000 in Outdoors only");
    assert_eq!(q.lines[0].discount, usd(600));
    assert_eq!(q.lines[1].discount, usd(0));
    assert_eq!(
        q.shipping,
        usd(500),
        "one vendor under the free-shipping threshold"
    );
    // Tax is rounded per line: 3400 × 8.25 % = 280.5 → 281, 3000 × 8.25 % = 247.5 → 248.
    assert_eq!(q.lines[0].tax, usd(281));
    assert_eq!(q.tax, usd(529));
    assert_eq!(q.total, usd(7_000 - 600 + 529 + 500));
    assert_eq!(q.coupon.unwrap().rejection, None);
}

#[sqlx::test(migrations = false)]
async fn quote_reports_why_a_coupon_does_not_apply(pool: PgPool) {
    setup(&pool).await;
    let ctx = Ctx::system();
    store::upsert_price(&pool, &ctx, &Sku::parse("A-1").unwrap(), usd(1_000), None)
        .await
        .unwrap();
    let mut min = coupon("BIG");
    min.min_order = Some(usd(5_000));
    let mut old = coupon("OLD");
    old.starts_at = Some(Utc::now() - Duration::days(10));
    old.ends_at = Some(Utc::now() - Duration::days(1));
    for c in [&min, &old] {
        store::upsert_coupon(&pool, &ctx, c).await.unwrap();
    }
    let vendor = Uuid::now_v7();
    for (code, reason) in [
        ("BIG", "below_minimum"),
        ("OLD", "expired"),
        ("NOPE", "not_found"),
    ] {
        let q = store::quote(
            &pool,
            &quote_req(vec![line("A-1", 1, vendor, vec![])], Some(code)),
            Utc::now(),
        )
        .await
        .unwrap();
        let outcome = q.coupon.unwrap();
        assert_eq!(outcome.rejection.map(|r| r.code()), Some(reason), "{code}");
        assert_eq!(q.discount, usd(0));
    }
}

#[sqlx::test(migrations = false)]
async fn quote_refuses_skus_without_a_price_in_the_currency(pool: PgPool) {
    setup(&pool).await;
    store::upsert_price(
        &pool,
        &Ctx::system(),
        &Sku::parse("A-1").unwrap(),
        Money::new(900, Currency::EUR),
        None,
    )
    .await
    .unwrap();
    let r = store::quote(
        &pool,
        &quote_req(vec![line("A-1", 1, Uuid::now_v7(), vec![])], None),
        Utc::now(),
    )
    .await;
    match r {
        Err(Error::PriceUnavailable { skus, currency }) => {
            assert_eq!(skus, vec!["A-1".to_string()]);
            assert_eq!(currency, Currency::USD);
        }
        other => panic!("expected PriceUnavailable, got {other:?}"),
    }
}

#[sqlx::test(migrations = false)]
async fn redemptions_never_exceed_the_total_limit_under_concurrency(pool: PgPool) {
    setup(&pool).await;
    let mut c = coupon("FIRST3");
    c.total_limit = Some(3);
    store::upsert_coupon(&pool, &Ctx::system(), &c)
        .await
        .unwrap();
    let outcomes = racing(&pool, 10, |pool| async move {
        let mut tasks = Vec::new();
        for i in 0..10 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                store::hold(
                    &pool,
                    &Ctx::system(),
                    "FIRST3",
                    &format!("checkout-{i}"),
                    &k(&format!("c{i}@example.com")),
                    Utc::now(),
                )
                .await
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("a holder panicked"));
        }
        out
    })
    .await;
    let mut ok = 0;
    for outcome in outcomes {
        match outcome {
            Ok(()) => ok += 1,
            Err(Error::CouponRejected { rejection, .. }) => {
                assert_eq!(rejection, Rejection::LimitReached)
            }
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(ok, 3);
}

#[sqlx::test(migrations = false)]
async fn redemption_is_idempotent_per_checkout_and_reversal_frees_the_slot(pool: PgPool) {
    setup(&pool).await;
    let mut c = coupon("ONCE");
    c.per_customer_limit = Some(1);
    let id = store::upsert_coupon(&pool, &Ctx::system(), &c)
        .await
        .unwrap();
    let ctx = Ctx::system();
    store::hold(
        &pool,
        &ctx,
        "once",
        "checkout-1",
        &k("Ada@Example.com"),
        Utc::now(),
    )
    .await
    .unwrap();
    store::hold(
        &pool,
        &ctx,
        "ONCE",
        "checkout-1",
        &k("ada@example.com"),
        Utc::now(),
    )
    .await
    .unwrap();
    store::redeem(&pool, &ctx, "ONCE", "checkout-1")
        .await
        .unwrap();
    store::redeem(&pool, &ctx, "ONCE", "checkout-1")
        .await
        .unwrap();
    let usage = store::coupon_usage(&pool, id, &k("ada@example.com"))
        .await
        .unwrap();
    assert_eq!(
        (usage.total, usage.by_customer),
        (1, Some(1)),
        "a retry does not redeem twice"
    );

    let second = store::hold(
        &pool,
        &ctx,
        "ONCE",
        "checkout-2",
        &k("ada@example.com"),
        Utc::now(),
    )
    .await;
    assert!(matches!(
        second,
        Err(Error::CouponRejected {
            rejection: Rejection::CustomerLimitReached,
            ..
        })
    ));

    store::reverse_redemption(&pool, &ctx, "ONCE", "checkout-1")
        .await
        .unwrap();
    store::reverse_redemption(&pool, &ctx, "ONCE", "checkout-1")
        .await
        .unwrap();
    store::hold(
        &pool,
        &ctx,
        "ONCE",
        "checkout-2",
        &k("ada@example.com"),
        Utc::now(),
    )
    .await
    .unwrap();
    let usage = store::coupon_usage(&pool, id, &k("ada@example.com"))
        .await
        .unwrap();
    assert_eq!(usage.total, 1);
}

#[sqlx::test(migrations = false)]
async fn a_hold_counts_against_the_limit_until_released_and_only_a_hold_can_be_redeemed(
    pool: PgPool,
) {
    setup(&pool).await;
    let mut c = coupon("ONE");
    c.total_limit = Some(1);
    store::upsert_coupon(&pool, &Ctx::system(), &c)
        .await
        .unwrap();
    let ctx = Ctx::system();
    store::hold(&pool, &ctx, "ONE", "a", &k("a@example.com"), Utc::now())
        .await
        .unwrap();
    let full = store::hold(&pool, &ctx, "ONE", "b", &k("b@example.com"), Utc::now()).await;
    assert!(matches!(
        full,
        Err(Error::CouponRejected {
            rejection: Rejection::LimitReached,
            ..
        })
    ));
    let r = store::redeem(&pool, &ctx, "ONE", "b").await;
    assert!(
        matches!(&r, Err(Error::Invalid(m)) if m.contains("no hold")),
        "b holds nothing: {r:?}"
    );
    store::reverse_redemption(&pool, &ctx, "ONE", "a")
        .await
        .unwrap();
    let r = store::redeem(&pool, &ctx, "ONE", "a").await;
    assert!(
        matches!(&r, Err(Error::Invalid(m)) if m.contains("released")),
        "a released its hold: {r:?}"
    );
    store::hold(&pool, &ctx, "ONE", "b", &k("b@example.com"), Utc::now())
        .await
        .unwrap();
    store::redeem(&pool, &ctx, "ONE", "b").await.unwrap();
}

#[sqlx::test(migrations = false)]
async fn coupons_outside_their_window_cannot_be_redeemed(pool: PgPool) {
    setup(&pool).await;
    let mut c = coupon("LATER");
    c.starts_at = Some(Utc::now() + Duration::days(1));
    store::upsert_coupon(&pool, &Ctx::system(), &c)
        .await
        .unwrap();
    let r = store::hold(
        &pool,
        &Ctx::system(),
        "LATER",
        "k",
        &k("a@example.com"),
        Utc::now(),
    )
    .await;
    assert!(matches!(
        r,
        Err(Error::CouponRejected {
            rejection: Rejection::NotStarted,
            ..
        })
    ));
    let r = store::hold(
        &pool,
        &Ctx::system(),
        "GHOST",
        "k",
        &k("a@example.com"),
        Utc::now(),
    )
    .await;
    assert!(matches!(
        r,
        Err(Error::CouponRejected {
            rejection: Rejection::NotFound,
            ..
        })
    ));
}

#[sqlx::test(migrations = false)]
async fn the_database_rejects_malformed_coupons(pool: PgPool) {
    setup(&pool).await;
    let mut c = coupon("BAD");
    c.scope = CouponScope::Vendor(vec![]);
    let r = store::upsert_coupon(&pool, &Ctx::system(), &c).await;
    assert!(
        matches!(&r, Err(Error::Db(sqlx::Error::Database(e))) if e.is_check_violation()),
        "{r:?}"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM pricing.coupons")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test(migrations = false)]
async fn a_guest_is_counted_by_mailbox_and_card_and_an_account_by_its_id(pool: PgPool) {
    use souk_domain::coupon::{card_key, customer_keys};
    setup(&pool).await;
    let mut c = coupon("ONCEEACH");
    c.per_customer_limit = Some(1);
    store::upsert_coupon(&pool, &Ctx::system(), &c)
        .await
        .unwrap();
    let ctx = Ctx::system();
    let hold = |key: &'static str, keys: Vec<String>| {
        let (pool, ctx) = (pool.clone(), ctx.clone());
        async move { store::hold(&pool, &ctx, "ONCEEACH", key, &keys, Utc::now()).await }
    };
    let refused = |r: Result<(), Error>| {
        matches!(
            r,
            Err(Error::CouponRejected {
                rejection: Rejection::CustomerLimitReached,
                ..
            })
        )
    };
    let with_card = |email: &str, fp: &str| {
        let mut k = k(email);
        k.push(card_key(fp));
        k
    };
    // A guest redeems; the card is added once the payment is authorized (twice: a retry).
    hold("c1", k("x@example.com")).await.unwrap();
    hold("c1", with_card("x@example.com", "fp1")).await.unwrap();
    hold("c1", with_card("x@example.com", "fp1")).await.unwrap();
    // Another spelling of the same mailbox is the same guest.
    assert!(refused(hold("c2", k("X+2@Example.com")).await));
    // Another mailbox passes, until its card turns out to be the same one.
    hold("c3", k("y@example.com")).await.unwrap();
    assert!(refused(hold("c3", with_card("y@example.com", "fp1")).await));
    // An account is counted by its id: guests who typed its address do not use it up, and
    // other addresses typed by the account do not give it more.
    hold("c4", customer_keys(Some("u1"), "x@example.com"))
        .await
        .unwrap();
    assert!(refused(
        hold("c5", customer_keys(Some("u1"), "x+1@example.com")).await
    ));
}
