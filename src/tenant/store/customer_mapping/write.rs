//! `tenant_mapping.write` in one transaction, with a fixed number of statements whatever the number of pairs.
//!
//! The changes are applied one after the other, exactly as listed (a later pair sees what an earlier one did:
//! a swap, or one customer named twice, works). But nothing is looked up per pair: where the named customers
//! sit in the directory, their records, and the records holding the Acronis tenants they are mapped to are
//! read (and locked) up front in a [`Workset`], which each change then consults and updates. Each named
//! customer must belong to the partner under the ownership rule (see `customer_mapping`), judged against the
//! records as the request has left them so far; one that does not refuses the whole request.
//! At the end the changed records are written in one `UPDATE` and the events in one insert
//! ([`Workset::save`]). Only a customer without a record costs a statement of its own (its insert).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SubsecRound as _, Utc};
use sea_orm::{
    ActiveEnum as _, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, FromQueryResult,
    QueryFilter, Statement, Value, sea_query::Expr,
};

use crate::db::entity::tenant::{self, EnablementMethod, EnablementState, TenantKind};
use crate::db::entity::tenant_event;
use crate::tenant::error::TenantError;
use crate::tenant::model::{AcronisTenantId, DatacenterUrl, EventKind, VendorTenantId};
use crate::tenant::store::events::{event, unmapping_event};
use crate::tenant::store::records::{Holder, NewTenant, lock_holding, partner_not_enabled};
use crate::tenant::store::sql::{IDS_PER_STATEMENT, not_enabled_partner, placeholder, rows_by_unique_key};
use crate::tenant::store::{IdempotencyKey, Recorded, TenantStore};

/// Records written by one `UPDATE` (seven parameters each).
const RECORDS_PER_UPDATE: usize = 100;

/// One entry of `tenant_mapping.write`: map to `acronis_tenant_id`, or unmap when it is `None`.
#[derive(Debug, Clone)]
pub struct CustomerMappingChange {
    pub vendor_tenant_id: VendorTenantId,
    pub acronis_tenant_id: Option<AcronisTenantId>,
}

impl TenantStore {
    /// Applies `tenant_mapping.write` for partner `partner`: every change or none.
    pub async fn write_customer_mappings(
        &self,
        partner: AcronisTenantId,
        changes: &[CustomerMappingChange],
        datacenter_url: Option<DatacenterUrl>,
        key: Option<&IdempotencyKey>,
    ) -> Result<Recorded<()>, TenantError> {
        self.write_once(key, |tx| {
            let (changes, datacenter_url) = (changes.to_vec(), datacenter_url.clone().map(DatacenterUrl::into_string));
            Box::pin(async move {
                // The partner row is the lock for all of its customers: held `FOR UPDATE` (as resets hold
                // it), it serializes a partner's mapping writes and resets, so mappings cannot slip in behind
                // a reset, and concurrent writes cannot deadlock on customer rows taken in different orders.
                let partner_record =
                    lock_holding(tx, partner, Holder::EnabledPartner).await?.ok_or_else(partner_not_enabled)?;
                apply(tx, &partner_record, &partner.to_string(), &changes, datacenter_url).await
            })
        })
        .await
    }
}

/// Applies `changes` for the partner whose record (`partner_record`, locked by the caller) and Acronis
/// tenant (`partner_id`) are given: every change or none.
async fn apply(
    tx: &DatabaseTransaction,
    partner_record: &tenant::Model,
    partner_id: &str,
    changes: &[CustomerMappingChange],
    datacenter_url: Option<String>,
) -> Result<(), TenantError> {
    let vendor_ids: Vec<&str> = changes.iter().map(|change| change.vendor_tenant_id.as_str()).collect();
    let customers = named_customers(tx, &partner_record.vendor_tenant_id, &vendor_ids).await?;
    let acronis_ids: Vec<String> =
        changes.iter().filter_map(|change| change.acronis_tenant_id.map(|id| id.to_string())).collect();
    let mut workset = Workset::load(tx, &vendor_ids, &acronis_ids).await?;
    // One moment for the whole write, to the microsecond both backends store, so that the snapshots in the
    // events are exactly the records as read back.
    let now = Utc::now().trunc_subsecs(6);
    for change in changes {
        let current = workset.by_vendor.get(change.vendor_tenant_id.as_str()).cloned();
        // Judged against the records as this request has left them so far: a customer the partner unmapped
        // earlier in the request is, from then on, its nearest enabled partner's.
        let customer = customers.get(change.vendor_tenant_id.as_str());
        let Some(NamedCustomer { name, .. }) = customer.filter(|c| belongs_to(partner_id, c, current.as_ref())) else {
            return Err(TenantError::PermissionDenied(format!(
                "\"{}\" is not a customer of this partner's account; nothing was mapped.",
                change.vendor_tenant_id
            )));
        };
        if let Some(current) = &current
            && (current.kind != TenantKind::Customer || current.enablement_method != EnablementMethod::Mapped)
        {
            return Err(TenantError::PermissionDenied(format!(
                "\"{}\" is used by another enablement and cannot be mapped; nothing was mapped.",
                change.vendor_tenant_id
            )));
        }
        match change.acronis_tenant_id {
            None => {
                if let Some(current) = current.filter(|c| c.acronis_tenant_id.is_some()) {
                    workset.unmap(current, now);
                }
            }
            Some(acronis) => {
                let acronis = acronis.to_string();
                if current.as_ref().is_some_and(|c| c.acronis_tenant_id.as_deref() == Some(acronis.as_str())) {
                    continue;
                }
                workset.release_for_remap(&acronis, partner_id, now)?;
                let mapping = Mapping { name, acronis: &acronis, partner_id, datacenter_url: datacenter_url.clone() };
                workset.map(tx, current, change.vendor_tenant_id.as_str(), mapping, now).await?;
            }
        }
    }
    workset.save(tx).await
}

