//! `tenant_events`: the outbox. Every committed change to `tenants` or the directory adds a row here in the
//! same transaction; the sequencer then gives it its `position`, and a consumer that follows `position` sees
//! every change exactly once, in commit order.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_events")]
pub struct Model {
    /// Insertion order within one transaction; across transactions it is not commit order (see `position`).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What happened, e.g. `partner.enabled` (see `tenant::model::EventKind`).
    pub kind: String,
    pub vendor_tenant_id: String,
    pub acronis_tenant_id: Option<String>,
    pub occurred_at: DateTimeUtc,
    /// The cursor consumers see: 1, 2, 3, … in commit order; unset until the sequencer has seen the row.
    #[sea_orm(unique)]
    pub position: Option<i64>,
    /// The tenant record (or, for directory events, the organization) as the change left it, as JSON.
    pub snapshot_json: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
