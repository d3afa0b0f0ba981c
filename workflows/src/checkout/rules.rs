//! The checkout's decisions that need no activity: whether a snapshot may be bought, how long
//! the cart is held, the idempotency keys, what the order and the confirmation say, and how a
//! customer's payment ended. Pure functions, unit-tested here.

use std::time::Duration;

use souk_contracts::cart::CartSnapshot;
use souk_contracts::catalog::SkuFacts;
use souk_contracts::inventory::{Allocation, Reservation};
use souk_contracts::ledger::{CapturedLine, RecordCapture};
use souk_contracts::notifications::{ConfirmationLine, SendOrderConfirmation};
use souk_contracts::orders::{CreateOrder, OrderLine};
use souk_contracts::payments::PaymentAuthorized;
use souk_contracts::shipping::{ShipmentInput, ShipmentLine, ShipmentSettings};
use souk_domain::{Money, quote};

use super::{CheckoutInput, CheckoutSettings, Failure, PaymentOutcome};

/// How long a step before the decision may keep retrying (a domain being down) before the
/// checkout gives up and undoes what it did.
pub(super) const DECISION_STEP_BUDGET: Duration = Duration::from_secs(120);

/// Whether the customer may buy what the snapshot priced: no unit price rose beyond the
/// tolerance since it was put in the cart, and there is something to pay.
pub(super) fn check_snapshot(
    snapshot: &CartSnapshot,
    settings: &CheckoutSettings,
) -> Result<(), Failure> {
    let risen: Vec<String> = snapshot
        .lines
        .iter()
        .filter(|l| {
            quote::rose_beyond(
                l.added_unit_price.amount,
                l.unit_price.amount,
                settings.price_tolerance_bp,
            )
        })
        .map(|l| format!("{} ({} → {})", l.sku, l.added_unit_price, l.unit_price))
        .collect();
    if !risen.is_empty() {
        return Err(Failure {
            code: "price_changed".into(),
            message: format!(
                "prices went up since they were added to the cart: {}",
                risen.join(", ")
            ),
        });
    }
    if snapshot.total.amount <= 0 {
        return Err(Failure {
            code: "nothing_to_pay".into(),
            message: "the order total is zero".into(),
        });
    }
    Ok(())
}

/// The coupon the checkout must hold, if the cart has one; a coupon that no longer applies to
/// the cart as priced stops the checkout.
pub(super) fn coupon_to_hold(snapshot: &CartSnapshot) -> Result<Option<&str>, Failure> {
    match &snapshot.coupon_code {
        None => Ok(None),
        Some(code) if snapshot.coupon_applied => Ok(Some(code)),
        Some(code) => Err(Failure {
            code: "coupon_invalid".into(),
            message: format!("coupon {code} does not apply to this cart any more"),
        }),
    }
}

/// How long the cart is held, a safety net for a hold nobody releases: longer than the
/// checkout can take to capture (the longest wait, the review window, and every step before
/// the decision retrying for its whole budget; the lease adds three extensions).
pub(super) fn cart_hold_seconds(settings: &CheckoutSettings, reservation_lease: bool) -> u64 {
    let decision_steps = if reservation_lease { 9 } else { 6 };
    settings
        .reservation_ttl_seconds
        .max(settings.payment_wait_seconds())
        + settings.capture_delay_seconds
        + decision_steps * DECISION_STEP_BUDGET.as_secs()
}

/// The coupon redemption's key: the same for both holds, the redemption and the release.
pub(super) fn coupon_key(checkout_id: &str, attempt: u32) -> String {
    format!("{checkout_id}:coupon:{attempt}")
}

/// One reservation per line, named by the checkout, the SKU and the attempt.
pub(super) fn reservation_ids(
    checkout_id: &str,
    attempt: u32,
    snapshot: &CartSnapshot,
) -> Vec<String> {
    snapshot
        .lines
        .iter()
        .map(|l| format!("{checkout_id}:reserve:{}:{attempt}", l.sku))
        .collect()
}

