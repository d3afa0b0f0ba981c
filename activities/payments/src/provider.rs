//! The boundary to payment service providers. `sandbox` (built in, no keys) and `stripe`
//! implement it; every call carries an idempotency key, so a retried call never charges twice.

use souk_domain::Money;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub idempotency_key: String,
    pub amount: Money,
    /// A provider payment method id (Stripe's `pm_card_visa`, ...).
    pub payment_method: String,
    pub customer_email: String,
    /// Shown in the provider's dashboard; the checkout id.
    pub description: String,
}

/// What an authorization came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// The amount is held on the card until captured or voided.
    Authorized {
        reference: String,
        /// The provider's fingerprint of the card, if it gives one.
        fingerprint: Option<String>,
    },
    /// The customer must act (3-D Secure); the provider confirms later by webhook.
    RequiresAction {
        reference: String,
        fingerprint: Option<String>,
    },
    /// The card was declined.
    Declined {
        reference: Option<String>,
        code: String,
        message: String,
    },
}

/// The provider-side state of a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentStatus {
    RequiresAction,
    Authorized,
    Captured,
    Canceled,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the request for good (bad payment method, nothing left to capture).
    #[error("{code}: {message}")]
    Rejected { code: String, message: String },
    /// The provider could not be reached or failed (5xx, timeout): retry with the same key.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
}

#[tonic::async_trait]
pub trait PaymentProvider: Send + Sync {
    /// `sandbox` or `stripe`.
    fn name(&self) -> &'static str;
    async fn authorize(&self, req: &AuthorizeRequest) -> Result<Authorization, ProviderError>;
    /// Captures `amount` (at most what was authorized); returns the amount captured.
    async fn capture(
        &self,
        idempotency_key: &str,
        reference: &str,
        amount: Money,
    ) -> Result<Money, ProviderError>;
    /// Releases an authorization.
    async fn void(&self, idempotency_key: &str, reference: &str) -> Result<(), ProviderError>;
    /// Refunds part or all of what was captured; returns the refund's reference.
    async fn refund(
        &self,
        idempotency_key: &str,
        reference: &str,
        amount: Money,
    ) -> Result<String, ProviderError>;
    async fn status(&self, reference: &str) -> Result<IntentStatus, ProviderError>;
}
