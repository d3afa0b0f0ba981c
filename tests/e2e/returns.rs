//! Returns on the whole stack, over HTTP: a customer asks to send back delivered units (only
//! delivered ones, never more than are left), the vendor decides, the warehouse counts what
//! came back, and exactly what the one refund rule says the refundable units are worth is
//! refunded once; sellable units go back on hand. Another vendor's or customer's return is a
//! 404.

use std::time::Duration;

use serde_json::json;
use souk_domain::refund::{LinePaid, LineRefunds, shipping_shares};
use souk_domain::shipment::ShipmentStatus;
use souk_tests::shipments::at;
use souk_tests::{Http, app, eventually, unique};

use crate::checkout_support::{at_provider, bought, payment, settled_mails_to, two_vendors};
use crate::shipping::{order_reaches, pack_and_label};

/// What the order's line of `sku` paid, as the order recorded it (the vendor's part is this
/// one line).
async fn line_paid(order_no: &str, sku: &str) -> LinePaid {
    let db = app().db().await;
    let (unit_price, quantity, discount, tax, shipping): (i64, i32, i64, i64, i64) =
        sqlx::query_as(
            "SELECT l.unit_price, l.quantity, l.discount, l.tax, s.shipping
             FROM orders.order_lines l JOIN orders.sub_orders s ON s.id = l.sub_order_id
             JOIN orders.orders o ON o.id = l.order_id
             WHERE o.order_no = $1 AND l.sku = $2",
        )
        .bind(order_no)
        .bind(sku)
        .fetch_one(&db)
        .await
        .unwrap();
    LinePaid {
        unit_price,
        quantity: i64::from(quantity),
        discount,
        tax,
        shipping: shipping_shares(shipping, &[unit_price * i64::from(quantity)])[0],
    }
}

async fn on_hand(sku: &str, warehouse: &str) -> i64 {
    sqlx::query_scalar("SELECT on_hand FROM inventory.stock WHERE sku = $1 AND warehouse = $2")
        .bind(sku)
        .bind(warehouse)
        .fetch_one(&app().db().await)
        .await
        .unwrap()
}

