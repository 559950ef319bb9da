-- lint() and plan() as psql users meet them (the README's examples).
CREATE EXTENSION IF NOT EXISTS migrate_ops;
CREATE TABLE customers (id int PRIMARY KEY, email text);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int, total numeric(10,2), note varchar(200));
INSERT INTO customers SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 10) g;
INSERT INTO orders SELECT g, 1 + g % 10, g * 1.5, 'n' FROM generate_series(1, 1000) g;

-- lint(): one row per finding
\x on
SELECT * FROM migrate_ops.lint($$
ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';
ALTER TABLE orders ADD COLUMN uid uuid DEFAULT gen_random_uuid();
CREATE INDEX orders_status_idx ON orders (status);
ALTER TABLE orders ALTER COLUMN total TYPE numeric(8,2);
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk
    FOREIGN KEY (customer_id) REFERENCES customers (id);
$$);
\x off

-- the same script, the short view
SELECT statement, line, rule_id, severity, lock_mode, relation FROM migrate_ops.lint($$
ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';
ALTER TABLE orders ADD COLUMN uid uuid DEFAULT gen_random_uuid();
CREATE INDEX orders_status_idx ON orders (status);
ALTER TABLE orders ALTER COLUMN total TYPE numeric(8,2);
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk
    FOREIGN KEY (customer_id) REFERENCES customers (id);
$$);

-- safe forms: nothing to report but the locks they take
SELECT statement, rule_id, severity, lock_mode, relation FROM migrate_ops.lint($$
SET lock_timeout = '5s';
ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';
ALTER TABLE orders ALTER COLUMN note TYPE text;
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk
    FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;
$$);

-- a syntax error points at the script's own line
SELECT * FROM migrate_ops.lint(E'ALTER TABLE orders ADD COLUMN a int;\nALTER TABLE orders ADD COLUMN b int DEFAULT;');

-- tuning: disable a rule, change a severity
UPDATE migrate_ops.lint_rules SET enabled = false, note = 'indexes are built in maintenance windows'
 WHERE id = 'create_index_not_concurrently';
UPDATE migrate_ops.lint_rules SET severity = 'error' WHERE id = 'add_column_volatile_default';
SELECT id, severity, enabled, default_severity, note FROM migrate_ops.lint_rules
 WHERE severity <> default_severity OR enabled <> default_enabled ORDER BY id;
SELECT statement, rule_id, severity FROM migrate_ops.lint($$
ALTER TABLE orders ADD COLUMN uid uuid DEFAULT gen_random_uuid();
CREATE INDEX orders_status_idx ON orders (note);
$$);
UPDATE migrate_ops.lint_rules SET severity = NULL, enabled = NULL, note = NULL
 WHERE id IN ('create_index_not_concurrently', 'add_column_volatile_default');

-- plan(): the dry run (times and relfilenodes vary, so they are masked here)
SELECT section, statement, command, kind, object,
       regexp_replace(detail, 'relfilenode \d+ -> \d+', 'relfilenode N -> M') AS detail, rows
  FROM migrate_ops.plan($$
ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';
UPDATE orders SET status = 'paid' WHERE id <= 100;
ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint;
CREATE INDEX orders_status_idx ON orders (status);
$$);
SELECT count(*) AS timed FROM migrate_ops.plan('SELECT 1; SELECT 2') WHERE ms >= 0;

-- a failing script: reported, and nothing persists
SELECT section, statement, command, kind, detail FROM migrate_ops.plan($$
ALTER TABLE orders ADD COLUMN status text;
ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total < 100);
DROP TABLE orders;
$$) WHERE section IN ('statement', 'error');
\d orders

-- apply() stores the findings with the migration
CALL migrate_ops.apply('20260201_01', $$ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';
CREATE INDEX orders_status_idx ON orders (status);$$);
SELECT version, state, f->>'statement' AS statement, f->>'rule_id' AS rule_id, f->>'severity' AS severity
  FROM migrate_ops.migrations, jsonb_array_elements(lint_findings) f
 WHERE version = '20260201_01' ORDER BY 1, 3;
