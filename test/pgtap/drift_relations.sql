-- Plain tables and views read from the catalog (perf round 3): a tracked
-- ordinary table that is not a partition, inherits from nothing, is not
-- typed, has the heap access method, the default tablespace, no options and
-- no replica identity index, and a tracked view without options, are read
-- straight from pg_class (and pg_rewrite); every other relation through
-- the relations query.  Each relation must be read exactly once, the same way
-- as before, and a change that moves a table from one way to the other
-- must show as the change it is.  With migrate_ops.verify_signatures on,
-- the plain tables also go through the query and both must give the same
-- objects (definition, detail, drop SQL, hash), else XX000.
BEGIN;
SELECT plan(37);

\ir lib/drift_helpers.psql
-- a new snapshot, verified: the next step starts from it
CREATE FUNCTION pg_temp.resnap() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    id bigint;
BEGIN
    SET LOCAL migrate_ops.verify_signatures = on;
    id := migrate_ops.snapshot('verified');
    SET LOCAL migrate_ops.verify_signatures = off;
    RETURN id;
END $$;
-- the stored definition of a table (current rows)
CREATE FUNCTION pg_temp.def(text) RETURNS text LANGUAGE sql AS
$$ SELECT definition FROM migrate_ops.snapshot_objects
    WHERE kind = 'table' AND identity = $1 AND valid_to IS NULL $$;

CREATE ROLE tap_rel_reader NOLOGIN;
CREATE SCHEMA rel;
CREATE TYPE rel.pair AS (a int, b int);
CREATE TABLE rel.plain (id int PRIMARY KEY, note text);
COMMENT ON TABLE rel.plain IS 'a plain table';
GRANT SELECT ON rel.plain TO tap_rel_reader;
CREATE UNLOGGED TABLE rel.unlogged (id int);
CREATE TABLE rel.secured (id int);
ALTER TABLE rel.secured ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY, REPLICA IDENTITY FULL;
CREATE TABLE rel.nothing (id int);
ALTER TABLE rel.nothing REPLICA IDENTITY NOTHING;
CREATE TABLE rel.byindex (id int NOT NULL);
CREATE UNIQUE INDEX byindex_id ON rel.byindex (id);
ALTER TABLE rel.byindex REPLICA IDENTITY USING INDEX byindex_id;
CREATE TABLE rel.opts (id int) WITH (fillfactor = 70, autovacuum_enabled = false);
CREATE TABLE rel.parent (id int);
CREATE TABLE rel.plain2 (id int);
CREATE TABLE rel.child (extra int) INHERITS (rel.parent);
CREATE TABLE rel.typed OF rel.pair;
CREATE TABLE rel.parted (id int) PARTITION BY RANGE (id);
CREATE TABLE rel.part1 PARTITION OF rel.parted FOR VALUES FROM (0) TO (10);
CREATE SEQUENCE rel.seq;
CREATE TABLE rel.ident (id int GENERATED ALWAYS AS IDENTITY);
CREATE TABLE rel.owned (id int DEFAULT nextval('rel.seq'));
ALTER SEQUENCE rel.seq OWNED BY rel.owned.id;
CREATE VIEW rel.v AS SELECT id FROM rel.plain;
COMMENT ON VIEW rel.v IS 'a plain view';
GRANT SELECT ON rel.v TO tap_rel_reader;
CREATE VIEW rel.barrier WITH (security_barrier) AS SELECT id, note FROM rel.plain WHERE id > 0;
CREATE TYPE rel.pair2 AS (a int, b int);
CREATE VIEW rel.onpair AS SELECT (ROW(1, 2)::rel.pair2).a, 'rel.plain'::regclass AS r;
CREATE MATERIALIZED VIEW rel.mv AS SELECT id FROM rel.plain;

