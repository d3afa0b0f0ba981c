//! What a line of an order is worth when some of its units are given back: the one rule every
//! refund of order lines goes by (a vendor cancelling units it cannot ship, a return, staff
//! refunding units as a goodwill gesture), and how an amount refunded without units (goodwill)
//! is spread over lines.
//!
//! A line paid `unit_price × quantity − discount + tax + shipping`, where `discount` and `tax`
//! are the shares of the order's discount and tax the line was given at checkout and
//! `shipping` its share of its sub-order's shipping ([`shipping_shares`], by line value). The
//! first `k` units of a line are worth `unit_price × k` and `k / quantity` of each share,
//! rounded down, except that all `quantity` units are worth all of it. A refund of `q` more
//! units after `already` is the difference between the worth of `already + q` and of
//! `already` units: so refunds of a line, in any steps, never exceed what it paid, and giving
//! back every unit of every line refunds exactly what the order paid, to the minor unit.
//!
//! Money refunded without units ([`spread`]) comes out of what the lines have left, each no
//! more than it has left; a later refund of units is capped by what its line has left, so a
//! line never refunds more than it paid, and giving back every unit still ends exactly at what
//! it paid.
//!
//! A fee kept from a refund (a restocking fee, [`less_fee`]) leaves that much of the line
//! unrefunded: it stays in what the line has left, so staff can still give it back.

use crate::quote::allocate;

/// Basis points in a whole.
pub const WHOLE_BPS: u32 = 10_000;

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
    #[error("{asked} cannot be refunded: {left} is left to refund")]
    MoreThanLeft { asked: i64, left: i64 },
}

/// What a line has given back so far: units, and money (for those units and without units).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineRefunds {
    pub units: i64,
    pub amount: i64,
}

impl LinePaid {
    /// What the whole line paid.
    pub fn paid(&self) -> i64 {
        self.unit_price * self.quantity - self.discount + self.tax + self.shipping
    }

    /// Whether its amounts can be what a line paid: units, nothing negative, a discount no
    /// more than the goods.
    pub fn is_consistent(&self) -> bool {
        self.quantity > 0
            && self.unit_price >= 0
            && self.tax >= 0
            && self.shipping >= 0
            && (0..=self.unit_price.saturating_mul(self.quantity)).contains(&self.discount)
    }

