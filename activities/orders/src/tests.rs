//! Orders: creation idempotent by checkout attempt, split by vendor, cancellation with a
//! tombstone, and the guarded status machine.

use souk_contracts::orders::{Address, CreateOrder, OrderLine, RecordFulfilment};
use souk_domain::order::{OrderStatus, PaymentStatus, SubOrderStatus};
use souk_domain::{CountryCode, Currency, Money, Quantity, Sku};
use sqlx::PgPool;
use uuid::Uuid;

use super::store::{self, Error};
use souk_kit::Ctx;
use souk_kit::testing::test_schema;

fn usd(a: i64) -> Money {
    Money::new(a, Currency::USD)
}

fn line(sku: &str, vendor: Uuid, qty: i64, price: i64) -> OrderLine {
    OrderLine {
        sku: Sku::parse(sku).unwrap(),
        title: sku.into(),
        product_id: Uuid::now_v7(),
        vendor_id: vendor,
        quantity: Quantity::new(qty).unwrap(),
        unit_price: usd(price),
        line_total: usd(price * qty),
        discount: usd(0),
        tax: usd(0),
    }
}

fn order(checkout: &str, attempt: u32) -> CreateOrder {
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    CreateOrder {
        checkout_id: checkout.into(),
        attempt,
        cart_id: "cart".into(),
        customer_email: "ada@example.com".into(),
        currency: Currency::USD,
        lines: vec![
            line("A-1", a, 2, 1_000),
            line("A-2", a, 1, 500),
            line("B-1", b, 1, 3_000),
        ],
        shipping_by_vendor: vec![(a, usd(599)), (b, usd(0))],
        subtotal: usd(5_500),
        discount: usd(0),
        tax: usd(0),
        shipping: usd(599),
        total: usd(6_099),
        coupon_code: None,
        shipping_address: Address {
            name: "Ada".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "Springfield".into(),
            postal_code: "12345".into(),
            country: CountryCode::US,
        },
        payment_provider: "sandbox".into(),
        payment_reference: "pi_sb_1".into(),
        customer_id: None,
    }
}

#[sqlx::test(migrations = false)]
async fn an_order_is_split_by_vendor_and_created_once_per_attempt(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::system();
    let first = store::create(&pool, &ctx, &order("co-1", 1)).await.unwrap();
    let again = store::create(&pool, &ctx, &order("co-1", 1)).await.unwrap();
    assert_eq!(first, again);
    assert!(first.order_no.starts_with("SK-"));
    let next = store::create(&pool, &ctx, &order("co-1", 2)).await.unwrap();
    assert_ne!(
        first.order_no, next.order_no,
        "a new attempt is a new order"
    );
    let o = store::by_order_no(&pool, &first.order_no)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.lines.len(), 3);
    assert_eq!(o.sub_orders.len(), 2);
    let totals: i64 = o.sub_orders.iter().map(|s| s.total).sum();
    assert_eq!(totals, o.total, "sub-orders add up to the order");
    assert!(
        o.sub_orders
            .iter()
            .any(|s| s.subtotal == 2_500 && s.shipping == 599)
    );
    assert_eq!(o.timeline.len(), 1);
    assert_eq!(o.timeline[0].event, "placed");
}

fn fulfil(order_no: &str, vendor: Uuid, status: SubOrderStatus) -> RecordFulfilment {
    RecordFulfilment {
        order_no: order_no.into(),
        vendor_id: vendor,
        status,
        actor: "carrier:sandbox".into(),
        note: Some("SBX123".into()),
        shipment: None,
        parts: Vec::new(),
    }
}

/// Reports of `vendor`'s part of `order_no` shipped in two shipments: `report(n, status)` is
/// shipment `n`'s (0 or 1).
fn split_reports(
    order_no: &str,
    vendor: Uuid,
) -> impl Fn(usize, SubOrderStatus) -> RecordFulfilment {
    let parts = vec![
        format!("shipment-{order_no}-{vendor}"),
        format!("shipment-{order_no}-{vendor}-2"),
    ];
    let order_no = order_no.to_string();
    move |n, status| RecordFulfilment {
        shipment: Some(parts[n].clone()),
        parts: parts.clone(),
        ..fulfil(&order_no, vendor, status)
    }
}

