//! `souk.returns.v1.ReturnsService`, served by the returns worker: the lists of returns the
//! customer, the vendor and staff page through. Actions on a return are its workflow's.

use souk_domain::cursor::{TimeCursor, next_page, page_limit};
use souk_domain::returns::ReturnStatus;
use souk_kit::grpc::invalid;
use souk_proto::common::v1::Money;
use souk_proto::returns::v1 as pb;
use souk_proto::returns::v1::returns_service_server::{ReturnsService, ReturnsServiceServer};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::store::{self, ListFilter, Summary};

#[derive(Clone)]
pub struct Returns {
    pool: PgPool,
}

impl Returns {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn into_server(self) -> ReturnsServiceServer<Self> {
        ReturnsServiceServer::new(self)
    }
}

fn summary(r: Summary) -> pb::ReturnSummary {
    let money = |amount: i64| Money {
        amount,
        currency: r.currency.code().to_string(),
    };
    pb::ReturnSummary {
        rma_no: r.rma_no,
        order_no: r.order_no,
        vendor_id: r.vendor_id.to_string(),
        customer_id: r.customer_id,
        status: r.status.as_str().to_string(),
        escalated: r.escalated,
        lines: r
            .lines
            .into_iter()
            .map(|l| pb::ReturnLine {
                sku: l.sku,
                title: l.title,
                quantity: l.quantity,
                reason: l.reason,
                refunded: l.refunded.map(money),
                restocking_fee: l.fee.map(money),
                postage_kept: l.postage.map(money),
            })
            .collect(),
        refunded: r.refunded.map(money),
        created_at: r.created_at.to_rfc3339(),
        updated_at: r.updated_at.to_rfc3339(),
    }
}

#[tonic::async_trait]
impl ReturnsService for Returns {
    #[tracing::instrument(skip_all)]
    async fn list_returns(
        &self,
        req: Request<pb::ListReturnsRequest>,
    ) -> Result<Response<pb::ListReturnsReply>, Status> {
        let r = req.into_inner();
        let vendor_id = r
            .vendor_id
            .as_deref()
            .map(|v| {
                Uuid::parse_str(v)
                    .map_err(|_| invalid("invalid_vendor", format!("`{v}` is not a vendor id")))
            })
            .transpose()?;
        let status = r
            .status
            .as_deref()
            .map(|s| {
                ReturnStatus::parse(s).ok_or_else(|| {
                    invalid("invalid_status", format!("`{s}` is not a return status"))
                })
            })
            .transpose()?;
        let after = r
            .cursor
            .as_deref()
            .map(TimeCursor::decode)
            .transpose()
            .map_err(|_| invalid("invalid_cursor", "the cursor is not one this list gave"))?;
        let filter = ListFilter {
            customer_id: r.customer_id,
            vendor_id,
            status,
            order_no: r.order_no,
            escalated: r.escalated,
        };
        let limit = i64::from(page_limit(r.limit, 20, 100));
        let mut rows = store::list(&self.pool, &filter, after, limit + 1)
            .await
            .map_err(|e| souk_kit::error::status(&e))?;
        let next_cursor = next_page(&mut rows, limit, |s| TimeCursor {
            created_at: s.created_at,
            id: s.id,
        });
        Ok(Response::new(pb::ListReturnsReply {
            items: rows.into_iter().map(summary).collect(),
            next_cursor,
        }))
    }
}