SELECT ok(migrate_ops.snapshot('relations') > 0, 'a snapshot');
SELECT is(pg_temp.d(), '{}'::text[], 'no drift');
SELECT is(pg_temp.verified(), '{}'::text[], 'no drift, verified');
SELECT is((SELECT count(*)::int FROM migrate_ops.snapshot_objects
            WHERE valid_to IS NULL AND identity LIKE 'rel.%'
              AND kind IN ('table', 'view', 'materialized view', 'sequence')),
          (SELECT count(*)::int FROM pg_class c WHERE relnamespace = 'rel'::regnamespace
              AND relkind IN ('r', 'p', 'v', 'm', 'S')
              AND NOT (relkind = 'S' AND EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                                   AND d.objid = c.oid AND d.deptype = 'i'))),
          'every relation once');
SELECT is((SELECT array_agg(identity ORDER BY identity) FROM migrate_ops.snapshot_objects
            WHERE kind = 'sequence' AND identity LIKE 'rel.%' AND valid_to IS NULL),
          '{rel.seq}', 'a sequence, not an identity column''s');
SELECT is((SELECT count(*)::int FROM (SELECT kind, identity FROM migrate_ops.snapshot_objects
                                        WHERE valid_to IS NULL GROUP BY kind, identity HAVING count(*) > 1) s),
          0, 'no object twice');

-- how each table reads
SELECT is(pg_temp.def('rel.plain'), 'CREATE TABLE rel.plain (...)', 'a plain table');
SELECT is(pg_temp.def('rel.unlogged'), 'CREATE UNLOGGED TABLE rel.unlogged (...)', 'an unlogged table');
SELECT is(pg_temp.def('rel.secured'),
          E'CREATE TABLE rel.secured (...);\nALTER TABLE rel.secured ENABLE ROW LEVEL SECURITY;\n' ||
          E'ALTER TABLE rel.secured FORCE ROW LEVEL SECURITY;\nALTER TABLE rel.secured REPLICA IDENTITY FULL',
          'row level security and replica identity full');
SELECT is(pg_temp.def('rel.nothing'), E'CREATE TABLE rel.nothing (...);\nALTER TABLE rel.nothing REPLICA IDENTITY NOTHING',
          'replica identity nothing');
SELECT is(pg_temp.def('rel.byindex'),
          E'CREATE TABLE rel.byindex (...);\nALTER TABLE rel.byindex REPLICA IDENTITY USING INDEX byindex_id',
          'replica identity using an index');
SELECT is(pg_temp.def('rel.opts'), 'CREATE TABLE rel.opts (...) WITH (autovacuum_enabled=false, fillfactor=70)',
          'options');
SELECT is(pg_temp.def('rel.child'), 'CREATE TABLE rel.child (...) INHERITS (rel.parent)', 'an inheritance child');
SELECT is(pg_temp.def('rel.typed'), 'CREATE TABLE rel.typed OF rel.pair', 'a typed table');
SELECT is(pg_temp.def('rel.part1'), 'CREATE TABLE rel.part1 PARTITION OF rel.parted FOR VALUES FROM (0) TO (10)',
          'a partition');
SELECT is((SELECT definition FROM migrate_ops.snapshot_objects
            WHERE kind = 'comment' AND identity = 'table rel.plain' AND valid_to IS NULL),
          'COMMENT ON TABLE rel.plain IS ''a plain table''', 'a plain table''s comment');
SELECT ok((SELECT definition FROM migrate_ops.snapshot_objects
            WHERE kind = 'privilege' AND identity = 'table rel.plain' AND valid_to IS NULL)
          LIKE '%GRANT SELECT ON TABLE rel.plain TO tap_rel_reader%', 'a plain table''s grants');

SELECT is((SELECT definition FROM migrate_ops.snapshot_objects
            WHERE kind = 'view' AND identity = 'rel.barrier' AND valid_to IS NULL),
          E'CREATE VIEW rel.barrier WITH (security_barrier=true) AS\n SELECT plain.id,\n    plain.note\n   FROM rel.plain\n  WHERE (plain.id > 0)',
          'a view with options');

