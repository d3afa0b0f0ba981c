//! Goodwill refunds: staff refund part of an order without a return (units the customer
//! keeps, or an amount spread over lines), through one workflow per refund
//! (`goodwill-<order_no>-<key>`), so the refund is made once at the provider whatever
//! retries. Its contract (id, type name, input, view, the update sent with the start and the
//! query) lives here, so callers never link workflow code.

use serde::{Deserialize, Serialize};
use souk_domain::{Money, Sku};
use temporalio_common::{
    HasWorkflowDefinition, QueryDefinition, UpdateDefinition, WorkflowDefinition,
};

use crate::orders::{LineRefund, LineUnits};

/// The workflow type name in Temporal. Never change it.
pub const WORKFLOW_TYPE: &str = "GoodwillRefund";

/// The goodwill refund of order `order_no` asked with idempotency key `key` (the same key on
/// the same order finds the same refund): `goodwill-<order_no>-<16 hex digits>`.
pub fn workflow_id(order_no: &str, key: &str) -> String {
    id_of(order_no, &refund_id(order_no, key))
}

/// The workflow id of the refund [`refund_id`] `refund` of order `order_no`.
pub fn id_of(order_no: &str, refund: &str) -> String {
    format!("goodwill-{order_no}-{refund}")
}

/// The public name of the refund: 16 hex digits of the key's digest.
pub fn refund_id(order_no: &str, key: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("goodwill:{order_no}:{key}").as_bytes(),
    );
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `s` can be a [`refund_id`].
pub fn is_refund_id(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoodwillInput {
    pub order_no: String,
    /// Units refunded (kept by the customer), when no `amount` is given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<LineUnits>,
    /// An amount spread over the lines in `skus` (every line when none are named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skus: Vec<Sku>,
    /// Why (staff's words; in the order's timeline and the audit trail, not in the mail).
    pub reason: String,
    /// Who: `user:<id>`.
    pub actor: String,
    /// A digest of the request as asked: the same key with another request is refused.
    pub request: String,
}

/// Where a goodwill refund is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoodwillStatus {
    /// Being checked against the order and recorded.
    Recording,
    /// Recorded; the provider is asked.
    Refunding,
    Refunded,
    /// Beyond what is left to refund, or otherwise not possible: nothing was refunded.
    Refused,
    /// The provider refused it and the lines could not be given back what it took: support
    /// is told in `problems`.
    Owed,
    /// The provider refused it: nothing was refunded, and what it would have taken is left to
    /// refund (with a new key).
    Failed,
}

impl GoodwillStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GoodwillStatus::Recording => "recording",
            GoodwillStatus::Refunding => "refunding",
            GoodwillStatus::Refunded => "refunded",
            GoodwillStatus::Refused => "refused",
            GoodwillStatus::Owed => "owed",
            GoodwillStatus::Failed => "failed",
        }
    }
}

/// A goodwill refund as its workflow sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoodwillView {
    pub order_no: String,
    pub status: GoodwillStatus,
    /// What each line refunds (units 0: money without units).
    #[serde(default)]
    pub lines: Vec<LineRefund>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// Why it was refused (`exceeds_refundable`, `not_in_order`, `currency_mismatch`,
    /// `not_captured`, `order_not_found`, `invalid_refund`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refusal>,
    pub reason: String,
    pub actor: String,
    /// [`GoodwillInput::request`].
    pub request: String,
    #[serde(default)]
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

pub mod messages {
    pub const RECORDED: &str = "recorded";
    pub const STATUS: &str = "status";
}

/// The goodwill refund workflow, as callers name it.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoodwillRefund;

impl WorkflowDefinition for GoodwillRefund {
    type Input = GoodwillInput;
    type Output = GoodwillView;

    fn name(&self) -> &str {
        WORKFLOW_TYPE
    }
}

impl HasWorkflowDefinition for GoodwillRefund {
    type Run = GoodwillRefund;
}

/// Update (sent with the start): waits until the refund is recorded or refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordedUpdate;

impl UpdateDefinition for RecordedUpdate {
    type Workflow = GoodwillRefund;
    type Input = ();
    type Output = GoodwillView;

    fn name(&self) -> &str {
        messages::RECORDED
    }
}

/// Query: the refund now (none before its first step).
#[derive(Debug, Clone, Copy, Default)]
pub struct Status;

impl QueryDefinition for Status {
    type Workflow = GoodwillRefund;
    type Input = ();
    type Output = Option<GoodwillView>;

    fn name(&self) -> &str {
        messages::STATUS
    }
}

#[cfg(feature = "client")]
pub use client::GoodwillClient;

#[cfg(feature = "client")]
mod client {
    use temporalio_client::errors::{
        WorkflowGetResultError, WorkflowQueryError, WorkflowUpdateError,
        WorkflowUpdateWithStartError,
    };
    use temporalio_client::{
        Client, WorkflowExecuteUpdateOptions, WorkflowGetResultOptions, WorkflowQueryOptions,
        WorkflowUpdateHandle, WorkflowUpdateWithStartOptions,
    };

    use super::{GoodwillInput, GoodwillRefund, GoodwillView, RecordedUpdate, Status};

    /// Starts goodwill refunds and reads them, through a Temporal client (with Souk's payload
    /// codec).
    #[derive(Clone)]
    pub struct GoodwillClient {
        client: Client,
    }

    impl GoodwillClient {
        pub fn new(client: Client) -> Self {
            Self { client }
        }

        /// Starts a refund and waits until it is recorded or refused, in one call
        /// (update-with-start).
        pub async fn start(
            &self,
            input: GoodwillInput,
            options: WorkflowUpdateWithStartOptions,
        ) -> Result<WorkflowUpdateHandle<Client, GoodwillView>, WorkflowUpdateWithStartError>
        {
            self.client
                .start_update_with_start_workflow(
                    GoodwillRefund,
                    input,
                    RecordedUpdate,
                    (),
                    options,
                )
                .await
        }

        /// Waits until the refund `id` is recorded or refused (a retry with the same key).
        pub async fn recorded(&self, id: &str) -> Result<GoodwillView, WorkflowUpdateError> {
            self.client
                .get_workflow_handle::<GoodwillRefund>(id)
                .execute_update(RecordedUpdate, (), WorkflowExecuteUpdateOptions::default())
                .await
        }

        /// The refund `id` now (a worker must answer while it runs).
        pub async fn status(&self, id: &str) -> Result<Option<GoodwillView>, WorkflowQueryError> {
            self.client
                .get_workflow_handle::<GoodwillRefund>(id)
                .query(Status, (), WorkflowQueryOptions::default())
                .await
        }

        /// Waits for the refund `id` to end: what it came to.
        pub async fn result(&self, id: &str) -> Result<GoodwillView, WorkflowGetResultError> {
            self.client
                .get_workflow_handle::<GoodwillRefund>(id)
                .get_result(WorkflowGetResultOptions::default())
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_one_refund_of_one_order() {
        let id = refund_id("SK-100042", "k-1");
        assert!(is_refund_id(&id), "{id}");
        assert_eq!(id, refund_id("SK-100042", "k-1"));
        assert_ne!(id, refund_id("SK-100043", "k-1"));
        assert_ne!(id, refund_id("SK-100042", "k-2"));
        assert_eq!(
            workflow_id("SK-100042", "k-1"),
            format!("goodwill-SK-100042-{id}")
        );
        for s in [
            "",
            "0123456789abcde",
            "0123456789ABCDEF",
            "0123456789abcdefa",
        ] {
            assert!(!is_refund_id(s), "{s:?}");
        }
    }
}
