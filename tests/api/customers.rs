//! Customer enablement: mapped customers (`topology.read`, `tenant_mapping.read`, `tenant_mapping.write`)
//! and mirrored customers (`customer.mirroring.get_state`, `.set_state`), with paging.

use cyberapp_tenants::db::entity::tenant::{EnablementMethod, EnablementState, TenantKind};
use cyberapp_tenants::pb::OrganizationKind;
use serde_json::{Value, json};

use crate::helpers::{
    C1, C2, C3, CUSTOMER_SET_OK, CUSTOMER_STATE_OK, MAPPING_READ_OK, NO_CONTENT, OTHER_TENANT, PARTNER_TENANT,
    TOPOLOGY_OK, TestApp, assert_success, enablement_reset, enablement_write, envelope, get_customer_state,
    organizations, password_auth, reset_partner, set_customer_state, tenant_mapping_read, tenant_mapping_write,
    topology_read,
};

/// A mapped partner `acme` (enabled for PARTNER_TENANT) with customers c-a (direct), c-b (under a nested
/// partner) and c-c; and `other` (enabled for OTHER_TENANT) with customer o-a.
async fn mapped_partners() -> TestApp {
    let app = TestApp::spawn().await;
    organizations(
        &app,
        &[
            ("acme", OrganizationKind::Partner, None),
            ("acme-sub", OrganizationKind::Partner, Some("acme")),
            ("c-a", OrganizationKind::Customer, Some("acme")),
            ("c-b", OrganizationKind::Customer, Some("acme-sub")),
            ("c-c", OrganizationKind::Customer, Some("acme")),
            ("other", OrganizationKind::Partner, None),
            ("o-a", OrganizationKind::Customer, Some("other")),
        ],
    )
    .await;
    let mut grpc = app.grpc().await;
    for (identity, organization, tenant) in
        [("admin@acme", "acme", PARTNER_TENANT), ("admin@other", "other", OTHER_TENANT)]
    {
        grpc.set_credentials(cyberapp_tenants::pb::SetCredentialsRequest {
            identity: identity.into(),
            organization_id: organization.into(),
            secrets_json: json!({ "password": "pw" }).to_string(),
        })
        .await
        .expect("credentials");
        let write = enablement_write(tenant, organization, tenant);
        let response = app.callback_with_headers(&write, &[password_auth(identity, "pw")]).await;
        assert_eq!(response.status, 200, "{}", response.body);
    }
    app
}

#[tokio::test]
async fn topology_read_lists_every_customer_under_the_partner_at_every_depth_and_no_partner() {
    let app = mapped_partners().await;
    let request = topology_read(PARTNER_TENANT);

    let response = app.callback(&request).await;

    let payload = assert_success(&response, &request, TOPOLOGY_OK);
    assert_eq!(
        payload,
        Some(json!({ "items": [
            { "id": "c-a", "name": "c-a name" },
            { "id": "c-b", "name": "c-b name" },
            { "id": "c-c", "name": "c-c name" },
        ] }))
    );
}

#[tokio::test]
async fn tenant_mapping_read_lists_the_same_customers_with_their_acronis_tenant_when_mapped() {
    let app = mapped_partners().await;
    app.callback(&tenant_mapping_write(
        PARTNER_TENANT,
        json!([{ "vendor_tenant_id": "c-b", "acronis_tenant_id": C1 }]),
    ))
    .await;
    let request = tenant_mapping_read(PARTNER_TENANT);

    let response = app.callback(&request).await;

    assert_eq!(
        assert_success(&response, &request, MAPPING_READ_OK),
        Some(json!({ "items": [
            { "vendor_tenant_id": "c-a" },
            { "vendor_tenant_id": "c-b", "acronis_tenant_id": C1 },
            { "vendor_tenant_id": "c-c" },
        ] }))
    );
}

#[tokio::test]
async fn customer_lists_of_a_partner_that_is_not_enabled_are_refused_with_403() {
    let app = mapped_partners().await;
    for callback in ["topology.read", "tenant_mapping.read"] {
        let response = app.callback(&envelope(callback, "7d2a4f0e-0000-4000-8000-000000000001", Some(json!({})))).await;
        response.assert_error(403);
    }
}

