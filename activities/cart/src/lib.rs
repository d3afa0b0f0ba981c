//! The cart domain. Live carts are JSON documents in Redis with a sliding TTL; every change is
//! a compare-and-set on the cart's version that also appends its event to the cart outbox
//! stream, atomically (one Lua script). When checkout starts, the priced cart is written to
//! Postgres (schema `cart`) as a snapshot.
//!
//! Totals are never stored: every read prices the cart again through the pricing service,
//! with catalog facts from the catalog service.
//!
//! A domain crate: it depends on the kit, the contracts and the domain types, never on another
//! domain, the API or workflows.

/// The `cart` schema, owned by role `souk_cart`, with its migrations (`migrations/cart/`).
pub static SCHEMA: souk_kit::db::Schema = souk_kit::db::Schema::new("cart", &MIGRATIONS);
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/cart");

pub mod activities;
pub mod domain;
pub mod grpc;
pub mod service;
pub mod store;

pub use service::{CartService, Error};

/// The cart domain, for the workers' registry.
pub static DOMAIN: domain::CartDomain = domain::CartDomain;
