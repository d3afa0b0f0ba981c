//! Returns: the customer asks for one (`/v1/me/orders/{no}/returns`), reads and calls it off
//! (`/v1/me/returns/{rma}`); the vendor (`/v1/vendor/returns/{rma}/...`) or staff
//! (`/v1/admin/returns/{rma}/...`) approve or decline it and record what came back. Each is
//! the return workflow's Update: the workflow refuses an action the return is not ready for
//! (`409 return_action_refused`, with the reason) before anything is recorded. Another
//! vendor's return answers 404 and is written to the audit trail.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use souk_contracts::returns::{
    CancelReturn, Decision, LineCount, POLICY_UNAVAILABLE, Receipt, ReturnClient, ReturnInput,
    ReturnLineRequest, ReturnView, Submitted, initial_search_attributes, workflow_id,
};
use souk_domain::returns::{Counted, PostagePayer, ReturnReason, ReturnStatus, is_rma_no, rma_no};
use souk_proto::returns::v1 as returns_pb;
use temporalio_client::errors::{
    WorkflowQueryError, WorkflowStartError, WorkflowUpdateError, WorkflowUpdateWithStartError,
};
use temporalio_client::{
    WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowUpdateWithStartOptions,
};
use temporalio_common::search_attributes::SearchAttributes;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::vendor::{VendorScope, other_vendors};
use crate::dto::Money;
use crate::error::{ApiError, ApiResult, ErrorBody, temporal_error};
use crate::extract::{self, Caller, Path, Query};
use crate::identity::Principal;
use crate::state::AppState;

pub fn me_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_return))
        .routes(routes!(my_returns))
        .routes(routes!(my_return))
        .routes(routes!(cancel_return))
}

pub fn vendor_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(vendor_returns))
        .routes(routes!(vendor_approve))
        .routes(routes!(vendor_decline))
        .routes(routes!(vendor_receive))
}

pub fn admin_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_returns))
        .routes(routes!(admin_return))
        .routes(routes!(admin_approve))
        .routes(routes!(admin_decline))
        .routes(routes!(admin_receive))
}

/// Why a line goes back: the names of `souk_domain::returns::ReturnReason`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Damaged,
    WrongItem,
    NotAsDescribed,
    ChangedMind,
}

impl From<Reason> for ReturnReason {
    fn from(r: Reason) -> Self {
        match r {
            Reason::Damaged => ReturnReason::Damaged,
            Reason::WrongItem => ReturnReason::WrongItem,
            Reason::NotAsDescribed => ReturnReason::NotAsDescribed,
            Reason::ChangedMind => ReturnReason::ChangedMind,
        }
    }
}

/// Where a return is: the names of `souk_domain::returns::ReturnStatus`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnState {
    Requested,
    Approved,
    Declined,
    LabelIssued,
    InTransit,
    Received,
    Inspected,
    Refunded,
    Closed,
    Cancelled,
    Expired,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnLineBody {
    #[schema(value_type = crate::params::SkuParam)]
    pub sku: String,
    #[schema(minimum = 1, maximum = 10000)]
    #[serde(deserialize_with = "crate::dto::integer")]
    pub quantity: i64,
    pub reason: Reason,
    #[schema(max_length = 500)]
    pub note: Option<String>,
}

/// What to send back: lines of one seller, delivered within the return window.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequestBody {
    /// Each line once.
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<ReturnLineBody>,
}

/// What the warehouse found of the units of one line; the four add up to the units sent back.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountBody {
    #[schema(value_type = crate::params::SkuParam)]
    pub sku: String,
    /// As new: refunded and back on hand.
    #[schema(minimum = 0, maximum = 10000)]
    #[serde(default, deserialize_with = "crate::dto::integer")]
    pub sellable: i64,
    /// Came back not sellable: refunded, not back on hand.
    #[schema(minimum = 0, maximum = 10000)]
    #[serde(default, deserialize_with = "crate::dto::integer")]
    pub damaged: i64,
    /// Something else came back: not refunded.
    #[schema(minimum = 0, maximum = 10000)]
    #[serde(default, deserialize_with = "crate::dto::integer")]
    pub wrong_item: i64,
    /// Not in the parcel: not refunded.
    #[schema(minimum = 0, maximum = 10000)]
    #[serde(default, deserialize_with = "crate::dto::integer")]
    pub missing: i64,
}

