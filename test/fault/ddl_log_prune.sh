#!/usr/bin/env bash
# test/fault/ddl_log_prune.sh — a 1,000,000-row migrate_ops.ddl_log pruned by
# retention without long locks.  On a throwaway cluster (the test harness's):
# fills ddl_log with ROWS rows (default 1,000,000) older than the retention
# period and 1,000 recent ones, then lets the background worker prune them
# while a session runs DDL in a loop (CREATE TABLE / DROP TABLE, each of
# which writes ddl_log too), and asserts:
#   - every old row is pruned and every recent one kept;
#   - no DDL statement waited on a lock (log_lock_waits, deadlock_timeout =
#     200 ms) and none took longer than MAX_DDL_MS (default 1,000 ms);
#   - no prune transaction of the worker stayed open longer than
#     MAX_PRUNE_XACT_MS (default 1,000 ms): the longest any lock was held.
# Then the same for migrate_ops.prune_ddl_log() by hand (one statement).
# Too slow for the suite (a minute or two); run it by hand:
#
#   test/fault/ddl_log_prune.sh
set -euo pipefail
source "$(dirname "$0")/../lib/cluster.sh"

ROWS=${ROWS:-1000000}
MAX_DDL_MS=${MAX_DDL_MS:-1000}
MAX_PRUNE_XACT_MS=${MAX_PRUNE_XACT_MS:-1000}

trap mo_cleanup EXIT
mo_setup
mo_cluster_start "log_lock_waits = on" "deadlock_timeout = '200ms'"
fail() { echo "not ok - $*"; exit 1; }
db=prune
mo_psql -d postgres -c "CREATE DATABASE $db" >/dev/null
mo_psql -d $db -c "CREATE EXTENSION migrate_ops" >/dev/null
q() { mo_psql -At -d $db -c "$1"; }
worker() { q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = '$db'"; }
set_databases() {
    q "ALTER SYSTEM SET migrate_ops.databases = '$1'" >/dev/null
    q "SELECT pg_reload_conf()" >/dev/null
    local i; for i in $(seq 200); do [ "$(worker)" = "$2" ] && return 0; sleep 0.1; done
    fail "the worker did not come to $2"
}
fill() {  # fill N: N rows logged 31 to 90 days ago, 1,000 recent ones
    q "INSERT INTO migrate_ops.ddl_log (logged_at, event, command_tag, object_type, object_identity, schema_name,
                                        role, session_role, application_name, backend_pid, txid, statement)
       SELECT now() - interval '31 days' - (i % 5000) * interval '10 minutes', 'ddl_command_end', 'CREATE TABLE', 'table',
              'public.t' || i, 'public', 'app', 'app', 'fill', 4242, '1000', 'CREATE TABLE t' || i || ' (id int)'
         FROM generate_series(1, $1) i" >/dev/null
    q "INSERT INTO migrate_ops.ddl_log (event, command_tag, role, session_role, backend_pid, txid)
       SELECT 'ddl_command_end', 'COMMENT', 'app', 'app', 4242, '1000' FROM generate_series(1, 1000)" >/dev/null
    q "VACUUM ANALYZE migrate_ops.ddl_log" >/dev/null
}
old_rows() { q "SELECT count(*) FROM migrate_ops.ddl_log WHERE logged_at < now() - interval '30 days'"; }

printf 'CREATE TABLE ddl_probe (id int, note text);\nALTER TABLE ddl_probe ADD COLUMN extra int;\nDROP TABLE ddl_probe;\n' >"$MO_WORK/ddl.sql"
chmod 644 "$MO_WORK/ddl.sql"
mkdir -p "$MO_WORK/pgbench" && chown postgres: "$MO_WORK/pgbench" 2>/dev/null || true

