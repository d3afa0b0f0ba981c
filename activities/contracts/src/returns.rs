//! Returns: the steps the return workflow runs in the returns domain (all local: no external
//! side effect), and the return workflow's contract (its id, type name, input, view, search
//! attributes, and the definitions of its updates and query), so callers never link workflow
//! code.

use serde::{Deserialize, Serialize};
use souk_domain::returns::{Counted, PostagePayer, ReturnReason, ReturnStatus, VendorReturnPolicy};
use souk_domain::{Money, Sku};
use temporalio_common::search_attributes::SearchAttributeKey;
use temporalio_common::{
    HasWorkflowDefinition, QueryDefinition, SignalDefinition, UpdateDefinition, WorkflowDefinition,
};
use uuid::Uuid;

use crate::activity;
use crate::orders::ReturnableOrder;

/// The `returns` domain's task queue (its steps run locally; nothing polls it yet).
pub const QUEUE: crate::queues::Queue = crate::queues::Queue::new("returns");

/// The workflow type name in Temporal. Never change it.
pub const WORKFLOW_TYPE: &str = "Return";

/// Search attributes of every return (registered by `./dev`, the test harness and the
/// workers), besides `OrderNo` and `VendorId`.
pub const RMA_NO: SearchAttributeKey<String> = SearchAttributeKey::keyword("RmaNo");
pub const RETURN_STATE: SearchAttributeKey<String> = SearchAttributeKey::keyword("ReturnState");
pub const SEARCH_ATTRIBUTES: [&str; 2] = ["RmaNo", "ReturnState"];

/// `ReturnState` of a request the returns domain refused (it never became a return).
pub const REFUSED: &str = "refused";

/// The return `rma_no`.
pub fn workflow_id(rma_no: &str) -> String {
    format!("return-{rma_no}")
}

/// What support finds a new return by: its RMA number, its order, and its state (the API
/// gives them at the start; the workflow sets them if a starter did not).
pub fn initial_search_attributes(
    input: &ReturnInput,
) -> [temporalio_common::search_attributes::SearchAttributeUpdate; 3] {
    [
        RMA_NO.value_set(input.rma_no.clone()),
        crate::checkout::ORDER_NO.value_set(input.order_no.clone()),
        RETURN_STATE.value_set(ReturnStatus::Requested.as_str().into()),
    ]
}

/// Durations and rules from configuration, recorded in the history so a running return keeps
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnSettings {
    /// A line may be asked back this long after its delivery.
    pub window_seconds: u64,
    /// The vendor decides within this long, or is reminded...
    pub decision_sla_seconds: u64,
    /// ...and this long after the reminder, staff are asked to decide.
    pub escalate_after_seconds: u64,
    /// An approved return is sent back within this long, or it expires.
    pub send_by_seconds: u64,
    /// A request whose every line has one of these reasons, worth at most
    /// `auto_approve_max_minor` (minor units of the order's currency), is approved by itself.
    pub auto_approve_reasons: Vec<ReturnReason>,
    pub auto_approve_max_minor: i64,
    /// Kept of what units sent back because the customer changed their mind are worth, in
    /// basis points (0: none). (A return started before this field keeps none.)
    #[serde(default)]
    pub restocking_fee_bps: u32,
    /// Products in these categories (by slug, or in one of their subcategories) are not
    /// taken back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_returnable_categories: Vec<String>,
    /// A parcel on its way when the send-by time ran out is counted by the warehouse within
    /// this long after it, or staff are asked to look into it (0: never; a return started
    /// before this field waits without a deadline).
    #[serde(default)]
    pub receive_within_seconds: u64,
    /// The seller pays the postage back even when the customer changed their mind (a return
    /// started before this field: the customer then pays it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub seller_pays_postage: bool,
    /// Products in these categories are not taken back when the customer changed their mind
    /// (a seller's own; what is the seller's fault always goes back under the marketplace's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_mind_non_returnable_categories: Vec<String>,
}

