//! Nested partners (issue 13): a distributor's organization holds a reseller's, and each enabled the CyberApp
//! on its own, by mapping or by mirroring. A customer belongs to exactly one enabled partner: when mapped, to
//! the partner that mapped it; otherwise to the nearest enabled partner organization above it. Lists, mapping
//! writes, both resets and `DeleteOrganization` follow that one rule.

use cyberapp_tenants::db::entity::tenant::{EnablementMethod, EnablementState, TenantKind};
use cyberapp_tenants::db::entity::tenant_event;
use cyberapp_tenants::pb::{DeleteOrganizationRequest, OrganizationKind, UpsertOrganizationRequest};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

use crate::helpers::{
    C1, C2, C3, MAPPING_READ_OK, NO_CONTENT, OTHER_TENANT, PARTNER_ENABLE_OK, PARTNER_RESET_OK, PARTNER_TENANT,
    TOPOLOGY_OK, TestApp, assert_success, enable_partner, enablement_reset, enablement_write, envelope, organizations,
    password_auth, reset_partner, set_customer_state, tenant_mapping_write,
};

/// The distributor's Acronis tenant (the parent partner).
const P1: &str = PARTNER_TENANT;
/// The reseller's Acronis tenant (the nested partner).
const P2: &str = OTHER_TENANT;
/// Mirrored customers of the distributor and of the reseller (not directory organizations).
const M1: &str = "3c1f6a0e-5d0b-4c9e-9a57-0e6f1b2c3d41";
const M2: &str = "3c1f6a0e-5d0b-4c9e-9a57-0e6f1b2c3d42";

/// How a partner enabled the CyberApp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Mapped,
    Mirrored,
}

/// Parent and child enablement methods every test runs with.
const COMBINATIONS: [(Method, Method); 4] = [
    (Method::Mapped, Method::Mapped),
    (Method::Mirrored, Method::Mapped),
    (Method::Mapped, Method::Mirrored),
    (Method::Mirrored, Method::Mirrored),
];

/// An enabled partner: its Acronis tenant, its directory organization and how it was enabled.
#[derive(Debug, Clone)]
struct Partner {
    tenant: &'static str,
    organization: String,
    method: Method,
}

/// The directory of every test:
///
/// ```text
/// parent (P1) ⊃ d-c1, d-c2 (customers), plain (partner, never enabled) ⊃ p-c1 (customer),
///               child (P2, enabled) ⊃ r-c1, r-c2 (customers)
/// ```
struct Nested {
    parent: Partner,
    child: Partner,
}

/// Enables `tenant` by `method`. A mapped partner is the directory organization `organization` (created
/// under `parent` if missing); a mirrored one gets its organization from the callback and is moved under
/// `parent`. Returns the partner.
async fn enable(
    app: &TestApp,
    tenant: &'static str,
    method: Method,
    organization: &str,
    parent: Option<&str>,
) -> Partner {
    let organization = match method {
        Method::Mapped => {
            organizations(app, &[(organization, OrganizationKind::Partner, parent)]).await;
            app.set_password(&format!("admin@{organization}"), organization, "pw").await;
            let write = enablement_write(tenant, organization, tenant);
            let response =
                app.callback_with_headers(&write, &[password_auth(&format!("admin@{organization}"), "pw")]).await;
            assert_eq!(assert_success(&response, &write, NO_CONTENT), None);
            organization.to_owned()
        }
        Method::Mirrored => {
            let request = enable_partner(tenant, organization, None);
            let response = app.callback(&request).await;
            let payload = assert_success(&response, &request, PARTNER_ENABLE_OK).expect("payload");
            let id = payload["vendor_tenant_id"].as_str().expect("vendor tenant id").to_owned();
            if parent.is_some() {
                app.grpc()
                    .await
                    .upsert_organization(UpsertOrganizationRequest {
                        id: id.clone(),
                        name: format!("{organization} name"),
                        kind: OrganizationKind::Partner.into(),
                        parent_id: parent.map(Into::into),
                    })
                    .await
                    .expect("mirrored partner's organization moved");
            }
            id
        }
    };
    Partner { tenant, organization, method }
}

