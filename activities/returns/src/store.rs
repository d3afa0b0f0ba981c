//! SQL for the returns schema.

use std::collections::BTreeMap;

use chrono::Utc;
use souk_contracts::failures;
use souk_contracts::orders::LineRefund;
use souk_contracts::returns::{
    InspectReturn, LabelReturn, MoveReturn, NoteReturn, OpenReturn, RecordReturnRefund,
    ReturnLabel, ReturnLine, ReturnView, Submitted,
};
use souk_domain::returns::{
    Counted, IllegalTransition, LineFacts, PostagePayer, ReturnReason, ReturnStatus, check_request,
};
use souk_domain::{Currency, Money, Sku};
use souk_kit::error::{Described, Kind};
use souk_kit::{Ctx, outbox};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("return {0} does not exist")]
    NotFound(String),
    #[error(transparent)]
    Transition(#[from] IllegalTransition),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Described for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::Transition(_) => Kind::Conflict,
            Error::NotFound(_) => Kind::NotFound,
            Error::Invalid(_) => Kind::Invalid,
            Error::Db(_) => Kind::Unavailable,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Error::Transition(_) => "illegal_transition",
            Error::NotFound(_) => "return_not_found",
            Error::Invalid(_) => "invalid_request",
            Error::Db(_) => "database_unavailable",
        }
    }

    fn failure_type(&self) -> Option<&'static str> {
        match self {
            Error::Db(_) => None,
            _ => Some(failures::INVALID_INPUT),
        }
    }

    fn database(&self) -> Option<&sqlx::Error> {
        match self {
            Error::Db(e) => Some(e),
            _ => None,
        }
    }
}

/// Statuses whose units are still on their way back (as [`ReturnStatus::holds_units`]).
fn holding() -> Vec<String> {
    ReturnStatus::ALL
        .into_iter()
        .filter(|s| s.holds_units())
        .map(|s| s.as_str().to_string())
        .collect()
}

/// Serialises the return requests of one order, so two cannot both take the last units.
async fn lock_order(tx: &mut PgConnection, order_no: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('returns:' || $1))")
        .bind(order_no)
        .execute(tx)
        .await?;
    Ok(())
}

