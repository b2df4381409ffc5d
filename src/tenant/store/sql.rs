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
/// walk reaches without passing an enabled partner organization (see [`enabled_partner_join`]), whose
/// customers are that partner's. Only partner organizations are walked, since customers have no children
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
               {}
              WHERE enabled.id IS NULL
         )",
        placeholder(backend, 1),
        enabled_partner_join("enabled", "o.id")
    )
}

/// `LEFT JOIN tenants {alias}` on the record that makes `organization` (an SQL expression) an *enabled
/// partner organization*: a partner record with that vendor tenant id, enabled, whether mapped or mirrored
/// (a mirrored partner's vendor tenant id is also a directory organization). `{alias}.id IS NULL` after it
/// means no enabled partner has that organization. Both ownership walks (down from a partner, up from a
/// customer) stop at the same organizations through this one definition. The lookup uses the unique index on
/// `tenants.vendor_tenant_id`.
pub(super) fn enabled_partner_join(alias: &str, organization: &str) -> String {
    format!(
        "LEFT JOIN tenants {alias} ON {alias}.vendor_tenant_id = {organization} \
         AND {alias}.kind = 'partner' AND {alias}.state = 'enabled'"
    )
}

/// The `n`-th bind parameter in the backend's syntax; numbered on both, so a statement may use one twice.
pub(super) fn placeholder(backend: DbBackend, n: usize) -> String {
    if backend == DbBackend::Postgres { format!("${n}") } else { format!("?{n}") }
}
