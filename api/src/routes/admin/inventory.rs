//! Stock as operators set it (a count per warehouse, which may start a low-stock alert) and
//! the low-stock alerts.

use axum::Json;
use axum::extract::State;
use souk_contracts::low_stock::{self, LowStockInput};
use souk_domain::Sku;
use souk_proto::catalog::v1 as catalog_pb;
use souk_proto::inventory::v1 as pb;
use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{WorkflowIdReusePolicy, WorkflowStartOptions};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{self, Caller, Path, Query};
use crate::routes::inventory::Inventory;
use crate::state::AppState;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_on_hand))
        .routes(routes!(list_low_stock_alerts))
}

/// Sets the units on hand of a SKU in a warehouse (a stock count). If that takes the SKU
/// below its low-stock threshold, a `LowStockAlert` workflow starts (see the Temporal UI).
#[utoipa::path(put, path = "/v1/admin/inventory/{sku}/{warehouse}", tag = "admin",
    params(("sku" = crate::params::SkuParam, Path), ("warehouse" = crate::params::WarehouseParam, Path)), request_body = SetOnHand,
    security(("bearer" = [])),
    responses((status = 200, body = StockUpdated),
        (status = 401, body = ErrorBody),
        (status = 404, description = "unknown SKU or warehouse", body = ErrorBody),
        (status = 409, description = "below what is reserved", body = ErrorBody),
        (status = 422, description = "negative or absurd quantity", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(sku = %sku, warehouse = %warehouse))]
async fn set_on_hand(
    State(s): State<AppState>,
    caller: Caller,
    Path((sku, warehouse)): Path<(String, String)>,
    extract::Json(body): extract::Json<SetOnHand>,
) -> ApiResult<Json<StockUpdated>> {
    let sku =
        Sku::parse(&sku).map_err(|e| ApiError::unprocessable("invalid_sku", e.to_string()))?;
    // Stock is only kept for SKUs the catalog knows.
    let known = s
        .catalog
        .clone()
        .get_variants(caller.request(catalog_pb::GetVariantsRequest {
            skus: vec![sku.to_string()],
        }))
        .await
        .map_err(|e| ApiError::from_status("catalog", e))?
        .into_inner()
        .variants;
    if known.is_empty() {
        return Err(ApiError::not_found(
            "unknown_sku",
            format!("SKU {sku} does not exist"),
        ));
    }
    set_on_hand_checked(&s, &caller, &sku, warehouse, body.on_hand).await
}

/// Sets the units on hand of a SKU the caller may change, and starts the low-stock alert
/// workflow if the change crossed the threshold.
pub(crate) async fn set_on_hand_checked(
    s: &AppState,
    caller: &Caller,
    sku: &Sku,
    warehouse: String,
    on_hand: i64,
) -> ApiResult<Json<StockUpdated>> {
    if !(0..=1_000_000_000).contains(&on_hand) {
        return Err(ApiError::unprocessable(
            "invalid_quantity",
            "on_hand must be between 0 and 1000000000",
        ));
    }
    let res = s
        .inventory
        .clone()
        .set_on_hand(caller.request(pb::SetOnHandRequest {
            sku: sku.to_string(),
            warehouse,
            on_hand,
        }))
        .await
        .map_err(|e| ApiError::from_status("inventory", e))?
        .into_inner();
    let stock = res
        .stock
        .ok_or_else(|| ApiError::internal("inventory answered without stock"))?;
    let low_stock_alert = if res.crossed_low_stock {
        start_low_stock_alert(s, caller, sku, stock.available, stock.low_stock_threshold).await
    } else {
        None
    };
    Ok(Json(StockUpdated {
        stock: stock.into(),
        low_stock_alert,
    }))
}

/// Starts the alert workflow. The stock change is already committed, so a failure here is
/// logged, not returned: the count must not be lost because the workflow engine is down.
pub(crate) async fn start_low_stock_alert(
    s: &AppState,
    caller: &Caller,
    sku: &Sku,
    available: i64,
    threshold: i64,
) -> Option<WorkflowRef> {
    let client = match s.temporal.client().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(%sku, error = %e.message, "low-stock alert not started: Temporal unavailable");
            return None;
        }
    };
    let workflow_id = low_stock::workflow_id(sku);
    // The request that caused it, so support can go from the request to the workflow.
    let mut memo = temporalio_common::MemoValues::new();
    if let Some(r) = &caller.request_id {
        memo.insert("request_id", r.clone());
    }
    memo.insert("raised_by", caller.actor.clone());
    let options = WorkflowStartOptions::new(s.settings.workflow_queue.clone(), workflow_id.clone())
        .id_reuse_policy(WorkflowIdReusePolicy::AllowDuplicate)
        .memo(memo)
        .build();
    let input = LowStockInput {
        sku: sku.clone(),
        available,
        threshold,
        raised_by: caller.actor.clone(),
    };
    match client
        .start_workflow(low_stock::Alert, input, options)
        .await
    {
        Ok(handle) => {
            let run_id = handle.run_id().map(str::to_string);
            tracing::info!(%sku, workflow_id = %workflow_id, "low-stock alert workflow started");
            Some(WorkflowRef {
                workflow_id,
                run_id,
            })
        }
        // One is already running for this SKU: it covers this change too.
        Err(WorkflowStartError::AlreadyStarted { run_id, .. }) => Some(WorkflowRef {
            workflow_id,
            run_id,
        }),
        Err(e) => {
            tracing::error!(%sku, error = %e, "low-stock alert workflow not started");
            None
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// Only alerts for this SKU.
    #[param(value_type = Option<crate::params::OptSkuParam>)]
    sku: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Low-stock alerts, newest first.
#[utoipa::path(get, path = "/v1/admin/inventory/alerts", tag = "admin", params(AlertsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = LowStockAlertPage), (status = 401, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn list_low_stock_alerts(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<AlertsQuery>,
) -> ApiResult<Json<LowStockAlertPage>> {
    if let Some(limit) = q.limit
        && !(1..=100).contains(&limit)
    {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 100",
        ));
    }
    let page = s
        .inventory
        .clone()
        .list_low_stock_alerts(caller.request(pb::ListLowStockAlertsRequest {
            sku: q.sku,
            limit: q.limit.unwrap_or(20),
            cursor: q.cursor,
        }))
        .await
        .map_err(|e| ApiError::from_status("inventory", e))?
        .into_inner();
    Ok(Json(LowStockAlertPage {
        items: page
            .items
            .into_iter()
            .map(|a| LowStockAlert {
                id: a.id,
                sku: a.sku,
                available: a.available,
                threshold: a.threshold,
                raised_at: a.raised_at,
                raised_by: a.raised_by,
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetOnHand {
    /// Units physically in the warehouse; never below what is reserved there.
    #[schema(example = 40, minimum = 0, maximum = 1_000_000_000)]
    #[serde(deserialize_with = "crate::dto::integer")]
    pub on_hand: i64,
}

/// The workflow started because a change took a SKU below its low-stock threshold.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowRef {
    pub workflow_id: String,
    pub run_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StockUpdated {
    pub stock: Inventory,
    /// Present when the change crossed the low-stock threshold and an alert workflow started.
    pub low_stock_alert: Option<WorkflowRef>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LowStockAlert {
    pub id: String,
    pub sku: String,
    pub available: i64,
    pub threshold: i64,
    pub raised_at: String,
    pub raised_by: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LowStockAlertPage {
    pub items: Vec<LowStockAlert>,
    pub next_cursor: Option<String>,
}
