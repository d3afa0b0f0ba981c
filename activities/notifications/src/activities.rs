//! Notification activities, run by the notifications worker on `souk.notifications`.

use std::collections::BTreeMap;
use std::sync::Arc;

use souk_contracts::failures;
use souk_contracts::notifications::{
    MessageRef, SendConfirmation, SendMail, SendMessage, SendOrderConfirmation,
};
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use super::mailer::Mailer;
use super::store::{self, Error};
use souk_kit::failure::{business, ctx_of, transient};

pub struct NotificationActivities {
    pub pool: PgPool,
    pub mailer: Arc<dyn Mailer>,
}

#[activities]
impl NotificationActivities {
    #[activity(definition = SendConfirmation)]
    pub async fn send_order_confirmation(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SendOrderConfirmation,
    ) -> Result<MessageRef, ActivityError> {
        let lines = input
            .lines
            .iter()
            .map(|l| format!("  {} × {}  {}", l.quantity, l.title, l.line_total))
            .collect::<Vec<_>>()
            .join("\n");
        let a = &input.shipping_address;
        let address = [
            Some(a.name.clone()),
            Some(a.line1.clone()),
            a.line2.clone(),
            Some(format!("{} {}", a.postal_code, a.city)),
            Some(a.country.to_string()),
        ]
        .into_iter()
        .flatten()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n");
        let vars: BTreeMap<&str, String> = BTreeMap::from([
            ("order_no", input.order_no.clone()),
            ("lines", lines),
            ("subtotal", input.subtotal.to_string()),
            ("discount", input.discount.to_string()),
            ("tax", input.tax.to_string()),
            ("shipping", input.shipping.to_string()),
            ("total", input.total.to_string()),
            ("shipping_address", address),
        ]);
        let sent = store::send_once(
            &self.pool,
            self.mailer.as_ref(),
            &ctx_of(&ctx),
            &input.idempotency_key,
            &input.to,
            "order_confirmation",
            &vars,
        )
        .await
        .map_err(|e| failed(e, "order_confirmation"))?;
        tracing::info!(order_no = %input.order_no, newly_sent = sent.newly_sent, "order confirmation");
        Ok(message_ref(sent))
    }

    #[activity(definition = SendMail)]
    pub async fn send(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SendMessage,
    ) -> Result<MessageRef, ActivityError> {
        let vars: BTreeMap<&str, String> = input
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let sent = store::send_once(
            &self.pool,
            self.mailer.as_ref(),
            &ctx_of(&ctx),
            &input.idempotency_key,
            &input.to,
            &input.template,
            &vars,
        )
        .await
        .map_err(|e| failed(e, &input.template))?;
        tracing::info!(template = %input.template, key = %input.idempotency_key, newly_sent = sent.newly_sent, "message");
        Ok(message_ref(sent))
    }
}

fn message_ref(sent: store::Sent) -> MessageRef {
    MessageRef {
        message_id: sent.message_id,
        status: sent.status,
        provider_message_id: sent.provider_message_id,
        newly_sent: sent.newly_sent,
    }
}

fn failed(e: Error, template: &str) -> ActivityError {
    match e {
        // The server's words often quote the address: they go to the log, not into the
        // workflow's history.
        Error::Refused(reply) => {
            tracing::warn!(template, reply = %reply, "message refused by the mail server");
            business(
                failures::INVALID_RECIPIENT,
                "the mail server refused the recipient",
            )
        }
        Error::UnknownTemplate(_) => business(failures::INVALID_INPUT, e),
        other => transient(anyhow::anyhow!("{other}")),
    }
    .into_activity()
}
