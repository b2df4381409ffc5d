//! `GET /healthz` (the process is alive) and `GET /readyz` (the TenantService reports SERVING: its database
//! answers and its schema is current). The gateway learns readiness over gRPC health, never from the
//! database itself.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::grpc::{HealthClient, TENANT_SERVICE_NAME};

const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn live() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

pub async fn ready(State(mut health): State<HealthClient>) -> impl IntoResponse {
    let request = HealthCheckRequest { service: TENANT_SERVICE_NAME.to_owned() };
    let serving = match tokio::time::timeout(READINESS_TIMEOUT, health.check(request)).await {
        Ok(Ok(response)) => response.into_inner().status() == ServingStatus::Serving,
        Ok(Err(_)) | Err(_) => false,
    };
    if serving {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "not ready" })))
    }
}
