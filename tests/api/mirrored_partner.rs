//! Mirrored partner enablement: `partner.mirroring.get_state`, `.enable`, `.reset` (protocol §9.7–9.9).

use cyberapp_tenants::db::entity::tenant::{self, EnablementMethod, EnablementState, TenantKind};
use sea_orm::EntityTrait;
use serde_json::json;

use crate::helpers::{
    OTHER_TENANT, PARTNER_ENABLE_OK, PARTNER_RESET_OK, PARTNER_STATE_OK, PARTNER_TENANT, TestApp, assert_success,
    enable_partner, envelope, fixture, get_partner_state, reset_partner,
};

#[tokio::test]
async fn get_state_of_an_unknown_tenant_is_disabled_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let request = get_partner_state(PARTNER_TENANT);

    let response = app.callback(&request).await;

    let payload = assert_success(&response, &request, PARTNER_STATE_OK);
    assert_eq!(payload, Some(json!({ "state": "DISABLED" })));
    assert!(app.snapshot().await.is_empty());
}

#[tokio::test]
async fn documented_enable_request_creates_the_partner_with_a_new_vendor_tenant_id() {
    let app = TestApp::spawn().await;
    let request = fixture("partner_mirroring_enable.json");

    let response = app.callback(&request).await;

    let payload = assert_success(&response, &request, PARTNER_ENABLE_OK).expect("payload");
    assert_eq!(payload.as_object().expect("object").len(), 3, "{payload}");
    assert_eq!(payload["state"], "ENABLED");
    assert_eq!(payload["acronis_tenant_id"], PARTNER_TENANT);
    let vendor_tenant_id = payload["vendor_tenant_id"].as_str().expect("vendor id");
    assert!(!vendor_tenant_id.is_empty());

    let record = app.tenant_by_acronis_id(PARTNER_TENANT).await.expect("partner stored");
    assert_eq!(record.vendor_tenant_id, vendor_tenant_id);
    assert_eq!(record.kind, TenantKind::Partner);
    assert_eq!(record.enablement_method, EnablementMethod::Mirrored);
    assert_eq!(record.state, EnablementState::Enabled);
    assert_eq!(record.name.as_deref(), Some("yury_partner11_864"));
    assert_eq!(record.datacenter_url.as_deref(), Some("https://eu8.acronis.cloud"));
    assert_eq!(record.settings_json, None);
    assert_eq!(app.event_kinds().await, ["partner.enabled"]);
}

#[tokio::test]
async fn documented_get_state_request_reports_an_enabled_partner() {
    let app = TestApp::spawn().await;
    app.callback(&fixture("partner_mirroring_enable.json")).await;
    let request = fixture("partner_mirroring_get_state.json");

    let response = app.callback(&request).await;

    assert_eq!(assert_success(&response, &request, PARTNER_STATE_OK), Some(json!({ "state": "ENABLED" })));
}

#[tokio::test]
async fn settings_given_at_enable_are_stored_and_returned_by_get_state() {
    let app = TestApp::spawn().await;
    let settings = json!({ "field1_id": "value1", "field2_id": 2, "nested": { "a": [1, 2] } });
    app.callback(&enable_partner(PARTNER_TENANT, "Partner", Some(settings.clone()))).await;
    let request = get_partner_state(PARTNER_TENANT);

    let response = app.callback(&request).await;

    let payload = assert_success(&response, &request, PARTNER_STATE_OK);
    assert_eq!(payload, Some(json!({ "state": "ENABLED", "settings": settings })));
    let stored = app.tenant_by_acronis_id(PARTNER_TENANT).await.expect("stored").settings_json.expect("settings");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&stored).expect("json"), settings);
}

