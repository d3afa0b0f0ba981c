//! The `auth` schema's SQL: every statement the service runs, one function each, on the
//! connection or transaction the flow holds.

use chrono::{DateTime, Utc};
use souk_domain::identity::Role;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::audit::Entry;
use super::lockout::Counter;
use super::{AuditRecord, Meta, User};

fn roles(names: Vec<String>) -> Vec<Role> {
    names.iter().filter_map(|r| Role::parse(r)).collect()
}

// ---- the audit trail ----

/// Appends `entry` to the audit trail, with who asked and from where.
pub(super) async fn audit(
    conn: &mut PgConnection,
    meta: &Meta,
    entry: Entry<'_>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO auth.audit_log (event, outcome, user_id, email, actor, ip, request_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        entry.event,
        entry.outcome.as_str(),
        entry.user_id,
        entry.email,
        meta.ctx.actor,
        meta.ip,
        meta.ctx.trace.request_id,
        entry.details
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The trail, newest first, `limit` entries before the entry `before` (exclusive).
pub(super) async fn audit_log(
    pool: &PgPool,
    user_id: Option<Uuid>,
    event: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<AuditRecord>> {
    sqlx::query_as!(
        AuditRecord,
        "SELECT id, at, event, outcome, user_id, email, actor, ip, request_id, details
           FROM auth.audit_log
          WHERE ($1::uuid IS NULL OR user_id = $1)
            AND ($2::text IS NULL OR event = $2)
            AND ($3::bigint IS NULL OR id < $3)
          ORDER BY id DESC
          LIMIT $4",
        user_id,
        event,
        before,
        limit
    )
    .fetch_all(pool)
    .await
}

// ---- accounts ----

/// A user row with its password hash and sealed second factor.
pub(super) struct Account {
    pub user: User,
    pub password_hash: String,
    pub totp_secret: Option<Vec<u8>>,
}

pub(super) async fn account_by_email(
    conn: &mut PgConnection,
    email: &str,
) -> sqlx::Result<Option<Account>> {
    let row = sqlx::query!(
        r#"SELECT u.id, u.email, u.password_hash, u.status, u.vendor_id, u.created_at, u.last_login_at,
                  u.totp_secret, u.totp_enabled_at,
                  COALESCE(array_agg(r.role ORDER BY r.role) FILTER (WHERE r.role IS NOT NULL), '{}') AS "roles!"
             FROM auth.users u LEFT JOIN auth.user_roles r ON r.user_id = u.id
            WHERE lower(u.email) = lower($1)
            GROUP BY u.id"#,
        email
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| Account {
        user: User {
            id: r.id,
            email: r.email,
            status: r.status,
            roles: roles(r.roles),
            vendor_id: r.vendor_id,
            created_at: r.created_at,
            last_login_at: r.last_login_at,
            mfa_enabled: r.totp_enabled_at.is_some(),
        },
        password_hash: r.password_hash,
        totp_secret: r.totp_secret,
    }))
}

pub(super) async fn user_by_id(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<User>> {
    let row = sqlx::query!(
        r#"SELECT u.id, u.email, u.status, u.vendor_id, u.created_at, u.last_login_at, u.totp_enabled_at,
                  COALESCE(array_agg(r.role ORDER BY r.role) FILTER (WHERE r.role IS NOT NULL), '{}') AS "roles!"
             FROM auth.users u LEFT JOIN auth.user_roles r ON r.user_id = u.id
            WHERE u.id = $1
            GROUP BY u.id"#,
        id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| User {
        id: r.id,
        email: r.email,
        status: r.status,
        roles: roles(r.roles),
        vendor_id: r.vendor_id,
        created_at: r.created_at,
        last_login_at: r.last_login_at,
        mfa_enabled: r.totp_enabled_at.is_some(),
    }))
}

/// The e-mail address and password hash of a user.
pub(super) async fn password_of(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<(String, String)>> {
    let row = sqlx::query!(
        "SELECT email, password_hash FROM auth.users WHERE id = $1",
        id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.email, r.password_hash)))
}

/// Whether accounts created by the demo seed exist (`granted_by` of their roles).
pub async fn demo_accounts_present(pool: &PgPool) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM auth.user_roles WHERE granted_by IN ('seed', 'seed:demo')) AS "present!""#
    )
    .fetch_one(pool)
    .await
}

