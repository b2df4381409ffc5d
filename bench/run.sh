#!/usr/bin/env bash
# Builds the service and the bench (release), then for each backend starts the service in development mode,
# measures the floor (the service's own GET /healthz, and the bench against examples/sink.rs, at every
# concurrency), prepares the workloads, runs every workload at every concurrency and prints one markdown table
# with each rate as a % of the floor; on SQLite it also measures the disk's fsync rate. LARGE adds the reads of
# a partner with 10,000 customers (`cyberapp-bench large-partner`), one table per backend; CUSTOM routes custom
# callbacks to a trivial handler the bench serves itself and compares with calling it directly; HUGE seeds a
# fresh database with 1,000,000 tenant records and a partner with 100,000 customers and runs W1, W2 and the
# large partner's reads against it (slow: see bench/README.md).
# Options (environment): DURATION (10), WARMUP (2), CONCURRENCIES ("1 16 64"), BACKENDS ("sqlite postgres"),
# WORKLOADS ("W1 W2 W3 W3P W4 W5 MAPREAD CUSTOM LARGE"; HUGE on request), SERVICE_TARGET_DIR (bench/target/service),
# SERVICE_BIN (skip the service build), PG_ADMIN_URL (a PostgreSQL server to create the bench database on),
# FSYNC_SECONDS (3), HUGE_RECORDS (1000000), HUGE_CUSTOMERS (100000: the large partner's), HUGE_MAPPED (10000),
# KEEP_TMP=1 (keep logs). See bench/README.md.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONCURRENCIES=${CONCURRENCIES:-"1 16 64"}
BACKENDS=${BACKENDS:-"sqlite postgres"}
WORKLOADS=${WORKLOADS:-"W1 W2 W3 W3P W4 W5 MAPREAD CUSTOM LARGE"}
FSYNC_SECONDS=${FSYNC_SECONDS:-3}
# HUGE: tenant records seeded (a tenth of them mirrored customers, the rest mirrored partners), the customer
# organizations of its large partner (imported) and how many of those are mapped through callbacks.
HUGE_RECORDS=${HUGE_RECORDS:-1000000}
HUGE_CUSTOMERS=${HUGE_CUSTOMERS:-100000}
HUGE_MAPPED=${HUGE_MAPPED:-10000}
SERVICE_TARGET_DIR=${SERVICE_TARGET_DIR:-$BENCH_DIR/target/service}
IDENTITY="admin@bench"
PASSWORD="bench-pw"

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Largest concurrency decides how many customers W3 needs (10 per connection).
MAX_C=1
for c in $CONCURRENCIES; do
  [[ $c =~ ^[0-9]+$ && $c -ge 1 ]] || die "CONCURRENCIES must be positive integers, got '$c'"
  if (( c > MAX_C )); then MAX_C=$c; fi
done
CUSTOMERS=$(( MAX_C * 10 > 1000 ? MAX_C * 10 : 1000 ))
# One login of the bench partner per W2/W3 connection (see README: one identity checked by dozens of
# connections at once is not what the Acronis gateway sends, and the service throttles it).
LOGINS=$(( MAX_C > 64 ? MAX_C : 64 ))
# W3P gives every connection its own partner.
W3P_PARTNERS=$(( MAX_C > 64 ? MAX_C : 64 ))
LOAD_WORKLOADS=""
LARGE=0
CUSTOM=0
HUGE=0
for w in $WORKLOADS; do
  case $w in
    W[1-5] | W3P | MAPREAD) LOAD_WORKLOADS+=" $w" ;;
    CUSTOM) LOAD_WORKLOADS+=" $w"; CUSTOM=1 ;;
    LARGE) LARGE=1 ;;
    HUGE) HUGE=1 ;;
    *) die "WORKLOADS takes W1..W5, W3P, MAPREAD, CUSTOM, LARGE and HUGE, got '$w'" ;;
  esac
done
if (( HUGE )); then
  command -v psql >/dev/null || [[ ! " $BACKENDS " == *" postgres "* ]] \
    || die "HUGE on PostgreSQL seeds with psql: install postgresql-client"
  if [[ " $BACKENDS " == *" sqlite "* ]] && ! command -v sqlite3 >/dev/null; then
    log "installing sqlite3 (HUGE seeds the SQLite database with it)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null
  fi
fi
for b in $BACKENDS; do [[ $b == sqlite || $b == postgres ]] || die "BACKENDS takes sqlite and postgres, got '$b'"; done

