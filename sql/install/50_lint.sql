-- Safety analysis before a deploy (DESIGN §6): lint() and plan().

-- The lint rules migrate_ops ships, one row per rule implemented in
-- src/lint.c.  Owned by the extension and rewritten by its upgrade scripts
-- (so a new version can add rules or reword them); a team's tuning lives in
-- lint_rule_overrides, which pg_dump keeps and upgrades never touch.
CREATE TABLE migrate_ops.lint_rule_catalog (
    id          text PRIMARY KEY,
    category    text NOT NULL,
    severity    text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    description text NOT NULL,
    hint        text NOT NULL,
    CONSTRAINT lint_rule_catalog_category_check
        CHECK (category IN ('data_loss', 'blocking', 'rewrite', 'breaking', 'transaction', 'locking')),
    CONSTRAINT lint_rule_catalog_severity_check
        CHECK (severity IN ('error', 'warning', 'info'))
);
COMMENT ON TABLE migrate_ops.lint_rule_catalog IS
    'The lint rules as migrate_ops ships them; tune them through migrate_ops.lint_rules.';

-- A team's changes to the shipped rules: only what differs from the default.
CREATE TABLE migrate_ops.lint_rule_overrides (
    id          text PRIMARY KEY
                REFERENCES migrate_ops.lint_rule_catalog (id) ON DELETE CASCADE ON UPDATE CASCADE,
    severity    text,
    enabled     boolean,
    note        text,
    changed_by  text NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    CONSTRAINT lint_rule_overrides_severity_check
        CHECK (severity IN ('error', 'warning', 'info'))
);
COMMENT ON TABLE migrate_ops.lint_rule_overrides IS
    'A team''s tuning of the lint rules (written through UPDATE migrate_ops.lint_rules).';
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.lint_rule_overrides', '');

-- The rules as lint() applies them: the shipped rule with the team's tuning.
CREATE VIEW migrate_ops.lint_rules AS
SELECT c.id, c.category,
       COALESCE(o.severity, c.severity) AS severity,
       COALESCE(o.enabled, c.enabled) AS enabled,
       c.description, c.hint,
       c.severity AS default_severity, c.enabled AS default_enabled,
       o.note, o.changed_by, o.changed_at
  FROM migrate_ops.lint_rule_catalog c
  LEFT JOIN migrate_ops.lint_rule_overrides o ON o.id = c.id;
COMMENT ON VIEW migrate_ops.lint_rules IS
    'The lint rules; UPDATE severity, enabled or note to tune one (NULL restores the default).';

CREATE FUNCTION migrate_ops.lint_rules_update()
RETURNS trigger
AS 'MODULE_PATHNAME', 'migrate_ops_lint_rules_update'
LANGUAGE C;
COMMENT ON FUNCTION migrate_ops.lint_rules_update() IS
    'INSTEAD OF UPDATE trigger of migrate_ops.lint_rules: records a team''s tuning.';
CREATE TRIGGER lint_rules_update INSTEAD OF UPDATE ON migrate_ops.lint_rules
    FOR EACH ROW EXECUTE FUNCTION migrate_ops.lint_rules_update();

INSERT INTO migrate_ops.lint_rule_catalog (id, category, severity, description, hint) VALUES
('drop_table', 'data_loss', 'error',
 'DROP TABLE of an existing table deletes it with all its rows.',
 'Rename the table out of the way first (or stop writing to it), keep a backup, and drop it in a later migration once nothing reads it.'),
('drop_schema', 'data_loss', 'error',
 'DROP SCHEMA deletes the schema and, with CASCADE, every table in it.',
 'Drop the schema''s objects one by one in reviewed migrations; never CASCADE in production.'),
('drop_column', 'data_loss', 'error',
 'ALTER TABLE … DROP COLUMN deletes the column''s data and breaks queries that name it.',
 'Stop reading and writing the column in the application first, then drop it in a later migration.'),
('drop_type', 'data_loss', 'error',
 'DROP TYPE / DROP DOMAIN deletes the type and, with CASCADE, every column of that type.',
 'Move the columns to another type first; drop the type without CASCADE.'),
('truncate', 'data_loss', 'error',
 'TRUNCATE of an existing table deletes every row.',
 'Keep a copy of the rows (CREATE TABLE … AS) or delete in batches with a WHERE clause.'),
('delete_without_where', 'data_loss', 'error',
 'DELETE without WHERE deletes every row of an existing table.',
 'Add a WHERE clause; delete large sets in batches.'),
('update_without_where', 'data_loss', 'error',
 'UPDATE without WHERE changes every row of an existing table.',
 'Add a WHERE clause; update large tables in batches.'),
('alter_column_type_lossy', 'data_loss', 'error',
 'ALTER COLUMN … TYPE to a type that cannot hold every value of the old one (narrowing, rounding, reparsing).',
 'Add a new column of the new type, backfill and check it, then switch over and drop the old column.'),
('create_index_not_concurrently', 'blocking', 'warning',
 'CREATE INDEX without CONCURRENTLY on an existing table blocks its writes while the index builds.',
 'CREATE INDEX CONCURRENTLY in a migration of its own, run outside a transaction.'),
('drop_index_not_concurrently', 'blocking', 'warning',
 'DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table.',
 'DROP INDEX CONCURRENTLY in a migration of its own, run outside a transaction.'),
