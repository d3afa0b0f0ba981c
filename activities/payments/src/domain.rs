//! The payments domain as the workers start it: the providers this deployment enables, its
//! service (with Stripe webhooks), and its activities.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use souk_contracts::payments::signals::PaymentUpdate;
use souk_kit::db::Schema;
use souk_kit::domain::{self, Domain, Env, Served, WorkflowSignals};
use sqlx::PgPool;
use temporalio_sdk::WorkerOptions;

use crate::Payments;
use crate::activities::PaymentActivities;
use crate::grpc::PaymentsRpc;
use crate::provider::PaymentProvider;
use crate::sandbox::Sandbox;
use crate::stripe::Stripe;
use crate::webhook::CheckoutSignals;

/// `[payments]`
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// The provider that takes each payment method type (`card`): `sandbox` or `stripe`.
    pub providers: HashMap<String, String>,
    /// The built-in sandbox provider (no keys, no money). Production refuses it.
    pub sandbox_enabled: bool,
    /// Replaced by `providers.card`; refused if set, so no configuration silently loses it.
    #[serde(default)]
    pub default_provider: Option<String>,
    pub stripe_secret_key: SecretString,
    pub stripe_api_base: String,
    pub stripe_webhook_secret: SecretString,
}

impl Settings {
    /// The `[payments]` section; Stripe's conventional variables (`STRIPE_SECRET_KEY`,
    /// `STRIPE_WEBHOOK_SECRET`) fill the keys left empty.
    pub fn load(settings: &domain::Settings) -> anyhow::Result<Self> {
        let mut s: Settings = settings.section("payments")?;
        s.stripe_secret_key = domain::secret_or_env(&s.stripe_secret_key, "STRIPE_SECRET_KEY");
        s.stripe_webhook_secret =
            domain::secret_or_env(&s.stripe_webhook_secret, "STRIPE_WEBHOOK_SECRET");
        Ok(s)
    }

    /// Refused in every profile: configuration from before the routing by payment method
    /// type, and a Stripe key while cards go to the sandbox (a store that meant to take money).
    /// Production also refuses the sandbox.
    pub fn problems(&self, production: bool) -> Vec<String> {
        let mut problems = Vec::new();
        if self.default_provider.is_some() {
            problems.push("payments.default_provider is no longer read: set payments.providers.card (SOUK_PAYMENTS__PROVIDERS__CARD) to stripe or sandbox".to_string());
        }
        let stripe_key = !self.stripe_secret_key.expose_secret().is_empty();
        if stripe_key && self.providers.get("card").map(String::as_str) == Some("sandbox") {
            problems.push("a Stripe secret key is set but cards go to the sandbox, which takes no money: set payments.providers.card = \"stripe\" (or remove the key)".to_string());
        }
        if production && self.sandbox_enabled {
            problems.push("payments.sandbox_enabled: the sandbox provider takes no money; take payments with a real provider".to_string());
        }
        problems
    }

    /// The payments service with the providers these settings enable (the sandbox only where
    /// enabled; Stripe when a secret key is set).
    pub fn payments(&self, pool: PgPool) -> anyhow::Result<Payments> {
        let mut providers: Vec<Arc<dyn PaymentProvider>> = Vec::new();
        if self.sandbox_enabled {
            providers.push(Arc::new(Sandbox::new(pool.clone())));
        }
        let key = self.stripe_secret_key.expose_secret();
        if !key.is_empty() {
            providers.push(Arc::new(Stripe::new(key, &self.stripe_api_base)?));
        }
        let routes: BTreeMap<String, String> = self.providers.clone().into_iter().collect();
        Ok(Payments::new(pool, providers, routes)?)
    }
}

/// Checkout signals sent through the worker's Temporal client.
struct Signals(Arc<dyn WorkflowSignals>);

#[tonic::async_trait]
impl CheckoutSignals for Signals {
    async fn signal(
        &self,
        workflow_id: &str,
        signal: &str,
        update: PaymentUpdate,
    ) -> anyhow::Result<()> {
        self.0
            .signal(workflow_id, signal, serde_json::to_value(update)?)
            .await
    }
}

pub struct PaymentsDomain;

#[tonic::async_trait]
impl Domain for PaymentsDomain {
    fn schema(&self) -> &'static Schema {
        &crate::SCHEMA
    }

    fn problems(&self, settings: &domain::Settings) -> anyhow::Result<Vec<String>> {
        Ok(Settings::load(settings)?.problems(settings.production()))
    }

    async fn serve(&self, env: &Env, pool: PgPool) -> anyhow::Result<Served> {
        let s = Settings::load(&env.settings)?;
        let mut served = Served::default();
        served.routes.add_service(
            PaymentsRpc::new(
                s.payments(pool)?,
                Arc::new(Signals(env.signals.clone())),
                Some(s.stripe_webhook_secret.expose_secret().to_string()),
            )
            .into_server(),
        );
        Ok(served)
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
        let payments = Settings::load(&env.settings)?.payments(pool)?;
        options.register_activities(PaymentActivities { payments });
        Ok(())
    }
}
