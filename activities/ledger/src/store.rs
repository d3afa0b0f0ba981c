//! SQL for the ledger schema: entries posted once each, in one transaction with what they
//! change; commission rules; each captured line's commission; balances and statements.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SubsecRound, Utc};
use souk_contracts::ledger::{
    CaptureRecorded, LineCommission, LineRefundRecorded, RecordCapture, RecordRefund,
    RefundRecorded,
};
use souk_domain::commission::{self, CommissionError, CommissionRule};
use souk_domain::ledger::{self, Account, Entry, LedgerError, Posting};
use souk_domain::refund::{LinePaid, shipping_by_line};
use souk_domain::{Currency, Money, Sku};
use souk_kit::error::{Described, Kind};
use souk_kit::{Ctx, outbox};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// What a domain error of the ledger is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Rule(#[from] CommissionError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    BadRule(String),
    #[error("the ledger has no captured line {sku} of order {order_no}")]
    NotCaptured { order_no: String, sku: String },
    #[error("a refund of {asked} is more than line {sku} has left ({left})")]
    AboveLeft { sku: String, asked: i64, left: i64 },
    #[error("the cursor is not one this list gave")]
    Cursor,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Described for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::Ledger(LedgerError::Conflict(_)) | Error::AboveLeft { .. } => Kind::Conflict,
            Error::NotCaptured { .. } => Kind::NotFound,
            Error::Db(_) => Kind::Unavailable,
            _ => Kind::Invalid,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Error::Ledger(LedgerError::Conflict(_)) => "entry_conflict",
            Error::Ledger(_) => "invalid_entry",
            Error::Rule(_) | Error::BadRule(_) => "invalid_commission_rule",
            Error::Invalid(_) => "invalid_ledger_input",
            Error::NotCaptured { .. } => "line_not_captured",
            Error::AboveLeft { .. } => "refund_exceeds_paid",
            Error::Cursor => "invalid_cursor",
            Error::Db(_) => "database_unavailable",
        }
    }

    /// A conflicting entry, or a refund the ledger cannot take, will not heal by retrying:
    /// the workflow stops on it and an operator looks.
    fn failure_type(&self) -> Option<&'static str> {
        match self {
            Error::Db(_) => None,
            _ => Some(souk_contracts::failures::INVALID_INPUT),
        }
    }

    fn database(&self) -> Option<&sqlx::Error> {
        match self {
            Error::Db(e) => Some(e),
            _ => None,
        }
    }
}

/// What an entry is, as kept with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Capture,
    Refund,
    Payable,
    Payout,
    PayoutPaid,
    PayoutFailed,
}

impl EntryKind {
    fn as_str(self) -> &'static str {
        match self {
            EntryKind::Capture => "capture",
            EntryKind::Refund => "refund",
            EntryKind::Payable => "payable",
            EntryKind::Payout => "payout",
            EntryKind::PayoutPaid => "payout_paid",
            EntryKind::PayoutFailed => "payout_failed",
        }
    }
}

fn vendor_of(account: Account) -> Option<Uuid> {
    match account {
        Account::VendorReserve(v) | Account::VendorPayable(v) | Account::PayoutsInTransit(v) => {
            Some(v)
        }
        Account::CustomerPayments | Account::PlatformRevenue => None,
    }
}

/// Whether an entry was posted now, or had been with the same postings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    New(i64),
    Again(i64),
}

impl Posted {
    pub fn id(self) -> i64 {
        match self {
            Posted::New(id) | Posted::Again(id) => id,
        }
    }
}

