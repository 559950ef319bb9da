#!/usr/bin/env bash
# Webhook, Slack and NOTIFY delivery by the real worker to a real HTTP
# receiver (test/lib/http_sink.py): timing, headers, HMAC, rollbacks,
# retries with backoff, dead rows, the receiver going away, the allow-list
# at delivery time, LISTEN, worker_status() and retention.
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
source "$(dirname "$0")/../lib/sink.sh"
it_db it_notify

SETTINGS=(retry_delay retry_max_delay max_attempts request_timeout allowed_urls retention)
cleanup() {
    sink_stop
    for s in "${SETTINGS[@]}"; do mo_psql -d postgres -c "ALTER SYSTEM RESET migrate_ops.$s" 2>/dev/null || true; done
    mo_psql -d postgres -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    mo_psql -d postgres -c "DROP DATABASE IF EXISTS it_notify" >/dev/null 2>&1 || true
}
trap cleanup EXIT

notify() { it_val "SELECT migrate_ops.notify('$1', '${2:-{\}}')"; }
row() { it_val "SELECT state || '/' || attempts || '/' || coalesce(last_status::text, '-') FROM migrate_ops.outbox WHERE channel = '$1' ORDER BY id DESC LIMIT 1"; }
wait_key() {  # wait_key EVENT_ID: the sink received a request with that Idempotency-Key
    local deadline=$((SECONDS + ${2:-10}))
    while [ $SECONDS -lt $deadline ]; do
        [ "$(sink_q "any(r['headers'].get('idempotency-key') == '$1' for r in reqs)")" = t ] && return 0
        sleep 0.05
    done
    it_fail "event $1 never reached the sink"
}

it_set_conf retry_delay 200ms retry_max_delay 1s max_attempts 5 request_timeout 1s
sink_start
it_wait "SELECT state FROM migrate_ops.worker_status() WHERE database = current_database()" running 15
it_ok "a worker runs for the new database"
version=$(it_val "SELECT extversion FROM pg_extension WHERE extname = 'migrate_ops'")

# 1. Delivery within a second of commit, with the documented headers, body and signature.
it_val "SELECT migrate_ops.add_channel('hook', 'webhook', '$(sink_url ok)', '{deploy.*,migration.*}', 'top-secret')" >/dev/null
id=$(notify deploy.done '{"env":"prod","n":1}')
wait_key "$id" 5
committed=$(it_val "SELECT extract(epoch FROM created_at) FROM migrate_ops.events WHERE id = $id")
latency=$(sink_q "round(reqs[-1]['t'] - $committed, 3)")
[ "$(sink_q "reqs[-1]['t'] - $committed < 1.0")" = t ] || it_fail "delivery took $latency s after the event"
it_ok "delivered $latency s after the event was recorded (under 1 s)"
it_expect "SELECT state || '/' || attempts || '/' || last_status || '/' || (sent_at IS NOT NULL) FROM migrate_ops.outbox WHERE event_id = $id" \
    "sent/1/200/true" "the outbox row is sent after one attempt"
got=$(sink_q "r = reqs[-1]; h = r['headers']; '|'.join([r['method'], r['path'], h['content-type'], h['idempotency-key'], h['user-agent']])")
[ "$got" = "POST|/ok|application/json|$id|migrate_ops/$version" ] || it_fail "request line/headers: $got"
it_ok "POST with Content-Type, Idempotency-Key = event id, User-Agent migrate_ops/$version"
got=$(sink_q "b = json.loads(reqs[-1]['body']); '|'.join(str(b[k]) for k in ('id', 'event', 'database', 'role')) + '|' + json.dumps(b['payload'], sort_keys=True) + '|' + str('occurred_at' in b)")
[ "$got" = "$id|deploy.done|it_notify|postgres|{\"env\": \"prod\", \"n\": 1}|True" ] || it_fail "body: $got"
it_ok "the body is the envelope: id, event, database, role, occurred_at, payload"
[ "$(sink_q "r = reqs[-1]; r['headers']['x-migrate-ops-signature'] == 'sha256=' + hmac.new(b'top-secret', r['body'].encode(), hashlib.sha256).hexdigest()")" = t ] ||
    it_fail "the signature does not verify"
it_ok "X-Migrate-Ops-Signature verifies: sha256=HMAC-SHA256(secret, body), computed by the receiver"

# 2. A rolled-back transaction sends nothing; a committed one after it is delivered.
mo_psql -d "$IT_DB" -c "BEGIN" -c "SELECT migrate_ops.notify('deploy.rolled_back_event')" \
    -c "CALL migrate_ops.apply('rb1', 'CREATE TABLE rb1 (id int)')" -c "ROLLBACK" >/dev/null
