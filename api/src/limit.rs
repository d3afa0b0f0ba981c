//! Rate limits in Redis, shared by every API instance: GCRA (a leaky bucket that stores one
//! timestamp per key), evaluated atomically by a Lua script on Redis's clock.
//!
//! Anonymous calls are limited per client address, signed-in calls per user, and the
//! sign-in routes (`/v1/auth/...`) additionally per address with a stricter limit. A refused
//! call is `429 rate_limited` with `Retry-After`; allowed calls carry `RateLimit-Limit` and
//! `RateLimit-Remaining`. Health, metrics and docs are not limited; provider webhooks have a
//! bucket of their own. The same round trip reads the revocations of the caller's token
//! (published by the auth domain). If Redis cannot be reached, anonymous calls are let
//! through (and logged), except on the sign-in routes; those and calls with a token are
//! refused (503): a token's revocation cannot be checked.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use souk_domain::identity::{revoked_by_watermark, revoked_session_key, revoked_user_key};

use crate::error::ApiError;
use crate::extract::Caller;
use crate::identity::Principal;
use crate::state::AppState;

pub use crate::throttle::{Admission, Limiter, Quota, RateLimits, Verdict};

/// The bucket of a client address: see `souk_domain::identity::client_key`.
fn address_key(ip: &str) -> String {
    souk_domain::identity::client_key(ip)
}

fn exempt(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/readyz" | "/metrics" | "/docs" | "/openapi.json"
    )
}

fn webhook_route(path: &str) -> bool {
    path.starts_with("/v1/webhooks/")
}

fn auth_route(path: &str) -> bool {
    path.starts_with("/v1/auth/")
}

/// The middleware, after authentication (so it knows signed-in callers): rate limits, and
/// whether the caller's token was revoked (blocked, roles changed, signed out), in one Redis
/// round trip. If Redis cannot answer, anonymous calls go through, except on the sign-in
/// routes (their limits are the defence against guessing); a call with a token is refused
/// with 503 until it is back, since whether the token was revoked cannot be known.
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limiter = &state.limiter;
    let path = req.uri().path();
    if exempt(path) {
        return next.run(req).await;
    }
    let principal = req.extensions().get::<Principal>().cloned();
    let caller = Caller::of(&req);
    let ip = caller
        .client_ip
        .as_deref()
        .map(address_key)
        .unwrap_or_else(|| "unknown".into());
    let mut buckets = Vec::with_capacity(2);
    if limiter.cfg.enabled {
        match &principal {
            _ if webhook_route(path) => buckets.push(("webhook", ip.clone(), limiter.cfg.webhook)),
            Some(p) => buckets.push(("user", p.user_id().to_string(), limiter.cfg.user)),
            None => buckets.push(("ip", ip.clone(), limiter.cfg.anonymous)),
        }
        if auth_route(path) {
            buckets.push(("auth", ip, limiter.cfg.auth));
        }
    }
    let mut revocation_keys = Vec::new();
    if let Some(p) = &principal {
        revocation_keys.push(revoked_user_key(&limiter.cfg.key_prefix, p.user_id()));
        if let Some(sid) = &p.0.sid {
            revocation_keys.push(revoked_session_key(&limiter.cfg.key_prefix, sid));
        }
    }
    if buckets.is_empty() && revocation_keys.is_empty() {
        return next.run(req).await;
    }
    let admission = match limiter.admit(&buckets, &revocation_keys).await {
        Ok(a) => a,
        Err(e) => {
            metrics::counter!("souk_rate_limit_errors_total").increment(1);
            if principal.is_some() || (limiter.cfg.enabled && auth_route(path)) {
                tracing::warn!(error = %e, path, "Redis unavailable; refusing a call that needs it");
                return ApiError::unavailable(
                    "checks_unavailable",
                    "this call cannot be checked right now; try again shortly",
                )
                .with_retry_after(5)
                .into_response();
            }
            tracing::warn!(error = %e, "rate limiter unavailable; letting the call through");
            return next.run(req).await;
        }
    };
    if let Some(p) = &principal
        && (admission.session_ended || revoked_by_watermark(p.0.iat, admission.watermark))
    {
        metrics::counter!("souk_tokens_revoked_total").increment(1);
        tracing::info!(user_id = p.user_id(), path, "revoked access token refused");
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_revoked",
            "this access token was revoked: refresh it, or sign in again",
        )
        .into_response();
    }
    if let Some((i, retry_ms)) = admission.refused {
        let bucket = buckets[i].0;
        let secs = retry_ms.div_ceil(1000).max(1);
        metrics::counter!("souk_rate_limited_total", "bucket" => bucket).increment(1);
        tracing::info!(bucket, path = %req.uri().path(), retry_after = secs, "rate limited");
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; try again in {secs} s"),
        )
        .with_details(serde_json::json!({"retry_after_seconds": secs}))
        .with_retry_after(secs)
        .into_response();
    }
    let headroom = admission.headroom.map(|(i, left)| (buckets[i].2, left));
    let mut res = next.run(req).await;
    if let Some((quota, remaining)) = headroom {
        let h = res.headers_mut();
        h.insert("ratelimit-limit", HeaderValue::from(quota.limit));
        h.insert("ratelimit-remaining", HeaderValue::from(remaining));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_share_a_bucket_per_64() {
        assert_eq!(address_key("192.0.2.7"), "192.0.2.7");
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_eq!(address_key("::ffff:192.0.2.7"), "192.0.2.7");
    }
}
