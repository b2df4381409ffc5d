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

mod page;
mod write;

pub use page::CustomerPage;
pub use write::CustomerMappingChange;

use std::sync::Arc;

use sea_orm::{DbBackend, FromQueryResult, Statement, Value};

use super::TenantStore;
use super::records::{Holder, find_holding, partner_not_enabled};
use super::sql::{placeholder, walk_cte};
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
    /// of them, or one page. Shared with the read model, which may hand the same answer to many reads.
    pub async fn customer_organizations(
        &self,
        partner: AcronisTenantId,
        page: Option<&PageRequest>,
    ) -> Result<Arc<CustomerPage>, TenantError> {
        let load = || {
            self.read("customer_organizations", async {
                let (customers, info) = self.customer_organizations_untraced(partner, page).await?;
                Ok(Arc::new(CustomerPage::new(customers, info)))
            })
        };
        let key = (partner.to_string(), page.cloned());
        self.read_model.read_through(self, |tables| &mut tables.customer_pages, key, load).await
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
        let at = |n| placeholder(backend, n);
        // The organization and the Acronis tenant of the partner are the first two parameters of every statement.
        let query = |window: Window, outer: String, values: Vec<Value>| {
            let mut all = vec![Value::from(organization.clone()), Value::from(partner.to_string())];
            all.extend(values);
            let sql = format!(
                "{} SELECT id, name, acronis_tenant_id FROM customers {outer}",
                customers_cte(backend, &window)
            );
            Statement::from_sql_and_values(backend, sql, all)
        };
        let Some(page) = page else {
            let all = CustomerOrganization::find_by_statement(query(Window::default(), "ORDER BY id".into(), vec![]))
                .all(db)
                .await?;
            return Ok((all, None));
        };
        let limit = i64::from(page.limit);
        match &page.position {
            Position::Offset(offset) => {
                let offset = i64::try_from(*offset).unwrap_or(i64::MAX);
                // Each part's first `offset + limit` rows hold the page.
                let window = Window { limit: Some(at(5)), ..Window::default() };
                let rows = CustomerOrganization::find_by_statement(query(
                    window,
                    format!("ORDER BY id LIMIT {} OFFSET {}", at(3), at(4)),
                    vec![limit.into(), offset.into(), limit.saturating_add(offset).into()],
                ))
                .all(db)
                .await?;
                let count =
                    format!("{} SELECT COUNT(*) AS total FROM customers", customers_cte(backend, &Window::default()));
                let values = vec![Value::from(organization.clone()), Value::from(partner.to_string())];
                let total = Count::find_by_statement(Statement::from_sql_and_values(backend, count, values))
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
                let (after_at, values) = match after {
                    Some(id) => (Some(format!("> {}", at(3))), vec![Value::from(id.clone())]),
                    None => (None, vec![]),
                };
                let limit_at = at(values.len() + 3);
                let window = Window { bound: after_at, descending: false, limit: Some(limit_at.clone()) };
                let mut rows = CustomerOrganization::find_by_statement(query(
                    window,
                    format!("ORDER BY id LIMIT {limit_at}"),
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
                let window = Window { bound: Some(format!("< {}", at(3))), descending: true, limit: Some(at(4)) };
                let mut rows = CustomerOrganization::find_by_statement(query(
                    window,
                    format!("ORDER BY id DESC LIMIT {}", at(4)),
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

/// The rows of the id-ordered list a statement reads, applied inside each part of [`customers_cte`]: a page
/// then reads about a page of rows from each part (through `organizations (parent_id, kind, id)` and `tenants
/// (partner_acronis_tenant_id, vendor_tenant_id)`), not every customer of the partner before sorting them.
/// The statement orders and limits the union again. The default is every row.
#[derive(Default)]
struct Window {
    /// `> $n` or `< $n`: the cursor's side.
    bound: Option<String>,
    descending: bool,
    /// The bind parameter of the part's limit.
    limit: Option<String>,
}

impl Window {
    /// The window's `AND … ORDER BY … LIMIT …` on the id column `id`.
    fn on(&self, id: &str) -> String {
        let bound = self.bound.as_ref().map(|bound| format!("AND {id} {bound}")).unwrap_or_default();
        let Some(limit) = &self.limit else { return bound };
        let direction = if self.descending { "DESC" } else { "ASC" };
        format!("{bound} ORDER BY {id} {direction} LIMIT {limit}")
    }
}

/// `WITH RECURSIVE walk(id), customers(id, name, acronis_tenant_id)`: the customers that belong to the partner
/// whose organization is the first parameter and whose Acronis tenant is the second, those of `window`. Two
/// disjoint parts: the unmapped customers of the organizations its walk down reaches ([`walk_cte`] stops at
/// enabled nested partners), and the customers it mapped, wherever they sit (a mapping stays its maker's even
/// after a nearer partner got enabled). A customer mapped by anyone else is in neither. Each part is index
/// lookups only, and with a limited window it reads about `limit` rows per walked organization and mapped
/// part: PostgreSQL's `LATERAL` limits each organization's customers on their own; SQLite has no `LATERAL`,
/// and reads the walked organizations' customers on the cursor's side before its limit applies.
fn customers_cte(backend: DbBackend, window: &Window) -> String {
    // `NOT EXISTS`, not `LEFT JOIN … IS NULL`: PostgreSQL estimates the latter to keep almost no row, and
    // then sorts all of an organization's customers rather than reading them in id order until the limit.
    let unmapped = |organizations: &str| {
        format!(
            "SELECT o.id, o.name, CAST(NULL AS VARCHAR) AS acronis_tenant_id
               FROM {organizations}
              WHERE o.parent_id = w.id AND o.kind = 'customer'
                AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.vendor_tenant_id = o.id AND t.kind = 'customer'
                                                          AND t.acronis_tenant_id IS NOT NULL) {}",
            window.on("o.id")
        )
    };
    let unmapped = if backend == DbBackend::Postgres {
        format!("SELECT unmapped.* FROM walk w CROSS JOIN LATERAL ({}) unmapped", unmapped("organizations o"))
    } else {
        // `CROSS JOIN` keeps `walk` the outer loop: SQLite would otherwise rather scan all organizations in id
        // order to save the sort.
        format!("SELECT * FROM ({}) unmapped", unmapped("walk w CROSS JOIN organizations o"))
    };
    format!(
        "{},
         customers(id, name, acronis_tenant_id) AS (
             {unmapped}
             UNION ALL
             SELECT * FROM (
                 SELECT m.vendor_tenant_id AS id, o.name, m.acronis_tenant_id
                   FROM tenants m
                   JOIN organizations o ON o.id = m.vendor_tenant_id AND o.kind = 'customer'
                  WHERE m.partner_acronis_tenant_id = {} AND m.kind = 'customer' AND m.acronis_tenant_id IS NOT NULL
                        {}
             ) mapped
         )",
        walk_cte(backend),
        placeholder(backend, 2),
        window.on("m.vendor_tenant_id")
    )
}
