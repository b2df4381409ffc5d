//! The tenant half's one conversion place between protobuf and the domain: requests (and their idempotency
//! metadata) parsed into the store's domain types, and records turned into the protocol's messages, tenants
//! and events as consumers see them. So each RPC of `service` reads parse → store → answer.
//!
//! No queries here. What makes one value valid is the domain types' own `parse` (`model`); this module only
//! says which request field becomes which domain value.

use chrono::{DateTime, Utc};
use tonic::Response;
use tonic::metadata::{MetadataMap, MetadataValue};

use super::error::TenantError;
use super::model::{AcronisTenantId, DatacenterUrl, EventKind, Settings, TenantName, VendorTenantId};
use super::paging::{PageInfo, PageRequest};
use super::store::{
    CustomerMappingChange, CustomerOrganization, IdempotencyKey, MirroredCustomer, MirroredPartnerEnablement,
    OrganizationUpsert, TenantFilter,
};
use crate::db::entity::organization::{self, OrganizationKind};
use crate::db::entity::tenant::{self, EnablementMethod, EnablementState, TenantKind};
use crate::db::entity::tenant_event;
use crate::grpc::metadata::{REQUEST_HASH_METADATA, REQUEST_ID_METADATA, RESPONSE_ID_METADATA};
use crate::pb;

// Requests to domain values.

/// Longest accepted idempotency metadata value.
const MAX_METADATA_LEN: usize = 256;

/// The idempotency key a state-changing call carries in its metadata: all three values or none.
pub fn idempotency_key(metadata: &MetadataMap) -> Result<Option<IdempotencyKey>, TenantError> {
    let value = |name| metadata.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
    match (value(REQUEST_ID_METADATA), value(REQUEST_HASH_METADATA), value(RESPONSE_ID_METADATA)) {
        (None, None, None) => Ok(None),
        (Some(request_id), Some(request_hash), Some(response_id))
            if [&request_id, &request_hash, &response_id]
                .iter()
                .all(|value| !value.is_empty() && value.len() <= MAX_METADATA_LEN) =>
        {
            Ok(Some(IdempotencyKey { request_id, request_hash, response_id }))
        }
        _ => Err(TenantError::InvalidArgument(format!(
            "{REQUEST_ID_METADATA}, {REQUEST_HASH_METADATA} and {RESPONSE_ID_METADATA} go together, each non-empty"
        ))),
    }
}

/// The exactly-once key of a custom callback, as BeginCustomCallback carries it.
pub fn custom_callback_key(
    request_id: String,
    request_hash: String,
    response_id: String,
) -> Result<IdempotencyKey, TenantError> {
    for (field, value) in [("request_id", &request_id), ("request_hash", &request_hash), ("response_id", &response_id)]
    {
        if value.is_empty() || value.len() > MAX_METADATA_LEN {
            return Err(TenantError::InvalidArgument(format!(
                "{field} must be non-empty and at most {MAX_METADATA_LEN} bytes"
            )));
        }
    }
    Ok(IdempotencyKey { request_id, request_hash, response_id })
}

/// An optional data-center URL as every request carries it: absent or empty means none.
pub fn datacenter_url(url: Option<String>) -> Result<Option<DatacenterUrl>, TenantError> {
    url.filter(|url| !url.is_empty()).as_deref().map(DatacenterUrl::parse).transpose()
}

/// The Acronis tenant of the partner a customer callback came from.
pub fn partner(id: &str) -> Result<AcronisTenantId, TenantError> {
    AcronisTenantId::parse(id, "partner_acronis_tenant_id")
}

pub fn mirrored_partner_enablement(
    request: pb::EnableMirroredPartnerRequest,
) -> Result<MirroredPartnerEnablement, TenantError> {
    Ok(MirroredPartnerEnablement {
        acronis_tenant_id: AcronisTenantId::parse(&request.acronis_tenant_id, "acronis_tenant_id")?,
        name: TenantName::parse(&request.name, "name")?,
        settings: request.settings_json.as_deref().map(Settings::parse).transpose()?,
        datacenter_url: datacenter_url(request.datacenter_url)?,
    })
}

pub fn organization_upsert(request: pb::UpsertOrganizationRequest) -> Result<OrganizationUpsert, TenantError> {
    Ok(OrganizationUpsert {
        id: VendorTenantId::parse(&request.id, "id")?,
        name: TenantName::parse(&request.name, "name")?,
        kind: organization_kind(request.kind())?,
        parent_id: request
            .parent_id
            .filter(|parent| !parent.is_empty())
            .map(|parent| VendorTenantId::parse(&parent, "parent_id"))
            .transpose()?,
    })
}

fn organization_kind(kind: pb::OrganizationKind) -> Result<OrganizationKind, TenantError> {
    match kind {
        pb::OrganizationKind::Partner => Ok(OrganizationKind::Partner),
        pb::OrganizationKind::Customer => Ok(OrganizationKind::Customer),
        pb::OrganizationKind::Unspecified => {
            Err(TenantError::InvalidArgument("kind must be partner or customer".into()))
        }
    }
}

