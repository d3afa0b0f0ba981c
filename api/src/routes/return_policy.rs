//! A seller's own return policy: what it changes of the marketplace's for its returns (a
//! longer window, a restocking fee, what is approved by itself, who pays the postage back, and
//! categories it does not take back when the customer changed their mind). It never takes
//! from the customer what the marketplace gives for the seller's faults. The vendor admin reads and
//! sets its own (`/v1/vendor/return-policy`); staff any vendor's
//! (`/v1/admin/vendors/{vendor_id}/return-policy`). The vendors domain keeps every version
//! with who set it and why; each change is in the audit trail too. A return runs with the
//! policy of the moment it is asked for.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use souk_contracts::returns::ReturnSettings;
use souk_domain::returns::{ReturnReason, VendorReturnPolicy};
use souk_proto::vendors::v1 as pb;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::audit;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{self, Caller, PageQuery, Path, Query};
use crate::identity::Principal;
use crate::routes::returns::{PostagePaidBy, Reason, reason_of};
use crate::routes::vendor::VendorScope;
use crate::state::AppState;

pub fn vendor_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_own, set_own))
        .routes(routes!(own_changes))
}

/// What anyone may read: a seller's terms, before buying.
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_public))
}

pub fn admin_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_vendors, set_vendors))
        .routes(routes!(vendors_changes))
}

/// What a seller changes of the marketplace's return policy. A field left out (or empty, or
/// false) is the marketplace's.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnReturnPolicy {
    /// Days after delivery a line may be asked back: at least the marketplace's window.
    #[schema(minimum = 1, maximum = 365)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_days: Option<u32>,
    /// Kept of what units sent back because the customer changed their mind are worth, in
    /// basis points (1000 = 10%).
    #[schema(minimum = 0, maximum = 2500)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restocking_fee_bps: Option<u32>,
    /// Categories (slugs; their subcategories too) not taken back when the customer changed
    /// their mind (a line the seller is at fault for always goes back); each once.
    #[schema(value_type = Vec<crate::params::SlugParam>, max_items = 50)]
    #[serde(default)]
    pub non_returnable_categories: Vec<String>,
    /// A request whose every line has one of these reasons (each once; empty: none)...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approve_reasons: Option<Vec<Reason>>,
    /// ...and whose goods are worth at most this much (minor units of the order's currency)
    /// is approved without a person.
    #[schema(minimum = 0)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approve_max_minor: Option<i64>,
    /// The seller pays the postage back even when the customer changed their mind.
    #[serde(default)]
    pub free_return_postage: bool,
}

impl OwnReturnPolicy {
    fn domain(&self) -> VendorReturnPolicy {
        VendorReturnPolicy {
            window_days: self.window_days,
            restocking_fee_bps: self.restocking_fee_bps,
            non_returnable_categories: self.non_returnable_categories.clone(),
            auto_approve_reasons: self
                .auto_approve_reasons
                .as_ref()
                .map(|r| r.iter().map(|&r| ReturnReason::from(r)).collect()),
            auto_approve_max_minor: self.auto_approve_max_minor,
            free_return_postage: self.free_return_postage,
        }
    }

    fn of(p: &VendorReturnPolicy) -> Self {
        OwnReturnPolicy {
            window_days: p.window_days,
            restocking_fee_bps: p.restocking_fee_bps,
            non_returnable_categories: p.non_returnable_categories.clone(),
            auto_approve_reasons: p
                .auto_approve_reasons
                .as_ref()
                .map(|r| r.iter().map(|&r| reason_of(r)).collect()),
            auto_approve_max_minor: p.auto_approve_max_minor,
            free_return_postage: p.free_return_postage,
        }
    }
}

/// What the seller's new returns run with: the marketplace's policy, changed by its own.
#[derive(Debug, Serialize, ToSchema)]
pub struct EffectivePolicy {
    /// A delivered line may be asked back this long after its delivery.
    pub window_seconds: u64,
    pub restocking_fee_bps: u32,
    /// Not taken back, whatever the reason (the marketplace's).
    pub non_returnable_categories: Vec<String>,
    /// Not taken back when the customer changed their mind (the seller's).
    pub changed_mind_non_returnable_categories: Vec<String>,
    pub auto_approve_reasons: Vec<Reason>,
    pub auto_approve_max_minor: i64,
    /// Who pays the postage of a parcel whose every line the customer changed their mind about.
    pub changed_mind_postage: PostagePaidBy,
    /// The marketplace's: the seller decides within this long, or is reminded.
    pub decision_sla_seconds: u64,
    /// The marketplace's: an approved return is sent back within this long, or it expires.
    pub send_by_seconds: u64,
}

