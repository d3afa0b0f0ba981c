//! Cart storage: Redis for live carts, Postgres for checkout snapshots.

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use souk_contracts::cart::CartSnapshot;
use souk_domain::event::EventEnvelope;
use souk_domain::{CountryCode, Currency, Money, Quantity, Sku};
use sqlx::PgPool;
use uuid::Uuid;

use souk_kit::{Ctx, outbox};

/// A cart as stored. `version` increases with every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCart {
    pub id: String,
    pub version: i64,
    pub currency: Currency,
    pub country: CountryCode,
    /// Kept for carts stored before `coupon_customer`; not written any more.
    #[serde(default, skip_serializing)]
    pub customer: Option<String>,
    /// Who a coupon's per-customer limit counts the cart against while it is priced for a
    /// checkout (`souk_domain::coupon::customer_keys`). Never stored: an owned cart is
    /// counted against its owner.
    #[serde(skip)]
    pub coupon_customer: Vec<String>,
    /// The signed-in customer the cart belongs to; `None` for a guest cart (anyone holding
    /// its id may use it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default)]
    pub coupon_code: Option<String>,
    pub lines: Vec<StoredLine>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The checkout that holds the cart: while it runs the cart cannot change; once it has
    /// completed, the cart is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout: Option<CheckoutHold>,
}

/// A checkout's hold on its cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutHold {
    pub checkout_id: String,
    pub attempt: u32,
    /// `running` or `completed`.
    pub state: String,
    /// A running checkout's hold lapses then (a checkout that ended without releasing it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

