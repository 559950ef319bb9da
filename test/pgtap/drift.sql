-- Drift detection (DESIGN §2), inside one transaction: every object kind
-- added, removed and changed with the right kind and identity; identities
-- equal to PostgreSQL's own object identities; hostile names; ignore
-- patterns; extension collapse; schemas; the switches; no false drift;
-- errors with their SQLSTATE; privileges; scans and their events.
BEGIN;
SELECT plan(194);

-- Helpers live in pg_temp, which is never tracked.
\ir lib/drift_helpers.psql
CREATE FUNCTION pg_temp.reset() RETURNS bigint LANGUAGE sql AS
$$ SELECT migrate_ops.snapshot('tap') $$;
CREATE FUNCTION pg_temp.expected(k text, i text) RETURNS text LANGUAGE sql AS
$$ SELECT expected FROM migrate_ops.drift() WHERE kind = k AND identity = i $$;
CREATE FUNCTION pg_temp.actual(k text, i text) RETURNS text LANGUAGE sql AS
$$ SELECT actual FROM migrate_ops.drift() WHERE kind = k AND identity = i $$;

-- ---------------------------------------------------------------- shape
SELECT has_table('migrate_ops', 'snapshots', 'snapshots table');
SELECT has_table('migrate_ops', 'snapshot_objects', 'snapshot_objects table');
SELECT has_table('migrate_ops', 'scans', 'scans table');
SELECT has_table('migrate_ops', 'drift_ignore', 'drift_ignore table');
SELECT function_returns('migrate_ops', 'fingerprint', ARRAY['text[]'], 'text', 'fingerprint(text[]) → text');
SELECT function_returns('migrate_ops', 'snapshot', ARRAY['text'], 'bigint', 'snapshot(text) → bigint');
SELECT function_returns('migrate_ops', 'drift_sql', ARRAY['bigint'], 'text', 'drift_sql(bigint) → text');
SELECT function_returns('migrate_ops', 'accept_drift', ARRAY['text'], 'bigint', 'accept_drift(text) → bigint');
SELECT function_returns('migrate_ops', 'scan', ARRAY[]::text[], 'bigint', 'scan() → bigint');
SELECT is((SELECT proargnames[2:] FROM pg_proc WHERE oid = 'migrate_ops.drift(bigint)'::regprocedure),
          ARRAY['kind', 'identity', 'change', 'expected', 'actual', 'changed_by', 'changed_at',
                'application_name', 'migration'], 'drift() returns the columns DESIGN §2 names');
SELECT ok(NOT bool_or(prosecdef), 'no drift function is SECURITY DEFINER')
  FROM pg_proc WHERE pronamespace = 'migrate_ops'::regnamespace
   AND prorettype <> 'event_trigger'::regtype;  -- the DDL-capture event trigger runs as the owner

-- ---------------------------------------------------------------- before any snapshot
SELECT throws_ok('SELECT * FROM migrate_ops.drift()', '55000', 'there is no drift baseline yet',
                 'drift() without any snapshot: 55000');
SELECT throws_ok('SELECT migrate_ops.drift_sql()', '55000', NULL, 'drift_sql() without any snapshot: 55000');
SELECT ok(migrate_ops.scan() > 0, 'scan() without any snapshot returns the scan''s id');
SELECT is((SELECT status FROM migrate_ops.scans ORDER BY id DESC LIMIT 1), 'no_baseline',
          'and records no_baseline');
SELECT is((SELECT count(*) FROM migrate_ops.events WHERE event LIKE 'drift.%'), 0::bigint,
          'and emits no event');
SELECT is((SELECT count(*) FROM migrate_ops.snapshots), 0::bigint, 'nothing was snapshotted by the errors');

-- ---------------------------------------------------------------- snapshot, fingerprint
CREATE TABLE orders (id bigint PRIMARY KEY, total numeric(10,2) NOT NULL DEFAULT 0, note text);
CREATE ROLE tap_reader NOLOGIN;
CREATE ROLE tap_dba NOLOGIN;
CREATE FUNCTION evt_fn() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
CREATE FUNCTION trg_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE FOREIGN DATA WRAPPER tap_fdw;
CREATE SERVER tap_server FOREIGN DATA WRAPPER tap_fdw;

SELECT ok(pg_temp.reset() > 0, 'snapshot(label) returns the new id');
SELECT ok(migrate_ops.snapshot(NULL) > 0, 'snapshot(NULL): the label is optional');
SELECT is((SELECT label FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1), NULL, 'and stays NULL');
SELECT is(migrate_ops.fingerprint(), (SELECT fingerprint FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1),
          'the snapshot stores the current fingerprint');
SELECT matches(migrate_ops.fingerprint(), '^[0-9a-f]{64}$', 'a fingerprint is 64 hex digits');
SELECT is(migrate_ops.fingerprint(), migrate_ops.fingerprint(), 'the fingerprint is stable');
SELECT is((SELECT object_count FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1),
          (SELECT count(*)::int FROM migrate_ops.snapshot_objects WHERE valid_to IS NULL),
          'the latest snapshot''s objects are the current rows');
SELECT is(pg_temp.d(), '{}', 'right after a snapshot there is no drift');
SELECT is((SELECT count(*) FROM migrate_ops.snapshot_objects WHERE identity LIKE '%migrate_ops%'
              OR identity LIKE '%pg_catalog.%' AND kind <> 'extension'), 0::bigint,
          'migrate_ops itself and pg_catalog are never tracked');
SELECT is((SELECT count(*) FROM migrate_ops.snapshot_objects WHERE valid_to IS NULL AND identity LIKE '%pg_temp%'),
          0::bigint, 'temporary objects are never tracked');
SELECT is(pg_temp.expected('table', 'public.orders'), NULL, 'expected is NULL when nothing differs');

