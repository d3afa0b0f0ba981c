//! Starting a domain: its database pool (as its own role), its gRPC service with health, its
//! Temporal activity worker on `souk.<domain>`, and its background jobs.

use std::time::Duration;

use secrecy::ExposeSecret;
use souk_activities::cart::service::{CartService, Clients};
use souk_activities::cart::store::CartStore;
use souk_activities::db::{self, Schema};
use std::sync::Arc;

use souk_activities::notifications::mailer::{Mailer, Security, SmtpMailer, SmtpSettings};
use souk_activities::payments::Payments;
use souk_activities::payments::provider::PaymentProvider;
use souk_activities::payments::sandbox::Sandbox;
use souk_activities::payments::stripe::Stripe;
use souk_activities::payments::webhook::CheckoutSignals;
use souk_activities::{auth, cart, catalog, inventory, notifications, orders, payments, pricing};
use souk_contracts::payments::signals::{PAYMENT_CONFIRMED, PAYMENT_FAILED, PaymentUpdate};
use souk_contracts::queues::Domain;
use souk_domain::{CountryCode, Currency};
use souk_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use souk_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use souk_proto::pricing::v1::pricing_service_client::PricingServiceClient;
use souk_workflows::CheckoutWorkflow;
use sqlx::PgPool;
use temporalio_sdk::WorkerOptions;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint, Server};
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

fn schema(d: Domain) -> Schema {
    match d {
        Domain::Catalog => Schema::Catalog,
        Domain::Inventory => Schema::Inventory,
        Domain::Pricing => Schema::Pricing,
        Domain::Cart => Schema::Cart,
        Domain::Orders => Schema::Orders,
        Domain::Payments => Schema::Payments,
        Domain::Notifications => Schema::Notifications,
        Domain::Auth => Schema::Auth,
        Domain::Users => Schema::Users,
    }
}

/// The payment providers this deployment enables (the sandbox only where configuration
/// enables it; Stripe when a secret key is set), and which one takes each payment method type.
pub fn payments(cfg: &Config, pool: PgPool) -> anyhow::Result<Payments> {
    let mut providers: Vec<Arc<dyn PaymentProvider>> = Vec::new();
    if cfg.payments.sandbox_enabled {
        providers.push(Arc::new(Sandbox::new(pool.clone())));
    }
    let key = cfg.payments.stripe_secret_key.expose_secret();
    if !key.is_empty() {
        providers.push(Arc::new(Stripe::new(key, &cfg.payments.stripe_api_base)?));
    }
    Ok(Payments::new(
        pool,
        providers,
        cfg.payments.providers.clone().into_iter().collect(),
    )?)
}

fn mailer(cfg: &Config) -> anyhow::Result<Arc<dyn Mailer>> {
    let s = &cfg.smtp;
    let security = match s.security.as_str() {
        "none" => Security::None,
        "starttls" => Security::StartTls,
        "tls" => Security::Tls,
        other => anyhow::bail!("smtp.security must be none, starttls or tls, not `{other}`"),
    };
    let password = s.password.expose_secret();
    Ok(Arc::new(SmtpMailer::new(&SmtpSettings {
        host: s.host.clone(),
        port: s.port,
        security,
        username: (!s.username.is_empty()).then(|| s.username.clone()),
        password: (!password.is_empty()).then(|| password.to_string()),
        from: s.from.clone(),
    })?))
}

/// Signals checkouts through Temporal (for the payments domain's webhooks).
struct TemporalSignals {
    temporal: Arc<souk_api::state::Temporal>,
}

