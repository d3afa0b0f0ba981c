//! Temporal workers. The SDK's worker is not `Send`, so each runs on its own OS thread with a
//! current-thread Tokio runtime; it builds its own resources (pools, clients) on that runtime.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use temporalio_client::{Client, ClientOptions, ConnectionOptions, Url};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};
use tokio::sync::watch;

use crate::config;

/// Connects to Temporal, retrying every second until it answers or shutdown is requested.
pub async fn connect(
    cfg: &config::Temporal,
    identity: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<Option<Client>> {
    let url = Url::parse(&cfg.address)?;
    let mut warned = false;
    loop {
        let attempt = Client::connect(
            ConnectionOptions::new(url.clone())
                .identity(identity.to_string())
                .build(),
            ClientOptions::new(cfg.namespace.clone())
                .data_converter(cfg.data_converter()?)
                .build(),
        )
        .await;
        match attempt {
            Ok(c) => {
                if warned {
                    tracing::info!(address = %cfg.address, "connected to Temporal");
                }
                return Ok(Some(c));
            }
            Err(e) => {
                if !warned {
                    tracing::warn!(address = %cfg.address, error = %e, "Temporal not reachable yet; retrying");
                    warned = true;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return Ok(None),
        }
    }
}

/// Builds a worker's options (registering workflows or activities) on the worker's own thread.
pub type Setup =
    Box<dyn FnOnce(String) -> Pin<Box<dyn Future<Output = anyhow::Result<WorkerOptions>>>> + Send>;

/// Starts a worker polling `queue` on a new thread. It stops, finishing in-flight tasks, when
/// `shutdown` turns true.
pub fn spawn_worker(
    name: &str,
    cfg: config::Temporal,
    queue: String,
    setup: Setup,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<anyhow::Result<()>>> {
    let identity = format!("souk-{name}@{}", std::process::id());
    std::thread::Builder::new()
        .name(format!("temporal-{name}"))
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let runtime = Runtime::from_current_tokio(Default::default())?;
                let Some(client) = connect(&cfg, &identity, &mut shutdown).await? else {
                    return Ok(());
                };
                let options = setup(queue.clone()).await?;
                let mut worker = Worker::new(&runtime, client, options)?;
                let stop = worker.shutdown_handle();
                tracing::info!(task_queue = %queue, "Temporal worker polling");
                let run = worker.run();
                tokio::pin!(run);
                tokio::select! {
                    r = &mut run => r?,
                    _ = shutdown.changed() => {
                        stop();
                        run.await?;
                    }
                }
                tracing::info!(task_queue = %queue, "Temporal worker stopped");
                Ok(())
            })
        })
}

/// Registers the search attributes workflows set (`OrderNo`, `CustomerEmail`, ...) with the
/// namespace, if they are missing. Best effort: a server that refuses (or a cluster where an
/// operator manages them) is logged, not fatal.
pub async fn ensure_search_attributes(cfg: &config::Temporal) {
    use temporalio_common::protos::temporal::api::enums::v1::IndexedValueType;
    use temporalio_common::protos::temporal::api::operatorservice::v1::AddSearchAttributesRequest;

    let (tx, mut rx) = watch::channel(false);
    let connect =
        tokio::time::timeout(Duration::from_secs(10), connect(cfg, "souk-setup", &mut rx));
    let client = match connect.await {
        Ok(Ok(Some(c))) => c,
        _ => {
            tracing::warn!("could not reach Temporal to register search attributes");
            return;
        }
    };
    drop(tx);
    let mut operator = client.connection().operator_service();
    // One at a time: the server refuses a whole request if any attribute exists already.
    for name in souk_contracts::search_attributes() {
        let request = AddSearchAttributesRequest {
            search_attributes: [(name.to_string(), IndexedValueType::Keyword as i32)]
                .into_iter()
                .collect(),
            namespace: cfg.namespace.clone(),
        };
        match operator
            .add_search_attributes(tonic::Request::new(request))
            .await
        {
            Ok(_) => tracing::info!(name, "search attribute registered"),
            Err(s)
                if s.code() == tonic::Code::AlreadyExists
                    || s.message().contains("already exists") => {}
            Err(s) => tracing::warn!(name, error = %s,
                "search attribute not registered; register it with `temporal operator search-attribute create`"),
        }
    }
}
