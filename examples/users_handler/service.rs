//! The gRPC face of the handler: `CustomCallbackHandler` for tonic, and the one log line of every call.
//!
//! It only reads the call's metadata (`traceparent`), hands the request to `callbacks.rs` and logs the
//! outcome; it decides nothing. The log line carries the request id, the callback, the tenant, the trace id
//! the gateway logs too (so one search finds both sides of a callback), and the outcome; never a payload,
//! which may hold personal data.

use std::time::Instant;

use tonic::{Request, Response, Status};

use crate::callbacks::Callbacks;
use cyberapp_tenants::pb;
use cyberapp_tenants::pb::custom_callback_handler_server::CustomCallbackHandler;

/// The W3C trace context the gateway forwards as metadata.
pub const TRACEPARENT: &str = "traceparent";

#[derive(Debug)]
pub struct UsersHandler {
    callbacks: Callbacks,
}

impl UsersHandler {
    pub fn new(fault_injection: bool) -> Self {
        Self { callbacks: Callbacks::new(fault_injection) }
    }
}

#[tonic::async_trait]
impl CustomCallbackHandler for UsersHandler {
    async fn handle_custom_callback(
        &self,
        request: Request<pb::HandleCustomCallbackRequest>,
    ) -> Result<Response<pb::HandleCustomCallbackResponse>, Status> {
        let traceparent = request.metadata().get(TRACEPARENT).and_then(|value| value.to_str().ok()).map(str::to_owned);
        let request = request.into_inner();
        let mut log = CallLog::start(&request, traceparent.as_deref());
        let result = self.callbacks.dispatch(&request, traceparent.as_deref()).await;
        log.finish(&result);
        result.map(Response::new)
    }
}

/// The log line of one call, written when it ends; also when it never ends because the caller gave up (its
/// deadline passed, or it hung up) and tonic dropped the call mid-way, which a deadline test wants to see.
struct CallLog {
    request_id: String,
    callback: String,
    tenant: String,
    trace_id: Option<String>,
    started: Instant,
    done: bool,
}

impl CallLog {
    fn start(request: &pb::HandleCustomCallbackRequest, traceparent: Option<&str>) -> Self {
        Self {
            request_id: request.request_id.clone(),
            callback: request.callback_id.clone(),
            tenant: request.acronis_tenant_id.clone(),
            trace_id: traceparent.and_then(trace_id).map(str::to_owned),
            started: Instant::now(),
            done: false,
        }
    }

    fn finish(&mut self, result: &Result<pb::HandleCustomCallbackResponse, Status>) {
        self.done = true;
        let outcome = match result {
            Ok(answer) => format!("{} {}", answer.http_status, answer.response_type),
            Err(status) => format!("{:?}: {}", status.code(), status.message()),
        };
        tracing::info!(
            request_id = %self.request_id,
            callback = %self.callback,
            tenant = %self.tenant,
            trace_id = self.trace_id.as_deref().unwrap_or("-"),
            elapsed_ms = self.started.elapsed().as_millis(),
            outcome,
            "custom callback"
        );
    }
}

impl Drop for CallLog {
    fn drop(&mut self) {
        if !self.done {
            tracing::warn!(
                request_id = %self.request_id,
                callback = %self.callback,
                tenant = %self.tenant,
                trace_id = self.trace_id.as_deref().unwrap_or("-"),
                elapsed_ms = self.started.elapsed().as_millis(),
                outcome = "cancelled: the caller's deadline passed or it went away",
                "custom callback"
            );
        }
    }
}

/// The trace id of a W3C `traceparent` (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`); `None` when the
/// value is not one, or carries the all-zero id the spec calls invalid.
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let (_version, trace_id) = (parts.next()?, parts.next()?);
    let is_hex = trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (is_hex && trace_id.bytes().any(|b| b != b'0')).then_some(trace_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_id_is_the_second_field_of_a_traceparent() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id(traceparent), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    }

    #[test]
    fn a_malformed_or_all_zero_traceparent_has_no_trace_id() {
        for traceparent in [
            "",
            "00",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id(traceparent), None, "{traceparent}");
        }
    }
}
