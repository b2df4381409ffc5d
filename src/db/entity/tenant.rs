//! `tenants`: one row per Acronis partner or customer known to this CyberApp, with its vendor account.
//!
//! Both keys are unique: a vendor tenant maps to at most one Acronis tenant and vice versa. Records are never
//! deleted by a disable; `state` says whether the CyberApp is enabled for them.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The vendor-side account id (generated for mirrored records, a directory organization for mapped ones).
    #[sea_orm(unique)]
    pub vendor_tenant_id: String,
    /// The Acronis tenant UUID, lower-case; unset for a vendor account that is not mapped.
    #[sea_orm(unique)]
    pub acronis_tenant_id: Option<String>,
    pub kind: TenantKind,
    pub enablement_method: EnablementMethod,
    pub state: EnablementState,
    /// For customers: the Acronis tenant of the partner they belong to.
    pub partner_acronis_tenant_id: Option<String>,
    pub name: Option<String>,
    /// The "Additional settings" object from the enablement form, as JSON text.
    pub settings_json: Option<String>,
    pub datacenter_url: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum TenantKind {
    #[sea_orm(string_value = "partner")]
    Partner,
    #[sea_orm(string_value = "customer")]
    Customer,
}

/// How the record came to be: created by a mirroring callback, or a vendor account mapped by the partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum EnablementMethod {
    #[sea_orm(string_value = "mirrored")]
    Mirrored,
    #[sea_orm(string_value = "mapped")]
    Mapped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum EnablementState {
    #[sea_orm(string_value = "enabled")]
    Enabled,
    #[sea_orm(string_value = "disabled")]
    Disabled,
}
