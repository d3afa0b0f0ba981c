//! Coupon rules: when a coupon applies to a basket and how much it takes off.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::{Currency, Money, mul_div_round};

/// What a coupon takes off the eligible part of a basket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DiscountKind {
    /// A percentage in basis points: 1000 is 10 %.
    Percent { basis_points: i64 },
    /// A fixed amount off.
    Fixed { amount: Money },
}

/// Which lines a coupon applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "ids", rename_all = "snake_case")]
pub enum CouponScope {
    All,
    Vendor(Vec<Uuid>),
    Category(Vec<Uuid>),
    Product(Vec<Uuid>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    /// Upper case; codes are matched case-insensitively.
    pub code: String,
    pub description: String,
    pub discount: DiscountKind,
    /// The basket subtotal below which the coupon does not apply.
    pub min_order: Option<Money>,
    /// The most a percentage coupon can take off.
    pub max_discount: Option<Money>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub total_limit: Option<i64>,
    pub per_customer_limit: Option<i64>,
    pub scope: CouponScope,
    pub active: bool,
}

/// How often a coupon has been redeemed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponUsage {
    pub total: i64,
    /// Redemptions by this customer; `None` when the customer is not known yet (a guest cart).
    pub by_customer: Option<i64>,
}

/// Why a coupon does not apply. The string codes are part of the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    #[error("coupon does not exist")]
    NotFound,
    #[error("coupon is not active")]
    Inactive,
    #[error("coupon is not valid yet")]
    NotStarted,
    #[error("coupon has expired")]
    Expired,
    #[error("order is below the coupon's minimum of {0}")]
    BelowMinimum(Money),
    #[error("coupon has reached its redemption limit")]
    LimitReached,
    #[error("coupon has already been used the allowed number of times by this customer")]
    CustomerLimitReached,
    #[error("coupon does not apply to any item in the cart")]
    NotApplicable,
    #[error("coupon is for another currency")]
    CurrencyMismatch,
}

impl Rejection {
    /// The stable machine-readable reason.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::NotFound => "not_found",
            Rejection::Inactive => "inactive",
            Rejection::NotStarted => "not_started",
            Rejection::Expired => "expired",
            Rejection::BelowMinimum(_) => "below_minimum",
            Rejection::LimitReached => "limit_reached",
            Rejection::CustomerLimitReached => "customer_limit_reached",
            Rejection::NotApplicable => "not_applicable",
            Rejection::CurrencyMismatch => "currency_mismatch",
        }
    }
}

/// What a coupon needs to know about one basket line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EligibilityFacts<'a> {
    pub vendor_id: Uuid,
    pub product_id: Uuid,
    pub category_ids: &'a [Uuid],
}

impl CouponScope {
    pub fn covers(&self, line: &EligibilityFacts<'_>) -> bool {
        match self {
            CouponScope::All => true,
            CouponScope::Vendor(ids) => ids.contains(&line.vendor_id),
            CouponScope::Product(ids) => ids.contains(&line.product_id),
            CouponScope::Category(ids) => line.category_ids.iter().any(|c| ids.contains(c)),
        }
    }
}

impl Coupon {
    /// Checks the rules that do not depend on the basket's lines.
    pub fn check_window_and_limits(
        &self,
        usage: CouponUsage,
        now: DateTime<Utc>,
    ) -> Result<(), Rejection> {
        if !self.active {
            return Err(Rejection::Inactive);
        }
        if self.starts_at.is_some_and(|s| now < s) {
            return Err(Rejection::NotStarted);
        }
        if self.ends_at.is_some_and(|e| now >= e) {
            return Err(Rejection::Expired);
        }
        if self.total_limit.is_some_and(|l| usage.total >= l) {
            return Err(Rejection::LimitReached);
        }
        if let (Some(limit), Some(used)) = (self.per_customer_limit, usage.by_customer)
            && used >= limit
        {
            return Err(Rejection::CustomerLimitReached);
        }
        Ok(())
    }