/// The distributor's part of the directory, under its organization `parent`.
async fn parent_customers(app: &TestApp, parent: &str) {
    organizations(
        app,
        &[
            ("d-c1", OrganizationKind::Customer, Some(parent)),
            ("d-c2", OrganizationKind::Customer, Some(parent)),
            ("plain", OrganizationKind::Partner, Some(parent)),
            ("p-c1", OrganizationKind::Customer, Some("plain")),
        ],
    )
    .await;
}

/// The reseller's customers, under its organization `child`.
async fn child_customers(app: &TestApp, child: &str) {
    organizations(
        app,
        &[("r-c1", OrganizationKind::Customer, Some(child)), ("r-c2", OrganizationKind::Customer, Some(child))],
    )
    .await;
}

/// Builds [`Nested`] with the parent enabled by `parent` and the child by `child`.
async fn nested(app: &TestApp, parent: Method, child: Method) -> Nested {
    let parent = enable(app, P1, parent, "dist", None).await;
    parent_customers(app, &parent.organization).await;
    let child = enable(app, P2, child, "reseller", Some(&parent.organization)).await;
    child_customers(app, &child.organization).await;
    Nested { parent, child }
}

/// `tenant_mapping.write` of `modified` by `partner`, which must succeed.
async fn map(app: &TestApp, partner: &Partner, modified: Value) {
    let request = tenant_mapping_write(partner.tenant, modified);
    let response = app.callback(&request).await;
    assert_eq!(assert_success(&response, &request, NO_CONTENT), None);
}

/// Enables the mirrored customer `acronis` under `partner`.
async fn mirror(app: &TestApp, partner: &Partner, acronis: &str) {
    let request = set_customer_state(
        partner.tenant,
        json!([{ "acronis_tenant_id": acronis, "acronis_tenant_name": "M" }]),
        json!([]),
    );
    assert_eq!(app.callback(&request).await.status, 200);
}

/// Resets `partner` the way it was enabled; the reset must succeed.
async fn reset(app: &TestApp, partner: &Partner) {
    match partner.method {
        Method::Mapped => {
            let request = enablement_reset(partner.tenant);
            let auth = password_auth(&format!("admin@{}", partner.organization), "pw");
            let response = app.callback_with_headers(&request, &[auth]).await;
            assert_eq!(assert_success(&response, &request, NO_CONTENT), None);
        }
        Method::Mirrored => {
            let request = reset_partner(partner.tenant);
            let response = app.callback(&request).await;
            assert_eq!(assert_success(&response, &request, PARTNER_RESET_OK), None);
        }
    }
}

/// The event a partner's own reset records.
fn partner_reset_event(partner: &Partner) -> &'static str {
    match partner.method {
        Method::Mapped => "partner.unmapped",
        Method::Mirrored => "partner.disabled",
    }
}

/// The tenant events (kind, vendor tenant id) after the first `skip`, directory events left out.
async fn events_after(app: &TestApp, skip: usize) -> Vec<(String, String)> {
    let events =
        tenant_event::Entity::find().order_by_asc(tenant_event::Column::Id).all(&app.db).await.expect("events");
    let events: Vec<(String, String)> = events
        .into_iter()
        .filter(|event| !event.kind.starts_with("directory."))
        .map(|event| (event.kind, event.vendor_tenant_id))
        .collect();
    events[skip..].to_vec()
}

/// The tenant events after the first `before` are exactly `expected` (kind, vendor tenant id), in order.
async fn assert_events_after(app: &TestApp, before: usize, expected: &[(&str, &str)], context: &str) {
    let expected: Vec<(String, String)> =
        expected.iter().map(|(kind, vendor)| ((*kind).to_owned(), (*vendor).to_owned())).collect();
    assert_eq!(events_after(app, before).await, expected, "{context}");
}

/// `vendor` is mapped to `acronis` by `partner`, enabled.
async fn assert_mapped(app: &TestApp, vendor: &str, acronis: &str, partner: &str) {
    let record = app.tenant_by_acronis_id(acronis).await.unwrap_or_else(|| panic!("{acronis} is mapped"));
    assert_eq!(record.vendor_tenant_id, vendor);
    assert_eq!((record.kind, record.enablement_method), (TenantKind::Customer, EnablementMethod::Mapped));
    assert_eq!(record.state, EnablementState::Enabled);
    assert_eq!(record.partner_acronis_tenant_id.as_deref(), Some(partner), "{vendor} is mapped by {partner}");
}

