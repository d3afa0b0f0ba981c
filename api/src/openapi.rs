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
    components(schemas(
        crate::params::SkuParam,
        crate::params::OptSkuParam,
        crate::params::SlugParam,
        crate::params::OptCategoryKey,
        crate::params::OrderNoParam,
        crate::params::WarehouseParam,
        crate::params::OptAuditEvent,
        crate::params::RoleName,
        crate::params::Base64,
        crate::params::Line20,
        crate::params::Line100,
        crate::params::Line200,
        crate::params::Line500,
        crate::params::OptUuid,
        crate::params::Paragraphs20000,
        crate::params::ProductStatusName,
        crate::params::OptLine40,
        crate::params::OptLine200,
        crate::params::EmailText,
        crate::params::CountryText,
        crate::params::OptCountryText,
        crate::params::OptLocale,
        crate::params::OptPhoneText,
        crate::params::CurrencyCode,
        crate::params::OptCurrencyCode,
    )),
    tags(
        (name = "auth", description = "Accounts and sign-in: RS256 access tokens (`Authorization: Bearer`), single-use refresh tokens, the public keys"),
        (name = "catalog", description = "Browse categories and products"),
        (name = "carts", description = "Carts, priced on every read"),
        (name = "checkouts", description = "Checkout sagas: reserve, pay, place the order, confirm"),
        (name = "orders", description = "A signed-in customer's own orders"),
        (name = "returns", description = "A signed-in customer's returns: ask, follow, call off"),
        (name = "webhooks", description = "Payment provider and carrier callbacks"),
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

/// The answers every operation can give because of the layers in front of it, added to each
/// operation that does not document them itself (and named in the description of those that
/// do): a bad bearer token (`401`), the rate limit (`429`), a domain service that is down
/// (`503`) or slow (`504`); for a JSON body, a malformed, oversized, mistyped or misshapen
/// one (`400`, `413`, `415`, `422`); for parameters, a malformed or refused one (`400`,
/// `422`); a missing role under `/v1/admin` and `/v1/vendor` (`403`). The document then says
/// every status an operation can give, which the API contract run checks.
pub struct StandardResponses;

/// Operations no layer but the token check stands in front of (not rate limited, no domain).
const UNLIMITED: &[&str] = &["/healthz", "/readyz", "/metrics"];

impl StandardResponses {
    fn answers(
        path: &str,
        op: &utoipa::openapi::path::Operation,
    ) -> Vec<(&'static str, &'static str)> {
        let mut answers = vec![(
            "401",
            "unauthorized, token_expired, token_revoked: the bearer token sent is not valid \
             (sent on an operation that needs none, it is still checked)",
        )];
        if !UNLIMITED.contains(&path) {
            answers.push(("429", "rate_limited (with Retry-After)"));
            answers.push((
                "503",
                "service_unavailable, service_busy: a service this needs is down or busy; retry \
                 after Retry-After",
            ));
            answers.push(("504", "the request took longer than the API allows"));
        }
        if op.request_body.is_some() {
            answers.push(("400", "malformed_json, unreadable_body"));
            answers.push(("413", "payload_too_large"));
            answers.push((
                "415",
                "unsupported_media_type: send Content-Type: application/json",
            ));
            answers.push((
                "422",
                "invalid_body: the JSON does not have the documented shape",
            ));
        }
        if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
            answers.push(("400", "invalid_query, invalid_path"));
            answers.push((
                "422",
                "a parameter the service refuses (invalid_id, invalid_sku, ...)",
            ));
        }
        // The back office and the vendor area check roles in front of every route.
        if path.starts_with("/v1/admin/") {
            answers.push((
                "403",
                "forbidden: staff only (some routes super admins only)",
            ));
        }
        if path.starts_with("/v1/vendor/") {
            answers.push(("403", "forbidden: vendor admins only"));
        }
        answers
    }

    pub fn apply(openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for op in ops.into_iter().flatten() {
                for (status, description) in Self::answers(path, op) {
                    match op.responses.responses.get_mut(status) {
                        Some(RefOr::T(r)) if r.description.is_empty() => {
                            r.description = description.to_string();
                        }
                        Some(RefOr::T(r)) => {
                            if !r.description.contains(description) {
                                r.description = format!("{}; {description}", r.description);
                            }
                        }
                        Some(RefOr::Ref(_)) => {}
                        None => {
                            let body = ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("ErrorBody")))
                                .build();
                            op.responses.responses.insert(
                                status.to_string(),
                                RefOr::T(
                                    ResponseBuilder::new()
                                        .description(description)
                                        .content("application/json", body)
                                        .build(),
                                ),
                            );
                        }
                    }
                }
            }
        }
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
