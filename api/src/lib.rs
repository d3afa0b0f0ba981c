//! Souk's REST API (axum). It validates requests, calls the domain services over gRPC, starts
//! and queries workflows, and speaks JSON to clients.
//!
//! API boundary: only this crate knows HTTP. Architecture invariant: it never opens a domain's
//! database or Redis; domain data is reached only through the domain services (`souk_proto`).
//! Errors always have the shape `{"error": {"code", "message", "details"}}` (see `error`).

pub mod auth;
pub mod breaker;
pub mod busy;
pub mod dto;
pub mod error;
pub mod extract;
pub mod identity;
pub mod limit;
pub mod observe;
pub mod openapi;
pub mod order_view;
pub mod params;
pub mod routes;
pub mod state;
pub mod throttle;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

pub use state::{AppState, CheckoutSettings, ServiceUrls, Settings};

/// The whole HTTP application: routes, OpenAPI document and docs page, middleware.
pub fn app(state: AppState) -> Router {
    let edge = observe::Edge {
        body_limit: state.settings.body_limit_bytes,
        timeout: state.settings.request_timeout,
        cors_origins: state.settings.cors_origins.clone(),
    };
    let admin = routes::admin::router().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_operator,
    ));
    let vendor = routes::vendor::router().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        routes::vendor::require_vendor_admin,
    ));
    let (router, mut api) = openapi::router()
        .merge(routes::auth::router())
        .merge(routes::catalog::router())
        .merge(routes::return_policy::public_router())
        .merge(routes::carts::router())
        .merge(routes::me::router())
        .merge(routes::checkouts::router())
        .merge(routes::webhooks::router())
        .merge(routes::inventory::router())
        .merge(admin)
        .merge(vendor)
        .merge(routes::health::router())
        .split_for_parts();
    openapi::StandardResponses::apply(&mut api);
    let router = router
        .merge(openapi::docs(api))
        .fallback(observe::not_found)
        .method_not_allowed_fallback(observe::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            routes::health::note_busy,
        ))
        // Outer layers run first: who is calling, then whether they may call this often.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit::rate_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .with_state(state);
    observe::layers(router, &edge)
}

/// A bound API server; `port()` is known before it serves (tests bind port 0).
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    pub async fn bind(addr: SocketAddr, state: AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            router: app(state),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}