#[tokio::test]
async fn enabling_twice_returns_the_same_vendor_tenant_id_and_keeps_one_record() {
    let app = TestApp::spawn().await;
    let first = app.callback(&enable_partner(PARTNER_TENANT, "Partner", None)).await;
    let repeat = enable_partner(PARTNER_TENANT, "Partner", None);
    let second = app.callback(&repeat).await;

    assert_eq!(first.status, 200);
    assert_eq!(assert_success(&second, &repeat, PARTNER_ENABLE_OK).expect("payload")["state"], "ENABLED");
    assert_eq!(first.body["payload"]["vendor_tenant_id"], second.body["payload"]["vendor_tenant_id"]);
    assert_ne!(first.body["response_id"], second.body["response_id"]);
    // A repeat that changes nothing records nothing.
    assert_eq!(app.event_kinds().await, ["partner.enabled"]);
    let rows = tenant::Entity::find().all(&app.db).await.expect("tenants");
    assert_eq!(rows.len(), 1, "one tenant record");
}

#[tokio::test]
async fn reset_disables_the_partner_but_keeps_its_record() {
    let app = TestApp::spawn().await;
    app.callback(&enable_partner(PARTNER_TENANT, "Partner", None)).await;
    let request = reset_partner(PARTNER_TENANT);

    let response = app.callback(&request).await;

    assert_eq!(assert_success(&response, &request, PARTNER_RESET_OK), None, "reset.ok has no payload");
    let record = app.tenant_by_acronis_id(PARTNER_TENANT).await.expect("record kept");
    assert_eq!(record.state, EnablementState::Disabled);
    assert_eq!(app.event_kinds().await, ["partner.enabled", "partner.disabled"]);
    let state = app.callback(&get_partner_state(PARTNER_TENANT)).await;
    assert_eq!(state.body["payload"]["state"], "DISABLED");
}

#[tokio::test]
async fn documented_reset_request_is_answered_with_the_echoed_request_id() {
    let app = TestApp::spawn().await;
    app.callback(&fixture("partner_mirroring_enable.json")).await;
    let request = fixture("partner_mirroring_reset.json");

    let response = app.callback(&request).await;

    assert_eq!(assert_success(&response, &request, PARTNER_RESET_OK), None);
}