#[sqlx::test(migrations = false)]
async fn a_part_shipped_from_two_warehouses_follows_both_shipments(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::new("workflow:shipment");
    let input = order("co-parts", 1);
    let (a, b) = (input.lines[0].vendor_id, input.lines[2].vendor_id);
    let o = store::create(&pool, &ctx, &input).await.unwrap();
    let no = o.order_no.as_str();
    let report = split_reports(no, a);
    use SubOrderStatus as S;
    let steps = [
        (
            report(0, S::Processing),
            S::Processing,
            OrderStatus::Processing,
        ),
        // One of the two left: the part is still being prepared, the order partly shipped.
        (
            report(0, S::Shipped),
            S::Processing,
            OrderStatus::PartiallyShipped,
        ),
        (
            report(0, S::Shipped),
            S::Processing,
            OrderStatus::PartiallyShipped,
        ),
        (
            report(1, S::Processing),
            S::Processing,
            OrderStatus::PartiallyShipped,
        ),
        (
            report(1, S::Shipped),
            S::Shipped,
            OrderStatus::PartiallyShipped,
        ),
        // The other vendor, in one shipment.
        (fulfil(no, b, S::Shipped), S::Shipped, OrderStatus::Shipped),
        (report(1, S::Delivered), S::Shipped, OrderStatus::Shipped),
        // A late report of a step passed: nothing moves back.
        (report(1, S::Processing), S::Shipped, OrderStatus::Shipped),
        (report(0, S::Delivered), S::Delivered, OrderStatus::Shipped),
        (
            fulfil(no, b, S::Delivered),
            S::Delivered,
            OrderStatus::Delivered,
        ),
    ];
    for (n, (r, part, whole)) in steps.into_iter().enumerate() {
        let done = store::record_fulfilment(&pool, &ctx, &r).await.unwrap();
        assert_eq!((done.sub_order, done.order), (part, whole), "step {n}");
    }
    let detail = store::by_order_no(&pool, no).await.unwrap().unwrap();
    assert_eq!(detail.status, "delivered");
    let moves = detail
        .timeline
        .iter()
        .filter(|t| t.event.starts_with("shipment_"))
        .count();
    assert_eq!(moves, 6, "each shipment's three moves, once each");

    // A part whose packed shipment is cancelled while the other waits stays processing (it
    // never moves back), and is cancelled once the other is too.
    let input = order("co-parts-2", 1);
    let a = input.lines[0].vendor_id;
    let o = store::create(&pool, &ctx, &input).await.unwrap();
    let no = o.order_no.as_str();
    let report = split_reports(no, a);
    for (r, part) in [
        (report(0, S::Processing), S::Processing),
        (report(0, S::Cancelled), S::Processing),
        (report(1, S::Cancelled), S::Cancelled),
    ] {
        let done = store::record_fulfilment(&pool, &ctx, &r).await.unwrap();
        assert_eq!(done.sub_order, part);
    }
    // A shipment cannot move in a way the machine refuses.
    let late = store::record_fulfilment(&pool, &ctx, &report(1, S::Shipped)).await;
    assert!(matches!(late, Err(Error::SubOrder(_))), "{late:?}");

    // An order cancelled as a whole: no shipment of it moves on, and it stays cancelled.
    let input = order("co-parts-3", 1);
    let a = input.lines[0].vendor_id;
    let o = store::create(&pool, &ctx, &input).await.unwrap();
    let no = o.order_no.as_str();
    let report = split_reports(no, a);
    store::record_fulfilment(&pool, &ctx, &report(0, S::Processing))
        .await
        .unwrap();
    store::cancel(&pool, &ctx, "co-parts-3", 1, "refunded", None)
        .await
        .unwrap();
    let moved = store::record_fulfilment(&pool, &ctx, &report(1, S::Processing)).await;
    assert!(matches!(moved, Err(Error::SubOrder(_))), "{moved:?}");
    let detail = store::by_order_no(&pool, no).await.unwrap().unwrap();
    assert_eq!(detail.status, "cancelled");
}

