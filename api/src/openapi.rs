//! The OpenAPI document (`/openapi.json`) and the docs page (`/docs`).

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_scalar::Scalar;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Souk API",
        description = "A multi-vendor marketplace. Money is always `{\"amount\": <integer minor units>, \"currency\": \"USD\"}`. \
Errors are `{\"error\": {\"code\", \"message\", \"details\"}}` with a stable `code`; every client mistake is a 4xx. \
Every response carries `x-request-id` (send your own to correlate).",
        version = "1"
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts and sign-in: RS256 access tokens (`Authorization: Bearer`), single-use refresh tokens, the public keys"),
        (name = "catalog", description = "Browse categories and products"),
        (name = "carts", description = "Carts, priced on every read"),
        (name = "checkouts", description = "Checkout sagas: reserve, pay, place the order, confirm"),
        (name = "orders", description = "A signed-in customer's own orders"),
        (name = "webhooks", description = "Payment provider callbacks"),
        (name = "inventory", description = "Stock levels"),
        (name = "admin", description = "Back office: staff and super admins (some routes super admins only)"),
        (name = "vendor", description = "A vendor admin's own products, stock and orders"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
}

/// `/openapi.json` and `/docs` for the collected document.
pub fn docs(api: utoipa::openapi::OpenApi) -> Router<AppState> {
    let html = Scalar::new(api.clone()).to_html();
    let json = api.to_json().unwrap_or_else(|_| "{}".to_string());
    Router::new()
        .route(
            "/openapi.json",
            get(move || {
                let json = json.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        json,
                    )
                }
            }),
        )
        .route(
            "/docs",
            get(move || {
                let html = html.clone();
                async move { Html(html) }
            }),
        )
}
