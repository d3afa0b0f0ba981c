//! The API's one error type. Every failure a client sees is
//! `{"error": {"code": "...", "message": "...", "details": {...}}}` with a stable `code`.
//! 4xx say what is wrong; 5xx are opaque and their cause is logged once, here.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use tonic::Code;
use tonic_types::StatusExt;
use utoipa::ToSchema;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds, sent as `Retry-After` (rate limits, lockouts).
    pub retry_after: Option<u64>,
}

/// The error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorObject {
    /// Stable, machine-readable: `cart_not_found`, `invalid_quantity`, `coupon_rejected`...
    #[schema(example = "invalid_quantity")]
    pub code: String,
    /// For people; may change.
    pub message: String,
    /// Structured facts about the error (for example `{"available": 3}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }

    /// An unexpected failure: logged with its cause chain, opaque to the client.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }

    pub fn unavailable(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// Maps a domain service's answer. The service's `ErrorInfo.reason` becomes the code, and
    /// its metadata the details.
    pub fn from_status(service: &str, status: tonic::Status) -> Self {
        let info = status.get_error_details().error_info().cloned();
        let (reason, details) = match info {
            Some(i) => {
                let mut map = Map::new();
                let mut keys: Vec<_> = i.metadata.keys().cloned().collect();
                keys.sort();
                for k in keys {
                    let v = &i.metadata[&k];
                    let value = v
                        .parse::<i64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::from(v.clone()));
                    map.insert(k, value);
                }
                (
                    Some(i.reason),
                    (!map.is_empty()).then_some(Value::Object(map)),
                )
            }
            None => (None, None),
        };
        let message = status.message().to_string();
        let http = match (status.code(), reason.as_deref()) {
            (Code::NotFound, _) => StatusCode::NOT_FOUND,
            // Mistakes in query parameters; a webhook whose signature or body is not one.
            (
                Code::InvalidArgument,
                Some("invalid_cursor" | "invalid_query" | "invalid_signature" | "invalid_payload"),
            ) => StatusCode::BAD_REQUEST,
            (
                Code::FailedPrecondition | Code::Aborted | Code::AlreadyExists,
                Some(
                    "insufficient_stock" | "below_reserved" | "cart_busy" | "reservation_state"
                    | "cart_checking_out" | "cart_checked_out" | "version_conflict",
                ),
            ) => StatusCode::CONFLICT,
            (Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange, _) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            (Code::Aborted | Code::AlreadyExists, _) => StatusCode::CONFLICT,
            (Code::Unauthenticated, _) => StatusCode::UNAUTHORIZED,
            (Code::PermissionDenied, _) => StatusCode::FORBIDDEN,
            // A sign-in lockout: the account (or address) is locked for a while.
            (Code::ResourceExhausted, Some("account_locked")) => StatusCode::LOCKED,
            (Code::ResourceExhausted, _) => StatusCode::TOO_MANY_REQUESTS,
            (Code::Unavailable, Some(crate::breaker::CIRCUIT_OPEN)) => {
                return Self::unavailable(
                    "service_unavailable",
                    format!("the {service} service is unavailable; try again shortly"),
                )
                .with_details(serde_json::json!({"service": service, "circuit": "open"}))
                .with_retry_after(5);
            }
            // Every database connection of the domain is in use: answered at once, to retry
            // in a moment; readiness says so too (without waiting for the next health poll).
            (Code::Unavailable, Some("database_busy")) => {
                tracing::warn!(service, "domain service busy");
                return Self::unavailable(
                    "service_busy",
                    format!("the {service} service is busy; try again in a moment"),
                )
                .with_details(serde_json::json!({"service": service, "reason": "database_busy"}))
                .with_retry_after(1);
            }
            (Code::Unavailable, _) => {
                tracing::warn!(service, message = %message, "domain service unavailable");
                return Self::unavailable(
                    "service_unavailable",
                    format!("the {service} service is unavailable; try again shortly"),
                )
                .with_details(serde_json::json!({"service": service}))
                .with_retry_after(5);
            }
            (Code::DeadlineExceeded | Code::Cancelled, _) => {
                tracing::warn!(service, message = %message, "domain service timed out");
                return Self::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "service_timeout",
                    format!("the {service} service did not answer in time"),
                );
            }
            _ => {
                return Self::internal(format_args!("{service} service: {status}"));
            }
        };
        let mut err = Self::new(
            http,
            reason.as_deref().unwrap_or("invalid_request"),
            message,
        );
        err.retry_after = details
            .as_ref()
            .and_then(|d| d.get("retry_after_seconds"))
            .and_then(Value::as_u64);
        err.details = details;
        err
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        metrics::counter!("souk_api_errors_total", "code" => self.code.clone()).increment(1);
        let status = self.status;
        let retry_after = self.retry_after;
        let code_is_busy = self.code == "service_busy";
        let busy_service = self
            .details
            .as_ref()
            .and_then(|d| d["service"].as_str())
            .map(str::to_string);
        let body = ErrorBody {
            error: ErrorObject {
                code: self.code,
                message: self.message,
                details: self.details,
            },
        };
        let mut res = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        // Tell the readiness check of this API which domain ran out of connections.
        if code_is_busy && let Some(service) = busy_service {
            res.extensions_mut()
                .insert(crate::busy::BusyService(service));
        }
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"souk\""),
            );
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A call to the workflow engine failed: logged, and answered 503 `temporal_unavailable`.
pub fn temporal_error(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "workflow engine call failed");
    ApiError::unavailable(
        "temporal_unavailable",
        "the workflow engine is unavailable; try again shortly",
    )
}
