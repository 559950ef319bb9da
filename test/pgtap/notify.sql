-- Notifications: channels (validation, allow-list, masking, privileges) and
-- the fan-out of events to the outbox in the emitting transaction.
-- Delivery by the worker is tested by test/integration/notify_*.sh.
BEGIN;
SELECT plan(99);

SELECT has_table('migrate_ops', 'channels', 'channels table exists');
SELECT has_table('migrate_ops', 'outbox', 'outbox table exists');
SELECT has_view('migrate_ops', 'channels_masked', 'channels_masked view exists');
SELECT has_function('migrate_ops', 'worker_status', 'worker_status() exists');
SELECT ok((SELECT relpersistence = 'p' FROM pg_class WHERE oid = 'migrate_ops.outbox'::regclass), 'the outbox is a logged table');
SELECT ok((SELECT 'migrate_ops.outbox'::regclass = ANY (extconfig) AND 'migrate_ops.channels'::regclass = ANY (extconfig)
             FROM pg_extension WHERE extname = 'migrate_ops'), 'channels and outbox are dumped by pg_dump');

-- add_channel(): bad input is refused with its SQLSTATE and writes nothing
SELECT throws_ok($$SELECT migrate_ops.add_channel(NULL, 'webhook', 'http://example.com/')$$, '22004', NULL, 'add_channel: NULL name');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', NULL, 'http://example.com/')$$, '22004', NULL, 'add_channel: NULL kind');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'webhook', 'http://example.com/', NULL)$$, '22004', NULL, 'add_channel: NULL events');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'webhook', 'http://example.com/', enabled => NULL)$$, '22004', NULL, 'add_channel: NULL enabled');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'email', 'http://example.com/')$$, '22023',
                 'invalid channel kind "email"', 'add_channel: unknown kind');
SELECT throws_ok($$SELECT migrate_ops.add_channel('Ops Hook', 'webhook', 'http://example.com/')$$, '22023',
                 'invalid channel name "Ops Hook"', 'add_channel: bad name');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'webhook')$$, '22004', 'a webhook channel needs a URL', 'add_channel: webhook without URL');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'webhook', 'file:///etc/passwd')$$, '22023',
                 'only http and https URLs are allowed', 'add_channel: file:// refused');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'slack', 'ftp://example.com/x')$$, '22023',
                 'only http and https URLs are allowed', 'add_channel: ftp:// refused');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'webhook', 'gopher://example.com/x')$$, '22023', NULL, 'add_channel: gopher:// refused');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'webhook', 'javascript:alert(1)')$$, '22023', NULL, 'add_channel: javascript: refused');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'webhook', 'http://')$$, '22023', NULL, 'add_channel: a URL without host');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'webhook', 'not a url')$$, '22023', NULL, 'add_channel: not a URL');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'webhook', 'http://example.com/' || repeat('x', 3000))$$, '22023',
                 'invalid channel URL', 'add_channel: URL too long');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'notify', 'http://example.com/')$$, '22023',
                 'a notify channel has no URL or secret', 'add_channel: notify channel with a URL');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'webhook', 'http://example.com/', secret => '')$$, '22023', NULL, 'add_channel: empty secret');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'webhook', 'http://example.com/', '{}')$$, '22023', NULL, 'add_channel: empty event filter');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'webhook', 'http://example.com/', '{Migration.*}')$$, '22023',
                 'invalid event pattern "Migration.*"', 'add_channel: bad pattern');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'webhook', 'http://example.com/', '{migration.**}')$$, '22023', NULL, 'add_channel: bad wildcard');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'webhook', 'http://example.com/', '{migration}')$$, '22023', NULL, 'add_channel: one word is not an event');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'webhook', 'http://example.com/', '{migration.*,NULL}')$$, '22004', NULL, 'add_channel: NULL pattern');
SELECT throws_ok($$SELECT migrate_ops.add_channel('a', 'webhook', 'http://example.com/', '{{a.b},{c.d}}')$$, '22023', NULL, 'add_channel: two-dimensional filter');
SELECT is((SELECT count(*) FROM migrate_ops.channels), 0::bigint, 'refused channels wrote nothing');

