//! The ledger on the whole stack: a checkout posts its capture once, each line's commission
//! taken by the rule in effect for its vendor and category, the vendors' shares in their
//! reserves, and the ledger balances.

use souk_domain::Money;
use souk_kit::Ctx;
use souk_ledger::store::{self, NewRule};
use souk_tests::app;
use uuid::Uuid;

use crate::checkout_support::{bought, two_vendors};

async fn rule(
    db: &sqlx::PgPool,
    vendor: Option<Uuid>,
    category: Option<&str>,
    bps: u32,
    fixed: Option<Money>,
) -> Uuid {
    store::add_rule(
        db,
        &Ctx::new("user:staff-e2e"),
        &NewRule {
            vendor_id: vendor,
            category: category.map(str::to_string),
            effective_from: None,
            bps,
            fixed,
            reason: "e2e terms".into(),
        },
    )
    .await
    .unwrap()
    .rule
    .id
}

#[tokio::test]
async fn a_checkout_posts_its_capture_with_each_lines_commission_once() {
    let db = app().db().await;
    let (a, b, email) = two_vendors(&db).await;
    // A's own rule; B's category has the marketplace's rule with a fixed part.
    let a_rule = rule(&db, Some(a.vendor_id), None, 1_000, None).await;
    let usd = souk_domain::Currency::USD;
    let b_rule = rule(
        &db,
        None,
        Some(&b.category_slug),
        500,
        Some(Money::new(25, usd)),
    )
    .await;
    let http = souk_tests::Http::new();
    let (checkout_id, order_no) = bought(
        &http,
        &[(a.skus[0].as_str(), 2), (b.skus[0].as_str(), 1)],
        &email,
    )
    .await;

    // Posted before the checkout completed, once.
    let lines: Vec<(String, Uuid, i64, i64, i64, Option<Uuid>)> = sqlx::query_as(
        "SELECT sku, vendor_id, paid, goods, commission, rule_id FROM ledger.line_commissions
         WHERE order_no = $1 ORDER BY sku",
    )
    .bind(&order_no)
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let of = |vendor: Uuid| lines.iter().find(|l| l.1 == vendor).unwrap().clone();
    let (la, lb) = (of(a.vendor_id), of(b.vendor_id));
    assert_eq!((la.4, la.5), (la.3 / 10, Some(a_rule)), "10% of A's goods");
    assert_eq!(
        (lb.4, lb.5),
        ((lb.3 * 5 + 50) / 100 + 25, Some(b_rule)),
        "5% of B's goods and 0.25"
    );
    let total: i64 = sqlx::query_scalar("SELECT total FROM orders.orders WHERE order_no = $1")
        .bind(&order_no)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(la.2 + lb.2, total, "the lines paid what was captured");

    let key = format!("capture:{checkout_id}");
    let postings: Vec<(String, i64)> = sqlx::query_as(
        "SELECT p.account, p.amount FROM ledger.postings p JOIN ledger.entries e
         ON e.id = p.entry_id WHERE e.key = $1 ORDER BY p.account",
    )
    .bind(&key)
    .fetch_all(&db)
    .await
    .unwrap();
    let posted = |account: String| {
        postings
            .iter()
            .find(|p| p.0 == account)
            .map(|p| p.1)
            .unwrap_or_else(|| panic!("{account} in {postings:?}"))
    };
    assert_eq!(posted("customer_payments".into()), total);
    assert_eq!(posted("platform_revenue".into()), -(la.4 + lb.4));
    assert_eq!(
        posted(format!("vendor_reserve:{}", a.vendor_id)),
        -(la.2 - la.4)
    );
    assert_eq!(
        posted(format!("vendor_reserve:{}", b.vendor_id)),
        -(lb.2 - lb.4)
    );

    // However many checkouts ran at once, every currency's postings sum to zero.
    let unbalanced: Vec<(String, i64)> = sqlx::query_as(
        "SELECT currency::text, sum(amount)::bigint FROM ledger.postings GROUP BY currency
         HAVING sum(amount) <> 0",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(unbalanced.is_empty(), "{unbalanced:?}");
}
