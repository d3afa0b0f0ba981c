//! `LowStockAlert`: raised when a stock change takes a SKU below its threshold. It records the
//! alert in the inventory domain (once, whatever the retries) and is the place where the
//! notifications to the vendor will hang.

use std::time::Duration;

use souk_contracts::inventory::{LowStockAlert, RaiseAlert, RaiseLowStockAlert};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

use crate::options;

pub use souk_contracts::low_stock::{LowStockInput, WORKFLOW_TYPE, workflow_id};

#[workflow]
#[derive(Default)]
pub struct LowStockAlertWorkflow;

#[workflow_methods]
impl LowStockAlertWorkflow {
    #[run(name = "LowStockAlert")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: LowStockInput,
    ) -> WorkflowResult<LowStockAlert> {
        // Idempotency key of the one side effect: this run of this workflow.
        let alert_id = format!("{}/{}", ctx.workflow_id(), ctx.run_id());
        let alert = ctx
            .execute_activity(
                RaiseAlert,
                RaiseLowStockAlert {
                    alert_id,
                    sku: input.sku,
                    available: input.available,
                    threshold: input.threshold,
                    raised_by: input.raised_by,
                },
                options::on(
                    ctx,
                    souk_contracts::inventory::QUEUE,
                    Duration::from_secs(10),
                ),
            )
            .await?;
        Ok(alert)
    }
}
