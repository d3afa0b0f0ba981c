//! Who asked for a change, and the trace it belongs to: carried into every outbox event.

use souk_domain::event::Trace;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ctx {
    /// `admin`, `customer:<id>`, `workflow:<id>`, `system`.
    pub actor: String,
    pub trace: Trace,
}

impl Ctx {
    pub fn system() -> Self {
        Ctx {
            actor: "system".into(),
            trace: Trace::default(),
        }
    }

    pub fn new(actor: impl Into<String>) -> Self {
        Ctx {
            actor: actor.into(),
            trace: Trace::default(),
        }
    }

    /// The context of an activity run by a workflow.
    pub fn workflow(workflow_id: &str) -> Self {
        Ctx {
            actor: format!("workflow:{workflow_id}"),
            trace: Trace {
                request_id: None,
                workflow_id: Some(workflow_id.to_string()),
            },
        }
    }
}
