//! The service around the callbacks: health and readiness, the TenantService over real gRPC, development
//! mode, and the binary's start-up and graceful shutdown.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cyberapp_tenants::pb::tenant_service_client::TenantServiceClient;
use cyberapp_tenants::pb::{EnableMirroredPartnerRequest, GetMirroredPartnerStateRequest};
use serde_json::json;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{
    PARTNER_TENANT, TestApp, TestDatabase, assert_success, enable_partner, envelope, http_client, password_auth,
};

#[tokio::test]
async fn healthz_and_readyz_answer_200_when_the_database_is_up() {
    let app = TestApp::spawn().await;
    let live = app.get("/healthz").await;
    assert_eq!(live.status, 200);
    assert_eq!(live.body, json!({ "status": "ok" }));
    app.wait_until_ready().await;
    assert_eq!(app.get("/readyz").await.body, json!({ "status": "ready" }));
}

#[tokio::test]
async fn readyz_is_503_while_the_schema_is_not_migrated() {
    let app = TestApp::spawn_with(|args| args.no_migrate = true).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body, json!({ "status": "not ready" }));
    assert_eq!(app.get("/healthz").await.status, 200, "alive all the same");
}

#[tokio::test]
async fn grpc_health_reports_serving_on_the_grpc_port() {
    let app = TestApp::spawn().await;
    app.wait_until_ready().await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.grpc_addr))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut health = HealthClient::new(channel);
    for service in ["", "cyberapp.tenants.v1.TenantService"] {
        let response =
            health.check(HealthCheckRequest { service: service.into() }).await.expect("health check").into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }
}

#[tokio::test]
async fn the_tenant_service_answers_over_grpc_with_proper_status_codes() {
    let app = TestApp::spawn().await;
    let mut client = TenantServiceClient::connect(format!("http://{}", app.grpc_addr)).await.expect("connect");

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

#[tokio::test]
async fn development_mode_publishes_its_key_set_and_accepts_its_own_tokens() {
    let app = TestApp::spawn_with(|args| args.acgw.dev_mode = true).await;
    let keys = app.get("/dev/api/idp/v1/keys").await;
    assert_eq!(keys.status, 200);
    assert_eq!(keys.body["keys"][0]["alg"], "RS256");
    assert!(app.data_dir.path().join("dev-signing-key.pem").exists());

    let port: u16 = app.base_url.rsplit(':').next().expect("port").parse().expect("port");
    let token = cyberapp_tenants::gateway::devmode::token(&cyberapp_tenants::config::DevTokenArgs {
        endpoint_id: crate::helpers::ENDPOINT_ID.into(),
        ttl: 60,
        http_addr: format!("127.0.0.1:{port}").parse().expect("addr"),
        data_dir: app.data_dir.path().to_path_buf(),
    })
    .expect("dev token");
    let request = envelope("partner.mirroring.get_state", PARTNER_TENANT, None);
    let response = app.callback_with_token(&request, Some(&token)).await;
    assert_success(&response, &request, "cti.a.p.acgw.response.v1.1~a.p.partner.mirroring.get_state.ok.v1.0");
}

#[tokio::test]
async fn without_development_mode_there_is_no_key_set_route_and_dev_tokens_are_refused() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/dev/api/idp/v1/keys").await.status, 404);
    let key = cyberapp_tenants::gateway::devmode::DevSigningKey::load_or_create(app.data_dir.path()).expect("key");
    let token = key.sign("http://localhost:8080/dev", crate::helpers::ENDPOINT_ID, 60).expect("token");
    let response = app.callback_with_token(&enable_partner(PARTNER_TENANT, "P", None), Some(&token)).await;
    response.assert_error(401);
}

/// The binary, started as an operator would: `serve` with the environment only. Its log (debug level, JSON)
/// goes to `service.log` in the data directory.
pub struct Service {
    child: Child,
    pub http_port: u16,
    pub grpc_port: u16,
    log_path: std::path::PathBuf,
}

impl Service {
    pub fn start(database_url: &str, data_dir: &std::path::Path, extra_env: &[(&str, &str)]) -> Self {
        let http_port = free_port();
        let grpc_port = free_port();
        let log_path = data_dir.join("service.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_cyberapp-tenants"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("HTTP_ADDR", format!("127.0.0.1:{http_port}"))
            .env("GRPC_ADDR", format!("127.0.0.1:{grpc_port}"))
            .env("ACGW_DEV_MODE", "true")
            .env("ACGW_ENDPOINT_IDS", crate::helpers::ENDPOINT_ID)
            .env("DATA_DIR", data_dir)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "debug")
            .envs(extra_env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("binary starts");
        Self { child, http_port, grpc_port, log_path }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).expect("log readable")
    }

