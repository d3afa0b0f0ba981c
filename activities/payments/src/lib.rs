//! The payments domain: what was authorized, captured, voided and refunded for each checkout
//! attempt, through a [`provider::PaymentProvider`] (the built-in `sandbox`, or `stripe`).
//! Owns schema `payments`, including the sandbox provider's own tables.
//!
//! Idempotency: every provider call carries a key derived from the checkout attempt and the
//! operation (`checkout-<cart>:capture:1`), and our own records are updated idempotently, so
//! a retried activity never charges, captures or refunds twice.
//!
//! A domain crate: it depends on the kit, the contracts and the domain types, never on another
//! domain, the API or workflows.

/// The `payments` schema, owned by role `souk_payments`, with its migrations (`migrations/payments/`).
pub static SCHEMA: souk_kit::db::Schema = souk_kit::db::Schema::new("payments", &MIGRATIONS);
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/payments");

pub mod activities;
pub mod domain;
pub mod grpc;
pub mod provider;
pub mod sandbox;
pub mod service;
pub mod stripe;
pub mod webhook;

#[cfg(test)]
mod tests;

pub use service::{Error, Payments};

/// The payments domain, for the workers' registry.
pub static DOMAIN: domain::PaymentsDomain = domain::PaymentsDomain;
