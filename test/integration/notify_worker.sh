#!/usr/bin/env bash
# The background worker's life: discovery of CREATE/DROP EXTENSION, idle cost,
# restarts after pg_terminate_backend (worker and launcher), DROP / RENAME /
# CREATE DATABASE ... TEMPLATE with a worker attached, migrate_ops.databases,
# periodic scans and SIGHUP, a crash (pg_ctl stop -m immediate) with
# deliveries in flight, two-phase commit, and a server without
# shared_preload_libraries.
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
source "$(dirname "$0")/../lib/sink.sh"

worker_pid() { it_pg "SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = '$1'"; }
wait_pg() {  # wait_pg SQL EXPECTED [SECONDS], in the postgres database
    local deadline=$((SECONDS + ${3:-10})) got=
    while [ $SECONDS -lt $deadline ]; do
        got=$(it_pg "$1" 2>/dev/null || true)
        [ "$got" = "$2" ] && return 0
        sleep 0.05
    done
    it_fail "timed out waiting for [$1] = [$2] (last: [$got])"
}
cleanup() {
    sink_stop
    for s in databases scan_interval; do it_pg "ALTER SYSTEM RESET migrate_ops.$s" >/dev/null 2>&1 || true; done
    it_pg "ALTER SYSTEM RESET max_prepared_transactions" >/dev/null 2>&1 || true
    it_pg "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    for db in it_w1 it_w2 it_w3 it_crash it_restore; do it_pg "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done
    [ -n "${NP_DATA:-}" ] && mo_as_owner "$MO_BIN/pg_ctl" -D "$NP_DATA" stop -m immediate >/dev/null 2>&1 || true
}
trap cleanup EXIT

# 1. Discovery: no extension, no worker; CREATE EXTENSION starts one, DROP EXTENSION stops it.
it_pg "DROP DATABASE IF EXISTS it_w1" >/dev/null 2>&1
it_pg "CREATE DATABASE it_w1" >/dev/null
sleep 1
[ "$(worker_pid it_w1)" = 0 ] || it_fail "a worker stays in a database without the extension"
it_ok "a new database without the extension gets no worker"
mo_psql -d it_w1 -c "CREATE EXTENSION migrate_ops" >/dev/null
wait_pg "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = 'it_w1'" 1 5
it_ok "CREATE EXTENSION: a worker started for it_w1 without a restart"
mo_psql -d it_w1 -c "DROP EXTENSION migrate_ops" -c "DROP SCHEMA migrate_ops" >/dev/null
wait_pg "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = 'it_w1'" 0 5
it_ok "DROP EXTENSION: the worker left it_w1"
mo_psql -d it_w1 -c "CREATE EXTENSION migrate_ops" >/dev/null
wait_pg "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = 'it_w1'" 1 5
it_ok "CREATE EXTENSION again: the worker is back"
IT_DB=it_w1

# 2. Idle costs nothing: no transaction, no query, no state change while nothing happens.
sleep 0.5
pid=$(worker_pid it_w1)
before=$(it_pg "SELECT state || '|' || state_change || '|' || coalesce(xact_start::text, '-') FROM pg_stat_activity WHERE pid = $pid")
sleep 3
after=$(it_pg "SELECT state || '|' || state_change || '|' || coalesce(xact_start::text, '-') FROM pg_stat_activity WHERE pid = $pid")
[ "$before" = "$after" ] && [[ $before == idle* ]] || it_fail "the idle worker was active: [$before] -> [$after]"
it_ok "an idle worker ran nothing for 3 s (pg_stat_activity unchanged: ${before%%|*})"

# 3. pg_terminate_backend: the launcher restarts the worker; what was queued meanwhile is delivered.
sink_start
it_val "SELECT migrate_ops.add_channel('hook', 'webhook', '$(sink_url ok)')" >/dev/null
it_pg "SELECT pg_terminate_backend($pid)" >/dev/null
id=$(it_val "SELECT migrate_ops.notify('deploy.after_kill')")
wait_pg "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = 'it_w1' AND pid <> $pid" 1 10
new=$(worker_pid it_w1)
it_wait "SELECT state FROM migrate_ops.outbox WHERE event_id = $id" sent 10
it_ok "worker $pid terminated, restarted as $new, and the event queued meanwhile was delivered"

