//! SQL for the orders schema.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use souk_contracts::orders::{
    CreateOrder, Fulfilment, Goodwill, LINE_REFUND_SEQUENCES, LineFee, LineRefund, LineUnits,
    LinesRefunded, OrderRef, RecordFulfilment, RefundGoodwill, RefundKind, RefundLines,
    ReleaseRefund, ReturnableLine, ReturnableOrder,
};
use souk_domain::Sku;
use souk_domain::order::{
    IllegalSubOrderTransition, IllegalTransition, OrderStatus, PaymentStatus, SubOrderStatus,
    is_order_no, order_no,
};
use souk_domain::refund::{
    Deducted, LinePaid, LineRefunds, RefundError, WHOLE_BPS, less_fee, postage_kept,
};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use souk_contracts::failures;
use souk_kit::error::{Described, Kind};
use souk_kit::{Ctx, outbox};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("checkout {checkout_id} attempt {attempt} was cancelled before its order was placed")]
    Cancelled { checkout_id: String, attempt: u32 },
    #[error("order {0} does not exist")]
    NotFound(String),
    #[error(transparent)]
    Transition(#[from] IllegalTransition),
    #[error(transparent)]
    SubOrder(#[from] IllegalSubOrderTransition),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Described for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::Cancelled { .. } | Error::Transition(_) | Error::SubOrder(_) => Kind::Conflict,
            Error::NotFound(_) => Kind::NotFound,
            Error::Invalid(_) => Kind::Invalid,
            Error::Db(_) => Kind::Unavailable,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Error::Cancelled { .. } => "order_cancelled",
            Error::Transition(_) | Error::SubOrder(_) => "illegal_transition",
            Error::NotFound(_) => "order_not_found",
            Error::Invalid(_) => "invalid_request",
            Error::Db(_) => "database_unavailable",
        }
    }

    fn failure_type(&self) -> Option<&'static str> {
        match self {
            Error::Cancelled { .. } => Some(failures::ORDER_CANCELLED),
            Error::NotFound(_) => Some(failures::ORDER_NOT_FOUND),
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

/// Serialises everything that happens to one checkout attempt's order.
async fn lock_checkout(tx: &mut PgConnection, checkout_id: &str, attempt: u32) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('orders:' || $1 || ':' || $2::text))")
        .bind(checkout_id)
        .bind(attempt as i32)
        .execute(tx)
        .await?;
    Ok(())
}

