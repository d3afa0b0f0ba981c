//! Orders: the one guarded state machine every status change goes through, and order numbers.

use serde::{Deserialize, Serialize};

/// An order's fulfilment follows its vendors' sub-orders ([`OrderStatus::of_sub_orders`]):
/// placed → processing → partially_shipped → shipped → delivered, moving forward only (a step
/// may be skipped: a second vendor's parcel delivered before the first one left);
/// placed/processing → cancelled; once a vendor's part came back, in part or whole,
/// partially_returned (from anywhere on the way), and returned when every part that was not
/// cancelled came back whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    Processing,
    PartiallyShipped,
    Shipped,
    Delivered,
    Cancelled,
    PartiallyReturned,
    Returned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        OrderStatus::Placed,
        OrderStatus::Processing,
        OrderStatus::PartiallyShipped,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::PartiallyReturned,
        OrderStatus::Returned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Processing => "processing",
            OrderStatus::PartiallyShipped => "partially_shipped",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::PartiallyReturned => "partially_returned",
            OrderStatus::Returned => "returned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Where the status is on the way to the customer (none: off it).
    fn progress(self) -> Option<u8> {
        match self {
            OrderStatus::Placed => Some(0),
            OrderStatus::Processing => Some(1),
            OrderStatus::PartiallyShipped => Some(2),
            OrderStatus::Shipped => Some(3),
            OrderStatus::Delivered => Some(4),
            OrderStatus::Cancelled | OrderStatus::PartiallyReturned | OrderStatus::Returned => None,
        }
    }

    /// Whether `self → to` is allowed. Staying in the same status is not a transition.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        match (self.progress(), to.progress()) {
            (Some(from), Some(to)) => to > from,
            _ => matches!(
                (self, to),
                (Placed | Processing, Cancelled)
                    | (
                        Processing | PartiallyShipped | Shipped | Delivered,
                        PartiallyReturned
                    )
                    | (Delivered | PartiallyReturned, Returned)
            ),
        }
    }

    pub fn transition(self, to: OrderStatus) -> Result<OrderStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }

    /// What an order is at, from its sub-orders: the cancelled ones aside, processing once any
    /// is, partially shipped once any left, shipped and delivered when all have; cancelled
    /// when every one is; partially returned once any came back, in part or whole, and
    /// returned when every one came back whole.
    pub fn of_sub_orders(subs: &[SubOrderStatus]) -> OrderStatus {
        use SubOrderStatus as S;
        let active: Vec<SubOrderStatus> = subs
            .iter()
            .copied()
            .filter(|s| *s != S::Cancelled)
            .collect();
        if active.is_empty() {
            return if subs.is_empty() {
                OrderStatus::Placed
            } else {
                OrderStatus::Cancelled
            };
        }
        if active.iter().all(|s| *s == S::Returned) {
            return OrderStatus::Returned;
        }
        if active
            .iter()
            .any(|s| matches!(s, S::Returned | S::PartiallyReturned))
        {
            return OrderStatus::PartiallyReturned;
        }
        let least = active.iter().map(|s| s.progress()).min().unwrap_or(0);
        let most = active.iter().map(|s| s.progress()).max().unwrap_or(0);
        match (least, most) {
            (3, _) => OrderStatus::Delivered,
            (2, _) => OrderStatus::Shipped,
            (_, 2..) => OrderStatus::PartiallyShipped,
            (_, 1) => OrderStatus::Processing,
            _ => OrderStatus::Placed,
        }
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One vendor's part of an order: placed → processing (packed) → shipped (with the carrier)
/// → delivered, forward only; placed/processing → cancelled (nothing of it will ship);
/// delivered → partially_returned (some units came back) → returned (every unit delivered
/// came back); delivered → returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubOrderStatus {
    Placed,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
    PartiallyReturned,
    Returned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a vendor's part of an order cannot go from {from} to {to}")]
pub struct IllegalSubOrderTransition {
    pub from: SubOrderStatus,
    pub to: SubOrderStatus,
}

impl SubOrderStatus {
    pub const ALL: [SubOrderStatus; 7] = [
        SubOrderStatus::Placed,
        SubOrderStatus::Processing,
        SubOrderStatus::Shipped,
        SubOrderStatus::Delivered,
        SubOrderStatus::Cancelled,
        SubOrderStatus::PartiallyReturned,
        SubOrderStatus::Returned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubOrderStatus::Placed => "placed",
            SubOrderStatus::Processing => "processing",
            SubOrderStatus::Shipped => "shipped",
            SubOrderStatus::Delivered => "delivered",
            SubOrderStatus::Cancelled => "cancelled",
            SubOrderStatus::PartiallyReturned => "partially_returned",
            SubOrderStatus::Returned => "returned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Where it is on the way (returned, in part or whole, counts as delivered).
    fn progress(self) -> u8 {
        match self {
            SubOrderStatus::Placed | SubOrderStatus::Cancelled => 0,
            SubOrderStatus::Processing => 1,
            SubOrderStatus::Shipped => 2,
            SubOrderStatus::Delivered
            | SubOrderStatus::PartiallyReturned
            | SubOrderStatus::Returned => 3,
        }
    }

    /// Whether `self → to` is allowed. Staying in the same status is not a transition.
    pub fn can_become(self, to: SubOrderStatus) -> bool {
        use SubOrderStatus::*;
        match (self, to) {
            (Placed | Processing | Shipped, Processing | Shipped | Delivered) => {
                to.progress() > self.progress()
            }
            (Placed | Processing, Cancelled)
            | (Delivered, PartiallyReturned)
            | (Delivered | PartiallyReturned, Returned) => true,
            _ => false,
        }
    }

    pub fn transition(
        self,
        to: SubOrderStatus,
    ) -> Result<SubOrderStatus, IllegalSubOrderTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalSubOrderTransition { from: self, to })
        }
    }

    /// Whether `self` is already at or past `to` on the way to the customer: reporting `to`
    /// again (a retried or late report) changes nothing.
    pub fn has_reached(self, to: SubOrderStatus) -> bool {
        match to {
            SubOrderStatus::Processing | SubOrderStatus::Shipped | SubOrderStatus::Delivered => {
                self != SubOrderStatus::Cancelled && self.progress() >= to.progress()
            }
            _ => self == to,
        }
    }
}