/// A new account; `false` if the address has one.
pub(super) async fn insert_user(
    conn: &mut PgConnection,
    id: Uuid,
    email: &str,
    password_hash: &str,
    vendor_id: Option<Uuid>,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query!(
        "INSERT INTO auth.users (id, email, password_hash, vendor_id) VALUES ($1, $2, $3, $4)",
        id,
        email,
        password_hash,
        vendor_id
    )
    .execute(conn)
    .await;
    match inserted {
        Err(sqlx::Error::Database(d)) if d.constraint() == Some("users_email_key") => Ok(false),
        other => other.map(|_| true),
    }
}

/// Grants a role (again: nothing changes).
pub(super) async fn add_role(
    conn: &mut PgConnection,
    user_id: Uuid,
    role: Role,
    granted_by: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO auth.user_roles (user_id, role, granted_by) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, role) DO NOTHING",
        user_id,
        role.as_str(),
        granted_by
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn remove_role(
    conn: &mut PgConnection,
    user_id: Uuid,
    role: Role,
) -> sqlx::Result<()> {
    sqlx::query!(
        "DELETE FROM auth.user_roles WHERE user_id = $1 AND role = $2",
        user_id,
        role.as_str()
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The vendor a vendor admin manages (none: no longer one).
pub(super) async fn set_vendor(
    conn: &mut PgConnection,
    user_id: Uuid,
    vendor_id: Option<Uuid>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE auth.users SET vendor_id = $2, updated_at = now() WHERE id = $1",
        user_id,
        vendor_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn set_status(
    conn: &mut PgConnection,
    user_id: Uuid,
    status: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE auth.users SET status = $2, updated_at = now() WHERE id = $1",
        user_id,
        status
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn set_password(
    conn: &mut PgConnection,
    user_id: Uuid,
    hash: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE auth.users SET password_hash = $2, password_changed_at = now(), updated_at = now() WHERE id = $1",
        user_id,
        hash
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn touch_last_login(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE auth.users SET last_login_at = now() WHERE id = $1",
        user_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

// ---- tokens ----

/// Raises the user's revocation watermark to at least `watermark` (epoch seconds); answers
/// the watermark in force.
pub(super) async fn raise_watermark(
    conn: &mut PgConnection,
    user_id: Uuid,
    watermark: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"UPDATE auth.users
              SET tokens_valid_after = GREATEST(COALESCE(tokens_valid_after, to_timestamp(0)), to_timestamp($2::bigint)),
                  updated_at = now()
            WHERE id = $1
        RETURNING extract(epoch FROM tokens_valid_after)::bigint AS "watermark!""#,
        user_id,
        watermark
    )
    .fetch_one(conn)
    .await
}

/// The user's revocation watermark (epoch seconds), if any.
pub(super) async fn watermark(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"SELECT extract(epoch FROM tokens_valid_after)::bigint AS "valid_after" FROM auth.users WHERE id = $1"#,
        user_id
    )
    .fetch_one(conn)
    .await
}

pub(super) async fn insert_refresh_token(
    conn: &mut PgConnection,
    family: Uuid,
    user_id: Uuid,
    hash: &[u8],
    expires_at: DateTime<Utc>,
    amr: &[String],
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO auth.refresh_tokens (id, family_id, user_id, token_hash, expires_at, amr)
         VALUES ($1, $2, $3, $4, $5, $6)",
        Uuid::now_v7(),
        family,
        user_id,
        hash,
        expires_at,
        amr
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A refresh token, held for the rest of the transaction.
pub(super) struct RefreshToken {
    pub id: Uuid,
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub amr: Vec<String>,
}

pub(super) async fn refresh_token_for_update(
    conn: &mut PgConnection,
    hash: &[u8],
) -> sqlx::Result<Option<RefreshToken>> {
    sqlx::query_as!(
        RefreshToken,
        "SELECT id, family_id, user_id, expires_at, used_at, revoked_at, amr
           FROM auth.refresh_tokens WHERE token_hash = $1 FOR UPDATE",
        hash
    )
    .fetch_optional(conn)
    .await
}

/// The sign-in (family) and user of a refresh token.
pub(super) async fn refresh_token_owner(
    conn: &mut PgConnection,
    hash: &[u8],
) -> sqlx::Result<Option<(Uuid, Uuid)>> {
    let row = sqlx::query!(
        "SELECT family_id, user_id FROM auth.refresh_tokens WHERE token_hash = $1",
        hash
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.family_id, r.user_id)))
}

pub(super) async fn use_refresh_token(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE auth.refresh_tokens SET used_at = now() WHERE id = $1",
        id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes every live token of a sign-in; answers how many.
pub(super) async fn revoke_family(
    conn: &mut PgConnection,
    family: Uuid,
    reason: &str,
) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "UPDATE auth.refresh_tokens SET revoked_at = now(), revoked_reason = $2
          WHERE family_id = $1 AND revoked_at IS NULL",
        family,
        reason
    )
    .execute(conn)
    .await?
    .rows_affected())
}

/// Revokes every live refresh token of a user; answers how many.
pub(super) async fn revoke_user_refresh_tokens(
    conn: &mut PgConnection,
    user_id: Uuid,
    reason: &str,
) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "UPDATE auth.refresh_tokens SET revoked_at = now(), revoked_reason = $2
          WHERE user_id = $1 AND revoked_at IS NULL",
        user_id,
        reason
    )
    .execute(conn)
    .await?
    .rows_affected())
}

