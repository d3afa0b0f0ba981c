//! Payment operations over a provider, recorded in the payments schema.

use std::collections::BTreeMap;
use std::sync::Arc;

use souk_contracts::payments::{AuthorizationStatus, PaymentAuthorized};
use souk_domain::{Currency, Money};
use sqlx::PgPool;
use uuid::Uuid;

use super::provider::{Authorization, AuthorizeRequest, PaymentProvider, ProviderError};
use souk_contracts::failures;
use souk_kit::error::{Described, Kind};
use souk_kit::{Ctx, outbox};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{code}: {message}")]
    Declined { code: String, message: String },
    #[error("payment provider `{0}` is not configured")]
    UnknownProvider(String),
    #[error("no payment for {0}")]
    NotFound(String),
    #[error("{0}")]
    Rejected(String),
    #[error(transparent)]
    Provider(ProviderError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Described for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::Declined { .. } | Error::Rejected(_) => Kind::Conflict,
            Error::Provider(ProviderError::Rejected { .. }) => Kind::Conflict,
            Error::NotFound(_) => Kind::NotFound,
            Error::Provider(_) => Kind::Unavailable,
            Error::UnknownProvider(_) | Error::Db(_) => Kind::Internal,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Error::Declined { .. } => "card_declined",
            Error::Rejected(_) | Error::Provider(ProviderError::Rejected { .. }) => {
                "payment_rejected"
            }
            Error::NotFound(_) => "payment_not_found",
            Error::Provider(_) => "provider_unavailable",
            Error::UnknownProvider(_) | Error::Db(_) => "internal",
        }
    }

    fn failure_type(&self) -> Option<&'static str> {
        match self {
            Error::Declined { .. } => Some(failures::CARD_DECLINED),
            Error::Rejected(_)
            | Error::UnknownProvider(_)
            | Error::NotFound(_)
            | Error::Provider(ProviderError::Rejected { .. }) => Some(failures::PAYMENT_FAILED),
            Error::Provider(_) | Error::Db(_) => None,
        }
    }

    fn database(&self) -> Option<&sqlx::Error> {
        match self {
            Error::Db(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ProviderError> for Error {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Rejected { code, message } => {
                Error::Rejected(format!("{code}: {message}"))
            }
            other => Error::Provider(other),
        }
    }
}

/// A payment as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    pub id: Uuid,
    pub checkout_id: String,
    pub attempt: i32,
    pub provider: String,
    pub provider_payment_id: Option<String>,
    pub status: String,
    pub currency: String,
    pub amount: i64,
    pub captured_amount: i64,
    pub refunded_amount: i64,
    pub decline_code: Option<String>,
}

/// The kinds of payment method a checkout can pay with. Which provider takes each kind is
/// the server's configuration, never the client's choice.
pub const METHOD_TYPES: [&str; 1] = ["card"];

/// The kind of a payment method id. Every method Souk takes today is a card, named by a
/// provider payment method id (`pm_...`); new kinds are told apart here.
pub fn method_type(_payment_method: &str) -> &'static str {
    "card"
}

/// The configured providers, and which one takes each payment method type.
#[derive(Clone)]
pub struct Payments {
    pool: PgPool,
    providers: Vec<Arc<dyn PaymentProvider>>,
    routes: BTreeMap<String, String>,
}

fn key(checkout_id: &str, op: &str, attempt: u32) -> String {
    format!("{checkout_id}:{op}:{attempt}")
}

/// A routing that names a provider that is not configured, or leaves a method type without one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RoutingError(String);

