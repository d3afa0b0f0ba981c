//! The catalog as the workers start it.

use souk_kit::db::Schema;
use souk_kit::domain::{Domain, Env, Served};
use sqlx::PgPool;
use temporalio_sdk::WorkerOptions;

use crate::activities::CatalogActivities;
use crate::grpc::Catalog;

pub struct CatalogDomain;

#[tonic::async_trait]
impl Domain for CatalogDomain {
    fn schema(&self) -> &'static Schema {
        &crate::SCHEMA
    }

    async fn serve(&self, _env: &Env, pool: PgPool) -> anyhow::Result<Served> {
        let mut served = Served::default();
        served.routes.add_service(Catalog::new(pool).into_server());
        Ok(served)
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
        options.register_activities(CatalogActivities { pool });
        Ok(())
    }
}
