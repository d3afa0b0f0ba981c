//! The baseline: a workflow with as many activities as a one-line checkout, whose bodies do
//! nothing. What the checkout costs above it is Souk's own work.

use std::sync::Arc;
use std::time::Duration;

use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowResult};

/// Activities a one-line checkout without coupon runs: snapshot, reserve, authorize, create
/// order, capture, commit, record payment, confirm.
pub const STEPS: u32 = 8;

pub struct Noop;

#[activities]
impl Noop {
    #[activity(name = "bench.noop")]
    pub async fn noop(
        self: Arc<Self>,
        _ctx: ActivityContext,
        step: u32,
    ) -> Result<u32, ActivityError> {
        Ok(step)
    }
}

#[workflow]
#[derive(Default)]
pub struct BaselineWorkflow;

#[workflow_methods]
impl BaselineWorkflow {
    #[run(name = "BenchBaseline")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, steps: u32) -> WorkflowResult<u32> {
        for step in 0..steps {
            ctx.execute_activity(
                Noop::noop,
                step,
                ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30)).build(),
            )
            .await?;
        }
        Ok(steps)
    }
}