// ---- lockout counters ----

/// The latest lock on `key` for `source` or for every source, if one is in force.
pub(super) async fn locked_until(
    conn: &mut PgConnection,
    key: &str,
    source: &str,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar!(
        r#"SELECT max(locked_until) AS "locked_until" FROM auth.login_attempts
            WHERE email_key = $1 AND source IN ('', $2) AND locked_until > now()"#,
        key,
        source
    )
    .fetch_one(conn)
    .await
}

/// Holds every counter of `key`, in the order [`counter_for_update`] takes them (the
/// sources' before the address's), so a sign-in and a failure never wait in a cycle.
pub(super) async fn hold_counters(conn: &mut PgConnection, key: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "SELECT 1 AS held FROM auth.login_attempts WHERE email_key = $1
          ORDER BY source = '', source FOR UPDATE",
        key
    )
    .fetch_all(conn)
    .await?;
    Ok(())
}

/// The counter of `key` from `source` (`""`: from anywhere), created at zero if there is
/// none, and held. One statement: a sign-in that clears the counters may delete the row
/// between two.
pub(super) async fn counter_for_update(
    conn: &mut PgConnection,
    key: &str,
    source: &str,
) -> sqlx::Result<Counter> {
    let row = sqlx::query!(
        "INSERT INTO auth.login_attempts AS a (email_key, source, failures) VALUES ($1, $2, 0)
         ON CONFLICT (email_key, source) DO UPDATE SET failures = a.failures
         RETURNING failures, window_started_at, locked_until",
        key,
        source
    )
    .fetch_one(conn)
    .await?;
    Ok(Counter {
        failures: row.failures,
        window_started_at: row.window_started_at,
        locked_until: row.locked_until,
    })
}

