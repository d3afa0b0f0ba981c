//! `souk`: every Souk process in one binary.

use clap::{Parser, Subcommand};
use souk_kit::domain::Domain;
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
        /// catalog, inventory, pricing, cart, vendors, orders, payments, notifications, auth, users
        #[arg(required = true, value_parser = parse_domain)]
        domains: Vec<&'static dyn Domain>,
    },
    /// The workflow worker (task queue souk.workflows).
    Workflows,
    /// Create each domain's role and schema and run its migrations.
    Migrate,
    /// Load the demo catalog (skipped if it is there already). Refused by the production
    /// profile.
    Seed {
        /// Also create the demo accounts, whose password and operator authenticator are
        /// published (development only).
        #[arg(long)]
        demo: bool,
    },
    /// Accounts and signing keys (talks to the database as the auth domain).
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Shipments: developer tools.
    Shipping {
        #[command(subcommand)]
        command: ShippingCommand,
    },
}

#[derive(Subcommand)]
enum ShippingCommand {
    /// Reports a tracking event for a sandbox label, as the sandbox carrier would: a signed
    /// webhook to the API's carrier endpoint (the way a real carrier's events go).
    Simulate {
        /// The label's tracking code (`SBX...`).
        tracking_code: String,
        /// in_transit, out_for_delivery, delivered, exception or returned_to_sender.
        status: String,
        /// Where the carrier saw the parcel.
        #[arg(long)]
        location: Option<String>,
        /// The API's base URL (default: where this configuration's API listens).
        #[arg(long)]
        api: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuthCommand {
    /// Sign new access tokens with a new key; tokens signed before keep working until they
    /// expire.
    RotateKeys,
    /// Print the current code of a TOTP secret (for the demo operator, whose secret is
    /// public; never use it with a real one on a shared machine).
    TotpCode {
        #[arg(long, default_value = "admin@souk.local")]
        email: String,
        /// Base32, as authenticators show it.
        #[arg(long, default_value = souk_workers::stack::DEMO_TOTP_SECRET)]
        secret: String,
    },
    /// Create an account with roles (for example the first super admin).
    CreateUser {
        #[arg(long)]
        email: String,
        /// The password (or set SOUK_NEW_USER_PASSWORD).
        #[arg(long, env = "SOUK_NEW_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// customer, vendor_admin, staff, super_admin (repeatable)
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The vendor a vendor_admin manages.
        #[arg(long)]
        vendor_id: Option<uuid::Uuid>,
    },
}

fn parse_domain(s: &str) -> Result<&'static dyn Domain, String> {
    souk_workers::registry::find(s)
        .ok_or_else(|| format!("unknown domain `{s}` ({})", souk_workers::registry::names()))
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
        Command::Seed { demo } => {
            anyhow::ensure!(
                cfg.profile != souk_workers::config::Profile::Production,
                "the production profile does not load demo data"
            );
            let s = stack::seed(&cfg, demo).await?;
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
        Command::Auth { command } => return auth(command, &cfg).await,
        Command::Shipping { command } => return shipping(command, &cfg).await,
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

async fn shipping(command: ShippingCommand, cfg: &Config) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    let ShippingCommand::Simulate {
        tracking_code,
        status,
        location,
        api,
    } = command;
    let settings = souk_shipping::domain::Settings::load(&cfg.settings())?;
    anyhow::ensure!(
        settings.carrier_name()? == "sandbox",
        "only the sandbox carrier's events can be simulated; this configuration ships with {}",
        settings.carrier_name()?
    );
    let status = souk_domain::shipment::ShipmentStatus::parse(&status)
        .ok_or_else(|| anyhow::anyhow!("`{status}` is not a shipment status"))?;
    let api = api.unwrap_or_else(|| format!("http://{}", cfg.api.listen));
    let answer = souk_shipping::carrier::sandbox::send_event(
        &api,
        settings.sandbox_webhook_secret.expose_secret(),
        &tracking_code,
        status,
        location.as_deref(),
    )
    .await?;
    println!("{answer}");
    Ok(())
}

async fn auth(command: AuthCommand, cfg: &Config) -> anyhow::Result<()> {
    use souk_auth::Meta;
    use souk_domain::identity::Role;
    if let AuthCommand::TotpCode { email, secret } = &command {
        let secret = souk_auth::mfa::from_base32(secret)
            .ok_or_else(|| anyhow::anyhow!("the secret is not base32"))?;
        println!(
            "{}",
            souk_auth::mfa::code_at(&secret, email, chrono::Utc::now())?
        );
        return Ok(());
    }
    let pool = souk_workers::domains::pool(cfg, &souk_auth::SCHEMA, 2).await?;
    let service = souk_workers::domains::auth_service(cfg, pool).await?;
    let meta = Meta::system("cli");
    match command {
        AuthCommand::RotateKeys => {
            let r = service.rotate_keys(&meta).await?;
            println!("signing with {}; still verifying {:?}", r.kid, r.retired);
        }
        AuthCommand::CreateUser {
            email,
            password,
            roles,
            vendor_id,
        } => {
            let roles = roles
                .iter()
                .map(|r| Role::parse(r).ok_or_else(|| anyhow::anyhow!("unknown role `{r}`")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let u = service
                .create_user(&meta, &email, &password, &roles, vendor_id)
                .await?;
            println!("created {} ({})", u.email, u.id);
        }
        AuthCommand::TotpCode { .. } => unreachable!("handled above"),
    }
    Ok(())
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
