-- DDL capture and attribution (DESIGN §3): extension-owned event triggers
-- write every schema change to migrate_ops.ddl_log, with who, from where,
-- and through which migration.

CREATE TABLE migrate_ops.ddl_log (
    id                  bigserial PRIMARY KEY,
    logged_at           timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    event               text NOT NULL,
    command_tag         text NOT NULL,
    object_type         text,
    object_identity     text,
    schema_name         text,
    rewrite_reason      integer,
    role                text NOT NULL,
    session_role        text NOT NULL,
    application_name    text,
    client_addr         inet,
    backend_pid         integer NOT NULL,
    txid                xid8 NOT NULL,
    migration           text,
    statement           text,
    statement_truncated boolean NOT NULL DEFAULT false
);
-- drift() attribution: the latest row for an object identity.
CREATE INDEX ddl_log_object_identity_idx ON migrate_ops.ddl_log (object_identity, id);
COMMENT ON TABLE migrate_ops.ddl_log IS
    'Every captured DDL command: who, from where, when, and the migration it belonged to (NULL = out of band). Append-only.';
COMMENT ON COLUMN migrate_ops.ddl_log.event IS 'ddl_command_end, sql_drop or table_rewrite.';
COMMENT ON COLUMN migrate_ops.ddl_log.role IS 'current_user when the command ran.';
COMMENT ON COLUMN migrate_ops.ddl_log.session_role IS 'session_user (the login role) when the command ran.';
COMMENT ON COLUMN migrate_ops.ddl_log.migration IS
    'Version of the migration running in that session (apply(), rollback(), start()…finish()); NULL = out-of-band DDL.';
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.ddl_log', '');
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.ddl_log_id_seq', '');

-- The event-trigger function: one C function for the three events.  It runs
-- as the role whose DDL fired it (no SECURITY DEFINER, no SET clause: both
-- would cost a settings save and restore on every DDL command) and only
-- collects; the log, which no other role may write, is written by C code as
-- its owner, in a restricted security context, without looking up a name.
CREATE FUNCTION migrate_ops.ddl_capture()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'migrate_ops_ddl_capture'
LANGUAGE C;
COMMENT ON FUNCTION migrate_ops.ddl_capture() IS
    'Event trigger: records DDL in migrate_ops.ddl_log (never makes the DDL fail).';

-- Append-only: UPDATE, DELETE and TRUNCATE of the log are refused for every
-- role, its owner included; only the extension's own retention pruning
-- removes rows.
CREATE FUNCTION migrate_ops.ddl_log_append_only()
RETURNS trigger
AS 'MODULE_PATHNAME', 'migrate_ops_ddl_log_append_only'
LANGUAGE C;
COMMENT ON FUNCTION migrate_ops.ddl_log_append_only() IS
    'Trigger: refuses UPDATE, DELETE and TRUNCATE of migrate_ops.ddl_log.';

-- Retention by hand (the worker prunes with migrate_ops.retention when it runs).
CREATE FUNCTION migrate_ops.prune_ddl_log(older_than interval)
RETURNS bigint
AS 'MODULE_PATHNAME', 'migrate_ops_prune_ddl_log'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.prune_ddl_log(interval) IS
    'Delete DDL log rows logged more than older_than ago; returns how many.';

CREATE TRIGGER ddl_log_append_only
    BEFORE UPDATE OR DELETE ON migrate_ops.ddl_log
    FOR EACH STATEMENT EXECUTE FUNCTION migrate_ops.ddl_log_append_only();
CREATE TRIGGER ddl_log_no_truncate
    BEFORE TRUNCATE ON migrate_ops.ddl_log
    FOR EACH STATEMENT EXECUTE FUNCTION migrate_ops.ddl_log_append_only();

CREATE EVENT TRIGGER migrate_ops_ddl_command_end ON ddl_command_end
    EXECUTE FUNCTION migrate_ops.ddl_capture();
CREATE EVENT TRIGGER migrate_ops_sql_drop ON sql_drop
    EXECUTE FUNCTION migrate_ops.ddl_capture();
CREATE EVENT TRIGGER migrate_ops_table_rewrite ON table_rewrite
    EXECUTE FUNCTION migrate_ops.ddl_capture();