RUN_STARTED=$(date +%s)
TMP=$(mktemp -d /tmp/cyberapp-bench.XXXXXX)
RESULTS="$TMP/results.jsonl"
: >"$RESULTS"
SVC_PID=""
SINK_PID=""
PG_DIR=""
PG_BIN=""
PG_DB=""
PG_HUGE_DB=""
PG_ADMIN=""
FAILURES=0

cleanup() {
  local status=$?
  stop_service || true
  if [[ -n $SINK_PID ]]; then kill "$SINK_PID" 2>/dev/null || true; fi
  for db in $PG_DB $PG_HUGE_DB; do
    if [[ -n $PG_ADMIN ]]; then
      psql "$PG_ADMIN" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    fi
  done
  if [[ -n $PG_DIR ]]; then
    su postgres -c "$PG_BIN/pg_ctl -D $PG_DIR -m immediate stop" >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
  if [[ ${KEEP_TMP:-0} == 1 || $status != 0 ]]; then
    log "logs and raw results kept in $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------------- build
if [[ -n ${SERVICE_BIN:-} ]]; then
  [[ -x $SERVICE_BIN ]] || die "SERVICE_BIN=$SERVICE_BIN is not executable"
  log "service binary: $SERVICE_BIN (not built)"
else
  log "building the service (release) into $SERVICE_TARGET_DIR"
  (cd "$ROOT" && CARGO_TARGET_DIR="$SERVICE_TARGET_DIR" cargo build --release --quiet --bin cyberapp-tenants)
  SERVICE_BIN="$SERVICE_TARGET_DIR/release/cyberapp-tenants"
fi
log "building the bench and its sink (release)"
(cd "$BENCH_DIR" && CARGO_TARGET_DIR="$BENCH_DIR/target" cargo build --release --quiet --bin cyberapp-bench --example sink)
BENCH="$BENCH_DIR/target/release/cyberapp-bench"
SINK="$BENCH_DIR/target/release/examples/sink"

"$BENCH" directory --customers "$CUSTOMERS" --logins "$LOGINS" --w3p-partners "$W3P_PARTNERS" --identity "$IDENTITY" \
  --password "$PASSWORD" >"$TMP/directory.json"
if (( LARGE )); then "$BENCH" large-partner-directory >"$TMP/large-directory.json"; fi
if (( HUGE )); then
  "$BENCH" large-partner-directory --customers "$HUGE_CUSTOMERS" >"$TMP/huge-directory.json"
fi

# -------------------------------------------------------------------------------------------------- helpers
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Below the kernel's ephemeral range (32768 and up): a port the kernel gave to an outgoing connection (the
# bench's own, PostgreSQL's clients) accepts no connection, so port_in_use misses it and the bind then fails.
free_port() {
  local port
  while :; do
    port=$(( 20000 + RANDOM % 12000 ))
    port_in_use "$port" || { echo "$port"; return; }
  done
}
rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

# start_service SLUG LABEL [VAR=VALUE...]: starts `serve` on fresh ports with DATABASE_URL and DATA_DIR, waits for
# /readyz, records the time to ready and the idle RSS. With CUSTOM it also picks the port of the bench's
# custom-callback handler (HANDLER_ADDR, which `cyberapp-bench --workload CUSTOM --handler-listen` binds for
# each run) and routes the bench's custom callbacks there; the service connects to it on first use.
start_service() {
  local slug=$1 label=$2; shift 2
  HTTP_PORT=$(free_port)
  local grpc_port
  grpc_port=$(free_port)
  [[ $grpc_port != "$HTTP_PORT" ]] || grpc_port=$(free_port)
  local routes=()
  if (( CUSTOM )); then
    local handler_port
    handler_port=$(free_port)
    while [[ $handler_port == "$HTTP_PORT" || $handler_port == "$grpc_port" ]]; do handler_port=$(free_port); done
    HANDLER_ADDR="127.0.0.1:$handler_port"
    routes=("CUSTOM_CALLBACK_ROUTES=cti.a.p.acgw.callback.v1.0~vendor.bench.*=http://$HANDLER_ADDR")
  fi
  URL="http://127.0.0.1:$HTTP_PORT"
  SVC_LOG="$TMP/service-$slug.log"
  local t0 t1
  t0=$(date +%s%N)
  env ACGW_DEV_MODE=true DATA_DIR="$DATA_DIR" DATABASE_URL="$DATABASE_URL" \
    HTTP_ADDR="127.0.0.1:$HTTP_PORT" GRPC_ADDR="127.0.0.1:$grpc_port" RUST_LOG=warn LOG_FORMAT=json "${routes[@]}" "$@" \
    "$SERVICE_BIN" serve >>"$SVC_LOG" 2>&1 &
  SVC_PID=$!
  if ! "$BENCH" wait-ready --url "$URL" --timeout 60; then
    tail -n 20 "$SVC_LOG" >&2 || true
    die "the service ($label) did not become ready"
  fi
  t1=$(date +%s%N)
  READY_MS=$(( (t1 - t0) / 1000000 ))
  sleep 1
  IDLE_RSS=$(rss_mib "$SVC_PID")
  log "service $label (pid $SVC_PID) ready in ${READY_MS} ms, idle RSS ${IDLE_RSS} MiB, $URL"
  HEADER_LINES+=("| $label | ${READY_MS} ms | ${IDLE_RSS} MiB |")
}

stop_service() {
  if [[ -n $SVC_PID ]]; then
    kill -TERM "$SVC_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do
      kill -0 "$SVC_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SVC_PID" 2>/dev/null || true
    wait "$SVC_PID" 2>/dev/null || true
    SVC_PID=""
  fi
}

# bench_run BACKEND WORKLOAD TOKEN_MODE CONCURRENCY LABEL [extra bench args...]
bench_run() {
  local backend=$1 workload=$2 mode=$3 c=$4 label=$5; shift 5
  local out
  if out=$("$BENCH" --url "$URL" --dev-key "$DATA_DIR/dev-signing-key.pem" --customers "$CUSTOMERS" \
      --logins "$LOGINS" --identity "$IDENTITY" --password "$PASSWORD" --workload "$workload" --token-mode "$mode" \
      --w3p-partners "$W3P_PARTNERS" --concurrency "$c" --duration "$DURATION" --warmup "$WARMUP" \
      --service-pid "$SVC_PID" --json "$@"); then
    # Every row carries the floor of its backend and concurrency (null for the floor itself).
    jq -c --arg backend "$backend" --arg name "$label" --argjson floor "${FLOOR[$backend:$c]:-null}" \
      '. + {backend: $backend, name: $name, floor_rps: $floor}' <<<"$out" >>"$RESULTS"
    LAST_RPS=$(jq -r '.rps' <<<"$out")
  else
    FAILURES=$((FAILURES + 1))
    LAST_RPS=""
    jq -nc --arg backend "$backend" --arg name "$label" --arg w "$workload" --arg m "$mode" --argjson c "$c" \
      --argjson floor "${FLOOR[$backend:$c]:-null}" \
      '{backend: $backend, name: $name, workload: $w, token_mode: $m, concurrency: $c, floor_rps: $floor, failed: true}' \
      >>"$RESULTS"
    log "run failed: $backend $label $mode c=$c (see above)"
  fi
  if ! kill -0 "$SVC_PID" 2>/dev/null; then
    tail -n 30 "$SVC_LOG" >&2 || true
    die "the service exited during $backend $label c=$c"
  fi
}

# pool_rate RATE [FACTOR]: the --expected-rate for a fresh-token run, 1.25 × FACTOR × RATE, at least 200.
pool_rate() { awk -v r="${1:-0}" -v f="${2:-1}" 'BEGIN { r = r * f * 1.25; printf "%.0f", (r < 200 ? 200 : r) }'; }

# The floor of one backend, before its workloads: the service's own GET /healthz (same process and listener,
# no token, no database) and the bench against the sink (its own ceiling), at every concurrency. The /healthz
# rate is what every workload row is divided by (FLOOR[backend:concurrency]).
declare -A FLOOR=()
measure_floor() {
  local backend=$1 c out
  for c in $CONCURRENCIES; do
    bench_run "$backend" HEALTHZ reuse "$c" "floor /healthz"
    FLOOR[$backend:$c]=${LAST_RPS:-}
    # The sink answers anything: W1's request (a callback with a token) is the bench's costlier side.
    if out=$("$BENCH" --url "http://$SINK_ADDR" --dev-key "$DATA_DIR/dev-signing-key.pem" --workload W1 \
        --skip-preflight --concurrency "$c" --duration "$DURATION" --warmup "$WARMUP" --json); then
      jq -c --arg backend "$backend" '. + {backend: $backend, name: "floor sink (bench ceiling)", floor_rps: null}' \
        <<<"$out" >>"$RESULTS"
    else
      FAILURES=$((FAILURES + 1))
      log "the sink run failed ($backend c=$c)"
    fi
  done
}

# The disk's fsync rate in the SQLite data directory, with the service idle: SQLite's commit ceiling.
measure_fsync() {
  local backend=$1 out
  if out=$("$BENCH" fsync-rate --dir "$DATA_DIR" --seconds "$FSYNC_SECONDS" --json); then
    jq -c --arg backend "$backend" '. + {backend: $backend, name: "fsync"}' <<<"$out" >>"$RESULTS"
    log "fsync rate in $DATA_DIR: $(jq -r .fsync_per_sec <<<"$out")/s"
  else
    FAILURES=$((FAILURES + 1))
  fi
}

# Runs the selected workloads against the running service: W1-W3 and W5 with reused and with fresh tokens,
# W4 and CUSTOM with reused ones (CUSTOM's token path is W1's; what it adds is the routing to the handler).
run_workloads() {
  local backend=$1 w c rps
  local -A w1_fresh_rps=()
  for w in $LOAD_WORKLOADS; do
    for c in $CONCURRENCIES; do
      if [[ $w == CUSTOM ]]; then
        bench_run "$backend" "$w" reuse "$c" "$w" --handler-listen "$HANDLER_ADDR"
        continue
      fi
      bench_run "$backend" "$w" reuse "$c" "$w"
      rps=${LAST_RPS:-0}
      case $w in
        W1 | W2 | W3 | W3P)
          # Size the fresh-token pool from the reuse run: fresh is never faster than reuse.
          bench_run "$backend" "$w" fresh "$c" "$w" --expected-rate "$(pool_rate "$rps")"
          if [[ $w == W1 ]]; then w1_fresh_rps[$c]=${LAST_RPS:-0}; fi
          ;;
        W5)
          # A reused forged token is refused from the service's token-verdict cache; fresh ones each cost an
          # RSA check but no database work: five times the rate of W1 with fresh tokens sizes the pool (15000/s
          # when W1 did not run). Forged tokens cost the bench no signing, so the pool may be large.
          bench_run "$backend" "$w" fresh "$c" "$w" \
            --expected-rate "$(pool_rate "${w1_fresh_rps[$c]:-3000}" 5)" --pool-cap 400000
          ;;
      esac
    done
  done
}

