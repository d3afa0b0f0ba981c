//! The catalog domain: categories (a tree), products and variants. Owns schema `catalog`.
//! Prices are not here (pricing owns them) and neither is stock (inventory owns it).

pub mod activities;
pub mod grpc;
pub mod store;

#[cfg(test)]
mod tests;

pub use store::Error;
