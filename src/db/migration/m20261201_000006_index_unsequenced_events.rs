//! Splits the `tenant_events.position` index in two partial ones: the events not sequenced yet, and the
//! sequenced ones' unique positions.
//!
//! The sequencer, its probe and the read model's refresh look for `position IS NULL`. Through the unique
//! index on every `position`, `NULL`s included, PostgreSQL answered that with a bitmap scan, and bitmap scans
//! never mark the entries of rows since sequenced as dead: each sequenced event left its `NULL` entry to be
//! visited again, so each pass cost O(all events) until a vacuum (8-20 ms a call after 100,000 writes, see
//! `docs/performance.md`). Now `ix_tenant_events_unsequenced` holds only the unsequenced rows (usually none,
//! at most a batch or two), in id order, the order the sequencer assigns positions in, and
//! `ux_tenant_events_sequenced_position` keeps positions unique exactly as before (two `NULL`s never
//! collided) and serves `position > ?` and `MAX(position)` (queried with `position IS NOT NULL`, which
//! SQLite needs to use a partial index). The previous release's binary runs the same queries and finds them
//! served by the same two indexes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_tenant_events_unsequenced")
                    .table(TenantEvents::Table)
                    .col(TenantEvents::Id)
                    .and_where(Expr::col(TenantEvents::Position).is_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_tenant_events_sequenced_position")
                    .table(TenantEvents::Table)
                    .col(TenantEvents::Position)
                    .unique()
                    .and_where(Expr::col(TenantEvents::Position).is_not_null())
                    .to_owned(),
            )
            .await?;
        manager.drop_index(Index::drop().name(ALL_POSITIONS).table(TenantEvents::Table).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(ALL_POSITIONS)
                    .table(TenantEvents::Table)
                    .col(TenantEvents::Position)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name("ux_tenant_events_sequenced_position").table(TenantEvents::Table).to_owned())
            .await?;
        manager
            .drop_index(Index::drop().name("ix_tenant_events_unsequenced").table(TenantEvents::Table).to_owned())
            .await
    }
}

/// The index `m20261122_000004` created on every `position`.
const ALL_POSITIONS: &str = "ux_tenant_events_position";

#[derive(DeriveIden)]
enum TenantEvents {
    Table,
    Id,
    Position,
}
