//! Second factors: TOTP enrolment and confirmation, recovery codes, turning it off, and the
//! password asked again before any of it.

use chrono::Utc;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::audit::{AuditEvent, Entry, Outcome};
use super::{AuthService, Error, Meta, SecondFactor, User, email_key, store};
use crate::mfa;

/// How many recovery codes a confirmed second factor comes with.
const RECOVERY_CODES: usize = 10;

impl AuthService {
    /// Checks a TOTP code (each time step is accepted once) or uses up a recovery code.
    /// Returns the method (`otp`, `rec`) when it is right.
    pub(super) async fn check_second_factor(
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
                let fresh = store::take_totp_step(conn, user.id, step as i64).await?;
                Ok(fresh.then_some("otp"))
            }
            SecondFactor::Recovery(code) => {
                let hash = mfa::recovery_hash(self.keys.sealer(), user.id, code);
                let used = store::use_recovery_code(conn, user.id, &hash).await?;
                Ok(used.then_some("rec"))
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
        let state = store::totp_state_for_update(&mut tx, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        if state.totp_enabled_at.is_some() {
            return Err(Error::MfaAlreadyEnabled);
        }
        let secret = mfa::new_secret();
        let totp = mfa::totp(&secret, &state.email)?;
        let sealed = mfa::seal(self.keys.sealer(), user_id, &secret);
        store::set_pending_totp(&mut tx, user_id, &sealed).await?;
        store::audit(
            &mut tx,
            meta,
            Entry::new(AuditEvent::MfaEnrollment, Outcome::Ok).user(user_id),
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
        let state = store::totp_state_for_update(&mut tx, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        let sealed = state.totp_pending_secret.ok_or(Error::NoMfaEnrollment)?;
        let secret = mfa::open(self.keys.sealer(), user_id, &sealed)?;
        let Some(step) = mfa::check(&secret, &state.email, code, Utc::now())? else {
            store::audit(
                &mut tx,
                meta,
                Entry::denied(AuditEvent::MfaEnabled, "invalid_code").user(user_id),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidMfaCode);
        };
        store::enable_pending_totp(&mut tx, user_id, step as i64).await?;
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| mfa::recovery_code()).collect();
        let hashes: Vec<Vec<u8>> = codes
            .iter()
            .map(|c| mfa::recovery_hash(self.keys.sealer(), user_id, c))
            .collect();
        store::replace_recovery_codes(&mut tx, user_id, &hashes).await?;
        store::audit(
            &mut tx,
            meta,
            Entry::new(AuditEvent::MfaEnabled, Outcome::Ok)
                .user(user_id)
                .details(json!({"recovery_codes": codes.len()})),
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
        let sealed = store::totp_secret(&mut conn, user_id)
            .await?
            .ok_or(Error::MfaNotEnabled)?;
        if self
            .check_second_factor(&mut conn, &user, &sealed, second)
            .await?
            .is_none()
        {
            store::audit(
                &mut conn,
                meta,
                Entry::denied(AuditEvent::MfaDisabled, "invalid_code").user(user_id),
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
        store::clear_totp(&mut tx, user_id).await?;
        store::replace_recovery_codes(&mut tx, user_id, &[]).await?;
        store::audit(
            &mut tx,
            meta,
            Entry::new(AuditEvent::MfaDisabled, Outcome::Ok).user(user_id),
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
        let (email, password_hash) = store::password_of(&self.pool, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        let key = email_key(&email);
        {
            let mut conn = self.pool.acquire().await?;
            if let Some(retry_after_seconds) = self.locked_for(&mut conn, &key, meta).await? {
                return Err(Error::Locked {
                    retry_after_seconds,
                });
            }
        }
        if self.hasher.verify(password, Some(&password_hash)).await {
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
        store::provision_totp(&mut tx, user_id, &sealed).await?;
        store::audit(
            &mut tx,
            meta,
            Entry::new(AuditEvent::MfaEnabled, Outcome::Ok)
                .user(user_id)
                .details(json!({"provisioned": true})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
