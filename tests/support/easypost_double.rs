//! An EasyPost test double: a real HTTP server that answers the v2 calls Souk makes, in the
//! shapes EasyPost documents (`POST /v2/shipments` with its rates, `GET /v2/shipments/{id}`,
//! `POST /v2/shipments/{id}/buy`, `POST /v2/shipments/{id}/refund`), behind HTTP Basic with
//! the API key as the user name; every error is `{"error": {"code", "message"}}`.
//!
//! Like EasyPost, a shipment holds at most one label: buying one that has a label is refused
//! (`422 SHIPMENT.POSTAGE.EXISTS`). Faults are injected per test, by the prefix of the
//! shipment's `reference` (Souk's shipment id), so parallel tests never take each other's: a
//! 500 before the purchase, a 500 after it (the label is bought, the answer lost), or an
//! answer delayed after the purchase (the client times out, or its worker is killed). Every
//! purchase is counted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};

/// What the next buy of a matching shipment does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuyFault {
    /// 500 before anything is bought.
    FailBefore,
    /// The label is bought, then 500: the answer is lost.
    FailAfter,
    /// The label is bought, and the answer sent only after this long.
    Delay(Duration),
}

#[derive(Debug, Clone)]
struct Shipment {
    id: String,
    reference: String,
    rates: Vec<Value>,
    label: Option<(String, String)>, // (rate id, tracking code)
    refunded: bool,
}

#[derive(Default)]
struct Inner {
    shipments: HashMap<String, Shipment>,
    /// Purchases made, by shipment id.
    purchases: HashMap<String, u32>,
    faults: Vec<(String, BuyFault)>,
    requests: Vec<(String, String)>,
    next: u64,
}

pub struct EasyPostDouble {
    addr: SocketAddr,
    api_key: String,
    inner: Mutex<Inner>,
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": message, "errors": [] } })),
    )
        .into_response()
}

fn shipment_json(s: &Shipment) -> Value {
    let selected = s
        .label
        .as_ref()
        .and_then(|(rate, _)| s.rates.iter().find(|r| r["id"] == json!(rate)).cloned());
    json!({
        "id": s.id,
        "object": "Shipment",
        "mode": "test",
        "reference": s.reference,
        "rates": s.rates,
        "selected_rate": selected,
        "postage_label": s.label.as_ref().map(|(_, code)| json!({
            "object": "PostageLabel",
            "label_url": format!("https://easypost-files.s3.amazonaws.com/files/postage_label/{code}.png"),
            "label_file_type": "image/png",
        })),
        "tracking_code": s.label.as_ref().map(|(_, code)| code),
        "tracker": s.label.as_ref().map(|(_, code)| json!({
            "id": format!("trk_{code}"),
            "object": "Tracker",
            "tracking_code": code,
            "status": "pre_transit",
            "public_url": format!("https://track.easypost.com/{code}"),
        })),
        "refund_status": if s.refunded { json!("submitted") } else { Value::Null },
        "fees": [],
    })
}

impl EasyPostDouble {
    /// Starts the double on a free loopback port; calls must authenticate with `api_key`.
    pub async fn start(api_key: &str) -> anyhow::Result<Arc<Self>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let double = Arc::new(Self {
            addr: listener.local_addr()?,
            api_key: api_key.to_string(),
            inner: Mutex::new(Inner::default()),
        });
        let app = Router::new()
            .route("/v2/shipments", post(create))
            .route("/v2/shipments/{id}", get(show))
            .route("/v2/shipments/{id}/buy", post(buy))
            .route("/v2/shipments/{id}/refund", post(refund))
            .fallback(|| async {
                error(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    "The requested resource could not be found.",
                )
            })
            .with_state(double.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(double)
    }

    /// The base URL to configure (`shipping.easypost_api_base`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next buy of a shipment whose reference starts with `reference` does `fault`.
    pub fn fault_next_buy(&self, reference: &str, fault: BuyFault) {
        self.inner
            .lock()
            .unwrap()
            .faults
            .push((reference.to_string(), fault));
    }

