//! Payments over the sandbox provider: authorizations by test card, idempotent captures,
//! voids and refunds, never more refunded than captured.

use std::sync::Arc;

use souk_contracts::payments::AuthorizationStatus;
use souk_domain::{Currency, Money};
use sqlx::PgPool;

use super::provider::{
    Authorization, AuthorizeRequest, IntentStatus, PaymentProvider, ProviderError,
};
use super::sandbox::{self, Sandbox};
use super::service::{Error, Payments};
use souk_kit::Ctx;
use souk_kit::testing::{racing, test_schema};

fn usd(a: i64) -> Money {
    Money::new(a, Currency::USD)
}

async fn payments(pool: &PgPool) -> Payments {
    test_schema(pool, &crate::SCHEMA).await;
    Payments::new(
        pool.clone(),
        vec![Arc::new(Sandbox::new(pool.clone()))],
        [("card".to_string(), "sandbox".to_string())].into(),
    )
    .expect("the sandbox takes cards")
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrations = false)]
async fn test_cards_authorize_decline_or_need_action_like_stripe(pool: PgPool) {
    let p = payments(&pool).await;
    let ctx = Ctx::system();
    let ok = p
        .authorize(&ctx, "co-1", 1, "pm_card_visa", usd(1_000), "a@example.com")
        .await
        .unwrap();
    assert_eq!(ok.status, AuthorizationStatus::Authorized);
    assert!(ok.reference.starts_with("pi_sb_"));
    for (pm, code) in [
        ("pm_card_chargeDeclined", "generic_decline"),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
        ),
    ] {
        match p
            .authorize(
                &ctx,
                &format!("co-{pm}"),
                1,
                pm,
                usd(1_000),
                "a@example.com",
            )
            .await
        {
            Err(Error::Declined { code: c, .. }) => assert_eq!(c, code),
            other => panic!("{pm}: expected a decline, got {other:?}"),
        }
    }
    let action = p
        .authorize(
            &ctx,
            "co-3ds",
            1,
            "pm_card_authenticationRequired",
            usd(1_000),
            "a@example.com",
        )
        .await
        .unwrap();
    assert_eq!(action.status, AuthorizationStatus::RequiresAction);
    let bad = p
        .authorize(
            &ctx,
            "co-bad",
            1,
            "pm_nonsense",
            usd(1_000),
            "a@example.com",
        )
        .await;
    assert!(matches!(bad, Err(Error::Rejected(_))));
}

#[sqlx::test(migrations = false)]
async fn a_retried_authorization_holds_the_money_once(pool: PgPool) {
    let p = payments(&pool).await;
    let ctx = Ctx::system();
    let a = p
        .authorize(&ctx, "co-1", 1, "pm_card_visa", usd(2_500), "a@example.com")
        .await
        .unwrap();
    let b = p
        .authorize(&ctx, "co-1", 1, "pm_card_visa", usd(2_500), "a@example.com")
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM payments.sandbox_intents").await,
        1
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM payments.payments").await,
        1
    );
    // A new attempt of the same checkout is a new payment.
    let c = p
        .authorize(&ctx, "co-1", 2, "pm_card_visa", usd(2_500), "a@example.com")
        .await
        .unwrap();
    assert_ne!(a.reference, c.reference);
}

#[sqlx::test(migrations = false)]
async fn capture_void_and_refunds_are_idempotent_and_bounded(pool: PgPool) {
    let p = payments(&pool).await;
    let ctx = Ctx::system();
    let a = p
        .authorize(&ctx, "co-1", 1, "pm_card_visa", usd(5_000), "a@example.com")
        .await
        .unwrap();
    assert_eq!(
        p.capture(&ctx, "co-1", 1, usd(4_000)).await.unwrap(),
        usd(4_000),
        "partial capture"
    );
    assert_eq!(
        p.capture(&ctx, "co-1", 1, usd(4_000)).await.unwrap(),
        usd(4_000),
        "a retry captures nothing more"
    );
    assert!(
        matches!(p.void(&ctx, "co-1", 1).await, Err(Error::Rejected(_))),
        "captured money is refunded, not voided"
    );

    p.refund(&ctx, "co-1", 1, usd(1_500), 1, "damaged")
        .await
        .unwrap();
    p.refund(&ctx, "co-1", 1, usd(1_500), 1, "damaged")
        .await
        .unwrap();
    p.refund(&ctx, "co-1", 1, usd(2_000), 2, "returned")
        .await
        .unwrap();
    let other_currency = p
        .refund(&ctx, "co-1", 1, Money::new(100, Currency::EUR), 4, "wrong")
        .await;
    assert!(
        matches!(other_currency, Err(Error::Rejected(_))),
        "a refund is in the payment's currency: {other_currency:?}"
    );
    let too_much = p.refund(&ctx, "co-1", 1, usd(600), 3, "greedy").await;
    assert!(
        matches!(too_much, Err(Error::Rejected(_))),
        "only 500 is left"
    );
    p.refund(&ctx, "co-1", 1, usd(500), 3, "rest")
        .await
        .unwrap();

    let row = p.get("co-1", 1).await.unwrap().unwrap();
    assert_eq!(
        (
            row.status.as_str(),
            row.captured_amount,
            row.refunded_amount
        ),
        ("refunded", 4_000, 4_000)
    );
    let (status, _, captured, refunded) =
        sandbox::intent(&pool, &a.reference).await.unwrap().unwrap();
    assert_eq!(
        (status.as_str(), captured, refunded),
        ("succeeded", usd(4_000), usd(4_000))
    );
    assert_eq!(p.refunds(row.id).await.unwrap().len(), 3);
}

