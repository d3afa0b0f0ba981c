//! The users domain: customers' profiles (name, phone, preferences) and address books (one
//! default address). Owns schema `users`; keyed by the auth domain's user ids.

pub mod grpc;
pub mod store;

#[cfg(test)]
mod tests;