-- views: changed, commented, granted, given options
CREATE OR REPLACE VIEW rel.v AS SELECT id, note FROM rel.plain;
COMMENT ON VIEW rel.v IS 'changed';
REVOKE SELECT ON rel.v FROM tap_rel_reader;
ALTER VIEW rel.barrier RESET (security_barrier);
SELECT is(pg_temp.d(), '{"comment view rel.v changed","privilege view rel.v changed","view rel.barrier changed","view rel.v changed"}',
          'views changed');
SELECT is(pg_temp.verified(), pg_temp.d(), 'views changed, verified');
ALTER VIEW rel.v SET (security_barrier = true);
SELECT is(pg_temp.d(), '{"comment view rel.v changed","privilege view rel.v changed","view rel.barrier changed","view rel.v changed"}',
          'a view given options');
SELECT pg_temp.resnap() \g /dev/null
ALTER TYPE rel.pair2 RENAME ATTRIBUTE a TO aa;
SELECT ok('view rel.onpair changed' = ANY (pg_temp.d()), 'what a view references, renamed');
SELECT is(pg_temp.verified(), pg_temp.d(), 'what a view references, renamed, verified');
SELECT pg_temp.resnap() \g /dev/null

-- changes that move a table from one way of reading to the other
ALTER TABLE rel.plain SET (fillfactor = 80);
SELECT is(pg_temp.d(), '{"table rel.plain changed"}', 'options set on a plain table');
SELECT is(pg_temp.verified(), '{"table rel.plain changed"}', 'options set on a plain table, verified');
SELECT pg_temp.resnap() \g /dev/null
ALTER TABLE rel.opts RESET (fillfactor, autovacuum_enabled);
SELECT is(pg_temp.d(), '{"table rel.opts changed"}', 'options reset: a plain table');
SELECT is(pg_temp.verified(), '{"table rel.opts changed"}', 'options reset, verified');
SELECT pg_temp.resnap() \g /dev/null
ALTER TABLE rel.child NO INHERIT rel.parent;
SELECT is(pg_temp.d(), '{"table rel.child changed"}', 'no longer inherits');
SELECT is(pg_temp.verified(), '{"table rel.child changed"}', 'no longer inherits, verified');
SELECT pg_temp.resnap() \g /dev/null
ALTER TABLE rel.plain2 INHERIT rel.parent;
SELECT ok('table rel.plain2 changed' = ANY (pg_temp.d()), 'now inherits');
ALTER TABLE rel.byindex REPLICA IDENTITY DEFAULT;
SELECT ok('table rel.byindex changed' = ANY (pg_temp.d()), 'replica identity default');
SELECT is(pg_temp.verified(), pg_temp.d(), 'now inherits; replica identity default, verified');
SELECT pg_temp.resnap() \g /dev/null
ALTER TABLE rel.typed NOT OF;
COMMENT ON TABLE rel.plain IS 'changed';
ALTER TABLE rel.secured OWNER TO tap_rel_reader;
SELECT is(pg_temp.d(), '{"comment table rel.plain changed","privilege table rel.secured changed","table rel.typed changed"}',
          'not typed any more; a comment; an owner');
SELECT is(pg_temp.verified(), '{"comment table rel.plain changed","privilege table rel.secured changed","table rel.typed changed"}',
          'not typed any more; a comment; an owner, verified');
SELECT pg_temp.resnap() \g /dev/null
SELECT is(pg_temp.d(), '{}'::text[], 'a verified snapshot holds every change');
ALTER TABLE rel.part1 RENAME TO part_one;
SELECT ok('table rel.part_one added' = ANY (pg_temp.d()) AND 'table rel.part1 removed' = ANY (pg_temp.d()),
          'a renamed partition');
SELECT is(pg_temp.verified(), pg_temp.d(), 'a renamed partition, verified');

SELECT * FROM finish();
ROLLBACK;
