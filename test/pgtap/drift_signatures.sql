-- Catalog signatures (issue 11): drift() takes the stored hash of a
-- constraint, index, view, trigger or policy whose catalog signature is
-- unchanged, and runs the deparser only for the others.  Every way a
-- definition can change without its own catalog row changing must still be
-- seen: renames of what it references (functions, types, enum values,
-- columns, tables, schemas, collations, sequences, composite attributes,
-- roles), and constants whose text the catalog gives without a
-- dependency.  Each case is also run with migrate_ops.verify_signatures on,
-- which deparses everything and fails on any hash a signature lent wrongly.
BEGIN;
SELECT plan(54);

\ir lib/drift_helpers.psql
CREATE FUNCTION pg_temp.actual(k text, i text) RETURNS text LANGUAGE sql AS
$$ SELECT actual FROM migrate_ops.drift() WHERE kind = k AND identity = i $$;
CREATE FUNCTION pg_temp.expected(k text, i text) RETURNS text LANGUAGE sql AS
$$ SELECT expected FROM migrate_ops.drift() WHERE kind = k AND identity = i $$;
-- drift() with every definition deparsed and every lent hash checked: the same rows
-- how many stored objects of the latest snapshot carry a signature, by kind
CREATE FUNCTION pg_temp.signed(k text) RETURNS bigint LANGUAGE sql AS
$$ SELECT count(*) FROM migrate_ops.snapshot_objects WHERE kind = k AND valid_to IS NULL AND signature IS NOT NULL $$;

