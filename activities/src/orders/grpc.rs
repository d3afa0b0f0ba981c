//! `souk.orders.v1.OrderService`, served by the orders worker.

use souk_proto::common::v1::Money;
use souk_proto::orders::v1 as pb;
use souk_proto::orders::v1::order_service_server::{OrderService, OrderServiceServer};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use super::store::{self, Error, OrderDetail};
use crate::grpc::{db_error, internal, not_found};

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
    match e {
        Error::Db(e) => db_error(e),
        other => internal(other),
    }
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
    }
}

#[tonic::async_trait]
impl OrderService for Orders {
    #[tracing::instrument(skip_all)]
    async fn get_order(
        &self,
        req: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let no = req.into_inner().order_no;
        let found = store::by_order_no(&self.pool, &no)
            .await
            .map_err(store_error)?;
        found
            .map(|o| Response::new(order(o)))
            .ok_or_else(|| not_found("order_not_found", format!("no order {no}")))
    }
}
