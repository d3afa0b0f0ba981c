//! `souk.ledger.v1.LedgerService`, served by the ledger worker: balances, a vendor's
//! statement, the trial balance, and the commission rules staff keep.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use souk_domain::ledger::Account;
use souk_domain::{Currency, Money};
use souk_kit::grpc::{ctx, invalid};
use souk_proto::ledger::v1 as pb;
use souk_proto::ledger::v1::ledger_service_server::{LedgerService, LedgerServiceServer};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::store::{self, NewRule, RuleRecord};

#[derive(Clone)]
pub struct Ledger {
    pool: PgPool,
}

impl Ledger {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn into_server(self) -> LedgerServiceServer<Self> {
        LedgerServiceServer::new(self)
    }
}

fn vendor_id(s: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(s).map_err(|_| invalid("invalid_vendor", format!("`{s}` is not a vendor id")))
}

fn status(e: store::Error) -> Status {
    souk_kit::error::status(&e)
}

fn rule_pb(r: RuleRecord) -> pb::CommissionRule {
    pb::CommissionRule {
        id: r.rule.id.to_string(),
        vendor_id: r.rule.vendor_id.map(|v| v.to_string()),
        category: r.rule.category,
        effective_from: r.rule.effective_from.to_rfc3339(),
        bps: r.rule.bps,
        fixed_minor: r.rule.fixed.map(|f| f.amount),
        fixed_currency: r.rule.fixed.map(|f| f.currency.code().to_string()),
        created_by: r.created_by,
        reason: r.reason,
        created_at: r.created_at.to_rfc3339(),
    }
}

fn rule_invalid(message: impl Into<String>) -> Status {
    invalid("invalid_commission_rule", message)
}

#[tonic::async_trait]
impl LedgerService for Ledger {
    #[tracing::instrument(skip_all)]
    async fn get_trial_balance(
        &self,
        _req: Request<pb::GetTrialBalanceRequest>,
    ) -> Result<Response<pb::TrialBalanceReply>, Status> {
        let balances = store::trial_balance(&self.pool).await.map_err(status)?;
        let mut totals: BTreeMap<String, i64> = BTreeMap::new();
        let accounts = balances
            .into_iter()
            .map(|b| {
                let signed = if b.account.is_debit() {
                    b.balance
                } else {
                    -b.balance
                };
                *totals.entry(b.currency.code().to_string()).or_default() += signed;
                pb::AccountBalance {
                    account: b.account.to_string(),
                    currency: b.currency.code().to_string(),
                    balance: b.balance,
                    signed,
                }
            })
            .collect();
        Ok(Response::new(pb::TrialBalanceReply {
            accounts,
            totals: totals.into_iter().collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_vendor_balance(
        &self,
        req: Request<pb::GetVendorBalanceRequest>,
    ) -> Result<Response<pb::VendorBalanceReply>, Status> {
        let vendor = vendor_id(&req.into_inner().vendor_id)?;
        let mut by_currency: BTreeMap<Currency, pb::VendorBalance> = BTreeMap::new();
        for b in store::vendor_balances(&self.pool, vendor)
            .await
            .map_err(status)?
        {
            let row = by_currency
                .entry(b.currency)
                .or_insert_with(|| pb::VendorBalance {
                    currency: b.currency.code().to_string(),
                    ..Default::default()
                });
            match b.account {
                Account::VendorReserve(_) => row.reserve = b.balance,
                Account::VendorPayable(_) => row.payable = b.balance,
                Account::PayoutsInTransit(_) => row.in_transit = b.balance,
                Account::CustomerPayments | Account::PlatformRevenue => {}
            }
        }
        Ok(Response::new(pb::VendorBalanceReply {
            balances: by_currency.into_values().collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_vendor_entries(
        &self,
        req: Request<pb::ListVendorEntriesRequest>,
    ) -> Result<Response<pb::ListVendorEntriesReply>, Status> {
        let r = req.into_inner();
        let vendor = vendor_id(&r.vendor_id)?;
        let limit = i64::from(souk_domain::cursor::page_limit(r.limit, 20, 100));
        let (lines, next_cursor) = store::statement(&self.pool, vendor, r.cursor.as_deref(), limit)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListVendorEntriesReply {
            items: lines
                .into_iter()
                .map(|l| pb::VendorEntry {
                    entry_key: l.key,
                    kind: l.kind,
                    order_no: l.order_no,
                    posted_at: l.posted_at.to_rfc3339(),
                    account: match l.account {
                        Account::VendorReserve(_) => "reserve",
                        Account::VendorPayable(_) => "payable",
                        _ => "in_transit",
                    }
                    .to_string(),
                    currency: l.currency.code().to_string(),
                    amount: l.amount,
                })
                .collect(),
            next_cursor,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn add_commission_rule(
        &self,
        req: Request<pb::AddCommissionRuleRequest>,
    ) -> Result<Response<pb::CommissionRule>, Status> {
        let ctx = ctx(&req, "system");
        let r = req.into_inner();
        let vendor = r.vendor_id.as_deref().map(vendor_id).transpose()?;
        let effective_from = r
            .effective_from
            .as_deref()
            .map(|t| {
                DateTime::parse_from_rfc3339(t)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| rule_invalid("effective_from is an RFC 3339 time"))
            })
            .transpose()?;
        let fixed = match (r.fixed_minor, r.fixed_currency.as_deref()) {
            (None, None) => None,
            (Some(amount), Some(c)) => Some(Money::new(
                amount,
                Currency::parse(c).map_err(|e| rule_invalid(e.to_string()))?,
            )),
            _ => {
                return Err(rule_invalid(
                    "a fixed commission has an amount and a currency",
                ));
            }
        };
        let kept = store::add_rule(
            &self.pool,
            &ctx,
            &NewRule {
                vendor_id: vendor,
                category: r.category,
                effective_from,
                bps: r.bps,
                fixed,
                reason: r.reason,
            },
        )
        .await
        .map_err(status)?;
        tracing::info!(rule_id = %kept.rule.id, actor = %ctx.actor, "commission rule added");
        Ok(Response::new(rule_pb(kept)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_commission_rules(
        &self,
        req: Request<pb::ListCommissionRulesRequest>,
    ) -> Result<Response<pb::ListCommissionRulesReply>, Status> {
        let vendor = req
            .into_inner()
            .vendor_id
            .as_deref()
            .map(vendor_id)
            .transpose()?;
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(souk_kit::grpc::db_error)?;
        let vendors = vendor.map(|v| vec![v]);
        let rules = store::rules(&mut conn, vendors.as_deref(), None)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListCommissionRulesReply {
            items: rules.into_iter().map(rule_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_order_commissions(
        &self,
        req: Request<pb::GetOrderCommissionsRequest>,
    ) -> Result<Response<pb::OrderCommissionsReply>, Status> {
        let order_no = req.into_inner().order_no;
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(souk_kit::grpc::db_error)?;
        let lines = store::line_commissions(&mut conn, &order_no)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::OrderCommissionsReply {
            lines: lines
                .into_iter()
                .map(|l| pb::LineCommission {
                    sku: l.commission.sku.to_string(),
                    vendor_id: l.commission.vendor_id.to_string(),
                    currency: l.commission.paid.currency.code().to_string(),
                    paid: l.commission.paid.amount,
                    commission: l.commission.commission.amount,
                    rule_id: l.commission.rule_id.map(|r| r.to_string()),
                    refunded: l.refunded,
                    commission_back: l.commission_back,
                })
                .collect(),
        }))
    }
}
