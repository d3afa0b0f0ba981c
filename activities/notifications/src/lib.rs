//! The notifications domain: message templates, the log of every message, and delivery by
//! e-mail (SMTP). Owns schema `notifications`.
//!
//! A message is keyed by an idempotency key and sent at most once per key through activity
//! retries: a retry finds it `sent` and stops, or finds it `sending` (another attempt is
//! still at it) and waits. Only a process that dies between handing the mail to the server
//! and recording it can cause a second copy, which carries the same Message-ID.
//!
//! A domain crate: it depends on the kit, the contracts and the domain types, never on another
//! domain, the API or workflows.

/// The `notifications` schema, owned by role `souk_notifications`, with its migrations (`migrations/notifications/`).
pub static SCHEMA: souk_kit::db::Schema = souk_kit::db::Schema::new("notifications", &MIGRATIONS);
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/notifications");

pub mod activities;
pub mod domain;
pub mod grpc;
pub mod mailer;
pub mod store;

#[cfg(test)]
mod tests;

pub use store::Error;

/// The notifications domain, for the workers' registry.
pub static DOMAIN: domain::NotificationsDomain = domain::NotificationsDomain;
