//! `SERVICE_ROLE`: the gateway and the TenantService as two processes, the gateway calling the TenantService
//! over the network with `GRPC_AUTH_TOKEN`; and the role settings that make no sense refused at start-up.

use cyberapp_tenants::app::App;
use cyberapp_tenants::config::ServiceRole;
use cyberapp_tenants::pb::tenant_service_client::TenantServiceClient;
use cyberapp_tenants::pb::{EnablementState, GetTenantRequest, get_tenant_request::Id};

use crate::helpers::{PARTNER_TENANT, Service, TestDatabase, enable_partner, free_port, http_client, serve_args};

const TOKEN: &str = "split-deployment-token";

async fn post_callback(gateway: &Service, token: &str, body: &serde_json::Value) -> reqwest::Response {
    http_client()
        .post(format!("http://127.0.0.1:{}/callback", gateway.http_port))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("sent")
}

/// A TenantService process on `database_url` that requires [`TOKEN`].
async fn tenant_service(database_url: &str, data_dir: &std::path::Path) -> Service {
    let service =
        Service::start(database_url, data_dir, &[("SERVICE_ROLE", "tenant-service"), ("GRPC_AUTH_TOKEN", TOKEN)]);
    service.wait_until_ready().await;
    service
}

fn gateway(tenant_service_port: u16, token: &str, data_dir: &std::path::Path) -> Service {
    let unused_database = format!("sqlite://{}/gateway.db?mode=rwc", data_dir.display());
    let url = format!("http://127.0.0.1:{tenant_service_port}");
    Service::start(
        &unused_database,
        data_dir,
        &[("SERVICE_ROLE", "gateway"), ("TENANT_SERVICE_URL", &url), ("GRPC_AUTH_TOKEN", token)],
    )
}

#[tokio::test]
async fn a_gateway_and_a_tenant_service_in_two_processes_serve_a_callback_end_to_end() {
    let database = TestDatabase::create().await;
    let (tenants_dir, gateway_dir) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let tenants = tenant_service(&database.url, tenants_dir.path()).await;
    let gateway = gateway(tenants.grpc_port, TOKEN, gateway_dir.path());
    gateway.wait_until_ready().await;

    let token = gateway.dev_token(gateway_dir.path());
    let response = post_callback(&gateway, &token, &enable_partner(PARTNER_TENANT, "Split", None)).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    let vendor_id = body["payload"]["vendor_tenant_id"].as_str().expect("vendor id").to_owned();

    // The record is in the TenantService's database, readable over its port with the token.
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{}", tenants.grpc_port))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut request = tonic::Request::new(GetTenantRequest { id: Some(Id::AcronisTenantId(PARTNER_TENANT.into())) });
    request.metadata_mut().insert("authorization", format!("Bearer {TOKEN}").parse().expect("ascii"));
    let record = TenantServiceClient::new(channel).get_tenant(request).await.expect("found").into_inner();
    assert_eq!((record.vendor_tenant_id.as_str(), record.state()), (vendor_id.as_str(), EnablementState::Enabled));

    // Each process serves only its half.
    let callback_on_tenants = post_callback(&tenants, &token, &enable_partner(PARTNER_TENANT, "Split", None)).await;
    assert_eq!(callback_on_tenants.status(), 404);
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", gateway.grpc_port)).await.is_err(), "no gRPC port");
    assert!(!gateway_dir.path().join("gateway.db").exists(), "the gateway opened no database");
}

#[tokio::test]
async fn a_gateway_with_the_wrong_token_answers_500_and_logs_why_without_the_tokens() {
    let database = TestDatabase::create().await;
    let (tenants_dir, gateway_dir) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let tenants = tenant_service(&database.url, tenants_dir.path()).await;
    let gateway = gateway(tenants.grpc_port, "not-the-token-at-all", gateway_dir.path());
    // Health needs no token, so the gateway is ready; its calls are refused.
    gateway.wait_until_ready().await;

    let token = gateway.dev_token(gateway_dir.path());
    let response = post_callback(&gateway, &token, &enable_partner(PARTNER_TENANT, "Split", None)).await;
    assert_eq!(response.status(), 500);
    let log = gateway.log();
    assert!(log.contains("refused this gateway's GRPC_AUTH_TOKEN"), "{log}");
    assert!(!log.contains(TOKEN) && !log.contains("not-the-token-at-all"), "a token reached the log");
}

#[tokio::test]
async fn a_gateway_whose_tenant_service_is_down_is_not_ready_and_answers_503() {
    let gateway_dir = tempfile::tempdir().expect("dir");
    let gateway = gateway(free_port(), TOKEN, gateway_dir.path());
    let url = format!("http://127.0.0.1:{}", gateway.http_port);
    let client = http_client();
    let mut live = None;
    for _ in 0..100 {
        if let Ok(response) = client.get(format!("{url}/healthz")).send().await {
            live = Some(response.status());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(live.map(|status| status.as_u16()), Some(200));
    assert_eq!(client.get(format!("{url}/readyz")).send().await.expect("sent").status(), 503);

    let token = gateway.dev_token(gateway_dir.path());
    let response = post_callback(&gateway, &token, &enable_partner(PARTNER_TENANT, "Split", None)).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn role_settings_that_cannot_work_are_refused_at_start_up() {
    let database = TestDatabase::create().await;
    let mut gateway_without_url = serve_args(&database.url, "http://127.0.0.1:9");
    gateway_without_url.role = ServiceRole::Gateway;
    let error = App::build(&gateway_without_url).await.expect_err("refused");
    assert!(error.to_string().contains("TENANT_SERVICE_URL"), "{error}");

    let mut all_with_url = serve_args(&database.url, "http://127.0.0.1:9");
    all_with_url.tenant_service_url = Some("http://127.0.0.1:50051".into());
    assert!(App::build(&all_with_url).await.is_err());

    let mut gateway_with_https = serve_args(&database.url, "http://127.0.0.1:9");
    gateway_with_https.role = ServiceRole::Gateway;
    gateway_with_https.tenant_service_url = Some("https://tenants:50051".into());
    let error = App::build(&gateway_with_https).await.expect_err("refused");
    assert!(format!("{error:#}").contains("http://"), "{error:#}");
}