# measure CMD...: runs the DDL loop and samples the longest open transaction of
# the pruning process while CMD (a condition) stays true
measure() {
    local label=$1 who=$2 cond=$3 t0 longest=0 x n=0
    rm -f "$MO_WORK"/pgbench/*
    : >"$MO_WORK/xact_ms"
    local log_from; log_from=$(wc -l <"$MO_LOG")
    t0=$(date +%s%N)
    ( cd "$MO_WORK/pgbench" && while [ ! -e "$MO_WORK/stop" ]; do
          "$MO_BIN/pgbench" -n -c 1 -T 1 -f "$MO_WORK/ddl.sql" --log --log-prefix="$MO_WORK/pgbench/ddl.$RANDOM" $db >/dev/null 2>&1 || true
      done ) &
    local bench=$!
    while eval "$cond"; do
        x=$(q "SELECT coalesce(max(extract(epoch FROM clock_timestamp() - xact_start) * 1000)::int, 0)
                 FROM pg_stat_activity WHERE datname = '$db' AND $who AND xact_start IS NOT NULL")
        [ "$x" -gt "$longest" ] && longest=$x
        n=$((n + 1))
        [ $(( ($(date +%s%N) - t0) / 1000000000 )) -lt 900 ] || { touch "$MO_WORK/stop"; fail "$label: not done in 15 minutes"; }
        sleep 0.05
    done
    touch "$MO_WORK/stop"; wait "$bench"; rm -f "$MO_WORK/stop"
    secs=$(python3 -c "print(round(($(date +%s%N) - $t0) / 1e9, 1))")
    read -r ddl_n ddl_p50 ddl_p99 ddl_max < <(cat "$MO_WORK"/pgbench/ddl.* | python3 -c "
import sys
v = sorted(int(l.split()[2]) / 1000.0 for l in sys.stdin if l.strip())
print(len(v), round(v[len(v) // 2], 1), round(v[int(len(v) * 0.99)], 1), round(v[-1], 1)) if v else print(0, 0, 0, 0)")
    waits=$(tail -n +"$log_from" "$MO_LOG" | grep -c "still waiting for" || true)
    echo "  $label: $secs s; DDL loop: $ddl_n runs of 3 statements, p50 $ddl_p50 ms, p99 $ddl_p99 ms, max $ddl_max ms; lock waits over 200 ms: $waits; longest prune transaction seen: $longest ms ($n samples)"
    [ "$ddl_n" -gt 0 ] || fail "$label: the DDL loop did not run"
    [ "$waits" = 0 ] || { tail -n +"$log_from" "$MO_LOG" | grep -A2 "still waiting for" | head; fail "$label: DDL waited on a lock"; }
    python3 -c "import sys; sys.exit(0 if $ddl_max < $MAX_DDL_MS else 1)" || fail "$label: a DDL loop run took $ddl_max ms"
    LONGEST=$longest
}

mo_log "filling ddl_log with $ROWS old rows"
set_databases "postgres" 0               # the worker stays out while the log is filled
fill "$ROWS"
[ "$(old_rows)" = "$ROWS" ] || fail "fill"
echo "ok - ddl_log holds $ROWS rows older than migrate_ops.retention (30 days) and 1,000 recent ones"

mo_log "1. the worker's retention, with DDL running"
set_databases "" 1                       # a new worker prunes first thing
measure "retention by the worker" "backend_type = 'migrate_ops worker'" '[ "$(old_rows)" != 0 ]'
[ "$LONGEST" -lt "$MAX_PRUNE_XACT_MS" ] || fail "a prune transaction of the worker stayed open $LONGEST ms"
[ "$(q "SELECT count(*) FROM migrate_ops.ddl_log WHERE application_name = 'fill'")" = 0 ] || fail "old rows left"
[ "$(q "SELECT count(*) FROM migrate_ops.ddl_log WHERE command_tag = 'COMMENT'")" = 1000 ] || fail "recent rows were pruned"
[ "$(q "SELECT count(*) >= 3 FROM migrate_ops.ddl_log WHERE object_identity = 'public.ddl_probe'")" = t ] || fail "the DDL loop was not logged"
echo "ok - retention pruned $ROWS rows in $secs s in batches, kept the recent ones and the loop's own; no DDL waited on a lock, the slowest loop run took $ddl_max ms (limit $MAX_DDL_MS), no prune transaction stayed open $MAX_PRUNE_XACT_MS ms (longest seen $LONGEST ms)"

mo_log "2. prune_ddl_log() by hand, with DDL running"
set_databases "postgres" 0
fill "$ROWS"
( q "SELECT migrate_ops.prune_ddl_log('30 days')" >"$MO_WORK/pruned" ) &
pruner=$!
measure "prune_ddl_log('30 days')" "query LIKE '%prune_ddl_log%' AND pid <> pg_backend_pid()" 'kill -0 $pruner 2>/dev/null'
wait $pruner
[ "$(cat "$MO_WORK/pruned")" = "$ROWS" ] || fail "prune_ddl_log() returned $(cat "$MO_WORK/pruned")"
[ "$(q "SELECT count(*) FROM migrate_ops.ddl_log WHERE command_tag = 'COMMENT'")" = 2000 ] || fail "recent rows were pruned"
echo "ok - prune_ddl_log('30 days') deleted $ROWS rows in one statement ($secs s, its transaction open $LONGEST ms): no DDL waited on a lock, the slowest loop run took $ddl_max ms"
set_databases "" 1
echo "all checks passed"
