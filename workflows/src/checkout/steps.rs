//! The forward path: one function per step, in the order the checkout takes them. Each step
//! records what it must undo before it acts (a step that timed out may still have happened).

use std::time::Duration;

use souk_contracts::cart::{CartCheckout, CartSnapshot, CompleteCheckout, Snapshot, SnapshotCart};
use souk_contracts::catalog;
use souk_contracts::inventory::{self, CommitReservations, ReservationRef, ReserveStock};
use souk_contracts::ledger;
use souk_contracts::notifications::SendConfirmation;
use souk_contracts::orders::{self, RecordPayment};
use souk_contracts::payments::{
    AuthorizationStatus, Authorize, AuthorizePayment, Capture, CapturePayment, PaymentAuthorized,
};
use souk_contracts::pricing::{Hold, HoldCoupon, Redeem, RedemptionRef};
use souk_domain::order::PaymentStatus;
use souk_domain::{Money, coupon};
use temporalio_common::search_attributes::SearchAttributes;
use temporalio_sdk::workflows::{join, join_all, select};
use temporalio_sdk::{ChildWorkflowOptions, ParentClosePolicy, WorkflowContext};

use super::compensate::{self, Undo};
use super::failure::{self, Stop, describe};
use super::{CheckoutInput, CheckoutWorkflow, ORDER_NO, Phase, Step, own_step, rules};
use crate::options;
use crate::shipment::ShipmentWorkflow;

impl CheckoutWorkflow {
    pub(super) async fn forward(
        ctx: &mut WorkflowContext<Self>,
        input: &CheckoutInput,
        undo: &mut Vec<Undo>,
    ) -> Result<(), Stop> {
        let snapshot = Self::snapshot(ctx, input, undo).await?;
        Self::hold_coupon(ctx, input, &snapshot, undo).await?;
        Self::check_cancel(ctx)?;
        let reservations = Self::reserve(ctx, input, &snapshot, undo).await?;
        Self::check_cancel(ctx)?;
        let auth = Self::authorize(ctx, input, &snapshot, undo).await?;
        if auth.status == AuthorizationStatus::RequiresAction {
            let wait = input.settings.payment_wait_seconds();
            Self::extend_reservations(ctx, input, &reservations, wait).await?;
            Self::await_payment(ctx, input).await?;
        }
        Self::check_cancel(ctx)?;
        let order_no = Self::place_order(ctx, input, &snapshot, &auth, undo).await?;
        Self::review_window(ctx, input, &reservations).await?;
        Self::check_cancel(ctx)?;
        let captured = Self::capture(ctx, input, &snapshot, &reservations, undo).await?;
        Self::commit(ctx, &reservations, undo).await?;
        if ctx.patched(super::SHIPMENTS_WITH_CONFIRMATION_PATCH) {
            let ledger = ctx.patched(super::LEDGER_PATCH);
            join!(
                Self::confirm(ctx, input, &snapshot, &order_no, captured),
                Self::start_shipments(ctx, input, &snapshot, &order_no, true),
                async {
                    if ledger {
                        Self::post_capture(ctx, input, &snapshot, &order_no, captured).await;
                    }
                },
            );
        } else {
            Self::confirm(ctx, input, &snapshot, &order_no, captured).await;
            if ctx.patched(super::SHIPMENTS_PATCH) {
                Self::start_shipments(ctx, input, &snapshot, &order_no, false).await;
            }
        }
        Ok(())
    }

    /// 1. Snapshot and reprice the cart, which cannot change from then on (until the checkout
    ///    fails or is cancelled), and check that it may be bought as priced.
    async fn snapshot(
        ctx: &WorkflowContext<Self>,
        input: &CheckoutInput,
        undo: &mut Vec<Undo>,
    ) -> Result<CartSnapshot, Stop> {
        Self::step(ctx, Step::Snapshot);
        let hold_cart = ctx.state(|s| s.cart_hold);
        if hold_cart {
            undo.push(Undo::ReleaseCart);
        }
        let lease = ctx.state(|s| s.reservation_lease);
        let snapshot: CartSnapshot = own_step(
            ctx,
            souk_contracts::cart::QUEUE,
            Phase::Decision,
            Snapshot,
            SnapshotCart {
                cart_id: input.cart_id.clone(),
                checkout_id: input.checkout_id.clone(),
                attempt: input.attempt,
                customer: input.email.clone(),
                customer_keys: Self::customer_keys(input),
                // Taxes and shipping are those of where the order ships.
                destination: Some(input.shipping_address.country),
                hold_seconds: hold_cart.then(|| rules::cart_hold_seconds(&input.settings, lease)),
            },
        )
        .await
        .map_err(|e| failure::SNAPSHOT.of(&e))?;
        ctx.state_mut(|s| s.status.total = Some(snapshot.total));
        rules::check_snapshot(&snapshot, &input.settings)?;
        Ok(snapshot)
    }

