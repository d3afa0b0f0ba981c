//! `Shipment`: one vendor's part of an order, from the warehouse to the customer's door.
//!
//! Opens the shipment in the shipping domain → waits for the vendor to pack it (the `pack`
//! update: parcel weight and dimensions) → the vendor asks for rates (`rates`) and buys the
//! label (`buy_label`: a chosen rate or the cheapest) → the carrier's tracking events arrive
//! as `tracking` signals (from the webhook receiver, each carrier event once) and move the
//! shipment by the machine's rule for carrier reports, until it is delivered or returned.
//!
//! Durable timers: not packed within the fulfilment time → the vendor is reminded by mail and
//! staff get a `fulfilment_late` alert; no carrier scan within the scan timeout after the
//! label → the shipment is an `exception`, with a `no_scan` alert and a mail to the customer.
//! The customer is mailed once per shipment each when the parcel is on its way, delivered,
//! and in trouble. Each move of the shipment moves the vendor's sub-order, and the order with
//! it, in the orders domain.
//!
//! Vendors and staff act through Updates whose validators refuse an action the shipment is
//! not ready for, with a reason, before anything reaches the history. Every side effect is an
//! activity on `souk.shipping`, idempotent by the shipment (a label is bought at most once).
//!
//! Support finds shipments by `OrderNo`, `VendorId`, `ShipmentState` and `TrackingCode`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use souk_contracts::checkout::ORDER_NO;
use souk_contracts::inventory::{Restock, RestockUnits};
use souk_contracts::notifications::{self, SendMail, SendMessage};
use souk_contracts::orders::{
    Fulfil, GiveBack, Payment, RecordFulfilment, RecordPayment, RefundKind, RefundLines,
};
use souk_contracts::payments::{self, Refund, RefundPayment};
use souk_contracts::shipping::{
    Alert, AlertKind, ApplyTracking, Buy, BuyLabel, CancelLinesRequest, CancelShipmentLines,
    CancelUnits, HandOver, HandOverShipment, LabelBought, LabelRequest, LinesCancelled, MarkNoScan,
    NoScan, Open, OpenShipment, Pack, PackRequest, PackShipment, QUEUE, Quote, QuoteShipment,
    RaiseAlert, RateChoice, SHIPMENT_STATE, ShipRequest, ShipmentInput, ShipmentView,
    TRACKING_CODE, TrackingEvent, TrackingOutcome, VENDOR_ID,
};
use souk_contracts::vendors::{Contact, ContactOf, VendorContact};
use souk_domain::order::{PaymentStatus, SubOrderStatus};
use souk_domain::shipment::{Parcel, ShipmentStatus};
use souk_domain::{Money, Sku};
use temporalio_common::ActivityCloseTimeouts;
use temporalio_common::search_attributes::SearchAttributeUpdate;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::workflows::select;
use temporalio_sdk::{
    CancellableFuture, SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult,
};
use uuid::Uuid;

use crate::options;
use crate::text::span;

pub use souk_contracts::shipping::{WORKFLOW_TYPE, workflow_id};

type UpdateError = Box<dyn std::error::Error + Send + Sync>;

#[workflow]
#[derive(Default)]
pub struct ShipmentWorkflow {
    view: Option<ShipmentView>,
    /// A vendor's action is running (one at a time).
    busy: bool,
    /// Tracking events to apply, in the order they arrived.
    pending: VecDeque<TrackingEvent>,
    /// Carrier event ids already taken (a redelivery is ignored).
    seen: BTreeSet<(String, String)>,
    /// Whether the order is told of each move of its sub-order (the `orders_follow` patch).
    follows: bool,
    /// What the order was last told.
    reported: Option<SubOrderStatus>,
    /// Whether the shipment keeps its timers and mails (the `timers` patch).
    timers: bool,
    input: Option<ShipmentInput>,
    /// The vendor's name and address, once asked for.
    vendor: Option<VendorContact>,
    /// The customer mails sent (or being sent): each kind once.
    mailed: BTreeSet<&'static str>,
    /// The units each line lost to cancellations, and each cancellation request's answer.
    cancelled: BTreeMap<Sku, i32>,
    cancellations: BTreeMap<String, LinesCancelled>,
}

/// Where a shipment's lines can still be cancelled: before its label is bought.
const CANCELLABLE: [ShipmentStatus; 2] =
    [ShipmentStatus::AwaitingFulfillment, ShipmentStatus::Packed];

impl ShipmentWorkflow {
    fn status_of(&self) -> Option<ShipmentStatus> {
        self.view.as_ref().map(|v| v.status)
    }