async fn return_reaches(customer: &Http, rma: &str, status: &str) -> serde_json::Value {
    eventually(Duration::from_secs(30), status, || async {
        let r = customer.get(&format!("/v1/me/returns/{rma}")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        (r.body["status"] == status).then_some(r.body)
    })
    .await
}

struct Delivered {
    sku: String,
    vendor_id: uuid::Uuid,
    other_vendor: uuid::Uuid,
    email: String,
    customer: Http,
    checkout_id: String,
    order_no: String,
}

/// Three units of one vendor's product bought, packed, labelled and delivered (the carrier's
/// scan through the webhook).
async fn delivered() -> Delivered {
    let db = app().db().await;
    let (a, b, _) = two_vendors(&db).await;
    souk_tests::fixtures::vendor(&db, a.vendor_id, "Mugs & Co").await;
    let (email, customer) = souk_tests::account(&["customer"], None).await;
    let (checkout_id, order_no) = bought(&customer, &[(a.skus[0].as_str(), 3)], &email).await;
    let (_, vendor) = souk_tests::account(&["vendor_admin"], Some(a.vendor_id)).await;
    let (_, code) = pack_and_label(&vendor, &order_no).await;

    // Not delivered yet: nothing can be returned.
    let r = customer
        .post(
            &format!("/v1/me/orders/{order_no}/returns"),
            json!({"lines": [{"sku": a.skus[0], "quantity": 1, "reason": "changed_mind"}]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "not_returnable"), "{}", r.text);

    souk_tests::shipments::scan(&code, ShipmentStatus::Delivered, at(0)).await;
    order_reaches(&customer, &order_no, "delivered").await;
    Delivered {
        sku: a.skus[0].clone(),
        vendor_id: a.vendor_id,
        other_vendor: b.vendor_id,
        email,
        customer,
        checkout_id,
        order_no,
    }
}

#[tokio::test]
async fn a_delivered_order_is_returned_in_part_and_exactly_the_rules_amount_is_refunded_once() {
    let Delivered {
        sku,
        vendor_id,
        other_vendor,
        email,
        customer,
        checkout_id,
        order_no,
    } = delivered().await;
    let db = app().db().await;
    let warehouse: String =
        sqlx::query_scalar("SELECT warehouse FROM inventory.stock WHERE sku = $1 LIMIT 1")
            .bind(&sku)
            .fetch_one(&db)
            .await
            .unwrap();
    let before = on_hand(&sku, &warehouse).await;
    let path = format!("/v1/me/orders/{order_no}/returns");

    // Bad requests are refused with a code; nothing is recorded.
    for (body, status, code) in [
        (json!({"lines": []}), 422, "invalid_body"),
        (
            json!({"lines": [{"sku": sku, "quantity": 0, "reason": "changed_mind"}]}),
            422,
            "invalid_body",
        ),
        (
            json!({"lines": [{"sku": sku, "quantity": 1, "reason": "bored"}]}),
            422,
            "invalid_body",
        ),
        (
            json!({"lines": [{"sku": sku, "quantity": 4, "reason": "changed_mind"}]}),
            422,
            "quantity_exceeds_returnable",
        ),
        (
            json!({"lines": [{"sku": "NOT-IN-IT", "quantity": 1, "reason": "changed_mind"}]}),
            422,
            "not_returnable",
        ),
    ] {
        let r = customer.post(&path, body.clone()).await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.text);
    }
    let (_, stranger) = souk_tests::account(&["customer"], None).await;
    let body = json!({"lines": [{"sku": sku, "quantity": 2, "reason": "changed_mind", "note": "too big"}]});
    let r = stranger.post(&path, body.clone()).await;
    assert_eq!((r.status, r.code()), (404, "order_not_found"), "{}", r.text);

    // Two of the three units asked back; the same key again is the same return.
    let key = unique();
    let r = customer.post_idempotent(&path, &key, body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["status"], "requested",
        "changed_mind waits for the vendor"
    );
    let rma = r.body["rma_no"].as_str().unwrap().to_string();
    let again = customer.post_idempotent(&path, &key, body.clone()).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.body["rma_no"], rma.as_str());
    // One unit is left to ask back.
    let r = customer.post(&path, body.clone()).await;
    assert_eq!(
        (r.status, r.code()),
        (422, "quantity_exceeds_returnable"),
        "{}",
        r.text
    );
    let r = stranger.get(&format!("/v1/me/returns/{rma}")).await;
    assert_eq!(
        (r.status, r.code()),
        (404, "return_not_found"),
        "{}",
        r.text
    );

    // Another vendor cannot see or decide it; its vendor approves, once.
    let (_, other) = souk_tests::account(&["vendor_admin"], Some(other_vendor)).await;
    let r = other
        .post(&format!("/v1/vendor/returns/{rma}/approve"), json!({}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (404, "return_not_found"),
        "{}",
        r.text
    );
    let (_, vendor) = souk_tests::account(&["vendor_admin"], Some(vendor_id)).await;
    let r = vendor
        .post(
            &format!("/v1/vendor/returns/{rma}/decline"),
            json!({"reason": " "}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_body"), "{}", r.text);
    let receipt = |sellable: i64, damaged: i64| json!({"warehouse": warehouse, "lines": [{"sku": sku, "sellable": sellable, "damaged": damaged}]});
    let r = vendor
        .post(&format!("/v1/vendor/returns/{rma}/receive"), receipt(1, 1))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "return_action_refused"),
        "not approved yet: {}",
        r.text
    );
    let r = vendor
        .post(&format!("/v1/vendor/returns/{rma}/approve"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "approved");
    let r = vendor
        .post(&format!("/v1/vendor/returns/{rma}/approve"), json!({}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "return_action_refused"),
        "{}",
        r.text
    );

    // What came back: one as new, one damaged (a count that leaves one out is refused).
    let r = vendor
        .post(&format!("/v1/vendor/returns/{rma}/receive"), receipt(1, 0))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "return_action_refused"),
        "{}",
        r.text
    );
    let r = vendor
        .post(&format!("/v1/vendor/returns/{rma}/receive"), receipt(1, 1))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "inspected", "{}", r.text);

    // Both units are refunded by the rule (the damaged one too), once; one is back on hand.
    let closed = return_reaches(&customer, &rma, "closed").await;
    let line = line_paid(&order_no, &sku).await;
    let worth = line.refund(LineRefunds::default(), 2).unwrap();
    assert_eq!(closed["refunded"]["amount"], worth, "{closed}");
    assert_eq!(closed["lines"][0]["refunded"]["amount"], worth, "{closed}");
    assert_eq!(closed["lines"][0]["counted"]["sellable"], 1, "{closed}");
    assert_eq!(
        closed["problems"],
        json!([]),
        "support's notes are not the customer's"
    );
    // Nothing went wrong on the way (support's notes, which staff see).
    let staff = Http::new().with_token(&app().operator_token);
    let seen = staff.get(&format!("/v1/admin/returns/{rma}")).await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert_eq!(seen.body["problems"], json!([]), "{}", seen.text);
    let refunds = at_provider(&db, &checkout_id, "refund").await;
    assert_eq!((refunds.effects, refunds.keys), (1, 1), "{refunds:?}");
    let (_, _, _, refunded) = payment(&db, &checkout_id, 1).await.unwrap();
    assert_eq!(refunded, worth);
    assert_eq!(on_hand(&sku, &warehouse).await, before + 1);
    // Two of its three units came back: the vendor's part and the order are partially
    // returned.
    let o = crate::shipping::order_reaches(&customer, &order_no, "partially_returned").await;
    assert_eq!(o["payment_status"], "partially_refunded", "{o}");
    assert_eq!(o["sub_orders"][0]["status"], "partially_returned", "{o}");

    // The third unit may still be asked back; a closed return takes no more actions.
    let r = vendor
        .post(&format!("/v1/vendor/returns/{rma}/receive"), receipt(1, 1))
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let r = customer
        .post(
            &path,
            json!({"lines": [{"sku": sku, "quantity": 2, "reason": "changed_mind"}]}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "quantity_exceeds_returnable"),
        "{}",
        r.text
    );

    // The customer was told it was approved and what was refunded, once each.
    let mails = settled_mails_to(&email, Duration::from_secs(2)).await;
    let about = |what: &str| {
        mails
            .iter()
            .filter(|(s, _)| s.contains(&rma) && s.contains(what))
            .count()
    };
    assert_eq!(about("approved"), 1, "{mails:?}");
    assert!(
        mails
            .iter()
            .any(|(s, t)| s.contains("approved") && t.contains("back to Mugs & Co")),
        "{mails:?}"
    );
    assert_eq!(about("refunded"), 1, "{mails:?}");
    assert!(
        mails
            .iter()
            .any(|(s, t)| s.contains("refunded") && t.contains("1 as new, 1 damaged")),
        "{mails:?}"
    );
}

