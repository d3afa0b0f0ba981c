//! `souk-bench checkout`: drives N checkouts through the REST API of a running Souk (./dev up)
//! with a given concurrency, then runs the same number of baseline workflows (as many no-op
//! activities as a checkout) on the same Temporal server, and prints checkouts/s, latency to
//! "decided" and "completed", the baseline's workflows/s, the ratio, and SQL statements per
//! checkout (from pg_stat_statements when it is available).

mod baseline;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use temporalio_client::{
    Client, ClientOptions, ConnectionOptions, Url, WorkflowGetResultOptions, WorkflowStartOptions,
};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};
use tokio::sync::Semaphore;

#[derive(Parser)]
#[command(
    name = "souk-bench",
    about = "Benchmarks Souk's checkout against a no-op baseline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checkouts through the API, then the baseline.
    Checkout {
        #[arg(long, default_value_t = 200)]
        checkouts: usize,
        #[arg(long, default_value_t = 5)]
        concurrency: usize,
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        api: String,
        #[arg(long, default_value = "http://127.0.0.1:7233")]
        temporal: String,
        #[arg(long, default_value = "default")]
        namespace: String,
        /// An operator account (the demo one by default), to set up stock.
        #[arg(long, default_value = "admin@souk.local")]
        admin_email: String,
        #[arg(
            long,
            env = "SOUK_BENCH_ADMIN_PASSWORD",
            default_value = "souk-demo-password"
        )]
        admin_password: String,
        /// The operator's TOTP secret (base32); the demo operator's by default.
        #[arg(
            long,
            env = "SOUK_BENCH_ADMIN_TOTP_SECRET",
            default_value = "SOUKDEMOSOUKDEMOSOUKDEMOSOUKDEMO"
        )]
        admin_totp_secret: String,
        /// Where to read pg_stat_statements (needs pg_read_all_stats and the extension).
        #[arg(long)]
        database_url: Option<String>,
        /// Skip the baseline run.
        #[arg(long)]
        no_baseline: bool,
        /// How many of the most frequent SQL statements to list, per checkout.
        #[arg(long, default_value_t = 15)]
        sql_top: usize,
    },
}

