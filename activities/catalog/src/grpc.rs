//! `souk.catalog.v1.CatalogService`, served by the catalog worker.

use souk_domain::cursor::{TimeCursor, page_limit};
use souk_proto::catalog::v1 as pb;
use souk_proto::catalog::v1::catalog_service_server::{CatalogService, CatalogServiceServer};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use super::store::{self, Error};
use souk_kit::grpc::{invalid, not_found};

pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 100;
/// The most SKUs one `GetVariants` call may ask for.
pub const MAX_SKUS: usize = 200;

#[derive(Clone)]
pub struct Catalog {
    pool: PgPool,
}

impl Catalog {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn into_server(self) -> CatalogServiceServer<Self> {
        CatalogServiceServer::new(self)
    }
}

fn store_error(e: Error) -> Status {
    souk_kit::error::status(&e)
}

fn parse_id(field: &str, s: &str) -> Result<uuid::Uuid, Status> {
    uuid::Uuid::parse_str(s).map_err(|_| invalid("invalid_id", format!("{field} is not a UUID")))
}

fn category(c: store::Category) -> pb::Category {
    pb::Category {
        id: c.id.to_string(),
        parent_id: c.parent_id.map(|p| p.to_string()),
        slug: c.slug,
        name: c.name,
        position: c.position,
    }
}

fn options(v: &serde_json::Value) -> std::collections::HashMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let s = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    (k.clone(), s)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn product(p: store::Product) -> pb::Product {
    let category_ids: Vec<String> = p.category_ids.iter().map(|c| c.to_string()).collect();
    let variants = p
        .variants
        .iter()
        .map(|v| pb::Variant {
            sku: v.sku.clone(),
            title: v.title.clone(),
            options: options(&v.options),
            tax_class: v.tax_class.clone(),
            weight_grams: v.weight_grams,
            product_id: p.id.to_string(),
            product_slug: p.slug.clone(),
            product_title: p.title.clone(),
            vendor_id: p.vendor_id.to_string(),
            category_ids: category_ids.clone(),
            sellable: p.status == "active",
        })
        .collect();
    pb::Product {
        id: p.id.to_string(),
        slug: p.slug,
        title: p.title,
        description: p.description,
        vendor_id: p.vendor_id.to_string(),
        status: p.status,
        category_ids,
        attributes_json: p.attributes.to_string(),
        variants,
        created_at: p.created_at.to_rfc3339(),
    }
}

