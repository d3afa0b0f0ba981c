//! Turning domain errors into activity failures: business failures are non-retryable and
//! carry a stable type name the workflow matches on; everything else is retried.

use temporalio_sdk::ApplicationFailure;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::Ctx;

/// The context of the workflow that scheduled an activity, for outbox events and logs.
pub fn ctx_of(ctx: &ActivityContext) -> Ctx {
    Ctx::workflow(ctx.info().workflow_id.as_deref().unwrap_or("standalone"))
}

/// A failure retrying cannot fix (out of stock, declined card...).
pub fn business(
    type_name: &str,
    err: impl std::error::Error + Send + Sync + 'static,
) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(err)
            .type_name(type_name.to_string())
            .non_retryable(true)
            .build(),
    )
}

/// A failure that may go away (database restart, timeout): Temporal retries with backoff.
pub fn transient(err: impl Into<anyhow::Error>) -> ActivityError {
    let err: anyhow::Error = err.into();
    tracing::warn!(
        error = format!("{err:#}"),
        "activity failed, will be retried"
    );
    ActivityError::from(err)
}
