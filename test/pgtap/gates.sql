-- Deploy gates inside a transaction block (how pgTAP and CI call them):
-- settings, approvals, the backup registry, preflight() check by check, the
-- production gate in apply() (atomic: a refusal rolls back with the caller,
-- its event included), staging warnings, check_backups(), health() and
-- ready() in each state, privileges.  Every error path with its SQLSTATE.
BEGIN;
SELECT plan(176);

-- the checks of a preflight() as (check, ok) and one check's detail
CREATE FUNCTION pg_temp.pf(v text, s text) RETURNS TABLE (c text, ok boolean)
    LANGUAGE sql AS $$ SELECT "check", ok FROM migrate_ops.preflight(v, s) $$;
CREATE FUNCTION pg_temp.ok(c text, v text DEFAULT NULL, s text DEFAULT NULL, e jsonb DEFAULT NULL) RETURNS boolean
    LANGUAGE sql AS $$ SELECT ok FROM migrate_ops.preflight(v, s, e) WHERE "check" = c $$;
CREATE FUNCTION pg_temp.detail(c text, v text DEFAULT NULL, s text DEFAULT NULL, e jsonb DEFAULT NULL) RETURNS text
    LANGUAGE sql AS $$ SELECT detail FROM migrate_ops.preflight(v, s, e) WHERE "check" = c $$;
-- ready() is true only with the worker alive (the harness preloads): wait for it
CREATE FUNCTION pg_temp.wait_worker() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..200 LOOP
        IF (migrate_ops.health()->>'worker_alive')::boolean THEN RETURN true; END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END $$;

-- ---------------------------------------------------------------- shape
SELECT has_table('migrate_ops', 'approvals', 'approvals table exists');
SELECT columns_are('migrate_ops', 'approvals',
    ARRAY['id', 'version', 'checksum', 'approved_by', 'approved_at', 'note'], 'approvals columns');
SELECT has_table('migrate_ops', 'backups', 'backups table exists');
SELECT columns_are('migrate_ops', 'backups',
    ARRAY['id', 'label', 'location', 'size_bytes', 'taken_at', 'recorded_at', 'recorded_by', 'stale_notified_at'],
    'backups columns');
SELECT ok((SELECT ARRAY['migrate_ops.approvals'::regclass::oid, 'migrate_ops.backups'::regclass::oid] <@ extconfig
             FROM pg_extension WHERE extname = 'migrate_ops'), 'approvals and backups are kept by pg_dump');
SELECT has_function('migrate_ops', 'approve', ARRAY['text', 'text', 'text'], 'approve(text, text, text)');
SELECT has_function('migrate_ops', 'record_backup', ARRAY['text', 'text', 'bigint', 'timestamp with time zone'],
                    'record_backup(text, text, bigint, timestamptz)');
SELECT has_function('migrate_ops', 'preflight', ARRAY['text', 'text', 'jsonb'], 'preflight(text, text, jsonb)');
SELECT has_function('migrate_ops', 'health', ARRAY['jsonb'], 'health(jsonb)');
SELECT has_function('migrate_ops', 'ready', ARRAY['jsonb'], 'ready(jsonb)');
SELECT has_function('migrate_ops', 'check_backups', ARRAY[]::text[], 'check_backups()');
SELECT ok(NOT bool_or(prosecdef), 'no gate function is SECURITY DEFINER')
  FROM pg_proc WHERE pronamespace = 'migrate_ops'::regnamespace
   AND proname IN ('approve', 'record_backup', 'preflight', 'health', 'ready', 'check_backups');

-- ---------------------------------------------------------------- settings
SELECT is(current_setting('migrate_ops.environment'), 'development', 'environment defaults to development');
SELECT is(current_setting('migrate_ops.required_approvals'), '1', 'required_approvals defaults to 1');
SELECT is(current_setting('migrate_ops.backup_max_age'), '1d', 'backup_max_age defaults to 24 h');
SELECT throws_ok($$SET migrate_ops.environment = 'prod'$$, '22023', NULL, 'an unknown environment is 22023');
SELECT throws_ok($$SET migrate_ops.required_approvals = -1$$, '22023', NULL, 'negative required_approvals is 22023');

CREATE ROLE tap_deployer NOLOGIN;
CREATE ROLE tap_reviewer NOLOGIN;
CREATE ROLE tap_reviewer2 NOLOGIN;
CREATE ROLE tap_monitor NOLOGIN;
CREATE ROLE tap_nobody NOLOGIN;
GRANT USAGE, CREATE ON SCHEMA public TO tap_deployer;
GRANT EXECUTE ON PROCEDURE migrate_ops.apply(text, text, text, text), migrate_ops.rollback(text) TO tap_deployer;
GRANT EXECUTE ON FUNCTION migrate_ops.preflight(text, text, jsonb), migrate_ops.approve(text, text, text),
                          migrate_ops.start(text, text, text), migrate_ops.fail(text, text) TO tap_deployer;
