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

use std::time::Duration;

use futures::future::Either;
use souk_contracts::cart::{
    CartCheckout, CartSnapshot, CompleteCheckout, ReleaseCheckout, Snapshot, SnapshotCart,
};
use souk_contracts::failures;
use souk_contracts::inventory::{
    self, CommitReservations, ExtendReservation, ReservationRef, ReserveStock,
};
use souk_contracts::notifications::{ConfirmationLine, SendConfirmation, SendOrderConfirmation};
use souk_contracts::orders::{self, CancelOrder, CreateOrder, OrderLine, RecordPayment};
use souk_contracts::payments::signals::PaymentUpdate;
use souk_contracts::payments::{
    AuthorizationStatus, Authorize, AuthorizePayment, Capture, CapturePayment, PaymentRef, Refund,
    RefundPayment, Void,
};
use souk_contracts::pricing::{Hold, HoldCoupon, Redeem, RedemptionRef, Release};
use souk_contracts::queues::Queue;
use souk_domain::order::PaymentStatus;
use souk_domain::{Money, coupon, quote};
use temporalio_common::ActivityDefinition;
use temporalio_common::data_converters::TemporalDeserializable;
use temporalio_common::error::IncomingError;
use temporalio_common::protos::temporal::api::failure::v1::failure::FailureInfo;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::workflows::{join, join_all, select};
use temporalio_sdk::{
    ActivityExecutionError, ActivityOptions, ApplicationFailure, CancellableFuture,
    SyncWorkflowContext, WorkflowCancellationToken, WorkflowContext, WorkflowContextView,
    WorkflowResult, WorkflowTermination,
};

use crate::options;

pub use souk_contracts::checkout::{
    CHECKOUT_STATE, CUSTOMER_EMAIL, CheckoutInput, CheckoutSettings, CheckoutState, CheckoutStatus,
    FAILURE_CODE, Failure, ORDER_NO, PaymentChoice, SEARCH_ATTRIBUTES, Step, WORKFLOW_TYPE,
    workflow_id,
};

/// Why the forward path stopped.
enum Stop {
    Failure(Failure),
    Cancelled(String),
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Self {
        Stop::Failure(f)
    }
}

/// How the payment the customer was completing ended, as the provider reported it (the first
/// report counts).
#[derive(Debug, Clone)]
enum PaymentOutcome {
    Confirmed,
    Failed(PaymentUpdate),
}

/// What to undo, in the order it was done.
#[derive(Debug, Clone)]
enum Undo {
    ReleaseCart,
    ReleaseCoupon { code: String, key: String },
    ReleaseReservation(String),
    VoidPayment,
    RefundPayment(Money),
    CancelOrder,
}