/// The parcel came back: where, and what was in it, every line counted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    /// The warehouse code it came back to.
    #[schema(min_length = 1, max_length = 64)]
    pub warehouse: String,
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<CountBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineBody {
    /// Told to the customer.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Count {
    pub sellable: i32,
    pub damaged: i32,
    pub wrong_item: i32,
    pub missing: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnLine {
    pub sku: String,
    pub title: String,
    pub quantity: i32,
    pub reason: Reason,
    pub note: Option<String>,
    pub unit_price: Money,
    /// What the warehouse found, once the parcel is back.
    pub counted: Option<Count>,
    /// What the line was refunded: its price and its shares of the order's discount, tax and
    /// shipping, by the one refund rule, less any restocking fee.
    pub refunded: Option<Money>,
    /// What was kept of what its units are worth: the return policy's restocking fee on
    /// units sent back because the customer changed their mind.
    pub restocking_fee: Option<Money>,
    /// The share of the return postage kept from its refund (when every line of the parcel
    /// is the customer's choice, the customer pays the postage).
    pub postage_kept: Option<Money>,
}

/// Who pays a return parcel's postage.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PostagePaidBy {
    /// The seller pays: a line is the seller's fault (damaged, wrong or not as described),
    /// the seller's return policy pays it, or the postage could not be kept from the refund.
    Vendor,
    /// Every line is the customer's choice: the postage is kept from the refund.
    Customer,
}

/// The label the customer sends the parcel back on.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnLabel {
    pub carrier: String,
    pub service: String,
    pub tracking_code: String,
    /// The label to print.
    pub label_url: String,
    /// Where the parcel can be followed, if the carrier gives a page.
    pub tracking_url: Option<String>,
    /// What the label cost.
    pub postage: Money,
    pub postage_paid_by: PostagePaidBy,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Return {
    pub rma_no: String,
    pub order_no: String,
    pub vendor_id: String,
    pub status: ReturnState,
    pub lines: Vec<ReturnLine>,
    pub decision_note: Option<String>,
    /// Staff are asked to decide: the vendor did not in time.
    pub escalated: bool,
    pub refunded: Option<Money>,
    /// The return label, once the return is approved and a label bought (staff and vendors
    /// still see it once the return is called off or expired and the label voided).
    pub label: Option<ReturnLabel>,
    /// What went wrong on the way that support should know of (shown to vendors and staff,
    /// not to the customer).
    pub problems: Vec<String>,
}

fn state_of(s: ReturnStatus) -> ReturnState {
    match s {
        ReturnStatus::Requested => ReturnState::Requested,
        ReturnStatus::Approved => ReturnState::Approved,
        ReturnStatus::Declined => ReturnState::Declined,
        ReturnStatus::LabelIssued => ReturnState::LabelIssued,
        ReturnStatus::InTransit => ReturnState::InTransit,
        ReturnStatus::Received => ReturnState::Received,
        ReturnStatus::Inspected => ReturnState::Inspected,
        ReturnStatus::Refunded => ReturnState::Refunded,
        ReturnStatus::Closed => ReturnState::Closed,
        ReturnStatus::Cancelled => ReturnState::Cancelled,
        ReturnStatus::Expired => ReturnState::Expired,
    }
}

pub(crate) fn reason_of(r: ReturnReason) -> Reason {
    match r {
        ReturnReason::Damaged => Reason::Damaged,
        ReturnReason::WrongItem => Reason::WrongItem,
        ReturnReason::NotAsDescribed => Reason::NotAsDescribed,
        ReturnReason::ChangedMind => Reason::ChangedMind,
    }
}

