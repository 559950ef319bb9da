-- Bad input to every public function, beyond NULLs (null_arguments.sql):
-- empty strings; versions with spaces, quotes, control characters, unicode,
-- 10 kB; scripts with transaction control, VACUUM, psql meta-commands,
-- invalid UTF-8 escaped in, 20,000 statements, over max_script_size;
-- unknown versions, snapshots and channels; jsonb of the wrong shape;
-- negative and huge numbers; infinite timestamps; hostile URLs.  One row per
-- case: the call and its documented outcome (README, "Bad input"): a
-- SQLSTATE, 'ok' (it works) or 'noop' (it works and writes nothing: no
-- ledger, history, event, outbox, DDL log, snapshot, scan, approval, backup,
-- channel or rule row, and no schema change).  Each case runs in a
-- subtransaction that is rolled back.  Autocommit (nothing half-written
-- when apply() commits its own transactions) and memory:
-- test/integration/bad_input.sh.
BEGIN;
SELECT plan(5);
SET client_min_messages = error;

-- ------------------------------------------------------------ fixtures
CALL migrate_ops.apply('1', 'CREATE TABLE public.bi_t (id int);', 'DROP TABLE public.bi_t;');
CALL migrate_ops.apply('2', 'CREATE TABLE public.bi_u (id int);');                  -- no down script
CALL migrate_ops.apply('3', 'CREATE TABLE public.bi_v (id int);', 'DROP TABLE public.bi_v; -- ' || repeat('x', 2000));
SELECT migrate_ops.add_channel('hook', 'notify') \g /dev/null

-- Everything a call could leave behind, and (for calls that work) the schema's fingerprint.
CREATE FUNCTION pg_temp.footprint(with_schema boolean) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(',', (SELECT count(*) FROM migrate_ops.migrations),
        (SELECT count(*) FROM migrate_ops.migration_history), (SELECT count(*) FROM migrate_ops.events),
        (SELECT count(*) FROM migrate_ops.outbox), (SELECT count(*) FROM migrate_ops.ddl_log),
        (SELECT count(*) FROM migrate_ops.snapshots), (SELECT count(*) FROM migrate_ops.scans),
        (SELECT count(*) FROM migrate_ops.approvals), (SELECT count(*) FROM migrate_ops.backups),
        (SELECT count(*) FROM migrate_ops.channels), (SELECT count(*) FROM migrate_ops.lint_rule_overrides),
        (SELECT count(*) FROM migrate_ops.drift_ignore),
        (SELECT string_agg(version || state, ',' ORDER BY version) FROM migrate_ops.migrations),
        CASE WHEN with_schema THEN migrate_ops.fingerprint() END) $$;

