//! Extractors whose rejections are the API's own error format, never axum's plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Malformed JSON is `400 malformed_json`, a well-formed body of the wrong shape
/// is `422 invalid_body`, another content type is `415 unsupported_media_type`. An empty body
/// is accepted as `T::default()` only through [`OptionalJson`].
pub struct Json<T>(pub T);

/// Like [`Json`], but an empty body means `T::default()`.
pub struct OptionalJson<T>(pub T);

fn parse<T: DeserializeOwned>(content_type: Option<&str>, body: &[u8]) -> Result<T, ApiError> {
    let is_json = content_type.is_some_and(|ct| {
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
    });
    if !is_json {
        return Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send a JSON body with Content-Type: application/json",
        ));
    }
    // A struct also deserializes from a list; every body this API takes is an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::unprocessable(
            "invalid_body",
            "the body must be a JSON object",
        ));
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::unprocessable("invalid_body", e.to_string()),
        _ => ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}")),
    })
}

async fn bytes<S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<(Option<String>, Bytes), ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(e.status(), "payload_too_large", "the body is too large")
        } else {
            ApiError::bad_request("unreadable_body", e.body_text())
        }
    })?;
    Ok((ct, body))
}

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (ct, body) = bytes(req, state).await?;
        parse(ct.as_deref(), &body).map(Json)
    }
}

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (ct, body) = bytes(req, state).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse(ct.as_deref(), &body).map(OptionalJson)
    }
}

/// The raw body (a signed webhook's bytes), with the API's errors: too large is
/// `413 payload_too_large`.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        bytes(req, state).await.map(|(_, b)| RawBody(b))
    }
}

/// Query parameters; a bad one is `400 invalid_query`.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// Path parameters; a bad one is `400 invalid_path`.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))
    }
}

/// Who is calling and under which request id: forwarded to domain services as metadata.
#[derive(Debug, Clone)]
pub struct Caller {
    pub request_id: Option<String>,
    /// `user:<id>` for a signed-in caller, `customer:guest` otherwise.
    pub actor: String,
    /// The client's address (see `identity::ClientIp`).
    pub client_ip: Option<String>,
    /// The signed-in user and their roles (`None`: a guest).
    pub user: Option<(String, Vec<String>)>,
}

impl Caller {
    fn from(headers: &axum::http::HeaderMap, extensions: &axum::http::Extensions) -> Self {
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let principal = extensions.get::<crate::identity::Principal>();
        let actor = principal.map_or_else(
            || "customer:guest".to_string(),
            |p| format!("user:{}", p.user_id()),
        );
        let user = principal.map(|p| {
            (
                p.user_id().to_string(),
                p.0.roles.iter().map(|r| r.as_str().to_string()).collect(),
            )
        });
        let client_ip = extensions
            .get::<crate::identity::ClientIp>()
            .map(|c| c.0.clone())
            .or_else(|| {
                extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|c| c.0.ip().to_string())
            });
        Caller {
            request_id,
            actor,
            client_ip,
            user,
        }
    }

    /// The caller of a request (for middleware).
    pub fn of(req: &Request) -> Self {
        Self::from(req.headers(), req.extensions())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller::from(&parts.headers, &parts.extensions))
    }
}

impl Caller {
    /// The same request id and address, acting as the signed-in `user` (after sign-in).
    pub fn as_user(&self, user_id: &str, roles: Vec<String>) -> Caller {
        Caller {
            actor: format!("user:{user_id}"),
            user: Some((user_id.to_string(), roles)),
            ..self.clone()
        }
    }

    /// The signed-in user's id.
    pub fn user_id(&self) -> Option<&str> {
        self.user.as_ref().map(|(id, _)| id.as_str())
    }

    /// Staff or super admin.
    pub fn is_operator(&self) -> bool {
        self.user
            .as_ref()
            .is_some_and(|(_, roles)| roles.iter().any(|r| r == "staff" || r == "super_admin"))
    }

    /// A gRPC request carrying this caller's request id, actor, address and user.
    pub fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        let md = req.metadata_mut();
        if let Some(id) = &self.request_id
            && let Ok(v) = id.parse()
        {
            md.insert("x-request-id", v);
        }
        if let Ok(v) = self.actor.parse() {
            md.insert("x-souk-actor", v);
        }
        if let Some(ip) = &self.client_ip
            && let Ok(v) = ip.parse()
        {
            md.insert("x-souk-client-ip", v);
        }
        // Who the call is for, so a domain can check what belongs to whom.
        match &self.user {
            Some((id, roles)) => {
                if let Ok(v) = id.parse() {
                    md.insert("x-souk-user", v);
                }
                if let Ok(v) = roles.join(",").parse() {
                    md.insert("x-souk-roles", v);
                }
            }
            None => {
                md.insert(
                    "x-souk-user",
                    tonic::metadata::MetadataValue::from_static("guest"),
                );
            }
        }
        req
    }
}

/// `?limit=&cursor=` of a keyset-paginated list.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size asked for; `400 invalid_limit` outside 1 to 100.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            Some(l) if !(1..=100).contains(&l) => Err(ApiError::bad_request(
                "invalid_limit",
                "limit must be between 1 and 100",
            )),
            l => Ok(l.unwrap_or(20)),
        }
    }
}
