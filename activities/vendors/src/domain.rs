//! The vendors domain as the workers start it. It has no service of its own yet (the demo
//! data writes its store directly); it serves gRPC health, which follows its database.

use souk_kit::db::Schema;
use souk_kit::domain::{Domain, Env, Served};
use sqlx::PgPool;

pub struct VendorsDomain;

#[tonic::async_trait]
impl Domain for VendorsDomain {
    fn schema(&self) -> &'static Schema {
        &crate::SCHEMA
    }

    async fn serve(&self, _env: &Env, _pool: PgPool) -> anyhow::Result<Served> {
        Ok(Served::default())
    }
}
