//! An order as the API shows it: whole to operators and to its customer, and to each vendor
//! only its own part.

use crate::dto::{Money, PostalAddress, money};
use crate::error::{ApiError, ApiResult};
use crate::extract::Caller;
use crate::state::AppState;
use serde::Serialize;
use souk_proto::orders::v1 as pb;
use souk_proto::payments::v1 as payments_pb;
use souk_proto::shipping::v1 as shipping_pb;
use utoipa::ToSchema;

/// Who reads an order's shipments: staff also see their alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reader {
    Customer,
    Vendor,
    Staff,
}

/// The shipments of order `order_no` (only `vendor_id`'s, if set), as `reader` sees them.
pub(crate) async fn shipments(
    s: &AppState,
    caller: &Caller,
    order_no: &str,
    vendor_id: Option<String>,
    reader: Reader,
) -> ApiResult<Vec<OrderShipment>> {
    let found = s
        .shipping
        .clone()
        .order_shipments(caller.request(shipping_pb::OrderShipmentsRequest {
            order_no: order_no.to_string(),
            vendor_id,
        }))
        .await
        .map_err(|e| ApiError::from_status("shipping", e))?
        .into_inner();
    Ok(found
        .items
        .into_iter()
        .map(|sh| OrderShipment {
            id: sh.id,
            vendor_id: sh.vendor_id,
            status: sh.status,
            carrier: sh.carrier,
            tracking_code: sh.tracking_code,
            tracking_url: sh.tracking_url,
            lines: sh
                .lines
                .into_iter()
                .map(|l| ShipmentItem {
                    sku: l.sku,
                    title: l.title,
                    quantity: l.quantity,
                    cancelled: l.cancelled,
                })
                .collect(),
            events: sh
                .events
                .into_iter()
                .map(|e| ShipmentEvent {
                    status: e.status,
                    carrier_status: e.carrier_status,
                    at: e.at,
                    location: e.location,
                    message: e.message,
                })
                .collect(),
            alerts: if reader == Reader::Staff {
                sh.alerts
                    .into_iter()
                    .map(|a| ShipmentAlert {
                        kind: a.kind,
                        note: a.note,
                        raised_at: a.raised_at,
                    })
                    .collect()
            } else {
                Vec::new()
            },
        })
        .collect())
}

/// The JSON of a vendor's part of an order (the orders domain answers only that part when
/// asked with a vendor id).
pub(crate) fn vendor_order_dto(
    o: pb::Order,
    shipments: Vec<OrderShipment>,
) -> ApiResult<VendorOrder> {
    let cur = o
        .subtotal
        .as_ref()
        .map(|m| m.currency.clone())
        .unwrap_or_default();
    let m = |x: Option<souk_proto::common::v1::Money>| money(x, &cur);
    let so = o
        .sub_orders
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("order_not_found", "no such order"))?;
    Ok(VendorOrder {
        order_no: o.order_no,
        placed_at: o.placed_at,
        sub_order: VendorSubOrder {
            id: so.id,
            status: so.status,
            subtotal: m(so.subtotal),
            discount: m(so.discount),
            tax: m(so.tax),
            shipping: m(so.shipping),
            total: m(so.total),
        },
        lines: o
            .lines
            .into_iter()
            .filter(|l| l.vendor_id == so.vendor_id)
            .map(|l| OrderLine {
                sku: l.sku,
                title: l.title,
                vendor_id: l.vendor_id,
                quantity: l.quantity,
                unit_price: m(l.unit_price),
                line_total: m(l.line_total),
                discount: m(l.discount),
                tax: m(l.tax),
            })
            .collect(),
        shipping_address: o.shipping_address.map(|a| PostalAddress {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            postal_code: a.postal_code,
            country: a.country,
        }),
        shipments,
    })
}

