//! `Return`: one return request (`return-<rma_no>`), from the customer's ask to the refund.
//!
//! Asks the orders domain what the order's lines are (delivered when, refunded already) →
//! the seller's own return policy, if it has one, changes the marketplace's (the vendors
//! domain keeps it) → the returns domain checks the request under the order's lock and records it (or refuses
//! it: the `submitted` update, sent with the start, answers which) → approved by the return
//! policy, or by the vendor or staff through the `decide` update (not decided within the
//! decision time: the vendor is reminded; later still, staff are asked) → the shipping domain
//! opens the return parcel and buys its label from the carrier (the postage the customer's
//! when every line is their choice), and the customer is mailed it → the carrier's scans
//! (`tracking` signals from the webhook receiver, each event once) move it `in_transit` and
//! `received` → the warehouse counts what came back (the `receive` update:
//! sellable, damaged, wrong item, missing) → the refundable units are worth what the orders
//! domain's one rule says and are refunded once through the payments domain → sellable units
//! go back on hand where they were received → the customer is told what was refunded.
//! Not sent back within the send-by time (no scan of its label): the return expires. The
//! customer may call it off (`cancel`) until the parcel is with the carrier. A label not
//! used (called off, expired) is voided.
//!
//! Every record is a local step through the returns domain's step service; the refund and
//! the mails are activities on the payments and notifications queues, idempotent by the
//! workflow id. Support finds returns by `RmaNo`, `OrderNo`, `VendorId` and `ReturnState`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use souk_contracts::catalog::{self, Describe, DescribeSkus};
use souk_contracts::inventory::{Restock, RestockUnits};
use souk_contracts::notifications::{self, SendMail, SendMessage};
use souk_contracts::orders::{
    GiveBack, LineFee, LineUnits, Payment, RecordPayment, RefundKind, RefundLines, Returnable,
    ReturnableOf, ReturnableOrder,
};
use souk_contracts::payments::{self, Refund, RefundPayment};
use souk_contracts::returns::{
    CancelReturn, Decision, ExcludedLine, Inspect, InspectReturn, Label, LabelReturn, Move,
    MoveReturn, Note, NoteReturn, Open, OpenReturn, POLICY_UNAVAILABLE, REFUSED, RETURN_STATE,
    Receipt, RecordRefund, RecordReturnRefund, ReturnInput, ReturnLabel, ReturnView, Submitted,
    initial_search_attributes,
};
use souk_contracts::shipping::{
    self, ApplyTracking, Arrive, ArriveParcel, Buy, BuyLabel, NewReturnParcel, OpenReturnParcel,
    TRACKING_CODE, TrackingEvent, TrackingOutcome, VENDOR_ID, Void, VoidLabel,
};
use souk_contracts::vendors::{Contact, ContactOf, ReturnPolicy, ReturnPolicyOf, VendorPolicy};
use souk_domain::Money;
use souk_domain::order::PaymentStatus;
use souk_domain::returns::{
    PostagePayer, ReturnStatus, VendorReturnPolicy, auto_approves, excluded_category,
};
use souk_domain::shipment::ShipmentStatus;
use temporalio_common::ActivityCloseTimeouts;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::workflows::select;
use temporalio_sdk::{
    CancellableFuture, SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult,
};

use crate::options;
use crate::text::{self, span};

pub use souk_contracts::returns::{WORKFLOW_TYPE, workflow_id};

type UpdateError = Box<dyn std::error::Error + Send + Sync>;

#[workflow]
#[derive(Default)]
pub struct ReturnWorkflow {
    view: Option<ReturnView>,
    /// Why the request was refused (code, message), if it was.
    refused: Option<(String, String)>,
    /// An update's step is running (one at a time).
    busy: bool,
    /// Where the parcel came back to.
    warehouse: Option<String>,
    customer_email: Option<String>,
    /// The carrier's scans of the return parcel to apply, in the order they arrived...
    pending: VecDeque<TrackingEvent>,
    /// ...each carrier event once.
    seen: BTreeSet<(String, String)>,
}

/// A restocking fee is kept from the refund of lines the customer changed their mind about,
/// when the return's settings say so.
pub const FEE_PATCH: &str = "restocking_fee";

/// Lines in a category the policy does not take back are refused, when the return's settings
/// name such categories.
pub const CATEGORIES_PATCH: &str = "non_returnable_categories";

/// An approved return's parcel goes back on a label bought through the shipping domain's
/// carrier, and the carrier's scans move the return.
pub const LABEL_PATCH: &str = "return_label";

/// The postage of a label the customer pays is kept from the refund.
pub const POSTAGE_PATCH: &str = "customer_postage";

/// A parcel on its way past the send-by time that the warehouse does not count within the
/// receipt time is noted and shown to staff.
pub const RECEIPT_PATCH: &str = "receipt_deadline";

/// A problem the carrier reports with the return parcel (an exception, sent back to the
/// customer) is noted in the return's history and shown to staff.
pub const CARRIER_PROBLEM_PATCH: &str = "carrier_problem";

/// A return of one seller's lines runs with the seller's own return policy (its window, fee,
/// auto-approval, postage and the categories it does not take back) over the marketplace's.
pub const VENDOR_POLICY_PATCH: &str = "vendor_return_policy";

/// How long the carrier may stay unreachable before the return gives up on a label (the
/// customer is then asked to send the parcel back by their own means).
const LABEL_BUDGET: Duration = Duration::from_secs(3_600);

/// Where the warehouse may receive a return: approved, and not yet counted.
const RECEIVABLE: [ReturnStatus; 4] = [
    ReturnStatus::Approved,
    ReturnStatus::LabelIssued,
    ReturnStatus::InTransit,
    ReturnStatus::Received,
];

impl ReturnWorkflow {
    fn status_of(&self) -> Option<ReturnStatus> {
        self.view.as_ref().map(|v| v.status)
    }

