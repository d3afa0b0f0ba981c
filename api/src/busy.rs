//! Which domains answered that their database pool was exhausted, as seen by one API: set
//! by the error mapping ([`BusyService`] on a response), read by `/readyz`.

use std::collections::BTreeMap;
use std::time::Duration;

/// How long a domain that answered `database_busy` is reported busy.
const BUSY_FOR: Duration = Duration::from_secs(5);

/// Set on a response by a domain's `database_busy` answer: which domain.
#[derive(Debug, Clone)]
pub struct BusyService(pub String);

/// When each domain last answered that its database pool was exhausted, as seen by one API.
#[derive(Debug, Default)]
pub struct Busy(std::sync::Mutex<BTreeMap<String, std::time::Instant>>);

impl Busy {
    pub(crate) fn note(&self, service: &str) {
        metrics::counter!("souk_service_busy_total", "service" => service.to_string()).increment(1);
        if let Ok(mut b) = self.0.lock() {
            b.insert(service.to_string(), std::time::Instant::now());
        }
    }

    /// How long ago `service` last answered busy, if within [`BUSY_FOR`].
    pub(crate) fn since(&self, service: &str) -> Option<Duration> {
        self.0
            .lock()
            .ok()?
            .get(service)
            .map(|t| t.elapsed())
            .filter(|e| *e < BUSY_FOR)
    }
}
