#!/usr/bin/env bash
# DDL capture through real login sessions: an application role connecting
# over TCP with its application_name, a logging failure provoked by a DBA's
# lock on the log (the DDL must still succeed), and pg_dump/pg_restore of a
# database whose log must come back unchanged.
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
it_db it_capture

# The application: a non-superuser login role, connecting over TCP.
it_val "CREATE ROLE shop_app LOGIN; GRANT CREATE ON SCHEMA public TO shop_app" >/dev/null
app() {
    "$MO_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 \
        "host=127.0.0.1 port=$PGPORT dbname=$IT_DB user=shop_app application_name=shop-api" "$@"
}

# 1. Out-of-band DDL by the application: who, from where, which process.
pid=$(app -c "SELECT pg_backend_pid()" \
          -c "CREATE TABLE orders (id bigint PRIMARY KEY, total numeric)" \
          -c "ALTER TABLE orders ADD COLUMN status text")
it_expect "SELECT string_agg(concat_ws('|', command_tag, object_identity, role, session_role, application_name,
                                       host(client_addr), backend_pid = $pid, migration IS NULL), E'\n' ORDER BY id)
             FROM migrate_ops.ddl_log WHERE session_role = 'shop_app'" \
"CREATE TABLE|public.orders|shop_app|shop_app|shop-api|127.0.0.1|t|t
CREATE INDEX|public.orders_pkey|shop_app|shop_app|shop-api|127.0.0.1|t|t
ALTER TABLE|public.orders|shop_app|shop_app|shop-api|127.0.0.1|t|t
ALTER TABLE|public.orders.status|shop_app|shop_app|shop-api|127.0.0.1|t|t" \
    "the application's DDL is logged with its role, application_name, address and pid"
it_expect "SELECT statement FROM migrate_ops.ddl_log WHERE object_identity = 'public.orders.status'" \
    "ALTER TABLE orders ADD COLUMN status text" "with the statement it ran"
it_expect "SELECT string_agg(concat_ws('|', created_by, payload->>'role', payload->>'application_name',
                                       payload->>'client_addr', payload->>'count'), E'\n' ORDER BY id)
             FROM migrate_ops.events WHERE event = 'ddl.out_of_band' AND payload->>'role' = 'shop_app'" \
"shop_app|shop_app|shop-api|127.0.0.1|2
shop_app|shop_app|shop-api|127.0.0.1|2" \
    "each of its two transactions emitted a ddl.out_of_band event naming the role and application"

# 2. The application's transaction rolls back: nothing logged, no event.
app -c "BEGIN" -c "CREATE TABLE refunds (id int)" -c "ROLLBACK"
it_expect "SELECT count(*) FROM migrate_ops.ddl_log WHERE object_identity = 'public.refunds'" 0 \
    "DDL in a rolled-back transaction leaves no log row"
it_expect "SELECT count(*) FROM migrate_ops.events WHERE payload::text LIKE '%refunds%'" 0 "... and no event"

# 3. A DBA holds a lock on the log (maintenance): the application's DDL
#    must not fail nor wait; capture gives up with a WARNING saying why.
mo_psql -d "$IT_DB" -c "BEGIN" -c "LOCK migrate_ops.ddl_log IN ACCESS EXCLUSIVE MODE" \
    -c "SELECT pg_sleep(30)" -c "COMMIT" >/dev/null 2>&1 &
locker=$!
it_wait "SELECT count(*) FROM pg_locks WHERE relation = 'migrate_ops.ddl_log'::regclass AND mode = 'AccessExclusiveLock' AND granted" 1
t0=$SECONDS
out=$(app -c "BEGIN" -c "CREATE TABLE invoices (id int)" -c "INSERT INTO invoices VALUES (1)" -c "COMMIT" 2>&1) ||
    it_fail "the DDL failed while the log was locked: $out"
[ $((SECONDS - t0)) -lt 10 ] || it_fail "the DDL waited for the lock on the log"
grep -q 'WARNING:  migrate_ops could not record CREATE TABLE in migrate_ops.ddl_log: migrate_ops.ddl_log is locked by another session (SQLSTATE 55P03)' <<<"$out" ||
    it_fail "no WARNING saying why: $out"
