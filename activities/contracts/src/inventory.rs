//! Inventory activities: reservations and low-stock alerts. They run on `souk.inventory`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use souk_domain::Sku;
use souk_domain::stock::ReservationState;

use crate::activity;

/// The `inventory` domain's task queue.
pub const QUEUE: crate::queues::Queue = crate::queues::Queue::new("inventory");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveStock {
    /// Idempotency key: the same id always means the same reservation, e.g.
    /// `checkout-abc:reserve:SKU-1`.
    pub reservation_id: String,
    pub sku: Sku,
    pub quantity: i64,
    /// How long the reservation holds before the sweeper releases it.
    pub ttl_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub reservation_id: String,
    pub sku: Sku,
    /// The warehouse that gives the most of it (the only one, unless it is split).
    pub warehouse: String,
    pub quantity: i64,
    pub state: ReservationState,
    pub expires_at: DateTime<Utc>,
    /// Where it comes from: one part per warehouse, adding up to `quantity`.
    #[serde(default)]
    pub allocations: Vec<Allocation>,
}

/// The part of a reservation one warehouse gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub warehouse: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationRef {
    pub reservation_id: String,
    /// Why (for release): shown in the event and the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Keep a reservation at least this much longer (never shorter than it already is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendReservation {
    pub reservation_id: String,
    pub ttl_seconds: i64,
}

/// A checkout's reservations, sold together or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitReservations {
    pub reservation_ids: Vec<String>,
}

/// Units sold but not shipped, back on the shelf of the warehouse they left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestockUnits {
    /// Idempotency key: the units go back once per key.
    pub key: String,
    pub sku: Sku,
    pub warehouse: String,
    pub quantity: i64,
    /// For the stock's history: why they came back.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaiseLowStockAlert {
    /// Idempotency key, derived from the workflow id and run.
    pub alert_id: String,
    pub sku: Sku,
    pub available: i64,
    pub threshold: i64,
    pub raised_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LowStockAlert {
    pub alert_id: String,
    pub sku: Sku,
    pub available: i64,
    pub threshold: i64,
    pub raised_at: DateTime<Utc>,
    /// False when this alert id had been recorded before (a retried activity).
    pub newly_raised: bool,
}

activity!(
    /// Reserves stock in one warehouse. Fails with `InsufficientStock` (non-retryable).
    Reserve, "inventory.reserve", ReserveStock => Reservation
);
activity!(
    /// Keeps a reservation from expiring for `ttl_seconds` more. Fails with
    /// `ReservationReleased` (non-retryable) once the sweeper or an operator released it.
    Extend, "inventory.extend", ExtendReservation => Reservation
);
activity!(
    /// Turns a reservation into a sale: on hand and reserved both go down.
    Commit, "inventory.commit", ReservationRef => ()
);
activity!(
    /// Turns all of a checkout's reservations into a sale in one transaction, or none: fails
    /// with `ReservationReleased` (non-retryable), committing nothing, if one was released.
    CommitAll, "inventory.commit_all", CommitReservations => ()
);
activity!(
    /// Gives reserved stock back. Releasing an unknown id leaves a tombstone so a late
    /// reserve with that id cannot take stock afterwards.
    Release, "inventory.release", ReservationRef => ()
);
activity!(
    /// Puts units back on hand in a warehouse, once per key. Fails with `InvalidInput`
    /// (non-retryable) for an unknown warehouse or a quantity that is not positive.
    Restock, "inventory.restock", RestockUnits => ()
);
activity!(
    /// Records a low-stock alert (once per alert id) and emits `inventory.low_stock`.
    RaiseAlert, "inventory.raise_low_stock_alert", RaiseLowStockAlert => LowStockAlert
);

/// The inventory steps workflows may run as local activities (through the domain's step service)
/// as well as on `souk.inventory`: the one list of them, as `marker => method(input) -> output`.
/// It calls back the macro it is given with that list, after the macro's own arguments: the
/// domain serves the steps with `souk_kit::serve_steps!`, the workflow worker forwards them.
/// Names resolve where it is called, so the caller imports the markers and types.
#[macro_export]
macro_rules! inventory_steps {
    ($($then:ident)::+ ! ($($args:tt)*)) => {
        $($then)::+! { ($($args)*)
            Reserve => reserve(ReserveStock) -> Reservation,
            Extend => extend(ExtendReservation) -> Reservation,
            Commit => commit(ReservationRef) -> (),
            CommitAll => commit_all(CommitReservations) -> (),
            Release => release(ReservationRef) -> (),
            Restock => restock(RestockUnits) -> (),
        }
    };
}
