//! `tenant_mapping.write` in one transaction, with a fixed number of reads whatever the number of pairs.
//!
//! The changes are applied one after the other, exactly as listed (a later pair sees what an earlier one did:
//! a swap, or one customer named twice, works). But nothing is looked up per pair: which of the named
//! customers are under the partner, their records, and the records holding the Acronis tenants they are
//! mapped to are read (and locked) up front in a [`Workset`], which each change then consults and updates.
//! Only the writes themselves are per pair, and the events go out in one insert at the end.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SubsecRound as _, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, FromQueryResult as _,
    QueryFilter, QuerySelect, Statement, Value,
};

use super::NewTenant;
use super::directory::{CustomerOrganizationRow, placeholder};
use super::events::{event, unmapping_event};
use crate::db::entity::tenant::{self, EnablementMethod, EnablementState, TenantKind};
use crate::db::entity::tenant_event;
use crate::tenant::error::TenantError;
use crate::tenant::model::EventKind;

use super::customer_mapping::CustomerMappingChange;

/// Ids bound in one `IN (…)` list; well below SQLite's and PostgreSQL's limits on bind parameters.
const IDS_PER_STATEMENT: usize = 500;

/// Applies `changes` for the partner whose record (`partner_record`, locked by the caller) and Acronis
/// tenant (`partner_id`) are given: every change or none.
pub(super) async fn apply(
    tx: &DatabaseTransaction,
    partner_record: &tenant::Model,
    partner_id: &str,
    changes: &[CustomerMappingChange],
    datacenter_url: Option<String>,
) -> Result<(), TenantError> {
    let vendor_ids: Vec<&str> = changes.iter().map(|change| change.vendor_tenant_id.as_str()).collect();
    let customers = customers_under(tx, &partner_record.vendor_tenant_id, &vendor_ids).await?;
    let acronis_ids: Vec<String> =
        changes.iter().filter_map(|change| change.acronis_tenant_id.map(|id| id.to_string())).collect();
    let mut workset = Workset::load(tx, &vendor_ids, &acronis_ids).await?;
    // One moment for the whole write, to the microsecond both backends store, so that the snapshots in the
    // events are exactly the records as read back.
    let now = Utc::now().trunc_subsecs(6);
    for change in changes {
        let Some(name) = customers.get(&change.vendor_tenant_id) else {
            return Err(TenantError::PermissionDenied(format!(
                "\"{}\" is not a customer of this partner's account; nothing was mapped.",
                change.vendor_tenant_id
            )));
        };
        let current = workset.by_vendor.get(&change.vendor_tenant_id).cloned();
        // A customer already mapped by another partner (e.g. a separately enabled nested reseller) is theirs.
        let mapped_elsewhere = |record: &tenant::Model| {
            record.acronis_tenant_id.is_some() && record.partner_acronis_tenant_id.as_deref() != Some(partner_id)
        };
        if let Some(current) = &current
            && (current.kind != TenantKind::Customer
                || current.enablement_method != EnablementMethod::Mapped
                || mapped_elsewhere(current))
        {
            return Err(TenantError::PermissionDenied(format!(
                "\"{}\" is used by another enablement and cannot be mapped; nothing was mapped.",
                change.vendor_tenant_id
            )));
        }
        match change.acronis_tenant_id {
            None => {
                if let Some(current) = current.filter(|c| c.acronis_tenant_id.is_some()) {
                    workset.unmap(tx, current, now).await?;
                }
            }
            Some(acronis) => {
                let acronis = acronis.to_string();
                if current.as_ref().is_some_and(|c| c.acronis_tenant_id.as_deref() == Some(acronis.as_str())) {
                    continue;
                }
                workset.release_for_remap(tx, &acronis, partner_id, now).await?;
                let mapping = Mapping { name, acronis: &acronis, partner_id, datacenter_url: datacenter_url.clone() };
                workset.map(tx, current, &change.vendor_tenant_id, mapping, now).await?;
            }
        }
    }
    workset.record_events(tx).await
}

