//! Stock arithmetic and reservation states.

use serde::{Deserialize, Serialize};

/// What can still be promised: on hand minus reserved. Never negative when the store's
/// invariants hold (`0 <= reserved <= on_hand`).
pub fn available(on_hand: i64, reserved: i64) -> i64 {
    on_hand - reserved
}

/// True when a change took availability from at or above the threshold to below it.
pub fn crosses_low_stock(before: i64, after: i64, threshold: i64) -> bool {
    threshold > 0 && before >= threshold && after < threshold
}

/// Where to take `quantity` from, given what each warehouse has available (in a stable
/// order): all of it from the warehouse with the most available if one can serve it alone
/// (one parcel), otherwise from the warehouses with the most available first, so as few
/// warehouses as possible ship it. `None` when all of them together have too little. The
/// parts are positive, never exceed what a warehouse has, and add up to `quantity`.
pub fn allocate(available: &[(String, i64)], quantity: i64) -> Option<Vec<(String, i64)>> {
    if quantity <= 0 {
        return None;
    }
    let mut by_most: Vec<&(String, i64)> = available.iter().filter(|(_, a)| *a > 0).collect();
    // Most available first; ties in the given order.
    by_most.sort_by_key(|a| std::cmp::Reverse(a.1));
    let mut left = quantity;
    let mut parts = Vec::new();
    for (warehouse, avail) in by_most {
        if left == 0 {
            break;
        }
        let take = left.min(*avail);
        parts.push((warehouse.clone(), take));
        left -= take;
    }
    (left == 0).then_some(parts)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    Reserved,
    Committed,
    Released,
}

impl ReservationState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationState::Reserved => "reserved",
            ReservationState::Committed => "committed",
            ReservationState::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reserved" => Some(ReservationState::Reserved),
            "committed" => Some(ReservationState::Committed),
            "released" => Some(ReservationState::Released),
            _ => None,
        }
    }
}

/// Whether `s` can be a warehouse code: 1 to 32 ASCII letters, digits, `_` or `-` (the
/// inventory schema's `warehouses_code_format`).
pub fn is_warehouse_code(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warehouse_codes_are_what_the_schema_takes() {
        for s in ["west", "EU_1", "a-b", "w".repeat(32).as_str()] {
            assert!(is_warehouse_code(s), "{s:?}");
        }
        for s in ["", "a b", "a\0b", "é", "w".repeat(33).as_str()] {
            assert!(!is_warehouse_code(s), "{s:?}");
        }
    }

    #[test]
    fn low_stock_is_crossed_only_on_the_way_down() {
        assert!(crosses_low_stock(10, 4, 5));
        assert!(crosses_low_stock(5, 4, 5));
        assert!(!crosses_low_stock(4, 3, 5), "already below");
        assert!(!crosses_low_stock(3, 10, 5), "going up");
        assert!(!crosses_low_stock(10, 0, 0), "no threshold");
    }

    fn w(list: &[i64]) -> Vec<(String, i64)> {
        list.iter()
            .enumerate()
            .map(|(i, a)| (format!("w{i}"), *a))
            .collect()
    }

    #[test]
    fn one_warehouse_serves_an_order_it_can_hold_and_several_share_one_it_cannot() {
        assert_eq!(allocate(&w(&[3, 5]), 4), Some(vec![("w1".into(), 4)]));
        assert_eq!(
            allocate(&w(&[3, 5]), 7),
            Some(vec![("w1".into(), 5), ("w0".into(), 2)])
        );
        assert_eq!(allocate(&w(&[3, 5]), 9), None);
        assert_eq!(allocate(&w(&[]), 1), None);
        assert_eq!(allocate(&w(&[4]), 0), None);
        assert_eq!(allocate(&w(&[0, -1, 2]), 2), Some(vec![("w2".into(), 2)]));
    }

    /// Every stock of up to four warehouses with 0 to 5 units each, every quantity: the parts
    /// add up, fit, use the fewest warehouses, and only fail when the total is too small.
    #[test]
    fn allocations_add_up_fit_and_use_the_fewest_warehouses() {
        let mut stocks: Vec<Vec<i64>> = vec![vec![]];
        for _ in 0..4 {
            stocks = stocks
                .iter()
                .flat_map(|s| {
                    (0..=5).map(move |a| {
                        let mut s = s.clone();
                        s.push(a);
                        s
                    })
                })
                .chain(stocks.clone())
                .collect();
        }
        for s in &stocks {
            let avail = w(s);
            let total: i64 = s.iter().sum();
            for q in 1..=total + 1 {
                match allocate(&avail, q) {
                    None => assert!(q > total, "{s:?} {q}"),
                    Some(parts) => {
                        assert_eq!(parts.iter().map(|p| p.1).sum::<i64>(), q, "{s:?} {q}");
                        for (wh, take) in &parts {
                            let have = avail.iter().find(|a| &a.0 == wh).unwrap().1;
                            assert!(*take > 0 && *take <= have, "{s:?} {q} {parts:?}");
                        }
                        let mut sorted = s.clone();
                        sorted.sort_unstable_by(|a, b| b.cmp(a));
                        let fewest = sorted
                            .iter()
                            .scan(0, |acc, a| {
                                *acc += a;
                                Some(*acc)
                            })
                            .position(|sum| sum >= q)
                            .unwrap()
                            + 1;
                        assert_eq!(parts.len(), fewest, "{s:?} {q} {parts:?}");
                    }
                }
            }
        }
    }
}
