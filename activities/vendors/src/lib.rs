//! The vendors domain: the marketplace's sellers. Owns schema `vendors`. Other domains refer
//! to a vendor by id only. Each keeps its own return policy (what it changes of the marketplace's), with
//! every change and who made it. Payouts and onboarding come with their own workflows later.
//!
//! A domain crate: it depends on the kit, the contracts and the domain types, never on another
//! domain, the API or workflows.

/// The `vendors` schema, owned by role `souk_vendors`, with its migrations (`migrations/vendors/`).
pub static SCHEMA: souk_kit::db::Schema = souk_kit::db::Schema::new("vendors", &MIGRATIONS);
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/vendors");

pub mod activities;
pub mod domain;
pub mod grpc;
pub mod store;

#[cfg(test)]
mod tests;

/// The vendors domain, for the workers' registry.
pub static DOMAIN: domain::VendorsDomain = domain::VendorsDomain;
