//! The sandbox carrier: the default, with no keys and no network. It answers at once and
//! the same way every time: rates from the parcel's billable weight and the route's zone,
//! labels whose tracking code follows from the shipment (so buying again is buying the same
//! label), and tracking webhooks signed like a real carrier's, which a developer or a test
//! makes with [`Sandbox::event`] (`souk shipping simulate`) and sends through the same
//! webhook endpoint as a real carrier's.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use souk_domain::money::mul_div_round;
use souk_domain::shipment::ShipmentStatus;
use souk_domain::{CountryCode, Currency, Money};

use super::{
    Carrier, CarrierError, Headers, Label, Quote, Rate, RateRequest, TrackingUpdate, WebhookError,
    header, hmac_matches, hmac_sha256_hex,
};

/// The header the sandbox signs its webhooks in: `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "x-sandbox-signature";
/// The name on its rates.
pub const CARRIER: &str = "SandboxPost";

pub struct Sandbox {
    webhook_secret: String,
}

/// How far a parcel goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// Within one country.
    Domestic,
    /// Between two countries of the European Union.
    Regional,
    International,
}

const EU: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

pub fn zone(from: CountryCode, to: CountryCode) -> Zone {
    if from == to {
        Zone::Domestic
    } else if EU.contains(&from.as_str()) && EU.contains(&to.as_str()) {
        Zone::Regional
    } else {
        Zone::International
    }
}

/// A service's price: a base and a price per started kilogram, in hundredths of the
/// currency's major unit, times the zone's factor (in tenths); and its delivery days per zone.
struct Service {
    name: &'static str,
    base: i64,
    per_kg: i64,
    days: [u32; 3],
}

const SERVICES: [Service; 2] = [
    Service {
        name: "standard",
        base: 450,
        per_kg: 120,
        days: [3, 5, 8],
    },
    Service {
        name: "express",
        base: 900,
        per_kg: 200,
        days: [1, 2, 4],
    },
];

fn zone_index(zone: Zone) -> usize {
    match zone {
        Zone::Domestic => 0,
        Zone::Regional => 1,
        Zone::International => 2,
    }
}

/// The sandbox's price of `service` for `billable_grams` over `zone`, in `currency`.
fn price(service: &Service, billable_grams: u64, zone: Zone, currency: Currency) -> Money {
    const FACTOR_TENTHS: [i64; 3] = [10, 16, 25];
    let kilos = i64::try_from(billable_grams.div_ceil(1_000)).unwrap_or(i64::MAX / 1_000);
    let hundredths = (service.base + service.per_kg * kilos) * FACTOR_TENTHS[zone_index(zone)] / 10;
    // Hundredths of the major unit, in the currency's own minor units (JPY has none, KWD 3).
    let minor = mul_div_round(hundredths, 10i64.pow(currency.exponent()), 100);
    Money::new(minor, currency)
}

fn carrier_shipment(reference: &str) -> String {
    format!("sbx_shp_{reference}")
}

fn rate_id(reference: &str, service: &str) -> String {
    format!("sbx_rate_{reference}_{service}")
}

/// The tracking code of the label of a sandbox shipment: the same for every purchase of it.
pub fn tracking_code(carrier_shipment: &str) -> String {
    let digest = sha2::Sha256::digest(carrier_shipment.as_bytes());
    format!("SBX{}", hex::encode_upper(&digest[..6]))
}

/// A tracking event as the sandbox sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub tracking_code: String,
    pub status: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl Sandbox {
    pub fn new(webhook_secret: impl Into<String>) -> Self {
        Self {
            webhook_secret: webhook_secret.into(),
        }
    }

    /// A signed webhook delivery reporting `status` for `tracking_code`: its body and its
    /// signature header. `id` is the event id (a redelivery repeats it).
    pub fn event(
        &self,
        id: &str,
        tracking_code: &str,
        status: ShipmentStatus,
        at: DateTime<Utc>,
        location: Option<&str>,
    ) -> (Vec<u8>, (String, String)) {
        let event = Event {
            id: id.to_string(),
            tracking_code: tracking_code.to_string(),
            status: status.as_str().to_string(),
            at: at.to_rfc3339_opts(SecondsFormat::Millis, true),
            location: location.map(str::to_string),
        };
        let body = serde_json::to_vec(&event).expect("an event serializes");
        let signature = format!(
            "sha256={}",
            hmac_sha256_hex(self.webhook_secret.as_bytes(), &body)
        );
        (body, (SIGNATURE_HEADER.to_string(), signature))
    }
}

