//! SQL for the shipping schema. Every status change goes through
//! [`ShipmentStatus::transition`] (or, for a carrier's report, [`ShipmentStatus::track`]),
//! is written to the shipment's history with its actor, and emits its event in the same
//! transaction. Each write is idempotent: a retried step that already happened answers what
//! it did the first time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use souk_contracts::failures;
use souk_contracts::orders::Address;
use souk_contracts::shipping::AlertKind;
use souk_domain::shipment::{IllegalTransition, Parcel, ShipmentStatus, Tracking};
use souk_domain::{Currency, Money, Sku};
use souk_kit::error::{Described, Kind};
use souk_kit::{Ctx, outbox};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::carrier::{Label, Quote, Rate, TrackingUpdate};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("shipment {0} does not exist")]
    NotFound(String),
    #[error(transparent)]
    Transition(#[from] IllegalTransition),
    /// A second, different answer to a step already done (another parcel, another label).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Described for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::NotFound(_) => Kind::NotFound,
            Error::Transition(_) | Error::Conflict(_) => Kind::Conflict,
            Error::Invalid(_) => Kind::Invalid,
            Error::Db(_) => Kind::Unavailable,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "shipment_not_found",
            Error::Transition(_) => "illegal_transition",
            Error::Conflict(_) => "shipment_conflict",
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

pub type Result<T> = std::result::Result<T, Error>;

/// A line of the sub-order to ship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub sku: Sku,
    pub title: String,
    pub quantity: i32,
    /// Units the vendor could not ship.
    pub cancelled: i32,
}

/// What a shipment starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShipment {
    /// `shipment-<order_no>-<vendor>`: the idempotency key.
    pub workflow_id: String,
    pub order_no: String,
    pub vendor_id: Uuid,
    pub customer_email: String,
    pub warehouse: String,
    pub ship_to: Address,
    pub currency: Currency,
    pub lines: Vec<(Sku, String, i32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    pub id: Uuid,
    pub workflow_id: String,
    pub order_no: String,
    pub vendor_id: Uuid,
    pub customer_email: String,
    pub status: ShipmentStatus,
    pub warehouse: String,
    pub ship_to: Address,
    pub currency: Currency,
    pub carrier: Option<String>,
    pub carrier_shipment: Option<String>,
    pub rate_id: Option<String>,
    pub tracking_code: Option<String>,
    pub label_url: Option<String>,
    pub tracking_url: Option<String>,
    pub last_tracked_at: Option<DateTime<Utc>>,
    pub parcel: Option<Parcel>,
    pub lines: Vec<Line>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// A return parcel's pick-up address (the customer's); none for a parcel to a customer.
    /// A return parcel goes to `ship_to`, the address of `warehouse`.
    pub ship_from: Option<Address>,
}

impl Shipment {
    /// A customer's parcel back to a warehouse.
    pub fn is_return(&self) -> bool {
        self.ship_from.is_some()
    }
}

/// One status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub from: Option<ShipmentStatus>,
    pub to: ShipmentStatus,
    pub actor: String,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

/// A tracking event as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub carrier: String,
    pub event_id: String,
    pub carrier_status: String,
    pub status: Option<ShipmentStatus>,
    pub at: DateTime<Utc>,
    pub location: Option<String>,
    pub message: Option<String>,
    pub outcome: String,
}

/// What receiving a tracking event came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The carrier delivered it before: nothing was recorded again.
    pub duplicate: bool,
    /// The shipment (id, workflow id) the event still waits to be applied to: tell its
    /// workflow (again, for a redelivery whose first telling may have been lost; the workflow
    /// takes each event once). None once applied, or for a tracking code no shipment has.
    pub pending_for: Option<(Uuid, String)>,
    /// A shipment has the event's tracking code (false: the event is kept for no one).
    pub known: bool,
}

struct Row {
    id: Uuid,
    workflow_id: String,
    order_no: String,
    vendor_id: Uuid,
    customer_email: String,
    status: String,
    warehouse: String,
    ship_to: serde_json::Value,
    currency: String,
    carrier: Option<String>,
    carrier_shipment: Option<String>,
    rate_id: Option<String>,
    tracking_code: Option<String>,
    label_url: Option<String>,
    tracking_url: Option<String>,
    last_tracked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    kind: String,
    ship_from: Option<serde_json::Value>,
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Db(sqlx::Error::Decode(what.to_string().into()))
}

fn status(s: &str) -> Result<ShipmentStatus> {
    ShipmentStatus::parse(s).ok_or_else(|| corrupt(format!("unknown shipment status `{s}`")))
}

