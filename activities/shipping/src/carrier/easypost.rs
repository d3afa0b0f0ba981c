//! EasyPost, over its v2 REST API: HTTP Basic with the API key as the user name;
//! `POST /v2/shipments` quotes (a shipment with its rates), `POST /v2/shipments/{id}/buy`
//! buys the label of one rate, `POST /v2/shipments/{id}/refund` voids it. Tracking arrives as
//! Events (`tracker.created`, `tracker.updated`) signed in `X-Hmac-Signature:
//! hmac-sha256-hex=<hex HMAC-SHA256 of the raw body>`, keyed with the webhook secret in
//! Unicode NFKD form.
//!
//! EasyPost documents no idempotency key for buying. A shipment holds at most one label, so
//! [`EasyPost::buy`] reads the shipment first and buys only when it has none: a retry after
//! a lost answer (a timeout, a 500 after the purchase) returns the label bought the first
//! time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use souk_contracts::orders::Address;
use souk_domain::shipment::{Parcel, ShipmentStatus};
use souk_domain::{Currency, Money};
use unicode_normalization::UnicodeNormalization;

use super::{
    Carrier, CarrierError, Headers, Label, Quote, Rate, RateRequest, TrackingUpdate, WebhookError,
    header, hmac_matches,
};

/// The header EasyPost signs its webhooks in.
pub const SIGNATURE_HEADER: &str = "x-hmac-signature";

pub struct EasyPost {
    http: reqwest::Client,
    base: String,
    api_key: SecretString,
    /// NFKD-normalized, as EasyPost keys its HMAC.
    webhook_secret: Vec<u8>,
}

