//! `GET /healthz` (the process is alive) and `GET /readyz` (the TenantService reports SERVING: its database
//! answers and its schema is current; and this process is not shutting down). The gateway learns readiness
//! over gRPC health, never from the database itself.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;

use super::Probes;
use crate::grpc::TENANT_SERVICE_NAME;

const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn live() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

pub async fn ready(State(probes): State<Arc<Probes>>) -> impl IntoResponse {
    // A shutting-down process is not ready whatever the TenantService says: in a gateway-only process that
    // service is another process, which is not going away.
    let serving = !probes.draining.is_cancelled() && {
        // The generated client calls through `&mut self`.
        let mut health = probes.health.clone();
        let request = HealthCheckRequest { service: TENANT_SERVICE_NAME.to_owned() };
        match tokio::time::timeout(READINESS_TIMEOUT, health.check(request)).await {
            Ok(Ok(response)) => response.into_inner().status() == ServingStatus::Serving,
            Ok(Err(_)) | Err(_) => false,
        }
    };
    if serving {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "not ready" })))
    }
}
