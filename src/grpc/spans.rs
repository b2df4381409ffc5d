//! OpenTelemetry spans for gRPC calls, both ways, with W3C `traceparent` in the metadata between them.
//!
//! [`trace_client`] wraps a channel (the gateway's to the TenantService, in-process or remote, and those to
//! vendors' custom-callback handlers): each call gets a `grpc.client` span, a child of the caller's current
//! span, whose context is sent as `traceparent`. [`trace_calls`] wraps the TenantService's routes: each call
//! gets a `grpc.server` span, a child of the `traceparent` it arrived with (the gateway's client span, or a
//! vendor service's own), under which the service and its store work.
//!
//! Both are the identity when traces are off ([`crate::telemetry::tracing_enabled`]): no span is made and no
//! header written. Health checks (probed every few seconds) and reflection are never traced.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tonic::body::Body;
use tonic::service::Routes;
use tower::util::BoxCloneSyncService;
use tower::{ServiceExt as _, service_fn};
use tracing::Instrument as _;

use super::channel::GrpcChannel;
use super::metadata::GRPC_STATUS_METADATA;
use crate::telemetry::tracing_enabled;
use crate::trace_context;

/// Wraps `channel` so that each call is a client span whose context travels as `traceparent`.
pub fn trace_client(channel: GrpcChannel) -> GrpcChannel {
    if !tracing_enabled() {
        return channel;
    }
    BoxCloneSyncService::new(service_fn(move |mut request: http::Request<Body>| {
        let inner = channel.clone();
        let span = call_span(request.uri().path(), Side::Client);
        if !span.is_none() {
            trace_context::inject(&span, request.headers_mut());
        }
        let record = span.clone();
        async move {
            let response = inner.oneshot(request).await?;
            record_status(&record, response.headers());
            Ok(response)
        }
        .instrument(span)
    }))
}

/// Wraps `routes` so that each call is a server span continuing the caller's `traceparent`.
pub fn trace_calls(routes: Routes) -> Routes {
    if !tracing_enabled() {
        return routes;
    }
    Routes::from(routes.into_axum_router().layer(axum::middleware::from_fn(server_span)))
}

async fn server_span(request: Request, next: Next) -> Response {
    let span = call_span(request.uri().path(), Side::Server);
    if span.is_none() {
        return next.run(request).await;
    }
    trace_context::extract(&span, request.headers());
    let response = next.run(request).instrument(span.clone()).await;
    record_status(&span, response.headers());
    response
}

/// Which end of a call a span stands for.
#[derive(Debug, Clone, Copy)]
enum Side {
    Client,
    Server,
}

/// The span of one call to `path` (`/package.Service/Method`), named by it as OpenTelemetry's RPC
/// conventions do; a disabled span for health checks and reflection.
fn call_span(path: &str, side: Side) -> tracing::Span {
    let method = path.trim_start_matches('/');
    let (service, name) = method.split_once('/').unwrap_or((method, ""));
    if service.starts_with("grpc.") {
        return tracing::Span::none();
    }
    match side {
        Side::Client => tracing::info_span!(
            "grpc.client",
            otel.name = method,
            otel.kind = "client",
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = name,
            rpc.grpc.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        ),
        // A root until `traceparent` says otherwise: the caller's context comes from the metadata alone, in
        // process as over the network (an in-process call would otherwise inherit the client span silently).
        Side::Server => tracing::info_span!(
            parent: None,
            "grpc.server",
            otel.name = method,
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = name,
            rpc.grpc.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        ),
    }
}

/// Records the status of a call answered without a message (an error), which travels in the headers; a
/// call that sent a message reports its status in the trailers, after the span has ended, and is `OK` then
/// or failed mid-stream.
fn record_status(span: &tracing::Span, headers: &http::HeaderMap) {
    let Some(code) = headers.get(GRPC_STATUS_METADATA).and_then(|value| value.to_str().ok()?.parse::<i32>().ok())
    else {
        return;
    };
    span.record("rpc.grpc.status_code", code);
    if code != 0 {
        span.record("otel.status_code", "ERROR");
    }
}
