//! Catalog store tests.

use std::collections::BTreeSet;

use serde_json::json;
use souk_domain::Sku;
use souk_domain::catalog::ProductStatus;
use sqlx::PgPool;
use uuid::Uuid;

use super::store::{self, Error, NewCategory, NewProduct, NewVariant, ProductFilter};
use souk_kit::Ctx;
use souk_kit::testing::test_schema;

async fn category(pool: &PgPool, slug: &str, parent: Option<Uuid>) -> Uuid {
    store::upsert_category(
        pool,
        &Ctx::system(),
        &NewCategory {
            slug: slug.into(),
            name: slug.into(),
            parent_id: parent,
            position: 0,
        },
    )
    .await
    .unwrap()
}

async fn product(
    pool: &PgPool,
    slug: &str,
    title: &str,
    cats: Vec<Uuid>,
    status: ProductStatus,
) -> Uuid {
    store::upsert_product(
        pool,
        &Ctx::system(),
        &NewProduct {
            vendor_id: Uuid::nil(),
            slug: slug.into(),
            title: title.into(),
            description: "A test product".into(),
            status,
            attributes: json!({}),
            category_ids: cats,
            variants: vec![NewVariant {
                sku: Sku::parse(&format!("{}-1", slug.to_uppercase())).unwrap(),
                title: "One".into(),
                options: json!({"size": "M"}),
                tax_class: "standard".into(),
                weight_grams: 100,
            }],
        },
    )
    .await
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn keyset_pages_cover_every_active_product_exactly_once(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    for i in 0..25 {
        product(
            &pool,
            &format!("p{i}"),
            &format!("Product {i}"),
            vec![],
            ProductStatus::Active,
        )
        .await;
    }
    product(&pool, "hidden", "Draft", vec![], ProductStatus::Draft).await;
    let mut seen = BTreeSet::new();
    let mut filter = ProductFilter {
        limit: 10,
        ..Default::default()
    };
    let mut pages = 0;
    loop {
        let page = store::list_products(&pool, &filter).await.unwrap();
        pages += 1;
        for p in &page.items {
            assert!(seen.insert(p.slug.clone()), "{} twice", p.slug);
            assert_eq!(p.variants.len(), 1);
        }
        match page.next {
            Some(c) => filter.after = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25);
    assert!(!seen.contains("hidden"), "drafts are not listed");
}

#[sqlx::test(migrations = false)]
async fn a_category_filter_includes_its_subcategories(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let apparel = category(&pool, "apparel", None).await;
    let shirts = category(&pool, "shirts", Some(apparel)).await;
    let home = category(&pool, "home", None).await;
    product(&pool, "tee", "Tee", vec![shirts], ProductStatus::Active).await;
    product(&pool, "lamp", "Lamp", vec![home], ProductStatus::Active).await;
    let page = store::list_products(
        &pool,
        &ProductFilter {
            category: Some("apparel".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|p| p.slug.as_str())
            .collect::<Vec<_>>(),
        vec!["tee"]
    );
    let missing = store::list_products(
        &pool,
        &ProductFilter {
            category: Some("nope".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(missing, Err(Error::CategoryNotFound(_))));
    // Keys no slug or id can be are not found either, without a database error.
    for key in ["a\0b", "Ä", "two words"] {
        let odd = store::list_products(
            &pool,
            &ProductFilter {
                category: Some(key.into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await;
        assert!(matches!(odd, Err(Error::CategoryNotFound(_))), "{key:?}");
        assert!(store::product_by_slug(&pool, key).await.unwrap().is_none());
    }

    // Coupon scopes need the ancestors of a variant's categories.
    let facts = store::variant_facts(&pool, &["TEE-1".to_string(), "GHOST".to_string()])
        .await
        .unwrap();
    assert_eq!(facts.len(), 1);
    let mut expected = vec![apparel, shirts];
    expected.sort();
    assert_eq!(facts[0].category_ids, expected);
}

#[sqlx::test(migrations = false)]
async fn search_matches_word_prefixes_and_ignores_query_syntax(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    product(&pool, "linen", "Linen Shirt", vec![], ProductStatus::Active).await;
    product(&pool, "lamp", "Brass Lamp", vec![], ProductStatus::Active).await;
    for (q, expected) in [
        ("shi", vec!["linen"]),
        ("BRASS la", vec!["lamp"]),
        ("' | !:*", vec![]),
        ("zebra", vec![]),
    ] {
        let page = store::list_products(
            &pool,
            &ProductFilter {
                q: Some(q.into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let slugs: Vec<&str> = page.items.iter().map(|p| p.slug.as_str()).collect();
        assert_eq!(slugs, expected, "q = {q:?}");
    }
}

#[sqlx::test(migrations = false)]
async fn upserting_a_product_is_idempotent_and_writes_its_event(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let a = product(&pool, "same", "Same", vec![], ProductStatus::Active).await;
    let b = product(
        &pool,
        "same",
        "Same, renamed",
        vec![],
        ProductStatus::Active,
    )
    .await;
    assert_eq!(a, b);
    let p = store::product_by_slug(&pool, "same")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.title, "Same, renamed");
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM catalog.outbox WHERE event_type = 'catalog.product_upserted'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(events, 2);
}