-- ---------------------------------------------------------------- every kind: added, removed, changed
-- schema
CREATE SCHEMA tap_s;
SELECT is(pg_temp.d(), ARRAY['privilege schema tap_s added', 'schema tap_s added'], 'schema added');
SELECT pg_temp.reset();
DROP SCHEMA tap_s;
SELECT is(pg_temp.d(), ARRAY['privilege schema tap_s removed', 'schema tap_s removed'], 'schema removed');
SELECT pg_temp.reset();
CREATE SCHEMA tap_s;
SELECT pg_temp.reset();
ALTER SCHEMA tap_s OWNER TO tap_dba;
SELECT is(pg_temp.d(), ARRAY['privilege schema tap_s changed'], 'schema owner changed');
SELECT pg_temp.reset();

-- table
CREATE TABLE t1 (a int);
SELECT is(pg_temp.d(), ARRAY['column public.t1.a added', 'privilege table public.t1 added', 'table public.t1 added'],
          'table added (with its column and privileges)');
SELECT pg_temp.reset();
DROP TABLE t1;
SELECT is(pg_temp.d(), ARRAY['column public.t1.a removed', 'privilege table public.t1 removed', 'table public.t1 removed'],
          'table removed');
SELECT is(pg_temp.expected('table', 'public.t1'), 'CREATE TABLE public.t1 (...)', 'expected shows the removed table');
SELECT pg_temp.reset();
ALTER TABLE orders SET (fillfactor = 70);
SELECT is(pg_temp.d(), ARRAY['table public.orders changed'], 'table changed: reloptions');
SELECT is(pg_temp.actual('table', 'public.orders'), 'CREATE TABLE public.orders (...) WITH (fillfactor=70)',
          'actual shows the new reloptions');
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
SELECT matches(pg_temp.actual('table', 'public.orders'), 'ENABLE ROW LEVEL SECURITY', 'RLS is part of a table');
ALTER TABLE orders RESET (fillfactor);
ALTER TABLE orders DISABLE ROW LEVEL SECURITY;
SELECT is(pg_temp.d(), '{}', 'changing a table back is no drift');
ALTER TABLE orders SET UNLOGGED;
SELECT is(pg_temp.actual('table', 'public.orders'), 'CREATE UNLOGGED TABLE public.orders (...)', 'persistence is part of a table');
ALTER TABLE orders SET LOGGED;

-- column
ALTER TABLE orders ADD COLUMN status text;
SELECT is(pg_temp.d(), ARRAY['column public.orders.status added'], 'column added');
SELECT pg_temp.reset();
ALTER TABLE orders DROP COLUMN status;
SELECT is(pg_temp.d(), ARRAY['column public.orders.status removed'], 'column removed');
SELECT pg_temp.reset();
ALTER TABLE orders ALTER COLUMN note TYPE varchar(200);
SELECT is(pg_temp.d(), ARRAY['column public.orders.note changed'], 'column changed: type');
SELECT is(pg_temp.expected('column', 'public.orders.note') || ' → ' || pg_temp.actual('column', 'public.orders.note'),
          'text → character varying(200)', 'expected and actual definitions of the column');
ALTER TABLE orders ALTER COLUMN note TYPE text;
ALTER TABLE orders ALTER COLUMN total SET DEFAULT 1;
SELECT is(pg_temp.actual('column', 'public.orders.total'), 'numeric(10,2) DEFAULT 1 NOT NULL', 'column changed: default');
ALTER TABLE orders ALTER COLUMN total SET DEFAULT 0;
ALTER TABLE orders ALTER COLUMN note SET NOT NULL;
SELECT is(pg_temp.d(), ARRAY['column public.orders.note changed'], 'column changed: NOT NULL');
ALTER TABLE orders ALTER COLUMN note DROP NOT NULL;
ALTER TABLE orders ALTER COLUMN note SET DATA TYPE text COLLATE "C";
SELECT is(pg_temp.actual('column', 'public.orders.note'), 'text COLLATE pg_catalog."C"', 'column changed: collation');
ALTER TABLE orders ALTER COLUMN note SET DATA TYPE text COLLATE "default";
ALTER TABLE orders ADD COLUMN n int GENERATED ALWAYS AS IDENTITY;
SELECT is(pg_temp.actual('column', 'public.orders.n'), 'integer GENERATED ALWAYS AS IDENTITY NOT NULL', 'identity columns');
ALTER TABLE orders ADD COLUMN twice numeric GENERATED ALWAYS AS (total * 2) STORED;
SELECT is(pg_temp.actual('column', 'public.orders.twice'), 'numeric GENERATED ALWAYS AS ((total * (2)::numeric)) STORED',
          'generated columns');
ALTER TABLE orders DROP COLUMN n, DROP COLUMN twice;
SELECT is(pg_temp.d(), '{}', 'all column changes undone: no drift');

-- constraint
ALTER TABLE orders ADD CONSTRAINT total_ok CHECK (total >= 0);
SELECT is(pg_temp.d(), ARRAY['constraint total_ok on public.orders added'], 'constraint added');
SELECT is(pg_temp.actual('constraint', 'total_ok on public.orders'),
          'ALTER TABLE public.orders ADD CONSTRAINT total_ok CHECK ((total >= (0)::numeric))', 'its definition');
SELECT pg_temp.reset();
ALTER TABLE orders DROP CONSTRAINT total_ok;
SELECT is(pg_temp.d(), ARRAY['constraint total_ok on public.orders removed'], 'constraint removed');
ALTER TABLE orders ADD CONSTRAINT total_ok CHECK (total > 0);
SELECT is(pg_temp.d(), ARRAY['constraint total_ok on public.orders changed'], 'constraint changed');
ALTER TABLE orders DROP CONSTRAINT total_ok, ADD CONSTRAINT total_ok CHECK (total >= 0) NOT VALID;
SELECT matches(pg_temp.actual('constraint', 'total_ok on public.orders'), 'NOT VALID$', 'NOT VALID is part of a constraint');
ALTER TABLE orders VALIDATE CONSTRAINT total_ok;
SELECT is(pg_temp.d(), '{}', 'validated, it matches the snapshot again');

