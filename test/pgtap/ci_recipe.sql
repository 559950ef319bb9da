-- The pgTAP recipe for CI that the README shows, run against a database the
-- way a CI job would leave it.  The first part stands in for the deploy (in
-- your pipeline: `prisma migrate deploy`, `flyway migrate`, or CALL apply);
-- the second part is the recipe, word for word.
BEGIN;

-- ---------------------------------------------------------------- the deploy (setup)
SET client_min_messages = warning;
CREATE ROLE ci_deployer;
CREATE ROLE ci_reviewer;
GRANT CREATE ON SCHEMA public TO ci_deployer;
GRANT EXECUTE ON PROCEDURE migrate_ops.apply(text, text, text, text) TO ci_deployer;
GRANT EXECUTE ON FUNCTION migrate_ops.approve(text, text, text) TO ci_reviewer;
SET ROLE ci_reviewer;
SELECT migrate_ops.approve('20260102_01', migrate_ops.checksum('ALTER TABLE orders DROP COLUMN note;'), 'reviewed');
SET ROLE ci_deployer;
CALL migrate_ops.apply('20260101_01', 'CREATE TABLE orders (id bigint PRIMARY KEY, note text);');
CALL migrate_ops.apply('20260102_01', 'ALTER TABLE orders DROP COLUMN note;');
RESET ROLE;
-- the repository's list, as CI computes it from the migrations directory
\set expected '[{"version": "20260101_01", "checksum": "' `printf '%s' 'CREATE TABLE orders (id bigint PRIMARY KEY, note text);' | sha256sum | cut -c1-64` '"}, {"version": "20260102_01", "checksum": "' `printf '%s' 'ALTER TABLE orders DROP COLUMN note;' | sha256sum | cut -c1-64` '"}]'
RESET client_min_messages;

-- ---------------------------------------------------------------- the recipe (README)
SELECT plan(5);

SELECT is_empty(
    format($$SELECT version, state FROM migrate_ops.status(%L) WHERE state <> 'applied'$$, :'expected'),
    'every migration in the repository is applied, unedited, and nothing else is');

SELECT is_empty(
    $$SELECT kind, identity, change, changed_by FROM migrate_ops.drift()$$,
    'the schema is exactly what the migrations made (no drift)');

SELECT is_empty(
    $$SELECT m.version
        FROM migrate_ops.migrations m
       WHERE m.state = 'applied'
         AND EXISTS (SELECT FROM jsonb_array_elements(m.lint_findings) f WHERE f->>'severity' = 'error')
         AND (SELECT count(*) FROM migrate_ops.approvals a
               WHERE a.version = m.version AND a.checksum = m.checksum AND a.approved_by <> m.applied_by)
             < current_setting('migrate_ops.required_approvals')::int$$,
    'no destructive migration went in without an approval by someone else');

SELECT is_empty(
    $$SELECT version, error_message FROM migrate_ops.migrations WHERE state IN ('failed', 'running')$$,
    'no failed or half-finished migration');

SELECT ok(migrate_ops.ready(:'expected'), 'the database is ready: migrate_ops.ready()');

SELECT * FROM finish();
ROLLBACK;
