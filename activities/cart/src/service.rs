//! Cart behaviour: validation, the calls to catalog, pricing and inventory, and optimistic
//! concurrency on the stored cart.

use chrono::{DateTime, Duration, Utc};
use souk_contracts::cart::{CartSnapshot, SnapshotCart, SnapshotLine};
use souk_domain::coupon::normalize_code;
use souk_domain::quote::VendorShipping;
use souk_domain::{CountryCode, Currency, Money, Quantity, Sku};
use souk_proto::catalog::v1 as catalog_pb;
use souk_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use souk_proto::common::v1 as common_pb;
use souk_proto::inventory::v1 as inventory_pb;
use souk_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use souk_proto::pricing::v1 as pricing_pb;
use souk_proto::pricing::v1::pricing_service_client::PricingServiceClient;
use sqlx::PgPool;
use tonic::Status;
use tonic::transport::Channel;
use uuid::Uuid;

use super::store::{self, CartStore, CheckoutHold, StoreError, StoredCart, StoredLine};
use souk_kit::error::{Described, Kind};
use souk_kit::grpc::{reason, reason_metadata, request};
use souk_kit::{Ctx, outbox};

/// The most distinct SKUs one cart may hold.
pub const MAX_LINES: usize = 100;
/// Attempts at a compare-and-set before giving up on a hot cart.
const CAS_ATTEMPTS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cart not found")]
    NotFound,
    /// The cart belongs to another customer (answered like `NotFound`).
    #[error("cart not found")]
    NotOwned,
    #[error("sign in to do this")]
    SignInRequired,
    #[error("SKU {0} is not in the cart")]
    ItemNotFound(Sku),
    #[error("SKU {0} does not exist")]
    UnknownSku(Sku),
    #[error("SKU {0} is not for sale")]
    NotSellable(Sku),
    #[error("SKU {sku} has no price in {currency}")]
    PriceUnavailable { sku: Sku, currency: Currency },
    #[error("not enough stock of {sku}: {requested} wanted, {available} available")]
    InsufficientStock {
        sku: Sku,
        requested: i64,
        available: i64,
    },
    #[error("a cart holds at most {MAX_LINES} different items")]
    TooManyLines,
    #[error("quantity of one item must be between 1 and {}", Quantity::MAX)]
    QuantityTooLarge,
    #[error("coupon `{0}` does not exist")]
    UnknownCoupon(String),
    #[error("coupon {code} cannot be applied: {message}")]
    CouponRejected {
        code: String,
        reason: String,
        message: String,
    },
    #[error("the cart is empty")]
    Empty,
    #[error("items in the cart can no longer be bought: {}", skus.join(", "))]
    Unavailable { skus: Vec<String> },
    #[error("no shipping to {country} in {currency}")]
    UnsupportedDestination {
        country: CountryCode,
        currency: Currency,
    },
    #[error("the cart is being changed by another request; try again")]
    Busy,
    #[error("the cart is being checked out ({checkout_id}); it cannot change until that ends")]
    CheckingOut { checkout_id: String },
    #[error("the cart was checked out ({checkout_id})")]
    CheckedOut { checkout_id: String },
    #[error("{service} service: {status}")]
    Upstream {
        service: &'static str,
        status: Status,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Whether Redis is away (rather than the cart being unreadable).
pub(crate) fn store_unavailable(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout()
}

impl Described for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::NotFound | Error::NotOwned | Error::ItemNotFound(_) => Kind::NotFound,
            Error::Store(StoreError::NotFound) => Kind::NotFound,
            Error::SignInRequired => Kind::Unauthenticated,
            Error::UnknownSku(_)
            | Error::TooManyLines
            | Error::QuantityTooLarge
            | Error::UnknownCoupon(_)
            | Error::UnsupportedDestination { .. } => Kind::Invalid,
            Error::NotSellable(_)
            | Error::PriceUnavailable { .. }
            | Error::InsufficientStock { .. }
            | Error::CouponRejected { .. }
            | Error::Empty
            | Error::Unavailable { .. }
            | Error::CheckingOut { .. }
            | Error::CheckedOut { .. } => Kind::Conflict,
            Error::Busy => Kind::Busy,
            Error::Store(StoreError::Redis(e)) if store_unavailable(e) => Kind::Unavailable,
            // Relayed as they came by the gRPC service; as a step, retried.
            Error::Upstream { .. } => Kind::Unavailable,
            Error::Store(_) | Error::Db(_) => Kind::Internal,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Error::NotFound | Error::Store(StoreError::NotFound) => "cart_not_found",
            // The API answers this as `cart_not_found` and records the attempt.
            Error::NotOwned => "cart_not_owned",
            Error::SignInRequired => "sign_in_required",
            Error::ItemNotFound(_) => "item_not_found",
            Error::UnknownSku(_) => "unknown_sku",
            Error::NotSellable(_) => "not_sellable",
            Error::PriceUnavailable { .. } => "price_unavailable",
            Error::InsufficientStock { .. } => "insufficient_stock",
            Error::TooManyLines => "too_many_items",
            Error::QuantityTooLarge => "invalid_quantity",
            Error::UnknownCoupon(_) => "unknown_coupon",
            Error::CouponRejected { .. } => "coupon_rejected",
            Error::Empty => "cart_empty",
            Error::Unavailable { .. } => "items_unavailable",
            Error::UnsupportedDestination { .. } => "unsupported_destination",
            Error::CheckingOut { .. } => "cart_checking_out",
            Error::CheckedOut { .. } => "cart_checked_out",
            Error::Busy => "cart_busy",
            Error::Store(StoreError::Redis(e)) if store_unavailable(e) => "cart_store_unavailable",
            Error::Upstream { .. } => "upstream_failed",
            Error::Store(_) | Error::Db(_) => "internal",
        }
    }

    fn message(&self) -> String {
        match self {
            Error::NotFound | Error::NotOwned | Error::Store(StoreError::NotFound) => {
                "cart not found or expired".into()
            }
            Error::InsufficientStock { sku, available, .. } => {
                format!("only {available} of {sku} available")
            }
            Error::CouponRejected { message, .. } => message.clone(),
            Error::Unavailable { skus } => {
                format!("items can no longer be bought: {}", skus.join(", "))
            }
            Error::UnsupportedDestination { country, currency } => {
                format!("we do not ship to {country} in {currency}")
            }
            Error::CheckedOut { checkout_id } => {
                format!("the cart was checked out ({checkout_id}); start a new cart")
            }
            Error::Store(StoreError::Redis(e)) if store_unavailable(e) => {
                "cart storage unavailable".into()
            }
            other => other.to_string(),
        }
    }

    fn details(&self) -> Vec<(&'static str, String)> {
        match self {
            Error::UnknownSku(sku) | Error::NotSellable(sku) => vec![("sku", sku.to_string())],
            Error::PriceUnavailable { sku, currency } => {
                vec![("sku", sku.to_string()), ("currency", currency.to_string())]
            }
            Error::InsufficientStock {
                sku,
                requested,
                available,
            } => vec![
                ("sku", sku.to_string()),
                ("requested", requested.to_string()),
                ("available", available.to_string()),
            ],
            Error::UnknownCoupon(code) => vec![("code", code.clone())],
            Error::CouponRejected { code, reason, .. } => {
                vec![("code", code.clone()), ("reason", reason.clone())]
            }
            Error::Unavailable { skus } => vec![("skus", skus.join(","))],
            Error::UnsupportedDestination { country, currency } => vec![
                ("country", country.to_string()),
                ("currency", currency.to_string()),
            ],
            Error::CheckingOut { checkout_id } | Error::CheckedOut { checkout_id } => {
                vec![("checkout_id", checkout_id.clone())]
            }
            _ => vec![],
        }
    }

    fn database(&self) -> Option<&sqlx::Error> {
        match self {
            Error::Db(e) => Some(e),
            _ => None,
        }
    }
}

