//! Who is calling. Access tokens are RS256 JWTs signed by the auth domain; they are verified
//! here against its JWK set, which is cached and fetched again when a token names a key the
//! cache does not know (a rotation). A valid token puts its [`Principal`] in the request;
//! a present but invalid one is refused with 401 whatever the route.
//!
//! Routes then authorize: [`require_operator`] guards `/v1/admin/...`; handlers check
//! roles and ownership with the `Principal` (see [`Principal::require`]). Refusals are
//! written to the auth domain's audit trail.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use souk_domain::identity::{AccessClaims, Role};
use souk_proto::auth::v1 as pb;
use souk_proto::auth::v1::auth_service_client::AuthServiceClient;
use tokio::sync::{Mutex, RwLock};

use crate::error::ApiError;
use crate::extract::Caller;
use crate::state::AppState;

/// The shortest time between two JWK set fetches caused by unknown key ids, so tokens with
/// made-up `kid`s cannot turn into a flood of calls to the auth service.
const MIN_REFRESH: Duration = Duration::from_millis(500);
/// Clock skew tolerated on `exp`.
const LEEWAY_SECONDS: u64 = 5;
/// How long a fetched JWK set is trusted before it is fetched again, so keys retired after
/// a rotation stop verifying here too.
const MAX_AGE: Duration = Duration::from_secs(60);

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

fn invalid_token(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", message)
}

/// Verifies access tokens with the auth domain's published keys.
pub struct Verifier {
    client: AuthServiceClient<crate::breaker::Guarded>,
    validation: Validation,
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
            cache: RwLock::new(Keys::default()),
            fetching: Mutex::new(()),
        }
    }

    /// The claims of `token` if it is valid now.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, ApiError> {
        // `alg: none` and unknown algorithms fail to parse here already.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid_token("the bearer token is not a valid access token"))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid_token("access tokens are signed with RS256"));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid_token("the access token names no signing key"))?;
        let (key, stale) = {
            let cache = self.cache.read().await;
            let stale = cache.fetched.is_some_and(|t| t.elapsed() > MAX_AGE);
            (cache.by_kid.get(&kid).cloned(), stale)
        };
        // An old set is fetched again by one request; the others go on with what is cached
        // (and so does that one if the auth service is away).
        if stale
            && let Ok(_turn) = self.fetching.try_lock()
            && let Err(e) = self.fetch().await
        {
            tracing::warn!(code = %e.code, "could not refresh the JWK set");
        }
        let key = match key {
            Some(k) => k,
            None => {
                let arrived = Instant::now();
                let _turn = self.fetching.lock().await;
                // A key can be newer than the last fetch (a rotation just now): wait out the
                // minimum interval rather than refuse a valid token. A fetch that started
                // after this request arrived settles it either way.
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

    /// How long until the set may be fetched again (`MIN_REFRESH` after the last fetch), so
    /// tokens with made-up key ids cause at most one fetch per interval.
    async fn until_next_fetch(&self) -> Option<Duration> {
        self.cache
            .read()
            .await
            .fetched
            .and_then(|t| MIN_REFRESH.checked_sub(t.elapsed()))
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
        None if req
            .uri()
            .path()
            .starts_with(crate::routes::codec::CODEC_PATH) =>
        {
            match crate::routes::codec::cookie_token(req.headers()) {
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
