//! The checkout saga's contract: its workflow id, type name, input, status, steps and
//! failures, its search attributes and memo keys, and the definitions of its signals, update
//! and query. Callers (the API, the payments domain's webhooks, the workers) use these and
//! `CheckoutClient`; none of them links the workflow's code. The workflow (`souk-workflows`)
//! implements exactly these names, which a test there checks.

use serde::{Deserialize, Serialize};
use souk_domain::Money;
use temporalio_common::search_attributes::SearchAttributeKey;
use temporalio_common::{
    HasWorkflowDefinition, QueryDefinition, SignalDefinition, UpdateDefinition, WorkflowDefinition,
};

use crate::orders::Address;
use crate::payments::signals::{PAYMENT_CONFIRMED, PAYMENT_FAILED, PaymentUpdate};

/// The workflow type name in Temporal. Never change it.
pub const WORKFLOW_TYPE: &str = "Checkout";

/// Search attributes of every checkout (registered by `./dev` and the workers).
pub const ORDER_NO: SearchAttributeKey<String> = SearchAttributeKey::keyword("OrderNo");
pub const CUSTOMER_EMAIL: SearchAttributeKey<String> = SearchAttributeKey::keyword("CustomerEmail");
pub const CHECKOUT_STATE: SearchAttributeKey<String> = SearchAttributeKey::keyword("CheckoutState");
pub const FAILURE_CODE: SearchAttributeKey<String> = SearchAttributeKey::keyword("FailureCode");
/// Names and types, for registering them with a Temporal namespace.
pub const SEARCH_ATTRIBUTES: [&str; 4] =
    ["OrderNo", "CustomerEmail", "CheckoutState", "FailureCode"];

/// The checkout of a cart: one workflow id per cart; each attempt is a new run.
pub fn workflow_id(cart_id: &str) -> String {
    format!("checkout-{cart_id}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentChoice {
    /// Not set any more (the server chooses the provider) and ignored where histories carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub payment_method: String,
}

/// Knobs the API sets from its configuration; recorded in the history, so a running checkout
/// keeps the values it started with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutSettings {
    /// How long stock stays reserved without the checkout extending it: the lease a reservation
    /// starts with, and the margin kept beyond every wait.
    pub reservation_ttl_seconds: u64,
    #[serde(default)]
    pub capture_delay_seconds: u64,
    /// How much a unit price may have risen since it was put in the cart (basis points).
    pub price_tolerance_bp: i64,
    /// How long a payment the customer must complete (3-D Secure) may take. Checkouts that
    /// predate the setting wait as long as the reservation lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_wait_seconds: Option<u64>,
    /// What each shipment the checkout starts runs with (checkouts that predate it: the
    /// defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment: Option<crate::shipping::ShipmentSettings>,
}

