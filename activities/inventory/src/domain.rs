//! The inventory domain as the workers start it, with its reservation sweeper.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use souk_kit::db::Schema;
use souk_kit::domain::{self, Domain, Env, Job, Served};
use sqlx::PgPool;
use temporalio_sdk::WorkerOptions;

use crate::activities::{InventoryActivities, InventoryStepForwarder};
use crate::grpc::Inventory;

/// `[inventory]`
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// How often expired reservations are released.
    pub sweep_interval_seconds: u64,
}

pub struct InventoryDomain;

#[tonic::async_trait]
impl Domain for InventoryDomain {
    fn schema(&self) -> &'static Schema {
        &crate::SCHEMA
    }

    /// `[inventory]` must be readable: every command checks it at start.
    fn problems(&self, settings: &domain::Settings) -> anyhow::Result<Vec<String>> {
        settings.section::<Settings>("inventory")?;
        Ok(Vec::new())
    }

    async fn serve(&self, env: &Env, pool: PgPool) -> anyhow::Result<Served> {
        let settings: Settings = env.settings.section("inventory")?;
        let mut served = Served::default();
        served
            .routes
            .add_service(Inventory::new(pool.clone()).into_server());
        served.steps = Some(Arc::new(InventoryActivities { pool: pool.clone() }));
        served.jobs.push(Job {
            name: "reservation sweep",
            every: Duration::from_secs(settings.sweep_interval_seconds.max(1)),
            run: Box::new(move || {
                let pool = pool.clone();
                Box::pin(async move {
                    let n = crate::store::release_expired(&pool, 500).await?;
                    if n > 0 {
                        tracing::info!(released = n, "expired reservations released");
                    }
                    Ok(())
                })
            }),
        });
        Ok(served)
    }

    fn step_forwarders(
        &self,
        steps: &dyn Fn() -> anyhow::Result<souk_kit::steps::StepClient>,
        options: &mut WorkerOptions,
    ) -> anyhow::Result<()> {
        options.register_activities(InventoryStepForwarder { client: steps()? });
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
        options.register_activities(InventoryActivities { pool });
        Ok(())
    }
}
