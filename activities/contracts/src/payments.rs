//! Payment activities. They run on `souk.payments`.

use serde::{Deserialize, Serialize};
use souk_domain::Money;
use uuid::Uuid;

use crate::activity;

/// The `payments` domain's task queue.
pub const QUEUE: crate::queues::Queue = crate::queues::Queue::new("payments");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizePayment {
    pub checkout_id: String,
    pub attempt: u32,
    /// Ignored: the payments domain chooses the provider from its configuration (by the
    /// payment method's type). Kept so histories that carry it still read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub payment_method: String,
    pub amount: Money,
    pub customer_email: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizationStatus {
    /// The amount is held; capture it or void it.
    Authorized,
    /// The customer must complete 3-D Secure; a `payment_confirmed` or `payment_failed`
    /// signal follows (from the provider's webhook).
    RequiresAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentAuthorized {
    pub payment_id: Uuid,
    pub provider: String,
    /// The provider's id (`pi_...`).
    pub reference: String,
    pub status: AuthorizationStatus,
    /// The provider's fingerprint of the card (the same card gives the same one), if it
    /// gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturePayment {
    pub checkout_id: String,
    pub attempt: u32,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRef {
    pub checkout_id: String,
    pub attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundPayment {
    pub checkout_id: String,
    pub attempt: u32,
    pub amount: Money,
    pub reason: String,
    /// Distinguishes several refunds of one payment (the idempotency key includes it).
    pub sequence: u32,
}

/// Signals the payments domain sends to a checkout when the provider reports on a payment
/// that needed the customer to act. Their names are part of the contract.
pub mod signals {
    use serde::{Deserialize, Serialize};

    pub const PAYMENT_CONFIRMED: &str = "payment_confirmed";
    pub const PAYMENT_FAILED: &str = "payment_failed";

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct PaymentUpdate {
        pub reference: String,
        /// Why it failed, for `payment_failed`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reason: Option<String>,
    }
}

activity!(
    /// Authorizes the amount (idempotency key `<checkout>:authorize:<attempt>`). Fails with
    /// `CardDeclined` (non-retryable, message `<decline code>: <text>`) or `PaymentFailed`.
    Authorize, "payments.authorize", AuthorizePayment => PaymentAuthorized
);
activity!(
    /// Captures what was authorized (key `<checkout>:capture:<attempt>`); returns the amount
    /// captured.
    Capture, "payments.capture", CapturePayment => Money
);
activity!(
    /// Voids the authorization (a compensation; key `<checkout>:void:<attempt>`). Idempotent;
    /// a payment never authorized is left alone.
    Void, "payments.void", PaymentRef => ()
);
activity!(
    /// Refunds part of a captured payment (key `<checkout>:refund:<attempt>:<sequence>`);
    /// never more than what is left of the capture.
    Refund, "payments.refund", RefundPayment => ()
);