-- index
CREATE INDEX orders_total_idx ON orders (total);
SELECT is(pg_temp.d(), ARRAY['index public.orders_total_idx added'], 'index added');
SELECT pg_temp.reset();
DROP INDEX orders_total_idx;
SELECT is(pg_temp.d(), ARRAY['index public.orders_total_idx removed'], 'index removed');
CREATE INDEX orders_total_idx ON orders (total DESC);
SELECT is(pg_temp.d(), ARRAY['index public.orders_total_idx changed'], 'index changed');
SELECT is(pg_temp.actual('index', 'public.orders_total_idx'),
          'CREATE INDEX orders_total_idx ON public.orders USING btree (total DESC)', 'pg_get_indexdef''s definition');
DROP INDEX orders_total_idx;
CREATE INDEX orders_total_idx ON orders (total);
SELECT is((SELECT count(*) FROM migrate_ops.snapshot_objects
            WHERE kind = 'index' AND identity = 'public.orders_pkey'), 0::bigint,
          'an index implementing a constraint counts as the constraint');

-- sequence
CREATE SEQUENCE seq1;
SELECT is(pg_temp.d(), ARRAY['privilege sequence public.seq1 added', 'sequence public.seq1 added'], 'sequence added');
SELECT pg_temp.reset();
ALTER SEQUENCE seq1 INCREMENT BY 5;
SELECT is(pg_temp.d(), ARRAY['sequence public.seq1 changed'], 'sequence changed');
ALTER SEQUENCE seq1 INCREMENT BY 1;
DROP SEQUENCE seq1;
SELECT is(pg_temp.d(), ARRAY['privilege sequence public.seq1 removed', 'sequence public.seq1 removed'], 'sequence removed');
CREATE SEQUENCE seq1;

-- view
CREATE VIEW v1 AS SELECT id FROM orders;
SELECT is(pg_temp.d(), ARRAY['privilege view public.v1 added', 'view public.v1 added'], 'view added');
SELECT pg_temp.reset();
CREATE OR REPLACE VIEW v1 AS SELECT id, total FROM orders;
SELECT is(pg_temp.d(), ARRAY['view public.v1 changed'], 'view changed');
DROP VIEW v1;
SELECT is(pg_temp.d(), ARRAY['privilege view public.v1 removed', 'view public.v1 removed'], 'view removed');
CREATE VIEW v1 AS SELECT id FROM orders;

-- materialized view
CREATE MATERIALIZED VIEW mv1 AS SELECT id FROM orders;
SELECT is(pg_temp.d(), ARRAY['materialized view public.mv1 added', 'privilege materialized view public.mv1 added'],
          'materialized view added');
SELECT pg_temp.reset();
DROP MATERIALIZED VIEW mv1;
CREATE MATERIALIZED VIEW mv1 AS SELECT id, total FROM orders;
SELECT is(pg_temp.d(), ARRAY['materialized view public.mv1 changed'], 'materialized view changed');
DROP MATERIALIZED VIEW mv1;
SELECT is(pg_temp.d(), ARRAY['materialized view public.mv1 removed', 'privilege materialized view public.mv1 removed'],
          'materialized view removed');
CREATE MATERIALIZED VIEW mv1 AS SELECT id FROM orders;

-- function, procedure, aggregate
CREATE FUNCTION f1(a int, b text DEFAULT 'x') RETURNS int LANGUAGE sql AS 'SELECT a';
SELECT is(pg_temp.d(), ARRAY['function public.f1(integer,pg_catalog.text) added',
                             'privilege function public.f1(integer,pg_catalog.text) added'], 'function added');
SELECT pg_temp.reset();
CREATE OR REPLACE FUNCTION f1(a int, b text DEFAULT 'x') RETURNS int LANGUAGE sql AS 'SELECT a + 1';
SELECT is(pg_temp.d(), ARRAY['function public.f1(integer,pg_catalog.text) changed'], 'function changed');
ALTER FUNCTION f1(int, text) SECURITY DEFINER;
SELECT matches(pg_temp.actual('function', 'public.f1(integer,pg_catalog.text)'), 'SECURITY DEFINER',
               'a function''s attributes are part of it');
DROP FUNCTION f1(int, text);
SELECT is(pg_temp.d(), ARRAY['function public.f1(integer,pg_catalog.text) removed',
                             'privilege function public.f1(integer,pg_catalog.text) removed'], 'function removed');
CREATE PROCEDURE p1(a int) LANGUAGE sql AS 'SELECT 1';
SELECT is(pg_temp.d(), ARRAY['function public.f1(integer,pg_catalog.text) removed',
                             'privilege function public.f1(integer,pg_catalog.text) removed',
                             'privilege procedure public.p1(integer) added',
                             'procedure public.p1(integer) added'], 'procedure added');
SELECT pg_temp.reset();
CREATE OR REPLACE PROCEDURE p1(a int) LANGUAGE sql AS 'SELECT 2';
SELECT is(pg_temp.d(), ARRAY['procedure public.p1(integer) changed'], 'procedure changed');
DROP PROCEDURE p1(int);
SELECT is(pg_temp.d(), ARRAY['privilege procedure public.p1(integer) removed', 'procedure public.p1(integer) removed'],
          'procedure removed');
CREATE AGGREGATE agg1(int) (SFUNC = int4pl, STYPE = int, INITCOND = '0');
SELECT is(pg_temp.d(), ARRAY['aggregate public.agg1(integer) added', 'privilege aggregate public.agg1(integer) added',
                             'privilege procedure public.p1(integer) removed', 'procedure public.p1(integer) removed'],
          'aggregate added');
SELECT is(pg_temp.actual('aggregate', 'public.agg1(integer)'),
          'CREATE AGGREGATE public.agg1(integer) (SFUNC = int4pl, STYPE = integer, INITCOND = ''0'')', 'its definition');
