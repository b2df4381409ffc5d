//! Mapped partner enablement: `enablement.read`, `.write`, `.reset` (protocol §9.1–9.3) with credentials
//! from `X-CyberApp-Auth` checked against the vendor directory.

use std::time::{Duration, Instant};

use cyberapp_tenants::db::entity::tenant::{EnablementMethod, EnablementState, TenantKind};
use cyberapp_tenants::pb::{OrganizationKind, SetCredentialsRequest, UpsertOrganizationRequest};
use serde_json::{Value, json};

use crate::helpers::{
    ENABLEMENT_READ_OK, NO_CONTENT, OTHER_TENANT, PARTNER_TENANT, TestApp, assert_success, cyberapp_auth,
    enablement_read, enablement_reset, enablement_write, envelope, password_auth,
};

/// acme-msp (partner) ⊃ acme-sub (partner) ⊃ acme-c2 (customer); acme-msp ⊃ acme-c1 (customer);
/// other-msp (partner) ⊃ other-c1 (customer). Logins: admin@acme, admin@other, user@c1 (a customer's).
async fn seed_directory(app: &TestApp) {
    let mut grpc = app.grpc().await;
    let organizations = [
        ("acme-msp", OrganizationKind::Partner, None),
        ("acme-sub", OrganizationKind::Partner, Some("acme-msp")),
        ("acme-c1", OrganizationKind::Customer, Some("acme-msp")),
        ("acme-c2", OrganizationKind::Customer, Some("acme-sub")),
        ("other-msp", OrganizationKind::Partner, None),
        ("other-c1", OrganizationKind::Customer, Some("other-msp")),
    ];
    for (id, kind, parent) in organizations {
        grpc.upsert_organization(UpsertOrganizationRequest {
            id: id.into(),
            name: format!("{id} name"),
            kind: kind.into(),
            parent_id: parent.map(Into::into),
        })
        .await
        .expect("organization");
    }
    for (identity, organization, password) in
        [("admin@acme", "acme-msp", "s3cret"), ("admin@other", "other-msp", "other"), ("user@c1", "acme-c1", "c1")]
    {
        grpc.set_credentials(SetCredentialsRequest {
            identity: identity.into(),
            organization_id: organization.into(),
            secrets_json: json!({ "password": password }).to_string(),
        })
        .await
        .expect("credentials");
    }
}

fn acme() -> Vec<(&'static str, String)> {
    vec![password_auth("admin@acme", "s3cret")]
}

fn read(tenant: &str) -> Value {
    enablement_read(tenant)
}

fn write(tenant: &str, vendor_tenant_id: &str) -> Value {
    enablement_write(tenant, vendor_tenant_id, tenant)
}

fn reset(tenant: &str) -> Value {
    enablement_reset(tenant)
}

async fn mapped_app() -> TestApp {
    let app = TestApp::spawn().await;
    seed_directory(&app).await;
    app
}

#[tokio::test]
async fn read_of_an_unmapped_partner_returns_its_organization_without_an_acronis_tenant() {
    let app = mapped_app().await;
    let before = app.snapshot().await;
    let request = read(PARTNER_TENANT);

    let response = app.callback_with_headers(&request, &acme()).await;

    assert_eq!(
        assert_success(&response, &request, ENABLEMENT_READ_OK),
        Some(json!({ "vendor_tenant_id": "acme-msp" }))
    );
    assert_eq!(app.snapshot().await, before, "read changes nothing");
}

#[tokio::test]
async fn write_maps_the_organization_and_read_then_reports_the_acronis_tenant() {
    let app = mapped_app().await;
    let request = write(PARTNER_TENANT, "acme-msp");

    let response = app.callback_with_headers(&request, &acme()).await;

    assert_eq!(assert_success(&response, &request, NO_CONTENT), None);
    let record = app.tenant_by_acronis_id(PARTNER_TENANT).await.expect("mapped");
    assert_eq!(record.vendor_tenant_id, "acme-msp");
    assert_eq!(record.kind, TenantKind::Partner);
    assert_eq!(record.enablement_method, EnablementMethod::Mapped);
    assert_eq!(record.state, EnablementState::Enabled);
    assert_eq!(record.name.as_deref(), Some("acme-msp name"));
    assert_eq!(record.datacenter_url.as_deref(), Some("https://eu8.acronis.cloud"));
    assert_eq!(app.event_kinds().await.last().map(String::as_str), Some("partner.mapped"));

    let read_request = read(PARTNER_TENANT);
    let read_response = app.callback_with_headers(&read_request, &acme()).await;
    assert_eq!(
        assert_success(&read_response, &read_request, ENABLEMENT_READ_OK),
        Some(json!({ "vendor_tenant_id": "acme-msp", "acronis_tenant_id": PARTNER_TENANT }))
    );
}

