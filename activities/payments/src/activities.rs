//! Payment activities, run by the payments worker on `souk.payments`.

use std::sync::Arc;

use souk_contracts::payments::{
    Authorize, AuthorizePayment, Capture, CapturePayment, PaymentAuthorized, PaymentRef, Refund,
    RefundPayment, Void,
};
use souk_domain::Money;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use super::service::{Error, Payments};
use souk_kit::failure::{StepError, ctx_of};

pub struct PaymentActivities {
    pub payments: Payments,
}

fn failure(e: Error) -> StepError {
    souk_kit::error::step(e)
}

#[activities]
impl PaymentActivities {
    #[activity(definition = Authorize)]
    pub async fn authorize(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: AuthorizePayment,
    ) -> Result<PaymentAuthorized, ActivityError> {
        let a = self
            .payments
            .authorize(
                &ctx_of(&ctx),
                &input.checkout_id,
                input.attempt,
                &input.payment_method,
                input.amount,
                &input.customer_email,
            )
            .await
            .map_err(|e| failure(e).into_activity())?;
        tracing::info!(checkout_id = %input.checkout_id, reference = %a.reference, status = ?a.status, "payment authorized");
        Ok(a)
    }

    #[activity(definition = Capture)]
    pub async fn capture(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: CapturePayment,
    ) -> Result<Money, ActivityError> {
        self.payments
            .capture(
                &ctx_of(&ctx),
                &input.checkout_id,
                input.attempt,
                input.amount,
            )
            .await
            .map_err(|e| failure(e).into_activity())
    }

    #[activity(definition = Void)]
    pub async fn void(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: PaymentRef,
    ) -> Result<(), ActivityError> {
        self.payments
            .void(&ctx_of(&ctx), &input.checkout_id, input.attempt)
            .await
            .map_err(|e| failure(e).into_activity())
    }

    #[activity(definition = Refund)]
    pub async fn refund(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: RefundPayment,
    ) -> Result<(), ActivityError> {
        self.payments
            .refund(
                &ctx_of(&ctx),
                &input.checkout_id,
                input.attempt,
                input.amount,
                input.sequence,
                &input.reason,
            )
            .await
            .map_err(|e| failure(e).into_activity())
    }
}
