//! Carts. The cart service validates and prices; these handlers translate HTTP.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use souk_proto::cart::v1 as pb;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dto::{AddItem, ApplyCoupon, Cart, CreateCart, MergeCart, UpdateItem};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{self, Caller, OptionalJson, Path};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_cart))
        .routes(routes!(get_cart))
        .routes(routes!(add_item))
        .routes(routes!(update_item, remove_item))
        .routes(routes!(apply_coupon, remove_coupon))
        .routes(routes!(my_cart))
        .routes(routes!(merge_cart))
}

/// The signed-in customer's current cart (the one they created or merged last).
#[utoipa::path(get, path = "/v1/me/cart", tag = "carts", security(("bearer" = [])),
    responses((status = 200, body = Cart), (status = 401, body = ErrorBody),
        (status = 404, description = "no cart yet", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn my_cart(
    State(s): State<AppState>,
    caller: Caller,
    _p: crate::identity::Principal,
) -> ApiResult<Json<Cart>> {
    let cart = s
        .cart
        .clone()
        .get_my_cart(caller.request(pb::GetMyCartRequest {}))
        .await
        .map_err(cart_error(&s, &caller))?;
    Ok(Json(cart.into_inner().into()))
}

/// Brings a guest cart to the signed-in customer: it becomes their cart, or its items are
/// added to their current cart (and the guest cart is gone). `POST /v1/auth/login` does the
/// same when given the guest cart's id.
#[utoipa::path(post, path = "/v1/me/cart/merge", tag = "carts", request_body = MergeCart,
    security(("bearer" = [])),
    responses((status = 200, body = Cart), (status = 401, body = ErrorBody),
        (status = 404, description = "no such guest cart", body = ErrorBody),
        (status = 409, description = "cart_checking_out: a checkout holds the cart until it ends; cart_checked_out: the cart was checked out", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn merge_cart(
    State(s): State<AppState>,
    caller: Caller,
    _p: crate::identity::Principal,
    extract::Json(body): extract::Json<MergeCart>,
) -> ApiResult<Json<Cart>> {
    let cart = s
        .cart
        .clone()
        .merge_cart(caller.request(pb::MergeCartRequest {
            cart_id: body.cart_id,
        }))
        .await
        .map_err(cart_error(&s, &caller))?;
    Ok(Json(cart.into_inner().into()))
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
