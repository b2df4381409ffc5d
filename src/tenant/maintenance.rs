//! Background upkeep of the tenant database: expiring idempotency-log rows and change events older than
//! their retention, so both tables stay bounded. Every replica runs it; the deletes are idempotent.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::store::TenantStore;

/// How long each kind of record is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub idempotency: Duration,
    pub events: Duration,
}

impl Retention {
    /// Sweeps often enough that nothing outlives its retention by much more than a quarter of it, and at
    /// least every ten minutes; never more than once a second.
    fn sweep_interval(self) -> Duration {
        (self.idempotency.min(self.events) / 4).clamp(Duration::from_secs(1), Duration::from_mins(10))
    }
}

/// Runs until `shutdown` is cancelled.
pub async fn sweep(store: TenantStore, retention: Retention, shutdown: CancellationToken) {
    loop {
        match store.expire_idempotency_log(retention.idempotency).await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "expired idempotency records"),
            Err(error) => tracing::warn!(%error, "could not expire idempotency records"),
        }
        match store.expire_events(retention.events).await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "expired change events"),
            Err(error) => tracing::warn!(%error, "could not expire change events"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(retention.sweep_interval()) => {}
        }
    }
}
