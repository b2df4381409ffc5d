//! Schema migrations, applied in name order by `serve` (unless `--no-migrate`) and by `migrate`.
//!
//! A migration, once released, is never edited: a change of schema is a new file
//! `mYYYYMMDD_NNNNNN_<verb>_<object>.rs`. Each one is written against table and column names, not the
//! entities, so it stays valid while the entities evolve.

mod m20261122_000001_create_tenants;
mod m20261122_000002_create_directory;
mod m20261122_000003_create_callback_requests;
mod m20261122_000004_sequence_tenant_events;

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_tenants::Migration),
            Box::new(m20261122_000002_create_directory::Migration),
            Box::new(m20261122_000003_create_callback_requests::Migration),
            Box::new(m20261122_000004_sequence_tenant_events::Migration),
        ]
    }
}
