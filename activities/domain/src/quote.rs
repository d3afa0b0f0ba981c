//! Basket totals: line totals, coupon discount spread over eligible lines, tax per line,
//! shipping per vendor. Integer arithmetic only; every total is the exact sum of its parts.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::coupon::{Coupon, CouponUsage, EligibilityFacts, Rejection};
use crate::money::{Currency, Money, MoneyError, mul_div_round};
use crate::{Quantity, Sku};

/// One basket line with its current unit price and the catalog facts rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasketLine {
    pub sku: Sku,
    pub quantity: Quantity,
    pub unit_price: Money,
    pub tax_class: String,
    pub vendor_id: Uuid,
    pub product_id: Uuid,
    pub category_ids: Vec<Uuid>,
}

/// Flat shipping per vendor parcel, free when that vendor's part of the basket reaches
/// `free_over`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingRate {
    pub per_vendor: Money,
    pub free_over: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteInput<'a> {
    pub currency: Currency,
    pub lines: &'a [BasketLine],
    /// Tax rates in basis points by tax class for the destination. Missing classes are untaxed.
    pub tax_rates: &'a HashMap<String, i64>,
    pub shipping: ShippingRate,
    /// The coupon asked for: its code, and its rules and usage if it exists.
    pub coupon: Option<(&'a str, Option<(&'a Coupon, CouponUsage)>)>,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotedLine {
    pub sku: Sku,
    pub quantity: Quantity,
    pub unit_price: Money,
    pub line_total: Money,
    pub discount: Money,
    pub tax: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponOutcome {
    pub code: String,
    pub description: String,
    /// `None` when the coupon applies; otherwise why it does not.
    pub rejection: Option<Rejection>,
}

/// The shipping charge of one vendor's parcel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorShipping {
    pub vendor_id: Uuid,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub lines: Vec<QuotedLine>,
    /// Shipping per vendor parcel; adds up to `shipping`.
    pub shipping_by_vendor: Vec<VendorShipping>,
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub shipping: Money,
    pub total: Money,
    pub coupon: Option<CouponOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("line {0} is priced in another currency")]
    CurrencyMismatch(Sku),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// Computes a quote. A coupon that does not apply is reported in `coupon.rejection` and
/// takes nothing off.
pub fn quote(input: &QuoteInput<'_>) -> Result<Quote, QuoteError> {
    let cur = input.currency;
    let zero = Money::zero(cur);
    let mut totals = Vec::with_capacity(input.lines.len());
    let mut subtotal = zero;
    for line in input.lines {
        if line.unit_price.currency != cur {
            return Err(QuoteError::CurrencyMismatch(line.sku.clone()));
        }
        let t = line.unit_price.checked_mul(line.quantity.get())?;
        subtotal = subtotal.checked_add(t)?;
        totals.push(t);
    }

    // Coupon: evaluate, then spread the discount over the eligible lines.
    let mut discounts = vec![0i64; input.lines.len()];
    let mut coupon_outcome = None;
    if let Some((code, found)) = input.coupon {
        let (description, result) = match found {
            None => (String::new(), Err(Rejection::NotFound)),
            Some((coupon, usage)) => {
                let eligible: Vec<bool> = input
                    .lines
                    .iter()
                    .map(|l| {
                        coupon.scope.covers(&EligibilityFacts {
                            vendor_id: l.vendor_id,
                            product_id: l.product_id,
                            category_ids: &l.category_ids,
                        })
                    })
                    .collect();
                let eligible_total: i64 = totals
                    .iter()
                    .zip(&eligible)
                    .filter(|(_, e)| **e)
                    .map(|(t, _)| t.amount)
                    .sum();
                let result = coupon
                    .discount(usage, input.now, subtotal, Money::new(eligible_total, cur))
                    .map(|d| {
                        let weights: Vec<i64> = totals
                            .iter()
                            .zip(&eligible)
                            .map(|(t, e)| if *e { t.amount } else { 0 })
                            .collect();
                        discounts = allocate(d.amount, &weights);
                    });
                (coupon.description.clone(), result)
            }
        };
        coupon_outcome = Some(CouponOutcome {
            code: code.to_string(),
            description,
            rejection: result.err(),
        });
    }

    let mut lines = Vec::with_capacity(input.lines.len());
    let mut discount = zero;
    let mut tax = zero;
    let mut vendor_totals: BTreeMap<Uuid, i64> = BTreeMap::new();
    for ((line, total), line_discount) in input.lines.iter().zip(&totals).zip(&discounts) {
        let rate = input.tax_rates.get(&line.tax_class).copied().unwrap_or(0);
        let taxable = total.amount - line_discount;
        let line_tax = mul_div_round(taxable, rate, 10_000);
        discount = discount.checked_add(Money::new(*line_discount, cur))?;
        tax = tax.checked_add(Money::new(line_tax, cur))?;
        *vendor_totals.entry(line.vendor_id).or_default() += total.amount;
        lines.push(QuotedLine {
            sku: line.sku.clone(),
            quantity: line.quantity,
            unit_price: line.unit_price,
            line_total: *total,
            discount: Money::new(*line_discount, cur),
            tax: Money::new(line_tax, cur),
        });
    }

    let mut shipping = zero;
    let mut shipping_by_vendor = Vec::with_capacity(vendor_totals.len());
    for (vendor_id, vendor_total) in &vendor_totals {
        let free = input
            .shipping
            .free_over
            .is_some_and(|f| *vendor_total >= f.amount);
        let amount = if free {
            zero
        } else {
            Money::new(input.shipping.per_vendor.amount, cur)
        };
        shipping = shipping.checked_add(amount)?;
        shipping_by_vendor.push(VendorShipping {
            vendor_id: *vendor_id,
            amount,
        });
    }

    let total = subtotal
        .checked_sub(discount)?
        .checked_add(tax)?
        .checked_add(shipping)?;
    Ok(Quote {
        lines,
        shipping_by_vendor,
        subtotal,
        discount,
        tax,
        shipping,
        total,
        coupon: coupon_outcome,
    })
}

