//! `tenant_events`: the outbox. Every committed change to `tenants` adds a row here in the same transaction,
//! so a consumer that follows `id` sees every change exactly once.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_events")]
pub struct Model {
    /// The cursor: increases with every event.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What happened, e.g. `partner.enabled` (see `tenant::model::EventKind`).
    pub kind: String,
    pub vendor_tenant_id: String,
    pub acronis_tenant_id: Option<String>,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
