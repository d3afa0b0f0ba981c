//! Who is calling. Access tokens are RS256 JWTs signed by the auth domain; they are verified
//! here against its JWK set, which is cached and fetched again when a token names a key the
//! cache does not know (a rotation). A valid token puts its [`Principal`] in the request;
//! a present but invalid one is refused with 401 whatever the route.
//!
//! Routes then authorize: [`require_operator`] guards `/v1/admin/...`; handlers check
//! roles and ownership with the `Principal` (see [`Principal::require`]). Refusals are
//! written to the auth domain's audit trail.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use souk_proto::auth::v1 as pb;

use crate::error::ApiError;
use crate::extract::Caller;
use crate::identity::{ClientIp, OperatorRolesWithheld, Principal, forbidden, invalid_token};
use crate::state::AppState;

fn client_ip(state: &AppState, req: &Request) -> Option<String> {
    if let Some(name) = &state.settings.client_ip_header
        && let Some(v) = req
            .headers()
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
        && let Some(last) = v.rsplit(',').map(str::trim).find(|s| !s.is_empty())
        && last.parse::<std::net::IpAddr>().is_ok()
    {
        return Some(last.to_string());
    }
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

/// Resolves the client address, and authenticates every request that carries
/// `Authorization: Bearer ...`.
pub async fn authenticate(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(ip) = client_ip(&state, &req) {
        req.extensions_mut().insert(ClientIp(ip));
    }
    let token = match req.headers().get(header::AUTHORIZATION) {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| invalid_token("use Authorization: Bearer <access token>"))?
            .to_string(),
        // The Temporal Web UI cannot send a token to the codec: its session cookie does.
        None if req.uri().path().starts_with(crate::identity::CODEC_PATH) => {
            match crate::identity::cookie_token(req.headers()) {
                Some(t) => t,
                None => return Ok(next.run(req).await),
            }
        }
        None => return Ok(next.run(req).await),
    };
    let token = token.as_str();
    let mut claims = state.verifier.verify(token).await.inspect_err(|e| {
        tracing::info!(code = %e.code, path = %req.uri().path(), "bearer token refused");
    })?;
    // One rule for operator powers, wherever they are used (the back office, another
    // customer's cart or checkout, the domains behind): a second-factor sign-in.
    if state.settings.require_operator_mfa
        && claims.roles.iter().any(|r| r.is_operator())
        && !claims.amr.iter().any(|m| m == "mfa")
    {
        claims.roles.retain(|r| !r.is_operator());
        req.extensions_mut().insert(OperatorRolesWithheld);
    }
    req.extensions_mut().insert(Principal(Arc::new(claims)));
    Ok(next.run(req).await)
}

/// Guards the back office: staff and super admins only.
pub async fn require_operator(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    match req.extensions().get::<Principal>() {
        None => Err(ApiError::unauthorized()),
        Some(p) if req.extensions().get::<OperatorRolesWithheld>().is_some() => {
            audit_denied(
                &state,
                &Caller::of(&req),
                Some(p.user_id()),
                serde_json::json!({"path": req.uri().path(), "method": req.method().as_str(), "reason": "mfa_required"}),
            );
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "mfa_required",
                "the back office needs a sign-in with a second factor: enrol one at /v1/me/mfa/totp, then sign in with totp_code",
            ))
        }
        Some(p) if p.is_operator() => Ok(next.run(req).await),
        Some(p) => {
            let caller = Caller::of(&req);
            audit_denied(
                &state,
                &caller,
                Some(p.user_id()),
                serde_json::json!({"path": req.uri().path(), "method": req.method().as_str(), "reason": "not_an_operator"}),
            );
            Err(forbidden())
        }
    }
}

/// Records an operator's action in the audit trail, without delaying the answer.
pub fn audit(
    state: &AppState,
    caller: &Caller,
    event: &str,
    outcome: &str,
    user_id: Option<&str>,
    details: serde_json::Value,
) {
    let mut client = state.auth.clone();
    let req = caller.request(pb::AuditEntry {
        event: event.into(),
        outcome: outcome.into(),
        user_id: user_id.map(str::to_string),
        details_json: details.to_string(),
    });
    tokio::spawn(async move {
        if let Err(e) = client.record_audit(req).await {
            tracing::error!(error = %e, "could not record an audit entry");
        }
    });
}

/// Records a refused authorization in the audit trail, without delaying the answer.
pub fn audit_denied(
    state: &AppState,
    caller: &Caller,
    user_id: Option<&str>,
    details: serde_json::Value,
) {
    tracing::warn!(user_id, details = %details, "authorization refused");
    let mut client = state.auth.clone();
    let req = caller.request(pb::AuditEntry {
        event: "authorization".into(),
        outcome: "denied".into(),
        user_id: user_id.map(str::to_string),
        details_json: details.to_string(),
    });
    tokio::spawn(async move {
        if let Err(e) = client.record_audit(req).await {
            tracing::error!(error = %e, "could not record a refused authorization");
        }
    });
}
