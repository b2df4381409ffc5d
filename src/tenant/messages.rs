//! Conversions from stored records to the protocol's messages: tenants and events as consumers see them.
//! No queries here, and nothing a client sent: parsing requests is `model`'s job.

use chrono::{DateTime, Utc};

use super::error::TenantError;
use super::model::EventKind;
use crate::db::entity::organization::{self, OrganizationKind};
use crate::db::entity::tenant::{self, EnablementMethod, EnablementState, TenantKind};
use crate::db::entity::tenant_event;
use crate::pb;

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
