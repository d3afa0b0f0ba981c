//! Provider webhooks. The body is passed on byte for byte: the signature covers it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use souk_proto::payments::v1 as pb;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, RawBody};
use crate::state::AppState;
use serde::Serialize;
use utoipa::ToSchema;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stripe_webhook))
        .routes(routes!(carrier_webhook))
}

/// Stripe events. The `Stripe-Signature` header is verified (HMAC, 5-minute tolerance);
/// each event is handled once; payment confirmations and failures are passed to the checkout
/// they concern.
#[utoipa::path(post, path = "/v1/webhooks/stripe", tag = "webhooks",
    params(("Stripe-Signature" = String, Header)),
    request_body(content = String, content_type = "application/json"),
    responses((status = 200, body = WebhookReceived),
        (status = 400, description = "bad or missing signature", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 429, description = "rate_limited (per sending address)", body = ErrorBody),
        (status = 503, description = "try again later", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn stripe_webhook(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<WebhookReceived>> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_signature",
                "the Stripe-Signature header is missing",
            )
        })?
        .to_string();
    let res = s
        .payments
        .clone()
        .handle_stripe_webhook(caller.request(pb::StripeWebhookRequest {
            payload: body.to_vec(),
            signature,
        }))
        .await
        .map_err(|e| {
            if e.code() == tonic::Code::InvalidArgument {
                ApiError::bad_request("invalid_signature", e.message().to_string())
            } else {
                ApiError::from_status("payments", e)
            }
        })?
        .into_inner();
    Ok(Json(WebhookReceived {
        received: true,
        event_id: res.event_id,
        duplicate: res.duplicate,
    }))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookReceived {
    pub received: bool,
    pub event_id: String,
    /// True when this event was delivered before; nothing was done again.
    pub duplicate: bool,
}

/// A carrier's tracking events (`sandbox`, or `easypost` when configured). The carrier's
/// signature is verified over the raw body (EasyPost: `X-Hmac-Signature`; the sandbox:
/// `X-Sandbox-Signature`); each event is recorded once by its id and passed to the shipment
/// it concerns, which never moves backwards on a late one. Answers at once.
#[utoipa::path(post, path = "/v1/webhooks/carriers/{carrier}", tag = "webhooks",
    params(("carrier" = String, Path, description = "the carrier the events come from", pattern = "^[a-z]{1,32}$")),
    request_body(content = String, content_type = "application/json"),
    responses((status = 200, body = CarrierEventsReceived),
        (status = 400, description = "invalid_signature (bad or missing signature) or invalid_payload (signed, but not a tracking event)", body = ErrorBody),
        (status = 404, description = "unknown_carrier: no such carrier is configured", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 429, description = "rate_limited (per sending address)", body = ErrorBody),
        (status = 503, description = "try again later (the carrier delivers again)", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(carrier = %carrier))]
async fn carrier_webhook(
    State(s): State<AppState>,
    caller: Caller,
    Path(carrier): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<CarrierEventsReceived>> {
    if carrier.is_empty() || carrier.len() > 32 || !carrier.bytes().all(|b| b.is_ascii_lowercase())
    {
        return Err(ApiError::not_found(
            "unknown_carrier",
            format!("no carrier `{carrier}`"),
        ));
    }
    let headers = headers
        .iter()
        .filter_map(|(name, value)| {
            Some(souk_proto::shipping::v1::Header {
                name: name.as_str().to_string(),
                value: value.to_str().ok()?.to_string(),
            })
        })
        .collect();
    let res = s
        .shipping
        .clone()
        .receive_webhook(caller.request(souk_proto::shipping::v1::WebhookRequest {
            carrier,
            headers,
            body: body.to_vec(),
        }))
        .await
        .map_err(|e| ApiError::from_status("shipping", e))?
        .into_inner();
    Ok(Json(CarrierEventsReceived {
        received: res.received,
        duplicates: res.duplicates,
        unknown: res.unknown,
        stale: res.stale,
    }))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CarrierEventsReceived {
    /// Tracking events recorded for the first time.
    pub received: u32,
    /// Events delivered before: nothing was done again.
    pub duplicates: u32,
    /// Events for a tracking code no shipment has.
    pub unknown: u32,
    /// Events for a shipment that moves no more (delivered, returned, cancelled): kept,
    /// ignored.
    pub stale: u32,
}
