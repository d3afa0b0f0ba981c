//! Carts over HTTP: adding, changing, removing, totals, coupons, and every client mistake.

use chrono::{Duration, Utc};
use serde_json::json;
use souk_domain::coupon::{Coupon, CouponScope, DiscountKind};
use souk_domain::{Currency, Money};
use souk_tests::fixtures::{self, VariantSpec};
use souk_tests::{Http, Reply, app, unique};

async fn new_cart(http: &Http) -> String {
    let r = http.raw(reqwest::Method::POST, "/v1/carts", None, "").await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.headers["location"], format!("/v1/carts/{id}").as_str());
    id
}

fn amount(r: &Reply, field: &str) -> i64 {
    r.body[field]["amount"]
        .as_i64()
        .unwrap_or_else(|| panic!("no {field} in {}", r.text))
}

fn usd_coupon(code: &str) -> Coupon {
    Coupon {
        code: code.into(),
        description: "test coupon".into(),
        discount: DiscountKind::Percent {
            basis_points: 1_000,
        },
        min_order: None,
        max_discount: None,
        starts_at: None,
        ends_at: None,
        total_limit: None,
        per_customer_limit: None,
        scope: CouponScope::All,
        active: true,
    }
}

#[tokio::test]
async fn a_new_cart_is_empty_and_costs_nothing() {
    let http = Http::new();
    let id = new_cart(&http).await;
    let r = http.get(&format!("/v1/carts/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 0);
    assert_eq!(amount(&r, "total"), 0);
    assert_eq!(r.body["currency"], "USD");
    assert!(r.body["expires_at"].as_str().is_some());
}

#[tokio::test]
async fn adding_updating_and_removing_items_keeps_totals_right() {
    let db = app().db().await;
    let p = fixtures::product(
        &db,
        &[
            VariantSpec::new(2_000, 10, 0),
            VariantSpec::new(1_500, 0, 10),
        ],
    )
    .await;
    let http = Http::new();
    let id = new_cart(&http).await;

    let r = http
        .post(
            &format!("/v1/carts/{id}/items"),
            json!({"sku": p.skus[0], "quantity": 2}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"][0]["quantity"], 2);
    assert_eq!(r.body["items"][0]["unit_price"]["amount"], 2_000);
    assert_eq!(r.body["items"][0]["line_total"]["amount"], 4_000);
    assert_eq!(amount(&r, "subtotal"), 4_000);
    assert_eq!(amount(&r, "tax"), 330); // 8.25 % of 4000
    assert_eq!(
        amount(&r, "shipping"),
        599,
        "one vendor, under the free-shipping threshold"
    );
    assert_eq!(amount(&r, "total"), 4_000 + 330 + 599);

    // Adding the same SKU again adds to the line.
    let r = http
        .post(
            &format!("/v1/carts/{id}/items"),
            json!({"sku": p.skus[0], "quantity": 1}),
        )
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["items"][0]["quantity"], 3);

    let r = http
        .post(
            &format!("/v1/carts/{id}/items"),
            json!({"sku": p.skus[1], "quantity": 1}),
        )
        .await;
    assert_eq!(amount(&r, "subtotal"), 7_500);
    assert_eq!(amount(&r, "shipping"), 0, "free over 75.00 for the vendor");

    let r = http
        .patch(
            &format!("/v1/carts/{id}/items/{}", p.skus[0]),
            json!({"quantity": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(amount(&r, "subtotal"), 3_500);

    let r = http
        .delete(&format!("/v1/carts/{id}/items/{}", p.skus[1]))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(amount(&r, "subtotal"), 2_000);

    // What was written is what is read back.
    let again = http.get(&format!("/v1/carts/{id}")).await;
    assert_eq!(again.body["items"], r.body["items"]);
    assert_eq!(again.body["total"], r.body["total"]);
}

#[tokio::test]
async fn totals_follow_the_current_price_not_the_price_when_added() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(1_000, 5, 5)]).await;
    let http = Http::new();
    let id = new_cart(&http).await;
    http.post(
        &format!("/v1/carts/{id}/items"),
        json!({"sku": p.skus[0], "quantity": 1}),
    )
    .await
    .expect(200);
    souk_pricing::store::upsert_price(
        &db,
        &souk_kit::Ctx::new("test"),
        &souk_domain::Sku::parse(&p.skus[0]).unwrap(),
        Money::new(1_200, Currency::USD),
        None,
    )
    .await
    .unwrap();
    let r = http.get(&format!("/v1/carts/{id}")).await;
    assert_eq!(r.body["items"][0]["unit_price"]["amount"], 1_200);
    assert_eq!(r.body["items"][0]["added_unit_price"]["amount"], 1_000);
    assert_eq!(amount(&r, "subtotal"), 1_200);
}

#[tokio::test]
async fn a_coupon_discounts_the_cart_and_lowers_the_tax() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(5_000, 5, 5)]).await;
    let code = fixtures::coupon(&db, usd_coupon(&format!("TEN{}", unique()))).await;
    let http = Http::new();
    let id = new_cart(&http).await;
    http.post(
        &format!("/v1/carts/{id}/items"),
        json!({"sku": p.skus[0], "quantity": 2}),
    )
    .await
    .expect(200);

    let r = http
        .post(
            &format!("/v1/carts/{id}/coupon"),
            json!({"code": code.to_lowercase()}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["coupon"]["code"], code.as_str());
    assert_eq!(r.body["coupon"]["applied"], true);
    assert_eq!(amount(&r, "subtotal"), 10_000);
    assert_eq!(amount(&r, "discount"), 1_000);
    assert_eq!(amount(&r, "tax"), 743); // 8.25 % of 9000 = 742.5
    assert_eq!(amount(&r, "shipping"), 0);
    assert_eq!(amount(&r, "total"), 10_000 - 1_000 + 743);

    let r = http.delete(&format!("/v1/carts/{id}/coupon")).await;
    assert_eq!(r.status, 200);
    assert!(r.body["coupon"].is_null());
    assert_eq!(amount(&r, "discount"), 0);
}

#[tokio::test]
async fn a_coupon_that_does_not_apply_says_why_and_changes_nothing() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(1_000, 5, 5)]).await;
    let mut expired = usd_coupon(&format!("OLD{}", unique()));
    expired.starts_at = Some(Utc::now() - Duration::days(30));
    expired.ends_at = Some(Utc::now() - Duration::days(1));
    let expired = fixtures::coupon(&db, expired).await;
    let mut big = usd_coupon(&format!("BIG{}", unique()));
    big.min_order = Some(Money::new(50_000, Currency::USD));
    let big = fixtures::coupon(&db, big).await;

    let http = Http::new();
    let id = new_cart(&http).await;
    http.post(
        &format!("/v1/carts/{id}/items"),
        json!({"sku": p.skus[0], "quantity": 1}),
    )
    .await
    .expect(200);
    let before = http.get(&format!("/v1/carts/{id}")).await;

    for (code, status, error, reason) in [
        (expired.as_str(), 422, "coupon_rejected", Some("expired")),
        (big.as_str(), 422, "coupon_rejected", Some("below_minimum")),
        ("NOSUCHCODE", 422, "unknown_coupon", None),
        ("not a code!", 422, "unknown_coupon", None),
    ] {
        let r = http
            .post(&format!("/v1/carts/{id}/coupon"), json!({"code": code}))
            .await;
        assert_eq!((r.status, r.code()), (status, error), "{code}: {}", r.text);
        if let Some(reason) = reason {
            assert_eq!(r.body["error"]["details"]["reason"], reason, "{}", r.text);
        }
    }
    let after = http.get(&format!("/v1/carts/{id}")).await;
    assert_eq!(
        after.body, before.body,
        "a rejected coupon leaves the cart as it was"
    );
}

