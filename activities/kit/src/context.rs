//! Who asked for a change, and the trace it belongs to: carried into every outbox event.

use souk_domain::event::Trace;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ctx {
    /// `user:<id>`, `customer:guest`, `workflow:<id>`, `system`.
    pub actor: String,
    pub trace: Trace,
    /// The end user the API is calling for; `None` for Souk's own callers (workflows,
    /// other domains, tools), which are trusted.
    pub on_behalf: Option<OnBehalf>,
}

/// An end user behind a call from the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnBehalf {
    /// The signed-in user; `None` for a guest.
    pub user_id: Option<String>,
    /// Staff or super admin: may read what customers own.
    pub operator: bool,
}

impl Ctx {
    /// Whether this caller may act on something owned by `owner` (a user id; `None` means
    /// anyone holding its id may). Souk's own callers always may.
    pub fn may_access(&self, owner: Option<&str>) -> bool {
        match (&self.on_behalf, owner) {
            (None, _) | (Some(_), None) => true,
            (Some(b), Some(o)) => b.operator || b.user_id.as_deref() == Some(o),
        }
    }

    /// The signed-in user the call is for.
    pub fn user_id(&self) -> Option<&str> {
        self.on_behalf.as_ref().and_then(|b| b.user_id.as_deref())
    }
}

impl Ctx {
    pub fn system() -> Self {
        Ctx {
            actor: "system".into(),
            ..Default::default()
        }
    }

    pub fn new(actor: impl Into<String>) -> Self {
        Ctx {
            actor: actor.into(),
            ..Default::default()
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
            on_behalf: None,
        }
    }
}