GRANT EXECUTE ON FUNCTION migrate_ops.approve(text, text, text) TO tap_reviewer, tap_reviewer2;
GRANT EXECUTE ON FUNCTION migrate_ops.health(jsonb), migrate_ops.ready(jsonb) TO tap_monitor;

SET ROLE tap_deployer;
SELECT throws_ok($$SET migrate_ops.environment = 'development'$$, '42501', NULL,
                 'a deploy role cannot change the environment');
SELECT throws_ok($$SET migrate_ops.required_approvals = 0$$, '42501', NULL, 'nor required_approvals');
SELECT throws_ok($$SET migrate_ops.backup_max_age = 0$$, '42501', NULL, 'nor backup_max_age');
RESET ROLE;

-- ---------------------------------------------------------------- record_backup
SELECT throws_ok($$SELECT migrate_ops.record_backup(NULL, 's3://b/1', 1)$$, '22004', 'label must not be null', 'record_backup: NULL label');
SELECT throws_ok($$SELECT migrate_ops.record_backup('n', NULL, 1)$$, '22004', 'location must not be null', 'record_backup: NULL location');
SELECT throws_ok($$SELECT migrate_ops.record_backup('n', 's3://b/1', NULL)$$, '22004', 'size_bytes must not be null', 'record_backup: NULL size');
SELECT throws_ok($$SELECT migrate_ops.record_backup('n', 's3://b/1', 1, NULL)$$, '22004', 'taken_at must not be null', 'record_backup: NULL taken_at');
SELECT throws_ok($$SELECT migrate_ops.record_backup('n', 's3://b/1', -5)$$, '22023', 'size_bytes must be positive', 'record_backup: negative size');
SELECT throws_ok($$SELECT migrate_ops.record_backup('n', 's3://b/1', 0)$$, '22023', 'size_bytes must be positive', 'record_backup: zero size');
SELECT throws_ok($$SELECT migrate_ops.record_backup('', 's3://b/1', 1)$$, '22023', NULL, 'record_backup: empty label');
SELECT throws_ok($$SELECT migrate_ops.record_backup(repeat('l', 256), 's3://b/1', 1)$$, '22023', NULL, 'record_backup: 256-byte label');
SELECT throws_ok($$SELECT migrate_ops.record_backup('n', '', 1)$$, '22023', NULL, 'record_backup: empty location');
SELECT throws_ok($$SELECT migrate_ops.record_backup('n', repeat('l', 4097), 1)$$, '22023', NULL, 'record_backup: 4 kB location');
SELECT throws_ok($$SELECT migrate_ops.record_backup('n', 's3://b/1', 1, now() + interval '1 day')$$, '22023',
                 'taken_at is in the future', 'record_backup: taken_at in the future');
SELECT throws_ok($$SELECT migrate_ops.record_backup('n', 's3://b/1', 1, 'infinity')$$, '22023', NULL, 'record_backup: infinity');
SELECT throws_ok($$SELECT migrate_ops.record_backup('n', 's3://b/1', 1, '-infinity')$$, '22023', NULL, 'record_backup: -infinity');
SELECT is((SELECT count(*) FROM migrate_ops.backups), 0::bigint, 'bad backups recorded nothing');
SELECT ok(migrate_ops.record_backup('nightly', 's3://backups/shop/1', 123456789, now() - interval '2 hours') > 0,
          'record_backup returns the id');
SELECT results_eq($$SELECT label, location, size_bytes, taken_at, recorded_by FROM migrate_ops.backups$$,
                  $$VALUES ('nightly', 's3://backups/shop/1', 123456789::bigint, now() - interval '2 hours', current_user::text COLLATE "default")$$,
                  'the backup is recorded as given, by the caller');
SELECT lives_ok($$SELECT migrate_ops.record_backup('skewed', 's3://b/2', 1, now() + interval '30 seconds')$$,
                'a taken_at a few seconds ahead (clock skew) is accepted');
SELECT lives_ok($$SELECT migrate_ops.record_backup('now', 's3://b/3', 1)$$, 'taken_at defaults to now()');
SELECT is((SELECT taken_at FROM migrate_ops.backups WHERE label = 'now'), now(), 'default taken_at is now()');
SET ROLE tap_nobody;
SELECT throws_ok($$SELECT migrate_ops.record_backup('x', 'y', 1)$$, '42501', NULL, 'PUBLIC cannot record a backup');
SELECT throws_ok($$SELECT * FROM migrate_ops.backups$$, '42501', NULL, 'PUBLIC cannot read the registry');
RESET ROLE;
DELETE FROM migrate_ops.backups;

