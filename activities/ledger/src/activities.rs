//! Ledger activities, run by the ledger worker on `souk.ledger`.

use std::sync::Arc;

use souk_contracts::ledger::{
    Capture, CaptureRecorded, RecordCapture, RecordRefund, Refund, RefundRecorded,
};
use souk_kit::failure::ctx_of;
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

pub struct LedgerActivities {
    pub pool: PgPool,
}

#[activities]
impl LedgerActivities {
    #[activity(definition = Capture)]
    pub async fn post_capture(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: RecordCapture,
    ) -> Result<CaptureRecorded, ActivityError> {
        crate::store::record_capture(&self.pool, &ctx_of(&ctx), &input)
            .await
            .map_err(|e| souk_kit::error::step(e).into_activity())
    }

    #[activity(definition = Refund)]
    pub async fn post_refund(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: RecordRefund,
    ) -> Result<RefundRecorded, ActivityError> {
        crate::store::record_refund(&self.pool, &ctx_of(&ctx), &input)
            .await
            .map_err(|e| souk_kit::error::step(e).into_activity())
    }
}
