//! The users domain as the workers start it (gRPC only: workflows run no activities here).

use souk_kit::db::Schema;
use souk_kit::domain::{Domain, Env, Served};
use sqlx::PgPool;

use crate::grpc::Users;

pub struct UsersDomain;

#[tonic::async_trait]
impl Domain for UsersDomain {
    fn schema(&self) -> &'static Schema {
        &crate::SCHEMA
    }

    async fn serve(&self, _env: &Env, pool: PgPool) -> anyhow::Result<Served> {
        let mut served = Served::default();
        served.routes.add_service(Users::new(pool).into_server());
        Ok(served)
    }
}
