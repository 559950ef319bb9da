-- The ledger inside a transaction block (how pgTAP and CI call it): apply()
-- and rollback() are atomic with the caller.  Every error path is checked
-- for its SQLSTATE and for leaving nothing behind.
BEGIN;
SELECT plan(111);

-- ---------------------------------------------------------------- shape
SELECT has_table('migrate_ops', 'migrations', 'ledger table exists');
SELECT columns_are('migrate_ops', 'migrations', ARRAY[
    'version', 'description', 'checksum', 'script', 'down_script', 'state', 'source',
    'started_at', 'finished_at', 'duration', 'applied_by', 'application_name',
    'client_addr', 'backend_pid', 'backend_start', 'attempts', 'error_sqlstate',
    'error_message', 'error_detail', 'error_hint', 'error_context',
    'fingerprint_before', 'fingerprint_after', 'changes', 'resolved_by',
    'resolved_at', 'resolution_reason', 'lint_findings'], 'ledger has every column of DESIGN §1');
SELECT has_table('migrate_ops', 'migration_history', 'history table exists');
SELECT is((SELECT prokind FROM pg_proc WHERE oid = 'migrate_ops.apply(text,text,text,text)'::regprocedure),
          'p', 'apply is a procedure');
SELECT is((SELECT prokind FROM pg_proc WHERE oid = 'migrate_ops.rollback(text)'::regprocedure),
          'p', 'rollback is a procedure');
SELECT ok(NOT bool_or(prosecdef), 'no ledger function is SECURITY DEFINER (scripts run as the caller)')
  FROM pg_proc WHERE pronamespace = 'migrate_ops'::regnamespace
   AND prorettype <> 'event_trigger'::regtype;  -- the DDL-capture event trigger runs as the owner

-- ---------------------------------------------------------------- checksum
SELECT is(migrate_ops.checksum(E'a;\r\nb;\r\n'), migrate_ops.checksum(E'a;\nb;'), 'CRLF and LF give the same checksum');
SELECT is(migrate_ops.checksum(E'a;\n\n\n'), migrate_ops.checksum('a;'), 'trailing newlines are ignored');
SELECT isnt(migrate_ops.checksum('a;'), migrate_ops.checksum('b;'), 'different scripts differ');
SELECT is(migrate_ops.checksum(E'x\r\ny\n'), encode(sha256(convert_to(E'x\ny', 'UTF8')), 'hex'),
          'checksum is SHA-256 of the normalised script');
SELECT is(migrate_ops.checksum(E'keep\rlone CR'), encode(sha256(convert_to(E'keep\rlone CR', 'UTF8')), 'hex'),
          'a lone CR is content, not a line ending');
SELECT is(migrate_ops.checksum(NULL), NULL, 'checksum(NULL) is NULL');

