//! Profiles: a production installation refuses published secrets, the sandbox provider and
//! the demo seed; `souk seed` alone creates no account anyone knows the password of.

use std::time::Duration;

use souk_tests::unique;
use sqlx::Connection;

/// Runs the `souk` binary with only `env` (and PATH) set; its exit status and output.
pub(crate) async fn souk(args: &[&str], env: &[(&str, String)]) -> (Option<i32>, String) {
    let bin = std::env::var("SOUK_TEST_BIN").expect("SOUK_TEST_BIN: run the tests with ./dev test");
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SOUK_LOG__FORMAT", "json")
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("souk {args:?} did not finish"))
        .expect("souk runs");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn the_production_profile_refuses_published_secrets_and_the_sandbox() {
    let (code, out) = souk(&["api"], &[("SOUK_PROFILE", "production".into())]).await;
    assert_eq!(code, Some(2), "{out}");
    for needle in [
        "production profile refuses",
        "auth.key_encryption_key",
        "database.role_password",
        "database.url",
        "payments.sandbox_enabled",
        "shipping.carrier",
        "auth.password_reset_link",
        "auth.unlock_link",
        "temporal.payload_keys",
        "api.secure_cookies",
    ] {
        assert!(out.contains(needle), "{needle} in {out}");
    }
    // The placeholders of the example files are refused too.
    let (code, out) = souk(
        &["api"],
        &[
            ("SOUK_PROFILE", "production".into()),
            ("SOUK_AUTH__KEY_ENCRYPTION_KEY", "change-me".into()),
        ],
    )
    .await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("auth.key_encryption_key is a published default"),
        "{out}"
    );
}

#[tokio::test]
async fn seeding_creates_no_known_accounts_unless_asked_and_production_refuses_them() {
    let admin = std::env::var("SOUK_TEST_DATABASE_URL").expect("run with ./dev test");
    let db = format!("souk_profiles_{}", unique().to_lowercase());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let (head, _) = admin.rsplit_once('/').unwrap();
    let url = format!("{head}/{db}");
    let base = vec![
        ("SOUK_DATABASE__URL", url.clone()),
        (
            "SOUK_DATABASE__ROLE_PASSWORD",
            "a role password of the test".to_string(),
        ),
        ("SOUK_AUTH__KEY_ENCRYPTION_KEY", "k".repeat(40)),
        ("SOUK_SERVICES__AUTH__LISTEN", "127.0.0.1:0".to_string()),
        (
            "SOUK_SERVICES__NOTIFICATIONS__URL",
            "http://127.0.0.1:9".to_string(),
        ),
    ];
    let with = |extra: &[(&'static str, &str)]| {
        let mut env = base.clone();
        env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        env
    };
    let test = with(&[("SOUK_PROFILE", "test")]);
    let (code, out) = souk(&["migrate"], &test).await;
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = souk(&["seed"], &test).await;
    assert_eq!(code, Some(0), "{out}");
    let users = || async {
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM auth.users")
            .fetch_one(&mut c)
            .await
            .unwrap();
        n
    };
    assert_eq!(users().await, 0, "the demo catalog only");

    let production = with(&[
        ("SOUK_PROFILE", "production"),
        ("SOUK_PAYMENTS__SANDBOX_ENABLED", "false"),
        ("SOUK_PAYMENTS__PROVIDERS__CARD", "stripe"),
        (
            "SOUK_SHIPPING__EASYPOST_API_KEY",
            "EZAK_production_key_of_its_own",
        ),
        (
            "SOUK_SHIPPING__EASYPOST_WEBHOOK_SECRET",
            "a webhook secret of its own",
        ),
        (
            "SOUK_AUTH__PASSWORD_RESET_LINK",
            "https://shop.example.com/reset?t={token}",
        ),
        (
            "SOUK_AUTH__UNLOCK_LINK",
            "https://shop.example.com/unlock?t={token}",
        ),
        ("SOUK_API__SECURE_COOKIES", "true"),
        (
            "SOUK_TEMPORAL__PAYLOAD_KEYS",
            "k1:QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=",
        ),
    ]);
    let (code, out) = souk(&["seed", "--demo"], &production).await;
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("does not load demo data"), "{out}");
    assert_eq!(users().await, 0);

    let (code, out) = souk(&["seed", "--demo"], &test).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(users().await, 3, "the demo accounts, on request");
    let (code, out) = souk(&["worker", "auth"], &production).await;
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("demo accounts"), "{out}");
}
