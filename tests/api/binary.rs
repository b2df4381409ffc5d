//! The binary as an operator runs it: `serve` and `migrate`, graceful shutdown on SIGTERM and SIGINT, and the
//! settings `serve` refuses to start with.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::{
    ENDPOINT_ID, PARTNER_ENABLE_OK, PARTNER_TENANT, Service, TestDatabase, enable_partner, free_port, http_client,
};

#[tokio::test]
async fn the_binary_serves_a_dev_token_callback_and_exits_0_on_sigterm() {
    let (_database, data_dir, mut service) = Service::start_fresh(&[]).await;

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
    assert_eq!(body["type"], PARTNER_ENABLE_OK);

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
async fn sigint_also_stops_the_service_with_exit_status_0() {
    let (_database, _data_dir, mut service) = Service::start_fresh(&[]).await;
    service.signal("-INT");
    assert_eq!(service.wait_for_exit().code(), Some(0));
}

#[tokio::test]
async fn a_request_in_flight_when_sigterm_arrives_is_still_answered() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (_database, data_dir, mut service) = Service::start_fresh(&[]).await;
    let token = service.dev_token(data_dir.path());
    let body = serde_json::to_vec(&enable_partner(PARTNER_TENANT, "Partner", None)).expect("json");
    let (first_half, second_half) = body.split_at(body.len() / 2);

    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", service.http_port)).await.expect("connect");
    // `Expect: 100-continue`: the server invites the body only once the callback is in its handler (token
    // verified, slot taken, body being read), so the interim answer says the request is in flight.
    let head = format!(
        "POST /callback HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let mut interim = [0u8; 25];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut interim))
        .await
        .expect("invited in time")
        .expect("interim response");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(first_half).await.expect("first half");
    service.signal("-TERM");
    // Shutdown has begun once the service logs the signal; only then does the rest of the body follow.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !service.log().contains("SIGTERM received; draining") {
        assert!(std::time::Instant::now() < deadline, "SIGTERM not logged:\n{}", service.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stream.write_all(second_half).await.expect("second half");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("response");

    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("partner.mirroring.enable.ok"), "{response}");
    assert_eq!(service.wait_for_exit().code(), Some(0));
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

    let endpoint = ("ACGW_ENDPOINT_IDS", ENDPOINT_ID);
    let open_grpc = refused_serve(&[endpoint, ("GRPC_ADDR", "0.0.0.0:0")]);
    assert!(open_grpc.contains("GRPC_AUTH_TOKEN") && open_grpc.contains("GRPC_ALLOW_UNAUTHENTICATED"), "{open_grpc}");

    let weak = refused_serve(&[endpoint, ("GRPC_ADDR", "0.0.0.0:0"), ("GRPC_AUTH_TOKEN", "guessable")]);
    assert!(weak.contains("at least 16"), "{weak}");
}

#[tokio::test]
async fn an_open_grpc_port_is_served_only_when_asked_for_and_then_warned_about() {
    let (database, data_dir, mut service) = Service::start_fresh(&[("GRPC_ALLOW_UNAUTHENTICATED", "true")]).await;
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

/// Records a migration this binary does not know, as a newer release's `migrate` would have.
async fn apply_a_newer_releases_migration(database_url: &str) {
    use sea_orm::{ActiveModelTrait as _, ActiveValue::Set};
    use sea_orm_migration::seaql_migrations;
    let db = sea_orm::Database::connect(database_url).await.expect("connect");
    seaql_migrations::ActiveModel {
        version: Set("m20991231_000001_add_something_newer".into()),
        applied_at: Set(chrono::Utc::now().timestamp()),
    }
    .insert(&db)
    .await
    .expect("newer migration recorded");
}

#[tokio::test]
async fn after_a_rollback_a_database_migrated_by_a_newer_release_is_ready_with_or_without_migrating() {
    let database = TestDatabase::create().await;
    let migrate = || {
        Command::new(env!("CARGO_BIN_EXE_cyberapp-tenants"))
            .arg("migrate")
            .env("DATABASE_URL", &database.url)
            .output()
            .expect("migrate runs")
    };
    assert!(migrate().status.success());
    apply_a_newer_releases_migration(&database.url).await;

    // `migrate` (the Helm hook of the rolled-back release) has nothing to do and succeeds.
    let again = migrate();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    for env in [&[("NO_MIGRATE", "true")][..], &[][..]] {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut service = Service::start(&database.url, data_dir.path(), env);
        service.wait_until_ready().await;
        assert_eq!(service.terminate().code(), Some(0), "{env:?}");
        let log = service.log();
        assert!(log.contains("m20991231_000001_add_something_newer"), "the unknown migration is logged: {log}");
    }
}
