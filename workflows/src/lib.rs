//! Souk's Temporal workflows: the business processes, written as deterministic code.
//!
//! Architecture invariant: nothing here does I/O, reads a clock or draws random numbers
//! outside the SDK's `WorkflowContext`; all side effects are activities on their domain's task
//! queue (see `souk_contracts`). `clippy.toml` in this crate bans the usual suspects. Workflow
//! type names are pinned (`#[run(name = ...)]`) so renaming Rust code never breaks a running
//! execution; a behaviour change that could affect running executions goes behind
//! `ctx.patched(..)` and is proven by replaying recorded histories.
//!
//! This crate depends on `souk_contracts` and `souk_domain` only, never on activity
//! implementations or databases.

pub mod checkout;
pub mod goodwill;
pub mod low_stock;
pub mod options;
pub mod returns;
pub mod shipment;
pub mod text;

pub use checkout::CheckoutWorkflow;
pub use goodwill::GoodwillRefundWorkflow;
pub use low_stock::LowStockAlertWorkflow;
pub use returns::ReturnWorkflow;
pub use shipment::ShipmentWorkflow;