-- ---------------------------------------------------------------- approve
SELECT throws_ok($$SELECT migrate_ops.approve(NULL, repeat('a', 64))$$, '22004', 'version must not be null', 'approve: NULL version');
SELECT throws_ok($$SELECT migrate_ops.approve('1', NULL)$$, '22004', 'checksum must not be null', 'approve: NULL checksum');
SELECT throws_ok($$SELECT migrate_ops.approve('', repeat('a', 64))$$, '22023', NULL, 'approve: empty version');
SELECT throws_ok($$SELECT migrate_ops.approve('1', 'abc')$$, '22023', 'invalid checksum "abc"', 'approve: short checksum');
SELECT throws_ok($$SELECT migrate_ops.approve('1', repeat('g', 64))$$, '22023', NULL, 'approve: non-hex checksum');
SELECT throws_ok($$SELECT migrate_ops.approve('1', repeat('a', 64), repeat('n', 4097))$$, '22023', 'note is too long', 'approve: 4 kB note');
CALL migrate_ops.apply('1', 'CREATE TABLE tap_first (id int);');
SELECT throws_ok(format($$SELECT migrate_ops.approve('1', %L)$$, migrate_ops.checksum('CREATE TABLE tap_first (id int);')),
                 '55000', 'migration "1" is already applied', 'approve: an applied migration');
SELECT is((SELECT count(*) FROM migrate_ops.approvals), 0::bigint, 'refused approvals recorded nothing');

SET ROLE tap_reviewer;
SELECT migrate_ops.approve('2', upper(migrate_ops.checksum('DROP TABLE tap_first;')), 'reviewed in PR 12') AS approval_id \gset
SELECT ok(:approval_id > 0, 'a reviewer approves (upper-case hex is fine)');
SELECT is(migrate_ops.approve('2', migrate_ops.checksum('DROP TABLE tap_first;'), 'again'),
          :approval_id::bigint, 'approving twice returns the same approval');
SELECT throws_ok($$INSERT INTO migrate_ops.approvals (version, checksum, approved_by) VALUES ('2', repeat('a', 64), 'x')$$,
                 '42501', NULL, 'a reviewer cannot write approvals directly');
RESET ROLE;
SELECT results_eq($$SELECT version, checksum, approved_by, note FROM migrate_ops.approvals$$,
                  $$VALUES ('2', migrate_ops.checksum('DROP TABLE tap_first;'), 'tap_reviewer', 'reviewed in PR 12')$$,
                  'one approval, lower-case checksum, by the calling role, first note kept');
SET ROLE tap_nobody;
SELECT throws_ok($$SELECT migrate_ops.approve('2', repeat('a', 64))$$, '42501', NULL, 'approving needs EXECUTE');
RESET ROLE;

-- ---------------------------------------------------------------- preflight: shape and bad input
SELECT results_eq($$SELECT "check", severity FROM migrate_ops.preflight()$$,
    $$VALUES ('environment', 'info'), ('migration', 'error'), ('deploy_lock', 'error'), ('failed_migrations', 'error'),
             ('drift', 'error'), ('backup', 'error'), ('approvals', 'error'), ('locks', 'error'), ('ordering', 'warning')$$,
    'preflight(): every check, in order, with its severity');
SELECT results_eq($$SELECT "check" FROM migrate_ops.preflight() WHERE ok IS NULL$$,
    $$VALUES ('migration'), ('approvals'), ('locks'), ('ordering')$$,
    'without version and script the checks that need them are not evaluated (ok NULL)');
SELECT is(pg_temp.detail('environment'), 'development: database "tap_gates"; apply() runs no checks', 'environment detail');
SELECT throws_ok($$SELECT * FROM migrate_ops.preflight('nope')$$, '42704', 'migration "nope" does not exist',
                 'preflight of an unknown version without a script: 42704');
SELECT throws_ok($$SELECT * FROM migrate_ops.preflight(E'1\n')$$, '22023', NULL, 'preflight: bad version');
SELECT throws_ok($$SELECT * FROM migrate_ops.preflight('3', 'CREAT TABLE x ()')$$, '42601', NULL, 'preflight: syntax error');
SELECT throws_ok($$SELECT * FROM migrate_ops.preflight('3', repeat('SELECT 1;', 2 * 1024 * 1024))$$, '54000', NULL,
                 'preflight: a script over migrate_ops.max_script_size');
SELECT throws_ok($$SELECT * FROM migrate_ops.preflight('3', 'SELECT 1', '{"version":"1"}')$$, '22023', NULL,
                 'preflight: a malformed repository list');
SELECT throws_ok($$SELECT * FROM migrate_ops.preflight('3', 'SELECT 1', '[{"version":""}]')$$, '22023', NULL,
                 'preflight: an empty version in the list');

-- ---------------------------------------------------------------- preflight: the migration's own state
SELECT is(pg_temp.detail('migration', '3', 'SELECT 1'), 'not in the ledger yet: apply() runs it', 'a new version');
SELECT ok(pg_temp.ok('migration', '1', 'CREATE TABLE tap_first (id int);'), 'an applied version, same script');
SELECT is(pg_temp.detail('migration', '1', 'CREATE TABLE tap_first (id int);'), 'already applied: apply() skips it', '... is skipped');
SELECT ok(NOT pg_temp.ok('migration', '1', 'CREATE TABLE tap_first (id bigint);'), 'an applied version, edited script: not ok');
SELECT matches(pg_temp.detail('migration', '1', 'CREATE TABLE tap_first (id bigint);'), 'apply\(\) refuses an edited migration \(MO001\)$',
               '... apply() would refuse it');
