//! Replay: every recorded history must replay on today's workflow code without a
//! nondeterminism error, so a change cannot break executions that are running. Histories are
//! recorded with `./dev record-histories`; a change that must alter a workflow's commands
//! goes behind `ctx.patched(..)`, and the old histories stay here to prove it.

use souk_workflows::{
    CheckoutWorkflow, GoodwillRefundWorkflow, LowStockAlertWorkflow, ReturnWorkflow,
    ShipmentWorkflow,
};
use temporalio_client::WorkflowHistory;
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/histories");

fn replayer() -> WorkflowReplayer {
    // Histories recorded since payloads are encrypted need the (development) key; older ones
    // pass through the codec unchanged.
    let codec = souk_contracts::codec::EncryptionCodec::new(
        souk_contracts::codec::PayloadKeys::parse(souk_contracts::codec::DEV_KEYS).unwrap(),
    );
    let options = WorkflowReplayerOptions::new()
        .register_workflow::<CheckoutWorkflow>()
        .and_then(|o| o.register_workflow::<LowStockAlertWorkflow>())
        .and_then(|o| o.register_workflow::<ShipmentWorkflow>())
        .and_then(|o| o.register_workflow::<ReturnWorkflow>())
        .and_then(|o| o.register_workflow::<GoodwillRefundWorkflow>())
        .expect("workflows register")
        .data_converter(souk_contracts::codec::data_converter(codec))
        .build();
    WorkflowReplayer::new(options).expect("a replayer")
}

#[tokio::test]
async fn recorded_histories_replay_without_nondeterminism() {
    let mut files: Vec<_> = std::fs::read_dir(DIR)
        .expect("tests/histories")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    for expected in [
        // Today's, one per branch: payloads encrypted, the cart held, a coupon held again with
        // the card, reservations extended before each wait and before capture (`cart-hold`,
        // `coupon-card`, `reservation-lease`), the 3-D Secure signal and its timeout, the
        // capture-delay timer, a cancel signal, a reservation lost before capture, the lease
        // renewed while a capture is held, a refund after capture.
        "checkout_completed.json",
        "checkout_compensated.json",
        "checkout_with_coupon.json",
        "checkout_3ds_confirmed.json",
        "checkout_payment_timeout.json",
        "checkout_capture_delay_with_coupon.json",
        "checkout_cancelled.json",
        "checkout_reservation_lost_before_capture.json",
        "checkout_capture_renewed.json",
        "checkout_refunded_after_capture.json",
        "low_stock_alert.json",
        // A checkout that started its shipment while it confirmed, with the shipment's search
        // attributes (`shipments_with_confirmation`; the checkout histories above predate
        // it), and one that started it after (`shipments`); that shipment opened with a local
        // step (`local_open`), packed, labelled, tracked and delivered, the order following
        // it (`orders_follow`, `timers`); a shipment whose fulfilment and scan timers fired; a
        // shipment whose line was cancelled and refunded; the same three opened with an activity
        // on `souk.shipping`, and one recorded before the timers too.
        "checkout_started_shipments.json",
        "checkout_started_shipments_after_confirmation.json",
        // A checkout whose units came from two warehouses: a shipment from each
        // (`split_shipments`).
        "checkout_split_shipments.json",
        // A checkout that asked the catalog for its lines' categories and posted its capture
        // to the ledger while it confirmed (`ledger_capture`; every checkout history above
        // predates it).
        "checkout_posted_to_ledger.json",
        "shipment_delivered.json",
        "shipment_lines_cancelled.json",
        "shipment_late_and_unscanned.json",
        "shipment_delivered_before_local_open.json",
        "shipment_lines_cancelled_before_local_open.json",
        "shipment_late_and_unscanned_before_local_open.json",
        "shipment_delivered_before_timers.json",
        // A return approved by its vendor, labelled, scanned by the carrier on its way and
        // delivered, received, refunded less the postage the customer pays and restocked
        // (the `return_label` and `customer_postage` patches); a declined one; one checked
        // against non-returnable categories, labelled, received before any scan and refunded
        // less a restocking fee and the postage (`non_returnable_categories`,
        // `restocking_fee`); the first and the last recorded before `return_label`; one asked
        // under its seller's own policy (`vendor_return_policy`).
        "return_refunded.json",
        "return_declined.json",
        "return_restocking_fee.json",
        "return_refunded_before_label.json",
        "return_restocking_fee_before_label.json",
        "return_seller_policy.json",
        // A goodwill refund of an amount, refunded and mailed; one refused for more than is
        // left; one the provider refused, released; and a unit refunded before the
        // `release_refused` patch.
        "goodwill_refunded.json",
        "goodwill_refused.json",
        "goodwill_failed.json",
        "goodwill_refunded_before_release.json",
        // The same branches recorded before the `reservation-lease` patch.
        "checkout_completed_before_reservation_lease.json",
        "checkout_compensated_before_reservation_lease.json",
        "checkout_with_coupon_before_reservation_lease.json",
        "checkout_3ds_confirmed_before_reservation_lease.json",
        "checkout_payment_timeout_before_reservation_lease.json",
        "checkout_capture_delay_with_coupon_before_reservation_lease.json",
        "checkout_cancelled_before_reservation_lease.json",
        "checkout_refunded_after_capture_before_reservation_lease.json",
        // Recorded before the `cart-hold` patch, with plain JSON payloads.
        "checkout_completed_before_cart_hold.json",
        "checkout_compensated_before_cart_hold.json",
        "low_stock_alert_unencrypted.json",
        // Recorded before the `local-steps` patch: cart, pricing, inventory and orders steps
        // were activities on their domains' queues.
        "checkout_completed_remote_steps.json",
        "checkout_compensated_remote_steps.json",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} is missing from tests/histories"
        );
    }
    let replayer = replayer();
    for path in files {
        let history =
            WorkflowHistory::from_json(&std::fs::read(&path).unwrap()).expect("a history");
        replayer
            .replay_workflow(history)
            .await
            .unwrap_or_else(|e| panic!("{} does not replay: {e:?}", path.display()));
    }
}
