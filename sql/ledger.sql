-- The ledger as psql users meet it: each CALL outside a transaction block
-- (autocommit), so apply() commits its "running" row, runs the script in a
-- subtransaction and commits a failure before re-raising the error.
CREATE EXTENSION migrate_ops;

-- checksum(): CRLF and trailing newlines do not change it
SELECT migrate_ops.checksum(E'CREATE TABLE a ();\r\nSELECT 1;\r\n')
     = migrate_ops.checksum(E'CREATE TABLE a ();\nSELECT 1;') AS crlf_same,
       migrate_ops.checksum('SELECT 1;') = migrate_ops.checksum('SELECT 2;') AS different_same;

-- a successful migration
CALL migrate_ops.apply('1', $$CREATE TABLE widgets (id int PRIMARY KEY, name text);$$,
                       $$DROP TABLE widgets;$$, 'widgets');
SELECT version, state, description, source, attempts, applied_by,
       finished_at >= started_at AS timed, backend_pid = pg_backend_pid() AS by_me
  FROM migrate_ops.migrations ORDER BY version;

-- a failing migration: the original error (22012) comes back, the schema is
-- untouched, and the failure is committed with the whole error
CALL migrate_ops.apply('2', $$CREATE TABLE gadgets (id int);
INSERT INTO gadgets VALUES (1/0);$$);
SELECT to_regclass('gadgets') IS NULL AS no_gadgets_table;
SELECT version, state, error_sqlstate, error_message, error_context, attempts
  FROM migrate_ops.migrations WHERE version = '2';

-- retry after the fix succeeds
CALL migrate_ops.apply('2', $$CREATE TABLE gadgets (id int);
INSERT INTO gadgets VALUES (1);$$);
SELECT version, state, error_sqlstate, attempts FROM migrate_ops.migrations WHERE version = '2';
SELECT * FROM gadgets;

-- the same migration again is a no-op with a NOTICE; an edited one is refused
CALL migrate_ops.apply('2', E'CREATE TABLE gadgets (id int);\r\nINSERT INTO gadgets VALUES (1);\r\n');
CALL migrate_ops.apply('2', $$CREATE TABLE gadgets (id bigint);$$);
SELECT count(*) AS gadget_rows FROM gadgets;

-- statements that cannot run in a transaction: refused before anything runs or is recorded
CALL migrate_ops.apply('3', $$CREATE TABLE t3 (id int);
CREATE INDEX CONCURRENTLY t3_idx ON t3 (id);$$);
CALL migrate_ops.apply('3', $$CREATE TABLE t3 (id int); COMMIT;$$);
CALL migrate_ops.apply('3', $$VACUUM widgets;$$);
-- a syntax error points into the script
CALL migrate_ops.apply('3', E'CREATE TABLE t3 (id int);\nCREAT TABLE t4 ();');
SELECT count(*) AS rows_for_3, to_regclass('t3') IS NULL AS no_t3
  FROM migrate_ops.migrations WHERE version = '3';

-- rollback refuses without a down script, and while a later version is applied
CALL migrate_ops.rollback('2');
CALL migrate_ops.rollback('1');

-- record-only mode: the tool runs in between, each statement its own transaction
SELECT migrate_ops.start('3', 'sha-from-the-tool', 'run by psql -f');
CREATE TABLE sprockets (id int);
SELECT version, state, source FROM migrate_ops.migrations WHERE version = '3';
SELECT migrate_ops.finish('3');
SELECT version, state, source, checksum FROM migrate_ops.migrations WHERE version = '3';

-- a failed record-only migration
SELECT migrate_ops.start('4');
SELECT migrate_ops.fail('4', 'flyway reported an error');
SELECT version, state, error_message FROM migrate_ops.migrations WHERE version = '4';

-- resolve it by hand
SELECT migrate_ops.resolve('4', 'rolled_back', 'reverted by hand after the incident');
SELECT version, state, resolved_by, resolution_reason FROM migrate_ops.migrations WHERE version = '4';

-- status() against the repository's list
SELECT version, state, checksum IS NOT NULL AS has_checksum, expected_checksum
  FROM migrate_ops.status($$[
    {"version": "1", "checksum": "0000"},
    {"version": "2"},
    {"version": "10"},
    {"version": "5", "checksum": null}
  ]$$);

-- the audit trail of all of the above
SELECT version, action, old_state, new_state, performed_by, detail
  FROM migrate_ops.migration_history ORDER BY id;

-- the events committed along the way: a failed non-atomic apply still
-- tells the team (migration.failed is committed with the failed row)
SELECT event, payload->>'version' AS version, payload->>'action' AS action,
       payload->'error'->>'sqlstate' AS sqlstate
  FROM migrate_ops.events ORDER BY id;

DROP EXTENSION migrate_ops;
DROP TABLE widgets, gadgets, sprockets;
