//! `Checkout`: a customer's checkout as one durable saga.
//!
//! Steps, each done by its domain: snapshot and reprice the cart → hold the
//! coupon → reserve every line → authorize the payment (waiting for the customer if the card
//! needs 3-D Secure) → place the order, split by vendor (the checkout is *decided*) → capture →
//! commit the reservations → redeem the coupon → record the payment on the order → send the
//! confirmation. Until capture, a `cancel` signal stops it; any business failure (declined card,
//! out of stock, invalid coupon, price changed, payment timeout) undoes what was done, in
//! reverse: void or refund the payment, cancel the order, release the reservations, release the
//! coupon. Every side effect carries an idempotency key derived from the checkout id, the step
//! and the attempt, so retried activities never repeat one.
//!
//! Steps with an external side effect (the payment provider, the mail server) are activities on
//! their domain's task queue (`souk.payments`, `souk.notifications`). Steps that only change
//! Souk's own data are local activities: the workflow worker forwards them to the owning
//! domain's step service over gRPC, so the domain still does the work with its own database
//! role, and the Temporal server records one marker instead of scheduling a task. The
//! payloads, idempotency keys and failure types are the same either way.
//!
//! Support finds checkouts in the Temporal UI by the search attributes `CustomerEmail`,
//! `OrderNo`, `CheckoutState` (running, completed, compensated, cancelled, failed) and
//! `FailureCode`. A compensated checkout ends FAILED with its failure code as the error type; a
//! cancelled one ends CANCELED.

mod compensate;
mod failure;
mod lease;
mod rules;
mod steps;

use std::time::Duration;

use futures::future::Either;
use souk_contracts::payments::signals::PaymentUpdate;
use souk_contracts::queues::Queue;
use temporalio_common::ActivityDefinition;
use temporalio_common::data_converters::TemporalDeserializable;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, ActivityOptions, ApplicationFailure, SyncWorkflowContext,
    WorkflowCancellationToken, WorkflowContext, WorkflowContextView, WorkflowResult,
    WorkflowTermination,
};

use crate::options;
use compensate::Undo;
use failure::Stop;
use rules::DECISION_STEP_BUDGET;
use souk_contracts::inventory::Allocation;

pub use souk_contracts::checkout::{
    CHECKOUT_STATE, CUSTOMER_EMAIL, CheckoutInput, CheckoutSettings, CheckoutState, CheckoutStatus,
    FAILURE_CODE, Failure, ORDER_NO, PaymentChoice, SEARCH_ATTRIBUTES, Step, WORKFLOW_TYPE,
    workflow_id,
};

/// How the payment the customer was completing ended, as the provider reported it (the first
/// report counts).
#[derive(Debug, Clone)]
enum PaymentOutcome {
    Confirmed,
    Failed(PaymentUpdate),
}

#[workflow]
#[derive(Default)]
pub struct CheckoutWorkflow {
    status: CheckoutStatus,
    cancel_requested: Option<String>,
    /// Whether the customer completed the payment (from the provider's webhook).
    payment_update: Option<PaymentOutcome>,
    /// Past capture, the checkout can no longer be cancelled.
    captured: bool,
    /// Whether this run has [`LOCAL_STEPS_PATCH`].
    local_steps: bool,
    /// Whether this run has [`CART_HOLD_PATCH`].
    cart_hold: bool,
    /// Whether this run has [`RESERVATION_LEASE_PATCH`].
    reservation_lease: bool,
    /// The warehouse that gives the most of each line's reservation, line by line: where
    /// each vendor's shipment leaves from.
    warehouses: Vec<String>,
    /// Each line's reservation by warehouse, line by line: a vendor's part reserved in several
    /// warehouses ships in one shipment from each ([`SPLIT_SHIPMENTS_PATCH`]).
    allocations: Vec<Vec<Allocation>>,
}

/// The patch that moved the steps without external side effects to local activities. A
/// checkout whose history predates it keeps running them as activities on the domains' queues.
pub const LOCAL_STEPS_PATCH: &str = "local-steps";

/// The patch that holds the cart from the snapshot until the checkout ends (released by the
/// compensation, completed with the order).
pub const CART_HOLD_PATCH: &str = "cart-hold";

/// The patch that holds the coupon again, with the card's fingerprint, once the payment is
/// authorized. Checkouts that predate it do not take that step.
pub const COUPON_CARD_PATCH: &str = "coupon-card";

