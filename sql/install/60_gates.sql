-- Deploy gates, backups, health (DESIGN §7).

-- Approvals of a migration, bound to the checksum of its script: an edited
-- migration needs new ones.  One row per approving role and checksum.
CREATE TABLE migrate_ops.approvals (
    id          bigserial PRIMARY KEY,
    version     text NOT NULL,
    checksum    text NOT NULL,
    approved_by text NOT NULL,
    approved_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    note        text,
    CONSTRAINT approvals_once UNIQUE (version, checksum, approved_by),
    CONSTRAINT approvals_checksum_check CHECK (checksum ~ '^[0-9a-f]{64}$'),
    CONSTRAINT approvals_version_check CHECK (version <> '' AND octet_length(version) <= 255)
);
COMMENT ON TABLE migrate_ops.approvals IS
    'Approvals of migrations (by version and checksum); written by migrate_ops.approve().';

-- Backups taken by tools outside the database, as they reported them.
CREATE TABLE migrate_ops.backups (
    id                  bigserial PRIMARY KEY,
    label               text NOT NULL,
    location            text NOT NULL,
    size_bytes          bigint NOT NULL,
    taken_at            timestamptz NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    recorded_by         text NOT NULL,
    stale_notified_at   timestamptz,
    CONSTRAINT backups_size_check CHECK (size_bytes > 0),
    CONSTRAINT backups_label_check CHECK (label <> '' AND octet_length(label) <= 255),
    CONSTRAINT backups_location_check CHECK (location <> '' AND octet_length(location) <= 4096)
);
CREATE INDEX backups_taken_at_idx ON migrate_ops.backups (taken_at);
COMMENT ON TABLE migrate_ops.backups IS
    'The backup registry: written by migrate_ops.record_backup(); stale_notified_at is when backup.stale was emitted.';

-- pg_dump keeps approvals and the backup registry.
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.approvals', '');
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.approvals_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.backups', '');
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.backups_id_seq', '');

CREATE FUNCTION migrate_ops.approve(version text, checksum text, note text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'migrate_ops_approve'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.approve(text, text, text) IS
    'Approve a migration (version and the checksum of its script) as the calling role; returns the approval''s id.';

CREATE FUNCTION migrate_ops.record_backup(label text, location text, size_bytes bigint,
                                          taken_at timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
AS 'MODULE_PATHNAME', 'migrate_ops_record_backup'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.record_backup(text, text, bigint, timestamptz) IS
    'Record a backup taken outside the database; returns its id.';

CREATE FUNCTION migrate_ops.check_backups()
RETURNS bigint
AS 'MODULE_PATHNAME', 'migrate_ops_check_backups'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.check_backups() IS
    'In production, emit backup.stale once when the newest backup is older than migrate_ops.backup_max_age; returns the event id or NULL.';

CREATE FUNCTION migrate_ops.preflight(version text DEFAULT NULL, script text DEFAULT NULL,
                                      expected jsonb DEFAULT NULL)
RETURNS TABLE ("check" text, ok boolean, severity text, detail text)
AS 'MODULE_PATHNAME', 'migrate_ops_preflight'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.preflight(text, text, jsonb) IS
    'The pre-deployment checklist as rows; in production apply() refuses when a check of severity error fails.';

CREATE FUNCTION migrate_ops.health(expected jsonb DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'migrate_ops_health'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.health(jsonb) IS
    'Readiness and its reasons, migrations, drift, worker, outbox, newest backup and environment, for a monitoring probe.';

CREATE FUNCTION migrate_ops.ready(expected jsonb DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'migrate_ops_ready'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.ready(jsonb) IS
    'True when no migration is failed, running or pending, the last scan found no drift and the worker runs.';