-- ---------------------------------------------------------------- bad arguments
SELECT throws_ok($$CALL migrate_ops.apply(NULL, 'SELECT 1')$$, '22004', 'version must not be null', 'apply: NULL version');
SELECT throws_ok($$CALL migrate_ops.apply('1', NULL)$$, '22004', 'script must not be null', 'apply: NULL script');
SELECT throws_ok($$CALL migrate_ops.apply('', 'SELECT 1')$$, '22023', 'migration version must not be empty', 'apply: empty version');
SELECT throws_ok($$CALL migrate_ops.apply(repeat('v', 10240), 'SELECT 1')$$, '22023', 'migration version is too long', 'apply: 10 kB version');
SELECT throws_ok($$CALL migrate_ops.apply(E'1\n2', 'SELECT 1')$$, '22023', 'migration version must not contain control characters', 'apply: newline in version');
SELECT throws_ok($$CALL migrate_ops.apply(' 1', 'SELECT 1')$$, '22023', NULL, 'apply: leading space in version');
SELECT lives_ok($$CALL migrate_ops.apply('0 "quoted" — ünïcode', 'SELECT 1')$$, 'quotes, spaces and unicode inside a version are fine');
SELECT is(state, 'applied', 'the unicode version is recorded') FROM migrate_ops.migrations WHERE version = '0 "quoted" — ünïcode';
SELECT throws_ok($$CALL migrate_ops.rollback(NULL)$$, '22004', NULL, 'rollback: NULL version');
SELECT throws_ok($$SELECT migrate_ops.start(NULL)$$, '22004', NULL, 'start: NULL version');
SELECT throws_ok($$SELECT migrate_ops.start('9', '')$$, '22023', NULL, 'start: empty checksum');
SELECT throws_ok($$SELECT migrate_ops.finish(NULL)$$, '22004', NULL, 'finish: NULL version');
SELECT throws_ok($$SELECT migrate_ops.fail(NULL, 'x')$$, '22004', NULL, 'fail: NULL version');
SELECT throws_ok($$SELECT migrate_ops.resolve(NULL, 'applied', 'x')$$, '22004', NULL, 'resolve: NULL version');
SELECT throws_ok($$SELECT migrate_ops.resolve('1', NULL, 'x')$$, '22004', NULL, 'resolve: NULL state');
SELECT throws_ok($$SELECT migrate_ops.resolve('1', 'applied', NULL)$$, '22004', NULL, 'resolve: NULL reason');
SELECT throws_ok($$SELECT migrate_ops.baseline(NULL)$$, '22004', NULL, 'baseline: NULL version');
SELECT is((SELECT count(*) FROM migrate_ops.migrations WHERE version <> '0 "quoted" — ünïcode'), 0::bigint,
          'bad arguments recorded nothing');

-- ---------------------------------------------------------------- apply, atomic
CALL migrate_ops.apply('1', 'CREATE TABLE tap_widgets (id int PRIMARY KEY);', 'DROP TABLE tap_widgets;', 'widgets');
SELECT has_table('public', 'tap_widgets', 'apply ran the script');
SELECT results_eq($$SELECT state, source, description, attempts, applied_by FROM migrate_ops.migrations WHERE version = '1'$$,
                  $$VALUES ('applied', 'apply', 'widgets', 1, current_user::text COLLATE "default")$$, 'applied row recorded');
SELECT is(checksum, migrate_ops.checksum('CREATE TABLE tap_widgets (id int PRIMARY KEY);'), 'checksum stored')
  FROM migrate_ops.migrations WHERE version = '1';
SELECT is(down_script, 'DROP TABLE tap_widgets;', 'down script stored') FROM migrate_ops.migrations WHERE version = '1';

-- a failing script in a transaction block: the error propagates and everything rolls back with the caller
SELECT throws_ok($$CALL migrate_ops.apply('2', 'CREATE TABLE tap_gadgets (id int); SELECT 1/0;')$$, '22012',
                 'division by zero', 'a failing script raises its own SQLSTATE');
SELECT hasnt_table('public', 'tap_gadgets', 'the failed script left no table');
SELECT is((SELECT count(*) FROM migrate_ops.migrations WHERE version = '2'), 0::bigint,
          'atomic mode: the failure rolls back with the caller, ledger row included');

SELECT throws_ok($$CALL migrate_ops.apply('2', E'CREATE TABLE tap_gadgets (id int);\nCREAT TABLE x ();')$$, '42601',
                 NULL, 'a syntax error is 42601');
SELECT throws_ok($$CALL migrate_ops.apply('2', 'CREATE TABLE tap_gadgets (id int); COMMIT;')$$, '2D000',
                 NULL, 'COMMIT in a script is refused (2D000)');
SELECT throws_ok($$CALL migrate_ops.apply('2', 'BEGIN; CREATE TABLE tap_gadgets (id int);')$$, '2D000',
                 NULL, 'BEGIN in a script is refused (2D000)');
SELECT throws_ok($$CALL migrate_ops.apply('2', 'CREATE TABLE tap_gadgets (id int); VACUUM tap_gadgets;')$$, '25001',
                 NULL, 'VACUUM in a script is refused (25001)');
SELECT throws_ok($$CALL migrate_ops.apply('2', 'CREATE INDEX CONCURRENTLY i ON tap_widgets (id);')$$, '25001',
                 NULL, 'CREATE INDEX CONCURRENTLY is refused (25001)');
