-- Deploy tools' ledgers (issue 10) inside one transaction, as pgTAP runs:
-- recognition by shape (and near misses), the trigger migrate_ops installs,
-- each tool's rows within a transaction, version names, status() scoping,
-- the tool's statement never failing, sync(), privileges and error paths.
-- Real transaction boundaries and sessions: test/integration/tools.sh and
-- tools_dbmate.sh.
BEGIN;
SELECT plan(61);
SET LOCAL client_min_messages = warning;   -- the NOTICEs of tracked tables; expected WARNINGs are silenced where they occur

CREATE ROLE tap_tools_intruder;
CREATE FUNCTION pg_temp.ledger(OUT version text, OUT state text, OUT source text, OUT checksum text)
RETURNS SETOF record LANGUAGE sql AS
$$SELECT version, state, source, checksum FROM migrate_ops.migrations ORDER BY version$$;
SELECT migrate_ops.snapshot('tap tools');

-- ---------------------------------------------------------------- objects
SELECT has_function('migrate_ops', 'sync', ARRAY[]::text[], 'sync() exists');
SELECT has_function('migrate_ops', 'tool_ledgers', ARRAY[]::text[], 'tool_ledgers() exists');
SELECT ok((SELECT prolang = (SELECT oid FROM pg_language WHERE lanname = 'c') AND prorettype = 'trigger'::regtype
             FROM pg_proc WHERE oid = 'migrate_ops.tool_ledger_trigger()'::regprocedure),
          'tool_ledger_trigger() is a C trigger function');
SELECT ok(NOT has_function_privilege('public', 'migrate_ops.tool_ledger_trigger()', 'EXECUTE')
          AND NOT has_function_privilege('public', 'migrate_ops.sync()', 'EXECUTE')
          AND NOT has_function_privilege('public', 'migrate_ops.tool_ledgers()', 'EXECUTE'),
          'nothing of it is granted to PUBLIC');
SELECT hasnt_function('migrate_ops', 'tool_ledgers_install', ARRAY[]::text[], 'the install-time helper is gone after CREATE EXTENSION');
SELECT is(current_setting('migrate_ops.track_tools'), 'on', 'track_tools is on by default');
SELECT is((SELECT context FROM pg_settings WHERE name = 'migrate_ops.track_tools'), 'superuser', 'track_tools is superuser-set');

-- ---------------------------------------------------------------- recognition
CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);
CREATE SCHEMA tenant_a;
CREATE TABLE tenant_a._prisma_migrations (LIKE public._prisma_migrations INCLUDING ALL);
CREATE TABLE flyway_schema_history (
    installed_rank INT NOT NULL, version VARCHAR(50), description VARCHAR(200) NOT NULL,
    type VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, checksum INTEGER,
    installed_by VARCHAR(100) NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT now(),
    execution_time INTEGER NOT NULL, success BOOLEAN NOT NULL);
CREATE TABLE app_migrations (version varchar(128) PRIMARY KEY);
CREATE SCHEMA gm;
CREATE TABLE gm.schema_migrations (version bigint not null primary key, dirty boolean not null);
-- near misses: no primary key, an extra column, a missing column, a wrong type, a temporary table
CREATE TABLE versions_no_pk (version text);
CREATE TABLE gm_extra (version bigint PRIMARY KEY, dirty boolean NOT NULL, note text);
CREATE TABLE prisma_short (id varchar(36) PRIMARY KEY, checksum varchar(64), finished_at timestamptz,
                           migration_name varchar(255), logs text, started_at timestamptz, applied_steps_count int);
CREATE TABLE flyway_text_checksum (
    installed_rank INT NOT NULL, version VARCHAR(50), description VARCHAR(200) NOT NULL,
    type VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, checksum TEXT,
    installed_by VARCHAR(100) NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT now(),
    execution_time INTEGER NOT NULL, success BOOLEAN NOT NULL);
CREATE TEMP TABLE tmp_migrations (version varchar PRIMARY KEY);
SELECT results_eq(
    $$SELECT tool, ledger::text, version_prefix, tracked FROM migrate_ops.tool_ledgers() ORDER BY 1, 2$$,
    $$VALUES ('dbmate', 'app_migrations', 'dbmate[public.app_migrations]:', true),
             ('flyway', 'flyway_schema_history', 'flyway:', true),
             ('golang-migrate', 'gm.schema_migrations', 'golang-migrate[gm]:', true),
             ('prisma', '_prisma_migrations', 'prisma:', true),
             ('prisma', 'tenant_a._prisma_migrations', 'prisma[tenant_a]:', true)$$,
    'ledgers are recognised by shape in any schema and under any name, and tracked as soon as they are created');