# 4. The launcher itself restarts (bgw_restart_time) and keeps serving.
launcher=$(it_pg "SELECT pid FROM pg_stat_activity WHERE backend_type = 'migrate_ops launcher'")
it_pg "SELECT pg_terminate_backend($launcher)" >/dev/null
wait_pg "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops launcher' AND pid <> $launcher" 1 15
[ "$(worker_pid it_w1)" = "$new" ] || it_fail "the running worker was not kept by the new launcher"
it_pg "SELECT pg_terminate_backend($new)" >/dev/null
wait_pg "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = 'it_w1' AND pid <> $new" 1 10
it_ok "the launcher restarted after pg_terminate_backend, kept the running worker, and restarts it when it dies"

# 5. RENAME, CREATE DATABASE ... TEMPLATE and DROP DATABASE with the worker attached.
t0=$(date +%s%N)
it_pg "ALTER DATABASE it_w1 RENAME TO it_w2" >/dev/null
wait_pg "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = 'it_w2'" 1 10
it_ok "ALTER DATABASE RENAME with the worker attached: done, and the worker is back in it_w2"
it_pg "CREATE DATABASE it_w3 TEMPLATE it_w2" >/dev/null
wait_pg "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname IN ('it_w2', 'it_w3')" 2 10
it_ok "CREATE DATABASE ... TEMPLATE it_w2 with the worker attached: done; the copy has a worker too"
pid=$(worker_pid it_w2)
it_pg "DROP ROLE IF EXISTS it_nobody; CREATE ROLE it_nobody" >/dev/null 2>&1
mo_psql -d postgres -c "SET ROLE it_nobody" -c "DROP DATABASE it_w2" >/dev/null 2>&1 && it_fail "a non-owner dropped it_w2"
sleep 0.3
[ "$(worker_pid it_w2)" = "$pid" ] || it_fail "a role that may not drop it_w2 stopped its worker"
it_pg "DROP ROLE it_nobody" >/dev/null
it_ok "DROP DATABASE by a role that may not: refused by PostgreSQL, and the worker was left alone"
for db in it_w2 it_w3; do
    t0=$(date +%s%N)
    it_pg "DROP DATABASE $db" >/dev/null || it_fail "DROP DATABASE $db failed"
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ $ms -lt 4000 ] || it_fail "DROP DATABASE $db took $ms ms"
    it_ok "DROP DATABASE $db with its worker attached completed in $ms ms"
done
wait_pg "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname IN ('it_w2', 'it_w3')" 0 5
sleep 0.5
[ "$(it_pg "SELECT count(*) FROM pg_database WHERE datname LIKE 'it_w_'")" = 0 ] || it_fail "databases left"
it_ok "no worker is left behind, and none is restarted for the dropped databases"

# 6. migrate_ops.databases restricts the worker (SIGHUP).
it_db it_crash
wait_pg "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = 'it_crash'" 1 10
it_set_conf databases "postgres, some_other_db"
wait_pg "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = 'it_crash'" 0 5
it_expect "SELECT state || ': ' || last_error FROM migrate_ops.worker_status() WHERE database = current_database()" \
    "not running: this database is not in migrate_ops.databases" "excluded by migrate_ops.databases: the worker left, worker_status() says why"
it_set_conf databases ""
wait_pg "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = 'it_crash'" 1 10
it_ok "back in the list: the worker returns"

