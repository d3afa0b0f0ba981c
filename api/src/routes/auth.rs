//! Sign-up, sign-in, token refresh and sign-out; the public keys; the caller's account; and
//! for operators the audit trail, role changes and signing key rotation.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use souk_domain::identity::Role;
use souk_proto::auth::v1 as pb;
use souk_proto::cart::v1 as cart_pb;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dto::{
    AuditEntry, AuditPage, Credentials, DisableTotp, ForgotPassword, GrantRole, Login,
    OperatorReason, Reauthenticate, RecoveryCodes, RefreshToken, Registered, ResetPassword,
    RotatedKey, Tokens, TotpCode, TotpEnrollment, Unlock, User,
};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{self, Caller, Path, Query};
use crate::identity::Principal;
use crate::state::AppState;

/// Routes anyone may call.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
        .routes(routes!(unlock))
        .routes(routes!(jwks))
        .routes(routes!(enroll_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(disable_totp))
}

/// Routes for operators (behind the operator guard).
pub fn admin_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rotate_signing_key))
        .routes(routes!(list_audit))
        .routes(routes!(grant_role))
        .routes(routes!(revoke_role))
        .routes(routes!(block_user))
        .routes(routes!(unblock_user))
}

fn auth_error(e: tonic::Status) -> ApiError {
    ApiError::from_status("auth", e)
}

