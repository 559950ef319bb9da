#!/usr/bin/env bash
# test/bench/drift.sh — drift detection at scale (not part of test/run).
#
#   test/bench/drift.sh              1,000 and 10,000 tables
#   test/bench/drift.sh 1000         one size
#
# For each size it builds, on a throwaway cluster, a schema of N tables with
# 10 columns, a primary key, one extra index, one foreign key and one CHECK
# constraint each, then measures in the same run:
#   snapshot()    the first snapshot (writes every object)
#   fingerprint() best of 3
#   drift()       best of 3 in new sessions, no drift (and the CPU time the
#                 backend spent, which a busy machine does not inflate); once more in the same
#                 session (warm catalog caches, as in the background worker);
#                 then with 10 objects drifted
#   memory        of the backend running drift(): peak RSS growth (VmHWM,
#                 includes shared buffers it touched), its memory contexts,
#                 of which PostgreSQL's catalog caches and migrate_ops' own
#                 object sets (from its DEBUG1 line)
#   pg_dump --schema-only of the same database (the baseline), best of 2
# and prints the ratios.  Targets (10,000 tables): drift() <= 2 s,
# fingerprint() <= 1.5 s, snapshot() <= 5 s, drift() >= 10x faster than
# pg_dump --schema-only.
set -euo pipefail
source "$(dirname "$0")/../lib/cluster.sh"

sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(1000 10000)

trap mo_cleanup EXIT
mo_setup
mo_cluster_start "shared_buffers = 256MB" "max_locks_per_transaction = 256" "autovacuum = off"

psqlq() { mo_psql -At "$@"; }

# Milliseconds taken by one SQL statement, in a fresh session.
time_ms() {
    local db=$1 sql=$2
    psqlq -d "$db" <<SQL | tail -1
SELECT pg_catalog.clock_timestamp() AS t0 \gset
$sql
SELECT round(extract(epoch FROM pg_catalog.clock_timestamp() - :'t0') * 1000)::int;
SQL
}

# Best (lowest) of several runs.
best_ms() {
    local db=$1 sql=$2 runs=$3 best= t i
    for ((i = 0; i < runs; i++)); do
        t=$(time_ms "$db" "$sql")
        if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
    done
    echo "$best"
}

# kB from a /proc status line of the session's own backend.
proc_kb() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p"; }

ratio() { python3 -c "print(f'{$1 / max($2, 1):.1f}')"; }

