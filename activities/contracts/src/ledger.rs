//! Ledger activities. They run on `souk.ledger`: the ledger learns of captures and refunds from
//! the workflows that make them, never by reading another domain's tables.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use souk_domain::{Currency, Money, Sku};
use uuid::Uuid;

use crate::activity;

/// The `ledger` domain's task queue.
pub const QUEUE: crate::queues::Queue = crate::queues::Queue::new("ledger");

/// A captured line, as the checkout priced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedLine {
    pub sku: Sku,
    pub vendor_id: Uuid,
    /// The product's category slugs and their ancestors' (which commission rule applies).
    #[serde(default)]
    pub categories: Vec<String>,
    pub quantity: i64,
    pub unit_price: i64,
    /// `unit_price × quantity`.
    pub line_total: i64,
    /// Its share of the order's discount.
    pub discount: i64,
    /// Its share of the order's tax.
    pub tax: i64,
}

/// `ledger.record_capture`: a checkout captured `amount`; idempotent by `checkout_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordCapture {
    pub checkout_id: String,
    pub order_no: String,
    pub currency: Currency,
    /// What was captured: what the lines paid together, with their vendors' shipping.
    pub amount: Money,
    /// When it was captured: the commission rules in effect then apply (none: when the ledger
    /// records it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<DateTime<Utc>>,
    pub lines: Vec<CapturedLine>,
    /// Shipping per vendor, spread over its lines as the order's refunds spread it.
    pub shipping_by_vendor: Vec<(Uuid, i64)>,
}

/// The commission a line gave the marketplace, and the rule it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCommission {
    pub sku: Sku,
    pub vendor_id: Uuid,
    pub paid: Money,
    pub commission: Money,
    /// None: no rule applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<Uuid>,
}

/// What a capture posted (the same again for a retry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureRecorded {
    pub entry_key: String,
    pub lines: Vec<LineCommission>,
}

/// A line's refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundedLine {
    pub sku: Sku,
    pub amount: Money,
}

/// `ledger.record_refund`: money paid back for lines of an order; idempotent by `reference`
/// (one per refund: `<rma>:<sequence>`, `goodwill-<id>`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRefund {
    pub reference: String,
    pub order_no: String,
    pub lines: Vec<RefundedLine>,
}

/// What a refund posted: per line, the commission given back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRecorded {
    pub lines: Vec<LineRefundRecorded>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineRefundRecorded {
    pub sku: Sku,
    pub entry_key: String,
    pub refunded: Money,
    pub commission_back: Money,
}

activity!(
    /// Computes each line's commission by the rules in effect at capture, keeps it with its
    /// rule, and posts the capture (`capture:<checkout>`), in one transaction. Posting it again
    /// answers what was posted. Fails with `InvalidInput` (non-retryable) when the lines do not
    /// add up to what was captured or a rule cannot apply to them.
    Capture, "ledger.record_capture", RecordCapture => CaptureRecorded
);
activity!(
    /// Posts the refund of each line (`refund:<reference>:<sku>`), giving back its commission
    /// pro rata, out of the vendor's reserve (or payable, once its part became payable), in
    /// one transaction. Fails with `InvalidInput` (non-retryable) for a line the ledger has not
    /// captured or a refund beyond what the line has left.
    Refund, "ledger.record_refund", RecordRefund => RefundRecorded
);
