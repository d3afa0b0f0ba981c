//! Shipping activities, run by the shipping worker on `souk.shipping`: the shipment
//! workflow's steps. Each is idempotent: opening, packing and labelling again answer what was
//! done the first time, and a label is bought at most once per shipment (the store keeps it,
//! and the carrier looks for it before buying again).

use std::sync::Arc;

use souk_contracts::failures;
use souk_contracts::shipping::{
    Alert, ApplyTracking, Arrive, ArriveParcel, Buy, BuyLabel, CancelShipmentLines, CancelUnits,
    HandOver, HandOverShipment, LabelBought, MarkNoScan, NewReturnParcel, NoScan, Open,
    OpenReturnParcel, OpenShipment, Opened, Pack, PackShipment, Quote, QuoteShipment, RaiseAlert,
    RateChoice, ReturnParcel, TrackingEvent, TrackingOutcome, Void, VoidLabel,
};
use souk_domain::shipment::ShipmentStatus;
use souk_domain::shipment::Tracking;
use souk_kit::Ctx;
use souk_kit::failure::{StepError, business, transient};
use souk_kit::steps::Step;
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::carrier::{Carrier, CarrierError, RateRequest};
use crate::domain::Settings;
use crate::store::{self, NewReturnShipment, NewShipment};

pub struct ShippingActivities {
    pub pool: PgPool,
    pub carrier: Arc<dyn Carrier>,
    pub settings: Settings,
}

fn failed(e: store::Error) -> ActivityError {
    souk_kit::error::step(e).into_activity()
}

fn carrier_failed(e: CarrierError) -> ActivityError {
    match e {
        CarrierError::Rejected { code, message } => {
            business(failures::CARRIER_REJECTED, format!("{code}: {message}"))
        }
        CarrierError::Unavailable(m) => transient(anyhow::anyhow!(m)),
    }
    .into_activity()
}

fn rate_choice(r: crate::carrier::Rate) -> RateChoice {
    RateChoice {
        id: r.id,
        carrier: r.carrier,
        service: r.service,
        price: r.price,
        delivery_days: r.delivery_days,
    }
}

impl ShippingActivities {
    /// Asks the carrier for rates of a packed shipment and keeps them.
    async fn quote_rates(&self, shipment_id: uuid::Uuid) -> Result<Vec<RateChoice>, ActivityError> {
        let shipment = store::get(&self.pool, shipment_id).await.map_err(failed)?;
        let parcel = shipment.parcel.ok_or_else(|| {
            business(
                failures::INVALID_INPUT,
                format!("shipment {shipment_id} is not packed"),
            )
            .into_activity()
        })?;
        // A return parcel is collected from the customer; others leave from their warehouse.
        let from = match &shipment.ship_from {
            Some(customer) => Some(customer.clone()),
            None => self.settings.origin(&shipment.warehouse).cloned(),
        }
        .ok_or_else(|| {
            StepError::into_activity(business(
                failures::INVALID_INPUT,
                format!("no origin address for warehouse {}", shipment.warehouse),
            ))
        })?;
        let quote = self
            .carrier
            .quote(&RateRequest {
                reference: shipment.id.to_string(),
                from,
                to: shipment.ship_to.clone(),
                parcel,
                currency: shipment.currency,
            })
            .await
            .map_err(carrier_failed)?;
        store::record_quote(&self.pool, shipment.id, self.carrier.name(), &quote)
            .await
            .map_err(failed)?;
        let rates = store::rates(&self.pool, shipment.id)
            .await
            .map_err(failed)?;
        Ok(rates.into_iter().map(rate_choice).collect())
    }
}

/// The shipping steps, over the step service as well as on `souk.shipping`: the ones that
/// call no carrier, which workflows run as local activities.
#[derive(Clone)]
pub struct ShippingSteps {
    pub pool: PgPool,
    pub settings: Settings,
}