    /// Why a vendor action needing `needed` cannot run now, if it cannot.
    fn refuse(&self, needed: ShipmentStatus, action: &str) -> Result<(), UpdateError> {
        self.refuse_unless(&[needed], action)
    }

    /// Why a vendor action allowed in `allowed` cannot run now, if it cannot.
    fn refuse_unless(&self, allowed: &[ShipmentStatus], action: &str) -> Result<(), UpdateError> {
        match self.status_of() {
            None => Err("the shipment is still being opened; try again in a moment".into()),
            Some(_) if self.busy => Err("another action on this shipment is running".into()),
            Some(s) if !allowed.contains(&s) => {
                Err(format!("the shipment is {s}: it cannot {action}").into())
            }
            Some(_) => Ok(()),
        }
    }

    /// Why these units cannot be cancelled, if they cannot: each line of the shipment named
    /// once, at least one unit, no more than are left of it.
    fn refuse_units(&self, r: &CancelLinesRequest) -> Result<(), UpdateError> {
        if r.lines.is_empty() {
            return Err("name at least one line to cancel".into());
        }
        if r.reason.is_empty() {
            return Err("say why the lines cannot be sent".into());
        }
        let input = self
            .input
            .as_ref()
            .ok_or("the shipment is still being opened; try again in a moment")?;
        for (n, l) in r.lines.iter().enumerate() {
            if r.lines[..n].iter().any(|o| o.sku == l.sku) {
                return Err(format!("{} is named twice", l.sku).into());
            }
            let line = input
                .lines
                .iter()
                .find(|x| x.sku == l.sku)
                .ok_or_else(|| format!("{} is not in this shipment", l.sku))?;
            let left = line.quantity - self.cancelled.get(&l.sku).copied().unwrap_or(0);
            if l.quantity <= 0 || l.quantity > left {
                return Err(format!(
                    "{} units of {} cannot be cancelled: {left} are left",
                    l.quantity, l.sku
                )
                .into());
            }
        }
        Ok(())
    }

    fn shipment_id(&self) -> Uuid {
        self.view
            .as_ref()
            .and_then(|v| v.shipment_id)
            .unwrap_or_default()
    }
}

/// Shipments started before the order followed them never tell it.
pub const ORDERS_FOLLOW_PATCH: &str = "orders_follow";

fn set_status(ctx: &WorkflowContext<ShipmentWorkflow>, status: ShipmentStatus) {
    ctx.state_mut(|s| {
        if let Some(v) = s.view.as_mut() {
            v.status = status;
        }
    });
    ctx.upsert_search_attributes([SHIPMENT_STATE.value_set(status.as_str().into())]);
}

/// Shipments started before the timers and mails have neither.
pub const TIMERS_PATCH: &str = "timers";

/// Shipments started before it open the shipment with an activity on `souk.shipping`, and
/// set their search attributes again once it is open; since, the workflow worker runs the
/// step locally through the shipping domain's step service (the Temporal server records a
/// marker instead of scheduling a task), and the unchanged state is not set twice.
pub const LOCAL_OPEN_PATCH: &str = "local_open";

/// What support finds a new shipment by: its order, its vendor, and its state.
pub fn initial_search_attributes(input: &ShipmentInput) -> [SearchAttributeUpdate; 3] {
    [
        ORDER_NO.value_set(input.order_no.clone()),
        VENDOR_ID.value_set(input.vendor_id.to_string()),
        SHIPMENT_STATE.value_set(ShipmentStatus::AwaitingFulfillment.as_str().into()),
    ]
}

/// How long a mail may take to go out (the mail server down) before the shipment gives up on
/// it and notes the problem.
const MAIL_BUDGET: Duration = Duration::from_secs(6 * 3_600);

/// The same, for a mail an Update sends before it answers (the vendor waits on it).
const UPDATE_MAIL_BUDGET: Duration = Duration::from_secs(120);

fn problem(ctx: &WorkflowContext<ShipmentWorkflow>, what: String) {
    ctx.state_mut(|s| {
        if let Some(v) = s.view.as_mut() {
            v.problems.push(what);
        }
    });
}

/// The shipment is at `status`, moved by `actor` (for `reason`, if one is known): the order
/// hears of what that means for the vendor's sub-order, and the customer of what it means for
/// them.
async fn moved(
    ctx: &WorkflowContext<ShipmentWorkflow>,
    status: ShipmentStatus,
    actor: &str,
    reason: Option<&str>,
    mail_budget: Duration,
) {
    set_status(ctx, status);
    follow(ctx, status, actor, false).await;
    announce(ctx, status, reason, mail_budget).await;
}

