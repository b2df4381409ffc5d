//! `TenantError`: everything the TenantService can refuse or fail with, and its one mapping to gRPC status.
//!
//! Messages of the refusal variants are written for a partner admin (the gateway shows them as
//! `err_message`); database detail is logged here and never leaves the process.

use std::time::Duration;

use sea_orm::DbErr;
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

use crate::grpc::metadata::RETRY_AFTER_METADATA;

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// The request is well formed, but the state of the data does not allow it (a directory rule, a cursor
    /// whose events are gone). gRPC `FAILED_PRECONDITION`; the gateway answers it as a refusal (403).
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{reason}")]
    Throttled { reason: &'static str, retry_after: Duration },
    /// A `request_id` already used by a callback with another body.
    #[error("This request_id was already used for a different request.")]
    RequestIdReused,
    #[error("the tenant database is unavailable")]
    Unavailable(#[source] DbErr),
    #[error("internal error")]
    Internal(#[source] DbErr),
    /// A fault that is not the database's (a panicked blocking task, a hashing failure).
    #[error("internal error")]
    Fault(String),
}

impl From<DbErr> for TenantError {
    fn from(error: DbErr) -> Self {
        match &error {
            // No connection could be had (server down, pool exhausted, SQLite locked past the busy timeout).
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::Unavailable(error),
            _ if is_connection_failure(&error) || is_lost_race(&error) => Self::Unavailable(error),
            _ => Self::Internal(error),
        }
    }
}

impl TenantError {
    /// Prefixes a refusal's message with what it concerns (e.g. the directory entry being imported).
    #[must_use]
    pub fn in_context(self, context: &str) -> Self {
        match self {
            Self::InvalidArgument(message) => Self::InvalidArgument(format!("{context}: {message}")),
            Self::NotFound(message) => Self::NotFound(format!("{context}: {message}")),
            Self::PermissionDenied(message) => Self::PermissionDenied(format!("{context}: {message}")),
            Self::FailedPrecondition(message) => Self::FailedPrecondition(format!("{context}: {message}")),
            other => other,
        }
    }
}

/// A statement that failed because the connection broke (I/O, TLS, pool closed, PostgreSQL shutting down)
/// rather than because of the statement itself.
fn is_connection_failure(error: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as SqlxError;
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx))) = error else {
        return false;
    };
    match sqlx.as_ref() {
        SqlxError::Io(_)
        | SqlxError::Tls(_)
        | SqlxError::PoolTimedOut
        | SqlxError::PoolClosed
        | SqlxError::WorkerCrashed => true,
        // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now; SQLite 5/6 busy/locked.
        SqlxError::Database(db) => {
            matches!(db.code().as_deref(), Some("57P01" | "57P02" | "57P03" | "5" | "6" | "517" | "261"))
        }
        _ => false,
    }
}

/// PostgreSQL 40001 (serialization failure) or 40P01 (deadlock detected): retryable, not a fault.
pub fn is_lost_race(error: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as SqlxError;
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx))) = error else {
        return false;
    };
    matches!(sqlx.as_ref(), SqlxError::Database(db) if matches!(db.code().as_deref(), Some("40001" | "40P01")))
}

impl From<TenantError> for Status {
    fn from(error: TenantError) -> Self {
        match error {
            TenantError::InvalidArgument(message) => Status::invalid_argument(message),
            TenantError::NotFound(message) => Status::not_found(message),
            TenantError::PermissionDenied(message) => Status::permission_denied(message),
            TenantError::FailedPrecondition(message) => Status::failed_precondition(message),
            TenantError::Unauthenticated(message) => Status::unauthenticated(message),
            TenantError::RequestIdReused => Status::already_exists(TenantError::RequestIdReused.to_string()),
            TenantError::Throttled { reason, retry_after } => {
                let mut status = Status::resource_exhausted(reason);
                // Round up: "retry after 0 seconds" would invite an immediate retry into the same lock.
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                status.metadata_mut().insert(RETRY_AFTER_METADATA, MetadataValue::from(seconds.max(1)));
                status
            }
            TenantError::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                Status::new(Code::Unavailable, "the tenant database is unavailable, try again shortly")
            }
            TenantError::Internal(source) => {
                tracing::error!(error = %source, "database error");
                Status::internal("internal error")
            }
            TenantError::Fault(detail) => {
                tracing::error!(%detail, "internal fault");
                Status::internal("internal error")
            }
        }
    }
}