async fn history(
    tx: &mut PgConnection,
    return_id: Uuid,
    event: &str,
    moved: Option<(Option<ReturnStatus>, ReturnStatus)>,
    actor: &str,
    note: Option<&str>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "INSERT INTO returns.history (return_id, event, from_status, to_status, actor, note)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (return_id, event) DO NOTHING",
        return_id,
        event,
        moved.and_then(|(from, _)| from).map(|s| s.as_str()),
        moved.map(|(_, to)| to.as_str()),
        actor,
        note
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Checks a request against the order and records it, once per workflow id (again: what was
/// recorded). A request the rules refuse is answered, not recorded.
pub async fn open(pool: &PgPool, ctx: &Ctx, o: &OpenReturn) -> Result<Submitted, Error> {
    let order = &o.order;
    let input = &o.input;
    if let Some(id) = by_workflow(pool, &o.workflow_id).await? {
        return mine(pool, id, o).await;
    }
    if order.customer_id.as_deref() != Some(input.customer_id.as_str()) {
        return Ok(Submitted::Refused {
            code: "order_not_found".into(),
            message: format!("no order {} of yours", order.order_no),
        });
    }
    let mut tx = pool.begin().await?;
    lock_order(&mut tx, &order.order_no).await?;
    // A first try may have committed while this one waited for the lock.
    if let Some(id) = sqlx::query_scalar!(
        "SELECT id FROM returns.returns WHERE workflow_id = $1",
        o.workflow_id
    )
    .fetch_optional(&mut *tx)
    .await?
    {
        drop(tx);
        return mine(pool, id, o).await;
    }
    let in_returns: BTreeMap<String, i64> = sqlx::query!(
        r#"SELECT l.sku, sum(l.quantity)::bigint AS "units!"
           FROM returns.return_lines l JOIN returns.returns r ON r.id = l.return_id
           WHERE r.order_no = $1 AND r.status = ANY($2) GROUP BY l.sku"#,
        order.order_no,
        &holding()
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.sku, r.units))
    .collect();
    let now = Utc::now();
    let facts: Vec<LineFacts<'_, Uuid>> = order
        .lines
        .iter()
        .map(|l| LineFacts {
            sku: l.sku.as_str(),
            vendor: l.vendor_id,
            quantity: l.quantity,
            refunded: l.refunded_quantity,
            in_returns: in_returns
                .get(l.sku.as_str())
                .map_or(0, |n| i32::try_from(*n).unwrap_or(i32::MAX)),
            delivered_ago: l.delivered_at.map(|at| (now - at).num_seconds()),
            excluded: o
                .excluded
                .iter()
                .find(|e| e.sku == l.sku)
                .map(|e| e.category.as_str()),
        })
        .collect();
    let asked: Vec<(&str, i32)> = input
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.quantity))
        .collect();
    let vendor = match check_request(&facts, &asked, input.settings.window_seconds) {
        Ok(v) => v,
        Err(refusal) => {
            return Ok(Submitted::Refused {
                code: refusal.code().into(),
                message: refusal.to_string(),
            });
        }
    };
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO returns.returns
             (id, rma_no, workflow_id, order_no, vendor_id, customer_id, customer_email, currency)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        id,
        input.rma_no,
        o.workflow_id,
        order.order_no,
        vendor,
        input.customer_id,
        order.customer_email,
        order.currency.code()
    )
    .execute(&mut *tx)
    .await?;
    for l in &input.lines {
        let Some(line) = order.lines.iter().find(|x| x.sku == l.sku) else {
            unreachable!("checked");
        };
        sqlx::query!(
            "INSERT INTO returns.return_lines (return_id, sku, title, quantity, reason, note, unit_price)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            id,
            l.sku.as_str(),
            line.title,
            l.quantity,
            l.reason.as_str(),
            l.note,
            line.unit_price.amount
        )
        .execute(&mut *tx)
        .await?;
    }
    history(
        &mut tx,
        id,
        "requested",
        Some((None, ReturnStatus::Requested)),
        &input.actor,
        None,
    )
    .await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "returns.requested",
        serde_json::json!({
            "return_id": id, "rma_no": input.rma_no, "order_no": order.order_no,
            "vendor_id": vendor,
            "lines": input.lines.iter().map(|l| serde_json::json!({"sku": l.sku, "quantity": l.quantity, "reason": l.reason})).collect::<Vec<_>>(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(Submitted::Opened {
        view: view(pool, id).await?,
    })
}

/// The return recorded for this workflow id, if it is this request's (an RMA number reused
/// for another order or customer is refused, never shown).
async fn mine(pool: &PgPool, id: Uuid, o: &OpenReturn) -> Result<Submitted, Error> {
    let view = view(pool, id).await?;
    if view.customer_id != o.input.customer_id || view.order_no != o.input.order_no {
        return Ok(Submitted::Refused {
            code: "rma_taken".into(),
            message: format!("the return number {} is taken", o.input.rma_no),
        });
    }
    Ok(Submitted::Opened { view })
}

async fn by_workflow(pool: &PgPool, workflow_id: &str) -> Result<Option<Uuid>, Error> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM returns.returns WHERE workflow_id = $1",
        workflow_id
    )
    .fetch_optional(pool)
    .await?)
}

fn parse_status(s: &str) -> Result<ReturnStatus, Error> {
    ReturnStatus::parse(s).ok_or_else(|| Error::Invalid(format!("unknown return status {s}")))
}

