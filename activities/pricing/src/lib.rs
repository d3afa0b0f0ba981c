//! The pricing domain: prices per SKU and currency, tax rates by country and tax class,
//! shipping rates, coupons and their redemptions. Owns schema `pricing`.
//!
//! Rules (discount spread, rounding, tax, shipping) are pure functions in
//! `souk_domain::{coupon, quote}`; this module loads their inputs and records redemptions.
//!
//! A domain crate: it depends on the kit, the contracts and the domain types, never on another
//! domain, the API or workflows.

/// The `pricing` schema, owned by role `souk_pricing`, with its migrations (`migrations/pricing/`).
pub static SCHEMA: souk_kit::db::Schema = souk_kit::db::Schema::new("pricing", &MIGRATIONS);
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/pricing");

pub mod activities;
pub mod domain;
pub mod grpc;
pub mod store;

#[cfg(test)]
mod tests;

pub use store::Error;

/// The pricing domain, for the workers' registry.
pub static DOMAIN: domain::PricingDomain = domain::PricingDomain;
