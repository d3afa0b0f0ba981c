//! The JSON contract. These types are what clients see: change them only by adding fields.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use souk_proto::inventory::v1 as inventory_pb;
use souk_proto::{cart::v1 as cart_pb, catalog::v1 as catalog_pb, common::v1 as common_pb};
use utoipa::ToSchema;

/// An amount of money: integer minor units (cents for USD) and an ISO 4217 code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Money {
    #[schema(example = 1999)]
    pub amount: i64,
    #[schema(example = "USD")]
    pub currency: String,
}

impl From<common_pb::Money> for Money {
    fn from(m: common_pb::Money) -> Self {
        Money {
            amount: m.amount,
            currency: m.currency,
        }
    }
}

pub fn money(m: Option<common_pb::Money>, currency: &str) -> Money {
    m.map(Money::from).unwrap_or_else(|| Money {
        amount: 0,
        currency: currency.to_string(),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Category {
    pub id: String,
    pub parent_id: Option<String>,
    #[schema(example = "shirts")]
    pub slug: String,
    pub name: String,
    pub position: i32,
}

impl From<catalog_pb::Category> for Category {
    fn from(c: catalog_pb::Category) -> Self {
        Category {
            id: c.id,
            parent_id: c.parent_id,
            slug: c.slug,
            name: c.name,
            position: c.position,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryList {
    /// Every category; `parent_id` links them into a tree.
    pub items: Vec<Category>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Variant {
    #[schema(example = "AT-001-M")]
    pub sku: String,
    pub title: String,
    /// Option values, e.g. `{"size": "M"}`.
    pub options: BTreeMap<String, String>,
    pub tax_class: String,
    pub weight_grams: i32,
    /// Absent when the variant has no price in the requested currency.
    pub price: Option<Money>,
    pub compare_at_price: Option<Money>,
    /// Units that can be ordered now, over all warehouses.
    pub available: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Product {
    pub id: String,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub vendor_id: String,
    pub category_ids: Vec<String>,
    /// Free-form attributes.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    pub created_at: String,
    pub variants: Vec<Variant>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<Product>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CartItem {
    pub sku: String,
    pub title: String,
    pub product_slug: String,
    pub vendor_id: String,
    pub quantity: i64,
    /// The current unit price.
    pub unit_price: Money,
    /// The unit price when the item was added; differs from `unit_price` if the price changed.
    pub added_unit_price: Money,
    pub line_total: Money,
    pub discount: Money,
    pub tax: Money,
    /// False when the item can no longer be bought; it is left out of the totals.
    pub available: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CartCoupon {
    pub code: String,
    /// Whether the coupon applies now (the cart may have changed since it was applied).
    pub applied: bool,
    /// Why it does not apply: expired, below_minimum, limit_reached, ...
    pub reason: Option<String>,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Cart {
    pub id: String,
    pub currency: String,
    pub country: String,
    pub items: Vec<CartItem>,
    pub coupon: Option<CartCoupon>,
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub shipping: Money,
    pub total: Money,
    pub created_at: String,
    pub updated_at: String,
    /// The cart is deleted if left untouched until then.
    pub expires_at: String,
    /// The customer it belongs to; absent for a guest cart (anyone with its id may use it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// The checkout holding the cart: while it runs the cart cannot change (409
    /// `cart_checking_out`); once completed, the cart was bought (409 `cart_checked_out`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkout: Option<CartCheckout>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CartCheckout {
    pub checkout_id: String,
    /// running or completed
    pub state: String,
}

impl From<cart_pb::Cart> for Cart {
    fn from(c: cart_pb::Cart) -> Self {
        let cur = c.currency.clone();
        Cart {
            items: c
                .items
                .into_iter()
                .map(|l| CartItem {
                    sku: l.sku,
                    title: l.title,
                    product_slug: l.product_slug,
                    vendor_id: l.vendor_id,
                    quantity: l.quantity,
                    unit_price: money(l.unit_price, &cur),
                    added_unit_price: money(l.added_unit_price, &cur),
                    line_total: money(l.line_total, &cur),
                    discount: money(l.discount, &cur),
                    tax: money(l.tax, &cur),
                    available: l.available,
                })
                .collect(),
            coupon: c.coupon.map(|k| CartCoupon {
                code: k.code,
                applied: k.applied,
                reason: k.reason,
                description: k.description,
            }),
            subtotal: money(c.subtotal, &cur),
            discount: money(c.discount, &cur),
            tax: money(c.tax, &cur),
            shipping: money(c.shipping, &cur),
            total: money(c.total, &cur),
            id: c.id,
            currency: c.currency,
            country: c.country,
            created_at: c.created_at,
            updated_at: c.updated_at,
            expires_at: c.expires_at,
            owner_id: c.owner_id,
            checkout: c.checkout_id.map(|checkout_id| CartCheckout {
                checkout_id,
                state: c.checkout_state.unwrap_or_default(),
            }),
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCart {
    /// ISO 4217; defaults to the store's currency.
    #[schema(value_type = Option<crate::params::OptCurrencyCode>)]
    pub currency: Option<String>,
    /// ISO 3166-1 alpha-2 shipping destination; defaults to US.
    #[schema(value_type = Option<crate::params::OptCountryText>)]
    pub country: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    #[schema(value_type = crate::params::SkuParam)]
    pub sku: String,
    /// 1 to 999.
    #[schema(example = 2, minimum = 1, maximum = 999)]
    #[serde(deserialize_with = "integer")]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateItem {
    /// 1 to 999. Remove an item with DELETE.
    #[schema(example = 3, minimum = 1, maximum = 999)]
    #[serde(deserialize_with = "integer")]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyCoupon {
    #[schema(example = "WELCOME10")]
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WarehouseStock {
    pub warehouse: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Inventory {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub low_stock_threshold: i64,
    pub warehouses: Vec<WarehouseStock>,
}

impl From<inventory_pb::StockLevel> for Inventory {
    fn from(s: inventory_pb::StockLevel) -> Self {
        Inventory {
            sku: s.sku,
            on_hand: s.on_hand,
            reserved: s.reserved,
            available: s.available,
            low_stock_threshold: s.low_stock_threshold,
            warehouses: s
                .warehouses
                .into_iter()
                .map(|w| WarehouseStock {
                    warehouse: w.warehouse,
                    on_hand: w.on_hand,
                    reserved: w.reserved,
                    available: w.available,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetOnHand {
    /// Units physically in the warehouse; never below what is reserved there.
    #[schema(example = 40, minimum = 0, maximum = 1_000_000_000)]
    #[serde(deserialize_with = "integer")]
    pub on_hand: i64,
}

/// The workflow started because a change took a SKU below its low-stock threshold.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowRef {
    pub workflow_id: String,
    pub run_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StockUpdated {
    pub stock: Inventory,
    /// Present when the change crossed the low-stock threshold and an alert workflow started.
    pub low_stock_alert: Option<WorkflowRef>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LowStockAlert {
    pub id: String,
    pub sku: String,
    pub available: i64,
    pub threshold: i64,
    pub raised_at: String,
    pub raised_by: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LowStockAlertPage {
    pub items: Vec<LowStockAlert>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[schema(example = "Ada Lovelace", value_type = crate::params::Line200)]
    pub name: String,
    #[schema(example = "12 Analytical Row", value_type = crate::params::Line200)]
    pub line1: String,
    #[schema(value_type = Option<crate::params::OptLine200>)]
    pub line2: Option<String>,
    #[schema(example = "London", value_type = crate::params::Line100)]
    pub city: String,
    #[schema(example = "N1 9GU", value_type = crate::params::Line20)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "US", value_type = crate::params::CountryText)]
    pub country: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentInput {
    /// A card payment method id (`pm_...`). Which payment provider takes it is the store's
    /// configuration; a request cannot choose one. With the sandbox (and Stripe test mode)
    /// `pm_card_visa` succeeds,
    /// `pm_card_chargeDeclined` and `pm_card_chargeDeclinedInsufficientFunds` are declined,
    /// `pm_card_authenticationRequired` waits for the customer (3-D Secure).
    #[schema(
        example = "pm_card_visa",
        min_length = 1,
        max_length = 100,
        pattern = "^[A-Za-z0-9_]+$"
    )]
    pub payment_method: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCheckout {
    pub cart_id: String,
    #[schema(example = "ada@example.com", value_type = crate::params::EmailText)]
    pub email: String,
    /// Where to ship; or, for a signed-in customer, `shipping_address_id`.
    #[serde(default)]
    pub shipping_address: Option<Address>,
    /// An address from the signed-in customer's address book.
    #[serde(default)]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub shipping_address_id: Option<String>,
    pub payment: PaymentInput,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckoutFailure {
    /// `card_declined`, `out_of_stock`, `coupon_invalid`, `price_changed`, `payment_timeout`,
    /// `cart_empty`, `cancelled`, ...
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Checkout {
    /// `checkout-<cart id>`.
    pub checkout_id: String,
    /// 1 for the first try of this cart; a new try after a failed one counts up.
    pub attempt: u32,
    /// running, completed, compensated, cancelled or failed.
    pub state: String,
    /// The saga step it is at (snapshot, reserve, authorize, awaiting_payment, capture, ...).
    pub step: Option<String>,
    /// True once the order is placed with the payment authorized, or the checkout ended.
    pub decided: bool,
    pub order_no: Option<String>,
    pub total: Option<Money>,
    pub failure: Option<CheckoutFailure>,
    pub status_url: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CancelRequested {
    pub checkout_id: String,
    pub cancel_requested: bool,
    pub status_url: String,
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
pub struct ShippingAddress {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Order {
    pub order_no: String,
    pub checkout_id: String,
    pub attempt: i32,
    pub customer_email: String,
    /// placed, processing, shipped, delivered, cancelled, returned
    pub status: String,
    pub payment_status: String,
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub shipping: Money,
    pub total: Money,
    pub coupon_code: Option<String>,
    pub shipping_address: Option<ShippingAddress>,
    pub placed_at: String,
    pub lines: Vec<OrderLine>,
    pub sub_orders: Vec<SubOrder>,
    pub payment: Option<Payment>,
    pub timeline: Vec<TimelineEntry>,
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
    pub shipping_address: Option<ShippingAddress>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VendorSubOrder {
    pub id: String,
    /// placed, processing, shipped, delivered, cancelled, returned
    pub status: String,
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub shipping: Money,
    pub total: Money,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookReceived {
    pub received: bool,
    pub event_id: String,
    /// True when this event was delivered before; nothing was done again.
    pub duplicate: bool,
}

/// E-mail and password (register, sign in).
#[derive(Debug, Deserialize, ToSchema)]
pub struct Credentials {
    #[schema(example = "ann@example.com", value_type = crate::params::EmailText)]
    pub email: String,
    /// 10 to 128 characters.
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshToken {
    pub refresh_token: String,
}

/// An account.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub email: String,
    /// active, blocked or pending
    pub status: String,
    /// customer, vendor_admin, staff, super_admin
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<String>,
    /// A TOTP second factor is enabled.
    pub mfa_enabled: bool,
}

impl From<souk_proto::auth::v1::User> for User {
    fn from(u: souk_proto::auth::v1::User) -> Self {
        User {
            id: u.id,
            email: u.email,
            status: u.status,
            roles: u.roles,
            vendor_id: u.vendor_id,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
            mfa_enabled: u.mfa_enabled,
        }
    }
}

/// Tokens of a sign-in. Send the access token as `Authorization: Bearer <access_token>`;
/// when it expires, trade the refresh token for new ones (each refresh token works once).
#[derive(Debug, Serialize, ToSchema)]
pub struct Tokens {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds.
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    pub user: User,
    /// The customer's cart after a guest cart given at sign-in was merged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cart_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedKey {
    /// The key that signs from now on.
    pub kid: String,
    /// Keys that no longer sign but still verify until their tokens expire.
    pub retired_kids: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GrantRole {
    #[schema(value_type = crate::params::RoleName)]
    pub role: String,
    /// Required for vendor_admin.
    #[schema(value_type = Option<crate::params::OptUuid>)]
    pub vendor_id: Option<String>,
}

/// Why an operator acts: recorded in the audit trail with who did it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorReason {
    /// 1 to 500 characters on one line.
    #[schema(
        value_type = crate::params::Line500,
        example = "card testing from this account"
    )]
    pub reason: String,
}

/// One entry of the security audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    /// login, lockout, token_refresh, refresh_token_reuse, logout, user_registered,
    /// role_granted, role_revoked, key_rotation, authorization, ...
    pub event: String,
    /// ok, denied or failed
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A product as its vendor manages it (any status).
#[derive(Debug, Serialize, ToSchema)]
pub struct VendorProduct {
    pub id: String,
    pub slug: String,
    pub title: String,
    pub description: String,
    /// draft, active or archived
    pub status: String,
    pub skus: Vec<String>,
    pub created_at: String,
}

impl From<catalog_pb::Product> for VendorProduct {
    fn from(p: catalog_pb::Product) -> Self {
        VendorProduct {
            id: p.id,
            slug: p.slug,
            title: p.title,
            description: p.description,
            status: p.status,
            skus: p.variants.into_iter().map(|v| v.sku).collect(),
            created_at: p.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorProductPage {
    pub items: Vec<VendorProduct>,
    pub next_cursor: Option<String>,
}

/// Changes to a product; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductUpdate {
    #[schema(value_type = Option<crate::params::Line200>)]
    pub title: Option<String>,
    #[schema(value_type = Option<crate::params::Paragraphs20000>)]
    pub description: Option<String>,
    #[schema(value_type = Option<crate::params::ProductStatusName>)]
    pub status: Option<String>,
}

/// A vendor's part of an order, in the vendor's order list.
#[derive(Debug, Serialize, ToSchema)]
pub struct VendorOrderSummary {
    pub order_no: String,
    pub sub_order_id: String,
    /// The sub-order's status.
    pub status: String,
    pub total: Money,
    pub units: i64,
    pub placed_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorOrderPage {
    pub items: Vec<VendorOrderSummary>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MergeCart {
    /// The guest cart to bring in.
    pub cart_id: String,
}

/// Sign-in: e-mail, password, and optionally the guest cart to bring along.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Login {
    #[schema(example = "ann@example.com")]
    pub email: String,
    pub password: String,
    /// A cart used before signing in: it is merged into the customer's cart.
    #[serde(default)]
    pub cart_id: Option<String>,
    /// With a second factor: the code from the authenticator...
    #[serde(default)]
    pub totp_code: Option<String>,
    /// ... or one of the recovery codes (each works once).
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// A TOTP second factor being enrolled.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrollment {
    /// `otpauth://totp/...`: show it as a QR code.
    pub otpauth_url: String,
    /// The same secret in base32, to type in.
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TotpCode {
    #[schema(example = "123456")]
    pub code: String,
}

/// Keep these somewhere safe: each signs in once instead of a code.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// The account's password again, before a change to how it signs in.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Reauthenticate {
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DisableTotp {
    /// The account's password again.
    pub password: String,
    #[serde(default)]
    pub totp_code: Option<String>,
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// A customer's order in their order list.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyOrderSummary {
    pub order_no: String,
    pub status: String,
    pub payment_status: String,
    pub total: Money,
    pub placed_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyOrderPage {
    pub items: Vec<MyOrderSummary>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ForgotPassword {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetPassword {
    /// The token from the reset mail.
    pub token: String,
    /// 10 to 128 characters.
    #[schema(min_length = 10, max_length = 128)]
    pub new_password: String,
}

/// The token from a lockout mail.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Unlock {
    pub token: String,
}

/// The answer to a sign-up: the same whether or not the address had an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    pub accepted: bool,
    #[schema(
        example = "We have sent a message to that address. Sign in with it and your password."
    )]
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Preferences {
    /// BCP 47, for example en-GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::params::OptLocale>)]
    pub locale: Option<String>,
    /// ISO 4217.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::params::OptCurrencyCode>)]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketing_emails: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    pub name: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub preferences: Preferences,
}

impl From<souk_proto::users::v1::Profile> for Profile {
    fn from(p: souk_proto::users::v1::Profile) -> Self {
        let prefs = p.preferences.unwrap_or_default();
        Profile {
            name: p.name,
            phone: p.phone,
            preferences: Preferences {
                locale: prefs.locale,
                currency: prefs.currency,
                marketing_emails: prefs.marketing_emails,
            },
        }
    }
}

/// The signed-in account with its profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub user: User,
    pub profile: Profile,
}

/// Changes to the profile; absent fields stay, an empty name or phone clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    #[schema(value_type = Option<crate::params::OptLine200>)]
    pub name: Option<String>,
    #[schema(example = "+442071234567", value_type = Option<crate::params::OptPhoneText>)]
    pub phone: Option<String>,
    #[serde(default, deserialize_with = "object")]
    pub preferences: Option<Preferences>,
}

/// An address in the address book.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavedAddress {
    pub id: String,
    pub label: Option<String>,
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country: String,
    pub phone: Option<String>,
    pub is_default: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<souk_proto::users::v1::Address> for SavedAddress {
    fn from(a: souk_proto::users::v1::Address) -> Self {
        let f = a.fields.unwrap_or_default();
        SavedAddress {
            id: a.id,
            label: f.label,
            name: f.name,
            line1: f.line1,
            line2: f.line2,
            city: f.city,
            postal_code: f.postal_code,
            country: f.country,
            phone: f.phone,
            is_default: a.is_default,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddressBook {
    /// The default first.
    pub items: Vec<SavedAddress>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAddress {
    #[schema(example = "Home", value_type = Option<crate::params::OptLine40>)]
    pub label: Option<String>,
    #[schema(value_type = crate::params::Line200)]
    pub name: String,
    #[schema(value_type = crate::params::Line200)]
    pub line1: String,
    #[schema(value_type = Option<crate::params::OptLine200>)]
    pub line2: Option<String>,
    #[schema(value_type = crate::params::Line100)]
    pub city: String,
    #[schema(value_type = crate::params::Line20)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    #[schema(value_type = crate::params::CountryText)]
    pub country: String,
    #[schema(value_type = Option<crate::params::OptPhoneText>)]
    pub phone: Option<String>,
    /// Make it the default (the first address always is).
    #[serde(default)]
    pub is_default: bool,
}

/// Changes to an address; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressPatch {
    #[schema(value_type = Option<crate::params::OptLine40>)]
    pub label: Option<String>,
    #[schema(value_type = Option<crate::params::Line200>)]
    pub name: Option<String>,
    #[schema(value_type = Option<crate::params::Line200>)]
    pub line1: Option<String>,
    #[schema(value_type = Option<crate::params::OptLine200>)]
    pub line2: Option<String>,
    #[schema(value_type = Option<crate::params::Line100>)]
    pub city: Option<String>,
    #[schema(value_type = Option<crate::params::Line20>)]
    pub postal_code: Option<String>,
    #[schema(value_type = Option<crate::params::CountryText>)]
    pub country: Option<String>,
    #[schema(value_type = Option<crate::params::OptPhoneText>)]
    pub phone: Option<String>,
    /// `true` makes it the default.
    #[serde(default)]
    pub is_default: bool,
}

/// A JSON object or `null` (serde would also take a list for a struct: the document says
/// object, so only an object is taken).
fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match Option::<serde_json::Value>::deserialize(d)? {
        None => Ok(None),
        Some(v @ serde_json::Value::Object(_)) => serde_json::from_value(v)
            .map(Some)
            .map_err(serde::de::Error::custom),
        Some(_) => Err(serde::de::Error::custom("expected an object")),
    }
}

/// A list of JSON objects (serde would also take a list for each struct).
pub(crate) fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Vec::<serde_json::Value>::deserialize(d)?
        .into_iter()
        .map(|v| match v {
            serde_json::Value::Object(_) => {
                serde_json::from_value(v).map_err(serde::de::Error::custom)
            }
            _ => Err(serde::de::Error::custom("expected a list of objects")),
        })
        .collect()
}

/// An integer as JSON Schema has it: `3` and `3.0` are the same integer (`3.5` is not one).
fn integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Ok(f as i64),
        _ => Err(serde::de::Error::custom(format!("{n} is not an integer"))),
    }
}
