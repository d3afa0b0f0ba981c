//! Goodwill refunds on the whole stack, over HTTP: staff refund units the customer keeps, or
//! an amount, never more than the order has left; each refund is made once at the provider
//! whatever the retries, ten at once for what is left make one refund, and every request is
//! in the audit trail with who and why.

use std::time::Duration;

use futures::future::join_all;
use serde_json::json;
use souk_domain::refund::{LinePaid, LineRefunds, shipping_shares};
use souk_tests::{Http, app, unique};

use souk_domain::shipment::ShipmentStatus;
use souk_tests::shipments::at;

use crate::checkout_support::{at_provider, bought, payment, settled_mails_to, two_vendors};
use crate::shipping::{order_reaches, pack_and_label};

#[tokio::test]
async fn staff_refund_within_what_is_left_once_per_key_and_audited() {
    let db = app().db().await;
    let (a, _, _) = two_vendors(&db).await;
    souk_tests::fixtures::vendor(&db, a.vendor_id, "Mugs & Co").await;
    let (email, customer) = souk_tests::account(&["customer"], None).await;
    let sku = a.skus[0].clone();
    let (checkout_id, order_no) = bought(&customer, &[(sku.as_str(), 3)], &email).await;
    let (unit_price, discount, tax, shipping, total): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT l.unit_price, l.discount, l.tax, s.shipping, o.total
         FROM orders.order_lines l JOIN orders.sub_orders s ON s.id = l.sub_order_id
         JOIN orders.orders o ON o.id = l.order_id WHERE o.order_no = $1",
    )
    .bind(&order_no)
    .fetch_one(&db)
    .await
    .unwrap();
    let line = LinePaid {
        unit_price,
        quantity: 3,
        discount,
        tax,
        shipping: shipping_shares(shipping, &[unit_price * 3])[0],
    };
    assert_eq!(line.paid(), total, "one line is the whole order");
    let staff = Http::new().with_token(&app().operator_token);
    let path = format!("/v1/admin/orders/{order_no}/refunds");
    let unit = json!({"lines": [{"sku": sku, "quantity": 1}], "reason": "arrived late"});

    // Customers cannot; staff must send a key; bad requests are refused with a code and
    // refund nothing.
    let r = customer
        .post_idempotent(&path, &unique(), unit.clone())
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = staff.post(&path, unit.clone()).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "idempotency_key_required"),
        "{}",
        r.text
    );
    let usd = |amount: i64| json!({"amount": amount, "currency": "USD"});
    for (body, status, code) in [
        (json!({"reason": "x"}), 422, "invalid_body"),
        (
            json!({"amount": usd(100), "reason": " "}),
            422,
            "invalid_body",
        ),
        (
            json!({"amount": usd(100), "lines": [{"sku": sku, "quantity": 1}], "reason": "x"}),
            422,
            "invalid_body",
        ),
        (
            json!({"amount": usd(0), "reason": "x"}),
            422,
            "invalid_body",
        ),
        (
            json!({"amount": usd(total + 1), "reason": "x"}),
            422,
            "exceeds_refundable",
        ),
        (
            json!({"amount": {"amount": 100, "currency": "EUR"}, "reason": "x"}),
            422,
            "currency_mismatch",
        ),
        (
            json!({"lines": [{"sku": "NOT-IN-IT", "quantity": 1}], "reason": "x"}),
            422,
            "not_in_order",
        ),
        (
            json!({"lines": [{"sku": sku, "quantity": 1}], "reason": "x"}),
            422,
            "not_delivered",
        ),
    ] {
        let r = staff.post_idempotent(&path, &unique(), body.clone()).await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.text);
    }
    let r = staff
        .post_idempotent(
            "/v1/admin/orders/SK-999999999/refunds",
            &unique(),
            unit.clone(),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "order_not_found"), "{}", r.text);
    assert_eq!(at_provider(&db, &checkout_id, "refund").await.effects, 0);

    // Delivered: units the customer keeps may be refunded, never more than were bought.
    let (_, vendor) = souk_tests::account(&["vendor_admin"], Some(a.vendor_id)).await;
    let (_, code) = pack_and_label(&vendor, &order_no).await;
    souk_tests::shipments::scan(&code, ShipmentStatus::Delivered, at(0)).await;
    order_reaches(&customer, &order_no, "delivered").await;
    let r = staff
        .post_idempotent(
            &path,
            &unique(),
            json!({"lines": [{"sku": sku, "quantity": 4}], "reason": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "exceeds_refundable"),
        "{}",
        r.text
    );

    // One unit the customer keeps, asked ten times at once with one key: one refund of what
    // the rule says it is worth.
    let key = unique();
    let replies = join_all((0..10).map(|_| staff.post_idempotent(&path, &key, unit.clone()))).await;
    let worth = line.refund(LineRefunds::default(), 1).unwrap();
    for r in &replies {
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["amount"]["amount"], worth, "{}", r.text);
        assert_eq!(r.body["refund_id"], replies[0].body["refund_id"]);
    }
    let r = staff
        .post_idempotent(
            &path,
            &key,
            json!({"amount": usd(100), "reason": "arrived late"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "idempotency_key_reused"),
        "{}",
        r.text
    );
    let id = replies[0].body["refund_id"].as_str().unwrap().to_string();
    let seen = staff.get(&format!("{path}/{id}")).await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert_eq!(seen.body["status"], "refunded", "{}", seen.text);
    assert_eq!(seen.body["lines"][0]["quantity"], 1, "{}", seen.text);

    // What is left, asked ten times at once with ten keys: one is refunded, nine refused.
    let left = total - worth;
    let rest = json!({"amount": usd(left), "reason": "the rest, as a gesture"});
    let keys: Vec<String> = (0..10).map(|_| unique()).collect();
    let replies = join_all(
        keys.iter()
            .map(|k| staff.post_idempotent(&path, k, rest.clone())),
    )
    .await;
    let made: Vec<_> = replies.iter().filter(|r| r.status == 201).collect();
    assert_eq!(
        made.len(),
        1,
        "{:?}",
        replies.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    assert_eq!(made[0].body["amount"]["amount"], left);
    for r in replies.iter().filter(|r| r.status != 201) {
        assert_eq!(
            (r.status, r.code()),
            (422, "exceeds_refundable"),
            "{}",
            r.text
        );
    }

    // The provider refunded exactly the order's capture, in two refunds, once each.
    let refunds = at_provider(&db, &checkout_id, "refund").await;
    assert_eq!((refunds.effects, refunds.keys), (2, 2), "{refunds:?}");
    let (status, _, captured, refunded) = payment(&db, &checkout_id, 1).await.unwrap();
    assert_eq!((refunded, captured), (total, total));
    assert_eq!(status, "refunded");
    let o = staff.get(&format!("/v1/admin/orders/{order_no}")).await;
    assert_eq!(o.body["payment_status"], "refunded", "{}", o.text);
    let events: Vec<&str> = o.body["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["event"].as_str())
        .filter(|e| *e == "goodwill_refund")
        .collect();
    assert_eq!(events.len(), 2, "{}", o.text);

    // Nothing left: a minor unit more is refused.
    let r = staff
        .post_idempotent(&path, &unique(), json!({"amount": usd(1), "reason": "x"}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "exceeds_refundable"),
        "{}",
        r.text
    );

    // The customer was told twice (not the staff's reason); every request was audited.
    let mails = settled_mails_to(&email, Duration::from_secs(2)).await;
    let told: Vec<_> = mails
        .iter()
        .filter(|(s, _)| s.contains("refunded"))
        .collect();
    assert_eq!(told.len(), 2, "{mails:?}");
    assert!(told.iter().all(|(_, t)| !t.contains("gesture")), "{told:?}");
    // Every request staff made is audited: ten with one key and one with the rest were made
    // (ok); the one without a key, the eight refused above, the one for too many units, the
    // reused key, nine of the ten and the last one failed; and the unknown order's.
    let audited = |order_no: String| async move {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT outcome, details->>'reason' FROM auth.audit_log
             WHERE event = 'order.goodwill_refund' AND details->>'order_no' = $1",
        )
        .bind(order_no)
        .fetch_all(&app().db().await)
        .await
        .unwrap();
        let ok = rows.iter().filter(|(o, _)| o == "ok").count();
        let failed = rows.iter().filter(|(o, _)| o == "failed").count();
        (ok, failed)
    };
    souk_tests::eventually(Duration::from_secs(10), "the audit entries", || async {
        (audited(order_no.clone()).await == (11, 21)).then_some(())
    })
    .await;
    souk_tests::eventually(
        Duration::from_secs(10),
        "the unknown order's entry",
        || async { (audited("SK-999999999".into()).await.1 >= 1).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn a_refund_the_provider_refuses_takes_nothing_from_what_is_left() {
    let db = app().db().await;
    let (a, _, _) = two_vendors(&db).await;
    let (email, customer) = souk_tests::account(&["customer"], None).await;
    let (checkout_id, order_no) = bought(&customer, &[(a.skus[0].as_str(), 2)], &email).await;
    let total: i64 = sqlx::query_scalar("SELECT total FROM orders.orders WHERE order_no = $1")
        .bind(&order_no)
        .fetch_one(&db)
        .await
        .unwrap();
    // Refunded in full at the provider's dashboard, outside Souk: the provider refuses more.
    let intent = |refunded: &'static str| {
        let (db, checkout_id) = (db.clone(), checkout_id.clone());
        async move {
            sqlx::query(&format!(
                "UPDATE payments.sandbox_intents SET refunded_amount = {refunded}
                 WHERE id = (SELECT provider_payment_id FROM payments.payments
                             WHERE checkout_id = $1 AND attempt = 1)"
            ))
            .bind(&checkout_id)
            .execute(&db)
            .await
            .unwrap();
        }
    };
    intent("captured_amount").await;
    let staff = Http::new().with_token(&app().operator_token);
    let path = format!("/v1/admin/orders/{order_no}/refunds");
    let all = json!({"amount": {"amount": total, "currency": "USD"}, "reason": "never arrived"});
    let r = staff.post_idempotent(&path, &unique(), all.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = if r.body["status"] == "refunding" {
        let id = r.body["refund_id"].as_str().unwrap().to_string();
        souk_tests::eventually(Duration::from_secs(30), "the provider's answer", || async {
            let r = staff.get(&format!("{path}/{id}")).await;
            (r.body["status"] != "refunding").then_some(r)
        })
        .await
    } else {
        r
    };
    assert_eq!(r.body["status"], "failed", "{}", r.text);
    assert!(
        r.body["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("charge_already_refunded") && p.contains("left to refund")),
        "{}",
        r.text
    );
    // Nothing is counted as refunded; the order's timeline says so.
    let refunded: i64 = sqlx::query_scalar(
        "SELECT sum(l.refunded_amount)::bigint FROM orders.order_lines l
         JOIN orders.orders o ON o.id = l.order_id WHERE o.order_no = $1",
    )
    .bind(&order_no)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(refunded, 0);
    let o = staff.get(&format!("/v1/admin/orders/{order_no}")).await;
    assert_eq!(o.body["payment_status"], "captured", "{}", o.text);
    let events: Vec<&str> = o.body["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["event"].as_str())
        .collect();
    assert!(events.contains(&"refund_released"), "{events:?}");
    assert_eq!(at_provider(&db, &checkout_id, "refund").await.effects, 0);

    // The provider takes refunds again: the whole amount may be refunded, once.
    intent("0").await;
    let r = staff.post_idempotent(&path, &unique(), all.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["amount"]["amount"], total, "{}", r.text);
    souk_tests::eventually(Duration::from_secs(30), "the refund", || async {
        let (_, _, _, refunded) = payment(&db, &checkout_id, 1).await?;
        (refunded == total).then_some(())
    })
    .await;
    let r = staff
        .post_idempotent(
            &path,
            &unique(),
            json!({"amount": {"amount": 1, "currency": "USD"}, "reason": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "exceeds_refundable"),
        "{}",
        r.text
    );
    // The failed request is audited as failed, the refund as ok.
    let mut rows = souk_tests::eventually(Duration::from_secs(10), "the audit entries", || async {
        let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT outcome, details->>'status', details->>'code' FROM auth.audit_log
             WHERE event = 'order.goodwill_refund' AND details->>'order_no' = $1",
        )
        .bind(&order_no)
        .fetch_all(&db)
        .await
        .unwrap();
        (rows.len() == 3).then_some(rows)
    })
    .await;
    rows.sort();
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows,
        [
            (s("failed").unwrap(), None, s("exceeds_refundable")),
            (s("failed").unwrap(), s("failed"), None),
            (s("ok").unwrap(), s("refunded"), None),
        ]
    );
}