-- a table that gets the shape later (dbmate's dump adds the key with ALTER TABLE)
ALTER TABLE versions_no_pk ADD PRIMARY KEY (version);
SELECT is((SELECT tool FROM migrate_ops.tool_ledgers() WHERE ledger = 'versions_no_pk'::regclass), 'dbmate',
          'a table that takes the shape by ALTER TABLE is recognised then');
SELECT results_eq(
    $$SELECT t.tgname::text COLLATE "default", t.tgenabled::text COLLATE "default", pg_get_triggerdef(t.oid) LIKE '%AFTER INSERT OR DELETE OR UPDATE%FOR EACH ROW EXECUTE FUNCTION migrate_ops.tool_ledger_trigger(''prisma'')'
        FROM pg_trigger t WHERE t.tgrelid = '_prisma_migrations'::regclass$$,
    $$VALUES ('migrate_ops_tool', 'O', true)$$,
    'the trigger: AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW, with the tool as argument');
SELECT results_eq(
    $$SELECT t.tgname::text COLLATE "default" FROM pg_trigger t WHERE t.tgrelid = 'gm.schema_migrations'::regclass ORDER BY 1$$,
    $$VALUES ('migrate_ops_tool'), ('migrate_ops_tool_truncate')$$,
    'golang-migrate''s table also gets a BEFORE TRUNCATE trigger');
SELECT is((SELECT string_agg(DISTINCT d.deptype::text, ',') FROM pg_depend d JOIN pg_trigger t ON d.objid = t.oid
            WHERE d.classid = 'pg_trigger'::regclass AND d.refclassid = 'pg_extension'::regclass
              AND t.tgname LIKE 'migrate_ops_tool%'), 'x',
          'the triggers depend on the extension (DEPENDS ON EXTENSION), without being members of it');
SELECT is((SELECT count(*) FROM migrate_ops.ddl_log WHERE command_tag = 'CREATE TRIGGER'), 0::bigint,
          'installing them is not logged as DDL');
SELECT is((SELECT count(*) FROM migrate_ops.drift() WHERE kind = 'trigger'), 0::bigint,
          'drift() does not report them: they count as part of migrate_ops');

-- ---------------------------------------------------------------- Prisma in one transaction
INSERT INTO _prisma_migrations (id, checksum, started_at, logs, migration_name)
VALUES ('p1', 'sha-init', now(), '', '20260101000000_init');
CREATE TABLE tap_users (id bigint PRIMARY KEY);
UPDATE _prisma_migrations SET applied_steps_count = applied_steps_count + 1 WHERE id = 'p1';
UPDATE _prisma_migrations SET finished_at = now() WHERE id = 'p1';
SELECT results_eq($$SELECT * FROM pg_temp.ledger()$$,
    $$VALUES ('prisma:20260101000000_init', 'applied', 'prisma', 'sha-init')$$,
    'Prisma''s insert, its DDL and finished_at: applied, source prisma, Prisma''s checksum');
SELECT is((SELECT string_agg(DISTINCT migration, ',') FROM migrate_ops.ddl_log WHERE object_identity LIKE 'public.tap_users%'),
          'prisma:20260101000000_init', 'the DDL in between carries the version');
SELECT results_eq(
    $$SELECT event, payload->>'version', payload->>'source', payload->>'action' FROM migrate_ops.events
       WHERE event LIKE 'migration.%' ORDER BY id$$,
    $$VALUES ('migration.started', 'prisma:20260101000000_init', 'prisma', 'record'),
             ('migration.applied', 'prisma:20260101000000_init', 'prisma', 'record')$$,
    'migration.started and migration.applied, with the tool as source');
SELECT is((SELECT count(*) FROM migrate_ops.drift()), 0::bigint, 'drift() is empty after it');
INSERT INTO tenant_a._prisma_migrations (id, checksum, started_at, finished_at, migration_name)
VALUES ('p1', 'sha-init', now(), now(), '20260101000000_init');
SELECT is((SELECT state FROM migrate_ops.migrations WHERE version = 'prisma[tenant_a]:20260101000000_init'), 'applied',
          'the same migration in another schema''s ledger is another version: prisma[tenant_a]:...');

-- prisma migrate reset: the table is re-created and every migration runs again
DROP TABLE tap_users;
TRUNCATE _prisma_migrations;
INSERT INTO _prisma_migrations (id, checksum, started_at, logs, migration_name)
VALUES ('p1b', 'sha-init', now(), '', '20260101000000_init');
CREATE TABLE tap_users (id bigint PRIMARY KEY);
UPDATE _prisma_migrations SET finished_at = now() WHERE id = 'p1b';
SELECT is((SELECT state || ' ' || attempts FROM migrate_ops.migrations WHERE version = 'prisma:20260101000000_init'),
          'applied 2', 'a version the tool runs again (after a reset) is a new attempt, its DDL attributed again');

-- never breaks the tool: a name too long for a migrate_ops version
SET LOCAL client_min_messages = error;
SELECT lives_ok(
    $$INSERT INTO _prisma_migrations (id, checksum, started_at, logs, migration_name)
      VALUES ('p2', 'x', now(), '', repeat('n', 250))$$,
    'a Prisma row migrate_ops cannot record still goes in (a WARNING says why)');
SET LOCAL client_min_messages = warning;
SELECT is((SELECT count(*) FROM _prisma_migrations WHERE id = 'p2'), 1::bigint, 'the tool''s row is there');
SELECT is((SELECT count(*) FROM migrate_ops.migrations WHERE length(version) > 200), 0::bigint, 'and nothing half-recorded');

-- ---------------------------------------------------------------- Flyway in one transaction
CREATE TABLE tap_orders (id int);
INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
VALUES (1, '1', 'orders', 'SQL', 'V1__orders.sql', 12345, 'postgres', 10, true);
SELECT results_eq($$SELECT * FROM pg_temp.ledger() WHERE source = 'flyway'$$,
    $$VALUES ('flyway:1', 'applied', 'flyway', '12345')$$, 'Flyway''s row: applied with its checksum');
SELECT is((SELECT migration FROM migrate_ops.ddl_log WHERE object_identity = 'public.tap_orders'), 'flyway:1',
          'the DDL before it (no migration running) is claimed by the version');
SELECT is((SELECT count(*) FROM migrate_ops.ddl_log WHERE object_identity = 'public.tap_users' AND migration = 'flyway:1'), 0::bigint,
          'DDL that already belonged to a migration is not claimed');
INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
VALUES (2, '1', 'orders', 'SQL', 'V1__orders.sql', 12345, 'postgres', 10, true);
SELECT is((SELECT attempts FROM migrate_ops.migrations WHERE version = 'flyway:1'), 1,
          'the same version recorded again with no DDL of its own: nothing new');
DROP TABLE tap_orders;
CREATE TABLE tap_orders (id int);
INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
VALUES (3, '1', 'orders', 'SQL', 'V1__orders.sql', 12345, 'postgres', 10, true);
SELECT is((SELECT attempts FROM migrate_ops.migrations WHERE version = 'flyway:1'), 2,
          'recorded again after running its DDL again (flyway clean, migrate): a new attempt');
INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
VALUES (4, '100', '<< Flyway Baseline >>', 'BASELINE', '<< Flyway Baseline >>', NULL, 'postgres', 0, true);
SELECT is((SELECT state FROM migrate_ops.migrations WHERE version = 'flyway:100'), 'baselined', 'a Flyway baseline: baselined');
INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
VALUES (5, '101', 'later', 'SQL', 'V101__later.sql', 7, 'postgres', 1, true),
       (6, '101', 'later', 'UNDO_SQL', 'U101__later.sql', 8, 'postgres', 1, true);
SELECT is((SELECT state || ' ' || resolution_reason FROM migrate_ops.migrations WHERE version = 'flyway:101'),
          'rolled_back undone by flyway undo', 'a Flyway UNDO row: rolled_back');
SELECT results_eq(
    $$SELECT "check", ok FROM migrate_ops.preflight('2', 'CREATE TABLE tap_after_baseline (id int);')
       WHERE "check" IN ('migration', 'ordering') ORDER BY 1$$,
    $$VALUES ('migration', true), ('ordering', true)$$,
    'preflight() of apply()''s next version: a tool''s baseline does not cover it, its versions are not in its order');
CALL migrate_ops.apply('2', 'CREATE TABLE tap_after_baseline (id int);');
SELECT is((SELECT state FROM migrate_ops.migrations WHERE version = '2'), 'applied',
          'a tool''s baseline does not cover apply()''s own versions');
SET LOCAL client_min_messages = error;
UPDATE flyway_schema_history SET checksum = 54321 WHERE installed_rank = 3;
RESET client_min_messages;
SELECT is((SELECT checksum FROM migrate_ops.migrations WHERE version = 'flyway:1'), '12345',
          'flyway repair changing an applied checksum: the ledger keeps the one that ran');
SELECT is((SELECT detail FROM migrate_ops.migration_history WHERE action = 'checksum_changed'),
          'flyway, public.flyway_schema_history: checksum 12345 -> 54321', '... and the history records the change');

-- ---------------------------------------------------------------- status() per tool
SELECT results_eq(
    $$SELECT version, state FROM migrate_ops.status('[{"version": "flyway:1", "checksum": "54321"}, {"version": "flyway:2"}]')$$,
    $$VALUES ('2', 'missing_from_repo'), ('flyway:1', 'checksum_mismatch'), ('flyway:2', 'pending'),
             ('flyway:100', 'baselined'), ('flyway:101', 'rolled_back'),
             ('prisma:20260101000000_init', 'applied'), ('prisma[tenant_a]:20260101000000_init', 'applied')$$,
    'status() with one tool''s list: its versions are compared, other tools'' are not reported missing');
SELECT results_eq(
    $$SELECT version, state FROM migrate_ops.status('[{"version": "prisma:20260101000000_init", "checksum": "sha-init"}]')
       WHERE source = 'prisma'$$,
    $$VALUES ('prisma:20260101000000_init', 'applied'), ('prisma[tenant_a]:20260101000000_init', 'applied')$$,
    'another ledger of the same tool (another schema) is another list');

-- ---------------------------------------------------------------- dbmate and golang-migrate in one transaction
CREATE TABLE tap_accounts (id int);
INSERT INTO app_migrations (version) VALUES ('20260101000000');
SELECT is((SELECT state || ' ' || (SELECT migration FROM migrate_ops.ddl_log WHERE object_identity = 'public.tap_accounts')
             FROM migrate_ops.migrations WHERE version = 'dbmate[public.app_migrations]:20260101000000'),
          'applied dbmate[public.app_migrations]:20260101000000', 'dbmate''s insert: applied, claiming the DDL before it');
DROP TABLE tap_accounts;
DELETE FROM app_migrations WHERE version = '20260101000000';
SELECT is((SELECT state FROM migrate_ops.migrations WHERE version = 'dbmate[public.app_migrations]:20260101000000'),
          'rolled_back', 'dbmate''s delete: rolled_back');
SELECT is((SELECT migration FROM migrate_ops.ddl_log WHERE command_tag = 'DROP TABLE' AND object_identity = 'public.tap_accounts'),
          'dbmate[public.app_migrations]:20260101000000', 'the down migration''s DDL is claimed by the version');

TRUNCATE gm.schema_migrations;
INSERT INTO gm.schema_migrations (version, dirty) VALUES (1, true);
CREATE TABLE tap_items (id int);
TRUNCATE gm.schema_migrations;
INSERT INTO gm.schema_migrations (version, dirty) VALUES (1, false);
SELECT is((SELECT state || ' ' || (SELECT migration FROM migrate_ops.ddl_log WHERE object_identity = 'public.tap_items')
             FROM migrate_ops.migrations WHERE version = 'golang-migrate[gm]:1'),
          'applied golang-migrate[gm]:1', 'golang-migrate up: dirty, the DDL, clean: applied, DDL attributed');
TRUNCATE gm.schema_migrations;
INSERT INTO gm.schema_migrations (version, dirty) VALUES (-1, true);
DROP TABLE tap_items;
TRUNCATE gm.schema_migrations;
SELECT is((SELECT state FROM migrate_ops.migrations WHERE version = 'golang-migrate[gm]:1'), 'rolled_back',
          'golang-migrate down to nothing (version -1, then TRUNCATE alone): rolled_back');
INSERT INTO gm.schema_migrations (version, dirty) VALUES (7, false);
SELECT is((SELECT state FROM migrate_ops.migrations WHERE version = 'golang-migrate[gm]:7'), 'baselined',
          'golang-migrate force of a version never seen run: baselined');

-- ---------------------------------------------------------------- a session where nothing must be recorded
SET LOCAL migrate_ops.track_tools = off;
INSERT INTO app_migrations (version) VALUES ('20260109000000');
CREATE TABLE _prisma_migrations_2 (LIKE _prisma_migrations INCLUDING ALL);
SELECT is((SELECT count(*) FROM migrate_ops.migrations WHERE version LIKE '%20260109000000'), 0::bigint,
          'track_tools off: the trigger records nothing');
RESET migrate_ops.track_tools;
SELECT is((SELECT tracked FROM migrate_ops.tool_ledgers() WHERE ledger = '_prisma_migrations_2'::regclass), false,
          'track_tools off: a new ledger table is recognised but not tracked');
INSERT INTO _prisma_migrations_2 (id, checksum, started_at, finished_at, migration_name) VALUES ('q', 'c', now(), now(), '9_old');

-- ---------------------------------------------------------------- sync()
SET LOCAL client_min_messages = error;   -- (the too-long Prisma version: a WARNING at each sync())
SELECT results_eq(
    $$SELECT tool, ledger::text, version, state FROM migrate_ops.sync() ORDER BY version$$,
    $$VALUES ('dbmate', 'app_migrations', 'dbmate[public.app_migrations]:20260109000000', 'baselined'),
             ('prisma', '_prisma_migrations_2', 'prisma[public._prisma_migrations_2]:9_old', 'baselined')$$,
    'sync(): what migrate_ops did not see is recorded as baselined, with the tool as source');
SELECT is((SELECT tracked FROM migrate_ops.tool_ledgers() WHERE ledger = '_prisma_migrations_2'::regclass), true,
          'sync() tracks the ledgers that were not tracked');
SELECT is((SELECT count(*) FROM migrate_ops.sync()), 0::bigint, 'sync() again records nothing');
SELECT is((SELECT count(*) FROM migrate_ops.migrations WHERE version LIKE 'prisma:%'), 1::bigint,
          'a version sync() cannot record (too long) is skipped with a WARNING, the others of its ledger are not');
SELECT is((SELECT source FROM migrate_ops.migrations WHERE version = 'prisma[public._prisma_migrations_2]:9_old'), 'prisma',
          'the source is the tool');
SELECT is((SELECT count(*) FROM migrate_ops.migration_history WHERE action = 'sync'), 2::bigint, 'and the history says sync');

SET LOCAL client_min_messages = warning;

-- ---------------------------------------------------------------- errors
SELECT throws_ok($$SELECT migrate_ops.tool_ledger_trigger()$$, '39P01',
                 'migrate_ops.tool_ledger_trigger() can only be called as a trigger',
                 'the trigger function cannot be called directly: 39P01');
CREATE TABLE tap_not_a_ledger (id int);
CREATE TRIGGER bad AFTER INSERT ON tap_not_a_ledger FOR EACH ROW EXECUTE FUNCTION migrate_ops.tool_ledger_trigger('nosuch');
SELECT throws_ok($$INSERT INTO tap_not_a_ledger VALUES (1)$$, '39P01',
                 'migrate_ops.tool_ledger_trigger() is not installed as migrate_ops installs it',
                 'installed by hand with an unknown tool: 39P01');
DROP TRIGGER bad ON tap_not_a_ledger;
CREATE TRIGGER bad BEFORE INSERT ON tap_not_a_ledger FOR EACH ROW EXECUTE FUNCTION migrate_ops.tool_ledger_trigger('prisma');
SELECT throws_ok($$INSERT INTO tap_not_a_ledger VALUES (1)$$, '39P01', NULL, 'installed BEFORE INSERT: 39P01');
SELECT is((SELECT count(*) FROM tap_not_a_ledger), 0::bigint, 'nothing was inserted');
SET ROLE tap_tools_intruder;
SELECT throws_ok($$SELECT * FROM migrate_ops.sync()$$, '42501', NULL, 'sync() is not for PUBLIC');
SELECT throws_ok($$SELECT * FROM migrate_ops.tool_ledgers()$$, '42501', NULL, 'tool_ledgers() is not for PUBLIC');
RESET ROLE;
SET ROLE tap_tools_intruder;
SELECT throws_ok($$SET migrate_ops.track_tools = off$$, '42501', NULL, 'only a superuser switches track_tools off');
RESET ROLE;

-- ---------------------------------------------------------------- the ledger table goes away
DROP TABLE tenant_a._prisma_migrations;
SELECT is((SELECT count(*) FROM migrate_ops.tool_ledgers() WHERE version_prefix = 'prisma[tenant_a]:'), 0::bigint,
          'a dropped ledger table takes its trigger along');
SELECT is((SELECT state FROM migrate_ops.migrations WHERE version = 'prisma[tenant_a]:20260101000000_init'), 'applied',
          'the versions recorded from it stay in the ledger');
SELECT is((SELECT count(*) FROM migrate_ops.status() WHERE source NOT IN ('apply', 'record', 'baseline')),
          (SELECT count(*) FROM migrate_ops.migrations WHERE source IN ('prisma', 'flyway', 'dbmate', 'golang-migrate', 'sqitch')),
          'status() shows every tool version');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'migrate_ops_tool%' AND NOT tgisinternal), 7::bigint,
          'seven triggers: one per tracked ledger, two for golang-migrate''s');

SELECT * FROM finish();
ROLLBACK;
