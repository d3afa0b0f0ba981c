//! `souk.shipping.v1.ShippingService`, served by the shipping worker: carriers' tracking
//! webhooks. Each delivery is verified by its carrier, each event recorded once, and the
//! shipment it concerns told (again on a redelivery, until the event is applied: the workflow
//! takes each event once). If a shipment cannot be told, the call fails so the carrier
//! delivers again.

use std::sync::Arc;

use souk_contracts::shipping::{AlertKind, TrackingEvent, messages};
use souk_domain::cursor::{TimeCursor, next_page, page_limit};
use souk_domain::shipment::ShipmentStatus;
use souk_kit::domain::{WorkflowGone, WorkflowSignals};
use souk_kit::grpc::{invalid, not_found, status};
use souk_proto::shipping::v1 as pb;
use souk_proto::shipping::v1::shipping_service_server::{ShippingService, ShippingServiceServer};
use sqlx::PgPool;
use tonic::{Code, Request, Response, Status};
use uuid::Uuid;

use crate::carrier::Carrier;
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
            .map_err(|e| invalid(e.code(), e.to_string()))?;
        let mut reply = pb::WebhookReply::default();
        for update in updates {
            let received = store::receive_tracking(&self.pool, self.carrier.name(), &update)
                .await
                .map_err(|e| souk_kit::error::status(&e))?;
            if received.duplicate {
                reply.duplicates += 1;
            } else if received.pending_for.is_some() {
                reply.received += 1;
            } else if received.known {
                // For a shipment that moves no more: kept, ignored.
                reply.stale += 1;
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
                match self
                    .signals
                    .signal(&workflow_id, messages::TRACKING, payload)
                    .await
                {
                    Ok(()) => {}
                    // Its workflow has ended (a return closed before the carrier's last
                    // scan): nobody will apply it, so it is kept as stale, not redelivered.
                    Err(e) if WorkflowGone::is(&e) => {
                        store::stale_event(&self.pool, self.carrier.name(), &update.event_id)
                            .await
                            .map_err(|e| souk_kit::error::status(&e))?;
                        tracing::info!(workflow_id, event_id = %update.event_id, "tracking event for an ended workflow kept as stale");
                        reply.received -= 1;
                        reply.stale += 1;
                    }
                    Err(e) => {
                        tracing::warn!(workflow_id, error = %e, "the shipment could not be told; the carrier will deliver again");
                        return Err(status(
                            Code::Unavailable,
                            "shipment_unreachable",
                            "the shipment could not be told; deliver again later",
                        ));
                    }
                }
            }
        }
        Ok(Response::new(reply))
    }

    #[tracing::instrument(skip_all)]
    async fn list_shipments(
        &self,
        req: Request<pb::ListShipmentsRequest>,
    ) -> Result<Response<pb::ListShipmentsReply>, Status> {
        let r = req.into_inner();
        let vendor = match r.vendor_id.as_str() {
            "" => None,
            v => Some(uuid(v, "invalid_vendor")?),
        };
        let alert =
            match r.alert.as_deref() {
                None => None,
                Some(a) => Some(AlertKind::parse(a).ok_or_else(|| {
                    invalid("invalid_alert", format!("`{a}` is not an alert kind"))
                })?),
            };
        let status = match r.status.as_deref() {
            None => None,
            Some(s) => Some(ShipmentStatus::parse(s).ok_or_else(|| {
                invalid("invalid_status", format!("`{s}` is not a shipment status"))
            })?),
        };
        let after = r
            .cursor
            .as_deref()
            .map(TimeCursor::decode)
            .transpose()
            .map_err(|_| invalid("invalid_cursor", "the cursor is not one this list gave"))?;
        let limit = i64::from(page_limit(r.limit, 20, 100));
        let mut rows = store::list(&self.pool, vendor, status, alert, after, limit + 1)
            .await
            .map_err(|e| souk_kit::error::status(&e))?;
        let next_cursor = next_page(&mut rows, limit, |s| TimeCursor {
            created_at: s.created_at,
            id: s.id,
        });
        Ok(Response::new(pb::ListShipmentsReply {
            items: rows.into_iter().map(|s| shipment(s, Vec::new())).collect(),
            next_cursor,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_shipment(
        &self,
        req: Request<pb::GetShipmentRequest>,
    ) -> Result<Response<pb::Shipment>, Status> {
        let r = req.into_inner();
        let missing = || not_found("shipment_not_found", "no such shipment");
        let id = Uuid::parse_str(&r.id).map_err(|_| missing())?;
        let found = store::get(&self.pool, id)
            .await
            .map_err(|e| souk_kit::error::status(&e))?;
        // A return parcel is seen, and acted on, through its return.
        if found.is_return()
            || r.vendor_id
                .as_ref()
                .is_some_and(|v| found.vendor_id.to_string() != *v)
        {
            return Err(missing());
        }
        Ok(Response::new(self.whole(found).await?))
    }

    #[tracing::instrument(skip_all, fields(order_no = %req.get_ref().order_no))]
    async fn order_shipments(
        &self,
        req: Request<pb::OrderShipmentsRequest>,
    ) -> Result<Response<pb::ListShipmentsReply>, Status> {
        let r = req.into_inner();
        let vendor = r
            .vendor_id
            .as_deref()
            .map(|v| uuid(v, "invalid_vendor"))
            .transpose()?;
        let found = store::for_order(&self.pool, &r.order_no, vendor)
            .await
            .map_err(|e| souk_kit::error::status(&e))?;
        let mut items = Vec::with_capacity(found.len());
        for s in found {
            items.push(self.whole(s).await?);
        }
        Ok(Response::new(pb::ListShipmentsReply {
            items,
            next_cursor: None,
        }))
    }
}

impl Shipping {
    /// A shipment with its tracking events and alerts.
    async fn whole(&self, s: store::Shipment) -> Result<pb::Shipment, Status> {
        let events = store::events(&self.pool, s.id)
            .await
            .map_err(|e| souk_kit::error::status(&e))?;
        let alerts = store::alerts(&self.pool, s.id)
            .await
            .map_err(|e| souk_kit::error::status(&e))?;
        let mut whole = shipment(s, events);
        whole.alerts = alerts
            .into_iter()
            .map(|a| pb::Alert {
                kind: a.kind.as_str().to_string(),
                note: a.note,
                raised_at: a.raised_at.to_rfc3339(),
            })
            .collect();
        Ok(whole)
    }
}

fn uuid(s: &str, reason: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(s).map_err(|_| invalid(reason, format!("`{s}` is not an id")))
}

fn shipment(s: store::Shipment, events: Vec<store::Event>) -> pb::Shipment {
    pb::Shipment {
        id: s.id.to_string(),
        workflow_id: s.workflow_id,
        order_no: s.order_no,
        vendor_id: s.vendor_id.to_string(),
        status: s.status.as_str().to_string(),
        warehouse: s.warehouse,
        carrier: s.carrier,
        tracking_code: s.tracking_code,
        label_url: s.label_url,
        tracking_url: s.tracking_url,
        lines: s
            .lines
            .into_iter()
            .map(|l| pb::ShipmentLine {
                sku: l.sku.to_string(),
                title: l.title,
                quantity: l.quantity,
                cancelled: l.cancelled,
            })
            .collect(),
        parcel: s.parcel.map(|p| pb::Parcel {
            weight_grams: p.weight_grams,
            length_mm: p.length_mm,
            width_mm: p.width_mm,
            height_mm: p.height_mm,
        }),
        events: events
            .into_iter()
            .map(|e| pb::TrackingEvent {
                event_id: e.event_id,
                carrier_status: e.carrier_status,
                status: e.status.map(|s| s.as_str().to_string()),
                at: e.at.to_rfc3339(),
                location: e.location,
                message: e.message,
                outcome: e.outcome,
            })
            .collect(),
        created_at: s.created_at.to_rfc3339(),
        updated_at: s.updated_at.to_rfc3339(),
        alerts: Vec::new(),
    }
}
