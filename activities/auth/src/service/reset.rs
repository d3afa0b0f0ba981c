//! The mailed password reset.

use chrono::Utc;
use serde_json::json;
use souk_domain::identity;
use uuid::Uuid;

use super::audit::{AuditEvent, Entry, Outcome};
use super::{AuthService, Error, Meta, email_key, store};
use crate::crypto::{random_token, token_hash};
use crate::notify::ResetMail;

impl AuthService {
    /// Mails a reset token if `email` has an active account. Answers nothing either way, so
    /// the answer says nothing about which addresses have accounts. A mail that cannot be
    /// sent is logged (the token is recorded; asking again sends a new one).
    pub async fn forgot_password(&self, meta: &Meta, email: &str) -> Result<(), Error> {
        let key = email_key(email);
        let mut conn = self.pool.acquire().await?;
        let Some(account) = store::account_by_email(&mut conn, &key).await? else {
            store::audit(
                &mut conn,
                meta,
                Entry::denied(AuditEvent::PasswordResetRequested, "unknown_email").email(&key),
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
        store::end_password_resets(&mut tx, user.id).await?;
        store::insert_password_reset(
            &mut tx,
            id,
            user.id,
            &token_hash(&token),
            Utc::now() + self.settings.reset_ttl,
        )
        .await?;
        store::audit(
            &mut tx,
            meta,
            Entry::new(AuditEvent::PasswordResetRequested, Outcome::Ok)
                .user(user.id)
                .email(&user.email)
                .details(json!({"reset_id": id})),
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
        let row = store::password_reset_for_update(&mut tx, &token_hash(token)).await?;
        let Some(row) = row.filter(|r| r.used_at.is_none() && r.expires_at > Utc::now()) else {
            store::audit(
                &mut tx,
                meta,
                Entry::denied(AuditEvent::PasswordReset, "invalid_reset_token"),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidResetToken);
        };
        identity::check_password(new_password, &row.email).map_err(Error::WeakPassword)?;
        let hash = self.hasher.hash(new_password).await?;
        store::use_password_reset(&mut tx, row.id).await?;
        store::set_password(&mut tx, row.user_id, &hash).await?;
        let revoked =
            store::revoke_user_refresh_tokens(&mut tx, row.user_id, "password_reset").await?;
        let watermark = self.revoke_user_tokens(&mut tx, row.user_id).await?;
        store::clear_counters(&mut tx, &email_key(&row.email)).await?;
        store::audit(
            &mut tx,
            meta,
            Entry::new(AuditEvent::PasswordReset, Outcome::Ok)
                .user(row.user_id)
                .email(&row.email)
                .details(json!({"revoked_tokens": revoked})),
        )
        .await?;
        tx.commit().await?;
        self.publish_user(row.user_id, watermark).await;
        Ok(())
    }
}
