//! The idempotency log is bounded: a record is replayed while it is younger than `IDEMPOTENCY_RETENTION_SECS`,
//! and the periodic sweep deletes it afterwards, so the same `request_id` is then judged afresh. Every replica
//! sweeps every quarter of the shorter retention, clamped to between 1 s and 10 minutes
//! (`src/tenant/maintenance.rs`), so a short retention needs no other setting to sweep quickly.

use std::time::{Duration, Instant};

use cyberapp_tenants::db::entity::callback_request;
use sea_orm::EntityTrait as _;
use serde_json::json;

use crate::helpers::{PARTNER_ENABLE_OK, PARTNER_TENANT, TestApp, assert_success, enable_partner};

/// Short enough for a test, long enough that the replay sent right after the first answer is well inside it.
const RETENTION_SECS: u64 = 3;

/// Within the retention the request is replayed (same `response_id`) and the same `request_id` with another
/// body is 409; once the sweep has run past the retention the row is gone and that other body is applied.
#[tokio::test]
async fn records_are_replayed_within_retention_and_swept_after_it() {
    let app = TestApp::spawn_with(|args| args.idempotency_retention_secs = RETENTION_SECS).await;
    let request = enable_partner(PARTNER_TENANT, "ACME", None);
    let request_id = request["request_id"].as_str().expect("request_id").to_owned();
    let mut other = enable_partner(PARTNER_TENANT, "ACME renamed", Some(json!({ "plan": "pro" })));
    other["request_id"] = request["request_id"].clone();

    let first = app.callback(&request).await;
    assert_success(&first, &request, PARTNER_ENABLE_OK);
    let replay = app.callback(&request).await;
    assert_success(&replay, &request, PARTNER_ENABLE_OK);
    assert_eq!(replay.body["response_id"], first.body["response_id"], "replayed within the retention");
    app.callback(&other).await.assert_error(409);

    // The sweep runs every second here (a quarter of 3 s, clamped to at least 1 s): the row must go within
    // the retention plus a couple of sweeps.
    let deadline = Instant::now() + Duration::from_secs(RETENTION_SECS + 10);
    while callback_request::Entity::find_by_id(&request_id).one(&app.db).await.expect("query").is_some() {
        assert!(Instant::now() < deadline, "the idempotency record outlived its retention");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let afresh = app.callback(&other).await;
    assert_success(&afresh, &other, PARTNER_ENABLE_OK);
    assert_ne!(afresh.body["response_id"], first.body["response_id"], "judged afresh, not replayed");
    let partner = app.tenant_by_acronis_id(PARTNER_TENANT).await.expect("partner");
    assert_eq!(partner.name.as_deref(), Some("ACME renamed"), "the other body was applied");
}
