#!/usr/bin/env bash
# test/bench/tools.sh — what recognising and recording deploy tools costs.
#
# 1. The DDL hook: 4,000 DDL statements in autocommit (CREATE TABLE with a
#    primary key, ADD COLUMN, CREATE INDEX, COMMENT, DROP TABLE — 800
#    rounds), every CREATE/ALTER TABLE and CREATE INDEX looked at for a
#    tool's ledger shape: migrate_ops.track_tools on against off (the
#    baseline), same database, alternating.
# 2. Recording a migration: 100 Flyway-style migrations (a CREATE TABLE and
#    the history INSERT in one transaction, recorded by the trigger) against
#    the same migrations recorded by hand with migrate_ops.start()/finish()
#    (the baseline: the same ledger work, called explicitly), and against
#    the bare DDL (nothing recorded).
# Each runs MO_BENCH_ROUNDS times (default 5); the best CPU time of the
# backend (user + system, from /proc at the end of the session: what the
# other processes of a shared machine disturb least) is compared.
#
#   test/bench/tools.sh            MO_BENCH_ROUNDS=7 test/bench/tools.sh
set -euo pipefail
source "$(dirname "$0")/../lib/cluster.sh"
trap mo_cleanup EXIT
rounds=${MO_BENCH_ROUNDS:-5}
[ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm

mo_setup >/dev/null
mo_cluster_start
mo_psql -d postgres -c "CREATE DATABASE bench"
mo_psql -d bench -c "CREATE EXTENSION migrate_ops" -c "SELECT migrate_ops.snapshot('bench')" >/dev/null

python3 - "$MO_WORK" <<'PY'
import sys
w = sys.argv[1]
ddl = []
for i in range(800):
    ddl += [f"CREATE TABLE bench_{i} (id bigint PRIMARY KEY, name text)",
            f"ALTER TABLE bench_{i} ADD COLUMN created_at timestamptz",
            f"CREATE INDEX bench_{i}_name ON bench_{i} (name)",
            f"COMMENT ON TABLE bench_{i} IS 'round {i}'",
            f"DROP TABLE bench_{i}"]
open(f"{w}/ddl.sql", "w").write("".join(s + ";\n" for s in ddl))
hist = ('CREATE TABLE IF NOT EXISTS flyway_schema_history ("installed_rank" INT NOT NULL PRIMARY KEY, '
        '"version" VARCHAR(50), "description" VARCHAR(200) NOT NULL, "type" VARCHAR(20) NOT NULL, '
        '"script" VARCHAR(1000) NOT NULL, "checksum" INTEGER, "installed_by" VARCHAR(100) NOT NULL, '
        '"installed_on" TIMESTAMP NOT NULL DEFAULT now(), "execution_time" INTEGER NOT NULL, '
        '"success" BOOLEAN NOT NULL);\n')
def migrations(kind):
    out = []
    for i in range(100):
        if kind == "tool":
            out.append(f"BEGIN; CREATE TABLE m_{i} (id int); INSERT INTO flyway_schema_history VALUES "
                       f"({i}, '{i}', 'm', 'SQL', 'V{i}__m.sql', {i}, 'bench', now(), 1, true); COMMIT;")
        elif kind == "record":
            out.append(f"SELECT migrate_ops.start('{i}', '{i}'); CREATE TABLE m_{i} (id int); "
                       f"SELECT migrate_ops.finish('{i}');")
        else:
            out.append(f"BEGIN; CREATE TABLE m_{i} (id int); COMMIT;")
    return "\n".join(out) + "\n"
for kind in ("tool", "record", "bare"):
    open(f"{w}/{kind}.sql", "w").write(migrations(kind))
open(f"{w}/setup.sql", "w").write(hist)
PY

# cpu DB FILE [PGOPTIONS]: the CPU time (ms) the backend used to run FILE.
cpu() {
    PGOPTIONS="${3:-}" "$MO_BIN/psql" -X -q -At -d "$1" -f "$2" \
        -c "SELECT (split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint) * 1000 / $(getconf CLK_TCK)
              FROM pg_read_file('/proc/self/stat') AS s" | tail -1
}
best() { sort -n | head -1; }

mo_log "1. the DDL hook: 4,000 DDL statements in autocommit, backend CPU, best of $rounds"
off=(); on=()
for r in $(seq "$rounds"); do
    off+=("$(cpu bench "$MO_WORK/ddl.sql" "-c migrate_ops.track_tools=off")")
    on+=("$(cpu bench "$MO_WORK/ddl.sql" "-c migrate_ops.track_tools=on")")
done
b_off=$(printf '%s\n' "${off[@]}" | best); b_on=$(printf '%s\n' "${on[@]}" | best)
printf 'track_tools off (baseline): %6d ms\ntrack_tools on:             %6d ms   (%+.1f %%)\n' \
    "$b_off" "$b_on" "$(echo "($b_on - $b_off) * 100 / $b_off" | bc -l)"

mo_log "2. recording 100 migrations (one CREATE TABLE each), each run in a fresh database, backend CPU, best of $rounds"
fresh() {  # a database with the extension, a baseline and Flyway's table
    PGOPTIONS="-c client_min_messages=warning" mo_psql -d postgres -c "DROP DATABASE IF EXISTS bench_m" -c "CREATE DATABASE bench_m" >/dev/null
    mo_psql -d bench_m -c "CREATE EXTENSION migrate_ops" -c "SELECT migrate_ops.snapshot('bench')" -f "$MO_WORK/setup.sql" >/dev/null 2>&1
}
tool=(); rec=(); bare=()
for r in $(seq "$rounds"); do
    fresh; tool+=("$(cpu bench_m "$MO_WORK/tool.sql")")
    fresh; rec+=("$(cpu bench_m "$MO_WORK/record.sql")")
    fresh; bare+=("$(cpu bench_m "$MO_WORK/bare.sql" "-c migrate_ops.capture_ddl=off")")
done
b_tool=$(printf '%s\n' "${tool[@]}" | best); b_rec=$(printf '%s\n' "${rec[@]}" | best); b_bare=$(printf '%s\n' "${bare[@]}" | best)
printf 'bare DDL, nothing recorded or logged: %6d ms\nstart()/finish() by hand (baseline):  %6d ms\nFlyway rows recorded by the trigger:   %6d ms   (%.2fx the baseline, %.1f ms per migration)\n' \
    "$b_bare" "$b_rec" "$b_tool" "$(echo "$b_tool / $b_rec" | bc -l)" "$(echo "$b_tool / 100" | bc -l)"
fresh
"$MO_BIN/psql" -X -q -d bench_m -f "$MO_WORK/tool.sql" >/dev/null
it=$(mo_psql -At -d bench_m -c "SELECT count(*) FROM migrate_ops.migrations WHERE source = 'flyway'")
echo "(recorded from Flyway's table: $it migrations)"
