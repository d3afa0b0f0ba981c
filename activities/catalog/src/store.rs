//! SQL for the catalog schema. Functions take a pool or a connection; the caller owns the
//! transaction when there is one.

use chrono::{DateTime, Utc};
use serde_json::Value;
use souk_domain::Sku;
use souk_domain::catalog::{ProductStatus, is_slug};
use souk_domain::cursor::TimeCursor;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use souk_kit::error::{Described, Kind};
use souk_kit::{Ctx, outbox};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("category `{0}` does not exist")]
    CategoryNotFound(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Described for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::CategoryNotFound(_) => Kind::NotFound,
            Error::Db(_) => Kind::Internal,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Error::CategoryNotFound(_) => "category_not_found",
            Error::Db(_) => "internal",
        }
    }

    fn database(&self) -> Option<&sqlx::Error> {
        match self {
            Error::Db(e) => Some(e),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub slug: String,
    pub name: String,
    pub position: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub id: Uuid,
    pub product_id: Uuid,
    pub sku: String,
    pub title: String,
    pub options: Value,
    pub tax_class: String,
    pub weight_grams: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: Uuid,
    pub vendor_id: Uuid,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub attributes: Value,
    pub created_at: DateTime<Utc>,
    pub category_ids: Vec<Uuid>,
    pub variants: Vec<Variant>,
}

/// A variant with the product facts other domains need (vendor, categories with ancestors).
#[derive(Debug, Clone, PartialEq)]
pub struct VariantFacts {
    pub sku: String,
    pub title: String,
    pub options: Value,
    pub tax_class: String,
    pub weight_grams: i32,
    pub product_id: Uuid,
    pub product_slug: String,
    pub product_title: String,
    pub vendor_id: Uuid,
    pub status: String,
    pub category_ids: Vec<Uuid>,
    /// The slugs of `category_ids`, in the same order.
    pub category_slugs: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// Category slug or id: the whole subtree is listed.
    pub category: Option<String>,
    pub q: Option<String>,
    pub limit: u32,
    pub after: Option<TimeCursor>,
    /// Only this vendor's products.
    pub vendor_id: Option<Uuid>,
    /// Drafts and archived products too.
    pub any_status: bool,
}

/// Changes to a product; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProductChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<ProductStatus>,
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<TimeCursor>,
}

