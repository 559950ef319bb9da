#!/usr/bin/env bash
# test/bench/drift.sh — drift detection at scale (issue 11; not part of test/run).
#
#   test/bench/drift.sh                    1,000, 5,000, 10,000 and 20,000 tables
#   test/bench/drift.sh 1000 10000         the sizes given
#   MO_BENCH_MIGRA=0 test/bench/drift.sh   without the migra baseline
#
# For each size N it builds, on a throwaway cluster, N tables with 10
# columns, a primary key, one more index, a foreign key and a CHECK
# constraint each, plus N/10 views and N/10 functions (the issue's schema at
# N = 10,000: 1,000 views and 1,000 functions), then measures in the same run:
#   snapshot()     the first snapshot (writes every object), and a second one
#                  with nothing changed (what every deploy pays)
#   fingerprint()  best of 3, new sessions
#   drift()        best of 3 in new sessions, no drift, and the CPU time the
#                  backend spent (which a busy machine does not inflate);
#                  again in the same session (warm caches, as the worker runs
#                  it); then with 10 objects drifted
#   memory         of the backend running drift(): peak RSS growth (VmHWM,
#                  includes the shared buffers it touched), its memory
#                  contexts, of which PostgreSQL's catalog caches and
#                  migrate_ops' own object sets (from its DEBUG1 line)
#   apply()        a one-statement migration (CREATE INDEX on one table)
#                  against the same statement run bare: the per-deploy cost
# and the baselines, on the same database:
#   pg_dump --schema-only              best of 2
#   migra comparing the database with itself (npm @pgkit/migra, installed
#                  into the work dir; nothing is kept), once
# It prints the figures, the ratios to the baselines and, over the sizes, the
# time per table and the growth between steps (linear growth: the time grows
# by the same factor as the size).
# Targets at 10,000 tables: drift() <= 2 s, fingerprint() <= 1.5 s,
# snapshot() <= 5 s, >= 10x faster than pg_dump --schema-only, >= 20x faster
# than migra, peak backend memory during drift() <= 256 MB.
set -euo pipefail
source "$(dirname "$0")/../lib/cluster.sh"

sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(1000 5000 10000 20000)
want_migra=${MO_BENCH_MIGRA:-1}

trap mo_cleanup EXIT
mo_setup
mo_cluster_start "shared_buffers = 256MB" "max_locks_per_transaction = 512" "autovacuum = off" \
    "checkpoint_timeout = 30min" "max_wal_size = 4GB"

migra=
if [ "$want_migra" = 1 ]; then
    mo_log "installing @pgkit/migra into $MO_WORK/migra (npm)"
    mkdir -p "$MO_WORK/migra"
    if (cd "$MO_WORK/migra" && npm install --no-audit --no-fund --loglevel=error @pgkit/migra >/dev/null 2>&1); then
        migra=$MO_WORK/migra/node_modules/.bin/migra
        echo "migra $(node -p "require('$MO_WORK/migra/node_modules/@pgkit/migra/package.json').version")"
    else
        echo "npm install @pgkit/migra failed: no migra baseline"
    fi
fi

psqlq() { mo_psql -At "$@"; }

# Milliseconds since an epoch in nanoseconds.
since_ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

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

# a / b with one decimal.
ratio() { python3 -c "print(f'{$1 / max($2, 1):.1f}')"; }

