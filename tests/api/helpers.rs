//! The test harness: a real `App` on loopback ports (port 0) over a fresh database per test, a fake Acronis
//! IdP, and one helper per kind of request.
//!
//! The database is a temporary SQLite file, or, when `TEST_DATABASE_URL` names a PostgreSQL server, a new
//! database created on it for this test and dropped afterwards.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cyberapp_tenants::app::App;
use cyberapp_tenants::config::{AcgwArgs, CredentialArgs, DatabaseArgs, GrpcAuthArgs, ServeArgs, ServiceRole};
use cyberapp_tenants::db::entity::tenant::{EnablementMethod, EnablementState, TenantKind};
use cyberapp_tenants::db::entity::{tenant, tenant_event};
use cyberapp_tenants::pb::tenant_service_client::TenantServiceClient;
use sea_orm::{Database, DatabaseConnection, EntityTrait, QueryOrder};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::fake_idp::{FakeIdp, TestKey};

/// The endpoint the test CyberApp is registered under; valid tokens are scoped to it.
pub const ENDPOINT_ID: &str = "cti.a.p.acgw.endpoint.v1.1~yury_partner1_864.mirroring_test.endpoint.v1.1";
pub const PARTNER_TENANT: &str = "999d63d2-831e-40b9-aaab-16f919a483d0";
pub const OTHER_TENANT: &str = "9ae2aada-2342-4fc0-8d92-007b597a7d9c";

pub struct TestApp {
    pub base_url: String,
    pub grpc_addr: SocketAddr,
    pub idp: FakeIdp,
    pub db: DatabaseConnection,
    pub data_dir: tempfile::TempDir,
    pub database_url: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
    _database: TestDatabase,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stops the servers and the health watcher before the database goes away.
        self.shutdown.cancel();
    }
}

/// The test defaults: loopback ports chosen by the OS, `issuer` trusted, production-like limits.
pub fn serve_args(database_url: &str, issuer: &str) -> ServeArgs {
    ServeArgs {
        database: DatabaseArgs { database_url: database_url.to_owned() },
        role: ServiceRole::All,
        tenant_service_url: None,
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        grpc_addr: "127.0.0.1:0".parse().expect("addr"),
        no_migrate: false,
        acgw: AcgwArgs {
            trusted_issuers: vec![issuer.to_owned()],
            endpoint_ids: vec![ENDPOINT_ID.to_owned()],
            clock_leeway_secs: 60,
            dev_mode: false,
            jwks_refetch_interval_secs: 15,
        },
        credentials: CredentialArgs {
            credential_cache_ttl_secs: 60,
            credential_failure_limit: 5,
            credential_lockout_secs: 60,
            argon2_max_concurrency: 0,
        },
        grpc_auth: GrpcAuthArgs::default(),
        tls_cert_file: None,
        tls_key_file: None,
        data_dir: std::env::temp_dir(),
        max_body_bytes: 1024 * 1024,
        idempotency_retention_secs: 7 * 24 * 3600,
        request_timeout_ms: 10_000,
        max_concurrent_callbacks: 512,
        event_retention_secs: 30 * 24 * 3600,
        event_poll_interval_ms: 50,
        max_watch_streams: 256,
        shutdown_timeout_secs: 5,
    }
}