SELECT ok(pg_temp.ok('migration', '1'), 'a known version without a script uses the stored one');
SELECT matches(pg_temp.detail('locks', '1'), '\(the script stored in the ledger\)$', '... and says so');

-- ---------------------------------------------------------------- preflight: backup
SELECT is(pg_temp.detail('backup'), 'no backup recorded; take one and record it with migrate_ops.record_backup()', 'no backup: not ok');
SELECT ok(NOT pg_temp.ok('backup'), 'no backup fails the check');
SELECT migrate_ops.record_backup('nightly', 's3://b/2h', 1, now() - interval '2 hours');
SELECT ok(pg_temp.ok('backup'), 'a backup of 2 h passes (max 24 h)');
SELECT matches(pg_temp.detail('backup'), '^newest backup "nightly" taken .*, 2 h( \d+ min)? ago \(migrate_ops.backup_max_age: 24 h\)$', 'backup detail');
SET migrate_ops.backup_max_age = '1h';
SELECT ok(NOT pg_temp.ok('backup'), 'with backup_max_age 1 h the same backup is stale');
SET migrate_ops.backup_max_age = 0;
SELECT is(pg_temp.detail('backup'), 'not required (migrate_ops.backup_max_age = 0)', 'backup_max_age 0 requires none');
RESET migrate_ops.backup_max_age;

-- ---------------------------------------------------------------- preflight: failed migrations
SELECT migrate_ops.start('4'); SELECT migrate_ops.fail('4', 'the tool crashed');
SELECT ok(NOT pg_temp.ok('failed_migrations', '5', 'SELECT 1'), 'a failed migration fails the check');
SELECT is(pg_temp.detail('failed_migrations', '5', 'SELECT 1'),
          '1 failed migration pending resolution: "4" (the tool crashed); retry or fix them, or mark them with migrate_ops.resolve()',
          'failed detail names it');
SELECT ok(pg_temp.ok('failed_migrations', '4', 'SELECT 1'), 'retrying the failed migration itself is not blocked by it');
SELECT is(pg_temp.detail('migration', '4', 'SELECT 1'), 'failed after 1 attempt: apply() runs it again', 'the retry is a new attempt');
SELECT migrate_ops.resolve('4', 'rolled_back', 'abandoned');
SELECT ok(pg_temp.ok('failed_migrations', '5', 'SELECT 1'), 'resolved: the check passes');

-- ---------------------------------------------------------------- preflight: approvals
CREATE TABLE tap_orders (id int PRIMARY KEY, note text);
ALTER TABLE tap_orders OWNER TO tap_deployer;
SELECT ok(pg_temp.ok('approvals', '6', 'ALTER TABLE tap_orders ADD COLUMN c int'), 'no lint error: no approval needed');
SELECT is(pg_temp.detail('approvals', '6', 'ALTER TABLE tap_orders ADD COLUMN c int'),
          'no lint finding of severity error: no approval needed', '... says so');
SELECT ok(NOT pg_temp.ok('approvals', '6', 'ALTER TABLE tap_orders DROP COLUMN note'), 'a destructive script needs an approval');
SELECT matches(pg_temp.detail('approvals', '6', 'ALTER TABLE tap_orders DROP COLUMN note'),
    '^lint errors: drop_column \(statement 1\); approvals: 0 of 1 required; another role approves with SELECT migrate_ops\.approve\(''6'', ''[0-9a-f]{64}'', ''note''\)$',
    '... names the rule, the count and how to approve');
SELECT is(pg_temp.ok('approvals', NULL, 'ALTER TABLE tap_orders DROP COLUMN note'), NULL, 'no version: approvals not evaluated');
UPDATE migrate_ops.lint_rules SET severity = 'warning' WHERE id = 'drop_column';
SELECT ok(pg_temp.ok('approvals', '6', 'ALTER TABLE tap_orders DROP COLUMN note'), 'a rule tuned down to warning needs no approval');
UPDATE migrate_ops.lint_rules SET severity = NULL WHERE id = 'drop_column';
SET migrate_ops.required_approvals = 0;
SELECT ok(pg_temp.ok('approvals', '6', 'ALTER TABLE tap_orders DROP COLUMN note'), 'required_approvals 0 needs none');
RESET migrate_ops.required_approvals;

-- ---------------------------------------------------------------- preflight: locks (a real second session: test/integration/gates.sh)
SELECT is(pg_temp.detail('locks', '6', 'ALTER TABLE tap_orders ADD COLUMN c int; CREATE INDEX ON tap_first (id)'),
          'no other session holds a conflicting lock on public.tap_orders (ACCESS EXCLUSIVE), public.tap_first (SHARE)',
          'locks names the relations and modes the script needs');
