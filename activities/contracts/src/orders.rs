//! Orders activities. They run on `souk.orders`.

use serde::{Deserialize, Serialize};
use souk_domain::order::{OrderStatus, PaymentStatus, SubOrderStatus};
use souk_domain::{CountryCode, Currency, Money, Quantity, Sku};
use uuid::Uuid;

use crate::activity;

/// The `orders` domain's task queue.
pub const QUEUE: crate::queues::Queue = crate::queues::Queue::new("orders");

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country: CountryCode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub sku: Sku,
    pub title: String,
    pub product_id: Uuid,
    pub vendor_id: Uuid,
    pub quantity: Quantity,
    pub unit_price: Money,
    pub line_total: Money,
    pub discount: Money,
    pub tax: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateOrder {
    /// With `attempt`, the idempotency key: one order per checkout attempt.
    pub checkout_id: String,
    pub attempt: u32,
    pub cart_id: String,
    pub customer_email: String,
    pub currency: Currency,
    pub lines: Vec<OrderLine>,
    /// Shipping per vendor; the order is split into one sub-order per vendor.
    pub shipping_by_vendor: Vec<(Uuid, Money)>,
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub shipping: Money,
    pub total: Money,
    pub coupon_code: Option<String>,
    pub shipping_address: Address,
    pub payment_provider: String,
    pub payment_reference: String,
    /// The signed-in customer's user id (none for a guest checkout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRef {
    pub order_id: Uuid,
    pub order_no: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelOrder {
    pub checkout_id: String,
    pub attempt: u32,
    /// Shown in the order's timeline.
    pub reason: String,
    /// What happened to the payment, when the cancellation undid it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_status: Option<PaymentStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordPayment {
    pub checkout_id: String,
    pub attempt: u32,
    pub payment_status: PaymentStatus,
    pub note: String,
}

/// A vendor's part of an order moved on (its shipment was packed, left, arrived).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFulfilment {
    pub order_no: String,
    pub vendor_id: Uuid,
    pub status: SubOrderStatus,
    /// Who or what moved it: `user:<id>`, `carrier:<name>`, `system:<why>`.
    pub actor: String,
    /// For the timeline: the shipment's own status, a tracking code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When the part ships in several shipments: the one reporting (its workflow id), whose
    /// status `status` is, and all of them (`parts`); the part follows them by
    /// `SubOrderStatus::of_parts`. None: the part is one shipment, and `status` is its own.
    /// (An orders service older than these fields would take one shipment's report for the
    /// whole part: the orders domain is deployed before the workflow worker.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfilment {
    pub sub_order: SubOrderStatus,
    pub order: OrderStatus,
}

/// Units of one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineUnits {
    pub sku: Sku,
    pub quantity: i32,
}

/// Why units of lines are given back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundKind {
    /// The vendor cannot ship them.
    #[default]
    Cancel,
    /// They came back in a return: the vendor's part becomes partially returned or returned.
    Return,
}

/// Units of a vendor's lines given back (the vendor cannot ship them; a return), to be
/// refunded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLines {
    pub order_no: String,
    pub vendor_id: Uuid,
    /// Idempotency key (`<workflow id>/cancel/<n>`): one refund per key.
    pub refund_key: String,
    pub lines: Vec<LineUnits>,
    pub reason: String,
    /// Who: `user:<id>`.
    pub actor: String,
    /// (A caller older than this field gives back units the vendor cannot ship.)
    #[serde(default)]
    pub kind: RefundKind,
    /// Fees kept from what lines' units are worth (a return's restocking fee): none by
    /// default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fees: Vec<LineFee>,
    /// A return's postage the customer pays, kept from the refund of these units (after their
    /// fees) by [`souk_domain::refund::postage_kept`]: none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postage: Option<Money>,
}

/// A fee of `bps` basis points of what a line's units given back are worth, kept from their
/// refund by [`souk_domain::refund::less_fee`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineFee {
    pub sku: Sku,
    pub bps: u32,
}

/// `orders.refund_goodwill`: staff refund part of an order without a return: units of lines
/// (by the one rule; they are not sent back), or an amount spread over lines by what each has
/// left to refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundGoodwill {
    pub order_no: String,
    /// Idempotency key (the goodwill workflow's id): one refund per key.
    pub refund_key: String,
    /// Units refunded, when no `amount` is given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<LineUnits>,
    /// An amount in the order's currency, spread over the lines named in `skus` (every line
    /// when none are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skus: Vec<Sku>,
    pub reason: String,
    /// Who: `user:<id>`.
    pub actor: String,
}

/// `orders.release_refund`: a goodwill refund the payment provider refused gives back to its
/// lines what it took, so it can be refunded again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRefund {
    pub order_no: String,
    /// The key the refund was recorded under.
    pub refund_key: String,
    /// Why (the provider's answer), for the order's timeline.
    pub reason: String,
    pub actor: String,
}

