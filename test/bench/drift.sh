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
#                  with nothing changed
#   fingerprint()  best of 3, new sessions
#   drift()        best of 3 in new sessions, no drift; again in the same
#                  session (warm caches, as the worker runs it); then with 10
#                  objects drifted
#   memory         of the backend running drift() in a new session, sampled
#                  every 10 ms: peak growth of its private memory (RssAnon)
#                  and of its resident set (which also counts the shared
#                  buffers it touched); its memory contexts, of which
#                  PostgreSQL's catalog caches and migrate_ops' own object
#                  sets (from its DEBUG1 line)
#   apply()        a one-statement migration (CREATE INDEX on one table)
#                  against the same statement run bare: the per-deploy cost
# each as wall time and as the CPU time its backend spent (which other work
# on a shared machine does not inflate; the scaling uses it),
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
mo_cluster_start "shared_buffers = 1GB" "max_locks_per_transaction = 512" "autovacuum = off" \
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

# "wall cpu": milliseconds one SQL statement took in a fresh session, and
# the CPU time (user + system) its backend spent on it, which other work on
# a shared machine does not inflate.
time_ms() {
    local db=$1 sql=$2
    psqlq -d "$db" <<SQL | tail -1
SELECT pg_catalog.pg_read_file('/proc/self/stat') AS stat0 \gset
SELECT pg_catalog.clock_timestamp() AS t0 \gset
$sql
SELECT round(extract(epoch FROM pg_catalog.clock_timestamp() - :'t0') * 1000)::int || ' ' ||
       ((split_part(split_part(pg_catalog.pg_read_file('/proc/self/stat'), ') ', 2), ' ', 12)::bigint
         + split_part(split_part(pg_catalog.pg_read_file('/proc/self/stat'), ') ', 2), ' ', 13)::bigint
         - split_part(split_part(:'stat0', ') ', 2), ' ', 12)::bigint
         - split_part(split_part(:'stat0', ') ', 2), ' ', 13)::bigint) * 1000 / $(getconf CLK_TCK));
SQL
}

# Best (lowest) wall and CPU times of several runs: "wall cpu".
best_ms() {
    local db=$1 sql=$2 runs=$3 bw= bc= w c i
    for ((i = 0; i < runs; i++)); do
        read -r w c < <(time_ms "$db" "$sql")
        if [ -z "$bw" ] || [ "$w" -lt "$bw" ]; then bw=$w; fi
        if [ -z "$bc" ] || [ "$c" -lt "$bc" ]; then bc=$c; fi
    done
    echo "$bw $bc"
}


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

    read -r snap snapc < <(time_ms "$db" "SELECT migrate_ops.snapshot('bench') \\g /dev/null")
    objects=$(psqlq -d "$db" -c "SELECT object_count FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1")
    read -r snap2 snap2c < <(best_ms "$db" "SELECT migrate_ops.snapshot('again') \\g /dev/null" 2)
    read -r fp fpc < <(best_ms "$db" "SELECT migrate_ops.fingerprint() \\g /dev/null" 3)
    read -r dr drc < <(best_ms "$db" "SELECT count(*) FROM migrate_ops.drift() \\g /dev/null" 3)

    # memory of a backend running drift(), in a new session: its private
    # memory (RssAnon) and its whole resident set (VmRSS, which also counts
    # the shared buffers it touched) sampled every 10 ms from outside, the
    # peak growth over the idle session; its memory contexts, of which the
    # catalog caches and migrate_ops' two object sets (from its DEBUG1 line);
    # then drift() again in the same session (warm caches, like the worker)
    local fifo=$MO_WORK/mem.fifo out=$MO_WORK/mem.out pid sampler dline
    rm -f "$fifo" "$out"; mkfifo "$fifo"
    PGOPTIONS="-c client_min_messages=debug1" psqlq -d "$db" <"$fifo" >"$out" 2>&1 &
    exec 7>"$fifo"
    echo "SELECT 'PID ' || pg_backend_pid();" >&7
    while ! grep -q '^PID ' "$out"; do sleep 0.05; done
    pid=$(sed -n 's/^PID //p' "$out")
    python3 "$MO_WORK/sampler.py" "$pid" "$MO_WORK/mem.peak" &
    sampler=$!
    sleep 0.3
    printf '%s\n' "SELECT count(*) FROM migrate_ops.drift();" "SELECT 'DONE';" >&7
    while ! grep -q '^DONE' "$out"; do sleep 0.05; done
    touch "$MO_WORK/mem.peak.stop"; wait "$sampler"; rm -f "$MO_WORK/mem.peak.stop"
    printf '%s\n' "SELECT pg_catalog.clock_timestamp() AS t0 \\gset" "SELECT count(*) FROM migrate_ops.drift();" \
        "SELECT 'WARM ' || round(extract(epoch FROM pg_catalog.clock_timestamp() - :'t0') * 1000)::int;" >&7
    exec 7>&-
    while ! grep -q '^WARM ' "$out"; do sleep 0.05; done
    read -r anon_mb rss_mb <"$MO_WORK/mem.peak"
    dline=$(grep -m1 'drift against snapshot' "$out")
    states_mb=$(sed -n 's/.*states \([0-9]*\) bytes.*/\1/p' <<<"$dline" | awk '{printf "%.0f", $1 / 1048576}')
    ctx_mb=$(sed -n 's/.*backend memory \([0-9]*\) bytes.*/\1/p' <<<"$dline" | awk '{printf "%.0f", $1 / 1048576}')
    cache_mb=$(sed -n 's/.*catalog caches \([0-9]*\) bytes.*/\1/p' <<<"$dline" | awk '{printf "%.0f", $1 / 1048576}')
    warm=$(sed -n 's/^WARM \([0-9]*\)/\1/p' "$out")

    # 10 objects drifted: 5 new indexes, 5 changed column defaults
    mo_psql -q -d "$db" -c "
        DO \$\$ BEGIN FOR i IN 1..5 LOOP
          EXECUTE format('CREATE INDEX bench_extra_%s ON public.t%s (c3)', i, i);
          EXECUTE format('ALTER TABLE public.t%s ALTER COLUMN c1 SET DEFAULT 1', i + 10);
        END LOOP; END \$\$" >/dev/null
    read -r dr10 dr10c < <(best_ms "$db" "SELECT count(*) FROM migrate_ops.drift() \\g /dev/null" 3)
    ndrift=$(psqlq -d "$db" -c "SELECT count(*) FROM migrate_ops.drift()")
    [ "$ndrift" = 10 ] || echo "warning: expected 10 drifted objects, got $ndrift"
    mo_psql -q -d "$db" -c "SELECT migrate_ops.accept_drift('bench')" >/dev/null

    # the per-deploy cost: apply() of one CREATE INDEX against the bare statement
    read -r apply applyc < <(time_ms "$db" "CALL migrate_ops.apply('1', 'CREATE INDEX bench_apply_idx ON public.t3 (c6)');")
    read -r bare barec < <(time_ms "$db" "CREATE INDEX bench_bare_idx ON public.t3 (c8);")

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

    line=$(printf '%-6s %7s %6s %6s %6s %6s %6s %6s %6s %5s %5s %9s %6s %7s %8s %6s %7s' "$n" "$objects" \
        "$snap" "$snap2" "$fp" "$dr" "$warm" "$dr10" "$apply" "$anon_mb" "$rss_mb" "$ctx_mb/$cache_mb/$states_mb" \
        "$bare" "$dump" "$mig" "$(ratio "$dump" "$dr")x" \
        "$([ "$mig" = - ] && echo - || echo "$(ratio "$mig" "$dr")x")")
    results+=("$line")
    cpus+=("$(printf '%-6s %9s %9s %9s %9s %9s %9s %9s' "$n" "$snapc" "$snap2c" "$fpc" "$drc" "$dr10c" "$applyc" "$barec")")
    scale+=("$n $snapc $snap2c $fpc $drc $applyc $dump $mig")
    echo "$line"
    mo_psql -d postgres -c "DROP DATABASE $db" >/dev/null
}

