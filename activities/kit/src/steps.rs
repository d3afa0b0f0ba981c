//! The step service: a domain runs one of its activities for a workflow worker that executes
//! the step as a *local* activity. Payloads are the same JSON as over a Temporal task queue,
//! failures the same type names; the domain's own process and database role do the work, so
//! data ownership is the same as for a remote activity. Steps without external side effects
//! use it, because a local activity costs the Temporal server far less than a remote one.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use souk_domain::event::Trace;
use souk_proto::steps::v1 as pb;
use souk_proto::steps::v1::step_service_client::StepServiceClient;
use souk_proto::steps::v1::step_service_server::{StepService, StepServiceServer};
use temporalio_sdk::ApplicationFailure;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use crate::Ctx;
use crate::failure::StepError;

/// A client of a domain's step service.
pub type StepClient = StepServiceClient<Channel>;

/// A domain's steps, by activity name.
#[tonic::async_trait]
pub trait StepHandler: Send + Sync {
    async fn run(&self, ctx: &Ctx, activity: &str, input: &[u8]) -> Result<Vec<u8>, StepError>;
}

/// Decodes the input, runs the step, encodes the output.
pub async fn call<I, O, F, Fut>(input: &[u8], step: F) -> Result<Vec<u8>, StepError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(I) -> Fut,
    Fut: Future<Output = Result<O, StepError>>,
{
    let input: I = serde_json::from_slice(input).map_err(|e| StepError {
        type_name: Some(souk_contracts::failures::INVALID_INPUT.into()),
        message: format!("unreadable step input: {e}"),
        non_retryable: true,
    })?;
    let output = step(input).await?;
    serde_json::to_vec(&output).map_err(|e| StepError {
        type_name: None,
        message: e.to_string(),
        non_retryable: false,
    })
}

/// An unknown activity name: a deployment mismatch, not worth retrying.
pub fn unknown(activity: &str) -> StepError {
    StepError {
        type_name: Some(souk_contracts::failures::INVALID_INPUT.into()),
        message: format!("this domain has no step {activity}"),
        non_retryable: true,
    }
}

pub struct Steps {
    handler: Arc<dyn StepHandler>,
}

impl Steps {
    pub fn new(handler: Arc<dyn StepHandler>) -> Self {
        Self { handler }
    }

    pub fn into_server(self) -> StepServiceServer<Self> {
        StepServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl StepService for Steps {
    #[tracing::instrument(skip_all, fields(activity = %req.get_ref().activity, workflow_id = %req.get_ref().workflow_id))]
    async fn run(
        &self,
        req: Request<pb::RunStepRequest>,
    ) -> Result<Response<pb::RunStepResponse>, Status> {
        let r = req.into_inner();
        let ctx = Ctx {
            actor: format!("workflow:{}", r.workflow_id),
            trace: Trace {
                request_id: None,
                workflow_id: Some(r.workflow_id.clone()),
            },
            on_behalf: None,
        };
        let result = match self.handler.run(&ctx, &r.activity, &r.input).await {
            Ok(output) => pb::run_step_response::Result::Output(output),
            Err(e) => pb::run_step_response::Result::Failure(pb::StepFailure {
                r#type: e.type_name.unwrap_or_default(),
                message: e.message,
                non_retryable: e.non_retryable,
            }),
        };
        Ok(Response::new(pb::RunStepResponse {
            result: Some(result),
        }))
    }
}

/// One step of a domain, for the activity definition `D`: what the domain does when a
/// workflow runs it, as a remote activity or as a local one through the step service.
#[tonic::async_trait]
pub trait Step<D>: Send + Sync
where
    D: temporalio_common::ActivityDefinition + 'static,
    D::Input: Send + 'static,
    D::Output: Send + 'static,
{
    async fn run(&self, ctx: &Ctx, input: D::Input) -> Result<D::Output, StepError>;
}

/// Serves a domain's steps from the one list its contract declares (`inventory_steps!` in
/// `souk-contracts`): the step service's dispatch by activity name, and the Temporal
/// activities on the domain's queue, each calling the type's [`Step`] implementation. Further
/// activities of the type (not steps) go in the braces, as in a `#[activities]` block.
///
/// ```ignore
/// souk_contracts::inventory_steps!(souk_kit::serve_steps!(InventoryActivities {
///     #[activity(definition = RaiseAlert)]
///     pub async fn raise_low_stock_alert(...) -> ... { ... }
/// }));
/// ```
#[macro_export]
macro_rules! serve_steps {
    (($ty:ident { $($extra:tt)* })
        $($def:ident => $method:ident($input:ident) -> $output:ty),* $(,)?) => {
        #[::tonic::async_trait]
        impl $crate::steps::StepHandler for $ty {
            async fn run(
                &self,
                ctx: &$crate::Ctx,
                activity: &str,
                input: &[u8],
            ) -> ::std::result::Result<::std::vec::Vec<u8>, $crate::failure::StepError> {
                $(
                    if activity == $def::NAME {
                        return $crate::steps::call(input, |i: $input| {
                            <Self as $crate::steps::Step<$def>>::run(self, ctx, i)
                        })
                        .await;
                    }
                )*
                Err($crate::steps::unknown(activity))
            }
        }

        #[::temporalio_macros::activities]
        impl $ty {
            $(
                #[activity(definition = $def)]
                pub async fn $method(
                    self: ::std::sync::Arc<Self>,
                    ctx: ::temporalio_sdk::activities::ActivityContext,
                    input: $input,
                ) -> ::std::result::Result<$output, ::temporalio_sdk::activities::ActivityError> {
                    <Self as $crate::steps::Step<$def>>::run(
                        &*self,
                        &$crate::failure::ctx_of(&ctx),
                        input,
                    )
                    .await
                    .map_err($crate::failure::StepError::into_activity)
                }
            )*

            $($extra)*
        }
    };
}

/// The workflow worker's side of local steps: a client of a domain's step service.
pub fn step_client(url: &str) -> anyhow::Result<StepServiceClient<Channel>> {
    Ok(StepServiceClient::new(
        Endpoint::from_shared(url.to_string())?
            .connect_timeout(std::time::Duration::from_secs(2))
            .timeout(std::time::Duration::from_secs(25))
            .tcp_nodelay(true)
            .connect_lazy(),
    ))
}

/// Runs `activity` in the domain behind `client` and returns its output or its failure, as
/// the domain's own activity would.
pub async fn forward<I: Serialize, O: DeserializeOwned>(
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

/// The forwarders of a domain's steps, from the list in its contract
/// (`souk_contracts::cart_steps!(souk_kit::forward_steps!(CartStepForwarder))`): local
/// activities of the workflow worker, each sending its step to the domain's step service. The
/// domain registers them in `Domain::step_forwarders`.
#[macro_export]
macro_rules! forward_steps {
    (($name:ident)
        $($def:ident => $method:ident($input:ident) -> $output:ty),* $(,)?) => {
        pub struct $name {
            pub client: $crate::steps::StepClient,
        }

        #[::temporalio_macros::activities]
        impl $name {
            $(
                #[activity(definition = $def)]
                pub async fn $method(
                    self: ::std::sync::Arc<Self>,
                    ctx: ::temporalio_sdk::activities::ActivityContext,
                    input: $input,
                ) -> ::std::result::Result<$output, ::temporalio_sdk::activities::ActivityError> {
                    $crate::steps::forward(&self.client, $def::NAME, &ctx, input).await
                }
            )*
        }
    };
}
