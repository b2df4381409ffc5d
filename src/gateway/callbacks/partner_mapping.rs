//! Mapped partner enablement (protocol §9.1–9.3): `enablement.read`, `.write`, `.reset`.
//!
//! Each requires the enablement-form credentials (`X-CyberApp-Auth`); the TenantService checks them against
//! the vendor directory. The Acronis tenant is always `context.tenant_id`, which the verified token vouches
//! for; a payload naming another tenant is refused.

use axum::http::HeaderMap;

use super::super::convert;
use super::super::envelope::Envelope;
use super::super::error::GatewayError;
use super::super::idempotency::CallbackKey;
use super::reply::Reply;
use crate::grpc::TenantClient;

pub async fn read(envelope: &Envelope, headers: &HeaderMap, mut tenants: TenantClient) -> Result<Reply, GatewayError> {
    let request = convert::read_partner_enablement_request(envelope, headers)?;
    let response = tenants.read_partner_enablement(request).await?.into_inner();
    Ok(Reply::lookup(convert::partner_enablement(response)))
}

pub async fn write(
    envelope: &Envelope,
    headers: &HeaderMap,
    mut tenants: TenantClient,
    key: &CallbackKey,
) -> Result<Reply, GatewayError> {
    let request = convert::write_partner_enablement_request(envelope, headers)?;
    let response = tenants.write_partner_enablement(key.request(request)?).await?;
    Ok(Reply::receipt(&response, key))
}

pub async fn reset(
    envelope: &Envelope,
    headers: &HeaderMap,
    mut tenants: TenantClient,
    key: &CallbackKey,
) -> Result<Reply, GatewayError> {
    let request = convert::reset_partner_enablement_request(envelope, headers)?;
    let response = tenants.reset_partner_enablement(key.request(request)?).await?;
    Ok(Reply::receipt(&response, key))
}
