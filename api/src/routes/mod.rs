//! HTTP routes, one module per area (a path prefix). Each exposes `router()` for the OpenAPI
//! router and keeps the JSON types of its requests and answers beside its handlers; the types
//! more than one area speaks are in `crate::dto` and `crate::order_view`.

pub mod admin;
pub mod auth;
pub mod carts;
pub mod catalog;
pub mod checkouts;
pub mod health;
pub mod inventory;
pub mod me;
pub mod return_policy;
pub mod returns;
pub mod vendor;
pub mod vendor_shipments;
pub mod webhooks;
