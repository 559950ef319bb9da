-- The security review as tests: what PUBLIC gets (functions, tables,
-- sequences, columns, the schema), how SECURITY DEFINER functions are
-- pinned, the trigger functions nobody may call or attach, and that a role
-- with CREATE on a schema cannot get its own code run by migrate_ops with
-- more privileges than its own: no function or operator of its picked up
-- through a victim's search_path, no temporary look-alike of migrate_ops'
-- tables read in its own session (where migrate_ops runs as the extension's
-- owner), no look-alike of a deploy tool's ledger forging the ledger, no
-- view, cast or CHECK function of its run by sync(), a tool's trigger or
-- lint().  Every call of the API is in test/lib/api_calls.psql.
BEGIN;
SELECT plan(30);
SET client_min_messages = warning;

-- ------------------------------------------------------------ catalog audit
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = 'migrate_ops'::regnamespace
       AND has_function_privilege('public', p.oid, 'EXECUTE')
       AND p.oid <> 'migrate_ops.checksum(text)'::regprocedure$$,
    'PUBLIC may execute no function but checksum()');
SELECT is_empty($$
    SELECT c.oid::regclass FROM pg_class c
     WHERE c.relnamespace = 'migrate_ops'::regnamespace AND c.relkind IN ('r', 'v', 'm')
       AND (has_table_privilege('public', c.oid, 'SELECT') OR has_table_privilege('public', c.oid, 'INSERT')
            OR has_table_privilege('public', c.oid, 'UPDATE') OR has_table_privilege('public', c.oid, 'DELETE')
            OR has_table_privilege('public', c.oid, 'TRUNCATE') OR has_table_privilege('public', c.oid, 'REFERENCES')
            OR has_table_privilege('public', c.oid, 'TRIGGER'))$$,
    'PUBLIC may read or write no table or view');
SELECT is_empty($$
    SELECT c.oid::regclass FROM pg_class c
     WHERE c.relnamespace = 'migrate_ops'::regnamespace
       AND CASE WHEN c.relkind = 'S' THEN has_sequence_privilege('public', c.oid, 'USAGE,SELECT,UPDATE') END$$,
    'PUBLIC may use, read or set no sequence');
SELECT is_empty($$
    SELECT c.oid::regclass, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
     WHERE c.relnamespace = 'migrate_ops'::regnamespace AND c.relkind IN ('r', 'v', 'm')
       AND a.attnum > 0 AND NOT a.attisdropped
       AND has_column_privilege('public', c.oid, a.attnum, 'SELECT,INSERT,UPDATE,REFERENCES')$$,
    'PUBLIC has no column privilege either (channels.url and .secret included)');
SELECT is_empty($$
    SELECT x.grantee::regrole FROM pg_namespace n, aclexplode(n.nspacl) x
     WHERE n.nspname = 'migrate_ops' AND x.privilege_type = 'CREATE'
       AND (x.grantee = 0 OR NOT (SELECT rolsuper FROM pg_roles WHERE oid = x.grantee))
    UNION ALL
    SELECT nspowner::regrole FROM pg_namespace
     WHERE nspname = 'migrate_ops' AND NOT (SELECT rolsuper FROM pg_roles WHERE oid = nspowner)$$,
    'the schema belongs to a superuser and no one else may create objects in it');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = 'migrate_ops'::regnamespace AND p.prosecdef
       AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)$$,
    'every SECURITY DEFINER function pins search_path = pg_catalog, pg_temp');
SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p
                   WHERE p.pronamespace = 'migrate_ops'::regnamespace AND p.prosecdef$$,
                'no function is SECURITY DEFINER (the event-trigger function included)');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = 'migrate_ops'::regnamespace
       AND p.proname IN ('apply', 'rollback', 'plan', 'lint') AND p.prosecdef$$,
    'apply, rollback, plan and lint run as the caller');

