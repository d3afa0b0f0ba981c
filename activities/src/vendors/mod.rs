//! The vendors domain: the marketplace's sellers. Owns schema `vendors`. Other domains refer
//! to a vendor by id only. Payouts and onboarding come with their own workflows later.

pub mod store;
