//! `souk.inventory.v1.InventoryService`, served by the inventory worker.

use souk_domain::Sku;
use souk_domain::cursor::{TextCursor, page_limit};
use souk_proto::inventory::v1 as pb;
use souk_proto::inventory::v1::inventory_service_server::{
    InventoryService, InventoryServiceServer,
};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use super::store::{self, Error, StockLevel};
use souk_kit::grpc::{ctx, invalid, not_found};

#[derive(Clone)]
pub struct Inventory {
    pool: PgPool,
}

impl Inventory {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn into_server(self) -> InventoryServiceServer<Self> {
        InventoryServiceServer::new(self)
    }
}

fn store_error(e: Error) -> Status {
    souk_kit::error::status(&e)
}

fn level(l: &StockLevel) -> pb::StockLevel {
    pb::StockLevel {
        sku: l.sku.clone(),
        on_hand: l.on_hand(),
        reserved: l.reserved(),
        available: l.available(),
        warehouses: l
            .warehouses
            .iter()
            .map(|w| pb::WarehouseStock {
                warehouse: w.warehouse.clone(),
                on_hand: w.on_hand,
                reserved: w.reserved,
                available: w.on_hand - w.reserved,
            })
            .collect(),
        low_stock_threshold: l.low_stock_threshold,
    }
}

fn sku(s: &str) -> Result<Sku, Status> {
    Sku::parse(s).map_err(|e| invalid("invalid_sku", e.to_string()))
}

#[tonic::async_trait]
impl InventoryService for Inventory {
    #[tracing::instrument(skip_all)]
    async fn get_stock(
        &self,
        req: Request<pb::GetStockRequest>,
    ) -> Result<Response<pb::StockLevel>, Status> {
        let sku = sku(&req.into_inner().sku)?;
        let found = store::stock(&self.pool, sku.as_str())
            .await
            .map_err(store_error)?;
        found
            .map(|l| Response::new(level(&l)))
            .ok_or_else(|| not_found("unknown_sku", format!("no stock recorded for `{sku}`")))
    }

    #[tracing::instrument(skip_all)]
    async fn get_availability(
        &self,
        req: Request<pb::GetAvailabilityRequest>,
    ) -> Result<Response<pb::GetAvailabilityResponse>, Status> {
        let skus = req.into_inner().skus;
        if skus.len() > 200 {
            return Err(invalid("too_many_skus", "at most 200 SKUs per call"));
        }
        let found = store::availability(&self.pool, &skus)
            .await
            .map_err(store_error)?;
        let items = skus
            .into_iter()
            .map(|s| {
                let available = found.iter().find(|(k, _)| *k == s).map_or(0, |(_, a)| *a);
                pb::Availability { sku: s, available }
            })
            .collect();
        Ok(Response::new(pb::GetAvailabilityResponse { items }))
    }

    #[tracing::instrument(skip_all)]
    async fn set_on_hand(
        &self,
        req: Request<pb::SetOnHandRequest>,
    ) -> Result<Response<pb::SetOnHandResponse>, Status> {
        let ctx = ctx(&req, "admin");
        let r = req.into_inner();
        let sku = sku(&r.sku)?;
        if r.on_hand < 0 || r.on_hand > 1_000_000_000 {
            return Err(invalid(
                "invalid_quantity",
                "on_hand must be between 0 and 1000000000",
            ));
        }
        let (l, crossed) = store::set_on_hand(&self.pool, &ctx, &sku, &r.warehouse, r.on_hand)
            .await
            .map_err(store_error)?;
        tracing::info!(sku = %sku, warehouse = %r.warehouse, on_hand = r.on_hand, actor = %ctx.actor, "stock set");
        Ok(Response::new(pb::SetOnHandResponse {
            stock: Some(level(&l)),
            crossed_low_stock: crossed,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_low_stock_alerts(
        &self,
        req: Request<pb::ListLowStockAlertsRequest>,
    ) -> Result<Response<pb::ListLowStockAlertsResponse>, Status> {
        let r = req.into_inner();
        let after =
            match r.cursor.as_deref().filter(|c| !c.is_empty()) {
                None => None,
                Some(c) => Some(TextCursor::decode(c).map_err(|_| {
                    invalid("invalid_cursor", "cursor is not one this API returned")
                })?),
            };
        let only = r
            .sku
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(sku)
            .transpose()?;
        let (rows, next) = store::list_alerts(
            &self.pool,
            only.as_ref().map(|s| s.as_str()),
            page_limit(r.limit, 20, 100),
            after,
        )
        .await
        .map_err(store_error)?;
        Ok(Response::new(pb::ListLowStockAlertsResponse {
            items: rows
                .into_iter()
                .map(|a| pb::LowStockAlert {
                    id: a.id,
                    sku: a.sku,
                    available: a.available,
                    threshold: a.threshold,
                    raised_at: a.raised_at.to_rfc3339(),
                    raised_by: a.raised_by,
                })
                .collect(),
            next_cursor: next.map(|c| c.encode()),
        }))
    }
}