grep -q 'DETAIL:  The DDL itself is not affected; it is missing from the DDL log.' <<<"$out" || it_fail "no DETAIL: $out"
it_ok "with the log locked, the DDL and its transaction succeed at once, with a WARNING saying why"
it_expect "SELECT count(*) FROM invoices" 1 "the transaction that ran the DDL committed its data"
kill "$locker" 2>/dev/null || true
it_val "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$locker" 2>/dev/null || true
it_wait "SELECT count(*) FROM pg_locks WHERE relation = 'migrate_ops.ddl_log'::regclass AND mode = 'AccessExclusiveLock'" 0
it_expect "SELECT count(*) FROM migrate_ops.ddl_log WHERE object_identity = 'public.invoices'" 0 \
    "the DDL made while the log was locked is missing from it, as the WARNING said"
app -c "CREATE INDEX invoices_id ON invoices (id)"
it_expect "SELECT role || ' ' || application_name FROM migrate_ops.ddl_log WHERE object_identity = 'public.invoices_id'" \
    "shop_app shop-api" "once the lock is gone, capture resumes"

# 4. The same with the event's table locked: the log row is written, the event is not.
mo_psql -d "$IT_DB" -c "BEGIN" -c "LOCK migrate_ops.events IN ACCESS EXCLUSIVE MODE" \
    -c "SELECT pg_sleep(30)" -c "COMMIT" >/dev/null 2>&1 &
locker=$!
it_wait "SELECT count(*) FROM pg_locks WHERE relation = 'migrate_ops.events'::regclass AND mode = 'AccessExclusiveLock' AND granted" 1
out=$(app -c "CREATE TABLE shipments (id int)" 2>&1) || it_fail "the DDL failed while the events were locked: $out"
grep -q 'WARNING:  migrate_ops could not record the ddl.out_of_band event: migrate_ops.events is locked by another session (SQLSTATE 55P03)' <<<"$out" ||
    it_fail "no WARNING about the event: $out"
it_val "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$locker" 2>/dev/null || true
it_expect "SELECT count(*) FROM migrate_ops.ddl_log WHERE object_identity = 'public.shipments'" 1 \
    "with the events table locked, the DDL is still logged (only its event is lost, with a WARNING)"

# 5. pg_dump / pg_restore: the log comes back as it was; the restore itself
#    (re-creating the dump's objects) is not logged as new DDL.
mo_psql -d "$IT_DB" -c "CALL migrate_ops.apply('20260101_01', 'CREATE TABLE customers (id int)')"
digest="SELECT count(*) || ' ' || md5(string_agg(t::text, '|' ORDER BY id)) FROM migrate_ops.ddl_log t"
events="SELECT count(*) || ' ' || md5(string_agg(t::text, '|' ORDER BY id)) FROM migrate_ops.events t"
before=$(it_val "$digest")
before_events=$(it_val "$events")
"$MO_BIN/pg_dump" -Fc -d "$IT_DB" -f "$MO_WORK/capture.dump"
mo_psql -d postgres -c "CREATE DATABASE it_capture_restored"
"$MO_BIN/pg_restore" -d it_capture_restored "$MO_WORK/capture.dump" || it_fail "pg_restore failed"
IT_DB=it_capture_restored
it_expect "$digest" "$before" "pg_restore brings the DDL log back row for row, and adds none for the restore"
it_expect "$events" "$before_events" "... and the events, with no ddl.out_of_band for the restore"
it_expect "SELECT migration FROM migrate_ops.ddl_log WHERE object_identity = 'public.customers'" "20260101_01" \
    "the restored log keeps the migration of each change"
mo_psql -d "$IT_DB" -c "CREATE TABLE after_restore (id int)"
it_expect "SELECT id = (SELECT max(id) FROM migrate_ops.ddl_log WHERE object_identity <> 'public.after_restore') + 1
             FROM migrate_ops.ddl_log WHERE object_identity = 'public.after_restore'" t \
    "DDL after the restore is logged and numbered after the restored rows"