/// The patch that makes the checkout own its reservations' lifetime: it extends them before
/// each wait (3-D Secure, the capture delay) and once more before it captures, so the sweeper
/// never releases stock under a live checkout, and a reservation lost anyway (the checkout
/// stalled past its lease, an operator released it) stops the checkout before money moves.
/// Checkouts that predate it rely on the first TTL alone.
pub const RESERVATION_LEASE_PATCH: &str = "reservation-lease";

/// The patch that starts the shipment of each vendor's part once the checkout has captured
/// and confirmed: a child workflow (`shipment-<order_no>-<vendor>`) that outlives the
/// checkout. Checkouts that predate it start none.
pub const SHIPMENTS_PATCH: &str = "shipments";

/// The patch that starts the shipments while the confirmation runs instead of after it (the
/// checkout completes as soon as both are done), each with its search attributes given at
/// the start rather than set by the shipment afterwards.
pub const SHIPMENTS_WITH_CONFIRMATION_PATCH: &str = "shipments_with_confirmation";

/// The patch that ships a vendor's part reserved in several warehouses in one shipment from
/// each (`shipment-<order_no>-<vendor>`, then `...-2`, ...), the part following all of them;
/// before it, one shipment left from the warehouse that gave the most. Asked only of a
/// checkout whose reservations came from several warehouses for one vendor.
pub const SPLIT_SHIPMENTS_PATCH: &str = "split_shipments";

/// The patch that posts the capture to the ledger (each line's commission by the rules in
/// effect, the vendors' shares into their reserves) while the confirmation runs, after asking
/// the catalog for the lines' categories. Checkouts that predate it post nothing.
pub const LEDGER_PATCH: &str = "ledger_capture";

/// When a step without external side effects runs, which sets its timeouts and cancellation.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Before the decision: retried for at most [`DECISION_STEP_BUDGET`].
    Decision,
    /// After the decision: retried for as long as it takes.
    Confirm,
    /// A compensation: retried for as long as it takes, and run even while cancelling.
    Undo,
}

/// Runs a step that only changes Souk's own data, owned by `domain`: a local activity the
/// workflow worker forwards to the domain's step service or, in a checkout started before
/// [`LOCAL_STEPS_PATCH`], an activity on the domain's task queue. Like the SDK's calls it
/// issues its command when called, not when first polled, so the order of commands is the
/// order of calls.
fn own_step<AD>(
    ctx: &WorkflowContext<CheckoutWorkflow>,
    domain: Queue,
    phase: Phase,
    activity: AD,
    input: AD::Input,
) -> impl Future<Output = Result<AD::Output, ActivityExecutionError>>
where
    AD: ActivityDefinition,
    AD::Output: TemporalDeserializable,
{
    if ctx.state(|s| s.local_steps) {
        let opts = match phase {
            Phase::Decision => options::local(Some(DECISION_STEP_BUDGET), false),
            Phase::Confirm => options::local(None, false),
            Phase::Undo => options::local(None, true),
        };
        return Either::Left(ctx.execute_local_activity(activity, input, opts));
    }
    let opts = match phase {
        Phase::Decision => CheckoutWorkflow::before_decision(ctx, domain),
        Phase::Confirm => options::on(ctx, domain, Duration::from_secs(30)),
        Phase::Undo => detached(ctx, domain),
    };
    Either::Right(ctx.execute_activity(activity, input, opts))
}

/// Options for a compensation on `domain`'s queue: retried for as long as it takes, and run
/// even while the workflow is being cancelled (a token of its own, never cancelled).
fn detached(ctx: &WorkflowContext<CheckoutWorkflow>, domain: Queue) -> ActivityOptions {
    let mut o = options::on(ctx, domain, Duration::from_secs(30));
    o.cancellation_token = Some(WorkflowCancellationToken::new());
    o
}

