//! Carts. The cart service validates and prices; these handlers translate HTTP.

use crate::dto::{Money, money};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{self, Caller, OptionalJson, Path};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use souk_proto::cart::v1 as pb;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_cart))
        .routes(routes!(get_cart))
        .routes(routes!(add_item))
        .routes(routes!(update_item, remove_item))
        .routes(routes!(apply_coupon, remove_coupon))
}

/// Maps the cart service's answer. Another customer's cart is answered like a missing one,
/// and the attempt is recorded in the audit trail.
pub(crate) fn cart_error<'a>(
    s: &'a AppState,
    caller: &'a Caller,
) -> impl Fn(tonic::Status) -> ApiError + 'a {
    move |e| {
        let err = ApiError::from_status("cart", e);
        if err.code == "cart_not_owned" {
            crate::auth::audit_denied(
                s,
                caller,
                caller.user_id(),
                serde_json::json!({"reason": "other_customer", "resource": "cart"}),
            );
            return ApiError::not_found("cart_not_found", "cart not found or expired");
        }
        err
    }
}

/// Starts an empty cart. The id is unguessable: it is the cart's only key, keep it private.
#[utoipa::path(post, path = "/v1/carts", tag = "carts", request_body(content = Option<CreateCart>, description = "Optional: an empty body takes the defaults"),
    responses((status = 201, body = Cart, headers(("Location" = String))),
        (status = 422, description = "unknown currency or a country we do not ship to", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn create_cart(
    State(s): State<AppState>,
    caller: Caller,
    OptionalJson(body): OptionalJson<CreateCart>,
) -> ApiResult<(StatusCode, HeaderMap, Json<Cart>)> {
    let cart = s
        .cart
        .clone()
        .create_cart(caller.request(pb::CreateCartRequest {
            currency: body.currency,
            country: body.country,
        }))
        .await
        .map_err(cart_error(&s, &caller))?
        .into_inner();
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/carts/{}", cart.id)) {
        headers.insert(header::LOCATION, v);
    }
    Ok((StatusCode::CREATED, headers, Json(cart.into())))
}

/// A cart, priced now.
#[utoipa::path(get, path = "/v1/carts/{id}", tag = "carts", params(("id" = String, Path)),
    responses((status = 200, body = Cart), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(cart_id = %id))]
async fn get_cart(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Cart>> {
    let cart = s
        .cart
        .clone()
        .get_cart(caller.request(pb::GetCartRequest {
            cart_id: id,
            destination: None,
        }))
        .await
        .map_err(cart_error(&s, &caller))?;
    Ok(Json(cart.into_inner().into()))
}

/// Adds an item, or more of an item already in the cart.
#[utoipa::path(post, path = "/v1/carts/{id}/items", tag = "carts", params(("id" = String, Path)),
    request_body = AddItem,
    responses((status = 200, body = Cart),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 404, description = "cart not found", body = ErrorBody),
        (status = 409, description = "insufficient_stock; cart_checking_out: a checkout holds the cart until it ends; cart_checked_out: the cart was bought", body = ErrorBody),
        (status = 422, description = "invalid quantity or SKU, unknown SKU, no price", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(cart_id = %id))]
async fn add_item(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    extract::Json(body): extract::Json<AddItem>,
) -> ApiResult<Json<Cart>> {
    let cart = s
        .cart
        .clone()
        .add_item(caller.request(pb::AddItemRequest {
            cart_id: id,
            sku: body.sku,
            quantity: body.quantity,
        }))
        .await
        .map_err(cart_error(&s, &caller))?;
    Ok(Json(cart.into_inner().into()))
}

/// Sets the quantity of an item in the cart.
#[utoipa::path(patch, path = "/v1/carts/{id}/items/{sku}", tag = "carts",
    params(("id" = String, Path), ("sku" = crate::params::SkuParam, Path)), request_body = UpdateItem,
    responses((status = 200, body = Cart),
        (status = 404, description = "cart or item not found", body = ErrorBody),
        (status = 409, description = "insufficient_stock; cart_checking_out: a checkout holds the cart until it ends; cart_checked_out: the cart was bought", body = ErrorBody),
        (status = 422, description = "invalid quantity", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(cart_id = %id, sku = %sku))]
async fn update_item(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, sku)): Path<(String, String)>,
    extract::Json(body): extract::Json<UpdateItem>,
) -> ApiResult<Json<Cart>> {
    let cart = s
        .cart
        .clone()
        .update_item(caller.request(pb::UpdateItemRequest {
            cart_id: id,
            sku,
            quantity: body.quantity,
        }))
        .await
        .map_err(cart_error(&s, &caller))?;
    Ok(Json(cart.into_inner().into()))
}

/// Removes an item from the cart.
#[utoipa::path(delete, path = "/v1/carts/{id}/items/{sku}", tag = "carts",
    params(("id" = String, Path), ("sku" = crate::params::SkuParam, Path)),
    responses((status = 200, body = Cart), (status = 404, description = "cart or item not found", body = ErrorBody),
        (status = 409, description = "cart_checking_out: a checkout holds the cart until it ends; cart_checked_out: the cart was checked out", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(cart_id = %id, sku = %sku))]
async fn remove_item(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, sku)): Path<(String, String)>,
) -> ApiResult<Json<Cart>> {
    let cart = s
        .cart
        .clone()
        .remove_item(caller.request(pb::RemoveItemRequest { cart_id: id, sku }))
        .await
        .map_err(cart_error(&s, &caller))?;
    Ok(Json(cart.into_inner().into()))
}