#[tokio::test]
async fn a_declined_return_tells_the_customer_why_and_a_cancelled_one_frees_its_units() {
    let Delivered {
        sku,
        vendor_id,
        email,
        customer,
        order_no,
        ..
    } = delivered().await;
    let path = format!("/v1/me/orders/{order_no}/returns");
    let ask = |n: i64| json!({"lines": [{"sku": sku, "quantity": n, "reason": "changed_mind"}]});
    let (_, vendor) = souk_tests::account(&["vendor_admin"], Some(vendor_id)).await;

    let r = customer.post(&path, ask(1)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let declined = r.body["rma_no"].as_str().unwrap().to_string();
    let r = vendor
        .post(
            &format!("/v1/vendor/returns/{declined}/decline"),
            json!({"reason": "worn, the tags are off"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "declined");
    assert_eq!(r.body["decision_note"], "worn, the tags are off");

    // Staff read it; the customer calls another one off, whose units may then be asked again.
    let staff = Http::new().with_token(&app().operator_token);
    let r = staff.get(&format!("/v1/admin/returns/{declined}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = customer.post(&path, ask(3)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let cancelled = r.body["rma_no"].as_str().unwrap().to_string();
    let r = customer
        .post(
            &format!("/v1/me/returns/{cancelled}/cancel"),
            json!({"reason": "I keep them"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "cancelled");
    let r = customer
        .post(&format!("/v1/me/returns/{cancelled}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let r = customer.post(&path, ask(3)).await;
    assert_eq!(r.status, 201, "{}", r.text);

    let mails = settled_mails_to(&email, Duration::from_secs(2)).await;
    let told: Vec<_> = mails
        .iter()
        .filter(|(s, _)| s.contains(&declined) && s.contains("declined"))
        .collect();
    assert_eq!(told.len(), 1, "{mails:?}");
    assert!(told[0].1.contains("worn, the tags are off"), "{mails:?}");
}
