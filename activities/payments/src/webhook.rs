//! Stripe webhooks: verify the `Stripe-Signature` (HMAC-SHA256, 5-minute tolerance), record
//! each event once by id, and tell the checkout it concerns.

use souk_contracts::payments::signals::{PAYMENT_CONFIRMED, PAYMENT_FAILED, PaymentUpdate};
use stripe_webhook::{EventObject, Webhook, WebhookError};

use super::service::{Error, Payments};
use souk_kit::Ctx;

/// Delivers a signal to a checkout workflow. Implemented with a Temporal client by the worker.
#[tonic::async_trait]
pub trait CheckoutSignals: Send + Sync {
    async fn signal(
        &self,
        workflow_id: &str,
        signal: &str,
        update: PaymentUpdate,
    ) -> anyhow::Result<()>;
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookFailure {
    #[error("invalid signature: {0}")]
    Signature(String),
    #[error("the checkout could not be told: {0}")]
    Signal(anyhow::Error),
    #[error(transparent)]
    Payments(#[from] Error),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub event_id: String,
    pub event_type: String,
    pub duplicate: bool,
    pub workflow_id: Option<String>,
}

/// Verifies and handles one webhook delivery. A duplicate delivery does nothing again. If the
/// checkout cannot be signalled, nothing is recorded and the error asks Stripe to retry.
pub async fn handle(
    payments: &Payments,
    signals: &dyn CheckoutSignals,
    secret: &str,
    payload: &str,
    signature: &str,
) -> Result<Handled, WebhookFailure> {
    let event = Webhook::construct_event(payload, signature, secret).map_err(|e| {
        WebhookFailure::Signature(match e {
            WebhookError::BadTimestamp(t) => format!("timestamp {t} is outside the tolerance"),
            WebhookError::BadSignature => "signature does not match".into(),
            WebhookError::BadHeader(_) | WebhookError::BadKey => {
                "malformed Stripe-Signature header".into()
            }
            WebhookError::BadParse(m) => format!("unreadable event: {m}"),
        })
    })?;
    let event_id = event.id.as_str().to_string();
    let event_type = event.type_.as_str().to_string();
    let (signal, reference, reason) = match &event.data.object {
        EventObject::PaymentIntentAmountCapturableUpdated(pi)
        | EventObject::PaymentIntentSucceeded(pi) => {
            (Some(PAYMENT_CONFIRMED), Some(pi.id.to_string()), None)
        }
        EventObject::PaymentIntentPaymentFailed(pi) | EventObject::PaymentIntentCanceled(pi) => (
            Some(PAYMENT_FAILED),
            Some(pi.id.to_string()),
            pi.last_payment_error
                .as_ref()
                .and_then(|e| e.decline_code.clone().or_else(|| e.message.clone()))
                .or_else(|| Some(event_type.clone())),
        ),
        _ => (None, None, None),
    };

    let mut tx = payments.pool().begin().await?;
    let inserted = sqlx::query!(
        r#"INSERT INTO payments.webhook_events (event_id, provider, event_type, reference)
           VALUES ($1, 'stripe', $2, $3) ON CONFLICT (event_id) DO NOTHING"#,
        event_id,
        event_type,
        reference
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(Handled {
            event_id,
            event_type,
            duplicate: true,
            workflow_id: None,
        });
    }
    let mut workflow_id = None;
    if let (Some(signal), Some(reference)) = (signal, reference) {
        let ctx = Ctx::new("stripe");
        let checkout = if signal == PAYMENT_CONFIRMED {
            let provider = if reference.starts_with("pi_sb_") {
                "sandbox"
            } else {
                "stripe"
            };
            payments.confirm(&ctx, provider, &reference).await?
        } else {
            let provider = if reference.starts_with("pi_sb_") {
                "sandbox"
            } else {
                "stripe"
            };
            payments.checkout_of(provider, &reference).await?
        };
        if let Some((checkout_id, _attempt)) = checkout {
            signals
                .signal(&checkout_id, signal, PaymentUpdate { reference, reason })
                .await
                .map_err(WebhookFailure::Signal)?;
            workflow_id = Some(checkout_id);
        }
    }
    tx.commit().await?;
    Ok(Handled {
        event_id,
        event_type,
        duplicate: false,
        workflow_id,
    })
}