marker=$(notify deploy.marker)
wait_key "$marker"
[ "$(sink_q "any(json.loads(r['body'])['event'] == 'deploy.rolled_back_event' or json.loads(r['body'])['payload'].get('version') == 'rb1' for r in reqs if r['path'] == '/ok')")" = f ] ||
    it_fail "a rolled-back event was delivered"
it_expect "SELECT count(*) FROM migrate_ops.events WHERE event = 'deploy.rolled_back_event' OR payload->>'version' = 'rb1'" 0 \
    "a rolled-back deploy left no event and sent nothing (the later commit was delivered)"

# 3. HTTP 500, then 200: retried with the same Idempotency-Key and delivered.
it_val "SELECT migrate_ops.add_channel('flaky', 'webhook', '$(sink_url fail/1/500/flaky)', '{flaky.*}')" >/dev/null
id=$(notify flaky.event)
it_wait "SELECT state FROM migrate_ops.outbox WHERE channel = 'flaky'" sent 10
it_expect "SELECT attempts || '/' || last_status || '/' || last_error FROM migrate_ops.outbox WHERE channel = 'flaky'" \
    '2/200/HTTP 500: {"ok": false, "status": 500}' "500 then 200: delivered on the second attempt, the first error kept"
[ "$(sink_q "[r['headers']['idempotency-key'] for r in reqs if r['path'].startswith('/fail/1/500/flaky')] == ['$id', '$id']")" = t ] ||
    it_fail "the retry did not carry the same Idempotency-Key"
it_ok "both attempts carried Idempotency-Key $id"

# 4. A permanent 4xx is dead at once, with the error; never retried.
it_val "SELECT migrate_ops.add_channel('gone', 'webhook', '$(sink_url status/404)', '{gone.*}')" >/dev/null
notify gone.event >/dev/null
it_wait "SELECT state FROM migrate_ops.outbox WHERE channel = 'gone'" dead 10
sleep 0.5
it_expect "SELECT attempts || '/' || last_status || '/' || last_error FROM migrate_ops.outbox WHERE channel = 'gone'" \
    '1/404/HTTP 404: {"ok": false, "status": 404}' "HTTP 404 is dead after one attempt with its error"
[ "$(sink_count status/404)" = 1 ] || it_fail "a 404 was retried"
it_ok "the 404 was not retried"

# A receiver answering garbage bytes: the error is kept (cut to valid text), the row recorded.
it_val "SELECT migrate_ops.add_channel('garbage', 'webhook', '$(sink_url binary/418)', '{garbage.*}')" >/dev/null
notify garbage.event >/dev/null
it_wait "SELECT state || '/' || last_error FROM migrate_ops.outbox WHERE channel = 'garbage'" "dead/HTTP 418: bad " 10
it_ok "an answer that is not valid UTF-8 is cut in the error, and the outcome is recorded"

# 5. 429 with Retry-After is retried, no sooner than the receiver asked.
it_val "SELECT migrate_ops.add_channel('limited', 'webhook', '$(sink_url retry-after/1)', '{limited.*}')" >/dev/null
notify limited.event >/dev/null
it_wait "SELECT state FROM migrate_ops.outbox WHERE channel = 'limited'" sent 10
gap=$(sink_q "t = [r['t'] for r in reqs if r['path'] == '/retry-after/1']; round(t[1] - t[0], 2)")
[ "$(sink_q "t = [r['t'] for r in reqs if r['path'] == '/retry-after/1']; len(t) == 2 and t[1] - t[0] >= 0.95")" = t ] ||
    it_fail "Retry-After not honoured (gap $gap s)"
it_ok "429 + Retry-After: 1 retried after $gap s, then delivered"

# 6. Retries back off exponentially, then the row is dead with the last error.
it_val "SELECT migrate_ops.add_channel('broken', 'webhook', '$(sink_url status/503)', '{broken.*}')" >/dev/null
notify broken.event >/dev/null
it_wait "SELECT state FROM migrate_ops.outbox WHERE channel = 'broken'" dead 15
it_expect "SELECT attempts || '/' || last_status || '/' || last_error FROM migrate_ops.outbox WHERE channel = 'broken'" \
    '5/503/HTTP 503: {"ok": false, "status": 503}' "503 five times (migrate_ops.max_attempts): dead with the last error"
gaps=$(sink_q "t = [r['t'] for r in reqs if r['path'] == '/status/503']; [round(b - a, 2) for a, b in zip(t, t[1:])]")
# equal jitter: the delay after attempt k is in [d/2, d] with d = 200 ms * 2^(k-1), capped at 1 s
[ "$(sink_q "t = [r['t'] for r in reqs if r['path'] == '/status/503']; g = [b - a for a, b in zip(t, t[1:])]; len(g) == 4 and g[1] >= 0.19 and g[2] >= 0.39 and g[3] >= 0.49 and g[0] < 0.6")" = t ] ||
    it_fail "no exponential backoff: gaps $gaps"
