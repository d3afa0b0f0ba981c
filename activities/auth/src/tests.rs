//! Accounts, sign-in, refresh-token rotation and theft detection, lockout, key rotation and
//! the audit trail, against a real database.

use std::sync::Arc;

use chrono::Duration;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use souk_domain::identity::{AccessClaims, Role};
use sqlx::PgPool;

use super::crypto::Sealer;
use super::keys::Keys;
use super::password::{Cost, Hasher};
use super::service::{AuthService, Error, Meta, Settings, Tokens};
use souk_kit::testing::{racing, test_schema};

const PASSWORD: &str = "correct horse battery";

/// Records the reset mails and other account mails it is asked to send.
#[derive(Default)]
struct Outbox(
    std::sync::Mutex<Vec<super::notify::ResetMail>>,
    std::sync::Mutex<Vec<super::notify::AccountMail>>,
);

#[tonic::async_trait]
impl super::notify::Notifier for Outbox {
    async fn password_reset(
        &self,
        _ctx: &souk_kit::Ctx,
        mail: &super::notify::ResetMail,
    ) -> anyhow::Result<()> {
        self.0.lock().unwrap().push(mail.clone());
        Ok(())
    }

    async fn account_mail(
        &self,
        _ctx: &souk_kit::Ctx,
        mail: &super::notify::AccountMail,
    ) -> anyhow::Result<()> {
        self.1.lock().unwrap().push(mail.clone());
        Ok(())
    }
}

/// Records the revocations it is asked to publish (the e2e tests check them in Redis).
#[derive(Default)]
struct Revoked(std::sync::Mutex<Vec<String>>);

#[tonic::async_trait]
impl super::revocation::Revocations for Revoked {
    async fn revoke_user(&self, user_id: &str, watermark: i64) -> anyhow::Result<()> {
        self.0
            .lock()
            .unwrap()
            .push(format!("user:{user_id}:{watermark}"));
        Ok(())
    }
    async fn revoke_session(&self, sid: &str) -> anyhow::Result<()> {
        self.0.lock().unwrap().push(format!("session:{sid}"));
        Ok(())
    }
}

