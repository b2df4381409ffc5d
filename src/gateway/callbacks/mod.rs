//! One module per family of standard callbacks. Each function takes the parsed envelope, calls the
//! TenantService and returns the response `payload` (or `None` when the callback has none).

mod customer_mapping;
mod customer_mirroring;
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
        StandardCallback::TopologyRead => customer_mapping::topology_read(envelope, tenants).await,
        StandardCallback::TenantMappingRead => customer_mapping::tenant_mapping_read(envelope, tenants).await,
        StandardCallback::TenantMappingWrite => customer_mapping::tenant_mapping_write(envelope, tenants).await,
        StandardCallback::CustomerMirroringGetState => customer_mirroring::get_state(envelope, tenants).await,
        StandardCallback::CustomerMirroringSetState => customer_mirroring::set_state(envelope, tenants).await,
    }
}