    /// Why an action allowed in `allowed` cannot run now, if it cannot.
    fn refuse_unless(&self, allowed: &[ReturnStatus], action: &str) -> Result<(), UpdateError> {
        match self.status_of() {
            None if self.refused.is_some() => Err("the return request was refused".into()),
            None => Err("the return is still being opened; try again in a moment".into()),
            Some(_) if self.busy => Err("another action on this return is running".into()),
            Some(s) if !allowed.contains(&s) => {
                Err(format!("the return is {s}: it cannot {action}").into())
            }
            Some(_) => Ok(()),
        }
    }

    fn refuse_receipt(&self, r: &Receipt) -> Result<(), UpdateError> {
        self.refuse_unless(&RECEIVABLE, "be received")?;
        if r.warehouse.trim().is_empty() {
            return Err("say which warehouse received it".into());
        }
        let Some(view) = &self.view else {
            unreachable!("checked");
        };
        for line in &view.lines {
            let counted = r
                .lines
                .iter()
                .find(|c| c.sku == line.sku)
                .ok_or_else(|| format!("count {}", line.sku))?;
            if !counted.counted.is_valid_for(line.quantity) {
                return Err(format!(
                    "{}: {} units were sent back, {} counted",
                    line.sku,
                    line.quantity,
                    counted.counted.total()
                )
                .into());
            }
        }
        if r.lines.len() != view.lines.len() {
            return Err("count only the lines of this return, each once".into());
        }
        Ok(())
    }

    fn return_id(&self) -> uuid::Uuid {
        self.view.as_ref().map(|v| v.return_id).unwrap_or_default()
    }

    /// Still waiting for the parcel: approved, labelled, on its way, or arrived uncounted.
    fn awaiting_parcel(&self) -> bool {
        self.busy || self.status_of().is_some_and(|st| RECEIVABLE.contains(&st))
    }

    fn label(&self) -> Option<ReturnLabel> {
        self.view.as_ref().and_then(|v| v.label.clone())
    }
}

/// How long a mail may take to go out (the mail server down) before the return gives up on
/// it and notes the problem.
const MAIL_BUDGET: Duration = Duration::from_secs(6 * 3_600);

fn problem(ctx: &WorkflowContext<ReturnWorkflow>, what: String) {
    ctx.state_mut(|s| {
        if let Some(v) = s.view.as_mut() {
            v.problems.push(what);
        }
    });
}

fn set_status(ctx: &WorkflowContext<ReturnWorkflow>, status: ReturnStatus) {
    ctx.state_mut(|s| {
        if let Some(v) = s.view.as_mut() {
            v.status = status;
        }
    });
    ctx.upsert_search_attributes([RETURN_STATE.value_set(status.as_str().into())]);
}

/// Moves the return in the returns domain and here; a move the domain refuses for good is
/// noted for support and answered.
async fn move_to(
    ctx: &WorkflowContext<ReturnWorkflow>,
    to: ReturnStatus,
    actor: &str,
    note: Option<String>,
) -> Result<(), String> {
    let moved = ctx
        .execute_local_activity(
            Move,
            MoveReturn {
                return_id: ctx.state(|s| s.return_id()),
                to,
                actor: actor.to_string(),
                note,
            },
            options::local(None, false),
        )
        .await;
    match moved {
        Ok(status) => {
            set_status(ctx, status);
            Ok(())
        }
        Err(e) => {
            let what = format!("the return could not become {to}: {e}");
            problem(ctx, what.clone());
            Err(what)
        }
    }
}

async fn note(ctx: &WorkflowContext<ReturnWorkflow>, event: &str, actor: &str, what: String) {
    let noted = ctx
        .execute_local_activity(
            Note,
            NoteReturn {
                return_id: ctx.state(|s| s.return_id()),
                event: event.into(),
                actor: actor.into(),
                note: what,
            },
            options::local(None, false),
        )
        .await;
    if let Err(e) = noted {
        problem(ctx, format!("the {event} note was not recorded: {e}"));
    }
}

