//! `GET /metrics`: Prometheus text with stable names, and counters that move with the traffic.
//!
//! The registry is process-wide and the other tests run in parallel in the test process, so counts read
//! there would include their traffic. These tests measure the binary as a process of its own (the
//! [`Service`] helper), where every sample starts at zero and only this test's requests move it: each
//! assertion is an exact value.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::helpers::{
    ENDPOINT_ID, FakeIdp, PARTNER_TENANT, Service, TestDatabase, enable_partner, enablement_read, get_partner_state,
    http_client, password_auth, token_for,
};

/// Imports `tests/fixtures/directory.json` (`admin@acme` / `s3cret` for `acme-msp`) into the database, in a
/// process of its own, so that the service under test makes no gRPC call for it.
fn import_directory(database_url: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_cyberapp-tenants"))
        .args(["directory", "import", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/directory.json")])
        .env("DATABASE_URL", database_url)
        .output()
        .expect("directory import runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// Starts the binary trusting `idp` (development mode off, so tokens are verified against the IdP's key set
/// as in production).
fn start_trusting(idp: &FakeIdp, database: &TestDatabase, data_dir: &Path) -> Service {
    Service::start(&database.url, data_dir, &[("ACGW_DEV_MODE", "false"), ("ACGW_TRUSTED_ISSUERS", &idp.issuer)])
}

async fn scrape(service: &Service) -> String {
    let url = format!("http://127.0.0.1:{}/metrics", service.http_port);
    let response = http_client().get(url).send().await.expect("sent");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    response.text().await.expect("text")
}

/// The value of the sample `series` (name and labels exactly as exposed; counters, counts and gauges are
/// whole numbers), 0 when absent.
fn sample(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0, |value| value.trim().parse().expect("a whole number"))
}

async fn post_callback(service: &Service, body: &serde_json::Value, headers: &[(&str, String)]) -> u16 {
    let mut request = http_client().post(format!("http://127.0.0.1:{}/callback", service.http_port)).json(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.expect("sent").status().as_u16()
}

#[tokio::test]
async fn metrics_expose_stable_names_and_count_callbacks_grpc_calls_caches_and_fetches() {
    let idp = FakeIdp::start().await;
    let database = TestDatabase::create().await;
    import_directory(&database.url);
    let data_dir = tempfile::tempdir().expect("tempdir");
    let service = start_trusting(&idp, &database, data_dir.path());
    service.wait_until_ready().await;
    let bearer = format!("Bearer {}", token_for(&idp.claims(ENDPOINT_ID)));
    let auth = ("authorization", bearer);

    let before = scrape(&service).await;
    for series in [
        r#"cyberapp_callbacks_total{callback="partner.mirroring.enable",status="200"}"#,
        r#"cyberapp_callbacks_total{callback="unknown",status="401"}"#,
        r#"cyberapp_credential_cache_lookups_total{outcome="miss"}"#,
        r#"cyberapp_jwks_fetches_total{outcome="success"}"#,
    ] {
        assert_eq!(sample(&before, series), 0, "{series} before any callback\n{before}");
    }

    assert_eq!(
        post_callback(&service, &enable_partner(PARTNER_TENANT, "Partner", None), std::slice::from_ref(&auth)).await,
        200
    );
    assert_eq!(post_callback(&service, &get_partner_state(PARTNER_TENANT), std::slice::from_ref(&auth)).await, 200);
    assert_eq!(post_callback(&service, &get_partner_state(PARTNER_TENANT), &[]).await, 401);
    let read = enablement_read(PARTNER_TENANT);
    for _ in 0..2 {
        assert_eq!(post_callback(&service, &read, &[auth.clone(), password_auth("admin@acme", "s3cret")]).await, 200);
    }
    let after = scrape(&service).await;

    let exactly = |series: &str, expected: u64| {
        assert_eq!(sample(&after, series), expected, "{series}\n{after}");
    };
    exactly(r#"cyberapp_callbacks_total{callback="partner.mirroring.enable",status="200"}"#, 1);
    exactly(r#"cyberapp_callbacks_total{callback="partner.mirroring.get_state",status="200"}"#, 1);
    exactly(r#"cyberapp_callbacks_total{callback="enablement.read",status="200"}"#, 2);
    // Refused before the envelope was read: no callback name yet.
    exactly(r#"cyberapp_callbacks_total{callback="unknown",status="401"}"#, 1);
    exactly(r#"cyberapp_callback_duration_seconds_count{callback="partner.mirroring.enable"}"#, 1);
    exactly(r#"cyberapp_callback_duration_seconds_count{callback="enablement.read"}"#, 2);
    // The first read checks the password with Argon2 (miss), the second finds it remembered (hit).
    exactly(r#"cyberapp_credential_cache_lookups_total{outcome="miss"}"#, 1);
    exactly(r#"cyberapp_credential_cache_lookups_total{outcome="hit"}"#, 1);
    exactly(
        r#"cyberapp_grpc_requests_total{method="cyberapp.tenants.v1.TenantService/EnableMirroredPartner",code="OK"}"#,
        1,
    );
    // One fetch of the key set served every token; the IdP agrees.
    exactly(r#"cyberapp_jwks_fetches_total{outcome="success"}"#, 1);
    exactly(r#"cyberapp_jwks_fetches_total{outcome="failure"}"#, 0);
    assert_eq!(idp.fetch_count(), 1);
    assert!(after.contains("cyberapp_callback_duration_seconds_bucket{"), "{after}");

    // The families and their types are part of the contract with dashboards.
    for family in [
        "# TYPE cyberapp_callbacks counter",
        "# TYPE cyberapp_callback_duration_seconds histogram",
        "# TYPE cyberapp_jwks_fetches counter",
        "# TYPE cyberapp_credential_cache_lookups counter",
        "# TYPE cyberapp_grpc_requests counter",
        "# TYPE cyberapp_db_pool_connections gauge",
    ] {
        assert!(after.contains(family), "missing {family:?}\n{after}");
    }
}

#[tokio::test]
async fn the_database_pool_gauges_are_sampled() {
    let (database, _data_dir, service) = Service::start_fresh(&[]).await;
    // The readiness watcher samples the pool every second; only this process's pool is in its registry.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = scrape(&service).await;
        if text.contains(r#"cyberapp_db_pool_connections{state="max"}"#) || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // `db::connect` leaves the pool size to SeaORM: one connection for SQLite, sqlx's default of 10 for
    // PostgreSQL.
    let max = if database.url.starts_with("sqlite:") { 1 } else { 10 };
    assert_eq!(sample(&text, r#"cyberapp_db_pool_connections{state="max"}"#), max, "{text}");
    let (idle, in_use) = (
        sample(&text, r#"cyberapp_db_pool_connections{state="idle"}"#),
        sample(&text, r#"cyberapp_db_pool_connections{state="in_use"}"#),
    );
    // The pool holds at least the connection the watcher just used, and never more than its maximum.
    assert!((1..=max).contains(&(idle + in_use)), "{text}");
}
