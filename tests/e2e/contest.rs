//! A contest: 100 customers check out the last 7 units at once.

use std::time::Duration;

use souk_tests::fixtures::{self, VariantSpec};
use souk_tests::{Http, app, unique};

use crate::checkout_support::*;

#[tokio::test]
async fn a_hundred_checkouts_for_seven_units_make_exactly_seven_orders() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(1_500, 4, 3)]).await;
    let sku = p.skus[0].clone();
    let http = Http::new();
    let mut carts = Vec::new();
    for _ in 0..100 {
        carts.push(cart_with(&http, &[(&sku, 1)]).await);
    }
    let mut tasks = Vec::new();
    for (i, cart) in carts.iter().enumerate() {
        let (http, body) = (
            http.clone(),
            checkout_body(cart, &format!("fan{i}@example.com"), "pm_card_visa"),
        );
        tasks.push(tokio::spawn(
            async move { start(&http, &unique(), body).await },
        ));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert!(r.status == 201 || r.status == 202, "{}", r.text);
    }
    let mut completed = 0;
    let mut out_of_stock = 0;
    for cart in &carts {
        let done = ended_within(&http, &format!("checkout-{cart}"), Duration::from_secs(240)).await;
        match (done["state"].as_str(), done["failure"]["code"].as_str()) {
            (Some("completed"), _) => completed += 1,
            (Some("compensated"), Some("out_of_stock")) => out_of_stock += 1,
            other => panic!("unexpected outcome {other:?}: {done}"),
        }
    }
    assert_eq!((completed, out_of_stock), (7, 93));
    let s = stock(&db, &sku).await;
    assert_eq!(
        (s.on_hand, s.reserved),
        (0, 0),
        "all sold, nothing left reserved"
    );
    let orders: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT o.id) FROM orders.orders o JOIN orders.order_lines l ON l.order_id = o.id WHERE l.sku = $1 AND o.status = 'placed'",
    )
    .bind(&sku)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(orders, 7);
    let captured: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM payments.payments WHERE checkout_id = ANY($1) AND status = 'captured'",
    )
    .bind(carts.iter().map(|c| format!("checkout-{c}")).collect::<Vec<_>>())
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(captured, 7, "losers were never charged");
}
