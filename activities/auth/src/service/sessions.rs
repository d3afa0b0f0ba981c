//! Sessions: sign-in, access and refresh tokens (a sign-in is a family of refresh tokens),
//! sign-out, signing keys.

use chrono::Utc;
use serde_json::json;
use souk_domain::identity::AccessClaims;
use sqlx::PgConnection;
use uuid::Uuid;

use super::audit::{AuditEvent, Entry, Outcome};
use super::{AuthService, Error, Meta, SecondFactor, Tokens, User, email_key, store};
use crate::crypto::{random_token, token_hash};
use crate::keys::Rotated;

impl AuthService {
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
            store::audit(
                &mut conn,
                meta,
                Entry::denied(AuditEvent::Login, "locked").email(&key),
            )
            .await?;
            return Err(Error::Locked {
                retry_after_seconds,
            });
        }
        let account = store::account_by_email(&mut conn, &key).await?;
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
            store::audit(
                &mut conn,
                meta,
                Entry::denied(AuditEvent::Login, &user.status)
                    .user(user.id)
                    .email(&key),
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
        // address since. Holding its counters orders the two: a lock committed first refuses
        // this sign-in, a failure coming second counts from zero.
        store::hold_counters(&mut tx, &key).await?;
        if let Some(retry_after_seconds) = self.locked_for(&mut tx, &key, meta).await? {
            store::audit(
                &mut tx,
                meta,
                Entry::denied(AuditEvent::Login, "locked").email(&key),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::Locked {
                retry_after_seconds,
            });
        }
        store::clear_counters(&mut tx, &key).await?;
        store::touch_last_login(&mut tx, user.id).await?;
        let tokens = self
            .issue(&mut tx, user.clone(), Uuid::now_v7(), &amr)
            .await?;
        store::audit(
            &mut tx,
            meta,
            Entry::new(AuditEvent::Login, Outcome::Ok)
                .user(user.id)
                .email(&key)
                .details(json!({"kid": tokens.kid, "amr": amr})),
        )
        .await?;
        tx.commit().await?;
        Ok(tokens)
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
        let valid_after = store::watermark(&mut *conn, user.id).await?;
        let now = Utc::now();
        let iat = valid_after.map_or(now.timestamp(), |w| w.max(now.timestamp()));
        let refresh = random_token();
        store::insert_refresh_token(
            &mut *conn,
            family,
            user.id,
            &token_hash(&refresh),
            now + s.refresh_ttl,
            amr,
        )
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
        let Some(row) =
            store::refresh_token_for_update(&mut tx, &token_hash(refresh_token)).await?
        else {
            return Err(Error::InvalidRefreshToken);
        };
        if row.revoked_at.is_some() {
            store::audit(
                &mut tx,
                meta,
                Entry::new(AuditEvent::TokenRefresh, Outcome::Denied)
                    .user(row.user_id)
                    .details(json!({"reason": "revoked", "family_id": row.family_id})),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidRefreshToken);
        }
        if row.used_at.is_some() {
            let revoked = store::revoke_family(&mut tx, row.family_id, "reuse_detected").await?;
            store::audit(
                &mut tx,
                meta,
                Entry::new(AuditEvent::RefreshTokenReuse, Outcome::Denied)
                    .user(row.user_id)
                    .details(json!({"family_id": row.family_id, "revoked_tokens": revoked})),
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
        let user = store::user_by_id(&mut tx, row.user_id)
            .await?
            .ok_or(Error::InvalidRefreshToken)?;
        if user.status != "active" {
            store::revoke_family(&mut tx, row.family_id, "blocked").await?;
            tx.commit().await?;
            self.publish_session(row.family_id).await;
            return Err(Error::Blocked);
        }
        store::use_refresh_token(&mut tx, row.id).await?;
        let tokens = self.issue(&mut tx, user, row.family_id, &row.amr).await?;
        store::audit(
            &mut tx,
            meta,
            Entry::new(AuditEvent::TokenRefresh, Outcome::Ok)
                .user(row.user_id)
                .details(json!({"family_id": row.family_id, "kid": tokens.kid})),
        )
        .await?;
        tx.commit().await?;
        Ok(tokens)
    }

    /// Ends the sign-in the refresh token belongs to. Unknown tokens are ignored.
    pub async fn logout(&self, meta: &Meta, refresh_token: &str) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        let owner = store::refresh_token_owner(&mut tx, &token_hash(refresh_token)).await?;
        if let Some((family, user_id)) = owner {
            let revoked = store::revoke_family(&mut tx, family, "logout").await?;
            store::audit(
                &mut tx,
                meta,
                Entry::new(AuditEvent::Logout, Outcome::Ok)
                    .user(user_id)
                    .details(json!({"family_id": family, "revoked_tokens": revoked})),
            )
            .await?;
        }
        tx.commit().await?;
        if let Some((family, _)) = owner {
            self.publish_session(family).await;
        }
        Ok(())
    }

    /// A new signing key; the old ones keep verifying until their tokens have expired.
    pub async fn rotate_keys(&self, meta: &Meta) -> Result<Rotated, Error> {
        let mut tx = self.pool.begin().await?;
        let rotated = self.keys.rotate(&mut tx, self.settings.access_ttl).await?;
        store::audit(
            &mut tx,
            meta,
            Entry::new(AuditEvent::KeyRotation, Outcome::Ok)
                .details(json!({"kid": rotated.kid, "retired": rotated.retired})),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(kid = %rotated.kid, retired = ?rotated.retired, "signing key rotated");
        Ok(rotated)
    }
}
