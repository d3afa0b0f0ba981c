//! `souk.cart.v1.CartService`, served by the cart worker.

use souk_domain::{CountryCode, Currency, Quantity, Sku};
use souk_proto::cart::v1 as pb;
use souk_proto::cart::v1::cart_service_server::{CartService as CartRpc, CartServiceServer};
use tonic::{Request, Response, Status};

use super::service::{CartService, Error, RenderedCart};
use super::store::StoreError;
use souk_kit::grpc::{ctx, invalid, money};

#[derive(Clone)]
pub struct Cart {
    service: CartService,
}

impl Cart {
    pub fn new(service: CartService) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> CartServiceServer<Self> {
        CartServiceServer::new(self)
    }
}

/// The status of a cart error (`souk_kit::error::status` of its description); another
/// service's answer is relayed as it came, since it carries its own reason.
pub fn error_status(e: Error) -> Status {
    match e {
        Error::Upstream { status, .. } => status,
        e => {
            if let Error::Store(StoreError::Redis(r)) = &e
                && super::service::store_unavailable(r)
            {
                tracing::warn!(error = %r, "redis unavailable");
            }
            souk_kit::error::status(&e)
        }
    }
}

pub fn render(r: RenderedCart) -> pb::Cart {
    pb::Cart {
        id: r.cart.id.clone(),
        currency: r.cart.currency.to_string(),
        country: r.cart.country.to_string(),
        items: r
            .lines
            .into_iter()
            .map(|l| pb::CartLine {
                sku: l.sku.to_string(),
                title: l.title,
                product_slug: l.product_slug,
                vendor_id: l.vendor_id.map(|v| v.to_string()).unwrap_or_default(),
                quantity: l.quantity.get(),
                unit_price: Some(money(l.unit_price)),
                added_unit_price: Some(money(l.added_unit_price)),
                line_total: Some(money(l.line_total)),
                discount: Some(money(l.discount)),
                tax: Some(money(l.tax)),
                available: l.available,
            })
            .collect(),
        coupon: r.coupon.map(|c| pb::CartCoupon {
            code: c.code,
            applied: c.applied,
            reason: c.reason,
            description: c.description,
        }),
        subtotal: Some(money(r.subtotal)),
        discount: Some(money(r.discount)),
        tax: Some(money(r.tax)),
        shipping: Some(money(r.shipping)),
        total: Some(money(r.total)),
        created_at: r.cart.created_at.to_rfc3339(),
        updated_at: r.cart.updated_at.to_rfc3339(),
        expires_at: r.expires_at.to_rfc3339(),
        version: r.cart.version,
        owner_id: r.cart.owner.clone(),
        checkout_id: r.held_by.as_ref().map(|h| h.checkout_id.clone()),
        checkout_state: r.held_by.as_ref().map(|h| h.state.clone()),
    }
}

fn sku(s: &str) -> Result<Sku, Status> {
    Sku::parse(s).map_err(|e| invalid("invalid_sku", e.to_string()))
}

fn quantity(q: i64) -> Result<Quantity, Status> {
    Quantity::new(q).map_err(|e| invalid("invalid_quantity", e.to_string()))
}

fn actor<T>(req: &Request<T>, cart_id: &str) -> souk_kit::Ctx {
    ctx(req, &format!("customer:cart:{cart_id}"))
}

