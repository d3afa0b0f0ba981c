//! The inventory domain: stock per SKU and warehouse, reservations against it, and low-stock
//! alerts. Owns schema `inventory`.
//!
//! Architecture invariant: `0 <= reserved <= on_hand` on every stock row, held by a CHECK
//! constraint and by conditional updates, so available stock never goes below zero whatever
//! the concurrency. Reserve, commit and release are idempotent by reservation id.
//!
//! A domain crate: it depends on the kit, the contracts and the domain types, never on another
//! domain, the API or workflows.

/// The `inventory` schema, owned by role `souk_inventory`, with its migrations (`migrations/inventory/`).
pub static SCHEMA: souk_kit::db::Schema = souk_kit::db::Schema::new("inventory", &MIGRATIONS);
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/inventory");

pub mod activities;
pub mod domain;
pub mod grpc;
pub mod store;

#[cfg(test)]
mod tests;

pub use store::Error;

/// The inventory domain, for the workers' registry.
pub static DOMAIN: domain::InventoryDomain = domain::InventoryDomain;
