//! The tenant record as the families read, create and re-enable it: which record holds an Acronis tenant
//! (read `FOR UPDATE` inside a write), a complete new record, and the one enable-or-update rule of the
//! mirrored families.
//!
//! It uses only the outbox ([`super::events`]); no family is imported here, so every family can use it.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QuerySelect,
};

use super::events::record_event;
use crate::db::entity::tenant::{self, EnablementMethod, EnablementState, TenantKind};
use crate::tenant::error::TenantError;
use crate::tenant::model::{AcronisTenantId, EventKind};

/// Which record holding an Acronis tenant a lookup accepts; any other holder reads as none.
#[derive(Debug, Clone, Copy)]
pub(super) enum Holder {
    /// Whatever record holds it.
    Any,
    /// A partner record enabled by this method, in any state.
    PartnerBy(EnablementMethod),
    /// An enabled partner record, by either method.
    EnabledPartner,
}

/// The record holding Acronis tenant `acronis`, narrowed to `holder`.
pub(super) fn holding(acronis: AcronisTenantId, holder: Holder) -> sea_orm::Select<tenant::Entity> {
    let query = tenant::Entity::find().filter(tenant::Column::AcronisTenantId.eq(acronis.to_string()));
    match holder {
        Holder::Any => query,
        Holder::PartnerBy(method) => query
            .filter(tenant::Column::Kind.eq(TenantKind::Partner))
            .filter(tenant::Column::EnablementMethod.eq(method)),
        Holder::EnabledPartner => query
            .filter(tenant::Column::Kind.eq(TenantKind::Partner))
            .filter(tenant::Column::State.eq(EnablementState::Enabled)),
    }
}

/// [`holding`], read `FOR UPDATE` (PostgreSQL; SQLite's `BEGIN IMMEDIATE` already serializes writers): a
/// concurrent write to the same record waits for this transaction instead of interleaving with it. A
/// partner's row is also the lock for its customers, so its customer writes and resets take turns.
pub(super) async fn lock_holding(
    tx: &DatabaseTransaction,
    acronis: AcronisTenantId,
    holder: Holder,
) -> Result<Option<tenant::Model>, DbErr> {
    holding(acronis, holder).lock_exclusive().one(tx).await
}

/// [`holding`] outside a transaction.
pub(super) async fn find_holding<C: ConnectionTrait>(
    db: &C,
    acronis: AcronisTenantId,
    holder: Holder,
) -> Result<Option<tenant::Model>, DbErr> {
    holding(acronis, holder).one(db).await
}

/// A tenant record to create, enabled from now on. One constructor for every enablement path, so records
/// are always complete and consistent.
pub(super) struct NewTenant {
    pub vendor_tenant_id: String,
    pub acronis_tenant_id: String,
    pub kind: TenantKind,
    pub method: EnablementMethod,
    pub partner_acronis_tenant_id: Option<String>,
    pub name: String,
    pub settings_json: Option<String>,
    pub datacenter_url: Option<String>,
}

impl NewTenant {
    pub(super) async fn insert(self, tx: &DatabaseTransaction) -> Result<tenant::Model, DbErr> {
        let acronis_tenant_id = Some(self.acronis_tenant_id.clone());
        self.insert_as(tx, acronis_tenant_id, EnablementState::Enabled).await
    }

    /// Inserts the record disabled and without its Acronis tenant, for a write that sets both later in the
    /// same transaction (once the tenant is free in the database too); returns it as inserted.
    pub(super) async fn insert_reserved(self, tx: &DatabaseTransaction) -> Result<tenant::Model, DbErr> {
        self.insert_as(tx, None, EnablementState::Disabled).await
    }

    async fn insert_as(
        self,
        tx: &DatabaseTransaction,
        acronis_tenant_id: Option<String>,
        state: EnablementState,
    ) -> Result<tenant::Model, DbErr> {
        let now = Utc::now();
        tenant::ActiveModel {
            vendor_tenant_id: Set(self.vendor_tenant_id),
            acronis_tenant_id: Set(acronis_tenant_id),
            kind: Set(self.kind),
            enablement_method: Set(self.method),
            state: Set(state),
            partner_acronis_tenant_id: Set(self.partner_acronis_tenant_id),
            name: Set(Some(self.name)),
            settings_json: Set(self.settings_json),
            datacenter_url: Set(self.datacenter_url),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(tx)
        .await
    }
}

/// What a mirrored enablement asks an existing record to be.
pub(super) struct Enablement<'a> {
    pub name: &'a str,
    pub settings_json: Option<String>,
    /// `None` keeps the data center the record has.
    pub datacenter_url: Option<String>,
}

/// Enables `existing` (or updates it when it is enabled already) with `wanted`, recording the
/// `*.enabled` or `*.updated` event of its kind. An enabled record that already reads as `wanted` is left
/// alone, without an event: returns it and `false`.
pub(super) async fn enable_or_update(
    tx: &DatabaseTransaction,
    existing: tenant::Model,
    wanted: Enablement<'_>,
) -> Result<(tenant::Model, bool), TenantError> {
    let was_enabled = existing.state == EnablementState::Enabled;
    let datacenter_url = wanted.datacenter_url.or_else(|| existing.datacenter_url.clone());
    let unchanged = was_enabled
        && existing.name.as_deref() == Some(wanted.name)
        && existing.settings_json == wanted.settings_json
        && existing.datacenter_url == datacenter_url;
    if unchanged {
        return Ok((existing, false));
    }
    let kind = match (existing.kind, was_enabled) {
        (TenantKind::Partner, true) => EventKind::PartnerUpdated,
        (TenantKind::Partner, false) => EventKind::PartnerEnabled,
        (TenantKind::Customer, true) => EventKind::CustomerUpdated,
        (TenantKind::Customer, false) => EventKind::CustomerEnabled,
    };
    let mut update: tenant::ActiveModel = existing.into();
    update.state = Set(EnablementState::Enabled);
    update.name = Set(Some(wanted.name.to_owned()));
    update.settings_json = Set(wanted.settings_json);
    update.datacenter_url = Set(datacenter_url);
    update.updated_at = Set(Utc::now());
    let updated = update.update(tx).await?;
    record_event(tx, kind, &updated).await?;
    Ok((updated, true))
}

/// The refusal for a callback of a partner that has not enabled the CyberApp (or disabled it).
pub(super) fn partner_not_enabled() -> TenantError {
    TenantError::PermissionDenied("The CyberApp is not enabled for this partner.".into())
}