-- ------------------------------------------------------------ trigger functions
-- Called directly (even by a superuser), each says it is a trigger function
-- (39P01, 39P03 for the event trigger's); attached to a table by a role
-- that owns it, each is refused (42501: no EXECUTE).
CREATE TEMP TABLE outcome (what text, sqlstate text);
CREATE ROLE sec_owner;
GRANT ALL ON outcome TO sec_owner;
GRANT CREATE, USAGE ON SCHEMA public TO sec_owner;
DO $$
DECLARE
    f text;
BEGIN
    FOR f IN SELECT p.proname FROM pg_proc p
              WHERE p.pronamespace = 'migrate_ops'::regnamespace
                AND p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype) ORDER BY 1
    LOOP
        BEGIN
            EXECUTE format('SELECT migrate_ops.%I()', f);
            INSERT INTO outcome VALUES ('call ' || f, 'ok');
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO outcome VALUES ('call ' || f, SQLSTATE);
        END;
    END LOOP;
END $$;
SELECT results_eq($$SELECT what || ' ' || sqlstate FROM outcome ORDER BY what$$,
    ARRAY['call channels_changed 39P01', 'call channels_check 39P01', 'call ddl_capture 39P03', 'call ddl_log_append_only 39P01',
          'call lint_rules_update 39P01', 'call outbox_wake 39P01', 'call tool_ledger_trigger 39P01'],
    'each trigger function called directly: a trigger-protocol error, never an internal one');
TRUNCATE outcome;
SET ROLE sec_owner;
CREATE TABLE public.sec_owned (id int, url text, name text, kind text, events text[], secret text);
DO $$
DECLARE
    f text;
BEGIN
    FOR f IN SELECT unnest(ARRAY['channels_changed()', 'channels_check()', 'ddl_log_append_only()', 'lint_rules_update()', 'outbox_wake()',
                                 'tool_ledger_trigger(''prisma'')'])
    LOOP
        BEGIN
            EXECUTE format('CREATE TRIGGER t BEFORE INSERT ON public.sec_owned FOR EACH ROW EXECUTE FUNCTION migrate_ops.%s', f);
            INSERT INTO outcome VALUES (f, 'ok');
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO outcome VALUES (f, SQLSTATE);
        END;
    END LOOP;
END $$;
RESET ROLE;
SELECT is_empty($$SELECT * FROM outcome WHERE sqlstate <> '42501'$$,
                'the owner of a table cannot attach any migrate_ops trigger function to it (42501)');

-- A trigger a table's owner names migrate_ops_tool is not migrate_ops' own:
-- the table is not reported as tracked, nothing is recorded.
SET ROLE sec_owner;
CREATE TABLE public.app_migrations (version varchar(128) PRIMARY KEY, note text);
CREATE FUNCTION public.sec_noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER migrate_ops_tool AFTER INSERT ON public.app_migrations FOR EACH ROW EXECUTE FUNCTION public.sec_noop();
ALTER TABLE public.app_migrations DROP COLUMN note;   -- now dbmate's shape
RESET ROLE;
SELECT is((SELECT tracked FROM migrate_ops.tool_ledgers() WHERE ledger = 'public.app_migrations'::regclass), false,
          'a look-alike trigger named migrate_ops_tool does not make a ledger tracked');
-- When migrate_ops cannot install its triggers on a ledger (here the name of
-- golang-migrate's second one is taken), the rest of the transaction's DDL
-- is logged all the same.
SET ROLE sec_owner;
CREATE TABLE public.gm_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL, note text);
CREATE TRIGGER migrate_ops_tool_truncate BEFORE TRUNCATE ON public.gm_migrations
    FOR EACH STATEMENT EXECUTE FUNCTION public.sec_noop();
ALTER TABLE public.gm_migrations DROP COLUMN note;   -- now golang-migrate's shape: the install fails
CREATE TABLE public.sec_sneaky (id int);
RESET ROLE;
SELECT is((SELECT count(*) FROM migrate_ops.ddl_log WHERE object_identity = 'public.sec_sneaky'), 1::bigint,
          'a failed trigger installation does not switch capture off for the rest of the transaction');

-- ------------------------------------------------------------ the masked view
SELECT migrate_ops.add_channel('sec-hook', 'slack',
    'https://bot:pa55word@hooks.slack.com/services/T0/B0/SeCrEtPaTh?token=t0ken#frag', '{*}', 'sh4red-s3cret');
SELECT is((SELECT url || ' ' || signed FROM migrate_ops.channels_masked WHERE name = 'sec-hook'),
          'https://hooks.slack.com/*** true',
          'channels_masked shows scheme and host only: no credentials, path, query, fragment or secret');