it_ok "exponential backoff with jitter between attempts: $gaps s"
it_val "SELECT migrate_ops.alter_channel('broken', url => '$(sink_url ok/fixed)')" >/dev/null
it_expect "SELECT migrate_ops.redeliver('broken')" 1 "redeliver() queues the dead row again"
it_wait "SELECT state || '/' || attempts FROM migrate_ops.outbox WHERE channel = 'broken'" sent/1 10
it_ok "after the URL was fixed, the redelivered row is sent"

# 7. The receiver is down: connection errors, backoff, then delivered when it is back.
port=$SINK_PORT
sink_stop
id=$(notify deploy.while_down)
it_wait "SELECT attempts >= 2 FROM migrate_ops.outbox WHERE event_id = $id" t 10
it_expect "SELECT state || ': ' || (last_error LIKE '%onnect%') FROM migrate_ops.outbox WHERE event_id = $id" "pending: true" \
    "receiver down: still pending after failed connections"
sink_start "$port"
wait_key "$id" 10
it_wait "SELECT state FROM migrate_ops.outbox WHERE event_id = $id" sent 5
it_ok "the receiver came back on port $port: delivered ($(it_val "SELECT attempts FROM migrate_ops.outbox WHERE event_id = $id") attempts)"

# 8. A receiver that hangs: the request times out (migrate_ops.request_timeout) and is retried.
it_val "SELECT migrate_ops.add_channel('slow', 'webhook', '$(sink_url hang/3)', '{slow.*}')" >/dev/null
notify slow.event >/dev/null
it_wait "SELECT last_error LIKE '%timed out%' FROM migrate_ops.outbox WHERE channel = 'slow'" t 10
it_ok "a hanging receiver times out after 1 s: $(it_val "SELECT last_error FROM migrate_ops.outbox WHERE channel = 'slow'")"
it_val "SELECT migrate_ops.drop_channel('slow')" >/dev/null

# 9. Slack: text + blocks, a readable summary.
it_val "SELECT migrate_ops.add_channel('chat', 'slack', '$(sink_url slack)', '{migration.applied,migration.failed}')" >/dev/null
mo_psql -d "$IT_DB" -c "CALL migrate_ops.apply('v1', 'CREATE TABLE s1 (id int)')" >/dev/null
mo_psql -d "$IT_DB" -c "CALL migrate_ops.apply('v2', 'SELECT 1/0')" >/dev/null 2>&1 && it_fail "v2 should fail"
sink_wait 2 10 slack
got=$(sink_q "b = json.loads([r for r in reqs if r['path'] == '/slack'][0]['body']); b['text']")
[[ $got == ":white_check_mark: Migration \`v1\` applied on *it_notify* in "*" ms by postgres" ]] || it_fail "slack text: $got"
it_ok "Slack text: $got"
[ "$(sink_q "b = json.loads([r for r in reqs if r['path'] == '/slack'][0]['body']); [x['type'] for x in b['blocks']] == ['section', 'section', 'context'] and b['blocks'][1]['fields'][0]['text'] == '*version*\nv1'")" = t ] ||
    it_fail "slack blocks"
it_ok "Slack blocks: headline, fields (version first), context"
got=$(sink_q "b = json.loads([r for r in reqs if r['path'] == '/slack'][1]['body']); b['blocks'][0]['text']['text']")
[[ $got == *":x: Migration \`v2\` failed on *it_notify* by postgres"*"> division by zero"* ]] || it_fail "slack failure: $got"
it_ok "a failed deploy's Slack message quotes the error"
it_val "SELECT migrate_ops.add_channel('chat2', 'slack', '$(sink_url slack2)', '{team.*}')" >/dev/null
notify team.ddl '{"count": 7, "commands": [{"command_tag": "CREATE TABLE", "object_identity": "public.<t>", "role": "bob"},
                 {"command_tag": "DROP INDEX", "object_identity": "public.i", "role": "bob"}, {}, {}, {}, {}, {}]}' >/dev/null
sink_wait 1 10 slack2
got=$(sink_q "b = json.loads([r for r in reqs if r['path'] == '/slack2'][0]['body']); b['blocks'][0]['text']['text']")
[ "$got" = $':bell: `team.ddl` on *it_notify* by postgres\n• CREATE TABLE `public.&lt;t&gt;` bob\n• DROP INDEX `public.i` bob\n•\n•\n•\n…' ] ||
    it_fail "slack list: $got"
it_ok "Slack lists what a payload's commands/objects were (five at most, escaped)"

