-- Working with the deploy tools teams already use (issue 10): Prisma,
-- Flyway, dbmate, golang-migrate and Sqitch.  migrate_ops recognises their
-- ledger tables by shape and puts a trigger on each, which records what the
-- tool writes in migrate_ops.migrations (record-only mode, source = the
-- tool).  The trigger depends on the extension: DROP EXTENSION removes it.

-- The trigger on a tool's ledger table (its argument names the tool).  It
-- runs as the tool's role and writes the ledger as the extension's owner;
-- firing a trigger needs no EXECUTE privilege, so nothing is granted.
CREATE FUNCTION migrate_ops.tool_ledger_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'migrate_ops_tool_ledger_trigger'
LANGUAGE C;
COMMENT ON FUNCTION migrate_ops.tool_ledger_trigger() IS
    'Trigger on a deploy tool''s ledger table: records its migrations in migrate_ops.migrations (never makes the tool fail).';

CREATE FUNCTION migrate_ops.tool_ledgers()
RETURNS TABLE (tool text, ledger regclass, version_prefix text, tracked boolean)
AS 'MODULE_PATHNAME', 'migrate_ops_tool_ledgers'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.tool_ledgers() IS
    'Every table recognised as the ledger of Prisma, Flyway, dbmate, golang-migrate or Sqitch, and whether migrate_ops records it.';

CREATE FUNCTION migrate_ops.sync()
RETURNS TABLE (tool text, ledger regclass, version text, state text)
AS 'MODULE_PATHNAME', 'migrate_ops_sync'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.sync() IS
    'Track every recognised tool ledger and record the versions migrate_ops does not know yet (idempotent); returns what it recorded.';

-- The ledgers that exist already are tracked now (their history is
-- recorded by sync(), on demand).
CREATE FUNCTION migrate_ops.tool_ledgers_install()
RETURNS integer
AS 'MODULE_PATHNAME', 'migrate_ops_tool_ledgers_install'
LANGUAGE C VOLATILE;
SELECT migrate_ops.tool_ledgers_install();
DROP FUNCTION migrate_ops.tool_ledgers_install();
