//! Catalog activities. They run on `souk.catalog`.

use serde::{Deserialize, Serialize};
use souk_domain::Sku;
use uuid::Uuid;

use crate::activity;

/// The `catalog` domain's task queue.
pub const QUEUE: crate::queues::Queue = crate::queues::Queue::new("catalog");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribeSkus {
    pub skus: Vec<Sku>,
}

/// What a workflow needs to know about a SKU: who sells it, how it is taxed and filed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuFacts {
    pub sku: Sku,
    pub title: String,
    pub product_id: Uuid,
    pub product_title: String,
    pub vendor_id: Uuid,
    pub tax_class: String,
    pub weight_grams: i32,
    /// The product's categories and all their ancestors.
    pub category_ids: Vec<Uuid>,
    /// Their slugs, in the same order. (A catalog older than this field gives none.)
    #[serde(default)]
    pub category_slugs: Vec<String>,
    /// Whether the product can be sold now (it is active).
    pub sellable: bool,
}

activity!(
    /// Facts about SKUs, in the order asked; unknown SKUs are left out.
    Describe, "catalog.describe_skus", DescribeSkus => Vec<SkuFacts>
);
