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
    use souk_contracts::orders::{LINE_REFUND_SEQUENCES, RefundKind, RefundLines};
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::new("workflow:shipment");
    let input = order("co-5", 1);
    let a = input.lines[0].vendor_id;
    let o = store::create(&pool, &ctx, &input).await.unwrap();
    let give = |key: &str, lines: &[(&str, i32)]| RefundLines {
        reason: "lost".into(),
        actor: "user:vendor".into(),
        ..give_back(&o.order_no, key, a, RefundKind::Cancel, lines, &[])
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

fn goodwill(
    order_no: &str,
    key: &str,
    lines: &[(&str, i32)],
    amount: Option<Money>,
    skus: &[&str],
) -> souk_contracts::orders::RefundGoodwill {
    souk_contracts::orders::RefundGoodwill {
        order_no: order_no.into(),
        refund_key: key.into(),
        lines: lines
            .iter()
            .map(|(sku, q)| souk_contracts::orders::LineUnits {
                sku: Sku::parse(sku).unwrap(),
                quantity: *q,
            })
            .collect(),
        amount,
        skus: skus.iter().map(|s| Sku::parse(s).unwrap()).collect(),
        reason: "late delivery".into(),
        actor: "user:staff".into(),
    }
}

/// Units of `vendor`'s lines given back under `key` (`fees`: basis points kept per SKU).
fn give_back(
    order_no: &str,
    key: &str,
    vendor: Uuid,
    kind: souk_contracts::orders::RefundKind,
    lines: &[(&str, i32)],
    fees: &[(&str, u32)],
) -> souk_contracts::orders::RefundLines {
    use souk_contracts::orders::{LineFee, LineUnits, RefundLines};
    RefundLines {
        order_no: order_no.into(),
        vendor_id: vendor,
        refund_key: key.into(),
        lines: lines
            .iter()
            .map(|(sku, q)| LineUnits {
                sku: Sku::parse(sku).unwrap(),
                quantity: *q,
            })
            .collect(),
        reason: "return".into(),
        actor: "system:return".into(),
        kind,
        fees: fees
            .iter()
            .map(|(sku, bps)| LineFee {
                sku: Sku::parse(sku).unwrap(),
                bps: *bps,
            })
            .collect(),
        postage: None,
    }
}

fn refunding(g: souk_contracts::orders::Goodwill) -> souk_contracts::orders::LinesRefunded {
    match g {
        souk_contracts::orders::Goodwill::Refunding { refund, .. } => refund,
        other => panic!("refused: {other:?}"),
    }
}

fn refused_code(g: souk_contracts::orders::Goodwill) -> String {
    match g {
        souk_contracts::orders::Goodwill::Refused { code, .. } => code,
        other => panic!("not refused: {other:?}"),
    }
}

#[sqlx::test(migrations = false)]
async fn goodwill_refunds_stay_within_what_each_line_has_left(pool: PgPool) {
    use souk_contracts::orders::{LineUnits, RefundKind, RefundLines};
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::new("user:staff");
    let input = order("co-g", 1);
    let a = input.lines[0].vendor_id;
    let o = store::create(&pool, &ctx, &input).await.unwrap();
    let no = o.order_no.as_str();
    let g = |key: &str, lines: &[(&str, i32)], amount: Option<i64>, skus: &[&str]| {
        goodwill(no, key, lines, amount.map(usd), skus)
    };
    // Not captured yet: nothing to refund.
    let early = store::refund_goodwill(&pool, &ctx, &g("g/0", &[], Some(100), &[]))
        .await
        .unwrap();
    assert_eq!(refused_code(early), "not_captured");
    store::record_payment(&pool, &ctx, "co-g", 1, PaymentStatus::Captured, "captured")
        .await
        .unwrap();

    // 10.00 over the whole order (60.99: A-1 20.00 + 4.79 shipping, A-2 5.00 + 1.20,
    // B-1 30.00), by what each line has left; once per key.
    let first = refunding(
        store::refund_goodwill(&pool, &ctx, &g("g/1", &[], Some(1_000), &[]))
            .await
            .unwrap(),
    );
    assert_eq!(first.amount, usd(1_000));
    let shares: Vec<(String, i32, i64)> = first
        .lines
        .iter()
        .map(|l| (l.sku.to_string(), l.quantity, l.amount.amount))
        .collect();
    assert_eq!(
        shares,
        [
            ("A-1".to_string(), 0, 406),
            ("A-2".to_string(), 0, 102),
            ("B-1".to_string(), 0, 492)
        ]
    );
    assert_eq!(
        first.sequence,
        souk_contracts::orders::LINE_REFUND_SEQUENCES
    );
    let again = refunding(
        store::refund_goodwill(&pool, &ctx, &g("g/1", &[], Some(1_000), &[]))
            .await
            .unwrap(),
    );
    assert_eq!(again, first, "once per key");

    // Refused, and nothing recorded: more than is left, another currency, a line not in the
    // order, a line named twice, more units than the line has.
    let eur = goodwill(no, "g/x", &[], Some(Money::new(100, Currency::EUR)), &[]);
    for (bad, code) in [
        (g("g/x", &[], Some(5_100), &[]), "exceeds_refundable"),
        (g("g/x", &[], Some(2_000), &["A-2"]), "exceeds_refundable"),
        (eur, "currency_mismatch"),
        (g("g/x", &[], Some(100), &["Z-9"]), "not_in_order"),
        (g("g/x", &[], Some(100), &["A-1", "A-1"]), "not_in_order"),
        (g("g/x", &[("A-1", 1)], None, &[]), "not_delivered"),
        (g("g/x", &[("Z-9", 1)], None, &[]), "not_in_order"),
    ] {
        let answer = store::refund_goodwill(&pool, &ctx, &bad).await.unwrap();
        assert_eq!(refused_code(answer), code, "{bad:?}");
    }
    // Units the customer keeps once vendor A's part is delivered; B's is not yet.
    store::record_fulfilment(&pool, &ctx, &fulfil(no, a, SubOrderStatus::Delivered))
        .await
        .unwrap();
    for (bad, code) in [
        (g("g/x", &[("A-1", 3)], None, &[]), "exceeds_refundable"),
        (g("g/x", &[("B-1", 1)], None, &[]), "not_delivered"),
    ] {
        let answer = store::refund_goodwill(&pool, &ctx, &bad).await.unwrap();
        assert_eq!(refused_code(answer), code, "{bad:?}");
    }
    assert!(matches!(
        store::refund_goodwill(&pool, &ctx, &g("g/x", &[], None, &[])).await,
        Err(Error::Invalid(_))
    ));

    // A unit of A-1 as goodwill: worth 10.00 + half its shipping (12.39); A-1 has 20.73
    // left after its 4.06.
    let unit = refunding(
        store::refund_goodwill(&pool, &ctx, &g("g/2", &[("A-1", 1)], None, &[]))
            .await
            .unwrap(),
    );
    assert_eq!(unit.amount, usd(1_239));
    // The provider refused it: released (once), its money and unit are left to refund, and
    // the same unit is refunded under another key.
    let release = souk_contracts::orders::ReleaseRefund {
        order_no: no.into(),
        refund_key: "g/2".into(),
        reason: "charge_disputed".into(),
        actor: "system:goodwill_refund".into(),
    };
    for _ in 0..2 {
        store::release_refund(&pool, &ctx, &release).await.unwrap();
    }
    let left: (i32, i64) = sqlx::query_as(
        "SELECT refunded_quantity, refunded_amount FROM orders.order_lines l
         JOIN orders.orders o ON o.id = l.order_id WHERE o.order_no = $1 AND l.sku = 'A-1'",
    )
    .bind(no)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(left, (0, 406), "only the 4.06 of the first refund");
    let unit = refunding(
        store::refund_goodwill(&pool, &ctx, &g("g/2b", &[("A-1", 1)], None, &[]))
            .await
            .unwrap(),
    );
    assert_eq!(unit.amount, usd(1_239));
    // Vendor A's other A-1 unit comes back in a return: worth 12.40, but A-1 has only
    // 24.79 - 4.06 - 12.39 = 8.34 left.
    let back = store::refund_lines(
        &pool,
        &ctx,
        &RefundLines {
            order_no: no.into(),
            vendor_id: a,
            refund_key: "return-x/refund".into(),
            lines: vec![LineUnits {
                sku: Sku::parse("A-1").unwrap(),
                quantity: 1,
            }],
            reason: "return".into(),
            actor: "system:return".into(),
            kind: RefundKind::Return,
            fees: Vec::new(),
            postage: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(back.amount, usd(834), "capped by what the line has left");

    // Everything left (60.99 - 10.00 - 12.39 - 8.34 = 30.26) refunds the order in full;
    // a minor unit more after that is refused.
    let rest = refunding(
        store::refund_goodwill(&pool, &ctx, &g("g/3", &[], Some(3_026), &[]))
            .await
            .unwrap(),
    );
    assert!(rest.order_refunded, "{rest:?}");
    let over = store::refund_goodwill(&pool, &ctx, &g("g/4", &[], Some(1), &[]))
        .await
        .unwrap();
    assert_eq!(refused_code(over), "exceeds_refundable");
    // A-2's unit is still with the customer, but its money is all refunded: nothing to give.
    let nothing = store::refund_goodwill(&pool, &ctx, &g("g/5", &[("A-2", 1)], None, &[]))
        .await
        .unwrap();
    assert_eq!(refused_code(nothing), "exceeds_refundable");
    let detail = store::by_order_no(&pool, no).await.unwrap().unwrap();
    let refunded: i64 = sqlx::query_scalar(
        "SELECT sum(amount)::bigint FROM orders.line_refunds l JOIN orders.orders o ON o.id = l.order_id
         WHERE o.order_no = $1 AND l.released_at IS NULL",
    )
    .bind(no)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(refunded, detail.total, "exactly what the order paid");
    assert_eq!(
        detail
            .timeline
            .iter()
            .filter(|t| t.event == "goodwill_refund")
            .count(),
        4
    );
    assert_eq!(
        detail
            .timeline
            .iter()
            .filter(|t| t.event == "refund_released")
            .count(),
        1
    );
}

#[sqlx::test(migrations = false)]
async fn units_that_come_back_return_the_part_and_the_order(pool: PgPool) {
    use souk_contracts::orders::RefundKind;
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::new("system:return");
    let input = order("co-r", 1);
    let (a, b) = (input.lines[0].vendor_id, input.lines[2].vendor_id);
    let o = store::create(&pool, &ctx, &input).await.unwrap();
    let no = o.order_no.as_str();
    for v in [a, b] {
        store::record_fulfilment(&pool, &ctx, &fulfil(no, v, SubOrderStatus::Delivered))
            .await
            .unwrap();
    }
    let give = |key: &str, vendor, kind, lines: &[(&str, i32)]| {
        give_back(no, key, vendor, kind, lines, &[])
    };
    let status = |no: String| {
        let pool = pool.clone();
        async move {
            let d = store::by_order_no(&pool, &no).await.unwrap().unwrap();
            let mut subs: Vec<(Uuid, String)> = d
                .sub_orders
                .iter()
                .map(|s| (s.vendor_id, s.status.clone()))
                .collect();
            subs.sort();
            (d.status, subs)
        }
    };
    let sub = |subs: &[(Uuid, String)], v: Uuid| {
        subs.iter().find(|s| s.0 == v).map(|s| s.1.clone()).unwrap()
    };
    // One A-1 unit back: A's part and the order are partially returned.
    store::refund_lines(
        &pool,
        &ctx,
        &give("r/1", a, RefundKind::Return, &[("A-1", 1)]),
    )
    .await
    .unwrap();
    let (order_status, subs) = status(no.to_string()).await;
    assert_eq!(order_status, "partially_returned");
    assert_eq!(sub(&subs, a), "partially_returned");
    assert_eq!(sub(&subs, b), "delivered");
    // The rest of A back: A's part is returned; the order is still partly with the customer.
    store::refund_lines(
        &pool,
        &ctx,
        &give("r/2", a, RefundKind::Return, &[("A-1", 1), ("A-2", 1)]),
    )
    .await
    .unwrap();
    let (order_status, subs) = status(no.to_string()).await;
    assert_eq!(sub(&subs, a), "returned");
    assert_eq!(order_status, "partially_returned");
    // B's line back: the whole order is returned.
    store::refund_lines(
        &pool,
        &ctx,
        &give("r/3", b, RefundKind::Return, &[("B-1", 1)]),
    )
    .await
    .unwrap();
    let (order_status, subs) = status(no.to_string()).await;
    assert_eq!(sub(&subs, b), "returned");
    assert_eq!(order_status, "returned");
    // A returned part is not returnable any more; nothing of it is left.
    let r = store::returnable(&pool, no).await.unwrap();
    assert!(r.lines.iter().all(|l| l.refunded_quantity == l.quantity));
}

#[sqlx::test(migrations = false)]
async fn a_restocking_fee_is_kept_from_a_return_and_left_to_refund(pool: PgPool) {
    use souk_contracts::orders::{LineRefund, RefundKind, RefundLines};
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::new("system:return");
    let input = order("co-f", 1);
    let (a, b) = (input.lines[0].vendor_id, input.lines[2].vendor_id);
    let o = store::create(&pool, &ctx, &input).await.unwrap();
    let no = o.order_no.as_str();
    store::record_payment(&pool, &ctx, "co-f", 1, PaymentStatus::Captured, "captured")
        .await
        .unwrap();
    for v in [a, b] {
        store::record_fulfilment(&pool, &ctx, &fulfil(no, v, SubOrderStatus::Delivered))
            .await
            .unwrap();
    }
    let give = |key: &str, vendor, lines: &[(&str, i32)], fees: &[(&str, u32)]| {
        give_back(no, key, vendor, RefundKind::Return, lines, fees)
    };
    // A fee for a line not given back, named twice, beyond the whole, or on a vendor's
    // cancellation: refused, nothing recorded.
    for bad in [
        give("r/x", a, &[("A-1", 2)], &[("A-2", 1_000)]),
        give("r/x", a, &[("A-1", 2)], &[("A-1", 1_000), ("A-1", 500)]),
        give("r/x", a, &[("A-1", 2)], &[("A-1", 10_001)]),
        RefundLines {
            kind: RefundKind::Cancel,
            ..give("r/x", a, &[("A-1", 2)], &[("A-1", 1_000)])
        },
    ] {
        let r = store::refund_lines(&pool, &ctx, &bad).await;
        assert!(matches!(r, Err(Error::Invalid(_))), "{bad:?}: {r:?}");
    }
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM orders.line_refunds")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(recorded, 0);

    // A-1 (20.00 + 4.79 shipping) back with a 10% fee: 2.47 kept (rounded down), 22.32
    // refunded; A-2 (5.00 + 1.20) in full. Once per key.
    let fee = give("r/1", a, &[("A-1", 2), ("A-2", 1)], &[("A-1", 1_000)]);
    let back = store::refund_lines(&pool, &ctx, &fee).await.unwrap();
    assert_eq!(back.amount, usd(2_852));
    let mut lines = back.lines.clone();
    lines.sort_by(|x, y| x.sku.as_str().cmp(y.sku.as_str()));
    assert_eq!(
        lines,
        [
            LineRefund {
                sku: Sku::parse("A-1").unwrap(),
                quantity: 2,
                amount: usd(2_232),
                fee: Some(usd(247)),
                postage: None,
            },
            LineRefund {
                sku: Sku::parse("A-2").unwrap(),
                quantity: 1,
                amount: usd(620),
                fee: None,
                postage: None,
            },
        ]
    );
    assert_eq!(store::refund_lines(&pool, &ctx, &fee).await.unwrap(), back);
    // Every unit back, but the fee is kept: the payment is not refunded in full.
    let rest = store::refund_lines(&pool, &ctx, &give("r/2", b, &[("B-1", 1)], &[]))
        .await
        .unwrap();
    assert_eq!(rest.amount, usd(3_000));
    assert!(!rest.order_refunded, "{rest:?}");
    // The fee is what is left: staff can give it back, and then the order is refunded.
    let waived = refunding(
        store::refund_goodwill(
            &pool,
            &ctx,
            &goodwill(no, "g/fee", &[], Some(usd(247)), &[]),
        )
        .await
        .unwrap(),
    );
    assert_eq!(waived.lines.len(), 1);
    assert_eq!(waived.lines[0].sku.as_str(), "A-1");
    assert!(waived.order_refunded, "{waived:?}");
    let over = store::refund_goodwill(&pool, &ctx, &goodwill(no, "g/more", &[], Some(usd(1)), &[]))
        .await
        .unwrap();
    assert_eq!(refused_code(over), "exceeds_refundable");
    let detail = store::by_order_no(&pool, no).await.unwrap().unwrap();
    assert!(
        detail
            .timeline
            .iter()
            .any(|t| t.note.as_deref().is_some_and(
                |n| n.contains("2 × A-1 (22.32 USD, less a restocking fee of 2.47 USD)")
            )),
        "{:?}",
        detail.timeline
    );
}

#[sqlx::test(migrations = false)]
async fn a_returns_postage_is_kept_by_what_each_line_is_worth_and_left_to_refund(pool: PgPool) {
    use souk_contracts::orders::{RefundKind, RefundLines};
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::new("system:return");
    let input = order("co-p", 1);
    let (a, b) = (input.lines[0].vendor_id, input.lines[2].vendor_id);
    let o = store::create(&pool, &ctx, &input).await.unwrap();
    let no = o.order_no.as_str();
    store::record_payment(&pool, &ctx, "co-p", 1, PaymentStatus::Captured, "captured")
        .await
        .unwrap();
    for v in [a, b] {
        store::record_fulfilment(&pool, &ctx, &fulfil(no, v, SubOrderStatus::Delivered))
            .await
            .unwrap();
    }
    let give = |key: &str, vendor, lines: &[(&str, i32)], postage: Option<Money>| RefundLines {
        postage,
        ..give_back(no, key, vendor, RefundKind::Return, lines, &[])
    };
    // Postage in another currency, or on a vendor's cancellation: refused, nothing recorded.
    let eur = Money::new(500, Currency::parse("EUR").unwrap());
    for bad in [
        give("r/x", a, &[("A-1", 2)], Some(eur)),
        RefundLines {
            kind: RefundKind::Cancel,
            ..give("r/x", a, &[("A-1", 2)], Some(usd(500)))
        },
    ] {
        let r = store::refund_lines(&pool, &ctx, &bad).await;
        assert!(matches!(r, Err(Error::Invalid(_))), "{bad:?}: {r:?}");
    }

    // A-1 (24.79) and A-2 (6.20) back in one parcel whose 6.00 postage the customer pays:
    // kept by what each is worth (4.80 and 1.20), the rest refunded. Once per key.
    let parcel = give("r/1", a, &[("A-1", 2), ("A-2", 1)], Some(usd(600)));
    let back = store::refund_lines(&pool, &ctx, &parcel).await.unwrap();
    assert_eq!(back.amount, usd(2_479 + 620 - 600));
    let kept: Vec<_> = back
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.postage))
        .collect();
    assert_eq!(kept, [("A-1", Some(usd(480))), ("A-2", Some(usd(120)))]);
    let sum: i64 = back
        .lines
        .iter()
        .map(|l| l.amount.amount + l.postage.unwrap().amount)
        .sum();
    assert_eq!(
        sum,
        2_479 + 620,
        "refunds and postage make what the units are worth"
    );
    assert_eq!(
        store::refund_lines(&pool, &ctx, &parcel).await.unwrap(),
        back
    );
    // Every unit back, but the postage is kept: the payment is not refunded in full...
    let rest = store::refund_lines(&pool, &ctx, &give("r/2", b, &[("B-1", 1)], None))
        .await
        .unwrap();
    assert!(!rest.order_refunded, "{rest:?}");
    // ...and it is what is left: staff can give it back, no more.
    let waived = refunding(
        store::refund_goodwill(
            &pool,
            &ctx,
            &goodwill(no, "g/postage", &[], Some(usd(600)), &[]),
        )
        .await
        .unwrap(),
    );
    assert_eq!(waived.amount, usd(600));
    assert!(waived.order_refunded, "{waived:?}");
    let over = store::refund_goodwill(&pool, &ctx, &goodwill(no, "g/more", &[], Some(usd(1)), &[]))
        .await
        .unwrap();
    assert_eq!(refused_code(over), "exceeds_refundable");
}
