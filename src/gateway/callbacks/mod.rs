//! One module per family of standard callbacks. Each function takes the parsed envelope, calls the
//! TenantService and returns the response `payload` (or `None` when the callback has none).

mod partner_mapping;
mod partner_mirroring;

use axum::http::HeaderMap;
use serde_json::Value;

use super::cti::StandardCallback;
use super::envelope::Envelope;
use super::error::GatewayError;
use crate::grpc::TenantClient;

/// Runs `callback` against the TenantService.
pub async fn dispatch(
    callback: StandardCallback,
    envelope: &Envelope,
    headers: &HeaderMap,
    tenants: TenantClient,
) -> Result<Option<Value>, GatewayError> {
    match callback {
        StandardCallback::EnablementRead => partner_mapping::read(headers, tenants).await,
        StandardCallback::EnablementWrite => partner_mapping::write(envelope, headers, tenants).await,
        StandardCallback::EnablementReset => partner_mapping::reset(envelope, headers, tenants).await,
        StandardCallback::PartnerMirroringGetState => partner_mirroring::get_state(envelope, tenants).await,
        StandardCallback::PartnerMirroringEnable => partner_mirroring::enable(envelope, tenants).await,
        StandardCallback::PartnerMirroringReset => partner_mirroring::reset(envelope, tenants).await,
        StandardCallback::TopologyRead
        | StandardCallback::TenantMappingRead
        | StandardCallback::TenantMappingWrite
        | StandardCallback::CustomerMirroringGetState
        | StandardCallback::CustomerMirroringSetState => Err(GatewayError::UnsupportedCallback(format!(
            "The callback {} is not supported by this handler.",
            callback.name()
        ))),
    }
}
