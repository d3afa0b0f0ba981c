//! The Temporal contracts between Souk's workflows and its domain activity workers: task
//! queue names, workflow ids, activity definitions (pinned type names, input and output
//! types) and the business failure types activities raise.
//!
//! Workflows depend on this crate, not on the activity implementations, so a workflow never
//! links a database driver and a domain can change its internals freely. Payload types are
//! wire contracts recorded in workflow histories: change them only by adding optional fields.
//! Activity and workflow type names are pinned strings; never rename them.

pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod codec;
pub mod goodwill;
pub mod inventory;
pub mod ledger;
pub mod low_stock;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod pricing;
pub mod queues;
pub mod returns;
pub mod shipping;
pub mod vendors;

/// Every search attribute Souk's workflows set (all keywords), for registering them with a
/// namespace: the checkout's, the shipment's and the return's.
pub fn search_attributes() -> impl Iterator<Item = &'static str> {
    checkout::SEARCH_ATTRIBUTES
        .into_iter()
        .chain(shipping::SEARCH_ATTRIBUTES)
        .chain(returns::SEARCH_ATTRIBUTES)
}

/// Declares an activity: a unit marker type with a pinned Temporal type name, its input and
/// output. Implementations point at it with `#[activity(definition = ...)]`, which checks at
/// compile time that the types match.
macro_rules! activity {
    ($(#[$meta:meta])* $marker:ident, $name:literal, $input:ty => $output:ty) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $marker;

        impl $marker {
            pub const NAME: &'static str = $name;
        }

        impl ::temporalio_common::ActivityDefinition for $marker {
            type Input = $input;
            type Output = $output;

            fn name(&self) -> &str {
                $name
            }
        }
    };
}
pub(crate) use activity;

/// Declares a workflow's message (an update, a query or a signal): a unit marker type with a
/// pinned name, its input and output, for `$workflow`'s typed client.
macro_rules! message {
    ($workflow:ty; $(#[$meta:meta])* $marker:ident: $kind:ident, $name:expr, $input:ty $(=> $output:ty)?) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $marker;

        impl $kind for $marker {
            type Workflow = $workflow;
            type Input = $input;
            $(type Output = $output;)?

            fn name(&self) -> &str {
                $name
            }
        }
    };
}
pub(crate) use message;

/// Failure type names that activities raise and workflows match on. Business failures are
/// non-retryable; anything else is a transient error and is retried.
pub mod failures {
    pub const INSUFFICIENT_STOCK: &str = "InsufficientStock";
    pub const RESERVATION_CONFLICT: &str = "ReservationConflict";
    pub const RESERVATION_RELEASED: &str = "ReservationReleased";
    pub const RESERVATION_COMMITTED: &str = "ReservationCommitted";
    pub const RESERVATION_NOT_FOUND: &str = "ReservationNotFound";
    pub const INVALID_INPUT: &str = "InvalidInput";
    pub const COUPON_REJECTED: &str = "CouponRejected";
    pub const CART_NOT_FOUND: &str = "CartNotFound";
    pub const CART_EMPTY: &str = "CartEmpty";
    pub const CART_CHECKED_OUT: &str = "CartCheckedOut";
    pub const ITEM_UNAVAILABLE: &str = "ItemUnavailable";
    pub const UNSUPPORTED_DESTINATION: &str = "UnsupportedDestination";
    pub const ORDER_CANCELLED: &str = "OrderCancelled";
    pub const ORDER_NOT_FOUND: &str = "OrderNotFound";
    pub const CARD_DECLINED: &str = "CardDeclined";
    pub const PAYMENT_FAILED: &str = "PaymentFailed";
    pub const INVALID_RECIPIENT: &str = "InvalidRecipient";
    /// The carrier refused a request for good (an address it cannot serve, a rate gone).
    pub const CARRIER_REJECTED: &str = "CarrierRejected";
}