/// The order as the snapshot priced it, paid by the authorized payment.
pub(super) fn order(
    input: &CheckoutInput,
    snapshot: &CartSnapshot,
    auth: &PaymentAuthorized,
) -> CreateOrder {
    CreateOrder {
        checkout_id: input.checkout_id.clone(),
        attempt: input.attempt,
        cart_id: input.cart_id.clone(),
        customer_email: input.email.clone(),
        currency: snapshot.currency,
        lines: snapshot
            .lines
            .iter()
            .map(|l| OrderLine {
                sku: l.sku.clone(),
                title: l.title.clone(),
                product_id: l.product_id,
                vendor_id: l.vendor_id,
                quantity: l.quantity,
                unit_price: l.unit_price,
                line_total: l.line_total,
                discount: l.discount,
                tax: l.tax,
            })
            .collect(),
        shipping_by_vendor: snapshot
            .shipping_by_vendor
            .iter()
            .map(|v| (v.vendor_id, v.amount))
            .collect(),
        subtotal: snapshot.subtotal,
        discount: snapshot.discount,
        tax: snapshot.tax,
        shipping: snapshot.shipping,
        total: snapshot.total,
        coupon_code: snapshot.coupon_code.clone(),
        shipping_address: input.shipping_address.clone(),
        payment_provider: auth.provider.clone(),
        payment_reference: auth.reference.clone(),
        customer_id: input.customer_id.clone(),
    }
}

/// The confirmation mail: what was bought, as priced, and where it ships.
pub(super) fn confirmation(
    input: &CheckoutInput,
    snapshot: &CartSnapshot,
    order_no: &str,
) -> SendOrderConfirmation {
    SendOrderConfirmation {
        idempotency_key: format!("{}:confirmation:{}", input.checkout_id, input.attempt),
        to: input.email.clone(),
        order_no: order_no.to_string(),
        lines: snapshot
            .lines
            .iter()
            .map(|l| ConfirmationLine {
                title: l.title.clone(),
                quantity: l.quantity.get(),
                line_total: l.line_total,
            })
            .collect(),
        subtotal: snapshot.subtotal,
        discount: snapshot.discount,
        tax: snapshot.tax,
        shipping: snapshot.shipping,
        total: snapshot.total,
        shipping_address: input.shipping_address.clone(),
    }
}

/// How the wait for the customer's payment ended: confirmed, failed as the provider said, or
/// timed out after `wait_seconds`. A timeout counts even if a report arrives in the same
/// moment, as before.
pub(super) fn payment_result(
    outcome: Option<PaymentOutcome>,
    timed_out: bool,
    wait_seconds: u64,
) -> Result<(), Failure> {
    if timed_out {
        return Err(Failure {
            code: "payment_timeout".into(),
            message: format!("the payment was not confirmed within {wait_seconds} seconds"),
        });
    }
    match outcome {
        Some(PaymentOutcome::Failed(update)) => Err(Failure {
            code: "card_declined".into(),
            message: update.reason.unwrap_or_else(|| "the payment failed".into()),
        }),
        Some(PaymentOutcome::Confirmed) | None => Ok(()),
    }
}

/// The shipments of an order: one per vendor, in the order its vendors first appear in the
/// cart, each with its lines and the warehouse each line's stock was reserved in (`warehouses`,
/// line by line; lines past its end ship from `unassigned`). Its workflow id names the order
/// and the vendor.
pub(super) fn shipments(
    input: &CheckoutInput,
    snapshot: &CartSnapshot,
    warehouses: &[String],
    order_no: &str,
    settings: &ShipmentSettings,
) -> Vec<(String, ShipmentInput)> {
    let mut vendors: Vec<uuid::Uuid> = Vec::new();
    for l in &snapshot.lines {
        if !vendors.contains(&l.vendor_id) {
            vendors.push(l.vendor_id);
        }
    }
    vendors
        .into_iter()
        .map(|vendor| {
            let lines = snapshot
                .lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.vendor_id == vendor)
                .map(|(i, l)| {
                    let warehouse = warehouses.get(i).map_or("unassigned", String::as_str);
                    shipment_line(snapshot, i, l.quantity.get(), warehouse)
                })
                .collect();
            (
                souk_contracts::shipping::workflow_id(order_no, vendor),
                shipment(
                    input,
                    snapshot,
                    order_no,
                    settings,
                    vendor,
                    lines,
                    Vec::new(),
                ),
            )
        })
        .collect()
}

/// `units` of the cart's line `i`, leaving from `warehouse`.
fn shipment_line(snapshot: &CartSnapshot, i: usize, units: i64, warehouse: &str) -> ShipmentLine {
    let l = &snapshot.lines[i];
    ShipmentLine {
        sku: l.sku.clone(),
        title: l.title.clone(),
        quantity: i32::try_from(units).unwrap_or(i32::MAX),
        warehouse: warehouse.to_string(),
    }
}