impl EffectivePolicy {
    fn of(s: &ReturnSettings) -> Self {
        EffectivePolicy {
            window_seconds: s.window_seconds,
            restocking_fee_bps: s.restocking_fee_bps,
            non_returnable_categories: s.non_returnable_categories.clone(),
            changed_mind_non_returnable_categories: s
                .changed_mind_non_returnable_categories
                .clone(),
            auto_approve_reasons: s
                .auto_approve_reasons
                .iter()
                .map(|&r| reason_of(r))
                .collect(),
            auto_approve_max_minor: s.auto_approve_max_minor,
            changed_mind_postage: if s.seller_pays_postage {
                PostagePaidBy::Vendor
            } else {
                PostagePaidBy::Customer
            },
            decision_sla_seconds: s.decision_sla_seconds,
            send_by_seconds: s.send_by_seconds,
        }
    }
}

/// A seller's return terms, as a customer reads them before buying.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnTerms {
    pub vendor_id: String,
    /// A delivered line may be asked back this many days after its delivery.
    pub window_days: u64,
    /// An approved return is sent back within this many days.
    pub send_by_days: u64,
    /// Kept of what units sent back for a change of mind are worth, in basis points.
    pub restocking_fee_bps: u32,
    /// Not taken back, whatever the reason.
    pub non_returnable_categories: Vec<String>,
    /// Not taken back after a change of mind (a damaged or wrong item is).
    pub changed_mind_non_returnable_categories: Vec<String>,
    /// Who pays the postage back after a change of mind (the seller always does for its
    /// faults).
    pub changed_mind_postage: PostagePaidBy,
}

/// A seller's return policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnPolicy {
    pub vendor_id: String,
    /// 0 while the seller has none of its own; give it as `expected_version` to change it.
    pub version: i32,
    /// What the seller changes of the marketplace's.
    pub own: OwnReturnPolicy,
    pub effective: EffectivePolicy,
    /// Who set this version (`user:<id>`), and when (RFC 3339).
    pub updated_by: Option<String>,
    pub updated_at: Option<String>,
}

/// A new version of the seller's own policy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetReturnPolicy {
    /// The whole of it: a field left out goes back to the marketplace's.
    pub policy: OwnReturnPolicy,
    /// Why it changes: kept with the version and in the audit trail.
    #[schema(value_type = crate::params::Line500)]
    pub reason: String,
    /// The version it was read at: refused with 409 `version_conflict` if someone changed it
    /// since. Left out: set whatever it is now.
    #[schema(minimum = 0)]
    #[serde(default)]
    pub expected_version: Option<i32>,
}

/// One version of a seller's own policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnPolicyChange {
    pub version: i32,
    pub policy: OwnReturnPolicy,
    /// Who set it (`user:<id>`), why and when (RFC 3339).
    pub actor: String,
    pub reason: String,
    pub changed_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnPolicyChangePage {
    pub items: Vec<ReturnPolicyChange>,
    pub next_cursor: Option<String>,
}

fn policy_pb(p: &VendorReturnPolicy) -> pb::ReturnPolicy {
    pb::ReturnPolicy {
        window_days: p.window_days,
        restocking_fee_bps: p.restocking_fee_bps,
        non_returnable_categories: p.non_returnable_categories.clone(),
        auto_approve_reasons: p.auto_approve_reasons.as_ref().map(|r| pb::Reasons {
            reasons: r.iter().map(|r| r.as_str().to_string()).collect(),
        }),
        auto_approve_max_minor: p.auto_approve_max_minor,
        free_return_postage: p.free_return_postage,
    }
}

fn policy_of(p: Option<pb::ReturnPolicy>) -> VendorReturnPolicy {
    let p = p.unwrap_or_default();
    VendorReturnPolicy {
        window_days: p.window_days,
        restocking_fee_bps: p.restocking_fee_bps,
        non_returnable_categories: p.non_returnable_categories,
        auto_approve_reasons: p.auto_approve_reasons.map(|r| {
            r.reasons
                .iter()
                .filter_map(|r| ReturnReason::parse(r))
                .collect()
        }),
        auto_approve_max_minor: p.auto_approve_max_minor,
        free_return_postage: p.free_return_postage,
    }
}

fn vendors_error(e: tonic::Status) -> ApiError {
    ApiError::from_status("vendors", e)
}

fn view(s: &AppState, vendor_id: &str, r: pb::ReturnPolicyReply) -> ReturnPolicy {
    let own = policy_of(r.policy);
    ReturnPolicy {
        vendor_id: vendor_id.to_string(),
        version: r.version,
        effective: EffectivePolicy::of(&s.settings.returns.for_vendor(&own)),
        own: OwnReturnPolicy::of(&own),
        updated_by: r.updated_by,
        updated_at: r.updated_at,
    }
}

