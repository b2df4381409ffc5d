//! Exactly-once callbacks: a replay with the same `request_id` and body gets the identical response (same
//! `response_id`) and changes nothing; the same `request_id` with another body is 409; this holds across
//! restarts and for concurrent duplicates.

use serde_json::{Value, json};

use crate::helpers::{
    C1, PARTNER_TENANT, TestApp, enable_partner, get_partner_state, reset_partner, set_customer_state,
};

/// Sends `request` twice; asserts identical answers and no change from the second.
async fn assert_replayed(app: &TestApp, request: &Value) {
    let first = app.callback(request).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let after_first = app.snapshot().await;
    let second = app.callback(request).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body, first.body, "identical response, same response_id");
    assert_eq!(app.snapshot().await, after_first, "the replay changed nothing");
}

#[tokio::test]
async fn every_state_changing_callback_is_replayed_identically() {
    let app = TestApp::spawn().await;
    assert_replayed(&app, &enable_partner(PARTNER_TENANT, "Partner", Some(json!({ "plan": "pro" })))).await;
    let customers = set_customer_state(
        PARTNER_TENANT,
        json!([{ "acronis_tenant_id": C1, "acronis_tenant_name": "One" }]),
        json!([]),
    );
    assert_replayed(&app, &customers).await;
    assert_replayed(&app, &reset_partner(PARTNER_TENANT)).await;
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
async fn replays_hold_across_a_restart() {
    let first_app = TestApp::spawn().await;
    let request = enable_partner(PARTNER_TENANT, "Partner", None);
    let first = first_app.callback(&request).await;
    let database_url = first_app.database_url.clone();
    let before = first_app.snapshot().await;

    // A second process on the same database (as after a restart, or another replica).
    let second_app = TestApp::spawn_on(&database_url).await;
    let replay = second_app.callback_with_token(&request, Some(&second_app.token())).await;

    assert_eq!(replay.status, 200, "{}", replay.body);
    assert_eq!(replay.body, first.body);
    assert_eq!(first_app.snapshot().await, before);
    drop(second_app);
}

#[tokio::test]
async fn read_callbacks_are_not_recorded() {
    let app = TestApp::spawn().await;
    let request = get_partner_state(PARTNER_TENANT);
    let first = app.callback(&request).await;
    let second = app.callback(&request).await;
    assert_ne!(first.body["response_id"], second.body["response_id"], "each read is answered afresh");
}
