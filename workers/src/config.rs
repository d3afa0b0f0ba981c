//! Layered settings: built-in defaults (`defaults.toml`, compiled in), then an optional file
//! named by `SOUK_CONFIG`, then environment variables `SOUK_<SECTION>__<KEY>` (for example
//! `SOUK_DATABASE__URL`, `SOUK_SERVICES__CART__URL`). Secrets are `SecretString`s and never
//! printed.

use std::net::SocketAddr;

use secrecy::SecretString;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("defaults.toml");

/// Which kind of installation this is. `production` is strict about secrets and demo data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Dev,
    Test,
    Production,
}

/// Secrets that are public: this repository's defaults and examples, and the usual
/// placeholders. Production refuses every one of them.
const KNOWN_SECRETS: &[&str] = &[
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

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub profile: Profile,
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
    /// How long a call waits for a free connection before it is answered `database_busy`.
    pub acquire_timeout_ms: u64,
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
    /// Keys that encrypt what Souk stores in Temporal: `id:base64,...` (32 bytes each; the
    /// first encrypts, all decrypt).
    pub payload_keys: SecretString,
    /// The Temporal Web UI's origin (`http://host:8233`): it may call the codec endpoint from
    /// the browser. Empty: none.
    pub ui_origin: String,
}

impl Temporal {
    /// The payload codec for these keys.
    pub fn codec(&self) -> anyhow::Result<souk_contracts::codec::EncryptionCodec> {
        use secrecy::ExposeSecret;
        Ok(souk_contracts::codec::EncryptionCodec::new(
            souk_contracts::codec::PayloadKeys::parse(self.payload_keys.expose_secret())?,
        ))
    }

    /// The data converter every client and worker uses: JSON, encrypted with the keys.
    pub fn data_converter(
        &self,
    ) -> anyhow::Result<temporalio_common::data_converters::DataConverter> {
        Ok(souk_contracts::codec::data_converter(self.codec()?))
    }
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
    /// Cookies only over HTTPS (`Secure`).
    pub secure_cookies: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RateLimit {
    pub enabled: bool,
    pub anonymous_per_minute: u32,
    pub user_per_minute: u32,
    pub auth_per_minute: u32,
    pub webhook_per_minute: u32,
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
    /// How long a payment the customer must complete (3-D Secure) may take.
    pub payment_wait_seconds: u64,
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
    /// Replaced by `providers.card`; refused if set, so no configuration silently loses it.
    #[serde(default)]
    pub default_provider: Option<String>,
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
    pub lockout_address_threshold: i32,
    pub lockout_window_seconds: i64,
    pub lockout_duration_seconds: i64,
    /// Seals signing keys at rest.
    pub key_encryption_key: SecretString,
    pub password_reset_ttl_seconds: i64,
    pub require_operator_mfa: bool,
    pub password_reset_link: String,
    /// How often the auth worker writes the live revocations to Redis again.
    pub republish_seconds: u64,
    pub unlock_link: String,
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
        cfg.check_payments()?;
        cfg.check_profile()?;
        Ok(cfg)
    }

    /// In every profile: no configuration from before the routing by payment method type,
    /// and no Stripe key while cards go to the sandbox (a store that meant to take money).
    pub fn check_payments(&self) -> anyhow::Result<()> {
        use secrecy::ExposeSecret;
        anyhow::ensure!(
            self.payments.default_provider.is_none(),
            "payments.default_provider is no longer read: set payments.providers.card (SOUK_PAYMENTS__PROVIDERS__CARD) to stripe or sandbox"
        );
        let stripe_key = !self.payments.stripe_secret_key.expose_secret().is_empty();
        let card = self.payments.providers.get("card").map(String::as_str);
        anyhow::ensure!(
            !(stripe_key && card == Some("sandbox")),
            "a Stripe secret key is set but cards go to the sandbox, which takes no money: set payments.providers.card = \"stripe\" (or remove the key)"
        );
        Ok(())
    }

