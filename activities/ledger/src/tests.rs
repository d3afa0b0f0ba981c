//! The ledger in the database: captures post once with each line's commission by the rule in
//! effect, refunds give commission back pro rata and never more than a line paid, entries
//! are append-only and balanced, and the trial balance sums to zero.

use chrono::{DateTime, Duration, Utc};
use souk_contracts::ledger::{CapturedLine, RecordCapture, RecordRefund, RefundedLine};
use souk_domain::ledger::{self, Account, Movement};
use souk_domain::{Currency, Money, Sku};
use souk_kit::Ctx;
use souk_kit::testing::{racing, test_schema};
use sqlx::PgPool;
use uuid::Uuid;

use crate::store::{self, EntryKind, Error, NewRule, Posted};

const USD: Currency = Currency::USD;
const A: Uuid = Uuid::from_u128(0xA);
const B: Uuid = Uuid::from_u128(0xB);

fn usd(amount: i64) -> Money {
    Money::new(amount, USD)
}

fn staff() -> Ctx {
    Ctx {
        actor: "user:staff-1".into(),
        ..Ctx::system()
    }
}

async fn rule(pool: &PgPool, vendor: Option<Uuid>, category: Option<&str>, bps: u32) -> Uuid {
    rule_from(pool, vendor, category, bps, None, None).await
}

async fn rule_from(
    pool: &PgPool,
    vendor: Option<Uuid>,
    category: Option<&str>,
    bps: u32,
    fixed: Option<Money>,
    from: Option<DateTime<Utc>>,
) -> Uuid {
    store::add_rule(
        pool,
        &staff(),
        &NewRule {
            vendor_id: vendor,
            category: category.map(str::to_string),
            effective_from: from,
            bps,
            fixed,
            reason: "launch terms".into(),
        },
    )
    .await
    .unwrap()
    .rule
    .id
}

fn line(
    sku: &str,
    vendor: Uuid,
    categories: &[&str],
    unit: i64,
    qty: i64,
    discount: i64,
    tax: i64,
) -> CapturedLine {
    CapturedLine {
        sku: Sku::parse(sku).unwrap(),
        vendor_id: vendor,
        categories: categories.iter().map(|c| c.to_string()).collect(),
        quantity: qty,
        unit_price: unit,
        line_total: unit * qty,
        discount,
        tax,
    }
}

/// Two vendors: A sells a book (2 × 12.00, 2.00 off, 1.76 tax) and a mug (1 × 8.00, 0.64
/// tax), with 4.99 shipping; B a lamp (1 × 30.00, 1.00 off, 2.32 tax), 5.00 shipping.
fn capture(checkout: &str, order_no: &str, at: DateTime<Utc>) -> RecordCapture {
    let lines = vec![
        line("BOOK-1", A, &["fiction", "books"], 1_200, 2, 200, 176),
        line("MUG-1", A, &["kitchen"], 800, 1, 0, 64),
        line("LAMP-1", B, &["home"], 3_000, 1, 100, 232),
    ];
    RecordCapture {
        checkout_id: checkout.into(),
        order_no: order_no.into(),
        currency: USD,
        amount: usd(2_400 - 200 + 176 + 800 + 64 + 499 + 3_000 - 100 + 232 + 500),
        captured_at: Some(at),
        lines,
        shipping_by_vendor: vec![(A, 499), (B, 500)],
    }
}

async fn trial_balance_is_zero(pool: &PgPool) {
    let balances = store::trial_balance(pool).await.unwrap();
    let signed: i64 = balances
        .iter()
        .map(|b| {
            if b.account.is_debit() {
                b.balance
            } else {
                -b.balance
            }
        })
        .sum();
    assert_eq!(signed, 0, "{balances:?}");
}

