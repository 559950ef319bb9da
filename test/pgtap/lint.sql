-- lint(): every rule fires on the statement it is about (positive) and not
-- on its safe form or on a relation the script itself created (negative);
-- the lock modes it reports are PostgreSQL's documented ones; line numbers;
-- bad and garbage input; tuning through migrate_ops.lint_rules; apply()
-- stores the findings with the migration.
SET client_min_messages = warning;

-- Existing relations: committed before the test's transaction, as a real
-- database's tables are.
CREATE TABLE lt_customers (id int PRIMARY KEY);
CREATE TABLE lt_orders (id bigint PRIMARY KEY, customer_id int, total numeric(10,2),
                        note varchar(20), status text, flag boolean,
                        CONSTRAINT lt_flag_nn CHECK (flag IS NOT NULL));
CREATE INDEX lt_orders_status ON lt_orders (status);
CREATE UNIQUE INDEX lt_orders_note_key ON lt_orders (note);
CREATE TYPE lt_mood AS ENUM ('sad', 'happy');
CREATE DOMAIN lt_posint AS int CHECK (VALUE > 0);
CREATE SCHEMA lt_schema;
CREATE TABLE lt_events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE lt_events_2025 PARTITION OF lt_events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE lt_loose (id int);
CREATE MATERIALIZED VIEW lt_totals AS SELECT 1 AS id;
CREATE UNIQUE INDEX ON lt_totals (id);

BEGIN;
SELECT plan(168);
CREATE TEMP TABLE lt_catalog AS SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace;

-- The rules that fired on a script, in order; takes_lock and lock_timeout_missing
-- are left out here (their own tests below).
CREATE FUNCTION pg_temp.rules(script text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(rule_id, ',' ORDER BY statement, rule_id), '')
      FROM migrate_ops.lint(script)
     WHERE rule_id NOT IN ('takes_lock', 'lock_timeout_missing') $$;
-- Every lock lint reports: "statement:relation=MODE", in order.
CREATE FUNCTION pg_temp.locks(script text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(DISTINCT statement || ':' || relation || '=' || lock_mode, ', '), '')
      FROM migrate_ops.lint(script) WHERE lock_mode IS NOT NULL $$;

-- ---------------------------------------------------------------- shape
SELECT has_function('migrate_ops', 'lint', ARRAY['text'], 'lint(text) exists');
SELECT is(prosecdef, false, 'lint() runs as the caller') FROM pg_proc WHERE oid = 'migrate_ops.lint(text)'::regprocedure;
SELECT has_view('migrate_ops', 'lint_rules', 'the rule catalog is migrate_ops.lint_rules');
SELECT columns_are('migrate_ops', 'lint_rules', ARRAY['id', 'category', 'severity', 'enabled',
    'description', 'hint', 'default_severity', 'default_enabled', 'note', 'changed_by', 'changed_at'],
    'lint_rules columns');
SELECT set_eq($$SELECT id FROM migrate_ops.lint_rules$$, ARRAY[
    'drop_table', 'drop_schema', 'drop_column', 'drop_type', 'truncate', 'delete_without_where',
    'update_without_where', 'alter_column_type_lossy', 'create_index_not_concurrently',
    'drop_index_not_concurrently', 'reindex_not_concurrently', 'add_foreign_key_without_not_valid',
    'add_check_without_not_valid', 'set_not_null', 'add_unique_without_index',
    'detach_partition_not_concurrently', 'add_column_volatile_default', 'alter_column_type_rewrite',
    'set_logged_unlogged', 'set_tablespace', 'vacuum_full', 'cluster', 'rename_table', 'rename_column',
    'drop_not_null', 'enum_add_value_unordered', 'non_transactional', 'transaction_control',
    'lock_timeout_missing', 'takes_lock'], 'the catalog has exactly the rules lint.c implements (each tested below)');
SELECT is((SELECT count(*) FROM migrate_ops.lint_rules WHERE NOT enabled OR severity <> default_severity), 0::bigint,
          'every rule ships enabled at its default severity');

-- ---------------------------------------------------------------- data loss
SELECT is(pg_temp.rules('DROP TABLE lt_orders'), 'drop_table', 'drop_table: DROP TABLE of an existing table');
SELECT is(pg_temp.rules('CREATE TABLE lt_tmp (id int); DROP TABLE lt_tmp'), '', 'drop_table: not for a table the script created');
SELECT is(pg_temp.rules('DROP SCHEMA lt_schema CASCADE'), 'drop_schema', 'drop_schema: DROP SCHEMA');
SELECT is(pg_temp.rules('CREATE SCHEMA lt_s2; DROP SCHEMA lt_s2'), '', 'drop_schema: not for a schema the script created');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders DROP COLUMN note'), 'drop_column', 'drop_column: DROP COLUMN');
SELECT is(pg_temp.rules('CREATE TABLE lt_t (a int, b int); ALTER TABLE lt_t DROP COLUMN b'), '', 'drop_column: not on a new table');
SELECT is(pg_temp.rules('DROP TYPE lt_mood'), 'drop_type', 'drop_type: DROP TYPE');
SELECT is(pg_temp.rules('DROP DOMAIN public.lt_posint CASCADE'), 'drop_type', 'drop_type: DROP DOMAIN');
SELECT is(pg_temp.rules('CREATE TYPE lt_pair AS (a int, b int); DROP TYPE lt_pair'), '', 'drop_type: not for a type the script created');
SELECT is(pg_temp.rules('TRUNCATE lt_orders, lt_customers'), 'truncate,truncate', 'truncate: each existing table');
SELECT is(pg_temp.rules('CREATE TABLE lt_t (a int); TRUNCATE lt_t'), '', 'truncate: not a new table');
SELECT is(pg_temp.rules('DELETE FROM lt_orders'), 'delete_without_where', 'delete_without_where');
SELECT is(pg_temp.rules('DELETE FROM lt_orders WHERE id = 1'), '', 'delete_without_where: not with WHERE');
SELECT is(pg_temp.rules('WITH d AS (DELETE FROM lt_orders RETURNING id) SELECT count(*) FROM d'), 'delete_without_where',
          'delete_without_where: inside a data-modifying CTE');
