//! SQL for the pricing schema.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use souk_domain::coupon::{
    Coupon, CouponScope, CouponUsage, DiscountKind, Rejection, normalize_code,
};
use souk_domain::quote::{self, BasketLine, Quote, QuoteError, QuoteInput, ShippingRate};
use souk_domain::{CountryCode, Currency, Money, Quantity, Sku};
use sqlx::PgPool;
use uuid::Uuid;

use souk_contracts::failures;
use souk_kit::error::{Described, Kind};
use souk_kit::{Ctx, outbox};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no price in {currency} for {}", skus.join(", "))]
    PriceUnavailable {
        skus: Vec<String>,
        currency: Currency,
    },
    #[error("no shipping to {country} in {currency}")]
    ShippingUnavailable {
        country: CountryCode,
        currency: Currency,
    },
    #[error("coupon {code} cannot be redeemed: {rejection}")]
    CouponRejected { code: String, rejection: Rejection },
    #[error(transparent)]
    Quote(#[from] QuoteError),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Described for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::PriceUnavailable { .. }
            | Error::ShippingUnavailable { .. }
            | Error::CouponRejected { .. } => Kind::Conflict,
            Error::Invalid(_) => Kind::Invalid,
            Error::Quote(_) => Kind::Internal,
            Error::Db(_) => Kind::Unavailable,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Error::PriceUnavailable { .. } => "price_unavailable",
            Error::ShippingUnavailable { .. } => "shipping_unavailable",
            Error::CouponRejected { .. } => "coupon_rejected",
            Error::Invalid(_) => "invalid_request",
            Error::Quote(_) => "internal",
            Error::Db(_) => "database_unavailable",
        }
    }

    fn details(&self) -> Vec<(&'static str, String)> {
        match self {
            Error::PriceUnavailable { skus, currency } => {
                vec![("skus", skus.join(",")), ("currency", currency.to_string())]
            }
            Error::ShippingUnavailable { country, .. } => vec![("country", country.to_string())],
            Error::CouponRejected { rejection, .. } => {
                vec![("reason", rejection.code().to_string())]
            }
            _ => Vec::new(),
        }
    }

    fn failure_type(&self) -> Option<&'static str> {
        match self {
            Error::CouponRejected { .. } => Some(failures::COUPON_REJECTED),
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub sku: String,
    pub price: Money,
    pub compare_at: Option<Money>,
}

pub async fn prices(
    pool: &PgPool,
    skus: &[String],
    currency: Currency,
) -> Result<Vec<Price>, Error> {
    let rows = sqlx::query!(
        "SELECT sku, amount, compare_at_amount FROM pricing.prices WHERE sku = ANY($1) AND currency = $2",
        skus,
        currency.code()
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Price {
            sku: r.sku,
            price: Money::new(r.amount, currency),
            compare_at: r.compare_at_amount.map(|a| Money::new(a, currency)),
        })
        .collect())
}

pub async fn tax_rates(pool: &PgPool, country: CountryCode) -> Result<HashMap<String, i64>, Error> {
    let rows = sqlx::query!(
        "SELECT tax_class, rate_bp FROM pricing.tax_rates WHERE country = $1",
        country.as_str()
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.tax_class, i64::from(r.rate_bp)))
        .collect())
}

pub async fn shipping_rate(
    pool: &PgPool,
    country: CountryCode,
    currency: Currency,
) -> Result<Option<ShippingRate>, Error> {
    let row = sqlx::query!(
        "SELECT per_vendor_amount, free_over_amount FROM pricing.shipping_rates WHERE country = $1 AND currency = $2",
        country.as_str(),
        currency.code()
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| ShippingRate {
        per_vendor: Money::new(r.per_vendor_amount, currency),
        free_over: r.free_over_amount.map(|a| Money::new(a, currency)),
    }))
}

struct CouponRow {
    id: Uuid,
    code: String,
    description: String,
    kind: String,
    percent_bp: Option<i32>,
    amount_off: Option<i64>,
    currency: Option<String>,
    min_order_amount: Option<i64>,
    max_discount_amount: Option<i64>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    total_limit: Option<i32>,
    per_customer_limit: Option<i32>,
    scope: String,
    scope_ids: Vec<Uuid>,
    active: bool,
}