SELECT throws_ok($$CALL migrate_ops.apply('2', 'REINDEX TABLE CONCURRENTLY tap_widgets;')$$, '25001',
                 NULL, 'REINDEX CONCURRENTLY is refused (25001)');
SELECT throws_ok($$CALL migrate_ops.apply('2', 'DROP INDEX CONCURRENTLY tap_widgets_pkey;')$$, '25001',
                 NULL, 'DROP INDEX CONCURRENTLY is refused (25001)');
SELECT throws_ok($$CALL migrate_ops.apply('2', 'COPY tap_widgets FROM STDIN;')$$, '25001',
                 NULL, 'COPY FROM STDIN is refused');
SELECT throws_ok($$CALL migrate_ops.apply('2', E'\\i other.sql')$$, '42601', NULL, 'psql meta-commands are a syntax error');
SELECT throws_ok($$CALL migrate_ops.apply('2', 'SELECT 1', 'VACUUM tap_widgets')$$, '25001',
                 NULL, 'a down script is checked too');
SELECT hasnt_table('public', 'tap_gadgets', 'no refused script ran a statement');
SELECT is((SELECT count(*) FROM migrate_ops.migrations WHERE version = '2'), 0::bigint, 'refused scripts recorded nothing');

-- ANALYZE (unlike VACUUM) runs in a transaction
SELECT lives_ok($$CALL migrate_ops.apply('2', 'CREATE TABLE tap_gadgets (id int); ANALYZE tap_gadgets;')$$, 'ANALYZE is allowed');

-- same version, same checksum: no-op; other checksum: refused
SELECT lives_ok($$CALL migrate_ops.apply('1', E'CREATE TABLE tap_widgets (id int PRIMARY KEY);\r\n')$$,
                'the same migration (CRLF checkout) is a no-op');
SELECT is(attempts, 1, 'the no-op did not run again') FROM migrate_ops.migrations WHERE version = '1';
SELECT throws_ok($$CALL migrate_ops.apply('1', 'CREATE TABLE tap_widgets (id bigint PRIMARY KEY);')$$, 'MO001',
                 'migration "1" was changed after it was applied', 'an edited migration is refused with MO001');

-- ---------------------------------------------------------------- the script runs as the caller
CREATE ROLE tap_deployer NOLOGIN;
CREATE ROLE tap_nobody NOLOGIN;
GRANT USAGE, CREATE ON SCHEMA public TO tap_deployer;
GRANT EXECUTE ON PROCEDURE migrate_ops.apply(text, text, text, text) TO tap_deployer;
GRANT EXECUTE ON FUNCTION migrate_ops.status(jsonb) TO tap_deployer;
CREATE SCHEMA tap_private;

SET ROLE tap_deployer;
SELECT lives_ok($$CALL migrate_ops.apply('3', 'CREATE TABLE public.tap_owned (id int);')$$, 'a deploy role with EXECUTE can apply');
SELECT throws_ok($$CALL migrate_ops.apply('4', 'CREATE TABLE tap_private.nope (id int);')$$, '42501', NULL,
                 'the script runs with the caller''s privileges, not the owner''s');
SELECT throws_ok($$UPDATE migrate_ops.migrations SET state = 'applied'$$, '42501', NULL,
                 'a deploy role cannot write the ledger directly');
SELECT throws_ok($$INSERT INTO migrate_ops.migration_history (version, action, performed_by) VALUES ('x', 'x', 'x')$$,
                 '42501', NULL, 'nor the history');
SELECT is((SELECT count(*) FROM migrate_ops.status() WHERE version = '3'), 1::bigint, 'status() works with EXECUTE alone');
RESET ROLE;
SELECT is((SELECT tableowner FROM pg_tables WHERE tablename = 'tap_owned'), 'tap_deployer', 'the table belongs to the caller');
SELECT is(applied_by, 'tap_deployer', 'applied_by is the calling role') FROM migrate_ops.migrations WHERE version = '3';

