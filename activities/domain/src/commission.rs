//! What the marketplace keeps of a line it sold for a vendor: the commission rule that applies
//! to it, what that rule takes, and how much of it a refund gives back.
//!
//! A rule takes basis points of the line's goods (`unit_price × quantity − discount`: tax is
//! owed to the tax authority and shipping pays the carrier, so neither is commissioned) plus an
//! optional fixed amount per line. The percentage is rounded half away from zero to the minor
//! unit; the commission is never more than the goods, so a vendor never owes on a sale.
//!
//! Rules are the marketplace's default, a vendor's own, and either of them for one category;
//! each takes effect from a moment, so a change never rewrites what was sold before it
//! ([`applicable`]). The commission of a line is computed once, when it is captured, and kept
//! with the rule it came from.
//!
//! A refund gives back the commission in proportion to what it refunds of the line, counted
//! over everything refunded so far ([`given_back`]): refunds in any steps give back no more
//! than the commission, and refunding all the line paid gives back all of it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::money::{Money, mul_div_round};
use crate::refund::{LinePaid, WHOLE_BPS};

/// The highest percentage a rule may take: half of a sale.
pub const MAX_COMMISSION_BPS: u32 = 5_000;

/// A commission rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommissionRule {
    pub id: Uuid,
    /// `None`: the marketplace's, for every vendor without its own.
    pub vendor_id: Option<Uuid>,
    /// `None`: every category without its own rule.
    pub category: Option<String>,
    pub effective_from: DateTime<Utc>,
    /// Basis points of the line's goods.
    pub bps: u32,
    /// Taken once per line, in its currency.
    pub fixed: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommissionError {
    #[error("{0} basis points is more than a rule may take ({MAX_COMMISSION_BPS})")]
    TooHigh(u32),
    #[error("a fixed commission cannot be negative")]
    NegativeFixed,
    #[error("the rule's fixed amount is in {rule}, the line in {line}")]
    CurrencyMismatch {
        rule: crate::Currency,
        line: crate::Currency,
    },
    #[error("a line's amounts do not add up: {0:?}")]
    Inconsistent(LinePaid),
}

impl CommissionRule {
    /// Why the rule cannot be kept, if it cannot.
    pub fn check(&self) -> Result<(), CommissionError> {
        if self.bps > MAX_COMMISSION_BPS {
            return Err(CommissionError::TooHigh(self.bps));
        }
        if self.fixed.is_some_and(|f| f.amount < 0) {
            return Err(CommissionError::NegativeFixed);
        }
        Ok(())
    }

    /// The commission of a line that `paid`, in `currency`.
    pub fn commission(
        &self,
        paid: &LinePaid,
        currency: crate::Currency,
    ) -> Result<i64, CommissionError> {
        self.check()?;
        let goods = paid
            .unit_price
            .checked_mul(paid.quantity)
            .filter(|_| paid.is_consistent())
            .ok_or(CommissionError::Inconsistent(*paid))?
            - paid.discount;
        let fixed = match self.fixed {
            None => 0,
            Some(f) if f.currency == currency => f.amount,
            Some(f) => {
                return Err(CommissionError::CurrencyMismatch {
                    rule: f.currency,
                    line: currency,
                });
            }
        };
        let percent = mul_div_round(goods, i64::from(self.bps), i64::from(WHOLE_BPS));
        Ok(percent.saturating_add(fixed).min(goods))
    }
}

/// The rule for a line of `vendor` sold `at` whose product is filed in `categories` (its
/// categories and their ancestors): of the rules in effect then, the most specific (the
/// vendor's for one of the categories, the vendor's, the marketplace's for one of the
/// categories, the marketplace's), and of those the latest to take effect. A rule of another
/// vendor or category never applies; `None` when no rule does.
pub fn applicable<'a, C: AsRef<str>>(
    rules: &'a [CommissionRule],
    vendor: Uuid,
    categories: &[C],
    at: DateTime<Utc>,
) -> Option<&'a CommissionRule> {
    rules
        .iter()
        .filter(|r| r.effective_from <= at)
        .filter(|r| r.vendor_id.is_none_or(|v| v == vendor))
        .filter(|r| {
            r.category
                .as_deref()
                .is_none_or(|c| categories.iter().any(|l| l.as_ref() == c))
        })
        .max_by_key(|r| {
            (
                r.vendor_id.is_some(),
                r.category.is_some(),
                r.effective_from,
            )
        })
}

