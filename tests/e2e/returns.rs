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
    /// The slug of the product's category.
    category: String,
    vendor_id: uuid::Uuid,
    vendor_email: String,
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
    let vendor_email = souk_tests::fixtures::vendor(&db, a.vendor_id, "Mugs & Co").await;
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
        category: a.category_slug.clone(),
        vendor_id: a.vendor_id,
        vendor_email,
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
        ..
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
    let r = other.get("/v1/vendor/returns").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        !r.text.contains(&rma),
        "another vendor's list has no trace of it: {}",
        r.text
    );
    // The attempt is in the audit trail, with the return it was on.
    let db2 = db.clone();
    let rma2 = rma.clone();
    eventually(Duration::from_secs(10), "the refusal audited", || {
        let (db, rma) = (db2.clone(), rma2.clone());
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM auth.audit_log
                 WHERE event = 'authorization' AND outcome = 'denied'
                   AND details->>'reason' = 'other_vendor' AND details->'resource'->>'return' = $1",
            )
            .bind(&rma)
            .fetch_one(&db)
            .await
            .unwrap();
            (n == 1).then_some(())
        }
    })
    .await;
    // The customer, the vendor and staff each find it in their lists; a stranger does not.
    let (_, vendor) = souk_tests::account(&["vendor_admin"], Some(vendor_id)).await;
    let listed = |page: &serde_json::Value| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["rma_no"] == rma.as_str())
            .cloned()
            .collect::<Vec<_>>()
    };
    let mine = customer.get("/v1/me/returns?status=requested").await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    let mine = listed(&mine.body);
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["order_no"], order_no.as_str());
    assert_eq!(mine[0]["lines"][0]["quantity"], 2);
    assert_eq!(mine[0]["lines"][0]["reason"], "changed_mind");
    let r = customer.get("/v1/me/returns?status=approved").await;
    assert_eq!(listed(&r.body).len(), 0, "{}", r.text);
    let r = stranger.get("/v1/me/returns").await;
    assert_eq!((r.status, listed(&r.body).len()), (200, 0), "{}", r.text);
    let r = vendor.get("/v1/vendor/returns").await;
    assert_eq!(listed(&r.body).len(), 1, "{}", r.text);
    let staff = Http::new().with_token(&app().operator_token);
    let r = staff
        .get(&format!(
            "/v1/admin/returns?order_no={order_no}&vendor_id={vendor_id}&escalated=false"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(listed(&r.body).len(), 1, "{}", r.text);
    let r = staff
        .get(&format!(
            "/v1/admin/returns?order_no={order_no}&escalated=true"
        ))
        .await;
    assert_eq!(listed(&r.body).len(), 0, "{}", r.text);
    for (q, code) in [
        ("status=lost", "invalid_query"),
        ("order_no=42", "invalid_query"),
        ("limit=0", "invalid_limit"),
        ("cursor=bogus", "invalid_cursor"),
    ] {
        let r = staff.get(&format!("/v1/admin/returns?{q}")).await;
        assert_eq!((r.status, r.code()), (400, code), "{q}: {}", r.text);
    }
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

    // A label is bought for the parcel, back to the warehouse the units left from; every line
    // is the customer's choice, so the customer pays the postage.
    let labelled = return_reaches(&customer, &rma, "label_issued").await;
    let label = &labelled["label"];
    assert_eq!(label["carrier"], "SandboxPost", "{labelled}");
    assert_eq!(label["postage_paid_by"], "customer", "{labelled}");
    let postage = label["postage"]["amount"].as_i64().unwrap();
    assert!(postage > 0, "{labelled}");
    let tracking = label["tracking_code"].as_str().unwrap().to_string();
    let parcel = |db: sqlx::PgPool, rma: String| async move {
        sqlx::query_as::<_, (String, String, bool)>(
            "SELECT r.kind, r.status, r.warehouse = s.warehouse
                    AND r.ship_from = s.ship_to AND r.tracking_code IS NOT NULL
                    AND (SELECT weight_grams FROM shipping.packages WHERE shipment_id = r.id)
                        = (SELECT weight_grams FROM shipping.packages WHERE shipment_id = s.id)
             FROM shipping.shipments r
             JOIN shipping.shipments s ON s.order_no = r.order_no AND s.kind = 'outbound'
             WHERE r.workflow_id = 'return-' || $1",
        )
        .bind(rma)
        .fetch_one(&db)
        .await
        .unwrap()
    };
    assert_eq!(
        parcel(db.clone(), rma.clone()).await,
        ("return".into(), "label_purchased".into(), true),
        "from the customer's address to the warehouse, in the parcel it came in"
    );
    // The vendor's shipments are the ones to send; a return parcel is not among them.
    let r = vendor.get("/v1/vendor/shipments").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains(&tracking), "{}", r.text);

    // The carrier's scans move it; once the parcel is with the carrier the customer cannot
    // call it off.
    souk_tests::shipments::scan(&tracking, ShipmentStatus::InTransit, at(60)).await;
    return_reaches(&customer, &rma, "in_transit").await;
    let r = customer
        .post(&format!("/v1/me/returns/{rma}/cancel"), json!({}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "return_action_refused"),
        "{}",
        r.text
    );
    souk_tests::shipments::scan(&tracking, ShipmentStatus::Delivered, at(120)).await;
    return_reaches(&customer, &rma, "received").await;

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
    // Less the postage the customer pays (never more than the refund).
    assert!(postage < worth, "{postage} {worth}");
    let worth = worth - postage;
    assert_eq!(closed["refunded"]["amount"], worth, "{closed}");
    assert_eq!(closed["lines"][0]["refunded"]["amount"], worth, "{closed}");
    assert_eq!(
        closed["lines"][0]["postage_kept"]["amount"], postage,
        "{closed}"
    );
    assert_eq!(closed["lines"][0]["counted"]["sellable"], 1, "{closed}");
    assert_eq!(
        closed["problems"],
        json!([]),
        "support's notes are not the customer's"
    );
    // Nothing went wrong on the way (support's notes, which staff see).
    let seen = staff.get(&format!("/v1/admin/returns/{rma}")).await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert_eq!(seen.body["problems"], json!([]), "{}", seen.text);
    let refunds = at_provider(&db, &checkout_id, "refund").await;
    assert_eq!((refunds.effects, refunds.keys), (1, 1), "{refunds:?}");
    let (_, _, _, refunded) = payment(&db, &checkout_id, 1).await.unwrap();
    assert_eq!(refunded, worth);
    assert_eq!(on_hand(&sku, &warehouse).await, before + 1);
    assert_eq!(
        parcel(db.clone(), rma.clone()).await,
        ("return".into(), "delivered".into(), true)
    );
    // A parcel left moving after its return ended (set up here by hand): the carrier's next
    // scan is kept as stale and answered, not redelivered forever.
    sqlx::query("UPDATE shipping.shipments SET status = 'in_transit' WHERE workflow_id = $1")
        .bind(format!("return-{rma}"))
        .execute(&db)
        .await
        .unwrap();
    let late =
        souk_tests::shipments::scan(&tracking, ShipmentStatus::OutForDelivery, at(180)).await;
    assert_eq!(
        (late.body["stale"].as_u64(), late.body["received"].as_u64()),
        (Some(1), Some(0)),
        "{}",
        late.text
    );
    let r = customer.get("/v1/me/returns?status=closed").await;
    let closed_item = listed(&r.body);
    assert_eq!(closed_item.len(), 1, "{}", r.text);
    assert_eq!(closed_item[0]["refunded"]["amount"], worth, "{}", r.text);
    assert_eq!(closed_item[0]["lines"][0]["refunded"]["amount"], worth);
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
        mails.iter().any(|(s, t)| s.contains("approved")
            && s.contains("return label")
            && t.contains("go back to Mugs & Co")),
        "{mails:?}"
    );
    assert!(
        mails.iter().any(|(s, t)| s.contains("return label")
            && t.contains(&tracking)
            && t.contains(&format!("https://labels.sandbox.invalid/{tracking}.pdf"))
            && t.contains("kept from your refund")),
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
    let third = r.body["rma_no"].as_str().unwrap().to_string();
    // Approved and labelled, then called off before the parcel is with the carrier: its label
    // is voided.
    let r = vendor
        .post(&format!("/v1/vendor/returns/{third}/approve"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    return_reaches(&customer, &third, "label_issued").await;
    let r = customer
        .post(
            &format!("/v1/me/returns/{third}/cancel"),
            json!({"reason": "kept them after all"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let db = app().db().await;
    let parcel = format!("return-{third}");
    eventually(Duration::from_secs(15), "the label voided", || async {
        let status: String =
            sqlx::query_scalar("SELECT status FROM shipping.shipments WHERE workflow_id = $1")
                .bind(&parcel)
                .fetch_one(&db)
                .await
                .unwrap();
        (status == "cancelled").then_some(())
    })
    .await;
    let r = customer.get(&format!("/v1/me/returns/{third}")).await;
    assert!(
        r.body["label"].is_null(),
        "a voided label is not the customer's: {}",
        r.text
    );

    // The customer pages through their three returns, newest first.
    let mut seen = Vec::new();
    let mut next = String::from("/v1/me/returns?limit=1");
    loop {
        let r = customer.get(&next).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= 1, "{}", r.text);
        seen.extend(items.iter().map(|i| {
            (
                i["rma_no"].as_str().unwrap().to_string(),
                i["status"].as_str().unwrap().to_string(),
            )
        }));
        match r.body["next_cursor"].as_str() {
            Some(c) => next = format!("/v1/me/returns?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            (third, "cancelled".to_string()),
            (cancelled.clone(), "cancelled".to_string()),
            (declined.clone(), "declined".to_string()),
        ],
    );

    let mails = settled_mails_to(&email, Duration::from_secs(2)).await;
    let told: Vec<_> = mails
        .iter()
        .filter(|(s, _)| s.contains(&declined) && s.contains("declined"))
        .collect();
    assert_eq!(told.len(), 1, "{mails:?}");
    assert!(told[0].1.contains("worn, the tags are off"), "{mails:?}");
}

#[tokio::test]
async fn an_undecided_return_reminds_the_vendor_then_asks_staff_and_one_never_sent_expires() {
    use souk_contracts::returns::{ReturnSettings, Submitted};

    let d = delivered().await;
    // The policy's durations in seconds: two to decide, two more before staff are asked,
    // three to send it back.
    let settings = ReturnSettings {
        decision_sla_seconds: 2,
        escalate_after_seconds: 2,
        send_by_seconds: 3,
        ..ReturnSettings::default()
    };
    let (rma, submitted) = start_return(&d, 2, settings).await;
    assert!(
        matches!(submitted, Submitted::Opened { .. }),
        "{submitted:?}"
    );
    let Delivered {
        sku,
        vendor_email,
        email,
        customer,
        order_no,
        ..
    } = d;

    // Not decided within 2 s: the vendor is reminded, once.
    let reminders = settled_mails_to(&vendor_email, Duration::from_secs(3)).await;
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    assert!(
        reminders[0].0.contains(&rma) && reminders[0].0.contains("waiting for your decision"),
        "{reminders:?}"
    );
    assert!(
        reminders[0].1.contains("2 seconds ago"),
        "{}",
        reminders[0].1
    );

    // 2 s later still: staff are asked, and find it among the returns waiting for them.
    let staff = Http::new().with_token(&app().operator_token);
    let waiting = format!("/v1/admin/returns?escalated=true&status=requested&order_no={order_no}");
    eventually(Duration::from_secs(15), "the return escalated", || async {
        let r = staff.get(&waiting).await;
        let items = r.body["items"].as_array()?;
        (items.len() == 1 && items[0]["rma_no"] == rma.as_str()).then_some(())
    })
    .await;
    let r = staff.get(&format!("/v1/admin/returns/{rma}")).await;
    assert_eq!(r.body["escalated"], true, "{}", r.text);

    // Staff approve it; it is never sent back: 3 s later it expires and the customer is told.
    let r = staff
        .post(&format!("/v1/admin/returns/{rma}/approve"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let expired = return_reaches(&customer, &rma, "expired").await;
    assert_eq!(expired["refunded"], serde_json::Value::Null, "{expired}");
    // Its label was never used: it is voided, so nobody pays for it (the customer no longer
    // sees it; staff do).
    assert!(expired["label"].is_null(), "{expired}");
    let seen = staff.get(&format!("/v1/admin/returns/{rma}")).await;
    assert!(
        seen.body["label"]["tracking_code"].is_string(),
        "{}",
        seen.text
    );
    let db = app().db().await;
    let parcel = format!("return-{rma}");
    eventually(Duration::from_secs(15), "the label voided", || async {
        let (status, actor): (String, String) = sqlx::query_as(
            "SELECT s.status, h.actor FROM shipping.shipments s
             JOIN shipping.history h ON h.shipment_id = s.id AND h.to_status = s.status
             WHERE s.workflow_id = $1",
        )
        .bind(&parcel)
        .fetch_one(&db)
        .await
        .unwrap();
        (status == "cancelled" && actor == "system:return").then_some(())
    })
    .await;
    let r = customer
        .post(&format!("/v1/me/returns/{rma}/cancel"), json!({}))
        .await;
    assert_eq!(
        r.status, 409,
        "an expired return takes no actions: {}",
        r.text
    );
    let r = staff.get(&waiting).await;
    assert_eq!(r.body["items"], json!([]), "no longer waiting: {}", r.text);
    let mails = settled_mails_to(&email, Duration::from_secs(2)).await;
    let about = |what: &str| {
        mails
            .iter()
            .filter(|(s, _)| s.contains(&rma) && s.contains(what))
            .count()
    };
    assert_eq!((about("approved"), about("expired")), (1, 1), "{mails:?}");
    assert!(
        mails
            .iter()
            .any(|(s, t)| s.contains("expired") && t.contains("within 3 seconds")),
        "{mails:?}"
    );
    // Who did what is in the return's history: the SLA's note, staff's approval, the expiry.
    let history: Vec<(String, String)> = sqlx::query_as(
        "SELECT h.event, h.actor FROM returns.history h JOIN returns.returns r ON r.id = h.return_id
         WHERE r.rma_no = $1 ORDER BY h.id",
    )
    .bind(&rma)
    .fetch_all(&app().db().await)
    .await
    .unwrap();
    let events: Vec<&str> = history.iter().map(|(e, _)| e.as_str()).collect();
    for (event, actor) in [
        ("reminded", "system:decision_sla"),
        ("escalated", "system:decision_sla"),
        ("expired", "system:send_by"),
    ] {
        assert!(
            history.iter().any(|(e, a)| e == event && a == actor),
            "{event} by {actor}: {history:?}"
        );
    }
    assert!(events.contains(&"approved"), "{history:?}");

    // Its units are free again: all three may be asked back.
    let r = customer
        .post(
            &format!("/v1/me/orders/{order_no}/returns"),
            json!({"lines": [{"sku": sku, "quantity": 3, "reason": "changed_mind"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn a_restocking_fee_is_kept_from_a_change_of_mind_and_staff_can_give_it_back() {
    use souk_contracts::returns::{ReturnSettings, Submitted};
    use souk_domain::refund::less_fee;
    use souk_domain::returns::ReturnReason;

    let delivered = delivered().await;
    let Delivered {
        sku,
        email,
        customer,
        checkout_id,
        order_no,
        ..
    } = &delivered;
    let db = app().db().await;
    // A policy that keeps 15% of what units sent back for a change of mind are worth, and
    // approves such returns by itself.
    let settings = ReturnSettings {
        auto_approve_reasons: vec![ReturnReason::ChangedMind],
        auto_approve_max_minor: i64::MAX,
        restocking_fee_bps: 1_500,
        ..ReturnSettings::default()
    };
    let (rma, submitted) = start_return(&delivered, 3, settings).await;
    assert!(
        matches!(submitted, Submitted::Opened { .. }),
        "{submitted:?}"
    );
    let labelled = return_reaches(customer, &rma, "label_issued").await;
    assert_eq!(
        labelled["label"]["postage_paid_by"], "customer",
        "{labelled}"
    );
    let postage = labelled["label"]["postage"]["amount"].as_i64().unwrap();
    let warehouse: String =
        sqlx::query_scalar("SELECT warehouse FROM inventory.stock WHERE sku = $1 LIMIT 1")
            .bind(sku)
            .fetch_one(&db)
            .await
            .unwrap();
    let staff = Http::new().with_token(&app().operator_token);
    // The carrier has a problem with the parcel: noted, and staff are asked to look into it.
    let tracking = labelled["label"]["tracking_code"].as_str().unwrap();
    souk_tests::shipments::scan(tracking, ShipmentStatus::Exception, at(30)).await;
    let escalated = format!("/v1/admin/returns?order_no={order_no}&escalated=true");
    eventually(Duration::from_secs(20), "staff asked", || async {
        let r = staff.get(&escalated).await;
        (r.body["items"][0]["rma_no"] == rma.as_str()).then_some(())
    })
    .await;
    let noted: String = sqlx::query_scalar(
        "SELECT h.actor FROM returns.history h JOIN returns.returns r ON r.id = h.return_id
         WHERE r.rma_no = $1 AND h.event = 'carrier_problem'",
    )
    .bind(&rma)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(noted, "carrier:sandbox");
    let r = staff
        .post(
            &format!("/v1/admin/returns/{rma}/receive"),
            json!({"warehouse": warehouse, "lines": [{"sku": sku, "sellable": 2, "damaged": 1}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // All three units are worth the whole line; 15% of it is kept, rounded down.
    let closed = return_reaches(customer, &rma, "closed").await;
    let line = line_paid(order_no, sku).await;
    let worth = line.refund(LineRefunds::default(), 3).unwrap();
    assert_eq!(worth, line.paid());
    let kept = less_fee(worth, 1_500);
    assert!(kept.fee > 0, "{kept:?}");
    // And the postage, which the customer pays.
    let paid_back = kept.refund - postage.min(kept.refund);
    assert_eq!(closed["refunded"]["amount"], paid_back, "{closed}");
    assert_eq!(
        closed["lines"][0]["refunded"]["amount"], paid_back,
        "{closed}"
    );
    assert_eq!(
        closed["lines"][0]["restocking_fee"]["amount"], kept.fee,
        "{closed}"
    );
    assert_eq!(
        closed["lines"][0]["postage_kept"]["amount"], postage,
        "{closed}"
    );
    let (_, _, _, refunded) = payment(&db, checkout_id, 1).await.unwrap();
    assert_eq!(
        refunded, paid_back,
        "the provider refunded what is paid back"
    );
    // Every unit came back, but the fee and the postage are kept: the order is returned,
    // its payment only partially refunded.
    let o = crate::shipping::order_reaches(customer, order_no, "returned").await;
    assert_eq!(o["payment_status"], "partially_refunded", "{o}");
    let mails = settled_mails_to(email, Duration::from_secs(2)).await;
    assert!(
        mails.iter().any(|(s, t)| s.contains(&rma)
            && s.contains("refunded")
            && t.contains("less a restocking fee of")
            && t.contains("less return postage of")),
        "{mails:?}"
    );

    // The fee and the postage are what is left to refund: staff give them back, and no more.
    let path = format!("/v1/admin/orders/{order_no}/refunds");
    let r = customer.get("/v1/me/returns?status=closed").await;
    assert_eq!(
        r.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.text
    );
    let listed = &r.body["items"][0];
    assert_eq!(listed["rma_no"], rma.as_str(), "{}", r.text);
    assert_eq!(
        listed["lines"][0]["restocking_fee"]["amount"], kept.fee,
        "{}",
        r.text
    );
    assert_eq!(
        listed["lines"][0]["postage_kept"]["amount"], postage,
        "{}",
        r.text
    );
    let fee = json!({"amount": {"amount": kept.fee + postage, "currency": "USD"}, "lines": [{"sku": sku}], "reason": "waive the restocking fee and the postage"});
    let r = staff.post_idempotent(&path, &unique(), fee).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["refund_id"].as_str().unwrap().to_string();
    let done = eventually(Duration::from_secs(30), "the fee given back", || async {
        let r = staff.get(&format!("{path}/{id}")).await;
        (r.body["status"] == "refunded").then_some(r)
    })
    .await;
    assert_eq!(
        done.body["amount"]["amount"],
        kept.fee + postage,
        "{}",
        done.text
    );
    let (_, _, _, refunded) = payment(&db, checkout_id, 1).await.unwrap();
    assert_eq!(refunded, worth, "all of it, in the end");
    let more = json!({"amount": {"amount": 1, "currency": "USD"}, "reason": "one more"});
    let r = staff.post_idempotent(&path, &unique(), more).await;
    assert_eq!(
        (r.status, r.code()),
        (422, "exceeds_refundable"),
        "{}",
        r.text
    );
    let o = crate::shipping::order_reaches(customer, order_no, "returned").await;
    assert_eq!(o["payment_status"], "refunded", "{o}");
}

/// A return of `quantity` units of the delivered line, for a change of mind, started straight
/// on the engine with `settings` (the stack's policy is fixed by its configuration): its RMA
/// number and the answer.
async fn start_return(
    d: &Delivered,
    quantity: i32,
    settings: souk_contracts::returns::ReturnSettings,
) -> (String, souk_contracts::returns::Submitted) {
    use souk_contracts::returns::{ReturnClient, ReturnInput, ReturnLineRequest, workflow_id};
    use souk_domain::returns::{ReturnReason, rma_no};
    use temporalio_client::{WorkflowIdConflictPolicy, WorkflowUpdateWithStartOptions};
    let customer_id = d.customer.get("/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rma = rma_no(uuid::Uuid::new_v4().as_u64_pair().0);
    let input = ReturnInput {
        rma_no: rma.clone(),
        order_no: d.order_no.clone(),
        actor: format!("user:{customer_id}"),
        customer_id,
        lines: vec![ReturnLineRequest {
            sku: souk_domain::Sku::parse(&d.sku).unwrap(),
            quantity,
            reason: ReturnReason::ChangedMind,
            note: None,
        }],
        settings,
    };
    let options = WorkflowUpdateWithStartOptions::new(
        souk_contracts::queues::workflows(&app().task_queue_prefix),
        workflow_id(&rma),
        WorkflowIdConflictPolicy::Fail,
    )
    .build();
    let submitted = ReturnClient::new(app().temporal().await)
        .start(input, options)
        .await
        .expect("started")
        .get_result(temporalio_client::RpcOptions::default())
        .await
        .expect("answered");
    (rma, submitted)
}

#[tokio::test]
async fn a_product_in_a_category_the_policy_does_not_take_back_is_refused() {
    use souk_contracts::returns::{ReturnSettings, Submitted};
    let d = delivered().await;
    let policy = |categories: &[&str]| ReturnSettings {
        non_returnable_categories: categories.iter().map(|c| c.to_string()).collect(),
        ..ReturnSettings::default()
    };
    // The product's own category is not taken back: refused with the reason, nothing opened.
    let (rma, submitted) = start_return(&d, 1, policy(&["gift-cards", &d.category])).await;
    match &submitted {
        Submitted::Refused { code, message } => {
            assert_eq!(code, "not_returnable");
            assert!(message.contains(&d.category), "{message}");
        }
        other => panic!("opened: {other:?}"),
    }
    let opened: i64 = sqlx::query_scalar("SELECT count(*) FROM returns.returns WHERE rma_no = $1")
        .bind(&rma)
        .fetch_one(&app().db().await)
        .await
        .unwrap();
    assert_eq!(opened, 0);
    // Another category's policy takes it back.
    let (_, submitted) = start_return(&d, 1, policy(&["gift-cards"])).await;
    assert!(
        matches!(submitted, Submitted::Opened { .. }),
        "{submitted:?}"
    );
}

#[tokio::test]
async fn a_parcel_on_its_way_past_the_send_by_time_is_waited_for_and_staff_asked_if_never_counted()
{
    use souk_contracts::returns::{ReturnSettings, Submitted};
    use souk_domain::returns::ReturnReason;

    let d = delivered().await;
    // Approved by itself; two seconds to send it back, two more to count it once sent.
    let settings = ReturnSettings {
        auto_approve_reasons: vec![ReturnReason::ChangedMind],
        auto_approve_max_minor: i64::MAX,
        send_by_seconds: 2,
        receive_within_seconds: 2,
        ..ReturnSettings::default()
    };
    let (rma, submitted) = start_return(&d, 1, settings).await;
    assert!(
        matches!(submitted, Submitted::Opened { .. }),
        "{submitted:?}"
    );
    let labelled = return_reaches(&d.customer, &rma, "label_issued").await;
    let tracking = labelled["label"]["tracking_code"]
        .as_str()
        .unwrap()
        .to_string();
    souk_tests::shipments::scan(&tracking, ShipmentStatus::InTransit, at(30)).await;
    return_reaches(&d.customer, &rma, "in_transit").await;

    // Sent in time: it does not expire. Not counted 2 s after the send-by time: staff are
    // asked, and find it among the returns waiting for them.
    let staff = Http::new().with_token(&app().operator_token);
    let waiting = format!(
        "/v1/admin/returns?escalated=true&status=in_transit&order_no={}",
        d.order_no
    );
    eventually(
        Duration::from_secs(20),
        "the late parcel shown to staff",
        || async {
            let r = staff.get(&waiting).await;
            let items = r.body["items"].as_array()?;
            (items.len() == 1 && items[0]["rma_no"] == rma.as_str()).then_some(())
        },
    )
    .await;
    let noted: Vec<(String, String)> = sqlx::query_as(
        "SELECT h.event, h.actor FROM returns.history h JOIN returns.returns r ON r.id = h.return_id
         WHERE r.rma_no = $1 AND h.event IN ('receipt_late', 'expired')",
    )
    .bind(&rma)
    .fetch_all(&app().db().await)
    .await
    .unwrap();
    assert_eq!(
        noted,
        [(
            "receipt_late".to_string(),
            "system:receive_within".to_string()
        )]
    );

    // Still waited for: counted late, it is refunded and closed.
    let warehouse: String =
        sqlx::query_scalar("SELECT warehouse FROM inventory.stock WHERE sku = $1 LIMIT 1")
            .bind(&d.sku)
            .fetch_one(&app().db().await)
            .await
            .unwrap();
    let r = staff
        .post(
            &format!("/v1/admin/returns/{rma}/receive"),
            json!({"warehouse": warehouse, "lines": [{"sku": d.sku, "sellable": 1}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let closed = return_reaches(&d.customer, &rma, "closed").await;
    assert!(
        closed["refunded"]["amount"].as_i64().unwrap() > 0,
        "{closed}"
    );
}

#[tokio::test]
async fn a_sellers_own_return_policy_is_versioned_audited_and_runs_its_returns() {
    use souk_domain::refund::less_fee;
    let d = delivered().await;
    let db = app().db().await;
    let (_, vendor) = souk_tests::account(&["vendor_admin"], Some(d.vendor_id)).await;
    let vendor_user = vendor.get("/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let staff = Http::new().with_token(&app().operator_token);
    let path = "/v1/vendor/return-policy";

    // None of its own yet: the marketplace's.
    let r = vendor.get(path).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], 0, "{}", r.text);
    assert_eq!(r.body["own"]["free_return_postage"], false, "{}", r.text);
    assert_eq!(
        r.body["effective"]["changed_mind_postage"], "customer",
        "{}",
        r.text
    );
    assert_eq!(r.body["effective"]["restocking_fee_bps"], 0, "{}", r.text);
    let platform_window = r.body["effective"]["window_seconds"].as_u64().unwrap();

    // Bad policies are refused with a code and the field; nothing is written.
    for (body, code, field) in [
        (
            json!({"policy": {"window_days": 0}, "reason": "r"}),
            "invalid_return_policy",
            Some("window_days"),
        ),
        (
            json!({"policy": {"restocking_fee_bps": 9000}, "reason": "r"}),
            "invalid_return_policy",
            Some("restocking_fee_bps"),
        ),
        (
            json!({"policy": {"non_returnable_categories": ["food", "food"]}, "reason": "r"}),
            "invalid_return_policy",
            Some("non_returnable_categories"),
        ),
        (
            json!({"policy": {"non_returnable_categories": ["Not A Slug"]}, "reason": "r"}),
            "invalid_return_policy",
            Some("non_returnable_categories"),
        ),
        (
            json!({"policy": {"window_days": 10}, "reason": "r"}),
            "invalid_return_policy",
            Some("window_days"),
        ),
        (json!({"policy": {}, "reason": " "}), "invalid_reason", None),
        (
            json!({"policy": {"window_days": 10}, "reason": "r", "extra": 1}),
            "invalid_body",
            None,
        ),
        (
            json!({"policy": {"auto_approve_reasons": ["bored"]}, "reason": "r"}),
            "invalid_body",
            None,
        ),
    ] {
        let r = vendor.put(path, body.clone()).await;
        assert_eq!((r.status, r.code()), (422, code), "{body}: {}", r.text);
        if let Some(field) = field {
            assert_eq!(r.body["error"]["details"]["field"], field, "{}", r.text);
        }
    }
    assert_eq!(vendor.get(path).await.body["version"], 0);
    // A customer is not a vendor admin.
    let r = d.customer.get(path).await;
    assert_eq!(r.status, 403, "{}", r.text);

    // Delivered 40 days ago (the stack delivers now): past the marketplace's 30 days.
    sqlx::query(
        "UPDATE orders.sub_orders SET delivered_at = now() - interval '40 days'
         WHERE order_id = (SELECT id FROM orders.orders WHERE order_no = $1)",
    )
    .bind(&d.order_no)
    .execute(&db)
    .await
    .unwrap();
    let ask = |reason: &str, quantity: i32| json!({"lines": [{"sku": d.sku, "quantity": quantity, "reason": reason}]});
    let returns = format!("/v1/me/orders/{}/returns", d.order_no);
    let r = d.customer.post(&returns, ask("changed_mind", 3)).await;
    assert_eq!(
        (r.status, r.code()),
        (422, "outside_return_window"),
        "{}",
        r.text
    );

    // The seller gives 90 days, but stops taking back its product's category when the
    // customer changed their mind: such an ask is refused; one for a fault of the seller's is
    // not.
    let v1 = json!({"policy": {"window_days": 90, "non_returnable_categories": [d.category]}, "reason": "final sale", "expected_version": 0});
    let r = vendor.put(path, v1).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], 1, "{}", r.text);
    assert_eq!(
        r.body["updated_by"],
        format!("user:{vendor_user}"),
        "{}",
        r.text
    );
    assert_eq!(
        r.body["effective"]["changed_mind_non_returnable_categories"][0],
        d.category.as_str(),
        "{}",
        r.text
    );
    let r = d.customer.post(&returns, ask("changed_mind", 3)).await;
    assert_eq!((r.status, r.code()), (422, "not_returnable"), "{}", r.text);
    assert!(r.text.contains(&d.category), "{}", r.text);
    let r = d.customer.post(&returns, ask("not_as_described", 1)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let fault = r.body["rma_no"].as_str().unwrap().to_string();
    // (Called off again, so its unit is left for the next one.)
    let r = d
        .customer
        .post(&format!("/v1/me/returns/{fault}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    return_reaches(&d.customer, &fault, "cancelled").await;

    // Then: a longer window, changes of mind approved by themselves, a 10% restocking fee and
    // free postage back. Written over a version read before: refused.
    let v2 = json!({"policy": {
            "window_days": 90, "restocking_fee_bps": 1000, "free_return_postage": true,
            "auto_approve_reasons": ["changed_mind", "damaged"], "auto_approve_max_minor": 100_000_000
        }, "reason": "holiday returns", "expected_version": 0});
    let r = vendor.put(path, v2.clone()).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "version_conflict"),
        "{}",
        r.text
    );
    assert_eq!(
        r.body["error"]["details"]["current_version"], 1,
        "{}",
        r.text
    );
    let mut v2 = v2;
    v2["expected_version"] = json!(1);
    let r = vendor.put(path, v2.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], 2, "{}", r.text);
    let effective = &r.body["effective"];
    assert_eq!(effective["window_seconds"], 90 * 86_400, "{}", r.text);
    assert_eq!(effective["restocking_fee_bps"], 1000, "{}", r.text);
    assert_eq!(effective["changed_mind_postage"], "vendor", "{}", r.text);
    assert_ne!(platform_window, 90 * 86_400);
    // Anyone reads the seller's terms before buying.
    let terms = format!("/v1/vendors/{}/return-policy", d.vendor_id);
    let r = Http::new().get(&terms).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["window_days"], 90, "{}", r.text);
    assert_eq!(r.body["restocking_fee_bps"], 1000, "{}", r.text);
    assert_eq!(r.body["changed_mind_postage"], "vendor", "{}", r.text);
    let r = Http::new()
        .get(&format!(
            "/v1/vendors/{}/return-policy",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (404, "vendor_not_found"),
        "{}",
        r.text
    );
    // The same again is no new version.
    v2["expected_version"] = json!(null);
    assert_eq!(vendor.put(path, v2).await.body["version"], 2);

    // The customer's change of mind runs with the seller's policy: inside its window,
    // approved by itself, the seller pays the label, and the fee is kept.
    let r = d.customer.post(&returns, ask("changed_mind", 3)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rma = r.body["rma_no"].as_str().unwrap().to_string();
    let labelled = return_reaches(&d.customer, &rma, "label_issued").await;
    let approved_by: String = sqlx::query_scalar(
        "SELECT h.actor FROM returns.history h JOIN returns.returns r ON r.id = h.return_id
         WHERE r.rma_no = $1 AND h.to_status = 'approved'",
    )
    .bind(&rma)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(approved_by, "system:return_policy");
    assert_eq!(labelled["label"]["postage_paid_by"], "vendor", "{labelled}");
    let noted: String = sqlx::query_scalar(
        "SELECT h.note FROM returns.history h JOIN returns.returns r ON r.id = h.return_id
         WHERE r.rma_no = $1 AND h.event = 'seller_policy'",
    )
    .bind(&rma)
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(noted.contains("version 2"), "{noted}");
    let warehouse: String =
        sqlx::query_scalar("SELECT warehouse FROM inventory.stock WHERE sku = $1 LIMIT 1")
            .bind(&d.sku)
            .fetch_one(&db)
            .await
            .unwrap();
    let r = vendor
        .post(
            &format!("/v1/vendor/returns/{rma}/receive"),
            json!({"warehouse": warehouse, "lines": [{"sku": d.sku, "sellable": 3}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let closed = return_reaches(&d.customer, &rma, "closed").await;
    let line = line_paid(&d.order_no, &d.sku).await;
    let kept = less_fee(line.paid(), 1_000);
    assert!(kept.fee > 0, "{kept:?}");
    assert_eq!(closed["refunded"]["amount"], kept.refund, "{closed}");
    assert_eq!(
        closed["lines"][0]["restocking_fee"]["amount"], kept.fee,
        "{closed}"
    );
    assert!(closed["lines"][0]["postage_kept"].is_null(), "{closed}");
    let (_, _, _, refunded) = payment(&db, &d.checkout_id, 1).await.unwrap();
    assert_eq!(refunded, kept.refund);

    // Staff see every version with who set it and why; each change is audited.
    let r = staff
        .get(&format!(
            "/v1/admin/vendors/{}/return-policy/changes?limit=1",
            d.vendor_id
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"][0]["version"], 2, "{}", r.text);
    assert_eq!(
        r.body["items"][0]["reason"], "holiday returns",
        "{}",
        r.text
    );
    assert_eq!(
        r.body["items"][0]["actor"],
        format!("user:{vendor_user}"),
        "{}",
        r.text
    );
    let cursor = r.body["next_cursor"].as_str().unwrap().to_string();
    let r = staff
        .get(&format!(
            "/v1/admin/vendors/{}/return-policy/changes?cursor={cursor}",
            d.vendor_id
        ))
        .await;
    assert_eq!(r.body["items"][0]["version"], 1, "{}", r.text);
    assert_eq!(
        r.body["items"][0]["policy"]["non_returnable_categories"][0],
        d.category.as_str(),
        "{}",
        r.text
    );
    assert!(r.body["next_cursor"].is_null(), "{}", r.text);
    let r = staff
        .get(&format!(
            "/v1/admin/vendors/{}/return-policy",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (404, "vendor_not_found"),
        "{}",
        r.text
    );
    // Staff put it back to the marketplace's, for the seller.
    let r = staff
        .put(
            &format!("/v1/admin/vendors/{}/return-policy", d.vendor_id),
            json!({"policy": {}, "reason": "seller asked by phone", "expected_version": 2}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], 3, "{}", r.text);
    assert_eq!(
        r.body["effective"]["window_seconds"], platform_window,
        "{}",
        r.text
    );
    let vendor_id = d.vendor_id.to_string();
    eventually(Duration::from_secs(10), "the changes audited", || {
        let (db, vendor_id) = (db.clone(), vendor_id.clone());
        async move {
            let rows: Vec<(String, Option<String>)> = sqlx::query_as(
                "SELECT outcome, details->>'code' FROM auth.audit_log
                 WHERE event = 'vendor.return_policy_set' AND details->>'vendor_id' = $1",
            )
            .bind(&vendor_id)
            .fetch_all(&db)
            .await
            .unwrap();
            let ok = rows.iter().filter(|r| r.0 == "ok").count();
            let conflicts = rows
                .iter()
                .filter(|r| r.1.as_deref() == Some("version_conflict"))
                .count();
            (ok == 4 && conflicts == 1).then_some(())
        }
    })
    .await;
}