SET ROLE tap_nobody;
SELECT throws_ok($$CALL migrate_ops.apply('5', 'SELECT 1')$$, '42501', NULL, 'PUBLIC cannot apply');
SELECT throws_ok($$SELECT * FROM migrate_ops.status()$$, '42501', NULL, 'PUBLIC cannot read status');
SELECT throws_ok($$SELECT * FROM migrate_ops.migrations$$, '42501', NULL, 'PUBLIC cannot read the ledger');
SELECT throws_ok($$SELECT migrate_ops.start('5')$$, '42501', NULL, 'PUBLIC cannot start');
SELECT throws_ok($$SELECT migrate_ops.resolve('1', 'applied', 'x')$$, '42501', NULL, 'PUBLIC cannot resolve');
SELECT throws_ok($$SELECT migrate_ops.baseline('1')$$, '42501', NULL, 'PUBLIC cannot baseline');
SELECT ok(migrate_ops.checksum('x') IS NOT NULL, 'PUBLIC may compute a checksum');
RESET ROLE;

-- ---------------------------------------------------------------- record-only mode
SELECT lives_ok($$SELECT migrate_ops.start('6', 'abc', 'by flyway')$$, 'start() opens a record-only migration');
SELECT throws_ok($$SELECT migrate_ops.start('7')$$, '55000', NULL, 'a second start() in the same session is refused');
SELECT throws_ok($$CALL migrate_ops.apply('7', 'SELECT 1')$$, '55000', NULL, 'apply() while start() is open is refused');
SELECT is(state, 'running', 'the started migration is running') FROM migrate_ops.migrations WHERE version = '6';
SELECT throws_ok($$SELECT migrate_ops.finish('1')$$, '55000', NULL, 'finish() of a migration not started here is refused');
SELECT throws_ok($$SELECT migrate_ops.finish('nope')$$, '42704', NULL, 'finish() of an unknown version is 42704');
SELECT lives_ok($$SELECT migrate_ops.finish('6')$$, 'finish() closes it');
SELECT results_eq($$SELECT state, source, checksum FROM migrate_ops.migrations WHERE version = '6'$$,
                  $$VALUES ('applied', 'record', 'abc')$$, 'record-only migration applied');
SELECT throws_ok($$SELECT migrate_ops.start('6', 'changed')$$, 'MO001', NULL, 'start() with another checksum is refused');

-- the recording state follows (sub)transactions like the ledger rows do
SELECT throws_ok($$SELECT migrate_ops.start('0.30'); SELECT 1/0$$, '22012', NULL, 'a start() whose subtransaction fails ...');
SELECT throws_ok($$SELECT migrate_ops.finish('0.30')$$, '42704', NULL, '... is undone: no row, nothing open');
SELECT lives_ok($$SELECT migrate_ops.start('0.31'); SELECT migrate_ops.finish('0.31'); SELECT migrate_ops.start('0.32')$$,
                'start, finish and start again in one transaction');
SELECT throws_ok($$SELECT migrate_ops.finish('0.32'); SELECT 1/0$$, '22012', NULL, 'a finish() whose subtransaction fails ...');
SELECT is(state, 'running', '... leaves the migration running') FROM migrate_ops.migrations WHERE version = '0.32';
SELECT lives_ok($$SELECT migrate_ops.fail('0.32', 'tool failed')$$, '... and open in this session');
SELECT results_eq($$SELECT state, error_message FROM migrate_ops.migrations WHERE version = '0.32'$$,
                  $$VALUES ('failed', 'tool failed')$$, 'fail() records the message');

-- ---------------------------------------------------------------- resolve
SELECT throws_ok($$SELECT migrate_ops.resolve('nope', 'applied', 'x')$$, '42704', NULL, 'resolve: unknown version');
SELECT throws_ok($$SELECT migrate_ops.resolve('1', 'done', 'x')$$, '22023', NULL, 'resolve: invalid state');
SELECT throws_ok($$SELECT migrate_ops.resolve('1', 'applied', '')$$, '22023', NULL, 'resolve: empty reason');
SELECT throws_ok($$SELECT migrate_ops.resolve('1', 'rolled_back', 'x')$$, '55000', NULL, 'resolve: only failed migrations');