# 10. The allow-list is enforced at delivery too (a channel added before it was set).
it_set_conf allowed_urls "http://127.0.0.1:1/only"
id=$(notify deploy.blocked)
it_wait "SELECT state || ': ' || last_error FROM migrate_ops.outbox WHERE event_id = $id" \
    "dead: the channel's URL is not allowed by migrate_ops.allowed_urls" 10
it_ok "a URL outside migrate_ops.allowed_urls is dead without a request"
[ "$(sink_q "any(r['headers'].get('idempotency-key') == '$id' for r in reqs)")" = f ] || it_fail "a blocked URL was called"
it_set_conf allowed_urls ""

# 11. LISTEN migrate_ops receives notify-channel events at commit; rollbacks send nothing; big payloads are cut.
it_val "SELECT migrate_ops.add_channel('listeners', 'notify', events => '{listen.*}')" >/dev/null
mo_psql -d "$IT_DB" -c "LISTEN migrate_ops" -c "SELECT pg_sleep(2)" >"$SINK_DIR/listen.out" 2>&1 &
listener=$!
it_wait "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(2)'" 1
small=$(notify listen.small '{"k":"v"}')
mo_psql -d "$IT_DB" -c "BEGIN" -c "SELECT migrate_ops.notify('listen.rolled_back')" -c "ROLLBACK" >/dev/null
big=$(it_val "SELECT migrate_ops.notify('listen.big', jsonb_build_object('blob', repeat('x', 10000)))")
wait $listener
grep -q "Asynchronous notification \"migrate_ops\" with payload \"{\"id\": $small, \"role\": \"postgres\", \"event\": \"listen.small\", \"payload\": {\"k\": \"v\"}, \"database\": \"it_notify\"" "$SINK_DIR/listen.out" ||
    it_fail "LISTEN did not receive listen.small: $(cat "$SINK_DIR/listen.out")"
it_ok "psql LISTEN migrate_ops received the envelope of listen.small"
grep -q "{\"id\": $big, \"event\": \"listen.big\", \"database\": \"it_notify\", \"occurred_at\": \"[^\"]*\", \"truncated\": true, \"size\": [0-9]*}" "$SINK_DIR/listen.out" ||
    it_fail "the big payload was not cut with a marker: $(cut -c1-300 "$SINK_DIR/listen.out")"
it_ok "a payload over NOTIFY's 8000 bytes arrives without it, marked \"truncated\": true"
! grep -q "listen.rolled_back" "$SINK_DIR/listen.out" || it_fail "a rolled-back event was notified"
it_ok "a rolled-back event was not notified"

# 12. worker_status() reports deliveries, dead rows and the last error.
it_expect "SELECT state = 'running' AND pid > 0 AND delivered >= 10 AND last_delivery_at > now() - interval '1 minute'
                  AND dead = 3 AND backlog = 0 AND last_error LIKE 'delivery to channel %'
             FROM migrate_ops.worker_status() WHERE database = current_database()" t \
    "worker_status(): running, delivered, last delivery, dead = 3, last error"

# 13. Retention prunes delivered/dead rows and old events, in the background, never pending rows.
it_val "INSERT INTO migrate_ops.outbox (event_id, event, channel, payload, next_attempt_at, created_at)
        VALUES (0, 'deploy.parked', 'hook', '{}', now() + interval '1 day', now() - interval '1 day')" >/dev/null
before=$(it_val "SELECT count(*) FROM migrate_ops.outbox WHERE state <> 'pending'")
it_val "SELECT migrate_ops.scan()" >/dev/null     # a row in drift's scans table
[ "$(it_val "SELECT count(*) FROM migrate_ops.scans")" -ge 1 ] || it_fail "scan() recorded no row"
it_val "CREATE TABLE retention_probe (id int)" >/dev/null    # a row in capture's ddl_log
[ "$(it_val "SELECT count(*) FROM migrate_ops.ddl_log")" -ge 1 ] || it_fail "DDL capture logged nothing"
it_set_conf retention 1s
sleep 1.1
id=$(notify deploy.after_retention)
wait_key "$id"
it_wait "SELECT count(*) FROM migrate_ops.events WHERE id < $id" 0 10
it_expect "SELECT count(*) FROM migrate_ops.outbox WHERE state <> 'pending' AND event_id < $id" 0 \
    "retention removed the $before delivered and dead rows and the old events"
it_expect "SELECT count(*) FROM migrate_ops.outbox WHERE event = 'deploy.parked'" 1 "a pending row is never pruned"
it_wait "SELECT count(*) FROM migrate_ops.scans WHERE scanned_at < now() - interval '1 s'" 0 5
it_ok "old rows of migrate_ops.scans (drift) are pruned too"
it_wait "SELECT count(*) FROM migrate_ops.ddl_log WHERE logged_at < now() - interval '1 s'" 0 5
it_ok "old rows of the append-only migrate_ops.ddl_log are pruned too (through the sanctioned path)"
