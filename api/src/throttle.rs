//! The rate-limit buckets in Redis, shared by every API instance: GCRA (a leaky bucket that
//! stores one timestamp per key), evaluated atomically by a Lua script on Redis's clock, in
//! the same round trip as the caller's token revocations. `limit` decides which buckets a
//! request counts against.

use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

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
    pub(crate) cfg: RateLimits,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_spreads_its_calls_over_the_period() {
        assert_eq!(Quota::per_minute(60).interval_ms(), 1_000);
        assert_eq!(Quota::per_minute(0).interval_ms(), 60_000);
    }
}
