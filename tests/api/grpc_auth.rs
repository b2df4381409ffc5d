//! Who may call the gRPC port: GRPC_AUTH_TOKEN for everything, GRPC_READ_TOKEN for the read RPCs and
//! reflection only, nothing without a token but health; and the gateway's own in-process client unaffected.

use cyberapp_tenants::config::Secret;
use cyberapp_tenants::grpc::metadata::AUTH_REFUSED_METADATA;
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
    with_authorization(message, token.map(|token| format!("Bearer {token}")).as_deref())
}

/// A request whose `authorization` metadata is exactly `value` (any scheme, or none).
fn with_authorization<T>(message: T, value: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(value) = value {
        request.metadata_mut().insert("authorization", value.parse().expect("ascii"));
    }
    request
}

fn state_request(token: Option<&str>) -> tonic::Request<GetMirroredPartnerStateRequest> {
    with_token(GetMirroredPartnerStateRequest { acronis_tenant_id: PARTNER_TENANT.into() }, token)
}

/// Lists the services through reflection v1 with `token`.
async fn reflect(channel: Channel, token: Option<&str>) -> Result<Vec<String>, tonic::Status> {
    reflect_with(channel, token.map(|token| format!("Bearer {token}")).as_deref()).await
}

/// Lists the services through reflection v1 with `authorization` metadata exactly `value`.
async fn reflect_with(channel: Channel, value: Option<&str>) -> Result<Vec<String>, tonic::Status> {
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let outbound = tokio_stream::iter([request]);
    let mut client = ServerReflectionClient::new(channel);
    let mut answers = client.server_reflection_info(with_authorization(outbound, value)).await?.into_inner();
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

/// What a refusal looks like from outside: code, message and the auth-refused marker. Every wrong token must
/// produce the same one as no token at all, so that nothing about the configured tokens (their length, a
/// shared prefix, which of the two came closer) shows in the answer.
fn refusal_shape(status: &tonic::Status) -> (Code, String, Option<String>) {
    let marker = status.metadata().get(AUTH_REFUSED_METADATA).map(|value| value.to_str().expect("ascii").to_owned());
    (status.code(), status.message().to_owned(), marker)
}

#[tokio::test]
async fn wrong_tokens_of_every_length_and_form_are_refused_alike_by_every_service_reflection_included() {
    let app = app_with_tokens(true).await;
    let channel = channel(&app).await;
    let mut client = TenantServiceClient::new(channel.clone());
    let no_token = client.list_partners(ListPartnersRequest::default()).await.expect_err("refused");
    let expected = refusal_shape(&no_token);
    assert_eq!(expected.0, Code::Unauthenticated);
    assert_eq!(expected.2.as_deref(), Some("true"), "marked as the port's own refusal");

    // Variants of both configured tokens: shorter, longer, empty, same length with other bytes (first, last,
    // case), and the right token without the Bearer scheme or under another.
    let mut values = vec!["Bearer".to_owned(), "Bearer ".to_owned(), "Bearer  ".to_owned()];
    for token in [FULL_TOKEN, READ_TOKEN] {
        let last = token.len() - 1;
        values.extend([
            format!("Bearer {}", &token[..last]),
            format!("Bearer {}", &token[..1]),
            format!("Bearer {token}x"),
            format!("Bearer {token}{token}"),
            format!("Bearer x{}", &token[1..]),
            format!("Bearer {}x", &token[..last]),
            format!("Bearer {}", token.to_uppercase()),
            token.to_owned(),
            format!("Basic {token}"),
            format!("Bearer{token}"),
            format!("{token} Bearer"),
        ]);
    }
    // The read token cut to the full token's length: same length as the full token, other bytes.
    values.push(format!("Bearer {}", &READ_TOKEN[..FULL_TOKEN.len()]));
    values.push(format!("Bearer {FULL_TOKEN} {READ_TOKEN}"));

    for value in &values {
        let value = Some(value.as_str());
        let read = client.list_partners(with_authorization(ListPartnersRequest::default(), value)).await;
        let write = client
            .get_mirrored_partner_state(with_authorization(
                GetMirroredPartnerStateRequest { acronis_tenant_id: PARTNER_TENANT.into() },
                value,
            ))
            .await;
        let reflection = reflect_with(channel.clone(), value).await;
        for (rpc, status) in [
            ("ListPartners", read.expect_err("refused")),
            ("GetMirroredPartnerState", write.expect_err("refused")),
            ("reflection", reflection.expect_err("refused")),
        ] {
            assert_eq!(refusal_shape(&status), expected, "{rpc} with authorization {value:?}");
        }
    }

    // The same client, the same calls: the right tokens pass, in any case of the scheme.
    for value in [format!("Bearer {FULL_TOKEN}"), format!("bearer {READ_TOKEN}"), format!("BEARER {FULL_TOKEN}")] {
        let request = with_authorization(ListPartnersRequest::default(), Some(&value));
        client.list_partners(request).await.unwrap_or_else(|status| panic!("{value}: {status:?}"));
        assert!(!reflect_with(channel.clone(), Some(&value)).await.expect("reflection").is_empty(), "{value}");
    }
}
