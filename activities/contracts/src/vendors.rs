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
        }
    };
}