#[tonic::async_trait]
impl CheckoutSignals for TemporalSignals {
    async fn signal(
        &self,
        workflow_id: &str,
        signal: &str,
        update: PaymentUpdate,
    ) -> anyhow::Result<()> {
        let client = self
            .temporal
            .client()
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let handle = client.get_workflow_handle::<CheckoutWorkflow>(workflow_id);
        let opts = temporalio_client::WorkflowSignalOptions::default();
        match signal {
            PAYMENT_CONFIRMED => {
                handle
                    .signal(CheckoutWorkflow::payment_confirmed, update, opts)
                    .await?
            }
            PAYMENT_FAILED => {
                handle
                    .signal(CheckoutWorkflow::payment_failed, update, opts)
                    .await?
            }
            other => anyhow::bail!("unknown checkout signal {other}"),
        }
        Ok(())
    }
}

/// A pool connected as the domain's own role.
pub async fn pool(cfg: &Config, s: Schema, max: u32) -> anyhow::Result<PgPool> {
    let admin = db::parse_url(cfg.database.url.expose_secret())?;
    let opts = s.connect_options(&admin, cfg.database.role_password.expose_secret());
    Ok(db::connect(
        opts,
        max,
        Duration::from_millis(cfg.database.acquire_timeout_ms),
    )
    .await?)
}

fn channel(url: &str, cfg: &Config) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_millis(cfg.api.service_timeout_ms))
        .tcp_nodelay(true)
        .connect_lazy())
}

async fn cart_service(cfg: &Config) -> anyhow::Result<CartService> {
    let redis = redis::Client::open(cfg.redis.url.expose_secret())?;
    let manager = redis::aio::ConnectionManager::new(redis).await?;
    let store = CartStore::new(manager, cfg.redis.key_prefix.clone(), cfg.cart.ttl_seconds);
    let clients = Clients {
        catalog: CatalogServiceClient::new(channel(&cfg.services.catalog.url, cfg)?),
        pricing: PricingServiceClient::new(channel(&cfg.services.pricing.url, cfg)?),
        inventory: InventoryServiceClient::new(channel(&cfg.services.inventory.url, cfg)?),
    };
    Ok(CartService::new(
        store,
        clients,
        pool(cfg, Schema::Cart, cfg.database.max_connections).await?,
        Currency::parse(&cfg.cart.default_currency)?,
        CountryCode::parse(&cfg.cart.default_country)?,
    ))
}

/// The auth domain's service; makes sure a signing key exists.
pub async fn auth_service(cfg: &Config, pool: PgPool) -> anyhow::Result<auth::AuthService> {
    let a = &cfg.auth;
    if cfg.profile == crate::config::Profile::Production {
        anyhow::ensure!(
            !auth::service::demo_accounts_present(&pool).await?,
            "the production profile refuses a database with the demo accounts (their password and authenticator are published): remove them first"
        );
    }
    let keys = auth::keys::Keys::new(
        pool.clone(),
        auth::crypto::Sealer::new(a.key_encryption_key.expose_secret()),
    );
    keys.ensure().await?;
    let hasher = auth::password::Hasher::new(auth::password::Cost {
        memory_kib: a.argon2_memory_kib,
        iterations: a.argon2_iterations,
        parallelism: a.argon2_parallelism,
    })?;
    let settings = auth::Settings {
        issuer: a.issuer.clone(),
        audience: a.audience.clone(),
        access_ttl: chrono::Duration::seconds(a.access_ttl_seconds),
        refresh_ttl: chrono::Duration::seconds(a.refresh_ttl_seconds),
        lockout_threshold: a.lockout_threshold.max(1),
        lockout_address_threshold: a.lockout_address_threshold.max(a.lockout_threshold.max(1)),
        lockout_window: chrono::Duration::seconds(a.lockout_window_seconds),
        lockout_duration: chrono::Duration::seconds(a.lockout_duration_seconds),
        reset_ttl: chrono::Duration::seconds(a.password_reset_ttl_seconds),
        reset_link: a.password_reset_link.clone(),
        unlock_link: a.unlock_link.clone(),
    };
    let notifier = Arc::new(auth::notify::NotificationsRpc::new(channel(
        &cfg.services.notifications.url,
        cfg,
    )?));
    // Connected on first use: tools that never revoke anything need no Redis.
    let redis = redis::aio::ConnectionManager::new_lazy_with_config(
        redis::Client::open(cfg.redis.url.expose_secret())?,
        redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2))),
    )?;
    let revocations = Arc::new(auth::revocation::RedisRevocations::new(
        redis,
        cfg.redis.key_prefix.clone(),
        Duration::from_secs(a.access_ttl_seconds.max(0) as u64),
    ));
    Ok(auth::AuthService::new(
        pool,
        settings,
        keys,
        hasher,
        notifier,
        revocations,
    ))
}

