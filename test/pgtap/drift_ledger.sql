-- The ledger and drift together (atomic mode, inside one transaction):
-- every recorded change of the schema records the fingerprints and the
-- changes, and moves the baseline, so that afterwards drift() is empty.
BEGIN;
SELECT plan(34);

\ir lib/drift_helpers.psql
CREATE FUNCTION pg_temp.changes(v text) RETURNS text[] LANGUAGE sql AS
$$ SELECT coalesce(array_agg((c->>'kind') || ' ' || (c->>'identity') || ' ' || (c->>'change')
                             ORDER BY c->>'kind', c->>'identity' COLLATE "C"), '{}')
     FROM migrate_ops.migrations m, jsonb_array_elements(m.changes) c WHERE m.version = v $$;

-- ---------------------------------------------------------------- baseline()
SELECT migrate_ops.baseline('0', 'existing schema');
SELECT is((SELECT source || ' ' || migration FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1), 'baseline 0',
          'baseline() takes a snapshot');
SELECT is((SELECT fingerprint_after FROM migrate_ops.migrations WHERE version = '0'), migrate_ops.fingerprint(),
          'and records the fingerprint it adopted');
SELECT is(pg_temp.d(), '{}', 'no drift after baseline()');

-- ---------------------------------------------------------------- apply()
CREATE TEMP TABLE before AS SELECT migrate_ops.fingerprint() AS f;
CALL migrate_ops.apply('1', $$CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL);
                              CREATE INDEX customers_email_idx ON customers (email);$$,
                       'DROP TABLE customers;');
SELECT is(pg_temp.d(), '{}', 'after apply() drift() is empty');
SELECT is((SELECT fingerprint_before FROM migrate_ops.migrations WHERE version = '1'), (SELECT f FROM before),
          'fingerprint_before is the schema before the script');
SELECT is((SELECT fingerprint_after FROM migrate_ops.migrations WHERE version = '1'), migrate_ops.fingerprint(),
          'fingerprint_after is the schema after it');
SELECT is(pg_temp.changes('1'), ARRAY['column public.customers.email added', 'column public.customers.id added',
                                      'constraint customers_pkey on public.customers added',
                                      'index public.customers_email_idx added',
                                      'privilege table public.customers added', 'table public.customers added'],
          'changes lists what the migration did, by kind, identity and change');
SELECT is((SELECT source || ' ' || migration || ' ' || added FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1),
          'apply 1 6', 'apply() took a snapshot for the migration');
SELECT is((SELECT (payload->>'fingerprint_after') || ' ' || (payload->>'change_count')
             FROM migrate_ops.events WHERE event = 'migration.applied' ORDER BY id DESC LIMIT 1),
          migrate_ops.fingerprint() || ' 6', 'migration.applied carries the fingerprint and the number of changes');

-- out-of-band drift before a migration: the migration's changes stay its own
CREATE TABLE hotfix (i int);
SELECT is(pg_temp.d(), ARRAY['column public.hotfix.i added', 'privilege table public.hotfix added', 'table public.hotfix added'],
          'a table created out of band is drift');
CALL migrate_ops.apply('2', 'ALTER TABLE customers ADD COLUMN name text;');
SELECT is(pg_temp.changes('2'), ARRAY['column public.customers.name added'],
          'the next migration''s changes are only its own');
SELECT is(pg_temp.d(), '{}', 'and the baseline moved past both');

-- a migration that changes no schema
CALL migrate_ops.apply('3', 'INSERT INTO customers VALUES (1, ''a@example.com'', ''A'');');
SELECT is(pg_temp.changes('3'), '{}', 'a data-only migration records no changes');
SELECT is((SELECT fingerprint_before = fingerprint_after FROM migrate_ops.migrations WHERE version = '3'), true,
          'and the same fingerprint before and after');

-- a no-op apply takes no snapshot
CREATE TEMP TABLE nsnap AS SELECT count(*) AS n FROM migrate_ops.snapshots;
CALL migrate_ops.apply('1', $$CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL);
                              CREATE INDEX customers_email_idx ON customers (email);$$);
SELECT is((SELECT count(*) FROM migrate_ops.snapshots), (SELECT n FROM nsnap), 'an already applied migration takes no snapshot');

-- a failing migration (atomic: the error goes up, everything rolls back with it)
SAVEPOINT failing;
SELECT throws_ok($$CALL migrate_ops.apply('4', 'CREATE TABLE x4 (i int); SELECT 1/0;')$$, '22012', NULL,
                 'a failing migration raises its error');
