#!/usr/bin/env bash
# Deploy tools as they really talk to the database: for Prisma, Flyway,
# dbmate, golang-migrate and Sqitch, their ledger DDL and their
# INSERT/UPDATE/DELETE sequence, statement by statement and with their own
# transaction boundaries (each psql -c is one query, as the tool's driver
# sends it; a multi-statement -c is one implicit transaction, like a
# migration file sent in one Exec).  Sqitch runs its scripts with psql in a
# second session while its registry transaction stays open.  Checked: the
# ledger (state, source, checksum, timing), events, attribution of the DDL,
# drift() after each deploy, failures, rollbacks, edits after apply, ledgers
# created after CREATE EXTENSION and before it (sync()).
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"

# tool APP ARGS...: one session of a deploy tool (application_name APP);
# errors do not stop it — a failing migration is part of the replay.
tool() {
    local app=$1
    shift
    PGAPPNAME=$app "$MO_BIN/psql" -X -q -At -d "$IT_DB" "$@" 2>&1
}
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
drift_is_empty() {
    it_expect "SELECT count(*) FROM migrate_ops.drift()" 0 "$1: drift() is empty after the deploy"
}

# ---------------------------------------------------------------- Prisma
it_db it_tools_prisma
it_val "SELECT migrate_ops.snapshot('before prisma')" >/dev/null
PRISMA_TABLE='CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);'
M1='-- CreateTable
CREATE TABLE "User" (
    "id" SERIAL NOT NULL,
    "email" TEXT NOT NULL,
    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);
-- CreateIndex
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");'
M2='ALTER TABLE "User" ADD COLUMN "name" TEXT;'
# prisma migrate deploy: record_migration_started, the script (one raw
# command), record_successful_step, record_migration_finished.
prisma_deploy() {  # id name script
    tool prisma \
        -c "INSERT INTO \"_prisma_migrations\" (\"id\",\"checksum\",\"started_at\",\"logs\",\"migration_name\") VALUES ('$1','$(sha "$3")',now(),'','$2')" \
        -c "$3" \
        -c "UPDATE \"_prisma_migrations\" SET \"applied_steps_count\" = (\"applied_steps_count\" + 1), \"logs\" = '' WHERE \"id\" = '$1'" \
        -c "UPDATE \"_prisma_migrations\" SET \"finished_at\" = now() WHERE \"id\" = '$1'"
}
out=$(tool prisma -c "$PRISMA_TABLE")
grep -q 'NOTICE:  migrate_ops records the migrations prisma writes to public._prisma_migrations' <<<"$out" ||
    it_fail "no NOTICE when Prisma created its table: $out"
it_expect "SELECT tool || ' ' || ledger || ' ' || version_prefix || ' ' || tracked FROM migrate_ops.tool_ledgers()" \
    "prisma _prisma_migrations prisma: true" "the ledger table Prisma creates after CREATE EXTENSION is recognised and tracked"
prisma_deploy a1 20260101000000_init "$M1" >/dev/null
prisma_deploy a2 20260102000000_name "$M2" >/dev/null
it_expect "SELECT string_agg(concat_ws('|', version, state, source, checksum = '$(sha "$M1")' OR checksum = '$(sha "$M2")',
                                       finished_at >= started_at, duration IS NOT NULL), E'\n' ORDER BY version)
             FROM migrate_ops.migrations" \
"prisma:20260101000000_init|applied|prisma|t|t|t
prisma:20260102000000_name|applied|prisma|t|t|t" "prisma migrate deploy: both versions applied, source prisma, Prisma's checksum, timing"
it_expect "SELECT string_agg(concat_ws('|', command_tag, object_identity, migration), E'\n' ORDER BY id)
             FROM migrate_ops.ddl_log WHERE object_identity NOT LIKE '%prisma_migrations%'" \
'CREATE SEQUENCE|public."User_id_seq"|prisma:20260101000000_init
CREATE TABLE|public."User"|prisma:20260101000000_init
CREATE INDEX|public."User_pkey"|prisma:20260101000000_init
ALTER SEQUENCE|public."User_id_seq"|prisma:20260101000000_init
CREATE INDEX|public."User_email_key"|prisma:20260101000000_init
ALTER TABLE|public."User"|prisma:20260102000000_name
ALTER TABLE|public."User".name|prisma:20260102000000_name' "the DDL between Prisma's insert and its finished_at is attributed to the migration"
it_expect "SELECT string_agg(event || ':' || coalesce(payload->>'version', payload->'commands'->0->>'object_identity'), ',' ORDER BY id)
             FROM migrate_ops.events" \
"ddl.out_of_band:public._prisma_migrations,migration.started:prisma:20260101000000_init,migration.applied:prisma:20260101000000_init,migration.started:prisma:20260102000000_name,migration.applied:prisma:20260102000000_name" \
    "events: started and applied per migration; only Prisma creating its own table is out-of-band"
it_expect "SELECT jsonb_array_length(changes) > 0 AND fingerprint_after IS NOT NULL FROM migrate_ops.migrations WHERE version = 'prisma:20260102000000_name'" \
    t "the changes and fingerprint of the migration are recorded"
drift_is_empty Prisma

# A failing migration: the script's implicit transaction rolls back, Prisma writes the error into logs.
M3='CREATE TABLE "Post" ("id" SERIAL PRIMARY KEY);
ALTER TABLE "Nope" ADD COLUMN "x" INT;'
out=$(tool prisma \
    -c "INSERT INTO \"_prisma_migrations\" (\"id\",\"checksum\",\"started_at\",\"logs\",\"migration_name\") VALUES ('a3','$(sha "$M3")',now(),'','20260103000000_post')" \
    -c "$M3" \
    -c "UPDATE \"_prisma_migrations\" SET \"logs\" = 'Database error code: 42P01 relation \"Nope\" does not exist' WHERE \"id\" = 'a3'")
