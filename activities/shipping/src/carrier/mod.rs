//! The boundary to carriers. `sandbox` (built in, no keys) and `easypost` implement it.
//!
//! What a carrier must guarantee to Souk: quoting is free and may be repeated; buying is
//! idempotent by the carrier's shipment (a retry after a lost answer finds the label bought
//! the first time instead of buying a second one); a tracking webhook is verified before a
//! word of it is believed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use souk_contracts::orders::Address;
use souk_domain::shipment::{Parcel, ShipmentStatus};
use souk_domain::{Currency, Money};

pub mod easypost;
pub mod sandbox;

/// What to quote: a parcel from one address to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateRequest {
    /// Souk's shipment id: the carrier's shipment carries it as its reference.
    pub reference: String,
    pub from: Address,
    pub to: Address,
    pub parcel: Parcel,
    /// The currency Souk settles in (a carrier may quote in another; each rate says its own).
    pub currency: Currency,
}

/// One way to send the parcel, at a price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    /// The carrier's id of this rate: what a label is bought for.
    pub id: String,
    /// Who carries it (`USPS`, `SandboxPost`).
    pub carrier: String,
    /// The service (`Priority`, `standard`, `express`).
    pub service: String,
    pub price: Money,
    pub delivery_days: Option<u32>,
}

/// A carrier's answer to a quote: its shipment, and the rates to choose from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// The carrier's id of the shipment the rates belong to (`shp_...`).
    pub carrier_shipment: String,
    pub rates: Vec<Rate>,
}

/// A bought label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub carrier_shipment: String,
    /// The rate it was bought at.
    pub rate_id: String,
    pub tracking_code: String,
    pub label_url: String,
    /// Where the customer follows the parcel, if the carrier gives a page.
    pub tracking_url: Option<String>,
}

/// One tracking report from a carrier's webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackingUpdate {
    /// The carrier's id of the event: a delivery repeated by the carrier has the same one.
    pub event_id: String,
    pub tracking_code: String,
    /// The carrier's own word for it (`pre_transit`, `in_transit`, `failure`).
    pub carrier_status: String,
    /// What it means for the shipment; none for what does not move it (`pre_transit`).
    pub status: Option<ShipmentStatus>,
    /// When the carrier saw it.
    pub at: DateTime<Utc>,
    pub location: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CarrierError {
    /// The carrier refused the request for good (an address it cannot serve, a rate that
    /// expired, a label that cannot be voided any more).
    #[error("{code}: {message}")]
    Rejected { code: String, message: String },
    /// The carrier could not be reached or failed (5xx, timeout): try again.
    #[error("carrier unavailable: {0}")]
    Unavailable(String),
}

impl CarrierError {
    pub fn rejected(code: &str, message: impl Into<String>) -> Self {
        CarrierError::Rejected {
            code: code.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The signature is missing or does not match the body.
    #[error("the webhook's signature does not match its body")]
    Signature,
    /// Signed, but not something this carrier sends.
    #[error("the webhook's body is not a tracking event: {0}")]
    Malformed(String),
}

impl WebhookError {
    /// The machine-readable reason.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::Signature => "invalid_signature",
            WebhookError::Malformed(_) => "invalid_payload",
        }
    }
}

/// A request's headers as the webhook receiver got them: names in lower case.
pub type Headers = [(String, String)];

/// The value of header `name` (lower case).
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tonic::async_trait]
pub trait Carrier: Send + Sync {
    /// `sandbox` or `easypost`: the `{carrier}` of its webhook URL.
    fn name(&self) -> &'static str;

    /// The rates for a parcel; each call may create a new carrier shipment (nothing is bought).
    async fn quote(&self, req: &RateRequest) -> Result<Quote, CarrierError>;

    /// Buys the label of `carrier_shipment` at `rate_id`. If that shipment has a label
    /// already (the answer to an earlier call was lost), returns it without buying again.
    async fn buy(&self, carrier_shipment: &str, rate_id: &str) -> Result<Label, CarrierError>;

    /// Asks the carrier to refund an unused label.
    async fn void(&self, carrier_shipment: &str) -> Result<(), CarrierError>;

    /// Verifies a webhook delivery and reads the tracking reports in it (none for an event
    /// that is not about tracking).
    fn parse_webhook(
        &self,
        headers: &Headers,
        body: &[u8],
    ) -> Result<Vec<TrackingUpdate>, WebhookError>;
}

/// Hex HMAC-SHA256 of `body` under `secret`.
pub(crate) fn hmac_sha256_hex(secret: &[u8], body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `given` (hex) is the HMAC-SHA256 of `body` under `secret`, compared in constant
/// time.
pub(crate) fn hmac_matches(secret: &[u8], body: &[u8], given: &str) -> bool {
    use hmac::Mac;
    let Ok(given) = hex::decode(given.trim()) else {
        return false;
    };
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}
