//! Shipments as staff see them: every vendor's, filterable by status and alert, and the same
//! actions a vendor has (pack, rates, label, hand-over, cancel lines), recorded with the staff
//! member as actor. The shipment's workflow refuses an action it is not ready for exactly as
//! it does for its vendor.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use souk_domain::shipment::ShipmentStatus;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{self, Caller, Path, Query};
use crate::identity::Principal;
use crate::routes::vendor_shipments::{
    Acting, CancelLinesBody, Label, LabelBody, LinesCancelled, ParcelBody, Rate, Shipment,
    ShipmentPage, ShipmentState, ShipmentsQuery, cancel_lines_as, get_as, label_as, list_as,
    pack_as, rates_as, ship_as,
};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_shipments))
        .routes(routes!(get_shipment))
        .routes(routes!(pack))
        .routes(routes!(rates))
        .routes(routes!(buy_label))
        .routes(routes!(ship))
        .routes(routes!(cancel_lines))
}

/// What staff are alerted to about a shipment: the names of
/// `souk_contracts::shipping::AlertKind`, for the document (the handler reads that type).
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Not packed within the fulfilment time.
    FulfilmentLate,
    /// No carrier scan within the scan timeout of the label.
    NoScan,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminShipmentsQuery {
    /// Only shipments in this status.
    #[param(value_type = Option<ShipmentState>)]
    pub status: Option<ShipmentStatus>,
    /// Only this vendor's.
    pub vendor_id: Option<uuid::Uuid>,
    /// Only shipments with an alert of this kind.
    #[param(value_type = Option<AlertKind>)]
    pub alert: Option<souk_contracts::shipping::AlertKind>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn staff(p: &Principal) -> Acting {
    Acting::Staff {
        user_id: p.user_id().to_string(),
    }
}

/// Every vendor's shipments, newest first: the stuck ones by `alert`.
#[utoipa::path(get, path = "/v1/admin/shipments", tag = "admin", params(AdminShipmentsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ShipmentPage),
        (status = 400, description = "invalid_limit, invalid_cursor, invalid_query", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn list_shipments(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<AdminShipmentsQuery>,
) -> ApiResult<Json<ShipmentPage>> {
    let alert = q.alert.map(|a| a.as_str().to_string());
    let page = ShipmentsQuery {
        status: q.status,
        limit: q.limit,
        cursor: q.cursor,
    };
    list_as(&s, &caller, q.vendor_id.map(|v| v.to_string()), page, alert)
        .await
        .map(Json)
}

/// A shipment, with the carrier's tracking events.
#[utoipa::path(get, path = "/v1/admin/shipments/{id}", tag = "admin", params(("id" = uuid::Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Shipment),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "shipment_not_found", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(shipment_id = %id))]
async fn get_shipment(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Shipment>> {
    get_as(&s, &caller, &staff(&p), &id).await.map(Json)
}

/// Packs the shipment for its vendor (`awaiting_fulfillment → packed`).
#[utoipa::path(post, path = "/v1/admin/shipments/{id}/pack", tag = "admin", params(("id" = uuid::Uuid, Path)),
    request_body = ParcelBody, security(("bearer" = [])),
    responses((status = 200, body = Shipment),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "shipment_not_found", body = ErrorBody),
        (status = 409, description = "shipment_action_refused, shipment_closed", body = ErrorBody),
        (status = 422, description = "invalid_body; invalid_weight, invalid_dimensions", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(shipment_id = %id))]
async fn pack(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path(id): Path<String>,
    extract::Json(body): extract::Json<ParcelBody>,
) -> ApiResult<Json<Shipment>> {
    pack_as(&s, &caller, &staff(&p), &id, body).await.map(Json)
}

/// The carrier's rates for the packed parcel, cheapest first.
#[utoipa::path(post, path = "/v1/admin/shipments/{id}/rates", tag = "admin", params(("id" = uuid::Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Rate>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "shipment_not_found", body = ErrorBody),
        (status = 409, description = "shipment_action_refused, shipment_closed", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(shipment_id = %id))]
async fn rates(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Rate>>> {
    rates_as(&s, &caller, &staff(&p), &id).await.map(Json)
}

/// Buys the label (`packed → label_purchased`); at most one is ever bought.
#[utoipa::path(post, path = "/v1/admin/shipments/{id}/label", tag = "admin", params(("id" = uuid::Uuid, Path)),
    request_body = LabelBody, security(("bearer" = [])),
    responses((status = 200, body = Label),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "shipment_not_found", body = ErrorBody),
        (status = 409, description = "shipment_action_refused, shipment_closed", body = ErrorBody),
        (status = 422, description = "invalid_body", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(shipment_id = %id))]
async fn buy_label(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path(id): Path<String>,
    extract::Json(body): extract::Json<LabelBody>,
) -> ApiResult<Json<Label>> {
    label_as(&s, &caller, &staff(&p), &id, body).await.map(Json)
}

/// Records that the parcel was handed to the carrier (`label_purchased → in_transit`).
#[utoipa::path(post, path = "/v1/admin/shipments/{id}/ship", tag = "admin", params(("id" = uuid::Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Shipment),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "shipment_not_found", body = ErrorBody),
        (status = 409, description = "shipment_action_refused, shipment_closed", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(shipment_id = %id))]
async fn ship(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Shipment>> {
    ship_as(&s, &caller, &staff(&p), &id).await.map(Json)
}

/// Cancels units the vendor cannot send; exactly their share is refunded, once per
/// `Idempotency-Key`. A line not in the shipment or named twice is refused (409).
#[utoipa::path(post, path = "/v1/admin/shipments/{id}/cancel-lines", tag = "admin", params(("id" = uuid::Uuid, Path), crate::params::IdempotencyKey),
    request_body = CancelLinesBody, security(("bearer" = [])),
    responses((status = 200, body = LinesCancelled),
        (status = 400, description = "idempotency_key_required, invalid_idempotency_key", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "shipment_not_found", body = ErrorBody),
        (status = 409, description = "shipment_action_refused, shipment_closed", body = ErrorBody),
        (status = 422, description = "invalid_body", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(shipment_id = %id))]
async fn cancel_lines(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    extract::Json(body): extract::Json<CancelLinesBody>,
) -> ApiResult<Json<LinesCancelled>> {
    let key = crate::params::idempotency_key(&headers)?;
    cancel_lines_as(&s, &caller, &staff(&p), &id, key, body)
        .await
        .map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_alerts_are_the_domains_kinds() {
        use souk_contracts::shipping::AlertKind as Kind;
        for (kind, named) in [
            (Kind::FulfilmentLate, AlertKind::FulfilmentLate),
            (Kind::NoScan, AlertKind::NoScan),
        ] {
            let read: AlertKind = serde_json::from_value(serde_json::json!(kind.as_str())).unwrap();
            assert!(std::mem::discriminant(&read) == std::mem::discriminant(&named));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
