//! Mirrored customers (protocol §9.10–9.11): `customer.mirroring.get_state` and `.set_state`.
//!
//! The partner is `context.tenant_id`; `set_state` must name the same partner in `payload.partner_tenant_id`.

use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::super::envelope::Envelope;
use super::super::error::GatewayError;
use super::super::idempotency::{CallbackKey, answered_response_id};
use super::{Reply, stored_settings};
use crate::grpc::TenantClient;
use crate::pb;

/// `payload` is a JSON array of the enabled customers (`[]` when none), the one array payload of the protocol.
pub async fn get_state(envelope: &Envelope, mut tenants: TenantClient) -> Result<Option<Value>, GatewayError> {
    let request = pb::GetMirroredCustomersRequest { partner_acronis_tenant_id: envelope.context.tenant_id.clone() };
    let response = tenants.get_mirrored_customers(request).await?.into_inner();
    let items = response
        .customers
        .into_iter()
        .map(|customer| {
            let mut item = Map::new();
            item.insert("vendor_tenant_id".into(), customer.vendor_tenant_id.into());
            item.insert("acronis_tenant_id".into(), customer.acronis_tenant_id.into());
            if let Some(settings) = customer.settings_json {
                item.insert("settings".into(), stored_settings(&settings)?);
            }
            Ok(Value::Object(item))
        })
        .collect::<Result<Vec<_>, GatewayError>>()?;
    Ok(Some(Value::Array(items)))
}

#[derive(Deserialize)]
struct SetStatePayload {
    partner_tenant_id: String,
    #[serde(default)]
    enabled: Vec<EnabledItem>,
    #[serde(default)]
    disabled: Vec<DisabledItem>,
}

#[derive(Deserialize)]
struct EnabledItem {
    acronis_tenant_id: String,
    acronis_tenant_name: String,
    #[serde(default)]
    settings: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct DisabledItem {
    acronis_tenant_id: String,
}

pub async fn set_state(
    envelope: &Envelope,
    mut tenants: TenantClient,
    key: &CallbackKey,
) -> Result<Reply, GatewayError> {
    let payload: SetStatePayload = envelope.payload("customer.mirroring.set_state")?;
    let Ok(partner) = Uuid::try_parse(&payload.partner_tenant_id) else {
        return Err(GatewayError::BadRequest("payload.partner_tenant_id must be a UUID.".into()));
    };
    if Uuid::try_parse(&envelope.context.tenant_id).ok() != Some(partner) {
        return Err(GatewayError::Forbidden(
            "payload.partner_tenant_id must be the tenant the request was made from (context.tenant_id).".into(),
        ));
    }
    let request = pb::SetMirroredCustomersRequest {
        partner_acronis_tenant_id: envelope.context.tenant_id.clone(),
        enabled: payload
            .enabled
            .into_iter()
            .map(|item| pb::CustomerToEnable {
                acronis_tenant_id: item.acronis_tenant_id,
                name: item.acronis_tenant_name,
                settings_json: item.settings.map(|settings| Value::Object(settings).to_string()),
            })
            .collect(),
        disabled: payload.disabled.into_iter().map(|item| item.acronis_tenant_id).collect(),
        datacenter_url: envelope.datacenter_url(),
    };
    let response = tenants.set_mirrored_customers(key.request(request)?).await?;
    Ok(Reply { payload: None, response_id: answered_response_id(&response) })
}