impl CouponRow {
    fn into_domain(self) -> Result<(Uuid, Coupon), Error> {
        let bad = |what: &str| Error::Invalid(format!("coupon {} has invalid {what}", self.code));
        let currency = self
            .currency
            .as_deref()
            .map(|c| Currency::parse(c).map_err(|_| bad("currency")))
            .transpose()?;
        let money = |a: Option<i64>| -> Result<Option<Money>, Error> {
            match (a, currency) {
                (None, _) => Ok(None),
                (Some(a), Some(c)) => Ok(Some(Money::new(a, c))),
                (Some(_), None) => Err(bad("currency")),
            }
        };
        let discount = match self.kind.as_str() {
            "percent" => DiscountKind::Percent {
                basis_points: i64::from(self.percent_bp.ok_or_else(|| bad("percent"))?),
            },
            "fixed" => DiscountKind::Fixed {
                amount: money(self.amount_off)?.ok_or_else(|| bad("amount"))?,
            },
            _ => return Err(bad("kind")),
        };
        let scope = match self.scope.as_str() {
            "all" => CouponScope::All,
            "vendor" => CouponScope::Vendor(self.scope_ids.clone()),
            "category" => CouponScope::Category(self.scope_ids.clone()),
            "product" => CouponScope::Product(self.scope_ids.clone()),
            _ => return Err(bad("scope")),
        };
        Ok((
            self.id,
            Coupon {
                discount,
                min_order: money(self.min_order_amount)?,
                max_discount: money(self.max_discount_amount)?,
                starts_at: self.starts_at,
                ends_at: self.ends_at,
                total_limit: self.total_limit.map(i64::from),
                per_customer_limit: self.per_customer_limit.map(i64::from),
                scope,
                active: self.active,
                code: self.code,
                description: self.description,
            },
        ))
    }
}

/// A coupon by code (case-insensitive).
pub async fn coupon(pool: &PgPool, code: &str) -> Result<Option<(Uuid, Coupon)>, Error> {
    let Some(code) = normalize_code(code) else {
        return Ok(None);
    };
    let row = sqlx::query_as!(
        CouponRow,
        r#"SELECT id, code, description, kind, percent_bp, amount_off, currency AS "currency: String",
                  min_order_amount, max_discount_amount, starts_at, ends_at, total_limit,
                  per_customer_limit, scope, scope_ids, active
           FROM pricing.coupons WHERE code = $1"#,
        code
    )
    .fetch_optional(pool)
    .await?;
    row.map(CouponRow::into_domain).transpose()
}

/// Redemptions so far, in total and by the customer known by any of `customer_keys` (when
/// known).
pub async fn coupon_usage(
    pool: &PgPool,
    coupon_id: Uuid,
    customer_keys: &[String],
) -> Result<CouponUsage, Error> {
    let r = sqlx::query!(
        r#"SELECT count(*) AS "total!",
                  count(*) FILTER (WHERE customer_keys && $2) AS "by_customer!"
           FROM pricing.coupon_redemptions WHERE coupon_id = $1 AND state IN ('held', 'redeemed')"#,
        coupon_id,
        customer_keys
    )
    .fetch_one(pool)
    .await?;
    Ok(CouponUsage {
        total: r.total,
        by_customer: (!customer_keys.is_empty()).then_some(r.by_customer),
    })
}

/// A basket line as the caller (cart, checkout) describes it.
#[derive(Debug, Clone)]
pub struct QuoteLine {
    pub sku: Sku,
    pub quantity: Quantity,
    pub tax_class: String,
    pub vendor_id: Uuid,
    pub product_id: Uuid,
    pub category_ids: Vec<Uuid>,
}

#[derive(Debug, Clone)]
pub struct QuoteRequest {
    pub currency: Currency,
    pub country: CountryCode,
    pub lines: Vec<QuoteLine>,
    pub coupon_code: Option<String>,
    /// Who is buying, for per-customer limits (`souk_domain::coupon::customer_keys`); empty
    /// when not known yet.
    pub customer_keys: Vec<String>,
}

