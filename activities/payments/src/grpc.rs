//! `souk.payments.v1.PaymentService`, served by the payments worker.

use std::sync::Arc;

use souk_proto::common::v1::Money;
use souk_proto::payments::v1 as pb;
use souk_proto::payments::v1::payment_service_server::{PaymentService, PaymentServiceServer};
use tonic::{Code, Request, Response, Status};

use super::service::{Error, Payments};
use super::webhook::{self, CheckoutSignals, WebhookFailure};
use souk_kit::grpc::{db_error, invalid, not_found, status};

#[derive(Clone)]
pub struct PaymentsRpc {
    payments: Payments,
    signals: Arc<dyn CheckoutSignals>,
    /// The webhook signing secret; never logged.
    webhook_secret: Option<String>,
}

impl PaymentsRpc {
    pub fn new(
        payments: Payments,
        signals: Arc<dyn CheckoutSignals>,
        webhook_secret: Option<String>,
    ) -> Self {
        Self {
            payments,
            signals,
            webhook_secret: webhook_secret.filter(|s| !s.is_empty()),
        }
    }

    pub fn into_server(self) -> PaymentServiceServer<Self> {
        PaymentServiceServer::new(self)
    }
}

fn error(e: Error) -> Status {
    souk_kit::error::status(&e)
}

#[tonic::async_trait]
impl PaymentService for PaymentsRpc {
    #[tracing::instrument(skip_all)]
    async fn get_payment(
        &self,
        req: Request<pb::GetPaymentRequest>,
    ) -> Result<Response<pb::Payment>, Status> {
        let r = req.into_inner();
        let p = self
            .payments
            .get(&r.checkout_id, r.attempt)
            .await
            .map_err(error)?
            .ok_or_else(|| {
                not_found(
                    "payment_not_found",
                    format!("no payment for {} attempt {}", r.checkout_id, r.attempt),
                )
            })?;
        let refunds = self.payments.refunds(p.id).await.map_err(error)?;
        let m = |amount: i64| {
            Some(Money {
                amount,
                currency: p.currency.clone(),
            })
        };
        Ok(Response::new(pb::Payment {
            id: p.id.to_string(),
            checkout_id: p.checkout_id.clone(),
            attempt: p.attempt as u32,
            provider: p.provider.clone(),
            provider_payment_id: p.provider_payment_id.clone().unwrap_or_default(),
            status: p.status.clone(),
            amount: m(p.amount),
            captured: m(p.captured_amount),
            refunded: m(p.refunded_amount),
            decline_code: p.decline_code.clone(),
            refunds: refunds
                .into_iter()
                .map(|(reference, amount, at)| pb::Refund {
                    reference,
                    amount: m(amount),
                    created_at: at.to_rfc3339(),
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn handle_stripe_webhook(
        &self,
        req: Request<pb::StripeWebhookRequest>,
    ) -> Result<Response<pb::StripeWebhookResponse>, Status> {
        let Some(secret) = &self.webhook_secret else {
            return Err(status(
                Code::FailedPrecondition,
                "webhooks_not_configured",
                "no Stripe webhook secret is configured",
            ));
        };
        let r = req.into_inner();
        let payload = String::from_utf8(r.payload)
            .map_err(|_| invalid("invalid_payload", "the payload is not UTF-8"))?;
        match webhook::handle(
            &self.payments,
            self.signals.as_ref(),
            secret,
            &payload,
            &r.signature,
        )
        .await
        {
            Ok(h) => {
                tracing::info!(event_id = %h.event_id, event_type = %h.event_type, duplicate = h.duplicate,
                    workflow_id = ?h.workflow_id, "stripe webhook");
                Ok(Response::new(pb::StripeWebhookResponse {
                    event_id: h.event_id,
                    event_type: h.event_type,
                    duplicate: h.duplicate,
                    workflow_id: h.workflow_id,
                }))
            }
            Err(WebhookFailure::Signature(m)) => {
                tracing::warn!(reason = %m, "rejected a webhook");
                Err(invalid("invalid_signature", m))
            }
            Err(WebhookFailure::Signal(e)) => {
                tracing::warn!(error = %e, "webhook not handled: checkout not reachable; the provider will retry");
                Err(status(
                    Code::Unavailable,
                    "temporal_unavailable",
                    "try again later",
                ))
            }
            Err(WebhookFailure::Payments(e)) => Err(error(e)),
            Err(WebhookFailure::Db(e)) => Err(db_error(e)),
        }
    }
}
