#!/usr/bin/env bash
# test/bench/notify.sh — notification delivery figures, on a throwaway cluster
# (the test harness's), against the local HTTP sink (test/lib/http_sink.py).
#
#   1. commit latency of a transaction that emits one event: no channel (the
#      baseline) vs one webhook channel vs one notify channel (pgbench);
#   2. commit-to-delivery latency, p50/p99, of EVENTS events (default 10,000),
#      one per transaction at RATE per second, and delivered throughput;
#   3. drain of a backlog of BACKLOG rows (default 20,000) queued in one
#      transaction: deliveries per second and the worker's peak memory;
#   4. idle cost: statements the worker runs in IDLE seconds with nothing to do
#      (pg_stat_statements).
#
#   test/bench/notify.sh                 EVENTS=10000 RATE=1000 BACKLOG=20000 IDLE=10
#   BACKLOG=100000 test/bench/notify.sh  the "100,000-row backlog" check
set -euo pipefail
source "$(dirname "$0")/../lib/cluster.sh"

EVENTS=${EVENTS:-10000}
RATE=${RATE:-1000}
BACKLOG=${BACKLOG:-20000}
IDLE=${IDLE:-10}
TXNS=${TXNS:-2000}

trap 'sink_stop 2>/dev/null; mo_cleanup' EXIT
mo_setup
mo_cluster_start "shared_preload_libraries = 'migrate_ops,pg_stat_statements'" \
    "pg_stat_statements.track = all" "pg_stat_statements.track_utility = off"
source "$(dirname "$0")/../lib/sink.sh"
sink_start

db=bench
mo_psql -d postgres -c "CREATE DATABASE $db" >/dev/null
mo_psql -d $db -c "CREATE EXTENSION migrate_ops" -c "CREATE EXTENSION pg_stat_statements" >/dev/null
q() { mo_psql -At -d $db -c "$1"; }
for i in $(seq 100); do
    [ "$(q "SELECT state FROM migrate_ops.worker_status() WHERE database = current_database()")" = running ] && break
    sleep 0.1
done
printf "SELECT migrate_ops.notify('bench.event', '{\"n\": 1}');\n" >"$MO_WORK/notify.sql"
chmod 644 "$MO_WORK/notify.sql"

pgbench_latency() {  # average latency (ms) of TXNS one-event transactions, one client
    "$MO_BIN/pgbench" -n -c 1 -t "$TXNS" -f "$MO_WORK/notify.sql" $db 2>&1 |
        sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p'
}
drained() {  # wait until nothing is pending
    while [ "$(q "SELECT count(*) FROM migrate_ops.outbox WHERE state = 'pending'")" != 0 ]; do sleep 0.2; done
}

