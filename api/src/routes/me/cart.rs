//! The signed-in customer's cart, and bringing a guest cart into it.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{self, Caller};
use crate::routes::carts::{Cart, cart_error};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use souk_proto::cart::v1 as pb;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
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

#[derive(Debug, Deserialize, ToSchema)]
pub struct MergeCart {
    /// The guest cart to bring in.
    pub cart_id: String,
}