/// The shipment of `lines` of `vendor`'s part of the order (`parts`: as in `ShipmentInput`).
fn shipment(
    input: &CheckoutInput,
    snapshot: &CartSnapshot,
    order_no: &str,
    settings: &ShipmentSettings,
    vendor: uuid::Uuid,
    lines: Vec<ShipmentLine>,
    parts: Vec<String>,
) -> ShipmentInput {
    ShipmentInput {
        order_no: order_no.to_string(),
        vendor_id: vendor,
        customer_email: input.email.clone(),
        ship_to: input.shipping_address.clone(),
        currency: snapshot.currency,
        lines,
        settings: settings.clone(),
        parts,
    }
}

/// Where a reservation's units come from, by warehouse (a reservation from before
/// allocations were reported, or whose parts do not add up to it: all from its warehouse).
pub(super) fn allocations(r: &Reservation) -> Vec<Allocation> {
    let given: i64 = r.allocations.iter().map(|a| a.quantity).sum();
    if r.allocations.is_empty()
        || given != r.quantity
        || r.allocations.iter().any(|a| a.quantity < 0)
    {
        vec![Allocation {
            warehouse: r.warehouse.clone(),
            quantity: r.quantity,
        }]
    } else {
        r.allocations.clone()
    }
}

/// A warehouse and what it gives of a vendor's lines: `(line index, units)`.
type FromWarehouse = (String, Vec<(usize, i64)>);

/// Each vendor with its units by warehouse, in the order the vendors, and then the
/// warehouses, first appear in the cart's lines.
fn by_vendor_and_warehouse(
    snapshot: &CartSnapshot,
    allocations: &[Vec<Allocation>],
) -> Vec<(uuid::Uuid, Vec<FromWarehouse>)> {
    let mut plan: Vec<(uuid::Uuid, Vec<FromWarehouse>)> = Vec::new();
    for (i, l) in snapshot.lines.iter().enumerate() {
        let sources = match allocations.get(i) {
            Some(a) if !a.is_empty() => a.clone(),
            _ => vec![Allocation {
                warehouse: "unassigned".into(),
                quantity: l.quantity.get(),
            }],
        };
        let at = match plan.iter().position(|(v, _)| *v == l.vendor_id) {
            Some(at) => at,
            None => {
                plan.push((l.vendor_id, Vec::new()));
                plan.len() - 1
            }
        };
        let warehouses = &mut plan[at].1;
        for a in sources.into_iter().filter(|a| a.quantity > 0) {
            match warehouses.iter_mut().find(|(w, _)| *w == a.warehouse) {
                Some((_, lines)) => lines.push((i, a.quantity)),
                None => warehouses.push((a.warehouse, vec![(i, a.quantity)])),
            }
        }
    }
    plan
}

/// Whether some vendor's units were reserved in more than one warehouse.
pub(super) fn ships_from_several_warehouses(
    snapshot: &CartSnapshot,
    allocations: &[Vec<Allocation>],
) -> bool {
    by_vendor_and_warehouse(snapshot, allocations)
        .iter()
        .any(|(_, warehouses)| warehouses.len() > 1)
}

/// The shipments of an order by vendor and warehouse: a vendor whose units were all reserved
/// in one warehouse gets one shipment, as in [`shipments`]; one reserved in several gets a
/// shipment from each (the first `shipment-<order_no>-<vendor>`, the next ones `...-2`, ...),
/// each with the units that warehouse gives and every one naming all of them (`parts`), so
/// the vendor's part follows them together.
pub(super) fn shipments_by_warehouse(
    input: &CheckoutInput,
    snapshot: &CartSnapshot,
    allocations: &[Vec<Allocation>],
    order_no: &str,
    settings: &ShipmentSettings,
) -> Vec<(String, ShipmentInput)> {
    let mut planned = Vec::new();
    for (vendor, warehouses) in by_vendor_and_warehouse(snapshot, allocations) {
        let ids: Vec<String> = (1..=warehouses.len())
            .map(|n| souk_contracts::shipping::part_workflow_id(order_no, vendor, n))
            .collect();
        let parts = if ids.len() > 1 {
            ids.clone()
        } else {
            Vec::new()
        };
        for (id, (warehouse, lines)) in ids.into_iter().zip(warehouses) {
            let lines = lines
                .into_iter()
                .map(|(i, units)| shipment_line(snapshot, i, units, &warehouse))
                .collect();
            let shipment = shipment(
                input,
                snapshot,
                order_no,
                settings,
                vendor,
                lines,
                parts.clone(),
            );
            planned.push((id, shipment));
        }
    }
    planned
}