SELECT is(pg_temp.detail('locks', '6', 'CREATE TABLE tap_new (id int); INSERT INTO tap_orders VALUES (1)'),
          'the script takes no lock stronger than ROW EXCLUSIVE on an existing relation', 'a script locking nothing existing');

-- ---------------------------------------------------------------- preflight: ordering
SELECT ok(pg_temp.ok('ordering', '6', 'SELECT 1'), 'in order');
SELECT is(pg_temp.detail('ordering', '0.5', 'SELECT 1'),
          'later version already applied: "1" (this one would run out of order) (no repository list given: only versions the ledger knows)',
          'an older version than an applied one is out of order');
SELECT is(pg_temp.detail('ordering', '6', 'SELECT 1', '[{"version":"1"},{"version":"2"},{"version":"4"},{"version":"5"},{"version":"6"},{"version":"10"}]'),
          'earlier versions not applied: "2" (pending), "4" (rolled back), "5" (pending)',
          'with the repository list: pending and listed rolled-back earlier versions, in natural order; later ones ignored');
SELECT is(pg_temp.ok('ordering', '6', 'SELECT 1', '[{"version":"2"}]'), false, 'ordering fails (it only warns)');

-- ---------------------------------------------------------------- preflight: drift (live drift() against the latest snapshot)
SELECT migrate_ops.accept_drift('pgTAP: the tables made above are the baseline');
SELECT ok(pg_temp.ok('drift'), 'no drift after accept_drift()');
SELECT matches(pg_temp.detail('drift'), '^the catalog matches snapshot \d+ of ', '... against the latest snapshot');
CREATE SEQUENCE tap_out_of_band_seq;
SELECT ok(NOT pg_temp.ok('drift'), 'an out-of-band CREATE SEQUENCE is drift');
SELECT matches(pg_temp.detail('drift'), '^\d+ objects? differs? from snapshot \d+ of .*sequence public\.tap_out_of_band_seq added.*; see migrate_ops\.drift\(\), then repair it or migrate_ops\.accept_drift\(\)$',
               '... named in the detail');
SET migrate_ops.environment = production;
SELECT migrate_ops.record_backup('for drift', 's3://b/d', 1, now() - interval '1 hour');
SELECT throws_ok($$CALL migrate_ops.apply('7', 'CREATE TABLE tap_seven (id int);')$$, 'MO002',
                 'deploy of migration "7" refused in production: drift', 'production: drift refuses a deploy');
DROP SEQUENCE tap_out_of_band_seq;
SELECT lives_ok($$CALL migrate_ops.apply('7', 'CREATE TABLE tap_seven (id int);')$$, 'repaired: the deploy goes through');
SET migrate_ops.environment = development;

-- ---------------------------------------------------------------- the gate in production (atomic: rolls back with the caller)
SET migrate_ops.environment = production;
SELECT is(pg_temp.detail('environment'),
          'production: database "tap_gates"; apply() refuses a deploy when a check of severity error fails', 'production detail');
SET ROLE tap_deployer;
INSERT INTO tap_orders VALUES (1, 'keep');
SELECT throws_ok($$CALL migrate_ops.apply('10', 'DROP TABLE tap_orders;')$$, 'MO002',
                 'deploy of migration "10" refused in production: approvals', 'a destructive migration without approval: MO002');
RESET ROLE;
SELECT has_table('public', 'tap_orders', 'the refused migration dropped nothing');
SELECT is((SELECT count(*) FROM tap_orders), 1::bigint, 'the data is still there');
SELECT is((SELECT count(*) FROM migrate_ops.migrations WHERE version = '10'), 0::bigint, 'no ledger row');
SELECT is((SELECT count(*) FROM migrate_ops.migration_history WHERE version = '10'), 0::bigint, 'no history row');
SELECT is((SELECT count(*) FROM migrate_ops.events WHERE event = 'preflight.blocked'), 0::bigint,
          'in a transaction block the preflight.blocked event rolls back with the caller');

-- self-approval does not count
SET ROLE tap_deployer;
SELECT lives_ok($$SELECT migrate_ops.approve('10', migrate_ops.checksum('DROP TABLE tap_orders;'), 'mine')$$,
                'the deploy role may record an approval ...');
SELECT throws_ok($$CALL migrate_ops.apply('10', 'DROP TABLE tap_orders;')$$, 'MO002', NULL, '... but its own approval does not count');
SELECT matches(pg_temp.detail('approvals', '10', 'DROP TABLE tap_orders;'),
               'approvals: 0 of 1 required; not counted: the approval by tap_deployer, the role that applies;',
               'preflight says why');
RESET ROLE;

-- an approval of another checksum is void
SET ROLE tap_reviewer;
SELECT migrate_ops.approve('10', migrate_ops.checksum('DROP TABLE tap_orders CASCADE;'));
RESET ROLE;
SET ROLE tap_deployer;
SELECT throws_ok($$CALL migrate_ops.apply('10', 'DROP TABLE tap_orders;')$$, 'MO002', NULL,
                 'an approval of an edited script does not count');
