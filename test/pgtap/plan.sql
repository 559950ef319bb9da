-- plan(): the dry run on real tables.  Locks as the server took them (and
-- lint() predicting the same modes), rewrites seen as relfilenode changes
-- (and lint() predicting the same ones), rows and time per statement, a
-- script failing midway, the migration timeouts, and nothing persisting:
-- no schema or data change, no ledger row, no event, no event-trigger row.
SET client_min_messages = warning;

-- Existing tables with rows, committed before the test's transaction (so the
-- locks plan() takes on them are its own).
CREATE TABLE pl_customers (id int PRIMARY KEY, name text);
CREATE TABLE pl_orders (id bigint PRIMARY KEY, customer_id int, total numeric(10,2), note varchar(20),
                        status text, created timestamp, flag boolean);
INSERT INTO pl_customers SELECT g, 'c' || g FROM generate_series(1, 100) g;
INSERT INTO pl_orders SELECT g, 1 + g % 100, g, 'n', 'new', '2025-01-01', true FROM generate_series(1, 1000) g;
CREATE INDEX pl_orders_status ON pl_orders (status);
ALTER TABLE pl_orders ADD CONSTRAINT pl_total_check CHECK (total >= 0) NOT VALID;
CREATE DOMAIN pl_posint AS int CHECK (VALUE > 0);
CREATE TABLE pl_events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE pl_events_2025 PARTITION OF pl_events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE MATERIALIZED VIEW pl_mv AS SELECT count(*) FROM pl_customers;
CREATE TABLE pl_loose (id int);
CREATE SEQUENCE pl_seq;
-- A team's own event trigger writing a log table: plan() must leave no row.
CREATE TABLE pl_ddl_log (tag text);
CREATE FUNCTION pl_log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO pl_ddl_log VALUES (tg_tag); END $$;
CREATE EVENT TRIGGER pl_log_ddl ON ddl_command_end WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'DROP TABLE')
    EXECUTE FUNCTION pl_log_ddl();

BEGIN;
SELECT plan(102);

-- Lock modes lint() predicts and plan() observes, on tables (one statement per plan()).
CREATE FUNCTION pg_temp.lint_locks(script text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(relation || '=' || lock_mode, ', ' ORDER BY relation), '')
      FROM (SELECT DISTINCT relation, lock_mode FROM migrate_ops.lint(script) WHERE lock_mode IS NOT NULL) l $$;