grep -q 'relation "Nope" does not exist' <<<"$out" || it_fail "the replayed script did not fail: $out"
it_expect "SELECT concat_ws('|', state, error_sqlstate, error_message) FROM migrate_ops.migrations WHERE version = 'prisma:20260103000000_post'" \
    'failed|42P01|Database error code: 42P01 relation "Nope" does not exist' \
    "a failed Prisma migration is failed, with Prisma's logs and the SQLSTATE the session saw"
it_expect "SELECT payload->>'state' || ' ' || (payload->'error'->>'message') FROM migrate_ops.events WHERE event = 'migration.failed'" \
    'failed Database error code: 42P01 relation "Nope" does not exist' "and migration.failed says why"
it_expect "SELECT to_regclass('\"Post\"') IS NULL" t "the failed migration left nothing half-applied"
drift_is_empty "Prisma (failed migration)"

# prisma migrate resolve --rolled-back, then the fixed migration deploys.
tool prisma -c "UPDATE \"_prisma_migrations\" SET \"rolled_back_at\" = now() WHERE \"id\" = 'a3'" >/dev/null
it_expect "SELECT state || ' ' || resolution_reason FROM migrate_ops.migrations WHERE version = 'prisma:20260103000000_post'" \
    "rolled_back marked rolled back in public._prisma_migrations (prisma migrate resolve --rolled-back)" \
    "migrate resolve --rolled-back: rolled_back"
it_expect "SELECT count(*) FROM migrate_ops.events WHERE event = 'migration.rolled_back' AND payload->>'source' = 'prisma'" 1 \
    "... with migration.rolled_back"
M3b='CREATE TABLE "Post" ("id" SERIAL PRIMARY KEY);'
prisma_deploy a4 20260103000000_post "$M3b" >/dev/null
it_expect "SELECT state || ' ' || attempts FROM migrate_ops.migrations WHERE version = 'prisma:20260103000000_post'" \
    "applied 2" "the fixed migration deploys (attempt 2)"

# A migration outside a transaction (CREATE INDEX CONCURRENTLY alone in its file).
M4='CREATE INDEX CONCURRENTLY "Post_id_idx" ON "Post"("id");'
prisma_deploy a5 20260104000000_concurrently "$M4" >/dev/null
it_expect "SELECT migration FROM migrate_ops.ddl_log WHERE object_identity = 'public.\"Post_id_idx\"'" \
    "prisma:20260104000000_concurrently" "DDL Prisma runs outside a transaction is attributed to its migration"
it_expect "SELECT count(*) FROM migrate_ops.events WHERE event = 'ddl.out_of_band'" 1 "... and is not out-of-band"
drift_is_empty "Prisma (non-transactional)"

# Edited after apply: the repository's checksum no longer matches.
it_expect "SELECT version || ' ' || state FROM migrate_ops.status(jsonb_build_array(
             jsonb_build_object('version', 'prisma:20260101000000_init', 'checksum', '$(sha "$M1 -- edited")'),
             jsonb_build_object('version', 'prisma:20260102000000_name', 'checksum', '$(sha "$M2")'),
             jsonb_build_object('version', 'prisma:20260103000000_post', 'checksum', '$(sha "$M3b")'),
             jsonb_build_object('version', 'prisma:20260104000000_concurrently', 'checksum', '$(sha "$M4")'),
             jsonb_build_object('version', 'prisma:20260105000000_next')))
           WHERE state <> 'applied' ORDER BY version" \
"prisma:20260101000000_init checksum_mismatch
prisma:20260105000000_next pending" "status() with the repository's checksums: an edited migration is checksum_mismatch"
# ... and someone "fixes" Prisma's checksum by hand: recorded, flagged, never an error.
out=$(tool psql -c "UPDATE _prisma_migrations SET checksum = '$(sha "$M1 -- edited")' WHERE id = 'a1'")
grep -q 'WARNING:  prisma changed the checksum of migration "prisma:20260101000000_init" after it was applied' <<<"$out" ||
    it_fail "no WARNING for the changed checksum: $out"
it_ok "a checksum changed in _prisma_migrations is flagged with a WARNING (the UPDATE succeeds)"
it_expect "SELECT checksum = '$(sha "$M1")' FROM migrate_ops.migrations WHERE version = 'prisma:20260101000000_init'" t \
    "the ledger keeps the checksum that was applied"
it_expect "SELECT action || ' ' || detail FROM migrate_ops.migration_history WHERE action = 'checksum_changed'" \
    "checksum_changed prisma, public._prisma_migrations: checksum $(sha "$M1") -> $(sha "$M1 -- edited")" "the history keeps the new one"

# migrate resolve --applied: a finished row inserted at once.
tool prisma -c "INSERT INTO \"_prisma_migrations\" (\"id\",\"checksum\",\"logs\",\"started_at\",\"finished_at\",\"migration_name\") VALUES ('a6','$(sha x)','',now(),now(),'20260105000000_next')" >/dev/null
it_expect "SELECT state || ' ' || source FROM migrate_ops.migrations WHERE version = 'prisma:20260105000000_next'" \
    "applied prisma" "migrate resolve --applied: applied"

# A Prisma process killed mid-migration: the next ledger call marks it failed.
tool prisma -c "INSERT INTO \"_prisma_migrations\" (\"id\",\"checksum\",\"started_at\",\"logs\",\"migration_name\") VALUES ('a7','$(sha y)',now(),'','20260106000000_killed')" >/dev/null
it_expect "SELECT state || ': ' || error FROM migrate_ops.status() WHERE version = 'prisma:20260106000000_killed'" \
    "failed: interrupted: the session running this migration ended before it finished" "a Prisma session that ended mid-migration: failed"
it_expect "SELECT count(*) FROM migrate_ops.events WHERE event = 'migration.failed' AND payload->>'version' = 'prisma:20260106000000_killed'" 1 \
    "... with migration.failed"

