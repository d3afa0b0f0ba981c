//! Shipping: the activities the shipment workflow runs on `souk.shipping`, and the shipment
//! workflow's contract (its id, type name, input, status, search attributes, and the
//! definitions of its updates, signal and query), so callers never link workflow code.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use souk_domain::shipment::{Parcel, ShipmentStatus};
use souk_domain::{Currency, Money, Sku};
use temporalio_common::search_attributes::SearchAttributeKey;
use temporalio_common::{
    HasWorkflowDefinition, QueryDefinition, SignalDefinition, UpdateDefinition, WorkflowDefinition,
};
use uuid::Uuid;

use crate::activity;
use crate::orders::Address;

/// The `shipping` domain's task queue.
pub const QUEUE: crate::queues::Queue = crate::queues::Queue::new("shipping");

/// The workflow type name in Temporal. Never change it.
pub const WORKFLOW_TYPE: &str = "Shipment";

/// Search attributes of every shipment (registered by `./dev`, the test harness and the
/// workers), besides `OrderNo`.
pub const VENDOR_ID: SearchAttributeKey<String> = SearchAttributeKey::keyword("VendorId");
pub const SHIPMENT_STATE: SearchAttributeKey<String> = SearchAttributeKey::keyword("ShipmentState");
pub const TRACKING_CODE: SearchAttributeKey<String> = SearchAttributeKey::keyword("TrackingCode");
pub const SEARCH_ATTRIBUTES: [&str; 3] = ["VendorId", "ShipmentState", "TrackingCode"];

/// The shipment of `vendor`'s part of order `order_no`.
pub fn workflow_id(order_no: &str, vendor: Uuid) -> String {
    souk_domain::shipment::shipment_workflow_id(order_no, vendor)
}

/// The `n`-th shipment (from 1) of `vendor`'s part of order `order_no`, when the part ships
/// from several warehouses: the first is [`workflow_id`], the next ones end in `-<n>`.
pub fn part_workflow_id(order_no: &str, vendor: Uuid, n: usize) -> String {
    match n {
        0 | 1 => workflow_id(order_no, vendor),
        n => format!("{}-{n}", workflow_id(order_no, vendor)),
    }
}

/// A line of the sub-order to ship, and the warehouse its stock was reserved in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentLine {
    pub sku: Sku,
    pub title: String,
    pub quantity: i32,
    pub warehouse: String,
}

/// Durations from configuration, recorded in the history so a running shipment keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentSettings {
    /// The vendor packs within this long, or is reminded (and staff alerted).
    pub fulfilment_sla_seconds: u64,
    /// After the label, the carrier scans within this long, or the shipment is an exception.
    pub scan_timeout_seconds: u64,
}

impl Default for ShipmentSettings {
    /// Two days to pack, a week for the first scan.
    fn default() -> Self {
        Self {
            fulfilment_sla_seconds: 48 * 3_600,
            scan_timeout_seconds: 7 * 24 * 3_600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentInput {
    pub order_no: String,
    pub vendor_id: Uuid,
    pub customer_email: String,
    pub ship_to: Address,
    pub currency: Currency,
    pub lines: Vec<ShipmentLine>,
    pub settings: ShipmentSettings,
    /// When the vendor's part ships from several warehouses, one shipment each: the workflow
    /// ids of all of them (this one included). Empty: this shipment is the whole part.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<String>,
}

/// `shipping.open`: opens the shipment of a sub-order, once per workflow id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenShipment {
    pub workflow_id: String,
    pub input: ShipmentInput,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opened {
    pub shipment_id: Uuid,
    pub status: ShipmentStatus,
}

/// `shipping.pack`: the vendor packed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pack {
    pub shipment_id: Uuid,
    pub parcel: Parcel,
    /// Who: `user:<id>`.
    pub actor: String,
}

/// One way to send it, as quoted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateChoice {
    pub id: String,
    pub carrier: String,
    pub service: String,
    pub price: Money,
    pub delivery_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteShipment {
    pub shipment_id: Uuid,
}

/// `shipping.buy_label`: buys the label at `rate_id` (none: the cheapest quoted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuyLabel {
    pub shipment_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_id: Option<String>,
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelBought {
    pub carrier: String,
    pub service: String,
    pub price: Money,
    pub tracking_code: String,
    pub label_url: String,
    pub tracking_url: Option<String>,
}

/// A carrier's tracking event, as the webhook receiver signals it to the shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingEvent {
    pub carrier: String,
    pub event_id: String,
    pub status: Option<ShipmentStatus>,
    pub at: DateTime<Utc>,
}

/// What applying a tracking event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingOutcome {
    Applied(ShipmentStatus),
    Unchanged,
    Stale,
}

