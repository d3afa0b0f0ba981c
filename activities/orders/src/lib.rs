//! The orders domain: orders split into one sub-order per vendor, their lines and timeline.
//! Owns schema `orders`. Every status change goes through `souk_domain::order::OrderStatus`.
//!
//! A domain crate: it depends on the kit, the contracts and the domain types, never on another
//! domain, the API or workflows.

/// The `orders` schema, owned by role `souk_orders`, with its migrations (`migrations/orders/`).
pub static SCHEMA: souk_kit::db::Schema = souk_kit::db::Schema::new("orders", &MIGRATIONS);
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/orders");

pub mod activities;
pub mod domain;
pub mod grpc;
pub mod store;

#[cfg(test)]
mod tests;

pub use store::Error;

/// The orders domain, for the workers' registry.
pub static DOMAIN: domain::OrdersDomain = domain::OrdersDomain;
