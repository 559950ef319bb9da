-- DDL capture as psql users meet it: each statement in its own transaction
-- (autocommit), so what happens at commit shows — the ddl.out_of_band
-- event, one per transaction — and what a rollback takes away.
CREATE EXTENSION migrate_ops;
SET application_name = 'regress-capture';

-- out-of-band DDL: logged with who, from where, and the statement
CREATE TABLE cap_orders (id bigint PRIMARY KEY, total numeric);
SELECT id, event, command_tag, object_type, object_identity, schema_name, migration, statement,
       role = current_user AS by_me, application_name, backend_pid = pg_backend_pid() AS my_pid
  FROM migrate_ops.ddl_log ORDER BY id;

-- ... and its transaction emitted one ddl.out_of_band event listing it
SELECT event, created_by = current_user AS by_me, payload->>'count' AS count,
       payload->>'first_log_id' AS first_log_id, payload->>'last_log_id' AS last_log_id,
       payload->>'application_name' AS application_name, payload->>'role' = current_user AS role_is_me,
       jsonb_pretty(payload->'commands') AS commands
  FROM migrate_ops.events ORDER BY id;

-- a transaction that rolls back leaves neither log rows nor an event
BEGIN;
CREATE TABLE cap_never (id int);
ALTER TABLE cap_orders ADD COLUMN never int;
ROLLBACK;
SELECT count(*) AS rows_after_rollback FROM migrate_ops.ddl_log WHERE object_identity LIKE '%never%';
SELECT count(*) AS events_after_rollback FROM migrate_ops.events;

-- several DDL statements in one transaction: one event listing them all,
-- without what a rolled-back savepoint undid
BEGIN;
CREATE TABLE cap_a (id int);
SAVEPOINT s;
CREATE TABLE cap_undone (id int);
ROLLBACK TO SAVEPOINT s;
CREATE INDEX cap_a_id ON cap_a (id);
DROP TABLE cap_a;
COMMIT;
SELECT payload->>'count' AS count,
       jsonb_path_query_array(payload, '$.commands[*].event') AS events,
       jsonb_path_query_array(payload, '$.commands[*].object_identity') AS objects
  FROM migrate_ops.events ORDER BY id DESC LIMIT 1;

-- 300 statements in one DO block: all succeed and are logged; one event,
-- which lists the first 50 and counts the rest
DO $$BEGIN
  FOR i IN 1..300 LOOP
    EXECUTE format('CREATE TABLE cap_many_%s (id int)', i);
  END LOOP;
END$$;
SELECT count(*) AS tables FROM pg_class WHERE relname LIKE 'cap\_many\_%';
SELECT count(*) AS logged FROM migrate_ops.ddl_log WHERE object_identity LIKE 'public.cap\_many\_%';
SELECT payload->>'count' AS count, jsonb_array_length(payload->'commands') AS listed,
       payload->'commands'->0->>'object_identity' AS first_listed,
       payload->'commands'->49->>'object_identity' AS last_listed
  FROM migrate_ops.events ORDER BY id DESC LIMIT 1;
SELECT count(*) AS out_of_band_events FROM migrate_ops.events WHERE event = 'ddl.out_of_band';

-- a longer one (2,500 commands) is written as it goes, in bounded memory: all logged, one event
DO $$BEGIN
  FOR i IN 1..1200 LOOP
    EXECUTE format('COMMENT ON TABLE cap_orders IS %L', 'note ' || i);
  END LOOP;
  RAISE NOTICE 'already in the log while the block runs: %',
    (SELECT count(*) FROM migrate_ops.ddl_log WHERE command_tag = 'COMMENT');
  FOR i IN 1201..2500 LOOP
    EXECUTE format('COMMENT ON TABLE cap_orders IS %L', 'note ' || i);
  END LOOP;
END$$;
SELECT count(*) AS logged, count(DISTINCT statement) AS statements, min(id) + 2499 = max(id) AS consecutive
  FROM migrate_ops.ddl_log WHERE command_tag = 'COMMENT';
SELECT payload->>'count' AS count, jsonb_array_length(payload->'commands') AS listed
  FROM migrate_ops.events ORDER BY id DESC LIMIT 1;

-- DDL run by apply() carries its version, each statement its own text,
-- and no ddl.out_of_band event is emitted for it
CALL migrate_ops.apply('1', $$CREATE TABLE cap_widgets (id int);
ALTER TABLE cap_widgets ADD COLUMN name text;$$);
SELECT object_type, object_identity, migration, statement
  FROM migrate_ops.ddl_log WHERE migration IS NOT NULL ORDER BY id;
