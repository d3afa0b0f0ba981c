//! Operator powers need a second-factor sign-in wherever they are used, and a revocation
//! (blocking, a role change, signing out) takes effect on the very next request.

use serde_json::json;
use souk_tests::{Http, PASSWORD, account, admin_token, app, unique};

use crate::checkout_support::*;

/// Signs in (with a TOTP code for accounts that have one): (access token, refresh token).
async fn sign_in(email: &str, totp_code: Option<&str>) -> (String, String) {
    let r = Http::new()
        .post(
            "/v1/auth/login",
            json!({"email": email, "password": PASSWORD, "totp_code": totp_code}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    (
        r.body["access_token"].as_str().unwrap().to_string(),
        r.body["refresh_token"].as_str().unwrap().to_string(),
    )
}

async fn refresh(refresh_token: &str) -> souk_tests::Reply {
    Http::new()
        .post("/v1/auth/refresh", json!({"refresh_token": refresh_token}))
        .await
}

/// A staff account signed in with its second factor: (e-mail, access, refresh).
async fn staff_with_mfa() -> (String, String, String) {
    let (email, staff) = account(&["staff"], None).await;
    let client = reqwest::Client::new();
    let (secret, _) = souk_tests::enroll_totp(&client, &app().api, staff.token().unwrap(), &email)
        .await
        .unwrap();
    let code = souk_tests::totp_code(&secret, &email, 30);
    let (access, refresh) = sign_in(&email, Some(&code)).await;
    (email, access, refresh)
}

/// A customer's cart and running checkout (waiting for 3-D Secure, so it can be cancelled).
async fn customers_checkout() -> (Http, String, String) {
    let db = app().db().await;
    let (a, _, _) = two_vendors(&db).await;
    let (email, customer) = account(&["customer"], None).await;
    let cart = cart_with(&customer, &[(&a.skus[0], 1)]).await;
    let r = start(
        &customer,
        &unique(),
        checkout_body(&cart, &email, "pm_card_authenticationRequired"),
    )
    .await;
    let checkout_id = r.body["checkout_id"].as_str().unwrap().to_string();
    (customer, cart, checkout_id)
}

#[tokio::test]
async fn staff_signed_in_with_a_password_only_have_no_operator_powers_anywhere() {
    let (_, cart, checkout_id) = customers_checkout().await;
    let (_, password_only) = account(&["staff"], None).await;
    let reads = [
        password_only.get(&format!("/v1/carts/{cart}")).await,
        password_only
            .post(
                &format!("/v1/carts/{cart}/items"),
                json!({"sku": "X-1", "quantity": 1}),
            )
            .await,
        password_only
            .delete(&format!("/v1/carts/{cart}/coupon"))
            .await,
        password_only
            .get(&format!("/v1/checkouts/{checkout_id}"))
            .await,
        password_only
            .post(&format!("/v1/checkouts/{checkout_id}/cancel"), json!({}))
            .await,
    ];
    for r in reads {
        assert_eq!(r.status, 404, "as if it did not exist: {}", r.text);
    }
    let r = password_only.get("/v1/admin/inventory/alerts").await;
    assert_eq!((r.status, r.code()), (403, "mfa_required"), "{}", r.text);

    // With a second factor the same role reaches the customer's checkout.
    let (_, access, _) = staff_with_mfa().await;
    let staff = Http::new().with_token(&access);
    assert_eq!(
        staff
            .get(&format!("/v1/checkouts/{checkout_id}"))
            .await
            .status,
        200
    );
    assert_eq!(staff.get(&format!("/v1/carts/{cart}")).await.status, 200);
}

#[tokio::test]
async fn a_revoked_role_stops_working_at_the_next_request() {
    let (_, _, checkout_id) = customers_checkout().await;
    let (_, access, refresh_token) = staff_with_mfa().await;
    let staff = Http::new().with_token(&access);
    assert_eq!(
        staff
            .get(&format!("/v1/checkouts/{checkout_id}"))
            .await
            .status,
        200
    );
    let me = staff.get("/v1/me").await;
    let id = me.body["id"].as_str().unwrap().to_string();

    let ops = Http::new().with_token(admin_token());
    let r = ops
        .delete(&format!("/v1/admin/users/{id}/roles/staff"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The token from before the change is refused everywhere, at once.
    for r in [
        staff.get(&format!("/v1/checkouts/{checkout_id}")).await,
        staff
            .post(&format!("/v1/checkouts/{checkout_id}/cancel"), json!({}))
            .await,
        staff.get("/v1/me").await,
    ] {
        assert_eq!((r.status, r.code()), (401, "token_revoked"), "{}", r.text);
    }
    // Refreshing gives a token with the roles as they are now.
    let r = refresh(&refresh_token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let now = Http::new().with_token(r.body["access_token"].as_str().unwrap());
    assert_eq!(now.get("/v1/me").await.status, 200);
    let r = now.get(&format!("/v1/checkouts/{checkout_id}")).await;
    assert_eq!(r.status, 404, "{}", r.text);
    // The checkout was never cancelled by the revoked token.
    let db = app().db().await;
    let cancelled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM payments.payments WHERE checkout_id = $1 AND status = 'voided'",
    )
    .bind(&checkout_id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(cancelled, 0);
}

#[tokio::test]
async fn a_blocked_account_is_refused_at_once_and_can_be_let_in_again() {
    let (email, _) = account(&["customer"], None).await;
    let (access, refresh_token) = sign_in(&email, None).await;
    let me = Http::new().with_token(&access);
    let id = me.get("/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ops = Http::new().with_token(admin_token());

    let r = ops
        .post(
            &format!("/v1/admin/users/{id}/block"),
            json!({"reason": " "}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_reason"), "{}", r.text);
    let r = ops
        .post(
            &format!("/v1/admin/users/{id}/block"),
            json!({"reason": "chargebacks from this account"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("blocked")),
        "{}",
        r.text
    );
    for r in [
        me.get("/v1/me").await,
        me.get("/v1/me/addresses").await,
        me.post("/v1/carts", json!({})).await,
    ] {
        assert_eq!((r.status, r.code()), (401, "token_revoked"), "{}", r.text);
    }
    let r = refresh(&refresh_token).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = Http::new()
        .post(
            "/v1/auth/login",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "account_blocked"), "{}", r.text);

    // Who blocked and why is in the audit trail.
    let trail = ops
        .get(&format!("/v1/admin/audit?user_id={id}&event=user_blocked"))
        .await;
    let entry = &trail.body["items"][0];
    assert_eq!(
        entry["details"]["reason"], "chargebacks from this account",
        "{}",
        trail.text
    );
    assert!(
        entry["actor"].as_str().unwrap().starts_with("user:"),
        "{}",
        trail.text
    );

    let r = ops
        .post(
            &format!("/v1/admin/users/{id}/unblock"),
            json!({"reason": "resolved with the bank"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (fresh, _) = sign_in(&email, None).await;
    assert_eq!(
        Http::new().with_token(&fresh).get("/v1/me").await.status,
        200
    );
    assert_eq!(
        me.get("/v1/me").await.status,
        401,
        "the old token stays revoked"
    );

    // Blocking an operator takes a super admin; staff cannot.
    let (_, staff_access, _) = staff_with_mfa().await;
    let (_, other_staff) = account(&["staff"], None).await;
    let other_id = other_staff.get("/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = Http::new()
        .with_token(&staff_access)
        .post(
            &format!("/v1/admin/users/{other_id}/block"),
            json!({"reason": "test"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"), "{}", r.text);
}

#[tokio::test]
async fn signing_out_ends_that_sign_in_only() {
    let (email, _) = account(&["customer"], None).await;
    let (first, first_refresh) = sign_in(&email, None).await;
    let (second, _) = sign_in(&email, None).await;
    let r = Http::new()
        .post("/v1/auth/logout", json!({"refresh_token": first_refresh}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = Http::new().with_token(&first).get("/v1/me").await;
    assert_eq!((r.status, r.code()), (401, "token_revoked"), "{}", r.text);
    assert_eq!(
        Http::new().with_token(&second).get("/v1/me").await.status,
        200
    );
}

#[tokio::test]
async fn revocations_live_in_redis_under_the_auth_domains_keys() {
    let (email, _) = account(&["customer"], None).await;
    let (_, refresh_token) = sign_in(&email, None).await;
    Http::new()
        .post("/v1/auth/logout", json!({"refresh_token": refresh_token}))
        .await
        .expect(204);
    let db = app().db().await;
    let family: uuid::Uuid = sqlx::query_scalar(
        "SELECT family_id FROM auth.refresh_tokens t JOIN auth.users u ON u.id = t.user_id
          WHERE u.email = $1 AND t.revoked_reason = 'logout'",
    )
    .bind(&email)
    .fetch_one(&db)
    .await
    .unwrap();
    let mut redis = redis::Client::open(app().redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = souk_domain::identity::revoked_session_key(&app().redis_prefix, &family.to_string());
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    let access_ttl: i64 = app().config.get("auth.access_ttl_seconds").unwrap();
    assert!(
        ttl > access_ttl - 60 && ttl <= access_ttl + 60,
        "{key}: ttl {ttl}"
    );
}

#[tokio::test]
async fn an_operator_cannot_block_their_own_account_or_take_away_their_own_roles() {
    let (email, first) = account(&["staff", "super_admin"], None).await;
    let client = reqwest::Client::new();
    let (secret, _) = souk_tests::enroll_totp(&client, &app().api, first.token().unwrap(), &email)
        .await
        .unwrap();
    let (access, _) = sign_in(&email, Some(&souk_tests::totp_code(&secret, &email, 30))).await;
    let me = Http::new().with_token(&access);
    let id = me.get("/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();

    let r = me
        .post(
            &format!("/v1/admin/users/{id}/block"),
            json!({"reason": "testing the lock on my own account"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "own_account"), "{}", r.text);
    for role in ["super_admin", "staff"] {
        let r = me
            .delete(&format!("/v1/admin/users/{id}/roles/{role}"))
            .await;
        assert_eq!((r.status, r.code()), (422, "own_account"), "{}", r.text);
    }
    // Nothing changed: the token still works as an operator's.
    let r = me.get("/v1/admin/audit?limit=1").await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Another operator may do both.
    let ops = Http::new().with_token(admin_token());
    let r = ops
        .delete(&format!("/v1/admin/users/{id}/roles/super_admin"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = ops
        .post(
            &format!("/v1/admin/users/{id}/block"),
            json!({"reason": "left the company"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(me.get("/v1/me").await.status, 401);
}
