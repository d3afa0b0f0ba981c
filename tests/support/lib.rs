//! The end-to-end harness: the whole Souk stack (every domain worker, the workflow worker and
//! the API) started once per test binary, in-process, against the real PostgreSQL, Redis and
//! Temporal servers that `./dev test` starts on free ports. Each run gets a fresh database, its
//! own Redis key prefix and its own task queues, so nothing leaks between runs.
//!
//! Tests talk to the API over real HTTP, and create their own fixtures (with unique SKUs)
//! through the domain stores, so they never depend on demo data or on each other.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::Value;
use souk_workers::{Config, Parts, Stack};
use sqlx::{Connection, PgPool};

pub mod easypost_double;
pub mod fixtures;
pub mod process;
pub mod shipments;
pub mod stripe_double;

/// The operator account every run creates (staff and super admin).
pub const OPERATOR_EMAIL: &str = "ops@souk.test";
/// Passwords of the accounts tests create.
pub const PASSWORD: &str = "e2e correct horse battery";

/// An access token of the run's operator (staff and super admin).
pub fn admin_token() -> &'static str {
    &app().operator_token
}

/// The running stack, shared by every test of the binary.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub api: String,
    /// Superuser URL of this run's database (fixtures and assertions).
    pub database_url: String,
    pub temporal_address: String,
    pub namespace: String,
    pub task_queue_prefix: String,
    pub redis_url: String,
    pub redis_prefix: String,
    /// `http://127.0.0.1:<port>` of each domain's gRPC service, by domain name.
    pub grpc: std::collections::BTreeMap<&'static str, String>,
    /// The mail catcher's HTTP API.
    pub maildev: String,
    /// The Stripe test double the `stripe` provider talks to.
    pub stripe: std::sync::Arc<stripe_double::StripeDouble>,
    /// The configuration the stack runs with (tests that start their own processes reuse it).
    pub config: Config,
    /// An access token of the operator account (valid for the whole run).
    pub operator_token: String,
}

/// The secret that signs the sandbox carrier's tracking webhooks in tests.
pub const SANDBOX_CARRIER_SECRET: &str = "sandbox-carrier-e2e-secret";

/// The secret that signs Stripe webhooks in tests.
pub const WEBHOOK_SECRET: &str = "whsec_e2e_secret";
/// How long a checkout's reservation lasts between extensions, in tests.
pub const RESERVATION_TTL_SECONDS: u64 = 60;
/// How long a checkout waits for a pending payment (3-D Secure), in tests.
pub const PAYMENT_WAIT_SECONDS: u64 = 12;

/// The Stripe stack's reservations last this long, less than its capture delay.
pub const STRIPE_RESERVATION_TTL_SECONDS: u64 = 3;
pub const STRIPE_CAPTURE_DELAY_SECONDS: u64 = 4;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `./dev test`, which starts PostgreSQL, Redis and Temporal for them")
    })
}

/// The shared stack, started on first use on its own runtime (tests each have theirs).
/// Payments go to the sandbox.
pub fn app() -> &'static TestApp {
    static APP: OnceLock<TestApp> = OnceLock::new();
    APP.get_or_init(|| launch("souk-e2e-stack", |_| {}))
}

/// A second stack configured as a store that takes cards with Stripe (the test double) and
/// has no sandbox at all: what a production deployment runs. Started on first use.
pub fn stripe_app() -> &'static TestApp {
    static APP: OnceLock<TestApp> = OnceLock::new();
    APP.get_or_init(|| {
        launch("souk-e2e-stripe-stack", |cfg| {
            cfg.set("payments.sandbox_enabled", false);
            cfg.set("payments.providers.card", "stripe".to_string());
            // A review window before capture, so tests can act on a decided checkout; longer
            // than a reservation lasts unless the checkout extends it (the sweeper runs every
            // second), and a customer may take longer still to complete a payment.
            cfg.checkout.capture_delay_seconds = STRIPE_CAPTURE_DELAY_SECONDS;
            cfg.checkout.reservation_ttl_seconds = STRIPE_RESERVATION_TTL_SECONDS;
            cfg.checkout.payment_wait_seconds = 30;
        })
    })
}