async fn read(s: &AppState, caller: &Caller, vendor_id: &str) -> ApiResult<ReturnPolicy> {
    let r = s
        .vendors
        .clone()
        .get_return_policy(caller.request(pb::GetReturnPolicyRequest {
            vendor_id: vendor_id.to_string(),
        }))
        .await
        .map_err(vendors_error)?
        .into_inner();
    Ok(view(s, vendor_id, r))
}

/// Sets the policy, audited (`vendor.return_policy_set`) with who, why and what came of it.
async fn write(
    s: &AppState,
    caller: &Caller,
    user_id: &str,
    vendor_id: &str,
    body: SetReturnPolicy,
) -> ApiResult<ReturnPolicy> {
    let policy = body.policy.domain();
    let mut details = serde_json::json!({
        "vendor_id": vendor_id, "reason": body.reason.trim(), "policy": policy,
        "expected_version": body.expected_version,
    });
    let done = async {
        let reason = souk_domain::text::line(&body.reason, 500).map_err(|e| {
            ApiError::unprocessable(
                "invalid_reason",
                format!("say why in 1 to 500 characters on one line: {e}"),
            )
        })?;
        let bad = |field: &str, message: String| {
            ApiError::unprocessable("invalid_return_policy", format!("{field}: {message}"))
                .with_details(serde_json::json!({"field": field}))
        };
        if let Some(p) = policy.problems().first() {
            return Err(bad(p.field, p.message.clone()));
        }
        let least = s.settings.returns.window_seconds.div_ceil(86_400);
        if let Some(d) = policy.window_days
            && u64::from(d) < least
        {
            return Err(bad(
                "window_days",
                format!("the window is at least the marketplace's {least} days, not {d}"),
            ));
        }
        let r = s
            .vendors
            .clone()
            .set_return_policy(caller.request(pb::SetReturnPolicyRequest {
                vendor_id: vendor_id.to_string(),
                policy: Some(policy_pb(&policy)),
                reason,
                expected_version: body.expected_version,
            }))
            .await
            .map_err(vendors_error)?
            .into_inner();
        Ok(view(s, vendor_id, r))
    }
    .await;
    let outcome = match &done {
        Ok(p) => {
            details["version"] = serde_json::json!(p.version);
            "ok"
        }
        Err(e) => {
            details["code"] = serde_json::json!(e.code);
            "failed"
        }
    };
    audit(
        s,
        caller,
        "vendor.return_policy_set",
        outcome,
        Some(user_id),
        details,
    );
    done
}

async fn changes(
    s: &AppState,
    caller: &Caller,
    vendor_id: &str,
    q: PageQuery,
) -> ApiResult<ReturnPolicyChangePage> {
    let page = s
        .vendors
        .clone()
        .list_return_policy_changes(caller.request(pb::ListReturnPolicyChangesRequest {
            vendor_id: vendor_id.to_string(),
            limit: q.limit()?,
            cursor: q.cursor,
        }))
        .await
        .map_err(vendors_error)?
        .into_inner();
    Ok(ReturnPolicyChangePage {
        items: page
            .items
            .into_iter()
            .map(|c| ReturnPolicyChange {
                version: c.version,
                policy: OwnReturnPolicy::of(&policy_of(c.policy)),
                actor: c.actor,
                reason: c.reason,
                changed_at: c.changed_at,
            })
            .collect(),
        next_cursor: page.next_cursor,
    })
}

/// A seller's return terms: how long to ask, what is kept, what is not taken back, who pays
/// the postage. Anyone may read them.
#[utoipa::path(get, path = "/v1/vendors/{vendor_id}/return-policy", tag = "catalog",
    params(("vendor_id" = uuid::Uuid, Path)),
    responses((status = 200, body = ReturnTerms),
        (status = 404, description = "vendor_not_found", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(vendor_id = %vendor_id))]
async fn get_public(
    State(s): State<AppState>,
    caller: Caller,
    Path(vendor_id): Path<String>,
) -> ApiResult<Json<ReturnTerms>> {
    let vendor_id = vendor_param(&vendor_id)?;
    let p = read(&s, &caller, &vendor_id).await?.effective;
    Ok(Json(ReturnTerms {
        vendor_id,
        window_days: p.window_seconds / 86_400,
        send_by_days: p.send_by_seconds / 86_400,
        restocking_fee_bps: p.restocking_fee_bps,
        non_returnable_categories: p.non_returnable_categories,
        changed_mind_non_returnable_categories: p.changed_mind_non_returnable_categories,
        changed_mind_postage: p.changed_mind_postage,
    }))
}

