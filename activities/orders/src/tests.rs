//! Orders: creation idempotent by checkout attempt, split by vendor, cancellation with a
//! tombstone, and the guarded status machine.

use souk_contracts::orders::{Address, CreateOrder, OrderLine};
use souk_domain::order::{OrderStatus, PaymentStatus};
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

#[sqlx::test(migrations = false)]
async fn status_changes_go_through_the_state_machine(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let ctx = Ctx::new("staff");
    let o = store::create(&pool, &ctx, &order("co-2", 1)).await.unwrap();
    let illegal = store::transition(&pool, &ctx, &o.order_no, OrderStatus::Delivered, None).await;
    assert!(matches!(illegal, Err(Error::Transition(_))));
    for to in [
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Returned,
    ] {
        store::transition(&pool, &ctx, &o.order_no, to, Some("ok"))
            .await
            .unwrap();
    }
    let cancel_after_return = store::cancel(&pool, &ctx, "co-2", 1, "too late", None).await;
    assert!(matches!(cancel_after_return, Err(Error::Transition(_))));
    let detail = store::by_order_no(&pool, &o.order_no)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.status, "returned");
    assert!(detail.sub_orders.iter().all(|s| s.status == "returned"));
    assert_eq!(detail.timeline.len(), 5);
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
