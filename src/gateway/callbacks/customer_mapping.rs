//! Mapped customers (protocol §9.4–9.6): `topology.read`, `tenant_mapping.read`, `tenant_mapping.write`.
//!
//! The partner is `context.tenant_id` (vouched for by the token); these callbacks carry no credentials of
//! their own under the mirrored partner method, so they rely on the token and the partner being enabled.

use super::super::convert;
use super::super::cti::StandardCallback;
use super::super::envelope::Envelope;
use super::super::error::GatewayError;
use super::super::held_answers::HeldAnswers;
use super::super::idempotency::CallbackKey;
use super::super::payloads::Payload;
use super::reply::Reply;
use crate::grpc::TenantClient;
use crate::pb;

pub async fn topology_read(
    envelope: &Envelope,
    tenants: TenantClient,
    held: &HeldAnswers,
) -> Result<Reply, GatewayError> {
    list(envelope, tenants, held, StandardCallback::TopologyRead, convert::topology).await
}

pub async fn tenant_mapping_read(
    envelope: &Envelope,
    tenants: TenantClient,
    held: &HeldAnswers,
) -> Result<Reply, GatewayError> {
    list(envelope, tenants, held, StandardCallback::TenantMappingRead, convert::tenant_mapping).await
}

/// The two reads list the same customers and differ only in how `render` shapes them.
async fn list(
    envelope: &Envelope,
    tenants: TenantClient,
    held: &HeldAnswers,
    callback: StandardCallback,
    render: fn(pb::ListCustomerOrganizationsResponse) -> Payload,
) -> Result<Reply, GatewayError> {
    let request = convert::list_customer_organizations_request(envelope)?;
    Ok(Reply::lookup(held.list_customer_organizations(callback, tenants, request, render).await?))
}

pub async fn tenant_mapping_write(
    envelope: &Envelope,
    mut tenants: TenantClient,
    key: &CallbackKey,
) -> Result<Reply, GatewayError> {
    let request = convert::write_customer_mappings_request(envelope)?;
    let response = tenants.write_customer_mappings(key.request(request)?).await?;
    Ok(Reply::receipt(&response, key))
}
