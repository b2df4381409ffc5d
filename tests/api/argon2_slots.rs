//! Argon2 is bounded: at most `ARGON2_MAX_CONCURRENCY` checks run at once, and a check that cannot get a slot
//! within 3 s is shed with 429 and `Retry-After`, so a flood of logins neither blocks the service nor queues
//! without bound. And a burst of the same correct credentials costs exactly one Argon2 check: the checks take
//! turns, and the rest find the first one's success remembered.

use std::time::{Duration, Instant};

use cyberapp_tenants::pb::tenant_service_client::TenantServiceClient;
use cyberapp_tenants::pb::{OrganizationKind, SetCredentialsRequest, UpsertOrganizationRequest};
use serde_json::json;

use crate::helpers::{PARTNER_TENANT, Service, TestApp, enablement_read, http_client, password_auth};

/// How long a check waits for a slot before it is shed (`HASHING_WAIT` in `src/tenant/credentials`).
const SLOT_WAIT: Duration = Duration::from_secs(3);

#[tokio::test]
async fn checks_that_wait_longer_than_3_s_for_an_argon2_slot_get_429_with_retry_after() {
    let app = TestApp::spawn_with(|args| args.credentials.argon2_max_concurrency = 1).await;
    let read = enablement_read(PARTNER_TENANT);
    // Unknown identities, each checked against the dummy hash: a full Argon2 each, never remembered, and
    // distinct, so neither the failure throttle (per identity) nor turn-taking (per identity and secret) steps in.
    let mut identities = (0..).map(|n| format!("nobody-{n}@example"));

    // Checks one at a time tell how long an Argon2 takes on this machine now (the fastest of three, after a
    // first one that also pays for fetching the IdP's keys); the burst is sized to queue about four times the
    // slot wait behind the single slot, so the last ones in line cannot get it in time even if checks run
    // faster during the burst than alone.
    let mut per_check = Duration::MAX;
    for attempt in 0..4 {
        let started = Instant::now();
        let alone = app.callback_with_headers(&read, &[password_auth(&identities.next().expect("id"), "x")]).await;
        alone.assert_error(401);
        if attempt > 0 {
            per_check = per_check.min(started.elapsed());
        }
    }
    let burst =
        usize::try_from((4 * SLOT_WAIT).as_millis() / per_check.as_millis().max(1)).unwrap_or(400).clamp(30, 400);

    let (app_ref, read) = (&app, &read);
    let sends = identities.take(burst).map(|identity| async move {
        let started = Instant::now();
        let response = app_ref.callback_with_headers(read, &[password_auth(&identity, "x")]).await;
        (response, started.elapsed())
    });
    let answers = futures::future::join_all(sends).await;

    let shed: Vec<_> = answers.iter().filter(|(response, _)| response.status == 429).collect();
    assert!(!shed.is_empty(), "{burst} checks of ~{per_check:?} behind one slot: some must be shed");
    for (response, elapsed) in &shed {
        response.assert_error(429);
        assert!(response.headers.contains_key("retry-after"));
        assert!(response.err_message().contains("busy"), "shed for the slot, not locked out: {}", response.body);
        // Shed when the wait ran out: not earlier, and not much later.
        assert!(*elapsed >= SLOT_WAIT, "shed after {elapsed:?}, before the slot wait ran out");
        assert!(*elapsed < SLOT_WAIT + Duration::from_secs(5), "shed only after {elapsed:?}");
    }
    for (response, _) in answers.iter().filter(|(response, _)| response.status != 429) {
        response.assert_error(401);
    }
}

/// Counted in a process of its own: the metrics registry is process-wide, and other tests in this process
/// check credentials at the same time.
#[tokio::test]
async fn a_burst_of_the_same_correct_credentials_runs_argon2_once() {
    const BURST: usize = 16;
    let (_database, data_dir, service) = Service::start_fresh(&[("ARGON2_MAX_CONCURRENCY", "1")]).await;
    let mut grpc = TenantServiceClient::connect(format!("http://127.0.0.1:{}", service.grpc_port)).await.expect("gRPC");
    grpc.upsert_organization(UpsertOrganizationRequest {
        id: "acme".into(),
        name: "ACME".into(),
        kind: OrganizationKind::Partner.into(),
        parent_id: None,
    })
    .await
    .expect("organization");
    grpc.set_credentials(SetCredentialsRequest {
        identity: "admin@acme".into(),
        organization_id: "acme".into(),
        secrets_json: json!({ "password": "pw" }).to_string(),
    })
    .await
    .expect("credentials");
    let token = service.dev_token(data_dir.path());
    let (auth_header, auth) = password_auth("admin@acme", "pw");
    let http = http_client();
    let metrics_url = format!("http://127.0.0.1:{}/metrics", service.http_port);
    let scrape = || async { http.get(&metrics_url).send().await.expect("metrics").text().await.expect("text") };
    let before = scrape().await;

    let callback_url = format!("http://127.0.0.1:{}/callback", service.http_port);
    let sends = (0..BURST).map(|_| {
        let request = http
            .post(&callback_url)
            .bearer_auth(&token)
            .header(auth_header, &auth)
            // Service serves the test endpoint, and its development token is scoped to it.
            .json(&enablement_read(PARTNER_TENANT));
        async move { request.send().await.expect("sent").status().as_u16() }
    });
    let statuses = futures::future::join_all(sends).await;
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    let after = scrape().await;

    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    let misses = delta(r#"cyberapp_credential_cache_lookups_total{outcome="miss"}"#);
    let hits = delta(r#"cyberapp_credential_cache_lookups_total{outcome="hit"}"#);
    assert_eq!(misses, 1, "Argon2 checks for a burst of {BURST} identical credentials\n{after}");
    assert_eq!(hits, BURST as u64 - 1, "the rest were answered from the remembered success\n{after}");
}

/// The value of the counter `series` (name and labels exactly as exposed), 0 when absent.
fn sample(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0, |value| value.trim().parse().expect("a whole number"))
}
