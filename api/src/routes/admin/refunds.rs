//! Goodwill refunds: staff refund part of an order without a return
//! (`POST /v1/admin/orders/{order_no}/refunds`): units the customer keeps, by the one refund
//! rule, or an amount spread over lines by what each has left. Never more than a line paid,
//! never more than the order's capture; made once per `Idempotency-Key` by the goodwill
//! refund workflow, and written to the audit trail with who and why.

use std::pin::pin;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use souk_contracts::goodwill::{
    GoodwillClient, GoodwillInput, GoodwillStatus, GoodwillView, id_of, is_refund_id, refund_id,
    workflow_id,
};
use souk_contracts::orders::LineUnits;
use souk_domain::order::is_order_no;
use temporalio_client::errors::{
    WorkflowQueryError, WorkflowStartError, WorkflowUpdateError, WorkflowUpdateWithStartError,
};
use temporalio_client::{
    WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowUpdateWithStartOptions,
};
use temporalio_common::search_attributes::SearchAttributes;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::audit;
use crate::dto::Money;
use crate::error::{ApiError, ApiResult, ErrorBody, temporal_error};
use crate::extract::{self, Caller, Path};
use crate::identity::Principal;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(refund_order))
        .routes(routes!(get_refund))
}

/// How long the answer waits for the provider before it says `refunding`.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// How long a query of a refund's state may take before the answer goes without it.
const QUERY_WITHIN: Duration = Duration::from_secs(2);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundLineBody {
    #[schema(value_type = crate::params::SkuParam)]
    pub sku: String,
    /// Units refunded (the customer keeps them); leave out when an `amount` is given.
    #[schema(minimum = 1, maximum = 10000)]
    #[serde(default, deserialize_with = "optional_integer")]
    pub quantity: Option<i64>,
}

fn optional_integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    crate::dto::integer(d).map(Some)
}

