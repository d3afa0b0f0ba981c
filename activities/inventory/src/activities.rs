//! Inventory steps: as Temporal activities on `souk.inventory`, and over the step service for
//! workflows that run them as local activities.

use std::sync::Arc;

use souk_contracts::inventory::{
    Commit, CommitAll, CommitReservations, Extend, ExtendReservation, LowStockAlert, RaiseAlert,
    RaiseLowStockAlert, Release, Reservation, ReservationRef, Reserve, ReserveStock, Restock,
    RestockUnits,
};
use sqlx::PgPool;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use super::store::{self, Error};
use souk_kit::Ctx;
use souk_kit::failure::{StepError, ctx_of};
use souk_kit::steps::Step;

#[derive(Clone)]
pub struct InventoryActivities {
    pub pool: PgPool,
}

fn failure(e: Error) -> StepError {
    souk_kit::error::step(e)
}

#[tonic::async_trait]
impl Step<Reserve> for InventoryActivities {
    async fn run(&self, ctx: &Ctx, input: ReserveStock) -> Result<Reservation, StepError> {
        store::reserve(&self.pool, ctx, &input)
            .await
            .map_err(failure)
    }
}

#[tonic::async_trait]
impl Step<Extend> for InventoryActivities {
    async fn run(&self, _ctx: &Ctx, input: ExtendReservation) -> Result<Reservation, StepError> {
        let r = store::extend(&self.pool, &input.reservation_id, input.ttl_seconds)
            .await
            .map_err(failure)?;
        tracing::debug!(reservation_id = %r.reservation_id, expires_at = %r.expires_at, "reservation extended");
        Ok(r)
    }
}

#[tonic::async_trait]
impl Step<Commit> for InventoryActivities {
    async fn run(&self, ctx: &Ctx, input: ReservationRef) -> Result<(), StepError> {
        store::commit(&self.pool, ctx, &input.reservation_id)
            .await
            .map_err(failure)
    }
}

#[tonic::async_trait]
impl Step<CommitAll> for InventoryActivities {
    async fn run(&self, ctx: &Ctx, input: CommitReservations) -> Result<(), StepError> {
        store::commit_all(&self.pool, ctx, &input.reservation_ids)
            .await
            .map_err(failure)
    }
}

#[tonic::async_trait]
impl Step<Release> for InventoryActivities {
    async fn run(&self, ctx: &Ctx, input: ReservationRef) -> Result<(), StepError> {
        store::release(
            &self.pool,
            ctx,
            &input.reservation_id,
            input.reason.as_deref(),
        )
        .await
        .map_err(failure)
    }
}

#[tonic::async_trait]
impl Step<Restock> for InventoryActivities {
    async fn run(&self, ctx: &Ctx, input: RestockUnits) -> Result<(), StepError> {
        let new = store::restock(&self.pool, ctx, &input)
            .await
            .map_err(failure)?;
        tracing::info!(sku = %input.sku, warehouse = %input.warehouse, quantity = input.quantity, new, "restocked");
        Ok(())
    }
}

souk_contracts::inventory_steps!(souk_kit::serve_steps!(InventoryActivities {
    #[activity(definition = RaiseAlert)]
    pub async fn raise_low_stock_alert(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: RaiseLowStockAlert,
    ) -> Result<LowStockAlert, ActivityError> {
        let alert = store::raise_alert(&self.pool, &ctx_of(&ctx), &input)
            .await
            .map_err(|e| failure(e).into_activity())?;
        tracing::info!(sku = %alert.sku, available = alert.available, threshold = alert.threshold,
            newly_raised = alert.newly_raised, "low-stock alert");
        Ok(alert)
    }
}));

// The workflow worker's side: each step sent to this domain's step service.
souk_contracts::inventory_steps!(souk_kit::forward_steps!(InventoryStepForwarder));
