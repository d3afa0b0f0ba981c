//! The vendor back office: a vendor admin manages their own vendor's products, stock and
//! orders, and nobody else's. The vendor comes from the access token (`vendor_id`), never
//! from the request. Anything of another vendor answers 404, as if it did not exist, and the
//! attempt is written to the audit trail.

use axum::Json;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use souk_domain::Sku;
use souk_domain::identity::Role;
use souk_proto::catalog::v1 as catalog_pb;
use souk_proto::inventory::v1 as inventory_pb;
use souk_proto::orders::v1 as orders_pb;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::audit_denied;
use crate::dto::{self, Money};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{self, Caller, PageQuery, Path, Query};
use crate::identity::{Principal, forbidden};
use crate::routes::admin::inventory::{SetOnHand, StockUpdated};
use crate::routes::inventory::Inventory;
use crate::state::AppState;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products))
        .routes(routes!(get_product, update_product))
        .routes(routes!(get_stock))
        .routes(routes!(set_stock))
        .routes(routes!(list_orders))
        .routes(routes!(get_order))
        .merge(super::vendor_shipments::router())
        .merge(super::returns::vendor_router())
        .merge(super::return_policy::vendor_router())
}

/// The vendor a signed-in vendor admin manages.
#[derive(Debug, Clone)]
pub struct VendorScope {
    pub vendor_id: String,
    pub user_id: String,
}