/// Units of lines, or an amount (spread over `lines`, or over the whole order when no lines
/// are named), and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    #[serde(default)]
    #[schema(max_items = 100)]
    pub lines: Vec<RefundLineBody>,
    /// In the order's currency, in minor units (at least 1).
    pub amount: Option<Money>,
    /// Why: in the order's timeline and the audit trail, not in the customer's mail.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    /// Recorded; the payment provider is being asked.
    Refunding,
    Refunded,
    /// The provider refused it and the order still counts it: owed, for support
    /// (`problems` says why).
    Owed,
    /// The provider refused it: nothing was refunded, and it is left to refund (with a new
    /// key); `problems` says why.
    Failed,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundedLine {
    pub sku: String,
    /// Units refunded (0: money without units).
    pub quantity: i32,
    pub amount: Money,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Refund {
    /// Names the refund: `GET /v1/admin/orders/{order_no}/refunds/{refund_id}`.
    pub refund_id: String,
    pub order_no: String,
    pub status: RefundState,
    pub amount: Money,
    pub lines: Vec<RefundedLine>,
    pub reason: String,
    /// Who asked: `user:<id>`.
    pub actor: String,
    pub problems: Vec<String>,
}

/// The refund as answered; a refused one is its 4xx.
fn answer(id: String, v: GoodwillView) -> ApiResult<Refund> {
    let status = match v.status {
        GoodwillStatus::Refused => {
            let r = v
                .refused
                .unwrap_or_else(|| souk_contracts::goodwill::Refusal {
                    code: "invalid_refund".into(),
                    message: "the refund was refused".into(),
                });
            return Err(match r.code.as_str() {
                "order_not_found" => ApiError::not_found("order_not_found", r.message),
                "not_captured" => ApiError::new(StatusCode::CONFLICT, "not_captured", r.message),
                code => ApiError::unprocessable(code, r.message),
            });
        }
        GoodwillStatus::Recording | GoodwillStatus::Refunding => RefundState::Refunding,
        GoodwillStatus::Refunded => RefundState::Refunded,
        GoodwillStatus::Owed => RefundState::Owed,
        GoodwillStatus::Failed => RefundState::Failed,
    };
    let amount = v
        .amount
        .ok_or_else(|| ApiError::internal("a recorded refund without an amount"))?;
    Ok(Refund {
        refund_id: id,
        order_no: v.order_no,
        status,
        amount: amount.into(),
        lines: v
            .lines
            .into_iter()
            .map(|l| RefundedLine {
                sku: l.sku.to_string(),
                quantity: l.quantity,
                amount: l.amount.into(),
            })
            .collect(),
        reason: v.reason,
        actor: v.actor,
        problems: v.problems,
    })
}

/// The request as the workflow takes it, checked for shape (the bounds are the orders
/// domain's).
fn input_of(order_no: &str, body: RefundBody, actor: String) -> ApiResult<GoodwillInput> {
    let invalid = |m: &str| ApiError::unprocessable("invalid_body", m.to_string());
    let reason = body.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(invalid("reason has 1 to 500 characters"));
    }
    if body.lines.len() > 100 {
        return Err(invalid("lines has at most 100 entries"));
    }
    let amount = match body.amount {
        None => None,
        Some(m) => {
            let currency = souk_domain::Currency::parse(&m.currency)
                .map_err(|e| invalid(&format!("amount.currency: {e}")))?;
            if m.amount < 1 {
                return Err(invalid("amount.amount is at least 1"));
            }
            Some(souk_domain::Money::new(m.amount, currency))
        }
    };
    let mut lines = Vec::new();
    let mut skus = Vec::new();
    for l in body.lines {
        let sku = souk_domain::Sku::parse(&l.sku).map_err(|e| invalid(&e.to_string()))?;
        if skus.contains(&sku) {
            return Err(invalid("name each line once"));
        }
        match (amount.is_some(), l.quantity) {
            (true, Some(_)) => {
                return Err(invalid(
                    "with an amount, name lines without quantities: the amount is spread over them",
                ));
            }
            (false, None) => {
                return Err(invalid(
                    "without an amount, give each line the units to refund",
                ));
            }
            (false, Some(q)) if !(1..=10_000).contains(&q) => {
                return Err(invalid("a line's quantity is 1 to 10000"));
            }
            (false, Some(q)) => lines.push(LineUnits {
                sku: sku.clone(),
                quantity: q as i32,
            }),
            (true, None) => {}
        }
        skus.push(sku);
    }
    if amount.is_none() && lines.is_empty() {
        return Err(invalid("give an amount, or lines with units to refund"));
    }
    let request = {
        let canon =
            serde_json::json!({"lines": lines, "amount": amount, "skus": skus, "reason": reason});
        let digest = Sha256::digest(canon.to_string());
        digest[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    Ok(GoodwillInput {
        order_no: order_no.to_string(),
        lines,
        skus: if amount.is_some() { skus } else { Vec::new() },
        amount,
        reason,
        actor,
        request,
    })
}

/// Refunds part of an order without a return: units the customer keeps (by the refund rule:
/// unit price less its share of the discount, plus its shares of tax and shipping), or an
/// amount spread over the named lines (every line when none are) by what each has left. Never
/// more than what a line has left; units only of parts delivered to the customer. Made once
/// per `Idempotency-Key` (the same key again answers the first request's refund; with another
/// request: 409). Answers when the provider has refunded it (or refused it: `failed`, and
/// nothing is taken from what is left), or, if that takes longer, with `refunding`. Every
/// request is in the audit trail (`order.goodwill_refund`) with who, why and what came of it.
#[utoipa::path(post, path = "/v1/admin/orders/{order_no}/refunds", tag = "admin",
    params(("order_no" = crate::params::OrderNoParam, Path), crate::params::IdempotencyKey),
    request_body = RefundBody, security(("bearer" = [])),
    responses((status = 201, body = Refund),
        (status = 400, description = "idempotency_key_required, invalid_idempotency_key", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "forbidden, mfa_required", body = ErrorBody),
        (status = 404, description = "order_not_found", body = ErrorBody),
        (status = 409, description = "not_captured (nothing to refund yet); idempotency_key_reused (this key was used for another request)", body = ErrorBody),
        (status = 422, description = "invalid_body; exceeds_refundable (more than the lines have left, or nothing left of them), not_in_order (a line not in the order, or named twice), not_delivered (units of a part the customer does not have yet), currency_mismatch, invalid_refund (the orders domain could not take the refund)", body = ErrorBody),
        (status = 500, description = "internal: a recorded refund the workflow answered without an amount", body = ErrorBody),
        (status = 503, description = "temporal_unavailable", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(order_no = %order_no))]
async fn refund_order(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    headers: HeaderMap,
    Path(order_no): Path<String>,
    extract::Json(body): extract::Json<RefundBody>,
) -> ApiResult<(StatusCode, Json<Refund>)> {
    // Every request is audited with who, why and what came of it.
    let mut details = serde_json::json!({"order_no": order_no, "reason": body.reason.trim()});
    let done = make_refund(&s, &p, &headers, &order_no, body, &mut details).await;
    let outcome = match &done {
        Ok((refund, replay)) => {
            details["status"] = serde_json::json!(refund.status);
            details["refunded"] = serde_json::json!(refund.amount);
            details["replay"] = serde_json::json!(replay);
            if matches!(refund.status, RefundState::Failed | RefundState::Owed) {
                "failed"
            } else {
                "ok"
            }
        }
        Err(e) => {
            details["code"] = serde_json::json!(e.code);
            "failed"
        }
    };
    audit(
        &s,
        &caller,
        "order.goodwill_refund",
        outcome,
        Some(p.user_id()),
        details,
    );
    let (refund, _) = done?;
    tracing::info!(amount = refund.amount.amount, status = ?refund.status, "goodwill refund");
    Ok((StatusCode::CREATED, Json(refund)))
}

/// Starts the refund's workflow (or finds the one its key started) and answers the refund,
/// and whether this request was a replay of an earlier one.
async fn make_refund(
    s: &AppState,
    p: &Principal,
    headers: &HeaderMap,
    order_no: &str,
    body: RefundBody,
    details: &mut serde_json::Value,
) -> ApiResult<(Refund, bool)> {
    let key = crate::params::idempotency_key(headers)?;
    if !is_order_no(order_no) {
        return Err(ApiError::not_found("order_not_found", "no such order"));
    }
    let public = refund_id(order_no, &key);
    details["refund_id"] = serde_json::json!(public);
    let input = input_of(order_no, body, format!("user:{}", p.user_id()))?;
    details["amount"] = serde_json::json!(input.amount);
    details["lines"] = serde_json::json!(input.lines);
    details["skus"] = serde_json::json!(input.skus);
    let id = workflow_id(order_no, &key);
    let request = input.request.clone();
    let client = GoodwillClient::new(s.temporal.client().await?);
    let options = WorkflowUpdateWithStartOptions::new(
        s.settings.workflow_queue.clone(),
        id.clone(),
        WorkflowIdConflictPolicy::Fail,
    )
    .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
    .search_attributes(SearchAttributes::new([
        souk_contracts::checkout::ORDER_NO.value_set(order_no.to_string())
    ]))
    // Summaries are not encrypted: no personal data in them.
    .static_summary(format!("Goodwill refund {public} of order {order_no}"))
    .build();
    let (recorded, replay) = match client.start(input, options).await {
        Ok(update) => {
            let answered = async {
                update
                    .get_result(temporalio_client::RpcOptions::default())
                    .await
                    .map_err(temporal_error)
            };
            (or_its_end(&client, &id, answered).await?, false)
        }
        // The same key again: the first request's refund.
        Err(WorkflowUpdateWithStartError::Start(WorkflowStartError::AlreadyStarted { .. })) => {
            let answered = async {
                match client.recorded(&id).await {
                    Ok(view) => Ok(view),
                    // Ended already: its result says what it came to.
                    Err(WorkflowUpdateError::NotFound(_)) => {
                        Err(ApiError::not_found("refund_not_found", "ended"))
                    }
                    Err(e) => Err(temporal_error(e)),
                }
            };
            (or_its_end(&client, &id, answered).await?, true)
        }
        Err(e) => return Err(temporal_error(e)),
    };
    if recorded.request != request {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_reused",
            "this Idempotency-Key was used for another refund request; use a new key for a new request",
        ));
    }
    // Wait a little for the provider, so the usual answer is final.
    let view = if recorded.status == GoodwillStatus::Refunding {
        settled(&client, &id, recorded).await
    } else {
        recorded
    };
    Ok((answer(public, view)?, replay))
}

