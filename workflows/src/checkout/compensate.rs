//! Undoing a checkout: what the forward path recorded as done, and the compensations that
//! take it back, in reverse.

use souk_contracts::cart::{CartCheckout, ReleaseCheckout};
use souk_contracts::inventory::{self, ReservationRef};
use souk_contracts::orders::{self, CancelOrder};
use souk_contracts::payments::{PaymentRef, Refund, RefundPayment, Void};
use souk_contracts::pricing::{RedemptionRef, Release};
use souk_domain::Money;
use souk_domain::order::PaymentStatus;
use temporalio_sdk::workflows::join_all;
use temporalio_sdk::{ActivityExecutionError, WorkflowContext};

use super::failure::{Stop, describe};
use super::{CheckoutInput, CheckoutWorkflow, Phase, detached, own_step};

/// What to undo, in the order it was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Undo {
    ReleaseCart,
    ReleaseCoupon { code: String, key: String },
    ReleaseReservation(String),
    VoidPayment,
    RefundPayment(Money),
    CancelOrder,
}

/// The payment was captured: undoing it now is a refund of what was captured, not a void.
pub(super) fn captured(undo: &mut [Undo], amount: Money) {
    if let Some(u) = undo.iter_mut().find(|u| matches!(u, Undo::VoidPayment)) {
        *u = Undo::RefundPayment(amount);
    }
}

/// The reservations were committed: the stock is sold and is no longer released.
pub(super) fn sold(undo: &mut Vec<Undo>) {
    undo.retain(|u| !matches!(u, Undo::ReleaseReservation(_)));
}

/// One compensation to run.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Compensation<'a> {
    One(&'a Undo),
    /// Every reservation, released concurrently.
    Releases(Vec<&'a str>),
}

/// The compensations, in the reverse of the order things were done; all reservations are
/// released together, where the last of them was taken.
pub(super) fn plan(undo: &[Undo]) -> Vec<Compensation<'_>> {
    let releases: Vec<&str> = undo
        .iter()
        .filter_map(|u| match u {
            Undo::ReleaseReservation(r) => Some(r.as_str()),
            _ => None,
        })
        .collect();
    let mut steps = Vec::new();
    for u in undo.iter().rev() {
        match u {
            Undo::ReleaseReservation(r) if Some(&r.as_str()) == releases.last() => {
                steps.push(Compensation::Releases(releases.clone()));
            }
            Undo::ReleaseReservation(_) => {}
            other => steps.push(Compensation::One(other)),
        }
    }
    steps
}

impl CheckoutWorkflow {
    /// Undoes, in reverse, what the forward path did. Compensations run even if the workflow is
    /// being cancelled, and retry until they succeed or fail for good. Answers what could not
    /// be undone.
    pub(super) async fn compensate(
        ctx: &mut WorkflowContext<Self>,
        input: &CheckoutInput,
        undo: Vec<Undo>,
        stop: &Stop,
    ) -> Vec<String> {
        let (id, attempt) = (input.checkout_id.clone(), input.attempt);
        let reason = stop.reason();
        let mut errors = Vec::new();
        // What became of the payment, for the cancelled order.
        let mut payment_status = None;
        let mut record = |r: Result<(), ActivityExecutionError>, what: &str| {
            if let Err(e) = r {
                let (_, message) = describe(&e);
                errors.push(format!("{what}: {message}"));
            }
        };
        for step in plan(&undo) {
            match step {
                Compensation::One(Undo::CancelOrder) => {
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
                Compensation::One(Undo::RefundPayment(amount)) => {
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
                            detached(ctx, souk_contracts::payments::QUEUE),
                        )
                        .await;
                    if r.is_ok() {
                        payment_status = Some(PaymentStatus::Refunded);
                    }
                    record(r, "refund payment");
                }
                Compensation::One(Undo::VoidPayment) => {
                    let r = ctx
                        .execute_activity(
                            Void,
                            PaymentRef {
                                checkout_id: id.clone(),
                                attempt,
                            },
                            detached(ctx, souk_contracts::payments::QUEUE),
                        )
                        .await;
                    if r.is_ok() {
                        payment_status = Some(PaymentStatus::Voided);
                    }
                    record(r, "void payment");
                }
                Compensation::Releases(releases) => {
                    let results = join_all(releases.iter().map(|rid| {
                        own_step(
                            ctx,
                            souk_contracts::inventory::QUEUE,
                            Phase::Undo,
                            inventory::Release,
                            ReservationRef {
                                reservation_id: rid.to_string(),
                                reason: Some(reason.clone()),
                            },
                        )
                    }))
                    .await;
                    for r in results {
                        record(r, "release stock");
                    }
                }
                // Planned as part of `Releases`.
                Compensation::One(Undo::ReleaseReservation(_)) => {}
                Compensation::One(Undo::ReleaseCart) => {
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
                Compensation::One(Undo::ReleaseCoupon { code, key }) => {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use souk_domain::Currency;

    fn coupon() -> Undo {
        Undo::ReleaseCoupon {
            code: "SPRING".into(),
            key: "c:coupon:1".into(),
        }
    }

    fn reserved(n: usize) -> Vec<Undo> {
        (1..=n)
            .map(|i| Undo::ReleaseReservation(format!("c:reserve:SKU-{i}:1")))
            .collect()
    }

    #[test]
    fn what_was_done_is_undone_in_reverse_with_every_reservation_released_together() {
        let mut undo = vec![Undo::ReleaseCart, coupon()];
        undo.extend(reserved(3));
        undo.extend([Undo::VoidPayment, Undo::CancelOrder]);
        assert_eq!(
            plan(&undo),
            [
                Compensation::One(&Undo::CancelOrder),
                Compensation::One(&Undo::VoidPayment),
                Compensation::Releases(vec![
                    "c:reserve:SKU-1:1",
                    "c:reserve:SKU-2:1",
                    "c:reserve:SKU-3:1"
                ]),
                Compensation::One(&coupon()),
                Compensation::One(&Undo::ReleaseCart),
            ]
        );
    }

    #[test]
    fn a_checkout_stopped_at_the_first_step_only_releases_the_cart() {
        assert_eq!(
            plan(&[Undo::ReleaseCart]),
            [Compensation::One(&Undo::ReleaseCart)]
        );
        assert_eq!(plan(&[]), []);
    }

    #[test]
    fn after_the_capture_the_payment_is_refunded_and_after_the_commit_no_stock_is_released() {
        let eur = Currency::parse("EUR").unwrap();
        let mut undo = vec![Undo::ReleaseCart];
        undo.extend(reserved(2));
        undo.extend([Undo::VoidPayment, Undo::CancelOrder]);
        captured(&mut undo, Money::new(4200, eur));
        assert!(!undo.contains(&Undo::VoidPayment));
        sold(&mut undo);
        assert_eq!(
            plan(&undo),
            [
                Compensation::One(&Undo::CancelOrder),
                Compensation::One(&Undo::RefundPayment(Money::new(4200, eur))),
                Compensation::One(&Undo::ReleaseCart),
            ]
        );
    }
}
