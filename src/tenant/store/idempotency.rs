//! The idempotency log (`callback_requests`): how a callback's outcome is claimed, recorded and replayed.
//! The runner that uses it is `TenantStore::write_once`.

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::TenantStore;
use crate::db::entity::callback_request;
use crate::tenant::error::TenantError;

/// Identifies one callback: its `request_id`, a hash of its body, and the `response_id` to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub request_id: String,
    pub request_hash: String,
    pub response_id: String,
}

/// A write's outcome, with the `response_id` it was (first) answered with when it carried a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded<T> {
    pub outcome: T,
    pub response_id: Option<String>,
    /// Whether this is the stored outcome of an earlier identical request (nothing was applied now).
    pub replayed: bool,
}

/// Inserts the log row first, and returns `true` when this transaction now owns the request: its primary key
/// makes a concurrent duplicate wait for this transaction to end. `false` means the request was recorded
/// already (by a committed earlier call, or by one this insert waited for): replay it.
pub(super) async fn claim(tx: &DatabaseTransaction, key: &IdempotencyKey) -> Result<bool, TenantError> {
    let row = callback_request::ActiveModel {
        request_id: Set(key.request_id.clone()),
        request_hash: Set(key.request_hash.clone()),
        response_id: Set(key.response_id.clone()),
        outcome_json: Set(String::new()),
        created_at: Set(Utc::now()),
    };
    let inserted = callback_request::Entity::insert(row)
        .on_conflict(OnConflict::column(callback_request::Column::RequestId).do_nothing().to_owned())
        .exec_without_returning(tx)
        .await?;
    Ok(inserted == 1)
}

/// The recorded outcome of `key`'s request, which [`claim`] found recorded.
pub(super) async fn recorded<T: DeserializeOwned>(
    tx: &DatabaseTransaction,
    key: &IdempotencyKey,
) -> Result<Recorded<T>, TenantError> {
    let prior = callback_request::Entity::find_by_id(&key.request_id)
        .one(tx)
        .await?
        .ok_or_else(|| TenantError::Fault("a recorded callback vanished while it was replayed".into()))?;
    replay(prior, key)
}

pub(super) async fn record<T: Serialize>(
    tx: &DatabaseTransaction,
    key: &IdempotencyKey,
    outcome: &T,
) -> Result<(), TenantError> {
    let json = serde_json::to_string(outcome)
        .map_err(|error| TenantError::Fault(format!("cannot record outcome: {error}")))?;
    callback_request::Entity::update_many()
        .col_expr(callback_request::Column::OutcomeJson, Expr::value(json))
        .filter(callback_request::Column::RequestId.eq(key.request_id.as_str()))
        .exec(tx)
        .await?;
    Ok(())
}

fn replay<T: DeserializeOwned>(
    prior: callback_request::Model,
    key: &IdempotencyKey,
) -> Result<Recorded<T>, TenantError> {
    if prior.request_hash != key.request_hash {
        return Err(TenantError::RequestIdReused);
    }
    let outcome = serde_json::from_str(&prior.outcome_json)
        .map_err(|error| TenantError::Fault(format!("cannot replay a recorded outcome: {error}")))?;
    Ok(Recorded { outcome, response_id: Some(prior.response_id), replayed: true })
}

/// Deletes log rows older than `retention`; returns how many.
impl TenantStore {
    /// Deletes idempotency records older than `retention`; returns how many.
    pub async fn expire_idempotency_log(&self, retention: std::time::Duration) -> Result<u64, TenantError> {
        Ok(callback_request::Entity::delete_many()
            .filter(callback_request::Column::CreatedAt.lt(super::cutoff(retention)))
            .exec(&self.db)
            .await?
            .rows_affected)
    }
}