#[sqlx::test(migrations = false)]
async fn voiding_releases_the_authorization_once(pool: PgPool) {
    let p = payments(&pool).await;
    let ctx = Ctx::system();
    let a = p
        .authorize(&ctx, "co-1", 1, "pm_card_visa", usd(5_000), "a@example.com")
        .await
        .unwrap();
    p.void(&ctx, "co-1", 1).await.unwrap();
    p.void(&ctx, "co-1", 1).await.unwrap();
    p.void(&ctx, "never-authorized", 1).await.unwrap();
    assert_eq!(p.get("co-1", 1).await.unwrap().unwrap().status, "voided");
    let (status, ..) = sandbox::intent(&pool, &a.reference).await.unwrap().unwrap();
    assert_eq!(status, "canceled");
    let r = p.capture(&ctx, "co-1", 1, usd(5_000)).await;
    assert!(
        matches!(&r, Err(Error::Rejected(m)) if m.contains("voided")),
        "a voided payment cannot be captured: {r:?}"
    );
}

#[sqlx::test(migrations = false)]
async fn a_confirmed_authentication_turns_into_an_authorization(pool: PgPool) {
    let p = payments(&pool).await;
    let ctx = Ctx::system();
    let a = p
        .authorize(
            &ctx,
            "co-1",
            1,
            "pm_card_authenticationRequired",
            usd(900),
            "a@example.com",
        )
        .await
        .unwrap();
    assert!(
        sandbox::complete_authentication(&pool, &a.reference)
            .await
            .unwrap()
    );
    assert_eq!(
        p.confirm(&ctx, "sandbox", &a.reference).await.unwrap(),
        Some(("co-1".to_string(), 1))
    );
    assert_eq!(
        p.get("co-1", 1).await.unwrap().unwrap().status,
        "authorized"
    );
    assert_eq!(
        p.capture(&ctx, "co-1", 1, usd(900)).await.unwrap(),
        usd(900)
    );
}

#[sqlx::test(migrations = false)]
async fn payment_method_types_route_only_to_enabled_providers(pool: PgPool) {
    use super::provider::PaymentProvider;
    let route = |to: &str| [("card".to_string(), to.to_string())].into();
    let sandbox: Vec<Arc<dyn PaymentProvider>> = vec![Arc::new(Sandbox::new(pool.clone()))];
    // Cards to a provider that is not enabled: refused at start, not at the first checkout.
    let e = Payments::new(pool.clone(), sandbox.clone(), route("stripe"))
        .err()
        .expect("stripe is not enabled");
    assert!(e.to_string().contains("not enabled"), "{e}");
    let e = Payments::new(pool.clone(), vec![], route("sandbox"))
        .err()
        .expect("the sandbox is not enabled");
    assert!(e.to_string().contains("not enabled"), "{e}");
    let e = Payments::new(pool.clone(), sandbox.clone(), Default::default())
        .err()
        .expect("cards need a provider");
    assert!(e.to_string().contains("card"), "{e}");
    let ok = Payments::new(pool.clone(), sandbox, route("sandbox")).unwrap();
    assert_eq!(ok.provider_for("card").unwrap().name(), "sandbox");
    assert!(!ok.has_provider("stripe"));
}

/// The sandbox, counting the refunds it is asked for.
struct CountingRefunds {
    inner: Sandbox,
    asked: std::sync::atomic::AtomicUsize,
}