/// `vendor` had a mapping and lost it: its record is kept, disabled, without an Acronis tenant.
async fn assert_unmapped(app: &TestApp, vendor: &str) {
    let record = app.tenant_by_vendor_id(vendor).await.unwrap_or_else(|| panic!("{vendor} has a record"));
    assert_eq!(record.acronis_tenant_id, None, "{vendor} is unmapped");
    assert_eq!(record.state, EnablementState::Disabled);
}

/// The mirrored customer `acronis` is in `state`.
async fn assert_mirrored(app: &TestApp, acronis: &str, state: EnablementState) {
    let record = app.tenant_by_acronis_id(acronis).await.unwrap_or_else(|| panic!("{acronis} has a record"));
    assert_eq!(record.enablement_method, EnablementMethod::Mirrored);
    assert_eq!(record.state, state, "{acronis}");
}

/// Builds the directory with the reseller's organization (mapped-to-be, `reseller`) in place but the
/// reseller not enabled yet, so the distributor (enabled by `parent`) can map customers beneath it first.
async fn child_not_yet_enabled(app: &TestApp, parent: Method) -> Partner {
    let parent = enable(app, P1, parent, "dist", None).await;
    parent_customers(app, &parent.organization).await;
    organizations(app, &[("reseller", OrganizationKind::Partner, Some(parent.organization.as_str()))]).await;
    child_customers(app, "reseller").await;
    parent
}

/// `tenant_mapping.write` of `modified` by `partner`, which must be refused with 403 and change nothing.
async fn refused(app: &TestApp, partner: &Partner, modified: Value) {
    let before = app.snapshot().await;
    let response = app.callback(&tenant_mapping_write(partner.tenant, modified.clone())).await;
    response.assert_error(403);
    assert_eq!(app.snapshot().await, before, "{modified} changed nothing");
}

/// The payload `callback` (`topology.read` or `tenant_mapping.read`) answers `tenant`, with `paging` if given.
async fn list(app: &TestApp, tenant: &str, callback: &str, paging: Option<Value>) -> Value {
    let mut request = envelope(callback, tenant, Some(json!({})));
    if let Some(paging) = paging {
        request["paging"] = paging;
    }
    let response = app.callback(&request).await;
    let ok = if callback == "topology.read" { TOPOLOGY_OK } else { MAPPING_READ_OK };
    assert_success(&response, &request, ok).expect("payload")
}

/// How `callback` lists the customers `expected` (vendor id, Acronis tenant when mapped).
fn items(callback: &str, expected: &[(&str, Option<&str>)]) -> Vec<Value> {
    expected
        .iter()
        .map(|(id, acronis)| match (callback, acronis) {
            ("topology.read", _) => json!({ "id": id, "name": format!("{id} name") }),
            (_, Some(acronis)) => json!({ "vendor_tenant_id": id, "acronis_tenant_id": acronis }),
            (_, None) => json!({ "vendor_tenant_id": id }),
        })
        .collect()
}

/// Both customer lists of `tenant`, unpaged, are exactly `expected`; reading them changes nothing.
async fn assert_lists(app: &TestApp, tenant: &str, expected: &[(&str, Option<&str>)]) {
    let before = app.snapshot().await;
    for callback in ["topology.read", "tenant_mapping.read"] {
        let payload = list(app, tenant, callback, None).await;
        assert_eq!(payload, json!({ "items": items(callback, expected) }), "{callback} of {tenant}");
    }
    assert_eq!(app.snapshot().await, before, "a read changes nothing");
}

