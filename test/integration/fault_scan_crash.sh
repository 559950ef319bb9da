#!/usr/bin/env bash
# Faults: `pg_ctl stop -m immediate` while the worker's drift scan and a
# session's snapshot() are in progress on a schema large enough (3,000
# tables, about 72,000 objects: a scan, which compares only what differs,
# takes a few tenths of a second, a snapshot() longer) to be caught in the
# middle.  After the restart: nothing committed is lost, no half-written
# scan, snapshot or snapshot_objects row is left, the worker resumes its
# scans on its own, and the next scan is right (the out-of-band change the
# interrupted scan was looking at is detected once, and delivered once).
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
source "$(dirname "$0")/../lib/sink.sh"

cleanup() {
    sink_stop
    mo_pg_ctl status >/dev/null 2>&1 || mo_pg_ctl start -w -t 60 >/dev/null 2>&1 || true
    [ -n "${snap_pid:-}" ] && kill "$snap_pid" 2>/dev/null || true
    it_pg "ALTER SYSTEM RESET migrate_ops.scan_interval" >/dev/null 2>&1 || true
    it_pg "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    it_pg "DROP DATABASE IF EXISTS it_scancrash WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
worker_active() {  # the worker's current activity, if it is running one
    it_pg "SELECT query FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker'
          AND datname = 'it_scancrash' AND state = 'active'"
}

it_db it_scancrash
sink_start
for k in 0 1 2; do    # 1,000 a transaction (the lock table holds no more)
    it_val "DO \$\$ BEGIN FOR i IN $((k * 1000 + 1))..$((k * 1000 + 1000)) LOOP
              EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, %s)', i,
                             (SELECT string_agg(format('c%s text DEFAULT %L', j, 'x'), ', ') FROM generate_series(1, 20) j));
            END LOOP; END \$\$" >/dev/null
done
it_val "SELECT migrate_ops.snapshot('baseline')" >/dev/null
it_val "SELECT migrate_ops.add_channel('drift', 'webhook', '$(sink_url drift)', '{drift.*}')" >/dev/null
objects=$(it_val "SELECT object_count FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1")
it_ok "a schema of 3,000 tables: $objects objects in the baseline"

# Clean scans every second, then out-of-band DDL the next scan is going to find.
it_set_conf scan_interval 1s
it_wait "SELECT count(*) >= 2 FROM migrate_ops.scans" t 20
it_val "CREATE TABLE out_of_band (id int)" >/dev/null
committed=$(it_val "SELECT count(*) || '/' || coalesce(max(id), 0) FROM migrate_ops.scans")
events=$(it_val "SELECT count(*) FROM migrate_ops.events")

# Crash the server while the worker is in the middle of a scan and a session
# is in the middle of a snapshot() (started as the scan starts, in a
# transaction that would roll back: if the crash comes after snapshot()
# returned, its rows are written but not committed).  A try where the scan
# ended too soon is rolled back and tried again at the next scan.
crashed=
for try in 1 2 3 4 5 6 7 8 9 10; do
    deadline=$((SECONDS + 20))
    while [[ "$(worker_active)" != "migrate_ops: drift scan" ]]; do
        [ $SECONDS -lt $deadline ] || it_fail "never saw the worker scanning"
        sleep 0.01
    done
    PGAPPNAME=snapcrash mo_psql -d it_scancrash \
        -c "BEGIN; SELECT migrate_ops.snapshot('interrupted'); SELECT pg_sleep(5); ROLLBACK" >/dev/null 2>&1 &
    snap_pid=$!
    # as soon as the session runs snapshot(), look at both in one query
    state=
    for _ in $(seq 40); do
        state=$(it_pg "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker'
                                  AND datname = 'it_scancrash' AND state = 'active'
                                  AND query = 'migrate_ops: drift scan')
                        || ' ' || (SELECT count(*) FROM pg_stat_activity WHERE application_name = 'snapcrash'
                                     AND state = 'active' AND query LIKE '%migrate_ops.snapshot%')")
        # "1 0": the session has not reached snapshot() yet; "1 1": both run; "0 …": the scan is over
        [ "$state" = "1 0" ] || break
        sleep 0.005
    done
    if [ "$state" = "1 1" ]; then
        mo_pg_ctl stop -m immediate >/dev/null
        crashed=$try
        break
    fi
    it_pg "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'snapcrash'" >/dev/null
    wait "$snap_pid" 2>/dev/null || true
    snap_pid=