/// The `answered` view of refund `id`, or the workflow's result if that comes first: an
/// update (or a query) that reaches the worker as the run closes can be dropped with its run,
/// and is then answered only when the server gives up on it, while the result is the
/// server's own. Whichever fails first leaves the other to answer.
async fn or_its_end(
    client: &GoodwillClient,
    id: &str,
    answered: impl Future<Output = ApiResult<GoodwillView>>,
) -> ApiResult<GoodwillView> {
    let ended = async { client.result(id).await.map_err(temporal_error) };
    let (mut answered, mut ended) = (pin!(answered), pin!(ended));
    tokio::select! {
        r = &mut answered => match r {
            Ok(view) => Ok(view),
            Err(_) => ended.await,
        },
        r = &mut ended => match r {
            Ok(view) => Ok(view),
            Err(_) => answered.await,
        },
    }
}

/// The refund once the provider has answered and the run has ended (its result), or as a
/// query says it is after [`ANSWER_WITHIN`], or as it was.
async fn settled(client: &GoodwillClient, id: &str, view: GoodwillView) -> GoodwillView {
    match tokio::time::timeout(ANSWER_WITHIN, client.result(id)).await {
        Ok(Ok(done)) => return done,
        Ok(Err(e)) => tracing::warn!(error = %e, "the goodwill refund's result is unknown"),
        Err(_) => {}
    }
    match tokio::time::timeout(QUERY_WITHIN, client.status(id)).await {
        Ok(Ok(Some(now))) => now,
        Ok(Ok(None)) => view,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the goodwill refund's state is unknown");
            view
        }
        Err(_) => {
            tracing::warn!("the goodwill refund's state query did not answer in time");
            view
        }
    }
}

