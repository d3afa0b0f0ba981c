//! Pricing activities, run by the pricing worker on `souk.pricing`.

use std::sync::Arc;

use chrono::Utc;
use souk_contracts::failures;
use souk_contracts::pricing::{Hold, HoldCoupon, Redeem, RedemptionRef, Release};
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use super::store::{self, Error};
use crate::failure::{business, ctx_of, transient};

pub struct PricingActivities {
    pub pool: PgPool,
}

fn failure(e: Error) -> ActivityError {
    match e {
        Error::CouponRejected { .. } => business(failures::COUPON_REJECTED, e),
        Error::Db(e) => transient(e),
        other => business(failures::INVALID_INPUT, other),
    }
}

#[activities]
impl PricingActivities {
    #[activity(definition = Hold)]
    pub async fn hold_coupon(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: HoldCoupon,
    ) -> Result<(), ActivityError> {
        store::hold(
            &self.pool,
            &ctx_of(&ctx),
            &input.code,
            &input.redemption_key,
            &input.customer,
            Utc::now(),
        )
        .await
        .map_err(failure)
    }

    #[activity(definition = Redeem)]
    pub async fn redeem_coupon(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: RedemptionRef,
    ) -> Result<(), ActivityError> {
        store::redeem(
            &self.pool,
            &ctx_of(&ctx),
            &input.code,
            &input.redemption_key,
        )
        .await
        .map_err(failure)
    }

    #[activity(definition = Release)]
    pub async fn release_coupon(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: RedemptionRef,
    ) -> Result<(), ActivityError> {
        store::reverse_redemption(
            &self.pool,
            &ctx_of(&ctx),
            &input.code,
            &input.redemption_key,
        )
        .await
        .map_err(failure)
    }
}
