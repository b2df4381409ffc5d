//! W3C Trace Context (`traceparent`) for calls that cross to another service: a callback keeps the trace id
//! its sender started (when it sent a valid `traceparent`), or starts one, and each outgoing call gets a new
//! span id under it. The trace id is logged on the callback's span, and a vendor handler that logs the
//! `traceparent` it receives can be joined to the gateway's log lines by it.

use axum::http::HeaderMap;
use uuid::Uuid;

pub const TRACEPARENT: &str = "traceparent";

/// The trace a request belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lower-case hex digits, not all zero.
    trace_id: String,
    /// The sender's `trace-flags` (`01`: sampled), kept so a sampling decision made upstream holds.
    flags: String,
}

impl TraceContext {
    /// The trace of an incoming request: its `traceparent`'s when valid (version `00`), else a new one.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        headers
            .get(TRACEPARENT)
            .and_then(|value| value.to_str().ok())
            .and_then(Self::parse)
            .unwrap_or_else(|| Self { trace_id: Uuid::new_v4().simple().to_string(), flags: "01".into() })
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
        valid.then(|| Self { trace_id: trace_id.to_owned(), flags: flags.to_owned() })
    }

    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// The `traceparent` of one outgoing call: this trace, a new span id.
    pub fn child_traceparent(&self) -> String {
        let span_id = &Uuid::new_v4().simple().to_string()[..16];
        format!("00-{}-{span_id}-{}", self.trace_id, self.flags)
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
        let child = trace.child_traceparent();
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
        assert!(TraceContext::parse(&fresh.child_traceparent()).is_some());
    }
}
