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

use std::sync::LazyLock;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

use souk_domain::identity::{revoked_by_watermark, revoked_session_key, revoked_user_key};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::Caller;
use crate::state::AppState;

/// `limit` calls per `period`, with bursts of up to `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub period: Duration,
}

impl Quota {
    pub fn per_minute(limit: u32) -> Self {
        Quota {
            limit,
            period: Duration::from_secs(60),
        }
    }

    fn interval_ms(self) -> u64 {
        (self.period.as_millis() as u64 / u64::from(self.limit.max(1))).max(1)
    }
}

#[derive(Debug, Clone)]
pub struct RateLimits {
    pub enabled: bool,
    pub redis_url: String,
    /// Prefix of the limiter's keys (`<prefix>rl:...`).
    pub key_prefix: String,
    /// Per client address, without a token.
    pub anonymous: Quota,
    /// Per user, with a token.
    pub user: Quota,
    /// Per client address on the sign-in routes (on top of the above).
    pub auth: Quota,
    /// Per client address on provider webhooks (instead of the anonymous quota).
    pub webhook: Quota,
}

/// One round trip per request: takes one call from each bucket in turn (GCRA: a leaky bucket
/// that stores one timestamp per key, on Redis's clock), stopping at the first that refuses,
/// and reads the caller's revocation marks.
///
/// KEYS: the buckets, then the caller's revocation keys (user watermark, ended sign-in), if
/// any. ARGV: the number of buckets, then each bucket's interval (ms) and burst.
/// Returns: the 1-based bucket that refused (0: none), the wait in ms, the bucket with the
/// least headroom, its remaining calls, the user's watermark ('' if none), whether the
/// sign-in was ended.
const ADMIT: &str = r#"
local buckets = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local refused, retry, tightest, remaining = 0, 0, 0, -1
for i = 1, buckets do
  local interval = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  local new_tat = tat + interval
  local window = interval * burst
  local diff = new_tat - now
  if diff > window then
    refused = i
    retry = diff - window
    break
  end
  redis.call('SET', KEYS[i], new_tat, 'PX', diff)
  local left = math.floor((window - diff) / interval)
  if remaining < 0 or left < remaining then
    remaining = left
    tightest = i
  end
end
local watermark = false
local ended = 0
if #KEYS > buckets then watermark = redis.call('GET', KEYS[buckets + 1]) end
if #KEYS > buckets + 1 then ended = redis.call('EXISTS', KEYS[buckets + 2]) end
return {refused, retry, tightest, remaining, watermark or '', ended}
"#;

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(ADMIT));

/// What Redis said about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// The index of the bucket that refused the call, and how long to wait.
    pub refused: Option<(usize, u64)>,
    /// The bucket with the least headroom, and how many calls it has left.
    pub headroom: Option<(usize, u64)>,
    /// The user's revocation watermark (Unix seconds), if one is set.
    pub watermark: Option<i64>,
    /// The caller's sign-in was ended.
    pub session_ended: bool,
}

/// The limiter: a lazily connected Redis connection and the quotas.
pub struct Limiter {
    cfg: RateLimits,
    conn: OnceCell<ConnectionManager>,
}

impl Limiter {
    pub fn new(cfg: RateLimits) -> Self {
        Self {
            cfg,
            conn: OnceCell::new(),
        }
    }

    async fn conn(&self) -> anyhow::Result<ConnectionManager> {
        let c = self
            .conn
            .get_or_try_init(|| async {
                let client = redis::Client::open(self.cfg.redis_url.as_str())?;
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(1)))
                    .set_number_of_retries(1);
                anyhow::Ok(ConnectionManager::new_with_config(client, config).await?)
            })
            .await?;
        Ok(c.clone())
    }

    /// Takes one call from each of `buckets` (in order, until one refuses) and reads the
    /// revocation marks at `revocation_keys`, in one script.
    pub async fn admit(
        &self,
        buckets: &[(&str, String, Quota)],
        revocation_keys: &[String],
    ) -> anyhow::Result<Admission> {
        let mut conn = self.conn().await?;
        let mut inv = SCRIPT.prepare_invoke();
        inv.arg(buckets.len());
        for (bucket, key, quota) in buckets {
            inv.key(format!("{}rl:{bucket}:{key}", self.cfg.key_prefix))
                .arg(quota.interval_ms())
                .arg(quota.limit.max(1));
        }
        for k in revocation_keys {
            inv.key(k);
        }
        let (refused, retry_ms, tightest, remaining, watermark, ended): (
            i64,
            i64,
            i64,
            i64,
            String,
            i64,
        ) = inv.invoke_async(&mut conn).await?;
        Ok(Admission {
            refused: (refused > 0).then(|| (refused as usize - 1, retry_ms.max(0) as u64)),
            headroom: (tightest > 0).then(|| (tightest as usize - 1, remaining.max(0) as u64)),
            watermark: watermark.parse().ok(),
            session_ended: ended == 1,
        })
    }

    /// Takes one call from the bucket `key` under `quota`.
    pub async fn check(&self, bucket: &str, key: &str, quota: Quota) -> anyhow::Result<Verdict> {
        let a = self.admit(&[(bucket, key.to_string(), quota)], &[]).await?;
        Ok(Verdict {
            allowed: a.refused.is_none(),
            retry_after_ms: a.refused.map_or(0, |r| r.1),
            remaining: a.headroom.map_or(0, |h| h.1),
        })
    }
}

/// The verdict for one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub retry_after_ms: u64,
    pub remaining: u64,
}

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

    #[test]
    fn a_quota_spreads_its_calls_over_the_period() {
        assert_eq!(Quota::per_minute(60).interval_ms(), 1_000);
        assert_eq!(Quota::per_minute(0).interval_ms(), 60_000);
    }
}
