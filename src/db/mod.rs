//! Storage: the SeaORM entities ([`entity`], one file per table), the migrations that create their tables
//! ([`migration`]), and how to connect ([`connect`]).
//!
//! Queries on these tables run in `tenant::store` alone; elsewhere the tenant half only pings the pool
//! (`tenant::readiness`) and the app runs the migrations at start-up. The gateway never imports this module.

pub mod entity;
pub mod migration;

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// How long a request waits for a pooled connection (or, on SQLite, for the write lock) before the
/// database counts as unavailable.
const WAIT_FOR_DATABASE: Duration = Duration::from_secs(5);

/// A pooled connection idle for this long is pinged before it is used again.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(30);

/// Opens a connection pool for `url` (`sqlite://…` or `postgres://…`).
///
/// SQLite runs in WAL mode with a busy timeout so that concurrent writers wait for each other instead of
/// failing, and with `synchronous=FULL` so that a commit we answered 200 for survives a crash. PostgreSQL
/// runs without JIT compilation.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .connect_timeout(WAIT_FOR_DATABASE)
        .acquire_timeout(WAIT_FOR_DATABASE)
        // sqlx pings every connection it hands out by default: on SQLite a round trip to the connection's
        // thread, on PostgreSQL one to the server, doubling the cost of a one-query callback. Only a connection
        // idle long enough to have been dropped by a server or a NAT is worth the check; sqlx still tests
        // each connection when it comes back to the pool.
        .test_before_acquire_if_idle_for(IDLE_BEFORE_PING)
        // Statements are logged by our own spans; sqlx's per-query logging is noise at info level.
        .sqlx_logging(false)
        // PostgreSQL compiles a statement whose estimated cost passes `jit_above_cost` (JIT is on by default):
        // hundreds of milliseconds for the customer walks, whose estimates are far above what they read
        // (`tenant::store::sql`), and never worth it for the short statements of this service.
        .map_sqlx_postgres_opts(|postgres| postgres.options([("jit", "off")]))
        .map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(WAIT_FOR_DATABASE)
                .foreign_keys(true)
        });
    Database::connect(options).await
}
