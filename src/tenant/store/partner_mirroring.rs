//! Mirrored partners (protocol §9.7–9.9): the partner record is created by the callback itself and keyed
//! by its Acronis tenant id, which keeps its vendor tenant id across disable and re-enable.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseTransaction, EntityTrait};
use uuid::Uuid;

use super::cascade::disable_customers_of;
use super::directory::{OrganizationUpsert, upsert_organization_in};
use super::events::record_event;
use super::records::{Enablement, Holder, NewTenant, enable_or_update, lock_holding};
use super::{IdempotencyKey, Recorded, TenantStore};
use crate::db::entity::organization::{self, OrganizationKind};
use crate::db::entity::tenant::{self, EnablementMethod, EnablementState, TenantKind};
use crate::tenant::error::TenantError;
use crate::tenant::model::{AcronisTenantId, DatacenterUrl, EventKind, Settings, TenantName, VendorTenantId};

/// What `enable_mirrored_partner` needs to know.
#[derive(Debug, Clone)]
pub struct MirroredPartnerEnablement {
    pub acronis_tenant_id: AcronisTenantId,
    pub name: TenantName,
    pub settings: Option<Settings>,
    pub datacenter_url: Option<DatacenterUrl>,
}

impl TenantStore {
    /// The partner record of an Acronis tenant, whatever its state; `None` when there is none.
    pub async fn partner(&self, id: AcronisTenantId) -> Result<Option<tenant::Model>, TenantError> {
        let record = self.tenant_by_acronis_id(id).await?;
        Ok(record.filter(|record| record.kind == TenantKind::Partner))
    }

    /// Creates or re-enables the mirrored partner record and returns it.
    ///
    /// Concurrent first enables of one tenant race on the unique Acronis tenant id; the loser retries and
    /// finds the winner's record, so both answer with the same vendor tenant id.
    pub async fn enable_mirrored_partner(
        &self,
        enablement: &MirroredPartnerEnablement,
        key: Option<&IdempotencyKey>,
    ) -> Result<Recorded<tenant::Model>, TenantError> {
        self.write_once(key, |tx| {
            let enablement = enablement.clone();
            Box::pin(async move { enable_mirrored_partner_in(tx, &enablement).await })
        })
        .await
    }

    /// Disables a mirrored partner and its customers: its mirrored customers are disabled and the customer
    /// mappings it made are removed (never another enabled partner's); returns how many customers it
    /// changed. An unknown or already disabled partner is not an error.
    pub async fn reset_mirrored_partner(
        &self,
        id: AcronisTenantId,
        key: Option<&IdempotencyKey>,
    ) -> Result<Recorded<u64>, TenantError> {
        self.write_once(key, move |tx| Box::pin(reset_mirrored_partner_in(tx, id))).await
    }
}

async fn enable_mirrored_partner_in(
    tx: &DatabaseTransaction,
    enablement: &MirroredPartnerEnablement,
) -> Result<tenant::Model, TenantError> {
    let settings = enablement.settings.as_ref().map(|s| s.as_json().to_owned());
    let Some(existing) = lock_holding(tx, enablement.acronis_tenant_id, Holder::Any).await? else {
        let created = NewTenant {
            vendor_tenant_id: Uuid::new_v4().to_string(),
            acronis_tenant_id: enablement.acronis_tenant_id.to_string(),
            kind: TenantKind::Partner,
            method: EnablementMethod::Mirrored,
            partner_acronis_tenant_id: None,
            name: enablement.name.to_string(),
            settings_json: settings,
            datacenter_url: enablement.datacenter_url.clone().map(DatacenterUrl::into_string),
        }
        .insert(tx)
        .await?;
        record_event(tx, EventKind::PartnerEnabled, &created).await?;
        upsert_partner_organization(tx, &created).await?;
        return Ok(created);
    };

    if existing.kind != TenantKind::Partner || existing.enablement_method != EnablementMethod::Mirrored {
        return Err(TenantError::PermissionDenied(
            "This Acronis tenant is already enabled with another enablement method; disable it there first.".into(),
        ));
    }
    let wanted = Enablement {
        name: enablement.name.as_str(),
        settings_json: settings,
        datacenter_url: enablement.datacenter_url.clone().map(DatacenterUrl::into_string),
    };
    let (updated, changed) = enable_or_update(tx, existing, wanted).await?;
    if changed {
        upsert_partner_organization(tx, &updated).await?;
    }
    Ok(updated)
}

/// A mirrored partner is also a directory organization (its id is the vendor tenant id), so that vendor
/// services can create its customers under it for mapped customer enablement (method 4). A new one starts
/// at the top; an existing one keeps its place, where a vendor service may have nested it under a
/// distributor (which decides who owns its customers).
async fn upsert_partner_organization(tx: &DatabaseTransaction, partner: &tenant::Model) -> Result<(), TenantError> {
    let existing = organization::Entity::find_by_id(partner.vendor_tenant_id.as_str()).one(tx).await?;
    let upsert = OrganizationUpsert {
        id: VendorTenantId::stored(partner.vendor_tenant_id.clone()),
        name: TenantName::stored(partner.name.clone().unwrap_or_else(|| partner.vendor_tenant_id.clone())),
        kind: OrganizationKind::Partner,
        parent_id: existing.and_then(|organization| organization.parent_id).map(VendorTenantId::stored),
    };
    upsert_organization_in(tx, &upsert).await.map(drop)
}

async fn reset_mirrored_partner_in(tx: &DatabaseTransaction, id: AcronisTenantId) -> Result<u64, TenantError> {
    let acronis_id = id.to_string();
    let partner = lock_holding(tx, id, Holder::PartnerBy(EnablementMethod::Mirrored)).await?;
    let Some(partner) = partner else { return Ok(0) };
    let now = Utc::now();

    if partner.state == EnablementState::Enabled {
        let mut update: tenant::ActiveModel = partner.into();
        update.state = Set(EnablementState::Disabled);
        update.updated_at = Set(now);
        let disabled = update.update(tx).await?;
        record_event(tx, EventKind::PartnerDisabled, &disabled).await?;
    }

    disable_customers_of(tx, &acronis_id).await
}
