//! Returns: the one guarded state machine a return request goes through, why a customer sends
//! something back, what the warehouse finds, and the checks a request must pass (delivered,
//! inside the window, no more units than are left to return).

use serde::{Deserialize, Serialize};

/// A return request: requested → approved | declined → label_issued → in_transit → received →
/// inspected → refunded → closed; cancelled by the customer before the parcel is handed over;
/// expired when it is never sent back. A step may be skipped (an approved return received
/// without a label of ours; an inspection that refunds nothing closes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnStatus {
    Requested,
    Approved,
    Declined,
    LabelIssued,
    InTransit,
    Received,
    Inspected,
    Refunded,
    Closed,
    Cancelled,
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a return cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: ReturnStatus,
    pub to: ReturnStatus,
}

impl ReturnStatus {
    pub const ALL: [ReturnStatus; 11] = [
        ReturnStatus::Requested,
        ReturnStatus::Approved,
        ReturnStatus::Declined,
        ReturnStatus::LabelIssued,
        ReturnStatus::InTransit,
        ReturnStatus::Received,
        ReturnStatus::Inspected,
        ReturnStatus::Refunded,
        ReturnStatus::Closed,
        ReturnStatus::Cancelled,
        ReturnStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReturnStatus::Requested => "requested",
            ReturnStatus::Approved => "approved",
            ReturnStatus::Declined => "declined",
            ReturnStatus::LabelIssued => "label_issued",
            ReturnStatus::InTransit => "in_transit",
            ReturnStatus::Received => "received",
            ReturnStatus::Inspected => "inspected",
            ReturnStatus::Refunded => "refunded",
            ReturnStatus::Closed => "closed",
            ReturnStatus::Cancelled => "cancelled",
            ReturnStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Where the status is on the way back (none: off it, or before the decision).
    fn progress(self) -> Option<u8> {
        match self {
            ReturnStatus::Approved => Some(0),
            ReturnStatus::LabelIssued => Some(1),
            ReturnStatus::InTransit => Some(2),
            ReturnStatus::Received => Some(3),
            ReturnStatus::Inspected => Some(4),
            ReturnStatus::Refunded => Some(5),
            ReturnStatus::Closed => Some(6),
            _ => None,
        }
    }

    /// Nothing more happens to the return.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ReturnStatus::Declined
                | ReturnStatus::Closed
                | ReturnStatus::Cancelled
                | ReturnStatus::Expired
        )
    }

    /// The customer may still call it off: the parcel is not with the carrier yet.
    pub fn cancellable(self) -> bool {
        matches!(
            self,
            ReturnStatus::Requested | ReturnStatus::Approved | ReturnStatus::LabelIssued
        )
    }

    /// The units are still on their way back (counted against what may be returned again).
    pub fn holds_units(self) -> bool {
        !self.is_final() && self != ReturnStatus::Refunded
    }

    /// Whether `self → to` is allowed. Staying in the same status is not a transition.
    pub fn can_become(self, to: ReturnStatus) -> bool {
        use ReturnStatus::*;
        match (self, to) {
            (Requested, Approved | Declined) => true,
            (from, Cancelled) => from.cancellable(),
            // Never sent back: approved, or labelled and never handed over.
            (Approved | LabelIssued, Expired) => true,
            (from, to) => match (from.progress(), to.progress()) {
                (Some(a), Some(b)) => b > a,
                _ => false,
            },
        }
    }

    pub fn transition(self, to: ReturnStatus) -> Result<ReturnStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

impl std::fmt::Display for ReturnStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the customer sends a line back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnReason {
    Damaged,
    WrongItem,
    NotAsDescribed,
    ChangedMind,
}

