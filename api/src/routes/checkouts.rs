//! Checkouts: each is a `Checkout` workflow (`checkout-<cart id>`). `POST` starts one (or
//! returns the one this `Idempotency-Key` started) and answers when the saga has decided;
//! `GET` reads its status; `cancel` signals it.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use souk_contracts::checkout::{
    self, CHECKOUT_STATE, CUSTOMER_EMAIL, CheckoutClient, CheckoutInput, CheckoutSettings,
    CheckoutState, CheckoutStatus, FAILURE_CODE, ORDER_NO, PaymentChoice, memo as memo_key,
};
use souk_contracts::orders::Address;
use souk_domain::CountryCode;
use souk_proto::cart::v1 as cart_pb;
use temporalio_client::errors::{
    WorkflowInteractionError, WorkflowStartError, WorkflowUpdateWithStartError,
};
use temporalio_client::{
    RpcOptions, WorkflowExecutionStatus, WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
    WorkflowUpdateWithStartOptions,
};
use temporalio_common::MemoValues;
use temporalio_common::search_attributes::SearchAttributes;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dto::{self, PostalAddress};
use crate::error::{ApiError, ApiResult, ErrorBody, temporal_error};
use crate::extract::{Caller, Json as Body, Path};
use crate::state::AppState;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_checkout))
        .routes(routes!(get_checkout))
        .routes(routes!(cancel_checkout))
}

fn status_url(checkout_id: &str) -> String {
    format!("/v1/checkouts/{checkout_id}")
}

/// What the API knows about the latest run of a checkout.
struct Run {
    status: WorkflowExecutionStatus,
    idempotency_key: Option<String>,
    attempt: u32,
    state: Option<String>,
    order_no: Option<String>,
    failure_code: Option<String>,
    customer_id: Option<String>,
    request_hash: Option<String>,
}

async fn describe(
    s: &AppState,
    client: &CheckoutClient,
    checkout_id: &str,
) -> ApiResult<Option<Run>> {
    match client.describe(checkout_id).await {
        Ok(d) => {
            // The memo is encrypted like every payload: read it through the codec.
            let t = &s.temporal;
            let sa = d.search_attributes();
            Ok(Some(Run {
                status: d.status(),
                idempotency_key: t.memo(&d, memo_key::IDEMPOTENCY_KEY)?,
                attempt: t.memo(&d, memo_key::ATTEMPT)?.unwrap_or(1),
                state: sa.get(&CHECKOUT_STATE),
                order_no: sa.get(&ORDER_NO),
                failure_code: sa.get(&FAILURE_CODE),
                customer_id: t.memo(&d, memo_key::CUSTOMER_ID)?,
                request_hash: t.memo(&d, memo_key::REQUEST_HASH)?,
            }))
        }
        Err(WorkflowInteractionError::NotFound(_)) => Ok(None),
        Err(e) => Err(temporal_error(e)),
    }
}

/// The shipping address given, or the saved one named by `shipping_address_id`.
async fn shipping_address(
    s: &AppState,
    caller: &Caller,
    body: &CreateCheckout,
) -> ApiResult<PostalAddress> {
    match (&body.shipping_address, &body.shipping_address_id) {
        (Some(a), None) => Ok(a.clone()),
        (None, Some(id)) => {
            let user = caller.user_id().ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "sign_in_required",
                    "sign in to use a saved address",
                )
            })?;
            let a = s
                .users
                .clone()
                .get_address(caller.request(souk_proto::users::v1::AddressRef {
                    user_id: user.to_string(),
                    address_id: id.clone(),
                }))
                .await
                .map_err(|e| ApiError::from_status("users", e))?
                .into_inner()
                .fields
                .unwrap_or_default();
            Ok(PostalAddress {
                name: a.name,
                line1: a.line1,
                line2: a.line2,
                city: a.city,
                postal_code: a.postal_code,
                country: a.country,
            })
        }
        (Some(_), Some(_)) => Err(ApiError::unprocessable(
            "ambiguous_address",
            "send shipping_address or shipping_address_id, not both",
        )),
        (None, None) => Err(ApiError::unprocessable(
            "address_required",
            "send shipping_address, or shipping_address_id for a saved address",
        )
        .with_details(serde_json::json!({"field": "shipping_address"}))),
    }
}

