//! Counts every gRPC call by method and final status code (`cyberapp_grpc_requests_total`).
//!
//! The code of a successful call (and of every streamed one) travels in the trailers at the end of the
//! body, so the response body is wrapped to read it there; an error answered before any message carries it
//! in the headers. Only methods this port serves get their own label (the list is read from the services'
//! descriptors): any other path is counted as `unknown`, whether it was answered UNIMPLEMENTED or refused
//! for its token first, so callers cannot mint series.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use prost::Message as _;
use tonic::Code;

use super::metadata::GRPC_STATUS_METADATA;
use crate::metrics::{GrpcLabels, METRICS};

/// Wraps `routes` so that their calls are counted.
pub fn count_calls(routes: tonic::service::Routes) -> tonic::service::Routes {
    tonic::service::Routes::from(routes.into_axum_router().layer(axum::middleware::from_fn(observe)))
}

/// `package.Service/Method` of every method served on the gRPC port. Made once and kept for the life of the
/// process (a few dozen names), so that a call's label is a borrowed name rather than an allocation.
static SERVED_METHODS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    let descriptor_sets = [
        crate::pb::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ];
    let mut methods = HashSet::new();
    for encoded in descriptor_sets {
        // Compiled-in descriptors: one that does not decode only costs its methods their own label.
        let Ok(set) = prost_types::FileDescriptorSet::decode(encoded) else { continue };
        for file in &set.file {
            // CustomCallbackHandler is implemented by vendor services; this port does not serve it.
            let served = file.service.iter().filter(|service| {
                format!("{}.{}", file.package(), service.name())
                    != crate::pb::custom_callback_handler_server::SERVICE_NAME
            });
            for service in served {
                for method in &service.method {
                    let name = format!("{}.{}/{}", file.package(), service.name(), method.name());
                    methods.insert(&*Box::leak(name.into_boxed_str()));
                }
            }
        }
    }
    methods
});

/// The label of a call to `path`: the method when it is one this port serves, else `unknown`.
fn method_label(path: &str) -> &'static str {
    SERVED_METHODS.get(path.trim_start_matches('/')).copied().unwrap_or("unknown")
}

async fn observe(request: Request, next: Next) -> Response {
    let method = method_label(request.uri().path());
    let response = next.run(request).await;
    if let Some(code) = grpc_status(response.headers()) {
        record(method, code);
        return response;
    }
    response.map(|body| Body::new(StatusObserver { inner: body, method: Some(method) }))
}

/// The final status code a response carries in `headers` (or trailers), when it carries one.
fn grpc_status(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get(GRPC_STATUS_METADATA)?.to_str().ok()?.parse::<i32>().ok()?;
    // A negative number is no code at all; a code beyond the known ones reads as UNKNOWN, as tonic reads it.
    (value >= 0).then(|| Code::from_i32(value))
}

/// The label of a status code: its name in the gRPC specification.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

fn record(method: &'static str, code: Code) {
    METRICS.grpc_requests.get_or_create(&GrpcLabels { method, code: code_name(code) }).inc();
}

/// A response body that records the call's code when its trailers pass by; a body dropped before them
/// (the client went away, e.g. from a stream) counts as CANCELLED.
struct StatusObserver {
    inner: Body,
    /// Taken once the call is recorded.
    method: Option<&'static str>,
}

impl StatusObserver {
    fn finish(&mut self, code: Code) {
        if let Some(method) = self.method.take() {
            record(method, code);
        }
    }
}

impl http_body::Body for StatusObserver {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(grpc_status) {
                    self.finish(code);
                }
            }
            Poll::Ready(Some(Err(_))) => self.finish(Code::Internal),
            Poll::Ready(None) => self.finish(Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for StatusObserver {
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_read_as_tonic_reads_them() {
        let headers = |value: &'static str| {
            HeaderMap::from_iter([(GRPC_STATUS_METADATA.parse().expect("name"), value.parse().expect("value"))])
        };
        assert_eq!(grpc_status(&headers("0")), Some(Code::Ok));
        assert_eq!(grpc_status(&headers("16")), Some(Code::Unauthenticated));
        assert_eq!(grpc_status(&headers("17")), Some(Code::Unknown));
        assert_eq!(grpc_status(&headers("-1")), None);
        assert_eq!(grpc_status(&headers("x")), None);
        assert_eq!(grpc_status(&HeaderMap::new()), None);
        assert_eq!(code_name(Code::FailedPrecondition), "FAILED_PRECONDITION");
    }

    #[test]
    fn only_served_methods_get_a_label_of_their_own() {
        for served in [
            "/cyberapp.tenants.v1.TenantService/GetTenant",
            "/grpc.health.v1.Health/Check",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            assert_eq!(method_label(served), served.trim_start_matches('/'));
        }
        for invented in ["/cyberapp.tenants.v1.TenantService/Nope", "/x.Y/Z", "/", "GetTenant"] {
            assert_eq!(method_label(invented), "unknown", "{invented}");
        }
    }
}
