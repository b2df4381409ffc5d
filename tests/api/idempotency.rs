//! Exactly-once callbacks: a replay of any of the six state-changing callbacks with the same `request_id`
//! and body gets the identical response (same `response_id`) and changes nothing; the same `request_id` with
//! another body is 409 and changes nothing; this holds across a restart (the first process stopped, a new one
//! started on the same database) and for concurrent duplicates.

use std::time::Duration;

use cyberapp_tenants::pb::OrganizationKind;
use serde_json::{Value, json};

use crate::helpers::{
    C1, C2, CUSTOMER_SET_OK, NO_CONTENT, OTHER_TENANT, PARTNER_ENABLE_OK, PARTNER_RESET_OK, PARTNER_TENANT, TestApp,
    TestResponse, assert_success, enable_partner, enablement_reset, enablement_write, get_partner_state, organizations,
    password_auth, reset_partner, set_customer_state, tenant_mapping_write,
};

/// One state-changing callback, ready to send: an app with what it needs (directory, credentials, enabled
/// partners), the request and its headers, and another body of the same callback that would succeed too.
struct Case {
    callback: &'static str,
    app: TestApp,
    response_type: &'static str,
    request: Value,
    headers: Vec<(&'static str, String)>,
    other: Value,
    other_headers: Vec<(&'static str, String)>,
}

impl Case {
    async fn send(&self, request: &Value, headers: &[(&'static str, String)]) -> TestResponse {
        self.app.callback_with_headers(request, headers).await
    }

    /// `other` under the request's `request_id`.
    fn other_with_same_request_id(&self) -> Value {
        let mut other = self.other.clone();
        other["request_id"] = self.request["request_id"].clone();
        other
    }
}

fn acme() -> Vec<(&'static str, String)> {
    vec![password_auth("admin@acme", "pw")]
}

fn other() -> Vec<(&'static str, String)> {
    vec![password_auth("admin@other", "pw")]
}

/// The vendor directory: partner `acme` (customers c-a, c-c) and partner `other`, each with an admin login
/// (password `pw`); with `enabled`, acme is mapped to PARTNER_TENANT and other to OTHER_TENANT.
async fn mapped_app(enabled: bool) -> TestApp {
    let app = TestApp::spawn().await;
    organizations(
        &app,
        &[
            ("acme", OrganizationKind::Partner, None),
            ("c-a", OrganizationKind::Customer, Some("acme")),
            ("c-c", OrganizationKind::Customer, Some("acme")),
            ("other", OrganizationKind::Partner, None),
        ],
    )
    .await;
    app.set_password("admin@acme", "acme", "pw").await;
    app.set_password("admin@other", "other", "pw").await;
    if enabled {
        for (organization, tenant, headers) in [("acme", PARTNER_TENANT, acme()), ("other", OTHER_TENANT, other())] {
            let response = app.callback_with_headers(&enablement_write(tenant, organization, tenant), &headers).await;
            assert_eq!(response.status, 200, "{}", response.body);
        }
    }
    app
}

/// An app with mirrored partners PARTNER_TENANT and OTHER_TENANT enabled.
async fn mirrored_app() -> TestApp {
    let app = TestApp::spawn().await;
    app.seed_mirrored_partner(PARTNER_TENANT).await;
    app.seed_mirrored_partner(OTHER_TENANT).await;
    app
}

/// The six state-changing callbacks, each on an app of its own.
async fn state_changing_callbacks() -> Vec<Case> {
    vec![
        Case {
            callback: "enablement.write",
            app: mapped_app(false).await,
            response_type: NO_CONTENT,
            request: enablement_write(PARTNER_TENANT, "acme", PARTNER_TENANT),
            headers: acme(),
            other: enablement_write(OTHER_TENANT, "other", OTHER_TENANT),
            other_headers: other(),
        },
        Case {
            callback: "enablement.reset",
            app: mapped_app(true).await,
            response_type: NO_CONTENT,
            request: enablement_reset(PARTNER_TENANT),
            headers: acme(),
            other: enablement_reset(OTHER_TENANT),
            other_headers: other(),
        },
        Case {
            callback: "tenant_mapping.write",
            app: mapped_app(true).await,
            response_type: NO_CONTENT,
            request: tenant_mapping_write(
                PARTNER_TENANT,
                json!([{ "vendor_tenant_id": "c-a", "acronis_tenant_id": C1 }]),
            ),
            headers: vec![],
            other: tenant_mapping_write(
                PARTNER_TENANT,
                json!([{ "vendor_tenant_id": "c-c", "acronis_tenant_id": C2 }]),
            ),
            other_headers: vec![],
        },
        Case {
            callback: "partner.mirroring.enable",
            app: TestApp::spawn().await,
            response_type: PARTNER_ENABLE_OK,
            request: enable_partner(PARTNER_TENANT, "Partner", Some(json!({ "plan": "pro" }))),
            headers: vec![],
            other: enable_partner(PARTNER_TENANT, "Partner", Some(json!({ "plan": "basic" }))),
            other_headers: vec![],
        },
        Case {
            callback: "partner.mirroring.reset",
            app: mirrored_app().await,
            response_type: PARTNER_RESET_OK,
            request: reset_partner(PARTNER_TENANT),
            headers: vec![],
            other: reset_partner(OTHER_TENANT),
            other_headers: vec![],
        },
        Case {
            callback: "customer.mirroring.set_state",
            app: mirrored_app().await,
            response_type: CUSTOMER_SET_OK,
            request: set_customer_state(
                PARTNER_TENANT,
                json!([{ "acronis_tenant_id": C1, "acronis_tenant_name": "One" }]),
                json!([]),
            ),
            headers: vec![],
            other: set_customer_state(
                PARTNER_TENANT,
                json!([{ "acronis_tenant_id": C2, "acronis_tenant_name": "Two" }]),
                json!([]),
            ),
            other_headers: vec![],
        },
    ]
}

#[tokio::test]
async fn every_state_changing_callback_is_replayed_identically_and_the_replay_changes_nothing() {
    let cases = state_changing_callbacks().await;
    assert_eq!(cases.len(), 6);
    for case in &cases {
        let before = case.app.snapshot().await;
        let first = case.send(&case.request, &case.headers).await;
        assert_success(&first, &case.request, case.response_type);
        let after_first = case.app.snapshot().await;
        assert_ne!(after_first, before, "{}: the first request changes the state", case.callback);

        let replay = case.send(&case.request, &case.headers).await;

        assert_eq!(replay.status, 200, "{}: {}", case.callback, replay.body);
        assert_eq!(replay.body, first.body, "{}: identical response, same response_id", case.callback);
        assert_eq!(case.app.snapshot().await, after_first, "{}: the replay changed nothing", case.callback);
    }
}

#[tokio::test]
async fn every_state_changing_callback_refuses_its_request_id_with_another_body_with_409_and_changes_nothing() {
    let cases = state_changing_callbacks().await;
    assert_eq!(cases.len(), 6);
    for case in &cases {
        let first = case.send(&case.request, &case.headers).await;
        assert_success(&first, &case.request, case.response_type);
        let before = case.app.snapshot().await;

        let response = case.send(&case.other_with_same_request_id(), &case.other_headers).await;

        response.assert_error(409);
        assert_eq!(response.body["request_id"], case.request["request_id"], "{}", case.callback);
        assert_ne!(response.body["response_id"], first.body["response_id"], "{}", case.callback);
        assert_eq!(case.app.snapshot().await, before, "{}: the refused request changed nothing", case.callback);

        // The other body is meaningful: under a request_id of its own it succeeds and changes the state.
        let fresh = case.send(&case.other, &case.other_headers).await;
        assert_success(&fresh, &case.other, case.response_type);
        assert_ne!(case.app.snapshot().await, before, "{}: the other body changes the state", case.callback);
    }
}

#[tokio::test]
async fn a_replay_returns_the_first_answer_even_after_the_state_moved_on() {
    let app = TestApp::spawn().await;
    let enable = enable_partner(PARTNER_TENANT, "Partner", None);
    let first = app.callback(&enable).await;
    app.callback(&reset_partner(PARTNER_TENANT)).await;
    let before = app.snapshot().await;

    let replay = app.callback(&enable).await;

    assert_eq!(replay.body, first.body);
    assert_eq!(app.snapshot().await, before, "the partner stays disabled: the retry is not applied again");
}

#[tokio::test]
async fn the_same_request_id_with_another_body_is_refused_with_409() {
    let app = TestApp::spawn().await;
    let first = enable_partner(PARTNER_TENANT, "Partner", None);
    app.callback(&first).await;
    let before = app.snapshot().await;
    let mut other = enable_partner(PARTNER_TENANT, "Another name", None);
    other["request_id"] = first["request_id"].clone();

    let response = app.callback(&other).await;

    response.assert_error(409);
    assert_eq!(response.body["request_id"], first["request_id"]);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn key_order_and_whitespace_do_not_make_another_body() {
    let app = TestApp::spawn().await;
    let request = enable_partner(PARTNER_TENANT, "Partner", None);
    let first = app.callback(&request).await;
    let pretty = serde_json::to_string_pretty(&request).expect("json").into_bytes();
    let again = app.post_raw(pretty, Some(&format!("Bearer {}", app.token()))).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["response_id"], first.body["response_id"]);
}

#[tokio::test]
async fn a_refused_request_is_not_recorded_and_is_judged_again() {
    let app = TestApp::spawn().await;
    // Refused: customers under a disabled partner; then the partner is enabled and the retry succeeds.
    app.seed_mirrored_partner(PARTNER_TENANT).await;
    app.callback(&reset_partner(PARTNER_TENANT)).await;
    let customers = set_customer_state(
        PARTNER_TENANT,
        json!([{ "acronis_tenant_id": C1, "acronis_tenant_name": "One" }]),
        json!([]),
    );
    app.callback(&customers).await.assert_error(403);
    app.callback(&enable_partner(PARTNER_TENANT, "Partner", None)).await;
    assert_eq!(app.callback(&customers).await.status, 200);
}

#[tokio::test]
async fn concurrent_duplicates_are_applied_once() {
    let app = TestApp::spawn().await;
    app.seed_mirrored_partner(PARTNER_TENANT).await;
    let customers = set_customer_state(
        PARTNER_TENANT,
        json!([{ "acronis_tenant_id": C1, "acronis_tenant_name": "One" }]),
        json!([]),
    );
    let app_ref = &app;
    let responses = futures::future::join_all((0..12).map(|_| async { app_ref.callback(&customers).await })).await;
    let first = &responses[0].body;
    for response in &responses {
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(&response.body, first, "every duplicate gets the one recorded answer");
    }
    assert_eq!(app.event_kinds().await.iter().filter(|kind| *kind == "customer.enabled").count(), 1);
}

#[tokio::test]
async fn replays_hold_across_a_restart_of_the_service() {
    let first_app = TestApp::spawn().await;
    let request = enable_partner(PARTNER_TENANT, "Partner", Some(json!({ "plan": "pro" })));
    let first = first_app.callback(&request).await;
    assert_success(&first, &request, PARTNER_ENABLE_OK);
    let before = first_app.snapshot().await;

    // The first process stops (as on SIGTERM) and its ports close; `first_app` keeps owning the database,
    // so it outlives the stop and the second process.
    first_app.stop().await;
    assert_refuses_connections(&first_app).await;
    let second_app = TestApp::spawn_on(&first_app.database_url).await;
    let replay = second_app.callback(&request).await;

    assert_eq!(replay.status, 200, "{}", replay.body);
    assert_eq!(replay.body, first.body, "identical response, same response_id");
    assert_eq!(second_app.snapshot().await, before, "the replay changed nothing");
    let mut another = enable_partner(PARTNER_TENANT, "Partner", Some(json!({ "plan": "basic" })));
    another["request_id"] = request["request_id"].clone();
    second_app.callback(&another).await.assert_error(409);
    assert_eq!(second_app.snapshot().await, before, "the refused request changed nothing");
    drop(second_app);
}

/// Waits until neither of `app`'s ports accepts a connection; fails after a few seconds.
async fn assert_refuses_connections(app: &TestApp) {
    let http_addr = app.base_url.trim_start_matches("http://").to_owned();
    let grpc_addr = app.grpc_addr.to_string();
    for _ in 0..100 {
        let http = tokio::net::TcpStream::connect(&http_addr).await;
        let grpc = tokio::net::TcpStream::connect(&grpc_addr).await;
        if http.is_err() && grpc.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the stopped app still accepts connections on {http_addr} or {grpc_addr}");
}

#[tokio::test]
async fn read_callbacks_are_not_recorded() {
    let app = TestApp::spawn().await;
    let request = get_partner_state(PARTNER_TENANT);
    let first = app.callback(&request).await;
    let second = app.callback(&request).await;
    assert_ne!(first.body["response_id"], second.body["response_id"], "each read is answered afresh");
}
