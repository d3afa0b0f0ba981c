//! Vendors steps. Workflows run them as local activities through the vendors domain's step
//! service (they have no side effects), or on `souk.vendors`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::activity;

/// The `vendors` domain's task queue.
pub const QUEUE: crate::queues::Queue = crate::queues::Queue::new("vendors");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactOf {
    pub vendor_id: Uuid,
}

/// Where a vendor is reached about its orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorContact {
    pub vendor_id: Uuid,
    pub name: String,
    pub email: String,
    /// pending, active or suspended.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnPolicyOf {
    pub vendor_id: Uuid,
}

/// A seller's own return policy and its version (0: the seller has none of its own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorPolicy {
    pub policy: souk_domain::returns::VendorReturnPolicy,
    pub version: i32,
}

activity!(
    /// The seller's own return policy, what it changes of the marketplace's (an unknown
    /// vendor, or one with none: nothing, version 0).
    ReturnPolicy, "vendors.return_policy", ReturnPolicyOf => VendorPolicy
);
activity!(
    /// The vendor's name and contact address. Fails with `InvalidInput` (non-retryable) for an
    /// unknown vendor.
    Contact, "vendors.contact", ContactOf => VendorContact
);

/// The vendors steps workflows may run as local activities, as in [`crate::orders_steps`].
#[macro_export]
macro_rules! vendors_steps {
    ($($then:ident)::+ ! ($($args:tt)*)) => {
        $($then)::+! { ($($args)*)
            Contact => contact(ContactOf) -> VendorContact,
            ReturnPolicy => return_policy(ReturnPolicyOf) -> VendorPolicy,
        }
    };
}
