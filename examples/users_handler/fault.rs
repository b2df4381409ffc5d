//! The test-only `vendor.app.fault` callback, enabled by `--fault-injection`: its payload chooses the answer,
//! so the gateway's tests can drive every way a handler can fail (a gRPC status, a slow answer, an answer
//! that is not a valid envelope) and count how often the handler was really called.
//!
//! It exists only to test the gateway; a vendor copying this example leaves it out. Without the flag it is
//! not even constructed, and the callback is unknown like any other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tonic::{Code, Status};

use crate::answer::{answer, invalid_payload};
use cyberapp_tenants::pb;

/// What this process has seen, for the tests' "was the handler called exactly once" questions.
#[derive(Debug, Default)]
pub struct Faults {
    /// Fault calls received so far, the current one included.
    fault_calls: AtomicU64,
    /// Calls of any callback per `request_id`. It grows with every request id, which is why it only exists
    /// behind `--fault-injection`.
    calls_by_request_id: Mutex<HashMap<String, u64>>,
}

/// The fault payload; every field is optional and they are tried in this order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultPayload {
    sleep_ms: Option<u64>,
    grpc_code: Option<String>,
    message: Option<String>,
    answer: Option<RawAnswer>,
    count_request_id: Option<String>,
}

/// An answer returned as given, even when it is not a valid envelope (that is what it is for).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnswer {
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    http_status: u32,
    payload_json: Option<String>,
    paging_json: Option<String>,
}

impl Faults {
    /// Counts one call of any callback; called before dispatch, so refused calls count too.
    pub fn record_call(&self, request_id: &str) {
        let mut calls = self.calls_by_request_id.lock().unwrap_or_else(PoisonError::into_inner);
        *calls.entry(request_id.to_owned()).or_default() += 1;
    }

    fn calls_of(&self, request_id: &str) -> u64 {
        self.calls_by_request_id.lock().unwrap_or_else(PoisonError::into_inner).get(request_id).copied().unwrap_or(0)
    }

    /// Answers one fault call.
    pub async fn handle(
        &self,
        request: &pb::HandleCustomCallbackRequest,
    ) -> Result<pb::HandleCustomCallbackResponse, Status> {
        let calls = self.fault_calls.fetch_add(1, Ordering::Relaxed) + 1;
        let payload: FaultPayload = serde_json::from_str(&request.payload_json).map_err(|_| {
            invalid_payload(
                r#"{"sleep_ms": N, "grpc_code": "...", "message": "...", "answer": {...}, "count_request_id": "..."}"#,
            )
        })?;
        if let Some(sleep_ms) = payload.sleep_ms {
            // The gateway's deadline cuts this sleep short; that is the point. Note that tonic's server enforces
            // the caller's grpc-timeout itself and answers CANCELLED ("Timeout expired"), often a moment before the
            // caller's own timer fires, so a caller sees CANCELLED as often as DEADLINE_EXCEEDED.
            tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
        }
        if let Some(name) = payload.grpc_code {
            let code = code_named(&name).ok_or_else(|| {
                Status::invalid_argument(format!("The fault grpc_code {name:?} is not one this handler knows."))
            })?;
            return Err(Status::new(code, payload.message.unwrap_or_else(|| "Injected fault.".to_owned())));
        }
        if let Some(raw) = payload.answer {
            return Ok(pb::HandleCustomCallbackResponse {
                response_type: raw.response_type,
                http_status: raw.http_status,
                payload_json: raw.payload_json,
                paging_json: raw.paging_json,
            });
        }
        if let Some(request_id) = payload.count_request_id {
            let calls = self.calls_of(&request_id);
            return Ok(answer("fault_ok", 200, Some(json!({ "request_id": request_id, "calls": calls })), None));
        }
        Ok(answer("fault_ok", 200, Some(json!({ "calls": calls })), None))
    }
}

fn code_named(name: &str) -> Option<Code> {
    Some(match name {
        "invalid_argument" => Code::InvalidArgument,
        "permission_denied" => Code::PermissionDenied,
        "not_found" => Code::NotFound,
        "unavailable" => Code::Unavailable,
        "deadline_exceeded" => Code::DeadlineExceeded,
        "internal" => Code::Internal,
        "unknown" => Code::Unknown,
        "already_exists" => Code::AlreadyExists,
        "failed_precondition" => Code::FailedPrecondition,
        "resource_exhausted" => Code::ResourceExhausted,
        "unauthenticated" => Code::Unauthenticated,
        _ => return None,
    })
}