/// Both customer lists of `tenant`, paged two at a time by offset and by cursor (after, then before), are
/// exactly `expected`.
async fn assert_pages(app: &TestApp, tenant: &str, expected: &[(&str, Option<&str>)]) {
    for callback in ["topology.read", "tenant_mapping.read"] {
        let all = items(callback, expected);
        for offset in (0..all.len().max(1)).step_by(2) {
            let payload = list(app, tenant, callback, Some(json!({ "limit": 2, "offset": offset }))).await;
            let page = all[offset.min(all.len())..(offset + 2).min(all.len())].to_vec();
            let paging = json!({ "offset": offset, "limit": 2, "total_count": all.len() });
            assert_eq!(payload, json!({ "items": page, "paging": paging }), "{callback} of {tenant} at {offset}");
        }
        let mut pages: Vec<Value> = Vec::new();
        let mut paging = json!({ "limit": 2 });
        loop {
            let payload = list(app, tenant, callback, Some(paging)).await;
            let after = payload["paging"]["after"].as_str().map(str::to_owned);
            pages.push(payload);
            match after {
                Some(after) => paging = json!({ "limit": 2, "after": after }),
                None => break,
            }
        }
        let walked: Vec<Value> =
            pages.iter().flat_map(|page| page["items"].as_array().expect("items").clone()).collect();
        assert_eq!(walked, all, "{callback} of {tenant}, walked by cursor");
        assert!(pages[0]["paging"].get("before").is_none(), "no page before the first");
        for (previous, page) in pages.iter().zip(&pages[1..]) {
            let back =
                list(app, tenant, callback, Some(json!({ "limit": 2, "before": page["paging"]["before"] }))).await;
            assert_eq!(back["items"], previous["items"], "{callback} of {tenant}: before leads back");
        }
    }
}

#[tokio::test]
async fn a_parent_partners_reset_leaves_the_customer_mappings_of_an_enabled_nested_partner() {
    for (parent, child) in COMBINATIONS {
        let app = TestApp::spawn().await;
        let nested = nested(&app, parent, child).await;
        map(&app, &nested.child, json!([{ "vendor_tenant_id": "r-c1", "acronis_tenant_id": C1 }])).await;
        let own = json!([
            { "vendor_tenant_id": "d-c1", "acronis_tenant_id": C2 },
            { "vendor_tenant_id": "p-c1", "acronis_tenant_id": C3 },
        ]);
        map(&app, &nested.parent, own).await;
        mirror(&app, &nested.parent, M1).await;
        mirror(&app, &nested.child, M2).await;
        let before = app.event_kinds().await.len();

        reset(&app, &nested.parent).await;

        let combination = format!("{parent:?} parent, {child:?} child");
        assert_mapped(&app, "r-c1", C1, P2).await;
        assert_mirrored(&app, M2, EnablementState::Enabled).await;
        assert_unmapped(&app, "d-c1").await;
        assert_unmapped(&app, "p-c1").await;
        assert_mirrored(&app, M1, EnablementState::Disabled).await;
        let m1 = app.tenant_by_acronis_id(M1).await.expect("M1").vendor_tenant_id;
        let expected = [
            (partner_reset_event(&nested.parent), nested.parent.organization.as_str()),
            ("customer.disabled", m1.as_str()),
            ("customer.unmapped", "d-c1"),
            ("customer.unmapped", "p-c1"),
        ];
        assert_events_after(&app, before, &expected, &combination).await;
    }
}

#[tokio::test]
async fn a_nested_partners_reset_leaves_the_customer_mappings_of_its_parent() {
    for (parent, child) in COMBINATIONS {
        let app = TestApp::spawn().await;
        let nested = nested(&app, parent, child).await;
        map(&app, &nested.parent, json!([{ "vendor_tenant_id": "d-c1", "acronis_tenant_id": C2 }])).await;
        map(&app, &nested.child, json!([{ "vendor_tenant_id": "r-c1", "acronis_tenant_id": C1 }])).await;
        mirror(&app, &nested.parent, M1).await;
        mirror(&app, &nested.child, M2).await;
        let before = app.event_kinds().await.len();

        reset(&app, &nested.child).await;

        let combination = format!("{parent:?} parent, {child:?} child");
        assert_mapped(&app, "d-c1", C2, P1).await;
        assert_mirrored(&app, M1, EnablementState::Enabled).await;
        assert_unmapped(&app, "r-c1").await;
        assert_mirrored(&app, M2, EnablementState::Disabled).await;
        let m2 = app.tenant_by_acronis_id(M2).await.expect("M2").vendor_tenant_id;
        let expected = [
            (partner_reset_event(&nested.child), nested.child.organization.as_str()),
            ("customer.disabled", m2.as_str()),
            ("customer.unmapped", "r-c1"),
        ];
        assert_events_after(&app, before, &expected, &combination).await;
        // With the reseller disabled, the distributor is the nearest enabled partner of its customers again.
        let all = [("d-c1", Some(C2)), ("d-c2", None), ("p-c1", None), ("r-c1", None), ("r-c2", None)];
        assert_lists(&app, P1, &all).await;
    }
}

