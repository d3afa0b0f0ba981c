//! The pricing domain: prices per SKU and currency, tax rates by country and tax class,
//! shipping rates, coupons and their redemptions. Owns schema `pricing`.
//!
//! Rules (discount spread, rounding, tax, shipping) are pure functions in
//! `souk_domain::{coupon, quote}`; this module loads their inputs and records redemptions.

pub mod activities;
pub mod grpc;
pub mod store;

#[cfg(test)]
mod tests;

pub use store::Error;