# 7. Periodic scans every migrate_ops.scan_interval: drift.* only on a change of state; SIGHUP changes the interval.
drift_events() { sink_q "[json.loads(r['body'])['event'] for r in reqs if r['path'] == '/drift']"; }
it_val "SELECT migrate_ops.snapshot('baseline')" >/dev/null
it_val "SELECT migrate_ops.add_channel('drift', 'webhook', '$(sink_url drift)', '{drift.*}')" >/dev/null
it_set_conf scan_interval 1s
it_wait "SELECT last_drift_state FROM migrate_ops.worker_status() WHERE database = current_database()" clean 5
it_ok "scan_interval = 1s: the worker scans; the schema is clean"
it_val "CREATE TABLE out_of_band (id int)" >/dev/null
sink_wait 1 5 drift
scans=$(it_val "SELECT count(*) FROM migrate_ops.scans")
it_wait "SELECT count(*) >= $scans + 2 FROM migrate_ops.scans" t 5
[ "$(drift_events)" = "['drift.detected']" ] || it_fail "drift events: $(drift_events)"
it_expect "SELECT last_drift_state FROM migrate_ops.worker_status() WHERE database = current_database()" drift     "out-of-band DDL: drift.detected delivered once, though the worker kept scanning every second"
it_val "SELECT migrate_ops.accept_drift('adopted by the integration test')" >/dev/null
sink_wait 2 5 drift
scans=$(it_val "SELECT count(*) FROM migrate_ops.scans")
it_wait "SELECT count(*) >= $scans + 2 FROM migrate_ops.scans" t 5
[ "$(drift_events)" = "['drift.detected', 'drift.accepted']" ] || it_fail "drift events: $(drift_events)"
it_expect "SELECT last_drift_state FROM migrate_ops.worker_status() WHERE database = current_database()" clean     "accept_drift(): drift.accepted, and the following scans are clean and silent"
it_val "CREATE TABLE out_of_band_2 (id int)" >/dev/null
sink_wait 3 5 drift
it_val "DROP TABLE out_of_band_2" >/dev/null
sink_wait 4 5 drift
[ "$(drift_events)" = "['drift.detected', 'drift.accepted', 'drift.detected', 'drift.resolved']" ] ||
    it_fail "drift events: $(drift_events)"
it_ok "drift that is undone: drift.detected, then drift.resolved at the next scan"
it_set_conf scan_interval 1h
last=$(it_val "SELECT last_scan_at FROM migrate_ops.worker_status() WHERE database = current_database()")
scans=$(it_val "SELECT count(*) FROM migrate_ops.scans")
sleep 2.2
it_expect "SELECT last_scan_at = '$last' AND (SELECT count(*) FROM migrate_ops.scans) = $scans
             FROM migrate_ops.worker_status() WHERE database = current_database()" t \
    "SIGHUP to scan_interval = 1h: no more scans"

# 8. A crash with deliveries in flight (pg_ctl stop -m immediate): all 200 are delivered after the restart.
it_val "SELECT migrate_ops.add_channel('slow', 'webhook', '$(sink_url hang/0.1)')" >/dev/null
first=$(it_val "SELECT migrate_ops.notify('crash.event', jsonb_build_object('i', i)) FROM generate_series(1, 200) i ORDER BY 1 LIMIT 1")
sink_wait 16 15 hang
it_pg "ALTER SYSTEM SET max_prepared_transactions = 4" >/dev/null   # for step 9, at the restart
mo_pg_ctl stop -m immediate -w >/dev/null
got=$(sink_count hang)
mo_pg_ctl start -w -t 60 >/dev/null
[ "$got" -lt 200 ] || it_fail "everything was delivered before the crash ($got): nothing was tested"
it_ok "pg_ctl stop -m immediate after $got of 200 deliveries"
it_wait "SELECT count(*) FILTER (WHERE state = 'sent') || '/' || count(*) FROM migrate_ops.outbox WHERE channel = 'slow'" "200/200" 30
distinct=$(sink_q "len({r['headers']['idempotency-key'] for r in reqs if r['path'] == '/hang/0.1'})")
all=$(sink_q "sorted({int(r['headers']['idempotency-key']) for r in reqs if r['path'] == '/hang/0.1'}) == list(range($first, $first + 200))")
[ "$distinct" = 200 ] && [ "$all" = t ] || it_fail "after the crash the sink saw $distinct distinct events"
it_ok "after the restart all 200 events reached the sink ($(sink_count hang) requests: at least once, by Idempotency-Key)"
grep -q "deliveries interrupted by the previous worker will be sent again" "$MO_LOG" ||
    it_fail "the restarted worker did not report the interrupted deliveries"
it_ok "the new worker marked the crashed run's in-flight rows and sent them again"

# 9. Two-phase commit: nothing is sent at PREPARE, everything at COMMIT PREPARED (which wakes the worker).
it_val "SELECT migrate_ops.add_channel('twopc', 'webhook', '$(sink_url twopc)', '{deploy.*}')" >/dev/null
mo_psql -d "$IT_DB" -c "BEGIN" -c "SELECT migrate_ops.notify('deploy.prepared')" -c "PREPARE TRANSACTION 'it_p1'" >/dev/null
sleep 0.5
[ "$(sink_count twopc)" = 0 ] || it_fail "a prepared transaction's event was sent before COMMIT PREPARED"
it_val "COMMIT PREPARED 'it_p1'" >/dev/null
sink_wait 1 5 twopc || it_fail "COMMIT PREPARED did not get the event delivered"
it_ok "PREPARE TRANSACTION sends nothing; COMMIT PREPARED wakes the worker and it is delivered"
it_pg "ALTER SYSTEM RESET max_prepared_transactions" >/dev/null

