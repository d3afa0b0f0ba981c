//! The codec endpoint: Temporal keeps Souk's payloads encrypted; staff read them decoded
//! through this endpoint, as the Temporal Web UI and CLI call a remote codec
//! (`POST {endpoint}/decode` with `{"payloads": [...]}` in protobuf JSON). Behind the back
//! office guard: staff or super admin, signed in with a second factor.
//!
//! The CLI sends the access token (`--codec-auth "Bearer ..."`); a browser running the Web UI
//! cannot, so `POST /v1/admin/codec/session` puts the caller's token in a cookie that only
//! this endpoint reads (HttpOnly, SameSite=Strict, for as long as the token lives).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use temporalio_common::protos::temporal::api::common::v1::Payload;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{self, Caller};
use crate::identity::Principal;
use crate::state::AppState;

/// Where the codec lives; the cookie is scoped to it.
pub use crate::identity::{CODEC_PATH, COOKIE, cookie_token};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(decode))
        .routes(routes!(encode))
        .routes(routes!(session))
}

/// Payloads in protobuf JSON: metadata values and data are base64. Protobuf JSON leaves an
/// empty list out (`{}`), as the Temporal CLI sends it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Payloads {
    #[serde(default, deserialize_with = "crate::dto::objects")]
    pub payloads: Vec<JsonPayload>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JsonPayload {
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, crate::params::Base64>)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    #[schema(value_type = crate::params::Base64)]
    pub data: String,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_payload", message)
}

fn from_json(p: JsonPayload) -> ApiResult<Payload> {
    let b64 = |v: &str| {
        STANDARD
            .decode(v)
            .map_err(|_| bad("payload fields are base64"))
    };
    Ok(Payload {
        metadata: p
            .metadata
            .iter()
            .map(|(k, v)| Ok((k.clone(), b64(v)?)))
            .collect::<ApiResult<_>>()?,
        data: b64(&p.data)?,
        ..Default::default()
    })
}

fn to_json(p: Payload) -> JsonPayload {
    JsonPayload {
        metadata: p
            .metadata
            .into_iter()
            .map(|(k, v)| (k, STANDARD.encode(v)))
            .collect(),
        data: STANDARD.encode(p.data),
    }
}

/// At most this many payloads per call.
const MAX_PAYLOADS: usize = 1_000;

fn convert(
    body: Payloads,
    f: impl Fn(Payload) -> Result<Payload, souk_contracts::codec::CodecError>,
) -> ApiResult<Json<Payloads>> {
    if body.payloads.len() > MAX_PAYLOADS {
        return Err(bad(format!("at most {MAX_PAYLOADS} payloads at once")));
    }
    let payloads = body
        .payloads
        .into_iter()
        .map(|p| {
            let p = from_json(p)?;
            f(p).map(to_json).map_err(|e| bad(e.to_string()))
        })
        .collect::<ApiResult<_>>()?;
    Ok(Json(Payloads { payloads }))
}

/// Decrypts payloads for the Temporal Web UI and CLI (`--codec-endpoint`). Payloads that are
/// not encrypted come back as they are.
#[utoipa::path(post, path = "/v1/admin/codec/decode", tag = "admin", request_body = Payloads,
    security(("bearer" = [])),
    responses((status = 200, body = Payloads),
        (status = 401, body = ErrorBody),
        (status = 403, description = "forbidden, mfa_required", body = ErrorBody),
        (status = 422, description = "invalid_payload: not base64, a key that is not configured, altered ciphertext", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn decode(
    State(s): State<AppState>,
    p: Principal,
    extract::Json(body): extract::Json<Payloads>,
) -> ApiResult<Json<Payloads>> {
    let n = body.payloads.len();
    let codec = s.temporal.codec().clone();
    let out = convert(body, |p| codec.decode_payload(p))?;
    tracing::info!(
        user_id = p.user_id(),
        payloads = n,
        "payloads decoded for an operator"
    );
    Ok(out)
}

/// Encrypts payloads (the Web UI encodes what an operator sends, a signal's input).
#[utoipa::path(post, path = "/v1/admin/codec/encode", tag = "admin", request_body = Payloads,
    security(("bearer" = [])),
    responses((status = 200, body = Payloads),
        (status = 401, body = ErrorBody),
        (status = 403, description = "forbidden, mfa_required", body = ErrorBody),
        (status = 422, description = "invalid_payload", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn encode(
    State(s): State<AppState>,
    extract::Json(body): extract::Json<Payloads>,
) -> ApiResult<Json<Payloads>> {
    let codec = s.temporal.codec().clone();
    convert(body, |p| codec.encode_payload(p))
}

/// Lets this browser use the codec (for the Temporal Web UI, which cannot send the token):
/// sets a cookie with the caller's access token, readable only by the codec endpoint, for as
/// long as the token lives. Recorded in the audit trail.
#[utoipa::path(post, path = "/v1/admin/codec/session", tag = "admin", security(("bearer" = [])),
    responses((status = 204, description = "the cookie is set", headers(("Set-Cookie" = String))),
        (status = 401, body = ErrorBody), (status = 403, description = "forbidden, mfa_required", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn session(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, HeaderMap)> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bearer_required",
                "start a codec session with Authorization: Bearer <access token>",
            )
        })?
        .trim();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let max_age = (p.0.exp - now).max(0);
    let secure = if s.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={token}; Path={CODEC_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    );
    let mut out = HeaderMap::new();
    out.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|_| ApiError::internal("unusable token"))?,
    );
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    crate::auth::audit(
        &s,
        &caller,
        "codec_session",
        "ok",
        Some(p.user_id()),
        serde_json::json!({"expires_in": max_age}),
    );
    Ok((StatusCode::NO_CONTENT, out))
}
