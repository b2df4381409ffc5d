//! SQL the store's families share: bind-parameter syntax, how many ids one statement binds, and the
//! directory walks that decide which enabled partner owns a customer organization.
//!
//! It sits below every family and imports none of them, so a family can use it without being tied to
//! another family.

use sea_orm::DbBackend;

/// Ids bound in one `IN (…)` list; well below SQLite's and PostgreSQL's limits on bind parameters.
pub(super) const IDS_PER_STATEMENT: usize = 500;

/// `WITH RECURSIVE subtree(id, name, kind)`: the organizations below the one bound as the first parameter
/// that are that partner's to walk: the walk does not descend into an enabled partner organization (see
/// [`enabled_partner_join`]), whose customers are that partner's. Such an organization is itself in the
/// subtree (it is a partner, never listed as a customer). Only partners are walked on, since customers have
/// no children (`check_placement` refuses them): each partner costs an index lookup on
/// `tenants.vendor_tenant_id` and one on `organizations.parent_id`, and the customers none. `UNION` (not
/// `UNION ALL`) ends the walk even if the tree were ever corrupted into a cycle.
pub(super) fn subtree_cte(backend: DbBackend) -> String {
    format!(
        "WITH RECURSIVE subtree(id, name, kind) AS (
             SELECT id, name, kind FROM organizations WHERE parent_id = {}
             UNION
             SELECT o.id, o.name, o.kind
               FROM subtree s
               {}
               JOIN organizations o ON o.parent_id = s.id
              WHERE s.kind = 'partner' AND enabled.id IS NULL
         )",
        placeholder(backend, 1),
        enabled_partner_join("enabled", "s.id")
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

/// The `n`-th bind parameter in the backend's syntax.
pub(super) fn placeholder(backend: DbBackend, n: usize) -> String {
    if backend == DbBackend::Postgres { format!("${n}") } else { "?".to_owned() }
}
