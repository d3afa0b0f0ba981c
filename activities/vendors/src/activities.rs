//! Vendors steps: over the step service (workflows run them as local activities).

use souk_contracts::failures;
use souk_contracts::vendors::{
    Contact, ContactOf, ReturnPolicy, ReturnPolicyOf, VendorContact, VendorPolicy,
};
use souk_kit::Ctx;
use souk_kit::failure::StepError;
use souk_kit::steps::Step;
use sqlx::PgPool;

#[derive(Clone)]
pub struct VendorSteps {
    pub pool: PgPool,
}

#[tonic::async_trait]
impl Step<Contact> for VendorSteps {
    async fn run(&self, _ctx: &Ctx, input: ContactOf) -> Result<VendorContact, StepError> {
        let vendor = crate::store::get(&self.pool, input.vendor_id)
            .await
            .map_err(|e| StepError {
                type_name: None,
                message: e.to_string(),
                non_retryable: false,
            })?
            .ok_or_else(|| StepError {
                type_name: Some(failures::INVALID_INPUT.into()),
                message: format!("no vendor {}", input.vendor_id),
                non_retryable: true,
            })?;
        Ok(VendorContact {
            vendor_id: vendor.id,
            name: vendor.name,
            email: vendor.email,
            status: vendor.status,
        })
    }
}

#[tonic::async_trait]
impl Step<ReturnPolicy> for VendorSteps {
    async fn run(&self, _ctx: &Ctx, input: ReturnPolicyOf) -> Result<VendorPolicy, StepError> {
        let found = crate::store::return_policy(&self.pool, input.vendor_id)
            .await
            .map_err(|e| StepError {
                type_name: None,
                message: e.to_string(),
                non_retryable: false,
            })?;
        // An unknown vendor has no policy of its own; the return refuses it later.
        Ok(found.map_or(
            VendorPolicy {
                policy: Default::default(),
                version: 0,
            },
            |r| VendorPolicy {
                policy: r.policy,
                version: r.version,
            },
        ))
    }
}

souk_contracts::vendors_steps!(souk_kit::serve_steps!(VendorSteps {}));

// The workflow worker's side: each step sent to this domain's step service.
souk_contracts::vendors_steps!(souk_kit::forward_steps!(VendorStepForwarder));