#[tokio::test]
async fn writing_the_same_pair_again_succeeds_and_changes_nothing() {
    let app = mapped_app().await;
    app.callback_with_headers(&write(PARTNER_TENANT, "acme-msp"), &acme()).await;
    let before = app.snapshot().await;
    let request = write(PARTNER_TENANT, "acme-msp");

    let response = app.callback_with_headers(&request, &acme()).await;

    assert_eq!(assert_success(&response, &request, NO_CONTENT), None);
    assert_eq!(app.snapshot().await, before);
}

/// Sends `request` and asserts a 403 with `err_message` that changed nothing.
async fn assert_forbidden(app: &TestApp, request: &Value, headers: &[(&str, String)]) {
    let before = app.snapshot().await;
    let response = app.callback_with_headers(request, headers).await;
    response.assert_error(403);
    assert_eq!(response.body["request_id"], request["request_id"]);
    assert_eq!(app.snapshot().await, before, "a refused request changed the database");
}

#[tokio::test]
async fn a_different_acronis_tenant_for_an_enabled_organization_is_refused_with_403() {
    let app = mapped_app().await;
    app.callback_with_headers(&write(PARTNER_TENANT, "acme-msp"), &acme()).await;
    assert_forbidden(&app, &write(OTHER_TENANT, "acme-msp"), &acme()).await;
}

#[tokio::test]
async fn an_acronis_tenant_already_mapped_to_another_organization_is_refused_with_403() {
    let app = mapped_app().await;
    app.callback_with_headers(&write(PARTNER_TENANT, "acme-msp"), &acme()).await;
    assert_forbidden(&app, &write(PARTNER_TENANT, "other-msp"), &[password_auth("admin@other", "other")]).await;
}

#[tokio::test]
async fn credentials_of_another_organization_than_the_payload_names_are_refused_with_403() {
    let app = mapped_app().await;
    assert_forbidden(&app, &write(PARTNER_TENANT, "other-msp"), &acme()).await;
    assert!(app.tenant_by_acronis_id(PARTNER_TENANT).await.is_none());
}

#[tokio::test]
async fn a_payload_tenant_other_than_the_callers_is_refused_with_403() {
    let app = mapped_app().await;
    let mut request = write(PARTNER_TENANT, "acme-msp");
    request["payload"]["acronis_tenant_id"] = json!(OTHER_TENANT);
    assert_forbidden(&app, &request, &acme()).await;
}

#[tokio::test]
async fn credentials_of_a_customer_account_cannot_enable_a_partner() {
    let app = mapped_app().await;
    let customer = [password_auth("user@c1", "c1")];
    assert_forbidden(&app, &read(PARTNER_TENANT), &customer).await;
    assert_forbidden(&app, &write(PARTNER_TENANT, "acme-c1"), &customer).await;
}

