//! E-mail delivery over SMTP (lettre). Plain SMTP for local catchers, STARTTLS or TLS for
//! real relays.

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// A message ready to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// Deterministic per message, so a duplicate (if any) is recognisable.
    pub message_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The server refused for good (bad address, 5xx): do not retry.
    #[error("mail refused: {0}")]
    Permanent(String),
    /// Try again later (connection, 4xx).
    #[error("mail not sent yet: {0}")]
    Transient(String),
}

/// Where mail goes. Behind a trait so tests and other transports can stand in.
#[tonic::async_trait]
pub trait Mailer: Send + Sync {
    /// Sends and returns the server's reference for the message.
    async fn send(&self, mail: &Mail) -> Result<String, MailError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    None,
    StartTls,
    Tls,
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `Souk <orders@example.com>`
    pub from: String,
}

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(s: &SmtpSettings) -> anyhow::Result<Self> {
        let builder = match s.security {
            Security::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
            Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)?,
            Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)?,
        };
        let mut builder = builder
            .port(s.port)
            .timeout(Some(std::time::Duration::from_secs(10)));
        if let (Some(u), Some(p)) = (&s.username, &s.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from: s.from.parse()?,
        })
    }
}

#[tonic::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<String, MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| MailError::Permanent(format!("bad recipient {}: {e}", mail.to)))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .message_id(Some(mail.message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| MailError::Permanent(e.to_string()))?;
        match self.transport.send(message).await {
            Ok(response) => Ok(response
                .message()
                .next()
                .map(str::to_string)
                .unwrap_or_else(|| mail.message_id.clone())),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(e.to_string())),
            Err(e) => Err(MailError::Transient(e.to_string())),
        }
    }
}