    fn check(&self) -> Result<(), RefundError> {
        if self.is_consistent() {
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

    /// What is left to refund of the line after `done`.
    pub fn left(&self, done: LineRefunds) -> i64 {
        (self.paid() - done.amount).max(0)
    }

    /// The refund of `q` more units after `done`: what they are worth, no more than the line
    /// has left.
    pub fn refund(&self, done: LineRefunds, q: i64) -> Result<i64, RefundError> {
        self.check()?;
        let already = done.units;
        if q <= 0 || already < 0 || already + q > self.quantity {
            return Err(RefundError::TooMany {
                asked: q,
                already,
                quantity: self.quantity,
            });
        }
        Ok((self.worth(already + q) - self.worth(already)).min(self.left(done)))
    }
}

/// `amount` refunded without units spread over lines in proportion to what each has `left`,
/// exactly (the shares add up to `amount`) and none more than its line has left. More than
/// they have left together, or nothing, is refused.
pub fn spread(amount: i64, left: &[i64]) -> Result<Vec<i64>, RefundError> {
    let total: i64 = left.iter().map(|l| (*l).max(0)).sum();
    if amount <= 0 || amount > total {
        return Err(RefundError::MoreThanLeft {
            asked: amount,
            left: total,
        });
    }
    let weights: Vec<i64> = left.iter().map(|l| (*l).max(0)).collect();
    Ok(allocate(amount, &weights))
}

/// A refund worth `worth` less a fee of `bps` basis points of it (at most [`WHOLE_BPS`]):
/// the fee is rounded down, and the refund and the fee add up to `worth`.
pub fn less_fee(worth: i64, bps: u32) -> Deducted {
    let bps = i128::from(bps.min(WHOLE_BPS));
    let fee = (i128::from(worth.max(0)) * bps / i128::from(WHOLE_BPS)) as i64;
    Deducted {
        refund: worth - fee,
        fee,
    }
}

/// What is paid back of a refund and what is kept of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deducted {
    pub refund: i64,
    pub fee: i64,
}

/// A return's postage the customer pays, `kept` from refunds worth `worths`: spread over them
/// by what each is worth, exactly, and never more than they are worth together (a parcel
/// dearer than its refund keeps all of the refund, no more). Each refund's share; they add up
/// to `kept` capped at the refunds' sum.
pub fn postage_kept(kept: i64, worths: &[i64]) -> Vec<i64> {
    let total: i64 = worths.iter().map(|w| (*w).max(0)).sum();
    allocate(kept.clamp(0, total), worths)
}

/// A sub-order's `shipping` spread over its lines by their value (`unit_price × quantity`),
/// exactly: the shares add up to `shipping`.
pub fn shipping_shares(shipping: i64, line_values: &[i64]) -> Vec<i64> {
    allocate(shipping, line_values)
}

/// Each line's share of its sub-order's shipping, in the order the lines are given: each
/// vendor's `shipping` spread over its lines taken in SKU order ([`shipping_shares`]), so
/// every reader of an order (its refunds, the ledger) gives a line the same share. A line is
/// `(vendor, sku, value)`.
pub fn shipping_by_line<V: Ord + Copy, S: Ord>(
    lines: &[(V, S, i64)],
    shipping: impl Fn(V) -> i64,
) -> Vec<i64> {
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by(|a, b| {
        let (a, b) = (&lines[*a], &lines[*b]);
        (a.0, &a.1).cmp(&(b.0, &b.1))
    });
    let mut shares = vec![0; lines.len()];
    for group in order.chunk_by(|a, b| lines[*a].0 == lines[*b].0) {
        let values: Vec<i64> = group.iter().map(|i| lines[*i].2).collect();
        let spread = shipping_shares(shipping(lines[group[0]].0), &values);
        for (i, share) in group.iter().zip(spread) {
            shares[*i] = share;
        }
    }
    shares
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
    fn each_vendors_shipping_is_spread_over_its_lines_in_sku_order() {
        let lines = [(2, "B", 100), (1, "Z", 100), (2, "A", 200), (1, "M", 100)];
        let shares = shipping_by_line(&lines, |v| if v == 1 { 101 } else { 10 });
        // Vendor 1: M then Z share 101 (51, 50); vendor 2: A then B share 10 by value.
        assert_eq!(shares, vec![3, 50, 7, 51]);
        assert_eq!(shares.iter().sum::<i64>(), 111);
        let none: [(u8, &str, i64); 0] = [];
        assert!(shipping_by_line(&none, |_| 5).is_empty());
    }

    #[test]
    fn a_line_given_back_unit_by_unit_refunds_what_it_paid() {
        // 3 × 10.00, 5.00 off, 2.51 tax, 1.99 shipping: paid 29.50.
        let l = line(1_000, 3, 500, 251, 199);
        assert_eq!(l.paid(), 2_950);
        let steps: Vec<i64> = (0..3)
            .map(|k| l.refund(done(k, 983 * k), 1).unwrap())
            .collect();
        assert_eq!(steps, [983, 983, 984]);
        assert_eq!(steps.iter().sum::<i64>(), l.paid());
        assert_eq!(l.refund(done(0, 0), 3), Ok(l.paid()));
        assert_eq!(l.refund(done(1, 983), 2), Ok(983 + 984));
    }

    fn done(units: i64, amount: i64) -> LineRefunds {
        LineRefunds { units, amount }
    }

    #[test]
    fn money_refunded_without_units_caps_what_units_refund_later() {
        let l = line(1_000, 2, 0, 0, 0);
        // 15.00 of the 20.00 refunded as goodwill: one unit is worth 10.00, 5.00 is left.
        assert_eq!(l.refund(done(0, 1_500), 1), Ok(500));
        assert_eq!(l.refund(done(1, 2_000), 1), Ok(0));
        assert_eq!(l.left(done(1, 2_000)), 0);
    }

    #[test]
    fn an_amount_is_spread_by_what_is_left_and_never_beyond_it() {
        assert_eq!(spread(1_000, &[3_000, 1_000]), Ok(vec![750, 250]));
        assert_eq!(spread(4_000, &[3_000, 1_000]), Ok(vec![3_000, 1_000]));
        assert_eq!(spread(1, &[0, 5]), Ok(vec![0, 1]));
        assert_eq!(
            spread(4_001, &[3_000, 1_000]),
            Err(RefundError::MoreThanLeft {
                asked: 4_001,
                left: 4_000
            })
        );
        assert!(spread(0, &[3_000]).is_err());
        assert!(spread(1, &[]).is_err());
    }

    #[test]
    fn more_than_is_left_or_a_line_that_does_not_add_up_is_refused() {
        let l = line(1_000, 2, 0, 0, 0);
        assert!(matches!(
            l.refund(done(1, 1_000), 2),
            Err(RefundError::TooMany { .. })
        ));
        assert!(matches!(
            l.refund(done(0, 0), 0),
            Err(RefundError::TooMany { .. })
        ));
        assert!(matches!(
            line(1_000, 2, 2_001, 0, 0).refund(done(0, 0), 1),
            Err(RefundError::Inconsistent(_))
        ));
        assert!(matches!(
            line(1_000, 0, 0, 0, 0).refund(done(0, 0), 1),
            Err(RefundError::Inconsistent(_))
        ));
    }

    #[test]
    fn a_fee_is_rounded_down_and_with_the_refund_makes_the_whole() {
        assert_eq!(
            less_fee(9_999, 1_000),
            Deducted {
                refund: 9_000,
                fee: 999
            }
        );
        assert_eq!(less_fee(5, 1_500), Deducted { refund: 5, fee: 0 });
        assert_eq!(
            less_fee(1_234, 0),
            Deducted {
                refund: 1_234,
                fee: 0
            }
        );
        // Never more than the whole.
        assert_eq!(
            less_fee(1_234, 20_000),
            Deducted {
                refund: 0,
                fee: 1_234
            }
        );
        assert_eq!(less_fee(0, 1_000), Deducted { refund: 0, fee: 0 });
    }

    #[test]
    fn postage_is_kept_by_what_each_refund_is_worth_and_never_beyond_them() {
        assert_eq!(postage_kept(600, &[3_000, 1_000]), [450, 150]);
        assert_eq!(
            postage_kept(5, &[1, 1, 1]),
            [1, 1, 1],
            "at most the refunds"
        );
        assert_eq!(postage_kept(2, &[1, 1, 1]), [1, 1, 0]);
        assert_eq!(postage_kept(0, &[1_000]), [0]);
        assert_eq!(postage_kept(-5, &[1_000]), [0]);
        assert_eq!(postage_kept(500, &[0, 0]), [0, 0]);
        assert_eq!(postage_kept(500, &[]), Vec::<i64>::new());
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

    /// One refund of an order: units of a line (a vendor's cancellation, a return, staff
    /// refunding units; a return may keep a restocking fee), or money without units spread
    /// over some lines (goodwill).
    #[derive(Debug, Clone)]
    enum Step {
        Units {
            line: usize,
            quantity: i64,
            fee_bps: u32,
            /// The customer's return postage kept from it.
            postage: i64,
        },
        Goodwill {
            lines: Vec<usize>,
            per_mille: i64,
        },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (
                0usize..6,
                1i64..4,
                prop_oneof![2 => Just(0u32), 1 => 0u32..=WHOLE_BPS],
                prop_oneof![2 => Just(0i64), 1 => 0i64..20_000],
            )
                .prop_map(|(line, quantity, fee_bps, postage)| Step::Units {
                    line,
                    quantity,
                    fee_bps,
                    postage,
                }),
            1 => (prop::collection::vec(0usize..6, 0..4), 1i64..=1_000)
                .prop_map(|(lines, per_mille)| Step::Goodwill { lines, per_mille }),
        ]
    }

    proptest! {
        /// Any sequence of refunds of units and of money: each at least zero, never more than
        /// a line paid, never more than the order paid; all of it back is exactly what was
        /// paid, less the fees and postage kept (which are left to refund).
        #[test]
        fn refunds_never_exceed_what_was_paid_and_all_of_it_back_is_exact(
            lines in order(),
            steps in prop::collection::vec(step(), 0..20),
        ) {
            let captured: i64 = lines.iter().map(LinePaid::paid).sum();
            let mut done = vec![LineRefunds::default(); lines.len()];
            let mut kept = vec![0i64; lines.len()];
            for s in steps {
                match s {
                    Step::Units { line, quantity, fee_bps, postage } => {
                        let i = line % lines.len();
                        let q = quantity.min(lines[i].quantity - done[i].units);
                        if q == 0 {
                            continue;
                        }
                        let worth = lines[i].refund(done[i], q).unwrap();
                        prop_assert!(worth >= 0);
                        let r = less_fee(worth, fee_bps);
                        prop_assert!(r.refund >= 0 && r.fee >= 0);
                        prop_assert_eq!(r.refund + r.fee, worth);
                        let [p] = postage_kept(postage, &[r.refund])[..] else {
                            unreachable!("one refund, one share");
                        };
                        prop_assert!((0..=r.refund).contains(&p));
                        prop_assert_eq!(p, postage.min(r.refund));
                        done[i].units += q;
                        done[i].amount += r.refund - p;
                        kept[i] += r.fee + p;
                    }
                    Step::Goodwill { lines: named, per_mille } => {
                        // The named lines (all of them if none are named), each once.
                        let mut at: Vec<usize> = named.iter().map(|n| n % lines.len()).collect();
                        at.sort_unstable();
                        at.dedup();
                        if at.is_empty() {
                            at = (0..lines.len()).collect();
                        }
                        let left: Vec<i64> = at.iter().map(|i| lines[*i].left(done[*i])).collect();
                        let total: i64 = left.iter().sum();
                        // Up to a tenth more than is left: beyond it is refused.
                        let amount = total * per_mille / 900;
                        match spread(amount, &left) {
                            Ok(shares) => {
                                prop_assert!(amount > 0 && amount <= total);
                                prop_assert_eq!(shares.iter().sum::<i64>(), amount);
                                for (k, i) in at.iter().enumerate() {
                                    prop_assert!((0..=left[k]).contains(&shares[k]));
                                    done[*i].amount += shares[k];
                                }
                            }
                            Err(_) => prop_assert!(amount <= 0 || amount > total),
                        }
                    }
                }
                for (i, l) in lines.iter().enumerate() {
                    prop_assert!(done[i].amount <= l.paid());
                }
                prop_assert!(done.iter().map(|d| d.amount).sum::<i64>() <= captured);
            }
            // Give back what is left.
            for (i, l) in lines.iter().enumerate() {
                if done[i].units < l.quantity {
                    done[i].amount += l.refund(done[i], l.quantity - done[i].units).unwrap();
                }
                prop_assert!(done[i].amount <= l.paid());
                // Short of what it paid by at most the fees and postage it kept, and those are
                // left.
                prop_assert!(done[i].amount + kept[i] >= l.paid());
                prop_assert_eq!(l.left(done[i]), l.paid() - done[i].amount);
                if kept[i] == 0 {
                    prop_assert_eq!(done[i].amount, l.paid());
                }
            }
            if kept.iter().all(|k| *k == 0) {
                prop_assert_eq!(done.iter().map(|d| d.amount).sum::<i64>(), captured);
            }
        }

        /// Postage kept from a return of several lines: never below zero or above a line's
        /// refund, and exactly the postage (or all of the refunds, if less) together.
        #[test]
        fn postage_kept_adds_up_and_stays_within_each_refund(
            postage in -100i64..50_000,
            worths in prop::collection::vec(0i64..20_000, 0..6),
        ) {
            let shares = postage_kept(postage, &worths);
            prop_assert_eq!(shares.len(), worths.len());
            for (s, w) in shares.iter().zip(&worths) {
                prop_assert!((0..=*w).contains(s));
            }
            let total: i64 = worths.iter().sum();
            prop_assert_eq!(shares.iter().sum::<i64>(), postage.clamp(0, total));
        }
    }
}