fn to_dto(v: ReturnView) -> Return {
    Return {
        rma_no: v.rma_no,
        order_no: v.order_no,
        vendor_id: v.vendor_id.to_string(),
        status: state_of(v.status),
        lines: v
            .lines
            .into_iter()
            .map(|l| ReturnLine {
                sku: l.sku.to_string(),
                title: l.title,
                quantity: l.quantity,
                reason: reason_of(l.reason),
                note: l.note,
                unit_price: Money::from(l.unit_price),
                counted: l.counted.map(|c| Count {
                    sellable: c.sellable,
                    damaged: c.damaged,
                    wrong_item: c.wrong_item,
                    missing: c.missing,
                }),
                refunded: l.refunded.map(Money::from),
                restocking_fee: l.fee.map(Money::from),
                postage_kept: l.postage.map(Money::from),
            })
            .collect(),
        decision_note: v.decision_note,
        escalated: v.escalated,
        refunded: v.refunded.map(Money::from),
        label: v.label.map(|l| ReturnLabel {
            carrier: l.carrier,
            service: l.service,
            tracking_code: l.tracking_code,
            label_url: l.label_url,
            tracking_url: l.tracking_url,
            postage: Money::from(l.postage),
            postage_paid_by: match l.paid_by {
                PostagePayer::Vendor => PostagePaidBy::Vendor,
                PostagePayer::Customer => PostagePaidBy::Customer,
            },
        }),
        problems: v.problems,
    }
}

/// What a customer sees of a return: not support's notes, nor a label voided when the
/// return was called off or expired.
fn for_customer(mut r: Return) -> Return {
    r.problems.clear();
    if matches!(r.status, ReturnState::Cancelled | ReturnState::Expired) {
        r.label = None;
    }
    r
}

fn update_error(e: WorkflowUpdateError) -> ApiError {
    match e {
        WorkflowUpdateError::Failed(failure) => ApiError::new(
            StatusCode::CONFLICT,
            "return_action_refused",
            failure.message.clone(),
        ),
        WorkflowUpdateError::NotFound(_) => ApiError::new(
            StatusCode::CONFLICT,
            "return_closed",
            "the return takes no more actions",
        ),
        other => temporal_error(other),
    }
}

fn missing() -> ApiError {
    ApiError::not_found("return_not_found", "no such return")
}

/// The return `rma` as its workflow sees it; none if there is no such open return.
async fn load(s: &AppState, rma: &str) -> ApiResult<Option<ReturnView>> {
    if !is_rma_no(rma) {
        return Ok(None);
    }
    match ReturnClient::new(s.temporal.client().await?)
        .status(&workflow_id(rma))
        .await
    {
        Ok(view) => Ok(view),
        Err(WorkflowQueryError::NotFound(_)) => Ok(None),
        Err(e) => Err(temporal_error(e)),
    }
}

/// The RMA number of a request: from the customer's `Idempotency-Key` if given (the same key
/// again finds the same return), otherwise fresh.
fn rma_for(customer: &str, headers: &HeaderMap) -> ApiResult<String> {
    match headers.get("idempotency-key") {
        None => {
            let (hi, lo) = uuid::Uuid::new_v4().as_u64_pair();
            Ok(rma_no(hi ^ lo.rotate_left(32)))
        }
        Some(key) => {
            let key = key
                .to_str()
                .ok()
                .filter(|k| {
                    (1..=255).contains(&k.len()) && k.bytes().all(|b| (b'!'..=b'~').contains(&b))
                })
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_idempotency_key",
                        "Idempotency-Key has 1 to 255 visible ASCII characters",
                    )
                })?;
            let digest = Sha256::digest(format!("return:{customer}:{key}"));
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            Ok(rma_no(u64::from_be_bytes(first)))
        }
    }
}

fn lines_of(body: ReturnRequestBody) -> ApiResult<Vec<ReturnLineRequest>> {
    let invalid = |m: &str| ApiError::unprocessable("invalid_body", m.to_string());
    if body.lines.is_empty() || body.lines.len() > 100 {
        return Err(invalid("lines has 1 to 100 entries"));
    }
    let mut lines = Vec::with_capacity(body.lines.len());
    for l in body.lines {
        if !(1..=10_000).contains(&l.quantity) {
            return Err(invalid("a line's quantity is 1 to 10000"));
        }
        if l.note.as_ref().is_some_and(|n| n.chars().count() > 500) {
            return Err(invalid("a line's note has at most 500 characters"));
        }
        let sku = souk_domain::Sku::parse(&l.sku).map_err(|e| invalid(&e.to_string()))?;
        if lines.iter().any(|x: &ReturnLineRequest| x.sku == sku) {
            return Err(invalid("name each line once"));
        }
        lines.push(ReturnLineRequest {
            sku,
            quantity: l.quantity as i32,
            reason: l.reason.into(),
            note: l.note.filter(|n| !n.trim().is_empty()),
        });
    }
    Ok(lines)
}

