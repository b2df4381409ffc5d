#!/usr/bin/env bash
# The PostgreSQL ceiling for W3P: pgbench runs the least work of a 10-pair remap (remap.sql) against a fresh
# database migrated by the service and seeded as W3P's (seed.sql), at each concurrency, and prints tps.
# Options (environment): PG_ADMIN_URL (postgres://postgres@127.0.0.1:5432/postgres), SERVICE_BIN (the
# service binary that migrates; default: bench/target/service/release/cyberapp-tenants), DURATION (10),
# CONCURRENCIES ("16 64"). Needs pgbench and psql.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
SERVICE_BIN=${SERVICE_BIN:-$HERE/../target/service/release/cyberapp-tenants}
DURATION=${DURATION:-10}
CONCURRENCIES=${CONCURRENCIES:-"16 64"}
DB="bench_pg_ceiling_$$"
DB_URL="${PG_ADMIN_URL%/*}/$DB"
psql -X -q "$PG_ADMIN_URL" -c "CREATE DATABASE $DB"
trap 'psql -X -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB" || true' EXIT
DATABASE_URL="$DB_URL" "$SERVICE_BIN" --log-format json migrate >/dev/null 2>&1
psql -X -q "$DB_URL" -f "$HERE/seed.sql"
for c in $CONCURRENCIES; do
  tps=$(pgbench -n -M prepared -c "$c" -j 2 -T "$DURATION" -f "$HERE/remap.sql" "$DB_URL" 2>&1 |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  printf 'PostgreSQL ceiling for W3P (least work of a 10-pair remap, pgbench): c=%s %s tps\n' "$c" "${tps:-?}"
done