# Builds the schema of n tables, n/10 views and n/10 functions in database db.
build() {
    local db=$1 n=$2 m=$(( $2 / 10 ))
    mo_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
    mo_psql -d "$db" -c "CREATE EXTENSION migrate_ops" \
        -c "CREATE TABLE public.root (id bigint PRIMARY KEY)" >/dev/null
    psqlq -d "$db" -c "
        SELECT format('CREATE TABLE public.t%1\$s (id bigint PRIMARY KEY, root_id bigint REFERENCES public.root (id),
                         c1 integer NOT NULL DEFAULT 0, c2 text, c3 numeric(12,2), c4 timestamptz DEFAULT now(),
                         c5 boolean, c6 varchar(80), c7 jsonb, c8 date,
                         CONSTRAINT t%1\$s_c1_check CHECK (c1 >= 0));
                       CREATE INDEX t%1\$s_c2_idx ON public.t%1\$s (c2);', i)
          FROM generate_series(1, $n) i" | mo_psql -q -d "$db" >/dev/null
    psqlq -d "$db" -c "
        SELECT format('CREATE VIEW public.v%1\$s AS
                         SELECT t.id, t.c1, t.c2 || ''!'' AS c2x, r.id AS root, coalesce(t.c3, 0) AS c3
                           FROM public.t%2\$s t JOIN public.root r ON r.id = t.root_id
                          WHERE t.c1 > 0 AND t.c5;', i, i * 10)
          FROM generate_series(1, $m) i" | mo_psql -q -d "$db" >/dev/null
    psqlq -d "$db" -c "
        SELECT CASE WHEN i % 2 = 0 THEN
                 format('CREATE FUNCTION public.f%1\$s(p integer) RETURNS bigint LANGUAGE sql STABLE
                           AS \$f\$ SELECT count(*) FROM public.t%2\$s WHERE c1 > p \$f\$;', i, i * 10)
               ELSE
                 format('CREATE FUNCTION public.f%1\$s(p integer, q text DEFAULT NULL) RETURNS integer
                           LANGUAGE plpgsql AS \$f\$ BEGIN RETURN p + coalesce(length(q), 0); END \$f\$;', i)
               END
          FROM generate_series(1, $m) i" | mo_psql -q -d "$db" >/dev/null
    mo_psql -d "$db" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
}

# Everything measured for one size; appends a line to results.
measure() {
    local n=$1 db=bench_$1 t0 i t mem line
    mo_log "building $n tables, $((n / 10)) views, $((n / 10)) functions"
    t0=$SECONDS
    build "$db" "$n"
    echo "built in $((SECONDS - t0)) s"

    snap=$(time_ms "$db" "SELECT migrate_ops.snapshot('bench') \\g /dev/null")
    objects=$(psqlq -d "$db" -c "SELECT object_count FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1")
    snap2=$(best_ms "$db" "SELECT migrate_ops.snapshot('again') \\g /dev/null" 2)
    fp=$(best_ms "$db" "SELECT migrate_ops.fingerprint() \\g /dev/null" 3)
    dr=$(best_ms "$db" "SELECT count(*) FROM migrate_ops.drift() \\g /dev/null" 3)

    # memory of a backend running drift(): peak RSS growth (includes the shared
    # buffers it touched), its memory contexts, of which the catalog caches and
    # migrate_ops' own two object sets; its CPU time; and drift() again in the
    # same session (warm catalog caches, like the worker)
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
    local rss0 hwm1 dline
    rss0=$(grep -A60 '^BEFORE' <<<"$mem" | proc_kb VmRSS | head -1)
    hwm1=$(grep -A60 '^AFTER' <<<"$mem" | proc_kb VmHWM | head -1)
    peak_mb=$(python3 -c "print(f'{($hwm1 - $rss0) / 1024:.0f}')")
    dline=$(grep -m1 'drift against snapshot' <<<"$mem")
    states_mb=$(sed -n 's/.*states \([0-9]*\) bytes.*/\1/p' <<<"$dline" | awk '{printf "%.0f", $1 / 1048576}')
    ctx_mb=$(sed -n 's/.*backend memory \([0-9]*\) bytes.*/\1/p' <<<"$dline" | awk '{printf "%.0f", $1 / 1048576}')
    cache_mb=$(sed -n 's/.*catalog caches \([0-9]*\) bytes.*/\1/p' <<<"$dline" | awk '{printf "%.0f", $1 / 1048576}')
    warm=$(sed -n 's/^WARM \([0-9]*\)/\1/p' <<<"$mem")
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
    mo_psql -q -d "$db" -c "SELECT migrate_ops.accept_drift('bench')" >/dev/null

    # the per-deploy cost: apply() of one CREATE INDEX against the bare statement
    apply=$(time_ms "$db" "CALL migrate_ops.apply('1', 'CREATE INDEX bench_apply_idx ON public.t3 (c6)');")
    bare=$(time_ms "$db" "CREATE INDEX bench_bare_idx ON public.t3 (c8);")

    dump=
    for i in 1 2; do
        t0=$(date +%s%N)
        "$MO_BIN/pg_dump" --schema-only -d "$db" >/dev/null
        t=$(since_ms "$t0")
        if [ -z "$dump" ] || [ "$t" -lt "$dump" ]; then dump=$t; fi
    done

    mig=-
    if [ -n "$migra" ]; then
        local url="postgresql://postgres@127.0.0.1:$PGPORT/$db"
        t0=$(date +%s%N)
        if "$migra" run "$url" "$url" --unsafe --with-privileges >"$MO_WORK/migra.out" 2>&1; then
            mig=$(since_ms "$t0")
        else
            echo "migra failed:"; tail -5 "$MO_WORK/migra.out"
        fi
    fi

    line=$(printf '%-6s %8s %8s %8s %8s %7s %7s %7s %7s %7s %13s %7s %7s %8s %8s %9s %8s' "$n" "$objects" \
        "$snap" "$snap2" "$fp" "$dr" "$cpu" "$warm" "$dr10" "$peak_mb" "$ctx_mb/$cache_mb/$states_mb" \
        "$apply" "$bare" "$dump" "$mig" "$(ratio "$dump" "$dr")x" \
        "$([ "$mig" = - ] && echo - || echo "$(ratio "$mig" "$dr")x")")
    results+=("$line")
    scale+=("$n $snap $fp $dr $cpu $dump $mig")
    echo "$line"
    mo_psql -d postgres -c "DROP DATABASE $db" >/dev/null
}

header() {
    printf '%-6s %8s %8s %8s %8s %7s %7s %7s %7s %7s %13s %7s %7s %8s %8s %9s %8s\n' tables objects \
        snapshot snapshot2 fingerpr drift "d.CPU" "d.warm" "drift10" "peakMB" "ctx/cache/st" \
        apply bare pg_dump migra dump/drft migr/drft
}

results=()
scale=()
for n in "${sizes[@]}"; do
    measure "$n"
done

mo_log "results (PostgreSQL $MO_PGMAJOR, $(nproc) CPUs, shared machine; times in ms, memory in MB)"
header
printf '%s\n' "${results[@]}"

if [ ${#scale[@]} -gt 1 ]; then
    mo_log "scaling: microseconds per table, and growth between steps (time ratio / size ratio; 1.0 = linear)"
    python3 - "${scale[@]}" <<'PY'
import sys
rows = [list(map(lambda v: None if v == '-' else int(v), a.split())) for a in sys.argv[1:]]
names = ['snapshot', 'fingerprint', 'drift', 'drift CPU', 'pg_dump', 'migra']
print(f"{'tables':>7} " + ' '.join(f'{n + " us/t":>16}' for n in names))
for r in rows:
    print(f'{r[0]:>7} ' + ' '.join(f'{(v * 1000 / r[0] if v is not None else float("nan")):>16.1f}' for v in r[1:]))
print(f"{'step':>13} " + ' '.join(f'{n + " growth":>16}' for n in names))
for a, b in zip(rows, rows[1:]):
    size = b[0] / a[0]
    cells = []
    for x, y in zip(a[1:], b[1:]):
        cells.append(f'{(y / max(x, 1)) / size:>16.2f}' if x is not None and y is not None else f"{'-':>16}")
    print(f'{a[0]:>6}->{b[0]:<6} ' + ' '.join(cells))
PY
fi