/// What a customer is mapped with.
struct Mapping<'a> {
    name: &'a str,
    acronis: &'a str,
    partner_id: &'a str,
    datacenter_url: Option<String>,
}

/// The tenant records a mapping write can touch, as the write has left them so far. Changes are made here
/// and written in [`Workset::save`], a fixed number of statements whatever the number of pairs.
struct Workset {
    by_vendor: HashMap<String, tenant::Model>,
    /// Which record (by vendor tenant id) holds each Acronis tenant.
    by_acronis: HashMap<String, String>,
    /// The Acronis tenant each record holds in the database, until [`Workset::save`].
    stored_acronis: HashMap<String, Option<String>>,
    /// The records changed so far (vendor tenant ids), in the order first changed.
    changed: Vec<String>,
    changed_set: HashSet<String>,
    /// The outbox rows of the changes made so far, in order.
    events: Vec<tenant_event::ActiveModel>,
}

impl Workset {
    /// Reads and locks the records of the named customers and the records holding the named Acronis tenants.
    /// Those are all the records a change can read: any other record it touches is one it created.
    async fn load(tx: &DatabaseTransaction, vendor_ids: &[&str], acronis_ids: &[String]) -> Result<Self, TenantError> {
        let mut workset = Self {
            by_vendor: HashMap::new(),
            by_acronis: HashMap::new(),
            stored_acronis: HashMap::new(),
            changed: Vec::new(),
            changed_set: HashSet::new(),
            events: Vec::new(),
        };
        // One statement for both kinds of record (for up to IDS_PER_STATEMENT pairs); a record found by both
        // comes twice, and is put once.
        let backend = tx.get_database_backend();
        let mut vendor_chunks = vendor_ids.chunks(IDS_PER_STATEMENT);
        let mut acronis_chunks = acronis_ids.chunks(IDS_PER_STATEMENT);
        loop {
            let (vendor, acronis) = (vendor_chunks.next().unwrap_or(&[]), acronis_chunks.next().unwrap_or(&[]));
            if vendor.is_empty() && acronis.is_empty() {
                break;
            }
            let mut lookups = Vec::new();
            if !vendor.is_empty() {
                lookups.push(rows_by_unique_key(backend, "tenants", "vendor_tenant_id", 1, vendor.len(), true));
            }
            if !acronis.is_empty() {
                let first = vendor.len() + 1;
                lookups.push(rows_by_unique_key(backend, "tenants", "acronis_tenant_id", first, acronis.len(), true));
            }
            let sql = lookups.join(" UNION ALL ");
            let keys =
                vendor.iter().map(|id| Value::from(*id)).chain(acronis.iter().map(|id| Value::from(id.as_str())));
            let statement = Statement::from_sql_and_values(backend, sql, keys.collect::<Vec<_>>());
            for record in tenant::Entity::find().from_raw_sql(statement).all(tx).await? {
                workset.stored_acronis.insert(record.vendor_tenant_id.clone(), record.acronis_tenant_id.clone());
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

    /// Records `record` as changed by `event`.
    fn change(&mut self, record: tenant::Model, event: tenant_event::ActiveModel) {
        if self.changed_set.insert(record.vendor_tenant_id.clone()) {
            self.changed.push(record.vendor_tenant_id.clone());
        }
        self.events.push(event);
        self.put(record);
    }

    /// Frees `acronis` when another customer mapped by *this* partner holds it (a remap replaces the old
    /// pair); refuses when anyone else holds it.
    fn release_for_remap(&mut self, acronis: &str, partner_id: &str, now: DateTime<Utc>) -> Result<(), TenantError> {
        let Some(holder) = self.by_acronis.get(acronis).and_then(|vendor| self.by_vendor.get(vendor)).cloned() else {
            return Ok(());
        };
        if holder.kind == TenantKind::Customer
            && holder.enablement_method == EnablementMethod::Mapped
            && holder.partner_acronis_tenant_id.as_deref() == Some(partner_id)
        {
            self.unmap(holder, now);
            Ok(())
        } else {
            Err(TenantError::PermissionDenied(format!(
                "Acronis tenant {acronis} is already mapped to an account outside this partner; nothing was mapped."
            )))
        }
    }

    /// Maps the customer `vendor_tenant_id` (its record `current`, if it has one) to `mapping.acronis`. A
    /// customer without a record gets one now, reserved: [`Workset::save`] maps it.
    async fn map(
        &mut self,
        tx: &DatabaseTransaction,
        current: Option<tenant::Model>,
        vendor_tenant_id: &str,
        mapping: Mapping<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), TenantError> {
        let current = if let Some(current) = current {
            current
        } else {
            let reserved = NewTenant {
                vendor_tenant_id: vendor_tenant_id.to_owned(),
                acronis_tenant_id: mapping.acronis.to_owned(),
                kind: TenantKind::Customer,
                method: EnablementMethod::Mapped,
                partner_acronis_tenant_id: Some(mapping.partner_id.to_owned()),
                name: mapping.name.to_owned(),
                settings_json: None,
                datacenter_url: mapping.datacenter_url.clone(),
            }
            .insert_reserved(tx)
            .await?;
            self.stored_acronis.insert(reserved.vendor_tenant_id.clone(), None);
            reserved
        };
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
        let event = event(EventKind::CustomerMapped, &mapped);
        self.change(mapped, event);
        Ok(())
    }

    /// Removes a customer's mapping; the record stays (disabled, without an Acronis tenant).
    fn unmap(&mut self, customer: tenant::Model, now: DateTime<Utc>) {
        let Some(acronis) = customer.acronis_tenant_id.clone() else { return };
        self.by_acronis.remove(&acronis);
        let unmapped =
            tenant::Model { acronis_tenant_id: None, state: EnablementState::Disabled, updated_at: now, ..customer };
        let event = unmapping_event(EventKind::CustomerUnmapped, Some(&acronis), &unmapped);
        self.change(unmapped, event);
    }

    /// Writes the changed records and then the events of all changes, in the order they were made.
    async fn save(self, tx: &DatabaseTransaction) -> Result<(), TenantError> {
        let changed: Vec<&tenant::Model> = self.changed.iter().filter_map(|id| self.by_vendor.get(id)).collect();
        // The Acronis tenant is unique, and a database checks that row by row: when one changed record takes
        // a tenant another changed record still holds in the database (a swap), the old holders let go first.
        let stored_holder: HashMap<&str, &str> = self
            .stored_acronis
            .iter()
            .filter_map(|(vendor, acronis)| Some((acronis.as_deref()?, vendor.as_str())))
            .collect();
        let takes_a_held_tenant = changed.iter().any(|record| {
            record
                .acronis_tenant_id
                .as_deref()
                .and_then(|acronis| stored_holder.get(acronis))
                .is_some_and(|holder| *holder != record.vendor_tenant_id)
        });
        if takes_a_held_tenant {
            let letting_go = changed.iter().filter(|record| {
                let stored = self.stored_acronis.get(&record.vendor_tenant_id).cloned().flatten();
                stored.is_some() && stored != record.acronis_tenant_id
            });
            let ids: Vec<i64> = letting_go.map(|record| record.id).collect();
            for ids in ids.chunks(IDS_PER_STATEMENT) {
                tenant::Entity::update_many()
                    .col_expr(tenant::Column::AcronisTenantId, Expr::value(Option::<String>::None))
                    .filter(tenant::Column::Id.is_in(ids.iter().copied()))
                    .exec(tx)
                    .await?;
            }
        }
        for records in changed.chunks(RECORDS_PER_UPDATE) {
            update_records(tx, records).await?;
        }
        if !self.events.is_empty() {
            tenant_event::Entity::insert_many(self.events).exec_without_returning(tx).await?;
        }
        Ok(())
    }
}

/// Writes the mapping columns of `records` in one statement.
async fn update_records(tx: &DatabaseTransaction, records: &[&tenant::Model]) -> Result<(), TenantError> {
    const COLUMNS: [&str; 7] =
        ["id", "acronis_tenant_id", "state", "partner_acronis_tenant_id", "name", "datacenter_url", "updated_at"];
    let backend = tx.get_database_backend();
    let mut values: Vec<Value> = Vec::with_capacity(records.len() * COLUMNS.len());
    let mut rows = Vec::with_capacity(records.len());
    for record in records {
        let row: Vec<String> = (1..=COLUMNS.len()).map(|n| placeholder(backend, values.len() + n)).collect();
        rows.push(format!("({})", row.join(", ")));
        values.extend([
            record.id.into(),
            record.acronis_tenant_id.clone().into(),
            record.state.to_value().into(),
            record.partner_acronis_tenant_id.clone().into(),
            record.name.clone().into(),
            record.datacenter_url.clone().into(),
            record.updated_at.into(),
        ]);
    }
    let assignments: Vec<String> = COLUMNS[1..].iter().map(|column| format!("{column} = v.{column}")).collect();
    // On PostgreSQL each record is found by its own primary-key lookup, and updated where that lookup found
    // it (`ctid`, the row version this transaction holds locked since `Workset::load`): joined on `id`, the
    // plan a connection made while `tenants` was small hashed the values and scanned the whole table, 0.8 ms
    // an update once it held 120,000 dead rows between vacuums (see `rows_by_unique_key`).
    let target = if backend == DbBackend::Postgres {
        "FROM v CROSS JOIN LATERAL (SELECT ctid AS found FROM tenants t WHERE t.id = v.id LIMIT 1) AS located \
         WHERE tenants.ctid = located.found"
    } else {
        "FROM v WHERE tenants.id = v.id"
    };
    let sql = format!(
        "WITH v({}) AS (VALUES {}) UPDATE tenants SET {} {target}",
        COLUMNS.join(", "),
        rows.join(", "),
        assignments.join(", ")
    );
    let updated = tx.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?.rows_affected();
    if updated != records.len() as u64 {
        return Err(TenantError::Fault(format!("updated {updated} of {} customer records", records.len())));
    }
    Ok(())
}

/// A customer organization named in the request.
#[derive(Debug, FromQueryResult)]
struct NamedCustomer {
    id: String,
    name: String,
    /// Whether the partner's organization is the nearest enabled partner organization above it (0 or 1).
    nearest_partner: i64,
}

/// The ownership rule (see `customer_mapping`): a mapped customer belongs to the partner that mapped it, an
/// unmapped one to the nearest enabled partner organization above it.
fn belongs_to(partner_id: &str, customer: &NamedCustomer, record: Option<&tenant::Model>) -> bool {
    match record.filter(|record| record.acronis_tenant_id.is_some()) {
        Some(mapped) => mapped.partner_acronis_tenant_id.as_deref() == Some(partner_id),
        None => customer.nearest_partner > 0,
    }
}

/// Which of `vendor_ids` are customer organizations, by id, each with its name and whether
/// `partner_organization` is the nearest enabled partner organization above it. Walks up from each named
/// customer rather than down the partner's whole subtree: the cost follows the size of the request, not of
/// the partner. The walk stops at the first enabled partner organization ([`not_enabled_partner`]), so the
/// partner's organization is reached only when no other enabled partner sits in between.
async fn named_customers(
    tx: &DatabaseTransaction,
    partner_organization: &str,
    vendor_ids: &[&str],
) -> Result<HashMap<String, NamedCustomer>, TenantError> {
    let backend = tx.get_database_backend();
    let mut customers = HashMap::new();
    let unique: Vec<&str> = vendor_ids.iter().copied().collect::<HashSet<_>>().into_iter().collect();
    for ids in unique.chunks(IDS_PER_STATEMENT) {
        // `UNION` (not `UNION ALL`) ends the walk even if the tree were ever corrupted into a cycle. The name
        // rides along from the first row, so the result needs no second read of `organizations`. COUNT is a
        // 64-bit integer on both backends.
        let sql = format!(
            "WITH RECURSIVE ancestry(start, name, id) AS (
                 SELECT id, name, parent_id FROM ({}) AS named WHERE kind = 'customer'
                 UNION
                 SELECT a.start, a.name, o.parent_id
                   FROM ancestry a
                   JOIN organizations o ON o.id = a.id
                  WHERE {}
             )
             SELECT start AS id, name, COUNT(CASE WHEN id = {} THEN 1 END) AS nearest_partner
               FROM ancestry
              GROUP BY start, name",
            rows_by_unique_key(backend, "organizations", "id", 1, ids.len(), false),
            not_enabled_partner("a.id"),
            placeholder(backend, ids.len() + 1)
        );
        let values =
            ids.iter().map(|id| Value::from(*id)).chain([Value::from(partner_organization)]).collect::<Vec<_>>();
        let rows =
            NamedCustomer::find_by_statement(Statement::from_sql_and_values(backend, sql, values)).all(tx).await?;
        customers.extend(rows.into_iter().map(|row| (row.id.clone(), row)));
    }
    Ok(customers)
}
