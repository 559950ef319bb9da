-- Drift detection (DESIGN §2): catalog snapshots, drift reports, scans.

-- One row per snapshot of the catalog.
CREATE TABLE migrate_ops.snapshots (
    id                  bigserial PRIMARY KEY,
    label               text,
    source              text NOT NULL DEFAULT 'snapshot',
    migration           text,
    reason              text,
    fingerprint         text NOT NULL,
    object_count        integer NOT NULL,
    added               integer NOT NULL DEFAULT 0,
    removed             integer NOT NULL DEFAULT 0,
    changed             integer NOT NULL DEFAULT 0,
    track_privileges    boolean NOT NULL,
    track_comments      boolean NOT NULL,
    taken_at            timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    taken_by            text NOT NULL,
    CONSTRAINT snapshots_source_check
        CHECK (source IN ('snapshot', 'apply', 'finish', 'rollback', 'baseline', 'accept_drift'))
);
COMMENT ON TABLE migrate_ops.snapshots IS
    'Catalog snapshots; the latest one is the drift baseline.';

-- Object definitions, stored as versions: a row belongs to every snapshot
-- from valid_from up to (not including) valid_to; valid_to IS NULL for the
-- latest snapshot.  The objects of snapshot S:
--   WHERE valid_from <= S AND (valid_to IS NULL OR valid_to > S)
CREATE TABLE migrate_ops.snapshot_objects (
    kind                text NOT NULL,
    identity            text NOT NULL,
    parent_kind         text,
    parent              text,
    definition          text NOT NULL,
    hash                bytea NOT NULL,
    detail              jsonb,
    ord                 bigint NOT NULL DEFAULT 0,
    valid_from          bigint NOT NULL,
    valid_to            bigint,
    -- SHA-256 of what the definition is made of, read without the deparser
    -- (catalog signature): an object whose signature is unchanged has the
    -- same definition, so it is not deparsed again.  NULL: none.
    signature           bytea,
    PRIMARY KEY (kind, identity, valid_from)
);
CREATE UNIQUE INDEX snapshot_objects_current_idx
    ON migrate_ops.snapshot_objects (kind, identity) WHERE valid_to IS NULL;
COMMENT ON TABLE migrate_ops.snapshot_objects IS
    'Every object''s normalised definition and SHA-256, per range of snapshots [valid_from, valid_to).';

-- Patterns of objects left out of fingerprints and drift reports.
CREATE TABLE migrate_ops.drift_ignore (
    id                  bigserial PRIMARY KEY,
    kind                text,
    pattern             text NOT NULL,
    reason              text,
    created_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by          text NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT drift_ignore_kind_check CHECK (kind IN (
        'aggregate', 'column', 'comment', 'composite type', 'constraint', 'domain', 'enum',
        'event trigger', 'extension', 'foreign table', 'function', 'index', 'materialized view',
        'policy', 'privilege', 'procedure', 'schema', 'sequence', 'table', 'trigger', 'type',
        'view')),
    -- compiling the pattern rejects an invalid regular expression (2201B)
    CONSTRAINT drift_ignore_pattern_check
        CHECK (pattern <> '' AND pg_catalog.length(pg_catalog.regexp_replace('', pattern, '')) = 0)
);
COMMENT ON TABLE migrate_ops.drift_ignore IS
    'Objects left out of fingerprints and drift reports: kind (NULL = any) and a regular expression on the identity.';

-- One row per drift scan (scan(), the background worker, accept_drift()).
CREATE TABLE migrate_ops.scans (
    id                  bigserial PRIMARY KEY,
    scanned_at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    scanned_by          text NOT NULL,
    snapshot_id         bigint,
    status              text NOT NULL,
    fingerprint         text NOT NULL,
    expected_fingerprint text,
    added               integer NOT NULL DEFAULT 0,
    removed             integer NOT NULL DEFAULT 0,
    changed             integer NOT NULL DEFAULT 0,
    objects             jsonb NOT NULL DEFAULT '[]',
    duration            interval,
    event               text,
    CONSTRAINT scans_status_check CHECK (status IN ('clean', 'drift', 'no_baseline'))
);
CREATE INDEX scans_scanned_at_idx ON migrate_ops.scans (scanned_at);
COMMENT ON TABLE migrate_ops.scans IS 'Drift scans: when, against which snapshot, what had drifted.';

SELECT pg_catalog.pg_extension_config_dump('migrate_ops.snapshots', '');
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.snapshots_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.snapshot_objects', '');
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.drift_ignore', '');
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.drift_ignore_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.scans', '');
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.scans_id_seq', '');

CREATE FUNCTION migrate_ops.fingerprint(schemas text[] DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'migrate_ops_fingerprint'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.fingerprint(text[]) IS
    'SHA-256 of the normalised catalog definition of every tracked object (or of the given schemas).';

CREATE FUNCTION migrate_ops.snapshot(label text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'migrate_ops_snapshot'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.snapshot(text) IS
    'Store every object''s definition and hash; the snapshot becomes the drift baseline.';

CREATE FUNCTION migrate_ops.drift(snapshot bigint DEFAULT NULL)
RETURNS TABLE (kind text, identity text, change text, expected text, actual text,
               changed_by text, changed_at timestamptz, application_name text, migration text)
AS 'MODULE_PATHNAME', 'migrate_ops_drift'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.drift(bigint) IS
    'Objects added, removed or changed since a snapshot (default: the latest). Empty means no drift.';

CREATE FUNCTION migrate_ops.drift_sql(snapshot bigint DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'migrate_ops_drift_sql'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.drift_sql(bigint) IS
    'A script, for a human to review, that brings the catalog back to a snapshot where the catalog allows.';

CREATE FUNCTION migrate_ops.accept_drift(reason text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'migrate_ops_accept_drift'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.accept_drift(text) IS
    'The current catalog becomes the drift baseline, recorded with who and why.';

CREATE FUNCTION migrate_ops.scan()
RETURNS bigint
AS 'MODULE_PATHNAME', 'migrate_ops_scan'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.scan() IS
    'Compute drift, record it in migrate_ops.scans and emit drift.detected / drift.resolved when the state changes.';
