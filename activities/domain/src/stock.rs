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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_stock_is_crossed_only_on_the_way_down() {
        assert!(crosses_low_stock(10, 4, 5));
        assert!(crosses_low_stock(5, 4, 5));
        assert!(!crosses_low_stock(4, 3, 5), "already below");
        assert!(!crosses_low_stock(3, 10, 5), "going up");
        assert!(!crosses_low_stock(10, 0, 0), "no threshold");
    }
}