impl EasyPost {
    /// A client of the API at `base_url` (`https://api.easypost.com`); each call may take
    /// `timeout`.
    pub fn new(
        base_url: &str,
        api_key: SecretString,
        webhook_secret: &SecretString,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("souk/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            api_key,
            webhook_secret: webhook_secret
                .expose_secret()
                .nfkd()
                .collect::<String>()
                .into_bytes(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CarrierError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(self.api_key.expose_secret(), None::<&str>);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| CarrierError::Unavailable(format!("EasyPost {path}: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| CarrierError::Unavailable(format!("EasyPost {path}: {e}")))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let code = value["error"]["code"].as_str().unwrap_or("").to_string();
        let message = value["error"]["message"]
            .as_str()
            .unwrap_or(status.canonical_reason().unwrap_or("error"))
            .to_string();
        // A server error, throttling or a refused key: nothing that trying again later (after
        // the operator fixed the key) cannot cure. Anything else is about the request.
        if status.is_server_error()
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::UNAUTHORIZED
        {
            Err(CarrierError::Unavailable(format!(
                "EasyPost {path} answered {status}: {code} {message}"
            )))
        } else {
            Err(CarrierError::Rejected {
                code: if code.is_empty() {
                    format!("http_{}", status.as_u16())
                } else {
                    code
                },
                message,
            })
        }
    }

    async fn shipment(&self, id: &str) -> Result<ShipmentObject, CarrierError> {
        let value = self
            .call(reqwest::Method::GET, &format!("/v2/shipments/{id}"), None)
            .await?;
        read(value)
    }
}

fn read<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, CarrierError> {
    serde_json::from_value(value).map_err(|e| {
        CarrierError::Unavailable(format!("EasyPost answered an unexpected shape: {e}"))
    })
}

fn address(a: &Address) -> Value {
    json!({
        "name": a.name,
        "street1": a.line1,
        "street2": a.line2,
        "city": a.city,
        "zip": a.postal_code,
        "country": a.country.as_str(),
    })
}

/// `n / d` rounded up to tenths, as a JSON number (EasyPost's parcel takes decimals).
fn tenths_up(n: u128, d: u128) -> Value {
    let tenths = (n * 10).div_ceil(d);
    json!(tenths as f64 / 10.0)
}

/// The parcel in EasyPost's units: ounces and inches, rounded up to a tenth.
fn parcel(p: &Parcel) -> Value {
    // 1 oz = 28.349523125 g; 1 in = 25.4 mm.
    let oz = |g: u32| tenths_up(u128::from(g) * 1_000_000_000, 28_349_523_125);
    let inch = |mm: u32| tenths_up(u128::from(mm) * 10, 254);
    json!({
        "weight": oz(p.weight_grams),
        "length": inch(p.length_mm),
        "width": inch(p.width_mm),
        "height": inch(p.height_mm),
    })
}

#[derive(Debug, Deserialize)]
struct RateObject {
    id: String,
    carrier: String,
    service: String,
    rate: String,
    currency: String,
    #[serde(default)]
    delivery_days: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct PostageLabel {
    label_url: String,
}

#[derive(Debug, Deserialize)]
struct SelectedRate {
    id: String,
}

#[derive(Debug, Deserialize)]
struct TrackerRef {
    #[serde(default)]
    public_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ShipmentObject {
    id: String,
    #[serde(default)]
    rates: Vec<RateObject>,
    #[serde(default)]
    postage_label: Option<PostageLabel>,
    #[serde(default)]
    tracking_code: Option<String>,
    #[serde(default)]
    selected_rate: Option<SelectedRate>,
    #[serde(default)]
    tracker: Option<TrackerRef>,
}

impl ShipmentObject {
    /// Its label, if it has one.
    fn label(&self) -> Option<Label> {
        let postage = self.postage_label.as_ref()?;
        Some(Label {
            carrier_shipment: self.id.clone(),
            rate_id: self.selected_rate.as_ref()?.id.clone(),
            tracking_code: self.tracking_code.clone()?,
            label_url: postage.label_url.clone(),
            tracking_url: self.tracker.as_ref().and_then(|t| t.public_url.clone()),
        })
    }
}

fn rate(r: RateObject) -> Result<Rate, CarrierError> {
    let currency = Currency::parse(&r.currency)
        .map_err(|e| CarrierError::Unavailable(format!("EasyPost rate {}: {e}", r.id)))?;
    let price = Money::parse_decimal(&r.rate, currency)
        .map_err(|e| CarrierError::Unavailable(format!("EasyPost rate {}: {e}", r.id)))?;
    Ok(Rate {
        id: r.id,
        carrier: r.carrier,
        service: r.service,
        price,
        delivery_days: r.delivery_days,
    })
}

/// What an EasyPost tracker status means for a shipment.
pub fn status(easypost: &str) -> Option<ShipmentStatus> {
    match easypost {
        "in_transit" => Some(ShipmentStatus::InTransit),
        "out_for_delivery" | "available_for_pickup" => Some(ShipmentStatus::OutForDelivery),
        "delivered" => Some(ShipmentStatus::Delivered),
        "return_to_sender" => Some(ShipmentStatus::ReturnedToSender),
        "failure" | "error" => Some(ShipmentStatus::Exception),
        // pre_transit, unknown, cancelled, ...: recorded, nothing moves.
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    description: String,
    #[serde(default)]
    result: Value,
}

#[derive(Debug, Deserialize)]
struct Tracker {
    tracking_code: String,
    status: String,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    tracking_details: Vec<TrackingDetail>,
}

#[derive(Debug, Deserialize)]
struct TrackingDetail {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    datetime: Option<DateTime<Utc>>,
    #[serde(default)]
    tracking_location: Option<TrackingLocation>,
}

#[derive(Debug, Deserialize)]
struct TrackingLocation {
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    country: Option<String>,
}

impl TrackingLocation {
    fn text(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.city, &self.state, &self.country]
            .into_iter()
            .filter_map(|p| p.as_deref().filter(|s| !s.is_empty()))
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

#[tonic::async_trait]
impl Carrier for EasyPost {
    fn name(&self) -> &'static str {
        "easypost"
    }

    async fn quote(&self, req: &RateRequest) -> Result<Quote, CarrierError> {
        let body = json!({
            "shipment": {
                "reference": req.reference,
                "to_address": address(&req.to),
                "from_address": address(&req.from),
                "parcel": parcel(&req.parcel),
            }
        });
        let shipment: ShipmentObject = read(
            self.call(reqwest::Method::POST, "/v2/shipments", Some(body))
                .await?,
        )?;
        // A rate Souk cannot read as money (an unknown currency, more decimals than it has)
        // is left out, so one odd rate never blocks the others.
        let rates = shipment
            .rates
            .into_iter()
            .filter_map(|r| {
                rate(r)
                    .map_err(|e| tracing::warn!(error = %e, "EasyPost rate left out"))
                    .ok()
            })
            .collect();
        Ok(Quote {
            carrier_shipment: shipment.id,
            rates,
        })
    }

    async fn buy(&self, carrier_shipment: &str, rate_id: &str) -> Result<Label, CarrierError> {
        // Bought already (the answer to an earlier purchase was lost)?
        if let Some(label) = self.shipment(carrier_shipment).await?.label() {
            return Ok(label);
        }
        let bought = self
            .call(
                reqwest::Method::POST,
                &format!("/v2/shipments/{carrier_shipment}/buy"),
                Some(json!({ "rate": { "id": rate_id } })),
            )
            .await;
        match bought {
            Ok(value) => read::<ShipmentObject>(value)?.label().ok_or_else(|| {
                CarrierError::Unavailable(format!(
                    "EasyPost bought {carrier_shipment} but answered without its label"
                ))
            }),
            // Refused: perhaps because a concurrent call bought it in between.
            Err(CarrierError::Rejected { code, message }) => {
                match self.shipment(carrier_shipment).await?.label() {
                    Some(label) => Ok(label),
                    None => Err(CarrierError::Rejected { code, message }),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn void(&self, carrier_shipment: &str) -> Result<(), CarrierError> {
        self.call(
            reqwest::Method::POST,
            &format!("/v2/shipments/{carrier_shipment}/refund"),
            None,
        )
        .await
        .map(|_| ())
    }

    fn parse_webhook(
        &self,
        headers: &Headers,
        body: &[u8],
    ) -> Result<Vec<TrackingUpdate>, WebhookError> {
        let signature = header(headers, SIGNATURE_HEADER)
            .and_then(|v| v.trim().strip_prefix("hmac-sha256-hex="))
            .ok_or(WebhookError::Signature)?;
        if !hmac_matches(&self.webhook_secret, body, signature) {
            return Err(WebhookError::Signature);
        }
        let event: Event =
            serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        if !matches!(
            event.description.as_str(),
            "tracker.created" | "tracker.updated"
        ) {
            return Ok(Vec::new());
        }
        let tracker: Tracker = serde_json::from_value(event.result)
            .map_err(|e| WebhookError::Malformed(format!("result: {e}")))?;
        let last = tracker.tracking_details.last();
        let at = last
            .and_then(|d| d.datetime)
            .or(tracker.updated_at)
            .ok_or_else(|| WebhookError::Malformed("a tracker without a time".into()))?;
        Ok(vec![TrackingUpdate {
            event_id: event.id,
            tracking_code: tracker.tracking_code,
            status: status(&tracker.status),
            carrier_status: tracker.status,
            at,
            location: last
                .and_then(|d| d.tracking_location.as_ref())
                .and_then(TrackingLocation::text),
            message: last.and_then(|d| d.message.clone()),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::carrier::hmac_sha256_hex;

    fn client(secret: &str) -> EasyPost {
        EasyPost::new(
            "http://127.0.0.1:9",
            SecretString::from("EZTK_test"),
            &SecretString::from(secret),
            Duration::from_secs(1),
        )
        .unwrap()
    }

    fn event(description: &str, status: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": "evt_1",
            "object": "Event",
            "mode": "test",
            "description": description,
            "previous_attributes": {"status": "pre_transit"},
            "result": {
                "id": "trk_1",
                "object": "Tracker",
                "tracking_code": "EZ1000000001",
                "status": status,
                "updated_at": "2026-12-01T10:00:00Z",
                "public_url": "https://track.easypost.com/djE6dHJrXzE",
                "tracking_details": [
                    {"object": "TrackingDetail", "status": "pre_transit", "message": "Label created",
                     "datetime": "2026-12-01T08:00:00Z", "tracking_location": {"city": null}},
                    {"object": "TrackingDetail", "status": status, "message": "Arrived at facility",
                     "datetime": "2026-12-01T09:30:00Z",
                     "tracking_location": {"city": "Reno", "state": "NV", "country": "US", "zip": null}}
                ]
            }
        }))
        .unwrap()
    }

    fn signed(secret: &str, body: &[u8]) -> Vec<(String, String)> {
        vec![(
            "X-Hmac-Signature".to_string(),
            format!(
                "hmac-sha256-hex={}",
                hmac_sha256_hex(secret.as_bytes(), body)
            ),
        )]
    }

    #[test]
    fn a_signed_tracker_update_becomes_a_tracking_report() {
        let easypost = client("whsec");
        let body = event("tracker.updated", "in_transit");
        let updates = easypost
            .parse_webhook(&signed("whsec", &body), &body)
            .unwrap();
        assert_eq!(updates.len(), 1);
        let u = &updates[0];
        assert_eq!(u.event_id, "evt_1");
        assert_eq!(u.tracking_code, "EZ1000000001");
        assert_eq!(u.status, Some(ShipmentStatus::InTransit));
        assert_eq!(u.at.to_rfc3339(), "2026-12-01T09:30:00+00:00");
        assert_eq!(u.location.as_deref(), Some("Reno, NV, US"));
        assert_eq!(u.message.as_deref(), Some("Arrived at facility"));
    }

    #[test]
    fn a_bad_or_missing_signature_is_refused() {
        let easypost = client("whsec");
        let body = event("tracker.updated", "delivered");
        assert_eq!(
            easypost.parse_webhook(&signed("other", &body), &body),
            Err(WebhookError::Signature)
        );
        assert_eq!(
            easypost.parse_webhook(&[], &body),
            Err(WebhookError::Signature)
        );
        let plain = vec![(
            "x-hmac-signature".to_string(),
            hmac_sha256_hex(b"whsec", &body),
        )];
        assert_eq!(
            easypost.parse_webhook(&plain, &body),
            Err(WebhookError::Signature)
        );
    }

    #[test]
    fn the_secret_is_keyed_in_nfkd_form() {
        // "ﬁ" (U+FB01) decomposes to "fi" under NFKD.
        let easypost = client("sec\u{FB01}");
        let body = event("tracker.updated", "delivered");
        assert!(
            easypost
                .parse_webhook(&signed("secfi", &body), &body)
                .is_ok()
        );
    }

    #[test]
    fn other_events_are_acknowledged_and_carry_no_report() {
        let easypost = client("whsec");
        let body = event("batch.created", "in_transit");
        assert_eq!(
            easypost.parse_webhook(&signed("whsec", &body), &body),
            Ok(Vec::new())
        );
        let junk = b"{\"id\": 1}".to_vec();
        assert!(matches!(
            easypost.parse_webhook(&signed("whsec", &junk), &junk),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn tracker_statuses_map_onto_the_shipment_machine() {
        assert_eq!(status("pre_transit"), None);
        assert_eq!(status("unknown"), None);
        assert_eq!(
            status("out_for_delivery"),
            Some(ShipmentStatus::OutForDelivery)
        );
        assert_eq!(
            status("return_to_sender"),
            Some(ShipmentStatus::ReturnedToSender)
        );
        assert_eq!(status("failure"), Some(ShipmentStatus::Exception));
        assert_eq!(status("delivered"), Some(ShipmentStatus::Delivered));
    }

    #[test]
    fn a_parcel_is_sent_in_ounces_and_inches() {
        let p = Parcel::new(1_000, 254, 100, 1).unwrap();
        let v = parcel(&p);
        // 1000 g = 35.27 oz → 35.3; 254 mm = 10 in; 100 mm = 3.94 in → 4.0; 1 mm → 0.1 in.
        assert_eq!(
            v,
            json!({"weight": 35.3, "length": 10.0, "width": 4.0, "height": 0.1})
        );
    }
}
