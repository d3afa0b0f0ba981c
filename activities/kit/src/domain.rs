//! The shape of a domain: what a domain crate exports (one value implementing [`Domain`]) and
//! what it is given when it starts ([`Env`]). The workers iterate over a registry of these
//! values; nothing else in Souk lists domains.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use temporalio_sdk::WorkerOptions;
use tokio::sync::watch;
use tonic::service::RoutesBuilder;
use tonic::transport::{Channel, Endpoint};

use crate::db::{self, Schema};
use crate::steps::StepHandler;

/// Secrets that are public: this repository's defaults and examples, and the usual
/// placeholders. The production profile refuses every one of them.
pub const KNOWN_SECRETS: &[&str] = &[
    "souk-dev-only-key-encryption-key",
    "souk-dev-only",
    "souk-demo-password",
    "change-me",
    "changeme",
    "souk",
    "e2e",
    "prepare",
    "password",
    "secret",
];

/// Why a secret is not fit for production, if it is not: a published value, or too short.
pub fn secret_problem(name: &str, value: &str, min: usize) -> Option<String> {
    if KNOWN_SECRETS.contains(&value.trim()) {
        Some(format!(
            "{name} is a published default; set a secret of your own"
        ))
    } else if value.chars().count() < min {
        Some(format!("{name} must have at least {min} characters"))
    } else {
        None
    }
}

/// `current`, or, when it is empty, the environment variable `var` (a provider's conventional
/// name, such as `STRIPE_SECRET_KEY`), if set.
pub fn secret_or_env(current: &secrecy::SecretString, var: &str) -> secrecy::SecretString {
    use secrecy::ExposeSecret;
    match std::env::var(var) {
        Ok(v) if current.expose_secret().is_empty() => secrecy::SecretString::from(v),
        _ => current.clone(),
    }
}

/// The whole layered configuration, from which each domain reads its own sections.
#[derive(Clone)]
pub struct Settings {
    tree: Arc<config::Value>,
    production: bool,
}

impl Settings {
    pub fn new(tree: config::Value, production: bool) -> Self {
        Self {
            tree: Arc::new(tree),
            production,
        }
    }

    /// Whether this is the production profile, which is strict about secrets and demo data.
    pub fn production(&self) -> bool {
        self.production
    }

    /// The section at `path` (`payments`, `services.cart`), deserialized. Values set by
    /// environment variables arrive as text and are read as the type asks.
    pub fn section<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let mut value = &*self.tree;
        for key in path.split('.') {
            value = match &value.kind {
                config::ValueKind::Table(t) => t.get(key),
                _ => None,
            }
            .ok_or_else(|| anyhow::anyhow!("the configuration has no section `{path}`"))?;
        }
        value
            .clone()
            .try_deserialize()
            .map_err(|e| anyhow::anyhow!("the configuration section `{path}`: {e}"))
    }
}

/// How a domain reaches its database and its peers.
#[derive(Clone)]
pub struct Connections {
    /// An administrative connection's options: each domain connects with them as its role.
    pub admin: PgConnectOptions,
    pub role_password: String,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub redis_url: String,
    /// Prefix of every Redis key Souk writes.
    pub redis_prefix: String,
    /// Where each domain's gRPC service is reached, by domain name.
    pub services: BTreeMap<String, String>,
    /// How long a call to another domain may take.
    pub service_timeout: Duration,
}

/// Sends a signal to a running workflow, by workflow id and signal name, with a JSON payload
/// (the worker encodes it with the payload codec). For domains that report back to a saga
/// (payments confirming a 3-D Secure payment). A workflow that has ended (or never ran) fails
/// the call with a [`WorkflowGone`] inside the error, which telling again cannot mend.
#[tonic::async_trait]
pub trait WorkflowSignals: Send + Sync {
    async fn signal(
        &self,
        workflow_id: &str,
        signal: &str,
        payload: serde_json::Value,
    ) -> anyhow::Result<()>;
}

/// The workflow a signal was for has ended, or never ran.
#[derive(Debug)]
pub struct WorkflowGone(pub String);

impl std::fmt::Display for WorkflowGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "workflow {} is not running", self.0)
    }
}

impl std::error::Error for WorkflowGone {}

