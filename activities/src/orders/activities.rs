//! Orders activities, run by the orders worker on `souk.orders`.

use std::sync::Arc;

use souk_contracts::failures;
use souk_contracts::orders::{
    Cancel, CancelOrder, Create, CreateOrder, OrderRef, Payment, RecordPayment,
};
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use super::store::{self, Error};
use crate::failure::{business, ctx_of, transient};

pub struct OrderActivities {
    pub pool: PgPool,
}

fn failure(e: Error) -> ActivityError {
    match e {
        Error::Cancelled { .. } => business(failures::ORDER_CANCELLED, e),
        Error::Db(e) => transient(e),
        other => business(failures::INVALID_INPUT, other),
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
        let order = store::create(&self.pool, &ctx_of(&ctx), &input)
            .await
            .map_err(failure)?;
        tracing::info!(order_no = %order.order_no, checkout_id = %input.checkout_id, "order placed");
        Ok(order)
    }

    #[activity(definition = Cancel)]
    pub async fn cancel(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: CancelOrder,
    ) -> Result<(), ActivityError> {
        store::cancel(
            &self.pool,
            &ctx_of(&ctx),
            &input.checkout_id,
            input.attempt,
            &input.reason,
            input.payment_status,
        )
        .await
        .map_err(failure)
    }

    #[activity(definition = Payment)]
    pub async fn record_payment(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: RecordPayment,
    ) -> Result<(), ActivityError> {
        store::record_payment(
            &self.pool,
            &ctx_of(&ctx),
            &input.checkout_id,
            input.attempt,
            input.payment_status,
            &input.note,
        )
        .await
        .map_err(failure)
    }
}
