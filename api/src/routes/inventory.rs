//! Public stock levels.

use axum::Json;
use axum::extract::State;
use souk_proto::inventory::v1 as pb;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, Path};
use crate::state::AppState;
use serde::Serialize;
use utoipa::ToSchema;

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

#[derive(Debug, Serialize, ToSchema)]
pub struct WarehouseStock {
    pub warehouse: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Inventory {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub low_stock_threshold: i64,
    pub warehouses: Vec<WarehouseStock>,
}

impl From<pb::StockLevel> for Inventory {
    fn from(s: pb::StockLevel) -> Self {
        Inventory {
            sku: s.sku,
            on_hand: s.on_hand,
            reserved: s.reserved,
            available: s.available,
            low_stock_threshold: s.low_stock_threshold,
            warehouses: s
                .warehouses
                .into_iter()
                .map(|w| WarehouseStock {
                    warehouse: w.warehouse,
                    on_hand: w.on_hand,
                    reserved: w.reserved,
                    available: w.available,
                })
                .collect(),
        }
    }
}