/// Whether a unit price rose from `was` to `now` (minor units) by more than `tolerance_bp`
/// basis points of `was`. A rise of exactly the tolerance is accepted, one minor unit more is
/// not; a price that fell or stayed never counts. Exact in integers, for any amounts.
pub fn rose_beyond(was: i64, now: i64, tolerance_bp: i64) -> bool {
    i128::from(now) * 10_000 > i128::from(was) * i128::from(10_000 + tolerance_bp)
}

/// Splits `amount` over `weights` in proportion, exactly: the shares add up to `amount`.
/// Remainders go to the largest fractional parts, ties to the earliest line.
pub fn allocate(amount: i64, weights: &[i64]) -> Vec<i64> {
    let total: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    if total == 0 || amount == 0 {
        return vec![0; weights.len()];
    }
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut given: i64 = 0;
    for (i, w) in weights.iter().enumerate() {
        let exact = i128::from(amount) * i128::from((*w).max(0));
        let share = (exact / total) as i64;
        shares.push(share);
        remainders.push((exact % total, i));
        given += share;
    }
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut left = amount - given;
    for (_, i) in remainders {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coupon::{CouponScope, DiscountKind};
    use chrono::TimeZone;

    fn usd(a: i64) -> Money {
        Money::new(a, Currency::USD)
    }

    fn line(sku: &str, qty: i64, price: i64, tax_class: &str, vendor: Uuid) -> BasketLine {
        BasketLine {
            sku: Sku::parse(sku).unwrap(),
            quantity: Quantity::new(qty).unwrap(),
            unit_price: usd(price),
            tax_class: tax_class.into(),
            vendor_id: vendor,
            product_id: Uuid::new_v4(),
            category_ids: vec![],
        }
    }

    fn rates() -> HashMap<String, i64> {
        HashMap::from([("standard".to_string(), 825), ("food".to_string(), 0)])
    }

    fn shipping() -> ShippingRate {
        ShippingRate {
            per_vendor: usd(500),
            free_over: Some(usd(10_000)),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn totals_add_up_with_tax_and_shipping_per_vendor() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let lines = [
            line("A-1", 2, 1_999, "standard", a),
            line("B-1", 1, 12_000, "food", b),
        ];
        let rates = rates();
        let q = quote(&QuoteInput {
            currency: Currency::USD,
            lines: &lines,
            tax_rates: &rates,
            shipping: shipping(),
            coupon: None,
            now: now(),
        })
        .unwrap();
        assert_eq!(q.subtotal, usd(15_998));
        assert_eq!(q.lines[0].tax, usd(330)); // 3998 * 8.25 % = 329.835
        assert_eq!(q.lines[1].tax, usd(0));
        assert_eq!(q.shipping, usd(500), "vendor b ships free over 100.00");
        assert_eq!(q.shipping_by_vendor.len(), 2);
        let a_ship = q
            .shipping_by_vendor
            .iter()
            .find(|s| s.vendor_id == a)
            .unwrap();
        assert_eq!(a_ship.amount, usd(500));
        assert_eq!(q.total, usd(15_998 + 330 + 500));
    }

    #[test]
    fn coupon_discount_is_spread_over_eligible_lines_and_reduces_tax() {
        let v = Uuid::new_v4();
        let lines = [
            line("A-1", 1, 1_000, "standard", v),
            line("A-2", 1, 2_000, "standard", v),
        ];
        let coupon = Coupon {
            code: "TEN".into(),
            description: "10% off".into(),
            discount: DiscountKind::Percent { basis_points: 1000 },
            min_order: None,
            max_discount: None,
            starts_at: None,
            ends_at: None,
            total_limit: None,
            per_customer_limit: None,
            scope: CouponScope::All,
            active: true,
        };
        let rates = rates();
        let q = quote(&QuoteInput {
            currency: Currency::USD,
            lines: &lines,
            tax_rates: &rates,
            shipping: shipping(),
            coupon: Some(("TEN", Some((&coupon, CouponUsage::default())))),
            now: now(),
        })
        .unwrap();
        assert_eq!(q.discount, usd(300));
        assert_eq!(q.lines[0].discount, usd(100));
        assert_eq!(q.lines[1].discount, usd(200));
        assert_eq!(q.lines[0].tax, usd(74)); // 900 * 8.25 % = 74.25
        assert_eq!(q.lines[1].tax, usd(149)); // 1800 * 8.25 % = 148.5
        assert_eq!(q.total, usd(3_000 - 300 + 74 + 149 + 500));
        assert_eq!(q.coupon.unwrap().rejection, None);
    }

    #[test]
    fn unknown_coupon_is_reported_and_takes_nothing_off() {
        let lines = [line("A-1", 1, 1_000, "standard", Uuid::new_v4())];
        let rates = rates();
        let q = quote(&QuoteInput {
            currency: Currency::USD,
            lines: &lines,
            tax_rates: &rates,
            shipping: shipping(),
            coupon: Some(("NOPE", None)),
            now: now(),
        })
        .unwrap();
        assert_eq!(q.discount, usd(0));
        assert_eq!(q.coupon.unwrap().rejection, Some(Rejection::NotFound));
    }

    #[test]
    fn empty_basket_costs_nothing() {
        let rates = rates();
        let q = quote(&QuoteInput {
            currency: Currency::USD,
            lines: &[],
            tax_rates: &rates,
            shipping: shipping(),
            coupon: None,
            now: now(),
        })
        .unwrap();
        assert_eq!(q.total, usd(0));
        assert_eq!(q.shipping, usd(0));
    }

    #[test]
    fn allocation_is_exact_and_proportional() {
        assert_eq!(allocate(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(allocate(10, &[0, 5, 5]), vec![0, 5, 5]);
        assert_eq!(allocate(7, &[0, 0]), vec![0, 0]);
        let shares = allocate(999, &[333, 1, 77, 5000]);
        assert_eq!(shares.iter().sum::<i64>(), 999);
    }

    #[test]
    fn a_price_may_rise_up_to_the_tolerance_and_not_one_minor_unit_more() {
        // 2% of 2,500 is 50.
        assert!(!rose_beyond(2_500, 2_550, 200));
        assert!(rose_beyond(2_500, 2_551, 200));
        // Falls and no change never count; with no tolerance any rise does.
        assert!(!rose_beyond(2_500, 1, 200));
        assert!(!rose_beyond(2_500, 2_500, 0));
        assert!(rose_beyond(2_500, 2_501, 0));
        // A tolerance that is not a whole number of minor units rounds in the customer's
        // favour: 2% of 1,999 is 39.98, so 2,038 is within and 2,039 is not.
        assert!(!rose_beyond(1_999, 2_038, 200));
        assert!(rose_beyond(1_999, 2_039, 200));
        // No overflow at the ends of the range.
        assert!(!rose_beyond(i64::MAX, i64::MAX, 0));
        assert!(rose_beyond(i64::MAX - 1, i64::MAX, 0));
    }

    #[test]
    fn the_highest_accepted_price_is_the_floor_of_the_tolerance_for_every_price() {
        for tolerance in [0, 1, 50, 200, 999, 10_000] {
            for was in 1..=5_000i64 {
                let highest = was + was * tolerance / 10_000;
                assert!(!rose_beyond(was, highest, tolerance), "{was} {tolerance}");
                assert!(
                    rose_beyond(was, highest + 1, tolerance),
                    "{was} {tolerance}"
                );
            }
        }
    }
}