async fn timeline(
    tx: &mut PgConnection,
    order_id: Uuid,
    event: &str,
    actor: &str,
    note: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO orders.timeline (order_id, event, actor, note) VALUES ($1, $2, $3, $4)",
        order_id,
        event,
        actor,
        note
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Places the order of a checkout attempt, split by vendor, in one transaction. Idempotent:
/// the same attempt returns the same order.
pub async fn create(pool: &PgPool, ctx: &Ctx, o: &CreateOrder) -> Result<OrderRef, Error> {
    if o.lines.is_empty() {
        return Err(Error::Invalid("an order needs at least one line".into()));
    }
    let mut tx = pool.begin().await?;
    lock_checkout(&mut tx, &o.checkout_id, o.attempt).await?;
    let existing = sqlx::query!(
        "SELECT id, order_no FROM orders.orders WHERE checkout_id = $1 AND attempt = $2",
        o.checkout_id,
        o.attempt as i32
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(r) = existing {
        return Ok(OrderRef {
            order_id: r.id,
            order_no: r.order_no,
        });
    }
    let cancelled = sqlx::query_scalar!(
        "SELECT reason FROM orders.cancelled_checkouts WHERE checkout_id = $1 AND attempt = $2",
        o.checkout_id,
        o.attempt as i32
    )
    .fetch_optional(&mut *tx)
    .await?;
    if cancelled.is_some() {
        return Err(Error::Cancelled {
            checkout_id: o.checkout_id.clone(),
            attempt: o.attempt,
        });
    }
    let seq = sqlx::query_scalar!(r#"SELECT nextval('orders.order_no_seq') AS "seq!""#)
        .fetch_one(&mut *tx)
        .await?;
    let number = order_no(seq);
    let order_id = Uuid::now_v7();
    let address =
        serde_json::to_value(&o.shipping_address).map_err(|e| Error::Invalid(e.to_string()))?;
    sqlx::query!(
        r#"INSERT INTO orders.orders (id, order_no, checkout_id, attempt, cart_id, customer_email,
               currency, subtotal, discount, tax, shipping, total, coupon_code, shipping_address,
               payment_provider, payment_reference, customer_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"#,
        order_id,
        number,
        o.checkout_id,
        o.attempt as i32,
        o.cart_id,
        o.customer_email,
        o.currency.code(),
        o.subtotal.amount,
        o.discount.amount,
        o.tax.amount,
        o.shipping.amount,
        o.total.amount,
        o.coupon_code,
        address,
        o.payment_provider,
        o.payment_reference,
        o.customer_id
            .as_deref()
            .and_then(|c| Uuid::parse_str(c).ok())
    )
    .execute(&mut *tx)
    .await?;

    // One sub-order per vendor, with its share of every amount.
    #[derive(Default)]
    struct Share {
        subtotal: i64,
        discount: i64,
        tax: i64,
    }
    let mut vendors: BTreeMap<Uuid, Share> = BTreeMap::new();
    for l in &o.lines {
        let s = vendors.entry(l.vendor_id).or_default();
        s.subtotal += l.line_total.amount;
        s.discount += l.discount.amount;
        s.tax += l.tax.amount;
    }
    let mut sub_ids = BTreeMap::new();
    for (vendor_id, s) in &vendors {
        let shipping = o
            .shipping_by_vendor
            .iter()
            .find(|(v, _)| v == vendor_id)
            .map_or(0, |(_, m)| m.amount);
        let id = Uuid::now_v7();
        sqlx::query!(
            r#"INSERT INTO orders.sub_orders (id, order_id, vendor_id, subtotal, discount, tax, shipping, total)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#,
            id,
            order_id,
            vendor_id,
            s.subtotal,
            s.discount,
            s.tax,
            shipping,
            s.subtotal - s.discount + s.tax + shipping
        )
        .execute(&mut *tx)
        .await?;
        sub_ids.insert(*vendor_id, id);
    }
    for l in &o.lines {
        sqlx::query!(
            r#"INSERT INTO orders.order_lines (id, order_id, sub_order_id, sku, title, product_id, vendor_id,
                   quantity, unit_price, line_total, discount, tax)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"#,
            Uuid::now_v7(),
            order_id,
            sub_ids[&l.vendor_id],
            l.sku.as_str(),
            l.title,
            l.product_id,
            l.vendor_id,
            l.quantity.get() as i32,
            l.unit_price.amount,
            l.line_total.amount,
            l.discount.amount,
            l.tax.amount
        )
        .execute(&mut *tx)
        .await?;
    }
    let note = format!(
        "{} item(s) from {} vendor(s), total {}",
        o.lines.len(),
        vendors.len(),
        o.total
    );
    timeline(&mut tx, order_id, "placed", &ctx.actor, Some(&note)).await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "orders.order_placed",
        serde_json::json!({
            "order_id": order_id, "order_no": number, "checkout_id": o.checkout_id,
            "attempt": o.attempt, "total": o.total,
            "vendors": vendors.keys().collect::<Vec<_>>(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(OrderRef {
        order_id,
        order_no: number,
    })
}

/// Cancels the order of a checkout attempt (a compensation). Idempotent. If the order does not
/// exist yet, leaves a tombstone so a create that arrives late places nothing.
pub async fn cancel(
    pool: &PgPool,
    ctx: &Ctx,
    checkout_id: &str,
    attempt: u32,
    reason: &str,
    payment_status: Option<PaymentStatus>,
) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    lock_checkout(&mut tx, checkout_id, attempt).await?;
    let row = sqlx::query!(
        "SELECT id, order_no, status FROM orders.orders WHERE checkout_id = $1 AND attempt = $2 FOR UPDATE",
        checkout_id,
        attempt as i32
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        sqlx::query!(
            "INSERT INTO orders.cancelled_checkouts (checkout_id, attempt, reason) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            checkout_id,
            attempt as i32,
            reason
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(());
    };
    let from = OrderStatus::parse(&row.status)
        .ok_or_else(|| Error::Invalid(format!("unknown status {}", row.status)))?;
    if from == OrderStatus::Cancelled {
        return Ok(());
    }
    from.transition(OrderStatus::Cancelled)?;
    sqlx::query!(
        r#"UPDATE orders.orders SET status = 'cancelled', payment_status = COALESCE($2, payment_status), updated_at = now()
           WHERE id = $1"#,
        row.id,
        payment_status.map(|p| p.as_str())
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE orders.sub_orders SET status = 'cancelled', updated_at = now() WHERE order_id = $1",
        row.id
    )
    .execute(&mut *tx)
    .await?;
    timeline(&mut tx, row.id, "cancelled", &ctx.actor, Some(reason)).await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "orders.order_cancelled",
        serde_json::json!({"order_id": row.id, "order_no": row.order_no, "reason": reason}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Records a payment status change. Idempotent.
pub async fn record_payment(
    pool: &PgPool,
    ctx: &Ctx,
    checkout_id: &str,
    attempt: u32,
    status: PaymentStatus,
    note: &str,
) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        "SELECT id, order_no, payment_status FROM orders.orders WHERE checkout_id = $1 AND attempt = $2 FOR UPDATE",
        checkout_id,
        attempt as i32
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::NotFound(format!("{checkout_id}:{attempt}")))?;
    // A later partial refund's report never takes a fully refunded payment back, and the
    // capture's report (the checkout's confirmation, running while the shipments start)
    // never takes back a refund that came first.
    let refunded = [
        PaymentStatus::Refunded.as_str(),
        PaymentStatus::PartiallyRefunded.as_str(),
    ];
    if row.payment_status == status.as_str()
        || (row.payment_status == PaymentStatus::Refunded.as_str()
            && status == PaymentStatus::PartiallyRefunded)
        || (refunded.contains(&row.payment_status.as_str()) && status == PaymentStatus::Captured)
    {
        return Ok(());
    }
    sqlx::query!(
        "UPDATE orders.orders SET payment_status = $2, updated_at = now() WHERE id = $1",
        row.id,
        status.as_str()
    )
    .execute(&mut *tx)
    .await?;
    timeline(
        &mut tx,
        row.id,
        &format!("payment_{}", status.as_str()),
        &ctx.actor,
        Some(note),
    )
    .await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "orders.payment_recorded",
        serde_json::json!({"order_id": row.id, "order_no": row.order_no, "payment_status": status.as_str()}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Moves `vendor`'s part of order `order_no` to `to` (or, when it ships in several shipments,
/// moves the reporting one and the part by [`SubOrderStatus::of_parts`]) and the order with it
/// (by [`OrderStatus::of_sub_orders`] over every shipment), each change with a timeline entry
/// by `actor` and an event. A sub-order or shipment that has reached `to` already stays as it
/// is, so a retried or late report changes nothing. Answers where both are.
pub async fn record_fulfilment(
    pool: &PgPool,
    ctx: &Ctx,
    r: &RecordFulfilment,
) -> Result<Fulfilment, Error> {
    if !is_order_no(&r.order_no) {
        return Err(Error::NotFound(r.order_no.clone()));
    }
    let mut tx = pool.begin().await?;
    let order = sqlx::query!(
        "SELECT id, status FROM orders.orders WHERE order_no = $1 FOR UPDATE",
        r.order_no
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::NotFound(r.order_no.clone()))?;
    let subs = sqlx::query!(
        "SELECT vendor_id, status FROM orders.sub_orders WHERE order_id = $1",
        order.id
    )
    .fetch_all(&mut *tx)
    .await?;
    let parse = |s: &str| {
        SubOrderStatus::parse(s).ok_or_else(|| Error::Invalid(format!("unknown status {s}")))
    };
    let mut statuses = Vec::with_capacity(subs.len());
    let mut current = None;
    for sub in &subs {
        let status = parse(&sub.status)?;
        if sub.vendor_id == r.vendor_id {
            current = Some(statuses.len());
        }
        statuses.push(status);
    }
    let at = current.ok_or_else(|| {
        Error::NotFound(format!(
            "{}: no part of it is vendor {}",
            r.order_no, r.vendor_id
        ))
    })?;
    let from_order = OrderStatus::parse(&order.status)
        .ok_or_else(|| Error::Invalid(format!("unknown status {}", order.status)))?;
    let vendor_note = match &r.note {
        Some(n) => format!("vendor {}: {n}", r.vendor_id),
        None => format!("vendor {}", r.vendor_id),
    };
    // Where the part is: the report itself, or, when it ships in several shipments, where
    // all of them are.
    let target = match &r.shipment {
        None => r.status,
        // A cancelled part takes no shipment's move (as a report of the whole part would).
        Some(_) if statuses[at] == SubOrderStatus::Cancelled && r.status != statuses[at] => {
            return Err(Error::SubOrder(IllegalSubOrderTransition {
                from: statuses[at],
                to: r.status,
            }));
        }
        Some(shipment) => {
            let moved = record_shipment_part(&mut tx, order.id, r, shipment).await?;
            if moved {
                let note = format!("{vendor_note} (shipment {shipment})");
                let event = format!("shipment_{}", r.status.as_str());
                timeline(&mut tx, order.id, &event, &r.actor, Some(&note)).await?;
            }
            let parts = sqlx::query_scalar!(
                "SELECT status FROM orders.shipment_parts WHERE order_id = $1 AND vendor_id = $2",
                order.id,
                r.vendor_id
            )
            .fetch_all(&mut *tx)
            .await?;
            let parts = parts
                .iter()
                .map(|s| parse(s))
                .collect::<Result<Vec<_>, _>>()?;
            SubOrderStatus::of_parts(&parts)
        }
    };
    // A part never moves back (a cancelled shipment can lower where its shipments are).
    let moves = !statuses[at].has_reached(target)
        && (r.shipment.is_none() || statuses[at].can_become(target));
    if !moves && r.shipment.is_none() {
        return Ok(Fulfilment {
            sub_order: statuses[at],
            order: from_order,
        });
    }
    if moves {
        statuses[at].transition(target)?;
        statuses[at] = target;
        sqlx::query!(
            "UPDATE orders.sub_orders SET status = $3, updated_at = now(),
                    delivered_at = CASE WHEN $3 = 'delivered' THEN now() ELSE delivered_at END
             WHERE order_id = $1 AND vendor_id = $2",
            order.id,
            r.vendor_id,
            target.as_str()
        )
        .execute(&mut *tx)
        .await?;
        timeline(
            &mut tx,
            order.id,
            &format!("sub_order_{}", target.as_str()),
            &r.actor,
            Some(&vendor_note),
        )
        .await?;
        outbox::emit(
            &mut tx,
            &crate::SCHEMA,
            ctx,
            "orders.sub_order_status_changed",
            serde_json::json!({"order_id": order.id, "order_no": r.order_no, "vendor_id": r.vendor_id, "to": target.as_str()}),
        )
        .await?;
    }
    // The order follows every shipment: a part shipped in several counts as each of them.
    let all_parts = sqlx::query!(
        "SELECT vendor_id, status FROM orders.shipment_parts WHERE order_id = $1",
        order.id
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut units = Vec::with_capacity(statuses.len() + all_parts.len());
    for (sub, status) in subs.iter().zip(&statuses) {
        let parts: Vec<&str> = all_parts
            .iter()
            .filter(|p| p.vendor_id == sub.vendor_id)
            .map(|p| p.status.as_str())
            .collect();
        // A part cancelled as a whole (the order cancelled) is cancelled, whatever its
        // shipments last said.
        if parts.is_empty() || *status == SubOrderStatus::Cancelled {
            units.push(*status);
        } else {
            for p in parts {
                units.push(parse(p)?);
            }
        }
    }
    let to_order = OrderStatus::of_sub_orders(&units);
    // The order never moves back: a status it cannot become from here (a payment problem
    // cancelled it) stays, with the sub-order's move recorded.
    if to_order != from_order && from_order.can_become(to_order) {
        sqlx::query!(
            "UPDATE orders.orders SET status = $2, updated_at = now() WHERE id = $1",
            order.id,
            to_order.as_str()
        )
        .execute(&mut *tx)
        .await?;
        timeline(&mut tx, order.id, to_order.as_str(), &r.actor, None).await?;
        outbox::emit(
            &mut tx,
            &crate::SCHEMA,
            ctx,
            "orders.status_changed",
            serde_json::json!({"order_id": order.id, "order_no": r.order_no, "from": from_order.as_str(), "to": to_order.as_str()}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Fulfilment {
        sub_order: statuses[at],
        order: if from_order.can_become(to_order) {
            to_order
        } else {
            from_order
        },
    })
}

/// Records where `shipment`, one of the shipments of `r.vendor_id`'s part, is (`r.status`),
/// forward only; every shipment of the part (`r.parts`) is known from the first report on, so
/// the part waits for those that have not reported yet. Whether it moved.
async fn record_shipment_part(
    tx: &mut PgConnection,
    order_id: Uuid,
    r: &RecordFulfilment,
    shipment: &str,
) -> Result<bool, Error> {
    let mut all: Vec<&str> = r.parts.iter().map(String::as_str).collect();
    if !all.contains(&shipment) {
        all.push(shipment);
    }
    sqlx::query!(
        "INSERT INTO orders.shipment_parts (order_id, vendor_id, shipment, status)
         SELECT $1, $2, s, 'placed' FROM unnest($3::text[]) AS s
         ON CONFLICT DO NOTHING",
        order_id,
        r.vendor_id,
        &all as &[&str]
    )
    .execute(&mut *tx)
    .await?;
    let current = sqlx::query_scalar!(
        "SELECT status FROM orders.shipment_parts
         WHERE order_id = $1 AND vendor_id = $2 AND shipment = $3 FOR UPDATE",
        order_id,
        r.vendor_id,
        shipment
    )
    .fetch_one(&mut *tx)
    .await?;
    let current = SubOrderStatus::parse(&current)
        .ok_or_else(|| Error::Invalid(format!("unknown status {current}")))?;
    if current.has_reached(r.status) {
        return Ok(false);
    }
    current.transition(r.status)?;
    sqlx::query!(
        "UPDATE orders.shipment_parts SET status = $4, updated_at = now()
         WHERE order_id = $1 AND vendor_id = $2 AND shipment = $3",
        order_id,
        r.vendor_id,
        shipment,
        r.status.as_str()
    )
    .execute(&mut *tx)
    .await?;
    Ok(true)
}

/// The order's lines as a return request is checked against them. A line is delivered when
/// its vendor's part is (every shipment of it).
pub async fn returnable(pool: &PgPool, order_no: &str) -> Result<ReturnableOrder, Error> {
    if !is_order_no(order_no) {
        return Err(Error::NotFound(order_no.to_string()));
    }
    let order = sqlx::query!(
        "SELECT id, customer_email, customer_id, currency FROM orders.orders WHERE order_no = $1",
        order_no
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::NotFound(order_no.to_string()))?;
    let currency = souk_domain::Currency::parse(&order.currency)
        .map_err(|e| Error::Invalid(format!("the order's currency: {e}")))?;
    let rows = sqlx::query!(
        r#"SELECT l.sku, l.title, l.vendor_id, l.quantity, l.refunded_quantity, l.unit_price,
                  CASE WHEN s.status IN ('delivered', 'partially_returned') THEN s.delivered_at END AS delivered_at
           FROM orders.order_lines l JOIN orders.sub_orders s ON s.id = l.sub_order_id
           WHERE l.order_id = $1 ORDER BY l.sku"#,
        order.id
    )
    .fetch_all(pool)
    .await?;
    let lines = rows
        .into_iter()
        .map(|l| {
            Ok(ReturnableLine {
                sku: Sku::parse(&l.sku)
                    .map_err(|e| Error::Invalid(format!("a line's SKU: {e}")))?,
                title: l.title,
                vendor_id: l.vendor_id,
                quantity: l.quantity,
                refunded_quantity: l.refunded_quantity,
                unit_price: souk_domain::Money::new(l.unit_price, currency),
                delivered_at: l.delivered_at,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(ReturnableOrder {
        order_no: order_no.to_string(),
        customer_email: order.customer_email,
        customer_id: order.customer_id.map(|c| c.to_string()),
        currency,
        lines,
    })
}

/// The order a refund is recorded on, locked.
struct RefundedOrder {
    id: Uuid,
    checkout_id: String,
    attempt: i32,
    currency: souk_domain::Currency,
    payment_status: String,
    customer_email: String,
}

impl RefundedOrder {
    fn money(&self, amount: i64) -> souk_domain::Money {
        souk_domain::Money::new(amount, self.currency)
    }
}

async fn lock_for_refund(tx: &mut PgConnection, order_no: &str) -> Result<RefundedOrder, Error> {
    if !is_order_no(order_no) {
        return Err(Error::NotFound(order_no.to_string()));
    }
    let order = sqlx::query!(
        "SELECT id, checkout_id, attempt, currency, payment_status, customer_email
         FROM orders.orders WHERE order_no = $1 FOR UPDATE",
        order_no
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::NotFound(order_no.to_string()))?;
    Ok(RefundedOrder {
        id: order.id,
        checkout_id: order.checkout_id,
        attempt: order.attempt,
        currency: souk_domain::Currency::parse(&order.currency)
            .map_err(|e| Error::Invalid(format!("the order's currency: {e}")))?,
        payment_status: order.payment_status,
        customer_email: order.customer_email,
    })
}

/// What was recorded for `key` already, if anything.
async fn recorded_refund(
    tx: &mut PgConnection,
    order: &RefundedOrder,
    key: &str,
) -> Result<Option<LinesRefunded>, Error> {
    let done = sqlx::query!(
        "SELECT sequence, sku, quantity, amount, fee, postage FROM orders.line_refunds
         WHERE order_id = $1 AND refund_key = $2 ORDER BY sku",
        order.id,
        key
    )
    .fetch_all(&mut *tx)
    .await?;
    let Some(first) = done.first() else {
        return Ok(None);
    };
    let lines = done
        .iter()
        .map(|d| {
            Ok(LineRefund {
                sku: Sku::parse(&d.sku).map_err(|e| Error::Invalid(e.to_string()))?,
                quantity: d.quantity,
                amount: order.money(d.amount),
                fee: (d.fee > 0).then(|| order.money(d.fee)),
                postage: (d.postage > 0).then(|| order.money(d.postage)),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Some(LinesRefunded {
        checkout_id: order.checkout_id.clone(),
        attempt: order.attempt as u32,
        sequence: first.sequence as u32,
        amount: order.money(done.iter().map(|d| d.amount).sum()),
        lines,
        order_refunded: everything_back(tx, order.id).await?,
    }))
}

/// A line as a refund sees it: what it paid (with its share of its vendor's shipping) and
/// what it has given back.
struct RefundableLine {
    sku: String,
    vendor_id: Uuid,
    paid: LinePaid,
    done: LineRefunds,
}

/// The order's lines (only `vendor`'s, if given), by SKU.
async fn refundable_lines(
    tx: &mut PgConnection,
    order_id: Uuid,
    vendor: Option<Uuid>,
) -> Result<Vec<RefundableLine>, Error> {
    let rows = sqlx::query!(
        "SELECT l.sku, l.vendor_id, l.unit_price, l.quantity, l.line_total, l.discount, l.tax,
                l.refunded_quantity, l.refunded_amount, s.shipping
         FROM orders.order_lines l JOIN orders.sub_orders s ON s.id = l.sub_order_id
         WHERE l.order_id = $1 AND ($2::uuid IS NULL OR l.vendor_id = $2) ORDER BY l.sku",
        order_id,
        vendor
    )
    .fetch_all(&mut *tx)
    .await?;
    // Each vendor's shipping, spread over its lines by value.
    let shipping: BTreeMap<Uuid, i64> = rows.iter().map(|r| (r.vendor_id, r.shipping)).collect();
    let shares = souk_domain::refund::shipping_by_line(
        &rows
            .iter()
            .map(|r| (r.vendor_id, r.sku.as_str(), r.line_total))
            .collect::<Vec<_>>(),
        |v| shipping.get(&v).copied().unwrap_or_default(),
    );
    Ok(rows
        .into_iter()
        .zip(shares)
        .map(|(r, shipping)| RefundableLine {
            sku: r.sku,
            vendor_id: r.vendor_id,
            paid: LinePaid {
                unit_price: r.unit_price,
                quantity: i64::from(r.quantity),
                discount: r.discount,
                tax: r.tax,
                shipping,
            },
            done: LineRefunds {
                units: i64::from(r.refunded_quantity),
                amount: r.refunded_amount,
            },
        })
        .collect())
}

/// The next payment refund sequence of the order: one per refund key.
async fn next_refund_sequence(tx: &mut PgConnection, order_id: Uuid) -> Result<i64, Error> {
    Ok(LINE_REFUND_SEQUENCES as i64
        + sqlx::query_scalar!(
            r#"SELECT count(DISTINCT refund_key) AS "n!" FROM orders.line_refunds WHERE order_id = $1"#,
            order_id
        )
        .fetch_one(&mut *tx)
        .await?)
}

/// One line's part of a refund.
struct Refunded {
    sku: String,
    vendor_id: Uuid,
    quantity: i32,
    /// Paid back.
    amount: i64,
    /// Kept of what the units are worth (a restocking fee).
    fee: i64,
    /// Kept of it for the return's postage the customer pays.
    postage: i64,
}

/// Why a refund is recorded: the `kind` of `orders.line_refunds`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Why {
    Cancel,
    Return,
    Goodwill,
}

impl Why {
    fn as_str(self) -> &'static str {
        match self {
            Why::Cancel => "cancel",
            Why::Return => "return",
            Why::Goodwill => "goodwill",
        }
    }
}

/// Records `refunds` under `key`: each line's units and money given back (units that came
/// back in a return as returned), with a timeline entry and an event. Answers the refund.
#[allow(clippy::too_many_arguments)]
async fn record_refund(
    tx: &mut PgConnection,
    ctx: &Ctx,
    order: &RefundedOrder,
    order_no: &str,
    key: &str,
    why: Why,
    refunds: &[Refunded],
    reason: &str,
    actor: &str,
) -> Result<LinesRefunded, Error> {
    let sequence = next_refund_sequence(tx, order.id).await?;
    for r in refunds {
        sqlx::query!(
            "UPDATE orders.order_lines SET refunded_quantity = refunded_quantity + $3,
                    refunded_amount = refunded_amount + $4,
                    returned_quantity = returned_quantity + CASE WHEN $5 THEN $3 ELSE 0 END,
                    updated_at = now()
             WHERE order_id = $1 AND sku = $2",
            order.id,
            r.sku,
            r.quantity,
            r.amount,
            why == Why::Return
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO orders.line_refunds (order_id, refund_key, sequence, sku, quantity, amount, reason, actor, kind, fee, postage)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            order.id,
            key,
            sequence as i32,
            r.sku,
            r.quantity,
            r.amount,
            reason,
            actor,
            why.as_str(),
            r.fee,
            r.postage
        )
        .execute(&mut *tx)
        .await?;
    }
    let total = order.money(refunds.iter().map(|l| l.amount).sum());
    let what = refunds
        .iter()
        .map(|l| {
            let mut fee = match l.fee {
                0 => String::new(),
                f => format!(", less a restocking fee of {}", order.money(f)),
            };
            if l.postage > 0 {
                fee.push_str(&format!(
                    ", less return postage of {}",
                    order.money(l.postage)
                ));
            }
            match l.quantity {
                0 => format!("{} ({}{fee})", l.sku, order.money(l.amount)),
                q => format!("{q} × {} ({}{fee})", l.sku, order.money(l.amount)),
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let vendors: Vec<String> = refunds
        .iter()
        .map(|r| r.vendor_id)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|v| v.to_string())
        .collect();
    let (event, note) = match why {
        Why::Goodwill => (
            "goodwill_refund",
            format!("{what}, {total} to refund: {reason}"),
        ),
        Why::Cancel | Why::Return => (
            "lines_refunded",
            format!(
                "vendor {}: {what}, {total} to refund: {reason}",
                vendors.join(", ")
            ),
        ),
    };
    timeline(&mut *tx, order.id, event, actor, Some(&note)).await?;
    outbox::emit(
        &mut *tx,
        &crate::SCHEMA,
        ctx,
        "orders.lines_refunded",
        serde_json::json!({
            "order_id": order.id, "order_no": order_no, "vendor_ids": vendors,
            "refund_key": key, "kind": why.as_str(), "amount": total, "reason": reason,
            "lines": refunds.iter().map(|l| serde_json::json!({"sku": l.sku, "vendor_id": l.vendor_id, "quantity": l.quantity, "amount": order.money(l.amount), "fee": order.money(l.fee), "postage": order.money(l.postage)})).collect::<Vec<_>>(),
        }),
    )
    .await?;
    let lines = refunds
        .iter()
        .map(|r| {
            Ok(LineRefund {
                sku: Sku::parse(&r.sku).map_err(|e| Error::Invalid(e.to_string()))?,
                quantity: r.quantity,
                amount: order.money(r.amount),
                fee: (r.fee > 0).then(|| order.money(r.fee)),
                postage: (r.postage > 0).then(|| order.money(r.postage)),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(LinesRefunded {
        checkout_id: order.checkout_id.clone(),
        attempt: order.attempt as u32,
        sequence: sequence as u32,
        amount: total,
        lines,
        order_refunded: everything_back(tx, order.id).await?,
    })
}

/// Units of `units` lines, by the one rule: each line named once, none beyond what is left.
fn units_refund(
    lines: &[RefundableLine],
    units: &[LineUnits],
    fees: &[LineFee],
    postage: i64,
) -> Result<Vec<Refunded>, Error> {
    for (n, f) in fees.iter().enumerate() {
        if !units.iter().any(|u| u.sku == f.sku) || fees[..n].iter().any(|g| g.sku == f.sku) {
            return Err(Error::Invalid(format!(
                "a fee for {} must be for one of the lines given back, once",
                f.sku
            )));
        }
        if f.bps > WHOLE_BPS {
            return Err(Error::Invalid(format!(
                "a fee of {} basis points of {} is more than all of it",
                f.bps, f.sku
            )));
        }
    }
    let mut refunds = Vec::with_capacity(units.len());
    for (n, wanted) in units.iter().enumerate() {
        if units[..n].iter().any(|w| w.sku == wanted.sku) {
            return Err(Error::Invalid(format!("{} is named twice", wanted.sku)));
        }
        let l = lines
            .iter()
            .find(|l| l.sku == wanted.sku.as_str())
            .ok_or_else(|| Error::Invalid(format!("{} is not one of the lines", wanted.sku)))?;
        let amount = l
            .paid
            .refund(l.done, i64::from(wanted.quantity))
            .map_err(|e| match e {
                RefundError::TooMany { .. } => Error::Invalid(format!(
                    "{} units of {} cannot be given back: {} of {} are left",
                    wanted.quantity,
                    wanted.sku,
                    l.paid.quantity - l.done.units,
                    l.paid.quantity
                )),
                other => Error::Invalid(other.to_string()),
            })?;
        let bps = fees
            .iter()
            .find(|f| f.sku == wanted.sku)
            .map_or(0, |f| f.bps);
        let Deducted { refund, fee } = less_fee(amount, bps);
        refunds.push(Refunded {
            sku: l.sku.clone(),
            vendor_id: l.vendor_id,
            quantity: wanted.quantity,
            amount: refund,
            fee,
            postage: 0,
        });
    }
    if postage > 0 {
        let worths: Vec<i64> = refunds.iter().map(|r| r.amount).collect();
        for (r, kept) in refunds.iter_mut().zip(postage_kept(postage, &worths)) {
            r.amount -= kept;
            r.postage = kept;
        }
    }
    Ok(refunds)
}

/// Records units of `r.vendor_id`'s lines as given back and what each is worth, by
/// [`souk_domain::refund`], with a timeline entry and an event, once per `r.refund_key` (again:
/// what was recorded then). Each key gets the next payment refund sequence of the order. Units
/// that came back in a return move the vendor's part to partially returned or returned, and
/// the order with it.
pub async fn refund_lines(
    pool: &PgPool,
    ctx: &Ctx,
    r: &RefundLines,
) -> Result<LinesRefunded, Error> {
    if r.lines.is_empty() {
        return Err(Error::Invalid("no lines to give back".into()));
    }
    let mut tx = pool.begin().await?;
    let order = lock_for_refund(&mut tx, &r.order_no).await?;
    if let Some(done) = recorded_refund(&mut tx, &order, &r.refund_key).await? {
        return Ok(done);
    }
    let lines = refundable_lines(&mut tx, order.id, Some(r.vendor_id)).await?;
    if lines.is_empty() {
        return Err(Error::NotFound(format!(
            "{}: no part of it is vendor {}",
            r.order_no, r.vendor_id
        )));
    }
    if (!r.fees.is_empty() || r.postage.is_some()) && r.kind != RefundKind::Return {
        return Err(Error::Invalid(
            "only units that came back in a return may keep a fee or postage".into(),
        ));
    }
    let postage = match r.postage {
        None => 0,
        Some(p) if p.currency == order.currency && p.amount >= 0 => p.amount,
        Some(p) => {
            return Err(Error::Invalid(format!(
                "postage of {p} cannot be kept from a refund in {}",
                order.currency
            )));
        }
    };
    let refunds = units_refund(&lines, &r.lines, &r.fees, postage)?;
    let why = match r.kind {
        RefundKind::Cancel => Why::Cancel,
        RefundKind::Return => Why::Return,
    };
    let done = record_refund(
        &mut tx,
        ctx,
        &order,
        &r.order_no,
        &r.refund_key,
        why,
        &refunds,
        &r.reason,
        &r.actor,
    )
    .await?;
    if why == Why::Return {
        returned(&mut tx, ctx, &order, &r.order_no, r.vendor_id, &r.actor).await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// After units came back: the vendor's part is returned when every unit that was not
/// cancelled (or kept by the customer with a goodwill refund) came back, partially returned
/// otherwise; the order follows its parts.
async fn returned(
    tx: &mut PgConnection,
    ctx: &Ctx,
    order: &RefundedOrder,
    order_no: &str,
    vendor_id: Uuid,
    actor: &str,
) -> Result<(), Error> {
    let whole = sqlx::query_scalar!(
        r#"SELECT bool_and(l.returned_quantity = l.quantity - COALESCE(c.cancelled, 0)) AS "whole!"
           FROM orders.order_lines l
           LEFT JOIN (SELECT sku, sum(quantity) AS cancelled FROM orders.line_refunds
                      WHERE order_id = $1 AND kind IN ('cancel', 'goodwill') AND released_at IS NULL
                      GROUP BY sku) c ON c.sku = l.sku
           WHERE l.order_id = $1 AND l.vendor_id = $2"#,
        order.id,
        vendor_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let subs = sqlx::query!(
        "SELECT vendor_id, status FROM orders.sub_orders WHERE order_id = $1",
        order.id
    )
    .fetch_all(&mut *tx)
    .await?;
    let parse = |s: &str| {
        SubOrderStatus::parse(s).ok_or_else(|| Error::Invalid(format!("unknown status {s}")))
    };
    let target = if whole {
        SubOrderStatus::Returned
    } else {
        SubOrderStatus::PartiallyReturned
    };
    let mut statuses = Vec::with_capacity(subs.len());
    for sub in &subs {
        let mut status = parse(&sub.status)?;
        if sub.vendor_id == vendor_id && status != target && status.can_become(target) {
            status = target;
            sqlx::query!(
                "UPDATE orders.sub_orders SET status = $3, updated_at = now()
                 WHERE order_id = $1 AND vendor_id = $2",
                order.id,
                vendor_id,
                target.as_str()
            )
            .execute(&mut *tx)
            .await?;
            let note = format!("vendor {vendor_id}");
            let event = format!("sub_order_{}", target.as_str());
            timeline(&mut *tx, order.id, &event, actor, Some(&note)).await?;
            outbox::emit(
                &mut *tx,
                &crate::SCHEMA,
                ctx,
                "orders.sub_order_status_changed",
                serde_json::json!({"order_id": order.id, "order_no": order_no, "vendor_id": vendor_id, "to": target.as_str()}),
            )
            .await?;
        }
        statuses.push(status);
    }
    let from = sqlx::query_scalar!("SELECT status FROM orders.orders WHERE id = $1", order.id)
        .fetch_one(&mut *tx)
        .await?;
    let from = OrderStatus::parse(&from)
        .ok_or_else(|| Error::Invalid(format!("unknown status {from}")))?;
    let to = OrderStatus::of_sub_orders(&statuses);
    if to != from && from.can_become(to) {
        sqlx::query!(
            "UPDATE orders.orders SET status = $2, updated_at = now() WHERE id = $1",
            order.id,
            to.as_str()
        )
        .execute(&mut *tx)
        .await?;
        timeline(&mut *tx, order.id, to.as_str(), actor, None).await?;
        outbox::emit(
            &mut *tx,
            &crate::SCHEMA,
            ctx,
            "orders.status_changed",
            serde_json::json!({"order_id": order.id, "order_no": order_no, "from": from.as_str(), "to": to.as_str()}),
        )
        .await?;
    }
    Ok(())
}

/// Records staff's refund without a return: units of lines by the one rule (they stay with
/// the customer), or an amount spread over lines by what each has left; once per key (again:
/// what was recorded). Beyond the bounds, or before the payment is captured: refused with a
/// code.
pub async fn refund_goodwill(
    pool: &PgPool,
    ctx: &Ctx,
    r: &RefundGoodwill,
) -> Result<Goodwill, Error> {
    let refused = |code: &str, message: String| {
        Ok(Goodwill::Refused {
            code: code.into(),
            message,
        })
    };
    let mut tx = pool.begin().await?;
    let order = lock_for_refund(&mut tx, &r.order_no).await?;
    if let Some(refund) = recorded_refund(&mut tx, &order, &r.refund_key).await? {
        return Ok(Goodwill::Refunding {
            refund,
            customer_email: order.customer_email,
        });
    }
    let refundable = [
        PaymentStatus::Captured.as_str(),
        PaymentStatus::PartiallyRefunded.as_str(),
    ];
    if order.payment_status == PaymentStatus::Refunded.as_str() {
        return refused(
            "exceeds_refundable",
            "the order is refunded in full: nothing is left to refund".into(),
        );
    }
    if !refundable.contains(&order.payment_status.as_str()) {
        return refused(
            "not_captured",
            format!(
                "the order's payment is {}: nothing can be refunded",
                order.payment_status
            ),
        );
    }
    let lines = refundable_lines(&mut tx, order.id, None).await?;
    // Units the customer keeps: only of parts they have.
    if r.amount.is_none() {
        let skus = undelivered(&mut tx, order.id, &lines, &r.lines).await?;
        if !skus.is_empty() {
            return refused(
                "not_delivered",
                format!(
                    "{} not delivered yet: refund an amount, or have the vendor cancel units it cannot ship",
                    skus.join(", ")
                ),
            );
        }
    }
    let refunds = match &r.amount {
        None => match units_refund(&lines, &r.lines, &[], 0) {
            Ok(refunds) if !refunds.is_empty() => refunds,
            Ok(_) => return Err(Error::Invalid("name units or an amount to refund".into())),
            Err(Error::Invalid(m)) if m.contains("cannot be given back") => {
                return refused("exceeds_refundable", m);
            }
            Err(Error::Invalid(m)) => return refused("not_in_order", m),
            Err(e) => return Err(e),
        },
        Some(amount) => {
            if amount.currency != order.currency {
                return refused(
                    "currency_mismatch",
                    format!("the order is paid in {}", order.currency.code()),
                );
            }
            let mut at = Vec::new();
            for sku in &r.skus {
                match lines.iter().position(|l| l.sku == sku.as_str()) {
                    Some(i) if !at.contains(&i) => at.push(i),
                    Some(_) => return refused("not_in_order", format!("{sku} is named twice")),
                    None => {
                        return refused("not_in_order", format!("{sku} is not one of the lines"));
                    }
                }
            }
            if at.is_empty() {
                at = (0..lines.len()).collect();
            }
            let left: Vec<i64> = at
                .iter()
                .map(|i| lines[*i].paid.left(lines[*i].done))
                .collect();
            let shares = match souk_domain::refund::spread(amount.amount, &left) {
                Ok(shares) => shares,
                Err(_) => {
                    return refused(
                        "exceeds_refundable",
                        format!(
                            "{amount} cannot be refunded: {} is left to refund of {}",
                            order.money(left.iter().sum()),
                            if r.skus.is_empty() {
                                "the order"
                            } else {
                                "those lines"
                            }
                        ),
                    );
                }
            };
            at.iter()
                .zip(shares)
                .filter(|(_, share)| *share > 0)
                .map(|(i, share)| Refunded {
                    sku: lines[*i].sku.clone(),
                    vendor_id: lines[*i].vendor_id,
                    quantity: 0,
                    amount: share,
                    fee: 0,
                    postage: 0,
                })
                .collect()
        }
    };
    if refunds.iter().all(|l| l.amount == 0) {
        return refused(
            "exceeds_refundable",
            "nothing is left to refund of those lines".into(),
        );
    }
    let done = record_refund(
        &mut tx,
        ctx,
        &order,
        &r.order_no,
        &r.refund_key,
        Why::Goodwill,
        &refunds,
        &r.reason,
        &r.actor,
    )
    .await?;
    tx.commit().await?;
    Ok(Goodwill::Refunding {
        refund: done,
        customer_email: order.customer_email,
    })
}

/// The SKUs of `units` whose vendor's part the customer does not have yet (not delivered, or
/// cancelled), each once.
async fn undelivered(
    tx: &mut PgConnection,
    order_id: Uuid,
    lines: &[RefundableLine],
    units: &[LineUnits],
) -> Result<Vec<String>, Error> {
    let with_customer = sqlx::query_scalar!(
        "SELECT vendor_id FROM orders.sub_orders
         WHERE order_id = $1 AND status IN ('delivered', 'partially_returned', 'returned')",
        order_id
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut skus: Vec<String> = Vec::new();
    for u in units {
        if let Some(l) = lines.iter().find(|l| l.sku == u.sku.as_str())
            && !with_customer.contains(&l.vendor_id)
            && !skus.contains(&l.sku)
        {
            skus.push(l.sku.clone());
        }
    }
    Ok(skus)
}

/// Gives back to its lines what a goodwill refund the payment provider refused took from
/// them: its rows are kept, marked released, and their money and units are left to refund
/// again; with a timeline entry and an event. Once: a released refund stays released.
pub async fn release_refund(pool: &PgPool, ctx: &Ctx, r: &ReleaseRefund) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let order = lock_for_refund(&mut tx, &r.order_no).await?;
    let rows = sqlx::query!(
        "UPDATE orders.line_refunds SET released_at = now()
         WHERE order_id = $1 AND refund_key = $2 AND kind = 'goodwill' AND released_at IS NULL
         RETURNING sku, quantity, amount",
        order.id,
        r.refund_key
    )
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    for row in &rows {
        sqlx::query!(
            "UPDATE orders.order_lines SET refunded_quantity = refunded_quantity - $3,
                    refunded_amount = refunded_amount - $4, updated_at = now()
             WHERE order_id = $1 AND sku = $2",
            order.id,
            row.sku,
            row.quantity,
            row.amount
        )
        .execute(&mut *tx)
        .await?;
    }
    let total = order.money(rows.iter().map(|row| row.amount).sum());
    let note = format!(
        "{total} was not refunded ({}): it is left to refund",
        r.reason
    );
    timeline(&mut tx, order.id, "refund_released", &r.actor, Some(&note)).await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "orders.refund_released",
        serde_json::json!({
            "order_id": order.id, "order_no": r.order_no, "refund_key": r.refund_key,
            "amount": total, "reason": r.reason,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether the order has given back everything: every unit of every line, or all it paid.
async fn everything_back(tx: &mut PgConnection, order_id: Uuid) -> Result<bool, Error> {
    Ok(sqlx::query_scalar!(
        r#"SELECT (bool_and(l.refunded_quantity = l.quantity)
                   AND NOT EXISTS (SELECT 1 FROM orders.line_refunds f
                                   WHERE f.order_id = $1 AND (f.fee > 0 OR f.postage > 0)
                                     AND f.released_at IS NULL))
                  OR sum(l.refunded_amount) >= max(o.total) AS "all!"
           FROM orders.order_lines l JOIN orders.orders o ON o.id = l.order_id
           WHERE l.order_id = $1"#,
        order_id
    )
    .fetch_one(tx)
    .await?)
}

#[derive(Debug, Clone, PartialEq)]
pub struct LineRow {
    pub sku: String,
    pub title: String,
    pub vendor_id: Uuid,
    pub quantity: i32,
    pub unit_price: i64,
    pub line_total: i64,
    pub discount: i64,
    pub tax: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubOrderRow {
    pub id: Uuid,
    pub vendor_id: Uuid,
    pub status: String,
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub shipping: i64,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    pub event: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub note: Option<String>,
}

/// One vendor's part of an order, for the vendor's order list.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorOrderSummary {
    pub sub_order_id: Uuid,
    pub order_no: String,
    pub status: String,
    pub currency: String,
    pub total: i64,
    pub units: i64,
    pub created_at: DateTime<Utc>,
}

/// A vendor's sub-orders, newest first, `limit` after `after`.
pub async fn vendor_orders(
    pool: &PgPool,
    vendor_id: Uuid,
    after: Option<souk_domain::cursor::TimeCursor>,
    limit: i64,
) -> Result<Vec<VendorOrderSummary>, Error> {
    Ok(sqlx::query_as!(
        VendorOrderSummary,
        r#"SELECT s.id AS sub_order_id, o.order_no, s.status, o.currency AS "currency: String",
                  s.total, s.created_at,
                  (SELECT COALESCE(sum(l.quantity), 0) FROM orders.order_lines l
                    WHERE l.sub_order_id = s.id)::bigint AS "units!"
             FROM orders.sub_orders s JOIN orders.orders o ON o.id = s.order_id
            WHERE s.vendor_id = $1
              AND ($2::timestamptz IS NULL OR (s.created_at, s.id) < ($2, $3::uuid))
            ORDER BY s.created_at DESC, s.id DESC
            LIMIT $4"#,
        vendor_id,
        after.as_ref().map(|c| c.created_at),
        after.as_ref().map(|c| c.id),
        limit
    )
    .fetch_all(pool)
    .await?)
}

impl OrderDetail {
    /// Only `vendor`'s part: its lines and sub-order, with the sub-order's totals, and
    /// nothing about the customer's payment or other vendors. `None` if it has no part.
    pub fn for_vendor(mut self, vendor: Uuid) -> Option<OrderDetail> {
        let sub = self
            .sub_orders
            .iter()
            .find(|s| s.vendor_id == vendor)?
            .clone();
        self.lines.retain(|l| l.vendor_id == vendor);
        self.subtotal = sub.subtotal;
        self.discount = sub.discount;
        self.tax = sub.tax;
        self.shipping = sub.shipping;
        self.total = sub.total;
        self.status = sub.status.clone();
        self.sub_orders = vec![sub];
        // The checkout id names the cart: for a guest, the key to their checkout and cart.
        self.checkout_id = String::new();
        self.attempt = 0;
        self.customer_email = String::new();
        self.customer_id = None;
        self.payment_provider = String::new();
        self.payment_reference = String::new();
        self.coupon_code = None;
        self.timeline.clear();
        Some(self)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderDetail {
    pub id: Uuid,
    pub order_no: String,
    pub checkout_id: String,
    pub attempt: i32,
    pub customer_email: String,
    pub status: String,
    pub payment_status: String,
    pub currency: String,
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub shipping: i64,
    pub total: i64,
    pub coupon_code: Option<String>,
    pub shipping_address: serde_json::Value,
    pub payment_provider: String,
    pub payment_reference: String,
    pub placed_at: DateTime<Utc>,
    pub lines: Vec<LineRow>,
    pub sub_orders: Vec<SubOrderRow>,
    pub timeline: Vec<TimelineRow>,
    pub customer_id: Option<Uuid>,
}

/// An order in its customer's order list.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerOrderSummary {
    pub id: Uuid,
    pub order_no: String,
    pub status: String,
    pub payment_status: String,
    pub currency: String,
    pub total: i64,
    pub placed_at: DateTime<Utc>,
}

/// A customer's orders, newest first, `limit` after `after`.
pub async fn customer_orders(
    pool: &PgPool,
    customer: Uuid,
    after: Option<souk_domain::cursor::TimeCursor>,
    limit: i64,
) -> Result<Vec<CustomerOrderSummary>, Error> {
    Ok(sqlx::query_as!(
        CustomerOrderSummary,
        r#"SELECT id, order_no, status, payment_status, currency AS "currency: String", total, placed_at
             FROM orders.orders
            WHERE customer_id = $1
              AND ($2::timestamptz IS NULL OR (placed_at, id) < ($2, $3::uuid))
            ORDER BY placed_at DESC, id DESC
            LIMIT $4"#,
        customer,
        after.as_ref().map(|c| c.created_at),
        after.as_ref().map(|c| c.id),
        limit
    )
    .fetch_all(pool)
    .await?)
}

/// An order with its lines, sub-orders and timeline, by order number.
pub async fn by_order_no(pool: &PgPool, order_no: &str) -> Result<Option<OrderDetail>, Error> {
    if !is_order_no(order_no) {
        return Ok(None);
    }
    let Some(o) = sqlx::query!(
        r#"SELECT id, order_no, checkout_id, attempt, customer_email, status, payment_status,
                  currency AS "currency: String", subtotal, discount, tax, shipping, total, coupon_code,
                  shipping_address, payment_provider, payment_reference, placed_at, customer_id
           FROM orders.orders WHERE order_no = $1"#,
        order_no
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let lines = sqlx::query_as!(
        LineRow,
        r#"SELECT sku, title, vendor_id, quantity, unit_price, line_total, discount, tax
           FROM orders.order_lines WHERE order_id = $1 ORDER BY vendor_id, sku"#,
        o.id
    )
    .fetch_all(pool)
    .await?;
    let sub_orders = sqlx::query_as!(
        SubOrderRow,
        r#"SELECT id, vendor_id, status, subtotal, discount, tax, shipping, total
           FROM orders.sub_orders WHERE order_id = $1 ORDER BY vendor_id"#,
        o.id
    )
    .fetch_all(pool)
    .await?;
    let timeline = sqlx::query_as!(
        TimelineRow,
        "SELECT event, at, actor, note FROM orders.timeline WHERE order_id = $1 ORDER BY id",
        o.id
    )
    .fetch_all(pool)
    .await?;
    Ok(Some(OrderDetail {
        id: o.id,
        order_no: o.order_no,
        checkout_id: o.checkout_id,
        attempt: o.attempt,
        customer_email: o.customer_email,
        status: o.status,
        payment_status: o.payment_status,
        currency: o.currency,
        subtotal: o.subtotal,
        discount: o.discount,
        tax: o.tax,
        shipping: o.shipping,
        total: o.total,
        coupon_code: o.coupon_code,
        shipping_address: o.shipping_address,
        payment_provider: o.payment_provider,
        payment_reference: o.payment_reference,
        placed_at: o.placed_at,
        lines,
        sub_orders,
        timeline,
        customer_id: o.customer_id,
    }))
}

/// The order of a checkout attempt, if placed.
pub async fn order_no_for(
    pool: &PgPool,
    checkout_id: &str,
    attempt: u32,
) -> Result<Option<String>, Error> {
    Ok(sqlx::query_scalar!(
        "SELECT order_no FROM orders.orders WHERE checkout_id = $1 AND attempt = $2",
        checkout_id,
        attempt as i32
    )
    .fetch_optional(pool)
    .await?)
}
