//! `souk.shipping.v1.ShippingService`, served by the shipping worker: carriers' tracking
//! webhooks. Each delivery is verified by its carrier, each event recorded once, and the
//! shipment it concerns told (again on a redelivery, until the event is applied: the workflow
//! takes each event once). If a shipment cannot be told, the call fails so the carrier
//! delivers again.

use std::sync::Arc;

use souk_contracts::shipping::{TrackingEvent, messages};
use souk_kit::domain::WorkflowSignals;
use souk_kit::grpc::{invalid, not_found, status};
use souk_proto::shipping::v1 as pb;
use souk_proto::shipping::v1::shipping_service_server::{ShippingService, ShippingServiceServer};
use sqlx::PgPool;
use tonic::{Code, Request, Response, Status};

use crate::carrier::{Carrier, WebhookError};
use crate::store;

#[derive(Clone)]
pub struct Shipping {
    pool: PgPool,
    carrier: Arc<dyn Carrier>,
    signals: Arc<dyn WorkflowSignals>,
}

impl Shipping {
    pub fn new(pool: PgPool, carrier: Arc<dyn Carrier>, signals: Arc<dyn WorkflowSignals>) -> Self {
        Self {
            pool,
            carrier,
            signals,
        }
    }

    pub fn into_server(self) -> ShippingServiceServer<Self> {
        ShippingServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl ShippingService for Shipping {
    #[tracing::instrument(skip_all, fields(carrier = %req.get_ref().carrier))]
    async fn receive_webhook(
        &self,
        req: Request<pb::WebhookRequest>,
    ) -> Result<Response<pb::WebhookReply>, Status> {
        let r = req.into_inner();
        if r.carrier != self.carrier.name() {
            return Err(not_found(
                "unknown_carrier",
                format!("Souk takes no webhooks from carrier `{}`", r.carrier),
            ));
        }
        let headers: Vec<(String, String)> = r
            .headers
            .into_iter()
            .map(|h| (h.name.to_ascii_lowercase(), h.value))
            .collect();
        let updates = self
            .carrier
            .parse_webhook(&headers, &r.body)
            .map_err(|e| match e {
                WebhookError::Signature => invalid(e.code(), e.to_string()),
                WebhookError::Malformed(_) => invalid(e.code(), e.to_string()),
            })?;
        let mut reply = pb::WebhookReply::default();
        for update in updates {
            let received = store::receive_tracking(&self.pool, self.carrier.name(), &update)
                .await
                .map_err(|e| souk_kit::error::status(&e))?;
            if received.duplicate {
                reply.duplicates += 1;
            } else if received.pending_for.is_some() {
                reply.received += 1;
            } else {
                reply.unknown += 1;
                tracing::warn!(tracking_code = %update.tracking_code, event_id = %update.event_id, "tracking event for no shipment");
            }
            if let Some((_, workflow_id)) = received.pending_for {
                let event = TrackingEvent {
                    carrier: self.carrier.name().to_string(),
                    event_id: update.event_id.clone(),
                    status: update.status,
                    at: update.at,
                };
                let payload = serde_json::to_value(&event).map_err(souk_kit::grpc::internal)?;
                self.signals
                    .signal(&workflow_id, messages::TRACKING, payload)
                    .await
                    .map_err(|e| {
                        tracing::warn!(workflow_id, error = %e, "the shipment could not be told; the carrier will deliver again");
                        status(Code::Unavailable, "shipment_unreachable", "the shipment could not be told; deliver again later")
                    })?;
            }
        }
        Ok(Response::new(reply))
    }
}