    /// The discount on a basket whose whole subtotal is `subtotal` and whose lines in the
    /// coupon's scope add up to `eligible`.
    pub fn discount(
        &self,
        usage: CouponUsage,
        now: DateTime<Utc>,
        subtotal: Money,
        eligible: Money,
    ) -> Result<Money, Rejection> {
        self.check_window_and_limits(usage, now)?;
        let currency = subtotal.currency;
        for m in [self.min_order, self.max_discount].into_iter().flatten() {
            if m.currency != currency {
                return Err(Rejection::CurrencyMismatch);
            }
        }
        if let Some(min) = self.min_order
            && subtotal.amount < min.amount
        {
            return Err(Rejection::BelowMinimum(min));
        }
        if eligible.amount <= 0 {
            return Err(Rejection::NotApplicable);
        }
        let raw = match &self.discount {
            DiscountKind::Percent { basis_points } => {
                mul_div_round(eligible.amount, (*basis_points).clamp(0, 10_000), 10_000)
            }
            DiscountKind::Fixed { amount } => {
                if amount.currency != currency {
                    return Err(Rejection::CurrencyMismatch);
                }
                amount.amount.max(0)
            }
        };
        let capped = self
            .max_discount
            .map_or(raw, |m| raw.min(m.amount))
            .min(eligible.amount);
        Ok(Money::new(capped, currency))
    }

    /// The currency this coupon's fixed amounts are in, if any.
    pub fn currency(&self) -> Option<Currency> {
        match &self.discount {
            DiscountKind::Fixed { amount } => Some(amount.currency),
            DiscountKind::Percent { .. } => self
                .min_order
                .or(self.max_discount)
                .map(|m: Money| m.currency),
        }
    }
}

/// Normalises a code typed by a customer: trimmed, upper case. `None` if it cannot be a code.
pub fn normalize_code(code: &str) -> Option<String> {
    let c = code.trim();
    let ok = !c.is_empty()
        && c.len() <= 40
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| c.to_ascii_uppercase())
}

/// Who a redemption counts against for a coupon's per-customer limit.
///
/// A signed-in customer is counted by their account id, so nobody can use up their
/// allowance by typing their address at a guest checkout. A guest is counted by the e-mail
/// address given, normalised by [`normalize_email_for_limits`]. Once the payment is
/// authorized, every checkout is counted by the card's fingerprint as well ([`card_key`]):
/// new accounts or addresses paying with one card are one customer.
pub fn customer_keys(customer_id: Option<&str>, email: &str) -> Vec<String> {
    match customer_id {
        Some(id) => vec![format!("user:{id}")],
        None => vec![format!("email:{}", normalize_email_for_limits(email))],
    }
}

/// The key of a card, by the fingerprint its provider gives it.
pub fn card_key(fingerprint: &str) -> String {
    format!("card:{fingerprint}")
}