SELECT matches(pg_temp.detail('approvals', '10', 'DROP TABLE tap_orders;'),
               'void: 1 approval of another checksum \(the migration was edited since\)', 'preflight says it is void');
RESET ROLE;

-- approved by another role: applies
SET ROLE tap_reviewer;
SELECT migrate_ops.approve('10', migrate_ops.checksum('DROP TABLE tap_orders;'), 'ok to drop');
RESET ROLE;
SET ROLE tap_deployer;
SELECT matches(pg_temp.detail('approvals', '10', 'DROP TABLE tap_orders;'), 'approvals: 1 of 1 required \(tap_reviewer\)',
               'preflight counts the reviewer''s approval');
SELECT lives_ok($$CALL migrate_ops.apply('10', 'DROP TABLE tap_orders;')$$, 'approved by another role: applies');
RESET ROLE;
SELECT hasnt_table('public', 'tap_orders', 'the approved migration ran');
SELECT results_eq($$SELECT state, applied_by FROM migrate_ops.migrations WHERE version = '10'$$,
                  $$VALUES ('applied', 'tap_deployer')$$, 'and is applied by the deploy role');

-- two approvals required
SET migrate_ops.required_approvals = 2;
CREATE TABLE tap_two (id int); ALTER TABLE tap_two OWNER TO tap_deployer;
SELECT migrate_ops.accept_drift('pgTAP: tap_two');
SET ROLE tap_reviewer; SELECT migrate_ops.approve('11', migrate_ops.checksum('TRUNCATE tap_two;')); RESET ROLE;
SET ROLE tap_deployer;
SELECT throws_ok($$CALL migrate_ops.apply('11', 'TRUNCATE tap_two;')$$, 'MO002', NULL, 'required_approvals 2: one is not enough');
RESET ROLE;
SET ROLE tap_reviewer2; SELECT migrate_ops.approve('11', migrate_ops.checksum('TRUNCATE tap_two;')); RESET ROLE;
SET ROLE tap_deployer;
SELECT lives_ok($$CALL migrate_ops.apply('11', 'TRUNCATE tap_two;')$$, 'two approvals by two other roles: applies');
RESET ROLE;
RESET migrate_ops.required_approvals;

-- a missing or old backup blocks; record_backup unblocks
DELETE FROM migrate_ops.backups;
SELECT throws_ok($$CALL migrate_ops.apply('12', 'CREATE TABLE tap_twelve (id int);')$$, 'MO002',
                 'deploy of migration "12" refused in production: backup', 'no backup: refused');
SELECT migrate_ops.record_backup('old', 's3://b/old', 1, now() - interval '30 hours');
SELECT throws_ok($$CALL migrate_ops.apply('12', 'CREATE TABLE tap_twelve (id int);')$$, 'MO002', NULL, 'a 30 h old backup: refused');
SELECT matches(pg_temp.detail('backup'), 'newest backup "old" taken .*, 30 h( \d+ min)? ago \(migrate_ops.backup_max_age: 24 h\); take a backup',
               'preflight says how old');
SELECT migrate_ops.record_backup('fresh', 's3://b/fresh', 1, now() - interval '5 minutes');
SELECT lives_ok($$CALL migrate_ops.apply('12', 'CREATE TABLE tap_twelve (id int);')$$, 'record_backup() unblocks');
SELECT has_table('public', 'tap_twelve', 'and it ran');

-- several failing checks are all named
DELETE FROM migrate_ops.backups;
SELECT migrate_ops.start('13'); SELECT migrate_ops.fail('13');
SELECT throws_ok($$CALL migrate_ops.apply('14', 'DROP TABLE tap_twelve;')$$, 'MO002',
                 'deploy of migration "14" refused in production: failed_migrations, backup, approvals',
                 'every failing check is named');
SELECT has_table('public', 'tap_twelve', 'nothing ran');
SELECT migrate_ops.record_backup('fresh', 's3://b/fresh', 1);
SELECT lives_ok($$CALL migrate_ops.apply('13', 'SELECT 1;')$$, 'the failed migration itself may be retried');
SELECT is(state, 'applied', 'the retry applied it') FROM migrate_ops.migrations WHERE version = '13';

-- a non-destructive migration in order, with a backup, applies without approval; rollback is not gated
SELECT lives_ok($$CALL migrate_ops.apply('15', 'CREATE TABLE tap_fifteen (id int);', 'DROP TABLE tap_fifteen;')$$,
                'a safe migration applies in production without approval');
DELETE FROM migrate_ops.backups;
SELECT lives_ok($$CALL migrate_ops.rollback('15')$$, 'rollback() is not gated (an emergency must not wait for a backup)');
SELECT is((SELECT count(*) FROM migrate_ops.events WHERE event = 'preflight.blocked'), 0::bigint,
          'no refusal left an event behind (each rolled back with its subtransaction)');

