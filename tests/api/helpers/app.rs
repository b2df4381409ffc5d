//! The service in the test process: a real `App` on loopback ports (port 0) over a database of its own,
//! trusting the fake IdP, with one method per kind of request (HTTP callbacks, gRPC, health) and direct
//! database access for seeding and for asserting the state afterwards.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cyberapp_tenants::app::App;
use cyberapp_tenants::config::{
    AcgwArgs, CredentialArgs, CustomCallbackArgs, DatabaseArgs, GrpcAuthArgs, ServeArgs, ServiceRole, TestHooks,
};
use cyberapp_tenants::db::entity::tenant::{EnablementMethod, EnablementState, TenantKind};
use cyberapp_tenants::db::entity::{tenant, tenant_event};
use cyberapp_tenants::pb::tenant_service_client::TenantServiceClient;
use cyberapp_tenants::pb::{Event, OrganizationKind, UpsertOrganizationRequest, WatchEventsRequest};
use sea_orm::{Database, DatabaseConnection, EntityTrait, QueryOrder};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tonic::Streaming;

use super::{ENDPOINT_ID, FakeIdp, TestDatabase, TestKey};

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
        custom_callbacks: CustomCallbackArgs::default(),
        tls_cert_file: None,
        tls_key_file: None,
        data_dir: std::env::temp_dir(),
        max_body_bytes: 1024 * 1024,
        idempotency_retention_secs: 7 * 24 * 3600,
        request_timeout_ms: 10_000,
        max_concurrent_callbacks: 512,
        event_retention_secs: 30 * 24 * 3600,
        event_poll_interval_ms: 50,
        read_model_max_staleness_ms: 0,
        read_model_entries: 100_000,
        max_watch_streams: 256,
        shutdown_timeout_secs: 5,
        test_hooks: TestHooks::default(),
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
        let shared = TestDatabase::shared(database_url);
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

    /// Begins the shutdown SIGTERM begins, and returns at once (the app drains in the background).
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Shuts the app down as SIGTERM would (its database stays); give it a moment to drain.
    pub async fn stop(&self) {
        self.begin_shutdown();
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

/// Creates organizations over gRPC: `(id, kind, parent)`, each named `"<id> name"`.
pub async fn organizations(app: &TestApp, entries: &[(&str, OrganizationKind, Option<&str>)]) {
    let mut grpc = app.grpc().await;
    for (id, kind, parent) in entries {
        grpc.upsert_organization(UpsertOrganizationRequest {
            id: (*id).into(),
            name: format!("{id} name"),
            kind: (*kind).into(),
            parent_id: parent.map(Into::into),
        })
        .await
        .expect("organization");
    }
}

/// Opens a stream of the events after `after` (from now on for `None`).
pub async fn watch(app: &TestApp, after: Option<u64>) -> Streaming<Event> {
    app.grpc().await.watch_events(WatchEventsRequest { after_cursor: after }).await.expect("stream opens").into_inner()
}

/// The next `count` events; fails if they do not arrive within a few seconds.
pub async fn next_events(stream: &mut Streaming<Event>, count: usize) -> Vec<Event> {
    let mut events = Vec::with_capacity(count);
    while events.len() < count {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.message()).await;
        let event = next.expect("event arrives in time").expect("stream healthy").expect("stream still open");
        events.push(event);
    }
    events
}

pub async fn into_test_response(response: reqwest::Response) -> TestResponse {
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
