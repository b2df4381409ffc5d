//! Mapped customers (protocol §9.4–9.6): `topology.read`, `tenant_mapping.read`, `tenant_mapping.write`.
//!
//! The partner is `context.tenant_id` (vouched for by the token); these callbacks carry no credentials of
//! their own under the mirrored partner method, so they rely on the token and the partner being enabled.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::super::envelope::Envelope;
use super::super::error::GatewayError;
use super::super::idempotency::{CallbackKey, answered_response_id};
use super::super::paging::{page_info, page_request};
use super::Reply;
use crate::grpc::TenantClient;
use crate::pb;

async fn list(
    envelope: &Envelope,
    tenants: &mut TenantClient,
) -> Result<pb::ListCustomerOrganizationsResponse, GatewayError> {
    let request = pb::ListCustomerOrganizationsRequest {
        partner_acronis_tenant_id: envelope.context.tenant_id.clone(),
        page: page_request(envelope.paging())?,
    };
    Ok(tenants.list_customer_organizations(request).await?.into_inner())
}

/// `payload` = `{items[, paging]}`.
fn items_payload(items: Vec<Value>, page: Option<pb::PageInfo>) -> Value {
    let mut payload = Map::new();
    payload.insert("items".into(), Value::Array(items));
    if let Some(paging) = page_info(page) {
        payload.insert("paging".into(), paging);
    }
    Value::Object(payload)
}

pub async fn topology_read(envelope: &Envelope, mut tenants: TenantClient) -> Result<Option<Value>, GatewayError> {
    let response = list(envelope, &mut tenants).await?;
    let items = response
        .customers
        .into_iter()
        .map(|customer| json!({ "id": customer.vendor_tenant_id, "name": customer.name }));
    Ok(Some(items_payload(items.collect(), response.page)))
}

pub async fn tenant_mapping_read(
    envelope: &Envelope,
    mut tenants: TenantClient,
) -> Result<Option<Value>, GatewayError> {
    let response = list(envelope, &mut tenants).await?;
    let items = response.customers.into_iter().map(|customer| {
        let mut item = Map::new();
        item.insert("vendor_tenant_id".into(), customer.vendor_tenant_id.into());
        if let Some(acronis_tenant_id) = customer.acronis_tenant_id {
            item.insert("acronis_tenant_id".into(), acronis_tenant_id.into());
        }
        Value::Object(item)
    });
    Ok(Some(items_payload(items.collect(), response.page)))
}

#[derive(Deserialize)]
struct WritePayload {
    modified: Vec<ModifiedItem>,
}

#[derive(Deserialize)]
struct ModifiedItem {
    vendor_tenant_id: String,
    #[serde(default)]
    acronis_tenant_id: Option<String>,
}

pub async fn tenant_mapping_write(
    envelope: &Envelope,
    mut tenants: TenantClient,
    key: &CallbackKey,
) -> Result<Reply, GatewayError> {
    let payload: WritePayload = envelope.payload("tenant_mapping.write")?;
    let changes = payload
        .modified
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let acronis_tenant_id = item.acronis_tenant_id.filter(|id| !id.is_empty());
            if acronis_tenant_id.as_deref().is_some_and(|id| Uuid::try_parse(id).is_err()) {
                return Err(GatewayError::BadRequest(format!("modified[{index}].acronis_tenant_id must be a UUID.")));
            }
            Ok(pb::CustomerMappingChange { vendor_tenant_id: item.vendor_tenant_id, acronis_tenant_id })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let request = pb::WriteCustomerMappingsRequest {
        partner_acronis_tenant_id: envelope.context.tenant_id.clone(),
        changes,
        datacenter_url: envelope.datacenter_url(),
    };
    let response = tenants.write_customer_mappings(key.request(request)?).await?;
    Ok(Reply { payload: None, response_id: answered_response_id(&response) })
}
