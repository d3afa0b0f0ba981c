//! Who is calling: the verified claims of an access token ([`Principal`]), the client's
//! address ([`ClientIp`]), and the [`Verifier`] that checks tokens against the auth domain's
//! published keys. Access tokens are RS256 JWTs; the JWK set is cached and fetched again when
//! a token names a key the cache does not know (a rotation). A browser's token for the payload
//! codec comes in a cookie ([`cookie_token`]).
//!
//! The lowest layer of the API's own modules: it knows the error type and the breaker, and
//! nothing that knows it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use souk_domain::identity::{AccessClaims, Role};
use souk_proto::auth::v1 as pb;
use souk_proto::auth::v1::auth_service_client::AuthServiceClient;
use tokio::sync::{Mutex, RwLock};

use crate::error::ApiError;

/// Clock skew tolerated on `exp`.
const LEEWAY_SECONDS: u64 = 5;

/// When the cached JWK set is fetched again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRefresh {
    /// The shortest time between two fetches caused by unknown key ids, so tokens with
    /// made-up `kid`s cannot turn into a flood of calls to the auth service.
    pub min_interval: Duration,
    /// How long a fetched set is trusted before it is fetched again, so keys retired after
    /// a rotation stop verifying here too.
    pub max_age: Duration,
}

impl Default for KeyRefresh {
    /// At most twice a second for unknown key ids; a set a minute old is fetched again.
    fn default() -> Self {
        Self {
            min_interval: Duration::from_millis(500),
            max_age: Duration::from_secs(60),
        }
    }
}

/// A signed-in caller: the verified claims of their access token, with the roles they may
/// use now (see [`authenticate`]: operator roles need a second-factor sign-in).
#[derive(Debug, Clone)]
pub struct Principal(pub Arc<AccessClaims>);

/// Set on a request whose token carries operator roles that were signed in without a second
/// factor: those roles do not count anywhere (and `/v1/admin` answers `mfa_required`).
#[derive(Debug, Clone, Copy)]
pub struct OperatorRolesWithheld;

impl Principal {
    pub fn user_id(&self) -> &str {
        &self.0.sub
    }

    pub fn has(&self, role: Role) -> bool {
        self.0.has(role)
    }

    pub fn is_operator(&self) -> bool {
        self.0.roles.iter().any(|r| r.is_operator())
    }

    /// 403 unless the caller has `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.has(role) {
            Ok(())
        } else {
            Err(forbidden())
        }
    }
}

pub fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "your account may not do this",
    )
}

pub(crate) fn invalid_token(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", message)
}

/// Verifies access tokens with the auth domain's published keys.
pub struct Verifier {
    client: AuthServiceClient<crate::breaker::Guarded>,
    validation: Validation,
    refresh: KeyRefresh,
    /// The keys and when they were fetched: read by every request, written by a fetch.
    cache: RwLock<Keys>,
    /// Serialises fetches; never held while a request only reads the cache.
    fetching: Mutex<()>,
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, Arc<DecodingKey>>,
    fetched: Option<Instant>,
}

impl Verifier {
    pub fn new(
        client: AuthServiceClient<crate::breaker::Guarded>,
        issuer: &str,
        audience: &str,
        refresh: KeyRefresh,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        Self {
            client,
            validation,
            refresh,
            cache: RwLock::new(Keys::default()),
            fetching: Mutex::new(()),
        }
    }

