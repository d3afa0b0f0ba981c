//! `Shipment`: one vendor's part of an order, from the warehouse to the customer's door.
//!
//! Opens the shipment in the shipping domain → waits for the vendor to pack it (the `pack`
//! update: parcel weight and dimensions) → the vendor asks for rates (`rates`) and buys the
//! label (`buy_label`: a chosen rate or the cheapest) → the carrier's tracking events arrive
//! as `tracking` signals (from the webhook receiver, each carrier event once) and move the
//! shipment by the machine's rule for carrier reports, until it is delivered or returned.
//!
//! Vendors and staff act through Updates whose validators refuse an action the shipment is
//! not ready for, with a reason, before anything reaches the history. Every side effect is an
//! activity on `souk.shipping`, idempotent by the shipment (a label is bought at most once).
//!
//! Support finds shipments by `OrderNo`, `VendorId`, `ShipmentState` and `TrackingCode`.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use souk_contracts::checkout::ORDER_NO;
use souk_contracts::shipping::{
    ApplyTracking, Buy, BuyLabel, LabelBought, LabelRequest, Open, OpenShipment, Pack, PackRequest,
    PackShipment, QUEUE, Quote, QuoteShipment, RateChoice, SHIPMENT_STATE, ShipmentInput,
    ShipmentView, TRACKING_CODE, TrackingEvent, TrackingOutcome, VENDOR_ID,
};
use souk_domain::shipment::{Parcel, ShipmentStatus};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult};
use uuid::Uuid;

use crate::options;

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
}

impl ShipmentWorkflow {
    fn status_of(&self) -> Option<ShipmentStatus> {
        self.view.as_ref().map(|v| v.status)
    }

    /// Why a vendor action needing `needed` cannot run now, if it cannot.
    fn refuse(&self, needed: ShipmentStatus, action: &str) -> Result<(), UpdateError> {
        match self.status_of() {
            None => Err("the shipment is still being opened; try again in a moment".into()),
            Some(_) if self.busy => Err("another action on this shipment is running".into()),
            Some(s) if s != needed => {
                Err(format!("the shipment is {s}: it cannot {action}").into())
            }
            Some(_) => Ok(()),
        }
    }

    fn shipment_id(&self) -> Uuid {
        self.view
            .as_ref()
            .and_then(|v| v.shipment_id)
            .unwrap_or_default()
    }
}

fn set_status(ctx: &WorkflowContext<ShipmentWorkflow>, status: ShipmentStatus) {
    ctx.state_mut(|s| {
        if let Some(v) = s.view.as_mut() {
            v.status = status;
        }
    });
    ctx.upsert_search_attributes([SHIPMENT_STATE.value_set(status.as_str().into())]);
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

#[workflow_methods]
impl ShipmentWorkflow {
    #[run(name = "Shipment")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: ShipmentInput,
    ) -> WorkflowResult<ShipmentStatus> {
        ctx.upsert_search_attributes([
            ORDER_NO.value_set(input.order_no.clone()),
            VENDOR_ID.value_set(input.vendor_id.to_string()),
            SHIPMENT_STATE.value_set(ShipmentStatus::AwaitingFulfillment.as_str().into()),
        ]);
        let opened = ctx
            .execute_activity(
                Open,
                OpenShipment {
                    workflow_id: ctx.workflow_id().to_string(),
                    input: input.clone(),
                },
                options::on(ctx, QUEUE, Duration::from_secs(30)),
            )
            .await?;
        ctx.state_mut(|s| {
            s.view = Some(ShipmentView {
                shipment_id: Some(opened.shipment_id),
                order_no: input.order_no.clone(),
                vendor_id: input.vendor_id,
                status: opened.status,
                rates: Vec::new(),
                label: None,
                tracking_events: 0,
            });
        });
        set_status(ctx, opened.status);

        // Packed and labelled by the vendor's updates; then the carrier's reports.
        ctx.wait_condition(|s| {
            s.status_of().is_some_and(|st| {
                st != ShipmentStatus::AwaitingFulfillment && st != ShipmentStatus::Packed
            })
        })
        .await?;
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
                    event,
                    options::on(ctx, QUEUE, Duration::from_secs(30)),
                )
                .await;
            // An event the domain refuses for good (none recorded by that id) changes nothing;
            // the shipment waits for the next one.
            if let Ok(TrackingOutcome::Applied(to)) = outcome {
                set_status(ctx, to);
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
                    actor: r.actor,
                },
                options::on(ctx, QUEUE, Duration::from_secs(30)),
            )
            .await;
        ctx.state_mut(|s| s.busy = false);
        done.map_err(step_error)?;
        set_status(ctx, ShipmentStatus::Packed);
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
                    actor: r.actor,
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
        set_status(ctx, ShipmentStatus::LabelPurchased);
        Ok(label)
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