SELECT pg_temp.reset();
DROP AGGREGATE agg1(int);
CREATE AGGREGATE agg1(int) (SFUNC = int4pl, STYPE = int, INITCOND = '1');
SELECT is(pg_temp.d(), ARRAY['aggregate public.agg1(integer) changed'], 'aggregate changed');
DROP AGGREGATE agg1(int);
SELECT is(pg_temp.d(), ARRAY['aggregate public.agg1(integer) removed', 'privilege aggregate public.agg1(integer) removed'],
          'aggregate removed');
SELECT pg_temp.reset();

-- trigger
CREATE TRIGGER trg BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION trg_fn();
SELECT is(pg_temp.d(), ARRAY['trigger trg on public.orders added'], 'trigger added');
SELECT pg_temp.reset();
ALTER TABLE orders DISABLE TRIGGER trg;
SELECT is(pg_temp.d(), ARRAY['trigger trg on public.orders changed'], 'trigger changed (disabled)');
ALTER TABLE orders ENABLE TRIGGER trg;
DROP TRIGGER trg ON orders;
SELECT is(pg_temp.d(), ARRAY['trigger trg on public.orders removed'], 'trigger removed');
CREATE TRIGGER trg BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION trg_fn();

-- enum, domain, composite, range
CREATE TYPE mood AS ENUM ('sad', 'ok');
SELECT is(pg_temp.d(), ARRAY['enum public.mood added', 'privilege enum public.mood added'], 'enum added');
SELECT pg_temp.reset();
ALTER TYPE mood ADD VALUE 'happy';
SELECT is(pg_temp.d(), ARRAY['enum public.mood changed'], 'enum changed: a label added');
SELECT is(pg_temp.actual('enum', 'public.mood'), 'CREATE TYPE public.mood AS ENUM (''sad'', ''ok'', ''happy'')',
          'labels in order');
DROP TYPE mood;
SELECT is(pg_temp.d(), ARRAY['enum public.mood removed', 'privilege enum public.mood removed'], 'enum removed');
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
SELECT is(pg_temp.d(), ARRAY['constraint posint_check on public.posint added', 'domain public.posint added',
                             'privilege domain public.posint added'], 'domain added (with its constraint)');
SELECT pg_temp.reset();
ALTER DOMAIN posint SET DEFAULT 1;
SELECT is(pg_temp.d(), ARRAY['domain public.posint changed'], 'domain changed');
ALTER DOMAIN posint DROP DEFAULT;
ALTER DOMAIN posint ADD CONSTRAINT small CHECK (VALUE < 100);
SELECT is(pg_temp.d(), ARRAY['constraint small on public.posint added'], 'domain constraint added');
DROP DOMAIN posint;
SELECT is(pg_temp.d(), ARRAY['constraint posint_check on public.posint removed', 'domain public.posint removed',
                             'privilege domain public.posint removed'], 'domain removed');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE pair AS (x int, y text);
SELECT is(pg_temp.d(), ARRAY['composite type public.pair added', 'privilege composite type public.pair added'],
          'composite type added');
SELECT pg_temp.reset();
ALTER TYPE pair ADD ATTRIBUTE z int;
SELECT is(pg_temp.d(), ARRAY['composite type public.pair changed'], 'composite type changed');
DROP TYPE pair;
SELECT is(pg_temp.d(), ARRAY['composite type public.pair removed', 'privilege composite type public.pair removed'],
          'composite type removed');
CREATE TYPE pair AS (x int, y text);
CREATE TYPE floatrange AS RANGE (SUBTYPE = float8);
SELECT is(pg_temp.d(), ARRAY['privilege type public.floatrange added', 'type public.floatrange added'],
          'range type added (its constructors belong to it)');
SELECT pg_temp.reset();
DROP TYPE floatrange;
CREATE TYPE floatrange AS RANGE (SUBTYPE = float8, SUBTYPE_DIFF = float8mi);
SELECT is(pg_temp.d(), ARRAY['type public.floatrange changed'], 'range type changed');
DROP TYPE floatrange;
SELECT is(pg_temp.d(), ARRAY['privilege type public.floatrange removed', 'type public.floatrange removed'],
          'range type removed');
SELECT pg_temp.reset();

-- extension: its objects count as the extension (name + version)
CREATE EXTENSION hstore VERSION '1.7';
SELECT is(pg_temp.d(), ARRAY['extension hstore added'], 'extension added: one object, not its functions and types');
SELECT is(pg_temp.actual('extension', 'hstore'), 'CREATE EXTENSION hstore WITH SCHEMA public VERSION ''1.7''',
          'an extension is its name, schema and version');
SELECT pg_temp.reset();
SELECT is((SELECT count(*) FROM migrate_ops.snapshot_objects WHERE valid_to IS NULL AND identity LIKE '%hstore%'),
          1::bigint, 'no member of the extension is stored on its own');
ALTER EXTENSION hstore UPDATE TO '1.8';
SELECT is(pg_temp.d(), ARRAY['extension hstore changed'], 'extension changed (new version)');
DROP EXTENSION hstore;
SELECT is(pg_temp.d(), ARRAY['extension hstore removed'], 'extension removed');
SELECT is((SELECT count(*) FROM migrate_ops.snapshot_objects WHERE kind = 'extension' AND identity = 'pgtap'
              AND valid_to IS NULL), 1::bigint, 'pgtap itself counts as one extension');
SELECT pg_temp.reset();

-- policy
CREATE POLICY own ON orders USING (id > 0);
SELECT is(pg_temp.d(), ARRAY['policy own on public.orders added'], 'policy added');
SELECT is(pg_temp.actual('policy', 'own on public.orders'),
          'CREATE POLICY own ON public.orders AS PERMISSIVE FOR ALL TO PUBLIC USING ((id > 0))', 'its definition');
SELECT pg_temp.reset();
ALTER POLICY own ON orders TO tap_reader, tap_dba USING (id > 1);
SELECT is(pg_temp.actual('policy', 'own on public.orders'),
          'CREATE POLICY own ON public.orders AS PERMISSIVE FOR ALL TO tap_dba, tap_reader USING ((id > 1))',
          'policy changed (roles sorted)');
DROP POLICY own ON orders;
SELECT is(pg_temp.d(), ARRAY['policy own on public.orders removed'], 'policy removed');
SELECT pg_temp.reset();