impl CheckoutSettings {
    /// How long the checkout waits for the customer to complete a payment.
    pub fn payment_wait_seconds(&self) -> u64 {
        self.payment_wait_seconds
            .unwrap_or(self.reservation_ttl_seconds)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutInput {
    /// The workflow id (`checkout-<cart>`).
    pub checkout_id: String,
    /// 1 for the first try; a new run after a failed one is the next attempt.
    pub attempt: u32,
    pub cart_id: String,
    pub email: String,
    pub shipping_address: Address,
    pub payment: PaymentChoice,
    pub settings: CheckoutSettings,
    /// The request that started it, for support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The signed-in customer checking out (none for a guest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutState {
    #[default]
    Running,
    Completed,
    /// Ended by a business failure; everything done was undone.
    Compensated,
    /// Stopped by a `cancel` signal; everything done was undone.
    Cancelled,
    /// Ended by a failure that could not be fully undone: needs an operator.
    Failed,
}

impl CheckoutState {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutState::Running => "running",
            CheckoutState::Completed => "completed",
            CheckoutState::Compensated => "compensated",
            CheckoutState::Cancelled => "cancelled",
            CheckoutState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            CheckoutState::Running,
            CheckoutState::Completed,
            CheckoutState::Compensated,
            CheckoutState::Cancelled,
            CheckoutState::Failed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    #[default]
    Starting,
    Snapshot,
    Coupon,
    Reserve,
    Authorize,
    AwaitingPayment,
    CreateOrder,
    CaptureDelay,
    Capture,
    Commit,
    /// Redeem the coupon, record the payment on the order and mail the customer.
    Confirm,
    Compensating,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Stable: `card_declined`, `out_of_stock`, `coupon_invalid`, `price_changed`,
    /// `payment_timeout`, `cart_empty`, ...
    pub code: String,
    pub message: String,
}

/// What the `status` query answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutStatus {
    pub checkout_id: String,
    pub attempt: u32,
    pub step: Step,
    pub state: CheckoutState,
    /// True once the order is placed with the payment authorized, or the checkout ended.
    pub decided: bool,
    pub order_no: Option<String>,
    pub total: Option<Money>,
    pub payment_reference: Option<String>,
    pub failure: Option<Failure>,
    /// Compensations that could not be done (an operator must look).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compensation_errors: Vec<String>,
    /// The signed-in customer checking out (none for a guest): only they may read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// The workflow ids of the shipments it started, once captured: one per vendor, or one
    /// per vendor and warehouse where a vendor's units come from several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shipments: Vec<String>,
}

/// Memo keys of a checkout run (the memo is encrypted like every payload).
pub mod memo {
    /// The `Idempotency-Key` that started it.
    pub const IDEMPOTENCY_KEY: &str = "idempotency_key";
    pub const ATTEMPT: &str = "attempt";
    pub const REQUEST_ID: &str = "request_id";
    pub const CUSTOMER_ID: &str = "customer_id";
    /// A hash of the request, so a reused key with another request is refused.
    pub const REQUEST_HASH: &str = "request_hash";
}

/// The checkout workflow, as callers name it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checkout;

impl WorkflowDefinition for Checkout {
    type Input = CheckoutInput;
    type Output = CheckoutStatus;

    fn name(&self) -> &str {
        WORKFLOW_TYPE
    }
}

impl HasWorkflowDefinition for Checkout {
    type Run = Checkout;
}

/// Update: waits until the checkout is decided and answers its status.
#[derive(Debug, Clone, Copy, Default)]
pub struct WaitDecided;

impl UpdateDefinition for WaitDecided {
    type Workflow = Checkout;
    type Input = ();
    type Output = CheckoutStatus;

    fn name(&self) -> &str {
        "wait_decided"
    }
}

/// Query: the checkout's status now.
#[derive(Debug, Clone, Copy, Default)]
pub struct Status;

impl QueryDefinition for Status {
    type Workflow = Checkout;
    type Input = ();
    type Output = CheckoutStatus;

    fn name(&self) -> &str {
        "status"
    }
}

/// Signal: stop the checkout (refused once the capture is in flight), with the reason.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cancel;

impl SignalDefinition for Cancel {
    type Workflow = Checkout;
    type Input = String;

    fn name(&self) -> &str {
        "cancel"
    }
}

/// Signal: the customer completed the payment (3-D Secure).
#[derive(Debug, Clone, Copy, Default)]
pub struct PaymentConfirmed;

impl SignalDefinition for PaymentConfirmed {
    type Workflow = Checkout;
    type Input = PaymentUpdate;

    fn name(&self) -> &str {
        PAYMENT_CONFIRMED
    }
}

/// Signal: the payment the customer was completing failed.
#[derive(Debug, Clone, Copy, Default)]
pub struct PaymentFailed;

impl SignalDefinition for PaymentFailed {
    type Workflow = Checkout;
    type Input = PaymentUpdate;

    fn name(&self) -> &str {
        PAYMENT_FAILED
    }
}

#[cfg(feature = "client")]
pub use client::{CheckoutClient, SignalError};

#[cfg(feature = "client")]
mod client {
    use temporalio_client::errors::{
        WorkflowInteractionError, WorkflowQueryError, WorkflowUpdateError,
        WorkflowUpdateWithStartError,
    };
    use temporalio_client::{
        Client, WorkflowDescribeOptions, WorkflowExecuteUpdateOptions,
        WorkflowExecutionDescription, WorkflowQueryOptions, WorkflowSignalOptions,
        WorkflowUpdateHandle, WorkflowUpdateWithStartOptions,
    };

    use super::{
        Cancel, Checkout, CheckoutInput, CheckoutStatus, PaymentConfirmed, PaymentFailed,
        PaymentUpdate, Status, WaitDecided,
    };
    use crate::payments::signals::{PAYMENT_CONFIRMED, PAYMENT_FAILED};