impl WorkflowGone {
    /// Whether `e` says the workflow has ended.
    pub fn is(e: &anyhow::Error) -> bool {
        e.downcast_ref::<WorkflowGone>().is_some()
    }
}

/// What a domain is given when it starts.
#[derive(Clone)]
pub struct Env {
    pub settings: Settings,
    pub connections: Connections,
    pub signals: Arc<dyn WorkflowSignals>,
    /// Turns true when the process stops.
    pub shutdown: watch::Receiver<bool>,
}

impl Connections {
    /// A pool of at most `max` connections as `schema`'s role.
    pub async fn pool(&self, schema: &Schema, max: u32) -> anyhow::Result<PgPool> {
        let options = schema.connect_options(&self.admin, &self.role_password);
        Ok(db::connect(options, max, self.acquire_timeout).await?)
    }
}

impl Env {
    /// A pool of at most `max` connections as `schema`'s role.
    pub async fn pool(&self, schema: &Schema, max: u32) -> anyhow::Result<PgPool> {
        self.connections.pool(schema, max).await
    }

    /// A lazily connected channel to another domain's gRPC service.
    pub fn channel(&self, domain: &str) -> anyhow::Result<Channel> {
        let url = self
            .connections
            .services
            .get(domain)
            .ok_or_else(|| anyhow::anyhow!("no address configured for the {domain} service"))?;
        Ok(Endpoint::from_shared(url.clone())?
            .connect_timeout(Duration::from_secs(2))
            .timeout(self.connections.service_timeout)
            .tcp_nodelay(true)
            .connect_lazy())
    }
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A check of something the domain depends on besides its database (Redis for the cart),
/// reported as a gRPC health service of that name.
pub struct Probe {
    pub name: &'static str,
    pub check: Box<dyn Fn() -> BoxFuture<bool> + Send + Sync>,
}

/// Work a domain does on its own every so often (the inventory's reservation sweeper).
pub struct Job {
    pub name: &'static str,
    pub every: Duration,
    pub run: Box<dyn Fn() -> BoxFuture<anyhow::Result<()>> + Send + Sync>,
}

/// A started domain: its gRPC services, its step service's handler, its probes and jobs.
#[derive(Default)]
pub struct Served {
    pub routes: RoutesBuilder,
    /// The steps workflows run as local activities in this domain, if it has any.
    pub steps: Option<Arc<dyn StepHandler>>,
    pub probes: Vec<Probe>,
    pub jobs: Vec<Job>,
}

/// A domain, as the workers see it. Each domain crate exports one value of this trait.
#[tonic::async_trait]
pub trait Domain: Send + Sync + 'static {
    /// The schema it owns.
    fn schema(&self) -> &'static Schema;

    /// `catalog`, `inventory`, ...: the name of its schema. Its task queue is
    /// `souk.<name>`, its service address `services.<name>`.
    fn name(&self) -> &'static str {
        self.schema().name()
    }

    /// What is wrong with its settings: refused in every profile, or only in production
    /// (`settings.production()`). Empty: fine.
    fn problems(&self, settings: &Settings) -> anyhow::Result<Vec<String>> {
        let _ = settings;
        Ok(Vec::new())
    }

    /// Builds its services on `pool` (connected as its role).
    async fn serve(&self, env: &Env, pool: PgPool) -> anyhow::Result<Served>;

    /// Whether workflows run activities of this domain on its task queue.
    fn has_activities(&self) -> bool {
        false
    }

    /// Registers on the workflow worker the forwarders of the steps workflows run locally in
    /// this domain (`souk_kit::forward_steps!`), each sending its step to this domain's step
    /// service through the client `steps` makes (only asked for by a domain that has some).
    fn step_forwarders(
        &self,
        steps: &dyn Fn() -> anyhow::Result<crate::steps::StepClient>,
        options: &mut WorkerOptions,
    ) -> anyhow::Result<()> {
        let _ = (steps, options);
        Ok(())
    }

    /// Registers its activities; runs on the Temporal worker's own thread, with a pool of its
    /// own.
    async fn activities(
        &self,
        env: &Env,
        pool: PgPool,
        options: &mut WorkerOptions,
    ) -> anyhow::Result<()> {
        let _ = (env, pool, options);
        anyhow::bail!("the {} domain has no activities", self.name())
    }
}

impl std::fmt::Debug for dyn Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