-- ------------------------------------------------------------ search_path hijack
-- An ordinary role with CREATE on public plants look-alikes of the operators
-- and functions internal queries use (each records that it ran, and as whom)
-- and tables named like migrate_ops' own.  A superuser whose search_path
-- puts public first then calls every function: nothing of mallory's runs.
CREATE TABLE public.hijack_log (who text, what text);
GRANT INSERT ON public.hijack_log TO PUBLIC;
CREATE ROLE sec_mallory;
GRANT CREATE, USAGE ON SCHEMA public TO sec_mallory;
SET ROLE sec_mallory;
DO $do$
DECLARE
    op record;
    fn record;
    i int := 0;
BEGIN
    FOR op IN SELECT * FROM (VALUES
        ('=', 'text', 'text'), ('<>', 'text', 'text'), ('<', 'text', 'text'), ('>', 'text', 'text'),
        ('<=', 'text', 'text'), ('>=', 'text', 'text'), ('||', 'text', 'text'), ('~', 'text', 'text'),
        ('!~', 'text', 'text'), ('~~', 'text', 'text'), ('~*', 'text', 'text'),
        ('->', 'jsonb', 'text'), ('->>', 'jsonb', 'text'), ('->', 'jsonb', 'integer'), ('->>', 'jsonb', 'integer'),
        ('@>', 'jsonb', 'jsonb'), ('?', 'jsonb', 'text'), ('||', 'jsonb', 'jsonb'),
        ('=', 'integer', 'integer'), ('<>', 'integer', 'integer'), ('<', 'integer', 'integer'),
        ('>', 'integer', 'integer'), ('+', 'integer', 'integer'), ('-', 'integer', 'integer'),
        ('=', 'bigint', 'bigint'), ('<', 'bigint', 'bigint'), ('>', 'bigint', 'bigint'), ('>=', 'bigint', 'bigint'),
        ('+', 'bigint', 'bigint'), ('-', 'bigint', 'bigint'), ('*', 'numeric', 'numeric'),
        ('=', 'timestamptz', 'timestamptz'), ('<', 'timestamptz', 'timestamptz'),
        ('>', 'timestamptz', 'timestamptz'), ('-', 'timestamptz', 'timestamptz'),
        ('-', 'timestamptz', 'interval'), ('+', 'timestamptz', 'interval'),
        ('=', 'oid', 'oid'), ('=', 'name', 'name'), ('=', 'boolean', 'boolean'), ('@>', 'text[]', 'text[]'),
        ('&&', 'text[]', 'text[]'), ('=', 'xid8', 'xid8'), ('=', 'inet', 'inet')) AS t(name, l, r)
    LOOP
        i := i + 1;
        EXECUTE format($f$CREATE FUNCTION public.hj_op%s(%s, %s) RETURNS %s LANGUAGE plpgsql AS $b$
            BEGIN INSERT INTO public.hijack_log VALUES (current_user, %L); RETURN $1 OPERATOR(pg_catalog.%s) $2; END $b$ $f$,
            i, op.l, op.r,
            coalesce((SELECT format_type(o.oprresult, NULL) FROM pg_operator o
                       WHERE o.oprname = op.name AND o.oprleft = op.l::regtype AND o.oprright = op.r::regtype
                         AND o.oprnamespace = 'pg_catalog'::regnamespace), 'boolean'),
            'operator ' || op.name || '(' || op.l || ', ' || op.r || ')', op.name);
        EXECUTE format('CREATE OPERATOR public.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = public.hj_op%s)',
                       op.name, op.l, op.r, i);
    END LOOP;
    FOR fn IN SELECT * FROM (VALUES
        ('now', '', 'timestamptz', 'pg_catalog.now()'),
        ('clock_timestamp', '', 'timestamptz', 'pg_catalog.clock_timestamp()'),
        ('current_database', '', 'name', 'pg_catalog.current_database()'),
        ('pg_backend_pid', '', 'integer', 'pg_catalog.pg_backend_pid()'),
        ('current_setting', 'text', 'text', 'pg_catalog.current_setting($1)'),
        ('lower', 'text', 'text', 'pg_catalog.lower($1)'),
        ('length', 'text', 'integer', 'pg_catalog.length($1)'),
        ('left', 'text, integer', 'text', 'pg_catalog.left($1, $2)'),
        ('right', 'text, integer', 'text', 'pg_catalog.right($1, $2)'),
        ('starts_with', 'text, text', 'boolean', 'pg_catalog.starts_with($1, $2)'),
        ('quote_ident', 'text', 'text', 'pg_catalog.quote_ident($1)'),
        ('format', 'text', 'text', 'pg_catalog.format($1)'),
        ('jsonb_typeof', 'jsonb', 'text', 'pg_catalog.jsonb_typeof($1)'),
        ('jsonb_array_length', 'jsonb', 'integer', 'pg_catalog.jsonb_array_length($1)'),
        ('jsonb_build_object', 'VARIADIC text[]', 'jsonb', '''{}''::jsonb'),
        ('jsonb_strip_nulls', 'jsonb', 'jsonb', 'pg_catalog.jsonb_strip_nulls($1)'),
        ('to_jsonb', 'anyelement', 'jsonb', 'pg_catalog.to_jsonb($1)'),
        ('regexp_replace', 'text, text, text', 'text', 'pg_catalog.regexp_replace($1, $2, $3)'),
        ('array_to_string', 'anyarray, text', 'text', 'pg_catalog.array_to_string($1, $2)'),
        ('cardinality', 'anyarray', 'integer', 'pg_catalog.cardinality($1)'),
        ('round', 'numeric', 'numeric', 'pg_catalog.round($1)'),
        ('extract', 'text, timestamptz', 'numeric', 'pg_catalog.extract($1, $2)'),
        ('extract', 'text, interval', 'numeric', 'pg_catalog.extract($1, $2)'),
        ('to_char', 'timestamptz, text', 'text', 'pg_catalog.to_char($1, $2)'),
        ('inet_client_addr', '', 'inet', 'pg_catalog.inet_client_addr()'),
        ('pg_current_xact_id', '', 'xid8', 'pg_catalog.pg_current_xact_id()')) AS t(name, args, ret, body)
    LOOP
        EXECUTE format($f$CREATE FUNCTION public.%I(%s) RETURNS %s LANGUAGE plpgsql AS $b$
            BEGIN INSERT INTO public.hijack_log VALUES (current_user, %L); RETURN %s; END $b$ $f$,
            fn.name, fn.args, fn.ret, 'function ' || fn.name || '(' || fn.args || ')', fn.body);
    END LOOP;
END $do$;
CREATE TABLE public.migrations (version text, state text);
CREATE TABLE public.events (id bigint, event text);
CREATE TABLE public.pg_locks (pid int);
RESET ROLE;
SELECT ok((SELECT count(*) FROM pg_operator WHERE oprnamespace = 'public'::regnamespace) >= 40
          AND (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname !~ '^hj_op') >= 25,
          'mallory planted her operators and functions');

SET track_functions = 'all';
SET search_path = public, pg_catalog, pg_temp;
\set run hj
\ir ../lib/api_calls.psql
RESET search_path;
SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p
                   WHERE p.pronamespace = 'migrate_ops'::regnamespace
                     AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
                     AND NOT EXISTS (SELECT FROM pg_stat_xact_user_functions f WHERE f.funcid = p.oid AND f.calls > 0)$$,
                'test/lib/api_calls.psql calls every function and procedure of migrate_ops');
SELECT is_empty($$SELECT who, what FROM public.hijack_log$$,
                'none of mallory''s functions or operators ran inside migrate_ops, called by a superuser with public first in search_path');
SELECT is((SELECT string_agg(version || ':' || state, ',' ORDER BY version) FROM migrate_ops.migrations
             WHERE version LIKE 'hj-%' OR version LIKE '%[hj%]:%'),
          'dbmate[hj.app_migrations]:1:rolled_back,flyway[hj]:1:applied,golang-migrate[hj]:0:baselined,'
          'golang-migrate[hj]:1:rolled_back,hj-0:baselined,hj-1:applied,hj-2:applied,hj-3:rolled_back,'
          'prisma[hj]:20260101_init:applied,prisma[hj]:20260102_fail:rolled_back,sqitch[hj]:p:ch:rolled_back',
          'the real ledger got the rows, each tool''s trigger recorded its writes');
SELECT is((SELECT count(*) FROM public.migrations) + (SELECT count(*) FROM public.events), 0::bigint,
          'mallory''s look-alike tables are untouched');

-- ------------------------------------------------------------ look-alikes in pg_temp
TRUNCATE public.hijack_log;
-- In her own session mallory may call the API (granted here), and there
-- migrate_ops' own queries run as the extension's owner.  She shadows every
-- relation of migrate_ops with a temporary view that records being read.
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA migrate_ops TO sec_mallory;
GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA migrate_ops TO sec_mallory;
GRANT UPDATE, SELECT ON migrate_ops.lint_rules TO sec_mallory;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO sec_mallory', current_database()); END $$;
SET ROLE sec_mallory;
CREATE FUNCTION public.hj_read(text) RETURNS text LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO public.hijack_log VALUES (current_user, 'read of pg_temp.' || $1); RETURN $1; END $$;
DO $$
DECLARE
    rel text;
BEGIN
    FOR rel IN SELECT relname FROM pg_class WHERE relnamespace = 'migrate_ops'::regnamespace
                  AND relkind IN ('r', 'v', 'S') AND relname <> 'migrations'
    LOOP
        EXECUTE format('CREATE TEMP VIEW %I AS SELECT public.hj_read(%L) AS x', rel, rel);
    END LOOP;
END $$;
CREATE TEMP VIEW migrations AS SELECT public.hj_read('migrations') AS version, 'applied'::text AS state;
SELECT is((SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()
             AND relname IN (SELECT relname FROM pg_class WHERE relnamespace = 'migrate_ops'::regnamespace)),
          (SELECT count(*) FROM pg_class WHERE relnamespace = 'migrate_ops'::regnamespace AND relkind IN ('r', 'v', 'S')),
          'every table, view and sequence of migrate_ops has a look-alike in pg_temp');
\set run tv
\ir ../lib/api_calls.psql
UPDATE migrate_ops.lint_rules SET note = 'n' WHERE id OPERATOR(pg_catalog.=) 'rename_column';
RESET ROLE;
SELECT is_empty($$SELECT who, what FROM public.hijack_log$$,
                'no look-alike in pg_temp was read by migrate_ops in mallory''s own session');
SELECT is((SELECT string_agg(version || ':' || state || ':' || applied_by, ',' ORDER BY version)
             FROM migrate_ops.migrations WHERE version LIKE 'tv-%'),
          'tv-0:baselined:sec_mallory,tv-1:applied:sec_mallory,tv-2:applied:sec_mallory,tv-3:rolled_back:sec_mallory',
          'her calls went to the real ledger');

-- ------------------------------------------------------------ forging through a tool's ledger
-- A role that may not record migrations (no EXECUTE on start()) creates a
-- table with Prisma's shape in its own schema and writes a finished row:
-- migrate_ops records nothing, moves no baseline, emits nothing.
CREATE ROLE sec_forger;
GRANT CREATE, USAGE ON SCHEMA public TO sec_forger;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO sec_forger', current_database()); END $$;
SELECT migrate_ops.snapshot('before the forgery');
CREATE TEMP TABLE counts AS
    SELECT (SELECT count(*) FROM migrate_ops.migrations) AS m,
           (SELECT count(*) FROM migrate_ops.events WHERE event <> 'ddl.out_of_band') AS e,
           (SELECT count(*) FROM migrate_ops.snapshots) AS s, (SELECT count(*) FROM migrate_ops.migration_history) AS h;
SET ROLE sec_forger;
CREATE SCHEMA forge;
CREATE TABLE forge._prisma_migrations (id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL,
    finished_at timestamptz, migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0);
CREATE TABLE forge.hidden (id int);
INSERT INTO forge._prisma_migrations VALUES ('f', 'c', now(), '20990101_forged', NULL, NULL, now(), 1);
INSERT INTO forge._prisma_migrations (id, checksum, migration_name, logs) VALUES ('g', 'c', '20990102_broken', 'failed');
RESET ROLE;
SELECT results_eq($$SELECT (SELECT count(*) FROM migrate_ops.migrations),
                           (SELECT count(*) FROM migrate_ops.events WHERE event <> 'ddl.out_of_band'),
                           (SELECT count(*) FROM migrate_ops.snapshots), (SELECT count(*) FROM migrate_ops.migration_history)$$,
                  $$SELECT m, e, s, h FROM counts$$,
                  'a look-alike ledger of a role that may not record migrations: no ledger row, event, snapshot or history');
SELECT ok(migrate_ops.ready() IS NOT DISTINCT FROM (SELECT count(*) = 0 FROM migrate_ops.migrations WHERE state IN ('failed', 'running')),
          'so it cannot make ready() false with a forged failure');
SELECT is((SELECT tracked FROM migrate_ops.tool_ledgers() WHERE ledger = 'forge._prisma_migrations'::regclass), false,
          'tool_ledgers() says it is not recorded');
SELECT is_empty($$SELECT * FROM migrate_ops.sync() WHERE ledger = 'forge._prisma_migrations'::regclass$$,
                'sync() skips it too');
SELECT is((SELECT count(*) FROM migrate_ops.drift() WHERE identity = 'forge.hidden'), 1::bigint,
          'its DDL stays drift: the baseline did not move');

-- ------------------------------------------------------------ code of a table's owner never runs as someone else
-- A Sqitch ledger of a role that may record migrations, whose changes
-- "table" is a view calling her function: neither the trigger (as she
-- writes) nor sync() (run by a superuser) reads it.
TRUNCATE public.hijack_log;
GRANT EXECUTE ON FUNCTION migrate_ops.start(text, text, text) TO sec_forger;
SET ROLE sec_forger;
CREATE SCHEMA sq;
CREATE TABLE sq.events (event text, change_id text, change text, project text, note text, requires text[],
    conflicts text[], tags text[], committed_at timestamptz, committer_name text, committer_email text,
    planned_at timestamptz, planner_name text, planner_email text);
CREATE FUNCTION public.hj_view() RETURNS text LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO public.hijack_log VALUES (current_user, 'view read'); RETURN 'forged-hash'; END $$;
CREATE VIEW sq.changes AS SELECT public.hj_view() AS script_hash, 'c1'::text AS change_id;
INSERT INTO sq.events (event, change_id, change, project, note, committed_at) VALUES ('deploy', 'c1', 'ch', 'p', '', now());
RESET ROLE;
SELECT * FROM migrate_ops.sync();
SELECT is_empty($$SELECT * FROM public.hijack_log$$, 'a view named changes is never read (trigger, sync())');
SELECT is((SELECT state || ':' || coalesce(checksum, '-') FROM migrate_ops.migrations WHERE version = 'sqitch[sq]:p:ch'),
          'applied:-', 'the deploy is recorded, without a hash');

-- lint() of a script on a table whose CHECK calls its owner's IMMUTABLE
-- function (constant folding would run it), and of a type change through
-- her own cast function: nothing of hers runs as the linting superuser.
SET ROLE sec_forger;
CREATE FUNCTION public.hj_imm(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
    BEGIN PERFORM public.hj_view(); RETURN $1; END $$;
CREATE TABLE sq.victim (a int, CHECK (public.hj_imm(0) OPERATOR(pg_catalog.=) 0));
CREATE TYPE sq.money2 AS (v int);
CREATE FUNCTION sq.to_int(sq.money2) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT public.hj_imm(1)';
CREATE CAST (sq.money2 AS int) WITH FUNCTION sq.to_int(sq.money2) AS ASSIGNMENT;
ALTER TABLE sq.victim ADD COLUMN m sq.money2;
RESET ROLE;
TRUNCATE public.hijack_log;
SELECT ok(ARRAY(SELECT rule_id FROM migrate_ops.lint('ALTER TABLE sq.victim ALTER COLUMN a SET NOT NULL; ALTER TABLE sq.victim ALTER COLUMN m TYPE int'))
             OPERATOR(pg_catalog.@>) ARRAY['set_not_null', 'alter_column_type_rewrite'],
          'lint() reports on her table: SET NOT NULL scans (her CHECK proves nothing), the type change rewrites');
SELECT is_empty($$SELECT * FROM public.hijack_log$$,
                'without running her CHECK''s or her cast''s function (lint() executes nothing)');

SELECT * FROM finish();
ROLLBACK;
