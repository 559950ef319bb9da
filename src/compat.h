/*
 * compat.h — PostgreSQL version guards, in one place.
 *
 * migrate_ops supports PostgreSQL 14 through 17 (CI builds each with
 * -Werror).  Only the differences the extension actually meets are shimmed
 * here; everything else uses the current API directly.
 */
#ifndef MIGRATE_OPS_COMPAT_H
#define MIGRATE_OPS_COMPAT_H

#include "postgres.h"

/*
 * 14 is the floor: pg_cryptohash (checksums, fingerprints) and pg_hmac
 * (webhook signatures) are PostgreSQL's own SHA-2 and HMAC since 14, and 13
 * reached end of life in November 2025.
 */
#if PG_VERSION_NUM < 140000
#error "migrate_ops needs PostgreSQL 14 or later (pg_cryptohash, pg_hmac)"
#endif

#define MO_RAW_PARSE(str) raw_parser(str, RAW_PARSE_DEFAULT)
#define MO_CRYPTOHASH_FINAL(ctx, buf, len) pg_cryptohash_final(ctx, buf, len)

/* ProcessUtility_hook's arguments (readOnlyTree since 14). */
#define MO_PROCESS_UTILITY_ARGS \
	PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define MO_PROCESS_UTILITY_CALL(fn) \
	fn(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc)

/* getObjectIdentity() and getObjectTypeDescription() with missing_ok (since 14). */
#define MO_OBJECT_IDENTITY(addr) getObjectIdentity(addr, true)
#define MO_OBJECT_TYPE(addr) getObjectTypeDescription(addr, true)

/* MarkGUCPrefixReserved() replaced EmitWarningsOnPlaceholders() in 15. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* InitMaterializedSRF() is new in 15; util.c has the equivalent for 14. */
#if PG_VERSION_NUM < 150000
#include "funcapi.h"
extern void MoInitMaterializedSRF(FunctionCallInfo fcinfo, int flags);
#define InitMaterializedSRF(fcinfo, flags) MoInitMaterializedSRF(fcinfo, flags)
#endif

/* shmem_request_hook appeared in 15; before, _PG_init requested shared memory itself. */
#if PG_VERSION_NUM >= 150000
#define MO_HAVE_SHMEM_REQUEST_HOOK 1
#endif

/* The per-class ownercheck functions became object_ownercheck() in 16. */
#if PG_VERSION_NUM >= 160000
#define MO_DATABASE_OWNERCHECK(dboid, roleid) object_ownercheck(DatabaseRelationId, dboid, roleid)
#else
#define MO_DATABASE_OWNERCHECK(dboid, roleid) pg_database_ownercheck(dboid, roleid)
#endif

/* pg_proc_aclcheck() became object_aclcheck() in 16 (utils/acl.h). */
#if PG_VERSION_NUM >= 160000
#define MO_PROC_ACLCHECK(procid, roleid, mode) object_aclcheck(ProcedureRelationId, procid, roleid, mode)
#else
#define MO_PROC_ACLCHECK(procid, roleid, mode) pg_proc_aclcheck(procid, roleid, mode)
#endif

/* pg_hmac_error() explains a failed HMAC computation since 15. */
#if PG_VERSION_NUM >= 150000
#define MO_HMAC_ERROR(ctx) pg_hmac_error(ctx)
#else
#define MO_HMAC_ERROR(ctx) "HMAC computation failed"
#endif

/* A uniform random double in [0, 1): pg_prng since 15, random() before. */
#if PG_VERSION_NUM >= 150000
#include "common/pg_prng.h"
#define MO_RANDOM_DOUBLE() pg_prng_double(&pg_global_prng_state)
#else
#define MO_RANDOM_DOUBLE() ((double) random() / ((double) MAX_RANDOM_VALUE + 1))
#endif

/* A_Const holds a ValUnion and an isnull flag since 15, and Float nodes their own fval. */
#if PG_VERSION_NUM >= 150000
#define MO_ACONST_ISNULL(c) ((c)->isnull)
#define MO_FLOAT_TEXT(v) (castNode(Float, (v))->fval)
#else
#define MO_ACONST_ISNULL(c) IsA(&(c)->val, Null)
#define MO_FLOAT_TEXT(v) strVal(v)
#endif

/* getObjectIdentity() can be asked not to fail on a missing object since 14. */
#if PG_VERSION_NUM < 140000
#define MO_OBJECT_IDENTITY(addr) getObjectIdentity(addr)
#else
#define MO_OBJECT_IDENTITY(addr) getObjectIdentity(addr, true)
#endif

/* Catalog columns new in 15, as the catalog queries read them (NULL before). */
#if PG_VERSION_NUM >= 150000
#define MO_SQL_CONFDELSETCOLS(alias) alias ".confdelsetcols"
#define MO_SQL_NULLSNOTDISTINCT(alias) alias ".indnullsnotdistinct"
#else
#define MO_SQL_CONFDELSETCOLS(alias) "NULL::pg_catalog.int2[]"
#define MO_SQL_NULLSNOTDISTINCT(alias) "false"
#endif

/* MERGE and ALTER TABLE … SET ACCESS METHOD are new in 15. */
#if PG_VERSION_NUM >= 150000
#define MO_HAVE_MERGE
#define MO_HAVE_SET_ACCESS_METHOD
#endif

#endif							/* MIGRATE_OPS_COMPAT_H */
