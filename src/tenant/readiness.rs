//! Keeps the gRPC health status of the TenantService true to its database: SERVING while the database
//! answers and every migration this binary knows is applied (a newer release's extra ones do not matter, see
//! `db::migration`), NOT_SERVING otherwise and from the moment shutdown begins.
//!
//! A short periodic check (rather than one per probe) keeps `/readyz` and health probes cheap and lets the
//! service recover on its own when the database comes back.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::db::migration::{schema_status, warn_about_newer};
use crate::grpc::TENANT_SERVICE_NAME;

const CHECK_INTERVAL: Duration = Duration::from_secs(1);
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs until `shutdown` is cancelled, then reports NOT_SERVING and returns.
pub async fn watch(db: DatabaseConnection, reporter: HealthReporter, shutdown: CancellationToken) {
    let mut schema_current = false;
    let mut last = None;
    loop {
        let status = tokio::select! {
            () = shutdown.cancelled() => break,
            status = check(&db, &mut schema_current) => status,
        };
        crate::metrics::record_pool(&db);
        if last != Some(status) {
            tracing::info!(%status, "TenantService health changed");
            set(&reporter, status).await;
            last = Some(status);
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(CHECK_INTERVAL) => {}
        }
    }
    set(&reporter, ServingStatus::NotServing).await;
}

async fn check(db: &DatabaseConnection, schema_current: &mut bool) -> ServingStatus {
    let healthy = tokio::time::timeout(CHECK_TIMEOUT, async {
        db.ping().await.ok()?;
        if !*schema_current {
            // Once current, the schema stays current for the life of this process. Migrations of a newer
            // release (after a rollback) do not count against it.
            let status = schema_status(db).await.ok()?;
            *schema_current = status.is_current();
            if *schema_current {
                warn_about_newer(&status.newer);
            }
        }
        Some(*schema_current)
    })
    .await;
    if matches!(healthy, Ok(Some(true))) { ServingStatus::Serving } else { ServingStatus::NotServing }
}

async fn set(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status(TENANT_SERVICE_NAME, status).await;
    // The empty name is the whole server, which is what generic probes ask about.
    reporter.set_service_status("", status).await;
}
