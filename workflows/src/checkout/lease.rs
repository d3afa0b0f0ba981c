//! The checkout owns its reservations' lifetime (with
//! [`RESERVATION_LEASE_PATCH`](super::RESERVATION_LEASE_PATCH)): it
//! extends them before each wait and while the capture retries.

use std::time::Duration;

use futures::future::Either;
use souk_contracts::inventory::{self, ExtendReservation};
use temporalio_sdk::workflows::join_all;
use temporalio_sdk::{CancellableFuture, WorkflowContext};

use super::failure::{self, Stop};
use super::{CheckoutInput, CheckoutWorkflow, Phase, own_step};

impl CheckoutWorkflow {
    /// Keeps the checkout's reservations for `wait_seconds` plus the reservation TTL from now
    /// (a no-op for checkouts that predate the lease). Fails with `reservation_expired` if one
    /// was released: the stock may be sold to someone else.
    pub(super) async fn extend_reservations(
        ctx: &WorkflowContext<Self>,
        input: &CheckoutInput,
        reservations: &[String],
        wait_seconds: u64,
    ) -> Result<(), Stop> {
        if !ctx.state(|s| s.reservation_lease) {
            return Ok(());
        }
        let ttl = (wait_seconds + input.settings.reservation_ttl_seconds) as i64;
        let results = join_all(reservations.iter().map(|rid| {
            own_step(
                ctx,
                souk_contracts::inventory::QUEUE,
                Phase::Decision,
                inventory::Extend,
                ExtendReservation {
                    reservation_id: rid.clone(),
                    ttl_seconds: ttl,
                },
            )
        }))
        .await;
        for r in results {
            r.map_err(|e| failure::EXTEND.of(&e))?;
        }
        Ok(())
    }

    /// Runs `work` (the capture, which retries until it succeeds), extending the reservations
    /// every half TTL while it runs, so a capture that retries through an outage keeps the
    /// stock. An extension that finds a reservation released changes nothing here (the
    /// capture cannot be taken back): the commit after it fails and the capture is refunded.
    pub(super) async fn renewing<T>(
        ctx: &WorkflowContext<Self>,
        input: &CheckoutInput,
        reservations: &[String],
        work: impl Future<Output = T>,
    ) -> T {
        if !ctx.state(|s| s.reservation_lease) {
            return work.await;
        }
        let every = Duration::from_secs((input.settings.reservation_ttl_seconds / 2).max(1));
        let mut work = std::pin::pin!(work);
        loop {
            let tick = std::pin::pin!(ctx.timer(every));
            match futures::future::select(work.as_mut(), tick).await {
                Either::Left((out, tick)) => {
                    // A dropped timer stays scheduled; cancel it so it never wakes the run.
                    tick.cancel();
                    return out;
                }
                Either::Right(_) => {
                    let _ = Self::extend_reservations(ctx, input, reservations, 0).await;
                }
            }
        }
    }
}