/// What a customer is mapped with.
struct Mapping<'a> {
    name: &'a str,
    acronis: &'a str,
    partner_id: &'a str,
    datacenter_url: Option<String>,
}

/// The tenant records a mapping write can touch, as the write has left them so far.
struct Workset {
    by_vendor: HashMap<String, tenant::Model>,
    /// Which record (by vendor tenant id) holds each Acronis tenant.
    by_acronis: HashMap<String, String>,
    /// The outbox rows of the changes made so far, in order.
    events: Vec<tenant_event::ActiveModel>,
}

impl Workset {
    /// Reads and locks the records of the named customers and the records holding the named Acronis tenants.
    /// Those are all the records a change can read: any other record it touches is one it created.
    async fn load(tx: &DatabaseTransaction, vendor_ids: &[&str], acronis_ids: &[String]) -> Result<Self, TenantError> {
        let mut workset = Self { by_vendor: HashMap::new(), by_acronis: HashMap::new(), events: Vec::new() };
        let vendor_chunks =
            vendor_ids.chunks(IDS_PER_STATEMENT).map(|ids| tenant::Column::VendorTenantId.is_in(ids.iter().copied()));
        let acronis_chunks =
            acronis_ids.chunks(IDS_PER_STATEMENT).map(|ids| tenant::Column::AcronisTenantId.is_in(ids.iter().cloned()));
        for condition in vendor_chunks.chain(acronis_chunks) {
            let records =
                tenant::Entity::find().filter(Condition::all().add(condition)).lock_exclusive().all(tx).await?;
            for record in records {
                workset.put(record);
            }
        }
        Ok(workset)
    }

    fn put(&mut self, record: tenant::Model) {
        if let Some(acronis) = &record.acronis_tenant_id {
            self.by_acronis.insert(acronis.clone(), record.vendor_tenant_id.clone());
        }
        self.by_vendor.insert(record.vendor_tenant_id.clone(), record);
    }

    /// Frees `acronis` when another customer mapped by *this* partner holds it (a remap replaces the old
    /// pair); refuses when anyone else holds it.
    async fn release_for_remap(
        &mut self,
        tx: &DatabaseTransaction,
        acronis: &str,
        partner_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), TenantError> {
        let Some(holder) = self.by_acronis.get(acronis).and_then(|vendor| self.by_vendor.get(vendor)).cloned() else {
            return Ok(());
        };
        if holder.kind == TenantKind::Customer
            && holder.enablement_method == EnablementMethod::Mapped
            && holder.partner_acronis_tenant_id.as_deref() == Some(partner_id)
        {
            self.unmap(tx, holder, now).await
        } else {
            Err(TenantError::PermissionDenied(format!(
                "Acronis tenant {acronis} is already mapped to an account outside this partner; nothing was mapped."
            )))
        }
    }

    /// Maps the customer `vendor_tenant_id` (its record `current`, if it has one) to `mapping.acronis`.
    async fn map(
        &mut self,
        tx: &DatabaseTransaction,
        current: Option<tenant::Model>,
        vendor_tenant_id: &str,
        mapping: Mapping<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), TenantError> {
        let mapped = match current {
            Some(current) => {
                if let Some(previous) = &current.acronis_tenant_id {
                    self.by_acronis.remove(previous);
                }
                let mapped = tenant::Model {
                    acronis_tenant_id: Some(mapping.acronis.to_owned()),
                    state: EnablementState::Enabled,
                    partner_acronis_tenant_id: Some(mapping.partner_id.to_owned()),
                    name: Some(mapping.name.to_owned()),
                    datacenter_url: mapping.datacenter_url,
                    updated_at: now,
                    ..current
                };
                let changes = tenant::ActiveModel {
                    acronis_tenant_id: Set(mapped.acronis_tenant_id.clone()),
                    state: Set(mapped.state),
                    partner_acronis_tenant_id: Set(mapped.partner_acronis_tenant_id.clone()),
                    name: Set(mapped.name.clone()),
                    datacenter_url: Set(mapped.datacenter_url.clone()),
                    updated_at: Set(now),
                    ..Default::default()
                };
                update(tx, mapped.id, changes).await?;
                mapped
            }
            None => {
                NewTenant {
                    vendor_tenant_id: vendor_tenant_id.to_owned(),
                    acronis_tenant_id: mapping.acronis.to_owned(),
                    kind: TenantKind::Customer,
                    method: EnablementMethod::Mapped,
                    partner_acronis_tenant_id: Some(mapping.partner_id.to_owned()),
                    name: mapping.name.to_owned(),
                    settings_json: None,
                    datacenter_url: mapping.datacenter_url,
                }
                .insert(tx)
                .await?
            }
        };
        self.events.push(event(EventKind::CustomerMapped, &mapped));
        self.put(mapped);
        Ok(())
    }