pub fn page_request(page: Option<pb::PageRequest>) -> Result<Option<PageRequest>, TenantError> {
    page.map(|page| PageRequest::new(page.limit, page.offset, page.after.as_deref(), page.before.as_deref()))
        .transpose()
}

pub fn customer_mapping_changes(
    changes: &[pb::CustomerMappingChange],
) -> Result<Vec<CustomerMappingChange>, TenantError> {
    changes
        .iter()
        .map(|change| {
            Ok(CustomerMappingChange {
                vendor_tenant_id: VendorTenantId::parse(&change.vendor_tenant_id, "vendor_tenant_id")?,
                acronis_tenant_id: change
                    .acronis_tenant_id
                    .as_deref()
                    .map(|id| AcronisTenantId::parse(id, "acronis_tenant_id"))
                    .transpose()?,
            })
        })
        .collect()
}

/// The `enabled[]` and `disabled[]` lists of `customer.mirroring.set_state`.
pub fn mirrored_customer_states(
    enabled: &[pb::CustomerToEnable],
    disabled: &[String],
) -> Result<(Vec<MirroredCustomer>, Vec<AcronisTenantId>), TenantError> {
    let enabled = enabled
        .iter()
        .map(|customer| {
            Ok(MirroredCustomer {
                acronis_tenant_id: AcronisTenantId::parse(&customer.acronis_tenant_id, "enabled[].acronis_tenant_id")?,
                name: TenantName::parse(&customer.name, "enabled[].acronis_tenant_name")?,
                settings: customer.settings_json.as_deref().map(Settings::parse).transpose()?,
            })
        })
        .collect::<Result<_, TenantError>>()?;
    let disabled = disabled
        .iter()
        .map(|id| AcronisTenantId::parse(id, "disabled[].acronis_tenant_id"))
        .collect::<Result<_, TenantError>>()?;
    Ok((enabled, disabled))
}

/// Which records `ListPartners` (no partner) or `ListCustomers` returns.
pub fn tenant_filter(
    kind: TenantKind,
    state: Option<i32>,
    method: Option<i32>,
    partner: Option<&str>,
) -> Result<TenantFilter, TenantError> {
    // The partner is checked first, so a request with several bad fields is refused for its partner.
    let partner = partner.map(|id| AcronisTenantId::parse(id, "partner_acronis_tenant_id")).transpose()?;
    Ok(TenantFilter { kind, state: state_filter(state)?, method: method_filter(method)?, partner })
}

fn state_filter(state: Option<i32>) -> Result<Option<EnablementState>, TenantError> {
    match state.map(pb::EnablementState::try_from) {
        None => Ok(None),
        Some(Ok(pb::EnablementState::Enabled)) => Ok(Some(EnablementState::Enabled)),
        Some(Ok(pb::EnablementState::Disabled)) => Ok(Some(EnablementState::Disabled)),
        Some(_) => Err(TenantError::InvalidArgument("state must be ENABLED or DISABLED when given".into())),
    }
}

fn method_filter(method: Option<i32>) -> Result<Option<EnablementMethod>, TenantError> {
    match method.map(pb::EnablementMethod::try_from) {
        None => Ok(None),
        Some(Ok(pb::EnablementMethod::Mirrored)) => Ok(Some(EnablementMethod::Mirrored)),
        Some(Ok(pb::EnablementMethod::Mapped)) => Ok(Some(EnablementMethod::Mapped)),
        Some(_) => Err(TenantError::InvalidArgument("enablement_method must be MIRRORED or MAPPED when given".into())),
    }
}

// Domain values to responses.

/// Wraps `message`, telling the caller in [`RESPONSE_ID_METADATA`] which `response_id` answers the callback.
pub fn answer<T>(message: T, response_id: Option<String>) -> Response<T> {
    let mut response = Response::new(message);
    if let Some(value) = response_id.and_then(|id| MetadataValue::try_from(id).ok()) {
        response.metadata_mut().insert(RESPONSE_ID_METADATA, value);
    }
    response
}

/// A count of changed customers as the protocol's `uint32`, saturating.
pub fn count(changed: u64) -> u32 {
    u32::try_from(changed).unwrap_or(u32::MAX)
}

/// A partner's state as `partner.mirroring.get_state` reports it: disabled when there is no record.
pub fn mirrored_partner_state(record: Option<tenant::Model>) -> pb::GetMirroredPartnerStateResponse {
    match record {
        Some(record) => pb::GetMirroredPartnerStateResponse {
            state: state(record.state).into(),
            settings_json: record.settings_json,
        },
        None => {
            pb::GetMirroredPartnerStateResponse { state: pb::EnablementState::Disabled.into(), settings_json: None }
        }
    }
}

/// Copied out of the answer the read model shares: the one copy of each customer a listing makes.
pub fn customer_organization(customer: &CustomerOrganization) -> pb::CustomerOrganization {
    pb::CustomerOrganization {
        vendor_tenant_id: customer.id.clone(),
        name: customer.name.clone(),
        acronis_tenant_id: customer.acronis_tenant_id.clone(),
    }
}

