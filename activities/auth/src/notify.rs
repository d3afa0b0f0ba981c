//! How the auth domain reaches people: password reset mail, through the notifications
//! domain (which sends each message once per key).

use souk_proto::notifications::v1 as pb;
use souk_proto::notifications::v1::notification_service_client::NotificationServiceClient;
use tonic::transport::Channel;

use souk_kit::Ctx;

/// A password reset message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetMail {
    /// Sends at most once per key.
    pub key: String,
    pub to: String,
    pub token: String,
    pub link: String,
    pub expires_minutes: i64,
}

/// Another message about an account: a welcome, a sign-up with an address that has an
/// account, a lockout with its unlock link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountMail {
    /// Sends at most once per key.
    pub key: String,
    pub to: String,
    /// `welcome`, `account_exists`, `account_locked`.
    pub template: &'static str,
    pub vars: Vec<(String, String)>,
    /// Rendered into the mail sent, never stored (an unlock token).
    pub secrets: Vec<(String, String)>,
}

#[tonic::async_trait]
pub trait Notifier: Send + Sync {
    async fn password_reset(&self, ctx: &Ctx, mail: &ResetMail) -> anyhow::Result<()>;
    async fn account_mail(&self, ctx: &Ctx, mail: &AccountMail) -> anyhow::Result<()>;
}

/// The notifications domain's gRPC service.
#[derive(Clone)]
pub struct NotificationsRpc {
    client: NotificationServiceClient<Channel>,
}

impl NotificationsRpc {
    pub fn new(channel: Channel) -> Self {
        Self {
            client: NotificationServiceClient::new(channel),
        }
    }
}

#[tonic::async_trait]
impl Notifier for NotificationsRpc {
    async fn password_reset(&self, ctx: &Ctx, mail: &ResetMail) -> anyhow::Result<()> {
        let req = souk_kit::grpc::request(
            pb::SendRequest {
                idempotency_key: mail.key.clone(),
                to: mail.to.clone(),
                template: "password_reset".into(),
                vars: [(
                    "expires_minutes".to_string(),
                    mail.expires_minutes.to_string(),
                )]
                .into_iter()
                .collect(),
                // Whoever reads the notifications log must not be able to reset the account.
                secret_vars: [
                    ("token".to_string(), mail.token.clone()),
                    ("reset_link".to_string(), mail.link.clone()),
                ]
                .into_iter()
                .collect(),
            },
            ctx,
        );
        self.client.clone().send(req).await?;
        Ok(())
    }

    async fn account_mail(&self, ctx: &Ctx, mail: &AccountMail) -> anyhow::Result<()> {
        let req = souk_kit::grpc::request(
            pb::SendRequest {
                idempotency_key: mail.key.clone(),
                to: mail.to.clone(),
                template: mail.template.into(),
                vars: mail.vars.iter().cloned().collect(),
                secret_vars: mail.secrets.iter().cloned().collect(),
            },
            ctx,
        );
        self.client.clone().send(req).await?;
        Ok(())
    }
}
