//! `TenantStore`: every query and transaction on the tenant record. No tonic or HTTP types here.
//!
//! One file per callback family, named as the gateway's callback and the service's RPC are:
//! [`partner_mirroring`], [`partner_mapping`], [`customer_mirroring`], [`customer_mapping`] (its read here, its
//! write in `customer_mapping/write.rs`), and [`directory`] (vendor organizations and credentials). Below the
//! families, and importing none of them: [`cascade`] (what a partner reset does to its customers),
//! [`records`] (the tenant record: lookups by Acronis tenant, creation, the enable-or-update rule), [`sql`]
//! (shared SQL text), [`events`] (the outbox and its sequencer) and [`idempotency`] (the callback log).
//! [`queries`] holds the plain reads of vendor services, [`custom_callbacks`] what the gateway asks before it
//! calls a vendor's custom-callback handler, [`read_model`] the answers of the hot reads kept in memory and
//! kept current from the outbox. This file holds the write-transaction runner.
//!
//! Each change runs in one write transaction that also writes its outbox events, so a change and its event
//! commit together or not at all. On SQLite a write transaction starts with `BEGIN IMMEDIATE`: a deferred
//! transaction that reads first and writes later fails at once with "database is locked" when another writer
//! got in between, whereas an immediate one waits for the lock under the busy timeout. Within this process,
//! SQLite writers first wait their turn in an async queue (see `TenantStore::writer`).
//!
//! With traces on, each write transaction is a `store.write` span and the reads of a callback's path are
//! `store.read` spans, children of the TenantService call they serve.

mod cascade;
mod custom_callbacks;
mod customer_mapping;
mod customer_mirroring;
mod directory;
mod events;
mod idempotency;
mod partner_mapping;
mod partner_mirroring;
mod queries;
mod read_model;
mod records;
mod sql;

pub use custom_callbacks::{CallbackTenant, CustomCallbackClaim};
pub use customer_mapping::{CustomerMappingChange, CustomerOrganization};
pub use customer_mirroring::MirroredCustomer;
pub use directory::{CredentialImport, DirectoryImport, ImportSummary, OrganizationUpsert};
pub use idempotency::{IdempotencyKey, Recorded};
pub use partner_mirroring::MirroredPartnerEnablement;
pub use queries::TenantFilter;
pub use read_model::{ReadModel, ReadModelSettings, as_of_now};

use std::sync::Arc;

use chrono::Utc;
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, SqlErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use tokio::sync::Notify;
use tracing::Instrument as _;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::TenantError;
use crate::telemetry::tracing_enabled;

/// How often a write transaction is tried when it collides with a concurrent one.
const WRITE_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone)]
pub struct TenantStore {
    db: DatabaseConnection,
    /// Woken after every committed write, so the event sequencer runs at once rather than at its next tick.
    commits: Arc<Notify>,
    /// On SQLite, whose turn it is to write. SQLite has one writer at a time; left to SQLite, waiting writers
    /// poll its lock from a busy handler that sleeps up to 100 ms between tries, each holding a pooled
    /// connection. Queued here they wait their turn in order, without a connection. (Another process, such
    /// as `directory import`, still meets SQLite's own lock and busy timeout.)
    writer: Option<Arc<tokio::sync::Mutex<()>>>,
    /// The hot reads' answers, kept in memory and confirmed against the outbox (see [`read_model`]).
    read_model: Arc<ReadModel>,
    /// A test hook (`--test-pause-before-commit-ms`, hidden): how long each write transaction waits between
    /// its last statement and its commit. `None` outside tests.
    pause_before_commit: Option<std::time::Duration>,
}

/// A write transaction and, on SQLite, this process's writer turn, which must be held until it ends.
pub(super) type WriteTransaction = (Option<tokio::sync::OwnedMutexGuard<()>>, DatabaseTransaction);

