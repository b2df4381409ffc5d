//! Schema migrations, applied in name order by `serve` (unless `--no-migrate`) and by `migrate`.
//!
//! A migration, once released, is never edited: a change of schema is a new file
//! `mYYYYMMDD_NNNNNN_<verb>_<object>.rs`. Each one is written against table and column names, not the
//! entities, so it stays valid while the entities evolve.
//!
//! Rollback-safe: after `helm rollback` (or while a rollout is half done) this binary meets a database that a
//! newer release migrated further. Migrations it does not know are logged and otherwise ignored: the schema
//! counts as current when every migration this binary knows is applied ([`schema_status`]), and `migrate`
//! applies only its own pending ones. That is safe because each migration stays compatible with the
//! previous release's binary (add first; drop or rename a release later).
//!
//! `.ci/migration-compat` checks that promise in CI. `released.txt` records the migrations of released
//! versions with their sha256: a released one must not change, and a new one (not listed) may drop or rename
//! a table or column in its `up` only with a marker line naming the earlier release that stopped using it,
//! `// compat: stopped using <table>[.<column>] in release <version>`, where `<version>` is a release in
//! `released.txt` and nothing in `src/` outside this directory references the name any more. At release
//! time, run `.ci/migration-compat --record <version>` (the version in Cargo.toml): it appends
//! `release <version>` and the sha256 of every migration not recorded yet.

mod m20261122_000001_create_tenants;
mod m20261122_000002_create_directory;
mod m20261122_000003_create_callback_requests;
mod m20261122_000004_sequence_tenant_events;
mod m20261201_000005_index_customer_pages;
mod m20261201_000006_index_unsequenced_events;

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, EntityTrait, FromQueryResult, Statement};
use sea_orm_migration::prelude::*;
use sea_orm_migration::seaql_migrations;

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
            Box::new(m20261201_000005_index_customer_pages::Migration),
            Box::new(m20261201_000006_index_unsequenced_events::Migration),
        ]
    }

    /// The applied migrations this binary knows. sea-orm-migration refuses to migrate (or even to list what
    /// is pending) while the table records one it has no file for; a newer release's are left out here.
    async fn get_migration_models<C>(db: &C) -> Result<Vec<seaql_migrations::Model>, DbErr>
    where
        C: ConnectionTrait,
    {
        Self::install(db).await?;
        let known = known_versions();
        let (ours, newer): (Vec<_>, Vec<_>) =
            seaql_migrations::Entity::find().all(db).await?.into_iter().partition(|row| known.contains(&row.version));
        warn_about_newer(&newer.into_iter().map(|row| row.version).collect::<Vec<_>>());
        Ok(ours)
    }
}

/// Where the schema stands for this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Migrations of this binary not applied yet: while any is, the schema is not current.
    pub pending: Vec<String>,
    /// Applied migrations this binary does not know (a newer release's): logged, never fatal.
    pub newer: Vec<String>,
}

impl SchemaStatus {
    pub fn is_current(&self) -> bool {
        self.pending.is_empty()
    }
}

#[derive(FromQueryResult)]
struct AppliedVersion {
    version: String,
}

/// Reads which migrations are applied, without creating or changing anything (so a database user without
/// DDL rights can ask); an error when the migration table does not exist yet.
pub async fn schema_status<C: ConnectionTrait>(db: &C) -> Result<SchemaStatus, DbErr> {
    let statement = Statement::from_string(db.get_database_backend(), "SELECT version FROM seaql_migrations");
    let applied: HashSet<String> =
        AppliedVersion::find_by_statement(statement).all(db).await?.into_iter().map(|row| row.version).collect();
    let known = known_versions();
    let pending = Migrator::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .filter(|name| !applied.contains(name))
        .collect();
    let mut newer: Vec<String> = applied.into_iter().filter(|version| !known.contains(version)).collect();
    newer.sort();
    Ok(SchemaStatus { pending, newer })
}

/// Logs the applied migrations this binary does not know, if any.
pub fn warn_about_newer(newer: &[String]) {
    if !newer.is_empty() {
        tracing::warn!(
            migrations = newer.join(","),
            "the database has migrations of a newer release; serving with this release's schema (rolled back?)"
        );
    }
}

fn known_versions() -> HashSet<String> {
    Migrator::migrations().iter().map(|migration| migration.name().to_owned()).collect()
}
