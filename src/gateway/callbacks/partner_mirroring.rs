//! Mirrored partner enablement (protocol §9.7–9.9): `partner.mirroring.get_state`, `.enable`, `.reset`.
//!
//! The partner is always `context.tenant_id`, which the verified token vouches for; `enable` refuses a
//! payload that names another tenant rather than guess which one was meant.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::super::envelope::Envelope;
use super::super::error::GatewayError;
use super::super::idempotency::{CallbackKey, answered_response_id};
use super::{Reply, stored_settings};
use crate::grpc::TenantClient;
use crate::pb;

pub async fn get_state(envelope: &Envelope, mut tenants: TenantClient) -> Result<Option<Value>, GatewayError> {
    let request = pb::GetMirroredPartnerStateRequest { acronis_tenant_id: envelope.context.tenant_id.clone() };
    let response = tenants.get_mirrored_partner_state(request).await?.into_inner();
    let mut payload = Map::new();
    payload.insert("state".into(), state_name(response.state()).into());
    if let Some(settings) = response.settings_json {
        payload.insert("settings".into(), stored_settings(&settings)?);
    }
    Ok(Some(Value::Object(payload)))
}

#[derive(Deserialize)]
struct EnablePayload {
    acronis_tenant_id: String,
    acronis_tenant_name: String,
    #[serde(default)]
    settings: Option<Map<String, Value>>,
}

pub async fn enable(envelope: &Envelope, mut tenants: TenantClient, key: &CallbackKey) -> Result<Reply, GatewayError> {
    let payload: EnablePayload = envelope.payload("partner.mirroring.enable")?;
    if Uuid::try_parse(&payload.acronis_tenant_id).is_err() {
        return Err(GatewayError::BadRequest("payload.acronis_tenant_id must be a UUID.".into()));
    }
    if !same_tenant(&payload.acronis_tenant_id, &envelope.context.tenant_id) {
        return Err(GatewayError::Forbidden(
            "payload.acronis_tenant_id must be the tenant the request was made from (context.tenant_id).".into(),
        ));
    }
    let request = pb::EnableMirroredPartnerRequest {
        acronis_tenant_id: envelope.context.tenant_id.clone(),
        name: payload.acronis_tenant_name,
        settings_json: payload.settings.map(|settings| Value::Object(settings).to_string()),
        datacenter_url: envelope.datacenter_url(),
    };
    let response = tenants.enable_mirrored_partner(key.request(request)?).await?;
    let response_id = answered_response_id(&response);
    let response = response.into_inner();
    let payload = json!({
        "state": state_name(response.state()),
        "vendor_tenant_id": response.vendor_tenant_id,
        "acronis_tenant_id": response.acronis_tenant_id,
    });
    Ok(Reply { payload: Some(payload), response_id })
}

pub async fn reset(envelope: &Envelope, mut tenants: TenantClient, key: &CallbackKey) -> Result<Reply, GatewayError> {
    let request = pb::ResetMirroredPartnerRequest { acronis_tenant_id: envelope.context.tenant_id.clone() };
    let response = tenants.reset_mirrored_partner(key.request(request)?).await?;
    Ok(Reply { payload: None, response_id: answered_response_id(&response) })
}

fn state_name(state: pb::EnablementState) -> &'static str {
    match state {
        pb::EnablementState::Enabled => "ENABLED",
        pb::EnablementState::Disabled | pb::EnablementState::Unspecified => "DISABLED",
    }
}

/// Two spellings of one UUID (Acronis is not consistent about letter case) name the same tenant.
fn same_tenant(left: &str, right: &str) -> bool {
    matches!((Uuid::try_parse(left), Uuid::try_parse(right)), (Ok(l), Ok(r)) if l == r)
}
