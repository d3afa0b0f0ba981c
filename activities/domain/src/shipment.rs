//! Shipments: the one guarded state machine every shipment status goes through, how a
//! carrier's tracking report moves it (never backwards), and the parcel a vendor packs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::order::SubOrderStatus;

/// `awaiting_fulfillment → packed → label_purchased → in_transit → out_for_delivery →
/// delivered`, with `exception` (a carrier problem, from which a parcel may recover),
/// `returned_to_sender` and `cancelled`. `delivered`, `returned_to_sender` and `cancelled`
/// are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    AwaitingFulfillment,
    Packed,
    LabelPurchased,
    InTransit,
    OutForDelivery,
    Delivered,
    Exception,
    ReturnedToSender,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a shipment cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: ShipmentStatus,
    pub to: ShipmentStatus,
}

/// What a carrier's tracking report does to a shipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracking {
    /// The shipment moves to this status.
    Advance(ShipmentStatus),
    /// The report says what the shipment already says (a repeated scan).
    Unchanged,
    /// The report is older than what the shipment knows, or would move it backwards, or the
    /// shipment is final: it is recorded, and ignored.
    Stale,
}

impl ShipmentStatus {
    pub const ALL: [ShipmentStatus; 9] = [
        ShipmentStatus::AwaitingFulfillment,
        ShipmentStatus::Packed,
        ShipmentStatus::LabelPurchased,
        ShipmentStatus::InTransit,
        ShipmentStatus::OutForDelivery,
        ShipmentStatus::Delivered,
        ShipmentStatus::Exception,
        ShipmentStatus::ReturnedToSender,
        ShipmentStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentStatus::AwaitingFulfillment => "awaiting_fulfillment",
            ShipmentStatus::Packed => "packed",
            ShipmentStatus::LabelPurchased => "label_purchased",
            ShipmentStatus::InTransit => "in_transit",
            ShipmentStatus::OutForDelivery => "out_for_delivery",
            ShipmentStatus::Delivered => "delivered",
            ShipmentStatus::Exception => "exception",
            ShipmentStatus::ReturnedToSender => "returned_to_sender",
            ShipmentStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether nothing can happen to the shipment any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ShipmentStatus::Delivered
                | ShipmentStatus::ReturnedToSender
                | ShipmentStatus::Cancelled
        )
    }

    /// Whether the parcel is with the carrier: what its tracking reports can say.
    pub fn is_carrier_status(self) -> bool {
        matches!(
            self,
            ShipmentStatus::InTransit
                | ShipmentStatus::OutForDelivery
                | ShipmentStatus::Delivered
                | ShipmentStatus::Exception
                | ShipmentStatus::ReturnedToSender
        )
    }

    /// What the vendor's part of the order is at when its shipment reaches `self` (none: the
    /// shipment says nothing new about it). Packed or labelled: processing; with the carrier:
    /// shipped; an exception or a return to the sender leaves it where it was.
    pub fn sub_order(self) -> Option<SubOrderStatus> {
        match self {
            ShipmentStatus::AwaitingFulfillment
            | ShipmentStatus::Exception
            | ShipmentStatus::ReturnedToSender => None,
            ShipmentStatus::Packed | ShipmentStatus::LabelPurchased => {
                Some(SubOrderStatus::Processing)
            }
            ShipmentStatus::InTransit | ShipmentStatus::OutForDelivery => {
                Some(SubOrderStatus::Shipped)
            }
            ShipmentStatus::Delivered => Some(SubOrderStatus::Delivered),
            ShipmentStatus::Cancelled => Some(SubOrderStatus::Cancelled),
        }
    }

    /// Whether `self → to` is allowed. Staying in the same status is not a transition.
    pub fn can_become(self, to: ShipmentStatus) -> bool {
        use ShipmentStatus::*;
        match self {
            AwaitingFulfillment => matches!(to, Packed | Cancelled),
            Packed => matches!(to, LabelPurchased | Cancelled),
            // A label is bought: the carrier may scan it anywhere on its way, or it is voided.
            LabelPurchased => matches!(
                to,
                InTransit | OutForDelivery | Delivered | Exception | ReturnedToSender | Cancelled
            ),
            InTransit => matches!(
                to,
                OutForDelivery | Delivered | Exception | ReturnedToSender
            ),
            OutForDelivery => matches!(to, Delivered | Exception | ReturnedToSender),
            // A problem the carrier solves: the parcel moves on.
            Exception => matches!(
                to,
                InTransit | OutForDelivery | Delivered | ReturnedToSender
            ),
            Delivered | ReturnedToSender | Cancelled => false,
        }
    }

    pub fn transition(self, to: ShipmentStatus) -> Result<ShipmentStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }

    /// What a carrier's report of `reported` at `at` does to a shipment at `self` whose last
    /// applied report was at `last_at`. A report older than the last one applied is stale
    /// even when the move would be allowed (an `in_transit` that arrives after the
    /// `exception` the carrier scanned later), and so is any move the machine refuses (a late
    /// `in_transit` after `out_for_delivery` or `delivered`).
    pub fn track(
        self,
        last_at: Option<DateTime<Utc>>,
        reported: ShipmentStatus,
        at: DateTime<Utc>,
    ) -> Tracking {
        if reported == self {
            Tracking::Unchanged
        } else if last_at.is_some_and(|last| at < last) || !self.can_become(reported) {
            Tracking::Stale
        } else {
            Tracking::Advance(reported)
        }
    }
}