#[tokio::test]
async fn customer_lists_leave_out_the_customers_of_an_enabled_nested_partner() {
    for (parent, child) in COMBINATIONS {
        let app = TestApp::spawn().await;
        let nested = nested(&app, parent, child).await;
        map(&app, &nested.parent, json!([{ "vendor_tenant_id": "d-c1", "acronis_tenant_id": C2 }])).await;
        map(&app, &nested.child, json!([{ "vendor_tenant_id": "r-c1", "acronis_tenant_id": C1 }])).await;

        // The distributor's walk goes through `plain`, which never enabled the CyberApp, but not into the
        // reseller's organization.
        assert_lists(&app, P1, &[("d-c1", Some(C2)), ("d-c2", None), ("p-c1", None)]).await;
        assert_lists(&app, P2, &[("r-c1", Some(C1)), ("r-c2", None)]).await;
        assert_mapped(&app, "d-c1", C2, P1).await;
        assert_mapped(&app, "r-c1", C1, P2).await;
    }
}

#[tokio::test]
async fn paged_customer_lists_leave_out_the_customers_of_an_enabled_nested_partner() {
    for (parent, child) in COMBINATIONS {
        let app = TestApp::spawn().await;
        let nested = nested(&app, parent, child).await;
        map(&app, &nested.parent, json!([{ "vendor_tenant_id": "p-c1", "acronis_tenant_id": C2 }])).await;
        map(&app, &nested.child, json!([{ "vendor_tenant_id": "r-c2", "acronis_tenant_id": C1 }])).await;
        let before = app.snapshot().await;

        assert_pages(&app, P1, &[("d-c1", None), ("d-c2", None), ("p-c1", Some(C2))]).await;
        assert_pages(&app, P2, &[("r-c1", None), ("r-c2", Some(C1))]).await;

        assert_eq!(app.snapshot().await, before, "reads change nothing");
    }
}

#[tokio::test]
async fn a_customer_mapped_by_a_nested_partner_is_closed_to_its_parent() {
    for (parent, child) in COMBINATIONS {
        let app = TestApp::spawn().await;
        let nested = nested(&app, parent, child).await;
        map(&app, &nested.child, json!([{ "vendor_tenant_id": "r-c1", "acronis_tenant_id": C1 }])).await;

        refused(&app, &nested.parent, json!([{ "vendor_tenant_id": "r-c1", "acronis_tenant_id": C2 }])).await;
        refused(&app, &nested.parent, json!([{ "vendor_tenant_id": "r-c1" }])).await;
        // A customer of its own in the same request does not help: the whole request is refused.
        let mixed = json!([
            { "vendor_tenant_id": "d-c1", "acronis_tenant_id": C2 },
            { "vendor_tenant_id": "r-c1", "acronis_tenant_id": C3 },
        ]);
        refused(&app, &nested.parent, mixed).await;
        // Nor can it take the reseller's Acronis tenant for a customer of its own.
        refused(&app, &nested.parent, json!([{ "vendor_tenant_id": "d-c1", "acronis_tenant_id": C1 }])).await;

        assert_mapped(&app, "r-c1", C1, P2).await;
        assert!(app.tenant_by_vendor_id("d-c1").await.is_none(), "{parent:?}/{child:?}: d-c1 never mapped");
    }
}

#[tokio::test]
async fn the_unmapped_customers_of_an_enabled_nested_partner_are_closed_to_its_parent() {
    for (parent, child) in COMBINATIONS {
        let app = TestApp::spawn().await;
        let nested = nested(&app, parent, child).await;

        refused(&app, &nested.parent, json!([{ "vendor_tenant_id": "r-c2", "acronis_tenant_id": C2 }])).await;
        refused(&app, &nested.parent, json!([{ "vendor_tenant_id": "r-c2" }])).await;
        let mixed = json!([
            { "vendor_tenant_id": "d-c1", "acronis_tenant_id": C1 },
            { "vendor_tenant_id": "r-c2", "acronis_tenant_id": C2 },
        ]);
        refused(&app, &nested.parent, mixed).await;
        // And the reseller cannot reach above its own organization.
        refused(&app, &nested.child, json!([{ "vendor_tenant_id": "d-c1", "acronis_tenant_id": C1 }])).await;

        // Each maps its own: the distributor through `plain` (never enabled), the reseller beneath itself.
        map(&app, &nested.parent, json!([{ "vendor_tenant_id": "p-c1", "acronis_tenant_id": C1 }])).await;
        map(&app, &nested.child, json!([{ "vendor_tenant_id": "r-c2", "acronis_tenant_id": C2 }])).await;
        assert_mapped(&app, "p-c1", C1, P1).await;
        assert_mapped(&app, "r-c2", C2, P2).await;
    }
}

