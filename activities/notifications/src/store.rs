//! SQL for the notifications schema, and sending a message once per idempotency key.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::mailer::{Mail, MailError, Mailer};
use souk_kit::error::{Described, Kind};
use souk_kit::{Ctx, outbox};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no template `{0}`")]
    UnknownTemplate(String),
    #[error("the mail server refused the message: {0}")]
    Refused(String),
    #[error("not sent yet: {0}")]
    Retry(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A refusal's own words often quote the address: a step that fails with one records
/// [`failures::INVALID_RECIPIENT`] in a message of its own (see the activities), never these.
impl Described for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::UnknownTemplate(_) => Kind::NotFound,
            Error::Refused(_) => Kind::Conflict,
            Error::Retry(_) => Kind::Unavailable,
            Error::Db(_) => Kind::Internal,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Error::UnknownTemplate(_) => "unknown_template",
            Error::Refused(_) => "mail_refused",
            Error::Retry(_) => "not_sent_yet",
            Error::Db(_) => "internal",
        }
    }

    fn database(&self) -> Option<&sqlx::Error> {
        match self {
            Error::Db(e) => Some(e),
            _ => None,
        }
    }
}

/// How long a message may stay `sending` before another attempt assumes the first one died.
const SENDING_LEASE: Duration = Duration::seconds(60);

/// Replaces `{{name}}` with `vars[name]`; unknown names are left as they are.
pub fn render(template: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = after[..end].trim();
                match vars.get(name) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub message_id: Uuid,
    pub status: String,
    pub provider_message_id: Option<String>,
    pub newly_sent: bool,
}

/// Renders `template` with `vars` and sends it to `to`, once per `key`.
pub async fn send_once(
    pool: &PgPool,
    mailer: &dyn Mailer,
    ctx: &Ctx,
    key: &str,
    to: &str,
    template: &str,
    vars: &BTreeMap<&str, String>,
) -> Result<Sent, Error> {
    send_once_with_secrets(pool, mailer, ctx, key, to, template, vars, &BTreeMap::new()).await
}

/// What a secret reads as in the stored copy of a message.
pub const REDACTED: &str = "[redacted]";

/// Like [`send_once`], with `secrets`: values (a password reset token) that go into the mail
/// sent but never into the stored copy, which has [`REDACTED`] in their place. The mail is
/// rendered from the template when it is sent, so a retry must bring the secrets again.
#[allow(clippy::too_many_arguments)]
pub async fn send_once_with_secrets(
    pool: &PgPool,
    mailer: &dyn Mailer,
    ctx: &Ctx,
    key: &str,
    to: &str,
    template: &str,
    vars: &BTreeMap<&str, String>,
    secrets: &BTreeMap<&str, String>,
) -> Result<Sent, Error> {
    let t = sqlx::query!(
        "SELECT subject, body FROM notifications.templates WHERE key = $1",
        template
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::UnknownTemplate(template.to_string()))?;
    // Values were checked where they came in; whatever slipped through cannot break a line
    // or hide text in the mail.
    let vars: BTreeMap<&str, String> = vars
        .iter()
        .map(|(k, v)| (*k, souk_domain::text::for_mail(v)))
        .collect();
    let mut stored_vars = vars.clone();
    let mut sent_vars = vars.clone();
    for (k, v) in secrets {
        stored_vars.insert(k, REDACTED.to_string());
        sent_vars.insert(k, v.clone());
    }
    let (subject, body) = (
        render(&t.subject, &stored_vars),
        render(&t.body, &stored_vars),
    );
    sqlx::query!(
        r#"INSERT INTO notifications.messages (id, idempotency_key, recipient, template, subject, body)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT ON CONSTRAINT messages_idempotency_key DO NOTHING"#,
        Uuid::now_v7(),
        key,
        to,
        template,
        subject,
        body
    )
    .execute(pool)
    .await?;

    // Claim the message, unless it is sent or another attempt is sending it right now.
    let mut tx = pool.begin().await?;
    let m = sqlx::query!(
        r#"SELECT id, recipient, subject, body, status, provider_message_id, updated_at
           FROM notifications.messages WHERE idempotency_key = $1 FOR UPDATE"#,
        key
    )
    .fetch_one(&mut *tx)
    .await?;
    if m.status == "sent" {
        return Ok(Sent {
            message_id: m.id,
            status: m.status,
            provider_message_id: m.provider_message_id,
            newly_sent: false,
        });
    }
    if m.status == "sending" && m.updated_at > Utc::now() - SENDING_LEASE {
        return Err(Error::Retry(
            "another attempt is sending this message".into(),
        ));
    }
    sqlx::query!(
        "UPDATE notifications.messages SET status = 'sending', attempts = attempts + 1, updated_at = now() WHERE id = $1",
        m.id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    // With secrets, the mail is rendered now: the stored copy never had them.
    let mail = Mail {
        to: m.recipient.clone(),
        subject: if secrets.is_empty() {
            m.subject
        } else {
            render(&t.subject, &sent_vars)
        },
        body: if secrets.is_empty() {
            m.body
        } else {
            render(&t.body, &sent_vars)
        },
        message_id: format!("<{}@souk>", m.id),
    };
    match mailer.send(&mail).await {
        Ok(provider_id) => {
            let mut tx = pool.begin().await?;
            sqlx::query!(
                r#"UPDATE notifications.messages
                   SET status = 'sent', provider_message_id = $2, sent_at = now(), last_error = NULL, updated_at = now()
                   WHERE id = $1"#,
                m.id,
                provider_id
            )
            .execute(&mut *tx)
            .await?;
            outbox::emit(
                &mut tx,
                &crate::SCHEMA,
                ctx,
                "notifications.message_sent",
                serde_json::json!({"message_id": m.id, "template": template, "recipient": m.recipient, "key": key}),
            )
            .await?;
            tx.commit().await?;
            Ok(Sent {
                message_id: m.id,
                status: "sent".into(),
                provider_message_id: Some(provider_id),
                newly_sent: true,
            })
        }
        Err(e) => {
            let (status, err) = match e {
                MailError::Permanent(msg) => ("failed", Error::Refused(msg)),
                MailError::Transient(msg) => ("queued", Error::Retry(msg)),
            };
            sqlx::query!(
                "UPDATE notifications.messages SET status = $2, last_error = $3, updated_at = now() WHERE id = $1",
                m.id,
                status,
                err.to_string()
            )
            .execute(pool)
            .await?;
            Err(err)
        }
    }
}

/// A message by idempotency key: (status, attempts).
pub async fn message_status(pool: &PgPool, key: &str) -> Result<Option<(String, i32)>, Error> {
    Ok(sqlx::query!(
        "SELECT status, attempts FROM notifications.messages WHERE idempotency_key = $1",
        key
    )
    .fetch_optional(pool)
    .await?
    .map(|r| (r.status, r.attempts)))
}