    /// The claims of `token` if it is valid now.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, ApiError> {
        let arrived = Instant::now();
        // `alg: none` and unknown algorithms fail to parse here already.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid_token("the bearer token is not a valid access token"))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid_token("access tokens are signed with RS256"));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid_token("the access token names no signing key"))?;
        let (mut key, stale) = {
            let cache = self.cache.read().await;
            let stale = cache
                .fetched
                .is_some_and(|t| t.elapsed() > self.refresh.max_age);
            (cache.by_kid.get(&kid).cloned(), stale)
        };
        // An old set is fetched again by one request, which then verifies with the set it
        // fetched; the others go on with what is cached (and so does that one if the auth
        // service is away).
        if stale && let Ok(_turn) = self.fetching.try_lock() {
            match self.fetch().await {
                Ok(()) => key = self.cache.read().await.by_kid.get(&kid).cloned(),
                Err(e) => tracing::warn!(code = %e.code, "could not refresh the JWK set"),
            }
        }
        let key = match key {
            Some(k) => k,
            None => {
                let _turn = self.fetching.lock().await;
                // A key can be newer than the last fetch (a rotation just now): wait out the
                // minimum interval rather than refuse a valid token. A fetch that started
                // after this request arrived (its own above too) settles it either way.
                let settled = self.cache.read().await.fetched.is_some_and(|t| t > arrived);
                if !settled && !self.cache.read().await.by_kid.contains_key(&kid) {
                    if let Some(wait) = self.until_next_fetch().await {
                        tokio::time::sleep(wait).await;
                    }
                    self.fetch().await?;
                }
                self.cache
                    .read()
                    .await
                    .by_kid
                    .get(&kid)
                    .cloned()
                    .ok_or_else(|| invalid_token("the access token's signing key is unknown"))?
            }
        };
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "token_expired",
                    "the access token has expired; refresh it",
                ),
                _ => invalid_token("the access token is not valid"),
            })?;
        // A token from the future was not issued by this auth domain's clock.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if claims.iat > now + LEEWAY_SECONDS as i64 {
            return Err(invalid_token("the access token is not valid yet"));
        }
        Ok(claims)
    }

    /// How long until the set may be fetched again (`min_interval` after the last fetch), so
    /// tokens with made-up key ids cause at most one fetch per interval.
    async fn until_next_fetch(&self) -> Option<Duration> {
        self.cache
            .read()
            .await
            .fetched
            .and_then(|t| self.refresh.min_interval.checked_sub(t.elapsed()))
    }

    /// Fetches the JWK set and replaces the cache (dropping keys no longer published).
    /// Callers hold `fetching`.
    async fn fetch(&self) -> Result<(), ApiError> {
        // When it started: the set holds every key published before this instant.
        let started = Instant::now();
        let json = self.jwks_json().await?;
        let set: serde_json::Value = serde_json::from_str(&json)
            .map_err(|e| ApiError::internal(format_args!("auth served a bad JWK set: {e}")))?;
        let mut by_kid = HashMap::new();
        for k in set["keys"].as_array().into_iter().flatten() {
            let (Some(kid), Some(n), Some(e)) =
                (k["kid"].as_str(), k["n"].as_str(), k["e"].as_str())
            else {
                continue;
            };
            match DecodingKey::from_rsa_components(n, e) {
                Ok(dk) => {
                    by_kid.insert(kid.to_string(), Arc::new(dk));
                }
                Err(err) => tracing::warn!(kid, error = %err, "unusable key in the JWK set"),
            }
        }
        tracing::debug!(keys = by_kid.len(), "JWK set fetched");
        *self.cache.write().await = Keys {
            by_kid,
            fetched: Some(started),
        };
        Ok(())
    }

    /// The JWK set as the auth domain publishes it.
    pub async fn jwks_json(&self) -> Result<String, ApiError> {
        Ok(self
            .client
            .clone()
            .get_jwks(pb::GetJwksRequest {})
            .await
            .map_err(|e| ApiError::from_status("auth", e))?
            .into_inner()
            .json)
    }
}

/// The client's address: from the configured proxy header, else the connection's peer.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

/// The payload codec's routes (the Temporal UI calls them from the browser).
pub const CODEC_PATH: &str = "/v1/admin/codec";
/// The cookie that carries a browser's access token to the codec.
pub const COOKIE: &str = "souk_codec";

