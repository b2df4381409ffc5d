//! `WatchEvents`: every committed change, in commit order, with consecutive cursors; resumable across
//! restarts and replicas; a consumer whose events have expired is told to resync.

use std::collections::BTreeSet;
use std::time::Duration;

use cyberapp_tenants::pb::{
    EnablementState, Event, EventKind, OrganizationKind, TenantKind, UpsertOrganizationRequest, WatchEventsRequest,
};
use serde_json::json;
use tonic::{Code, Streaming};

use crate::helpers::{
    C1, C2, PARTNER_TENANT, TestApp, enable_partner, next_events, reset_partner, set_customer_state, watch,
};

/// Asserts that nothing more arrives for a while.
async fn assert_quiet(stream: &mut Streaming<Event>) {
    let next = tokio::time::timeout(Duration::from_millis(500), stream.message()).await;
    assert!(next.is_err(), "unexpected message: {next:?}");
}

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(Event::kind).collect()
}

fn assert_consecutive(events: &[Event], first: u64) {
    let cursors: Vec<u64> = events.iter().map(|event| event.cursor).collect();
    let expected: Vec<u64> = (first..first + events.len() as u64).collect();
    assert_eq!(cursors, expected);
}

async fn ok(app: &TestApp, body: &serde_json::Value) {
    let response = app.callback(body).await;
    assert_eq!(response.status, 200, "{}", response.body);
}

