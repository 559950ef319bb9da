-- DDL capture (DESIGN §3) inside one transaction, as pgTAP runs: every DDL
-- statement is in migrate_ops.ddl_log for the statements after it (when it is
-- written: test/pgtap/capture_batching.sql).  What needs commits
-- (ddl.out_of_band events, rolled-back transactions) is in sql/capture.sql;
-- real login sessions, lock failures and dump/restore in
-- test/integration/capture.sh.
BEGIN;
SELECT plan(72);

-- Rows logged by the statements of this test since the mark.
CREATE TEMP TABLE mark (id bigint);
INSERT INTO mark SELECT coalesce(max(id), 0) FROM migrate_ops.ddl_log;
CREATE FUNCTION pg_temp.logged(OUT event text, OUT command_tag text, OUT object_type text,
                               OUT object_identity text, OUT migration text)
RETURNS SETOF record LANGUAGE sql AS
$$SELECT event, command_tag, object_type, object_identity, migration
    FROM migrate_ops.ddl_log WHERE id > (SELECT id FROM mark) ORDER BY id$$;
CREATE FUNCTION pg_temp.remark() RETURNS void LANGUAGE sql AS
$$UPDATE mark SET id = (SELECT coalesce(max(id), 0) FROM migrate_ops.ddl_log)$$;

-- ---------------------------------------------------------------- shape
SELECT has_table('migrate_ops', 'ddl_log', 'ddl_log exists');
SELECT columns_are('migrate_ops', 'ddl_log', ARRAY[
    'id', 'logged_at', 'event', 'command_tag', 'object_type', 'object_identity', 'schema_name',
    'rewrite_reason', 'role', 'session_role', 'application_name', 'client_addr', 'backend_pid',
    'txid', 'migration', 'statement', 'statement_truncated'], 'ddl_log has the columns of DESIGN §3');
SELECT col_type_is('migrate_ops', 'ddl_log', 'txid', 'xid8', 'txid is xid8, comparable with pg_current_xact_id()');
SELECT results_eq(
    $$SELECT evtname::text COLLATE "default", evtevent::text COLLATE "default",
             evtfoid::regproc::text, evtenabled::text
        FROM pg_event_trigger WHERE evtname LIKE 'migrate_ops%' ORDER BY 1$$,
    $$VALUES ('migrate_ops_ddl_command_end', 'ddl_command_end', 'migrate_ops.ddl_capture', 'O'),
             ('migrate_ops_sql_drop', 'sql_drop', 'migrate_ops.ddl_capture', 'O'),
             ('migrate_ops_table_rewrite', 'table_rewrite', 'migrate_ops.ddl_capture', 'O')$$,
    'three event triggers on ddl_command_end, sql_drop and table_rewrite');
SELECT is((SELECT count(*) FROM pg_depend d JOIN pg_event_trigger e ON e.oid = d.objid
            WHERE d.classid = 'pg_event_trigger'::regclass AND d.deptype = 'e'
              AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'migrate_ops')), 3::bigint,
          'the event triggers belong to the extension');
SELECT ok((SELECT NOT prosecdef AND proconfig IS NULL
                   AND prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
             FROM pg_proc WHERE oid = 'migrate_ops.ddl_capture()'::regprocedure),
          'ddl_capture() is C, runs as the role whose DDL fired it, no SET clause');
SELECT ok((SELECT 'migrate_ops.ddl_log'::regclass = ANY (extconfig) FROM pg_extension WHERE extname = 'migrate_ops'),
          'ddl_log is a configuration table: pg_dump keeps its rows');
