//! Starting a domain from the registry: its database pool (as its own role), its gRPC
//! services with health (and its step service), its Temporal activity worker on
//! `souk.<domain>`, and its background jobs. Nothing here knows a particular domain.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use souk_contracts::checkout::{CheckoutClient, SignalError};
use souk_contracts::shipping::ShipmentClient;
use souk_kit::db::{self, Schema};
use souk_kit::domain::{Connections, Domain, Env, Served, WorkflowGone, WorkflowSignals};
use sqlx::PgPool;
use temporalio_client::errors::WorkflowInteractionError;
use temporalio_sdk::WorkerOptions;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::config::Config;
use crate::temporal::{self, Setup};

/// What a running domain consists of.
pub struct Running {
    pub grpc: JoinHandle<anyhow::Result<()>>,
    pub background: Vec<JoinHandle<()>>,
    /// The Temporal worker's thread, for domains with activities.
    pub temporal: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

/// Signals workflows through Temporal, for domains that report back to a saga (payments, to
/// checkouts): the receiving workflow's client in the contracts knows its signals by name.
struct TemporalSignals {
    temporal: Arc<souk_api::state::Temporal>,
}

#[tonic::async_trait]
impl WorkflowSignals for TemporalSignals {
    async fn signal(
        &self,
        workflow_id: &str,
        signal: &str,
        payload: serde_json::Value,
    ) -> anyhow::Result<()> {
        let client = self
            .temporal
            .client()
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let gone = |e: SignalError| match e {
            SignalError::Send(WorkflowInteractionError::NotFound(_)) => {
                anyhow::Error::new(WorkflowGone(workflow_id.to_string()))
            }
            other => other.into(),
        };
        // Each workflow that takes signals from a domain, by its contract's client (a return
        // takes a shipment's `tracking` signal: signals go by workflow id and name).
        if CheckoutClient::new(client.clone())
            .signal_named(workflow_id, signal, payload.clone())
            .await
            .map_err(gone)?
            || ShipmentClient::new(client)
                .signal_named(workflow_id, signal, payload)
                .await
                .map_err(gone)?
        {
            return Ok(());
        }
        anyhow::bail!("no workflow takes the signal {signal}")
    }
}

/// How domains reach their databases, Redis and each other, from the configuration.
pub fn connections(cfg: &Config) -> anyhow::Result<Connections> {
    Ok(Connections {
        admin: db::parse_url(cfg.database.url.expose_secret())?,
        role_password: cfg.database.role_password.expose_secret().to_string(),
        max_connections: cfg.database.max_connections,
        acquire_timeout: Duration::from_millis(cfg.database.acquire_timeout_ms),
        redis_url: cfg.redis.url.expose_secret().to_string(),
        redis_prefix: cfg.redis.key_prefix.clone(),
        services: cfg
            .services
            .iter()
            .map(|(name, s)| (name.clone(), s.url.clone()))
            .collect(),
        service_timeout: Duration::from_millis(cfg.api.service_timeout_ms),
    })
}

/// What every domain is given: the settings, its connections, the signal sender. One for all
/// the domains a process runs.
pub fn env(cfg: &Config, shutdown: watch::Receiver<bool>) -> anyhow::Result<Env> {
    let temporal = Arc::new(souk_api::state::Temporal::new(
        cfg.temporal.address.clone(),
        cfg.temporal.namespace.clone(),
        cfg.temporal.codec()?,
    ));
    Ok(Env {
        settings: cfg.settings(),
        connections: connections(cfg)?,
        signals: Arc::new(TemporalSignals { temporal }),
        shutdown,
    })
}

/// A pool connected as the domain's own role.
pub async fn pool(cfg: &Config, s: &Schema, max: u32) -> anyhow::Result<PgPool> {
    connections(cfg)?.pool(s, max).await
}

/// The auth domain's service (for the `souk auth` tools and the demo accounts).
pub async fn auth_service(cfg: &Config, pool: PgPool) -> anyhow::Result<souk_auth::AuthService> {
    let (_stop, shutdown) = watch::channel(false);
    souk_auth::domain::service(&env(cfg, shutdown)?, pool).await
}

/// Registers the domain's activities; runs on the worker's thread, with a pool of its own.
fn activity_setup(domain: &'static dyn Domain, env: Env) -> Setup {
    Box::new(move |queue: String| {
        Box::pin(async move {
            let max = (env.connections.max_connections / 2).max(2);
            let pool = env.pool(domain.schema(), max).await?;
            let mut options = WorkerOptions::new(queue).build();
            domain.activities(&env, pool, &mut options).await?;
            Ok(options)
        })
    })
}

/// Keeps the domain's gRPC health in step with its database and its probes, so `/readyz`
/// and load balancers see what is really reachable.
async fn watch_health(
    reporter: HealthReporter,
    pool: PgPool,
    probes: Vec<souk_kit::domain::Probe>,
    mut shutdown: watch::Receiver<bool>,
) {
    let status = |ok: bool| {
        if ok {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        }
    };
    loop {
        let pg = tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query("SELECT 1").execute(&pool),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        reporter.set_service_status("postgres", status(pg)).await;
        let mut all = pg;
        for p in &probes {
            let ok = tokio::time::timeout(Duration::from_secs(2), (p.check)())
                .await
                .unwrap_or(false);
            reporter.set_service_status(p.name, status(ok)).await;
            all &= ok;
        }
        reporter.set_service_status("", status(all)).await;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Runs a domain's job every so often until shutdown; a failed run is logged and retried at
/// the next tick.
fn spawn_job(
    domain: &'static str,
    job: souk_kit::domain::Job,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = (job.run)().await {
                tracing::warn!(
                    domain,
                    job = job.name,
                    error = format!("{e:#}"),
                    "job failed; retrying"
                );
            }
            tokio::select! {
                _ = tokio::time::sleep(job.every) => {}
                _ = stop.changed() => return,
            }
        }
    })
}

