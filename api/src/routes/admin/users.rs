//! Accounts as operators manage them: roles, blocking and unblocking, each with a reason.

use crate::dto::User;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{self, Caller, Path};
use crate::identity::Principal;
use crate::routes::auth::auth_error;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use souk_domain::identity::Role;
use souk_proto::auth::v1 as pb;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(grant_role))
        .routes(routes!(revoke_role))
        .routes(routes!(block_user))
        .routes(routes!(unblock_user))
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

#[derive(Debug, Deserialize, ToSchema)]
pub struct GrantRole {
    #[schema(value_type = crate::params::RoleName)]
    pub role: String,
    /// Required for vendor_admin.
    #[schema(value_type = Option<crate::params::OptUuid>)]
    pub vendor_id: Option<String>,
}

/// Why an operator acts: recorded in the audit trail with who did it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorReason {
    /// 1 to 500 characters on one line.
    #[schema(
        value_type = crate::params::Line500,
        example = "card testing from this account"
    )]
    pub reason: String,
}
