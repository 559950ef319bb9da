-- Notifications and the background worker (DESIGN §4, §5).

-- Where events go.  webhook and slack channels are delivered over HTTP(S) by
-- the background worker; notify channels use pg_notify('migrate_ops', ...).
-- url and secret are readable only by the extension owner and superusers:
-- others get channels_masked.  Written through add_channel(),
-- alter_channel() and drop_channel(); a trigger validates every write
-- (including a superuser's direct INSERT/UPDATE) against the same rules.
CREATE TABLE migrate_ops.channels (
    name        text PRIMARY KEY,
    kind        text NOT NULL,
    url         text,
    events      text[] NOT NULL DEFAULT '{*}',
    secret      text,
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by  text NOT NULL DEFAULT CURRENT_USER,
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT channels_kind_check CHECK (kind IN ('webhook', 'slack', 'notify')),
    CONSTRAINT channels_url_check CHECK (
        CASE WHEN kind = 'notify' THEN url IS NULL
             ELSE url IS NOT NULL AND url ~* '^https?://[^/?#@]' END),
    CONSTRAINT channels_name_check CHECK (name ~ '^[a-z][a-z0-9_.-]*$' AND octet_length(name) <= 63),
    CONSTRAINT channels_events_check CHECK (pg_catalog.cardinality(events) > 0),
    CONSTRAINT channels_secret_check CHECK (secret <> '')
);
COMMENT ON TABLE migrate_ops.channels IS
    'Notification channels: webhook and slack (HTTP(S), by the worker) and notify (pg_notify).';

CREATE FUNCTION migrate_ops.channels_check()
RETURNS trigger
AS 'MODULE_PATHNAME', 'migrate_ops_channels_check'
LANGUAGE C;
CREATE TRIGGER channels_check BEFORE INSERT OR UPDATE ON migrate_ops.channels
    FOR EACH ROW EXECUTE FUNCTION migrate_ops.channels_check();

-- Every session caches the enabled channels; a change invalidates the caches.
CREATE FUNCTION migrate_ops.channels_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'migrate_ops_channels_changed'
LANGUAGE C;
CREATE TRIGGER channels_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON migrate_ops.channels
    FOR EACH STATEMENT EXECUTE FUNCTION migrate_ops.channels_changed();

-- What roles without access to channels may see: no path, query or secret.
CREATE VIEW migrate_ops.channels_masked AS
SELECT c.name, c.kind,
       pg_catalog.regexp_replace(c.url, '^([A-Za-z]+://)([^/?#]*@)?([^/?#]*).*$', '\1\3') ||
           CASE WHEN c.url ~ '^[A-Za-z]+://[^/?#]*[/?#].' THEN '/***' ELSE '' END AS url,
       c.events, c.secret IS NOT NULL AS signed, c.enabled, c.created_at, c.created_by, c.updated_at
  FROM migrate_ops.channels c;
COMMENT ON VIEW migrate_ops.channels_masked IS
    'Channels with the URL reduced to scheme and host and the secret hidden.';

-- One row per (event, webhook/slack channel), inserted in the transaction
-- that emitted the event.  payload is the JSON envelope the worker sends.
CREATE TABLE migrate_ops.outbox (
    id              bigserial PRIMARY KEY,
    event_id        bigint NOT NULL,
    event           text NOT NULL,
    channel         text NOT NULL,
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    claimed_by      integer,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    sent_at         timestamptz,
    CONSTRAINT outbox_state_check CHECK (state IN ('pending', 'sent', 'dead'))
);
CREATE INDEX outbox_pending_idx ON migrate_ops.outbox (next_attempt_at, id) WHERE state = 'pending';
-- the worker claims per channel (at most migrate_ops.max_connections in flight each)
CREATE INDEX outbox_channel_pending_idx ON migrate_ops.outbox (channel, next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX outbox_dead_idx ON migrate_ops.outbox (id) WHERE state = 'dead';
CREATE INDEX outbox_created_at_idx ON migrate_ops.outbox (created_at);
COMMENT ON TABLE migrate_ops.outbox IS
    'Deliveries to webhook and slack channels: pending, sent or dead.';

-- Rows that arrive by any path (pg_restore's COPY, a DBA's INSERT) wake the
-- worker at commit, like the ones notify() queues.
CREATE FUNCTION migrate_ops.outbox_wake()
RETURNS trigger
AS 'MODULE_PATHNAME', 'migrate_ops_outbox_wake'
LANGUAGE C;
CREATE TRIGGER outbox_wake AFTER INSERT ON migrate_ops.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION migrate_ops.outbox_wake();

SELECT pg_catalog.pg_extension_config_dump('migrate_ops.channels', '');
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('migrate_ops.outbox_id_seq', '');

CREATE FUNCTION migrate_ops.add_channel(name text, kind text, url text DEFAULT NULL,
                                        events text[] DEFAULT '{*}', secret text DEFAULT NULL,
                                        enabled boolean DEFAULT true)
RETURNS void
AS 'MODULE_PATHNAME', 'migrate_ops_add_channel'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.add_channel(text, text, text, text[], text, boolean) IS
    'Add a notification channel (webhook, slack or notify).';

CREATE FUNCTION migrate_ops.alter_channel(name text, url text DEFAULT NULL,
                                          events text[] DEFAULT NULL, secret text DEFAULT NULL,
                                          enabled boolean DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'migrate_ops_alter_channel'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.alter_channel(text, text, text[], text, boolean) IS
    'Change a channel; NULL leaves a setting unchanged, secret => '''' removes the secret.';

CREATE FUNCTION migrate_ops.drop_channel(name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'migrate_ops_drop_channel'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.drop_channel(text) IS
    'Remove a channel and its pending deliveries; returns how many were discarded.';

CREATE FUNCTION migrate_ops.redeliver(channel text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'migrate_ops_redeliver'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.redeliver(text) IS
    'Queue dead deliveries (of one channel, or all) again; returns how many.';

CREATE FUNCTION migrate_ops.worker_status()
RETURNS TABLE (database name, state text, pid integer, started_at timestamptz,
               last_scan_at timestamptz, last_drift_state text, last_delivery_at timestamptz,
               delivered bigint, backlog bigint, dead bigint,
               last_error text, last_error_at timestamptz)
AS 'MODULE_PATHNAME', 'migrate_ops_worker_status'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION migrate_ops.worker_status() IS
    'The background worker of each database: scans, deliveries, backlog and last error.';
