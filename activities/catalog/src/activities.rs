//! Catalog activities, run by the catalog worker on `souk.catalog`.

use std::sync::Arc;

use souk_contracts::catalog::{Describe, DescribeSkus, SkuFacts};
use souk_domain::Sku;
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use super::store;

pub struct CatalogActivities {
    pub pool: PgPool,
}

#[activities]
impl CatalogActivities {
    #[activity(definition = Describe)]
    pub async fn describe_skus(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: DescribeSkus,
    ) -> Result<Vec<SkuFacts>, ActivityError> {
        let skus: Vec<String> = input.skus.iter().map(|s| s.as_str().to_string()).collect();
        let facts = store::variant_facts(&self.pool, &skus)
            .await
            .map_err(anyhow::Error::from)?;
        let mut out = Vec::with_capacity(facts.len());
        for sku in &input.skus {
            if let Some(f) = facts.iter().find(|f| f.sku == sku.as_str()) {
                out.push(SkuFacts {
                    sku: Sku::parse(&f.sku).map_err(anyhow::Error::from)?,
                    title: f.title.clone(),
                    product_id: f.product_id,
                    product_title: f.product_title.clone(),
                    vendor_id: f.vendor_id,
                    tax_class: f.tax_class.clone(),
                    weight_grams: f.weight_grams,
                    category_ids: f.category_ids.clone(),
                    category_slugs: f.category_slugs.clone(),
                    sellable: f.status == "active",
                });
            }
        }
        Ok(out)
    }
}
