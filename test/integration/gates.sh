#!/usr/bin/env bash
# Deploy gates with real sessions: a session holding (or queued for) a lock
# on the target table shows up in preflight() with its pid and refuses a
# production deploy (MO002, event committed, nothing recorded); a deploy role
# sees the pid but not another role's query; ALTER DATABASE ... SET
# migrate_ops.environment is for superusers only; health() and ready() on a
# second, small cluster without shared_preload_libraries (no worker).
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"

# Whatever happens, leave the shared cluster as we found it.
np=
it_cleanup() {
    mo_psql -d postgres -c "ALTER SYSTEM RESET migrate_ops.databases" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    [ -n "$np" ] && mo_as_owner "$MO_BIN/pg_ctl" -D "$np/data" stop -m immediate >/dev/null 2>&1 || true
}
trap it_cleanup EXIT
it_db it_gates

it_val "CREATE TABLE accounts (id int PRIMARY KEY, balance numeric);
        INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 100) g;
        CREATE ROLE it_gates_deployer LOGIN;
        GRANT EXECUTE ON FUNCTION migrate_ops.preflight(text, text, jsonb) TO it_gates_deployer;
        ALTER DATABASE it_gates SET migrate_ops.environment = production;
        SELECT migrate_ops.record_backup('nightly', 's3://b/1', 1000, now() - interval '1 hour')" >/dev/null
it_expect "SHOW migrate_ops.environment" production "ALTER DATABASE ... SET migrate_ops.environment = production"

# 1. Another session holds ACCESS SHARE on accounts (an open transaction).
mo_psql -d "$IT_DB" -c "BEGIN" -c "SELECT count(*) FROM accounts" -c "SELECT pg_sleep(60) /* holder */" >/dev/null 2>&1 &
holder=$!
it_wait "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%/* holder */' AND wait_event = 'PgSleep'" 1
hpid=$(it_val "SELECT pid FROM pg_stat_activity WHERE query LIKE '%/* holder */' AND pid <> pg_backend_pid()")
script='ALTER TABLE accounts ADD COLUMN note text;'
got=$(it_val "SELECT ok || ' | ' || detail FROM migrate_ops.preflight('2', '$script') WHERE \"check\" = 'locks'")
want="false | pid $hpid (postgres, active, transaction open * s) holds ACCESS SHARE on public.accounts (blocks the script's ACCESS EXCLUSIVE): SELECT pg_sleep(60) /* holder */"
# shellcheck disable=SC2053
[[ $got == $want ]] || it_fail "locks check: expected [$want], got [$got]"
it_ok "preflight() names the session holding a lock on the target table: pid $hpid, its age and query"

got=$(mo_psql -At -U it_gates_deployer -d "$IT_DB" -c "SELECT detail FROM migrate_ops.preflight('2', '$script') WHERE \"check\" = 'locks'")
[[ $got == "pid $hpid (postgres, active, transaction open "*") holds ACCESS SHARE on public.accounts (blocks the script's ACCESS EXCLUSIVE): <insufficient privilege>" ]] ||
    it_fail "a deploy role saw another role's query: $got"
it_ok "a deploy role without pg_read_all_stats sees the pid, not another role's query"

# apply() in production (autocommit): refused at once, not after lock_timeout; the event is committed.
start=$SECONDS
if out=$(mo_psql -d "$IT_DB" -v VERBOSITY=verbose -c "CALL migrate_ops.apply('2', '$script')" 2>&1); then
    it_fail "apply() ran while another session held a conflicting lock"
fi
grep -q 'ERROR:  MO002: deploy of migration "2" refused in production: locks' <<<"$out" || it_fail "wrong error: $out"
grep -q "locks: pid $hpid " <<<"$out" || it_fail "the error does not name pid $hpid: $out"
[ $((SECONDS - start)) -lt 5 ] || it_fail "the refusal waited for the lock"
it_ok "apply() in production is refused with MO002 naming pid $hpid, without waiting for the lock"
it_expect "SELECT count(*) FROM migrate_ops.migrations" 0 "the refused deploy left no ledger row"
it_expect "SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'note'" 0 \
    "and no column"
it_expect "SELECT payload->>'version' || ' ' || (payload->'checks'->0->>'check') FROM migrate_ops.events WHERE event = 'preflight.blocked'" \
    "2 locks" "preflight.blocked was committed before the error (another session reads it)"

