//! Limits that keep the service answering under pressure: a request timeout (503 + Retry-After) and a cap
//! on callbacks in progress that sheds the excess at once (429 + Retry-After). The body limit (413) is in
//! `envelope.rs`.

use serde_json::json;

use crate::helpers::{PARTNER_TENANT, TestApp, enablement_read, enablement_write, password_auth};

/// A directory login whose every check costs a full Argon2 verification (cache off).
async fn slow_login_app(configure: impl FnOnce(&mut cyberapp_tenants::config::ServeArgs)) -> TestApp {
    let app = TestApp::spawn_with(|args| {
        args.credentials.credential_cache_ttl_secs = 0;
        configure(args);
    })
    .await;
    let mut grpc = app.grpc().await;
    grpc.upsert_organization(cyberapp_tenants::pb::UpsertOrganizationRequest {
        id: "msp".into(),
        name: "MSP".into(),
        kind: cyberapp_tenants::pb::OrganizationKind::Partner.into(),
        parent_id: None,
    })
    .await
    .expect("organization");
    grpc.set_credentials(cyberapp_tenants::pb::SetCredentialsRequest {
        identity: "admin".into(),
        organization_id: "msp".into(),
        secrets_json: json!({ "password": "pw" }).to_string(),
    })
    .await
    .expect("credentials");
    app
}

#[tokio::test]
async fn a_callback_that_outlasts_the_request_timeout_gets_503_with_retry_after() {
    let app = slow_login_app(|args| args.request_timeout_ms = 1).await;
    let write = enablement_write(PARTNER_TENANT, "msp", PARTNER_TENANT);
    let before = app.snapshot().await;

    let response = app.callback_with_headers(&write, &[password_auth("admin", "pw")]).await;

    response.assert_error(503);
    assert!(response.headers.contains_key("retry-after"));
    assert_eq!(app.snapshot().await, before, "nothing was applied");
}

#[tokio::test]
async fn callbacks_beyond_the_concurrency_limit_are_shed_with_429_and_retry_after() {
    let app = slow_login_app(|args| args.max_concurrent_callbacks = 1).await;
    let read = enablement_read(PARTNER_TENANT);
    let login = [password_auth("admin", "pw")];
    let app_ref = &app;
    let responses =
        futures::future::join_all((0..12).map(|_| async { app_ref.callback_with_headers(&read, &login).await })).await;

    let shed: Vec<_> = responses.iter().filter(|response| response.status == 429).collect();
    assert!(!shed.is_empty(), "some callbacks should have been shed");
    for response in &shed {
        response.assert_error(429);
        assert!(response.headers.contains_key("retry-after"));
    }
    assert!(responses.iter().all(|response| matches!(response.status, 200 | 429)), "no other outcome");
    assert!(responses.iter().any(|response| response.status == 200), "the admitted ones are served");
}