/// Tells the orders domain what `status` means for the vendor's sub-order (packed:
/// processing; with the carrier: shipped; delivered), once per step. The orders domain
/// refusing the move (the sub-order was cancelled) is kept in the status for support; the
/// shipment goes on. `always`: even for a shipment started before the order followed them
/// (a cancellation, which they never had).
async fn follow(
    ctx: &WorkflowContext<ShipmentWorkflow>,
    status: ShipmentStatus,
    actor: &str,
    always: bool,
) {
    let Some(sub) = status.sub_order() else {
        return;
    };
    let Some(view) = ctx.state(|s| {
        ((s.follows || always) && s.reported != Some(sub))
            .then(|| s.view.clone())
            .flatten()
    }) else {
        return;
    };
    // A part shipped in several shipments: the order learns which one moved.
    let parts = ctx.state(|s| {
        s.input
            .as_ref()
            .map(|i| i.parts.clone())
            .unwrap_or_default()
    });
    let shipment = (!parts.is_empty()).then(|| ctx.workflow_id().to_string());
    let told = ctx
        .execute_local_activity(
            Fulfil,
            RecordFulfilment {
                order_no: view.order_no.clone(),
                vendor_id: view.vendor_id,
                status: sub,
                actor: actor.to_string(),
                note: Some(format!("shipment {status}")),
                shipment,
                parts,
            },
            options::local(None, false),
        )
        .await;
    match told {
        Ok(_) => ctx.state_mut(|s| s.reported = Some(sub)),
        Err(e) => problem(ctx, format!("the order was not told it is {sub}: {e}")),
    }
}

/// The vendor's name and address (asked of the vendors domain once).
async fn vendor(ctx: &WorkflowContext<ShipmentWorkflow>) -> Option<VendorContact> {
    if let Some(v) = ctx.state(|s| s.vendor.clone()) {
        return Some(v);
    }
    let vendor_id = ctx.state(|s| s.input.as_ref().map(|i| i.vendor_id))?;
    let found = ctx
        .execute_local_activity(
            Contact,
            ContactOf { vendor_id },
            options::local(Some(Duration::from_secs(600)), false),
        )
        .await;
    match found {
        Ok(v) => {
            ctx.state_mut(|s| s.vendor = Some(v.clone()));
            Some(v)
        }
        Err(e) => {
            problem(ctx, format!("the vendor's contact is unknown: {e}"));
            None
        }
    }
}

