//! `LowStockAlert`: raised when a stock change takes a SKU below its threshold. It records the
//! alert in the inventory domain (once, whatever the retries) and is the place where the
//! notifications to the vendor will hang.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use souk_contracts::inventory::{LowStockAlert, RaiseAlert, RaiseLowStockAlert};
use souk_domain::Sku;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

use crate::options;

/// The workflow type name in Temporal. Never change it.
pub const WORKFLOW_TYPE: &str = "LowStockAlert";

/// Workflow id for a SKU: at most one alert workflow per SKU runs at a time.
pub fn workflow_id(sku: &Sku) -> String {
    format!("low-stock-{sku}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LowStockInput {
    pub sku: Sku,
    pub available: i64,
    pub threshold: i64,
    /// Who made the change that crossed the threshold.
    pub raised_by: String,
}

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