pub async fn list_categories(pool: &PgPool) -> Result<Vec<Category>, Error> {
    let rows = sqlx::query_as!(
        Category,
        "SELECT id, parent_id, slug, name, position FROM catalog.categories ORDER BY position, name"
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Turns free text into a prefix tsquery (`word:* & other:*`). Only letters and digits get
/// through, so no input can break the query syntax.
fn prefix_tsquery(q: &str) -> Option<String> {
    let words: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(|w| format!("{}:*", w.to_lowercase()))
        .collect();
    (!words.is_empty()).then(|| words.join(" & "))
}

/// A product row without its variants and categories.
struct ProductHead {
    id: Uuid,
    vendor_id: Uuid,
    slug: String,
    title: String,
    description: String,
    status: String,
    attributes: Value,
    created_at: DateTime<Utc>,
}

impl From<ProductHead> for Product {
    fn from(r: ProductHead) -> Self {
        Product {
            id: r.id,
            vendor_id: r.vendor_id,
            slug: r.slug,
            title: r.title,
            description: r.description,
            status: r.status,
            attributes: r.attributes,
            created_at: r.created_at,
            category_ids: vec![],
            variants: vec![],
        }
    }
}

/// One product with its variants and categories.
async fn with_details(pool: &PgPool, head: Option<ProductHead>) -> Result<Option<Product>, Error> {
    let Some(head) = head else { return Ok(None) };
    let mut products = vec![Product::from(head)];
    attach_details(pool, &mut products).await?;
    Ok(products.pop())
}

/// Products (active ones unless `any_status`), newest first, one page after `filter.after`.
pub async fn list_products(pool: &PgPool, filter: &ProductFilter) -> Result<Page<Product>, Error> {
    let category_ids: Option<Vec<Uuid>> = match &filter.category {
        None => None,
        Some(c) if !is_slug(c) => return Err(Error::CategoryNotFound(c.clone())),
        Some(c) => {
            let ids = sqlx::query_scalar!(
                r#"WITH RECURSIVE subtree AS (
                       SELECT id FROM catalog.categories WHERE slug = $1 OR id::text = $1
                       UNION
                       SELECT c.id FROM catalog.categories c JOIN subtree s ON c.parent_id = s.id
                   )
                   SELECT id AS "id!" FROM subtree"#,
                c
            )
            .fetch_all(pool)
            .await?;
            if ids.is_empty() {
                return Err(Error::CategoryNotFound(c.clone()));
            }
            Some(ids)
        }
    };
    let tsquery = filter.q.as_deref().and_then(prefix_tsquery);
    if filter.q.as_deref().is_some_and(|q| !q.trim().is_empty()) && tsquery.is_none() {
        // Only punctuation: nothing can match.
        return Ok(Page {
            items: vec![],
            next: None,
        });
    }
    let limit = i64::from(filter.limit.max(1));
    let rows = sqlx::query_as!(
        ProductHead,
        r#"SELECT p.id, p.vendor_id, p.slug, p.title, p.description, p.status, p.attributes, p.created_at
           FROM catalog.products p
           WHERE (p.status = 'active' OR $6)
             AND ($7::uuid IS NULL OR p.vendor_id = $7)
             AND ($1::uuid[] IS NULL OR EXISTS (
                   SELECT 1 FROM catalog.product_categories pc
                   WHERE pc.product_id = p.id AND pc.category_id = ANY($1)))
             AND ($2::text IS NULL OR p.search @@ to_tsquery('simple', $2))
             AND ($3::timestamptz IS NULL OR (p.created_at, p.id) < ($3, $4::uuid))
           ORDER BY p.created_at DESC, p.id DESC
           LIMIT $5"#,
        category_ids.as_deref(),
        tsquery,
        filter.after.map(|c| c.created_at),
        filter.after.map(|c| c.id),
        limit + 1,
        filter.any_status,
        filter.vendor_id,
    )
    .fetch_all(pool)
    .await?;
    let has_more = rows.len() as i64 > limit;
    let mut products: Vec<Product> = rows
        .into_iter()
        .take(limit as usize)
        .map(Product::from)
        .collect();
    attach_details(pool, &mut products).await?;
    let next = if has_more {
        products.last().map(|p| TimeCursor {
            created_at: p.created_at,
            id: p.id,
        })
    } else {
        None
    };
    Ok(Page {
        items: products,
        next,
    })
}

/// An active product by slug, with its variants and categories.
pub async fn product_by_slug(pool: &PgPool, slug: &str) -> Result<Option<Product>, Error> {
    if !is_slug(slug) {
        return Ok(None);
    }
    let head = sqlx::query_as!(
        ProductHead,
        r#"SELECT id, vendor_id, slug, title, description, status, attributes, created_at
           FROM catalog.products WHERE slug = $1 AND status = 'active'"#,
        slug
    )
    .fetch_optional(pool)
    .await?;
    with_details(pool, head).await
}

/// A product by id, whatever its status.
pub async fn product_by_id(pool: &PgPool, id: Uuid) -> Result<Option<Product>, Error> {
    let head = sqlx::query_as!(
        ProductHead,
        r#"SELECT id, vendor_id, slug, title, description, status, attributes, created_at
           FROM catalog.products WHERE id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await?;
    with_details(pool, head).await
}

/// Changes a product of `vendor_id`; `None` if it has no such product. The vendor condition
/// is part of the update, so a product cannot change hands between a check and the write.
pub async fn update_product(
    pool: &PgPool,
    ctx: &Ctx,
    id: Uuid,
    vendor_id: Uuid,
    c: &ProductChanges,
) -> Result<Option<Product>, Error> {
    let mut tx = pool.begin().await?;
    let updated = sqlx::query_scalar!(
        r#"UPDATE catalog.products
              SET title = COALESCE($3, title), description = COALESCE($4, description),
                  status = COALESCE($5, status), updated_at = now()
            WHERE id = $1 AND vendor_id = $2
        RETURNING id"#,
        id,
        vendor_id,
        c.title,
        c.description,
        c.status.map(|s| s.as_str())
    )
    .fetch_optional(&mut *tx)
    .await?;
    if updated.is_none() {
        return Ok(None);
    }
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "catalog.product_updated",
        serde_json::json!({
            "id": id, "vendor_id": vendor_id, "title": c.title, "description": c.description,
            "status": c.status.map(|s| s.as_str()),
        }),
    )
    .await?;
    tx.commit().await?;
    product_by_id(pool, id).await
}

/// Loads variants and categories of a page of products in two queries.
async fn attach_details(pool: &PgPool, products: &mut [Product]) -> Result<(), Error> {
    if products.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = products.iter().map(|p| p.id).collect();
    let variants = sqlx::query_as!(
        Variant,
        r#"SELECT id, product_id, sku, title, options, tax_class, weight_grams
           FROM catalog.variants WHERE product_id = ANY($1)
           ORDER BY product_id, position, sku"#,
        &ids
    )
    .fetch_all(pool)
    .await?;
    let cats = sqlx::query!(
        "SELECT product_id, category_id FROM catalog.product_categories
         WHERE product_id = ANY($1) ORDER BY product_id, category_id",
        &ids
    )
    .fetch_all(pool)
    .await?;
    for p in products.iter_mut() {
        p.variants = variants
            .iter()
            .filter(|v| v.product_id == p.id)
            .cloned()
            .collect();
        p.category_ids = cats
            .iter()
            .filter(|c| c.product_id == p.id)
            .map(|c| c.category_id)
            .collect();
    }
    Ok(())
}

/// Variants by SKU with their product's facts; unknown SKUs are left out. `category_ids`
/// includes every ancestor of the product's categories, so a coupon on "Apparel" covers
/// "Apparel > Shirts".
pub async fn variant_facts(pool: &PgPool, skus: &[String]) -> Result<Vec<VariantFacts>, Error> {
    if skus.is_empty() {
        return Ok(vec![]);
    }
    let rows = sqlx::query!(
        r#"SELECT v.sku, v.title, v.options, v.tax_class, v.weight_grams,
                  p.id AS product_id, p.slug AS product_slug, p.title AS product_title,
                  p.vendor_id, p.status
           FROM catalog.variants v JOIN catalog.products p ON p.id = v.product_id
           WHERE v.sku = ANY($1)"#,
        skus
    )
    .fetch_all(pool)
    .await?;
    let product_ids: Vec<Uuid> = rows.iter().map(|r| r.product_id).collect();
    let ancestry = sqlx::query!(
        r#"WITH RECURSIVE anc(product_id, category_id) AS (
               SELECT product_id, category_id FROM catalog.product_categories
               WHERE product_id = ANY($1)
               UNION
               SELECT a.product_id, c.parent_id
               FROM anc a JOIN catalog.categories c ON c.id = a.category_id
               WHERE c.parent_id IS NOT NULL
           )
           SELECT a.product_id AS "product_id!", a.category_id AS "category_id!", c.slug
           FROM anc a JOIN catalog.categories c ON c.id = a.category_id"#,
        &product_ids
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut categories: Vec<(Uuid, String)> = ancestry
                .iter()
                .filter(|a| a.product_id == r.product_id)
                .map(|a| (a.category_id, a.slug.clone()))
                .collect();
            categories.sort();
            categories.dedup();
            let (category_ids, category_slugs) = categories.into_iter().unzip();
            VariantFacts {
                sku: r.sku,
                title: r.title,
                options: r.options,
                tax_class: r.tax_class,
                weight_grams: r.weight_grams,
                product_id: r.product_id,
                product_slug: r.product_slug,
                product_title: r.product_title,
                vendor_id: r.vendor_id,
                status: r.status,
                category_ids,
                category_slugs,
            }
        })
        .collect())
}