/// Sends `template` to `to`, once per shipment and `kind` (the idempotency key is the
/// workflow's id and the kind). A mail that cannot go out is noted for support.
async fn mail(
    ctx: &WorkflowContext<ShipmentWorkflow>,
    kind: &str,
    to: String,
    template: &str,
    vars: BTreeMap<String, String>,
    budget: Duration,
) {
    let mut opts = options::on(ctx, notifications::QUEUE, Duration::from_secs(30));
    opts.close_timeouts = ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: budget,
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

/// What the lines of the shipment read as in a mail: the units still in it.
fn lines_of(input: &ShipmentInput, cancelled: &BTreeMap<Sku, i32>) -> String {
    input
        .lines
        .iter()
        .filter_map(|l| {
            let left = l.quantity - cancelled.get(&l.sku).copied().unwrap_or(0);
            (left > 0).then(|| format!("  {left} × {}", l.title))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Mails the customer when the parcel is on its way, delivered, or in trouble: each once.
async fn announce(
    ctx: &WorkflowContext<ShipmentWorkflow>,
    status: ShipmentStatus,
    reason: Option<&str>,
    budget: Duration,
) {
    let kind = match status {
        ShipmentStatus::InTransit | ShipmentStatus::OutForDelivery => "shipped",
        ShipmentStatus::Delivered => "delivered",
        ShipmentStatus::Exception => "exception",
        _ => return,
    };
    // Taken before the first await, so a second move while this one mails sends nothing.
    let Some((input, label)) = ctx.state_mut(|s| {
        (s.timers && s.mailed.insert(kind))
            .then(|| {
                s.input
                    .clone()
                    .zip(s.view.as_ref().map(|v| v.label.clone()))
            })
            .flatten()
    }) else {
        return;
    };
    let vendor = vendor(ctx).await;
    let label = label.unwrap_or_else(|| LabelBought {
        carrier: "the carrier".into(),
        service: "-".into(),
        price: Money::zero(input.currency),
        tracking_code: "-".into(),
        label_url: String::new(),
        tracking_url: None,
    });
    let vars = BTreeMap::from([
        ("order_no".to_string(), input.order_no.clone()),
        (
            "vendor".to_string(),
            vendor.map_or_else(|| "The seller".to_string(), |v| v.name),
        ),
        (
            "lines".to_string(),
            lines_of(&input, &ctx.state(|s| s.cancelled.clone())),
        ),
        ("carrier".to_string(), label.carrier),
        ("service".to_string(), label.service),
        ("tracking_code".to_string(), label.tracking_code),
        (
            "tracking_link".to_string(),
            label
                .tracking_url
                .unwrap_or_else(|| "(the carrier gives none)".into()),
        ),
        (
            "reason".to_string(),
            reason
                .unwrap_or("the carrier reported a problem")
                .to_string(),
        ),
    ]);
    let template = format!("shipment_{kind}");
    mail(
        ctx,
        kind,
        input.customer_email.clone(),
        &template,
        vars,
        budget,
    )
    .await;
}

/// Not packed within the fulfilment time: staff are alerted and the vendor reminded, once.
async fn remind(ctx: &WorkflowContext<ShipmentWorkflow>, input: &ShipmentInput) {
    let waited = span(input.settings.fulfilment_sla_seconds);
    let alerted = ctx
        .execute_activity(
            Alert,
            RaiseAlert {
                shipment_id: ctx.state(|s| s.shipment_id()),
                kind: AlertKind::FulfilmentLate,
                note: format!("not packed within {waited}"),
            },
            options::on(ctx, QUEUE, Duration::from_secs(30)),
        )
        .await;
    if let Err(e) = alerted {
        problem(ctx, format!("staff were not alerted: {e}"));
    }
    let Some(vendor) = vendor(ctx).await else {
        return;
    };
    let vars = BTreeMap::from([
        ("order_no".to_string(), input.order_no.clone()),
        ("vendor".to_string(), vendor.name.clone()),
        (
            "lines".to_string(),
            lines_of(input, &ctx.state(|s| s.cancelled.clone())),
        ),
        ("waited".to_string(), waited),
    ]);
    mail(
        ctx,
        "fulfilment_reminder",
        vendor.email,
        "fulfilment_reminder",
        vars,
        MAIL_BUDGET,
    )
    .await;
}

/// No carrier scan within the scan timeout after the label: the shipment is an exception.
async fn no_scan(ctx: &WorkflowContext<ShipmentWorkflow>, input: &ShipmentInput) {
    let reason = format!(
        "no carrier scan within {} of the label",
        span(input.settings.scan_timeout_seconds)
    );
    let marked = ctx
        .execute_activity(
            MarkNoScan,
            NoScan {
                shipment_id: ctx.state(|s| s.shipment_id()),
                note: reason.clone(),
            },
            options::on(ctx, QUEUE, Duration::from_secs(30)),
        )
        .await;
    match marked {
        Ok(ShipmentStatus::Exception) => {
            moved(
                ctx,
                ShipmentStatus::Exception,
                "system:scan_timeout",
                Some(&reason),
                MAIL_BUDGET,
            )
            .await
        }
        Ok(_) => {}
        Err(e) => problem(ctx, format!("the missing scan was not recorded: {e}")),
    }
}

/// Takes the shipment for one vendor action: validators of Updates delivered together all run
/// before any handler, so the handler checks again, before its first await, and marks the
/// shipment busy.
fn claim(
    ctx: &WorkflowContext<ShipmentWorkflow>,
    needed: ShipmentStatus,
    action: &str,
) -> Result<(), UpdateError> {
    ctx.state(|s| s.refuse(needed, action))?;
    ctx.state_mut(|s| s.busy = true);
    Ok(())
}

fn step_error(e: impl std::fmt::Display) -> UpdateError {
    e.to_string().into()
}

/// What was refunded: nothing if the refund failed.
fn refunded_amount(refunded: &Result<Money, String>, currency: souk_domain::Currency) -> Money {
    refunded.clone().unwrap_or(Money::zero(currency))
}

/// What the cancelled units are worth (the orders domain's rule) and its refund, once: the
/// payment refund's key is the order's sequence for this cancellation. Answers the amount
/// refunded, or why nothing was (for support: the units stay cancelled, the refund is owed).
async fn refund_lines(
    ctx: &WorkflowContext<ShipmentWorkflow>,
    input: &ShipmentInput,
    key: &str,
    r: &CancelLinesRequest,
) -> Result<Money, String> {
    let worth = ctx
        .execute_local_activity(
            GiveBack,
            RefundLines {
                order_no: input.order_no.clone(),
                vendor_id: input.vendor_id,
                refund_key: key.to_string(),
                lines: r.lines.clone(),
                reason: r.reason.clone(),
                actor: r.actor.clone(),
                kind: RefundKind::Cancel,
                fees: Vec::new(),
                postage: None,
            },
            options::local(None, false),
        )
        .await;
    let worth = worth.map_err(|e| {
        format!(
            "what the cancelled units of {} are worth is unknown, so they were not refunded: {e}",
            input.order_no
        )
    })?;
    if worth.amount.amount == 0 {
        return Ok(worth.amount);
    }
    {
        let refunded = ctx
            .execute_activity(
                Refund,
                RefundPayment {
                    checkout_id: worth.checkout_id.clone(),
                    attempt: worth.attempt,
                    amount: worth.amount,
                    reason: format!("the seller could not send it: {}", r.reason),
                    sequence: worth.sequence,
                },
                options::on(ctx, payments::QUEUE, Duration::from_secs(60)),
            )
            .await;
        refunded.map_err(|e| {
            format!(
                "the refund of {} for cancellation {key} failed; it is owed: {e}",
                worth.amount
            )
        })?;
    }
    let recorded = ctx
        .execute_local_activity(
            Payment,
            RecordPayment {
                checkout_id: worth.checkout_id,
                attempt: worth.attempt,
                payment_status: if worth.order_refunded {
                    PaymentStatus::Refunded
                } else {
                    PaymentStatus::PartiallyRefunded
                },
                note: format!("{} refunded: the seller could not send it", worth.amount),
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
    Ok(worth.amount)
}

/// Puts the cancelled units back on hand in the warehouse each was reserved in, once per
/// cancellation and line.
async fn restock(
    ctx: &WorkflowContext<ShipmentWorkflow>,
    input: &ShipmentInput,
    key: &str,
    r: &CancelLinesRequest,
) {
    for l in &r.lines {
        let Some(line) = input.lines.iter().find(|x| x.sku == l.sku) else {
            continue;
        };
        let done = ctx
            .execute_local_activity(
                Restock,
                RestockUnits {
                    key: format!("{key}/{}", l.sku),
                    sku: l.sku.clone(),
                    warehouse: line.warehouse.clone(),
                    quantity: i64::from(l.quantity),
                    reason: r.reason.clone(),
                },
                options::local(None, false),
            )
            .await;
        if let Err(e) = done {
            problem(ctx, format!("{} was not restocked: {e}", l.sku));
        }
    }
}

/// Tells the customer which units will not come and what was refunded, once per cancellation.
async fn tell_of_cancellation(
    ctx: &WorkflowContext<ShipmentWorkflow>,
    input: &ShipmentInput,
    r: &CancelLinesRequest,
    refunded: Money,
) {
    let request = &r.request;
    let vendor = vendor(ctx).await;
    let lines = r
        .lines
        .iter()
        .map(|l| {
            let title = input
                .lines
                .iter()
                .find(|x| x.sku == l.sku)
                .map_or_else(|| l.sku.to_string(), |x| x.title.clone());
            format!("  {} × {title}", l.quantity)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let vars = BTreeMap::from([
        ("order_no".to_string(), input.order_no.clone()),
        (
            "vendor".to_string(),
            vendor.map_or_else(|| "The seller".to_string(), |v| v.name),
        ),
        ("lines".to_string(), lines),
        ("reason".to_string(), r.reason.clone()),
        ("amount".to_string(), refunded.to_string()),
    ]);
    mail(
        ctx,
        &format!("cancel/{request}"),
        input.customer_email.clone(),
        "lines_cancelled",
        vars,
        UPDATE_MAIL_BUDGET,
    )
    .await;
}

#[workflow_methods]
impl ShipmentWorkflow {
    #[run(name = "Shipment")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: ShipmentInput,
    ) -> WorkflowResult<ShipmentStatus> {
        let follows = ctx.patched(ORDERS_FOLLOW_PATCH);
        let timers = ctx.patched(TIMERS_PATCH);
        let local_open = ctx.patched(LOCAL_OPEN_PATCH);
        ctx.state_mut(|s| {
            s.follows = follows;
            s.timers = timers;
            s.input = Some(input.clone());
        });
        // The checkout gives these at the start; another starter may not have.
        if ctx.search_attributes().get(&SHIPMENT_STATE).is_none() {
            ctx.upsert_search_attributes(initial_search_attributes(&input));
        }
        let open = OpenShipment {
            workflow_id: ctx.workflow_id().to_string(),
            input: input.clone(),
        };
        let opened = if local_open {
            ctx.execute_local_activity(Open, open, options::local(None, false))
                .await?
        } else {
            ctx.execute_activity(Open, open, options::on(ctx, QUEUE, Duration::from_secs(30)))
                .await?
        };
        ctx.state_mut(|s| {
            s.view = Some(ShipmentView {
                shipment_id: Some(opened.shipment_id),
                order_no: input.order_no.clone(),
                vendor_id: input.vendor_id,
                status: opened.status,
                rates: Vec::new(),
                label: None,
                tracking_events: 0,
                problems: Vec::new(),
            });
        });
        // A shipment opened again (the workflow reset) may have moved on.
        if !local_open || opened.status != ShipmentStatus::AwaitingFulfillment {
            set_status(ctx, opened.status);
        }

        // Packed within the fulfilment time, or the vendor is reminded.
        if timers {
            let mut late = ctx.timer(Duration::from_secs(input.settings.fulfilment_sla_seconds));
            let mut packed =
                ctx.wait_condition(|s| s.status_of() != Some(ShipmentStatus::AwaitingFulfillment));
            let fired = select! {
                _ = late => true,
                _ = packed => false,
            };
            if fired {
                remind(ctx, &input).await;
            } else {
                late.cancel();
            }
        }
        // Packed and labelled by the vendor's updates; then the carrier's reports.
        ctx.wait_condition(|s| {
            s.status_of().is_some_and(|st| {
                st != ShipmentStatus::AwaitingFulfillment && st != ShipmentStatus::Packed
            })
        })
        .await?;
        // The carrier scans the labelled parcel within the scan timeout, or it is an exception.
        let labelled = ctx.state(|s| s.status_of().is_some_and(|st| !st.is_final()));
        if timers && labelled {
            let mut quiet = ctx.timer(Duration::from_secs(input.settings.scan_timeout_seconds));
            // A carrier's scan: an event with a status (not EasyPost's "label created").
            let mut scanned = ctx.wait_condition(|s| {
                s.pending.iter().any(|e| e.status.is_some())
                    || s.status_of().is_some_and(ShipmentStatus::is_final)
            });
            let fired = select! {
                _ = quiet => true,
                _ = scanned => false,
            };
            if fired {
                no_scan(ctx, &input).await;
            } else {
                quiet.cancel();
            }
        }
        loop {
            let status = ctx.state(|s| s.status_of().unwrap_or(ShipmentStatus::Cancelled));
            if status.is_final() {
                break;
            }
            ctx.wait_condition(|s| !s.pending.is_empty()).await?;
            let Some(event) = ctx.state_mut(|s| s.pending.pop_front()) else {
                continue;
            };
            let outcome = ctx
                .execute_activity(
                    ApplyTracking,
                    event.clone(),
                    options::on(ctx, QUEUE, Duration::from_secs(30)),
                )
                .await;
            // An event the domain refuses for good (none recorded by that id) changes nothing;
            // the shipment waits for the next one.
            if let Ok(TrackingOutcome::Applied(to)) = outcome {
                moved(
                    ctx,
                    to,
                    &format!("carrier:{}", event.carrier),
                    None,
                    MAIL_BUDGET,
                )
                .await;
            }
        }
        // Let a running update answer before the run closes.
        let c = ctx.clone();
        ctx.wait_condition(move |_| c.all_handlers_finished())
            .await?;
        Ok(ctx.state(|s| s.status_of().unwrap_or(ShipmentStatus::Cancelled)))
    }

    #[query(name = "status")]
    pub fn status(&self, _ctx: &WorkflowContextView, _input: ()) -> Option<ShipmentView> {
        self.view.clone()
    }

    #[update_validator(pack)]
    fn validate_pack(
        &self,
        _ctx: &WorkflowContextView,
        r: &PackRequest,
    ) -> Result<(), UpdateError> {
        let p = r.parcel;
        Parcel::new(p.weight_grams, p.length_mm, p.width_mm, p.height_mm)?;
        self.refuse(ShipmentStatus::AwaitingFulfillment, "be packed")
    }

    /// The vendor packed the shipment: `awaiting_fulfillment → packed`.
    #[update(name = "pack")]
    pub async fn pack(
        ctx: &mut WorkflowContext<Self>,
        r: PackRequest,
    ) -> Result<ShipmentView, UpdateError> {
        claim(ctx, ShipmentStatus::AwaitingFulfillment, "be packed")?;
        let done = ctx
            .execute_activity(
                PackShipment,
                Pack {
                    shipment_id: ctx.state(|s| s.shipment_id()),
                    parcel: r.parcel,
                    actor: r.actor.clone(),
                },
                options::on(ctx, QUEUE, Duration::from_secs(30)),
            )
            .await;
        ctx.state_mut(|s| s.busy = false);
        done.map_err(step_error)?;
        moved(ctx, ShipmentStatus::Packed, &r.actor, None, MAIL_BUDGET).await;
        Ok(ctx
            .state(|s| s.view.clone())
            .unwrap_or_else(|| unreachable!("validated")))
    }

    #[update_validator(rates)]
    fn validate_rates(&self, _ctx: &WorkflowContextView, _r: &()) -> Result<(), UpdateError> {
        self.refuse(ShipmentStatus::Packed, "be quoted")
    }

    /// Asks the carrier for the rates of the packed parcel.
    #[update(name = "rates")]
    pub async fn rates(
        ctx: &mut WorkflowContext<Self>,
        _r: (),
    ) -> Result<Vec<RateChoice>, UpdateError> {
        claim(ctx, ShipmentStatus::Packed, "be quoted")?;
        let rates = ctx
            .execute_activity(
                Quote,
                QuoteShipment {
                    shipment_id: ctx.state(|s| s.shipment_id()),
                },
                options::on(ctx, QUEUE, Duration::from_secs(60)),
            )
            .await;
        ctx.state_mut(|s| s.busy = false);
        let rates = rates.map_err(step_error)?;
        ctx.state_mut(|s| {
            if let Some(v) = s.view.as_mut() {
                v.rates = rates.clone();
            }
        });
        Ok(rates)
    }

    #[update_validator(buy_label)]
    fn validate_buy_label(
        &self,
        _ctx: &WorkflowContextView,
        r: &LabelRequest,
    ) -> Result<(), UpdateError> {
        self.refuse(ShipmentStatus::Packed, "get a label")?;
        let quoted = self.view.as_ref().map(|v| &v.rates);
        match (&r.rate_id, quoted) {
            (Some(id), Some(rates)) if !rates.iter().any(|q| &q.id == id) => {
                Err(format!("`{id}` is not one of the rates quoted; ask for rates first").into())
            }
            (Some(_), None) => Err("ask for rates first".into()),
            _ => Ok(()),
        }
    }

    /// Buys the label (at most once at the carrier): `packed → label_purchased`.
    #[update(name = "buy_label")]
    pub async fn buy_label(
        ctx: &mut WorkflowContext<Self>,
        r: LabelRequest,
    ) -> Result<LabelBought, UpdateError> {
        claim(ctx, ShipmentStatus::Packed, "get a label")?;
        let bought = ctx
            .execute_activity(
                Buy,
                BuyLabel {
                    shipment_id: ctx.state(|s| s.shipment_id()),
                    rate_id: r.rate_id,
                    actor: r.actor.clone(),
                },
                options::on(ctx, QUEUE, Duration::from_secs(60)),
            )
            .await;
        ctx.state_mut(|s| s.busy = false);
        let label = bought.map_err(step_error)?;
        ctx.upsert_search_attributes([TRACKING_CODE.value_set(label.tracking_code.clone())]);
        ctx.state_mut(|s| {
            if let Some(v) = s.view.as_mut() {
                v.label = Some(label.clone());
            }
        });
        moved(
            ctx,
            ShipmentStatus::LabelPurchased,
            &r.actor,
            None,
            MAIL_BUDGET,
        )
        .await;
        Ok(label)
    }

    #[update_validator(ship)]
    fn validate_ship(
        &self,
        _ctx: &WorkflowContextView,
        _r: &ShipRequest,
    ) -> Result<(), UpdateError> {
        self.refuse(ShipmentStatus::LabelPurchased, "be handed over")
    }

    /// The vendor handed the parcel to the carrier: `label_purchased → in_transit`.
    #[update(name = "ship")]
    pub async fn ship(
        ctx: &mut WorkflowContext<Self>,
        r: ShipRequest,
    ) -> Result<ShipmentView, UpdateError> {
        claim(ctx, ShipmentStatus::LabelPurchased, "be handed over")?;
        let done = ctx
            .execute_activity(
                HandOverShipment,
                HandOver {
                    shipment_id: ctx.state(|s| s.shipment_id()),
                    actor: r.actor.clone(),
                },
                options::on(ctx, QUEUE, Duration::from_secs(30)),
            )
            .await;
        ctx.state_mut(|s| s.busy = false);
        let status = done.map_err(step_error)?;
        // A carrier scan applied meanwhile has moved it further: it stays there.
        if ctx.state(|s| s.status_of()) == Some(ShipmentStatus::LabelPurchased)
            && status != ShipmentStatus::LabelPurchased
        {
            moved(ctx, status, &r.actor, None, UPDATE_MAIL_BUDGET).await;
        }
        Ok(ctx
            .state(|s| s.view.clone())
            .unwrap_or_else(|| unreachable!("validated")))
    }

    #[update_validator(cancel_lines)]
    fn validate_cancel_lines(
        &self,
        _ctx: &WorkflowContextView,
        r: &CancelLinesRequest,
    ) -> Result<(), UpdateError> {
        if self.cancellations.contains_key(&r.request) {
            return Ok(());
        }
        self.refuse_unless(&CANCELLABLE, "have lines cancelled")?;
        self.refuse_units(r)
    }

    /// The vendor cannot send these units: the shipment records them (with every unit gone it
    /// is `cancelled`, and so is the vendor's sub-order), the orders domain says what they are
    /// worth by the one refund rule, the payment is refunded that much once, the units go back
    /// on hand if `restock`, and the customer is told. The steps after the shipment's own
    /// record retry until done; one refused for good is noted in the status for support.
    #[update(name = "cancel_lines")]
    pub async fn cancel_lines(
        ctx: &mut WorkflowContext<Self>,
        r: CancelLinesRequest,
    ) -> Result<LinesCancelled, UpdateError> {
        // The same request again (a client's retry): what it did the first time.
        if let Some(done) = ctx.state(|s| s.cancellations.get(&r.request).cloned()) {
            return Ok(done);
        }
        ctx.state(|s| {
            s.refuse_unless(&CANCELLABLE, "have lines cancelled")?;
            s.refuse_units(&r)
        })?;
        let input = ctx.state_mut(|s| {
            s.busy = true;
            s.input.clone()
        });
        let Some(input) = input else {
            unreachable!("validated");
        };
        let key = format!("{}/cancel/{}", ctx.workflow_id(), r.request);
        let status = ctx
            .execute_activity(
                CancelShipmentLines,
                CancelUnits {
                    shipment_id: ctx.state(|s| s.shipment_id()),
                    key: key.clone(),
                    lines: r.lines.clone(),
                    reason: r.reason.clone(),
                    actor: r.actor.clone(),
                },
                options::on(ctx, QUEUE, Duration::from_secs(30)),
            )
            .await;
        let status = match status {
            Ok(status) => status,
            Err(e) => {
                ctx.state_mut(|s| s.busy = false);
                return Err(step_error(e));
            }
        };
        ctx.state_mut(|s| {
            for l in &r.lines {
                *s.cancelled.entry(l.sku.clone()).or_default() += l.quantity;
            }
        });
        let refunded = refund_lines(ctx, &input, &key, &r).await;
        if r.restock {
            restock(ctx, &input, &key, &r).await;
        }
        if status == ShipmentStatus::Cancelled {
            set_status(ctx, status);
            follow(ctx, status, &r.actor, true).await;
        }
        // Other actions may run again; the mail goes out before the answer.
        ctx.state_mut(|s| s.busy = false);
        match &refunded {
            Ok(amount) => tell_of_cancellation(ctx, &input, &r, *amount).await,
            Err(e) => problem(ctx, e.clone()),
        }
        let done = LinesCancelled {
            refunded: refunded_amount(&refunded, input.currency),
            shipment: ctx
                .state(|s| s.view.clone())
                .unwrap_or_else(|| unreachable!("validated")),
        };
        ctx.state_mut(|s| {
            s.cancellations.insert(r.request.clone(), done.clone());
        });
        Ok(done)
    }

    /// A carrier's tracking event, from the webhook receiver (recorded there first). A
    /// redelivered event is taken once.
    #[signal(name = "tracking")]
    pub fn tracking(&mut self, _ctx: &mut SyncWorkflowContext<Self>, event: TrackingEvent) {
        if self
            .seen
            .insert((event.carrier.clone(), event.event_id.clone()))
        {
            if let Some(v) = self.view.as_mut() {
                v.tracking_events += 1;
            }
            self.pending.push_back(event);
        }
    }
}