-- an event no channel wants (none exists yet): its row alone, written without a query, as the
-- extension's owner
CREATE TEMP TABLE before_quiet AS SELECT clock_timestamp() AS t, (SELECT count(*) FROM migrate_ops.outbox) AS queued;
CREATE TEMP TABLE quiet AS SELECT migrate_ops.notify('nobody.listens', '{"k": [1, "two"]}') AS id;
SELECT is((SELECT id FROM quiet), (SELECT max(id) FROM migrate_ops.events),
          'notify() of an event no channel wants returns the id of its row');
SELECT ok((SELECT event = 'nobody.listens' AND payload = '{"k": [1, "two"]}' AND created_by = current_user
                  AND created_at BETWEEN (SELECT t FROM before_quiet) AND clock_timestamp()
             FROM migrate_ops.events WHERE id = (SELECT id FROM quiet)),
          '... the row holds the event, its payload, who emitted it and when');
SELECT is((SELECT count(*) FROM migrate_ops.outbox), (SELECT queued FROM before_quiet), '... and nothing is queued');
SAVEPOINT read_only;
SET LOCAL transaction_read_only = on;
SELECT throws_ok($$SELECT migrate_ops.notify('nobody.listens')$$, '25006', NULL,
                 'notify() in a read-only transaction is refused');
ROLLBACK TO SAVEPOINT read_only;
SELECT is((SELECT count(*) FROM migrate_ops.events WHERE event = 'nobody.listens'), 1::bigint, '... and records nothing');
SAVEPOINT damaged;
ALTER TABLE migrate_ops.events DROP COLUMN created_by;
SELECT throws_ok($$SELECT migrate_ops.notify('nobody.listens')$$, '42703',
                 'column "created_by" of migrate_ops.events does not exist',
                 'notify() into an events table missing a column (damaged install): 42703');
SELECT is((SELECT count(*) FROM migrate_ops.events WHERE event = 'nobody.listens'), 1::bigint, '... and records nothing');
ROLLBACK TO SAVEPOINT damaged;

-- add_channel(): the happy path
SELECT lives_ok($$SELECT migrate_ops.add_channel('ops-hook', 'webhook', 'https://hooks.example.com/deploys?token=abc',
                  '{migration.*,deploy.done}', 's3cret')$$, 'add a signed webhook');
SELECT lives_ok($$SELECT migrate_ops.add_channel('team.slack', 'slack', 'https://bot:pw@hooks.slack.example/services/T0/B0/XYZ')$$, 'add a slack channel for every event');
SELECT lives_ok($$SELECT migrate_ops.add_channel('muted', 'webhook', 'http://10.0.0.1:8080/x', enabled => false)$$, 'add a disabled channel');
SELECT lives_ok($$SELECT migrate_ops.add_channel('listeners', 'notify', events => '{drift.*,deploy.done}')$$, 'add a notify channel');
SELECT throws_ok($$SELECT migrate_ops.add_channel('ops-hook', 'webhook', 'https://other.example.com/')$$, '42710',
                 'channel "ops-hook" already exists', 'add_channel: duplicate name');
SELECT results_eq($$SELECT name, kind, events, enabled, created_by = current_user FROM migrate_ops.channels ORDER BY name$$,
                  $$VALUES ('listeners', 'notify', '{drift.*,deploy.done}'::text[], true, true),
                           ('muted', 'webhook', '{*}', false, true),
                           ('ops-hook', 'webhook', '{migration.*,deploy.done}', true, true),
                           ('team.slack', 'slack', '{*}', true, true)$$,
                  'channels are recorded with who created them');

-- the masked view: scheme and host only, no credentials, no path, no secret
SELECT results_eq($$SELECT name, url, signed FROM migrate_ops.channels_masked ORDER BY name$$,
                  $$VALUES ('listeners', NULL::text, false), ('muted', 'http://10.0.0.1:8080/***', false),
                           ('ops-hook', 'https://hooks.example.com/***', true),
                           ('team.slack', 'https://hooks.slack.example/***', false)$$,
                  'channels_masked hides paths, tokens, credentials and secrets');

-- direct writes are held to the same rules (trigger), and the CHECK is a backstop
SELECT throws_ok($$INSERT INTO migrate_ops.channels (name, kind, url) VALUES ('x', 'webhook', 'file:///etc/passwd')$$, '22023',
                 'only http and https URLs are allowed', 'a direct INSERT of a file:// URL is refused');
