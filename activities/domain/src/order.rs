//! Orders: the one guarded state machine every status change goes through, and order numbers.

use serde::{Deserialize, Serialize};

/// placed → processing → shipped → delivered; placed/processing → cancelled; delivered → returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
    Returned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Placed,
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Returned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Processing => "processing",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Returned => "returned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether `self → to` is allowed. Staying in the same status is not a transition.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (Placed, Processing)
                | (Processing, Shipped)
                | (Shipped, Delivered)
                | (Placed, Cancelled)
                | (Processing, Cancelled)
                | (Delivered, Returned)
        )
    }

    pub fn transition(self, to: OrderStatus) -> Result<OrderStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

impl std::fmt::Display for OrderStatus {
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
        let allowed = [
            (Placed, Processing),
            (Processing, Shipped),
            (Shipped, Delivered),
            (Placed, Cancelled),
            (Processing, Cancelled),
            (Delivered, Returned),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
                assert_eq!(from.transition(to).is_ok(), expected);
            }
        }
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