fn validate(
    body: &CreateCheckout,
    a: &PostalAddress,
) -> ApiResult<(Address, CountryCode, souk_domain::text::Email)> {
    let bad = |code: &str, field: &str, message: &str| {
        ApiError::unprocessable(code, message.to_string())
            .with_details(serde_json::json!({ "field": field }))
    };
    if uuid::Uuid::parse_str(&body.cart_id).is_err() {
        return Err(ApiError::not_found(
            "cart_not_found",
            "cart not found or expired",
        ));
    }
    // One address parser for everything that sends mail: a single plain mailbox.
    let email = souk_domain::text::Email::parse(&body.email).map_err(|e| {
        bad(
            "invalid_email",
            "email",
            &format!("email must be one e-mail address: {e}"),
        )
    })?;
    // Names and address lines go into mails and pages: one line, no markup.
    let mut fields = Vec::with_capacity(5);
    for (field, value, max) in [
        ("shipping_address.name", Some(&a.name), 200),
        ("shipping_address.line1", Some(&a.line1), 200),
        (
            "shipping_address.line2",
            a.line2.as_ref().filter(|l| !l.trim().is_empty()),
            200,
        ),
        ("shipping_address.city", Some(&a.city), 100),
        ("shipping_address.postal_code", Some(&a.postal_code), 20),
    ] {
        let v = match value {
            None => None,
            Some(v) => Some(souk_domain::text::line(v, max).map_err(|e| {
                bad(
                    "invalid_address",
                    field,
                    &format!("{field} must be 1 to {max} characters on one line: {e}"),
                )
            })?),
        };
        fields.push(v);
    }
    let country = CountryCode::parse(&a.country).map_err(|_| {
        bad(
            "invalid_country",
            "shipping_address.country",
            "country must be an ISO 3166-1 alpha-2 code",
        )
    })?;
    let pm = body.payment.payment_method.trim();
    if pm.is_empty() || pm.len() > 100 || !pm.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(bad(
            "invalid_payment_method",
            "payment.payment_method",
            "payment_method must be a payment method id",
        ));
    }
    let mut fields = fields.into_iter();
    let mut next = || fields.next().flatten();
    Ok((
        Address {
            name: next().unwrap_or_default(),
            line1: next().unwrap_or_default(),
            line2: next(),
            city: next().unwrap_or_default(),
            postal_code: next().unwrap_or_default(),
            country,
        },
        country,
        email,
    ))
}

/// SHA-256 (hex) of what a checkout request asks for once validated: the cart, who pays, the
/// address it ships to and the payment method. Like Stripe, a key reused with another request
/// is refused rather than answered with the first one's result.
fn request_hash(
    cart_id: &str,
    email: &str,
    address: &Address,
    payment_method: &str,
    customer_id: Option<&str>,
) -> String {
    let canonical = serde_json::json!({
        "cart_id": cart_id, "email": email, "shipping_address": address,
        "payment_method": payment_method, "customer_id": customer_id,
    });
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.to_string().as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn to_dto(s: &CheckoutStatus) -> Checkout {
    Checkout {
        checkout_id: s.checkout_id.clone(),
        attempt: s.attempt,
        state: s.state.as_str().to_string(),
        step: serde_json::to_value(s.step)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string)),
        decided: s.decided,
        order_no: s.order_no.clone(),
        total: s.total.map(dto::Money::from),
        failure: s.failure.as_ref().map(|f| CheckoutFailure {
            code: f.code.clone(),
            message: f.message.clone(),
        }),
        status_url: status_url(&s.checkout_id),
    }
}

/// Starts a checkout of a cart: reserve stock, authorize the payment, place the order split by
/// vendor, capture, and confirm by e-mail. Answers once the saga has decided (201), or after
/// a few seconds with 202 and a status URL. The same `Idempotency-Key` always answers with the
/// same checkout; another key while one runs is a 409.
#[utoipa::path(post, path = "/v1/checkouts", tag = "checkouts",
    params(crate::params::IdempotencyKey),
    request_body = CreateCheckout,
    responses(
        (status = 201, description = "Decided: order placed, or failed with a reason", body = Checkout),
        (status = 202, description = "Still running; poll the status URL", body = Checkout),
        (status = 400, description = "missing Idempotency-Key, malformed JSON", body = ErrorBody),
        (status = 404, description = "cart not found", body = ErrorBody),
        (status = 409, description = "another checkout of this cart is running, or it was checked out", body = ErrorBody),
        (status = 422, description = "invalid e-mail, address, payment method; empty cart; no shipping to the address's country (unsupported_destination); the Idempotency-Key was used with another request (idempotency_key_reused)", body = ErrorBody),
        (status = 503, description = "the workflow engine is unavailable", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(cart_id = %body.cart_id))]