/// The codec session cookie's token, if the request carries one.
pub fn cookie_token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    /// Routes that take a `Principal` need a signed-in caller: 401 otherwise.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};
    use souk_proto::auth::v1::auth_service_server::{AuthService, AuthServiceServer};
    use tonic::{Request, Response, Status};

    use super::*;

    const ISSUER: &str = "souk-test";
    const AUDIENCE: &str = "souk-api";

    /// An RS256 signing key, as the auth domain makes them.
    struct Key {
        kid: String,
        jwk: Value,
        signer: EncodingKey,
    }

    impl Key {
        fn new(kid: &str) -> Self {
            let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
            let der = STANDARD.encode(pair.as_der().unwrap().as_ref());
            let lines: Vec<&str> = der
                .as_bytes()
                .chunks(64)
                .map(|l| std::str::from_utf8(l).unwrap())
                .collect();
            let pem = format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                lines.join("\n")
            );
            let public = pair.public_key();
            let jwk = json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
            });
            Self {
                kid: kid.to_string(),
                jwk,
                signer: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            }
        }

        /// An access token signed with this key, valid for 15 minutes from now.
        fn token(&self) -> String {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            let claims = AccessClaims {
                iss: ISSUER.into(),
                aud: AUDIENCE.into(),
                sub: "user-1".into(),
                iat: now,
                exp: now + 900,
                jti: format!("{}-{now}", self.kid),
                roles: vec![Role::Customer],
                vendor_id: None,
                amr: vec!["pwd".into()],
                sid: None,
            };
            let header = Header {
                kid: Some(self.kid.clone()),
                ..Header::new(Algorithm::RS256)
            };
            jsonwebtoken::encode(&header, &claims, &self.signer).unwrap()
        }
    }

    /// A token whose header names a key nobody published (the rest is never looked at).
    fn made_up(n: usize) -> String {
        let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.{}",
            part(json!({"alg": "RS256", "typ": "JWT", "kid": format!("made-up-{n}")})),
            part(json!({"sub": "nobody"})),
            URL_SAFE_NO_PAD.encode(b"no signature")
        )
    }

    /// The auth service, as far as the verifier uses it: a JWK set it can change, and the
    /// number of times it was fetched.
    #[derive(Default)]
    struct Jwks {
        keys: StdMutex<Vec<Value>>,
        fetches: AtomicUsize,
    }

    impl Jwks {
        fn publish(&self, keys: &[&Key]) {
            *self.keys.lock().unwrap() = keys.iter().map(|k| k.jwk.clone()).collect();
        }

        fn fetches(&self) -> usize {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    /// Every method besides `GetJwks` answers UNIMPLEMENTED.
    macro_rules! jwks_only {
        ($($method:ident($req:ident) -> $res:ident;)*) => {
            #[tonic::async_trait]
            impl AuthService for Jwks {
                async fn get_jwks(
                    &self,
                    _: Request<pb::GetJwksRequest>,
                ) -> Result<Response<pb::Jwks>, Status> {
                    self.fetches.fetch_add(1, Ordering::SeqCst);
                    let keys = self.keys.lock().unwrap().clone();
                    Ok(Response::new(pb::Jwks {
                        json: json!({ "keys": keys }).to_string(),
                    }))
                }
                $(
                    async fn $method(
                        &self,
                        _: Request<pb::$req>,
                    ) -> Result<Response<pb::$res>, Status> {
                        Err(Status::unimplemented(stringify!($method)))
                    }
                )*
            }
        };
    }

    jwks_only! {
        register(RegisterRequest) -> User;
        login(LoginRequest) -> TokenPair;
        refresh(RefreshRequest) -> TokenPair;
        logout(LogoutRequest) -> LogoutResponse;
        rotate_signing_key(RotateSigningKeyRequest) -> RotateSigningKeyResponse;
        get_user(GetUserRequest) -> User;
        create_user(CreateUserRequest) -> User;
        grant_role(RoleChange) -> User;
        revoke_role(RoleChange) -> User;
        set_user_status(SetUserStatusRequest) -> User;
        record_audit(AuditEntry) -> RecordAuditResponse;
        list_audit(ListAuditRequest) -> ListAuditResponse;
        forgot_password(ForgotPasswordRequest) -> ForgotPasswordResponse;
        reset_password(ResetPasswordRequest) -> ResetPasswordResponse;
        unlock(UnlockRequest) -> UnlockResponse;
        enroll_totp(EnrollTotpRequest) -> EnrollTotpResponse;
        confirm_totp(ConfirmTotpRequest) -> ConfirmTotpResponse;
        disable_totp(DisableTotpRequest) -> DisableTotpResponse;
    }

    /// A verifier of tokens from `auth`, served over gRPC on a port of its own, as the API
    /// reaches the auth service.
    async fn verifier(auth: Arc<Jwks>, refresh: KeyRefresh) -> Verifier {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(AuthServiceServer::from_arc(auth))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        let channel = tonic::transport::Endpoint::from_shared(url)
            .unwrap()
            .connect_lazy();
        let breaker = crate::breaker::BreakerSettings {
            failures: 5,
            open_for: Duration::from_secs(1),
        };
        let client =
            AuthServiceClient::new(crate::breaker::guard("auth", channel, breaker).unwrap());
        Verifier::new(client, ISSUER, AUDIENCE, refresh)
    }

    #[tokio::test]
    async fn a_key_retired_from_the_set_stops_verifying_at_the_first_fetch_after_the_trust_period()
    {
        let (old, new) = (Key::new("old"), Key::new("new"));
        let auth = Arc::new(Jwks::default());
        auth.publish(&[&new, &old]);
        let refresh = KeyRefresh {
            min_interval: Duration::from_millis(50),
            max_age: Duration::from_millis(800),
        };
        let verifier = verifier(auth.clone(), refresh).await;
        verifier.verify(&old.token()).await.expect("published");
        let fetched = Instant::now();
        assert_eq!(auth.fetches(), 1);

        // The old key is retired. Within the trust period the cached set still decides.
        auth.publish(&[&new]);
        verifier.verify(&old.token()).await.expect("cached");
        assert!(
            fetched.elapsed() < refresh.max_age,
            "the test ran too slowly"
        );
        assert_eq!(auth.fetches(), 1, "a trusted set is not fetched again");

        tokio::time::sleep_until((fetched + refresh.max_age + Duration::from_millis(10)).into())
            .await;
        let refused = verifier
            .verify(&old.token())
            .await
            .expect_err("the set fetched now does not have the old key");
        assert_eq!(refused.code, "invalid_token", "{refused:?}");
        assert_eq!(
            auth.fetches(),
            2,
            "the request that found the set old fetched it, once"
        );
        verifier
            .verify(&new.token())
            .await
            .expect("still published");
        assert_eq!(auth.fetches(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tokens_naming_unknown_keys_cause_at_most_one_fetch_per_interval() {
        let key = Key::new("known");
        let auth = Arc::new(Jwks::default());
        auth.publish(&[&key]);
        let refresh = KeyRefresh {
            min_interval: Duration::from_millis(200),
            max_age: Duration::from_secs(600),
        };
        let verifier = Arc::new(verifier(auth.clone(), refresh).await);
        let start = Instant::now();
        verifier.verify(&key.token()).await.expect("published");
        assert_eq!(auth.fetches(), 1);

        // Many callers at once, each sending made-up key ids one after another for a while.
        let until = start + Duration::from_millis(1200);
        let sent = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..20)
            .map(|_| {
                let (verifier, sent) = (verifier.clone(), sent.clone());
                tokio::spawn(async move {
                    while Instant::now() < until {
                        let n = sent.fetch_add(1, Ordering::SeqCst);
                        let refused = verifier.verify(&made_up(n)).await.expect_err("unknown");
                        assert_eq!(refused.code, "invalid_token", "{refused:?}");
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.await.expect("a caller panicked");
        }
        let elapsed = start.elapsed();
        let (fetches, sent) = (auth.fetches(), sent.load(Ordering::SeqCst));
        // Fetches start at least `min_interval` apart, all of them within `elapsed`.
        let allowed = (elapsed.as_millis() / refresh.min_interval.as_millis()) as usize + 1;
        assert!(
            fetches <= allowed,
            "{fetches} fetches in {elapsed:?} for {sent} tokens; at most {allowed}"
        );
        assert!(fetches >= 2, "unknown key ids are looked up: {fetches}");
        assert!(sent > 10 * fetches, "{sent} tokens, {fetches} fetches");
        // The known key still verifies, from the cache.
        verifier.verify(&key.token()).await.expect("published");
        assert_eq!(auth.fetches(), fetches);
    }
}
