//! Creates `callback_requests`: the idempotency log. A state-changing callback's outcome is stored here in
//! the same transaction as the change, so a retry with the same `request_id` gets the same answer and
//! changes nothing, across restarts and replicas. Rows expire after the configured retention.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string, text, timestamp_with_time_zone};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CallbackRequests::Table)
                    .col(string(CallbackRequests::RequestId).primary_key())
                    .col(string(CallbackRequests::RequestHash))
                    .col(string(CallbackRequests::ResponseId))
                    .col(text(CallbackRequests::OutcomeJson))
                    .col(timestamp_with_time_zone(CallbackRequests::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // The retention sweep deletes by age.
        manager
            .create_index(
                Index::create()
                    .name("ix_callback_requests_created_at")
                    .table(CallbackRequests::Table)
                    .col(CallbackRequests::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CallbackRequests::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum CallbackRequests {
    Table,
    RequestId,
    RequestHash,
    ResponseId,
    OutcomeJson,
    CreatedAt,
}
