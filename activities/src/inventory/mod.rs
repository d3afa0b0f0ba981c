//! The inventory domain: stock per SKU and warehouse, reservations against it, and low-stock
//! alerts. Owns schema `inventory`.
//!
//! Architecture invariant: `0 <= reserved <= on_hand` on every stock row, held by a CHECK
//! constraint and by conditional updates, so available stock never goes below zero whatever
//! the concurrency. Reserve, commit and release are idempotent by reservation id.

pub mod activities;
pub mod grpc;
pub mod store;

#[cfg(test)]
mod tests;

pub use store::Error;
