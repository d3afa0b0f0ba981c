//! The `souk` binary's library: configuration, process wiring and the run modes (`dev`, `api`,
//! `worker <domain>`, `workflows`, `migrate`, `seed`). Tests start the same stack in-process.
//!
//! This is the only crate that knows every other one; nothing depends on it but the binary
//! and the tests.

pub mod config;
pub mod domains;
pub mod local_steps;
pub mod registry;
pub mod seed;
pub mod stack;
pub mod telemetry;
pub mod temporal;

pub use config::Config;
pub use stack::{Parts, Stack};