/// Prices a basket with current prices, the destination's taxes and shipping, and the coupon.
pub async fn quote(pool: &PgPool, req: &QuoteRequest, now: DateTime<Utc>) -> Result<Quote, Error> {
    let skus: Vec<String> = req.lines.iter().map(|l| l.sku.to_string()).collect();
    let (prices, rates, shipping, coupon) = tokio::try_join!(
        prices(pool, &skus, req.currency),
        tax_rates(pool, req.country),
        shipping_rate(pool, req.country, req.currency),
        async {
            match &req.coupon_code {
                None => Ok(None),
                Some(code) => match coupon(pool, code).await? {
                    None => Ok(Some(None)),
                    Some((id, c)) => {
                        let usage = coupon_usage(pool, id, &req.customer_keys).await?;
                        Ok::<_, Error>(Some(Some((c, usage))))
                    }
                },
            }
        }
    )?;
    let missing: Vec<String> = skus
        .iter()
        .filter(|s| !prices.iter().any(|p| &p.sku == *s))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(Error::PriceUnavailable {
            skus: missing,
            currency: req.currency,
        });
    }
    let shipping = match shipping {
        Some(s) => s,
        None => {
            return Err(Error::ShippingUnavailable {
                country: req.country,
                currency: req.currency,
            });
        }
    };
    let lines: Vec<BasketLine> = req
        .lines
        .iter()
        .map(|l| BasketLine {
            sku: l.sku.clone(),
            quantity: l.quantity,
            unit_price: prices
                .iter()
                .find(|p| p.sku == l.sku.as_str())
                .map(|p| p.price)
                .unwrap_or(Money::zero(req.currency)),
            tax_class: l.tax_class.clone(),
            vendor_id: l.vendor_id,
            product_id: l.product_id,
            category_ids: l.category_ids.clone(),
        })
        .collect();
    let code = req
        .coupon_code
        .as_deref()
        .map(|c| normalize_code(c).unwrap_or_else(|| c.to_string()));
    let coupon_arg = match (&code, &coupon) {
        (Some(code), Some(found)) => Some((code.as_str(), found.as_ref().map(|(c, u)| (c, *u)))),
        _ => None,
    };
    Ok(quote::quote(&QuoteInput {
        currency: req.currency,
        lines: &lines,
        tax_rates: &rates,
        shipping,
        coupon: coupon_arg,
        now,
    })?)
}