impl ReturnReason {
    pub const ALL: [ReturnReason; 4] = [
        ReturnReason::Damaged,
        ReturnReason::WrongItem,
        ReturnReason::NotAsDescribed,
        ReturnReason::ChangedMind,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReturnReason::Damaged => "damaged",
            ReturnReason::WrongItem => "wrong_item",
            ReturnReason::NotAsDescribed => "not_as_described",
            ReturnReason::ChangedMind => "changed_mind",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The customer's choice, no fault of the seller's: the customer pays the way back, and
    /// a restocking fee may be kept.
    pub fn customers_choice(self) -> bool {
        matches!(self, ReturnReason::ChangedMind)
    }

    /// The seller's fault: the seller pays the way back.
    pub fn vendor_pays_shipping(self) -> bool {
        !self.customers_choice()
    }
}

/// Who pays a return parcel's postage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostagePayer {
    /// The seller's fault: the seller pays.
    Vendor,
    /// The customer's choice: kept from the refund.
    Customer,
}

impl PostagePayer {
    pub fn as_str(self) -> &'static str {
        match self {
            PostagePayer::Vendor => "vendor",
            PostagePayer::Customer => "customer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [PostagePayer::Vendor, PostagePayer::Customer]
            .into_iter()
            .find(|p| p.as_str() == s)
    }

    /// Who pays for one parcel carrying lines sent back for `reasons`: the customer only when
    /// every line is the customer's choice (a parcel with one of the seller's faults in it
    /// would be sent anyway, so the seller pays it all). The seller for an empty parcel.
    pub fn of(reasons: &[ReturnReason]) -> Self {
        if !reasons.is_empty() && reasons.iter().all(|r| r.customers_choice()) {
            PostagePayer::Customer
        } else {
            PostagePayer::Vendor
        }
    }
}

/// What the warehouse found of a returned unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Inspection {
    /// As new: refunded and back on hand.
    Sellable,
    /// Came back, not sellable: refunded, not restocked.
    Damaged,
    /// Something else came back: not refunded.
    WrongItem,
    /// Never arrived in the parcel: not refunded.
    Missing,
}

impl Inspection {
    /// The unit is refunded.
    pub fn refunded(self) -> bool {
        matches!(self, Inspection::Sellable | Inspection::Damaged)
    }

    /// The unit goes back on hand.
    pub fn restocked(self) -> bool {
        self == Inspection::Sellable
    }
}

/// What the warehouse counted of one line: units by finding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    pub sellable: i32,
    pub damaged: i32,
    pub wrong_item: i32,
    pub missing: i32,
}

impl Counted {
    pub fn total(&self) -> i32 {
        self.sellable + self.damaged + self.wrong_item + self.missing
    }

    /// Units refunded.
    pub fn refunded(&self) -> i32 {
        self.sellable + self.damaged
    }

    pub fn is_valid_for(&self, requested: i32) -> bool {
        [self.sellable, self.damaged, self.wrong_item, self.missing]
            .iter()
            .all(|n| *n >= 0)
            && self.total() == requested
    }
}

/// Why a return request is refused, with the code the API answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0} is not a line of this order")]
    UnknownLine(String),
    #[error("{0} has not been delivered")]
    NotDelivered(String),
    #[error("{sku} is in {category}, which is not returnable")]
    Excluded { sku: String, category: String },
    #[error("{0} was delivered more than {1} days ago")]
    OutsideWindow(String, u64),
    #[error("{sku}: {asked} units asked back, {left} can be")]
    TooMany { sku: String, asked: i32, left: i32 },
    #[error("a return is for one seller's lines; return each seller's separately")]
    SeveralVendors,
    #[error("name each line once, with at least one unit")]
    BadLines,
}

impl Refusal {
    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UnknownLine(_) | Refusal::NotDelivered(_) | Refusal::Excluded { .. } => {
                "not_returnable"
            }
            Refusal::OutsideWindow(..) => "outside_return_window",
            Refusal::TooMany { .. } => "quantity_exceeds_returnable",
            Refusal::SeveralVendors => "several_vendors",
            Refusal::BadLines => "invalid_lines",
        }
    }
}

/// What is known of one line of the order when a return is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFacts<'a, V> {
    pub sku: &'a str,
    pub vendor: V,
    pub quantity: i32,
    /// Units refunded already (a seller's cancellation, an earlier return).
    pub refunded: i32,
    /// Units in other returns still on their way back.
    pub in_returns: i32,
    /// Seconds since the line's parcel was delivered (none: not delivered).
    pub delivered_ago: Option<i64>,
    /// A category of the line's product that the policy does not take back.
    pub excluded: Option<&'a str>,
}