/// Asks to send back delivered lines of one seller (`requested`, or `approved` at once by the
/// return policy). The same `Idempotency-Key` again answers the same return.
#[utoipa::path(post, path = "/v1/me/orders/{order_no}/returns", tag = "returns",
    params(("order_no" = crate::params::OrderNoParam, Path),
        crate::params::OptionalIdempotencyKey),
    request_body = ReturnRequestBody, security(("bearer" = [])),
    responses((status = 201, body = Return),
        (status = 400, description = "invalid_idempotency_key", body = ErrorBody),
        (status = 404, description = "order_not_found: no such order of the caller's", body = ErrorBody),
        (status = 409, description = "return_request_refused: this Idempotency-Key's request was refused, or was for another order", body = ErrorBody),
        (status = 422, description = "invalid_body; not_returnable (not delivered, not in the order, or in a category the return policy does not take back), outside_return_window, quantity_exceeds_returnable, several_vendors", body = ErrorBody),
        (status = 503, description = "temporal_unavailable; return_policy_unavailable: the return policy could not be checked, ask again", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(order_no = %order_no))]
async fn request_return(
    State(s): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    Path(order_no): Path<String>,
    extract::Json(body): extract::Json<ReturnRequestBody>,
) -> ApiResult<(StatusCode, Json<Return>)> {
    if !souk_domain::order::is_order_no(&order_no) {
        return Err(ApiError::not_found("order_not_found", "no such order"));
    }
    let lines = lines_of(body)?;
    let customer = p.user_id().to_string();
    let rma = rma_for(&customer, &headers)?;
    let client = ReturnClient::new(s.temporal.client().await?);
    let input = ReturnInput {
        rma_no: rma.clone(),
        order_no: order_no.clone(),
        actor: format!("user:{customer}"),
        customer_id: customer.clone(),
        lines,
        settings: s.settings.returns.clone(),
    };
    let options = WorkflowUpdateWithStartOptions::new(
        s.settings.workflow_queue.clone(),
        workflow_id(&rma),
        WorkflowIdConflictPolicy::Fail,
    )
    .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
    .search_attributes(SearchAttributes::new(initial_search_attributes(&input)))
    // Summaries are not encrypted: no personal data in them.
    .static_summary(format!("Return {rma} of order {order_no}"))
    .build();
    let submitted = match client.start(input, options).await {
        Ok(update) => update
            .get_result(temporalio_client::RpcOptions::default())
            .await
            .map_err(temporal_error)?,
        // The same key again: what the first request was answered (waited for if it is
        // still being opened).
        Err(WorkflowUpdateWithStartError::Start(WorkflowStartError::AlreadyStarted { .. })) => {
            let reused = || {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "return_request_refused",
                    "a request with this Idempotency-Key was refused or was for another order; use a new key for a new request",
                )
            };
            match client.submitted(&workflow_id(&rma)).await {
                Ok(Submitted::Opened { view })
                    if view.customer_id == customer && view.order_no == order_no =>
                {
                    Submitted::Opened { view }
                }
                Ok(_) | Err(WorkflowUpdateError::Failed(_) | WorkflowUpdateError::NotFound(_)) => {
                    return Err(reused());
                }
                Err(e) => return Err(temporal_error(e)),
            }
        }
        Err(e) => return Err(temporal_error(e)),
    };
    // A fresh number another return holds (never shown to anyone else).
    if let Submitted::Opened { view } = &submitted
        && (view.customer_id != customer || view.order_no != order_no)
    {
        return Err(temporal_error("an RMA number was taken"));
    }
    match submitted {
        Submitted::Opened { view } => {
            tracing::info!(rma_no = %view.rma_no, "return requested");
            Ok((StatusCode::CREATED, Json(for_customer(to_dto(view)))))
        }
        Submitted::Refused { code, message } if code == "order_not_found" => {
            Err(ApiError::not_found("order_not_found", message))
        }
        Submitted::Refused { code, message } if code == POLICY_UNAVAILABLE => {
            Err(ApiError::unavailable(&code, message))
        }
        Submitted::Refused { code, message } => Err(ApiError::unprocessable(&code, message)),
    }
}