#[tonic::async_trait]
impl CatalogService for Catalog {
    #[tracing::instrument(skip_all)]
    async fn list_categories(
        &self,
        _req: Request<pb::ListCategoriesRequest>,
    ) -> Result<Response<pb::ListCategoriesResponse>, Status> {
        let cats = store::list_categories(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(Response::new(pb::ListCategoriesResponse {
            categories: cats.into_iter().map(category).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_products(
        &self,
        req: Request<pb::ListProductsRequest>,
    ) -> Result<Response<pb::ListProductsResponse>, Status> {
        let r = req.into_inner();
        let after =
            match r.cursor.as_deref().filter(|c| !c.is_empty()) {
                None => None,
                Some(c) => Some(TimeCursor::decode(c).map_err(|_| {
                    invalid("invalid_cursor", "cursor is not one this API returned")
                })?),
            };
        if r.q.as_ref().is_some_and(|q| q.len() > 200) {
            return Err(invalid("invalid_query", "q must be at most 200 characters"));
        }
        let filter = store::ProductFilter {
            category: r.category.filter(|c| !c.is_empty()),
            q: r.q.filter(|q| !q.trim().is_empty()),
            limit: page_limit(r.limit, DEFAULT_PAGE, MAX_PAGE),
            after,
            vendor_id: r
                .vendor_id
                .as_deref()
                .map(|v| parse_id("vendor_id", v))
                .transpose()?,
            any_status: r.any_status,
        };
        let page = store::list_products(&self.pool, &filter)
            .await
            .map_err(store_error)?;
        Ok(Response::new(pb::ListProductsResponse {
            items: page.items.into_iter().map(product).collect(),
            next_cursor: page.next.map(|c| c.encode()),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_product(
        &self,
        req: Request<pb::GetProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        let slug = req.into_inner().slug;
        let found = store::product_by_slug(&self.pool, &slug)
            .await
            .map_err(store_error)?;
        found
            .map(|p| Response::new(product(p)))
            .ok_or_else(|| not_found("product_not_found", format!("no product `{slug}`")))
    }

    #[tracing::instrument(skip_all)]
    async fn get_variants(
        &self,
        req: Request<pb::GetVariantsRequest>,
    ) -> Result<Response<pb::GetVariantsResponse>, Status> {
        let skus = req.into_inner().skus;
        if skus.len() > MAX_SKUS {
            return Err(invalid(
                "too_many_skus",
                format!("at most {MAX_SKUS} SKUs per call"),
            ));
        }
        let facts = store::variant_facts(&self.pool, &skus)
            .await
            .map_err(store_error)?;
        Ok(Response::new(pb::GetVariantsResponse {
            variants: facts
                .into_iter()
                .map(|f| pb::Variant {
                    options: options(&f.options),
                    sku: f.sku,
                    title: f.title,
                    tax_class: f.tax_class,
                    weight_grams: f.weight_grams,
                    product_id: f.product_id.to_string(),
                    product_slug: f.product_slug,
                    product_title: f.product_title,
                    vendor_id: f.vendor_id.to_string(),
                    category_ids: f.category_ids.iter().map(|c| c.to_string()).collect(),
                    sellable: f.status == "active",
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_product_by_id(
        &self,
        req: Request<pb::GetProductByIdRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        let id = req.into_inner().id;
        let missing = || not_found("product_not_found", format!("no product `{id}`"));
        let Ok(uuid) = uuid::Uuid::parse_str(&id) else {
            return Err(missing());
        };
        let found = store::product_by_id(&self.pool, uuid)
            .await
            .map_err(store_error)?;
        found.map(|p| Response::new(product(p))).ok_or_else(missing)
    }

    #[tracing::instrument(skip_all, fields(product_id))]
    async fn update_product(
        &self,
        req: Request<pb::UpdateProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        let ctx = souk_kit::grpc::ctx(&req, "system");
        let r = req.into_inner();
        tracing::Span::current().record("product_id", r.id.as_str());
        let missing = || not_found("product_not_found", format!("no product `{}`", r.id));
        let Ok(id) = uuid::Uuid::parse_str(&r.id) else {
            return Err(missing());
        };
        let vendor = parse_id("vendor_id", &r.vendor_id)?;
        // Titles and descriptions reach order mails and shop pages.
        let title = r
            .title
            .as_deref()
            .map(|t| souk_domain::text::line(t, 200))
            .transpose()
            .map_err(|e| {
                invalid(
                    "invalid_product",
                    format!("a title has 1 to 200 characters on one line; {e}"),
                )
            })?;
        let description = r
            .description
            .as_deref()
            .map(|d| souk_domain::text::paragraphs(d, 20_000))
            .transpose()
            .map_err(|e| {
                invalid(
                    "invalid_product",
                    format!("a description has 1 to 20000 characters; {e}"),
                )
            })?;
        let status =
            match r.status.as_deref() {
                None => None,
                Some(s) => Some(souk_domain::catalog::ProductStatus::parse(s).ok_or_else(
                    || invalid("invalid_product", "status is draft, active or archived"),
                )?),
            };
        let changes = store::ProductChanges {
            title,
            description,
            status,
        };
        let updated = store::update_product(&self.pool, &ctx, id, vendor, &changes)
            .await
            .map_err(store_error)?;
        let p = updated.ok_or_else(missing)?;
        tracing::info!(actor = %ctx.actor, "product updated");
        Ok(Response::new(product(p)))
    }
}