    /// Who a coupon's per-customer limit counts: the account, or a guest's mailbox.
    fn customer_keys(input: &CheckoutInput) -> Vec<String> {
        coupon::customer_keys(input.customer_id.as_deref(), &input.email)
    }

    /// 2. Validate and hold the coupon.
    async fn hold_coupon(
        ctx: &WorkflowContext<Self>,
        input: &CheckoutInput,
        snapshot: &CartSnapshot,
        undo: &mut Vec<Undo>,
    ) -> Result<(), Stop> {
        Self::step(ctx, Step::Coupon);
        let Some(code) = rules::coupon_to_hold(snapshot)? else {
            return Ok(());
        };
        let key = rules::coupon_key(&input.checkout_id, input.attempt);
        undo.push(Undo::ReleaseCoupon {
            code: code.to_string(),
            key: key.clone(),
        });
        Self::hold(ctx, input, code, Self::customer_keys(input)).await
    }

    async fn hold(
        ctx: &WorkflowContext<Self>,
        input: &CheckoutInput,
        code: &str,
        customer_keys: Vec<String>,
    ) -> Result<(), Stop> {
        own_step(
            ctx,
            souk_contracts::pricing::QUEUE,
            Phase::Decision,
            Hold,
            HoldCoupon {
                code: code.to_string(),
                redemption_key: rules::coupon_key(&input.checkout_id, input.attempt),
                customer: input.email.clone(),
                customer_keys,
            },
        )
        .await
        .map_err(|e| failure::COUPON.of(&e))?;
        Ok(())
    }

    /// 3. Reserve every line, concurrently. Answers the reservations.
    async fn reserve(
        ctx: &WorkflowContext<Self>,
        input: &CheckoutInput,
        snapshot: &CartSnapshot,
        undo: &mut Vec<Undo>,
    ) -> Result<Vec<String>, Stop> {
        Self::step(ctx, Step::Reserve);
        let reservations = rules::reservation_ids(&input.checkout_id, input.attempt, snapshot);
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
        let mut warehouses = Vec::with_capacity(results.len());
        let mut allocations = Vec::with_capacity(results.len());
        for r in results {
            let r = r.map_err(|e| failure::RESERVE.of(&e))?;
            allocations.push(rules::allocations(&r));
            warehouses.push(r.warehouse);
        }
        ctx.state_mut(|s| {
            s.warehouses = warehouses;
            s.allocations = allocations;
        });
        Ok(reservations)
    }

    /// 4. Authorize the payment. A coupon then also counts against the card it is paid with:
    ///    new accounts or addresses paying with one card are one customer.
    async fn authorize(
        ctx: &WorkflowContext<Self>,
        input: &CheckoutInput,
        snapshot: &CartSnapshot,
        undo: &mut Vec<Undo>,
    ) -> Result<PaymentAuthorized, Stop> {
        Self::step(ctx, Step::Authorize);
        undo.push(Undo::VoidPayment);
        let auth = ctx
            .execute_activity(
                Authorize,
                AuthorizePayment {
                    checkout_id: input.checkout_id.clone(),
                    attempt: input.attempt,
                    provider: None,
                    payment_method: input.payment.payment_method.clone(),
                    amount: snapshot.total,
                    customer_email: input.email.clone(),
                },
                Self::before_decision(ctx, souk_contracts::payments::QUEUE),
            )
            .await
            .map_err(|e| failure::AUTHORIZE.of(&e))?;
        ctx.state_mut(|s| s.status.payment_reference = Some(auth.reference.clone()));
        if let (Some(code), Some(fingerprint)) = (
            snapshot
                .coupon_code
                .as_ref()
                .filter(|_| snapshot.coupon_applied),
            &auth.fingerprint,
        ) && ctx.patched(super::COUPON_CARD_PATCH)
        {
            let mut keys = Self::customer_keys(input);
            keys.push(coupon::card_key(fingerprint));
            Self::hold(ctx, input, code, keys).await?;
        }
        Ok(auth)
    }

