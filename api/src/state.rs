//! Shared state: gRPC clients of the domain services, a lazily connected Temporal client,
//! settings. Cheap to clone.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use souk_domain::Currency;
use souk_proto::auth::v1::auth_service_client::AuthServiceClient;
use souk_proto::cart::v1::cart_service_client::CartServiceClient;
use souk_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use souk_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use souk_proto::orders::v1::order_service_client::OrderServiceClient;
use souk_proto::payments::v1::payment_service_client::PaymentServiceClient;
use souk_proto::pricing::v1::pricing_service_client::PricingServiceClient;
use souk_proto::returns::v1::returns_service_client::ReturnsServiceClient;
use souk_proto::shipping::v1::shipping_service_client::ShippingServiceClient;
use souk_proto::users::v1::user_service_client::UserServiceClient;
use souk_proto::vendors::v1::vendor_service_client::VendorServiceClient;
use temporalio_client::{Client, ClientOptions, ConnectionOptions, Url};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;

use crate::breaker::{self, BreakerSettings, Guarded};
use crate::error::ApiError;

/// Where the domain services listen.
#[derive(Debug, Clone)]
pub struct ServiceUrls {
    pub catalog: String,
    pub inventory: String,
    pub pricing: String,
    pub cart: String,
    pub orders: String,
    pub payments: String,
    pub notifications: String,
    pub auth: String,
    pub users: String,
    pub shipping: String,
    pub returns: String,
    pub vendors: String,
}

/// Checkout knobs passed to every new checkout workflow.
#[derive(Debug, Clone)]
pub struct CheckoutSettings {
    pub reservation_ttl_seconds: u64,
    pub payment_wait_seconds: u64,
    pub capture_delay_seconds: u64,
    pub price_tolerance_bp: i64,
    /// How long `POST /v1/checkouts` waits for the decision before answering 202.
    pub decision_wait: Duration,
    /// What the shipments a checkout starts run with.
    pub shipment: souk_contracts::shipping::ShipmentSettings,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `iss` and `aud` that access tokens must carry.
    pub token_issuer: String,
    pub token_audience: String,
    /// Staff and super admins reach `/v1/admin/...` only after signing in with a second
    /// factor.
    pub require_operator_mfa: bool,
    pub default_currency: Currency,
    pub services: ServiceUrls,
    pub checkout: CheckoutSettings,
    /// What new returns run with (windows, decision times, the auto-approval policy).
    pub returns: souk_contracts::returns::ReturnSettings,
    /// How long one call to a domain service may take.
    pub service_timeout: Duration,
    pub breaker: BreakerSettings,
    pub temporal_address: String,
    pub temporal_namespace: String,
    /// Encrypts and decrypts what goes to Temporal (and serves the codec endpoint).
    pub temporal_codec: souk_contracts::codec::EncryptionCodec,
    /// The workflow task queue (with the deployment's prefix, if any).
    pub workflow_queue: String,
    /// Largest request body accepted.
    pub body_limit_bytes: usize,
    /// Longest a whole request may take.
    pub request_timeout: Duration,
    pub rate_limits: crate::throttle::RateLimits,
    /// A header that carries the client address, set by a trusted proxy in front of the API
    /// (`x-forwarded-for`: the right-most entry is used); empty: the peer address.
    pub client_ip_header: Option<String>,
    /// Origins browsers may call the API from (CORS); empty: none. The Temporal Web UI's
    /// origin is among them, for the codec.
    pub cors_origins: Vec<String>,
    /// Cookies (the codec session) are sent over HTTPS only.
    pub secure_cookies: bool,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub catalog: CatalogServiceClient<Guarded>,
    pub inventory: InventoryServiceClient<Guarded>,
    pub pricing: PricingServiceClient<Guarded>,
    pub cart: CartServiceClient<Guarded>,
    pub orders: OrderServiceClient<Guarded>,
    pub payments: PaymentServiceClient<Guarded>,
    pub auth: AuthServiceClient<Guarded>,
    pub users: UserServiceClient<Guarded>,
    pub shipping: ShippingServiceClient<Guarded>,
    pub returns: ReturnsServiceClient<Guarded>,
    pub vendors: VendorServiceClient<Guarded>,
    /// Verifies access tokens against the auth domain's keys.
    pub verifier: crate::identity::Verifier,
    pub limiter: crate::throttle::Limiter,
    /// Standard gRPC health of each domain service (which reflects its database and Redis).
    pub health: Vec<(&'static str, HealthClient<Channel>)>,
    pub temporal: Temporal,
    pub settings: Settings,
    pub metrics: PrometheusHandle,
    /// Which domains ran out of database connections lately (for `/readyz`).
    pub busy: crate::busy::Busy,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

fn channel(url: &str, timeout: Duration) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(timeout)
        .tcp_nodelay(true)
        .connect_lazy())
}

