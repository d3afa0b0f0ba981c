//! Demo data: vendors, a category tree, products with variants, prices in USD and EUR, taxes,
//! shipping rates, stock in two warehouses and coupons. Deterministic, and loaded once: if the
//! demo vendors exist, nothing is touched, so a second `./dev up` never resets what people
//! changed.

use chrono::{Duration, Utc};
use serde_json::json;
use souk_domain::catalog::{ProductStatus, slugify};
use souk_domain::coupon::{Coupon, CouponScope, DiscountKind};
use souk_domain::quote::ShippingRate;
use souk_domain::{CountryCode, Currency, Money, Sku};
use sqlx::PgPool;
use uuid::Uuid;

use souk_catalog::store::{self as catalog, NewCategory, NewProduct, NewVariant};
use souk_inventory::store as inventory;
use souk_kit::Ctx;
use souk_pricing::store as pricing;
use souk_vendors::store::{self as vendors, NewVendor};

/// One pool per domain, each connected as that domain's role.
pub struct Pools {
    pub catalog: PgPool,
    pub inventory: PgPool,
    pub pricing: PgPool,
    pub vendors: PgPool,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub skipped: bool,
    pub vendors: usize,
    pub categories: usize,
    pub products: usize,
    pub variants: usize,
    pub coupons: usize,
}

const VENDORS: [(&str, &str, &str); 3] = [
    ("northwind-goods", "Northwind Goods", "US"),
    ("atlas-outfitters", "Atlas Outfitters", "US"),
    ("lumen-home", "Lumen Home", "DE"),
];

/// (parent slug, slug, name); parents come first.
const CATEGORIES: [(Option<&str>, &str, &str); 9] = [
    (None, "apparel", "Apparel"),
    (Some("apparel"), "shirts", "Shirts"),
    (Some("apparel"), "outerwear", "Outerwear"),
    (None, "outdoors", "Outdoors"),
    (Some("outdoors"), "camping", "Camping"),
    (Some("outdoors"), "bags", "Bags"),
    (None, "home", "Home"),
    (Some("home"), "kitchen", "Kitchen"),
    (Some("home"), "lighting", "Lighting"),
];

