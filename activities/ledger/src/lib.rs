//! The ledger domain: the marketplace's money as double-entry. Owns schema `ledger`: journal
//! entries and their postings (append-only, each posted once by its key, each balanced per
//! currency), the commission rules, and the commission each captured line gave with the rule
//! it came from. It learns of captures and refunds from the workflows that make them
//! (activities on `souk.ledger`), never by reading another domain's tables; the rules of what
//! each event posts are `souk_domain::ledger` and `souk_domain::commission`.
//!
//! A domain crate: it depends on the kit, the contracts and the domain types, never on another
//! domain, the API or workflows.

/// The `ledger` schema, owned by role `souk_ledger`, with its migrations (`migrations/ledger/`).
pub static SCHEMA: souk_kit::db::Schema = souk_kit::db::Schema::new("ledger", &MIGRATIONS);
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/ledger");

pub mod activities;
pub mod domain;
pub mod grpc;
pub mod store;

#[cfg(test)]
mod tests;

/// The ledger domain, for the workers' registry.
pub static DOMAIN: domain::LedgerDomain = domain::LedgerDomain;