async fn create_checkout(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body<CreateCheckout>,
) -> ApiResult<(StatusCode, HeaderMap, Json<Checkout>)> {
    let key = crate::params::idempotency_key(&headers)?;
    let given = shipping_address(&s, &caller, &body).await?;
    let (address, country, email) = validate(&body, &given)?;
    // The cart must exist, hold something and be able to ship where the order goes before
    // a saga is started for it.
    let cart = s
        .cart
        .clone()
        .get_cart_summary(caller.request(cart_pb::GetCartRequest {
            cart_id: body.cart_id.clone(),
            destination: Some(country.to_string()),
        }))
        .await
        .map_err(super::carts::cart_error(&s, &caller))?
        .into_inner();
    if cart.item_count == 0 {
        return Err(ApiError::unprocessable("cart_empty", "the cart is empty"));
    }

    let email = email.as_str().to_lowercase();
    let payment_method = body.payment.payment_method.trim().to_string();
    let hash = request_hash(
        &body.cart_id,
        &email,
        &address,
        &payment_method,
        caller.user_id(),
    );
    let client = CheckoutClient::new(s.temporal.client().await?);
    let checkout_id = checkout::workflow_id(&body.cart_id);
    // First try as attempt 1, refusing to start if this cart has any run already; only then
    // look at what is there. The common case costs one call to Temporal.
    let mut next: Option<u32> = Some(1);
    for _ in 0..4 {
        let attempt = match next.take() {
            Some(a) => a,
            None => {
                match describe(&s, &client, &checkout_id).await? {
                    None => 1,
                    Some(run) if run.idempotency_key.as_deref() == Some(key.as_str()) => {
                        if run.request_hash.as_deref().is_some_and(|h| h != hash) {
                            return Err(ApiError::unprocessable(
                                "idempotency_key_reused",
                                "this Idempotency-Key was used with another request; use a new key for a new request",
                            )
                            .with_details(serde_json::json!({ "checkout_id": checkout_id })));
                        }
                        return decided(&s, &client, &checkout_id).await;
                    }
                    Some(run) if run.status == WorkflowExecutionStatus::Running => {
                        return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "checkout_in_progress",
                        "another checkout of this cart is running",
                    )
                    .with_details(serde_json::json!({ "checkout_id": checkout_id, "status_url": status_url(&checkout_id) })));
                    }
                    Some(run)
                        if run.state.as_deref() == Some(CheckoutState::Completed.as_str()) =>
                    {
                        return Err(ApiError::new(StatusCode::CONFLICT, "cart_already_checked_out", "this cart was checked out")
                        .with_details(serde_json::json!({ "checkout_id": checkout_id, "order_no": run.order_no })));
                    }
                    Some(run) => run.attempt + 1,
                }
            }
        };
        let input = CheckoutInput {
            checkout_id: checkout_id.clone(),
            attempt,
            cart_id: body.cart_id.clone(),
            email: email.clone(),
            shipping_address: address.clone(),
            payment: PaymentChoice {
                provider: None,
                payment_method: payment_method.clone(),
            },
            settings: CheckoutSettings {
                reservation_ttl_seconds: s.settings.checkout.reservation_ttl_seconds,
                capture_delay_seconds: s.settings.checkout.capture_delay_seconds,
                price_tolerance_bp: s.settings.checkout.price_tolerance_bp,
                payment_wait_seconds: Some(s.settings.checkout.payment_wait_seconds),
                shipment: Some(s.settings.checkout.shipment.clone()),
            },
            request_id: caller.request_id.clone(),
            customer_id: caller.user_id().map(str::to_string),
        };
        let mut memo = MemoValues::new();
        memo.insert(memo_key::IDEMPOTENCY_KEY, key.clone());
        memo.insert(memo_key::ATTEMPT, attempt);
        memo.insert(memo_key::REQUEST_HASH, hash.clone());
        if let Some(r) = &caller.request_id {
            memo.insert(memo_key::REQUEST_ID, r.clone());
        }
        if let Some(c) = caller.user_id() {
            memo.insert(memo_key::CUSTOMER_ID, c.to_string());
        }
        // A retry after a failed attempt may reuse the id; a first attempt may not.
        let reuse = if attempt == 1 {
            WorkflowIdReusePolicy::RejectDuplicate
        } else {
            WorkflowIdReusePolicy::AllowDuplicate
        };
        let options = WorkflowUpdateWithStartOptions::new(
            s.settings.workflow_queue.clone(),
            checkout_id.clone(),
            WorkflowIdConflictPolicy::Fail,
        )
        .id_reuse_policy(reuse)
        .memo(memo)
        .search_attributes(SearchAttributes::new([
            CUSTOMER_EMAIL.value_set(input.email.clone()),
            CHECKOUT_STATE.value_set(CheckoutState::Running.as_str().into()),
        ]))
        // Summaries are not encrypted: no personal data in them.
        .static_summary(format!("Checkout of cart {}", body.cart_id))
        .build();
        // Start and ask for the decision in one call: the update rides on the first task.
        let started = client.start(input, options).await;
        match started {
            Ok(update) => {
                tracing::info!(checkout_id = %checkout_id, attempt, "checkout started");
                let wait = update.get_result(RpcOptions::default());
                let status =
                    match tokio::time::timeout(s.settings.checkout.decision_wait, wait).await {
                        Ok(Ok(status)) => Some(to_dto(&status)),
                        Ok(Err(_)) | Err(_) => None,
                    };
                return answer(&s, &client, &checkout_id, status).await;
            }
            // This cart has a run already (or another request started one just now): look.
            Err(WorkflowUpdateWithStartError::Start(WorkflowStartError::AlreadyStarted {
                ..
            })) => continue,
            Err(e) => return Err(temporal_error(e)),
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "checkout_in_progress",
        "the checkout is being started by another request",
    ))
}

