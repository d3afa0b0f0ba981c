//! The shipping domain: one shipment per vendor sub-order (more if it is split), its parcel,
//! the rates quoted for it, the label bought and the tracking the carrier reports. Owns schema
//! `shipping`. Every status change goes through `souk_domain::shipment::ShipmentStatus`.
//!
//! Carriers are behind one boundary ([`carrier::Carrier`]): the built-in `sandbox` (the
//! default, no keys) and `easypost`.
//!
//! A domain crate: it depends on the kit, the contracts and the domain types, never on another
//! domain, the API or workflows.

/// The `shipping` schema, owned by role `souk_shipping`, with its migrations
/// (`migrations/shipping/`).
pub static SCHEMA: souk_kit::db::Schema = souk_kit::db::Schema::new("shipping", &MIGRATIONS);
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/shipping");

pub mod activities;
pub mod carrier;
pub mod domain;
pub mod grpc;
pub mod store;

#[cfg(test)]
mod tests;

/// The shipping domain, for the workers' registry.
pub static DOMAIN: domain::ShippingDomain = domain::ShippingDomain;