impl AppState {
    /// Builds the state. Connections are lazy: the API starts even while a domain service or
    /// Temporal is down, and `/readyz` says so.
    pub fn new(settings: Settings, metrics: PrometheusHandle) -> anyhow::Result<Self> {
        let t = settings.service_timeout;
        let s = &settings.services;
        let (catalog, inventory, pricing, cart) = (
            channel(&s.catalog, t)?,
            channel(&s.inventory, t)?,
            channel(&s.pricing, t)?,
            channel(&s.cart, t)?,
        );
        let (orders, payments, notifications, auth, users) = (
            channel(&s.orders, t)?,
            channel(&s.payments, t)?,
            channel(&s.notifications, t)?,
            channel(&s.auth, t)?,
            channel(&s.users, t)?,
        );
        let shipping = channel(&s.shipping, t)?;
        let returns = channel(&s.returns, t)?;
        let vendors = channel(&s.vendors, t)?;
        let health = vec![
            ("catalog", HealthClient::new(catalog.clone())),
            ("inventory", HealthClient::new(inventory.clone())),
            ("pricing", HealthClient::new(pricing.clone())),
            ("cart", HealthClient::new(cart.clone())),
            ("orders", HealthClient::new(orders.clone())),
            ("payments", HealthClient::new(payments.clone())),
            ("notifications", HealthClient::new(notifications)),
            ("auth", HealthClient::new(auth.clone())),
            ("users", HealthClient::new(users.clone())),
            ("shipping", HealthClient::new(shipping.clone())),
            ("returns", HealthClient::new(returns.clone())),
            ("vendors", HealthClient::new(vendors.clone())),
        ];
        let b = settings.breaker;
        let auth = AuthServiceClient::new(breaker::guard("auth", auth, b)?);
        let verifier = crate::identity::Verifier::new(
            auth.clone(),
            &settings.token_issuer,
            &settings.token_audience,
            crate::identity::KeyRefresh::default(),
        );
        Ok(AppState(Arc::new(Inner {
            catalog: CatalogServiceClient::new(breaker::guard("catalog", catalog, b)?),
            inventory: InventoryServiceClient::new(breaker::guard("inventory", inventory, b)?),
            pricing: PricingServiceClient::new(breaker::guard("pricing", pricing, b)?),
            cart: CartServiceClient::new(breaker::guard("cart", cart, b)?),
            orders: OrderServiceClient::new(breaker::guard("orders", orders, b)?),
            payments: PaymentServiceClient::new(breaker::guard("payments", payments, b)?),
            auth,
            users: UserServiceClient::new(breaker::guard("users", users, b)?),
            shipping: ShippingServiceClient::new(breaker::guard("shipping", shipping, b)?),
            returns: ReturnsServiceClient::new(breaker::guard("returns", returns, b)?),
            vendors: VendorServiceClient::new(breaker::guard("vendors", vendors, b)?),
            verifier,
            limiter: crate::throttle::Limiter::new(settings.rate_limits.clone()),
            health,
            temporal: Temporal::new(
                settings.temporal_address.clone(),
                settings.temporal_namespace.clone(),
                settings.temporal_codec.clone(),
            ),
            settings,
            metrics,
            busy: Default::default(),
        })))
    }
}

/// A Temporal client connected on first use and reconnected after a failure. Its payloads
/// are encrypted with the codec.
pub struct Temporal {
    address: String,
    namespace: String,
    codec: souk_contracts::codec::EncryptionCodec,
    client: tokio::sync::Mutex<Option<Client>>,
}

impl Temporal {
    pub fn new(
        address: String,
        namespace: String,
        codec: souk_contracts::codec::EncryptionCodec,
    ) -> Self {
        Self {
            address,
            namespace,
            codec,
            client: tokio::sync::Mutex::new(None),
        }
    }

    pub fn codec(&self) -> &souk_contracts::codec::EncryptionCodec {
        &self.codec
    }

    /// A memo field of a described workflow, decrypted and read as JSON (`None`: not set).
    /// A field that cannot be decrypted (a payload key this API lacks) is an error, never
    /// taken for a missing one.
    pub fn memo<T: serde::de::DeserializeOwned>(
        &self,
        d: &temporalio_client::WorkflowExecutionDescription,
        key: &str,
    ) -> Result<Option<T>, ApiError> {
        let Some(p) = d
            .raw()
            .workflow_execution_info
            .as_ref()
            .and_then(|i| i.memo.as_ref())
            .and_then(|m| m.fields.get(key))
        else {
            return Ok(None);
        };
        let p = self.codec.decode_payload(p.clone()).map_err(|e| {
            tracing::error!(key, error = %e, "a workflow memo cannot be read");
            ApiError::internal(format_args!("memo {key}: {e}"))
        })?;
        serde_json::from_slice(&p.data)
            .map(Some)
            .map_err(|e| ApiError::internal(format_args!("memo {key}: {e}")))
    }

    pub async fn client(&self) -> Result<Client, ApiError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let url = Url::parse(&self.address)
            .map_err(|e| ApiError::internal(format_args!("bad Temporal address: {e}")))?;
        let connect = Client::connect(
            ConnectionOptions::new(url)
                .identity("souk-api".to_string())
                .build(),
            ClientOptions::new(self.namespace.clone())
                .data_converter(souk_contracts::codec::data_converter(self.codec.clone()))
                .build(),
        );
        match tokio::time::timeout(Duration::from_secs(3), connect).await {
            Ok(Ok(c)) => {
                *slot = Some(c.clone());
                Ok(c)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot connect to Temporal");
                Err(ApiError::unavailable(
                    "temporal_unavailable",
                    "the workflow engine is unavailable; try again shortly",
                ))
            }
            Err(_) => Err(ApiError::unavailable(
                "temporal_unavailable",
                "the workflow engine did not answer in time",
            )),
        }
    }
}
