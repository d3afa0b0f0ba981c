//! Running Souk's processes: any mix of the API, the workflow worker and domain workers in
//! one OS process. Deployments run them apart (`souk api`, `souk worker inventory`, ...);
//! `souk dev` and the tests run them all together.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::seed;
use secrecy::ExposeSecret;
use souk_api::{AppState, Application, ServiceUrls, Settings};
use souk_domain::Currency;
use souk_domain::identity::Role;
use souk_kit::db;
use souk_kit::domain::Domain;
use sqlx::Connection;
use temporalio_sdk::WorkerOptions;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::domains::{self, pool};
use crate::temporal;

/// Which parts to run.
#[derive(Debug, Clone)]
pub struct Parts {
    pub api: bool,
    pub workflows: bool,
    pub domains: Vec<&'static dyn Domain>,
}

impl Parts {
    pub fn all() -> Self {
        Parts {
            api: true,
            workflows: true,
            domains: crate::registry::DOMAINS.to_vec(),
        }
    }
}

/// A running set of parts.
pub struct Stack {
    /// Where the API listens, if it runs.
    pub api_addr: Option<SocketAddr>,
    /// Where each domain's gRPC service listens.
    pub grpc_addrs: BTreeMap<&'static str, SocketAddr>,
    /// The configuration as started (with the ports actually bound).
    pub config: Config,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
    background: Vec<JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<anyhow::Result<()>>>,
}

fn service_mut<'c>(
    cfg: &'c mut Config,
    d: &dyn Domain,
) -> anyhow::Result<&'c mut crate::config::Service> {
    cfg.services
        .get_mut(d.name())
        .ok_or_else(|| anyhow::anyhow!("no [services.{}] is configured", d.name()))
}

impl Stack {
    /// Starts `parts`. Every listener is bound first; a domain configured on port 0 gets a free
    /// port, and the in-process clients (API, cart) are pointed at it.
    pub async fn start(mut cfg: Config, parts: Parts) -> anyhow::Result<Stack> {
        let (shutdown, rx) = watch::channel(false);
        let mut listeners = Vec::new();
        let mut grpc_addrs = BTreeMap::new();
        for d in &parts.domains {
            let listen = service_mut(&mut cfg, *d)?.listen;
            let l = TcpListener::bind(listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {listen} for {}: {e}", d.name()))?;
            let addr = l.local_addr()?;
            if listen.port() == 0 {
                service_mut(&mut cfg, *d)?.url = format!("http://{addr}");
            }
            grpc_addrs.insert(d.name(), addr);
            listeners.push((*d, l));
        }

        let mut stack = Stack {
            api_addr: None,
            grpc_addrs,
            config: cfg.clone(),
            shutdown,
            tasks: Vec::new(),
            background: Vec::new(),
            threads: Vec::new(),
        };
        if parts.workflows {
            crate::temporal::ensure_search_attributes(&cfg.temporal).await;
        }
        let env = domains::env(&cfg, rx.clone())?;
        for (d, l) in listeners {
            let running = domains::start(d, &cfg, &env, l).await?;
            stack.tasks.push(running.grpc);
            stack.background.extend(running.background);
            stack.threads.extend(running.temporal);
        }
        if parts.workflows {
            let steps_cfg = cfg.clone();
            let pollers = cfg.temporal.workflow_task_pollers;
            let setup: temporal::Setup = Box::new(move |queue: String| {
                Box::pin(async move {
                    let mut options = WorkerOptions::new(queue)
                        .register_workflow::<souk_workflows::LowStockAlertWorkflow>()?
                        .register_workflow::<souk_workflows::CheckoutWorkflow>()?
                        .register_workflow::<souk_workflows::ShipmentWorkflow>()?
                        .register_workflow::<souk_workflows::ReturnWorkflow>()?
                        .register_workflow::<souk_workflows::GoodwillRefundWorkflow>()?
                        .workflow_task_poller_behavior(
                            temporalio_sdk::runtime::PollerBehavior::SimpleMaximum(pollers),
                        )
                        // Half the polls on the shared queue, where the first task of every
                        // new workflow waits (each checkout starts its shipments too), rather
                        // than one in five.
                        .nonsticky_to_sticky_poll_ratio(0.5)
                        .build();
                    // Local activities run on the worker that runs the workflow.
                    crate::local_steps::register(&mut options, &steps_cfg)?;
                    Ok(options)
                })
            });
            stack.threads.push(temporal::spawn_worker(
                "workflows",
                cfg.temporal.clone(),
                cfg.workflow_queue(),
                setup,
                rx.clone(),
            )?);
        }
        if parts.api {
            let state = AppState::new(api_settings(&cfg)?, souk_api::observe::metrics_handle())?;
            let app = Application::bind(cfg.api.listen, state)
                .await
                .map_err(|e| {
                    anyhow::anyhow!("cannot listen on {} for the API: {e}", cfg.api.listen)
                })?;
            let addr = app.local_addr()?;
            stack.api_addr = Some(addr);
            let mut stop = rx.clone();
            stack.tasks.push(tokio::spawn(async move {
                app.serve(async move {
                    let _ = stop.changed().await;
                })
                .await?;
                Ok(())
            }));
            tracing::info!(%addr, "API listening");
        }
        Ok(stack)
    }

    /// Stops everything, letting in-flight requests and tasks finish.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            match tokio::time::timeout(Duration::from_secs(15), t).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => {
                    tracing::error!(error = format!("{e:#}"), "a service stopped with an error")
                }
                Ok(Err(e)) => tracing::error!(error = %e, "a service panicked"),
                Err(_) => tracing::warn!("a service did not stop in time"),
            }
        }
        for b in self.background {
            b.abort();
        }
        let threads = self.threads;
        let joined = tokio::task::spawn_blocking(move || {
            for t in threads {
                match t.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(
                        error = format!("{e:#}"),
                        "a Temporal worker stopped with an error"
                    ),
                    Err(_) => tracing::error!("a Temporal worker panicked"),
                }
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(30), joined).await;
    }

    /// Resolves when any part stops on its own (a crash), with its error.
    pub async fn wait_for_failure(&mut self) -> anyhow::Error {
        if self.tasks.is_empty() {
            return std::future::pending().await;
        }
        let (res, i, _) = futures::future::select_all(self.tasks.iter_mut()).await;
        drop(self.tasks.remove(i));
        match res {
            Ok(Ok(())) => anyhow::anyhow!("a service stopped unexpectedly"),
            Ok(Err(e)) => e,
            Err(e) => anyhow::anyhow!("a service panicked: {e}"),
        }
    }
}