/// Registers the domain's activities; runs on the worker's thread.
fn activity_setup(domain: Domain, cfg: Config) -> Setup {
    Box::new(move |queue: String| {
        Box::pin(async move {
            let opts = WorkerOptions::new(queue);
            let max = (cfg.database.max_connections / 2).max(2);
            let opts = match domain {
                Domain::Catalog => {
                    opts.register_activities(catalog::activities::CatalogActivities {
                        pool: pool(&cfg, Schema::Catalog, max).await?,
                    })
                }
                Domain::Inventory => {
                    opts.register_activities(inventory::activities::InventoryActivities {
                        pool: pool(&cfg, Schema::Inventory, max).await?,
                    })
                }
                Domain::Pricing => {
                    opts.register_activities(pricing::activities::PricingActivities {
                        pool: pool(&cfg, Schema::Pricing, max).await?,
                    })
                }
                Domain::Cart => opts.register_activities(cart::activities::CartActivities {
                    service: cart_service(&cfg).await?,
                }),
                Domain::Orders => opts.register_activities(orders::activities::OrderActivities {
                    pool: pool(&cfg, Schema::Orders, max).await?,
                }),
                Domain::Payments => {
                    opts.register_activities(payments::activities::PaymentActivities {
                        payments: self::payments(&cfg, pool(&cfg, Schema::Payments, max).await?)?,
                    })
                }
                Domain::Notifications => {
                    opts.register_activities(notifications::activities::NotificationActivities {
                        pool: pool(&cfg, Schema::Notifications, max).await?,
                        mailer: mailer(&cfg)?,
                    })
                }
                Domain::Auth | Domain::Users => {
                    anyhow::bail!("the {} domain has no activities", domain.name())
                }
            };
            Ok(opts.build())
        })
    })
}

/// The domain's step service, for workflows that run its steps as local activities.
fn step(
    handler: Arc<dyn souk_activities::steps::StepHandler>,
) -> souk_proto::steps::v1::step_service_server::StepServiceServer<souk_activities::steps::Steps> {
    souk_activities::steps::Steps::new(handler).into_server()
}

