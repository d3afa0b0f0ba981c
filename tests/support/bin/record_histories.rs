//! Records the histories the replay tests replay, one per branch of the checkout: completed;
//! compensated (declined card); a coupon held again with the card; 3-D Secure confirmed by a
//! signed webhook; 3-D Secure never confirmed (`payment_timeout`); with a capture delay and a
//! coupon; cancelled while waiting for the customer; stopped before capture because its
//! reservation was lost; a capture held past two lease renewals; refunded after the capture;
//! a low-stock alert; a checkout that started its shipment, that shipment packed, labelled and
//! delivered, a shipment whose vendor cancelled its line, a shipment whose timers fired, and
//! a checkout that shipped from two warehouses (`record-histories shipment` records only
//! these five); a return approved, labelled, scanned, received and refunded, a declined one,
//! and one labelled and refunded less a restocking fee (`record-histories returns` records
//! only these three, `fee` only the last); a goodwill refund of an amount, one
//! refused for asking more than is left, and one the provider refused
//! (`record-histories goodwill`); a checkout that posted its capture to the ledger
//! (`record-histories ledger`). They run on fresh stacks (the sandbox one, and one that takes cards with
//! Stripe and waits before capturing). Payloads are encrypted with the development key,
//! which the replay test uses too. Run it with `./dev record-histories` after a change to a
//! workflow that is meant to change its histories, and keep the old files too if running
//! executions must still replay.

use std::time::Duration;

use serde_json::json;
use souk_tests::fixtures::{self, Product, VariantSpec};
use souk_tests::{Http, TestApp, WEBHOOK_SECRET, admin_token, app, eventually, stripe_app, unique};
use souk_workflows::{CheckoutWorkflow, LowStockAlertWorkflow};
use stripe_webhook::Webhook;
use temporalio_client::WorkflowFetchHistoryOptions;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/histories");

