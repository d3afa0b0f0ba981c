//! The cart domain. Live carts are JSON documents in Redis with a sliding TTL; every change is
//! a compare-and-set on the cart's version that also appends its event to the cart outbox
//! stream, atomically (one Lua script). When checkout starts, the priced cart is written to
//! Postgres (schema `cart`) as a snapshot.
//!
//! Totals are never stored: every read prices the cart again through the pricing service,
//! with catalog facts from the catalog service.

pub mod activities;
pub mod grpc;
pub mod service;
pub mod store;

pub use service::{CartService, Error};
