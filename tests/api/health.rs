//! Liveness and readiness: `/healthz` and `/readyz` on the HTTP port, `grpc.health.v1` on the gRPC port.

use std::time::Duration;

use serde_json::json;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_and_readyz_answer_200_when_the_database_is_up() {
    let app = TestApp::spawn().await;
    let live = app.get("/healthz").await;
    assert_eq!(live.status, 200);
    assert_eq!(live.body, json!({ "status": "ok" }));
    app.wait_until_ready().await;
    assert_eq!(app.get("/readyz").await.body, json!({ "status": "ready" }));
}

#[tokio::test]
async fn readyz_is_503_while_the_schema_is_not_migrated() {
    let app = TestApp::spawn_with(|args| args.no_migrate = true).await;
    // Not a wait for a condition but a claim over time: for longer than the readiness watcher's 1 s period
    // (so it has checked the schema at least once), every answer is 503.
    let until = std::time::Instant::now() + Duration::from_millis(1500);
    while std::time::Instant::now() < until {
        let ready = app.get("/readyz").await;
        assert_eq!(ready.status, 503);
        assert_eq!(ready.body, json!({ "status": "not ready" }));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get("/healthz").await.status, 200, "alive all the same");
}

#[tokio::test]
async fn grpc_health_reports_serving_on_the_grpc_port() {
    let app = TestApp::spawn().await;
    app.wait_until_ready().await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.grpc_addr))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut health = HealthClient::new(channel);
    for service in ["", "cyberapp.tenants.v1.TenantService"] {
        let response =
            health.check(HealthCheckRequest { service: service.into() }).await.expect("health check").into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }
}
