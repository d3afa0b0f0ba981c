//! End-to-end tests over real HTTP against the whole stack (see `souk_tests`). One test binary
//! keeps link time down; modules group the areas.

mod auth;
mod browse;
mod carriers;
mod carts;
mod checkout;
mod checkout_support;
mod contest;
mod coupons;
mod customers;
mod durability;
mod edge;
mod goodwill;
mod inventory;
mod ledger;
mod openapi;
mod operations;
mod ownership;
mod payments;
mod personal_data;
mod profiles;
mod replay;
mod returns;
mod revocation;
mod setup_files;
mod shipping;
mod vendor;