/// Why staff are alerted about a shipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Not packed within the fulfilment time.
    FulfilmentLate,
    /// No carrier scan within the scan timeout after the label.
    NoScan,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::FulfilmentLate => "fulfilment_late",
            AlertKind::NoScan => "no_scan",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [AlertKind::FulfilmentLate, AlertKind::NoScan]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// `shipping.raise_alert`: records an alert, once per shipment and kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaiseAlert {
    pub shipment_id: Uuid,
    pub kind: AlertKind,
    pub note: String,
}

/// `shipping.hand_over`: the vendor handed the labelled parcel to the carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandOver {
    pub shipment_id: Uuid,
    pub actor: String,
}

/// The `ship` update: the vendor (or staff) handed the parcel to the carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipRequest {
    pub actor: String,
}

/// `shipping.cancel_lines`: units of the shipment the vendor cannot send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelUnits {
    pub shipment_id: Uuid,
    /// Idempotency key (`<workflow id>/cancel/<n>`).
    pub key: String,
    pub lines: Vec<crate::orders::LineUnits>,
    pub reason: String,
    pub actor: String,
}

/// The `cancel_lines` update: the vendor cannot send these units (lost, damaged); they are
/// refunded to the customer, and put back on hand if `restock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelLinesRequest {
    /// The caller's idempotency key: the same request again answers what it did, and the
    /// cancellation's refund is keyed by it.
    pub request: String,
    pub lines: Vec<crate::orders::LineUnits>,
    pub reason: String,
    #[serde(default)]
    pub restock: bool,
    pub actor: String,
}

/// What a line cancellation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinesCancelled {
    pub refunded: Money,
    pub shipment: ShipmentView,
}

/// `shipping.no_scan`: the carrier never scanned the labelled parcel in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoScan {
    pub shipment_id: Uuid,
    pub note: String,
}

/// The `pack` update: the vendor (or staff) packed the shipment into this parcel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackRequest {
    pub parcel: Parcel,
    /// Who: `user:<id>`.
    pub actor: String,
}

/// The `buy_label` update: buy the label at this rate (none: the cheapest quoted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_id: Option<String>,
    pub actor: String,
}

/// What the `status` query answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentView {
    pub shipment_id: Option<Uuid>,
    pub order_no: String,
    pub vendor_id: Uuid,
    pub status: ShipmentStatus,
    /// The rates of the latest quote.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rates: Vec<RateChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<LabelBought>,
    /// Tracking events received (each carrier event once).
    pub tracking_events: u32,
    /// What went wrong on the way that support should know of (the shipment went on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// Update, signal and query names of the shipment workflow.
pub mod messages {
    pub const PACK: &str = "pack";
    pub const RATES: &str = "rates";
    pub const BUY_LABEL: &str = "buy_label";
    pub const SHIP: &str = "ship";
    pub const CANCEL_LINES: &str = "cancel_lines";
    pub const TRACKING: &str = "tracking";
    pub const STATUS: &str = "status";
}

activity!(
    /// Opens the shipment (idempotent by workflow id).
    Open, "shipping.open", OpenShipment => Opened
);

/// `shipping.open_return`: opens the parcel of a return (once per workflow id), back to the
/// warehouse the units left from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewReturnParcel {
    /// `return-<rma_no>`: the return whose parcel it is, told of its tracking events.
    pub workflow_id: String,
    pub order_no: String,
    pub vendor_id: Uuid,
    pub lines: Vec<crate::orders::LineUnits>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnParcel {
    pub shipment_id: Uuid,
    /// Where it goes back to.
    pub warehouse: String,
    pub status: ShipmentStatus,
}

/// `shipping.arrived`: the receiver's word that the parcel arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArriveParcel {
    pub shipment_id: Uuid,
    pub actor: String,
}

/// `shipping.void_label`: the label is not needed (the return was called off or expired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoidLabel {
    pub shipment_id: Uuid,
    pub reason: String,
    pub actor: String,
}

activity!(
    /// Opens the parcel of a return from the customer's address back to the warehouse the
    /// delivered units left from, packed as they came (idempotent by workflow id). Fails with
    /// `InvalidInput` when no delivered shipment holds the lines.
    OpenReturnParcel, "shipping.open_return", NewReturnParcel => ReturnParcel
);
activity!(
    /// The parcel arrived, by the receiver's word: `→ delivered` (left as it is once final).
    /// Answers its status.
    Arrive, "shipping.arrived", ArriveParcel => ShipmentStatus
);
activity!(
    /// Voids the unused label at the carrier and cancels the parcel (`packed | label_purchased
    /// → cancelled`; once cancelled, again changes nothing). A parcel only quoted is voided at
    /// the carrier too, in case a purchase whose answer was lost bought a label. Fails with
    /// `CarrierRejected` when the carrier will not void a label, and with `InvalidInput` once
    /// the carrier has scanned the parcel.
    Void, "shipping.void_label", VoidLabel => ShipmentStatus
);

