//! [`Reply`]: what a callback handler hands back to the pipeline, below the families so that each of them
//! builds one the same way.

use super::super::idempotency::{CallbackKey, answered_response_id};
use super::super::payloads::Payload;

/// A callback's answer: its `payload`, and for a state-changing callback the `response_id` the TenantService
/// recorded (the first answer's, when this was a replay).
#[derive(Debug)]
pub struct Reply {
    pub payload: Option<Payload>,
    pub response_id: Option<String>,
}

impl Reply {
    /// The answer to a read: nothing was recorded, so the pipeline's fresh `response_id` stands.
    pub fn lookup(payload: Payload) -> Self {
        Self { payload: Some(payload), response_id: None }
    }

    /// The receipt of a change made with `key`: the `response_id` the TenantService answered with (the one
    /// `key` sent, unless this was a replay), and no payload yet.
    pub fn receipt<T>(response: &tonic::Response<T>, key: &CallbackKey) -> Self {
        let response_id = answered_response_id(response).unwrap_or_else(|| key.response_id.clone());
        Self { payload: None, response_id: Some(response_id) }
    }

    /// This receipt with the change's `payload` (only `partner.mirroring.enable` has one).
    #[must_use]
    pub fn with_payload(self, payload: Payload) -> Self {
        Self { payload: Some(payload), ..self }
    }
}