/// The failure type name and message of an activity failure. Remote and local activity
/// failures nest the application failure differently, so walk the whole chain.
fn describe(err: &ActivityExecutionError) -> (Option<String>, String) {
    let mut cause = err.cause();
    while let Some(c) = cause {
        match c {
            IncomingError::Application(app) => {
                return (app.type_name().map(str::to_string), app.to_string());
            }
            IncomingError::Activity(inner) => cause = inner.cause(),
            other => return (None, other.failure().message.clone()),
        }
    }
    let mut failure = err.failure();
    while let Some(f) = failure {
        if let Some(FailureInfo::ApplicationFailureInfo(info)) = &f.failure_info
            && !info.r#type.is_empty()
        {
            return (Some(info.r#type.clone()), f.message.clone());
        }
        failure = f.cause.as_deref();
    }
    (None, err.to_string())
}

/// Maps an activity's business failure to the checkout's failure code.
fn failure(err: &ActivityExecutionError, codes: &[(&str, &str)], fallback: &str) -> Failure {
    let (type_name, message) = describe(err);
    let code = type_name
        .as_deref()
        .and_then(|t| codes.iter().find(|(ty, _)| *ty == t).map(|(_, c)| *c))
        .unwrap_or(fallback);
    Failure {
        code: code.to_string(),
        message,
    }
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
}

/// How long a step before the decision may keep retrying (a domain being down) before the
/// checkout gives up and undoes what it did.
const DECISION_STEP_BUDGET: Duration = Duration::from_secs(120);

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
        Phase::Undo => {
            let mut o = options::on(ctx, domain, Duration::from_secs(30));
            o.cancellation_token = Some(WorkflowCancellationToken::new());
            o
        }
    };
    Either::Right(ctx.execute_activity(activity, input, opts))
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

    async fn conclude(
        ctx: &mut WorkflowContext<Self>,
        input: &CheckoutInput,
        undo: Vec<Undo>,
        outcome: Result<(), Stop>,
    ) -> WorkflowResult<CheckoutStatus> {
        match outcome {
            Ok(()) => {
                let status = Self::finish(ctx, CheckoutState::Completed, None);
                Ok(status)
            }
            Err(stop) => {
                ctx.state_mut(|s| s.status.step = Step::Compensating);
                let errors = Self::compensate(ctx, input, undo, &stop).await;
                let (state, failure) = match (&stop, errors.is_empty()) {
                    (Stop::Failure(f), true) => (CheckoutState::Compensated, Some(f.clone())),
                    (Stop::Cancelled(reason), true) => (
                        CheckoutState::Cancelled,
                        Some(Failure {
                            code: "cancelled".into(),
                            message: reason.clone(),
                        }),
                    ),
                    (Stop::Failure(f), false) => (CheckoutState::Failed, Some(f.clone())),
                    (Stop::Cancelled(reason), false) => (
                        CheckoutState::Failed,
                        Some(Failure {
                            code: "cancelled".into(),
                            message: reason.clone(),
                        }),
                    ),
                };
                ctx.state_mut(|s| s.status.compensation_errors = errors);
                Self::finish(ctx, state, failure.clone());
                match stop {
                    Stop::Cancelled(_) if state == CheckoutState::Cancelled => {
                        Err(WorkflowTermination::cancelled())
                    }
                    _ => {
                        let f = failure.unwrap_or(Failure {
                            code: "failed".into(),
                            message: "checkout failed".into(),
                        });
                        Err(WorkflowTermination::failed_application(
                            ApplicationFailure::builder(f.message)
                                .type_name(f.code)
                                .non_retryable(true)
                                .build(),
                        ))
                    }
                }
            }
        }
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

    async fn forward(
        ctx: &mut WorkflowContext<Self>,
        input: &CheckoutInput,
        undo: &mut Vec<Undo>,
    ) -> Result<(), Stop> {
        let (id, attempt) = (input.checkout_id.clone(), input.attempt);
        // Who a coupon's per-customer limit counts: the account, or a guest's mailbox.
        let customer_keys = coupon::customer_keys(input.customer_id.as_deref(), &input.email);

        // 1. Snapshot and reprice the cart, which cannot change from then on (until the
        //    checkout fails or is cancelled). Undo first: a snapshot that timed out may have
        //    taken the hold.
        Self::step(ctx, Step::Snapshot);
        let hold_cart = ctx.state(|s| s.cart_hold);
        if hold_cart {
            undo.push(Undo::ReleaseCart);
        }
        // Steps before the decision, each of which may retry for its whole budget (the lease
        // adds three extensions).
        let decision_steps = if ctx.state(|s| s.reservation_lease) {
            9
        } else {
            6
        };
        let snapshot: CartSnapshot = own_step(
            ctx,
            souk_contracts::cart::QUEUE,
            Phase::Decision,
            Snapshot,
            SnapshotCart {
                cart_id: input.cart_id.clone(),
                checkout_id: id.clone(),
                attempt,
                customer: input.email.clone(),
                customer_keys: customer_keys.clone(),
                // Taxes and shipping are those of where the order ships.
                destination: Some(input.shipping_address.country),
                // A safety net for a hold nobody releases: longer than the checkout can take
                // to capture (every step before it may retry for its whole budget).
                hold_seconds: hold_cart.then(|| {
                    input
                        .settings
                        .reservation_ttl_seconds
                        .max(input.settings.payment_wait_seconds())
                        + input.settings.capture_delay_seconds
                        + decision_steps * DECISION_STEP_BUDGET.as_secs()
                }),
            },
        )
        .await
        .map_err(|e| {
            failure(
                &e,
                &[
                    (failures::CART_NOT_FOUND, "cart_not_found"),
                    (failures::CART_EMPTY, "cart_empty"),
                    (failures::ITEM_UNAVAILABLE, "item_unavailable"),
                    (failures::UNSUPPORTED_DESTINATION, "unsupported_destination"),
                ],
                "cart_unavailable",
            )
        })?;
        ctx.state_mut(|s| s.status.total = Some(snapshot.total));
        let risen: Vec<String> = snapshot
            .lines
            .iter()
            .filter(|l| {
                quote::rose_beyond(
                    l.added_unit_price.amount,
                    l.unit_price.amount,
                    input.settings.price_tolerance_bp,
                )
            })
            .map(|l| format!("{} ({} → {})", l.sku, l.added_unit_price, l.unit_price))
            .collect();
        if !risen.is_empty() {
            return Err(Failure {
                code: "price_changed".into(),
                message: format!(
                    "prices went up since they were added to the cart: {}",
                    risen.join(", ")
                ),
            }
            .into());
        }
        if snapshot.total.amount <= 0 {
            return Err(Failure {
                code: "nothing_to_pay".into(),
                message: "the order total is zero".into(),
            }
            .into());
        }

        // 2. Validate and hold the coupon.
        Self::step(ctx, Step::Coupon);
        if let Some(code) = &snapshot.coupon_code {
            if !snapshot.coupon_applied {
                return Err(Failure {
                    code: "coupon_invalid".into(),
                    message: format!("coupon {code} does not apply to this cart any more"),
                }
                .into());
            }
            let key = format!("{id}:coupon:{attempt}");
            undo.push(Undo::ReleaseCoupon {
                code: code.clone(),
                key: key.clone(),
            });
            own_step(
                ctx,
                souk_contracts::pricing::QUEUE,
                Phase::Decision,
                Hold,
                HoldCoupon {
                    code: code.clone(),
                    redemption_key: key,
                    customer: input.email.clone(),
                    customer_keys: customer_keys.clone(),
                },
            )
            .await
            .map_err(|e| {
                failure(
                    &e,
                    &[(failures::COUPON_REJECTED, "coupon_invalid")],
                    "coupon_invalid",
                )
            })?;
        }
        Self::check_cancel(ctx)?;

        // 3. Reserve every line, concurrently.
        Self::step(ctx, Step::Reserve);
        let reservations: Vec<String> = snapshot
            .lines
            .iter()
            .map(|l| format!("{id}:reserve:{}:{attempt}", l.sku))
            .collect();
        // Undo first: a reserve that timed out may still have happened.
        undo.extend(reservations.iter().cloned().map(Undo::ReleaseReservation));
        let results = join_all(snapshot.lines.iter().zip(&reservations).map(|(l, rid)| {
            own_step(
                ctx,
                souk_contracts::inventory::QUEUE,
                Phase::Decision,
                inventory::Reserve,
                ReserveStock {
                    reservation_id: rid.clone(),
                    sku: l.sku.clone(),
                    quantity: l.quantity.get(),
                    ttl_seconds: input.settings.reservation_ttl_seconds as i64,
                },
            )
        }))
        .await;
        for r in results {
            r.map_err(|e| {
                failure(
                    &e,
                    &[(failures::INSUFFICIENT_STOCK, "out_of_stock")],
                    "inventory_unavailable",
                )
            })?;
        }
        Self::check_cancel(ctx)?;

        // 4. Authorize the payment.
        Self::step(ctx, Step::Authorize);
        undo.push(Undo::VoidPayment);
        let auth = ctx
            .execute_activity(
                Authorize,
                AuthorizePayment {
                    checkout_id: id.clone(),
                    attempt,
                    provider: None,
                    payment_method: input.payment.payment_method.clone(),
                    amount: snapshot.total,
                    customer_email: input.email.clone(),
                },
                Self::before_decision(ctx, souk_contracts::payments::QUEUE),
            )
            .await
            .map_err(|e| {
                failure(
                    &e,
                    &[
                        (failures::CARD_DECLINED, "card_declined"),
                        (failures::PAYMENT_FAILED, "payment_failed"),
                    ],
                    "payment_unavailable",
                )
            })?;
        ctx.state_mut(|s| s.status.payment_reference = Some(auth.reference.clone()));
        // A coupon also counts against the card it is paid with: new accounts or addresses
        // paying with one card are one customer.
        if let (Some(code), Some(fingerprint)) = (
            snapshot
                .coupon_code
                .as_ref()
                .filter(|_| snapshot.coupon_applied),
            &auth.fingerprint,
        ) && ctx.patched(COUPON_CARD_PATCH)
        {
            let mut keys = customer_keys.clone();
            keys.push(coupon::card_key(fingerprint));
            own_step(
                ctx,
                souk_contracts::pricing::QUEUE,
                Phase::Decision,
                Hold,
                HoldCoupon {
                    code: code.clone(),
                    redemption_key: format!("{id}:coupon:{attempt}"),
                    customer: input.email.clone(),
                    customer_keys: keys,
                },
            )
            .await
            .map_err(|e| {
                failure(
                    &e,
                    &[(failures::COUPON_REJECTED, "coupon_invalid")],
                    "coupon_invalid",
                )
            })?;
        }
        if auth.status == AuthorizationStatus::RequiresAction {
            Self::extend_reservations(
                ctx,
                input,
                &reservations,
                input.settings.payment_wait_seconds(),
            )
            .await?;
            Self::await_payment(ctx, input).await?;
        }
        Self::check_cancel(ctx)?;

        // 5. Place the order, split by vendor: the checkout is decided.
        Self::step(ctx, Step::CreateOrder);
        undo.push(Undo::CancelOrder);
        let order = own_step(
            ctx,
            souk_contracts::orders::QUEUE,
            Phase::Decision,
            orders::Create,
            CreateOrder {
                checkout_id: id.clone(),
                attempt,
                cart_id: input.cart_id.clone(),
                customer_email: input.email.clone(),
                currency: snapshot.currency,
                lines: snapshot
                    .lines
                    .iter()
                    .map(|l| OrderLine {
                        sku: l.sku.clone(),
                        title: l.title.clone(),
                        product_id: l.product_id,
                        vendor_id: l.vendor_id,
                        quantity: l.quantity,
                        unit_price: l.unit_price,
                        line_total: l.line_total,
                        discount: l.discount,
                        tax: l.tax,
                    })
                    .collect(),
                shipping_by_vendor: snapshot
                    .shipping_by_vendor
                    .iter()
                    .map(|v| (v.vendor_id, v.amount))
                    .collect(),
                subtotal: snapshot.subtotal,
                discount: snapshot.discount,
                tax: snapshot.tax,
                shipping: snapshot.shipping,
                total: snapshot.total,
                coupon_code: snapshot.coupon_code.clone(),
                shipping_address: input.shipping_address.clone(),
                payment_provider: auth.provider.clone(),
                payment_reference: auth.reference.clone(),
                customer_id: input.customer_id.clone(),
            },
        )
        .await
        .map_err(|e| {
            failure(
                &e,
                &[(failures::ORDER_CANCELLED, "cancelled")],
                "orders_unavailable",
            )
        })?;
        ctx.upsert_search_attributes([ORDER_NO.value_set(order.order_no.clone())]);
        ctx.state_mut(|s| {
            s.status.order_no = Some(order.order_no.clone());
            s.status.decided = true;
        });

        // 6. Optional review window before capture; a cancel signal still stops it.
        if input.settings.capture_delay_seconds > 0 {
            Self::step(ctx, Step::CaptureDelay);
            Self::extend_reservations(
                ctx,
                input,
                &reservations,
                input.settings.capture_delay_seconds,
            )
            .await?;
            let mut delay = ctx.timer(Duration::from_secs(input.settings.capture_delay_seconds));
            let mut cancelled = ctx.wait_condition(|s| s.cancel_requested.is_some());
            select! {
                _ = delay => {}
                _ = cancelled => {}
            };
        }
        Self::check_cancel(ctx)?;

        // 7. Capture. From here on the checkout completes: no more cancel, no compensation of
        //    stock or order; only retries. The stock is checked to be still ours first: a
        //    reservation lost now costs a void, after the capture a refund.
        Self::extend_reservations(ctx, input, &reservations, 0).await?;
        Self::check_cancel(ctx)?;
        Self::step(ctx, Step::Capture);
        ctx.state_mut(|s| s.captured = true);
        let capture = ctx.execute_activity(
            Capture,
            CapturePayment {
                checkout_id: id.clone(),
                attempt,
                amount: snapshot.total,
            },
            options::on(
                ctx,
                souk_contracts::payments::QUEUE,
                Duration::from_secs(30),
            ),
        );
        let captured = Self::renewing(ctx, input, &reservations, capture)
            .await
            .map_err(|e| {
                failure(
                    &e,
                    &[(failures::PAYMENT_FAILED, "capture_failed")],
                    "capture_failed",
                )
            })?;
        if let Some(u) = undo.iter_mut().find(|u| matches!(u, Undo::VoidPayment)) {
            *u = Undo::RefundPayment(captured);
        }

        // 8. Commit the reservations: the stock is sold. With the lease, all of them in one
        //    step or none, so a reservation lost during the capture leaves no stock sold to an
        //    order that is refunded.
        Self::step(ctx, Step::Commit);
        let results = if ctx.state(|s| s.reservation_lease) {
            vec![
                own_step(
                    ctx,
                    souk_contracts::inventory::QUEUE,
                    Phase::Confirm,
                    inventory::CommitAll,
                    CommitReservations {
                        reservation_ids: reservations.clone(),
                    },
                )
                .await,
            ]
        } else {
            join_all(reservations.iter().map(|rid| {
                own_step(
                    ctx,
                    souk_contracts::inventory::QUEUE,
                    Phase::Confirm,
                    inventory::Commit,
                    ReservationRef {
                        reservation_id: rid.clone(),
                        reason: None,
                    },
                )
            }))
            .await
        };
        for r in results {
            r.map_err(|e| {
                failure(
                    &e,
                    &[(failures::RESERVATION_RELEASED, "reservation_expired")],
                    "commit_failed",
                )
            })?;
        }
        undo.retain(|u| !matches!(u, Undo::ReleaseReservation(_)));

        // 9.-11. Paid and sold: redeem the coupon, record the payment on the order and mail the
        //        customer, concurrently. None of them undoes the sale; a failure is recorded.
        Self::step(ctx, Step::Confirm);
        let redeem = async {
            match &snapshot.coupon_code {
                None => Ok(()),
                Some(code) => {
                    own_step(
                        ctx,
                        souk_contracts::pricing::QUEUE,
                        Phase::Confirm,
                        Redeem,
                        RedemptionRef {
                            code: code.clone(),
                            redemption_key: format!("{id}:coupon:{attempt}"),
                        },
                    )
                    .await
                }
            }
        };
        let record = own_step(
            ctx,
            souk_contracts::orders::QUEUE,
            Phase::Confirm,
            orders::Payment,
            RecordPayment {
                checkout_id: id.clone(),
                attempt,
                payment_status: PaymentStatus::Captured,
                note: format!("captured {captured}"),
            },
        );
        let confirm = ctx.execute_activity(
            SendConfirmation,
            SendOrderConfirmation {
                idempotency_key: format!("{id}:confirmation:{attempt}"),
                to: input.email.clone(),
                order_no: order.order_no.clone(),
                lines: snapshot
                    .lines
                    .iter()
                    .map(|l| ConfirmationLine {
                        title: l.title.clone(),
                        quantity: l.quantity.get(),
                        line_total: l.line_total,
                    })
                    .collect(),
                subtotal: snapshot.subtotal,
                discount: snapshot.discount,
                tax: snapshot.tax,
                shipping: snapshot.shipping,
                total: snapshot.total,
                shipping_address: input.shipping_address.clone(),
            },
            options::on(
                ctx,
                souk_contracts::notifications::QUEUE,
                Duration::from_secs(30),
            ),
        );
        // The cart is done: it stays as it was checked out.
        let complete = async {
            if !hold_cart {
                return Ok(());
            }
            own_step(
                ctx,
                souk_contracts::cart::QUEUE,
                Phase::Confirm,
                CompleteCheckout,
                CartCheckout {
                    cart_id: input.cart_id.clone(),
                    checkout_id: id.clone(),
                    attempt,
                },
            )
            .await
        };
        let (redeemed, recorded, sent, completed) = join!(redeem, record, confirm, complete);
        let mut problems = Vec::new();
        if let Err(e) = completed {
            problems.push(format!("cart not marked checked out: {}", describe(&e).1));
        }
        if let Err(e) = redeemed {
            problems.push(format!("coupon not redeemed: {}", describe(&e).1));
        }
        if let Err(e) = recorded {
            problems.push(format!(
                "payment not recorded on the order: {}",
                describe(&e).1
            ));
        }
        if let Err(e) = sent {
            problems.push(format!("confirmation not sent: {}", describe(&e).1));
        }
        ctx.state_mut(|s| s.status.compensation_errors.extend(problems));
        Ok(())
    }

    /// Keeps the checkout's reservations for `wait_seconds` plus the reservation TTL from now
    /// (with [`RESERVATION_LEASE_PATCH`]; a no-op for checkouts that predate it). Fails with
    /// `reservation_expired` if one was released: the stock may be sold to someone else.
    async fn extend_reservations(
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
            r.map_err(|e| {
                failure(
                    &e,
                    &[(failures::RESERVATION_RELEASED, "reservation_expired")],
                    "inventory_unavailable",
                )
            })?;
        }
        Ok(())
    }

    /// Runs `work` (the capture, which retries until it succeeds), extending the reservations
    /// every half TTL while it runs (with [`RESERVATION_LEASE_PATCH`]), so a capture that
    /// retries through an outage keeps the stock. An extension that finds a reservation
    /// released changes nothing here (the capture cannot be taken back): the commit after it
    /// fails and the capture is refunded.
    async fn renewing<T>(
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

    /// Waits for the provider to confirm a payment the customer must complete, at most
    /// [`CheckoutSettings::payment_wait_seconds`].
    async fn await_payment(
        ctx: &mut WorkflowContext<Self>,
        input: &CheckoutInput,
    ) -> Result<(), Stop> {
        Self::step(ctx, Step::AwaitingPayment);
        let wait = input.settings.payment_wait_seconds();
        let mut timeout = ctx.timer(Duration::from_secs(wait));
        let mut answered =
            ctx.wait_condition(|s| s.payment_update.is_some() || s.cancel_requested.is_some());
        let timed_out = select! {
            _ = timeout => true,
            _ = answered => false,
        };
        Self::check_cancel(ctx)?;
        if timed_out {
            return Err(Failure {
                code: "payment_timeout".into(),
                message: format!("the payment was not confirmed within {wait} seconds"),
            }
            .into());
        }
        match ctx.state(|s| s.payment_update.clone()) {
            Some(PaymentOutcome::Confirmed) => Ok(()),
            Some(PaymentOutcome::Failed(update)) => Err(Failure {
                code: "card_declined".into(),
                message: update.reason.unwrap_or_else(|| "the payment failed".into()),
            }
            .into()),
            None => Ok(()),
        }
    }

    /// Undoes, in reverse, what the forward path did. Compensations run even if the workflow is
    /// being cancelled, and retry until they succeed or fail for good.
    async fn compensate(
        ctx: &mut WorkflowContext<Self>,
        input: &CheckoutInput,
        undo: Vec<Undo>,
        stop: &Stop,
    ) -> Vec<String> {
        let (id, attempt) = (input.checkout_id.clone(), input.attempt);
        let reason = match stop {
            Stop::Failure(f) => format!("{}: {}", f.code, f.message),
            Stop::Cancelled(r) => format!("cancelled: {r}"),
        };
        let detached = |domain: Queue| {
            let mut o = options::on(ctx, domain, Duration::from_secs(30));
            o.cancellation_token = Some(WorkflowCancellationToken::new());
            o
        };
        let mut errors = Vec::new();
        let mut payment_status = None;
        let mut record = |r: Result<(), ActivityExecutionError>, what: &str| {
            if let Err(e) = r {
                let (_, message) = describe(&e);
                errors.push(format!("{what}: {message}"));
            }
        };
        // Release reservations concurrently, the rest one by one, in reverse order.
        let releases: Vec<String> = undo
            .iter()
            .filter_map(|u| match u {
                Undo::ReleaseReservation(r) => Some(r.clone()),
                _ => None,
            })
            .collect();
        for u in undo.iter().rev() {
            match u {
                Undo::CancelOrder => {
                    let r = own_step(
                        ctx,
                        souk_contracts::orders::QUEUE,
                        Phase::Undo,
                        orders::Cancel,
                        CancelOrder {
                            checkout_id: id.clone(),
                            attempt,
                            reason: reason.clone(),
                            payment_status,
                        },
                    )
                    .await;
                    record(r, "cancel order");
                }
                Undo::RefundPayment(amount) => {
                    let r = ctx
                        .execute_activity(
                            Refund,
                            RefundPayment {
                                checkout_id: id.clone(),
                                attempt,
                                amount: *amount,
                                reason: reason.clone(),
                                sequence: 1,
                            },
                            detached(souk_contracts::payments::QUEUE),
                        )
                        .await;
                    if r.is_ok() {
                        payment_status = Some(PaymentStatus::Refunded);
                    }
                    record(r, "refund payment");
                }
                Undo::VoidPayment => {
                    let r = ctx
                        .execute_activity(
                            Void,
                            PaymentRef {
                                checkout_id: id.clone(),
                                attempt,
                            },
                            detached(souk_contracts::payments::QUEUE),
                        )
                        .await;
                    if r.is_ok() {
                        payment_status = Some(PaymentStatus::Voided);
                    }
                    record(r, "void payment");
                }
                Undo::ReleaseReservation(first) if Some(first) == releases.last() => {
                    let results = join_all(releases.iter().map(|rid| {
                        own_step(
                            ctx,
                            souk_contracts::inventory::QUEUE,
                            Phase::Undo,
                            inventory::Release,
                            ReservationRef {
                                reservation_id: rid.clone(),
                                reason: Some(reason.clone()),
                            },
                        )
                    }))
                    .await;
                    for r in results {
                        record(r, "release stock");
                    }
                }
                Undo::ReleaseReservation(_) => {}
                Undo::ReleaseCart => {
                    let r = own_step(
                        ctx,
                        souk_contracts::cart::QUEUE,
                        Phase::Undo,
                        ReleaseCheckout,
                        CartCheckout {
                            cart_id: input.cart_id.clone(),
                            checkout_id: id.clone(),
                            attempt,
                        },
                    )
                    .await;
                    record(r, "release cart");
                }
                Undo::ReleaseCoupon { code, key } => {
                    let r = own_step(
                        ctx,
                        souk_contracts::pricing::QUEUE,
                        Phase::Undo,
                        Release,
                        RedemptionRef {
                            code: code.clone(),
                            redemption_key: key.clone(),
                        },
                    )
                    .await;
                    record(r, "release coupon");
                }
            }
        }
        errors
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

#[cfg(test)]
mod tests {
    use super::*;

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
