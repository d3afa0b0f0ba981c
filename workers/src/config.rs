//! Layered settings: built-in defaults (`defaults.toml`, compiled in), then an optional file
//! named by `SOUK_CONFIG`, then environment variables `SOUK_<SECTION>__<KEY>` (for example
//! `SOUK_DATABASE__URL`, `SOUK_SERVICES__CART__URL`). Secrets are `SecretString`s and never
//! printed.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use secrecy::SecretString;
use serde::Deserialize;
use souk_kit::domain::{KNOWN_SECRETS, Settings, secret_problem};

const DEFAULTS: &str = include_str!("defaults.toml");

/// Which kind of installation this is. `production` is strict about secrets and demo data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Dev,
    Test,
    Production,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub profile: Profile,
    pub database: Database,
    pub redis: Redis,
    pub temporal: Temporal,
    pub api: Api,
    /// Each domain's service, by domain name: where it listens and where clients reach it.
    pub services: BTreeMap<String, Service>,
    pub checkout: Checkout,
    pub rate_limit: RateLimit,
    pub log: Log,
    /// Every setting as loaded: domains read their own sections from it (`[payments]`,
    /// `[auth]`, ...), through [`Config::settings`].
    #[serde(skip, default = "empty_tree")]
    tree: config::Value,
}

/// The sections the workers read as typed fields of [`Config`]; the rest belong to domains.
const TYPED_SECTIONS: &[&str] = &[
    "profile",
    "database",
    "redis",
    "temporal",
    "api",
    "services",
    "checkout",
    "rate_limit",
    "log",
];

fn empty_tree() -> config::Value {
    config::Value::new(None, config::ValueKind::Table(Default::default()))
}

