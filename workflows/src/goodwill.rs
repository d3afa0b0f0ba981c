//! `GoodwillRefund`: staff refund part of an order without a return
//! (`goodwill-<order_no>-<key>`).
//!
//! The orders domain checks the refund against what each line has left and records it, once
//! per workflow id (or refuses it: the `recorded` update, sent with the start, answers which)
//! → the payments domain refunds the amount once (its key is the order's refund sequence for
//! this workflow) → the order's payment status follows → the customer is told what was
//! refunded per line. A refund the provider refuses is `failed`: the orders domain gives its
//! lines back what it took, so it can be made again; support sees why in `problems`.
//! Support finds these refunds by `OrderNo`.

use std::collections::BTreeMap;
use std::time::Duration;

use souk_contracts::checkout::ORDER_NO;
use souk_contracts::failures;
use souk_contracts::goodwill::{GoodwillInput, GoodwillStatus, GoodwillView, Refusal};
use souk_contracts::notifications::{self, SendMail, SendMessage};
use souk_contracts::orders::{
    Goodwill, GoodwillRefund, LinesRefunded, Payment, RecordPayment, RefundGoodwill, Release,
    ReleaseRefund,
};
use souk_contracts::payments::{self, Refund, RefundPayment};
use souk_domain::order::PaymentStatus;
use temporalio_common::ActivityCloseTimeouts;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowContextView, WorkflowResult};

use crate::{options, text};

pub use souk_contracts::goodwill::{WORKFLOW_TYPE, workflow_id};

type UpdateError = Box<dyn std::error::Error + Send + Sync>;

#[workflow]
#[derive(Default)]
pub struct GoodwillRefundWorkflow {
    view: Option<GoodwillView>,
}

/// How long the mail may take to go out before the refund gives up on it and notes it.
const MAIL_BUDGET: Duration = Duration::from_secs(6 * 3_600);

fn update(ctx: &WorkflowContext<GoodwillRefundWorkflow>, f: impl FnOnce(&mut GoodwillView)) {
    ctx.state_mut(|s| {
        if let Some(v) = s.view.as_mut() {
            f(v);
        }
    });
}

fn refuse(ctx: &WorkflowContext<GoodwillRefundWorkflow>, code: &str, message: String) {
    update(ctx, |v| {
        v.status = GoodwillStatus::Refused;
        v.refused = Some(Refusal {
            code: code.into(),
            message,
        });
    });
}

/// From this change on, a refund the provider refuses gives its lines back what it took
/// (`orders.release_refund`), and a refund whose payment status was not recorded is still
/// mailed. Histories from before it replay as they ran.
pub const RELEASE_PATCH: &str = "release_refused";

/// What went wrong paying back.
enum NotPaid {
    /// The provider refused the refund (why).
    Refused(String),
    /// Refunded, but the order's payment status did not follow.
    Unrecorded(String),
}

/// Refunds what was recorded, once, and has the order's payment status follow.
async fn pay_back(
    ctx: &WorkflowContext<GoodwillRefundWorkflow>,
    refund: &LinesRefunded,
    reason: &str,
) -> Result<(), NotPaid> {
    ctx.execute_activity(
        Refund,
        RefundPayment {
            checkout_id: refund.checkout_id.clone(),
            attempt: refund.attempt,
            amount: refund.amount,
            reason: reason.to_string(),
            sequence: refund.sequence,
        },
        options::on(ctx, payments::QUEUE, Duration::from_secs(60)),
    )
    .await
    .map_err(|e| NotPaid::Refused(text::failure(&e).1))?;
    ctx.execute_local_activity(
        Payment,
        RecordPayment {
            checkout_id: refund.checkout_id.clone(),
            attempt: refund.attempt,
            payment_status: if refund.order_refunded {
                PaymentStatus::Refunded
            } else {
                PaymentStatus::PartiallyRefunded
            },
            note: format!("{} refunded: {reason}", refund.amount),
        },
        options::local(None, false),
    )
    .await
    .map_err(|e| NotPaid::Unrecorded(format!("the order's payment status was not updated: {e}")))?;
    Ok(())
}