    /// Waits for the provider to confirm a payment the customer must complete, at most
    /// [`CheckoutSettings::payment_wait_seconds`](super::CheckoutSettings::payment_wait_seconds).
    async fn await_payment(ctx: &WorkflowContext<Self>, input: &CheckoutInput) -> Result<(), Stop> {
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
        rules::payment_result(ctx.state(|s| s.payment_update.clone()), timed_out, wait)?;
        Ok(())
    }

    /// 5. Place the order, split by vendor: the checkout is decided. Answers the order number.
    async fn place_order(
        ctx: &WorkflowContext<Self>,
        input: &CheckoutInput,
        snapshot: &CartSnapshot,
        auth: &PaymentAuthorized,
        undo: &mut Vec<Undo>,
    ) -> Result<String, Stop> {
        Self::step(ctx, Step::CreateOrder);
        undo.push(Undo::CancelOrder);
        let order = own_step(
            ctx,
            souk_contracts::orders::QUEUE,
            Phase::Decision,
            orders::Create,
            rules::order(input, snapshot, auth),
        )
        .await
        .map_err(|e| failure::CREATE_ORDER.of(&e))?;
        ctx.upsert_search_attributes([ORDER_NO.value_set(order.order_no.clone())]);
        ctx.state_mut(|s| {
            s.status.order_no = Some(order.order_no.clone());
            s.status.decided = true;
        });
        Ok(order.order_no)
    }

    /// 6. The optional review window before capture; a cancel signal still stops it.
    async fn review_window(
        ctx: &WorkflowContext<Self>,
        input: &CheckoutInput,
        reservations: &[String],
    ) -> Result<(), Stop> {
        let delay = input.settings.capture_delay_seconds;
        if delay == 0 {
            return Ok(());
        }
        Self::step(ctx, Step::CaptureDelay);
        Self::extend_reservations(ctx, input, reservations, delay).await?;
        let mut timer = ctx.timer(Duration::from_secs(delay));
        let mut cancelled = ctx.wait_condition(|s| s.cancel_requested.is_some());
        select! {
            _ = timer => {}
            _ = cancelled => {}
        };
        Ok(())
    }

    /// 7. Capture. From here on the checkout completes: no more cancel, no compensation of
    ///    stock or order; only retries. The stock is checked to be still ours first: a
    ///    reservation lost now costs a void, after the capture a refund. Answers the amount
    ///    captured.
    async fn capture(
        ctx: &WorkflowContext<Self>,
        input: &CheckoutInput,
        snapshot: &CartSnapshot,
        reservations: &[String],
        undo: &mut [Undo],
    ) -> Result<Money, Stop> {
        Self::extend_reservations(ctx, input, reservations, 0).await?;
        Self::check_cancel(ctx)?;
        Self::step(ctx, Step::Capture);
        ctx.state_mut(|s| s.captured = true);
        let capture = ctx.execute_activity(
            Capture,
            CapturePayment {
                checkout_id: input.checkout_id.clone(),
                attempt: input.attempt,
                amount: snapshot.total,
            },
            options::on(
                ctx,
                souk_contracts::payments::QUEUE,
                Duration::from_secs(30),
            ),
        );
        let captured = Self::renewing(ctx, input, reservations, capture)
            .await
            .map_err(|e| failure::CAPTURE.of(&e))?;
        compensate::captured(undo, captured);
        Ok(captured)
    }