    /// Removes a customer's mapping; the record stays (disabled, without an Acronis tenant).
    async fn unmap(
        &mut self,
        tx: &DatabaseTransaction,
        customer: tenant::Model,
        now: DateTime<Utc>,
    ) -> Result<(), TenantError> {
        let Some(acronis) = customer.acronis_tenant_id.clone() else { return Ok(()) };
        let unmapped =
            tenant::Model { acronis_tenant_id: None, state: EnablementState::Disabled, updated_at: now, ..customer };
        let changes = tenant::ActiveModel {
            acronis_tenant_id: Set(None),
            state: Set(EnablementState::Disabled),
            updated_at: Set(now),
            ..Default::default()
        };
        update(tx, unmapped.id, changes).await?;
        self.by_acronis.remove(&acronis);
        self.events.push(unmapping_event(EventKind::CustomerUnmapped, Some(&acronis), &unmapped));
        self.put(unmapped);
        Ok(())
    }

    /// Writes the events of all changes, in the order the changes were made.
    async fn record_events(self, tx: &DatabaseTransaction) -> Result<(), TenantError> {
        if !self.events.is_empty() {
            tenant_event::Entity::insert_many(self.events).exec_without_returning(tx).await?;
        }
        Ok(())
    }
}

/// Sets the columns `changes` sets on the record `id`; one statement (SeaORM's `update` reads the row back).
async fn update(tx: &DatabaseTransaction, id: i64, changes: tenant::ActiveModel) -> Result<(), TenantError> {
    tenant::Entity::update_many().set(changes).filter(tenant::Column::Id.eq(id)).exec(tx).await?;
    Ok(())
}

/// Which of `vendor_ids` are customer organizations under `partner_organization` (at any depth), with their
/// names. Walks up from each named customer rather than down the partner's whole subtree: the cost follows
/// the size of the request, not of the partner.
async fn customers_under(
    tx: &DatabaseTransaction,
    partner_organization: &str,
    vendor_ids: &[&str],
) -> Result<HashMap<String, String>, TenantError> {
    let backend = tx.get_database_backend();
    let mut customers = HashMap::new();
    let unique: Vec<&str> = vendor_ids.iter().copied().collect::<HashSet<_>>().into_iter().collect();
    for ids in unique.chunks(IDS_PER_STATEMENT) {
        // Parameters are numbered in the order they appear: SQLite's `?` are positional.
        let list = (1..=ids.len()).map(|n| placeholder(backend, n)).collect::<Vec<_>>().join(", ");
        // `UNION` (not `UNION ALL`) ends the walk even if the tree were ever corrupted into a cycle.
        let sql = format!(
            "WITH RECURSIVE ancestry(start, id) AS (
                 SELECT id, parent_id FROM organizations WHERE kind = 'customer' AND id IN ({list})
                 UNION
                 SELECT a.start, o.parent_id FROM organizations o JOIN ancestry a ON o.id = a.id
             )
             SELECT id, name FROM organizations
              WHERE id IN (SELECT start FROM ancestry WHERE id = {})",
            placeholder(backend, ids.len() + 1)
        );
        let values =
            ids.iter().map(|id| Value::from(*id)).chain([Value::from(partner_organization)]).collect::<Vec<_>>();
        let rows = CustomerOrganizationRow::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
            .all(tx)
            .await?;
        customers.extend(rows.into_iter().map(|row| (row.id, row.name)));
    }
    Ok(customers)
}
