//! Sign-up, sign-in, token refresh, sign-out and the mailed resets and unlocks; the public
//! keys that verify tokens.

use crate::dto::User;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{self, Caller};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use souk_proto::auth::v1 as pb;
use souk_proto::cart::v1 as cart_pb;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
}

pub(crate) fn auth_error(e: tonic::Status) -> ApiError {
    ApiError::from_status("auth", e)
}

/// Tokens must not be cached by anything between the client and us.
pub(crate) fn no_store(body: impl IntoResponse) -> Response {
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

/// E-mail and password (register, sign in).
#[derive(Debug, Deserialize, ToSchema)]
pub struct Credentials {
    #[schema(example = "ann@example.com", value_type = crate::params::EmailText)]
    pub email: String,
    /// 10 to 128 characters.
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshToken {
    pub refresh_token: String,
}

/// Tokens of a sign-in. Send the access token as `Authorization: Bearer <access_token>`;
/// when it expires, trade the refresh token for new ones (each refresh token works once).
#[derive(Debug, Serialize, ToSchema)]
pub struct Tokens {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds.
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    pub user: User,
    /// The customer's cart after a guest cart given at sign-in was merged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cart_id: Option<String>,
}

/// Sign-in: e-mail, password, and optionally the guest cart to bring along.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Login {
    #[schema(example = "ann@example.com")]
    pub email: String,
    pub password: String,
    /// A cart used before signing in: it is merged into the customer's cart.
    #[serde(default)]
    pub cart_id: Option<String>,
    /// With a second factor: the code from the authenticator...
    #[serde(default)]
    pub totp_code: Option<String>,
    /// ... or one of the recovery codes (each works once).
    #[serde(default)]
    pub recovery_code: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ForgotPassword {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetPassword {
    /// The token from the reset mail.
    pub token: String,
    /// 10 to 128 characters.
    #[schema(min_length = 10, max_length = 128)]
    pub new_password: String,
}

/// The token from a lockout mail.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Unlock {
    pub token: String,
}

/// The answer to a sign-up: the same whether or not the address had an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    pub accepted: bool,
    #[schema(
        example = "We have sent a message to that address. Sign in with it and your password."
    )]
    pub message: String,
}
