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

/// How long a domain that answered `database_busy` counts as not ready.
const BUSY_FOR: Duration = Duration::from_secs(5);

/// When each domain last answered that its database pool was exhausted (in this process).
static BUSY: std::sync::LazyLock<std::sync::Mutex<BTreeMap<String, std::time::Instant>>> =
    std::sync::LazyLock::new(Default::default);

/// Records that `service` just answered `database_busy`.
pub fn note_busy(service: &str) {
    metrics::counter!("souk_service_busy_total", "service" => service.to_string()).increment(1);
    if let Ok(mut b) = BUSY.lock() {
        b.insert(service.to_string(), std::time::Instant::now());
    }
}

/// How long ago `service` last answered busy, if within [`BUSY_FOR`].
fn busy_since(service: &str) -> Option<Duration> {
    BUSY.lock()
        .ok()?
        .get(service)
        .map(|t| t.elapsed())
        .filter(|e| *e < BUSY_FOR)
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
    /// `ready` when every check passed.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// Each dependency: `ok`, or what is wrong. Postgres and Redis are checked by the domain
    /// services that own them (`inventory.postgres`, `cart.redis`...).
    pub checks: BTreeMap<String, String>,
}

/// The API and everything it needs are reachable: each domain service with its Postgres (and
/// the cart's Redis), and Temporal. A domain whose database pool ran out in the last 5 s
/// (it answered `service_busy`) is not ready either.
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
    let mut checks: BTreeMap<String, String> = results.into_iter().collect();
    // A pool that ran out just now is not ready, whatever its last health poll said.
    for (domain, _) in &s.health {
        if let Some(ago) = busy_since(domain) {
            checks.insert(
                format!("{domain}.postgres"),
                format!(
                    "busy: no free database connection {:.1} s ago",
                    ago.as_secs_f64()
                ),
            );
        }
    }
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