#[tokio::test]
async fn deleting_an_enabled_nested_partner_organization_removes_only_what_it_owns() {
    for parent in [Method::Mapped, Method::Mirrored] {
        let app = TestApp::spawn().await;
        let nested = nested(&app, parent, Method::Mapped).await;
        map(&app, &nested.parent, json!([{ "vendor_tenant_id": "d-c1", "acronis_tenant_id": C2 }])).await;
        map(&app, &nested.child, json!([{ "vendor_tenant_id": "r-c1", "acronis_tenant_id": C1 }])).await;
        mirror(&app, &nested.parent, M1).await;
        mirror(&app, &nested.child, M2).await;
        // Leave the reseller's organization without children: r-c2 goes, r-c1 moves up to the distributor,
        // mapped by the reseller still (and so not the distributor's).
        let mut grpc = app.grpc().await;
        grpc.delete_organization(DeleteOrganizationRequest { id: "r-c2".into() }).await.expect("r-c2 deleted");
        organizations(&app, &[("r-c1", OrganizationKind::Customer, Some(nested.parent.organization.as_str()))]).await;
        assert_lists(&app, P1, &[("d-c1", Some(C2)), ("d-c2", None), ("p-c1", None)]).await;
        let before = app.event_kinds().await.len();

        grpc.delete_organization(DeleteOrganizationRequest { id: "reseller".into() }).await.expect("deleted");

        assert!(app.tenant_by_vendor_id("reseller").await.is_none(), "{parent:?}: the partner's record goes");
        assert!(app.tenant_by_acronis_id(P2).await.is_none());
        assert_unmapped(&app, "r-c1").await;
        assert_mirrored(&app, M2, EnablementState::Disabled).await;
        assert_mapped(&app, "d-c1", C2, P1).await;
        assert_mirrored(&app, M1, EnablementState::Enabled).await;
        let m2 = app.tenant_by_acronis_id(M2).await.expect("M2").vendor_tenant_id;
        let expected =
            [("customer.disabled", m2.as_str()), ("customer.unmapped", "r-c1"), ("partner.unmapped", "reseller")];
        assert_events_after(&app, before, &expected, &format!("{parent:?}")).await;
        // Unmapped now, r-c1 is the distributor's, the nearest enabled partner above it.
        assert_lists(&app, P1, &[("d-c1", Some(C2)), ("d-c2", None), ("p-c1", None), ("r-c1", None)]).await;
    }
}

#[tokio::test]
async fn mappings_made_before_a_nearer_partner_was_enabled_stay_with_the_partner_that_made_them() {
    for parent in [Method::Mapped, Method::Mirrored] {
        let app = TestApp::spawn().await;
        let parent_partner = child_not_yet_enabled(&app, parent).await;
        map(&app, &parent_partner, json!([{ "vendor_tenant_id": "r-c1", "acronis_tenant_id": C1 }])).await;
        let child = enable(&app, P2, Method::Mapped, "reseller", Some(&parent_partner.organization)).await;

        let distributors = [("d-c1", None), ("d-c2", None), ("p-c1", None), ("r-c1", Some(C1))];
        assert_lists(&app, P1, &distributors).await;
        assert_pages(&app, P1, &distributors).await;
        assert_lists(&app, P2, &[("r-c2", None)]).await;
        assert_pages(&app, P2, &[("r-c2", None)]).await;
        refused(&app, &child, json!([{ "vendor_tenant_id": "r-c1", "acronis_tenant_id": C2 }])).await;
        refused(&app, &child, json!([{ "vendor_tenant_id": "r-c1" }])).await;
        refused(&app, &child, json!([{ "vendor_tenant_id": "r-c2", "acronis_tenant_id": C1 }])).await;
        assert_mapped(&app, "r-c1", C1, P1).await;

        // The distributor still acts on its mapping; once it lets go, the customer is the reseller's.
        map(&app, &parent_partner, json!([{ "vendor_tenant_id": "r-c1", "acronis_tenant_id": C3 }])).await;
        assert_mapped(&app, "r-c1", C3, P1).await;
        map(&app, &parent_partner, json!([{ "vendor_tenant_id": "r-c1" }])).await;
        assert_unmapped(&app, "r-c1").await;
        assert_lists(&app, P1, &distributors[..3]).await;
        assert_lists(&app, P2, &[("r-c1", None), ("r-c2", None)]).await;
        refused(&app, &parent_partner, json!([{ "vendor_tenant_id": "r-c1", "acronis_tenant_id": C1 }])).await;
        map(&app, &child, json!([{ "vendor_tenant_id": "r-c1", "acronis_tenant_id": C1 }])).await;
        assert_mapped(&app, "r-c1", C1, P2).await;
    }
}