# ---------------------------------------------------------------- Flyway
it_db it_tools_flyway
it_val "SELECT migrate_ops.snapshot('before flyway')" >/dev/null
FLYWAY_TABLE='CREATE TABLE "public"."flyway_schema_history" (
    "installed_rank" INT NOT NULL,
    "version" VARCHAR(50),
    "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL,
    "script" VARCHAR(1000) NOT NULL,
    "checksum" INTEGER,
    "installed_by" VARCHAR(100) NOT NULL,
    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
    "execution_time" INTEGER NOT NULL,
    "success" BOOLEAN NOT NULL
)'
fw_insert() {  # rank version description type script checksum time success
    echo "INSERT INTO \"public\".\"flyway_schema_history\" (\"installed_rank\", \"version\", \"description\", \"type\", \"script\", \"checksum\", \"installed_by\", \"execution_time\", \"success\") VALUES ($1, $2, '$3', '$4', '$5', $6, 'postgres', $7, $8)"
}
# Flyway creates its history table in a transaction, then runs each
# migration with its INSERT in one transaction (JDBC autocommit off).
tool flyway -c "BEGIN" -c "$FLYWAY_TABLE" \
    -c 'ALTER TABLE "public"."flyway_schema_history" ADD CONSTRAINT "flyway_schema_history_pk" PRIMARY KEY ("installed_rank")' \
    -c 'CREATE INDEX "flyway_schema_history_s_idx" ON "public"."flyway_schema_history" ("success")' -c "COMMIT" \
    -c "BEGIN" -c "CREATE TABLE orders (id bigint PRIMARY KEY, total numeric)" \
    -c "CREATE INDEX orders_total ON orders (total)" \
    -c "$(fw_insert 1 "'1'" 'init' SQL V1__init.sql 1834521 12 true)" -c "COMMIT" >/dev/null
it_expect "SELECT concat_ws('|', version, state, source, checksum, description, duration >= '12 ms') FROM migrate_ops.migrations" \
    "flyway:1|applied|flyway|1834521|init|t" "Flyway V1: applied with Flyway's CRC32 checksum, description and execution time"
it_expect "SELECT string_agg(command_tag || ' ' || object_identity || ' ' || coalesce(migration, '-'), E'\n' ORDER BY id) FROM migrate_ops.ddl_log" \
"CREATE TABLE public.flyway_schema_history -
ALTER TABLE public.flyway_schema_history -
ALTER TABLE public.flyway_schema_history_pk -
CREATE INDEX public.flyway_schema_history_s_idx -
CREATE TABLE public.orders flyway:1
CREATE INDEX public.orders_pkey flyway:1
CREATE INDEX public.orders_total flyway:1" \
    "the DDL before Flyway's INSERT in its transaction is claimed for V1; the history table's own DDL is not"
it_expect "SELECT string_agg(event || ':' || coalesce(payload->>'version', payload->>'count'), ',' ORDER BY id) FROM migrate_ops.events" \
    "ddl.out_of_band:4,migration.applied:flyway:1" "the claimed DDL raises no ddl.out_of_band (only the history table's creation does)"
drift_is_empty "Flyway V1"

# V2 with executeInTransaction=false: the DDL commits first, the INSERT follows in its own transaction.
tool flyway -c "CREATE INDEX CONCURRENTLY orders_id_total ON orders (id, total)" \
    -c "$(fw_insert 2 "'2'" 'concurrently' SQL V2__concurrently.sql -4711 30 true)" >/dev/null
it_expect "SELECT migration FROM migrate_ops.ddl_log WHERE object_identity = 'public.orders_id_total'" "flyway:2" \
    "DDL Flyway runs outside a transaction is attributed to the version it records next"
it_expect "SELECT state || ' ' || checksum FROM migrate_ops.migrations WHERE version = 'flyway:2'" "applied -4711" "V2 applied"
drift_is_empty "Flyway V2"

# V3 outside a transaction fails half-way: Flyway records success = false.
out=$(tool flyway -c "CREATE TABLE refunds (id int)" -c "ALTER TABLE nope ADD COLUMN x int" \
    -c "$(fw_insert 3 "'3'" 'refunds' SQL V3__refunds.sql 99 5 false)")
it_expect "SELECT state || ' ' || error_message FROM migrate_ops.migrations WHERE version = 'flyway:3'" \
    "failed Flyway recorded the migration as failed" "a failed Flyway migration (success = false) is failed"
it_expect "SELECT migration FROM migrate_ops.ddl_log WHERE object_identity = 'public.refunds'" "flyway:3" \
    "the DDL the failed migration committed is attributed to it"
it_expect "SELECT count(*) FROM migrate_ops.events WHERE event = 'migration.failed' AND payload->>'version' = 'flyway:3'" 1 "migration.failed"
# flyway repair removes the failed row; the fixed V3 then runs in a transaction.
tool flyway -c 'DELETE FROM "public"."flyway_schema_history" WHERE "success" = false' \
    -c "BEGIN" -c "ALTER TABLE refunds ADD COLUMN amount numeric" \
    -c "$(fw_insert 3 "'3'" 'refunds' SQL V3__refunds.sql 100 5 true)" -c "COMMIT" >/dev/null
it_expect "SELECT state || ' ' || attempts || ' ' || checksum FROM migrate_ops.migrations WHERE version = 'flyway:3'" "applied 2 100" \
    "after repair the fixed V3 applies (attempt 2)"

# A repeatable migration runs again whenever its checksum changes: not an edit.
tool flyway -c "BEGIN" -c "CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100" \
    -c "$(fw_insert 4 NULL 'views' SQL R__views.sql 111 3 true)" -c "COMMIT" \
    -c "BEGIN" -c "CREATE OR REPLACE VIEW big_orders AS SELECT * FROM orders WHERE total > 1000" \
    -c "$(fw_insert 5 NULL 'views' SQL R__views.sql 222 3 true)" -c "COMMIT" >"$MO_WORK/fw.out"
grep -q WARNING "$MO_WORK/fw.out" && it_fail "a repeatable migration's new checksum was flagged: $(cat "$MO_WORK/fw.out")"
it_expect "SELECT state || ' ' || attempts || ' ' || checksum FROM migrate_ops.migrations WHERE version = 'flyway:R__views.sql'" \
    "applied 2 222" "a repeatable migration (no version) is recorded under its script, re-run with the new checksum"
drift_is_empty "Flyway repeatable"

