#!/usr/bin/env bash
# test/memcheck/leaks.sh — per-call leaks in long-lived memory: calls each of
# migrate_ops' main functions CALLS times (default 1,000) in one session, each
# call its own statement and transaction, and compares the session's memory
# (pg_backend_memory_contexts: every context that outlives a transaction, and
# RssAnon of the backend) after a warm-up of WARMUP calls with the end.  Fails
# when a function leaves more than MAX_GROWTH_KB (default 256 kB, i.e. about
# 256 bytes a call at 1,000 calls) behind.  On a throwaway cluster:
#
#   test/memcheck/leaks.sh           (ONLY=lint: the checks whose name has "lint")
set -euo pipefail
source "$(dirname "$0")/../lib/cluster.sh"

CALLS=${CALLS:-1000}
WARMUP=${WARMUP:-100}
MAX_GROWTH_KB=${MAX_GROWTH_KB:-256}

trap mo_cleanup EXIT
mo_setup
mo_cluster_start
db=leaks
mo_psql -d postgres -c "CREATE DATABASE $db" >/dev/null
mo_psql -d $db -c "CREATE EXTENSION migrate_ops" >/dev/null
q() { mo_psql -At -d $db -c "$1"; }
# a small schema with a little of everything, a baseline and some drift
q "CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id int NOT NULL,
                        total numeric(10,2) DEFAULT 0 CHECK (total >= 0), note text);
   CREATE INDEX orders_customer_idx ON orders (customer_id);
   CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
   CREATE FUNCTION order_total(o orders) RETURNS numeric LANGUAGE sql AS 'SELECT o.total';
   CREATE TYPE status AS ENUM ('new', 'paid');
   COMMENT ON TABLE orders IS 'orders';
   SELECT migrate_ops.snapshot('baseline');
   CREATE INDEX orders_note_idx ON orders (note);
   SELECT migrate_ops.add_channel('listeners', 'notify');" >/dev/null

# The session's memory outside transactions: every context but those of the
# statement that measures, as "context-name bytes" lines, plus RssAnon.
measure_sql="SELECT name, sum(total_bytes) FROM pg_backend_memory_contexts
              WHERE name NOT IN ('ExecutorState', 'PortalContext', 'ExprContext', 'TopTransactionContext',
                                 'MessageContext', 'printtup', 'SPI Proc', 'SPI TupTable', 'SPI Exec')
              GROUP BY name ORDER BY name;
