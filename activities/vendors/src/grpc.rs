//! `souk.vendors.v1.VendorService`, served by the vendors worker: a seller's own return
//! policy, set by the seller (or staff) through the API, and its changes.

use souk_domain::returns::{ReturnReason, VendorReturnPolicy};
use souk_kit::grpc::{ctx, invalid};
use souk_proto::vendors::v1 as pb;
use souk_proto::vendors::v1::vendor_service_server::{VendorService, VendorServiceServer};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::store::{self, PolicyRecord};

#[derive(Clone)]
pub struct Vendors {
    pool: PgPool,
}

impl Vendors {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn into_server(self) -> VendorServiceServer<Self> {
        VendorServiceServer::new(self)
    }
}

fn vendor_id(s: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(s).map_err(|_| invalid("invalid_vendor", format!("`{s}` is not a vendor id")))
}

pub fn to_pb(p: &VendorReturnPolicy) -> pb::ReturnPolicy {
    pb::ReturnPolicy {
        window_days: p.window_days,
        restocking_fee_bps: p.restocking_fee_bps,
        non_returnable_categories: p.non_returnable_categories.clone(),
        auto_approve_reasons: p.auto_approve_reasons.as_ref().map(|r| pb::Reasons {
            reasons: r.iter().map(|r| r.as_str().to_string()).collect(),
        }),
        auto_approve_max_minor: p.auto_approve_max_minor,
        free_return_postage: p.free_return_postage,
    }
}

fn from_pb(p: pb::ReturnPolicy) -> Result<VendorReturnPolicy, Status> {
    let reasons = p
        .auto_approve_reasons
        .map(|r| {
            r.reasons
                .iter()
                .map(|r| {
                    ReturnReason::parse(r).ok_or_else(|| {
                        invalid(
                            "invalid_return_policy",
                            format!("auto_approve_reasons: `{r}` is not a return reason"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(VendorReturnPolicy {
        window_days: p.window_days,
        restocking_fee_bps: p.restocking_fee_bps,
        non_returnable_categories: p.non_returnable_categories,
        auto_approve_reasons: reasons,
        auto_approve_max_minor: p.auto_approve_max_minor,
        free_return_postage: p.free_return_postage,
    })
}

fn reply(r: PolicyRecord) -> pb::ReturnPolicyReply {
    pb::ReturnPolicyReply {
        policy: Some(to_pb(&r.policy)),
        version: r.version,
        updated_by: r.updated_by,
        updated_at: r.updated_at.map(|t| t.to_rfc3339()),
    }
}

#[tonic::async_trait]
impl VendorService for Vendors {
    #[tracing::instrument(skip_all)]
    async fn get_return_policy(
        &self,
        req: Request<pb::GetReturnPolicyRequest>,
    ) -> Result<Response<pb::ReturnPolicyReply>, Status> {
        let id = vendor_id(&req.into_inner().vendor_id)?;
        let found = store::return_policy(&self.pool, id)
            .await
            .map_err(souk_kit::grpc::db_error)?
            .ok_or_else(|| souk_kit::error::status(&store::Error::NotFound(id)))?;
        Ok(Response::new(reply(found)))
    }

    #[tracing::instrument(skip_all)]
    async fn set_return_policy(
        &self,
        req: Request<pb::SetReturnPolicyRequest>,
    ) -> Result<Response<pb::ReturnPolicyReply>, Status> {
        let ctx = ctx(&req, "system");
        let r = req.into_inner();
        let id = vendor_id(&r.vendor_id)?;
        let policy = from_pb(r.policy.unwrap_or_default())?;
        let reason = r.reason.trim();
        if reason.is_empty() {
            return Err(invalid(
                "reason_required",
                "say why the return policy changes",
            ));
        }
        let set =
            store::set_return_policy(&self.pool, &ctx, id, &policy, reason, r.expected_version)
                .await
                .map_err(|e| souk_kit::error::status(&e))?;
        tracing::info!(vendor_id = %id, version = set.version, actor = %ctx.actor, "return policy set");
        Ok(Response::new(reply(set)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_return_policy_changes(
        &self,
        req: Request<pb::ListReturnPolicyChangesRequest>,
    ) -> Result<Response<pb::ListReturnPolicyChangesReply>, Status> {
        let r = req.into_inner();
        let id = vendor_id(&r.vendor_id)?;
        if store::return_policy(&self.pool, id)
            .await
            .map_err(souk_kit::grpc::db_error)?
            .is_none()
        {
            return Err(souk_kit::error::status(&store::Error::NotFound(id)));
        }
        let before = r
            .cursor
            .as_deref()
            .map(|c| c.parse::<i32>())
            .transpose()
            .map_err(|_| invalid("invalid_cursor", "the cursor is not one this list gave"))?;
        let limit = i64::from(souk_domain::cursor::page_limit(r.limit, 20, 100));
        let mut rows = store::return_policy_changes(&self.pool, id, before, limit + 1)
            .await
            .map_err(souk_kit::grpc::db_error)?;
        let more = rows.len() as i64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_cursor = more
            .then(|| rows.last().map(|c| c.version.to_string()))
            .flatten();
        Ok(Response::new(pb::ListReturnPolicyChangesReply {
            items: rows
                .into_iter()
                .map(|c| pb::ReturnPolicyChange {
                    version: c.version,
                    policy: Some(to_pb(&c.policy)),
                    actor: c.actor,
                    reason: c.reason,
                    changed_at: c.changed_at.to_rfc3339(),
                })
                .collect(),
            next_cursor,
        }))
    }
}
