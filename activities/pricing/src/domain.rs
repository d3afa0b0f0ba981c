//! The pricing domain as the workers start it.

use std::sync::Arc;

use souk_kit::db::Schema;
use souk_kit::domain::{Domain, Env, Served};
use sqlx::PgPool;
use temporalio_sdk::WorkerOptions;

use crate::activities::{PricingActivities, PricingStepForwarder};
use crate::grpc::Pricing;

pub struct PricingDomain;

#[tonic::async_trait]
impl Domain for PricingDomain {
    fn schema(&self) -> &'static Schema {
        &crate::SCHEMA
    }

    async fn serve(&self, _env: &Env, pool: PgPool) -> anyhow::Result<Served> {
        let mut served = Served::default();
        served
            .routes
            .add_service(Pricing::new(pool.clone()).into_server());
        served.steps = Some(Arc::new(PricingActivities { pool }));
        Ok(served)
    }

    fn step_forwarders(
        &self,
        steps: &dyn Fn() -> anyhow::Result<souk_kit::steps::StepClient>,
        options: &mut WorkerOptions,
    ) -> anyhow::Result<()> {
        options.register_activities(PricingStepForwarder { client: steps()? });
        Ok(())
    }

    fn has_activities(&self) -> bool {
        true
    }

    async fn activities(
        &self,
        _env: &Env,
        pool: PgPool,
        options: &mut WorkerOptions,
    ) -> anyhow::Result<()> {
        options.register_activities(PricingActivities { pool });
        Ok(())
    }
}