SELECT 'RssAnon', (regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'), 'RssAnon:\s+(\d+)'))[1]::bigint * 1024;
SELECT '#total', sum(total_bytes) FROM pg_backend_memory_contexts
 WHERE name NOT IN ('ExecutorState', 'PortalContext', 'ExprContext', 'TopTransactionContext',
                    'MessageContext', 'printtup', 'SPI Proc', 'SPI TupTable', 'SPI Exec');"

failures=0
# check NAME STATEMENT [SETUP [BASELINE_SETUP]]: STATEMENT has %s for the call
# number; with BASELINE_SETUP, the same calls are made again in a session set
# up with it (the same work without migrate_ops' part) and only the
# difference counts.
check() {
    local name=$1 stmt=$2 setup=${3:-} baseline=${4:-}
    [ -n "${ONLY:-}" ] && [[ $name != *$ONLY* ]] && return
    run_calls "$stmt" "$setup" || { echo "not ok - $name: the calls failed"; failures=$((failures + 1)); return; }
    cp "$MO_WORK/before.txt" "$MO_WORK/before.main"; cp "$MO_WORK/after.txt" "$MO_WORK/after.main"
    : >"$MO_WORK/before.base"; : >"$MO_WORK/after.base"
    if [ -n "$baseline" ]; then
        run_calls "${stmt//%s/b%s}" "$baseline" || { echo "not ok - $name: the baseline calls failed"; failures=$((failures + 1)); return; }
        cp "$MO_WORK/before.txt" "$MO_WORK/before.base"; cp "$MO_WORK/after.txt" "$MO_WORK/after.base"
    fi
    compare "$name" || failures=$((failures + 1))
}

run_calls() {  # run_calls STATEMENT SETUP: WARMUP then CALLS calls in one session, measured before and after
    local stmt=$1 setup=$2 f="$MO_WORK/leak.sql" i n
    n=$(grep -o '%s' <<<"$stmt" | wc -l)
    call() { local a=() k; for ((k = 0; k < n; k++)); do a+=("$1"); done; printf "$stmt\n" "${a[@]}"; }
    {
        echo "\\set QUIET on"
        echo "\\pset format unaligned"
        echo "\\pset tuples_only on"
        echo "SET client_min_messages = warning;"
        [ -n "$setup" ] && echo "$setup"
        for i in $(seq 1 "$WARMUP"); do call "w$i"; done >"$MO_WORK/warm.sql"
        echo "\\o /dev/null"
        echo "\\i $MO_WORK/warm.sql"
        echo "\\o $MO_WORK/before.txt"
        echo "$measure_sql"
        echo "\\o /dev/null"
        for i in $(seq 1 "$CALLS"); do call "c$i"; done >"$MO_WORK/calls.sql"
        echo "\\i $MO_WORK/calls.sql"
        echo "\\o $MO_WORK/after.txt"
        echo "$measure_sql"
    } >"$f"
    chmod 644 "$MO_WORK"/*.sql
    mo_psql -X -d $db -f "$f" >/dev/null 2>"$MO_WORK/err.txt" || { head "$MO_WORK/err.txt"; return 1; }
}

compare() {  # compare NAME: the growth of the last check (minus its baseline's), against the limit
    python3 - "$MO_WORK" "$1" "$CALLS" "$MAX_GROWTH_KB" <<'PY'
import os, sys
work, name, calls, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) * 1024
def load(p):
    d = {}
    for line in open(os.path.join(work, p)):
        if "|" in line:
            k, v = line.rstrip("\n").rsplit("|", 1)
            d[k] = int(v or 0)
    return d
def growth(before, after):
    b, a = load(before), load(after)
    return {k: a.get(k, 0) - b.get(k, 0) for k in set(a) | set(b)}
g = growth("before.main", "after.main")
base = growth("before.base", "after.base")
grown = {k: v - base.get(k, 0) for k, v in g.items() if not k.startswith("#") and k != "RssAnon"}
grown = {k: v for k, v in grown.items() if v != 0}
total = g.get("#total", 0) - base.get("#total", 0)
rss = g.get("RssAnon", 0) - base.get("RssAnon", 0)
detail = ", ".join(f"{k} {v:+d}" for k, v in sorted(grown.items(), key=lambda kv: -abs(kv[1]))[:4]) or "no context changed"
vs = f" beyond the same work without migrate_ops ({base.get('#total', 0) / 1024:+.1f} kB)" if base else ""
ok = total < limit and rss < limit * 4
print(f"{'ok' if ok else 'not ok'} - {name}: {calls} calls, memory contexts {total / 1024:+.1f} kB{vs} "
      f"({total / calls:+.0f} B/call; {detail}), RssAnon {rss / 1024:+.0f} kB")
sys.exit(0 if ok else 1)
PY
}

check "drift()"        "SELECT count(*) FROM migrate_ops.drift(); -- %s"
check "drift_sql()"    "SELECT length(migrate_ops.drift_sql()); -- %s"
check "fingerprint()"  "SELECT migrate_ops.fingerprint(); -- %s"
check "lint()"         "SELECT count(*) FROM migrate_ops.lint(\$\$CREATE INDEX i_%s ON orders (note); ALTER TABLE orders ADD COLUMN c_%s int DEFAULT random()::int; ALTER TABLE orders ALTER COLUMN total TYPE numeric(8,2); DELETE FROM orders; DROP TABLE orders;\$\$);"
check "plan()"         "SELECT count(*) FROM migrate_ops.plan(\$\$ALTER TABLE orders ADD COLUMN c_%s int; CREATE INDEX ON orders (c_%s); UPDATE orders SET note = 'x';\$\$);"
check "apply()"        "CALL migrate_ops.apply('%s', 'SELECT 1');"
check "status()"       "SELECT count(*) FROM migrate_ops.status('[{\"version\": \"%s\"}]');"
check "scan()"         "SELECT migrate_ops.scan() > 0 AS %s;"
check "health()"       "SELECT migrate_ops.health() IS NOT NULL AS %s;"
check "preflight()"    "SELECT count(*) FROM migrate_ops.preflight('p%s', 'CREATE TABLE p_%s (id int)');"
check "notify()"       "SELECT migrate_ops.notify('leak.%s', '{\"n\": 1}');"
check "checksum()"     "SELECT migrate_ops.checksum('SELECT %s');"
# DDL: PostgreSQL's own catalog caches keep an entry for each new name; the
# baseline is the same DDL with capture off
check "DDL capture"    "CREATE TABLE cap_%s (id int); DROP TABLE cap_%s;" "" "SET migrate_ops.capture_ddl = off;"
[ "$failures" = 0 ] || { echo "$failures function(s) leak"; exit 1; }
echo "all checks passed"
