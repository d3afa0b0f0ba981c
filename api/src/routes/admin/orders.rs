//! An order as operators see it, at its path and at the deprecated old one.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, Path};
use crate::order_view::{Order, order_dto};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use souk_proto::orders::v1 as pb;
use souk_proto::payments::v1 as payments_pb;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

// The old path is deprecated for clients, not for this router.
#[allow(deprecated)]
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_order_at_old_path))
        .routes(routes!(get_order))
}

/// The same as `GET /v1/admin/orders/{order_no}`, at the path it had before the back office
/// had its own prefix; kept for clients written against it.
#[utoipa::path(get, path = "/v1/orders/{order_no}", tag = "admin", params(("order_no" = crate::params::OrderNoParam, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Order), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[deprecated = "use GET /v1/admin/orders/{order_no}"]
async fn get_order_at_old_path(
    state: State<AppState>,
    caller: Caller,
    order_no: Path<String>,
) -> ApiResult<Json<Order>> {
    get_order(state, caller, order_no).await
}

/// An order with its lines, vendor sub-orders, payment (captures, refunds) and timeline.
#[utoipa::path(get, path = "/v1/admin/orders/{order_no}", tag = "admin", params(("order_no" = crate::params::OrderNoParam, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Order), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(order_no = %order_no))]
async fn get_order(
    State(s): State<AppState>,
    caller: Caller,
    Path(order_no): Path<String>,
) -> ApiResult<Json<Order>> {
    if !souk_domain::order::is_order_no(&order_no) {
        return Err(ApiError::not_found("order_not_found", "no such order"));
    }
    let o = s
        .orders
        .clone()
        .get_order(caller.request(pb::GetOrderRequest {
            order_no,
            vendor_id: None,
        }))
        .await
        .map_err(|e| ApiError::from_status("orders", e))?
        .into_inner();
    let payment = match s
        .payments
        .clone()
        .get_payment(caller.request(payments_pb::GetPaymentRequest {
            checkout_id: o.checkout_id.clone(),
            attempt: o.attempt as u32,
        }))
        .await
    {
        Ok(p) => Some(p.into_inner()),
        Err(e) if e.code() == tonic::Code::NotFound => None,
        Err(e) => return Err(ApiError::from_status("payments", e)),
    };
    let shipments = crate::order_view::shipments(
        &s,
        &caller,
        &o.order_no,
        None,
        crate::order_view::Reader::Staff,
    )
    .await?;
    Ok(Json(order_dto(o, payment, shipments)))
}