pub(super) async fn save_counter(
    conn: &mut PgConnection,
    key: &str,
    source: &str,
    counter: &Counter,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE auth.login_attempts
            SET failures = $3, window_started_at = $4, locked_until = $5, updated_at = now()
          WHERE email_key = $1 AND source = $2",
        key,
        source,
        counter.failures,
        counter.window_started_at,
        counter.locked_until
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Clears every counter and lock of `key`; answers how many there were.
pub(super) async fn clear_counters(conn: &mut PgConnection, key: &str) -> sqlx::Result<u64> {
    Ok(
        sqlx::query!("DELETE FROM auth.login_attempts WHERE email_key = $1", key)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

pub(super) async fn insert_unlock_token(
    conn: &mut PgConnection,
    id: Uuid,
    key: &str,
    hash: &[u8],
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO auth.unlock_tokens (id, email_key, token_hash, expires_at) VALUES ($1, $2, $3, $4)",
        id,
        key,
        hash,
        expires_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Uses up a live unlock token; answers the address it unlocks.
pub(super) async fn use_unlock_token(
    conn: &mut PgConnection,
    hash: &[u8],
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "UPDATE auth.unlock_tokens SET used_at = now()
          WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
          RETURNING email_key",
        hash
    )
    .fetch_optional(conn)
    .await
}

// ---- password resets ----

/// Ends every unused reset token of a user: only the newest works.
pub(super) async fn end_password_resets(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE auth.password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL",
        user_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn insert_password_reset(
    conn: &mut PgConnection,
    id: Uuid,
    user_id: Uuid,
    hash: &[u8],
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO auth.password_resets (id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)",
        id,
        user_id,
        hash,
        expires_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A reset token with its user's address, held for the rest of the transaction.
pub(super) struct PasswordReset {
    pub id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub email: String,
}

pub(super) async fn password_reset_for_update(
    conn: &mut PgConnection,
    hash: &[u8],
) -> sqlx::Result<Option<PasswordReset>> {
    sqlx::query_as!(
        PasswordReset,
        r#"SELECT r.id, r.user_id, r.expires_at, r.used_at, u.email
             FROM auth.password_resets r JOIN auth.users u ON u.id = r.user_id
            WHERE r.token_hash = $1 FOR UPDATE OF r"#,
        hash
    )
    .fetch_optional(conn)
    .await
}

pub(super) async fn use_password_reset(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE auth.password_resets SET used_at = now() WHERE id = $1",
        id
    )
    .execute(conn)
    .await?;
    Ok(())
}

// ---- second factors ----

/// The second-factor state of a user, held for the rest of the transaction.
pub(super) struct TotpState {
    pub email: String,
    pub totp_enabled_at: Option<DateTime<Utc>>,
    pub totp_pending_secret: Option<Vec<u8>>,
}

pub(super) async fn totp_state_for_update(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> sqlx::Result<Option<TotpState>> {
    sqlx::query_as!(
        TotpState,
        "SELECT email, totp_enabled_at, totp_pending_secret FROM auth.users WHERE id = $1 FOR UPDATE",
        user_id
    )
    .fetch_optional(conn)
    .await
}

/// The sealed secret of an enabled second factor.
pub(super) async fn totp_secret(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar!("SELECT totp_secret FROM auth.users WHERE id = $1", user_id)
        .fetch_one(conn)
        .await
}

/// Takes TOTP time step `step` if no later one was taken: a code works once.
pub(super) async fn take_totp_step(
    conn: &mut PgConnection,
    user_id: Uuid,
    step: i64,
) -> sqlx::Result<bool> {
    let fresh = sqlx::query!(
        "UPDATE auth.users SET totp_last_step = $2
          WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        user_id,
        step
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(fresh == 1)
}

/// Uses up a recovery code; `false` if it is unknown or used.
pub(super) async fn use_recovery_code(
    conn: &mut PgConnection,
    user_id: Uuid,
    hash: &[u8],
) -> sqlx::Result<bool> {
    let used = sqlx::query!(
        "UPDATE auth.recovery_codes SET used_at = now()
          WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        user_id,
        hash
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(used == 1)
}

pub(super) async fn set_pending_totp(
    conn: &mut PgConnection,
    user_id: Uuid,
    sealed: &[u8],
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE auth.users SET totp_pending_secret = $2, updated_at = now() WHERE id = $1",
        user_id,
        sealed
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The pending secret becomes the second factor; `step` is taken.
pub(super) async fn enable_pending_totp(
    conn: &mut PgConnection,
    user_id: Uuid,
    step: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE auth.users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL,
                totp_enabled_at = now(), totp_last_step = $2, updated_at = now()
          WHERE id = $1",
        user_id,
        step
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A second factor with a given sealed secret, without a confirmation round.
pub(super) async fn provision_totp(
    conn: &mut PgConnection,
    user_id: Uuid,
    sealed: &[u8],
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE auth.users SET totp_secret = $2, totp_pending_secret = NULL, totp_enabled_at = now(),
                totp_last_step = NULL, updated_at = now()
          WHERE id = $1",
        user_id,
        sealed
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn clear_totp(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE auth.users SET totp_secret = NULL, totp_pending_secret = NULL, totp_enabled_at = NULL,
                totp_last_step = NULL, updated_at = now()
          WHERE id = $1",
        user_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces the user's recovery codes by these (hashed); none clears them.
pub(super) async fn replace_recovery_codes(
    conn: &mut PgConnection,
    user_id: Uuid,
    hashes: &[Vec<u8>],
) -> sqlx::Result<()> {
    sqlx::query!(
        "DELETE FROM auth.recovery_codes WHERE user_id = $1",
        user_id
    )
    .execute(&mut *conn)
    .await?;
    for hash in hashes {
        sqlx::query!(
            "INSERT INTO auth.recovery_codes (user_id, code_hash) VALUES ($1, $2)",
            user_id,
            hash
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