/// Leaf category, vendor index, nouns, option name and values, tax class.
struct Line {
    category: &'static str,
    vendor: usize,
    nouns: [&'static str; 5],
    option: &'static str,
    values: [&'static str; 4],
    tax_class: &'static str,
}

const LINES: [Line; 6] = [
    Line {
        category: "shirts",
        vendor: 1,
        nouns: [
            "Oxford Shirt",
            "Linen Shirt",
            "Flannel Shirt",
            "Henley",
            "Polo",
        ],
        option: "size",
        values: ["S", "M", "L", "XL"],
        tax_class: "standard",
    },
    Line {
        category: "outerwear",
        vendor: 1,
        nouns: [
            "Rain Jacket",
            "Down Vest",
            "Wool Coat",
            "Fleece",
            "Windbreaker",
        ],
        option: "size",
        values: ["S", "M", "L", "XL"],
        tax_class: "standard",
    },
    Line {
        category: "camping",
        vendor: 0,
        nouns: ["Tent", "Sleeping Bag", "Camp Stove", "Lantern", "Hammock"],
        option: "color",
        values: ["Forest", "Sand", "Slate", "Ember"],
        tax_class: "standard",
    },
    Line {
        category: "bags",
        vendor: 0,
        nouns: ["Daypack", "Duffel", "Tote", "Sling Bag", "Rolltop"],
        option: "color",
        values: ["Black", "Olive", "Navy", "Rust"],
        tax_class: "standard",
    },
    Line {
        category: "kitchen",
        vendor: 2,
        nouns: [
            "Coffee Beans",
            "Loose Tea",
            "Olive Oil",
            "Honey",
            "Spice Set",
        ],
        option: "size",
        values: ["250g", "500g", "1kg", "2kg"],
        tax_class: "reduced",
    },
    Line {
        category: "lighting",
        vendor: 2,
        nouns: [
            "Desk Lamp",
            "Pendant Light",
            "Floor Lamp",
            "String Lights",
            "Wall Sconce",
        ],
        option: "finish",
        values: ["Brass", "Black", "White", "Copper"],
        tax_class: "standard",
    },
];

const MATERIALS: [&str; 4] = ["cotton", "recycled nylon", "steel", "oak"];

const ADJECTIVES: [&str; 9] = [
    "Classic", "Trail", "Everyday", "Heritage", "Alpine", "Coastal", "Urban", "Nordic", "Summit",
];

/// Loads the demo data unless it is there already.
pub async fn run(pools: &Pools) -> anyhow::Result<Summary> {
    let existing = vendors::list(&pools.vendors).await?;
    if existing.iter().any(|v| v.slug == VENDORS[0].0) {
        return Ok(Summary {
            skipped: true,
            ..Summary::default()
        });
    }
    let ctx = Ctx::new("seed");
    let mut summary = Summary::default();

    let mut vendor_ids = Vec::new();
    for (slug, name, country) in VENDORS {
        let id = vendors::upsert(
            &pools.vendors,
            &ctx,
            &NewVendor {
                slug: slug.into(),
                name: name.into(),
                email: format!("sales@{slug}.example"),
                country: country.into(),
            },
        )
        .await?;
        vendor_ids.push(id);
    }
    summary.vendors = vendor_ids.len();

    let mut category_ids: Vec<(&str, Uuid)> = Vec::new();
    for (position, (parent, slug, name)) in CATEGORIES.into_iter().enumerate() {
        let parent_id = parent.and_then(|p| {
            category_ids
                .iter()
                .find(|(s, _)| *s == p)
                .map(|(_, id)| *id)
        });
        let id = catalog::upsert_category(
            &pools.catalog,
            &ctx,
            &NewCategory {
                slug: slug.into(),
                name: name.into(),
                parent_id,
                position: position as i32,
            },
        )
        .await?;
        category_ids.push((slug, id));
    }
    summary.categories = category_ids.len();
    let category = |slug: &str| {
        category_ids
            .iter()
            .find(|(s, _)| *s == slug)
            .map(|(_, id)| *id)
    };

    for w in [
        ("east", "East Coast fulfilment centre"),
        ("west", "West Coast fulfilment centre"),
    ] {
        inventory::upsert_warehouse(&pools.inventory, w.0, w.1).await?;
    }
    let usd_rates = [
        ("US", "standard", 825),
        ("US", "reduced", 0),
        ("CA", "standard", 1300),
        ("CA", "reduced", 500),
    ];
    let eur_rates = [
        ("DE", "standard", 1900),
        ("DE", "reduced", 700),
        ("FR", "standard", 2000),
        ("FR", "reduced", 550),
        ("NL", "standard", 2100),
        ("NL", "reduced", 900),
    ];
    for (country, class, bp) in usd_rates.into_iter().chain(eur_rates) {
        pricing::upsert_tax_rate(&pools.pricing, CountryCode::parse(country)?, class, bp).await?;
    }
    for (country, currency, flat, free_over) in [
        ("US", Currency::USD, 599, 7_500),
        ("CA", Currency::USD, 999, 12_000),
        ("DE", Currency::EUR, 499, 6_000),
        ("FR", Currency::EUR, 599, 6_000),
        ("NL", Currency::EUR, 499, 6_000),
    ] {
        pricing::upsert_shipping_rate(
            &pools.pricing,
            CountryCode::parse(country)?,
            ShippingRate {
                per_vendor: Money::new(flat, currency),
                free_over: Some(Money::new(free_over, currency)),
            },
        )
        .await?;
    }

    // 52 products: 50 active, one draft and one archived (they never show in listings).
    for n in 0..52usize {
        let line = &LINES[n % LINES.len()];
        let noun = line.nouns[(n / LINES.len()) % line.nouns.len()];
        let adjective = ADJECTIVES[(n * 7 + n / LINES.len()) % ADJECTIVES.len()];
        let title = format!("{adjective} {noun}");
        let slug = format!("{}-{}", slugify(&title), n + 1);
        let status = match n {
            50 => ProductStatus::Draft,
            51 => ProductStatus::Archived,
            _ => ProductStatus::Active,
        };
        let variant_count = 2 + n % 3;
        let base = 1_200 + ((n as i64 * 7_919) % 14_000);
        let price_usd = (base / 100) * 100 + 99;
        let vendor_code = ["NW", "AT", "LH"][line.vendor];
        let mut variants = Vec::new();
        for (i, value) in line.values.iter().take(variant_count).enumerate() {
            let sku = Sku::parse(&format!(
                "{vendor_code}-{:03}-{}",
                n + 1,
                value.to_ascii_uppercase()
            ))?;
            variants.push(NewVariant {
                sku: sku.clone(),
                title: (*value).to_string(),
                options: json!({ line.option: value }),
                tax_class: line.tax_class.into(),
                weight_grams: 200 + (n as i32 * 37 + i as i32 * 50) % 2_000,
            });
            let usd = Money::new(price_usd + i as i64 * 200, Currency::USD);
            let compare_at = (n % 5 == 0).then(|| Money::new(usd.amount + 1_000, Currency::USD));
            pricing::upsert_price(&pools.pricing, &ctx, &sku, usd, compare_at).await?;
            let eur = Money::new((usd.amount * 92 / 100 / 100) * 100 + 95, Currency::EUR);
            pricing::upsert_price(&pools.pricing, &ctx, &sku, eur, None).await?;
            for (w, on_hand) in [
                ("east", (n as i64 * 13 + i as i64 * 7) % 60),
                ("west", (n as i64 * 29 + i as i64 * 11) % 45),
            ] {
                inventory::seed_stock(&pools.inventory, &sku, w, on_hand).await?;
            }
            inventory::set_low_stock_threshold(&pools.inventory, &sku, 5).await?;
        }
        let leaf = category(line.category)
            .ok_or_else(|| anyhow::anyhow!("no category {}", line.category))?;
        catalog::upsert_product(
            &pools.catalog,
            &ctx,
            &NewProduct {
                vendor_id: vendor_ids[line.vendor],
                slug,
                title,
                description: format!(
                    "The {} from {}: made to last, sold by a vendor you can trust.",
                    noun.to_lowercase(),
                    VENDORS[line.vendor].1
                ),
                status,
                attributes: json!({ "material": MATERIALS[n % MATERIALS.len()] }),
                category_ids: vec![leaf],
                variants: variants.clone(),
            },
        )
        .await?;
        summary.products += 1;
        summary.variants += variants.len();
    }

    let now = Utc::now();
    let usd = |a| Some(Money::new(a, Currency::USD));
    let coupons = [
        Coupon {
            code: "WELCOME10".into(),
            description: "10% off your first order over $20 (up to $50)".into(),
            discount: DiscountKind::Percent {
                basis_points: 1_000,
            },
            min_order: usd(2_000),
            max_discount: usd(5_000),
            starts_at: None,
            ends_at: None,
            total_limit: None,
            per_customer_limit: Some(1),
            scope: CouponScope::All,
            active: true,
        },
        Coupon {
            code: "SAVE5".into(),
            description: "$5 off orders over $30".into(),
            discount: DiscountKind::Fixed {
                amount: Money::new(500, Currency::USD),
            },
            min_order: usd(3_000),
            max_discount: None,
            starts_at: None,
            ends_at: None,
            total_limit: Some(1_000),
            per_customer_limit: None,
            scope: CouponScope::All,
            active: true,
        },
        Coupon {
            code: "OUTDOORS15".into(),
            description: "15% off everything in Outdoors".into(),
            discount: DiscountKind::Percent {
                basis_points: 1_500,
            },
            min_order: None,
            max_discount: None,
            starts_at: None,
            ends_at: None,
            total_limit: None,
            per_customer_limit: None,
            scope: CouponScope::Category(vec![category("outdoors").unwrap_or_default()]),
            active: true,
        },
        Coupon {
            code: "SUMMER25".into(),
            description: "Last summer's sale".into(),
            discount: DiscountKind::Percent {
                basis_points: 2_500,
            },
            min_order: None,
            max_discount: None,
            starts_at: Some(now - Duration::days(200)),
            ends_at: Some(now - Duration::days(100)),
            total_limit: None,
            per_customer_limit: None,
            scope: CouponScope::All,
            active: true,
        },
    ];
    for c in &coupons {
        pricing::upsert_coupon(&pools.pricing, &ctx, c).await?;
    }
    summary.coupons = coupons.len();
    Ok(summary)
}
