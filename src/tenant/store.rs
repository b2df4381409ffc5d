//! `TenantStore`: every query and transaction on the tenant record. No tonic or HTTP types here.
//!
//! Each change runs in one write transaction that also writes its outbox events, so a change and its event
//! commit together or not at all. On SQLite a write transaction starts with `BEGIN IMMEDIATE`: a deferred
//! transaction that reads first and writes later fails at once with "database is locked" when another writer
//! got in between, whereas an immediate one waits for the lock under the busy timeout.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QuerySelect, SqlErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use uuid::Uuid;

use super::error::TenantError;
use super::model::{AcronisTenantId, EventKind, Settings};
use crate::db::entity::tenant::{self, EnablementMethod, EnablementState, TenantKind};
use crate::db::entity::tenant_event;

/// How often a write transaction is tried when it collides with a concurrent one.
const WRITE_ATTEMPTS: usize = 3;

#[derive(Debug, Clone)]
pub struct TenantStore {
    db: DatabaseConnection,
}

/// What `enable_mirrored_partner` needs to know.
#[derive(Debug, Clone)]
pub struct MirroredPartnerEnablement {
    pub acronis_tenant_id: AcronisTenantId,
    pub name: String,
    pub settings: Option<Settings>,
    pub datacenter_url: Option<String>,
}