# A plain-format dump run by psql (pg_dump | psql): recognised by the settings
# every pg_dump script starts with, so it is not logged either.
"$MO_BIN/pg_dump" -d it_capture -f "$MO_WORK/capture.sql"
mo_psql -d postgres -c "CREATE DATABASE it_capture_plain"
mo_psql -q -d it_capture_plain -f "$MO_WORK/capture.sql" >/dev/null || it_fail "plain restore failed"
IT_DB=it_capture_plain
it_expect "$digest" "$before" "pg_dump | psql brings the log back row for row, and adds none for the restore"
it_expect "$events" "$before_events" "... and the events"
mo_psql -d postgres -c "DROP DATABASE it_capture_restored" -c "DROP DATABASE it_capture_plain" >/dev/null

# Those settings do not hide an ordinary role's DDL, nor does calling itself pg_restore.
IT_DB=it_capture
app -c "SET check_function_bodies = off" -c "SET row_security = off" \
    -c "SELECT pg_catalog.set_config('search_path', '', false)" -c "CREATE TABLE public.sneaky (id int)" >/dev/null
"$MO_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
    "host=127.0.0.1 port=$PGPORT dbname=$IT_DB user=shop_app application_name=pg_restore" \
    -c "CREATE TABLE sneakier (id int)"
it_expect "SELECT string_agg(object_identity || ' ' || application_name, ', ' ORDER BY id) FROM migrate_ops.ddl_log
            WHERE object_identity IN ('public.sneaky', 'public.sneakier')" \
    "public.sneaky shop-api, public.sneakier pg_restore" \
    "a non-superuser with a dump's settings, or calling itself pg_restore, is logged all the same"

# 6. A cluster without shared_preload_libraries: the library is loaded by the
#    first DDL of each session (its event trigger), and capture works the same.
data2=$MO_WORK/data_nopreload
port2=$(mo_free_port)
mkdir -p "$data2"
[ "$(id -u)" -eq 0 ] && chown postgres: "$data2"
mo_as_owner "$MO_BIN/initdb" -D "$data2" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null 2>&1
printf "port = %s\nlisten_addresses = ''\nunix_socket_directories = '%s'\nfsync = off\n" "$port2" "$MO_SOCK" >>"$data2/postgresql.conf"
stop_second() { mo_as_owner "$MO_BIN/pg_ctl" -D "$data2" stop -m immediate >/dev/null 2>&1 || true; }
trap stop_second EXIT
touch "$MO_WORK/nopreload.log"; [ "$(id -u)" -eq 0 ] && chown postgres: "$MO_WORK/nopreload.log"
mo_as_owner "$MO_BIN/pg_ctl" -D "$data2" -l "$MO_WORK/nopreload.log" start -w >/dev/null
second() { PGPORT=$port2 mo_psql -At -d np "$@"; }
PGPORT=$port2 mo_psql -d postgres -c "CREATE DATABASE np"
second -c "CREATE EXTENSION migrate_ops"
[ "$(second -c "SHOW shared_preload_libraries")" = "" ] || it_fail "the second cluster preloads something"
# a new session: nothing of migrate_ops is loaded until its first DDL
second -c "SET application_name = 'no-preload'" -c "CREATE TABLE np_first (id int)" -c "CREATE TABLE np_second (id int)"
[ "$(second -c "SELECT string_agg(object_identity || '|' || statement || '|' || application_name, E'\n' ORDER BY id) FROM migrate_ops.ddl_log")" = \
"public.np_first|CREATE TABLE np_first (id int)|no-preload
public.np_second|CREATE TABLE np_second (id int)|no-preload" ] ||
    it_fail "without preload: $(second -c "SELECT * FROM migrate_ops.ddl_log")"
it_ok "without shared_preload_libraries the first DDL of a session loads the library and is logged like the rest"
[ "$(second -c "SELECT count(*) FROM migrate_ops.events WHERE event = 'ddl.out_of_band'")" = 2 ] ||
    it_fail "without preload: no ddl.out_of_band events"
it_ok "... and emits its ddl.out_of_band event"
stop_second
