//! Public stock levels.

use axum::Json;
use axum::extract::State;
use souk_proto::inventory::v1 as pb;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dto::Inventory;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, Path};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_inventory))
}

/// Stock of a SKU: on hand, reserved and available, in total and per warehouse.
#[utoipa::path(get, path = "/v1/inventory/{sku}", tag = "inventory", params(("sku" = crate::params::SkuParam, Path)),
    responses((status = 200, body = Inventory),
        (status = 404, description = "no stock recorded for this SKU", body = ErrorBody),
        (status = 422, description = "not a valid SKU", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(sku = %sku))]
async fn get_inventory(
    State(s): State<AppState>,
    caller: Caller,
    Path(sku): Path<String>,
) -> ApiResult<Json<Inventory>> {
    let stock = s
        .inventory
        .clone()
        .get_stock(caller.request(pb::GetStockRequest { sku }))
        .await
        .map_err(|e| ApiError::from_status("inventory", e))?;
    Ok(Json(stock.into_inner().into()))
}