('reindex_not_concurrently', 'blocking', 'warning',
 'REINDEX without CONCURRENTLY blocks writes to the table, and reads through the index.',
 'REINDEX … CONCURRENTLY in a migration of its own, run outside a transaction.'),
('add_foreign_key_without_not_valid', 'blocking', 'warning',
 'ADD FOREIGN KEY without NOT VALID validates every row while blocking writes to both tables.',
 'ADD CONSTRAINT … FOREIGN KEY … NOT VALID, then VALIDATE CONSTRAINT separately.'),
('add_check_without_not_valid', 'blocking', 'warning',
 'ADD CHECK without NOT VALID scans the whole table under an ACCESS EXCLUSIVE lock.',
 'ADD CONSTRAINT … CHECK (…) NOT VALID, then VALIDATE CONSTRAINT separately.'),
('set_not_null', 'blocking', 'warning',
 'SET NOT NULL on an existing column scans the whole table under an ACCESS EXCLUSIVE lock (unless a valid CHECK proves it).',
 'Add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (no scan) and drop the CHECK.'),
('add_unique_without_index', 'blocking', 'warning',
 'ADD PRIMARY KEY / UNIQUE without USING INDEX builds the index under an ACCESS EXCLUSIVE lock.',
 'CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … USING INDEX.'),
('detach_partition_not_concurrently', 'blocking', 'warning',
 'DETACH PARTITION without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the partitioned table.',
 'DETACH PARTITION … CONCURRENTLY in a migration of its own, run outside a transaction.'),
('add_column_volatile_default', 'rewrite', 'warning',
 'ADD COLUMN with a volatile default (or serial, identity, stored generated, constrained domain) rewrites the table; constant defaults do not (PostgreSQL 11+).',
 'Add the column without a default or with a constant one, then fill it in batches.'),
('alter_column_type_rewrite', 'rewrite', 'warning',
 'ALTER COLUMN … TYPE that is not binary-coercible rewrites the table and its indexes under an ACCESS EXCLUSIVE lock.',
 'Add a new column, backfill it in batches, switch over, drop the old one.'),
('set_logged_unlogged', 'rewrite', 'warning',
 'SET LOGGED / SET UNLOGGED rewrites the table under an ACCESS EXCLUSIVE lock.',
 'Do it in a maintenance window, or create the table with the wanted persistence.'),
('set_tablespace', 'rewrite', 'warning',
 'SET TABLESPACE / SET ACCESS METHOD copies the table under an ACCESS EXCLUSIVE lock.',
 'Do it in a maintenance window, or use pg_repack.'),
('vacuum_full', 'rewrite', 'warning',
 'VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock.',
 'Use plain VACUUM, or pg_repack to reclaim space online.'),
('cluster', 'rewrite', 'warning',
 'CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock.',
 'Use pg_repack to reorder a table online.'),
('rename_table', 'breaking', 'warning',
 'Renaming a table or view breaks running application code that uses the old name.',
 'Rename, then keep a view with the old name until every reader has moved.'),
('rename_column', 'breaking', 'warning',
 'Renaming a column breaks running application code that uses the old name.',
 'Expand and contract: add the new column, write both, backfill, move readers, drop the old one.'),
('drop_not_null', 'breaking', 'info',
 'DROP NOT NULL: readers of the column must now expect NULL.',
 'Make sure every reader handles NULL before writers start sending it.'),
('enum_add_value_unordered', 'breaking', 'info',
 'ALTER TYPE … ADD VALUE without BEFORE/AFTER appends the label at the end of the sort order; it cannot be used in the same transaction.',
 'Say where the label goes with BEFORE or AFTER; use the new label in a later migration.'),
('non_transactional', 'transaction', 'error',
 'A statement that cannot run inside a transaction (CREATE INDEX CONCURRENTLY, VACUUM, …): apply() refuses the migration.',
 'Run it with psql or your deploy tool and record it with migrate_ops.start() and migrate_ops.finish().'),
('transaction_control', 'transaction', 'error',
 'BEGIN, COMMIT, ROLLBACK or SAVEPOINT inside a migration: apply() manages the transaction and refuses it.',
 'Remove the transaction control; split the script into several migrations if it needs several transactions.'),
('lock_timeout_missing', 'locking', 'warning',
 'A statement takes an ACCESS EXCLUSIVE lock on an existing table with no lock_timeout in effect: while it waits, every query on the table queues behind it.',
 'SET lock_timeout before the statement (apply() uses migrate_ops.lock_timeout, 10s by default).'),
('takes_lock', 'locking', 'info',
 'The lock a statement takes on an existing relation (stronger than ROW EXCLUSIVE) when no other finding names it.',
 'Nothing to change; keep the migration short.');

CREATE FUNCTION migrate_ops.lint(script text)
RETURNS TABLE (statement integer, line integer, command text, rule_id text, severity text,
               lock_mode text, relation text, message text, safe_alternative text)
AS 'MODULE_PATHNAME', 'migrate_ops_lint'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.lint(text) IS
    'Safety analysis of a migration script on PostgreSQL''s own parser: one row per finding.';

CREATE FUNCTION migrate_ops.plan(script text)
RETURNS TABLE (section text, statement integer, line integer, command text, kind text,
               object text, detail text, rows bigint, ms numeric, expected text, actual text)
AS 'MODULE_PATHNAME', 'migrate_ops_plan'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.plan(text) IS
    'Dry run: executes the script in a subtransaction that is always rolled back and reports locks, rewrites, rows, time and schema changes.';