impl TenantStore {
    pub fn new(db: DatabaseConnection) -> Self {
        let writer = (db.get_database_backend() == DbBackend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        let read_model = Arc::new(ReadModel::new(ReadModelSettings::default()));
        Self { db, commits: Arc::new(Notify::new()), writer, read_model, pause_before_commit: None }
    }

    /// This store with a read model of its own, built with `settings`.
    #[must_use]
    pub fn with_read_model(mut self, settings: ReadModelSettings) -> Self {
        self.read_model = Arc::new(ReadModel::new(settings));
        self
    }

    pub fn read_model(&self) -> &ReadModel {
        &self.read_model
    }

    /// Test hook: every write transaction pauses for `pause` before it commits (zero: no pause).
    #[must_use]
    pub fn with_pause_before_commit(mut self, pause: std::time::Duration) -> Self {
        self.pause_before_commit = (!pause.is_zero()).then_some(pause);
        self
    }

    /// Begins a write transaction (see the module's notes), on SQLite once this process's earlier writers are
    /// done.
    pub(super) async fn begin_write(&self) -> Result<WriteTransaction, DbErr> {
        let turn = match &self.writer {
            Some(writer) => Some(Arc::clone(writer).lock_owned().await),
            None => None,
        };
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        Ok((turn, self.db.begin_with_options(options).await?))
    }

    /// Notified after each committed write transaction.
    pub fn commits(&self) -> Arc<Notify> {
        Arc::clone(&self.commits)
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Runs `work` in a write transaction, committing on `Ok`. A collision with a concurrent writer (a
    /// unique key, a serialization failure, a deadlock) is retried a bounded number of times.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T, TenantError>
    where
        T: Serialize + DeserializeOwned,
        F: for<'t> Fn(
            &'t DatabaseTransaction,
        ) -> std::pin::Pin<Box<dyn Future<Output = Result<T, TenantError>> + Send + 't>>,
    {
        self.write_once(None, work).await.map(|recorded| recorded.outcome)
    }

    /// [`write`](Self::write), applied at most once per callback: with a `key`, the outcome is recorded in
    /// the same transaction as the change, and a later call with the same `request_id` returns that outcome
    /// (and the first `response_id`) without running `work` again. The same `request_id` with another body
    /// is [`TenantError::RequestIdReused`]. The claim is the first statement, so a concurrent duplicate waits
    /// on it and then replays the winner's outcome.
    pub(super) async fn write_once<T, F>(
        &self,
        key: Option<&IdempotencyKey>,
        work: F,
    ) -> Result<Recorded<T>, TenantError>
    where
        T: Serialize + DeserializeOwned,
        F: for<'t> Fn(
            &'t DatabaseTransaction,
        ) -> std::pin::Pin<Box<dyn Future<Output = Result<T, TenantError>> + Send + 't>>,
    {
        if !tracing_enabled() {
            return self.write_once_untraced(key, work).await;
        }
        // The transaction's span: the system, whether it was idempotent, and whether it replayed; never keys.
        let span = tracing::info_span!(
            "store.write",
            db.system = self.db_system(),
            idempotent = key.is_some(),
            replayed = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let written = self.write_once_untraced(key, work).instrument(span.clone()).await;
        match &written {
            Ok(recorded) => span.record("replayed", recorded.replayed),
            Err(_) => span.record("otel.status_code", "ERROR"),
        };
        written
    }

    /// Runs `query`, a read, under a `store.read` span named by `operation` when traces are on.
    pub(super) async fn read<T>(
        &self,
        operation: &'static str,
        query: impl Future<Output = Result<T, TenantError>>,
    ) -> Result<T, TenantError> {
        if !tracing_enabled() {
            return query.await;
        }
        query
            .instrument(tracing::info_span!("store.read", db.operation.name = operation, db.system = self.db_system()))
            .await
    }

    /// OpenTelemetry's `db.system` name of the backend.
    fn db_system(&self) -> &'static str {
        match self.db.get_database_backend() {
            DbBackend::Postgres => "postgresql",
            DbBackend::Sqlite => "sqlite",
            _ => "other_sql",
        }
    }

    async fn write_once_untraced<T, F>(&self, key: Option<&IdempotencyKey>, work: F) -> Result<Recorded<T>, TenantError>
    where
        T: Serialize + DeserializeOwned,
        F: for<'t> Fn(
            &'t DatabaseTransaction,
        ) -> std::pin::Pin<Box<dyn Future<Output = Result<T, TenantError>> + Send + 't>>,
    {
        let mut attempt = 1;
        loop {
            let (turn, tx) = self.begin_write().await?;
            let result = async {
                if let Some(key) = key
                    && !idempotency::claim(&tx, key).await?
                {
                    return idempotency::recorded(&tx, key).await;
                }
                let outcome = work(&tx).await?;
                if let Some(key) = key {
                    idempotency::record(&tx, key, &outcome).await?;
                }
                if let Some(pause) = self.pause_before_commit {
                    // The change is written but not committed: a test's request timeout fires here.
                    tokio::time::sleep(pause).await;
                }
                Ok(Recorded { outcome, response_id: key.map(|key| key.response_id.clone()), replayed: false })
            }
            .await;
            // Dropping the transaction on an error rolls it back.
            let outcome = match result {
                Ok(recorded) => tx.commit().await.map(|()| recorded).map_err(TenantError::from),
                Err(error) => Err(error),
            };
            // The next writer's turn; not held over the pause before a retry.
            drop(turn);
            if outcome.is_ok() {
                self.read_model.committed();
                self.commits.notify_one();
            }
            match outcome {
                Err(TenantError::Internal(ref db_error) | TenantError::Unavailable(ref db_error))
                    if is_collision(db_error) && attempt < WRITE_ATTEMPTS =>
                {
                    tracing::debug!(attempt, "write collided with a concurrent one; retrying");
                    // A short, growing, jittered pause lets the winner finish instead of colliding again.
                    let jitter = u64::from(rand_core::RngCore::next_u32(&mut rand_core::OsRng) % 10);
                    tokio::time::sleep(std::time::Duration::from_millis(u64::from(attempt) * 10 + jitter)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// A unique-key race with a concurrent insert, or a PostgreSQL serialization failure or deadlock: the
/// transaction lost a race and a retry will see the winner's result.
fn is_collision(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) || super::error::is_lost_race(error)
}

/// The moment before which records older than `retention` were written.
fn cutoff(retention: std::time::Duration) -> chrono::DateTime<Utc> {
    chrono::Duration::from_std(retention)
        .ok()
        .and_then(|retention| Utc::now().checked_sub_signed(retention))
        .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC)
}