impl SubOrderStatus {
    /// A vendor's part that ships in several shipments (one per warehouse), from where each
    /// of them is: cancelled once every one is; processing once any is packed; shipped, and
    /// delivered, once all the others are. A shipment moving forward never moves the whole
    /// back; a cancelled one can lower it, which the part does not follow (it never moves
    /// back).
    pub fn of_parts(parts: &[SubOrderStatus]) -> SubOrderStatus {
        use SubOrderStatus as S;
        let active: Vec<SubOrderStatus> = parts
            .iter()
            .copied()
            .filter(|s| *s != S::Cancelled)
            .collect();
        if active.is_empty() {
            return if parts.is_empty() {
                S::Placed
            } else {
                S::Cancelled
            };
        }
        if active.iter().all(|s| *s == S::Returned) {
            return S::Returned;
        }
        if active
            .iter()
            .any(|s| matches!(s, S::Returned | S::PartiallyReturned))
        {
            return S::PartiallyReturned;
        }
        let least = active.iter().map(|s| s.progress()).min().unwrap_or(0);
        let most = active.iter().map(|s| s.progress()).max().unwrap_or(0);
        match (least, most) {
            (3, _) => S::Delivered,
            (2, _) => S::Shipped,
            (_, 1..) => S::Processing,
            _ => S::Placed,
        }
    }
}

