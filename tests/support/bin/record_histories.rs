//! Records the histories the replay tests replay: a completed checkout, a compensated one
//! (declined card), a guest's checkout with a coupon (held again with the card) and a
//! low-stock alert, run on a fresh stack. Payloads are encrypted with the development key,
//! which the replay test uses too. Run it with
//! `./dev record-histories` after a change to a workflow that is meant to change its
//! histories (and keep the old files too, if running executions must still replay).

use std::time::Duration;

use serde_json::json;
use souk_tests::fixtures::{self, VariantSpec};
use souk_tests::{Http, admin_token, app, eventually, unique};
use souk_workflows::{CheckoutWorkflow, LowStockAlertWorkflow};
use temporalio_client::WorkflowFetchHistoryOptions;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/histories");

async fn checkout(http: &Http, sku: &str, payment_method: &str, coupon: Option<&str>) -> String {
    let cart = http.post("/v1/carts", json!({})).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    http.post(
        &format!("/v1/carts/{cart}/items"),
        json!({"sku": sku, "quantity": 1}),
    )
    .await;
    if let Some(code) = coupon {
        let r = http
            .post(&format!("/v1/carts/{cart}/coupon"), json!({"code": code}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let body = json!({"cart_id": cart, "email": "recorder@example.com",
        "shipping_address": {"name": "Ada Lovelace", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"},
        "payment": {"payment_method": payment_method}});
    let r = http.post_idempotent("/v1/checkouts", &unique(), body).await;
    let id = r.body["checkout_id"]
        .as_str()
        .expect("a checkout")
        .to_string();
    eventually(Duration::from_secs(60), "the checkout to end", || async {
        let r = http.get(&format!("/v1/checkouts/{id}")).await;
        (r.body["state"] != "running").then_some(())
    })
    .await;
    id
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(1_999, 9, 0)]).await;
    let http = Http::new();
    let client = app().temporal().await;
    let save = |name: &str, json: Vec<u8>| {
        let path = format!("{DIR}/{name}.json");
        std::fs::write(&path, json).map(|_| println!("wrote {path}"))
    };

    let coupon = fixtures::coupon(
        &db,
        souk_domain::coupon::Coupon {
            code: format!("REC{}", unique()),
            description: "10% off, once per customer".into(),
            discount: souk_domain::coupon::DiscountKind::Percent {
                basis_points: 1_000,
            },
            min_order: None,
            max_discount: None,
            starts_at: None,
            ends_at: None,
            total_limit: None,
            per_customer_limit: Some(1),
            scope: souk_domain::coupon::CouponScope::All,
            active: true,
        },
    )
    .await;
    for (name, pm, code) in [
        ("checkout_completed", "pm_card_visa", None),
        ("checkout_compensated", "pm_card_chargeDeclined", None),
        (
            "checkout_with_coupon",
            "pm_card_mastercard",
            Some(coupon.as_str()),
        ),
    ] {
        let id = checkout(&http, &p.skus[0], pm, code).await;
        let json = client
            .get_workflow_handle::<CheckoutWorkflow>(id)
            .fetch_history(WorkflowFetchHistoryOptions::default())
            .to_json()
            .await?;
        save(name, json)?;
    }

    let r = http
        .admin_put(
            &format!("/v1/admin/inventory/{}/east", p.skus[0]),
            Some(admin_token()),
            json!({"on_hand": 0}),
        )
        .await;
    let wf = r.body["low_stock_alert"]["workflow_id"]
        .as_str()
        .expect("an alert")
        .to_string();
    eventually(Duration::from_secs(30), "the alert", || async {
        let r = http
            .admin_get(&format!("/v1/admin/inventory/alerts?sku={}", p.skus[0]))
            .await;
        (!r.body["items"].as_array()?.is_empty()).then_some(())
    })
    .await;
    let json = client
        .get_workflow_handle::<LowStockAlertWorkflow>(wf)
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .to_json()
        .await?;
    save("low_stock_alert", json)?;
    Ok(())
}