# 10. pg_dump / pg_restore keep channels and the outbox; the restored database's worker delivers
#     what was pending, with the same Idempotency-Key.
it_val "SELECT migrate_ops.add_channel('later', 'webhook', '$(sink_url status/503)', '{restore.*}')" >/dev/null
id=$(it_val "SELECT migrate_ops.notify('restore.pending')")
it_wait "SELECT attempts >= 1 FROM migrate_ops.outbox WHERE event_id = $id AND channel = 'later'" t 10
mo_as_owner "$MO_BIN/pg_dump" -h "$MO_SOCK" -p "$PGPORT" -U postgres -Fc -d it_crash >"$MO_WORK/it_crash.dump"
it_pg "DROP DATABASE IF EXISTS it_restore" >/dev/null 2>&1
it_pg "CREATE DATABASE it_restore" >/dev/null
"$MO_BIN/pg_restore" -d it_restore "$MO_WORK/it_crash.dump" || it_fail "pg_restore failed"
mo_psql -At -d it_restore -c "SELECT migrate_ops.alter_channel('later', url => '$(sink_url restored)')" >/dev/null
sink_wait 1 10 restored || { mo_psql -d it_restore -c "SELECT * FROM migrate_ops.worker_status()" -c "SELECT id, event_id, channel, state, attempts, next_attempt_at, now(), last_error FROM migrate_ops.outbox"; it_fail "the restored pending row was not delivered"; }
[ "$(sink_q "[r['headers']['idempotency-key'] for r in reqs if r['path'] == '/restored'] == ['$id']")" = t ] ||
    it_fail "the restored delivery carried another key"
[ "$(mo_psql -At -d it_restore -c "SELECT count(*) FROM migrate_ops.channels")" = "$(it_val "SELECT count(*) FROM migrate_ops.channels")" ] ||
    it_fail "channels were not restored"
it_ok "pg_dump/pg_restore kept channels and the pending delivery; the restored database delivered it with Idempotency-Key $id"
it_pg "DROP DATABASE it_restore" >/dev/null

# 11. Without shared_preload_libraries: every SQL function works, worker_status() says there is no worker.
NP_DATA=$MO_WORK/np_data
rm -rf "$NP_DATA"
NP_PORT=$(mo_free_port)
mkdir -p "$NP_DATA" && touch "$MO_WORK/np.log"
[ "$(id -u)" -eq 0 ] && chown postgres: "$NP_DATA" "$MO_WORK/np.log"
mo_as_owner "$MO_BIN/initdb" -D "$NP_DATA" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
printf "port = %s\nlisten_addresses = ''\nunix_socket_directories = '%s'\nfsync = off\nshared_buffers = 16MB\n" "$NP_PORT" "$MO_SOCK" >>"$NP_DATA/postgresql.conf"
mo_as_owner "$MO_BIN/pg_ctl" -D "$NP_DATA" -l "$MO_WORK/np.log" start -w >/dev/null
np() { mo_psql -At -p "$NP_PORT" -d postgres -c "$1"; }
np "CREATE EXTENSION migrate_ops" >/dev/null
np "SELECT migrate_ops.add_channel('hook', 'webhook', 'http://127.0.0.1:1/x')" >/dev/null
np "SELECT migrate_ops.notify('deploy.done')" >/dev/null
[ "$(np "SELECT state || ' | ' || backlog || ' | ' || last_error FROM migrate_ops.worker_status()")" = \
  "not preloaded | 1 | migrate_ops is not in shared_preload_libraries: no background worker runs (every SQL function works; notifications are queued but not delivered)" ] ||
    it_fail "worker_status() without preload: $(np "SELECT * FROM migrate_ops.worker_status()")"
it_ok "not preloaded: events are queued, worker_status() says no worker runs instead of failing"
mo_as_owner "$MO_BIN/pg_ctl" -D "$NP_DATA" stop -m fast >/dev/null
NP_DATA=
