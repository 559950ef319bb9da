#!/usr/bin/env bash
# The real dbmate (npm package "dbmate", which ships its binary) against the
# test cluster, as a non-superuser deploy role over TCP: dbmate up (a
# migration in a transaction and one with transaction:false), a failing
# migration, dbmate rollback.  migrate_ops records it all with no change to
# how dbmate is run.  Skipped, saying so, when npm cannot install dbmate.
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"

dir=$MO_WORK/dbmate
mkdir -p "$dir/db/migrations"
if ! command -v npm >/dev/null 2>&1; then
    echo "skip - real dbmate: npm is not available on this machine"
    exit 0
fi
if ! (cd "$dir" && timeout 120 npm install --no-audit --no-fund --loglevel=error dbmate >"$dir/npm.log" 2>&1) ||
    [ ! -x "$dir/node_modules/.bin/dbmate" ]; then
    echo "skip - real dbmate: npm install dbmate failed ($(tail -1 "$dir/npm.log"))"
    exit 0
fi
dbmate() { (cd "$dir" && ./node_modules/.bin/dbmate --no-dump-schema "$@"); }
it_ok "$(dbmate --version) installed from npm"

it_db it_tools_dbmate_real
PGOPTIONS="-c client_min_messages=warning" it_val "DROP ROLE IF EXISTS dbmate_deployer" >/dev/null
# A deploy role: CREATE for its migrations, and the privilege of recording them (README, Privileges).
it_val "CREATE ROLE dbmate_deployer LOGIN; GRANT CREATE ON SCHEMA public TO dbmate_deployer;
        GRANT EXECUTE ON FUNCTION migrate_ops.start(text, text, text) TO dbmate_deployer" >/dev/null
it_val "SELECT migrate_ops.snapshot('before dbmate')" >/dev/null
mark=$(it_val "SELECT coalesce(max(id), 0) FROM migrate_ops.events")
export DATABASE_URL="postgres://dbmate_deployer@127.0.0.1:$PGPORT/$IT_DB?sslmode=disable"

cat >"$dir/db/migrations/20260101000000_accounts.sql" <<'EOF'
-- migrate:up
CREATE TABLE accounts (id bigint PRIMARY KEY, name text NOT NULL);
CREATE INDEX accounts_name ON accounts (name);

-- migrate:down
DROP TABLE accounts;
EOF
cat >"$dir/db/migrations/20260102000000_accounts_lower.sql" <<'EOF'
-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY accounts_lower ON accounts (lower(name));

-- migrate:down transaction:false
DROP INDEX CONCURRENTLY accounts_lower;
EOF
out=$(dbmate up 2>&1) || it_fail "dbmate up failed: $out"
it_ok "dbmate up: $(grep -c '^Applied' <<<"$out") migrations applied"
it_expect "SELECT string_agg(concat_ws(' ', version, state, source, applied_by), ',' ORDER BY version) FROM migrate_ops.migrations" \
    "dbmate:20260101000000 applied dbmate dbmate_deployer,dbmate:20260102000000 applied dbmate dbmate_deployer" \
    "both versions are applied in the ledger, source dbmate, by the deploy role"
it_expect "SELECT string_agg(object_identity || ' ' || coalesce(migration, '-') || ' ' || role || ' ' || host(client_addr), ',' ORDER BY id)
             FROM migrate_ops.ddl_log" \
    "public.schema_migrations - dbmate_deployer 127.0.0.1,public.schema_migrations_pkey - dbmate_deployer 127.0.0.1,public.accounts dbmate:20260101000000 dbmate_deployer 127.0.0.1,public.accounts_pkey dbmate:20260101000000 dbmate_deployer 127.0.0.1,public.accounts_name dbmate:20260101000000 dbmate_deployer 127.0.0.1,public.accounts_lower dbmate:20260102000000 dbmate_deployer 127.0.0.1" \
    "each migration's DDL is attributed to its version (the transaction:false one too)"
it_expect "SELECT string_agg(event || ':' || coalesce(payload->>'version', payload->'commands'->0->>'object_identity'), ',' ORDER BY id)
             FROM migrate_ops.events WHERE id > $mark" \
    "ddl.out_of_band:public.schema_migrations,migration.applied:dbmate:20260101000000,ddl.out_of_band:public.accounts_lower,migration.applied:dbmate:20260102000000" \
    "migration.applied for each; the transactional migration raises no ddl.out_of_band (the transaction:false one did, before dbmate recorded it)"
it_expect "SELECT count(*) FROM migrate_ops.drift()" 0 "drift() is empty after dbmate up"
it_expect "SELECT has_table_privilege('dbmate_deployer', 'migrate_ops.migrations', 'INSERT,UPDATE,SELECT')" f \
    "(the deploy role has no privilege on the ledger: the trigger writes it as the extension's owner)"

# A failing migration: dbmate rolls its transaction back and records nothing.
cat >"$dir/db/migrations/20260103000000_broken.sql" <<'EOF'
-- migrate:up
CREATE TABLE payments (id int);
ALTER TABLE nope ADD COLUMN x int;

-- migrate:down
DROP TABLE payments;
EOF
if out=$(dbmate up 2>&1); then it_fail "the broken migration succeeded: $out"; fi
grep -q 'relation "nope" does not exist' <<<"$out" || it_fail "dbmate did not report the error: $out"
it_ok "dbmate up fails on the broken migration"
it_expect "SELECT count(*) FROM migrate_ops.migrations WHERE version = 'dbmate:20260103000000'" 0 \
    "nothing is recorded for it (dbmate writes no failed row; its transaction rolled back)"
it_expect "SELECT to_regclass('payments') IS NULL AND (SELECT count(*) FROM migrate_ops.ddl_log WHERE object_identity = 'public.payments') = 0" t \
    "its DDL left neither the table nor a log row"
it_expect "SELECT count(*) FROM migrate_ops.drift()" 0 "drift() is still empty"
sed -i 's/^ALTER TABLE nope ADD COLUMN x int;$/ALTER TABLE payments ADD COLUMN amount numeric;/' "$dir/db/migrations/20260103000000_broken.sql"
out=$(dbmate up 2>&1) || it_fail "the fixed migration failed: $out"
it_expect "SELECT state FROM migrate_ops.migrations WHERE version = 'dbmate:20260103000000'" applied "the fixed migration is applied"

# dbmate rollback: the down migration and the DELETE, in one transaction.
out=$(dbmate rollback 2>&1) || it_fail "dbmate rollback failed: $out"
it_expect "SELECT state || ' ' || resolution_reason FROM migrate_ops.migrations WHERE version = 'dbmate:20260103000000'" \
    "rolled_back dbmate rollback" "dbmate rollback: rolled_back"
it_expect "SELECT migration FROM migrate_ops.ddl_log WHERE command_tag = 'DROP TABLE'" "dbmate:20260103000000" \
    "the down migration's DDL is attributed to the version"
it_expect "SELECT count(*) FROM migrate_ops.events WHERE event = 'migration.rolled_back'" 1 "migration.rolled_back"
it_expect "SELECT count(*) FROM migrate_ops.drift()" 0 "drift() is empty after the rollback"
out=$(dbmate status 2>&1) || true
grep -q '\[ \] 20260103000000_broken.sql' <<<"$out" || it_fail "dbmate status disagrees: $out"
it_ok "dbmate status agrees: 20260103000000 is pending again"
mo_psql -d postgres -c "DROP DATABASE $IT_DB" -c "DROP ROLE dbmate_deployer" >/dev/null
