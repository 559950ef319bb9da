#!/usr/bin/env bash
# No false drift across a server restart and across pg_dump | pg_restore into
# a fresh database (identity by name, never by OID); snapshots written by
# concurrent sessions stay consistent.
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
it_db it_drift

# A schema with one of everything, hostile names and partitions included.
mo_psql -q -d "$IT_DB" <<'SQL'
CREATE ROLE it_drift_reader NOLOGIN;
CREATE EXTENSION hstore;
CREATE SCHEMA app;
CREATE TYPE app.status AS ENUM ('new', 'paid');
CREATE DOMAIN app.qty AS int DEFAULT 1 CHECK (VALUE > 0);
CREATE TYPE app.pair AS (x int, y text COLLATE "C");
CREATE TYPE app.frange AS RANGE (SUBTYPE = float8);
CREATE TABLE app.customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text UNIQUE, tags hstore);
CREATE TABLE app.orders (
    id bigserial PRIMARY KEY,
    customer_id bigint REFERENCES app.customers (id),
    status app.status NOT NULL DEFAULT 'new',
    qty app.qty,
    placed timestamptz DEFAULT '2025-01-01 12:00:00+01',
    total numeric(10,2) DEFAULT 0.5 CHECK (total >= 0),
    twice numeric GENERATED ALWAYS AS (total * 2) STORED) WITH (fillfactor = 80);
CREATE INDEX orders_status_idx ON app.orders (status) WHERE status <> 'paid';
CREATE TABLE app.events (id int, at date NOT NULL, note text DEFAULT 'x', PRIMARY KEY (id, at), CHECK (id > 0))
    PARTITION BY RANGE (at);
CREATE TABLE app.events_2025 PARTITION OF app.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE app.events_2026 PARTITION OF app.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE INDEX events_note_idx ON app.events (note);
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON app.orders FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE TRIGGER events_touch BEFORE UPDATE ON app.events FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE PROCEDURE app.archive(days int) LANGUAGE sql BEGIN ATOMIC SELECT days; END;
CREATE AGGREGATE app.total_sum(numeric) (SFUNC = numeric_add, STYPE = numeric, INITCOND = '0');
CREATE VIEW app.open_orders WITH (security_barrier) AS SELECT id, total FROM app.orders WHERE status = 'new';
CREATE MATERIALIZED VIEW app.daily AS SELECT customer_id, sum(total) AS total FROM app.orders GROUP BY 1;
CREATE UNIQUE INDEX daily_idx ON app.daily (customer_id);
ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON app.orders FOR SELECT TO it_drift_reader USING (customer_id > 0);
CREATE FUNCTION app.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
CREATE EVENT TRIGGER it_drift_evt ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION app.on_ddl();
COMMENT ON TABLE app.orders IS 'orders';
COMMENT ON COLUMN app.orders.total IS E'in EUR,\nVAT included';
GRANT USAGE ON SCHEMA app TO it_drift_reader;
GRANT SELECT ON app.open_orders TO it_drift_reader;
GRANT UPDATE (status) ON app.orders TO it_drift_reader;
REVOKE EXECUTE ON FUNCTION app.touch() FROM PUBLIC;
CREATE SCHEMA "Wëird ""One""";
CREATE TABLE "Wëird ""One"""."Ta
ble" ("Col 1" int DEFAULT 7, "UPPER" text COLLATE "C");
INSERT INTO app.customers (email) SELECT 'c' || g FROM generate_series(1, 20) g;
INSERT INTO app.orders (customer_id, total) SELECT (g % 20) + 1, g FROM generate_series(1, 200) g;
SQL
it_val "SELECT migrate_ops.snapshot('before restart')" >/dev/null
fp=$(it_val "SELECT migrate_ops.fingerprint()")
objects=$(it_val "SELECT object_count FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1")
[ "$objects" -gt 60 ] || it_fail "only $objects objects tracked"
it_ok "snapshot of $objects objects, fingerprint ${fp:0:12}…"

# 1. A server restart changes nothing.
mo_pg_ctl restart -m fast -w >/dev/null
it_expect "SELECT migrate_ops.fingerprint()" "$fp" "same fingerprint after a server restart"
it_expect "SELECT count(*) FROM migrate_ops.drift()" 0 "no drift after a server restart"