/// Holds a redemption of `code` under `key` (a checkout attempt) for the customer known by
/// `customer_keys`, checking the window and limits while holding the coupon's row lock, so
/// concurrent checkouts cannot exceed a limit. A hold counts against the limits until it is
/// confirmed ([`redeem`]) or released ([`reverse_redemption`]). Holding again with the same
/// key is a no-op, unless it brings keys the hold did not have (the card, once authorized):
/// then the per-customer limit is checked for those too, and they are added.
pub async fn hold(
    pool: &PgPool,
    ctx: &Ctx,
    code: &str,
    key: &str,
    customer_keys: &[String],
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let norm = normalize_code(code).ok_or_else(|| Error::CouponRejected {
        code: code.to_string(),
        rejection: Rejection::NotFound,
    })?;
    if customer_keys.is_empty() {
        return Err(Error::Invalid("a hold needs to know who redeems".into()));
    }
    let mut tx = pool.begin().await?;
    let row = sqlx::query_as!(
        CouponRow,
        r#"SELECT id, code, description, kind, percent_bp, amount_off, currency AS "currency: String",
                  min_order_amount, max_discount_amount, starts_at, ends_at, total_limit,
                  per_customer_limit, scope, scope_ids, active
           FROM pricing.coupons WHERE code = $1 FOR UPDATE"#,
        norm
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(Error::CouponRejected {
            code: norm,
            rejection: Rejection::NotFound,
        });
    };
    let (id, coupon) = row.into_domain()?;
    let already = sqlx::query!(
        "SELECT state, customer_keys FROM pricing.coupon_redemptions WHERE coupon_id = $1 AND redemption_key = $2",
        id,
        key
    )
    .fetch_optional(&mut *tx)
    .await?;
    let held = already
        .as_ref()
        .filter(|r| matches!(r.state.as_str(), "held" | "redeemed"));
    let mut keys: Vec<String> = held.map(|r| r.customer_keys.clone()).unwrap_or_default();
    let before = keys.len();
    for k in customer_keys {
        if !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    if held.is_some() && keys.len() == before {
        return Ok(());
    }
    // Everyone else's redemptions: this one (held already, or being held) is not counted.
    let usage = sqlx::query!(
        r#"SELECT count(*) AS "total!", count(*) FILTER (WHERE customer_keys && $3) AS "by_customer!"
           FROM pricing.coupon_redemptions
           WHERE coupon_id = $1 AND redemption_key <> $2 AND state IN ('held', 'redeemed')"#,
        id,
        key,
        &keys
    )
    .fetch_one(&mut *tx)
    .await?;
    let checked = if held.is_some() {
        // Only who it counts against is new: the window and the total were checked when it
        // was held.
        match coupon.per_customer_limit {
            Some(limit) if usage.by_customer >= limit => Err(Rejection::CustomerLimitReached),
            _ => Ok(()),
        }
    } else {
        coupon.check_window_and_limits(
            CouponUsage {
                total: usage.total,
                by_customer: Some(usage.by_customer),
            },
            now,
        )
    };
    checked.map_err(|rejection| Error::CouponRejected {
        code: norm.clone(),
        rejection,
    })?;
    let customer = keys[0].clone();
    sqlx::query!(
        r#"INSERT INTO pricing.coupon_redemptions (id, coupon_id, redemption_key, customer, customer_keys)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT ON CONSTRAINT coupon_redemptions_key_unique
           DO UPDATE SET state = CASE WHEN pricing.coupon_redemptions.state = 'redeemed' THEN 'redeemed' ELSE 'held' END,
                         customer = EXCLUDED.customer, customer_keys = EXCLUDED.customer_keys,
                         updated_at = now()"#,
        Uuid::now_v7(),
        id,
        key,
        customer,
        &keys
    )
    .execute(&mut *tx)
    .await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "pricing.coupon_held",
        serde_json::json!({"code": norm, "redemption_key": key, "customer_keys": keys}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Confirms a held redemption once the order is paid. Idempotent; confirming what was never
/// held is an error (the checkout must hold first).
pub async fn redeem(pool: &PgPool, ctx: &Ctx, code: &str, key: &str) -> Result<(), Error> {
    let norm = normalize_code(code)
        .ok_or_else(|| Error::Invalid(format!("invalid coupon code {code}")))?;
    let mut tx = pool.begin().await?;
    let state = sqlx::query_scalar!(
        r#"SELECT r.state FROM pricing.coupon_redemptions r JOIN pricing.coupons c ON c.id = r.coupon_id
           WHERE c.code = $1 AND r.redemption_key = $2 FOR UPDATE OF r"#,
        norm,
        key
    )
    .fetch_optional(&mut *tx)
    .await?;
    match state.as_deref() {
        Some("redeemed") => return Ok(()),
        Some("held") => {}
        Some(_) => {
            return Err(Error::Invalid(format!(
                "the hold on {norm} for {key} was released"
            )));
        }
        None => return Err(Error::Invalid(format!("no hold on {norm} for {key}"))),
    }
    sqlx::query!(
        r#"UPDATE pricing.coupon_redemptions r SET state = 'redeemed', updated_at = now()
           FROM pricing.coupons c WHERE c.id = r.coupon_id AND c.code = $1 AND r.redemption_key = $2"#,
        norm,
        key
    )
    .execute(&mut *tx)
    .await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "pricing.coupon_redeemed",
        serde_json::json!({"code": norm, "redemption_key": key}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Releases a hold or reverses a redemption (a compensation). Idempotent; releasing what was
/// never held is a no-op.
pub async fn reverse_redemption(
    pool: &PgPool,
    ctx: &Ctx,
    code: &str,
    key: &str,
) -> Result<(), Error> {
    let Some(norm) = normalize_code(code) else {
        return Ok(());
    };
    let mut tx = pool.begin().await?;
    let n = sqlx::query!(
        r#"UPDATE pricing.coupon_redemptions r SET state = 'reversed', updated_at = now()
           FROM pricing.coupons c
           WHERE c.id = r.coupon_id AND c.code = $1 AND r.redemption_key = $2 AND r.state IN ('held', 'redeemed')"#,
        norm,
        key
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n > 0 {
        outbox::emit(
            &mut tx,
            &crate::SCHEMA,
            ctx,
            "pricing.coupon_redemption_reversed",
            serde_json::json!({"code": norm, "redemption_key": key}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn upsert_price(
    pool: &PgPool,
    ctx: &Ctx,
    sku: &Sku,
    price: Money,
    compare_at: Option<Money>,
) -> Result<(), Error> {
    if compare_at.is_some_and(|c| c.currency != price.currency || c.amount <= price.amount) {
        return Err(Error::Invalid(
            "compare-at price must be higher than the price, in the same currency".into(),
        ));
    }
    let mut tx = pool.begin().await?;
    sqlx::query!(
        r#"INSERT INTO pricing.prices (sku, currency, amount, compare_at_amount) VALUES ($1, $2, $3, $4)
           ON CONFLICT ON CONSTRAINT prices_pkey DO UPDATE
             SET amount = EXCLUDED.amount, compare_at_amount = EXCLUDED.compare_at_amount, updated_at = now()"#,
        sku.as_str(),
        price.currency.code(),
        price.amount,
        compare_at.map(|c| c.amount)
    )
    .execute(&mut *tx)
    .await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "pricing.price_set",
        serde_json::json!({"sku": sku, "price": price, "compare_at_price": compare_at}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn upsert_tax_rate(
    pool: &PgPool,
    country: CountryCode,
    tax_class: &str,
    rate_bp: i32,
) -> Result<(), Error> {
    sqlx::query!(
        r#"INSERT INTO pricing.tax_rates (country, tax_class, rate_bp) VALUES ($1, $2, $3)
           ON CONFLICT ON CONSTRAINT tax_rates_pkey DO UPDATE SET rate_bp = EXCLUDED.rate_bp, updated_at = now()"#,
        country.as_str(),
        tax_class,
        rate_bp
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn upsert_shipping_rate(
    pool: &PgPool,
    country: CountryCode,
    rate: ShippingRate,
) -> Result<(), Error> {
    sqlx::query!(
        r#"INSERT INTO pricing.shipping_rates (country, currency, per_vendor_amount, free_over_amount)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT ON CONSTRAINT shipping_rates_pkey DO UPDATE
             SET per_vendor_amount = EXCLUDED.per_vendor_amount,
                 free_over_amount = EXCLUDED.free_over_amount, updated_at = now()"#,
        country.as_str(),
        rate.per_vendor.currency.code(),
        rate.per_vendor.amount,
        rate.free_over.map(|f| f.amount)
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Creates or replaces a coupon by code.
pub async fn upsert_coupon(pool: &PgPool, ctx: &Ctx, c: &Coupon) -> Result<Uuid, Error> {
    let code =
        normalize_code(&c.code).ok_or_else(|| Error::Invalid("invalid coupon code".into()))?;
    let (kind, percent_bp, amount_off) = match &c.discount {
        DiscountKind::Percent { basis_points } => ("percent", Some(*basis_points as i32), None),
        DiscountKind::Fixed { amount } => ("fixed", None, Some(amount.amount)),
    };
    let (scope, scope_ids) = match &c.scope {
        CouponScope::All => ("all", vec![]),
        CouponScope::Vendor(ids) => ("vendor", ids.clone()),
        CouponScope::Category(ids) => ("category", ids.clone()),
        CouponScope::Product(ids) => ("product", ids.clone()),
    };
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO pricing.coupons (id, code, description, kind, percent_bp, amount_off, currency,
               min_order_amount, max_discount_amount, starts_at, ends_at, total_limit,
               per_customer_limit, scope, scope_ids, active)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
           ON CONFLICT ON CONSTRAINT coupons_code_key DO UPDATE SET
               description = EXCLUDED.description, kind = EXCLUDED.kind,
               percent_bp = EXCLUDED.percent_bp, amount_off = EXCLUDED.amount_off,
               currency = EXCLUDED.currency, min_order_amount = EXCLUDED.min_order_amount,
               max_discount_amount = EXCLUDED.max_discount_amount, starts_at = EXCLUDED.starts_at,
               ends_at = EXCLUDED.ends_at, total_limit = EXCLUDED.total_limit,
               per_customer_limit = EXCLUDED.per_customer_limit, scope = EXCLUDED.scope,
               scope_ids = EXCLUDED.scope_ids, active = EXCLUDED.active, updated_at = now()
           RETURNING id"#,
        Uuid::now_v7(),
        code,
        c.description,
        kind,
        percent_bp,
        amount_off,
        c.currency().map(|c| c.code().to_string()),
        c.min_order.map(|m| m.amount),
        c.max_discount.map(|m| m.amount),
        c.starts_at,
        c.ends_at,
        c.total_limit.map(|l| l as i32),
        c.per_customer_limit.map(|l| l as i32),
        scope,
        &scope_ids,
        c.active
    )
    .fetch_one(&mut *tx)
    .await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "pricing.coupon_upserted",
        serde_json::json!({"id": id, "code": code}),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}