CREATE TEMP TABLE cases (n serial, what text, call text, expected text, got text, message text);
INSERT INTO cases (what, call, expected) VALUES
-- versions
('apply: empty version',                 $$CALL migrate_ops.apply('', 'SELECT 1')$$, '22023'),
('apply: leading space',                 $$CALL migrate_ops.apply(' 9', 'SELECT 1')$$, '22023'),
('apply: trailing space',                $$CALL migrate_ops.apply('9 ', 'SELECT 1')$$, '22023'),
('apply: inner space',                   $$CALL migrate_ops.apply('9 a', 'SELECT 1')$$, 'ok'),
('apply: newline',                       $$CALL migrate_ops.apply(E'9\na', 'SELECT 1')$$, '22023'),
('apply: tab',                           $$CALL migrate_ops.apply(E'9\ta', 'SELECT 1')$$, '22023'),
('apply: quotes',                        $$CALL migrate_ops.apply('it''s "9"', 'SELECT 1')$$, 'ok'),
('apply: SQL in the version',            $$CALL migrate_ops.apply('x''); DROP TABLE public.bi_t; --', 'SELECT 1')$$, 'ok'),
('apply: unicode',                       $$CALL migrate_ops.apply('версия-9 🚀', 'SELECT 1')$$, 'ok'),
('apply: 254 bytes of é',                $$CALL migrate_ops.apply(repeat('é', 127), 'SELECT 1')$$, 'ok'),
('apply: 256 bytes of é',                $$CALL migrate_ops.apply(repeat('é', 128), 'SELECT 1')$$, '22023'),
('apply: 10 kB version',                 $$CALL migrate_ops.apply(repeat('9', 10240), 'SELECT 1')$$, '22023'),
('start: empty version',                 $$SELECT migrate_ops.start('')$$, '22023'),
('start: 10 kB version',                 $$SELECT migrate_ops.start(repeat('9', 10240))$$, '22023'),
('finish: empty version',                $$SELECT migrate_ops.finish('')$$, '22023'),
('fail: 10 kB version',                  $$SELECT migrate_ops.fail(repeat('9', 10240))$$, '22023'),
('resolve: empty version',               $$SELECT migrate_ops.resolve('', 'applied', 'r')$$, '22023'),
('baseline: control character',          $$SELECT migrate_ops.baseline(E'0\x01')$$, '22023'),
('rollback: 10 kB version',              $$CALL migrate_ops.rollback(repeat('9', 10240))$$, '22023'),
('approve: empty version',               $$SELECT migrate_ops.approve('', repeat('a', 64))$$, '22023'),
('preflight: empty version',             $$SELECT * FROM migrate_ops.preflight('', 'SELECT 1')$$, '22023'),
('status: an empty version in the list', $$SELECT * FROM migrate_ops.status('[{"version": ""}]')$$, '22023'),
-- unknown versions, snapshots, channels
('rollback: unknown version',            $$CALL migrate_ops.rollback('nope')$$, '42704'),
('finish: unknown version',              $$SELECT migrate_ops.finish('nope')$$, '42704'),
('fail: unknown version',                $$SELECT migrate_ops.fail('nope')$$, '42704'),
('resolve: unknown version',             $$SELECT migrate_ops.resolve('nope', 'applied', 'r')$$, '42704'),
('preflight: unknown version alone',     $$SELECT * FROM migrate_ops.preflight('nope')$$, '42704'),
('preflight: unknown version + script',  $$SELECT * FROM migrate_ops.preflight('nope', 'SELECT 1')$$, 'noop'),
('approve: a version not applied yet',   $$SELECT migrate_ops.approve('nope', repeat('a', 64))$$, 'ok'),
('drift: snapshot -1',                   $$SELECT * FROM migrate_ops.drift(-1)$$, '42704'),
('drift: snapshot 0',                    $$SELECT * FROM migrate_ops.drift(0)$$, '42704'),
('drift: snapshot 2^63-1',               $$SELECT * FROM migrate_ops.drift(9223372036854775807)$$, '42704'),
('drift_sql: snapshot -1',               $$SELECT migrate_ops.drift_sql(-1)$$, '42704'),
('fingerprint: unknown schema',          $$SELECT migrate_ops.fingerprint('{nosuch}')$$, '3F000'),
('fingerprint: pg_catalog',              $$SELECT migrate_ops.fingerprint('{pg_catalog}')$$, '22023'),
('fingerprint: migrate_ops',             $$SELECT migrate_ops.fingerprint('{migrate_ops}')$$, '22023'),
('fingerprint: empty list',              $$SELECT migrate_ops.fingerprint('{}')$$, '22023'),
('fingerprint: empty name',              $$SELECT migrate_ops.fingerprint('{""}')$$, '3F000'),
('alter_channel: unknown',               $$SELECT migrate_ops.alter_channel('nope')$$, '42704'),
('drop_channel: unknown',                $$SELECT migrate_ops.drop_channel('nope')$$, '42704'),
('redeliver: unknown channel',           $$SELECT migrate_ops.redeliver('nope')$$, '42704'),
('redeliver: nothing dead',              $$SELECT migrate_ops.redeliver()$$, 'noop'),
-- ledger states
('apply: applied again, same script',    $$CALL migrate_ops.apply('1', 'CREATE TABLE public.bi_t (id int);')$$, 'noop'),
('apply: applied again, edited',         $$CALL migrate_ops.apply('1', 'CREATE TABLE public.bi_t (id bigint);')$$, 'MO001'),
('start: applied, no checksum',          $$SELECT migrate_ops.start('1')$$, 'noop'),
('start: applied, other checksum',       $$SELECT migrate_ops.start('1', 'other')$$, 'MO001'),
('start: empty checksum',                $$SELECT migrate_ops.start('9', '')$$, '22023'),
('start: 2 kB checksum',                 $$SELECT migrate_ops.start('9', repeat('c', 2048))$$, '22023'),
('finish: not started here',             $$SELECT migrate_ops.finish('1')$$, '55000'),
('resolve: not failed',                  $$SELECT migrate_ops.resolve('1', 'applied', 'r')$$, '55000'),
('resolve: unknown state',               $$SELECT migrate_ops.resolve('1', 'done', 'r')$$, '22023'),
('resolve: empty reason',                $$SELECT migrate_ops.resolve('1', 'applied', '')$$, '22023'),
('baseline: already in the ledger',      $$SELECT migrate_ops.baseline('1')$$, '42710'),
('rollback: no down script',             $$CALL migrate_ops.rollback('2')$$, '55000'),
('rollback: a later version applied',    $$CALL migrate_ops.rollback('1')$$, '55000'),
('approve: applied already',             $$SELECT migrate_ops.approve('1', migrate_ops.checksum('CREATE TABLE public.bi_t (id int);'))$$, '55000'),
('approve: not hex',                     $$SELECT migrate_ops.approve('9', repeat('g', 64))$$, '22023'),
('approve: 63 digits',                   $$SELECT migrate_ops.approve('9', repeat('a', 63))$$, '22023'),
('approve: upper-case hex',              $$SELECT migrate_ops.approve('9', repeat('A', 64))$$, 'ok'),
('approve: 4 kB + 1 note',               $$SELECT migrate_ops.approve('9', repeat('a', 64), repeat('n', 4097))$$, '22023'),
-- scripts
('apply: empty script',                  $$CALL migrate_ops.apply('9', '')$$, 'ok'),
('apply: only a comment',                $$CALL migrate_ops.apply('9', '-- nothing')$$, 'ok'),
('lint: empty script',                   $$SELECT * FROM migrate_ops.lint('')$$, 'noop'),
('plan: empty script',                   $$SELECT * FROM migrate_ops.plan('')$$, 'noop'),
('preflight: empty script',              $$SELECT * FROM migrate_ops.preflight(NULL, '')$$, 'noop'),
('checksum: empty script',               $$SELECT migrate_ops.checksum('')$$, 'noop'),
('apply: COMMIT',                        $$CALL migrate_ops.apply('9', 'CREATE TABLE public.bi_x (); COMMIT;')$$, '2D000'),
('apply: BEGIN … COMMIT',                $$CALL migrate_ops.apply('9', 'BEGIN; CREATE TABLE public.bi_x (); COMMIT;')$$, '2D000'),
('apply: ROLLBACK',                      $$CALL migrate_ops.apply('9', 'ROLLBACK')$$, '2D000'),
('apply: SAVEPOINT',                     $$CALL migrate_ops.apply('9', 'SAVEPOINT s')$$, '2D000'),
('apply: COMMIT in the down script',     $$CALL migrate_ops.apply('9', 'SELECT 1', 'COMMIT')$$, '2D000'),
('plan: COMMIT',                         $$SELECT * FROM migrate_ops.plan('COMMIT')$$, '2D000'),
('lint: COMMIT (a finding)',             $$SELECT * FROM migrate_ops.lint('COMMIT')$$, 'noop'),
('preflight: COMMIT',                    $$SELECT * FROM migrate_ops.preflight('9', 'COMMIT')$$, 'noop'),
('apply: VACUUM',                        $$CALL migrate_ops.apply('9', 'VACUUM public.bi_t')$$, '25001'),
('apply: CREATE INDEX CONCURRENTLY',     $$CALL migrate_ops.apply('9', 'CREATE INDEX CONCURRENTLY ON public.bi_t (id)')$$, '25001'),
('apply: CREATE DATABASE',               $$CALL migrate_ops.apply('9', 'CREATE DATABASE bi_db')$$, '25001'),
('apply: ALTER SYSTEM',                  $$CALL migrate_ops.apply('9', 'ALTER SYSTEM SET work_mem = ''1MB''')$$, '25001'),
('apply: COPY FROM STDIN',               $$CALL migrate_ops.apply('9', 'COPY public.bi_t FROM STDIN')$$, '25001'),
('plan: VACUUM',                         $$SELECT * FROM migrate_ops.plan('VACUUM')$$, '25001'),
('lint: VACUUM (a finding)',             $$SELECT * FROM migrate_ops.lint('VACUUM')$$, 'noop'),
('apply: \i',                            $$CALL migrate_ops.apply('9', E'\\i /etc/passwd')$$, '42601'),
('apply: \! after a statement',          $$CALL migrate_ops.apply('9', E'SELECT 1;\n\\! id')$$, '42601'),
('apply: \set in the down script',       $$CALL migrate_ops.apply('9', 'SELECT 1', E'\\set x 1')$$, '42601'),
('lint: \gexec',                         $$SELECT * FROM migrate_ops.lint(E'SELECT 1 \\gexec')$$, '42601'),
('plan: \copy',                          $$SELECT * FROM migrate_ops.plan(E'\\copy public.bi_t from x')$$, '42601'),
('preflight: \c',                        $$SELECT * FROM migrate_ops.preflight('9', E'\\c other')$$, '42601'),
('apply: invalid UTF-8 escaped in',      $$CALL migrate_ops.apply('9', E'SELECT E''\\xff''')$$, '22021'),
('lint: invalid UTF-8 escaped in',       $$SELECT * FROM migrate_ops.lint(E'SELECT E''\\xc3\\x28''')$$, '22021'),
('plan: invalid UTF-8 escaped in',       $$SELECT * FROM migrate_ops.plan(E'SELECT E''\\xff''')$$, '22021'),
('preflight: invalid UTF-8 escaped in',  $$SELECT * FROM migrate_ops.preflight('9', E'SELECT E''\\xff''')$$, '22021'),
('checksum: invalid UTF-8 escaped in',   $$SELECT migrate_ops.checksum(E'SELECT E''\\xff''')$$, 'noop'),
('apply: a NUL escaped in',              $$CALL migrate_ops.apply('9', E'SELECT E''\\x00''')$$, '22021'),
('apply: unterminated literal',          $$CALL migrate_ops.apply('9', 'SELECT ''x')$$, '42601'),
('lint: 100,000 nested parentheses',     $$SELECT * FROM migrate_ops.lint(repeat('(', 100000))$$, '42601'),
('apply: script over max_script_size',   $$CALL migrate_ops.apply('9', repeat('-', 16 * 1024 * 1024 + 1))$$, '54000'),
('apply: down script over the limit',    $$CALL migrate_ops.apply('9', 'SELECT 1', repeat('-', 16 * 1024 * 1024 + 1))$$, '54000'),
('lint: over max_script_size',           $$SELECT * FROM migrate_ops.lint(repeat('-', 16 * 1024 * 1024 + 1))$$, '54000'),
('plan: over max_script_size',           $$SELECT * FROM migrate_ops.plan(repeat('-', 16 * 1024 * 1024 + 1))$$, '54000'),
('preflight: over max_script_size',      $$SELECT * FROM migrate_ops.preflight('9', repeat('-', 16 * 1024 * 1024 + 1))$$, '54000'),
('checksum: 17 MB',                      $$SELECT migrate_ops.checksum(repeat('-', 17 * 1024 * 1024))$$, 'noop'),
('rollback: down script over a lowered limit',
                                         $$SET migrate_ops.max_script_size = '1kB'; CALL migrate_ops.rollback('3')$$, '54000'),