-- event trigger
CREATE EVENT TRIGGER tap_evt ON ddl_command_end WHEN TAG IN ('DROP TABLE', 'CREATE TABLE') EXECUTE FUNCTION evt_fn();
SELECT is(pg_temp.d(), ARRAY['event trigger tap_evt added'], 'event trigger added');
SELECT is(pg_temp.actual('event trigger', 'tap_evt'),
          'CREATE EVENT TRIGGER tap_evt ON ddl_command_end WHEN TAG IN (''CREATE TABLE'', ''DROP TABLE'') EXECUTE FUNCTION public.evt_fn()',
          'its definition (tags sorted)');
SELECT pg_temp.reset();
ALTER EVENT TRIGGER tap_evt DISABLE;
SELECT is(pg_temp.d(), ARRAY['event trigger tap_evt changed'], 'event trigger changed (disabled)');
DROP EVENT TRIGGER tap_evt;
SELECT is(pg_temp.d(), ARRAY['event trigger tap_evt removed'], 'event trigger removed');
SELECT pg_temp.reset();

-- foreign table
CREATE FOREIGN TABLE ft1 (a int) SERVER tap_server OPTIONS (k 'v');
SELECT is(pg_temp.d(), ARRAY['column public.ft1.a added', 'foreign table public.ft1 added',
                             'privilege foreign table public.ft1 added'], 'foreign table added');
SELECT pg_temp.reset();
ALTER FOREIGN TABLE ft1 OPTIONS (SET k 'w');
SELECT is(pg_temp.d(), ARRAY['foreign table public.ft1 changed'], 'foreign table changed');
DROP FOREIGN TABLE ft1;
SELECT is(pg_temp.d(), ARRAY['column public.ft1.a removed', 'foreign table public.ft1 removed',
                             'privilege foreign table public.ft1 removed'], 'foreign table removed');
SELECT pg_temp.reset();

-- privileges
GRANT SELECT ON orders TO tap_reader;
SELECT is(pg_temp.d(), ARRAY['privilege table public.orders changed'], 'GRANT changes the table''s privileges');
SELECT matches(pg_temp.actual('privilege', 'table public.orders'), 'GRANT SELECT ON TABLE public.orders TO tap_reader',
               'the grant is in the definition');
REVOKE SELECT ON orders FROM tap_reader;
SELECT is(pg_temp.d(), '{}', 'REVOKE back to the default ACL is no drift');
GRANT UPDATE (note) ON orders TO tap_reader;
SELECT is(pg_temp.d(), ARRAY['privilege column public.orders.note added'], 'column privileges added');
SELECT pg_temp.reset();
REVOKE UPDATE (note) ON orders FROM tap_reader;
SELECT is(pg_temp.d(), ARRAY['privilege column public.orders.note removed'], 'column privileges removed');
ALTER TABLE orders OWNER TO tap_dba;
SELECT matches(pg_temp.actual('privilege', 'table public.orders'), '^ALTER TABLE public.orders OWNER TO tap_dba',
               'the owner is part of the privileges');
ALTER TABLE orders OWNER TO CURRENT_USER;
GRANT UPDATE (note) ON orders TO tap_reader;
SELECT is(pg_temp.d(), '{}', 'privileges back as in the snapshot');

-- comments
COMMENT ON TABLE orders IS 'what customers bought';
SELECT is(pg_temp.d(), ARRAY['comment table public.orders added'], 'comment added');
SELECT pg_temp.reset();
COMMENT ON TABLE orders IS 'what customers ordered';
SELECT is(pg_temp.d(), ARRAY['comment table public.orders changed'], 'comment changed');
COMMENT ON TABLE orders IS NULL;
SELECT is(pg_temp.d(), ARRAY['comment table public.orders removed'], 'comment removed');
COMMENT ON TABLE orders IS 'what customers bought';
COMMENT ON COLUMN orders.note IS 'free text';
COMMENT ON CONSTRAINT orders_pkey ON orders IS 'pk';
COMMENT ON FUNCTION trg_fn() IS 'fn';
COMMENT ON TRIGGER trg ON orders IS 'tr';
COMMENT ON INDEX orders_total_idx IS 'ix';
COMMENT ON SCHEMA tap_s IS 'sc';
COMMENT ON TYPE mood IS 'ty';
COMMENT ON DOMAIN posint IS 'do';
SELECT is(pg_temp.d(), ARRAY['comment column public.orders.note added', 'comment constraint orders_pkey on public.orders added',
                             'comment domain public.posint added', 'comment enum public.mood added',
                             'comment function public.trg_fn() added', 'comment index public.orders_total_idx added',
                             'comment schema tap_s added', 'comment trigger trg on public.orders added'],
          'comments on every kind of object');
SELECT pg_temp.reset();

-- ---------------------------------------------------------------- identities are PostgreSQL's own
SELECT is(array_agg(o.identity ORDER BY o.identity), NULL,
          'every tracked relation, constraint, trigger, policy, routine and type has PostgreSQL''s object identity')
  FROM (SELECT (pg_identify_object(classid, objid, 0)).identity
          FROM (SELECT 'pg_class'::regclass AS classid, c.oid AS objid FROM pg_class c
                 WHERE c.relnamespace IN ('public'::regnamespace, 'tap_s'::regnamespace)
                   AND c.relkind IN ('r', 'v', 'm', 'S', 'f', 'p')
                UNION ALL SELECT 'pg_constraint'::regclass, oid FROM pg_constraint WHERE connamespace = 'public'::regnamespace
                UNION ALL SELECT 'pg_trigger'::regclass, t.oid FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                 WHERE NOT t.tgisinternal AND c.relnamespace IN ('public'::regnamespace, 'tap_s'::regnamespace)
                UNION ALL SELECT 'pg_proc'::regclass, p.oid FROM pg_proc p WHERE pronamespace = 'public'::regnamespace
                   AND NOT EXISTS (SELECT FROM pg_depend WHERE objid = p.oid AND deptype = 'e')
                UNION ALL SELECT 'pg_type'::regclass, t.oid FROM pg_type t WHERE typnamespace = 'public'::regnamespace
                   AND typtype IN ('e', 'd')) x
         WHERE NOT EXISTS (SELECT FROM pg_depend WHERE classid = x.classid AND objid = x.objid AND deptype = 'e')) o
 WHERE o.identity NOT IN (SELECT identity FROM migrate_ops.snapshot_objects WHERE valid_to IS NULL);
