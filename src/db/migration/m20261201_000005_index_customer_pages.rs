//! Indexes that let a page of a partner's customers (`customer_mapping`) read about a page of rows.
//!
//! `organizations (parent_id, kind, id)`: the walk down a partner finds the partner children of an
//! organization without reading its customers, and the customers under one organization come in id order
//! from a cursor on, so a page stops after its rows. `tenants (partner_acronis_tenant_id, vendor_tenant_id)`:
//! the customers a partner mapped, in id order from a cursor on. The single-column indexes they extend stay,
//! since the previous release's binary may still serve with them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_organizations_parent_id_kind_id")
                    .table(Organizations::Table)
                    .col(Organizations::ParentId)
                    .col(Organizations::Kind)
                    .col(Organizations::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_tenants_partner_acronis_tenant_id_vendor_tenant_id")
                    .table(Tenants::Table)
                    .col(Tenants::PartnerAcronisTenantId)
                    .col(Tenants::VendorTenantId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_tenants_partner_acronis_tenant_id_vendor_tenant_id")
                    .table(Tenants::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name("ix_organizations_parent_id_kind_id").table(Organizations::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    ParentId,
    Kind,
    Id,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    PartnerAcronisTenantId,
    VendorTenantId,
}
