//! The gRPC surface: TenantService, `grpc.health.v1` and server reflection (v1 and v1alpha, since grpcurl
//! 1.8 only speaks v1alpha) on one set of routes, and the client type the gateway calls them through.
//!
//! In the default single-process deployment the gateway's client is wired straight to these routes
//! ([`in_process_channel`]): the same generated client, encoding and status codes as over the network,
//! without a socket in between.

use std::convert::Infallible;
use std::time::Duration;

use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, ServiceExt};

use crate::config::Secret;
use crate::pb::tenant_service_client::TenantServiceClient;
use crate::pb::tenant_service_server::TenantServiceServer;
use crate::tenant::TenantServiceImpl;

/// gRPC metadata that makes a state-changing call idempotent (sent together, all three): the callback's
/// `request_id`, a hash of its body, and the `response_id` to record. The answer carries
/// [`RESPONSE_ID_METADATA`] back: the recorded one when the call was a replay.
pub const REQUEST_ID_METADATA: &str = "x-callback-request-id";
pub const REQUEST_HASH_METADATA: &str = "x-callback-request-hash";
pub const RESPONSE_ID_METADATA: &str = "x-callback-response-id";

/// Set on the UNAUTHENTICATED answer to a call without the right GRPC_AUTH_TOKEN, so that a gateway can
/// tell its own misconfiguration apart from a partner's wrong credentials (also UNAUTHENTICATED).
pub const AUTH_REFUSED_METADATA: &str = "x-grpc-auth-refused";

/// The fully qualified name health checks use for the TenantService.
pub const TENANT_SERVICE_NAME: &str = <TenantServiceServer<TenantServiceImpl> as NamedService>::NAME;

/// A gRPC transport: the in-process routes, or (for a remote TenantService) a network channel.
pub type GrpcChannel = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, TransportError>;

/// A failure to deliver a gRPC call. A named type rather than a bare `BoxError`: the generated client's
/// `Into<StdError>` bound on a boxed error trips rustc's higher-ranked lifetime inference in `Send` futures.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct TransportError(#[from] BoxError);
pub type TenantClient = TenantServiceClient<GrpcChannel>;

/// The largest request the TenantService decodes. tonic's default (4 MiB) is below what a gateway may
/// legitimately forward (a `tenant_mapping.write` near MAX_BODY_BYTES grows when re-encoded).
const MAX_REQUEST_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// The gateway's client. Answers come from our own TenantService and an unpaged read of a large partner is
/// as large as its customer list (about 10 MiB for 100,000 customers), so no decode limit of tonic's may
/// refuse one.
pub fn tenant_client(channel: GrpcChannel) -> TenantClient {
    TenantServiceClient::new(channel).max_decoding_message_size(usize::MAX)
}
pub type HealthClient = tonic_health::pb::health_client::HealthClient<GrpcChannel>;

/// Builds the routes served on `GRPC_ADDR`, and the reporter that sets their health.
pub fn routes(service: TenantServiceImpl) -> anyhow::Result<(Routes, HealthReporter)> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let routes = Routes::new(TenantServiceServer::new(service).max_decoding_message_size(MAX_REQUEST_MESSAGE_BYTES))
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    Ok((routes, reporter))
}

/// A channel that calls `routes` directly in this process.
pub fn in_process_channel(routes: Routes) -> GrpcChannel {
    let routes = routes.prepare();
    BoxCloneSyncService::new(ServiceExt::<http::Request<Body>>::map_err(routes, |never: Infallible| match never {}))
}

/// A channel to a TenantService at `url` (`http://host:port`), presenting `token` as
/// `authorization: Bearer <token>` on every call when given. Connects lazily and reconnects by itself, so a
/// gateway starts (and reports not ready) while the TenantService is still down.
pub fn remote_channel(url: &str, token: Option<&Secret>) -> anyhow::Result<GrpcChannel> {
    use anyhow::Context as _;
    let parsed = url::Url::parse(url).with_context(|| format!("TENANT_SERVICE_URL {url:?} is not a URL"))?;
    anyhow::ensure!(
        parsed.scheme() == "http" && parsed.host().is_some(),
        "TENANT_SERVICE_URL must be http://HOST:PORT (the TenantService speaks plaintext HTTP/2 inside the cluster)"
    );
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect_lazy();
    let authorization = token
        .map(|token| {
            let mut value = http::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .context("GRPC_AUTH_TOKEN cannot be sent as a header value")?;
            value.set_sensitive(true);
            anyhow::Ok(value)
        })
        .transpose()?;
    let authorized = tower::ServiceBuilder::new()
        .map_request(move |mut request: http::Request<Body>| {
            if let Some(value) = &authorization {
                request.headers_mut().insert(http::header::AUTHORIZATION, value.clone());
            }
            request
        })
        .service(channel);
    Ok(BoxCloneSyncService::new(authorized.map_err(|error| TransportError(error.into()))))
}
