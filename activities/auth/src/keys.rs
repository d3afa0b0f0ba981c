//! RS256 signing keys: generated here, stored sealed in `auth.signing_keys`, published as a
//! JWK set. The newest active key signs; a rotated-out key stays in the JWK set until every
//! token it signed has expired, so rotation logs nobody out.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use souk_domain::identity::AccessClaims;
use sqlx::{PgConnection, PgPool};
use tokio::sync::Mutex;

use super::crypto::Sealer;

/// Leeway a verifier may allow past `exp`; retired keys are published this much longer.
pub const VERIFY_LEEWAY_SECONDS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no active signing key")]
    NoActiveKey,
    #[error(transparent)]
    Open(#[from] super::crypto::OpenError),
    #[error("key generation failed")]
    Generate,
    #[error(transparent)]
    Jwt(#[from] jsonwebtoken::errors::Error),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A freshly generated key pair, ready to store.
struct Generated {
    kid: String,
    private_pem: String,
    n: String,
    e: String,
}

/// RFC 7638 thumbprint of the public key: a stable, collision-free key id.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref(),
    )
}

fn generate() -> Result<Generated, KeyError> {
    let kp = KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
    let der = kp.as_der().map_err(|_| KeyError::Generate)?;
    let private_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()));
    let public = kp.public_key();
    let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
    let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
    Ok(Generated {
        kid: thumbprint(&n, &e),
        private_pem,
        n,
        e,
    })
}

async fn insert(conn: &mut PgConnection, sealer: &Sealer) -> Result<String, KeyError> {
    // RSA key generation is CPU work (tens of ms); keep it off the async threads.
    let key = tokio::task::spawn_blocking(generate)
        .await
        .map_err(|_| KeyError::Generate)??;
    let sealed = sealer.seal(key.private_pem.as_bytes(), &key.kid);
    sqlx::query!(
        "INSERT INTO auth.signing_keys (kid, private_key_pem, public_n, public_e) VALUES ($1, $2, $3, $4)",
        key.kid,
        sealed,
        key.n,
        key.e
    )
    .execute(&mut *conn)
    .await?;
    Ok(key.kid)
}

async fn lock(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('souk.auth.signing_keys'))")
        .execute(conn)
        .await?;
    Ok(())
}

/// The active key and its id, parsed once.
type ActiveKey = (String, Arc<EncodingKey>);

/// The signing keys of one auth service.
#[derive(Clone)]
pub struct Keys {
    pool: PgPool,
    sealer: Sealer,
    cache: Arc<Mutex<Option<ActiveKey>>>,
}

/// The result of a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub kid: String,
    pub retired: Vec<String>,
}

impl Keys {
    pub fn new(pool: PgPool, sealer: Sealer) -> Self {
        Self {
            pool,
            sealer,
            cache: Arc::new(Mutex::new(None)),
        }
    }

    /// What seals this domain's secrets at rest.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// Makes sure a signing key exists (the first start generates one).
    pub async fn ensure(&self) -> Result<String, KeyError> {
        let mut tx = self.pool.begin().await?;
        lock(&mut tx).await?;
        let active = sqlx::query_scalar!(
            "SELECT kid FROM auth.signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1"
        )
        .fetch_optional(&mut *tx)
        .await?;
        let kid = match active {
            Some(kid) => kid,
            None => {
                let kid = insert(&mut tx, &self.sealer).await?;
                tracing::info!(%kid, "first signing key generated");
                kid
            }
        };
        tx.commit().await?;
        Ok(kid)
    }

    /// A new key signs from now on; the previous ones are retired and keep verifying for
    /// `token_ttl` (plus leeway), the longest any token they signed can live.
    pub async fn rotate(
        &self,
        conn: &mut PgConnection,
        token_ttl: Duration,
    ) -> Result<Rotated, KeyError> {
        lock(conn).await?;
        let kid = insert(conn, &self.sealer).await?;
        let keep = (token_ttl + Duration::seconds(VERIFY_LEEWAY_SECONDS)).num_seconds() as f64;
        let retired = sqlx::query_scalar!(
            "UPDATE auth.signing_keys
                SET retired_at = now(), verify_until = now() + make_interval(secs => $2)
              WHERE retired_at IS NULL AND kid <> $1
          RETURNING kid",
            kid,
            keep
        )
        .fetch_all(&mut *conn)
        .await?;
        Ok(Rotated { kid, retired })
    }

    /// The newest active key, read on the caller's connection (so a caller inside a
    /// transaction needs no second connection).
    async fn active(&self, conn: &mut PgConnection) -> Result<ActiveKey, KeyError> {
        let row = sqlx::query!(
            "SELECT kid, private_key_pem FROM auth.signing_keys
              WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1"
        )
        .fetch_optional(conn)
        .await?
        .ok_or(KeyError::NoActiveKey)?;
        let mut cache = self.cache.lock().await;
        if let Some((kid, key)) = cache.as_ref()
            && *kid == row.kid
        {
            return Ok((kid.clone(), key.clone()));
        }
        let pem = self.sealer.open(&row.private_key_pem, &row.kid)?;
        let key = Arc::new(EncodingKey::from_rsa_pem(&pem)?);
        *cache = Some((row.kid.clone(), key.clone()));
        Ok((row.kid, key))
    }

    /// Signs `claims` with the active key; returns the token and the key id.
    pub async fn sign(
        &self,
        conn: &mut PgConnection,
        claims: &AccessClaims,
    ) -> Result<(String, String), KeyError> {
        let (kid, key) = self.active(conn).await?;
        let header = Header {
            kid: Some(kid.clone()),
            ..Header::new(Algorithm::RS256)
        };
        let token = jsonwebtoken::encode(&header, claims, &key)?;
        Ok((token, kid))
    }

    /// The JWK set (RFC 7517) of every key whose tokens may still be valid, newest first.
    pub async fn jwks(&self) -> Result<serde_json::Value, KeyError> {
        let keys = sqlx::query!(
            "SELECT kid, public_n, public_e FROM auth.signing_keys
              WHERE verify_until IS NULL OR verify_until > now()
              ORDER BY created_at DESC"
        )
        .fetch_all(&self.pool)
        .await?;
        let keys: Vec<_> = keys
            .into_iter()
            .map(|k| {
                json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid, "n": k.public_n, "e": k.public_e})
            })
            .collect();
        Ok(json!({ "keys": keys }))
    }

    /// The private key of `kid` as PEM (operators' tooling and tests that forge tokens with a
    /// real key, for example already expired ones).
    pub async fn private_pem(&self, kid: &str) -> Result<Vec<u8>, KeyError> {
        let sealed = sqlx::query_scalar!(
            "SELECT private_key_pem FROM auth.signing_keys WHERE kid = $1",
            kid
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(KeyError::NoActiveKey)?;
        Ok(self.sealer.open(&sealed, kid)?)
    }
}