impl Payments {
    /// `routes` maps each payment method type (`card`) to the name of one of `providers`.
    pub fn new(
        pool: PgPool,
        providers: Vec<Arc<dyn PaymentProvider>>,
        routes: BTreeMap<String, String>,
    ) -> Result<Self, RoutingError> {
        for t in METHOD_TYPES {
            let Some(name) = routes.get(t) else {
                return Err(RoutingError(format!(
                    "no payment provider is configured for {t} payments (payments.providers.{t})"
                )));
            };
            if !providers.iter().any(|p| p.name() == name) {
                return Err(RoutingError(format!(
                    "payments.providers.{t} is `{name}`, which is not enabled (stripe needs a secret key; the sandbox needs payments.sandbox_enabled)"
                )));
            }
        }
        if let Some(t) = routes.keys().find(|t| !METHOD_TYPES.contains(&t.as_str())) {
            return Err(RoutingError(format!(
                "payments.providers.{t}: unknown payment method type (known: {})",
                METHOD_TYPES.join(", ")
            )));
        }
        Ok(Self {
            pool,
            providers,
            routes,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The provider that takes payments of `method_type`.
    pub fn provider_for(&self, method_type: &str) -> Result<&Arc<dyn PaymentProvider>, Error> {
        let name = self
            .routes
            .get(method_type)
            .ok_or_else(|| Error::UnknownProvider(method_type.to_string()))?;
        self.provider(name)
    }

    /// Whether a provider of this name is configured here.
    pub fn has_provider(&self, name: &str) -> bool {
        self.providers.iter().any(|p| p.name() == name)
    }

    fn provider(&self, name: &str) -> Result<&Arc<dyn PaymentProvider>, Error> {
        self.providers
            .iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| Error::UnknownProvider(name.to_string()))
    }

    pub async fn get(&self, checkout_id: &str, attempt: u32) -> Result<Option<PaymentRow>, Error> {
        Ok(sqlx::query_as!(
            PaymentRow,
            r#"SELECT id, checkout_id, attempt, provider, provider_payment_id, status,
                      currency AS "currency: String", amount, captured_amount, refunded_amount, decline_code
               FROM payments.payments WHERE checkout_id = $1 AND attempt = $2"#,
            checkout_id,
            attempt as i32
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn require(&self, checkout_id: &str, attempt: u32) -> Result<PaymentRow, Error> {
        self.get(checkout_id, attempt)
            .await?
            .ok_or_else(|| Error::NotFound(format!("{checkout_id} attempt {attempt}")))
    }

    async fn log(
        &self,
        k: &str,
        payment_id: Uuid,
        kind: &str,
        amount: Option<i64>,
        outcome: &str,
        reference: Option<&str>,
    ) -> Result<(), Error> {
        sqlx::query!(
            r#"INSERT INTO payments.operations (idempotency_key, payment_id, kind, amount, outcome, reference)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (idempotency_key) DO UPDATE SET outcome = EXCLUDED.outcome,
                   reference = EXCLUDED.reference, updated_at = now()"#,
            k,
            payment_id,
            kind,
            amount,
            outcome,
            reference
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Authorizes the checkout attempt's amount with the provider configured for the payment
    /// method's type. A retry sends the same idempotency key and gets the provider's first
    /// answer; a retry after the configuration changed keeps the provider of the first try.
    pub async fn authorize(
        &self,
        ctx: &Ctx,
        checkout_id: &str,
        attempt: u32,
        payment_method: &str,
        amount: Money,
        customer_email: &str,
    ) -> Result<PaymentAuthorized, Error> {
        let chosen = self.provider_for(method_type(payment_method))?.clone();
        sqlx::query!(
            r#"INSERT INTO payments.payments (id, checkout_id, attempt, provider, payment_method, customer_email, currency, amount)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT ON CONSTRAINT payments_checkout_attempt_key DO NOTHING"#,
            Uuid::now_v7(),
            checkout_id,
            attempt as i32,
            chosen.name(),
            payment_method,
            customer_email,
            amount.currency.code(),
            amount.amount
        )
        .execute(&self.pool)
        .await?;
        let row = self.require(checkout_id, attempt).await?;
        let provider = self.provider(&row.provider)?.clone();
        let k = key(checkout_id, "authorize", attempt);
        let result = provider
            .authorize(&AuthorizeRequest {
                idempotency_key: k.clone(),
                amount,
                payment_method: payment_method.to_string(),
                customer_email: customer_email.to_string(),
                description: checkout_id.to_string(),
            })
            .await?;
        let (status, reference, decline) = match &result {
            Authorization::Authorized { reference, .. } => {
                ("authorized", Some(reference.clone()), None)
            }
            Authorization::RequiresAction { reference, .. } => {
                ("requires_action", Some(reference.clone()), None)
            }
            Authorization::Declined {
                reference,
                code,
                message,
            } => (
                "declined",
                reference.clone(),
                Some((code.clone(), message.clone())),
            ),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            r#"UPDATE payments.payments
               SET status = CASE WHEN status IN ('pending', 'requires_action') THEN $2 ELSE status END,
                   provider_payment_id = COALESCE(provider_payment_id, $3),
                   decline_code = $4, failure_message = $5, updated_at = now()
               WHERE id = $1"#,
            row.id,
            status,
            reference,
            decline.as_ref().map(|d| d.0.clone()),
            decline.as_ref().map(|d| d.1.clone())
        )
        .execute(&mut *tx)
        .await?;
        outbox::emit(
            &mut tx,
            &crate::SCHEMA,
            ctx,
            &format!("payments.payment_{status}"),
            serde_json::json!({
                "payment_id": row.id, "checkout_id": checkout_id, "attempt": attempt,
                "provider": provider.name(), "reference": reference, "amount": amount,
                "decline_code": decline.as_ref().map(|d| d.0.clone()),
            }),
        )
        .await?;
        tx.commit().await?;
        self.log(
            &k,
            row.id,
            "authorize",
            Some(amount.amount),
            status,
            reference.as_deref(),
        )
        .await?;
        match result {
            Authorization::Authorized {
                reference,
                fingerprint,
            } => Ok(PaymentAuthorized {
                payment_id: row.id,
                provider: provider.name().to_string(),
                reference,
                status: AuthorizationStatus::Authorized,
                fingerprint,
            }),
            Authorization::RequiresAction {
                reference,
                fingerprint,
            } => Ok(PaymentAuthorized {
                payment_id: row.id,
                provider: provider.name().to_string(),
                reference,
                status: AuthorizationStatus::RequiresAction,
                fingerprint,
            }),
            Authorization::Declined { code, message, .. } => Err(Error::Declined { code, message }),
        }
    }

    /// Captures `amount` of the authorization. Idempotent.
    pub async fn capture(
        &self,
        ctx: &Ctx,
        checkout_id: &str,
        attempt: u32,
        amount: Money,
    ) -> Result<Money, Error> {
        let row = self.require(checkout_id, attempt).await?;
        let currency =
            Currency::parse(&row.currency).map_err(|e| Error::Rejected(e.to_string()))?;
        if matches!(
            row.status.as_str(),
            "captured" | "partially_refunded" | "refunded"
        ) {
            return Ok(Money::new(row.captured_amount, currency));
        }
        if row.status != "authorized" {
            return Err(Error::Rejected(format!(
                "a {} payment cannot be captured",
                row.status
            )));
        }
        let reference = row.provider_payment_id.clone().unwrap_or_default();
        let k = key(checkout_id, "capture", attempt);
        let captured = self
            .provider(&row.provider)?
            .capture(&k, &reference, amount)
            .await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            r#"UPDATE payments.payments SET status = 'captured', captured_amount = $2, updated_at = now()
               WHERE id = $1 AND status = 'authorized'"#,
            row.id,
            captured.amount
        )
        .execute(&mut *tx)
        .await?;
        outbox::emit(
            &mut tx,
            &crate::SCHEMA,
            ctx,
            "payments.payment_captured",
            serde_json::json!({"payment_id": row.id, "checkout_id": checkout_id, "attempt": attempt, "amount": captured}),
        )
        .await?;
        tx.commit().await?;
        self.log(
            &k,
            row.id,
            "capture",
            Some(captured.amount),
            "captured",
            Some(&reference),
        )
        .await?;
        Ok(captured)
    }

    /// Releases the authorization (a compensation). Idempotent; nothing to do for a payment
    /// that was never authorized, was declined or is voided already.
    pub async fn void(&self, ctx: &Ctx, checkout_id: &str, attempt: u32) -> Result<(), Error> {
        let Some(row) = self.get(checkout_id, attempt).await? else {
            return Ok(());
        };
        match row.status.as_str() {
            "authorized" | "requires_action" => {}
            "pending" if row.provider_payment_id.is_none() => {
                // Never reached the provider; mark it so a late answer is ignored.
                sqlx::query!(
                    "UPDATE payments.payments SET status = 'voided', updated_at = now() WHERE id = $1 AND status = 'pending'",
                    row.id
                )
                .execute(&self.pool)
                .await?;
                return Ok(());
            }
            "captured" | "partially_refunded" | "refunded" => {
                return Err(Error::Rejected(
                    "a captured payment is refunded, not voided".into(),
                ));
            }
            _ => return Ok(()),
        }
        let reference = row.provider_payment_id.clone().unwrap_or_default();
        let k = key(checkout_id, "void", attempt);
        self.provider(&row.provider)?.void(&k, &reference).await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "UPDATE payments.payments SET status = 'voided', updated_at = now() WHERE id = $1",
            row.id
        )
        .execute(&mut *tx)
        .await?;
        outbox::emit(
            &mut tx,
            &crate::SCHEMA,
            ctx,
            "payments.payment_voided",
            serde_json::json!({"payment_id": row.id, "checkout_id": checkout_id, "attempt": attempt}),
        )
        .await?;
        tx.commit().await?;
        self.log(&k, row.id, "void", None, "voided", Some(&reference))
            .await?;
        Ok(())
    }

    /// Refunds `amount` of what was captured. Several refunds may be made (distinct
    /// `sequence`), never more in total than was captured. Idempotent per sequence.
    ///
    /// The refund is first claimed under the payment's row lock: the claims of every refund of
    /// the payment, pending or done, must fit in what was captured, so concurrent refunds never
    /// ask the provider for more between them. Then the provider is asked, with the refund's
    /// key; a retry after a crash or a lost answer finds its claim and asks again with the same
    /// key (and must ask for the same amount). A refusal by the provider gives back a claim
    /// made by the same call; a claim a retry finds stays, as its first request may have
    /// refunded: it is settled by a retry the provider answers, or by an operator.
    pub async fn refund(
        &self,
        ctx: &Ctx,
        checkout_id: &str,
        attempt: u32,
        amount: Money,
        sequence: u32,
        reason: &str,
    ) -> Result<(), Error> {
        let k = format!("{}:{sequence}", key(checkout_id, "refund", attempt));
        let row = self.require(checkout_id, attempt).await?;
        if amount.currency.code() != row.currency.trim() {
            return Err(Error::Rejected(format!(
                "cannot refund {} of a payment in {}",
                amount.currency.code(),
                row.currency.trim()
            )));
        }
        let mut tx = self.pool.begin().await?;
        let captured = sqlx::query_scalar!(
            "SELECT captured_amount FROM payments.payments WHERE id = $1 FOR UPDATE",
            row.id
        )
        .fetch_one(&mut *tx)
        .await?;
        let earlier = sqlx::query!(
            "SELECT status, amount FROM payments.refunds WHERE idempotency_key = $1",
            k
        )
        .fetch_optional(&mut *tx)
        .await?;
        // Whether this call made the claim: only then may a refusal take it back (an earlier
        // call with the key may have refunded already, its answer lost).
        let mut claimed_here = false;
        match earlier {
            Some(e) if e.amount != amount.amount => {
                return Err(Error::Rejected(format!(
                    "refund {k} was made for {}, not {}",
                    e.amount, amount.amount
                )));
            }
            Some(e) if e.status == "succeeded" => return Ok(()),
            Some(_) => {}
            None => {
                claimed_here = true;
                let claimed = sqlx::query_scalar!(
                    r#"SELECT COALESCE(sum(amount), 0)::bigint AS "claimed!" FROM payments.refunds WHERE payment_id = $1"#,
                    row.id
                )
                .fetch_one(&mut *tx)
                .await?;
                if amount.amount <= 0 || claimed + amount.amount > captured {
                    return Err(Error::Rejected(format!(
                        "cannot refund {} of a payment with {captured} captured and {claimed} refunded or being refunded",
                        amount.amount
                    )));
                }
                sqlx::query!(
                    r#"INSERT INTO payments.refunds (id, payment_id, idempotency_key, amount, reason, status)
                       VALUES ($1, $2, $3, $4, $5, 'pending')"#,
                    Uuid::now_v7(),
                    row.id,
                    k,
                    amount.amount,
                    reason
                )
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;

        let reference = row.provider_payment_id.clone().unwrap_or_default();
        let refund_ref = match self
            .provider(&row.provider)?
            .refund(&k, &reference, amount)
            .await
        {
            Ok(r) => r,
            Err(e @ ProviderError::Rejected { .. }) if claimed_here => {
                sqlx::query!(
                    "DELETE FROM payments.refunds WHERE idempotency_key = $1 AND status = 'pending'",
                    k
                )
                .execute(&self.pool)
                .await?;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query!(
            r#"UPDATE payments.refunds SET status = 'succeeded', reference = $2, updated_at = now()
               WHERE idempotency_key = $1 AND status = 'pending'"#,
            k,
            refund_ref
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 1 {
            sqlx::query!(
                r#"UPDATE payments.payments
                   SET refunded_amount = refunded_amount + $2,
                       status = CASE WHEN refunded_amount + $2 >= captured_amount THEN 'refunded' ELSE 'partially_refunded' END,
                       updated_at = now()
                   WHERE id = $1"#,
                row.id,
                amount.amount
            )
            .execute(&mut *tx)
            .await?;
            outbox::emit(
                &mut tx,
                &crate::SCHEMA,
                ctx,
                "payments.payment_refunded",
                serde_json::json!({
                    "payment_id": row.id, "checkout_id": checkout_id, "attempt": attempt,
                    "amount": amount, "reason": reason, "refund": refund_ref,
                }),
            )
            .await?;
        }
        tx.commit().await?;
        self.log(
            &k,
            row.id,
            "refund",
            Some(amount.amount),
            "refunded",
            Some(&refund_ref),
        )
        .await?;
        Ok(())
    }

    /// The provider confirmed a payment that needed the customer to act. Returns the checkout
    /// it belongs to, if we know it.
    pub async fn confirm(
        &self,
        ctx: &Ctx,
        provider: &str,
        reference: &str,
    ) -> Result<Option<(String, i32)>, Error> {
        // A provider that is not enabled here confirms nothing (a sandbox reference in a
        // deployment without the sandbox).
        if !self.has_provider(provider) {
            return Ok(None);
        }
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query!(
            r#"UPDATE payments.payments SET status = 'authorized', updated_at = now()
               WHERE provider = $1 AND provider_payment_id = $2 AND status = 'requires_action'
               RETURNING id, checkout_id, attempt"#,
            provider,
            reference
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(r) = &row {
            outbox::emit(
                &mut tx,
                &crate::SCHEMA,
                ctx,
                "payments.payment_authorized",
                serde_json::json!({"payment_id": r.id, "checkout_id": r.checkout_id, "attempt": r.attempt, "reference": reference}),
            )
            .await?;
        }
        tx.commit().await?;
        if row.is_some() {
            return Ok(row.map(|r| (r.checkout_id, r.attempt)));
        }
        self.checkout_of(provider, reference).await
    }

    /// The checkout a provider reference belongs to.
    pub async fn checkout_of(
        &self,
        provider: &str,
        reference: &str,
    ) -> Result<Option<(String, i32)>, Error> {
        if !self.has_provider(provider) {
            return Ok(None);
        }
        Ok(sqlx::query!(
            "SELECT checkout_id, attempt FROM payments.payments WHERE provider = $1 AND provider_payment_id = $2",
            provider,
            reference
        )
        .fetch_optional(&self.pool)
        .await?
        .map(|r| (r.checkout_id, r.attempt)))
    }

    /// Refunds of a payment: (reference, amount, created_at).
    pub async fn refunds(
        &self,
        payment_id: Uuid,
    ) -> Result<Vec<(String, i64, chrono::DateTime<chrono::Utc>)>, Error> {
        Ok(sqlx::query!(
            r#"SELECT reference AS "reference!", amount, created_at FROM payments.refunds
               WHERE payment_id = $1 AND status = 'succeeded' ORDER BY created_at"#,
            payment_id
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| (r.reference, r.amount, r.created_at))
        .collect())
    }
}