# import_directory BACKEND FILE: `cyberapp-tenants directory import FILE` into the backend's database.
import_directory() {
  local backend=$1 file=$2 out="$TMP/import-$1-$(basename "$2" .json).log"
  DATABASE_URL="$DATABASE_URL" "$SERVICE_BIN" directory import "$file" >"$out" 2>&1 \
    || { cat "$out" >&2; die "directory import of $(basename "$file") failed ($backend)"; }
}

# The reads of the large partner against the running service; its table goes to LARGE_REPORTS.
run_large_partner() {
  local backend=$1 out="$TMP/large-partner-$1.md"
  import_directory "$backend" "$TMP/large-directory.json"
  log "large partner ($backend)"
  LARGE_REPORTS+=("$out")
  if ! "$BENCH" large-partner --url "$URL" --dev-key "$DATA_DIR/dev-signing-key.pem" --label "$backend" >"$out"; then
    FAILURES=$((FAILURES + 1))
    log "large partner failed ($backend; see above)"
  fi
}

# HUGE on a fresh database of the backend: the service migrates it, stops; the seed SQL and the directory
# imports go in with the service down; the service restarts (nothing cached), then W1 over random seeded
# partners, W2, the large partner's reads, and the RSS after them. Its table goes to HUGE_LINES.
run_huge() {
  local backend=$1 t0 t1 seed_secs import_secs partners huge_url
  local started
  started=$(date +%s)
  partners=$(( HUGE_RECORDS - HUGE_RECORDS / 10 ))
  stop_service
  if [[ $backend == sqlite ]]; then
    huge_url="sqlite://$DATA_DIR/huge.db?mode=rwc"
  else
    PG_HUGE_DB="cyberapp_bench_huge_$(date +%s)_$$"
    psql "$PG_ADMIN" -qAtc "CREATE DATABASE $PG_HUGE_DB" >/dev/null
    huge_url="${PG_ADMIN%/*}/$PG_HUGE_DB"
  fi
  local DATABASE_URL=$huge_url
  log "HUGE ($backend): migrating a fresh database"
  start_service "$backend-huge-empty" "$backend, HUGE database before seeding"
  stop_service
  log "HUGE ($backend): seeding $HUGE_RECORDS tenant records"
  "$BENCH" huge-seed-sql --backend "$backend" --records "$HUGE_RECORDS" --customers $(( HUGE_RECORDS / 10 )) \
    >"$TMP/huge-seed-$backend.sql"
  t0=$(date +%s)
  if [[ $backend == sqlite ]]; then
    sqlite3 "$DATA_DIR/huge.db" <"$TMP/huge-seed-$backend.sql" >/dev/null
  else
    psql "$huge_url" -v ON_ERROR_STOP=1 -qAt -f "$TMP/huge-seed-$backend.sql" >/dev/null
  fi
  t1=$(date +%s)
  seed_secs=$(( t1 - t0 ))
  log "HUGE ($backend): seeded in ${seed_secs}s; importing the directory ($HUGE_CUSTOMERS customers of large-msp)"
  import_directory "$backend" "$TMP/directory.json"
  import_directory "$backend" "$TMP/huge-directory.json"
  import_secs=$(( $(date +%s) - t1 ))
  start_service "$backend-huge" "$backend, HUGE ($HUGE_RECORDS seeded records)"
  local idle_rss=$IDLE_RSS
  "$BENCH" setup --url "$URL" --dev-key "$DATA_DIR/dev-signing-key.pem" --identity "$IDENTITY" \
    --password "$PASSWORD" --customers "$CUSTOMERS" --w3p-partners 0 2>"$TMP/setup-$backend-huge.log" \
    || { cat "$TMP/setup-$backend-huge.log" >&2; die "setup failed ($backend, HUGE)"; }
  local c
  for c in $CONCURRENCIES; do
    bench_run "$backend" W1 reuse "$c" "W1 HUGE (random of $partners partners)" --w1-partners "$partners"
  done
  for c in $CONCURRENCIES; do
    bench_run "$backend" W2 reuse "$c" "W2 HUGE"
  done
  local out="$TMP/huge-partner-$backend.md" reads=ok
  log "HUGE ($backend): the large partner's reads ($HUGE_CUSTOMERS customers, $HUGE_MAPPED mapped)"
  # Its table is kept even when a read failed: it says which, and times the others.
  LARGE_REPORTS+=("$out")
  if ! "$BENCH" large-partner --url "$URL" --dev-key "$DATA_DIR/dev-signing-key.pem" --customers "$HUGE_CUSTOMERS" \
      --mapped "$HUGE_MAPPED" --repeats 3 --label "$backend, HUGE" >"$out"; then
    FAILURES=$((FAILURES + 1))
    reads="**FAILED** (see the log)"
    log "HUGE large partner failed ($backend; see above)"
  fi
  local rss_after
  rss_after=$(rss_mib "$SVC_PID")
  local max_rss
  max_rss=$(jq -rs --arg b "$backend" '[.[] | select(.backend == $b and (.name | test("HUGE"))) | .service_max_rss_mib // 0] | max // "-"' "$RESULTS")
  HUGE_LINES+=("| $backend | $HUGE_RECORDS | ${seed_secs} s | ${import_secs} s | ${idle_rss} MiB | ${max_rss} MiB | $reads | **${rss_after} MiB** | $(( $(date +%s) - started )) s |")
  stop_service
  if [[ $backend == postgres ]]; then
    psql "$PG_ADMIN" -qAtc "DROP DATABASE IF EXISTS $PG_HUGE_DB WITH (FORCE)" >/dev/null
    PG_HUGE_DB=""
  fi
}

