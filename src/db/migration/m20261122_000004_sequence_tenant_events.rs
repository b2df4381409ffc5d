//! Gives `tenant_events` a commit-ordered cursor and the record each event is about.
//!
//! `id` comes from a sequence that is drawn when a row is inserted, not when it commits, so on PostgreSQL a
//! reader following `id` could pass a lower id that commits a moment later and miss it for good. `position`
//! is assigned after commit by the sequencer (`tenant::store::events`), one transaction at a time, densely
//! and in increasing order: a reader following `position` misses nothing. `snapshot_json` is the tenant
//! record (or directory organization) as the change left it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer_null, text_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(TenantEvents::Table)
                    .add_column(big_integer_null(TenantEvents::Position))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(TenantEvents::Table).add_column(text_null(TenantEvents::SnapshotJson)).to_owned(),
            )
            .await?;
        // Unique: two events can never share a cursor. It also serves the readers' `position > ?` scans and
        // the sequencer's `position IS NULL` lookup.
        manager
            .create_index(
                Index::create()
                    .name("ux_tenant_events_position")
                    .table(TenantEvents::Table)
                    .col(TenantEvents::Position)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("ux_tenant_events_position").table(TenantEvents::Table).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(TenantEvents::Table).drop_column(TenantEvents::SnapshotJson).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(TenantEvents::Table).drop_column(TenantEvents::Position).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum TenantEvents {
    Table,
    Position,
    SnapshotJson,
}
