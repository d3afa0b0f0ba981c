//! The sandbox provider: a payment service kept in Postgres that answers like Stripe's test
//! mode, so the same payment method ids work here and against real Stripe test keys:
//! `pm_card_visa` authorizes, `pm_card_chargeDeclined` is declined (`generic_decline`),
//! `pm_card_chargeDeclinedInsufficientFunds` is declined (`insufficient_funds`),
//! `pm_card_authenticationRequired` needs the customer to act (confirmed by webhook).
//! Every call is idempotent by its key, like Stripe's.

use souk_domain::{Currency, Money};
use sqlx::PgPool;
use uuid::Uuid;

use super::provider::{
    Authorization, AuthorizeRequest, IntentStatus, PaymentProvider, ProviderError,
};

pub struct Sandbox {
    pool: PgPool,
}

impl Sandbox {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn db(e: sqlx::Error) -> ProviderError {
    ProviderError::Unavailable(e.to_string())
}

fn rejected(code: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::Rejected {
        code: code.into(),
        message: message.into(),
    }
}

/// What each test payment method does.
fn outcome(payment_method: &str) -> Option<(&'static str, Option<(&'static str, &'static str)>)> {
    match payment_method {
        "pm_card_visa" | "pm_card_mastercard" | "pm_card_amex" => Some(("requires_capture", None)),
        "pm_card_chargeDeclined" => Some((
            "declined",
            Some(("generic_decline", "Your card was declined.")),
        )),
        "pm_card_chargeDeclinedInsufficientFunds" => Some((
            "declined",
            Some(("insufficient_funds", "Your card has insufficient funds.")),
        )),
        "pm_card_authenticationRequired" => Some(("requires_action", None)),
        _ => None,
    }
}

/// The card's fingerprint: like Stripe's, the same for every use of the same card (here, the
/// same test payment method).
fn fingerprint(payment_method: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, payment_method.as_bytes());
    let hex: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sbfp_{hex}")
}

/// A reply to a call, stored per idempotency key so a repeated call answers the same.
async fn replay(
    conn: &mut sqlx::PgConnection,
    key: &str,
) -> Result<Option<serde_json::Value>, ProviderError> {
    sqlx::query_scalar!(
        "SELECT reply FROM payments.sandbox_calls WHERE idempotency_key = $1",
        key
    )
    .fetch_optional(conn)
    .await
    .map_err(db)
}

