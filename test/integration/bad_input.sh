#!/usr/bin/env bash
# Bad input where transactions are real (test/pgtap/bad_input.sql has the
# full table, inside one transaction): apply(), rollback() and start() called
# in autocommit, where apply() commits on its own, refuse bad input before
# they commit anything (no ledger, history, event, outbox or DDL log row, no
# lock left); memory stays bounded for scripts of 20,000 statements and of
# 50 MB; invalid UTF-8 cannot reach migrate_ops in a UTF8 database, and a
# SQL_ASCII database (where text is bytes) works byte for byte.
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
it_db it_bad_input
cleanup() { mo_psql -d postgres -c "DROP DATABASE IF EXISTS it_bad_ascii" -c "DROP DATABASE IF EXISTS it_bad_input" >/dev/null 2>&1 || true; }
trap cleanup EXIT

mo_psql -d "$IT_DB" -c "SELECT migrate_ops.snapshot('start')" \
    -c "CALL migrate_ops.apply('1', 'CREATE TABLE bi_t (id int);', 'DROP TABLE bi_t;')" \
    -c "CALL migrate_ops.apply('2', 'CREATE TABLE bi_u (id int);', 'DROP TABLE bi_u; -- $(printf 'x%.0s' $(seq 2000))')" >/dev/null
footprint="SELECT concat_ws(',', (SELECT count(*) FROM migrate_ops.migrations),
    (SELECT count(*) FROM migrate_ops.migration_history), (SELECT count(*) FROM migrate_ops.events),
    (SELECT count(*) FROM migrate_ops.outbox), (SELECT count(*) FROM migrate_ops.ddl_log),
    (SELECT count(*) FROM migrate_ops.snapshots),
    (SELECT string_agg(version || ':' || state, ' ' ORDER BY version) FROM migrate_ops.migrations),
    (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 19791 AND objid = 1),
    migrate_ops.fingerprint())"
before=$(it_val "$footprint")

# 1. Each statement on its own (autocommit), in one session; psql goes on after an error.
calls=(
    "22023|CALL migrate_ops.apply('', 'CREATE TABLE bi_x (id int)')"
    "22023|CALL migrate_ops.apply(' 3', 'CREATE TABLE bi_x (id int)')"
    "22023|CALL migrate_ops.apply(repeat('9', 10240), 'CREATE TABLE bi_x (id int)')"
    "2D000|CALL migrate_ops.apply('3', 'CREATE TABLE bi_x (id int); COMMIT; DROP TABLE bi_t')"
    "25001|CALL migrate_ops.apply('3', 'CREATE TABLE bi_x (id int); VACUUM')"
    "42601|CALL migrate_ops.apply('3', E'CREATE TABLE bi_x (id int);\n\\\\i /etc/passwd')"
    "22021|CALL migrate_ops.apply('3', E'CREATE TABLE bi_x (id int); SELECT E''\\\\xff''')"
    "54000|CALL migrate_ops.apply('3', 'CREATE TABLE bi_x (id int); ' || repeat('-', 17 * 1024 * 1024))"
    "54000|CALL migrate_ops.apply('3', 'CREATE TABLE bi_x (id int);', repeat('-', 17 * 1024 * 1024))"
    "MO001|CALL migrate_ops.apply('1', 'CREATE TABLE bi_t (id bigint);')"
    "42704|CALL migrate_ops.rollback('nope')"
    "55000|CALL migrate_ops.rollback('1')"
    "54000|SET migrate_ops.max_script_size = '1kB'; CALL migrate_ops.rollback('2')"
    "22023|SELECT migrate_ops.start('3', '')"
    "MO001|SELECT migrate_ops.start('1', 'other')"
    "55000|SELECT migrate_ops.finish('1')"
    "22023|SELECT * FROM migrate_ops.status('{}')"
    "22023|SELECT migrate_ops.notify('team.x', '[]')"
)
script=$MO_WORK/bad_input_calls.sql
: >"$script"
for c in "${calls[@]}"; do printf '%s;\n' "${c#*|}" >>"$script"; done
out=$(mo_psql -d "$IT_DB" -v ON_ERROR_STOP=0 -v VERBOSITY=verbose -f "$script" 2>&1 >/dev/null || true)
got=$(grep -oE '^psql:[^ ]+ ERROR:  [0-9A-Z]{5}' <<<"$out" | awk '{print $NF}' | paste -sd' ')
want=$(for c in "${calls[@]}"; do printf '%s ' "${c%%|*}"; done | sed 's/ $//')
[ "$got" = "$want" ] || { echo "$out" | grep ERROR; it_fail "SQLSTATEs: got [$got], want [$want]"; }
it_ok "${#calls[@]} bad calls in autocommit, each refused with its SQLSTATE: $got"
! grep -qE 'ERROR:  XX|server closed the connection|terminated' <<<"$out" || it_fail "an internal error or a crash: $out"
it_expect "$footprint" "$before" \
    "nothing was committed: no ledger, history, event, outbox or DDL log row, no snapshot, no deploy lock, the same schema"
it_expect "SELECT count(*) FROM migrate_ops.migrations WHERE state = 'running'" 0 "no migration is left running"

