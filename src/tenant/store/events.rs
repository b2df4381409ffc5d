//! The outbox: events written inside each change's transaction, sequenced after commit, read back in order.
//!
//! A row's `id` is drawn when it is inserted, so on PostgreSQL ids do not follow commit order: a reader that
//! followed `id` could step past a lower id whose transaction commits a moment later, and miss it for good.
//! So readers follow `position` instead, which [`TenantStore::sequence_events`] assigns only to committed
//! rows, one sequencing transaction at a time (an advisory lock on PostgreSQL, the single writer on SQLite),
//! densely from the current maximum. Positions therefore become visible in increasing order with no holes,
//! which also makes a pruned range detectable: the next event after cursor `c` is always `c + 1`.

use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use super::TenantStore;
use super::read_model::EventKeys;
use super::sql::placeholder;
use crate::db::entity::{organization, tenant, tenant_event};
use crate::tenant::error::TenantError;
use crate::tenant::model::EventKind;

/// Whether any committed event awaits its position, and the newest position (0 when there is none).
#[derive(FromQueryResult)]
struct Probe {
    pending: i64,
    head: i64,
}

/// Events given positions per sequencing transaction.
const SEQUENCE_BATCH: u64 = 1000;

/// Key of the PostgreSQL advisory lock that makes sequencers (one per replica) take turns.
const SEQUENCER_LOCK: i64 = 0x6379_6265_7261_7070; // "cyberapp"

/// An outbox row for a change to a tenant record; `after` is the record as the change left it.
pub(super) fn event(kind: EventKind, after: &tenant::Model) -> tenant_event::ActiveModel {
    unmapping_event(kind, after.acronis_tenant_id.as_deref(), after)
}

/// [`event`] for a change that took the Acronis tenant off the record: the event still names it.
pub(super) fn unmapping_event(
    kind: EventKind,
    acronis_tenant_id: Option<&str>,
    after: &tenant::Model,
) -> tenant_event::ActiveModel {
    tenant_event::ActiveModel {
        kind: Set(kind.as_str().to_owned()),
        vendor_tenant_id: Set(after.vendor_tenant_id.clone()),
        acronis_tenant_id: Set(acronis_tenant_id.map(str::to_owned)),
        occurred_at: Set(Utc::now()),
        snapshot_json: Set(serde_json::to_string(after).ok()),
        ..Default::default()
    }
}

pub(super) async fn record_event(
    tx: &DatabaseTransaction,
    kind: EventKind,
    after: &tenant::Model,
) -> Result<(), DbErr> {
    insert(tx, event(kind, after)).await
}

pub(super) async fn record_unmapping(
    tx: &DatabaseTransaction,
    kind: EventKind,
    acronis_tenant_id: &str,
    after: &tenant::Model,
) -> Result<(), DbErr> {
    insert(tx, unmapping_event(kind, Some(acronis_tenant_id), after)).await
}

/// Directory events name the organization in `vendor_tenant_id` and concern no Acronis tenant; an upsert
/// carries the organization as saved.
pub(super) async fn record_directory_event(
    tx: &DatabaseTransaction,
    kind: EventKind,
    organization_id: &str,
    saved: Option<&organization::Model>,
) -> Result<(), DbErr> {
    let row = tenant_event::ActiveModel {
        kind: Set(kind.as_str().to_owned()),
        vendor_tenant_id: Set(organization_id.to_owned()),
        acronis_tenant_id: Set(None),
        occurred_at: Set(Utc::now()),
        snapshot_json: Set(saved.and_then(|organization| serde_json::to_string(organization).ok())),
        ..Default::default()
    };
    insert(tx, row).await
}

async fn insert(tx: &DatabaseTransaction, row: tenant_event::ActiveModel) -> Result<(), DbErr> {
    tenant_event::Entity::insert(row).exec_without_returning(tx).await.map(drop)
}