-- ---------------------------------------------------------------- staging warns, development checks nothing
SET migrate_ops.environment = staging;
CREATE TABLE tap_staging (id int);
SELECT lives_ok($$CALL migrate_ops.apply('16', 'DROP TABLE tap_staging;')$$,
                'staging: failing checks (no backup, no approval) only warn');
SELECT hasnt_table('public', 'tap_staging', 'staging: the migration ran');
SET migrate_ops.environment = development;
CREATE TABLE tap_dev (id int);
SELECT lives_ok($$CALL migrate_ops.apply('17', 'DROP TABLE tap_dev;')$$, 'development: no checks');

-- ---------------------------------------------------------------- check_backups(): backup.stale once per stale newest backup
SELECT is(migrate_ops.check_backups(), NULL, 'development: no backup.stale');
SET migrate_ops.environment = production;
SELECT is(migrate_ops.check_backups(), NULL, 'production without any backup: nothing to go stale');
SELECT migrate_ops.record_backup('nightly', 's3://b/n1', 1000, now() - interval '25 hours');
SELECT ok(migrate_ops.check_backups() IS NOT NULL, 'the newest backup is older than backup_max_age: backup.stale');
SELECT results_eq($$SELECT payload->>'label', payload->>'location', payload->>'environment', (payload->>'max_age_seconds')::int,
                           (payload->>'age_seconds')::int >= 25 * 3600
                      FROM migrate_ops.events WHERE event = 'backup.stale'$$,
                  $$VALUES ('nightly', 's3://b/n1', 'production', 86400, true)$$, 'its payload');
SELECT is(migrate_ops.check_backups(), NULL, 'emitted once: a second check emits nothing');
SELECT ok((SELECT stale_notified_at IS NOT NULL FROM migrate_ops.backups WHERE label = 'nightly'), 'the backup remembers it');
SELECT migrate_ops.record_backup('older', 's3://b/n0', 1000, now() - interval '40 hours');
SELECT is(migrate_ops.check_backups(), NULL, 'recording an older backup changes nothing');
SELECT migrate_ops.record_backup('fresh', 's3://b/n2', 1000, now() - interval '1 hour');
SELECT is(migrate_ops.check_backups(), NULL, 'a fresh backup is not stale');
SET migrate_ops.backup_max_age = '30min';
SELECT ok(migrate_ops.check_backups() IS NOT NULL, 'when the fresh one goes stale too: backup.stale again, for it');
SELECT is((SELECT count(*) FROM migrate_ops.events WHERE event = 'backup.stale'), 2::bigint, 'two events in all');
RESET migrate_ops.backup_max_age;
SET migrate_ops.environment = development;

-- ---------------------------------------------------------------- health() and ready()
SELECT ok(pg_temp.wait_worker(), 'the worker serves this database (preloaded)');
SELECT is(ARRAY(SELECT jsonb_object_keys(migrate_ops.health()) ORDER BY 1),
          ARRAY['backup_max_age_seconds', 'backup_stale', 'database', 'drift', 'environment', 'failed', 'last_scan_age_seconds',
                'last_scan_at', 'newest_backup_age_seconds', 'newest_backup_at', 'not_ready', 'outbox_backlog', 'outbox_dead',
                'outbox_overdue', 'pending', 'preloaded', 'ready', 'running', 'worker_alive'],
          'health() keys');
SELECT is(migrate_ops.health()->'not_ready', '[]'::jsonb, 'clean: nothing keeps it from being ready');
SELECT ok(migrate_ops.ready(), 'clean: ready');
SELECT results_eq($$SELECT (h->>'ready')::boolean, (h->>'failed')::int, (h->>'running')::int, h->>'pending', h->>'environment',
                           (h->>'preloaded')::boolean, (h->>'worker_alive')::boolean, (h->>'backup_stale')::boolean,
                           (h->>'newest_backup_age_seconds')::int BETWEEN 3590 AND 3700
                      FROM migrate_ops.health() h$$,
                  $$VALUES (true, 0, 0, NULL::text, 'development', true, true, false, true)$$, 'clean: health()');

-- a stale backup shows in health() but is no reason to take the database out of service
SET migrate_ops.backup_max_age = '10min';
SELECT is((migrate_ops.health()->>'backup_stale')::boolean, true, 'stale backup: health() says so');
SELECT ok(migrate_ops.ready(), 'stale backup: still ready');
RESET migrate_ops.backup_max_age;

-- drift, as of the last scan
SELECT migrate_ops.scan();
SELECT is((migrate_ops.health()->>'drift')::int, 0, 'a clean scan: drift 0');
CREATE TABLE tap_drifted (id int);
SELECT ok(migrate_ops.ready(), 'drift not scanned yet: health() and ready() read the last scan, they do not compute drift');
SELECT migrate_ops.scan();
SELECT ok(NOT migrate_ops.ready(), 'drift found by a scan: not ready');
SELECT results_eq($$SELECT (h->>'drift')::int > 0, h->>'not_ready' ~ '^\["drift: \d+ objects differ from the baseline"\]$',
                           (h->>'last_scan_age_seconds')::int < 60
                      FROM migrate_ops.health() h$$,
                  $$VALUES (true, true, true)$$, 'drift: counted, the reason given, the scan''s age');