/// A response as the tests look at it.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn err_message(&self) -> &str {
        self.body["err_message"].as_str().unwrap_or_else(|| panic!("no err_message in {}", self.body))
    }

    /// Asserts the contract's error shape: `err_message`, a UUID `response_id`, nothing else but `request_id`.
    pub fn assert_error(&self, status: u16) {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        let object = self.body.as_object().unwrap_or_else(|| panic!("error body is not an object: {}", self.body));
        assert!(!self.err_message().is_empty());
        assert!(uuid::Uuid::try_parse(object["response_id"].as_str().expect("response_id")).is_ok());
        for key in object.keys() {
            assert!(["request_id", "response_id", "err_message"].contains(&key.as_str()), "unexpected key {key}");
        }
        assert!(self.headers["content-type"].to_str().expect("ascii").starts_with("application/json"));
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts the app with the test defaults, adjusted by `configure`.
    pub async fn spawn_with(configure: impl FnOnce(&mut ServeArgs)) -> Self {
        Self::start(TestDatabase::create().await, configure).await
    }

    /// Starts another app on an existing database (a restart, or a second replica); the database stays
    /// owned by whoever created it.
    pub async fn spawn_on(database_url: &str) -> Self {
        let shared = TestDatabase { url: database_url.to_owned(), postgres: None, _sqlite_dir: None };
        Self::start(shared, |_| {}).await
    }

    async fn start(database: TestDatabase, configure: impl FnOnce(&mut ServeArgs)) -> Self {
        let idp = FakeIdp::start().await;
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut args = serve_args(&database.url, &idp.issuer);
        args.data_dir = PathBuf::from(data_dir.path());
        configure(&mut args);
        let app = App::build(&args).await.expect("app builds");
        let base_url = format!("http://{}", app.http_addr());
        let grpc_addr = app.grpc_addr().expect("runs the TenantService");
        let shutdown = CancellationToken::new();
        tokio::spawn(app.run(shutdown.clone()));
        let db = Database::connect(&database.url).await.expect("test connection");
        Self {
            base_url,
            grpc_addr,
            idp,
            db,
            data_dir,
            database_url: database.url.clone(),
            http: http_client(),
            shutdown,
            _database: database,
        }
    }

    /// Shuts the app down as SIGTERM would (its database stays); give it a moment to drain.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// A valid token for the test endpoint, signed by the IdP's primary key.
    pub fn token(&self) -> String {
        token_for(&self.idp.claims(ENDPOINT_ID))
    }

    /// POSTs `body` to `/callback` with a valid token.
    pub async fn callback(&self, body: &Value) -> TestResponse {
        self.callback_with_token(body, Some(&self.token())).await
    }

    pub async fn callback_with_token(&self, body: &Value, token: Option<&str>) -> TestResponse {
        let authorization = token.map(|token| format!("Bearer {token}"));
        self.post_raw(serde_json::to_vec(body).expect("json"), authorization.as_deref()).await
    }

    /// POSTs raw bytes with an optional `Authorization` header value.
    pub async fn post_raw(&self, body: Vec<u8>, authorization: Option<&str>) -> TestResponse {
        let headers: Vec<(&str, String)> =
            authorization.map(|value| ("authorization", value.to_owned())).into_iter().collect();
        self.post_with_headers(body, &headers).await
    }

    /// POSTs `body` with a valid token and the given extra headers (e.g. `X-CyberApp-Auth`).
    pub async fn callback_with_headers(&self, body: &Value, headers: &[(&str, String)]) -> TestResponse {
        let mut all = vec![("authorization", format!("Bearer {}", self.token()))];
        all.extend(headers.iter().cloned());
        self.post_with_headers(serde_json::to_vec(body).expect("json"), &all).await
    }

    pub async fn post_with_headers(&self, body: Vec<u8>, headers: &[(&str, String)]) -> TestResponse {
        let mut request =
            self.http.post(format!("{}/callback", self.base_url)).header("content-type", "application/json").body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        into_test_response(request.send().await.expect("request sent")).await
    }

    /// A TenantService client over the real gRPC port.
    pub async fn grpc(&self) -> TenantServiceClient<tonic::transport::Channel> {
        TenantServiceClient::connect(format!("http://{}", self.grpc_addr)).await.expect("connect")
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        into_test_response(self.http.get(format!("{}{path}", self.base_url)).send().await.expect("sent")).await
    }

    /// Waits until `/readyz` answers 200 (the health watcher's first check runs right after start).
    pub async fn wait_until_ready(&self) {
        for _ in 0..50 {
            if self.get("/readyz").await.status == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("service did not become ready");
    }

    /// Enables a mirrored partner directly through the TenantService (bypassing the gateway under test).
    pub async fn seed_mirrored_partner(&self, acronis_tenant_id: &str) {
        use cyberapp_tenants::pb::EnableMirroredPartnerRequest;
        let mut client = self.grpc().await;
        let request = EnableMirroredPartnerRequest {
            acronis_tenant_id: acronis_tenant_id.to_owned(),
            name: "Seeded partner".into(),
            settings_json: None,
            datacenter_url: None,
        };
        client.enable_mirrored_partner(request).await.expect("seeded");
    }

    /// Gives `identity` the secrets `{"password": password}` in the directory, for `organization_id`.
    pub async fn set_password(&self, identity: &str, organization_id: &str, password: &str) {
        use cyberapp_tenants::pb::SetCredentialsRequest;
        let request = SetCredentialsRequest {
            identity: identity.to_owned(),
            organization_id: organization_id.to_owned(),
            secrets_json: serde_json::json!({ "password": password }).to_string(),
        };
        self.grpc().await.set_credentials(request).await.expect("credentials set");
    }

    /// Inserts an enabled customer record directly (for callbacks that act on customers made elsewhere).
    pub async fn insert_customer(
        &self,
        vendor_tenant_id: &str,
        acronis_tenant_id: &str,
        partner: &str,
        method: EnablementMethod,
    ) {
        use sea_orm::{ActiveModelTrait as _, ActiveValue::Set};
        let now = chrono::Utc::now();
        tenant::ActiveModel {
            vendor_tenant_id: Set(vendor_tenant_id.to_owned()),
            acronis_tenant_id: Set(Some(acronis_tenant_id.to_owned())),
            kind: Set(TenantKind::Customer),
            enablement_method: Set(method),
            state: Set(EnablementState::Enabled),
            partner_acronis_tenant_id: Set(Some(partner.to_owned())),
            name: Set(Some(format!("Customer {vendor_tenant_id}"))),
            settings_json: Set(None),
            datacenter_url: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .expect("customer inserted");
    }

    /// Every row of every table, in a stable order, to compare before and after a refused request.
    pub async fn snapshot(&self) -> Vec<String> {
        use cyberapp_tenants::db::entity::{credential, organization};
        let tenants = tenant::Entity::find().order_by_asc(tenant::Column::Id).all(&self.db).await.expect("tenants");
        let events =
            tenant_event::Entity::find().order_by_asc(tenant_event::Column::Id).all(&self.db).await.expect("events");
        let organizations =
            organization::Entity::find().order_by_asc(organization::Column::Id).all(&self.db).await.expect("orgs");
        let credentials =
            credential::Entity::find().order_by_asc(credential::Column::Identity).all(&self.db).await.expect("creds");
        tenants
            .iter()
            .map(|row| format!("{row:?}"))
            // The sequencer numbers committed events in the background: a position is bookkeeping, not a change.
            .chain(events.iter().map(|row| format!("{:?}", tenant_event::Model { position: None, ..row.clone() })))
            .chain(organizations.iter().map(|row| format!("{row:?}")))
            // Debug redacts the hash; a changed hash must still show.
            .chain(credentials.iter().map(|row| format!("{row:?} {}", row.secret_hash)))
            .collect()
    }

    pub async fn tenant_by_acronis_id(&self, acronis_tenant_id: &str) -> Option<tenant::Model> {
        use sea_orm::{ColumnTrait, QueryFilter};
        tenant::Entity::find()
            .filter(tenant::Column::AcronisTenantId.eq(acronis_tenant_id))
            .one(&self.db)
            .await
            .expect("query")
    }

    pub async fn tenant_by_vendor_id(&self, vendor_tenant_id: &str) -> Option<tenant::Model> {
        use sea_orm::{ColumnTrait, QueryFilter};
        tenant::Entity::find()
            .filter(tenant::Column::VendorTenantId.eq(vendor_tenant_id))
            .one(&self.db)
            .await
            .expect("query")
    }

    /// The kinds of the tenant events so far, in order (directory events left out).
    pub async fn event_kinds(&self) -> Vec<String> {
        tenant_event::Entity::find()
            .order_by_asc(tenant_event::Column::Id)
            .all(&self.db)
            .await
            .expect("events")
            .into_iter()
            .map(|event| event.kind)
            .filter(|kind| !kind.starts_with("directory."))
            .collect()
    }
}

/// An HTTP client for talking to the service (the process-wide TLS provider installed first).
pub fn http_client() -> reqwest::Client {
    cyberapp_tenants::tls::install_crypto_provider();
    reqwest::Client::new()
}

/// A token over `claims`, signed by the IdP's primary key.
pub fn token_for(claims: &Value) -> String {
    let key = TestKey::primary();
    key.sign(&key.kid, claims)
}

async fn into_test_response(response: reqwest::Response) -> TestResponse {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("body is not JSON: {}", String::from_utf8_lossy(&bytes)))
    };
    TestResponse { status, headers, body }
}