/// Waits (bounded) for the saga's decision and answers 201, or 202 if it is still running.
async fn decided(
    s: &AppState,
    client: &CheckoutClient,
    checkout_id: &str,
) -> ApiResult<(StatusCode, HeaderMap, Json<Checkout>)> {
    let wait = client.wait_decided(checkout_id);
    let status = match tokio::time::timeout(s.settings.checkout.decision_wait, wait).await {
        Ok(Ok(status)) => Some(to_dto(&status)),
        Ok(Err(_)) | Err(_) => None,
    };
    answer(s, client, checkout_id, status).await
}

/// 201 with the status once decided; otherwise 202 with where to look.
async fn answer(
    s: &AppState,
    client: &CheckoutClient,
    checkout_id: &str,
    status: Option<Checkout>,
) -> ApiResult<(StatusCode, HeaderMap, Json<Checkout>)> {
    let status = match status {
        Some(st) => st,
        // Not known yet (still deciding, or closed before the update could answer): read it.
        None => read_status(s, client, checkout_id)
            .await?
            .unwrap_or(Checkout {
                checkout_id: checkout_id.to_string(),
                attempt: 1,
                state: "running".into(),
                step: None,
                decided: false,
                order_no: None,
                total: None,
                failure: None,
                status_url: status_url(checkout_id),
            }),
    };
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&status_url(checkout_id)) {
        headers.insert(header::LOCATION, v);
    }
    // A repeated request (same Idempotency-Key) answers like the first one.
    let code = if status.decided {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    };
    Ok((code, headers, Json(status)))
}

/// The checkout's status: from the workflow itself when a worker answers, otherwise from what
/// Temporal records (so support can read it while workers are down).
async fn read_status(
    s: &AppState,
    client: &CheckoutClient,
    checkout_id: &str,
) -> ApiResult<Option<Checkout>> {
    Ok(read_status_owned(s, client, checkout_id)
        .await?
        .map(|(c, _)| c))
}

/// The checkout's status and the customer it belongs to (`None`: a guest's).
async fn read_status_owned(
    s: &AppState,
    client: &CheckoutClient,
    checkout_id: &str,
) -> ApiResult<Option<(Checkout, Option<String>)>> {
    let query = client.status(checkout_id);
    if let Ok(Ok(status)) = tokio::time::timeout(Duration::from_secs(2), query).await {
        return Ok(Some((to_dto(&status), status.customer_id.clone())));
    }
    let Some(run) = describe(s, client, checkout_id).await? else {
        return Ok(None);
    };
    let state = run.state.clone().unwrap_or_else(|| match run.status {
        WorkflowExecutionStatus::Running => "running".into(),
        WorkflowExecutionStatus::Completed => "completed".into(),
        WorkflowExecutionStatus::Canceled => "cancelled".into(),
        _ => "failed".into(),
    });
    let owner = run.customer_id.clone();
    Ok(Some((
        Checkout {
            checkout_id: checkout_id.to_string(),
            attempt: run.attempt,
            decided: run.order_no.is_some() || run.status != WorkflowExecutionStatus::Running,
            state,
            step: None,
            order_no: run.order_no,
            total: None,
            failure: run.failure_code.map(|code| CheckoutFailure {
                message: code.replace('_', " "),
                code,
            }),
            status_url: status_url(checkout_id),
        },
        owner,
    )))
}