SELECT is((SELECT count(*) FROM migrate_ops.snapshots), (SELECT n FROM nsnap), 'and took no snapshot');
ROLLBACK TO SAVEPOINT failing;

-- ---------------------------------------------------------------- rollback()
CALL migrate_ops.apply('5', 'CREATE TABLE temp5 (i int);', 'DROP TABLE temp5;');
CALL migrate_ops.rollback('5');
SELECT is(pg_temp.d(), '{}', 'after rollback() drift() is empty');
SELECT is((SELECT source || ' ' || migration || ' ' || removed FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1),
          'rollback 5 3', 'rollback() took a snapshot of what the down script removed');
SELECT is(pg_temp.changes('5'), ARRAY['column public.temp5.i added', 'privilege table public.temp5 added',
                                      'table public.temp5 added'],
          'the migration keeps the changes it made when applied');

-- ---------------------------------------------------------------- start() / finish()
CREATE TEMP TABLE before6 AS SELECT migrate_ops.fingerprint() AS f;
SELECT migrate_ops.start('6', NULL, 'by another tool');
SELECT is((SELECT fingerprint_before FROM migrate_ops.migrations WHERE version = '6'), (SELECT f FROM before6),
          'start() records fingerprint_before');
CREATE TABLE tool_made (i int);
ALTER TABLE customers ADD COLUMN tool_col int;
SELECT is(pg_temp.d(), ARRAY['column public.customers.tool_col added', 'column public.tool_made.i added',
                             'privilege table public.tool_made added', 'table public.tool_made added'],
          'while the tool runs, its changes are drift');
SELECT migrate_ops.finish('6');
SELECT is(pg_temp.d(), '{}', 'after finish() drift() is empty');
SELECT is(pg_temp.changes('6'), ARRAY['column public.customers.tool_col added', 'column public.tool_made.i added',
                                      'privilege table public.tool_made added', 'table public.tool_made added'],
          'finish() records what the tool changed');
SELECT is((SELECT fingerprint_after FROM migrate_ops.migrations WHERE version = '6'), migrate_ops.fingerprint(),
          'and fingerprint_after');
SELECT is((SELECT source || ' ' || migration FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1), 'finish 6',
          'finish() took a snapshot');

-- drift that was there at start() is not the migration's
CREATE TABLE before_start (i int);
SELECT migrate_ops.start('7');
CREATE TABLE during (i int);
SELECT migrate_ops.finish('7');
SELECT is(pg_temp.changes('7'), ARRAY['column public.during.i added', 'privilege table public.during added',
                                      'table public.during added'],
          'changes made before start() are not counted as the migration''s');

-- fail(): no snapshot, the half-done change stays visible as drift
SELECT migrate_ops.start('8');
CREATE TABLE half_done (i int);
SELECT migrate_ops.fail('8', 'tool crashed');
SELECT is(pg_temp.d(), ARRAY['column public.half_done.i added', 'privilege table public.half_done added',
                             'table public.half_done added'],
          'after fail() the half-done change is drift');
SELECT is((SELECT fingerprint_after FROM migrate_ops.migrations WHERE version = '8'), NULL,
          'and the failed migration records no fingerprint_after');
SELECT is((SELECT count(*) FROM migrate_ops.snapshots WHERE migration = '8'), 0::bigint, 'nor a snapshot');

-- ---------------------------------------------------------------- the scan sees what the ledger did
SELECT migrate_ops.accept_drift('half_done kept on purpose');
SELECT migrate_ops.scan();
SELECT is((SELECT status FROM migrate_ops.scans ORDER BY id DESC LIMIT 1), 'clean', 'a scan after the ledger work is clean');
CALL migrate_ops.apply('9', 'CREATE VIEW v9 AS SELECT 1 AS one;');
SELECT migrate_ops.scan();
SELECT is((SELECT status FROM migrate_ops.scans ORDER BY id DESC LIMIT 1), 'clean',
          'a migration applied between two scans is no drift');
SELECT is((SELECT count(*) FROM migrate_ops.events WHERE event LIKE 'drift.detected'), 0::bigint,
          'and emits no drift.detected');

-- ---------------------------------------------------------------- attribution columns, filled by DDL capture
CREATE TABLE unattributed (i int);
SELECT is((SELECT count(*) FROM migrate_ops.drift()
            WHERE changed_by = current_user AND changed_at IS NOT NULL
              AND application_name = current_setting('application_name') AND migration IS NULL),
          3::bigint, 'out-of-band drift is attributed to the role and application that made it (DDL capture)');

SELECT * FROM finish();
ROLLBACK;