SELECT is(array_agg(c.identity), NULL, 'and every tracked column has it too')
  FROM (SELECT (pg_identify_object('pg_class'::regclass, attrelid, attnum)).identity
          FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attnum > 0 AND NOT attisdropped) c
 WHERE c.identity NOT IN (SELECT identity FROM migrate_ops.snapshot_objects WHERE kind = 'column');

-- ---------------------------------------------------------------- hostile identifiers
CREATE SCHEMA "We""ird Schema";
CREATE TABLE "We""ird Schema"."Ünïcødé Table" ("Col ""1""" int, "new
line" text, "UPPER" int CONSTRAINT "Chk ""x""" CHECK ("UPPER" > 0));
CREATE INDEX "Idx ë" ON "We""ird Schema"."Ünïcødé Table" ("UPPER");
SELECT is(pg_temp.d(), ARRAY[
    'column "We""ird Schema"."Ünïcødé Table"."Col ""1""" added',
    'column "We""ird Schema"."Ünïcødé Table"."UPPER" added',
    E'column "We""ird Schema"."Ünïcødé Table"."new\nline" added',
    'constraint "Chk ""x""" on "We""ird Schema"."Ünïcødé Table" added',
    'index "We""ird Schema"."Idx ë" added',
    'privilege schema "We""ird Schema" added',
    'privilege table "We""ird Schema"."Ünïcødé Table" added',
    'schema "We""ird Schema" added',
    'table "We""ird Schema"."Ünïcødé Table" added'],
    'quotes, spaces, upper case, non-ASCII and newlines are quoted as PostgreSQL quotes them');
SELECT is((SELECT identity FROM migrate_ops.drift() WHERE kind = 'table'),
          (pg_identify_object('pg_class'::regclass, '"We""ird Schema"."Ünïcødé Table"'::regclass, 0)).identity,
          'the same identity as pg_identify_object');
SELECT pg_temp.reset();
ALTER TABLE "We""ird Schema"."Ünïcødé Table" ALTER COLUMN "new
line" SET DEFAULT E'a\nb';
SELECT is(pg_temp.d(), ARRAY[E'column "We""ird Schema"."Ünïcødé Table"."new\nline" changed'],
          'a change to a column named with a newline is found');
SELECT pg_temp.reset();

-- ---------------------------------------------------------------- column order and dropped columns
ALTER TABLE orders DROP COLUMN note;
ALTER TABLE orders ADD COLUMN note text;
COMMENT ON COLUMN orders.note IS 'free text';
GRANT UPDATE (note) ON orders TO tap_reader;
SELECT is(pg_temp.d(), '{}', 'a column dropped and added again (new position) is no drift: column order is not tracked');

-- ---------------------------------------------------------------- no false drift
INSERT INTO orders (id, total) SELECT g, g FROM generate_series(1, 50) g;
UPDATE orders SET total = total + 1;
DELETE FROM orders WHERE id > 40;
ANALYZE orders;
REINDEX TABLE orders;
CLUSTER orders USING orders_pkey;
REFRESH MATERIALIZED VIEW mv1;
SELECT nextval('seq1'), nextval('seq1'), setval('seq1', 100);
SELECT is(pg_temp.d(), '{}', 'DML, ANALYZE, REINDEX, CLUSTER, REFRESH MATERIALIZED VIEW and nextval are no drift');
SELECT is(migrate_ops.fingerprint(), (SELECT fingerprint FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1),
          'and leave the fingerprint as it was');
SET search_path = tap_s, public;
SET quote_all_identifiers = on;
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'America/New_York';
SET extra_float_digits = 0;
SELECT is(migrate_ops.fingerprint(), (SELECT fingerprint FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1),
          'session settings (search_path, quote_all_identifiers, DateStyle, TimeZone) do not change the fingerprint');
RESET search_path; RESET quote_all_identifiers; RESET DateStyle; RESET TimeZone; RESET extra_float_digits;

-- ---------------------------------------------------------------- schemas
CREATE SCHEMA tap_a;
CREATE SCHEMA tap_b;
CREATE TABLE tap_a.x (i int);
CREATE TABLE tap_b.x (i int);
SELECT isnt(migrate_ops.fingerprint(ARRAY['tap_a']), migrate_ops.fingerprint(ARRAY['tap_b']),
            'same tables in two schemas: different fingerprints');
SELECT is(migrate_ops.fingerprint(ARRAY['tap_a', 'tap_a']), migrate_ops.fingerprint(ARRAY['tap_a']),
          'a schema listed twice counts once');
CREATE TEMP TABLE fp AS SELECT migrate_ops.fingerprint(ARRAY['tap_a']) AS a, migrate_ops.fingerprint() AS all_;
ALTER TABLE tap_b.x ADD COLUMN j int;
SELECT is(migrate_ops.fingerprint(ARRAY['tap_a']), (SELECT a FROM fp), 'a change in tap_b leaves tap_a''s fingerprint alone');
SELECT isnt(migrate_ops.fingerprint(), (SELECT all_ FROM fp), 'but changes the whole fingerprint');
SELECT throws_ok($$SELECT migrate_ops.fingerprint(ARRAY['no_such_schema'])$$, '3F000',
                 'schema "no_such_schema" does not exist', 'unknown schema: 3F000');
SELECT throws_ok($$SELECT migrate_ops.fingerprint(ARRAY['migrate_ops'])$$, '22023',
                 'schema "migrate_ops" is never tracked', 'migrate_ops: 22023');
