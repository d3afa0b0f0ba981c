//! The Stripe provider (async-stripe): PaymentIntents with manual capture, capture, cancel,
//! refunds. Every call sends an idempotency key derived from the checkout and the operation
//! (`checkout-<cart>:authorize:1`); retries are Temporal's, with the same key, so Stripe
//! answers a repeated call with the first result instead of charging again.

use std::collections::HashMap;

use souk_domain::Money;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_core::payment_intent::{
    CancelPaymentIntent, CapturePaymentIntent, CreatePaymentIntent, RetrievePaymentIntent,
};
use stripe_core::refund::CreateRefund;
use stripe_core::{PaymentIntent, PaymentIntentCaptureMethod, PaymentIntentStatus};

use super::provider::{
    Authorization, AuthorizeRequest, IntentStatus, PaymentProvider, ProviderError,
};

pub struct Stripe {
    client: Client,
}

impl Stripe {
    /// `api_base` is `https://api.stripe.com/` in production; tests point it at a local double.
    pub fn new(secret_key: &str, api_base: &str) -> anyhow::Result<Self> {
        let client = ClientBuilder::new(secret_key)
            .url(api_base)
            .timeout(std::time::Duration::from_secs(20))
            .build()?;
        Ok(Self { client })
    }
}

fn key(k: &str) -> Result<RequestStrategy, ProviderError> {
    IdempotencyKey::new(k)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| ProviderError::Rejected {
            code: "invalid_idempotency_key".into(),
            message: e.to_string(),
        })
}

fn currency(m: Money) -> stripe_types::Currency {
    m.currency
        .code()
        .to_ascii_lowercase()
        .parse()
        .unwrap_or(stripe_types::Currency::USD)
}

/// Stripe's answer as our error: 4xx (other than 409/429) are final, the rest are retried.
fn error(e: StripeError) -> ProviderError {
    match e {
        StripeError::Stripe(api, status)
            if (400..500).contains(&status) && status != 409 && status != 429 =>
        {
            ProviderError::Rejected {
                code: api
                    .decline_code
                    .clone()
                    .or_else(|| api.code.as_ref().map(|c| c.as_str().to_string()))
                    .unwrap_or_else(|| "invalid_request".into()),
                message: api
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("Stripe answered {status}")),
            }
        }
        other => ProviderError::Unavailable(other.to_string()),
    }
}

/// Stripe refused a change because of the intent's state (captured, cancelled...).
fn unexpected_state(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Rejected { code, .. } if code == "payment_intent_unexpected_state")
}

impl Stripe {
    async fn retrieve(&self, reference: &str) -> Result<PaymentIntent, ProviderError> {
        RetrievePaymentIntent::new(reference)
            .send(&self.client)
            .await
            .map_err(error)
    }
}

#[tonic::async_trait]
impl PaymentProvider for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    async fn authorize(&self, req: &AuthorizeRequest) -> Result<Authorization, ProviderError> {
        let metadata = HashMap::from([("checkout".to_string(), req.description.clone())]);
        let result = CreatePaymentIntent::new(req.amount.amount, currency(req.amount))
            .payment_method(req.payment_method.as_str())
            .confirm(true)
            .capture_method(PaymentIntentCaptureMethod::Manual)
            .description(req.description.as_str())
            .receipt_email(req.customer_email.as_str())
            .metadata(metadata)
            // The card's fingerprint comes with the expanded payment method.
            .expand(vec!["payment_method".to_string()])
            .customize()
            .request_strategy(key(&req.idempotency_key)?)
            .send(&self.client)
            .await;
        match result {
            Ok(pi) => {
                let fingerprint = match &pi.payment_method {
                    Some(stripe_types::Expandable::Object(pm)) => {
                        pm.card.as_ref().and_then(|c| c.fingerprint.clone())
                    }
                    _ => None,
                };
                Ok(match pi.status {
                    PaymentIntentStatus::RequiresCapture | PaymentIntentStatus::Succeeded => {
                        Authorization::Authorized {
                            reference: pi.id.to_string(),
                            fingerprint,
                        }
                    }
                    PaymentIntentStatus::RequiresAction | PaymentIntentStatus::Processing => {
                        Authorization::RequiresAction {
                            reference: pi.id.to_string(),
                            fingerprint,
                        }
                    }
                    other => Authorization::Declined {
                        reference: Some(pi.id.to_string()),
                        code: "payment_failed".into(),
                        message: format!("the payment ended as {}", other.as_str()),
                    },
                })
            }
            // A declined card is a 402 card_error.
            Err(StripeError::Stripe(api, 402)) => Ok(Authorization::Declined {
                reference: api.payment_intent.as_ref().map(|p| p.id.to_string()),
                code: api
                    .decline_code
                    .clone()
                    .or_else(|| api.code.as_ref().map(|c| c.as_str().to_string()))
                    .unwrap_or_else(|| "card_declined".into()),
                message: api
                    .message
                    .clone()
                    .unwrap_or_else(|| "Your card was declined.".into()),
            }),
            Err(e) => Err(error(e)),
        }
    }

    async fn capture(
        &self,
        k: &str,
        reference: &str,
        amount: Money,
    ) -> Result<Money, ProviderError> {
        let pi = match CapturePaymentIntent::new(reference)
            .amount_to_capture(amount.amount)
            .customize()
            .request_strategy(key(k)?)
            .send(&self.client)
            .await
            .map_err(error)
        {
            Ok(pi) => pi,
            // Captured already, by this same capture whose answer was lost and whose key Stripe
            // no longer remembers (keys are kept for 24 hours): the intent says what was
            // captured.
            Err(e) if unexpected_state(&e) => match self.retrieve(reference).await? {
                pi if pi.status == PaymentIntentStatus::Succeeded => pi,
                _ => return Err(e),
            },
            Err(e) => return Err(e),
        };
        Ok(Money::new(pi.amount_received, amount.currency))
    }

    async fn void(&self, k: &str, reference: &str) -> Result<(), ProviderError> {
        match CancelPaymentIntent::new(reference)
            .customize()
            .request_strategy(key(k)?)
            .send(&self.client)
            .await
            .map_err(error)
        {
            Ok(_) => Ok(()),
            // Cancelled already (the same void, its key forgotten, or the intent expired).
            Err(e) if unexpected_state(&e) => match self.retrieve(reference).await? {
                pi if pi.status == PaymentIntentStatus::Canceled => Ok(()),
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn refund(
        &self,
        k: &str,
        reference: &str,
        amount: Money,
    ) -> Result<String, ProviderError> {
        let re = CreateRefund::new()
            .payment_intent(reference)
            .amount(amount.amount)
            .customize()
            .request_strategy(key(k)?)
            .send(&self.client)
            .await
            .map_err(error)?;
        Ok(re.id.to_string())
    }

    async fn status(&self, reference: &str) -> Result<IntentStatus, ProviderError> {
        let pi = self.retrieve(reference).await?;
        Ok(match pi.status {
            PaymentIntentStatus::RequiresAction | PaymentIntentStatus::Processing => {
                IntentStatus::RequiresAction
            }
            PaymentIntentStatus::RequiresCapture => IntentStatus::Authorized,
            PaymentIntentStatus::Succeeded => IntentStatus::Captured,
            PaymentIntentStatus::Canceled => IntentStatus::Canceled,
            _ => IntentStatus::Failed,
        })
    }
}
