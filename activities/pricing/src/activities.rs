//! Pricing steps: as Temporal activities on `souk.pricing`, and over the step service.

use std::sync::Arc;

use chrono::Utc;
use souk_contracts::failures;
use souk_contracts::pricing::{Hold, HoldCoupon, Redeem, RedemptionRef, Release};
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use super::store::{self, Error};
use souk_kit::Ctx;
use souk_kit::failure::{StepError, business, ctx_of, transient};
use souk_kit::steps::{StepHandler, call, unknown};

#[derive(Clone)]
pub struct PricingActivities {
    pub pool: PgPool,
}

fn failure(e: Error) -> StepError {
    match e {
        Error::CouponRejected { .. } => business(failures::COUPON_REJECTED, e),
        Error::Db(e) => transient(e),
        other => business(failures::INVALID_INPUT, other),
    }
}

impl PricingActivities {
    pub async fn hold_step(&self, ctx: &Ctx, input: HoldCoupon) -> Result<(), StepError> {
        store::hold(
            &self.pool,
            ctx,
            &input.code,
            &input.redemption_key,
            &if input.customer_keys.is_empty() {
                souk_domain::coupon::customer_keys(None, &input.customer)
            } else {
                input.customer_keys.clone()
            },
            Utc::now(),
        )
        .await
        .map_err(failure)
    }

    pub async fn redeem_step(&self, ctx: &Ctx, input: RedemptionRef) -> Result<(), StepError> {
        store::redeem(&self.pool, ctx, &input.code, &input.redemption_key)
            .await
            .map_err(failure)
    }

    pub async fn release_step(&self, ctx: &Ctx, input: RedemptionRef) -> Result<(), StepError> {
        store::reverse_redemption(&self.pool, ctx, &input.code, &input.redemption_key)
            .await
            .map_err(failure)
    }
}

#[tonic::async_trait]
impl StepHandler for PricingActivities {
    async fn run(&self, ctx: &Ctx, activity: &str, input: &[u8]) -> Result<Vec<u8>, StepError> {
        match activity {
            Hold::NAME => call(input, |i| self.hold_step(ctx, i)).await,
            Redeem::NAME => call(input, |i| self.redeem_step(ctx, i)).await,
            Release::NAME => call(input, |i| self.release_step(ctx, i)).await,
            other => Err(unknown(other)),
        }
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
        self.hold_step(&ctx_of(&ctx), input)
            .await
            .map_err(StepError::into_activity)
    }

    #[activity(definition = Redeem)]
    pub async fn redeem_coupon(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: RedemptionRef,
    ) -> Result<(), ActivityError> {
        self.redeem_step(&ctx_of(&ctx), input)
            .await
            .map_err(StepError::into_activity)
    }

    #[activity(definition = Release)]
    pub async fn release_coupon(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: RedemptionRef,
    ) -> Result<(), ActivityError> {
        self.release_step(&ctx_of(&ctx), input)
            .await
            .map_err(StepError::into_activity)
    }
}
