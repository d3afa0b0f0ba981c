//! Liveness, readiness and metrics.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::busy::BusyService;
use crate::state::AppState;

/// Notes the domains that answered busy (see [`BusyService`]), for `/readyz`.
pub async fn note_busy(
    axum::extract::State(s): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let res = next.run(req).await;
    if let Some(b) = res.extensions().get::<BusyService>() {
        s.busy.note(&b.0);
    }
    res
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when every check passed; `degraded` when they did but a domain is busy;
    /// `not_ready` otherwise (503).
    #[schema(example = "ready")]
    pub status: &'static str,
    /// Each dependency: `ok`, or what is wrong. Postgres and Redis are checked by the domain
    /// services that own them (`inventory.postgres`, `cart.redis`...).
    pub checks: BTreeMap<String, String>,
    /// Domains that ran out of database connections in the last 5 s (they answer
    /// `503 service_busy` for a moment); the status is then `degraded`, still 200.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub busy: BTreeMap<String, String>,
}

/// The API and everything it needs are reachable: each domain service with its Postgres (and
/// the cart's Redis), and Temporal. A domain whose database pool ran out in the last 5 s
/// (it answered `service_busy`) is listed under `busy` (status `degraded`).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let mut probes = Vec::new();
    for (domain, client) in &s.health {
        probes.push((
            format!("{domain}.postgres"),
            client.clone(),
            "postgres".to_string(),
        ));
        if *domain == "cart" {
            probes.push((
                "cart.redis".to_string(),
                client.clone(),
                "redis".to_string(),
            ));
        }
    }
    let temporal = tonic::transport::Endpoint::from_shared(s.settings.temporal_address.clone())
        .map(|e| e.connect_timeout(Duration::from_secs(2)).connect_lazy());
    match temporal {
        Ok(ch) => probes.push((
            "temporal".to_string(),
            HealthClient::new(ch),
            "temporal.api.workflowservice.v1.WorkflowService".to_string(),
        )),
        Err(e) => tracing::warn!(error = %e, "bad Temporal address"),
    }
    let results = futures::future::join_all(probes.into_iter().map(
        |(name, mut client, service)| async move {
            let check = client.check(HealthCheckRequest { service });
            let verdict = match tokio::time::timeout(Duration::from_secs(2), check).await {
                Ok(Ok(r)) if r.get_ref().status == ServingStatus::Serving as i32 => {
                    "ok".to_string()
                }
                Ok(Ok(r)) => format!("not serving ({:?})", r.get_ref().status()),
                Ok(Err(e)) if e.code() == tonic::Code::Unavailable => "unreachable".to_string(),
                Ok(Err(e)) => format!("error: {}", e.message()),
                Err(_) => "timed out".to_string(),
            };
            (name, verdict)
        },
    ))
    .await;
    let checks: BTreeMap<String, String> = results.into_iter().collect();
    let ready = checks.values().all(|v| v == "ok");
    // A pool that ran out just now is reported at once, whatever its last health poll said,
    // but it does not take the API out of service: every instance sees the same domain, and
    // routes that do not need it keep working.
    let busy: BTreeMap<String, String> = s
        .health
        .iter()
        .filter_map(|(domain, _)| {
            s.busy.since(domain).map(|ago| {
                (
                    (*domain).to_string(),
                    format!("no free database connection {:.1} s ago", ago.as_secs_f64()),
                )
            })
        })
        .collect();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let status = match (ready, busy.is_empty()) {
        (false, _) => "not_ready",
        (true, true) => "ready",
        (true, false) => "degraded",
    };
    (
        code,
        Json(Readiness {
            status,
            checks,
            busy,
        }),
    )
}

/// Prometheus metrics of this process.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}