/// What the ledger is told of a capture: each line as the snapshot priced it, with the
/// categories the catalog files its product in, and each vendor's shipping.
pub(super) fn ledger_capture(
    input: &CheckoutInput,
    snapshot: &CartSnapshot,
    order_no: &str,
    captured: Money,
    facts: &[SkuFacts],
    at: Option<std::time::SystemTime>,
) -> RecordCapture {
    RecordCapture {
        checkout_id: input.checkout_id.clone(),
        order_no: order_no.to_string(),
        currency: snapshot.currency,
        amount: captured,
        captured_at: at.map(chrono::DateTime::<chrono::Utc>::from),
        lines: snapshot
            .lines
            .iter()
            .map(|l| CapturedLine {
                sku: l.sku.clone(),
                vendor_id: l.vendor_id,
                categories: facts
                    .iter()
                    .find(|f| f.sku == l.sku)
                    .map(|f| f.category_slugs.clone())
                    .unwrap_or_default(),
                quantity: l.quantity.get(),
                unit_price: l.unit_price.amount,
                line_total: l.line_total.amount,
                discount: l.discount.amount,
                tax: l.tax.amount,
            })
            .collect(),
        shipping_by_vendor: snapshot
            .shipping_by_vendor
            .iter()
            .map(|v| (v.vendor_id, v.amount.amount))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn split_input() -> CheckoutInput {
        serde_json::from_value(json!({
            "checkout_id": "checkout-c1", "attempt": 1, "cart_id": "c1", "email": "ada@example.com",
            "shipping_address": {"name": "Ada", "line1": "1 Main St", "city": "Town",
                                 "postal_code": "12345", "country": "US"},
            "payment": {"payment_method": "pm_card_visa"},
            "settings": {"reservation_ttl_seconds": 900, "price_tolerance_bp": 0},
        }))
        .unwrap()
    }

    fn from(parts: &[(&str, i64)]) -> Vec<Allocation> {
        parts
            .iter()
            .map(|(w, q)| Allocation {
                warehouse: w.to_string(),
                quantity: *q,
            })
            .collect()
    }

    #[test]
    fn a_vendor_reserved_in_two_warehouses_gets_a_shipment_from_each() {
        let other = "0190b5b4-0000-7000-8000-0000000000ff";
        let mut tea = line("TEA-1", 1, 1, 3);
        tea["vendor_id"] = json!(other);
        let s = snapshot(
            vec![line("MUG-1", 1, 1, 5), tea, line("CUP-1", 1, 1, 1)],
            None,
        );
        let input = split_input();
        // MUG-1: 3 from east, 2 from west; TEA-1 (the other vendor): west; CUP-1: west.
        let allocations = [
            from(&[("east", 3), ("west", 2)]),
            from(&[("west", 3)]),
            from(&[("west", 1)]),
        ];
        assert!(ships_from_several_warehouses(&s, &allocations));
        let planned = shipments_by_warehouse(
            &input,
            &s,
            &allocations,
            "SK-100042",
            &ShipmentSettings::default(),
        );
        let vendor = "0190b5b4-0000-7000-8000-000000000002";
        let ids: Vec<&str> = planned.iter().map(|(id, _)| id.as_str()).collect();
        let first = format!("shipment-SK-100042-{vendor}");
        let second = format!("shipment-SK-100042-{vendor}-2");
        let theirs = format!("shipment-SK-100042-{other}");
        assert_eq!(ids, [first.as_str(), second.as_str(), theirs.as_str()]);
        let lines = |n: usize| -> Vec<(&str, i32, &str)> {
            planned[n]
                .1
                .lines
                .iter()
                .map(|l| (l.sku.as_str(), l.quantity, l.warehouse.as_str()))
                .collect()
        };
        assert_eq!(lines(0), [("MUG-1", 3, "east")]);
        assert_eq!(lines(1), [("MUG-1", 2, "west"), ("CUP-1", 1, "west")]);
        assert_eq!(lines(2), [("TEA-1", 3, "west")]);
        // The vendor's two shipments name each other; the other vendor's is its whole part.
        assert_eq!(planned[0].1.parts, [first.clone(), second.clone()]);
        assert_eq!(planned[1].1.parts, planned[0].1.parts);
        assert!(planned[2].1.parts.is_empty());
        // Every unit ships exactly once.
        let units: i32 = planned
            .iter()
            .flat_map(|p| &p.1.lines)
            .map(|l| l.quantity)
            .sum();
        assert_eq!(units, 9);
    }

    #[test]
    fn reservations_from_one_warehouse_per_vendor_plan_as_before() {
        let s = snapshot(vec![line("MUG-1", 1, 1, 2), line("CUP-1", 1, 1, 1)], None);
        let allocations = [from(&[("east", 2)]), from(&[("east", 1)])];
        assert!(!ships_from_several_warehouses(&s, &allocations));
        let input = split_input();
        let warehouses = ["east".to_string(), "east".to_string()];
        let settings = ShipmentSettings::default();
        assert_eq!(
            shipments_by_warehouse(&input, &s, &allocations, "SK-1", &settings),
            shipments(&input, &s, &warehouses, "SK-1", &settings)
        );
        // A reservation from before allocations were reported comes from its warehouse.
        let r: Reservation = serde_json::from_value(json!({
            "reservation_id": "r1", "sku": "MUG-1", "warehouse": "east", "quantity": 2,
            "state": "reserved", "expires_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(super::allocations(&r), from(&[("east", 2)]));
        // Parts that do not add up to the reservation are not trusted.
        let odd = Reservation {
            allocations: from(&[("east", 1), ("west", 2)]),
            ..r
        };
        assert_eq!(super::allocations(&odd), from(&[("east", 2)]));
    }

    fn settings() -> CheckoutSettings {
        CheckoutSettings {
            reservation_ttl_seconds: 900,
            capture_delay_seconds: 0,
            price_tolerance_bp: 500,
            payment_wait_seconds: None,
            shipment: None,
        }
    }

    fn line(sku: &str, added: i64, now: i64, quantity: i64) -> serde_json::Value {
        let money = |amount: i64| json!({"amount": amount, "currency": "EUR"});
        json!({
            "sku": sku, "title": format!("Item {sku}"),
            "product_id": "0190b5b4-0000-7000-8000-000000000001",
            "vendor_id": "0190b5b4-0000-7000-8000-000000000002",
            "quantity": quantity, "unit_price": money(now), "added_unit_price": money(added),
            "line_total": money(now * quantity), "discount": money(0), "tax": money(0),
        })
    }

    fn snapshot(lines: Vec<serde_json::Value>, coupon: Option<(&str, bool)>) -> CartSnapshot {
        let total: i64 = lines
            .iter()
            .map(|l| l["line_total"]["amount"].as_i64().unwrap())
            .sum();
        let money = |amount: i64| json!({"amount": amount, "currency": "EUR"});
        serde_json::from_value(json!({
            "snapshot_id": "0190b5b4-0000-7000-8000-000000000003",
            "cart_id": "c1", "checkout_id": "checkout-c1", "attempt": 1,
            "currency": "EUR", "country": "DE", "lines": lines,
            "coupon_code": coupon.map(|c| c.0), "coupon_applied": coupon.is_some_and(|c| c.1),
            "subtotal": money(total), "discount": money(0), "tax": money(0),
            "shipping": money(0), "total": money(total),
        }))
        .expect("a snapshot")
    }

    #[test]
    fn a_price_rise_within_the_tolerance_is_bought_one_beyond_it_stops_the_checkout() {
        // 5 % of 20.00 is 1.00: 21.00 is accepted, 21.01 is not.
        let within = snapshot(vec![line("MUG-1", 2000, 2100, 2)], None);
        assert_eq!(check_snapshot(&within, &settings()), Ok(()));
        let beyond = snapshot(
            vec![line("MUG-1", 2000, 2101, 1), line("TEA-1", 500, 400, 1)],
            None,
        );
        let failure = check_snapshot(&beyond, &settings()).unwrap_err();
        assert_eq!(failure.code, "price_changed");
        assert!(failure.message.contains("MUG-1"), "{}", failure.message);
        // A price that fell is never a reason to stop.
        assert!(!failure.message.contains("TEA-1"), "{}", failure.message);
    }

    #[test]
    fn a_free_cart_is_not_checked_out() {
        let free = snapshot(vec![line("GIFT-1", 0, 0, 1)], None);
        assert_eq!(
            check_snapshot(&free, &settings()).unwrap_err().code,
            "nothing_to_pay"
        );
    }

    #[test]
    fn a_coupon_is_held_only_while_it_still_applies() {
        assert_eq!(coupon_to_hold(&snapshot(vec![], None)), Ok(None));
        assert_eq!(
            coupon_to_hold(&snapshot(vec![], Some(("SPRING", true)))),
            Ok(Some("SPRING"))
        );
        let stale = coupon_to_hold(&snapshot(vec![], Some(("SPRING", false)))).unwrap_err();
        assert_eq!(stale.code, "coupon_invalid");
        assert!(stale.message.contains("SPRING"));
    }

    #[test]
    fn the_cart_is_held_longer_than_the_checkout_can_take_to_capture() {
        let budget = DECISION_STEP_BUDGET.as_secs();
        assert_eq!(cart_hold_seconds(&settings(), false), 900 + 6 * budget);
        assert_eq!(cart_hold_seconds(&settings(), true), 900 + 9 * budget);
        // The longest wait counts, and the review window adds to it.
        let slow = CheckoutSettings {
            payment_wait_seconds: Some(1800),
            capture_delay_seconds: 60,
            ..settings()
        };
        assert_eq!(cart_hold_seconds(&slow, true), 1800 + 60 + 9 * budget);
    }

    #[test]
    fn keys_name_the_checkout_the_step_and_the_attempt() {
        let s = snapshot(vec![line("MUG-1", 1, 1, 1), line("TEA-1", 1, 1, 1)], None);
        assert_eq!(
            reservation_ids("checkout-c1", 2, &s),
            ["checkout-c1:reserve:MUG-1:2", "checkout-c1:reserve:TEA-1:2"]
        );
        assert_eq!(coupon_key("checkout-c1", 2), "checkout-c1:coupon:2");
    }

    #[test]
    fn the_payment_wait_ends_by_timeout_failure_or_confirmation() {
        use souk_contracts::payments::signals::PaymentUpdate;
        let failed = PaymentUpdate {
            reference: "pi_1".into(),
            reason: Some("authentication_failed".into()),
        };
        assert_eq!(
            payment_result(Some(PaymentOutcome::Confirmed), false, 60),
            Ok(())
        );
        let declined = payment_result(Some(PaymentOutcome::Failed(failed)), false, 60).unwrap_err();
        assert_eq!(
            (declined.code.as_str(), declined.message.as_str()),
            ("card_declined", "authentication_failed")
        );
        let late = payment_result(Some(PaymentOutcome::Confirmed), true, 60).unwrap_err();
        assert_eq!(late.code, "payment_timeout");
        assert!(late.message.contains("60 seconds"));
    }

    #[test]
    fn each_vendor_gets_one_shipment_with_its_lines_and_their_warehouses() {
        let other = "0190b5b4-0000-7000-8000-0000000000ff";
        let mut tea = line("TEA-1", 1, 1, 3);
        tea["vendor_id"] = json!(other);
        let s = snapshot(
            vec![line("MUG-1", 1, 1, 2), tea, line("CUP-1", 1, 1, 1)],
            None,
        );
        let input: CheckoutInput = serde_json::from_value(json!({
            "checkout_id": "checkout-c1", "attempt": 1, "cart_id": "c1", "email": "ada@example.com",
            "shipping_address": {"name": "Ada", "line1": "1 Main St", "city": "Town",
                                 "postal_code": "12345", "country": "US"},
            "payment": {"payment_method": "pm_card_visa"},
            "settings": {"reservation_ttl_seconds": 900, "price_tolerance_bp": 0},
        }))
        .unwrap();
        let warehouses = ["east".to_string(), "west".to_string(), "west".to_string()];
        let planned = shipments(
            &input,
            &s,
            &warehouses,
            "SK-100042",
            &ShipmentSettings::default(),
        );
        assert_eq!(planned.len(), 2, "one per vendor");
        let (id, first) = &planned[0];
        assert_eq!(
            id,
            "shipment-SK-100042-0190b5b4-0000-7000-8000-000000000002"
        );
        let lines: Vec<_> = first
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity, l.warehouse.as_str()))
            .collect();
        assert_eq!(lines, [("MUG-1", 2, "east"), ("CUP-1", 1, "west")]);
        let (id, second) = &planned[1];
        assert!(id.ends_with(other));
        assert_eq!(second.lines.len(), 1);
        assert_eq!(
            (second.lines[0].quantity, second.lines[0].warehouse.as_str()),
            (3, "west")
        );
        assert_eq!(second.customer_email, "ada@example.com");
        assert_eq!(second.ship_to, input.shipping_address);
        // Fewer warehouses than lines (never in practice): the rest are unassigned.
        let planned = shipments(&input, &s, &[], "SK-100042", &ShipmentSettings::default());
        assert_eq!(planned[0].1.lines[0].warehouse, "unassigned");
    }
}
