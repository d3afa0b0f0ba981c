//! Cart activities, run by the cart worker on `souk.cart`.

use std::sync::Arc;

use souk_contracts::cart::{CartSnapshot, Snapshot, SnapshotCart};
use souk_contracts::failures;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use super::service::{CartService, Error};
use crate::failure::{business, ctx_of, transient};

pub struct CartActivities {
    pub service: CartService,
}

#[activities]
impl CartActivities {
    #[activity(definition = Snapshot)]
    pub async fn snapshot(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SnapshotCart,
    ) -> Result<CartSnapshot, ActivityError> {
        let c = ctx_of(&ctx);
        self.service
            .snapshot(
                &c,
                &input.cart_id,
                &input.checkout_id,
                input.attempt,
                &input.customer,
            )
            .await
            .map_err(|e| match e {
                Error::NotFound => business(failures::CART_NOT_FOUND, e),
                Error::Empty => business(failures::CART_EMPTY, e),
                Error::Unavailable { .. }
                | Error::UnknownSku(_)
                | Error::NotSellable(_)
                | Error::PriceUnavailable { .. }
                | Error::UnsupportedDestination { .. } => business(failures::ITEM_UNAVAILABLE, e),
                other => transient(anyhow::anyhow!("{other}")),
            })
    }
}
