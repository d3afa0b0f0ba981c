//! Turning domain errors into step failures: business failures are non-retryable and carry a
//! stable type name the workflow matches on; everything else is retried. The same failure
//! travels as a Temporal activity failure or over the step service (local activities).

use temporalio_sdk::ApplicationFailure;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::Ctx;

/// The context of the workflow that scheduled an activity, for outbox events and logs.
pub fn ctx_of(ctx: &ActivityContext) -> Ctx {
    Ctx::workflow(ctx.info().workflow_id.as_deref().unwrap_or("standalone"))
}

/// Why a step did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    /// The failure type the workflow matches on (`InsufficientStock`); none for transient ones.
    pub type_name: Option<String>,
    pub message: String,
    pub non_retryable: bool,
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

// Deliberately not `std::error::Error`: `?` would then turn it into a retryable anyhow error
// and drop its type. Convert with `StepError::into_activity`.

/// A failure retrying cannot fix (out of stock, declined card...).
pub fn business(type_name: &str, err: impl std::fmt::Display) -> StepError {
    StepError {
        type_name: Some(type_name.to_string()),
        message: err.to_string(),
        non_retryable: true,
    }
}

/// A failure that may go away (database restart, timeout): retried with backoff.
pub fn transient(err: impl Into<anyhow::Error>) -> StepError {
    let err: anyhow::Error = err.into();
    tracing::warn!(error = format!("{err:#}"), "step failed, will be retried");
    StepError {
        type_name: None,
        message: format!("{err:#}"),
        non_retryable: false,
    }
}

impl StepError {
    /// The Temporal activity failure carrying this failure's type and retryability.
    pub fn into_activity(self) -> ActivityError {
        ActivityError::application(
            ApplicationFailure::builder(self.message)
                .maybe_type_name(self.type_name)
                .non_retryable(self.non_retryable)
                .build(),
        )
    }
}
