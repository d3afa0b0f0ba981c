//! The envelope every domain event travels in, from a domain's outbox to the event bus.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a change came from, so an event can be traced back to a request or workflow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
}

/// A domain event. `type` is `<domain>.<what happened>` in the past tense, e.g.
/// `inventory.stock_adjusted`; `data` is versioned by adding fields, never by changing them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// Who caused it: `admin`, `customer:<cart or user>`, `workflow:<id>`, `system`.
    pub actor: String,
    pub data: serde_json::Value,
    pub trace: Trace,
}

impl EventEnvelope {
    pub fn new(
        event_id: Uuid,
        event_type: impl Into<String>,
        occurred_at: DateTime<Utc>,
        actor: impl Into<String>,
        data: serde_json::Value,
        trace: Trace,
    ) -> Self {
        Self {
            event_id,
            event_type: event_type.into(),
            occurred_at,
            actor: actor.into(),
            data,
            trace,
        }
    }
}
