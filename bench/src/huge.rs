//! `huge-seed-sql`: the SQL that seeds the large-data mode (`HUGE`) straight into the service's database.
//!
//! A million records through callbacks would take hours, so `run.sh` pipes this SQL into `sqlite3` or `psql`
//! after `serve` has migrated the database (and restarts the service afterwards, so nothing is cached). It
//! writes rows as the service itself writes them: mirrored partners (each with the `organizations` row
//! `partner.mirroring.enable` upserts) and mirrored customers under the first `CUSTOMER_PARENTS` partners, all
//! enabled, with the stored enum strings and, on SQLite, the RFC 3339 text timestamps sqlx writes. It adds no
//! `tenant_events`: the outbox is not on the read path measured here.

use clap::ValueEnum;

/// Partners the seeded customers are spread over (the first ones).
const CUSTOMER_PARENTS: u64 = 100;
/// When the seeded records say they were created (SQLite stores sqlx's RFC 3339 text; PostgreSQL a timestamptz).
const SEEDED_AT: &str = "2026-11-30T00:00:00+00:00";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The Acronis tenant of seeded partner `i` (W1 `--w1-partners` picks among them).
pub fn partner_tenant(i: u64) -> String {
    format!("b3e5c1a0-0006-4000-8000-{i:012}")
}

/// One `INSERT … SELECT` per table over a generated sequence: `records` tenant records, of which `customers`
/// are customers and the rest partners; then `ANALYZE`, as a long-lived database has its statistics.
pub fn seed_sql(backend: Backend, records: u64, customers: u64) -> anyhow::Result<String> {
    if customers >= records || records - customers < CUSTOMER_PARENTS {
        anyhow::bail!("--records must exceed --customers by at least {CUSTOMER_PARENTS} (the customers' partners)");
    }
    let partners = records - customers;
    // The id formats, per dialect: `{n}` is the row number as 12 digits.
    let (series, id, now) = match backend {
        Backend::Sqlite => (
            "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < {count})",
            "printf('{prefix}%012d', {n})",
            format!("'{SEEDED_AT}'"),
        ),
        Backend::Postgres => (
            "WITH s(i) AS (SELECT generate_series(0, {count} - 1))",
            "'{prefix}' || lpad(({n})::text, 12, '0')",
            format!("'{SEEDED_AT}'::timestamptz"),
        ),
    };
    let series = |count: u64| series.replace("{count}", &count.to_string());
    let id = |prefix: &str, n: &str| id.replace("{prefix}", prefix).replace("{n}", n);
    let partner_vendor = id("d0000000-0006-4000-8000-", "i");
    let partner_acronis = id("b3e5c1a0-0006-4000-8000-", "i");
    let customer_vendor = id("d0000000-0008-4000-8000-", "i");
    let customer_acronis = id("b3e5c1a0-0008-4000-8000-", "i");
    let customer_parent = id("b3e5c1a0-0006-4000-8000-", &format!("i % {CUSTOMER_PARENTS}"));
    let columns = "vendor_tenant_id, acronis_tenant_id, kind, enablement_method, state, partner_acronis_tenant_id, \
                   name, settings_json, datacenter_url, created_at, updated_at";
    let datacenter = crate::workload::DATACENTER_URL;
    let begin = match backend {
        Backend::Sqlite => "PRAGMA journal_mode = WAL;\nBEGIN;",
        Backend::Postgres => "BEGIN;",
    };
    Ok(format!(
        "{begin}
{series_p}
INSERT INTO tenants ({columns})
SELECT {partner_vendor}, {partner_acronis}, 'partner', 'mirrored', 'enabled', NULL, 'Seeded partner ' || i, NULL,
       '{datacenter}', {now}, {now} FROM s;
{series_p}
INSERT INTO organizations (id, name, kind, parent_id, created_at, updated_at)
SELECT {partner_vendor}, 'Seeded partner ' || i, 'partner', NULL, {now}, {now} FROM s;
{series_c}
INSERT INTO tenants ({columns})
SELECT {customer_vendor}, {customer_acronis}, 'customer', 'mirrored', 'enabled', {customer_parent},
       'Seeded customer ' || i, NULL, '{datacenter}', {now}, {now} FROM s;
COMMIT;
ANALYZE;
",
        series_p = series(partners),
        series_c = series(customers),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeded_partner_ids_are_the_ones_w1_reads() {
        let sql = seed_sql(Backend::Sqlite, 1000, 100).expect("sql");
        assert!(sql.contains("printf('b3e5c1a0-0006-4000-8000-%012d', i)"), "{sql}");
        assert!(sql.contains("WHERE i + 1 < 900)"), "{sql}");
        assert_eq!(partner_tenant(42), "b3e5c1a0-0006-4000-8000-000000000042");
        let sql = seed_sql(Backend::Postgres, 1000, 100).expect("sql");
        assert!(sql.contains("generate_series(0, 100 - 1)"), "{sql}");
        assert!(seed_sql(Backend::Postgres, 150, 100).is_err());
    }
}
