//! The catalog domain: categories (a tree), products and variants. Owns schema `catalog`.
//! Prices are not here (pricing owns them) and neither is stock (inventory owns it).
//!
//! A domain crate: it depends on the kit, the contracts and the domain types, never on another
//! domain, the API or workflows.

/// The `catalog` schema, owned by role `souk_catalog`, with its migrations (`migrations/catalog/`).
pub static SCHEMA: souk_kit::db::Schema = souk_kit::db::Schema::new("catalog", &MIGRATIONS);
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/catalog");

pub mod activities;
pub mod domain;
pub mod grpc;
pub mod store;

#[cfg(test)]
mod tests;

pub use store::Error;

/// The catalog domain, for the workers' registry.
pub static DOMAIN: domain::CatalogDomain = domain::CatalogDomain;
