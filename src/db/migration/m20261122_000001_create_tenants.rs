//! Creates `tenants` (partner and customer records with their enablement state) and `tenant_events` (the
//! outbox of changes). The one-to-one rules live here as unique indexes, so no code path can break them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_pk_auto, string, string_null, string_uniq, text_null, timestamp_with_time_zone};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(big_pk_auto(Tenants::Id))
                    .col(string_uniq(Tenants::VendorTenantId))
                    .col(string_null(Tenants::AcronisTenantId))
                    .col(string(Tenants::Kind))
                    .col(string(Tenants::EnablementMethod))
                    .col(string(Tenants::State))
                    .col(string_null(Tenants::PartnerAcronisTenantId))
                    .col(string_null(Tenants::Name))
                    .col(text_null(Tenants::SettingsJson))
                    .col(string_null(Tenants::DatacenterUrl))
                    .col(timestamp_with_time_zone(Tenants::CreatedAt))
                    .col(timestamp_with_time_zone(Tenants::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // NULLs do not collide in a unique index (SQLite and PostgreSQL alike), so unmapped vendor accounts
        // can coexist while every Acronis tenant maps to at most one vendor tenant.
        manager
            .create_index(
                Index::create()
                    .name("ux_tenants_acronis_tenant_id")
                    .table(Tenants::Table)
                    .col(Tenants::AcronisTenantId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_tenants_partner_acronis_tenant_id")
                    .table(Tenants::Table)
                    .col(Tenants::PartnerAcronisTenantId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TenantEvents::Table)
                    .col(big_pk_auto(TenantEvents::Id))
                    .col(string(TenantEvents::Kind))
                    .col(string(TenantEvents::VendorTenantId))
                    .col(string_null(TenantEvents::AcronisTenantId))
                    .col(timestamp_with_time_zone(TenantEvents::OccurredAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TenantEvents::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Tenants::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    VendorTenantId,
    AcronisTenantId,
    Kind,
    EnablementMethod,
    State,
    PartnerAcronisTenantId,
    Name,
    SettingsJson,
    DatacenterUrl,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TenantEvents {
    Table,
    Id,
    Kind,
    VendorTenantId,
    AcronisTenantId,
    OccurredAt,
}