    /// What the production profile refuses in this configuration (nothing for the others).
    pub fn production_problems(&self) -> Vec<String> {
        use secrecy::ExposeSecret;
        if self.profile != Profile::Production {
            return vec![];
        }
        let mut problems = Vec::new();
        let mut secret = |name: &str, value: &str, min: usize| {
            if KNOWN_SECRETS.contains(&value.trim()) {
                problems.push(format!(
                    "{name} is a published default; set a secret of your own"
                ));
            } else if value.chars().count() < min {
                problems.push(format!("{name} must have at least {min} characters"));
            }
        };
        secret(
            "auth.key_encryption_key",
            self.auth.key_encryption_key.expose_secret(),
            32,
        );
        secret(
            "database.role_password",
            self.database.role_password.expose_secret(),
            16,
        );
        let payload_keys = self.temporal.payload_keys.expose_secret();
        if payload_keys.contains(
            souk_contracts::codec::DEV_KEYS
                .split_once(':')
                .map_or("", |k| k.1),
        ) {
            problems.push(
                "temporal.payload_keys holds the published development key; set keys of your own"
                    .into(),
            );
        }
        if let Some(p) = url_password(self.database.url.expose_secret())
            && KNOWN_SECRETS.contains(&p)
        {
            problems.push(
                "database.url carries a published default password; set a secret of your own"
                    .into(),
            );
        }
        if self.payments.sandbox_enabled {
            problems.push(
                "payments.sandbox_enabled: the sandbox provider takes no money; take payments with a real provider".into(),
            );
        }
        if !self.rate_limit.enabled {
            problems.push("rate_limit.enabled must stay on".into());
        }
        if let Err(e) = souk_contracts::codec::PayloadKeys::parse(payload_keys) {
            problems.push(format!("temporal.payload_keys: {e}"));
        }
        if !self.api.secure_cookies {
            problems.push("api.secure_cookies must be on (cookies only over HTTPS)".into());
        }
        if !self.auth.require_operator_mfa {
            problems.push("auth.require_operator_mfa must stay on".into());
        }
        for (name, link) in [
            ("auth.password_reset_link", &self.auth.password_reset_link),
            ("auth.unlock_link", &self.auth.unlock_link),
        ] {
            let link = link.to_ascii_lowercase();
            if link.contains("127.0.0.1") || link.contains("localhost") {
                problems.push(format!(
                    "{name} points at a development address; set your shop's page"
                ));
            }
        }
        problems
    }

    /// Refuses a production configuration with any of [`Config::production_problems`].
    pub fn check_profile(&self) -> anyhow::Result<()> {
        let problems = self.production_problems();
        anyhow::ensure!(
            problems.is_empty(),
            "the production profile refuses this configuration:\n  - {}",
            problems.join("\n  - ")
        );
        Ok(())
    }

    /// The task queue of the workflow worker.
    pub fn workflow_queue(&self) -> String {
        souk_contracts::queues::workflows(&self.temporal.task_queue_prefix)
    }
}

/// The password in a `postgres://user:password@host/...` URL.
fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    Some(userinfo.split_once(':')?.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production() -> Config {
        let mut cfg: Config = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        cfg.profile = Profile::Production;
        cfg
    }

    #[test]
    fn production_refuses_every_default_secret_the_sandbox_and_development_links() {
        let cfg = production();
        let problems = cfg.production_problems().join("\n");
        for needle in [
            "auth.key_encryption_key",
            "database.role_password",
            "database.url",
            "payments.sandbox_enabled",
            "auth.password_reset_link",
            "temporal.payload_keys",
        ] {
            assert!(problems.contains(needle), "{needle} in {problems}");
        }
        assert!(cfg.check_profile().is_err());
        // The other profiles take the defaults.
        let mut dev = production();
        dev.profile = Profile::Dev;
        assert!(dev.production_problems().is_empty());
        assert!(dev.check_profile().is_ok());
    }

    #[test]
    fn production_starts_with_its_own_secrets_and_a_real_provider() {
        let mut cfg = production();
        cfg.auth.key_encryption_key = SecretString::from("k".repeat(48));
        cfg.database.role_password = SecretString::from("a long random role password");
        cfg.database.url =
            SecretString::from("postgres://souk:3f9c1a7e2b@db.internal:5432/souk".to_string());
        cfg.payments.sandbox_enabled = false;
        cfg.api.secure_cookies = true;
        cfg.temporal.payload_keys = SecretString::from(format!(
            "k1:{}",
            "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
        ));
        cfg.auth.password_reset_link = "https://shop.example.com/reset?token={token}".into();
        cfg.auth.unlock_link = "https://shop.example.com/unlock?token={token}".into();
        assert_eq!(cfg.production_problems(), Vec::<String>::new());
        // Short or placeholder secrets are refused, the operators' second factor must stay.
        cfg.auth.key_encryption_key = SecretString::from("change-me");
        cfg.database.role_password = SecretString::from("short");
        cfg.auth.require_operator_mfa = false;
        let problems = cfg.production_problems().join("\n");
        assert!(problems.contains("published default"), "{problems}");
        assert!(problems.contains("at least 16"), "{problems}");
        assert!(problems.contains("require_operator_mfa"), "{problems}");
    }

    #[test]
    fn the_password_of_a_database_url_is_found() {
        assert_eq!(url_password("postgres://souk:souk@h:5432/d"), Some("souk"));
        assert_eq!(url_password("postgres://souk@h/d"), None);
        assert_eq!(url_password("postgres://h/d"), None);
    }

    #[test]
    fn a_stripe_key_with_cards_in_the_sandbox_or_the_old_setting_is_refused_in_any_profile() {
        let mut cfg = production();
        cfg.profile = Profile::Dev;
        assert!(cfg.check_payments().is_ok());
        cfg.payments.stripe_secret_key = SecretString::from("sk_live_x");
        let e = cfg.check_payments().unwrap_err().to_string();
        assert!(e.contains("cards go to the sandbox"), "{e}");
        cfg.payments
            .providers
            .insert("card".into(), "stripe".into());
        assert!(cfg.check_payments().is_ok());
        cfg.payments.default_provider = Some("stripe".into());
        let e = cfg.check_payments().unwrap_err().to_string();
        assert!(e.contains("payments.providers.card"), "{e}");
    }
}