('apply: 20,000 statements',             $c$DO $x$ DECLARE s text := (SELECT string_agg('SELECT ' || g || ';', E'\n') FROM generate_series(1, 20000) g);
                                           BEGIN CALL migrate_ops.apply('9', s); END $x$$c$, 'ok'),
('lint: 20,000 statements',              $$SELECT * FROM migrate_ops.lint((SELECT string_agg('ALTER TABLE public.bi_t ADD COLUMN c' || g || ' int;', E'\n') FROM generate_series(1, 20000) g))$$, 'noop'),
('plan: 20,000 statements',              $$SELECT * FROM migrate_ops.plan((SELECT string_agg('SELECT ' || g || ';', E'\n') FROM generate_series(1, 20000) g))$$, 'noop'),
('preflight: 20,000 statements',         $$SELECT * FROM migrate_ops.preflight('9', (SELECT string_agg('ALTER TABLE public.bi_t ADD COLUMN c' || g || ' int;', E'\n') FROM generate_series(1, 20000) g))$$, 'noop'),
-- jsonb of the wrong shape
('status: an object',                    $$SELECT * FROM migrate_ops.status('{"version": "1"}')$$, '22023'),
('status: a string',                     $$SELECT * FROM migrate_ops.status('"1"')$$, '22023'),
('status: a number',                     $$SELECT * FROM migrate_ops.status('1')$$, '22023'),
('status: JSON null',                    $$SELECT * FROM migrate_ops.status('null')$$, '22023'),
('status: [1]',                          $$SELECT * FROM migrate_ops.status('[1]')$$, '22023'),
('status: [null]',                       $$SELECT * FROM migrate_ops.status('[null]')$$, '22023'),
('status: a numeric version',            $$SELECT * FROM migrate_ops.status('[{"version": 1}]')$$, '22023'),
('status: no version',                   $$SELECT * FROM migrate_ops.status('[{"checksum": "x"}]')$$, '22023'),
('status: a numeric checksum',           $$SELECT * FROM migrate_ops.status('[{"version": "1", "checksum": 5}]')$$, '22023'),
('status: a nested list',                $$SELECT * FROM migrate_ops.status('[[{"version": "1"}]]')$$, '22023'),
('status: a version twice',              $$SELECT * FROM migrate_ops.status('[{"version": "1"}, {"version": "1"}]')$$, '22023'),
('status: an empty list',                $$SELECT * FROM migrate_ops.status('[]')$$, 'noop'),
('status: extra keys, null checksum',    $$SELECT * FROM migrate_ops.status('[{"version": "1", "checksum": null, "x": [1]}]')$$, 'noop'),
('status: 10,000 versions',              $$SELECT * FROM migrate_ops.status((SELECT jsonb_agg(jsonb_build_object('version', g::text)) FROM generate_series(1, 10000) g))$$, 'noop'),
('preflight: an object as the list',     $$SELECT * FROM migrate_ops.preflight('9', 'SELECT 1', '{}')$$, '22023'),
('health: an object as the list',        $$SELECT migrate_ops.health('{}')$$, '22023'),
('health: [1]',                          $$SELECT migrate_ops.health('[1]')$$, '22023'),
('health: an empty list',                $$SELECT migrate_ops.health('[]')$$, 'noop'),
('ready: a string',                      $$SELECT migrate_ops.ready('"x"')$$, '22023'),
('ready: a numeric version',             $$SELECT migrate_ops.ready('[{"version": 2}]')$$, '22023'),
-- numbers, intervals, timestamps
('record_backup: size 0',                $$SELECT migrate_ops.record_backup('b', 'l', 0)$$, '22023'),
('record_backup: size -1',               $$SELECT migrate_ops.record_backup('b', 'l', -1)$$, '22023'),
('record_backup: size 2^63-1',           $$SELECT migrate_ops.record_backup('b', 'l', 9223372036854775807)$$, 'ok'),
('record_backup: taken infinity',        $$SELECT migrate_ops.record_backup('b', 'l', 1, 'infinity')$$, '22023'),
('record_backup: taken -infinity',       $$SELECT migrate_ops.record_backup('b', 'l', 1, '-infinity')$$, '22023'),
('record_backup: taken in an hour',      $$SELECT migrate_ops.record_backup('b', 'l', 1, now() + interval '1 hour')$$, '22023'),
('record_backup: taken in 4713 BC',      $$SELECT migrate_ops.record_backup('b', 'l', 1, '4713-01-01 BC')$$, 'ok'),
('record_backup: empty label',           $$SELECT migrate_ops.record_backup('', 'l', 1)$$, '22023'),
('record_backup: 256-byte label',        $$SELECT migrate_ops.record_backup(repeat('b', 256), 'l', 1)$$, '22023'),
('record_backup: empty location',        $$SELECT migrate_ops.record_backup('b', '', 1)$$, '22023'),
('record_backup: 4 kB + 1 location',     $$SELECT migrate_ops.record_backup('b', repeat('l', 4097), 1)$$, '22023'),
('prune_ddl_log: negative',              $$SELECT migrate_ops.prune_ddl_log('-1 second')$$, '22023'),
('prune_ddl_log: a million years',       $$SELECT migrate_ops.prune_ddl_log('1000000 years')$$, 'noop'),
('prune_ddl_log: 178 million years',     $$SELECT migrate_ops.prune_ddl_log('178000000 years')$$, 'noop'),
('prune_ddl_log: -1 month +100 years',   $$SELECT migrate_ops.prune_ddl_log('100 years -1 month')$$, 'noop'),
('accept_drift: empty reason',           $$SELECT migrate_ops.accept_drift('')$$, '22023'),
('accept_drift: 10 kB + 1 reason',       $$SELECT migrate_ops.accept_drift(repeat('r', 10001))$$, '22023'),
('snapshot: empty label',                $$SELECT migrate_ops.snapshot('')$$, '22023'),
('snapshot: 10 kB + 1 label',            $$SELECT migrate_ops.snapshot(repeat('s', 10001))$$, '22023'),
-- events
('notify: empty event',                  $$SELECT migrate_ops.notify('')$$, '22023'),
('notify: bad characters',               $$SELECT migrate_ops.notify('deploy done!')$$, '22023'),
('notify: 65-byte event',                $$SELECT migrate_ops.notify('e.' || repeat('e', 63))$$, '22023'),
('notify: one word',                     $$SELECT migrate_ops.notify('deploy')$$, '22023'),
('notify: a reserved event (forged)',    $$SELECT migrate_ops.notify('migration.applied', '{"version": "1"}')$$, '22023'),
('notify: an array payload',             $$SELECT migrate_ops.notify('team.x', '[]')$$, '22023'),
('notify: a string payload',             $$SELECT migrate_ops.notify('team.x', '"s"')$$, '22023'),
('notify: JSON null payload',            $$SELECT migrate_ops.notify('team.x', 'null')$$, '22023'),
('notify: 2 MB payload',                 $$SELECT migrate_ops.notify('team.x', jsonb_build_object('a', repeat('x', 2 * 1024 * 1024)))$$, '54000'),
('notify: unicode and quotes',           $$SELECT migrate_ops.notify('team.x', '{"msg": "ü ''\"\\ 🚀"}')$$, 'ok'),
-- channels
('add_channel: empty name',              $$SELECT migrate_ops.add_channel('', 'notify')$$, '22023'),
('add_channel: upper case',              $$SELECT migrate_ops.add_channel('Ops', 'notify')$$, '22023'),
('add_channel: 64-byte name',            $$SELECT migrate_ops.add_channel(repeat('c', 64), 'notify')$$, '22023'),
('add_channel: SQL in the name',         $$SELECT migrate_ops.add_channel('x''; drop table y; --', 'notify')$$, '22023'),
('add_channel: unicode name',            $$SELECT migrate_ops.add_channel('ünï', 'notify')$$, '22023'),
('add_channel: unknown kind',            $$SELECT migrate_ops.add_channel('c', 'sms')$$, '22023'),
('add_channel: empty kind',              $$SELECT migrate_ops.add_channel('c', '')$$, '22023'),
('add_channel: name taken',              $$SELECT migrate_ops.add_channel('hook', 'notify')$$, '42710'),
('add_channel: webhook without URL',     $$SELECT migrate_ops.add_channel('c', 'webhook')$$, '22004'),
('add_channel: notify with a URL',       $$SELECT migrate_ops.add_channel('c', 'notify', 'http://h/')$$, '22023'),
('add_channel: empty URL',               $$SELECT migrate_ops.add_channel('c', 'webhook', '')$$, '22023'),
('add_channel: ftp',                     $$SELECT migrate_ops.add_channel('c', 'webhook', 'ftp://h/x')$$, '22023'),
('add_channel: file',                    $$SELECT migrate_ops.add_channel('c', 'webhook', 'file:///etc/passwd')$$, '22023'),
('add_channel: gopher',                  $$SELECT migrate_ops.add_channel('c', 'webhook', 'gopher://h:70/x')$$, '22023'),
('add_channel: javascript',              $$SELECT migrate_ops.add_channel('c', 'webhook', 'javascript:alert(1)')$$, '22023'),
('add_channel: no host',                 $$SELECT migrate_ops.add_channel('c', 'webhook', 'http:///x')$$, '22023'),
('add_channel: one slash',               $$SELECT migrate_ops.add_channel('c', 'webhook', 'http:/h/x')$$, '22023'),
('add_channel: credentials, no host',    $$SELECT migrate_ops.add_channel('c', 'webhook', 'http://@h/x')$$, '22023'),
('add_channel: newline in the URL',      $$SELECT migrate_ops.add_channel('c', 'webhook', E'http://h/x\nHost: evil')$$, '22023'),
('add_channel: space in the host',       $$SELECT migrate_ops.add_channel('c', 'webhook', 'http://a b/')$$, '22023'),
('add_channel: port 99999',              $$SELECT migrate_ops.add_channel('c', 'webhook', 'http://h:99999/')$$, '22023'),
('add_channel: 3 kB URL',                $$SELECT migrate_ops.add_channel('c', 'webhook', 'http://h/' || repeat('a', 3000))$$, '22023'),
('add_channel: upper-case scheme',       $$SELECT migrate_ops.add_channel('c', 'webhook', 'HTTPS://H.EXAMPLE/x')$$, 'ok'),
('add_channel: empty event filter',      $$SELECT migrate_ops.add_channel('c', 'notify', NULL, '{}')$$, '22023'),
('add_channel: bad event pattern',       $$SELECT migrate_ops.add_channel('c', 'notify', NULL, '{migration.fail!}')$$, '22023'),
('add_channel: NULL event pattern',      $$SELECT migrate_ops.add_channel('c', 'notify', NULL, '{*,NULL}')$$, '22004'),
('add_channel: 2-D event filter',        $$SELECT migrate_ops.add_channel('c', 'notify', NULL, '{{a,b}}')$$, '22023'),
('add_channel: empty secret',            $$SELECT migrate_ops.add_channel('c', 'webhook', 'http://h/', '{*}', '')$$, '22023'),
('alter_channel: URL on notify',         $$SELECT migrate_ops.alter_channel('hook', 'http://h/')$$, '22023'),
('alter_channel: empty event filter',    $$SELECT migrate_ops.alter_channel('hook', NULL, '{}')$$, '22023'),
-- direct writes
('channels: a superuser''s direct ftp URL', $$INSERT INTO migrate_ops.channels (name, kind, url) VALUES ('c', 'webhook', 'ftp://h/')$$, '22023'),
('ddl_log: UPDATE',                      $$UPDATE migrate_ops.ddl_log SET role = 'x'$$, '42501'),
('lint_rules: unknown severity',         $$UPDATE migrate_ops.lint_rules SET severity = 'fatal' WHERE id = 'drop_table'$$, '22023'),
('lint_rules: another column',           $$UPDATE migrate_ops.lint_rules SET hint = 'x' WHERE id = 'drop_table'$$, '0A000'),
('drift_ignore: invalid regex',          $$INSERT INTO migrate_ops.drift_ignore (kind, pattern) VALUES ('table', '(')$$, '2201B'),
('drift_ignore: unknown kind',           $$INSERT INTO migrate_ops.drift_ignore (kind, pattern) VALUES ('tabel', 'x')$$, '23514'),
('drift_ignore: empty pattern',          $$INSERT INTO migrate_ops.drift_ignore (kind, pattern) VALUES ('table', '')$$, '23514');

