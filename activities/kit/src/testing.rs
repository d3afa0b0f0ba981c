//! Test support for domain crates' database tests (`#[sqlx::test]`): a domain's schema in a
//! scratch database, and races with real concurrency.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::db::{Schema, migrate};

/// Test support: creates a domain's schema in a scratch database (as the superuser the tests
/// connect as) and runs its migrations.
pub async fn test_schema(pool: &PgPool, schema: &Schema) {
    let mut conn = pool.acquire().await.expect("test database connection");
    sqlx::raw_sql(&format!("CREATE SCHEMA IF NOT EXISTS {}", schema.name()))
        .execute(&mut *conn)
        .await
        .expect("create schema");
    migrate(&mut conn, schema).await.expect("migrations");
}

/// Test support: runs `race` on a multi-thread runtime with its own pool of `connections` to
/// the test database `pool` points at, every connection open before it starts. `#[sqlx::test]`
/// runs on one thread with a pool of a few connections, on which "concurrent" tasks queue
/// rather than race; a claim about N concurrent callers needs N connections and threads.
pub async fn racing<F, Fut, T>(pool: &PgPool, connections: u32, race: F) -> T
where
    F: FnOnce(PgPool) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    let options = (*pool.connect_options()).clone();
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("a multi-thread runtime");
        rt.block_on(async move {
            let pool = PgPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await
                .expect("the racing pool");
            let mut open = Vec::new();
            for _ in 0..connections {
                open.push(pool.acquire().await.expect("a racing connection"));
            }
            drop(open);
            let out = race(pool.clone()).await;
            pool.close().await;
            out
        })
    })
    .await
    .expect("the race panicked")
}
