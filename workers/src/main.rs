//! `souk`: every Souk process in one binary.

use clap::{Parser, Subcommand};
use souk_contracts::queues::Domain;
use souk_workers::{Config, Parts, Stack, stack, telemetry};

#[derive(Parser)]
#[command(
    name = "souk",
    version,
    about = "Souk marketplace: API, workers and tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process: migrations, every domain worker, the workflow worker, the API.
    Dev,
    /// The REST API.
    Api,
    /// Domain workers: each serves its gRPC service and polls its task queue.
    Worker {
        /// catalog, inventory, pricing, cart
        #[arg(required = true, value_parser = parse_domain)]
        domains: Vec<Domain>,
    },
    /// The workflow worker (task queue souk.workflows).
    Workflows,
    /// Create each domain's role and schema and run its migrations.
    Migrate,
    /// Load the demo data (skipped if it is there already).
    Seed,
}

fn parse_domain(s: &str) -> Result<Domain, String> {
    Domain::parse(s)
        .ok_or_else(|| format!("unknown domain `{s}` (catalog, inventory, pricing, cart)"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let cfg = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("souk: invalid configuration: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(&cfg.log.format);
    match run(cli.command, cfg).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "souk failed");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, cfg: Config) -> anyhow::Result<()> {
    let parts = match command {
        Command::Migrate => return stack::migrate(&cfg).await,
        Command::Seed => {
            let s = stack::seed(&cfg).await?;
            if s.skipped {
                tracing::info!("demo data already loaded; nothing to do");
            } else {
                tracing::info!(
                    vendors = s.vendors,
                    categories = s.categories,
                    products = s.products,
                    variants = s.variants,
                    coupons = s.coupons,
                    "demo data loaded"
                );
            }
            return Ok(());
        }
        Command::Dev => {
            stack::migrate(&cfg).await?;
            Parts::all()
        }
        Command::Api => Parts {
            api: true,
            workflows: false,
            domains: vec![],
        },
        Command::Worker { domains } => Parts {
            api: false,
            workflows: false,
            domains,
        },
        Command::Workflows => Parts {
            api: false,
            workflows: true,
            domains: vec![],
        },
    };
    let mut running = Stack::start(cfg, parts).await?;
    tokio::select! {
        _ = shutdown_signal() => {
            tracing::info!("shutting down");
            running.stop().await;
            Ok(())
        }
        e = running.wait_for_failure() => {
            running.stop().await;
            Err(e)
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