/// The return as its workflow and its readers see it.
pub async fn view(pool: &PgPool, id: Uuid) -> Result<ReturnView, Error> {
    let r = sqlx::query!(
        "SELECT rma_no, order_no, vendor_id, customer_id, currency, status, decided_by,
                decision_note, escalated, refunded, shipment_id, carrier, service, tracking_code,
                label_url, tracking_url, postage, postage_paid_by
         FROM returns.returns WHERE id = $1",
        id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::NotFound(id.to_string()))?;
    let currency = Currency::parse(&r.currency)
        .map_err(|e| Error::Invalid(format!("the return's currency: {e}")))?;
    let lines = sqlx::query!(
        "SELECT sku, title, quantity, reason, note, unit_price, sellable, damaged, wrong_item,
                missing, refunded, fee, postage
         FROM returns.return_lines WHERE return_id = $1 ORDER BY sku",
        id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|l| {
        let counted = match (l.sellable, l.damaged, l.wrong_item, l.missing) {
            (Some(sellable), Some(damaged), Some(wrong_item), Some(missing)) => Some(Counted {
                sellable,
                damaged,
                wrong_item,
                missing,
            }),
            _ => None,
        };
        Ok(ReturnLine {
            sku: Sku::parse(&l.sku).map_err(|e| Error::Invalid(e.to_string()))?,
            title: l.title,
            quantity: l.quantity,
            reason: ReturnReason::parse(&l.reason)
                .ok_or_else(|| Error::Invalid(format!("unknown reason {}", l.reason)))?,
            note: l.note,
            unit_price: Money::new(l.unit_price, currency),
            counted,
            refunded: l.refunded.map(|a| Money::new(a, currency)),
            fee: l.fee.map(|a| Money::new(a, currency)),
            postage: l.postage.map(|a| Money::new(a, currency)),
        })
    })
    .collect::<Result<Vec<_>, Error>>()?;
    Ok(ReturnView {
        return_id: id,
        rma_no: r.rma_no,
        order_no: r.order_no,
        vendor_id: r.vendor_id,
        customer_id: r.customer_id,
        status: parse_status(&r.status)?,
        lines,
        decided_by: r.decided_by,
        decision_note: r.decision_note,
        escalated: r.escalated,
        refunded: r.refunded.map(|a| Money::new(a, currency)),
        label: match (
            r.shipment_id,
            r.carrier,
            r.service,
            r.tracking_code,
            r.label_url,
            r.postage,
            r.postage_paid_by,
        ) {
            (
                Some(shipment_id),
                Some(carrier),
                Some(service),
                Some(tracking_code),
                Some(label_url),
                Some(postage),
                Some(paid_by),
            ) => Some(ReturnLabel {
                shipment_id,
                carrier,
                service,
                tracking_code,
                label_url,
                tracking_url: r.tracking_url,
                postage: Money::new(postage, currency),
                paid_by: PostagePayer::parse(&paid_by)
                    .ok_or_else(|| Error::Invalid(format!("unknown postage payer {paid_by}")))?,
            }),
            _ => None,
        },
        problems: Vec::new(),
    })
}