mo_log "1. commit latency of a one-event transaction ($TXNS transactions, 1 client; median of 5 interleaved rounds)"
worker_count() { q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = '$db'"; }
set_databases() {
    q "ALTER SYSTEM SET migrate_ops.databases = '$1'" >/dev/null
    q "SELECT pg_reload_conf()" >/dev/null
    while [ "$(worker_count)" != "$2" ]; do sleep 0.1; done
}
median() { python3 -c "import statistics, sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
q "SELECT migrate_ops.add_channel('hook', 'webhook', '$(sink_url bench)', enabled => false)" >/dev/null
q "SELECT migrate_ops.add_channel('listen', 'notify', enabled => false)" >/dev/null
declare -A runs
for round in 1 2 3 4 5; do
    runs[base]+=" $(pgbench_latency)"
    q "SELECT migrate_ops.alter_channel('hook', enabled => true)" >/dev/null
    set_databases postgres 0        # no worker: the enqueueing transaction alone
    runs[enqueue]+=" $(pgbench_latency)"
    set_databases "" 1
    drained
    runs[hook]+=" $(pgbench_latency)"
    drained
    q "SELECT migrate_ops.alter_channel('hook', enabled => false)" >/dev/null
    q "SELECT migrate_ops.alter_channel('listen', enabled => true)" >/dev/null
    runs[notify]+=" $(pgbench_latency)"
    q "SELECT migrate_ops.alter_channel('listen', enabled => false)" >/dev/null
done
base=$(median ${runs[base]}); enqueue=$(median ${runs[enqueue]}); hook=$(median ${runs[hook]}); notify=$(median ${runs[notify]})
ratio() { python3 -c "print(round($1 / $base, 2))"; }
printf "  %-34s %8.3f ms   (baseline)\n" "no channel" "$base"
printf "  %-34s %8.3f ms   x%s\n" "one webhook channel, worker off" "$enqueue" "$(ratio "$enqueue")"
printf "  %-34s %8.3f ms   x%s\n" "one webhook channel, delivering" "$hook" "$(ratio "$hook")"
printf "  %-34s %8.3f ms   x%s\n" "one notify channel (pg_notify)" "$notify" "$(ratio "$notify")"
q "SELECT migrate_ops.drop_channel('listen')" >/dev/null
q "SELECT migrate_ops.alter_channel('hook', enabled => true)" >/dev/null

mo_log "2. commit-to-delivery latency: $EVENTS events, one per transaction, $RATE/s"
: >"$SINK_LOG"
first=$(q "SELECT last_value + 1 FROM migrate_ops.events_id_seq")
t0=$(date +%s.%N)
"$MO_BIN/pgbench" -n -c 1 -t "$EVENTS" -R "$RATE" -f "$MO_WORK/notify.sql" $db >/dev/null 2>&1
drained
t1=$(date +%s.%N)
q "COPY (SELECT id, extract(epoch FROM created_at) FROM migrate_ops.events WHERE id >= $first) TO STDOUT" >"$MO_WORK/events.tsv"
python3 - "$SINK_LOG" "$MO_WORK/events.tsv" "$t0" "$t1" <<'EOF'
import json, sys
got = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    k = int(r["headers"]["idempotency-key"])
    got.setdefault(k, r["t"])
lat = []
for line in open(sys.argv[2]):
    i, t = line.split()
    lat.append((got[int(i)] - float(t)) * 1000)
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
span = float(sys.argv[4]) - float(sys.argv[3])
print(f"  delivered {len(lat)} of {len(lat)} events in {span:.1f} s ({len(lat) / span:.0f}/s, paced by the {len(lat) / span:.0f}/s emitter)")
print(f"  commit-to-delivery latency: p50 {pct(50):.1f} ms   p99 {pct(99):.1f} ms   max {lat[-1]:.1f} ms")
EOF

mo_log "3. drain a backlog of $BACKLOG rows queued in one transaction"
wpid=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = '$db'")
anon() { awk '/RssAnon/ {print $2}' /proc/"$wpid"/status; }
before=$(anon)
q "SELECT count(migrate_ops.notify('bench.backlog', jsonb_build_object('i', i))) FROM generate_series(1, $BACKLOG) i" >/dev/null
t0=$(date +%s.%N)   # committed: the worker was woken and drains from here
peak=$before
while [ "$(q "SELECT count(*) FROM migrate_ops.outbox WHERE state = 'pending'")" != 0 ]; do
    a=$(anon); [ "$a" -gt "$peak" ] && peak=$a
    sleep 0.1
done
t1=$(date +%s.%N)
python3 -c "s = $t1 - $t0; print(f'  {$BACKLOG} deliveries in {s:.1f} s: {$BACKLOG / s:.0f}/s (batches of 100, 8 connections)')"
echo "  worker private memory (RssAnon): $before kB before, peak $peak kB while draining, $(anon) kB after"

mo_log "4. idle cost: $IDLE s with nothing to do"
sleep 1
q "SELECT pg_stat_statements_reset()" >/dev/null
sleep "$IDLE"
calls=$(q "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
           WHERE s.query NOT LIKE '%pg_stat_statements%'")
echo "  statements executed while idle: $calls (pg_stat_statements, all databases)"
q "SELECT migrate_ops.notify('bench.one')" >/dev/null
sleep 1
echo "  statements executed to deliver one event:"
q "SELECT '    ' || calls || ' x ' || left(regexp_replace(query, '\s+', ' ', 'g'), 90) FROM pg_stat_statements
    WHERE query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE 'SELECT migrate_ops.notify%' ORDER BY calls DESC, query"
