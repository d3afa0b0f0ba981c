//! What the security audit trail records: the events this domain writes, their outcomes,
//! and one entry built from them.

use serde_json::{Value, json};
use uuid::Uuid;

use super::{AuditRecord, AuthService, Error, Meta, store};

/// An event the auth domain records. Events observed elsewhere (the API's refused
/// authorizations, operator actions) come by name through `AuthService::record`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEvent {
    /// A sign-up for an address that has an account.
    Registration,
    UserRegistered,
    /// An account made by an operator or the seed.
    UserCreated,
    Login,
    Lockout,
    Unlock,
    TokenRefresh,
    RefreshTokenReuse,
    Logout,
    KeyRotation,
    RoleGranted,
    RoleRevoked,
    UserBlocked,
    UserUnblocked,
    PasswordResetRequested,
    PasswordReset,
    MfaEnrollment,
    MfaEnabled,
    MfaDisabled,
}

impl AuditEvent {
    pub const ALL: [AuditEvent; 19] = [
        AuditEvent::Registration,
        AuditEvent::UserRegistered,
        AuditEvent::UserCreated,
        AuditEvent::Login,
        AuditEvent::Lockout,
        AuditEvent::Unlock,
        AuditEvent::TokenRefresh,
        AuditEvent::RefreshTokenReuse,
        AuditEvent::Logout,
        AuditEvent::KeyRotation,
        AuditEvent::RoleGranted,
        AuditEvent::RoleRevoked,
        AuditEvent::UserBlocked,
        AuditEvent::UserUnblocked,
        AuditEvent::PasswordResetRequested,
        AuditEvent::PasswordReset,
        AuditEvent::MfaEnrollment,
        AuditEvent::MfaEnabled,
        AuditEvent::MfaDisabled,
    ];

    /// The name in `auth.audit_log.event` (and the `event` filter of the audit API).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::Registration => "registration",
            AuditEvent::UserRegistered => "user_registered",
            AuditEvent::UserCreated => "user_created",
            AuditEvent::Login => "login",
            AuditEvent::Lockout => "lockout",
            AuditEvent::Unlock => "unlock",
            AuditEvent::TokenRefresh => "token_refresh",
            AuditEvent::RefreshTokenReuse => "refresh_token_reuse",
            AuditEvent::Logout => "logout",
            AuditEvent::KeyRotation => "key_rotation",
            AuditEvent::RoleGranted => "role_granted",
            AuditEvent::RoleRevoked => "role_revoked",
            AuditEvent::UserBlocked => "user_blocked",
            AuditEvent::UserUnblocked => "user_unblocked",
            AuditEvent::PasswordResetRequested => "password_reset_requested",
            AuditEvent::PasswordReset => "password_reset",
            AuditEvent::MfaEnrollment => "mfa_enrollment",
            AuditEvent::MfaEnabled => "mfa_enabled",
            AuditEvent::MfaDisabled => "mfa_disabled",
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Refused by a rule (wrong token, locked, blocked).
    Denied,
    /// Tried and failed (a wrong password).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Outcome::Ok, Outcome::Denied, Outcome::Failed]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// One line of the trail; who asked and from where come with the call's `Meta`.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub event: &'a str,
    pub outcome: Outcome,
    pub user_id: Option<Uuid>,
    pub email: Option<&'a str>,
    pub details: Value,
}

impl<'a> Entry<'a> {
    pub fn new(event: AuditEvent, outcome: Outcome) -> Self {
        Self::named(event.as_str(), outcome)
    }

    /// An entry for an event named elsewhere (checked by the caller).
    pub fn named(event: &'a str, outcome: Outcome) -> Self {
        Entry {
            event,
            outcome,
            user_id: None,
            email: None,
            details: json!({}),
        }
    }

    pub fn user(mut self, id: Uuid) -> Self {
        self.user_id = Some(id);
        self
    }

    pub fn email(mut self, email: &'a str) -> Self {
        self.email = Some(email);
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// A refusal and its reason: `{"reason": ...}`.
    pub fn denied(event: AuditEvent, reason: &str) -> Self {
        Self::new(event, Outcome::Denied).details(json!({"reason": reason}))
    }
}

impl AuthService {
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
        let outcome = Outcome::parse(outcome)
            .ok_or(Error::InvalidAudit("outcome is ok, denied or failed"))?;
        if !details.is_object() {
            return Err(Error::InvalidAudit("details is a JSON object"));
        }
        let mut entry = Entry::named(event, outcome).details(details);
        entry.user_id = user_id;
        let mut conn = self.pool.acquire().await?;
        store::audit(&mut conn, meta, entry).await?;
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
        Ok(store::audit_log(&self.pool, user_id, event, before, limit).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_name_is_one_the_audit_filter_takes_and_unique() {
        let names: std::collections::BTreeSet<_> =
            AuditEvent::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(names.len(), AuditEvent::ALL.len());
        for name in names {
            assert!(souk_domain::identity::is_audit_event(name), "{name}");
        }
    }

    #[test]
    fn outcomes_read_back() {
        for o in [Outcome::Ok, Outcome::Denied, Outcome::Failed] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("maybe"), None);
    }
}