# flyway repair realigns V1's checksum after the file was edited: flagged.
out=$(tool flyway -c 'UPDATE "public"."flyway_schema_history" SET "description"='"'init'"', "type"='"'SQL'"', "checksum"=1834522 WHERE "version"='"'1'")
grep -q 'WARNING:  flyway changed the checksum of migration "flyway:1" after it was applied' <<<"$out" || it_fail "no WARNING: $out"
grep -q 'DETAIL:  It was applied with checksum 1834521; public.flyway_schema_history now says 1834522.' <<<"$out" || it_fail "no DETAIL: $out"
it_ok "flyway repair changing an applied checksum is flagged (WARNING), never an error"
it_expect "SELECT state FROM migrate_ops.status('[{\"version\":\"flyway:1\",\"checksum\":\"1834522\"}]') WHERE version = 'flyway:1'" \
    "checksum_mismatch" "status() with the edited file's checksum: checksum_mismatch (the ledger keeps what ran)"

# Flyway creating its table with a baseline (baselineOnMigrate), in another schema.
tool flyway -c "CREATE SCHEMA billing" -c "BEGIN" -c "${FLYWAY_TABLE//\"public\"/\"billing\"}" \
    -c "INSERT INTO \"billing\".\"flyway_schema_history\" (\"installed_rank\", \"version\", \"description\", \"type\", \"script\", \"checksum\", \"installed_by\", \"execution_time\", \"success\") VALUES (1, '7', '<< Flyway Baseline >>', 'BASELINE', '<< Flyway Baseline >>', NULL, 'postgres', 0, true)" \
    -c "COMMIT" >/dev/null
it_expect "SELECT version || ' ' || state || ' ' || source FROM migrate_ops.migrations WHERE state = 'baselined'" \
    "flyway[billing]:7 baselined flyway" "a Flyway baseline in the table it just created (another schema): baselined, version flyway[billing]:7"
it_expect "SELECT count(*) FROM migrate_ops.status() WHERE version = '9'" 0 "(a tool's baseline does not cover apply()'s versions)"
drift_is_empty "Flyway baseline"

# ---------------------------------------------------------------- dbmate (its SQL, replayed; test/integration/tools_dbmate.sh runs the real one)
it_db it_tools_dbmate
it_val "SELECT migrate_ops.snapshot('before dbmate')" >/dev/null
D1='-- migrate:up
CREATE TABLE accounts (id bigint PRIMARY KEY, name text NOT NULL);
CREATE INDEX accounts_name ON accounts (name);
'
tool dbmate -c "select current_schema()" \
    -c "create table if not exists public.schema_migrations (version varchar primary key)" \
    -c "BEGIN READ WRITE" -c "$D1" -c "insert into public.schema_migrations (version) values ('20260101000000')" -c "COMMIT" \
    -c "-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY accounts_lower ON accounts (lower(name));" \
    -c "insert into public.schema_migrations (version) values ('20260102000000')" >/dev/null
it_expect "SELECT string_agg(version || ' ' || state || ' ' || source, ',' ORDER BY version) FROM migrate_ops.migrations" \
    "dbmate:20260101000000 applied dbmate,dbmate:20260102000000 applied dbmate" "dbmate up: applied, source dbmate"
it_expect "SELECT string_agg(object_identity || ' ' || coalesce(migration, '-'), ',' ORDER BY id) FROM migrate_ops.ddl_log" \
    "public.schema_migrations -,public.schema_migrations_pkey -,public.accounts dbmate:20260101000000,public.accounts_pkey dbmate:20260101000000,public.accounts_name dbmate:20260101000000,public.accounts_lower dbmate:20260102000000" \
    "dbmate's DDL is claimed by the version it inserts (in the transaction, or before it with transaction:false)"
drift_is_empty dbmate
tool dbmate -c "BEGIN READ WRITE" -c "-- migrate:down
DROP INDEX accounts_lower;" -c "delete from public.schema_migrations where version = '20260102000000'" -c "COMMIT" >/dev/null
it_expect "SELECT state || ' ' || resolution_reason FROM migrate_ops.migrations WHERE version = 'dbmate:20260102000000'" \
    "rolled_back dbmate rollback" "dbmate rollback: rolled_back"
it_expect "SELECT migration FROM migrate_ops.ddl_log WHERE command_tag = 'DROP INDEX'" "dbmate:20260102000000" \
    "the down migration's DDL is attributed to the version rolled back"
drift_is_empty "dbmate rollback"

# ---------------------------------------------------------------- golang-migrate
it_db it_tools_golang
it_val "SELECT migrate_ops.snapshot('before golang-migrate')" >/dev/null
GT='"public"."schema_migrations"'
GM=()   # the statements of the golang-migrate run being built
gm_set() {  # SetVersion(version, dirty): TRUNCATE, then INSERT unless (-1, false), in a transaction
    GM+=("BEGIN" "TRUNCATE $GT")
    if [ "$1" -ge 0 ] || [ "$2" = true ]; then GM+=("INSERT INTO $GT (version, dirty) VALUES ($1, $2)"); fi
    GM+=("COMMIT")
}
gm_step() { gm_set "$1" true; GM+=("$2"); gm_set "$1" false; }  # target version, script
gm_run() {  # one golang-migrate process: lock, read the version, the steps, unlock
    local args=(-c "SELECT pg_advisory_lock(1461183151)" -c "SELECT version, dirty FROM $GT LIMIT 1") s
    for s in "${GM[@]}"; do args+=(-c "$s"); done
    args+=(-c "SELECT pg_advisory_unlock(1461183151)")
    GM=()
    tool golang-migrate "${args[@]}"
}
tool golang-migrate -c "SELECT COUNT(1) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'schema_migrations' LIMIT 1" \
    -c "CREATE TABLE IF NOT EXISTS $GT (version bigint not null primary key, dirty boolean not null)" >/dev/null