#[tonic::async_trait]
impl Step<Open> for ShippingSteps {
    async fn run(&self, ctx: &Ctx, input: OpenShipment) -> Result<Opened, StepError> {
        let i = &input.input;
        // The parcel leaves from the warehouse that holds most of the units.
        let mut by_warehouse = std::collections::BTreeMap::<&str, i32>::new();
        for l in &i.lines {
            *by_warehouse.entry(l.warehouse.as_str()).or_default() += l.quantity;
        }
        let warehouse = by_warehouse
            .iter()
            .max_by_key(|(w, q)| (**q, std::cmp::Reverse(**w)))
            .map(|(w, _)| w.to_string())
            .ok_or_else(|| business(failures::INVALID_INPUT, "a shipment without lines"))?;
        let shipment = store::open(
            &self.pool,
            ctx,
            &NewShipment {
                workflow_id: input.workflow_id.clone(),
                order_no: i.order_no.clone(),
                vendor_id: i.vendor_id,
                customer_email: i.customer_email.clone(),
                warehouse,
                ship_to: i.ship_to.clone(),
                currency: i.currency,
                lines: i
                    .lines
                    .iter()
                    .map(|l| (l.sku.clone(), l.title.clone(), l.quantity))
                    .collect(),
            },
        )
        .await
        .map_err(souk_kit::error::step)?;
        Ok(Opened {
            shipment_id: shipment.id,
            status: shipment.status,
        })
    }
}

#[tonic::async_trait]
impl Step<OpenReturnParcel> for ShippingSteps {
    async fn run(&self, ctx: &Ctx, input: NewReturnParcel) -> Result<ReturnParcel, StepError> {
        let shipment = store::open_return(
            &self.pool,
            ctx,
            &NewReturnShipment {
                workflow_id: input.workflow_id,
                order_no: input.order_no,
                vendor_id: input.vendor_id,
                lines: input
                    .lines
                    .into_iter()
                    .map(|l| (l.sku, l.quantity))
                    .collect(),
            },
            |warehouse| self.settings.origin(warehouse).cloned(),
        )
        .await
        .map_err(souk_kit::error::step)?;
        Ok(ReturnParcel {
            shipment_id: shipment.id,
            warehouse: shipment.warehouse,
            status: shipment.status,
        })
    }
}

#[tonic::async_trait]
impl Step<Arrive> for ShippingSteps {
    async fn run(&self, _ctx: &Ctx, input: ArriveParcel) -> Result<ShipmentStatus, StepError> {
        store::arrived(&self.pool, &Ctx::new(&input.actor), input.shipment_id)
            .await
            .map_err(souk_kit::error::step)
    }
}

souk_contracts::shipping_steps!(souk_kit::serve_steps!(ShippingSteps {}));

// The workflow worker's side: each step sent to this domain's step service.
souk_contracts::shipping_steps!(souk_kit::forward_steps!(ShippingStepForwarder));

#[activities]
impl ShippingActivities {
    #[activity(definition = PackShipment)]
    pub async fn pack(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: Pack,
    ) -> Result<(), ActivityError> {
        store::pack(
            &self.pool,
            &Ctx::new(&input.actor),
            input.shipment_id,
            input.parcel,
        )
        .await
        .map_err(failed)?;
        Ok(())
    }

    #[activity(definition = Quote)]
    pub async fn quote(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: QuoteShipment,
    ) -> Result<Vec<RateChoice>, ActivityError> {
        self.quote_rates(input.shipment_id).await
    }

    #[activity(definition = Buy)]
    pub async fn buy_label(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: BuyLabel,
    ) -> Result<LabelBought, ActivityError> {
        let mut shipment = store::get(&self.pool, input.shipment_id)
            .await
            .map_err(failed)?;
        let mut rates = store::rates(&self.pool, shipment.id)
            .await
            .map_err(failed)?;
        if shipment.tracking_code.is_none() && rates.is_empty() {
            // Never quoted: quote now, and buy from what came back.
            self.quote_rates(shipment.id).await?;
            shipment = store::get(&self.pool, input.shipment_id)
                .await
                .map_err(failed)?;
            rates = store::rates(&self.pool, shipment.id)
                .await
                .map_err(failed)?;
        }
        // Bought already (a retried step): the label recorded then.
        let wanted = shipment.rate_id.clone().or(input.rate_id.clone());
        let rate = match &wanted {
            Some(id) => rates.iter().find(|r| &r.id == id),
            None => rates.first(),
        }
        .cloned()
        .ok_or_else(|| {
            business(
                failures::INVALID_INPUT,
                format!(
                    "`{}` is not a rate quoted for shipment {}",
                    wanted.as_deref().unwrap_or("the cheapest"),
                    shipment.id
                ),
            )
            .into_activity()
        })?;
        let shipment = if shipment.tracking_code.is_some() {
            shipment
        } else {
            let carrier_shipment = shipment.carrier_shipment.clone().ok_or_else(|| {
                business(failures::INVALID_INPUT, "the shipment was not quoted").into_activity()
            })?;
            store::purchase_started(&self.pool, shipment.id)
                .await
                .map_err(failed)?;
            let label = match self.carrier.buy(&carrier_shipment, &rate.id).await {
                Ok(label) => label,
                Err(e) => {
                    if matches!(e, CarrierError::Rejected { .. }) {
                        store::purchase_refused(&self.pool, shipment.id)
                            .await
                            .map_err(failed)?;
                    }
                    return Err(carrier_failed(e));
                }
            };
            store::record_label(&self.pool, &Ctx::new(&input.actor), shipment.id, &label)
                .await
                .map_err(failed)?
        };
        tracing::info!(shipment_id = %shipment.id, carrier = self.carrier.name(), rate = %rate.id, "label bought");
        Ok(LabelBought {
            carrier: rate.carrier,
            service: rate.service,
            price: rate.price,
            tracking_code: shipment.tracking_code.clone().unwrap_or_default(),
            label_url: shipment.label_url.clone().unwrap_or_default(),
            tracking_url: shipment.tracking_url.clone(),
        })
    }

