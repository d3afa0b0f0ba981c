//! Accounts, sign-in and tokens. Every security event is appended to `auth.audit_log`.
//!
//! The flows are split by concern, each an `impl AuthService` of its own:
//! - `accounts`: sign-up, accounts made by operators, roles, blocking.
//! - `sessions`: sign-in, access and refresh tokens, sign-out, signing keys.
//! - `locks`: failed sign-ins, lockout and the mailed unlock (`lockout` is the pure policy).
//! - `reset`: the mailed password reset.
//! - `second_factor`: TOTP enrolment, recovery codes, re-authentication.
//! - `audit`: what the trail records ([`AuditEvent`]) and reading it.
//!
//! `store` has every SQL statement.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use souk_domain::identity::{self, Role};
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use uuid::Uuid;

use super::keys::{KeyError, Keys};
use super::notify::{AccountMail, Notifier};
use super::password::{HashError, Hasher};
use super::revocation::Revocations;
use souk_kit::Ctx;
use souk_kit::error::{Described, Kind};

mod accounts;
pub mod audit;
pub mod lockout;
mod locks;
mod reset;
mod second_factor;
mod sessions;
mod store;

pub use audit::{AuditEvent, Outcome};
pub use store::demo_accounts_present;

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

impl Described for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::InvalidEmail(_)
            | Error::WeakPassword(_)
            | Error::UnknownRole(_)
            | Error::VendorRequired
            | Error::InvalidAudit(_)
            | Error::InvalidResetToken
            | Error::InvalidUnlockToken
            | Error::InvalidStatus => Kind::Invalid,
            Error::EmailTaken | Error::MfaAlreadyEnabled => Kind::Exists,
            Error::InvalidCredentials
            | Error::InvalidRefreshToken
            | Error::RefreshTokenReused
            | Error::MfaRequired
            | Error::InvalidMfaCode => Kind::Unauthenticated,
            Error::Locked { .. } => Kind::Exhausted,
            Error::Blocked => Kind::Forbidden,
            Error::UserNotFound => Kind::NotFound,
            Error::OwnAccount
            | Error::NoMfaEnrollment
            | Error::MfaNotEnabled
            | Error::MfaRequiredForRole => Kind::Conflict,
            Error::Totp(_) | Error::Sealed(_) | Error::Hash(_) | Error::Keys(_) | Error::Db(_) => {
                Kind::Internal
            }
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Error::InvalidEmail(_) => "invalid_email",
            Error::WeakPassword(_) => "weak_password",
            Error::EmailTaken => "email_taken",
            Error::InvalidCredentials => "invalid_credentials",
            Error::Locked { .. } => "account_locked",
            Error::Blocked => "account_blocked",
            Error::InvalidRefreshToken => "invalid_refresh_token",
            Error::RefreshTokenReused => "refresh_token_reused",
            Error::UnknownRole(_) => "unknown_role",
            Error::VendorRequired => "vendor_required",
            Error::UserNotFound => "user_not_found",
            Error::OwnAccount => "own_account",
            Error::InvalidAudit(_) => "invalid_audit_entry",
            Error::InvalidResetToken => "invalid_reset_token",
            Error::InvalidUnlockToken => "invalid_unlock_token",
            Error::MfaRequired => "mfa_required",
            Error::InvalidMfaCode => "invalid_mfa_code",
            Error::MfaAlreadyEnabled => "mfa_already_enabled",
            Error::NoMfaEnrollment => "no_mfa_enrollment",
            Error::MfaNotEnabled => "mfa_not_enabled",
            Error::MfaRequiredForRole => "mfa_required_for_role",
            Error::InvalidStatus => "invalid_status",
            Error::Totp(_) | Error::Sealed(_) | Error::Hash(_) | Error::Keys(_) | Error::Db(_) => {
                "internal"
            }
        }
    }

    fn details(&self) -> Vec<(&'static str, String)> {
        match self {
            Error::Locked {
                retry_after_seconds,
            } => vec![("retry_after_seconds", retry_after_seconds.to_string())],
            _ => vec![],
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
        Ok(store::raise_watermark(conn, user_id, watermark).await?)
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
}
