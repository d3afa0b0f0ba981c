//! The vendors domain as the workers start it. It serves its steps (a vendor's contact, for
//! workflows) and gRPC health, which follows its database; the demo data writes its store
//! directly.

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
        Ok(Served {
            steps: Some(Arc::new(VendorSteps { pool })),
            ..Served::default()
        })
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
