//! One typed error per domain, said once: each domain's `Error` implements [`Described`]
//! (what kind of failure it is, its stable reason code, its details), and this module turns it
//! into a gRPC status (what the API answers from) and into a step failure (what a workflow
//! matches on), so the two can never disagree. The API maps by gRPC code and reason, never by
//! message.

use tonic::{Code, Status};

use crate::failure::StepError;
use crate::grpc;

/// What kind of failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request is wrong (a value out of range, an unknown reference in the input).
    Invalid,
    /// What was asked for does not exist (or may not be seen by the caller).
    NotFound,
    /// The request is fine but the state does not allow it (not enough stock, a released
    /// reservation, a cancelled order).
    Conflict,
    /// It exists already (an account for this address, a second factor).
    Exists,
    /// A limit is reached for a while (sign-ins locked after failures).
    Exhausted,
    /// Another change got there first: try again.
    Busy,
    /// The caller must sign in.
    Unauthenticated,
    /// The caller may not do this.
    Forbidden,
    /// Something the domain depends on is away or busy: try again.
    Unavailable,
    /// A fault on our side: logged where it happens, opaque to the caller.
    Internal,
}

impl Kind {
    pub fn code(self) -> Code {
        match self {
            Kind::Invalid => Code::InvalidArgument,
            Kind::NotFound => Code::NotFound,
            Kind::Conflict => Code::FailedPrecondition,
            Kind::Exists => Code::AlreadyExists,
            Kind::Exhausted => Code::ResourceExhausted,
            Kind::Busy => Code::Aborted,
            Kind::Unauthenticated => Code::Unauthenticated,
            Kind::Forbidden => Code::PermissionDenied,
            Kind::Unavailable => Code::Unavailable,
            Kind::Internal => Code::Internal,
        }
    }
}

/// A domain error that says what it is.
pub trait Described: std::error::Error + 'static {
    fn kind(&self) -> Kind;

    /// The stable, machine-readable code clients and operators see (`insufficient_stock`).
    fn reason(&self) -> &'static str;

    /// The words the client sees (`message` in the API's error body); what the error says
    /// unless a domain words it for the client.
    fn message(&self) -> String {
        self.to_string()
    }

    /// Details for the client (`details` in the API's error body).
    fn details(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// The failure type workflows match on when a step fails with this error
    /// (`InsufficientStock`): a business failure, not retried. `None`: retried if the kind is
    /// [`Kind::Unavailable`], [`Kind::Busy`] or [`Kind::Internal`], otherwise `InvalidInput`.
    fn failure_type(&self) -> Option<&'static str> {
        None
    }

    /// The database error underneath, if that is what it is: mapped by [`grpc::db_error`]
    /// (a busy pool or a lost connection is `Unavailable`).
    fn database(&self) -> Option<&sqlx::Error> {
        None
    }
}

/// The gRPC status of `e`: its kind's code, its reason and details; internal errors are
/// logged here once and opaque to the caller.
pub fn status(e: &impl Described) -> Status {
    if let Some(db) = e.database() {
        return grpc::db_error_ref(db);
    }
    match e.kind() {
        Kind::Internal => grpc::internal(anyhow::anyhow!(grpc::chain(e))),
        kind => {
            let details: std::collections::HashMap<String, String> = e
                .details()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            grpc::status_map(kind.code(), e.reason(), e.message(), details)
        }
    }
}

/// The step failure of `e`: a business failure with its type, or a transient one.
pub fn step(e: impl Described) -> StepError {
    match (e.failure_type(), e.kind()) {
        (Some(t), _) => crate::failure::business(t, e),
        // Text the database cannot hold fails the same way on every try.
        (None, _) if e.database().is_some_and(grpc::is_untranslatable) => {
            crate::failure::business(souk_contracts::failures::INVALID_INPUT, e)
        }
        (None, Kind::Unavailable | Kind::Internal | Kind::Busy) => {
            crate::failure::transient(anyhow::anyhow!(grpc::chain(&e)))
        }
        (None, _) if e.database().is_some() => {
            crate::failure::transient(anyhow::anyhow!(grpc::chain(&e)))
        }
        (None, _) => crate::failure::business(souk_contracts::failures::INVALID_INPUT, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::StatusExt;

    #[derive(Debug, thiserror::Error)]
    enum Error {
        #[error("only {available} left")]
        Short { available: i64 },
        #[error("no such thing")]
        Missing,
        #[error("the store is away")]
        Away,
    }

    impl Described for Error {
        fn kind(&self) -> Kind {
            match self {
                Error::Short { .. } => Kind::Conflict,
                Error::Missing => Kind::NotFound,
                Error::Away => Kind::Unavailable,
            }
        }
        fn reason(&self) -> &'static str {
            match self {
                Error::Short { .. } => "insufficient_stock",
                Error::Missing => "not_found",
                Error::Away => "store_unavailable",
            }
        }
        fn details(&self) -> Vec<(&'static str, String)> {
            match self {
                Error::Short { available } => vec![("available", available.to_string())],
                _ => vec![],
            }
        }
        fn failure_type(&self) -> Option<&'static str> {
            matches!(self, Error::Short { .. }).then_some("InsufficientStock")
        }
    }

    #[test]
    fn one_error_is_the_same_failure_over_grpc_and_as_a_step() {
        let s = status(&Error::Short { available: 2 });
        assert_eq!(s.code(), Code::FailedPrecondition);
        let info = s.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.reason, "insufficient_stock");
        assert_eq!(info.metadata["available"], "2");
        let f = step(Error::Short { available: 2 });
        assert_eq!(f.type_name.as_deref(), Some("InsufficientStock"));
        assert!(f.non_retryable);

        assert_eq!(status(&Error::Missing).code(), Code::NotFound);
        let f = step(Error::Missing);
        assert_eq!(f.type_name.as_deref(), Some("InvalidInput"));
        assert!(f.non_retryable);

        assert_eq!(status(&Error::Away).code(), Code::Unavailable);
        let f = step(Error::Away);
        assert!(!f.non_retryable && f.type_name.is_none());
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{0:?}")]
    struct Of(Kind);

    impl Described for Of {
        fn kind(&self) -> Kind {
            self.0
        }
        fn reason(&self) -> &'static str {
            "some_reason"
        }
    }

    #[test]
    fn each_kind_has_its_code_and_only_passing_ones_are_retried() {
        for (kind, code, retried) in [
            (Kind::Invalid, Code::InvalidArgument, false),
            (Kind::NotFound, Code::NotFound, false),
            (Kind::Conflict, Code::FailedPrecondition, false),
            (Kind::Exists, Code::AlreadyExists, false),
            (Kind::Exhausted, Code::ResourceExhausted, false),
            (Kind::Busy, Code::Aborted, true),
            (Kind::Unauthenticated, Code::Unauthenticated, false),
            (Kind::Forbidden, Code::PermissionDenied, false),
            (Kind::Unavailable, Code::Unavailable, true),
            (Kind::Internal, Code::Internal, true),
        ] {
            assert_eq!(status(&Of(kind)).code(), code, "{kind:?}");
            assert_eq!(!step(Of(kind)).non_retryable, retried, "{kind:?}");
        }
    }
}