#[sqlx::test(migrations = false)]
async fn the_order_follows_its_vendors_sub_orders(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::new("workflow:shipment");
    let input = order("co-2", 1);
    let (a, b) = (input.lines[0].vendor_id, input.lines[2].vendor_id);
    let o = store::create(&pool, &ctx, &input).await.unwrap();
    let no = o.order_no.as_str();
    let steps = [
        (a, SubOrderStatus::Processing, OrderStatus::Processing),
        // A retried report changes nothing.
        (a, SubOrderStatus::Processing, OrderStatus::Processing),
        (a, SubOrderStatus::Shipped, OrderStatus::PartiallyShipped),
        (b, SubOrderStatus::Processing, OrderStatus::PartiallyShipped),
        // A late report of a step passed: nothing moves back.
        (a, SubOrderStatus::Processing, OrderStatus::PartiallyShipped),
        // Every part has left: shipped, whichever arrived already.
        (b, SubOrderStatus::Delivered, OrderStatus::Shipped),
        (a, SubOrderStatus::Shipped, OrderStatus::Shipped),
        (a, SubOrderStatus::Delivered, OrderStatus::Delivered),
    ];
    for (vendor, to, expected) in steps {
        let done = store::record_fulfilment(&pool, &ctx, &fulfil(no, vendor, to))
            .await
            .unwrap();
        assert_eq!(done.order, expected, "{vendor} {to}");
    }
    let detail = store::by_order_no(&pool, no).await.unwrap().unwrap();
    assert_eq!(detail.status, "delivered");
    assert!(detail.sub_orders.iter().all(|s| s.status == "delivered"));
    let events: Vec<(&str, &str)> = detail
        .timeline
        .iter()
        .map(|t| (t.event.as_str(), t.actor.as_str()))
        .collect();
    assert_eq!(
        events,
        [
            ("placed", "workflow:shipment"),
            ("sub_order_processing", "carrier:sandbox"),
            ("processing", "carrier:sandbox"),
            ("sub_order_shipped", "carrier:sandbox"),
            ("partially_shipped", "carrier:sandbox"),
            ("sub_order_processing", "carrier:sandbox"),
            ("sub_order_delivered", "carrier:sandbox"),
            ("shipped", "carrier:sandbox"),
            ("sub_order_delivered", "carrier:sandbox"),
            ("delivered", "carrier:sandbox"),
        ]
    );
    assert_eq!(
        detail.timeline[1].note.as_deref(),
        Some(format!("vendor {a}: SBX123").as_str())
    );
    // The machine refuses what cannot happen; an unknown vendor or order is not found.
    let returned =
        store::record_fulfilment(&pool, &ctx, &fulfil(no, a, SubOrderStatus::Cancelled)).await;
    assert!(matches!(returned, Err(Error::SubOrder(_))), "{returned:?}");
    let stranger = store::record_fulfilment(
        &pool,
        &ctx,
        &fulfil(no, Uuid::now_v7(), SubOrderStatus::Shipped),
    )
    .await;
    assert!(matches!(stranger, Err(Error::NotFound(_))), "{stranger:?}");
    let nothing = store::record_fulfilment(
        &pool,
        &ctx,
        &fulfil("SK-999999", a, SubOrderStatus::Shipped),
    )
    .await;
    assert!(matches!(nothing, Err(Error::NotFound(_))));
}

#[sqlx::test(migrations = false)]
async fn an_order_whose_every_part_is_cancelled_is_cancelled(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::system();
    let input = order("co-4", 1);
    let (a, b) = (input.lines[0].vendor_id, input.lines[2].vendor_id);
    let o = store::create(&pool, &ctx, &input).await.unwrap();
    let cancel = |v| fulfil(&o.order_no, v, SubOrderStatus::Cancelled);
    let one = store::record_fulfilment(&pool, &ctx, &cancel(a))
        .await
        .unwrap();
    assert_eq!(one.order, OrderStatus::Placed);
    let both = store::record_fulfilment(&pool, &ctx, &cancel(b))
        .await
        .unwrap();
    assert_eq!(both.order, OrderStatus::Cancelled);
    // Once cancelled, it is: a cancelled part never ships.
    let ships = store::record_fulfilment(
        &pool,
        &ctx,
        &fulfil(&o.order_no, a, SubOrderStatus::Shipped),
    )
    .await;
    assert!(matches!(ships, Err(Error::SubOrder(_))));
    // And a cancelled order stays one when the payment is undone later.
    store::cancel(&pool, &ctx, "co-4", 1, "refunded", None)
        .await
        .unwrap();
}