header() {
    printf '%-6s %7s %6s %6s %6s %6s %6s %6s %6s %5s %5s %9s %6s %7s %8s %6s %7s\n' tables objects \
        snap snap2 fprint drift warm drift10 apply anon rss ctx/cc/st bare pg_dump migra dump/d migra/d
}

results=()
cpus=()
scale=()

# samples the private memory (RssAnon) and resident set (VmRSS) of a backend
# every 10 ms until PATH.stop exists; writes the peak growth (MB) to PATH
cat >"$MO_WORK/sampler.py" <<'PY'
import sys, time, os
pid, path = sys.argv[1], sys.argv[2]
def read():
    d = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("RssAnon", "VmRSS"):
            d[k] = int(v.split()[0])
    return d
base = read()
peak = dict(base)
while not os.path.exists(path + ".stop"):
    try:
        cur = read()
    except OSError:
        break
    for k in cur:
        peak[k] = max(peak[k], cur[k])
    time.sleep(0.01)
with open(path, "w") as f:
    f.write(f"{(peak['RssAnon'] - base['RssAnon']) / 1024:.0f} {(peak['VmRSS'] - base['VmRSS']) / 1024:.0f}\n")
PY
for n in "${sizes[@]}"; do
    measure "$n"
done

mo_log "results (PostgreSQL $MO_PGMAJOR, $(nproc) CPUs, shared machine; wall times in ms, memory in MB)"
echo "snap: first snapshot(); snap2: snapshot() again, nothing changed; fprint: fingerprint(); drift: drift() in"
echo "a new session; warm: again in the same session; drift10: with 10 objects drifted; apply: apply() of one"
echo "CREATE INDEX, bare: the same statement alone; anon / rss: peak growth of the drift() backend's private"
echo "memory / resident set (rss counts the shared buffers it touched); ctx/cc/st: its memory contexts / of"
echo "which catalog caches / migrate_ops' object sets; dump/d, migra/d: the baseline's time / drift()'s"
header
printf '%s\n' "${results[@]}"
echo
echo "backend CPU time (ms), which other work on the shared machine does not inflate:"
printf '%-6s %9s %9s %9s %9s %9s %9s %9s\n' tables snapshot snapshot2 fprint drift drift10 apply bare
printf '%s\n' "${cpus[@]}"

if [ ${#scale[@]} -gt 1 ]; then
    mo_log "scaling: microseconds per table (backend CPU for migrate_ops, wall for the baselines) and growth between steps (time ratio / size ratio; 1.0 = linear)"
    python3 - "${scale[@]}" <<'PY'
import sys
rows = [list(map(lambda v: None if v == '-' else int(v), a.split())) for a in sys.argv[1:]]
names = ['snapshot', 'snapshot2', 'fingerprint', 'drift', 'apply', 'pg_dump', 'migra']
print(f"{'tables':>13} " + ' '.join(f'{n:>11}' for n in names))
for r in rows:
    print(f'{r[0]:>13} ' + ' '.join(f'{(v * 1000 / r[0] if v is not None else float("nan")):>11.1f}' for v in r[1:]))
for a, b in zip(rows, rows[1:]):
    size = b[0] / a[0]
    cells = [f'{(y / max(x, 1)) / size:>11.2f}' if x is not None and y is not None else f"{'-':>11}"
             for x, y in zip(a[1:], b[1:])]
    print(f'{a[0]:>6}->{b[0]:<6} ' + ' '.join(cells))
PY
fi
