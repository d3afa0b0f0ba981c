//! Activity options shared by workflows.

use std::time::Duration;

use souk_contracts::queues::{self, Domain};
use temporalio_common::RetryPolicy;
use temporalio_sdk::{ActivityOptions, WorkflowContext};

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
pub fn on<W>(
    ctx: &WorkflowContext<W>,
    domain: Domain,
    start_to_close: Duration,
) -> ActivityOptions {
    let prefix = queues::prefix_of(ctx.task_queue());
    ActivityOptions::with_start_to_close_timeout(start_to_close)
        .task_queue(domain.queue(prefix))
        .retry_policy(retry())
        .build()
}