#[tokio::test]
async fn invalid_write_payloads_are_refused_with_400() {
    let app = mapped_app().await;
    let before = app.snapshot().await;
    for payload in [
        json!({ "acronis_tenant_id": PARTNER_TENANT }),
        json!({ "vendor_tenant_id": "acme-msp" }),
        json!({ "vendor_tenant_id": "acme-msp", "acronis_tenant_id": "not-a-uuid" }),
        json!({ "vendor_tenant_id": 7, "acronis_tenant_id": PARTNER_TENANT }),
    ] {
        let response = app
            .callback_with_headers(&envelope("enablement.write", PARTNER_TENANT, Some(payload.clone())), &acme())
            .await;
        assert_eq!(response.status, 400, "{payload}: {}", response.body);
        response.assert_error(400);
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_credential_change_is_a_write_with_the_new_credentials_and_the_old_ones_stop_working_at_once() {
    let app = mapped_app().await;
    app.callback_with_headers(&write(PARTNER_TENANT, "acme-msp"), &acme()).await;
    // Warm the cache with the old password, then change it in the directory.
    assert_eq!(app.callback_with_headers(&read(PARTNER_TENANT), &acme()).await.status, 200);
    app.set_password("admin@acme", "acme-msp", "n3w").await;

    let old = app.callback_with_headers(&read(PARTNER_TENANT), &acme()).await;
    old.assert_error(401);

    let request = write(PARTNER_TENANT, "acme-msp");
    let new = app.callback_with_headers(&request, &[password_auth("admin@acme", "n3w")]).await;
    assert_eq!(assert_success(&new, &request, NO_CONTENT), None);
}

#[tokio::test]
async fn secrets_match_whatever_the_key_order() {
    let app = mapped_app().await;
    app.grpc()
        .await
        .set_credentials(SetCredentialsRequest {
            identity: "api-client".into(),
            organization_id: "other-msp".into(),
            secrets_json: json!({ "client_secret": "x", "api_key": "y" }).to_string(),
        })
        .await
        .expect("set");
    let header = ("x-cyberapp-auth", {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(r#"api-client:{"api_key": "y", "client_secret": "x"}"#)
    });
    let response = app.callback_with_headers(&read(OTHER_TENANT), &[header]).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.body["payload"]["vendor_tenant_id"], "other-msp");
}

#[tokio::test]
async fn reset_removes_the_partner_mapping_and_the_customer_mappings_it_made() {
    let app = mapped_app().await;
    app.callback_with_headers(&write(PARTNER_TENANT, "acme-msp"), &acme()).await;
    let (c1, c2, foreign) = (
        "18a55fe8-7275-478c-a54e-af2ed53b6a20",
        "5a19bda3-c964-4e92-87ad-55c21df1285c",
        "0b0e6f5e-60a8-4a4b-9c3c-2a1f5b7f6d11",
    );
    app.insert_customer("acme-c1", c1, PARTNER_TENANT, EnablementMethod::Mapped).await;
    // Beneath acme, but mapped by the nested reseller's own enablement: the reseller's, not acme's.
    let reseller = "7d2a4f0e-0000-4000-8000-00000000aaaa";
    app.insert_customer("acme-c2", c2, reseller, EnablementMethod::Mapped).await;
    app.insert_customer("other-c1", foreign, OTHER_TENANT, EnablementMethod::Mapped).await;
    let request = reset(PARTNER_TENANT);

    let response = app.callback_with_headers(&request, &acme()).await;

    assert_eq!(assert_success(&response, &request, NO_CONTENT), None);
    assert!(app.tenant_by_acronis_id(PARTNER_TENANT).await.is_none(), "partner mapping removed");
    assert!(app.tenant_by_acronis_id(c1).await.is_none(), "direct customer unmapped");
    let nested = app.tenant_by_acronis_id(c2).await.expect("the nested partner's mapping is kept");
    assert_eq!((nested.state, nested.partner_acronis_tenant_id.as_deref()), (EnablementState::Enabled, Some(reseller)));
    assert_eq!(app.tenant_by_acronis_id(foreign).await.expect("kept").state, EnablementState::Enabled);
    let events = app.event_kinds().await;
    assert_eq!(events.iter().filter(|kind| *kind == "customer.unmapped").count(), 1, "{events:?}");
    assert!(events.contains(&"partner.unmapped".to_owned()));

    let read_request = read(PARTNER_TENANT);
    let read_response = app.callback_with_headers(&read_request, &acme()).await;
    assert_eq!(
        assert_success(&read_response, &read_request, ENABLEMENT_READ_OK),
        Some(json!({ "vendor_tenant_id": "acme-msp" }))
    );
    // And the organization can be enabled again, even for another tenant.
    let again = app.callback_with_headers(&write(OTHER_TENANT, "acme-msp"), &acme()).await;
    assert_eq!(again.status, 200, "{}", again.body);
}

#[tokio::test]
async fn reset_of_a_tenant_that_is_not_mapped_succeeds_and_changes_nothing() {
    let app = mapped_app().await;
    let before = app.snapshot().await;
    for _ in 0..2 {
        let request = reset(PARTNER_TENANT);
        let response = app.callback_with_headers(&request, &acme()).await;
        assert_eq!(assert_success(&response, &request, NO_CONTENT), None);
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn reset_with_credentials_of_another_organization_is_refused_with_403() {
    let app = mapped_app().await;
    app.callback_with_headers(&write(PARTNER_TENANT, "acme-msp"), &acme()).await;
    assert_forbidden(&app, &reset(PARTNER_TENANT), &[password_auth("admin@other", "other")]).await;
}

#[tokio::test]
async fn every_unreadable_or_wrong_credential_is_refused_with_401_and_changes_nothing() {
    // Throttling would turn the repeated wrong secrets into 429s; it has its own test.
    let app = TestApp::spawn_with(|args| args.credentials.credential_failure_limit = 0).await;
    seed_directory(&app).await;
    let encode = |text: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(text)
    };
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("missing header", vec![]),
        ("not base64", vec![("x-cyberapp-auth", "%%% not base64 %%%".into())]),
        ("no colon", vec![("x-cyberapp-auth", encode("admin@acme"))]),
        ("empty identity", vec![("x-cyberapp-auth", encode(r#":{"password":"s3cret"}"#))]),
        ("secrets not JSON", vec![("x-cyberapp-auth", encode("admin@acme:s3cret"))]),
        ("secrets not an object", vec![("x-cyberapp-auth", encode(r#"admin@acme:["s3cret"]"#))]),
        ("not UTF-8", vec![("x-cyberapp-auth", "//79Ont9".into())]),
        ("unknown identity", vec![password_auth("nobody@acme", "s3cret")]),
        ("wrong secret", vec![password_auth("admin@acme", "S3CRET")]),
        ("other secret field", vec![cyberapp_auth("admin@acme", &json!({ "pass": "s3cret" }))]),
        ("control character identity", vec![password_auth("admin\u{1}@acme", "s3cret")]),
    ];
    for request in [read(PARTNER_TENANT), write(PARTNER_TENANT, "acme-msp"), reset(PARTNER_TENANT)] {
        for (case, headers) in &cases {
            let before = app.snapshot().await;
            let response = app.callback_with_headers(&request, headers).await;
            assert_eq!(response.status, 401, "{case}: {}", response.body);
            response.assert_error(401);
            assert!(!response.err_message().contains("s3cret"), "{case}");
            assert_eq!(app.snapshot().await, before, "{case}");
        }
    }
}

#[tokio::test]
async fn a_bad_x_cyberapp_extra_is_refused_with_400_and_a_good_one_is_accepted() {
    let app = mapped_app().await;
    let mut headers = acme();
    headers.push(("x-cyberapp-extra", "not base64 json".into()));
    app.callback_with_headers(&read(PARTNER_TENANT), &headers).await.assert_error(400);

    let mut headers = acme();
    headers.push(("x-cyberapp-extra", "e30=".into()));
    assert_eq!(app.callback_with_headers(&read(PARTNER_TENANT), &headers).await.status, 200);
}

#[tokio::test]
async fn repeated_failures_lock_the_identity_out_with_429_and_leave_others_alone() {
    let app = TestApp::spawn_with(|args| args.credentials.credential_failure_limit = 3).await;
    seed_directory(&app).await;
    for _ in 0..3 {
        let response = app.callback_with_headers(&read(PARTNER_TENANT), &[password_auth("admin@acme", "guess")]).await;
        assert_eq!(response.status, 401);
    }

    let locked = app.callback_with_headers(&read(PARTNER_TENANT), &acme()).await;
    locked.assert_error(429);
    let retry_after: u64 = locked.headers["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    let other = app.callback_with_headers(&read(OTHER_TENANT), &[password_auth("admin@other", "other")]).await;
    assert_eq!(other.status, 200, "{}", other.body);
}

#[tokio::test]
async fn wrong_secrets_from_another_tenant_never_lock_the_owner_out_of_its_own() {
    let app = TestApp::spawn().await;
    seed_directory(&app).await;
    // Six guesses at acme's login, sent from another Acronis tenant: the sixth is already locked.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses
            .push(app.callback_with_headers(&read(OTHER_TENANT), &[password_auth("admin@acme", "guess")]).await.status);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    // That tenant stays locked out of the identity, even with the right secret...
    app.callback_with_headers(&read(OTHER_TENANT), &acme()).await.assert_error(429);
    // ...while the owner, from its own tenant, is let in at once.
    let owner = app.callback_with_headers(&read(PARTNER_TENANT), &acme()).await;
    assert_eq!(owner.status, 200, "{}", owner.body);
    assert_eq!(owner.body["payload"]["vendor_tenant_id"], "acme-msp");
}

#[tokio::test]
async fn unknown_identities_and_wrong_secrets_take_comparable_time() {
    let app = TestApp::spawn_with(|args| args.credentials.credential_failure_limit = 0).await;
    seed_directory(&app).await;
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    for round in 0..12 {
        for (samples, identity) in
            [(&mut unknown, format!("ghost-{round}@acme")), (&mut wrong, "admin@acme".to_owned())]
        {
            let started = Instant::now();
            let response = app.callback_with_headers(&read(PARTNER_TENANT), &[password_auth(&identity, "nope")]).await;
            samples.push(started.elapsed());
            assert_eq!(response.status, 401);
        }
    }
    let (unknown, wrong) = (median(&mut unknown), median(&mut wrong));
    let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
    assert!((1.0 / 3.0..=3.0).contains(&ratio), "unknown {unknown:?} vs wrong secret {wrong:?}");
}

#[tokio::test]
async fn two_organizations_racing_for_one_acronis_tenant_end_with_exactly_one_mapping() {
    let app = mapped_app().await;
    let acme_write = write(PARTNER_TENANT, "acme-msp");
    let other_write = write(PARTNER_TENANT, "other-msp");
    let other_auth = [password_auth("admin@other", "other")];
    let acme_auth = acme();
    let (first, second) = tokio::join!(
        app.callback_with_headers(&acme_write, &acme_auth),
        app.callback_with_headers(&other_write, &other_auth),
    );
    let mut statuses = [first.status, second.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 403], "{} / {}", first.body, second.body);
    let record = app.tenant_by_acronis_id(PARTNER_TENANT).await.expect("one mapping");
    let winner = if first.status == 200 { "acme-msp" } else { "other-msp" };
    assert_eq!(record.vendor_tenant_id, winner);
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

#[tokio::test]
async fn parallel_wrong_guesses_cannot_pass_the_failure_limit() {
    let app = TestApp::spawn_with(|args| args.credentials.credential_failure_limit = 3).await;
    seed_directory(&app).await;
    let request = read(PARTNER_TENANT);
    let app_ref = &app;
    // Twelve different guesses at once: each is a check of its own.
    let statuses: Vec<u16> = futures::future::join_all((0..12).map(|i| {
        let request = &request;
        async move {
            let guess = [password_auth("admin@acme", &format!("guess-{i}"))];
            app_ref.callback_with_headers(request, &guess).await.status
        }
    }))
    .await;
    let checked = statuses.iter().filter(|&&status| status == 401).count();
    assert!(checked <= 3, "{checked} guesses were checked: {statuses:?}");
    assert!(statuses.iter().all(|&status| status == 401 || status == 429), "{statuses:?}");
}

#[tokio::test]
async fn a_burst_of_the_same_right_credentials_is_never_throttled() {
    // More callbacks at once than the failure limit, none of them remembered yet: before checks of the same
    // credentials took turns, those in flight filled the limit and the rest got 429 despite the right secret.
    let app = TestApp::spawn_with(|args| args.credentials.credential_failure_limit = 3).await;
    seed_directory(&app).await;
    let before = app.snapshot().await;
    let request = read(PARTNER_TENANT);
    let right = [password_auth("admin@acme", "s3cret")];
    let app_ref = &app;
    let statuses: Vec<u16> = futures::future::join_all(
        (0..12).map(|_| async { app_ref.callback_with_headers(&request, &right).await.status }),
    )
    .await;
    assert!(statuses.iter().all(|&status| status == 200), "{statuses:?}");
    assert_eq!(app.snapshot().await, before, "a read changes nothing");
}

#[tokio::test]
async fn deleting_a_mapped_partner_organization_disables_its_customers() {
    let app = mapped_app().await;
    let mut grpc = app.grpc().await;
    grpc.upsert_organization(UpsertOrganizationRequest {
        id: "solo".into(),
        name: "Solo MSP".into(),
        kind: OrganizationKind::Partner.into(),
        parent_id: None,
    })
    .await
    .expect("solo");
    grpc.set_credentials(SetCredentialsRequest {
        identity: "solo".into(),
        organization_id: "solo".into(),
        secrets_json: json!({ "password": "pw" }).to_string(),
    })
    .await
    .expect("credentials");
    assert_eq!(
        app.callback_with_headers(&write(PARTNER_TENANT, "solo"), &[password_auth("solo", "pw")]).await.status,
        200
    );
    let customers = crate::helpers::set_customer_state(
        PARTNER_TENANT,
        json!([{ "acronis_tenant_id": OTHER_TENANT, "acronis_tenant_name": "Customer" }]),
        json!([]),
    );
    assert_eq!(app.callback(&customers).await.status, 200);

    grpc.delete_organization(cyberapp_tenants::pb::DeleteOrganizationRequest { id: "solo".into() })
        .await
        .expect("deleted");

    assert_eq!(app.tenant_by_acronis_id(OTHER_TENANT).await.expect("kept").state, EnablementState::Disabled);
    assert!(app.tenant_by_acronis_id(PARTNER_TENANT).await.is_none());
    let events = app.event_kinds().await;
    assert!(events.ends_with(&["customer.disabled".to_owned(), "partner.unmapped".to_owned()]), "{events:?}");
}