SELECT is(pg_temp.rules($$UPDATE lt_orders SET status = 'x'$$), 'update_without_where', 'update_without_where');
SELECT is(pg_temp.rules($$UPDATE lt_orders SET status = 'x' WHERE id < 10$$), '', 'update_without_where: not with WHERE');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ALTER note TYPE varchar(5)'), 'alter_column_type_lossy,alter_column_type_rewrite',
          'alter_column_type_lossy: narrowing varchar (and a rewrite)');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ALTER total TYPE integer'), 'alter_column_type_lossy,alter_column_type_rewrite',
          'alter_column_type_lossy: numeric to integer');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ALTER total TYPE numeric(10,1)'), 'alter_column_type_lossy,alter_column_type_rewrite',
          'alter_column_type_lossy: fewer decimals');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ALTER customer_id TYPE bigint'), 'alter_column_type_rewrite',
          'alter_column_type_lossy: not for int -> bigint (a rewrite, no loss)');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ALTER total TYPE numeric(14,4)'), 'alter_column_type_rewrite',
          'alter_column_type_lossy: not for a wider numeric with more decimals');

-- ---------------------------------------------------------------- blocking
SELECT is(pg_temp.rules('CREATE INDEX ON lt_orders (total)'), 'create_index_not_concurrently', 'create_index_not_concurrently');
SELECT is(pg_temp.rules('CREATE TABLE lt_t (a int); CREATE INDEX ON lt_t (a)'), '', 'create_index_not_concurrently: not on a new table');
SELECT is(pg_temp.rules('DROP INDEX lt_orders_status'), 'drop_index_not_concurrently', 'drop_index_not_concurrently');
SELECT is(pg_temp.rules('CREATE INDEX lt_i ON lt_orders (flag); DROP INDEX lt_i'), 'create_index_not_concurrently',
          'drop_index_not_concurrently: not for an index the script created');
SELECT is(pg_temp.rules('REINDEX TABLE lt_orders'), 'reindex_not_concurrently', 'reindex_not_concurrently: REINDEX TABLE');
SELECT is(pg_temp.rules('REINDEX INDEX lt_orders_status'), 'reindex_not_concurrently', 'reindex_not_concurrently: REINDEX INDEX');
SELECT is(pg_temp.rules('REINDEX TABLE CONCURRENTLY lt_orders'), 'non_transactional',
          'reindex_not_concurrently: not with CONCURRENTLY (which apply() cannot run)');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ADD FOREIGN KEY (customer_id) REFERENCES lt_customers (id)'),
          'add_foreign_key_without_not_valid', 'add_foreign_key_without_not_valid');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ADD FOREIGN KEY (customer_id) REFERENCES lt_customers (id) NOT VALID'), '',
          'add_foreign_key_without_not_valid: not with NOT VALID');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ADD CONSTRAINT lt_pos CHECK (total > 0)'), 'add_check_without_not_valid',
          'add_check_without_not_valid');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ADD CONSTRAINT lt_pos CHECK (total > 0) NOT VALID; ALTER TABLE lt_orders VALIDATE CONSTRAINT lt_pos'), '',
          'add_check_without_not_valid: not with NOT VALID then VALIDATE');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ALTER status SET NOT NULL'), 'set_not_null', 'set_not_null');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ALTER flag SET NOT NULL'), '', 'set_not_null: not when a valid CHECK proves it (no scan)');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ALTER id SET NOT NULL'), '', 'set_not_null: not on a column already NOT NULL');
SELECT is(pg_temp.rules('CREATE TABLE lt_t (a int); ALTER TABLE lt_t ALTER a SET NOT NULL'), '', 'set_not_null: not on a new table');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ADD UNIQUE (status)'), 'add_unique_without_index', 'add_unique_without_index: UNIQUE');
SELECT is(pg_temp.rules('ALTER TABLE lt_loose ADD PRIMARY KEY (id)'), 'add_unique_without_index', 'add_unique_without_index: PRIMARY KEY');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ADD COLUMN code int UNIQUE'), 'add_unique_without_index',
          'add_unique_without_index: inline on ADD COLUMN');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ADD CONSTRAINT lt_note_u UNIQUE USING INDEX lt_orders_note_key'), '',
          'add_unique_without_index: not with USING INDEX');
SELECT is(pg_temp.rules('ALTER TABLE lt_events DETACH PARTITION lt_events_2025'), 'detach_partition_not_concurrently',
          'detach_partition_not_concurrently');
SELECT is(pg_temp.rules('ALTER TABLE lt_events DETACH PARTITION lt_events_2025 CONCURRENTLY'), 'non_transactional',
          'detach_partition_not_concurrently: not with CONCURRENTLY');

-- ---------------------------------------------------------------- rewrites
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ADD COLUMN r float8 DEFAULT random()'), 'add_column_volatile_default',
          'add_column_volatile_default: random()');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ADD COLUMN u uuid NOT NULL DEFAULT gen_random_uuid()'), 'add_column_volatile_default',
          'add_column_volatile_default: gen_random_uuid()');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ADD COLUMN n bigserial'), 'add_column_volatile_default',
          'add_column_volatile_default: bigserial');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ADD COLUMN n int GENERATED ALWAYS AS IDENTITY'), 'add_column_volatile_default',
          'add_column_volatile_default: identity');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ADD COLUMN n bigint GENERATED ALWAYS AS (id * 2) STORED'), 'add_column_volatile_default',
          'add_column_volatile_default: stored generated column');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ADD COLUMN n lt_posint'), 'add_column_volatile_default',
          'add_column_volatile_default: domain with a CHECK');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ADD COLUMN n int DEFAULT 0'), '', 'add_column_volatile_default: not a constant default (PostgreSQL 11+)');