# 2. pg_dump | pg_restore into a fresh database: same fingerprint there, and
#    the snapshots came along (configuration tables), so drift() is empty.
dump=$MO_WORK/it_drift.dump
"$MO_BIN/pg_dump" -Fc -d "$IT_DB" -f "$dump"
mo_psql -d postgres -c "CREATE DATABASE it_drift_restored" >/dev/null
"$MO_BIN/pg_restore" -d it_drift_restored --exit-on-error "$dump"
IT_DB=it_drift_restored
it_expect "SELECT migrate_ops.fingerprint()" "$fp" "same fingerprint after pg_dump | pg_restore into a fresh database"
it_expect "SELECT count(*) FROM migrate_ops.drift()" 0 "and drift() against the restored snapshot is empty"
it_expect "SELECT count(*) FROM migrate_ops.snapshots" 1 "the snapshots were restored with the data"
# OIDs differ, names do not
it_expect "SELECT (SELECT oid FROM pg_class WHERE relname = 'orders') <> $(IT_DB=it_drift it_val "SELECT 'app.orders'::regclass::oid")" t \
    "(the restored objects have other OIDs)"

# Catalog signatures are made of names, not OIDs: the restored snapshot's
# signatures still lend their hashes (only expressions holding OIDs of user
# objects -- a view's relations, an enum constant -- are deparsed again),
# and what they lend is right.
line=$(PGOPTIONS="-c client_min_messages=debug1" mo_psql -d "$IT_DB" -c "SELECT count(*) FROM migrate_ops.drift()" 2>&1 |
    grep -m1 'lent their hash' || true)
signed=$(sed -n 's/.* \([0-9]*\) signed, .*/\1/p' <<<"$line")
lent=$(sed -n 's/.* \([0-9]*\) lent their hash, .*/\1/p' <<<"$line")
[ -n "$lent" ] && [ "$lent" -gt 0 ] && [ "$lent" -lt "$signed" ] ||
    it_fail "signatures after pg_restore: expected some lent, got: $line"
it_ok "after pg_restore, $lent of $signed signed objects take their stored hash (the rest are deparsed)"
it_expect "SET migrate_ops.verify_signatures = on; SELECT count(*) FROM migrate_ops.drift()" 0 \
    "and every lent hash matches the deparsed definition"

# plain-format dump through psql, too
mo_psql -d postgres -c "CREATE DATABASE it_drift_plain" >/dev/null
"$MO_BIN/pg_dump" -d it_drift | mo_psql -q -d it_drift_plain >/dev/null
IT_DB=it_drift_plain
it_expect "SELECT migrate_ops.fingerprint()" "$fp" "same fingerprint after pg_dump | psql"

# A real change in the restored copy is found there.
IT_DB=it_drift_restored
it_val "ALTER TABLE app.orders ALTER COLUMN total SET DEFAULT 1" >/dev/null
it_expect "SELECT kind || ' ' || identity || ' ' || change FROM migrate_ops.drift()" \
    "column app.orders.total changed" "a change in the restored copy is drift there"

# 3. Concurrent snapshots are serialised: the second waits, both succeed, and
#    the stored versions stay consistent.
IT_DB=it_drift
mo_psql -d "$IT_DB" -c "BEGIN; SELECT migrate_ops.snapshot('slow'); SELECT pg_sleep(1); COMMIT;" >/dev/null &
slow=$!
it_wait "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE '%snapshot(''slow'')%'" 1
it_expect "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 19791 AND objid = 2 AND granted" 1 \
    "a snapshot holds its lock until its transaction ends"
it_val "CREATE INDEX orders_total_idx ON app.orders (total)" >/dev/null
mo_psql -d "$IT_DB" -c "SELECT migrate_ops.snapshot('second')" >/dev/null &
second=$!
it_wait "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%snapshot(''second'')%'" 1
it_ok "a second snapshot waits for the first"
wait $slow || it_fail "the first snapshot failed"
wait $second || it_fail "the second snapshot failed"
it_expect "SELECT string_agg(label || ':' || added, ',' ORDER BY id) FROM migrate_ops.snapshots WHERE id > 1" \
    "slow:0,second:1" "the second snapshot saw the first and stored only the new index"
it_expect "SELECT object_count = (SELECT count(*) FROM migrate_ops.snapshot_objects WHERE valid_to IS NULL)
             FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1" t "current rows match the latest snapshot"
it_expect "SELECT count(*) FROM migrate_ops.drift()" 0 "no drift after both"
