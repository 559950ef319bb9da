-- The security review as tests: what PUBLIC gets, how SECURITY DEFINER
-- functions are pinned, and that a role with CREATE on a schema cannot get
-- its own functions, operators or tables picked up by migrate_ops' internal
-- queries (which run as the extension owner) through its search_path.
BEGIN;
SELECT plan(8);
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
     WHERE c.relnamespace = 'migrate_ops'::regnamespace AND c.relkind IN ('r', 'v', 'S', 'm')
       AND (has_table_privilege('public', c.oid, 'SELECT') OR has_table_privilege('public', c.oid, 'INSERT')
            OR has_table_privilege('public', c.oid, 'UPDATE') OR has_table_privilege('public', c.oid, 'DELETE'))$$,
    'PUBLIC may read or write no table, view or sequence');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = 'migrate_ops'::regnamespace AND p.prosecdef
       AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)$$,
    'every SECURITY DEFINER function pins search_path = pg_catalog, pg_temp');
SELECT set_eq($$SELECT proname::text FROM pg_proc WHERE pronamespace = 'migrate_ops'::regnamespace AND prosecdef$$,
              ARRAY['ddl_capture'],
              'the event-trigger function is the only SECURITY DEFINER function');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = 'migrate_ops'::regnamespace
       AND p.proname IN ('apply', 'rollback', 'plan', 'lint') AND p.prosecdef$$,
    'apply, rollback, plan and lint run as the caller');

-- ------------------------------------------------------------ search_path hijack
-- An ordinary role with CREATE on public plants look-alikes of what internal
-- queries use, each recording that it ran, and puts public first.
CREATE TABLE public.hijack_log (what text);
GRANT INSERT ON public.hijack_log TO PUBLIC;
CREATE ROLE sec_mallory;
GRANT CREATE, USAGE ON SCHEMA public TO sec_mallory;
GRANT EXECUTE ON PROCEDURE migrate_ops.apply(text, text, text, text) TO sec_mallory;
GRANT EXECUTE ON FUNCTION migrate_ops.status(jsonb), migrate_ops.drift(bigint), migrate_ops.start(text, text, text),
    migrate_ops.finish(text), migrate_ops.lint(text), migrate_ops.plan(text), migrate_ops.preflight(text, text, jsonb),
    migrate_ops.health(jsonb), migrate_ops.ready(jsonb) TO sec_mallory;
SET ROLE sec_mallory;
CREATE FUNCTION public.textne_hijack(text, text) RETURNS boolean LANGUAGE sql AS
    $$ INSERT INTO public.hijack_log VALUES ('operator as ' || current_user); SELECT $1::text OPERATOR(pg_catalog.=) $2::text $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.textne_hijack);
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS
    $$ INSERT INTO public.hijack_log VALUES ('now'); SELECT pg_catalog.now() $$;
CREATE FUNCTION public.jsonb_build_object(VARIADIC text[]) RETURNS jsonb LANGUAGE sql AS
    $$ INSERT INTO public.hijack_log VALUES ('jsonb_build_object'); SELECT '{}'::jsonb $$;
CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS
    $$ INSERT INTO public.hijack_log VALUES ('clock_timestamp'); SELECT pg_catalog.clock_timestamp() $$;
CREATE TABLE public.migrations (version text, state text);
CREATE TABLE public.pg_locks (pid int);
CREATE TEMP TABLE migrations (version text, state text);
SET search_path = public, pg_temp, pg_catalog;

-- Plain statements (no pgTAP function runs under mallory's search_path, so
-- anything in the log came from migrate_ops itself); output discarded.
\o /dev/null
CALL migrate_ops.apply('1', 'CREATE TABLE public.sec_t (id int);');
SELECT migrate_ops.start('2');
SELECT migrate_ops.finish('2');
SELECT * FROM migrate_ops.status('[{"version": "1"}, {"version": "3"}]');
SELECT * FROM migrate_ops.drift();
SELECT migrate_ops.health(), migrate_ops.ready();
SELECT * FROM migrate_ops.lint('ALTER TABLE public.sec_t ADD COLUMN x int');
SELECT * FROM migrate_ops.plan('ALTER TABLE public.sec_t ADD COLUMN x int');
SELECT * FROM migrate_ops.preflight('3', 'ALTER TABLE public.sec_t ADD COLUMN x int');
CREATE TABLE public.sec_ddl (id int);
ALTER TABLE public.sec_ddl ADD COLUMN note text;
DROP TABLE public.sec_ddl;
\o
RESET search_path;
RESET ROLE;
SELECT is_empty($$SELECT what FROM public.hijack_log$$,
                'none of mallory''s functions or operators ran inside migrate_ops'' own queries');
SELECT results_eq($$SELECT string_agg(version || ':' || state, ',' ORDER BY version) FROM migrate_ops.migrations$$,
                  $$VALUES ('1:applied,2:applied')$$, 'the real ledger got the rows, not mallory''s look-alike table');
SELECT is((SELECT count(*) FROM public.migrations), 0::bigint, 'mallory''s look-alike table is untouched');

SELECT * FROM finish();
ROLLBACK;