#[derive(Debug, Clone)]
pub struct NewCategory {
    pub slug: String,
    pub name: String,
    pub parent_id: Option<Uuid>,
    pub position: i32,
}

/// Creates or updates a category by slug; returns its id.
pub async fn upsert_category(pool: &PgPool, ctx: &Ctx, c: &NewCategory) -> Result<Uuid, Error> {
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO catalog.categories (id, parent_id, slug, name, position)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT ON CONSTRAINT categories_slug_key DO UPDATE
             SET parent_id = EXCLUDED.parent_id, name = EXCLUDED.name,
                 position = EXCLUDED.position, updated_at = now()
           RETURNING id"#,
        Uuid::now_v7(),
        c.parent_id,
        c.slug,
        c.name,
        c.position
    )
    .fetch_one(&mut *tx)
    .await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "catalog.category_upserted",
        serde_json::json!({"id": id, "slug": c.slug, "name": c.name, "parent_id": c.parent_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

#[derive(Debug, Clone)]
pub struct NewVariant {
    pub sku: Sku,
    pub title: String,
    pub options: Value,
    pub tax_class: String,
    pub weight_grams: i32,
}

#[derive(Debug, Clone)]
pub struct NewProduct {
    pub vendor_id: Uuid,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub status: ProductStatus,
    pub attributes: Value,
    pub category_ids: Vec<Uuid>,
    pub variants: Vec<NewVariant>,
}

/// Creates or updates a product by slug, with its variants (by SKU) and categories, in one
/// transaction; returns the product id.
pub async fn upsert_product(pool: &PgPool, ctx: &Ctx, p: &NewProduct) -> Result<Uuid, Error> {
    let mut tx = pool.begin().await?;
    let id = upsert_product_tx(&mut tx, p).await?;
    outbox::emit(
        &mut tx,
        &crate::SCHEMA,
        ctx,
        "catalog.product_upserted",
        serde_json::json!({
            "id": id, "slug": p.slug, "vendor_id": p.vendor_id, "status": p.status.as_str(),
            "skus": p.variants.iter().map(|v| v.sku.as_str()).collect::<Vec<_>>(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn upsert_product_tx(tx: &mut PgConnection, p: &NewProduct) -> Result<Uuid, Error> {
    let id = sqlx::query_scalar!(
        r#"INSERT INTO catalog.products (id, vendor_id, slug, title, description, status, attributes)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT ON CONSTRAINT products_slug_key DO UPDATE
             SET vendor_id = EXCLUDED.vendor_id, title = EXCLUDED.title,
                 description = EXCLUDED.description, status = EXCLUDED.status,
                 attributes = EXCLUDED.attributes, updated_at = now()
           RETURNING id"#,
        Uuid::now_v7(),
        p.vendor_id,
        p.slug,
        p.title,
        p.description,
        p.status.as_str(),
        p.attributes
    )
    .fetch_one(&mut *tx)
    .await?;
    for (position, v) in p.variants.iter().enumerate() {
        sqlx::query!(
            r#"INSERT INTO catalog.variants (id, product_id, sku, title, options, tax_class, weight_grams, position)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT ON CONSTRAINT variants_sku_key DO UPDATE
                 SET product_id = EXCLUDED.product_id, title = EXCLUDED.title,
                     options = EXCLUDED.options, tax_class = EXCLUDED.tax_class,
                     weight_grams = EXCLUDED.weight_grams, position = EXCLUDED.position,
                     updated_at = now()"#,
            Uuid::now_v7(),
            id,
            v.sku.as_str(),
            v.title,
            v.options,
            v.tax_class,
            v.weight_grams,
            position as i32
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query!(
        "DELETE FROM catalog.product_categories WHERE product_id = $1 AND NOT (category_id = ANY($2))",
        id,
        &p.category_ids
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO catalog.product_categories (product_id, category_id)
         SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING",
        id,
        &p.category_ids
    )
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_becomes_a_safe_prefix_query() {
        assert_eq!(
            prefix_tsquery("Linen shirt").as_deref(),
            Some("linen:* & shirt:*")
        );
        assert_eq!(prefix_tsquery("a' | b:*").as_deref(), Some("a:* & b:*"));
        assert_eq!(prefix_tsquery("!!! ???"), None);
    }
}
