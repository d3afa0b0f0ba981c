//! The vendor back office: a vendor admin reaches their own vendor's products, stock and
//! orders, and every attempt at another vendor's is a 404 written to the audit trail.

use std::time::Duration;

use serde_json::json;
use souk_tests::fixtures::{self, VariantSpec};
use souk_tests::{Http, account, admin_token, app, eventually, unique};

use crate::checkout_support::*;

async fn title_of(db: &sqlx::PgPool, id: uuid::Uuid) -> String {
    sqlx::query_scalar("SELECT title FROM catalog.products WHERE id = $1")
        .bind(id)
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_vendor_admin_manages_only_their_own_products_stock_and_orders() {
    let db = app().db().await;
    let (mine, theirs, email) = two_vendors(&db).await;
    let (_, vendor) = account(&["vendor_admin"], Some(mine.vendor_id)).await;

    // Products: theirs are invisible and unchangeable.
    let r = vendor.get("/v1/vendor/products?limit=100").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ids: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![mine.id.to_string().as_str()]);
    let r = vendor
        .get(&format!("/v1/vendor/products/{}", theirs.id))
        .await;
    assert_eq!((r.status, r.code()), (404, "product_not_found"));
    let before = title_of(&db, theirs.id).await;
    let r = vendor
        .patch(
            &format!("/v1/vendor/products/{}", theirs.id),
            json!({"title": "Hijacked"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "product_not_found"));
    assert_eq!(title_of(&db, theirs.id).await, before, "nothing changed");
    let r = vendor
        .patch(
            &format!("/v1/vendor/products/{}", mine.id),
            json!({"title": "Renamed by its vendor", "status": "draft"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["title"].as_str(), r.body["status"].as_str()),
        (Some("Renamed by its vendor"), Some("draft"))
    );
    let r = vendor
        .patch(
            &format!("/v1/vendor/products/{}", mine.id),
            json!({"status": "sold-out"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_product"));
    // Titles end up in order mails and shop pages: one line, no markup, nothing hidden.
    for (field, bad) in [
        ("title", "Shirt\r\nBcc: everyone@example.com"),
        ("title", "<script>alert(1)</script>"),
        ("title", "Shirt\u{2028}Your order was cancelled"),
        ("description", "Soft <img src=x onerror=alert(1)>"),
    ] {
        let r = vendor
            .patch(
                &format!("/v1/vendor/products/{}", mine.id),
                json!({ field: bad }),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (422, "invalid_product"),
            "{bad:?}: {}",
            r.text
        );
    }
    assert_eq!(title_of(&db, mine.id).await, "Renamed by its vendor");
    // Active again, so the checkout below can sell it.
    let r = vendor
        .patch(
            &format!("/v1/vendor/products/{}", mine.id),
            json!({"status": "active"}),
        )
        .await;
    assert_eq!(r.status, 200);

    // Stock: the same.
    let their_sku = &theirs.skus[0];
    let r = vendor
        .get(&format!("/v1/vendor/inventory/{their_sku}"))
        .await;
    assert_eq!((r.status, r.code()), (404, "unknown_sku"));
    let r = vendor
        .send(
            vendor
                .request(
                    reqwest::Method::PUT,
                    &format!("/v1/vendor/inventory/{their_sku}/east"),
                )
                .json(&json!({"on_hand": 0})),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "unknown_sku"));
    let on_hand: i64 = sqlx::query_scalar(
        "SELECT on_hand FROM inventory.stock WHERE sku = $1 AND warehouse = 'east'",
    )
    .bind(their_sku)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(on_hand, 10, "their stock is untouched");
    let my_sku = &mine.skus[0];
    let r = vendor
        .send(
            vendor
                .request(
                    reqwest::Method::PUT,
                    &format!("/v1/vendor/inventory/{my_sku}/east"),
                )
                .json(&json!({"on_hand": 12})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["stock"]["on_hand"], 22);

    // Orders: an order with both vendors' items shows only this vendor's part.
    let http = Http::new();
    let cart = cart_with(&http, &[(my_sku, 1), (their_sku, 1)]).await;
    let r = start(
        &http,
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let order_no = r.body["order_no"].as_str().unwrap().to_string();
    let r = vendor.get("/v1/vendor/orders").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"][0]["order_no"], order_no.as_str());
    assert_eq!(r.body["items"][0]["units"], 1);
    let r = vendor.get(&format!("/v1/vendor/orders/{order_no}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let skus: Vec<&str> = r.body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, vec![my_sku.as_str()]);
    let so = &r.body["sub_order"];
    let amount = |k: &str| so[k]["amount"].as_i64().unwrap();
    assert_eq!(amount("subtotal"), 2_500, "{}", r.text);
    assert_eq!(
        amount("total"),
        amount("subtotal") - amount("discount") + amount("tax") + amount("shipping")
    );
    assert_eq!(r.body["shipping_address"]["city"], "Springfield");
    // Nothing that is not the vendor's: the guest's checkout id is the key to their cart.
    for field in [
        "checkout_id",
        "attempt",
        "customer_email",
        "payment",
        "coupon_code",
        "timeline",
        "sub_orders",
    ] {
        assert!(r.body.get(field).is_none(), "{field} in {}", r.text);
    }
    assert!(!r.text.contains(&cart), "the cart id leaked: {}", r.text);
    assert!(!r.text.contains(&email), "the e-mail leaked: {}", r.text);
    // A vendor with no part in the order does not see it at all.
    let other = fixtures::product(&db, &[VariantSpec::new(1_000, 5, 5)]).await;
    let (_, stranger) = account(&["vendor_admin"], Some(other.vendor_id)).await;
    let r = stranger.get(&format!("/v1/vendor/orders/{order_no}")).await;
    assert_eq!((r.status, r.code()), (404, "order_not_found"));
    let r = stranger.get("/v1/vendor/orders").await;
    assert_eq!(r.body["items"], json!([]));

    // Every attempt is in the audit trail.
    let ops = Http::new().with_token(admin_token());
    let me = vendor.get("/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    eventually(
        Duration::from_secs(10),
        "the refusals in the audit trail",
        || {
            let ops = ops.clone();
            let me = me.clone();
            async move {
                let r = ops
                    .get(&format!("/v1/admin/audit?user_id={me}&event=authorization"))
                    .await;
                let n = r.body["items"]
                    .as_array()?
                    .iter()
                    .filter(|e| {
                        e["outcome"] == "denied" && e["details"]["reason"] == "other_vendor"
                    })
                    .count();
                // Product read, product change, stock read, stock change.
                (n >= 4).then_some(())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn vendor_routes_need_a_vendor_admin_and_admin_routes_refuse_one() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(1_000, 5, 5)]).await;
    let (_, customer) = account(&["customer"], None).await;
    let r = customer.get("/v1/vendor/products").await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    assert_eq!(Http::new().get("/v1/vendor/products").await.status, 401);
    let (_, vendor) = account(&["vendor_admin"], Some(p.vendor_id)).await;
    let r = vendor.get("/v1/admin/inventory/alerts").await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));
}
