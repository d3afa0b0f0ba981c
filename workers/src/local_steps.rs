//! Local activities of the workflow worker: each forwards to the owning domain's step service
//! over gRPC, so the domain's own process (and database role) does the work, and the Temporal
//! server only records a marker. Used for checkout steps without external side effects.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use souk_contracts::cart::{
    CartCheckout, CartSnapshot, CompleteCheckout, ReleaseCheckout, Snapshot, SnapshotCart,
};
use souk_contracts::inventory::{
    Commit, CommitAll, CommitReservations, Extend, ExtendReservation, Release, Reservation,
    ReservationRef, Reserve, ReserveStock,
};
use souk_contracts::orders::{
    Cancel, CancelOrder, Create, CreateOrder, OrderRef, Payment, RecordPayment,
};
use souk_contracts::pricing::{Hold, HoldCoupon, Redeem, RedemptionRef, Release as ReleaseCoupon};
use souk_proto::steps::v1 as pb;
use souk_proto::steps::v1::step_service_client::StepServiceClient;
use temporalio_macros::activities;
use temporalio_sdk::ApplicationFailure;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tonic::transport::{Channel, Endpoint};

use crate::config::Config;

pub struct LocalSteps {
    cart: StepServiceClient<Channel>,
    inventory: StepServiceClient<Channel>,
    pricing: StepServiceClient<Channel>,
    orders: StepServiceClient<Channel>,
}

fn client(url: &str) -> anyhow::Result<StepServiceClient<Channel>> {
    Ok(StepServiceClient::new(
        Endpoint::from_shared(url.to_string())?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(25))
            .tcp_nodelay(true)
            .connect_lazy(),
    ))
}

impl LocalSteps {
    pub fn new(cfg: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            cart: client(&cfg.service("cart")?.url)?,
            inventory: client(&cfg.service("inventory")?.url)?,
            pricing: client(&cfg.service("pricing")?.url)?,
            orders: client(&cfg.service("orders")?.url)?,
        })
    }

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
}

#[activities]
impl LocalSteps {
    #[activity(definition = Snapshot)]
    pub async fn snapshot(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: SnapshotCart,
    ) -> Result<CartSnapshot, ActivityError> {
        Self::forward(&self.cart, Snapshot::NAME, &ctx, input).await
    }

    #[activity(definition = ReleaseCheckout)]
    pub async fn release_cart(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: CartCheckout,
    ) -> Result<(), ActivityError> {
        Self::forward(&self.cart, ReleaseCheckout::NAME, &ctx, input).await
    }

    #[activity(definition = CompleteCheckout)]
    pub async fn complete_cart(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: CartCheckout,
    ) -> Result<(), ActivityError> {
        Self::forward(&self.cart, CompleteCheckout::NAME, &ctx, input).await
    }

    #[activity(definition = Hold)]
    pub async fn hold_coupon(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: HoldCoupon,
    ) -> Result<(), ActivityError> {
        Self::forward(&self.pricing, Hold::NAME, &ctx, input).await
    }

    #[activity(definition = Redeem)]
    pub async fn redeem_coupon(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: RedemptionRef,
    ) -> Result<(), ActivityError> {
        Self::forward(&self.pricing, Redeem::NAME, &ctx, input).await
    }

    #[activity(definition = ReleaseCoupon)]
    pub async fn release_coupon(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: RedemptionRef,
    ) -> Result<(), ActivityError> {
        Self::forward(&self.pricing, ReleaseCoupon::NAME, &ctx, input).await
    }

    #[activity(definition = Reserve)]
    pub async fn reserve(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ReserveStock,
    ) -> Result<Reservation, ActivityError> {
        Self::forward(&self.inventory, Reserve::NAME, &ctx, input).await
    }

    #[activity(definition = Extend)]
    pub async fn extend(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ExtendReservation,
    ) -> Result<Reservation, ActivityError> {
        Self::forward(&self.inventory, Extend::NAME, &ctx, input).await
    }

    #[activity(definition = Commit)]
    pub async fn commit(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ReservationRef,
    ) -> Result<(), ActivityError> {
        Self::forward(&self.inventory, Commit::NAME, &ctx, input).await
    }

    #[activity(definition = CommitAll)]
    pub async fn commit_reservations(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: CommitReservations,
    ) -> Result<(), ActivityError> {
        Self::forward(&self.inventory, CommitAll::NAME, &ctx, input).await
    }

    #[activity(definition = Release)]
    pub async fn release_reservation(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ReservationRef,
    ) -> Result<(), ActivityError> {
        Self::forward(&self.inventory, Release::NAME, &ctx, input).await
    }

    #[activity(definition = Create)]
    pub async fn create_order(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: CreateOrder,
    ) -> Result<OrderRef, ActivityError> {
        Self::forward(&self.orders, Create::NAME, &ctx, input).await
    }

    #[activity(definition = Cancel)]
    pub async fn cancel_order(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: CancelOrder,
    ) -> Result<(), ActivityError> {
        Self::forward(&self.orders, Cancel::NAME, &ctx, input).await
    }

    #[activity(definition = Payment)]
    pub async fn record_payment(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: RecordPayment,
    ) -> Result<(), ActivityError> {
        Self::forward(&self.orders, Payment::NAME, &ctx, input).await
    }
}
