//! Admin routes sit behind a static bearer token from configuration, compared in constant
//! time. (Accounts, roles and JWTs replace it with the identity domain.)

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

/// Marker put in request extensions once the caller proved to be an admin.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

pub async fn require_admin(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    let expected = state.admin_token().expose_secret();
    let ok = !expected.is_empty()
        && presented.len() == expected.len()
        && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()));
    if !ok {
        tracing::warn!(path = %req.uri().path(), "admin request without a valid token");
        return Err(ApiError::unauthorized());
    }
    req.extensions_mut().insert(Admin);
    Ok(next.run(req).await)
}
