//! The TenantService over real gRPC: `GetTenant`, `ListPartners` and `ListCustomers` (what vendor services
//! read, with filters, pages that stay correct while data changes), and clear status codes for bad requests.

use std::collections::BTreeSet;

use cyberapp_tenants::pb::{
    EnableMirroredPartnerRequest, EnablementMethod, EnablementState, GetMirroredPartnerStateRequest, GetTenantRequest,
    ListCustomersRequest, ListPartnersRequest, Tenant, TenantKind, get_tenant_request::Id,
};
use serde_json::{Value, json};
use tonic::Code;

use crate::helpers::{
    C1, C2, C3, OTHER_TENANT, PARTNER_TENANT, TestApp, enable_partner, next_events, reset_partner, set_customer_state,
    watch,
};

async fn ok(app: &TestApp, body: &Value) -> Value {
    let response = app.callback(body).await;
    assert_eq!(response.status, 200, "{}", response.body);
    response.body
}

fn partner_tenant(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

async fn get(app: &TestApp, id: Id) -> Result<Tenant, tonic::Status> {
    app.grpc().await.get_tenant(GetTenantRequest { id: Some(id) }).await.map(tonic::Response::into_inner)
}

async fn partners(app: &TestApp, request: ListPartnersRequest) -> Result<(Vec<Tenant>, String), tonic::Status> {
    let response = app.grpc().await.list_partners(request).await?.into_inner();
    Ok((response.partners, response.next_page_token))
}

/// Every page of a partner list, following `next_page_token`.
async fn all_partner_pages(app: &TestApp, page_size: u32) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let request = ListPartnersRequest { page_size, page_token: token, ..Default::default() };
        let (page, next) = partners(app, request).await.expect("page");
        pages.push(page.into_iter().map(|tenant| tenant.acronis_tenant_id.expect("mapped")).collect());
        if next.is_empty() {
            return pages;
        }
        token = next;
    }
}

