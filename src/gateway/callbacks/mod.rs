//! One module per family of standard callbacks. Each function takes the parsed envelope, calls the
//! TenantService and returns the response `payload` (or `None` when the callback has none); state-changing
//! callbacks also carry the idempotency key and return the `response_id` the service recorded.

mod customer_mapping;
mod customer_mirroring;
mod partner_mapping;
mod partner_mirroring;

use axum::http::HeaderMap;
use serde_json::Value;

use super::cti::StandardCallback;
use super::envelope::Envelope;
use super::error::GatewayError;
use super::idempotency::CallbackKey;
use crate::grpc::TenantClient;

/// A callback's answer: its `payload`, and for a state-changing callback the `response_id` the TenantService
/// recorded (the first answer's, when this was a replay).
#[derive(Debug)]
pub struct Reply {
    pub payload: Option<Value>,
    pub response_id: Option<String>,
}

impl Reply {
    fn read(payload: Option<Value>) -> Self {
        Self { payload, response_id: None }
    }
}

/// Settings come back from the TenantService as JSON text it validated on the way in; text that no longer
/// parses is a fault of ours (500), logged here.
fn stored_settings(json: &str) -> Result<Value, GatewayError> {
    serde_json::from_str(json).map_err(|error| {
        tracing::error!(%error, "stored settings are not valid JSON");
        GatewayError::Internal
    })
}

/// Runs `callback` against the TenantService; state-changing callbacks carry `key`.
pub async fn dispatch(
    callback: StandardCallback,
    envelope: &Envelope,
    headers: &HeaderMap,
    tenants: TenantClient,
    key: &CallbackKey,
) -> Result<Reply, GatewayError> {
    match callback {
        StandardCallback::EnablementRead => partner_mapping::read(envelope, headers, tenants).await.map(Reply::read),
        StandardCallback::EnablementWrite => partner_mapping::write(envelope, headers, tenants, key).await,
        StandardCallback::EnablementReset => partner_mapping::reset(envelope, headers, tenants, key).await,
        StandardCallback::TopologyRead => customer_mapping::topology_read(envelope, tenants).await.map(Reply::read),
        StandardCallback::TenantMappingRead => {
            customer_mapping::tenant_mapping_read(envelope, tenants).await.map(Reply::read)
        }
        StandardCallback::TenantMappingWrite => customer_mapping::tenant_mapping_write(envelope, tenants, key).await,
        StandardCallback::PartnerMirroringGetState => {
            partner_mirroring::get_state(envelope, tenants).await.map(Reply::read)
        }
        StandardCallback::PartnerMirroringEnable => partner_mirroring::enable(envelope, tenants, key).await,
        StandardCallback::PartnerMirroringReset => partner_mirroring::reset(envelope, tenants, key).await,
        StandardCallback::CustomerMirroringGetState => {
            customer_mirroring::get_state(envelope, tenants).await.map(Reply::read)
        }
        StandardCallback::CustomerMirroringSetState => customer_mirroring::set_state(envelope, tenants, key).await,
    }
}
