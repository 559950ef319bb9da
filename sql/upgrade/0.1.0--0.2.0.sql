-- migrate_ops 0.1.0 -> 0.2.0
\echo Use "ALTER EXTENSION migrate_ops UPDATE TO '0.2.0'" to load this file. \quit

-- Changes to 0.1.0 objects go here; the parts new in 0.2.0 (sql/install/
-- other than 00_ledger.sql) follow this file in the built upgrade script.

-- lint() findings of the script, stored by apply() (issue 6).
ALTER TABLE migrate_ops.migrations ADD COLUMN lint_findings jsonb;