#[tokio::test]
async fn a_parents_reset_removes_the_mappings_it_made_before_a_nearer_partner_was_enabled() {
    for parent in [Method::Mapped, Method::Mirrored] {
        let app = TestApp::spawn().await;
        let parent_partner = child_not_yet_enabled(&app, parent).await;
        map(&app, &parent_partner, json!([{ "vendor_tenant_id": "r-c1", "acronis_tenant_id": C1 }])).await;
        let child = enable(&app, P2, Method::Mapped, "reseller", Some(&parent_partner.organization)).await;
        map(&app, &child, json!([{ "vendor_tenant_id": "r-c2", "acronis_tenant_id": C2 }])).await;
        let before = app.event_kinds().await.len();

        reset(&app, &parent_partner).await;

        assert_unmapped(&app, "r-c1").await;
        assert_mapped(&app, "r-c2", C2, P2).await;
        let expected = [
            (partner_reset_event(&parent_partner), parent_partner.organization.as_str()),
            ("customer.unmapped", "r-c1"),
        ];
        assert_events_after(&app, before, &expected, &format!("{parent:?}")).await;
        assert_lists(&app, P2, &[("r-c1", None), ("r-c2", Some(C2))]).await;
    }
}

#[tokio::test]
async fn a_nested_partners_reset_leaves_the_mappings_its_parent_made_beneath_it() {
    for parent in [Method::Mapped, Method::Mirrored] {
        let app = TestApp::spawn().await;
        let parent_partner = child_not_yet_enabled(&app, parent).await;
        map(&app, &parent_partner, json!([{ "vendor_tenant_id": "r-c1", "acronis_tenant_id": C1 }])).await;
        let child = enable(&app, P2, Method::Mapped, "reseller", Some(&parent_partner.organization)).await;
        map(&app, &child, json!([{ "vendor_tenant_id": "r-c2", "acronis_tenant_id": C2 }])).await;
        let before = app.event_kinds().await.len();

        reset(&app, &child).await;

        assert_mapped(&app, "r-c1", C1, P1).await;
        assert_unmapped(&app, "r-c2").await;
        let expected = [("partner.unmapped", "reseller"), ("customer.unmapped", "r-c2")];
        assert_events_after(&app, before, &expected, &format!("{parent:?}")).await;
        let all = [("d-c1", None), ("d-c2", None), ("p-c1", None), ("r-c1", Some(C1)), ("r-c2", None)];
        assert_lists(&app, P1, &all).await;
    }
}

#[tokio::test]
async fn re_enabling_a_nested_mirrored_partner_keeps_its_organization_where_it_is() {
    use cyberapp_tenants::db::entity::organization;
    let app = TestApp::spawn().await;
    let Nested { parent, child } = nested(&app, Method::Mapped, Method::Mirrored).await;
    // A re-enable (or a new name or settings) re-sends partner.mirroring.enable.
    let request = enable_partner(child.tenant, "Renamed reseller", Some(json!({ "plan": "pro" })));
    let response = app.callback(&request).await;
    assert_success(&response, &request, PARTNER_ENABLE_OK).expect("payload");
    let moved = organization::Entity::find_by_id(child.organization.clone()).one(&app.db).await.expect("query");
    let moved = moved.expect("the reseller's organization");
    assert_eq!(moved.parent_id.as_deref(), Some(parent.organization.as_str()), "still under the distributor");
    assert_eq!(moved.name, "Renamed reseller");
    // So the distributor's lists still leave the reseller's customers out.
    assert_lists(&app, parent.tenant, &[("d-c1", None), ("d-c2", None), ("p-c1", None)]).await;
}
