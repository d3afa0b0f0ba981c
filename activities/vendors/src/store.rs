//! SQL for the vendors schema.

use chrono::{DateTime, Utc};
use souk_domain::returns::{ReturnReason, VendorReturnPolicy};
use souk_kit::error::{Described, Kind};
use souk_kit::{Ctx, outbox};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct NewVendor {
    pub slug: String,
    pub name: String,
    pub email: String,
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vendor {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub email: String,
    pub status: String,
    pub country: String,
}

/// Creates or updates a vendor by slug; returns its id.
pub async fn upsert(pool: &PgPool, ctx: &Ctx, v: &NewVendor) -> sqlx::Result<Uuid> {
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO vendors.vendors (id, slug, name, email, country)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT ON CONSTRAINT vendors_slug_key DO UPDATE
             SET name = EXCLUDED.name, email = EXCLUDED.email, country = EXCLUDED.country,
                 updated_at = now()
           RETURNING id"#,
        Uuid::now_v7(),
        v.slug,
        v.name,
        v.email,
        v.country
    )
    .fetch_one(&mut *tx)
    .await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "vendors.vendor_upserted",
        serde_json::json!({"id": id, "slug": v.slug, "name": v.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<Vendor>> {
    sqlx::query_as!(
        Vendor,
        r#"SELECT id, slug, name, email, status, country AS "country: String" FROM vendors.vendors ORDER BY slug"#
    )
    .fetch_all(pool)
    .await
}

/// One vendor by id.
pub async fn get(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Vendor>> {
    sqlx::query_as!(
        Vendor,
        r#"SELECT id, slug, name, email, status, country AS "country: String" FROM vendors.vendors WHERE id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await
}

/// What a domain error of the vendors store is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no vendor {0}")]
    NotFound(Uuid),
    #[error("the return policy is at version {current}, not {expected}: read it again")]
    Stale { current: i32, expected: i32 },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Described for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::NotFound(_) => Kind::NotFound,
            Error::Stale { .. } => Kind::Conflict,
            Error::Invalid(_) => Kind::Invalid,
            Error::Db(_) => Kind::Unavailable,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "vendor_not_found",
            Error::Stale { .. } => "version_conflict",
            Error::Invalid(_) => "invalid_return_policy",
            Error::Db(_) => "database_unavailable",
        }
    }

    fn details(&self) -> Vec<(&'static str, String)> {
        match self {
            Error::Stale { current, .. } => vec![("current_version", current.to_string())],
            _ => Vec::new(),
        }
    }

    fn database(&self) -> Option<&sqlx::Error> {
        match self {
            Error::Db(e) => Some(e),
            _ => None,
        }
    }
}

/// A seller's own return policy as kept: version 0 (and no author) while it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    pub policy: VendorReturnPolicy,
    pub version: i32,
    pub updated_by: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// One change of a seller's return policy: what it became, who changed it and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyChange {
    pub version: i32,
    pub policy: VendorReturnPolicy,
    pub actor: String,
    pub reason: String,
    pub changed_at: DateTime<Utc>,
}

struct PolicyRow {
    window_days: Option<i32>,
    restocking_fee_bps: Option<i32>,
    non_returnable_categories: Vec<String>,
    auto_approve_reasons: Option<Vec<String>>,
    auto_approve_max_minor: Option<i64>,
    free_return_postage: bool,
    version: i32,
    updated_by: String,
    updated_at: DateTime<Utc>,
}

impl PolicyRow {
    fn record(self) -> PolicyRecord {
        PolicyRecord {
            policy: VendorReturnPolicy {
                window_days: self.window_days.and_then(|d| u32::try_from(d).ok()),
                restocking_fee_bps: self.restocking_fee_bps.and_then(|f| u32::try_from(f).ok()),
                non_returnable_categories: self.non_returnable_categories,
                // The table's check admits only reasons.
                auto_approve_reasons: self
                    .auto_approve_reasons
                    .map(|r| r.iter().filter_map(|r| ReturnReason::parse(r)).collect()),
                auto_approve_max_minor: self.auto_approve_max_minor,
                free_return_postage: self.free_return_postage,
            },
            version: self.version,
            updated_by: Some(self.updated_by),
            updated_at: Some(self.updated_at),
        }
    }
}

fn none_yet() -> PolicyRecord {
    PolicyRecord {
        policy: VendorReturnPolicy::default(),
        version: 0,
        updated_by: None,
        updated_at: None,
    }
}

async fn policy_row(
    conn: &mut sqlx::PgConnection,
    vendor_id: Uuid,
) -> sqlx::Result<Option<PolicyRow>> {
    sqlx::query_as!(
        PolicyRow,
        r#"SELECT window_days, restocking_fee_bps, non_returnable_categories,
                  auto_approve_reasons, auto_approve_max_minor, free_return_postage,
                  version, updated_by, updated_at
           FROM vendors.return_policies WHERE vendor_id = $1"#,
        vendor_id
    )
    .fetch_optional(conn)
    .await
}

/// The vendor's own return policy (version 0 while it has none); `None` for no such vendor.
pub async fn return_policy(pool: &PgPool, vendor_id: Uuid) -> sqlx::Result<Option<PolicyRecord>> {
    let mut conn = pool.acquire().await?;
    let row = policy_row(&mut conn, vendor_id).await?;
    if let Some(row) = row {
        return Ok(Some(row.record()));
    }
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM vendors.vendors WHERE id = $1) AS "e!""#,
        vendor_id
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(exists.then(none_yet))
}

