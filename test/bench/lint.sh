#!/usr/bin/env bash
# test/bench/lint.sh — lint() over a 5,000-statement migration script: time
# per statement, against the named baseline measured in the same run on the
# same script: PostgreSQL's raw_parser() alone (test/bench/raw_parse.c, built
# here, never installed).  Also plan() of a 500-statement script per
# statement, for scale.  Runs on a throwaway cluster like test/run.
#
#   test/bench/lint.sh [statements] [rounds]     defaults: 5000 5
set -euo pipefail
source "$(dirname "$0")/../lib/cluster.sh"
n=${1:-5000}
rounds=${2:-5}

trap mo_cleanup EXIT
mo_setup
mo_cluster_start
mo_psql -c "CREATE DATABASE bench" >/dev/null
export PGDATABASE=bench

# The baseline: raw_parser() alone, as a throwaway C function.
mkdir -p "$MO_WORK/raw_parse"
cp "$MO_ROOT/test/bench/raw_parse.c" "$MO_WORK/raw_parse/"
printf 'MODULES = raw_parse\nPG_CONFIG ?= pg_config\nPGXS := $(shell $(PG_CONFIG) --pgxs)\ninclude $(PGXS)\n' >"$MO_WORK/raw_parse/Makefile"
make -s -C "$MO_WORK/raw_parse" PG_CONFIG=/usr/lib/postgresql/$MO_PGMAJOR/bin/pg_config >/dev/null
mo_psql -c "CREATE EXTENSION migrate_ops" \
    -c "CREATE FUNCTION bench_raw_parse(text) RETURNS int AS '$MO_WORK/raw_parse/raw_parse.so', 'bench_raw_parse' LANGUAGE C STRICT" >/dev/null

# 50 existing tables with rows, so that lint() resolves names, column types
# and constraints in the catalog as it would in a real database.
mo_psql >/dev/null <<'SQL'
DO $$
BEGIN
    FOR i IN 1..50 LOOP
        EXECUTE format('CREATE TABLE t%s (id bigint PRIMARY KEY, ref int, amount numeric(10,2), note varchar(50), status text)', i);
        EXECUTE format('INSERT INTO t%s SELECT g, g %% 7, g, ''n'', ''new'' FROM generate_series(1, 200) g', i);
    END LOOP;
END $$;
-- A migration script of n statements: a realistic mix, one in ten on a table it creates.
CREATE FUNCTION bench_script(n int) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(CASE i % 10
        WHEN 0 THEN format('CREATE TABLE new%s (id bigint PRIMARY KEY, t%s_id bigint REFERENCES t%s (id))', i, 1 + i % 50, 1 + i % 50)
        WHEN 1 THEN format('ALTER TABLE t%s ADD COLUMN c%s text NOT NULL DEFAULT ''x''', 1 + i % 50, i)
        WHEN 2 THEN format('ALTER TABLE t%s ADD COLUMN u%s timestamptz DEFAULT clock_timestamp()', 1 + i % 50, i)
        WHEN 3 THEN format('CREATE INDEX ON t%s (status)', 1 + i % 50)
        WHEN 4 THEN format('ALTER TABLE t%s ALTER COLUMN note TYPE varchar(%s)', 1 + i % 50, 10 + i % 100)
        WHEN 5 THEN format('UPDATE t%s SET status = ''done'' WHERE id < %s', 1 + i % 50, i)
        WHEN 6 THEN format('ALTER TABLE t%s ADD CONSTRAINT fk%s FOREIGN KEY (ref) REFERENCES t%s (id) NOT VALID', 1 + i % 50, i, 1 + (i + 1) % 50)
        WHEN 7 THEN format('ALTER TABLE t%s ALTER COLUMN status SET NOT NULL', 1 + i % 50)
        WHEN 8 THEN format('COMMENT ON COLUMN t%s.note IS ''statement %s''', 1 + i % 50, i)
        ELSE format('INSERT INTO t%s (id, amount) VALUES (%s, %s.5)', 1 + i % 50, 100000 + i, i) END,
        E';\n' ORDER BY i) || ';'
      FROM generate_series(1, n) i $$;
-- Median wall time (ms) of rounds calls of sql.
CREATE FUNCTION bench_ms(sql text, rounds int) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz;
    times numeric[] := '{}';
BEGIN
    FOR r IN 1..rounds LOOP
        t := clock_timestamp();
        EXECUTE sql;
        times := times || (extract(epoch FROM clock_timestamp() - t) * 1000)::numeric;
    END LOOP;
    RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(times) x);
END $$;
SQL

mo_log "lint() over a $n-statement script (median of $rounds rounds)"
mo_psql -v n="$n" -v rounds="$rounds" -P pager=off <<'SQL'
CREATE TEMP TABLE s AS SELECT bench_script(:n) AS script;
SELECT octet_length(script) AS script_bytes, bench_raw_parse(script) AS statements,
       (SELECT count(*) FROM migrate_ops.lint(script)) AS findings FROM s;
CREATE TEMP TABLE r AS
SELECT bench_ms('SELECT bench_raw_parse(script) FROM s', :rounds) AS raw_parser_ms,
       bench_ms('SELECT count(*) FROM s, migrate_ops.lint(script)', :rounds) AS lint_ms;
SELECT round(raw_parser_ms, 1) AS "raw_parser() ms (baseline)",
       round(lint_ms, 1) AS "lint() ms",
       round(raw_parser_ms * 1000 / :n, 2) AS "raw_parser() µs/stmt",
       round(lint_ms * 1000 / :n, 2) AS "lint() µs/stmt",
       round(lint_ms / raw_parser_ms, 1) AS "lint / raw_parser"
  FROM r;
SQL

m=$((n / 10))
mo_log "plan() of a $m-statement script (median of $rounds rounds; it runs every statement)"
mo_psql -v m="$m" -v rounds="$rounds" -P pager=off <<'SQL'
CREATE TEMP TABLE s AS SELECT bench_script(:m) AS script;
CREATE TEMP TABLE r AS
SELECT bench_ms('SELECT bench_raw_parse(script) FROM s', :rounds) AS raw_parser_ms,
       bench_ms('SELECT count(*) FROM s, migrate_ops.plan(script)', :rounds) AS plan_ms;
SELECT (SELECT count(*) FROM s, migrate_ops.plan(script) WHERE section = 'error') AS errors,
       round(plan_ms, 1) AS "plan() ms", round(plan_ms * 1000 / :m, 1) AS "plan() µs/stmt",
       round(plan_ms / raw_parser_ms) AS "plan / raw_parser"
  FROM r;
SQL