header() {
    printf '%-7s %8s %9s %12s %8s %10s %10s %10s %10s %22s %11s %10s %10s\n' tables objects snapshot fingerprint \
        drift "drift CPU" "drift warm" "drift(10)" "peak RSS" "contexts/caches/states" "pg_dump -s" dump/drift "dump/warm"
}
results=()
for n in "${sizes[@]}"; do
    db=bench_$n
    mo_log "building $n tables"
    mo_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    mo_psql -d "$db" -c "CREATE EXTENSION migrate_ops" \
        -c "CREATE TABLE public.root (id bigint PRIMARY KEY)" >/dev/null
    t0=$SECONDS
    psqlq -d "$db" -c "
        SELECT format('CREATE TABLE public.t%1\$s (id bigint PRIMARY KEY, root_id bigint REFERENCES public.root (id),
                         c1 integer NOT NULL DEFAULT 0, c2 text, c3 numeric(12,2), c4 timestamptz DEFAULT now(),
                         c5 boolean, c6 varchar(80), c7 jsonb, c8 date,
                         CONSTRAINT t%1\$s_c1_check CHECK (c1 >= 0));
                       CREATE INDEX t%1\$s_c2_idx ON public.t%1\$s (c2);', i)
          FROM generate_series(1, $n) i" | mo_psql -q -d "$db" >/dev/null
    mo_psql -d "$db" -c "VACUUM ANALYZE" >/dev/null
    echo "built in $((SECONDS - t0)) s"

    snap=$(time_ms "$db" "SELECT migrate_ops.snapshot('bench') \\g /dev/null")
    objects=$(psqlq -d "$db" -c "SELECT object_count FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1")
    fp=$(best_ms "$db" "SELECT migrate_ops.fingerprint() \\g /dev/null" 3)
    dr=$(best_ms "$db" "SELECT count(*) FROM migrate_ops.drift() \\g /dev/null" 3)

    # memory of a backend running drift(): peak RSS growth (includes the shared
    # buffers it touched), its memory contexts, of which the catalog caches
    # PostgreSQL's deparsers fill and migrate_ops' own two object sets; and
    # drift() again in the same session (warm catalog caches, like the worker)
    mem=$(PGOPTIONS="-c client_min_messages=debug1" psqlq -d "$db" 2>&1 <<'SQL'
SELECT pg_catalog.pg_read_file('/proc/self/status') AS before \gset
SELECT pg_catalog.pg_read_file('/proc/self/stat') AS stat0 \gset
SELECT count(*) FROM migrate_ops.drift();
SELECT pg_catalog.pg_read_file('/proc/self/stat') AS stat1 \gset
SELECT pg_catalog.pg_read_file('/proc/self/status') AS after \gset
\echo STAT0 :stat0
\echo STAT1 :stat1
\echo BEFORE :before
\echo AFTER :after
SELECT pg_catalog.clock_timestamp() AS t0 \gset
SELECT count(*) FROM migrate_ops.drift();
SELECT 'WARM ' || round(extract(epoch FROM pg_catalog.clock_timestamp() - :'t0') * 1000)::int;
SQL
)
    rss0=$(grep -A60 '^BEFORE' <<<"$mem" | proc_kb VmRSS | head -1)
    hwm1=$(grep -A60 '^AFTER' <<<"$mem" | proc_kb VmHWM | head -1)
    peak_mb=$(python3 -c "print(f'{($hwm1 - $rss0) / 1024:.0f}')")
    line=$(grep -m1 'drift against snapshot' <<<"$mem")
    states_mb=$(sed -n 's/.*states \([0-9]*\) bytes.*/\1/p' <<<"$line" | awk '{printf "%.0f", $1 / 1048576}')
    ctx_mb=$(sed -n 's/.*backend memory \([0-9]*\) bytes.*/\1/p' <<<"$line" | awk '{printf "%.0f", $1 / 1048576}')
    cache_mb=$(sed -n 's/.*catalog caches \([0-9]*\) bytes.*/\1/p' <<<"$line" | awk '{printf "%.0f", $1 / 1048576}')
    warm=$(sed -n 's/^WARM \([0-9]*\)/\1/p' <<<"$mem")
    # CPU time of the backend for that drift() (utime + stime, clock ticks)
    cpu=$(python3 -c "
import sys, os
s0, s1 = (l.split(')', 1)[1].split() for l in sys.argv[1:3])
ticks = (int(s1[11]) + int(s1[12])) - (int(s0[11]) + int(s0[12]))
print(round(ticks * 1000 / os.sysconf('SC_CLK_TCK')))" "$(sed -n 's/^STAT0 //p' <<<"$mem")" "$(sed -n 's/^STAT1 //p' <<<"$mem")")

    # 10 objects drifted: 5 new indexes, 5 changed column defaults
    mo_psql -q -d "$db" -c "
        DO \$\$ BEGIN FOR i IN 1..5 LOOP
          EXECUTE format('CREATE INDEX bench_extra_%s ON public.t%s (c3)', i, i);
          EXECUTE format('ALTER TABLE public.t%s ALTER COLUMN c1 SET DEFAULT 1', i + 10);
        END LOOP; END \$\$" >/dev/null
    dr10=$(best_ms "$db" "SELECT count(*) FROM migrate_ops.drift() \\g /dev/null" 3)
    ndrift=$(psqlq -d "$db" -c "SELECT count(*) FROM migrate_ops.drift()")
    [ "$ndrift" = 10 ] || echo "warning: expected 10 drifted objects, got $ndrift"

    dump=
    for i in 1 2; do
        t0=$(date +%s%N)
        "$MO_BIN/pg_dump" --schema-only -d "$db" >/dev/null
        t=$(( ($(date +%s%N) - t0) / 1000000 ))
        if [ -z "$dump" ] || [ "$t" -lt "$dump" ]; then dump=$t; fi
    done

    line=$(printf '%-7s %8s %9s %12s %8s %10s %10s %10s %10s %22s %11s %10s %10s' "$n" "$objects" "${snap} ms" "${fp} ms" \
        "${dr} ms" "${cpu} ms" "${warm} ms" "${dr10} ms" "${peak_mb} MB" "${ctx_mb}/${cache_mb}/${states_mb} MB" "${dump} ms" \
        "$(ratio "$dump" "$dr")x" "$(ratio "$dump" "$warm")x")
    results+=("$line")
    echo "$line"
    mo_psql -d postgres -c "DROP DATABASE $db" >/dev/null
done

mo_log "results (PostgreSQL $MO_PGMAJOR, $(nproc) CPUs, shared machine)"
header
printf '%s\n' "${results[@]}"