/// A signed-in customer's checkout is theirs (and operators'); a guest's is anyone's who
/// knows its id. Someone else's answers like a missing one, and is audited.
fn owned_by_caller(
    s: &AppState,
    caller: &Caller,
    checkout_id: &str,
    owner: Option<&str>,
) -> ApiResult<()> {
    match owner {
        Some(o) if caller.user_id() != Some(o) && !caller.is_operator() => {
            crate::auth::audit_denied(
                s,
                caller,
                caller.user_id(),
                serde_json::json!({"reason": "other_customer", "resource": "checkout", "checkout_id": checkout_id}),
            );
            Err(ApiError::not_found(
                "checkout_not_found",
                "no such checkout",
            ))
        }
        _ => Ok(()),
    }
}

fn checkout_path(checkout_id: &str) -> ApiResult<()> {
    let cart = checkout_id
        .strip_prefix("checkout-")
        .ok_or_else(|| ApiError::not_found("checkout_not_found", "no such checkout"))?;
    uuid::Uuid::parse_str(cart)
        .map_err(|_| ApiError::not_found("checkout_not_found", "no such checkout"))?;
    Ok(())
}

/// A checkout's status: step, state, order number, failure.
#[utoipa::path(get, path = "/v1/checkouts/{checkout_id}", tag = "checkouts", params(("checkout_id" = String, Path)),
    responses((status = 200, body = Checkout), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(checkout_id = %checkout_id))]
async fn get_checkout(
    State(s): State<AppState>,
    caller: Caller,
    Path(checkout_id): Path<String>,
) -> ApiResult<Json<Checkout>> {
    checkout_path(&checkout_id)?;
    let client = CheckoutClient::new(s.temporal.client().await?);
    let (status, owner) = read_status_owned(&s, &client, &checkout_id)
        .await?
        .ok_or_else(|| ApiError::not_found("checkout_not_found", "no such checkout"))?;
    owned_by_caller(&s, &caller, &checkout_id, owner.as_deref())?;
    Ok(Json(status))
}

/// Asks a running checkout to stop and undo what it did. Honoured until the payment is
/// captured.
#[utoipa::path(post, path = "/v1/checkouts/{checkout_id}/cancel", tag = "checkouts",
    params(("checkout_id" = String, Path)),
    responses((status = 202, body = CancelRequested),
        (status = 404, body = ErrorBody),
        (status = 409, description = "already captured, or ended", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(checkout_id = %checkout_id))]
async fn cancel_checkout(
    State(s): State<AppState>,
    caller: Caller,
    Path(checkout_id): Path<String>,
) -> ApiResult<(StatusCode, Json<CancelRequested>)> {
    checkout_path(&checkout_id)?;
    let client = CheckoutClient::new(s.temporal.client().await?);
    let (status, owner) = read_status_owned(&s, &client, &checkout_id)
        .await?
        .ok_or_else(|| ApiError::not_found("checkout_not_found", "no such checkout"))?;
    owned_by_caller(&s, &caller, &checkout_id, owner.as_deref())?;
    let past_capture = matches!(
        status.step.as_deref(),
        Some("capture" | "commit" | "confirm" | "compensating" | "done")
    );
    if status.state != "running" || past_capture {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "checkout_not_cancellable",
            "the checkout has captured the payment or has ended",
        )
        .with_details(serde_json::json!({ "state": status.state, "step": status.step })));
    }
    let reason = format!("cancelled by {}", caller.actor);
    client
        .cancel(&checkout_id, reason)
        .await
        .map_err(temporal_error)?;
    tracing::info!(checkout_id = %checkout_id, "checkout cancel requested");
    Ok((
        StatusCode::ACCEPTED,
        Json(CancelRequested {
            status_url: status_url(&checkout_id),
            checkout_id,
            cancel_requested: true,
        }),
    ))
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
    pub shipping_address: Option<PostalAddress>,
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
    pub total: Option<dto::Money>,
    pub failure: Option<CheckoutFailure>,
    pub status_url: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CancelRequested {
    pub checkout_id: String,
    pub cancel_requested: bool,
    pub status_url: String,
}
