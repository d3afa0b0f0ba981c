//! What every Souk domain is built from: the caller's context (`Ctx`), step failures
//! (`failure`), gRPC helpers and the metadata keys the API sets (`grpc`), the transactional
//! outbox, the step service that runs a domain's local steps, and schema, role and migration
//! machinery (`db`). Test support for domains' database tests is in `testing`.
//!
//! It must not depend on any domain, on the API or on workflows: every domain depends on it,
//! so what changes here rebuilds them all. Keep it small.

pub mod context;
pub mod db;
pub mod domain;
pub mod error;
pub mod failure;
pub mod grpc;
pub mod outbox;
pub mod steps;
#[cfg(feature = "testing")]
pub mod testing;

pub use context::Ctx;