CALL migrate_ops.apply('22', 'CREATE TABLE tap_22 (id int);');
SELECT is(migrate_ops.health()->'drift', 'null'::jsonb, 'a migration moved the baseline since the scan: drift unknown (null)');
SELECT ok(migrate_ops.ready(), '... and unknown drift does not make it unready');
SELECT migrate_ops.scan();
SELECT ok(migrate_ops.ready(), 'scanned again: the new baseline (taken by apply()) has the table, no drift, ready');
SELECT is((migrate_ops.health()->>'drift')::int, 0, '... drift 0');

-- the outbox: backlog, dead, and overdue (due for more than 5 minutes: nobody delivers)
INSERT INTO migrate_ops.outbox (event_id, event, channel, payload, state, next_attempt_at)
VALUES (1, 'tap.test', 'tap', '{}', 'pending', now() + interval '1 hour'),
       (1, 'tap.test', 'tap', '{}', 'dead', now()),
       (1, 'tap.test', 'tap', '{}', 'pending', now() - interval '10 minutes');
SELECT results_eq($$SELECT (h->>'outbox_backlog')::int, (h->>'outbox_dead')::int, (h->>'outbox_overdue')::int, h->'not_ready'
                      FROM migrate_ops.health() h$$,
                  $$VALUES (2, 1, 1, '["1 notification overdue by more than 300 s"]'::jsonb)$$,
                  'outbox: counted; an overdue delivery (the worker is stuck) makes it unready');
DELETE FROM migrate_ops.outbox WHERE channel = 'tap' AND state = 'pending';
SELECT ok(migrate_ops.ready(), 'a dead delivery alone does not');
DELETE FROM migrate_ops.outbox WHERE channel = 'tap';

-- a failed migration
SELECT migrate_ops.start('20'); SELECT migrate_ops.fail('20');
SELECT ok(NOT migrate_ops.ready(), 'a failed migration: not ready');
SELECT results_eq($$SELECT (h->>'failed')::int, h->'not_ready' FROM migrate_ops.health() h$$,
                  $$VALUES (1, '["1 failed migration"]'::jsonb)$$, 'failed: health() counts it and says why');
SELECT migrate_ops.resolve('20', 'rolled_back', 'abandoned');
SELECT ok(migrate_ops.ready(), 'resolved: ready again');

-- a running migration
SELECT migrate_ops.start('21');
SELECT results_eq($$SELECT (h->>'running')::int, h->'not_ready' FROM migrate_ops.health() h$$,
                  $$VALUES (1, '["1 migration running"]'::jsonb)$$, 'running: not ready');
SELECT migrate_ops.finish('21');

-- pending, given the repository's list (the baseline covers older versions)
SELECT migrate_ops.baseline('0.1');
SELECT ok(NOT migrate_ops.ready('[{"version":"0.0.5"},{"version":"1"},{"version":"99"},{"version":"100"}]'), 'pending: not ready');
SELECT results_eq($$SELECT (h->>'pending')::int, h->'not_ready' FROM migrate_ops.health('[{"version":"0.0.5"},{"version":"1"},{"version":"99"},{"version":"100"}]') h$$,
                  $$VALUES (2, '["2 pending migrations"]'::jsonb)$$, 'pending: counted (applied and baselined are not)');
SELECT ok(migrate_ops.ready('[{"version":"1"},{"version":"21"}]'), 'every listed version applied: ready');
SELECT throws_ok($$SELECT migrate_ops.ready('[{"nope":1}]')$$, '22023', NULL, 'ready: a malformed list is 22023');
SELECT throws_ok($$SELECT migrate_ops.health('{"version":"1"}')$$, '22023', NULL, 'health: a list that is not an array is 22023');

-- privileges: a monitoring role with EXECUTE only
SET ROLE tap_monitor;
SELECT lives_ok($$SELECT migrate_ops.health(), migrate_ops.ready()$$, 'a monitoring role with EXECUTE reads health() and ready()');
SELECT throws_ok($$SELECT * FROM migrate_ops.migrations$$, '42501', NULL, '... and nothing else');
RESET ROLE;
SET ROLE tap_nobody;
SELECT throws_ok($$SELECT migrate_ops.health()$$, '42501', NULL, 'PUBLIC cannot call health()');
SELECT throws_ok($$SELECT migrate_ops.ready()$$, '42501', NULL, 'PUBLIC cannot call ready()');
SELECT throws_ok($$SELECT * FROM migrate_ops.preflight()$$, '42501', NULL, 'PUBLIC cannot call preflight()');
SELECT throws_ok($$SELECT migrate_ops.check_backups()$$, '42501', NULL, 'PUBLIC cannot call check_backups()');
SELECT throws_ok($$SELECT * FROM migrate_ops.approvals$$, '42501', NULL, 'PUBLIC cannot read approvals');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
