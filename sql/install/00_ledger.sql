-- migrate_ops: the migration ledger (install parts are concatenated in name order)
\echo Use "CREATE EXTENSION migrate_ops" to load this file. \quit

-- CREATE EXTENSION creates the schema migrate_ops, owned by the installing
-- superuser, unless it exists already.  A schema someone else made and owns
-- (or may create objects in) would let that role plant functions and
-- operators next to the extension's, which its users and its background
-- worker call as superusers: refuse it.
DO $$
DECLARE
    bad text;
BEGIN
    SELECT pg_catalog.string_agg(CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                      ELSE pg_catalog.quote_ident(r.rolname) END
                                 OPERATOR(pg_catalog.||) ' ('
                                 OPERATOR(pg_catalog.||) a.why OPERATOR(pg_catalog.||) ')', ', ')
      INTO bad
      FROM (SELECT n.nspowner AS grantee, 'owner' AS why
              FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) 'migrate_ops'
            UNION ALL
            SELECT x.grantee, 'CREATE'
              FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) x
             WHERE n.nspname OPERATOR(pg_catalog.=) 'migrate_ops'
               AND x.privilege_type OPERATOR(pg_catalog.=) 'CREATE') a
      LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
     WHERE a.grantee OPERATOR(pg_catalog.=) 0 OR NOT r.rolsuper;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'schema migrate_ops exists and is not reserved for superusers'
            USING ERRCODE = '42501',
                  DETAIL = 'Roles that are not superusers own it or may create objects in it: ' OPERATOR(pg_catalog.||) bad OPERATOR(pg_catalog.||) '.',
                  HINT = 'Drop the schema (or give it to a superuser and revoke CREATE on it), then CREATE EXTENSION migrate_ops.';
    END IF;
END $$;

-- One row per migration version.
CREATE TABLE migrate_ops.migrations (
    version             text PRIMARY KEY,
    description         text,
    checksum            text,
    script              text,
    down_script         text,
    state               text NOT NULL,
    source              text NOT NULL DEFAULT 'apply',
    started_at          timestamptz,
    finished_at         timestamptz,
    duration            interval,
    applied_by          text,
    application_name    text,
    client_addr         inet,
    backend_pid         integer,
    backend_start       timestamptz,
    attempts            integer NOT NULL DEFAULT 0,
    error_sqlstate      text,
    error_message       text,
    error_detail        text,
    error_hint          text,
    error_context       text,
    fingerprint_before  text,
    fingerprint_after   text,
    changes             jsonb,
    resolved_by         text,
    resolved_at         timestamptz,
    resolution_reason   text,
    lint_findings       jsonb,
    CONSTRAINT migrations_state_check
        CHECK (state IN ('running', 'applied', 'failed', 'rolled_back', 'baselined')),
    CONSTRAINT migrations_version_check
        CHECK (version <> '' AND octet_length(version) <= 255)
);
CREATE INDEX migrations_state_idx ON migrate_ops.migrations (state);
COMMENT ON TABLE migrate_ops.migrations IS 'The migration ledger: one row per version.';

-- Every change of a ledger row: who did what, when, and why.
CREATE TABLE migrate_ops.migration_history (
    id              bigserial PRIMARY KEY,
    version         text NOT NULL,
    action          text NOT NULL,
    old_state       text,
    new_state       text,
    performed_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    performed_by    text NOT NULL,
    detail          text
);
CREATE INDEX migration_history_version_idx ON migrate_ops.migration_history (version, id);
COMMENT ON TABLE migrate_ops.migration_history IS 'Audit trail of every ledger change.';

-- pg_dump keeps the ledger's rows.
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.migrations', '');
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.migration_history', '');
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.migration_history_id_seq', '');

CREATE FUNCTION migrate_ops.checksum(script text)
RETURNS text
AS 'MODULE_PATHNAME', 'migrate_ops_checksum'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION migrate_ops.checksum(text) IS
    'SHA-256 (hex) of a script, CRLF normalised to LF and trailing newlines ignored.';

CREATE PROCEDURE migrate_ops.apply(version text, script text,
                                   down_script text DEFAULT NULL,
                                   description text DEFAULT NULL)
AS 'MODULE_PATHNAME', 'migrate_ops_apply'
LANGUAGE C;
COMMENT ON PROCEDURE migrate_ops.apply(text, text, text, text) IS
    'Run a migration inside the server, as the calling role, and record it in the ledger.';

CREATE PROCEDURE migrate_ops.rollback(version text)
AS 'MODULE_PATHNAME', 'migrate_ops_rollback'
LANGUAGE C;
COMMENT ON PROCEDURE migrate_ops.rollback(text) IS
    'Run the stored down script of an applied migration and mark it rolled back.';

CREATE FUNCTION migrate_ops.start(version text, checksum text DEFAULT NULL,
                                  description text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'migrate_ops_start'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.start(text, text, text) IS
    'Record-only mode: open a migration that another tool runs in this session.';

CREATE FUNCTION migrate_ops.finish(version text)
RETURNS void
AS 'MODULE_PATHNAME', 'migrate_ops_finish'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.finish(text) IS
    'Record-only mode: the migration opened by start() succeeded.';

CREATE FUNCTION migrate_ops.fail(version text, message text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'migrate_ops_fail'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.fail(text, text) IS
    'Record-only mode: the migration opened by start() failed.';

CREATE FUNCTION migrate_ops.status(expected jsonb DEFAULT NULL)
RETURNS TABLE (version text, state text, description text, checksum text,
               expected_checksum text, source text, applied_by text,
               started_at timestamptz, finished_at timestamptz, duration interval,
               error text)
AS 'MODULE_PATHNAME', 'migrate_ops_status'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.status(jsonb) IS
    'One row per version; given the repository''s list also pending, checksum_mismatch and missing_from_repo.';

CREATE FUNCTION migrate_ops.resolve(version text, state text, reason text)
RETURNS void
AS 'MODULE_PATHNAME', 'migrate_ops_resolve'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.resolve(text, text, text) IS
    'Mark a failed migration applied or rolled_back by hand, recording who and why.';

CREATE FUNCTION migrate_ops.baseline(version text, description text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'migrate_ops_baseline'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.baseline(text, text) IS
    'Adopt an existing database: everything up to version counts as applied.';
