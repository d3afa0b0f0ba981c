//! The returns domain as the workers start it. It serves its steps (the return workflow's
//! records) and gRPC health, which follows its database.

use std::sync::Arc;

use serde::Deserialize;
use souk_contracts::returns::ReturnSettings;
use souk_domain::returns::ReturnReason;
use souk_kit::db::Schema;
use souk_kit::domain::{self, Domain, Env, Served};
use sqlx::PgPool;
use temporalio_sdk::WorkerOptions;

use crate::activities::{ReturnStepForwarder, ReturnSteps};

/// `[returns]`: the return policy new returns run with.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub window_seconds: u64,
    pub decision_sla_seconds: u64,
    pub escalate_after_seconds: u64,
    pub send_by_seconds: u64,
    pub auto_approve_reasons: Vec<String>,
    pub auto_approve_max_minor: i64,
    #[serde(default)]
    pub restocking_fee_bps: u32,
    #[serde(default)]
    pub non_returnable_categories: Vec<String>,
    /// 0: a parcel on its way is waited for without a deadline.
    #[serde(default)]
    pub receive_within_seconds: u64,
    /// Every seller pays the postage back, even when the customer changed their mind.
    #[serde(default)]
    pub seller_pays_postage: bool,
}

impl Settings {
    pub fn load(settings: &domain::Settings) -> anyhow::Result<Self> {
        settings.section("returns")
    }

    /// What is wrong with this configuration.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, v) in [
            ("window_seconds", self.window_seconds),
            ("decision_sla_seconds", self.decision_sla_seconds),
            ("escalate_after_seconds", self.escalate_after_seconds),
            ("send_by_seconds", self.send_by_seconds),
        ] {
            if v == 0 {
                problems.push(format!("returns.{name} must be above 0"));
            }
        }
        for r in &self.auto_approve_reasons {
            if ReturnReason::parse(r).is_none() {
                problems.push(format!("returns.auto_approve_reasons: `{r}` is not a reason (damaged, wrong_item, not_as_described, changed_mind)"));
            }
        }
        if self.auto_approve_max_minor < 0 {
            problems.push("returns.auto_approve_max_minor must not be negative".into());
        }
        for c in &self.non_returnable_categories {
            if !souk_domain::catalog::is_slug(c) {
                problems.push(format!(
                    "returns.non_returnable_categories: `{c}` is not a category slug"
                ));
            }
        }
        if self.restocking_fee_bps > souk_domain::refund::WHOLE_BPS {
            problems.push(format!(
                "returns.restocking_fee_bps must be at most {} (all of it)",
                souk_domain::refund::WHOLE_BPS
            ));
        }
        problems
    }

    /// What a new return workflow is given.
    pub fn workflow(&self) -> ReturnSettings {
        ReturnSettings {
            window_seconds: self.window_seconds,
            decision_sla_seconds: self.decision_sla_seconds,
            escalate_after_seconds: self.escalate_after_seconds,
            send_by_seconds: self.send_by_seconds,
            auto_approve_reasons: self
                .auto_approve_reasons
                .iter()
                .filter_map(|r| ReturnReason::parse(r))
                .collect(),
            auto_approve_max_minor: self.auto_approve_max_minor,
            restocking_fee_bps: self.restocking_fee_bps,
            non_returnable_categories: self.non_returnable_categories.clone(),
            receive_within_seconds: self.receive_within_seconds,
            seller_pays_postage: self.seller_pays_postage,
            // Only a seller's own policy names these.
            changed_mind_non_returnable_categories: Vec::new(),
        }
    }
}

pub struct ReturnsDomain;

#[tonic::async_trait]
impl Domain for ReturnsDomain {
    fn schema(&self) -> &'static Schema {
        &crate::SCHEMA
    }

    fn problems(&self, settings: &domain::Settings) -> anyhow::Result<Vec<String>> {
        Ok(Settings::load(settings)?.problems())
    }

    async fn serve(&self, _env: &Env, pool: PgPool) -> anyhow::Result<Served> {
        let mut served = Served::default();
        served
            .routes
            .add_service(crate::grpc::Returns::new(pool.clone()).into_server());
        served.steps = Some(Arc::new(ReturnSteps { pool }));
        Ok(served)
    }

    fn step_forwarders(
        &self,
        steps: &dyn Fn() -> anyhow::Result<souk_kit::steps::StepClient>,
        options: &mut WorkerOptions,
    ) -> anyhow::Result<()> {
        options.register_activities(ReturnStepForwarder { client: steps()? });
        Ok(())
    }
}
