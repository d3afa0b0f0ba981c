//! The vendors domain as the workers start it. It serves its gRPC service (a seller's own
//! return policy), its steps (a vendor's contact and return policy, for workflows) and gRPC
//! health, which follows its database; the demo data writes its store directly.

use std::sync::Arc;

use souk_kit::db::Schema;
use souk_kit::domain::{Domain, Env, Served};
use sqlx::PgPool;
use temporalio_sdk::WorkerOptions;

use crate::activities::{VendorStepForwarder, VendorSteps};

pub struct VendorsDomain;

#[tonic::async_trait]
impl Domain for VendorsDomain {
    fn schema(&self) -> &'static Schema {
        &crate::SCHEMA
    }

    async fn serve(&self, _env: &Env, pool: PgPool) -> anyhow::Result<Served> {
        let mut served = Served::default();
        served
            .routes
            .add_service(crate::grpc::Vendors::new(pool.clone()).into_server());
        served.steps = Some(Arc::new(VendorSteps { pool }));
        Ok(served)
    }

    fn step_forwarders(
        &self,
        steps: &dyn Fn() -> anyhow::Result<souk_kit::steps::StepClient>,
        options: &mut WorkerOptions,
    ) -> anyhow::Result<()> {
        options.register_activities(VendorStepForwarder { client: steps()? });
        Ok(())
    }
}
