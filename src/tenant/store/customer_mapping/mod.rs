//! Mapped customers (protocol §9.4–9.6): the customer organizations that belong to a partner and their
//! one-to-one mappings to Acronis customer tenants.
//!
//! A partner is found by its Acronis tenant (`context.tenant_id`) and must be enabled, by mapping or by
//! mirroring: a mirrored partner's vendor tenant id is also a directory organization, under which vendor
//! services create its customers.
//!
//! Nested partners: an organization whose partner record is enabled (mapped or mirrored) is an *enabled
//! partner organization*. A customer organization belongs to exactly one enabled partner: when mapped, to
//! the partner that mapped it (`partner_acronis_tenant_id` of its record); when not, to the nearest enabled
//! partner organization above it. The lists here and the write in [`write`] apply that rule; the resets'
//! cascade (`cascade`) follows from it.
//!
//! This file is the family's read; `write` is `tenant_mapping.write` and imports nothing from here.

mod write;

pub use write::CustomerMappingChange;

use std::sync::Arc;

use sea_orm::{DbBackend, FromQueryResult, Statement, Value};

use super::TenantStore;
use super::records::{Holder, find_holding, partner_not_enabled};
use super::sql::{placeholder, subtree_cte};
use crate::tenant::error::TenantError;
use crate::tenant::model::AcronisTenantId;
use crate::tenant::paging::{PageInfo, PageRequest, Position, encode_cursor};

/// A customer organization as the mapping callbacks list it.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct CustomerOrganization {
    pub id: String,
    pub name: String,
    pub acronis_tenant_id: Option<String>,
}

#[derive(FromQueryResult)]
struct Count {
    total: i64,
}

impl TenantStore {
    /// The customers that belong to the enabled partner `partner` (see the module's rule), ordered by id; all
    /// of them, or one page.
    pub async fn customer_organizations(
        &self,
        partner: AcronisTenantId,
        page: Option<&PageRequest>,
    ) -> Result<(Vec<CustomerOrganization>, Option<PageInfo>), TenantError> {
        let load = self.read("customer_organizations", async {
            Ok(Arc::new(self.customer_organizations_untraced(partner, page).await?))
        });
        let key = (partner.to_string(), page.cloned());
        let kept = self.read_model.read_through(self, |tables| &mut tables.customer_pages, key, load).await?;
        Ok(Arc::unwrap_or_clone(kept))
    }

    async fn customer_organizations_untraced(
        &self,
        partner: AcronisTenantId,
        page: Option<&PageRequest>,
    ) -> Result<(Vec<CustomerOrganization>, Option<PageInfo>), TenantError> {
        let db = self.connection();
        let organization =
            find_holding(db, partner, Holder::EnabledPartner).await?.ok_or_else(partner_not_enabled)?.vendor_tenant_id;
        let backend = db.get_database_backend();
        let cte = customers_cte(backend);
        // The organization and the Acronis tenant of the partner come first in every statement.
        let query = |sql: String, values: Vec<Value>| {
            let mut all = vec![Value::from(organization.clone()), Value::from(partner.to_string())];
            all.extend(values);
            Statement::from_sql_and_values(backend, format!("{cte} {sql}"), all)
        };
        let select = "SELECT id, name, acronis_tenant_id FROM customers";
        let Some(page) = page else {
            let all =
                CustomerOrganization::find_by_statement(query(format!("{select} ORDER BY id"), vec![])).all(db).await?;
            return Ok((all, None));
        };
        let limit = i64::from(page.limit);
        match &page.position {
            Position::Offset(offset) => {
                let offset = i64::try_from(*offset).unwrap_or(i64::MAX);
                let rows = CustomerOrganization::find_by_statement(query(
                    format!(
                        "{select} ORDER BY id LIMIT {} OFFSET {}",
                        placeholder(backend, 3),
                        placeholder(backend, 4)
                    ),
                    vec![limit.into(), offset.into()],
                ))
                .all(db)
                .await?;
                let total = Count::find_by_statement(query("SELECT COUNT(*) AS total FROM customers".into(), vec![]))
                    .one(db)
                    .await?
                    .map_or(0, |count| count.total);
                let info = PageInfo::Offset {
                    offset: u64::try_from(offset).unwrap_or(0),
                    limit: page.limit,
                    total_count: u64::try_from(total).unwrap_or(0),
                };
                Ok((rows, Some(info)))
            }
            Position::After(after) => {
                // One row more than asked tells whether a next page exists.
                let (filter, values) = match after {
                    Some(id) => (format!("WHERE id > {}", placeholder(backend, 3)), vec![Value::from(id.clone())]),
                    None => (String::new(), vec![]),
                };
                let limit_at = placeholder(backend, values.len() + 3);
                let mut rows = CustomerOrganization::find_by_statement(query(
                    format!("{select} {filter} ORDER BY id LIMIT {limit_at}"),
                    [values, vec![(limit + 1).into()]].concat(),
                ))
                .all(db)
                .await?;
                let more = rows.len() > page.limit as usize;
                rows.truncate(page.limit as usize);
                let info = PageInfo::Cursor {
                    before: after.as_ref().and(rows.first()).map(|row| encode_cursor(&row.id)),
                    after: more.then(|| rows.last().map(|row| encode_cursor(&row.id))).flatten(),
                };
                Ok((rows, Some(info)))
            }
            Position::Before(before) => {
                let mut rows = CustomerOrganization::find_by_statement(query(
                    format!(
                        "{select} WHERE id < {} ORDER BY id DESC LIMIT {}",
                        placeholder(backend, 3),
                        placeholder(backend, 4)
                    ),
                    vec![before.clone().into(), (limit + 1).into()],
                ))
                .all(db)
                .await?;
                let more = rows.len() > page.limit as usize;
                rows.truncate(page.limit as usize);
                rows.reverse();
                let info = PageInfo::Cursor {
                    before: more.then(|| rows.first().map(|row| encode_cursor(&row.id))).flatten(),
                    after: rows.last().map(|row| encode_cursor(&row.id)),
                };
                Ok((rows, Some(info)))
            }
        }
    }
}

/// `WITH RECURSIVE subtree(…), customers(id, name, acronis_tenant_id)`: the customers that belong to the
/// partner whose organization is the first parameter and whose Acronis tenant is the second. Two disjoint
/// parts: the unmapped customers its walk down reaches ([`subtree_cte`] stops at enabled nested partners),
/// and the customers it mapped, wherever they sit (a mapping stays its maker's even after a nearer
/// partner got enabled). A customer mapped by anyone else is in neither. Each part is index lookups only
/// (`tenants.vendor_tenant_id`, `tenants.partner_acronis_tenant_id`, `organizations.id`), whatever the number
/// of customers.
fn customers_cte(backend: DbBackend) -> String {
    format!(
        "{},
         customers(id, name, acronis_tenant_id) AS (
             SELECT s.id, s.name, t.acronis_tenant_id
               FROM subtree s
               LEFT JOIN tenants t ON t.vendor_tenant_id = s.id AND t.kind = 'customer'
                                  AND t.acronis_tenant_id IS NOT NULL
              WHERE s.kind = 'customer' AND t.id IS NULL
             UNION ALL
             SELECT o.id, o.name, m.acronis_tenant_id
               FROM tenants m
               JOIN organizations o ON o.id = m.vendor_tenant_id AND o.kind = 'customer'
              WHERE m.partner_acronis_tenant_id = {} AND m.kind = 'customer' AND m.acronis_tenant_id IS NOT NULL
         )",
        subtree_cte(backend),
        placeholder(backend, 2)
    )
}