SELECT throws_ok($$UPDATE migrate_ops.channels SET events = '{Bad}' WHERE name = 'muted'$$, '22023', NULL, 'a direct UPDATE is validated');
SET LOCAL session_replication_role = replica;  -- triggers off: only the CHECK stands
SELECT throws_ok($$INSERT INTO migrate_ops.channels (name, kind, url) VALUES ('x', 'webhook', 'file:///etc/passwd')$$, '23514',
                 NULL, 'with triggers off, the CHECK still refuses file://');
SELECT throws_ok($$INSERT INTO migrate_ops.channels (name, kind, url) VALUES ('x', 'notify', 'http://example.com/')$$, '23514',
                 NULL, 'with triggers off, a notify channel still has no URL');
RESET session_replication_role;

-- the allow-list (superuser-only setting): scheme, host, port and path segments
SET LOCAL migrate_ops.allowed_urls = 'https://hooks.slack.com/services/, http://127.0.0.1:9/hooks';
SELECT lives_ok($$SELECT migrate_ops.add_channel('al1', 'slack', 'https://hooks.slack.com/services/T0/B0/X')$$, 'allow-list: a URL under an entry');
SELECT lives_ok($$SELECT migrate_ops.add_channel('al2', 'webhook', 'http://127.0.0.1:9/hooks/deploys')$$, 'allow-list: a sub-path');
SELECT lives_ok($$SELECT migrate_ops.add_channel('al3', 'webhook', 'HTTP://127.0.0.1:9/hooks')$$, 'allow-list: the entry itself, scheme case-insensitive');
SELECT throws_ok($$SELECT migrate_ops.add_channel('al4', 'slack', 'https://hooks.slack.com.evil.example/services/x')$$, '42501',
                 'URL is not in migrate_ops.allowed_urls', 'allow-list: a look-alike host');
SELECT throws_ok($$SELECT migrate_ops.add_channel('al4', 'slack', 'https://hooks.slack.com/servicesX')$$, '42501', NULL, 'allow-list: not a path segment');
SELECT throws_ok($$SELECT migrate_ops.add_channel('al4', 'webhook', 'http://127.0.0.1:9/hooksmith')$$, '42501', NULL, 'allow-list: path prefix is by segment');
SELECT throws_ok($$SELECT migrate_ops.add_channel('al4', 'webhook', 'http://127.0.0.1:10/hooks')$$, '42501', NULL, 'allow-list: another port');
SELECT throws_ok($$SELECT migrate_ops.add_channel('al4', 'webhook', 'https://127.0.0.1:9/hooks')$$, '42501', NULL, 'allow-list: another scheme');
SELECT throws_ok($$SELECT migrate_ops.add_channel('al4', 'webhook', 'http://evil@example.com@127.0.0.1:9/hooks')$$, '22023', NULL,
                 'allow-list: a confusing URL libcurl rejects');
SELECT throws_ok($$SELECT migrate_ops.alter_channel('al2', url => 'http://example.com/')$$, '42501', NULL, 'allow-list: alter_channel too');
SELECT lives_ok($$SELECT migrate_ops.alter_channel('muted', enabled => true)$$, 'allow-list: only a new or changed URL is checked');
SELECT throws_ok($$SET migrate_ops.allowed_urls = 'file:///tmp/'$$, '22023', NULL, 'allow-list entries must be http(s) URLs');
RESET migrate_ops.allowed_urls;
SELECT is((SELECT count(*) FROM migrate_ops.channels WHERE name LIKE 'al%'), 3::bigint, 'refused channels were not added');
SELECT migrate_ops.drop_channel(name) FROM migrate_ops.channels WHERE name LIKE 'al%';
SELECT migrate_ops.alter_channel('muted', enabled => false);

-- privileges: nothing for PUBLIC; the masked view for who is granted it
CREATE ROLE mo_notify_user;
CREATE ROLE mo_notify_admin;
GRANT EXECUTE ON FUNCTION migrate_ops.add_channel(text, text, text, text[], text, boolean) TO mo_notify_admin;
SET LOCAL ROLE mo_notify_user;
SELECT throws_ok($$SELECT url FROM migrate_ops.channels$$, '42501', NULL, 'a plain role cannot read channels');
SELECT throws_ok($$SELECT * FROM migrate_ops.channels_masked$$, '42501', NULL, '... nor the masked view until granted');
SELECT throws_ok($$SELECT * FROM migrate_ops.outbox$$, '42501', NULL, '... nor the outbox');
SELECT throws_ok($$SELECT migrate_ops.add_channel('z', 'webhook', 'http://example.com/')$$, '42501', NULL, '... nor add channels');
SELECT throws_ok($$SELECT migrate_ops.worker_status()$$, '42501', NULL, '... nor call worker_status()');
RESET ROLE;
GRANT SELECT ON migrate_ops.channels_masked TO mo_notify_user;
SET LOCAL ROLE mo_notify_user;
SELECT is((SELECT url FROM migrate_ops.channels_masked WHERE name = 'ops-hook'), 'https://hooks.example.com/***',
          'a granted role reads the masked view');
