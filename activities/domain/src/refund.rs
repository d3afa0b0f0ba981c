//! What a line of an order is worth when some of its units are given back: the one rule every
//! refund of order lines goes by (a vendor cancelling units it cannot ship now; returns later).
//!
//! A line paid `unit_price × quantity − discount + tax + shipping`, where `discount` and `tax`
//! are the shares of the order's discount and tax the line was given at checkout and
//! `shipping` its share of its sub-order's shipping ([`shipping_shares`], by line value). The
//! first `k` units of a line are worth `unit_price × k` and `k / quantity` of each share,
//! rounded down, except that all `quantity` units are worth all of it. A refund of `q` more
//! units after `already` is the difference between the worth of `already + q` and of
//! `already` units: so refunds of a line, in any steps, never exceed what it paid, and giving
//! back every unit of every line refunds exactly what the order paid, to the minor unit.

use crate::quote::allocate;

/// What one order line paid, in minor units of the order's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinePaid {
    pub unit_price: i64,
    pub quantity: i64,
    /// Its share of the order's discount.
    pub discount: i64,
    /// Its share of the order's tax.
    pub tax: i64,
    /// Its share of its sub-order's shipping.
    pub shipping: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    #[error("{asked} more units of a line of {quantity} with {already} given back already")]
    TooMany {
        asked: i64,
        already: i64,
        quantity: i64,
    },
    #[error("a line's amounts do not add up: {0:?}")]
    Inconsistent(LinePaid),
}

impl LinePaid {
    /// What the whole line paid.
    pub fn paid(&self) -> i64 {
        self.unit_price * self.quantity - self.discount + self.tax + self.shipping
    }

    fn check(&self) -> Result<(), RefundError> {
        let sane = self.quantity > 0
            && self.unit_price >= 0
            && self.tax >= 0
            && self.shipping >= 0
            && (0..=self.unit_price.saturating_mul(self.quantity)).contains(&self.discount);
        if sane {
            Ok(())
        } else {
            Err(RefundError::Inconsistent(*self))
        }
    }

    /// What the first `k` units are worth (`0 ≤ k ≤ quantity`).
    fn worth(&self, k: i64) -> i64 {
        let share = |x: i64| (i128::from(x) * i128::from(k) / i128::from(self.quantity)) as i64;
        self.unit_price * k - share(self.discount) + share(self.tax) + share(self.shipping)
    }

    /// The refund of `q` more units after `already` were given back.
    pub fn refund(&self, already: i64, q: i64) -> Result<i64, RefundError> {
        self.check()?;
        if q <= 0 || already < 0 || already + q > self.quantity {
            return Err(RefundError::TooMany {
                asked: q,
                already,
                quantity: self.quantity,
            });
        }
        Ok(self.worth(already + q) - self.worth(already))
    }
}

/// A sub-order's `shipping` spread over its lines by their value (`unit_price × quantity`),
/// exactly: the shares add up to `shipping`.
pub fn shipping_shares(shipping: i64, line_values: &[i64]) -> Vec<i64> {
    allocate(shipping, line_values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(unit_price: i64, quantity: i64, discount: i64, tax: i64, shipping: i64) -> LinePaid {
        LinePaid {
            unit_price,
            quantity,
            discount,
            tax,
            shipping,
        }
    }

    #[test]
    fn a_line_given_back_unit_by_unit_refunds_what_it_paid() {
        // 3 × 10.00, 5.00 off, 2.51 tax, 1.99 shipping: paid 29.50.
        let l = line(1_000, 3, 500, 251, 199);
        assert_eq!(l.paid(), 2_950);
        let steps: Vec<i64> = (0..3).map(|k| l.refund(k, 1).unwrap()).collect();
        assert_eq!(steps, [983, 983, 984]);
        assert_eq!(steps.iter().sum::<i64>(), l.paid());
        assert_eq!(l.refund(0, 3), Ok(l.paid()));
        assert_eq!(l.refund(1, 2), Ok(983 + 984));
    }

    #[test]
    fn more_than_is_left_or_a_line_that_does_not_add_up_is_refused() {
        let l = line(1_000, 2, 0, 0, 0);
        assert!(matches!(l.refund(1, 2), Err(RefundError::TooMany { .. })));
        assert!(matches!(l.refund(0, 0), Err(RefundError::TooMany { .. })));
        assert!(matches!(
            line(1_000, 2, 2_001, 0, 0).refund(0, 1),
            Err(RefundError::Inconsistent(_))
        ));
        assert!(matches!(
            line(1_000, 0, 0, 0, 0).refund(0, 1),
            Err(RefundError::Inconsistent(_))
        ));
    }

    #[test]
    fn shipping_is_spread_by_value_and_adds_up() {
        assert_eq!(shipping_shares(599, &[2_000, 1_000]), [399, 200]);
        assert_eq!(shipping_shares(0, &[2_000, 1_000]), [0, 0]);
    }

    /// An order: lines (unit price, quantity) with the order's discount and tax and each
    /// sub-order's shipping spread the way checkout spreads them.
    fn order() -> impl Strategy<Value = Vec<LinePaid>> {
        (
            prop::collection::vec((1i64..50_000, 1i64..6), 1..6),
            0u32..=100,
            0u32..=30,
            0i64..3_000,
        )
            .prop_map(|(lines, discount_pct, tax_pct, shipping)| {
                let values: Vec<i64> = lines.iter().map(|(p, q)| p * q).collect();
                let subtotal: i64 = values.iter().sum();
                let discount = subtotal * i64::from(discount_pct) / 100;
                let discounts = allocate(discount, &values);
                let taxed: Vec<i64> = values.iter().zip(&discounts).map(|(v, d)| v - d).collect();
                let tax = (subtotal - discount) * i64::from(tax_pct) / 100;
                let taxes = allocate(tax, &taxed);
                let shippings = shipping_shares(shipping, &values);
                lines
                    .iter()
                    .enumerate()
                    .map(|(i, (p, q))| line(*p, *q, discounts[i], taxes[i], shippings[i]))
                    .collect()
            })
    }

    proptest! {
        /// Any sequence of partial refunds: never more than a line paid, never more than the
        /// order paid, each refund at least zero; all of it back is exactly what was paid.
        #[test]
        fn refunds_never_exceed_what_was_paid_and_all_of_it_back_is_exact(
            lines in order(),
            steps in prop::collection::vec((0usize..6, 1i64..4), 0..20),
        ) {
            let captured: i64 = lines.iter().map(LinePaid::paid).sum();
            let mut back = vec![0i64; lines.len()];
            let mut refunded = vec![0i64; lines.len()];
            for (i, q) in steps {
                let i = i % lines.len();
                let q = q.min(lines[i].quantity - back[i]);
                if q == 0 {
                    continue;
                }
                let r = lines[i].refund(back[i], q).unwrap();
                prop_assert!(r >= 0);
                back[i] += q;
                refunded[i] += r;
                prop_assert!(refunded[i] <= lines[i].paid());
                prop_assert!(refunded.iter().sum::<i64>() <= captured);
            }
            // Give back what is left.
            for (i, l) in lines.iter().enumerate() {
                if back[i] < l.quantity {
                    refunded[i] += l.refund(back[i], l.quantity - back[i]).unwrap();
                }
                prop_assert_eq!(refunded[i], l.paid());
            }
            prop_assert_eq!(refunded.iter().sum::<i64>(), captured);
        }
    }
}
