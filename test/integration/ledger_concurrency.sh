#!/usr/bin/env bash
# Real concurrent sessions against the deploy lock, and deploys whose backend
# dies mid-way (pg_terminate_backend, a record-only session that disconnects).
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
it_db it_ledger

psql_bg() { mo_psql -d "$IT_DB" "$@"; }

# 1. Two deploys at once: the second waits for the first, they never overlap,
#    and a third session sees the first one "running" while it runs.
psql_bg -c "CALL migrate_ops.apply('1', 'CREATE TABLE a (id int); SELECT pg_sleep(2);')" &
first=$!
it_wait "SELECT state FROM migrate_ops.migrations WHERE version = '1'" running
it_ok "another session sees migration 1 running while it runs"
PGOPTIONS="-c migrate_ops.lock_wait=20s" psql_bg -c "CALL migrate_ops.apply('2', 'CREATE TABLE b (id int);')" &
second=$!
it_wait "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Extension' AND query LIKE 'CALL migrate_ops.apply(''2''%'" 1
it_ok "the second deploy waits for the deploy lock"
it_expect "SELECT count(*) FROM migrate_ops.migrations WHERE version = '2'" 0 "the waiting deploy has not started"
wait $first || it_fail "first deploy failed"
wait $second || it_fail "second deploy failed"
it_expect "SELECT string_agg(state, ',' ORDER BY version) FROM migrate_ops.migrations" "applied,applied" "both deploys applied"
it_expect "SELECT (SELECT finished_at FROM migrate_ops.migrations WHERE version = '1')
               <= (SELECT started_at FROM migrate_ops.migrations WHERE version = '2')" t "the two deploys did not overlap"

# 2. Waiting gives up after migrate_ops.lock_wait, naming the holder (55P03).
psql_bg -c "CALL migrate_ops.apply('3', 'SELECT pg_sleep(3);')" &
holder=$!
it_wait "SELECT state FROM migrate_ops.migrations WHERE version = '3'" running
holder_pid=$(it_val "SELECT backend_pid FROM migrate_ops.migrations WHERE version = '3'")
if out=$(PGOPTIONS="-c migrate_ops.lock_wait=300ms" mo_psql -d "$IT_DB" -v VERBOSITY=verbose \
        -c "CALL migrate_ops.apply('4', 'CREATE TABLE d (id int);')" 2>&1); then
    it_fail "a deploy ran while another held the lock"
fi
grep -q "ERROR:  55P03: another deploy is running" <<<"$out" || it_fail "wrong error: $out"
grep -q "Process $holder_pid holds the deploy lock, running migration \"3\"" <<<"$out" || it_fail "holder not named: $out"
it_ok "lock_wait expired with 55P03 naming process $holder_pid and migration 3"
it_expect "SELECT count(*) FROM migrate_ops.migrations WHERE version = '4'" 0 "the refused deploy recorded nothing"
wait $holder

# 3. A backend terminated mid-deploy: the row is reaped by the next ledger
#    call, the schema is clean, the lock is free, and a retry succeeds.
psql_bg -c "CALL migrate_ops.apply('5', 'CREATE TABLE c (id int); SELECT pg_sleep(60);')" 2>/dev/null &
victim=$!
it_wait "SELECT state FROM migrate_ops.migrations WHERE version = '5'" running
pid=$(it_val "SELECT backend_pid FROM migrate_ops.migrations WHERE version = '5'")
it_val "SELECT pg_terminate_backend($pid)" >/dev/null
wait $victim && it_fail "the terminated deploy reported success"
it_wait "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid" 0
it_expect "SELECT state FROM migrate_ops.migrations WHERE version = '5'" running "before the next ledger call the row still says running"
it_expect "SELECT state || ': ' || error FROM migrate_ops.status() WHERE version = '5'" \
    "failed: interrupted: the session running this migration ended before it finished" "the next ledger call marks it failed (interrupted)"
it_expect "SELECT to_regclass('c') IS NULL" t "the interrupted migration left no table"
it_expect "SELECT action || ':' || new_state FROM migrate_ops.migration_history WHERE version = '5' ORDER BY id DESC LIMIT 1" \
    "interrupted:failed" "the history records the interruption"
PGOPTIONS="-c migrate_ops.lock_wait=0" psql_bg -c "CALL migrate_ops.apply('6', 'SELECT 1;')" || it_fail "the lock died with the backend"
it_ok "the deploy lock died with the terminated backend"
psql_bg -c "CALL migrate_ops.apply('5', 'CREATE TABLE c (id int);')" || it_fail "retry failed"
it_expect "SELECT state || '/' || attempts FROM migrate_ops.migrations WHERE version = '5'" "applied/2" "the retry applies it (attempt 2)"

# 4. A record-only migration whose session ends without finish().
psql_bg -c "SELECT migrate_ops.start('7')" >/dev/null
it_wait "SELECT state FROM migrate_ops.status() WHERE version = '7'" failed
it_ok "a start() without finish() in a closed session is failed"
PGOPTIONS="-c migrate_ops.lock_wait=0" psql_bg -c "SELECT migrate_ops.start('8'); SELECT migrate_ops.finish('8');" >/dev/null ||
    it_fail "the record-only session's lock outlived it"
it_ok "the record-only session's lock died with it"
