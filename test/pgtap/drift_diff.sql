-- Comparing only what differs (issue 11): drift(), fingerprint() and scan()
-- keep only the live objects that differ from the snapshot (equal ones are
-- marked in the snapshot instead), and put the capture in order by the
-- snapshot's order instead of sorting it.  A change inside one table among
-- many unchanged ones must still be found, for every kind of object that
-- belongs to a table, and the fingerprint must be the one of the whole
-- catalog.  Each step is also run with migrate_ops.verify_signatures on,
-- which captures again keeping every object and fails on any difference.
BEGIN;
SELECT plan(46);

\ir lib/drift_helpers.psql
-- drift() in (kind, identity) order as it returns it, changes included
CREATE FUNCTION pg_temp.raw() RETURNS text[] LANGUAGE sql AS
$$ SELECT coalesce(array_agg(kind || ' ' || identity || ' ' || change), '{}') FROM migrate_ops.drift() $$;

CREATE ROLE tap_diff_reader NOLOGIN;
CREATE SCHEMA app;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TABLE app.root (id bigint PRIMARY KEY);
DO $$
BEGIN
    FOR i IN 1..40 LOOP
        EXECUTE format('CREATE TABLE app.t%1$s (id bigint PRIMARY KEY, root_id bigint REFERENCES app.root (id),
                          c1 integer NOT NULL DEFAULT 0, c2 text, CONSTRAINT t%1$s_c1_check CHECK (c1 >= 0))', i);
        EXECUTE format('CREATE INDEX t%1$s_c2_idx ON app.t%1$s (c2)', i);
        EXECUTE format('CREATE TRIGGER t%1$s_touch BEFORE UPDATE ON app.t%1$s FOR EACH ROW EXECUTE FUNCTION app.touch()', i);
        EXECUTE format('CREATE POLICY t%1$s_own ON app.t%1$s USING (c1 > 0)', i);
        EXECUTE format('COMMENT ON COLUMN app.t%1$s.c2 IS %2$L', i, 'note ' || i);
        EXECUTE format('GRANT SELECT ON app.t%1$s TO tap_diff_reader', i);
        EXECUTE format('GRANT UPDATE (c2) ON app.t%1$s TO tap_diff_reader', i);
    END LOOP;
END $$;
CREATE VIEW app.v1 AS SELECT id, c1 FROM app.t1;
-- a foreign key to a partitioned table: its clones for the partitions do not count
CREATE TABLE app.parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE app.parted_1 PARTITION OF app.parted FOR VALUES FROM (0) TO (100);
CREATE TABLE app.parted_2 PARTITION OF app.parted FOR VALUES FROM (100) TO (200);
CREATE TABLE app.refs (id int PRIMARY KEY, p int REFERENCES app.parted (id));

SELECT ok(migrate_ops.snapshot('diff') > 0, 'a snapshot of 40 tables');
SELECT is(pg_temp.d(), '{}'::text[], 'no drift');
SELECT is((SELECT count(*)::int FROM migrate_ops.snapshot_objects
            WHERE kind = 'constraint' AND identity LIKE '% on app.refs' AND valid_to IS NULL), 2,
          'a foreign key to a partitioned table counts once');
SELECT cmp_ok((SELECT count(*)::int FROM pg_constraint WHERE conrelid = 'app.refs'::regclass), '>', 2,
              'PostgreSQL clones it for the partitions');
SELECT is(pg_temp.verified(), '{}'::text[], 'no drift, verified');
SELECT is(migrate_ops.fingerprint(),
          (SELECT fingerprint FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1),
          'the fingerprint is the snapshot''s');
CREATE TEMP TABLE scan1 AS SELECT migrate_ops.scan() AS id;
SELECT is((SELECT status FROM migrate_ops.scans WHERE id = (SELECT id FROM scan1)), 'clean', 'a clean scan');

