
-- Privileges, last, so they cover every object of every part.  Nothing for
-- PUBLIC but USAGE on the schema and the pure checksum() function; a DBA
-- grants a deploy role and a monitoring role what they need (README).
REVOKE ALL ON ALL TABLES IN SCHEMA migrate_ops FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA migrate_ops FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA migrate_ops FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA migrate_ops FROM PUBLIC;
GRANT USAGE ON SCHEMA migrate_ops TO PUBLIC;
GRANT EXECUTE ON FUNCTION migrate_ops.checksum(text) TO PUBLIC;
