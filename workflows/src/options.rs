//! Activity options shared by workflows.

use std::time::Duration;

use souk_contracts::queues::{self, Queue};
use temporalio_common::RetryPolicy;
use temporalio_sdk::{
    ActivityOptions, LocalActivityOptions, WorkflowCancellationToken, WorkflowContext,
};

/// Transient failures are retried with exponential backoff up to a minute apart, for as long
/// as the workflow needs; business failures are non-retryable and end the retries at once.
pub fn retry() -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_millis(200))
        .backoff_coefficient(2.0)
        .maximum_interval(Duration::from_secs(60))
        .build()
}

/// Options for an activity on `domain`'s queue, under the same prefix as this workflow's queue.
pub fn on<W>(ctx: &WorkflowContext<W>, domain: Queue, start_to_close: Duration) -> ActivityOptions {
    let prefix = queues::prefix_of(ctx.task_queue());
    ActivityOptions::with_start_to_close_timeout(start_to_close)
        .task_queue(domain.under(prefix))
        .retry_policy(retry())
        .build()
}

/// Options for a local activity (a step the workflow worker forwards to the owning domain's
/// step service): retried like a remote one, for at most `budget` if given. `detached` steps
/// (compensations) still run when the workflow is being cancelled.
pub fn local(budget: Option<Duration>, detached: bool) -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(30))
        .maybe_schedule_to_close_timeout(budget)
        .retry_policy(retry())
        // Show the input in the history too, so support can read what the step was asked.
        .include_arguments_in_marker(true)
        .maybe_cancellation_token(detached.then(WorkflowCancellationToken::new))
        .build()
}
