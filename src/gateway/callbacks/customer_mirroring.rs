//! Mirrored customers (protocol §9.10–9.11): `customer.mirroring.get_state` and `.set_state`.
//!
//! The partner is `context.tenant_id`; `set_state` must name the same partner in `payload.partner_tenant_id`.

use super::super::convert;
use super::super::envelope::Envelope;
use super::super::error::GatewayError;
use super::super::idempotency::CallbackKey;
use super::reply::Reply;
use crate::grpc::TenantClient;

pub async fn get_state(envelope: &Envelope, mut tenants: TenantClient) -> Result<Reply, GatewayError> {
    let request = convert::get_mirrored_customers_request(envelope);
    let response = tenants.get_mirrored_customers(request).await?.into_inner();
    Ok(Reply::lookup(convert::mirrored_customers(response)?))
}

pub async fn set_state(
    envelope: &Envelope,
    mut tenants: TenantClient,
    key: &CallbackKey,
) -> Result<Reply, GatewayError> {
    let request = convert::set_mirrored_customers_request(envelope)?;
    let response = tenants.set_mirrored_customers(key.request(request)?).await?;
    Ok(Reply::receipt(&response, key))
}