#[workflow_methods]
impl GoodwillRefundWorkflow {
    #[run(name = "GoodwillRefund")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: GoodwillInput,
    ) -> WorkflowResult<GoodwillView> {
        if ctx.search_attributes().get(&ORDER_NO).is_none() {
            ctx.upsert_search_attributes([ORDER_NO.value_set(input.order_no.clone())]);
        }
        ctx.state_mut(|s| {
            s.view = Some(GoodwillView {
                order_no: input.order_no.clone(),
                status: GoodwillStatus::Recording,
                lines: Vec::new(),
                amount: None,
                refused: None,
                reason: input.reason.clone(),
                actor: input.actor.clone(),
                request: input.request.clone(),
                problems: Vec::new(),
            })
        });
        let recorded = ctx
            .execute_local_activity(
                GoodwillRefund,
                RefundGoodwill {
                    order_no: input.order_no.clone(),
                    refund_key: ctx.workflow_id().to_string(),
                    lines: input.lines.clone(),
                    amount: input.amount,
                    skus: input.skus.clone(),
                    reason: input.reason.clone(),
                    actor: input.actor.clone(),
                },
                options::local(None, false),
            )
            .await;
        match recorded {
            Ok(Goodwill::Refunding {
                refund,
                customer_email,
            }) => {
                update(ctx, |v| {
                    v.status = GoodwillStatus::Refunding;
                    v.amount = Some(refund.amount);
                    v.lines = refund.lines.clone();
                });
                let reason = format!("goodwill: {}", input.reason);
                let released = ctx.patched(RELEASE_PATCH);
                let paid = pay_back(ctx, &refund, &reason).await;
                let paid = match paid {
                    Err(NotPaid::Unrecorded(e)) if released => {
                        update(ctx, |v| v.problems.push(e));
                        Ok(())
                    }
                    other => other,
                };
                match paid {
                    Ok(()) => {
                        update(ctx, |v| v.status = GoodwillStatus::Refunded);
                        let lines = refund
                            .lines
                            .iter()
                            .map(|l| match l.quantity {
                                0 => format!("  {}: {}", l.sku, l.amount),
                                q => format!("  {q} × {}: {}", l.sku, l.amount),
                            })
                            .collect::<Vec<_>>()
                            .join("\n");
                        let vars = BTreeMap::from([
                            ("order_no".to_string(), input.order_no.clone()),
                            ("amount".to_string(), refund.amount.to_string()),
                            ("lines".to_string(), lines),
                        ]);
                        let mut opts =
                            options::on(ctx, notifications::QUEUE, Duration::from_secs(30));
                        opts.close_timeouts = ActivityCloseTimeouts::ScheduleAndStartToClose {
                            schedule_to_close: MAIL_BUDGET,
                            start_to_close: Duration::from_secs(30),
                        };
                        let sent = ctx
                            .execute_activity(
                                SendMail,
                                SendMessage {
                                    idempotency_key: format!("{}/mail/refunded", ctx.workflow_id()),
                                    to: customer_email,
                                    template: "goodwill_refunded".into(),
                                    vars,
                                },
                                opts,
                            )
                            .await;
                        if let Err(e) = sent {
                            update(ctx, |v| {
                                v.problems
                                    .push(format!("the refund mail was not sent: {e}"))
                            });
                        }
                    }
                    Err(NotPaid::Refused(e)) if released => {
                        let gave_back = ctx
                            .execute_local_activity(
                                Release,
                                ReleaseRefund {
                                    order_no: input.order_no.clone(),
                                    refund_key: ctx.workflow_id().to_string(),
                                    reason: format!("the provider refused it: {e}"),
                                    actor: "system:goodwill_refund".into(),
                                },
                                options::local(None, false),
                            )
                            .await;
                        let amount = refund.amount;
                        update(ctx, |v| match gave_back {
                            Ok(()) => {
                                v.status = GoodwillStatus::Failed;
                                v.problems.push(format!(
                                    "the provider refused the refund of {amount}: {e}; nothing was refunded, and it is left to refund"
                                ));
                            }
                            Err(r) => {
                                v.status = GoodwillStatus::Owed;
                                v.problems.push(format!(
                                    "the provider refused the refund of {amount}: {e}; the order still counts it as refunded: {r}"
                                ));
                            }
                        });
                    }
                    Err(NotPaid::Refused(e)) => update(ctx, |v| {
                        v.status = GoodwillStatus::Owed;
                        v.problems.push(format!(
                            "the refund of {} failed; it is owed: {e}",
                            refund.amount
                        ));
                    }),
                    Err(NotPaid::Unrecorded(e)) => update(ctx, |v| {
                        v.status = GoodwillStatus::Refunded;
                        v.problems.push(e);
                    }),
                }
            }
            Ok(Goodwill::Refused { code, message }) => refuse(ctx, &code, message),
            Err(e) => {
                let (type_name, message) = text::failure(&e);
                let code = match type_name.as_deref() {
                    Some(failures::ORDER_NOT_FOUND) => "order_not_found",
                    _ => "invalid_refund",
                };
                refuse(ctx, code, message);
            }
        }
        let c = ctx.clone();
        ctx.wait_condition(move |_| c.all_handlers_finished())
            .await?;
        Ok(ctx
            .state(|s| s.view.clone())
            .unwrap_or_else(|| unreachable!("set at the start")))
    }

    #[query(name = "status")]
    pub fn status(&self, _ctx: &WorkflowContextView, _input: ()) -> Option<GoodwillView> {
        self.view.clone()
    }

    /// Sent with the start: answers once the refund is recorded or refused.
    #[update(name = "recorded")]
    pub async fn recorded(
        ctx: &mut WorkflowContext<Self>,
        _r: (),
    ) -> Result<GoodwillView, UpdateError> {
        ctx.wait_condition(|s| {
            s.view
                .as_ref()
                .is_some_and(|v| v.status != GoodwillStatus::Recording)
        })
        .await
        .map_err(|e| -> UpdateError { e.to_string().into() })?;
        Ok(ctx
            .state(|s| s.view.clone())
            .unwrap_or_else(|| unreachable!("waited for")))
    }
}
