//! Envelope ↔ pb: every conversion between a callback's ACGW JSON and the TenantService's messages, so that a
//! handler in `callbacks/` reads parse → call → answer.
//!
//! Requests: the payload is read and checked here (400 for a malformed one, 403 for one naming another
//! tenant than `context.tenant_id`), and the tenant acted on is always `context.tenant_id`, which the verified
//! token vouches for. Answers: pb messages become the [`Payload`] types of `payloads`. Each request payload type
//! is declared inside the function that reads it, under the name it has always had: serde names the type in
//! its refusals ("expected struct WritePayload"), which a partner admin reads in `err_message`.

use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::credentials::cyberapp_auth;
use super::envelope::{Envelope, from_objects};
use super::error::GatewayError;
use super::payloads::{
    EnabledPartner, ItemsPage, MirroredCustomer, MirroredPartnerState, Paging, PartnerEnablement, Payload, State,
    TenantMappingItem, TopologyItem,
};
use crate::pb;

// ---- requests -------------------------------------------------------------------------------------------

/// `enablement.read`: the credentials of `X-CyberApp-Auth`, which name the organization.
pub fn read_partner_enablement_request(
    envelope: &Envelope,
    headers: &HeaderMap,
) -> Result<pb::ReadPartnerEnablementRequest, GatewayError> {
    Ok(pb::ReadPartnerEnablementRequest { credentials: Some(cyberapp_auth(headers, &envelope.context.tenant_id)?) })
}

/// `enablement.write`: map the credentials' organization to `context.tenant_id`, which the payload must name.
pub fn write_partner_enablement_request(
    envelope: &Envelope,
    headers: &HeaderMap,
) -> Result<pb::WritePartnerEnablementRequest, GatewayError> {
    #[derive(Deserialize)]
    struct WritePayload {
        vendor_tenant_id: String,
        acronis_tenant_id: String,
    }
    let payload: WritePayload = envelope.payload("enablement.write")?;
    envelope.require_own_tenant("acronis_tenant_id", &payload.acronis_tenant_id)?;
    Ok(pb::WritePartnerEnablementRequest {
        credentials: Some(cyberapp_auth(headers, &envelope.context.tenant_id)?),
        vendor_tenant_id: payload.vendor_tenant_id,
        acronis_tenant_id: envelope.context.tenant_id.clone(),
        datacenter_url: envelope.datacenter_url(),
    })
}

/// `enablement.reset`.
pub fn reset_partner_enablement_request(
    envelope: &Envelope,
    headers: &HeaderMap,
) -> Result<pb::ResetPartnerEnablementRequest, GatewayError> {
    Ok(pb::ResetPartnerEnablementRequest {
        credentials: Some(cyberapp_auth(headers, &envelope.context.tenant_id)?),
        acronis_tenant_id: envelope.context.tenant_id.clone(),
    })
}

/// `topology.read` and `tenant_mapping.read`: the partner's customers, a page of them when `paging` asks.
pub fn list_customer_organizations_request(
    envelope: &Envelope,
) -> Result<pb::ListCustomerOrganizationsRequest, GatewayError> {
    Ok(pb::ListCustomerOrganizationsRequest {
        partner_acronis_tenant_id: envelope.context.tenant_id.clone(),
        page: page_request(envelope.paging())?,
        held_version: Vec::new(),
    })
}

/// `tenant_mapping.write`: pairs to map and lone vendor ids to unmap (an empty Acronis id means unmap).
pub fn write_customer_mappings_request(envelope: &Envelope) -> Result<pb::WriteCustomerMappingsRequest, GatewayError> {
    #[derive(Deserialize)]
    struct WritePayload {
        #[serde(deserialize_with = "from_objects")]
        modified: Vec<ModifiedItem>,
    }
    #[derive(Deserialize)]
    struct ModifiedItem {
        vendor_tenant_id: String,
        #[serde(default)]
        acronis_tenant_id: Option<String>,
    }
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
    Ok(pb::WriteCustomerMappingsRequest {
        partner_acronis_tenant_id: envelope.context.tenant_id.clone(),
        changes,
        datacenter_url: envelope.datacenter_url(),
    })
}