/// One of the caller's returns. Anyone else's answers 404.
#[utoipa::path(get, path = "/v1/me/returns/{rma_no}", tag = "returns", params(("rma_no" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Return),
        (status = 404, description = "return_not_found", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(rma_no = %rma))]
async fn my_return(
    State(s): State<AppState>,
    p: Principal,
    Path(rma): Path<String>,
) -> ApiResult<Json<Return>> {
    match load(&s, &rma).await? {
        Some(v) if v.customer_id == p.user_id() => Ok(Json(for_customer(to_dto(v)))),
        _ => Err(missing()),
    }
}

/// Calls the return off, before the parcel is with the carrier (`→ cancelled`).
#[utoipa::path(post, path = "/v1/me/returns/{rma_no}/cancel", tag = "returns", params(("rma_no" = String, Path)),
    request_body = CancelBody, security(("bearer" = [])),
    responses((status = 200, body = Return),
        (status = 404, description = "return_not_found", body = ErrorBody),
        (status = 409, description = "return_action_refused (with the carrier, received or closed), return_closed", body = ErrorBody),
        (status = 422, description = "invalid_body", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(rma_no = %rma))]
async fn cancel_return(
    State(s): State<AppState>,
    p: Principal,
    Path(rma): Path<String>,
    extract::Json(body): extract::Json<CancelBody>,
) -> ApiResult<Json<Return>> {
    if body
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > 500)
    {
        return Err(ApiError::unprocessable(
            "invalid_body",
            "reason has at most 500 characters",
        ));
    }
    match load(&s, &rma).await? {
        Some(v) if v.customer_id == p.user_id() => {}
        _ => return Err(missing()),
    }
    let view = ReturnClient::new(s.temporal.client().await?)
        .cancel(
            &workflow_id(&rma),
            CancelReturn {
                actor: format!("user:{}", p.user_id()),
                reason: body.reason,
            },
        )
        .await
        .map_err(update_error)?;
    Ok(Json(for_customer(to_dto(view))))
}

/// Who acts on a return: its vendor, or staff (any return).
enum Acting<'a> {
    Vendor(&'a VendorScope),
    Staff(&'a Principal),
}

impl Acting<'_> {
    fn actor(&self) -> String {
        match self {
            Acting::Vendor(scope) => format!("user:{}", scope.user_id),
            Acting::Staff(p) => format!("user:{}", p.user_id()),
        }
    }
}

/// The return as `who` may act on it; another vendor's is a 404 (and audited).
async fn own_return(
    s: &AppState,
    caller: &Caller,
    who: &Acting<'_>,
    rma: &str,
) -> ApiResult<ReturnView> {
    let view = load(s, rma).await?.ok_or_else(missing)?;
    if let Acting::Vendor(scope) = who
        && view.vendor_id.to_string() != scope.vendor_id
    {
        return Err(other_vendors(
            s,
            caller,
            scope,
            serde_json::json!({"return": rma}),
            missing(),
        ));
    }
    Ok(view)
}

async fn decide_as(
    s: &AppState,
    caller: &Caller,
    who: Acting<'_>,
    rma: &str,
    approve: bool,
    reason: Option<String>,
) -> ApiResult<Return> {
    if let Some(r) = &reason
        && (r.trim().is_empty() || r.chars().count() > 500)
    {
        return Err(ApiError::unprocessable(
            "invalid_body",
            "reason has 1 to 500 characters",
        ));
    }
    own_return(s, caller, &who, rma).await?;
    let view = ReturnClient::new(s.temporal.client().await?)
        .decide(
            &workflow_id(rma),
            Decision {
                approve,
                reason,
                actor: who.actor(),
            },
        )
        .await
        .map_err(update_error)?;
    Ok(to_dto(view))
}

