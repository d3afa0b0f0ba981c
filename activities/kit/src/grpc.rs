//! Shared plumbing for the domain gRPC services: error statuses with a machine-readable reason,
//! the caller's context from request metadata, and proto <-> domain conversions.

use souk_domain::event::Trace;
use souk_domain::money::{Currency, Money};
use souk_proto::common::v1 as pb;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::Ctx;
use crate::context::OnBehalf;

/// Metadata keys the API sets on every call.
pub const REQUEST_ID: &str = "x-request-id";
pub const ACTOR: &str = "x-souk-actor";
/// The end user the API calls for: a user id, or `guest`. Absent on Souk's own calls.
pub const USER: &str = "x-souk-user";
/// That user's roles, comma-separated.
pub const ROLES: &str = "x-souk-roles";

/// A status whose `ErrorInfo.reason` is the stable error code the API hands to clients.
pub fn status(code: Code, reason: &str, message: impl Into<String>) -> Status {
    status_with(code, reason, message, [])
}

/// Like [`status`], with string metadata for the client (`details` in the API's error body).
pub fn status_with<const N: usize>(
    code: Code,
    reason: &str,
    message: impl Into<String>,
    metadata: [(&str, String); N],
) -> Status {
    let metadata = metadata
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    status_map(code, reason, message, metadata)
}

/// Like [`status_with`], with the metadata as a map.
pub fn status_map(
    code: Code,
    reason: &str,
    message: impl Into<String>,
    metadata: std::collections::HashMap<String, String>,
) -> Status {
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason, "souk", metadata),
    )
}

pub fn invalid(reason: &str, message: impl Into<String>) -> Status {
    status(Code::InvalidArgument, reason, message)
}

pub fn not_found(reason: &str, message: impl Into<String>) -> Status {
    status(Code::NotFound, reason, message)
}

/// An unexpected failure: logged here once with its cause chain, opaque to the caller.
pub fn internal(err: impl Into<anyhow::Error>) -> Status {
    let err = err.into();
    tracing::error!(error = format!("{err:#}"), "internal error");
    status(Code::Internal, "internal", "internal error")
}

/// The caller's context from metadata; `default_actor` when none was sent.
pub fn ctx<T>(req: &tonic::Request<T>, default_actor: &str) -> Ctx {
    let get = |k: &str| {
        req.metadata()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 200)
            .map(str::to_string)
    };
    let on_behalf = get(USER).map(|u| OnBehalf {
        user_id: (u != "guest").then_some(u),
        operator: get(ROLES).is_some_and(|r| {
            r.split(',')
                .any(|r| matches!(r.trim(), "staff" | "super_admin"))
        }),
    });
    Ctx {
        actor: get(ACTOR).unwrap_or_else(|| default_actor.to_string()),
        trace: Trace {
            request_id: get(REQUEST_ID),
            workflow_id: None,
        },
        on_behalf,
    }
}

pub fn money(m: Money) -> pb::Money {
    pb::Money {
        amount: m.amount,
        currency: m.currency.code().to_string(),
    }
}

pub fn parse_currency(code: &str) -> Result<Currency, Status> {
    Currency::parse(code).map_err(|e| invalid("invalid_currency", e.to_string()))
}

/// SQLSTATEs of text PostgreSQL cannot hold: a NUL character in text (22021) or in JSON
/// (22P05).
const UNTRANSLATABLE: [&str; 2] = ["22021", "22P05"];

/// Whether `err` is text the database cannot hold: the caller's mistake, never worth a retry.
pub fn is_untranslatable(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(d) if d.code().is_some_and(|c| UNTRANSLATABLE.contains(&c.as_ref())))
}

/// Maps a database error: lost connections and timeouts are `UNAVAILABLE` (the caller may
/// retry), text the database cannot hold is the caller's (`INVALID_ARGUMENT`, the last line
/// of defence behind each field's own check), anything else is internal.
pub fn db_error(err: sqlx::Error) -> Status {
    match &err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            db_error_ref(&err)
        }
        e if is_untranslatable(e) => db_error_ref(&err),
        // Logged with its whole cause chain.
        _ => internal(err),
    }
}

/// [`db_error`] of a borrowed error.
pub fn db_error_ref(err: &sqlx::Error) -> Status {
    match err {
        // Every connection is in use: a moment later there will be one.
        sqlx::Error::PoolTimedOut => {
            tracing::warn!("database pool exhausted");
            status(
                Code::Unavailable,
                "database_busy",
                "the database is busy; try again in a moment",
            )
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            tracing::warn!(error = %err, "database unavailable");
            status(
                Code::Unavailable,
                "database_unavailable",
                "database unavailable",
            )
        }
        e if is_untranslatable(e) => {
            tracing::warn!(error = %err, "text the database cannot hold");
            invalid("invalid_text", "text must not contain NUL characters")
        }
        _ => internal(anyhow::anyhow!(chain(err))),
    }
}

/// An outgoing request to another domain, carrying the caller's request id and actor.
pub fn request<T>(msg: T, ctx: &Ctx) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    let md = req.metadata_mut();
    if let Some(id) = &ctx.trace.request_id
        && let Ok(v) = id.parse()
    {
        md.insert(REQUEST_ID, v);
    }
    if let Ok(v) = ctx.actor.parse() {
        md.insert(ACTOR, v);
    }
    req
}

/// The machine-readable reason of a status from another Souk service, if it has one.
pub fn reason(status: &Status) -> Option<String> {
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
}

/// The string metadata of a status from another Souk service.
pub fn reason_metadata(status: &Status) -> std::collections::HashMap<String, String> {
    status
        .get_error_details()
        .error_info()
        .map(|i| i.metadata.clone())
        .unwrap_or_default()
}

/// An error and its sources, as `{:#}` shows an `anyhow` chain: for logging a borrowed error
/// with its causes.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[sqlx::test(migrations = false)]
    async fn text_the_database_cannot_hold_is_the_callers_mistake(pool: sqlx::PgPool) {
        let err = sqlx::query_scalar::<_, String>("SELECT $1::text")
            .bind("a\0b")
            .fetch_one(&pool)
            .await
            .unwrap_err();
        let status = db_error(err);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(reason(&status).as_deref(), Some("invalid_text"));
        // A NUL in JSON text.
        let err = sqlx::query_scalar::<_, String>("SELECT ($1::jsonb)->>'a'")
            .bind(r#"{"a": "x\u0000y"}"#)
            .fetch_one(&pool)
            .await
            .unwrap_err();
        assert!(is_untranslatable(&err), "{err}");
        assert_eq!(db_error(err).code(), Code::InvalidArgument);
    }
}