#[tokio::test]
async fn changes_from_callbacks_and_admin_rpcs_arrive_in_order_with_consecutive_cursors() {
    let app = TestApp::spawn().await;
    let mut stream = watch(&app, Some(0)).await;

    ok(&app, &enable_partner(PARTNER_TENANT, "Partner", Some(json!({ "plan": "gold" })))).await;
    app.grpc()
        .await
        .upsert_organization(UpsertOrganizationRequest {
            id: "msp".into(),
            name: "MSP".into(),
            kind: OrganizationKind::Partner.into(),
            parent_id: None,
        })
        .await
        .expect("upserted");
    let enable_customers = set_customer_state(
        PARTNER_TENANT,
        json!([{ "acronis_tenant_id": C1, "acronis_tenant_name": "One" }, { "acronis_tenant_id": C2, "acronis_tenant_name": "Two" }]),
        json!([]),
    );
    ok(&app, &enable_customers).await;
    ok(&app, &reset_partner(PARTNER_TENANT)).await;

    let events = next_events(&mut stream, 8).await;
    assert_eq!(
        kinds(&events),
        [
            EventKind::PartnerEnabled,
            // A mirrored partner is also a directory organization (enablement method 4).
            EventKind::OrganizationUpserted,
            EventKind::OrganizationUpserted,
            EventKind::CustomerEnabled,
            EventKind::CustomerEnabled,
            // One transaction: the partner, then the customers it takes along.
            EventKind::PartnerDisabled,
            EventKind::CustomerDisabled,
            EventKind::CustomerDisabled,
        ]
    );
    assert_consecutive(&events, 1);

    let enabled = events[0].tenant.as_ref().expect("the partner as enabled");
    assert_eq!(enabled.acronis_tenant_id.as_deref(), Some(PARTNER_TENANT));
    assert_eq!(enabled.kind(), TenantKind::Partner);
    assert_eq!(enabled.state(), EnablementState::Enabled);
    assert_eq!(enabled.settings_json.as_deref(), Some(r#"{"plan":"gold"}"#));
    assert_eq!(events[0].vendor_tenant_id, enabled.vendor_tenant_id);
    assert!(events[0].occurred_at.is_some());

    let partner_organization = events[1].organization.as_ref().expect("the partner's organization");
    assert_eq!(partner_organization.id, enabled.vendor_tenant_id);
    let organization = events[2].organization.as_ref().expect("the organization as saved");
    assert_eq!((organization.id.as_str(), organization.name.as_str()), ("msp", "MSP"));
    assert!(events[2].tenant.is_none());

    // Disable events show the record as the change left it.
    assert_eq!(events[5].tenant.as_ref().expect("partner").state(), EnablementState::Disabled);
    let customer = events[6].tenant.as_ref().expect("customer");
    assert_eq!(customer.state(), EnablementState::Disabled);
    assert_eq!(customer.partner_acronis_tenant_id.as_deref(), Some(PARTNER_TENANT));
    assert_quiet(&mut stream).await;
}

#[tokio::test]
async fn a_stream_without_a_cursor_starts_with_the_next_change() {
    let app = TestApp::spawn().await;
    ok(&app, &enable_partner(PARTNER_TENANT, "Partner", None)).await;
    // Wait until the enablement's events are sequenced, so "now" is after them.
    let mut from_start = watch(&app, Some(0)).await;
    next_events(&mut from_start, 2).await;

    let mut from_now = watch(&app, None).await;
    ok(&app, &reset_partner(PARTNER_TENANT)).await;
    let events = next_events(&mut from_now, 1).await;
    assert_eq!(kinds(&events), [EventKind::PartnerDisabled]);
    assert_eq!(events[0].cursor, 3);
}

#[tokio::test]
async fn resuming_after_a_restart_misses_nothing_and_repeats_nothing() {
    let first = TestApp::spawn().await;
    ok(&first, &enable_partner(PARTNER_TENANT, "Partner", None)).await;
    ok(
        &first,
        &set_customer_state(
            PARTNER_TENANT,
            json!([{ "acronis_tenant_id": C1, "acronis_tenant_name": "One" }]),
            json!([]),
        ),
    )
    .await;
    let mut stream = watch(&first, Some(0)).await;
    let seen = next_events(&mut stream, 3).await;
    let last = seen.last().expect("events").cursor;
    first.stop().await;

    // Changes made while the consumer is away, by the restarted service.
    let restarted = TestApp::spawn_on(&first.database_url).await;
    ok(&restarted, &set_customer_state(PARTNER_TENANT, json!([]), json!([{ "acronis_tenant_id": C1 }]))).await;
    ok(&restarted, &reset_partner(PARTNER_TENANT)).await;

    let mut resumed = watch(&restarted, Some(last)).await;
    let events = next_events(&mut resumed, 2).await;
    assert_eq!(kinds(&events), [EventKind::CustomerDisabled, EventKind::PartnerDisabled]);
    assert_consecutive(&events, last + 1);
    assert_quiet(&mut resumed).await;
}

#[tokio::test]
async fn a_replica_streams_the_changes_another_replica_commits() {
    let writer = TestApp::spawn().await;
    let reader = TestApp::spawn_on(&writer.database_url).await;
    let mut stream = watch(&reader, Some(0)).await;
    ok(&writer, &enable_partner(PARTNER_TENANT, "Partner", None)).await;
    ok(&writer, &reset_partner(PARTNER_TENANT)).await;
    let events = next_events(&mut stream, 3).await;
    assert_eq!(
        kinds(&events),
        [EventKind::PartnerEnabled, EventKind::OrganizationUpserted, EventKind::PartnerDisabled]
    );
    assert_consecutive(&events, 1);
}

#[tokio::test]
async fn concurrent_changes_each_arrive_exactly_once_with_no_gap() {
    const WRITERS: usize = 6;
    const EACH: usize = 10;
    let app = TestApp::spawn().await;
    let mut live = watch(&app, Some(0)).await;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let base_url = app.base_url.clone();
        let token = app.token();
        tasks.push(tokio::spawn(async move {
            let client = crate::helpers::http_client();
            for n in 0..EACH {
                let tenant = format!("00000000-0000-4000-8000-{:012}", writer * 1000 + n);
                let response = client
                    .post(format!("{base_url}/callback"))
                    .bearer_auth(&token)
                    .json(&enable_partner(&tenant, "Partner", None))
                    .send()
                    .await
                    .expect("sent");
                assert_eq!(response.status(), 200);
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    // Each enablement commits two events: the partner and its directory organization.
    let events = next_events(&mut live, 2 * WRITERS * EACH).await;
    assert_consecutive(&events, 1);
    let enabled: Vec<&Event> = events.iter().filter(|event| event.kind() == EventKind::PartnerEnabled).collect();
    let tenants: BTreeSet<String> =
        enabled.iter().map(|event| event.acronis_tenant_id.clone().expect("tenant")).collect();
    assert_eq!((enabled.len(), tenants.len()), (WRITERS * EACH, WRITERS * EACH), "each change exactly once");
    assert_quiet(&mut live).await;

    // A consumer replaying from the start sees the same sequence.
    let replay = next_events(&mut watch(&app, Some(0)).await, 2 * WRITERS * EACH).await;
    assert_eq!(replay, events);
}

#[tokio::test]
async fn a_consumer_whose_events_have_expired_is_told_to_resync() {
    let app = TestApp::spawn_with(|args| args.event_retention_secs = 1).await;
    ok(&app, &enable_partner(PARTNER_TENANT, "Partner", None)).await;
    ok(&app, &reset_partner(PARTNER_TENANT)).await;
    // Deliberate passage of time, not synchronisation: these events must grow older than the 1 s retention
    // before the next one is committed, so that the sweep expires them and keeps the next.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ok(&app, &enable_partner(PARTNER_TENANT, "Partner", None)).await;

    // The sweep runs every second; the first three events expire, the re-enablement's stays.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        let mut stream = watch(&app, Some(0)).await;
        let first = tokio::time::timeout(Duration::from_secs(5), stream.message()).await.expect("answer in time");
        match first {
            Err(status) => break status,
            Ok(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            Ok(message) => panic!("events never expired: {message:?}"),
        }
    };
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("resync"), "{}", status.message());

    // From the last expired cursor on, the stream works.
    let mut stream = watch(&app, Some(3)).await;
    let events = next_events(&mut stream, 1).await;
    assert_eq!((events[0].cursor, events[0].kind()), (4, EventKind::PartnerEnabled));
}

#[tokio::test]
async fn a_cursor_ahead_of_the_newest_event_is_refused() {
    let app = TestApp::spawn().await;
    let status =
        app.grpc().await.watch_events(WatchEventsRequest { after_cursor: Some(5) }).await.expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn open_streams_end_with_unavailable_when_the_service_shuts_down() {
    let app = TestApp::spawn().await;
    let mut stream = watch(&app, Some(0)).await;
    app.stop().await;
    let end = tokio::time::timeout(Duration::from_secs(5), stream.message()).await.expect("ends in time");
    let status = end.expect_err("ends with a status");
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("resume"), "{}", status.message());
}

#[tokio::test]
async fn streams_beyond_max_watch_streams_are_refused_until_one_closes() {
    let app = TestApp::spawn_with(|args| args.max_watch_streams = 2).await;
    let first = watch(&app, None).await;
    let mut second = watch(&app, None).await;
    let refused = app.grpc().await.watch_events(WatchEventsRequest { after_cursor: None }).await.expect_err("full");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.metadata().get("retry-after").is_some(), "{refused:?}");

    // A consumer that goes away gives its place back.
    drop(first);
    let mut third = None;
    for _ in 0..100 {
        if let Ok(stream) = app.grpc().await.watch_events(WatchEventsRequest { after_cursor: None }).await {
            third = Some(stream.into_inner());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut third = third.expect("a place was freed");
    // The streams still open work.
    assert_eq!(app.callback(&enable_partner(PARTNER_TENANT, "P", None)).await.status, 200);
    assert_eq!(next_events(&mut second, 1).await.len(), 1);
    assert_eq!(next_events(&mut third, 1).await.len(), 1);
}