-- one change in each of several tables, every other table unchanged
ALTER TABLE app.t3 ALTER COLUMN c1 SET DEFAULT 1;
SELECT is(pg_temp.d(), '{"column app.t3.c1 changed"}', 'a column default in one table');
SELECT is(pg_temp.verified(), '{"column app.t3.c1 changed"}', 'a column default, verified');

ALTER TABLE app.t5 DROP CONSTRAINT t5_c1_check, ADD CONSTRAINT t5_c1_check CHECK (c1 >= 1);
SELECT is(pg_temp.d(), '{"column app.t3.c1 changed","constraint t5_c1_check on app.t5 changed"}',
          'a CHECK constraint in another table');
SELECT is(pg_temp.verified(), pg_temp.d(), 'a CHECK constraint, verified');

DROP INDEX app.t7_c2_idx;
CREATE INDEX t7_c2_idx ON app.t7 (c2 DESC);
SELECT ok('index app.t7_c2_idx changed' = ANY (pg_temp.d()), 'an index');
SELECT is(pg_temp.verified(), pg_temp.d(), 'an index, verified');

ALTER TABLE app.t9 DISABLE TRIGGER t9_touch;
SELECT ok('trigger t9_touch on app.t9 changed' = ANY (pg_temp.d()), 'a trigger');
SELECT is(pg_temp.verified(), pg_temp.d(), 'a trigger, verified');

ALTER POLICY t11_own ON app.t11 USING (c1 > 1);
SELECT ok('policy t11_own on app.t11 changed' = ANY (pg_temp.d()), 'a policy');
SELECT is(pg_temp.verified(), pg_temp.d(), 'a policy, verified');

COMMENT ON COLUMN app.t13.c2 IS 'changed';
SELECT ok('comment column app.t13.c2 changed' = ANY (pg_temp.d()), 'a comment');
SELECT is(pg_temp.verified(), pg_temp.d(), 'a comment, verified');

REVOKE SELECT ON app.t15 FROM tap_diff_reader;
SELECT ok('privilege table app.t15 changed' = ANY (pg_temp.d()), 'a table grant');
REVOKE UPDATE (c2) ON app.t16 FROM tap_diff_reader;
SELECT ok(EXISTS (SELECT 1 FROM migrate_ops.drift() WHERE kind = 'privilege' AND identity = 'column app.t16.c2'),
          'a column grant');
SELECT is(pg_temp.verified(), pg_temp.d(), 'grants, verified');

ALTER TABLE app.t17 ENABLE ROW LEVEL SECURITY;
SELECT ok('table app.t17 changed' = ANY (pg_temp.d()), 'a table option');
SELECT is(pg_temp.verified(), pg_temp.d(), 'a table option, verified');

ALTER TABLE app.t19 RENAME COLUMN c2 TO c3;
SELECT ok('column app.t19.c2 removed' = ANY (pg_temp.d()) AND 'column app.t19.c3 added' = ANY (pg_temp.d()),
          'a renamed column is removed and added');
SELECT is(pg_temp.verified(), pg_temp.d(), 'a renamed column, verified');

CREATE INDEX t21_c1_idx ON app.t21 (c1);
SELECT ok('index app.t21_c1_idx added' = ANY (pg_temp.d()), 'an added index');
ALTER TABLE app.t23 DROP CONSTRAINT t23_root_id_fkey;
SELECT ok('constraint t23_root_id_fkey on app.t23 removed' = ANY (pg_temp.d()), 'a removed foreign key');
SELECT is(pg_temp.verified(), pg_temp.d(), 'added and removed, verified');

-- what a table references, renamed: every table's foreign key changes
ALTER TABLE app.root RENAME COLUMN id TO root_key;
SELECT ok('constraint t40_root_id_fkey on app.t40 changed' = ANY (pg_temp.d()) AND
          'constraint t1_root_id_fkey on app.t1 changed' = ANY (pg_temp.d()),
          'a referenced column renamed changes every foreign key');
SELECT is(pg_temp.verified(), pg_temp.d(), 'a referenced column renamed, verified');
ALTER TABLE app.root RENAME COLUMN root_key TO id;