/// What a goodwill refund comes to, or why it cannot be made (`code`: `exceeds_refundable`,
/// `not_in_order`, `not_delivered`, `currency_mismatch`, `not_captured`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Goodwill {
    Refunding {
        refund: LinesRefunded,
        /// Where the customer is told.
        customer_email: String,
    },
    Refused {
        code: String,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineRefund {
    pub sku: Sku,
    pub quantity: i32,
    /// What is refunded.
    pub amount: Money,
    /// What was kept of what the units are worth (a restocking fee), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<Money>,
    /// The share of the return's postage kept from it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postage: Option<Money>,
}

/// What giving the units back (or an amount without units) is worth, by
/// [`souk_domain::refund`], and where to refund it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinesRefunded {
    pub checkout_id: String,
    pub attempt: u32,
    /// The payment refund's sequence for this key (from [`LINE_REFUND_SEQUENCES`] on).
    pub sequence: u32,
    pub amount: Money,
    pub lines: Vec<LineRefund>,
    /// Every unit of the order has been given back: the payment is refunded in full.
    pub order_refunded: bool,
}

/// `orders.returnable`: what a return of the order's lines is checked against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnableOf {
    pub order_no: String,
}

/// A line of an order, as a return request is checked against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnableLine {
    pub sku: Sku,
    pub title: String,
    pub vendor_id: Uuid,
    pub quantity: i32,
    /// Units refunded already (the seller could not send them; an earlier return).
    pub refunded_quantity: i32,
    pub unit_price: Money,
    /// When the vendor's part was delivered (none: not yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnableOrder {
    pub order_no: String,
    pub customer_email: String,
    /// The signed-in customer who placed it (none: a guest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    pub currency: Currency,
    pub lines: Vec<ReturnableLine>,
}

/// The payment refund sequences of line refunds start here (the checkout's own refund is 1).
pub const LINE_REFUND_SEQUENCES: u32 = 1_000;

activity!(
    /// Places the order, split by vendor. Idempotent by checkout attempt. Fails with
    /// `OrderCancelled` (non-retryable) if the attempt was cancelled first.
    Create, "orders.create", CreateOrder => OrderRef
);
activity!(
    /// Cancels the checkout attempt's order (a compensation), with a timeline entry. If the
    /// order does not exist yet, leaves a tombstone so it is never created.
    Cancel, "orders.cancel", CancelOrder => ()
);
activity!(
    /// Records a payment status change in the order and its timeline.
    Payment, "orders.record_payment", RecordPayment => ()
);

activity!(
    /// Moves the vendor's sub-order forward (a report it has reached already changes nothing,
    /// so a retry is harmless) and the order with it, by the orders machine, with timeline
    /// entries. Answers where both are. Fails with `InvalidInput` for a move the machine
    /// refuses (a cancelled sub-order that ships), `NotFound` for an unknown order or vendor.
    Fulfil, "orders.record_fulfilment", RecordFulfilment => Fulfilment
);

activity!(
    /// Records units of a vendor's lines as given back and what each is worth (the line's unit
    /// price and its shares of discount, tax and shipping, by `souk_domain::refund`), with a
    /// timeline entry; once per key (again: what was recorded). Fails with `InvalidInput`
    /// for a line not the vendor's or more units than are left.
    GiveBack, "orders.refund_lines", RefundLines => LinesRefunded
);

activity!(
    /// Records staff's refund of units or of an amount without a return, by the one rule and
    /// within what each line has left, with a timeline entry; once per key (again: what was
    /// recorded). A refund beyond the bounds is answered `Goodwill::Refused`.
    GoodwillRefund, "orders.refund_goodwill", RefundGoodwill => Goodwill
);
activity!(
    /// Gives a goodwill refund's money and units back to its lines after the provider refused
    /// it (once; again: nothing more), with a timeline entry.
    Release, "orders.release_refund", ReleaseRefund => ()
);

activity!(
    /// The order's lines as a return is checked against them: what was delivered and when,
    /// what is refunded already. Fails with `InvalidInput` for an unknown order.
    Returnable, "orders.returnable", ReturnableOf => ReturnableOrder
);

/// The orders steps workflows may run as local activities (through the domain's step service)
/// as well as on `souk.orders`: the one list of them, as `marker => method(input) -> output`.
/// It calls back the macro it is given with that list, after the macro's own arguments: the
/// domain serves the steps with `souk_kit::serve_steps!`, the workflow worker forwards them.
/// Names resolve where it is called, so the caller imports the markers and types.
#[macro_export]
macro_rules! orders_steps {
    ($($then:ident)::+ ! ($($args:tt)*)) => {
        $($then)::+! { ($($args)*)
            Create => create(CreateOrder) -> OrderRef,
            Cancel => cancel(CancelOrder) -> (),
            Payment => record_payment(RecordPayment) -> (),
            Fulfil => record_fulfilment(RecordFulfilment) -> Fulfilment,
            GiveBack => refund_lines(RefundLines) -> LinesRefunded,
            GoodwillRefund => refund_goodwill(RefundGoodwill) -> Goodwill,
            Release => release_refund(ReleaseRefund) -> (),
            Returnable => returnable(ReturnableOf) -> ReturnableOrder,
        }
    };
}