/// One goodwill refund of the order.
#[utoipa::path(get, path = "/v1/admin/orders/{order_no}/refunds/{refund_id}", tag = "admin",
    params(("order_no" = crate::params::OrderNoParam, Path),
        ("refund_id" = String, Path, description = "16 hex digits", pattern = r"^[0-9a-f]{16}$")),
    security(("bearer" = [])),
    responses((status = 200, body = Refund),
        (status = 401, body = ErrorBody),
        (status = 403, description = "forbidden, mfa_required", body = ErrorBody),
        (status = 404, description = "refund_not_found", body = ErrorBody),
        (status = 503, description = "temporal_unavailable", body = ErrorBody),
        (status = 504, description = "temporal_timeout", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(order_no = %order_no, refund_id = %refund))]
async fn get_refund(
    State(s): State<AppState>,
    Path((order_no, refund)): Path<(String, String)>,
) -> ApiResult<Json<Refund>> {
    let missing = || ApiError::not_found("refund_not_found", "no such refund of this order");
    if !is_order_no(&order_no) || !is_refund_id(&refund) {
        return Err(missing());
    }
    let id = id_of(&order_no, &refund);
    let client = GoodwillClient::new(s.temporal.client().await?);
    // A query that reaches the worker as the run closes can be dropped with it: once more.
    let query = || tokio::time::timeout(QUERY_WITHIN, client.status(&id));
    let status = match query().await {
        Ok(status) => status,
        Err(_) => query().await.map_err(|_| {
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "temporal_timeout",
                "the refund's workflow did not answer in time; try again shortly",
            )
        })?,
    };
    let view = match status {
        Ok(Some(v)) => v,
        Ok(None) | Err(WorkflowQueryError::NotFound(_)) => return Err(missing()),
        Err(e) => return Err(temporal_error(e)),
    };
    if view.status == GoodwillStatus::Refused {
        return Err(missing());
    }
    Ok(Json(answer(refund, view)?))
}