    pub fn dev_token(&self, data_dir: &std::path::Path) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_cyberapp-tenants"))
            .args(["dev", "token", "--endpoint-id", crate::helpers::ENDPOINT_ID])
            .env("HTTP_ADDR", format!("127.0.0.1:{}", self.http_port))
            .env("DATA_DIR", data_dir)
            .output()
            .expect("dev token runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("utf8").trim().to_owned()
    }

    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args([signal, &pid]).status().expect("kill").success());
    }

    pub async fn wait_until_ready(&self) -> Duration {
        let started = Instant::now();
        let url = format!("http://127.0.0.1:{}/readyz", self.http_port);
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(response) = http_client().get(&url).send().await
                && response.status() == 200
            {
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("binary did not become ready");
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        self.wait_for_exit()
    }

    pub fn wait_for_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[tokio::test]
async fn the_binary_serves_a_dev_token_callback_and_exits_0_on_sigterm() {
    let database = TestDatabase::create().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut service = Service::start(&database.url, data_dir.path(), &[]);
    service.wait_until_ready().await;

    let token = service.dev_token(data_dir.path());

    let request = enable_partner(PARTNER_TENANT, "Partner", None);
    let response = http_client()
        .post(format!("http://127.0.0.1:{}/callback", service.http_port))
        .bearer_auth(&token)
        .json(&request)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["type"], "cti.a.p.acgw.response.v1.1~a.p.partner.mirroring.enable.ok.v1.0");

    let status = service.terminate();
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
}

#[tokio::test]
async fn migrate_applies_the_schema_and_serve_no_migrate_then_becomes_ready() {
    let database = TestDatabase::create().await;
    let migrate = Command::new(env!("CARGO_BIN_EXE_cyberapp-tenants"))
        .arg("migrate")
        .env("DATABASE_URL", &database.url)
        .output()
        .expect("migrate runs");
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));

    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut service = Service::start(&database.url, data_dir.path(), &[("NO_MIGRATE", "true")]);
    service.wait_until_ready().await;
    assert_eq!(service.terminate().code(), Some(0));
}

#[tokio::test]
async fn no_log_line_contains_a_token_even_at_debug_level() {
    let database = TestDatabase::create().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut service = Service::start(&database.url, data_dir.path(), &[]);
    service.wait_until_ready().await;
    let token = service.dev_token(data_dir.path());
    let url = format!("http://127.0.0.1:{}/callback", service.http_port);
    let client = http_client();
    let accepted = client.post(&url).bearer_auth(&token).json(&enable_partner(PARTNER_TENANT, "P", None)).send();
    assert_eq!(accepted.await.expect("sent").status(), 200);
    let forged = format!("{}x", &token[..token.len() - 1]);
    let refused = client.post(&url).bearer_auth(&forged).json(&enable_partner(PARTNER_TENANT, "P", None)).send();
    assert_eq!(refused.await.expect("sent").status(), 401);
    assert_eq!(service.terminate().code(), Some(0));

    let log = service.log();
    assert!(log.contains("callback answered"), "the log was captured: {log}");
    let signature = token.rsplit('.').next().expect("signature");
    for secret in [token.as_str(), forged.as_str(), signature] {
        assert!(!log.contains(secret), "a token reached the log");
    }
    let key = std::fs::read_to_string(data_dir.path().join("dev-signing-key.pem")).expect("key");
    let key_body = key.lines().nth(1).expect("key line");
    assert!(!log.contains(key_body), "the signing key reached the log");
}

#[tokio::test]
async fn sigint_also_stops_the_service_with_exit_status_0() {
    let database = TestDatabase::create().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut service = Service::start(&database.url, data_dir.path(), &[]);
    service.wait_until_ready().await;
    service.signal("-INT");
    assert_eq!(service.wait_for_exit().code(), Some(0));
}

#[tokio::test]
async fn a_request_in_flight_when_sigterm_arrives_is_still_answered() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let database = TestDatabase::create().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut service = Service::start(&database.url, data_dir.path(), &[]);
    service.wait_until_ready().await;
    let token = service.dev_token(data_dir.path());
    let body = serde_json::to_vec(&enable_partner(PARTNER_TENANT, "Partner", None)).expect("json");
    let (first_half, second_half) = body.split_at(body.len() / 2);

    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", service.http_port)).await.expect("connect");
    let head = format!(
        "POST /callback HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(first_half).await.expect("first half");
    tokio::time::sleep(Duration::from_millis(200)).await;
    service.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(second_half).await.expect("second half");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("response");

    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("partner.mirroring.enable.ok"), "{response}");
    assert_eq!(service.wait_for_exit().code(), Some(0));
}