#[sqlx::test(migrations = false)]
async fn cancelling_is_idempotent_and_blocks_a_late_create(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::system();
    let o = store::create(&pool, &ctx, &order("co-3", 1)).await.unwrap();
    store::cancel(
        &pool,
        &ctx,
        "co-3",
        1,
        "card_declined",
        Some(PaymentStatus::Voided),
    )
    .await
    .unwrap();
    store::cancel(
        &pool,
        &ctx,
        "co-3",
        1,
        "card_declined",
        Some(PaymentStatus::Voided),
    )
    .await
    .unwrap();
    let d = store::by_order_no(&pool, &o.order_no)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (d.status.as_str(), d.payment_status.as_str()),
        ("cancelled", "voided")
    );
    assert_eq!(
        d.timeline.iter().filter(|t| t.event == "cancelled").count(),
        1
    );

    // The compensation overtook a slow create: the create must not place an order.
    store::cancel(&pool, &ctx, "co-4", 1, "timed out", None)
        .await
        .unwrap();
    let late = store::create(&pool, &ctx, &order("co-4", 1)).await;
    assert!(matches!(late, Err(Error::Cancelled { .. })));
    assert!(
        store::order_no_for(&pool, "co-4", 1)
            .await
            .unwrap()
            .is_none()
    );
}

#[sqlx::test(migrations = false)]
async fn units_given_back_are_worth_their_share_once_per_key_and_all_of_it_is_the_whole(
    pool: PgPool,
) {
    use souk_contracts::orders::{LINE_REFUND_SEQUENCES, LineUnits, RefundLines};
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::new("workflow:shipment");
    let input = order("co-5", 1);
    let a = input.lines[0].vendor_id;
    let o = store::create(&pool, &ctx, &input).await.unwrap();
    let give = |key: &str, lines: &[(&str, i32)]| RefundLines {
        order_no: o.order_no.clone(),
        vendor_id: a,
        refund_key: key.into(),
        lines: lines
            .iter()
            .map(|(sku, q)| LineUnits {
                sku: Sku::parse(sku).unwrap(),
                quantity: *q,
            })
            .collect(),
        reason: "lost".into(),
        actor: "user:vendor".into(),
    };
    // Vendor A: 2 × A-1 at 10.00 and 1 × A-2 at 5.00, 5.99 shipping (by value: 4.79 / 1.20).
    let first = store::refund_lines(&pool, &ctx, &give("k/1", &[("A-1", 1)]))
        .await
        .unwrap();
    assert_eq!(
        first.amount,
        usd(1_000 + 239),
        "a unit and half its line's shipping"
    );
    assert_eq!(first.sequence, LINE_REFUND_SEQUENCES);
    assert!(!first.order_refunded);
    let again = store::refund_lines(&pool, &ctx, &give("k/1", &[("A-1", 1)]))
        .await
        .unwrap();
    assert_eq!(again, first, "once per key");
    for bad in [
        give("k/2", &[("A-1", 2)]),
        give("k/2", &[("B-1", 1)]),
        give("k/2", &[("A-2", 1), ("A-2", 1)]),
        give("k/2", &[]),
    ] {
        let refused = store::refund_lines(&pool, &ctx, &bad).await;
        assert!(
            matches!(refused, Err(Error::Invalid(_))),
            "{bad:?}: {refused:?}"
        );
    }
    let rest = store::refund_lines(&pool, &ctx, &give("k/3", &[("A-1", 1), ("A-2", 1)]))
        .await
        .unwrap();
    assert_eq!(rest.sequence, LINE_REFUND_SEQUENCES + 1);
    assert_eq!(rest.amount, usd(1_000 + 240 + 500 + 120));
    let detail = store::by_order_no(&pool, &o.order_no)
        .await
        .unwrap()
        .unwrap();
    let sub = detail.sub_orders.iter().find(|s| s.vendor_id == a).unwrap();
    assert_eq!(
        first.amount.amount + rest.amount.amount,
        sub.total,
        "all of vendor A's part, to the minor unit"
    );
    assert!(!rest.order_refunded, "vendor B's line is still paid for");
    assert_eq!(
        detail
            .timeline
            .iter()
            .filter(|t| t.event == "lines_refunded")
            .count(),
        2
    );
}
