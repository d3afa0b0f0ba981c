//! The orders domain as the workers start it.

use std::sync::Arc;

use souk_kit::db::Schema;
use souk_kit::domain::{Domain, Env, Served};
use sqlx::PgPool;
use temporalio_sdk::WorkerOptions;

use crate::activities::{OrderActivities, OrderStepForwarder};
use crate::grpc::Orders;

pub struct OrdersDomain;

#[tonic::async_trait]
impl Domain for OrdersDomain {
    fn schema(&self) -> &'static Schema {
        &crate::SCHEMA
    }

    async fn serve(&self, _env: &Env, pool: PgPool) -> anyhow::Result<Served> {
        let mut served = Served::default();
        served
            .routes
            .add_service(Orders::new(pool.clone()).into_server());
        served.steps = Some(Arc::new(OrderActivities { pool }));
        Ok(served)
    }

    fn step_forwarders(
        &self,
        steps: &dyn Fn() -> anyhow::Result<souk_kit::steps::StepClient>,
        options: &mut WorkerOptions,
    ) -> anyhow::Result<()> {
        options.register_activities(OrderStepForwarder { client: steps()? });
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
        options.register_activities(OrderActivities { pool });
        Ok(())
    }
}
