//! Building what a callback returns: one of this app's responses, or the refusal of a payload of the wrong shape.
//!
//! Shared by `callbacks.rs` and the test-only `fault.rs`, below both so that neither imports the other.

use serde_json::Value;
use tonic::Status;

use crate::callback_name::response_type;
use cyberapp_tenants::pb;

/// One of this app's responses. `payload` becomes the envelope's `payload` (left out when `None`), `paging_json`
/// its top-level `paging`.
pub fn answer(
    response: &str,
    http_status: u32,
    payload: Option<Value>,
    paging_json: Option<String>,
) -> pb::HandleCustomCallbackResponse {
    pb::HandleCustomCallbackResponse {
        response_type: response_type(response),
        http_status,
        payload_json: payload.map(|payload| payload.to_string()),
        paging_json,
    }
}

/// INVALID_ARGUMENT for a payload that does not have the callback's shape, naming the shape expected.
pub fn invalid_payload(shape: &str) -> Status {
    Status::invalid_argument(format!("The request payload must look like {shape}."))
}
