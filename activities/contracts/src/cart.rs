//! Cart activities. They run on `souk.cart`.

use serde::{Deserialize, Serialize};
use souk_domain::quote::VendorShipping;
use souk_domain::{CountryCode, Currency, Money, Quantity, Sku};
use uuid::Uuid;

use crate::activity;

/// The `cart` domain's task queue.
pub const QUEUE: crate::queues::Queue = crate::queues::Queue::new("cart");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotCart {
    pub cart_id: String,
    /// With `attempt`, the idempotency key: one snapshot per checkout attempt.
    pub checkout_id: String,
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// Who is buying (e-mail). Per-customer coupon limits count `customer_keys`; checkouts
    /// started before those were sent count this address.
    pub customer: String,
    /// Who a coupon's per-customer limit counts this checkout against
    /// (`souk_domain::coupon::customer_keys`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub customer_keys: Vec<String>,
    /// Where the order ships: taxes and shipping are priced for this country. Absent in
    /// checkouts started before it was sent (the cart's country then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<CountryCode>,
    /// Hold the cart for this checkout, at most this long: until [`ReleaseCheckout`] or
    /// [`CompleteCheckout`], nobody can change it. Absent in checkouts started before holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_seconds: Option<u64>,
}

/// A checkout attempt's hold on its cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartCheckout {
    pub cart_id: String,
    pub checkout_id: String,
    pub attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotLine {
    pub sku: Sku,
    pub title: String,
    pub product_id: Uuid,
    pub vendor_id: Uuid,
    pub quantity: Quantity,
    pub unit_price: Money,
    /// The unit price when the customer put the item in the cart.
    pub added_unit_price: Money,
    pub line_total: Money,
    pub discount: Money,
    pub tax: Money,
}

/// The cart as priced when checkout started: what the customer agreed to buy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartSnapshot {
    pub snapshot_id: Uuid,
    pub cart_id: String,
    pub checkout_id: String,
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    pub currency: Currency,
    /// The country the snapshot was priced for (taxes, shipping): where the order ships.
    pub country: CountryCode,
    pub lines: Vec<SnapshotLine>,
    pub coupon_code: Option<String>,
    pub coupon_applied: bool,
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub shipping: Money,
    pub total: Money,
    /// Shipping per vendor parcel (adds up to `shipping`), for the vendor sub-orders.
    #[serde(default)]
    pub shipping_by_vendor: Vec<VendorShipping>,
}

fn first_attempt() -> u32 {
    1
}

activity!(
    /// Prices the cart now and writes the snapshot to Postgres (once per checkout id).
    /// Fails with `CartNotFound`, `CartEmpty`, `ItemUnavailable` or `UnsupportedDestination`
    /// (non-retryable).
    Snapshot, "cart.snapshot", SnapshotCart => CartSnapshot
);
activity!(
    /// Lets the cart change again: its checkout failed or was cancelled (a compensation).
    /// Idempotent; a hold of another attempt is left alone.
    ReleaseCheckout, "cart.release_checkout", CartCheckout => ()
);
activity!(
    /// Marks the cart as checked out for good (the checkout completed). Idempotent.
    CompleteCheckout, "cart.complete_checkout", CartCheckout => ()
);

/// The cart steps workflows may run as local activities (through the domain's step service)
/// as well as on `souk.cart`: the one list of them, as `marker => method(input) -> output`.
/// It calls back the macro it is given with that list, after the macro's own arguments: the
/// domain serves the steps with `souk_kit::serve_steps!`, the workflow worker forwards them.
/// Names resolve where it is called, so the caller imports the markers and types.
#[macro_export]
macro_rules! cart_steps {
    ($($then:ident)::+ ! ($($args:tt)*)) => {
        $($then)::+! { ($($args)*)
            Snapshot => snapshot(SnapshotCart) -> CartSnapshot,
            ReleaseCheckout => release_checkout(CartCheckout) -> (),
            CompleteCheckout => complete_checkout(CartCheckout) -> (),
        }
    };
}
