//! A seller's own return policy in the database: versioned, each change kept with who made
//! it and why, checked before it is written, one change at a time.

use souk_domain::returns::{ReturnReason, VendorReturnPolicy};
use souk_kit::Ctx;
use souk_kit::testing::{racing, test_schema};
use sqlx::PgPool;
use uuid::Uuid;

use crate::store::{self, Error, NewVendor};

async fn vendor(pool: &PgPool) -> Uuid {
    store::upsert(
        pool,
        &Ctx::system(),
        &NewVendor {
            slug: "kiln-and-clay".into(),
            name: "Kiln & Clay".into(),
            email: "hello@kiln.example".into(),
            country: "GB".into(),
        },
    )
    .await
    .unwrap()
}

fn actor(who: &str) -> Ctx {
    Ctx {
        actor: who.into(),
        ..Ctx::system()
    }
}

#[sqlx::test(migrations = false)]
async fn a_sellers_return_policy_is_versioned_and_every_change_kept(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let id = vendor(&pool).await;
    let none = store::return_policy(&pool, id).await.unwrap().unwrap();
    assert_eq!(none.version, 0);
    assert!(none.policy.is_empty());
    assert_eq!(none.updated_by, None);
    assert!(
        store::return_policy(&pool, Uuid::from_u128(1))
            .await
            .unwrap()
            .is_none()
    );

    let longer = VendorReturnPolicy {
        window_days: Some(60),
        non_returnable_categories: vec!["food".into()],
        auto_approve_reasons: Some(vec![ReturnReason::ChangedMind, ReturnReason::Damaged]),
        free_return_postage: true,
        ..VendorReturnPolicy::default()
    };
    let ctx = actor("user:u-7");
    let v1 = store::set_return_policy(&pool, &ctx, id, &longer, "holiday season", Some(0))
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(v1.policy, longer);
    assert_eq!(v1.updated_by.as_deref(), Some("user:u-7"));
    assert_eq!(store::return_policy(&pool, id).await.unwrap().unwrap(), v1);

    // The same again (a retried request) is no new version.
    let again = store::set_return_policy(&pool, &ctx, id, &longer, "again", None)
        .await
        .unwrap();
    assert_eq!(again.version, 1);
    // Even given the version it was read at before (the retry of a request whose answer was
    // lost).
    let retried = store::set_return_policy(&pool, &ctx, id, &longer, "again", Some(0))
        .await
        .unwrap();
    assert_eq!(retried, v1);

    // Read at version 0, written over version 1: refused, nothing changed.
    let fee = VendorReturnPolicy {
        restocking_fee_bps: Some(1_000),
        ..VendorReturnPolicy::default()
    };
    let stale = store::set_return_policy(&pool, &ctx, id, &fee, "fee", Some(0)).await;
    assert!(
        matches!(
            stale,
            Err(Error::Stale {
                current: 1,
                expected: 0
            })
        ),
        "{stale:?}"
    );
    // Out of bounds: refused before anything is written.
    let greedy = VendorReturnPolicy {
        restocking_fee_bps: Some(9_000),
        ..VendorReturnPolicy::default()
    };
    let refused = store::set_return_policy(&pool, &ctx, id, &greedy, "fee", None).await;
    assert!(matches!(refused, Err(Error::Invalid(_))), "{refused:?}");
    let unknown =
        store::set_return_policy(&pool, &ctx, Uuid::from_u128(1), &fee, "fee", None).await;
    assert!(matches!(unknown, Err(Error::NotFound(_))), "{unknown:?}");
    assert_eq!(store::return_policy(&pool, id).await.unwrap().unwrap(), v1);

    let staff = actor("user:staff-1");
    let v2 = store::set_return_policy(&pool, &staff, id, &fee, "seller asked by phone", Some(1))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.policy, fee);
    // Back to the marketplace's policy is a change too.
    let v3 = store::set_return_policy(
        &pool,
        &ctx,
        id,
        &VendorReturnPolicy::default(),
        "back to normal",
        Some(2),
    )
    .await
    .unwrap();
    assert_eq!(v3.version, 3);
    assert!(v3.policy.is_empty());

    let changes = store::return_policy_changes(&pool, id, None, 10)
        .await
        .unwrap();
    let seen: Vec<_> = changes
        .iter()
        .map(|c| (c.version, c.actor.as_str(), c.reason.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (3, "user:u-7", "back to normal"),
            (2, "user:staff-1", "seller asked by phone"),
            (1, "user:u-7", "holiday season"),
        ]
    );
    assert_eq!(changes[2].policy, longer);
    let older = store::return_policy_changes(&pool, id, Some(2), 10)
        .await
        .unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].version, 1);
    // Announced once per change.
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM vendors.outbox WHERE event_type = 'vendors.return_policy_changed'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(events, 3);
    // The changes are kept as they were.
    let edit = sqlx::query("UPDATE vendors.return_policy_changes SET reason = 'nothing'")
        .execute(&pool)
        .await;
    assert!(edit.is_err());
}

#[sqlx::test(migrations = false)]
async fn changes_read_at_the_same_version_race_and_one_wins(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let id = vendor(&pool).await;
    let outcomes = racing(&pool, 8, move |pool| async move {
        let mut tasks = Vec::new();
        for i in 0..8 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                let policy = VendorReturnPolicy {
                    window_days: Some(30 + i),
                    ..VendorReturnPolicy::default()
                };
                let ctx = actor("user:u-7");
                store::set_return_policy(&pool, &ctx, id, &policy, "race", Some(0))
                    .await
                    .map(|r| r.version)
                    .map_err(|e| e.to_string())
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    })
    .await;
    let won = outcomes.iter().filter(|o| o == &&Ok(1)).count();
    let stale = outcomes
        .iter()
        .filter(|o| o.as_ref().is_err_and(|e| e.contains("version 1, not 0")))
        .count();
    assert_eq!((won, stale), (1, 7), "{outcomes:?}");
    let changes = store::return_policy_changes(&pool, id, None, 10)
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);
}
