//! A Stripe test double: a real HTTP server that answers the PaymentIntent and Refund calls
//! Souk makes with Stripe-shaped JSON, honours idempotency keys the way Stripe does (a
//! repeated key gets the first answer), and can fail calls with a 500 to exercise retries.
//! It records every request so tests can check what was sent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub form: HashMap<String, String>,
}

#[derive(Debug, Clone)]
struct Intent {
    amount: i64,
    currency: String,
    status: String,
    captured: i64,
    refunded: i64,
    payment_method: String,
    metadata: HashMap<String, String>,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    intents: HashMap<String, Intent>,
    /// Answers already given, by idempotency key.
    replies: HashMap<String, (u16, Value)>,
    /// How many of the next requests to each operation fail with a 500.
    fail_next: HashMap<&'static str, u32>,
    next_id: u64,
}

pub struct StripeDouble {
    addr: SocketAddr,
    inner: Mutex<Inner>,
}

fn intent_json(id: &str, i: &Intent) -> Value {
    json!({
        "id": id,
        "object": "payment_intent",
        "amount": i.amount,
        "amount_capturable": if i.status == "requires_capture" { i.amount } else { 0 },
        "amount_received": i.captured,
        "capture_method": "manual",
        "confirmation_method": "automatic",
        "created": 1_700_000_000,
        "currency": i.currency,
        "livemode": false,
        "metadata": i.metadata,
        "payment_method": i.payment_method,
        "payment_method_types": ["card"],
        "status": i.status,
    })
}

/// A card payment method as Stripe answers it, with a fingerprint derived from its id.
pub fn payment_method_json(pm: &str) -> Value {
    json!({
        "id": pm,
        "object": "payment_method",
        "billing_details": {},
        "created": 1_700_000_000,
        "livemode": false,
        "type": "card",
        "card": {
            "brand": "visa", "exp_month": 12, "exp_year": 2034, "funding": "credit",
            "last4": "4242", "fingerprint": card_fingerprint(pm),
        },
    })
}

/// The fingerprint the double gives the card behind a payment method id.
pub fn card_fingerprint(pm: &str) -> String {
    format!("fp_double_{}", pm.trim_start_matches("pm_card_"))
}

fn error(
    status: u16,
    kind: &str,
    code: &str,
    decline: Option<&str>,
    message: &str,
) -> (u16, Value) {
    let mut e = json!({"type": kind, "code": code, "message": message});
    if let Some(d) = decline {
        e["decline_code"] = json!(d);
    }
    (status, json!({ "error": e }))
}

impl StripeDouble {
    /// Starts the double on a free loopback port.
    pub async fn start() -> anyhow::Result<Arc<Self>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let double = Arc::new(StripeDouble {
            addr: listener.local_addr()?,
            inner: Mutex::new(Inner::default()),
        });
        let app = Router::new()
            .route("/v1/payment_intents", post(handle))
            .route("/v1/payment_intents/{id}", get(handle_id))
            .route("/v1/payment_intents/{id}/{op}", post(handle_op))
            .route("/v1/refunds", post(handle))
            .with_state(double.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(double)
    }