CREATE SCHEMA app;
CREATE SCHEMA fns;
CREATE ROLE tap_sig_owner NOLOGIN;
CREATE TYPE app.status AS ENUM ('new', 'paid', 'void');
CREATE TYPE app.pair AS (x int, y text);
CREATE COLLATION app.nocase FROM "C";
CREATE FUNCTION fns.positive(n numeric) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT n > 0 $$;
CREATE FUNCTION fns.norm(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT lower(t) $$;
CREATE FUNCTION fns.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE SEQUENCE app.ticket_seq;
CREATE TABLE app.customers (id bigint PRIMARY KEY, email text, name text);
CREATE TABLE app.orders (
    id bigint PRIMARY KEY,
    customer_id bigint REFERENCES app.customers (id),
    status app.status NOT NULL DEFAULT 'new',
    total numeric(10,2) DEFAULT 0,
    owner regrole,
    tags regclass[],
    note text,
    CONSTRAINT orders_total_check CHECK (fns.positive(total)),
    CONSTRAINT orders_status_check CHECK (status <> 'void'::app.status),
    CONSTRAINT orders_owner_check CHECK (owner <> ALL ('{tap_sig_owner}'::regrole[])),
    CONSTRAINT orders_tags_check CHECK (tags <> '{app.customers}'::regclass[]));
CREATE INDEX orders_norm_idx ON app.orders (fns.norm(note));
CREATE INDEX customers_name_idx ON app.customers (name COLLATE app.nocase);
CREATE VIEW app.open_orders AS
    SELECT o.id, o.total, c.email, (ROW(1, 'a')::app.pair).y AS tag, nextval('app.ticket_seq'::regclass) AS ticket
      FROM app.orders o JOIN app.customers c ON c.id = o.customer_id WHERE o.status = 'new';
CREATE TRIGGER orders_touch BEFORE UPDATE ON app.orders FOR EACH ROW EXECUTE FUNCTION fns.touch();
ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON app.orders USING (fns.positive(total));

SELECT ok(migrate_ops.snapshot('signatures') > 0, 'a snapshot');
SELECT ok(pg_temp.signed('constraint') >= 6, 'constraints are stored with their signatures');
SELECT ok(pg_temp.signed('index') >= 2, 'so are indexes');
SELECT is(pg_temp.signed('view'), 1::bigint, 'and views');
SELECT is(pg_temp.signed('trigger'), 1::bigint, 'and triggers');
SELECT is(pg_temp.signed('policy'), 1::bigint, 'and policies');
SELECT is((SELECT count(*) FROM migrate_ops.snapshot_objects
            WHERE identity = 'orders_tags_check on app.orders' AND signature IS NULL), 1::bigint,
          'a constant the catalog prints without a dependency (regclass[]) leaves its constraint unsigned');
SELECT is(pg_temp.d(), '{}'::text[], 'no drift');
SELECT is(pg_temp.verified(), '{}'::text[], 'no drift with every definition deparsed and checked');

-- ---------------------------------------------------------------- lending is real, and checked
CREATE TEMP TABLE real_hash AS
    SELECT hash FROM migrate_ops.snapshot_objects WHERE identity = 'orders_total_check on app.orders' AND valid_to IS NULL;
UPDATE migrate_ops.snapshot_objects SET hash = sha256('forged')
 WHERE identity = 'orders_total_check on app.orders' AND valid_to IS NULL;
SELECT is(pg_temp.d(), '{}'::text[],
          'an unchanged signature lends the stored hash: the constraint is not deparsed again');
SELECT throws_ok('SELECT pg_temp.verified()', 'XX000', 'catalog signature check failed for constraint orders_total_check on app.orders',
                 'verify_signatures deparses it and fails on the lent hash that differs');
UPDATE migrate_ops.snapshot_objects SET hash = (SELECT hash FROM real_hash)
 WHERE identity = 'orders_total_check on app.orders' AND valid_to IS NULL;
SELECT is(pg_temp.verified(), '{}'::text[], 'with the real hash back: no drift, checked');

-- ---------------------------------------------------------------- renames of what definitions reference
ALTER FUNCTION fns.positive(numeric) RENAME TO is_positive;
SELECT is(pg_temp.d(), ARRAY['constraint orders_total_check on app.orders changed', 'function fns.is_positive(numeric) added',
                             'function fns.positive(numeric) removed', 'policy own on app.orders changed',
                             'privilege function fns.is_positive(numeric) added', 'privilege function fns.positive(numeric) removed'],
          'renaming a function changes the constraint and the policy that call it');
SELECT matches(pg_temp.actual('constraint', 'orders_total_check on app.orders'), 'fns\.is_positive\(total\)',
               'the constraint''s actual definition names the new function');
SELECT is(pg_temp.verified(), pg_temp.d(), 'the same with every definition deparsed');
ALTER FUNCTION fns.is_positive(numeric) RENAME TO positive;
SELECT is(pg_temp.d(), '{}'::text[], 'renamed back: no drift');

ALTER SCHEMA fns RENAME TO fns2;
SELECT ok(pg_temp.d() @> ARRAY['index app.orders_norm_idx changed', 'constraint orders_total_check on app.orders changed',
                               'trigger orders_touch on app.orders changed', 'policy own on app.orders changed'],
          'renaming the functions'' schema changes the index, constraint, trigger and policy that use them');
SELECT matches(pg_temp.actual('index', 'app.orders_norm_idx'), 'fns2\.norm', 'the index names the new schema');
SELECT is(pg_temp.verified(), pg_temp.d(), 'the same with every definition deparsed');
ALTER SCHEMA fns2 RENAME TO fns;
SELECT is(pg_temp.d(), '{}'::text[], 'renamed back: no drift');

ALTER TYPE app.status RENAME VALUE 'void' TO 'cancelled';
SELECT ok(pg_temp.d() @> ARRAY['constraint orders_status_check on app.orders changed'],
          'renaming an enum value changes the CHECK constraint that holds it as a constant');
SELECT matches(pg_temp.actual('constraint', 'orders_status_check on app.orders'), '''cancelled''::app\.status',
               'the constraint shows the new label');
SELECT is(pg_temp.verified(), pg_temp.d(), 'the same with every definition deparsed');
ALTER TYPE app.status RENAME VALUE 'cancelled' TO 'void';
ALTER TYPE app.status RENAME VALUE 'new' TO 'fresh';
SELECT ok(pg_temp.d() @> ARRAY['view app.open_orders changed', 'column app.orders.status changed'],
          'renaming the label a view filters on changes the view (and the column default)');
SELECT is(pg_temp.verified(), pg_temp.d(), 'the same with every definition deparsed');
ALTER TYPE app.status RENAME VALUE 'fresh' TO 'new';

ALTER TYPE app.status RENAME TO state;
SELECT ok(pg_temp.d() @> ARRAY['constraint orders_status_check on app.orders changed', 'view app.open_orders changed'],
          'renaming a type changes the definitions that cast to it');
SELECT is(pg_temp.verified(), pg_temp.d(), 'the same with every definition deparsed');
ALTER TYPE app.state RENAME TO status;
SELECT is(pg_temp.d(), '{}'::text[], 'renamed back: no drift');

ALTER TYPE app.pair RENAME ATTRIBUTE y TO why;
SELECT is(pg_temp.d(), ARRAY['composite type app.pair changed', 'view app.open_orders changed'],
          'renaming a composite type''s attribute changes the view that selects it');
SELECT matches(pg_temp.actual('view', 'app.open_orders'), '\.why', 'the view selects the new attribute');
SELECT is(pg_temp.verified(), pg_temp.d(), 'the same with every definition deparsed');
ALTER TYPE app.pair RENAME ATTRIBUTE why TO y;

ALTER TABLE app.customers RENAME COLUMN id TO customer_no;
SELECT ok(pg_temp.d() @> ARRAY['constraint orders_customer_id_fkey on app.orders changed', 'view app.open_orders changed',
                               'constraint customers_pkey on app.customers changed'],
          'renaming a referenced column changes the foreign key and the view that use it, and its key');
SELECT matches(pg_temp.actual('constraint', 'orders_customer_id_fkey on app.orders'), 'REFERENCES app\.customers\(customer_no\)',
               'the foreign key references the new column name');
SELECT is(pg_temp.verified(), pg_temp.d(), 'the same with every definition deparsed');
ALTER TABLE app.customers RENAME COLUMN customer_no TO id;

ALTER TABLE app.customers RENAME TO clients;
SELECT ok(pg_temp.d() @> ARRAY['constraint orders_customer_id_fkey on app.orders changed', 'view app.open_orders changed'],
          'renaming a referenced table changes the foreign key and the view');
SELECT is(pg_temp.verified(), pg_temp.d(), 'the same with every definition deparsed');
ALTER TABLE app.clients RENAME TO customers;

ALTER TABLE app.orders RENAME COLUMN total TO amount;
SELECT ok(pg_temp.d() @> ARRAY['constraint orders_total_check on app.orders changed', 'policy own on app.orders changed',
                               'view app.open_orders changed'],
          'renaming a column of the table itself changes its CHECK, its policy and the view');
SELECT matches(pg_temp.actual('constraint', 'orders_total_check on app.orders'), 'positive\(amount\)',
               'the CHECK uses the new column name');
SELECT is(pg_temp.verified(), pg_temp.d(), 'the same with every definition deparsed');
ALTER TABLE app.orders RENAME COLUMN amount TO total;

ALTER VIEW app.open_orders RENAME COLUMN email TO mail;
SELECT is(pg_temp.d(), ARRAY['view app.open_orders changed'], 'renaming a view''s column changes the view');
SELECT is(pg_temp.verified(), pg_temp.d(), 'the same with every definition deparsed');
ALTER VIEW app.open_orders RENAME COLUMN mail TO email;

ALTER SEQUENCE app.ticket_seq RENAME TO ticket_no_seq;
SELECT ok(pg_temp.d() @> ARRAY['view app.open_orders changed'],
          'renaming a sequence a view calls nextval() on (regclass constant) changes the view');
SELECT is(pg_temp.verified(), pg_temp.d(), 'the same with every definition deparsed');
ALTER SEQUENCE app.ticket_no_seq RENAME TO ticket_seq;

ALTER COLLATION app.nocase RENAME TO ci;
SELECT ok(pg_temp.d() @> ARRAY['index app.customers_name_idx changed'],
          'renaming a collation changes the index that uses it');
SELECT is(pg_temp.verified(), pg_temp.d(), 'the same with every definition deparsed');
ALTER COLLATION app.ci RENAME TO nocase;

ALTER ROLE tap_sig_owner RENAME TO tap_sig_owner2;
SELECT ok(pg_temp.d() @> ARRAY['constraint orders_owner_check on app.orders changed'],
          'renaming a role a CHECK holds in a regrole[] constant changes the constraint');
SELECT is(pg_temp.verified(), pg_temp.d(), 'the same with every definition deparsed');
ALTER ROLE tap_sig_owner2 RENAME TO tap_sig_owner;

ALTER TABLE app.customers RENAME TO people;
SELECT ok(pg_temp.d() @> ARRAY['constraint orders_tags_check on app.orders changed'],
          'a regclass[] constant (no dependency, never lent) still shows the renamed table');
SELECT matches(pg_temp.actual('constraint', 'orders_tags_check on app.orders'), 'app\.people',
               'in the constraint''s actual definition');
ALTER TABLE app.people RENAME TO customers;
SELECT is(pg_temp.verified(), '{}'::text[], 'everything renamed back: no drift, checked');

-- ---------------------------------------------------------------- same text, new rows
ALTER TABLE app.orders ALTER COLUMN total SET DEFAULT 0;
ALTER TABLE app.orders DROP CONSTRAINT orders_total_check;
ALTER TABLE app.orders ADD CONSTRAINT orders_total_check CHECK (fns.positive(total));
DROP INDEX app.orders_norm_idx;
CREATE INDEX orders_norm_idx ON app.orders (fns.norm(note));
SELECT is(pg_temp.d(), '{}'::text[],
          'SET DEFAULT with the same text, a constraint and an index dropped and created again the same: no drift');
SELECT is(pg_temp.verified(), '{}'::text[], 'the same with every definition deparsed');
ALTER TABLE app.orders ALTER COLUMN total SET DEFAULT 1;
ALTER TABLE app.orders DROP CONSTRAINT orders_total_check;
ALTER TABLE app.orders ADD CONSTRAINT orders_total_check CHECK (fns.positive(total + 1));
SELECT is(pg_temp.d(), ARRAY['column app.orders.total changed', 'constraint orders_total_check on app.orders changed'],
          'a different default and a different CHECK are drift');
SELECT matches(pg_temp.expected('constraint', 'orders_total_check on app.orders'), 'positive\(total\)\)$',
               'expected is the stored definition');

SELECT * FROM finish();
ROLLBACK;
