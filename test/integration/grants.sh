#!/usr/bin/env bash
# The README's roles-and-privileges block, run verbatim: each role can do its
# job, and nothing else (42501), and none of them can forge the ledger.
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
it_db it_grants
grants=$(sed -n '/<!-- grants:begin -->/,/<!-- grants:end -->/p' "$MO_ROOT/README.md" | sed '/^```/d; /^<!--/d')
[ -n "$grants" ] || it_fail "no grants block in README.md"
mo_psql -d "$IT_DB" -q -c "DROP ROLE IF EXISTS t_deploy, t_monitor, t_approver, t_admin" \
    -c "DROP ROLE IF EXISTS migrate_deploy, migrate_monitor, migrate_approver, migrate_admin" >/dev/null 2>&1 || true
mo_psql -d "$IT_DB" -q -c "$grants" >/dev/null || it_fail "the README's GRANT block does not run"
mo_psql -d "$IT_DB" -q -c "CREATE ROLE t_deploy LOGIN IN ROLE migrate_deploy" -c "CREATE ROLE t_monitor LOGIN IN ROLE migrate_monitor" \
    -c "CREATE ROLE t_approver LOGIN IN ROLE migrate_approver" -c "CREATE ROLE t_admin LOGIN IN ROLE migrate_admin" >/dev/null
it_ok "the README's GRANT block runs"

# can ROLE SQL: it works.  cannot ROLE SQL: refused with 42501 (insufficient privilege).
can() {
    mo_psql -d "$IT_DB" -U "$1" -c "$2" >/dev/null 2>"$MO_WORK/grant.err" || { cat "$MO_WORK/grant.err"; it_fail "$1 cannot: $2"; }
    it_ok "$1 can: ${2:0:90}"
}
cannot() {
    if mo_psql -d "$IT_DB" -U "$1" -v VERBOSITY=verbose -c "$2" >/dev/null 2>"$MO_WORK/grant.err"; then
        it_fail "$1 can (but should not): $2"
    fi
    grep -q "42501" "$MO_WORK/grant.err" || { cat "$MO_WORK/grant.err"; it_fail "$1: not a privilege error: $2"; }
    it_ok "$1 cannot: ${2:0:90}"
}

can t_deploy "CALL migrate_ops.apply('1', 'CREATE TABLE g_orders (id int);', 'DROP TABLE g_orders;')"
can t_deploy "SELECT * FROM migrate_ops.lint('ALTER TABLE g_orders ADD COLUMN x int')"
can t_deploy "SELECT * FROM migrate_ops.plan('ALTER TABLE g_orders ADD COLUMN x int')"
can t_deploy "SELECT * FROM migrate_ops.preflight('2', 'ALTER TABLE g_orders ADD COLUMN x int')"
can t_deploy "SELECT migrate_ops.start('2'); CREATE INDEX ON g_orders (id); SELECT migrate_ops.finish('2')"
can t_deploy "SELECT * FROM migrate_ops.status(); SELECT * FROM migrate_ops.drift(); SELECT migrate_ops.ready()"
can t_deploy "CREATE TABLE g_dbmate (version varchar(128) PRIMARY KEY); INSERT INTO g_dbmate VALUES ('1')"
cannot t_deploy "UPDATE migrate_ops.migrations SET state = 'applied'"
cannot t_deploy "SELECT * FROM migrate_ops.migrations"
cannot t_deploy "DELETE FROM migrate_ops.ddl_log"
cannot t_deploy "SELECT migrate_ops.resolve('1', 'applied', 'x')"
cannot t_deploy "SELECT migrate_ops.approve('3', repeat('a', 64), 'self')"
cannot t_deploy "SELECT migrate_ops.accept_drift('hide it')"
cannot t_deploy "SELECT * FROM migrate_ops.channels"

can t_monitor "SELECT * FROM migrate_ops.status(); SELECT * FROM migrate_ops.worker_status(); SELECT migrate_ops.health()"
can t_monitor "SELECT * FROM migrate_ops.tool_ledgers()"
cannot t_monitor "SELECT * FROM migrate_ops.sync()"
can t_admin "SELECT * FROM migrate_ops.sync()"
can t_monitor "SELECT count(*) FROM migrate_ops.migrations; SELECT count(*) FROM migrate_ops.ddl_log; SELECT * FROM migrate_ops.channels_masked"
cannot t_monitor "SELECT url, secret FROM migrate_ops.channels"
cannot t_monitor "CALL migrate_ops.apply('9', 'SELECT 1')"
cannot t_monitor "SELECT migrate_ops.scan()"
cannot t_monitor "INSERT INTO migrate_ops.events (event, payload, created_by) VALUES ('migration.applied', '{}', 'x')"

can t_approver "SELECT migrate_ops.approve('3', migrate_ops.checksum('DROP TABLE g_orders;'), 'reviewed')"
cannot t_approver "CALL migrate_ops.apply('3', 'DROP TABLE g_orders;')"
cannot t_approver "DELETE FROM migrate_ops.approvals"

can t_admin "SELECT migrate_ops.accept_drift('reviewed'); SELECT migrate_ops.scan(); SELECT migrate_ops.snapshot('manual')"
can t_admin "SELECT migrate_ops.record_backup('nightly', 's3://b/x', 10, now())"
can t_admin "SELECT migrate_ops.add_channel('ops', 'notify'); SELECT migrate_ops.drop_channel('ops')"
can t_admin "INSERT INTO migrate_ops.drift_ignore (kind, pattern) VALUES ('table', '^public\.tmp_')"
can t_admin "UPDATE migrate_ops.lint_rules SET severity = 'error' WHERE id = 'rename_column'"
can t_admin "SELECT migrate_ops.drift_sql(); SELECT count(*) FROM migrate_ops.ddl_log"
cannot t_admin "SELECT secret FROM migrate_ops.channels"
cannot t_admin "UPDATE migrate_ops.migrations SET state = 'applied'"
cannot t_admin "SET migrate_ops.environment = 'development'"

it_expect "SELECT string_agg(version || ':' || state || ':' || applied_by, ',' ORDER BY version) FROM migrate_ops.migrations" \
    "1:applied:t_deploy,2:applied:t_deploy,dbmate[public.g_dbmate]:1:applied:t_deploy" \
    "the ledger holds exactly what the deploy role did (by hand and through a tool's ledger), under its name"
mo_psql -d "$IT_DB" -q -c "DROP OWNED BY t_deploy, t_monitor, t_approver, t_admin, migrate_deploy, migrate_monitor, migrate_approver, migrate_admin" \
    -c "DROP ROLE t_deploy, t_monitor, t_approver, t_admin, migrate_deploy, migrate_monitor, migrate_approver, migrate_admin" >/dev/null