impl ReturnSettings {
    /// The settings a return of one seller's lines runs with: the marketplace's, changed by
    /// the seller's own policy. Its window only ever lengthens the marketplace's; its fee,
    /// auto-approval and postage replace the marketplace's; its categories are not taken back
    /// when the customer changed their mind (a line the seller is at fault for goes back
    /// under the marketplace's categories only). Decision and send-by times stay the
    /// marketplace's.
    ///
    /// Running returns merge again on every replay: a change to these rules needs a workflow
    /// patch (`ReturnWorkflow`'s `vendor_return_policy` is the first).
    pub fn for_vendor(&self, policy: &VendorReturnPolicy) -> ReturnSettings {
        let mut s = self.clone();
        if let Some(days) = policy.window_days {
            s.window_seconds = s.window_seconds.max(u64::from(days) * 86_400);
        }
        if let Some(bps) = policy.restocking_fee_bps {
            s.restocking_fee_bps = bps;
        }
        for c in &policy.non_returnable_categories {
            if !s.non_returnable_categories.contains(c)
                && !s.changed_mind_non_returnable_categories.contains(c)
            {
                s.changed_mind_non_returnable_categories.push(c.clone());
            }
        }
        if let Some(r) = &policy.auto_approve_reasons {
            s.auto_approve_reasons = r.clone();
        }
        if let Some(m) = policy.auto_approve_max_minor {
            s.auto_approve_max_minor = m;
        }
        s.seller_pays_postage |= policy.free_return_postage;
        s
    }
}

impl Default for ReturnSettings {
    /// 30 days to ask, two days to decide (a day more before staff), 14 days to send it back
    /// (a week more for a parcel on its way to be counted); damaged and wrong items up to
    /// 50.00 are approved by themselves.
    fn default() -> Self {
        Self {
            window_seconds: 30 * 86_400,
            decision_sla_seconds: 2 * 86_400,
            escalate_after_seconds: 86_400,
            send_by_seconds: 14 * 86_400,
            auto_approve_reasons: vec![ReturnReason::Damaged, ReturnReason::WrongItem],
            auto_approve_max_minor: 5_000,
            restocking_fee_bps: 0,
            non_returnable_categories: Vec::new(),
            receive_within_seconds: 7 * 86_400,
            seller_pays_postage: false,
            changed_mind_non_returnable_categories: Vec::new(),
        }
    }
}

/// A line the customer asks to send back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLineRequest {
    pub sku: Sku,
    pub quantity: i32,
    pub reason: ReturnReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnInput {
    pub rma_no: String,
    pub order_no: String,
    /// The customer asking: `user:<id>`.
    pub actor: String,
    /// The customer's user id: only the customer who placed the order may return from it.
    pub customer_id: String,
    pub lines: Vec<ReturnLineRequest>,
    pub settings: ReturnSettings,
}

/// `returns.open`: checks the request against the order and records it, once per workflow id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenReturn {
    pub workflow_id: String,
    pub input: ReturnInput,
    pub order: ReturnableOrder,
    /// Asked-for lines in a category the policy does not take back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<ExcludedLine>,
}

/// The code of a return refused because its policy could not be checked (the catalog failed
/// for good): the customer may ask again.
pub const POLICY_UNAVAILABLE: &str = "return_policy_unavailable";

/// A line whose product is in a category the policy does not take back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExcludedLine {
    pub sku: Sku,
    pub category: String,
}

/// A line of a return, as the return is seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLine {
    pub sku: Sku,
    pub title: String,
    pub quantity: i32,
    pub reason: ReturnReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub unit_price: Money,
    /// What the warehouse found, once inspected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted: Option<Counted>,
    /// What was refunded for the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded: Option<Money>,
    /// What was kept of what its units are worth: the restocking fee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<Money>,
    /// The share of the return postage the customer pays kept from its refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postage: Option<Money>,
}