    /// 8. Commit the reservations: the stock is sold. With the lease, all of them in one step
    ///    or none, so a reservation lost during the capture leaves no stock sold to an order
    ///    that is refunded.
    async fn commit(
        ctx: &WorkflowContext<Self>,
        reservations: &[String],
        undo: &mut Vec<Undo>,
    ) -> Result<(), Stop> {
        Self::step(ctx, Step::Commit);
        let results = if ctx.state(|s| s.reservation_lease) {
            vec![
                own_step(
                    ctx,
                    souk_contracts::inventory::QUEUE,
                    Phase::Confirm,
                    inventory::CommitAll,
                    CommitReservations {
                        reservation_ids: reservations.to_vec(),
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
            r.map_err(|e| failure::COMMIT.of(&e))?;
        }
        compensate::sold(undo);
        Ok(())
    }

    /// 9.-12. Paid and sold: redeem the coupon, record the payment on the order, mail the
    ///        customer and mark the cart checked out, concurrently. None of them undoes the
    ///        sale; a failure is recorded on the status for an operator.
    async fn confirm(
        ctx: &WorkflowContext<Self>,
        input: &CheckoutInput,
        snapshot: &CartSnapshot,
        order_no: &str,
        captured: Money,
    ) {
        Self::step(ctx, Step::Confirm);
        let (id, attempt) = (input.checkout_id.clone(), input.attempt);
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
                            redemption_key: rules::coupon_key(&id, attempt),
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
            rules::confirmation(input, snapshot, order_no),
            options::on(
                ctx,
                souk_contracts::notifications::QUEUE,
                Duration::from_secs(30),
            ),
        );
        // The cart is done: it stays as it was checked out.
        let hold_cart = ctx.state(|s| s.cart_hold);
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
    }

    /// 12b. Post the capture to the ledger ([`super::LEDGER_PATCH`]): the catalog says which
    ///      categories each line is in (which commission rule applies), the ledger takes each
    ///      line's commission and puts the vendors' shares into their reserves, once per
    ///      checkout. Both retry until they answer; a refusal is noted for an operator and
    ///      the checkout stays completed.
    async fn post_capture(
        ctx: &WorkflowContext<Self>,
        input: &CheckoutInput,
        snapshot: &CartSnapshot,
        order_no: &str,
        captured: Money,
    ) {
        let facts = ctx
            .execute_activity(
                catalog::Describe,
                catalog::DescribeSkus {
                    skus: snapshot.lines.iter().map(|l| l.sku.clone()).collect(),
                },
                options::on(ctx, catalog::QUEUE, Duration::from_secs(10)),
            )
            .await;
        let posted = match facts {
            Err(e) => Err(e),
            Ok(facts) => ctx
                .execute_activity(
                    ledger::Capture,
                    rules::ledger_capture(
                        input,
                        snapshot,
                        order_no,
                        captured,
                        &facts,
                        ctx.workflow_time(),
                    ),
                    options::on(ctx, ledger::QUEUE, Duration::from_secs(30)),
                )
                .await
                .map(|_| ()),
        };
        if let Err(e) = posted {
            let problem = format!("capture not posted to the ledger: {}", describe(&e).1);
            ctx.state_mut(|s| s.status.compensation_errors.push(problem));
        }
    }

    /// 13. Start the shipment of each vendor's part: children that outlive the checkout (they
    ///     wait days for the vendor and the carrier), with the confirmation since
    ///     [`super::SHIPMENTS_WITH_CONFIRMATION_PATCH`] and then with their search attributes
    ///     (`with_attributes`). A shipment that cannot be started is noted for an operator;
    ///     the checkout stays completed.
    async fn start_shipments(
        ctx: &WorkflowContext<Self>,
        input: &CheckoutInput,
        snapshot: &CartSnapshot,
        order_no: &str,
        with_attributes: bool,
    ) {
        let (warehouses, allocations) =
            ctx.state(|s| (s.warehouses.clone(), s.allocations.clone()));
        let settings = input.settings.shipment.clone().unwrap_or_default();
        let split = rules::ships_from_several_warehouses(snapshot, &allocations)
            && ctx.patched(super::SPLIT_SHIPMENTS_PATCH);
        let planned = if split {
            rules::shipments_by_warehouse(input, snapshot, &allocations, order_no, &settings)
        } else {
            rules::shipments(input, snapshot, &warehouses, order_no, &settings)
        };
        let started = join_all(planned.into_iter().map(|(id, shipment)| {
            let options = ChildWorkflowOptions::builder()
                .workflow_id(id.clone())
                .parent_close_policy(ParentClosePolicy::Abandon)
                .maybe_search_attributes(with_attributes.then(|| {
                    SearchAttributes::new(crate::shipment::initial_search_attributes(&shipment))
                }))
                .build();
            let start = ctx.start_child_workflow(ShipmentWorkflow::run, shipment, options);
            async move { (id, start.await.map(|_| ())) }
        }))
        .await;
        ctx.state_mut(|s| {
            for (id, result) in started {
                match result {
                    Ok(()) => s.status.shipments.push(id),
                    Err(e) => s
                        .status
                        .compensation_errors
                        .push(format!("shipment {id} not started: {e}")),
                }
            }
        });
    }
}
