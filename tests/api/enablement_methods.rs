//! One end-to-end scenario per enablement method of protocol §3 (partner / customers): enable the partner,
//! enable or map customers, disable customers, disable the partner, and read the final state back through
//! the callbacks, as the Acronis gateway would.

use cyberapp_tenants::pb::OrganizationKind;
use serde_json::{Value, json};

use crate::helpers::{
    C1, C2, PARTNER_TENANT, TestApp, TestResponse, envelope, organizations, password_auth, set_customer_state,
    tenant_mapping_write,
};

/// Sends `body` (with the mapped partner's credentials when given) and expects 200; returns the payload.
async fn ok(app: &TestApp, body: &Value, credentials: Option<&str>) -> Value {
    let headers: Vec<(&str, String)> =
        credentials.map(|password| password_auth("admin", password)).into_iter().collect();
    let response: TestResponse = app.callback_with_headers(body, &headers).await;
    assert_eq!(response.status, 200, "{}: {}", body["context"]["callback_id"], response.body);
    response.body.get("payload").cloned().unwrap_or(Value::Null)
}

fn call(callback: &str, payload: Option<Value>) -> Value {
    envelope(callback, PARTNER_TENANT, payload)
}

/// A vendor directory with partner `msp` (login admin/pw) and customers `cust-1`, `cust-2`.
async fn directory(app: &TestApp, partner_parent: Option<&str>) {
    organizations(
        app,
        &[
            ("msp", OrganizationKind::Partner, partner_parent),
            ("cust-1", OrganizationKind::Customer, Some("msp")),
            ("cust-2", OrganizationKind::Customer, Some("msp")),
        ],
    )
    .await;
    app.set_password("admin", "msp", "pw").await;
}

async fn enable_mapped_partner(app: &TestApp) {
    assert_eq!(ok(app, &call("enablement.read", None), Some("pw")).await, json!({ "vendor_tenant_id": "msp" }));
    let write =
        call("enablement.write", Some(json!({ "vendor_tenant_id": "msp", "acronis_tenant_id": PARTNER_TENANT })));
    assert_eq!(ok(app, &write, Some("pw")).await, Value::Null);
    let read = ok(app, &call("enablement.read", None), Some("pw")).await;
    assert_eq!(read, json!({ "vendor_tenant_id": "msp", "acronis_tenant_id": PARTNER_TENANT }));
}

async fn disable_mapped_partner(app: &TestApp) {
    ok(app, &call("enablement.reset", None), Some("pw")).await;
    assert_eq!(ok(app, &call("enablement.read", None), Some("pw")).await, json!({ "vendor_tenant_id": "msp" }));
}

/// Enables the mirrored partner and returns its vendor tenant id.
async fn enable_mirrored_partner(app: &TestApp) -> String {
    assert_eq!(ok(app, &call("partner.mirroring.get_state", None), None).await, json!({ "state": "DISABLED" }));
    let enable = call(
        "partner.mirroring.enable",
        Some(json!({ "acronis_tenant_id": PARTNER_TENANT, "acronis_tenant_name": "Mirrored MSP" })),
    );
    let enabled = ok(app, &enable, None).await;
    assert_eq!(ok(app, &call("partner.mirroring.get_state", None), None).await, json!({ "state": "ENABLED" }));
    enabled["vendor_tenant_id"].as_str().expect("vendor id").to_owned()
}

async fn disable_mirrored_partner(app: &TestApp) {
    ok(app, &call("partner.mirroring.reset", None), None).await;
    assert_eq!(ok(app, &call("partner.mirroring.get_state", None), None).await, json!({ "state": "DISABLED" }));
}

/// topology.read → tenant_mapping.read → map both customers → unmap one; returns after checking the read.
async fn map_customers(app: &TestApp, first: &str, second: &str) {
    let topology = ok(app, &call("topology.read", Some(json!({}))), None).await;
    let ids: Vec<&str> =
        topology["items"].as_array().expect("items").iter().map(|i| i["id"].as_str().expect("id")).collect();
    assert_eq!(ids, [first, second]);
    let unmapped = ok(app, &call("tenant_mapping.read", None), None).await;
    assert_eq!(unmapped, json!({ "items": [{ "vendor_tenant_id": first }, { "vendor_tenant_id": second }] }));
    let pairs = json!([{ "vendor_tenant_id": first, "acronis_tenant_id": C1 }, { "vendor_tenant_id": second, "acronis_tenant_id": C2 }]);
    ok(app, &tenant_mapping_write(PARTNER_TENANT, pairs), None).await;
    ok(app, &tenant_mapping_write(PARTNER_TENANT, json!([{ "vendor_tenant_id": second }])), None).await;
    let mapped = ok(app, &call("tenant_mapping.read", None), None).await;
    assert_eq!(
        mapped,
        json!({ "items": [{ "vendor_tenant_id": first, "acronis_tenant_id": C1 }, { "vendor_tenant_id": second }] })
    );
}