#[tokio::test]
async fn dev_token_refuses_to_invent_a_key_the_service_does_not_know() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_cyberapp-tenants"))
        .args(["dev", "token"])
        .env("DATA_DIR", data_dir.path())
        .output()
        .expect("dev token runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no development key"));
    assert!(!data_dir.path().join("dev-signing-key.pem").exists());
}

#[tokio::test]
async fn no_log_line_contains_a_password_or_the_raw_credentials_header() {
    let database = TestDatabase::create().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let directory = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/directory.json");
    let imported = Command::new(env!("CARGO_BIN_EXE_cyberapp-tenants"))
        .args(["directory", "import"])
        .arg(&directory)
        .env("DATABASE_URL", &database.url)
        .env("RUST_LOG", "debug")
        .output()
        .expect("import runs");
    assert!(imported.status.success());
    let mut service = Service::start(&database.url, data_dir.path(), &[]);
    service.wait_until_ready().await;
    let token = service.dev_token(data_dir.path());
    let url = format!("http://127.0.0.1:{}/callback", service.http_port);
    let request = envelope("enablement.read", PARTNER_TENANT, None);
    let (right, wrong) = (password_auth("admin@acme", "s3cret"), password_auth("admin@acme", "wr0ng-guess"));
    for (header, expected) in [(&right, 200), (&wrong, 401)] {
        let response = http_client().post(&url).bearer_auth(&token).header(header.0, &header.1).json(&request).send();
        assert_eq!(response.await.expect("sent").status(), expected);
    }
    assert_eq!(service.terminate().code(), Some(0));

    let log = service.log() + &String::from_utf8_lossy(&imported.stderr) + &String::from_utf8_lossy(&imported.stdout);
    assert!(log.contains("callback refused"), "the log was captured: {log}");
    for secret in ["s3cret", "wr0ng-guess", "r3seller", right.1.as_str(), wrong.1.as_str(), token.as_str(), "$argon2"] {
        assert!(!log.contains(secret), "{secret:?} reached the log");
    }
}

/// Runs `serve` with only `env` (besides a fresh database and data directory) and returns how it ended and
/// what it printed, for settings it must refuse before it serves anything.
fn refused_serve(env: &[(&str, &str)]) -> String {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite://{}/refused.db?mode=rwc", data_dir.path().display());
    let output = Command::new(env!("CARGO_BIN_EXE_cyberapp-tenants"))
        .arg("serve")
        .env("DATABASE_URL", &database)
        .env("HTTP_ADDR", "127.0.0.1:0")
        .env("GRPC_ADDR", "127.0.0.1:0")
        .env("DATA_DIR", data_dir.path())
        .env_remove("ACGW_ENDPOINT_IDS")
        .env_remove("ACGW_DEV_MODE")
        .env_remove("GRPC_AUTH_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("binary runs");
    assert!(!output.status.success(), "{env:?} was accepted");
    String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout)
}

#[tokio::test]
async fn serve_refuses_to_start_where_anyones_token_or_anyone_on_the_network_could_drive_it() {
    let no_endpoints = refused_serve(&[]);
    assert!(no_endpoints.contains("ACGW_ENDPOINT_IDS") && no_endpoints.contains("Vendor Portal"), "{no_endpoints}");

    let endpoint = ("ACGW_ENDPOINT_IDS", crate::helpers::ENDPOINT_ID);
    let open_grpc = refused_serve(&[endpoint, ("GRPC_ADDR", "0.0.0.0:0")]);
    assert!(open_grpc.contains("GRPC_AUTH_TOKEN") && open_grpc.contains("GRPC_ALLOW_UNAUTHENTICATED"), "{open_grpc}");

    let weak = refused_serve(&[endpoint, ("GRPC_ADDR", "0.0.0.0:0"), ("GRPC_AUTH_TOKEN", "guessable")]);
    assert!(weak.contains("at least 16"), "{weak}");
}

#[tokio::test]
async fn an_open_grpc_port_is_served_only_when_asked_for_and_then_warned_about() {
    let database = TestDatabase::create().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut service = Service::start(&database.url, data_dir.path(), &[("GRPC_ALLOW_UNAUTHENTICATED", "true")]);
    service.wait_until_ready().await;
    assert_eq!(service.terminate().code(), Some(0));
    // Loopback needs no warning; the test's ports are loopback, so start one more on all interfaces.
    assert!(!service.log().contains("GRPC_ALLOW_UNAUTHENTICATED=true"), "{}", service.log());
    let port = free_port();
    let mut open = Service::start(
        &database.url,
        data_dir.path(),
        &[("GRPC_ALLOW_UNAUTHENTICATED", "true"), ("GRPC_ADDR", &format!("0.0.0.0:{port}"))],
    );
    open.wait_until_ready().await;
    assert_eq!(open.terminate().code(), Some(0));
    assert!(open.log().contains("GRPC_ALLOW_UNAUTHENTICATED=true"), "{}", open.log());
}