#[tokio::test]
async fn tenant_mapping_write_maps_pairs_and_unmaps_lone_vendor_ids() {
    let app = mapped_partners().await;
    let request = tenant_mapping_write(
        PARTNER_TENANT,
        json!([{ "vendor_tenant_id": "c-a", "acronis_tenant_id": C1 }, { "vendor_tenant_id": "c-b", "acronis_tenant_id": C2 }]),
    );

    let response = app.callback(&request).await;

    assert_eq!(assert_success(&response, &request, NO_CONTENT), None);
    let record = app.tenant_by_acronis_id(C1).await.expect("mapped");
    assert_eq!(record.vendor_tenant_id, "c-a");
    assert_eq!(record.kind, TenantKind::Customer);
    assert_eq!(record.enablement_method, EnablementMethod::Mapped);
    assert_eq!(record.partner_acronis_tenant_id.as_deref(), Some(PARTNER_TENANT));
    assert_eq!(record.datacenter_url.as_deref(), Some("https://eu8.acronis.cloud"));

    let unmap = tenant_mapping_write(PARTNER_TENANT, json!([{ "vendor_tenant_id": "c-a" }]));
    assert_eq!(assert_success(&app.callback(&unmap).await, &unmap, NO_CONTENT), None);
    assert!(app.tenant_by_acronis_id(C1).await.is_none());
    assert!(app.tenant_by_acronis_id(C2).await.is_some(), "the other mapping stays");
    let events = app.event_kinds().await;
    assert_eq!(events.iter().filter(|k| *k == "customer.mapped").count(), 2);
    assert_eq!(events.last().map(String::as_str), Some("customer.unmapped"));
}

