-- Drift detection as psql users meet it: autocommit CALLs (apply() commits
-- its own transactions), VACUUM (FULL) that cannot run in a transaction
-- block, and the reports a DBA reads.
CREATE EXTENSION migrate_ops;
CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, total numeric(10,2) DEFAULT 0);
SELECT migrate_ops.snapshot('before the release') AS first_snapshot \gset

-- apply() outside a transaction block: after it, drift() is empty
CALL migrate_ops.apply('20260101_01', $$ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';
CREATE INDEX orders_status_idx ON orders (status);$$);
SELECT * FROM migrate_ops.drift();
SELECT version, fingerprint_before <> fingerprint_after AS schema_changed,
       fingerprint_after = migrate_ops.fingerprint() AS after_is_now, jsonb_pretty(changes) AS changes
  FROM migrate_ops.migrations;
SELECT label, source, migration, added, removed, changed FROM migrate_ops.snapshots ORDER BY id;

-- a failing apply() outside a transaction block: schema untouched, no snapshot, no drift
CALL migrate_ops.apply('20260101_02', $$ALTER TABLE orders ADD COLUMN x int;
SELECT 1/0;$$);
SELECT * FROM migrate_ops.drift();
SELECT count(*) AS snapshots FROM migrate_ops.snapshots;

-- no false drift: data, VACUUM (FULL), ANALYZE, CLUSTER, REINDEX, sequences
INSERT INTO orders (id, customer) SELECT g, 'c' || g FROM generate_series(1, 100) g;
DELETE FROM orders WHERE id > 50;
VACUUM orders;
VACUUM FULL orders;
VACUUM ANALYZE orders;
CLUSTER orders USING orders_pkey;
REINDEX TABLE orders;
SELECT count(*) AS drifted FROM migrate_ops.drift();
SELECT migrate_ops.fingerprint() = fingerprint AS same_fingerprint
  FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1;

-- out-of-band changes, as a DBA reads them
CREATE INDEX orders_customer_idx ON orders (customer);
ALTER TABLE orders ALTER COLUMN total SET DEFAULT 1;
DROP INDEX orders_status_idx;
GRANT SELECT ON orders TO PUBLIC;
\x on
SELECT kind, identity, change, expected, actual FROM migrate_ops.drift();
\x off

-- the script that would undo it (without its first two lines: times and fingerprints)
SELECT regexp_replace(migrate_ops.drift_sql(), '^([^\n]*\n){2}', '') AS drift_sql;

-- scans: drift.detected once, not again for the same drift
SELECT migrate_ops.scan() > 0 AS scanned;
SELECT migrate_ops.scan() > 0 AS scanned_again;
SELECT status, added, removed, changed, event, objects->0 AS first_object
  FROM migrate_ops.scans ORDER BY id;

-- accept it
SELECT migrate_ops.accept_drift('index added by the on-call DBA, see INC-42') > 0 AS accepted;
SELECT count(*) AS drifted FROM migrate_ops.drift();
SELECT source, reason FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1;
SELECT event, payload->>'count' AS count, payload->>'reason' AS reason, payload->'by_kind' AS by_kind
  FROM migrate_ops.events WHERE event LIKE 'drift.%' ORDER BY id;

-- record-only mode, each statement its own transaction
SELECT migrate_ops.start('20260102_01');
CREATE TABLE audit (id bigserial PRIMARY KEY, at timestamptz DEFAULT now());
SELECT migrate_ops.finish('20260102_01');
SELECT count(*) AS drifted FROM migrate_ops.drift();
SELECT jsonb_pretty(changes) AS changes FROM migrate_ops.migrations WHERE version = '20260102_01';

-- against the first snapshot, everything since is drift
SELECT kind, identity, change FROM migrate_ops.drift(:first_snapshot) ORDER BY kind, identity;

DROP EXTENSION migrate_ops;
DROP TABLE orders, audit;
