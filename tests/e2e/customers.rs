//! What belongs to a signed-in customer stays theirs: carts, checkouts and orders answer 404
//! to anyone else (audited), and a guest cart comes along at sign-in.

use std::time::Duration;

use serde_json::json;
use souk_tests::fixtures::{self, VariantSpec};
use souk_tests::{Http, PASSWORD, account, admin_token, app, eventually, unique};

use crate::checkout_support::*;

#[tokio::test]
async fn a_customer_cannot_reach_another_customers_cart_checkout_or_order() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(1_500, 10, 10)]).await;
    let sku = &p.skus[0];
    let (email, ann) = account(&["customer"], None).await;
    let (_, bob) = account(&["customer"], None).await;
    let guest = Http::new();
    let ops = Http::new().with_token(admin_token());

    let cart = cart_with(&ann, &[(sku, 1)]).await;
    let r = ann.get(&format!("/v1/carts/{cart}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ann_id = ann.get("/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(r.body["owner_id"], ann_id.as_str());
    for who in [&bob, &guest] {
        let r = who.get(&format!("/v1/carts/{cart}")).await;
        assert_eq!((r.status, r.code()), (404, "cart_not_found"), "{}", r.text);
        let r = who
            .post(
                &format!("/v1/carts/{cart}/items"),
                json!({"sku": sku, "quantity": 5}),
            )
            .await;
        assert_eq!((r.status, r.code()), (404, "cart_not_found"));
        let r = start(
            who,
            &unique(),
            checkout_body(&cart, "x@example.com", "pm_card_visa"),
        )
        .await;
        assert_eq!((r.status, r.code()), (404, "cart_not_found"), "{}", r.text);
    }
    assert_eq!(ops.get(&format!("/v1/carts/{cart}")).await.status, 200);
    let r = ann.get(&format!("/v1/carts/{cart}")).await;
    assert_eq!(r.body["items"][0]["quantity"], 1, "nothing was added");

    // Ann checks out; the checkout and the order are hers.
    let r = start(
        &ann,
        &unique(),
        checkout_body(&cart, &email, "pm_card_visa"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    let order_no = r.body["order_no"].as_str().unwrap().to_string();
    for who in [&bob, &guest] {
        let r = who.get(&format!("/v1/checkouts/{checkout_id}")).await;
        assert_eq!((r.status, r.code()), (404, "checkout_not_found"));
        let r = who
            .post(&format!("/v1/checkouts/{checkout_id}/cancel"), json!({}))
            .await;
        assert_eq!((r.status, r.code()), (404, "checkout_not_found"));
    }
    assert_eq!(
        ann.get(&format!("/v1/checkouts/{checkout_id}"))
            .await
            .status,
        200
    );
    ended(&ann, &checkout_id).await;

    let r = ann.get("/v1/me/orders").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"][0]["order_no"], order_no.as_str());
    let r = ann.get(&format!("/v1/me/orders/{order_no}")).await;
    assert_eq!(
        (r.status, r.body["order_no"].as_str()),
        (200, Some(order_no.as_str()))
    );
    let r = bob.get(&format!("/v1/me/orders/{order_no}")).await;
    assert_eq!((r.status, r.code()), (404, "order_not_found"));
    assert_eq!(bob.get("/v1/me/orders").await.body["items"], json!([]));
    assert_eq!(guest.get("/v1/me/orders").await.status, 401);

    // Bob's attempts are on record.
    let bob_id = bob.get("/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    eventually(
        Duration::from_secs(10),
        "bob's refusals in the audit trail",
        || {
            let ops = ops.clone();
            let bob_id = bob_id.clone();
            async move {
                let r = ops
                    .get(&format!(
                        "/v1/admin/audit?user_id={bob_id}&event=authorization&limit=100"
                    ))
                    .await;
                let resources: Vec<String> = r.body["items"]
                    .as_array()?
                    .iter()
                    .filter(|e| e["details"]["reason"] == "other_customer")
                    .map(|e| e["details"]["resource"].as_str().unwrap_or("").to_string())
                    .collect();
                ["cart", "checkout", "order"]
                    .iter()
                    .all(|r| resources.iter().any(|x| x == r))
                    .then_some(())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_guest_cart_is_claimed_or_merged_at_sign_in() {
    let db = app().db().await;
    let p = fixtures::product(
        &db,
        &[
            VariantSpec::new(1_000, 10, 10),
            VariantSpec::new(2_000, 10, 10),
        ],
    )
    .await;
    let (x, y) = (&p.skus[0], &p.skus[1]);
    let (email, _) = account(&["customer"], None).await;
    let guest = Http::new();
    let login = |cart: String| {
        let email = email.clone();
        async move {
            Http::new()
                .post(
                    "/v1/auth/login",
                    json!({"email": email, "password": PASSWORD, "cart_id": cart}),
                )
                .await
        }
    };

    // No cart of their own yet: the guest cart becomes theirs.
    let first = cart_with(&guest, &[(x, 1)]).await;
    let r = login(first.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["cart_id"], first.as_str());
    let me = Http::new().with_token(r.body["access_token"].as_str().unwrap());
    let mine = me.get("/v1/me/cart").await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    assert_eq!(mine.body["id"], first.as_str());
    let r = guest.get(&format!("/v1/carts/{first}")).await;
    assert_eq!(
        (r.status, r.code()),
        (404, "cart_not_found"),
        "no longer a guest cart"
    );

    // With a cart of their own: the next guest cart's items join it, and it is gone.
    let second = cart_with(&guest, &[(x, 2), (y, 1)]).await;
    let r = login(second.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["cart_id"], first.as_str());
    let me = Http::new().with_token(r.body["access_token"].as_str().unwrap());
    let mine = me.get("/v1/me/cart").await;
    let qty = |sku: &str| {
        mine.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["sku"] == sku)
            .map(|l| l["quantity"].as_i64().unwrap())
    };
    assert_eq!((qty(x), qty(y)), (Some(3), Some(1)), "{}", mine.text);
    let r = guest.get(&format!("/v1/carts/{second}")).await;
    assert_eq!((r.status, r.code()), (404, "cart_not_found"));

    // Someone else's cart id at sign-in is not merged, and sign-in still works.
    let (_, other) = account(&["customer"], None).await;
    let theirs = cart_with(&other, &[(y, 1)]).await;
    let r = login(theirs.clone()).await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("cart_id").is_none(), "{}", r.text);
    assert_eq!(
        other.get(&format!("/v1/carts/{theirs}")).await.body["items"][0]["quantity"],
        1
    );
}

#[tokio::test]
async fn a_customer_keeps_a_profile_and_an_address_book_and_checks_out_to_a_saved_address() {
    let db = app().db().await;
    let p = fixtures::product(&db, &[VariantSpec::new(1_200, 10, 10)]).await;
    let (email, me) = account(&["customer"], None).await;

    let r = me.get("/v1/me").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["email"].as_str(), &r.body["profile"]["name"]),
        (Some(email.as_str()), &json!(null))
    );
    let r = me
        .patch(
            "/v1/me",
            json!({"name": "Ann Lee", "phone": "+44 20 7123 4567", "preferences": {"locale": "en-GB", "currency": "gbp"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["profile"]["phone"], "+442071234567");
    assert_eq!(r.body["profile"]["preferences"]["currency"], "GBP");
    let r = me.patch("/v1/me", json!({"phone": "12"})).await;
    assert_eq!((r.status, r.code()), (422, "invalid_profile"));
    assert_eq!(r.body["error"]["details"]["field"], "phone");
    assert_eq!(
        me.get("/v1/me").await.body["profile"]["phone"],
        "+442071234567",
        "unchanged"
    );

    let home = json!({"label": "Home", "name": "Ann Lee", "line1": "1 Main St", "city": "Springfield",
                      "postal_code": "12345", "country": "US"});
    let r = me.post("/v1/me/addresses", home.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["is_default"], true);
    let home_id = r.body["id"].as_str().unwrap().to_string();
    let mut work = home.clone();
    work["label"] = json!("Work");
    work["line1"] = json!("2 Office Park");
    work["is_default"] = json!(true);
    let r = me.post("/v1/me/addresses", work).await;
    let work_id = r.body["id"].as_str().unwrap().to_string();
    let book = me.get("/v1/me/addresses").await;
    let defaults: Vec<&str> = book.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["is_default"] == true)
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(defaults, vec![work_id.as_str()], "exactly one default");
    let r = me
        .patch(
            &format!("/v1/me/addresses/{home_id}"),
            json!({"city": "Shelbyville", "is_default": true}),
        )
        .await;
    assert_eq!(
        (
            r.status,
            r.body["city"].as_str(),
            r.body["is_default"].as_bool()
        ),
        (200, Some("Shelbyville"), Some(true))
    );
    let r = me.post("/v1/me/addresses", json!({"name": "X", "line1": "1", "city": "Y", "postal_code": "1", "country": "Narnia"})).await;
    assert_eq!((r.status, r.code()), (422, "invalid_country"));

    // Nobody else reaches the address book.
    let (_, bob) = account(&["customer"], None).await;
    let r = bob
        .patch(
            &format!("/v1/me/addresses/{home_id}"),
            json!({"city": "Nowhere"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "address_not_found"));
    assert_eq!(bob.get("/v1/me/addresses").await.body["items"], json!([]));

    // Check out to a saved address.
    let cart = cart_with(&me, &[(&p.skus[0], 1)]).await;
    let mut body = checkout_body(&cart, &email, "pm_card_visa");
    body.as_object_mut().unwrap().remove("shipping_address");
    body["shipping_address_id"] = json!(home_id);
    let r = start(&me, &unique(), body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let order_no = r.body["order_no"].as_str().unwrap().to_string();
    let o = me.get(&format!("/v1/me/orders/{order_no}")).await;
    assert_eq!(
        o.body["shipping_address"]["city"], "Shelbyville",
        "{}",
        o.text
    );
    // Someone else's saved address cannot be used, and a guest has none.
    let bob_cart = cart_with(&bob, &[(&p.skus[0], 1)]).await;
    body["cart_id"] = json!(bob_cart);
    let r = start(&bob, &unique(), body.clone()).await;
    assert_eq!((r.status, r.code()), (404, "address_not_found"));
    let guest_cart = cart_with(&Http::new(), &[(&p.skus[0], 1)]).await;
    body["cart_id"] = json!(guest_cart);
    let r = start(&Http::new(), &unique(), body).await;
    assert_eq!((r.status, r.code()), (401, "sign_in_required"));

    let r = me.delete(&format!("/v1/me/addresses/{home_id}")).await;
    assert_eq!(r.status, 204);
    let book = me.get("/v1/me/addresses").await;
    assert_eq!(book.body["items"][0]["id"], work_id.as_str());
    assert_eq!(
        book.body["items"][0]["is_default"], true,
        "the remaining one is the default"
    );
}
