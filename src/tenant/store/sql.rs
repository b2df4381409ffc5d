//! SQL the store's families share: bind-parameter syntax, how many ids one statement binds, and the
//! directory walks that decide which enabled partner owns a customer organization.
//!
//! It sits below every family and imports none of them, so a family can use it without being tied to
//! another family.

use sea_orm::DbBackend;

/// Ids bound in one `IN (…)` list; well below SQLite's and PostgreSQL's limits on bind parameters.
pub(super) const IDS_PER_STATEMENT: usize = 500;

/// `WITH RECURSIVE walk(id)`: the organizations whose customers are the partner's whose organization is bound
/// as the first parameter, unless mapped: that organization and the partner organizations below it that the
/// walk reaches without passing an enabled partner organization ([`not_enabled_partner`]), whose customers
/// are that partner's. Only partner organizations are walked, since customers have no children
/// (`check_placement` refuses them): each costs one lookup on `organizations (parent_id, kind, id)` that
/// reads its partner children only, and one on `tenants.vendor_tenant_id`; so the walk costs the same with
/// ten customers or a hundred thousand. `UNION` (not `UNION ALL`) ends the walk even if the tree were ever
/// corrupted into a cycle. The cast gives the first row PostgreSQL's type of `organizations.id`, which the
/// recursive rows have.
pub(super) fn walk_cte(backend: DbBackend) -> String {
    format!(
        "WITH RECURSIVE walk(id) AS (
             SELECT CAST({} AS VARCHAR)
             UNION
             SELECT o.id
               FROM walk w
               JOIN organizations o ON o.parent_id = w.id AND o.kind = 'partner'
              WHERE {}
         )",
        placeholder(backend, 1),
        not_enabled_partner("o.id")
    )
}

/// The record that makes `organization` (an SQL expression) an *enabled partner organization*, as a
/// condition on `tenants {alias}`: a partner record with that vendor tenant id, enabled, whether mapped or
/// mirrored (a mirrored partner's vendor tenant id is also a directory organization). Both ownership walks
/// (down from a partner, up from a customer) stop at the same organizations through this one definition.
/// The lookup uses the unique index on `tenants.vendor_tenant_id`.
fn enabled_partner(alias: &str, organization: &str) -> String {
    format!("{alias}.vendor_tenant_id = {organization} AND {alias}.kind = 'partner' AND {alias}.state = 'enabled'")
}

/// The condition that no enabled partner has `organization` ([`enabled_partner`]), as a scalar subquery
/// rather than a join (`tenants.vendor_tenant_id` is unique, so it has one row or none): PostgreSQL cannot
/// turn it into a join, so it stays one index lookup per walked organization, in both walks. As a join, the
/// planner may hash every enabled partner record instead: walking down because `organizations.parent_id`
/// has few distinct values (the big partners' customers) and it expects each walked organization to have
/// thousands of partner children; walking up because it cannot tell how few rows the recursion carries.
pub(super) fn not_enabled_partner(organization: &str) -> String {
    format!("(SELECT enabled.id FROM tenants enabled WHERE {}) IS NULL", enabled_partner("enabled", organization))
}

/// `SELECT {table}.* …`: the rows of `table` whose `column`, a unique one, equals one of the `count` bound
/// parameters numbered from `first`; on PostgreSQL `FOR UPDATE` when `lock` (SQLite's write transaction
/// holds the whole database).
///
/// On PostgreSQL each key is its own index lookup, whatever the table's size. A list `column IN ($1, …)`
/// leaves the choice to a plan that each connection makes once and keeps: made while a table is small, it
/// scans the table, and goes on scanning it as the table grows or fills with the dead rows of updates
/// between vacuums (1.2 ms a workset read of 706 live `tenants` among 120,000 dead, against 0.14 ms
/// looked up). A `LATERAL` subquery with `LIMIT 1` cannot be merged into a join, so it stays one lookup on
/// the unique index per key.
pub(super) fn rows_by_unique_key(
    backend: DbBackend,
    table: &str,
    column: &str,
    first: usize,
    count: usize,
    lock: bool,
) -> String {
    let keys = (first..first + count).map(|n| placeholder(backend, n)).collect::<Vec<_>>().join(", ");
    if backend == DbBackend::Postgres {
        let lock = if lock { " FOR UPDATE" } else { "" };
        format!(
            "SELECT {table}.* FROM unnest(ARRAY[{keys}]) AS wanted(key) \
             CROSS JOIN LATERAL (SELECT * FROM {table} WHERE {column} = wanted.key LIMIT 1{lock}) AS {table}"
        )
    } else {
        format!("SELECT {table}.* FROM {table} WHERE {column} IN ({keys})")
    }
}

/// The `n`-th bind parameter in the backend's syntax; numbered on both, so a statement may use one twice.
pub(super) fn placeholder(backend: DbBackend, n: usize) -> String {
    if backend == DbBackend::Postgres { format!("${n}") } else { format!("?{n}") }
}