-- Run each case in a subtransaction (rolled back), recording its SQLSTATE,
-- or 'ok' / 'noop' depending on whether its footprint changed.
DO $$
DECLARE
    r record;
    before text;
BEGIN
    FOR r IN SELECT * FROM cases ORDER BY n LOOP
        before := pg_temp.footprint(r.expected IN ('ok', 'noop'));
        BEGIN
            EXECUTE r.call;
            IF pg_temp.footprint(r.expected IN ('ok', 'noop')) = before THEN
                RAISE EXCEPTION USING ERRCODE = 'MO998';
            END IF;
            RAISE EXCEPTION USING ERRCODE = 'MO999';
        EXCEPTION WHEN OTHERS THEN
            UPDATE cases SET got = CASE SQLSTATE WHEN 'MO998' THEN 'noop' WHEN 'MO999' THEN 'ok' ELSE SQLSTATE END,
                             message = CASE WHEN SQLSTATE NOT IN ('MO998', 'MO999') THEN SQLERRM END
             WHERE n = r.n;
        END;
        IF pg_temp.footprint(r.expected IN ('ok', 'noop')) <> before THEN
            RAISE EXCEPTION 'case % left something behind', r.what;
        END IF;
    END LOOP;
END $$;

SELECT ok((SELECT count(*) FROM cases) >= 170, 'bad input cases tried: ' || (SELECT count(*) FROM cases));
SELECT is_empty($$SELECT what, got, message FROM cases WHERE got LIKE 'XX%' OR got LIKE '58%'$$,
                'no internal error, no crash');
SELECT is_empty($$SELECT what, expected, got, message FROM cases WHERE got IS DISTINCT FROM expected ORDER BY n$$,
                'every case has its documented outcome');
SELECT is_empty($$SELECT what, got, message FROM cases
                   WHERE got !~ '^[0-9A-Z]{5}$' AND got NOT IN ('ok', 'noop') OR message = ''$$,
                'every error has a message');
SELECT is((SELECT count(*) FROM cases WHERE expected = 'noop' AND got = 'noop'),
          (SELECT count(*) FROM cases WHERE expected = 'noop'),
          'the documented no-ops wrote nothing and changed no schema');

SELECT * FROM finish();
ROLLBACK;
