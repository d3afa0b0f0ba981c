//! SQL for the inventory schema.

use chrono::{DateTime, Utc};
use souk_contracts::inventory::{
    Allocation, LowStockAlert, RaiseLowStockAlert, Reservation, ReserveStock, RestockUnits,
};
use souk_domain::Sku;
use souk_domain::cursor::TextCursor;
use souk_domain::stock::{ReservationState, available, crosses_low_stock};
use sqlx::{PgConnection, PgPool};

use souk_contracts::failures;
use souk_kit::error::{Described, Kind};
use souk_kit::{Ctx, outbox};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "not enough stock of {sku}: {requested} requested, {available} available in one warehouse"
    )]
    InsufficientStock {
        sku: String,
        requested: i64,
        available: i64,
    },
    #[error("reservation {0} already exists for another SKU or quantity")]
    ReservationConflict(String),
    #[error("reservation {0} was released")]
    ReservationReleased(String),
    #[error("reservation {0} was committed")]
    ReservationCommitted(String),
    #[error("reservation {0} does not exist")]
    ReservationNotFound(String),
    #[error("warehouse `{0}` does not exist")]
    UnknownWarehouse(String),
    #[error("no stock is recorded for SKU {0}")]
    UnknownSku(String),
    #[error("on hand cannot go below the {reserved} units reserved")]
    BelowReserved { reserved: i64 },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Described for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::UnknownWarehouse(_) | Error::UnknownSku(_) => Kind::NotFound,
            Error::Invalid(_) => Kind::Invalid,
            Error::InsufficientStock { .. }
            | Error::BelowReserved { .. }
            | Error::ReservationConflict(_)
            | Error::ReservationReleased(_)
            | Error::ReservationCommitted(_)
            | Error::ReservationNotFound(_) => Kind::Conflict,
            Error::Db(_) => Kind::Unavailable,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Error::UnknownWarehouse(_) => "unknown_warehouse",
            Error::UnknownSku(_) => "unknown_sku",
            Error::BelowReserved { .. } => "below_reserved",
            Error::InsufficientStock { .. } => "insufficient_stock",
            Error::Invalid(_) => "invalid_request",
            Error::ReservationConflict(_)
            | Error::ReservationReleased(_)
            | Error::ReservationCommitted(_)
            | Error::ReservationNotFound(_) => "reservation_state",
            Error::Db(_) => "database_unavailable",
        }
    }

    fn details(&self) -> Vec<(&'static str, String)> {
        match self {
            Error::BelowReserved { reserved } => vec![("reserved", reserved.to_string())],
            Error::InsufficientStock {
                requested,
                available,
                ..
            } => vec![
                ("requested", requested.to_string()),
                ("available", available.to_string()),
            ],
            _ => Vec::new(),
        }
    }

    fn failure_type(&self) -> Option<&'static str> {
        match self {
            Error::InsufficientStock { .. } => Some(failures::INSUFFICIENT_STOCK),
            Error::ReservationConflict(_) => Some(failures::RESERVATION_CONFLICT),
            Error::ReservationReleased(_) => Some(failures::RESERVATION_RELEASED),
            Error::ReservationCommitted(_) => Some(failures::RESERVATION_COMMITTED),
            Error::ReservationNotFound(_) => Some(failures::RESERVATION_NOT_FOUND),
            Error::UnknownWarehouse(_)
            | Error::UnknownSku(_)
            | Error::BelowReserved { .. }
            | Error::Invalid(_) => Some(failures::INVALID_INPUT),
            Error::Db(_) => None,
        }
    }

    fn database(&self) -> Option<&sqlx::Error> {
        match self {
            Error::Db(e) => Some(e),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseStock {
    pub warehouse: String,
    pub on_hand: i64,
    pub reserved: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLevel {
    pub sku: String,
    pub warehouses: Vec<WarehouseStock>,
    pub low_stock_threshold: i64,
}

impl StockLevel {
    pub fn on_hand(&self) -> i64 {
        self.warehouses.iter().map(|w| w.on_hand).sum()
    }
    pub fn reserved(&self) -> i64 {
        self.warehouses.iter().map(|w| w.reserved).sum()
    }
    pub fn available(&self) -> i64 {
        available(self.on_hand(), self.reserved())
    }
}

/// Stock of one SKU in every warehouse that has a row for it.
pub async fn stock(pool: &PgPool, sku: &str) -> Result<Option<StockLevel>, Error> {
    let mut conn = pool.acquire().await?;
    stock_on(&mut conn, sku).await
}

async fn stock_on(conn: &mut PgConnection, sku: &str) -> Result<Option<StockLevel>, Error> {
    let rows = sqlx::query_as!(
        WarehouseStock,
        "SELECT warehouse, on_hand, reserved FROM inventory.stock WHERE sku = $1 ORDER BY warehouse",
        sku
    )
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let threshold = sqlx::query_scalar!(
        "SELECT low_stock_threshold FROM inventory.sku_settings WHERE sku = $1",
        sku
    )
    .fetch_optional(&mut *conn)
    .await?
    .unwrap_or(0);
    Ok(Some(StockLevel {
        sku: sku.to_string(),
        warehouses: rows,
        low_stock_threshold: threshold,
    }))
}

/// Available quantity per SKU; SKUs without stock rows are absent.
pub async fn availability(pool: &PgPool, skus: &[String]) -> Result<Vec<(String, i64)>, Error> {
    let rows = sqlx::query!(
        r#"SELECT sku, SUM(on_hand - reserved)::bigint AS "available!"
           FROM inventory.stock WHERE sku = ANY($1) GROUP BY sku"#,
        skus
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.sku, r.available)).collect())
}

/// Sets on hand for a SKU in a warehouse (a stock count). Returns the new level and whether
/// the change took availability below the low-stock threshold.
pub async fn set_on_hand(
    pool: &PgPool,
    ctx: &Ctx,
    sku: &Sku,
    warehouse: &str,
    on_hand: i64,
) -> Result<(StockLevel, bool), Error> {
    if on_hand < 0 {
        return Err(Error::Invalid("on_hand must not be negative".into()));
    }
    let mut tx = pool.begin().await?;
    known_warehouse(&mut tx, warehouse).await?;
    // Lock every row of the SKU so "before" and "after" totals are consistent.
    let before = sqlx::query!(
        r#"SELECT warehouse, on_hand, reserved FROM inventory.stock
           WHERE sku = $1 ORDER BY warehouse FOR UPDATE"#,
        sku.as_str()
    )
    .fetch_all(&mut *tx)
    .await?;
    let before_available: i64 = before.iter().map(|r| r.on_hand - r.reserved).sum();
    let reserved_here = before
        .iter()
        .find(|r| r.warehouse == warehouse)
        .map_or(0, |r| r.reserved);
    if on_hand < reserved_here {
        return Err(Error::BelowReserved {
            reserved: reserved_here,
        });
    }
    let previous = before
        .iter()
        .find(|r| r.warehouse == warehouse)
        .map(|r| r.on_hand);
    sqlx::query!(
        r#"INSERT INTO inventory.stock (sku, warehouse, on_hand) VALUES ($1, $2, $3)
           ON CONFLICT ON CONSTRAINT stock_pkey DO UPDATE SET on_hand = EXCLUDED.on_hand, updated_at = now()"#,
        sku.as_str(),
        warehouse,
        on_hand
    )
    .execute(&mut *tx)
    .await?;
    let level = stock_on(&mut tx, sku.as_str())
        .await?
        .ok_or_else(|| Error::UnknownSku(sku.to_string()))?;
    let crossed = crosses_low_stock(
        before_available,
        level.available(),
        level.low_stock_threshold,
    );
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "inventory.stock_adjusted",
        serde_json::json!({
            "sku": sku, "warehouse": warehouse, "previous_on_hand": previous, "on_hand": on_hand,
            "available": level.available(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok((level, crossed))
}

/// `UnknownWarehouse` unless `code` is a warehouse (a code that cannot be one is not looked
/// up).
async fn known_warehouse(tx: &mut PgConnection, code: &str) -> Result<(), Error> {
    if !souk_domain::stock::is_warehouse_code(code) {
        return Err(Error::UnknownWarehouse(code.to_string()));
    }
    let known = sqlx::query_scalar!(
        "SELECT EXISTS (SELECT 1 FROM inventory.warehouses WHERE code = $1)",
        code
    )
    .fetch_one(&mut *tx)
    .await?;
    if known != Some(true) {
        return Err(Error::UnknownWarehouse(code.to_string()));
    }
    Ok(())
}

/// Puts `r.quantity` units of `r.sku` back on hand in `r.warehouse`, once per `r.key`.
/// Answers whether they went back now (false: they had before).
pub async fn restock(pool: &PgPool, ctx: &Ctx, r: &RestockUnits) -> Result<bool, Error> {
    if r.quantity <= 0 {
        return Err(Error::Invalid("a restock is of at least one unit".into()));
    }
    let mut tx = pool.begin().await?;
    known_warehouse(&mut tx, &r.warehouse).await?;
    let new = sqlx::query!(
        "INSERT INTO inventory.restocks (key, sku, warehouse, quantity, reason, actor)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
        r.key,
        r.sku.as_str(),
        r.warehouse,
        r.quantity,
        r.reason,
        ctx.actor
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if new {
        sqlx::query!(
            "INSERT INTO inventory.stock (sku, warehouse, on_hand) VALUES ($1, $2, $3)
             ON CONFLICT ON CONSTRAINT stock_pkey
             DO UPDATE SET on_hand = inventory.stock.on_hand + EXCLUDED.on_hand, updated_at = now()",
            r.sku.as_str(),
            r.warehouse,
            r.quantity
        )
        .execute(&mut *tx)
        .await?;
        outbox::emit(
            &mut tx,
            &crate::SCHEMA,
            ctx,
            "inventory.restocked",
            serde_json::json!({
                "key": r.key, "sku": r.sku, "warehouse": r.warehouse, "quantity": r.quantity,
                "reason": r.reason,
            }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(new)
}

/// Creates or renames a warehouse.
pub async fn upsert_warehouse(pool: &PgPool, code: &str, name: &str) -> Result<(), Error> {
    sqlx::query!(
        r#"INSERT INTO inventory.warehouses (code, name) VALUES ($1, $2)
           ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, updated_at = now()"#,
        code,
        name
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn set_low_stock_threshold(
    pool: &PgPool,
    sku: &Sku,
    threshold: i64,
) -> Result<(), Error> {
    if threshold < 0 {
        return Err(Error::Invalid("threshold must not be negative".into()));
    }
    sqlx::query!(
        r#"INSERT INTO inventory.sku_settings (sku, low_stock_threshold) VALUES ($1, $2)
           ON CONFLICT (sku) DO UPDATE SET low_stock_threshold = EXCLUDED.low_stock_threshold, updated_at = now()"#,
        sku.as_str(),
        threshold
    )
    .execute(pool)
    .await?;
    Ok(())
}

struct ReservationRow {
    id: String,
    sku: String,
    warehouse: Option<String>,
    quantity: i64,
    state: String,
    expires_at: DateTime<Utc>,
}

impl ReservationRow {
    fn into_contract(self, allocations: Vec<Allocation>) -> Result<Reservation, Error> {
        Ok(Reservation {
            sku: Sku::parse(&self.sku).map_err(|e| Error::Invalid(e.to_string()))?,
            warehouse: self.warehouse.unwrap_or_default(),
            quantity: self.quantity,
            state: ReservationState::parse(&self.state)
                .ok_or_else(|| Error::Invalid(format!("unknown state {}", self.state)))?,
            expires_at: self.expires_at,
            reservation_id: self.id,
            allocations,
        })
    }
}

/// Where a reservation's units come from. A reservation made before allocations were
/// recorded has none: then all of it is from its one warehouse.
async fn allocations(
    conn: &mut PgConnection,
    reservation_id: &str,
    warehouse: Option<&str>,
    quantity: i64,
) -> Result<Vec<Allocation>, Error> {
    let rows = sqlx::query!(
        "SELECT warehouse, quantity FROM inventory.reservation_allocations
          WHERE reservation_id = $1 ORDER BY quantity DESC, warehouse",
        reservation_id
    )
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(warehouse
            .filter(|_| quantity > 0)
            .map(|w| Allocation {
                warehouse: w.to_string(),
                quantity,
            })
            .into_iter()
            .collect());
    }
    Ok(rows
        .into_iter()
        .map(|r| Allocation {
            warehouse: r.warehouse,
            quantity: r.quantity,
        })
        .collect())
}

/// Reserves `quantity` of a SKU: from the warehouse with the most available stock if one can
/// serve it alone, otherwise split over as few warehouses as can (see
/// `souk_domain::stock::allocate`).
///
/// One transaction: find the existing reservation with this id (a retry), else lock the SKU's
/// stock rows, allocate, take the stock with conditional updates, and insert the reservation
/// with its allocations. Row locks serialise concurrent reservers of a SKU, and the CHECK
/// constraint backs the conditions up, so stock is never oversold. Calling again with the
/// same id returns the same reservation and reserves nothing more.
pub async fn reserve(pool: &PgPool, ctx: &Ctx, r: &ReserveStock) -> Result<Reservation, Error> {
    if r.quantity <= 0 {
        return Err(Error::Invalid("quantity must be positive".into()));
    }
    if r.reservation_id.is_empty() || r.reservation_id.len() > 200 {
        return Err(Error::Invalid(
            "reservation id must be 1 to 200 characters".into(),
        ));
    }
    let ttl = r.ttl_seconds.clamp(1, 7 * 24 * 3600) as f64;
    let mut tx = pool.begin().await?;
    if let Some(reservation) = existing_reservation(&mut tx, r).await? {
        return Ok(reservation);
    }
    let stock = sqlx::query!(
        "SELECT warehouse, on_hand - reserved AS \"available!\" FROM inventory.stock
          WHERE sku = $1 ORDER BY warehouse FOR UPDATE",
        r.sku.as_str()
    )
    .fetch_all(&mut *tx)
    .await?;
    let available: Vec<(String, i64)> = stock
        .into_iter()
        .map(|s| (s.warehouse, s.available))
        .collect();
    let Some(parts) = souk_domain::stock::allocate(&available, r.quantity) else {
        tx.rollback().await?;
        return Err(Error::InsufficientStock {
            sku: r.sku.to_string(),
            requested: r.quantity,
            available: available.iter().map(|a| a.1.max(0)).sum(),
        });
    };
    let inserted = sqlx::query_as!(
        ReservationRow,
        r#"INSERT INTO inventory.reservations (id, sku, warehouse, quantity, state, expires_at)
           VALUES ($1, $2, $3, $4, 'reserved', now() + make_interval(secs => $5))
           ON CONFLICT (id) DO NOTHING
           RETURNING id, sku, warehouse, quantity, state, expires_at"#,
        r.reservation_id,
        r.sku.as_str(),
        parts[0].0,
        r.quantity,
        ttl
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = inserted else {
        // A concurrent call with the same id won: answer with theirs.
        tx.rollback().await?;
        let mut conn = pool.acquire().await?;
        return existing_reservation(&mut conn, r)
            .await?
            .ok_or_else(|| Error::ReservationNotFound(r.reservation_id.clone()));
    };
    for (warehouse, quantity) in &parts {
        let taken = sqlx::query!(
            "UPDATE inventory.stock SET reserved = reserved + $3, updated_at = now()
              WHERE sku = $1 AND warehouse = $2 AND on_hand - reserved >= $3",
            r.sku.as_str(),
            warehouse,
            quantity
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if taken != 1 {
            // The rows are locked: this cannot happen unless the invariants are broken.
            return Err(Error::Invalid(format!(
                "stock of {} in {warehouse} changed under its lock",
                r.sku
            )));
        }
        sqlx::query!(
            "INSERT INTO inventory.reservation_allocations (reservation_id, warehouse, quantity)
             VALUES ($1, $2, $3)",
            r.reservation_id,
            warehouse,
            quantity
        )
        .execute(&mut *tx)
        .await?;
    }
    let allocations: Vec<Allocation> = parts
        .into_iter()
        .map(|(warehouse, quantity)| Allocation {
            warehouse,
            quantity,
        })
        .collect();
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "inventory.stock_reserved",
        serde_json::json!({
            "reservation_id": r.reservation_id, "sku": r.sku, "warehouse": row.warehouse,
            "quantity": r.quantity, "allocations": allocations, "expires_at": row.expires_at,
        }),
    )
    .await?;
    tx.commit().await?;
    row.into_contract(allocations)
}

/// The reservation with this id, checked to be the same request.
async fn existing_reservation(
    conn: &mut PgConnection,
    r: &ReserveStock,
) -> Result<Option<Reservation>, Error> {
    let row = sqlx::query_as!(
        ReservationRow,
        "SELECT id, sku, warehouse, quantity, state, expires_at FROM inventory.reservations WHERE id = $1",
        r.reservation_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    if row.state == "released" {
        return Err(Error::ReservationReleased(r.reservation_id.clone()));
    }
    if row.sku != r.sku.as_str() || row.quantity != r.quantity {
        return Err(Error::ReservationConflict(r.reservation_id.clone()));
    }
    let parts = allocations(conn, &row.id, row.warehouse.as_deref(), row.quantity).await?;
    Ok(Some(row.into_contract(parts)?))
}

/// Keeps a reservation for at least `ttl_seconds` from now (never shortens it): the checkout
/// that owns it extends it before each wait and before it captures, so the sweeper cannot
/// release stock under a checkout that is still alive. A committed reservation is returned as
/// it is (a retry after the sale); a released one fails with `ReservationReleased`, as its stock
/// may be someone else's by now. The row lock orders it against the sweeper: whichever comes
/// second sees what the first did.
pub async fn extend(
    pool: &PgPool,
    reservation_id: &str,
    ttl_seconds: i64,
) -> Result<Reservation, Error> {
    let ttl = ttl_seconds.clamp(1, 7 * 24 * 3600) as f64;
    let mut conn = pool.acquire().await?;
    let row = sqlx::query_as!(
        ReservationRow,
        r#"UPDATE inventory.reservations
              SET expires_at = greatest(expires_at, now() + make_interval(secs => $2)), updated_at = now()
            WHERE id = $1 AND state = 'reserved'
        RETURNING id, sku, warehouse, quantity, state, expires_at"#,
        reservation_id,
        ttl
    )
    .fetch_optional(&mut *conn)
    .await?;
    let row = match row {
        Some(row) => row,
        None => sqlx::query_as!(
            ReservationRow,
            "SELECT id, sku, warehouse, quantity, state, expires_at FROM inventory.reservations WHERE id = $1",
            reservation_id
        )
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::ReservationNotFound(reservation_id.to_string()))?,
    };
    if row.state == "released" {
        return Err(Error::ReservationReleased(reservation_id.to_string()));
    }
    let parts = allocations(&mut conn, &row.id, row.warehouse.as_deref(), row.quantity).await?;
    row.into_contract(parts)
}

/// Turns a reservation into a sale. Idempotent: committing a committed reservation is a no-op.
pub async fn commit(pool: &PgPool, ctx: &Ctx, reservation_id: &str) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    commit_in(&mut tx, ctx, reservation_id).await?;
    tx.commit().await?;
    Ok(())
}

/// Turns all of `reservation_ids` into a sale in one transaction, or none of them: if one was
/// released (or never existed) nothing is committed, so a checkout that must give the money
/// back has no stock sold to undo. Idempotent: committed ones stay committed. Reservations
/// are locked in id order, then their stock rows in (sku, warehouse) order.
pub async fn commit_all(pool: &PgPool, ctx: &Ctx, reservation_ids: &[String]) -> Result<(), Error> {
    let mut ids = reservation_ids.to_vec();
    ids.sort();
    ids.dedup();
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "SELECT id FROM inventory.reservations WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        &ids
    )
    .fetch_all(&mut *tx)
    .await?;
    // The stock rows they take from, in (sku, warehouse) order before any is changed: two
    // checkouts committing overlapping stock wait for each other instead of deadlocking.
    sqlx::query!(
        r#"SELECT s.sku FROM inventory.stock s
            WHERE (s.sku, s.warehouse) IN (
                  SELECT r.sku, COALESCE(a.warehouse, r.warehouse)
                    FROM inventory.reservations r
                    LEFT JOIN inventory.reservation_allocations a ON a.reservation_id = r.id
                   WHERE r.id = ANY($1) AND r.state = 'reserved')
            ORDER BY s.sku, s.warehouse
              FOR UPDATE OF s"#,
        &ids
    )
    .fetch_all(&mut *tx)
    .await?;
    for id in &ids {
        // An error drops the transaction: what was committed before it is rolled back.
        commit_in(&mut tx, ctx, id).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn commit_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    ctx: &Ctx,
    reservation_id: &str,
) -> Result<(), Error> {
    let row = sqlx::query!(
        r#"UPDATE inventory.reservations SET state = 'committed', updated_at = now()
           WHERE id = $1 AND state = 'reserved'
           RETURNING sku, warehouse, quantity"#,
        reservation_id
    )
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        let state = sqlx::query_scalar!(
            "SELECT state FROM inventory.reservations WHERE id = $1",
            reservation_id
        )
        .fetch_optional(&mut **tx)
        .await?;
        return match state.as_deref() {
            Some("committed") => Ok(()),
            Some(_) => Err(Error::ReservationReleased(reservation_id.to_string())),
            None => Err(Error::ReservationNotFound(reservation_id.to_string())),
        };
    };
    let parts = allocations(tx, reservation_id, row.warehouse.as_deref(), row.quantity).await?;
    for a in &parts {
        sqlx::query!(
            r#"UPDATE inventory.stock SET on_hand = on_hand - $3, reserved = reserved - $3, updated_at = now()
               WHERE sku = $1 AND warehouse = $2"#,
            row.sku,
            a.warehouse,
            a.quantity
        )
        .execute(&mut **tx)
        .await?;
    }
    outbox::emit(
        tx,
        &crate::SCHEMA,
        ctx,
        "inventory.reservation_committed",
        serde_json::json!({
            "reservation_id": reservation_id, "sku": row.sku, "warehouse": row.warehouse,
            "quantity": row.quantity, "allocations": parts,
        }),
    )
    .await?;
    Ok(())
}

/// Gives reserved stock back. Idempotent. Releasing an id that was never reserved leaves a
/// tombstone, so a reserve that arrives late (a timed-out activity still running) takes
/// nothing. Releasing a committed reservation is refused: that is a return, not a release.
pub async fn release(
    pool: &PgPool,
    ctx: &Ctx,
    reservation_id: &str,
    reason: Option<&str>,
) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        r#"UPDATE inventory.reservations SET state = 'released', reason = $2, updated_at = now()
           WHERE id = $1 AND state = 'reserved'
           RETURNING sku, warehouse, quantity"#,
        reservation_id,
        reason
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        let state = sqlx::query_scalar!(
            "SELECT state FROM inventory.reservations WHERE id = $1",
            reservation_id
        )
        .fetch_optional(&mut *tx)
        .await?;
        return match state.as_deref() {
            Some("released") => Ok(()),
            Some(_) => Err(Error::ReservationCommitted(reservation_id.to_string())),
            None => {
                sqlx::query!(
                    r#"INSERT INTO inventory.reservations (id, sku, warehouse, quantity, state, expires_at, reason)
                       VALUES ($1, '', NULL, 0, 'released', now(), $2)
                       ON CONFLICT (id) DO NOTHING"#,
                    reservation_id,
                    reason
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }
        };
    };
    restore(
        &mut tx,
        ctx,
        reservation_id,
        &row.sku,
        row.warehouse.as_deref(),
        row.quantity,
        reason,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn restore(
    tx: &mut PgConnection,
    ctx: &Ctx,
    reservation_id: &str,
    sku: &str,
    warehouse: Option<&str>,
    quantity: i64,
    reason: Option<&str>,
) -> Result<(), Error> {
    let parts = allocations(tx, reservation_id, warehouse, quantity).await?;
    for a in &parts {
        sqlx::query!(
            "UPDATE inventory.stock SET reserved = reserved - $3, updated_at = now() WHERE sku = $1 AND warehouse = $2",
            sku,
            a.warehouse,
            a.quantity
        )
        .execute(&mut *tx)
        .await?;
    }
    outbox::emit(
        tx,
        &crate::SCHEMA,
        ctx,
        "inventory.reservation_released",
        serde_json::json!({
            "reservation_id": reservation_id, "sku": sku, "warehouse": warehouse,
            "quantity": quantity, "allocations": parts, "reason": reason,
        }),
    )
    .await?;
    Ok(())
}

/// Releases up to `limit` reservations past their expiry; returns how many. Safe to run from
/// several processes at once (`SKIP LOCKED`).
pub async fn release_expired(pool: &PgPool, limit: i64) -> Result<u64, Error> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query!(
        r#"UPDATE inventory.reservations r SET state = 'released', reason = 'expired', updated_at = now()
           WHERE r.id IN (
               SELECT id FROM inventory.reservations
               WHERE state = 'reserved' AND expires_at < now()
               ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING r.id, r.sku, r.warehouse, r.quantity"#,
        limit
    )
    .fetch_all(&mut *tx)
    .await?;
    let ctx = Ctx::system();
    for r in &rows {
        restore(
            &mut tx,
            &ctx,
            &r.id,
            &r.sku,
            r.warehouse.as_deref(),
            r.quantity,
            Some("expired"),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}

/// Records a low-stock alert once per alert id and emits `inventory.low_stock`.
pub async fn raise_alert(
    pool: &PgPool,
    ctx: &Ctx,
    a: &RaiseLowStockAlert,
) -> Result<LowStockAlert, Error> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query!(
        r#"INSERT INTO inventory.low_stock_alerts (id, sku, available, threshold, raised_by)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (id) DO NOTHING
           RETURNING raised_at"#,
        a.alert_id,
        a.sku.as_str(),
        a.available,
        a.threshold,
        a.raised_by
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (raised_at, newly_raised) = match inserted {
        Some(r) => {
            outbox::emit(
                &mut tx,
                &crate::SCHEMA,
                ctx,
                "inventory.low_stock",
                serde_json::json!({
                    "alert_id": a.alert_id, "sku": a.sku, "available": a.available,
                    "threshold": a.threshold,
                }),
            )
            .await?;
            (r.raised_at, true)
        }
        None => {
            let at = sqlx::query_scalar!(
                "SELECT raised_at FROM inventory.low_stock_alerts WHERE id = $1",
                a.alert_id
            )
            .fetch_one(&mut *tx)
            .await?;
            (at, false)
        }
    };
    tx.commit().await?;
    Ok(LowStockAlert {
        alert_id: a.alert_id.clone(),
        sku: a.sku.clone(),
        available: a.available,
        threshold: a.threshold,
        raised_at,
        newly_raised,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub id: String,
    pub sku: String,
    pub available: i64,
    pub threshold: i64,
    pub raised_by: String,
    pub raised_at: DateTime<Utc>,
}

/// Alerts, newest first, one page after `after`.
pub async fn list_alerts(
    pool: &PgPool,
    sku: Option<&str>,
    limit: u32,
    after: Option<TextCursor>,
) -> Result<(Vec<AlertRow>, Option<TextCursor>), Error> {
    let limit = i64::from(limit.max(1));
    let (after_at, after_id) = after.map(|c| (c.at, c.key)).unzip();
    let rows = sqlx::query_as!(
        AlertRow,
        r#"SELECT id, sku, available, threshold, raised_by, raised_at
           FROM inventory.low_stock_alerts
           WHERE ($1::text IS NULL OR sku = $1)
             AND ($2::timestamptz IS NULL OR (raised_at, id) < ($2, $3::text))
           ORDER BY raised_at DESC, id DESC
           LIMIT $4"#,
        sku,
        after_at,
        after_id,
        limit + 1
    )
    .fetch_all(pool)
    .await?;
    let more = rows.len() as i64 > limit;
    let rows: Vec<AlertRow> = rows.into_iter().take(limit as usize).collect();
    let next = if more {
        rows.last().map(|r| TextCursor {
            at: r.raised_at,
            key: r.id.clone(),
        })
    } else {
        None
    };
    Ok((rows, next))
}

/// Puts stock in a warehouse unless the SKU already has a row there (demo data and imports;
/// a count goes through `set_on_hand`).
pub async fn seed_stock(
    pool: &PgPool,
    sku: &Sku,
    warehouse: &str,
    on_hand: i64,
) -> Result<(), Error> {
    sqlx::query!(
        r#"INSERT INTO inventory.stock (sku, warehouse, on_hand) VALUES ($1, $2, $3)
           ON CONFLICT ON CONSTRAINT stock_pkey DO NOTHING"#,
        sku.as_str(),
        warehouse,
        on_hand
    )
    .execute(pool)
    .await?;
    Ok(())
}