/// Tokens must not be cached by anything between the client and us.
fn no_store(body: impl IntoResponse) -> Response {
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn tokens(t: pb::TokenPair) -> Result<Tokens, ApiError> {
    Ok(Tokens {
        access_token: t.access_token,
        token_type: "Bearer".into(),
        expires_in: t.expires_in,
        refresh_token: t.refresh_token,
        refresh_expires_in: t.refresh_expires_in,
        user: t
            .user
            .ok_or_else(|| ApiError::internal("auth answered tokens without a user"))?
            .into(),
        cart_id: None,
    })
}

/// Creates a customer account; sign in afterwards. The answer is the same whether or not
/// the address has an account already (its owner gets a mail saying someone tried), so it
/// tells nobody which addresses have accounts.
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = Credentials,
    responses((status = 202, body = Registered),
        (status = 422, description = "invalid_email, weak_password", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn register(
    State(s): State<AppState>,
    caller: Caller,
    extract::Json(body): extract::Json<Credentials>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    s.auth
        .clone()
        .register(caller.request(pb::RegisterRequest {
            email: body.email,
            password: body.password,
        }))
        .await
        .map_err(auth_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Registered {
            accepted: true,
            message: "We have sent a message to that address. Sign in with it and your password."
                .into(),
        }),
    ))
}

/// Signs in. A wrong password and an unknown address get the same `invalid_credentials`;
/// after repeated failures the address is locked for a while (`423 account_locked` with
/// `Retry-After`). With `cart_id`, that guest cart is merged into the customer's cart
/// (`cart_id` in the answer); a merge that fails does not fail the sign-in.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, body = Tokens),
        (status = 401, description = "invalid_credentials", body = ErrorBody),
        (status = 403, description = "account_blocked", body = ErrorBody),
        (status = 423, description = "account_locked", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn login(
    State(s): State<AppState>,
    caller: Caller,
    extract::Json(body): extract::Json<Login>,
) -> ApiResult<Response> {
    let t = s
        .auth
        .clone()
        .login(caller.request(pb::LoginRequest {
            email: body.email,
            password: body.password,
            totp_code: body.totp_code,
            recovery_code: body.recovery_code,
        }))
        .await
        .map_err(auth_error)?
        .into_inner();
    let mut answer = tokens(t)?;
    if let Some(guest) = body.cart_id.filter(|c| !c.is_empty()) {
        // Merging is a customer's act: it carries no operator powers.
        let roles = answer
            .user
            .roles
            .iter()
            .filter(|r| !matches!(r.as_str(), "staff" | "super_admin"))
            .cloned()
            .collect();
        let as_user = caller.as_user(&answer.user.id, roles);
        match s
            .cart
            .clone()
            .merge_cart(as_user.request(cart_pb::MergeCartRequest { cart_id: guest }))
            .await
        {
            Ok(cart) => answer.cart_id = Some(cart.into_inner().id),
            Err(e) => {
                let e = super::carts::cart_error(&s, &as_user)(e);
                tracing::info!(code = %e.code, "guest cart not merged at sign-in");
            }
        }
    }
    Ok(no_store(Json(answer)))
}

/// Trades a refresh token for new tokens. Each refresh token works once: presenting a used
/// one again revokes every token of that sign-in (`refresh_token_reused`).
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshToken,
    responses((status = 200, body = Tokens),
        (status = 401, description = "invalid_refresh_token, refresh_token_reused", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn refresh(
    State(s): State<AppState>,
    caller: Caller,
    extract::Json(body): extract::Json<RefreshToken>,
) -> ApiResult<Response> {
    let t = s
        .auth
        .clone()
        .refresh(caller.request(pb::RefreshRequest {
            refresh_token: body.refresh_token,
        }))
        .await
        .map_err(auth_error)?
        .into_inner();
    Ok(no_store(Json(tokens(t)?)))
}

/// Signs out: the refresh token and every token of its sign-in stop working. Access tokens
/// already issued expire on their own (minutes).
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body = RefreshToken,
    responses((status = 204)))]
#[tracing::instrument(skip_all)]
async fn logout(
    State(s): State<AppState>,
    caller: Caller,
    extract::Json(body): extract::Json<RefreshToken>,
) -> ApiResult<StatusCode> {
    s.auth
        .clone()
        .logout(caller.request(pb::LogoutRequest {
            refresh_token: body.refresh_token,
        }))
        .await
        .map_err(auth_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mails a reset link (valid for a while, once) if the address has an account. The answer
/// is the same whether or not it has one.
#[utoipa::path(post, path = "/v1/auth/forgot-password", tag = "auth", request_body = ForgotPassword,
    responses((status = 202, description = "If the address has an account, a mail is on its way"),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn forgot_password(
    State(s): State<AppState>,
    caller: Caller,
    extract::Json(body): extract::Json<ForgotPassword>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    s.auth
        .clone()
        .forgot_password(caller.request(pb::ForgotPasswordRequest { email: body.email }))
        .await
        .map_err(auth_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"accepted": true})),
    ))
}

/// Sets a new password with the token from the reset mail. Every sign-in of the account
/// ends (refresh tokens stop working).
#[utoipa::path(post, path = "/v1/auth/reset-password", tag = "auth", request_body = ResetPassword,
    responses((status = 204),
        (status = 422, description = "invalid_reset_token (unknown, used or expired), weak_password", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn reset_password(
    State(s): State<AppState>,
    caller: Caller,
    extract::Json(body): extract::Json<ResetPassword>,
) -> ApiResult<StatusCode> {
    s.auth
        .clone()
        .reset_password(caller.request(pb::ResetPasswordRequest {
            token: body.token,
            new_password: body.new_password,
        }))
        .await
        .map_err(auth_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lifts a sign-in lock with the token from the lockout mail (once, before it expires).
#[utoipa::path(post, path = "/v1/auth/unlock", tag = "auth", request_body = Unlock,
    responses((status = 204),
        (status = 422, description = "invalid_unlock_token (unknown, used or expired)", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn unlock(
    State(s): State<AppState>,
    caller: Caller,
    extract::Json(body): extract::Json<Unlock>,
) -> ApiResult<StatusCode> {
    s.auth
        .clone()
        .unlock(caller.request(pb::UnlockRequest { token: body.token }))
        .await
        .map_err(auth_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The public keys that verify access tokens (RS256), by `kid`.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "A JWK set (RFC 7517)")))]
async fn jwks(State(s): State<AppState>) -> ApiResult<Response> {
    let json = s.verifier.jwks_json().await?;
    let mut res = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(res)
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

/// A new key signs access tokens from now on. Tokens signed with the previous key keep
/// working until they expire, so nobody is signed out. Super admins only.
#[utoipa::path(post, path = "/v1/admin/auth/signing-keys/rotate", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = RotatedKey), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn rotate_signing_key(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
) -> ApiResult<Json<RotatedKey>> {
    p.require(Role::SuperAdmin)?;
    let r = s
        .auth
        .clone()
        .rotate_signing_key(caller.request(pb::RotateSigningKeyRequest {}))
        .await
        .map_err(auth_error)?
        .into_inner();
    Ok(Json(RotatedKey {
        kid: r.kid,
        retired_kids: r.retired_kids,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries about this user.
    #[param(value_type = Option<uuid::Uuid>)]
    user_id: Option<String>,
    /// Only this event (login, lockout, authorization, ...).
    #[param(value_type = Option<crate::params::OptAuditEvent>)]
    event: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The security audit trail, newest first.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", params(AuditQuery),
    security(("bearer" = [])),
    responses((status = 200, body = AuditPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn list_audit(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    if let Some(limit) = q.limit
        && !(1..=200).contains(&limit)
    {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 200",
        ));
    }
    let page = s
        .auth
        .clone()
        .list_audit(caller.request(pb::ListAuditRequest {
            user_id: q.user_id,
            event: q.event,
            limit: q.limit.unwrap_or(50),
            cursor: q.cursor.unwrap_or_default(),
        }))
        .await
        .map_err(auth_error)?
        .into_inner();
    Ok(Json(AuditPage {
        items: page
            .records
            .into_iter()
            .map(|r| AuditEntry {
                id: r.id,
                at: r.at,
                event: r.event,
                outcome: r.outcome,
                user_id: r.user_id,
                email: r.email,
                actor: r.actor,
                ip: r.ip,
                request_id: r.request_id,
                details: serde_json::from_str(&r.details_json).unwrap_or_default(),
            })
            .collect(),
        next_cursor: (!page.next_cursor.is_empty()).then_some(page.next_cursor),
    }))
}

/// Grants a role (vendor_admin needs the vendor). Takes effect at once: the user's access
/// tokens from before are refused (`token_revoked`) and the next refresh carries the role.
/// Super admins only.
#[utoipa::path(post, path = "/v1/admin/users/{id}/roles", tag = "admin", params(("id" = uuid::Uuid, Path)),
    request_body = GrantRole, security(("bearer" = [])),
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "unknown_role, vendor_required", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(user_id = %id))]
async fn grant_role(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path(id): Path<String>,
    extract::Json(body): extract::Json<GrantRole>,
) -> ApiResult<Json<User>> {
    p.require(Role::SuperAdmin)?;
    let u = s
        .auth
        .clone()
        .grant_role(caller.request(pb::RoleChange {
            user_id: id,
            role: body.role,
            // Empty is none, as everywhere in this API.
            vendor_id: body.vendor_id.filter(|v| !v.trim().is_empty()),
        }))
        .await
        .map_err(auth_error)?
        .into_inner();
    Ok(Json(u.into()))
}

/// Blocks an account: every sign-in of it ends and its access tokens are refused at once.
/// Staff may block customers and vendor admins; blocking an operator takes a super admin.
#[utoipa::path(post, path = "/v1/admin/users/{id}/block", tag = "admin", params(("id" = uuid::Uuid, Path)),
    request_body = OperatorReason, security(("bearer" = [])),
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "invalid_reason; own_account: an operator cannot block their own account", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(user_id = %id))]
async fn block_user(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path(id): Path<String>,
    extract::Json(body): extract::Json<OperatorReason>,
) -> ApiResult<Json<User>> {
    set_status(&s, &caller, &p, id, "blocked", body.reason).await
}

/// Lets a blocked account sign in again (its old tokens stay revoked).
#[utoipa::path(post, path = "/v1/admin/users/{id}/unblock", tag = "admin", params(("id" = uuid::Uuid, Path)),
    request_body = OperatorReason, security(("bearer" = [])),
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "invalid_reason", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(user_id = %id))]
async fn unblock_user(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path(id): Path<String>,
    extract::Json(body): extract::Json<OperatorReason>,
) -> ApiResult<Json<User>> {
    set_status(&s, &caller, &p, id, "active", body.reason).await
}

async fn set_status(
    s: &AppState,
    caller: &Caller,
    p: &Principal,
    id: String,
    status: &str,
    reason: String,
) -> ApiResult<Json<User>> {
    let reason = reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "invalid_reason",
            "reason must be 1 to 500 characters on one line",
        )
        .with_details(serde_json::json!({"field": "reason"})));
    }
    let target = s
        .auth
        .clone()
        .get_user(caller.request(pb::GetUserRequest {
            user_id: id.clone(),
        }))
        .await
        .map_err(auth_error)?
        .into_inner();
    if target
        .roles
        .iter()
        .any(|r| r == "staff" || r == "super_admin")
    {
        p.require(Role::SuperAdmin)?;
    }
    let u = s
        .auth
        .clone()
        .set_user_status(caller.request(pb::SetUserStatusRequest {
            user_id: id,
            status: status.to_string(),
            reason,
        }))
        .await
        .map_err(auth_error)?
        .into_inner();
    Ok(Json(u.into()))
}

/// Revokes a role. Super admins only.
#[utoipa::path(delete, path = "/v1/admin/users/{id}/roles/{role}", tag = "admin",
    params(("id" = uuid::Uuid, Path), ("role" = crate::params::RoleName, Path)), security(("bearer" = [])),
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "own_account: an operator cannot take away their own roles", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(user_id = %id))]
async fn revoke_role(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path((id, role)): Path<(String, String)>,
) -> ApiResult<Json<User>> {
    p.require(Role::SuperAdmin)?;
    let u = s
        .auth
        .clone()
        .revoke_role(caller.request(pb::RoleChange {
            user_id: id,
            role,
            vendor_id: None,
        }))
        .await
        .map_err(auth_error)?
        .into_inner();
    Ok(Json(u.into()))
}
