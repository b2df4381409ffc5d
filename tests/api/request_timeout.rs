//! A callback that outlasts `REQUEST_TIMEOUT_MS` while its write is inside its transaction is answered 503
//! with `Retry-After` and its transaction is rolled back: nothing is committed, then or later. The hidden test
//! hook `--test-pause-before-commit-ms` holds every write transaction open after its last statement, so the
//! deadline fires between the write and its commit (the 1 ms timeout in `limits.rs` fires before any write).

use std::time::{Duration, Instant};

use cyberapp_tenants::db::entity::callback_request;
use sea_orm::{EntityTrait as _, PaginatorTrait as _};

use crate::helpers::{PARTNER_TENANT, TestApp, enable_partner};

/// Far beyond the request timeout, yet short enough that a commit the timeout failed to stop would land
/// within the time the test keeps watching.
const PAUSE_BEFORE_COMMIT_MS: u64 = 1500;
const REQUEST_TIMEOUT_MS: u64 = 300;

#[tokio::test]
async fn a_write_cut_off_inside_its_transaction_is_rolled_back() {
    let app = TestApp::spawn_with(|args| {
        args.request_timeout_ms = REQUEST_TIMEOUT_MS;
        args.test_hooks.test_pause_before_commit_ms = PAUSE_BEFORE_COMMIT_MS;
    })
    .await;
    let before = app.snapshot().await;

    // Creates the partner record, its event and its idempotency record, all in the paused transaction.
    let started = Instant::now();
    let response = app.callback(&enable_partner(PARTNER_TENANT, "ACME", None)).await;

    response.assert_error(503);
    assert!(response.headers.contains_key("retry-after"));
    assert!(started.elapsed() < Duration::from_millis(PAUSE_BEFORE_COMMIT_MS), "answered at the request timeout");
    // Past the moment the paused transaction would have committed, the database must still be as before.
    let watch_until = started + Duration::from_millis(PAUSE_BEFORE_COMMIT_MS) + Duration::from_secs(1);
    while Instant::now() < watch_until {
        assert_eq!(app.snapshot().await, before, "a write cut off by the request timeout was committed");
        assert!(app.tenant_by_acronis_id(PARTNER_TENANT).await.is_none());
        // Not in the snapshot: the idempotency record, written in the same transaction.
        assert_eq!(callback_request::Entity::find().count(&app.db).await.expect("count"), 0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