/// The reset mails once `n` were handed over (they are sent in the background).
async fn sent(outbox: &Outbox, n: usize) -> Vec<super::notify::ResetMail> {
    for _ in 0..200 {
        let mails = outbox.0.lock().unwrap().clone();
        if mails.len() >= n {
            assert_eq!(mails.len(), n, "no more mails than requests");
            return mails;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{n} reset mails were not sent");
}

async fn service(pool: &PgPool) -> AuthService {
    service_with(pool, std::sync::Arc::new(Outbox::default())).await
}

async fn service_with(pool: &PgPool, notifier: std::sync::Arc<Outbox>) -> AuthService {
    service_full(pool, notifier, std::sync::Arc::new(Revoked::default())).await
}

async fn service_full(
    pool: &PgPool,
    notifier: std::sync::Arc<Outbox>,
    revocations: std::sync::Arc<dyn super::revocation::Revocations>,
) -> AuthService {
    test_schema(pool, &crate::SCHEMA).await;
    let svc = service_on(pool.clone(), notifier, revocations);
    svc.keys().ensure().await.unwrap();
    svc
}

/// The service on `pool`, whose database has the schema and a signing key already (a pool of
/// [`racing`] on the database of a [`service`]).
fn service_on(
    pool: PgPool,
    notifier: std::sync::Arc<Outbox>,
    revocations: std::sync::Arc<dyn super::revocation::Revocations>,
) -> AuthService {
    let keys = Keys::new(pool.clone(), Sealer::new("test-kek"));
    let hasher = Hasher::new(Cost {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    })
    .unwrap();
    let settings = Settings {
        issuer: "souk-test".into(),
        audience: "souk-api".into(),
        access_ttl: Duration::minutes(15),
        refresh_ttl: Duration::days(30),
        lockout_threshold: 3,
        lockout_address_threshold: 5,
        lockout_window: Duration::minutes(15),
        lockout_duration: Duration::minutes(15),
        reset_ttl: Duration::minutes(30),
        reset_link: "https://shop.test/reset?token={token}".into(),
        unlock_link: "https://shop.test/unlock?token={token}".into(),
    };
    AuthService::new(pool, settings, keys, hasher, notifier, revocations)
}

/// Redis away: every publish fails.
struct Unreachable;

#[tonic::async_trait]
impl super::revocation::Revocations for Unreachable {
    async fn revoke_user(&self, _: &str, _: i64) -> anyhow::Result<()> {
        anyhow::bail!("connection refused")
    }
    async fn revoke_session(&self, _: &str) -> anyhow::Result<()> {
        anyhow::bail!("connection refused")
    }
}

fn meta() -> Meta {
    let mut m = Meta::system("anonymous");
    m.ip = Some("192.0.2.7".into());
    m
}

/// Verifies an access token with the published JWK set, as the API does.
async fn verify(svc: &AuthService, token: &str) -> AccessClaims {
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let jwks = svc.keys().jwks().await.unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the token's key is published");
    let dk =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&["souk-test"]);
    v.set_audience(&["souk-api"]);
    jsonwebtoken::decode::<AccessClaims>(token, &dk, &v)
        .unwrap()
        .claims
}

async fn events(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as("SELECT event, outcome FROM auth.audit_log ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn register_login_refresh_reuse_and_logout(pool: PgPool) {
    let svc = service(&pool).await;
    let user = svc
        .register(&meta(), " Ann@Example.com ", PASSWORD)
        .await
        .unwrap();
    assert_eq!(user.email, "Ann@example.com");
    assert_eq!(user.roles, vec![Role::Customer]);
    let outbox: (String, serde_json::Value) =
        sqlx::query_as("SELECT event_type, data FROM auth.outbox")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(outbox.0, "user.created");
    assert_eq!(outbox.1["user_id"], user.id.to_string());
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM auth.users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$") && !stored.contains(PASSWORD));

    // Case-insensitive addresses: the same person cannot register twice (the second try
    // answers the account there is, and creates nothing).
    let again = svc
        .register(&meta(), "ann@example.COM", PASSWORD)
        .await
        .unwrap();
    assert_eq!(again.id, user.id);
    assert!(matches!(
        svc.create_user(
            &meta(),
            "ann@example.COM",
            PASSWORD,
            &[Role::Customer],
            None
        )
        .await,
        Err(Error::EmailTaken)
    ));

    let first = svc
        .login(&meta(), "ANN@example.com", PASSWORD)
        .await
        .unwrap();
    let claims = verify(&svc, &first.access_token).await;
    assert_eq!(claims.sub, user.id.to_string());
    assert_eq!(claims.roles, vec![Role::Customer]);
    assert_eq!(claims.exp - claims.iat, 15 * 60);
    assert_eq!(claims.amr, vec!["pwd"]);

    let second = svc.refresh(&meta(), &first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token, "rotated on use");
    assert_ne!(verify(&svc, &second.access_token).await.jti, claims.jti);
    // The first token again: stolen. The whole family goes, including the newest token.
    assert!(matches!(
        svc.refresh(&meta(), &first.refresh_token).await,
        Err(Error::RefreshTokenReused)
    ));
    assert!(matches!(
        svc.refresh(&meta(), &second.refresh_token).await,
        Err(Error::InvalidRefreshToken)
    ));

    // A new sign-in is a new family; logout ends it.
    let third = svc
        .login(&meta(), "ann@example.com", PASSWORD)
        .await
        .unwrap();
    svc.logout(&meta(), &third.refresh_token).await.unwrap();
    assert!(matches!(
        svc.refresh(&meta(), &third.refresh_token).await,
        Err(Error::InvalidRefreshToken)
    ));
    assert!(matches!(
        svc.refresh(&meta(), "not-a-token").await,
        Err(Error::InvalidRefreshToken)
    ));

    let trail = events(&pool).await;
    for expected in [
        ("user_registered", "ok"),
        ("login", "ok"),
        ("token_refresh", "ok"),
        ("refresh_token_reuse", "denied"),
        ("logout", "ok"),
    ] {
        assert!(
            trail.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} in {trail:?}"
        );
    }
    let ip: Option<String> =
        sqlx::query_scalar("SELECT ip FROM auth.audit_log WHERE event = 'login' LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(ip.as_deref(), Some("192.0.2.7"));
}

#[sqlx::test(migrations = false)]
async fn repeated_failures_lock_known_and_unknown_addresses_alike(pool: PgPool) {
    let svc = service(&pool).await;
    svc.register(&meta(), "bo@example.com", PASSWORD)
        .await
        .unwrap();
    for email in ["bo@example.com", "nobody@example.com"] {
        for _ in 0..2 {
            assert!(matches!(
                svc.login(&meta(), email, "wrong password!").await,
                Err(Error::InvalidCredentials)
            ));
        }
        // The third failure locks, for a known and an unknown address alike.
        assert!(matches!(
            svc.login(&meta(), email, "wrong password!").await,
            Err(Error::Locked { retry_after_seconds }) if retry_after_seconds == 900
        ));
    }
    // Locked means locked, even with the right password.
    assert!(matches!(
        svc.login(&meta(), "BO@example.com", PASSWORD).await,
        Err(Error::Locked { .. })
    ));
    // Once the lock has passed, the right password works and clears the count.
    sqlx::query("UPDATE auth.login_attempts SET locked_until = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    svc.login(&meta(), "bo@example.com", PASSWORD)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM auth.login_attempts WHERE email_key = 'bo@example.com'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(left, 0);
    let lockouts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM auth.audit_log WHERE event = 'lockout'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(lockouts, 2);
}

#[sqlx::test(migrations = false)]
async fn rotation_keeps_old_tokens_verifiable_and_signs_with_the_new_key(pool: PgPool) {
    let svc = service(&pool).await;
    svc.register(&meta(), "cy@example.com", PASSWORD)
        .await
        .unwrap();
    let before = svc
        .login(&meta(), "cy@example.com", PASSWORD)
        .await
        .unwrap();
    let rotated = svc.rotate_keys(&Meta::system("user:ops")).await.unwrap();
    assert_eq!(rotated.retired, vec![before.kid.clone()]);
    let after = svc.refresh(&meta(), &before.refresh_token).await.unwrap();
    assert_eq!(after.kid, rotated.kid);
    assert_ne!(after.kid, before.kid);
    // Both verify against the published set: nobody is logged out.
    verify(&svc, &before.access_token).await;
    verify(&svc, &after.access_token).await;
    let published: Vec<String> = svc.keys().jwks().await.unwrap()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(published, vec![rotated.kid.clone(), before.kid.clone()]);
    // Once the old key's tokens have all expired, it is no longer published.
    sqlx::query("UPDATE auth.signing_keys SET verify_until = now() WHERE kid = $1")
        .bind(&before.kid)
        .execute(&pool)
        .await
        .unwrap();
    let published = svc.keys().jwks().await.unwrap();
    assert_eq!(published["keys"].as_array().unwrap().len(), 1);
    // Private keys are stored sealed, never as plain PEM.
    let stored: Vec<String> = sqlx::query_scalar("SELECT private_key_pem FROM auth.signing_keys")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .all(|p| p.starts_with("v1:") && !p.contains("PRIVATE KEY"))
    );
    assert!(
        events(&pool)
            .await
            .contains(&("key_rotation".to_string(), "ok".to_string()))
    );
}

#[sqlx::test(migrations = false)]
async fn roles_are_granted_with_their_vendor_and_audited(pool: PgPool) {
    let svc = service(&pool).await;
    let u = svc
        .register(&meta(), "di@example.com", PASSWORD)
        .await
        .unwrap();
    let ops = Meta::system("user:root");
    assert!(matches!(
        svc.grant_role(&ops, u.id, "vendor_admin", None).await,
        Err(Error::VendorRequired)
    ));
    assert!(matches!(
        svc.grant_role(&ops, u.id, "emperor", None).await,
        Err(Error::UnknownRole(_))
    ));
    let vendor = uuid::Uuid::new_v4();
    let u = svc
        .grant_role(&ops, u.id, "vendor_admin", Some(vendor))
        .await
        .unwrap();
    assert_eq!(u.roles, vec![Role::Customer, Role::VendorAdmin]);
    assert_eq!(u.vendor_id, Some(vendor));
    let t = svc
        .login(&meta(), "di@example.com", PASSWORD)
        .await
        .unwrap();
    assert_eq!(
        verify(&svc, &t.access_token).await.vendor_id,
        Some(vendor.to_string())
    );
    let u = svc.revoke_role(&ops, u.id, "vendor_admin").await.unwrap();
    assert_eq!((u.roles, u.vendor_id), (vec![Role::Customer], None));
    let actors: Vec<String> = sqlx::query_scalar(
        "SELECT actor FROM auth.audit_log WHERE event IN ('role_granted', 'role_revoked')",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(actors, vec!["user:root", "user:root"]);
}

#[sqlx::test(migrations = false)]
async fn the_audit_trail_is_append_only(pool: PgPool) {
    let svc = service(&pool).await;
    svc.record(
        &meta(),
        "authorization",
        "denied",
        None,
        serde_json::json!({"path": "/v1/admin/x"}),
    )
    .await
    .unwrap();
    assert!(matches!(
        svc.record(&meta(), "Bad Event", "denied", None, serde_json::json!({}))
            .await,
        Err(Error::InvalidAudit(_))
    ));
    for sql in [
        "UPDATE auth.audit_log SET outcome = 'ok'",
        "DELETE FROM auth.audit_log",
        "TRUNCATE auth.audit_log",
    ] {
        let err = sqlx::query(sql).execute(&pool).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    let page = svc
        .audit_log(None, Some("authorization"), None, 10)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].details["path"], "/v1/admin/x");
}

#[sqlx::test(migrations = false)]
async fn a_mailed_token_resets_the_password_once_and_ends_every_sign_in(pool: PgPool) {
    let outbox = std::sync::Arc::new(Outbox::default());
    let svc = service_with(&pool, outbox.clone()).await;
    svc.register(&meta(), "ed@example.com", PASSWORD)
        .await
        .unwrap();
    let session = svc
        .login(&meta(), "ed@example.com", PASSWORD)
        .await
        .unwrap();
    // Unknown addresses get the same (empty) answer, and no mail.
    svc.forgot_password(&meta(), "nobody@example.com")
        .await
        .unwrap();
    assert!(outbox.0.lock().unwrap().is_empty());
    svc.forgot_password(&meta(), "ED@example.com")
        .await
        .unwrap();
    sent(&outbox, 1).await;
    svc.forgot_password(&meta(), "ed@example.com")
        .await
        .unwrap();
    let mails = sent(&outbox, 2).await;
    let (old, new) = (&mails[0], &mails[1]);
    assert_eq!(new.to, "ed@example.com");
    assert_eq!(
        new.link,
        format!("https://shop.test/reset?token={}", new.token)
    );
    assert_eq!(new.expires_minutes, 30);
    assert_ne!(old.key, new.key);
    // Only the newest token works; a weak password is refused without using it up.
    assert!(matches!(
        svc.reset_password(&meta(), &old.token, "a new password 1")
            .await,
        Err(Error::InvalidResetToken)
    ));
    assert!(matches!(
        svc.reset_password(&meta(), &new.token, "short").await,
        Err(Error::WeakPassword(_))
    ));
    svc.reset_password(&meta(), &new.token, "a new password 1")
        .await
        .unwrap();
    assert!(matches!(
        svc.reset_password(&meta(), &new.token, "a newer password 2")
            .await,
        Err(Error::InvalidResetToken)
    ));
    assert!(matches!(
        svc.login(&meta(), "ed@example.com", PASSWORD).await,
        Err(Error::InvalidCredentials)
    ));
    svc.login(&meta(), "ed@example.com", "a new password 1")
        .await
        .unwrap();
    assert!(matches!(
        svc.refresh(&meta(), &session.refresh_token).await,
        Err(Error::InvalidRefreshToken)
    ));
    // An expired token does not work either.
    svc.forgot_password(&meta(), "ed@example.com")
        .await
        .unwrap();
    let last = sent(&outbox, 3).await.pop().unwrap();
    sqlx::query("UPDATE auth.password_resets SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
        .execute(&pool)
        .await
        .unwrap();
    assert!(matches!(
        svc.reset_password(&meta(), &last.token, "a third password 3")
            .await,
        Err(Error::InvalidResetToken)
    ));
}

#[sqlx::test(migrations = false)]
async fn totp_sign_in_accepts_each_step_once(pool: PgPool) {
    use super::mfa;
    use super::service::SecondFactor;
    let svc = service(&pool).await;
    let u = svc
        .register(&meta(), "fi@example.com", PASSWORD)
        .await
        .unwrap();
    assert!(matches!(
        svc.enroll_totp(&meta(), u.id, "not the password").await,
        Err(Error::InvalidCredentials)
    ));
    let (_url, b32) = svc.enroll_totp(&meta(), u.id, PASSWORD).await.unwrap();
    let secret = mfa::from_base32(&b32).unwrap();
    let now = chrono::Utc::now();
    let codes = svc
        .confirm_totp(
            &meta(),
            u.id,
            &mfa::code_at(&secret, "fi@example.com", now).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    assert!(matches!(
        svc.login(&meta(), "fi@example.com", PASSWORD).await,
        Err(Error::MfaRequired)
    ));
    let next = mfa::code_at(&secret, "fi@example.com", now + Duration::seconds(30)).unwrap();
    let t = svc
        .login_with(
            &meta(),
            "fi@example.com",
            PASSWORD,
            &SecondFactor::Totp(next.clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        verify(&svc, &t.access_token).await.amr,
        vec!["pwd", "otp", "mfa"]
    );
    assert!(matches!(
        svc.login_with(
            &meta(),
            "fi@example.com",
            PASSWORD,
            &SecondFactor::Totp(next)
        )
        .await,
        Err(Error::InvalidMfaCode)
    ));
}

#[sqlx::test(migrations = false)]
async fn tokens_after_a_revocation_outlive_it_and_live_revocations_are_published_again(
    pool: PgPool,
) {
    let svc = service(&pool).await;
    let user = svc
        .create_user(&meta(), "ops@example.com", PASSWORD, &[Role::Staff], None)
        .await
        .unwrap();
    let before = svc
        .login(&meta(), "ops@example.com", PASSWORD)
        .await
        .unwrap();
    let revoked = svc
        .revoke_role(&Meta::system("user:boss"), user.id, "staff")
        .await
        .unwrap();
    assert!(revoked.roles.is_empty());
    let watermark: i64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM tokens_valid_after)::bigint FROM auth.users WHERE id = $1",
    )
    .bind(user.id)
    .fetch_one(&pool)
    .await
    .unwrap();
    let old = verify(&svc, &before.access_token).await;
    assert!(souk_domain::identity::revoked_by_watermark(
        old.iat,
        Some(watermark)
    ));
    // A sign-in right after, in the same second, is dated so that it survives.
    let after = svc.refresh(&meta(), &before.refresh_token).await.unwrap();
    let new = verify(&svc, &after.access_token).await;
    assert!(!souk_domain::identity::revoked_by_watermark(
        new.iat,
        Some(watermark)
    ));
    assert!(
        new.roles.is_empty(),
        "the new token has the roles as they are"
    );
    assert_eq!(new.sid, old.sid, "the same sign-in");
    svc.logout(&meta(), &after.refresh_token).await.unwrap();

    // Redis lost everything: what can still matter is written again from Postgres.
    let again = Revoked::default();
    let n = super::revocation::republish(&pool, &again, Duration::minutes(15))
        .await
        .unwrap();
    let published = again.0.lock().unwrap().clone();
    assert_eq!(n, 2, "{published:?}");
    assert!(published.contains(&format!("user:{}:{watermark}", user.id)));
    assert!(published.contains(&format!("session:{}", new.sid.unwrap())));
}

#[sqlx::test(migrations = false)]
async fn one_source_cannot_lock_the_owner_out_and_the_owner_can_unlock_by_mail(pool: PgPool) {
    let outbox = std::sync::Arc::new(Outbox::default());
    let svc = service_with(&pool, outbox.clone()).await;
    svc.register(&meta(), "di@example.com", PASSWORD)
        .await
        .unwrap();
    let from = |ip: &str| {
        let mut m = meta();
        m.ip = Some(ip.into());
        m
    };
    // An attacker at one address locks only that address out.
    for _ in 0..3 {
        let r = svc
            .login(&from("198.51.100.1"), "di@example.com", "wrong password!")
            .await;
        assert!(
            matches!(r, Err(Error::InvalidCredentials | Error::Locked { .. })),
            "{r:?}"
        );
    }
    assert!(matches!(
        svc.login(&from("198.51.100.1"), "di@example.com", PASSWORD)
            .await,
        Err(Error::Locked { .. })
    ));
    svc.login(&from("203.0.113.9"), "di@example.com", PASSWORD)
        .await
        .expect("the owner, elsewhere, signs in");
    // Many addresses together lock the account for everyone (5 here)...
    for i in 0..5 {
        let r = svc
            .login(
                &from(&format!("198.51.100.{}", 10 + i)),
                "di@example.com",
                "wrong password!",
            )
            .await;
        assert!(
            matches!(r, Err(Error::InvalidCredentials | Error::Locked { .. })),
            "{r:?}"
        );
    }
    assert!(matches!(
        svc.login(&from("203.0.113.9"), "di@example.com", PASSWORD)
            .await,
        Err(Error::Locked { .. })
    ));
    // ...and each lock mails the owner an unlock link, which lifts it once.
    let mails = loop {
        let m = outbox.1.lock().unwrap().clone();
        if m.iter().filter(|m| m.template == "account_locked").count() >= 2 {
            break m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    let locked = mails
        .iter()
        .rfind(|m| m.template == "account_locked")
        .unwrap();
    assert_eq!(locked.to, "di@example.com");
    let token = locked
        .secrets
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.clone())
        .unwrap();
    svc.unlock(&meta(), &token).await.unwrap();
    assert!(matches!(
        svc.unlock(&meta(), &token).await,
        Err(Error::InvalidUnlockToken)
    ));
    svc.login(&from("203.0.113.9"), "di@example.com", PASSWORD)
        .await
        .expect("unlocked");
}

#[sqlx::test(migrations = false)]
async fn a_right_password_without_the_second_factor_counts_towards_the_lockout(pool: PgPool) {
    let svc = service(&pool).await;
    let user = svc
        .register(&meta(), "ed@example.com", PASSWORD)
        .await
        .unwrap();
    let secret = super::mfa::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").unwrap();
    svc.provision_totp(&Meta::system("test"), user.id, &secret)
        .await
        .unwrap();
    for _ in 0..2 {
        assert!(matches!(
            svc.login(&meta(), "ed@example.com", PASSWORD).await,
            Err(Error::MfaRequired)
        ));
    }
    assert!(matches!(
        svc.login(&meta(), "ed@example.com", PASSWORD).await,
        Err(Error::Locked { .. })
    ));
}

#[sqlx::test(migrations = false)]
async fn signing_up_with_an_address_that_has_an_account_looks_the_same_and_mails_the_owner(
    pool: PgPool,
) {
    let outbox = std::sync::Arc::new(Outbox::default());
    let svc = service_with(&pool, outbox.clone()).await;
    let first = svc
        .register(&meta(), "fa@example.com", PASSWORD)
        .await
        .unwrap();
    let again = svc
        .register(&meta(), "FA@example.com", "another password entirely")
        .await
        .unwrap();
    assert_eq!(first.id, again.id, "no second account, no error");
    let mails = loop {
        let m = outbox.1.lock().unwrap().clone();
        if m.len() >= 2 {
            break m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    let templates: Vec<&str> = mails.iter().map(|m| m.template).collect();
    assert_eq!(templates, ["welcome", "account_exists"]);
    // The password of the owner is unchanged.
    svc.login(&meta(), "fa@example.com", PASSWORD)
        .await
        .unwrap();
}

#[sqlx::test(migrations = false)]
async fn revocations_never_wait_on_redis_and_are_published_once_it_is_back(pool: PgPool) {
    let svc = service_full(
        &pool,
        std::sync::Arc::new(Outbox::default()),
        std::sync::Arc::new(Unreachable),
    )
    .await;
    let user = svc
        .register(&meta(), "gi@example.com", PASSWORD)
        .await
        .unwrap();
    let first = svc
        .login(&meta(), "gi@example.com", PASSWORD)
        .await
        .unwrap();
    let second = svc.refresh(&meta(), &first.refresh_token).await.unwrap();
    // A stolen refresh token is caught, the sign-out, the block: all done in Postgres.
    assert!(matches!(
        svc.refresh(&meta(), &first.refresh_token).await,
        Err(Error::RefreshTokenReused)
    ));
    assert!(matches!(
        svc.refresh(&meta(), &second.refresh_token).await,
        Err(Error::InvalidRefreshToken)
    ));
    let other = svc
        .login(&meta(), "gi@example.com", PASSWORD)
        .await
        .unwrap();
    svc.logout(&meta(), &other.refresh_token).await.unwrap();
    let blocked = svc
        .set_status(&Meta::system("user:ops"), user.id, "blocked", "fraud")
        .await
        .unwrap();
    assert_eq!(blocked.status, "blocked");
    // Redis is back: the worker's next republish tells the edge all of it.
    let back = Revoked::default();
    super::revocation::republish(&pool, &back, Duration::minutes(15))
        .await
        .unwrap();
    let published = back.0.lock().unwrap().clone();
    assert!(
        published
            .iter()
            .any(|p| p.starts_with(&format!("user:{}:", user.id))),
        "{published:?}"
    );
    assert_eq!(
        published
            .iter()
            .filter(|p| p.starts_with("session:"))
            .count(),
        2,
        "the stolen family and the signed-out one: {published:?}"
    );
}

/// Sign-ins whose refresh token is presented twice at once. Two calls that happen not to
/// overlap prove nothing; among this many pairs some do.
const RACED_SIGN_INS: usize = 8;

#[sqlx::test(migrations = false)]
async fn a_refresh_token_presented_twice_at_once_rotates_once_and_the_reuse_ends_the_sign_in(
    pool: PgPool,
) {
    let svc = service(&pool).await;
    svc.register(&meta(), "ha@example.com", PASSWORD)
        .await
        .unwrap();
    let mut signed_in = Vec::new();
    for _ in 0..RACED_SIGN_INS {
        let t = svc
            .login(&meta(), "ha@example.com", PASSWORD)
            .await
            .unwrap();
        let sid = verify(&svc, &t.access_token).await.sid.unwrap();
        signed_in.push((sid, t.refresh_token));
    }
    let revoked = Arc::new(Revoked::default());
    let outcomes = racing(&pool, 2 * RACED_SIGN_INS as u32, {
        let revoked = revoked.clone();
        let tokens: Vec<String> = signed_in.iter().map(|(_, t)| t.clone()).collect();
        move |pool| async move {
            let svc = Arc::new(service_on(pool, Default::default(), revoked));
            let start = Arc::new(tokio::sync::Barrier::new(2 * tokens.len()));
            let mut tasks = Vec::new();
            for token in tokens {
                for _ in 0..2 {
                    let (svc, start, token) = (svc.clone(), start.clone(), token.clone());
                    tasks.push(tokio::spawn(async move {
                        start.wait().await;
                        svc.refresh(&meta(), &token).await
                    }));
                }
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.expect("a refresh panicked"));
            }
            out
        }
    })
    .await;
    let trail = events(&pool).await;
    for event in ["token_refresh", "refresh_token_reuse"] {
        assert_eq!(
            trail.iter().filter(|(e, _)| e == event).count(),
            RACED_SIGN_INS,
            "{event} once per sign-in: {trail:?}"
        );
    }
    for ((sid, _), pair) in signed_in.iter().zip(outcomes.chunks(2)) {
        let won: Vec<_> = pair.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "one of the two rotates the token: {pair:?}");
        assert!(
            pair.iter()
                .any(|r| matches!(r, Err(Error::RefreshTokenReused))),
            "the other presents a used token: {pair:?}"
        );
        // The reuse came after the rotation: it revoked the token the rotation issued too.
        let family = uuid::Uuid::parse_str(sid).unwrap();
        let (issued, live): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE revoked_at IS NULL)
               FROM auth.refresh_tokens WHERE family_id = $1",
        )
        .bind(family)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((issued, live), (2, 0), "one rotation, then nothing alive");
        assert!(matches!(
            svc.refresh(&meta(), &won[0].refresh_token).await,
            Err(Error::InvalidRefreshToken)
        ));
        assert!(
            revoked
                .0
                .lock()
                .unwrap()
                .contains(&format!("session:{sid}")),
            "the sign-in ends at the edge too"
        );
    }
}

/// Wrong passwords for one address sent at once: well over the lockout threshold.
const RACED_FAILURES: usize = 16;

#[sqlx::test(migrations = false)]
async fn wrong_passwords_sent_at_once_are_answered_invalid_no_more_often_than_the_lockout_allows(
    pool: PgPool,
) {
    let svc = service(&pool).await;
    svc.register(&meta(), "ik@example.com", PASSWORD)
        .await
        .unwrap();
    let threshold = svc.settings().lockout_threshold as usize;
    let outcomes = racing(&pool, RACED_FAILURES as u32, |pool| async move {
        let svc = Arc::new(service_on(
            pool,
            Default::default(),
            Arc::new(Revoked::default()),
        ));
        let start = Arc::new(tokio::sync::Barrier::new(RACED_FAILURES));
        let mut tasks = Vec::new();
        for _ in 0..RACED_FAILURES {
            let (svc, start) = (svc.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                svc.login(&meta(), "ik@example.com", "wrong password!")
                    .await
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("a sign-in panicked"));
        }
        out
    })
    .await;
    let invalid = outcomes
        .iter()
        .filter(|r| matches!(r, Err(Error::InvalidCredentials)))
        .count();
    let locked = outcomes
        .iter()
        .filter(|r| matches!(r, Err(Error::Locked { .. })))
        .count();
    // As one after the other: the failure that reaches the threshold locks, and every
    // later one is answered with the lock.
    assert_eq!(
        (invalid, locked),
        (threshold - 1, RACED_FAILURES - threshold + 1),
        "{outcomes:?}"
    );
    assert!(matches!(
        svc.login(&meta(), "ik@example.com", PASSWORD).await,
        Err(Error::Locked { .. })
    ));
    let locks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM auth.audit_log
          WHERE event = 'lockout' AND details->>'scope' = 'address_and_source'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(locks, 1, "one lock, begun once");
}

/// Waits until `n` sessions on the test database wait for a lock.
async fn until_waiting(pool: &PgPool, n: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting >= n {
            assert_eq!(waiting, n, "only the sign-ins of the test wait");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{n} sign-ins did not queue for the lockout rows"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Two sign-ins for `email`, `first` then `second`, that both pass the lock check before
/// either counts: the test holds the address's lockout rows until both queue for them, in
/// that order.
async fn queued(
    pool: &PgPool,
    email: &'static str,
    first: &'static str,
    second: &'static str,
) -> (Result<Tokens, Error>, Result<Tokens, Error>) {
    racing(pool, 8, move |pool| async move {
        let svc = Arc::new(service_on(
            pool.clone(),
            Default::default(),
            Arc::new(Revoked::default()),
        ));
        let mut gate = pool.begin().await.unwrap();
        sqlx::query("SELECT 1 FROM auth.login_attempts WHERE email_key = $1 FOR UPDATE")
            .bind(email)
            .fetch_all(&mut *gate)
            .await
            .unwrap();
        let sign_in = |password: &'static str| {
            let svc = svc.clone();
            tokio::spawn(async move { svc.login(&meta(), email, password).await })
        };
        let first = sign_in(first);
        until_waiting(&pool, 1).await;
        let second = sign_in(second);
        until_waiting(&pool, 2).await;
        gate.commit().await.unwrap();
        (first.await.unwrap(), second.await.unwrap())
    })
    .await
}

#[sqlx::test(migrations = false)]
async fn a_right_password_that_comes_second_to_the_failure_that_locks_is_locked_out(pool: PgPool) {
    let svc = service(&pool).await;
    svc.register(&meta(), "jo@example.com", PASSWORD)
        .await
        .unwrap();
    for _ in 1..svc.settings().lockout_threshold {
        assert!(matches!(
            svc.login(&meta(), "jo@example.com", "wrong password!")
                .await,
            Err(Error::InvalidCredentials)
        ));
    }
    let (wrong, right) = queued(&pool, "jo@example.com", "wrong password!", PASSWORD).await;
    assert!(
        matches!(wrong, Err(Error::Locked { .. })),
        "the failure that reaches the threshold locks: {wrong:?}"
    );
    assert!(
        matches!(right, Err(Error::Locked { .. })),
        "a sign-in decided after the lock is refused, though it passed the check before: {right:?}"
    );
    // The lock stands.
    assert!(matches!(
        svc.login(&meta(), "jo@example.com", PASSWORD).await,
        Err(Error::Locked { .. })
    ));
}

#[sqlx::test(migrations = false)]
async fn a_wrong_password_that_comes_second_to_a_sign_in_counts_from_a_fresh_start(pool: PgPool) {
    let svc = service(&pool).await;
    svc.register(&meta(), "ky@example.com", PASSWORD)
        .await
        .unwrap();
    for _ in 1..svc.settings().lockout_threshold {
        assert!(matches!(
            svc.login(&meta(), "ky@example.com", "wrong password!")
                .await,
            Err(Error::InvalidCredentials)
        ));
    }
    let (right, wrong) = queued(&pool, "ky@example.com", PASSWORD, "wrong password!").await;
    assert!(right.is_ok(), "{right:?}");
    assert!(
        matches!(wrong, Err(Error::InvalidCredentials)),
        "the sign-in cleared the count: {wrong:?}"
    );
    let failures: Vec<(String, i32)> = sqlx::query_as(
        "SELECT source, failures FROM auth.login_attempts WHERE email_key = 'ky@example.com'
          ORDER BY source",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        failures,
        vec![("".to_string(), 1), ("192.0.2.7".to_string(), 1)]
    );
}
