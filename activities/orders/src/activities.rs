//! Orders steps: as Temporal activities on `souk.orders`, and over the step service.

use souk_contracts::orders::{
    Cancel, CancelOrder, Create, CreateOrder, Fulfil, Fulfilment, GiveBack, Goodwill,
    GoodwillRefund, LinesRefunded, OrderRef, Payment, RecordFulfilment, RecordPayment,
    RefundGoodwill, RefundLines, Release, ReleaseRefund, Returnable, ReturnableOf, ReturnableOrder,
};
use sqlx::PgPool;

use super::store::{self, Error};
use souk_kit::Ctx;
use souk_kit::failure::StepError;
use souk_kit::steps::Step;

#[derive(Clone)]
pub struct OrderActivities {
    pub pool: PgPool,
}

fn failure(e: Error) -> StepError {
    souk_kit::error::step(e)
}

#[tonic::async_trait]
impl Step<Create> for OrderActivities {
    async fn run(&self, ctx: &Ctx, input: CreateOrder) -> Result<OrderRef, StepError> {
        let order = store::create(&self.pool, ctx, &input)
            .await
            .map_err(failure)?;
        tracing::info!(order_no = %order.order_no, checkout_id = %input.checkout_id, "order placed");
        Ok(order)
    }
}

#[tonic::async_trait]
impl Step<Cancel> for OrderActivities {
    async fn run(&self, ctx: &Ctx, input: CancelOrder) -> Result<(), StepError> {
        store::cancel(
            &self.pool,
            ctx,
            &input.checkout_id,
            input.attempt,
            &input.reason,
            input.payment_status,
        )
        .await
        .map_err(failure)
    }
}

#[tonic::async_trait]
impl Step<Payment> for OrderActivities {
    async fn run(&self, ctx: &Ctx, input: RecordPayment) -> Result<(), StepError> {
        store::record_payment(
            &self.pool,
            ctx,
            &input.checkout_id,
            input.attempt,
            input.payment_status,
            &input.note,
        )
        .await
        .map_err(failure)
    }
}

#[tonic::async_trait]
impl Step<Fulfil> for OrderActivities {
    async fn run(&self, ctx: &Ctx, input: RecordFulfilment) -> Result<Fulfilment, StepError> {
        let done = store::record_fulfilment(&self.pool, ctx, &input)
            .await
            .map_err(failure)?;
        tracing::info!(order_no = %input.order_no, vendor_id = %input.vendor_id, sub_order = %done.sub_order, order = %done.order, "fulfilment recorded");
        Ok(done)
    }
}

#[tonic::async_trait]
impl Step<GiveBack> for OrderActivities {
    async fn run(&self, ctx: &Ctx, input: RefundLines) -> Result<LinesRefunded, StepError> {
        let done = store::refund_lines(&self.pool, ctx, &input)
            .await
            .map_err(failure)?;
        tracing::info!(order_no = %input.order_no, vendor_id = %input.vendor_id, key = %input.refund_key, amount = %done.amount, "lines given back");
        Ok(done)
    }
}

#[tonic::async_trait]
impl Step<GoodwillRefund> for OrderActivities {
    async fn run(&self, ctx: &Ctx, input: RefundGoodwill) -> Result<Goodwill, StepError> {
        let done = store::refund_goodwill(&self.pool, ctx, &input)
            .await
            .map_err(failure)?;
        match &done {
            Goodwill::Refunding { refund, .. } => {
                tracing::info!(order_no = %input.order_no, key = %input.refund_key, amount = %refund.amount, actor = %input.actor, "goodwill refund recorded")
            }
            Goodwill::Refused { code, .. } => {
                tracing::info!(order_no = %input.order_no, key = %input.refund_key, code = %code, "goodwill refund refused")
            }
        }
        Ok(done)
    }
}

#[tonic::async_trait]
impl Step<Release> for OrderActivities {
    async fn run(&self, ctx: &Ctx, input: ReleaseRefund) -> Result<(), StepError> {
        store::release_refund(&self.pool, ctx, &input)
            .await
            .map_err(failure)?;
        tracing::warn!(order_no = %input.order_no, key = %input.refund_key, reason = %input.reason, "goodwill refund refused by the provider: released");
        Ok(())
    }
}

#[tonic::async_trait]
impl Step<Returnable> for OrderActivities {
    async fn run(&self, _ctx: &Ctx, input: ReturnableOf) -> Result<ReturnableOrder, StepError> {
        store::returnable(&self.pool, &input.order_no)
            .await
            .map_err(failure)
    }
}

souk_contracts::orders_steps!(souk_kit::serve_steps!(OrderActivities {}));

// The workflow worker's side: each step sent to this domain's step service.
souk_contracts::orders_steps!(souk_kit::forward_steps!(OrderStepForwarder));