impl std::fmt::Display for ShipmentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A packed parcel: weight in grams, outer dimensions in millimetres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parcel {
    pub weight_grams: u32,
    pub length_mm: u32,
    pub width_mm: u32,
    pub height_mm: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParcelError {
    #[error("a parcel weighs from 1 g to {} g", Parcel::MAX_WEIGHT_GRAMS)]
    Weight,
    #[error(
        "each side of a parcel measures from 1 mm to {} mm",
        Parcel::MAX_SIDE_MM
    )]
    Dimensions,
}

impl ParcelError {
    /// The machine-readable reason.
    pub fn code(self) -> &'static str {
        match self {
            ParcelError::Weight => "invalid_weight",
            ParcelError::Dimensions => "invalid_dimensions",
        }
    }
}

impl Parcel {
    /// What a parcel carrier takes: 70 kg, and no side over 2.7 m.
    pub const MAX_WEIGHT_GRAMS: u32 = 70_000;
    pub const MAX_SIDE_MM: u32 = 2_700;

    pub fn new(
        weight_grams: u32,
        length_mm: u32,
        width_mm: u32,
        height_mm: u32,
    ) -> Result<Self, ParcelError> {
        if !(1..=Self::MAX_WEIGHT_GRAMS).contains(&weight_grams) {
            return Err(ParcelError::Weight);
        }
        if [length_mm, width_mm, height_mm]
            .iter()
            .any(|side| !(1..=Self::MAX_SIDE_MM).contains(side))
        {
            return Err(ParcelError::Dimensions);
        }
        Ok(Self {
            weight_grams,
            length_mm,
            width_mm,
            height_mm,
        })
    }

    /// The weight a carrier bills: the actual weight or the volumetric one (length × width ×
    /// height in cm³ / 5000 kg), whichever is larger, in grams.
    pub fn billable_grams(&self) -> u64 {
        let volume_mm3 =
            u64::from(self.length_mm) * u64::from(self.width_mm) * u64::from(self.height_mm);
        // cm³ / 5000 = kg  ⇒  mm³ / 5_000_000 = kg  ⇒  mm³ / 5_000 = g
        u64::from(self.weight_grams).max(volume_mm3.div_ceil(5_000))
    }
}