/// What the `status` query answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnView {
    pub return_id: Uuid,
    pub rma_no: String,
    pub order_no: String,
    pub vendor_id: Uuid,
    pub customer_id: String,
    pub status: ReturnStatus,
    pub lines: Vec<ReturnLine>,
    /// Who approved or declined it, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_note: Option<String>,
    /// Staff were asked to decide (the vendor did not in time).
    #[serde(default)]
    pub escalated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded: Option<Money>,
    /// The label the customer sends the parcel back with, once bought.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<ReturnLabel>,
    /// What went wrong on the way that support should know of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// The label a return's parcel goes back on, bought through the shipping domain's carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLabel {
    /// The parcel in the shipping domain.
    pub shipment_id: Uuid,
    pub carrier: String,
    pub service: String,
    pub tracking_code: String,
    pub label_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
    /// What the label cost.
    pub postage: Money,
    /// Who pays it: the customer's is kept from the refund.
    pub paid_by: PostagePayer,
}

/// `returns.label`: the label is bought: `approved → label_issued`, with the label kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelReturn {
    pub return_id: Uuid,
    pub label: ReturnLabel,
    pub actor: String,
}

/// `returns.move`: the return moves to `to` by the machine (a return already there stays).
/// Answers its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveReturn {
    pub return_id: Uuid,
    pub to: ReturnStatus,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `returns.note`: an entry in the return's history that moves nothing (a reminder, an
/// escalation to staff).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteReturn {
    pub return_id: Uuid,
    pub event: String,
    pub actor: String,
    pub note: String,
}

/// What the warehouse counted of one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCount {
    pub sku: Sku,
    #[serde(flatten)]
    pub counted: Counted,
}

/// `returns.inspect`: the parcel came back and was inspected: `→ inspected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectReturn {
    pub return_id: Uuid,
    pub warehouse: String,
    pub lines: Vec<LineCount>,
    pub actor: String,
}

/// `returns.record_refund`: what each line was refunded: `inspected → refunded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordReturnRefund {
    pub return_id: Uuid,
    pub lines: Vec<crate::orders::LineRefund>,
}

/// The `decide` update: the vendor (for its returns) or staff approve or decline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub approve: bool,
    /// Required to decline; shown to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who: `user:<id>`.
    pub actor: String,
}

/// The `cancel` update: the customer calls it off (before the parcel is with the carrier).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelReturn {
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The `receive` update: the warehouse received the parcel and counted each line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The warehouse it came back to (sellable units go back on hand there).
    pub warehouse: String,
    pub lines: Vec<LineCount>,
    pub actor: String,
}

/// Update and query names of the return workflow.
pub mod messages {
    pub const SUBMITTED: &str = "submitted";
    pub const DECIDE: &str = "decide";
    pub const CANCEL: &str = "cancel";
    pub const RECEIVE: &str = "receive";
    /// The carrier's scans of the return parcel (the shipping domain's webhook receiver
    /// signals them, as it does a shipment's).
    pub const TRACKING: &str = crate::shipping::messages::TRACKING;
    pub const STATUS: &str = "status";
}

activity!(
    /// Checks the request against the order (delivered, in the window, at most the units
    /// left, counting other returns on their way) under the order's lock, and records it
    /// (once per workflow id: again, what was recorded).
    Open, "returns.open", OpenReturn => Submitted
);
activity!(
    /// Moves the return by the machine, with a history entry (once: a return already there
    /// stays). Fails with `InvalidInput` for a move the machine refuses.
    Move, "returns.move", MoveReturn => ReturnStatus
);
activity!(
    /// A history entry (once per return and event).
    Note, "returns.note", NoteReturn => ()
);
activity!(
    /// Records what the warehouse counted (once; again: unchanged): `→ inspected`.
    Inspect, "returns.inspect", InspectReturn => ()
);
activity!(
    /// Records the refund of each line: `inspected → refunded`.
    RecordRefund, "returns.record_refund", RecordReturnRefund => ()
);
activity!(
    /// Keeps the label bought for the parcel: `approved → label_issued` (once; the same label
    /// again changes nothing).
    Label, "returns.label", LabelReturn => ReturnStatus
);