/// `partner.mirroring.get_state`.
pub fn get_mirrored_partner_state_request(envelope: &Envelope) -> pb::GetMirroredPartnerStateRequest {
    pb::GetMirroredPartnerStateRequest { acronis_tenant_id: envelope.context.tenant_id.clone() }
}

/// `partner.mirroring.enable`: the payload must name `context.tenant_id` rather than leave us to guess which
/// tenant was meant.
pub fn enable_mirrored_partner_request(envelope: &Envelope) -> Result<pb::EnableMirroredPartnerRequest, GatewayError> {
    #[derive(Deserialize)]
    struct EnablePayload {
        acronis_tenant_id: String,
        acronis_tenant_name: String,
        #[serde(default)]
        settings: Option<Map<String, Value>>,
    }
    let payload: EnablePayload = envelope.payload("partner.mirroring.enable")?;
    envelope.require_own_tenant("acronis_tenant_id", &payload.acronis_tenant_id)?;
    Ok(pb::EnableMirroredPartnerRequest {
        acronis_tenant_id: envelope.context.tenant_id.clone(),
        name: payload.acronis_tenant_name,
        settings_json: settings_json(payload.settings),
        datacenter_url: envelope.datacenter_url(),
    })
}

/// `partner.mirroring.reset`.
pub fn reset_mirrored_partner_request(envelope: &Envelope) -> pb::ResetMirroredPartnerRequest {
    pb::ResetMirroredPartnerRequest { acronis_tenant_id: envelope.context.tenant_id.clone() }
}

/// `customer.mirroring.get_state`.
pub fn get_mirrored_customers_request(envelope: &Envelope) -> pb::GetMirroredCustomersRequest {
    pb::GetMirroredCustomersRequest { partner_acronis_tenant_id: envelope.context.tenant_id.clone() }
}