SELECT event FROM migrate_ops.events WHERE id > (SELECT max(id) - 2 FROM migrate_ops.events) ORDER BY id;

-- a failing apply(): its DDL is rolled back, and its log rows with it
CALL migrate_ops.apply('2', $$CREATE TABLE cap_broken (id int);
SELECT 1/0;$$);
SELECT count(*) AS broken_rows FROM migrate_ops.ddl_log WHERE object_identity = 'public.cap_broken';

-- record-only mode: DDL between start() and finish() carries the version
SELECT migrate_ops.start('3', NULL, 'run by another tool');
CREATE TABLE cap_recorded (id int);
SELECT migrate_ops.finish('3');
SELECT object_identity, migration FROM migrate_ops.ddl_log WHERE object_identity = 'public.cap_recorded';

-- a procedure that commits: each of its transactions logs and tells its own
CREATE PROCEDURE cap_proc() LANGUAGE plpgsql AS $$
BEGIN
  CREATE TABLE cap_p1 (id int);
  COMMIT;
  CREATE TABLE cap_p2 (id int);
END$$;
CALL cap_proc();
SELECT payload->>'count' AS count, payload->'commands'->0->>'object_identity' AS object
  FROM migrate_ops.events WHERE event = 'ddl.out_of_band' ORDER BY id DESC LIMIT 2;

-- capture switched off for a session (superuser): nothing logged, no event
SET migrate_ops.capture_ddl = off;
CREATE TABLE cap_quiet (id int);
RESET migrate_ops.capture_ddl;
SELECT count(*) AS quiet_rows FROM migrate_ops.ddl_log WHERE object_identity = 'public.cap_quiet';
SELECT count(*) AS quiet_events FROM migrate_ops.events WHERE payload::text LIKE '%cap_quiet%';

-- A cancel (statement_timeout) that lands while capture writes is a cancel, not a
-- WARNING: the statement fails with 57014 and its transaction leaves nothing behind.
-- A BEFORE INSERT trigger on the log that sleeps holds the write until the timeout.
SET migrate_ops.capture_ddl = off;
CREATE FUNCTION cap_slow_log() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN PERFORM pg_sleep(10); RETURN NEW; END$$;
CREATE TRIGGER cap_slow BEFORE INSERT ON migrate_ops.ddl_log FOR EACH ROW EXECUTE FUNCTION cap_slow_log();
RESET migrate_ops.capture_ddl;
-- (PostgreSQL stops the statement timeout before a commit, so the write at the
-- commit of an autocommit statement cannot be cancelled that way.)
SET statement_timeout = '1s';
BEGIN;
CREATE TABLE cap_cancelled (id int);
SELECT 'not reached';
ROLLBACK;
RESET statement_timeout;
SELECT to_regclass('cap_cancelled') AS cancelled,
       (SELECT count(*) FROM migrate_ops.ddl_log WHERE object_identity = 'public.cap_cancelled') AS logged;
SET migrate_ops.capture_ddl = off;
DROP TRIGGER cap_slow ON migrate_ops.ddl_log;
DROP FUNCTION cap_slow_log();
RESET migrate_ops.capture_ddl;

-- A damaged install (a column of the log dropped by hand): the DDL goes on, the
-- rows are not written, and a WARNING names the column (42703).
BEGIN;
ALTER TABLE migrate_ops.ddl_log DROP COLUMN statement;
CREATE TABLE cap_damaged (id int);
SELECT to_regclass('cap_damaged') IS NOT NULL AS created,
       (SELECT count(*) FROM migrate_ops.ddl_log WHERE object_identity = 'public.cap_damaged') AS logged;
ROLLBACK;

-- dropping the extension in a transaction that also ran DDL: no event, no warning
BEGIN;
CREATE TABLE cap_last (id int);
DROP EXTENSION migrate_ops;
COMMIT;
CREATE EXTENSION migrate_ops;
DO $$BEGIN
  CREATE TABLE cap_very_last (id int);
  DROP EXTENSION migrate_ops;
END$$;

DROP SCHEMA migrate_ops;
DROP PROCEDURE cap_proc();
DROP TABLE cap_orders, cap_widgets, cap_recorded, cap_p1, cap_p2, cap_quiet, cap_last, cap_very_last;
DO $$BEGIN
  FOR i IN 1..300 LOOP
    EXECUTE format('DROP TABLE cap_many_%s', i);
  END LOOP;
END$$;