impl TenantStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The partner record of an Acronis tenant, whatever its state; `None` when there is none.
    pub async fn partner(&self, id: AcronisTenantId) -> Result<Option<tenant::Model>, TenantError> {
        Ok(tenant::Entity::find()
            .filter(tenant::Column::AcronisTenantId.eq(id.to_string()))
            .filter(tenant::Column::Kind.eq(TenantKind::Partner))
            .one(&self.db)
            .await?)
    }

    /// Creates or re-enables the mirrored partner record and returns it.
    ///
    /// Concurrent first enables of one tenant race on the unique Acronis tenant id; the loser retries and
    /// finds the winner's record, so both answer with the same vendor tenant id.
    pub async fn enable_mirrored_partner(
        &self,
        enablement: &MirroredPartnerEnablement,
    ) -> Result<tenant::Model, TenantError> {
        self.write(|tx| {
            let enablement = enablement.clone();
            Box::pin(async move { enable_mirrored_partner_in(tx, &enablement).await })
        })
        .await
    }

    /// Disables a mirrored partner and all of its enabled customers; returns how many customers it disabled.
    /// An unknown or already disabled partner is not an error.
    pub async fn reset_mirrored_partner(&self, id: AcronisTenantId) -> Result<u64, TenantError> {
        self.write(move |tx| Box::pin(reset_mirrored_partner_in(tx, id))).await
    }

    /// Runs `work` in a write transaction, committing on `Ok`. A unique-key collision with a concurrent
    /// writer is retried a bounded number of times before it is reported.
    async fn write<T, F>(&self, work: F) -> Result<T, TenantError>
    where
        F: for<'t> Fn(
            &'t DatabaseTransaction,
        ) -> std::pin::Pin<Box<dyn Future<Output = Result<T, TenantError>> + Send + 't>>,
    {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        let mut attempt = 1;
        loop {
            let tx = self.db.begin_with_options(options).await?;
            let outcome = match work(&tx).await {
                Ok(value) => tx.commit().await.map(|()| value).map_err(TenantError::from),
                // Dropping the transaction rolls it back.
                Err(error) => Err(error),
            };
            match outcome {
                Err(TenantError::Internal(ref db_error) | TenantError::Unavailable(ref db_error))
                    if is_collision(db_error) && attempt < WRITE_ATTEMPTS =>
                {
                    tracing::debug!(attempt, "write collided with a concurrent one; retrying");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// A unique-key race with a concurrent insert, or a PostgreSQL serialization failure or deadlock: the
/// transaction lost a race and a retry will see the winner's result.
fn is_collision(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) || super::error::is_lost_race(error)
}

async fn enable_mirrored_partner_in(
    tx: &DatabaseTransaction,
    enablement: &MirroredPartnerEnablement,
) -> Result<tenant::Model, TenantError> {
    let acronis_id = enablement.acronis_tenant_id.to_string();
    let settings = enablement.settings.as_ref().map(|s| s.as_json().to_owned());
    let now = Utc::now();
    // FOR UPDATE (PostgreSQL; SQLite's BEGIN IMMEDIATE already serializes writers): a concurrent reset or
    // enable of the same partner waits for this transaction instead of interleaving with it.
    let existing = tenant::Entity::find()
        .filter(tenant::Column::AcronisTenantId.eq(acronis_id.as_str()))
        .lock_exclusive()
        .one(tx)
        .await?;

    let Some(existing) = existing else {
        let created = tenant::ActiveModel {
            vendor_tenant_id: Set(Uuid::new_v4().to_string()),
            acronis_tenant_id: Set(Some(acronis_id)),
            kind: Set(TenantKind::Partner),
            enablement_method: Set(EnablementMethod::Mirrored),
            state: Set(EnablementState::Enabled),
            partner_acronis_tenant_id: Set(None),
            name: Set(Some(enablement.name.clone())),
            settings_json: Set(settings),
            datacenter_url: Set(enablement.datacenter_url.clone()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(tx)
        .await?;
        record_event(tx, EventKind::PartnerEnabled, &created).await?;
        return Ok(created);
    };

    if existing.kind != TenantKind::Partner || existing.enablement_method != EnablementMethod::Mirrored {
        return Err(TenantError::PermissionDenied(
            "This Acronis tenant is already enabled with another enablement method; disable it there first.".into(),
        ));
    }
    let was_enabled = existing.state == EnablementState::Enabled;
    let datacenter_url = enablement.datacenter_url.clone().or_else(|| existing.datacenter_url.clone());
    let unchanged = was_enabled
        && existing.name.as_deref() == Some(enablement.name.as_str())
        && existing.settings_json == settings
        && existing.datacenter_url == datacenter_url;
    if unchanged {
        return Ok(existing);
    }
    let mut update: tenant::ActiveModel = existing.into();
    update.state = Set(EnablementState::Enabled);
    update.name = Set(Some(enablement.name.clone()));
    update.settings_json = Set(settings);
    update.datacenter_url = Set(datacenter_url);
    update.updated_at = Set(now);
    let updated = update.update(tx).await?;
    let kind = if was_enabled { EventKind::PartnerUpdated } else { EventKind::PartnerEnabled };
    record_event(tx, kind, &updated).await?;
    Ok(updated)
}

async fn reset_mirrored_partner_in(tx: &DatabaseTransaction, id: AcronisTenantId) -> Result<u64, TenantError> {
    let acronis_id = id.to_string();
    let partner = tenant::Entity::find()
        .filter(tenant::Column::AcronisTenantId.eq(acronis_id.as_str()))
        .filter(tenant::Column::Kind.eq(TenantKind::Partner))
        .filter(tenant::Column::EnablementMethod.eq(EnablementMethod::Mirrored))
        .lock_exclusive()
        .one(tx)
        .await?;
    let Some(partner) = partner else { return Ok(0) };
    let now = Utc::now();

    if partner.state == EnablementState::Enabled {
        let mut update: tenant::ActiveModel = partner.into();
        update.state = Set(EnablementState::Disabled);
        update.updated_at = Set(now);
        let disabled = update.update(tx).await?;
        record_event(tx, EventKind::PartnerDisabled, &disabled).await?;
    }

    let enabled_customers = tenant::Entity::find()
        .filter(tenant::Column::PartnerAcronisTenantId.eq(acronis_id.as_str()))
        .filter(tenant::Column::Kind.eq(TenantKind::Customer))
        .filter(tenant::Column::State.eq(EnablementState::Enabled))
        .all(tx)
        .await?;
    if enabled_customers.is_empty() {
        return Ok(0);
    }
    let disabled = tenant::Entity::update_many()
        .col_expr(tenant::Column::State, Expr::value(EnablementState::Disabled))
        .col_expr(tenant::Column::UpdatedAt, Expr::value(now))
        .filter(tenant::Column::Id.is_in(enabled_customers.iter().map(|c| c.id)))
        .exec(tx)
        .await?
        .rows_affected;
    let events = enabled_customers.iter().map(|customer| event(EventKind::CustomerDisabled, customer));
    tenant_event::Entity::insert_many(events).exec_without_returning(tx).await?;
    Ok(disabled)
}

fn event(kind: EventKind, tenant: &tenant::Model) -> tenant_event::ActiveModel {
    tenant_event::ActiveModel {
        kind: Set(kind.as_str().to_owned()),
        vendor_tenant_id: Set(tenant.vendor_tenant_id.clone()),
        acronis_tenant_id: Set(tenant.acronis_tenant_id.clone()),
        occurred_at: Set(Utc::now()),
        ..Default::default()
    }
}

async fn record_event(tx: &DatabaseTransaction, kind: EventKind, tenant: &tenant::Model) -> Result<(), DbErr> {
    tenant_event::Entity::insert(event(kind, tenant)).exec_without_returning(tx).await.map(drop)
}
