
-- Events (DESIGN §4): written in the transaction that causes them.
CREATE TABLE migrate_ops.events (
    id          bigserial PRIMARY KEY,
    event       text NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    created_by  text NOT NULL
);
-- payload is always a JSON object: migrate_ops builds its own events' payloads and
-- notify() refuses anything else.  (No CHECK constraint: a ddl.out_of_band event
-- is written at the commit of every out-of-band DDL transaction, and a CHECK
-- is compiled anew for every such write.)
CREATE INDEX events_created_at_idx ON migrate_ops.events (created_at);
COMMENT ON TABLE migrate_ops.events IS 'Every event migrate_ops emitted, in the transaction that caused it.';
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.events', '');
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.events_id_seq', '');

CREATE FUNCTION migrate_ops.notify(event text, payload jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'migrate_ops_notify'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.notify(text, jsonb) IS
    'Emit a team''s own event; delivered like migrate_ops'' own events.';
