-- drift_sql(): for every kind it can restore, running the script it writes
-- brings the catalog back to the snapshot's fingerprint; what it cannot
-- restore (a dropped table or column) is a "-- cannot restore" comment.
BEGIN;
SELECT plan(31);

-- Runs drift_sql() and checks the catalog is back at the latest snapshot.
CREATE FUNCTION pg_temp.roundtrip(descr text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    script text := migrate_ops.drift_sql();
BEGIN
    EXECUTE script;
    RETURN NEXT is(migrate_ops.fingerprint(),
                   (SELECT fingerprint FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1), descr);
    IF migrate_ops.fingerprint() <> (SELECT fingerprint FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1) THEN
        RETURN NEXT diag(script);
        RETURN NEXT diag((SELECT string_agg(kind || ' ' || identity || ' ' || change, E'\n') FROM migrate_ops.drift()));
    END IF;
END $$;
\ir lib/drift_helpers.psql

-- ---------------------------------------------------------------- the baseline: one of everything
CREATE ROLE tap_sql_reader NOLOGIN;
CREATE ROLE tap_sql_owner NOLOGIN;
CREATE SCHEMA app;
CREATE SCHEMA spare;
CREATE EXTENSION citext;
CREATE TYPE app.status AS ENUM ('new', 'paid', 'shipped');
CREATE DOMAIN app.qty AS int NOT NULL DEFAULT 1 CONSTRAINT qty_positive CHECK (VALUE > 0);
CREATE TYPE app.pair AS (x int, y text);
CREATE TYPE app.floatrange2 AS RANGE (SUBTYPE = float8);
CREATE SEQUENCE app.ticket_seq INCREMENT BY 10 START 100;
CREATE TABLE app.customers (id bigint PRIMARY KEY, email text UNIQUE, name text NOT NULL);
CREATE TABLE app.orders (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES app.customers (id) ON DELETE CASCADE,
    status app.status NOT NULL DEFAULT 'new',
    qty app.qty,
    total numeric(10,2) NOT NULL DEFAULT 0,
    note text,
    ticket int DEFAULT nextval('app.ticket_seq'),
    CONSTRAINT total_ok CHECK (total >= 0));
CREATE INDEX orders_customer_idx ON app.orders (customer_id);
CREATE INDEX orders_note_idx ON app.orders (lower(note)) WHERE note IS NOT NULL;
CREATE TABLE app.events (id int, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE app.events_2025 PARTITION OF app.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE INDEX events_at_idx ON app.events (at);
CREATE FUNCTION app.order_total(o app.orders) RETURNS numeric LANGUAGE sql STABLE AS 'SELECT o.total * o.qty';
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := coalesce(NEW.note, ''); RETURN NEW; END $$;
CREATE PROCEDURE app.archive(days int) LANGUAGE sql AS 'SELECT 1';
CREATE AGGREGATE app.total_sum(numeric) (SFUNC = numeric_add, STYPE = numeric, INITCOND = '0');
CREATE TRIGGER orders_touch BEFORE INSERT ON app.orders FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE VIEW app.open_orders AS SELECT id, customer_id, total FROM app.orders WHERE status <> 'shipped';
CREATE VIEW app.big_open_orders AS SELECT id FROM app.open_orders WHERE total > 100;
CREATE MATERIALIZED VIEW app.daily AS SELECT customer_id, sum(total) AS total FROM app.orders GROUP BY customer_id;
CREATE UNIQUE INDEX daily_customer_idx ON app.daily (customer_id);
ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_orders ON app.orders FOR SELECT TO tap_sql_reader USING (customer_id > 0);
CREATE FUNCTION app.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
CREATE EVENT TRIGGER tap_sql_evt ON ddl_command_end EXECUTE FUNCTION app.on_ddl();
COMMENT ON TABLE app.orders IS 'orders';
COMMENT ON COLUMN app.orders.note IS 'free text';
COMMENT ON VIEW app.open_orders IS 'not shipped yet';
GRANT USAGE ON SCHEMA app TO tap_sql_reader;
GRANT SELECT ON app.open_orders, app.orders TO tap_sql_reader;
GRANT UPDATE (note) ON app.orders TO tap_sql_reader;
REVOKE EXECUTE ON FUNCTION app.order_total(app.orders) FROM PUBLIC;
CREATE SCHEMA "Wëird ""one""";
CREATE TABLE "Wëird ""one"""."Ta ble" ("Col
1" int DEFAULT 7, "UP" text);
CREATE INDEX "Ïdx ""q""" ON "Wëird ""one"""."Ta ble" ("UP");
SELECT migrate_ops.snapshot('baseline');

SELECT is(migrate_ops.drift_sql(), (SELECT '-- migrate_ops drift_sql: bring database ' || quote_ident(current_database())
            || ' back to snapshot ' || id || ' (baseline), taken ' || to_char(taken_at, 'YYYY-MM-DD HH24:MI:SS TZ') || E'.\n'
            || '-- Expected fingerprint ' || fingerprint || ', actual ' || fingerprint || E'.\n'
            || E'-- No drift: nothing to do.\n' FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1),
          'no drift: a script that says so and does nothing');

-- ---------------------------------------------------------------- schemas and extensions
CREATE SCHEMA newer;
DROP SCHEMA spare;
DROP EXTENSION citext;
CREATE EXTENSION isn;
SELECT is(pg_temp.d(), ARRAY['extension citext removed', 'extension isn added', 'privilege schema newer added',
                             'privilege schema spare removed', 'schema newer added', 'schema spare removed'],
          'schemas and extensions differ');
SELECT matches(migrate_ops.drift_sql(), 'CREATE EXTENSION citext WITH SCHEMA public VERSION ''[0-9.]+'';',
               'a removed extension is created again at its version');
SELECT * FROM pg_temp.roundtrip('schemas and extensions: back to the snapshot');

-- ---------------------------------------------------------------- types
DROP TYPE app.pair;
CREATE TYPE app.extra AS (a int);
ALTER DOMAIN app.qty DROP DEFAULT;
ALTER DOMAIN app.qty DROP NOT NULL;
ALTER DOMAIN app.qty DROP CONSTRAINT qty_positive;
ALTER DOMAIN app.qty ADD CONSTRAINT qty_small CHECK (VALUE < 1000);
DROP TYPE app.floatrange2;
CREATE TYPE app.floatrange2 AS RANGE (SUBTYPE = float8, SUBTYPE_DIFF = float8mi);
SELECT * FROM pg_temp.roundtrip('composite, domain (default, NOT NULL, constraints) and range types');
CREATE TYPE app.status2 AS ENUM ('new', 'shipped');
SELECT migrate_ops.snapshot('with status2');
DROP TYPE app.status2;
CREATE TYPE app.status2 AS ENUM ('shipped');
SELECT matches(migrate_ops.drift_sql(), $re$ALTER TYPE app\.status2 ADD VALUE 'new' BEFORE 'shipped'$re$,
               'a missing enum label is added back in place');
SELECT * FROM pg_temp.roundtrip('enum with a label missing');
ALTER TYPE app.status2 ADD VALUE 'lost';
SELECT matches(migrate_ops.drift_sql(), $re$-- enum app\.status2: cannot restore: label 'lost' was added$re$,
               'an added enum label cannot be removed: a comment says so');
DROP TYPE app.status2;
SELECT * FROM pg_temp.roundtrip('enum removed: created again');

-- ---------------------------------------------------------------- routines and sequences
CREATE OR REPLACE FUNCTION app.order_total(o app.orders) RETURNS numeric LANGUAGE sql STABLE AS 'SELECT o.total';
DROP PROCEDURE app.archive(int);
CREATE FUNCTION app.extra_fn() RETURNS int LANGUAGE sql AS 'SELECT 1';
DROP AGGREGATE app.total_sum(numeric);
CREATE AGGREGATE app.total_sum(numeric) (SFUNC = numeric_add, STYPE = numeric, INITCOND = '1');
GRANT EXECUTE ON FUNCTION app.order_total(app.orders) TO PUBLIC;
ALTER SEQUENCE app.ticket_seq INCREMENT BY 1 NO MINVALUE;
CREATE SEQUENCE app.extra_seq;
SELECT * FROM pg_temp.roundtrip('functions, procedures, aggregates, their privileges, sequences');
DROP SEQUENCE app.ticket_seq CASCADE;
SELECT * FROM pg_temp.roundtrip('a dropped sequence (and the column default that used it)');

-- ---------------------------------------------------------------- tables and columns
ALTER TABLE app.orders SET (fillfactor = 50, autovacuum_enabled = false);
ALTER TABLE app.orders DISABLE ROW LEVEL SECURITY;
ALTER TABLE app.orders FORCE ROW LEVEL SECURITY;
ALTER TABLE app.customers REPLICA IDENTITY FULL;
ALTER TABLE app.events DETACH PARTITION app.events_2025;
SELECT * FROM pg_temp.roundtrip('table properties: reloptions, RLS, replica identity, partition attached again');
ALTER TABLE app.events_2025 SET UNLOGGED;
SELECT * FROM pg_temp.roundtrip('persistence');
ALTER TABLE app.orders ALTER COLUMN total SET DEFAULT 5;
ALTER TABLE app.orders ALTER COLUMN note SET NOT NULL;
ALTER TABLE app.orders ALTER COLUMN status DROP DEFAULT;
ALTER TABLE app.customers ALTER COLUMN name TYPE varchar(100);
ALTER TABLE app.customers ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY;
ALTER TABLE app.orders ADD COLUMN extra int;
SELECT matches(migrate_ops.drift_sql(), E'-- review: changing the type back rewrites the table',
               'a type change back is flagged for review');
SELECT * FROM pg_temp.roundtrip('columns: default, NOT NULL, type, identity; an added column dropped');

-- ---------------------------------------------------------------- constraints and indexes
ALTER TABLE app.orders DROP CONSTRAINT total_ok;
ALTER TABLE app.orders ADD CONSTRAINT note_len CHECK (length(note) < 100);
ALTER TABLE app.orders DROP CONSTRAINT orders_customer_id_fkey;
ALTER TABLE app.orders ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES app.customers (id);
DROP INDEX app.orders_customer_idx;
DROP INDEX app.orders_note_idx;
CREATE INDEX orders_note_idx ON app.orders (note);
CREATE INDEX orders_extra_idx ON app.orders (total, status);
DROP INDEX app.events_at_idx;
SELECT * FROM pg_temp.roundtrip('constraints (CHECK, FOREIGN KEY) and indexes (expression, partial, partitioned)');
ALTER TABLE app.orders DROP CONSTRAINT orders_customer_id_fkey;
ALTER TABLE app.customers DROP CONSTRAINT customers_pkey;
SELECT * FROM pg_temp.roundtrip('a primary key and the foreign key that needs it come back in order');

-- ---------------------------------------------------------------- views, triggers, policies, event triggers
CREATE OR REPLACE VIEW app.open_orders AS SELECT id, customer_id, total, 1 AS extra FROM app.orders WHERE status <> 'shipped';
SELECT * FROM pg_temp.roundtrip('a changed view is created again with its grants and comment');
DROP VIEW app.big_open_orders;
DROP VIEW app.open_orders;
CREATE VIEW app.new_view AS SELECT 1 AS one;
SELECT * FROM pg_temp.roundtrip('removed views come back in dependency order; an added one goes');
DROP MATERIALIZED VIEW app.daily;
CREATE MATERIALIZED VIEW app.daily AS SELECT customer_id, count(*) AS n FROM app.orders GROUP BY customer_id;
SELECT * FROM pg_temp.roundtrip('a changed materialized view comes back with its index');
ALTER TABLE app.orders DISABLE TRIGGER orders_touch;
CREATE TRIGGER orders_touch2 BEFORE UPDATE ON app.orders FOR EACH ROW EXECUTE FUNCTION app.touch();
DROP POLICY own_orders ON app.orders;
CREATE POLICY other ON app.orders USING (true);
ALTER EVENT TRIGGER tap_sql_evt DISABLE;
SELECT * FROM pg_temp.roundtrip('triggers, policies and event triggers');
DROP EVENT TRIGGER tap_sql_evt;
DROP TRIGGER orders_touch ON app.orders;
ALTER POLICY own_orders ON app.orders USING (customer_id > 5);
SELECT * FROM pg_temp.roundtrip('removed triggers and event triggers, a changed policy');

-- ---------------------------------------------------------------- comments and privileges
COMMENT ON TABLE app.orders IS 'changed';
COMMENT ON COLUMN app.orders.note IS NULL;
COMMENT ON INDEX app.orders_customer_idx IS 'added';
SELECT * FROM pg_temp.roundtrip('comments added, removed and changed');
REVOKE SELECT ON app.orders FROM tap_sql_reader;
GRANT INSERT, DELETE ON app.orders TO tap_sql_reader WITH GRANT OPTION;
REVOKE UPDATE (note) ON app.orders FROM tap_sql_reader;
GRANT SELECT (total) ON app.orders TO tap_sql_reader;
ALTER TABLE app.customers OWNER TO tap_sql_owner;
REVOKE USAGE ON SCHEMA app FROM tap_sql_reader;
SELECT * FROM pg_temp.roundtrip('grants, column grants, owners, schema privileges');

-- ---------------------------------------------------------------- hostile identifiers
DROP INDEX "Wëird ""one"""."Ïdx ""q""";
ALTER TABLE "Wëird ""one"""."Ta ble" ALTER COLUMN "Col
1" SET DEFAULT 8;
COMMENT ON TABLE "Wëird ""one"""."Ta ble" IS E'it''s\nmulti-line';
CREATE INDEX "new
index" ON "Wëird ""one"""."Ta ble" ("UP");
SELECT * FROM pg_temp.roundtrip('quotes, spaces, non-ASCII and newlines in names are quoted right');

-- ---------------------------------------------------------------- what cannot be restored
CREATE TABLE app.victim (i int);
ALTER TABLE app.orders ADD COLUMN sneaky text DEFAULT E'x\rDROP TABLE app.victim; --\nDROP TABLE app.victim;';
CREATE TABLE app.doomed (id int PRIMARY KEY, v text);
COMMENT ON TABLE app.doomed IS 'soon gone';
CREATE INDEX doomed_v ON app.doomed (v);
SELECT migrate_ops.snapshot('with doomed');
DROP TABLE app.doomed;
ALTER TABLE app.orders DROP COLUMN note;
ALTER TABLE app.orders DROP COLUMN sneaky;
CREATE TEMP TABLE script AS SELECT migrate_ops.drift_sql() AS s;
SELECT matches((SELECT s FROM script), E'-- table app\\.doomed: cannot restore: it was dropped and its data with it; restore it from a backup\n-- it was: CREATE TABLE app\\.doomed \\(\\.\\.\\.\\)',
               'a dropped table is a cannot-restore comment with its definition');
SELECT matches((SELECT s FROM script), E'-- column app\\.orders\\.note: cannot restore: it was dropped and its data with it',
               'so is a dropped column');
SELECT unalike((SELECT s FROM script), '%doomed_v%', 'nothing is re-created on a table that is gone');
DO $$ BEGIN EXECUTE (SELECT s FROM script); END $$;
SELECT has_table('app', 'victim', 'a definition with a carriage return or a newline stays inside its comment');
SELECT matches((SELECT s FROM script), E'-- index app\\.orders_note_idx: cannot restore: it uses column app\\.orders\\.note, which was dropped',
               'an index on a dropped column cannot come back either');
SELECT is(pg_temp.d(), ARRAY['column app.doomed.id removed', 'column app.doomed.v removed', 'column app.orders.note removed',
                             'column app.orders.sneaky removed',
                             'comment column app.orders.note removed', 'comment table app.doomed removed',
                             'constraint doomed_pkey on app.doomed removed', 'index app.doomed_v removed',
                             'index app.orders_note_idx removed', 'privilege column app.orders.note removed',
                             'privilege table app.doomed removed', 'table app.doomed removed'],
          'after the script only what could not be restored is left');

SELECT * FROM finish();
ROLLBACK;
