#!/usr/bin/env bash
# Faults: a webhook receiver that accepts the connection and never answers
# must not hold up the other channels.  One channel points at a receiver
# that hangs (longer than the test), with more deliveries queued for it than
# the worker has connections; meanwhile events for a second channel are
# emitted one by one and each must be delivered within about a second, while
# the hanging requests are still in flight.  Then the hanging ones time out
# (request_timeout) and are retried, and nothing is lost.
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
source "$(dirname "$0")/../lib/sink.sh"

cleanup() {
    sink_stop
    for s in request_timeout max_connections retry_delay scan_interval; do it_pg "ALTER SYSTEM RESET migrate_ops.$s" >/dev/null 2>&1 || true; done
    it_pg "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    it_pg "DROP DATABASE IF EXISTS it_slow WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

it_db it_slow
sink_start
# the hanging requests outlive the part of the test that measures the other channel
it_set_conf request_timeout 8s max_connections 4 retry_delay 1h
it_wait "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = 'it_slow'" 1 10

it_val "SELECT migrate_ops.add_channel('stuck', 'webhook', '$(sink_url hang/600)', '{stuck.*}')" >/dev/null
it_val "SELECT migrate_ops.add_channel('fast', 'webhook', '$(sink_url fast)', '{fast.*}')" >/dev/null

# 8 deliveries for the hanging receiver: twice the connections a channel gets.
it_val "SELECT count(migrate_ops.notify('stuck.event', jsonb_build_object('n', i))) FROM generate_series(1, 8) i" >/dev/null
sink_wait 4 10 hang || it_fail "the hanging receiver did not get its first requests"
sleep 0.5
[ "$(sink_count hang)" = 4 ] || it_fail "the hanging receiver got $(sink_count hang) requests at once (max_connections = 4)"
it_ok "the hanging receiver holds 4 requests open (max_connections per channel); the other 4 wait for them"

# While they hang the worker sleeps on their sockets and its latch: no busy loop.
wpid=$(it_pg "SELECT pid FROM pg_stat_activity WHERE backend_type = 'migrate_ops worker' AND datname = 'it_slow'")
cpu_ticks() { awk '{print $14 + $15}' "/proc/$wpid/stat"; }
c0=$(cpu_ticks); sleep 2; c1=$(cpu_ticks)
cpu_ms=$(( (c1 - c0) * 1000 / $(getconf CLK_TCK) ))
[ "$cpu_ms" -lt 300 ] || it_fail "the worker used $cpu_ms ms of CPU in 2 s with 4 requests hanging (a busy loop?)"
it_ok "with 4 requests hanging the worker used $cpu_ms ms of CPU in 2 s (it waits on their sockets and its latch)"

# While those hang: 10 events for the other channel, one every 200 ms, each delivered promptly.
worst=0
for i in $(seq 10); do
    id=$(it_val "SELECT migrate_ops.notify('fast.event', jsonb_build_object('n', $i))")
    t0=$(date +%s%N)
    it_wait "SELECT state FROM migrate_ops.outbox WHERE event_id = $id" sent 6
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ $ms -gt $worst ] && worst=$ms
    sleep 0.2
done
[ "$worst" -lt 1500 ] || it_fail "a delivery to the healthy channel waited $worst ms behind the hanging one"
it_expect "SELECT count(*) FROM migrate_ops.outbox WHERE channel = 'stuck' AND state = 'pending'" 8 \
    "while the other channel was served, all 8 deliveries to the hanging receiver are still pending"
hung=$(sink_count hang)
[ "$hung" -le 8 ] || it_fail "the hanging receiver got $hung requests"
it_ok "10 deliveries to the healthy channel while 8 hang on the other: each sent within $worst ms"

# A drift scan that falls due meanwhile is not held up by the hanging requests either.
scans=$(it_val "SELECT count(*) FROM migrate_ops.scans")
it_set_conf scan_interval 1s
it_wait "SELECT count(*) > $scans FROM migrate_ops.scans" t 3
it_expect "SELECT count(*) FROM migrate_ops.outbox WHERE channel = 'stuck' AND state = 'pending' AND last_error IS NULL" 8 \
    "the worker's scan ran while the hanging requests were still in flight (none has timed out yet)"
it_set_conf scan_interval 1h

# The hanging requests time out after request_timeout: retried later (retry_delay), none lost, none sent.
it_wait "SELECT count(*) FROM migrate_ops.outbox WHERE channel = 'stuck' AND last_error LIKE '%timed out%'" 8 30
it_expect "SELECT count(*) FILTER (WHERE state = 'pending') || '/' || count(*) FILTER (WHERE state = 'sent')
             FROM migrate_ops.outbox WHERE channel = 'stuck'" "8/0" \
    "the hanging requests timed out one by one (request_timeout) and wait for their retry: nothing lost"
it_expect "SELECT count(*) FROM migrate_ops.outbox WHERE channel = 'fast' AND state = 'sent'" 10 \
    "every delivery to the healthy channel was sent once"
[ "$(sink_count fast)" = 10 ] || it_fail "the healthy receiver got $(sink_count fast) requests"
it_expect "SELECT count(*) FROM migrate_ops.outbox WHERE claimed_by IS NOT NULL" 0 "no delivery is left claimed"