#[tokio::test]
async fn the_same_pair_again_succeeds_and_changes_nothing() {
    let app = mapped_partners().await;
    let pair = json!([{ "vendor_tenant_id": "c-a", "acronis_tenant_id": C1 }]);
    app.callback(&tenant_mapping_write(PARTNER_TENANT, pair.clone())).await;
    let before = app.snapshot().await;
    let again = app.callback(&tenant_mapping_write(PARTNER_TENANT, pair)).await;
    assert_eq!(again.status, 200);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn remapping_within_the_partner_replaces_the_old_pair_on_both_sides() {
    let app = mapped_partners().await;
    app.callback(&tenant_mapping_write(
        PARTNER_TENANT,
        json!([{ "vendor_tenant_id": "c-a", "acronis_tenant_id": C1 }]),
    ))
    .await;

    // The Acronis tenant moves to another customer of the same partner, and c-a gets a new tenant.
    let response = app
        .callback(&tenant_mapping_write(
            PARTNER_TENANT,
            json!([{ "vendor_tenant_id": "c-b", "acronis_tenant_id": C1 }, { "vendor_tenant_id": "c-a", "acronis_tenant_id": C2 }]),
        ))
        .await;

    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(app.tenant_by_acronis_id(C1).await.expect("C1").vendor_tenant_id, "c-b");
    assert_eq!(app.tenant_by_acronis_id(C2).await.expect("C2").vendor_tenant_id, "c-a");
}

#[tokio::test]
async fn one_request_applies_its_pairs_in_order_and_each_event_carries_the_record_as_left() {
    use cyberapp_tenants::db::entity::{tenant, tenant_event};
    use sea_orm::{EntityTrait, QueryOrder};
    let app = mapped_partners().await;
    let first = json!([{ "vendor_tenant_id": "c-a", "acronis_tenant_id": C1 }, { "vendor_tenant_id": "c-b", "acronis_tenant_id": C2 }]);
    assert_eq!(app.callback(&tenant_mapping_write(PARTNER_TENANT, first)).await.status, 200);
    let events_before = app.event_kinds().await.len();

    // A swap (each pair takes the tenant the other holds), a new customer, and that customer named again.
    let response = app
        .callback(&tenant_mapping_write(
            PARTNER_TENANT,
            json!([
                { "vendor_tenant_id": "c-a", "acronis_tenant_id": C2 },
                { "vendor_tenant_id": "c-b", "acronis_tenant_id": C1 },
                { "vendor_tenant_id": "c-c", "acronis_tenant_id": C3 },
                { "vendor_tenant_id": "c-c" },
            ]),
        ))
        .await;

    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(app.tenant_by_acronis_id(C2).await.expect("C2").vendor_tenant_id, "c-a");
    assert_eq!(app.tenant_by_acronis_id(C1).await.expect("C1").vendor_tenant_id, "c-b");
    assert!(app.tenant_by_acronis_id(C3).await.is_none(), "c-c was mapped, then unmapped");
    assert_eq!(
        app.event_kinds().await[events_before..],
        ["customer.unmapped", "customer.mapped", "customer.mapped", "customer.mapped", "customer.unmapped"]
    );
    let events = tenant_event::Entity::find().order_by_asc(tenant_event::Column::Id).all(&app.db).await.unwrap();
    let new_events = &events[events.len() - 5..];
    let named: Vec<_> =
        new_events.iter().map(|e| (e.vendor_tenant_id.as_str(), e.acronis_tenant_id.as_deref())).collect();
    assert_eq!(named, [("c-b", Some(C2)), ("c-a", Some(C2)), ("c-b", Some(C1)), ("c-c", Some(C3)), ("c-c", Some(C3))]);
    // The last event of each record carries exactly the record as stored.
    for record in tenant::Entity::find().all(&app.db).await.unwrap() {
        let Some(last) = new_events.iter().rev().find(|e| e.vendor_tenant_id == record.vendor_tenant_id) else {
            continue;
        };
        let snapshot: tenant::Model = serde_json::from_str(last.snapshot_json.as_deref().unwrap()).unwrap();
        assert_eq!(snapshot, record);
    }
}

#[tokio::test]
async fn a_customer_outside_the_partner_refuses_the_whole_request_with_403() {
    let app = mapped_partners().await;
    let before = app.snapshot().await;
    // A valid pair and an invalid one in the same request: nothing is applied.
    for outsider in ["o-a", "other", "acme-sub", "nobody"] {
        let request = tenant_mapping_write(
            PARTNER_TENANT,
            json!([{ "vendor_tenant_id": "c-a", "acronis_tenant_id": C1 }, { "vendor_tenant_id": outsider, "acronis_tenant_id": C2 }]),
        );
        let response = app.callback(&request).await;
        response.assert_error(403);
        assert_eq!(app.snapshot().await, before, "{outsider}");
    }
}

#[tokio::test]
async fn an_acronis_tenant_held_by_another_partners_customer_refuses_the_whole_request_with_403() {
    let app = mapped_partners().await;
    app.callback(&tenant_mapping_write(OTHER_TENANT, json!([{ "vendor_tenant_id": "o-a", "acronis_tenant_id": C3 }])))
        .await;
    let before = app.snapshot().await;
    let request = tenant_mapping_write(
        PARTNER_TENANT,
        json!([{ "vendor_tenant_id": "c-a", "acronis_tenant_id": C1 }, { "vendor_tenant_id": "c-b", "acronis_tenant_id": C3 }]),
    );

    app.callback(&request).await.assert_error(403);

    assert_eq!(app.snapshot().await, before);
    // A partner tenant cannot become a customer either.
    let partner_as_customer =
        tenant_mapping_write(PARTNER_TENANT, json!([{ "vendor_tenant_id": "c-a", "acronis_tenant_id": OTHER_TENANT }]));
    app.callback(&partner_as_customer).await.assert_error(403);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn invalid_mapping_payloads_are_refused_with_400() {
    let app = mapped_partners().await;
    let before = app.snapshot().await;
    for payload in [
        json!({}),
        json!({ "modified": "c-a" }),
        json!({ "modified": [{ "acronis_tenant_id": C1 }] }),
        json!({ "modified": [{ "vendor_tenant_id": "c-a", "acronis_tenant_id": "nope" }] }),
        json!({ "modified": [{ "vendor_tenant_id": "" }] }),
    ] {
        let response = app.callback(&envelope("tenant_mapping.write", PARTNER_TENANT, Some(payload.clone()))).await;
        assert_eq!(response.status, 400, "{payload}: {}", response.body);
        response.assert_error(400);
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn enablement_reset_removes_every_customer_mapping_of_the_partner() {
    let app = mapped_partners().await;
    app.callback(&tenant_mapping_write(
        PARTNER_TENANT,
        json!([{ "vendor_tenant_id": "c-a", "acronis_tenant_id": C1 }, { "vendor_tenant_id": "c-b", "acronis_tenant_id": C2 }]),
    ))
    .await;
    app.callback(&tenant_mapping_write(OTHER_TENANT, json!([{ "vendor_tenant_id": "o-a", "acronis_tenant_id": C3 }])))
        .await;

    let reset = enablement_reset(PARTNER_TENANT);
    let response = app.callback_with_headers(&reset, &[password_auth("admin@acme", "pw")]).await;

    assert_eq!(response.status, 200);
    assert!(app.tenant_by_acronis_id(C1).await.is_none());
    assert!(app.tenant_by_acronis_id(C2).await.is_none());
    assert!(app.tenant_by_acronis_id(C3).await.is_some(), "another partner's customer is untouched");
}

#[tokio::test]
async fn mirrored_customers_are_created_listed_and_disabled_with_stable_vendor_ids() {
    let app = TestApp::spawn().await;
    app.seed_mirrored_partner(PARTNER_TENANT).await;
    let empty = get_customer_state(PARTNER_TENANT);
    assert_eq!(assert_success(&app.callback(&empty).await, &empty, CUSTOMER_STATE_OK), Some(json!([])));

    let enable = set_customer_state(
        PARTNER_TENANT,
        json!([
            { "acronis_tenant_id": C1, "acronis_tenant_name": "Customer 1", "settings": { "seats": 5 } },
            { "acronis_tenant_id": C2, "acronis_tenant_name": "Customer 2" },
        ]),
        json!([]),
    );
    assert_eq!(assert_success(&app.callback(&enable).await, &enable, CUSTOMER_SET_OK), None);

    let state = get_customer_state(PARTNER_TENANT);
    let listed = assert_success(&app.callback(&state).await, &state, CUSTOMER_STATE_OK).expect("array");
    let first_ids: Vec<Value> =
        listed.as_array().expect("array").iter().map(|c| c["vendor_tenant_id"].clone()).collect();
    assert_eq!(
        listed,
        json!([
            { "vendor_tenant_id": first_ids[0], "acronis_tenant_id": C1, "settings": { "seats": 5 } },
            { "vendor_tenant_id": first_ids[1], "acronis_tenant_id": C2 },
        ])
    );
    let record = app.tenant_by_acronis_id(C1).await.expect("stored");
    assert_eq!((record.kind, record.enablement_method), (TenantKind::Customer, EnablementMethod::Mirrored));
    assert_eq!(record.name.as_deref(), Some("Customer 1"));
    assert_eq!(record.partner_acronis_tenant_id.as_deref(), Some(PARTNER_TENANT));

    let disable = set_customer_state(PARTNER_TENANT, json!([]), json!([{ "acronis_tenant_id": C1 }]));
    assert_eq!(app.callback(&disable).await.status, 200);
    let after = app.callback(&state).await.body["payload"].clone();
    assert_eq!(after, json!([{ "vendor_tenant_id": first_ids[1], "acronis_tenant_id": C2 }]));
    assert_eq!(app.tenant_by_acronis_id(C1).await.expect("kept").state, EnablementState::Disabled);

    let again = set_customer_state(
        PARTNER_TENANT,
        json!([{ "acronis_tenant_id": C1, "acronis_tenant_name": "Renamed" }]),
        json!([]),
    );
    assert_eq!(app.callback(&again).await.status, 200);
    let record = app.tenant_by_acronis_id(C1).await.expect("re-enabled");
    assert_eq!(Value::from(record.vendor_tenant_id), first_ids[0], "stable vendor tenant id");
    assert_eq!(record.name.as_deref(), Some("Renamed"));
}

#[tokio::test]
async fn both_lists_in_one_set_state_request_are_honoured() {
    let app = TestApp::spawn().await;
    app.callback(&set_customer_state(
        PARTNER_TENANT,
        json!([{ "acronis_tenant_id": C1, "acronis_tenant_name": "One" }]),
        json!([]),
    ))
    .await;

    let both = set_customer_state(
        PARTNER_TENANT,
        json!([{ "acronis_tenant_id": C2, "acronis_tenant_name": "Two" }]),
        json!([{ "acronis_tenant_id": C1 }]),
    );
    assert_eq!(app.callback(&both).await.status, 200);

    assert_eq!(app.tenant_by_acronis_id(C1).await.expect("one").state, EnablementState::Disabled);
    assert_eq!(app.tenant_by_acronis_id(C2).await.expect("two").state, EnablementState::Enabled);
}

#[tokio::test]
async fn set_state_is_all_or_nothing_and_guards_other_partners_customers() {
    let app = TestApp::spawn().await;
    app.callback(&set_customer_state(
        OTHER_TENANT,
        json!([{ "acronis_tenant_id": C3, "acronis_tenant_name": "Theirs" }]),
        json!([]),
    ))
    .await;
    let before = app.snapshot().await;

    let steal = set_customer_state(
        PARTNER_TENANT,
        json!([{ "acronis_tenant_id": C1, "acronis_tenant_name": "Fine" }, { "acronis_tenant_id": C3, "acronis_tenant_name": "Theirs" }]),
        json!([]),
    );
    app.callback(&steal).await.assert_error(403);
    let disable_theirs = set_customer_state(PARTNER_TENANT, json!([]), json!([{ "acronis_tenant_id": C3 }]));
    app.callback(&disable_theirs).await.assert_error(403);

    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn set_state_for_another_partner_or_with_a_bad_payload_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut foreign = set_customer_state(
        PARTNER_TENANT,
        json!([{ "acronis_tenant_id": C1, "acronis_tenant_name": "One" }]),
        json!([]),
    );
    foreign["payload"]["partner_tenant_id"] = json!(OTHER_TENANT);
    app.callback(&foreign).await.assert_error(403);
    for payload in [
        json!({ "enabled": [] }),
        json!({ "partner_tenant_id": "nope", "enabled": [] }),
        json!({ "partner_tenant_id": PARTNER_TENANT, "enabled": [{ "acronis_tenant_id": "nope", "acronis_tenant_name": "x" }] }),
        json!({ "partner_tenant_id": PARTNER_TENANT, "enabled": [{ "acronis_tenant_id": C1 }] }),
        json!({ "partner_tenant_id": PARTNER_TENANT, "enabled": [{ "acronis_tenant_id": C1, "acronis_tenant_name": "x", "settings": [1] }] }),
        json!({ "partner_tenant_id": PARTNER_TENANT, "disabled": [{ "acronis_tenant_id": "nope" }] }),
        json!({ "partner_tenant_id": PARTNER_TENANT, "enabled": {} }),
    ] {
        let response =
            app.callback(&envelope("customer.mirroring.set_state", PARTNER_TENANT, Some(payload.clone()))).await;
        assert_eq!(response.status, 400, "{payload}: {}", response.body);
        response.assert_error(400);
    }
    assert!(app.snapshot().await.is_empty());
}

#[tokio::test]
async fn partner_mirroring_reset_disables_every_mirrored_customer() {
    let app = TestApp::spawn().await;
    app.seed_mirrored_partner(PARTNER_TENANT).await;
    app.callback(&set_customer_state(
        PARTNER_TENANT,
        json!([{ "acronis_tenant_id": C1, "acronis_tenant_name": "One" }, { "acronis_tenant_id": C2, "acronis_tenant_name": "Two" }]),
        json!([]),
    ))
    .await;

    assert_eq!(app.callback(&reset_partner(PARTNER_TENANT)).await.status, 200);

    let state = app.callback(&get_customer_state(PARTNER_TENANT)).await;
    assert_eq!(state.body["payload"], json!([]));
    // Customers cannot be enabled under the disabled partner until it is enabled again.
    let refused = set_customer_state(
        PARTNER_TENANT,
        json!([{ "acronis_tenant_id": C1, "acronis_tenant_name": "One" }]),
        json!([]),
    );
    app.callback(&refused).await.assert_error(403);
}

#[tokio::test]
async fn walking_all_pages_returns_every_customer_exactly_once_in_a_stable_order() {
    let app = TestApp::spawn().await;
    organizations(&app, &[("p", OrganizationKind::Partner, None), ("p-sub", OrganizationKind::Partner, Some("p"))])
        .await;
    let customers: Vec<String> = (0..57).map(|i| format!("cust-{i:03}")).collect();
    for (i, id) in customers.iter().enumerate() {
        let parent = if i % 3 == 0 { "p-sub" } else { "p" };
        organizations(&app, &[(id, OrganizationKind::Customer, Some(parent))]).await;
    }
    let mut grpc = app.grpc().await;
    grpc.set_credentials(cyberapp_tenants::pb::SetCredentialsRequest {
        identity: "p-admin".into(),
        organization_id: "p".into(),
        secrets_json: json!({ "password": "pw" }).to_string(),
    })
    .await
    .expect("credentials");
    let write = enablement_write(OTHER_TENANT, "p", OTHER_TENANT);
    assert_eq!(app.callback_with_headers(&write, &[password_auth("p-admin", "pw")]).await.status, 200);

    let mut expected = customers.clone();
    expected.sort();
    for callback in ["topology.read", "tenant_mapping.read"] {
        let ids = walk_pages_of(&app, OTHER_TENANT, callback, 10).await;
        assert_eq!(ids, expected, "{callback}");
    }

    // Offset form: the page and its counts.
    let mut request = topology_read(OTHER_TENANT);
    request["paging"] = json!({ "limit": 10, "offset": 50 });
    let response = app.callback(&request).await;
    let payload = assert_success(&response, &request, TOPOLOGY_OK).expect("payload");
    assert_eq!(payload["paging"], json!({ "offset": 50, "limit": 10, "total_count": 57 }));
    assert_eq!(payload["items"].as_array().expect("items").len(), 7);
    assert_eq!(payload["items"][0]["id"], "cust-050");
}

/// Follows the `after` cursors of `callback` from the first page to the last, returning the ids in order,
/// and checks that the last page's `before` cursor leads back to a full page.
async fn walk_pages_of(app: &TestApp, partner: &str, callback: &str, limit: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut paging = json!({ "limit": limit });
    let mut previous_before = None;
    for _ in 0..1000 {
        let mut request = envelope(callback, partner, Some(json!({})));
        request["paging"] = paging.clone();
        let response = app.callback(&request).await;
        assert_eq!(response.status, 200, "{}", response.body);
        let payload = &response.body["payload"];
        let items = payload["items"].as_array().expect("items").clone();
        assert!(!items.is_empty() && items.len() <= limit as usize, "{payload}");
        ids.extend(
            items.iter().map(|item| item["id"].as_str().or(item["vendor_tenant_id"].as_str()).expect("id").to_owned()),
        );
        previous_before = payload["paging"]["before"].as_str().map(str::to_owned).or(previous_before);
        match payload["paging"]["after"].as_str() {
            Some(after) => paging = json!({ "limit": limit, "after": after }),
            None => break,
        }
    }
    // The last page's before cursor leads back to the page before it.
    if let Some(before) = previous_before {
        let mut request = envelope(callback, partner, Some(json!({})));
        request["paging"] = json!({ "limit": limit, "before": before });
        let response = app.callback(&request).await;
        let items = response.body["payload"]["items"].as_array().expect("items").clone();
        assert_eq!(items.len(), limit as usize, "{}", response.body);
    }
    ids
}

#[tokio::test]
async fn bad_paging_is_refused_with_400() {
    let app = mapped_partners().await;
    for paging in [
        json!({ "limit": 0 }),
        json!({ "limit": -1 }),
        json!({ "after": "x" }),
        json!({ "limit": 5, "offset": 1, "after": "eA" }),
        json!({ "limit": 5, "after": "not-our-cursor" }),
        json!("five"),
    ] {
        let mut request = topology_read(PARTNER_TENANT);
        request["paging"] = paging.clone();
        let response = app.callback(&request).await;
        assert_eq!(response.status, 400, "{paging}: {}", response.body);
    }
}

#[tokio::test]
async fn a_customer_mapped_by_another_partner_cannot_be_taken_over() {
    // c-b sits under acme's nested reseller, which enabled the CyberApp on its own and mapped c-b.
    let app = mapped_partners().await;
    let reseller_tenant = "7d2a4f0e-0000-4000-8000-00000000aaaa";
    app.insert_customer("c-b", C3, reseller_tenant, EnablementMethod::Mapped).await;
    let before = app.snapshot().await;

    for modified in [
        json!([{ "vendor_tenant_id": "c-b", "acronis_tenant_id": C2 }]),
        json!([{ "vendor_tenant_id": "c-b" }]),
        json!([{ "vendor_tenant_id": "c-a", "acronis_tenant_id": C3 }]),
    ] {
        let response = app.callback(&tenant_mapping_write(PARTNER_TENANT, modified.clone())).await;
        assert_eq!(response.status, 403, "{modified}: {}", response.body);
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_cursor_that_smuggles_a_control_character_is_refused_with_400() {
    use base64::Engine as _;
    let app = mapped_partners().await;
    let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("id:c-\u{0}a");
    let mut request = tenant_mapping_read(PARTNER_TENANT);
    request["paging"] = json!({ "limit": 2, "after": cursor });
    app.callback(&request).await.assert_error(400);
}

#[tokio::test]
async fn tenant_mapping_read_pages_by_offset_and_by_before_cursor() {
    let app = mapped_partners().await;
    let mut by_offset = tenant_mapping_read(PARTNER_TENANT);
    by_offset["paging"] = json!({ "limit": 1, "offset": 1 });
    let response = app.callback(&by_offset).await;
    assert_eq!(
        assert_success(&response, &by_offset, MAPPING_READ_OK),
        Some(
            json!({ "items": [{ "vendor_tenant_id": "c-b" }], "paging": { "offset": 1, "limit": 1, "total_count": 3 } })
        )
    );

    // The middle page's before cursor leads back to the first page.
    let mut first = tenant_mapping_read(PARTNER_TENANT);
    first["paging"] = json!({ "limit": 1 });
    let after = app.callback(&first).await.body["payload"]["paging"]["after"].clone();
    let mut middle = tenant_mapping_read(PARTNER_TENANT);
    middle["paging"] = json!({ "limit": 1, "after": after });
    let middle_page = app.callback(&middle).await.body["payload"].clone();
    assert_eq!(middle_page["items"], json!([{ "vendor_tenant_id": "c-b" }]));
    let mut back = tenant_mapping_read(PARTNER_TENANT);
    back["paging"] = json!({ "limit": 1, "before": middle_page["paging"]["before"] });
    let back_page = app.callback(&back).await.body["payload"].clone();
    assert_eq!(back_page["items"], json!([{ "vendor_tenant_id": "c-a" }]));
    assert!(back_page["paging"].get("before").is_none(), "no page before the first: {back_page}");
}

#[tokio::test]
async fn a_customer_list_is_answered_unchanged_to_the_version_held_and_in_full_once_it_changed() {
    use cyberapp_tenants::pb::{ListCustomerOrganizationsRequest, PageRequest};
    let app = mapped_partners().await;
    let mut grpc = app.grpc().await;
    let unpaged = |held_version: Vec<u8>| ListCustomerOrganizationsRequest {
        partner_acronis_tenant_id: PARTNER_TENANT.into(),
        page: None,
        held_version,
    };
    let ids = |customers: &[cyberapp_tenants::pb::CustomerOrganization]| {
        customers.iter().map(|customer| customer.vendor_tenant_id.clone()).collect::<Vec<_>>()
    };

    let first = grpc.list_customer_organizations(unpaged(Vec::new())).await.expect("list").into_inner();
    assert_eq!(ids(&first.customers), ["c-a", "c-b", "c-c"]);
    assert_eq!(first.version.len(), 16);
    assert!(!first.unchanged);

    // The version held: unchanged, and nothing else sent.
    let again = grpc.list_customer_organizations(unpaged(first.version.clone())).await.expect("list").into_inner();
    assert!(again.unchanged);
    assert_eq!((again.customers.len(), again.page, &again.version), (0, None, &first.version));

    // Another version (a page, or bytes that name nothing): the whole answer.
    let paged = ListCustomerOrganizationsRequest {
        page: Some(PageRequest { limit: 2, ..Default::default() }),
        ..unpaged(first.version.clone())
    };
    let page = grpc.list_customer_organizations(paged).await.expect("page").into_inner();
    assert!(!page.unchanged);
    assert_eq!(ids(&page.customers), ["c-a", "c-b"]);
    assert!(page.page.is_some());
    assert_ne!(page.version, first.version);
    let unknown = grpc.list_customer_organizations(unpaged(vec![7; 16])).await.expect("list").into_inner();
    assert!(!unknown.unchanged);
    assert_eq!((ids(&unknown.customers), &unknown.version), (ids(&first.customers), &first.version));

    // After a change, the version held is answered with the new list.
    let write = tenant_mapping_write(PARTNER_TENANT, json!([{ "vendor_tenant_id": "c-a", "acronis_tenant_id": C1 }]));
    assert_eq!(app.callback(&write).await.status, 200);
    let changed = grpc.list_customer_organizations(unpaged(first.version.clone())).await.expect("list").into_inner();
    assert!(!changed.unchanged);
    assert_eq!(changed.customers[0].acronis_tenant_id.as_deref(), Some(C1));
    assert_ne!(changed.version, first.version);
}

#[tokio::test]
async fn repeated_customer_list_callbacks_answer_each_in_its_own_shape_and_see_every_change() {
    let app = mapped_partners().await;
    let payload = |response: &crate::helpers::TestResponse| response.body["payload"].clone();
    let mapping = tenant_mapping_read(PARTNER_TENANT);
    let unmapped = json!({ "items": [
        { "vendor_tenant_id": "c-a" }, { "vendor_tenant_id": "c-b" }, { "vendor_tenant_id": "c-c" },
    ] });
    for _ in 0..3 {
        let response = app.callback(&mapping).await;
        assert_eq!(assert_success(&response, &mapping, MAPPING_READ_OK), Some(unmapped.clone()));
    }
    // The same partner and page through the other callback: its own rendering, never the one held for the first.
    let topology = topology_read(PARTNER_TENANT);
    let response = app.callback(&topology).await;
    assert_success(&response, &topology, TOPOLOGY_OK);
    assert_eq!(payload(&response)["items"][0], json!({ "id": "c-a", "name": "c-a name" }));
    let response = app.callback(&mapping).await;
    assert_eq!(assert_success(&response, &mapping, MAPPING_READ_OK), Some(unmapped));

    let write = tenant_mapping_write(PARTNER_TENANT, json!([{ "vendor_tenant_id": "c-c", "acronis_tenant_id": C2 }]));
    assert_eq!(app.callback(&write).await.status, 200);
    let response = app.callback(&mapping).await;
    assert_eq!(payload(&response)["items"][2], json!({ "vendor_tenant_id": "c-c", "acronis_tenant_id": C2 }));
    let unmap = tenant_mapping_write(PARTNER_TENANT, json!([{ "vendor_tenant_id": "c-c" }]));
    assert_eq!(app.callback(&unmap).await.status, 200);
    let response = app.callback(&mapping).await;
    assert_eq!(payload(&response)["items"][2], json!({ "vendor_tenant_id": "c-c" }));
}