/// The shipping steps workflows may run as local activities, as in [`crate::orders_steps`]:
/// those without a carrier call.
#[macro_export]
macro_rules! shipping_steps {
    ($($then:ident)::+ ! ($($args:tt)*)) => {
        $($then)::+! { ($($args)*)
            Open => open(OpenShipment) -> Opened,
            OpenReturnParcel => open_return(NewReturnParcel) -> ReturnParcel,
            Arrive => arrived(ArriveParcel) -> ShipmentStatus,
        }
    };
}
activity!(
    /// Records the parcel: `awaiting_fulfillment → packed`. Fails with `InvalidInput` if the
    /// shipment cannot be packed (cancelled, packed in another parcel).
    PackShipment, "shipping.pack", Pack => ()
);
activity!(
    /// Asks the carrier for rates and keeps them (a packed shipment only).
    Quote, "shipping.quote", QuoteShipment => Vec<RateChoice>
);
activity!(
    /// Buys the label at the carrier, at most once per shipment: `packed → label_purchased`.
    Buy, "shipping.buy_label", BuyLabel => LabelBought
);
activity!(
    /// Applies a recorded tracking event to the shipment, by the machine's rule for carrier
    /// reports.
    ApplyTracking, "shipping.apply_tracking", TrackingEvent => TrackingOutcome
);

activity!(
    /// Records an alert for staff (once per shipment and kind; raising it again changes
    /// nothing).
    Alert, "shipping.raise_alert", RaiseAlert => ()
);
activity!(
    /// The parcel is with the carrier: `label_purchased → in_transit`, by the vendor's word
    /// (the carrier's scans follow). Answers the status (as it was if it moved on already).
    HandOverShipment, "shipping.hand_over", HandOver => ShipmentStatus
);
activity!(
    /// Records units the vendor cannot send (once per key); with every unit cancelled the
    /// shipment is `cancelled`. Answers its status. Fails with `InvalidInput` once a label is
    /// bought, or for more units than are left.
    CancelShipmentLines, "shipping.cancel_lines", CancelUnits => ShipmentStatus
);
activity!(
    /// A labelled shipment no carrier scanned in time (labelled, or handed over by the vendor
    /// but never scanned): it becomes an `exception`, with a `no_scan` alert. Answers the
    /// shipment's status (unchanged if a scan came first).
    MarkNoScan, "shipping.no_scan", NoScan => ShipmentStatus
);

/// The shipment workflow, as callers name it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shipment;

impl WorkflowDefinition for Shipment {
    type Input = ShipmentInput;
    type Output = ShipmentStatus;

    fn name(&self) -> &str {
        WORKFLOW_TYPE
    }
}

impl HasWorkflowDefinition for Shipment {
    type Run = Shipment;
}

crate::message!(
    Shipment;
    /// Update: the vendor packed the shipment (refused unless it awaits fulfilment).
    PackUpdate: UpdateDefinition, messages::PACK, PackRequest => ShipmentView
);
crate::message!(
    Shipment;
    /// Update: the carrier's rates for the packed parcel.
    RatesUpdate: UpdateDefinition, messages::RATES, () => Vec<RateChoice>
);
crate::message!(
    Shipment;
    /// Update: buy the label (refused unless packed; at most one is bought).
    BuyLabelUpdate: UpdateDefinition, messages::BUY_LABEL, LabelRequest => LabelBought
);
crate::message!(
    Shipment;
    /// Update: the parcel was handed to the carrier (refused unless labelled).
    ShipUpdate: UpdateDefinition, messages::SHIP, ShipRequest => ShipmentView
);
crate::message!(
    Shipment;
    /// Update: units the vendor cannot send, refunded (refused once a label is bought).
    CancelLinesUpdate: UpdateDefinition, messages::CANCEL_LINES, CancelLinesRequest => LinesCancelled
);
crate::message!(
    Shipment;
    /// Signal: a carrier's tracking event, recorded by the shipping domain first.
    Tracking: SignalDefinition, messages::TRACKING, TrackingEvent
);
crate::message!(
    Shipment;
    /// Query: the shipment now (none until it is opened).
    Status: QueryDefinition, messages::STATUS, () => Option<ShipmentView>
);

