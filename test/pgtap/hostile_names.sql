-- Hostile identifiers everywhere migrate_ops builds SQL or reports names:
-- a schema named like an injection ('x"; DROP TABLE public.y; --'), a
-- table with a newline in its name, a 63-byte name ending in a multi-byte
-- character, Cyrillic and emoji, quotes and backslashes.  drift() and the
-- DDL log name them as PostgreSQL does; drift_sql()'s script, executed,
-- does exactly what it should (back to the snapshot) and nothing injected;
-- lint(), plan() and the deploy tools' recognition handle them.  The
-- sentinel public.y must survive everything.
BEGIN;
SELECT plan(15);
SET client_min_messages = error;

CREATE TABLE public.y (id int);
INSERT INTO public.y VALUES (42);

\set s 'x"; DROP TABLE public.y; --'
\set t 'new\nline; DROP TABLE public.y; --'
SELECT E'new\nline; DROP TABLE public.y; --' AS t, repeat('a', 61) || 'é' AS long, 'таблица_ü_🚀' AS uni \gset

CREATE SCHEMA :"s";
CREATE TABLE :"s".:"t" (id int PRIMARY KEY, :"long" int DEFAULT 1, :"uni" text, "it's \back" int);
CREATE INDEX "idx'; DROP TABLE public.y; --" ON :"s".:"t" (:"uni");
ALTER TABLE :"s".:"t" ADD CONSTRAINT "chk */ --" CHECK (:"long" > 0);
CREATE VIEW :"s".:"uni" AS SELECT id, :"long" FROM :"s".:"t";
CREATE FUNCTION :"s"."f'n"() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER "trg""x" BEFORE INSERT ON :"s".:"t" FOR EACH ROW EXECUTE FUNCTION :"s"."f'n"();
COMMENT ON TABLE :"s".:"t" IS $c$*/ DROP TABLE public.y; -- '$c$;

SELECT is((SELECT count(*) FROM migrate_ops.ddl_log
            WHERE object_identity = (pg_identify_object('pg_class'::regclass, format('%I.%I', :'s', :'t')::regclass, 0)).identity),
          3::bigint, 'the DDL log names the table exactly as pg_identify_object() does (CREATE, ALTER, COMMENT)');
SELECT ok((SELECT bool_and(statement IS NOT NULL) FROM migrate_ops.ddl_log WHERE schema_name = :'s'),
          'and keeps each statement');
SELECT migrate_ops.snapshot('before') \g /dev/null

-- Drift on every kind of object named that way.
DROP INDEX :"s"."idx'; DROP TABLE public.y; --";
ALTER TABLE :"s".:"t" ALTER COLUMN :"long" SET DEFAULT 2;
DROP VIEW :"s".:"uni";
DROP TRIGGER "trg""x" ON :"s".:"t";
CREATE OR REPLACE FUNCTION :"s"."f'n"() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
ALTER TABLE :"s".:"t" DROP CONSTRAINT "chk */ --";
COMMENT ON TABLE :"s".:"t" IS 'changed';
GRANT SELECT ON :"s".:"t" TO PUBLIC;
CREATE TABLE :"s"."added ""; --" (id int);
SELECT set_eq($$SELECT kind || ' ' || change FROM migrate_ops.drift()$$,
              ARRAY['index removed', 'column changed', 'view removed', 'trigger removed', 'function changed',
                    'constraint removed', 'comment changed', 'privilege changed', 'privilege removed',
                    'table added', 'column added', 'privilege added'],
              'drift() sees every change');
SELECT is_empty(format($$SELECT identity FROM migrate_ops.drift() WHERE strpos(identity, %L) = 0$$, quote_ident(:'s')),
                'every identity names the hostile schema quoted');

-- drift_sql(): read, then run; the catalog is back at the snapshot, and only that.
SELECT migrate_ops.drift_sql() AS script \gset
SELECT ok(position('DROP TABLE public.y' IN :'script') > 0 AND
          position('DROP TABLE public.y' IN regexp_replace(:'script', $r$"([^"]|"")*"|'([^']|'')*'|--[^\n]*$r$, '', 'g')) = 0,
          'drift_sql(): the injected text appears only inside quoted identifiers, string literals and comments');
DO $$ BEGIN EXECUTE migrate_ops.drift_sql(); END $$;
SELECT is_empty($$SELECT kind, identity, change FROM migrate_ops.drift()$$,
                'drift_sql()''s script, executed, brings the catalog back to the snapshot');
SELECT is((SELECT id FROM public.y), 42, 'and nothing else: public.y is still there');
SELECT is(obj_description(format('%I.%I', :'s', :'t')::regclass, 'pg_class'), $c$*/ DROP TABLE public.y; -- '$c$,
          'the comment is restored byte for byte');

-- lint() and plan() name the relation quoted.
SELECT format('ALTER TABLE %I.%I ALTER COLUMN "it''s \back" TYPE bigint; CREATE INDEX ON %I.%I (%I);',
              :'s', :'t', :'s', :'t', :'uni') AS change \gset
SELECT is((SELECT DISTINCT relation FROM migrate_ops.lint(:'change') WHERE relation IS NOT NULL),
          format('%I.%I', :'s', :'t'), 'lint() names the relation quoted');
SELECT is((SELECT object FROM migrate_ops.plan(:'change') WHERE section = 'rewrite'),
          format('%I.%I', :'s', :'t'), 'plan() names the relation it rewrites quoted');
SELECT set_eq(format($$SELECT kind || ' ' || object FROM migrate_ops.plan(%L) WHERE section = 'change'$$, :'change'),
              ARRAY[format('column %I.%I.%I', :'s', :'t', $n$it's \back$n$), format('index %I.%I', :'s', left(:'t' || '_' || :'uni' || '_idx', 63))],
              'plan() reports the changes under their quoted identities');

-- A deploy tool's ledger in the hostile schema: recognised, its versions
-- recorded with the schema in the prefix; a migration name with a newline
-- or past 255 bytes is refused with a WARNING and the tool's row stays.
CREATE TABLE :"s"._prisma_migrations (id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL,
    finished_at timestamptz, migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0);
INSERT INTO :"s"._prisma_migrations VALUES ('a', 'c', now(), $n$2026_it's "ok"$n$, NULL, NULL, now(), 1);
INSERT INTO :"s"._prisma_migrations VALUES ('b', 'c', now(), E'2026_new\nline', NULL, NULL, now(), 1);
INSERT INTO :"s"._prisma_migrations VALUES ('c', 'c', now(), repeat('m', 240), NULL, NULL, now(), 1);
SELECT is((SELECT string_agg(version, ' | ') FROM migrate_ops.migrations WHERE source = 'prisma'),
          format('prisma[%s]:2026_it''s "ok"', :'s'), 'a ledger in the hostile schema records its version, named as written');
SELECT is((SELECT count(*) FROM migrate_ops.tool_ledgers() WHERE ledger = format('%I._prisma_migrations', :'s')::regclass AND tracked),
          1::bigint, 'tool_ledgers() lists it, tracked');
SELECT is((SELECT count(*) FROM :"s"._prisma_migrations), 3::bigint,
          'the rows migrate_ops could not record (a newline, 300 bytes) are the tool''s all the same');

SELECT is((SELECT id FROM public.y), 42, 'public.y survived everything');

SELECT * FROM finish();
ROLLBACK;
