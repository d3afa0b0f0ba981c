//! The ledger domain as the workers start it: its gRPC service (balances, statements, the
//! trial balance, commission rules), its activities on `souk.ledger`, and gRPC health, which
//! follows its database.

use souk_kit::db::Schema;
use souk_kit::domain::{Domain, Env, Served};
use sqlx::PgPool;
use temporalio_sdk::WorkerOptions;

use crate::activities::LedgerActivities;

pub struct LedgerDomain;

#[tonic::async_trait]
impl Domain for LedgerDomain {
    fn schema(&self) -> &'static Schema {
        &crate::SCHEMA
    }

    async fn serve(&self, _env: &Env, pool: PgPool) -> anyhow::Result<Served> {
        let mut served = Served::default();
        served
            .routes
            .add_service(crate::grpc::Ledger::new(pool).into_server());
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
        options.register_activities(LedgerActivities { pool });
        Ok(())
    }
}