#[workflow_methods]
impl CheckoutWorkflow {
    #[run(name = "Checkout")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: CheckoutInput,
    ) -> WorkflowResult<CheckoutStatus> {
        ctx.state_mut(|s| {
            s.status.checkout_id = input.checkout_id.clone();
            s.status.attempt = input.attempt;
            s.status.customer_id = input.customer_id.clone();
        });
        // The API sets these when it starts the checkout; another starter may not have.
        if ctx.search_attributes().get(&CUSTOMER_EMAIL).is_none() {
            ctx.upsert_search_attributes([
                CUSTOMER_EMAIL.value_set(input.email.to_lowercase()),
                CHECKOUT_STATE.value_set(CheckoutState::Running.as_str().into()),
            ]);
        }
        let local_steps = ctx.patched(LOCAL_STEPS_PATCH);
        let cart_hold = ctx.patched(CART_HOLD_PATCH);
        let reservation_lease = ctx.patched(RESERVATION_LEASE_PATCH);
        ctx.state_mut(|s| {
            s.local_steps = local_steps;
            s.cart_hold = cart_hold;
            s.reservation_lease = reservation_lease;
        });
        let mut undo = Vec::new();
        let outcome = Self::forward(ctx, &input, &mut undo).await;
        let result = Self::conclude(ctx, &input, undo, outcome).await;
        // Let a waiting `wait_decided` update answer before the run closes.
        let c = ctx.clone();
        ctx.wait_condition(move |_| c.all_handlers_finished())
            .await?;
        result
    }

    /// Waits until the checkout is decided (order placed with the payment authorized) or has
    /// ended, and answers its status.
    #[update(name = "wait_decided")]
    pub async fn wait_decided(
        ctx: &mut WorkflowContext<Self>,
        _input: (),
    ) -> Result<CheckoutStatus, Box<dyn std::error::Error + Send + Sync>> {
        ctx.wait_condition(|s| s.status.decided || s.status.state != CheckoutState::Running)
            .await?;
        Ok(ctx.state(|s| s.status.clone()))
    }

    #[query(name = "status")]
    pub fn status(&self, _ctx: &WorkflowContextView, _input: ()) -> CheckoutStatus {
        self.status.clone()
    }

    /// Stops the checkout and undoes what it did, unless the payment was captured already.
    #[signal(name = "cancel")]
    pub fn cancel(&mut self, _ctx: &mut SyncWorkflowContext<Self>, reason: String) {
        if !self.captured && self.cancel_requested.is_none() {
            self.cancel_requested = Some(if reason.is_empty() {
                "cancelled by request".into()
            } else {
                reason
            });
        }
    }

    #[signal(name = "payment_confirmed")]
    pub fn payment_confirmed(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        _update: PaymentUpdate,
    ) {
        self.payment_update.get_or_insert(PaymentOutcome::Confirmed);
    }

    #[signal(name = "payment_failed")]
    pub fn payment_failed(&mut self, _ctx: &mut SyncWorkflowContext<Self>, update: PaymentUpdate) {
        self.payment_update
            .get_or_insert(PaymentOutcome::Failed(update));
    }
}

impl CheckoutWorkflow {
    /// Ends the run: completed, or undone and ended as the stop and the compensations say.
    async fn conclude(
        ctx: &mut WorkflowContext<Self>,
        input: &CheckoutInput,
        undo: Vec<Undo>,
        outcome: Result<(), Stop>,
    ) -> WorkflowResult<CheckoutStatus> {
        let stop = match outcome {
            Ok(()) => return Ok(Self::finish(ctx, CheckoutState::Completed, None)),
            Err(stop) => stop,
        };
        ctx.state_mut(|s| s.status.step = Step::Compensating);
        let errors = Self::compensate(ctx, input, undo, &stop).await;
        let (state, failure) = stop.outcome(errors.is_empty());
        ctx.state_mut(|s| s.status.compensation_errors = errors);
        Self::finish(ctx, state, Some(failure.clone()));
        if state == CheckoutState::Cancelled {
            return Err(WorkflowTermination::cancelled());
        }
        Err(WorkflowTermination::failed_application(
            ApplicationFailure::builder(failure.message)
                .type_name(failure.code)
                .non_retryable(true)
                .build(),
        ))
    }

    fn finish(
        ctx: &WorkflowContext<Self>,
        state: CheckoutState,
        failure: Option<Failure>,
    ) -> CheckoutStatus {
        let mut updates = vec![CHECKOUT_STATE.value_set(state.as_str().into())];
        if let Some(f) = &failure {
            updates.push(FAILURE_CODE.value_set(f.code.clone()));
        }
        ctx.upsert_search_attributes(updates);
        ctx.state_mut(|s| {
            s.status.state = state;
            s.status.step = Step::Done;
            s.status.decided = true;
            s.status.failure = failure;
            s.status.clone()
        })
    }

