//! Who may call the gRPC port: GRPC_AUTH_TOKEN for everything, GRPC_READ_TOKEN for the read RPCs and
//! reflection only, nothing without a token but health; and the gateway's own in-process client unaffected.

use cyberapp_tenants::config::Secret;
use cyberapp_tenants::pb::tenant_service_client::TenantServiceClient;
use cyberapp_tenants::pb::{
    EnableMirroredPartnerRequest, GetMirroredPartnerStateRequest, GetTenantRequest, ListPartnersRequest,
    SetCredentialsRequest, UpsertOrganizationRequest, WatchEventsRequest, get_tenant_request,
};
use tokio_stream::StreamExt as _;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::{ServerReflectionRequest, server_reflection_response::MessageResponse};

use crate::helpers::{PARTNER_TENANT, TestApp, enable_partner};

const FULL_TOKEN: &str = "the-right-token-0123456789";
const READ_TOKEN: &str = "the-read-only-token-0123456789";

async fn app_with_tokens(read: bool) -> TestApp {
    TestApp::spawn_with(|args| {
        args.grpc_auth.grpc_auth_token = Some(FULL_TOKEN.parse::<Secret>().expect("secret"));
        args.grpc_auth.grpc_read_token = read.then(|| READ_TOKEN.parse::<Secret>().expect("secret"));
    })
    .await
}

async fn channel(app: &TestApp) -> Channel {
    Channel::from_shared(format!("http://{}", app.grpc_addr)).expect("uri").connect().await.expect("connect")
}

fn with_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("ascii"));
    }
    request
}

fn state_request(token: Option<&str>) -> tonic::Request<GetMirroredPartnerStateRequest> {
    with_token(GetMirroredPartnerStateRequest { acronis_tenant_id: PARTNER_TENANT.into() }, token)
}

/// Lists the services through reflection v1 with `token`.
async fn reflect(channel: Channel, token: Option<&str>) -> Result<Vec<String>, tonic::Status> {
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let outbound = tokio_stream::iter([request]);
    let mut client = ServerReflectionClient::new(channel);
    let mut answers = client.server_reflection_info(with_token(outbound, token)).await?.into_inner();
    let answer = answers.next().await.expect("an answer")?;
    match answer.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => Ok(list.service.into_iter().map(|s| s.name).collect()),
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

#[tokio::test]
async fn with_grpc_auth_token_every_call_but_health_needs_the_bearer_token() {
    let app = app_with_tokens(false).await;
    let channel = channel(&app).await;
    let mut client = TenantServiceClient::new(channel.clone());
    // Shorter, longer, same length: all refused by the same path.
    let same_length = "x".repeat(FULL_TOKEN.len());
    let refused = [None, Some("wrong"), Some(&FULL_TOKEN[..FULL_TOKEN.len() - 1]), Some(same_length.as_str())];
    let plus = format!("{FULL_TOKEN}-plus");
    for token in refused.into_iter().chain([Some(plus.as_str())]) {
        let status = client.get_mirrored_partner_state(state_request(token)).await.expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated, "{token:?}");
    }
    client.get_mirrored_partner_state(state_request(Some(FULL_TOKEN))).await.expect("accepted");
    // Streams too: WatchEvents without the token is refused before it opens.
    let watch = client.watch_events(WatchEventsRequest { after_cursor: Some(0) }).await.expect_err("refused");
    assert_eq!(watch.code(), Code::Unauthenticated);
    // Reflection is no exception: it tells a stranger every RPC there is.
    assert_eq!(reflect(channel.clone(), None).await.expect_err("refused").code(), Code::Unauthenticated);
    assert!(
        reflect(channel.clone(), Some(FULL_TOKEN)).await.expect("listed").iter().any(|s| s.contains("TenantService"))
    );

    app.wait_until_ready().await;
    let mut health = HealthClient::new(channel);
    let open = health.check(HealthCheckRequest { service: String::new() }).await.expect("health needs no token");
    assert_eq!(open.into_inner().status(), ServingStatus::Serving);
    // The gateway's own client works in-process, without the token.
    let callback = app.callback(&enable_partner(PARTNER_TENANT, "Partner", None)).await;
    assert_eq!(callback.status, 200, "{}", callback.body);
}

#[tokio::test]
async fn the_read_token_calls_the_read_rpcs_and_reflection_and_nothing_else() {
    let app = app_with_tokens(true).await;
    let channel = channel(&app).await;
    let mut client = TenantServiceClient::new(channel.clone());
    let token = Some(READ_TOKEN);
    client.list_partners(with_token(ListPartnersRequest::default(), token)).await.expect("ListPartners");
    let by_id = GetTenantRequest { id: Some(get_tenant_request::Id::AcronisTenantId(PARTNER_TENANT.into())) };
    let missing = client.get_tenant(with_token(by_id, token)).await.expect_err("no such tenant yet");
    assert_eq!(missing.code(), Code::NotFound, "read, not refused");
    client.watch_events(with_token(WatchEventsRequest { after_cursor: Some(0) }, token)).await.expect("WatchEvents");
    assert!(!reflect(channel.clone(), token).await.expect("reflection").is_empty());

    let before = app.snapshot().await;
    let enable = EnableMirroredPartnerRequest {
        acronis_tenant_id: PARTNER_TENANT.into(),
        name: "P".into(),
        settings_json: None,
        datacenter_url: None,
    };
    let refusals = [
        client.enable_mirrored_partner(with_token(enable, token)).await.expect_err("write"),
        client.get_mirrored_partner_state(state_request(token)).await.expect_err("gateway RPC"),
        client
            .upsert_organization(with_token(
                UpsertOrganizationRequest { id: "acme".into(), name: "ACME".into(), kind: 1, parent_id: None },
                token,
            ))
            .await
            .expect_err("admin RPC"),
        client
            .set_credentials(with_token(
                SetCredentialsRequest {
                    identity: "admin@acme".into(),
                    organization_id: "acme".into(),
                    secrets_json: r#"{"password":"x"}"#.into(),
                },
                token,
            ))
            .await
            .expect_err("credentials"),
    ];
    for status in refusals {
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }
    assert_eq!(app.snapshot().await, before, "nothing changed");
    // The full token still does everything.
    client.get_mirrored_partner_state(state_request(Some(FULL_TOKEN))).await.expect("full token");
}