/// A request envelope for `callback` (the entity part, e.g. `partner.mirroring.enable`) from `tenant_id`.
pub fn envelope(callback: &str, tenant_id: &str, payload: Option<Value>) -> Value {
    let (callback_base, request_base) = if callback.contains("mirroring") {
        ("cti.a.p.acgw.callback.v2.0", "cti.a.p.acgw.request.v1.1")
    } else {
        ("cti.a.p.acgw.callback.v1.0", "cti.a.p.acgw.request.v1.0")
    };
    let mut body = json!({
        "type": format!("{request_base}~a.p.{callback}.v1.0"),
        "request_id": uuid::Uuid::new_v4().to_string(),
        "created_at": "0001-01-01T00:00:00Z",
        "context": {
            "callback_id": format!("{callback_base}~a.p.{callback}.v1.0"),
            "endpoint_id": ENDPOINT_ID,
            "tenant_id": tenant_id,
            "datacenter_url": "https://eu8.acronis.cloud",
        },
    });
    if let Some(payload) = payload {
        body["payload"] = payload;
    }
    body
}

pub fn enable_partner(tenant_id: &str, name: &str, settings: Option<Value>) -> Value {
    let mut payload = json!({ "acronis_tenant_id": tenant_id, "acronis_tenant_name": name });
    if let Some(settings) = settings {
        payload["settings"] = settings;
    }
    envelope("partner.mirroring.enable", tenant_id, Some(payload))
}