/// Applies a coupon. If it does not apply now, nothing changes and the error says why
/// (`details.reason`: expired, below_minimum, limit_reached, not_applicable, ...).
#[utoipa::path(post, path = "/v1/carts/{id}/coupon", tag = "carts", params(("id" = String, Path)),
    request_body = ApplyCoupon,
    responses((status = 200, body = Cart),
        (status = 404, description = "cart not found", body = ErrorBody),
        (status = 409, description = "cart_checking_out: a checkout holds the cart until it ends; cart_checked_out: the cart was checked out", body = ErrorBody),
        (status = 422, description = "unknown_coupon, or coupon_rejected with a reason", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(cart_id = %id))]
async fn apply_coupon(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    extract::Json(body): extract::Json<ApplyCoupon>,
) -> ApiResult<Json<Cart>> {
    let cart = s
        .cart
        .clone()
        .apply_coupon(caller.request(pb::ApplyCouponRequest {
            cart_id: id,
            code: body.code,
        }))
        .await
        .map_err(cart_error(&s, &caller))?;
    Ok(Json(cart.into_inner().into()))
}

/// Removes the coupon, if any.
#[utoipa::path(delete, path = "/v1/carts/{id}/coupon", tag = "carts", params(("id" = String, Path)),
    responses((status = 200, body = Cart), (status = 404, body = ErrorBody),
        (status = 409, description = "cart_checking_out: a checkout holds the cart until it ends; cart_checked_out: the cart was checked out", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(cart_id = %id))]
async fn remove_coupon(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Cart>> {
    let cart = s
        .cart
        .clone()
        .remove_coupon(caller.request(pb::RemoveCouponRequest { cart_id: id }))
        .await
        .map_err(cart_error(&s, &caller))?;
    Ok(Json(cart.into_inner().into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CartItem {
    pub sku: String,
    pub title: String,
    pub product_slug: String,
    pub vendor_id: String,
    pub quantity: i64,
    /// The current unit price.
    pub unit_price: Money,
    /// The unit price when the item was added; differs from `unit_price` if the price changed.
    pub added_unit_price: Money,
    pub line_total: Money,
    pub discount: Money,
    pub tax: Money,
    /// False when the item can no longer be bought; it is left out of the totals.
    pub available: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CartCoupon {
    pub code: String,
    /// Whether the coupon applies now (the cart may have changed since it was applied).
    pub applied: bool,
    /// Why it does not apply: expired, below_minimum, limit_reached, ...
    pub reason: Option<String>,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Cart {
    pub id: String,
    pub currency: String,
    pub country: String,
    pub items: Vec<CartItem>,
    pub coupon: Option<CartCoupon>,
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub shipping: Money,
    pub total: Money,
    pub created_at: String,
    pub updated_at: String,
    /// The cart is deleted if left untouched until then.
    pub expires_at: String,
    /// The customer it belongs to; absent for a guest cart (anyone with its id may use it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// The checkout holding the cart: while it runs the cart cannot change (409
    /// `cart_checking_out`); once completed, the cart was bought (409 `cart_checked_out`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkout: Option<CartCheckout>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CartCheckout {
    pub checkout_id: String,
    /// running or completed
    pub state: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCart {
    /// ISO 4217; defaults to the store's currency.
    #[schema(value_type = Option<crate::params::OptCurrencyCode>)]
    pub currency: Option<String>,
    /// ISO 3166-1 alpha-2 shipping destination; defaults to US.
    #[schema(value_type = Option<crate::params::OptCountryText>)]
    pub country: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    #[schema(value_type = crate::params::SkuParam)]
    pub sku: String,
    /// 1 to 999.
    #[schema(example = 2, minimum = 1, maximum = 999)]
    #[serde(deserialize_with = "crate::dto::integer")]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateItem {
    /// 1 to 999. Remove an item with DELETE.
    #[schema(example = 3, minimum = 1, maximum = 999)]
    #[serde(deserialize_with = "crate::dto::integer")]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyCoupon {
    #[schema(example = "WELCOME10")]
    pub code: String,
}

impl From<pb::Cart> for Cart {
    fn from(c: pb::Cart) -> Self {
        let cur = c.currency.clone();
        Cart {
            items: c
                .items
                .into_iter()
                .map(|l| CartItem {
                    sku: l.sku,
                    title: l.title,
                    product_slug: l.product_slug,
                    vendor_id: l.vendor_id,
                    quantity: l.quantity,
                    unit_price: money(l.unit_price, &cur),
                    added_unit_price: money(l.added_unit_price, &cur),
                    line_total: money(l.line_total, &cur),
                    discount: money(l.discount, &cur),
                    tax: money(l.tax, &cur),
                    available: l.available,
                })
                .collect(),
            coupon: c.coupon.map(|k| CartCoupon {
                code: k.code,
                applied: k.applied,
                reason: k.reason,
                description: k.description,
            }),
            subtotal: money(c.subtotal, &cur),
            discount: money(c.discount, &cur),
            tax: money(c.tax, &cur),
            shipping: money(c.shipping, &cur),
            total: money(c.total, &cur),
            id: c.id,
            currency: c.currency,
            country: c.country,
            created_at: c.created_at,
            updated_at: c.updated_at,
            expires_at: c.expires_at,
            owner_id: c.owner_id,
            checkout: c.checkout_id.map(|checkout_id| CartCheckout {
                checkout_id,
                state: c.checkout_state.unwrap_or_default(),
            }),
        }
    }
}
