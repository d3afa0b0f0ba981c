//! Provider webhooks. The body is passed on byte for byte: the signature covers it.

use axum::Json;
use axum::extract::State;
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
    OpenApiRouter::new().routes(routes!(stripe_webhook))
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
