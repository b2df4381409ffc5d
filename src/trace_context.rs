//! W3C Trace Context (`traceparent`) for calls that cross to another service.
//!
//! With OpenTelemetry on ([`crate::telemetry::tracing_enabled`]), a callback's span continues the trace of the
//! `traceparent` it arrived with ([`TraceContext::continue_request`]), and [`inject`] / [`extract`] carry the
//! current span's context across gRPC calls (the tower layers in `grpc::spans` use them), so a callback is
//! one trace from the gateway through the TenantService (or a vendor's handler) to the store.
//!
//! Without it, the fallback here still keeps the trace id its sender started (when it sent a valid
//! `traceparent`), or starts one, and each call to a vendor's handler gets a new span id under it. Either way
//! the trace id is logged on the callback's span, and a vendor handler that logs the `traceparent` it receives
//! can be joined to the gateway's log lines by it.

use std::sync::LazyLock;

use axum::http::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use uuid::Uuid;

pub const TRACEPARENT: &str = "traceparent";

static PROPAGATOR: LazyLock<TraceContextPropagator> = LazyLock::new(TraceContextPropagator::new);

/// Writes `span`'s context as `traceparent` (and `tracestate`) into `headers`, replacing any already there.
pub fn inject(span: &tracing::Span, headers: &mut HeaderMap) {
    PROPAGATOR.inject_context(&span.context(), &mut HeaderInjector(headers));
}

/// Makes `span` a child of the context `headers` carry (a valid `traceparent`); without one, `span` starts a
/// trace of its own. Must be called before `span` is first entered.
pub fn extract(span: &tracing::Span, headers: &HeaderMap) {
    // From the headers alone: `extract` would fall back to the context current here (in process, the caller's).
    let parent = PROPAGATOR.extract_with_context(&opentelemetry::Context::new(), &HeaderExtractor(headers));
    if parent.span().span_context().is_valid() {
        // Refused only when the span is disabled or already started, where there is nothing to link.
        let _ = span.set_parent(parent);
    }
}

struct HeaderInjector<'h>(&'h mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (http::HeaderName::try_from(key), http::HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

struct HeaderExtractor<'h>(&'h HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The trace a request belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lower-case hex digits, not all zero.
    trace_id: String,
    /// The sender's `trace-flags` (`01`: sampled), kept so a sampling decision made upstream holds.
    flags: String,
    /// Whether OpenTelemetry carries this trace: then outgoing calls get their `traceparent` from their own
    /// span (see `grpc::spans`), not from [`Self::child_traceparent`].
    exported: bool,
}

impl TraceContext {
    /// The trace of an incoming request whose work runs in `span`. With OpenTelemetry on, `span` becomes a
    /// child of the request's `traceparent` (or the root of a new trace) and this is its trace; without it,
    /// the fallback of [`Self::from_headers`]. The trace id is recorded on `span`'s `trace_id` field.
    pub fn continue_request(span: &tracing::Span, headers: &HeaderMap) -> Self {
        let trace = if crate::telemetry::tracing_enabled() {
            extract(span, headers);
            let context = span.context();
            let span_context = context.span().span_context().clone();
            if span_context.is_valid() {
                Self {
                    trace_id: span_context.trace_id().to_string(),
                    flags: format!("{:02x}", span_context.trace_flags().to_u8()),
                    exported: true,
                }
            } else {
                Self::from_headers(headers)
            }
        } else {
            Self::from_headers(headers)
        };
        span.record("trace_id", trace.trace_id());
        trace
    }

    /// The trace of an incoming request: its `traceparent`'s when valid (version `00`), else a new one.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        headers.get(TRACEPARENT).and_then(|value| value.to_str().ok()).and_then(Self::parse).unwrap_or_else(|| Self {
            trace_id: Uuid::new_v4().simple().to_string(),
            flags: "01".into(),
            exported: false,
        })
    }

    fn parse(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('-');
        let (version, trace_id, parent_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex =
            |text: &str, len: usize| text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let valid = version == "00"
            && parts.next().is_none()
            && hex(trace_id, 32)
            && hex(parent_id, 16)
            && hex(flags, 2)
            && trace_id.bytes().any(|b| b != b'0')
            && parent_id.bytes().any(|b| b != b'0');
        valid.then(|| Self { trace_id: trace_id.to_owned(), flags: flags.to_owned(), exported: false })
    }

    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// The `traceparent` of one outgoing call when OpenTelemetry is off: this trace, a new span id. `None`
    /// when it is on: the call's own client span is injected by the channel instead.
    pub fn child_traceparent(&self) -> Option<String> {
        if self.exported {
            return None;
        }
        let span_id = &Uuid::new_v4().simple().to_string()[..16];
        Some(format!("00-{}-{span_id}-{}", self.trace_id, self.flags))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, value.parse().expect("header"));
        headers
    }

    #[test]
    fn a_valid_traceparent_is_continued_with_a_new_span() {
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let trace = TraceContext::from_headers(&headers(incoming));
        assert_eq!(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let child = trace.child_traceparent().expect("fallback traceparent");
        assert!(child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && child.ends_with("-01"), "{child}");
        assert_ne!(child, incoming);
        assert_eq!(TraceContext::parse(&child).map(|parsed| parsed.trace_id), Some(trace.trace_id.clone()));
    }

    #[test]
    fn an_invalid_or_missing_traceparent_starts_a_new_trace() {
        for bad in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "garbage",
        ] {
            let trace = TraceContext::from_headers(&headers(bad));
            assert_ne!(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736", "{bad}");
            assert_eq!(trace.trace_id().len(), 32);
        }
        let fresh = TraceContext::from_headers(&HeaderMap::new());
        assert!(TraceContext::parse(&fresh.child_traceparent().expect("fallback traceparent")).is_some());
    }
}
