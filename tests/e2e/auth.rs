//! Accounts and tokens over HTTP: sign-up, sign-in, refresh rotation and theft detection,
//! sign-out, token verification (expired, tampered, unknown key, `alg: none`), key rotation
//! without signing anyone out, lockout without account enumeration, and operator routes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use souk_auth::crypto::Sealer;
use souk_auth::keys::Keys;
use souk_tests::{Http, PASSWORD, admin_token, app, eventually, unique};
use std::time::Duration;

fn email(tag: &str) -> String {
    format!("{tag}-{}@example.com", unique().to_lowercase())
}

/// Signs up; the account as `/v1/me` shows it.
async fn register(http: &Http, email: &str) -> Value {
    let r = http
        .post(
            "/v1/auth/register",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let token = login(http, email, PASSWORD).await.body["access_token"]
        .as_str()
        .expect("the new account signs in")
        .to_string();
    http.with_token(&token).get("/v1/me").await.body
}

async fn login(http: &Http, email: &str, password: &str) -> souk_tests::Reply {
    http.post(
        "/v1/auth/login",
        json!({"email": email, "password": password}),
    )
    .await
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Signs `claims` with the real private key `kid` (read from the auth schema with the
/// configured key-encryption key), to build tokens the auth service would never issue.
async fn forge(kid: &str, claims: &Value) -> String {
    let a = app();
    let keys = Keys::new(
        a.db().await,
        Sealer::new(
            &a.config
                .get::<String>("auth.key_encryption_key")
                .expect("the key-encryption key"),
        ),
    );
    let pem = keys.private_pem(kid).await.expect("the key exists");
    let header = Header {
        kid: Some(kid.to_string()),
        ..Header::new(Algorithm::RS256)
    };
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

#[tokio::test]
async fn register_login_refresh_detect_reuse_and_logout() {
    let http = Http::new();
    let email = email("ann");
    let user = register(&http, &email).await;
    assert_eq!(user["roles"], json!(["customer"]));

    let r = login(&http, &email.to_uppercase(), PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(r.body["token_type"], "Bearer");
    let access = r.body["access_token"].as_str().unwrap().to_string();
    let first_refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    let c = claims(&access);
    assert_eq!(c["sub"], user["id"]);
    assert_eq!(c["roles"], json!(["customer"]));
    for claim in ["exp", "iat", "jti", "iss", "aud"] {
        assert!(!c[claim].is_null(), "{claim} in {c}");
    }
    let me = http.with_token(&access).get("/v1/me").await;
    assert_eq!(
        (me.status, me.body["email"].as_str()),
        (200, Some(email.as_str()))
    );

    let r = http
        .post("/v1/auth/refresh", json!({"refresh_token": first_refresh}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let second_refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second_refresh, first_refresh);
    assert_ne!(
        claims(r.body["access_token"].as_str().unwrap())["jti"],
        c["jti"]
    );

    // The old token again: someone kept a copy. The whole family is revoked.
    let r = http
        .post("/v1/auth/refresh", json!({"refresh_token": first_refresh}))
        .await;
    assert_eq!((r.status, r.code()), (401, "refresh_token_reused"));
    let r = http
        .post("/v1/auth/refresh", json!({"refresh_token": second_refresh}))
        .await;
    assert_eq!((r.status, r.code()), (401, "invalid_refresh_token"));

    // Sign in again, sign out: the refresh token stops working.
    let r = login(&http, &email, PASSWORD).await;
    let refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    let out = http
        .post("/v1/auth/logout", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(out.status, 204, "{}", out.text);
    let r = http
        .post("/v1/auth/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!((r.status, r.code()), (401, "invalid_refresh_token"));

    // Every step is in the audit trail, with the request id of the call.
    let ops = Http::new().with_token(admin_token());
    let uid = user["id"].as_str().unwrap();
    let trail = ops
        .get(&format!("/v1/admin/audit?user_id={uid}&limit=50"))
        .await;
    assert_eq!(trail.status, 200, "{}", trail.text);
    let events: Vec<(String, String)> = trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for e in [
        ("user_registered", "ok"),
        ("login", "ok"),
        ("token_refresh", "ok"),
        ("refresh_token_reuse", "denied"),
        ("logout", "ok"),
    ] {
        assert!(
            events.contains(&(e.0.into(), e.1.into())),
            "{e:?} in {events:?}"
        );
    }
    assert!(
        trail.body["items"][0]["request_id"].as_str().is_some(),
        "{}",
        trail.text
    );
    // And registration wrote its event to the outbox.
    let db = app().db().await;
    let created: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM auth.outbox WHERE event_type = 'user.created' AND data->>'user_id' = $1",
    )
    .bind(uid)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(created, 1);
}

#[tokio::test]
async fn registration_mistakes_are_clear_4xx_and_write_nothing() {
    let http = Http::new();
    let taken = email("taken");
    register(&http, &taken).await;
    for (body, status, code) in [
        (
            json!({"email": "not-an-address", "password": PASSWORD}),
            422,
            "invalid_email",
        ),
        (
            json!({"email": email("short"), "password": "short"}),
            422,
            "weak_password",
        ),
        (json!({"email": email("nopw")}), 422, "invalid_body"),
    ] {
        let r = http.post("/v1/auth/register", body.clone()).await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.text);
    }
    // An address with an account gets the same answer as a new one (nothing to learn about
    // who has an account here); its owner gets a mail instead, and nothing changes.
    let fresh = http
        .post(
            "/v1/auth/register",
            json!({"email": email("new"), "password": PASSWORD}),
        )
        .await;
    let again = http
        .post(
            "/v1/auth/register",
            json!({"email": taken.to_uppercase(), "password": "someone else's password"}),
        )
        .await;
    assert_eq!(
        (again.status, &again.body),
        (fresh.status, &fresh.body),
        "{}",
        again.text
    );
    let db = app().db().await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM auth.users WHERE email ILIKE $1")
        .bind(&taken)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(n, 1);
    eventually(Duration::from_secs(10), "the mail to the owner", || {
        let taken = taken.clone();
        async move {
            crate::checkout_support::mails_to(&taken)
                .await
                .into_iter()
                .find(|(subject, _)| subject.contains("Someone tried to sign up"))
        }
    })
    .await;
    assert_eq!(
        login(&http, &taken, PASSWORD).await.status,
        200,
        "the password is unchanged"
    );
}

#[tokio::test]
async fn expired_tampered_unknown_key_and_unsigned_tokens_are_refused() {
    let http = Http::new();
    let email = email("tok");
    register(&http, &email).await;
    let r = login(&http, &email, PASSWORD).await;
    let good = r.body["access_token"].as_str().unwrap().to_string();
    let kid = kid(&good);
    let mut c = claims(&good);
    assert_eq!(http.with_token(&good).get("/v1/me").await.status, 200);

    // Expired, though signed with the real key.
    let now = chrono::Utc::now().timestamp();
    c["iat"] = json!(now - 7_200);
    c["exp"] = json!(now - 3_600);
    let expired = forge(&kid, &c).await;
    let r = http.with_token(&expired).get("/v1/me").await;
    assert_eq!((r.status, r.code()), (401, "token_expired"), "{}", r.text);

    // A payload changed after signing (more roles).
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let mut body = claims(&good);
    body["roles"] = json!(["customer", "super_admin"]);
    parts[1] = URL_SAFE_NO_PAD.encode(body.to_string());
    let tampered = parts.join(".");
    // A key id nobody published.
    let mut c2 = claims(&good);
    c2["jti"] = json!("other");
    let pem_token = forge(&kid, &c2).await;
    let mut h: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(pem_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    h["kid"] = json!("no-such-key");
    let wrong_kid = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(h.to_string()),
        pem_token.split_once('.').unwrap().1
    );
    // No signature at all.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": kid}).to_string()),
        good.split('.').nth(1).unwrap()
    );
    // HMAC with the public key as the secret (algorithm confusion).
    let jwks = http.get("/.well-known/jwks.json").await;
    let hs = jsonwebtoken::encode(
        &Header {
            kid: Some(kid.clone()),
            ..Header::new(Algorithm::HS256)
        },
        &claims(&good),
        &EncodingKey::from_secret(jwks.text.as_bytes()),
    )
    .unwrap();
    // Signed with the real key, but dated in the future, or not valid before an hour from now.
    let mut future = claims(&good);
    future["iat"] = json!(now + 3_600);
    future["exp"] = json!(now + 7_200);
    let future = forge(&kid, &future).await;
    let mut later = claims(&good);
    later["nbf"] = json!(now + 3_600);
    let later = forge(&kid, &later).await;
    for (name, token) in [
        ("issued in the future", future),
        ("not valid yet", later),
        ("tampered", tampered),
        ("wrong kid", wrong_kid),
        ("alg none", none),
        ("hs256", hs),
        ("garbage", "a.b.c".to_string()),
    ] {
        let r = http.with_token(&token).get("/v1/me").await;
        assert_eq!(
            (r.status, r.code()),
            (401, "invalid_token"),
            "{name}: {}",
            r.text
        );
        assert_eq!(r.headers["www-authenticate"], "Bearer realm=\"souk\"");
    }
}

#[tokio::test]
async fn rotating_the_signing_key_signs_nobody_out() {
    let http = Http::new();
    let email = email("rot");
    register(&http, &email).await;
    let before = login(&http, &email, PASSWORD).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // Only super admins rotate.
    let customer = http.with_token(&before);
    let r = customer
        .post("/v1/admin/auth/signing-keys/rotate", json!({}))
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));

    let ops = Http::new().with_token(admin_token());
    let r = ops
        .post("/v1/admin/auth/signing-keys/rotate", json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new_kid = r.body["kid"].as_str().unwrap().to_string();
    assert!(
        r.body["retired_kids"]
            .as_array()
            .unwrap()
            .contains(&json!(kid(&before)))
    );

    // The old token still works; new tokens carry the new kid; both keys are published.
    assert_eq!(customer.get("/v1/me").await.status, 200);
    let after = login(&http, &email, PASSWORD).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(kid(&after), new_kid);
    assert_eq!(http.with_token(&after).get("/v1/me").await.status, 200);
    let jwks = http.get("/.well-known/jwks.json").await;
    let kids: Vec<&str> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&new_kid.as_str()) && kids.contains(&kid(&before).as_str()));
    assert_eq!(jwks.body["keys"][0]["alg"], "RS256");
    assert!(jwks.body["keys"][0].get("d").is_none(), "no private parts");
}

#[tokio::test]
async fn repeated_failures_lock_the_address_and_unknown_addresses_look_the_same() {
    let http = Http::new();
    let known = email("lock");
    register(&http, &known).await;
    let unknown = email("ghost");
    let threshold: i32 = app().config.get("auth.lockout_threshold").unwrap();
    let mut answers = Vec::new();
    for address in [&known, &unknown] {
        let mut seen = Vec::new();
        for _ in 0..threshold - 1 {
            let r = login(&http, address, "wrong password 123").await;
            seen.push((
                r.status,
                r.code().to_string(),
                r.body["error"]["message"].clone(),
            ));
        }
        let r = login(&http, address, "wrong password 123").await;
        assert_eq!((r.status, r.code()), (423, "account_locked"), "{}", r.text);
        let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry > 0);
        answers.push(seen);
    }
    // A wrong password and an unknown address get exactly the same answers.
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0][0].0, 401);
    assert_eq!(answers[0][0].1, "invalid_credentials");
    // Locked even with the right password.
    let r = login(&http, &known, PASSWORD).await;
    assert_eq!((r.status, r.code()), (423, "account_locked"));
    // The lockout is audited.
    let ops = Http::new().with_token(admin_token());
    eventually(
        Duration::from_secs(5),
        "the lockout in the audit trail",
        || {
            let ops = ops.clone();
            let known = known.clone();
            async move {
                let r = ops.get("/v1/admin/audit?event=lockout&limit=200").await;
                r.body["items"]
                    .as_array()?
                    .iter()
                    .any(|e| e["email"] == known.as_str())
                    .then_some(())
            }
        },
    )
    .await;
    // The owner is told, with a link that lifts the lock once.
    let body = eventually(Duration::from_secs(10), "the lockout mail", || {
        let known = known.clone();
        async move {
            crate::checkout_support::mails_to(&known)
                .await
                .into_iter()
                .find(|(subject, _)| subject.contains("sign-in was locked"))
                .map(|(_, body)| body)
        }
    })
    .await;
    let token = body
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 43 && !l.contains(' '))
        .expect("the unlock code in the mail")
        .to_string();
    let r = http.post("/v1/auth/unlock", json!({"token": token})).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = http.post("/v1/auth/unlock", json!({"token": token})).await;
    assert_eq!((r.status, r.code()), (422, "invalid_unlock_token"));
    assert_eq!(login(&http, &known, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn back_office_routes_need_an_operator_and_refusals_are_audited() {
    let http = Http::new();
    let email = email("cust");
    let user = register(&http, &email).await;
    let customer = Http::login(&email, PASSWORD).await;
    let r = customer.get("/v1/admin/inventory/alerts").await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    let r = http.get("/v1/admin/inventory/alerts").await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    let ops = Http::new().with_token(admin_token());
    assert_eq!(ops.get("/v1/admin/inventory/alerts").await.status, 200);
    let uid = user["id"].as_str().unwrap().to_string();
    eventually(
        Duration::from_secs(5),
        "the refusal in the audit trail",
        || {
            let ops = ops.clone();
            let uid = uid.clone();
            async move {
                let r = ops
                    .get(&format!(
                        "/v1/admin/audit?user_id={uid}&event=authorization"
                    ))
                    .await;
                let e = r.body["items"].as_array()?.first()?.clone();
                (e["outcome"] == "denied" && e["details"]["path"] == "/v1/admin/inventory/alerts")
                    .then_some(())
            }
        },
    )
    .await;

    // Roles: a super admin grants vendor_admin with a vendor; it shows in the next token.
    let vendor = uuid::Uuid::new_v4().to_string();
    let r = ops
        .post(
            &format!("/v1/admin/users/{uid}/roles"),
            json!({"role": "vendor_admin"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "vendor_required"));
    let r = ops
        .post(
            &format!("/v1/admin/users/{uid}/roles"),
            json!({"role": "vendor_admin", "vendor_id": vendor}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let t = login(&http, &email, PASSWORD).await;
    let c = claims(t.body["access_token"].as_str().unwrap());
    assert_eq!(c["roles"], json!(["customer", "vendor_admin"]));
    assert_eq!(c["vendor_id"], vendor.as_str());
    // The change took effect at once: the token from before it is refused.
    let r = customer.get("/v1/me").await;
    assert_eq!((r.status, r.code()), (401, "token_revoked"), "{}", r.text);
    // A customer cannot grant roles.
    let customer = http.with_token(t.body["access_token"].as_str().unwrap());
    let r = customer
        .post(
            &format!("/v1/admin/users/{uid}/roles"),
            json!({"role": "super_admin"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));
}

#[tokio::test]
async fn a_forgotten_password_is_reset_with_the_mailed_token() {
    let http = Http::new();
    let email = email("reset");
    register(&http, &email).await;
    let session = login(&http, &email, PASSWORD).await;
    let refresh = session.body["refresh_token"].as_str().unwrap().to_string();

    let r = http
        .post(
            "/v1/auth/forgot-password",
            json!({"email": email.to_uppercase()}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    // An unknown address gets the same answer.
    let ghost = self::email("ghost");
    let r2 = http
        .post("/v1/auth/forgot-password", json!({"email": ghost}))
        .await;
    assert_eq!((r2.status, r2.text.clone()), (r.status, r.text.clone()));

    // The mail goes through the notifications domain to the mail server.
    let body = eventually(Duration::from_secs(10), "the reset mail", || {
        let email = email.clone();
        async move {
            crate::checkout_support::mails_to(&email)
                .await
                .into_iter()
                .find(|(subject, _)| subject.contains("Reset your Souk password"))
                .map(|(_, body)| body)
        }
    })
    .await;
    assert!(crate::checkout_support::mails_to(&ghost).await.is_empty());
    let token = body
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 43 && !l.contains(' '))
        .expect("the token in the mail")
        .to_string();
    assert!(body.contains(&format!("token={token}")), "{body}");
    // Nobody reading the notifications log can use it: the stored copy has no token.
    let db = app().db().await;
    let stored: String = sqlx::query_scalar(
        "SELECT body FROM notifications.messages WHERE template = 'password_reset' AND recipient = $1",
    )
    .bind(&email)
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(!stored.contains(&token), "{stored}");
    assert!(stored.contains("[redacted]"), "{stored}");

    let r = http
        .post(
            "/v1/auth/reset-password",
            json!({"token": token, "new_password": "short"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "weak_password"));
    let r = http
        .post(
            "/v1/auth/reset-password",
            json!({"token": token, "new_password": "a brand new password"}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = http
        .post(
            "/v1/auth/reset-password",
            json!({"token": token, "new_password": "yet another password"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_reset_token"));
    assert_eq!(login(&http, &email, PASSWORD).await.status, 401);
    assert_eq!(
        login(&http, &email, "a brand new password").await.status,
        200
    );
    let r = http
        .post("/v1/auth/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (401, "invalid_refresh_token"),
        "signed out everywhere"
    );
}

#[tokio::test]
async fn a_totp_second_factor_guards_sign_in_and_recovery_codes_work_once() {
    let http = Http::new();
    let email = email("mfa");
    register(&http, &email).await;
    let token = login(&http, &email, PASSWORD).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let me = http.with_token(&token);
    let r = me
        .post("/v1/me/mfa/totp", json!({"password": "not the password"}))
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_password"));
    let r = me
        .post("/v1/me/mfa/totp", json!({"password": PASSWORD}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["cache-control"], "no-store");
    let url = r.body["otpauth_url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/Souk:"), "{url}");
    let secret = souk_auth::mfa::from_base32(r.body["secret"].as_str().unwrap()).unwrap();
    let r = me
        .post("/v1/me/mfa/totp/confirm", json!({"code": "000000"}))
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_mfa_code"));
    let r = me
        .post(
            "/v1/me/mfa/totp/confirm",
            json!({"code": souk_tests::totp_code(&secret, &email, 0)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let recovery: Vec<String> = r.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    assert_eq!(me.get("/v1/me").await.body["mfa_enabled"], true);

    let with = |extra: Value| {
        let mut body = json!({"email": email, "password": PASSWORD});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let http = http.clone();
        async move { http.post("/v1/auth/login", body).await }
    };
    let r = with(json!({})).await;
    assert_eq!((r.status, r.code()), (401, "mfa_required"));
    let r = with(json!({"totp_code": "123456"})).await;
    assert_eq!((r.status, r.code()), (401, "invalid_mfa_code"));
    let code = souk_tests::totp_code(&secret, &email, 30);
    let r = with(json!({"totp_code": code})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let amr = claims(r.body["access_token"].as_str().unwrap())["amr"].clone();
    assert_eq!(amr, json!(["pwd", "otp", "mfa"]));
    // A code works once.
    let r = with(json!({"totp_code": code})).await;
    assert_eq!((r.status, r.code()), (401, "invalid_mfa_code"));
    // So does a recovery code, written any way.
    let rc = recovery[0].to_uppercase();
    let r = with(json!({"recovery_code": rc})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = with(json!({"recovery_code": rc})).await;
    assert_eq!((r.status, r.code()), (401, "invalid_mfa_code"));

    // Turning it off needs a code; then the password alone works again.
    let r = me
        .post(
            "/v1/me/mfa/totp/disable",
            json!({"password": PASSWORD, "totp_code": "000000"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_mfa_code"));
    let r = me
        .post(
            "/v1/me/mfa/totp/disable",
            json!({"password": "wrong password 1", "recovery_code": recovery[1]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_password"));
    let r = me
        .post(
            "/v1/me/mfa/totp/disable",
            json!({"password": PASSWORD, "recovery_code": recovery[1]}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(login(&http, &email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn staff_reach_the_back_office_only_with_a_second_factor() {
    let (email, staff) = souk_tests::account(&["staff"], None).await;
    let r = staff.get("/v1/admin/inventory/alerts").await;
    assert_eq!((r.status, r.code()), (403, "mfa_required"), "{}", r.text);
    let client = reqwest::Client::new();
    let (secret, recovery) =
        souk_tests::enroll_totp(&client, &app().api, staff.token().unwrap(), &email)
            .await
            .unwrap();
    let code = souk_tests::totp_code(&secret, &email, 30);
    let token = souk_tests::sign_in(&client, &app().api, &email, Some(&code))
        .await
        .unwrap();
    let staff = Http::new().with_token(&token);
    assert_eq!(staff.get("/v1/admin/inventory/alerts").await.status, 200);
    // And they cannot turn it off.
    let r = staff
        .post(
            "/v1/me/mfa/totp/disable",
            json!({"password": PASSWORD, "recovery_code": recovery[0]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "mfa_required_for_role"));
}