async fn receive_as(
    s: &AppState,
    caller: &Caller,
    who: Acting<'_>,
    rma: &str,
    body: ReceiptBody,
) -> ApiResult<Return> {
    let invalid = |m: &str| ApiError::unprocessable("invalid_body", m.to_string());
    let warehouse = body.warehouse.trim().to_string();
    if warehouse.is_empty() || warehouse.chars().count() > 64 {
        return Err(invalid("warehouse has 1 to 64 characters"));
    }
    if body.lines.is_empty() || body.lines.len() > 100 {
        return Err(invalid("lines has 1 to 100 entries"));
    }
    let mut lines = Vec::with_capacity(body.lines.len());
    for l in body.lines {
        let n = |v: i64| {
            i32::try_from(v)
                .ok()
                .filter(|v| (0..=10_000).contains(v))
                .ok_or_else(|| invalid("a count is 0 to 10000"))
        };
        let sku = souk_domain::Sku::parse(&l.sku).map_err(|e| invalid(&e.to_string()))?;
        lines.push(LineCount {
            sku,
            counted: Counted {
                sellable: n(l.sellable)?,
                damaged: n(l.damaged)?,
                wrong_item: n(l.wrong_item)?,
                missing: n(l.missing)?,
            },
        });
    }
    own_return(s, caller, &who, rma).await?;
    let view = ReturnClient::new(s.temporal.client().await?)
        .receive(
            &workflow_id(rma),
            Receipt {
                warehouse,
                lines,
                actor: who.actor(),
            },
        )
        .await
        .map_err(update_error)?;
    Ok(to_dto(view))
}

/// Approves one of the vendor's returns (`requested → approved`): the customer is told how to
/// send it back.
#[utoipa::path(post, path = "/v1/vendor/returns/{rma_no}/approve", tag = "vendor", params(("rma_no" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Return),
        (status = 404, description = "return_not_found: no such return of this vendor", body = ErrorBody),
        (status = 409, description = "return_action_refused (decided already), return_closed", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(rma_no = %rma))]
async fn vendor_approve(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Path(rma): Path<String>,
) -> ApiResult<Json<Return>> {
    decide_as(&s, &caller, Acting::Vendor(&scope), &rma, true, None)
        .await
        .map(Json)
}

/// Declines one of the vendor's returns, with the reason the customer is told.
#[utoipa::path(post, path = "/v1/vendor/returns/{rma_no}/decline", tag = "vendor", params(("rma_no" = String, Path)),
    request_body = DeclineBody, security(("bearer" = [])),
    responses((status = 200, body = Return),
        (status = 404, description = "return_not_found: no such return of this vendor", body = ErrorBody),
        (status = 409, description = "return_action_refused (decided already), return_closed", body = ErrorBody),
        (status = 422, description = "invalid_body", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(rma_no = %rma))]
async fn vendor_decline(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Path(rma): Path<String>,
    extract::Json(body): extract::Json<DeclineBody>,
) -> ApiResult<Json<Return>> {
    decide_as(
        &s,
        &caller,
        Acting::Vendor(&scope),
        &rma,
        false,
        Some(body.reason),
    )
    .await
    .map(Json)
}

/// The parcel came back to the vendor's warehouse: what was in it (`→ inspected`). The
/// refundable units are refunded and the sellable ones put back on hand, then the return
/// closes.
#[utoipa::path(post, path = "/v1/vendor/returns/{rma_no}/receive", tag = "vendor", params(("rma_no" = String, Path)),
    request_body = ReceiptBody, security(("bearer" = [])),
    responses((status = 200, body = Return),
        (status = 404, description = "return_not_found: no such return of this vendor", body = ErrorBody),
        (status = 409, description = "return_action_refused (not approved, counted already, or counts that do not add up to the units sent back), return_closed", body = ErrorBody),
        (status = 422, description = "invalid_body", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(rma_no = %rma))]
async fn vendor_receive(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Path(rma): Path<String>,
    extract::Json(body): extract::Json<ReceiptBody>,
) -> ApiResult<Json<Return>> {
    receive_as(&s, &caller, Acting::Vendor(&scope), &rma, body)
        .await
        .map(Json)
}

/// Any return.
#[utoipa::path(get, path = "/v1/admin/returns/{rma_no}", tag = "admin", params(("rma_no" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Return),
        (status = 404, description = "return_not_found", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(rma_no = %rma))]
async fn admin_return(
    State(s): State<AppState>,
    Path(rma): Path<String>,
) -> ApiResult<Json<Return>> {
    load(&s, &rma)
        .await?
        .map(|v| Json(to_dto(v)))
        .ok_or_else(missing)
}

/// Approves a return for its vendor (`requested → approved`), as staff.
#[utoipa::path(post, path = "/v1/admin/returns/{rma_no}/approve", tag = "admin", params(("rma_no" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Return),
        (status = 404, description = "return_not_found", body = ErrorBody),
        (status = 409, description = "return_action_refused, return_closed", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(rma_no = %rma))]
