//! Browsing: categories and products. A product page is composed from three domains in one
//! concurrent round: catalog (what), pricing (how much), inventory (how many).

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::State;
use souk_domain::Currency;
use souk_proto::catalog::v1 as catalog_pb;
use souk_proto::inventory::v1 as inventory_pb;
use souk_proto::pricing::v1 as pricing_pb;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dto::Money;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, Path, Query};
use crate::state::AppState;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_categories))
        .routes(routes!(list_products))
        .routes(routes!(get_product))
}

/// All categories, as a flat list linked by `parent_id`.
#[utoipa::path(get, path = "/v1/categories", tag = "catalog",
    responses((status = 200, body = CategoryList)))]
#[tracing::instrument(skip_all)]
async fn list_categories(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<CategoryList>> {
    let res = s
        .catalog
        .clone()
        .list_categories(caller.request(catalog_pb::ListCategoriesRequest {}))
        .await
        .map_err(|e| ApiError::from_status("catalog", e))?;
    Ok(Json(CategoryList {
        items: res
            .into_inner()
            .categories
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductsQuery {
    /// A category slug or id; its subcategories are included.
    #[param(value_type = Option<crate::params::OptCategoryKey>)]
    category: Option<String>,
    /// Words to look for in titles and descriptions (prefix match), at most 200 characters.
    #[param(max_length = 200)]
    q: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Currency of the prices shown (default: the store's).
    #[param(value_type = Option<crate::params::OptCurrencyCode>)]
    currency: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CurrencyQuery {
    /// Currency of the prices shown (default: the store's).
    #[param(value_type = Option<crate::params::OptCurrencyCode>)]
    currency: Option<String>,
}

fn currency(s: &AppState, c: Option<&str>) -> ApiResult<Currency> {
    match c {
        None | Some("") => Ok(s.settings.default_currency),
        Some(c) => {
            Currency::parse(c).map_err(|e| ApiError::bad_request("invalid_currency", e.to_string()))
        }
    }
}

/// Active products, newest first, keyset-paginated.
#[utoipa::path(get, path = "/v1/products", tag = "catalog", params(ProductsQuery),
    responses((status = 200, body = ProductPage),
        (status = 400, description = "bad limit, cursor or currency", body = ErrorBody),
        (status = 404, description = "unknown category", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn list_products(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<ProductsQuery>,
) -> ApiResult<Json<ProductPage>> {
    let currency = currency(&s, q.currency.as_deref())?;
    if let Some(limit) = q.limit
        && !(1..=100).contains(&limit)
    {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 100",
        ));
    }
    let page = s
        .catalog
        .clone()
        .list_products(caller.request(catalog_pb::ListProductsRequest {
            category: q.category,
            q: q.q,
            limit: q.limit.unwrap_or(20),
            cursor: q.cursor,
            ..Default::default()
        }))
        .await
        .map_err(|e| ApiError::from_status("catalog", e))?
        .into_inner();
    let items = compose(&s, &caller, page.items, currency).await?;
    Ok(Json(ProductPage {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// One active product with its variants, their prices and availability.
#[utoipa::path(get, path = "/v1/products/{slug}", tag = "catalog",
    params(("slug" = crate::params::SlugParam, Path, description = "The product's slug"), CurrencyQuery),
    responses((status = 200, body = Product), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(slug = %slug))]
async fn get_product(
    State(s): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    Query(q): Query<CurrencyQuery>,
) -> ApiResult<Json<Product>> {
    let currency = currency(&s, q.currency.as_deref())?;
    let product = s
        .catalog
        .clone()
        .get_product(caller.request(catalog_pb::GetProductRequest { slug }))
        .await
        .map_err(|e| ApiError::from_status("catalog", e))?
        .into_inner();
    let mut items = compose(&s, &caller, vec![product], currency).await?;
    items
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::internal("product vanished while composing"))
}

/// Adds prices and availability to catalog products: one pricing and one inventory call for
/// the whole page, concurrently.
async fn compose(
    s: &AppState,
    caller: &Caller,
    products: Vec<catalog_pb::Product>,
    currency: Currency,
) -> ApiResult<Vec<Product>> {
    let skus: Vec<String> = products
        .iter()
        .flat_map(|p| p.variants.iter().map(|v| v.sku.clone()))
        .collect();
    let (prices, stock) = if skus.is_empty() {
        (HashMap::new(), HashMap::new())
    } else {
        let mut pricing = s.pricing.clone();
        let mut inventory = s.inventory.clone();
        let (prices, stock) = tokio::try_join!(
            async {
                pricing
                    .get_prices(caller.request(pricing_pb::GetPricesRequest {
                        skus: skus.clone(),
                        currency: currency.to_string(),
                    }))
                    .await
                    .map_err(|e| ApiError::from_status("pricing", e))
            },
            async {
                inventory
                    .get_availability(
                        caller.request(inventory_pb::GetAvailabilityRequest { skus: skus.clone() }),
                    )
                    .await
                    .map_err(|e| ApiError::from_status("inventory", e))
            }
        )?;
        (
            prices
                .into_inner()
                .prices
                .into_iter()
                .map(|p| (p.sku.clone(), p))
                .collect::<HashMap<_, _>>(),
            stock
                .into_inner()
                .items
                .into_iter()
                .map(|a| (a.sku, a.available))
                .collect::<HashMap<_, _>>(),
        )
    };
    Ok(products
        .into_iter()
        .map(|p| Product {
            variants: p
                .variants
                .into_iter()
                .map(|v| {
                    let price = prices.get(&v.sku);
                    Variant {
                        price: price.and_then(|p| p.price.clone()).map(Money::from),
                        compare_at_price: price
                            .and_then(|p| p.compare_at_price.clone())
                            .map(Money::from),
                        available: stock.get(&v.sku).copied().unwrap_or(0).max(0),
                        options: v.options.into_iter().collect::<BTreeMap<_, _>>(),
                        sku: v.sku,
                        title: v.title,
                        tax_class: v.tax_class,
                        weight_grams: v.weight_grams,
                    }
                })
                .collect(),
            attributes: serde_json::from_str(&p.attributes_json).unwrap_or_default(),
            id: p.id,
            slug: p.slug,
            title: p.title,
            description: p.description,
            vendor_id: p.vendor_id,
            category_ids: p.category_ids,
            created_at: p.created_at,
        })
        .collect())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Category {
    pub id: String,
    pub parent_id: Option<String>,
    #[schema(example = "shirts")]
    pub slug: String,
    pub name: String,
    pub position: i32,
}

impl From<catalog_pb::Category> for Category {
    fn from(c: catalog_pb::Category) -> Self {
        Category {
            id: c.id,
            parent_id: c.parent_id,
            slug: c.slug,
            name: c.name,
            position: c.position,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryList {
    /// Every category; `parent_id` links them into a tree.
    pub items: Vec<Category>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Variant {
    #[schema(example = "AT-001-M")]
    pub sku: String,
    pub title: String,
    /// Option values, e.g. `{"size": "M"}`.
    pub options: BTreeMap<String, String>,
    pub tax_class: String,
    pub weight_grams: i32,
    /// Absent when the variant has no price in the requested currency.
    pub price: Option<Money>,
    pub compare_at_price: Option<Money>,
    /// Units that can be ordered now, over all warehouses.
    pub available: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Product {
    pub id: String,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub vendor_id: String,
    pub category_ids: Vec<String>,
    /// Free-form attributes.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    pub created_at: String,
    pub variants: Vec<Variant>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<Product>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