#[tokio::test]
async fn re_enabling_after_reset_returns_the_same_vendor_tenant_id_and_updates_name_and_settings() {
    let app = TestApp::spawn().await;
    let first = app.callback(&enable_partner(PARTNER_TENANT, "Old name", Some(json!({ "plan": "basic" })))).await;
    app.callback(&reset_partner(PARTNER_TENANT)).await;

    let mut request = enable_partner(PARTNER_TENANT, "New name", Some(json!({ "plan": "pro" })));
    request["context"]["datacenter_url"] = json!("https://us5.acronis.cloud");
    let again = app.callback(&request).await;

    let payload = assert_success(&again, &request, PARTNER_ENABLE_OK).expect("payload");
    assert_eq!(
        payload,
        json!({
            "state": "ENABLED",
            "vendor_tenant_id": first.body["payload"]["vendor_tenant_id"],
            "acronis_tenant_id": PARTNER_TENANT,
        })
    );
    let record = app.tenant_by_acronis_id(PARTNER_TENANT).await.expect("record");
    assert_eq!(record.state, EnablementState::Enabled);
    assert_eq!(record.name.as_deref(), Some("New name"));
    assert_eq!(record.settings_json.as_deref(), Some(r#"{"plan":"pro"}"#));
    assert_eq!(record.datacenter_url.as_deref(), Some("https://us5.acronis.cloud"));
    assert_eq!(app.event_kinds().await, ["partner.enabled", "partner.disabled", "partner.enabled"]);
}

#[tokio::test]
async fn enabling_an_enabled_partner_with_new_settings_updates_it() {
    let app = TestApp::spawn().await;
    app.callback(&enable_partner(PARTNER_TENANT, "Partner", Some(json!({ "plan": "basic" })))).await;

    let request = enable_partner(PARTNER_TENANT, "Renamed", Some(json!({ "plan": "pro" })));
    let response = app.callback(&request).await;

    assert_eq!(assert_success(&response, &request, PARTNER_ENABLE_OK).expect("payload")["state"], "ENABLED");
    let record = app.tenant_by_acronis_id(PARTNER_TENANT).await.expect("record");
    assert_eq!(record.name.as_deref(), Some("Renamed"));
    assert_eq!(record.settings_json.as_deref(), Some(r#"{"plan":"pro"}"#));
    let state = app.callback(&get_partner_state(PARTNER_TENANT)).await;
    assert_eq!(state.body["payload"], json!({ "state": "ENABLED", "settings": { "plan": "pro" } }));
    assert_eq!(app.event_kinds().await, ["partner.enabled", "partner.updated"]);
}

#[tokio::test]
async fn an_enable_without_settings_replaces_stored_settings_with_none() {
    // The enable request carries the enablement form as it is now: a form without settings has none.
    let app = TestApp::spawn().await;
    app.callback(&enable_partner(PARTNER_TENANT, "Partner", Some(json!({ "plan": "basic" })))).await;

    let response = app.callback(&enable_partner(PARTNER_TENANT, "Partner", None)).await;

    assert_eq!(response.status, 200);
    assert_eq!(app.tenant_by_acronis_id(PARTNER_TENANT).await.expect("record").settings_json, None);
    let state = app.callback(&get_partner_state(PARTNER_TENANT)).await;
    assert_eq!(state.body["payload"], json!({ "state": "ENABLED" }));
}

#[tokio::test]
async fn reset_disables_every_customer_of_the_partner_and_no_other() {
    let app = TestApp::spawn().await;
    app.callback(&enable_partner(PARTNER_TENANT, "Partner", None)).await;
    let own_customers = ["18a55fe8-7275-478c-a54e-af2ed53b6a20", "5a19bda3-c964-4e92-87ad-55c21df1285c"];
    let foreign_customer = "0b0e6f5e-60a8-4a4b-9c3c-2a1f5b7f6d11";
    for customer in own_customers {
        app.insert_customer(customer, customer, PARTNER_TENANT, EnablementMethod::Mirrored).await;
    }
    app.insert_customer(foreign_customer, foreign_customer, OTHER_TENANT, EnablementMethod::Mirrored).await;

    let request = reset_partner(PARTNER_TENANT);
    let response = app.callback(&request).await;

    assert_eq!(assert_success(&response, &request, PARTNER_RESET_OK), None);
    assert_eq!(app.tenant_by_acronis_id(PARTNER_TENANT).await.expect("partner").state, EnablementState::Disabled);
    for customer in own_customers {
        let record = app.tenant_by_acronis_id(customer).await.expect("customer kept");
        assert_eq!(record.state, EnablementState::Disabled, "{customer}");
    }
    let foreign = app.tenant_by_acronis_id(foreign_customer).await.expect("other partner's customer");
    assert_eq!(foreign.state, EnablementState::Enabled);
    assert_eq!(
        app.event_kinds().await,
        ["partner.enabled", "partner.disabled", "customer.disabled", "customer.disabled"]
    );
}

#[tokio::test]
async fn reset_of_an_unknown_or_disabled_partner_succeeds_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let request = reset_partner(PARTNER_TENANT);
    let response = app.callback(&request).await;
    assert_eq!(assert_success(&response, &request, PARTNER_RESET_OK), None);
    assert!(app.snapshot().await.is_empty());

    app.callback(&enable_partner(PARTNER_TENANT, "Partner", None)).await;
    app.callback(&reset_partner(PARTNER_TENANT)).await;
    let before = app.snapshot().await;
    let repeat = reset_partner(PARTNER_TENANT);
    let again = app.callback(&repeat).await;
    assert_eq!(assert_success(&again, &repeat, PARTNER_RESET_OK), None);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn enable_for_a_tenant_other_than_the_caller_is_refused_with_403() {
    let app = TestApp::spawn().await;
    let mut request = enable_partner(PARTNER_TENANT, "Partner", None);
    request["payload"]["acronis_tenant_id"] = json!(OTHER_TENANT);

    let response = app.callback(&request).await;

    response.assert_error(403);
    assert_eq!(response.body["request_id"], request["request_id"]);
    assert!(app.snapshot().await.is_empty());
}

#[tokio::test]
async fn tenant_ids_in_upper_case_name_the_same_tenant() {
    let app = TestApp::spawn().await;
    let upper = PARTNER_TENANT.to_uppercase();
    let mut request = enable_partner(&upper, "Partner", None);
    request["payload"]["acronis_tenant_id"] = json!(PARTNER_TENANT);

    let response = app.callback(&request).await;

    let payload = assert_success(&response, &request, PARTNER_ENABLE_OK).expect("payload");
    assert_eq!(payload["acronis_tenant_id"], PARTNER_TENANT);
    assert!(app.tenant_by_acronis_id(PARTNER_TENANT).await.is_some(), "stored in lower case");
    let state = app.callback(&get_partner_state(PARTNER_TENANT)).await;
    assert_eq!(state.body["payload"]["state"], "ENABLED");
}

#[tokio::test]
async fn invalid_enable_payloads_are_refused_with_400_and_change_nothing() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            "settings not an object",
            json!({ "acronis_tenant_id": PARTNER_TENANT, "acronis_tenant_name": "P", "settings": [1] }),
        ),
        ("name missing", json!({ "acronis_tenant_id": PARTNER_TENANT })),
        ("name empty", json!({ "acronis_tenant_id": PARTNER_TENANT, "acronis_tenant_name": "  " })),
        ("name not a string", json!({ "acronis_tenant_id": PARTNER_TENANT, "acronis_tenant_name": 5 })),
        ("tenant missing", json!({ "acronis_tenant_name": "P" })),
        ("tenant not a UUID", json!({ "acronis_tenant_id": "partner-1", "acronis_tenant_name": "P" })),
        ("NUL in the name", json!({ "acronis_tenant_id": PARTNER_TENANT, "acronis_tenant_name": "P\u{0}Q" })),
        ("newline in the name", json!({ "acronis_tenant_id": PARTNER_TENANT, "acronis_tenant_name": "P\nQ" })),
        ("payload an array", json!([1, 2])),
    ];
    for (case, payload) in cases {
        let request = envelope("partner.mirroring.enable", PARTNER_TENANT, Some(payload));
        let response = app.callback(&request).await;
        assert_eq!(response.status, 400, "{case}: {}", response.body);
        response.assert_error(400);
        assert_eq!(response.body["request_id"], request["request_id"], "{case}");
    }
    let no_payload = app.callback(&envelope("partner.mirroring.enable", PARTNER_TENANT, None)).await;
    no_payload.assert_error(400);
    for datacenter in ["eu8.acronis.cloud", "https://eu8\u{0}.acronis.cloud", "javascript:alert(1)"] {
        let mut request = enable_partner(PARTNER_TENANT, "Partner", None);
        request["context"]["datacenter_url"] = json!(datacenter);
        app.callback(&request).await.assert_error(400);
    }
    assert!(app.snapshot().await.is_empty());
}

#[tokio::test]
async fn mirroring_callbacks_under_the_v1_base_are_dispatched_too() {
    let app = TestApp::spawn().await;
    let mut request = get_partner_state(PARTNER_TENANT);
    request["context"]["callback_id"] = json!("cti.a.p.acgw.callback.v1.0~a.p.partner.mirroring.get_state.v1.2");

    let response = app.callback(&request).await;

    assert_eq!(assert_success(&response, &request, PARTNER_STATE_OK), Some(json!({ "state": "DISABLED" })));
}

#[tokio::test]
async fn concurrent_first_enables_of_one_partner_agree_on_one_vendor_tenant_id() {
    let app = TestApp::spawn().await;
    let app = &app;
    let requests = (0..16).map(|_| async move { app.callback(&enable_partner(PARTNER_TENANT, "Partner", None)).await });
    let responses = futures::future::join_all(requests).await;
    let ids: std::collections::HashSet<String> = responses
        .iter()
        .map(|response| {
            assert_eq!(response.status, 200, "{}", response.body);
            response.body["payload"]["vendor_tenant_id"].as_str().expect("id").to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
}
