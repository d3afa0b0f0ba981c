//! Payments over the sandbox provider: authorizations by test card, idempotent captures,
//! voids and refunds, never more refunded than captured.

use std::sync::Arc;

use souk_contracts::payments::AuthorizationStatus;
use souk_domain::{Currency, Money};
use sqlx::PgPool;

use super::sandbox::{self, Sandbox};
use super::service::{Error, Payments};
use crate::Ctx;
use crate::db::{Schema, test_schema};

fn usd(a: i64) -> Money {
    Money::new(a, Currency::USD)
}

async fn payments(pool: &PgPool) -> Payments {
    test_schema(pool, Schema::Payments).await;
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
