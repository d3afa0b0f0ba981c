//! Souk's domains. Each module owns one Postgres schema (and, for the cart, Redis keys), and
//! holds that domain's store (SQL), its Temporal activities and its gRPC service:
//!
//! - `catalog`: categories, products, variants.
//! - `inventory`: stock per SKU and warehouse, reservations, low-stock alerts.
//! - `pricing`: prices per SKU and currency, taxes, shipping rates, coupons.
//! - `cart`: live carts in Redis, priced through catalog and pricing; snapshots in Postgres.
//! - `vendors`: the sellers (a store only, for now).
//! - `users`: customers' profiles and address books.
//! - `auth`: accounts, roles, sign-in, tokens and signing keys, the security audit trail.
//!
//! A domain never reads another domain's tables: it asks that domain's gRPC service. The
//! database enforces this, since each domain connects as its own role that can only reach its
//! own schema (see `db`). This crate must not depend on the API or on workflows.

pub mod auth;
pub mod cart;
pub mod catalog;
pub mod context;
pub mod db;
pub mod failure;
pub mod grpc;
pub mod inventory;
pub mod notifications;
pub mod orders;
pub mod outbox;
pub mod payments;
pub mod pricing;
pub mod seed;
pub mod steps;
pub mod users;
pub mod vendors;

pub use context::Ctx;
