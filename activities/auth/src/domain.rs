//! The auth domain as the workers start it: its settings, the service (which makes sure a
//! signing key exists), and the job that publishes live revocations again.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use souk_kit::db::Schema;
use souk_kit::domain::{self, Domain, Env, Job, Served, secret_problem};
use sqlx::PgPool;

use crate::grpc::Auth;
use crate::{AuthService, crypto, keys, notify, password, revocation, service};

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
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

impl Settings {
    /// What the production profile refuses here (nothing in the others).
    pub fn problems(&self, production: bool) -> Vec<String> {
        if !production {
            return Vec::new();
        }
        let mut problems: Vec<String> = secret_problem(
            "auth.key_encryption_key",
            self.key_encryption_key.expose_secret(),
            32,
        )
        .into_iter()
        .collect();
        if !self.require_operator_mfa {
            problems.push("auth.require_operator_mfa must stay on".into());
        }
        for (name, link) in [
            ("auth.password_reset_link", &self.password_reset_link),
            ("auth.unlock_link", &self.unlock_link),
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
}

/// The auth service on `pool`; makes sure a signing key exists. The production profile
/// refuses a database holding the demo accounts.
pub async fn service(env: &Env, pool: PgPool) -> anyhow::Result<AuthService> {
    let a: Settings = env.settings.section("auth")?;
    if env.settings.production() {
        anyhow::ensure!(
            !service::demo_accounts_present(&pool).await?,
            "the production profile refuses a database with the demo accounts (their password and authenticator are published): remove them first"
        );
    }
    let keys = keys::Keys::new(
        pool.clone(),
        crypto::Sealer::new(a.key_encryption_key.expose_secret()),
    );
    keys.ensure().await?;
    let hasher = password::Hasher::new(password::Cost {
        memory_kib: a.argon2_memory_kib,
        iterations: a.argon2_iterations,
        parallelism: a.argon2_parallelism,
    })?;
    let settings = crate::Settings {
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
    let notifier = Arc::new(notify::NotificationsRpc::new(env.channel("notifications")?));
    // Connected on first use: tools that never revoke anything need no Redis.
    let redis = redis::aio::ConnectionManager::new_lazy_with_config(
        redis::Client::open(env.connections.redis_url.as_str())?,
        redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2))),
    )?;
    let revocations = Arc::new(revocation::RedisRevocations::new(
        redis,
        env.connections.redis_prefix.clone(),
        Duration::from_secs(a.access_ttl_seconds.max(0) as u64),
    ));
    Ok(AuthService::new(
        pool,
        settings,
        keys,
        hasher,
        notifier,
        revocations,
    ))
}

pub struct AuthDomain;

#[tonic::async_trait]
impl Domain for AuthDomain {
    fn schema(&self) -> &'static Schema {
        &crate::SCHEMA
    }

    fn problems(&self, settings: &domain::Settings) -> anyhow::Result<Vec<String>> {
        let s: Settings = settings.section("auth")?;
        Ok(s.problems(settings.production()))
    }

    async fn serve(&self, env: &Env, pool: PgPool) -> anyhow::Result<Served> {
        let s: Settings = env.settings.section("auth")?;
        let service = service(env, pool).await?;
        let mut served = Served::default();
        // The revocations that still matter, written to Redis again now and then: Redis may
        // have lost them, or been away when they were made.
        let republisher = service.clone();
        served.jobs.push(Job {
            name: "revocation republish",
            every: Duration::from_secs(s.republish_seconds.max(1)),
            run: Box::new(move || {
                let s = republisher.clone();
                Box::pin(async move {
                    let n =
                        revocation::republish(s.pool(), s.revocations(), s.settings().access_ttl)
                            .await?;
                    tracing::debug!(revocations = n, "live revocations published");
                    Ok(())
                })
            }),
        });
        served.routes.add_service(Auth::new(service).into_server());
        Ok(served)
    }
}