RESET ROLE;
SET LOCAL ROLE mo_notify_admin;
SELECT lives_ok($$SELECT migrate_ops.add_channel('by-admin', 'webhook', 'http://example.com/a')$$,
                'EXECUTE on add_channel() is enough to add one (written as the extension owner)');
SELECT throws_ok($$SELECT secret FROM migrate_ops.channels$$, '42501', NULL, '... yet that role still cannot read urls and secrets');
RESET ROLE;
SELECT is((SELECT created_by FROM migrate_ops.channels WHERE name = 'by-admin'), 'mo_notify_admin', 'created_by is the caller');
SELECT migrate_ops.drop_channel('by-admin');

-- fan-out at emit time: one outbox row per matching enabled webhook/slack channel
SELECT migrate_ops.notify('deploy.done', '{"env":"prod"}');
SELECT results_eq($$SELECT channel, event FROM migrate_ops.outbox ORDER BY channel$$,
                  $$VALUES ('ops-hook', 'deploy.done'), ('team.slack', 'deploy.done')$$,
                  'deploy.done goes to the matching channels, not to the disabled one nor the notify one');
SELECT ok((SELECT bool_and(state = 'pending' AND attempts = 0 AND next_attempt_at <= now()) FROM migrate_ops.outbox),
          'new rows are pending and due');
SELECT is((SELECT payload - 'occurred_at' FROM migrate_ops.outbox WHERE channel = 'ops-hook'),
          jsonb_build_object('id', (SELECT max(id) FROM migrate_ops.events), 'event', 'deploy.done',
                             'database', current_database(), 'role', current_user, 'payload', '{"env":"prod"}'::jsonb),
          'the outbox holds the envelope: id, event, database, role, payload');
SELECT is((SELECT (payload->>'occurred_at')::timestamptz FROM migrate_ops.outbox WHERE channel = 'ops-hook'),
          (SELECT created_at FROM migrate_ops.events ORDER BY id DESC LIMIT 1), '... and occurred_at');
SELECT is((SELECT event_id FROM migrate_ops.outbox WHERE channel = 'ops-hook'), (SELECT max(id) FROM migrate_ops.events),
          'event_id links the row to its event (the Idempotency-Key)');
DELETE FROM migrate_ops.outbox;
SELECT migrate_ops.notify('team_a.smoke.passed');
SELECT results_eq($$SELECT channel FROM migrate_ops.outbox$$, $$VALUES ('team.slack')$$, 'a team event only goes to the catch-all channel');
DELETE FROM migrate_ops.outbox;
SELECT migrate_ops.notify('migrations.cleanup');
SELECT results_eq($$SELECT channel FROM migrate_ops.outbox$$, $$VALUES ('team.slack')$$, '''migration.*'' does not match ''migrations.cleanup''');
DELETE FROM migrate_ops.outbox;
CALL migrate_ops.apply('1', 'CREATE TABLE nt (id int);');
SELECT results_eq($$SELECT event, channel FROM migrate_ops.outbox ORDER BY id$$,
                  $$VALUES ('migration.started', 'ops-hook'), ('migration.started', 'team.slack'),
                           ('migration.applied', 'ops-hook'), ('migration.applied', 'team.slack')$$,
                  'the ledger''s events fan out in its transaction');
DELETE FROM migrate_ops.outbox;
SELECT throws_ok($$CALL migrate_ops.apply('2', 'SELECT 1/0')$$, '22012', NULL, 'a failing deploy in a transaction block ...');
SELECT is((SELECT count(*) FROM migrate_ops.outbox), 0::bigint, '... queues nothing: its outbox rows rolled back with it');
SAVEPOINT s;
SELECT migrate_ops.notify('deploy.done');
ROLLBACK TO SAVEPOINT s;
SELECT is((SELECT count(*) FROM migrate_ops.outbox), 0::bigint, 'a rolled-back subtransaction queues nothing');

