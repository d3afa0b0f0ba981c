//! The orders domain: orders split into one sub-order per vendor, their lines and timeline.
//! Owns schema `orders`. Every status change goes through `souk_domain::order::OrderStatus`.

pub mod activities;
pub mod grpc;
pub mod store;

#[cfg(test)]
mod tests;

pub use store::Error;