/// Locks the return and answers its status.
async fn locked(tx: &mut PgConnection, id: Uuid) -> Result<ReturnStatus, Error> {
    let status = sqlx::query_scalar!(
        "SELECT status FROM returns.returns WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(tx)
    .await?
    .ok_or_else(|| Error::NotFound(id.to_string()))?;
    parse_status(&status)
}

async fn set_status(
    tx: &mut PgConnection,
    ctx: &Ctx,
    id: Uuid,
    from: ReturnStatus,
    to: ReturnStatus,
    actor: &str,
    note: Option<&str>,
) -> Result<(), Error> {
    from.transition(to)?;
    let decided = matches!(to, ReturnStatus::Approved | ReturnStatus::Declined);
    sqlx::query!(
        "UPDATE returns.returns SET status = $2, updated_at = now(),
                decided_by = CASE WHEN $3 THEN $4 ELSE decided_by END,
                decision_note = CASE WHEN $3 THEN $5 ELSE decision_note END
         WHERE id = $1",
        id,
        to.as_str(),
        decided,
        actor,
        note
    )
    .execute(&mut *tx)
    .await?;
    history(tx, id, to.as_str(), Some((Some(from), to)), actor, note).await?;
    outbox::emit(
        tx,
        &crate::SCHEMA,
        ctx,
        "returns.status_changed",
        serde_json::json!({"return_id": id, "from": from.as_str(), "to": to.as_str(), "actor": actor}),
    )
    .await?;
    Ok(())
}

/// Moves the return to `m.to` by the machine; a return already there stays (a retry).
pub async fn move_to(pool: &PgPool, ctx: &Ctx, m: &MoveReturn) -> Result<ReturnStatus, Error> {
    let mut tx = pool.begin().await?;
    let from = locked(&mut tx, m.return_id).await?;
    if from == m.to {
        return Ok(from);
    }
    set_status(
        &mut tx,
        ctx,
        m.return_id,
        from,
        m.to,
        &m.actor,
        m.note.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(m.to)
}

/// Keeps the label bought for the return's parcel: `approved → label_issued`. The same
/// label again (a retried step) changes nothing; another one is refused.
pub async fn label(pool: &PgPool, ctx: &Ctx, l: &LabelReturn) -> Result<ReturnStatus, Error> {
    let mut tx = pool.begin().await?;
    let from = locked(&mut tx, l.return_id).await?;
    let kept = sqlx::query_scalar!(
        "SELECT tracking_code FROM returns.returns WHERE id = $1",
        l.return_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if let Some(code) = kept {
        return if code == l.label.tracking_code {
            Ok(from)
        } else {
            Err(Error::Invalid(format!(
                "return {} has another label already",
                l.return_id
            )))
        };
    }
    let label = &l.label;
    let currency = sqlx::query_scalar!(
        "SELECT currency FROM returns.returns WHERE id = $1",
        l.return_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if label.postage.currency.code() != currency {
        return Err(Error::Invalid(format!(
            "the postage of {} is not in the return's currency {currency}",
            label.postage
        )));
    }
    sqlx::query!(
        "UPDATE returns.returns
         SET shipment_id = $2, carrier = $3, service = $4, tracking_code = $5, label_url = $6,
             tracking_url = $7, postage = $8, postage_paid_by = $9, updated_at = now()
         WHERE id = $1",
        l.return_id,
        label.shipment_id,
        label.carrier,
        label.service,
        label.tracking_code,
        label.label_url,
        label.tracking_url,
        label.postage.amount,
        label.paid_by.as_str()
    )
    .execute(&mut *tx)
    .await?;
    let note = format!(
        "{} {} label {}, {} paid by the {}",
        label.carrier,
        label.service,
        label.tracking_code,
        label.postage,
        label.paid_by.as_str()
    );
    set_status(
        &mut tx,
        ctx,
        l.return_id,
        from,
        ReturnStatus::LabelIssued,
        &l.actor,
        Some(&note),
    )
    .await?;
    tx.commit().await?;
    Ok(ReturnStatus::LabelIssued)
}

/// A history entry that moves nothing, once per event; `escalated` (a decision) and
/// `receipt_late` (a parcel never counted) mark the return as one staff are asked to look at.
pub async fn note(pool: &PgPool, n: &NoteReturn) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    locked(&mut tx, n.return_id).await?;
    let new = history(
        &mut tx,
        n.return_id,
        &n.event,
        None,
        &n.actor,
        Some(&n.note),
    )
    .await?;
    // Staff are asked to look into it.
    if new && ["escalated", "receipt_late", "carrier_problem"].contains(&n.event.as_str()) {
        sqlx::query!(
            "UPDATE returns.returns SET escalated = true, updated_at = now() WHERE id = $1",
            n.return_id
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Records what the warehouse found of every line: `→ inspected`. Once: an inspected return
/// is left as it is.
pub async fn inspect(pool: &PgPool, ctx: &Ctx, i: &InspectReturn) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let from = locked(&mut tx, i.return_id).await?;
    if matches!(
        from,
        ReturnStatus::Inspected | ReturnStatus::Refunded | ReturnStatus::Closed
    ) {
        return Ok(());
    }
    from.transition(ReturnStatus::Inspected)?;
    let lines = sqlx::query!(
        "SELECT sku, quantity FROM returns.return_lines WHERE return_id = $1",
        i.return_id
    )
    .fetch_all(&mut *tx)
    .await?;
    if i.lines.len() != lines.len() {
        return Err(Error::Invalid(format!(
            "count every line of the return: {} lines, {} counted",
            lines.len(),
            i.lines.len()
        )));
    }
    for c in &i.lines {
        let line = lines
            .iter()
            .find(|l| l.sku == c.sku.as_str())
            .ok_or_else(|| Error::Invalid(format!("{} is not in this return", c.sku)))?;
        if !c.counted.is_valid_for(line.quantity) {
            return Err(Error::Invalid(format!(
                "{}: {} units were sent back, {} counted",
                c.sku,
                line.quantity,
                c.counted.total()
            )));
        }
        sqlx::query!(
            "UPDATE returns.return_lines SET sellable = $3, damaged = $4, wrong_item = $5, missing = $6
             WHERE return_id = $1 AND sku = $2",
            i.return_id,
            c.sku.as_str(),
            c.counted.sellable,
            c.counted.damaged,
            c.counted.wrong_item,
            c.counted.missing
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query!(
        "UPDATE returns.returns SET warehouse = $2 WHERE id = $1",
        i.return_id,
        i.warehouse
    )
    .execute(&mut *tx)
    .await?;
    set_status(
        &mut tx,
        ctx,
        i.return_id,
        from,
        ReturnStatus::Inspected,
        &i.actor,
        Some(&format!("received at {}", i.warehouse)),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Records what each line was refunded: `inspected → refunded` (once).
pub async fn record_refund(pool: &PgPool, ctx: &Ctx, r: &RecordReturnRefund) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let from = locked(&mut tx, r.return_id).await?;
    if matches!(from, ReturnStatus::Refunded | ReturnStatus::Closed) {
        return Ok(());
    }
    let mut total = 0i64;
    for LineRefund {
        sku,
        amount,
        fee,
        postage,
        ..
    } in &r.lines
    {
        total += amount.amount;
        sqlx::query!(
            "UPDATE returns.return_lines SET refunded = $3, fee = $4, postage = $5
             WHERE return_id = $1 AND sku = $2",
            r.return_id,
            sku.as_str(),
            amount.amount,
            fee.map(|f| f.amount),
            postage.map(|p| p.amount)
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query!(
        "UPDATE returns.returns SET refunded = $2 WHERE id = $1",
        r.return_id,
        total
    )
    .execute(&mut *tx)
    .await?;
    set_status(
        &mut tx,
        ctx,
        r.return_id,
        from,
        ReturnStatus::Refunded,
        "system:refund",
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Which returns a list shows: a customer's, a vendor's or everyone's, in a status, of an
/// order, escalated to staff or not.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub customer_id: Option<String>,
    pub vendor_id: Option<Uuid>,
    pub status: Option<ReturnStatus>,
    pub order_no: Option<String>,
    pub escalated: Option<bool>,
}

/// A return as a list shows it.
#[derive(Debug, Clone)]
pub struct Summary {
    pub id: Uuid,
    pub rma_no: String,
    pub order_no: String,
    pub vendor_id: Uuid,
    pub customer_id: String,
    pub status: ReturnStatus,
    pub escalated: bool,
    pub currency: Currency,
    pub refunded: Option<i64>,
    pub lines: Vec<SummaryLine>,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct SummaryLine {
    pub sku: String,
    pub title: String,
    pub quantity: i32,
    pub reason: String,
    pub refunded: Option<i64>,
    pub fee: Option<i64>,
    pub postage: Option<i64>,
}

/// Returns by `filter`, newest first, `limit` after `after`.
pub async fn list(
    pool: &PgPool,
    filter: &ListFilter,
    after: Option<souk_domain::cursor::TimeCursor>,
    limit: i64,
) -> Result<Vec<Summary>, Error> {
    let rows = sqlx::query!(
        "SELECT id, rma_no, order_no, vendor_id, customer_id, status, escalated, currency,
                refunded, created_at, updated_at
         FROM returns.returns
         WHERE ($1::text IS NULL OR customer_id = $1)
           AND ($2::uuid IS NULL OR vendor_id = $2)
           AND ($3::text IS NULL OR status = $3)
           AND ($4::text IS NULL OR order_no = $4)
           AND ($5::boolean IS NULL OR escalated = $5)
           AND ($6::timestamptz IS NULL OR (created_at, id) < ($6, $7::uuid))
         ORDER BY created_at DESC, id DESC
         LIMIT $8",
        filter.customer_id.as_deref(),
        filter.vendor_id,
        filter.status.map(ReturnStatus::as_str),
        filter.order_no.as_deref(),
        filter.escalated,
        after.as_ref().map(|c| c.created_at),
        after.as_ref().map(|c| c.id),
        limit
    )
    .fetch_all(pool)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut lines: BTreeMap<Uuid, Vec<SummaryLine>> = BTreeMap::new();
    for l in sqlx::query!(
        "SELECT return_id, sku, title, quantity, reason, refunded, fee, postage
         FROM returns.return_lines WHERE return_id = ANY($1) ORDER BY return_id, sku",
        &ids
    )
    .fetch_all(pool)
    .await?
    {
        lines.entry(l.return_id).or_default().push(SummaryLine {
            sku: l.sku,
            title: l.title,
            quantity: l.quantity,
            reason: l.reason,
            refunded: l.refunded,
            fee: l.fee,
            postage: l.postage,
        });
    }
    rows.into_iter()
        .map(|r| {
            Ok(Summary {
                lines: lines.remove(&r.id).unwrap_or_default(),
                id: r.id,
                rma_no: r.rma_no,
                order_no: r.order_no,
                vendor_id: r.vendor_id,
                customer_id: r.customer_id,
                status: parse_status(&r.status)?,
                escalated: r.escalated,
                currency: Currency::parse(&r.currency)
                    .map_err(|e| Error::Invalid(format!("the return's currency: {e}")))?,
                refunded: r.refunded,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        })
        .collect()
}