SELECT is(pg_temp.rules($$ALTER TABLE lt_orders ADD COLUMN n text NOT NULL DEFAULT 'new' || 'x'$$), '',
          'add_column_volatile_default: not an immutable expression');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ADD COLUMN n timestamptz DEFAULT now()'), '', 'add_column_volatile_default: not now() (stable)');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ADD COLUMN n int'), '', 'add_column_volatile_default: not without a default');
SELECT is(pg_temp.rules('CREATE TABLE lt_t (a int); ALTER TABLE lt_t ADD COLUMN r float8 DEFAULT random()'), '',
          'add_column_volatile_default: not on a new table');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ALTER customer_id TYPE bigint'), 'alter_column_type_rewrite', 'alter_column_type_rewrite: int -> bigint');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ALTER status TYPE varchar(10)'), 'alter_column_type_lossy,alter_column_type_rewrite',
          'alter_column_type_rewrite: text -> varchar(10) checks every value');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ALTER note TYPE text'), '', 'alter_column_type_rewrite: not varchar(n) -> text (binary-coercible)');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ALTER note TYPE varchar(40)'), '', 'alter_column_type_rewrite: not widening varchar');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ALTER total TYPE numeric(12,2)'), '', 'alter_column_type_rewrite: not a numeric precision increase');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ALTER status TYPE varchar'), '', 'alter_column_type_rewrite: not text -> varchar');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ALTER note TYPE varchar(40) USING note || $x$!$x$'), 'alter_column_type_rewrite',
          'alter_column_type_rewrite: USING rewrites');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders SET UNLOGGED'), 'set_logged_unlogged', 'set_logged_unlogged: SET UNLOGGED');
SELECT is(pg_temp.rules('CREATE TABLE lt_t (a int); ALTER TABLE lt_t SET LOGGED'), '', 'set_logged_unlogged: not on a new table');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders SET TABLESPACE lt_fast'), 'set_tablespace', 'set_tablespace');
SELECT is(pg_temp.rules('CREATE TABLE lt_t (a int); ALTER TABLE lt_t SET TABLESPACE lt_fast'), '', 'set_tablespace: not on a new table');
SELECT is(pg_temp.rules('VACUUM FULL lt_orders'), 'non_transactional,vacuum_full', 'vacuum_full (and VACUUM cannot run in apply())');
SELECT is(pg_temp.rules('VACUUM lt_orders'), 'non_transactional', 'vacuum_full: not plain VACUUM');
SELECT is(pg_temp.rules('CLUSTER lt_orders USING lt_orders_pkey'), 'cluster', 'cluster');
SELECT is(pg_temp.rules('CREATE TABLE lt_t (a int PRIMARY KEY); CLUSTER lt_t USING lt_t_pkey'), '', 'cluster: not on a new table');

-- ---------------------------------------------------------------- breaking
SELECT is(pg_temp.rules('ALTER TABLE lt_orders RENAME TO lt_orders_old'), 'rename_table', 'rename_table');
SELECT is(pg_temp.rules('ALTER INDEX lt_orders_status RENAME TO lt_orders_status_idx'), '', 'rename_table: not for an index');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders RENAME COLUMN note TO memo'), 'rename_column', 'rename_column');
SELECT is(pg_temp.rules('CREATE TABLE lt_t (a int); ALTER TABLE lt_t RENAME COLUMN a TO b'), '', 'rename_column: not on a new table');
SELECT is(pg_temp.rules('ALTER TABLE lt_orders ALTER customer_id DROP NOT NULL'), 'drop_not_null', 'drop_not_null');
SELECT is((SELECT severity FROM migrate_ops.lint('ALTER TABLE lt_orders ALTER customer_id DROP NOT NULL') WHERE rule_id = 'drop_not_null'),
          'info', 'drop_not_null is info');
SELECT is(pg_temp.rules('CREATE TABLE lt_t (a int NOT NULL); ALTER TABLE lt_t ALTER a DROP NOT NULL'), '', 'drop_not_null: not on a new table');
SELECT is(pg_temp.rules($$ALTER TYPE lt_mood ADD VALUE 'meh'$$), 'enum_add_value_unordered', 'enum_add_value_unordered');
SELECT is((SELECT severity FROM migrate_ops.lint($$ALTER TYPE lt_mood ADD VALUE 'meh'$$)), 'info', 'enum_add_value_unordered is info');
SELECT is(pg_temp.rules($$ALTER TYPE lt_mood ADD VALUE 'meh' BEFORE 'happy'$$), '', 'enum_add_value_unordered: not with BEFORE');

-- ---------------------------------------------------------------- transactions
SELECT is(pg_temp.rules('CREATE INDEX CONCURRENTLY ON lt_orders (total)'), 'non_transactional', 'non_transactional: CREATE INDEX CONCURRENTLY');
SELECT is(pg_temp.rules('REINDEX SCHEMA lt_schema'), 'non_transactional,reindex_not_concurrently', 'non_transactional: REINDEX SCHEMA');
SELECT is(pg_temp.rules('CREATE INDEX ON lt_orders (total)'), 'create_index_not_concurrently', 'non_transactional: not CREATE INDEX');
SELECT is(pg_temp.rules('BEGIN; SELECT 1; COMMIT'), 'transaction_control,transaction_control', 'transaction_control: BEGIN and COMMIT');
SELECT is(pg_temp.rules('SAVEPOINT a; ROLLBACK TO a'), 'transaction_control,transaction_control', 'transaction_control: savepoints');
SELECT is(pg_temp.rules('SELECT 1; SET search_path = public'), '', 'transaction_control: not for ordinary statements');

-- ---------------------------------------------------------------- lock_timeout
-- apply() runs scripts with migrate_ops.lock_timeout (10s by default): covered.
SELECT is((SELECT count(*) FROM migrate_ops.lint('ALTER TABLE lt_orders ADD COLUMN x int') WHERE rule_id = 'lock_timeout_missing'),
          0::bigint, 'lock_timeout_missing: not when apply() sets migrate_ops.lock_timeout');
