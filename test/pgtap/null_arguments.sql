-- NULL in every argument position of every public function and procedure of
-- migrate_ops (found in the catalog, so a new function is covered the day it
-- is added): each call either works (a documented no-op or default) or fails
-- with a clear, documented SQLSTATE — never an internal error, never a
-- crash — and leaves nothing behind (every call is rolled back).
BEGIN;
SELECT plan(4);
SET client_min_messages = warning;

-- A plausible value for an argument of this type (the other positions).
CREATE FUNCTION pg_temp.plausible(typ regtype) RETURNS text LANGUAGE sql AS $$
    SELECT CASE typ
        WHEN 'text'::regtype THEN quote_literal('x')
        WHEN 'text[]'::regtype THEN quote_literal('{x.*}') || '::text[]'
        WHEN 'jsonb'::regtype THEN quote_literal('[]') || '::jsonb'
        WHEN 'bigint'::regtype THEN '1::bigint'
        WHEN 'integer'::regtype THEN '1'
        WHEN 'boolean'::regtype THEN 'true'
        WHEN 'interval'::regtype THEN quote_literal('1 day') || '::interval'
        WHEN 'timestamp with time zone'::regtype THEN 'now()'
    END $$;

SELECT migrate_ops.snapshot('baseline') \g /dev/null
CREATE TEMP TABLE outcome (routine text, position int, sqlstate text);

DO $$
DECLARE
    r record;
    args text[];
    call text;
    state text;
BEGIN
    FOR r IN SELECT p.oid, p.proname, p.prokind, p.proargtypes::regtype[] AS types, p.pronargs
               FROM pg_proc p
              WHERE p.pronamespace = 'migrate_ops'::regnamespace
                AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
                AND p.pronargs > 0
    LOOP
        FOR i IN 1 .. r.pronargs LOOP
            args := ARRAY(SELECT CASE WHEN j = i THEN 'NULL::' || format_type(r.types[j - 1], NULL)
                                      ELSE pg_temp.plausible(r.types[j - 1]) END
                            FROM generate_series(1, r.pronargs) j);
            call := CASE WHEN r.prokind = 'p' THEN 'CALL ' ELSE 'SELECT * FROM ' END
                    || 'migrate_ops.' || quote_ident(r.proname) || '(' || array_to_string(args, ', ') || ')';
            BEGIN
                EXECUTE call;
                RAISE EXCEPTION USING ERRCODE = 'MO999';   -- undo what a working call did
            EXCEPTION WHEN OTHERS THEN
                state := CASE WHEN SQLSTATE = 'MO999' THEN 'ok' ELSE SQLSTATE END;
            END;
            INSERT INTO outcome VALUES (r.proname, i, state);
        END LOOP;
    END LOOP;
END $$;

SELECT ok((SELECT count(*) FROM outcome) >= 50, 'every argument position of every function was tried: '
          || (SELECT count(*) FROM outcome) || ' calls');
SELECT is_empty($$SELECT * FROM outcome WHERE sqlstate LIKE 'XX%' OR sqlstate IN ('42883', '42P13')$$,
                'no internal error, and every call resolved to a function');
SELECT is_empty($$SELECT * FROM outcome WHERE sqlstate NOT IN ('ok', '22004', '22023', '42704', '42601', '55000')$$,
                'every outcome is documented: works, 22004 (NULL not allowed), 22023, 42704, 42601 or 55000');
-- The documented outcome of each position (README: "Bad input").
SELECT results_eq(
    $$SELECT routine || '(' || position || ')=' || sqlstate FROM outcome ORDER BY routine, position$$,
    $$SELECT * FROM unnest(ARRAY[
        'accept_drift(1)=22004', 'add_channel(1)=22004', 'add_channel(2)=22004', 'add_channel(3)=22023',
        'add_channel(4)=22004', 'add_channel(5)=22023', 'add_channel(6)=22004', 'alter_channel(1)=22004',
        'alter_channel(2)=42704', 'alter_channel(3)=42704', 'alter_channel(4)=42704',
        'alter_channel(5)=42704', 'apply(1)=22004', 'apply(2)=22004', 'apply(3)=42601', 'apply(4)=42601',
        'approve(1)=22004', 'approve(2)=22004', 'approve(3)=22023', 'baseline(1)=22004', 'baseline(2)=ok',
        'checksum(1)=ok', 'drift(1)=ok', 'drift_sql(1)=ok', 'drop_channel(1)=22004', 'fail(1)=22004',
        'fail(2)=42704', 'fingerprint(1)=ok', 'finish(1)=22004', 'health(1)=ok', 'lint(1)=22004',
        'notify(1)=22004', 'notify(2)=22023', 'plan(1)=22004', 'preflight(1)=42601', 'preflight(2)=42704',
        'preflight(3)=42601', 'prune_ddl_log(1)=22004', 'ready(1)=ok', 'record_backup(1)=22004',
        'record_backup(2)=22004', 'record_backup(3)=22004', 'record_backup(4)=22004', 'redeliver(1)=ok',
        'resolve(1)=22004', 'resolve(2)=22004', 'resolve(3)=22004', 'rollback(1)=22004', 'snapshot(1)=ok',
        'start(1)=22004', 'start(2)=ok', 'start(3)=ok', 'status(1)=ok'])$$,
    'each NULL argument has its documented outcome');

SELECT * FROM finish();
ROLLBACK;