SELECT throws_ok($$SELECT migrate_ops.fingerprint(ARRAY['pg_catalog'])$$, '22023', NULL, 'pg_catalog: 22023');
SELECT throws_ok($$SELECT migrate_ops.fingerprint(ARRAY[]::text[])$$, '22023', 'schemas must not be empty', 'empty list: 22023');
SELECT throws_ok($$SELECT migrate_ops.fingerprint(ARRAY['tap_a', NULL])$$, '22004', NULL, 'NULL in the list: 22004');
DROP TABLE tap_a.x, tap_b.x;
DROP SCHEMA tap_a, tap_b;

-- ---------------------------------------------------------------- ignore patterns
CREATE TABLE events_p1 (i int);
CREATE TABLE events_p2 (i int);
CREATE INDEX ON events_p1 (i);
CREATE TABLE keep_me (i int);
INSERT INTO migrate_ops.drift_ignore (kind, pattern, reason) VALUES ('table', '^public\.events_p\d+$', 'pg_partman');
SELECT is(pg_temp.d(), ARRAY['column public.keep_me.i added', 'privilege table public.keep_me added', 'table public.keep_me added'],
          'an ignored table is left out with its columns, indexes and privileges');
INSERT INTO migrate_ops.drift_ignore (kind, pattern) VALUES (NULL, 'keep_me');
SELECT is(pg_temp.d(), '{}', 'a pattern without a kind matches every kind');
CREATE TEMP TABLE fp2 AS SELECT migrate_ops.fingerprint() AS f;
DROP TABLE events_p2;
ALTER TABLE keep_me ADD COLUMN j int;
SELECT is(migrate_ops.fingerprint(), (SELECT f FROM fp2), 'ignored objects are left out of the fingerprint');
DELETE FROM migrate_ops.drift_ignore;
SELECT is(pg_temp.d(), ARRAY['column public.events_p1.i added', 'column public.keep_me.i added', 'column public.keep_me.j added',
                             'index public.events_p1_i_idx added', 'privilege table public.events_p1 added',
                             'privilege table public.keep_me added', 'table public.events_p1 added', 'table public.keep_me added'],
          'without the patterns they are drift again');
INSERT INTO migrate_ops.drift_ignore (kind, pattern) VALUES ('column', '\.j$'), ('index', 'events');
SELECT is(pg_temp.d(), ARRAY['column public.events_p1.i added', 'column public.keep_me.i added',
                             'privilege table public.events_p1 added', 'privilege table public.keep_me added',
                             'table public.events_p1 added', 'table public.keep_me added'],
          'a pattern for one kind leaves other kinds alone');
SELECT throws_ok($$INSERT INTO migrate_ops.drift_ignore (kind, pattern) VALUES ('table', '(')$$, '2201B', NULL,
                 'an invalid regular expression is refused (2201B)');
SELECT throws_ok($$INSERT INTO migrate_ops.drift_ignore (kind, pattern) VALUES ('tables', 'x')$$, '23514', NULL,
                 'an unknown kind is refused (23514)');
DELETE FROM migrate_ops.drift_ignore;
DROP TABLE events_p1, keep_me;
SELECT is(pg_temp.d(), '{}', 'back to the snapshot');

-- ---------------------------------------------------------------- the switches
SET migrate_ops.track_privileges = off;
GRANT SELECT ON orders TO tap_dba;
SELECT is(pg_temp.d(), '{}', 'track_privileges = off: grants are no drift');
SELECT is((SELECT count(*) FROM migrate_ops.drift() WHERE kind = 'privilege'), 0::bigint, 'and no privilege is compared');
RESET migrate_ops.track_privileges;
SELECT is(pg_temp.d(), ARRAY['privilege table public.orders changed'], 'track_privileges = on: the grant is drift');
REVOKE SELECT ON orders FROM tap_dba;
SET migrate_ops.track_comments = off;
COMMENT ON TABLE orders IS 'silent';
SELECT is(pg_temp.d(), '{}', 'track_comments = off: comments are no drift');
SELECT isnt(migrate_ops.fingerprint(), (SELECT fingerprint FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1),
            'and the fingerprint leaves comments out');
RESET migrate_ops.track_comments;
COMMENT ON TABLE orders IS 'what customers bought';
SELECT is(pg_temp.d(), '{}', 'comment restored');

-- ---------------------------------------------------------------- errors
SELECT throws_ok('SELECT * FROM migrate_ops.drift(999999)', '42704', 'snapshot 999999 does not exist',
                 'drift(unknown id): 42704');
