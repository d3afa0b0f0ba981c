//! HTTP routes, one module per area. Each exposes `router()` for the OpenAPI router.

pub mod admin;
pub mod auth;
pub mod carts;
pub mod catalog;
pub mod checkouts;
pub mod codec;
pub mod health;
pub mod inventory;
pub mod me;
pub mod orders;
pub mod profile;
pub mod vendor;
pub mod webhooks;