#[tonic::async_trait]
impl CartRpc for Cart {
    #[tracing::instrument(skip_all)]
    async fn create_cart(
        &self,
        req: Request<pb::CreateCartRequest>,
    ) -> Result<Response<pb::Cart>, Status> {
        let ctx = ctx(&req, "customer:guest");
        let r = req.into_inner();
        let currency = r
            .currency
            .filter(|c| !c.is_empty())
            .map(|c| Currency::parse(&c).map_err(|e| invalid("invalid_currency", e.to_string())))
            .transpose()?;
        let country = r
            .country
            .filter(|c| !c.is_empty())
            .map(|c| CountryCode::parse(&c).map_err(|e| invalid("invalid_country", e.to_string())))
            .transpose()?;
        let cart = self
            .service
            .create(&ctx, currency, country)
            .await
            .map_err(error_status)?;
        tracing::info!(cart_id = %cart.cart.id, "cart created");
        Ok(Response::new(render(cart)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_cart(
        &self,
        req: Request<pb::GetCartRequest>,
    ) -> Result<Response<pb::Cart>, Status> {
        let id = req.get_ref().cart_id.clone();
        let ctx = actor(&req, &id);
        let cart = self.service.get(&ctx, &id).await.map_err(error_status)?;
        Ok(Response::new(render(cart)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_cart_summary(
        &self,
        req: Request<pb::GetCartRequest>,
    ) -> Result<Response<pb::CartSummary>, Status> {
        let ctx = actor(&req, &req.get_ref().cart_id);
        let r = req.into_inner();
        let destination = r
            .destination
            .as_deref()
            .map(CountryCode::parse)
            .transpose()
            .map_err(|e| invalid("invalid_country", e.to_string()))?;
        let cart = self
            .service
            .summary(&ctx, &r.cart_id, destination)
            .await
            .map_err(error_status)?;
        Ok(Response::new(pb::CartSummary {
            id: cart.id,
            currency: cart.currency.to_string(),
            item_count: cart.lines.len() as i64,
            units: cart.lines.iter().map(|l| l.quantity.get()).sum(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn add_item(
        &self,
        req: Request<pb::AddItemRequest>,
    ) -> Result<Response<pb::Cart>, Status> {
        let ctx = actor(&req, &req.get_ref().cart_id);
        let r = req.into_inner();
        let (sku, qty) = (sku(&r.sku)?, quantity(r.quantity)?);
        let cart = self
            .service
            .add_item(&ctx, &r.cart_id, &sku, qty)
            .await
            .map_err(error_status)?;
        Ok(Response::new(render(cart)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_item(
        &self,
        req: Request<pb::UpdateItemRequest>,
    ) -> Result<Response<pb::Cart>, Status> {
        let ctx = actor(&req, &req.get_ref().cart_id);
        let r = req.into_inner();
        let (sku, qty) = (sku(&r.sku)?, quantity(r.quantity)?);
        let cart = self
            .service
            .update_item(&ctx, &r.cart_id, &sku, qty)
            .await
            .map_err(error_status)?;
        Ok(Response::new(render(cart)))
    }

    #[tracing::instrument(skip_all)]
    async fn remove_item(
        &self,
        req: Request<pb::RemoveItemRequest>,
    ) -> Result<Response<pb::Cart>, Status> {
        let ctx = actor(&req, &req.get_ref().cart_id);
        let r = req.into_inner();
        let sku = sku(&r.sku)?;
        let cart = self
            .service
            .remove_item(&ctx, &r.cart_id, &sku)
            .await
            .map_err(error_status)?;
        Ok(Response::new(render(cart)))
    }

    #[tracing::instrument(skip_all)]
    async fn apply_coupon(
        &self,
        req: Request<pb::ApplyCouponRequest>,
    ) -> Result<Response<pb::Cart>, Status> {
        let ctx = actor(&req, &req.get_ref().cart_id);
        let r = req.into_inner();
        let cart = self
            .service
            .apply_coupon(&ctx, &r.cart_id, &r.code)
            .await
            .map_err(error_status)?;
        Ok(Response::new(render(cart)))
    }

    #[tracing::instrument(skip_all)]
    async fn remove_coupon(
        &self,
        req: Request<pb::RemoveCouponRequest>,
    ) -> Result<Response<pb::Cart>, Status> {
        let ctx = actor(&req, &req.get_ref().cart_id);
        let r = req.into_inner();
        let cart = self
            .service
            .remove_coupon(&ctx, &r.cart_id)
            .await
            .map_err(error_status)?;
        Ok(Response::new(render(cart)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_my_cart(
        &self,
        req: Request<pb::GetMyCartRequest>,
    ) -> Result<Response<pb::Cart>, Status> {
        let ctx = ctx(&req, "customer:guest");
        let cart = self.service.mine(&ctx).await.map_err(error_status)?;
        Ok(Response::new(render(cart)))
    }

    #[tracing::instrument(skip_all, fields(cart_id = %req.get_ref().cart_id))]
    async fn merge_cart(
        &self,
        req: Request<pb::MergeCartRequest>,
    ) -> Result<Response<pb::Cart>, Status> {
        let ctx = actor(&req, &req.get_ref().cart_id);
        let id = req.into_inner().cart_id;
        let cart = self.service.merge(&ctx, &id).await.map_err(error_status)?;
        tracing::info!(into = %cart.cart.id, "guest cart merged");
        Ok(Response::new(render(cart)))
    }
}