/// The commission a refund of `now` gives back, after `before` was refunded of a line that
/// paid `paid` and gave `commission`: `commission × refunded / paid` over all refunded so
/// far, rounded down, less what earlier refunds gave back. Never negative, never more than
/// is left of the commission; all of it once all the line paid is refunded.
pub fn given_back(commission: i64, paid: i64, before: i64, now: i64) -> i64 {
    if paid <= 0 || commission <= 0 {
        return 0;
    }
    let share = |refunded: i64| -> i64 {
        let r = i128::from(refunded.clamp(0, paid));
        (i128::from(commission) * r / i128::from(paid)) as i64
    };
    share(before.saturating_add(now.max(0))) - share(before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Currency;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn line(unit_price: i64, quantity: i64, discount: i64) -> LinePaid {
        LinePaid {
            unit_price,
            quantity,
            discount,
            tax: 99,
            shipping: 499,
        }
    }

    fn rule(vendor: Option<Uuid>, category: Option<&str>, day: u32, bps: u32) -> CommissionRule {
        CommissionRule {
            id: Uuid::from_u128(u128::from(day) * 1_000 + u128::from(bps)),
            vendor_id: vendor,
            category: category.map(str::to_string),
            effective_from: Utc.with_ymd_and_hms(2026, 1, day, 0, 0, 0).unwrap(),
            bps,
            fixed: None,
        }
    }

    #[test]
    fn percent_of_the_goods_rounded_half_up_plus_the_fixed_part() {
        // 3 × 10.00 less 5.00: goods 25.00; tax and shipping are not commissioned.
        let mut r = rule(None, None, 1, 1_250);
        assert_eq!(r.commission(&line(1_000, 3, 500), Currency::USD), Ok(313));
        // 12.5% of 0.04 is 0.005: half a cent rounds up.
        assert_eq!(r.commission(&line(4, 1, 0), Currency::USD), Ok(1));
        assert_eq!(r.commission(&line(3, 1, 0), Currency::USD), Ok(0));
        r.fixed = Some(Money::new(30, Currency::USD));
        assert_eq!(r.commission(&line(1_000, 3, 500), Currency::USD), Ok(343));
        // Never more than the goods.
        assert_eq!(r.commission(&line(20, 1, 0), Currency::USD), Ok(20));
        assert_eq!(r.commission(&line(20, 1, 20), Currency::USD), Ok(0));
    }

    #[test]
    fn a_rule_that_cannot_apply_is_refused_not_guessed() {
        let mut r = rule(None, None, 1, 1_000);
        r.fixed = Some(Money::new(30, Currency::EUR));
        assert!(matches!(
            r.commission(&line(1_000, 1, 0), Currency::USD),
            Err(CommissionError::CurrencyMismatch { .. })
        ));
        let r = rule(None, None, 1, MAX_COMMISSION_BPS + 1);
        assert_eq!(
            r.check(),
            Err(CommissionError::TooHigh(MAX_COMMISSION_BPS + 1))
        );
        let r = rule(None, None, 1, 1_000);
        assert!(matches!(
            r.commission(&line(1_000, 1, 1_001), Currency::USD),
            Err(CommissionError::Inconsistent(_))
        ));
    }

    #[test]
    fn the_most_specific_rule_in_effect_applies() {
        let (v, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let rules = [
            rule(None, None, 1, 1_000),
            rule(None, None, 10, 1_100),
            rule(None, Some("books"), 1, 500),
            rule(Some(v), None, 5, 800),
            rule(Some(v), Some("books"), 20, 300),
            rule(Some(other), None, 1, 50),
        ];
        let at = |day| Utc.with_ymd_and_hms(2026, 1, day, 12, 0, 0).unwrap();
        let bps = |vendor, category: Option<&str>, day| {
            let categories: Vec<&str> = category.into_iter().collect();
            applicable(&rules, vendor, &categories, at(day)).map(|r| r.bps)
        };
        assert_eq!(bps(Uuid::from_u128(3), None, 2), Some(1_000));
        // A later marketplace rule takes over from the day it takes effect, not before.
        assert_eq!(bps(Uuid::from_u128(3), None, 9), Some(1_000));
        assert_eq!(bps(Uuid::from_u128(3), None, 11), Some(1_100));
        assert_eq!(bps(Uuid::from_u128(3), Some("books"), 11), Some(500));
        assert_eq!(bps(v, None, 4), Some(1_000));
        assert_eq!(bps(v, Some("toys"), 6), Some(800));
        // The vendor's own rule beats the marketplace's for the category.
        assert_eq!(bps(v, Some("books"), 6), Some(800));
        assert_eq!(bps(v, Some("books"), 21), Some(300));
        assert_eq!(bps(other, Some("books"), 2), Some(50));
        // A product in a subcategory of books is in books too.
        assert_eq!(
            applicable(&rules, v, &["fiction", "books"], at(21)).map(|r| r.bps),
            Some(300)
        );
        let none: [CommissionRule; 0] = [];
        assert_eq!(applicable::<&str>(&none, v, &[], at(2)), None);
    }

    #[test]
    fn a_full_refund_gives_back_the_whole_commission() {
        assert_eq!(given_back(313, 2_950, 0, 2_950), 313);
        // Three refunds of one unit each: 104 + 104 + 105.
        let steps = [
            given_back(313, 2_950, 0, 983),
            given_back(313, 2_950, 983, 983),
            given_back(313, 2_950, 1_966, 984),
        ];
        assert_eq!(steps, [104, 104, 105]);
        assert_eq!(given_back(0, 2_950, 0, 2_950), 0);
        assert_eq!(given_back(313, 0, 0, 10), 0);
    }

    proptest! {
        /// Refunds of a line in any steps give back no more than its commission, each step
        /// something not negative, and all of it once all it paid is refunded.
        #[test]
        fn refunds_never_give_back_more_than_the_commission(
            unit in 0i64..100_000,
            quantity in 1i64..20,
            discount_share in 0u32..=10_000,
            bps in 0u32..=MAX_COMMISSION_BPS,
            fixed in 0i64..500,
            steps in proptest::collection::vec(1u32..=10_000, 1..8),
        ) {
            let goods = unit * quantity;
            let discount = mul_div_round(goods, i64::from(discount_share), 10_000);
            let paid = line(unit, quantity, discount);
            let mut r = rule(None, None, 1, bps);
            r.fixed = Some(Money::new(fixed, Currency::USD));
            let commission = r.commission(&paid, Currency::USD).unwrap();
            prop_assert!((0..=goods - discount).contains(&commission));
            let total = paid.paid();
            let (mut refunded, mut back) = (0i64, 0i64);
            for s in steps {
                let now = mul_div_round(total - refunded, i64::from(s), 10_000);
                let step = given_back(commission, total, refunded, now);
                prop_assert!(step >= 0);
                refunded += now;
                back += step;
                prop_assert!(back <= commission);
            }
            back += given_back(commission, total, refunded, total - refunded);
            prop_assert_eq!(back, commission);
        }
    }
}