/// The mailbox an address delivers to, as far as per-customer limits are concerned. The rules:
/// the whole address is lower-cased; a `+tag` in the local part is dropped (`ann+1@x.com` is
/// `ann@x.com`); for Gmail (`gmail.com`, `googlemail.com`, which ignore dots and are one
/// domain) dots in the local part are dropped and the domain is `gmail.com`.
pub fn normalize_email_for_limits(email: &str) -> String {
    let email = email.trim().to_lowercase();
    let Some((local, domain)) = email.rsplit_once('@') else {
        return email;
    };
    let local = local.split('+').next().unwrap_or(local);
    match domain {
        "gmail.com" | "googlemail.com" => format!("{}@gmail.com", local.replace('.', "")),
        _ => format!("{local}@{domain}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn usd(a: i64) -> Money {
        Money::new(a, Currency::USD)
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
    }

    fn percent(bp: i64) -> Coupon {
        Coupon {
            code: "TEN".into(),
            description: "10% off".into(),
            discount: DiscountKind::Percent { basis_points: bp },
            min_order: None,
            max_discount: None,
            starts_at: None,
            ends_at: None,
            total_limit: None,
            per_customer_limit: None,
            scope: CouponScope::All,
            active: true,
        }
    }

    #[test]
    fn percent_coupon_takes_its_share_of_eligible_items_rounded() {
        let c = percent(1000);
        let d = c
            .discount(CouponUsage::default(), now(), usd(10_005), usd(10_005))
            .unwrap();
        assert_eq!(d, usd(1001)); // 1000.5 rounds half up
    }

    #[test]
    fn max_discount_caps_a_percent_coupon() {
        let mut c = percent(5000);
        c.max_discount = Some(usd(2_000));
        let d = c
            .discount(CouponUsage::default(), now(), usd(10_000), usd(10_000))
            .unwrap();
        assert_eq!(d, usd(2_000));
    }

    #[test]
    fn fixed_coupon_never_exceeds_the_eligible_amount() {
        let mut c = percent(0);
        c.discount = DiscountKind::Fixed { amount: usd(5_000) };
        let d = c
            .discount(CouponUsage::default(), now(), usd(10_000), usd(3_000))
            .unwrap();
        assert_eq!(d, usd(3_000));
    }

    #[test]
    fn expired_not_started_and_inactive_coupons_are_rejected_with_reasons() {
        let mut c = percent(1000);
        c.ends_at = Some(now());
        let r = c.discount(CouponUsage::default(), now(), usd(100), usd(100));
        assert_eq!(r.unwrap_err().code(), "expired");

        let mut c = percent(1000);
        c.starts_at = Some(now() + chrono::Duration::seconds(1));
        let r = c.discount(CouponUsage::default(), now(), usd(100), usd(100));
        assert_eq!(r.unwrap_err().code(), "not_started");

        let mut c = percent(1000);
        c.active = false;
        let r = c.discount(CouponUsage::default(), now(), usd(100), usd(100));
        assert_eq!(r.unwrap_err().code(), "inactive");
    }

    #[test]
    fn minimum_order_is_checked_against_the_whole_subtotal() {
        let mut c = percent(1000);
        c.min_order = Some(usd(5_000));
        let r = c.discount(CouponUsage::default(), now(), usd(4_999), usd(4_999));
        assert_eq!(r.unwrap_err(), Rejection::BelowMinimum(usd(5_000)));
        assert!(
            c.discount(CouponUsage::default(), now(), usd(5_000), usd(100))
                .is_ok()
        );
    }

    #[test]
    fn limits_count_total_and_per_customer_redemptions() {
        let mut c = percent(1000);
        c.total_limit = Some(3);
        c.per_customer_limit = Some(1);
        let used = |total, by_customer| CouponUsage { total, by_customer };
        assert_eq!(
            c.discount(used(3, None), now(), usd(100), usd(100))
                .unwrap_err()
                .code(),
            "limit_reached"
        );
        assert_eq!(
            c.discount(used(1, Some(1)), now(), usd(100), usd(100))
                .unwrap_err()
                .code(),
            "customer_limit_reached"
        );
        // An unknown customer (guest cart) is not held to the per-customer limit yet.
        assert!(c.discount(used(1, None), now(), usd(100), usd(100)).is_ok());
    }

    #[test]
    fn coupon_without_eligible_items_does_not_apply() {
        let c = percent(1000);
        let r = c.discount(CouponUsage::default(), now(), usd(100), usd(0));
        assert_eq!(r.unwrap_err().code(), "not_applicable");
    }

    #[test]
    fn fixed_coupon_in_another_currency_does_not_apply() {
        let mut c = percent(0);
        c.discount = DiscountKind::Fixed {
            amount: Money::new(500, Currency::EUR),
        };
        let r = c.discount(CouponUsage::default(), now(), usd(1000), usd(1000));
        assert_eq!(r.unwrap_err().code(), "currency_mismatch");
    }

    #[test]
    fn scope_matches_vendor_product_or_any_category() {
        let (v, p, c1, c2) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let cats = [c1];
        let line = EligibilityFacts {
            vendor_id: v,
            product_id: p,
            category_ids: &cats,
        };
        assert!(CouponScope::All.covers(&line));
        assert!(CouponScope::Vendor(vec![v]).covers(&line));
        assert!(!CouponScope::Vendor(vec![p]).covers(&line));
        assert!(CouponScope::Product(vec![p]).covers(&line));
        assert!(CouponScope::Category(vec![c2, c1]).covers(&line));
        assert!(!CouponScope::Category(vec![c2]).covers(&line));
    }

    #[test]
    fn codes_are_normalised_and_checked() {
        assert_eq!(normalize_code(" welcome10 ").as_deref(), Some("WELCOME10"));
        assert_eq!(normalize_code(""), None);
        assert_eq!(normalize_code("no spaces"), None);
    }

    #[test]
    fn per_customer_limits_count_accounts_by_id_and_guests_by_mailbox() {
        assert_eq!(
            customer_keys(Some("u1"), "x+2@example.com"),
            vec!["user:u1".to_string()]
        );
        for (typed, mailbox) in [
            ("X@Example.com", "x@example.com"),
            ("x+1@example.com", "x@example.com"),
            ("x+a+b@example.com", "x@example.com"),
            (" x@example.com ", "x@example.com"),
            ("j.o.e+promo@GoogleMail.com", "joe@gmail.com"),
            ("joe@gmail.com", "joe@gmail.com"),
            // Dots matter elsewhere.
            ("j.o.e@example.com", "j.o.e@example.com"),
        ] {
            assert_eq!(normalize_email_for_limits(typed), mailbox, "{typed}");
            assert_eq!(
                customer_keys(None, typed),
                vec![format!("email:{mailbox}")],
                "{typed}"
            );
        }
        assert_eq!(card_key("fp_1"), "card:fp_1");
    }
}