/// Guards `/v1/vendor/...`: a vendor admin with a vendor in their token.
pub async fn require_vendor_admin(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(p) = req.extensions().get::<Principal>().cloned() else {
        return Err(ApiError::unauthorized());
    };
    match (&p.0.vendor_id, p.has(Role::VendorAdmin)) {
        (Some(v), true) => {
            req.extensions_mut().insert(VendorScope {
                vendor_id: v.clone(),
                user_id: p.user_id().to_string(),
            });
            Ok(next.run(req).await)
        }
        _ => {
            audit_denied(
                &state,
                &Caller::of(&req),
                Some(p.user_id()),
                serde_json::json!({"path": req.uri().path(), "method": req.method().as_str(), "reason": "not_a_vendor_admin"}),
            );
            Err(forbidden())
        }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for VendorScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<VendorScope>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

/// Refuses access to another vendor's `resource`: audited, and answered like a miss.
pub(crate) fn other_vendors(
    s: &AppState,
    caller: &Caller,
    scope: &VendorScope,
    resource: serde_json::Value,
    not_found: ApiError,
) -> ApiError {
    audit_denied(
        s,
        caller,
        Some(&scope.user_id),
        serde_json::json!({"reason": "other_vendor", "vendor_id": scope.vendor_id, "resource": resource}),
    );
    not_found
}

fn catalog_error(e: tonic::Status) -> ApiError {
    ApiError::from_status("catalog", e)
}

/// The vendor's products, drafts and archived ones included, newest first.
#[utoipa::path(get, path = "/v1/vendor/products", tag = "vendor", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = VendorProductPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn list_products(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<VendorProductPage>> {
    let page = s
        .catalog
        .clone()
        .list_products(caller.request(catalog_pb::ListProductsRequest {
            limit: q.limit()?,
            cursor: q.cursor,
            vendor_id: Some(scope.vendor_id.clone()),
            any_status: true,
            ..Default::default()
        }))
        .await
        .map_err(catalog_error)?
        .into_inner();
    Ok(Json(VendorProductPage {
        items: page.items.into_iter().map(VendorProduct::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// The product if it is this vendor's.
async fn own_product(
    s: &AppState,
    caller: &Caller,
    scope: &VendorScope,
    id: &str,
) -> ApiResult<catalog_pb::Product> {
    let missing = || ApiError::not_found("product_not_found", format!("no product `{id}`"));
    let p = s
        .catalog
        .clone()
        .get_product_by_id(caller.request(catalog_pb::GetProductByIdRequest { id: id.into() }))
        .await
        .map_err(catalog_error)?
        .into_inner();
    if p.vendor_id != scope.vendor_id {
        return Err(other_vendors(
            s,
            caller,
            scope,
            serde_json::json!({"product_id": id}),
            missing(),
        ));
    }
    Ok(p)
}

/// One of the vendor's products.
#[utoipa::path(get, path = "/v1/vendor/products/{id}", tag = "vendor", params(("id" = uuid::Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = VendorProduct), (status = 404, description = "no such product of this vendor", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(product_id = %id))]
async fn get_product(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Path(id): Path<String>,
) -> ApiResult<Json<VendorProduct>> {
    Ok(Json(own_product(&s, &caller, &scope, &id).await?.into()))
}

/// Changes one of the vendor's products (title, description, status).
#[utoipa::path(patch, path = "/v1/vendor/products/{id}", tag = "vendor", params(("id" = uuid::Uuid, Path)),
    request_body = ProductUpdate, security(("bearer" = [])),
    responses((status = 200, body = VendorProduct),
        (status = 404, description = "no such product of this vendor", body = ErrorBody),
        (status = 422, description = "invalid_product, invalid_body", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(product_id = %id))]
async fn update_product(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Path(id): Path<String>,
    extract::Json(body): extract::Json<ProductUpdate>,
) -> ApiResult<Json<VendorProduct>> {
    own_product(&s, &caller, &scope, &id).await?;
    // The catalog checks the vendor again in the same statement that writes.
    let p = s
        .catalog
        .clone()
        .update_product(caller.request(catalog_pb::UpdateProductRequest {
            id,
            vendor_id: scope.vendor_id.clone(),
            title: body.title,
            description: body.description,
            status: body.status,
        }))
        .await
        .map_err(catalog_error)?
        .into_inner();
    Ok(Json(p.into()))
}

/// The SKU if it is a variant of this vendor's.
async fn own_sku(s: &AppState, caller: &Caller, scope: &VendorScope, sku: &str) -> ApiResult<Sku> {
    let sku = Sku::parse(sku).map_err(|e| ApiError::unprocessable("invalid_sku", e.to_string()))?;
    let missing = || ApiError::not_found("unknown_sku", format!("SKU {sku} does not exist"));
    let variants = s
        .catalog
        .clone()
        .get_variants(caller.request(catalog_pb::GetVariantsRequest {
            skus: vec![sku.to_string()],
        }))
        .await
        .map_err(catalog_error)?
        .into_inner()
        .variants;
    match variants.first() {
        None => Err(missing()),
        Some(v) if v.vendor_id != scope.vendor_id => Err(other_vendors(
            s,
            caller,
            scope,
            serde_json::json!({"sku": sku.as_str()}),
            missing(),
        )),
        Some(_) => Ok(sku),
    }
}

/// Stock of one of the vendor's SKUs, per warehouse.
#[utoipa::path(get, path = "/v1/vendor/inventory/{sku}", tag = "vendor", params(("sku" = crate::params::SkuParam, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Inventory), (status = 404, description = "no such SKU of this vendor", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(sku = %sku))]
async fn get_stock(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Path(sku): Path<String>,
) -> ApiResult<Json<Inventory>> {
    let sku = own_sku(&s, &caller, &scope, &sku).await?;
    let stock = s
        .inventory
        .clone()
        .get_stock(caller.request(inventory_pb::GetStockRequest {
            sku: sku.to_string(),
        }))
        .await
        .map_err(|e| ApiError::from_status("inventory", e))?
        .into_inner();
    Ok(Json(stock.into()))
}

/// Sets the units on hand of one of the vendor's SKUs in a warehouse (a stock count).
#[utoipa::path(put, path = "/v1/vendor/inventory/{sku}/{warehouse}", tag = "vendor",
    params(("sku" = crate::params::SkuParam, Path), ("warehouse" = crate::params::WarehouseParam, Path)), request_body = SetOnHand,
    security(("bearer" = [])),
    responses((status = 200, body = StockUpdated),
        (status = 404, description = "no such SKU of this vendor, or warehouse", body = ErrorBody),
        (status = 409, description = "below what is reserved", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(sku = %sku, warehouse = %warehouse))]
async fn set_stock(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Path((sku, warehouse)): Path<(String, String)>,
    extract::Json(body): extract::Json<SetOnHand>,
) -> ApiResult<Json<StockUpdated>> {
    let sku = own_sku(&s, &caller, &scope, &sku).await?;
    super::admin::inventory::set_on_hand_checked(&s, &caller, &sku, warehouse, body.on_hand).await
}

/// The vendor's orders (its sub-orders), newest first.
#[utoipa::path(get, path = "/v1/vendor/orders", tag = "vendor", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = VendorOrderPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn list_orders(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<VendorOrderPage>> {
    let page = s
        .orders
        .clone()
        .list_vendor_orders(caller.request(orders_pb::ListVendorOrdersRequest {
            vendor_id: scope.vendor_id.clone(),
            limit: q.limit()?,
            cursor: q.cursor,
        }))
        .await
        .map_err(|e| ApiError::from_status("orders", e))?
        .into_inner();
    Ok(Json(VendorOrderPage {
        items: page
            .items
            .into_iter()
            .map(|o| VendorOrderSummary {
                order_no: o.order_no,
                sub_order_id: o.sub_order_id,
                status: o.status,
                total: dto::money(o.total, ""),
                units: o.units,
                placed_at: o.placed_at,
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// The vendor's part of an order: its lines and sub-order, the shipping address. Nothing of
/// the customer's checkout, payment or e-mail.
#[utoipa::path(get, path = "/v1/vendor/orders/{order_no}", tag = "vendor", params(("order_no" = crate::params::OrderNoParam, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = crate::order_view::VendorOrder), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no order with a part of this vendor", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(order_no = %order_no))]
async fn get_order(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Path(order_no): Path<String>,
) -> ApiResult<Json<crate::order_view::VendorOrder>> {
    let missing = || ApiError::not_found("order_not_found", "no such order");
    if !souk_domain::order::is_order_no(&order_no) {
        return Err(missing());
    }
    let found = s
        .orders
        .clone()
        .get_order(caller.request(orders_pb::GetOrderRequest {
            order_no: order_no.clone(),
            vendor_id: Some(scope.vendor_id.clone()),
        }))
        .await;
    match found {
        Ok(o) => {
            let shipments = crate::order_view::shipments(
                &s,
                &caller,
                &order_no,
                Some(scope.vendor_id.clone()),
                crate::order_view::Reader::Vendor,
            )
            .await?;
            Ok(Json(crate::order_view::vendor_order_dto(
                o.into_inner(),
                shipments,
            )?))
        }
        Err(e) if e.code() == tonic::Code::NotFound => {
            // Someone else's order, or none at all? Only the first is worth an audit entry.
            let exists = s
                .orders
                .clone()
                .get_order(caller.request(orders_pb::GetOrderRequest {
                    order_no: order_no.clone(),
                    vendor_id: None,
                }))
                .await
                .is_ok();
            if exists {
                Err(other_vendors(
                    &s,
                    &caller,
                    &scope,
                    serde_json::json!({"order_no": order_no}),
                    missing(),
                ))
            } else {
                Err(missing())
            }
        }
        Err(e) => Err(ApiError::from_status("orders", e)),
    }
}

/// A product as its vendor manages it (any status).
#[derive(Debug, Serialize, ToSchema)]
pub struct VendorProduct {
    pub id: String,
    pub slug: String,
    pub title: String,
    pub description: String,
    /// draft, active or archived
    pub status: String,
    pub skus: Vec<String>,
    pub created_at: String,
}

impl From<catalog_pb::Product> for VendorProduct {
    fn from(p: catalog_pb::Product) -> Self {
        VendorProduct {
            id: p.id,
            slug: p.slug,
            title: p.title,
            description: p.description,
            status: p.status,
            skus: p.variants.into_iter().map(|v| v.sku).collect(),
            created_at: p.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorProductPage {
    pub items: Vec<VendorProduct>,
    pub next_cursor: Option<String>,
}

/// Changes to a product; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductUpdate {
    #[schema(value_type = Option<crate::params::Line200>)]
    pub title: Option<String>,
    #[schema(value_type = Option<crate::params::Paragraphs20000>)]
    pub description: Option<String>,
    #[schema(value_type = Option<crate::params::ProductStatusName>)]
    pub status: Option<String>,
}

/// A vendor's part of an order, in the vendor's order list.
#[derive(Debug, Serialize, ToSchema)]
pub struct VendorOrderSummary {
    pub order_no: String,
    pub sub_order_id: String,
    /// The sub-order's status.
    pub status: String,
    pub total: Money,
    pub units: i64,
    pub placed_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorOrderPage {
    pub items: Vec<VendorOrderSummary>,
    pub next_cursor: Option<String>,
}
