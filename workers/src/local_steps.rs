//! Local activities of the workflow worker: each forwards to the owning domain's step service
//! over gRPC, so the domain's own process (and database role) does the work, and the Temporal
//! server only records a marker. Used for checkout steps without external side effects. Each
//! domain registers its own forwarders (`Domain::step_forwarders`, `souk_kit::forward_steps!`).

use temporalio_sdk::WorkerOptions;

use crate::config::Config;
use crate::registry::DOMAINS;

/// Registers the forwarders of every domain whose steps workflows run locally.
pub fn register(options: &mut WorkerOptions, cfg: &Config) -> anyhow::Result<()> {
    for domain in DOMAINS {
        let steps = || souk_kit::steps::step_client(&cfg.service(domain.name())?.url);
        domain.step_forwarders(&steps, options)?;
    }
    Ok(())
}
