//! The users domain: customers' profiles (name, phone, preferences) and address books (one
//! default address). Owns schema `users`; keyed by the auth domain's user ids.
//!
//! A domain crate: it depends on the kit, the contracts and the domain types, never on another
//! domain, the API or workflows.

/// The `users` schema, owned by role `souk_users`, with its migrations (`migrations/users/`).
pub static SCHEMA: souk_kit::db::Schema = souk_kit::db::Schema::new("users", &MIGRATIONS);
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/users");

pub mod domain;
pub mod grpc;
pub mod store;

#[cfg(test)]
mod tests;

/// The users domain, for the workers' registry.
pub static DOMAIN: domain::UsersDomain = domain::UsersDomain;