/// What the API needs of the auth settings: how to check tokens.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenChecks {
    pub issuer: String,
    pub audience: String,
    pub require_operator_mfa: bool,
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
    /// How many workflow task polls the workflow worker keeps open at most (at least 2).
    pub workflow_task_pollers: usize,
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
pub struct Checkout {
    pub reservation_ttl_seconds: u64,
    /// How long a payment the customer must complete (3-D Secure) may take.
    pub payment_wait_seconds: u64,
    pub capture_delay_seconds: u64,
    pub price_tolerance_bp: i64,
    pub decision_wait_ms: u64,
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
        let cfg = Self::from_tree(cfg.try_deserialize()?)?;
        cfg.check()?;
        Ok(cfg)
    }

    /// The typed settings of the workers and the API, keeping the whole tree for the domains.
    pub fn from_tree(tree: config::Value) -> anyhow::Result<Self> {
        let mut cfg: Config = tree.clone().try_deserialize()?;
        cfg.tree = tree;
        Ok(cfg)
    }

    /// The settings domains read their sections from.
    pub fn settings(&self) -> Settings {
        Settings::new(self.tree.clone(), self.profile == Profile::Production)
    }

    /// Sets one domain setting (`payments.sandbox_enabled`), as a configuration file would.
    /// The workers' own sections are plain fields of [`Config`].
    pub fn set(&mut self, path: &str, value: impl Into<config::ValueKind>) {
        let section = path.split('.').next().unwrap_or_default();
        assert!(
            !TYPED_SECTIONS.contains(&section),
            "`{path}` is a field of Config: set it there"
        );
        let mut node = &mut self.tree;
        for key in path.split('.') {
            if !matches!(node.kind, config::ValueKind::Table(_)) {
                node.kind = config::ValueKind::Table(Default::default());
            }
            let config::ValueKind::Table(table) = &mut node.kind else {
                unreachable!("made a table above")
            };
            node = table.entry(key.to_string()).or_insert_with(empty_tree);
        }
        *node = config::Value::new(None, value);
    }

    /// One domain setting.
    pub fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.settings().section(path)
    }

    /// What the API checks tokens against (the auth domain's `[auth]`).
    pub fn token_checks(&self) -> anyhow::Result<TokenChecks> {
        self.get("auth")
    }

    /// The service of `domain`.
    pub fn service(&self, domain: &str) -> anyhow::Result<&Service> {
        self.services
            .get(domain)
            .ok_or_else(|| anyhow::anyhow!("no [services.{domain}] is configured"))
    }

    /// Refuses what no profile may start with, and in production what
    /// [`Config::production_problems`] lists.
    pub fn check(&self) -> anyhow::Result<()> {
        let settings = self.settings();
        let mut always = Vec::new();
        if self.temporal.workflow_task_pollers < 2 {
            always.push("temporal.workflow_task_pollers must be at least 2".to_string());
        }
        for d in crate::registry::DOMAINS {
            anyhow::ensure!(
                self.services.contains_key(d.name()),
                "no [services.{}] is configured",
                d.name()
            );
            if !settings.production() {
                always.extend(d.problems(&settings)?);
            }
        }
        anyhow::ensure!(
            always.is_empty(),
            "this configuration is refused:\n  - {}",
            always.join("\n  - ")
        );
        self.check_profile()
    }

    /// What the production profile refuses in this configuration (nothing for the others):
    /// the workers' own sections here, each domain's from the domain.
    pub fn production_problems(&self) -> anyhow::Result<Vec<String>> {
        use secrecy::ExposeSecret;
        if self.profile != Profile::Production {
            return Ok(vec![]);
        }
        let mut problems: Vec<String> = secret_problem(
            "database.role_password",
            self.database.role_password.expose_secret(),
            16,
        )
        .into_iter()
        .collect();
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
        if !self.rate_limit.enabled {
            problems.push("rate_limit.enabled must stay on".into());
        }
        if let Err(e) = souk_contracts::codec::PayloadKeys::parse(payload_keys) {
            problems.push(format!("temporal.payload_keys: {e}"));
        }
        if !self.api.secure_cookies {
            problems.push("api.secure_cookies must be on (cookies only over HTTPS)".into());
        }
        let settings = self.settings();
        for d in crate::registry::DOMAINS {
            problems.extend(d.problems(&settings)?);
        }
        Ok(problems)
    }

    /// Refuses a production configuration with any of [`Config::production_problems`].
    pub fn check_profile(&self) -> anyhow::Result<()> {
        let problems = self.production_problems()?;
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
        let tree = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        let mut cfg = Config::from_tree(tree).unwrap();
        cfg.profile = Profile::Production;
        cfg
    }

    #[test]
    fn production_refuses_every_default_secret_the_sandbox_and_development_links() {
        let cfg = production();
        let problems = cfg.production_problems().unwrap().join("\n");
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
        assert!(dev.production_problems().unwrap().is_empty());
        assert!(dev.check().is_ok());
    }

    #[test]
    fn production_starts_with_its_own_secrets_and_a_real_provider() {
        let mut cfg = production();
        cfg.set("auth.key_encryption_key", "k".repeat(48));
        cfg.database.role_password = SecretString::from("a long random role password");
        cfg.database.url =
            SecretString::from("postgres://souk:3f9c1a7e2b@db.internal:5432/souk".to_string());
        cfg.set("payments.sandbox_enabled", false);
        cfg.set(
            "shipping.easypost_api_key",
            "EZAK_a_key_of_its_own".to_string(),
        );
        cfg.set(
            "shipping.easypost_webhook_secret",
            "a webhook secret of its own".to_string(),
        );
        cfg.api.secure_cookies = true;
        cfg.temporal.payload_keys = SecretString::from(format!(
            "k1:{}",
            "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
        ));
        cfg.set(
            "auth.password_reset_link",
            "https://shop.example.com/reset?token={token}".to_string(),
        );
        cfg.set(
            "auth.unlock_link",
            "https://shop.example.com/unlock?token={token}".to_string(),
        );
        assert_eq!(cfg.production_problems().unwrap(), Vec::<String>::new());
        // Short or placeholder secrets are refused, the operators' second factor must stay.
        cfg.set("auth.key_encryption_key", "change-me".to_string());
        cfg.database.role_password = SecretString::from("short");
        cfg.set("auth.require_operator_mfa", false);
        let problems = cfg.production_problems().unwrap().join("\n");
        assert!(problems.contains("published default"), "{problems}");
        assert!(problems.contains("at least 16"), "{problems}");
        assert!(problems.contains("require_operator_mfa"), "{problems}");
    }

    #[test]
    fn the_return_policy_in_the_configuration_is_what_new_returns_run_with() {
        let mut cfg = production();
        cfg.profile = Profile::Dev;
        cfg.set("returns.restocking_fee_bps", 1_500);
        cfg.set(
            "returns.non_returnable_categories",
            vec!["gift-cards".to_string()],
        );
        assert!(cfg.check().is_ok());
        let policy = souk_returns::domain::Settings::load(&cfg.settings())
            .unwrap()
            .workflow();
        assert_eq!(policy.restocking_fee_bps, 1_500);
        assert_eq!(policy.non_returnable_categories, ["gift-cards"]);
        // More than the whole, or a category that is not a slug: refused at start.
        cfg.set("returns.restocking_fee_bps", 10_001);
        cfg.set(
            "returns.non_returnable_categories",
            vec!["Gift Cards".to_string()],
        );
        let refused = cfg.check().unwrap_err().to_string();
        assert!(refused.contains("returns.restocking_fee_bps"), "{refused}");
        assert!(
            refused.contains("`Gift Cards` is not a category slug"),
            "{refused}"
        );
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
        assert!(cfg.check().is_ok());
        cfg.set("payments.stripe_secret_key", "sk_live_x".to_string());
        let e = cfg.check().unwrap_err().to_string();
        assert!(e.contains("cards go to the sandbox"), "{e}");
        cfg.set("payments.providers.card", "stripe".to_string());
        assert!(cfg.check().is_ok());
        cfg.set("payments.default_provider", "stripe".to_string());
        let e = cfg.check().unwrap_err().to_string();
        assert!(e.contains("payments.providers.card"), "{e}");
    }

    #[test]
    fn environment_text_is_read_as_the_domain_asks() {
        let mut cfg = production();
        cfg.profile = Profile::Dev;
        // What SOUK_INVENTORY__SWEEP_INTERVAL_SECONDS=7 and SOUK_PAYMENTS__SANDBOX_ENABLED=false
        // give: text.
        cfg.set("inventory.sweep_interval_seconds", "7".to_string());
        cfg.set("payments.sandbox_enabled", "false".to_string());
        assert_eq!(
            cfg.get::<u64>("inventory.sweep_interval_seconds").unwrap(),
            7
        );
        assert!(!cfg.get::<bool>("payments.sandbox_enabled").unwrap());
        assert!(cfg.get::<u64>("inventory.nothing").is_err());
    }

    #[test]
    fn a_domain_setting_that_cannot_be_read_is_refused_by_every_command() {
        let mut cfg = production();
        cfg.profile = Profile::Dev;
        cfg.set("inventory.sweep_interval_seconds", "often".to_string());
        let e = format!("{:#}", cfg.check().unwrap_err());
        assert!(e.contains("inventory"), "{e}");
        let mut cfg = production();
        cfg.profile = Profile::Dev;
        cfg.set("smtp.port", "not a port".to_string());
        let e = format!("{:#}", cfg.check().unwrap_err());
        assert!(e.contains("smtp"), "{e}");
    }
}