/// Starts `domain` serving gRPC on `listener` and polling its task queue.
pub async fn start(
    domain: &'static dyn Domain,
    cfg: &Config,
    env: &Env,
    listener: TcpListener,
) -> anyhow::Result<Running> {
    let shutdown = env.shutdown.clone();
    let pool = env
        .pool(domain.schema(), env.connections.max_connections)
        .await?;
    let Served {
        mut routes,
        steps,
        probes,
        jobs,
    } = domain.serve(env, pool.clone()).await?;
    let name = domain.name();
    let (reporter, health) = tonic_health::server::health_reporter();
    routes.add_service(health);
    if let Some(handler) = steps {
        routes.add_service(souk_kit::steps::Steps::new(handler).into_server());
    }
    // Every log line of a call carries the caller's request id (set by the API), so one id
    // follows a request through the API, the domains and the workflow it starts.
    let router = Server::builder()
        .trace_fn(move |req| {
            let request_id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("grpc", domain = name, path = %req.uri().path(), request_id = %request_id)
        })
        .add_routes(routes.routes());
    let mut background: Vec<JoinHandle<()>> = jobs
        .into_iter()
        .map(|job| spawn_job(name, job, shutdown.clone()))
        .collect();
    background.push(tokio::spawn(watch_health(
        reporter,
        pool,
        probes,
        shutdown.clone(),
    )));
    let addr = listener.local_addr()?;
    let mut stop = shutdown.clone();
    let grpc = tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async move {
                    let _ = stop.changed().await;
                },
            )
            .await?;
        Ok(())
    });
    tracing::info!(domain = name, %addr, "gRPC service listening");
    let temporal = if domain.has_activities() {
        Some(temporal::spawn_worker(
            name,
            cfg.temporal.clone(),
            souk_contracts::queues::domain(&cfg.temporal.task_queue_prefix, name),
            activity_setup(domain, env.clone()),
            shutdown,
        )?)
    } else {
        None
    };
    Ok(Running {
        grpc,
        background,
        temporal,
    })
}