SET LOCAL migrate_ops.lock_timeout = 0;
SELECT results_eq($$SELECT statement, rule_id, lock_mode, relation FROM migrate_ops.lint('ALTER TABLE lt_orders ADD COLUMN x int')$$,
                  $$VALUES (1, 'lock_timeout_missing', 'ACCESS EXCLUSIVE', 'public.lt_orders')$$,
                  'lock_timeout_missing: ACCESS EXCLUSIVE on an existing table with migrate_ops.lock_timeout = 0');
SELECT is((SELECT string_agg(statement::text, ',') FROM migrate_ops.lint($$SELECT 1; SET lock_timeout = '3s'; ALTER TABLE lt_orders ADD COLUMN x int; RESET lock_timeout; ALTER TABLE lt_orders ADD COLUMN y int$$)
            WHERE rule_id = 'lock_timeout_missing'), '5', 'lock_timeout_missing: SET lock_timeout covers what follows, RESET ends it');
SELECT is((SELECT count(*) FROM migrate_ops.lint('CREATE TABLE lt_t (a int); ALTER TABLE lt_t ADD COLUMN x int') WHERE rule_id = 'lock_timeout_missing'),
          0::bigint, 'lock_timeout_missing: not on a new table');
SELECT is((SELECT count(*) FROM migrate_ops.lint('CREATE INDEX ON lt_orders (total)') WHERE rule_id = 'lock_timeout_missing'),
          0::bigint, 'lock_timeout_missing: not below ACCESS EXCLUSIVE');
SET LOCAL migrate_ops.lock_timeout = '10s';
SELECT is((SELECT count(*) FROM migrate_ops.lint('SET lock_timeout = 0; ALTER TABLE lt_orders ADD COLUMN x int') WHERE rule_id = 'lock_timeout_missing'),
          1::bigint, 'lock_timeout_missing: a script that turns lock_timeout off');

-- ---------------------------------------------------------------- takes_lock
SELECT results_eq($$SELECT rule_id, severity, lock_mode, relation FROM migrate_ops.lint('CREATE TRIGGER lt_trg BEFORE UPDATE ON lt_orders FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()')$$,
                  $$VALUES ('takes_lock', 'info', 'SHARE ROW EXCLUSIVE', 'public.lt_orders')$$, 'takes_lock: CREATE TRIGGER');
SELECT is((SELECT count(*) FROM migrate_ops.lint($$INSERT INTO lt_orders (id) VALUES (1); UPDATE lt_orders SET note = 'x' WHERE id = 1$$)),
          0::bigint, 'takes_lock: not for ROW EXCLUSIVE (ordinary DML)');

-- ---------------------------------------------------------------- lock modes (PostgreSQL documentation, "Explicit Locking")
SELECT is(pg_temp.locks('ALTER TABLE lt_orders DROP COLUMN note'), '1:public.lt_orders=ACCESS EXCLUSIVE', 'DROP COLUMN: ACCESS EXCLUSIVE');
SELECT is(pg_temp.locks('ALTER TABLE lt_orders ADD COLUMN x int'), '1:public.lt_orders=ACCESS EXCLUSIVE', 'ADD COLUMN: ACCESS EXCLUSIVE');
SELECT is(pg_temp.locks('CREATE INDEX ON lt_orders (total)'), '1:public.lt_orders=SHARE', 'CREATE INDEX: SHARE');
SELECT is(pg_temp.locks('CREATE INDEX CONCURRENTLY ON lt_orders (total)'), '1:public.lt_orders=SHARE UPDATE EXCLUSIVE',
          'CREATE INDEX CONCURRENTLY: SHARE UPDATE EXCLUSIVE');
SELECT is(pg_temp.locks('ALTER TABLE lt_orders VALIDATE CONSTRAINT lt_flag_nn'), '1:public.lt_orders=SHARE UPDATE EXCLUSIVE', 'VALIDATE CONSTRAINT: SHARE UPDATE EXCLUSIVE');
SELECT is(pg_temp.locks('ALTER TABLE lt_orders ADD FOREIGN KEY (customer_id) REFERENCES lt_customers (id) NOT VALID'),
          '1:public.lt_customers=SHARE ROW EXCLUSIVE, 1:public.lt_orders=SHARE ROW EXCLUSIVE', 'ADD FOREIGN KEY: SHARE ROW EXCLUSIVE on both tables');
SELECT is(pg_temp.locks('CREATE TRIGGER lt_trg AFTER INSERT ON lt_orders FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()'),
          '1:public.lt_orders=SHARE ROW EXCLUSIVE', 'CREATE TRIGGER: SHARE ROW EXCLUSIVE');
