-- When captured DDL reaches migrate_ops.ddl_log inside a transaction block
-- (capture.c, CapturePostParseAnalyze): the top-level DDL statements in a
-- row are collected and written together — one internal subtransaction,
-- so their rows share one xmin — before the first statement that is not
-- DDL, which therefore sees them (as does everything after it); a
-- savepoint's rows follow it.  Autocommit statements and the commit-time
-- write (one subtransaction for the rows and the ddl.out_of_band event)
-- are covered by sql/capture.sql and test/integration/capture.sh.
BEGIN;
SELECT plan(19);

CREATE TEMP TABLE mark (id bigint);
INSERT INTO mark SELECT coalesce(max(id), 0) FROM migrate_ops.ddl_log;
-- How many separate writes (subtransactions) logged these objects.
CREATE FUNCTION pg_temp.writes(VARIADIC identities text[]) RETURNS bigint LANGUAGE sql AS
$$SELECT count(DISTINCT xmin::text) FROM migrate_ops.ddl_log
   WHERE id > (SELECT id FROM mark) AND object_identity = ANY (identities)$$;
CREATE FUNCTION pg_temp.logged(identity text) RETURNS bigint LANGUAGE sql AS
$$SELECT count(*) FROM migrate_ops.ddl_log WHERE id > (SELECT id FROM mark) AND object_identity = identity$$;
PREPARE logged_b4 AS
    SELECT count(*) FROM migrate_ops.ddl_log WHERE object_identity = 'public.bat_b4';

-- ---------------------------------------------------------------- DDL in a row: one write
CREATE TABLE bat_a1 (id int);
CREATE TABLE bat_a2 (id int);
ALTER TABLE bat_a1 ADD COLUMN note text;
COMMENT ON TABLE bat_a2 IS 'three DDL statements in a row';
SELECT is(pg_temp.logged('public.bat_a1') + pg_temp.logged('public.bat_a2')
          + pg_temp.logged('public.bat_a1.note'), 5::bigint,
          'the statement after four DDL statements sees all their rows');
SELECT is(pg_temp.writes('public.bat_a1', 'public.bat_a2', 'public.bat_a1.note'), 1::bigint,
          '... written together, in one internal subtransaction (one xmin)');
SELECT ok((SELECT bool_and(xmin::text <> pg_current_xact_id()::text) FROM migrate_ops.ddl_log
            WHERE id > (SELECT id FROM mark)),
          '... a subtransaction of its own, not the transaction''s');
SELECT is((SELECT array_agg(object_identity ORDER BY id)::text FROM migrate_ops.ddl_log
            WHERE id > (SELECT id FROM mark)),
          '{public.bat_a1,public.bat_a2,public.bat_a1,public.bat_a1.note,public.bat_a2}',
          '... in the order the commands ran');
SELECT is((SELECT count(DISTINCT logged_at) FROM migrate_ops.ddl_log WHERE object_identity = 'public.bat_a1'
              AND command_tag = 'CREATE TABLE' AND id > (SELECT id FROM mark)), 1::bigint,
          '... each row keeps the time its command ran');

-- A statement that is not DDL in between: two writes.
CREATE TABLE bat_c1 (id int);
SELECT 1;
CREATE TABLE bat_c2 (id int);
SELECT is(pg_temp.writes('public.bat_c1', 'public.bat_c2'), 2::bigint,
          'DDL on either side of a query is written in two parts');

-- ---------------------------------------------------------------- what sees the rows
CREATE TEMP TABLE do_result (n bigint);
CREATE TABLE bat_b1 (id int);
DO $$BEGIN
    INSERT INTO do_result SELECT count(*) FROM migrate_ops.ddl_log WHERE object_identity = 'public.bat_b1';
END$$;
SELECT is((SELECT n FROM do_result), 1::bigint, 'a DO block after DDL sees its row');

CREATE FUNCTION pg_temp.fetch_count(c refcursor) RETURNS bigint LANGUAGE plpgsql AS
$$DECLARE n bigint; BEGIN FETCH c INTO n; RETURN n; END$$;
CREATE TABLE bat_b2 (id int);
DECLARE bat_cur CURSOR FOR SELECT count(*) FROM migrate_ops.ddl_log WHERE object_identity = 'public.bat_b2';
SELECT is(pg_temp.fetch_count('bat_cur'), 1::bigint, 'a cursor declared after DDL sees its row');
CLOSE bat_cur;
CREATE TABLE bat_b3 (id int);
CREATE TEMP TABLE bat_ctas AS
    SELECT count(*) AS n FROM migrate_ops.ddl_log WHERE object_identity = 'public.bat_b3';
SELECT is((SELECT n FROM bat_ctas), 1::bigint, 'CREATE TABLE AS after DDL sees its row');

CREATE TABLE bat_b4 (id int);
EXECUTE logged_b4;
CREATE TEMP TABLE exec_result AS EXECUTE logged_b4;
SELECT is((SELECT count FROM exec_result), 1::bigint,
          'EXECUTE of a statement prepared before the DDL sees its row');

CREATE FUNCTION pg_temp.ddl_then_read() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    CREATE TABLE bat_f1 (id int);
    RETURN (SELECT count(*) FROM migrate_ops.ddl_log WHERE object_identity = 'public.bat_f1');
END$$;
SELECT is(pg_temp.ddl_then_read(), 1::bigint, 'a function that runs DDL and then reads the log sees its row');

CREATE FUNCTION pg_temp.stable_read(identity text) RETURNS bigint STABLE LANGUAGE sql AS
$$SELECT count(*) FROM migrate_ops.ddl_log WHERE object_identity = identity$$;
CREATE TABLE bat_b5 (id int);
SELECT is(pg_temp.stable_read('public.bat_b5'), 1::bigint, 'a STABLE function called after DDL sees its row');

-- ---------------------------------------------------------------- savepoints
SAVEPOINT sp1;
CREATE TABLE bat_s1 (id int);
ROLLBACK TO SAVEPOINT sp1;
CREATE TABLE bat_s2 (id int);
SELECT is(pg_temp.logged('public.bat_s1'), 0::bigint, 'DDL of a savepoint rolled back before it was written: no row');
SELECT is(pg_temp.logged('public.bat_s2'), 1::bigint, '... the DDL after it is logged');
SAVEPOINT sp2;
CREATE TABLE bat_s3 (id int);
RELEASE SAVEPOINT sp2;
CREATE TABLE bat_s4 (id int);
SELECT is(pg_temp.logged('public.bat_s3') + pg_temp.logged('public.bat_s4'), 2::bigint,
          'DDL of a released savepoint is logged with the DDL after it');
SELECT is(pg_temp.writes('public.bat_s3', 'public.bat_s4'), 1::bigint, '... in one write');
SAVEPOINT sp3;
CREATE TABLE bat_s5 (id int);
SELECT is(pg_temp.logged('public.bat_s5'), 1::bigint, 'DDL in an open savepoint is written before the next query');
ROLLBACK TO SAVEPOINT sp3;
SELECT is(pg_temp.logged('public.bat_s5'), 0::bigint, '... and rolled back with the savepoint');

SELECT is((SELECT count(*) FROM pg_class WHERE relname LIKE 'bat\_%' AND relkind = 'r' AND relpersistence = 'p'),
          13::bigint, 'every table of this test that was not rolled back exists');

SELECT * FROM finish();
ROLLBACK;
