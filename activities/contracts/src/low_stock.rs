//! The low-stock alert workflow's contract: its id, type name and input, and its definition
//! for callers (the API starts it after a stock count).

use serde::{Deserialize, Serialize};
use souk_domain::Sku;
use temporalio_common::{HasWorkflowDefinition, WorkflowDefinition};

use crate::inventory::LowStockAlert;

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

/// The low-stock alert workflow, as callers name it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Alert;

impl WorkflowDefinition for Alert {
    type Input = LowStockInput;
    type Output = LowStockAlert;

    fn name(&self) -> &str {
        WORKFLOW_TYPE
    }
}

impl HasWorkflowDefinition for Alert {
    type Run = Alert;
}