/// The current code of a TOTP secret (operators sign in with a second factor).
fn totp_code(secret: &str, account: &str) -> anyhow::Result<String> {
    let secret = totp_rs::Secret::try_from_base32(secret)
        .map_err(|e| anyhow::anyhow!("the TOTP secret is not base32: {e}"))?;
    let totp = totp_rs::Builder::new()
        .with_secret(secret.to_vec())
        .with_account_name(account)
        .build()?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    Ok(totp.generate(now.as_secs()).to_string())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// A client with Souk's payload codec (the keys of `SOUK_TEMPORAL__PAYLOAD_KEYS`, or the
/// development keys), so it reads what the checkouts record and the baseline pays the same
/// encryption.
async fn temporal(address: &str, namespace: &str) -> anyhow::Result<Client> {
    use souk_contracts::codec::{DEV_KEYS, EncryptionCodec, PayloadKeys, data_converter};
    let keys = std::env::var("SOUK_TEMPORAL__PAYLOAD_KEYS").unwrap_or_else(|_| DEV_KEYS.into());
    let converter = data_converter(EncryptionCodec::new(PayloadKeys::parse(&keys)?));
    Ok(Client::connect(
        ConnectionOptions::new(Url::parse(address)?).build(),
        ClientOptions::new(namespace.to_string())
            .data_converter(converter)
            .build(),
    )
    .await?)
}

/// Picks a seeded SKU and gives it plenty of stock, so the run measures checkouts, not
/// stock-outs.
async fn prepare_sku(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    n: usize,
) -> anyhow::Result<String> {
    let page: Value = http
        .get(format!("{api}/v1/products?limit=1"))
        .send()
        .await?
        .json()
        .await?;
    let sku = page["items"][0]["variants"][0]["sku"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no products: run ./dev up first"))?
        .to_string();
    let r = http
        .put(format!("{api}/v1/admin/inventory/{sku}/east"))
        .bearer_auth(token)
        .json(&json!({"on_hand": 1_000_000 + n}))
        .send()
        .await?;
    anyhow::ensure!(
        r.status().is_success(),
        "could not set stock: {}",
        r.text().await?
    );
    Ok(sku)
}

struct Sample {
    decided: Duration,
    completed: Duration,
    ok: bool,
}

async fn one_checkout(
    http: &reqwest::Client,
    api: &str,
    client: &Client,
    cart: &str,
) -> anyhow::Result<Sample> {
    let body = json!({"cart_id": cart, "email": "bench@example.com",
        "shipping_address": {"name": "Bench", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"},
        "payment": {"payment_method": "pm_card_visa"}});
    let t0 = Instant::now();
    let r = http
        .post(format!("{api}/v1/checkouts"))
        .header("idempotency-key", cart)
        .json(&body)
        .send()
        .await?;
    let status = r.status().as_u16();
    let v: Value = r.json().await?;
    anyhow::ensure!(
        status == 201 || status == 202,
        "checkout answered {status}: {v}"
    );
    let id = v["checkout_id"].as_str().unwrap_or_default().to_string();
    let mut decided = t0.elapsed();
    if status == 202 {
        loop {
            let s: Value = http
                .get(format!("{api}/v1/checkouts/{id}"))
                .send()
                .await?
                .json()
                .await?;
            if s["decided"] == true {
                decided = t0.elapsed();
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let result = client
        .get_workflow_handle::<souk_contracts::checkout::Checkout>(id)
        .get_result(WorkflowGetResultOptions::default())
        .await;
    Ok(Sample {
        decided,
        completed: t0.elapsed(),
        ok: result.is_ok(),
    })
}

/// Calls per statement in this database, from pg_stat_statements, keyed by its entry (each
/// domain's role has its own entries for the same statement text, such as `BEGIN`).
type SqlCalls = HashMap<(i64, i64, bool), (i64, String)>;

async fn sql_calls(url: &str) -> Option<SqlCalls> {
    let pool = sqlx::PgPool::connect(url).await.ok()?;
    let rows: Vec<(i64, i64, bool, i64, String)> = sqlx::query_as(
        "SELECT userid::bigint, queryid, toplevel, calls, query FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND queryid IS NOT NULL",
    )
    .fetch_all(&pool)
    .await
    .ok()?;
    Some(
        rows.into_iter()
            .map(|(user, id, top, calls, query)| ((user, id, top), (calls, query)))
            .collect(),
    )
}

/// Prints statements per checkout, in total and for the `top` most frequent statements.
fn report_sql(before: &SqlCalls, after: &SqlCalls, checkouts: usize, top: usize) {
    let mut by_text: HashMap<String, i64> = HashMap::new();
    for (key, (calls, query)) in after {
        let was = before.get(key).map_or(0, |(c, _)| *c);
        let text = query.split_whitespace().collect::<Vec<_>>().join(" ");
        *by_text.entry(text).or_default() += calls - was;
    }
    let mut deltas: Vec<(i64, &str)> = by_text
        .iter()
        .map(|(q, d)| (*d, q.as_str()))
        .filter(|(d, _)| *d > 0)
        .collect();
    deltas.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let total: i64 = deltas.iter().map(|(d, _)| d).sum();
    let per = |n: i64| n as f64 / checkouts as f64;
    println!(
        "SQL statements per checkout: {:.1} (pg_stat_statements, whole database, carts prepared before)",
        per(total)
    );
    for (d, query) in deltas.iter().take(top) {
        let short: String = query.chars().take(100).collect();
        println!("  {:>5.2}  {short}", per(*d));
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Command::Checkout {
        checkouts,
        concurrency,
        api,
        temporal: address,
        namespace,
        admin_email,
        admin_password,
        admin_totp_secret,
        database_url,
        no_baseline,
        sql_top,
    } = Cli::parse().command;
    let http = reqwest::Client::new();
    let client = temporal(&address, &namespace).await?;
    let login: Value = http
        .post(format!("{api}/v1/auth/login"))
        .json(&json!({"email": admin_email, "password": admin_password,
                      "totp_code": totp_code(&admin_totp_secret, &admin_email)?}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let admin_token = login["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("signing in as {admin_email} gave no token"))?
        .to_string();
    let sku = prepare_sku(&http, &api, &admin_token, checkouts).await?;

    println!("preparing {checkouts} carts with one unit of {sku}...");
    let mut carts = Vec::with_capacity(checkouts);
    for _ in 0..checkouts {
        let c: Value = http
            .post(format!("{api}/v1/carts"))
            .send()
            .await?
            .json()
            .await?;
        let id = c["id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no cart: {c}"))?
            .to_string();
        let r = http
            .post(format!("{api}/v1/carts/{id}/items"))
            .json(&json!({"sku": sku, "quantity": 1}))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "add item: {}", r.text().await?);
        carts.push(id);
    }

    let sql_before = match &database_url {
        Some(u) => sql_calls(u).await,
        None => None,
    };
    println!("running {checkouts} checkouts at concurrency {concurrency}...");
    let gate = Arc::new(Semaphore::new(concurrency));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for cart in carts {
        let (gate, http, api, client) = (gate.clone(), http.clone(), api.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.expect("semaphore");
            one_checkout(&http, &api, &client, &cart).await
        }));
    }
    let mut samples = Vec::new();
    let mut errors = 0;
    for t in tasks {
        match t.await? {
            Ok(s) => samples.push(s),
            Err(e) => {
                errors += 1;
                eprintln!("checkout error: {e:#}");
            }
        }
    }
    let wall = start.elapsed();
    let sql_after = match &database_url {
        Some(u) => sql_calls(u).await,
        None => None,
    };
    let completed = samples.iter().filter(|s| s.ok).count();
    let mut decided: Vec<Duration> = samples.iter().map(|s| s.decided).collect();
    let mut done: Vec<Duration> = samples.iter().map(|s| s.completed).collect();
    decided.sort();
    done.sort();
    let checkout_rate = completed as f64 / wall.as_secs_f64();
    println!();
    println!(
        "checkouts: {completed} completed, {} failed, {errors} errors in {:.1} s",
        samples.len() - completed,
        wall.as_secs_f64()
    );
    println!("checkouts/s: {checkout_rate:.1}");
    println!(
        "to decided:  p50 {}  p95 {}  p99 {}",
        ms(percentile(&decided, 0.50)),
        ms(percentile(&decided, 0.95)),
        ms(percentile(&decided, 0.99))
    );
    println!(
        "to completed: p50 {}  p95 {}  p99 {}",
        ms(percentile(&done, 0.50)),
        ms(percentile(&done, 0.95)),
        ms(percentile(&done, 0.99))
    );
    match (sql_before, sql_after) {
        (Some(b), Some(a)) if checkouts > 0 => report_sql(&b, &a, checkouts, sql_top),
        _ => println!(
            "SQL statements per checkout: n/a (pass --database-url with pg_stat_statements enabled)"
        ),
    }

    if no_baseline {
        return Ok(());
    }
    println!();
    println!(
        "running {checkouts} baseline workflows ({} no-op activities each) at concurrency {concurrency}...",
        baseline::STEPS
    );
    let queue = format!("souk.bench.{}", uuid::Uuid::new_v4().simple());
    let worker_queue = queue.clone();
    let (address2, namespace2) = (address.clone(), namespace.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = std::thread::spawn(move || -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let runtime = Runtime::from_current_tokio(Default::default())?;
            let client = temporal(&address2, &namespace2).await?;
            let opts = WorkerOptions::new(worker_queue)
                .register_workflow::<baseline::BaselineWorkflow>()?
                .register_activities(baseline::Noop)
                .build();
            let mut worker = Worker::new(&runtime, client, opts)?;
            let stop = worker.shutdown_handle();
            let run = worker.run();
            tokio::pin!(run);
            tokio::select! {
                r = &mut run => r?,
                _ = stop_rx => { stop(); run.await?; }
            }
            Ok(())
        })
    });
    let gate = Arc::new(Semaphore::new(concurrency));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..checkouts {
        let (gate, client, queue) = (gate.clone(), client.clone(), queue.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.expect("semaphore");
            let h = client
                .start_workflow(
                    baseline::BaselineWorkflow::run,
                    baseline::STEPS,
                    WorkflowStartOptions::new(queue, format!("bench-{}", uuid::Uuid::new_v4()))
                        .build(),
                )
                .await?;
            h.get_result(WorkflowGetResultOptions::default()).await?;
            anyhow::Ok(())
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await?.is_ok() {
            ok += 1;
        }
    }
    let baseline_wall = start.elapsed();
    let _ = stop_tx.send(());
    let _ = worker.join();
    let baseline_rate = ok as f64 / baseline_wall.as_secs_f64();
    println!(
        "baseline workflows/s: {baseline_rate:.1} ({ok} in {:.1} s)",
        baseline_wall.as_secs_f64()
    );
    println!(
        "ratio checkout/baseline: {:.2}",
        checkout_rate / baseline_rate
    );
    Ok(())
}
