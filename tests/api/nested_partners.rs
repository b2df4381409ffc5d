//! Nested partners (issue 13): a distributor's organization holds a reseller's, and each enabled the CyberApp
//! on its own, by mapping or by mirroring. A customer belongs to exactly one enabled partner: when mapped, to
//! the partner that mapped it; otherwise to the nearest enabled partner organization above it. Lists, mapping
//! writes, both resets and `DeleteOrganization` follow that one rule.

use cyberapp_tenants::db::entity::tenant::{EnablementMethod, EnablementState, TenantKind};
use cyberapp_tenants::db::entity::tenant_event;
use cyberapp_tenants::pb::{OrganizationKind, UpsertOrganizationRequest};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

use crate::customers::{C1, C2, C3, NO_CONTENT, mapping_write, organizations, set_state};
use crate::helpers::{OTHER_TENANT, PARTNER_TENANT, TestApp, assert_success, enable_partner, envelope, password_auth};

/// The distributor's Acronis tenant (the parent partner).
const P1: &str = PARTNER_TENANT;
/// The reseller's Acronis tenant (the nested partner).
const P2: &str = OTHER_TENANT;
/// Mirrored customers of the distributor and of the reseller (not directory organizations).
const M1: &str = "3c1f6a0e-5d0b-4c9e-9a57-0e6f1b2c3d41";
const M2: &str = "3c1f6a0e-5d0b-4c9e-9a57-0e6f1b2c3d42";

const MIRRORING_ENABLE_OK: &str = "cti.a.p.acgw.response.v1.1~a.p.partner.mirroring.enable.ok.v1.0";
const MIRRORING_RESET_OK: &str = "cti.a.p.acgw.response.v1.1~a.p.partner.mirroring.reset.ok.v1.0";

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
            let write = envelope(
                "enablement.write",
                tenant,
                Some(json!({ "vendor_tenant_id": organization, "acronis_tenant_id": tenant })),
            );
            let response =
                app.callback_with_headers(&write, &[password_auth(&format!("admin@{organization}"), "pw")]).await;
            assert_eq!(assert_success(&response, &write, NO_CONTENT), None);
            organization.to_owned()
        }
        Method::Mirrored => {
            let request = enable_partner(tenant, organization, None);
            let response = app.callback(&request).await;
            let payload = assert_success(&response, &request, MIRRORING_ENABLE_OK).expect("payload");
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
    let request = mapping_write(partner.tenant, modified);
    let response = app.callback(&request).await;
    assert_eq!(assert_success(&response, &request, NO_CONTENT), None);
}

/// Enables the mirrored customer `acronis` under `partner`.
async fn mirror(app: &TestApp, partner: &Partner, acronis: &str) {
    let request =
        set_state(partner.tenant, json!([{ "acronis_tenant_id": acronis, "acronis_tenant_name": "M" }]), json!([]));
    assert_eq!(app.callback(&request).await.status, 200);
}

/// Resets `partner` the way it was enabled; the reset must succeed.
async fn reset(app: &TestApp, partner: &Partner) {
    match partner.method {
        Method::Mapped => {
            let request = envelope("enablement.reset", partner.tenant, None);
            let auth = password_auth(&format!("admin@{}", partner.organization), "pw");
            let response = app.callback_with_headers(&request, &[auth]).await;
            assert_eq!(assert_success(&response, &request, NO_CONTENT), None);
        }
        Method::Mirrored => {
            let request = envelope("partner.mirroring.reset", partner.tenant, None);
            let response = app.callback(&request).await;
            assert_eq!(assert_success(&response, &request, MIRRORING_RESET_OK), None);
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
        let expected: Vec<(String, String)> = [
            (partner_reset_event(&nested.parent), nested.parent.organization.as_str()),
            ("customer.disabled", m1.as_str()),
            ("customer.unmapped", "d-c1"),
            ("customer.unmapped", "p-c1"),
        ]
        .into_iter()
        .map(|(kind, vendor)| (kind.to_owned(), vendor.to_owned()))
        .collect();
        assert_eq!(events_after(&app, before).await, expected, "{combination}");
    }
}
