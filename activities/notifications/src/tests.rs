//! Sending once per key, whatever the retries.

use std::collections::BTreeMap;
use std::sync::Mutex;

use sqlx::PgPool;

use super::mailer::{Mail, MailError, Mailer};
use super::store::{self, Error, render};
use souk_kit::Ctx;
use souk_kit::testing::test_schema;

/// Records what it is asked to send; can fail the next sends.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<Mail>>,
    fail_next: Mutex<Vec<MailError>>,
}

#[tonic::async_trait]
impl Mailer for Recorder {
    async fn send(&self, mail: &Mail) -> Result<String, MailError> {
        if let Some(e) = self.fail_next.lock().unwrap().pop() {
            return Err(e);
        }
        self.sent.lock().unwrap().push(mail.clone());
        Ok(format!("250 queued as {}", self.sent.lock().unwrap().len()))
    }
}

fn vars() -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("order_no", "SK-100001".to_string()),
        ("total", "12.34 USD".to_string()),
    ])
}

#[test]
fn templates_replace_known_variables_only() {
    assert_eq!(
        render("Order {{order_no}}: {{ total }} {{unknown}}", &vars()),
        "Order SK-100001: 12.34 USD {{unknown}}"
    );
    assert_eq!(render("no end {{", &vars()), "no end {{");
}

#[sqlx::test(migrations = false)]
async fn a_message_is_sent_once_per_key_however_often_it_is_asked(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let mailer = Recorder::default();
    let ctx = Ctx::system();
    let first = store::send_once(
        &pool,
        &mailer,
        &ctx,
        "k1",
        "ada@example.com",
        "order_confirmation",
        &vars(),
    )
    .await
    .unwrap();
    let again = store::send_once(
        &pool,
        &mailer,
        &ctx,
        "k1",
        "ada@example.com",
        "order_confirmation",
        &vars(),
    )
    .await
    .unwrap();
    assert!(first.newly_sent);
    assert!(!again.newly_sent);
    assert_eq!(first.message_id, again.message_id);
    let sent = mailer.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "Your Souk order SK-100001");
    assert!(sent[0].body.contains("Total charged: 12.34 USD"));
    assert_eq!(
        store::message_status(&pool, "k1").await.unwrap(),
        Some(("sent".into(), 1))
    );
}

#[sqlx::test(migrations = false)]
async fn a_failed_send_is_retried_and_a_refused_one_is_not(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let mailer = Recorder::default();
    let ctx = Ctx::system();
    mailer
        .fail_next
        .lock()
        .unwrap()
        .push(MailError::Transient("421 try later".into()));
    let r = store::send_once(
        &pool,
        &mailer,
        &ctx,
        "k2",
        "ada@example.com",
        "order_confirmation",
        &vars(),
    )
    .await;
    assert!(matches!(r, Err(Error::Retry(_))));
    assert_eq!(
        store::message_status(&pool, "k2").await.unwrap(),
        Some(("queued".into(), 1))
    );
    let r = store::send_once(
        &pool,
        &mailer,
        &ctx,
        "k2",
        "ada@example.com",
        "order_confirmation",
        &vars(),
    )
    .await;
    assert!(r.unwrap().newly_sent);
    assert_eq!(mailer.sent.lock().unwrap().len(), 1);

    mailer
        .fail_next
        .lock()
        .unwrap()
        .push(MailError::Permanent("550 no such user".into()));
    let r = store::send_once(
        &pool,
        &mailer,
        &ctx,
        "k3",
        "nobody@example.com",
        "order_confirmation",
        &vars(),
    )
    .await;
    assert!(matches!(r, Err(Error::Refused(_))));
    assert_eq!(
        store::message_status(&pool, "k3").await.unwrap(),
        Some(("failed".into(), 1))
    );
}

#[sqlx::test(migrations = false)]
async fn a_message_being_sent_by_another_attempt_is_not_sent_twice(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let mailer = Recorder::default();
    let ctx = Ctx::system();
    sqlx::query(
        "INSERT INTO notifications.messages (id, idempotency_key, recipient, template, subject, body, status, attempts)
         VALUES (gen_random_uuid(), 'k4', 'ada@example.com', 'order_confirmation', 's', 'b', 'sending', 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let r = store::send_once(
        &pool,
        &mailer,
        &ctx,
        "k4",
        "ada@example.com",
        "order_confirmation",
        &vars(),
    )
    .await;
    assert!(matches!(r, Err(Error::Retry(_))), "{r:?}");
    assert!(mailer.sent.lock().unwrap().is_empty());
    // After the lease, the stuck attempt is presumed dead and the message goes out.
    sqlx::query("UPDATE notifications.messages SET updated_at = now() - interval '2 minutes' WHERE idempotency_key = 'k4'")
        .execute(&pool)
        .await
        .unwrap();
    let r = store::send_once(
        &pool,
        &mailer,
        &ctx,
        "k4",
        "ada@example.com",
        "order_confirmation",
        &vars(),
    )
    .await;
    assert!(r.unwrap().newly_sent);
}

#[sqlx::test(migrations = false)]
async fn a_secret_goes_into_the_mail_sent_and_never_into_the_stored_copy(pool: PgPool) {
    test_schema(&pool, &crate::SCHEMA).await;
    let mailer = Recorder::default();
    let ctx = Ctx::system();
    let vars = BTreeMap::from([("expires_minutes", "30".to_string())]);
    let token = "reset-token-that-must-not-be-stored";
    let secrets = BTreeMap::from([
        ("token", token.to_string()),
        (
            "reset_link",
            format!("https://shop.test/reset?token={token}"),
        ),
    ]);
    // The first try fails at the mail server; the retry brings the secrets again.
    mailer
        .fail_next
        .lock()
        .unwrap()
        .push(MailError::Transient("421 try later".into()));
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let r = store::send_once_with_secrets(
            &pool,
            &mailer,
            &ctx,
            "password-reset:1",
            "ada@example.com",
            "password_reset",
            &vars,
            &secrets,
        )
        .await;
        outcomes.push(r.map(|_| ()));
    }
    assert!(
        matches!(outcomes[..], [Err(store::Error::Retry(_)), Ok(())]),
        "{outcomes:?}"
    );
    let sent = mailer.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "sent once");
    assert!(sent[0].body.contains(token) && sent[0].body.contains("30 minutes"));
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT subject, body FROM notifications.messages")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].1.contains(token), "{}", stored[0].1);
    assert!(stored[0].1.contains(store::REDACTED), "{}", stored[0].1);
    let logged: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications.outbox WHERE data::text LIKE '%' || $1 || '%'",
    )
    .bind(token)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(logged, 0, "nor in the outbox");
}