async fn admin_approve(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path(rma): Path<String>,
) -> ApiResult<Json<Return>> {
    decide_as(&s, &caller, Acting::Staff(&p), &rma, true, None)
        .await
        .map(Json)
}

/// Declines a return for its vendor, as staff, with the reason the customer is told.
#[utoipa::path(post, path = "/v1/admin/returns/{rma_no}/decline", tag = "admin", params(("rma_no" = String, Path)),
    request_body = DeclineBody, security(("bearer" = [])),
    responses((status = 200, body = Return),
        (status = 404, description = "return_not_found", body = ErrorBody),
        (status = 409, description = "return_action_refused, return_closed", body = ErrorBody),
        (status = 422, description = "invalid_body", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(rma_no = %rma))]
async fn admin_decline(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path(rma): Path<String>,
    extract::Json(body): extract::Json<DeclineBody>,
) -> ApiResult<Json<Return>> {
    decide_as(
        &s,
        &caller,
        Acting::Staff(&p),
        &rma,
        false,
        Some(body.reason),
    )
    .await
    .map(Json)
}

/// Records what came back, as staff (`→ inspected`); the refund and restock follow.
#[utoipa::path(post, path = "/v1/admin/returns/{rma_no}/receive", tag = "admin", params(("rma_no" = String, Path)),
    request_body = ReceiptBody, security(("bearer" = [])),
    responses((status = 200, body = Return),
        (status = 404, description = "return_not_found", body = ErrorBody),
        (status = 409, description = "return_action_refused, return_closed", body = ErrorBody),
        (status = 422, description = "invalid_body", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(rma_no = %rma))]
async fn admin_receive(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path(rma): Path<String>,
    extract::Json(body): extract::Json<ReceiptBody>,
) -> ApiResult<Json<Return>> {
    receive_as(&s, &caller, Acting::Staff(&p), &rma, body)
        .await
        .map(Json)
}

/// `?status=&limit=&cursor=` of the customer's and the vendor's lists of returns.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReturnsQuery {
    /// Only returns in this status.
    #[param(value_type = Option<ReturnState>)]
    pub status: Option<ReturnStatus>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Staff's list of returns: every vendor's, narrowed by status, order, vendor, or whether
/// staff were asked to decide.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminReturnsQuery {
    /// Only returns in this status.
    #[param(value_type = Option<ReturnState>)]
    pub status: Option<ReturnStatus>,
    /// Only the returns of this order.
    #[param(value_type = Option<String>, pattern = "^SK-[0-9]{6,19}$")]
    pub order_no: Option<String>,
    /// Only this vendor's returns.
    pub vendor_id: Option<uuid::Uuid>,
    /// `true`: only the returns the vendor did not decide in time, which staff are asked to
    /// (with `status=requested`, the ones still waiting); `false`: only the others.
    pub escalated: Option<bool>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnSummaryLine {
    pub sku: String,
    pub title: String,
    pub quantity: i32,
    pub reason: Reason,
    /// What the line was refunded, once refunded.
    pub refunded: Option<Money>,
    /// What was kept of what its units were worth: the restocking fee, if any.
    pub restocking_fee: Option<Money>,
    /// Kept of its refund: its share of the return postage the customer pays, if any.
    pub postage_kept: Option<Money>,
}

/// A return as a list shows it (its page, `GET .../returns/{rma_no}`, has the counts and
/// notes).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnSummary {
    pub rma_no: String,
    pub order_no: String,
    pub vendor_id: String,
    pub status: ReturnState,
    /// Staff are asked to decide: the vendor did not in time.
    pub escalated: bool,
    pub lines: Vec<ReturnSummaryLine>,
    pub refunded: Option<Money>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnPage {
    pub items: Vec<ReturnSummary>,
    /// Pass as `cursor` for the next page; none on the last.
    pub next_cursor: Option<String>,
}

