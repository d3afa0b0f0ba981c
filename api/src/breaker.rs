//! A circuit breaker in front of each domain service. After `failures` consecutive failed
//! calls (the service unreachable, `UNAVAILABLE` or a deadline exceeded) the circuit opens:
//! calls fail at once with `503 service_unavailable` (`details.circuit = "open"`) instead of
//! each waiting for a timeout. After `open_for` a few calls are let through; if they succeed
//! the circuit closes again. The breaker's state is shared by every clone of a client.

use std::time::Duration;

use tonic::body::Body;
use tonic::transport::Channel;
use tonic_types::{ErrorDetails, StatusExt};
use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;
use tower_resilience_circuitbreaker::{CircuitBreakerError, CircuitBreakerLayer, CircuitState};

/// A domain service's transport with its breaker; what the gRPC clients are built on.
/// Its errors are statuses already (a concrete type keeps futures `Send` without
/// higher-ranked lifetime trouble).
pub type Guarded = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, tonic::Status>;

/// The reason carried by calls refused while the circuit is open.
pub const CIRCUIT_OPEN: &str = "circuit_open";

#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit.
    pub failures: usize,
    /// How long it stays open before trying again.
    pub open_for: Duration,
}

fn failed(res: &Result<http::Response<Body>, tonic::transport::Error>) -> bool {
    match res {
        Err(_) => true,
        // Errors without a message body carry their status in the headers.
        Ok(r) => matches!(
            r.headers().get("grpc-status").and_then(|v| v.to_str().ok()),
            Some("14" | "4")
        ),
    }
}

/// Wraps `channel` (the service `name`) in a breaker.
pub fn guard(name: &'static str, channel: Channel, s: BreakerSettings) -> anyhow::Result<Guarded> {
    let layer = CircuitBreakerLayer::builder()
        .name(name)
        .failure_classifier(failed)
        .consecutive_failures(s.failures.max(1))
        .wait_duration_in_open(s.open_for)
        .on_state_transition(move |from, to| match to {
            CircuitState::Open => {
                metrics::counter!("souk_circuit_opened_total", "service" => name).increment(1);
                tracing::warn!(service = name, ?from, "circuit opened: failing fast")
            }
            CircuitState::HalfOpen => tracing::info!(service = name, "circuit half-open: trying"),
            CircuitState::Closed => tracing::info!(service = name, "circuit closed: recovered"),
        })
        .build()
        .map_err(|e| anyhow::anyhow!("circuit breaker for {name}: {e}"))?;
    let svc = ServiceBuilder::new()
        .map_err(
            move |e: CircuitBreakerError<tonic::transport::Error>| match e {
                CircuitBreakerError::OpenCircuit => tonic::Status::with_error_details(
                    tonic::Code::Unavailable,
                    format!("{name} is failing; not calling it for a while"),
                    ErrorDetails::with_error_info(
                        CIRCUIT_OPEN,
                        "souk",
                        std::collections::HashMap::<String, String>::new(),
                    ),
                ),
                // What tonic itself makes of a transport error (UNAVAILABLE when it could
                // not connect).
                CircuitBreakerError::Inner(e) => tonic::Status::from_error(Box::new(e)),
            },
        )
        .layer(layer)
        .service(channel);
    Ok(BoxCloneSyncService::new(svc))
}