fn upstream(service: &'static str) -> impl Fn(Status) -> Error {
    move |status| Error::Upstream { service, status }
}

/// The domain services a cart needs.
#[derive(Clone)]
pub struct Clients {
    pub catalog: CatalogServiceClient<Channel>,
    pub pricing: PricingServiceClient<Channel>,
    pub inventory: InventoryServiceClient<Channel>,
}

/// In-process striped locks: requests for one cart in this process take turns instead of
/// racing; the compare-and-set still guards against other processes.
struct Stripes(Vec<tokio::sync::Mutex<()>>);

impl Stripes {
    fn new(n: usize) -> Self {
        Stripes((0..n).map(|_| tokio::sync::Mutex::new(())).collect())
    }

    fn index(&self, key: &str) -> usize {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        (h.finish() as usize) % self.0.len()
    }

    async fn lock(&self, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        self.0[self.index(key)].lock().await
    }

    /// Both keys' stripes, taken in index order (once if they share one), so two callers
    /// locking the same pair can never wait on each other.
    async fn lock_two(
        &self,
        a: &str,
        b: &str,
    ) -> (
        tokio::sync::MutexGuard<'_, ()>,
        Option<tokio::sync::MutexGuard<'_, ()>>,
    ) {
        let (i, j) = (self.index(a), self.index(b));
        if i == j {
            return (self.0[i].lock().await, None);
        }
        let (first, second) = (i.min(j), i.max(j));
        let g1 = self.0[first].lock().await;
        let g2 = self.0[second].lock().await;
        (g1, Some(g2))
    }
}

/// A short random pause before retrying a compare-and-set that lost a race.
/// Runs `attempt` until it is not refused for a concurrent change (the compare-and-set lost),
/// at most [`CAS_ATTEMPTS`] times with a short jittered backoff; then the cart is busy. Each
/// attempt reads the cart again, so it decides on what is stored now.
async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    for n in 0..CAS_ATTEMPTS {
        match attempt().await {
            Err(Error::Store(StoreError::Conflict)) => backoff(n).await,
            other => return other,
        }
    }
    Err(Error::Busy)
}

