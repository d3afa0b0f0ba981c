//! Pricing activities. They run on `souk.pricing`.

use serde::{Deserialize, Serialize};

use crate::activity;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemCoupon {
    pub code: String,
    /// Idempotency key: one redemption per checkout.
    pub redemption_key: String,
    /// Who redeems (e-mail), for per-customer limits.
    pub customer: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReverseRedemption {
    pub code: String,
    pub redemption_key: String,
}

activity!(
    /// Records a coupon redemption, enforcing its window and limits under a row lock.
    /// Fails with `CouponRejected` (non-retryable).
    Redeem, "pricing.redeem_coupon", RedeemCoupon => ()
);
activity!(
    /// Undoes a redemption (a compensation). Idempotent.
    Reverse, "pricing.reverse_coupon_redemption", ReverseRedemption => ()
);