    /// A signal named by another domain that could not be sent.
    #[derive(Debug, thiserror::Error)]
    pub enum SignalError {
        #[error("the payload of {signal} is not one: {source}")]
        Payload {
            signal: String,
            source: serde_json::Error,
        },
        #[error(transparent)]
        Send(#[from] WorkflowInteractionError),
    }

    /// Starts checkouts and talks to running ones, through a Temporal client (with Souk's
    /// payload codec).
    #[derive(Clone)]
    pub struct CheckoutClient {
        client: Client,
    }

    impl CheckoutClient {
        pub fn new(client: Client) -> Self {
            Self { client }
        }

        /// Starts a checkout run and asks for its decision in the same call (update-with-start),
        /// so the update rides on the first workflow task. `options` carry the workflow id, the
        /// id policies, memo and search attributes.
        pub async fn start(
            &self,
            input: CheckoutInput,
            options: WorkflowUpdateWithStartOptions,
        ) -> Result<WorkflowUpdateHandle<Client, CheckoutStatus>, WorkflowUpdateWithStartError>
        {
            self.client
                .start_update_with_start_workflow(Checkout, input, WaitDecided, (), options)
                .await
        }

        /// Waits until the checkout `id` is decided and answers its status.
        pub async fn wait_decided(&self, id: &str) -> Result<CheckoutStatus, WorkflowUpdateError> {
            self.client
                .get_workflow_handle::<Checkout>(id)
                .execute_update(WaitDecided, (), WorkflowExecuteUpdateOptions::default())
                .await
        }

        /// The status of the checkout `id`, from the workflow itself (a worker must answer).
        pub async fn status(&self, id: &str) -> Result<CheckoutStatus, WorkflowQueryError> {
            self.client
                .get_workflow_handle::<Checkout>(id)
                .query(Status, (), WorkflowQueryOptions::default())
                .await
        }

        /// What Temporal records of the latest run of `id` (answers while workers are down).
        pub async fn describe(
            &self,
            id: &str,
        ) -> Result<WorkflowExecutionDescription, WorkflowInteractionError> {
            self.client
                .get_workflow_handle::<Checkout>(id)
                .describe(WorkflowDescribeOptions::default())
                .await
        }

        /// Asks the checkout `id` to stop, with the reason.
        pub async fn cancel(
            &self,
            id: &str,
            reason: String,
        ) -> Result<(), WorkflowInteractionError> {
            self.client
                .get_workflow_handle::<Checkout>(id)
                .signal(Cancel, reason, WorkflowSignalOptions::default())
                .await
        }

        /// Tells the checkout `id` that the customer completed the payment.
        pub async fn payment_confirmed(
            &self,
            id: &str,
            update: PaymentUpdate,
        ) -> Result<(), WorkflowInteractionError> {
            self.client
                .get_workflow_handle::<Checkout>(id)
                .signal(PaymentConfirmed, update, WorkflowSignalOptions::default())
                .await
        }

        /// Sends the checkout `id` the signal another domain names (`payment_confirmed`,
        /// `payment_failed`) with its JSON payload; `false` if it is not a checkout signal.
        pub async fn signal_named(
            &self,
            id: &str,
            signal: &str,
            payload: serde_json::Value,
        ) -> Result<bool, SignalError> {
            let update = || {
                serde_json::from_value::<PaymentUpdate>(payload.clone()).map_err(|source| {
                    SignalError::Payload {
                        signal: signal.to_string(),
                        source,
                    }
                })
            };
            match signal {
                PAYMENT_CONFIRMED => self.payment_confirmed(id, update()?).await?,
                PAYMENT_FAILED => self.payment_failed(id, update()?).await?,
                _ => return Ok(false),
            }
            Ok(true)
        }

        /// Tells the checkout `id` that the payment the customer was completing failed.
        pub async fn payment_failed(
            &self,
            id: &str,
            update: PaymentUpdate,
        ) -> Result<(), WorkflowInteractionError> {
            self.client
                .get_workflow_handle::<Checkout>(id)
                .signal(PaymentFailed, update, WorkflowSignalOptions::default())
                .await
        }
    }
}