    /// How many labels were bought for shipments whose reference starts with `reference`.
    pub fn purchases(&self, reference: &str) -> u32 {
        let inner = self.inner.lock().unwrap();
        inner
            .shipments
            .values()
            .filter(|s| s.reference.starts_with(reference))
            .map(|s| inner.purchases.get(&s.id).copied().unwrap_or(0))
            .sum()
    }

    /// The calls received for shipments whose reference starts with `reference`, as
    /// `(method, path)`.
    pub fn calls(&self, reference: &str) -> Vec<(String, String)> {
        let inner = self.inner.lock().unwrap();
        inner
            .requests
            .iter()
            .filter(|(_, path)| {
                inner
                    .shipments
                    .values()
                    .any(|s| s.reference.starts_with(reference) && path.contains(&s.id))
                    || path == "/v2/shipments"
            })
            .cloned()
            .collect()
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:", self.api_key))
        );
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == expected)
    }

    fn log(&self, method: &str, path: String) {
        self.inner
            .lock()
            .unwrap()
            .requests
            .push((method.to_string(), path));
    }
}

/// A tracker event as EasyPost posts it to a webhook, and its `X-Hmac-Signature` under
/// `secret`.
pub fn tracker_event(
    secret: &str,
    event_id: &str,
    tracking_code: &str,
    status: &str,
    datetime: &str,
) -> (Vec<u8>, (String, String)) {
    let body = serde_json::to_vec(&json!({
        "id": event_id,
        "object": "Event",
        "mode": "test",
        "description": "tracker.updated",
        "previous_attributes": {},
        "result": {
            "id": format!("trk_{tracking_code}"),
            "object": "Tracker",
            "mode": "test",
            "tracking_code": tracking_code,
            "status": status,
            "carrier": "USPS",
            "updated_at": datetime,
            "public_url": format!("https://track.easypost.com/{tracking_code}"),
            "tracking_details": [{
                "object": "TrackingDetail",
                "message": format!("Status: {status}"),
                "status": status,
                "datetime": datetime,
                "source": "USPS",
                "tracking_location": {"object": "TrackingLocation", "city": "Reno", "state": "NV", "country": "US", "zip": "89501"}
            }]
        }
    }))
    .expect("an event serializes");
    let signature = {
        use hmac::Mac;
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(&body);
        hex::encode(mac.finalize().into_bytes())
    };
    (
        body,
        (
            "x-hmac-signature".to_string(),
            format!("hmac-sha256-hex={signature}"),
        ),
    )
}

async fn create(
    State(d): State<Arc<EasyPostDouble>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    d.log("POST", "/v2/shipments".into());
    if !d.authorized(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "APIKEY.REQUIRED",
            "Please provide an API key.",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "PARAMETER.INVALID_JSON",
            "The request body is not JSON.",
        );
    };
    let s = &body["shipment"];
    for address in ["to_address", "from_address"] {
        for field in ["street1", "city", "zip", "country"] {
            if !s[address][field].is_string() {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "PARAMETER.REQUIRED",
                    &format!("Missing required parameter: shipment.{address}.{field}"),
                );
            }
        }
    }
    let weight = s["parcel"]["weight"].as_f64().unwrap_or(0.0);
    if weight <= 0.0 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "SHIPMENT.PARCEL.WEIGHT.INVALID",
            "Parcel weight must be greater than zero.",
        );
    }
    let mut inner = d.inner.lock().unwrap();
    inner.next += 1;
    let id = format!("shp_{:032x}", inner.next);
    // Dearer with weight (ounces), like a real rate card; EasyPost answers decimals as text.
    let cents = |base: u64, per_oz: u64| base + per_oz * weight.ceil() as u64;
    let rate = |n: u32, carrier: &str, service: &str, cents: u64, days: u32| {
        json!({
            "id": format!("rate_{:030x}{n:02}", inner.next),
            "object": "Rate",
            "mode": "test",
            "shipment_id": id,
            "carrier": carrier,
            "service": service,
            "rate": format!("{}.{:02}", cents / 100, cents % 100),
            "currency": "USD",
            "retail_rate": format!("{}.{:02}", (cents + 150) / 100, (cents + 150) % 100),
            "retail_currency": "USD",
            "delivery_days": days,
            "est_delivery_days": days,
            "delivery_date_guaranteed": false,
        })
    };
    let rates = vec![
        rate(1, "USPS", "Priority", cents(747, 9), 2),
        rate(2, "USPS", "GroundAdvantage", cents(549, 4), 5),
        rate(3, "UPS", "NextDayAir", cents(3_120, 25), 1),
    ];
    let shipment = Shipment {
        id: id.clone(),
        reference: s["reference"].as_str().unwrap_or("").to_string(),
        rates,
        label: None,
        refunded: false,
    };
    let answer = shipment_json(&shipment);
    inner.shipments.insert(id, shipment);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

