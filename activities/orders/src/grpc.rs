//! `souk.orders.v1.OrderService`, served by the orders worker.

use souk_proto::common::v1::Money;
use souk_proto::orders::v1 as pb;
use souk_proto::orders::v1::order_service_server::{OrderService, OrderServiceServer};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use super::store::{self, Error, OrderDetail};
use souk_domain::cursor::{TimeCursor, next_page, page_limit};

use souk_kit::grpc::{invalid, not_found};

#[derive(Clone)]
pub struct Orders {
    pool: PgPool,
}

impl Orders {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn into_server(self) -> OrderServiceServer<Self> {
        OrderServiceServer::new(self)
    }
}

fn store_error(e: Error) -> Status {
    souk_kit::error::status(&e)
}

fn order(o: OrderDetail) -> pb::Order {
    let cur = o.currency.clone();
    let m = |amount: i64| {
        Some(Money {
            amount,
            currency: cur.clone(),
        })
    };
    let address =
        serde_json::from_value::<souk_contracts::orders::Address>(o.shipping_address.clone()).ok();
    pb::Order {
        id: o.id.to_string(),
        order_no: o.order_no.clone(),
        checkout_id: o.checkout_id.clone(),
        attempt: o.attempt,
        customer_email: o.customer_email.clone(),
        status: o.status.clone(),
        payment_status: o.payment_status.clone(),
        subtotal: m(o.subtotal),
        discount: m(o.discount),
        tax: m(o.tax),
        shipping: m(o.shipping),
        total: m(o.total),
        coupon_code: o.coupon_code.clone(),
        shipping_address: address.map(|a| pb::Address {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            postal_code: a.postal_code,
            country: a.country.to_string(),
        }),
        payment_provider: o.payment_provider.clone(),
        payment_reference: o.payment_reference.clone(),
        placed_at: o.placed_at.to_rfc3339(),
        lines: o
            .lines
            .iter()
            .map(|l| pb::OrderLine {
                sku: l.sku.clone(),
                title: l.title.clone(),
                vendor_id: l.vendor_id.to_string(),
                quantity: i64::from(l.quantity),
                unit_price: m(l.unit_price),
                line_total: m(l.line_total),
                discount: m(l.discount),
                tax: m(l.tax),
            })
            .collect(),
        sub_orders: o
            .sub_orders
            .iter()
            .map(|s| pb::SubOrder {
                id: s.id.to_string(),
                vendor_id: s.vendor_id.to_string(),
                status: s.status.clone(),
                subtotal: m(s.subtotal),
                discount: m(s.discount),
                tax: m(s.tax),
                shipping: m(s.shipping),
                total: m(s.total),
                skus: o
                    .lines
                    .iter()
                    .filter(|l| l.vendor_id == s.vendor_id)
                    .map(|l| l.sku.clone())
                    .collect(),
            })
            .collect(),
        timeline: o
            .timeline
            .iter()
            .map(|t| pb::TimelineEntry {
                event: t.event.clone(),
                at: t.at.to_rfc3339(),
                actor: t.actor.clone(),
                note: t.note.clone(),
            })
            .collect(),
        customer_id: o.customer_id.map(|c| c.to_string()),
    }
}

#[tonic::async_trait]
impl OrderService for Orders {
    #[tracing::instrument(skip_all)]
    async fn get_order(
        &self,
        req: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let r = req.into_inner();
        let no = r.order_no;
        let vendor = r.vendor_id.as_deref().map(vendor_id).transpose()?;
        let found = store::by_order_no(&self.pool, &no)
            .await
            .map_err(store_error)?;
        let found = match vendor {
            Some(v) => found.and_then(|o| o.for_vendor(v)),
            None => found,
        };
        found
            .map(|o| Response::new(order(o)))
            .ok_or_else(|| not_found("order_not_found", format!("no order {no}")))
    }

    #[tracing::instrument(skip_all)]
    async fn list_customer_orders(
        &self,
        req: Request<pb::ListCustomerOrdersRequest>,
    ) -> Result<Response<pb::ListCustomerOrdersResponse>, Status> {
        self.customer_orders(req.into_inner())
            .await
            .map(Response::new)
    }

    #[tracing::instrument(skip_all)]
    async fn list_vendor_orders(
        &self,
        req: Request<pb::ListVendorOrdersRequest>,
    ) -> Result<Response<pb::ListVendorOrdersResponse>, Status> {
        let r = req.into_inner();
        let vendor = vendor_id(&r.vendor_id)?;
        let after = page_after(r.cursor.as_deref())?;
        let limit = i64::from(page_limit(r.limit, 20, 100));
        let mut rows = store::vendor_orders(&self.pool, vendor, after, limit + 1)
            .await
            .map_err(store_error)?;
        let next_cursor = next_page(&mut rows, limit, |l| TimeCursor {
            created_at: l.created_at,
            id: l.sub_order_id,
        });
        Ok(Response::new(pb::ListVendorOrdersResponse {
            items: rows
                .into_iter()
                .map(|o| pb::VendorOrderSummary {
                    order_no: o.order_no,
                    sub_order_id: o.sub_order_id.to_string(),
                    status: o.status,
                    total: Some(Money {
                        amount: o.total,
                        currency: o.currency,
                    }),
                    units: o.units,
                    placed_at: o.created_at.to_rfc3339(),
                })
                .collect(),
            next_cursor,
        }))
    }
}

fn page_after(cursor: Option<&str>) -> Result<Option<TimeCursor>, Status> {
    match cursor.filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => TimeCursor::decode(c)
            .map(Some)
            .map_err(|_| invalid("invalid_cursor", "cursor is not one this API returned")),
    }
}

fn vendor_id(s: &str) -> Result<uuid::Uuid, Status> {
    uuid::Uuid::parse_str(s).map_err(|_| invalid("invalid_id", "vendor_id is not a UUID"))
}

impl Orders {
    pub(crate) async fn customer_orders(
        &self,
        r: pb::ListCustomerOrdersRequest,
    ) -> Result<pb::ListCustomerOrdersResponse, Status> {
        let customer = uuid::Uuid::parse_str(&r.customer_id)
            .map_err(|_| invalid("invalid_id", "customer_id is not a UUID"))?;
        let after = page_after(r.cursor.as_deref())?;
        let limit = i64::from(page_limit(r.limit, 20, 100));
        let mut rows = store::customer_orders(&self.pool, customer, after, limit + 1)
            .await
            .map_err(store_error)?;
        let next_cursor = next_page(&mut rows, limit, |l| TimeCursor {
            created_at: l.placed_at,
            id: l.id,
        });
        Ok(pb::ListCustomerOrdersResponse {
            items: rows
                .into_iter()
                .map(|o| pb::CustomerOrderSummary {
                    order_no: o.order_no,
                    status: o.status,
                    payment_status: o.payment_status,
                    total: Some(Money {
                        amount: o.total,
                        currency: o.currency,
                    }),
                    placed_at: o.placed_at.to_rfc3339(),
                })
                .collect(),
            next_cursor,
        })
    }
}