/// Sends a signed tracking event for `tracking_code` to Souk's carrier webhook at `api`
/// (`http://127.0.0.1:8080`), as the sandbox carrier does; what the endpoint answered.
/// `souk shipping simulate` uses it: the event goes the way a real carrier's goes.
pub async fn send_event(
    api: &str,
    secret: &str,
    tracking_code: &str,
    status: ShipmentStatus,
    location: Option<&str>,
) -> anyhow::Result<String> {
    anyhow::ensure!(
        status.is_carrier_status(),
        "a carrier reports in_transit, out_for_delivery, delivered, exception or returned_to_sender, not {status}"
    );
    let id = format!("sbx_evt_{}", uuid::Uuid::now_v7().simple());
    let (body, (name, value)) =
        Sandbox::new(secret).event(&id, tracking_code, status, Utc::now(), location);
    let reply = reqwest::Client::new()
        .post(format!(
            "{}/v1/webhooks/carriers/sandbox",
            api.trim_end_matches('/')
        ))
        .header("content-type", "application/json")
        .header(name, value)
        .body(body)
        .send()
        .await?;
    let code = reply.status();
    let text = reply.text().await?;
    anyhow::ensure!(code.is_success(), "the API answered {code}: {text}");
    Ok(text)
}

#[tonic::async_trait]
impl Carrier for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn quote(&self, req: &RateRequest) -> Result<Quote, CarrierError> {
        let zone = zone(req.from.country, req.to.country);
        let grams = req.parcel.billable_grams();
        let rates = SERVICES
            .iter()
            .map(|s| Rate {
                id: rate_id(&req.reference, s.name),
                carrier: CARRIER.to_string(),
                service: s.name.to_string(),
                price: price(s, grams, zone, req.currency),
                delivery_days: Some(s.days[zone_index(zone)]),
            })
            .collect();
        Ok(Quote {
            carrier_shipment: carrier_shipment(&req.reference),
            rates,
        })
    }

    async fn buy(&self, carrier_shipment: &str, rate_id: &str) -> Result<Label, CarrierError> {
        let Some(reference) = carrier_shipment.strip_prefix("sbx_shp_") else {
            return Err(CarrierError::rejected(
                "unknown_shipment",
                format!("`{carrier_shipment}` is not a sandbox shipment"),
            ));
        };
        let known = SERVICES
            .iter()
            .any(|s| self::rate_id(reference, s.name) == rate_id);
        if !known {
            return Err(CarrierError::rejected(
                "unknown_rate",
                format!("`{rate_id}` is not a rate of {carrier_shipment}"),
            ));
        }
        let tracking_code = tracking_code(carrier_shipment);
        Ok(Label {
            carrier_shipment: carrier_shipment.to_string(),
            rate_id: rate_id.to_string(),
            label_url: format!("https://labels.sandbox.invalid/{tracking_code}.pdf"),
            tracking_url: Some(format!("https://track.sandbox.invalid/{tracking_code}")),
            tracking_code,
        })
    }

    async fn void(&self, carrier_shipment: &str) -> Result<(), CarrierError> {
        if carrier_shipment.starts_with("sbx_shp_") {
            Ok(())
        } else {
            Err(CarrierError::rejected(
                "unknown_shipment",
                format!("`{carrier_shipment}` is not a sandbox shipment"),
            ))
        }
    }

    fn parse_webhook(
        &self,
        headers: &Headers,
        body: &[u8],
    ) -> Result<Vec<TrackingUpdate>, WebhookError> {
        let signature = header(headers, SIGNATURE_HEADER)
            .and_then(|v| v.strip_prefix("sha256="))
            .ok_or(WebhookError::Signature)?;
        if !hmac_matches(self.webhook_secret.as_bytes(), body, signature) {
            return Err(WebhookError::Signature);
        }
        let event: Event =
            serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        let status = ShipmentStatus::parse(&event.status)
            .filter(|s| s.is_carrier_status())
            .ok_or_else(|| {
                WebhookError::Malformed(format!("`{}` is not a tracking status", event.status))
            })?;
        let at = DateTime::parse_from_rfc3339(&event.at)
            .map_err(|e| WebhookError::Malformed(format!("at: {e}")))?
            .with_timezone(&Utc);
        Ok(vec![TrackingUpdate {
            event_id: event.id,
            tracking_code: event.tracking_code,
            carrier_status: event.status,
            status: Some(status),
            at,
            location: event.location,
            message: None,
        }])
    }
}

#[cfg(test)]
mod tests {
    use souk_contracts::orders::Address;
    use souk_domain::shipment::Parcel;

    use super::*;

    fn address(country: &str) -> Address {
        Address {
            name: "Ada".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "Town".into(),
            postal_code: "12345".into(),
            country: CountryCode::parse(country).unwrap(),
        }
    }

