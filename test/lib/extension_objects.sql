-- Every member object of the migrate_ops extension with its full definition,
-- one line each, sorted: what test/integration/upgrade.sh compares between an
-- upgraded and a fresh install.  Column order is deliberately left out
-- (ALTER TABLE ADD COLUMN appends), everything else a client can observe is in.
WITH ext AS (
    SELECT oid, extconfig, extcondition FROM pg_extension WHERE extname = 'migrate_ops'
), members AS (
    SELECT d.classid, d.objid
      FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), lines AS (
    -- functions and procedures: full definition, privileges, settings
    SELECT 'routine ' || p.oid::regprocedure::text || E'\n' || pg_get_functiondef(p.oid)
           || E'\n  acl=' || coalesce(p.proacl::text, 'default')
           || ' secdef=' || p.prosecdef || ' volatile=' || p.provolatile::text
           || ' strict=' || p.proisstrict || ' parallel=' || p.proparallel::text
           || ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '') AS line
      FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    UNION ALL
    -- tables, views, sequences, indexes: kind, options, privileges, comment
    SELECT 'relation ' || c.oid::regclass::text || ' kind=' || c.relkind::text
           || ' persistence=' || c.relpersistence::text || ' options=' || coalesce(c.reloptions::text, '')
           || ' acl=' || coalesce(c.relacl::text, 'default')
           || ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '')
           || CASE WHEN c.relkind IN ('v', 'm') THEN E'\n' || pg_get_viewdef(c.oid) ELSE '' END
      FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    UNION ALL
    -- columns of member tables and views, by name
    SELECT 'column ' || c.oid::regclass::text || '.' || quote_ident(a.attname)
           || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
           || coalesce(' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid), '')
           || CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text ELSE '' END
           || CASE WHEN a.attgenerated <> '' THEN ' GENERATED ' || a.attgenerated::text ELSE '' END
           || coalesce(' COLLATE ' || nullif(a.attcollation, 0)::regcollation::text, '')
           || ' acl=' || coalesce(a.attacl::text, 'default')
           || ' comment=' || coalesce(col_description(c.oid, a.attnum), '')
      FROM members m
      JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
    UNION ALL
    -- constraints of member tables
    SELECT 'constraint ' || quote_ident(co.conname) || ' on ' || co.conrelid::regclass::text
           || ' ' || pg_get_constraintdef(co.oid)
      FROM members m
      JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
    UNION ALL
    -- indexes of member tables
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
      FROM members m
      JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
    UNION ALL
    -- triggers on member tables
    SELECT 'trigger ' || pg_get_triggerdef(t.oid)
      FROM members m
      JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid AND NOT t.tgisinternal
    UNION ALL
    -- policies on member tables
    SELECT 'policy ' || pol.polname || ' on ' || pol.polrelid::regclass::text || ' cmd=' || pol.polcmd::text
           || ' using=' || coalesce(pg_get_expr(pol.polqual, pol.polrelid), '')
           || ' check=' || coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '')
      FROM members m
      JOIN pg_policy pol ON m.classid = 'pg_class'::regclass AND pol.polrelid = m.objid
    UNION ALL
    -- event triggers
    SELECT 'event trigger ' || e.evtname || ' on ' || e.evtevent || ' -> ' || e.evtfoid::regprocedure::text
           || ' enabled=' || e.evtenabled::text || ' tags=' || coalesce(e.evttags::text, '')
      FROM members m JOIN pg_event_trigger e ON m.classid = 'pg_event_trigger'::regclass AND e.oid = m.objid
    UNION ALL
    -- types (enums, composites, domains)
    SELECT 'type ' || t.oid::regtype::text || ' kind=' || t.typtype::text
           || coalesce(' labels=' || (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder)
                                        FROM pg_enum WHERE enumtypid = t.oid), '')
      FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
    UNION ALL
    -- any other kind of member object, at least by name
    SELECT 'object ' || pg_describe_object(m.classid, m.objid, 0)
      FROM members m
     WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass,
                             'pg_event_trigger'::regclass, 'pg_type'::regclass)
    UNION ALL
    -- configuration tables kept by pg_dump, with their filters
    SELECT 'config ' || cfg.rel::regclass::text || ' where=' || coalesce(cfg.cond, '')
      FROM ext, unnest(ext.extconfig, ext.extcondition) AS cfg(rel, cond)
    UNION ALL
    SELECT 'schema migrate_ops acl=' || coalesce(nspacl::text, 'default')
      FROM pg_namespace WHERE nspname = 'migrate_ops'
)
SELECT line FROM lines ORDER BY line;
