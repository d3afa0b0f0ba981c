//! Task queues: one for workflows, one per domain. Every worker process polls exactly the
//! queues of the domains it runs.
//!
//! A deployment may prefix every queue (for example `staging.`) so that several Souk
//! installations share one Temporal namespace. Workflows derive the domain queues from their
//! own task queue, so the prefix travels with the workflow's history and replays the same.

pub const WORKFLOWS: &str = "souk.workflows";

/// A domain's task queue: `souk.<domain>` under the deployment's prefix. Each domain's
/// contract module names its own (`souk_contracts::inventory::QUEUE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Queue(&'static str);

impl Queue {
    pub const fn new(domain: &'static str) -> Self {
        Self(domain)
    }

    /// The domain it belongs to.
    pub fn domain(self) -> &'static str {
        self.0
    }

    /// The task queue under `prefix` (usually empty).
    pub fn under(self, prefix: &str) -> String {
        domain(prefix, self.0)
    }
}

/// The task queue of `domain` under `prefix`.
pub fn domain(prefix: &str, domain: &str) -> String {
    format!("{prefix}souk.{domain}")
}

/// The workflow task queue under `prefix`.
pub fn workflows(prefix: &str) -> String {
    format!("{prefix}{WORKFLOWS}")
}

/// The prefix of a workflow task queue, so a workflow can find its domains' queues.
pub fn prefix_of(workflow_queue: &str) -> &str {
    workflow_queue.strip_suffix(WORKFLOWS).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_queues_follow_the_workflow_queue_prefix() {
        assert_eq!(crate::inventory::QUEUE.under(""), "souk.inventory");
        let wq = workflows("t42.");
        assert_eq!(wq, "t42.souk.workflows");
        assert_eq!(crate::cart::QUEUE.under(prefix_of(&wq)), "t42.souk.cart");
        assert_eq!(prefix_of("souk.workflows"), "");
    }
}