pg_start() {
  if [[ -n ${PG_ADMIN_URL:-} ]]; then
    PG_ADMIN=$PG_ADMIN_URL
  elif port_in_use 5432; then
    PG_ADMIN="postgres://postgres@127.0.0.1:5432/postgres"
  else
    log "no PostgreSQL on 127.0.0.1:5432; starting a throwaway cluster"
    if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    local port
    port=$(free_port)
    PG_DIR=$(mktemp -d /tmp/cyberapp-bench-pg.XXXXXX)
    chown postgres "$PG_DIR"
    su postgres -c "$PG_BIN/initdb -D $PG_DIR --auth=trust -U postgres" >/dev/null
    su postgres -c "$PG_BIN/pg_ctl -D $PG_DIR -o '-c listen_addresses=127.0.0.1 -p $port -k /tmp' -w start" >/dev/null
    PG_ADMIN="postgres://postgres@127.0.0.1:$port/postgres"
  fi
  PG_DB="cyberapp_bench_$(date +%s)_$$"
  psql "$PG_ADMIN" -qAtc "CREATE DATABASE $PG_DB" >/dev/null
  DATABASE_URL="${PG_ADMIN%/*}/$PG_DB"
}

pg_stop() {
  if [[ -n $PG_DB ]]; then
    psql "$PG_ADMIN" -qAtc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
    PG_DB=""
  fi
}

