//! The security audit trail and signing key rotation.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, Query};
use crate::identity::Principal;
use crate::routes::auth::auth_error;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use souk_domain::identity::Role;
use souk_proto::auth::v1 as pb;
use utoipa::IntoParams;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rotate_signing_key))
        .routes(routes!(list_audit))
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

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedKey {
    /// The key that signs from now on.
    pub kid: String,
    /// Keys that no longer sign but still verify until their tokens expire.
    pub retired_kids: Vec<String>,
}

/// One entry of the security audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    /// login, lockout, token_refresh, refresh_token_reuse, logout, user_registered,
    /// role_granted, role_revoked, key_rotation, authorization, ...
    pub event: String,
    /// ok, denied or failed
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
