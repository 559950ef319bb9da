#!/usr/bin/env bash
# test/fault/outbox_backlog.sh — a 100,000-row outbox backlog drains with
# bounded memory.  On a throwaway cluster (the test harness's), against the
# local HTTP sink: queues BACKLOG deliveries (default 100,000) in one
# transaction, samples the worker's memory (RssAnon, /proc) while it drains,
# and asserts that everything is delivered exactly once and that the worker
# grows by less than MAX_GROWTH_KB (default 16 MB) whatever the backlog.
# Too slow for the suite (about a minute); run it by hand:
#
#   test/fault/outbox_backlog.sh
set -euo pipefail
source "$(dirname "$0")/../lib/cluster.sh"

BACKLOG=${BACKLOG:-100000}
MAX_GROWTH_KB=${MAX_GROWTH_KB:-16384}

trap 'sink_stop 2>/dev/null; mo_cleanup' EXIT
mo_setup
mo_cluster_start
source "$(dirname "$0")/../lib/sink.sh"
sink_start

fail() { echo "not ok - $*"; exit 1; }
db=backlog
mo_psql -d postgres -c "CREATE DATABASE $db" >/dev/null
mo_psql -d $db -c "CREATE EXTENSION migrate_ops" >/dev/null
q() { mo_psql -At -d $db -c "$1"; }
for i in $(seq 100); do
    [ "$(q "SELECT state FROM migrate_ops.worker_status() WHERE database = current_database()")" = running ] && break
    sleep 0.1
done
pid=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = current_database()")
[ -n "$pid" ] || fail "no worker"
rss() { sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status"; }

# warm the worker up (libcurl, the claim's plan) before the baseline
q "SELECT migrate_ops.add_channel('hook', 'webhook', '$(sink_url backlog)', '{backlog.*}')" >/dev/null
q "SELECT migrate_ops.notify('backlog.warmup')" >/dev/null
while [ "$(q "SELECT count(*) FROM migrate_ops.outbox WHERE state = 'pending'")" != 0 ]; do sleep 0.1; done
before=$(rss)

mo_log "queueing $BACKLOG deliveries in one transaction"
q "SELECT count(migrate_ops.notify('backlog.event', jsonb_build_object('n', i))) FROM generate_series(1, $BACKLOG) i" >/dev/null
t0=$(date +%s%N)
# statistics as autovacuum soon has them for a table that grew by $BACKLOG rows:
# the worker's claims must stay index lookups (a plan that joined each claim to
# a scan of the whole outbox drained 2.5x slower and held a 6 MB hash table)
q "ANALYZE migrate_ops.outbox"
peak=$before
samples=0
while :; do
    r=$(rss); [ "$r" -gt "$peak" ] && peak=$r
    samples=$((samples + 1))
    [ $((samples % 10)) = 0 ] && [ "$(q "SELECT count(*) FROM migrate_ops.outbox WHERE state = 'pending'")" = 0 ] && break
    [ $(( ($(date +%s%N) - t0) / 1000000000 )) -lt 600 ] || fail "the backlog did not drain in 10 minutes"
    sleep 0.1
done
secs=$(python3 -c "print(round(($(date +%s%N) - $t0) / 1e9, 1))")
growth=$((peak - before))

sent=$(q "SELECT count(*) FROM migrate_ops.outbox WHERE event = 'backlog.event' AND state = 'sent'")
[ "$sent" = "$BACKLOG" ] || fail "sent $sent of $BACKLOG"
keys=$(sink_q "len({r['headers']['idempotency-key'] for r in reqs if r['path'] == '/backlog'})")
total=$(sink_count backlog)
[ "$keys" = $((BACKLOG + 1)) ] || fail "the receiver got $keys distinct events, expected $((BACKLOG + 1))"
echo "ok - $BACKLOG deliveries drained in $secs s ($(python3 -c "print(round($BACKLOG / $secs))")/s): every one sent, the receiver got each event ($total requests, $keys distinct Idempotency-Keys)"
[ "$growth" -lt "$MAX_GROWTH_KB" ] || fail "the worker grew by $growth kB while draining (limit $MAX_GROWTH_KB kB)"
echo "ok - the worker's memory stayed bounded: RssAnon $((before / 1024)) MB before, $((peak / 1024)) MB at the peak (+$growth kB; limit +$MAX_GROWTH_KB kB), $samples samples"
[ "$(q "SELECT count(*) FROM migrate_ops.outbox WHERE claimed_by IS NOT NULL")" = 0 ] || fail "claims left"
echo "ok - no delivery left claimed"
echo "all checks passed"