    fn request(to: &str, grams: u32) -> RateRequest {
        RateRequest {
            reference: "0190aaaa".into(),
            from: address("DE"),
            to: address(to),
            parcel: Parcel::new(grams, 200, 150, 100).unwrap(),
            currency: Currency::EUR,
        }
    }

    #[tokio::test]
    async fn rates_follow_weight_and_zone_and_never_change() {
        let sandbox = Sandbox::new("s");
        let home = sandbox.quote(&request("DE", 1_500)).await.unwrap();
        assert_eq!(home.carrier_shipment, "sbx_shp_0190aaaa");
        let prices: Vec<_> = home
            .rates
            .iter()
            .map(|r| (r.service.as_str(), r.price.amount))
            .collect();
        // 2 started kg: standard 4.50 + 2 × 1.20 = 6.90; express 9.00 + 2 × 2.00 = 13.00.
        assert_eq!(prices, [("standard", 690), ("express", 1_300)]);
        let eu = sandbox.quote(&request("FR", 1_500)).await.unwrap();
        assert_eq!(eu.rates[0].price.amount, 1_104); // × 1.6
        let world = sandbox.quote(&request("US", 1_500)).await.unwrap();
        assert_eq!(world.rates[0].price.amount, 1_725); // × 2.5
        assert_eq!(world.rates[1].delivery_days, Some(4));
        assert_eq!(sandbox.quote(&request("DE", 1_500)).await.unwrap(), home);
        let heavier = sandbox.quote(&request("DE", 2_500)).await.unwrap();
        assert!(heavier.rates[0].price.amount > home.rates[0].price.amount);
    }

    #[test]
    fn prices_are_in_the_currencys_own_minor_units() {
        let s = &SERVICES[0];
        assert_eq!(price(s, 1_000, Zone::Domestic, Currency::EUR).amount, 570);
        let yen = Currency::parse("JPY").unwrap();
        assert_eq!(price(s, 1_000, Zone::Domestic, yen).amount, 6); // 5.70 → 6
        let dinar = Currency::parse("KWD").unwrap();
        assert_eq!(price(s, 1_000, Zone::Domestic, dinar).amount, 5_700);
    }

    #[tokio::test]
    async fn buying_again_is_buying_the_same_label() {
        let sandbox = Sandbox::new("s");
        let quote = sandbox.quote(&request("DE", 800)).await.unwrap();
        let rate = &quote.rates[1].id;
        let first = sandbox.buy(&quote.carrier_shipment, rate).await.unwrap();
        let again = sandbox.buy(&quote.carrier_shipment, rate).await.unwrap();
        assert_eq!(first, again);
        assert!(first.tracking_code.starts_with("SBX") && first.tracking_code.len() == 15);
        let other = sandbox
            .buy("sbx_shp_other", "sbx_rate_other_standard")
            .await
            .unwrap();
        assert_ne!(other.tracking_code, first.tracking_code);
        let wrong = sandbox
            .buy(&quote.carrier_shipment, "sbx_rate_other_standard")
            .await;
        assert!(
            matches!(wrong, Err(CarrierError::Rejected { code, .. }) if code == "unknown_rate")
        );
    }

    #[test]
    fn a_webhook_is_believed_only_with_its_signature() {
        let sandbox = Sandbox::new("secret");
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .to_utc();
        let (body, (name, value)) = sandbox.event(
            "sbx_evt_1",
            "SBX123",
            ShipmentStatus::InTransit,
            at,
            Some("Berlin"),
        );
        let updates = sandbox
            .parse_webhook(&[(name.clone(), value.clone())], &body)
            .unwrap();
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].status, Some(ShipmentStatus::InTransit));
        assert_eq!(updates[0].at, at);
        assert_eq!(updates[0].location.as_deref(), Some("Berlin"));

        let mut tampered = body.clone();
        tampered[5] ^= 1;
        assert_eq!(
            sandbox.parse_webhook(&[(name.clone(), value.clone())], &tampered),
            Err(WebhookError::Signature)
        );
        assert_eq!(
            sandbox.parse_webhook(&[], &body),
            Err(WebhookError::Signature)
        );
        let other = Sandbox::new("another secret");
        assert_eq!(
            other.parse_webhook(&[(name, value)], &body),
            Err(WebhookError::Signature)
        );
        // Signed, but a status no carrier reports.
        let (body, header) = sandbox.event("sbx_evt_2", "SBX123", ShipmentStatus::Packed, at, None);
        assert!(matches!(
            sandbox.parse_webhook(&[header], &body),
            Err(WebhookError::Malformed(_))
        ));
    }
}