    fn step(ctx: &WorkflowContext<Self>, step: Step) {
        ctx.state_mut(|s| s.status.step = step);
    }

    /// A cancel signal stops the checkout at the next step, until capture.
    fn check_cancel(ctx: &WorkflowContext<Self>) -> Result<(), Stop> {
        match ctx.state(|s| s.cancel_requested.clone()) {
            Some(reason) => Err(Stop::Cancelled(reason)),
            None => Ok(()),
        }
    }

    /// Options for a step before the decision: retried with backoff, but not forever.
    fn before_decision(ctx: &WorkflowContext<Self>, domain: Queue) -> ActivityOptions {
        let mut o = options::on(ctx, domain, Duration::from_secs(30));
        o.close_timeouts = temporalio_sdk::ActivityCloseTimeouts::ScheduleAndStartToClose {
            start_to_close: Duration::from_secs(30),
            schedule_to_close: DECISION_STEP_BUDGET,
        };
        o
    }
}

#[cfg(test)]
mod tests {
    use souk_contracts::cart::{CompleteCheckout, ReleaseCheckout, Snapshot};
    use souk_contracts::inventory;
    use souk_contracts::notifications::SendConfirmation;
    use souk_contracts::orders;
    use souk_contracts::payments::{Authorize, Capture, Refund, Void};
    use souk_contracts::pricing::{Hold, Redeem, Release};
    use temporalio_common::ActivityDefinition;

    /// Every activity the checkout runs, for tests that check the names stay pinned.
    fn activity_names() -> Vec<&'static str> {
        vec![
            Snapshot.name(),
            Hold.name(),
            inventory::Reserve.name(),
            Authorize.name(),
            inventory::Extend.name(),
            orders::Create.name(),
            Capture.name(),
            inventory::Commit.name(),
            inventory::CommitAll.name(),
            Redeem.name(),
            orders::Payment.name(),
            SendConfirmation.name(),
            orders::Cancel.name(),
            Refund.name(),
            Void.name(),
            inventory::Release.name(),
            Release.name(),
            ReleaseCheckout.name(),
            CompleteCheckout.name(),
        ]
    }

    /// Type names are recorded in every history: renaming one breaks running checkouts.
    #[test]
    fn activity_and_workflow_type_names_are_pinned() {
        assert_eq!(super::WORKFLOW_TYPE, "Checkout");
        assert_eq!(crate::low_stock::WORKFLOW_TYPE, "LowStockAlert");
        assert_eq!(
            activity_names(),
            [
                "cart.snapshot",
                "pricing.hold_coupon",
                "inventory.reserve",
                "payments.authorize",
                "inventory.extend",
                "orders.create",
                "payments.capture",
                "inventory.commit",
                "inventory.commit_all",
                "pricing.redeem_coupon",
                "orders.record_payment",
                "notifications.send_order_confirmation",
                "orders.cancel",
                "payments.refund",
                "payments.void",
                "inventory.release",
                "pricing.release_coupon",
                "cart.release_checkout",
                "cart.complete_checkout",
            ]
        );
    }

    /// Callers use the contract's definitions (`souk_contracts::checkout`), never this
    /// workflow's: both must name the same workflow, update, query and signals.
    #[test]
    fn the_contract_names_what_the_workflow_implements() {
        use super::CheckoutWorkflow;
        use souk_contracts::checkout as contract;
        use temporalio_common::{
            QueryDefinition, SignalDefinition, UpdateDefinition, WorkflowDefinition,
        };
        assert_eq!(CheckoutWorkflow::run.name(), contract::Checkout.name());
        assert_eq!(
            CheckoutWorkflow::wait_decided.name(),
            contract::WaitDecided.name()
        );
        assert_eq!(CheckoutWorkflow::status.name(), contract::Status.name());
        assert_eq!(CheckoutWorkflow::cancel.name(), contract::Cancel.name());
        assert_eq!(
            CheckoutWorkflow::payment_confirmed.name(),
            contract::PaymentConfirmed.name()
        );
        assert_eq!(
            CheckoutWorkflow::payment_failed.name(),
            contract::PaymentFailed.name()
        );
        assert_eq!(
            crate::LowStockAlertWorkflow::run.name(),
            souk_contracts::low_stock::Alert.name()
        );
    }
}