# --------------------------------------------------------------------------------------------------- runs
HEADER_LINES=()
LOG_LINES=()
LARGE_REPORTS=()
HUGE_LINES=()
SINK_ADDR="127.0.0.1:$(free_port)"
"$SINK" "$SINK_ADDR" >"$TMP/sink.log" 2>&1 &
SINK_PID=$!
for _ in $(seq 1 100); do port_in_use "${SINK_ADDR##*:}" && break; sleep 0.05; done
for backend in $BACKENDS; do
  DATA_DIR="$TMP/$backend"
  mkdir -p "$DATA_DIR"
  if [[ $backend == sqlite ]]; then
    DATABASE_URL="sqlite://$DATA_DIR/tenants.db?mode=rwc"
  else
    pg_start
  fi
  log "=== $backend"
  start_service "$backend" "$backend"
  # Only rates need a floor to be read against (LARGE alone, as CI runs it, times single reads).
  if [[ -n $LOAD_WORKLOADS ]] || (( HUGE )); then
    measure_floor "$backend"
    if [[ $backend == sqlite ]]; then measure_fsync "$backend"; fi
  fi
  if [[ -n $LOAD_WORKLOADS ]]; then
    import_directory "$backend" "$TMP/directory.json"
    "$BENCH" setup --url "$URL" --dev-key "$DATA_DIR/dev-signing-key.pem" --identity "$IDENTITY" \
      --password "$PASSWORD" --customers "$CUSTOMERS" --w3p-partners "$W3P_PARTNERS" 2>"$TMP/setup-$backend.log" \
      || { cat "$TMP/setup-$backend.log" >&2; die "setup failed ($backend)"; }
    run_workloads "$backend"
  fi
  if (( LARGE )); then run_large_partner "$backend"; fi

  if [[ " $WORKLOADS " == *" W2 "* ]]; then
    # W2 once more with the credential cache disabled (CREDENTIAL_CACHE_TTL_SECS=0: nothing is remembered,
    # so every enablement.read pays for Argon2).
    stop_service
    start_service "$backend-cache-off" "$backend, credential cache off" CREDENTIAL_CACHE_TTL_SECS=0
    for c in $CONCURRENCIES; do
      bench_run "$backend" W2 reuse "$c" "W2 cache off"
    done
  fi
  if (( HUGE )); then run_huge "$backend"; fi
  stop_service
  for f in "$TMP"/service-"$backend"*.log; do
    n_warn=$(grep -c '"level":"WARN"' "$f" || true)
    n_error=$(grep -c '"level":"ERROR"' "$f" || true)
    if (( n_error > 0 )); then
      log "service log $(basename "$f"): $n_error ERROR lines, e.g.:"
      grep '"level":"ERROR"' "$f" | sort | uniq -c | sort -rn | head -n 5 >&2 || true
    fi
    LOG_LINES+=("$(basename "$f" .log): $n_warn WARN, $n_error ERROR log lines")
  done
  if [[ $backend == postgres ]]; then pg_stop; fi