pub fn mirrored_customer(customer: tenant::Model) -> pb::MirroredCustomer {
    pb::MirroredCustomer {
        vendor_tenant_id: customer.vendor_tenant_id,
        acronis_tenant_id: customer.acronis_tenant_id.unwrap_or_default(),
        settings_json: customer.settings_json,
    }
}

pub fn page_info(info: PageInfo) -> pb::PageInfo {
    let kind = match info {
        PageInfo::Offset { offset, limit, total_count } => {
            pb::page_info::Kind::Offset(pb::OffsetPage { offset, limit, total_count })
        }
        PageInfo::Cursor { before, after } => pb::page_info::Kind::Cursor(pb::CursorPage { before, after }),
    };
    pb::PageInfo { kind: Some(kind) }
}

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(i32::MAX),
    }
}

pub fn state(state: EnablementState) -> pb::EnablementState {
    match state {
        EnablementState::Enabled => pb::EnablementState::Enabled,
        EnablementState::Disabled => pb::EnablementState::Disabled,
    }
}

pub fn tenant(record: tenant::Model) -> pb::Tenant {
    let kind = match record.kind {
        TenantKind::Partner => pb::TenantKind::Partner,
        TenantKind::Customer => pb::TenantKind::Customer,
    };
    let method = match record.enablement_method {
        EnablementMethod::Mirrored => pb::EnablementMethod::Mirrored,
        EnablementMethod::Mapped => pb::EnablementMethod::Mapped,
    };
    pb::Tenant {
        vendor_tenant_id: record.vendor_tenant_id,
        acronis_tenant_id: record.acronis_tenant_id,
        kind: kind.into(),
        enablement_method: method.into(),
        state: state(record.state).into(),
        partner_acronis_tenant_id: record.partner_acronis_tenant_id,
        name: record.name,
        settings_json: record.settings_json,
        datacenter_url: record.datacenter_url,
        created_at: Some(timestamp(record.created_at)),
        updated_at: Some(timestamp(record.updated_at)),
    }
}

pub fn organization(model: organization::Model) -> pb::Organization {
    let kind = match model.kind {
        OrganizationKind::Partner => pb::OrganizationKind::Partner,
        OrganizationKind::Customer => pb::OrganizationKind::Customer,
    };
    pb::Organization { id: model.id, name: model.name, kind: kind.into(), parent_id: model.parent_id }
}

fn event_kind(kind: EventKind) -> pb::EventKind {
    match kind {
        EventKind::PartnerEnabled => pb::EventKind::PartnerEnabled,
        EventKind::PartnerUpdated => pb::EventKind::PartnerUpdated,
        EventKind::PartnerDisabled => pb::EventKind::PartnerDisabled,
        EventKind::PartnerMapped => pb::EventKind::PartnerMapped,
        EventKind::PartnerUnmapped => pb::EventKind::PartnerUnmapped,
        EventKind::CustomerEnabled => pb::EventKind::CustomerEnabled,
        EventKind::CustomerUpdated => pb::EventKind::CustomerUpdated,
        EventKind::CustomerDisabled => pb::EventKind::CustomerDisabled,
        EventKind::CustomerMapped => pb::EventKind::CustomerMapped,
        EventKind::CustomerUnmapped => pb::EventKind::CustomerUnmapped,
        EventKind::OrganizationUpserted => pb::EventKind::OrganizationUpserted,
        EventKind::OrganizationDeleted => pb::EventKind::OrganizationDeleted,
        EventKind::CredentialsSet => pb::EventKind::CredentialsSet,
    }
}

/// A sequenced outbox row as a stream event. A row written by a newer version (an unknown kind or
/// snapshot shape) still reaches the consumer, with the kind unspecified and no snapshot, so that its
/// cursor advances instead of the stream stalling.
pub fn event(row: tenant_event::Model) -> Result<pb::Event, TenantError> {
    let cursor = row
        .position
        .and_then(|position| u64::try_from(position).ok())
        .ok_or_else(|| TenantError::Fault(format!("event {} was read before it was sequenced", row.id)))?;
    let kind = EventKind::parse(&row.kind);
    let directory = matches!(kind, Some(EventKind::OrganizationUpserted));
    let snapshot = row.snapshot_json.as_deref();
    Ok(pb::Event {
        cursor,
        kind: kind.map_or(pb::EventKind::Unspecified, event_kind).into(),
        occurred_at: Some(timestamp(row.occurred_at)),
        vendor_tenant_id: row.vendor_tenant_id,
        acronis_tenant_id: row.acronis_tenant_id,
        tenant: snapshot
            .filter(|_| !directory)
            .and_then(|json| serde_json::from_str::<tenant::Model>(json).ok())
            .map(tenant),
        organization: snapshot
            .filter(|_| directory)
            .and_then(|json| serde_json::from_str::<organization::Model>(json).ok())
            .map(organization),
    })
}