pub fn api_settings(cfg: &Config) -> anyhow::Result<Settings> {
    let tokens = cfg.token_checks()?;
    let url = |d: &str| cfg.service(d).map(|s| s.url.clone());
    Ok(Settings {
        token_issuer: tokens.issuer,
        token_audience: tokens.audience,
        require_operator_mfa: tokens.require_operator_mfa,
        default_currency: Currency::parse(&cfg.api.default_currency)?,
        services: ServiceUrls {
            catalog: url("catalog")?,
            inventory: url("inventory")?,
            pricing: url("pricing")?,
            cart: url("cart")?,
            orders: url("orders")?,
            payments: url("payments")?,
            notifications: url("notifications")?,
            auth: url("auth")?,
            users: url("users")?,
            shipping: url("shipping")?,
            returns: url("returns")?,
            vendors: url("vendors")?,
        },
        checkout: souk_api::CheckoutSettings {
            reservation_ttl_seconds: cfg.checkout.reservation_ttl_seconds,
            payment_wait_seconds: cfg.checkout.payment_wait_seconds,
            capture_delay_seconds: cfg.checkout.capture_delay_seconds,
            price_tolerance_bp: cfg.checkout.price_tolerance_bp,
            decision_wait: Duration::from_millis(cfg.checkout.decision_wait_ms),
            shipment: {
                let s = souk_shipping::domain::Settings::load(&cfg.settings())?;
                souk_contracts::shipping::ShipmentSettings {
                    fulfilment_sla_seconds: s.fulfilment_sla_seconds,
                    scan_timeout_seconds: s.scan_timeout_seconds,
                }
            },
        },
        returns: souk_returns::domain::Settings::load(&cfg.settings())?.workflow(),
        service_timeout: Duration::from_millis(cfg.api.service_timeout_ms),
        breaker: souk_api::breaker::BreakerSettings {
            failures: cfg.api.breaker_failures,
            open_for: Duration::from_millis(cfg.api.breaker_open_ms),
        },
        temporal_address: cfg.temporal.address.clone(),
        temporal_namespace: cfg.temporal.namespace.clone(),
        temporal_codec: cfg.temporal.codec()?,
        workflow_queue: cfg.workflow_queue(),
        body_limit_bytes: cfg.api.body_limit_bytes,
        request_timeout: Duration::from_millis(cfg.api.request_timeout_ms),
        rate_limits: souk_api::limit::RateLimits {
            enabled: cfg.rate_limit.enabled,
            redis_url: cfg.redis.url.expose_secret().to_string(),
            key_prefix: cfg.redis.key_prefix.clone(),
            anonymous: souk_api::limit::Quota::per_minute(cfg.rate_limit.anonymous_per_minute),
            user: souk_api::limit::Quota::per_minute(cfg.rate_limit.user_per_minute),
            auth: souk_api::limit::Quota::per_minute(cfg.rate_limit.auth_per_minute),
            webhook: souk_api::limit::Quota::per_minute(cfg.rate_limit.webhook_per_minute),
        },
        client_ip_header: Some(cfg.api.client_ip_header.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty()),
        cors_origins: cfg
            .api
            .cors_allowed_origins
            .split(',')
            .chain(std::iter::once(cfg.temporal.ui_origin.as_str()))
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect(),
        secure_cookies: cfg.api.secure_cookies,
    })
}

