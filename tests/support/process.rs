//! Souk as a separate OS process (`souk dev`), for tests that kill and restart it, and
//! Temporal dev servers of a test's own, for tests that restart the server.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::process::{Child, Command};

use crate::{Http, TestApp, eventually};

/// How many Souk processes of their own the tests run at once: each is every worker and an
/// API, and more at once on a small machine only makes each slower to come up.
static SLOTS: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(tokio::sync::Semaphore::new(2)));

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn tmp() -> PathBuf {
    std::env::var("SOUK_TEST_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir())
}

/// Records a child's pid so `./dev test` kills it even if the test panics.
fn remember(name: &str, child: &Child) {
    if let Some(pid) = child.id() {
        let _ = std::fs::write(tmp().join(format!("{name}.child.pid")), pid.to_string());
    }
}

/// `souk dev` in its own process: every worker and an API, on ports of its own, sharing the
/// test run's database and Redis, with its own task queues.
pub struct SoukProcess {
    name: String,
    env: BTreeMap<String, String>,
    child: Option<Child>,
    pub api: String,
    /// Held for the life of the process (see [`SLOTS`]).
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl SoukProcess {
    /// `extra` overrides settings (`SOUK_CHECKOUT__CAPTURE_DELAY_SECONDS`, ...).
    pub async fn start(
        app: &TestApp,
        name: &str,
        temporal_address: &str,
        extra: &[(&str, String)],
    ) -> Self {
        let cfg = &app.config;
        let api_port = free_port();
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            env.insert(k.to_string(), v);
        };
        set(
            "SOUK_DATABASE__URL",
            cfg.database.url.expose_secret().to_string(),
        );
        set(
            "SOUK_DATABASE__ROLE_PASSWORD",
            cfg.database.role_password.expose_secret().to_string(),
        );
        set("SOUK_REDIS__URL", cfg.redis.url.expose_secret().to_string());
        set("SOUK_REDIS__KEY_PREFIX", cfg.redis.key_prefix.clone());
        set("SOUK_TEMPORAL__ADDRESS", temporal_address.to_string());
        set(
            "SOUK_TEMPORAL__TASK_QUEUE_PREFIX",
            format!("{name}-{}.", crate::unique().to_lowercase()),
        );
        set("SOUK_API__LISTEN", format!("127.0.0.1:{api_port}"));
        for (k, v) in [
            (
                "SOUK_RATE_LIMIT__ANONYMOUS_PER_MINUTE",
                cfg.rate_limit.anonymous_per_minute,
            ),
            (
                "SOUK_RATE_LIMIT__USER_PER_MINUTE",
                cfg.rate_limit.user_per_minute,
            ),
            (
                "SOUK_RATE_LIMIT__AUTH_PER_MINUTE",
                cfg.rate_limit.auth_per_minute,
            ),
        ] {
            set(k, v.to_string());
        }
        set(
            "SOUK_AUTH__ACCESS_TTL_SECONDS",
            cfg.get::<i64>("auth.access_ttl_seconds")
                .expect("auth.access_ttl_seconds")
                .to_string(),
        );
        for domain in cfg.services.keys() {
            let port = free_port();
            let upper = domain.to_uppercase();
            set(
                &format!("SOUK_SERVICES__{upper}__LISTEN"),
                format!("127.0.0.1:{port}"),
            );
            set(
                &format!("SOUK_SERVICES__{upper}__URL"),
                format!("http://127.0.0.1:{port}"),
            );
        }
        set(
            "SOUK_SMTP__PORT",
            cfg.get::<u16>("smtp.port").expect("smtp.port").to_string(),
        );
        // Reservations outlive a kill and a restart (the checkout extends them before it
        // waits); the sweeper runs as in production, only more often.
        set("SOUK_CHECKOUT__RESERVATION_TTL_SECONDS", "60".into());
        set("SOUK_INVENTORY__SWEEP_INTERVAL_SECONDS", "1".into());
        set("SOUK_PAYMENTS__PROVIDERS__CARD", "sandbox".into());
        set("SOUK_PAYMENTS__SANDBOX_ENABLED", "true".into());
        set("SOUK_LOG__FORMAT", "json".into());
        set("SOUK_PROFILE", "test".into());
        for (k, v) in extra {
            set(k, v.clone());
        }
        let slot = SLOTS.clone().acquire_owned().await.expect("the slots");
        let mut p = SoukProcess {
            name: name.to_string(),
            env,
            child: None,
            api: format!("http://127.0.0.1:{api_port}"),
            _slot: slot,
        };
        // Ports are picked free and bound by the process a moment later; another process may
        // take one in between. Then pick them again.
        for _ in 0..3 {
            if p.spawn().await {
                return p;
            }
            p.pick_ports_again();
        }
        assert!(
            p.spawn().await,
            "the souk process {name} found no free ports"
        );
        p
    }

    /// New ports for the API and every service (before the first start only: a restart keeps
    /// its ports, so clients can find it again).
    fn pick_ports_again(&mut self) {
        let listens: Vec<String> = self
            .env
            .keys()
            .filter(|k| k.ends_with("__LISTEN"))
            .cloned()
            .collect();
        for key in listens {
            let port = free_port();
            self.env.insert(key.clone(), format!("127.0.0.1:{port}"));
            let url = key.replace("__LISTEN", "__URL");
            if self.env.contains_key(&url) {
                self.env.insert(url, format!("http://127.0.0.1:{port}"));
            }
            if key == "SOUK_API__LISTEN" {
                self.api = format!("http://127.0.0.1:{port}");
            }
        }
    }

    /// Starts the process and waits until it is ready. False if it stopped because a port it
    /// was given was taken meanwhile; any other failure panics with its log.
    async fn spawn(&mut self) -> bool {
        let bin =
            std::env::var("SOUK_TEST_BIN").expect("SOUK_TEST_BIN: run the tests with ./dev test");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(tmp().join(format!("{}.log", self.name)))
            .expect("log file");
        let log_start = log.metadata().map_or(0, |m| m.len() as usize);
        let child = Command::new(bin)
            .arg("dev")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("souk dev starts");
        remember(&self.name, &child);
        self.child = Some(child);
        let url = format!("{}/readyz", self.api);
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let ok = reqwest::get(&url)
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ok {
                return true;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || std::time::Instant::now() > deadline {
                let log = std::fs::read_to_string(tmp().join(format!("{}.log", self.name)))
                    .unwrap_or_default();
                // Only this run's lines: a restart appends to the same file.
                let this_run = log.get(log_start..).unwrap_or_default();
                if exited.is_some() && this_run.contains("Address already in use") {
                    return false;
                }
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "the souk process {} did not become ready ({}); its last log lines:\n{}",
                    self.name,
                    exited.map_or("still starting after 120 s".to_string(), |s| format!(
                        "it exited: {s}"
                    )),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the process at once (SIGKILL): nothing gets to finish or clean up.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().await.expect("kill souk");
        }
    }

    /// Starts it again with the same settings and ports.
    pub async fn restart(&mut self) {
        self.kill().await;
        assert!(
            self.spawn().await,
            "the souk process {} could not listen on its ports again",
            self.name
        );
    }

    pub fn http(&self) -> Http {
        Http::at(&self.api)
    }

    /// The prefix of its task queues (`<name>-<unique>.`): workflows started on
    /// `souk_contracts::queues::workflows(prefix)` run in this process.
    pub fn task_queue_prefix(&self) -> &str {
        self.env
            .get("SOUK_TEMPORAL__TASK_QUEUE_PREFIX")
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// A Temporal dev server of the test's own, persisted to a file so it can be restarted.
pub struct TemporalServer {
    args: Vec<String>,
    child: Option<Child>,
    pub address: String,
    name: String,
}

impl TemporalServer {
    pub async fn start(name: &str) -> Self {
        let port = free_port();
        let db = tmp().join(format!("{name}.db"));
        let mut args: Vec<String> = [
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--log-level",
            "warn",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend([
            "--port".into(),
            port.to_string(),
            "--http-port".into(),
            free_port().to_string(),
            "--metrics-port".into(),
            free_port().to_string(),
            "--db-filename".into(),
            db.display().to_string(),
        ]);
        for sa in souk_contracts::search_attributes() {
            args.extend(["--search-attribute".into(), format!("{sa}=Keyword")]);
        }
        let mut s = TemporalServer {
            args,
            child: None,
            address: format!("http://127.0.0.1:{port}"),
            name: name.to_string(),
        };
        s.spawn().await;
        s
    }

    async fn spawn(&mut self) {
        let bin = std::env::var("SOUK_TEST_TEMPORAL_BIN")
            .expect("SOUK_TEST_TEMPORAL_BIN: run the tests with ./dev test");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(tmp().join(format!("{}.log", self.name)))
            .expect("log file");
        let child = Command::new(bin)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("temporal starts");
        remember(&self.name, &child);
        self.child = Some(child);
        let addr = self.address.trim_start_matches("http://").to_string();
        eventually(Duration::from_secs(60), "the Temporal server", || async {
            tokio::net::TcpStream::connect(&addr).await.ok().map(|_| ())
        })
        .await;
    }

    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().await.expect("kill temporal");
        }
    }

    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn().await;
    }
}
