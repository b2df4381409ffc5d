//! The vendor directory: `directory import FILE` and the admin RPCs `UpsertOrganization`,
//! `DeleteOrganization`, `SetCredentials`.

use std::process::Command;

use cyberapp_tenants::db::entity::{credential, organization};
use cyberapp_tenants::pb::{
    DeleteOrganizationRequest, OrganizationKind, SetCredentialsRequest, UpsertOrganizationRequest,
};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};
use tonic::Code;

use crate::helpers::{PARTNER_TENANT, TestApp, enablement_read, password_auth};

/// Runs `directory import` on `file` against the app's database; returns (success, stdout, stderr).
/// Runs `directory import` on the app's database. The wait runs off the test's runtime: that runtime also
/// runs the app, whose sequencer may be inside a write transaction, and blocking it there would hold
/// SQLite's write lock until the import gave up (the busy timeout), failing it as "unavailable".
async fn import(app: &TestApp, file: &std::path::Path) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cyberapp-tenants"));
    command.args(["directory", "import"]).arg(file).env("DATABASE_URL", &app.database_url).env("LOG_FORMAT", "json");
    let output =
        tokio::task::spawn_blocking(move || command.output()).await.expect("the wait ran").expect("import runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn fixture_path() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/directory.json")
}

fn write_file(app: &TestApp, content: &Value) -> std::path::PathBuf {
    let path = app.data_dir.path().join(format!("directory-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, content.to_string()).expect("write file");
    path
}

async fn organizations(app: &TestApp) -> Vec<(String, Option<String>)> {
    organization::Entity::find()
        .order_by_asc(organization::Column::Id)
        .all(&app.db)
        .await
        .expect("organizations")
        .into_iter()
        .map(|org| (org.id, org.parent_id))
        .collect()
}

#[tokio::test]
async fn import_loads_nested_partners_customers_and_working_credentials() {
    let app = TestApp::spawn().await;

    let (ok, stdout, stderr) = import(&app, &fixture_path()).await;

    assert!(ok, "{stderr}");
    assert!(stdout.contains("4 organization(s) and 2 credential(s) changed"), "{stdout}");
    assert_eq!(
        organizations(&app).await,
        [
            ("acme-c1".into(), Some("acme-msp".into())),
            ("acme-c2".into(), Some("acme-reseller".into())),
            ("acme-msp".into(), None),
            ("acme-reseller".into(), Some("acme-msp".into())),
        ]
    );
    let stored = credential::Entity::find_by_id("admin@acme").one(&app.db).await.expect("query").expect("stored");
    assert!(stored.secret_hash.starts_with("$argon2id$"), "only a hash is stored");
    assert!(!stored.secret_hash.contains("s3cret"));

    let request = enablement_read(PARTNER_TENANT);
    let response = app.callback_with_headers(&request, &[password_auth("admin@acme", "s3cret")]).await;
    assert_eq!(response.body["payload"], json!({ "vendor_tenant_id": "acme-msp" }));
    let reseller =
        crate::helpers::cyberapp_auth("reseller@acme", &json!({ "otp_seed": "abc", "password": "r3seller" }));
    let response = app.callback_with_headers(&request, &[reseller]).await;
    assert_eq!(response.body["payload"], json!({ "vendor_tenant_id": "acme-reseller" }));
}

#[tokio::test]
async fn importing_the_same_file_twice_changes_nothing() {
    let app = TestApp::spawn().await;
    assert!(import(&app, &fixture_path()).await.0);
    let before = app.snapshot().await;
    let hashes_before = credential::Entity::find().all(&app.db).await.expect("credentials");

    let (ok, stdout, stderr) = import(&app, &fixture_path()).await;

    assert!(ok, "{stderr}");
    assert!(stdout.contains("0 organization(s) and 0 credential(s) changed"), "{stdout}");
    assert_eq!(app.snapshot().await, before);
    assert_eq!(credential::Entity::find().all(&app.db).await.expect("credentials"), hashes_before);
}

#[tokio::test]
async fn a_bad_file_is_refused_whole_with_a_message_naming_the_entry() {
    let app = TestApp::spawn().await;
    assert!(import(&app, &fixture_path()).await.0);
    let before = app.snapshot().await;
    let org =
        |id: &str, kind: &str, parent: Option<&str>| json!({ "id": id, "name": id, "kind": kind, "parent_id": parent });
    let good = org("new-partner", "partner", None);
    let cases = [
        ("unknown kind", json!({ "organizations": [good, org("x", "reseller", None)] }), "reseller"),
        (
            "unknown field",
            json!({ "organizations": [good, { "id": "x", "name": "x", "kind": "partner", "parnt": "y" }] }),
            "parnt",
        ),
        ("missing name", json!({ "organizations": [good, { "id": "x", "kind": "partner" }] }), "name"),
        (
            "duplicate id",
            json!({ "organizations": [good, org("new-partner", "partner", None)] }),
            "organizations[1] \"new-partner\"",
        ),
        (
            "customer under a customer",
            json!({ "organizations": [good, org("c", "customer", Some("acme-c1"))] }),
            "\"c\"",
        ),
        (
            "customer in file under customer in file",
            json!({ "organizations": [org("c1", "customer", Some("new-partner")), good, org("c2", "customer", Some("c1"))] }),
            "\"c2\"",
        ),
        ("missing parent", json!({ "organizations": [good, org("x", "partner", Some("nowhere"))] }), "\"x\""),
        ("customer without parent", json!({ "organizations": [good, org("lonely", "customer", None)] }), "\"lonely\""),
        (
            "cycle",
            json!({ "organizations": [org("a", "partner", Some("b")), org("b", "partner", Some("a"))] }),
            "cycle",
        ),
        (
            "moving a partner under its own child",
            json!({ "organizations": [org("acme-msp", "partner", Some("acme-reseller"))] }),
            "\"acme-msp\"",
        ),
        (
            "credential of an unknown organization",
            json!({ "organizations": [good], "credentials": [{ "identity": "u", "organization_id": "ghost", "secrets": { "password": "p" } }] }),
            "credentials[0] \"u\"",
        ),
        (
            "secrets not an object",
            json!({ "organizations": [good], "credentials": [{ "identity": "u", "organization_id": "new-partner", "secrets": "p" }] }),
            "credentials[0] \"u\"",
        ),
        (
            "identity with a colon",
            json!({ "organizations": [good], "credentials": [{ "identity": "a:b", "organization_id": "new-partner", "secrets": {} }] }),
            "credentials[0]",
        ),
        (
            "duplicate identity",
            json!({ "organizations": [good], "credentials": [
            { "identity": "u", "organization_id": "new-partner", "secrets": { "password": "p" } },
            { "identity": "u", "organization_id": "new-partner", "secrets": { "password": "q" } }] }),
            "credentials[1] \"u\"",
        ),
        ("empty id", json!({ "organizations": [good, org("", "partner", None)] }), "organizations[1]"),
    ];
    for (case, content, named) in cases {
        let (ok, _, stderr) = import(&app, &write_file(&app, &content)).await;
        assert!(!ok, "{case}: accepted");
        assert!(stderr.contains(named), "{case}: the message should name {named}: {stderr}");
        assert_eq!(app.snapshot().await, before, "{case}: the database changed");
    }
    let (ok, _, stderr) = import(&app, &app.data_dir.path().join("missing.json")).await;
    assert!(!ok && stderr.contains("cannot read"), "{stderr}");
    let not_json = app.data_dir.path().join("broken.json");
    std::fs::write(&not_json, "{ organizations: ").expect("write");
    let (ok, _, stderr) = import(&app, &not_json).await;
    assert!(!ok && stderr.contains("not a valid directory file"), "{stderr}");
    assert!(organization::Entity::find_by_id("new-partner").one(&app.db).await.expect("query").is_none());
}

fn upsert(id: &str, kind: OrganizationKind, parent: Option<&str>) -> UpsertOrganizationRequest {
    UpsertOrganizationRequest {
        id: id.into(),
        name: format!("{id} name"),
        kind: kind.into(),
        parent_id: parent.map(Into::into),
    }
}

#[tokio::test]
async fn upsert_organization_enforces_the_shape_of_the_tree() {
    let app = TestApp::spawn().await;
    let mut grpc = app.grpc().await;
    grpc.upsert_organization(upsert("p1", OrganizationKind::Partner, None)).await.expect("partner");
    grpc.upsert_organization(upsert("p2", OrganizationKind::Partner, Some("p1"))).await.expect("nested partner");
    let saved = grpc.upsert_organization(upsert("c1", OrganizationKind::Customer, Some("p2"))).await.expect("customer");
    assert_eq!(saved.into_inner().parent_id.as_deref(), Some("p2"));
    let before = app.snapshot().await;

    let refusals = [
        (upsert("c2", OrganizationKind::Customer, None), Code::InvalidArgument),
        (upsert("c2", OrganizationKind::Customer, Some("c1")), Code::FailedPrecondition),
        (upsert("p3", OrganizationKind::Partner, Some("ghost")), Code::FailedPrecondition),
        (upsert("p1", OrganizationKind::Partner, Some("p2")), Code::FailedPrecondition),
        (upsert("p1", OrganizationKind::Partner, Some("p1")), Code::FailedPrecondition),
        (upsert("p2", OrganizationKind::Customer, Some("p1")), Code::FailedPrecondition),
        (upsert("x", OrganizationKind::Unspecified, None), Code::InvalidArgument),
        (upsert("", OrganizationKind::Partner, None), Code::InvalidArgument),
        (
            UpsertOrganizationRequest { name: "bad\u{0}name".into(), ..upsert("x", OrganizationKind::Partner, None) },
            Code::InvalidArgument,
        ),
    ];
    for (request, code) in refusals {
        let described = format!("{request:?}");
        let status = grpc.upsert_organization(request).await.expect_err(&described);
        assert_eq!(status.code(), code, "{described}: {}", status.message());
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn delete_organization_removes_its_credentials_and_refuses_while_it_has_children() {
    let app = TestApp::spawn().await;
    assert!(import(&app, &fixture_path()).await.0);
    let mut grpc = app.grpc().await;

    let with_children = grpc.delete_organization(DeleteOrganizationRequest { id: "acme-msp".into() }).await;
    assert_eq!(with_children.expect_err("has children").code(), Code::FailedPrecondition);
    let unknown = grpc.delete_organization(DeleteOrganizationRequest { id: "ghost".into() }).await;
    assert_eq!(unknown.expect_err("unknown").code(), Code::NotFound);

    let request = enablement_read(PARTNER_TENANT);
    let reseller =
        crate::helpers::cyberapp_auth("reseller@acme", &json!({ "otp_seed": "abc", "password": "r3seller" }));
    assert_eq!(app.callback_with_headers(&request, std::slice::from_ref(&reseller)).await.status, 200);
    grpc.delete_organization(DeleteOrganizationRequest { id: "acme-c2".into() }).await.expect("leaf deleted");
    grpc.delete_organization(DeleteOrganizationRequest { id: "acme-reseller".into() }).await.expect("now a leaf");

    assert!(credential::Entity::find_by_id("reseller@acme").one(&app.db).await.expect("query").is_none());
    app.callback_with_headers(&request, &[reseller]).await.assert_error(401);
}

#[tokio::test]
async fn set_credentials_validates_its_input_and_stores_only_a_hash() {
    let app = TestApp::spawn().await;
    let mut grpc = app.grpc().await;
    grpc.upsert_organization(upsert("p1", OrganizationKind::Partner, None)).await.expect("partner");
    let set = |identity: &str, organization: &str, secrets: &str| SetCredentialsRequest {
        identity: identity.into(),
        organization_id: organization.into(),
        secrets_json: secrets.into(),
    };
    for (request, code) in [
        (set("u", "ghost", r#"{"password":"p"}"#), Code::NotFound),
        (set("u", "p1", r#"["p"]"#), Code::InvalidArgument),
        (set("u", "p1", "not json"), Code::InvalidArgument),
        (set("a:b", "p1", r#"{"password":"p"}"#), Code::InvalidArgument),
        (set("", "p1", r#"{"password":"p"}"#), Code::InvalidArgument),
    ] {
        let status = grpc.set_credentials(request).await.expect_err("refused");
        assert_eq!(status.code(), code, "{}", status.message());
        assert!(!status.message().contains("\"p\""), "no secret in the message");
    }
    assert!(credential::Entity::find().all(&app.db).await.expect("query").is_empty());

    grpc.set_credentials(set("u", "p1", r#"{"password":"hunter2"}"#)).await.expect("set");
    let stored = credential::Entity::find_by_id("u").one(&app.db).await.expect("query").expect("stored");
    assert!(stored.secret_hash.starts_with("$argon2id$") && !stored.secret_hash.contains("hunter2"));
    assert!(!format!("{stored:?}").contains("argon2"), "Debug output redacts the hash");
}
