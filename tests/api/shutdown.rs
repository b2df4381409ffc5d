//! Shutdown (SIGTERM, here the same token cancelled in-process): from the moment it begins, `/readyz` answers
//! 503 and `grpc.health.v1.Health/Check` NOT_SERVING on the still-open ports, new callbacks get 503 with
//! `Retry-After`, and the callbacks in flight finish; then the ports close.

use std::time::{Duration, Instant};

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{
    OTHER_TENANT, PARTNER_ENABLE_OK, PARTNER_TENANT, TestApp, enable_partner, get_partner_state, http_client,
};

/// How long the in-flight callback's write transaction stays open: the window in which the probes are asked.
const IN_FLIGHT_MS: u64 = 5000;

/// `/readyz`'s status, `None` while the port does not answer.
async fn readyz(app: &TestApp) -> Option<u16> {
    let response = http_client().get(format!("{}/readyz", app.base_url)).send().await.ok()?;
    Some(response.status().as_u16())
}

/// The gRPC port's health of the whole server, `None` while the port does not answer.
async fn grpc_health(app: &TestApp) -> Option<ServingStatus> {
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", app.grpc_addr)).ok()?.connect().await.ok()?;
    let response = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await.ok()?;
    Some(response.into_inner().status())
}

#[tokio::test]
async fn readiness_and_grpc_health_turn_not_serving_when_shutdown_begins_while_callbacks_drain() {
    let app = TestApp::spawn_with(|args| {
        // One slot, so that a 429 tells the test the slow callback holds it (it is in flight).
        args.max_concurrent_callbacks = 1;
        args.shutdown_timeout_secs = 30;
        args.test_hooks.test_pause_before_commit_ms = IN_FLIGHT_MS;
    })
    .await;
    app.wait_until_ready().await;
    assert_eq!(grpc_health(&app).await, Some(ServingStatus::Serving));

    let enable = enable_partner(PARTNER_TENANT, "ACME", None);
    let send_slow = || {
        let request = http_client().post(format!("{}/callback", app.base_url)).bearer_auth(app.token()).json(&enable);
        tokio::spawn(request.send())
    };
    let mut slow = send_slow();
    // Generous: under load the first callback also waits for the IdP's keys.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if slow.is_finished() {
            // Shed because a probe below held the one slot at that moment: send it again.
            let shed = slow.await.expect("task").expect("answered");
            assert_eq!(shed.status(), 429, "the slow callback ended before shutdown began");
            slow = send_slow();
        }
        if app.callback(&get_partner_state(OTHER_TENANT)).await.status == 429 && !slow.is_finished() {
            break;
        }
        assert!(Instant::now() < deadline, "the slow callback never took its slot");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    app.begin_shutdown();

    // While the slow callback drains, both probes must answer, and answer "not ready".
    let deadline = Instant::now() + Duration::from_secs(4);
    loop {
        let (ready, health) = (readyz(&app).await, grpc_health(&app).await);
        assert!(
            !slow.is_finished(),
            "the in-flight callback finished before the probes said not ready (readyz {ready:?}, gRPC {health:?})"
        );
        if ready == Some(503) && health == Some(ServingStatus::NotServing) {
            break;
        }
        assert!(Instant::now() < deadline, "still readyz {ready:?}, gRPC health {health:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A new callback is turned away for a retry elsewhere rather than started on a replica going down.
    let late = app.callback(&get_partner_state(OTHER_TENANT)).await;
    late.assert_error(503);
    assert!(late.headers.contains_key("retry-after"));
    assert!(!slow.is_finished(), "the drain must still be waiting for the slow callback");

    let response = slow.await.expect("task").expect("the in-flight callback is answered during the drain");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["type"], PARTNER_ENABLE_OK);
    assert!(app.tenant_by_acronis_id(PARTNER_TENANT).await.is_some(), "committed");

    // Drained: the ports close.
    let deadline = Instant::now() + Duration::from_secs(10);
    while readyz(&app).await.is_some() || grpc_health(&app).await.is_some() {
        assert!(Instant::now() < deadline, "the ports stayed open after the drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
