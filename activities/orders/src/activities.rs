//! Orders steps: as Temporal activities on `souk.orders`, and over the step service.

use std::sync::Arc;

use souk_contracts::failures;
use souk_contracts::orders::{
    Cancel, CancelOrder, Create, CreateOrder, OrderRef, Payment, RecordPayment,
};
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use super::store::{self, Error};
use souk_kit::Ctx;
use souk_kit::failure::{StepError, business, ctx_of, transient};
use souk_kit::steps::{StepHandler, call, unknown};

#[derive(Clone)]
pub struct OrderActivities {
    pub pool: PgPool,
}

fn failure(e: Error) -> StepError {
    match e {
        Error::Cancelled { .. } => business(failures::ORDER_CANCELLED, e),
        Error::Db(e) => transient(e),
        other => business(failures::INVALID_INPUT, other),
    }
}

impl OrderActivities {
    pub async fn create_step(&self, ctx: &Ctx, input: CreateOrder) -> Result<OrderRef, StepError> {
        let order = store::create(&self.pool, ctx, &input)
            .await
            .map_err(failure)?;
        tracing::info!(order_no = %order.order_no, checkout_id = %input.checkout_id, "order placed");
        Ok(order)
    }

    pub async fn cancel_step(&self, ctx: &Ctx, input: CancelOrder) -> Result<(), StepError> {
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

    pub async fn record_payment_step(
        &self,
        ctx: &Ctx,
        input: RecordPayment,
    ) -> Result<(), StepError> {
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
impl StepHandler for OrderActivities {
    async fn run(&self, ctx: &Ctx, activity: &str, input: &[u8]) -> Result<Vec<u8>, StepError> {
        match activity {
            Create::NAME => call(input, |i| self.create_step(ctx, i)).await,
            Cancel::NAME => call(input, |i| self.cancel_step(ctx, i)).await,
            Payment::NAME => call(input, |i| self.record_payment_step(ctx, i)).await,
            other => Err(unknown(other)),
        }
    }
}

#[activities]
impl OrderActivities {
    #[activity(definition = Create)]
    pub async fn create(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: CreateOrder,
    ) -> Result<OrderRef, ActivityError> {
        self.create_step(&ctx_of(&ctx), input)
            .await
            .map_err(StepError::into_activity)
    }

    #[activity(definition = Cancel)]
    pub async fn cancel(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: CancelOrder,
    ) -> Result<(), ActivityError> {
        self.cancel_step(&ctx_of(&ctx), input)
            .await
            .map_err(StepError::into_activity)
    }

    #[activity(definition = Payment)]
    pub async fn record_payment(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: RecordPayment,
    ) -> Result<(), ActivityError> {
        self.record_payment_step(&ctx_of(&ctx), input)
            .await
            .map_err(StepError::into_activity)
    }
}