-- a role renamed: every grant to it changes
ALTER ROLE tap_diff_reader RENAME TO tap_diff_reader2;
SELECT ok('privilege table app.t40 changed' = ANY (pg_temp.d()) AND
          'privilege column app.t1.c2 changed' = ANY (pg_temp.d()),
          'a role renamed changes every grant');
SELECT is(pg_temp.verified(), pg_temp.d(), 'a role renamed, verified');
ALTER ROLE tap_diff_reader2 RENAME TO tap_diff_reader;

CREATE TABLE app.t41 (id bigint PRIMARY KEY);
DROP VIEW app.v1;
DROP TABLE app.t25;
SELECT ok('table app.t41 added' = ANY (pg_temp.d()) AND 'table app.t25 removed' = ANY (pg_temp.d()) AND
          'column app.t25.c1 removed' = ANY (pg_temp.d()) AND 'view app.v1 removed' = ANY (pg_temp.d()),
          'an added table, a removed table with its objects, a removed view');
SELECT is(pg_temp.verified(), pg_temp.d(), 'added and removed tables, verified');

-- drift() returns its rows in (kind, identity) order, as before
SELECT is(pg_temp.raw(),
          (SELECT array_agg(x ORDER BY split_part(x, ' ', 1), y COLLATE "C")
             FROM (SELECT kind || ' ' || identity || ' ' || change AS x, identity AS y FROM migrate_ops.drift()) s),
          'drift() rows come in (kind, identity) order');

-- the fingerprint of the drifted catalog is the one of the whole catalog
SELECT isnt(migrate_ops.fingerprint(),
            (SELECT fingerprint FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1),
            'a drifted catalog has another fingerprint');
CREATE TEMP TABLE scan2 AS SELECT migrate_ops.scan() AS id;
SELECT is((SELECT fingerprint FROM migrate_ops.scans WHERE id = (SELECT id FROM scan2)), migrate_ops.fingerprint(),
          'scan() records the fingerprint fingerprint() gives');
CREATE TEMP TABLE fp AS SELECT migrate_ops.fingerprint() AS fp;
CREATE TEMP TABLE snap2 AS SELECT migrate_ops.snapshot('after') AS id;
SELECT is((SELECT fp FROM fp), (SELECT fingerprint FROM migrate_ops.snapshots WHERE id = (SELECT id FROM snap2)),
          'fingerprint() of a drifted catalog is the one a snapshot of every object computes');
SELECT is(pg_temp.d(), '{}'::text[], 'no drift after the new snapshot');
SELECT is(pg_temp.verified(), '{}'::text[], 'no drift after the new snapshot, verified');

-- drift() against the first snapshot still reports everything
SELECT ok(cardinality(ARRAY(SELECT 1 FROM migrate_ops.drift((SELECT min(id) FROM migrate_ops.snapshots)))) >= 20,
          'drift() against the older snapshot');
SELECT is(ARRAY(SELECT kind || ' ' || identity || ' ' || change FROM migrate_ops.drift((SELECT min(id) FROM migrate_ops.snapshots))),
          ARRAY(SELECT kind || ' ' || identity || ' ' || change FROM migrate_ops.drift((SELECT min(id) FROM migrate_ops.snapshots))),
          'drift() against the older snapshot is stable');
SET LOCAL migrate_ops.verify_signatures = on;
SELECT lives_ok($$ SELECT count(*) FROM migrate_ops.drift((SELECT min(id) FROM migrate_ops.snapshots)) $$,
                'drift() against the older snapshot, verified');
SELECT lives_ok($$ SELECT migrate_ops.fingerprint(ARRAY['app']) $$, 'fingerprint() of one schema, verified');
CREATE INDEX t30_c1_idx ON app.t30 (c1);
SELECT lives_ok($$ SELECT migrate_ops.snapshot('verified') $$, 'a snapshot in the reference''s order, verified');
RESET migrate_ops.verify_signatures;

SELECT * FROM finish();
ROLLBACK;
