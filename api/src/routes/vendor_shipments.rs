//! A vendor's shipments: list them, read one with its tracking, and act on it (pack, ask for
//! rates, buy the label, hand it to the carrier). Actions are Updates of the shipment's workflow: one the shipment is
//! not ready for is refused (`409 shipment_action_refused`, with the reason) before anything
//! is recorded. Another vendor's shipment answers 404 and is written to the audit trail.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use souk_contracts::orders::LineUnits;
use souk_contracts::shipping::{
    CancelLinesRequest, LabelRequest, PackRequest, ShipRequest, ShipmentClient,
};
use souk_domain::shipment::{Parcel, ShipmentStatus};
use souk_proto::shipping::v1 as pb;
use temporalio_client::errors::WorkflowUpdateError;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::vendor::{VendorScope, other_vendors};
use crate::dto::Money;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{self, Caller, Path, Query};
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

/// Where a shipment is: the names of `souk_domain::shipment::ShipmentStatus`, for the
/// document (the handlers read and write that type).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentState {
    AwaitingFulfillment,
    Packed,
    LabelPurchased,
    InTransit,
    OutForDelivery,
    Delivered,
    Exception,
    ReturnedToSender,
    Cancelled,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShipmentsQuery {
    /// Only shipments in this status.
    #[param(value_type = Option<ShipmentState>)]
    pub status: Option<ShipmentStatus>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentLine {
    pub sku: String,
    pub title: String,
    pub quantity: i32,
    /// Units the vendor could not ship.
    pub cancelled: i32,
}

/// A packed parcel: grams and millimetres.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParcelBody {
    #[schema(minimum = 1, maximum = 70000)]
    #[serde(deserialize_with = "crate::dto::integer")]
    pub weight_grams: i64,
    #[schema(minimum = 1, maximum = 2700)]
    #[serde(deserialize_with = "crate::dto::integer")]
    pub length_mm: i64,
    #[schema(minimum = 1, maximum = 2700)]
    #[serde(deserialize_with = "crate::dto::integer")]
    pub width_mm: i64,
    #[schema(minimum = 1, maximum = 2700)]
    #[serde(deserialize_with = "crate::dto::integer")]
    pub height_mm: i64,
}

