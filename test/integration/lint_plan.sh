#!/usr/bin/env bash
# lint() and plan() with real sessions: plan() takes real locks (another
# session sees them) and gives up on a lock held elsewhere after
# migrate_ops.lock_timeout, reporting 55P03 and leaving nothing behind; a
# team's lint tuning survives pg_dump/pg_restore without clashing with the
# shipped rules; apply() on a 0.1.0 schema (library upgraded first) works and
# stores findings once the extension is updated.
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
it_db it_lint

it_val "CREATE TABLE accounts (id int PRIMARY KEY, balance numeric);
        INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 100) g" >/dev/null

# 1. plan() really locks: while it runs, another session sees its ACCESS EXCLUSIVE lock.
mo_psql -d "$IT_DB" -c "SELECT count(*) FROM migrate_ops.plan('ALTER TABLE accounts ADD COLUMN note text; SELECT pg_sleep(1)')" >/dev/null &
planner=$!
it_wait "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
          WHERE l.relation = 'accounts'::regclass AND l.mode = 'AccessExclusiveLock' AND l.granted
            AND a.query LIKE '%migrate_ops.plan%'" 1
it_ok "another session sees plan()'s ACCESS EXCLUSIVE lock on accounts while it runs"
wait $planner || it_fail "plan() failed"
it_expect "SELECT count(*) FROM pg_locks WHERE relation = 'accounts'::regclass" 0 "the lock is gone with the dry run"
it_expect "SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'note'" 0 \
    "and so is the column"

# 2. A lock held by another session: plan() waits migrate_ops.lock_timeout, then reports 55P03.
mo_psql -d "$IT_DB" -c "BEGIN" -c "LOCK TABLE accounts IN ACCESS SHARE MODE" -c "SELECT pg_sleep(2)" -c "COMMIT" >/dev/null &
holder=$!
it_wait "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
          WHERE l.relation = 'accounts'::regclass AND a.query LIKE '%pg_sleep(2)%'" 1
start=$(date +%s%N)
out=$(PGOPTIONS="-c migrate_ops.lock_timeout=300ms" it_val "SELECT section || ':' || statement || ':' || coalesce(kind, '')
        FROM migrate_ops.plan('UPDATE accounts SET balance = 1 WHERE id = 1; ALTER TABLE accounts ADD COLUMN note text; SELECT 3')
        WHERE section IN ('statement', 'error')")
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$out" = "$(printf 'statement:1:\nerror:2:55P03')" ] || it_fail "unexpected plan: $out"
it_ok "plan() gave up on the held lock after migrate_ops.lock_timeout with 55P03 (${elapsed_ms} ms), statement 2 named"
it_expect "SELECT count(*) FROM accounts WHERE balance = 1" 0 "the UPDATE before it was rolled back"
wait $holder || it_fail "the lock holder failed"
it_ok "the other session's transaction was not disturbed"

# 3. A team's tuning survives pg_dump / pg_restore; the shipped rules come from CREATE EXTENSION.
it_val "UPDATE migrate_ops.lint_rules SET enabled = false, note = 'we use pg_repack' WHERE id = 'cluster';
        UPDATE migrate_ops.lint_rules SET severity = 'warning' WHERE id = 'truncate'" >/dev/null
"$MO_BIN/pg_dump" -U postgres -Fc -f "$MO_WORK/it_lint.dump" "$IT_DB"
mo_psql -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS it_lint_restored" -c "CREATE DATABASE it_lint_restored" >/dev/null
"$MO_BIN/pg_restore" -U postgres --exit-on-error -d it_lint_restored "$MO_WORK/it_lint.dump" ||
    it_fail "pg_restore failed"
IT_DB=it_lint_restored
it_expect "SELECT count(*) FROM migrate_ops.lint_rules" 30 "restored: the 30 shipped rules, once"
it_expect "SELECT string_agg(id || ':' || severity || ':' || enabled || ':' || coalesce(note, ''), ',' ORDER BY id)
             FROM migrate_ops.lint_rules WHERE severity <> default_severity OR enabled <> default_enabled" \
    "cluster:warning:false:we use pg_repack,truncate:warning:true:" "restored: the team's tuning"
it_expect "SELECT string_agg(rule_id || ':' || severity, ',') FROM migrate_ops.lint('TRUNCATE accounts; CLUSTER accounts USING accounts_pkey')" \
    "truncate:warning,takes_lock:info" "restored: lint() applies it (cluster disabled: only its lock is shown)"
mo_psql -d postgres -c "DROP DATABASE it_lint_restored" >/dev/null

# 4. The library upgraded before the schema: apply() on 0.1.0 stores no findings and works; after the update it does.
mo_psql -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS it_lint_old" -c "CREATE DATABASE it_lint_old" >/dev/null
IT_DB=it_lint_old
mo_psql -d "$IT_DB" -c "CREATE EXTENSION migrate_ops VERSION '0.1.0'" >/dev/null
mo_psql -d "$IT_DB" -c "CALL migrate_ops.apply('1', 'CREATE TABLE t (id int); TRUNCATE t;')" >/dev/null ||
    it_fail "apply() on a 0.1.0 schema failed"
it_expect "SELECT state FROM migrate_ops.migrations WHERE version = '1'" applied "apply() works on a 0.1.0 schema"
mo_psql -d "$IT_DB" -c "ALTER EXTENSION migrate_ops UPDATE" >/dev/null
mo_psql -d "$IT_DB" -c "CALL migrate_ops.apply('2', 'TRUNCATE t;')" >/dev/null
it_expect "SELECT lint_findings->0->>'rule_id' FROM migrate_ops.migrations WHERE version = '2'" truncate \
    "after ALTER EXTENSION UPDATE apply() stores the findings"
mo_psql -d postgres -c "DROP DATABASE it_lint_old" >/dev/null
