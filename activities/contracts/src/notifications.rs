//! Notification activities. They run on `souk.notifications`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use souk_domain::Money;
use uuid::Uuid;

use crate::activity;
use crate::orders::Address;

/// The `notifications` domain's task queue.
pub const QUEUE: crate::queues::Queue = crate::queues::Queue::new("notifications");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationLine {
    pub title: String,
    pub quantity: i64,
    pub line_total: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendOrderConfirmation {
    /// The message is sent once per key, however often the activity runs.
    pub idempotency_key: String,
    pub to: String,
    pub order_no: String,
    pub lines: Vec<ConfirmationLine>,
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub shipping: Money,
    pub total: Money,
    pub shipping_address: Address,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub message_id: Uuid,
    /// queued, sending, sent or failed.
    pub status: String,
    pub provider_message_id: Option<String>,
    /// False when the message had been sent before (a retried activity).
    pub newly_sent: bool,
}

activity!(
    /// Renders the `order_confirmation` template and sends it by e-mail, once per key.
    /// Fails with `InvalidRecipient` (non-retryable) if the mail server refuses the address.
    SendConfirmation, "notifications.send_order_confirmation", SendOrderConfirmation => MessageRef
);

/// A message from one of the domain's templates (`shipment_shipped`, `fulfilment_reminder`,
/// ...), its `{{name}}`s filled from `vars`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessage {
    /// The message is sent once per key, however often the activity runs.
    pub idempotency_key: String,
    pub to: String,
    pub template: String,
    pub vars: BTreeMap<String, String>,
}

activity!(
    /// Renders a template and sends it by e-mail, once per key. Fails with `InvalidRecipient`
    /// (non-retryable) if the mail server refuses the address, `InvalidInput` for a template
    /// that does not exist.
    SendMail, "notifications.send", SendMessage => MessageRef
);
