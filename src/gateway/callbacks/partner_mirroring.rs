//! Mirrored partner enablement (protocol §9.7–9.9): `partner.mirroring.get_state`, `.enable`, `.reset`.
//!
//! The partner is always `context.tenant_id`, which the verified token vouches for; `enable` refuses a
//! payload that names another tenant rather than guess which one was meant.

use super::super::convert;
use super::super::envelope::Envelope;
use super::super::error::GatewayError;
use super::super::idempotency::CallbackKey;
use super::reply::Reply;
use crate::grpc::TenantClient;

pub async fn get_state(envelope: &Envelope, mut tenants: TenantClient) -> Result<Reply, GatewayError> {
    let request = convert::get_mirrored_partner_state_request(envelope);
    let response = tenants.get_mirrored_partner_state(request).await?.into_inner();
    Ok(Reply::lookup(convert::mirrored_partner_state(response)?))
}

pub async fn enable(envelope: &Envelope, mut tenants: TenantClient, key: &CallbackKey) -> Result<Reply, GatewayError> {
    let request = convert::enable_mirrored_partner_request(envelope)?;
    let response = tenants.enable_mirrored_partner(key.request(request)?).await?;
    let receipt = Reply::receipt(&response, key);
    Ok(receipt.with_payload(convert::enabled_partner(response.into_inner())))
}

pub async fn reset(envelope: &Envelope, mut tenants: TenantClient, key: &CallbackKey) -> Result<Reply, GatewayError> {
    let request = convert::reset_mirrored_partner_request(envelope);
    let response = tenants.reset_mirrored_partner(key.request(request)?).await?;
    Ok(Reply::receipt(&response, key))
}
