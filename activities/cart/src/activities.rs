//! Cart steps: as Temporal activities on `souk.cart`, and over the step service.

use std::sync::Arc;

use souk_contracts::cart::{
    CartCheckout, CartSnapshot, CompleteCheckout, ReleaseCheckout, Snapshot, SnapshotCart,
};
use souk_contracts::failures;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use super::service::{CartService, Error};
use souk_kit::Ctx;
use souk_kit::failure::{StepError, business, ctx_of, transient};
use souk_kit::steps::{StepHandler, call, unknown};

#[derive(Clone)]
pub struct CartActivities {
    pub service: CartService,
}

impl CartActivities {
    pub async fn snapshot_step(
        &self,
        ctx: &Ctx,
        input: SnapshotCart,
    ) -> Result<CartSnapshot, StepError> {
        self.service
            .snapshot(ctx, &input)
            .await
            .map_err(|e| match e {
                Error::NotFound => business(failures::CART_NOT_FOUND, e),
                Error::Empty => business(failures::CART_EMPTY, e),
                Error::Unavailable { .. }
                | Error::UnknownSku(_)
                | Error::NotSellable(_)
                | Error::PriceUnavailable { .. } => business(failures::ITEM_UNAVAILABLE, e),
                Error::UnsupportedDestination { .. } => {
                    business(failures::UNSUPPORTED_DESTINATION, e)
                }
                Error::CheckedOut { .. } => business(failures::CART_CHECKED_OUT, e),
                other => transient(anyhow::anyhow!("{other}")),
            })
    }

    pub async fn release_step(&self, ctx: &Ctx, input: CartCheckout) -> Result<(), StepError> {
        self.service
            .release_checkout(ctx, &input.cart_id, &input.checkout_id, input.attempt)
            .await
            .map_err(|e| transient(anyhow::anyhow!("{e}")))
    }

    pub async fn complete_step(&self, ctx: &Ctx, input: CartCheckout) -> Result<(), StepError> {
        self.service
            .complete_checkout(ctx, &input.cart_id, &input.checkout_id, input.attempt)
            .await
            .map_err(|e| transient(anyhow::anyhow!("{e}")))
    }
}

#[tonic::async_trait]
impl StepHandler for CartActivities {
    async fn run(&self, ctx: &Ctx, activity: &str, input: &[u8]) -> Result<Vec<u8>, StepError> {
        match activity {
            Snapshot::NAME => call(input, |i| self.snapshot_step(ctx, i)).await,
            ReleaseCheckout::NAME => call(input, |i| self.release_step(ctx, i)).await,
            CompleteCheckout::NAME => call(input, |i| self.complete_step(ctx, i)).await,
            other => Err(unknown(other)),
        }
    }
}

#[activities]
impl CartActivities {
    #[activity(definition = Snapshot)]
    pub async fn snapshot(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SnapshotCart,
    ) -> Result<CartSnapshot, ActivityError> {
        self.snapshot_step(&ctx_of(&ctx), input)
            .await
            .map_err(StepError::into_activity)
    }

    #[activity(definition = ReleaseCheckout)]
    pub async fn release_checkout(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: CartCheckout,
    ) -> Result<(), ActivityError> {
        self.release_step(&ctx_of(&ctx), input)
            .await
            .map_err(StepError::into_activity)
    }

    #[activity(definition = CompleteCheckout)]
    pub async fn complete_checkout(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: CartCheckout,
    ) -> Result<(), ActivityError> {
        self.complete_step(&ctx_of(&ctx), input)
            .await
            .map_err(StepError::into_activity)
    }
}
