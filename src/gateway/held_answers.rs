//! The rendered answers of the customer list reads (`topology.read`, `tenant_mapping.read`), held with the
//! version the TenantService gave them, so that repeating a read costs the service a version check instead
//! of a thousand customers copied into protobuf, decoded here and rendered to JSON again.
//!
//! Freshness stays the TenantService's: every read still calls it, sending the version it holds, and the
//! service compares that with its current answer (after its own read model is confirmed current). Only an
//! `unchanged` answer lets a held rendering go out; anything else is rendered anew and held in its place.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use prost::Message as _;

use super::cti::StandardCallback;
use super::error::GatewayError;
use super::payloads::{Payload, RenderedPayload};
use crate::grpc::TenantClient;
use crate::pb;

/// Bytes of rendered JSON held at most. A few hundred lists of a thousand customers; losing one only costs
/// its next read a full answer, so the bound is a guard for memory rather than a tuning knob.
const CAPACITY_BYTES: usize = 32 * 1024 * 1024;
/// Renderings larger than this share of the capacity (a whole list of tens of thousands of customers) are
/// not held: they would push out everything else, and the database dominates their read anyway.
const LARGEST_HELD_SHARE: usize = 8;

/// Rendered list answers by callback and request; cheap to share.
#[derive(Debug)]
pub struct HeldAnswers {
    held: Mutex<Held>,
    capacity_bytes: usize,
}

#[derive(Debug, Default)]
struct Held {
    bytes: usize,
    answers: HashMap<HeldKey, HeldAnswer>,
}

/// The callback renders the answer (`topology.read` and `tenant_mapping.read` render the same list apart),
/// and the encoded request names the partner and the page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct HeldKey {
    callback: StandardCallback,
    request: Vec<u8>,
}

#[derive(Debug, Clone)]
struct HeldAnswer {
    version: Vec<u8>,
    payload: RenderedPayload,
}

impl HeldAnswer {
    fn bytes(&self, key: &HeldKey) -> usize {
        key.request.len() + self.version.len() + self.payload.byte_len()
    }
}

impl Default for HeldAnswers {
    fn default() -> Self {
        Self::with_capacity(CAPACITY_BYTES)
    }
}

impl HeldAnswers {
    fn with_capacity(capacity_bytes: usize) -> Self {
        Self { held: Mutex::new(Held::default()), capacity_bytes }
    }

    /// Lists a partner's customers through `tenants` for `callback`, which `render`s the response: the held
    /// rendering when the TenantService says it is unchanged, else the new one (then held).
    pub async fn list_customer_organizations(
        &self,
        callback: StandardCallback,
        mut tenants: TenantClient,
        mut request: pb::ListCustomerOrganizationsRequest,
        render: fn(pb::ListCustomerOrganizationsResponse) -> Payload,
    ) -> Result<Payload, GatewayError> {
        let key = HeldKey { callback, request: request.encode_to_vec() };
        let held = self.lock().answers.get(&key).cloned();
        request.held_version = held.as_ref().map(|held| held.version.clone()).unwrap_or_default();
        let mut response = tenants.list_customer_organizations(request).await?.into_inner();
        if response.unchanged {
            let Some(held) = held else {
                tracing::error!("the TenantService answered a list read unchanged, but no version was sent");
                return Err(GatewayError::Internal);
            };
            return Ok(Payload::Rendered(held.payload));
        }
        let version = std::mem::take(&mut response.version);
        let payload = RenderedPayload::render(&render(response))?;
        // An empty version: a TenantService that does not version its answers; nothing to hold it by.
        if !version.is_empty() {
            self.hold(key, HeldAnswer { version, payload: payload.clone() });
        }
        Ok(Payload::Rendered(payload))
    }

    fn hold(&self, key: HeldKey, answer: HeldAnswer) {
        let bytes = answer.bytes(&key);
        if bytes > self.capacity_bytes / LARGEST_HELD_SHARE {
            return;
        }
        let mut held = self.lock();
        if let Some(replaced) = held.answers.remove(&key) {
            held.bytes -= replaced.bytes(&key);
        }
        if held.bytes + bytes > self.capacity_bytes {
            // Start over rather than track recency on every read: a dropped answer costs one full read.
            held.answers.clear();
            held.bytes = 0;
        }
        held.bytes += bytes;
        held.answers.insert(key, answer);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        // Every critical section leaves `Held` consistent, so a panic elsewhere cannot have broken it.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: &str) -> HeldAnswer {
        let value: serde_json::Value = serde_json::from_str(json).expect("json");
        HeldAnswer { version: vec![1; 16], payload: RenderedPayload::render(&value).expect("render") }
    }

    fn key(n: u8) -> HeldKey {
        HeldKey { callback: StandardCallback::TenantMappingRead, request: vec![n] }
    }

    #[test]
    fn holds_within_the_capacity_and_starts_over_when_full() {
        let one = answer(r#"{"items":[]}"#);
        let size = one.bytes(&key(0));
        let answers = HeldAnswers::with_capacity(size * 16);
        for n in 0..16 {
            answers.hold(key(n), one.clone());
        }
        assert_eq!(answers.lock().answers.len(), 16);
        assert_eq!(answers.lock().bytes, size * 16);
        // Holding the same key again replaces it: the count of bytes does not grow.
        answers.hold(key(3), one.clone());
        assert_eq!(answers.lock().bytes, size * 16);
        answers.hold(key(16), one.clone());
        assert_eq!(answers.lock().answers.len(), 1, "the seventeenth answer started over");
        assert_eq!(answers.lock().bytes, size);
    }

    #[test]
    fn an_answer_larger_than_an_eighth_of_the_capacity_is_not_held() {
        let large = answer(&format!(r#"{{"items":["{}"]}}"#, "x".repeat(200)));
        let answers = HeldAnswers::with_capacity(large.bytes(&key(0)) * 8 - 1);
        answers.hold(key(0), large.clone());
        assert!(answers.lock().answers.is_empty());
        let answers = HeldAnswers::with_capacity(large.bytes(&key(0)) * 8);
        answers.hold(key(0), large);
        assert_eq!(answers.lock().answers.len(), 1);
    }
}