-- ---------------------------------------------------------------- rollback
SELECT throws_ok($$CALL migrate_ops.rollback('nope')$$, '42704', NULL, 'rollback: unknown version');
SELECT throws_ok($$CALL migrate_ops.rollback('3')$$, '55000', NULL, 'rollback: no down script');
SELECT throws_ok($$CALL migrate_ops.rollback('1')$$, '55000', NULL, 'rollback: later versions still applied');
CALL migrate_ops.apply('8', 'CREATE TABLE tap_eight (id int);', 'DROP TABLE tap_eight;');
CALL migrate_ops.apply('9', 'CREATE TABLE tap_nine (id int);', 'DROP TABLE tap_nine; SELECT 1/0;');
SELECT throws_ok($$CALL migrate_ops.rollback('9')$$, '22012', NULL, 'a failing down script raises its error');
SELECT has_table('public', 'tap_nine', 'the failed down script changed nothing');
SELECT is(state, 'applied', 'the migration stays applied') FROM migrate_ops.migrations WHERE version = '9';
UPDATE migrate_ops.migrations SET down_script = 'DROP TABLE tap_nine;' WHERE version = '9';
CALL migrate_ops.rollback('9');
SELECT hasnt_table('public', 'tap_nine', 'rollback ran the down script');
SELECT is(state, 'rolled_back', 'rollback marks the row') FROM migrate_ops.migrations WHERE version = '9';
SELECT throws_ok($$CALL migrate_ops.rollback('9')$$, '55000', NULL, 'a rolled back migration cannot be rolled back again');
CALL migrate_ops.rollback('8');
SELECT hasnt_table('public', 'tap_eight', 'the next one down rolls back too');
SELECT lives_ok($$CALL migrate_ops.apply('9', 'CREATE TABLE tap_nine (id bigint);')$$, 'a rolled back version can be applied again, edited');

-- ---------------------------------------------------------------- baseline and status
SELECT lives_ok($$SELECT migrate_ops.baseline('20')$$, 'baseline');
SELECT throws_ok($$SELECT migrate_ops.baseline('20')$$, '42710', NULL, 'baseline of a known version is refused');
SELECT lives_ok($$CALL migrate_ops.apply('15', 'CREATE TABLE tap_never (id int);')$$, 'a version under the baseline is skipped');
SELECT hasnt_table('public', 'tap_never', 'and not run');
SELECT results_eq(
    $$SELECT version, state FROM migrate_ops.status('[{"version":"1"},{"version":"15"},{"version":"21"},{"version":"100"}]')
       WHERE version IN ('1', '15', '20', '21', '100')$$,
    $$VALUES ('1', 'applied'), ('15', 'baselined'), ('20', 'baselined'), ('21', 'pending'), ('100', 'pending')$$,
    'status: baseline covers older versions, newer ones are pending, in natural order');
SELECT throws_ok($$SELECT * FROM migrate_ops.status('{"version":"1"}')$$, '22023', 'expected must be a JSON array', 'status: an object is refused');
SELECT throws_ok($$SELECT * FROM migrate_ops.status('"1"')$$, '22023', NULL, 'status: a scalar is refused');
SELECT throws_ok($$SELECT * FROM migrate_ops.status('[1, 2]')$$, '22023', NULL, 'status: elements must be objects');
SELECT throws_ok($$SELECT * FROM migrate_ops.status('[{"checksum":"x"}]')$$, '22023', NULL, 'status: version is required');
SELECT throws_ok($$SELECT * FROM migrate_ops.status('[{"version":1}]')$$, '22023', NULL, 'status: version must be a string');
SELECT throws_ok($$SELECT * FROM migrate_ops.status('[{"version":"1","checksum":5}]')$$, '22023', NULL, 'status: checksum must be a string');
SELECT throws_ok($$SELECT * FROM migrate_ops.status('[{"version":"1"},{"version":"1"}]')$$, '22023', NULL, 'status: duplicate versions');
SELECT is((SELECT count(*) FROM migrate_ops.status('[]')), (SELECT count(*) FROM migrate_ops.migrations),
          'status([]) lists the ledger');

SELECT * FROM finish();
ROLLBACK;