SELECT throws_ok('SELECT * FROM migrate_ops.drift(-1)', '42704', NULL, 'drift(-1): 42704');
SELECT throws_ok('SELECT migrate_ops.drift_sql(999999)', '42704', NULL, 'drift_sql(unknown id): 42704');
SELECT throws_ok('SELECT migrate_ops.accept_drift(NULL)', '22004', 'reason must not be null', 'accept_drift(NULL): 22004');
SELECT throws_ok($$SELECT migrate_ops.accept_drift('')$$, '22023', 'reason must not be empty', 'accept_drift(''''): 22023');
SELECT throws_ok($$SELECT migrate_ops.snapshot(repeat('x', 10001))$$, '22023', 'label is too long', 'a 10 kB label: 22023');
SELECT is((SELECT count(*) FROM migrate_ops.snapshots WHERE label IS DISTINCT FROM 'tap'), 1::bigint,
          'the errors stored no snapshot');

-- ---------------------------------------------------------------- older snapshots
CREATE TEMP TABLE snap AS SELECT max(id) AS id FROM migrate_ops.snapshots;
CREATE TABLE later (i int);
SELECT pg_temp.reset();
DROP TABLE later;
SELECT is(pg_temp.d(), ARRAY['column public.later.i removed', 'privilege table public.later removed', 'table public.later removed'],
          'against the latest snapshot the table is missing');
SELECT is((SELECT count(*) FROM migrate_ops.drift((SELECT id FROM snap))), 0::bigint,
          'against the older snapshot there is no drift');
CREATE TABLE later (i int);
SELECT is((SELECT count(*) FROM migrate_ops.snapshot_objects WHERE identity = 'public.later' AND kind = 'table'),
          1::bigint, 'an unchanged object is stored once across snapshots');

-- ---------------------------------------------------------------- scans and events
SELECT pg_temp.reset();
DELETE FROM migrate_ops.events;
SELECT migrate_ops.scan();
SELECT is((SELECT status FROM migrate_ops.scans ORDER BY id DESC LIMIT 1), 'clean', 'scan with no drift: clean');
SELECT is((SELECT count(*) FROM migrate_ops.events), 0::bigint, 'no event for a clean scan after a clean one');
CREATE INDEX later_i ON later (i);
SELECT migrate_ops.scan();
SELECT is((SELECT status || ' ' || added || ' ' || (objects->0->>'identity') FROM migrate_ops.scans ORDER BY id DESC LIMIT 1),
          'drift 1 public.later_i', 'scan with drift: drift, counted and listed');
SELECT is((SELECT payload->>'count' || ' ' || (payload->'by_kind'->>'index') || ' ' || (payload->'objects'->0->>'identity')
             FROM migrate_ops.events WHERE event = 'drift.detected'), '1 1 public.later_i',
          'drift.detected with a summary');
SELECT migrate_ops.scan();
SELECT is((SELECT count(*) FROM migrate_ops.events), 1::bigint, 'the same drift again: no second event');
CREATE INDEX later_i2 ON later (i);
SELECT migrate_ops.scan();
SELECT is((SELECT count(*) FROM migrate_ops.events WHERE event = 'drift.detected'), 2::bigint,
          'more drift: drift.detected again');
DROP INDEX later_i, later_i2;
SELECT migrate_ops.scan();
SELECT is((SELECT event FROM migrate_ops.scans ORDER BY id DESC LIMIT 1), 'drift.resolved', 'drift gone: drift.resolved');
SELECT is((SELECT payload->>'previous_scan_id' IS NOT NULL FROM migrate_ops.events WHERE event = 'drift.resolved'), true,
          'drift.resolved names the previous scan');
SELECT migrate_ops.scan();
SELECT is((SELECT count(*) FROM migrate_ops.events), 3::bigint, 'clean again: nothing more');

-- accept_drift
CREATE INDEX later_i ON later (i);
CREATE TEMP TABLE accepted AS SELECT migrate_ops.accept_drift('hotfix 123 applied by hand') AS id;
SELECT is((SELECT id FROM accepted), (SELECT max(id) FROM migrate_ops.snapshots), 'accept_drift() returns the new snapshot');
SELECT is(pg_temp.d(), '{}', 'after accept_drift there is no drift');
SELECT is((SELECT source || ' ' || reason || ' ' || taken_by FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1),
          'accept_drift hotfix 123 applied by hand ' || current_user, 'recorded with why and who');
SELECT is((SELECT payload->>'reason' || ' ' || (payload->>'accepted_by') || ' ' || (payload->>'added')
             FROM migrate_ops.events WHERE event = 'drift.accepted'),
          'hotfix 123 applied by hand ' || current_user || ' 1', 'drift.accepted says what, why and who');
SELECT migrate_ops.scan();
SELECT is((SELECT count(*) FROM migrate_ops.events WHERE event = 'drift.resolved'), 1::bigint,
          'the scan after accept_drift emits no drift.resolved');
SELECT is(migrate_ops.accept_drift('nothing'), (SELECT max(id) FROM migrate_ops.snapshots),
          'accept_drift() with no drift returns the current snapshot');
SELECT is((SELECT count(*) FROM migrate_ops.events WHERE event = 'drift.accepted'), 1::bigint,
          'and records nothing');

-- ---------------------------------------------------------------- privileges
GRANT EXECUTE ON FUNCTION migrate_ops.fingerprint(text[]), migrate_ops.drift(bigint),
                          migrate_ops.drift_sql(bigint) TO tap_reader;
GRANT EXECUTE ON FUNCTION migrate_ops.snapshot(text), migrate_ops.accept_drift(text), migrate_ops.scan(),
                          migrate_ops.fingerprint(text[]), migrate_ops.drift(bigint) TO tap_dba;
CREATE TEMP TABLE fp3 AS SELECT migrate_ops.fingerprint() AS f;
GRANT SELECT ON fp3 TO tap_reader;
SET ROLE tap_reader;
SELECT lives_ok('SELECT * FROM migrate_ops.drift()', 'a reading role with EXECUTE runs drift()');
SELECT lives_ok('SELECT migrate_ops.drift_sql()', 'and drift_sql()');
SELECT is(migrate_ops.fingerprint(), (SELECT f FROM fp3), 'and sees the same fingerprint as a superuser');
SELECT throws_ok('SELECT migrate_ops.snapshot()', '42501', NULL, 'but may not take snapshots');
SELECT throws_ok('SELECT * FROM migrate_ops.snapshot_objects', '42501', NULL, 'nor read the tables directly');
RESET ROLE;
SET ROLE tap_dba;
SELECT lives_ok('SELECT migrate_ops.snapshot(''by dba'')', 'a DBA role with EXECUTE takes snapshots');
SELECT lives_ok('SELECT migrate_ops.scan()', 'and scans');
SELECT throws_ok($$INSERT INTO migrate_ops.snapshots (fingerprint, object_count, track_privileges, track_comments, taken_by)
                   VALUES ('x', 0, true, true, 'x')$$, '42501', NULL, 'but never writes the tables directly');
SELECT throws_ok($$INSERT INTO migrate_ops.drift_ignore (pattern) VALUES ('x')$$, '42501', NULL,
                 'nor drift_ignore without a grant');
RESET ROLE;
SELECT is((SELECT taken_by FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1), 'tap_dba', 'the snapshot records who took it');
SELECT throws_ok($$SET ROLE tap_dba; SET migrate_ops.track_privileges = off$$, '42501', NULL,
                 'only a superuser turns tracking off');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