/// Writes a request into the sandbox's own log.
async fn log(
    conn: &mut sqlx::PgConnection,
    kind: &str,
    key: &str,
    intent: Option<&str>,
    replayed: bool,
) -> Result<(), ProviderError> {
    sqlx::query!(
        "INSERT INTO payments.sandbox_requests (kind, idempotency_key, intent_id, replayed) VALUES ($1, $2, $3, $4)",
        kind,
        key,
        intent,
        replayed
    )
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[tonic::async_trait]
impl PaymentProvider for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn authorize(&self, req: &AuthorizeRequest) -> Result<Authorization, ProviderError> {
        let Some((status, decline)) = outcome(&req.payment_method) else {
            return Err(rejected(
                "invalid_payment_method",
                format!("no such payment method: {}", req.payment_method),
            ));
        };
        let id = format!("pi_sb_{}", Uuid::new_v4().simple());
        let created = sqlx::query!(
            r#"INSERT INTO payments.sandbox_intents (id, idempotency_key, amount, currency, payment_method, status, decline_code)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT ON CONSTRAINT sandbox_intents_idempotency_key DO NOTHING"#,
            id,
            req.idempotency_key,
            req.amount.amount,
            req.amount.currency.code(),
            req.payment_method,
            status,
            decline.map(|d| d.0)
        )
        .execute(&self.pool)
        .await
        .map_err(db)?
        .rows_affected();
        let row = sqlx::query!(
            "SELECT id, status, decline_code, amount FROM payments.sandbox_intents WHERE idempotency_key = $1",
            req.idempotency_key
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        log(
            &mut conn,
            "authorize",
            &req.idempotency_key,
            Some(&row.id),
            created == 0,
        )
        .await?;
        if row.amount != req.amount.amount {
            return Err(rejected(
                "idempotency_error",
                "this idempotency key was used with another amount",
            ));
        }
        let fingerprint = Some(fingerprint(&req.payment_method));
        Ok(match row.status.as_str() {
            "requires_action" => Authorization::RequiresAction {
                reference: row.id,
                fingerprint,
            },
            "declined" => {
                let code = row.decline_code.unwrap_or_else(|| "generic_decline".into());
                let message = outcome(&req.payment_method)
                    .and_then(|o| o.1)
                    .map_or("Your card was declined.", |d| d.1)
                    .to_string();
                Authorization::Declined {
                    reference: Some(row.id),
                    code,
                    message,
                }
            }
            _ => Authorization::Authorized {
                reference: row.id,
                fingerprint,
            },
        })
    }

    async fn capture(
        &self,
        key: &str,
        reference: &str,
        amount: Money,
    ) -> Result<Money, ProviderError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let intent = sqlx::query!(
            "SELECT status, amount FROM payments.sandbox_intents WHERE id = $1 FOR UPDATE",
            reference
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        // Under the intent's lock: a repeat racing the first call waits for it, then replays.
        if let Some(reply) = replay(&mut tx, key).await? {
            log(&mut tx, "capture", key, Some(reference), true).await?;
            tx.commit().await.map_err(db)?;
            let captured = reply["captured"].as_i64().unwrap_or(0);
            return Ok(Money::new(captured, amount.currency));
        }
        log(&mut tx, "capture", key, Some(reference), false).await?;
        let intent = intent.ok_or_else(|| {
            rejected(
                "resource_missing",
                format!("no such payment_intent: {reference}"),
            )
        })?;
        if intent.status != "requires_capture" {
            return Err(rejected(
                "payment_intent_unexpected_state",
                format!(
                    "this PaymentIntent is {} and cannot be captured",
                    intent.status
                ),
            ));
        }
        if amount.amount <= 0 || amount.amount > intent.amount {
            return Err(rejected(
                "amount_too_large",
                "cannot capture more than was authorized",
            ));
        }
        sqlx::query!(
            "UPDATE payments.sandbox_intents SET status = 'succeeded', captured_amount = $2, updated_at = now() WHERE id = $1",
            reference,
            amount.amount
        )
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query!(
            "INSERT INTO payments.sandbox_calls (idempotency_key, intent_id, kind, reply) VALUES ($1, $2, 'capture', $3)",
            key,
            reference,
            serde_json::json!({"captured": amount.amount})
        )
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(amount)
    }

    async fn void(&self, key: &str, reference: &str) -> Result<(), ProviderError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let status = sqlx::query_scalar!(
            "SELECT status FROM payments.sandbox_intents WHERE id = $1 FOR UPDATE",
            reference
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if replay(&mut tx, key).await?.is_some() {
            log(&mut tx, "cancel", key, Some(reference), true).await?;
            tx.commit().await.map_err(db)?;
            return Ok(());
        }
        log(&mut tx, "cancel", key, Some(reference), false).await?;
        let status = status.ok_or_else(|| {
            rejected(
                "resource_missing",
                format!("no such payment_intent: {reference}"),
            )
        })?;
        match status.as_str() {
            "requires_capture" | "requires_action" | "canceled" | "declined" => {}
            other => {
                return Err(rejected(
                    "payment_intent_unexpected_state",
                    format!("this PaymentIntent is {other} and cannot be canceled"),
                ));
            }
        }
        sqlx::query!(
            "UPDATE payments.sandbox_intents SET status = 'canceled', updated_at = now() WHERE id = $1 AND status <> 'declined'",
            reference
        )
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query!(
            "INSERT INTO payments.sandbox_calls (idempotency_key, intent_id, kind, reply) VALUES ($1, $2, 'cancel', '{}')",
            key,
            reference
        )
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn refund(
        &self,
        key: &str,
        reference: &str,
        amount: Money,
    ) -> Result<String, ProviderError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let intent = sqlx::query!(
            "SELECT status, captured_amount, refunded_amount FROM payments.sandbox_intents WHERE id = $1 FOR UPDATE",
            reference
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(reply) = replay(&mut tx, key).await? {
            log(&mut tx, "refund", key, Some(reference), true).await?;
            tx.commit().await.map_err(db)?;
            return Ok(reply["refund"].as_str().unwrap_or_default().to_string());
        }
        log(&mut tx, "refund", key, Some(reference), false).await?;
        let intent = intent.ok_or_else(|| {
            rejected(
                "resource_missing",
                format!("no such payment_intent: {reference}"),
            )
        })?;
        if intent.status != "succeeded" {
            return Err(rejected(
                "charge_not_captured",
                "only a captured payment can be refunded",
            ));
        }
        if amount.amount <= 0 || intent.refunded_amount + amount.amount > intent.captured_amount {
            return Err(rejected(
                "charge_already_refunded",
                "the refund is more than what is left of the captured amount",
            ));
        }
        sqlx::query!(
            "UPDATE payments.sandbox_intents SET refunded_amount = refunded_amount + $2, updated_at = now() WHERE id = $1",
            reference,
            amount.amount
        )
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let refund = format!("re_sb_{}", Uuid::new_v4().simple());
        sqlx::query!(
            "INSERT INTO payments.sandbox_calls (idempotency_key, intent_id, kind, reply) VALUES ($1, $2, 'refund', $3)",
            key,
            reference,
            serde_json::json!({"refund": refund, "amount": amount.amount})
        )
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(refund)
    }

    async fn status(&self, reference: &str) -> Result<IntentStatus, ProviderError> {
        let status = sqlx::query_scalar!(
            "SELECT status FROM payments.sandbox_intents WHERE id = $1",
            reference
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .ok_or_else(|| {
            rejected(
                "resource_missing",
                format!("no such payment_intent: {reference}"),
            )
        })?;
        Ok(match status.as_str() {
            "requires_action" => IntentStatus::RequiresAction,
            "requires_capture" => IntentStatus::Authorized,
            "succeeded" => IntentStatus::Captured,
            "canceled" => IntentStatus::Canceled,
            _ => IntentStatus::Failed,
        })
    }
}

/// The customer completed 3-D Secure at the provider (tests and demos play the customer).
pub async fn complete_authentication(pool: &PgPool, reference: &str) -> sqlx::Result<bool> {
    let n = sqlx::query!(
        "UPDATE payments.sandbox_intents SET status = 'requires_capture', updated_at = now() WHERE id = $1 AND status = 'requires_action'",
        reference
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The amount and currency of a sandbox intent (tests).
pub async fn intent(
    pool: &PgPool,
    reference: &str,
) -> sqlx::Result<Option<(String, Money, Money, Money)>> {
    let r = sqlx::query!(
        r#"SELECT status, amount, captured_amount, refunded_amount, currency AS "currency: String"
           FROM payments.sandbox_intents WHERE id = $1"#,
        reference
    )
    .fetch_optional(pool)
    .await?;
    Ok(r.and_then(|r| {
        let c = Currency::parse(&r.currency).ok()?;
        Some((
            r.status,
            Money::new(r.amount, c),
            Money::new(r.captured_amount, c),
            Money::new(r.refunded_amount, c),
        ))
    }))
}
