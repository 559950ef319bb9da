#!/usr/bin/env bash
# Webhook SSRF controls and secret hygiene, with the real worker and a real
# HTTP receiver (test/lib/http_sink.py, /redirect/CODE/TARGET): redirects are
# followed at most 3 times, never to another scheme or off http(s), and
# never off migrate_ops.allowed_urls; a URL's token (Slack's
# hooks.slack.com/services/T/B/SECRET) and a channel's signing secret never
# reach the server log, an error, outbox.last_error, worker_status(), an
# event, a NOTIFY payload or channels_masked.
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
source "$(dirname "$0")/../lib/sink.sh"
it_db it_webhook_security

cleanup() {
    sink_stop
    for s in retry_delay max_attempts allowed_urls; do mo_psql -d postgres -c "ALTER SYSTEM RESET migrate_ops.$s" 2>/dev/null || true; done
    mo_psql -d postgres -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    mo_psql -d postgres -c "DROP DATABASE IF EXISTS it_webhook_security" >/dev/null 2>&1 || true
}
trap cleanup EXIT
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
# outcome CHANNEL: state/attempts/last_status/last_error of its latest delivery, once it is settled
outcome() {
    it_wait "SELECT state <> 'pending' FROM migrate_ops.outbox WHERE channel = '$1' ORDER BY id DESC LIMIT 1" t 10
    it_val "SELECT state || '/' || attempts || '/' || coalesce(last_status::text, '-') || '/' || coalesce(last_error, '')
              FROM migrate_ops.outbox WHERE channel = '$1' ORDER BY id DESC LIMIT 1"
}
channel() {  # channel NAME URL [SECRET]: a webhook for events NAME.*
    it_val "SELECT migrate_ops.add_channel('$1', 'webhook', '$2', '{$1.*}'${3:+, '$3'})" >/dev/null
}

it_set_conf retry_delay 100ms max_attempts 2
sink_start
it_wait "SELECT state FROM migrate_ops.worker_status() WHERE database = current_database()" running 15
base="http://127.0.0.1:$SINK_PORT"

# 1. A redirect to the same scheme is followed, the POST repeated with its headers and body.
channel same "$(sink_url "redirect/307/$(enc /landed/same)")" "s1gn"
id=$(it_val "SELECT migrate_ops.notify('same.x')")
[ "$(outcome same)" = "sent/1/200/" ] || it_fail "same-scheme redirect: $(outcome same)"
got=$(sink_q "r = [x for x in reqs if x['headers'].get('idempotency-key') == '$id']; [(x['method'], x['path'].split('/')[1]) for x in r] == [('POST', 'redirect'), ('POST', 'landed')] and r[0]['body'] == r[1]['body'] and r[0]['headers']['x-migrate-ops-signature'] == r[1]['headers']['x-migrate-ops-signature']")
[ "$got" = t ] || it_fail "the redirected request is not the same POST: $(sink_q "[(x['method'], x['path']) for x in reqs]")"
it_ok "307 to the same scheme: followed, the same POST (body, Idempotency-Key, signature) at the new location"

