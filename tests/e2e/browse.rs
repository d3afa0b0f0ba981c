//! Browsing the catalog.

use std::collections::BTreeSet;

use souk_tests::fixtures::{self, VariantSpec};
use souk_tests::{Http, app};

#[tokio::test]
async fn a_product_page_shows_each_variant_with_price_and_availability() {
    let db = app().db().await;
    let p = fixtures::product(
        &db,
        &[VariantSpec::new(1_999, 3, 4), VariantSpec::new(2_499, 0, 0)],
    )
    .await;
    let http = Http::new();
    let r = http.get(&format!("/v1/products/{}", p.slug)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = &r.body;
    assert_eq!(body["slug"], p.slug.as_str());
    assert_eq!(body["vendor_id"], p.vendor_id.to_string().as_str());
    assert_eq!(body["category_ids"][0], p.category_id.to_string().as_str());
    let v = body["variants"].as_array().unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["sku"], p.skus[0].as_str());
    assert_eq!(v[0]["price"]["amount"], 1_999);
    assert_eq!(v[0]["price"]["currency"], "USD");
    assert_eq!(v[0]["available"], 7);
    assert_eq!(v[1]["available"], 0);
}

#[tokio::test]
async fn products_are_paginated_with_cursors_and_filtered_by_category() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(500, 1, 1)]).await;
    let http = Http::new();

    let r = http
        .get(&format!("/v1/products?category={}", p.category_slug))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let slugs: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, vec![p.slug.as_str()]);
    assert!(r.body["next_cursor"].is_null());

    // Walk all pages of everything: no duplicates, the fixture somewhere.
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/products?limit=3&cursor={c}"),
            None => "/v1/products?limit=3".to_string(),
        };
        let r = http.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        for i in items {
            assert!(
                seen.insert(i["slug"].as_str().unwrap().to_string()),
                "duplicate across pages"
            );
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert!(seen.contains(&p.slug));
}

#[tokio::test]
async fn search_finds_products_by_word_prefix() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(500, 1, 1)]).await;
    let word = p.slug.trim_start_matches("fixture-");
    let r = Http::new()
        .get(&format!("/v1/products?q={}", &word[..5]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let slugs: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["slug"].as_str().unwrap())
        .collect();
    assert!(slugs.contains(&p.slug.as_str()), "{slugs:?}");
}

#[tokio::test]
async fn categories_are_listed_as_a_tree() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(500, 1, 1)]).await;
    let r = Http::new().get("/v1/categories").await;
    assert_eq!(r.status, 200);
    let found = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["slug"] == p.category_slug.as_str() && c["parent_id"].is_null());
    assert!(found);
}

#[tokio::test]
async fn browsing_mistakes_are_clear_4xx_errors() {
    let http = Http::new();
    for (path, status, code) in [
        ("/v1/products/no-such-product", 404, "product_not_found"),
        (
            "/v1/products?category=no-such-category",
            404,
            "category_not_found",
        ),
        ("/v1/products?cursor=garbage", 400, "invalid_cursor"),
        ("/v1/products?limit=0", 400, "invalid_limit"),
        ("/v1/products?limit=1000", 400, "invalid_limit"),
        ("/v1/products?limit=ten", 400, "invalid_query"),
        ("/v1/products?currency=XYZ", 400, "invalid_currency"),
    ] {
        let r = http.get(path).await;
        assert_eq!((r.status, r.code()), (status, code), "{path}: {}", r.text);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}