impl<V> LineFacts<'_, V> {
    /// Units that may still be asked back.
    pub fn returnable(&self) -> i32 {
        (self.quantity - self.refunded - self.in_returns).max(0)
    }
}

/// Checks a request for `asked` (sku, units) against the order's `lines`, with a return
/// window of `window_seconds`: every line of the order, of one vendor, returnable by the
/// policy, delivered, within the window, and no more units than are left. Answers the
/// vendor.
pub fn check_request<V: PartialEq + Copy>(
    lines: &[LineFacts<'_, V>],
    asked: &[(&str, i32)],
    window_seconds: u64,
) -> Result<V, Refusal> {
    if asked.is_empty()
        || asked.iter().any(|(_, q)| *q <= 0)
        || asked
            .iter()
            .enumerate()
            .any(|(n, (sku, _))| asked[..n].iter().any(|(o, _)| o == sku))
    {
        return Err(Refusal::BadLines);
    }
    let mut vendor = None;
    for (sku, q) in asked {
        let line = lines
            .iter()
            .find(|l| l.sku == *sku)
            .ok_or_else(|| Refusal::UnknownLine(sku.to_string()))?;
        match vendor {
            None => vendor = Some(line.vendor),
            Some(v) if v != line.vendor => return Err(Refusal::SeveralVendors),
            Some(_) => {}
        }
        if let Some(category) = line.excluded {
            return Err(Refusal::Excluded {
                sku: sku.to_string(),
                category: category.to_string(),
            });
        }
        let ago = line
            .delivered_ago
            .ok_or_else(|| Refusal::NotDelivered(sku.to_string()))?;
        if ago > i64::try_from(window_seconds).unwrap_or(i64::MAX) {
            return Err(Refusal::OutsideWindow(
                sku.to_string(),
                window_seconds / 86_400,
            ));
        }
        if *q > line.returnable() {
            return Err(Refusal::TooMany {
                sku: sku.to_string(),
                asked: *q,
                left: line.returnable(),
            });
        }
    }
    Ok(vendor.unwrap_or_else(|| unreachable!("at least one line")))
}

/// The first of a product's categories (with their ancestors: `categories`) that the policy
/// does not take back (`not_returnable`), if any.
pub fn excluded_category<'a>(
    categories: &'a [String],
    not_returnable: &[String],
) -> Option<&'a str> {
    categories
        .iter()
        .find(|c| not_returnable.contains(c))
        .map(String::as_str)
}

/// Whether the policy approves a request without a person: every line's reason is one it
/// approves by itself, and the goods are worth no more than `max_amount` (minor units).
pub fn auto_approves(
    reasons: &[ReturnReason],
    auto_reasons: &[ReturnReason],
    worth: i64,
    max_amount: i64,
) -> bool {
    !reasons.is_empty() && reasons.iter().all(|r| auto_reasons.contains(r)) && worth <= max_amount
}

/// The longest return window a seller may give, in days.
pub const MAX_VENDOR_WINDOW_DAYS: u32 = 365;
/// The largest restocking fee a seller may keep, in basis points (a quarter).
pub const MAX_VENDOR_FEE_BPS: u32 = 2_500;
/// How many categories a seller may add to those the marketplace does not take back.
pub const MAX_VENDOR_CATEGORIES: usize = 50;

/// A seller's own return policy: what it changes of the marketplace's. Absent fields are the
/// marketplace's. It can never take from the customer what the marketplace gives for the
/// seller's faults: its window only lengthens the marketplace's, and its categories apply to
/// changes of mind only (`ReturnSettings::for_vendor` in the contracts merges it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorReturnPolicy {
    /// Days after delivery a line may be asked back (at least the marketplace's window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_days: Option<u32>,
    /// Kept of what units sent back because the customer changed their mind are worth, in
    /// basis points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restocking_fee_bps: Option<u32>,
    /// Categories (by slug, and their subcategories) the seller does not take back when the
    /// customer changed their mind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_returnable_categories: Vec<String>,
    /// A request whose every line has one of these reasons...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approve_reasons: Option<Vec<ReturnReason>>,
    /// ...worth at most this (minor units of the order's currency) is approved by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approve_max_minor: Option<i64>,
    /// The seller pays the postage back even when the customer changed their mind.
    #[serde(default)]
    pub free_return_postage: bool,
}