SELECT is(pg_temp.locks('DROP INDEX lt_orders_status'), '1:public.lt_orders=ACCESS EXCLUSIVE', 'DROP INDEX: ACCESS EXCLUSIVE on its table');
SELECT is(pg_temp.locks('DROP INDEX CONCURRENTLY lt_orders_status'), '1:public.lt_orders=SHARE UPDATE EXCLUSIVE', 'DROP INDEX CONCURRENTLY: SHARE UPDATE EXCLUSIVE');
SELECT is(pg_temp.locks('REINDEX INDEX lt_orders_status'), '1:public.lt_orders=SHARE', 'REINDEX: SHARE on the table');
SELECT is(pg_temp.locks('TRUNCATE lt_orders'), '1:public.lt_orders=ACCESS EXCLUSIVE', 'TRUNCATE: ACCESS EXCLUSIVE');
SELECT is(pg_temp.locks('VACUUM lt_orders'), '1:public.lt_orders=SHARE UPDATE EXCLUSIVE', 'VACUUM: SHARE UPDATE EXCLUSIVE');
SELECT is(pg_temp.locks('VACUUM FULL lt_orders'), '1:public.lt_orders=ACCESS EXCLUSIVE', 'VACUUM FULL: ACCESS EXCLUSIVE');
SELECT is(pg_temp.locks('ANALYZE lt_orders'), '1:public.lt_orders=SHARE UPDATE EXCLUSIVE', 'ANALYZE: SHARE UPDATE EXCLUSIVE');
SELECT is(pg_temp.locks('CLUSTER lt_orders USING lt_orders_pkey'), '1:public.lt_orders=ACCESS EXCLUSIVE', 'CLUSTER: ACCESS EXCLUSIVE');
SELECT is(pg_temp.locks('ALTER TABLE lt_orders SET (fillfactor = 70)'), '1:public.lt_orders=SHARE UPDATE EXCLUSIVE', 'SET (fillfactor): SHARE UPDATE EXCLUSIVE');
SELECT is(pg_temp.locks('ALTER TABLE lt_orders ALTER total SET STATISTICS 500'), '1:public.lt_orders=SHARE UPDATE EXCLUSIVE', 'SET STATISTICS: SHARE UPDATE EXCLUSIVE');
SELECT is(pg_temp.locks('REFRESH MATERIALIZED VIEW lt_totals'), '1:public.lt_totals=ACCESS EXCLUSIVE', 'REFRESH MATERIALIZED VIEW: ACCESS EXCLUSIVE');
SELECT is(pg_temp.locks('REFRESH MATERIALIZED VIEW CONCURRENTLY lt_totals'), '1:public.lt_totals=EXCLUSIVE', 'REFRESH … CONCURRENTLY: EXCLUSIVE');
SELECT is(pg_temp.locks('LOCK TABLE lt_orders IN SHARE MODE'), '1:public.lt_orders=SHARE', 'LOCK TABLE … IN SHARE MODE: SHARE');
SELECT is(pg_temp.locks('COMMENT ON TABLE lt_orders IS $$x$$'), '1:public.lt_orders=SHARE UPDATE EXCLUSIVE', 'COMMENT ON TABLE: SHARE UPDATE EXCLUSIVE');
SELECT is(pg_temp.locks($$CREATE TABLE lt_events_2026 PARTITION OF lt_events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')$$),
          '1:public.lt_events=ACCESS EXCLUSIVE', 'CREATE TABLE … PARTITION OF: ACCESS EXCLUSIVE on the parent');
SELECT is(pg_temp.locks('ALTER TABLE lt_events DETACH PARTITION lt_events_2025 CONCURRENTLY'),
          '1:public.lt_events=SHARE UPDATE EXCLUSIVE, 1:public.lt_events_2025=SHARE UPDATE EXCLUSIVE', 'DETACH PARTITION CONCURRENTLY: SHARE UPDATE EXCLUSIVE');
SELECT is(pg_temp.locks('ALTER TABLE lt_orders RENAME COLUMN note TO memo'), '1:public.lt_orders=ACCESS EXCLUSIVE', 'RENAME COLUMN: ACCESS EXCLUSIVE');
SELECT is(pg_temp.locks('DELETE FROM lt_orders'), '1:public.lt_orders=ROW EXCLUSIVE', 'DELETE: ROW EXCLUSIVE');

-- ---------------------------------------------------------------- rows, names, line numbers
SELECT results_eq($$SELECT statement, line, command, rule_id, severity, lock_mode, relation FROM migrate_ops.lint(E'-- header\nCREATE TABLE lt_new (id int);\n\n/* a block\n   comment */ DROP TABLE lt_orders;\nCREATE FUNCTION lt_f() RETURNS int AS $f$\n  SELECT 1;\n$f$ LANGUAGE sql; TRUNCATE\n  lt_customers;\n  ALTER TABLE lt_orders\n    DROP COLUMN note')$$,
                  $$VALUES (2, 5, 'DROP TABLE', 'drop_table', 'error', 'ACCESS EXCLUSIVE', 'public.lt_orders'),
                           (4, 8, 'TRUNCATE TABLE', 'truncate', 'error', 'ACCESS EXCLUSIVE', 'public.lt_customers'),
                           (5, 10, 'ALTER TABLE', 'drop_column', 'error', 'ACCESS EXCLUSIVE', 'public.lt_orders')$$,
                  'statement numbers, lines (comments, dollar quotes, several statements on a line), commands, qualified names');
SELECT is((SELECT relation FROM migrate_ops.lint('DROP TABLE lt_schema.nowhere')), 'lt_schema.nowhere',
          'a relation the catalog does not know is reported as written (and still linted)');
SELECT ok((SELECT message LIKE '%deletes the table and every row%' AND safe_alternative <> '' FROM migrate_ops.lint('DROP TABLE lt_orders')),
          'a finding says what happens and the safe alternative');
SELECT ok((SELECT safe_alternative LIKE '%CHECK ("status" IS NOT NULL) NOT VALID%' OR safe_alternative LIKE '%CHECK (status IS NOT NULL) NOT VALID%'
             FROM migrate_ops.lint('ALTER TABLE lt_orders ALTER status SET NOT NULL')), 'set_not_null: the alternative is the concrete SQL');

-- ---------------------------------------------------------------- bad and garbage input
SELECT throws_ok($$SELECT * FROM migrate_ops.lint(NULL)$$, '22004', 'script must not be null', 'NULL script: 22004');
SELECT is((SELECT count(*) FROM migrate_ops.lint('')), 0::bigint, 'empty script: no findings');
SELECT is((SELECT count(*) FROM migrate_ops.lint(E'  -- only a comment\n/* and another */ ;;')), 0::bigint, 'comments and empty statements: no findings');
SELECT throws_ok($$SELECT * FROM migrate_ops.lint(E'DROP TABLE lt_orders;\nALTER TABLE lt_orders DROPP COLUMN x;')$$, '42601', NULL,
                 'invalid SQL: 42601');
SELECT throws_like($$SELECT * FROM migrate_ops.lint(E'SELECT 1;\n\nSELEC 2;')$$, '%syntax error at or near "SELEC"%', 'the syntax error names the token');
SELECT throws_ok($$SELECT * FROM migrate_ops.lint(repeat('x', 10 * 1024 * 1024))$$, '42601', NULL, '10 MB of garbage: 42601');
SELECT throws_ok($$SELECT * FROM migrate_ops.lint(repeat('SELECT 1;', 2 * 1024 * 1024))$$, '54000', NULL,
                 '18 MB: over migrate_ops.max_script_size (54000)');
SELECT throws_ok($$SELECT * FROM migrate_ops.lint('SELECT ' || repeat('(', 100000) || '1' || repeat(')', 100000))$$, '42601', NULL,
                 '100,000 nested parentheses: an error, not a crash');
SELECT is((SELECT count(*) FROM migrate_ops.lint($$SELECT 1; SELECT 2;$$ || repeat(' ', 1000))), 0::bigint, 'trailing white space');
-- Parseable oddities the catalog cannot answer: a finding or nothing, never an error.
SELECT lives_ok($$SELECT * FROM migrate_ops.lint(E'ALTER TABLE lt_orders ALTER note TYPE varchar(0);\nALTER TABLE lt_orders ALTER note TYPE no_such_type;\nALTER TABLE lt_orders ADD COLUMN c int DEFAULT (SELECT 1);\nALTER TABLE lt_orders ADD COLUMN d int DEFAULT no_such_function();\nALTER TABLE lt_orders ADD COLUMN e int DEFAULT id;\nALTER TABLE otherdb.public.lt_orders ADD COLUMN f int;\nDROP TABLE a.b.c;\nALTER TABLE no_schema.no_table ALTER c TYPE int;\nALTER TABLE lt_orders ADD COLUMN g no_such_type;\nSET lock_timeout = ''nonsense'';\nALTER TABLE lt_orders ALTER no_column SET NOT NULL;\nDROP INDEX no_such_index;\nREINDEX INDEX lt_orders;\nCOMMENT ON COLUMN lt_orders.note IS NULL')$$,
                 'names, types and defaults that do not resolve are linted without an error');
SELECT is((SELECT string_agg(rule_id, ',' ORDER BY statement) FROM migrate_ops.lint(E'ALTER TABLE lt_orders ALTER note TYPE varchar(0);\nALTER TABLE lt_orders ADD COLUMN d int DEFAULT no_such_function()')),
          'alter_column_type_rewrite,add_column_volatile_default', '... and what cannot be checked is assumed to rewrite');
SELECT set_eq($$SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace$$, $$SELECT relname FROM lt_catalog$$,
              'lint changed nothing in the catalog');
-- Random token soups (mostly syntax errors) and random valid scripts built
-- from pieces that do and do not resolve: lint() either returns rows or
-- raises 42601 for a syntax error; any other error fails the test.
CREATE FUNCTION pg_temp.pick(a text[]) RETURNS text LANGUAGE sql AS $$ SELECT a[1 + floor(random() * array_length(a, 1))::int] $$;
CREATE FUNCTION pg_temp.fuzz(soups int, statements int) RETURNS text LANGUAGE plpgsql AS $fuzz$
DECLARE
    words text[] := ARRAY['ALTER', 'TABLE', 'lt_orders', 'ADD', 'COLUMN', 'DROP', 'x', 'int', 'DEFAULT', 'random()', '(', ')',
                          ';', ',', 'CREATE', 'INDEX', 'ON', 'TYPE', 'SET', 'NOT', 'NULL', 'CONCURRENTLY', 'UPDATE', 'lt_customers',
                          'WHERE', '1', '''s''', '$$', 'VALID', 'CONSTRAINT', 'CHECK', 'FOREIGN', 'KEY', 'REFERENCES', 'USING',
                          E'\n', '--', '/*', '*/', 'é', '€', '🙂', chr(1), E'\t', 'lock_timeout', '=', 'TO', 'RENAME'];
    rels text[] := ARRAY['lt_orders', 'public.lt_orders', 'lt_customers', 'lt_events', 'lt_events_2025', 'lt_totals',
                         'lt_orders_status', 'nope', 'lt_schema.nope', 'nope.nope', '"Odd Name"', 'pg_temp.nope', 'lt_mood'];
    cols text[] := ARRAY['id', 'note', 'total', 'status', 'flag', 'customer_id', 'nope', '"Odd Col"'];
    types text[] := ARRAY['int', 'bigint', 'text', 'varchar(3)', 'varchar(50)', 'numeric', 'numeric(5,1)', 'numeric(30,10)',
                          'lt_posint', 'lt_mood', 'nope_type', 'int[]', 'timestamptz', 'date', 'uuid', 'jsonb', 'serial',
                          'bit(3)', 'interval(2)', 'char(2)', 'double precision', 'real', 'lt_schema.nope'];
    extras text[] := ARRAY['', 'DEFAULT 0', 'DEFAULT random()', 'DEFAULT now()', 'DEFAULT nope()', 'DEFAULT (1 + 1)',
                           'NOT NULL', 'UNIQUE', 'PRIMARY KEY', 'GENERATED ALWAYS AS IDENTITY', 'REFERENCES lt_customers',
                           'DEFAULT id', 'CHECK (x > 0)', 'COLLATE "C"', 'GENERATED ALWAYS AS (1) STORED'];
    script text;
    soup_ok int := 0;
    stmt_ok int := 0;
BEGIN
    PERFORM setseed(0.42);
    FOR i IN 1..soups LOOP
        SELECT string_agg(pg_temp.pick(words), ' ') INTO script FROM generate_series(1, 1 + floor(random() * 40)::int);
        BEGIN
            PERFORM count(*) FROM migrate_ops.lint(script);
            soup_ok := soup_ok + 1;
        EXCEPTION WHEN syntax_error THEN NULL;
        END;
    END LOOP;
    FOR i IN 1..statements LOOP
        SELECT string_agg(CASE floor(random() * 16)::int
            WHEN 0 THEN format('ALTER TABLE %s ADD COLUMN x%s %s %s', pg_temp.pick(rels), n, pg_temp.pick(types), pg_temp.pick(extras))
            WHEN 1 THEN format('ALTER TABLE %s ALTER COLUMN %s TYPE %s', pg_temp.pick(rels), pg_temp.pick(cols), pg_temp.pick(types))
            WHEN 2 THEN format('ALTER TABLE %s ALTER %s %s NOT NULL', pg_temp.pick(rels), pg_temp.pick(cols), pg_temp.pick(ARRAY['SET', 'DROP']))
            WHEN 3 THEN format('ALTER TABLE %s ADD CONSTRAINT c%s CHECK (%s IS NOT NULL) %s', pg_temp.pick(rels), n, pg_temp.pick(cols), pg_temp.pick(ARRAY['', 'NOT VALID']))
            WHEN 4 THEN format('ALTER TABLE %s ADD FOREIGN KEY (%s) REFERENCES %s %s', pg_temp.pick(rels), pg_temp.pick(cols), pg_temp.pick(rels), pg_temp.pick(ARRAY['', 'NOT VALID']))
            WHEN 5 THEN format('DROP %s %s %s', pg_temp.pick(ARRAY['TABLE', 'INDEX', 'VIEW', 'SEQUENCE', 'TYPE', 'INDEX CONCURRENTLY']), pg_temp.pick(rels), pg_temp.pick(ARRAY['', 'CASCADE']))
            WHEN 6 THEN format('CREATE INDEX %s ON %s (%s)', pg_temp.pick(ARRAY['', 'CONCURRENTLY']), pg_temp.pick(rels), pg_temp.pick(cols))
            WHEN 7 THEN format('%s %s', pg_temp.pick(ARRAY['TRUNCATE', 'DELETE FROM', 'VACUUM FULL', 'VACUUM', 'ANALYZE', 'CLUSTER', 'LOCK', 'REINDEX TABLE', 'REINDEX INDEX', 'REFRESH MATERIALIZED VIEW']), pg_temp.pick(rels))
            WHEN 8 THEN format('UPDATE %s SET %s = 1 %s', pg_temp.pick(rels), pg_temp.pick(cols), pg_temp.pick(ARRAY['', 'WHERE id = 1']))
            WHEN 9 THEN format('ALTER TABLE %s RENAME %s TO y%s', pg_temp.pick(rels), pg_temp.pick(ARRAY['', 'COLUMN note', 'CONSTRAINT c']), n)
            WHEN 10 THEN format('SET lock_timeout = %s', pg_temp.pick(ARRAY['0', '''5s''', '''nonsense''', 'DEFAULT', '-1', '''99999999999''']))
            WHEN 11 THEN format('CREATE TABLE t%s (a %s %s)', n, pg_temp.pick(types), pg_temp.pick(extras))
            WHEN 12 THEN format('COMMENT ON COLUMN %s.%s IS NULL', pg_temp.pick(rels), pg_temp.pick(cols))
            WHEN 13 THEN format('ALTER TABLE %s %s', pg_temp.pick(rels), pg_temp.pick(ARRAY['SET LOGGED', 'SET UNLOGGED', 'SET TABLESPACE pg_default', 'SET TABLESPACE nope', 'DETACH PARTITION lt_events_2025', 'SET (fillfactor = 50)', 'VALIDATE CONSTRAINT c', 'ADD UNIQUE (id)', 'ADD PRIMARY KEY USING INDEX lt_orders_status']))
            WHEN 14 THEN format('ALTER TYPE %s ADD VALUE %L', pg_temp.pick(rels), 'v' || n)
            ELSE format('WITH d AS (DELETE FROM %s RETURNING 1) SELECT count(*) FROM d', pg_temp.pick(rels)) END, E';\n')
          INTO script FROM generate_series(1, 1 + floor(random() * 5)::int) n;
        BEGIN
            PERFORM count(*) FROM migrate_ops.lint(script);
            stmt_ok := stmt_ok + 1;
        EXCEPTION WHEN syntax_error THEN RAISE WARNING 'syntax error in a generated script: %', script;
        END;
    END LOOP;
    RETURN stmt_ok || ' of ' || statements || ' generated scripts linted';
END $fuzz$;
SELECT is(pg_temp.fuzz(200, 400), '400 of 400 generated scripts linted',
          'fuzz: 200 random token soups (42601) and 400 random valid scripts (all linted), never another error');

-- ---------------------------------------------------------------- tuning
SELECT is(pg_temp.rules('DROP TABLE lt_orders; DROP TABLE lt_customers'), 'drop_table,drop_table', 'before tuning');
UPDATE migrate_ops.lint_rules SET enabled = false, note = 'we drop tables on purpose' WHERE id = 'drop_table';
SELECT is(pg_temp.rules('DROP TABLE lt_orders; DROP TABLE lt_customers'), '', 'a disabled rule no longer fires');
SELECT results_eq($$SELECT enabled, default_enabled, note, changed_by FROM migrate_ops.lint_rules WHERE id = 'drop_table'$$,
                  $$VALUES (false, true, 'we drop tables on purpose', current_user::text COLLATE "default")$$, 'the view shows the tuning, who and why');
SELECT results_eq($$SELECT id, severity, enabled FROM migrate_ops.lint_rule_overrides$$,
                  $$VALUES ('drop_table', NULL::text, false)$$, 'only the difference from the shipped rule is stored');
UPDATE migrate_ops.lint_rules SET severity = 'warning' WHERE id = 'truncate';
SELECT is((SELECT severity FROM migrate_ops.lint('TRUNCATE lt_orders')), 'warning', 'a changed severity is what lint() reports');
SELECT is((SELECT severity FROM migrate_ops.lint_rules WHERE id = 'truncate'), 'warning', 'and what lint_rules shows');
SELECT is((SELECT severity FROM migrate_ops.lint_rule_catalog WHERE id = 'truncate'), 'error', 'the shipped rule is untouched');
WITH u AS (UPDATE migrate_ops.lint_rules SET severity = 'info' WHERE id = 'truncate' RETURNING severity, enabled)
SELECT is(severity || '/' || enabled, 'info/true', 'UPDATE … RETURNING shows the rule as it is now') FROM u;
UPDATE migrate_ops.lint_rules SET severity = NULL, enabled = NULL, note = NULL WHERE id IN ('drop_table', 'truncate');
SELECT is((SELECT count(*) FROM migrate_ops.lint_rule_overrides), 0::bigint, 'NULL restores the defaults and removes the override');
SELECT is(pg_temp.rules('DROP TABLE lt_orders; TRUNCATE lt_customers'), 'drop_table,truncate', 'the rules are back');
SELECT is((SELECT string_agg(severity, ',') FROM migrate_ops.lint('DROP TABLE lt_orders; TRUNCATE lt_customers')), 'error,error', 'at their default severity');
UPDATE migrate_ops.lint_rules SET severity = 'error' WHERE id = 'truncate';
SELECT is((SELECT count(*) FROM migrate_ops.lint_rule_overrides), 0::bigint, 'setting the default value stores nothing');
SELECT throws_ok($$UPDATE migrate_ops.lint_rules SET severity = 'fatal' WHERE id = 'truncate'$$, '22023', NULL, 'an unknown severity: 22023');
SELECT throws_ok($$UPDATE migrate_ops.lint_rules SET description = 'mine' WHERE id = 'truncate'$$, '0A000', NULL,
                 'the rule text is not a team''s to change: 0A000');
SELECT throws_ok($$UPDATE migrate_ops.lint_rules SET id = 'mine' WHERE id = 'truncate'$$, '0A000', NULL, 'nor its id');
SELECT throws_ok($$DELETE FROM migrate_ops.lint_rules WHERE id = 'truncate'$$, NULL, NULL, 'rules cannot be deleted (disable them)');
SELECT throws_ok($$INSERT INTO migrate_ops.lint_rules (id) VALUES ('mine')$$, NULL, NULL, 'nor added');
SELECT is((SELECT count(*) FROM migrate_ops.lint_rule_overrides), 0::bigint, 'refused changes stored nothing');
SELECT is((SELECT count(*) FROM migrate_ops.lint_rules WHERE severity = default_severity AND enabled), 30::bigint, 'all 30 rules intact');

-- ---------------------------------------------------------------- privileges
CREATE ROLE lt_deployer;
CREATE ROLE lt_dba;
GRANT USAGE ON SCHEMA migrate_ops TO lt_deployer, lt_dba;
GRANT EXECUTE ON FUNCTION migrate_ops.lint(text) TO lt_deployer;
GRANT SELECT, UPDATE ON migrate_ops.lint_rules TO lt_dba;
SET LOCAL ROLE lt_deployer;
SELECT is((SELECT rule_id FROM migrate_ops.lint('DROP TABLE lt_orders')), 'drop_table', 'EXECUTE on lint() is enough: the rules are read as the owner');
SELECT throws_ok($$UPDATE migrate_ops.lint_rules SET enabled = false WHERE id = 'drop_table'$$, '42501', NULL,
                 'a deployer cannot tune the rules');
RESET ROLE;
SET LOCAL ROLE lt_dba;
UPDATE migrate_ops.lint_rules SET enabled = false WHERE id = 'cluster';
RESET ROLE;
SELECT results_eq($$SELECT id, enabled, changed_by FROM migrate_ops.lint_rule_overrides$$, $$VALUES ('cluster', false, 'lt_dba')$$,
                  'UPDATE on lint_rules is enough to tune (no write access to the tables behind it)');
SET LOCAL ROLE lt_dba;
SELECT throws_ok($$SELECT * FROM migrate_ops.lint_rule_overrides$$, '42501', NULL, 'the overrides table itself is not granted');
RESET ROLE;

-- ---------------------------------------------------------------- apply() stores the findings
CALL migrate_ops.apply('lt1', E'CREATE TABLE lt_new (id int);\nALTER TABLE lt_loose ADD COLUMN created timestamptz DEFAULT clock_timestamp();');
SELECT is((SELECT jsonb_array_length(lint_findings) FROM migrate_ops.migrations WHERE version = 'lt1'), 1, 'apply() stores the findings');
SELECT is((SELECT (lint_findings->0) - 'message' - 'safe_alternative' FROM migrate_ops.migrations WHERE version = 'lt1'),
          '{"statement": 2, "line": 2, "command": "ALTER TABLE", "rule_id": "add_column_volatile_default", "severity": "warning", "lock_mode": "ACCESS EXCLUSIVE", "relation": "public.lt_loose"}'::jsonb,
          'each finding as lint() returns it');
CALL migrate_ops.apply('lt2', 'CREATE TABLE lt_new2 (id int);');
SELECT is((SELECT lint_findings FROM migrate_ops.migrations WHERE version = 'lt2'), '[]'::jsonb, 'a clean migration stores an empty list');
SELECT migrate_ops.start('lt3');
SELECT migrate_ops.finish('lt3');
SELECT is((SELECT lint_findings FROM migrate_ops.migrations WHERE version = 'lt3'), NULL, 'a record-only migration has no findings (no script)');
UPDATE migrate_ops.lint_rules SET severity = 'info' WHERE id = 'add_column_volatile_default';
CALL migrate_ops.apply('lt4', 'ALTER TABLE lt_loose ADD COLUMN r float8 DEFAULT random();');
SELECT is((SELECT lint_findings->0->>'severity' FROM migrate_ops.migrations WHERE version = 'lt4'), 'info', 'stored with the team''s severity');

SELECT * FROM finish();
ROLLBACK;