gm_step 1 'CREATE TABLE items (id int PRIMARY KEY);'
gm_step 2 'ALTER TABLE items ADD COLUMN sku text; CREATE INDEX items_sku ON items (sku);'
gm_run >/dev/null
it_expect "SELECT string_agg(version || ' ' || state || ' ' || source, ',' ORDER BY version) FROM migrate_ops.migrations" \
    "golang-migrate:1 applied golang-migrate,golang-migrate:2 applied golang-migrate" "migrate up: both versions applied"
it_expect "SELECT string_agg(DISTINCT coalesce(migration, '-'), ',') FROM migrate_ops.ddl_log WHERE object_identity LIKE 'public.items%'" \
    "golang-migrate:1,golang-migrate:2" "the DDL between dirty=true and dirty=false is attributed to its version"
it_expect "SELECT string_agg(event || ':' || coalesce(payload->>'version', ''), ',' ORDER BY id) FROM migrate_ops.events WHERE event <> 'ddl.out_of_band'" \
    "migration.started:golang-migrate:1,migration.applied:golang-migrate:1,migration.started:golang-migrate:2,migration.applied:golang-migrate:2" \
    "migration.started and migration.applied for each"
drift_is_empty golang-migrate

# A failing migration leaves the row dirty and golang-migrate stops; its
# next statement (the unlock) records the failure, with the migration's error.
gm_set 3 true
GM+=('CREATE TABLE prices (id int); ALTER TABLE nope ADD x int;')
out=$(gm_run)
GM=()   # (gm_run ran in a subshell)
grep -q 'relation "nope" does not exist' <<<"$out" || it_fail "the replayed migration did not fail: $out"
it_expect "SELECT concat_ws('|', state, error_sqlstate, error_message) FROM migrate_ops.migrations WHERE version = 'golang-migrate:3'" \
    'failed|42P01|relation "nope" does not exist' "dirty: failed at once, with the migration's own error"
it_expect "SELECT version || ' ' || dirty FROM schema_migrations" "3 true" "(golang-migrate's row stays dirty)"
it_expect "SELECT count(*) FROM migrate_ops.events WHERE event = 'migration.failed' AND payload->>'version' = 'golang-migrate:3'" 1 "migration.failed"
it_expect "SELECT to_regclass('prices') IS NULL" t "nothing half-applied"
# migrate force 2, then the fixed migration 3.
gm_set 2 false
gm_run >/dev/null
it_expect "SELECT string_agg(version || ' ' || state, ',' ORDER BY version) FROM migrate_ops.migrations" \
    "golang-migrate:1 applied,golang-migrate:2 applied,golang-migrate:3 failed" "migrate force 2: 2 stays applied, 3 stays failed"
gm_step 3 'CREATE TABLE prices (id int);'
gm_run >/dev/null
it_expect "SELECT state || ' ' || attempts FROM migrate_ops.migrations WHERE version = 'golang-migrate:3'" "applied 2" "the fixed 3 applies"
# migrate down 1: SetVersion(2, true), 3's down script, SetVersion(2, false).
gm_step 2 'DROP TABLE prices;'
gm_run >/dev/null
it_expect "SELECT state FROM migrate_ops.migrations WHERE version = 'golang-migrate:3'" "rolled_back" "migrate down: 3 is rolled_back"
it_expect "SELECT migration FROM migrate_ops.ddl_log WHERE command_tag = 'DROP TABLE'" "golang-migrate:3" \
    "the down script's DDL is attributed to the version rolled back"
# migrate down (all): 2's down with SetVersion(1, ...), 1's down with SetVersion(-1, true), then TRUNCATE alone.
gm_step 1 'ALTER TABLE items DROP COLUMN sku;'
gm_step -1 'DROP TABLE items;'
gm_run >/dev/null
it_expect "SELECT string_agg(version || ' ' || state, ',' ORDER BY version) FROM migrate_ops.migrations" \
    "golang-migrate:1 rolled_back,golang-migrate:2 rolled_back,golang-migrate:3 rolled_back" "migrate down all: every version rolled back"
it_expect "SELECT count(*) FROM schema_migrations" 0 "(golang-migrate's table is empty)"
drift_is_empty "golang-migrate down"
# A failed version fixed by hand, then declared clean with migrate force.
gm_set 5 true
GM+=('CREATE TABLE stock (id int); ALTER TABLE nope ADD x int;')
out=$(gm_run)
GM=()
it_expect "SELECT state FROM migrate_ops.migrations WHERE version = 'golang-migrate:5'" failed "version 5 failed"
tool psql -c "CREATE TABLE stock (id int)" >/dev/null
gm_set 5 false
gm_run >/dev/null
it_expect "SELECT state || ' ' || attempts FROM migrate_ops.migrations WHERE version = 'golang-migrate:5'" "applied 2" \
    "migrate force 5 after a fix by hand: applied (the fix's DDL is the session's, not claimed)"
it_expect "SELECT detail FROM migrate_ops.migration_history WHERE version = 'golang-migrate:5' ORDER BY id DESC LIMIT 1" \
    "golang-migrate, public.schema_migrations: golang-migrate force" "the history says it was forced"
drift_is_empty "golang-migrate force"
# golang-migrate killed while a migration runs: the next ledger call marks it failed.
gm_set 6 true
GM+=('CREATE TABLE stock2 (id int)')
tool golang-migrate -c "${GM[0]}" -c "${GM[1]}" -c "${GM[2]}" -c "${GM[3]}" -c "${GM[4]}" >/dev/null
GM=()
it_expect "SELECT state || ': ' || error FROM migrate_ops.status() WHERE version = 'golang-migrate:6'" \
    "failed: interrupted: the session running this migration ended before it finished" "a session that ends with the version dirty: failed"

