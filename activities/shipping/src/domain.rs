//! The shipping domain as the workers start it, with its carrier: its gRPC service (the
//! webhook receiver, the shipment views), its steps and its activities.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use souk_contracts::orders::Address;
use souk_kit::db::Schema;
use souk_kit::domain::{self, Domain, Env, Served};
use sqlx::PgPool;
use temporalio_sdk::WorkerOptions;

use crate::activities::{ShippingActivities, ShippingStepForwarder, ShippingSteps};
use crate::grpc::Shipping;

use crate::carrier::Carrier;
use crate::carrier::easypost::EasyPost;
use crate::carrier::sandbox::Sandbox;

/// `[shipping]`
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `auto` (EasyPost when its API key is set, the sandbox otherwise), `sandbox` or
    /// `easypost`.
    pub carrier: String,
    /// Signs the sandbox carrier's tracking webhooks (`souk shipping simulate`).
    pub sandbox_webhook_secret: SecretString,
    pub easypost_api_base: String,
    /// Or `EASYPOST_API_KEY`.
    pub easypost_api_key: SecretString,
    /// The secret of the EasyPost webhook (or `EASYPOST_WEBHOOK_SECRET`).
    pub easypost_webhook_secret: SecretString,
    /// How long one call to the carrier may take.
    pub carrier_timeout_ms: u64,
    /// A vendor packs a shipment within this long, or is reminded.
    pub fulfilment_sla_seconds: u64,
    /// The carrier scans a labelled parcel within this long, or the shipment is an exception.
    pub scan_timeout_seconds: u64,
    /// Where parcels leave from, by warehouse code; `default` for every other warehouse.
    pub origins: BTreeMap<String, Address>,
}

impl Settings {
    /// The `[shipping]` section; EasyPost's conventional variables fill the keys left empty.
    pub fn load(settings: &domain::Settings) -> anyhow::Result<Self> {
        let mut s: Settings = settings.section("shipping")?;
        s.easypost_api_key = domain::secret_or_env(&s.easypost_api_key, "EASYPOST_API_KEY");
        s.easypost_webhook_secret =
            domain::secret_or_env(&s.easypost_webhook_secret, "EASYPOST_WEBHOOK_SECRET");
        Ok(s)
    }

    /// The carrier labels are bought from: `sandbox` or `easypost`.
    pub fn carrier_name(&self) -> anyhow::Result<&'static str> {
        let key = !self.easypost_api_key.expose_secret().is_empty();
        match self.carrier.as_str() {
            "auto" if key => Ok("easypost"),
            "auto" | "sandbox" => Ok("sandbox"),
            "easypost" => Ok("easypost"),
            other => {
                anyhow::bail!("shipping.carrier must be auto, sandbox or easypost, not `{other}`")
            }
        }
    }

    /// What is wrong with this configuration: refused in every profile, and (`production`)
    /// what a real installation must not run with.
    pub fn problems(&self, production: bool) -> Vec<String> {
        let mut problems = Vec::new();
        let key = !self.easypost_api_key.expose_secret().is_empty();
        match self.carrier_name() {
            Err(e) => problems.push(e.to_string()),
            Ok("easypost") => {
                if !key {
                    problems.push("shipping.carrier is easypost but no EasyPost API key is set (shipping.easypost_api_key or EASYPOST_API_KEY)".into());
                }
                if self.easypost_webhook_secret.expose_secret().is_empty() {
                    problems.push("shipping.easypost_webhook_secret (or EASYPOST_WEBHOOK_SECRET) must be set: tracking webhooks are verified with it".into());
                }
            }
            Ok(_) => {
                if key {
                    problems.push("an EasyPost API key is set but shipping.carrier is sandbox, which buys no labels: set shipping.carrier = \"easypost\" or \"auto\" (or remove the key)".into());
                }
                if production {
                    problems.push("shipping.carrier: the sandbox carrier buys no real labels; ship with a real carrier (an EasyPost API key)".into());
                }
            }
        }
        if !self.origins.contains_key("default") {
            problems
                .push("shipping.origins.default: the address parcels leave from is not set".into());
        }
        if self.carrier_timeout_ms == 0 {
            problems.push("shipping.carrier_timeout_ms must be above 0".into());
        }
        problems
    }

    /// The carrier this configuration names.
    pub fn carrier(&self) -> anyhow::Result<Arc<dyn Carrier>> {
        Ok(match self.carrier_name()? {
            "easypost" => Arc::new(EasyPost::new(
                &self.easypost_api_base,
                self.easypost_api_key.clone(),
                &self.easypost_webhook_secret,
                Duration::from_millis(self.carrier_timeout_ms),
            )?),
            _ => Arc::new(Sandbox::new(
                self.sandbox_webhook_secret.expose_secret().to_string(),
            )),
        })
    }

    /// Where a parcel from `warehouse` leaves from.
    pub fn origin(&self, warehouse: &str) -> Option<&Address> {
        self.origins
            .get(warehouse)
            .or_else(|| self.origins.get("default"))
    }
}

pub struct ShippingDomain;

#[tonic::async_trait]
impl Domain for ShippingDomain {
    fn schema(&self) -> &'static Schema {
        &crate::SCHEMA
    }

    fn problems(&self, settings: &domain::Settings) -> anyhow::Result<Vec<String>> {
        Ok(Settings::load(settings)?.problems(settings.production()))
    }

    /// The webhook receiver, with the configured carrier.
    async fn serve(&self, env: &Env, pool: PgPool) -> anyhow::Result<Served> {
        let settings = Settings::load(&env.settings)?;
        let carrier = settings.carrier()?;
        let mut served = Served::default();
        served
            .routes
            .add_service(Shipping::new(pool.clone(), carrier, env.signals.clone()).into_server());
        served.steps = Some(Arc::new(ShippingSteps { pool, settings }));
        Ok(served)
    }

    fn step_forwarders(
        &self,
        steps: &dyn Fn() -> anyhow::Result<souk_kit::steps::StepClient>,
        options: &mut WorkerOptions,
    ) -> anyhow::Result<()> {
        options.register_activities(ShippingStepForwarder { client: steps()? });
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
        let settings = Settings::load(&env.settings)?;
        // The steps, too, for shipments that run them on the queue (opened before
        // `local_open`).
        options.register_activities(ShippingSteps {
            pool: pool.clone(),
            settings: settings.clone(),
        });
        options.register_activities(ShippingActivities {
            pool,
            carrier: settings.carrier()?,
            settings,
        });
        Ok(())
    }
}
