//! SQL for the vendors schema.

use sqlx::PgPool;
use uuid::Uuid;

use souk_kit::{Ctx, outbox};

#[derive(Debug, Clone)]
pub struct NewVendor {
    pub slug: String,
    pub name: String,
    pub email: String,
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vendor {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub email: String,
    pub status: String,
    pub country: String,
}

/// Creates or updates a vendor by slug; returns its id.
pub async fn upsert(pool: &PgPool, ctx: &Ctx, v: &NewVendor) -> sqlx::Result<Uuid> {
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO vendors.vendors (id, slug, name, email, country)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT ON CONSTRAINT vendors_slug_key DO UPDATE
             SET name = EXCLUDED.name, email = EXCLUDED.email, country = EXCLUDED.country,
                 updated_at = now()
           RETURNING id"#,
        Uuid::now_v7(),
        v.slug,
        v.name,
        v.email,
        v.country
    )
    .fetch_one(&mut *tx)
    .await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "vendors.vendor_upserted",
        serde_json::json!({"id": id, "slug": v.slug, "name": v.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<Vendor>> {
    sqlx::query_as!(
        Vendor,
        r#"SELECT id, slug, name, email, status, country AS "country: String" FROM vendors.vendors ORDER BY slug"#
    )
    .fetch_all(pool)
    .await
}

/// One vendor by id.
pub async fn get(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Vendor>> {
    sqlx::query_as!(
        Vendor,
        r#"SELECT id, slug, name, email, status, country AS "country: String" FROM vendors.vendors WHERE id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await
}