# 2. A session queued for ACCESS EXCLUSIVE behind the holder: a script needing only SHARE
#    conflicts with the queued request, not with the holder's ACCESS SHARE.
PGOPTIONS="-c lock_timeout=60s" mo_psql -d "$IT_DB" -c "BEGIN" -c "LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE /* waiter */" >/dev/null 2>&1 &
waiter=$!
it_wait "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted AND a.query LIKE '%/* waiter */'" 1
wpid=$(it_val "SELECT pid FROM pg_stat_activity WHERE query LIKE '%/* waiter */' AND pid <> pg_backend_pid()")
got=$(it_val "SELECT detail FROM migrate_ops.preflight('3', 'CREATE INDEX accounts_balance_idx ON accounts (balance)') WHERE \"check\" = 'locks'")
[[ $got == "pid $wpid (postgres, active, transaction open "*") waits for ACCESS EXCLUSIVE on public.accounts (queued ahead of the script's SHARE): LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE /* waiter */" ]] ||
    it_fail "queued session: $got"
it_ok "a session queued for a conflicting lock is named (pid $wpid); the holder's ACCESS SHARE, compatible with SHARE, is not"

it_val "SELECT pg_terminate_backend($wpid)" >/dev/null
wait $waiter 2>/dev/null || true
it_val "SELECT pg_terminate_backend($hpid)" >/dev/null
wait $holder 2>/dev/null || true
it_wait "SELECT count(*) FROM pg_stat_activity WHERE pid IN ($hpid, $wpid)" 0
it_expect "SELECT ok FROM migrate_ops.preflight('2', '$script') WHERE \"check\" = 'locks'" t "the lock holders are gone: the check passes"
mo_psql -d "$IT_DB" -c "CALL migrate_ops.apply('2', '$script')" 2>/dev/null || it_fail "apply() after the holder ended failed"
it_expect "SELECT state FROM migrate_ops.migrations WHERE version = '2'" applied "then the deploy goes through"

# 3. Only superusers set the environment: a database owner cannot switch production off.
mo_psql -d postgres -c "CREATE ROLE it_gates_owner LOGIN" -c "ALTER DATABASE it_gates OWNER TO it_gates_owner" >/dev/null
if out=$(mo_psql -U it_gates_owner -d "$IT_DB" -c "ALTER DATABASE it_gates SET migrate_ops.environment = development" 2>&1); then
    it_fail "a database owner changed the environment"
fi
grep -q 'permission denied to set parameter "migrate_ops.environment"' <<<"$out" || it_fail "wrong error: $out"
it_ok "the database owner cannot ALTER DATABASE ... SET migrate_ops.environment (42501)"
it_expect "SHOW migrate_ops.environment" production "still production"
mo_psql -d postgres -c "ALTER DATABASE it_gates OWNER TO postgres" -c "DROP ROLE it_gates_owner" >/dev/null

# 4. The worker: backup.stale once when the newest backup goes stale, in a database it learned
#    is production from ALTER DATABASE after it started; ready() while it runs, not after it died.
it_wait "SELECT migrate_ops.health()->>'worker_alive'" true 20
it_expect "SELECT migrate_ops.ready()" t "the worker runs: ready"
it_val "DELETE FROM migrate_ops.backups;
        SELECT migrate_ops.record_backup('stale soon', 's3://b/2', 1000, now() - interval '24 hours' + interval '2 seconds')" >/dev/null
it_expect "SELECT count(*) FROM migrate_ops.events WHERE event = 'backup.stale'" 0 "the backup is fresh: no backup.stale yet"
it_wait "SELECT count(*) FROM migrate_ops.events WHERE event = 'backup.stale'" 1 15
it_expect "SELECT payload->>'label' || ' ' || (payload->>'max_age_seconds') || ' ' || created_by FROM migrate_ops.events WHERE event = 'backup.stale'" \
    "stale soon 86400 postgres" "the worker emitted backup.stale when the backup went stale"
sleep 1.5
it_expect "SELECT count(*) FROM migrate_ops.events WHERE event = 'backup.stale'" 1 "once"
wpid=$(it_val "SELECT pid FROM migrate_ops.worker_status() WHERE database = current_database()")
it_val "SELECT pg_terminate_backend($wpid)" >/dev/null
it_wait "SELECT migrate_ops.ready()::text || ' ' || (migrate_ops.health()->>'not_ready')" 'false ["the background worker is not running"]' 5
it_ok "worker $wpid terminated: not ready, and health() says why"
it_wait "SELECT migrate_ops.ready()" t 20
it_ok "the launcher restarted the worker: ready again"
mo_psql -d "$IT_DB" -c "ALTER SYSTEM SET migrate_ops.databases = 'postgres'" -c "SELECT pg_reload_conf()" >/dev/null
it_wait "SELECT state FROM migrate_ops.worker_status() WHERE database = current_database()" "not running" 20
it_expect "SELECT migrate_ops.ready()::text || ' ' || coalesce(migrate_ops.health()->>'worker_alive', 'null')" "true null" \
    "a database left out of migrate_ops.databases has no worker to wait for: ready, worker_alive null"
