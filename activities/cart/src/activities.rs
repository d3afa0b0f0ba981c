//! Cart steps: as Temporal activities on `souk.cart`, and over the step service.

use souk_contracts::cart::{
    CartCheckout, CartSnapshot, CompleteCheckout, ReleaseCheckout, Snapshot, SnapshotCart,
};
use souk_contracts::failures;

use super::service::{CartService, Error};
use souk_kit::Ctx;
use souk_kit::failure::{StepError, business, transient};
use souk_kit::steps::Step;

#[derive(Clone)]
pub struct CartActivities {
    pub service: CartService,
}

#[tonic::async_trait]
impl Step<Snapshot> for CartActivities {
    async fn run(&self, ctx: &Ctx, input: SnapshotCart) -> Result<CartSnapshot, StepError> {
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
}

#[tonic::async_trait]
impl Step<ReleaseCheckout> for CartActivities {
    async fn run(&self, ctx: &Ctx, input: CartCheckout) -> Result<(), StepError> {
        self.service
            .release_checkout(ctx, &input.cart_id, &input.checkout_id, input.attempt)
            .await
            .map_err(|e| transient(anyhow::anyhow!("{e}")))
    }
}

#[tonic::async_trait]
impl Step<CompleteCheckout> for CartActivities {
    async fn run(&self, ctx: &Ctx, input: CartCheckout) -> Result<(), StepError> {
        self.service
            .complete_checkout(ctx, &input.cart_id, &input.checkout_id, input.attempt)
            .await
            .map_err(|e| transient(anyhow::anyhow!("{e}")))
    }
}

souk_contracts::cart_steps!(souk_kit::serve_steps!(CartActivities {}));

// The workflow worker's side: each step sent to this domain's step service.
souk_contracts::cart_steps!(souk_kit::forward_steps!(CartStepForwarder));
