//! Layered settings: built-in defaults (`defaults.toml`, compiled in), then an optional file
//! named by `SOUK_CONFIG`, then environment variables `SOUK_<SECTION>__<KEY>` (for example
//! `SOUK_DATABASE__URL`, `SOUK_SERVICES__CART__URL`). Secrets are `SecretString`s and never
//! printed.

use std::net::SocketAddr;

use secrecy::SecretString;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("defaults.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub database: Database,
    pub redis: Redis,
    pub temporal: Temporal,
    pub api: Api,
    pub services: Services,
    pub cart: Cart,
    pub inventory: Inventory,
    pub checkout: Checkout,
    pub payments: Payments,
    pub smtp: Smtp,
    pub auth: Auth,
    pub rate_limit: RateLimit,
    pub log: Log,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Database {
    /// An administrative connection: provisions roles and schemas, runs migrations.
    pub url: SecretString,
    /// Password of the per-domain roles (`souk_catalog`, ...), which the domains connect as.
    pub role_password: SecretString,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Redis {
    pub url: SecretString,
    /// Prefix of every key Souk writes.
    pub key_prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Temporal {
    /// `http://host:7233`
    pub address: String,
    pub namespace: String,
    /// Prefixes every task queue, so several installations can share a namespace.
    pub task_queue_prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Api {
    pub listen: SocketAddr,
    pub default_currency: String,
    pub body_limit_bytes: usize,
    pub request_timeout_ms: u64,
    pub service_timeout_ms: u64,
    pub breaker_failures: usize,
    pub breaker_open_ms: u64,
    pub client_ip_header: String,
    /// Comma-separated origins.
    pub cors_allowed_origins: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RateLimit {
    pub enabled: bool,
    pub anonymous_per_minute: u32,
    pub user_per_minute: u32,
    pub auth_per_minute: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    /// Where the domain's gRPC service listens.
    pub listen: SocketAddr,
    /// Where clients reach it.
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Services {
    pub catalog: Service,
    pub inventory: Service,
    pub pricing: Service,
    pub cart: Service,
    pub orders: Service,
    pub payments: Service,
    pub notifications: Service,
    pub auth: Service,
    pub users: Service,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Cart {
    /// Carts untouched for this long are deleted.
    pub ttl_seconds: i64,
    pub default_currency: String,
    pub default_country: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Inventory {
    /// How often expired reservations are released.
    pub sweep_interval_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Checkout {
    pub reservation_ttl_seconds: u64,
    pub capture_delay_seconds: u64,
    pub price_tolerance_bp: i64,
    pub decision_wait_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Payments {
    /// The provider that takes each payment method type (`card`): `sandbox` or `stripe`.
    pub providers: std::collections::HashMap<String, String>,
    /// The built-in sandbox provider (no keys, no money). Production refuses it.
    pub sandbox_enabled: bool,
    pub stripe_secret_key: SecretString,
    pub stripe_api_base: String,
    pub stripe_webhook_secret: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub security: String,
    pub username: String,
    pub password: SecretString,
    pub from: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Auth {
    pub issuer: String,
    pub audience: String,
    pub access_ttl_seconds: i64,
    pub refresh_ttl_seconds: i64,
    pub lockout_threshold: i32,
    pub lockout_window_seconds: i64,
    pub lockout_duration_seconds: i64,
    /// Seals signing keys at rest.
    pub key_encryption_key: SecretString,
    pub password_reset_ttl_seconds: i64,
    pub require_operator_mfa: bool,
    pub password_reset_link: String,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Log {
    /// `pretty` for people, `json` for machines.
    pub format: String,
}

impl Config {
    pub fn load() -> anyhow::Result<Self> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Ok(path) = std::env::var("SOUK_CONFIG") {
            builder = builder.add_source(config::File::with_name(&path));
        }
        let cfg = builder
            .add_source(
                config::Environment::with_prefix("SOUK")
                    .prefix_separator("_")
                    .separator("__"),
            )
            .build()?;
        let mut cfg: Config = cfg.try_deserialize()?;
        // Stripe's conventional variables work too.
        use secrecy::ExposeSecret;
        if cfg.payments.stripe_secret_key.expose_secret().is_empty()
            && let Ok(k) = std::env::var("STRIPE_SECRET_KEY")
        {
            cfg.payments.stripe_secret_key = SecretString::from(k);
        }
        if cfg
            .payments
            .stripe_webhook_secret
            .expose_secret()
            .is_empty()
            && let Ok(k) = std::env::var("STRIPE_WEBHOOK_SECRET")
        {
            cfg.payments.stripe_webhook_secret = SecretString::from(k);
        }
        Ok(cfg)
    }

    /// The task queue of the workflow worker.
    pub fn workflow_queue(&self) -> String {
        souk_contracts::queues::workflows(&self.temporal.task_queue_prefix)
    }
}