/// What is wrong with a field of a seller's return policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    pub field: &'static str,
    pub message: String,
}

impl VendorReturnPolicy {
    /// Whether it changes nothing of the marketplace's policy.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// What is wrong with it, field by field (empty: nothing).
    pub fn problems(&self) -> Vec<PolicyProblem> {
        let mut out = Vec::new();
        let mut bad = |field, message: String| out.push(PolicyProblem { field, message });
        if let Some(d) = self.window_days
            && !(1..=MAX_VENDOR_WINDOW_DAYS).contains(&d)
        {
            bad(
                "window_days",
                format!("the window is 1 to {MAX_VENDOR_WINDOW_DAYS} days, not {d}"),
            );
        }
        if let Some(f) = self.restocking_fee_bps
            && f > MAX_VENDOR_FEE_BPS
        {
            bad(
                "restocking_fee_bps",
                format!("a restocking fee is at most {MAX_VENDOR_FEE_BPS} basis points, not {f}"),
            );
        }
        let cats = &self.non_returnable_categories;
        if cats.len() > MAX_VENDOR_CATEGORIES {
            bad(
                "non_returnable_categories",
                format!("at most {MAX_VENDOR_CATEGORIES} categories"),
            );
        }
        if let Some(c) = cats.iter().find(|c| !crate::catalog::is_slug(c)) {
            bad(
                "non_returnable_categories",
                format!("`{c}` is not a category slug"),
            );
        }
        if let Some((i, c)) = cats
            .iter()
            .enumerate()
            .find(|(i, c)| cats[..*i].contains(c))
        {
            bad(
                "non_returnable_categories",
                format!("`{c}` is named twice (again at {i})"),
            );
        }
        if let Some(m) = self.auto_approve_max_minor
            && m < 0
        {
            bad(
                "auto_approve_max_minor",
                format!("the amount approved by itself cannot be negative ({m})"),
            );
        }
        if let Some(r) = &self.auto_approve_reasons
            && let Some((_, dup)) = r.iter().enumerate().find(|(i, x)| r[..*i].contains(x))
        {
            bad(
                "auto_approve_reasons",
                format!("`{}` is named twice", dup.as_str()),
            );
        }
        out
    }
}

/// The RMA number of a return: `R` and thirteen characters of Crockford base 32 carrying all
/// 64 bits of `entropy` (not guessable from another customer's number, and not colliding).
pub fn rma_no(entropy: u64) -> String {
    const DIGITS: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut out = String::with_capacity(14);
    out.push('R');
    for i in (0..13).rev() {
        out.push(DIGITS[((u128::from(entropy) >> (i * 5)) & 31) as usize] as char);
    }
    out
}

