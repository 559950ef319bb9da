#!/usr/bin/env bash
# Each session caches the enabled channels so that events no channel wants
# skip the fan-out; a long-lived session must still see a channel another
# session adds, disables or re-enables, from its very next event on.
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
it_db it_channel_cache
mkfifo "$MO_WORK/cache_cmds"
mo_psql -d "$IT_DB" -At <"$MO_WORK/cache_cmds" >"$MO_WORK/cache_out" 2>&1 &
session=$!
exec 9>"$MO_WORK/cache_cmds"
emit() { echo "SELECT migrate_ops.notify('$1');" >&9; it_wait "SELECT count(*) FROM migrate_ops.events WHERE event = '$1'" 1; }
queued() { it_val "SELECT count(*) FROM migrate_ops.outbox WHERE event = '$1'"; }

emit team.before                       # the long-lived session caches "no channels"
[ "$(queued team.before)" = 0 ] || it_fail "an event was queued with no channel"
it_val "SELECT migrate_ops.add_channel('late', 'webhook', 'http://127.0.0.1:9/x', '{team.*}')" >/dev/null
emit team.after_add
[ "$(queued team.after_add)" = 1 ] || it_fail "the long-lived session missed a channel added by another session"
it_ok "a channel added by another session gets the long-lived session's next event"
it_val "SELECT migrate_ops.alter_channel('late', enabled => false)" >/dev/null
emit team.after_disable
[ "$(queued team.after_disable)" = 0 ] || it_fail "a disabled channel still got an event"
it_ok "a channel disabled by another session gets none"
it_val "UPDATE migrate_ops.channels SET enabled = true WHERE name = 'late'" >/dev/null
emit team.after_enable
[ "$(queued team.after_enable)" = 1 ] || it_fail "a channel re-enabled by a direct UPDATE was missed"
it_val "DELETE FROM migrate_ops.outbox; DELETE FROM migrate_ops.channels" >/dev/null
emit team.after_delete
[ "$(queued team.after_delete)" = 0 ] || it_fail "a deleted channel still got an event"
it_ok "direct UPDATE and DELETE of migrate_ops.channels are seen too"
echo "BEGIN; SELECT migrate_ops.add_channel('mine', 'webhook', 'http://127.0.0.1:9/y', '{*}'); SELECT migrate_ops.notify('team.same_tx'); ROLLBACK;" >&9
echo "SELECT migrate_ops.notify('team.after_rollback');" >&9
it_wait "SELECT count(*) FROM migrate_ops.events WHERE event = 'team.after_rollback'" 1
[ "$(queued team.after_rollback)" = 0 ] || it_fail "a channel added in a rolled-back transaction was kept in the cache"
it_ok "a channel added and rolled back in the session itself is forgotten"
exec 9>&-
wait $session