# ---------------------------------------------------------------- Sqitch
it_db it_tools_sqitch
it_val "SELECT migrate_ops.snapshot('before sqitch')" >/dev/null
# sqitch init: the registry script, run by psql (App/Sqitch/Engine/pg.sql, registry = sqitch).
sed -e 's/:"registry"/sqitch/g' -e 's/:tableopts//g' >"$MO_WORK/sqitch_registry.sql" <<'EOF'
BEGIN;
SET client_min_messages = warning;
CREATE SCHEMA :"registry";
CREATE TABLE :"registry".releases (
    version         REAL        PRIMARY KEY,
    installed_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    installer_name  TEXT        NOT NULL,
    installer_email TEXT        NOT NULL
);
CREATE TABLE :"registry".projects (
    project         TEXT        PRIMARY KEY,
    uri             TEXT            NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    creator_name    TEXT        NOT NULL,
    creator_email   TEXT        NOT NULL
):tableopts;
CREATE TABLE :"registry".changes (
    change_id       TEXT        PRIMARY KEY,
    script_hash     TEXT            NULL,
    change          TEXT        NOT NULL,
    project         TEXT        NOT NULL REFERENCES :"registry".projects(project) ON UPDATE CASCADE,
    note            TEXT        NOT NULL DEFAULT '',
    committed_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    committer_name  TEXT        NOT NULL,
    committer_email TEXT        NOT NULL,
    planned_at      TIMESTAMPTZ NOT NULL,
    planner_name    TEXT        NOT NULL,
    planner_email   TEXT        NOT NULL,
    UNIQUE(project, script_hash)
):tableopts;
CREATE TABLE :"registry".tags (
    tag_id          TEXT        PRIMARY KEY,
    tag             TEXT        NOT NULL,
    project         TEXT        NOT NULL REFERENCES :"registry".projects(project) ON UPDATE CASCADE,
    change_id       TEXT        NOT NULL REFERENCES :"registry".changes(change_id) ON UPDATE CASCADE,
    note            TEXT        NOT NULL DEFAULT '',
    committed_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    committer_name  TEXT        NOT NULL,
    committer_email TEXT        NOT NULL,
    planned_at      TIMESTAMPTZ NOT NULL,
    planner_name    TEXT        NOT NULL,
    planner_email   TEXT        NOT NULL,
    UNIQUE(project, tag)
):tableopts;
CREATE TABLE :"registry".dependencies (
    change_id       TEXT        NOT NULL REFERENCES :"registry".changes(change_id) ON UPDATE CASCADE ON DELETE CASCADE,
    type            TEXT        NOT NULL,
    dependency      TEXT        NOT NULL,
    dependency_id   TEXT            NULL REFERENCES :"registry".changes(change_id) ON UPDATE CASCADE CONSTRAINT dependencies_check CHECK (
            (type = 'require'  AND dependency_id IS NOT NULL)
         OR (type = 'conflict' AND dependency_id IS NULL)
    ),
    PRIMARY KEY (change_id, dependency)
):tableopts;
CREATE TABLE :"registry".events (
    event           TEXT        NOT NULL CONSTRAINT events_event_check CHECK (event IN ('deploy', 'revert', 'fail', 'merge')),
    change_id       TEXT        NOT NULL,
    change          TEXT        NOT NULL,
    project         TEXT        NOT NULL REFERENCES :"registry".projects(project) ON UPDATE CASCADE,
    note            TEXT        NOT NULL DEFAULT '',
    requires        TEXT[]      NOT NULL DEFAULT '{}',
    conflicts       TEXT[]      NOT NULL DEFAULT '{}',
    tags            TEXT[]      NOT NULL DEFAULT '{}',
    committed_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    committer_name  TEXT        NOT NULL,
    committer_email TEXT        NOT NULL,
    planned_at      TIMESTAMPTZ NOT NULL,
    planner_name    TEXT        NOT NULL,
    planner_email   TEXT        NOT NULL,
    PRIMARY KEY (change_id, committed_at)
):tableopts;
COMMENT ON TABLE  :"registry".events IS 'Contains full history of all deployment events.';
COMMIT;
EOF
tool psql -v ON_ERROR_STOP=1 -f "$MO_WORK/sqitch_registry.sql" >/dev/null
tool sqitch -c "SET search_path = sqitch" \
    -c "INSERT INTO releases (version, installer_name, installer_email) VALUES (1.1, 'Ann', 'ann@example.com')" \
    -c "INSERT INTO projects (project, uri, creator_name, creator_email) VALUES ('flipr', NULL, 'Ann', 'ann@example.com')" >/dev/null
it_expect "SELECT tool || ' ' || ledger || ' ' || version_prefix || ' ' || tracked FROM migrate_ops.tool_ledgers()" \
    "sqitch sqitch.events sqitch: true" "Sqitch's registry (created by psql in a transaction) is recognised"

# The registry session: kept open through a FIFO, so that its transaction
# spans the script run by psql in another session, as Sqitch's does.
fifo=$MO_WORK/sqitch.fifo
rm -f "$fifo"; mkfifo "$fifo"
PGAPPNAME=sqitch "$MO_BIN/psql" -X -q -At -d "$IT_DB" <"$fifo" >"$MO_WORK/sqitch.out" 2>&1 &
registry=$!
exec 7>"$fifo"
sq() { printf '%s\n' "$@" >&7; }
sq_idle() { it_wait "SELECT state FROM pg_stat_activity WHERE application_name = 'sqitch' AND pid <> pg_backend_pid()" "$1"; }
sq "SET search_path = sqitch;" "SELECT pg_try_advisory_lock(75474063);"
sqitch_change() {  # event change change_id script_hash script [extra registry statements]
    local event=$1 change=$2 id=$3 hash=$4 script=$5
    sq "BEGIN;" "LOCK TABLE changes IN EXCLUSIVE MODE;"
    sq_idle "idle in transaction"
    printf '%s\n' "$script" >"$MO_WORK/sqitch_script.sql"
    tool psql --set ON_ERROR_STOP=1 --set registry=sqitch -f "$MO_WORK/sqitch_script.sql" >/dev/null || true
    case $event in
        deploy) sq "INSERT INTO changes (change_id, script_hash, change, project, note, committer_name, committer_email, planned_at, planner_name, planner_email, committed_at) VALUES ('$id', '$hash', '$change', 'flipr', 'Adds $change.', 'Ann', 'ann@example.com', '2026-01-01 10:00:00+00', 'Ann', 'ann@example.com', clock_timestamp());" ;;
        revert) sq "DELETE FROM tags WHERE change_id = '$id' RETURNING tag;" "DELETE FROM changes where change_id = '$id';" ;;
    esac
    sq "INSERT INTO events (event, change_id, change, project, note, tags, requires, conflicts, committer_name, committer_email, planned_at, planner_name, planner_email, committed_at) VALUES ('$event', '$id', '$change', 'flipr', 'Adds $change.', '{}', '{}', '{}', 'Ann', 'ann@example.com', '2026-01-01 10:00:00+00', 'Ann', 'ann@example.com', clock_timestamp());" "COMMIT;"
    sq_idle idle
}
sqitch_change deploy users c0ffee01 5e1a1 'BEGIN; CREATE SCHEMA flipr; CREATE TABLE flipr.users (nickname text PRIMARY KEY, password text NOT NULL); COMMIT;'
sqitch_change deploy flips c0ffee02 5e1a2 'BEGIN; CREATE TABLE flipr.flips (id bigserial PRIMARY KEY, body text); COMMIT;'
it_expect "SELECT string_agg(concat_ws('|', version, state, source, checksum, description), E'\n' ORDER BY version) FROM migrate_ops.migrations" \
"sqitch:flipr:flips|applied|sqitch|5e1a2|Adds flips.
sqitch:flipr:users|applied|sqitch|5e1a1|Adds users." "sqitch deploy: applied, with the change's script_hash and note"
it_expect "SELECT string_agg(DISTINCT coalesce(migration, '-'), ',') FROM migrate_ops.ddl_log WHERE object_identity LIKE 'flipr.%' OR object_identity = 'flipr'" \
    "sqitch:flipr:flips,sqitch:flipr:users" "the DDL psql ran in another session is attributed to the change Sqitch recorded"
