#!/usr/bin/env bash
# test/bench/gates.sh — the cost of health(), ready() and preflight() (not part of test/run).
#
#   test/bench/gates.sh            10,000 ledger rows, 100,000 sent deliveries, 1,000 tables
#   test/bench/gates.sh 1000       another number of tables
#
# health() and ready() are what a monitoring probe calls every few seconds:
# they must stay a few index lookups however long the ledger, the outbox and
# the backup registry grow.  On a throwaway cluster it fills them (10,000
# migrations, 100,000 sent and 100 pending deliveries, 2,000 scans, 1,000
# backups), then measures with pgbench (one client, 3 s each, in the same
# run) the latency of:
#   SELECT 1                         the baseline: a round trip that does nothing
#   SELECT * FROM worker_status()    the baseline among monitoring calls
#   SELECT migrate_ops.ready()
#   SELECT migrate_ops.health()
# and prints the ratios.  Then preflight() of a one-statement migration on a
# schema of N tables, against drift() alone (which it runs), best of 3.
# Target: health() and ready() under 1 ms, within 10x of SELECT 1.
set -euo pipefail
source "$(dirname "$0")/../lib/cluster.sh"

tables=${1:-1000}

trap mo_cleanup EXIT
mo_setup
mo_cluster_start "shared_buffers = 128MB" "autovacuum = off"
psqlq() { mo_psql -At "$@"; }
db=bench_gates
mo_psql -d postgres -c "CREATE DATABASE $db" >/dev/null
psqlq -d $db -c "CREATE EXTENSION migrate_ops" >/dev/null

mo_log "filling the ledger, the outbox, scans and backups"
psqlq -d $db >/dev/null <<SQL
SET migrate_ops.capture_ddl = off;
INSERT INTO migrate_ops.migrations (version, checksum, state, source, started_at, finished_at, applied_by)
SELECT lpad(g::text, 8, '0'), md5(g::text), CASE WHEN g % 1000 = 0 THEN 'rolled_back' ELSE 'applied' END,
       'apply', now() - (g || ' minutes')::interval, now(), 'bench'
  FROM generate_series(1, 10000) g;
INSERT INTO migrate_ops.outbox (event_id, event, channel, payload, state, sent_at, next_attempt_at)
SELECT g, 'migration.applied', 'c', '{}', CASE WHEN g <= 100 THEN 'pending' ELSE 'sent' END,
       CASE WHEN g > 100 THEN now() END, now() + interval '1 hour'
  FROM generate_series(1, 100000) g;
INSERT INTO migrate_ops.scans (scanned_by, status, fingerprint)
SELECT 'bench', 'clean', md5(g::text) FROM generate_series(1, 2000) g;
INSERT INTO migrate_ops.backups (label, location, size_bytes, taken_at, recorded_by)
SELECT 'nightly', 's3://b/' || g, 1000, now() - (g || ' hours')::interval, 'bench' FROM generate_series(1, 1000) g;
SELECT format('CREATE TABLE t%s (id int PRIMARY KEY, a int, b text)', g) FROM generate_series(1, $tables) g \gexec
SELECT migrate_ops.snapshot('bench');
VACUUM ANALYZE;
SQL

# Average latency (ms) of one statement over 3 s with one client.
latency() {
    printf '%s\n' "$1" >"$MO_WORK/bench.sql"
    "$MO_BIN/pgbench" -n -c 1 -T 3 -f "$MO_WORK/bench.sql" -h "$MO_SOCK" -p "$PGPORT" -U postgres $db 2>/dev/null |
        sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p'
}

base=$(latency "SELECT 1;")
status=$(latency "SELECT * FROM migrate_ops.worker_status();")
ready=$(latency "SELECT migrate_ops.ready();")
health=$(latency "SELECT migrate_ops.health();")

# Best of 3 (ms) of one statement in a new session.
best_ms() {
    local best= t
    for _ in 1 2 3; do
        t=$(psqlq -d $db <<SQL | tail -1
SELECT clock_timestamp() AS t0 \gset
$1
SELECT round(EXTRACT(epoch FROM clock_timestamp() - :'t0') * 1000, 1);
SQL
)
        if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
    done
    echo "$best"
}
drift=$(best_ms "SELECT count(*) FROM migrate_ops.drift();")
preflight=$(best_ms "SELECT count(*) FROM migrate_ops.preflight('99999999', 'ALTER TABLE t1 ADD COLUMN c int');")

echo
printf '%-44s %10s %10s\n' "per call (pgbench, 1 client, 3 s)" "ms" "vs SELECT 1"
for row in "SELECT 1 (baseline):$base" "worker_status() (baseline):$status" "ready():$ready" "health():$health"; do
    name=${row%%:*}; v=${row##*:}
    printf '%-44s %10s %10s\n' "$name" "$v" "$(awk "BEGIN{printf \"%.1fx\", $v / $base}")"
done
echo
printf '%-44s %10s\n' "$tables tables, best of 3 (new session)" "ms"
printf '%-44s %10s\n' "drift() (baseline)" "$drift"
printf '%-44s %10s %10s\n' "preflight(version, script)" "$preflight" "$(awk "BEGIN{printf \"%.2fx\", $preflight / $drift}")"