async fn backoff(attempt: usize) {
    let jitter = (Uuid::new_v4().as_u128() % 20) as u64;
    tokio::time::sleep(std::time::Duration::from_millis(
        5 * attempt as u64 + jitter,
    ))
    .await;
}

#[derive(Clone)]
pub struct CartService {
    locks: std::sync::Arc<Stripes>,
    store: CartStore,
    clients: Clients,
    pool: PgPool,
    default_currency: Currency,
    default_country: CountryCode,
}

/// One line as shown to the customer, priced now.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedLine {
    pub sku: Sku,
    pub title: String,
    pub product_slug: String,
    pub product_id: Option<Uuid>,
    pub vendor_id: Option<Uuid>,
    pub quantity: Quantity,
    pub added_unit_price: Money,
    pub unit_price: Money,
    pub line_total: Money,
    pub discount: Money,
    pub tax: Money,
    /// False when the item can no longer be bought (withdrawn, or no price): it is left out
    /// of the totals.
    pub available: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RenderedCoupon {
    pub code: String,
    pub applied: bool,
    pub reason: Option<String>,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RenderedCart {
    pub cart: StoredCart,
    pub lines: Vec<RenderedLine>,
    pub coupon: Option<RenderedCoupon>,
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub shipping: Money,
    pub total: Money,
    pub shipping_by_vendor: Vec<VendorShipping>,
    pub expires_at: DateTime<Utc>,
    /// The checkout holding the cart now, if any.
    pub held_by: Option<CheckoutHold>,
}

fn money(m: &Option<common_pb::Money>, fallback: Currency) -> Money {
    m.as_ref()
        .and_then(|m| {
            Currency::parse(&m.currency)
                .ok()
                .map(|c| Money::new(m.amount, c))
        })
        .unwrap_or(Money::zero(fallback))
}

impl CartService {
    pub fn new(
        store: CartStore,
        clients: Clients,
        pool: PgPool,
        default_currency: Currency,
        default_country: CountryCode,
    ) -> Self {
        Self {
            locks: std::sync::Arc::new(Stripes::new(256)),
            store,
            clients,
            pool,
            default_currency,
            default_country,
        }
    }

    pub fn store(&self) -> &CartStore {
        &self.store
    }

    pub async fn create(
        &self,
        ctx: &Ctx,
        currency: Option<Currency>,
        country: Option<CountryCode>,
    ) -> Result<RenderedCart, Error> {
        let now = Utc::now();
        let cart = StoredCart {
            id: store::new_cart_id(),
            version: 1,
            currency: currency.unwrap_or(self.default_currency),
            country: country.unwrap_or(self.default_country),
            customer: None,
            coupon_customer: vec![],
            checkout: None,
            owner: ctx.user_id().map(str::to_string),
            coupon_code: None,
            lines: vec![],
            created_at: now,
            updated_at: now,
        };
        // Render first: it refuses a destination we cannot ship to, before anything is saved.
        let rendered = self.render(ctx, cart.clone()).await?;
        let event = outbox::envelope(
            ctx,
            "cart.created",
            serde_json::json!({"cart_id": cart.id, "currency": cart.currency, "country": cart.country}),
        );
        self.store.put(&cart, &event).await?;
        if let Some(owner) = &cart.owner {
            self.store.set_user_cart(owner, &cart.id).await?;
        }
        Ok(rendered)
    }

    pub async fn get(&self, ctx: &Ctx, id: &str) -> Result<RenderedCart, Error> {
        let cart = self.load(ctx, id).await?;
        self.render(ctx, cart).await
    }

    /// The stored cart, unpriced. With a `destination`, also checks that it can be shipped
    /// there in the cart's currency (`UnsupportedDestination` otherwise), without pricing it.
    pub async fn summary(
        &self,
        ctx: &Ctx,
        id: &str,
        destination: Option<CountryCode>,
    ) -> Result<StoredCart, Error> {
        let cart = self.load(ctx, id).await?;
        if let Some(country) = destination {
            self.check_destination(ctx, cart.currency, country).await?;
        }
        Ok(cart)
    }

    /// Whether pricing has a shipping rate to `country` in `currency`: a quote of nothing.
    async fn check_destination(
        &self,
        ctx: &Ctx,
        currency: Currency,
        country: CountryCode,
    ) -> Result<(), Error> {
        let req = pricing_pb::QuoteRequest {
            currency: currency.to_string(),
            country: country.to_string(),
            ..Default::default()
        };
        match self.clients.pricing.clone().quote(request(req, ctx)).await {
            Ok(_) => Ok(()),
            Err(s) if reason(&s).as_deref() == Some("shipping_unavailable") => {
                Err(Error::UnsupportedDestination { country, currency })
            }
            Err(s) => Err(upstream("pricing")(s)),
        }
    }

    /// The cart, if the caller may use it: a guest cart by anyone holding its id, a
    /// customer's cart by that customer (and operators).
    async fn load(&self, ctx: &Ctx, id: &str) -> Result<StoredCart, Error> {
        if Uuid::parse_str(id).is_err() {
            return Err(Error::NotFound);
        }
        let cart = self.store.get(id).await?.ok_or(Error::NotFound)?;
        if !ctx.may_access(cart.owner.as_deref()) {
            tracing::warn!(cart_id = id, actor = %ctx.actor, "cart of another customer refused");
            return Err(Error::NotOwned);
        }
        Ok(cart)
    }

    /// The cart, if the caller may change it: not while a checkout holds it.
    async fn load_editable(&self, ctx: &Ctx, id: &str) -> Result<StoredCart, Error> {
        let cart = self.load(ctx, id).await?;
        match cart.held_by(Utc::now()) {
            Some(h) if h.state == "completed" => Err(Error::CheckedOut {
                checkout_id: h.checkout_id.clone(),
            }),
            Some(h) => Err(Error::CheckingOut {
                checkout_id: h.checkout_id.clone(),
            }),
            None => Ok(cart),
        }
    }

    /// Puts the cart under a checkout's hold (or changes the hold), with a compare-and-set
    /// like every change.
    async fn set_hold(
        &self,
        ctx: &Ctx,
        id: &str,
        change: impl Fn(&StoredCart) -> Result<Option<Option<CheckoutHold>>, Error>,
        event_type: &str,
    ) -> Result<(), Error> {
        retrying(|| async {
            let Some(mut cart) = self.store.get(id).await? else {
                return Ok(());
            };
            let Some(hold) = change(&cart)? else {
                return Ok(());
            };
            cart.checkout = hold;
            cart.version += 1;
            cart.updated_at = Utc::now();
            let event = outbox::envelope(
                ctx,
                event_type,
                serde_json::json!({"cart_id": id, "checkout": cart.checkout}),
            );
            Ok(self.store.put(&cart, &event).await?)
        })
        .await
    }

    /// Releases a running checkout's hold on its cart (the checkout failed or was
    /// cancelled). Idempotent; a hold of another attempt, or none, is left as it is.
    pub async fn release_checkout(
        &self,
        ctx: &Ctx,
        cart_id: &str,
        checkout_id: &str,
        attempt: u32,
    ) -> Result<(), Error> {
        let _turn = self.locks.lock(cart_id).await;
        self.set_hold(
            ctx,
            cart_id,
            |cart| {
                Ok(match &cart.checkout {
                    Some(h)
                        if h.checkout_id == checkout_id
                            && h.attempt == attempt
                            && h.state == "running" =>
                    {
                        Some(None)
                    }
                    _ => None,
                })
            },
            "cart.checkout_released",
        )
        .await
    }

    /// Marks the cart as checked out for good, and no longer its owner's current cart.
    /// Idempotent.
    pub async fn complete_checkout(
        &self,
        ctx: &Ctx,
        cart_id: &str,
        checkout_id: &str,
        attempt: u32,
    ) -> Result<(), Error> {
        let _turn = self.locks.lock(cart_id).await;
        self.set_hold(
            ctx,
            cart_id,
            |cart| {
                Ok(match &cart.checkout {
                    Some(h) if h.state == "completed" => None,
                    _ => Some(Some(CheckoutHold {
                        checkout_id: checkout_id.to_string(),
                        attempt,
                        state: "completed".into(),
                        until: None,
                    })),
                })
            },
            "cart.checkout_completed",
        )
        .await?;
        if let Some(cart) = self.store.get(cart_id).await?
            && let Some(owner) = &cart.owner
            && self.store.user_cart(owner).await?.as_deref() == Some(cart_id)
        {
            self.store.clear_user_cart(owner).await?;
        }
        Ok(())
    }

    /// The signed-in caller's current cart.
    pub async fn mine(&self, ctx: &Ctx) -> Result<RenderedCart, Error> {
        let user = ctx.user_id().ok_or(Error::SignInRequired)?;
        let id = self.store.user_cart(user).await?.ok_or(Error::NotFound)?;
        match self.load(ctx, &id).await {
            Ok(cart) if cart.owner.as_deref() == Some(user) => self.render(ctx, cart).await,
            Ok(_) | Err(Error::NotOwned) => Err(Error::NotFound),
            Err(e) => Err(e),
        }
    }

    /// Brings a guest cart to the signed-in caller: it becomes their cart if they have none;
    /// otherwise its items (and its coupon, if theirs has none) are added to their cart and
    /// the guest cart is deleted. Items that can no longer be bought in that quantity are
    /// left out. Merging a cart that is already theirs changes nothing.
    pub async fn merge(&self, ctx: &Ctx, guest_id: &str) -> Result<RenderedCart, Error> {
        let user = ctx.user_id().ok_or(Error::SignInRequired)?.to_string();
        // Both carts take turns with other changes to them in this process.
        let target_hint = self
            .store
            .user_cart(&user)
            .await?
            .unwrap_or_else(|| guest_id.to_string());
        let _turns = self.locks.lock_two(guest_id, &target_hint).await;
        let guest = self.load_editable(ctx, guest_id).await?;
        if guest.owner.as_deref() == Some(user.as_str()) {
            self.store.set_user_cart(&user, &guest.id).await?;
            return self.render(ctx, guest).await;
        }
        if guest.owner.is_some() {
            // An operator merging someone else's cart into their own: refuse.
            return Err(Error::NotOwned);
        }
        let current = match self.store.user_cart(&user).await? {
            Some(id) if id != guest.id => match self.store.get(&id).await? {
                Some(c) if c.owner.as_deref() == Some(user.as_str()) => Some(c),
                _ => None,
            },
            _ => None,
        };
        let Some(target) = current else {
            // No cart of their own: the guest cart becomes theirs.
            let mut cart = guest;
            cart.owner = Some(user.clone());
            let data = serde_json::json!({"cart_id": cart.id, "owner": user});
            let rendered = self.save(ctx, cart, "cart.claimed", data).await?;
            self.store.set_user_cart(&user, &rendered.cart.id).await?;
            return Ok(rendered);
        };
        retrying(|| async {
            let mut cart = self.load_editable(ctx, &target.id).await?;
            let mut merged = Vec::new();
            let mut skipped = Vec::new();
            for line in &guest.lines {
                let existing = cart.lines.iter().position(|l| l.sku == line.sku);
                let total =
                    existing.map_or(0, |i| cart.lines[i].quantity.get()) + line.quantity.get();
                let Ok(qty) = Quantity::new(total) else {
                    skipped.push(line.sku.to_string());
                    continue;
                };
                if existing.is_none() && cart.lines.len() >= MAX_LINES {
                    skipped.push(line.sku.to_string());
                    continue;
                }
                match self.check_item(ctx, &cart, &line.sku, qty).await {
                    Ok(price) => {
                        match existing {
                            Some(i) => {
                                cart.lines[i].quantity = qty;
                                cart.lines[i].added_unit_price = price;
                            }
                            None => cart.lines.push(StoredLine {
                                added_unit_price: price,
                                ..line.clone()
                            }),
                        }
                        merged.push(line.sku.to_string());
                    }
                    Err(Error::Upstream { service, status }) => {
                        return Err(Error::Upstream { service, status });
                    }
                    Err(_) => skipped.push(line.sku.to_string()),
                }
            }
            if cart.coupon_code.is_none() {
                cart.coupon_code = guest.coupon_code.clone();
            }
            let data = serde_json::json!({
                "cart_id": cart.id, "merged_from": guest.id, "merged": merged, "skipped": skipped,
            });
            match self.save(ctx, cart, "cart.merged", data).await {
                Err(e) => Err(e),
                Ok(rendered) => {
                    let event = outbox::envelope(
                        ctx,
                        "cart.deleted",
                        serde_json::json!({"cart_id": guest.id, "merged_into": rendered.cart.id}),
                    );
                    // Only the cart as it was merged: one a checkout took meanwhile stays.
                    match self.store.delete_if(&guest.id, guest.version, &event).await {
                        Err(StoreError::Conflict) => tracing::warn!(
                            cart_id = %guest.id,
                            "the guest cart changed while it was merged; it is kept"
                        ),
                        other => other?,
                    }
                    Ok(rendered)
                }
            }
        })
        .await
    }

    /// Adds `quantity` of `sku`, or more of it if the cart holds it already.
    pub async fn add_item(
        &self,
        ctx: &Ctx,
        id: &str,
        sku: &Sku,
        quantity: Quantity,
    ) -> Result<RenderedCart, Error> {
        let _turn = self.locks.lock(id).await;
        retrying(|| async move {
            let mut cart = self.load_editable(ctx, id).await?;
            let existing = cart.lines.iter().position(|l| &l.sku == sku);
            let new_qty = match existing {
                Some(i) => Quantity::new(cart.lines[i].quantity.get() + quantity.get())
                    .map_err(|_| Error::QuantityTooLarge)?,
                None => quantity,
            };
            if existing.is_none() && cart.lines.len() >= MAX_LINES {
                return Err(Error::TooManyLines);
            }
            let price = self.check_item(ctx, &cart, sku, new_qty).await?;
            let now = Utc::now();
            match existing {
                Some(i) => {
                    cart.lines[i].quantity = new_qty;
                    cart.lines[i].added_unit_price = price;
                }
                None => cart.lines.push(StoredLine {
                    sku: sku.clone(),
                    quantity: new_qty,
                    added_unit_price: price,
                    added_at: now,
                }),
            }
            let data = serde_json::json!({
                "cart_id": id, "sku": sku, "added": quantity.get(), "quantity": new_qty.get(),
                "unit_price": price,
            });
            self.save(ctx, cart, "cart.item_added", data).await
        })
        .await
    }

    /// Sets the quantity of a line already in the cart.
    pub async fn update_item(
        &self,
        ctx: &Ctx,
        id: &str,
        sku: &Sku,
        quantity: Quantity,
    ) -> Result<RenderedCart, Error> {
        let _turn = self.locks.lock(id).await;
        retrying(|| async move {
            let mut cart = self.load_editable(ctx, id).await?;
            let i = cart
                .lines
                .iter()
                .position(|l| &l.sku == sku)
                .ok_or_else(|| Error::ItemNotFound(sku.clone()))?;
            let previous = cart.lines[i].quantity;
            if quantity > previous {
                let price = self.check_item(ctx, &cart, sku, quantity).await?;
                cart.lines[i].added_unit_price = price;
            }
            cart.lines[i].quantity = quantity;
            let data = serde_json::json!({
                "cart_id": id, "sku": sku, "previous_quantity": previous.get(), "quantity": quantity.get(),
            });
            self.save(ctx, cart, "cart.item_updated", data).await
        })
        .await
    }

    pub async fn remove_item(&self, ctx: &Ctx, id: &str, sku: &Sku) -> Result<RenderedCart, Error> {
        let _turn = self.locks.lock(id).await;
        retrying(|| async move {
            let mut cart = self.load_editable(ctx, id).await?;
            let i = cart
                .lines
                .iter()
                .position(|l| &l.sku == sku)
                .ok_or_else(|| Error::ItemNotFound(sku.clone()))?;
            let removed = cart.lines.remove(i);
            let data =
                serde_json::json!({"cart_id": id, "sku": sku, "quantity": removed.quantity.get()});
            self.save(ctx, cart, "cart.item_removed", data).await
        })
        .await
    }

    /// Applies a coupon if it applies to the cart now; otherwise says why not and saves nothing.
    pub async fn apply_coupon(
        &self,
        ctx: &Ctx,
        id: &str,
        code: &str,
    ) -> Result<RenderedCart, Error> {
        let code = normalize_code(code).ok_or_else(|| Error::UnknownCoupon(code.to_string()))?;
        let _turn = self.locks.lock(id).await;
        let code = &code;
        retrying(|| async move {
            let mut cart = self.load_editable(ctx, id).await?;
            cart.coupon_code = Some(code.clone());
            let rendered = self.render(ctx, cart.clone()).await?;
            if let Some(c) = &rendered.coupon
                && !c.applied
            {
                return Err(match c.reason.as_deref() {
                    Some("not_found") => Error::UnknownCoupon(code.clone()),
                    reason => Error::CouponRejected {
                        code: code.clone(),
                        reason: reason.unwrap_or("not_applicable").to_string(),
                        message: c.description.clone(),
                    },
                });
            }
            let data = serde_json::json!({"cart_id": id, "code": code});
            self.save(ctx, cart, "cart.coupon_applied", data).await
        })
        .await
    }

    pub async fn remove_coupon(&self, ctx: &Ctx, id: &str) -> Result<RenderedCart, Error> {
        let _turn = self.locks.lock(id).await;
        retrying(|| async move {
            let mut cart = self.load_editable(ctx, id).await?;
            let Some(code) = cart.coupon_code.take() else {
                return self.render(ctx, cart).await;
            };
            let data = serde_json::json!({"cart_id": id, "code": code});
            self.save(ctx, cart, "cart.coupon_removed", data).await
        })
        .await
    }

    /// Prices the cart now for its destination (where the order ships; the cart's own
    /// country if none) and records it for a checkout attempt (once per attempt), holding the
    /// cart for the checkout if asked to.
    pub async fn snapshot(&self, ctx: &Ctx, input: &SnapshotCart) -> Result<CartSnapshot, Error> {
        let (cart_id, checkout_id, attempt) = (
            input.cart_id.as_str(),
            input.checkout_id.as_str(),
            input.attempt,
        );
        // Checkouts started before customer keys were sent count the address.
        let customer_keys = if input.customer_keys.is_empty() {
            souk_domain::coupon::customer_keys(None, &input.customer)
        } else {
            input.customer_keys.clone()
        };
        let (destination, hold_seconds) = (input.destination, input.hold_seconds);
        if let Some(existing) =
            store::snapshot_for_checkout(&self.pool, checkout_id, attempt).await?
        {
            return Ok(existing);
        }
        // From here on the cart cannot change: what is snapshotted is what is charged.
        if let Some(secs) = hold_seconds {
            let _turn = self.locks.lock(cart_id).await;
            self.load(ctx, cart_id).await?;
            self.set_hold(
                ctx,
                cart_id,
                |cart| match &cart.checkout {
                    Some(h) if h.state == "completed" => Err(Error::CheckedOut {
                        checkout_id: h.checkout_id.clone(),
                    }),
                    Some(h) if h.checkout_id == checkout_id && h.attempt == attempt => Ok(None),
                    _ => Ok(Some(Some(CheckoutHold {
                        checkout_id: checkout_id.to_string(),
                        attempt,
                        state: "running".into(),
                        until: Some(Utc::now() + Duration::seconds(secs.min(30 * 86_400) as i64)),
                    }))),
                },
                "cart.checkout_started",
            )
            .await?;
        }
        let mut cart = self.load(ctx, cart_id).await?;
        cart.coupon_customer = customer_keys;
        if let Some(d) = destination {
            cart.country = d;
        }
        let r = self.render(ctx, cart).await?;
        if r.lines.is_empty() {
            return Err(Error::Empty);
        }
        let unavailable: Vec<String> = r
            .lines
            .iter()
            .filter(|l| !l.available)
            .map(|l| l.sku.to_string())
            .collect();
        if !unavailable.is_empty() {
            return Err(Error::Unavailable { skus: unavailable });
        }
        let snapshot = CartSnapshot {
            snapshot_id: Uuid::now_v7(),
            cart_id: cart_id.to_string(),
            checkout_id: checkout_id.to_string(),
            attempt,
            currency: r.cart.currency,
            country: r.cart.country,
            lines: r
                .lines
                .iter()
                .map(|l| SnapshotLine {
                    sku: l.sku.clone(),
                    title: l.title.clone(),
                    product_id: l.product_id.unwrap_or_default(),
                    vendor_id: l.vendor_id.unwrap_or_default(),
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                    added_unit_price: l.added_unit_price,
                    line_total: l.line_total,
                    discount: l.discount,
                    tax: l.tax,
                })
                .collect(),
            coupon_code: r.coupon.as_ref().map(|c| c.code.clone()),
            coupon_applied: r.coupon.as_ref().is_some_and(|c| c.applied),
            subtotal: r.subtotal,
            discount: r.discount,
            tax: r.tax,
            shipping: r.shipping,
            total: r.total,
            shipping_by_vendor: r.shipping_by_vendor.clone(),
        };
        Ok(store::save_snapshot(&self.pool, ctx, &snapshot).await?)
    }

    async fn save(
        &self,
        ctx: &Ctx,
        mut cart: StoredCart,
        event_type: &str,
        data: serde_json::Value,
    ) -> Result<RenderedCart, Error> {
        cart.version += 1;
        cart.updated_at = Utc::now();
        // Price first: if a service we need is down, nothing is written and the client can
        // safely retry.
        let rendered = self.render(ctx, cart).await?;
        let event = outbox::envelope(ctx, event_type, data);
        self.store.put(&rendered.cart, &event).await?;
        Ok(rendered)
    }

    /// Checks that `sku` can be bought in `quantity` for this cart; returns its price now.
    async fn check_item(
        &self,
        ctx: &Ctx,
        cart: &StoredCart,
        sku: &Sku,
        quantity: Quantity,
    ) -> Result<Money, Error> {
        let mut catalog = self.clients.catalog.clone();
        let mut pricing = self.clients.pricing.clone();
        let mut inventory = self.clients.inventory.clone();
        let skus = vec![sku.to_string()];
        let (variants, prices, stock) = tokio::try_join!(
            async {
                catalog
                    .get_variants(request(
                        catalog_pb::GetVariantsRequest { skus: skus.clone() },
                        ctx,
                    ))
                    .await
                    .map_err(upstream("catalog"))
            },
            async {
                pricing
                    .get_prices(request(
                        pricing_pb::GetPricesRequest {
                            skus: skus.clone(),
                            currency: cart.currency.to_string(),
                        },
                        ctx,
                    ))
                    .await
                    .map_err(upstream("pricing"))
            },
            async {
                inventory
                    .get_availability(request(
                        inventory_pb::GetAvailabilityRequest { skus: skus.clone() },
                        ctx,
                    ))
                    .await
                    .map_err(upstream("inventory"))
            },
        )?;
        let variant = variants
            .into_inner()
            .variants
            .into_iter()
            .next()
            .ok_or_else(|| Error::UnknownSku(sku.clone()))?;
        if !variant.sellable {
            return Err(Error::NotSellable(sku.clone()));
        }
        let price = prices
            .into_inner()
            .prices
            .into_iter()
            .next()
            .map(|p| money(&p.price, cart.currency))
            .ok_or_else(|| Error::PriceUnavailable {
                sku: sku.clone(),
                currency: cart.currency,
            })?;
        let available = stock
            .into_inner()
            .items
            .into_iter()
            .next()
            .map_or(0, |a| a.available);
        if available < quantity.get() {
            return Err(Error::InsufficientStock {
                sku: sku.clone(),
                requested: quantity.get(),
                available,
            });
        }
        Ok(price)
    }

    /// Prices the cart now: catalog facts for every line, then one quote from pricing.
    pub async fn render(&self, ctx: &Ctx, cart: StoredCart) -> Result<RenderedCart, Error> {
        let skus: Vec<String> = cart.lines.iter().map(|l| l.sku.to_string()).collect();
        let variants = if skus.is_empty() {
            vec![]
        } else {
            let mut catalog = self.clients.catalog.clone();
            catalog
                .get_variants(request(catalog_pb::GetVariantsRequest { skus }, ctx))
                .await
                .map_err(upstream("catalog"))?
                .into_inner()
                .variants
        };
        let variant = |sku: &Sku| variants.iter().find(|v| v.sku == sku.as_str());
        let mut sellable: Vec<&StoredLine> = cart
            .lines
            .iter()
            .filter(|l| variant(&l.sku).is_some_and(|v| v.sellable))
            .collect();

        // Price what can be sold; a SKU that lost its price is shown as unavailable.
        let mut pricing = self.clients.pricing.clone();
        let quote = loop {
            let req = pricing_pb::QuoteRequest {
                currency: cart.currency.to_string(),
                country: cart.country.to_string(),
                lines: sellable
                    .iter()
                    .filter_map(|l| {
                        let v = variant(&l.sku)?;
                        Some(pricing_pb::QuoteLine {
                            sku: l.sku.to_string(),
                            quantity: l.quantity.get(),
                            tax_class: v.tax_class.clone(),
                            vendor_id: v.vendor_id.clone(),
                            product_id: v.product_id.clone(),
                            category_ids: v.category_ids.clone(),
                        })
                    })
                    .collect(),
                coupon_code: cart.coupon_code.clone(),
                customer: None,
                customer_keys: if !cart.coupon_customer.is_empty() {
                    cart.coupon_customer.clone()
                } else if let Some(owner) = &cart.owner {
                    souk_domain::coupon::customer_keys(Some(owner), "")
                } else {
                    vec![]
                },
            };
            match pricing.quote(request(req, ctx)).await {
                Ok(q) => break q.into_inner(),
                Err(s) if reason(&s).as_deref() == Some("price_unavailable") => {
                    let missing = reason_metadata(&s).get("skus").cloned().unwrap_or_default();
                    let before = sellable.len();
                    sellable.retain(|l| !missing.split(',').any(|m| m == l.sku.as_str()));
                    if sellable.len() == before {
                        return Err(upstream("pricing")(s));
                    }
                }
                Err(s) if reason(&s).as_deref() == Some("shipping_unavailable") => {
                    return Err(Error::UnsupportedDestination {
                        country: cart.country,
                        currency: cart.currency,
                    });
                }
                Err(s) => return Err(upstream("pricing")(s)),
            }
        };

        let cur = cart.currency;
        let zero = Money::zero(cur);
        let lines = cart
            .lines
            .iter()
            .map(|l| {
                let v = variant(&l.sku);
                let q = quote.lines.iter().find(|q| q.sku == l.sku.as_str());
                RenderedLine {
                    sku: l.sku.clone(),
                    title: v
                        .map(|v| format!("{} — {}", v.product_title, v.title))
                        .unwrap_or_else(|| l.sku.to_string()),
                    product_slug: v.map(|v| v.product_slug.clone()).unwrap_or_default(),
                    product_id: v.and_then(|v| Uuid::parse_str(&v.product_id).ok()),
                    vendor_id: v.and_then(|v| Uuid::parse_str(&v.vendor_id).ok()),
                    quantity: l.quantity,
                    added_unit_price: l.added_unit_price,
                    unit_price: q.map_or(l.added_unit_price, |q| money(&q.unit_price, cur)),
                    line_total: q.map_or(zero, |q| money(&q.line_total, cur)),
                    discount: q.map_or(zero, |q| money(&q.discount, cur)),
                    tax: q.map_or(zero, |q| money(&q.tax, cur)),
                    available: q.is_some(),
                }
            })
            .collect();
        let expires_at = cart.updated_at + Duration::seconds(self.store.ttl_seconds());
        Ok(RenderedCart {
            lines,
            coupon: quote.coupon.map(|c| RenderedCoupon {
                code: c.code,
                applied: c.applied,
                reason: c.reason,
                description: c.description,
            }),
            shipping_by_vendor: quote
                .shipping_by_vendor
                .iter()
                .filter_map(|v| {
                    Some(VendorShipping {
                        vendor_id: Uuid::parse_str(&v.vendor_id).ok()?,
                        amount: money(&v.amount, cur),
                    })
                })
                .collect(),
            subtotal: money(&quote.subtotal, cur),
            discount: money(&quote.discount, cur),
            tax: money(&quote.tax, cur),
            shipping: money(&quote.shipping, cur),
            total: money(&quote.total, cur),
            expires_at,
            held_by: cart.held_by(Utc::now()).cloned(),
            cart,
        })
    }
}
