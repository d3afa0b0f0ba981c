//! The caller's second factor: TOTP enrolment, confirmation with recovery codes, turning it off.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{self, Caller};
use crate::identity::Principal;
use crate::routes::auth::{auth_error, no_store};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use souk_proto::auth::v1 as pb;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enroll_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(disable_totp))
}

/// Starts enrolling a TOTP second factor (any account; staff and super admins must have
/// one to use the back office). Confirm it with a code from the authenticator.
#[utoipa::path(post, path = "/v1/me/mfa/totp", tag = "auth", request_body = Reauthenticate,
    security(("bearer" = [])),
    responses((status = 200, body = TotpEnrollment), (status = 401, body = ErrorBody),
        (status = 409, description = "mfa_already_enabled", body = ErrorBody),
        (status = 422, description = "invalid_password", body = ErrorBody),
        (status = 423, description = "account_locked: too many wrong passwords", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn enroll_totp(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    extract::Json(body): extract::Json<Reauthenticate>,
) -> ApiResult<Response> {
    let r = s
        .auth
        .clone()
        .enroll_totp(caller.request(pb::EnrollTotpRequest {
            user_id: p.user_id().to_string(),
            password: body.password,
        }))
        .await
        .map_err(auth_error)?
        .into_inner();
    Ok(no_store(Json(TotpEnrollment {
        otpauth_url: r.otpauth_url,
        secret: r.secret,
    })))
}

/// Confirms the second factor with a current code. Answers ten recovery codes, once. From
/// the next sign-in on, the account needs a code (`totp_code` or `recovery_code`).
#[utoipa::path(post, path = "/v1/me/mfa/totp/confirm", tag = "auth", request_body = TotpCode,
    security(("bearer" = [])),
    responses((status = 200, body = RecoveryCodes),
        (status = 422, description = "invalid_mfa_code, no_mfa_enrollment", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn confirm_totp(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    extract::Json(body): extract::Json<TotpCode>,
) -> ApiResult<Response> {
    let r = s
        .auth
        .clone()
        .confirm_totp(caller.request(pb::ConfirmTotpRequest {
            user_id: p.user_id().to_string(),
            code: body.code,
        }))
        .await
        .map_err(auth_error)?
        .into_inner();
    Ok(no_store(Json(RecoveryCodes {
        recovery_codes: r.recovery_codes,
    })))
}

/// Turns the second factor off, with a current code or a recovery code. Staff and super
/// admins cannot (`mfa_required_for_role`).
#[utoipa::path(post, path = "/v1/me/mfa/totp/disable", tag = "auth", request_body = DisableTotp,
    security(("bearer" = [])),
    responses((status = 204),
        (status = 422, description = "invalid_password, invalid_mfa_code, mfa_not_enabled, mfa_required_for_role", body = ErrorBody),
        (status = 423, description = "account_locked: too many wrong passwords", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn disable_totp(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    extract::Json(body): extract::Json<DisableTotp>,
) -> ApiResult<StatusCode> {
    s.auth
        .clone()
        .disable_totp(caller.request(pb::DisableTotpRequest {
            user_id: p.user_id().to_string(),
            totp_code: body.totp_code,
            recovery_code: body.recovery_code,
            password: body.password,
        }))
        .await
        .map_err(auth_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A TOTP second factor being enrolled.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrollment {
    /// `otpauth://totp/...`: show it as a QR code.
    pub otpauth_url: String,
    /// The same secret in base32, to type in.
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TotpCode {
    #[schema(example = "123456")]
    pub code: String,
}

/// Keep these somewhere safe: each signs in once instead of a code.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// The account's password again, before a change to how it signs in.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Reauthenticate {
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DisableTotp {
    /// The account's password again.
    pub password: String,
    #[serde(default)]
    pub totp_code: Option<String>,
    #[serde(default)]
    pub recovery_code: Option<String>,
}