/// A third stack for the API contract run (`tests/e2e/openapi.rs`), whose generated requests
/// block accounts, rotate keys and fill address books: nothing another test sees. Started on
/// first use.
pub fn contract_app() -> &'static TestApp {
    static APP: OnceLock<TestApp> = OnceLock::new();
    APP.get_or_init(|| launch("souk-e2e-contract-stack", |_| {}))
}

/// Starts a stack on a thread of its own, with `customize` applied to the test configuration.
fn launch(name: &str, customize: fn(&mut Config)) -> TestApp {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                match start(customize).await {
                    Ok((app, _stack)) => {
                        tx.send(Ok(app)).ok();
                        // Keep the stack running for the life of the test binary.
                        std::future::pending::<()>().await;
                    }
                    Err(e) => {
                        tx.send(Err(format!("{e:#}"))).ok();
                    }
                }
            });
        })
        .expect("stack thread");
    match rx.recv().expect("stack thread ended") {
        Ok(app) => app,
        Err(e) => panic!("the Souk stack did not start: {e}"),
    }
}

async fn start(customize: fn(&mut Config)) -> anyhow::Result<(TestApp, Stack)> {
    // The stack's logs go to a file (`./dev test` prints its tail when a test fails).
    let log = std::env::var("SOUK_TEST_LOG")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("souk-e2e.log"));
    souk_workers::telemetry::init_to_file(&log)?;
    let admin_url = env("SOUK_TEST_DATABASE_URL");
    let redis_url = env("SOUK_TEST_REDIS_URL");
    let temporal_address = env("SOUK_TEST_TEMPORAL_ADDRESS");
    let run = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();

    // A fresh database for this run.
    let db = format!("souk_e2e_{run}");
    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    let mut url = url_with_database(&admin_url, &db);
    url.push_str("?application_name=souk-e2e");
    let database_url = url_with_database(&admin_url, &db);

    let mut cfg = Config::load()?;
    cfg.profile = souk_workers::config::Profile::Test;
    cfg.database.url = SecretString::from(url);
    cfg.database.role_password = SecretString::from("e2e");
    cfg.redis.url = SecretString::from(redis_url.clone());
    cfg.redis.key_prefix = format!("e2e:{run}:");
    cfg.temporal.address = temporal_address.clone();
    cfg.temporal.task_queue_prefix = format!("e2e-{run}.");
    cfg.api.listen = "127.0.0.1:0".parse()?;
    // Tokens outlive the run; tests that need expiry forge expired tokens with the real key.
    cfg.set("auth.access_ttl_seconds", 3_600);
    // Every test calls from 127.0.0.1; rate limits are tested on an API of their own.
    cfg.rate_limit.anonymous_per_minute = 1_000_000;
    cfg.rate_limit.user_per_minute = 1_000_000;
    cfg.rate_limit.auth_per_minute = 1_000_000;
    for s in cfg.services.values_mut() {
        s.listen = "127.0.0.1:0".parse()?;
    }
    cfg.set("smtp.port", env("SOUK_TEST_SMTP_PORT").parse::<u16>()?);
    cfg.set("smtp.host", "127.0.0.1".to_string());
    cfg.checkout.reservation_ttl_seconds = RESERVATION_TTL_SECONDS;
    cfg.checkout.payment_wait_seconds = PAYMENT_WAIT_SECONDS;
    cfg.checkout.decision_wait_ms = 8_000;
    // The sweeper releases expired reservations every second, under every test: a checkout
    // extends its own, so none expires under a live one.
    cfg.set("inventory.sweep_interval_seconds", 1u64);
    let stripe = stripe_double::StripeDouble::start().await?;
    cfg.set("payments.stripe_secret_key", "sk_test_e2e".to_string());
    cfg.set("payments.stripe_api_base", stripe.url());
    cfg.set("payments.stripe_webhook_secret", WEBHOOK_SECRET.to_string());
    cfg.set("payments.sandbox_enabled", true);
    cfg.set("payments.providers.card", "sandbox".to_string());
    cfg.set(
        "shipping.sandbox_webhook_secret",
        SANDBOX_CARRIER_SECRET.to_string(),
    );
    customize(&mut cfg);
    souk_workers::stack::migrate(&cfg).await?;
    let stack = Stack::start(cfg.clone(), Parts::all()).await?;
    let api = format!("http://{}", stack.api_addr.expect("api runs"));
    let app = TestApp {
        api,
        database_url,
        temporal_address,
        namespace: cfg.temporal.namespace.clone(),
        task_queue_prefix: cfg.temporal.task_queue_prefix.clone(),
        redis_url,
        redis_prefix: cfg.redis.key_prefix.clone(),
        grpc: stack
            .grpc_addrs
            .iter()
            .map(|(d, a)| (*d, format!("http://{a}")))
            .collect(),
        maildev: env("SOUK_TEST_MAILDEV_URL"),
        stripe,
        config: stack.config.clone(),
        operator_token: String::new(),
    };
    // Ready means every domain reached its database and Redis, and Temporal answers.
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = http
            .get(format!("{}/readyz", app.api))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        if ready {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the stack was not ready within 60s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut app = app;
    let mut auth = souk_proto::auth::v1::auth_service_client::AuthServiceClient::connect(
        app.grpc["auth"].clone(),
    )
    .await?;
    auth.create_user(souk_proto::auth::v1::CreateUserRequest {
        email: OPERATOR_EMAIL.into(),
        password: PASSWORD.into(),
        roles: vec!["staff".into(), "super_admin".into()],
        vendor_id: None,
    })
    .await?;
    // Operators reach the back office only after signing in with a second factor.
    let first = sign_in(&http, &app.api, OPERATOR_EMAIL, None).await?;
    let (secret, _) = enroll_totp(&http, &app.api, &first, OPERATOR_EMAIL).await?;
    let code = totp_code(&secret, OPERATOR_EMAIL, 30);
    app.operator_token = sign_in(&http, &app.api, OPERATOR_EMAIL, Some(&code)).await?;
    Ok((app, stack))
}

