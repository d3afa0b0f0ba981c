//! Pricing steps: as Temporal activities on `souk.pricing`, and over the step service.

use chrono::Utc;
use souk_contracts::pricing::{Hold, HoldCoupon, Redeem, RedemptionRef, Release};
use sqlx::PgPool;

use super::store::{self, Error};
use souk_kit::Ctx;
use souk_kit::failure::StepError;
use souk_kit::steps::Step;

#[derive(Clone)]
pub struct PricingActivities {
    pub pool: PgPool,
}

fn failure(e: Error) -> StepError {
    souk_kit::error::step(e)
}

#[tonic::async_trait]
impl Step<Hold> for PricingActivities {
    async fn run(&self, ctx: &Ctx, input: HoldCoupon) -> Result<(), StepError> {
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
}

#[tonic::async_trait]
impl Step<Redeem> for PricingActivities {
    async fn run(&self, ctx: &Ctx, input: RedemptionRef) -> Result<(), StepError> {
        store::redeem(&self.pool, ctx, &input.code, &input.redemption_key)
            .await
            .map_err(failure)
    }
}

#[tonic::async_trait]
impl Step<Release> for PricingActivities {
    async fn run(&self, ctx: &Ctx, input: RedemptionRef) -> Result<(), StepError> {
        store::reverse_redemption(&self.pool, ctx, &input.code, &input.redemption_key)
            .await
            .map_err(failure)
    }
}

souk_contracts::pricing_steps!(souk_kit::serve_steps!(PricingActivities {}));

// The workflow worker's side: each step sent to this domain's step service.
souk_contracts::pricing_steps!(souk_kit::forward_steps!(PricingStepForwarder));
