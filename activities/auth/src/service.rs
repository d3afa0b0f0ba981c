//! Accounts, sign-in and tokens. Every security event is appended to `auth.audit_log`.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use souk_domain::identity::{self, AccessClaims, Role};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::crypto::{random_token, token_hash};
use super::keys::{KeyError, Keys, Rotated};
use super::mfa;
use super::notify::{AccountMail, Notifier, ResetMail};
use super::password::{HashError, Hasher};
use super::revocation::Revocations;
use souk_kit::{Ctx, outbox};
use std::sync::Arc;

/// Token lifetimes, lockout policy and the token audience.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `iss` of access tokens.
    pub issuer: String,
    /// `aud` of access tokens.
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// This many failed sign-ins for one e-mail address from one source (client address)
    /// within `lockout_window` lock it for that source for `lockout_duration`.
    pub lockout_threshold: i32,
    /// This many from all sources together lock it for everyone (the owner can unlock it by
    /// mail).
    pub lockout_address_threshold: i32,
    pub lockout_window: Duration,
    pub lockout_duration: Duration,
    /// How long a mailed reset token works.
    pub reset_ttl: Duration,
    /// The link in the reset mail; `{token}` is replaced by the token.
    pub reset_link: String,
    /// The link in the lockout mail; `{token}` is replaced by the unlock token.
    pub unlock_link: String,
}

/// Who is asking, from where: recorded with every audit entry.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub ctx: Ctx,
    pub ip: Option<String>,
}

impl Meta {
    pub fn system(actor: &str) -> Self {
        Meta {
            ctx: Ctx::new(actor),
            ip: None,
        }
    }
}

/// What a sign-in brings besides the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    None,
    Totp(String),
    Recovery(String),
}

