//! Mirrored customers (protocol §9.10–9.11): customer records created by `customer.mirroring.set_state` under
//! the partner whose Acronis tenant sent it. Keyed by the partner's Acronis tenant rather than a partner
//! record, so they also work under an explicit partner, for whom no record exists (method 7).

use std::sync::Arc;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::events::record_event;
use super::records::{Enablement, Holder, NewTenant, enable_or_update, lock_holding, partner_not_enabled};
use super::{IdempotencyKey, Recorded, TenantStore};
use crate::db::entity::tenant::{self, EnablementMethod, EnablementState, TenantKind};
use crate::tenant::error::TenantError;
use crate::tenant::model::{AcronisTenantId, DatacenterUrl, EventKind, Settings, TenantName};

/// One `enabled[]` entry of `set_state`.
#[derive(Debug, Clone)]
pub struct MirroredCustomer {
    pub acronis_tenant_id: AcronisTenantId,
    pub name: TenantName,
    pub settings: Option<Settings>,
}

impl TenantStore {
    /// The enabled mirrored customers of `partner`, oldest first.
    pub async fn enabled_mirrored_customers(
        &self,
        partner: AcronisTenantId,
    ) -> Result<Vec<tenant::Model>, TenantError> {
        // Built inside `load`, which runs on a miss only (see `credential_with_organization`).
        let load = || {
            self.read("enabled_mirrored_customers", async {
                let query = tenant::Entity::find()
                    .filter(tenant::Column::PartnerAcronisTenantId.eq(partner.to_string()))
                    .filter(tenant::Column::Kind.eq(TenantKind::Customer))
                    .filter(tenant::Column::EnablementMethod.eq(EnablementMethod::Mirrored))
                    .filter(tenant::Column::State.eq(EnablementState::Enabled))
                    .order_by_asc(tenant::Column::Id);
                Ok(Arc::new(query.all(self.connection()).await?))
            })
        };
        let kept =
            self.read_model.read_through(self, |tables| &mut tables.mirrored_customers, partner.to_string(), load);
        Ok(Arc::unwrap_or_clone(kept.await?))
    }

    /// Applies `set_state`: creates or re-enables `enabled`, then disables `disabled`; all or nothing.
    pub async fn set_mirrored_customers(
        &self,
        partner: AcronisTenantId,
        enabled: &[MirroredCustomer],
        disabled: &[AcronisTenantId],
        datacenter_url: Option<DatacenterUrl>,
        key: Option<&IdempotencyKey>,
    ) -> Result<Recorded<()>, TenantError> {
        self.write_once(key, |tx| {
            let datacenter_url = datacenter_url.clone().map(DatacenterUrl::into_string);
            let (enabled, disabled) = (enabled.to_vec(), disabled.to_vec());
            Box::pin(async move {
                ensure_partner_not_disabled(tx, partner).await?;
                for customer in &enabled {
                    enable_customer(tx, partner, customer, datacenter_url.clone()).await?;
                }
                for customer in &disabled {
                    disable_customer(tx, partner, *customer).await?;
                }
                Ok(())
            })
        })
        .await
    }
}

/// Customers cannot be enabled under a partner that disabled the CyberApp. A partner without any record is
/// an explicit partner, which is fine. The partner row, when there is one, is locked `FOR UPDATE`: it
/// serializes the partner's customer writes and resets.
async fn ensure_partner_not_disabled(tx: &DatabaseTransaction, partner: AcronisTenantId) -> Result<(), TenantError> {
    match lock_holding(tx, partner, Holder::Any).await? {
        Some(record) if record.kind == TenantKind::Customer => Err(TenantError::PermissionDenied(
            "This Acronis tenant is a customer and cannot enable customers of its own.".into(),
        )),
        Some(record) if record.state == EnablementState::Disabled => Err(partner_not_enabled()),
        _ => Ok(()),
    }
}

/// The customer record of `acronis` when it belongs to `partner`'s mirrored customers; a refusal when the
/// tenant is taken by anyone else.
async fn own_customer(
    tx: &DatabaseTransaction,
    partner: AcronisTenantId,
    acronis: AcronisTenantId,
) -> Result<Option<tenant::Model>, TenantError> {
    match lock_holding(tx, acronis, Holder::Any).await? {
        None => Ok(None),
        Some(record)
            if record.kind == TenantKind::Customer
                && record.enablement_method == EnablementMethod::Mirrored
                && record.partner_acronis_tenant_id.as_deref() == Some(partner.to_string().as_str()) =>
        {
            Ok(Some(record))
        }
        Some(_) => Err(TenantError::PermissionDenied(format!(
            "Acronis tenant {acronis} belongs to another partner or enablement; nothing was changed."
        ))),
    }
}

async fn enable_customer(
    tx: &DatabaseTransaction,
    partner: AcronisTenantId,
    customer: &MirroredCustomer,
    datacenter_url: Option<String>,
) -> Result<(), TenantError> {
    let settings = customer.settings.as_ref().map(|s| s.as_json().to_owned());
    let Some(existing) = own_customer(tx, partner, customer.acronis_tenant_id).await? else {
        let created = NewTenant {
            vendor_tenant_id: Uuid::new_v4().to_string(),
            acronis_tenant_id: customer.acronis_tenant_id.to_string(),
            kind: TenantKind::Customer,
            method: EnablementMethod::Mirrored,
            partner_acronis_tenant_id: Some(partner.to_string()),
            name: customer.name.to_string(),
            settings_json: settings,
            datacenter_url,
        }
        .insert(tx)
        .await?;
        return record_event(tx, EventKind::CustomerEnabled, &created).await.map_err(Into::into);
    };
    let wanted = Enablement { name: customer.name.as_str(), settings_json: settings, datacenter_url };
    enable_or_update(tx, existing, wanted).await.map(drop)
}

async fn disable_customer(
    tx: &DatabaseTransaction,
    partner: AcronisTenantId,
    acronis: AcronisTenantId,
) -> Result<(), TenantError> {
    let Some(existing) = own_customer(tx, partner, acronis).await? else { return Ok(()) };
    if existing.state == EnablementState::Disabled {
        return Ok(());
    }
    let mut update: tenant::ActiveModel = existing.into();
    update.state = Set(EnablementState::Disabled);
    update.updated_at = Set(Utc::now());
    let disabled = update.update(tx).await?;
    Ok(record_event(tx, EventKind::CustomerDisabled, &disabled).await?)
}
