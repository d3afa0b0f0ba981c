//! The signed-in customer's own orders.

use axum::Json;
use axum::extract::State;
use souk_proto::orders::v1 as pb;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::audit_denied;
use crate::dto::{self, Money};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, PageQuery, Path, Query};
use crate::identity::Principal;
use crate::state::AppState;
use serde::Serialize;
use utoipa::ToSchema;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_orders))
        .routes(routes!(my_order))
}

/// The orders the signed-in customer placed, newest first.
#[utoipa::path(get, path = "/v1/me/orders", tag = "orders", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = MyOrderPage), (status = 401, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn my_orders(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<MyOrderPage>> {
    let limit = q.limit()?;
    let page = s
        .orders
        .clone()
        .list_customer_orders(caller.request(pb::ListCustomerOrdersRequest {
            customer_id: p.user_id().to_string(),
            limit,
            cursor: q.cursor,
        }))
        .await
        .map_err(|e| ApiError::from_status("orders", e))?
        .into_inner();
    Ok(Json(MyOrderPage {
        items: page
            .items
            .into_iter()
            .map(|o| MyOrderSummary {
                order_no: o.order_no,
                status: o.status,
                payment_status: o.payment_status,
                total: dto::money(o.total, ""),
                placed_at: o.placed_at,
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One of the signed-in customer's orders. Anyone else's answers 404.
#[utoipa::path(get, path = "/v1/me/orders/{order_no}", tag = "orders", params(("order_no" = crate::params::OrderNoParam, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = crate::order_view::Order), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(order_no = %order_no))]
async fn my_order(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path(order_no): Path<String>,
) -> ApiResult<Json<crate::order_view::Order>> {
    let missing = || ApiError::not_found("order_not_found", "no such order");
    if !souk_domain::order::is_order_no(&order_no) {
        return Err(missing());
    }
    let o = s
        .orders
        .clone()
        .get_order(caller.request(pb::GetOrderRequest {
            order_no: order_no.clone(),
            vendor_id: None,
        }))
        .await
        .map_err(|e| ApiError::from_status("orders", e))?
        .into_inner();
    if o.customer_id.as_deref() != Some(p.user_id()) {
        audit_denied(
            &s,
            &caller,
            Some(p.user_id()),
            serde_json::json!({"reason": "other_customer", "resource": "order", "order_no": order_no}),
        );
        return Err(missing());
    }
    let shipments = crate::order_view::shipments(
        &s,
        &caller,
        &order_no,
        None,
        crate::order_view::Reader::Customer,
    )
    .await?;
    Ok(Json(crate::order_view::order_dto(o, None, shipments)))
}

/// A customer's order in their order list.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyOrderSummary {
    pub order_no: String,
    pub status: String,
    pub payment_status: String,
    pub total: Money,
    pub placed_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyOrderPage {
    pub items: Vec<MyOrderSummary>,
    pub next_cursor: Option<String>,
}