async fn load(conn: &mut PgConnection, row: Row) -> Result<Shipment> {
    let lines = sqlx::query!(
        "SELECT sku, title, quantity, cancelled FROM shipping.shipment_lines
         WHERE shipment_id = $1 ORDER BY sku",
        row.id
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|l| {
        Ok(Line {
            sku: Sku::parse(&l.sku).map_err(corrupt)?,
            title: l.title,
            quantity: l.quantity,
            cancelled: l.cancelled,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let parcel = sqlx::query!(
        "SELECT weight_grams, length_mm, width_mm, height_mm FROM shipping.packages
         WHERE shipment_id = $1 ORDER BY seq LIMIT 1",
        row.id
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|p| Parcel {
        weight_grams: p.weight_grams as u32,
        length_mm: p.length_mm as u32,
        width_mm: p.width_mm as u32,
        height_mm: p.height_mm as u32,
    });
    Ok(Shipment {
        id: row.id,
        workflow_id: row.workflow_id,
        order_no: row.order_no,
        vendor_id: row.vendor_id,
        customer_email: row.customer_email,
        status: status(&row.status)?,
        warehouse: row.warehouse,
        ship_to: serde_json::from_value(row.ship_to).map_err(corrupt)?,
        currency: Currency::parse(&row.currency).map_err(corrupt)?,
        carrier: row.carrier,
        carrier_shipment: row.carrier_shipment,
        rate_id: row.rate_id,
        tracking_code: row.tracking_code,
        label_url: row.label_url,
        tracking_url: row.tracking_url,
        last_tracked_at: row.last_tracked_at,
        parcel,
        lines,
        created_at: row.created_at,
        updated_at: row.updated_at,
        ship_from: match (row.kind.as_str(), row.ship_from) {
            ("outbound", None) => None,
            ("return", Some(from)) => Some(serde_json::from_value(from).map_err(corrupt)?),
            (kind, _) => return Err(corrupt(format!("a shipment of kind `{kind}`"))),
        },
    })
}

/// The shipment `id`, locked for the rest of the transaction when `lock` is set.
async fn fetch(conn: &mut PgConnection, id: Uuid, lock: bool) -> Result<Shipment> {
    let row = if lock {
        sqlx::query_as!(
            Row,
            "SELECT id, workflow_id, order_no, vendor_id, customer_email, status, warehouse,
                    ship_to, currency, carrier, carrier_shipment, rate_id, tracking_code,
                    label_url, tracking_url, last_tracked_at, created_at, updated_at, kind,
                    ship_from
             FROM shipping.shipments WHERE id = $1 FOR UPDATE",
            id
        )
        .fetch_optional(&mut *conn)
        .await?
    } else {
        sqlx::query_as!(
            Row,
            "SELECT id, workflow_id, order_no, vendor_id, customer_email, status, warehouse,
                    ship_to, currency, carrier, carrier_shipment, rate_id, tracking_code,
                    label_url, tracking_url, last_tracked_at, created_at, updated_at, kind,
                    ship_from
             FROM shipping.shipments WHERE id = $1",
            id
        )
        .fetch_optional(&mut *conn)
        .await?
    };
    let row = row.ok_or_else(|| Error::NotFound(id.to_string()))?;
    load(conn, row).await
}

/// Outbound shipments, newest first, `limit` after `after`: `vendor`'s (every vendor's if
/// none), in `status` and with an `alert` of that kind, if given. (Return parcels are seen in
/// their returns.)
pub async fn list(
    pool: &PgPool,
    vendor: Option<Uuid>,
    status: Option<ShipmentStatus>,
    alert: Option<AlertKind>,
    after: Option<souk_domain::cursor::TimeCursor>,
    limit: i64,
) -> Result<Vec<Shipment>> {
    let rows = sqlx::query_as!(
        Row,
        "SELECT id, workflow_id, order_no, vendor_id, customer_email, status, warehouse,
                ship_to, currency, carrier, carrier_shipment, rate_id, tracking_code,
                label_url, tracking_url, last_tracked_at, created_at, updated_at, kind,
                ship_from
         FROM shipping.shipments s
         WHERE kind = 'outbound' AND ($1::uuid IS NULL OR vendor_id = $1)
           AND ($2::text IS NULL OR status = $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
           AND ($6::text IS NULL OR EXISTS (
                 SELECT 1 FROM shipping.alerts a WHERE a.shipment_id = s.id AND a.kind = $6))
         ORDER BY created_at DESC, id DESC
         LIMIT $5",
        vendor,
        status.map(ShipmentStatus::as_str),
        after.as_ref().map(|c| c.created_at),
        after.as_ref().map(|c| c.id),
        limit,
        alert.map(AlertKind::as_str)
    )
    .fetch_all(pool)
    .await?;
    let mut conn = pool.acquire().await?;
    let mut shipments = Vec::with_capacity(rows.len());
    for row in rows {
        shipments.push(load(&mut conn, row).await?);
    }
    Ok(shipments)
}

/// The outbound shipments of order `order_no` (only `vendor`'s, if given), oldest first.
pub async fn for_order(
    pool: &PgPool,
    order_no: &str,
    vendor: Option<Uuid>,
) -> Result<Vec<Shipment>> {
    let rows = sqlx::query_as!(
        Row,
        "SELECT id, workflow_id, order_no, vendor_id, customer_email, status, warehouse,
                ship_to, currency, carrier, carrier_shipment, rate_id, tracking_code,
                label_url, tracking_url, last_tracked_at, created_at, updated_at, kind,
                ship_from
         FROM shipping.shipments
         WHERE order_no = $1 AND kind = 'outbound' AND ($2::uuid IS NULL OR vendor_id = $2)
         ORDER BY created_at, id",
        order_no,
        vendor
    )
    .fetch_all(pool)
    .await?;
    let mut conn = pool.acquire().await?;
    let mut shipments = Vec::with_capacity(rows.len());
    for row in rows {
        shipments.push(load(&mut conn, row).await?);
    }
    Ok(shipments)
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Shipment> {
    let mut conn = pool.acquire().await?;
    fetch(&mut conn, id, false).await
}

/// The shipment its workflow follows.
pub async fn by_workflow(pool: &PgPool, workflow_id: &str) -> Result<Shipment> {
    let id = sqlx::query_scalar!(
        "SELECT id FROM shipping.shipments WHERE workflow_id = $1",
        workflow_id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::NotFound(workflow_id.to_string()))?;
    get(pool, id).await
}

/// Writes a status change: the row, its history entry and its event.
async fn change(
    tx: &mut PgConnection,
    ctx: &Ctx,
    shipment: &Shipment,
    to: ShipmentStatus,
    note: Option<&str>,
) -> Result<()> {
    shipment.status.transition(to)?;
    sqlx::query!(
        "UPDATE shipping.shipments SET status = $2, updated_at = now() WHERE id = $1",
        shipment.id,
        to.as_str()
    )
    .execute(&mut *tx)
    .await?;
    history(tx, shipment.id, Some(shipment.status), to, &ctx.actor, note).await?;
    outbox::emit(
        tx,
        &crate::SCHEMA,
        ctx,
        "shipping.status_changed",
        serde_json::json!({
            "shipment_id": shipment.id,
            "order_no": shipment.order_no,
            "vendor_id": shipment.vendor_id,
            "from": shipment.status,
            "to": to,
            "note": note,
            "kind": if shipment.is_return() { "return" } else { "outbound" },
        }),
    )
    .await?;
    Ok(())
}

async fn history(
    tx: &mut PgConnection,
    shipment_id: Uuid,
    from: Option<ShipmentStatus>,
    to: ShipmentStatus,
    actor: &str,
    note: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO shipping.history (shipment_id, from_status, to_status, actor, note)
         VALUES ($1, $2, $3, $4, $5)",
        shipment_id,
        from.map(ShipmentStatus::as_str),
        to.as_str(),
        actor,
        note
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// A line of a new shipment.
async fn add_line(
    tx: &mut PgConnection,
    id: Uuid,
    sku: &Sku,
    title: &str,
    quantity: i32,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO shipping.shipment_lines (shipment_id, sku, title, quantity)
         VALUES ($1, $2, $3, $4)",
        id,
        sku.as_str(),
        title,
        quantity
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// The parcel a shipment is packed in.
async fn packed_in(tx: &mut PgConnection, id: Uuid, parcel: Parcel) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO shipping.packages (shipment_id, seq, weight_grams, length_mm, width_mm, height_mm)
         VALUES ($1, 1, $2, $3, $4, $5)",
        id,
        parcel.weight_grams as i32,
        parcel.length_mm as i32,
        parcel.width_mm as i32,
        parcel.height_mm as i32
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Opens the shipment of a sub-order, once per workflow id: opening it again answers the
/// shipment opened the first time.
pub async fn open(pool: &PgPool, ctx: &Ctx, new: &NewShipment) -> Result<Shipment> {
    if new.lines.is_empty() || new.lines.iter().any(|(_, _, q)| *q <= 0) {
        return Err(Error::Invalid(
            "a shipment has at least one line, each of at least one unit".into(),
        ));
    }
    let mut tx = pool.begin().await?;
    let id = Uuid::now_v7();
    let ship_to = serde_json::to_value(&new.ship_to).map_err(|e| Error::Invalid(e.to_string()))?;
    let inserted = sqlx::query_scalar!(
        "INSERT INTO shipping.shipments
             (id, workflow_id, order_no, vendor_id, customer_email, warehouse, ship_to, currency)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (workflow_id) DO NOTHING
         RETURNING id",
        id,
        new.workflow_id,
        new.order_no,
        new.vendor_id,
        new.customer_email,
        new.warehouse,
        ship_to,
        new.currency.code()
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = inserted else {
        tx.rollback().await?;
        return by_workflow(pool, &new.workflow_id).await;
    };
    for (sku, title, quantity) in &new.lines {
        add_line(&mut tx, id, sku, title, *quantity).await?;
    }
    history(
        &mut tx,
        id,
        None,
        ShipmentStatus::AwaitingFulfillment,
        &ctx.actor,
        None,
    )
    .await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "shipping.opened",
        serde_json::json!({
            "shipment_id": id,
            "workflow_id": new.workflow_id,
            "order_no": new.order_no,
            "vendor_id": new.vendor_id,
            "warehouse": new.warehouse,
        }),
    )
    .await?;
    let shipment = fetch(&mut tx, id, false).await?;
    tx.commit().await?;
    Ok(shipment)
}

/// What a return parcel is opened from: the units a return sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReturnShipment {
    /// `return-<rma_no>`: the idempotency key, and the workflow its tracking events go to.
    pub workflow_id: String,
    pub order_no: String,
    pub vendor_id: Uuid,
    pub lines: Vec<(Sku, i32)>,
}

/// Opens the parcel of a return, once per workflow id: from the customer's address back to
/// the warehouse the delivered shipment holding most of its units left from, in the parcel
/// that shipment was packed in (`packed` at once: nothing is weighed again). `address_of`
/// gives a warehouse's address. Opening it again answers the parcel opened the first time.
pub async fn open_return(
    pool: &PgPool,
    ctx: &Ctx,
    new: &NewReturnShipment,
    address_of: impl Fn(&str) -> Option<Address>,
) -> Result<Shipment> {
    if new.lines.is_empty() || new.lines.iter().any(|(_, q)| *q <= 0) {
        return Err(Error::Invalid(
            "a return parcel has at least one line, each of at least one unit".into(),
        ));
    }
    if let Some(id) = sqlx::query_scalar!(
        "SELECT id FROM shipping.shipments WHERE workflow_id = $1",
        new.workflow_id
    )
    .fetch_optional(pool)
    .await?
    {
        return get(pool, id).await;
    }
    let sent = for_order(pool, &new.order_no, Some(new.vendor_id)).await?;
    let holds = |s: &Shipment| -> i32 {
        new.lines
            .iter()
            .map(|(sku, q)| {
                s.lines
                    .iter()
                    .find(|l| &l.sku == sku)
                    .map_or(0, |l| (l.quantity - l.cancelled).min(*q))
            })
            .sum()
    };
    let source = sent
        .iter()
        .filter(|s| s.status == ShipmentStatus::Delivered && holds(s) > 0)
        .max_by_key(|s| (holds(s), std::cmp::Reverse(s.created_at)))
        .ok_or_else(|| {
            Error::Invalid(format!(
                "no delivered shipment of order {} holds these lines",
                new.order_no
            ))
        })?;
    let parcel = source
        .parcel
        .ok_or_else(|| Error::Invalid(format!("shipment {} was never packed", source.id)))?;
    let to = address_of(&source.warehouse)
        .ok_or_else(|| Error::Invalid(format!("no address for warehouse {}", source.warehouse)))?;
    let json = |a: &Address| serde_json::to_value(a).map_err(|e| Error::Invalid(e.to_string()));
    let mut tx = pool.begin().await?;
    let id = Uuid::now_v7();
    let inserted = sqlx::query_scalar!(
        "INSERT INTO shipping.shipments
             (id, workflow_id, order_no, vendor_id, customer_email, warehouse, ship_to, currency,
              status, kind, ship_from)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'packed', 'return', $9)
         ON CONFLICT (workflow_id) DO NOTHING
         RETURNING id",
        id,
        new.workflow_id,
        new.order_no,
        new.vendor_id,
        source.customer_email,
        source.warehouse,
        json(&to)?,
        source.currency.code(),
        json(&source.ship_to)?
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = inserted else {
        tx.rollback().await?;
        return by_workflow(pool, &new.workflow_id).await;
    };
    for (sku, quantity) in &new.lines {
        let title = sent
            .iter()
            .flat_map(|s| s.lines.iter())
            .find(|l| &l.sku == sku)
            .map_or_else(|| sku.to_string(), |l| l.title.clone());
        add_line(&mut tx, id, sku, &title, *quantity).await?;
    }
    packed_in(&mut tx, id, parcel).await?;
    let note = format!(
        "the return of shipment {}, in the parcel it came in",
        source.id
    );
    history(
        &mut tx,
        id,
        None,
        ShipmentStatus::Packed,
        &ctx.actor,
        Some(&note),
    )
    .await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "shipping.return_opened",
        serde_json::json!({
            "shipment_id": id,
            "workflow_id": new.workflow_id,
            "order_no": new.order_no,
            "vendor_id": new.vendor_id,
            "warehouse": source.warehouse,
            "returns": source.id,
        }),
    )
    .await?;
    let shipment = fetch(&mut tx, id, false).await?;
    tx.commit().await?;
    Ok(shipment)
}

/// The receiver's word that the parcel arrived (a warehouse counted a return parcel before,
/// or without, the carrier's delivery scan): `→ delivered`, so the carrier's later reports
/// are kept as stale. A parcel that has arrived, or is voided, is left as it is. Answers its
/// status.
pub async fn arrived(pool: &PgPool, ctx: &Ctx, id: Uuid) -> Result<ShipmentStatus> {
    let mut tx = pool.begin().await?;
    let shipment = fetch(&mut tx, id, true).await?;
    if shipment.status.is_final() {
        return Ok(shipment.status);
    }
    change(
        &mut tx,
        ctx,
        &shipment,
        ShipmentStatus::Delivered,
        Some("received at the warehouse"),
    )
    .await?;
    tx.commit().await?;
    Ok(ShipmentStatus::Delivered)
}

/// The label is void (the carrier refunded it, or it was never used): `label_purchased →
/// cancelled`. A shipment without a label, or cancelled already, is cancelled (or left) as it
/// is; one the carrier has scanned cannot be. Answers its status.
pub async fn voided(pool: &PgPool, ctx: &Ctx, id: Uuid, reason: &str) -> Result<ShipmentStatus> {
    let mut tx = pool.begin().await?;
    let shipment = fetch(&mut tx, id, true).await?;
    if shipment.status == ShipmentStatus::Cancelled {
        return Ok(shipment.status);
    }
    change(
        &mut tx,
        ctx,
        &shipment,
        ShipmentStatus::Cancelled,
        Some(reason),
    )
    .await?;
    tx.commit().await?;
    Ok(ShipmentStatus::Cancelled)
}

/// The vendor packed the shipment into `parcel`. Packing it again into the same parcel is the
/// same step; into another one, a conflict.
pub async fn pack(pool: &PgPool, ctx: &Ctx, id: Uuid, parcel: Parcel) -> Result<Shipment> {
    let mut tx = pool.begin().await?;
    let shipment = fetch(&mut tx, id, true).await?;
    if let Some(packed) = shipment.parcel {
        return if packed == parcel {
            Ok(shipment)
        } else {
            Err(Error::Conflict(format!(
                "shipment {id} is packed in another parcel already"
            )))
        };
    }
    change(&mut tx, ctx, &shipment, ShipmentStatus::Packed, None).await?;
    packed_in(&mut tx, id, parcel).await?;
    let shipment = fetch(&mut tx, id, false).await?;
    tx.commit().await?;
    Ok(shipment)
}

/// Keeps `quote` (from `carrier`) as the shipment's rates, replacing an earlier quote. Only
/// a packed shipment without a label is quoted.
pub async fn record_quote(pool: &PgPool, id: Uuid, carrier: &str, quote: &Quote) -> Result<()> {
    let mut tx = pool.begin().await?;
    let shipment = fetch(&mut tx, id, true).await?;
    if shipment.status != ShipmentStatus::Packed {
        return Err(Error::Conflict(format!(
            "shipment {id} is {}: only a packed shipment is quoted",
            shipment.status
        )));
    }
    let started = sqlx::query_scalar!(
        "SELECT purchase_started_at FROM shipping.shipments WHERE id = $1",
        id
    )
    .fetch_one(&mut *tx)
    .await?;
    if started.is_some() {
        return Err(Error::Conflict(format!(
            "a label purchase for shipment {id} is under way: it is not quoted again"
        )));
    }
    sqlx::query!("DELETE FROM shipping.rates WHERE shipment_id = $1", id)
        .execute(&mut *tx)
        .await?;
    for rate in &quote.rates {
        sqlx::query!(
            "INSERT INTO shipping.rates
                 (shipment_id, rate_id, carrier_shipment, carrier, service, amount, currency, delivery_days)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            id,
            rate.id,
            quote.carrier_shipment,
            rate.carrier,
            rate.service,
            rate.price.amount,
            rate.price.currency.code(),
            rate.delivery_days.map(|d| d as i32)
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query!(
        "UPDATE shipping.shipments SET carrier = $2, carrier_shipment = $3, updated_at = now()
         WHERE id = $1",
        id,
        carrier,
        quote.carrier_shipment
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Marks a label purchase as sent to the carrier (the first time only): the shipment is not
/// quoted again until [`purchase_refused`] says nothing was bought.
pub async fn purchase_started(pool: &PgPool, id: Uuid) -> Result<()> {
    sqlx::query!(
        "UPDATE shipping.shipments SET purchase_started_at = COALESCE(purchase_started_at, now())
         WHERE id = $1",
        id
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The carrier refused the purchase (nothing was bought): the shipment may be quoted again.
pub async fn purchase_refused(pool: &PgPool, id: Uuid) -> Result<()> {
    sqlx::query!(
        "UPDATE shipping.shipments SET purchase_started_at = NULL
         WHERE id = $1 AND tracking_code IS NULL",
        id
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The rates of the shipment's latest quote, cheapest first.
pub async fn rates(pool: &PgPool, id: Uuid) -> Result<Vec<Rate>> {
    sqlx::query!(
        "SELECT rate_id, carrier, service, amount, currency, delivery_days FROM shipping.rates
         WHERE shipment_id = $1 ORDER BY amount, rate_id",
        id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| {
        Ok(Rate {
            id: r.rate_id,
            carrier: r.carrier,
            service: r.service,
            price: Money::new(r.amount, Currency::parse(&r.currency).map_err(corrupt)?),
            delivery_days: r.delivery_days.map(|d| d as u32),
        })
    })
    .collect()
}

/// The label bought for the shipment: `packed → label_purchased`. The same label again (a
/// retried step) changes nothing; another one is a conflict.
pub async fn record_label(pool: &PgPool, ctx: &Ctx, id: Uuid, label: &Label) -> Result<Shipment> {
    let mut tx = pool.begin().await?;
    let shipment = fetch(&mut tx, id, true).await?;
    if let Some(code) = &shipment.tracking_code {
        return if *code == label.tracking_code {
            Ok(shipment)
        } else {
            Err(Error::Conflict(format!(
                "shipment {id} has a label already"
            )))
        };
    }
    if shipment.carrier_shipment.as_deref() != Some(label.carrier_shipment.as_str()) {
        return Err(Error::Conflict(format!(
            "the label is of carrier shipment {}, not of the one quoted for {id}",
            label.carrier_shipment
        )));
    }
    change(
        &mut tx,
        ctx,
        &shipment,
        ShipmentStatus::LabelPurchased,
        None,
    )
    .await?;
    sqlx::query!(
        "UPDATE shipping.shipments
         SET rate_id = $2, tracking_code = $3, label_url = $4, tracking_url = $5, updated_at = now()
         WHERE id = $1",
        id,
        label.rate_id,
        label.tracking_code,
        label.label_url,
        label.tracking_url
    )
    .execute(&mut *tx)
    .await?;
    let shipment = fetch(&mut tx, id, false).await?;
    tx.commit().await?;
    Ok(shipment)
}

/// Records a tracking event, once per carrier event id, against the shipment with its
/// tracking code (if any).
pub async fn receive_tracking(
    pool: &PgPool,
    carrier: &str,
    update: &TrackingUpdate,
) -> Result<Received> {
    let mut tx = pool.begin().await?;
    let found = sqlx::query!(
        "SELECT id, workflow_id, status FROM shipping.shipments
         WHERE carrier = $1 AND tracking_code = $2",
        carrier,
        update.tracking_code
    )
    .fetch_optional(&mut *tx)
    .await?;
    // A shipment in a final status moves no more (and its workflow has ended): the event is
    // kept as stale at once.
    let fin = match &found {
        Some(f) => status(&f.status)?.is_final(),
        None => false,
    };
    let shipment = found.map(|s| (s.id, s.workflow_id));
    let inserted = sqlx::query_scalar!(
        "INSERT INTO shipping.tracking_events
             (carrier, event_id, tracking_code, shipment_id, carrier_status, status, at, location,
              message, outcome)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (carrier, event_id) DO NOTHING
         RETURNING id",
        carrier,
        update.event_id,
        update.tracking_code,
        shipment.as_ref().map(|s| s.0),
        update.carrier_status,
        update.status.map(ShipmentStatus::as_str),
        update.at,
        update.location,
        update.message,
        match (&shipment, fin) {
            (None, _) => "unknown",
            (Some(_), true) => "stale",
            (Some(_), false) => "received",
        }
    )
    .fetch_optional(&mut *tx)
    .await?;
    let received = match inserted {
        Some(_) => Received {
            known: shipment.is_some(),
            duplicate: false,
            pending_for: shipment.filter(|_| !fin),
        },
        None => {
            let outcome = sqlx::query_scalar!(
                "SELECT outcome FROM shipping.tracking_events WHERE carrier = $1 AND event_id = $2",
                carrier,
                update.event_id
            )
            .fetch_one(&mut *tx)
            .await?;
            Received {
                known: shipment.is_some(),
                duplicate: true,
                pending_for: shipment.filter(|_| outcome == "received" && !fin),
            }
        }
    };
    tx.commit().await?;
    Ok(received)
}

/// Keeps a received event that nobody will apply (its workflow has ended) as stale.
pub async fn stale_event(pool: &PgPool, carrier: &str, event_id: &str) -> Result<()> {
    sqlx::query!(
        "UPDATE shipping.tracking_events SET outcome = 'stale'
         WHERE carrier = $1 AND event_id = $2 AND outcome = 'received'",
        carrier,
        event_id
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Applies a received tracking event to its shipment, by the machine's rule for carrier
/// reports: a report that would move it backwards, or is older than the last one applied,
/// is kept as `stale` and changes nothing. Applying an event again answers what it did.
pub async fn apply_tracking(
    pool: &PgPool,
    ctx: &Ctx,
    carrier: &str,
    event_id: &str,
) -> Result<Tracking> {
    let mut tx = pool.begin().await?;
    let event = sqlx::query!(
        "SELECT shipment_id, status, at, outcome FROM shipping.tracking_events
         WHERE carrier = $1 AND event_id = $2",
        carrier,
        event_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::NotFound(format!("tracking event {carrier}/{event_id}")))?;
    let Some(shipment_id) = event.shipment_id else {
        return Err(Error::NotFound(format!(
            "the shipment of tracking event {carrier}/{event_id}"
        )));
    };
    let shipment = fetch(&mut tx, shipment_id, true).await?;
    let reported = event.status.as_deref().map(status).transpose()?;
    let outcome = match event.outcome.as_str() {
        "applied" => return Ok(Tracking::Advance(reported.unwrap_or(shipment.status))),
        "unchanged" => return Ok(Tracking::Unchanged),
        "stale" => return Ok(Tracking::Stale),
        _ => match reported {
            None => Tracking::Unchanged,
            Some(reported) => shipment
                .status
                .track(shipment.last_tracked_at, reported, event.at),
        },
    };
    let label = match outcome {
        Tracking::Advance(to) => {
            let note = format!("{carrier} event {event_id}");
            change(&mut tx, ctx, &shipment, to, Some(&note)).await?;
            sqlx::query!(
                "UPDATE shipping.shipments SET last_tracked_at = $2 WHERE id = $1",
                shipment_id,
                event.at
            )
            .execute(&mut *tx)
            .await?;
            "applied"
        }
        Tracking::Unchanged => "unchanged",
        Tracking::Stale => "stale",
    };
    sqlx::query!(
        "UPDATE shipping.tracking_events SET outcome = $3 WHERE carrier = $1 AND event_id = $2",
        carrier,
        event_id,
        label
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Records an alert for staff, once per shipment and kind. Answers whether it is new.
pub async fn raise_alert(
    pool: &PgPool,
    ctx: &Ctx,
    id: Uuid,
    kind: AlertKind,
    note: &str,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let shipment = fetch(&mut tx, id, true).await?;
    let new = alert(&mut tx, ctx, &shipment, kind, note).await?;
    tx.commit().await?;
    Ok(new)
}

async fn alert(
    tx: &mut PgConnection,
    ctx: &Ctx,
    shipment: &Shipment,
    kind: AlertKind,
    note: &str,
) -> Result<bool> {
    let new = sqlx::query!(
        "INSERT INTO shipping.alerts (shipment_id, kind, note) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
        shipment.id,
        kind.as_str(),
        note
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if new {
        outbox::emit(
            tx,
            &crate::SCHEMA,
            ctx,
            "shipping.alert_raised",
            serde_json::json!({
                "shipment_id": shipment.id,
                "order_no": shipment.order_no,
                "vendor_id": shipment.vendor_id,
                "kind": kind.as_str(),
                "note": note,
            }),
        )
        .await?;
    }
    Ok(new)
}

/// A labelled shipment the carrier never scanned in time becomes an exception, with a
/// `no_scan` alert, in one transaction. A shipment a scan moved already stays as it is.
/// Answers its status.
pub async fn no_scan(pool: &PgPool, ctx: &Ctx, id: Uuid, note: &str) -> Result<ShipmentStatus> {
    let mut tx = pool.begin().await?;
    let shipment = fetch(&mut tx, id, true).await?;
    let unscanned = shipment.last_tracked_at.is_none()
        && matches!(
            shipment.status,
            ShipmentStatus::LabelPurchased | ShipmentStatus::InTransit
        );
    if unscanned {
        change(
            &mut tx,
            ctx,
            &shipment,
            ShipmentStatus::Exception,
            Some(note),
        )
        .await?;
        alert(&mut tx, ctx, &shipment, AlertKind::NoScan, note).await?;
    }
    let now = fetch(&mut tx, id, false).await?.status;
    tx.commit().await?;
    Ok(now)
}

/// The vendor handed the labelled parcel to the carrier: `label_purchased → in_transit`.
/// A shipment past that already stays as it is. Answers its status.
pub async fn hand_over(pool: &PgPool, ctx: &Ctx, id: Uuid) -> Result<ShipmentStatus> {
    let mut tx = pool.begin().await?;
    let shipment = fetch(&mut tx, id, true).await?;
    match shipment.status {
        ShipmentStatus::LabelPurchased => {
            change(
                &mut tx,
                ctx,
                &shipment,
                ShipmentStatus::InTransit,
                Some("handed over to the carrier"),
            )
            .await?;
            tx.commit().await?;
            Ok(ShipmentStatus::InTransit)
        }
        s if s.is_carrier_status() => Ok(s),
        from => Err(Error::Transition(IllegalTransition {
            from,
            to: ShipmentStatus::InTransit,
        })),
    }
}

/// Records units of the shipment its vendor cannot send, once per `key`; with every unit
/// cancelled the shipment is `cancelled`. Only before a label is bought. Answers its status.
pub async fn cancel_lines(
    pool: &PgPool,
    ctx: &Ctx,
    id: Uuid,
    key: &str,
    lines: &[(Sku, i32)],
    reason: &str,
) -> Result<ShipmentStatus> {
    let mut tx = pool.begin().await?;
    let shipment = fetch(&mut tx, id, true).await?;
    let done = sqlx::query_scalar!(
        "SELECT EXISTS (SELECT 1 FROM shipping.line_cancellations WHERE key = $1)",
        key
    )
    .fetch_one(&mut *tx)
    .await?;
    if done == Some(true) {
        return Ok(shipment.status);
    }
    if !matches!(
        shipment.status,
        ShipmentStatus::AwaitingFulfillment | ShipmentStatus::Packed
    ) {
        return Err(Error::Conflict(format!(
            "the shipment is {}: its lines can no longer be cancelled",
            shipment.status
        )));
    }
    if lines.is_empty() {
        return Err(Error::Invalid("no lines to cancel".into()));
    }
    for (n, (sku, quantity)) in lines.iter().enumerate() {
        if lines[..n].iter().any(|(s, _)| s == sku) {
            return Err(Error::Invalid(format!("{sku} is named twice")));
        }
        let line = shipment
            .lines
            .iter()
            .find(|l| &l.sku == sku)
            .ok_or_else(|| Error::Invalid(format!("{sku} is not in the shipment")))?;
        if *quantity <= 0 || line.cancelled + quantity > line.quantity {
            return Err(Error::Invalid(format!(
                "{quantity} units of {sku} cannot be cancelled: {} of {} are left",
                line.quantity - line.cancelled,
                line.quantity
            )));
        }
        sqlx::query!(
            "UPDATE shipping.shipment_lines SET cancelled = cancelled + $3
             WHERE shipment_id = $1 AND sku = $2",
            id,
            sku.as_str(),
            quantity
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO shipping.line_cancellations (shipment_id, key, sku, quantity, reason, actor)
             VALUES ($1, $2, $3, $4, $5, $6)",
            id,
            key,
            sku.as_str(),
            quantity,
            reason,
            ctx.actor
        )
        .execute(&mut *tx)
        .await?;
    }
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "shipping.lines_cancelled",
        serde_json::json!({
            "shipment_id": id, "order_no": shipment.order_no, "vendor_id": shipment.vendor_id,
            "key": key, "reason": reason,
            "lines": lines.iter().map(|(sku, q)| serde_json::json!({"sku": sku, "quantity": q})).collect::<Vec<_>>(),
        }),
    )
    .await?;
    let now = fetch(&mut tx, id, true).await?;
    let status = if now.lines.iter().all(|l| l.cancelled == l.quantity) {
        let note = format!("every line cancelled: {reason}");
        change(&mut tx, ctx, &now, ShipmentStatus::Cancelled, Some(&note)).await?;
        ShipmentStatus::Cancelled
    } else {
        now.status
    };
    tx.commit().await?;
    Ok(status)
}

/// A raised alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub kind: AlertKind,
    pub note: String,
    pub raised_at: DateTime<Utc>,
}

/// The shipment's alerts, oldest first.
pub async fn alerts(pool: &PgPool, id: Uuid) -> Result<Vec<AlertRow>> {
    sqlx::query!(
        "SELECT kind, note, raised_at FROM shipping.alerts WHERE shipment_id = $1
         ORDER BY raised_at, kind",
        id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|a| {
        Ok(AlertRow {
            kind: AlertKind::parse(&a.kind)
                .ok_or_else(|| corrupt(format!("unknown alert kind `{}`", a.kind)))?,
            note: a.note,
            raised_at: a.raised_at,
        })
    })
    .collect()
}

/// Every status change of the shipment, oldest first.
pub async fn changes(pool: &PgPool, id: Uuid) -> Result<Vec<Change>> {
    sqlx::query!(
        "SELECT from_status, to_status, actor, note, at FROM shipping.history
         WHERE shipment_id = $1 ORDER BY id",
        id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|h| {
        Ok(Change {
            from: h.from_status.as_deref().map(status).transpose()?,
            to: status(&h.to_status)?,
            actor: h.actor,
            note: h.note,
            at: h.at,
        })
    })
    .collect()
}

/// Every tracking event of the shipment, in the carrier's order.
pub async fn events(pool: &PgPool, id: Uuid) -> Result<Vec<Event>> {
    sqlx::query!(
        "SELECT carrier, event_id, carrier_status, status, at, location, message, outcome
         FROM shipping.tracking_events WHERE shipment_id = $1 ORDER BY at, id",
        id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|e| {
        Ok(Event {
            carrier: e.carrier,
            event_id: e.event_id,
            carrier_status: e.carrier_status,
            status: e.status.as_deref().map(status).transpose()?,
            at: e.at,
            location: e.location,
            message: e.message,
            outcome: e.outcome,
        })
    })
    .collect()
}
