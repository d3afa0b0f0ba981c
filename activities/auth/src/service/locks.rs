//! Failed sign-ins: the counters, the lock they lead to (by [`lockout::Policy`]), and the
//! mailed link that lifts it.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::audit::{AuditEvent, Entry, Outcome};
use super::lockout::{self, Failure, Policy};
use super::{AuthService, Error, Meta, source, store};
use crate::crypto::{random_token, token_hash};
use crate::notify::AccountMail;

impl AuthService {
    /// Seconds until `key` may sign in again from where `meta` calls, if it is locked: for
    /// this source, or for every source.
    pub(super) async fn locked_for(
        &self,
        conn: &mut PgConnection,
        key: &str,
        meta: &Meta,
    ) -> sqlx::Result<Option<i64>> {
        let until = store::locked_until(conn, key, &source(meta)).await?;
        Ok(until.map(|u| lockout::retry_after_seconds(u, Utc::now())))
    }

    /// Counts a failed sign-in for the address from this source, and for the address from
    /// anywhere; locks whichever reaches its threshold, and mails the owner an unlock link
    /// when a lock begins. Returns the answer.
    pub(super) async fn failed_login(&self, meta: &Meta, key: &str) -> Result<Error, Error> {
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
            let policy = Policy {
                threshold,
                window: s.lockout_window,
                duration: s.lockout_duration,
            };
            let counter = store::counter_for_update(&mut tx, key, &source).await?;
            match policy.fail(counter, now) {
                Failure::StillLocked(until) => {
                    locked_until = locked_until.max(Some(until));
                }
                Failure::Counted { failures, counter } => {
                    store::save_counter(&mut tx, key, &source, &counter).await?;
                    counted.push(failures);
                }
                Failure::Locks {
                    failures,
                    until,
                    counter,
                } => {
                    store::save_counter(&mut tx, key, &source, &counter).await?;
                    newly_locked = true;
                    locked_until = locked_until.max(Some(until));
                    store::audit(
                        &mut tx,
                        meta,
                        Entry::new(AuditEvent::Lockout, Outcome::Ok)
                            .email(key)
                            .details(json!({"failures": failures,
                                "locked_seconds": s.lockout_duration.num_seconds(),
                                "scope": if source.is_empty() { "address" } else { "address_and_source" }})),
                    )
                    .await?;
                    tracing::warn!(failures, "sign-in locked after repeated failures");
                    counted.push(failures);
                }
            }
        }
        store::audit(
            &mut tx,
            meta,
            Entry::new(AuditEvent::Login, Outcome::Failed)
                .email(key)
                .details(json!({"reason": "invalid_credentials", "failures": counted.first()})),
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
                retry_after_seconds: lockout::retry_after_seconds(until, now),
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
        let Some(account) = store::account_by_email(&mut *conn, key).await? else {
            return Ok(None);
        };
        let token = random_token();
        let id = Uuid::now_v7();
        store::insert_unlock_token(
            conn,
            id,
            key,
            &token_hash(&token),
            Utc::now() + self.settings.lockout_duration.max(Duration::hours(1)),
        )
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
        let Some(key) = store::use_unlock_token(&mut tx, &token_hash(token)).await? else {
            store::audit(
                &mut tx,
                meta,
                Entry::denied(AuditEvent::Unlock, "invalid_unlock_token"),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::InvalidUnlockToken);
        };
        let cleared = store::clear_counters(&mut tx, &key).await?;
        store::audit(
            &mut tx,
            meta,
            Entry::new(AuditEvent::Unlock, Outcome::Ok)
                .email(&key)
                .details(json!({"cleared": cleared})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