SELECT ok(NOT has_table_privilege('public', 'migrate_ops.ddl_log', 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE'),
          'PUBLIC has no privilege on ddl_log');
SELECT ok(NOT has_function_privilege('public', 'migrate_ops.ddl_capture()', 'EXECUTE'),
          'PUBLIC cannot execute ddl_capture()');
SELECT is(current_setting('migrate_ops.capture_ddl'), 'on', 'capture_ddl is on by default');
SELECT is(current_setting('migrate_ops.capture_statement_max'), '4kB', 'statements are kept up to 4 kB by default');
SELECT is((SELECT context FROM pg_settings WHERE name = 'migrate_ops.capture_ddl'), 'superuser',
          'capture_ddl is superuser-set');

-- ---------------------------------------------------------------- ddl_command_end
SET LOCAL application_name = 'tap-capture';
CREATE TABLE cap_orders (id bigint PRIMARY KEY, total numeric);
SELECT results_eq($$SELECT * FROM pg_temp.logged()$$,
    $$VALUES ('ddl_command_end', 'CREATE TABLE', 'table', 'public.cap_orders', NULL::text),
             ('ddl_command_end', 'CREATE INDEX', 'index', 'public.cap_orders_pkey', NULL)$$,
    'CREATE TABLE is logged (the table and its primary-key index) as soon as the statement ends');
SELECT results_eq(
    $$SELECT role, session_role, application_name, backend_pid, txid = pg_current_xact_id(),
             schema_name, statement, statement_truncated, logged_at >= now()
        FROM migrate_ops.ddl_log WHERE object_identity = 'public.cap_orders'$$,
    $$VALUES (current_user::text COLLATE "default", session_user::text COLLATE "default", 'tap-capture', pg_backend_pid(), true,
              'public', 'CREATE TABLE cap_orders (id bigint PRIMARY KEY, total numeric)', false, true)$$,
    'who, from where, which transaction, the schema and the statement text');
SELECT pg_temp.remark();

ALTER TABLE cap_orders ADD COLUMN status text NOT NULL DEFAULT 'new',
                       ADD CONSTRAINT cap_status_ok CHECK (status <> '');
SELECT results_eq($$SELECT * FROM pg_temp.logged()$$,
    $$VALUES ('ddl_command_end', 'ALTER TABLE', 'table', 'public.cap_orders', NULL::text),
             ('ddl_command_end', 'ALTER TABLE', 'table column', 'public.cap_orders.status', NULL),
             ('ddl_command_end', 'ALTER TABLE', 'table constraint', 'cap_status_ok on public.cap_orders', NULL)$$,
    'ALTER TABLE logs the table and each column and constraint it added');
SELECT pg_temp.remark();

GRANT SELECT ON cap_orders TO PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT results_eq($$SELECT * FROM pg_temp.logged()$$,
    $$VALUES ('ddl_command_end', 'GRANT', 'table', 'public.cap_orders', NULL::text),
             ('ddl_command_end', 'REVOKE', 'schema', 'public', NULL)$$,
    'GRANT and REVOKE are logged per object, with its identity');
SELECT pg_temp.remark();

CREATE TEMP TABLE cap_scratch (x int);
ALTER TABLE cap_scratch ADD COLUMN y int;
DROP TABLE cap_scratch;
SELECT is((SELECT count(*) FROM pg_temp.logged()), 0::bigint, 'temporary objects are not schema changes: nothing logged');

-- several statements in one DO block: each logged with its own text
DO $$BEGIN
  CREATE TABLE cap_a (id int);
  EXECUTE 'CREATE TABLE cap_b (id int)';
END$$;
SELECT results_eq($$SELECT object_identity, statement FROM migrate_ops.ddl_log WHERE id > (SELECT id FROM mark) ORDER BY id$$,
    $$VALUES ('public.cap_a', 'CREATE TABLE cap_a (id int)'), ('public.cap_b', 'CREATE TABLE cap_b (id int)')$$,
    'each statement of a DO block is logged with its own text, not the whole block');
SELECT pg_temp.remark();

-- ---------------------------------------------------------------- sql_drop
ALTER TABLE cap_orders DROP COLUMN status;
SELECT results_eq($$SELECT * FROM pg_temp.logged()$$,
    $$VALUES ('sql_drop', 'ALTER TABLE', 'table column', 'public.cap_orders.status', NULL::text),
             ('sql_drop', 'ALTER TABLE', 'table constraint', 'cap_status_ok on public.cap_orders', NULL),
             ('ddl_command_end', 'ALTER TABLE', 'table', 'public.cap_orders', NULL)$$,
    'DROP COLUMN: sql_drop logs the dropped column (and the constraint it took along) by name');
SELECT pg_temp.remark();

CREATE VIEW cap_view AS SELECT id FROM cap_a;
DROP TABLE cap_a CASCADE;
DROP TABLE cap_b;
SELECT results_eq($$SELECT * FROM pg_temp.logged() WHERE event = 'sql_drop'$$,
    $$VALUES ('sql_drop', 'DROP TABLE', 'table', 'public.cap_a', NULL::text),
             ('sql_drop', 'DROP TABLE', 'view', 'public.cap_view', NULL),
             ('sql_drop', 'DROP TABLE', 'table', 'public.cap_b', NULL)$$,
    'DROP TABLE logs the table and what CASCADE removed, not the row type, TOAST table or indexes');
SELECT pg_temp.remark();

-- ---------------------------------------------------------------- table_rewrite
INSERT INTO cap_orders VALUES (1, 10);
ALTER TABLE cap_orders ALTER COLUMN total TYPE bigint;
SELECT results_eq($$SELECT event, command_tag, object_identity, rewrite_reason FROM migrate_ops.ddl_log
                     WHERE id > (SELECT id FROM mark) ORDER BY id$$,
    $$VALUES ('table_rewrite', 'ALTER TABLE', 'public.cap_orders', 4),
             ('ddl_command_end', 'ALTER TABLE', 'public.cap_orders', NULL),
             ('ddl_command_end', 'ALTER TABLE', 'public.cap_orders.total', NULL)$$,
    'a table rewrite is logged with PostgreSQL''s reason (4 = column type change)');
SELECT pg_temp.remark();

-- ---------------------------------------------------------------- migrations
CALL migrate_ops.apply('cap-1', $$CREATE TABLE cap_m1 (id int);
ALTER TABLE cap_m1 ADD COLUMN note text;$$);
SELECT results_eq($$SELECT object_identity, migration, statement FROM migrate_ops.ddl_log
                     WHERE id > (SELECT id FROM mark) ORDER BY id$$,
    $$VALUES ('public.cap_m1', 'cap-1', 'CREATE TABLE cap_m1 (id int)'),
             ('public.cap_m1', 'cap-1', 'ALTER TABLE cap_m1 ADD COLUMN note text'),
             ('public.cap_m1.note', 'cap-1', 'ALTER TABLE cap_m1 ADD COLUMN note text')$$,
    'DDL run by apply() carries its version and each script statement''s own text');
SELECT pg_temp.remark();

SELECT throws_ok($$CALL migrate_ops.apply('cap-2', 'CREATE TABLE cap_m2 (id int); SELECT 1/0;')$$, '22012');
SELECT is((SELECT count(*) FROM pg_temp.logged()), 0::bigint, 'a failed apply() leaves no log row: its DDL was rolled back');

SELECT migrate_ops.start('cap-3', NULL, 'by another tool');
CREATE INDEX cap_m1_note ON cap_m1 (note);
SELECT migrate_ops.finish('cap-3');
CREATE INDEX cap_m1_id ON cap_m1 (id);
SELECT results_eq($$SELECT object_identity, migration FROM pg_temp.logged()$$,
    $$VALUES ('public.cap_m1_note', 'cap-3'), ('public.cap_m1_id', NULL)$$,
    'DDL between start() and finish() carries the version; after finish() it is out-of-band again');
SELECT pg_temp.remark();

-- ---------------------------------------------------------------- savepoints
SAVEPOINT s1;
CREATE TABLE cap_gone (id int);
ROLLBACK TO SAVEPOINT s1;
CREATE TABLE cap_kept (id int);
SELECT results_eq($$SELECT object_identity FROM pg_temp.logged()$$, $$VALUES ('public.cap_kept')$$,
                  'DDL rolled back to a savepoint leaves no log row');
SELECT pg_temp.remark();

-- ---------------------------------------------------------------- 300+ statements in one DO block
DO $$BEGIN
  FOR i IN 1..320 LOOP
    EXECUTE format('CREATE TABLE cap_many_%s (id int)', i);
  END LOOP;
END$$;
SELECT is((SELECT count(*) FROM pg_class WHERE relname LIKE 'cap\_many\_%' AND relkind = 'r'), 320::bigint,
          '320 DDL statements in one DO block all succeed');
SELECT is((SELECT count(DISTINCT object_identity) FROM pg_temp.logged() WHERE object_identity LIKE 'public.cap\_many\_%'),
          320::bigint, '... and all 320 are logged');
SELECT is((SELECT statement FROM migrate_ops.ddl_log WHERE object_identity = 'public.cap_many_320'),
          'CREATE TABLE cap_many_320 (id int)', '... each with its own statement');
SELECT pg_temp.remark();

-- ---------------------------------------------------------------- roles
CREATE ROLE tap_cap_dev NOLOGIN;
CREATE ROLE tap_cap_owner NOLOGIN;
GRANT CREATE ON SCHEMA public TO tap_cap_dev, tap_cap_owner;
CREATE FUNCTION cap_definer() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
    AS $$BEGIN CREATE TABLE cap_by_definer (id int); END$$;
ALTER FUNCTION cap_definer() OWNER TO tap_cap_owner;
SELECT pg_temp.remark();
SET ROLE tap_cap_dev;
CREATE TABLE cap_by_dev (id int);
SELECT cap_definer();
RESET ROLE;
SELECT results_eq($$SELECT object_identity, role, session_role FROM migrate_ops.ddl_log
                     WHERE id > (SELECT id FROM mark) ORDER BY id$$,
    $$VALUES ('public.cap_by_dev', 'tap_cap_dev', session_user::text COLLATE "default"),
             ('public.cap_by_definer', 'tap_cap_owner', session_user::text COLLATE "default")$$,
    'role is current_user of the DDL (SET ROLE, SECURITY DEFINER); session_role is the login role');
SELECT pg_temp.remark();

-- ---------------------------------------------------------------- settings
SET LOCAL migrate_ops.capture_ddl = off;
CREATE TABLE cap_unlogged_1 (id int);
SET LOCAL migrate_ops.capture_ddl = on;
CREATE TABLE cap_logged_1 (id int);
SELECT results_eq($$SELECT object_identity FROM pg_temp.logged()$$, $$VALUES ('public.cap_logged_1')$$,
                  'capture_ddl = off records nothing; on again, capture resumes');
SELECT pg_temp.remark();

SET LOCAL migrate_ops.capture_statement_max = 18;   -- 'CREATE TABLE cap_' is 17 bytes, 'ü' 2 more
CREATE TABLE cap_ünïcödé_naming (id int);
SELECT results_eq($$SELECT statement, statement_truncated FROM migrate_ops.ddl_log
                     WHERE id > (SELECT id FROM mark)$$,
    $$VALUES ('CREATE TABLE cap_', true)$$,
    'a long statement is cut to capture_statement_max bytes on a character boundary, and flagged');
SET LOCAL migrate_ops.capture_statement_max = 0;
CREATE TABLE cap_no_text (id int);
SELECT is((SELECT statement FROM migrate_ops.ddl_log WHERE object_identity = 'public.cap_no_text'), NULL,
          'capture_statement_max = 0 keeps no statement text');
RESET migrate_ops.capture_statement_max;
SELECT throws_ok($$SET migrate_ops.capture_statement_max = -1$$, '22023', NULL, 'capture_statement_max rejects negatives');
SELECT throws_ok($$SET migrate_ops.capture_statement_max = '2MB'$$, '22023', NULL, 'capture_statement_max is at most 1MB');
SELECT pg_temp.remark();

-- credentials in options: the statement text is not kept
CREATE FOREIGN DATA WRAPPER cap_fdw;
CREATE SERVER cap_srv FOREIGN DATA WRAPPER cap_fdw OPTIONS (host 'db.internal');
CREATE USER MAPPING FOR CURRENT_USER SERVER cap_srv OPTIONS (password 's3cr3t');
ALTER USER MAPPING FOR CURRENT_USER SERVER cap_srv OPTIONS (SET password 'n3w');
SELECT results_eq($$SELECT command_tag, statement IS NULL FROM migrate_ops.ddl_log WHERE id > (SELECT id FROM mark) ORDER BY id$$,
    $$VALUES ('CREATE FOREIGN DATA WRAPPER', false), ('CREATE SERVER', true),
             ('CREATE USER MAPPING', true), ('ALTER USER MAPPING', true)$$,
    'CREATE/ALTER SERVER and USER MAPPING are logged without their text (it may hold a password)');
SELECT is((SELECT count(*) FROM migrate_ops.ddl_log WHERE statement LIKE '%s3cr3t%' OR statement LIKE '%n3w%'), 0::bigint,
          'the password appears nowhere in the log');
SELECT pg_temp.remark();

-- ---------------------------------------------------------------- the trigger functions are not callable
SELECT throws_ok($$SELECT migrate_ops.ddl_capture()$$, '39P03',
                 'migrate_ops.ddl_capture() can only be called as an event trigger', 'ddl_capture() can only run as an event trigger');
SELECT throws_ok($$SELECT migrate_ops.ddl_log_append_only()$$, '39P01',
                 'migrate_ops.ddl_log_append_only() can only be called as a trigger', 'ddl_log_append_only() can only run as a trigger');

-- ---------------------------------------------------------------- tamper attempts
CREATE ROLE tap_cap_intruder NOLOGIN;
GRANT CREATE ON SCHEMA public TO tap_cap_intruder;
CREATE TEMP TABLE before_tamper AS SELECT count(*) AS n, max(id) AS last, md5(string_agg(t::text, '' ORDER BY id)) AS digest
  FROM migrate_ops.ddl_log t;
GRANT SELECT ON before_tamper TO tap_cap_intruder;
SET ROLE tap_cap_intruder;
SELECT throws_ok($$SELECT count(*) FROM migrate_ops.ddl_log$$, '42501', NULL, 'an unprivileged role cannot read the log');
SELECT throws_ok($$UPDATE migrate_ops.ddl_log SET role = 'someone_else'$$, '42501', NULL, '... nor update it');
SELECT throws_ok($$DELETE FROM migrate_ops.ddl_log$$, '42501', NULL, '... nor delete from it');
SELECT throws_ok($$TRUNCATE migrate_ops.ddl_log$$, '42501', NULL, '... nor truncate it');
SELECT throws_ok($$INSERT INTO migrate_ops.ddl_log (event, command_tag, role, session_role, backend_pid, txid)
                   VALUES ('ddl_command_end', 'CREATE TABLE', 'forged', 'forged', 1, '1')$$, '42501', NULL,
                 '... nor forge rows');
SELECT throws_ok($$ALTER TABLE migrate_ops.ddl_log DISABLE TRIGGER ddl_log_append_only$$, '42501', NULL,
                 '... nor disable its append-only trigger');
SELECT throws_ok($$ALTER EVENT TRIGGER migrate_ops_ddl_command_end DISABLE$$, '42501', NULL,
                 '... nor disable the event triggers');
SELECT throws_ok($$DROP EVENT TRIGGER migrate_ops_sql_drop$$, '42501', NULL, '... nor drop them');
SELECT throws_ok($$SET migrate_ops.capture_ddl = off$$, '42501', NULL, '... nor switch capture off');
SELECT throws_ok($$SET migrate_ops.capture_statement_max = 0$$, '42501', NULL, '... nor hide the statement text');
SELECT throws_ok($$SELECT migrate_ops.ddl_capture()$$, '42501', NULL, '... nor call the event-trigger function');
CREATE TABLE cap_by_intruder (id int);
RESET ROLE;
SELECT results_eq($$SELECT count(*) - 1, max(id) > (SELECT last FROM before_tamper),
                           md5(string_agg(t::text, '' ORDER BY id) FILTER (WHERE id <= (SELECT last FROM before_tamper)))
                      FROM migrate_ops.ddl_log t$$,
                  $$SELECT n, true, digest FROM before_tamper$$,
                  'after the attempts every row is unchanged, and the intruder''s own DDL was logged');
SELECT is((SELECT role FROM migrate_ops.ddl_log WHERE object_identity = 'public.cap_by_intruder'), 'tap_cap_intruder',
          '... under its own name');

-- append-only for everyone, the owner and roles granted write access included
SELECT throws_ok($$UPDATE migrate_ops.ddl_log SET role = 'x' WHERE id = (SELECT last FROM before_tamper)$$, '42501',
                 'migrate_ops.ddl_log is append-only', 'even a superuser cannot update a row');
SELECT throws_ok($$DELETE FROM migrate_ops.ddl_log$$, '42501', 'migrate_ops.ddl_log is append-only',
                 'even a superuser cannot delete rows');
SELECT throws_ok($$TRUNCATE migrate_ops.ddl_log$$, '42501', 'migrate_ops.ddl_log is append-only',
                 'even a superuser cannot truncate the log');
GRANT SELECT, UPDATE, DELETE ON migrate_ops.ddl_log TO tap_cap_dev;
SET ROLE tap_cap_dev;
SELECT throws_ok($$DELETE FROM migrate_ops.ddl_log WHERE role = 'tap_cap_dev'$$, '42501', 'migrate_ops.ddl_log is append-only',
                 'a role granted DELETE by mistake still cannot delete');
SELECT lives_ok($$SELECT count(*) FROM migrate_ops.ddl_log$$, 'a monitoring role granted SELECT reads the log');
RESET ROLE;
SELECT is((SELECT count(*) FROM migrate_ops.ddl_log), (SELECT n + 2 FROM before_tamper),
          'nothing was removed (the log grew by the intruder''s table and the GRANT)');

-- ---------------------------------------------------------------- what is not captured
SELECT pg_temp.remark();
CREATE EXTENSION IF NOT EXISTS plpgsql;
ALTER EXTENSION migrate_ops UPDATE;
SELECT is((SELECT count(*) FROM pg_temp.logged()), 0::bigint,
          'a no-op CREATE EXTENSION IF NOT EXISTS and ALTER EXTENSION migrate_ops are not logged');
CREATE SCHEMA cap_schema CREATE TABLE cap_inner (id int) CREATE VIEW cap_inner_v AS SELECT id FROM cap_inner;
SELECT results_eq($$SELECT command_tag, object_identity, statement FROM migrate_ops.ddl_log
                     WHERE id > (SELECT id FROM mark) ORDER BY id$$,
    $$VALUES ('CREATE SCHEMA', 'cap_schema', 'CREATE SCHEMA cap_schema CREATE TABLE cap_inner (id int) CREATE VIEW cap_inner_v AS SELECT id FROM cap_inner'),
             ('CREATE TABLE', 'cap_schema.cap_inner', 'CREATE SCHEMA cap_schema CREATE TABLE cap_inner (id int) CREATE VIEW cap_inner_v AS SELECT id FROM cap_inner'),
             ('CREATE VIEW', 'cap_schema.cap_inner_v', 'CREATE SCHEMA cap_schema CREATE TABLE cap_inner (id int) CREATE VIEW cap_inner_v AS SELECT id FROM cap_inner')$$,
    'CREATE SCHEMA with elements logs the schema and each element under the whole statement');

-- ---------------------------------------------------------------- drift() attribution
CREATE TEMP TABLE attribution_snap AS SELECT migrate_ops.snapshot('before attribution') AS id;
SET ROLE tap_cap_dev;
SET LOCAL application_name = 'ops-console';
ALTER TABLE cap_by_dev ADD COLUMN hotfix int;
COMMENT ON TABLE cap_by_dev IS 'patched by hand';
GRANT SELECT ON cap_by_dev TO PUBLIC;
RESET ROLE;
SET LOCAL application_name = 'tap-capture';
CALL migrate_ops.apply('cap-9', $$CREATE INDEX cap_m1_note_2 ON cap_m1 (note);
ALTER TABLE cap_m1 DROP COLUMN note;$$);
SELECT results_eq(
    $$SELECT kind, identity, change, changed_by, application_name, migration, changed_at IS NOT NULL
        FROM migrate_ops.drift((SELECT id FROM attribution_snap))
       WHERE identity IN ('public.cap_by_dev.hotfix', 'table public.cap_by_dev', 'public.cap_m1.note')
       ORDER BY kind, identity$$,
    $$VALUES ('column', 'public.cap_by_dev.hotfix', 'added', 'tap_cap_dev', 'ops-console', NULL, true),
             ('column', 'public.cap_m1.note', 'removed', current_user::text COLLATE "default", 'tap-capture', 'cap-9', true),
             ('comment', 'table public.cap_by_dev', 'added', 'tap_cap_dev', 'ops-console', NULL, true),
             ('privilege', 'table public.cap_by_dev', 'changed', 'tap_cap_dev', 'ops-console', NULL, true)$$,
    'drift() attribution: an out-of-band change shows the role and application that made it; '
    'a change made by apply() shows its migration version');
SELECT is((SELECT changed_at FROM migrate_ops.drift((SELECT id FROM attribution_snap))
            WHERE identity = 'public.cap_by_dev.hotfix'),
          (SELECT logged_at FROM migrate_ops.ddl_log WHERE object_identity = 'public.cap_by_dev.hotfix'),
          'changed_at is when the log recorded the change');
SELECT is((SELECT count(*) FROM migrate_ops.drift((SELECT id FROM attribution_snap)) WHERE changed_by IS NULL), 0::bigint,
          'every drifted object is attributed');

-- ---------------------------------------------------------------- retention by hand
SELECT throws_ok($$SELECT migrate_ops.prune_ddl_log(NULL)$$, '22004', 'older_than must not be null', 'prune_ddl_log: NULL');
SELECT throws_ok($$SELECT migrate_ops.prune_ddl_log('-1 day')$$, '22023', 'older_than must not be negative',
                 'prune_ddl_log: a negative age');
SET ROLE tap_cap_intruder;
SELECT throws_ok($$SELECT migrate_ops.prune_ddl_log('0')$$, '42501', NULL, 'prune_ddl_log is not for PUBLIC');
RESET ROLE;
CREATE TEMP TABLE before_prune AS SELECT count(*) AS n FROM migrate_ops.ddl_log;
SELECT is(migrate_ops.prune_ddl_log('1 hour'), 0::bigint, 'nothing is older than an hour: nothing pruned');
SELECT is((SELECT count(*) FROM migrate_ops.ddl_log), (SELECT n FROM before_prune), '... and every row is still there');
SELECT is(migrate_ops.prune_ddl_log('0'), (SELECT n FROM before_prune), 'prune_ddl_log(''0'') removes every row logged so far');
SELECT is((SELECT count(*) FROM migrate_ops.ddl_log), 0::bigint, '... leaving the log empty');
SELECT throws_ok($$DELETE FROM migrate_ops.ddl_log$$, '42501', 'migrate_ops.ddl_log is append-only',
                 'after pruning, the log is append-only again');
CREATE TABLE cap_after_prune (id int);
SELECT is((SELECT count(*) FROM migrate_ops.ddl_log WHERE object_identity = 'public.cap_after_prune'), 1::bigint,
          'capture goes on after pruning');

SELECT * FROM finish();
ROLLBACK;
