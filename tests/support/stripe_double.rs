//! A Stripe test double: a real HTTP server that answers the PaymentIntent and Refund calls
//! Souk makes, as strictly as Stripe documents them:
//!
//! - idempotency: a repeated key gets the first answer, but only for the same request (same
//!   method, path and parameters); another request with the key is `400 idempotency_error`,
//!   and one while the first is still executing is `409 idempotency_key_in_use` (not saved);
//!   the injected 500s model failures before execution began, which Stripe does not save
//!   either, so a retry runs again;
//! - parameters: an unreadable body, a missing or non-integer amount are `400
//!   invalid_request_error` with `parameter_missing` / `parameter_invalid_integer` and the
//!   `param`; a capture above what is capturable and a refund above what is left are refused;
//! - every answer, including an unknown route, is Stripe-shaped JSON.
//!
//! Faults are injected per test, by idempotency-key prefix (a checkout id), so tests running in
//! parallel never consume each other's: a 500, or a request held (in flight at Stripe, or done
//! at Stripe with its answer not delivered yet) until the test releases it. A request is
//! carried out even if the client went away meanwhile, as Stripe would. Every request is
//! recorded; tests count the calls.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub form: HashMap<String, String>,
    /// The status the double answered.
    pub status: u16,
    /// Answered from what was saved under its idempotency key: nothing was done again.
    pub replayed: bool,
}

/// Where a held request waits for the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldAt {
    /// Received, not acted on yet: the call is in flight at Stripe.
    Received,
    /// Done at Stripe (and saved under its key), the answer not sent yet.
    Answered,
}

#[derive(Default)]
struct Gate {
    arrived: Notify,
    release: Notify,
}

/// A request the double holds for a test (see [`StripeDouble::hold_next`]).
pub struct Held(Arc<Gate>);

impl Held {
    /// Waits until the request is held.
    pub async fn arrived(&self) {
        self.0.arrived.notified().await
    }

    /// Lets the request go on.
    pub fn release(&self) {
        self.0.release.notify_one()
    }
}

/// A PaymentIntent as the double keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub id: String,
    pub amount: i64,
    /// Lower case, as Stripe writes it (`usd`).
    pub currency: String,
    pub status: String,
    pub captured: i64,
    pub refunded: i64,
    pub payment_method: String,
    pub metadata: BTreeMap<String, String>,
}