/// get_state → enable two → disable one; checks the list.
async fn mirror_customers(app: &TestApp) {
    assert_eq!(ok(app, &call("customer.mirroring.get_state", None), None).await, json!([]));
    let enable = set_customer_state(
        PARTNER_TENANT,
        json!([{ "acronis_tenant_id": C1, "acronis_tenant_name": "One" }, { "acronis_tenant_id": C2, "acronis_tenant_name": "Two" }]),
        json!([]),
    );
    ok(app, &enable, None).await;
    ok(app, &set_customer_state(PARTNER_TENANT, json!([]), json!([{ "acronis_tenant_id": C2 }])), None).await;
    let state = ok(app, &call("customer.mirroring.get_state", None), None).await;
    let listed: Vec<&str> =
        state.as_array().expect("array").iter().map(|c| c["acronis_tenant_id"].as_str().expect("id")).collect();
    assert_eq!(listed, [C1]);
}

async fn no_mirrored_customers_left(app: &TestApp) {
    assert_eq!(ok(app, &call("customer.mirroring.get_state", None), None).await, json!([]));
}

#[tokio::test]
async fn method_1_mapped_partner_with_mapped_customers() {
    let app = TestApp::spawn().await;
    directory(&app, None).await;
    enable_mapped_partner(&app).await;
    map_customers(&app, "cust-1", "cust-2").await;
    disable_mapped_partner(&app).await;
    // The partner is disabled: its customer lists are refused, and no mapping survived.
    app.callback(&call("tenant_mapping.read", None)).await.assert_error(403);
    assert!(app.tenant_by_acronis_id(C1).await.is_none());
}

#[tokio::test]
async fn method_2_mapped_partner_with_mirrored_customers() {
    let app = TestApp::spawn().await;
    directory(&app, None).await;
    enable_mapped_partner(&app).await;
    mirror_customers(&app).await;
    disable_mapped_partner(&app).await;
    no_mirrored_customers_left(&app).await;
}

#[tokio::test]
async fn method_3_mapped_partner_with_explicit_customers() {
    let app = TestApp::spawn().await;
    directory(&app, None).await;
    enable_mapped_partner(&app).await;
    disable_mapped_partner(&app).await;
    // The partner can be enabled again after a disable.
    enable_mapped_partner(&app).await;
}

#[tokio::test]
async fn method_4_mirrored_partner_with_mapped_customers() {
    let app = TestApp::spawn().await;
    let vendor_id = enable_mirrored_partner(&app).await;
    // A vendor service provisions the partner's customer accounts under its vendor tenant id.
    organizations(
        &app,
        &[
            ("m-cust-1", OrganizationKind::Customer, Some(vendor_id.as_str())),
            ("m-cust-2", OrganizationKind::Customer, Some(vendor_id.as_str())),
        ],
    )
    .await;
    map_customers(&app, "m-cust-1", "m-cust-2").await;
    disable_mirrored_partner(&app).await;
    assert!(app.tenant_by_acronis_id(C1).await.is_none(), "customer mappings removed with the partner");
    app.callback(&call("topology.read", Some(json!({})))).await.assert_error(403);
}

#[tokio::test]
async fn method_5_mirrored_partner_with_mirrored_customers() {
    let app = TestApp::spawn().await;
    let first = enable_mirrored_partner(&app).await;
    mirror_customers(&app).await;
    disable_mirrored_partner(&app).await;
    no_mirrored_customers_left(&app).await;
    // Re-enabling brings back the same vendor tenant id.
    let enable = call(
        "partner.mirroring.enable",
        Some(json!({ "acronis_tenant_id": PARTNER_TENANT, "acronis_tenant_name": "Mirrored MSP" })),
    );
    assert_eq!(ok(&app, &enable, None).await["vendor_tenant_id"], first.as_str());
}

#[tokio::test]
async fn method_6_mirrored_partner_with_explicit_customers() {
    let app = TestApp::spawn().await;
    enable_mirrored_partner(&app).await;
    disable_mirrored_partner(&app).await;
}

#[tokio::test]
async fn method_7_explicit_partner_with_mirrored_customers() {
    // No partner record is ever made: customers are keyed by the partner's Acronis tenant.
    let app = TestApp::spawn().await;
    mirror_customers(&app).await;
    ok(&app, &set_customer_state(PARTNER_TENANT, json!([]), json!([{ "acronis_tenant_id": C1 }])), None).await;
    no_mirrored_customers_left(&app).await;
    assert!(app.tenant_by_acronis_id(PARTNER_TENANT).await.is_none());
}

#[tokio::test]
async fn method_8_explicit_partner_with_explicit_customers_needs_no_records() {
    // No standard callback is sent for this method; state queries still answer without creating anything.
    let app = TestApp::spawn().await;
    assert_eq!(ok(&app, &call("partner.mirroring.get_state", None), None).await, json!({ "state": "DISABLED" }));
    no_mirrored_customers_left(&app).await;
    assert!(app.snapshot().await.is_empty());
}
