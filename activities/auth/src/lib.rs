//! The auth domain: accounts, roles, sign-in, access and refresh tokens, signing keys,
//! lockout and the security audit trail. It owns the `auth` schema.
//!
//! - `crypto`: random tokens, their hashes, secrets sealed at rest.
//! - `keys`: RS256 signing keys, rotation, the JWK set.
//! - `password`: argon2id.
//! - `mfa`: TOTP second factors and recovery codes.
//! - `notify`: password reset mail through the notifications domain.
//! - `service`: what the gRPC service and the `souk auth` commands do (SQL included).
//! - `grpc`: `souk.auth.v1.AuthService`.
//!
//! A domain crate: it depends on the kit, the contracts and the domain types, never on another
//! domain, the API or workflows.

/// The `auth` schema, owned by role `souk_auth`, with its migrations (`migrations/auth/`).
pub static SCHEMA: souk_kit::db::Schema = souk_kit::db::Schema::new("auth", &MIGRATIONS);
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/auth");

pub mod crypto;
pub mod domain;
pub mod grpc;
pub mod keys;
pub mod mfa;
pub mod notify;
pub mod password;
pub mod revocation;
pub mod service;

#[cfg(test)]
mod tests;

pub use service::{AuthService, Meta, Settings};

/// The auth domain, for the workers' registry.
pub static DOMAIN: domain::AuthDomain = domain::AuthDomain;