/// Posts `entry` on the caller's transaction, once: the same entry again is
/// [`Posted::Again`]; another under the same key is refused, as is one that does not balance
/// (which the database checks too, at commit).
pub async fn post(
    tx: &mut PgConnection,
    ctx: &Ctx,
    entry: &Entry,
    kind: EntryKind,
    order_no: Option<&str>,
) -> Result<Posted, Error> {
    if !entry.balances() {
        return Err(LedgerError::Unbalanced(entry.key.clone()).into());
    }
    let inserted = sqlx::query_scalar!(
        "INSERT INTO ledger.entries (key, kind, order_no, actor) VALUES ($1, $2, $3, $4)
         ON CONFLICT ON CONSTRAINT entries_key_key DO NOTHING RETURNING id",
        entry.key,
        kind.as_str(),
        order_no,
        ctx.actor
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = inserted else {
        return again(tx, entry).await;
    };
    let accounts: Vec<String> = entry
        .postings
        .iter()
        .map(|p| p.account.to_string())
        .collect();
    let vendors: Vec<Option<Uuid>> = entry
        .postings
        .iter()
        .map(|p| vendor_of(p.account))
        .collect();
    let currencies: Vec<String> = entry
        .postings
        .iter()
        .map(|p| p.currency.code().to_string())
        .collect();
    let amounts: Vec<i64> = entry.postings.iter().map(|p| p.amount).collect();
    sqlx::query!(
        "INSERT INTO ledger.postings (entry_id, account, vendor_id, currency, amount)
         SELECT $1, * FROM UNNEST($2::text[], $3::uuid[], $4::text[], $5::bigint[])",
        id,
        &accounts,
        &vendors as &[Option<Uuid>],
        &currencies,
        &amounts
    )
    .execute(&mut *tx)
    .await?;
    outbox::emit(
        tx,
        &crate::SCHEMA,
        ctx,
        "ledger.entry_posted",
        serde_json::json!({"key": entry.key, "kind": kind.as_str(), "order_no": order_no}),
    )
    .await?;
    Ok(Posted::New(id))
}

/// The entry under `entry.key` posted before: the same postings, or a conflict.
async fn again(tx: &mut PgConnection, entry: &Entry) -> Result<Posted, Error> {
    let (id, was) = entry_by_key(tx, &entry.key)
        .await?
        .ok_or_else(|| Error::Invalid(format!("entry {} vanished", entry.key)))?;
    let set = |p: &[Posting]| {
        p.iter()
            .map(|p| (p.account, p.currency, p.amount))
            .collect::<BTreeSet<_>>()
    };
    if set(&was) == set(&entry.postings) {
        Ok(Posted::Again(id))
    } else {
        Err(LedgerError::Conflict(entry.key.clone()).into())
    }
}

/// An entry's id and postings, by key.
async fn entry_by_key(
    conn: &mut PgConnection,
    key: &str,
) -> Result<Option<(i64, Vec<Posting>)>, Error> {
    let rows = sqlx::query!(
        r#"SELECT e.id, p.account AS "account?", p.currency AS "currency?", p.amount AS "amount?"
           FROM ledger.entries e LEFT JOIN ledger.postings p ON p.entry_id = e.id
           WHERE e.key = $1"#,
        key
    )
    .fetch_all(&mut *conn)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let id = first.id;
    let postings = rows
        .into_iter()
        .filter_map(|r| Some((r.account?, r.currency?, r.amount?)))
        .map(|(a, c, amount)| {
            Ok(Posting {
                account: account(&a)?,
                currency: currency(&c)?,
                amount,
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok(Some((id, postings)))
}

fn account(name: &str) -> Result<Account, Error> {
    Account::parse(name).ok_or_else(|| Error::Invalid(format!("unknown account `{name}`")))
}

fn currency(code: &str) -> Result<Currency, Error> {
    Currency::parse(code.trim()).map_err(|e| Error::Invalid(e.to_string()))
}

/// A commission rule as kept: who made it and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRecord {
    pub rule: CommissionRule,
    pub created_by: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

/// How far in the past a new rule may say it takes effect (a clock a little behind).
const RULE_PAST_TOLERANCE: chrono::Duration = chrono::Duration::minutes(5);

/// A commission rule to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRule {
    pub vendor_id: Option<Uuid>,
    pub category: Option<String>,
    /// None: now.
    pub effective_from: Option<DateTime<Utc>>,
    pub bps: u32,
    pub fixed: Option<Money>,
    pub reason: String,
}

/// Keeps a new commission rule, taking effect at its `effective_from`, which may not be in
/// the past: a change never rewrites what was sold before it.
pub async fn add_rule(pool: &PgPool, ctx: &Ctx, new: &NewRule) -> Result<RuleRecord, Error> {
    let now = Utc::now();
    // Kept to the microsecond, as the database keeps it.
    let effective_from = new.effective_from.unwrap_or(now).trunc_subsecs(6);
    if effective_from < now - RULE_PAST_TOLERANCE {
        return Err(Error::BadRule(
            "a commission rule takes effect from now or later, never in the past".into(),
        ));
    }
    let category = new
        .category
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if category.is_some_and(|c| {
        c.len() > 100
            || !c
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }) {
        return Err(Error::BadRule("a category is a category slug".into()));
    }
    let reason = new.reason.trim();
    if reason.is_empty() {
        return Err(Error::BadRule("say why the commission changes".into()));
    }
    let (vendor_id, bps, fixed) = (new.vendor_id, new.bps, new.fixed);
    let rule = CommissionRule {
        id: Uuid::now_v7(),
        vendor_id,
        category: category.map(str::to_string),
        effective_from,
        bps,
        fixed,
    };
    rule.check()?;
    let mut tx = pool.begin().await?;
    let created_at = sqlx::query_scalar!(
        "INSERT INTO ledger.commission_rules
           (id, vendor_id, category, effective_from, bps, fixed_minor, fixed_currency,
            created_by, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING created_at",
        rule.id,
        rule.vendor_id,
        rule.category,
        rule.effective_from,
        rule.bps as i32,
        rule.fixed.map(|f| f.amount),
        rule.fixed.map(|f| f.currency.code().to_string()),
        ctx.actor,
        reason
    )
    .fetch_one(&mut *tx)
    .await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "ledger.commission_rule_added",
        serde_json::json!({
            "id": rule.id, "vendor_id": rule.vendor_id, "category": rule.category,
            "effective_from": rule.effective_from, "bps": rule.bps,
            "fixed": rule.fixed.map(|f| f.amount), "reason": reason,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(RuleRecord {
        rule,
        created_by: ctx.actor.clone(),
        reason: reason.to_string(),
        created_at,
    })
}

struct RuleRow {
    id: Uuid,
    vendor_id: Option<Uuid>,
    category: Option<String>,
    effective_from: DateTime<Utc>,
    bps: i32,
    fixed_minor: Option<i64>,
    fixed_currency: Option<String>,
    created_by: String,
    reason: String,
    created_at: DateTime<Utc>,
}

impl RuleRow {
    fn into_record(self) -> Result<RuleRecord, Error> {
        let fixed = match (self.fixed_minor, self.fixed_currency) {
            (Some(amount), Some(c)) => Some(Money::new(amount, currency(&c)?)),
            _ => None,
        };
        Ok(RuleRecord {
            rule: CommissionRule {
                id: self.id,
                vendor_id: self.vendor_id,
                category: self.category,
                effective_from: self.effective_from,
                bps: u32::try_from(self.bps).unwrap_or_default(),
                fixed,
            },
            created_by: self.created_by,
            reason: self.reason,
            created_at: self.created_at,
        })
    }
}

/// The rules of `vendor` (with the marketplace's), or every rule, latest first.
pub async fn rules(
    conn: &mut PgConnection,
    vendors: Option<&[Uuid]>,
    at: Option<DateTime<Utc>>,
) -> Result<Vec<RuleRecord>, Error> {
    sqlx::query_as!(
        RuleRow,
        "SELECT id, vendor_id, category, effective_from, bps, fixed_minor,
                fixed_currency::text AS fixed_currency, created_by, reason, created_at
         FROM ledger.commission_rules
         WHERE ($1::uuid[] IS NULL OR vendor_id IS NULL OR vendor_id = ANY($1))
           AND ($2::timestamptz IS NULL OR effective_from <= $2)
         ORDER BY effective_from DESC, id DESC",
        vendors,
        at
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(RuleRow::into_record)
    .collect()
}

/// Records a capture: each line's commission by the rules in effect when it was captured,
/// kept with its rule, and the capture's entry, in one transaction. Again: what was recorded.
pub async fn record_capture(
    pool: &PgPool,
    ctx: &Ctx,
    c: &RecordCapture,
) -> Result<CaptureRecorded, Error> {
    if c.amount.currency != c.currency {
        return Err(Error::Invalid(format!(
            "captured {} for an order in {}",
            c.amount, c.currency
        )));
    }
    if c.lines.is_empty() {
        return Err(Error::Invalid("a capture has lines".into()));
    }
    let captured_at = c.captured_at.unwrap_or_else(Utc::now);
    let mut tx = pool.begin().await?;
    let vendors: Vec<Uuid> = c
        .lines
        .iter()
        .map(|l| l.vendor_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let rules: Vec<CommissionRule> = rules(&mut tx, Some(&vendors), Some(captured_at))
        .await?
        .into_iter()
        .map(|r| r.rule)
        .collect();
    let shipping: BTreeMap<Uuid, i64> = c.shipping_by_vendor.iter().copied().collect();
    let shares = shipping_by_line(
        &c.lines
            .iter()
            .map(|l| (l.vendor_id, l.sku.as_str(), l.line_total))
            .collect::<Vec<_>>(),
        |v| shipping.get(&v).copied().unwrap_or_default(),
    );
    let mut seen = BTreeSet::new();
    let mut lines = Vec::with_capacity(c.lines.len());
    let mut captured = Vec::with_capacity(c.lines.len());
    for (l, shipping) in c.lines.iter().zip(shares) {
        if !seen.insert(l.sku.as_str()) {
            return Err(Error::Invalid(format!("line {} is given twice", l.sku)));
        }
        let paid = LinePaid {
            unit_price: l.unit_price,
            quantity: l.quantity,
            discount: l.discount,
            tax: l.tax,
            shipping,
        };
        if !paid.is_consistent() || l.unit_price.checked_mul(l.quantity) != Some(l.line_total) {
            return Err(Error::Invalid(format!(
                "line {}'s amounts do not add up",
                l.sku
            )));
        }
        let rule = commission::applicable(&rules, l.vendor_id, &l.categories, captured_at);
        let taken = match rule {
            Some(r) => r.commission(&paid, c.currency)?,
            None => 0,
        };
        captured.push(ledger::CapturedLine {
            vendor_id: l.vendor_id,
            paid: paid.paid(),
            commission: taken,
        });
        lines.push((l, paid, taken, rule.map(|r| r.id)));
    }
    let total: i64 = captured.iter().map(|l| l.paid).sum();
    if total != c.amount.amount {
        return Err(Error::Invalid(format!(
            "the lines paid {} together, not the {} captured",
            Money::new(total, c.currency),
            c.amount
        )));
    }
    let entry = ledger::capture(&c.checkout_id, c.currency, &captured)?;
    let posted = post(&mut tx, ctx, &entry, EntryKind::Capture, Some(&c.order_no)).await?;
    if let Posted::New(entry_id) = posted {
        let skus: Vec<String> = lines.iter().map(|l| l.0.sku.to_string()).collect();
        let vendors: Vec<Uuid> = lines.iter().map(|l| l.0.vendor_id).collect();
        let paid: Vec<i64> = lines.iter().map(|l| l.1.paid()).collect();
        let goods: Vec<i64> = lines
            .iter()
            .map(|l| l.1.unit_price * l.1.quantity - l.1.discount)
            .collect();
        let taken: Vec<i64> = lines.iter().map(|l| l.2).collect();
        let rule_ids: Vec<Option<Uuid>> = lines.iter().map(|l| l.3).collect();
        sqlx::query!(
            "INSERT INTO ledger.line_commissions
               (order_no, sku, vendor_id, currency, paid, goods, commission, rule_id, entry_id)
             SELECT $1, sku, vendor_id, $2, paid, goods, commission, rule_id, $3
             FROM UNNEST($4::text[], $5::uuid[], $6::bigint[], $7::bigint[], $8::bigint[],
                         $9::uuid[]) AS l(sku, vendor_id, paid, goods, commission, rule_id)",
            c.order_no,
            c.currency.code(),
            entry_id,
            &skus,
            &vendors,
            &paid,
            &goods,
            &taken,
            &rule_ids as &[Option<Uuid>]
        )
        .execute(&mut *tx)
        .await?;
    }
    let recorded = line_commissions(&mut tx, &c.order_no).await?;
    tx.commit().await?;
    if let Posted::New(_) = posted {
        tracing::info!(order_no = %c.order_no, key = %entry.key, "capture posted");
    }
    Ok(CaptureRecorded {
        entry_key: entry.key,
        lines: recorded.into_iter().map(|l| l.commission).collect(),
    })
}

/// A captured line as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRecord {
    pub commission: LineCommission,
    pub goods: i64,
    pub refunded: i64,
    pub commission_back: i64,
}

/// The commissions of an order's lines, by SKU.
pub async fn line_commissions(
    conn: &mut PgConnection,
    order_no: &str,
) -> Result<Vec<LineRecord>, Error> {
    let rows = sqlx::query!(
        "SELECT sku, vendor_id, currency::text AS \"currency!\", paid, goods, commission, rule_id,
                refunded, commission_back
         FROM ledger.line_commissions WHERE order_no = $1 ORDER BY sku",
        order_no
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let cur = currency(&r.currency)?;
            Ok(LineRecord {
                commission: LineCommission {
                    sku: Sku::parse(&r.sku).map_err(|e| Error::Invalid(e.to_string()))?,
                    vendor_id: r.vendor_id,
                    paid: Money::new(r.paid, cur),
                    commission: Money::new(r.commission, cur),
                    rule_id: r.rule_id,
                },
                goods: r.goods,
                refunded: r.refunded,
                commission_back: r.commission_back,
            })
        })
        .collect()
}

/// The key of the entry that made a vendor's part of an order payable.
pub fn payable_key(order_no: &str, vendor: Uuid) -> String {
    format!("payable:{order_no}:{vendor}")
}

/// Records a refund of lines: per line, its entry (`refund:<reference>:<sku>`), the
/// commission given back pro rata, out of the vendor's reserve or, once its part became
/// payable, its payable; all in one transaction. Again: what was recorded.
pub async fn record_refund(
    pool: &PgPool,
    ctx: &Ctx,
    r: &RecordRefund,
) -> Result<RefundRecorded, Error> {
    if r.reference.trim().is_empty() || r.lines.is_empty() {
        return Err(Error::Invalid("a refund has a reference and lines".into()));
    }
    let mut lines: Vec<_> = r.lines.iter().collect();
    lines.sort_by(|a, b| a.sku.as_str().cmp(b.sku.as_str()));
    if lines.windows(2).any(|w| w[0].sku == w[1].sku) {
        return Err(Error::Invalid("a line is given twice".into()));
    }
    let mut tx = pool.begin().await?;
    let mut recorded = Vec::with_capacity(lines.len());
    for l in lines {
        let key = format!("refund:{}:{}", r.reference, l.sku);
        // The line, locked: refunds of one line are counted one at a time.
        let line = sqlx::query!(
            "SELECT vendor_id, currency::text AS \"currency!\", paid, commission, refunded,
                    commission_back
             FROM ledger.line_commissions WHERE order_no = $1 AND sku = $2 FOR UPDATE",
            r.order_no,
            l.sku.as_str()
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotCaptured {
            order_no: r.order_no.clone(),
            sku: l.sku.to_string(),
        })?;
        let cur = currency(&line.currency)?;
        if l.amount.currency != cur {
            return Err(Error::Invalid(format!(
                "line {} was paid in {cur}, not {}",
                l.sku, l.amount.currency
            )));
        }
        if let Some((_, postings)) = entry_by_key(&mut tx, &key).await? {
            // Recorded before: answer it as it was.
            let of = |a: Account| {
                postings
                    .iter()
                    .filter(|p| p.account == a)
                    .map(|p| p.amount)
                    .sum::<i64>()
            };
            let refunded = -of(Account::CustomerPayments);
            if refunded != l.amount.amount {
                return Err(LedgerError::Conflict(key).into());
            }
            recorded.push(LineRefundRecorded {
                sku: l.sku.clone(),
                entry_key: key,
                refunded: l.amount,
                commission_back: Money::new(of(Account::PlatformRevenue), cur),
            });
            continue;
        }
        let left = line.paid - line.refunded;
        if l.amount.amount > left || l.amount.amount < 0 {
            return Err(Error::AboveLeft {
                sku: l.sku.to_string(),
                asked: l.amount.amount,
                left,
            });
        }
        let back =
            commission::given_back(line.commission, line.paid, line.refunded, l.amount.amount)
                .min(line.commission - line.commission_back);
        let payable = entry_by_key(&mut tx, &payable_key(&r.order_no, line.vendor_id))
            .await?
            .is_some();
        let entry = ledger::refund(&key, cur, line.vendor_id, l.amount.amount, back, payable)?;
        post(&mut tx, ctx, &entry, EntryKind::Refund, Some(&r.order_no)).await?;
        sqlx::query!(
            "UPDATE ledger.line_commissions
             SET refunded = refunded + $3, commission_back = commission_back + $4
             WHERE order_no = $1 AND sku = $2",
            r.order_no,
            l.sku.as_str(),
            l.amount.amount,
            back
        )
        .execute(&mut *tx)
        .await?;
        recorded.push(LineRefundRecorded {
            sku: l.sku.clone(),
            entry_key: key,
            refunded: l.amount,
            commission_back: Money::new(back, cur),
        });
    }
    tx.commit().await?;
    Ok(RefundRecorded { lines: recorded })
}

/// One account's balance in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub account: Account,
    pub currency: Currency,
    /// Read on the account's own side ([`Account::balance`]).
    pub balance: i64,
}

/// Every account's balance, by account name and currency (the trial balance: each
/// currency's signed sums add up to zero).
pub async fn trial_balance(pool: &PgPool) -> Result<Vec<Balance>, Error> {
    balances(pool, None).await
}

/// A vendor's accounts' balances.
pub async fn vendor_balances(pool: &PgPool, vendor: Uuid) -> Result<Vec<Balance>, Error> {
    balances(pool, Some(vendor)).await
}

async fn balances(pool: &PgPool, vendor: Option<Uuid>) -> Result<Vec<Balance>, Error> {
    sqlx::query!(
        r#"SELECT account, currency::text AS "currency!", sum(amount)::bigint AS "signed!"
           FROM ledger.postings WHERE ($1::uuid IS NULL OR vendor_id = $1)
           GROUP BY account, currency ORDER BY account, currency"#,
        vendor
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| {
        let account = account(&r.account)?;
        Ok(Balance {
            account,
            currency: currency(&r.currency)?,
            balance: account.balance(r.signed),
        })
    })
    .collect()
}

/// A line of a vendor's statement: one posting to one of its accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    pub entry_id: i64,
    pub key: String,
    pub kind: String,
    pub order_no: Option<String>,
    pub posted_at: DateTime<Utc>,
    pub account: Account,
    pub currency: Currency,
    /// What it added to the account, on the account's own side (less than zero: taken).
    pub amount: i64,
}

/// A page of a vendor's statement, newest first, after `cursor`; and the cursor after it.
pub async fn statement(
    pool: &PgPool,
    vendor: Uuid,
    cursor: Option<&str>,
    limit: i64,
) -> Result<(Vec<StatementLine>, Option<String>), Error> {
    let before = cursor
        .map(|c| c.parse::<i64>().map_err(|_| Error::Cursor))
        .transpose()?;
    let mut rows = sqlx::query!(
        r#"SELECT e.id, e.key, e.kind, e.order_no, e.posted_at, p.account,
                  p.currency::text AS "currency!", p.amount
           FROM ledger.postings p JOIN ledger.entries e ON e.id = p.entry_id
           WHERE p.vendor_id = $1 AND ($2::bigint IS NULL OR p.entry_id < $2)
             AND p.entry_id IN (
               SELECT DISTINCT entry_id FROM ledger.postings
               WHERE vendor_id = $1 AND ($2::bigint IS NULL OR entry_id < $2)
               ORDER BY entry_id DESC LIMIT $3)
           ORDER BY e.id DESC, p.account"#,
        vendor,
        before,
        limit + 1
    )
    .fetch_all(pool)
    .await?;
    // `limit + 1` entries were read: the last one says whether more follow.
    let ids: BTreeSet<i64> = rows.iter().map(|r| r.id).collect();
    let next = if ids.len() as i64 > limit {
        let oldest = *ids.first().expect("more than none");
        rows.retain(|r| r.id != oldest);
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
    let lines = rows
        .into_iter()
        .map(|r| {
            let account = account(&r.account)?;
            Ok(StatementLine {
                entry_id: r.id,
                key: r.key,
                kind: r.kind,
                order_no: r.order_no,
                posted_at: r.posted_at,
                account,
                currency: currency(&r.currency)?,
                amount: account.balance(r.amount),
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok((lines, next))
}
