-- Events: notify() for a team's own, and the ledger's migration.* events,
-- written in the transaction that causes them.
BEGIN;
SELECT plan(24);

SELECT has_table('migrate_ops', 'events', 'events table exists');

-- notify(): validation
SELECT throws_ok($$SELECT migrate_ops.notify(NULL, '{}')$$, '22004', NULL, 'notify: NULL event');
SELECT throws_ok($$SELECT migrate_ops.notify('', '{}')$$, '22023', NULL, 'notify: empty name');
SELECT throws_ok($$SELECT migrate_ops.notify('deploy', '{}')$$, '22023', NULL, 'notify: one word is not a name');
SELECT throws_ok($$SELECT migrate_ops.notify('Deploy.Done', '{}')$$, '22023', NULL, 'notify: upper case');
SELECT throws_ok($$SELECT migrate_ops.notify('deploy..done', '{}')$$, '22023', NULL, 'notify: empty word');
SELECT throws_ok($$SELECT migrate_ops.notify('deploy.done.', '{}')$$, '22023', NULL, 'notify: trailing dot');
SELECT throws_ok($$SELECT migrate_ops.notify('deploy.1done', '{}')$$, '22023', NULL, 'notify: a word starts with a letter');
SELECT throws_ok($$SELECT migrate_ops.notify('deploy.' || repeat('x', 100), '{}')$$, '22023', NULL, 'notify: too long');
SELECT throws_ok($$SELECT migrate_ops.notify('migration.applied', '{}')$$, '22023',
                 'event name "migration.applied" is reserved for migrate_ops', 'notify: cannot forge migration events');
SELECT throws_ok($$SELECT migrate_ops.notify('drift.resolved', '{}')$$, '22023', NULL, 'notify: cannot forge drift events');
SELECT throws_ok($$SELECT migrate_ops.notify('deploy.done', '[1,2]')$$, '22023', 'event payload must be a JSON object', 'notify: payload must be an object');
SELECT throws_ok($$SELECT migrate_ops.notify('deploy.done', '"x"')$$, '22023', NULL, 'notify: scalar payload');
SELECT throws_ok($$SELECT migrate_ops.notify('deploy.done', jsonb_build_object('x', repeat('y', 1100000)))$$, '54000', NULL,
                 'notify: payload over 1 MB');
SELECT is((SELECT count(*) FROM migrate_ops.events), 0::bigint, 'refused notifications recorded nothing');

-- notify(): recorded with who
SELECT ok(migrate_ops.notify('deploy.verified', '{"env":"staging"}') > 0, 'notify returns the event id');
SELECT results_eq($$SELECT event, payload, created_by FROM migrate_ops.events$$,
                  $$VALUES ('deploy.verified', '{"env":"staging"}'::jsonb, current_user::text COLLATE "default")$$,
                  'the event is recorded with its payload and role');
SELECT lives_ok($$SELECT migrate_ops.notify('team_a.smoke_test.passed')$$, 'payload defaults to {}');

-- the ledger emits migration.* events in its own transaction
DELETE FROM migrate_ops.events;
CALL migrate_ops.apply('1', 'CREATE TABLE ev_t (id int);');
SELECT results_eq($$SELECT event, payload->>'version', payload->>'state', payload->>'action' FROM migrate_ops.events ORDER BY id$$,
                  $$VALUES ('migration.started', '1', 'running', 'apply'), ('migration.applied', '1', 'applied', 'apply')$$,
                  'apply emits migration.started and migration.applied');
SELECT ok((SELECT payload ? 'duration_ms' AND payload->>'applied_by' = current_user FROM migrate_ops.events WHERE event = 'migration.applied'),
          'migration.applied carries duration and who');
DELETE FROM migrate_ops.events;
SELECT throws_ok($$CALL migrate_ops.apply('2', 'SELECT 1/0')$$, '22012', NULL, 'a failing apply in a transaction block ...');
SELECT is((SELECT count(*) FROM migrate_ops.events), 0::bigint, '... leaves no event: it rolled back with the caller');
SELECT migrate_ops.start('3');
SELECT migrate_ops.fail('3', 'tool broke');
SELECT results_eq($$SELECT event, payload->>'action', payload->'error'->>'message' FROM migrate_ops.events ORDER BY id$$,
                  $$VALUES ('migration.started', 'record', NULL), ('migration.failed', 'record', 'tool broke')$$,
                  'record-only mode emits started and failed with the message');
SELECT migrate_ops.resolve('3', 'rolled_back', 'undone by hand');
SELECT is((SELECT event || ':' || (payload->>'resolution_reason') FROM migrate_ops.events ORDER BY id DESC LIMIT 1),
          'migration.rolled_back:undone by hand', 'resolve emits the new state with the reason');

SELECT * FROM finish();
ROLLBACK;
