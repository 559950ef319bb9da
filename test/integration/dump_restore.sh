#!/usr/bin/env bash
# pg_dump / pg_restore of a database that uses every feature: every
# configuration table (pg_extension.extconfig) comes back row for row in both
# the custom and the plain format, sequences continue where they were, the
# schema has the same fingerprint and no drift, and the restored database
# keeps working.
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
it_db it_dump
q() { mo_psql -d "$IT_DB" -q "$@" >/dev/null; }

# Use everything, so that every configuration table holds rows.
q -c "CALL migrate_ops.apply('1', 'CREATE TABLE orders (id bigint PRIMARY KEY, total numeric);', 'DROP TABLE orders;', 'orders')"
q -c "CALL migrate_ops.apply('2', 'ALTER TABLE orders ADD COLUMN note text; SELECT 1/0;')" 2>/dev/null || true
q -c "CALL migrate_ops.apply('2', 'ALTER TABLE orders ADD COLUMN note text;')"
q -c "SELECT migrate_ops.start('3', 'tool-sum', 'by psql')" -c "CREATE INDEX orders_note_idx ON orders (note)" \
  -c "SELECT migrate_ops.finish('3')"
q -c "INSERT INTO migrate_ops.drift_ignore (kind, pattern) VALUES ('table', '^public\.tmp_')"
q -c "CREATE TABLE hotfix (id int)"                       # out-of-band: ddl_log, ddl.out_of_band
q -c "SELECT migrate_ops.scan()"                           # scans, drift.detected
q -c "SELECT migrate_ops.accept_drift('hotfix is fine')"   # snapshot, drift.accepted
q -c "SELECT migrate_ops.add_channel('ops', 'webhook', 'http://127.0.0.1:9/hook', '{migration.*}', 'sekrit')" \
  -c "SELECT migrate_ops.notify('deploy.note', '{\"n\": 1}')" \
  -c "SELECT migrate_ops.add_channel('ops-listen', 'notify', NULL, '{*}')"
q -c "UPDATE migrate_ops.lint_rules SET severity = 'error' WHERE id = 'rename_column'"
q -c "CALL migrate_ops.apply('4', 'ALTER TABLE orders RENAME COLUMN note TO remark;')"
q -c "SELECT migrate_ops.record_backup('nightly', 's3://backups/shop/nightly', 123456789, now() - interval '2 hours')"
q -c "SELECT migrate_ops.approve('6', migrate_ops.checksum('DROP TABLE hotfix;'), 'reviewed in PR 42')"
# park the outbox (no worker activity changes it while we compare)
q -c "UPDATE migrate_ops.outbox SET state = 'dead', last_error = 'parked by the test'"

tables=$(it_val "SELECT string_agg(c::regclass::text, ' ' ORDER BY c::regclass::text)
                   FROM pg_extension e, unnest(e.extconfig) c
                  WHERE e.extname = 'migrate_ops' AND (SELECT relkind FROM pg_class WHERE oid = c) = 'r'")
empty=$(for t in $tables; do n=$(it_val "SELECT count(*) FROM $t"); [ "$n" -gt 0 ] || echo "$t"; done)
[ -z "$empty" ] || it_fail "configuration tables left empty by the exercise: $empty"
it_ok "every configuration table holds rows: $(wc -w <<<"$tables") tables"

# Digests of every configuration table and sequence, and the fingerprint.
digests_sql="SELECT string_agg(line, E'\n' ORDER BY line) FROM (
    SELECT c::regclass::text || ' ' || CASE WHEN (SELECT relkind FROM pg_class WHERE oid = c) = 'S'
             THEN (xpath('/row/last_value/text()', query_to_xml('SELECT last_value FROM ' || c::regclass::text, false, false, '')))[1]::text
             ELSE (xpath('/row/d/text()', query_to_xml('SELECT count(*) || '':'' || md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) AS d FROM '
                                                        || c::regclass::text || ' t', false, false, '')))[1]::text END AS line
      FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'migrate_ops'
    UNION ALL SELECT 'fingerprint ' || migrate_ops.fingerprint()) x"

# Nothing writes these tables while we dump (the outbox is parked, scans and
# retention are hours away): digests before and after must agree.
source_digests=$(it_val "$digests_sql")
"$MO_BIN/pg_dump" -Fc -d "$IT_DB" -f "$MO_WORK/all.dump"
"$MO_BIN/pg_dump" -d "$IT_DB" -f "$MO_WORK/all.sql"
[ "$(it_val "$digests_sql")" = "$source_digests" ] || it_fail "the source changed while it was dumped"

check_restored() {   # db, format
    local got
    got=$(mo_psql -d "$1" -At -c "$digests_sql")
    if [ "$got" != "$source_digests" ]; then
        diff <(echo "$source_digests") <(echo "$got") | head -20
        it_fail "$2: configuration tables, sequences or fingerprint differ after the restore"
    fi
    it_ok "$2: every configuration table row for row, every sequence and the fingerprint are as dumped"
    IT_DB=$1 it_expect "SELECT count(*) FROM migrate_ops.drift()" 0 "$2: no drift in the restored database"
    IT_DB=$1 it_expect "SELECT string_agg(version || ':' || state, ',' ORDER BY version) FROM migrate_ops.status()" \
        "1:applied,2:applied,3:applied,4:applied" "$2: the ledger is as it was"
    # (a sequence not restored would make these inserts collide with restored primary keys)
    mo_psql -d "$1" -q -c "CALL migrate_ops.apply('5', 'ALTER TABLE orders ADD COLUMN shipped boolean;')" >/dev/null ||
        it_fail "$2: the restored database cannot apply a migration"
    IT_DB=$1 it_expect "SELECT count(*) FROM migrate_ops.drift()" 0 "$2: the restored database applies, records and stays drift-free"
}

mo_psql -d postgres -q -c "DROP DATABASE IF EXISTS it_dump_custom" -c "CREATE DATABASE it_dump_custom" >/dev/null
"$MO_BIN/pg_restore" --exit-on-error -d it_dump_custom "$MO_WORK/all.dump" || it_fail "pg_restore failed"
check_restored it_dump_custom "custom format (pg_restore)"

mo_psql -d postgres -q -c "DROP DATABASE IF EXISTS it_dump_plain" -c "CREATE DATABASE it_dump_plain" >/dev/null
mo_psql -d it_dump_plain -q -f "$MO_WORK/all.sql" >/dev/null 2>"$MO_WORK/plain.err" || { cat "$MO_WORK/plain.err"; it_fail "psql restore failed"; }
check_restored it_dump_plain "plain format (pg_dump | psql)"

mo_psql -d postgres -q -c "DROP DATABASE it_dump_custom WITH (FORCE)" -c "DROP DATABASE it_dump_plain WITH (FORCE)" >/dev/null
