#!/usr/bin/env bash
# test/bench/capture.sh — the cost of DDL capture.
#
# Runs the same 4,000 DDL statements (CREATE TABLE with a primary key, ADD
# COLUMN, CREATE INDEX, COMMENT, DROP TABLE — 800 rounds) in two databases of
# one throwaway cluster: "plain" without the extension (the baseline) and
# "captured" with migrate_ops installed, so every statement goes through the
# event triggers and lands in migrate_ops.ddl_log.  Four shapes of the
# same statements:
#   autocommit   each statement its own transaction, as psql -f runs a file:
#                a log write and a ddl.out_of_band event per statement
#   files        100 migration files of 40 statements, each file in one
#                transaction (psql --single-transaction, Flyway, dbmate):
#                one write (log rows and event) per file
#   do           one DO block (like a script run by apply()): one log write
#   xact         all 4,000 in one transaction: one write at commit (and one
#                per 1,000 rows collected)
# Each shape runs MO_BENCH_ROUNDS times (default 5), alternating databases;
# the best time of each is compared, both wall-clock and the backend's CPU
# time.  Target: overhead <= 25 %.
#
# The cluster lives in RAM (/dev/shm) when it can: creating and dropping
# thousands of relation files on a disk file system adds kernel time that
# varies from run to run and would hide the comparison (MO_BENCH_TMPDIR
# chooses another place).  fsync is off, as in the test harness: the
# baseline is as fast as it gets, so the ratio is the pessimistic one.
#
#   test/bench/capture.sh            MO_BENCH_ROUNDS=7 test/bench/capture.sh
set -euo pipefail
source "$(dirname "$0")/../lib/cluster.sh"
trap mo_cleanup EXIT
rounds=${MO_BENCH_ROUNDS:-5}
if [ -n "${MO_BENCH_TMPDIR:-}" ]; then
    export TMPDIR=$MO_BENCH_TMPDIR
elif [ -d /dev/shm ] && [ -w /dev/shm ]; then
    export TMPDIR=/dev/shm
fi

mo_setup >/dev/null
mo_cluster_start
mo_psql -d postgres -c "CREATE DATABASE plain" -c "CREATE DATABASE captured"
mo_psql -d captured -c "CREATE EXTENSION migrate_ops"

script=$MO_WORK/ddl.sql
doblock=$MO_WORK/do.sql
files=$MO_WORK/files.sql
python3 - "$script" "$doblock" "$files" <<'PY'
import sys
stmts = []
for i in range(800):
    stmts += [f"CREATE TABLE bench_{i} (id bigint PRIMARY KEY, name text)",
              f"ALTER TABLE bench_{i} ADD COLUMN created_at timestamptz",
              f"CREATE INDEX bench_{i}_name ON bench_{i} (name)",
              f"COMMENT ON TABLE bench_{i} IS 'round {i}'",
              f"DROP TABLE bench_{i}"]
with open(sys.argv[1], "w") as f:
    f.writelines(s + ";\n" for s in stmts)
with open(sys.argv[2], "w") as f:
    f.write("DO $bench$\nBEGIN\n" + "".join("  " + s + ";\n" for s in stmts) + "END\n$bench$;\n")
with open(sys.argv[3], "w") as f:
    for i in range(0, len(stmts), 40):
        f.write("BEGIN;\n" + "".join(s + ";\n" for s in stmts[i:i + 40]) + "COMMIT;\n")
PY
[ "$(grep -c ';' "$script")" -eq 4000 ] || mo_die "expected 4000 statements"

# run DB MODE → "wall_ms cpu_ms": wall-clock time of the psql run and the CPU
# time (user + system) its backend used, read from /proc at the end of the
# session — the CPU figure is what the other processes on a shared machine
# disturb least.
run() {
    local t0 t1 cpu file=$script extra=()
    [ "$2" = xact ] && extra=(--single-transaction)
    [ "$2" = do ] && file=$doblock
    [ "$2" = files ] && file=$files
    t0=$(date +%s%N)
    cpu=$(mo_psql -At -d "$1" "${extra[@]}" -f "$file" \
        -c "SELECT (split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint) * 1000 / $(getconf CLK_TCK)
              FROM pg_read_file('/proc/self/stat') AS s")
    t1=$(date +%s%N)
    echo "$(((t1 - t0) / 1000000)) $cpu"
}
best() { printf '%s\n' "$@" | sort -n | head -1; }
report() {
    python3 -c 'import sys
m, what, p, c, r = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
print(f"{m:<10} {what:<9} without extension: {p/1000:6.2f} s   with capture: {c/1000:6.2f} s   "
      f"ratio: {c/p:.3f}  overhead: {(c/p-1)*100:+5.1f} %  (best of {r})")' "$@"
}

echo "4,000 DDL statements; baseline: the same statements in a database without migrate_ops"
for mode in autocommit files do xact; do
    pw=() pc=() cw=() cc=()
    run plain "$mode" >/dev/null; run captured "$mode" >/dev/null    # warm up
    for _ in $(seq "$rounds"); do
        read -r w c < <(run plain "$mode"); pw+=("$w"); pc+=("$c")
        read -r w c < <(run captured "$mode"); cw+=("$w"); cc+=("$c")
    done
    report "$mode" "wall" "$(best "${pw[@]}")" "$(best "${cw[@]}")" "$rounds"
    report "$mode" "cpu" "$(best "${pc[@]}")" "$(best "${cc[@]}")" "$rounds"
done

logged=$(mo_psql -At -d captured -c "SELECT count(*) FROM migrate_ops.ddl_log")
events=$(mo_psql -At -d captured -c "SELECT count(*) FROM migrate_ops.events WHERE event = 'ddl.out_of_band'")
echo "captured database: $logged ddl_log rows, $events ddl.out_of_band events"
