//! Accounts: sign-up, accounts made by operators and the seed, roles, blocking.

use chrono::Utc;
use serde_json::json;
use souk_domain::identity::{self, Role};
use souk_domain::text::Email;
use souk_kit::outbox;
use uuid::Uuid;

use super::audit::{AuditEvent, Entry, Outcome};
use super::{AuthService, Error, Meta, User, acts_on_self, email_key, store};
use crate::notify::AccountMail;

impl AuthService {
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
                AuditEvent::UserRegistered,
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
                let user = store::account_by_email(&mut conn, &key)
                    .await?
                    .ok_or(Error::UserNotFound)?
                    .user;
                store::audit(
                    &mut conn,
                    meta,
                    Entry::denied(AuditEvent::Registration, "email_taken")
                        .user(user.id)
                        .email(&key),
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
        self.create(
            meta,
            email,
            password,
            roles,
            vendor_id,
            AuditEvent::UserCreated,
        )
        .await
    }

    async fn create(
        &self,
        meta: &Meta,
        email: &str,
        password: &str,
        roles: &[Role],
        vendor_id: Option<Uuid>,
        event: AuditEvent,
    ) -> Result<User, Error> {
        // The one e-mail rule (checkout's too): trimmed, the domain lower-cased.
        let email = String::from(Email::parse(email).map_err(|e| Error::InvalidEmail(e.0))?);
        identity::check_password(password, &email).map_err(Error::WeakPassword)?;
        if roles.contains(&Role::VendorAdmin) && vendor_id.is_none() {
            return Err(Error::VendorRequired);
        }
        let hash = self.hasher.hash(password).await?;
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        if !store::insert_user(&mut tx, id, &email, &hash, vendor_id).await? {
            return Err(Error::EmailTaken);
        }
        for role in roles {
            store::add_role(&mut tx, id, *role, &meta.ctx.actor).await?;
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
        store::audit(
            &mut tx,
            meta,
            Entry::new(event, Outcome::Ok)
                .user(id)
                .email(&email)
                .details(json!({"roles": role_names})),
        )
        .await?;
        let user = store::user_by_id(&mut tx, id)
            .await?
            .ok_or(Error::UserNotFound)?;
        tx.commit().await?;
        tracing::info!(user_id = %id, "account created");
        Ok(user)
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, Error> {
        let mut conn = self.pool.acquire().await?;
        Ok(store::account_by_email(&mut conn, email)
            .await?
            .map(|a| a.user))
    }

    pub async fn user(&self, id: Uuid) -> Result<User, Error> {
        let mut conn = self.pool.acquire().await?;
        store::user_by_id(&mut conn, id)
            .await?
            .ok_or(Error::UserNotFound)
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
        store::user_by_id(&mut tx, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        store::add_role(&mut tx, user_id, role, &meta.ctx.actor).await?;
        if let Some(v) = vendor_id.filter(|_| role == Role::VendorAdmin) {
            store::set_vendor(&mut tx, user_id, Some(v)).await?;
        }
        // The next request with a token from before sees a refusal and refreshes into the
        // new roles.
        let watermark = self.revoke_user_tokens(&mut tx, user_id).await?;
        store::audit(
            &mut tx,
            meta,
            Entry::new(AuditEvent::RoleGranted, Outcome::Ok)
                .user(user_id)
                .details(json!({"role": role.as_str(), "vendor_id": vendor_id})),
        )
        .await?;
        let user = store::user_by_id(&mut tx, user_id)
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
        store::user_by_id(&mut tx, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        store::remove_role(&mut tx, user_id, role).await?;
        if role == Role::VendorAdmin {
            store::set_vendor(&mut tx, user_id, None).await?;
        }
        let watermark = self.revoke_user_tokens(&mut tx, user_id).await?;
        store::audit(
            &mut tx,
            meta,
            Entry::new(AuditEvent::RoleRevoked, Outcome::Ok)
                .user(user_id)
                .details(json!({"role": role.as_str()})),
        )
        .await?;
        let user = store::user_by_id(&mut tx, user_id)
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
        let blocked = status == "blocked";
        if blocked && acts_on_self(meta, user_id) {
            return Err(Error::OwnAccount);
        }
        let mut tx = self.pool.begin().await?;
        let before = store::user_by_id(&mut tx, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        store::set_status(&mut tx, user_id, status).await?;
        let mut revoked = 0;
        let mut watermark = None;
        if blocked {
            revoked = store::revoke_user_refresh_tokens(&mut tx, user_id, "blocked").await?;
            watermark = Some(self.revoke_user_tokens(&mut tx, user_id).await?);
        }
        let event = if blocked {
            AuditEvent::UserBlocked
        } else {
            AuditEvent::UserUnblocked
        };
        store::audit(
            &mut tx,
            meta,
            Entry::new(event, Outcome::Ok)
                .user(user_id)
                .email(&before.email)
                .details(
                    json!({"reason": reason, "from": before.status, "revoked_tokens": revoked}),
                ),
        )
        .await?;
        let user = store::user_by_id(&mut tx, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        tx.commit().await?;
        if let Some(w) = watermark {
            self.publish_user(user_id, w).await;
        }
        tracing::info!(%user_id, status, "account status changed");
        Ok(user)
    }
}
