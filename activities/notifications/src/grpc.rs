//! `souk.notifications.v1.NotificationService`, served by the notifications worker: other
//! domains send templated mail through it (the auth domain's password resets).

use std::collections::BTreeMap;
use std::sync::Arc;

use souk_proto::notifications::v1 as pb;
use souk_proto::notifications::v1::notification_service_server::{
    NotificationService, NotificationServiceServer,
};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use super::mailer::Mailer;
use super::store::{self};
use souk_kit::grpc::{ctx, invalid};

#[derive(Clone)]
pub struct Notifications {
    pool: PgPool,
    mailer: Arc<dyn Mailer>,
}

impl Notifications {
    pub fn new(pool: PgPool, mailer: Arc<dyn Mailer>) -> Self {
        Self { pool, mailer }
    }

    pub fn into_server(self) -> NotificationServiceServer<Self> {
        NotificationServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl NotificationService for Notifications {
    #[tracing::instrument(skip_all, fields(template = %req.get_ref().template))]
    async fn send(
        &self,
        req: Request<pb::SendRequest>,
    ) -> Result<Response<pb::SendResponse>, Status> {
        let ctx = ctx(&req, "system");
        let r = req.into_inner();
        if r.idempotency_key.is_empty() || r.idempotency_key.len() > 200 {
            return Err(invalid(
                "invalid_key",
                "idempotency_key is 1 to 200 characters",
            ));
        }
        if souk_domain::text::Email::parse(&r.to).is_err() {
            return Err(invalid("invalid_email", "`to` is not an e-mail address"));
        }
        let vars: BTreeMap<&str, String> = r
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let secrets: BTreeMap<&str, String> = r
            .secret_vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let sent = store::send_once_with_secrets(
            &self.pool,
            self.mailer.as_ref(),
            &ctx,
            &r.idempotency_key,
            r.to.trim(),
            &r.template,
            &vars,
            &secrets,
        )
        .await
        .map_err(|e| souk_kit::error::status(&e))?;
        Ok(Response::new(pb::SendResponse {
            message_id: sent.message_id.to_string(),
            status: sent.status,
            newly_sent: sent.newly_sent,
        }))
    }
}