fn summary_dto(r: returns_pb::ReturnSummary) -> ApiResult<ReturnSummary> {
    let bad = |what: &str| {
        tracing::error!(
            what,
            "the returns service answered a return Souk cannot read"
        );
        ApiError::unavailable(
            "service_unavailable",
            "the returns could not be read; try again shortly",
        )
    };
    let status = ReturnStatus::parse(&r.status).ok_or_else(|| bad("status"))?;
    let lines = r
        .lines
        .into_iter()
        .map(|l| {
            Ok(ReturnSummaryLine {
                reason: ReturnReason::parse(&l.reason)
                    .map(reason_of)
                    .ok_or_else(|| bad("reason"))?,
                sku: l.sku,
                title: l.title,
                quantity: l.quantity,
                refunded: l.refunded.map(Money::from),
                restocking_fee: l.restocking_fee.map(Money::from),
                postage_kept: l.postage_kept.map(Money::from),
            })
        })
        .collect::<ApiResult<_>>()?;
    Ok(ReturnSummary {
        rma_no: r.rma_no,
        order_no: r.order_no,
        vendor_id: r.vendor_id,
        status: state_of(status),
        escalated: r.escalated,
        lines,
        refunded: r.refunded.map(Money::from),
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// One page of returns, as the returns domain lists them.
async fn list(
    s: &AppState,
    caller: &Caller,
    limit: Option<u32>,
    request: returns_pb::ListReturnsRequest,
) -> ApiResult<ReturnPage> {
    let limit = extract::PageQuery {
        limit,
        cursor: None,
    }
    .limit()?;
    let page = s
        .returns
        .clone()
        .list_returns(caller.request(returns_pb::ListReturnsRequest {
            limit,
            cursor: request.cursor.filter(|c| !c.is_empty()),
            ..request
        }))
        .await
        .map_err(|e| ApiError::from_status("returns", e))?
        .into_inner();
    Ok(ReturnPage {
        items: page
            .items
            .into_iter()
            .map(summary_dto)
            .collect::<ApiResult<_>>()?,
        next_cursor: page.next_cursor,
    })
}

/// The caller's returns, newest first.
#[utoipa::path(get, path = "/v1/me/returns", tag = "returns", params(ReturnsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ReturnPage),
        (status = 400, description = "invalid_limit, invalid_cursor, invalid_query", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 503, description = "service_unavailable", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn my_returns(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Query(q): Query<ReturnsQuery>,
) -> ApiResult<Json<ReturnPage>> {
    let request = returns_pb::ListReturnsRequest {
        customer_id: Some(p.user_id().to_string()),
        status: q.status.map(|st| st.as_str().to_string()),
        cursor: q.cursor,
        ..Default::default()
    };
    list(&s, &caller, q.limit, request).await.map(Json)
}

/// The vendor's returns, newest first.
#[utoipa::path(get, path = "/v1/vendor/returns", tag = "vendor", params(ReturnsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ReturnPage),
        (status = 400, description = "invalid_limit, invalid_cursor, invalid_query", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not a vendor admin", body = ErrorBody),
        (status = 503, description = "service_unavailable", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn vendor_returns(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Query(q): Query<ReturnsQuery>,
) -> ApiResult<Json<ReturnPage>> {
    let request = returns_pb::ListReturnsRequest {
        vendor_id: Some(scope.vendor_id.clone()),
        status: q.status.map(|st| st.as_str().to_string()),
        cursor: q.cursor,
        ..Default::default()
    };
    list(&s, &caller, q.limit, request).await.map(Json)
}

/// Every return, newest first; `?escalated=true&status=requested` lists the ones waiting for
/// staff to decide.
#[utoipa::path(get, path = "/v1/admin/returns", tag = "admin", params(AdminReturnsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ReturnPage),
        (status = 400, description = "invalid_limit, invalid_cursor, invalid_query (an order number that is not one)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 503, description = "service_unavailable", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn admin_returns(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<AdminReturnsQuery>,
) -> ApiResult<Json<ReturnPage>> {
    if let Some(no) = &q.order_no
        && !souk_domain::order::is_order_no(no)
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("`{no}` is not an order number"),
        ));
    }
    let request = returns_pb::ListReturnsRequest {
        vendor_id: q.vendor_id.map(|v| v.to_string()),
        status: q.status.map(|st| st.as_str().to_string()),
        order_no: q.order_no,
        escalated: q.escalated,
        cursor: q.cursor,
        ..Default::default()
    };
    list(&s, &caller, q.limit, request).await.map(Json)
}