/// A cart with one unit of `sku` (and a coupon); its id.
async fn start_cart(http: &Http, sku: &str, coupon: Option<&str>) -> String {
    let cart = http.post("/v1/carts", json!({})).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http
        .post(
            &format!("/v1/carts/{cart}/items"),
            json!({"sku": sku, "quantity": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    if let Some(code) = coupon {
        let r = http
            .post(&format!("/v1/carts/{cart}/coupon"), json!({"code": code}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    cart
}

/// Checks a cart out; the checkout's id.
async fn checkout(http: &Http, cart: &str, payment_method: &str) -> String {
    let body = json!({"cart_id": cart, "email": format!("recorder-{}@example.com", unique().to_lowercase()),
        "shipping_address": {"name": "Ada Lovelace", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"},
        "payment": {"payment_method": payment_method}});
    let r = http.post_idempotent("/v1/checkouts", &unique(), body).await;
    r.body["checkout_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a checkout: {}", r.text))
        .to_string()
}

/// Starts a checkout of one unit of `sku` (with a coupon); its id.
async fn start(http: &Http, sku: &str, payment_method: &str, coupon: Option<&str>) -> String {
    let cart = start_cart(http, sku, coupon).await;
    checkout(http, &cart, payment_method).await
}

/// Takes a checkout's reservation back, as an operator or the sweeper would.
async fn take_back(db: &sqlx::PgPool, reservation_id: &str) -> anyhow::Result<()> {
    souk_inventory::store::release(
        db,
        &souk_kit::Ctx::system(),
        reservation_id,
        Some("taken back by the recorder"),
    )
    .await?;
    Ok(())
}

/// Waits until the checkout ends; its final state.
async fn ended(http: &Http, id: &str) -> String {
    eventually(Duration::from_secs(90), "the checkout to end", || async {
        let r = http.get(&format!("/v1/checkouts/{id}")).await;
        (r.body["state"] != "running")
            .then(|| r.body["state"].as_str().unwrap_or_default().to_string())
    })
    .await
}

/// Waits until the checkout waits for the customer (3-D Secure); its payment reference.
async fn awaiting_payment(a: &TestApp, http: &Http, id: &str) -> String {
    let db = a.db().await;
    eventually(Duration::from_secs(30), "the checkout to wait", || async {
        let r = http.get(&format!("/v1/checkouts/{id}")).await;
        if r.body["step"] != "awaiting_payment" {
            return None;
        }
        sqlx::query_scalar(
            "SELECT provider_payment_id FROM payments.payments WHERE checkout_id = $1",
        )
        .bind(id)
        .fetch_optional(&db)
        .await
        .unwrap()
    })
    .await
}

fn once_per_customer(code: String) -> souk_domain::coupon::Coupon {
    souk_domain::coupon::Coupon {
        code,
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
    }
}

async fn save(a: &TestApp, name: &str, id: String) -> anyhow::Result<()> {
    let json = a
        .temporal()
        .await
        .get_workflow_handle::<CheckoutWorkflow>(id)
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .to_json()
        .await?;
    write(name, json)
}

async fn save_shipment(a: &TestApp, name: &str, id: String) -> anyhow::Result<()> {
    let json = a
        .temporal()
        .await
        .get_workflow_handle::<souk_workflows::ShipmentWorkflow>(id)
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .to_json()
        .await?;
    write(name, json)
}

async fn save_return(a: &TestApp, name: &str, id: String) -> anyhow::Result<()> {
    let json = a
        .temporal()
        .await
        .get_workflow_handle::<souk_workflows::ReturnWorkflow>(id)
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .to_json()
        .await?;
    write(name, json)
}

/// `units` of a product bought by a new customer and delivered: the customer, the order
/// number, the SKU and its vendor.
async fn delivered(a: &TestApp, units: i64) -> anyhow::Result<(Http, String, String, uuid::Uuid)> {
    let p = product(a).await;
    fixtures::vendor(&a.db().await, p.vendor_id, "Recorded Returns").await;
    let sku = p.skus[0].as_str();
    let (_, customer) = souk_tests::account(&["customer"], None).await;
    let cart = start_cart(&customer, sku, None).await;
    let r = customer
        .patch(
            &format!("/v1/carts/{cart}/items/{sku}"),
            json!({"quantity": units}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = checkout(&customer, &cart, "pm_card_visa").await;
    assert_eq!(ended(&customer, &id).await, "completed");
    let order_no = customer.get(&format!("/v1/checkouts/{id}")).await.body["order_no"]
        .as_str()
        .expect("an order number")
        .to_string();
    let shipments = souk_contracts::shipping::ShipmentClient::new(a.temporal().await);
    let shipment = souk_contracts::shipping::workflow_id(&order_no, p.vendor_id);
    eventually(Duration::from_secs(20), "the shipment opened", || async {
        shipments.status(&shipment).await.ok().flatten()
    })
    .await;
    souk_tests::shipments::deliver(a, &shipments, &shipment).await;
    eventually(Duration::from_secs(20), "the order delivered", || async {
        let r = customer.get(&format!("/v1/me/orders/{order_no}")).await;
        (r.body["status"] == "delivered").then_some(())
    })
    .await;
    Ok((customer, order_no, sku.to_string(), p.vendor_id))
}

async fn warehouse_of(a: &TestApp, sku: &str) -> anyhow::Result<String> {
    Ok(
        sqlx::query_scalar("SELECT warehouse FROM inventory.stock WHERE sku = $1 LIMIT 1")
            .bind(sku)
            .fetch_one(&a.db().await)
            .await?,
    )
}

/// Waits until the return `rma` has its label; its tracking code.
async fn labelled(returns: &souk_contracts::returns::ReturnClient, rma: &str) -> String {
    let id = souk_contracts::returns::workflow_id(rma);
    eventually(Duration::from_secs(20), "the return labelled", || async {
        let v = returns.status(&id).await.ok().flatten()?;
        (v.status == souk_domain::returns::ReturnStatus::LabelIssued)
            .then_some(v.label?.tracking_code)
    })
    .await
}

/// A return of two of three delivered units, approved by its vendor, labelled, scanned on
/// its way and delivered by the carrier, counted (one as new, one damaged) and refunded less
/// the postage the customer pays (`customer_postage`); then the last unit's return, declined.
async fn record_returns(a: &TestApp) -> anyhow::Result<()> {
    use souk_contracts::returns::{Decision, LineCount, Receipt, ReturnClient, workflow_id};
    let (customer, order_no, sku, _) = delivered(a, 3).await?;
    let sku = sku.as_str();
    let returns = ReturnClient::new(a.temporal().await);
    let ask = |n: i64| json!({"lines": [{"sku": sku, "quantity": n, "reason": "changed_mind"}]});
    let path = format!("/v1/me/orders/{order_no}/returns");
    let r = customer.post(&path, ask(2)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rma = r.body["rma_no"].as_str().expect("an RMA").to_string();
    let actor = "user:recorder".to_string();
    returns
        .decide(
            &workflow_id(&rma),
            Decision {
                approve: true,
                reason: None,
                actor: actor.clone(),
            },
        )
        .await?;
    // Its label bought, the carrier's scans move it to the warehouse (the `return_label`
    // patch).
    let tracking = labelled(&returns, &rma).await;
    let at = souk_tests::shipments::at;
    use souk_domain::shipment::ShipmentStatus;
    souk_tests::shipments::scan(&tracking, ShipmentStatus::InTransit, at(1)).await;
    souk_tests::shipments::scan(&tracking, ShipmentStatus::Delivered, at(2)).await;
    eventually(Duration::from_secs(20), "the parcel received", || async {
        let v = returns.status(&workflow_id(&rma)).await.ok().flatten()?;
        (v.status == souk_domain::returns::ReturnStatus::Received).then_some(())
    })
    .await;
    let warehouse = warehouse_of(a, sku).await?;
    returns
        .receive(
            &workflow_id(&rma),
            Receipt {
                warehouse,
                lines: vec![LineCount {
                    sku: souk_domain::Sku::parse(sku)?,
                    counted: souk_domain::returns::Counted {
                        sellable: 1,
                        damaged: 1,
                        ..Default::default()
                    },
                }],
                actor: actor.clone(),
            },
        )
        .await?;
    let ended: String = a
        .temporal()
        .await
        .get_workflow_handle::<souk_contracts::returns::Return>(workflow_id(&rma))
        .get_result(Default::default())
        .await?;
    assert_eq!(ended, "closed");
    save_return(a, "return_refunded", workflow_id(&rma)).await?;
    let r = customer.post(&path, ask(1)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rma = r.body["rma_no"].as_str().expect("an RMA").to_string();
    returns
        .decide(
            &workflow_id(&rma),
            Decision {
                approve: false,
                reason: Some("worn".into()),
                actor,
            },
        )
        .await?;
    let ended: String = a
        .temporal()
        .await
        .get_workflow_handle::<souk_contracts::returns::Return>(workflow_id(&rma))
        .get_result(Default::default())
        .await?;
    assert_eq!(ended, "declined");
    save_return(a, "return_declined", workflow_id(&rma)).await
}

/// A return of two units the customer changed their mind about, under a policy that does not
/// take back gift cards (the catalog asked, the `non_returnable_categories` patch), approves
/// it by itself and keeps a 15% restocking fee (the `restocking_fee` patch): labelled,
/// received as new before the carrier scanned it, and refunded less the fee.
async fn record_return_fee(a: &TestApp) -> anyhow::Result<()> {
    use souk_contracts::returns::{
        LineCount, Receipt, ReturnClient, ReturnInput, ReturnLineRequest, ReturnSettings,
        workflow_id,
    };
    use souk_domain::returns::ReturnReason;
    use temporalio_client::{WorkflowIdConflictPolicy, WorkflowUpdateWithStartOptions};
    let (customer, order_no, sku, _) = delivered(a, 2).await?;
    let customer_id = customer.get("/v1/me").await.body["id"]
        .as_str()
        .expect("an id")
        .to_string();
    let rma = souk_domain::returns::rma_no(uuid::Uuid::new_v4().as_u64_pair().0);
    let returns = ReturnClient::new(a.temporal().await);
    let input = ReturnInput {
        rma_no: rma.clone(),
        order_no,
        actor: format!("user:{customer_id}"),
        customer_id,
        lines: vec![ReturnLineRequest {
            sku: souk_domain::Sku::parse(&sku)?,
            quantity: 2,
            reason: ReturnReason::ChangedMind,
            note: None,
        }],
        settings: ReturnSettings {
            auto_approve_reasons: vec![ReturnReason::ChangedMind],
            auto_approve_max_minor: i64::MAX,
            restocking_fee_bps: 1_500,
            non_returnable_categories: vec!["gift-cards".into()],
            ..ReturnSettings::default()
        },
    };
    let options = WorkflowUpdateWithStartOptions::new(
        souk_contracts::queues::workflows(&a.task_queue_prefix),
        workflow_id(&rma),
        WorkflowIdConflictPolicy::Fail,
    )
    .build();
    returns
        .start(input, options)
        .await?
        .get_result(temporalio_client::RpcOptions::default())
        .await?;
    // Received as soon as it is labelled, before any scan.
    labelled(&returns, &rma).await;
    returns
        .receive(
            &workflow_id(&rma),
            Receipt {
                warehouse: warehouse_of(a, &sku).await?,
                lines: vec![LineCount {
                    sku: souk_domain::Sku::parse(&sku)?,
                    counted: souk_domain::returns::Counted {
                        sellable: 2,
                        ..Default::default()
                    },
                }],
                actor: "user:recorder".into(),
            },
        )
        .await?;
    let ended: String = a
        .temporal()
        .await
        .get_workflow_handle::<souk_contracts::returns::Return>(workflow_id(&rma))
        .get_result(Default::default())
        .await?;
    assert_eq!(ended, "closed");
    let view = returns.status(&workflow_id(&rma)).await?.expect("a view");
    assert!(view.lines[0].fee.is_some(), "{view:?}");
    save_return(a, "return_restocking_fee", workflow_id(&rma)).await
}

/// A return of two units the customer changed their mind about, asked over the API under its
/// seller's own policy (the `vendor_return_policy` patch: approved by itself, a 10% restocking
/// fee, the postage paid by the seller): labelled, received as new, refunded less the fee.
async fn record_return_seller_policy(a: &TestApp) -> anyhow::Result<()> {
    use souk_contracts::returns::{LineCount, Receipt, ReturnClient, workflow_id};
    use souk_domain::returns::PostagePayer;
    let (customer, order_no, sku, vendor_id) = delivered(a, 2).await?;
    let (_, vendor) = souk_tests::account(&["vendor_admin"], Some(vendor_id)).await;
    let r = vendor
        .put(
            "/v1/vendor/return-policy",
            json!({"policy": {"restocking_fee_bps": 1000, "free_return_postage": true,
                   "auto_approve_reasons": ["changed_mind"], "auto_approve_max_minor": 1_000_000},
                   "reason": "recorded", "expected_version": 0}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = customer
        .post(
            &format!("/v1/me/orders/{order_no}/returns"),
            json!({"lines": [{"sku": sku, "quantity": 2, "reason": "changed_mind"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rma = r.body["rma_no"].as_str().expect("an RMA").to_string();
    let returns = ReturnClient::new(a.temporal().await);
    labelled(&returns, &rma).await;
    returns
        .receive(
            &workflow_id(&rma),
            Receipt {
                warehouse: warehouse_of(a, &sku).await?,
                lines: vec![LineCount {
                    sku: souk_domain::Sku::parse(&sku)?,
                    counted: souk_domain::returns::Counted {
                        sellable: 2,
                        ..Default::default()
                    },
                }],
                actor: "user:recorder".into(),
            },
        )
        .await?;
    let ended: String = a
        .temporal()
        .await
        .get_workflow_handle::<souk_contracts::returns::Return>(workflow_id(&rma))
        .get_result(Default::default())
        .await?;
    assert_eq!(ended, "closed");
    let view = returns.status(&workflow_id(&rma)).await?.expect("a view");
    assert!(view.lines[0].fee.is_some(), "{view:?}");
    assert_eq!(
        view.label.as_ref().map(|l| l.paid_by),
        Some(PostagePayer::Vendor),
        "{view:?}"
    );
    save_return(a, "return_seller_policy", workflow_id(&rma)).await
}

/// Staff refund one unit of a completed order as a goodwill gesture; then ask for more than is
/// left, refused.
async fn record_goodwill(a: &TestApp) -> anyhow::Result<()> {
    use souk_contracts::goodwill::{GoodwillRefund, GoodwillView, id_of};
    let p = product(a).await;
    let sku = p.skus[0].as_str();
    let (_, customer) = souk_tests::account(&["customer"], None).await;
    let cart = start_cart(&customer, sku, None).await;
    let id_checkout = checkout(&customer, &cart, "pm_card_visa").await;
    assert_eq!(ended(&customer, &id_checkout).await, "completed");
    let order_no = customer
        .get(&format!("/v1/checkouts/{id_checkout}"))
        .await
        .body["order_no"]
        .as_str()
        .expect("an order number")
        .to_string();
    let staff = Http::new().with_token(admin_token());
    let path = format!("/v1/admin/orders/{order_no}/refunds");
    let ended = |refund: String| {
        let order_no = order_no.clone();
        async move {
            let id = id_of(&order_no, &refund);
            let view: GoodwillView = a
                .temporal()
                .await
                .get_workflow_handle::<GoodwillRefund>(id.clone())
                .get_result(Default::default())
                .await?;
            anyhow::Ok((id, view))
        }
    };
    let r = staff
        .post_idempotent(
            &path,
            &unique(),
            json!({"amount": {"amount": 100, "currency": "USD"}, "lines": [{"sku": sku}], "reason": "arrived late"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (id, view) = ended(r.body["refund_id"].as_str().expect("an id").into()).await?;
    assert_eq!(view.status.as_str(), "refunded");
    write_history::<GoodwillRefund>(a, "goodwill_refunded", id).await?;
    let key = unique();
    let r = staff
        .post_idempotent(
            &path,
            &key,
            json!({"amount": {"amount": 1_000_000_000, "currency": "USD"}, "reason": "more"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let (id, view) = ended(souk_contracts::goodwill::refund_id(&order_no, &key)).await?;
    assert_eq!(view.status.as_str(), "refused");
    write_history::<GoodwillRefund>(a, "goodwill_refused", id).await?;
    // Refunded in full at the provider's dashboard: the provider refuses one more.
    sqlx::query(
        "UPDATE payments.sandbox_intents SET refunded_amount = captured_amount
         WHERE id = (SELECT provider_payment_id FROM payments.payments WHERE checkout_id = $1)",
    )
    .bind(&id_checkout)
    .execute(&a.db().await)
    .await?;
    let key = unique();
    let r = staff
        .post_idempotent(
            &path,
            &key,
            json!({"amount": {"amount": 100, "currency": "USD"}, "reason": "again"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (id, view) = ended(souk_contracts::goodwill::refund_id(&order_no, &key)).await?;
    assert_eq!(view.status.as_str(), "failed");
    write_history::<GoodwillRefund>(a, "goodwill_failed", id).await
}

async fn write_history<W: temporalio_common::HasWorkflowDefinition>(
    a: &TestApp,
    name: &str,
    id: String,
) -> anyhow::Result<()> {
    let json = a
        .temporal()
        .await
        .get_workflow_handle::<W>(id)
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .to_json()
        .await?;
    write(name, json)
}

fn write(name: &str, json: Vec<u8>) -> anyhow::Result<()> {
    let path = format!("{DIR}/{name}.json");
    std::fs::write(&path, json)?;
    println!("wrote {path}");
    Ok(())
}

async fn product(a: &TestApp) -> Product {
    fixtures::product(&a.db().await, &[VariantSpec::new(1_999, 50, 0)]).await
}

/// A completed checkout that asked the catalog for its line's categories and posted its
/// capture to the ledger with the commission of the vendor's rule (`ledger_capture`).
async fn record_ledger(a: &TestApp) -> anyhow::Result<()> {
    let p = product(a).await;
    fixtures::vendor(&a.db().await, p.vendor_id, "Ledger Goods").await;
    souk_ledger::store::add_rule(
        &a.db().await,
        &souk_kit::Ctx::new("user:recorder"),
        &souk_ledger::store::NewRule {
            vendor_id: Some(p.vendor_id),
            category: None,
            effective_from: None,
            bps: 1_200,
            fixed: None,
            reason: "recorded terms".into(),
        },
    )
    .await?;
    let http = Http::new();
    let id = start(&http, p.skus[0].as_str(), "pm_card_visa", None).await;
    assert_eq!(ended(&http, &id).await, "completed");
    let posted: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger.entries WHERE key = $1")
        .bind(format!("capture:{id}"))
        .fetch_one(&a.db().await)
        .await?;
    assert_eq!(posted, 1, "the capture is in the ledger");
    save(a, "checkout_posted_to_ledger", id).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The sandbox stack: no capture delay.
    let a = app();
    let only = std::env::args().nth(1);
    if only.is_none() || only.as_deref() == Some("ledger") {
        record_ledger(a).await?;
    }
    if only.as_deref() == Some("ledger") {
        return Ok(());
    }
    if only.as_deref() == Some("fee") {
        return record_return_fee(a).await;
    }
    if only.as_deref() == Some("policy") {
        return record_return_seller_policy(a).await;
    }
    if only.as_deref() != Some("returns") {
        record_goodwill(a).await?;
    }
    if only.as_deref() == Some("goodwill") {
        return Ok(());
    }
    record_returns(a).await?;
    record_return_fee(a).await?;
    record_return_seller_policy(a).await?;
    if only.as_deref() == Some("returns") {
        return Ok(());
    }
    // A completed checkout that started its vendor's shipment while it confirmed (the
    // `shipments_with_confirmation` patch), and that shipment opened with a local step
    // (`local_open`), packed, labelled, tracked and delivered through the carrier webhook, the
    // order following it (`orders_follow`, `timers`).
    let p = product(a).await;
    fixtures::vendor(&a.db().await, p.vendor_id, "Recorded Goods").await;
    let http = Http::new();
    let id = start(&http, p.skus[0].as_str(), "pm_card_visa", None).await;
    assert_eq!(ended(&http, &id).await, "completed");
    let order_no = http.get(&format!("/v1/checkouts/{id}")).await.body["order_no"]
        .as_str()
        .expect("an order number")
        .to_string();
    save(a, "checkout_started_shipments", id).await?;
    let client = souk_contracts::shipping::ShipmentClient::new(a.temporal().await);
    let shipment = souk_contracts::shipping::workflow_id(&order_no, p.vendor_id);
    eventually(Duration::from_secs(20), "the shipment opened", || async {
        client.status(&shipment).await.ok().flatten()
    })
    .await;
    let outcome = souk_tests::shipments::deliver(a, &client, &shipment).await;
    assert_eq!(outcome, souk_domain::shipment::ShipmentStatus::Delivered);
    save_shipment(a, "shipment_delivered", shipment).await?;
    // A shipment whose vendor could not send its line: refunded, restocked, cancelled.
    let p = product(a).await;
    fixtures::vendor(&a.db().await, p.vendor_id, "Short Stock").await;
    let id = start(&http, p.skus[0].as_str(), "pm_card_visa", None).await;
    assert_eq!(ended(&http, &id).await, "completed");
    let order_no = http.get(&format!("/v1/checkouts/{id}")).await.body["order_no"]
        .as_str()
        .expect("an order number")
        .to_string();
    let shipment = souk_contracts::shipping::workflow_id(&order_no, p.vendor_id);
    eventually(Duration::from_secs(20), "the shipment opened", || async {
        client.status(&shipment).await.ok().flatten()
    })
    .await;
    let done = client
        .cancel_lines(
            &shipment,
            souk_contracts::shipping::CancelLinesRequest {
                request: "recorder-cancel-1".into(),
                lines: vec![souk_contracts::orders::LineUnits {
                    sku: souk_domain::Sku::parse(&p.skus[0]).expect("a sku"),
                    quantity: 1,
                }],
                reason: "lost in the warehouse".into(),
                restock: true,
                actor: "user:recorder".into(),
            },
        )
        .await
        .expect("cancelled");
    assert!(done.refunded.amount > 0);
    let outcome: souk_domain::shipment::ShipmentStatus = a
        .temporal()
        .await
        .get_workflow_handle::<souk_contracts::shipping::Shipment>(&shipment)
        .get_result(Default::default())
        .await?;
    assert_eq!(outcome, souk_domain::shipment::ShipmentStatus::Cancelled);
    save_shipment(a, "shipment_lines_cancelled", shipment).await?;
    // A shipment not packed in time (the vendor reminded) and never scanned after its label
    // (an exception), then found by the carrier and delivered.
    let vendor = uuid::Uuid::now_v7();
    fixtures::vendor(&a.db().await, vendor, "Late Crafts").await;
    let mut input = souk_tests::shipments::input(&souk_tests::shipments::order_no(), vendor);
    input.settings = souk_contracts::shipping::ShipmentSettings {
        fulfilment_sla_seconds: 1,
        scan_timeout_seconds: 1,
    };
    let shipment = souk_tests::shipments::start(a, &client, input).await;
    eventually(Duration::from_secs(20), "the reminder", || async {
        let v = client.status(&shipment).await.ok().flatten()?;
        let reminded: Option<i64> = sqlx::query_scalar(
            "SELECT count(*) FROM shipping.alerts a JOIN shipping.shipments s ON s.id = a.shipment_id
             WHERE s.workflow_id = $1",
        )
        .bind(&shipment)
        .fetch_one(&a.db().await)
        .await
        .ok();
        (reminded == Some(1)).then_some(v)
    })
    .await;
    let outcome = souk_tests::shipments::deliver_late(a, &client, &shipment).await;
    assert_eq!(outcome, souk_domain::shipment::ShipmentStatus::Delivered);
    save_shipment(a, "shipment_late_and_unscanned", shipment).await?;
    // Five units that two warehouses hold together: a shipment from each
    // (`split_shipments`).
    let p = fixtures::product(&a.db().await, &[VariantSpec::new(1_999, 3, 3)]).await;
    fixtures::vendor(&a.db().await, p.vendor_id, "Recorded Goods").await;
    let cart = start_cart(&http, p.skus[0].as_str(), None).await;
    let r = http
        .patch(
            &format!("/v1/carts/{cart}/items/{}", p.skus[0].as_str()),
            json!({"quantity": 5}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = checkout(&http, &cart, "pm_card_visa").await;
    assert_eq!(ended(&http, &id).await, "completed");
    let order_no = http.get(&format!("/v1/checkouts/{id}")).await.body["order_no"]
        .as_str()
        .expect("an order number")
        .to_string();
    eventually(Duration::from_secs(20), "two shipments opened", || async {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM shipping.shipments WHERE order_no = $1")
                .bind(&order_no)
                .fetch_one(&a.db().await)
                .await
                .ok()?;
        (n == 2).then_some(())
    })
    .await;
    save(a, "checkout_split_shipments", id).await?;
    if std::env::args().nth(1).as_deref() == Some("shipment") {
        return Ok(());
    }
    let db = a.db().await;
    let p = product(a).await;
    let sku = p.skus[0].as_str();
    let http = Http::new();
    let coupon = fixtures::coupon(&db, once_per_customer(format!("REC{}", unique()))).await;

    for (name, pm, code, state) in [
        ("checkout_completed", "pm_card_visa", None, "completed"),
        (
            "checkout_compensated",
            "pm_card_chargeDeclined",
            None,
            "compensated",
        ),
        (
            "checkout_with_coupon",
            "pm_card_mastercard",
            Some(coupon.as_str()),
            "completed",
        ),
    ] {
        let id = start(&http, sku, pm, code).await;
        assert_eq!(ended(&http, &id).await, state, "{name}");
        save(a, name, id).await?;
    }

    // 3-D Secure, completed by the customer: the provider's signed webhook signals it.
    let id = start(&http, sku, "pm_card_authenticationRequired", None).await;
    let reference = awaiting_payment(a, &http, &id).await;
    souk_payments::sandbox::complete_authentication(&db, &reference).await?;
    let payload = json!({
        "id": format!("evt_{}", unique()), "object": "event", "created": 1_700_000_000,
        "livemode": false, "pending_webhooks": 1, "type": "payment_intent.amount_capturable_updated",
        "data": {"object": {
            "id": reference, "object": "payment_intent", "amount": 1000, "amount_capturable": 1000,
            "amount_received": 0, "capture_method": "manual", "confirmation_method": "automatic",
            "created": 1_700_000_000, "currency": "usd", "livemode": false, "metadata": {},
            "payment_method_types": ["card"], "status": "requires_capture"
        }}
    })
    .to_string();
    let r = http
        .send(
            http.request(reqwest::Method::POST, "/v1/webhooks/stripe")
                .header("content-type", "application/json")
                .header(
                    "stripe-signature",
                    Webhook::generate_test_header(&payload, WEBHOOK_SECRET, None),
                )
                .body(payload),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ended(&http, &id).await, "completed");
    save(a, "checkout_3ds_confirmed", id).await?;

    // 3-D Secure never completed: the checkout gives up after the payment wait.
    let id = start(&http, sku, "pm_card_authenticationRequired", None).await;
    awaiting_payment(a, &http, &id).await;
    assert_eq!(ended(&http, &id).await, "compensated");
    save(a, "checkout_payment_timeout", id).await?;

    // The Stripe stack waits before capturing: a coupon and the capture delay, a cancel
    // while the customer is still in 3-D Secure, a refund after the capture.
    let s = stripe_app();
    let sdb = s.db().await;
    let sp = product(s).await;
    let ssku = sp.skus[0].as_str();
    let shttp = Http::at(&s.api);
    let scoupon = fixtures::coupon(&sdb, once_per_customer(format!("RECS{}", unique()))).await;
    let id = start(&shttp, ssku, "pm_card_visa", Some(&scoupon)).await;
    assert_eq!(ended(&shttp, &id).await, "completed");
    save(s, "checkout_capture_delay_with_coupon", id).await?;

    let id = start(&shttp, ssku, "pm_card_authenticationRequired", None).await;
    awaiting_payment(s, &shttp, &id).await;
    let r = shttp
        .post(&format!("/v1/checkouts/{id}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(ended(&shttp, &id).await, "cancelled");
    save(s, "checkout_cancelled", id).await?;

    // The reservation taken back during the review window: stopped before capture.
    let id = start(&shttp, ssku, "pm_card_visa", None).await;
    eventually(Duration::from_secs(20), "the decision", || async {
        let r = shttp.get(&format!("/v1/checkouts/{id}")).await;
        (r.body["step"] == "capture_delay").then_some(())
    })
    .await;
    take_back(&sdb, &format!("{id}:reserve:{ssku}:1")).await?;
    assert_eq!(ended(&shttp, &id).await, "compensated");
    save(s, "checkout_reservation_lost_before_capture", id).await?;

    // A capture held at Stripe past two lease renewals (every half TTL): completed.
    let cart_id = start_cart(&shttp, ssku, None).await;
    let held = s.stripe.hold_next(
        &format!("checkout-{cart_id}"),
        "capture",
        souk_tests::stripe_double::HoldAt::Received,
    );
    let id = checkout(&shttp, &cart_id, "pm_card_visa").await;
    tokio::time::timeout(Duration::from_secs(30), held.arrived()).await?;
    // The renewals come from the workflow's timers: hold the capture for three intervals.
    let renew_every = (souk_tests::STRIPE_RESERVATION_TTL_SECONDS / 2).max(1);
    tokio::time::sleep(Duration::from_secs(3 * renew_every)).await;
    held.release();
    assert_eq!(ended(&shttp, &id).await, "completed");
    save(s, "checkout_capture_renewed", id).await?;
    let history: serde_json::Value = serde_json::from_slice(&std::fs::read(format!(
        "{DIR}/checkout_capture_renewed.json"
    ))?)?;
    // Event type 18: a timer fired.
    let fired = history["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["event_type"] == 18)
        .count();
    assert!(
        fired >= 2,
        "the lease was renewed during the capture: {fired} timers fired"
    );

    // The reservation taken back while the capture is in flight: refunded after the capture.
    let cart_id = start_cart(&shttp, ssku, None).await;
    let held = s.stripe.hold_next(
        &format!("checkout-{cart_id}"),
        "capture",
        souk_tests::stripe_double::HoldAt::Received,
    );
    let id = checkout(&shttp, &cart_id, "pm_card_visa").await;
    tokio::time::timeout(Duration::from_secs(30), held.arrived()).await?;
    take_back(&sdb, &format!("{id}:reserve:{ssku}:1")).await?;
    held.release();
    assert_eq!(ended(&shttp, &id).await, "compensated");
    save(s, "checkout_refunded_after_capture", id).await?;

    // A low-stock alert.
    let r = http
        .admin_put(
            &format!("/v1/admin/inventory/{sku}/east"),
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
            .admin_get(&format!("/v1/admin/inventory/alerts?sku={sku}"))
            .await;
        (!r.body["items"].as_array()?.is_empty()).then_some(())
    })
    .await;
    let json = a
        .temporal()
        .await
        .get_workflow_handle::<LowStockAlertWorkflow>(wf)
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .to_json()
        .await?;
    write("low_stock_alert", json)?;
    Ok(())
}