/// Sets the vendor's own return policy, given `expected` (the version it was read at, if the
/// caller wants no change of someone else's overwritten). The same policy again changes
/// nothing and is answered as it is (no new version, whatever `expected` says); another is the next version, kept in the changes with the
/// actor and `reason`, and announced (`vendors.return_policy_changed`).
pub async fn set_return_policy(
    pool: &PgPool,
    ctx: &Ctx,
    vendor_id: Uuid,
    policy: &VendorReturnPolicy,
    reason: &str,
    expected: Option<i32>,
) -> Result<PolicyRecord, Error> {
    if let Some(p) = policy.problems().first() {
        return Err(Error::Invalid(format!("{}: {}", p.field, p.message)));
    }
    let mut tx = pool.begin().await?;
    // One change of a vendor's policy at a time.
    let found = sqlx::query_scalar!(
        "SELECT id FROM vendors.vendors WHERE id = $1 FOR NO KEY UPDATE",
        vendor_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if found.is_none() {
        return Err(Error::NotFound(vendor_id));
    }
    let current = policy_row(&mut tx, vendor_id)
        .await?
        .map_or_else(none_yet, PolicyRow::record);
    // The same again (a retry whose answer was lost, too) changes nothing.
    if current.policy == *policy {
        return Ok(current);
    }
    if let Some(expected) = expected
        && expected != current.version
    {
        return Err(Error::Stale {
            current: current.version,
            expected,
        });
    }
    let version = current.version + 1;
    let reasons: Option<Vec<String>> = policy
        .auto_approve_reasons
        .as_ref()
        .map(|r| r.iter().map(|r| r.as_str().to_string()).collect());
    let as_i32 = |v: Option<u32>| v.map(|v| i32::try_from(v).unwrap_or(i32::MAX));
    let row = sqlx::query_as!(
        PolicyRow,
        r#"INSERT INTO vendors.return_policies
               (vendor_id, window_days, restocking_fee_bps, non_returnable_categories,
                auto_approve_reasons, auto_approve_max_minor, free_return_postage, version,
                updated_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (vendor_id) DO UPDATE
             SET window_days = EXCLUDED.window_days,
                 restocking_fee_bps = EXCLUDED.restocking_fee_bps,
                 non_returnable_categories = EXCLUDED.non_returnable_categories,
                 auto_approve_reasons = EXCLUDED.auto_approve_reasons,
                 auto_approve_max_minor = EXCLUDED.auto_approve_max_minor,
                 free_return_postage = EXCLUDED.free_return_postage,
                 version = EXCLUDED.version, updated_by = EXCLUDED.updated_by,
                 updated_at = now()
           RETURNING window_days, restocking_fee_bps, non_returnable_categories,
                     auto_approve_reasons, auto_approve_max_minor, free_return_postage,
                     version, updated_by, updated_at"#,
        vendor_id,
        as_i32(policy.window_days),
        as_i32(policy.restocking_fee_bps),
        &policy.non_returnable_categories,
        reasons.as_deref(),
        policy.auto_approve_max_minor,
        policy.free_return_postage,
        version,
        ctx.actor
    )
    .fetch_one(&mut *tx)
    .await?;
    let snapshot = serde_json::to_value(policy).map_err(|e| Error::Invalid(e.to_string()))?;
    sqlx::query!(
        "INSERT INTO vendors.return_policy_changes (vendor_id, version, policy, actor, reason)
         VALUES ($1, $2, $3, $4, $5)",
        vendor_id,
        version,
        snapshot,
        ctx.actor,
        reason
    )
    .execute(&mut *tx)
    .await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "vendors.return_policy_changed",
        serde_json::json!({"vendor_id": vendor_id, "version": version, "policy": snapshot, "reason": reason}),
    )
    .await?;
    tx.commit().await?;
    Ok(row.record())
}

/// The changes of the vendor's return policy, newest first, `limit` of them before version
/// `before` (none: the newest).
pub async fn return_policy_changes(
    pool: &PgPool,
    vendor_id: Uuid,
    before: Option<i32>,
    limit: i64,
) -> sqlx::Result<Vec<PolicyChange>> {
    let rows = sqlx::query!(
        "SELECT version, policy, actor, reason, changed_at
         FROM vendors.return_policy_changes
         WHERE vendor_id = $1 AND ($2::integer IS NULL OR version < $2)
         ORDER BY version DESC LIMIT $3",
        vendor_id,
        before,
        limit
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(PolicyChange {
                version: r.version,
                policy: serde_json::from_value(r.policy)
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                actor: r.actor,
                reason: r.reason,
                changed_at: r.changed_at,
            })
        })
        .collect()
}
