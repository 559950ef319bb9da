# test/lib/itest.sh — helpers for integration scripts run by test/run (which
# exports the cluster's PGHOST/PGPORT/MO_BIN/MO_DATA).  TAP-style output;
# the first failed check exits non-zero.
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
: "${MO_BIN:?run integration scripts through test/run}"

it_ok()   { echo "ok - $*"; }
it_fail() { echo "not ok - $*"; exit 1; }

# it_db NAME: a fresh database with migrate_ops (and pgtap), used by it_val.
it_db() { IT_DB=$1; mo_createdb "$IT_DB"; }

# it_val SQL: the single value (or rows, unaligned) the query returns in $IT_DB.
it_val() { mo_psql -At -d "$IT_DB" -c "$1"; }

# it_pg SQL: the value (or rows, unaligned) a statement returns in the postgres database.
it_pg() { mo_psql -At -d postgres -c "$1"; }

# it_set_conf NAME VALUE ...: ALTER SYSTEM SET migrate_ops.NAME = VALUE for each
# pair, then a reload, as a DBA would (the worker rereads its settings on SIGHUP).
it_set_conf() {
    while [ $# -gt 0 ]; do it_pg "ALTER SYSTEM SET migrate_ops.$1 = '$2'" >/dev/null; shift 2; done
    it_pg "SELECT pg_reload_conf()" >/dev/null
    sleep 0.3
}

# it_expect SQL EXPECTED DESCRIPTION
it_expect() {
    local got
    got=$(it_val "$1") || it_fail "$3: query failed: $1"
    [ "$got" = "$2" ] && it_ok "$3" || it_fail "$3: expected [$2], got [$got]"
}

# it_wait SQL EXPECTED [SECONDS]: poll until the query returns EXPECTED.
it_wait() {
    local deadline=$((SECONDS + ${3:-10})) got=
    while [ $SECONDS -lt $deadline ]; do
        got=$(it_val "$1" 2>/dev/null || true)
        [ "$got" = "$2" ] && return 0
        sleep 0.05
    done
    it_fail "timed out waiting for [$1] = [$2] (last: [$got])"
}
