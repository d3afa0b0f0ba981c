//! Inventory steps: as Temporal activities on `souk.inventory`, and over the step service for
//! workflows that run them as local activities.

use std::sync::Arc;

use souk_contracts::failures;
use souk_contracts::inventory::{
    Commit, CommitAll, CommitReservations, Extend, ExtendReservation, LowStockAlert, RaiseAlert,
    RaiseLowStockAlert, Release, Reservation, ReservationRef, Reserve, ReserveStock,
};
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use super::store::{self, Error};
use souk_kit::Ctx;
use souk_kit::failure::{StepError, business, ctx_of, transient};
use souk_kit::steps::{StepHandler, call, unknown};

#[derive(Clone)]
pub struct InventoryActivities {
    pub pool: PgPool,
}

fn failure(e: Error) -> StepError {
    match e {
        Error::InsufficientStock { .. } => business(failures::INSUFFICIENT_STOCK, e),
        Error::ReservationConflict(_) => business(failures::RESERVATION_CONFLICT, e),
        Error::ReservationReleased(_) => business(failures::RESERVATION_RELEASED, e),
        Error::ReservationCommitted(_) => business(failures::RESERVATION_COMMITTED, e),
        Error::ReservationNotFound(_) => business(failures::RESERVATION_NOT_FOUND, e),
        Error::UnknownWarehouse(_)
        | Error::UnknownSku(_)
        | Error::BelowReserved { .. }
        | Error::Invalid(_) => business(failures::INVALID_INPUT, e),
        Error::Db(e) => transient(e),
    }
}

impl InventoryActivities {
    pub async fn reserve_step(
        &self,
        ctx: &Ctx,
        input: ReserveStock,
    ) -> Result<Reservation, StepError> {
        store::reserve(&self.pool, ctx, &input)
            .await
            .map_err(failure)
    }

    pub async fn extend_step(&self, input: ExtendReservation) -> Result<Reservation, StepError> {
        let r = store::extend(&self.pool, &input.reservation_id, input.ttl_seconds)
            .await
            .map_err(failure)?;
        tracing::debug!(reservation_id = %r.reservation_id, expires_at = %r.expires_at, "reservation extended");
        Ok(r)
    }

    pub async fn commit_step(&self, ctx: &Ctx, input: ReservationRef) -> Result<(), StepError> {
        store::commit(&self.pool, ctx, &input.reservation_id)
            .await
            .map_err(failure)
    }

    pub async fn commit_all_step(
        &self,
        ctx: &Ctx,
        input: CommitReservations,
    ) -> Result<(), StepError> {
        store::commit_all(&self.pool, ctx, &input.reservation_ids)
            .await
            .map_err(failure)
    }

    pub async fn release_step(&self, ctx: &Ctx, input: ReservationRef) -> Result<(), StepError> {
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
impl StepHandler for InventoryActivities {
    async fn run(&self, ctx: &Ctx, activity: &str, input: &[u8]) -> Result<Vec<u8>, StepError> {
        match activity {
            Reserve::NAME => call(input, |i| self.reserve_step(ctx, i)).await,
            Extend::NAME => call(input, |i| self.extend_step(i)).await,
            Commit::NAME => call(input, |i| self.commit_step(ctx, i)).await,
            CommitAll::NAME => call(input, |i| self.commit_all_step(ctx, i)).await,
            Release::NAME => call(input, |i| self.release_step(ctx, i)).await,
            other => Err(unknown(other)),
        }
    }
}

#[activities]
impl InventoryActivities {
    #[activity(definition = Reserve)]
    pub async fn reserve(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ReserveStock,
    ) -> Result<Reservation, ActivityError> {
        self.reserve_step(&ctx_of(&ctx), input)
            .await
            .map_err(StepError::into_activity)
    }

    #[activity(definition = Extend)]
    pub async fn extend(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ExtendReservation,
    ) -> Result<Reservation, ActivityError> {
        self.extend_step(input)
            .await
            .map_err(StepError::into_activity)
    }

    #[activity(definition = Commit)]
    pub async fn commit(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ReservationRef,
    ) -> Result<(), ActivityError> {
        self.commit_step(&ctx_of(&ctx), input)
            .await
            .map_err(StepError::into_activity)
    }

    #[activity(definition = CommitAll)]
    pub async fn commit_all(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: CommitReservations,
    ) -> Result<(), ActivityError> {
        self.commit_all_step(&ctx_of(&ctx), input)
            .await
            .map_err(StepError::into_activity)
    }

    #[activity(definition = Release)]
    pub async fn release(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ReservationRef,
    ) -> Result<(), ActivityError> {
        self.release_step(&ctx_of(&ctx), input)
            .await
            .map_err(StepError::into_activity)
    }

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
}
