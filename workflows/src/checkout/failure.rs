//! How the checkout stops, and how an activity's failure becomes the checkout's failure code.

use souk_contracts::failures;
use temporalio_sdk::ActivityExecutionError;

use super::{CheckoutState, Failure};
pub(super) use crate::text::failure as describe;

/// Why the forward path stopped.
pub(super) enum Stop {
    Failure(Failure),
    Cancelled(String),
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Self {
        Stop::Failure(f)
    }
}

impl Stop {
    /// Why the compensations run, as recorded with each of them.
    pub(super) fn reason(&self) -> String {
        match self {
            Stop::Failure(f) => format!("{}: {}", f.code, f.message),
            Stop::Cancelled(r) => format!("cancelled: {r}"),
        }
    }

    /// How a stopped checkout ends: undone cleanly it is compensated (or cancelled); a
    /// compensation that failed leaves it failed, for an operator. The failure is the one that
    /// stopped it either way.
    pub(super) fn outcome(&self, undone_cleanly: bool) -> (CheckoutState, Failure) {
        let (state, failure) = match self {
            Stop::Failure(f) => (CheckoutState::Compensated, f.clone()),
            Stop::Cancelled(reason) => (
                CheckoutState::Cancelled,
                Failure {
                    code: "cancelled".into(),
                    message: reason.clone(),
                },
            ),
        };
        if undone_cleanly {
            (state, failure)
        } else {
            (CheckoutState::Failed, failure)
        }
    }
}

/// Which activity failure types map to which checkout failure codes, per step, and the code
/// for anything else (a domain that stayed down past the step's budget).
pub(super) struct Codes {
    pub(super) known: &'static [(&'static str, &'static str)],
    pub(super) fallback: &'static str,
}

pub(super) const SNAPSHOT: Codes = Codes {
    known: &[
        (failures::CART_NOT_FOUND, "cart_not_found"),
        (failures::CART_EMPTY, "cart_empty"),
        (failures::ITEM_UNAVAILABLE, "item_unavailable"),
        (failures::UNSUPPORTED_DESTINATION, "unsupported_destination"),
    ],
    fallback: "cart_unavailable",
};
pub(super) const COUPON: Codes = Codes {
    known: &[(failures::COUPON_REJECTED, "coupon_invalid")],
    fallback: "coupon_invalid",
};
pub(super) const RESERVE: Codes = Codes {
    known: &[(failures::INSUFFICIENT_STOCK, "out_of_stock")],
    fallback: "inventory_unavailable",
};
pub(super) const AUTHORIZE: Codes = Codes {
    known: &[
        (failures::CARD_DECLINED, "card_declined"),
        (failures::PAYMENT_FAILED, "payment_failed"),
    ],
    fallback: "payment_unavailable",
};
pub(super) const CREATE_ORDER: Codes = Codes {
    known: &[(failures::ORDER_CANCELLED, "cancelled")],
    fallback: "orders_unavailable",
};
pub(super) const EXTEND: Codes = Codes {
    known: &[(failures::RESERVATION_RELEASED, "reservation_expired")],
    fallback: "inventory_unavailable",
};
pub(super) const CAPTURE: Codes = Codes {
    known: &[(failures::PAYMENT_FAILED, "capture_failed")],
    fallback: "capture_failed",
};
pub(super) const COMMIT: Codes = Codes {
    known: &[(failures::RESERVATION_RELEASED, "reservation_expired")],
    fallback: "commit_failed",
};

impl Codes {
    /// The checkout's code for an activity failure of this type (none: not a business
    /// failure).
    pub(super) fn code(&self, type_name: Option<&str>) -> &'static str {
        type_name
            .and_then(|t| self.known.iter().find(|(ty, _)| *ty == t).map(|(_, c)| *c))
            .unwrap_or(self.fallback)
    }

    /// Maps an activity's failure to the checkout's failure.
    pub(super) fn of(&self, err: &ActivityExecutionError) -> Failure {
        let (type_name, message) = describe(err);
        Failure {
            code: self.code(type_name.as_deref()).to_string(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_failure_type_maps_to_its_code_and_anything_else_to_the_fallback() {
        assert_eq!(
            AUTHORIZE.code(Some(failures::CARD_DECLINED)),
            "card_declined"
        );
        assert_eq!(
            AUTHORIZE.code(Some(failures::PAYMENT_FAILED)),
            "payment_failed"
        );
        // A timeout or a domain down past the budget has no business type.
        assert_eq!(AUTHORIZE.code(None), "payment_unavailable");
        // A failure type another step knows is not this step's.
        assert_eq!(
            AUTHORIZE.code(Some(failures::INSUFFICIENT_STOCK)),
            "payment_unavailable"
        );
        assert_eq!(
            RESERVE.code(Some(failures::INSUFFICIENT_STOCK)),
            "out_of_stock"
        );
        assert_eq!(SNAPSHOT.code(Some(failures::CART_EMPTY)), "cart_empty");
        assert_eq!(SNAPSHOT.code(Some("Unexpected")), "cart_unavailable");
        assert_eq!(
            COMMIT.code(Some(failures::RESERVATION_RELEASED)),
            "reservation_expired"
        );
        assert_eq!(COMMIT.code(None), "commit_failed");
    }

    #[test]
    fn a_stop_undone_cleanly_is_compensated_or_cancelled_otherwise_failed() {
        let declined = Stop::Failure(Failure {
            code: "card_declined".into(),
            message: "insufficient_funds".into(),
        });
        let (state, failure) = declined.outcome(true);
        assert_eq!(state, CheckoutState::Compensated);
        assert_eq!(failure.code, "card_declined");
        assert_eq!(declined.outcome(false).0, CheckoutState::Failed);
        assert_eq!(declined.reason(), "card_declined: insufficient_funds");

        let cancelled = Stop::Cancelled("changed my mind".into());
        let (state, failure) = cancelled.outcome(true);
        assert_eq!(state, CheckoutState::Cancelled);
        assert_eq!(
            (failure.code.as_str(), failure.message.as_str()),
            ("cancelled", "changed my mind")
        );
        let (state, failure) = cancelled.outcome(false);
        assert_eq!(
            (state, failure.code.as_str()),
            (CheckoutState::Failed, "cancelled")
        );
        assert_eq!(cancelled.reason(), "cancelled: changed my mind");
    }
}