/// The returns steps workflows run as local activities, as in [`crate::orders_steps`].
#[macro_export]
macro_rules! returns_steps {
    ($($then:ident)::+ ! ($($args:tt)*)) => {
        $($then)::+! { ($($args)*)
            Open => open(OpenReturn) -> Submitted,
            Move => move_to(MoveReturn) -> ReturnStatus,
            Note => note(NoteReturn) -> (),
            Inspect => inspect(InspectReturn) -> (),
            RecordRefund => record_refund(RecordReturnRefund) -> (),
            Label => label(LabelReturn) -> ReturnStatus,
        }
    };
}

/// What the `submitted` update (and the `returns.open` step) answers: the return, or why the
/// request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Submitted {
    Opened { view: ReturnView },
    Refused { code: String, message: String },
}

/// The return workflow, as callers name it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Return;

impl WorkflowDefinition for Return {
    type Input = ReturnInput;
    /// The status it ended in (`refused`: never opened).
    type Output = String;

    fn name(&self) -> &str {
        WORKFLOW_TYPE
    }
}

impl HasWorkflowDefinition for Return {
    type Run = Return;
}

crate::message!(
    Return;
    /// Update (sent with the start): waits until the request is opened or refused.
    SubmittedUpdate: UpdateDefinition, messages::SUBMITTED, () => Submitted
);
crate::message!(
    Return;
    /// Update: approve or decline (refused unless the return is requested).
    DecideUpdate: UpdateDefinition, messages::DECIDE, Decision => ReturnView
);
crate::message!(
    Return;
    /// Update: the customer calls it off (refused once the parcel is with the carrier).
    CancelUpdate: UpdateDefinition, messages::CANCEL, CancelReturn => ReturnView
);
crate::message!(
    Return;
    /// Update: the warehouse received and counted the parcel (refused unless approved).
    ReceiveUpdate: UpdateDefinition, messages::RECEIVE, Receipt => ReturnView
);
crate::message!(
    Return;
    /// Signal: a carrier's scan of the return parcel, recorded by the shipping domain first.
    Tracking: SignalDefinition, messages::TRACKING, crate::shipping::TrackingEvent
);
crate::message!(
    Return;
    /// Query: the return now (none until it is opened).
    Status: QueryDefinition, messages::STATUS, () => Option<ReturnView>
);

#[cfg(feature = "client")]
pub use client::ReturnClient;

#[cfg(feature = "client")]
mod client {
    use temporalio_client::errors::{
        WorkflowQueryError, WorkflowUpdateError, WorkflowUpdateWithStartError,
    };
    use temporalio_client::{
        Client, WorkflowExecuteUpdateOptions, WorkflowQueryOptions, WorkflowUpdateHandle,
        WorkflowUpdateWithStartOptions,
    };

    use super::{
        CancelReturn, CancelUpdate, DecideUpdate, Decision, Receipt, ReceiveUpdate, Return,
        ReturnInput, ReturnView, Status, Submitted, SubmittedUpdate,
    };

    /// Starts returns and talks to running ones, through a Temporal client (with Souk's
    /// payload codec).
    #[derive(Clone)]
    pub struct ReturnClient {
        client: Client,
    }

    impl ReturnClient {
        pub fn new(client: Client) -> Self {
            Self { client }
        }

        /// Starts a return and waits for it to be opened or refused, in one call
        /// (update-with-start). `options` carry the workflow id, policies and search
        /// attributes.
        pub async fn start(
            &self,
            input: ReturnInput,
            options: WorkflowUpdateWithStartOptions,
        ) -> Result<WorkflowUpdateHandle<Client, Submitted>, WorkflowUpdateWithStartError> {
            self.client
                .start_update_with_start_workflow(Return, input, SubmittedUpdate, (), options)
                .await
        }