async fn balance(pool: &PgPool, account: Account) -> i64 {
    store::trial_balance(pool)
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.account == account && b.currency == USD)
        .map_or(0, |b| b.balance)
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM ledger.{table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_capture_takes_each_lines_commission_by_its_rule_once(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let now = Utc::now();
    let marketplace = rule(&pool, None, None, 1_000).await;
    let books = rule_from(&pool, None, Some("books"), 500, Some(usd(30)), None).await;
    let vendor_b = rule(&pool, Some(B), None, 800).await;
    // Takes effect tomorrow: not for today's capture.
    rule_from(
        &pool,
        None,
        None,
        2_000,
        None,
        Some(now + Duration::days(1)),
    )
    .await;

    let c = capture("chk-1", "SK-1", now + Duration::seconds(1));
    let recorded = store::record_capture(&pool, &Ctx::workflow("checkout-chk-1"), &c)
        .await
        .unwrap();
    assert_eq!(recorded.entry_key, "capture:chk-1");
    let by_sku = |sku: &str| {
        recorded
            .lines
            .iter()
            .find(|l| l.sku.as_str() == sku)
            .cloned()
            .unwrap()
    };
    // The book is in books (through fiction): 5% of 22.00 plus 0.30.
    let book = by_sku("BOOK-1");
    assert_eq!(
        (book.commission, book.rule_id),
        (usd(110 + 30), Some(books))
    );
    // Shipping 4.99 spread over A's lines by value (24.00 and 8.00): 3.74 and 1.25.
    assert_eq!(book.paid, usd(2_400 - 200 + 176 + 374));
    let mug = by_sku("MUG-1");
    assert_eq!((mug.commission, mug.rule_id), (usd(80), Some(marketplace)));
    assert_eq!(mug.paid, usd(800 + 64 + 125));
    // B's own rule: 8% of 29.00.
    let lamp = by_sku("LAMP-1");
    assert_eq!((lamp.commission, lamp.rule_id), (usd(232), Some(vendor_b)));

    assert_eq!(
        balance(&pool, Account::CustomerPayments).await,
        c.amount.amount
    );
    assert_eq!(
        balance(&pool, Account::PlatformRevenue).await,
        140 + 80 + 232
    );
    assert_eq!(
        balance(&pool, Account::VendorReserve(A)).await,
        book.paid.amount + mug.paid.amount - 220
    );
    trial_balance_is_zero(&pool).await;

    // Again (a retried activity): the same answer, nothing posted twice.
    let again = store::record_capture(&pool, &Ctx::workflow("checkout-chk-1"), &c)
        .await
        .unwrap();
    assert_eq!(again, recorded);
    assert_eq!(count(&pool, "entries").await, 1);
    assert_eq!(count(&pool, "postings").await, 4);

    // Lines that do not add up to what was captured: refused, nothing written.
    let mut wrong = capture("chk-2", "SK-2", now);
    wrong.amount = usd(wrong.amount.amount + 1);
    assert!(matches!(
        store::record_capture(&pool, &Ctx::system(), &wrong).await,
        Err(Error::Invalid(_))
    ));
    assert_eq!(count(&pool, "entries").await, 1);
    assert_eq!(count(&pool, "line_commissions").await, 3);
}

#[sqlx::test(migrations = false)]
async fn the_same_capture_at_once_from_many_callers_is_posted_once(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    rule(&pool, None, None, 1_000).await;
    let c = capture("chk-9", "SK-9", Utc::now());
    let answers = racing(&pool, 8, move |pool| async move {
        let tries = (0..8).map(|_| {
            let (pool, c) = (pool.clone(), c.clone());
            tokio::spawn(async move { store::record_capture(&pool, &Ctx::system(), &c).await })
        });
        let mut out = Vec::new();
        for t in tries {
            out.push(t.await.unwrap().map(|r| r.lines));
        }
        out
    })
    .await;
    let first = answers[0].as_ref().unwrap();
    for a in &answers {
        assert_eq!(a.as_ref().unwrap(), first);
    }
    assert_eq!(count(&pool, "entries").await, 1);
    assert_eq!(count(&pool, "line_commissions").await, 3);
    trial_balance_is_zero(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn refunds_give_commission_back_pro_rata_and_never_exceed_a_line(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    rule(&pool, None, None, 1_000).await;
    let c = capture("chk-3", "SK-3", Utc::now());
    let recorded = store::record_capture(&pool, &Ctx::system(), &c)
        .await
        .unwrap();
    let lamp = recorded
        .lines
        .iter()
        .find(|l| l.sku.as_str() == "LAMP-1")
        .unwrap()
        .clone();
    // Lamp paid 3,632 with commission 290 (10% of 29.00).
    assert_eq!((lamp.paid, lamp.commission), (usd(3_632), usd(290)));
    let refund = |reference: &str, amount: i64| RecordRefund {
        reference: reference.into(),
        order_no: "SK-3".into(),
        lines: vec![RefundedLine {
            sku: Sku::parse("LAMP-1").unwrap(),
            amount: usd(amount),
        }],
    };
    let first = store::record_refund(&pool, &Ctx::system(), &refund("RMA-1:1", 1_000))
        .await
        .unwrap();
    assert_eq!(first.lines[0].entry_key, "refund:RMA-1:1:LAMP-1");
    // 290 × 1,000 / 3,632, rounded down.
    assert_eq!(first.lines[0].commission_back, usd(79));
    // The same refund again: the same answer, posted once.
    let again = store::record_refund(&pool, &Ctx::system(), &refund("RMA-1:1", 1_000))
        .await
        .unwrap();
    assert_eq!(again, first);
    // The same reference with another amount is a conflict, not a second refund.
    assert!(matches!(
        store::record_refund(&pool, &Ctx::system(), &refund("RMA-1:1", 999)).await,
        Err(Error::Ledger(ledger::LedgerError::Conflict(_)))
    ));
    // More than is left: refused, nothing written.
    assert!(matches!(
        store::record_refund(&pool, &Ctx::system(), &refund("GW-1", 2_633)).await,
        Err(Error::AboveLeft { left: 2_632, .. })
    ));
    // The part becomes payable: the rest comes out of the vendor's payable.
    let reserve = balance(&pool, Account::VendorReserve(B)).await;
    let mut tx = pool.begin().await.unwrap();
    let entry = ledger::movement(
        &store::payable_key("SK-3", B),
        USD,
        B,
        reserve,
        Movement::Payable,
    )
    .unwrap();
    let posted = store::post(
        &mut tx,
        &Ctx::system(),
        &entry,
        EntryKind::Payable,
        Some("SK-3"),
    )
    .await
    .unwrap();
    assert!(matches!(posted, Posted::New(_)));
    tx.commit().await.unwrap();
    let rest = store::record_refund(&pool, &Ctx::system(), &refund("GW-1", 2_632))
        .await
        .unwrap();
    // All of the commission is back once all the line paid is.
    assert_eq!(rest.lines[0].commission_back, usd(290 - 79));
    assert_eq!(balance(&pool, Account::VendorReserve(B)).await, 0);
    assert_eq!(
        balance(&pool, Account::VendorPayable(B)).await,
        reserve - (2_632 - 211)
    );
    assert_eq!(balance(&pool, Account::VendorPayable(B)).await, 0);
    // A line the ledger never captured.
    let mut unknown = refund("GW-2", 1);
    unknown.order_no = "SK-404".into();
    assert!(matches!(
        store::record_refund(&pool, &Ctx::system(), &unknown).await,
        Err(Error::NotCaptured { .. })
    ));
    trial_balance_is_zero(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn entries_are_append_only_and_balance_in_the_database(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    rule(&pool, None, None, 1_000).await;
    store::record_capture(&pool, &Ctx::system(), &capture("chk-4", "SK-4", Utc::now()))
        .await
        .unwrap();
    for sql in [
        "UPDATE ledger.postings SET amount = amount + 1",
        "DELETE FROM ledger.entries",
        "UPDATE ledger.commission_rules SET bps = 0",
    ] {
        let e = sqlx::query(sql).execute(&pool).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    // Postings that do not sum to zero cannot commit, however they are written.
    let mut tx = pool.begin().await.unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO ledger.entries (key, kind, actor) VALUES ('capture:x', 'capture', 't')
         RETURNING id",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO ledger.postings (entry_id, account, currency, amount)
         VALUES ($1, 'customer_payments', 'USD', 5)",
    )
    .bind(id)
    .execute(&mut *tx)
    .await
    .unwrap();
    let e = tx.commit().await.unwrap_err();
    assert!(e.to_string().contains("does not balance"), "{e}");
    assert_eq!(count(&pool, "entries").await, 1);
    trial_balance_is_zero(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn a_vendors_statement_pages_through_its_postings(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    rule(&pool, None, None, 1_000).await;
    for n in 0..3 {
        store::record_capture(
            &pool,
            &Ctx::system(),
            &capture(&format!("chk-s{n}"), &format!("SK-S{n}"), Utc::now()),
        )
        .await
        .unwrap();
    }
    let mut keys = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = store::statement(&pool, A, cursor.as_deref(), 2)
            .await
            .unwrap();
        assert!(!page.is_empty() && page.len() <= 2);
        keys.extend(page.iter().map(|l| l.key.clone()));
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(keys, ["capture:chk-s2", "capture:chk-s1", "capture:chk-s0"]);
    let balances = store::vendor_balances(&pool, A).await.unwrap();
    assert_eq!(balances.len(), 1);
    assert_eq!(balances[0].account, Account::VendorReserve(A));
    assert!(matches!(
        store::statement(&pool, A, Some("nope"), 2).await,
        Err(Error::Cursor)
    ));
}

#[sqlx::test(migrations = false)]
async fn a_rule_is_refused_in_the_past_or_above_the_limit(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let new = |bps, from: Option<DateTime<Utc>>, reason: &str| NewRule {
        vendor_id: Some(A),
        category: None,
        effective_from: from,
        bps,
        fixed: None,
        reason: reason.into(),
    };
    for bad in [
        new(1_000, Some(Utc::now() - Duration::days(1)), "backdated"),
        new(5_001, None, "greedy"),
        new(1_000, None, " "),
    ] {
        let e = store::add_rule(&pool, &staff(), &bad).await.unwrap_err();
        assert!(matches!(e, Error::Rule(_) | Error::BadRule(_)), "{e:?}");
    }
    let kept = store::add_rule(&pool, &staff(), &new(700, None, "loyal seller"))
        .await
        .unwrap();
    assert_eq!(kept.created_by, "user:staff-1");
    let mut conn = pool.acquire().await.unwrap();
    let rules = store::rules(&mut conn, Some(&[A]), None).await.unwrap();
    assert_eq!(rules, vec![kept]);
    assert!(
        store::rules(&mut conn, Some(&[B]), None)
            .await
            .unwrap()
            .is_empty()
    );
}