impl ParcelBody {
    /// The parcel, checked as the shipping domain checks it.
    fn parcel(&self) -> Result<Parcel, souk_domain::shipment::ParcelError> {
        use souk_domain::shipment::ParcelError;
        let side = |v: i64| u32::try_from(v).map_err(|_| ParcelError::Dimensions);
        let weight = u32::try_from(self.weight_grams).map_err(|_| ParcelError::Weight)?;
        Parcel::new(
            weight,
            side(self.length_mm)?,
            side(self.width_mm)?,
            side(self.height_mm)?,
        )
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrackingEvent {
    pub event_id: String,
    /// The carrier's own word for it.
    pub carrier_status: String,
    /// What it means for the shipment, if anything.
    pub status: Option<String>,
    pub at: String,
    pub location: Option<String>,
    pub message: Option<String>,
    /// applied, unchanged, stale (recorded, ignored: older than what the shipment knows), or
    /// received (not applied yet).
    pub outcome: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Shipment {
    pub id: String,
    pub order_no: String,
    #[schema(value_type = ShipmentState)]
    pub status: ShipmentStatus,
    /// Where the parcel leaves from.
    pub warehouse: String,
    pub carrier: Option<String>,
    pub tracking_code: Option<String>,
    pub tracking_url: Option<String>,
    pub label_url: Option<String>,
    pub lines: Vec<ShipmentLine>,
    pub parcel: Option<ParcelBody>,
    /// The carrier's tracking events, oldest first (in a list: none).
    pub events: Vec<TrackingEvent>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentPage {
    pub items: Vec<Shipment>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rate {
    /// What to buy the label at (`POST .../label`).
    pub id: String,
    pub carrier: String,
    pub service: String,
    pub price: Money,
    pub delivery_days: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelBody {
    /// One of the rates quoted; absent: the cheapest.
    #[schema(max_length = 200)]
    pub rate_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Label {
    pub carrier: String,
    pub service: String,
    pub price: Money,
    pub tracking_code: String,
    pub label_url: String,
    pub tracking_url: Option<String>,
}

fn state_of(s: &str) -> ApiResult<ShipmentStatus> {
    ShipmentStatus::parse(s)
        .ok_or_else(|| ApiError::internal(format!("a shipment in an unknown status `{s}`")))
}

fn shipment_dto(s: pb::Shipment) -> ApiResult<Shipment> {
    Ok(Shipment {
        status: state_of(&s.status)?,
        id: s.id,
        order_no: s.order_no,
        warehouse: s.warehouse,
        carrier: s.carrier,
        tracking_code: s.tracking_code,
        tracking_url: s.tracking_url,
        label_url: s.label_url,
        lines: s
            .lines
            .into_iter()
            .map(|l| ShipmentLine {
                sku: l.sku,
                title: l.title,
                quantity: l.quantity,
                cancelled: l.cancelled,
            })
            .collect(),
        parcel: s.parcel.map(|p| ParcelBody {
            weight_grams: p.weight_grams.into(),
            length_mm: p.length_mm.into(),
            width_mm: p.width_mm.into(),
            height_mm: p.height_mm.into(),
        }),
        events: s
            .events
            .into_iter()
            .map(|e| TrackingEvent {
                event_id: e.event_id,
                carrier_status: e.carrier_status,
                status: e.status,
                at: e.at,
                location: e.location,
                message: e.message,
                outcome: e.outcome,
            })
            .collect(),
        created_at: s.created_at,
        updated_at: s.updated_at,
    })
}

/// Who acts on a shipment: its vendor (another vendor's shipment is a 404, audited), or staff
/// (any shipment).
#[derive(Debug, Clone)]
pub(crate) enum Acting {
    Vendor(VendorScope),
    Staff { user_id: String },
}

impl Acting {
    fn vendor_id(&self) -> Option<String> {
        match self {
            Acting::Vendor(scope) => Some(scope.vendor_id.clone()),
            Acting::Staff { .. } => None,
        }
    }

    /// Who, as the shipment's history and the order's timeline record it.
    fn actor(&self) -> String {
        match self {
            Acting::Vendor(scope) => format!("user:{}", scope.user_id),
            Acting::Staff { user_id } => format!("user:{user_id}"),
        }
    }
}

/// The shipment `id` as `who` may see it; another vendor's is a 404 (and audited).
async fn own_shipment(
    s: &AppState,
    caller: &Caller,
    who: &Acting,
    id: &str,
) -> ApiResult<pb::Shipment> {
    let missing = || ApiError::not_found("shipment_not_found", "no such shipment");
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(missing());
    }
    let ask = |vendor_id: Option<String>| {
        let mut shipping = s.shipping.clone();
        let request = caller.request(pb::GetShipmentRequest {
            id: id.to_string(),
            vendor_id,
        });
        async move { shipping.get_shipment(request).await }
    };
    match ask(who.vendor_id()).await {
        Ok(found) => Ok(found.into_inner()),
        Err(e) if e.code() == tonic::Code::NotFound => match who {
            Acting::Vendor(scope) if ask(None).await.is_ok() => Err(other_vendors(
                s,
                caller,
                scope,
                serde_json::json!({"shipment_id": id}),
                missing(),
            )),
            _ => Err(missing()),
        },
        Err(e) => Err(ApiError::from_status("shipping", e)),
    }
}

fn update_error(e: WorkflowUpdateError) -> ApiError {
    match e {
        WorkflowUpdateError::Failed(failure) => ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "shipment_action_refused",
            failure.message.clone(),
        ),
        WorkflowUpdateError::NotFound(_) => ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "shipment_closed",
            "the shipment takes no more actions",
        ),
        other => {
            tracing::warn!(error = %other, "shipment update failed");
            ApiError::unavailable(
                "service_unavailable",
                "the shipment could not be reached; try again shortly",
            )
        }
    }
}

/// One page of shipments: `vendor_id`'s (all, for staff), in `status`, with an `alert`.
pub(crate) async fn list_as(
    s: &AppState,
    caller: &Caller,
    vendor_id: Option<String>,
    q: ShipmentsQuery,
    alert: Option<String>,
) -> ApiResult<ShipmentPage> {
    let limit = extract::PageQuery {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let page = s
        .shipping
        .clone()
        .list_shipments(caller.request(pb::ListShipmentsRequest {
            vendor_id: vendor_id.unwrap_or_default(),
            status: q.status.map(|st| st.as_str().to_string()),
            limit,
            cursor: q.cursor.filter(|c| !c.is_empty()),
            alert,
        }))
        .await
        .map_err(|e| ApiError::from_status("shipping", e))?
        .into_inner();
    Ok(ShipmentPage {
        items: page
            .items
            .into_iter()
            .map(shipment_dto)
            .collect::<ApiResult<_>>()?,
        next_cursor: page.next_cursor,
    })
}

pub(crate) async fn get_as(
    s: &AppState,
    caller: &Caller,
    who: &Acting,
    id: &str,
) -> ApiResult<Shipment> {
    shipment_dto(own_shipment(s, caller, who, id).await?)
}

pub(crate) async fn pack_as(
    s: &AppState,
    caller: &Caller,
    who: &Acting,
    id: &str,
    body: ParcelBody,
) -> ApiResult<Shipment> {
    let parcel = body
        .parcel()
        .map_err(|e| ApiError::unprocessable(e.code(), e.to_string()))?;
    let shipment = own_shipment(s, caller, who, id).await?;
    ShipmentClient::new(s.temporal.client().await?)
        .pack(
            &shipment.workflow_id,
            PackRequest {
                parcel,
                actor: who.actor(),
            },
        )
        .await
        .map_err(update_error)?;
    get_as(s, caller, who, id).await
}

pub(crate) async fn rates_as(
    s: &AppState,
    caller: &Caller,
    who: &Acting,
    id: &str,
) -> ApiResult<Vec<Rate>> {
    let shipment = own_shipment(s, caller, who, id).await?;
    let rates = ShipmentClient::new(s.temporal.client().await?)
        .rates(&shipment.workflow_id)
        .await
        .map_err(update_error)?;
    Ok(rates
        .into_iter()
        .map(|r| Rate {
            id: r.id,
            carrier: r.carrier,
            service: r.service,
            price: Money::from(r.price),
            delivery_days: r.delivery_days,
        })
        .collect())
}

pub(crate) async fn label_as(
    s: &AppState,
    caller: &Caller,
    who: &Acting,
    id: &str,
    body: LabelBody,
) -> ApiResult<Label> {
    if body
        .rate_id
        .as_ref()
        .is_some_and(|r| r.chars().count() > 200)
    {
        return Err(ApiError::unprocessable(
            "invalid_body",
            "rate_id has at most 200 characters",
        ));
    }
    let shipment = own_shipment(s, caller, who, id).await?;
    let label = ShipmentClient::new(s.temporal.client().await?)
        .buy_label(
            &shipment.workflow_id,
            LabelRequest {
                rate_id: body.rate_id,
                actor: who.actor(),
            },
        )
        .await
        .map_err(update_error)?;
    Ok(Label {
        carrier: label.carrier,
        service: label.service,
        price: Money::from(label.price),
        tracking_code: label.tracking_code,
        label_url: label.label_url,
        tracking_url: label.tracking_url,
    })
}

pub(crate) async fn ship_as(
    s: &AppState,
    caller: &Caller,
    who: &Acting,
    id: &str,
) -> ApiResult<Shipment> {
    let shipment = own_shipment(s, caller, who, id).await?;
    ShipmentClient::new(s.temporal.client().await?)
        .ship(&shipment.workflow_id, ShipRequest { actor: who.actor() })
        .await
        .map_err(update_error)?;
    get_as(s, caller, who, id).await
}

pub(crate) async fn cancel_lines_as(
    s: &AppState,
    caller: &Caller,
    who: &Acting,
    id: &str,
    key: String,
    body: CancelLinesBody,
) -> ApiResult<LinesCancelled> {
    let invalid = |m: &str| ApiError::unprocessable("invalid_body", m.to_string());
    let reason = body.reason.as_str();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(invalid("reason has 1 to 500 characters"));
    }
    if body.lines.is_empty() || body.lines.len() > 100 {
        return Err(invalid("lines has 1 to 100 entries"));
    }
    let mut lines = Vec::with_capacity(body.lines.len());
    for l in &body.lines {
        if !(1..=10_000).contains(&l.quantity) {
            return Err(invalid("a line's quantity is 1 to 10000"));
        }

        let sku = souk_domain::Sku::parse(&l.sku).map_err(|e| invalid(&e.to_string()))?;
        lines.push(LineUnits {
            sku,
            quantity: l.quantity as i32,
        });
    }
    let shipment = own_shipment(s, caller, who, id).await?;
    let done = ShipmentClient::new(s.temporal.client().await?)
        .cancel_lines(
            &shipment.workflow_id,
            CancelLinesRequest {
                request: key,
                lines,
                reason: reason.to_string(),
                restock: body.restock,
                actor: who.actor(),
            },
        )
        .await
        .map_err(update_error)?;
    Ok(LinesCancelled {
        refunded: Money::from(done.refunded),
        shipment: get_as(s, caller, who, id).await?,
    })
}

/// Units of one line the vendor cannot send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelLine {
    #[schema(value_type = crate::params::SkuParam)]
    pub sku: String,
    #[schema(minimum = 1, maximum = 10000)]
    #[serde(deserialize_with = "crate::dto::integer")]
    pub quantity: i64,
}

/// What to cancel, and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelLinesBody {
    /// Each line once.
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<CancelLine>,
    /// Told to the customer.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
    /// Put the units back on hand (they were not lost). Default false.
    #[serde(default)]
    pub restock: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinesCancelled {
    /// Refunded to the customer for these units: their price and shares of the order's
    /// discount, tax and shipping.
    pub refunded: Money,
    pub shipment: Shipment,
}

/// The vendor's shipments, newest first.
#[utoipa::path(get, path = "/v1/vendor/shipments", tag = "vendor", params(ShipmentsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ShipmentPage),
        (status = 400, description = "invalid_limit, invalid_cursor, invalid_query", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn list_shipments(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Query(q): Query<ShipmentsQuery>,
) -> ApiResult<Json<ShipmentPage>> {
    list_as(&s, &caller, Some(scope.vendor_id.clone()), q, None)
        .await
        .map(Json)
}

/// One of the vendor's shipments, with the carrier's tracking events.
#[utoipa::path(get, path = "/v1/vendor/shipments/{id}", tag = "vendor", params(("id" = uuid::Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Shipment),
        (status = 404, description = "shipment_not_found: no such shipment of this vendor", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(shipment_id = %id))]
async fn get_shipment(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Path(id): Path<String>,
) -> ApiResult<Json<Shipment>> {
    get_as(&s, &caller, &Acting::Vendor(scope), &id)
        .await
        .map(Json)
}

/// The vendor packed the shipment: its parcel (`awaiting_fulfillment → packed`).
#[utoipa::path(post, path = "/v1/vendor/shipments/{id}/pack", tag = "vendor", params(("id" = uuid::Uuid, Path)),
    request_body = ParcelBody, security(("bearer" = [])),
    responses((status = 200, body = Shipment),
        (status = 404, description = "shipment_not_found", body = ErrorBody),
        (status = 409, description = "shipment_action_refused (the shipment is not awaiting fulfilment, or another action runs), shipment_closed", body = ErrorBody),
        (status = 422, description = "invalid_body; invalid_weight, invalid_dimensions (the parcel a carrier takes)", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(shipment_id = %id))]
async fn pack(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Path(id): Path<String>,
    extract::Json(body): extract::Json<ParcelBody>,
) -> ApiResult<Json<Shipment>> {
    pack_as(&s, &caller, &Acting::Vendor(scope), &id, body)
        .await
        .map(Json)
}

/// The carrier's rates for the packed parcel, cheapest first.
#[utoipa::path(post, path = "/v1/vendor/shipments/{id}/rates", tag = "vendor", params(("id" = uuid::Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Rate>),
        (status = 404, description = "shipment_not_found", body = ErrorBody),
        (status = 409, description = "shipment_action_refused (not packed, or labelled already), shipment_closed", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(shipment_id = %id))]
async fn rates(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Rate>>> {
    rates_as(&s, &caller, &Acting::Vendor(scope), &id)
        .await
        .map(Json)
}

/// Buys the label at a quoted rate, or the cheapest (`packed → label_purchased`). At most one
/// label is ever bought for a shipment.
#[utoipa::path(post, path = "/v1/vendor/shipments/{id}/label", tag = "vendor", params(("id" = uuid::Uuid, Path)),
    request_body = LabelBody, security(("bearer" = [])),
    responses((status = 200, body = Label),
        (status = 404, description = "shipment_not_found", body = ErrorBody),
        (status = 409, description = "shipment_action_refused (not packed, a rate not quoted, the carrier refused), shipment_closed", body = ErrorBody),
        (status = 422, description = "invalid_body", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(shipment_id = %id))]
async fn buy_label(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Path(id): Path<String>,
    extract::Json(body): extract::Json<LabelBody>,
) -> ApiResult<Json<Label>> {
    label_as(&s, &caller, &Acting::Vendor(scope), &id, body)
        .await
        .map(Json)
}

/// The vendor handed the labelled parcel to the carrier (`label_purchased → in_transit`); the
/// customer is told it is on its way. The carrier's scans follow.
#[utoipa::path(post, path = "/v1/vendor/shipments/{id}/ship", tag = "vendor", params(("id" = uuid::Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Shipment),
        (status = 404, description = "shipment_not_found", body = ErrorBody),
        (status = 409, description = "shipment_action_refused (no label yet, or with the carrier already), shipment_closed", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(shipment_id = %id))]
async fn ship(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Path(id): Path<String>,
) -> ApiResult<Json<Shipment>> {
    ship_as(&s, &caller, &Acting::Vendor(scope), &id)
        .await
        .map(Json)
}

/// The vendor cannot send some units (lost stock): they are refunded to the customer, exactly
/// their share of what was paid, once; the customer is told. Cancelling every unit cancels the
/// shipment and the vendor's part of the order. Only before the label is bought. The same
/// `Idempotency-Key` again answers what the first request did, and cancels nothing more.
#[utoipa::path(post, path = "/v1/vendor/shipments/{id}/cancel-lines", tag = "vendor", params(("id" = uuid::Uuid, Path), crate::params::IdempotencyKey),
    request_body = CancelLinesBody, security(("bearer" = [])),
    responses((status = 200, body = LinesCancelled),
        (status = 400, description = "idempotency_key_required, invalid_idempotency_key", body = ErrorBody),
        (status = 404, description = "shipment_not_found", body = ErrorBody),
        (status = 409, description = "shipment_action_refused (labelled already, a line not in the shipment or named twice, more units than are left), shipment_closed", body = ErrorBody),
        (status = 422, description = "invalid_body (no lines, a quantity below 1, no reason)", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(shipment_id = %id))]
async fn cancel_lines(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    extract::Json(body): extract::Json<CancelLinesBody>,
) -> ApiResult<Json<LinesCancelled>> {
    let key = crate::params::idempotency_key(&headers)?;
    cancel_lines_as(&s, &caller, &Acting::Vendor(scope), &id, key, body)
        .await
        .map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_states_are_the_domains_statuses() {
        for status in ShipmentStatus::ALL {
            let named: ShipmentState =
                serde_json::from_value(serde_json::to_value(status).unwrap()).unwrap();
            assert_eq!(
                serde_json::to_value(named).unwrap(),
                serde_json::to_value(status).unwrap()
            );
        }
        let documented = [
            ShipmentState::AwaitingFulfillment,
            ShipmentState::Packed,
            ShipmentState::LabelPurchased,
            ShipmentState::InTransit,
            ShipmentState::OutForDelivery,
            ShipmentState::Delivered,
            ShipmentState::Exception,
            ShipmentState::ReturnedToSender,
            ShipmentState::Cancelled,
        ];
        assert_eq!(documented.len(), ShipmentStatus::ALL.len());
    }
}
