//! Task queues: one for workflows, one per domain. Every worker process polls exactly the
//! queues of the domains it runs.
//!
//! A deployment may prefix every queue (for example `staging.`) so that several Souk
//! installations share one Temporal namespace. Workflows derive the domain queues from their
//! own task queue, so the prefix travels with the workflow's history and replays the same.

pub const WORKFLOWS: &str = "souk.workflows";

/// The domains. Each runs in a worker process; those with activities poll `souk.<domain>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Domain {
    Catalog,
    Inventory,
    Pricing,
    Cart,
    Orders,
    Payments,
    Notifications,
    Auth,
    Users,
}

impl Domain {
    pub const ALL: [Domain; 9] = [
        Domain::Catalog,
        Domain::Inventory,
        Domain::Pricing,
        Domain::Cart,
        Domain::Orders,
        Domain::Payments,
        Domain::Notifications,
        Domain::Auth,
        Domain::Users,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Domain::Catalog => "catalog",
            Domain::Inventory => "inventory",
            Domain::Pricing => "pricing",
            Domain::Cart => "cart",
            Domain::Orders => "orders",
            Domain::Payments => "payments",
            Domain::Notifications => "notifications",
            Domain::Auth => "auth",
            Domain::Users => "users",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == s)
    }

    /// Whether workflows run activities of this domain (and its worker polls a task queue).
    pub fn has_activities(self) -> bool {
        !matches!(self, Domain::Auth | Domain::Users)
    }

    /// The task queue of this domain under `prefix` (usually empty).
    pub fn queue(self, prefix: &str) -> String {
        format!("{prefix}souk.{}", self.name())
    }
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
        assert_eq!(Domain::Inventory.queue(""), "souk.inventory");
        let wq = workflows("t42.");
        assert_eq!(wq, "t42.souk.workflows");
        assert_eq!(Domain::Cart.queue(prefix_of(&wq)), "t42.souk.cart");
        assert_eq!(prefix_of("souk.workflows"), "");
        assert_eq!(Domain::parse("pricing"), Some(Domain::Pricing));
    }
}
