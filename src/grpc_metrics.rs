//! Counts every gRPC call by method and final status code (`cyberapp_grpc_requests_total`).
//!
//! The code of a successful call (and of every streamed one) travels in the trailers at the end of the
//! body, so the response body is wrapped to read it there; an error answered before any message carries it
//! in the headers. Only methods that exist get their own label: a call to an unknown method (answered
//! UNIMPLEMENTED) is counted as `unknown`, so callers cannot mint series.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use http_body::{Frame, SizeHint};

use crate::metrics::{GrpcLabels, METRICS};

/// Wraps `routes` so that their calls are counted.
pub fn count_calls(routes: tonic::service::Routes) -> tonic::service::Routes {
    tonic::service::Routes::from(routes.into_axum_router().layer(axum::middleware::from_fn(observe)))
}

async fn observe(request: Request, next: Next) -> Response {
    let method = request.uri().path().trim_start_matches('/').to_owned();
    let response = next.run(request).await;
    if let Some(code) = grpc_status(response.headers()) {
        record(method, code);
        return response;
    }
    response.map(|body| Body::new(StatusObserver { inner: body, method: Some(method) }))
}

fn grpc_status(headers: &HeaderMap) -> Option<&'static str> {
    let value = headers.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    Some(CODE_NAMES.get(usize::try_from(value).ok()?).copied().unwrap_or("UNKNOWN"))
}

/// gRPC status code names, indexed by code.
const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

fn record(method: String, code: &'static str) {
    let method = if code == "UNIMPLEMENTED" { "unknown".to_owned() } else { method };
    METRICS.grpc_requests.get_or_create(&GrpcLabels { method, code }).inc();
}

/// A response body that records the call's code when its trailers pass by; a body dropped before them
/// (the client went away, e.g. from a stream) counts as CANCELLED.
struct StatusObserver {
    inner: Body,
    /// Taken once the call is recorded.
    method: Option<String>,
}

impl StatusObserver {
    fn finish(&mut self, code: &'static str) {
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
            Poll::Ready(Some(Err(_))) => self.finish("INTERNAL"),
            Poll::Ready(None) => self.finish("UNKNOWN"),
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
        self.finish("CANCELLED");
    }
}
