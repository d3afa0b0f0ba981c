//! Database ownership: one schema and one login role per domain.
//!
//! `provision` (run with an administrative connection) creates role `souk_<schema>` and schema
//! `<schema>` owned by it. Each domain then connects as its own role, whose `search_path` is
//! its schema and which has no privileges on any other domain's schema, so "no domain reads
//! another's tables" is enforced by Postgres, not by convention. Each domain's migrations
//! (`migrations/<schema>/`) run as that role and are tracked in `<schema>._sqlx_migrations`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

/// A data owner: a Postgres schema, the role that owns it and its migrations. Each domain
/// crate declares its one `SCHEMA`; names are fixed in code, never taken from input.
#[derive(Debug)]
pub struct Schema {
    name: &'static str,
    migrator: &'static Migrator,
}

impl Schema {
    pub const fn new(name: &'static str, migrator: &'static Migrator) -> Self {
        Self { name, migrator }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The login role that owns this schema.
    pub fn role(&self) -> String {
        format!("souk_{}", self.name)
    }

    pub fn migrator(&self) -> &'static Migrator {
        self.migrator
    }

    /// Connection options for this domain's role, derived from the administrative options
    /// (same host, port and database).
    pub fn connect_options(&self, admin: &PgConnectOptions, password: &str) -> PgConnectOptions {
        admin
            .clone()
            .username(&self.role())
            .password(password)
            .options([("search_path", self.name())])
            .application_name(&format!("souk-{}", self.name()))
    }
}

/// Creates (or updates) the domain's role and schema. Idempotent; safe to run concurrently,
/// also from databases of one cluster: roles belong to the cluster, while the advisory lock
/// that orders provisioners only spans one database, so a provisioner that loses a race to
/// create a role (another database's got there first) runs again and alters it instead.
pub async fn provision(
    admin: &mut PgConnection,
    schema: &Schema,
    password: &str,
) -> sqlx::Result<()> {
    let mut tries: u64 = 0;
    loop {
        match provision_once(admin, schema, password).await {
            // Duplicate role, or a role row another database's provisioner was changing.
            Err(sqlx::Error::Database(e))
                if tries < 3
                    && (matches!(e.code().as_deref(), Some("23505" | "42710"))
                        || e.message().contains("tuple concurrently updated")) =>
            {
                tries += 1;
                // Apart, so racers retrying together do not collide again.
                let jitter = (uuid::Uuid::new_v4().as_u128() % 50) as u64;
                tokio::time::sleep(Duration::from_millis(20 * tries + jitter)).await;
            }
            other => return other,
        }
    }
}

async fn provision_once(
    admin: &mut PgConnection,
    schema: &Schema,
    password: &str,
) -> sqlx::Result<()> {
    let role = schema.role();
    let mut tx = admin.begin().await?;
    // Serialise concurrent provisioners of this database: CREATE ROLE has no IF NOT EXISTS.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('souk.provision'))")
        .execute(&mut *tx)
        .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(&role)
            .fetch_one(&mut *tx)
            .await?;
    // Role and schema names are fixed in the domains' code; the password is quoted by
    // Postgres itself (format %L), never by us.
    let verb = if exists { "ALTER" } else { "CREATE" };
    let ddl: String = sqlx::query_scalar(
        "SELECT format('%s ROLE %I LOGIN PASSWORD %L', $1::text, $2::text, $3::text)",
    )
    .bind(verb)
    .bind(&role)
    .bind(password)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(&ddl).execute(&mut *tx).await?;
    // The administrative role must be a member to create a schema owned by the domain role.
    let grant: String = sqlx::query_scalar("SELECT format('GRANT %I TO CURRENT_USER', $1::text)")
        .bind(&role)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(&grant).execute(&mut *tx).await?;
    let stmts: Vec<String> = sqlx::query_scalar(
        "SELECT unnest(ARRAY[
            format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', $1::text, $2::text),
            format('ALTER SCHEMA %I OWNER TO %I', $1::text, $2::text),
            format('ALTER ROLE %I SET search_path = %I', $2::text, $1::text)
        ])",
    )
    .bind(schema.name())
    .bind(&role)
    .fetch_all(&mut *tx)
    .await?;
    for stmt in stmts {
        sqlx::query(&stmt).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// Runs the domain's pending migrations on `conn`, which must be connected as the domain's
/// role (or a superuser, in tests). The schema must exist (see [`provision`]).
pub async fn migrate(
    conn: &mut PgConnection,
    schema: &Schema,
) -> Result<(), sqlx::migrate::MigrateError> {
    let set = format!("SET search_path TO {}", schema.name());
    sqlx::raw_sql(&set).execute(&mut *conn).await?;
    schema.migrator().run(&mut *conn).await
}

/// A pool for one domain.
/// A pool of at most `max_connections`. A caller waits at most `acquire_timeout` for a
/// connection: well below what the API gives a call, so a busy pool is answered quickly as
/// busy (and retried), not slowly as a timeout.
pub async fn connect(
    options: PgConnectOptions,
    max_connections: u32,
    acquire_timeout: Duration,
) -> sqlx::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .connect_with(options)
        .await
}

/// Parses a `postgres://` URL.
pub fn parse_url(url: &str) -> sqlx::Result<PgConnectOptions> {
    PgConnectOptions::from_str(url)
}
