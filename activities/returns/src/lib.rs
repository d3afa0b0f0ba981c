//! The returns domain: return requests (RMA numbers), the decision on each, what the
//! warehouse found of every line and what each line was refunded. Owns schema `returns`. It
//! knows an order only by what the return workflow brings from the orders domain; refunds are
//! computed by the orders domain's one rule and paid by the payments domain.
//!
//! A domain crate: it depends on the kit, the contracts and the domain types, never on another
//! domain, the API or workflows.

/// The `returns` schema, owned by role `souk_returns`, with its migrations (`migrations/returns/`).
pub static SCHEMA: souk_kit::db::Schema = souk_kit::db::Schema::new("returns", &MIGRATIONS);
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/returns");

pub mod activities;
pub mod domain;
pub mod grpc;
pub mod store;

#[cfg(test)]
mod tests;

/// The returns domain, for the workers' registry.
pub static DOMAIN: domain::ReturnsDomain = domain::ReturnsDomain;