it_expect "SELECT started_at <= (SELECT min(logged_at) FROM migrate_ops.ddl_log WHERE migration = 'sqitch:flipr:users') FROM migrate_ops.migrations WHERE version = 'sqitch:flipr:users'" \
    t "the change's start is when Sqitch began it, before its DDL"
drift_is_empty Sqitch
# A failing deploy script: Sqitch records a fail event.
sqitch_change fail votes c0ffee03 - 'BEGIN; CREATE TABLE flipr.votes (id int); ALTER TABLE flipr.nope ADD x int; COMMIT;'
it_expect "SELECT state || ' ' || error_message FROM migrate_ops.migrations WHERE version = 'sqitch:flipr:votes'" \
    "failed sqitch deploy failed (the deploy script's error is in Sqitch's output)" "sqitch fail event: failed"
it_expect "SELECT to_regclass('flipr.votes') IS NULL" t "nothing half-applied"
# sqitch revert flips.
sqitch_change revert flips c0ffee02 - 'BEGIN; DROP TABLE flipr.flips; COMMIT;'
it_expect "SELECT state FROM migrate_ops.migrations WHERE version = 'sqitch:flipr:flips'" "rolled_back" "sqitch revert: rolled_back"
it_expect "SELECT string_agg(DISTINCT migration, ',') FROM migrate_ops.ddl_log WHERE command_tag = 'DROP TABLE'" "sqitch:flipr:flips" \
    "the revert script's DDL is attributed to the change"
drift_is_empty "Sqitch revert"
# A reworked change deploys again with a new script: re-recorded, not flagged.
sqitch_change deploy flips c0ffee04 5e1a4 'BEGIN; CREATE TABLE flipr.flips (id bigserial PRIMARY KEY, body text, at timestamptz); COMMIT;'
it_expect "SELECT state || ' ' || attempts || ' ' || checksum FROM migrate_ops.migrations WHERE version = 'sqitch:flipr:flips'" \
    "applied 2 5e1a4" "a redeployed change is applied again with its new script_hash"
it_expect "SELECT state FROM migrate_ops.status('[{\"version\":\"sqitch:flipr:users\",\"checksum\":\"5e1a1-edited\"},{\"version\":\"sqitch:flipr:flips\",\"checksum\":\"5e1a4\"}]') WHERE version = 'sqitch:flipr:users'" \
    checksum_mismatch "an edited deploy script: checksum_mismatch against the repository's hash"
exec 7>&-
wait "$registry"
grep -q ERROR "$MO_WORK/sqitch.out" && it_fail "Sqitch's registry session saw an error: $(cat "$MO_WORK/sqitch.out")"
it_ok "Sqitch's registry session never failed"

# ---------------------------------------------------------------- ledgers that existed before CREATE EXTENSION
IT_DB=it_tools_before
PGOPTIONS="-c client_min_messages=warning" mo_psql -d postgres -c "DROP DATABASE IF EXISTS $IT_DB" -c "CREATE DATABASE $IT_DB" >/dev/null
tool prisma -c "$PRISMA_TABLE" \
    -c "INSERT INTO _prisma_migrations (id, checksum, started_at, finished_at, migration_name) VALUES ('p1', 'c1', now(), now(), '0_init')" \
    -c "INSERT INTO _prisma_migrations (id, checksum, started_at, logs, migration_name) VALUES ('p2', 'c2', now(), 'boom', '1_broken')" \
    -c "INSERT INTO _prisma_migrations (id, checksum, started_at, rolled_back_at, migration_name) VALUES ('p3', 'c3', now(), now(), '2_undone')" \
    -c "CREATE TABLE t0 (id int)" >/dev/null
tool flyway -c "$FLYWAY_TABLE" -c "$(fw_insert 1 "'1'" '<< Flyway Baseline >>' BASELINE '<< Flyway Baseline >>' NULL 0 true)" \
    -c "$(fw_insert 2 "'2'" 'more' SQL V2__more.sql 42 1 true)" >/dev/null
tool golang-migrate -c "CREATE SCHEMA gm" -c "CREATE TABLE gm.schema_migrations (version bigint not null primary key, dirty boolean not null)" \
    -c "INSERT INTO gm.schema_migrations VALUES (20260101, false)" >/dev/null