/// Signs in over HTTP at `api`; the access token.
pub async fn sign_in(
    http: &reqwest::Client,
    api: &str,
    email: &str,
    totp_code: Option<&str>,
) -> anyhow::Result<String> {
    let login = http
        .post(format!("{api}/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": PASSWORD, "totp_code": totp_code}))
        .send()
        .await?
        .error_for_status()?
        .json::<Value>()
        .await?;
    Ok(login["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no access token in {login}"))?
        .to_string())
}

/// Enrols and confirms a TOTP second factor for the signed-in `token`; the secret and the
/// recovery codes.
pub async fn enroll_totp(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    email: &str,
) -> anyhow::Result<(Vec<u8>, Vec<String>)> {
    let e: Value = http
        .post(format!("{api}/v1/me/mfa/totp"))
        .bearer_auth(token)
        .json(&serde_json::json!({"password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let secret = e["secret"]
        .as_str()
        .and_then(souk_auth::mfa::from_base32)
        .ok_or_else(|| anyhow::anyhow!("no secret in {e}"))?;
    let c: Value = http
        .post(format!("{api}/v1/me/mfa/totp/confirm"))
        .bearer_auth(token)
        .json(&serde_json::json!({"code": totp_code(&secret, email, 0)}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let codes = c["recovery_codes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok((secret, codes))
}

/// The authenticator's code `offset_seconds` from now (30 = the next time step, which is
/// accepted now and has not been used yet).
pub fn totp_code(secret: &[u8], email: &str, offset_seconds: i64) -> String {
    souk_auth::mfa::code_at(
        secret,
        email,
        chrono::Utc::now() + chrono::Duration::seconds(offset_seconds),
    )
    .expect("a valid secret")
}

fn url_with_database(url: &str, db: &str) -> String {
    let base = url.split('?').next().unwrap_or(url);
    let (head, _) = base.rsplit_once('/').expect("database URL has a path");
    format!("{head}/{db}")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// A pool on this run's database, as superuser (fixtures and assertions only).
    pub async fn db(&self) -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&self.database_url)
            .await
            .expect("database")
    }

    /// The payload codec the stack encrypts with (to read raw histories as support does).
    pub fn codec(&self) -> souk_contracts::codec::EncryptionCodec {
        self.config.temporal.codec().expect("payload keys")
    }

    /// A memo field of a described workflow, decrypted.
    pub fn memo<T: serde::de::DeserializeOwned>(
        &self,
        d: &temporalio_client::WorkflowExecutionDescription,
        key: &str,
    ) -> Option<T> {
        let p = d
            .raw()
            .workflow_execution_info
            .as_ref()?
            .memo
            .as_ref()?
            .fields
            .get(key)?
            .clone();
        serde_json::from_slice(&self.codec().decode_payload(p).ok()?.data).ok()
    }

    pub async fn temporal(&self) -> temporalio_client::Client {
        temporalio_client::Client::connect(
            temporalio_client::ConnectionOptions::new(
                temporalio_client::Url::parse(&self.temporal_address).expect("address"),
            )
            .build(),
            temporalio_client::ClientOptions::new(self.namespace.clone())
                .data_converter(self.config.temporal.data_converter().expect("payload keys"))
                .build(),
        )
        .await
        .expect("temporal client")
    }
}

/// A response as a test sees it. The calls that return one are `#[must_use]`: a set-up call
/// whose failure goes unnoticed makes the assertions after it vacuous, so read it or `expect` it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The machine-readable error code, if this is an error.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// This reply, once it is known to have `status`: a set-up step that fails stops the test
    /// there instead of making a later assertion vacuous.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "unexpected reply: {}", self.text);
        self
    }
}

/// Creates an account with `roles` (through the auth service) and signs it in.
pub async fn account(roles: &[&str], vendor_id: Option<uuid::Uuid>) -> (String, Http) {
    account_on(app(), roles, vendor_id).await
}

/// [`account`] on another stack.
pub async fn account_on(
    stack: &TestApp,
    roles: &[&str],
    vendor_id: Option<uuid::Uuid>,
) -> (String, Http) {
    let email = format!(
        "{}-{}@example.com",
        roles.join("-"),
        unique().to_lowercase()
    )
    .replace('_', "");
    let mut auth = souk_proto::auth::v1::auth_service_client::AuthServiceClient::connect(
        stack.grpc["auth"].clone(),
    )
    .await
    .expect("auth service");
    auth.create_user(souk_proto::auth::v1::CreateUserRequest {
        email: email.clone(),
        password: PASSWORD.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        vendor_id: vendor_id.map(|v| v.to_string()),
    })
    .await
    .expect("account created");
    let http = Http::login_at(&stack.api, &email, PASSWORD).await;
    (email, http)
}

/// A small HTTP client for tests.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    base: String,
    /// Sent as `Authorization: Bearer` with every request.
    token: Option<String>,
}

impl Http {
    pub fn new() -> Self {
        Self::at(&app().api)
    }

    /// A client of another Souk API (a process a test started).
    pub fn at(base: &str) -> Self {
        Http {
            client: reqwest::Client::new(),
            base: base.to_string(),
            token: None,
        }
    }

    /// The same client, signed in with `token`.
    pub fn with_token(&self, token: &str) -> Self {
        Http {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    /// `http://127.0.0.1:<port>`
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The bearer token this client sends, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Signs in over the API; the client for that account.
    pub async fn login(email: &str, password: &str) -> Self {
        Self::login_at(&app().api, email, password).await
    }

    /// [`Http::login`] at another API.
    pub async fn login_at(base: &str, email: &str, password: &str) -> Self {
        let http = Http::at(base);
        let r = http
            .post(
                "/v1/auth/login",
                serde_json::json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(r.status, 200, "login {email}: {}", r.text);
        http.with_token(r.body["access_token"].as_str().expect("access token"))
    }

    #[must_use]
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    /// A request to build by hand (extra headers); send it with [`Http::send`].
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    #[must_use]
    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    #[must_use]
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.client.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    /// A POST with an `Idempotency-Key`.
    #[must_use]
    pub async fn post_idempotent(&self, path: &str, key: &str, body: Value) -> Reply {
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header("idempotency-key", key)
                .json(&body),
        )
        .await
    }

    #[must_use]
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(self.client.put(format!("{}{path}", self.base)).json(&body))
            .await
    }

    #[must_use]
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(
            self.client
                .patch(format!("{}{path}", self.base))
                .json(&body),
        )
        .await
    }

    #[must_use]
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.client.delete(format!("{}{path}", self.base)))
            .await
    }

    /// A raw body with a content type, for malformed-input tests.
    #[must_use]
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .body(body.to_string());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        self.send(req).await
    }

    #[must_use]
    pub async fn admin_put(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        let mut req = self.client.put(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    #[must_use]
    pub async fn admin_get(&self, path: &str) -> Reply {
        self.send(
            self.client
                .get(format!("{}{path}", self.base))
                .bearer_auth(admin_token()),
        )
        .await
    }
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout`. Tests never sleep blindly.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A short unique suffix for fixture names.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_uppercase()
}
