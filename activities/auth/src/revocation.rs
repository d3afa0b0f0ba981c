//! Revocations the edge checks on every request: a user's watermark (tokens issued before it
//! are refused) and ended sign-ins. The auth domain writes them to Redis (keys named by
//! `souk_domain::identity`); the API reads them with its rate-limit call. They live as long
//! as an access token can, after which the tokens have expired anyway; Postgres keeps the
//! record, and [`republish`] writes the live ones again when the auth worker starts.

use std::time::Duration;

use redis::aio::ConnectionManager;
use souk_domain::identity::{revoked_session_key, revoked_user_key};
use sqlx::PgPool;

/// Where revocations go.
#[tonic::async_trait]
pub trait Revocations: Send + Sync {
    /// Tokens of `user_id` with an `iat` below `watermark` (Unix seconds) are refused.
    async fn revoke_user(&self, user_id: &str, watermark: i64) -> anyhow::Result<()>;
    /// Tokens of the sign-in `sid` are refused.
    async fn revoke_session(&self, sid: &str) -> anyhow::Result<()>;
}

/// Revocations in Redis, for as long as an access token lives (plus leeway).
pub struct RedisRevocations {
    redis: ConnectionManager,
    prefix: String,
    ttl: Duration,
}

impl RedisRevocations {
    pub fn new(redis: ConnectionManager, prefix: impl Into<String>, access_ttl: Duration) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
            ttl: access_ttl + Duration::from_secs(60),
        }
    }
}

/// Sets `key` to `value` unless it holds a larger number already (two revocations racing
/// keep the later watermark).
const SET_MAX: &str = r#"
local current = tonumber(redis.call('GET', KEYS[1]))
if current and current >= tonumber(ARGV[1]) then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"#;

#[tonic::async_trait]
impl Revocations for RedisRevocations {
    async fn revoke_user(&self, user_id: &str, watermark: i64) -> anyhow::Result<()> {
        let mut conn = self.redis.clone();
        let _: i64 = redis::Script::new(SET_MAX)
            .key(revoked_user_key(&self.prefix, user_id))
            .arg(watermark)
            .arg(self.ttl.as_secs())
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn revoke_session(&self, sid: &str) -> anyhow::Result<()> {
        let mut conn = self.redis.clone();
        let _: () = redis::cmd("SET")
            .arg(revoked_session_key(&self.prefix, sid))
            .arg(1)
            .arg("EX")
            .arg(self.ttl.as_secs())
            .query_async(&mut conn)
            .await?;
        Ok(())
    }
}

/// Writes every revocation that can still matter (younger than `access_ttl`) again, from
/// Postgres: Redis may have lost them (a restart without persistence, a flush).
pub async fn republish(
    pool: &PgPool,
    to: &dyn Revocations,
    access_ttl: chrono::Duration,
) -> anyhow::Result<usize> {
    let since = chrono::Utc::now() - access_ttl - chrono::Duration::seconds(60);
    let users = sqlx::query!(
        r#"SELECT id, extract(epoch FROM tokens_valid_after)::bigint AS "watermark!"
             FROM auth.users WHERE tokens_valid_after > $1"#,
        since
    )
    .fetch_all(pool)
    .await?;
    let sessions = sqlx::query_scalar!(
        "SELECT DISTINCT family_id FROM auth.refresh_tokens WHERE revoked_at > $1",
        since
    )
    .fetch_all(pool)
    .await?;
    for u in &users {
        to.revoke_user(&u.id.to_string(), u.watermark).await?;
    }
    for s in &sessions {
        to.revoke_session(&s.to_string()).await?;
    }
    Ok(users.len() + sessions.len())
}