tool dbmate -c "CREATE TABLE app_migrations (version varchar(128) PRIMARY KEY)" -c "INSERT INTO app_migrations VALUES ('1'), ('2')" >/dev/null
tool psql -f "$MO_WORK/sqitch_registry.sql" \
    -c "INSERT INTO sqitch.projects VALUES ('flipr', NULL, now(), 'Ann', 'a@x')" \
    -c "INSERT INTO sqitch.changes (change_id, script_hash, change, project, committer_name, committer_email, planned_at, planner_name, planner_email) VALUES ('x1', 'h1', 'users', 'flipr', 'Ann', 'a@x', now(), 'Ann', 'a@x')" \
    -c "INSERT INTO sqitch.events (event, change_id, change, project, committer_name, committer_email, planned_at, planner_name, planner_email) VALUES ('deploy', 'x1', 'users', 'flipr', 'Ann', 'a@x', now(), 'Ann', 'a@x')" >/dev/null
mo_psql -d "$IT_DB" -c "CREATE EXTENSION migrate_ops" >/dev/null
it_expect "SELECT string_agg(tool || ' ' || ledger || ' ' || version_prefix || ' ' || tracked, E'\n' ORDER BY tool) FROM migrate_ops.tool_ledgers()" \
"dbmate app_migrations dbmate[public.app_migrations]: true
flyway flyway_schema_history flyway: true
golang-migrate gm.schema_migrations golang-migrate[gm]: true
prisma _prisma_migrations prisma: true
sqitch sqitch.events sqitch: true" "CREATE EXTENSION tracks the five ledgers that existed before it (any schema, any name)"
it_expect "SELECT count(*) FROM migrate_ops.migrations" 0 "it records nothing by itself"
it_expect "SELECT string_agg(concat_ws(' ', tool, ledger, version, state), E'\n' ORDER BY tool, version) FROM migrate_ops.sync()" \
"dbmate app_migrations dbmate[public.app_migrations]:1 baselined
dbmate app_migrations dbmate[public.app_migrations]:2 baselined
flyway flyway_schema_history flyway:1 baselined
flyway flyway_schema_history flyway:2 baselined
golang-migrate gm.schema_migrations golang-migrate[gm]:20260101 baselined
prisma _prisma_migrations prisma:0_init baselined
prisma _prisma_migrations prisma:1_broken failed
prisma _prisma_migrations prisma:2_undone rolled_back
sqitch sqitch.events sqitch:flipr:users baselined" "sync() records the history of each: applied as baselined, failed, rolled back"
it_expect "SELECT string_agg(version || ' ' || coalesce(checksum, '-') || ' ' || source, ',' ORDER BY version) FROM migrate_ops.migrations WHERE version LIKE 'prisma:0%' OR version LIKE 'sqitch%' OR version = 'flyway:2'" \
    "flyway:2 42 flyway,prisma:0_init c1 prisma,sqitch:flipr:users h1 sqitch" "... with the tools' checksums and names as source"
it_expect "SELECT count(*) FROM migrate_ops.sync()" 0 "sync() is idempotent: a second call records nothing"
it_expect "SELECT count(*) FROM migrate_ops.events WHERE event LIKE 'migration.%'" 0 "sync() emits no migration events (history, not news)"
it_expect "SELECT count(*) || ' ' || min(label) FROM migrate_ops.snapshots" "1 sync" "and, with no drift baseline yet, takes the first"
drift_is_empty "sync()"
tool dbmate -c "BEGIN" -c "CREATE TABLE t3 (id int)" -c "insert into app_migrations (version) values ('3')" -c "COMMIT" >/dev/null
it_expect "SELECT state || ' ' || (SELECT migration FROM migrate_ops.ddl_log WHERE object_identity = 'public.t3') FROM migrate_ops.migrations WHERE version = 'dbmate[public.app_migrations]:3'" \
    "applied dbmate[public.app_migrations]:3" "the next deploy is recorded as it happens"
drift_is_empty "a deploy after sync()"

# pg_dump | psql: the triggers come back with their dependency on the
# extension, the restore records nothing and adds no trigger of its own,
# and the restored database records the next deploy.
PGOPTIONS="-c client_min_messages=warning" mo_psql -d postgres -c "DROP DATABASE IF EXISTS it_tools_restored" -c "CREATE DATABASE it_tools_restored" >/dev/null
"$MO_BIN/pg_dump" -d "$IT_DB" | "$MO_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d it_tools_restored >/dev/null 2>&1 ||
    it_fail "the dump did not restore"
it_expect "SELECT count(*) FROM pg_depend d JOIN pg_trigger t ON t.oid = d.objid
             WHERE d.classid = 'pg_trigger'::regclass AND d.deptype = 'x' AND t.tgname LIKE 'migrate_ops_tool%'" 6 \
    "pg_dump keeps the six triggers, with DEPENDS ON EXTENSION"
saved_db=$IT_DB
IT_DB=it_tools_restored
it_expect "SELECT (SELECT count(*) FROM migrate_ops.migrations) || ' ' || (SELECT count(*) FROM migrate_ops.tool_ledgers() WHERE tracked)" \
    "10 5" "the restored ledger has the same versions, the five ledgers tracked, nothing recorded by the restore"
tool dbmate -c "BEGIN" -c "CREATE TABLE t4 (id int)" -c "insert into app_migrations (version) values ('4')" -c "COMMIT" >/dev/null
it_expect "SELECT state FROM migrate_ops.migrations WHERE version = 'dbmate[public.app_migrations]:4'" applied \
    "the restored database records the next deploy"
IT_DB=$saved_db
mo_psql -d postgres -c "DROP DATABASE it_tools_restored" >/dev/null

# DROP EXTENSION takes the triggers along; the tools keep working.
mo_psql -d "$IT_DB" -c "DROP EXTENSION migrate_ops" >/dev/null || it_fail "DROP EXTENSION failed"
it_expect "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'migrate_ops_tool%'" 0 "DROP EXTENSION removes the triggers on the tools' tables"
tool dbmate -c "insert into app_migrations (version) values ('4')" >/dev/null
it_expect "SELECT count(*) FROM app_migrations" 4 "and the tools' tables work as before"
mo_psql -d postgres -c "DROP DATABASE $IT_DB" >/dev/null