#[tonic::async_trait]
impl PaymentProvider for CountingRefunds {
    fn name(&self) -> &'static str {
        "sandbox"
    }
    async fn authorize(&self, req: &AuthorizeRequest) -> Result<Authorization, ProviderError> {
        self.inner.authorize(req).await
    }
    async fn capture(
        &self,
        key: &str,
        reference: &str,
        amount: Money,
    ) -> Result<Money, ProviderError> {
        self.inner.capture(key, reference, amount).await
    }
    async fn void(&self, key: &str, reference: &str) -> Result<(), ProviderError> {
        self.inner.void(key, reference).await
    }
    async fn refund(
        &self,
        key: &str,
        reference: &str,
        amount: Money,
    ) -> Result<String, ProviderError> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.refund(key, reference, amount).await
    }
    async fn status(&self, reference: &str) -> Result<IntentStatus, ProviderError> {
        self.inner.status(reference).await
    }
}

/// Ten refunds of one payment at once, more than was captured between them: the ones that fit
/// go through, the rest are refused before the provider is asked, and the books add up. Our
/// bound holds by itself, whatever the provider checks.
#[sqlx::test(migrations = false)]
async fn concurrent_refunds_never_ask_for_more_than_was_captured(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let (outcomes, asked, row) = racing(&pool, 12, |pool| async move {
        let provider = Arc::new(CountingRefunds {
            inner: Sandbox::new(pool.clone()),
            asked: Default::default(),
        });
        let p = Arc::new(
            Payments::new(
                pool.clone(),
                vec![provider.clone()],
                [("card".to_string(), "sandbox".to_string())].into(),
            )
            .unwrap(),
        );
        let ctx = Ctx::system();
        p.authorize(&ctx, "co-r", 1, "pm_card_visa", usd(4_000), "a@example.com")
            .await
            .unwrap();
        p.capture(&ctx, "co-r", 1, usd(4_000)).await.unwrap();
        let tasks: Vec<_> = (1..=10)
            .map(|seq| {
                let p = p.clone();
                tokio::spawn(async move {
                    p.refund(&Ctx::system(), "co-r", 1, usd(1_000), seq, "returned")
                        .await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        let asked = provider.asked.load(std::sync::atomic::Ordering::SeqCst);
        (outcomes, asked, p.get("co-r", 1).await.unwrap().unwrap())
    })
    .await;
    let ok = outcomes.iter().filter(|o| o.is_ok()).count();
    for o in &outcomes {
        assert!(
            matches!(o, Ok(()) | Err(Error::Rejected(_))),
            "refused, not failed: {o:?}"
        );
    }
    assert_eq!(ok, 4, "what was captured, and no more");
    assert_eq!(asked, 4, "the provider is asked only for refunds that fit");
    assert_eq!(
        (row.status.as_str(), row.refunded_amount),
        ("refunded", 4_000)
    );
    assert_eq!(p_refunds(&pool, row.id).await, (4, 4_000));
}

/// (count, sum) of a payment's recorded refunds.
async fn p_refunds(pool: &PgPool, payment_id: uuid::Uuid) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), COALESCE(sum(amount), 0)::bigint FROM payments.refunds WHERE payment_id = $1")
        .bind(payment_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A refund the provider refuses gives its claim back: the amount can be refunded later.
#[sqlx::test(migrations = false)]
async fn a_refund_the_provider_refuses_gives_its_claim_back(pool: PgPool) {
    let p = payments(&pool).await;
    let ctx = Ctx::system();
    let a = p
        .authorize(&ctx, "co-x", 1, "pm_card_visa", usd(3_000), "a@example.com")
        .await
        .unwrap();
    p.capture(&ctx, "co-x", 1, usd(3_000)).await.unwrap();
    // The provider thinks it is all refunded already (refunded elsewhere, say in its dashboard).
    sqlx::query(
        "UPDATE payments.sandbox_intents SET refunded_amount = captured_amount WHERE id = $1",
    )
    .bind(&a.reference)
    .execute(&pool)
    .await
    .unwrap();
    let refused = p.refund(&ctx, "co-x", 1, usd(3_000), 1, "returned").await;
    assert!(matches!(refused, Err(Error::Rejected(_))), "{refused:?}");
    let row = p.get("co-x", 1).await.unwrap().unwrap();
    assert_eq!(
        p_refunds(&pool, row.id).await,
        (0, 0),
        "no claim left behind"
    );
    assert_eq!((row.status.as_str(), row.refunded_amount), ("captured", 0));
    sqlx::query("UPDATE payments.sandbox_intents SET refunded_amount = 0 WHERE id = $1")
        .bind(&a.reference)
        .execute(&pool)
        .await
        .unwrap();
    p.refund(&ctx, "co-x", 1, usd(3_000), 2, "returned")
        .await
        .unwrap();
    let row = p.get("co-x", 1).await.unwrap().unwrap();
    assert_eq!(
        (row.status.as_str(), row.refunded_amount),
        ("refunded", 3_000)
    );
    assert_eq!(p_refunds(&pool, row.id).await, (1, 3_000));
}