impl TenantStore {
    /// Gives every committed event without a position its position, in insertion order, and returns the
    /// newest position (0 when there are no events).
    pub async fn sequence_events(&self) -> Result<u64, TenantError> {
        loop {
            // A cheap read first, one statement: most calls find nothing to do and need no write transaction.
            let probe = Probe::find_by_statement(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM tenant_events WHERE position IS NULL) THEN 1 ELSE 0 END \
                 AS BIGINT) AS pending, \
                 CAST(COALESCE((SELECT MAX(position) FROM tenant_events WHERE position IS NOT NULL), 0) AS BIGINT) AS head",
            ))
            .one(&self.db)
            .await?
            .unwrap_or(Probe { pending: 0, head: 0 });
            if probe.pending == 0 {
                return Ok(u64::try_from(probe.head).unwrap_or(0));
            }
            let (_turn, tx) = self.begin_write().await?;
            let backend = tx.get_database_backend();
            if backend == DbBackend::Postgres {
                tx.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({SEQUENCER_LOCK})")).await?;
            }
            // The maximum is read inside the statement, after the lock: it includes every earlier batch.
            let sql = format!(
                "UPDATE tenant_events SET position = s.base + s.rn
                 FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn,
                              (SELECT COALESCE(MAX(position), 0) FROM tenant_events
                                WHERE position IS NOT NULL) AS base
                       FROM tenant_events WHERE position IS NULL ORDER BY id LIMIT {SEQUENCE_BATCH}) AS s
                 WHERE tenant_events.id = s.id"
            );
            let assigned = tx.execute_unprepared(&sql).await?.rows_affected();
            tx.commit().await?;
            if assigned < SEQUENCE_BATCH {
                return self.event_head().await;
            }
        }
    }

    /// The newest sequenced position (0 when there is none).
    pub async fn event_head(&self) -> Result<u64, TenantError> {
        let head: Option<Option<i64>> = tenant_event::Entity::find()
            .select_only()
            .column_as(tenant_event::Column::Position.max(), "head")
            // The partial index of positions serves the maximum only when the query names its condition.
            .filter(tenant_event::Column::Position.is_not_null())
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(head.flatten().map_or(0, |head| u64::try_from(head).unwrap_or(0)))
    }

    /// Up to `limit` sequenced events after position `cursor`, in order.
    pub async fn events_after(&self, cursor: u64, limit: u64) -> Result<Vec<tenant_event::Model>, TenantError> {
        let cursor = i64::try_from(cursor)
            .map_err(|_| TenantError::InvalidArgument("the event cursor is out of range".into()))?;
        Ok(tenant_event::Entity::find()
            .filter(tenant_event::Column::Position.gt(cursor))
            .order_by_asc(tenant_event::Column::Position)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// What the events after position `cursor` invalidate: up to `limit` sequenced ones, in order, then up
    /// to `limit` not sequenced yet (committed all the same).
    ///
    /// Two index range scans in one statement: an `OR` of the two conditions with one `ORDER BY` made
    /// PostgreSQL sort the whole outbox on every refresh (23 ms a read with 110,000 events). The unsequenced
    /// ones come in id order, read from the partial index `ix_tenant_events_unsequenced`.
    ///
    /// The sequenced ones are read as a window of `limit` positions, which holds the next `limit` events
    /// since positions are dense: from the cursor on, or from the oldest event kept when the cursor points
    /// into expired ones (the caller then sees the gap). A bounded range is what keeps PostgreSQL's plan right:
    /// with `position > $1 … LIMIT` alone, the plan a connection made while the outbox was small (kept until
    /// an `ANALYZE`) scanned and sorted the whole table, 13-70 ms a refresh once it held 150,000 events.
    /// The window's start is one row joined to the events, so the oldest position is looked up once; both
    /// databases read the window as an index range scan parameterised by that row.
    pub(super) async fn event_keys_after(&self, cursor: u64, limit: u64) -> Result<Vec<EventKeys>, TenantError> {
        let backend = self.db.get_database_backend();
        let columns = "id, position, kind, vendor_tenant_id, acronis_tenant_id";
        let cursor_param = placeholder(backend, 1);
        let window = format!(
            "(SELECT CASE WHEN {cursor_param} >= oldest THEN {cursor_param} ELSE oldest END AS start_after \
              FROM (SELECT COALESCE(MIN(position), 1) - 1 AS oldest FROM tenant_events \
                    WHERE position IS NOT NULL) AS kept) AS window_start"
        );
        let sql = format!(
            "SELECT {columns} FROM {window} JOIN tenant_events \
               ON position > window_start.start_after AND position <= window_start.start_after + {limit} \
             UNION ALL \
             SELECT {columns} FROM (SELECT {columns} FROM tenant_events WHERE position IS NULL \
                                    ORDER BY id LIMIT {limit}) AS unsequenced"
        );
        let cursor = i64::try_from(cursor).unwrap_or(i64::MAX);
        let mut events = EventKeys::find_by_statement(Statement::from_sql_and_values(backend, sql, [cursor.into()]))
            .all(&self.db)
            .await?;
        // UNION ALL promises no order: the sequenced ones first, by position, then the others by id.
        events.sort_by_key(|event| (event.position.is_none(), event.position, event.id));
        Ok(events)
    }

    /// Deletes sequenced events older than `retention`, always keeping the newest one: positions continue
    /// from the maximum, so it must never go back. Returns how many were deleted.
    pub async fn expire_events(&self, retention: std::time::Duration) -> Result<u64, TenantError> {
        let head = i64::try_from(self.event_head().await?).unwrap_or(i64::MAX);
        let deleted = tenant_event::Entity::delete_many()
            .filter(tenant_event::Column::Position.is_not_null())
            .filter(tenant_event::Column::Position.lt(head))
            .filter(tenant_event::Column::OccurredAt.lt(super::cutoff(retention)))
            .exec(&self.db)
            .await?;
        Ok(deleted.rows_affected)
    }
}
