//! What the gateway asks before it calls a vendor's custom-callback handler: who the calling tenant is
//! ([`CallbackTenant`]), and the exactly-once ledger of routes that asked for it, kept in the idempotency log
//! (`callback_requests`) beside the standard callbacks' records.
//!
//! Unlike a standard callback, whose change commits in the same transaction as its record, a custom callback's
//! work happens in the vendor's service, outside any transaction of ours. So the ledger claims the
//! `request_id` in a short transaction of its own (a row with an empty outcome), the gateway calls the handler
//! with no transaction open (on SQLite one would stall every other writer for the handler's whole time), and
//! the answer is recorded afterwards, or the claim released when the handler failed. A claim whose holder died
//! is taken over once its lease has run out.

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

use super::TenantStore;
use super::idempotency::IdempotencyKey;
use crate::db::entity::callback_request;
use crate::db::entity::tenant::{self, EnablementState, TenantKind};
use crate::tenant::error::TenantError;
use crate::tenant::model::AcronisTenantId;

/// The record of a callback's `context.tenant_id`, and for a customer its partner's.
#[derive(Debug, Clone, Default)]
pub struct CallbackTenant {
    pub tenant: Option<tenant::Model>,
    pub partner: Option<tenant::Model>,
}

impl CallbackTenant {
    /// Enabled here: the tenant's record is enabled (a mapped record is enabled while it is mapped) and, for a
    /// customer, so is its partner's, since a partner's reset or disable switches its customers off with it.
    pub fn is_enabled(&self) -> bool {
        let enabled =
            |record: &Option<tenant::Model>| record.as_ref().is_some_and(|r| r.state == EnablementState::Enabled);
        match self.tenant.as_ref().map(|record| record.kind) {
            Some(TenantKind::Partner) => enabled(&self.tenant),
            Some(TenantKind::Customer) => enabled(&self.tenant) && enabled(&self.partner),
            None => false,
        }
    }
}

/// How a `request_id` of an exactly-once route stands after [`TenantStore::begin_custom_callback`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CustomCallbackClaim {
    /// This call owns it: call the handler, then finish with the answer (or release it).
    Claimed,
    /// Answered before, with this `response_id`: answer the same again.
    Replay { response_id: String, answer_json: String },
}

/// A claimed request whose answer is not recorded yet has this outcome.
const PENDING: &str = "";

impl TenantStore {
    pub async fn callback_tenant(&self, id: AcronisTenantId) -> Result<CallbackTenant, TenantError> {
        let Some(record) = self.tenant_by_acronis_id(id).await? else {
            return Ok(CallbackTenant::default());
        };
        let partner = match (record.kind, record.partner_acronis_tenant_id.as_deref()) {
            (TenantKind::Customer, Some(partner)) => {
                self.tenant_by_acronis_id(AcronisTenantId::parse(partner, "partner_acronis_tenant_id")?).await?
            }
            _ => None,
        };
        Ok(CallbackTenant { tenant: Some(record), partner })
    }

    /// Claims `key`'s request for one handler call, or finds its recorded answer. The same `request_id` with
    /// another body is [`TenantError::RequestIdReused`]; a claim younger than `lease` is still in progress
    /// ([`TenantError::Throttled`]: retry shortly).
    pub async fn begin_custom_callback(
        &self,
        key: &IdempotencyKey,
        lease: Duration,
    ) -> Result<CustomCallbackClaim, TenantError> {
        self.write(|tx| {
            let key = key.clone();
            Box::pin(async move {
                let now = Utc::now();
                let row = callback_request::ActiveModel {
                    request_id: Set(key.request_id.clone()),
                    request_hash: Set(key.request_hash.clone()),
                    response_id: Set(key.response_id.clone()),
                    outcome_json: Set(PENDING.to_owned()),
                    created_at: Set(now),
                };
                let inserted = callback_request::Entity::insert(row)
                    .on_conflict(OnConflict::column(callback_request::Column::RequestId).do_nothing().to_owned())
                    .exec_without_returning(tx)
                    .await?;
                if inserted == 1 {
                    return Ok(CustomCallbackClaim::Claimed);
                }
                let prior = callback_request::Entity::find_by_id(&key.request_id)
                    .one(tx)
                    .await?
                    .ok_or_else(|| TenantError::Fault("a claimed custom callback vanished".into()))?;
                if prior.request_hash != key.request_hash {
                    return Err(TenantError::RequestIdReused);
                }
                if prior.outcome_json != PENDING {
                    return Ok(CustomCallbackClaim::Replay {
                        response_id: prior.response_id,
                        answer_json: prior.outcome_json,
                    });
                }
                let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
                if prior.created_at > now - lease {
                    return Err(TenantError::Throttled {
                        reason: "This request is still being processed; please retry shortly.",
                        retry_after: Duration::from_secs(1),
                    });
                }
                // The holder's lease ran out with no answer recorded: it died, so this call takes over.
                tracing::warn!(request_id = %key.request_id, "taking over an expired custom-callback claim");
                callback_request::Entity::update_many()
                    .col_expr(callback_request::Column::ResponseId, Expr::value(key.response_id.clone()))
                    .col_expr(callback_request::Column::CreatedAt, Expr::value(now))
                    .filter(callback_request::Column::RequestId.eq(key.request_id.as_str()))
                    .exec(tx)
                    .await?;
                Ok(CustomCallbackClaim::Claimed)
            })
        })
        .await
    }

    /// Records `answer_json` for the claim `(request_id, response_id)`, or with `None` releases it. A claim
    /// that was taken over meanwhile (its lease ran out) is left to its new holder.
    pub async fn finish_custom_callback(
        &self,
        request_id: &str,
        response_id: &str,
        answer_json: Option<&str>,
    ) -> Result<(), TenantError> {
        if answer_json == Some(PENDING) {
            return Err(TenantError::InvalidArgument("answer_json must not be empty".into()));
        }
        let matched = self
            .write(|tx| {
                let (request_id, response_id, answer_json) =
                    (request_id.to_owned(), response_id.to_owned(), answer_json.map(str::to_owned));
                Box::pin(async move {
                    let claim = Condition::all()
                        .add(callback_request::Column::RequestId.eq(request_id))
                        .add(callback_request::Column::ResponseId.eq(response_id))
                        .add(callback_request::Column::OutcomeJson.eq(PENDING));
                    let rows = match answer_json {
                        Some(answer) => {
                            callback_request::Entity::update_many()
                                .col_expr(callback_request::Column::OutcomeJson, Expr::value(answer))
                                .filter(claim)
                                .exec(tx)
                                .await?
                                .rows_affected
                        }
                        None => callback_request::Entity::delete_many().filter(claim).exec(tx).await?.rows_affected,
                    };
                    Ok(rows)
                })
            })
            .await?;
        if matched == 0 {
            tracing::warn!(request_id, "a custom-callback claim was taken over before its answer was recorded");
        }
        Ok(())
    }
}
