//! Mapped partners (protocol §9.1–9.3): a vendor directory organization mapped one-to-one to an Acronis
//! partner tenant. Both directions are unique indexes in `tenants`, so the one-to-one rule holds even when
//! two replicas race; the checks here turn a would-be violation into a clear refusal first.

use std::sync::Arc;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
};

use super::cascade::disable_customers_of;
use super::events::{record_event, record_unmapping};
use super::records::{Holder, NewTenant, lock_holding};
use super::{IdempotencyKey, Recorded, TenantStore};
use crate::db::entity::organization;
use crate::db::entity::tenant::{self, EnablementMethod, EnablementState, TenantKind};
use crate::tenant::error::TenantError;
use crate::tenant::model::{AcronisTenantId, DatacenterUrl, EventKind};

impl TenantStore {
    /// The Acronis tenant an organization is mapped to, if it is.
    pub async fn partner_mapping_of(
        &self,
        organization: &organization::Model,
    ) -> Result<Option<tenant::Model>, TenantError> {
        // Built inside `load`, which runs on a miss only (see `credential_with_organization`).
        let load = || {
            self.read("partner_mapping_of", async {
                let query = tenant::Entity::find()
                    .filter(tenant::Column::VendorTenantId.eq(organization.id.as_str()))
                    .filter(tenant::Column::Kind.eq(TenantKind::Partner))
                    .filter(tenant::Column::State.eq(EnablementState::Enabled))
                    .filter(tenant::Column::AcronisTenantId.is_not_null());
                Ok(query.one(self.connection()).await?.map(Arc::new))
            })
        };
        let kept =
            self.read_model.read_through(self, |tables| &mut tables.partner_mappings, organization.id.clone(), load);
        Ok(kept.await?.map(Arc::unwrap_or_clone))
    }

    /// Maps `organization` to the Acronis partner tenant `acronis`. The same pair again is a no-op.
    pub async fn map_partner(
        &self,
        organization: &organization::Model,
        acronis: AcronisTenantId,
        datacenter_url: Option<DatacenterUrl>,
        key: Option<&IdempotencyKey>,
    ) -> Result<Recorded<()>, TenantError> {
        self.write_once(key, |tx| {
            let (organization, datacenter_url) =
                (organization.clone(), datacenter_url.clone().map(DatacenterUrl::into_string));
            Box::pin(async move { map_partner_in(tx, &organization, acronis, datacenter_url).await })
        })
        .await
    }

    /// Removes the mapping of `acronis` (which must be `organization`'s) and the customer mappings the
    /// partner made, and disables its mirrored customers; returns how many customers it changed. Not mapped:
    /// nothing to do.
    pub async fn unmap_partner(
        &self,
        organization: &organization::Model,
        acronis: AcronisTenantId,
        key: Option<&IdempotencyKey>,
    ) -> Result<Recorded<u64>, TenantError> {
        self.write_once(key, |tx| {
            let organization_id = organization.id.clone();
            Box::pin(async move { unmap_partner_in(tx, &organization_id, acronis).await })
        })
        .await
    }
}

async fn map_partner_in(
    tx: &DatabaseTransaction,
    organization: &organization::Model,
    acronis: AcronisTenantId,
    datacenter_url: Option<String>,
) -> Result<(), TenantError> {
    let acronis_id = acronis.to_string();
    let by_organization = tenant::Entity::find()
        .filter(tenant::Column::VendorTenantId.eq(organization.id.as_str()))
        .lock_exclusive()
        .one(tx)
        .await?;
    let by_tenant = lock_holding(tx, acronis, Holder::Any).await?;

    if let Some(existing) = &by_organization {
        if existing.kind != TenantKind::Partner || existing.enablement_method != EnablementMethod::Mapped {
            return Err(TenantError::PermissionDenied(
                "This account is already used by another CyberApp enablement and cannot be mapped as a partner.".into(),
            ));
        }
        match existing.acronis_tenant_id.as_deref() {
            Some(mapped) if mapped == acronis_id => return Ok(()),
            Some(_) => {
                return Err(TenantError::PermissionDenied(
                    "This account is already enabled for another Acronis tenant; disable the CyberApp there first."
                        .into(),
                ));
            }
            None => {}
        }
    }
    if let Some(holder) = &by_tenant
        && holder.vendor_tenant_id != organization.id
    {
        return Err(TenantError::PermissionDenied(
            "This Acronis tenant is already enabled with another account of this service.".into(),
        ));
    }

    let now = Utc::now();
    let mapped = match by_organization {
        Some(existing) => {
            let mut update: tenant::ActiveModel = existing.into();
            update.acronis_tenant_id = Set(Some(acronis_id));
            update.state = Set(EnablementState::Enabled);
            update.name = Set(Some(organization.name.clone()));
            update.datacenter_url = Set(datacenter_url);
            update.updated_at = Set(now);
            update.update(tx).await?
        }
        None => {
            NewTenant {
                vendor_tenant_id: organization.id.clone(),
                acronis_tenant_id: acronis_id,
                kind: TenantKind::Partner,
                method: EnablementMethod::Mapped,
                partner_acronis_tenant_id: None,
                name: organization.name.clone(),
                settings_json: None,
                datacenter_url,
            }
            .insert(tx)
            .await?
        }
    };
    record_event(tx, EventKind::PartnerMapped, &mapped).await?;
    Ok(())
}

async fn unmap_partner_in(
    tx: &DatabaseTransaction,
    organization_id: &str,
    acronis: AcronisTenantId,
) -> Result<u64, TenantError> {
    let partner = lock_holding(tx, acronis, Holder::PartnerBy(EnablementMethod::Mapped)).await?;
    let Some(partner) = partner else { return Ok(0) };
    if partner.vendor_tenant_id != organization_id {
        return Err(TenantError::PermissionDenied(
            "These credentials belong to another account than the one this Acronis tenant is enabled with.".into(),
        ));
    }
    let mut update: tenant::ActiveModel = partner.into();
    update.acronis_tenant_id = Set(None);
    update.state = Set(EnablementState::Disabled);
    update.updated_at = Set(Utc::now());
    let unmapped = update.update(tx).await?;
    record_unmapping(tx, EventKind::PartnerUnmapped, &acronis.to_string(), &unmapped).await?;

    disable_customers_of(tx, &acronis.to_string()).await
}