        /// Waits until the return `id` is opened or refused (a request retried with the same
        /// key, while or after the first is answered).
        pub async fn submitted(&self, id: &str) -> Result<Submitted, WorkflowUpdateError> {
            self.client
                .get_workflow_handle::<Return>(id)
                .execute_update(SubmittedUpdate, (), WorkflowExecuteUpdateOptions::default())
                .await
        }

        /// The return `id` as its workflow sees it (a worker must answer).
        pub async fn status(&self, id: &str) -> Result<Option<ReturnView>, WorkflowQueryError> {
            self.client
                .get_workflow_handle::<Return>(id)
                .query(Status, (), WorkflowQueryOptions::default())
                .await
        }

        pub async fn decide(
            &self,
            id: &str,
            decision: Decision,
        ) -> Result<ReturnView, WorkflowUpdateError> {
            self.client
                .get_workflow_handle::<Return>(id)
                .execute_update(
                    DecideUpdate,
                    decision,
                    WorkflowExecuteUpdateOptions::default(),
                )
                .await
        }

        pub async fn cancel(
            &self,
            id: &str,
            request: CancelReturn,
        ) -> Result<ReturnView, WorkflowUpdateError> {
            self.client
                .get_workflow_handle::<Return>(id)
                .execute_update(
                    CancelUpdate,
                    request,
                    WorkflowExecuteUpdateOptions::default(),
                )
                .await
        }

        pub async fn receive(
            &self,
            id: &str,
            receipt: Receipt,
        ) -> Result<ReturnView, WorkflowUpdateError> {
            self.client
                .get_workflow_handle::<Return>(id)
                .execute_update(
                    ReceiveUpdate,
                    receipt,
                    WorkflowExecuteUpdateOptions::default(),
                )
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sellers_policy_changes_only_what_it_names() {
        let platform = ReturnSettings {
            non_returnable_categories: vec!["gift-cards".into()],
            restocking_fee_bps: 500,
            ..ReturnSettings::default()
        };
        assert_eq!(
            platform.for_vendor(&VendorReturnPolicy::default()),
            platform
        );
        let own = VendorReturnPolicy {
            window_days: Some(60),
            restocking_fee_bps: Some(0),
            non_returnable_categories: vec!["food".into(), "gift-cards".into()],
            auto_approve_reasons: Some(vec![ReturnReason::ChangedMind]),
            auto_approve_max_minor: Some(10_000),
            free_return_postage: true,
        };
        let s = platform.for_vendor(&own);
        assert_eq!(s.window_seconds, 60 * 86_400);
        assert_eq!(s.restocking_fee_bps, 0);
        // The marketplace's categories stay for every reason; the seller's are for changes
        // of mind only.
        assert_eq!(s.non_returnable_categories, ["gift-cards"]);
        assert_eq!(s.changed_mind_non_returnable_categories, ["food"]);
        assert_eq!(s.auto_approve_reasons, [ReturnReason::ChangedMind]);
        assert_eq!(s.auto_approve_max_minor, 10_000);
        assert!(s.seller_pays_postage);
        // The marketplace's times are its own.
        assert_eq!(s.decision_sla_seconds, platform.decision_sla_seconds);
        assert_eq!(s.send_by_seconds, platform.send_by_seconds);
        assert_eq!(s.receive_within_seconds, platform.receive_within_seconds);
        // A shorter window than the marketplace's is the marketplace's.
        let short = VendorReturnPolicy {
            window_days: Some(7),
            ..VendorReturnPolicy::default()
        };
        assert_eq!(
            platform.for_vendor(&short).window_seconds,
            platform.window_seconds
        );
        // Settings recorded before the field read as the customer paying.
        let old: ReturnSettings =
            serde_json::from_value(serde_json::to_value(&platform).unwrap()).unwrap();
        assert!(!old.seller_pays_postage);
    }
}