/// The first answer given under an idempotency key, and what it answered.
struct Saved {
    request: String,
    reply: (u16, Value),
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    intents: HashMap<String, Intent>,
    replies: HashMap<String, Saved>,
    /// Faults to inject: (idempotency-key prefix, operation) → how many more.
    faults: HashMap<(String, &'static str), u32>,
    /// Requests to hold: (idempotency-key prefix, operation, where) → the gate.
    holds: Vec<(String, &'static str, HoldAt, Arc<Gate>)>,
    /// Idempotency keys of requests being executed.
    in_flight: HashSet<String>,
    next_id: u64,
}

pub struct StripeDouble {
    addr: SocketAddr,
    inner: Mutex<Inner>,
}

fn intent_json(i: &Intent) -> Value {
    json!({
        "id": i.id,
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

type Reply = (u16, Value);

fn error(status: u16, kind: &str, code: &str, param: Option<&str>, message: &str) -> Reply {
    let mut e = json!({"type": kind, "code": code, "message": message});
    if let Some(p) = param {
        e["param"] = json!(p);
    }
    (status, json!({ "error": e }))
}

fn declined(decline: &str, message: &str, intent: &Intent) -> Reply {
    (
        402,
        json!({"error": {"type": "card_error", "code": "card_declined", "decline_code": decline,
            "message": message, "payment_intent": intent_json(intent)}}),
    )
}

fn missing(param: &str) -> Reply {
    error(
        400,
        "invalid_request_error",
        "parameter_missing",
        Some(param),
        &format!("Missing required param: {param}."),
    )
}

/// An integer parameter: `None` when absent, an error reply when it is not an integer.
fn integer(form: &HashMap<String, String>, param: &str) -> Result<Option<i64>, Reply> {
    match form.get(param) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            error(
                400,
                "invalid_request_error",
                "parameter_invalid_integer",
                Some(param),
                &format!("Invalid integer: {v}"),
            )
        }),
    }
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
            .fallback(unknown_route)
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
    /// whose idempotency key starts with `prefix` (a checkout id), with a 500, as Stripe
    /// occasionally does. Other tests' requests are not touched.
    pub fn fail_next(&self, prefix: &str, op: &'static str, n: u32) {
        self.inner
            .lock()
            .unwrap()
            .faults
            .insert((prefix.to_string(), op), n);
    }

    /// Holds the next request of an operation whose idempotency key starts with `prefix`, at
    /// `at`, until the returned handle releases it.
    pub fn hold_next(&self, prefix: &str, op: &'static str, at: HoldAt) -> Held {
        let gate = Arc::new(Gate::default());
        self.inner
            .lock()
            .unwrap()
            .holds
            .push((prefix.to_string(), op, at, gate.clone()));
        Held(gate)
    }

    /// The customer completes 3-D Secure for an intent: it becomes capturable, as
    /// `payment_intent.amount_capturable_updated` then reports. False if it was not waiting.
    pub fn complete_authentication(&self, intent_id: &str) -> bool {
        let mut inner = self.inner.lock().unwrap();
        match inner.intents.get_mut(intent_id) {
            Some(i) if i.status == "requires_action" => {
                i.status = "requires_capture".into();
                true
            }
            _ => false,
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// The requests whose idempotency key starts with `prefix`, or that concern an intent
    /// created for the checkout `prefix`.
    pub fn requests_for(&self, prefix: &str) -> Vec<Recorded> {
        let inner = self.inner.lock().unwrap();
        let ids: Vec<&String> = inner
            .intents
            .values()
            .filter(|i| i.metadata.get("checkout").map(String::as_str) == Some(prefix))
            .map(|i| &i.id)
            .collect();
        inner
            .requests
            .iter()
            .filter(|r| {
                r.idempotency_key
                    .as_deref()
                    .is_some_and(|k| k.starts_with(prefix))
                    || ids.iter().any(|id| r.path.contains(id.as_str()))
            })
            .cloned()
            .collect()
    }

    /// The PaymentIntents created for a checkout.
    pub fn intents_for(&self, checkout_id: &str) -> Vec<Intent> {
        let inner = self.inner.lock().unwrap();
        let mut v: Vec<Intent> = inner
            .intents
            .values()
            .filter(|i| i.metadata.get("checkout").map(String::as_str) == Some(checkout_id))
            .cloned()
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
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
    ) -> Reply {
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let parsed = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body);
        let pairs = parsed.clone().unwrap_or_default();
        let form: HashMap<String, String> = pairs.iter().cloned().collect();
        let mut inner = self.inner.lock().unwrap();
        let (reply, replayed) = self.answer(
            &mut inner, op, method, path, headers, &key, parsed, &pairs, &form, id,
        );
        inner.requests.push(Recorded {
            method: method.to_string(),
            path: path.to_string(),
            idempotency_key: key,
            form,
            status: reply.0,
            replayed,
        });
        reply
    }

    /// A request as Stripe takes it: refused while another with its key executes, else
    /// carried out (holding where a test asked), whether or not its client is still there.
    async fn dispatch(
        self: Arc<Self>,
        op: &'static str,
        method: Method,
        path: String,
        headers: HeaderMap,
        body: Bytes,
        id: Option<String>,
    ) -> Reply {
        let work = async move {
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let hold = {
                let mut inner = self.inner.lock().unwrap();
                if let Some(k) = &key
                    && !inner.in_flight.insert(k.clone())
                {
                    let reply = error(
                        409,
                        "idempotency_error",
                        "idempotency_key_in_use",
                        None,
                        "There is currently another in-progress request using this idempotency key. Try again later.",
                    );
                    inner.requests.push(Recorded {
                        method: method.to_string(),
                        path: path.clone(),
                        idempotency_key: key,
                        form: HashMap::new(),
                        status: reply.0,
                        replayed: false,
                    });
                    return reply;
                }
                key.as_deref().and_then(|k| {
                    let i = inner
                        .holds
                        .iter()
                        .position(|(prefix, o, ..)| *o == op && k.starts_with(prefix.as_str()))?;
                    let (.., at, gate) = inner.holds.remove(i);
                    Some((at, gate))
                })
            };
            let wait = |at: HoldAt| {
                let hold = hold
                    .as_ref()
                    .filter(|(a, _)| *a == at)
                    .map(|(_, g)| g.clone());
                async move {
                    if let Some(g) = hold {
                        g.arrived.notify_one();
                        g.release.notified().await;
                    }
                }
            };
            wait(HoldAt::Received).await;
            let reply = self.serve(op, &method, &path, &headers, &body, id.as_deref());
            if let Some(k) = &key {
                self.inner.lock().unwrap().in_flight.remove(k);
            }
            wait(HoldAt::Answered).await;
            reply
        };
        tokio::spawn(work)
            .await
            .unwrap_or_else(|_| error(500, "api_error", "api_error", None, "The double failed."))
    }

    #[allow(clippy::too_many_arguments)]
    fn answer(
        &self,
        inner: &mut Inner,
        op: &'static str,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        key: &Option<String>,
        parsed: Result<Vec<(String, String)>, serde_urlencoded::de::Error>,
        pairs: &[(String, String)],
        form: &HashMap<String, String>,
        id: Option<&str>,
    ) -> (Reply, bool) {
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sk_test_e2e")
        {
            return (
                error(
                    401,
                    "invalid_request_error",
                    "api_key_invalid",
                    None,
                    "Invalid API Key provided",
                ),
                false,
            );
        }
        if parsed.is_err() {
            return (
                error(
                    400,
                    "invalid_request_error",
                    "parameter_invalid",
                    None,
                    "The request body could not be read as form parameters.",
                ),
                false,
            );
        }
        // What the key was first used for: the same request answers the same.
        let mut sorted = pairs.to_vec();
        sorted.sort();
        let request = format!("{method} {path} {sorted:?}");
        if let Some(k) = key
            && let Some(saved) = inner.replies.get(k)
        {
            if saved.request != request {
                return (
                    error(
                        400,
                        "idempotency_error",
                        "idempotency_key_in_use",
                        None,
                        "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                    ),
                    false,
                );
            }
            return (saved.reply.clone(), true);
        }
        if let Some(k) = key {
            let fault = inner
                .faults
                .iter_mut()
                .find(|((prefix, o), n)| *o == op && **n > 0 && k.starts_with(prefix.as_str()));
            if let Some((_, n)) = fault {
                *n -= 1;
                return (
                    error(
                        500,
                        "api_error",
                        "api_error",
                        None,
                        "An unknown error occurred",
                    ),
                    false,
                );
            }
        }
        let reply = self.act(inner, op, form, id);
        if let Some(k) = key
            && reply.0 != 500
        {
            inner.replies.insert(
                k.clone(),
                Saved {
                    request,
                    reply: reply.clone(),
                },
            );
        }
        (reply, false)
    }

    fn act(
        &self,
        inner: &mut Inner,
        op: &'static str,
        form: &HashMap<String, String>,
        id: Option<&str>,
    ) -> Reply {
        match (op, id) {
            ("create", _) => {
                let amount = match integer(form, "amount") {
                    Ok(Some(a)) if a > 0 => a,
                    Ok(Some(_)) => {
                        return error(
                            400,
                            "invalid_request_error",
                            "amount_too_small",
                            Some("amount"),
                            "Amount must be at least 1.",
                        );
                    }
                    Ok(None) => return missing("amount"),
                    Err(e) => return e,
                };
                let Some(currency) = form.get("currency").cloned() else {
                    return missing("currency");
                };
                let pm = form.get("payment_method").cloned();
                if form.get("confirm").map(String::as_str) == Some("true") && pm.is_none() {
                    return missing("payment_method");
                }
                let pm = pm.unwrap_or_default();
                inner.next_id += 1;
                let status = match pm.as_str() {
                    "pm_card_visa" | "pm_card_mastercard" | "pm_card_amex" => "requires_capture",
                    "pm_card_authenticationRequired" => "requires_action",
                    _ => "requires_payment_method",
                };
                let intent = Intent {
                    id: format!("pi_double_{}", inner.next_id),
                    amount,
                    currency,
                    status: status.into(),
                    captured: 0,
                    refunded: 0,
                    payment_method: pm.clone(),
                    metadata: form
                        .iter()
                        .filter_map(|(k, v)| {
                            Some((
                                k.strip_prefix("metadata[")?.strip_suffix(']')?.to_string(),
                                v.clone(),
                            ))
                        })
                        .collect(),
                };
                let mut body = intent_json(&intent);
                // `expand[]=payment_method` answers the payment method object, whose card
                // carries the fingerprint (the same for every use of one card).
                if form
                    .iter()
                    .any(|(k, v)| k.starts_with("expand[") && v == "payment_method")
                {
                    body["payment_method"] = payment_method_json(&pm);
                }
                inner.intents.insert(intent.id.clone(), intent.clone());
                match pm.as_str() {
                    "pm_card_chargeDeclined" => {
                        declined("generic_decline", "Your card was declined.", &intent)
                    }
                    "pm_card_chargeDeclinedInsufficientFunds" => declined(
                        "insufficient_funds",
                        "Your card has insufficient funds.",
                        &intent,
                    ),
                    _ => (200, body),
                }
            }
            (op, Some(id)) => {
                let Some(i) = inner.intents.get_mut(id) else {
                    return error(
                        404,
                        "invalid_request_error",
                        "resource_missing",
                        Some("intent"),
                        &format!("No such payment_intent: '{id}'"),
                    );
                };
                match op {
                    "retrieve" => (200, intent_json(i)),
                    "capture" if i.status == "requires_capture" => {
                        let amount = match integer(form, "amount_to_capture") {
                            Ok(a) => a.unwrap_or(i.amount),
                            Err(e) => return e,
                        };
                        if amount <= 0 || amount > i.amount {
                            return error(
                                400,
                                "invalid_request_error",
                                "amount_too_large",
                                Some("amount_to_capture"),
                                "The amount to capture must be between 1 and the amount capturable.",
                            );
                        }
                        i.captured = amount;
                        i.status = "succeeded".into();
                        (200, intent_json(i))
                    }
                    "cancel"
                        if matches!(
                            i.status.as_str(),
                            "requires_capture" | "requires_action" | "requires_payment_method"
                        ) =>
                    {
                        i.status = "canceled".into();
                        (200, intent_json(i))
                    }
                    "capture" | "cancel" => error(
                        400,
                        "invalid_request_error",
                        "payment_intent_unexpected_state",
                        None,
                        &format!(
                            "This PaymentIntent's status is {}, so it cannot be {}.",
                            i.status,
                            if op == "capture" {
                                "captured"
                            } else {
                                "canceled"
                            }
                        ),
                    ),
                    _ => unknown(),
                }
            }
            ("refund", None) => {
                let Some(pi) = form.get("payment_intent").cloned() else {
                    return missing("payment_intent");
                };
                let amount = match integer(form, "amount") {
                    Ok(a) => a,
                    Err(e) => return e,
                };
                inner.next_id += 1;
                let re = format!("re_double_{}", inner.next_id);
                let Some(i) = inner.intents.get_mut(&pi) else {
                    return error(
                        404,
                        "invalid_request_error",
                        "resource_missing",
                        Some("payment_intent"),
                        &format!("No such payment_intent: '{pi}'"),
                    );
                };
                if i.status != "succeeded" {
                    return error(
                        400,
                        "invalid_request_error",
                        "charge_not_captured",
                        None,
                        "This PaymentIntent has nothing captured to refund.",
                    );
                }
                let left = i.captured - i.refunded;
                if left == 0 {
                    return error(
                        400,
                        "invalid_request_error",
                        "charge_already_refunded",
                        None,
                        "This charge has already been refunded.",
                    );
                }
                // Without an amount, Stripe refunds what is left.
                let amount = amount.unwrap_or(left);
                if amount <= 0 || amount > left {
                    return error(
                        400,
                        "invalid_request_error",
                        "amount_too_large",
                        Some("amount"),
                        &format!(
                            "Refund amount ({amount}) is greater than unrefunded amount ({left})."
                        ),
                    );
                }
                i.refunded += amount;
                (
                    200,
                    json!({"id": re, "object": "refund", "amount": amount, "created": 1_700_000_000,
                        "currency": i.currency, "payment_intent": pi, "status": "succeeded"}),
                )
            }
            _ => unknown(),
        }
    }
}

fn unknown() -> Reply {
    error(
        404,
        "invalid_request_error",
        "resource_missing",
        None,
        "Unrecognized request URL.",
    )
}

fn respond((status, body): Reply) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

async fn unknown_route() -> Response {
    respond(unknown())
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
    respond(
        d.dispatch(op, method, uri.path().to_string(), headers, body, None)
            .await,
    )
}

async fn handle_id(
    State(d): State<Arc<StripeDouble>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(
        d.dispatch(
            "retrieve",
            method,
            uri.path().to_string(),
            headers,
            Bytes::new(),
            Some(id),
        )
        .await,
    )
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
    respond(
        d.dispatch(op, method, uri.path().to_string(), headers, body, Some(id))
            .await,
    )
}