-- alter_channel()
SELECT throws_ok($$SELECT migrate_ops.alter_channel('nope', enabled => true)$$, '42704', 'channel "nope" does not exist', 'alter_channel: unknown');
SELECT throws_ok($$SELECT migrate_ops.alter_channel(NULL)$$, '22004', NULL, 'alter_channel: NULL name');
SELECT throws_ok($$SELECT migrate_ops.alter_channel('listeners', url => 'http://example.com/')$$, '22023', NULL, 'alter_channel: no URL for notify');
SELECT throws_ok($$SELECT migrate_ops.alter_channel('ops-hook', url => 'file:///x')$$, '22023', NULL, 'alter_channel: file:// refused');
SELECT throws_ok($$SELECT migrate_ops.alter_channel('ops-hook', events => '{}', secret => 'new')$$, '22023', NULL, 'alter_channel: empty filter');
SELECT results_eq($$SELECT url, events, secret FROM migrate_ops.channels WHERE name = 'ops-hook'$$,
                  $$VALUES ('https://hooks.example.com/deploys?token=abc', '{migration.*,deploy.done}'::text[], 's3cret')$$,
                  'refused alter_channel calls changed nothing (not even the valid parts)');
SELECT migrate_ops.alter_channel('ops-hook', events => '{*}', secret => '');
SELECT results_eq($$SELECT events, secret, url FROM migrate_ops.channels WHERE name = 'ops-hook'$$,
                  $$VALUES ('{*}'::text[], NULL::text, 'https://hooks.example.com/deploys?token=abc')$$,
                  'alter_channel changes what it is given; secret '''' removes the secret');
SELECT migrate_ops.alter_channel('muted', enabled => true);
SELECT migrate_ops.notify('deploy.done');
SELECT is((SELECT count(*) FROM migrate_ops.outbox), 3::bigint, 'the re-enabled channel receives events again');

-- drop_channel(): pending rows go, history stays
UPDATE migrate_ops.outbox SET state = 'sent' WHERE channel = 'muted';
SELECT migrate_ops.notify('deploy.done');
SELECT is(migrate_ops.drop_channel('muted'), 1::bigint, 'drop_channel returns the pending deliveries it discarded');
SELECT is((SELECT count(*) FROM migrate_ops.outbox WHERE channel = 'muted'), 1::bigint, 'the channel''s sent rows stay as history');
SELECT throws_ok($$SELECT migrate_ops.drop_channel('muted')$$, '42704', NULL, 'drop_channel: unknown');
SELECT is((SELECT count(*) FROM migrate_ops.outbox WHERE channel = 'muted'), 1::bigint, '... and removed nothing');

-- redeliver(): dead rows become pending again
UPDATE migrate_ops.outbox SET state = 'dead', attempts = 10, last_error = 'HTTP 404' WHERE channel = 'ops-hook';
SELECT throws_ok($$SELECT migrate_ops.redeliver('nope')$$, '42704', NULL, 'redeliver: unknown channel');
SELECT is(migrate_ops.redeliver('team.slack'), 0::bigint, 'redeliver: nothing dead on that channel');
SELECT is(migrate_ops.redeliver('ops-hook'), 2::bigint, 'redeliver returns how many it queued again');
SELECT ok((SELECT bool_and(state = 'pending' AND attempts = 0) FROM migrate_ops.outbox WHERE channel = 'ops-hook'),
          'redelivered rows are pending with a fresh attempt count');

-- worker_status(): always a row for this database
SELECT is((SELECT count(*) FROM migrate_ops.worker_status() WHERE database = current_database()), 1::bigint,
          'worker_status() has a row for this database');
SELECT ok((SELECT state IN ('running', 'starting', 'not running') FROM migrate_ops.worker_status() WHERE database = current_database()),
          'worker_status(): preloaded here, so the worker runs or is on its way');
SELECT is((SELECT backlog FROM migrate_ops.worker_status() WHERE database = current_database()),
          (SELECT count(*) FROM migrate_ops.outbox WHERE state = 'pending'), 'worker_status() counts this database''s backlog live');

SELECT * FROM finish();
ROLLBACK;