done
[ -n "$crashed" ] || it_fail "in 10 tries the worker's scan and a snapshot() never ran at the same time"
wait "$snap_pid" 2>/dev/null && it_fail "the interrupted snapshot() session ended normally"
snap_pid=
it_ok "pg_ctl stop -m immediate while the worker was scanning and a session was taking a snapshot (try $crashed)"

mo_pg_ctl start -w -t 60 >/dev/null || it_fail "the server did not restart"
it_expect "SELECT count(*) FROM migrate_ops.snapshots WHERE label = 'interrupted'" 0 \
    "the interrupted snapshot left no snapshots row"
it_expect "SELECT count(*) FROM migrate_ops.snapshot_objects
            WHERE valid_from > (SELECT max(id) FROM migrate_ops.snapshots)
               OR valid_to > (SELECT max(id) FROM migrate_ops.snapshots)" 0 \
    "... and no snapshot_objects row opened or closed by it"
it_expect "SELECT count(*) FROM migrate_ops.snapshot_objects s, migrate_ops.snapshots n
            WHERE n.id = (SELECT max(id) FROM migrate_ops.snapshots)
              AND s.valid_from <= n.id AND (s.valid_to IS NULL OR s.valid_to > n.id)" "$objects" \
    "the baseline still has its $objects objects"
# (the server may have committed scans between the count and the crash: those are kept)
it_expect "SELECT count(*) >= ${committed%/*} AND min(id) = 1 FROM migrate_ops.scans" t \
    "every scan committed before the crash is still there"
it_expect "SELECT count(*) FROM migrate_ops.scans s
            WHERE (s.event IS NULL) <> NOT EXISTS (SELECT FROM migrate_ops.events e
                                                    WHERE e.event = s.event AND (e.payload->>'scan_id')::bigint = s.id)" 0 \
    "every scan row and its drift event were written together (none without the other)"
it_expect "SELECT count(*) >= $events FROM migrate_ops.events" t "no committed event was lost"

# The worker comes back by itself and its next scan finds the out-of-band table, once.
it_wait "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = 'it_scancrash'" 1 20
it_wait "SELECT last_drift_state FROM migrate_ops.worker_status() WHERE database = current_database()" drift 20
it_wait "SELECT count(*) FROM migrate_ops.scans WHERE status = 'drift'" 2 10
it_expect "SELECT count(*) FROM migrate_ops.events WHERE event = 'drift.detected'" 1 \
    "after the restart the worker scans again: drift.detected once, however many scans see the drift"
it_expect "SELECT string_agg(kind || ' ' || identity || ' ' || change, ', ' ORDER BY kind, identity) FROM migrate_ops.drift()" \
    "column public.out_of_band.id added, privilege table public.out_of_band added, table public.out_of_band added" \
    "the next scan is right: exactly the out-of-band table (its column and owner)"
it_expect "SELECT added || ' ' || removed || ' ' || changed || ' ' || jsonb_array_length(objects) FROM migrate_ops.scans ORDER BY id DESC LIMIT 1" \
    "3 0 0 3" "the scan row lists them"
sink_wait 1 10 drift || it_fail "drift.detected was not delivered"
sleep 0.5
[ "$(sink_q "[json.loads(r['body'])['event'] for r in reqs if r['path'] == '/drift']")" = "['drift.detected']" ] ||
    it_fail "webhook got: $(sink_q "[json.loads(r['body'])['event'] for r in reqs if r['path'] == '/drift']")"
it_ok "drift.detected delivered to the webhook once"