#[tokio::test]
async fn concurrent_adds_to_one_cart_are_never_lost() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(100, 50, 0)]).await;
    let http = Http::new();
    let id = new_cart(&http).await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (http, id, sku) = (http.clone(), id.clone(), p.skus[0].clone());
        tasks.push(tokio::spawn(async move {
            http.post(
                &format!("/v1/carts/{id}/items"),
                json!({"sku": sku, "quantity": 1}),
            )
            .await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = http.get(&format!("/v1/carts/{id}")).await;
    assert_eq!(r.body["items"][0]["quantity"], 10);
}

#[tokio::test]
async fn every_cart_mistake_is_a_clear_4xx_and_writes_nothing() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(1_000, 2, 1)]).await;
    let http = Http::new();
    let id = new_cart(&http).await;
    http.post(
        &format!("/v1/carts/{id}/items"),
        json!({"sku": p.skus[0], "quantity": 1}),
    )
    .await
    .expect(200);
    let before = http.get(&format!("/v1/carts/{id}")).await;
    let items = format!("/v1/carts/{id}/items");

    let cases: Vec<(Reply, u16, &str)> = vec![
        (
            http.post(&items, json!({"sku": p.skus[0], "quantity": 0}))
                .await,
            422,
            "invalid_quantity",
        ),
        (
            http.post(&items, json!({"sku": p.skus[0], "quantity": -3}))
                .await,
            422,
            "invalid_quantity",
        ),
        (
            http.post(&items, json!({"sku": p.skus[0], "quantity": 1_000_000}))
                .await,
            422,
            "invalid_quantity",
        ),
        (
            http.post(&items, json!({"sku": p.skus[0], "quantity": 1.5}))
                .await,
            422,
            "invalid_body",
        ),
        (
            http.post(&items, json!({"sku": p.skus[0]})).await,
            422,
            "invalid_body",
        ),
        (
            http.post(&items, json!({"sku": p.skus[0], "quantity": 1, "price": 1}))
                .await,
            422,
            "invalid_body",
        ),
        (
            http.post(&items, json!({"sku": "NO-SUCH-SKU", "quantity": 1}))
                .await,
            422,
            "unknown_sku",
        ),
        (
            http.post(&items, json!({"sku": "bad sku!", "quantity": 1}))
                .await,
            422,
            "invalid_sku",
        ),
        (
            http.post(&items, json!({"sku": p.skus[0], "quantity": 5}))
                .await,
            409,
            "insufficient_stock",
        ),
        (
            http.raw(
                reqwest::Method::POST,
                &items,
                Some("application/json"),
                "{\"sku\": ",
            )
            .await,
            400,
            "malformed_json",
        ),
        (
            http.raw(reqwest::Method::POST, &items, Some("text/plain"), "sku=1")
                .await,
            415,
            "unsupported_media_type",
        ),
        (
            http.raw(reqwest::Method::POST, &items, None, "{}").await,
            415,
            "unsupported_media_type",
        ),
        (
            http.raw(
                reqwest::Method::POST,
                &items,
                Some("application/json"),
                &format!(
                    "{{\"sku\": \"{}\", \"quantity\": 1, \"pad\": \"{}\"}}",
                    p.skus[0],
                    "x".repeat(300_000)
                ),
            )
            .await,
            413,
            "payload_too_large",
        ),
        (
            http.patch(
                &format!("/v1/carts/{id}/items/{}", p.skus[0]),
                json!({"quantity": 0}),
            )
            .await,
            422,
            "invalid_quantity",
        ),
        (
            http.patch(
                &format!("/v1/carts/{id}/items/NOT-IN-CART"),
                json!({"quantity": 1}),
            )
            .await,
            404,
            "item_not_found",
        ),
        (
            http.delete(&format!("/v1/carts/{id}/items/NOT-IN-CART"))
                .await,
            404,
            "item_not_found",
        ),
        (
            http.get("/v1/carts/00000000-0000-4000-8000-000000000000")
                .await,
            404,
            "cart_not_found",
        ),
        (
            http.get("/v1/carts/not-a-cart-id").await,
            404,
            "cart_not_found",
        ),
        (
            http.post(
                "/v1/carts/00000000-0000-4000-8000-000000000000/items",
                json!({"sku": p.skus[0], "quantity": 1}),
            )
            .await,
            404,
            "cart_not_found",
        ),
        (
            http.post("/v1/carts", json!({"currency": "XXX"})).await,
            422,
            "invalid_currency",
        ),
        (
            http.post("/v1/carts", json!({"country": "ZZ"})).await,
            422,
            "unsupported_destination",
        ),
        (
            http.post("/v1/carts", json!({"country": "USA"})).await,
            422,
            "invalid_country",
        ),
    ];
    for (i, (r, status, code)) in cases.iter().enumerate() {
        assert_eq!(
            (r.status, r.code()),
            (*status, *code),
            "case {i}: {}",
            r.text
        );
        assert!(
            !r.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "case {i}"
        );
    }
    let stock = &cases[8].0;
    assert_eq!(stock.body["error"]["details"]["available"], 3);
    let after = http.get(&format!("/v1/carts/{id}")).await;
    assert_eq!(
        after.body["items"], before.body["items"],
        "no mistake changed the cart"
    );
}
