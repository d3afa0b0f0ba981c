//! The cart domain as the workers start it: its Redis store, its clients of catalog, pricing
//! and inventory, and its snapshots' pool.

use std::sync::Arc;

use serde::Deserialize;
use souk_domain::{CountryCode, Currency};
use souk_kit::db::Schema;
use souk_kit::domain::{self, Domain, Env, Probe, Served};
use souk_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use souk_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use souk_proto::pricing::v1::pricing_service_client::PricingServiceClient;
use sqlx::PgPool;
use temporalio_sdk::WorkerOptions;

use crate::activities::{CartActivities, CartStepForwarder};
use crate::grpc::Cart;
use crate::service::{CartService, Clients};
use crate::store::CartStore;

/// `[cart]`
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Carts untouched for this long are deleted.
    pub ttl_seconds: i64,
    pub default_currency: String,
    pub default_country: String,
}

pub struct CartDomain;

/// The cart service on `pool`, with its own Redis connection.
pub async fn service(env: &Env, pool: PgPool) -> anyhow::Result<CartService> {
    let s: Settings = env.settings.section("cart")?;
    let c = &env.connections;
    let redis = redis::Client::open(c.redis_url.as_str())?;
    let manager = redis::aio::ConnectionManager::new(redis).await?;
    let store = CartStore::new(manager, c.redis_prefix.clone(), s.ttl_seconds);
    let clients = Clients {
        catalog: CatalogServiceClient::new(env.channel("catalog")?),
        pricing: PricingServiceClient::new(env.channel("pricing")?),
        inventory: InventoryServiceClient::new(env.channel("inventory")?),
    };
    Ok(CartService::new(
        store,
        clients,
        pool,
        Currency::parse(&s.default_currency)?,
        CountryCode::parse(&s.default_country)?,
    ))
}

#[tonic::async_trait]
impl Domain for CartDomain {
    fn schema(&self) -> &'static Schema {
        &crate::SCHEMA
    }

    /// `[cart]` must be readable: every command checks it at start.
    fn problems(&self, settings: &domain::Settings) -> anyhow::Result<Vec<String>> {
        settings.section::<Settings>("cart")?;
        Ok(Vec::new())
    }

    async fn serve(&self, env: &Env, pool: PgPool) -> anyhow::Result<Served> {
        let service = service(env, pool).await?;
        let mut served = Served::default();
        served
            .routes
            .add_service(Cart::new(service.clone()).into_server());
        served.steps = Some(Arc::new(CartActivities {
            service: service.clone(),
        }));
        served.probes.push(Probe {
            name: "redis",
            check: Box::new(move || {
                let service = service.clone();
                Box::pin(async move { service.store().ping().await.is_ok() })
            }),
        });
        Ok(served)
    }

    fn step_forwarders(
        &self,
        steps: &dyn Fn() -> anyhow::Result<souk_kit::steps::StepClient>,
        options: &mut WorkerOptions,
    ) -> anyhow::Result<()> {
        options.register_activities(CartStepForwarder { client: steps()? });
        Ok(())
    }

    fn has_activities(&self) -> bool {
        true
    }

    async fn activities(
        &self,
        env: &Env,
        pool: PgPool,
        options: &mut WorkerOptions,
    ) -> anyhow::Result<()> {
        options.register_activities(CartActivities {
            service: service(env, pool).await?,
        });
        Ok(())
    }
}
