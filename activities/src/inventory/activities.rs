//! Inventory activities, run by the inventory worker on `souk.inventory`.

use std::sync::Arc;

use souk_contracts::failures;
use souk_contracts::inventory::{
    Commit, LowStockAlert, RaiseAlert, RaiseLowStockAlert, Release, Reservation, ReservationRef,
    Reserve, ReserveStock,
};
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use super::store::{self, Error};
use crate::failure::{business, ctx_of, transient};

pub struct InventoryActivities {
    pub pool: PgPool,
}

fn failure(e: Error) -> ActivityError {
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

#[activities]
impl InventoryActivities {
    #[activity(definition = Reserve)]
    pub async fn reserve(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ReserveStock,
    ) -> Result<Reservation, ActivityError> {
        store::reserve(&self.pool, &ctx_of(&ctx), &input)
            .await
            .map_err(failure)
    }

    #[activity(definition = Commit)]
    pub async fn commit(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ReservationRef,
    ) -> Result<(), ActivityError> {
        store::commit(&self.pool, &ctx_of(&ctx), &input.reservation_id)
            .await
            .map_err(failure)
    }

    #[activity(definition = Release)]
    pub async fn release(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ReservationRef,
    ) -> Result<(), ActivityError> {
        store::release(
            &self.pool,
            &ctx_of(&ctx),
            &input.reservation_id,
            input.reason.as_deref(),
        )
        .await
        .map_err(failure)
    }

    #[activity(definition = RaiseAlert)]
    pub async fn raise_low_stock_alert(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: RaiseLowStockAlert,
    ) -> Result<LowStockAlert, ActivityError> {
        let alert = store::raise_alert(&self.pool, &ctx_of(&ctx), &input)
            .await
            .map_err(failure)?;
        tracing::info!(sku = %alert.sku, available = alert.available, threshold = alert.threshold,
            newly_raised = alert.newly_raised, "low-stock alert");
        Ok(alert)
    }
}