    #[activity(definition = ApplyTracking)]
    pub async fn apply_tracking(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: TrackingEvent,
    ) -> Result<TrackingOutcome, ActivityError> {
        let ctx = Ctx::new(format!("carrier:{}", input.carrier));
        let outcome = store::apply_tracking(&self.pool, &ctx, &input.carrier, &input.event_id)
            .await
            .map_err(failed)?;
        Ok(match outcome {
            Tracking::Advance(to) => TrackingOutcome::Applied(to),
            Tracking::Unchanged => TrackingOutcome::Unchanged,
            Tracking::Stale => TrackingOutcome::Stale,
        })
    }

    #[activity(definition = Alert)]
    pub async fn raise_alert(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RaiseAlert,
    ) -> Result<(), ActivityError> {
        let new = store::raise_alert(
            &self.pool,
            &Ctx::new("system:shipment"),
            input.shipment_id,
            input.kind,
            &input.note,
        )
        .await
        .map_err(failed)?;
        if new {
            tracing::warn!(alert = input.kind.as_str(), shipment_id = %input.shipment_id, note = %input.note, "shipment alert");
        }
        Ok(())
    }

    #[activity(definition = MarkNoScan)]
    pub async fn no_scan(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: NoScan,
    ) -> Result<ShipmentStatus, ActivityError> {
        let status = store::no_scan(
            &self.pool,
            &Ctx::new("system:scan_timeout"),
            input.shipment_id,
            &input.note,
        )
        .await
        .map_err(failed)?;
        if status == ShipmentStatus::Exception {
            tracing::warn!(alert = "no_scan", shipment_id = %input.shipment_id, note = %input.note, "shipment alert");
        }
        Ok(status)
    }

    #[activity(definition = HandOverShipment)]
    pub async fn hand_over(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: HandOver,
    ) -> Result<ShipmentStatus, ActivityError> {
        store::hand_over(&self.pool, &Ctx::new(&input.actor), input.shipment_id)
            .await
            .map_err(failed)
    }

    #[activity(definition = Void)]
    pub async fn void_label(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: VoidLabel,
    ) -> Result<ShipmentStatus, ActivityError> {
        let shipment = store::get(&self.pool, input.shipment_id)
            .await
            .map_err(failed)?;
        if shipment.status == ShipmentStatus::Cancelled {
            return Ok(shipment.status);
        }
        if let Some(carrier_shipment) = &shipment.carrier_shipment {
            match self.carrier.void(carrier_shipment).await {
                Ok(()) => {}
                // Quoted, and perhaps bought as an answer was lost: the carrier has no label
                // to refund, so there is none.
                Err(CarrierError::Rejected { .. }) if shipment.status == ShipmentStatus::Packed => {
                }
                // Asked again after a lost answer: the carrier voids a void label again, or
                // says why not.
                Err(e) => return Err(carrier_failed(e)),
            }
        }
        let status = store::voided(
            &self.pool,
            &Ctx::new(&input.actor),
            shipment.id,
            &input.reason,
        )
        .await
        .map_err(failed)?;
        tracing::info!(shipment_id = %shipment.id, carrier = self.carrier.name(), "label voided");
        Ok(status)
    }

    #[activity(definition = CancelShipmentLines)]
    pub async fn cancel_lines(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: CancelUnits,
    ) -> Result<ShipmentStatus, ActivityError> {
        let lines: Vec<_> = input
            .lines
            .iter()
            .map(|l| (l.sku.clone(), l.quantity))
            .collect();
        store::cancel_lines(
            &self.pool,
            &Ctx::new(&input.actor),
            input.shipment_id,
            &input.key,
            &lines,
            &input.reason,
        )
        .await
        .map_err(failed)
    }
}