#[cfg(feature = "client")]
pub use client::ShipmentClient;

#[cfg(feature = "client")]
mod client {
    use temporalio_client::errors::{
        WorkflowInteractionError, WorkflowQueryError, WorkflowStartError, WorkflowUpdateError,
    };
    use temporalio_client::{
        Client, WorkflowExecuteUpdateOptions, WorkflowQueryOptions, WorkflowSignalOptions,
        WorkflowStartOptions,
    };

    use super::{
        BuyLabelUpdate, CancelLinesRequest, CancelLinesUpdate, LabelBought, LabelRequest,
        LinesCancelled, PackRequest, PackUpdate, RateChoice, RatesUpdate, ShipRequest, ShipUpdate,
        Shipment, ShipmentInput, ShipmentView, Status, Tracking, TrackingEvent, messages,
    };
    use crate::checkout::SignalError;

    /// Starts shipments and talks to running ones, through a Temporal client (with Souk's
    /// payload codec).
    #[derive(Clone)]
    pub struct ShipmentClient {
        client: Client,
    }

    impl ShipmentClient {
        pub fn new(client: Client) -> Self {
            Self { client }
        }

        /// Starts the shipment `options` name (its id: [`super::workflow_id`]).
        pub async fn start(
            &self,
            input: ShipmentInput,
            options: WorkflowStartOptions,
        ) -> Result<(), WorkflowStartError> {
            self.client
                .start_workflow(Shipment, input, options)
                .await
                .map(|_| ())
        }

        pub async fn status(&self, id: &str) -> Result<Option<ShipmentView>, WorkflowQueryError> {
            self.client
                .get_workflow_handle::<Shipment>(id)
                .query(Status, (), WorkflowQueryOptions::default())
                .await
        }

        pub async fn pack(
            &self,
            id: &str,
            request: PackRequest,
        ) -> Result<ShipmentView, WorkflowUpdateError> {
            self.client
                .get_workflow_handle::<Shipment>(id)
                .execute_update(PackUpdate, request, WorkflowExecuteUpdateOptions::default())
                .await
        }

        pub async fn rates(&self, id: &str) -> Result<Vec<RateChoice>, WorkflowUpdateError> {
            self.client
                .get_workflow_handle::<Shipment>(id)
                .execute_update(RatesUpdate, (), WorkflowExecuteUpdateOptions::default())
                .await
        }

        pub async fn buy_label(
            &self,
            id: &str,
            request: LabelRequest,
        ) -> Result<LabelBought, WorkflowUpdateError> {
            self.client
                .get_workflow_handle::<Shipment>(id)
                .execute_update(
                    BuyLabelUpdate,
                    request,
                    WorkflowExecuteUpdateOptions::default(),
                )
                .await
        }

        pub async fn ship(
            &self,
            id: &str,
            request: ShipRequest,
        ) -> Result<ShipmentView, WorkflowUpdateError> {
            self.client
                .get_workflow_handle::<Shipment>(id)
                .execute_update(ShipUpdate, request, WorkflowExecuteUpdateOptions::default())
                .await
        }

        /// The update's id is the request's key, so Temporal answers a retried one from the
        /// first.
        pub async fn cancel_lines(
            &self,
            id: &str,
            request: CancelLinesRequest,
        ) -> Result<LinesCancelled, WorkflowUpdateError> {
            let options = WorkflowExecuteUpdateOptions::builder()
                .update_id(format!("cancel-lines-{}", request.request))
                .build();
            self.client
                .get_workflow_handle::<Shipment>(id)
                .execute_update(CancelLinesUpdate, request, options)
                .await
        }

        pub async fn tracking(
            &self,
            id: &str,
            event: TrackingEvent,
        ) -> Result<(), WorkflowInteractionError> {
            self.client
                .get_workflow_handle::<Shipment>(id)
                .signal(Tracking, event, WorkflowSignalOptions::default())
                .await
        }

        /// Sends the shipment `id` the signal another domain names (`tracking`) with its
        /// JSON payload; `false` if it is not a shipment signal.
        pub async fn signal_named(
            &self,
            id: &str,
            signal: &str,
            payload: serde_json::Value,
        ) -> Result<bool, SignalError> {
            if signal != messages::TRACKING {
                return Ok(false);
            }
            let event = serde_json::from_value::<TrackingEvent>(payload).map_err(|source| {
                SignalError::Payload {
                    signal: signal.to_string(),
                    source,
                }
            })?;
            self.tracking(id, event).await?;
            Ok(true)
        }
    }
}
