//! Background upkeep of the tenant database: expiring idempotency-log rows older than the retention, so the
//! table stays bounded. Every replica runs it; the deletes are idempotent.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use super::store::expire_idempotency_log;

/// How often expired rows are swept.
const SWEEP_INTERVAL: Duration = Duration::from_mins(10);

/// Runs until `shutdown` is cancelled.
pub async fn sweep(db: DatabaseConnection, retention: Duration, shutdown: CancellationToken) {
    loop {
        match expire_idempotency_log(&db, retention).await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "expired idempotency records"),
            Err(error) => tracing::warn!(%error, "could not expire idempotency records"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(SWEEP_INTERVAL) => {}
        }
    }
}