/// The shipment of `vendor`'s part of order `order_no`: its workflow id is
/// `shipment-<order_no>-<vendor>`.
pub fn shipment_workflow_id(order_no: &str, vendor: uuid::Uuid) -> String {
    format!("shipment-{order_no}-{vendor}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ShipmentStatus::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn only_the_documented_transitions_are_allowed() {
        let allowed = [
            (AwaitingFulfillment, Packed),
            (AwaitingFulfillment, Cancelled),
            (Packed, LabelPurchased),
            (Packed, Cancelled),
            (LabelPurchased, InTransit),
            (LabelPurchased, OutForDelivery),
            (LabelPurchased, Delivered),
            (LabelPurchased, Exception),
            (LabelPurchased, ReturnedToSender),
            (LabelPurchased, Cancelled),
            (InTransit, OutForDelivery),
            (InTransit, Delivered),
            (InTransit, Exception),
            (InTransit, ReturnedToSender),
            (OutForDelivery, Delivered),
            (OutForDelivery, Exception),
            (OutForDelivery, ReturnedToSender),
            (Exception, InTransit),
            (Exception, OutForDelivery),
            (Exception, Delivered),
            (Exception, ReturnedToSender),
        ];
        for from in ShipmentStatus::ALL {
            for to in ShipmentStatus::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
                assert_eq!(from.transition(to).is_ok(), expected);
            }
            assert_eq!(ShipmentStatus::parse(from.as_str()), Some(from));
            // A final status goes nowhere; every other one can still go somewhere.
            assert_eq!(
                from.is_final(),
                ShipmentStatus::ALL.iter().all(|to| !from.can_become(*to)),
                "{from}"
            );
        }
        assert_eq!(ShipmentStatus::parse("shipped"), None);
    }

    #[test]
    fn a_shipment_in_the_carriers_hands_cannot_be_cancelled() {
        let err = InTransit.transition(Cancelled).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a shipment cannot go from in_transit to cancelled"
        );
    }

    #[test]
    fn a_late_scan_never_moves_a_shipment_backwards() {
        // in_transit arriving after delivered (its own time earlier or later): ignored.
        assert_eq!(
            Delivered.track(Some(at(10)), InTransit, at(5)),
            Tracking::Stale
        );
        assert_eq!(
            Delivered.track(Some(at(10)), InTransit, at(20)),
            Tracking::Stale
        );
        assert_eq!(
            OutForDelivery.track(Some(at(10)), InTransit, at(20)),
            Tracking::Stale
        );
        // An exception then an older in_transit: the exception stands.
        assert_eq!(
            Exception.track(Some(at(10)), InTransit, at(5)),
            Tracking::Stale
        );
        // An exception then a newer in_transit: the parcel moved on.
        assert_eq!(
            Exception.track(Some(at(10)), InTransit, at(20)),
            Tracking::Advance(InTransit)
        );
        assert_eq!(
            InTransit.track(Some(at(10)), InTransit, at(20)),
            Tracking::Unchanged
        );
        // The first scan of a label.
        assert_eq!(
            LabelPurchased.track(None, Delivered, at(0)),
            Tracking::Advance(Delivered)
        );
        // A carrier cannot pack or cancel.
        assert_eq!(
            AwaitingFulfillment.track(None, InTransit, at(0)),
            Tracking::Stale
        );
    }

    #[test]
    fn any_sequence_of_scans_only_moves_forward_along_the_machine() {
        // Every ordering of the carrier statuses, at increasing or shuffled times: each
        // applied step is an allowed transition, and nothing is applied after a final one.
        let scans = [
            InTransit,
            OutForDelivery,
            Exception,
            Delivered,
            ReturnedToSender,
        ];
        let mut order: Vec<usize> = (0..scans.len()).collect();
        let mut permutations = 0;
        loop {
            let mut status = LabelPurchased;
            let mut last = None;
            for (i, &k) in order.iter().enumerate() {
                let when = at(((k * 7 + i * 3) % 11) as i64);
                match status.track(last, scans[k], when) {
                    Tracking::Advance(next) => {
                        assert!(status.can_become(next));
                        assert!(!status.is_final());
                        status = next;
                        last = Some(when);
                    }
                    Tracking::Unchanged | Tracking::Stale => {}
                }
            }
            permutations += 1;
            // next permutation (lexicographic)
            let Some(i) = (0..order.len() - 1)
                .rev()
                .find(|&i| order[i] < order[i + 1])
            else {
                break;
            };
            let j = (i + 1..order.len())
                .rev()
                .find(|&j| order[j] > order[i])
                .unwrap();
            order.swap(i, j);
            order[i + 1..].reverse();
        }
        assert_eq!(permutations, 120);
    }

    #[test]
    fn a_parcel_is_checked_and_billed_by_the_larger_weight() {
        assert_eq!(Parcel::new(0, 10, 10, 10), Err(ParcelError::Weight));
        assert_eq!(Parcel::new(70_001, 10, 10, 10), Err(ParcelError::Weight));
        assert_eq!(Parcel::new(500, 0, 10, 10), Err(ParcelError::Dimensions));
        assert_eq!(
            Parcel::new(500, 10, 10, 2_701),
            Err(ParcelError::Dimensions)
        );
        // 300 × 200 × 100 mm = 6,000 cm³ → 1.2 kg volumetric, more than the 500 g it weighs.
        let light_box = Parcel::new(500, 300, 200, 100).unwrap();
        assert_eq!(light_box.billable_grams(), 1_200);
        let heavy_book = Parcel::new(2_000, 250, 180, 40).unwrap();
        assert_eq!(heavy_book.billable_grams(), 2_000);
        assert_eq!(ParcelError::Weight.code(), "invalid_weight");
    }

    #[test]
    fn a_shipment_workflow_is_named_after_its_order_and_vendor() {
        let vendor = uuid::Uuid::nil();
        assert_eq!(
            shipment_workflow_id("SK-100042", vendor),
            "shipment-SK-100042-00000000-0000-0000-0000-000000000000"
        );
    }
}