async fn show(
    State(d): State<Arc<EasyPostDouble>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    d.log("GET", format!("/v2/shipments/{id}"));
    if !d.authorized(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "APIKEY.REQUIRED",
            "Please provide an API key.",
        );
    }
    match d.inner.lock().unwrap().shipments.get(&id) {
        Some(s) => axum::Json(shipment_json(s)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource could not be found.",
        ),
    }
}

async fn buy(
    State(d): State<Arc<EasyPostDouble>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    d.log("POST", format!("/v2/shipments/{id}/buy"));
    if !d.authorized(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "APIKEY.REQUIRED",
            "Please provide an API key.",
        );
    }
    let rate_id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["rate"]["id"].as_str().map(str::to_string));
    let (answer, delay) = {
        let mut inner = d.inner.lock().unwrap();
        let Some(shipment) = inner.shipments.get(&id).cloned() else {
            return error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "The requested resource could not be found.",
            );
        };
        let Some(rate_id) = rate_id.filter(|r| shipment.rates.iter().any(|x| x["id"] == json!(r)))
        else {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "SHIPMENT.RATE.INVALID",
                "The rate is not one of this shipment's.",
            );
        };
        if shipment.label.is_some() {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "SHIPMENT.POSTAGE.EXISTS",
                "Postage already exists for this shipment.",
            );
        }
        let fault = inner
            .faults
            .iter()
            .position(|(prefix, _)| shipment.reference.starts_with(prefix.as_str()))
            .map(|i| inner.faults.remove(i).1);
        if fault == Some(BuyFault::FailBefore) {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "Something went wrong.",
            );
        }
        let code = format!(
            "9400{:018}",
            inner.next * 1_000 + u64::from(inner.purchases.len() as u32)
        );
        *inner.purchases.entry(id.clone()).or_default() += 1;
        let s = inner.shipments.get_mut(&id).expect("looked up above");
        s.label = Some((rate_id, code));
        let answer = shipment_json(s);
        match fault {
            Some(BuyFault::FailAfter) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_SERVER_ERROR",
                    "Something went wrong.",
                );
            }
            Some(BuyFault::Delay(d)) => (answer, Some(d)),
            _ => (answer, None),
        }
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    axum::Json(answer).into_response()
}

async fn refund(
    State(d): State<Arc<EasyPostDouble>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    d.log("POST", format!("/v2/shipments/{id}/refund"));
    if !d.authorized(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "APIKEY.REQUIRED",
            "Please provide an API key.",
        );
    }
    let mut inner = d.inner.lock().unwrap();
    match inner.shipments.get_mut(&id) {
        Some(s) if s.label.is_some() => {
            s.refunded = true;
            axum::Json(shipment_json(s)).into_response()
        }
        Some(_) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "SHIPMENT.REFUND.UNAVAILABLE",
            "This shipment has no postage to refund.",
        ),
        None => error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource could not be found.",
        ),
    }
}