/// Creates every domain's role and schema (administrative connection), then runs each
/// domain's migrations as that domain's role.
pub async fn migrate(cfg: &Config) -> anyhow::Result<()> {
    let admin = db::parse_url(cfg.database.url.expose_secret())?;
    let password = cfg.database.role_password.expose_secret();
    let mut conn = sqlx::PgConnection::connect_with(&admin).await?;
    for s in crate::registry::DOMAINS.iter().map(|d| d.schema()) {
        db::provision(&mut conn, s, password).await?;
    }
    conn.close().await?;
    for s in crate::registry::DOMAINS.iter().map(|d| d.schema()) {
        let mut c = sqlx::PgConnection::connect_with(&s.connect_options(&admin, password)).await?;
        db::migrate(&mut c, s)
            .await
            .map_err(|e| anyhow::anyhow!("migrating {}: {e}", s.name()))?;
        c.close().await?;
        tracing::info!(schema = s.name(), "migrated");
    }
    Ok(())
}

/// Demo accounts (`./dev up`): an operator, a vendor admin of the first demo vendor and a
/// customer, all with [`DEMO_PASSWORD`].
pub const DEMO_ACCOUNTS: [(&str, &[Role]); 3] = [
    ("admin@souk.local", &[Role::Staff, Role::SuperAdmin]),
    ("vendor@souk.local", &[Role::VendorAdmin]),
    ("customer@souk.local", &[Role::Customer]),
];
pub const DEMO_PASSWORD: &str = "souk-demo-password";
/// The demo operator's TOTP secret (base32): `souk auth totp-code` prints its current code.
/// Demo data only: real operators enrol their own at `/v1/me/mfa/totp`.
pub const DEMO_TOTP_SECRET: &str = "SOUKDEMOSOUKDEMOSOUKDEMOSOUKDEMO";

/// Who created the demo accounts: the production profile refuses a database that has them.
pub const DEMO_SEED_ACTOR: &str = "seed:demo";

/// Loads the demo catalog (once), and with `demo_accounts` the demo accounts, whose password
/// and operator authenticator are published.
pub async fn seed(cfg: &Config, demo_accounts: bool) -> anyhow::Result<seed::Summary> {
    let pools = seed::Pools {
        catalog: pool(cfg, &souk_catalog::SCHEMA, 4).await?,
        inventory: pool(cfg, &souk_inventory::SCHEMA, 4).await?,
        pricing: pool(cfg, &souk_pricing::SCHEMA, 4).await?,
        vendors: pool(cfg, &souk_vendors::SCHEMA, 2).await?,
    };
    let summary = seed::run(&pools).await?;
    if !demo_accounts {
        return Ok(summary);
    }
    let vendor = souk_vendors::store::list(&pools.vendors)
        .await?
        .into_iter()
        .find(|v| v.slug == "northwind-goods")
        .map(|v| v.id);
    let auth = domains::auth_service(cfg, pool(cfg, &souk_auth::SCHEMA, 2).await?).await?;
    let meta = souk_auth::Meta::system(DEMO_SEED_ACTOR);
    for (email, roles) in DEMO_ACCOUNTS {
        let vendor_id = roles
            .contains(&Role::VendorAdmin)
            .then_some(vendor)
            .flatten();
        let user = match auth
            .create_user(&meta, email, DEMO_PASSWORD, roles, vendor_id)
            .await
        {
            Ok(u) => {
                tracing::info!(email, user_id = %u.id, "demo account created");
                u
            }
            Err(souk_auth::service::Error::EmailTaken) => auth
                .user_by_email(email)
                .await?
                .ok_or_else(|| anyhow::anyhow!("demo account {email} vanished"))?,
            Err(e) => return Err(e.into()),
        };
        // The demo operator signs in with the demo authenticator.
        if roles.iter().any(|r| r.is_operator()) && !user.mfa_enabled {
            let secret = souk_auth::mfa::from_base32(DEMO_TOTP_SECRET)
                .ok_or_else(|| anyhow::anyhow!("bad demo TOTP secret"))?;
            auth.provision_totp(&meta, user.id, &secret).await?;
        }
    }
    Ok(summary)
}
