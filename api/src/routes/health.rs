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

use crate::state::AppState;

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
    /// `ready` when every check passed.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// Each dependency: `ok`, or what is wrong. Postgres and Redis are checked by the domain
    /// services that own them (`inventory.postgres`, `cart.redis`...).
    pub checks: BTreeMap<String, String>,
}

/// The API and everything it needs are reachable: each domain service with its Postgres (and
/// the cart's Redis), and Temporal.
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
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(Readiness {
            status: if ready { "ready" } else { "not_ready" },
            checks,
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
