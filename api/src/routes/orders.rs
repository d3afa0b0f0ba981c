//! Orders, for the back office (staff and super admins).

use axum::Json;
use axum::extract::State;
use souk_proto::orders::v1 as pb;
use souk_proto::payments::v1 as payments_pb;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dto::{self, money};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, Path};
use crate::state::AppState;

// The old path is deprecated for clients, not for this router.
#[allow(deprecated)]
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_order))
        .routes(routes!(get_order_at_old_path))
}

/// The same as `GET /v1/admin/orders/{order_no}`, at the path it had before the back office
/// had its own prefix; kept for clients written against it.
#[utoipa::path(get, path = "/v1/orders/{order_no}", tag = "admin", params(("order_no" = crate::params::OrderNoParam, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = dto::Order), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[deprecated = "use GET /v1/admin/orders/{order_no}"]
async fn get_order_at_old_path(
    state: State<AppState>,
    caller: Caller,
    order_no: Path<String>,
) -> ApiResult<Json<dto::Order>> {
    get_order(state, caller, order_no).await
}

/// An order with its lines, vendor sub-orders, payment (captures, refunds) and timeline.
#[utoipa::path(get, path = "/v1/admin/orders/{order_no}", tag = "admin", params(("order_no" = crate::params::OrderNoParam, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = dto::Order), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(order_no = %order_no))]
async fn get_order(
    State(s): State<AppState>,
    caller: Caller,
    Path(order_no): Path<String>,
) -> ApiResult<Json<dto::Order>> {
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
    Ok(Json(order_dto(o, payment)))
}

/// The JSON of a vendor's part of an order (the orders domain answers only that part when
/// asked with a vendor id).
pub(crate) fn vendor_order_dto(o: pb::Order) -> ApiResult<dto::VendorOrder> {
    let cur = o
        .subtotal
        .as_ref()
        .map(|m| m.currency.clone())
        .unwrap_or_default();
    let m = |x: Option<souk_proto::common::v1::Money>| money(x, &cur);
    let so = o
        .sub_orders
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("order_not_found", "no such order"))?;
    Ok(dto::VendorOrder {
        order_no: o.order_no,
        placed_at: o.placed_at,
        sub_order: dto::VendorSubOrder {
            id: so.id,
            status: so.status,
            subtotal: m(so.subtotal),
            discount: m(so.discount),
            tax: m(so.tax),
            shipping: m(so.shipping),
            total: m(so.total),
        },
        lines: o
            .lines
            .into_iter()
            .filter(|l| l.vendor_id == so.vendor_id)
            .map(|l| dto::OrderLine {
                sku: l.sku,
                title: l.title,
                vendor_id: l.vendor_id,
                quantity: l.quantity,
                unit_price: m(l.unit_price),
                line_total: m(l.line_total),
                discount: m(l.discount),
                tax: m(l.tax),
            })
            .collect(),
        shipping_address: o.shipping_address.map(|a| dto::ShippingAddress {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            postal_code: a.postal_code,
            country: a.country,
        }),
    })
}

/// The JSON of an order (with its payment, for the back office).
pub(crate) fn order_dto(o: pb::Order, payment: Option<payments_pb::Payment>) -> dto::Order {
    let cur = o
        .subtotal
        .as_ref()
        .map(|m| m.currency.clone())
        .unwrap_or_default();
    let m = |x: Option<souk_proto::common::v1::Money>| money(x, &cur);
    dto::Order {
        order_no: o.order_no,
        checkout_id: o.checkout_id,
        attempt: o.attempt,
        customer_email: o.customer_email,
        status: o.status,
        payment_status: o.payment_status,
        subtotal: m(o.subtotal),
        discount: m(o.discount),
        tax: m(o.tax),
        shipping: m(o.shipping),
        total: m(o.total),
        coupon_code: o.coupon_code,
        shipping_address: o.shipping_address.map(|a| dto::ShippingAddress {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            postal_code: a.postal_code,
            country: a.country,
        }),
        placed_at: o.placed_at,
        lines: o
            .lines
            .into_iter()
            .map(|l| dto::OrderLine {
                sku: l.sku,
                title: l.title,
                vendor_id: l.vendor_id,
                quantity: l.quantity,
                unit_price: m(l.unit_price),
                line_total: m(l.line_total),
                discount: m(l.discount),
                tax: m(l.tax),
            })
            .collect(),
        sub_orders: o
            .sub_orders
            .into_iter()
            .map(|so| dto::SubOrder {
                id: so.id,
                vendor_id: so.vendor_id,
                status: so.status,
                skus: so.skus,
                subtotal: m(so.subtotal),
                discount: m(so.discount),
                tax: m(so.tax),
                shipping: m(so.shipping),
                total: m(so.total),
            })
            .collect(),
        payment: payment.map(|p| dto::Payment {
            provider: p.provider,
            reference: p.provider_payment_id,
            status: p.status,
            amount: m(p.amount),
            captured: m(p.captured),
            refunded: m(p.refunded),
            refunds: p
                .refunds
                .into_iter()
                .map(|r| dto::Refund {
                    reference: r.reference,
                    amount: m(r.amount),
                    created_at: r.created_at,
                })
                .collect(),
        }),
        timeline: o
            .timeline
            .into_iter()
            .map(|t| dto::TimelineEntry {
                event: t.event,
                at: t.at,
                actor: t.actor,
                note: t.note,
            })
            .collect(),
    }
}