/// Whether `s` is an RMA number as [`rma_no`] makes them.
pub fn is_rma_no(s: &str) -> bool {
    s.len() == 14
        && s.starts_with('R')
        && s[1..]
            .bytes()
            .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_sellers_policy_is_checked_field_by_field() {
        use super::{ReturnReason::*, VendorReturnPolicy};
        let fields =
            |p: &VendorReturnPolicy| p.problems().iter().map(|x| x.field).collect::<Vec<_>>();
        assert!(VendorReturnPolicy::default().problems().is_empty());
        assert!(VendorReturnPolicy::default().is_empty());
        let good = VendorReturnPolicy {
            window_days: Some(365),
            restocking_fee_bps: Some(2_500),
            non_returnable_categories: vec!["gift-cards".into(), "food".into()],
            auto_approve_reasons: Some(vec![Damaged]),
            auto_approve_max_minor: Some(0),
            free_return_postage: true,
        };
        assert!(good.problems().is_empty(), "{:?}", good.problems());
        assert!(!good.is_empty());
        let bad = VendorReturnPolicy {
            window_days: Some(0),
            restocking_fee_bps: Some(2_501),
            non_returnable_categories: vec!["Gift Cards".into()],
            auto_approve_reasons: Some(vec![Damaged, Damaged]),
            auto_approve_max_minor: Some(-1),
            free_return_postage: false,
        };
        assert_eq!(
            fields(&bad),
            [
                "window_days",
                "restocking_fee_bps",
                "non_returnable_categories",
                "auto_approve_max_minor",
                "auto_approve_reasons"
            ]
        );
        let long = VendorReturnPolicy {
            window_days: Some(366),
            non_returnable_categories: vec!["food".into(), "toys".into(), "food".into()],
            ..VendorReturnPolicy::default()
        };
        assert_eq!(fields(&long), ["window_days", "non_returnable_categories"]);
        let many = VendorReturnPolicy {
            non_returnable_categories: (0..51).map(|i| format!("c{i}")).collect(),
            ..VendorReturnPolicy::default()
        };
        assert_eq!(fields(&many), ["non_returnable_categories"]);
    }

    #[test]
    fn the_customer_pays_the_postage_only_of_a_parcel_all_of_their_choice() {
        use super::{PostagePayer, ReturnReason::*};
        assert_eq!(PostagePayer::of(&[ChangedMind]), PostagePayer::Customer);
        assert_eq!(
            PostagePayer::of(&[ChangedMind, ChangedMind]),
            PostagePayer::Customer
        );
        assert_eq!(
            PostagePayer::of(&[ChangedMind, Damaged]),
            PostagePayer::Vendor
        );
        assert_eq!(PostagePayer::of(&[WrongItem]), PostagePayer::Vendor);
        assert_eq!(PostagePayer::of(&[NotAsDescribed]), PostagePayer::Vendor);
        assert_eq!(PostagePayer::of(&[]), PostagePayer::Vendor);
        for p in [PostagePayer::Vendor, PostagePayer::Customer] {
            assert_eq!(PostagePayer::parse(p.as_str()), Some(p));
        }
    }

    use super::*;
    use ReturnStatus::*;

    #[test]
    fn a_return_goes_forward_and_is_cancelled_only_before_the_carrier_has_it() {
        for (from, to) in [
            (Requested, Approved),
            (Requested, Declined),
            (Approved, LabelIssued),
            (Approved, Received),
            (LabelIssued, InTransit),
            (InTransit, Received),
            (Received, Inspected),
            (Inspected, Refunded),
            (Inspected, Closed),
            (Refunded, Closed),
            (Requested, Cancelled),
            (Approved, Cancelled),
            (LabelIssued, Cancelled),
            (Approved, Expired),
            (LabelIssued, Expired),
        ] {
            assert!(from.can_become(to), "{from} → {to}");
        }
        for (from, to) in [
            (Requested, Received),
            (Declined, Approved),
            (InTransit, Cancelled),
            (Received, Cancelled),
            (Refunded, Inspected),
            (Closed, Refunded),
            (InTransit, Expired),
            (Cancelled, Requested),
            (Approved, Approved),
            (Approved, Declined),
        ] {
            assert!(!from.can_become(to), "{from} → {to}");
            assert_eq!(
                from.transition(to),
                Err(IllegalTransition { from, to }),
                "{from} → {to}"
            );
        }
        for s in ReturnStatus::ALL {
            assert_eq!(ReturnStatus::parse(s.as_str()), Some(s));
            if s.is_final() {
                assert!(ReturnStatus::ALL.iter().all(|to| !s.can_become(*to)), "{s}");
            }
        }
    }

    fn facts(
        sku: &str,
        vendor: u8,
        quantity: i32,
        delivered_ago: Option<i64>,
    ) -> LineFacts<'_, u8> {
        LineFacts {
            sku,
            vendor,
            quantity,
            refunded: 0,
            in_returns: 0,
            delivered_ago,
            excluded: None,
        }
    }

    #[test]
    fn a_line_in_a_category_the_policy_does_not_take_back_is_refused() {
        let slugs = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (food, toys) = (slugs(&["food", "groceries"]), slugs(&["toys"]));
        let policy = slugs(&["groceries", "gift-cards"]);
        assert_eq!(excluded_category(&food, &policy), Some("groceries"));
        assert_eq!(excluded_category(&toys, &policy), None);
        assert_eq!(excluded_category(&food, &[]), None);
        let mut lines = vec![facts("A", 1, 1, Some(60)), facts("B", 1, 1, Some(60))];
        lines[1].excluded = excluded_category(&food, &policy);
        assert_eq!(check_request(&lines, &[("A", 1)], 86_400), Ok(1));
        let refused = check_request(&lines, &[("A", 1), ("B", 1)], 86_400).unwrap_err();
        assert_eq!(refused.code(), "not_returnable");
        assert_eq!(
            refused.to_string(),
            "B is in groceries, which is not returnable"
        );
    }

    #[test]
    fn a_request_must_be_for_delivered_units_of_one_seller_inside_the_window() {
        let day = 86_400;
        let mut lines = vec![
            facts("A", 1, 3, Some(2 * day)),
            facts("B", 1, 1, Some(40 * day)),
            facts("C", 2, 1, Some(day)),
            facts("D", 1, 2, None),
        ];
        let window = 30 * day as u64;
        assert_eq!(check_request(&lines, &[("A", 2)], window), Ok(1));
        let refused = |asked: &[(&str, i32)], lines: &[LineFacts<'_, u8>]| {
            check_request(lines, asked, window).unwrap_err().code()
        };
        assert_eq!(refused(&[("B", 1)], &lines), "outside_return_window");
        assert_eq!(refused(&[("D", 1)], &lines), "not_returnable");
        assert_eq!(refused(&[("Z", 1)], &lines), "not_returnable");
        assert_eq!(refused(&[("A", 1), ("C", 1)], &lines), "several_vendors");
        assert_eq!(refused(&[("A", 4)], &lines), "quantity_exceeds_returnable");
        assert_eq!(refused(&[("A", 1), ("A", 1)], &lines), "invalid_lines");
        assert_eq!(refused(&[("A", 0)], &lines), "invalid_lines");
        assert_eq!(refused(&[], &lines), "invalid_lines");
        // One unit refunded by the seller and one in another return: one is left.
        lines[0].refunded = 1;
        lines[0].in_returns = 1;
        assert_eq!(refused(&[("A", 2)], &lines), "quantity_exceeds_returnable");
        assert_eq!(check_request(&lines, &[("A", 1)], window), Ok(1));
    }

    #[test]
    fn the_policy_approves_by_itself_only_its_reasons_under_its_amount() {
        let auto = [ReturnReason::Damaged, ReturnReason::WrongItem];
        assert!(auto_approves(&[ReturnReason::Damaged], &auto, 5_000, 5_000));
        assert!(!auto_approves(
            &[ReturnReason::Damaged],
            &auto,
            5_001,
            5_000
        ));
        assert!(!auto_approves(
            &[ReturnReason::Damaged, ReturnReason::ChangedMind],
            &auto,
            10,
            5_000
        ));
        assert!(!auto_approves(&[], &auto, 0, 5_000));
    }

    #[test]
    fn what_the_warehouse_counts_must_account_for_every_unit_sent_back() {
        let c = Counted {
            sellable: 1,
            damaged: 1,
            wrong_item: 0,
            missing: 0,
        };
        assert!(c.is_valid_for(2));
        assert!(!c.is_valid_for(3));
        assert_eq!(c.refunded(), 2);
        assert!(
            !Counted {
                sellable: -1,
                damaged: 3,
                ..Counted::default()
            }
            .is_valid_for(2)
        );
    }

    #[test]
    fn rma_numbers_carry_64_bits_without_ambiguous_letters() {
        let a = rma_no(0);
        assert_eq!(a, "R0000000000000");
        let b = rma_no(u64::MAX);
        assert_eq!(b, "RFZZZZZZZZZZZZ");
        assert_ne!(rma_no(1 << 63), rma_no(1 << 62));
        assert!(is_rma_no(&a) && is_rma_no(&b) && is_rma_no(&rma_no(0x1234_5678_9abc)));
        assert!(!is_rma_no("R000000000000I") && !is_rma_no("X0000000000000") && !is_rma_no("R000"));
    }
}
