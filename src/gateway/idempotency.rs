//! Exactly-once callbacks, gateway side: each state-changing call to the TenantService carries the
//! callback's `request_id`, a SHA-256 of its canonical body and a fresh `response_id` as gRPC metadata; the
//! service records the outcome in the same transaction as the change and answers with the `response_id`
//! to use, which for a replay is the first answer's. The gateway never touches the log itself.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use tonic::metadata::MetadataValue;
use uuid::Uuid;

use super::error::GatewayError;
use crate::canonical_json::to_canonical_string;
use crate::grpc::metadata::{REQUEST_HASH_METADATA, REQUEST_ID_METADATA, RESPONSE_ID_METADATA};

/// What identifies one callback for the idempotency log.
#[derive(Debug, Clone)]
pub struct CallbackKey {
    request_id: String,
    request_hash: String,
    /// The `response_id` of this answer unless the service says it is a replay.
    pub response_id: String,
}

impl CallbackKey {
    /// The key of a callback whose (valid JSON) body is `body`. Key order and whitespace do not matter:
    /// a retry that re-serialises the same request is the same request.
    pub fn new(request_id: &str, body: &[u8]) -> Self {
        let canonical = serde_json::from_slice(body).map(|value| to_canonical_string(&value)).unwrap_or_default();
        let digest = Sha256::digest(canonical.as_bytes());
        Self {
            request_id: request_id.to_owned(),
            request_hash: URL_SAFE_NO_PAD.encode(digest),
            response_id: new_response_id(),
        }
    }

    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The digest of the canonical body.
    pub fn request_hash(&self) -> &str {
        &self.request_hash
    }

    /// Wraps `message` in a request that carries this key.
    pub fn request<T>(&self, message: T) -> Result<tonic::Request<T>, GatewayError> {
        let mut request = tonic::Request::new(message);
        for (name, value) in [
            (REQUEST_ID_METADATA, &self.request_id),
            (REQUEST_HASH_METADATA, &self.request_hash),
            (RESPONSE_ID_METADATA, &self.response_id),
        ] {
            let value = MetadataValue::try_from(value.as_str())
                .map_err(|_| GatewayError::BadRequest("request_id must be printable ASCII.".into()))?;
            request.metadata_mut().insert(name, value);
        }
        Ok(request)
    }
}

/// A fresh `response_id`: every answer has its own, unless it replays a recorded one.
pub fn new_response_id() -> String {
    Uuid::new_v4().to_string()
}

/// The `response_id` the service answered with (the recorded one for a replay).
pub fn answered_response_id<T>(response: &tonic::Response<T>) -> Option<String> {
    response.metadata().get(RESPONSE_ID_METADATA).and_then(|value| value.to_str().ok()).map(str::to_owned)
}