pub fn get_partner_state(tenant_id: &str) -> Value {
    envelope("partner.mirroring.get_state", tenant_id, None)
}

pub fn reset_partner(tenant_id: &str) -> Value {
    envelope("partner.mirroring.reset", tenant_id, None)
}

/// Loads a protocol example body from `tests/fixtures/`.
pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture json")
}

/// Asserts the contract's success shape for `response_type`, echoing `request`'s id; returns the payload.
pub fn assert_success(response: &TestResponse, request: &Value, response_type: &str) -> Option<Value> {
    assert_eq!(response.status, 200, "unexpected status; body: {}", response.body);
    assert!(response.headers["content-type"].to_str().expect("ascii").starts_with("application/json"));
    let object = response.body.as_object().expect("object body");
    assert_eq!(object["type"], response_type);
    assert_eq!(object["request_id"], request["request_id"]);
    let response_id = object["response_id"].as_str().expect("response_id");
    assert!(uuid::Uuid::try_parse(response_id).is_ok());
    assert_ne!(response_id, request["request_id"].as_str().expect("request_id"));
    for key in object.keys() {
        assert!(["type", "request_id", "response_id", "payload"].contains(&key.as_str()), "unexpected key {key}");
    }
    assert_no_nulls(&response.body);
    object.get("payload").cloned()
}

/// Optional keys are left out, never sent as `null`.
fn assert_no_nulls(value: &Value) {
    match value {
        Value::Null => panic!("null in response"),
        Value::Array(items) => items.iter().for_each(assert_no_nulls),
        Value::Object(map) => map.values().for_each(assert_no_nulls),
        _ => {}
    }
}

/// A database of its own for one test.
pub struct TestDatabase {
    pub url: String,
    postgres: Option<(String, String)>,
    _sqlite_dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn create() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => Self::create_postgres(admin_url).await,
            _ => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("tenants.db").display());
                Self { url, postgres: None, _sqlite_dir: Some(dir) }
            }
        }
    }

    async fn create_postgres(admin_url: String) -> Self {
        use sea_orm::ConnectionTrait as _;
        let name = format!("cyberapp_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url).await.expect("TEST_DATABASE_URL reachable");
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create database");
        admin.close().await.expect("close");
        let mut url = reqwest::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Self { url: url.to_string(), postgres: Some((admin_url, name)), _sqlite_dir: None }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else { return };
        // Drop runs inside the test's runtime; a thread with its own runtime may block on the cleanup.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                use sea_orm::ConnectionTrait as _;
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// The `X-CyberApp-Auth` header for `identity` and a secrets object (base64 of `identity:secrets`).
pub fn cyberapp_auth(identity: &str, secrets: &Value) -> (&'static str, String) {
    use base64::Engine as _;
    ("x-cyberapp-auth", base64::engine::general_purpose::STANDARD.encode(format!("{identity}:{secrets}")))
}

/// The `X-CyberApp-Auth` header for `identity` with `{"password": password}`.
pub fn password_auth(identity: &str, password: &str) -> (&'static str, String) {
    cyberapp_auth(identity, &json!({ "password": password }))
}