/// `customer.mirroring.set_state`: `payload.partner_tenant_id` must be `context.tenant_id`.
pub fn set_mirrored_customers_request(envelope: &Envelope) -> Result<pb::SetMirroredCustomersRequest, GatewayError> {
    #[derive(Deserialize)]
    struct SetStatePayload {
        partner_tenant_id: String,
        #[serde(default, deserialize_with = "from_objects")]
        enabled: Vec<EnabledItem>,
        #[serde(default, deserialize_with = "from_objects")]
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
    let payload: SetStatePayload = envelope.payload("customer.mirroring.set_state")?;
    envelope.require_own_tenant("partner_tenant_id", &payload.partner_tenant_id)?;
    Ok(pb::SetMirroredCustomersRequest {
        partner_acronis_tenant_id: envelope.context.tenant_id.clone(),
        enabled: payload
            .enabled
            .into_iter()
            .map(|item| pb::CustomerToEnable {
                acronis_tenant_id: item.acronis_tenant_id,
                name: item.acronis_tenant_name,
                settings_json: settings_json(item.settings),
            })
            .collect(),
        disabled: payload.disabled.into_iter().map(|item| item.acronis_tenant_id).collect(),
        datacenter_url: envelope.datacenter_url(),
    })
}

/// Settings travel to the TenantService as JSON text; it validates them on the way in.
fn settings_json(settings: Option<Map<String, Value>>) -> Option<String> {
    settings.map(|settings| Value::Object(settings).to_string())
}

/// The page the top-level `paging` object asks for (protocol §10), or `None` when there is none (then
/// everything is returned). Unknown keys are ignored: Acronis may add some, as it added `paging` itself.
fn page_request(paging: Option<&Value>) -> Result<Option<pb::PageRequest>, GatewayError> {
    #[derive(Deserialize)]
    struct PagingRequest {
        limit: u32,
        #[serde(default)]
        offset: Option<u64>,
        #[serde(default)]
        after: Option<String>,
        #[serde(default)]
        before: Option<String>,
    }
    let Some(paging) = paging.filter(|value| !value.is_null()) else { return Ok(None) };
    let refused = || {
        GatewayError::BadRequest(
            "paging must be an object with a positive integer limit and either offset, after or before.".into(),
        )
    };
    // An array would be read by field order (see `gateway::envelope`).
    if !paging.is_object() {
        return Err(refused());
    }
    let request = PagingRequest::deserialize(paging).map_err(|_| refused())?;
    // Blank cursors mean "none" (the first page).
    let cursor = |value: Option<String>| value.filter(|cursor| !cursor.is_empty());
    Ok(Some(pb::PageRequest {
        limit: request.limit,
        offset: request.offset,
        after: cursor(request.after),
        before: cursor(request.before),
    }))
}

// ---- answers --------------------------------------------------------------------------------------------

/// `enablement.read`.
pub fn partner_enablement(response: pb::ReadPartnerEnablementResponse) -> Payload {
    Payload::PartnerEnablement(PartnerEnablement {
        acronis_tenant_id: response.acronis_tenant_id,
        vendor_tenant_id: response.vendor_tenant_id,
    })
}

/// `topology.read`: each customer's vendor id and name.
pub fn topology(response: pb::ListCustomerOrganizationsResponse) -> Payload {
    let items = response
        .customers
        .into_iter()
        .map(|customer| TopologyItem { id: customer.vendor_tenant_id, name: customer.name })
        .collect();
    Payload::Topology(ItemsPage { items, paging: paging(response.page) })
}

/// `tenant_mapping.read`: each customer's vendor id, and its Acronis tenant when mapped.
pub fn tenant_mapping(response: pb::ListCustomerOrganizationsResponse) -> Payload {
    let items = response
        .customers
        .into_iter()
        .map(|customer| TenantMappingItem {
            acronis_tenant_id: customer.acronis_tenant_id,
            vendor_tenant_id: customer.vendor_tenant_id,
        })
        .collect();
    Payload::TenantMapping(ItemsPage { items, paging: paging(response.page) })
}

/// `partner.mirroring.get_state`.
pub fn mirrored_partner_state(response: pb::GetMirroredPartnerStateResponse) -> Result<Payload, GatewayError> {
    let state = state(response.state());
    Ok(Payload::MirroredPartnerState(MirroredPartnerState {
        settings: response.settings_json.map(|json| stored_settings(&json)).transpose()?,
        state,
    }))
}

/// `partner.mirroring.enable`: the partner record as the change left it.
pub fn enabled_partner(response: pb::EnableMirroredPartnerResponse) -> Payload {
    Payload::EnabledPartner(EnabledPartner {
        state: state(response.state()),
        acronis_tenant_id: response.acronis_tenant_id,
        vendor_tenant_id: response.vendor_tenant_id,
    })
}

/// `customer.mirroring.get_state`: the partner's enabled customers.
pub fn mirrored_customers(response: pb::GetMirroredCustomersResponse) -> Result<Payload, GatewayError> {
    let customers = response
        .customers
        .into_iter()
        .map(|customer| {
            Ok(MirroredCustomer {
                acronis_tenant_id: customer.acronis_tenant_id,
                settings: customer.settings_json.as_deref().map(stored_settings).transpose()?,
                vendor_tenant_id: customer.vendor_tenant_id,
            })
        })
        .collect::<Result<Vec<_>, GatewayError>>()?;
    Ok(Payload::MirroredCustomers(customers))
}

/// A tenant that is not enabled reads as `DISABLED`, whatever the reason.
fn state(state: pb::EnablementState) -> State {
    match state {
        pb::EnablementState::Enabled => State::Enabled,
        pb::EnablementState::Disabled | pb::EnablementState::Unspecified => State::Disabled,
    }
}

/// Settings come back from the TenantService as JSON text it validated on the way in; text that no longer
/// parses is a fault of ours (500), logged here.
fn stored_settings(json: &str) -> Result<Value, GatewayError> {
    serde_json::from_str(json).map_err(|error| {
        tracing::error!(%error, "stored settings are not valid JSON");
        GatewayError::Internal
    })
}

/// `payload.paging` for a served page, in the form the request asked for.
fn paging(info: Option<pb::PageInfo>) -> Option<Paging> {
    Some(match info?.kind? {
        pb::page_info::Kind::Offset(page) => {
            Paging::Offset { limit: page.limit, offset: page.offset, total_count: page.total_count }
        }
        pb::page_info::Kind::Cursor(page) => Paging::Cursor { after: page.after, before: page.before },
    })
}
