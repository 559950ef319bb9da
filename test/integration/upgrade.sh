#!/usr/bin/env bash
# Upgrade discipline: the oldest supported version, installed and used with
# the current library, then ALTER EXTENSION UPDATE step by step, must give
# the same member objects and definitions as a fresh install of the current
# version — and keep its data.
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
objects_sql="$MO_ROOT/test/lib/extension_objects.sql"
oldest=0.1.0

current=$(mo_psql -At -d postgres -c "SELECT default_version FROM pg_available_extensions WHERE name = 'migrate_ops'")
[ "$current" != "$oldest" ] || it_fail "default_version is still $oldest"
it_ok "current version $current, oldest supported $oldest"

# A fresh install of the current version.
mo_psql -d postgres -c "DROP DATABASE IF EXISTS up_fresh" -c "CREATE DATABASE up_fresh" >/dev/null
mo_psql -d up_fresh -c "CREATE EXTENSION migrate_ops" >/dev/null

# The oldest version, used with the current library (its C entry points must work).
IT_DB=up_old
mo_psql -d postgres -c "DROP DATABASE IF EXISTS up_old" -c "CREATE DATABASE up_old" >/dev/null
mo_psql -d up_old -c "CREATE EXTENSION migrate_ops VERSION '$oldest'" >/dev/null
mo_psql -d up_old -c "CALL migrate_ops.apply('1', 'CREATE TABLE kept (id int);', 'DROP TABLE kept;', 'before the upgrade')" \
    -c "SELECT migrate_ops.start('2')" -c "CREATE TABLE kept2 (id int)" -c "SELECT migrate_ops.finish('2')" >/dev/null ||
    it_fail "the $oldest functions do not work with the current library"
it_expect "SELECT string_agg(version || ':' || state, ',' ORDER BY version) FROM migrate_ops.status()" \
    "1:applied,2:applied" "$oldest install works with the current library"

# Walk the update path one step at a time.
path=$(it_val "SELECT path FROM pg_extension_update_paths('migrate_ops') WHERE source = '$oldest' AND target = '$current'")
[ -n "$path" ] || it_fail "no update path $oldest -> $current"
IFS='-' read -r -a steps <<<"${path//--/-}"
for v in "${steps[@]:1}"; do
    mo_psql -d up_old -c "ALTER EXTENSION migrate_ops UPDATE TO '$v'" >/dev/null || it_fail "update to $v failed"
    it_ok "ALTER EXTENSION migrate_ops UPDATE TO '$v'"
done
it_expect "SELECT extversion FROM pg_extension WHERE extname = 'migrate_ops'" "$current" "now at $current"

# Same objects, same definitions.
mo_psql -At -d up_fresh -f "$objects_sql" >"$MO_WORK/objects.fresh"
mo_psql -At -d up_old -f "$objects_sql" >"$MO_WORK/objects.upgraded"
n=$(grep -c '' "$MO_WORK/objects.fresh")
if ! diff -u "$MO_WORK/objects.fresh" "$MO_WORK/objects.upgraded" >"$MO_WORK/objects.diff"; then
    head -80 "$MO_WORK/objects.diff"
    it_fail "upgraded install differs from a fresh one"
fi
it_ok "upgraded and fresh installs have identical member objects ($n definition lines compared)"

# The data survived, and the upgraded install works.
it_expect "SELECT string_agg(version || ':' || state || ':' || coalesce(description, ''), ',' ORDER BY version)
             FROM migrate_ops.migrations" "1:applied:before the upgrade,2:applied:" "ledger rows survive the upgrade"
mo_psql -d up_old -c "CALL migrate_ops.apply('3', 'CREATE TABLE after_upgrade (id int);')" >/dev/null
mo_psql -d up_old -c "CALL migrate_ops.rollback('1')" >/dev/null 2>&1 && it_fail "rollback of 1 with later versions applied succeeded"
it_expect "SELECT state FROM migrate_ops.status() WHERE version = '3'" applied "the upgraded install applies migrations"
mo_psql -d postgres -c "DROP DATABASE up_old" -c "DROP DATABASE up_fresh" >/dev/null
