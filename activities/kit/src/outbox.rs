//! The transactional outbox: every state change writes its event in the same transaction, so
//! an event is published if and only if the change happened. A relay (later) publishes rows
//! with `published_at IS NULL` and marks them.

use chrono::Utc;
use souk_domain::event::EventEnvelope;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Ctx;
use crate::db::Schema;

/// Builds the envelope for an event caused by `ctx` now.
pub fn envelope(ctx: &Ctx, event_type: &str, data: serde_json::Value) -> EventEnvelope {
    EventEnvelope::new(
        Uuid::now_v7(),
        event_type,
        Utc::now(),
        ctx.actor.clone(),
        data,
        ctx.trace.clone(),
    )
}

/// Writes an event into `schema`'s outbox on the caller's transaction.
pub async fn record(
    conn: &mut PgConnection,
    schema: &Schema,
    event: &EventEnvelope,
) -> sqlx::Result<()> {
    // The schema name is fixed in the domain's code, never from input; values are bound.
    let sql = format!(
        "INSERT INTO {}.outbox (event_id, event_type, occurred_at, actor, data, trace) VALUES ($1, $2, $3, $4, $5, $6)",
        schema.name()
    );
    let trace = serde_json::to_value(&event.trace).unwrap_or_default();
    sqlx::query(&sql)
        .bind(event.event_id)
        .bind(&event.event_type)
        .bind(event.occurred_at)
        .bind(&event.actor)
        .bind(&event.data)
        .bind(trace)
        .execute(conn)
        .await?;
    Ok(())
}

/// Shorthand: build and record an event.
pub async fn emit(
    conn: &mut PgConnection,
    schema: &Schema,
    ctx: &Ctx,
    event_type: &str,
    data: serde_json::Value,
) -> sqlx::Result<()> {
    record(conn, schema, &envelope(ctx, event_type, data)).await
}
