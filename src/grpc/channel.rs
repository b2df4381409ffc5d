//! The transports the gateway's client calls the TenantService through: the routes of this very process
//! ([`in_process_channel`]), or a TenantService elsewhere ([`remote_channel`], `SERVICE_ROLE=gateway`); and
//! the one it calls vendors' custom-callback handlers through ([`vendor_channel`]).
//!
//! Every channel traces its calls when OpenTelemetry is on (`grpc::spans`). In-process calls go through the same generated client, encoding and status codes as over the network,
//! without a socket in between, and without the GRPC_AUTH_TOKEN check that guards the port.

use std::convert::Infallible;
use std::time::Duration;

use anyhow::Context as _;
use tonic::body::Body;
use tonic::service::Routes;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, ServiceExt};

use crate::config::Secret;

/// A gRPC transport: the in-process routes, or (for a remote TenantService) a network channel.
pub type GrpcChannel = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, TransportError>;

/// A failure to deliver a gRPC call. A named type rather than a bare `BoxError`: the generated client's
/// `Into<StdError>` bound on a boxed error trips rustc's higher-ranked lifetime inference in `Send` futures.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct TransportError(#[from] BoxError);

/// A channel that calls `routes` directly in this process.
pub fn in_process_channel(routes: Routes) -> GrpcChannel {
    let routes = routes.prepare();
    super::spans::trace_client(BoxCloneSyncService::new(ServiceExt::<http::Request<Body>>::map_err(
        routes,
        |never: Infallible| match never {},
    )))
}

/// A channel to a TenantService at `url` (`http://host:port`), presenting `token` as
/// `authorization: Bearer <token>` on every call when given. Connects lazily and reconnects by itself, so a
/// gateway starts (and reports not ready) while the TenantService is still down.
pub fn remote_channel(url: &str, token: Option<&Secret>) -> anyhow::Result<GrpcChannel> {
    check_url(url)?;
    network_channel(url, token, "GRPC_AUTH_TOKEN")
}

/// A channel to a vendor's custom-callback handler at `url` (checked by the route table), presenting
/// CUSTOM_CALLBACK_AUTH_TOKEN when given. Like [`remote_channel`] it connects lazily and reconnects by
/// itself, and one channel multiplexes every call to that service over one HTTP/2 connection.
pub fn vendor_channel(url: &str, token: Option<&Secret>) -> anyhow::Result<GrpcChannel> {
    network_channel(url, token, "CUSTOM_CALLBACK_AUTH_TOKEN")
}

/// `token_variable` names the setting `token` came from, for the error when it cannot be a header value.
fn network_channel(url: &str, token: Option<&Secret>, token_variable: &str) -> anyhow::Result<GrpcChannel> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect_lazy();
    let authorization = token.map(|token| bearer(token, token_variable)).transpose()?;
    let authorized = tower::ServiceBuilder::new()
        .map_request(move |mut request: http::Request<Body>| {
            if let Some(value) = &authorization {
                request.headers_mut().insert(http::header::AUTHORIZATION, value.clone());
            }
            request
        })
        .service(channel);
    Ok(super::spans::trace_client(BoxCloneSyncService::new(authorized.map_err(|error| TransportError(error.into())))))
}

/// TENANT_SERVICE_URL must be `http://HOST:PORT`: the TenantService speaks plaintext HTTP/2 inside the cluster.
fn check_url(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).with_context(|| format!("TENANT_SERVICE_URL {url:?} is not a URL"))?;
    anyhow::ensure!(
        parsed.scheme() == "http" && parsed.host().is_some(),
        "TENANT_SERVICE_URL must be http://HOST:PORT (the TenantService speaks plaintext HTTP/2 inside the cluster)"
    );
    Ok(())
}

/// The `authorization` header value for `token`, marked sensitive so that no log of headers shows it.
fn bearer(token: &Secret, token_variable: &str) -> anyhow::Result<http::HeaderValue> {
    let mut value = http::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        .with_context(|| format!("{token_variable} cannot be sent as a header value"))?;
    value.set_sensitive(true);
    Ok(value)
}
