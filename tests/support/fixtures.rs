//! Fixtures created directly in the domain stores (as the tests' superuser), each with
//! unique names so tests can run in parallel on one stack.

use serde_json::json;
use souk_catalog::store::{self as catalog, NewCategory, NewProduct, NewVariant};
use souk_domain::catalog::ProductStatus;
use souk_domain::coupon::Coupon;
use souk_domain::quote::ShippingRate;
use souk_domain::{CountryCode, Currency, Money, Sku};
use souk_inventory::store as inventory;
use souk_kit::Ctx;
use souk_pricing::store as pricing;
use sqlx::PgPool;
use uuid::Uuid;

use crate::unique;

/// One variant of a fixture product: USD price in cents and stock per warehouse.
#[derive(Debug, Clone)]
pub struct VariantSpec {
    pub price: i64,
    pub east: i64,
    pub west: i64,
    pub tax_class: &'static str,
}

impl VariantSpec {
    pub fn new(price: i64, east: i64, west: i64) -> Self {
        Self {
            price,
            east,
            west,
            tax_class: "standard",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Product {
    pub id: Uuid,
    pub slug: String,
    pub vendor_id: Uuid,
    pub category_id: Uuid,
    pub category_slug: String,
    pub skus: Vec<String>,
}

/// Warehouses, tax rates and shipping to the US: the world every fixture lives in.
pub async fn world(db: &PgPool) {
    for w in ["east", "west"] {
        inventory::upsert_warehouse(db, w, w).await.unwrap();
    }
    pricing::upsert_tax_rate(db, CountryCode::US, "standard", 825)
        .await
        .unwrap();
    pricing::upsert_tax_rate(db, CountryCode::US, "reduced", 0)
        .await
        .unwrap();
    pricing::upsert_shipping_rate(
        db,
        CountryCode::US,
        ShippingRate {
            per_vendor: Money::new(599, Currency::USD),
            free_over: Some(Money::new(7_500, Currency::USD)),
        },
    )
    .await
    .unwrap();
}

/// An active product in its own category, from its own vendor, with the given variants.
pub async fn product(db: &PgPool, variants: &[VariantSpec]) -> Product {
    world(db).await;
    let u = unique();
    let ctx = Ctx::new("fixture");
    let category_slug = format!("cat-{}", u.to_lowercase());
    let category_id = catalog::upsert_category(
        db,
        &ctx,
        &NewCategory {
            slug: category_slug.clone(),
            name: format!("Category {u}"),
            parent_id: None,
            position: 0,
        },
    )
    .await
    .unwrap();
    let vendor_id = Uuid::now_v7();
    let skus: Vec<String> = (0..variants.len()).map(|i| format!("T{u}-{i}")).collect();
    let slug = format!("fixture-{}", u.to_lowercase());
    let id = catalog::upsert_product(
        db,
        &ctx,
        &NewProduct {
            vendor_id,
            slug: slug.clone(),
            title: format!("Fixture {u}"),
            description: "Made for a test".into(),
            status: ProductStatus::Active,
            attributes: json!({"fixture": true}),
            category_ids: vec![category_id],
            variants: skus
                .iter()
                .zip(variants)
                .map(|(sku, v)| NewVariant {
                    sku: Sku::parse(sku).unwrap(),
                    title: format!("Variant {sku}"),
                    options: json!({"size": sku}),
                    tax_class: v.tax_class.into(),
                    weight_grams: 100,
                })
                .collect(),
        },
    )
    .await
    .unwrap();
    for (sku, v) in skus.iter().zip(variants) {
        let sku = Sku::parse(sku).unwrap();
        pricing::upsert_price(db, &ctx, &sku, Money::new(v.price, Currency::USD), None)
            .await
            .unwrap();
        inventory::seed_stock(db, &sku, "east", v.east)
            .await
            .unwrap();
        inventory::seed_stock(db, &sku, "west", v.west)
            .await
            .unwrap();
        inventory::set_low_stock_threshold(db, &sku, 5)
            .await
            .unwrap();
    }
    Product {
        id,
        slug,
        vendor_id,
        category_id,
        category_slug,
        skus,
    }
}

/// Stores a coupon and returns its code.
pub async fn coupon(db: &PgPool, c: Coupon) -> String {
    pricing::upsert_coupon(db, &Ctx::new("fixture"), &c)
        .await
        .unwrap();
    c.code
}

/// The vendors row of `vendor_id` (products from [`product`] have none), named `name`, with
/// an address unique to the test; the address.
pub async fn vendor(db: &PgPool, vendor_id: Uuid, name: &str) -> String {
    let u = crate::unique().to_lowercase();
    let email = format!("vendor-{u}@example.com");
    sqlx::query(
        "INSERT INTO vendors.vendors (id, slug, name, email, country) VALUES ($1, $2, $3, $4, 'US')",
    )
    .bind(vendor_id)
    .bind(format!("vendor-{u}"))
    .bind(name)
    .bind(&email)
    .execute(db)
    .await
    .expect("a vendor");
    email
}
