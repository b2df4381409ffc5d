//! `GET /metrics`: Prometheus text with stable names, and counters that move with the traffic.
//!
//! The registry is process-wide and tests run in parallel, so assertions are "grew by at least", never
//! exact values.

use cyberapp_tenants::pb::OrganizationKind;

use crate::helpers::{
    PARTNER_TENANT, TestApp, enable_partner, enablement_read, get_partner_state, organizations, password_auth,
};

async fn scrape(app: &TestApp) -> String {
    let response = crate::helpers::http_client().get(format!("{}/metrics", app.base_url)).send().await.expect("sent");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    response.text().await.expect("text")
}

/// The value of the sample `series` (name and labels exactly as exposed), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

#[tokio::test]
async fn metrics_expose_stable_names_and_count_callbacks_grpc_calls_caches_and_fetches() {
    let app = TestApp::spawn().await;
    organizations(&app, &[("msp", OrganizationKind::Partner, None)]).await;
    app.set_password("admin", "msp", "pw").await;
    let before = scrape(&app).await;

    assert_eq!(app.callback(&enable_partner(PARTNER_TENANT, "Partner", None)).await.status, 200);
    assert_eq!(app.callback(&get_partner_state(PARTNER_TENANT)).await.status, 200);
    assert_eq!(app.callback_with_token(&get_partner_state(PARTNER_TENANT), None).await.status, 401);
    let read = enablement_read(PARTNER_TENANT);
    for _ in 0..2 {
        let response = app.callback_with_headers(&read, &[password_auth("admin", "pw")]).await;
        assert_eq!(response.status, 200, "{}", response.body);
    }
    let after = scrape(&app).await;

    let grew = |series: &str, by: f64| {
        let (was, is) = (sample(&before, series), sample(&after, series));
        assert!(is >= was + by, "{series}: {was} -> {is}, expected +{by}\n{after}");
    };
    grew(r#"cyberapp_callbacks_total{callback="partner.mirroring.enable",status="200"}"#, 1.0);
    grew(r#"cyberapp_callbacks_total{callback="partner.mirroring.get_state",status="200"}"#, 1.0);
    // Refused before the envelope was read: no callback name yet.
    grew(r#"cyberapp_callbacks_total{callback="unknown",status="401"}"#, 1.0);
    grew(r#"cyberapp_callback_duration_seconds_count{callback="partner.mirroring.enable"}"#, 1.0);
    grew(r#"cyberapp_credential_cache_lookups_total{outcome="miss"}"#, 1.0);
    grew(r#"cyberapp_credential_cache_lookups_total{outcome="hit"}"#, 1.0);
    grew(
        r#"cyberapp_grpc_requests_total{method="cyberapp.tenants.v1.TenantService/EnableMirroredPartner",code="OK"}"#,
        1.0,
    );
    assert!(sample(&after, r#"cyberapp_jwks_fetches_total{outcome="success"}"#) >= 1.0, "{after}");
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
    let app = TestApp::spawn().await;
    app.wait_until_ready().await;
    // The readiness watcher samples the pool every second.
    let text = scrape(&app).await;
    assert!(sample(&text, r#"cyberapp_db_pool_connections{state="max"}"#) >= 1.0, "{text}");
}
