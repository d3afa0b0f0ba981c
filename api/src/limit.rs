//! Rate limits in Redis, shared by every API instance: GCRA (a leaky bucket that stores one
//! timestamp per key), evaluated atomically by a Lua script on Redis's clock.
//!
//! Anonymous calls are limited per client address, signed-in calls per user, and the
//! sign-in routes (`/v1/auth/...`) additionally per address with a stricter limit. A refused
//! call is `429 rate_limited` with `Retry-After`; allowed calls carry `RateLimit-Limit` and
//! `RateLimit-Remaining`. Health, metrics, docs and provider webhooks are not limited. If
//! Redis cannot be reached, calls are let through (and logged): sign-in stays protected by
//! the auth domain's lockout.

use std::sync::LazyLock;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

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
}

const GCRA: &str = r#"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local window = interval * burst
local diff = new_tat - now
if diff > window then
  return {0, diff - window, 0}
end
redis.call('SET', KEYS[1], new_tat, 'PX', diff)
return {1, 0, math.floor((window - diff) / interval)}
"#;

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(GCRA));

/// The verdict for one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub retry_after_ms: u64,
    pub remaining: u64,
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

    /// Takes one call from the bucket `key` under `quota`.
    pub async fn check(&self, bucket: &str, key: &str, quota: Quota) -> anyhow::Result<Verdict> {
        let mut conn = self.conn().await?;
        let (allowed, retry_after_ms, remaining): (i64, i64, i64) = SCRIPT
            .key(format!("{}rl:{bucket}:{key}", self.cfg.key_prefix))
            .arg(quota.interval_ms())
            .arg(quota.limit.max(1))
            .invoke_async(&mut conn)
            .await?;
        Ok(Verdict {
            allowed: allowed == 1,
            retry_after_ms: retry_after_ms.max(0) as u64,
            remaining: remaining.max(0) as u64,
        })
    }
}

/// The bucket of a client address: the address itself for IPv4, its /64 for IPv6 (one
/// subscriber usually holds a whole /64).
fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map(|v4| v4.to_string())
            .unwrap_or_default(),
        _ => ip.to_string(),
    }
}

fn exempt(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/readyz" | "/metrics" | "/docs" | "/openapi.json"
    ) || path.starts_with("/v1/webhooks/")
}

fn auth_route(path: &str) -> bool {
    path.starts_with("/v1/auth/")
}

/// The middleware: runs after authentication, so it knows signed-in callers.
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limiter = &state.limiter;
    let path = req.uri().path();
    if !limiter.cfg.enabled || exempt(path) {
        return next.run(req).await;
    }
    let caller = Caller::of(&req);
    let ip = caller
        .client_ip
        .as_deref()
        .map(address_key)
        .unwrap_or_else(|| "unknown".into());
    let mut buckets = Vec::with_capacity(2);
    match req.extensions().get::<Principal>() {
        Some(p) => buckets.push(("user", p.user_id().to_string(), limiter.cfg.user)),
        None => buckets.push(("ip", ip.clone(), limiter.cfg.anonymous)),
    }
    if auth_route(path) {
        buckets.push(("auth", ip, limiter.cfg.auth));
    }
    let mut headroom: Option<(Quota, u64)> = None;
    for (bucket, key, quota) in buckets {
        match limiter.check(bucket, &key, quota).await {
            Ok(v) if v.allowed => {
                if headroom.is_none_or(|(_, r)| v.remaining < r) {
                    headroom = Some((quota, v.remaining));
                }
            }
            Ok(v) => {
                let secs = v.retry_after_ms.div_ceil(1000).max(1);
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
            Err(e) => {
                metrics::counter!("souk_rate_limit_errors_total").increment(1);
                tracing::warn!(error = %e, "rate limiter unavailable; letting the call through");
                break;
            }
        }
    }
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
