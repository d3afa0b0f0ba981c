//! Local activities of the workflow worker: each forwards to the owning domain's step service
//! over gRPC, so the domain's own process (and database role) does the work, and the Temporal
//! server only records a marker. Used for checkout steps without external side effects.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use souk_proto::steps::v1 as pb;
use souk_proto::steps::v1::step_service_client::StepServiceClient;
use temporalio_sdk::ApplicationFailure;
use temporalio_sdk::WorkerOptions;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tonic::transport::{Channel, Endpoint};

use crate::config::Config;

fn client(url: &str) -> anyhow::Result<StepServiceClient<Channel>> {
    Ok(StepServiceClient::new(
        Endpoint::from_shared(url.to_string())?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(25))
            .tcp_nodelay(true)
            .connect_lazy(),
    ))
}

/// Runs `activity` in the domain behind `client` and returns its output or its failure.
async fn forward<I: Serialize, O: DeserializeOwned>(
    client: &StepServiceClient<Channel>,
    activity: &str,
    ctx: &ActivityContext,
    input: I,
) -> Result<O, ActivityError> {
    let request = pb::RunStepRequest {
        activity: activity.to_string(),
        input: serde_json::to_vec(&input).map_err(anyhow::Error::from)?,
        workflow_id: ctx.info().workflow_id.clone().unwrap_or_default(),
    };
    // A domain that cannot be reached is a transient failure: retried with backoff.
    let reply = client
        .clone()
        .run(request)
        .await
        .map_err(|s| anyhow::anyhow!("{activity}: {} ({})", s.message(), s.code()))?
        .into_inner();
    match reply.result {
        Some(pb::run_step_response::Result::Output(bytes)) => {
            Ok(serde_json::from_slice(&bytes).map_err(anyhow::Error::from)?)
        }
        Some(pb::run_step_response::Result::Failure(f)) => Err(ActivityError::application(
            ApplicationFailure::builder(f.message)
                .maybe_type_name((!f.r#type.is_empty()).then_some(f.r#type))
                .non_retryable(f.non_retryable)
                .build(),
        )),
        None => Err(anyhow::anyhow!("{activity}: empty reply").into()),
    }
}

/// Forwarders for one domain's steps, from the list in its contract.
macro_rules! forwarder {
    (($name:ident)
        $($def:ident => $method:ident($input:ident) -> $output:ty),* $(,)?) => {
        pub struct $name {
            pub(super) client: StepServiceClient<Channel>,
        }

        #[temporalio_macros::activities]
        impl $name {
            $(
                #[activity(definition = $def)]
                pub async fn $method(
                    self: std::sync::Arc<Self>,
                    ctx: ActivityContext,
                    input: $input,
                ) -> Result<$output, ActivityError> {
                    forward(&self.client, $def::NAME, &ctx, input).await
                }
            )*
        }
    };
}

pub mod cart {
    use super::*;
    use souk_contracts::cart::*;
    souk_contracts::cart_steps!(forwarder!(CartSteps));
}

pub mod pricing {
    use super::*;
    use souk_contracts::pricing::*;
    souk_contracts::pricing_steps!(forwarder!(PricingSteps));
}

pub mod inventory {
    use super::*;
    use souk_contracts::inventory::*;
    souk_contracts::inventory_steps!(forwarder!(InventorySteps));
}

pub mod orders {
    use super::*;
    use souk_contracts::orders::*;
    souk_contracts::orders_steps!(forwarder!(OrderSteps));
}

/// Registers the forwarders of every domain whose steps workflows run locally.
pub fn register(options: &mut WorkerOptions, cfg: &Config) -> anyhow::Result<()> {
    let step_client = |domain: &str| client(&cfg.service(domain)?.url);
    options
        .register_activities(cart::CartSteps {
            client: step_client("cart")?,
        })
        .register_activities(pricing::PricingSteps {
            client: step_client("pricing")?,
        })
        .register_activities(inventory::InventorySteps {
            client: step_client("inventory")?,
        })
        .register_activities(orders::OrderSteps {
            client: step_client("orders")?,
        });
    Ok(())
}