/// Whether the signed-in user behind this call is `user_id` (an operator acting on their own
/// account).
fn acts_on_self(meta: &Meta, user_id: Uuid) -> bool {
    meta.ctx.user_id() == Some(user_id.to_string().as_str())
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidEmail(&'static str),
    #[error("{0}")]
    WeakPassword(&'static str),
    #[error("an account with this e-mail address exists")]
    EmailTaken,
    #[error("wrong e-mail address or password")]
    InvalidCredentials,
    #[error("too many failed sign-ins; try again in {retry_after_seconds} s")]
    Locked { retry_after_seconds: i64 },
    #[error("this account is blocked")]
    Blocked,
    #[error("the refresh token is invalid or expired")]
    InvalidRefreshToken,
    #[error("the refresh token was used already; every session of its sign-in is revoked")]
    RefreshTokenReused,
    #[error("unknown role `{0}`")]
    UnknownRole(String),
    #[error("a vendor admin needs a vendor id")]
    VendorRequired,
    #[error("no such user")]
    UserNotFound,
    #[error(
        "an operator cannot block their own account or take away their own roles; ask another operator"
    )]
    OwnAccount,
    #[error("invalid audit entry: {0}")]
    InvalidAudit(&'static str),
    #[error("the reset token is unknown, used or expired")]
    InvalidResetToken,
    #[error("the unlock token is unknown, used or expired")]
    InvalidUnlockToken,
    #[error("this account signs in with a second factor: send totp_code or recovery_code")]
    MfaRequired,
    #[error("the code is wrong, expired or used already")]
    InvalidMfaCode,
    #[error("a second factor is enabled already")]
    MfaAlreadyEnabled,
    #[error("no second factor is being enrolled; start again")]
    NoMfaEnrollment,
    #[error("no second factor is enabled")]
    MfaNotEnabled,
    #[error("staff and super admin accounts must keep a second factor")]
    MfaRequiredForRole,
    #[error(transparent)]
    Totp(#[from] totp_rs::TotpError),
    #[error(transparent)]
    Sealed(#[from] super::crypto::OpenError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("status must be active or blocked")]
    InvalidStatus,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub status: String,
    pub roles: Vec<Role>,
    pub vendor_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    /// A TOTP second factor is enabled.
    pub mfa_enabled: bool,
}

/// What a sign-in or refresh answers.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub kid: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    pub user: User,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub event: String,
    pub outcome: String,
    pub user_id: Option<Uuid>,
    pub email: Option<String>,
    pub actor: String,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub details: Value,
}

fn roles(names: Vec<String>) -> Vec<Role> {
    names.iter().filter_map(|r| Role::parse(r)).collect()
}

/// The key lockout counts failures under: the address, case-insensitively.
fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Where a sign-in comes from, for counting its failures: the client's address (its /64 for
/// IPv6, as the API's rate limits count it).
fn source(meta: &Meta) -> String {
    meta.ip
        .as_deref()
        .map_or_else(|| "unknown".into(), identity::client_key)
}

/// Appends to the audit trail on `conn`.
#[allow(clippy::too_many_arguments)]
async fn audit(
    conn: &mut PgConnection,
    meta: &Meta,
    event: &str,
    outcome: &str,
    user_id: Option<Uuid>,
    email: Option<&str>,
    details: Value,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO auth.audit_log (event, outcome, user_id, email, actor, ip, request_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        event,
        outcome,
        user_id,
        email,
        meta.ctx.actor,
        meta.ip,
        meta.ctx.trace.request_id,
        details
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A user row with its password hash and sealed second factor.
struct Account {
    user: User,
    password_hash: String,
    totp_secret: Option<Vec<u8>>,
}

async fn account_by_email(conn: &mut PgConnection, email: &str) -> sqlx::Result<Option<Account>> {
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

async fn user_by_id(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<User>> {
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

/// Whether accounts created by the demo seed exist (`granted_by` of their roles).
pub async fn demo_accounts_present(pool: &PgPool) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM auth.user_roles WHERE granted_by IN ('seed', 'seed:demo')) AS "present!""#
    )
    .fetch_one(pool)
    .await
}

fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some(constraint))
}

/// The auth domain's operations.
#[derive(Clone)]
pub struct AuthService {
    pool: PgPool,
    settings: Settings,
    keys: Keys,
    hasher: Hasher,
    notifier: Arc<dyn Notifier>,
    revocations: Arc<dyn Revocations>,
}

impl AuthService {
    pub fn new(
        pool: PgPool,
        settings: Settings,
        keys: Keys,
        hasher: Hasher,
        notifier: Arc<dyn Notifier>,
        revocations: Arc<dyn Revocations>,
    ) -> Self {
        Self {
            pool,
            settings,
            keys,
            hasher,
            notifier,
            revocations,
        }
    }

    pub fn revocations(&self) -> &dyn Revocations {
        self.revocations.as_ref()
    }

    /// Revokes every access token of `user_id` issued until now: sets the watermark in the
    /// transaction; [`Self::publish_user`] tells the edge once it has committed. Tokens issued
    /// from now on are dated at or after it.
    async fn revoke_user_tokens(
        &self,
        conn: &mut PgConnection,
        user_id: Uuid,
    ) -> Result<i64, Error> {
        let watermark = identity::revocation_watermark(Utc::now().timestamp_millis());
        let watermark: i64 = sqlx::query_scalar!(
            r#"UPDATE auth.users
                  SET tokens_valid_after = GREATEST(COALESCE(tokens_valid_after, to_timestamp(0)), to_timestamp($2::bigint)),
                      updated_at = now()
                WHERE id = $1
            RETURNING extract(epoch FROM tokens_valid_after)::bigint AS "watermark!""#,
            user_id,
            watermark
        )
        .fetch_one(&mut *conn)
        .await?;
        Ok(watermark)
    }

    /// Publishes a user's revocation watermark to the edge. Postgres has it already: if Redis
    /// cannot take it now, the auth worker's periodic republishing will (the revocation, a
    /// block or a password reset, never waits on Redis).
    async fn publish_user(&self, user_id: Uuid, watermark: i64) {
        if let Err(e) = self
            .revocations
            .revoke_user(&user_id.to_string(), watermark)
            .await
        {
            tracing::error!(%user_id, error = format!("{e:#}"), "revocation not published yet; it will be republished");
        }
    }

    /// Ends a sign-in at the edge too (its access tokens are refused from now on); like
    /// [`Self::publish_user`], after the commit and without waiting on Redis.
    async fn publish_session(&self, family: Uuid) {
        if let Err(e) = self.revocations.revoke_session(&family.to_string()).await {
            tracing::error!(%family, error = format!("{e:#}"), "revocation not published yet; it will be republished");
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A customer signs up. Writes `user.created` to the outbox with the account and mails a
    /// welcome. An address that has an account already gets a mail saying so, not an error:
    /// the caller learns nothing about which addresses have accounts (both take a password
    /// hash and answer the account of the address).
    pub async fn register(&self, meta: &Meta, email: &str, password: &str) -> Result<User, Error> {
        let created = self
            .create(
                meta,
                email,
                password,
                &[Role::Customer],
                None,
                "user_registered",
            )
            .await;
        match created {
            Ok(user) => {
                self.send_in_background(
                    meta,
                    AccountMail {
                        key: format!("welcome:{}", user.id),
                        to: user.email.clone(),
                        template: "welcome",
                        vars: vec![],
                        secrets: vec![],
                    },
                );
                Ok(user)
            }
            Err(Error::EmailTaken) => {
                let key = email_key(email);
                let mut conn = self.pool.acquire().await?;
                let user = account_by_email(&mut conn, &key)
                    .await?
                    .ok_or(Error::UserNotFound)?
                    .user;
                audit(
                    &mut conn,
                    meta,
                    "registration",
                    "denied",
                    Some(user.id),
                    Some(&key),
                    json!({"reason": "email_taken"}),
                )
                .await?;
                // At most one such mail an hour, however often the form is sent.
                self.send_in_background(
                    meta,
                    AccountMail {
                        key: format!(
                            "account-exists:{}:{}",
                            user.id,
                            Utc::now().format("%Y%m%d%H")
                        ),
                        to: user.email.clone(),
                        template: "account_exists",
                        vars: vec![],
                        secrets: vec![],
                    },
                );
                Ok(user)
            }
            Err(e) => Err(e),
        }
    }

    /// An account with the given roles (operators and seeding).
    pub async fn create_user(
        &self,
        meta: &Meta,
        email: &str,
        password: &str,
        roles: &[Role],
        vendor_id: Option<Uuid>,
    ) -> Result<User, Error> {
        self.create(meta, email, password, roles, vendor_id, "user_created")
            .await
    }

    async fn create(
        &self,
        meta: &Meta,
        email: &str,
        password: &str,
        roles: &[Role],
        vendor_id: Option<Uuid>,
        event: &str,
    ) -> Result<User, Error> {
        let email = identity::normalise_email(email).map_err(Error::InvalidEmail)?;
        identity::check_password(password, &email).map_err(Error::WeakPassword)?;
        if roles.contains(&Role::VendorAdmin) && vendor_id.is_none() {
            return Err(Error::VendorRequired);
        }
        let hash = self.hasher.hash(password).await?;
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query!(
            "INSERT INTO auth.users (id, email, password_hash, vendor_id) VALUES ($1, $2, $3, $4)",
            id,
            email,
            hash,
            vendor_id
        )
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e, "users_email_key") => return Err(Error::EmailTaken),
            other => other?,
        };
        for role in roles {
            sqlx::query!(
                "INSERT INTO auth.user_roles (user_id, role, granted_by) VALUES ($1, $2, $3)",
                id,
                role.as_str(),
                meta.ctx.actor
            )
            .execute(&mut *tx)
            .await?;
        }
        let role_names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        outbox::emit(
            &mut tx,
            &crate::SCHEMA,
            &meta.ctx,
            "user.created",
            json!({"user_id": id, "email": email, "roles": role_names, "vendor_id": vendor_id}),
        )
        .await?;
        audit(
            &mut tx,
            meta,
            event,
            "ok",
            Some(id),
            Some(&email),
            json!({"roles": role_names}),
        )
        .await?;
        let user = user_by_id(&mut tx, id).await?.ok_or(Error::UserNotFound)?;
        tx.commit().await?;
        tracing::info!(user_id = %id, "account created");
        Ok(user)
    }

    /// Signs in with e-mail and password. Unknown addresses and wrong passwords get the same
    /// answer, take as long, and count towards the same lockout.
    pub async fn login(&self, meta: &Meta, email: &str, password: &str) -> Result<Tokens, Error> {
        self.login_with(meta, email, password, &SecondFactor::None)
            .await
    }

    /// Signs in; an account with a second factor also needs a TOTP code or a recovery code.
    pub async fn login_with(
        &self,
        meta: &Meta,
        email: &str,
        password: &str,
        second: &SecondFactor,
    ) -> Result<Tokens, Error> {
        let key = email_key(email);
        let mut conn = self.pool.acquire().await?;
        if let Some(retry_after_seconds) = self.locked_for(&mut conn, &key, meta).await? {
            audit(
                &mut conn,
                meta,
                "login",
                "denied",
                None,
                Some(&key),
                json!({"reason": "locked"}),
            )
            .await?;
            return Err(Error::Locked {
                retry_after_seconds,
            });
        }
        let account = account_by_email(&mut conn, &key).await?;
        let ok = self
            .hasher
            .verify(password, account.as_ref().map(|a| a.password_hash.as_str()))
            .await;
        let Some(account) = account.filter(|_| ok) else {
            drop(conn);
            return Err(self.failed_login(meta, &key).await?);
        };
        let user = account.user;
        if user.status != "active" {
            audit(
                &mut conn,
                meta,
                "login",
                "denied",
                Some(user.id),
                Some(&key),
                json!({"reason": user.status}),
            )
            .await?;
            return Err(Error::Blocked);
        }
        let mut amr = vec!["pwd".to_string()];
        if let Some(sealed) = &account.totp_secret {
            let factor = match second {
                // The password was right, but that alone is not a sign-in: it counts like a
                // failure (the sign-in that follows with the code clears the count), so a
                // known password cannot be probed without limit.
                SecondFactor::None => {
                    drop(conn);
                    return Err(match self.failed_login(meta, &key).await? {
                        Error::InvalidCredentials => Error::MfaRequired,
                        locked => locked,
                    });
                }
                other => {
                    self.check_second_factor(&mut conn, &user, sealed, other)
                        .await?
                }
            };
            match factor {
                Some(kind) => amr.extend([kind.to_string(), "mfa".to_string()]),
                None => {
                    drop(conn);
                    return Err(match self.failed_login(meta, &key).await? {
                        Error::InvalidCredentials => Error::InvalidMfaCode,
                        locked => locked,
                    });
                }
            }
        }
        drop(conn);
        let mut tx = self.pool.begin().await?;
        // A failure that passed the check above along with this sign-in may have locked the
        // address since. Holding its rows orders the two: a lock committed first refuses
        // this sign-in, a failure coming second counts from zero. The rows are taken in the
        // order failures take them (the sources' before the address's), so neither waits for
        // the other in a cycle.
        sqlx::query!(
            "SELECT 1 AS held FROM auth.login_attempts WHERE email_key = $1
              ORDER BY source = '', source FOR UPDATE",
            key
        )
        .fetch_all(&mut *tx)
        .await?;
        if let Some(retry_after_seconds) = self.locked_for(&mut tx, &key, meta).await? {
            audit(
                &mut tx,
                meta,
                "login",
                "denied",
                None,
                Some(&key),
                json!({"reason": "locked"}),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::Locked {
                retry_after_seconds,
            });
        }
        sqlx::query!("DELETE FROM auth.login_attempts WHERE email_key = $1", key)
            .execute(&mut *tx)
            .await?;
        sqlx::query!(
            "UPDATE auth.users SET last_login_at = now() WHERE id = $1",
            user.id
        )
        .execute(&mut *tx)
        .await?;
        let tokens = self
            .issue(&mut tx, user.clone(), Uuid::now_v7(), &amr)
            .await?;
        audit(
            &mut tx,
            meta,
            "login",
            "ok",
            Some(user.id),
            Some(&key),
            json!({"kid": tokens.kid, "amr": amr}),
        )
        .await?;
        tx.commit().await?;
        Ok(tokens)
    }

    /// Seconds until `key` may sign in again from where `meta` calls, if it is locked: for
    /// this source, or for every source.
    async fn locked_for(
        &self,
        conn: &mut PgConnection,
        key: &str,
        meta: &Meta,
    ) -> sqlx::Result<Option<i64>> {
        let until = sqlx::query_scalar!(
            r#"SELECT max(locked_until) AS "locked_until" FROM auth.login_attempts
                WHERE email_key = $1 AND source IN ('', $2) AND locked_until > now()"#,
            key,
            source(meta)
        )
        .fetch_one(conn)
        .await?;
        Ok(until.map(|u| (u - Utc::now()).num_seconds().max(1)))
    }

    /// Counts a failed sign-in for the address from this source, and for the address from
    /// anywhere; locks whichever reaches its threshold, and mails the owner an unlock link
    /// when a lock begins. Returns the answer.
    async fn failed_login(&self, meta: &Meta, key: &str) -> Result<Error, Error> {
        let s = &self.settings;
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let mut locked_until: Option<DateTime<Utc>> = None;
        let mut newly_locked = false;
        let mut counted = Vec::new();
        for (source, threshold) in [
            (source(meta), s.lockout_threshold),
            (String::new(), s.lockout_address_threshold),
        ] {
            // One statement finds or creates the row and locks it: a sign-in that clears the
            // count may delete the row between two statements.
            let row = sqlx::query!(
                "INSERT INTO auth.login_attempts AS a (email_key, source, failures) VALUES ($1, $2, 0)
                 ON CONFLICT (email_key, source) DO UPDATE SET failures = a.failures
                 RETURNING failures, window_started_at, locked_until",
                key,
                source
            )
            .fetch_one(&mut *tx)
            .await?;
            // A failure that raced a lock (it passed the check before the lock was set)
            // must not lift it.
            if let Some(until) = row.locked_until.filter(|u| *u > now) {
                locked_until = locked_until.max(Some(until));
                continue;
            }
            let fresh_window = row.window_started_at + s.lockout_window < now
                || row.locked_until.is_some_and(|u| u <= now);
            let (failures, window_started_at) = if fresh_window {
                (1, now)
            } else {
                (row.failures + 1, row.window_started_at)
            };
            let lock = failures >= threshold;
            let until = lock.then(|| now + s.lockout_duration);
            sqlx::query!(
                "UPDATE auth.login_attempts
                    SET failures = $3, window_started_at = $4, locked_until = $5, updated_at = now()
                  WHERE email_key = $1 AND source = $2",
                key,
                source,
                if lock { 0 } else { failures },
                window_started_at,
                until
            )
            .execute(&mut *tx)
            .await?;
            if lock {
                newly_locked = true;
                locked_until = locked_until.max(until);
                audit(
                    &mut tx,
                    meta,
                    "lockout",
                    "ok",
                    None,
                    Some(key),
                    json!({"failures": failures, "locked_seconds": s.lockout_duration.num_seconds(),
                           "scope": if source.is_empty() { "address" } else { "address_and_source" }}),
                )
                .await?;
                tracing::warn!(failures, "sign-in locked after repeated failures");
            }
            counted.push(failures);
        }
        audit(
            &mut tx,
            meta,
            "login",
            "failed",
            None,
            Some(key),
            json!({"reason": "invalid_credentials", "failures": counted.first()}),
        )
        .await?;
        let unlock = if newly_locked {
            self.unlock_mail(&mut tx, key).await?
        } else {
            None
        };
        tx.commit().await?;
        if let Some(mail) = unlock {
            self.send_in_background(meta, mail);
        }
        Ok(match locked_until {
            Some(until) => Error::Locked {
                retry_after_seconds: (until - now).num_seconds().max(1),
            },
            None => Error::InvalidCredentials,
        })
    }

    /// A single-use unlock token for the owner of `key`, and the mail that carries it (none
    /// if no account has the address).
    async fn unlock_mail(
        &self,
        conn: &mut PgConnection,
        key: &str,
    ) -> Result<Option<AccountMail>, Error> {
        let Some(account) = account_by_email(&mut *conn, key).await? else {
            return Ok(None);
        };
        let token = random_token();
        let id = Uuid::now_v7();
        sqlx::query!(
            "INSERT INTO auth.unlock_tokens (id, email_key, token_hash, expires_at) VALUES ($1, $2, $3, $4)",
            id,
            key,
            token_hash(&token),
            Utc::now() + self.settings.lockout_duration.max(Duration::hours(1))
        )
        .execute(&mut *conn)
        .await?;
        Ok(Some(AccountMail {
            key: format!("account-locked:{id}"),
            to: account.user.email,
            template: "account_locked",
            vars: vec![(
                "locked_minutes".into(),
                self.settings.lockout_duration.num_minutes().to_string(),
            )],
            secrets: vec![
                (
                    "unlock_link".into(),
                    self.settings.unlock_link.replace("{token}", &token),
                ),
                ("token".into(), token),
            ],
        }))
    }

    /// Lifts every lock on the address of a mailed unlock token (once, before it expires).
    pub async fn unlock(&self, meta: &Meta, token: &str) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query!(
            "UPDATE auth.unlock_tokens SET used_at = now()
              WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
              RETURNING email_key",
            token_hash(token)
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            audit(
                &mut tx,
                meta,
                "unlock",
                "denied",
                None,
                None,
                json!({"reason": "invalid_unlock_token"}),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidUnlockToken);
        };
        let cleared = sqlx::query!(
            "DELETE FROM auth.login_attempts WHERE email_key = $1",
            row.email_key
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        audit(
            &mut tx,
            meta,
            "unlock",
            "ok",
            None,
            Some(&row.email_key),
            json!({"cleared": cleared}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sends an account mail without holding up the answer (which must take as long whether
    /// or not an account exists).
    fn send_in_background(&self, meta: &Meta, mail: AccountMail) {
        let (notifier, ctx) = (self.notifier.clone(), meta.ctx.clone());
        tokio::spawn(async move {
            if let Err(e) = notifier.account_mail(&ctx, &mail).await {
                tracing::error!(
                    template = mail.template,
                    error = format!("{e:#}"),
                    "account mail not sent"
                );
            }
        });
    }

    /// A new refresh token in `family` and an access token for `user`.
    async fn issue(
        &self,
        conn: &mut PgConnection,
        user: User,
        family: Uuid,
        amr: &[String],
    ) -> Result<Tokens, Error> {
        let s = &self.settings;
        // Never dated before the user's revocation watermark: a token issued in the same
        // second as a revocation must outlive it.
        let valid_after = sqlx::query_scalar!(
            r#"SELECT extract(epoch FROM tokens_valid_after)::bigint AS "valid_after" FROM auth.users WHERE id = $1"#,
            user.id
        )
        .fetch_one(&mut *conn)
        .await?;
        let now = Utc::now();
        let iat = valid_after.map_or(now.timestamp(), |w| w.max(now.timestamp()));
        let refresh = random_token();
        sqlx::query!(
            "INSERT INTO auth.refresh_tokens (id, family_id, user_id, token_hash, expires_at, amr)
             VALUES ($1, $2, $3, $4, $5, $6)",
            Uuid::now_v7(),
            family,
            user.id,
            token_hash(&refresh),
            now + s.refresh_ttl,
            amr
        )
        .execute(&mut *conn)
        .await?;
        let claims = AccessClaims {
            iss: s.issuer.clone(),
            aud: s.audience.clone(),
            sub: user.id.to_string(),
            iat,
            exp: iat + s.access_ttl.num_seconds(),
            jti: Uuid::new_v4().to_string(),
            roles: user.roles.clone(),
            vendor_id: user.vendor_id.map(|v| v.to_string()),
            amr: amr.to_vec(),
            sid: Some(family.to_string()),
        };
        let (access_token, kid) = self.keys.sign(conn, &claims).await?;
        Ok(Tokens {
            access_token,
            kid,
            expires_in: s.access_ttl.num_seconds(),
            refresh_token: refresh,
            refresh_expires_in: s.refresh_ttl.num_seconds(),
            user,
        })
    }

    /// Uses up a refresh token and answers new tokens of the same family. A token presented
    /// after it was used means it leaked: the whole family is revoked.
    pub async fn refresh(&self, meta: &Meta, refresh_token: &str) -> Result<Tokens, Error> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query!(
            "SELECT id, family_id, user_id, expires_at, used_at, revoked_at, amr
               FROM auth.refresh_tokens WHERE token_hash = $1 FOR UPDATE",
            token_hash(refresh_token)
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(Error::InvalidRefreshToken);
        };
        if row.revoked_at.is_some() {
            audit(
                &mut tx,
                meta,
                "token_refresh",
                "denied",
                Some(row.user_id),
                None,
                json!({"reason": "revoked", "family_id": row.family_id}),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidRefreshToken);
        }
        if row.used_at.is_some() {
            let revoked = self
                .revoke_family(&mut tx, row.family_id, "reuse_detected")
                .await?;
            audit(
                &mut tx,
                meta,
                "refresh_token_reuse",
                "denied",
                Some(row.user_id),
                None,
                json!({"family_id": row.family_id, "revoked_tokens": revoked}),
            )
            .await?;
            tx.commit().await?;
            self.publish_session(row.family_id).await;
            tracing::warn!(user_id = %row.user_id, family_id = %row.family_id, "refresh token reused; family revoked");
            return Err(Error::RefreshTokenReused);
        }
        if row.expires_at <= Utc::now() {
            return Err(Error::InvalidRefreshToken);
        }
        let user = user_by_id(&mut tx, row.user_id)
            .await?
            .ok_or(Error::InvalidRefreshToken)?;
        if user.status != "active" {
            self.revoke_family(&mut tx, row.family_id, "blocked")
                .await?;
            tx.commit().await?;
            self.publish_session(row.family_id).await;
            return Err(Error::Blocked);
        }
        sqlx::query!(
            "UPDATE auth.refresh_tokens SET used_at = now() WHERE id = $1",
            row.id
        )
        .execute(&mut *tx)
        .await?;
        let tokens = self.issue(&mut tx, user, row.family_id, &row.amr).await?;
        audit(
            &mut tx,
            meta,
            "token_refresh",
            "ok",
            Some(row.user_id),
            None,
            json!({"family_id": row.family_id, "kid": tokens.kid}),
        )
        .await?;
        tx.commit().await?;
        Ok(tokens)
    }

    async fn revoke_family(
        &self,
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

    /// Ends the sign-in the refresh token belongs to. Unknown tokens are ignored.
    pub async fn logout(&self, meta: &Meta, refresh_token: &str) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query!(
            "SELECT family_id, user_id FROM auth.refresh_tokens WHERE token_hash = $1",
            token_hash(refresh_token)
        )
        .fetch_optional(&mut *tx)
        .await?;
        let mut ended = None;
        if let Some(row) = row {
            let revoked = self.revoke_family(&mut tx, row.family_id, "logout").await?;
            ended = Some(row.family_id);
            audit(
                &mut tx,
                meta,
                "logout",
                "ok",
                Some(row.user_id),
                None,
                json!({"family_id": row.family_id, "revoked_tokens": revoked}),
            )
            .await?;
        }
        tx.commit().await?;
        if let Some(family) = ended {
            self.publish_session(family).await;
        }
        Ok(())
    }

    /// A new signing key; the old ones keep verifying until their tokens have expired.
    pub async fn rotate_keys(&self, meta: &Meta) -> Result<Rotated, Error> {
        let mut tx = self.pool.begin().await?;
        let rotated = self.keys.rotate(&mut tx, self.settings.access_ttl).await?;
        audit(
            &mut tx,
            meta,
            "key_rotation",
            "ok",
            None,
            None,
            json!({"kid": rotated.kid, "retired": rotated.retired}),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(kid = %rotated.kid, retired = ?rotated.retired, "signing key rotated");
        Ok(rotated)
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, Error> {
        let mut conn = self.pool.acquire().await?;
        Ok(account_by_email(&mut conn, email).await?.map(|a| a.user))
    }

    pub async fn user(&self, id: Uuid) -> Result<User, Error> {
        let mut conn = self.pool.acquire().await?;
        user_by_id(&mut conn, id).await?.ok_or(Error::UserNotFound)
    }

    /// Grants `role`; granting `vendor_admin` also sets the vendor the user manages.
    pub async fn grant_role(
        &self,
        meta: &Meta,
        user_id: Uuid,
        role: &str,
        vendor_id: Option<Uuid>,
    ) -> Result<User, Error> {
        let role = Role::parse(role).ok_or_else(|| Error::UnknownRole(role.to_string()))?;
        if role == Role::VendorAdmin && vendor_id.is_none() {
            return Err(Error::VendorRequired);
        }
        let mut tx = self.pool.begin().await?;
        user_by_id(&mut tx, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        sqlx::query!(
            "INSERT INTO auth.user_roles (user_id, role, granted_by) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, role) DO NOTHING",
            user_id,
            role.as_str(),
            meta.ctx.actor
        )
        .execute(&mut *tx)
        .await?;
        if let Some(v) = vendor_id.filter(|_| role == Role::VendorAdmin) {
            sqlx::query!(
                "UPDATE auth.users SET vendor_id = $2, updated_at = now() WHERE id = $1",
                user_id,
                v
            )
            .execute(&mut *tx)
            .await?;
        }
        // The next request with a token from before sees a refusal and refreshes into the
        // new roles.
        let watermark = self.revoke_user_tokens(&mut tx, user_id).await?;
        audit(
            &mut tx,
            meta,
            "role_granted",
            "ok",
            Some(user_id),
            None,
            json!({"role": role.as_str(), "vendor_id": vendor_id}),
        )
        .await?;
        let user = user_by_id(&mut tx, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        tx.commit().await?;
        self.publish_user(user_id, watermark).await;
        Ok(user)
    }

    pub async fn revoke_role(&self, meta: &Meta, user_id: Uuid, role: &str) -> Result<User, Error> {
        let role = Role::parse(role).ok_or_else(|| Error::UnknownRole(role.to_string()))?;
        if acts_on_self(meta, user_id) {
            return Err(Error::OwnAccount);
        }
        let mut tx = self.pool.begin().await?;
        user_by_id(&mut tx, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        sqlx::query!(
            "DELETE FROM auth.user_roles WHERE user_id = $1 AND role = $2",
            user_id,
            role.as_str()
        )
        .execute(&mut *tx)
        .await?;
        if role == Role::VendorAdmin {
            sqlx::query!(
                "UPDATE auth.users SET vendor_id = NULL, updated_at = now() WHERE id = $1",
                user_id
            )
            .execute(&mut *tx)
            .await?;
        }
        let watermark = self.revoke_user_tokens(&mut tx, user_id).await?;
        audit(
            &mut tx,
            meta,
            "role_revoked",
            "ok",
            Some(user_id),
            None,
            json!({"role": role.as_str()}),
        )
        .await?;
        let user = user_by_id(&mut tx, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        tx.commit().await?;
        self.publish_user(user_id, watermark).await;
        Ok(user)
    }

    /// Blocks an account (every sign-in ends, every token is refused at once) or lets it in
    /// again. Recorded with who did it and why.
    pub async fn set_status(
        &self,
        meta: &Meta,
        user_id: Uuid,
        status: &str,
        reason: &str,
    ) -> Result<User, Error> {
        if !matches!(status, "active" | "blocked") {
            return Err(Error::InvalidStatus);
        }
        if status == "blocked" && acts_on_self(meta, user_id) {
            return Err(Error::OwnAccount);
        }
        let mut tx = self.pool.begin().await?;
        let before = user_by_id(&mut tx, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        sqlx::query!(
            "UPDATE auth.users SET status = $2, updated_at = now() WHERE id = $1",
            user_id,
            status
        )
        .execute(&mut *tx)
        .await?;
        let mut revoked = 0;
        let mut watermark = None;
        if status == "blocked" {
            revoked = sqlx::query!(
                "UPDATE auth.refresh_tokens SET revoked_at = now(), revoked_reason = 'blocked'
                  WHERE user_id = $1 AND revoked_at IS NULL",
                user_id
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
            watermark = Some(self.revoke_user_tokens(&mut tx, user_id).await?);
        }
        audit(
            &mut tx,
            meta,
            if status == "blocked" {
                "user_blocked"
            } else {
                "user_unblocked"
            },
            "ok",
            Some(user_id),
            Some(&before.email),
            json!({"reason": reason, "from": before.status, "revoked_tokens": revoked}),
        )
        .await?;
        let user = user_by_id(&mut tx, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        tx.commit().await?;
        if let Some(w) = watermark {
            self.publish_user(user_id, w).await;
        }
        tracing::info!(%user_id, status, "account status changed");
        Ok(user)
    }

    /// Records an event observed elsewhere (the API's refused authorizations).
    pub async fn record(
        &self,
        meta: &Meta,
        event: &str,
        outcome: &str,
        user_id: Option<Uuid>,
        details: Value,
    ) -> Result<(), Error> {
        if !souk_domain::identity::is_audit_event(event) {
            return Err(Error::InvalidAudit("event is 1-64 of [a-z_.]"));
        }
        if !matches!(outcome, "ok" | "denied" | "failed") {
            return Err(Error::InvalidAudit("outcome is ok, denied or failed"));
        }
        if !details.is_object() {
            return Err(Error::InvalidAudit("details is a JSON object"));
        }
        let mut conn = self.pool.acquire().await?;
        audit(&mut conn, meta, event, outcome, user_id, None, details).await?;
        Ok(())
    }

    /// The audit trail, newest first, `limit` per page after the entry `before` (exclusive).
    pub async fn audit_log(
        &self,
        user_id: Option<Uuid>,
        event: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, Error> {
        let rows = sqlx::query_as!(
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
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Mails a reset token if `email` has an active account. Answers nothing either way, so
    /// the answer says nothing about which addresses have accounts. A mail that cannot be
    /// sent is logged (the token is recorded; asking again sends a new one).
    pub async fn forgot_password(&self, meta: &Meta, email: &str) -> Result<(), Error> {
        let key = email_key(email);
        let mut conn = self.pool.acquire().await?;
        let Some(account) = account_by_email(&mut conn, &key).await? else {
            audit(
                &mut conn,
                meta,
                "password_reset_requested",
                "denied",
                None,
                Some(&key),
                json!({"reason": "unknown_email"}),
            )
            .await?;
            return Ok(());
        };
        let user = account.user;
        if user.status != "active" {
            return Ok(());
        }
        drop(conn);
        let token = random_token();
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        // Only the newest token works.
        sqlx::query!(
            "UPDATE auth.password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL",
            user.id
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO auth.password_resets (id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)",
            id,
            user.id,
            token_hash(&token),
            Utc::now() + self.settings.reset_ttl
        )
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            meta,
            "password_reset_requested",
            "ok",
            Some(user.id),
            Some(&user.email),
            json!({"reset_id": id}),
        )
        .await?;
        tx.commit().await?;
        let mail = ResetMail {
            key: format!("password-reset:{id}"),
            to: user.email.clone(),
            link: self.settings.reset_link.replace("{token}", &token),
            token,
            expires_minutes: self.settings.reset_ttl.num_minutes(),
        };
        // Sent in the background: the answer must take as long whether or not the address
        // has an account.
        let (notifier, ctx, user_id) = (self.notifier.clone(), meta.ctx.clone(), user.id);
        tokio::spawn(async move {
            if let Err(e) = notifier.password_reset(&ctx, &mail).await {
                tracing::error!(%user_id, error = format!("{e:#}"), "password reset mail not sent");
            }
        });
        Ok(())
    }

    /// Sets a new password with a mailed token (once, before it expires); ends every
    /// sign-in of the account and clears a lockout.
    pub async fn reset_password(
        &self,
        meta: &Meta,
        token: &str,
        new_password: &str,
    ) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query!(
            r#"SELECT r.id, r.user_id, r.expires_at, r.used_at, u.email
                 FROM auth.password_resets r JOIN auth.users u ON u.id = r.user_id
                WHERE r.token_hash = $1 FOR UPDATE OF r"#,
            token_hash(token)
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row.filter(|r| r.used_at.is_none() && r.expires_at > Utc::now()) else {
            audit(
                &mut tx,
                meta,
                "password_reset",
                "denied",
                None,
                None,
                json!({"reason": "invalid_reset_token"}),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidResetToken);
        };
        identity::check_password(new_password, &row.email).map_err(Error::WeakPassword)?;
        let hash = self.hasher.hash(new_password).await?;
        sqlx::query!(
            "UPDATE auth.password_resets SET used_at = now() WHERE id = $1",
            row.id
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE auth.users SET password_hash = $2, password_changed_at = now(), updated_at = now() WHERE id = $1",
            row.user_id,
            hash
        )
        .execute(&mut *tx)
        .await?;
        let revoked = sqlx::query!(
            "UPDATE auth.refresh_tokens SET revoked_at = now(), revoked_reason = 'password_reset'
              WHERE user_id = $1 AND revoked_at IS NULL",
            row.user_id
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let watermark = self.revoke_user_tokens(&mut tx, row.user_id).await?;
        sqlx::query!(
            "DELETE FROM auth.login_attempts WHERE email_key = $1",
            email_key(&row.email)
        )
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            meta,
            "password_reset",
            "ok",
            Some(row.user_id),
            Some(&row.email),
            json!({"revoked_tokens": revoked}),
        )
        .await?;
        tx.commit().await?;
        self.publish_user(row.user_id, watermark).await;
        Ok(())
    }

    /// Checks a TOTP code (each time step is accepted once) or uses up a recovery code.
    /// Returns the method (`otp`, `rec`) when it is right.
    async fn check_second_factor(
        &self,
        conn: &mut PgConnection,
        user: &User,
        sealed: &[u8],
        second: &SecondFactor,
    ) -> Result<Option<&'static str>, Error> {
        match second {
            SecondFactor::None => Ok(None),
            SecondFactor::Totp(code) => {
                let secret = mfa::open(self.keys.sealer(), user.id, sealed)?;
                let Some(step) = mfa::check(&secret, &user.email, code, Utc::now())? else {
                    return Ok(None);
                };
                let fresh = sqlx::query!(
                    "UPDATE auth.users SET totp_last_step = $2
                      WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
                    user.id,
                    step as i64
                )
                .execute(&mut *conn)
                .await?
                .rows_affected();
                Ok((fresh == 1).then_some("otp"))
            }
            SecondFactor::Recovery(code) => {
                let used = sqlx::query!(
                    "UPDATE auth.recovery_codes SET used_at = now()
                      WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                    user.id,
                    mfa::recovery_hash(self.keys.sealer(), user.id, code)
                )
                .execute(&mut *conn)
                .await?
                .rows_affected();
                Ok((used == 1).then_some("rec"))
            }
        }
    }

    /// Starts enrolling a TOTP second factor: a new secret, kept pending until a code from
    /// the authenticator confirms it. Answers the `otpauth://` URI (for a QR code) and the
    /// secret in base32 (to type in).
    pub async fn enroll_totp(
        &self,
        meta: &Meta,
        user_id: Uuid,
        password: &str,
    ) -> Result<(String, String), Error> {
        self.reauthenticate(meta, user_id, password).await?;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query!(
            "SELECT email, totp_enabled_at FROM auth.users WHERE id = $1 FOR UPDATE",
            user_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::UserNotFound)?;
        if row.totp_enabled_at.is_some() {
            return Err(Error::MfaAlreadyEnabled);
        }
        let secret = mfa::new_secret();
        let totp = mfa::totp(&secret, &row.email)?;
        let sealed = mfa::seal(self.keys.sealer(), user_id, &secret);
        sqlx::query!(
            "UPDATE auth.users SET totp_pending_secret = $2, updated_at = now() WHERE id = $1",
            user_id,
            sealed
        )
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            meta,
            "mfa_enrollment",
            "ok",
            Some(user_id),
            None,
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok((totp.to_url()?, mfa::base32(&secret)))
    }

    /// Confirms the pending second factor with a code from the authenticator; answers ten
    /// single-use recovery codes, shown this once.
    pub async fn confirm_totp(
        &self,
        meta: &Meta,
        user_id: Uuid,
        code: &str,
    ) -> Result<Vec<String>, Error> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query!(
            "SELECT email, totp_pending_secret FROM auth.users WHERE id = $1 FOR UPDATE",
            user_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::UserNotFound)?;
        let sealed = row.totp_pending_secret.ok_or(Error::NoMfaEnrollment)?;
        let secret = mfa::open(self.keys.sealer(), user_id, &sealed)?;
        let Some(step) = mfa::check(&secret, &row.email, code, Utc::now())? else {
            audit(
                &mut tx,
                meta,
                "mfa_enabled",
                "denied",
                Some(user_id),
                None,
                json!({"reason": "invalid_code"}),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidMfaCode);
        };
        sqlx::query!(
            "UPDATE auth.users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL,
                    totp_enabled_at = now(), totp_last_step = $2, updated_at = now()
              WHERE id = $1",
            user_id,
            step as i64
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "DELETE FROM auth.recovery_codes WHERE user_id = $1",
            user_id
        )
        .execute(&mut *tx)
        .await?;
        let codes: Vec<String> = (0..10).map(|_| mfa::recovery_code()).collect();
        for c in &codes {
            sqlx::query!(
                "INSERT INTO auth.recovery_codes (user_id, code_hash) VALUES ($1, $2)",
                user_id,
                mfa::recovery_hash(self.keys.sealer(), user_id, c)
            )
            .execute(&mut *tx)
            .await?;
        }
        audit(
            &mut tx,
            meta,
            "mfa_enabled",
            "ok",
            Some(user_id),
            None,
            json!({"recovery_codes": codes.len()}),
        )
        .await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Turns the second factor off, with a current code or a recovery code. Staff and super
    /// admins cannot.
    pub async fn disable_totp(
        &self,
        meta: &Meta,
        user_id: Uuid,
        password: &str,
        second: &SecondFactor,
    ) -> Result<(), Error> {
        self.reauthenticate(meta, user_id, password).await?;
        let user = self.user(user_id).await?;
        if user.roles.iter().any(|r| r.is_operator()) {
            return Err(Error::MfaRequiredForRole);
        }
        let mut conn = self.pool.acquire().await?;
        let sealed =
            sqlx::query_scalar!("SELECT totp_secret FROM auth.users WHERE id = $1", user_id)
                .fetch_one(&mut *conn)
                .await?
                .ok_or(Error::MfaNotEnabled)?;
        if self
            .check_second_factor(&mut conn, &user, &sealed, second)
            .await?
            .is_none()
        {
            audit(
                &mut conn,
                meta,
                "mfa_disabled",
                "denied",
                Some(user_id),
                None,
                json!({"reason": "invalid_code"}),
            )
            .await?;
            drop(conn);
            // Guessing codes here counts like guessing them at sign-in.
            if let Error::Locked {
                retry_after_seconds,
            } = self.failed_login(meta, &email_key(&user.email)).await?
            {
                return Err(Error::Locked {
                    retry_after_seconds,
                });
            }
            return Err(Error::InvalidMfaCode);
        }
        drop(conn);
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "UPDATE auth.users SET totp_secret = NULL, totp_pending_secret = NULL, totp_enabled_at = NULL,
                    totp_last_step = NULL, updated_at = now()
              WHERE id = $1",
            user_id
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "DELETE FROM auth.recovery_codes WHERE user_id = $1",
            user_id
        )
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            meta,
            "mfa_disabled",
            "ok",
            Some(user_id),
            None,
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks the password of a signed-in user again before a change to how they sign in.
    /// Wrong passwords count towards the lockout like failed sign-ins.
    async fn reauthenticate(
        &self,
        meta: &Meta,
        user_id: Uuid,
        password: &str,
    ) -> Result<(), Error> {
        let row = sqlx::query!(
            "SELECT email, password_hash FROM auth.users WHERE id = $1",
            user_id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::UserNotFound)?;
        let key = email_key(&row.email);
        {
            let mut conn = self.pool.acquire().await?;
            if let Some(retry_after_seconds) = self.locked_for(&mut conn, &key, meta).await? {
                return Err(Error::Locked {
                    retry_after_seconds,
                });
            }
        }
        if self.hasher.verify(password, Some(&row.password_hash)).await {
            Ok(())
        } else {
            Err(self.failed_login(meta, &key).await?)
        }
    }

    /// Enables a second factor with a given secret, without a confirmation round: for
    /// provisioning (the demo accounts), never for end users.
    pub async fn provision_totp(
        &self,
        meta: &Meta,
        user_id: Uuid,
        secret: &[u8],
    ) -> Result<(), Error> {
        let sealed = mfa::seal(self.keys.sealer(), user_id, secret);
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "UPDATE auth.users SET totp_secret = $2, totp_pending_secret = NULL, totp_enabled_at = now(),
                    totp_last_step = NULL, updated_at = now()
              WHERE id = $1",
            user_id,
            sealed
        )
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            meta,
            "mfa_enabled",
            "ok",
            Some(user_id),
            None,
            json!({"provisioned": true}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
