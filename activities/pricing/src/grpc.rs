//! `souk.pricing.v1.PricingService`, served by the pricing worker.

use chrono::Utc;
use souk_domain::{CountryCode, Quantity, Sku};
use souk_proto::pricing::v1 as pb;
use souk_proto::pricing::v1::pricing_service_server::{PricingService, PricingServiceServer};
use sqlx::PgPool;
use tonic::{Code, Request, Response, Status};
use uuid::Uuid;

use super::store::{self, Error, QuoteLine, QuoteRequest};
use souk_kit::grpc::{invalid, money, parse_currency, status};

#[derive(Clone)]
pub struct Pricing {
    pool: PgPool,
}

impl Pricing {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn into_server(self) -> PricingServiceServer<Self> {
        PricingServiceServer::new(self)
    }
}

fn store_error(e: Error) -> Status {
    souk_kit::error::status(&e)
}

fn uuid(s: &str, what: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(s).map_err(|_| invalid("invalid_request", format!("{what} is not a uuid")))
}

#[tonic::async_trait]
impl PricingService for Pricing {
    #[tracing::instrument(skip_all)]
    async fn get_prices(
        &self,
        req: Request<pb::GetPricesRequest>,
    ) -> Result<Response<pb::GetPricesResponse>, Status> {
        let r = req.into_inner();
        if r.skus.len() > 500 {
            return Err(invalid("too_many_skus", "at most 500 SKUs per call"));
        }
        let currency = parse_currency(&r.currency)?;
        let prices = store::prices(&self.pool, &r.skus, currency)
            .await
            .map_err(store_error)?;
        Ok(Response::new(pb::GetPricesResponse {
            prices: prices
                .into_iter()
                .map(|p| pb::Price {
                    sku: p.sku,
                    price: Some(money(p.price)),
                    compare_at_price: p.compare_at.map(money),
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn quote(
        &self,
        req: Request<pb::QuoteRequest>,
    ) -> Result<Response<pb::QuoteResponse>, Status> {
        let r = req.into_inner();
        if r.lines.len() > 200 {
            return Err(invalid("too_many_lines", "at most 200 lines per quote"));
        }
        let currency = parse_currency(&r.currency)?;
        let country = CountryCode::parse(&r.country)
            .map_err(|e| invalid("invalid_country", e.to_string()))?;
        let mut lines = Vec::with_capacity(r.lines.len());
        for l in r.lines {
            lines.push(QuoteLine {
                sku: Sku::parse(&l.sku).map_err(|e| invalid("invalid_sku", e.to_string()))?,
                quantity: Quantity::new(l.quantity)
                    .map_err(|e| invalid("invalid_quantity", e.to_string()))?,
                tax_class: l.tax_class,
                vendor_id: uuid(&l.vendor_id, "vendor_id")?,
                product_id: uuid(&l.product_id, "product_id")?,
                category_ids: l
                    .category_ids
                    .iter()
                    .map(|c| uuid(c, "category_id"))
                    .collect::<Result<_, _>>()?,
            });
        }
        let q = store::quote(
            &self.pool,
            &QuoteRequest {
                currency,
                country,
                lines,
                coupon_code: r.coupon_code.filter(|c| !c.is_empty()),
                customer_keys: if r.customer_keys.is_empty() {
                    r.customer
                        .filter(|c| !c.is_empty())
                        .map(|c| souk_domain::coupon::customer_keys(None, &c))
                        .unwrap_or_default()
                } else {
                    r.customer_keys
                },
            },
            Utc::now(),
        )
        .await
        .map_err(store_error)?;
        Ok(Response::new(pb::QuoteResponse {
            lines: q
                .lines
                .into_iter()
                .map(|l| pb::QuotedLine {
                    sku: l.sku.to_string(),
                    quantity: l.quantity.get(),
                    unit_price: Some(money(l.unit_price)),
                    line_total: Some(money(l.line_total)),
                    discount: Some(money(l.discount)),
                    tax: Some(money(l.tax)),
                })
                .collect(),
            shipping_by_vendor: q
                .shipping_by_vendor
                .iter()
                .map(|v| pb::VendorShipping {
                    vendor_id: v.vendor_id.to_string(),
                    amount: Some(money(v.amount)),
                })
                .collect(),
            subtotal: Some(money(q.subtotal)),
            discount: Some(money(q.discount)),
            tax: Some(money(q.tax)),
            shipping: Some(money(q.shipping)),
            total: Some(money(q.total)),
            coupon: q.coupon.map(|c| pb::CouponResult {
                code: c.code,
                applied: c.rejection.is_none(),
                reason: c.rejection.as_ref().map(|r| r.code().to_string()),
                description: c.rejection.map(|r| r.to_string()).unwrap_or(c.description),
            }),
        }))
    }
}

/// Statuses built here are also used by the cart when it relays pricing's answer.
pub fn coupon_not_found(code: &str) -> Status {
    status(
        Code::NotFound,
        "unknown_coupon",
        format!("coupon `{code}` does not exist"),
    )
}
