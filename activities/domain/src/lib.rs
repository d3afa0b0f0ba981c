//! Souk's domain types and business rules: money, identifiers, quantities, coupon rules,
//! basket totals, stock arithmetic and the event envelope.
//!
//! Everything here is pure: no I/O, no clock reads, no randomness. Callers pass "now" and
//! ids in. This crate must not depend on databases, gRPC, HTTP or Temporal; every other
//! Souk crate depends on it, so keep it small and its types stable.

pub mod catalog;
pub mod commission;
pub mod coupon;
pub mod cursor;
pub mod event;
pub mod identity;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod order;
pub mod quote;
pub mod refund;
pub mod returns;
pub mod shipment;
pub mod stock;
pub mod text;

pub use ids::{CountryCode, Quantity, Sku};
pub use money::{Currency, Money};