    /// The base URL to configure as the Stripe API base.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Fails the next `n` requests of an operation (`create`, `capture`, `cancel`, `refund`)
    /// with a 500, as Stripe occasionally does.
    pub fn fail_next(&self, op: &'static str, n: u32) {
        self.inner.lock().unwrap().fail_next.insert(op, n);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// The PaymentIntents created for a checkout: (id, status, amount, captured, refunded).
    pub fn intents_for(&self, checkout_id: &str) -> Vec<(String, String, i64, i64, i64)> {
        let inner = self.inner.lock().unwrap();
        let mut v: Vec<_> = inner
            .intents
            .iter()
            .filter(|(_, i)| i.metadata.get("checkout").map(String::as_str) == Some(checkout_id))
            .map(|(id, i)| {
                (
                    id.clone(),
                    i.status.clone(),
                    i.amount,
                    i.captured,
                    i.refunded,
                )
            })
            .collect();
        v.sort();
        v
    }

    fn serve(
        &self,
        op: &'static str,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
        id: Option<&str>,
    ) -> (u16, Value) {
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let form: HashMap<String, String> =
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
                .unwrap_or_default()
                .into_iter()
                .collect();
        let mut inner = self.inner.lock().unwrap();
        inner.requests.push(Recorded {
            method: method.to_string(),
            path: path.to_string(),
            idempotency_key: key.clone(),
            form: form.clone(),
        });
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sk_test_e2e")
        {
            return error(
                401,
                "invalid_request_error",
                "api_key_invalid",
                None,
                "Invalid API Key provided",
            );
        }
        if let Some(k) = &key
            && let Some(reply) = inner.replies.get(k)
        {
            return reply.clone();
        }
        if let Some(n) = inner.fail_next.get_mut(op)
            && *n > 0
        {
            *n -= 1;
            // Like Stripe, a 500 is not saved under the idempotency key: a retry runs again.
            return error(
                500,
                "api_error",
                "api_error",
                None,
                "An unknown error occurred",
            );
        }
        let reply = match (op, id) {
            ("create", _) => {
                inner.next_id += 1;
                let pi = format!("pi_double_{}", inner.next_id);
                let pm = form.get("payment_method").cloned().unwrap_or_default();
                let status = match pm.as_str() {
                    "pm_card_visa" => "requires_capture",
                    "pm_card_authenticationRequired" => "requires_action",
                    _ => "requires_payment_method",
                };
                let metadata = form
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((
                            k.strip_prefix("metadata[")?.strip_suffix(']')?.to_string(),
                            v.clone(),
                        ))
                    })
                    .collect();
                let intent = Intent {
                    amount: form.get("amount").and_then(|a| a.parse().ok()).unwrap_or(0),
                    currency: form.get("currency").cloned().unwrap_or_default(),
                    status: status.into(),
                    captured: 0,
                    refunded: 0,
                    payment_method: pm.clone(),
                    metadata,
                };
                let mut body = intent_json(&pi, &intent);
                // `expand[]=payment_method` answers the payment method object, whose card
                // carries the fingerprint (the same for every use of one card).
                if form
                    .iter()
                    .any(|(k, v)| k.starts_with("expand[") && v == "payment_method")
                {
                    body["payment_method"] = payment_method_json(&pm);
                }
                inner.intents.insert(pi.clone(), intent);
                match pm.as_str() {
                    "pm_card_chargeDeclined" => error(
                        402,
                        "card_error",
                        "card_declined",
                        Some("generic_decline"),
                        "Your card was declined.",
                    ),
                    "pm_card_chargeDeclinedInsufficientFunds" => error(
                        402,
                        "card_error",
                        "card_declined",
                        Some("insufficient_funds"),
                        "Your card has insufficient funds.",
                    ),
                    _ => (200, body),
                }
            }
            (op, Some(id)) => match inner.intents.get_mut(id) {
                None => error(
                    404,
                    "invalid_request_error",
                    "resource_missing",
                    None,
                    "No such payment_intent",
                ),
                Some(i) => match op {
                    "retrieve" => (200, intent_json(id, i)),
                    "capture" if i.status == "requires_capture" => {
                        let amount = form
                            .get("amount_to_capture")
                            .and_then(|a| a.parse().ok())
                            .unwrap_or(i.amount);
                        i.captured = amount;
                        i.status = "succeeded".into();
                        (200, intent_json(id, i))
                    }
                    "cancel"
                        if matches!(
                            i.status.as_str(),
                            "requires_capture" | "requires_action" | "requires_payment_method"
                        ) =>
                    {
                        i.status = "canceled".into();
                        (200, intent_json(id, i))
                    }
                    _ => error(
                        400,
                        "invalid_request_error",
                        "payment_intent_unexpected_state",
                        None,
                        "unexpected state",
                    ),
                },
            },
            ("refund", None) => {
                let pi = form.get("payment_intent").cloned().unwrap_or_default();
                let amount: i64 = form.get("amount").and_then(|a| a.parse().ok()).unwrap_or(0);
                inner.next_id += 1;
                let re = format!("re_double_{}", inner.next_id);
                match inner.intents.get_mut(&pi) {
                    Some(i) if i.status == "succeeded" && i.refunded + amount <= i.captured => {
                        i.refunded += amount;
                        (
                            200,
                            json!({"id": re, "object": "refund", "amount": amount, "created": 1_700_000_000,
                            "currency": i.currency, "payment_intent": pi, "status": "succeeded"}),
                        )
                    }
                    _ => error(
                        400,
                        "invalid_request_error",
                        "charge_already_refunded",
                        None,
                        "cannot refund",
                    ),
                }
            }
            _ => error(
                404,
                "invalid_request_error",
                "resource_missing",
                None,
                "unknown route",
            ),
        };
        if let Some(k) = key {
            inner.replies.insert(k, reply.clone());
        }
        reply
    }
}

fn respond((status, body): (u16, Value)) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

async fn handle(
    State(d): State<Arc<StripeDouble>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = if uri.path() == "/v1/refunds" {
        "refund"
    } else {
        "create"
    };
    respond(d.serve(op, &method, uri.path(), &headers, &body, None))
}

async fn handle_id(
    State(d): State<Arc<StripeDouble>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(d.serve("retrieve", &method, uri.path(), &headers, &[], Some(&id)))
}

async fn handle_op(
    State(d): State<Arc<StripeDouble>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path((id, op)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let op: &'static str = match op.as_str() {
        "capture" => "capture",
        "cancel" => "cancel",
        _ => "unknown",
    };
    respond(d.serve(op, &method, uri.path(), &headers, &body, Some(&id)))
}