/// Sends `template` once per return and `kind` (the idempotency key is the workflow's id and
/// the kind). A mail that cannot go out is noted for support.
async fn mail(
    ctx: &WorkflowContext<ReturnWorkflow>,
    kind: &str,
    to: String,
    template: &str,
    mut vars: BTreeMap<String, String>,
) {
    let Some(view) = ctx.state(|s| s.view.clone()) else {
        return;
    };
    vars.insert("rma_no".into(), view.rma_no.clone());
    vars.insert("order_no".into(), view.order_no.clone());
    vars.entry("lines".into()).or_insert_with(|| {
        view.lines
            .iter()
            .map(|l| format!("  {} × {}", l.quantity, l.title))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let mut opts = options::on(ctx, notifications::QUEUE, Duration::from_secs(30));
    opts.close_timeouts = ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: MAIL_BUDGET,
        start_to_close: Duration::from_secs(30),
    };
    let sent = ctx
        .execute_activity(
            SendMail,
            SendMessage {
                idempotency_key: format!("{}/mail/{kind}", ctx.workflow_id()),
                to,
                template: template.into(),
                vars,
            },
            opts,
        )
        .await;
    if let Err(e) = sent {
        problem(ctx, format!("the {kind} mail was not sent: {e}"));
    }
}

async fn mail_customer(
    ctx: &WorkflowContext<ReturnWorkflow>,
    kind: &str,
    vars: BTreeMap<String, String>,
) {
    let Some(to) = ctx.state(|s| s.customer_email.clone()) else {
        return;
    };
    mail(ctx, kind, to, &format!("return_{kind}"), vars).await;
}

/// The vendor's name (and where it is mailed), asked of the vendors domain.
async fn vendor(ctx: &WorkflowContext<ReturnWorkflow>) -> Option<(String, String)> {
    let vendor_id = ctx.state(|s| s.view.as_ref().map(|v| v.vendor_id))?;
    let found = ctx
        .execute_local_activity(
            Contact,
            ContactOf { vendor_id },
            options::local(Some(Duration::from_secs(600)), false),
        )
        .await;
    match found {
        Ok(v) => Some((v.name, v.email)),
        Err(e) => {
            problem(ctx, format!("the vendor's contact is unknown: {e}"));
            None
        }
    }
}

/// Waits until the return is decided; not within the decision time, the vendor is reminded,
/// and later still staff are asked to decide.
async fn decision(
    ctx: &WorkflowContext<ReturnWorkflow>,
    input: &ReturnInput,
) -> WorkflowResult<()> {
    let settings = &input.settings;
    for (seconds, event) in [
        (settings.decision_sla_seconds, "reminded"),
        (settings.escalate_after_seconds, "escalated"),
    ] {
        let mut late = ctx.timer(Duration::from_secs(seconds));
        let mut decided = ctx.wait_condition(|s| s.status_of() != Some(ReturnStatus::Requested));
        let fired = select! {
            _ = late => true,
            _ = decided => false,
        };
        if !fired {
            late.cancel();
            return Ok(());
        }
        if event == "reminded" {
            let waited = span(seconds);
            note(
                ctx,
                event,
                "system:decision_sla",
                format!("not decided within {waited}: the vendor is reminded"),
            )
            .await;
            if let Some((name, email)) = vendor(ctx).await {
                let vars =
                    BTreeMap::from([("vendor".to_string(), name), ("waited".to_string(), waited)]);
                mail(
                    ctx,
                    "decision_reminder",
                    email,
                    "return_decision_reminder",
                    vars,
                )
                .await;
            }
        } else {
            note(
                ctx,
                event,
                "system:decision_sla",
                "the vendor did not decide: staff are asked to".into(),
            )
            .await;
            ctx.state_mut(|s| {
                if let Some(v) = s.view.as_mut() {
                    v.escalated = true;
                }
            });
        }
    }
    ctx.wait_condition(|s| s.status_of() != Some(ReturnStatus::Requested))
        .await?;
    Ok(())
}

/// The seller's own return policy, when the asked-for lines are all one seller's (a request of
/// several sellers' lines is refused when opened). Returns started before sellers had one:
/// none.
async fn vendor_policy(
    ctx: &WorkflowContext<ReturnWorkflow>,
    input: &ReturnInput,
    order: &ReturnableOrder,
) -> Result<Option<VendorPolicy>, String> {
    if !ctx.patched(VENDOR_POLICY_PATCH) {
        return Ok(None);
    }
    let vendors: BTreeSet<uuid::Uuid> = input
        .lines
        .iter()
        .filter_map(|l| order.lines.iter().find(|o| o.sku == l.sku))
        .map(|o| o.vendor_id)
        .collect();
    let [vendor_id] = vendors.into_iter().collect::<Vec<_>>()[..] else {
        return Ok(None);
    };
    // Retried until the vendors domain answers, as the orders domain's facts are; the
    // customer's request waits (a retry with its key waits for the same answer).
    let found = ctx
        .execute_local_activity(
            ReturnPolicy,
            ReturnPolicyOf { vendor_id },
            options::local(None, false),
        )
        .await
        .map_err(|e| format!("the seller's return policy cannot be checked ({e})"))?;
    Ok((found.version > 0).then_some(found))
}

/// What a seller's own policy changes, for the return's history.
fn policy_text(v: &VendorPolicy) -> String {
    let p: &VendorReturnPolicy = &v.policy;
    let mut parts = Vec::new();
    if let Some(d) = p.window_days {
        parts.push(format!("{d} days to ask"));
    }
    if let Some(f) = p.restocking_fee_bps {
        parts.push(format!("a restocking fee of {f} basis points"));
    }
    if !p.non_returnable_categories.is_empty() {
        parts.push(format!(
            "not taken back after a change of mind: {}",
            p.non_returnable_categories.join(", ")
        ));
    }
    if let Some(r) = &p.auto_approve_reasons {
        let r: Vec<_> = r.iter().map(|r| r.as_str()).collect();
        parts.push(format!("approved by itself: {}", r.join(", ")));
    }
    if let Some(m) = p.auto_approve_max_minor {
        parts.push(format!("approved by itself up to {m} (minor units)"));
    }
    if p.free_return_postage {
        parts.push("the seller pays the postage".into());
    }
    if parts.is_empty() {
        parts.push("as the marketplace's".into());
    }
    format!(
        "the seller's return policy (version {}) applies: {}",
        v.version,
        parts.join("; ")
    )
}

/// The asked-for lines whose products are in a category the policy does not take back, as
/// the catalog knows them now (the seller's own categories only for lines the customer
/// changed their mind about). A return whose settings name no such category (every return
/// started before them) does not ask.
async fn excluded_lines(
    ctx: &WorkflowContext<ReturnWorkflow>,
    input: &ReturnInput,
) -> Result<Vec<ExcludedLine>, String> {
    let policy = &input.settings.non_returnable_categories;
    let by_choice = &input.settings.changed_mind_non_returnable_categories;
    if (policy.is_empty() && by_choice.is_empty()) || !ctx.patched(CATEGORIES_PATCH) {
        return Ok(Vec::new());
    }
    // Retried until the catalog answers, as the orders domain's facts are; the customer's
    // request waits (a retry with its key waits for the same answer).
    let opts = options::on(ctx, catalog::QUEUE, Duration::from_secs(10));
    let facts = ctx
        .execute_activity(
            Describe,
            DescribeSkus {
                skus: input.lines.iter().map(|l| l.sku.clone()).collect(),
            },
            opts,
        )
        .await
        .map_err(|e| {
            format!(
                "the return policy cannot be checked now ({}); try again later",
                text::failure(&e).1
            )
        })?;
    let choice = |sku: &souk_domain::Sku| {
        input
            .lines
            .iter()
            .any(|l| &l.sku == sku && l.reason.customers_choice())
    };
    Ok(facts
        .iter()
        .filter_map(|f| {
            excluded_category(&f.category_slugs, policy)
                .or_else(|| {
                    choice(&f.sku)
                        .then(|| excluded_category(&f.category_slugs, by_choice))
                        .flatten()
                })
                .map(|c| ExcludedLine {
                    sku: f.sku.clone(),
                    category: c.to_string(),
                })
        })
        .collect())
}

/// The counted units refunded: what the orders domain's rule says they are worth (less a
/// restocking fee of `fee_bps` of lines the customer changed their mind about, and the
/// `postage` the customer pays), refunded once through the payments domain, then recorded
/// per line. Answers what was refunded.
async fn refund(
    ctx: &WorkflowContext<ReturnWorkflow>,
    view: &ReturnView,
    fee_bps: u32,
    postage: Option<Money>,
) -> Result<Option<Money>, String> {
    let lines: Vec<LineUnits> = view
        .lines
        .iter()
        .filter_map(|l| {
            let n = l.counted.map_or(0, |c| c.refunded());
            (n > 0).then(|| LineUnits {
                sku: l.sku.clone(),
                quantity: n,
            })
        })
        .collect();
    if lines.is_empty() {
        return Ok(None);
    }
    let fees = if fee_bps == 0 {
        Vec::new()
    } else {
        view.lines
            .iter()
            .filter(|l| l.reason.customers_choice() && lines.iter().any(|u| u.sku == l.sku))
            .map(|l| LineFee {
                sku: l.sku.clone(),
                bps: fee_bps,
            })
            .collect()
    };
    let key = format!("{}/refund", ctx.workflow_id());
    let worth = ctx
        .execute_local_activity(
            GiveBack,
            RefundLines {
                order_no: view.order_no.clone(),
                vendor_id: view.vendor_id,
                refund_key: key.clone(),
                lines,
                reason: format!("return {}", view.rma_no),
                actor: "system:return".into(),
                kind: RefundKind::Return,
                fees,
                postage,
            },
            options::local(None, false),
        )
        .await
        .map_err(|e| {
            format!("what the returned units are worth is unknown, so nothing was refunded: {e}")
        })?;
    if worth.amount.amount > 0 {
        ctx.execute_activity(
            Refund,
            RefundPayment {
                checkout_id: worth.checkout_id.clone(),
                attempt: worth.attempt,
                amount: worth.amount,
                reason: format!("return {}", view.rma_no),
                sequence: worth.sequence,
            },
            options::on(ctx, payments::QUEUE, Duration::from_secs(60)),
        )
        .await
        .map_err(|e| format!("the refund of {} failed; it is owed: {e}", worth.amount))?;
        let recorded = ctx
            .execute_local_activity(
                Payment,
                RecordPayment {
                    checkout_id: worth.checkout_id.clone(),
                    attempt: worth.attempt,
                    payment_status: if worth.order_refunded {
                        PaymentStatus::Refunded
                    } else {
                        PaymentStatus::PartiallyRefunded
                    },
                    note: format!("{} refunded: return {}", worth.amount, view.rma_no),
                },
                options::local(None, false),
            )
            .await;
        if let Err(e) = recorded {
            problem(
                ctx,
                format!("the order's payment status was not updated: {e}"),
            );
        }
    }
    ctx.execute_local_activity(
        RecordRefund,
        RecordReturnRefund {
            return_id: view.return_id,
            lines: worth.lines.clone(),
        },
        options::local(None, false),
    )
    .await
    .map_err(|e| format!("the refund of {} was not recorded: {e}", worth.amount))?;
    ctx.state_mut(|s| {
        if let Some(v) = s.view.as_mut() {
            v.status = ReturnStatus::Refunded;
            v.refunded = Some(worth.amount);
            for l in &mut v.lines {
                let r = worth.lines.iter().find(|r| r.sku == l.sku);
                l.refunded = r.map(|r| r.amount);
                l.fee = r.and_then(|r| r.fee);
                l.postage = r.and_then(|r| r.postage);
            }
        }
    });
    set_status(ctx, ReturnStatus::Refunded);
    Ok(Some(worth.amount))
}

/// Sellable units go back on hand in the warehouse that received them, once per line.
async fn restock(ctx: &WorkflowContext<ReturnWorkflow>, view: &ReturnView, warehouse: &str) {
    for l in &view.lines {
        let n = l.counted.map_or(0, |c| c.sellable);
        if n == 0 {
            continue;
        }
        let done = ctx
            .execute_local_activity(
                Restock,
                RestockUnits {
                    key: format!("{}/restock/{}", ctx.workflow_id(), l.sku),
                    sku: l.sku.clone(),
                    warehouse: warehouse.to_string(),
                    quantity: i64::from(n),
                    reason: format!("return {}", view.rma_no),
                },
                options::local(None, false),
            )
            .await;
        if let Err(e) = done {
            problem(ctx, format!("{} was not restocked: {e}", l.sku));
        }
    }
}

/// What each line was refunded, for the customer.
fn refunded_lines(view: &ReturnView) -> String {
    view.lines
        .iter()
        .map(|l| {
            let counted = l.counted.unwrap_or_default();
            let mut amount = l
                .refunded
                .map_or_else(|| "nothing refunded".to_string(), |m| m.to_string());
            if let Some(fee) = l.fee {
                amount.push_str(&format!(" (less a restocking fee of {fee})"));
            }
            if let Some(postage) = l.postage {
                amount.push_str(&format!(" (less return postage of {postage})"));
            }
            format!(
                "  {} × {}: {} as new, {} damaged, {} not ours, {} missing: {amount}",
                l.quantity,
                l.title,
                counted.sellable,
                counted.damaged,
                counted.wrong_item,
                counted.missing
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Buys the label the customer sends the parcel back on: the shipping domain opens the
/// parcel (back to the warehouse the units left from) and buys its cheapest rate once; the
/// returns domain keeps it (`approved → label_issued`). Who pays the postage is the return
/// policy's (the customer, only when every line is their choice). Answers the label, or none
/// when none could be bought (noted for support) or the return moved on meanwhile.
async fn issue_label(
    ctx: &WorkflowContext<ReturnWorkflow>,
    seller_pays: bool,
) -> Option<ReturnLabel> {
    let view = ctx.state(|s| s.view.clone())?;
    let opened = ctx
        .execute_local_activity(
            OpenReturnParcel,
            NewReturnParcel {
                workflow_id: ctx.workflow_id().to_string(),
                order_no: view.order_no.clone(),
                vendor_id: view.vendor_id,
                lines: view
                    .lines
                    .iter()
                    .map(|l| LineUnits {
                        sku: l.sku.clone(),
                        quantity: l.quantity,
                    })
                    .collect(),
            },
            options::local(Some(LABEL_BUDGET), false),
        )
        .await;
    let parcel = match opened {
        Ok(p) => p,
        Err(e) => {
            problem(ctx, format!("no return parcel could be opened: {e}"));
            return None;
        }
    };
    let mut opts = options::on(ctx, shipping::QUEUE, Duration::from_secs(60));
    opts.close_timeouts = ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: LABEL_BUDGET,
        start_to_close: Duration::from_secs(60),
    };
    let bought = ctx
        .execute_activity(
            Buy,
            BuyLabel {
                shipment_id: parcel.shipment_id,
                rate_id: None,
                actor: "system:return".into(),
            },
            opts,
        )
        .await;
    let bought = match bought {
        Ok(b) => b,
        Err(e) => {
            let why = text::failure(&e).1;
            problem(ctx, format!("no return label could be bought: {why}"));
            // The parcel is given up (nothing to scan; a label bought as the answer was lost
            // stays the carrier's to refund).
            let _ = ctx
                .execute_activity(
                    Void,
                    VoidLabel {
                        shipment_id: parcel.shipment_id,
                        reason: "no label could be bought".into(),
                        actor: "system:return".into(),
                    },
                    options::on(ctx, shipping::QUEUE, Duration::from_secs(60)),
                )
                .await;
            return None;
        }
    };
    let reasons: Vec<_> = view.lines.iter().map(|l| l.reason).collect();
    let currency = view.lines.first().map(|l| l.unit_price.currency);
    // Postage in another currency than the order's cannot be kept from its refund.
    let payer = if seller_pays {
        PostagePayer::Vendor
    } else {
        PostagePayer::of(&reasons)
    };
    let paid_by = match payer {
        PostagePayer::Customer if currency != Some(bought.price.currency) => {
            problem(
                ctx,
                format!(
                    "the postage of {} is not in the order's currency: the seller pays it",
                    bought.price
                ),
            );
            PostagePayer::Vendor
        }
        payer => payer,
    };
    let label = ReturnLabel {
        shipment_id: parcel.shipment_id,
        carrier: bought.carrier,
        service: bought.service,
        tracking_code: bought.tracking_code,
        label_url: bought.label_url,
        tracking_url: bought.tracking_url,
        postage: bought.price,
        paid_by,
    };
    // Called off (or received) while the label was bought: it is not needed.
    if ctx.state(|s| s.busy || s.status_of() != Some(ReturnStatus::Approved)) {
        void(ctx, &label, "the return moved on before its label was kept").await;
        return None;
    }
    ctx.state_mut(|s| s.busy = true);
    let kept = ctx
        .execute_local_activity(
            Label,
            LabelReturn {
                return_id: view.return_id,
                label: label.clone(),
                actor: "system:return".into(),
            },
            options::local(None, false),
        )
        .await;
    let kept = match kept {
        Ok(status) => {
            ctx.state_mut(|s| {
                if let Some(v) = s.view.as_mut() {
                    v.label = Some(label.clone());
                }
            });
            set_status(ctx, status);
            ctx.upsert_search_attributes([TRACKING_CODE.value_set(label.tracking_code.clone())]);
            Some(label.clone())
        }
        Err(e) => {
            problem(ctx, format!("the return label was not kept: {e}"));
            None
        }
    };
    ctx.state_mut(|s| s.busy = false);
    if kept.is_none() {
        void(ctx, &label, "the return label was not kept").await;
    }
    kept
}

/// Voids an unused label at the carrier; one the carrier will not void is noted for support.
async fn void(ctx: &WorkflowContext<ReturnWorkflow>, label: &ReturnLabel, reason: &str) {
    let voided = ctx
        .execute_activity(
            Void,
            VoidLabel {
                shipment_id: label.shipment_id,
                reason: reason.into(),
                actor: "system:return".into(),
            },
            options::on(ctx, shipping::QUEUE, Duration::from_secs(60)),
        )
        .await;
    if let Err(e) = voided {
        problem(
            ctx,
            format!(
                "the return label {} was not voided: {}",
                label.tracking_code,
                text::failure(&e).1
            ),
        );
    }
}

/// Applies the next carrier scan of the parcel: on its way, the return is `in_transit`;
/// delivered, `received` (the warehouse counts it next). A problem the carrier reports is
/// noted in its history and shown to staff.
async fn track(ctx: &WorkflowContext<ReturnWorkflow>) {
    let Some(event) = ctx.state_mut(|s| s.pending.pop_front()) else {
        return;
    };
    ctx.state_mut(|s| s.busy = true);
    let outcome = ctx
        .execute_activity(
            ApplyTracking,
            event.clone(),
            options::on(ctx, shipping::QUEUE, Duration::from_secs(30)),
        )
        .await;
    let actor = format!("carrier:{}", event.carrier);
    let status = ctx.state(|s| s.status_of());
    match outcome {
        Ok(TrackingOutcome::Applied(
            ShipmentStatus::InTransit | ShipmentStatus::OutForDelivery,
        )) if status == Some(ReturnStatus::LabelIssued) => {
            let _ = move_to(ctx, ReturnStatus::InTransit, &actor, None).await;
        }
        Ok(TrackingOutcome::Applied(ShipmentStatus::Delivered))
            if matches!(
                status,
                Some(ReturnStatus::LabelIssued | ReturnStatus::InTransit)
            ) =>
        {
            let note = Some("delivered to the warehouse by the carrier".to_string());
            let _ = move_to(ctx, ReturnStatus::Received, &actor, note).await;
        }
        Ok(TrackingOutcome::Applied(
            st @ (ShipmentStatus::Exception | ShipmentStatus::ReturnedToSender),
        )) => {
            let what = format!("the carrier reports the return parcel {st}");
            problem(ctx, what.clone());
            if ctx.patched(CARRIER_PROBLEM_PATCH) {
                let what = format!("{what}: staff are asked to look into it");
                note(ctx, "carrier_problem", &actor, what).await;
                ctx.state_mut(|s| {
                    if let Some(v) = s.view.as_mut() {
                        v.escalated = true;
                    }
                });
            }
        }
        _ => {}
    }
    ctx.state_mut(|s| s.busy = false);
}

/// Applies the carrier's scans of the parcel until the warehouse has counted it or the
/// return is called off (false), or, given `seconds`, until they have passed (true).
async fn scans_until(ctx: &WorkflowContext<ReturnWorkflow>, seconds: Option<u64>) -> bool {
    let Some(seconds) = seconds else {
        loop {
            let mut moved = ctx.wait_condition(|s| !s.awaiting_parcel());
            let mut scanned = ctx.wait_condition(|s| !s.busy && !s.pending.is_empty());
            let counted = select! {
                _ = scanned => false,
                _ = moved => true,
            };
            if counted {
                return false;
            }
            track(ctx).await;
        }
    };
    let mut late = ctx.timer(Duration::from_secs(seconds));
    loop {
        let mut moved = ctx.wait_condition(|s| !s.awaiting_parcel());
        let mut scanned = ctx.wait_condition(|s| !s.busy && !s.pending.is_empty());
        let woke = select! {
            _ = scanned => None,
            _ = late => Some(true),
            _ = moved => Some(false),
        };
        match woke {
            None => track(ctx).await,
            Some(true) => return true,
            Some(false) => {
                late.cancel();
                return false;
            }
        }
    }
}

/// What the postage of the parcel comes to for the customer.
fn postage_text(label: &ReturnLabel, vendor: &str) -> String {
    match label.paid_by {
        PostagePayer::Vendor => format!("paid by {vendor}"),
        PostagePayer::Customer => format!("{}, kept from your refund", label.postage),
    }
}

fn step_error(e: impl std::fmt::Display) -> UpdateError {
    e.to_string().into()
}

#[workflow_methods]
impl ReturnWorkflow {
    #[run(name = "Return")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: ReturnInput,
    ) -> WorkflowResult<String> {
        // The API gives these at the start; another starter may not have.
        if ctx.search_attributes().get(&RETURN_STATE).is_none() {
            ctx.upsert_search_attributes(initial_search_attributes(&input));
        }
        let order: Result<ReturnableOrder, _> = ctx
            .execute_local_activity(
                Returnable,
                ReturnableOf {
                    order_no: input.order_no.clone(),
                },
                options::local(None, false),
            )
            .await;
        let mut input = input;
        let mut own_policy = None;
        let opened = match order {
            Ok(order) => {
                ctx.state_mut(|s| s.customer_email = Some(order.customer_email.clone()));
                let checked = match vendor_policy(ctx, &input, &order).await {
                    Ok(policy) => {
                        if let Some(p) = &policy {
                            input.settings = input.settings.for_vendor(&p.policy);
                        }
                        own_policy = policy;
                        excluded_lines(ctx, &input).await
                    }
                    Err(message) => Err(message),
                };
                match checked {
                    Ok(excluded) => {
                        ctx.execute_local_activity(
                            Open,
                            OpenReturn {
                                workflow_id: ctx.workflow_id().to_string(),
                                input: input.clone(),
                                order,
                                excluded,
                            },
                            options::local(None, false),
                        )
                        .await?
                    }
                    Err(message) => Submitted::Refused {
                        code: POLICY_UNAVAILABLE.into(),
                        message,
                    },
                }
            }
            // No such order (the orders domain refuses it for good).
            Err(_) => Submitted::Refused {
                code: "order_not_found".into(),
                message: format!("no order {} of yours", input.order_no),
            },
        };
        let view = match opened {
            Submitted::Opened { view } => view,
            Submitted::Refused { code, message } => {
                ctx.state_mut(|s| s.refused = Some((code, message)));
                ctx.upsert_search_attributes([RETURN_STATE.value_set(REFUSED.into())]);
                let c = ctx.clone();
                ctx.wait_condition(move |_| c.all_handlers_finished())
                    .await?;
                return Ok(REFUSED.into());
            }
        };
        ctx.upsert_search_attributes([VENDOR_ID.value_set(view.vendor_id.to_string())]);
        ctx.state_mut(|s| s.view = Some(view.clone()));
        if view.status != ReturnStatus::Requested {
            set_status(ctx, view.status);
        }
        if let Some(p) = &own_policy {
            note(ctx, "seller_policy", "system:return_policy", policy_text(p)).await;
        }

        // Approved by the policy, or by the vendor or staff.
        let settings = &input.settings;
        let worth: i64 = view
            .lines
            .iter()
            .map(|l| l.unit_price.amount.saturating_mul(i64::from(l.quantity)))
            .sum();
        let reasons: Vec<_> = view.lines.iter().map(|l| l.reason).collect();
        if view.status == ReturnStatus::Requested
            && auto_approves(
                &reasons,
                &settings.auto_approve_reasons,
                worth,
                settings.auto_approve_max_minor,
            )
        {
            // Held busy, so a decision or a cancellation waits for the policy's move.
            ctx.state_mut(|s| s.busy = true);
            let _ = move_to(
                ctx,
                ReturnStatus::Approved,
                "system:return_policy",
                Some("approved by the return policy".into()),
            )
            .await;
            ctx.state_mut(|s| {
                s.busy = false;
                if let Some(v) = s.view.as_mut()
                    && v.status == ReturnStatus::Approved
                {
                    v.decided_by = Some("system:return_policy".into());
                }
            });
        }
        decision(ctx, &input).await?;

        let vendor_name = vendor(ctx)
            .await
            .map_or_else(|| "the seller".to_string(), |v| v.0);
        match ctx.state(|s| s.status_of()) {
            Some(ReturnStatus::Declined) => {
                let reason = ctx
                    .state(|s| s.view.as_ref().and_then(|v| v.decision_note.clone()))
                    .unwrap_or_default();
                let vars = BTreeMap::from([
                    ("vendor".to_string(), vendor_name),
                    ("reason".to_string(), reason),
                ]);
                mail_customer(ctx, "declined", vars).await;
            }
            Some(ReturnStatus::Approved) => {
                let send_by = span(settings.send_by_seconds);
                let labels = ctx.patched(LABEL_PATCH);
                let label = if labels {
                    issue_label(ctx, settings.seller_pays_postage).await
                } else {
                    None
                };
                if labels {
                    // A cancellation (or a receipt) running as the label came back decides
                    // which mail the customer gets.
                    ctx.wait_condition(|s| !s.busy).await?;
                }
                let mut vars = BTreeMap::from([
                    ("vendor".to_string(), vendor_name.clone()),
                    ("send_by".to_string(), send_by.clone()),
                ]);
                match &label {
                    Some(l) => {
                        vars.extend([
                            ("label_url".to_string(), l.label_url.clone()),
                            ("carrier".to_string(), l.carrier.clone()),
                            ("tracking_code".to_string(), l.tracking_code.clone()),
                            (
                                "tracking_link".to_string(),
                                l.tracking_url
                                    .clone()
                                    .unwrap_or_else(|| "the carrier gives no page".into()),
                            ),
                            ("postage".to_string(), postage_text(l, &vendor_name)),
                        ]);
                        mail_customer(ctx, "label", vars).await;
                    }
                    // Called off while the label was bought: nothing to send back.
                    None if labels
                        && ctx.state(|s| s.status_of() != Some(ReturnStatus::Approved)) => {}
                    None => mail_customer(ctx, "approved", vars).await,
                }
                // Received (and counted), called off, or never sent back; the carrier's scans
                // move it on the way.
                let expired = scans_until(ctx, Some(settings.send_by_seconds)).await;
                if expired {
                    // A receipt being recorded as the time ran out decides it.
                    ctx.wait_condition(|s| !s.busy).await?;
                }
                let unsent = [ReturnStatus::Approved, ReturnStatus::LabelIssued];
                if expired && ctx.state(|s| s.status_of().is_some_and(|st| unsent.contains(&st))) {
                    let note = Some(format!("not sent back within {send_by}"));
                    ctx.state_mut(|s| s.busy = true);
                    let moved = move_to(ctx, ReturnStatus::Expired, "system:send_by", note).await;
                    ctx.state_mut(|s| s.busy = false);
                    if moved.is_ok() {
                        let vars = BTreeMap::from([("send_by".to_string(), send_by)]);
                        mail_customer(ctx, "expired", vars).await;
                    }
                } else if expired {
                    // Sent in time and on its way: the warehouse counts it when it arrives,
                    // within the receipt time or staff are asked to look into it.
                    let within = settings.receive_within_seconds;
                    let timed = within > 0 && ctx.patched(RECEIPT_PATCH);
                    if scans_until(ctx, timed.then_some(within)).await {
                        let waited = span(within);
                        note(
                            ctx,
                            "receipt_late",
                            "system:receive_within",
                            format!("sent, but not counted within {waited} after the send-by time: staff are asked to look into it"),
                        )
                        .await;
                        ctx.state_mut(|s| {
                            if let Some(v) = s.view.as_mut() {
                                v.escalated = true;
                            }
                        });
                        scans_until(ctx, None).await;
                    }
                }
                // A label not used: voided, so nobody pays for it.
                let off = [ReturnStatus::Cancelled, ReturnStatus::Expired];
                if let Some(label) = ctx.state(|s| s.label())
                    && ctx.state(|s| s.status_of().is_some_and(|st| off.contains(&st)))
                {
                    void(ctx, &label, "the return was called off or expired").await;
                }
            }
            _ => {}
        }
        // Let a running receipt finish before the refund.
        ctx.wait_condition(|s| !s.busy).await?;
        if ctx.state(|s| s.status_of()) == Some(ReturnStatus::Inspected) {
            let view = ctx
                .state(|s| s.view.clone())
                .unwrap_or_else(|| unreachable!("opened"));
            let warehouse = ctx.state(|s| s.warehouse.clone()).unwrap_or_default();
            // Returns started before the fee (whose settings have none) never ask.
            let fee_bps = match input.settings.restocking_fee_bps {
                0 => 0,
                bps if ctx.patched(FEE_PATCH) => bps,
                _ => 0,
            };
            // The postage of a label the customer pays (returns labelled before this kept
            // none).
            let postage = view
                .label
                .as_ref()
                .filter(|l| l.paid_by == PostagePayer::Customer && l.postage.amount > 0)
                .map(|l| l.postage)
                .filter(|_| ctx.patched(POSTAGE_PATCH));
            match refund(ctx, &view, fee_bps, postage).await {
                Ok(refunded) => {
                    restock(ctx, &view, &warehouse).await;
                    if move_to(ctx, ReturnStatus::Closed, "system:return", None)
                        .await
                        .is_ok()
                    {
                        let view = ctx
                            .state(|s| s.view.clone())
                            .unwrap_or_else(|| unreachable!("opened"));
                        let lines = refunded_lines(&view);
                        match refunded {
                            Some(amount) => {
                                let vars = BTreeMap::from([
                                    ("amount".to_string(), amount.to_string()),
                                    ("lines".to_string(), lines),
                                ]);
                                mail_customer(ctx, "refunded", vars).await;
                            }
                            None => {
                                let vars = BTreeMap::from([("lines".to_string(), lines)]);
                                mail_customer(ctx, "closed", vars).await;
                            }
                        }
                    }
                }
                // Owed: support sees it in the status; the return stays inspected.
                Err(e) => problem(ctx, e),
            }
        }
        let c = ctx.clone();
        ctx.wait_condition(move |_| c.all_handlers_finished())
            .await?;
        Ok(ctx
            .state(|s| s.status_of())
            .map_or_else(|| REFUSED.to_string(), |s| s.as_str().to_string()))
    }

    #[query(name = "status")]
    pub fn status(&self, _ctx: &WorkflowContextView, _input: ()) -> Option<ReturnView> {
        self.view.clone()
    }

    /// Sent with the start: answers once the request is opened or refused.
    #[update(name = "submitted")]
    pub async fn submitted(
        ctx: &mut WorkflowContext<Self>,
        _r: (),
    ) -> Result<Submitted, UpdateError> {
        ctx.wait_condition(|s| s.view.is_some() || s.refused.is_some())
            .await
            .map_err(step_error)?;
        Ok(ctx.state(|s| match (&s.view, &s.refused) {
            (Some(view), _) => Submitted::Opened { view: view.clone() },
            (None, Some((code, message))) => Submitted::Refused {
                code: code.clone(),
                message: message.clone(),
            },
            (None, None) => unreachable!("waited for"),
        }))
    }

    #[update_validator(decide)]
    fn validate_decide(&self, _ctx: &WorkflowContextView, d: &Decision) -> Result<(), UpdateError> {
        if !d.approve && d.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err("say why the return is declined".into());
        }
        self.refuse_unless(&[ReturnStatus::Requested], "be decided")
    }

    /// The vendor (or staff) approve or decline: `requested → approved | declined`.
    #[update(name = "decide")]
    pub async fn decide(
        ctx: &mut WorkflowContext<Self>,
        d: Decision,
    ) -> Result<ReturnView, UpdateError> {
        ctx.state(|s| s.refuse_unless(&[ReturnStatus::Requested], "be decided"))?;
        ctx.state_mut(|s| s.busy = true);
        let to = if d.approve {
            ReturnStatus::Approved
        } else {
            ReturnStatus::Declined
        };
        let moved = move_to(ctx, to, &d.actor, d.reason.clone()).await;
        ctx.state_mut(|s| {
            s.busy = false;
            if let Some(v) = s.view.as_mut()
                && moved.is_ok()
            {
                v.decided_by = Some(d.actor.clone());
                v.decision_note = d.reason.clone();
            }
        });
        moved.map_err(step_error)?;
        Ok(ctx
            .state(|s| s.view.clone())
            .unwrap_or_else(|| unreachable!("validated")))
    }

    #[update_validator(cancel)]
    fn validate_cancel(
        &self,
        _ctx: &WorkflowContextView,
        _r: &CancelReturn,
    ) -> Result<(), UpdateError> {
        self.refuse_unless(
            &[
                ReturnStatus::Requested,
                ReturnStatus::Approved,
                ReturnStatus::LabelIssued,
            ],
            "be called off",
        )
    }

    /// The customer calls the return off, before the parcel is with the carrier.
    #[update(name = "cancel")]
    pub async fn cancel(
        ctx: &mut WorkflowContext<Self>,
        r: CancelReturn,
    ) -> Result<ReturnView, UpdateError> {
        ctx.state(|s| {
            s.refuse_unless(
                &[
                    ReturnStatus::Requested,
                    ReturnStatus::Approved,
                    ReturnStatus::LabelIssued,
                ],
                "be called off",
            )
        })?;
        ctx.state_mut(|s| s.busy = true);
        let moved = move_to(ctx, ReturnStatus::Cancelled, &r.actor, r.reason.clone()).await;
        ctx.state_mut(|s| s.busy = false);
        moved.map_err(step_error)?;
        Ok(ctx
            .state(|s| s.view.clone())
            .unwrap_or_else(|| unreachable!("validated")))
    }

    #[update_validator(receive)]
    fn validate_receive(&self, _ctx: &WorkflowContextView, r: &Receipt) -> Result<(), UpdateError> {
        self.refuse_receipt(r)
    }

    /// The warehouse received the parcel and counted every line: `→ inspected`. The refund
    /// and the restock follow in the run.
    #[update(name = "receive")]
    pub async fn receive(
        ctx: &mut WorkflowContext<Self>,
        r: Receipt,
    ) -> Result<ReturnView, UpdateError> {
        ctx.state(|s| s.refuse_receipt(&r))?;
        ctx.state_mut(|s| s.busy = true);
        let done = ctx
            .execute_local_activity(
                Inspect,
                InspectReturn {
                    return_id: ctx.state(|s| s.return_id()),
                    warehouse: r.warehouse.clone(),
                    lines: r.lines.clone(),
                    actor: r.actor.clone(),
                },
                options::local(None, false),
            )
            .await;
        if let Err(e) = done {
            ctx.state_mut(|s| s.busy = false);
            return Err(step_error(e));
        }
        // The parcel is in: the carrier's later reports of it change nothing.
        if let Some(label) = ctx.state(|s| s.label()) {
            let arrived = ctx
                .execute_local_activity(
                    Arrive,
                    ArriveParcel {
                        shipment_id: label.shipment_id,
                        actor: r.actor.clone(),
                    },
                    options::local(None, false),
                )
                .await;
            if let Err(e) = arrived {
                problem(
                    ctx,
                    format!("the return parcel was not marked arrived: {e}"),
                );
            }
        }
        ctx.state_mut(|s| {
            s.warehouse = Some(r.warehouse.clone());
            if let Some(v) = s.view.as_mut() {
                for l in &mut v.lines {
                    l.counted = r.lines.iter().find(|c| c.sku == l.sku).map(|c| c.counted);
                }
            }
        });
        set_status(ctx, ReturnStatus::Inspected);
        ctx.state_mut(|s| s.busy = false);
        Ok(ctx
            .state(|s| s.view.clone())
            .unwrap_or_else(|| unreachable!("validated")))
    }

    /// A carrier's scan of the return parcel, from the shipping domain's webhook receiver
    /// (recorded there first). A redelivered event is taken once.
    #[signal(name = "tracking")]
    pub fn tracking(&mut self, _ctx: &mut SyncWorkflowContext<Self>, event: TrackingEvent) {
        if self
            .seen
            .insert((event.carrier.clone(), event.event_id.clone()))
        {
            self.pending.push_back(event);
        }
    }
}