#[tokio::test]
async fn get_tenant_finds_a_record_by_either_id_with_every_field() {
    let app = TestApp::spawn().await;
    let mut request = enable_partner(PARTNER_TENANT, "ACME", Some(json!({ "plan": "gold" })));
    request["context"]["datacenter_url"] = json!("https://eu8.acronis.cloud");
    let vendor_id = ok(&app, &request).await["payload"]["vendor_tenant_id"].as_str().expect("id").to_owned();

    let by_acronis = get(&app, Id::AcronisTenantId(PARTNER_TENANT.to_uppercase())).await.expect("found");
    let by_vendor = get(&app, Id::VendorTenantId(vendor_id.clone())).await.expect("found");
    assert_eq!(by_acronis, by_vendor);
    assert_eq!(by_acronis.vendor_tenant_id, vendor_id);
    assert_eq!(by_acronis.acronis_tenant_id.as_deref(), Some(PARTNER_TENANT));
    assert_eq!(by_acronis.kind(), TenantKind::Partner);
    assert_eq!(by_acronis.enablement_method(), EnablementMethod::Mirrored);
    assert_eq!(by_acronis.state(), EnablementState::Enabled);
    assert_eq!(by_acronis.name.as_deref(), Some("ACME"));
    assert_eq!(by_acronis.settings_json.as_deref(), Some(r#"{"plan":"gold"}"#));
    assert_eq!(by_acronis.datacenter_url.as_deref(), Some("https://eu8.acronis.cloud"));
    assert_eq!(by_acronis.partner_acronis_tenant_id, None);
    let created = by_acronis.created_at.expect("created_at");
    assert!(created.seconds > 1_700_000_000, "{created:?}");
    assert!(by_acronis.updated_at.is_some());

    ok(
        &app,
        &set_customer_state(
            PARTNER_TENANT,
            json!([{ "acronis_tenant_id": C1, "acronis_tenant_name": "One" }]),
            json!([]),
        ),
    )
    .await;
    let customer = get(&app, Id::AcronisTenantId(C1.into())).await.expect("customer");
    assert_eq!(customer.kind(), TenantKind::Customer);
    assert_eq!(customer.partner_acronis_tenant_id.as_deref(), Some(PARTNER_TENANT));
}

#[tokio::test]
async fn get_tenant_refuses_bad_requests_and_reports_unknown_ids() {
    let app = TestApp::spawn().await;
    app.seed_mirrored_partner(PARTNER_TENANT).await;
    let before = app.snapshot().await;

    let unknown = get(&app, Id::AcronisTenantId(OTHER_TENANT.into())).await.expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(get(&app, Id::VendorTenantId("nobody".into())).await.expect_err("unknown").code(), Code::NotFound);
    for bad in [Id::AcronisTenantId("not-a-uuid".into()), Id::VendorTenantId(String::new())] {
        assert_eq!(get(&app, bad).await.expect_err("refused").code(), Code::InvalidArgument);
    }
    let neither = app.grpc().await.get_tenant(GetTenantRequest { id: None }).await.expect_err("refused");
    assert_eq!(neither.code(), Code::InvalidArgument);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn list_partners_filters_by_state_and_method_and_pages_in_creation_order() {
    let app = TestApp::spawn().await;
    for n in 0..5 {
        ok(&app, &enable_partner(&partner_tenant(n), "Partner", None)).await;
    }
    ok(&app, &reset_partner(&partner_tenant(1))).await;
    ok(&app, &reset_partner(&partner_tenant(3))).await;

    let ids = |tenants: Vec<Tenant>| -> Vec<String> {
        tenants.into_iter().map(|tenant| tenant.acronis_tenant_id.expect("mapped")).collect()
    };
    let enabled = ListPartnersRequest { state: Some(EnablementState::Enabled.into()), ..Default::default() };
    let (page, next) = partners(&app, enabled).await.expect("enabled");
    assert_eq!(ids(page), [partner_tenant(0), partner_tenant(2), partner_tenant(4)]);
    assert!(next.is_empty());
    let disabled = ListPartnersRequest { state: Some(EnablementState::Disabled.into()), ..Default::default() };
    assert_eq!(ids(partners(&app, disabled).await.expect("disabled").0), [partner_tenant(1), partner_tenant(3)]);
    let mapped = ListPartnersRequest { enablement_method: Some(EnablementMethod::Mapped.into()), ..Default::default() };
    assert!(partners(&app, mapped).await.expect("mapped").0.is_empty());

    let pages = all_partner_pages(&app, 2).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1], "no empty last page");
    let all: Vec<String> = pages.into_iter().flatten().collect();
    assert_eq!(all, (0..5).map(partner_tenant).collect::<Vec<_>>());
}

#[tokio::test]
async fn pages_stay_correct_while_records_are_added_and_changed() {
    let app = TestApp::spawn().await;
    for n in 0..6 {
        ok(&app, &enable_partner(&partner_tenant(n), "Partner", None)).await;
    }
    let first = ListPartnersRequest { page_size: 2, ..Default::default() };
    let (page, token) = partners(&app, first).await.expect("page 1");
    let mut served: Vec<String> = page.into_iter().map(|tenant| tenant.acronis_tenant_id.expect("id")).collect();

    // Between pages: a new partner, one already served and one not yet served change state.
    ok(&app, &enable_partner(&partner_tenant(6), "Partner", None)).await;
    ok(&app, &reset_partner(&partner_tenant(0))).await;
    ok(&app, &reset_partner(&partner_tenant(4))).await;

    let mut token = token;
    while !token.is_empty() {
        let request = ListPartnersRequest { page_size: 2, page_token: token, ..Default::default() };
        let (page, next) = partners(&app, request).await.expect("next page");
        served.extend(page.into_iter().map(|tenant| tenant.acronis_tenant_id.expect("id")));
        token = next;
    }
    assert_eq!(served, (0..7).map(partner_tenant).collect::<Vec<_>>(), "each record once, the new one last");
}

#[tokio::test]
async fn list_customers_filters_by_partner_state_and_method() {
    let app = TestApp::spawn().await;
    ok(&app, &enable_partner(PARTNER_TENANT, "Partner", None)).await;
    ok(&app, &enable_partner(OTHER_TENANT, "Other", None)).await;
    let both = json!([{ "acronis_tenant_id": C1, "acronis_tenant_name": "One" }, { "acronis_tenant_id": C2, "acronis_tenant_name": "Two" }]);
    ok(&app, &set_customer_state(PARTNER_TENANT, both, json!([]))).await;
    ok(
        &app,
        &set_customer_state(
            OTHER_TENANT,
            json!([{ "acronis_tenant_id": C3, "acronis_tenant_name": "Three" }]),
            json!([]),
        ),
    )
    .await;
    ok(&app, &set_customer_state(PARTNER_TENANT, json!([]), json!([{ "acronis_tenant_id": C2 }]))).await;

    let list = |request: ListCustomersRequest| {
        let app = &app;
        async move {
            let response = app.grpc().await.list_customers(request).await.expect("listed").into_inner();
            response.customers.into_iter().map(|c| c.acronis_tenant_id.expect("id")).collect::<BTreeSet<_>>()
        }
    };
    let set = |ids: &[&str]| ids.iter().map(|id| (*id).to_owned()).collect::<BTreeSet<_>>();
    assert_eq!(list(ListCustomersRequest::default()).await, set(&[C1, C2, C3]));
    let of_partner =
        ListCustomersRequest { partner_acronis_tenant_id: Some(PARTNER_TENANT.to_uppercase()), ..Default::default() };
    assert_eq!(list(of_partner.clone()).await, set(&[C1, C2]));
    let enabled = ListCustomersRequest { state: Some(EnablementState::Enabled.into()), ..of_partner.clone() };
    assert_eq!(list(enabled).await, set(&[C1]));
    let mirrored =
        ListCustomersRequest { enablement_method: Some(EnablementMethod::Mirrored.into()), ..of_partner.clone() };
    assert_eq!(list(mirrored).await, set(&[C1, C2]));
    let mapped = ListCustomersRequest { enablement_method: Some(EnablementMethod::Mapped.into()), ..of_partner };
    assert!(list(mapped).await.is_empty());
}

#[tokio::test]
async fn lists_return_the_event_cursor_to_watch_from_after_a_resync() {
    let app = TestApp::spawn().await;
    ok(&app, &enable_partner(PARTNER_TENANT, "Partner", None)).await;
    // Its two events (partner and directory organization) are sequenced right after the commit.
    let mut stream = watch(&app, Some(0)).await;
    next_events(&mut stream, 2).await;

    let partners = app.grpc().await.list_partners(ListPartnersRequest::default()).await.expect("listed");
    assert_eq!(partners.get_ref().event_cursor, 2);
    let customers = app.grpc().await.list_customers(ListCustomersRequest::default()).await.expect("listed");
    assert_eq!(customers.get_ref().event_cursor, 2);
}

#[tokio::test]
async fn list_requests_with_bad_filters_or_tokens_are_refused() {
    let app = TestApp::spawn().await;
    ok(&app, &enable_partner(PARTNER_TENANT, "Partner", None)).await;
    let before = app.snapshot().await;
    let mut grpc = app.grpc().await;

    let bad_partner_requests = [
        ListPartnersRequest { page_token: "not-a-token".into(), ..Default::default() },
        ListPartnersRequest { state: Some(EnablementState::Unspecified.into()), ..Default::default() },
        ListPartnersRequest { state: Some(99), ..Default::default() },
        ListPartnersRequest { enablement_method: Some(42), ..Default::default() },
    ];
    for request in bad_partner_requests {
        let status = grpc.list_partners(request.clone()).await.expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{request:?}");
    }
    let bad_customer_requests = [
        ListCustomersRequest { partner_acronis_tenant_id: Some("nope".into()), ..Default::default() },
        ListCustomersRequest { page_token: "cm93Oi0x".into(), ..Default::default() },
    ];
    for request in bad_customer_requests {
        let status = grpc.list_customers(request.clone()).await.expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{request:?}");
    }
    // A page size above the maximum is served at the maximum, not refused.
    let huge = ListPartnersRequest { page_size: u32::MAX, ..Default::default() };
    assert_eq!(grpc.list_partners(huge).await.expect("capped").get_ref().partners.len(), 1);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn the_tenant_service_answers_over_grpc_with_proper_status_codes() {
    let app = TestApp::spawn().await;
    let mut client = app.grpc().await;

    let enabled = client
        .enable_mirrored_partner(EnableMirroredPartnerRequest {
            acronis_tenant_id: PARTNER_TENANT.into(),
            name: "Partner".into(),
            settings_json: Some(r#"{"a":1}"#.into()),
            datacenter_url: None,
        })
        .await
        .expect("enabled")
        .into_inner();
    assert_eq!(enabled.acronis_tenant_id, PARTNER_TENANT);
    let state = client
        .get_mirrored_partner_state(GetMirroredPartnerStateRequest { acronis_tenant_id: PARTNER_TENANT.into() })
        .await
        .expect("state")
        .into_inner();
    assert_eq!(state.settings_json.as_deref(), Some(r#"{"a":1}"#));

    let before = app.snapshot().await;
    let bad_id = client
        .get_mirrored_partner_state(GetMirroredPartnerStateRequest { acronis_tenant_id: "nope".into() })
        .await
        .expect_err("invalid id");
    assert_eq!(bad_id.code(), Code::InvalidArgument);
    for (name, settings) in [("", None), ("P", Some("[1]".to_owned())), ("P", Some("{".to_owned()))] {
        let refused = client
            .enable_mirrored_partner(EnableMirroredPartnerRequest {
                acronis_tenant_id: PARTNER_TENANT.into(),
                name: name.into(),
                settings_json: settings.clone(),
                datacenter_url: None,
            })
            .await
            .expect_err("invalid enable");
        assert_eq!(refused.code(), Code::InvalidArgument, "{name:?} {settings:?}");
    }
    assert_eq!(app.snapshot().await, before);
}
