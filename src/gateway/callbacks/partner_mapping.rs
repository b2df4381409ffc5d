//! Mapped partner enablement (protocol §9.1–9.3): `enablement.read`, `.write`, `.reset`.
//!
//! Each requires the enablement-form credentials (`X-CyberApp-Auth`); the TenantService checks them against
//! the vendor directory. The Acronis tenant is always `context.tenant_id`, which the verified token vouches
//! for; a payload naming another tenant is refused.

use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::super::credentials::cyberapp_auth;
use super::super::envelope::Envelope;
use super::super::error::GatewayError;
use super::super::idempotency::{CallbackKey, answered_response_id};
use super::Reply;
use crate::grpc::TenantClient;
use crate::pb;

pub async fn read(
    envelope: &Envelope,
    headers: &HeaderMap,
    mut tenants: TenantClient,
) -> Result<Option<Value>, GatewayError> {
    let credentials = cyberapp_auth(headers, &envelope.context.tenant_id)?;
    let request = pb::ReadPartnerEnablementRequest { credentials: Some(credentials) };
    let response = tenants.read_partner_enablement(request).await?.into_inner();
    let mut payload = Map::new();
    payload.insert("vendor_tenant_id".into(), response.vendor_tenant_id.into());
    if let Some(acronis_tenant_id) = response.acronis_tenant_id {
        payload.insert("acronis_tenant_id".into(), acronis_tenant_id.into());
    }
    Ok(Some(Value::Object(payload)))
}

#[derive(Deserialize)]
struct WritePayload {
    vendor_tenant_id: String,
    acronis_tenant_id: String,
}

pub async fn write(
    envelope: &Envelope,
    headers: &HeaderMap,
    mut tenants: TenantClient,
    key: &CallbackKey,
) -> Result<Reply, GatewayError> {
    let payload: WritePayload = envelope.payload("enablement.write")?;
    let Ok(acronis) = Uuid::try_parse(&payload.acronis_tenant_id) else {
        return Err(GatewayError::BadRequest("payload.acronis_tenant_id must be a UUID.".into()));
    };
    if Uuid::try_parse(&envelope.context.tenant_id).ok() != Some(acronis) {
        return Err(GatewayError::Forbidden(
            "payload.acronis_tenant_id must be the tenant the request was made from (context.tenant_id).".into(),
        ));
    }
    let request = pb::WritePartnerEnablementRequest {
        credentials: Some(cyberapp_auth(headers, &envelope.context.tenant_id)?),
        vendor_tenant_id: payload.vendor_tenant_id,
        acronis_tenant_id: envelope.context.tenant_id.clone(),
        datacenter_url: envelope.datacenter_url(),
    };
    let response = tenants.write_partner_enablement(key.request(request)?).await?;
    Ok(Reply { payload: None, response_id: answered_response_id(&response) })
}

pub async fn reset(
    envelope: &Envelope,
    headers: &HeaderMap,
    mut tenants: TenantClient,
    key: &CallbackKey,
) -> Result<Reply, GatewayError> {
    let request = pb::ResetPartnerEnablementRequest {
        credentials: Some(cyberapp_auth(headers, &envelope.context.tenant_id)?),
        acronis_tenant_id: envelope.context.tenant_id.clone(),
    };
    let response = tenants.reset_partner_enablement(key.request(request)?).await?;
    Ok(Reply { payload: None, response_id: answered_response_id(&response) })
}