done

# ------------------------------------------------------------------------------------------------- report
elapsed=$(( $(date +%s) - RUN_STARTED ))
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
{
  echo "## cyberapp-tenants load test"
  echo
  echo "Machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, kernel $(uname -r); service commit $commit (work tree as built)."
  if [[ -n $LOAD_WORKLOADS ]]; then
    echo "Each run: ${WARMUP}s warm-up, ${DURATION}s measured; closed loop, one HTTP/1.1 keep-alive connection per"
    echo "concurrency unit; latencies in ms. CPU% is of one core (200% = both cores of a 2-core machine), measured over"
    echo "the measured window; errors = responses with a status other than the expected one (200; 401 for W5) plus"
    echo "transport errors; all CPU% = every process on the machine (service + bench + PostgreSQL + the rest)."
    if (( CUSTOM )); then
      echo "CUSTOM direct = the bench's trivial CustomCallbackHandler called straight over gRPC (one shared HTTP/2"
      echo "channel, as the gateway's), at the same concurrency, just before the CUSTOM run through the service."
    fi
  fi
  echo "Whole run took ${elapsed}s."
  echo
  echo "| service instance | ready after spawn | idle RSS |"
  echo "|---|---|---|"
  printf '%s\n' "${HEADER_LINES[@]}"
  echo
  if (( ${#LOG_LINES[@]} )); then printf -- '- %s\n' "${LOG_LINES[@]}"; echo; fi
  if [[ -n $LOAD_WORKLOADS ]] || (( HUGE )); then
    echo "Floor, measured first on each backend: the service's own GET /healthz (same process and listener, no token,"
    echo "no database) and the bench against examples/sink.rs sending W1's callback (the bench's own ceiling: when"
    echo "/healthz comes close to it, the floor is the bench's limit, not the service's). Every rate below is also"
    echo "given as a % of the /healthz rate at the same backend and concurrency."
    echo
    echo "| backend | concurrency | /healthz req/s | /healthz p50 | sink req/s (bench ceiling) | /healthz as % of sink | service CPU% on /healthz | bench CPU% on sink |"
    echo "|---|---|---|---|---|---|---|---|"
    jq -rs '
      def f0: if . == null then "-" else (. | round | tostring) end;
      [ .[] | select(.failed | not) ] as $rows
      | $rows[] | select(.name == "floor /healthz") as $h
      | ([ $rows[] | select(.name == "floor sink (bench ceiling)" and .backend == $h.backend and .concurrency == $h.concurrency) ][0]) as $s
      | "| \($h.backend) | \($h.concurrency) | **\($h.rps | f0)** | \($h.latency_ms.p50) | \($s.rps | f0) | \(if $s == null or $s.rps == 0 then "-" else ($h.rps * 100 / $s.rps | f0) end)% | \($h.service_cpu_pct | f0) | \($s.bench_cpu_pct | f0) |"' "$RESULTS"
    echo
    echo "| backend | workload | token | concurrency | req/s | % of floor | p50 | p90 | p99 | max | errors | service CPU% | service max RSS MiB | bench CPU% | all CPU% |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    jq -r '
      def f2: if . == null then "-" else (. * 100 | round / 100 | tostring) end;
      def f0: if . == null then "-" else (. | round | tostring) end;
      def errs:
        . as $r
        | ([$r.statuses | to_entries[] | select(.key != ($r.expected_status | tostring)) | "\(.key)×\(.value)"]
           + [$r.transport_errors | to_entries[] | "\(.key)×\(.value)"]) as $detail
        | if $r.errors == 0 then "0" else "\($r.errors) (\($detail | join(", ")))" end;
      def pct: if .floor_rps == null or .floor_rps == 0 then "-" else "\(.rps * 100 / .floor_rps | round)%" end;
      select(.name != "fsync" and (.name | startswith("floor ") | not))
      | . as $r0 | if .failed then
        "| \(.backend) | \(.name) | \(.token_mode) | \(.concurrency) | FAILED | - | - | - | - | - | - | - | - | - | - |"
      else
        "| \(.backend) | \(.name) | \(.token_mode)\(if .tokens.wrapped then " (pool wrapped)" else "" end) | \(.concurrency) | \(.rps | f0) | \(pct) | \(.latency_ms.p50 | f2) | \(.latency_ms.p90 | f2) | \(.latency_ms.p99 | f2) | \(.latency_ms.max | f2) | \(errs) | \(.service_cpu_pct | f0) | \(.service_max_rss_mib | if . == null then "-" else tostring end) | \(.bench_cpu_pct | f0) | \(if .machine_busy_pct == null then "-" else (.machine_busy_pct * $ncpu | round | tostring) end) |",
        (.custom // empty | "| \($r0.backend) | \($r0.name) direct | gRPC | \(.direct.concurrency) | \(.direct.rps | f0) | - | \(.direct.latency_ms.p50 | f2) | \(.direct.latency_ms.p90 | f2) | \(.direct.latency_ms.p99 | f2) | \(.direct.latency_ms.max | f2) | \(.direct.errors) | - | - | - | - |")
      end' --argjson ncpu "$(nproc)" "$RESULTS"
    if (( CUSTOM )); then
      echo
      echo "Custom callbacks: routing overhead = end-to-end latency through the service minus the handler called directly (ms)."
      echo
      echo "| backend | concurrency | end-to-end req/s | e2e p50 | direct p50 | **overhead p50** | e2e p99 | direct p99 | overhead p99 | service CPU ms per callback | handler calls / callbacks sent |"
      echo "|---|---|---|---|---|---|---|---|---|---|---|"
      jq -r '
        def f2: if . == null then "-" else (. * 100 | round / 100 | tostring) end;
        select(.custom and (.failed | not))
        | "| \(.backend) | \(.concurrency) | \(.rps | round) | \(.latency_ms.p50 | f2) | \(.custom.direct.latency_ms.p50 | f2) | **\(.custom.overhead_p50_ms | f2)** | \(.latency_ms.p99 | f2) | \(.custom.direct.latency_ms.p99 | f2) | \(.custom.overhead_p99_ms | f2) | \(if .service_cpu_pct == null or .rps == 0 then "-" else (.service_cpu_pct * 10 / .rps | f2) end) | \(.custom.handler_calls) / \(.custom.callbacks_sent) |"' "$RESULTS"
    fi
  fi
  fsync_rows=$(jq -rs '
    def f2: . * 100 | round / 100;
    [ .[] | select(.failed | not) ] as $rows
    | $rows[] | select(.name == "fsync") as $f
    | $rows[] | select(.backend == $f.backend and (.name == "W3" or .name == "W3P"))
    | "| \(.backend) | \(.name) | \(.token_mode) | \(.concurrency) | \(.rps | round) | \($f.fsync_per_sec | round) | **\(.rps / $f.fsync_per_sec | f2)** |"' "$RESULTS")
  if [[ -n $fsync_rows ]]; then
    echo
    echo "Disk: one thread's write 4 KiB + fdatasync per second in the SQLite data directory, with the service idle"
    echo "(\`cyberapp-bench fsync-rate\`, ${FSYNC_SECONDS}s). SQLite in WAL mode with synchronous=FULL syncs once per commit, so"
    echo "writes per second ÷ fsyncs per second near 1 means the writes are bound by the disk."
    echo
    echo "| backend | workload | token | concurrency | req/s | fsync/s | req/s ÷ fsync/s |"
    echo "|---|---|---|---|---|---|---|"
    echo "$fsync_rows"
  fi
  if (( ${#HUGE_LINES[@]} )); then
    echo
    echo "HUGE: $HUGE_RECORDS tenant records seeded straight into the database ($(( HUGE_RECORDS - HUGE_RECORDS / 10 )) mirrored partners with"
    echo "their organizations, $(( HUGE_RECORDS / 10 )) mirrored customers under 100 of them), plus large-msp with $HUGE_CUSTOMERS customer organizations"
    echo "(directory import) of which $HUGE_MAPPED are mapped through callbacks; W1/W2 HUGE rows above, the reads below."
    echo "Targets (issue 18): RSS with 1,000,000 records and a warm read path ≤ 300 MiB; idle RSS ≤ 30 MiB."
    echo
    echo "| backend | seeded records | seed time | directory import | idle RSS after restart | max RSS during W1/W2 | large partner's reads | RSS after the reads | HUGE took |"
    echo "|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${HUGE_LINES[@]}"
  fi
  for report in "${LARGE_REPORTS[@]}"; do
    echo
    cat "$report"
  done
} | tee "$TMP/report.md"

# The cache-off runs must be far slower than the cached ones, or the cache was not off.
check=$(jq -rs '
  [ .[] | select(.failed | not) ] as $rows
  | [ $rows[] | select(.name == "W2 cache off") as $off
      | ($rows[] | select(.name == "W2" and .token_mode == "reuse" and .backend == $off.backend and .concurrency == $off.concurrency)) as $on
      | (($on.statuses["200"] // 0) / $on.duration_secs | round) as $on_ok
      | (($off.statuses["200"] // 0) / $off.duration_secs | round) as $off_ok
      | "\($off.backend) c=\($off.concurrency): \($on_ok) successful req/s with the cache, \($off_ok) with it off"
        + (if $off_ok * 3 > $on_ok then " (NOT clearly slower: is the cache really off?)" else "" end) ]
  | .[]' "$RESULTS")
if [[ -n $check ]]; then
  echo
  echo "Credential cache check (W2):"
  sed 's/^/- /' <<<"$check"
fi

unexpected=$(jq -s '[.[] | select(.failed | not) | .errors] | add // 0' "$RESULTS")
log "done in ${elapsed}s; $FAILURES failed runs, $unexpected unexpected responses in total; raw results: $RESULTS"
if (( FAILURES > 0 )); then
  exit 1
fi
