//! Pricing activities. They run on `souk.pricing`.

use serde::{Deserialize, Serialize};

use crate::activity;

/// The `pricing` domain's task queue.
pub const QUEUE: crate::queues::Queue = crate::queues::Queue::new("pricing");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldCoupon {
    pub code: String,
    /// Idempotency key: one redemption per checkout attempt.
    pub redemption_key: String,
    /// Who redeems (e-mail). Per-customer limits count `customer_keys`; holds from checkouts
    /// started before those were sent count this address.
    pub customer: String,
    /// Who the per-customer limit counts this redemption against
    /// (`souk_domain::coupon::customer_keys`, and the card's key once it is known). Holding
    /// again with the same `redemption_key` and more keys checks the limit for those too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub customer_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedemptionRef {
    pub code: String,
    pub redemption_key: String,
}

activity!(
    /// Holds a redemption, enforcing the coupon's window and limits under a row lock. Fails
    /// with `CouponRejected` (non-retryable).
    Hold, "pricing.hold_coupon", HoldCoupon => ()
);
activity!(
    /// Confirms a held redemption once the order is paid. Idempotent.
    Redeem, "pricing.redeem_coupon", RedemptionRef => ()
);
activity!(
    /// Releases a hold or reverses a redemption (a compensation). Idempotent.
    Release, "pricing.release_coupon", RedemptionRef => ()
);

/// The pricing steps workflows may run as local activities (through the domain's step service)
/// as well as on `souk.pricing`: the one list of them, as `marker => method(input) -> output`.
/// It calls back the macro it is given with that list, after the macro's own arguments: the
/// domain serves the steps with `souk_kit::serve_steps!`, the workflow worker forwards them.
/// Names resolve where it is called, so the caller imports the markers and types.
#[macro_export]
macro_rules! pricing_steps {
    ($($then:ident)::+ ! ($($args:tt)*)) => {
        $($then)::+! { ($($args)*)
            Hold => hold_coupon(HoldCoupon) -> (),
            Redeem => redeem_coupon(RedemptionRef) -> (),
            Release => release_coupon(RedemptionRef) -> (),
        }
    };
}
