//! `callback_requests`: the outcome of each state-changing callback, by `request_id` (the idempotency log).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "callback_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub request_id: String,
    /// SHA-256 of the canonical request body: the same `request_id` with another body is a conflict.
    pub request_hash: String,
    /// The `response_id` of the first answer, which every replay repeats.
    pub response_id: String,
    /// The TenantService's result, as JSON, from which the gateway renders the same response again.
    pub outcome_json: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