mo_psql -d "$IT_DB" -c "ALTER SYSTEM RESET migrate_ops.databases" -c "SELECT pg_reload_conf()" >/dev/null
it_wait "SELECT migrate_ops.health()->>'worker_alive'" true 20

# pg_dump keeps approvals and the backup registry (extension configuration tables).
it_val "SELECT migrate_ops.approve('9', repeat('ab', 32), 'kept by pg_dump')" >/dev/null
"$MO_BIN/pg_dump" -U postgres -Fc -f "$MO_WORK/it_gates.dump" "$IT_DB"
mo_psql -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS it_gates_restored" \
    -c "CREATE DATABASE it_gates_restored" >/dev/null
"$MO_BIN/pg_restore" -U postgres --exit-on-error -d it_gates_restored "$MO_WORK/it_gates.dump" || it_fail "pg_restore failed"
got=$(mo_psql -At -d it_gates_restored -c "SELECT (SELECT string_agg(version || ':' || note, ',') FROM migrate_ops.approvals)
        || ' ' || (SELECT string_agg(label || ':' || (stale_notified_at IS NOT NULL), ',') FROM migrate_ops.backups)")
[ "$got" = "9:kept by pg_dump stale soon:true" ] || it_fail "restored approvals and backups: $got"
it_ok "pg_dump/pg_restore keep approvals and backups (and that backup.stale was sent)"
mo_psql -d postgres -c "DROP DATABASE it_gates_restored WITH (FORCE)" >/dev/null

# 5. A cluster without shared_preload_libraries: every function works, there is no worker,
#    and ready() does not wait for one.
np=$MO_WORK/nopreload
mkdir -p "$np/data" "$np/sock"
[ "$(id -u)" -eq 0 ] && chown postgres: "$np" "$np/data" "$np/sock"
mo_as_owner "$MO_BIN/initdb" -D "$np/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$np/initdb.log" 2>&1 ||
    it_fail "initdb of the second cluster failed"
np_port=$(mo_free_port)
{
    echo "port = $np_port"
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$np/sock'"
    echo "fsync = off"
    echo "max_connections = 10"
    echo "shared_buffers = 16MB"
} >>"$np/data/postgresql.conf"
mo_as_owner "$MO_BIN/pg_ctl" -D "$np/data" -l "$np/server.log" start -w -t 60 >/dev/null || { tail -5 "$np/server.log"; it_fail "the second cluster did not start"; }
np_psql() { "$MO_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$np/sock" -p "$np_port" -U postgres -d postgres "$@"; }
np_psql -c "CREATE EXTENSION migrate_ops" -c "ALTER DATABASE postgres SET migrate_ops.environment = staging" >/dev/null
it_expect_np() { local got; got=$(np_psql -c "$1") || it_fail "$3: query failed"; [ "$got" = "$2" ] && it_ok "$3" || it_fail "$3: expected [$2], got [$got]"; }
it_expect_np "SELECT current_setting('shared_preload_libraries') = ''" t "second cluster: not preloaded"
it_expect_np "SELECT h->>'preloaded', coalesce(h->>'worker_alive', 'null'), h->>'ready', h->>'not_ready' FROM migrate_ops.health() h" \
    "false|null|true|[]" "not preloaded: no worker, and ready() does not wait for one"
it_expect_np "SELECT migrate_ops.ready()" t "ready()"
it_expect_np "SELECT migrate_ops.health()->>'environment'" staging \
    "ALTER DATABASE ... SET reaches the library loaded on first use (a placeholder until then)"
np_psql -c "SELECT migrate_ops.start('1')" -c "SELECT migrate_ops.fail('1')" >/dev/null
it_expect_np "SELECT migrate_ops.ready()::text || ' ' || (migrate_ops.health()->>'not_ready')" \
    'false ["1 failed migration"]' "a failed migration: not ready"
np_psql -c "CREATE ROLE np_owner LOGIN" -c "CREATE DATABASE np_db OWNER np_owner" >/dev/null
if out=$("$MO_BIN/psql" -X -q -h "$np/sock" -p "$np_port" -U np_owner -d np_db \
        -c "ALTER DATABASE np_db SET migrate_ops.environment = development" 2>&1); then
    it_fail "a database owner set the environment before the library was loaded"
fi
grep -q 'permission denied to set parameter "migrate_ops.environment"' <<<"$out" || it_fail "wrong error: $out"
it_ok "the library not loaded yet (a placeholder): still only superusers set the environment"
