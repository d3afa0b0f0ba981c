//! The notifications domain as the workers start it, with its SMTP mailer.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use souk_kit::db::Schema;
use souk_kit::domain::{self, Domain, Env, Served};
use sqlx::PgPool;
use temporalio_sdk::WorkerOptions;

use crate::activities::NotificationActivities;
use crate::grpc::Notifications;
use crate::mailer::{Mailer, Security, SmtpMailer, SmtpSettings};

/// `[smtp]`
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    pub security: String,
    pub username: String,
    pub password: SecretString,
    pub from: String,
}

impl Settings {
    pub fn mailer(&self) -> anyhow::Result<Arc<dyn Mailer>> {
        let security = match self.security.as_str() {
            "none" => Security::None,
            "starttls" => Security::StartTls,
            "tls" => Security::Tls,
            other => anyhow::bail!("smtp.security must be none, starttls or tls, not `{other}`"),
        };
        let password = self.password.expose_secret();
        Ok(Arc::new(SmtpMailer::new(&SmtpSettings {
            host: self.host.clone(),
            port: self.port,
            security,
            username: (!self.username.is_empty()).then(|| self.username.clone()),
            password: (!password.is_empty()).then(|| password.to_string()),
            from: self.from.clone(),
        })?))
    }
}

pub struct NotificationsDomain;

#[tonic::async_trait]
impl Domain for NotificationsDomain {
    fn schema(&self) -> &'static Schema {
        &crate::SCHEMA
    }

    /// `[smtp]` must be readable: every command checks it at start.
    fn problems(&self, settings: &domain::Settings) -> anyhow::Result<Vec<String>> {
        settings.section::<Settings>("smtp")?;
        Ok(Vec::new())
    }

    async fn serve(&self, env: &Env, pool: PgPool) -> anyhow::Result<Served> {
        let s: Settings = env.settings.section("smtp")?;
        let mut served = Served::default();
        served
            .routes
            .add_service(Notifications::new(pool, s.mailer()?).into_server());
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
        let s: Settings = env.settings.section("smtp")?;
        options.register_activities(NotificationActivities {
            pool,
            mailer: s.mailer()?,
        });
        Ok(())
    }
}