/// A vendor id in a path: a UUID, or no such vendor.
fn vendor_param(id: &str) -> ApiResult<String> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::not_found("vendor_not_found", format!("no vendor {id}")))
}

/// The vendor's return policy: its own, and what its new returns run with.
#[utoipa::path(get, path = "/v1/vendor/return-policy", tag = "vendor",
    security(("bearer" = [])),
    responses((status = 200, body = ReturnPolicy),
        (status = 404, description = "vendor_not_found: the token's vendor is gone", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn get_own(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
) -> ApiResult<Json<ReturnPolicy>> {
    read(&s, &caller, &scope.vendor_id).await.map(Json)
}

/// Sets the vendor's own return policy (a new version; the same policy again changes
/// nothing). Returns asked for from now on run with it; returns already asked for keep the
/// policy they were asked under.
#[utoipa::path(put, path = "/v1/vendor/return-policy", tag = "vendor",
    request_body = SetReturnPolicy, security(("bearer" = [])),
    responses((status = 200, body = ReturnPolicy),
        (status = 404, description = "vendor_not_found: the token's vendor is gone", body = ErrorBody),
        (status = 409, description = "version_conflict: changed since `expected_version` (details: current_version)", body = ErrorBody),
        (status = 422, description = "invalid_return_policy (details: field), invalid_reason, invalid_body", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn set_own(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    extract::Json(body): extract::Json<SetReturnPolicy>,
) -> ApiResult<Json<ReturnPolicy>> {
    write(&s, &caller, &scope.user_id, &scope.vendor_id, body)
        .await
        .map(Json)
}

/// The versions of the vendor's own return policy, newest first, with who set each and why.
#[utoipa::path(get, path = "/v1/vendor/return-policy/changes", tag = "vendor", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ReturnPolicyChangePage),
        (status = 404, description = "vendor_not_found: the token's vendor is gone", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn own_changes(
    State(s): State<AppState>,
    caller: Caller,
    scope: VendorScope,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<ReturnPolicyChangePage>> {
    changes(&s, &caller, &scope.vendor_id, q).await.map(Json)
}

/// A vendor's return policy, as staff see it.
#[utoipa::path(get, path = "/v1/admin/vendors/{vendor_id}/return-policy", tag = "admin",
    params(("vendor_id" = uuid::Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = ReturnPolicy),
        (status = 404, description = "vendor_not_found", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(vendor_id = %vendor_id))]
async fn get_vendors(
    State(s): State<AppState>,
    caller: Caller,
    Path(vendor_id): Path<String>,
) -> ApiResult<Json<ReturnPolicy>> {
    let vendor_id = vendor_param(&vendor_id)?;
    read(&s, &caller, &vendor_id).await.map(Json)
}

/// Sets a vendor's own return policy, as staff (the seller asked, or the marketplace's terms
/// require it); kept with the staff member's id and reason.
#[utoipa::path(put, path = "/v1/admin/vendors/{vendor_id}/return-policy", tag = "admin",
    params(("vendor_id" = uuid::Uuid, Path)), request_body = SetReturnPolicy, security(("bearer" = [])),
    responses((status = 200, body = ReturnPolicy),
        (status = 404, description = "vendor_not_found", body = ErrorBody),
        (status = 409, description = "version_conflict: changed since `expected_version` (details: current_version)", body = ErrorBody),
        (status = 422, description = "invalid_return_policy (details: field), invalid_reason, invalid_body", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(vendor_id = %vendor_id))]
async fn set_vendors(
    State(s): State<AppState>,
    caller: Caller,
    p: Principal,
    Path(vendor_id): Path<String>,
    extract::Json(body): extract::Json<SetReturnPolicy>,
) -> ApiResult<Json<ReturnPolicy>> {
    let vendor_id = vendor_param(&vendor_id)?;
    write(&s, &caller, p.user_id(), &vendor_id, body)
        .await
        .map(Json)
}

/// The versions of a vendor's own return policy, newest first, with who set each and why.
#[utoipa::path(get, path = "/v1/admin/vendors/{vendor_id}/return-policy/changes", tag = "admin",
    params(("vendor_id" = uuid::Uuid, Path), PageQuery), security(("bearer" = [])),
    responses((status = 200, body = ReturnPolicyChangePage),
        (status = 404, description = "vendor_not_found", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(vendor_id = %vendor_id))]
async fn vendors_changes(
    State(s): State<AppState>,
    caller: Caller,
    Path(vendor_id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<ReturnPolicyChangePage>> {
    let vendor_id = vendor_param(&vendor_id)?;
    changes(&s, &caller, &vendor_id, q).await.map(Json)
}