# 2. Never to another scheme: http -> https (and the reverse is the same check), file:, gopher:.
n0=$(sink_count)
channel scheme "$(sink_url "redirect/302/$(enc "https://127.0.0.1:$SINK_PORT/landed/scheme")")"
channel file "$(sink_url "redirect/301/$(enc file:///etc/passwd)")"
channel gopher "$(sink_url "redirect/308/$(enc "gopher://127.0.0.1:$SINK_PORT/_x")")"
it_val "SELECT migrate_ops.notify('scheme.x'), migrate_ops.notify('file.x'), migrate_ops.notify('gopher.x')" >/dev/null
[ "$(outcome scheme)" = "dead/1/302/HTTP 302: redirect to https://127.0.0.1:$SINK_PORT refused: a redirect may not change the scheme" ] ||
    it_fail "http -> https: $(outcome scheme)"
[ "$(outcome file)" = "dead/1/301/HTTP 301: redirect to file: refused: not an http or https URL" ] || it_fail "file: $(outcome file)"
[[ "$(outcome gopher)" == "dead/1/308/HTTP 308: redirect to "*" refused: not an http or https URL" ]] || it_fail "gopher: $(outcome gopher)"
[ "$(sink_count)" = $((n0 + 3)) ] || it_fail "a refused redirect was requested: $(sink_q "[x['path'] for x in reqs[$n0:]]")"
it_ok "redirects to https (from http), file: and gopher: are refused, dead at once, and never requested"

# 3. At most 3 redirects.
hop="/landed/chain"
for i in 1 2 3 4; do hop="/redirect/307/$(enc "$hop")"; done
n0=$(sink_count)
channel chain "$base$hop"
it_val "SELECT migrate_ops.notify('chain.x')" >/dev/null
[[ "$(outcome chain)" == "dead/1/307/HTTP 307: redirect to http://127.0.0.1:$SINK_PORT refused: more than 3 redirects" ]] ||
    it_fail "4 redirects: $(outcome chain)"
[ "$(sink_count)" = $((n0 + 4)) ] || it_fail "requests for 4 redirects: $(($(sink_count) - n0))"
it_ok "a fourth redirect is refused (the channel's URL and 3 redirects were requested)"

# 4. Never off migrate_ops.allowed_urls, which is checked at every hop.
it_set_conf allowed_urls "$base/allowed/"
channel inlist "$base/allowed/redirect/307/$(enc /allowed/landed)"
channel offlist "$base/allowed/redirect/307/$(enc /elsewhere/landed)"
channel otherport "$base/allowed/redirect/307/$(enc "http://127.0.0.1:1/allowed/x")"
it_val "SELECT migrate_ops.notify('inlist.x'), migrate_ops.notify('offlist.x'), migrate_ops.notify('otherport.x')" >/dev/null
[ "$(outcome inlist)" = "sent/1/200/" ] || it_fail "redirect inside the list: $(outcome inlist)"
[ "$(outcome offlist)" = "dead/1/307/HTTP 307: redirect to http://127.0.0.1:$SINK_PORT refused: not in migrate_ops.allowed_urls" ] ||
    it_fail "redirect off the list: $(outcome offlist)"
[ "$(outcome otherport)" = "dead/1/307/HTTP 307: redirect to http://127.0.0.1:1 refused: not in migrate_ops.allowed_urls" ] ||
    it_fail "redirect to another port: $(outcome otherport)"
[ "$(sink_q "len([x for x in reqs if x['path'].startswith('/elsewhere')])")" = 0 ] || it_fail "the off-list target was requested"
it_ok "with allowed_urls set: a redirect inside it is followed; to another path or port, refused without a request"
it_set_conf allowed_urls ""

# 5. Secrets: a Slack-style token in the URL's path, another in a query, and a signing secret.
token=SeCrEtToKeN123
secret=sh4red-S3CRET
channel slackish "$base/status/404/services/T0/B0/$token?token=$token" "$secret"
channel refused "http://127.0.0.1:1/services/T0/B0/$token" "$secret"
channel leaky "$base/redirect/302/$(enc "https://evil.example/steal/$token?t=$token")" "$secret"
it_val "SELECT migrate_ops.add_channel('n', 'notify')" >/dev/null
it_val "SELECT migrate_ops.notify('slackish.x'), migrate_ops.notify('refused.x'), migrate_ops.notify('leaky.x')" >/dev/null
# errors raised while the secret is in the statement: a bad filter, a taken name, a URL off the list
mo_psql -d "$IT_DB" -c "SELECT migrate_ops.add_channel('bad', 'webhook', '$base/services/T0/B0/$token', '{nope!}', '$secret')" 2>/dev/null && it_fail "a bad filter was accepted"
mo_psql -d "$IT_DB" -c "SELECT migrate_ops.add_channel('slackish', 'webhook', '$base/services/T0/B0/$token', '{*}', '$secret')" 2>/dev/null && it_fail "a taken name was accepted"
mo_psql -d "$IT_DB" -c "SELECT migrate_ops.alter_channel('slackish', 'ftp://h/services/T0/B0/$token', NULL, '$secret')" 2>/dev/null && it_fail "an ftp URL was accepted"
mo_psql -d "$IT_DB" -c "SELECT migrate_ops.alter_channel('slackish', NULL, '{nope!}', '$secret')" 2>/dev/null && it_fail "a bad filter was accepted"
for c in slackish refused leaky; do
    it_wait "SELECT state FROM migrate_ops.outbox WHERE channel = '$c' ORDER BY id DESC LIMIT 1" dead 15
done
it_expect "SELECT string_agg(channel || ': ' || regexp_replace(last_error, 'after [0-9]+ ms', 'after N ms'), ' | ' ORDER BY channel)
             FROM migrate_ops.outbox WHERE channel IN ('slackish', 'refused', 'leaky')" \
    "leaky: HTTP 302: redirect to https://evil.example refused: a redirect may not change the scheme | refused: Failed to connect to 127.0.0.1 port 1 after N ms: Couldn't connect to server | slackish: HTTP 404: {\"ok\": false, \"status\": 404}" \
    "last_error names the host at most, never a path or query"
leaks=$(it_val "SELECT concat_ws(' ',
        (SELECT string_agg(last_error, ' ') FROM migrate_ops.outbox),
        (SELECT string_agg(coalesce(last_error, ''), ' ') FROM migrate_ops.worker_status()),
        (SELECT string_agg(payload::text, ' ') FROM migrate_ops.events),
        (SELECT string_agg(payload::text, ' ') FROM migrate_ops.outbox),
        (SELECT string_agg(url, ' ') FROM migrate_ops.channels_masked))")
if grep -qE "$token|$secret" <<<"$leaks"; then it_fail "a secret leaked: $leaks"; fi
it_ok "outbox.last_error, worker_status(), events, outbox payloads and channels_masked hold neither the token nor the secret"
# NOTIFY payloads of an event sent while channels are changed
mo_psql -d "$IT_DB" -c "LISTEN migrate_ops" -c "SELECT migrate_ops.alter_channel('slackish', '$base/services/T1/B1/$token', NULL, '$secret')" \
    -c "SELECT migrate_ops.notify('slackish.y')" -c "SELECT 1" >"$MO_WORK/listen.out" 2>&1
grep -q 'Asynchronous notification "migrate_ops"' "$MO_WORK/listen.out" || it_fail "no NOTIFY arrived: $(cat "$MO_WORK/listen.out")"
if grep -qE "$token|$secret" "$MO_WORK/listen.out"; then it_fail "a secret in a NOTIFY payload"; fi
grep -q "invalid event pattern" "$MO_LOG" || it_fail "the failed add_channel() is not in the server log at all"
if grep -nE "$token|$secret" "$MO_LOG"; then it_fail "the token or the secret is in the server log"; fi
it_ok "the server log has the errors of add_channel()/alter_channel(), without their statements: no token, no secret"