# 2. Memory: the backend's peak (VmHWM) above its own start, one session per call.
peak() {  # peak SQL: MB of peak memory the SQL added in a new session
    mo_psql -At -d "$IT_DB" -v ON_ERROR_STOP=0 2>/dev/null <<EOF | tail -1
SELECT pg_backend_pid() AS pid \gset
SELECT (regexp_match(pg_read_file('/proc/' || :pid || '/status'), 'VmHWM:\s+(\d+)'))[1]::int AS base \gset
$1;
SELECT ((regexp_match(pg_read_file('/proc/' || :pid || '/status'), 'VmHWM:\s+(\d+)'))[1]::int - :base) / 1024;
EOF
}
stmts20k="(SELECT string_agg('ALTER TABLE bi_t ADD COLUMN c' || g || ' int;', E'\n') FROM generate_series(1, 20000) g)"
sel20k="(SELECT string_agg('SELECT ' || g || ';', E'\n') FROM generate_series(1, 20000) g)"
big="repeat('SELECT 1;', 50 * 1024 * 1024 / 9)"
figures=()
check_peak() {  # check_peak LABEL LIMIT_MB SQL
    local mb
    mb=$(peak "$3")
    [[ $mb =~ ^[0-9]+$ ]] || it_fail "$1: no figure ($mb)"
    [ "$mb" -le "$2" ] || it_fail "$1 took $mb MB of memory (limit $2 MB)"
    figures+=("$1 $mb MB")
}
check_peak "repeat() of 50 MB alone (the baseline)" 160 "SELECT length($big)"
check_peak "checksum(50 MB)" 160 "SELECT migrate_ops.checksum($big)"
check_peak "apply(50 MB): 54000" 160 "CALL migrate_ops.apply('big', $big)"
check_peak "lint(50 MB): 54000" 160 "SELECT count(*) FROM migrate_ops.lint($big)"
check_peak "plan(50 MB): 54000" 160 "SELECT count(*) FROM migrate_ops.plan($big)"
check_peak "preflight(50 MB): 54000" 160 "SELECT count(*) FROM migrate_ops.preflight('big', $big)"
check_peak "lint(20,000 ALTERs)" 100 "SELECT count(*) FROM migrate_ops.lint($stmts20k)"
check_peak "preflight(20,000 ALTERs)" 100 "SELECT count(*) FROM migrate_ops.preflight('big', $stmts20k)"
check_peak "plan(20,000 SELECTs)" 100 "SELECT count(*) FROM migrate_ops.plan($sel20k)"
check_peak "apply(20,000 SELECTs)" 100 "DO \$\$ DECLARE s text := $sel20k; BEGIN CALL migrate_ops.apply('20k', s); END \$\$"
it_expect "SELECT state FROM migrate_ops.migrations WHERE version = '20k'" applied "the 20,000-statement migration is applied"
it_expect "SELECT count(*) FROM migrate_ops.migrations WHERE version = 'big'" 0 "the 50 MB one is not in the ledger"
it_ok "memory (peak above the session's start): $(printf '%s; ' "${figures[@]}")"

# 3. Invalid UTF-8: in a UTF8 database PostgreSQL refuses it before any function sees it.
for expr in "E'\\xff'" "convert_from('\\xff'::bytea, 'UTF8')" "convert_from('\\xff'::bytea, 'SQL_ASCII')" "chr(0)" "'\"\\u0000\"'::jsonb::text"; do
    if err=$(mo_psql -d "$IT_DB" -v VERBOSITY=verbose -c "SELECT migrate_ops.checksum($expr)" 2>&1); then
        it_fail "invalid text reached checksum() through $expr"
    fi
    grep -qE 'ERROR:  (22021|54000|22P05|22P02)' <<<"$err" || it_fail "$expr: $err"
done
it_ok "E'\\xff', convert_from(… 'UTF8' / 'SQL_ASCII'), chr(0) and a \\u0000 in jsonb are refused by PostgreSQL itself (22021, 54000, 22P05)"

# ... in a SQL_ASCII database text is bytes: they pass through, byte for byte.
mo_psql -d postgres -c "CREATE DATABASE it_bad_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" >/dev/null
mo_psql -d it_bad_ascii -c "CREATE EXTENSION migrate_ops" -c "SELECT migrate_ops.snapshot()" \
    -c "SELECT migrate_ops.add_channel('n', 'notify')" \
    -c "CALL migrate_ops.apply(E'v\\xff', E'CREATE TABLE \"t\\xff\" (c text DEFAULT E''\\\\xff\\\\xc3''); COMMENT ON TABLE \"t\\xff\" IS E''\\xfe''')" \
    -c "SELECT * FROM migrate_ops.lint(E'ALTER TABLE \"t\\xff\" ADD COLUMN d int DEFAULT 1')" \
    -c "SELECT * FROM migrate_ops.plan(E'ALTER TABLE \"t\\xff\" ADD COLUMN d int')" \
    -c "SELECT migrate_ops.notify('team.x', jsonb_build_object('b', E'\\xff'))" \
    -c "DO \$\$ BEGIN EXECUTE E'CREATE INDEX \"i\\xfe\" ON \"t\\xff\" (c)'; END \$\$" \
    -c "SELECT * FROM migrate_ops.drift()" >/dev/null
got=$(mo_psql -At -d it_bad_ascii -c "SELECT encode(convert_to(version, 'SQL_ASCII'), 'hex') || ' ' || state FROM migrate_ops.migrations" \
    -c "SELECT count(*) FROM migrate_ops.ddl_log WHERE object_identity = E'public.\"i\\xfe\"'" \
    -c "SELECT position(E'DROP INDEX IF EXISTS public.\"i\\xfe\"' IN migrate_ops.drift_sql()) > 0" | paste -sd' ')
[ "$got" = "76ff applied 1 t" ] || it_fail "SQL_ASCII: $got"
it_ok "a SQL_ASCII database: a version, a script, identities and drift_sql() carry the bytes as they are"
