//! Returns steps: over the step service (workflows run them as local activities).

use souk_contracts::returns::{
    Inspect, InspectReturn, Label, LabelReturn, Move, MoveReturn, Note, NoteReturn, Open,
    OpenReturn, RecordRefund, RecordReturnRefund, Submitted,
};
use souk_domain::returns::ReturnStatus;
use souk_kit::Ctx;
use souk_kit::failure::StepError;
use souk_kit::steps::Step;
use sqlx::PgPool;

use crate::store::{self, Error};

#[derive(Clone)]
pub struct ReturnSteps {
    pub pool: PgPool,
}

fn failure(e: Error) -> StepError {
    souk_kit::error::step(e)
}

#[tonic::async_trait]
impl Step<Open> for ReturnSteps {
    async fn run(&self, ctx: &Ctx, input: OpenReturn) -> Result<Submitted, StepError> {
        let done = store::open(&self.pool, ctx, &input)
            .await
            .map_err(failure)?;
        match &done {
            Submitted::Opened { view } => {
                tracing::info!(rma_no = %view.rma_no, order_no = %view.order_no, "return requested")
            }
            Submitted::Refused { code, .. } => {
                tracing::info!(rma_no = %input.input.rma_no, order_no = %input.order.order_no, code, "return refused")
            }
        }
        Ok(done)
    }
}

#[tonic::async_trait]
impl Step<Move> for ReturnSteps {
    async fn run(&self, ctx: &Ctx, input: MoveReturn) -> Result<ReturnStatus, StepError> {
        let to = store::move_to(&self.pool, ctx, &input)
            .await
            .map_err(failure)?;
        tracing::info!(return_id = %input.return_id, to = %to, actor = %input.actor, "return moved");
        Ok(to)
    }
}

#[tonic::async_trait]
impl Step<Note> for ReturnSteps {
    async fn run(&self, _ctx: &Ctx, input: NoteReturn) -> Result<(), StepError> {
        store::note(&self.pool, &input).await.map_err(failure)
    }
}

#[tonic::async_trait]
impl Step<Inspect> for ReturnSteps {
    async fn run(&self, ctx: &Ctx, input: InspectReturn) -> Result<(), StepError> {
        store::inspect(&self.pool, ctx, &input)
            .await
            .map_err(failure)
    }
}

#[tonic::async_trait]
impl Step<RecordRefund> for ReturnSteps {
    async fn run(&self, ctx: &Ctx, input: RecordReturnRefund) -> Result<(), StepError> {
        store::record_refund(&self.pool, ctx, &input)
            .await
            .map_err(failure)
    }
}

#[tonic::async_trait]
impl Step<Label> for ReturnSteps {
    async fn run(&self, ctx: &Ctx, input: LabelReturn) -> Result<ReturnStatus, StepError> {
        let to = store::label(&self.pool, ctx, &input)
            .await
            .map_err(failure)?;
        tracing::info!(return_id = %input.return_id, tracking_code = %input.label.tracking_code, "return labelled");
        Ok(to)
    }
}

souk_contracts::returns_steps!(souk_kit::serve_steps!(ReturnSteps {}));

// The workflow worker's side: each step sent to this domain's step service.
souk_contracts::returns_steps!(souk_kit::forward_steps!(ReturnStepForwarder));
