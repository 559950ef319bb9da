-- Deploy gates as psql users meet them: each CALL outside a transaction
-- block (autocommit).  In production a refused deploy commits its
-- preflight.blocked event before the error, and leaves no ledger row.
CREATE EXTENSION IF NOT EXISTS migrate_ops;
CREATE ROLE regress_deployer;
CREATE ROLE regress_reviewer;
GRANT USAGE, CREATE ON SCHEMA public TO regress_deployer;
GRANT EXECUTE ON PROCEDURE migrate_ops.apply(text, text, text, text) TO regress_deployer;
GRANT EXECUTE ON FUNCTION migrate_ops.preflight(text, text, jsonb) TO regress_deployer;
GRANT EXECUTE ON FUNCTION migrate_ops.approve(text, text, text) TO regress_reviewer;

SET ROLE regress_deployer;
CREATE TABLE customers (id int PRIMARY KEY, email text, legacy_code text);
INSERT INTO customers VALUES (1, 'a@example.com', 'X1');
RESET ROLE;

-- the checklist in development: nothing blocks, but it says what would
SELECT "check", ok, severity FROM migrate_ops.preflight('2', 'ALTER TABLE customers DROP COLUMN legacy_code;');

-- production: a destructive migration without backup or approval is refused (MO002)
ALTER DATABASE contrib_regression SET migrate_ops.environment = production;
\c
SHOW migrate_ops.environment;
SET ROLE regress_deployer;
CALL migrate_ops.apply('2', 'ALTER TABLE customers DROP COLUMN legacy_code;');
RESET ROLE;
-- nothing ran, nothing was recorded in the ledger ...
SELECT legacy_code FROM customers;
SELECT count(*) AS ledger_rows FROM migrate_ops.migrations;
-- ... but the refusal was committed as an event, for the team
SELECT event, payload->>'version' AS version, payload->>'role' AS role,
       jsonb_path_query_array(payload, '$.checks[*].check') AS checks
  FROM migrate_ops.events WHERE event LIKE 'preflight.%' ORDER BY id;

-- a backup and another role's approval unblock it
SELECT migrate_ops.record_backup('nightly', 's3://backups/regress/nightly', 1048576, now() - interval '3 hours') AS backup_id;
SET ROLE regress_reviewer;
SELECT migrate_ops.approve('2', migrate_ops.checksum('ALTER TABLE customers DROP COLUMN legacy_code;'), 'reviewed') AS approval_id;
RESET ROLE;
SET ROLE regress_deployer;
SELECT "check", ok FROM migrate_ops.preflight('2', 'ALTER TABLE customers DROP COLUMN legacy_code;') WHERE severity = 'error';
CALL migrate_ops.apply('2', 'ALTER TABLE customers DROP COLUMN legacy_code;');
RESET ROLE;
SELECT version, state, applied_by FROM migrate_ops.migrations;
SELECT * FROM customers;

-- an edited migration voids its approval
SET ROLE regress_deployer;
CALL migrate_ops.apply('3', 'ALTER TABLE customers DROP COLUMN email;');
RESET ROLE;
SET ROLE regress_reviewer;
SELECT migrate_ops.approve('3', migrate_ops.checksum('ALTER TABLE customers DROP COLUMN email;')) > 0 AS approved;
RESET ROLE;
SET ROLE regress_deployer;
CALL migrate_ops.apply('3', 'ALTER TABLE customers DROP COLUMN email CASCADE;');
SELECT detail FROM migrate_ops.preflight('3', 'ALTER TABLE customers DROP COLUMN email CASCADE;') WHERE "check" = 'approvals';
RESET ROLE;
SELECT count(*) AS blocked_events FROM migrate_ops.events WHERE event = 'preflight.blocked';

-- staging: the same failing checks are a WARNING and the deploy proceeds
ALTER DATABASE contrib_regression SET migrate_ops.environment = staging;
\c
SET ROLE regress_deployer;
CALL migrate_ops.apply('3', 'ALTER TABLE customers DROP COLUMN email CASCADE;');
RESET ROLE;
SELECT version, state FROM migrate_ops.migrations ORDER BY version;

ALTER DATABASE contrib_regression RESET migrate_ops.environment;
\c
SHOW migrate_ops.environment;
DROP TABLE customers;
DROP OWNED BY regress_deployer, regress_reviewer;
DROP ROLE regress_deployer;
DROP ROLE regress_reviewer;
DROP EXTENSION migrate_ops;
DROP SCHEMA migrate_ops;