-- (lint() is about the locks a statement takes to change things; reads' ACCESS SHARE is left out.)
CREATE FUNCTION pg_temp.plan_locks(script text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(object || '=' || detail, ', ' ORDER BY object), '')
      FROM migrate_ops.plan(script)
     WHERE section = 'lock' AND kind IN ('table', 'partitioned table', 'materialized view') AND detail <> 'ACCESS SHARE'
        OR section = 'error' $$;
-- Does lint() predict a rewrite, does plan() see one?
CREATE FUNCTION pg_temp.lint_rewrites(script text) RETURNS boolean LANGUAGE sql AS $$
    SELECT EXISTS (SELECT FROM migrate_ops.lint(script) WHERE rule_id IN
        ('add_column_volatile_default', 'alter_column_type_rewrite', 'set_logged_unlogged', 'set_tablespace', 'cluster')) $$;
CREATE FUNCTION pg_temp.plan_rewrites(script text) RETURNS boolean LANGUAGE sql AS $$
    SELECT CASE WHEN bool_or(section = 'error') THEN NULL  -- a failing statement proves nothing: the test fails
                ELSE bool_or(section = 'rewrite' AND object = 'public.pl_orders') END
      FROM migrate_ops.plan(script) $$;

-- ---------------------------------------------------------------- shape
SELECT has_function('migrate_ops', 'plan', ARRAY['text'], 'plan(text) exists');
SELECT is(prosecdef, false, 'plan() runs as the caller') FROM pg_proc WHERE oid = 'migrate_ops.plan(text)'::regprocedure;

-- ---------------------------------------------------------------- statements: rows and time
SELECT results_eq($$SELECT section, statement, line, command, rows FROM migrate_ops.plan(E'UPDATE pl_orders SET status = ''paid'' WHERE id <= 10;\nDELETE FROM pl_orders WHERE id > 995;\n\nINSERT INTO pl_customers SELECT g, ''n'' FROM generate_series(101, 103) g;\nSELECT * FROM pl_customers') WHERE section = 'statement'$$,
                  $$VALUES ('statement', 1, 1, 'UPDATE', 10::bigint), ('statement', 2, 2, 'DELETE', 5::bigint),
                           ('statement', 3, 4, 'INSERT', 3::bigint), ('statement', 4, 5, 'SELECT', 103::bigint)$$,
                  'one row per statement with its number, line, command and rows affected');
SELECT ok((SELECT bool_and(ms >= 0) AND count(*) = 1 FROM migrate_ops.plan('SELECT pg_sleep(0.05)') WHERE section = 'statement' AND ms >= 50),
          'the time each statement took (ms)');
SELECT is((SELECT detail FROM migrate_ops.plan(E'UPDATE pl_orders\n   SET status = ''paid'' WHERE id = 1') WHERE section = 'statement'),
          'UPDATE pl_orders...', 'the statement''s first line identifies it');
SELECT is((SELECT count(*) FROM migrate_ops.plan('')), 0::bigint, 'an empty script: no rows');

-- ---------------------------------------------------------------- locks, on real tables
SELECT results_eq($$SELECT statement, kind, object, detail FROM migrate_ops.plan(E'ALTER TABLE pl_orders ADD COLUMN x int;\nCREATE INDEX ON pl_customers (name)') WHERE section = 'lock' ORDER BY statement, object$$,
                  $$VALUES (1, 'table', 'public.pl_orders', 'ACCESS EXCLUSIVE'), (2, 'table', 'public.pl_customers', 'SHARE')$$,
                  'ADD COLUMN takes ACCESS EXCLUSIVE, CREATE INDEX SHARE (read from the lock table before the rollback)');
SELECT is((SELECT count(*) FROM migrate_ops.plan(E'ALTER TABLE pl_orders ADD COLUMN x int;\nALTER TABLE pl_orders ADD COLUMN y int') WHERE section = 'lock' AND statement = 2),
          0::bigint, 'a lock the script already holds is reported where it was first taken');
SELECT is((SELECT count(*) FROM migrate_ops.plan('CREATE TABLE pl_new (id int); CREATE INDEX ON pl_new (id)') WHERE section = 'lock'),
          0::bigint, 'locks on relations the script creates are not reported (nobody else can see them)');
SELECT is(pg_temp.plan_locks(s), pg_temp.lint_locks(s), 'lint() and the server agree: ' || s)
  FROM unnest(ARRAY[
    'ALTER TABLE pl_orders DROP COLUMN note',
    'ALTER TABLE pl_orders ADD COLUMN x int',
    'ALTER TABLE pl_orders ALTER customer_id TYPE bigint',
    'ALTER TABLE pl_orders RENAME COLUMN note TO memo',
    'CREATE INDEX ON pl_orders (total)',
    'ALTER TABLE pl_orders ADD CONSTRAINT pl_c CHECK (total < 1e6) NOT VALID',
    'ALTER TABLE pl_orders VALIDATE CONSTRAINT pl_total_check',
    'ALTER TABLE pl_orders ADD FOREIGN KEY (customer_id) REFERENCES pl_customers (id) NOT VALID',
    'ALTER TABLE pl_orders ADD FOREIGN KEY (customer_id) REFERENCES pl_customers (id)',
    'CREATE TRIGGER pl_t BEFORE UPDATE ON pl_orders FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()',
    'DROP INDEX pl_orders_status',
    'REINDEX INDEX pl_orders_status',
    'REINDEX TABLE pl_orders',
    'TRUNCATE pl_orders',
    'UPDATE pl_orders SET flag = NOT flag',
    'DELETE FROM pl_customers',
    'ALTER TABLE pl_orders SET (fillfactor = 70)',
    'ALTER TABLE pl_orders ALTER total SET STATISTICS 100',
    'COMMENT ON TABLE pl_orders IS $$orders$$',
    'LOCK TABLE pl_orders IN SHARE ROW EXCLUSIVE MODE',
    'ANALYZE pl_orders',
    'CLUSTER pl_orders USING pl_orders_pkey',
    'REFRESH MATERIALIZED VIEW pl_mv',
    'ALTER TABLE pl_orders ALTER status SET NOT NULL',
    'ALTER TABLE pl_orders ALTER flag DROP NOT NULL',
    'ALTER TABLE pl_orders RENAME TO pl_orders2',
    $$CREATE TABLE pl_events_2026 PARTITION OF pl_events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')$$,
    'ALTER TABLE pl_events DETACH PARTITION pl_events_2025',
    'DROP TABLE pl_loose']) AS s;

-- ---------------------------------------------------------------- rewrites, on real tables
SELECT results_eq($$SELECT statement, kind, object, detail ~ '^relfilenode \d+ -> \d+$' FROM migrate_ops.plan(E'ALTER TABLE pl_orders ALTER note TYPE text;\nALTER TABLE pl_orders ALTER customer_id TYPE bigint') WHERE section = 'rewrite'$$,
                  $$VALUES (2, 'table', 'public.pl_orders', true)$$,
                  'varchar -> text is no rewrite; int -> bigint rewrites (relfilenode changed)');
SET LOCAL timezone = 'UTC';
SELECT is(pg_temp.plan_rewrites(s), pg_temp.lint_rewrites(s), 'lint() predicts what the server does (' ||
          CASE WHEN pg_temp.plan_rewrites(s) THEN 'rewrite' ELSE 'no rewrite' END || '): ' || s)
  FROM unnest(ARRAY[
    'ALTER TABLE pl_orders ALTER note TYPE text',
    'ALTER TABLE pl_orders ALTER note TYPE varchar(40)',
    'ALTER TABLE pl_orders ALTER note TYPE varchar(5)',
    'ALTER TABLE pl_orders ALTER status TYPE varchar',
    'ALTER TABLE pl_orders ALTER status TYPE varchar(100)',
    'ALTER TABLE pl_orders ALTER total TYPE numeric(12,2)',
    'ALTER TABLE pl_orders ALTER total TYPE numeric',
    'ALTER TABLE pl_orders ALTER total TYPE numeric(12,4)',
    'ALTER TABLE pl_orders ALTER customer_id TYPE bigint',
    'ALTER TABLE pl_orders ALTER customer_id TYPE pl_posint',
    'ALTER TABLE pl_orders ALTER created TYPE timestamptz',
    'ALTER TABLE pl_orders ALTER created TYPE timestamp(3)',
    'ALTER TABLE pl_orders ADD COLUMN x int DEFAULT 0',
    'ALTER TABLE pl_orders ADD COLUMN x timestamptz NOT NULL DEFAULT now()',
    'ALTER TABLE pl_orders ADD COLUMN x float8 DEFAULT random()',
    'ALTER TABLE pl_orders ADD COLUMN x bigserial',
    'ALTER TABLE pl_orders ADD COLUMN x int GENERATED ALWAYS AS IDENTITY',
    'ALTER TABLE pl_orders ADD COLUMN x bigint GENERATED ALWAYS AS (id * 2) STORED',
    'ALTER TABLE pl_orders ADD COLUMN x pl_posint',
    'ALTER TABLE pl_orders ADD COLUMN x int',
    'ALTER TABLE pl_orders SET UNLOGGED',
    'CLUSTER pl_orders USING pl_orders_pkey']) AS s;
SET LOCAL timezone = 'Europe/Paris';
SELECT is(pg_temp.plan_rewrites('ALTER TABLE pl_orders ALTER created TYPE timestamptz'), true,
          'outside UTC timestamp -> timestamptz rewrites...');
SELECT is(pg_temp.lint_rewrites('ALTER TABLE pl_orders ALTER created TYPE timestamptz'), true, '... and lint() says so');
RESET timezone;

-- ---------------------------------------------------------------- a script failing midway
CREATE TEMP TABLE pl_before AS SELECT (SELECT count(*) FROM pl_orders) AS orders,
    (SELECT status FROM pl_orders WHERE id = 1) AS status1, (SELECT count(*) FROM pl_ddl_log) AS ddl_rows,
    (SELECT count(*) FROM migrate_ops.events) AS events, (SELECT count(*) FROM migrate_ops.ddl_log) AS ddl_log_rows;
SELECT results_eq($$SELECT section, statement, line, command, kind, detail FROM migrate_ops.plan(E'UPDATE pl_orders SET status = ''x'' WHERE id = 1;\nALTER TABLE pl_orders ADD COLUMN y int;\nINSERT INTO pl_orders (id) VALUES (1);\nDROP TABLE pl_orders;') WHERE section IN ('statement', 'error')$$,
                  $$VALUES ('statement', 1, 1, 'UPDATE', NULL, 'UPDATE pl_orders SET status = ''x'' WHERE id = 1'),
                           ('statement', 2, 2, 'ALTER TABLE', NULL, 'ALTER TABLE pl_orders ADD COLUMN y int'),
                           ('error', 3, 3, 'INSERT', '23505', E'duplicate key value violates unique constraint "pl_orders_pkey"\nDETAIL: Key (id)=(1) already exists.')$$,
                  'the failure is reported with its statement, line, SQLSTATE and message; the rest does not run');
SELECT is((SELECT count(*) FROM migrate_ops.plan(E'ALTER TABLE pl_orders ADD COLUMN y int;\nSELECT 1/0;') WHERE section = 'lock' AND statement = 1),
          1::bigint, 'the statements before the failure are still measured');
SELECT hasnt_column('public', 'pl_orders', 'y', 'after a failed plan: no schema change');
SELECT is((SELECT status FROM pl_orders WHERE id = 1), (SELECT status1 FROM pl_before), 'no data change');
SELECT has_table('public', 'pl_orders', 'the statement after the failure did not run');

-- ---------------------------------------------------------------- nothing persists
SELECT is((SELECT count(*) FROM migrate_ops.plan($$
    CREATE TABLE pl_created (id int);
    INSERT INTO pl_created VALUES (1);
    ALTER TABLE pl_orders ADD COLUMN z int DEFAULT 7;
    DELETE FROM pl_orders WHERE id > 500;
    UPDATE pl_customers SET name = 'gone';
    DROP TABLE pl_loose;
    CALL migrate_ops.apply('pl1', 'CREATE TABLE pl_applied (id int);');
    SELECT migrate_ops.notify('deploy.planned', '{"x": 1}');
    SET search_path = nowhere;
$$) WHERE section = 'error'), 0::bigint, 'a script with DDL, DML, a nested apply() and an event plans without error');
SELECT hasnt_table('public', 'pl_created', 'no table created');
SELECT hasnt_table('public', 'pl_applied', 'no table created by the nested apply()');
SELECT hasnt_column('public', 'pl_orders', 'z', 'no column added');
SELECT has_table('public', 'pl_loose', 'no table dropped');
SELECT is((SELECT count(*) FROM pl_orders), (SELECT orders FROM pl_before), 'no row deleted');
SELECT is((SELECT count(*) FROM pl_customers WHERE name = 'gone'), 0::bigint, 'no row updated');
SELECT is((SELECT count(*) FROM migrate_ops.migrations), 0::bigint, 'no ledger row');
SELECT is((SELECT count(*) FROM migrate_ops.events), (SELECT events FROM pl_before), 'no event');
SELECT is((SELECT count(*) FROM migrate_ops.ddl_log), (SELECT ddl_log_rows FROM pl_before), 'no row in migrate_ops.ddl_log');
SELECT is((SELECT count(*) FROM pl_ddl_log), (SELECT ddl_rows FROM pl_before), 'no row from the team''s event trigger');
SELECT is(current_setting('search_path'), '"$user", public', 'no setting changed');
SELECT is((SELECT count(*) FROM migrate_ops.plan($$SELECT nextval('pl_seq'); SELECT nextval('pl_seq')$$) WHERE section = 'statement'), 2::bigint,
          'plan() of a script using a sequence');
SELECT is((SELECT last_value FROM pl_seq), 2::bigint, 'sequence advances persist (the documented exception)');

-- ---------------------------------------------------------------- the migration timeouts
SET LOCAL migrate_ops.statement_timeout = '100ms';
SELECT results_eq($$SELECT section, statement, kind FROM migrate_ops.plan('SELECT 1; SELECT pg_sleep(5); SELECT 3') WHERE section <> 'lock'$$,
                  $$VALUES ('statement', 1, NULL), ('error', 2, '57014')$$,
                  'migrate_ops.statement_timeout applies to each statement (57014 reported, the plan goes on to roll back)');
SET LOCAL migrate_ops.statement_timeout = 0;
SET LOCAL migrate_ops.lock_timeout = '1234ms';
SELECT is((SELECT rows FROM migrate_ops.plan($$SELECT 1 FROM pg_settings WHERE name = 'lock_timeout' AND setting = '1234'$$)), 1::bigint,
          'migrate_ops.lock_timeout is the lock_timeout of the statements');
SELECT is(current_setting('lock_timeout'), '0', 'and only theirs');
RESET migrate_ops.lock_timeout;

-- ---------------------------------------------------------------- as the caller
CREATE ROLE pl_planner;
GRANT USAGE ON SCHEMA migrate_ops TO pl_planner;
GRANT EXECUTE ON FUNCTION migrate_ops.plan(text) TO pl_planner;
GRANT SELECT ON pl_customers TO pl_planner;
SET LOCAL ROLE pl_planner;
SELECT results_eq($$SELECT section, kind FROM migrate_ops.plan('SELECT count(*) FROM pl_customers; DELETE FROM pl_orders WHERE id = 1') WHERE section <> 'lock'$$,
                  $$VALUES ('statement', NULL), ('error', '42501')$$, 'the script runs with the caller''s privileges');
RESET ROLE;

-- ---------------------------------------------------------------- fuzz
-- Random valid scripts over existing and missing names: plan() returns rows
-- (a failing statement is an error row) or refuses the script up front
-- (25001); nothing else, and nothing persists.
CREATE FUNCTION pg_temp.pick(a text[]) RETURNS text LANGUAGE sql AS $$ SELECT a[1 + floor(random() * array_length(a, 1))::int] $$;
CREATE FUNCTION pg_temp.fuzz(scripts int) RETURNS text LANGUAGE plpgsql SET client_min_messages = error AS $fuzz$
DECLARE
    rels text[] := ARRAY['pl_orders', 'pl_customers', 'pl_events', 'pl_events_2025', 'pl_mv', 'pl_orders_status', 'nope', 'pl_loose'];
    cols text[] := ARRAY['id', 'note', 'total', 'status', 'flag', 'customer_id', 'created', 'nope'];
    types text[] := ARRAY['int', 'bigint', 'text', 'varchar(3)', 'numeric(5,1)', 'pl_posint', 'timestamptz', 'uuid', 'nope_type'];
    script text;
    planned int := 0;
    refused int := 0;
BEGIN
    PERFORM setseed(0.17);
    FOR i IN 1..scripts LOOP
        SELECT string_agg(CASE floor(random() * 9)::int
            WHEN 0 THEN format('ALTER TABLE %s ADD COLUMN x%s %s %s', pg_temp.pick(rels), n, pg_temp.pick(types), pg_temp.pick(ARRAY['', 'DEFAULT 1', 'DEFAULT random()', 'NOT NULL', 'UNIQUE']))
            WHEN 1 THEN format('ALTER TABLE %s ALTER COLUMN %s TYPE %s', pg_temp.pick(rels), pg_temp.pick(cols), pg_temp.pick(types))
            WHEN 2 THEN format('ALTER TABLE %s ALTER %s %s NOT NULL', pg_temp.pick(rels), pg_temp.pick(cols), pg_temp.pick(ARRAY['SET', 'DROP']))
            WHEN 3 THEN format('DROP %s %s %s', pg_temp.pick(ARRAY['TABLE', 'INDEX', 'MATERIALIZED VIEW']), pg_temp.pick(rels), pg_temp.pick(ARRAY['', 'CASCADE']))
            WHEN 4 THEN format('CREATE INDEX %s ON %s (%s)', pg_temp.pick(ARRAY['', 'CONCURRENTLY']), pg_temp.pick(rels), pg_temp.pick(cols))
            WHEN 5 THEN format('%s %s', pg_temp.pick(ARRAY['TRUNCATE', 'DELETE FROM', 'ANALYZE', 'LOCK', 'REINDEX TABLE', 'VACUUM']), pg_temp.pick(rels))
            WHEN 6 THEN format('UPDATE %s SET %s = %s', pg_temp.pick(rels), pg_temp.pick(cols), pg_temp.pick(ARRAY['1', 'NULL', '''x''', '1/0']))
            WHEN 7 THEN format('INSERT INTO %s (%s) VALUES (%s)', pg_temp.pick(rels), pg_temp.pick(cols), pg_temp.pick(ARRAY['1', 'NULL', '''x''']))
            ELSE format('ALTER TABLE %s RENAME TO %s', pg_temp.pick(rels), pg_temp.pick(rels)) END, E';\n')
          INTO script FROM generate_series(1, 1 + floor(random() * 4)::int) n;
        BEGIN
            PERFORM count(*) FROM migrate_ops.plan(script);
            planned := planned + 1;
        EXCEPTION WHEN active_sql_transaction THEN refused := refused + 1;
        END;
    END LOOP;
    RETURN (planned + refused) || ' of ' || scripts || ' scripts planned or refused';
END $fuzz$;
CREATE TEMP TABLE pl_fuzz_before AS SELECT count(*) AS n FROM pl_orders;
SELECT is(pg_temp.fuzz(150), '150 of 150 scripts planned or refused', 'fuzz: 150 random scripts through plan(), never an unexpected error');
SELECT is((SELECT count(*) FROM pl_orders), (SELECT n FROM pl_fuzz_before), 'fuzz: nothing persisted');
SELECT has_table('public', 'pl_loose', 'fuzz: every table is still there');
SELECT hasnt_column('public', 'pl_orders', 'x1', 'fuzz: no column was added');

-- ---------------------------------------------------------------- bad input: refused before anything runs
SELECT throws_ok($$SELECT * FROM migrate_ops.plan(NULL)$$, '22004', 'script must not be null', 'NULL script: 22004');
SELECT throws_ok($$SELECT * FROM migrate_ops.plan('CREATE TABLE pl_x (id int); CREATE TABL pl_y ()')$$, '42601', NULL, 'a syntax error: 42601');
SELECT throws_ok($$SELECT * FROM migrate_ops.plan('CREATE TABLE pl_x (id int); COMMIT')$$, '2D000', NULL, 'transaction control: 2D000');
SELECT throws_ok($$SELECT * FROM migrate_ops.plan('CREATE TABLE pl_x (id int); CREATE INDEX CONCURRENTLY ON pl_orders (note)')$$, '25001', NULL,
                 'a statement that cannot run in a transaction: 25001');
SELECT throws_ok($$SELECT * FROM migrate_ops.plan(repeat('SELECT 1;', 2 * 1024 * 1024))$$, '54000', NULL, 'over migrate_ops.max_script_size: 54000');
SELECT hasnt_table('public', 'pl_x', 'refused scripts ran nothing');

-- Schema changes in drift()'s shape (the 'change' section), and still nothing persists.
SELECT set_eq(
    $$SELECT kind, object, detail FROM migrate_ops.plan($s$
        CREATE TABLE pl_new (id int PRIMARY KEY);
        ALTER TABLE pl_orders ADD COLUMN due date;
        ALTER TABLE pl_orders ALTER COLUMN note TYPE varchar(40);
        DROP INDEX pl_orders_status;
      $s$) WHERE section = 'change'$$,
    $$VALUES ('table', 'public.pl_new', 'added'), ('column', 'public.pl_new.id', 'added'),
             ('constraint', 'pl_new_pkey on public.pl_new', 'added'), ('privilege', 'table public.pl_new', 'added'),
             ('column', 'public.pl_orders.due', 'added'), ('column', 'public.pl_orders.note', 'changed'),
             ('index', 'public.pl_orders_status', 'removed')$$,
    'plan() reports every schema change the script would make, by kind and identity');
SELECT ok((SELECT expected LIKE '%varchar(20)%' OR expected LIKE '%character varying(20)%'
             FROM migrate_ops.plan('ALTER TABLE pl_orders ALTER COLUMN note TYPE varchar(40)') WHERE section = 'change'),
          'a changed column shows its definition before ...');
SELECT ok((SELECT actual LIKE '%character varying(40)%'
             FROM migrate_ops.plan('ALTER TABLE pl_orders ALTER COLUMN note TYPE varchar(40)') WHERE section = 'change'),
          '... and after');
SELECT is((SELECT count(*) FROM migrate_ops.plan('SELECT 1; UPDATE pl_orders SET total = total') WHERE section = 'change'),
          0::bigint, 'a script that changes no schema reports no change');
SELECT set_eq($$SELECT kind, object FROM migrate_ops.plan($s$CREATE TABLE pl_half (id int); SELECT 1/0;$s$) WHERE section = 'change'$$,
              $$VALUES ('table', 'public.pl_half'), ('column', 'public.pl_half.id'), ('privilege', 'table public.pl_half')$$,
              'a failing script reports the changes made before the failure');
SELECT ok(to_regclass('pl_new') IS NULL AND to_regclass('pl_half') IS NULL
          AND to_regclass('pl_orders_status') IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'pl_orders'::regclass AND attname = 'due'),
          'after all those plans the schema is unchanged');

SELECT * FROM finish();
ROLLBACK;