/// The JSON of an order (with its payment, for the back office).
pub(crate) fn order_dto(
    o: pb::Order,
    payment: Option<payments_pb::Payment>,
    shipments: Vec<OrderShipment>,
) -> Order {
    let cur = o
        .subtotal
        .as_ref()
        .map(|m| m.currency.clone())
        .unwrap_or_default();
    let m = |x: Option<souk_proto::common::v1::Money>| money(x, &cur);
    Order {
        order_no: o.order_no,
        checkout_id: o.checkout_id,
        attempt: o.attempt,
        customer_email: o.customer_email,
        status: o.status,
        payment_status: o.payment_status,
        subtotal: m(o.subtotal),
        discount: m(o.discount),
        tax: m(o.tax),
        shipping: m(o.shipping),
        total: m(o.total),
        coupon_code: o.coupon_code,
        shipping_address: o.shipping_address.map(|a| PostalAddress {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            postal_code: a.postal_code,
            country: a.country,
        }),
        placed_at: o.placed_at,
        lines: o
            .lines
            .into_iter()
            .map(|l| OrderLine {
                sku: l.sku,
                title: l.title,
                vendor_id: l.vendor_id,
                quantity: l.quantity,
                unit_price: m(l.unit_price),
                line_total: m(l.line_total),
                discount: m(l.discount),
                tax: m(l.tax),
            })
            .collect(),
        sub_orders: o
            .sub_orders
            .into_iter()
            .map(|so| SubOrder {
                id: so.id,
                vendor_id: so.vendor_id,
                status: so.status,
                skus: so.skus,
                subtotal: m(so.subtotal),
                discount: m(so.discount),
                tax: m(so.tax),
                shipping: m(so.shipping),
                total: m(so.total),
            })
            .collect(),
        payment: payment.map(|p| Payment {
            provider: p.provider,
            reference: p.provider_payment_id,
            status: p.status,
            amount: m(p.amount),
            captured: m(p.captured),
            refunded: m(p.refunded),
            refunds: p
                .refunds
                .into_iter()
                .map(|r| Refund {
                    reference: r.reference,
                    amount: m(r.amount),
                    created_at: r.created_at,
                })
                .collect(),
        }),
        timeline: o
            .timeline
            .into_iter()
            .map(|t| TimelineEntry {
                event: t.event,
                at: t.at,
                actor: t.actor,
                note: t.note,
            })
            .collect(),
        shipments,
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderLine {
    pub sku: String,
    pub title: String,
    pub vendor_id: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub line_total: Money,
    pub discount: Money,
    pub tax: Money,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubOrder {
    pub id: String,
    pub vendor_id: String,
    pub status: String,
    pub skus: Vec<String>,
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub shipping: Money,
    pub total: Money,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub event: String,
    pub at: String,
    pub actor: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Refund {
    pub reference: String,
    pub amount: Money,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Payment {
    pub provider: String,
    pub reference: String,
    /// pending, requires_action, authorized, declined, captured, voided, partially_refunded, refunded
    pub status: String,
    pub amount: Money,
    pub captured: Money,
    pub refunded: Money,
    pub refunds: Vec<Refund>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Order {
    pub order_no: String,
    pub checkout_id: String,
    pub attempt: i32,
    pub customer_email: String,
    /// placed, processing, partially_shipped, shipped, delivered, cancelled,
    /// partially_returned, returned
    pub status: String,
    pub payment_status: String,
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub shipping: Money,
    pub total: Money,
    pub coupon_code: Option<String>,
    pub shipping_address: Option<PostalAddress>,
    pub placed_at: String,
    pub lines: Vec<OrderLine>,
    pub sub_orders: Vec<SubOrder>,
    pub payment: Option<Payment>,
    pub timeline: Vec<TimelineEntry>,
    /// Each vendor's parcel on its way, oldest first.
    pub shipments: Vec<OrderShipment>,
}

/// A parcel of an order: where it is and how to follow it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderShipment {
    pub id: String,
    pub vendor_id: String,
    /// awaiting_fulfillment, packed, label_purchased, in_transit, out_for_delivery,
    /// delivered, exception, returned_to_sender, cancelled
    pub status: String,
    pub carrier: Option<String>,
    pub tracking_code: Option<String>,
    /// The carrier's page for the parcel.
    pub tracking_url: Option<String>,
    pub lines: Vec<ShipmentItem>,
    /// The carrier's scans, oldest first.
    pub events: Vec<ShipmentEvent>,
    /// What staff were alerted to (fulfilment_late, no_scan); staff only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<ShipmentAlert>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShipmentItem {
    pub sku: String,
    pub title: String,
    pub quantity: i32,
    /// Units the vendor could not ship (refunded).
    pub cancelled: i32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShipmentEvent {
    /// What it meant for the parcel, if anything.
    pub status: Option<String>,
    /// The carrier's own word for it.
    pub carrier_status: String,
    pub at: String,
    pub location: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShipmentAlert {
    pub kind: String,
    pub note: String,
    pub raised_at: String,
}

/// A vendor's part of an order: what to pack and where to send it. Nothing of the
/// customer's checkout, cart, payment or e-mail, nor of other vendors' parts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VendorOrder {
    pub order_no: String,
    pub placed_at: String,
    /// The vendor's sub-order: its status and its share of the money.
    pub sub_order: VendorSubOrder,
    /// The vendor's lines only.
    pub lines: Vec<OrderLine>,
    /// Where to ship.
    pub shipping_address: Option<PostalAddress>,
    /// The vendor's shipments of this order.
    pub shipments: Vec<OrderShipment>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VendorSubOrder {
    pub id: String,
    /// placed, processing, shipped, delivered, cancelled, partially_returned, returned
    pub status: String,
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub shipping: Money,
    pub total: Money,
}