/// Keeps the domain's gRPC health in step with its database (and Redis for the cart), so
/// `/readyz` and load balancers see what is really reachable.
async fn watch_health(
    reporter: HealthReporter,
    pool: PgPool,
    cart: Option<CartService>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let pg = tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query("SELECT 1").execute(&pool),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        let status = |ok: bool| {
            if ok {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            }
        };
        reporter.set_service_status("postgres", status(pg)).await;
        let mut all = pg;
        if let Some(c) = &cart {
            let r = tokio::time::timeout(Duration::from_secs(2), c.store().ping())
                .await
                .is_ok_and(|r| r.is_ok());
            reporter.set_service_status("redis", status(r)).await;
            all &= r;
        }
        reporter.set_service_status("", status(all)).await;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Starts `domain` serving gRPC on `listener` and polling its task queue.
pub async fn start(
    domain: Domain,
    cfg: &Config,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Running> {
    let pool = pool(cfg, schema(domain), cfg.database.max_connections).await?;
    let (reporter, health) = tonic_health::server::health_reporter();
    let mut background = Vec::new();
    let mut cart_for_health = None;
    let name = domain.name();
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
        .add_service(health);
    let router = match domain {
        Domain::Catalog => {
            router.add_service(catalog::grpc::Catalog::new(pool.clone()).into_server())
        }
        Domain::Inventory => {
            let sweep_pool = pool.clone();
            let every = Duration::from_secs(cfg.inventory.sweep_interval_seconds.max(1));
            let mut stop = shutdown.clone();
            background.push(tokio::spawn(async move {
                loop {
                    match inventory::store::release_expired(&sweep_pool, 500).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(released = n, "expired reservations released"),
                        Err(e) => tracing::warn!(error = %e, "reservation sweep failed"),
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = stop.changed() => return,
                    }
                }
            }));
            router
                .add_service(inventory::grpc::Inventory::new(pool.clone()).into_server())
                .add_service(step(Arc::new(inventory::activities::InventoryActivities {
                    pool: pool.clone(),
                })))
        }
        Domain::Pricing => router
            .add_service(pricing::grpc::Pricing::new(pool.clone()).into_server())
            .add_service(step(Arc::new(pricing::activities::PricingActivities {
                pool: pool.clone(),
            }))),
        Domain::Cart => {
            let service = cart_service(cfg).await?;
            cart_for_health = Some(service.clone());
            router
                .add_service(cart::grpc::Cart::new(service.clone()).into_server())
                .add_service(step(Arc::new(cart::activities::CartActivities { service })))
        }
        Domain::Orders => router
            .add_service(orders::grpc::Orders::new(pool.clone()).into_server())
            .add_service(step(Arc::new(orders::activities::OrderActivities {
                pool: pool.clone(),
            }))),
        Domain::Payments => {
            let temporal = Arc::new(souk_api::state::Temporal::new(
                cfg.temporal.address.clone(),
                cfg.temporal.namespace.clone(),
                cfg.temporal.codec()?,
            ));
            let webhook_secret = cfg
                .payments
                .stripe_webhook_secret
                .expose_secret()
                .to_string();
            router.add_service(
                payments::grpc::PaymentsRpc::new(
                    payments(cfg, pool.clone())?,
                    Arc::new(TemporalSignals { temporal }),
                    Some(webhook_secret),
                )
                .into_server(),
            )
        }
        Domain::Notifications => router.add_service(
            notifications::grpc::Notifications::new(pool.clone(), mailer(cfg)?).into_server(),
        ),
        Domain::Auth => {
            let service = auth_service(cfg, pool.clone()).await?;
            // The revocations that still matter, written to Redis again now and then: Redis
            // may have lost them, or been away when they were made.
            let every = Duration::from_secs(cfg.auth.republish_seconds.max(1));
            let (republisher, mut stop) = (service.clone(), shutdown.clone());
            background.push(tokio::spawn(async move {
                loop {
                    match auth::revocation::republish(
                        republisher.pool(),
                        republisher.revocations(),
                        republisher.settings().access_ttl,
                    )
                    .await
                    {
                        Ok(n) => tracing::debug!(revocations = n, "live revocations published"),
                        Err(e) => tracing::warn!(
                            error = format!("{e:#}"),
                            "live revocations not published; retrying"
                        ),
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = stop.changed() => return,
                    }
                }
            }));
            router.add_service(auth::grpc::Auth::new(service).into_server())
        }
        Domain::Users => {
            router.add_service(souk_activities::users::grpc::Users::new(pool.clone()).into_server())
        }
    };
    background.push(tokio::spawn(watch_health(
        reporter,
        pool,
        cart_for_health,
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
    tracing::info!(domain = domain.name(), %addr, "gRPC service listening");
    let temporal = if domain.has_activities() {
        Some(temporal::spawn_worker(
            domain.name(),
            cfg.temporal.clone(),
            domain.queue(&cfg.temporal.task_queue_prefix),
            activity_setup(domain, cfg.clone()),
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