impl std::fmt::Display for SubOrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the payment of an order is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Authorized,
    Captured,
    Voided,
    PartiallyRefunded,
    Refunded,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Authorized => "authorized",
            PaymentStatus::Captured => "captured",
            PaymentStatus::Voided => "voided",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
            PaymentStatus::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            PaymentStatus::Pending,
            PaymentStatus::Authorized,
            PaymentStatus::Captured,
            PaymentStatus::Voided,
            PaymentStatus::PartiallyRefunded,
            PaymentStatus::Refunded,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// The human-readable order number for a sequence value: `SK-100042`.
pub fn order_no(seq: i64) -> String {
    format!("SK-{seq:06}")
}

/// Whether `s` can be an order number [`order_no`] made: `SK-` and 6 to 19 digits. A lookup
/// by anything else finds nothing without asking the database.
pub fn is_order_no(s: &str) -> bool {
    s.strip_prefix("SK-").is_some_and(|digits| {
        (6..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_order_number_made_is_one_and_little_else_is() {
        for seq in [0, 42, 100_042, i64::MAX] {
            assert!(is_order_no(&order_no(seq)), "{seq}");
        }
        for s in [
            "",
            "SK-",
            "SK-12345",
            "sk-100042",
            "SK-10004a",
            "SK-100042\0",
            "XX-100042",
        ] {
            assert!(!is_order_no(s), "{s:?}");
        }
    }

    #[test]
    fn only_the_documented_transitions_are_allowed() {
        use OrderStatus::*;
        let way = [Placed, Processing, PartiallyShipped, Shipped, Delivered];
        let mut allowed = vec![
            (Placed, Cancelled),
            (Processing, Cancelled),
            (Processing, PartiallyReturned),
            (PartiallyShipped, PartiallyReturned),
            (Shipped, PartiallyReturned),
            (Delivered, PartiallyReturned),
            (Delivered, Returned),
            (PartiallyReturned, Returned),
        ];
        for (i, from) in way.iter().enumerate() {
            for to in &way[i + 1..] {
                allowed.push((*from, *to));
            }
        }
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
                assert_eq!(from.transition(to).is_ok(), expected);
            }
        }
    }

    #[test]
    fn a_sub_order_moves_forward_only() {
        use SubOrderStatus::*;
        let allowed = [
            (Placed, Processing),
            (Placed, Shipped),
            (Placed, Delivered),
            (Processing, Shipped),
            (Processing, Delivered),
            (Shipped, Delivered),
            (Placed, Cancelled),
            (Processing, Cancelled),
            (Delivered, PartiallyReturned),
            (Delivered, Returned),
            (PartiallyReturned, Returned),
        ];
        for from in SubOrderStatus::ALL {
            for to in SubOrderStatus::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
                assert_eq!(from.transition(to).is_ok(), expected);
            }
        }
        assert!(Delivered.has_reached(Shipped));
        assert!(Shipped.has_reached(Shipped));
        assert!(Returned.has_reached(Delivered));
        assert!(PartiallyReturned.has_reached(Delivered));
        assert!(!Processing.has_reached(Shipped));
        assert!(!Cancelled.has_reached(Processing));
        assert!(!Placed.has_reached(Cancelled));
    }

    #[test]
    fn the_order_follows_its_sub_orders() {
        use SubOrderStatus as S;
        let cases: [(&[S], OrderStatus); 15] = [
            (&[], OrderStatus::Placed),
            (&[S::Placed, S::Placed], OrderStatus::Placed),
            (&[S::Processing, S::Placed], OrderStatus::Processing),
            (&[S::Shipped, S::Placed], OrderStatus::PartiallyShipped),
            (
                &[S::Delivered, S::Processing],
                OrderStatus::PartiallyShipped,
            ),
            (&[S::Shipped, S::Delivered], OrderStatus::Shipped),
            (&[S::Delivered, S::Delivered], OrderStatus::Delivered),
            (&[S::Delivered, S::Cancelled], OrderStatus::Delivered),
            (&[S::Placed, S::Cancelled], OrderStatus::Placed),
            (&[S::Cancelled, S::Cancelled], OrderStatus::Cancelled),
            (&[S::Returned, S::Delivered], OrderStatus::PartiallyReturned),
            (&[S::PartiallyReturned], OrderStatus::PartiallyReturned),
            (
                &[S::PartiallyReturned, S::Processing],
                OrderStatus::PartiallyReturned,
            ),
            (&[S::Returned, S::Returned], OrderStatus::Returned),
            (&[S::Returned, S::Cancelled], OrderStatus::Returned),
        ];
        for (subs, expected) in cases {
            assert_eq!(OrderStatus::of_sub_orders(subs), expected, "{subs:?}");
        }
    }

    #[test]
    fn a_sub_order_moving_forward_never_moves_its_order_back() {
        use SubOrderStatus as S;
        let forward = [S::Placed, S::Processing, S::Shipped, S::Delivered];
        // Every pair of sub-orders, and every forward move of either one.
        for a in forward {
            for b in forward {
                let before = OrderStatus::of_sub_orders(&[a, b]);
                for a2 in forward.into_iter().filter(|x| a.can_become(*x)) {
                    let after = OrderStatus::of_sub_orders(&[a2, b]);
                    assert!(
                        after == before || before.can_become(after),
                        "{a:?},{b:?} -> {a2:?},{b:?}: {before} -> {after}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_part_shipped_in_several_shipments_follows_them() {
        use SubOrderStatus as S;
        let cases: [(&[S], S); 9] = [
            (&[], S::Placed),
            (&[S::Placed, S::Placed], S::Placed),
            (&[S::Processing, S::Placed], S::Processing),
            (&[S::Shipped, S::Placed], S::Processing),
            (&[S::Shipped, S::Shipped], S::Shipped),
            (&[S::Delivered, S::Shipped], S::Shipped),
            (&[S::Delivered, S::Cancelled], S::Delivered),
            (&[S::Cancelled, S::Placed], S::Placed),
            (&[S::Cancelled, S::Cancelled], S::Cancelled),
        ];
        for (parts, expected) in cases {
            assert_eq!(SubOrderStatus::of_parts(parts), expected, "{parts:?}");
        }
        // One shipment is the whole part.
        for s in SubOrderStatus::ALL {
            assert_eq!(SubOrderStatus::of_parts(&[s]), s);
        }
    }

    #[test]
    fn a_shipment_moving_forward_never_moves_its_part_back() {
        use SubOrderStatus as S;
        let all = [
            S::Placed,
            S::Processing,
            S::Shipped,
            S::Delivered,
            S::Cancelled,
        ];
        let forward = [S::Processing, S::Shipped, S::Delivered];
        for a in all {
            for b in all {
                let before = SubOrderStatus::of_parts(&[a, b]);
                for a2 in forward.into_iter().filter(|x| a.can_become(*x)) {
                    let after = SubOrderStatus::of_parts(&[a2, b]);
                    assert!(
                        after == before || before.can_become(after),
                        "{a:?},{b:?} -> {a2:?},{b:?}: {before} -> {after}"
                    );
                }
            }
        }
        // Only a cancellation can lower it (the packed shipment cancelled, the other not yet
        // packed): the orders store keeps a part where it was rather than move it back.
        assert_eq!(
            SubOrderStatus::of_parts(&[S::Cancelled, S::Placed]),
            S::Placed,
            "from processing"
        );
        assert!(!S::Processing.can_become(S::Placed));
    }

    #[test]
    fn a_shipped_order_cannot_be_cancelled() {
        let err = OrderStatus::Shipped
            .transition(OrderStatus::Cancelled)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "an order cannot go from shipped to cancelled"
        );
    }

    #[test]
    fn order_numbers_are_readable() {
        assert_eq!(order_no(100_042), "SK-100042");
        assert_eq!(OrderStatus::parse("shipped"), Some(OrderStatus::Shipped));
        assert_eq!(
            PaymentStatus::parse("partially_refunded"),
            Some(PaymentStatus::PartiallyRefunded)
        );
    }
}