impl StoredCart {
    /// The checkout holding the cart now, if any.
    pub fn held_by(&self, now: DateTime<Utc>) -> Option<&CheckoutHold> {
        self.checkout
            .as_ref()
            .filter(|h| h.state == "completed" || h.until.is_none_or(|u| u > now))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLine {
    pub sku: Sku,
    pub quantity: Quantity,
    /// The unit price when the line was added (or last increased).
    pub added_unit_price: Money,
    pub added_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the cart was changed concurrently")]
    Conflict,
    #[error("cart not found")]
    NotFound,
    #[error("stored cart is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

/// Compare-and-set of a cart document plus its outbox event, in one atomic step.
/// Returns 1 when written, 0 on a version mismatch, -1 when the cart does not exist.
const CAS: &str = r#"
local current = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == 'new' then
  if current then return 0 end
else
  if not current then return -1 end
  if current ~= ARGV[1] then return 0 end
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'doc', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'event', ARGV[5])
return 1
"#;

#[derive(Clone)]
pub struct CartStore {
    redis: ConnectionManager,
    prefix: String,
    ttl_seconds: i64,
    script: redis::Script,
}

impl CartStore {
    /// `prefix` namespaces every key (so several installations can share one Redis).
    pub fn new(redis: ConnectionManager, prefix: impl Into<String>, ttl_seconds: i64) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
            ttl_seconds,
            script: redis::Script::new(CAS),
        }
    }

    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }

    fn key(&self, id: &str) -> String {
        format!("{}cart:{id}", self.prefix)
    }

    /// The Redis stream that is the cart domain's outbox.
    pub fn outbox_key(&self) -> String {
        format!("{}cart:outbox", self.prefix)
    }

    pub async fn get(&self, id: &str) -> Result<Option<StoredCart>, StoreError> {
        let mut conn = self.redis.clone();
        let doc: Option<String> = redis::cmd("HGET")
            .arg(self.key(id))
            .arg("doc")
            .query_async(&mut conn)
            .await?;
        doc.map(|d| serde_json::from_str(&d).map_err(StoreError::from))
            .transpose()
    }

    /// Writes `cart` if the stored version is still `cart.version - 1` (or the cart is new
    /// when `cart.version == 1`), together with `event`.
    pub async fn put(&self, cart: &StoredCart, event: &EventEnvelope) -> Result<(), StoreError> {
        let expected = if cart.version == 1 {
            "new".to_string()
        } else {
            (cart.version - 1).to_string()
        };
        let mut conn = self.redis.clone();
        let written: i64 = self
            .script
            .key(self.key(&cart.id))
            .key(self.outbox_key())
            .arg(expected)
            .arg(cart.version)
            .arg(serde_json::to_string(cart)?)
            .arg(self.ttl_seconds)
            .arg(serde_json::to_string(event)?)
            .arg(100_000)
            .invoke_async(&mut conn)
            .await?;
        match written {
            1 => Ok(()),
            -1 => Err(StoreError::NotFound),
            _ => Err(StoreError::Conflict),
        }
    }

    fn user_key(&self, user_id: &str) -> String {
        format!("{}cart:user:{user_id}", self.prefix)
    }

    /// The id of `user_id`'s current cart, if one was recorded.
    pub async fn user_cart(&self, user_id: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.redis.clone();
        Ok(redis::cmd("GET")
            .arg(self.user_key(user_id))
            .query_async(&mut conn)
            .await?)
    }

    /// Records `cart_id` as `user_id`'s current cart (for as long as carts live).
    pub async fn set_user_cart(&self, user_id: &str, cart_id: &str) -> Result<(), StoreError> {
        let mut conn = self.redis.clone();
        let _: () = redis::cmd("SET")
            .arg(self.user_key(user_id))
            .arg(cart_id)
            .arg("EX")
            .arg(self.ttl_seconds)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Deletes a cart if it is still at `version` (nobody changed or held it meanwhile), with
    /// its outbox event, atomically; `Conflict` otherwise.
    pub async fn delete_if(
        &self,
        id: &str,
        version: i64,
        event: &EventEnvelope,
    ) -> Result<(), StoreError> {
        let mut conn = self.redis.clone();
        let deleted: i64 = redis::Script::new(
            r#"
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'event', ARGV[2])
return 1
"#,
        )
        .key(self.key(id))
        .key(self.outbox_key())
        .arg(version)
        .arg(serde_json::to_string(event)?)
        .arg(100_000)
        .invoke_async(&mut conn)
        .await?;
        if deleted == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    /// Forgets `user_id`'s current cart (it was checked out).
    pub async fn clear_user_cart(&self, user_id: &str) -> Result<(), StoreError> {
        let mut conn = self.redis.clone();
        let _: () = redis::cmd("DEL")
            .arg(self.user_key(user_id))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.redis.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}

/// A snapshot already written for this checkout attempt, if any.
pub async fn snapshot_for_checkout(
    pool: &PgPool,
    checkout_id: &str,
    attempt: u32,
) -> sqlx::Result<Option<CartSnapshot>> {
    let row = sqlx::query!(
        r#"SELECT id, cart_id, checkout_id, attempt, currency, country, lines, coupon_code, coupon_applied,
                  subtotal, discount, tax, shipping, total, shipping_by_vendor
           FROM cart.snapshots WHERE checkout_id = $1 AND attempt = $2"#,
        checkout_id,
        attempt as i32
    )
    .fetch_optional(pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let decode = |e: String| sqlx::Error::Decode(e.into());
    let currency = Currency::parse(&r.currency).map_err(|e| decode(e.to_string()))?;
    let money = |a: i64| Money::new(a, currency);
    Ok(Some(CartSnapshot {
        snapshot_id: r.id,
        cart_id: r.cart_id,
        checkout_id: r.checkout_id,
        attempt: r.attempt as u32,
        currency,
        country: CountryCode::parse(&r.country).map_err(|e| decode(e.to_string()))?,
        lines: serde_json::from_value(r.lines).map_err(|e| decode(e.to_string()))?,
        coupon_code: r.coupon_code,
        coupon_applied: r.coupon_applied,
        subtotal: money(r.subtotal),
        discount: money(r.discount),
        tax: money(r.tax),
        shipping: money(r.shipping),
        total: money(r.total),
        shipping_by_vendor: serde_json::from_value(r.shipping_by_vendor)
            .map_err(|e| decode(e.to_string()))?,
    }))
}

/// Writes the snapshot once per checkout attempt and returns the one that is stored (the
/// earlier one if this attempt was snapshotted before).
pub async fn save_snapshot(
    pool: &PgPool,
    ctx: &Ctx,
    s: &CartSnapshot,
) -> sqlx::Result<CartSnapshot> {
    let mut tx = pool.begin().await?;
    let lines = serde_json::to_value(&s.lines).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let inserted = sqlx::query_scalar!(
        r#"INSERT INTO cart.snapshots (id, cart_id, checkout_id, currency, country, lines, coupon_code,
               coupon_applied, subtotal, discount, tax, shipping, total, shipping_by_vendor, attempt)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
           ON CONFLICT ON CONSTRAINT snapshots_checkout_attempt_key DO NOTHING
           RETURNING id"#,
        s.snapshot_id,
        s.cart_id,
        s.checkout_id,
        s.currency.code(),
        s.country.as_str(),
        lines,
        s.coupon_code,
        s.coupon_applied,
        s.subtotal.amount,
        s.discount.amount,
        s.tax.amount,
        s.shipping.amount,
        s.total.amount,
        serde_json::to_value(&s.shipping_by_vendor).map_err(|e| sqlx::Error::Encode(Box::new(e)))?,
        s.attempt as i32
    )
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_none() {
        tx.rollback().await?;
        return snapshot_for_checkout(pool, &s.checkout_id, s.attempt)
            .await?
            .ok_or(sqlx::Error::RowNotFound);
    }
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "cart.checked_out",
        serde_json::json!({
            "cart_id": s.cart_id, "checkout_id": s.checkout_id, "attempt": s.attempt,
            "snapshot_id": s.snapshot_id,
            "total": s.total, "lines": s.lines.len(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(s.clone())
}

/// A new unguessable cart id: 122 random bits from the OS.
pub fn new_cart_id() -> String {
    Uuid::new_v4().to_string()
}
