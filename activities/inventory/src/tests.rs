//! Inventory store tests, each on a fresh database.

use souk_contracts::inventory::{RaiseLowStockAlert, Reservation, ReserveStock};
use souk_domain::Sku;
use souk_domain::stock::ReservationState;
use sqlx::PgPool;

use super::store::{self, Error};
use souk_kit::Ctx;
use souk_kit::testing::{racing, test_schema};

async fn setup(pool: &PgPool, sku: &str, stock: &[(&str, i64)]) -> Sku {
    test_schema(pool, &crate::SCHEMA).await;
    let sku = Sku::parse(sku).unwrap();
    for (w, on_hand) in stock {
        store::upsert_warehouse(pool, w, w).await.unwrap();
        store::seed_stock(pool, &sku, w, *on_hand).await.unwrap();
    }
    sku
}

fn req(id: &str, sku: &Sku, quantity: i64) -> ReserveStock {
    ReserveStock {
        reservation_id: id.to_string(),
        sku: sku.clone(),
        quantity,
        ttl_seconds: 900,
    }
}

async fn level(pool: &PgPool, sku: &Sku) -> store::StockLevel {
    store::stock(pool, sku.as_str()).await.unwrap().unwrap()
}

async fn outbox_count(pool: &PgPool, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM inventory.outbox WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// `n` reservations of `quantity` units each, all at once (see [`racing`]).
async fn reserve_all(
    pool: PgPool,
    sku: Sku,
    n: usize,
    quantity: i64,
) -> Vec<Result<Reservation, Error>> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (pool, sku) = (pool.clone(), sku.clone());
        tasks.push(tokio::spawn(async move {
            store::reserve(
                &pool,
                &Ctx::system(),
                &req(&format!("r-{i}"), &sku, quantity),
            )
            .await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("a reserver panicked"));
    }
    out
}

#[sqlx::test(migrations = false)]
async fn reserve_never_oversells_under_50_concurrent_reservers(pool: PgPool) {
    let sku = setup(&pool, "HOT-1", &[("east", 20), ("west", 10)]).await;
    let outcomes = racing(&pool, 50, {
        let sku = sku.clone();
        move |pool| reserve_all(pool, sku, 50, 1)
    })
    .await;
    let mut won = 0;
    let mut lost = 0;
    for outcome in outcomes {
        match outcome {
            Ok(r) => {
                assert_eq!(r.state, ReservationState::Reserved);
                won += 1;
            }
            Err(Error::InsufficientStock { .. }) => lost += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(
        (won, lost),
        (30, 20),
        "exactly the 30 units on hand can be reserved"
    );
    let l = level(&pool, &sku).await;
    assert_eq!(l.reserved(), 30);
    assert_eq!(l.available(), 0);
    for w in &l.warehouses {
        assert!(w.reserved <= w.on_hand, "{w:?} oversold");
    }
    assert_eq!(outbox_count(&pool, "inventory.stock_reserved").await, 30);
}

#[sqlx::test(migrations = false)]
async fn multi_unit_reservations_never_take_availability_below_zero(pool: PgPool) {
    let sku = setup(&pool, "HOT-3", &[("east", 40)]).await;
    let outcomes = racing(&pool, 50, {
        let sku = sku.clone();
        move |pool| reserve_all(pool, sku, 50, 3)
    })
    .await;
    let mut won = 0;
    for outcome in outcomes {
        match outcome {
            Ok(r) => {
                assert_eq!((r.state, r.quantity), (ReservationState::Reserved, 3));
                won += 1;
            }
            Err(Error::InsufficientStock { .. }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(won, 13, "13 × 3 = 39 ≤ 40 < 42");
    assert_eq!(level(&pool, &sku).await.available(), 1);
}

#[sqlx::test(migrations = false)]
async fn reserve_is_idempotent_by_reservation_id(pool: PgPool) {
    let sku = setup(&pool, "IDEM-1", &[("east", 5), ("west", 8)]).await;
    let first = store::reserve(&pool, &Ctx::system(), &req("co-1:reserve:IDEM-1", &sku, 4))
        .await
        .unwrap();
    let again = store::reserve(&pool, &Ctx::system(), &req("co-1:reserve:IDEM-1", &sku, 4))
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(
        first.warehouse, "west",
        "the warehouse with the most available stock"
    );
    assert_eq!(level(&pool, &sku).await.reserved(), 4, "reserved once");
    let other = store::reserve(&pool, &Ctx::system(), &req("co-1:reserve:IDEM-1", &sku, 2)).await;
    assert!(matches!(other, Err(Error::ReservationConflict(_))));
    assert_eq!(outbox_count(&pool, "inventory.stock_reserved").await, 1);
}

#[sqlx::test(migrations = false)]
async fn a_quantity_no_warehouse_holds_alone_is_split_and_given_back_whole(pool: PgPool) {
    let sku = setup(&pool, "SPLIT-1", &[("east", 3), ("west", 3)]).await;
    let by_warehouse = |pool: PgPool, sku: Sku| async move {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT warehouse, on_hand, reserved FROM inventory.stock WHERE sku = $1 ORDER BY warehouse",
        )
        .bind(sku.as_str())
        .fetch_all(&pool)
        .await
        .unwrap();
        rows
    };
    let r = store::reserve(&pool, &Ctx::system(), &req("r", &sku, 4))
        .await
        .unwrap();
    let parts: Vec<(&str, i64)> = r
        .allocations
        .iter()
        .map(|a| (a.warehouse.as_str(), a.quantity))
        .collect();
    assert_eq!(parts, [("east", 3), ("west", 1)]);
    assert_eq!((r.warehouse.as_str(), r.quantity), ("east", 4));
    assert_eq!(
        by_warehouse(pool.clone(), sku.clone()).await,
        [("east".into(), 3, 3), ("west".into(), 3, 1)]
    );
    // A retry answers the same split and takes nothing more.
    let again = store::reserve(&pool, &Ctx::system(), &req("r", &sku, 4))
        .await
        .unwrap();
    assert_eq!(again.allocations, r.allocations);
    assert_eq!(level(&pool, &sku).await.reserved(), 4);

    // More than all warehouses together: refused, nothing half-reserved.
    match store::reserve(&pool, &Ctx::system(), &req("r2", &sku, 3)).await {
        Err(Error::InsufficientStock {
            available,
            requested,
            ..
        }) => assert_eq!((requested, available), (3, 2)),
        other => panic!("expected insufficient stock, got {other:?}"),
    }
    assert_eq!(level(&pool, &sku).await.reserved(), 4);

    // Released: every warehouse gets its part back; committed: every part is sold.
    store::release(&pool, &Ctx::system(), "r", None)
        .await
        .unwrap();
    assert_eq!(
        by_warehouse(pool.clone(), sku.clone()).await,
        [("east".into(), 3, 0), ("west".into(), 3, 0)]
    );
    store::reserve(&pool, &Ctx::system(), &req("r3", &sku, 5))
        .await
        .unwrap();
    store::commit(&pool, &Ctx::system(), "r3").await.unwrap();
    assert_eq!(
        by_warehouse(pool.clone(), sku.clone()).await,
        [("east".into(), 0, 0), ("west".into(), 1, 0)]
    );
}

#[sqlx::test(migrations = false)]
async fn commit_is_idempotent_and_takes_stock_out(pool: PgPool) {
    let sku = setup(&pool, "COMMIT-1", &[("east", 10)]).await;
    store::reserve(&pool, &Ctx::system(), &req("r1", &sku, 3))
        .await
        .unwrap();
    store::commit(&pool, &Ctx::system(), "r1").await.unwrap();
    store::commit(&pool, &Ctx::system(), "r1").await.unwrap();
    let l = level(&pool, &sku).await;
    assert_eq!((l.on_hand(), l.reserved(), l.available()), (7, 0, 7));
    assert!(matches!(
        store::release(&pool, &Ctx::system(), "r1", None).await,
        Err(Error::ReservationCommitted(_))
    ));
    assert!(matches!(
        store::commit(&pool, &Ctx::system(), "nope").await,
        Err(Error::ReservationNotFound(_))
    ));
    assert_eq!(
        outbox_count(&pool, "inventory.reservation_committed").await,
        1
    );
}

#[sqlx::test(migrations = false)]
async fn release_is_idempotent_and_gives_stock_back(pool: PgPool) {
    let sku = setup(&pool, "REL-1", &[("east", 10)]).await;
    store::reserve(&pool, &Ctx::system(), &req("r1", &sku, 6))
        .await
        .unwrap();
    assert_eq!(level(&pool, &sku).await.available(), 4);
    store::release(&pool, &Ctx::system(), "r1", Some("card declined"))
        .await
        .unwrap();
    store::release(&pool, &Ctx::system(), "r1", Some("card declined"))
        .await
        .unwrap();
    let l = level(&pool, &sku).await;
    assert_eq!((l.on_hand(), l.reserved()), (10, 0));
    assert!(matches!(
        store::commit(&pool, &Ctx::system(), "r1").await,
        Err(Error::ReservationReleased(_))
    ));
    assert!(matches!(
        store::reserve(&pool, &Ctx::system(), &req("r1", &sku, 6)).await,
        Err(Error::ReservationReleased(_))
    ));
    assert_eq!(
        outbox_count(&pool, "inventory.reservation_released").await,
        1
    );
}

#[sqlx::test(migrations = false)]
async fn releasing_before_reserving_blocks_a_late_reserve(pool: PgPool) {
    let sku = setup(&pool, "LATE-1", &[("east", 10)]).await;
    // The compensation ran while the reserve activity was still in flight.
    store::release(
        &pool,
        &Ctx::system(),
        "co-9:reserve:LATE-1",
        Some("timed out"),
    )
    .await
    .unwrap();
    let late = store::reserve(&pool, &Ctx::system(), &req("co-9:reserve:LATE-1", &sku, 2)).await;
    assert!(matches!(late, Err(Error::ReservationReleased(_))));
    assert_eq!(level(&pool, &sku).await.reserved(), 0);
}

#[sqlx::test(migrations = false)]
async fn expired_reservations_are_released_by_the_sweeper(pool: PgPool) {
    let sku = setup(&pool, "EXP-1", &[("east", 10)]).await;
    store::reserve(&pool, &Ctx::system(), &req("old", &sku, 4))
        .await
        .unwrap();
    store::reserve(&pool, &Ctx::system(), &req("fresh", &sku, 1))
        .await
        .unwrap();
    sqlx::query("UPDATE inventory.reservations SET expires_at = now() - interval '1 minute' WHERE id = 'old'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(store::release_expired(&pool, 100).await.unwrap(), 1);
    assert_eq!(store::release_expired(&pool, 100).await.unwrap(), 0);
    assert_eq!(level(&pool, &sku).await.reserved(), 1);
    let state: String =
        sqlx::query_scalar("SELECT state FROM inventory.reservations WHERE id = 'old'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(state, "released");
}

#[sqlx::test(migrations = false)]
async fn an_extended_reservation_outlives_its_first_lease_and_a_released_one_is_not_revived(
    pool: PgPool,
) {
    let sku = setup(&pool, "EXT-1", &[("east", 10)]).await;
    let mut short = req("short", &sku, 2);
    short.ttl_seconds = 1;
    let first = store::reserve(&pool, &Ctx::system(), &short).await.unwrap();
    let longer = store::extend(&pool, "short", 3_600).await.unwrap();
    assert_eq!(longer.state, ReservationState::Reserved);
    assert!(
        longer.expires_at >= first.expires_at + chrono::Duration::seconds(3_000),
        "{} -> {}",
        first.expires_at,
        longer.expires_at
    );
    // Never shortened: a smaller extension keeps the later expiry.
    let again = store::extend(&pool, "short", 1).await.unwrap();
    assert_eq!(again.expires_at, longer.expires_at);
    // The sweeper leaves it alone once its first lease (one second) is over.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    assert_eq!(store::release_expired(&pool, 100).await.unwrap(), 0);
    assert_eq!(level(&pool, &sku).await.reserved(), 2);

    // A committed one is returned as it is (a retry after the sale).
    store::commit(&pool, &Ctx::system(), "short").await.unwrap();
    let committed = store::extend(&pool, "short", 3_600).await.unwrap();
    assert_eq!(committed.state, ReservationState::Committed);

    // A released one (the sweeper got there first) stays released, its stock not taken again.
    store::reserve(&pool, &Ctx::system(), &req("lapsed", &sku, 3))
        .await
        .unwrap();
    sqlx::query("UPDATE inventory.reservations SET expires_at = now() - interval '1 second' WHERE id = 'lapsed'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(store::release_expired(&pool, 100).await.unwrap(), 1);
    assert!(matches!(
        store::extend(&pool, "lapsed", 3_600).await,
        Err(Error::ReservationReleased(id)) if id == "lapsed"
    ));
    assert_eq!(level(&pool, &sku).await.reserved(), 0);
    assert!(matches!(
        store::extend(&pool, "nobody", 60).await,
        Err(Error::ReservationNotFound(_))
    ));
}

#[sqlx::test(migrations = false)]
async fn a_checkouts_reservations_are_committed_all_together_or_not_at_all(pool: PgPool) {
    let a = setup(&pool, "ALL-A", &[("east", 10)]).await;
    let b = Sku::parse("ALL-B").unwrap();
    store::seed_stock(&pool, &b, "east", 10).await.unwrap();
    for (id, sku) in [("co:a", &a), ("co:b", &b)] {
        store::reserve(&pool, &Ctx::system(), &req(id, sku, 2))
            .await
            .unwrap();
    }
    store::release(&pool, &Ctx::system(), "co:b", Some("expired"))
        .await
        .unwrap();
    let ids = vec!["co:a".to_string(), "co:b".to_string()];
    assert!(matches!(
        store::commit_all(&pool, &Ctx::system(), &ids).await,
        Err(Error::ReservationReleased(id)) if id == "co:b"
    ));
    // Nothing was sold: the other line is still only reserved, and can be released.
    let l = level(&pool, &a).await;
    assert_eq!((l.on_hand(), l.reserved()), (10, 2));
    assert_eq!(
        outbox_count(&pool, "inventory.reservation_committed").await,
        0
    );
    store::release(&pool, &Ctx::system(), "co:a", None)
        .await
        .unwrap();
    assert_eq!(level(&pool, &a).await.reserved(), 0);

    // All reserved: all sold, once, however often it is retried.
    for (id, sku) in [("co2:a", &a), ("co2:b", &b)] {
        store::reserve(&pool, &Ctx::system(), &req(id, sku, 3))
            .await
            .unwrap();
    }
    let ids = vec!["co2:b".to_string(), "co2:a".to_string()];
    store::commit_all(&pool, &Ctx::system(), &ids)
        .await
        .unwrap();
    store::commit_all(&pool, &Ctx::system(), &ids)
        .await
        .unwrap();
    for sku in [&a, &b] {
        let l = level(&pool, sku).await;
        assert_eq!((l.on_hand(), l.reserved()), (7, 0), "{sku:?}");
    }
    assert_eq!(
        outbox_count(&pool, "inventory.reservation_committed").await,
        2
    );
}

#[sqlx::test(migrations = false)]
async fn stock_counts_cannot_go_below_what_is_reserved(pool: PgPool) {
    let sku = setup(&pool, "COUNT-1", &[("east", 10)]).await;
    store::reserve(&pool, &Ctx::system(), &req("r", &sku, 6))
        .await
        .unwrap();
    let r = store::set_on_hand(&pool, &Ctx::new("admin"), &sku, "east", 5).await;
    assert!(matches!(r, Err(Error::BelowReserved { reserved: 6 })));
    let r = store::set_on_hand(&pool, &Ctx::new("admin"), &sku, "nowhere", 5).await;
    assert!(matches!(r, Err(Error::UnknownWarehouse(_))));
    let (l, _) = store::set_on_hand(&pool, &Ctx::new("admin"), &sku, "east", 6)
        .await
        .unwrap();
    assert_eq!(l.available(), 0);
    assert_eq!(outbox_count(&pool, "inventory.stock_adjusted").await, 1);
}

#[sqlx::test(migrations = false)]
async fn a_stock_count_reports_crossing_the_low_stock_threshold_once(pool: PgPool) {
    let sku = setup(&pool, "LOW-1", &[("east", 10)]).await;
    store::set_low_stock_threshold(&pool, &sku, 5)
        .await
        .unwrap();
    let admin = Ctx::new("admin");
    let (_, crossed) = store::set_on_hand(&pool, &admin, &sku, "east", 6)
        .await
        .unwrap();
    assert!(!crossed);
    let (_, crossed) = store::set_on_hand(&pool, &admin, &sku, "east", 4)
        .await
        .unwrap();
    assert!(crossed);
    let (_, crossed) = store::set_on_hand(&pool, &admin, &sku, "east", 2)
        .await
        .unwrap();
    assert!(!crossed, "already below");
}

#[sqlx::test(migrations = false)]
async fn a_low_stock_alert_is_recorded_once_per_alert_id(pool: PgPool) {
    let sku = setup(&pool, "ALERT-1", &[("east", 1)]).await;
    let a = RaiseLowStockAlert {
        alert_id: "low-stock-ALERT-1/run-1".into(),
        sku: sku.clone(),
        available: 1,
        threshold: 5,
        raised_by: "admin".into(),
    };
    let first = store::raise_alert(&pool, &Ctx::system(), &a).await.unwrap();
    let retry = store::raise_alert(&pool, &Ctx::system(), &a).await.unwrap();
    assert!(first.newly_raised);
    assert!(!retry.newly_raised);
    assert_eq!(first.raised_at, retry.raised_at);
    let (rows, next) = store::list_alerts(&pool, Some("ALERT-1"), 10, None)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(next.is_none());
    assert_eq!(outbox_count(&pool, "inventory.low_stock").await, 1);
}

#[sqlx::test(migrations = false)]
async fn units_go_back_on_hand_once_per_key(pool: PgPool) {
    let sku = setup(&pool, "BACK-1", &[("east", 5)]).await;
    let units =
        |key: &str, warehouse: &str, quantity: i64| souk_contracts::inventory::RestockUnits {
            key: key.into(),
            sku: sku.clone(),
            warehouse: warehouse.into(),
            quantity,
            reason: "not shipped".into(),
        };
    let ctx = Ctx::new("user:vendor");
    assert!(
        store::restock(&pool, &ctx, &units("k/1", "east", 2))
            .await
            .unwrap()
    );
    assert!(
        !store::restock(&pool, &ctx, &units("k/1", "east", 2))
            .await
            .unwrap()
    );
    assert_eq!(level(&pool, &sku).await.on_hand(), 7);
    assert_eq!(outbox_count(&pool, "inventory.restocked").await, 1);
    let unknown = store::restock(&pool, &ctx, &units("k/2", "mars", 1)).await;
    assert!(
        matches!(unknown, Err(Error::UnknownWarehouse(_))),
        "{unknown:?}"
    );
    let none = store::restock(&pool, &ctx, &units("k/3", "east", 0)).await;
    assert!(matches!(none, Err(Error::Invalid(_))), "{none:?}");
    assert_eq!(level(&pool, &sku).await.on_hand(), 7);
}
