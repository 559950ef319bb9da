/*
 * compat.h — PostgreSQL version guards, in one place.
 *
 * migrate_ops targets PostgreSQL 13 through 17.  Only the differences the
 * extension actually meets are shimmed here; everything else uses the
 * current API directly.
 */
#ifndef MIGRATE_OPS_COMPAT_H
#define MIGRATE_OPS_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 130000
#error "migrate_ops requires PostgreSQL 13 or later"
#endif

/* MarkGUCPrefixReserved() replaced EmitWarningsOnPlaceholders() in 15. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* InitMaterializedSRF() was SetSingleFuncCall() in 15 betas, absent before. */
#if PG_VERSION_NUM < 150000
#include "funcapi.h"
#define MAT_SRF_USE_EXPECTED_DESC 0x01
extern void MoInitMaterializedSRF(FunctionCallInfo fcinfo, int flags);
#define InitMaterializedSRF(fcinfo, flags) MoInitMaterializedSRF(fcinfo, flags)
#endif

/* raw_parser() gained its mode argument in 14. */
#if PG_VERSION_NUM < 140000
#define MO_RAW_PARSE(str) raw_parser(str)
#else
#define MO_RAW_PARSE(str) raw_parser(str, RAW_PARSE_DEFAULT)
#endif

/* set_config_option() grew a role argument (set_config_option_ext) in 16;
 * the 8-argument form stays available, so nothing to do here. */

/* pg_cryptohash_final() takes the digest length since 14. */
#if PG_VERSION_NUM < 140000
#define MO_CRYPTOHASH_FINAL(ctx, buf, len) pg_cryptohash_final(ctx, buf)
#else
#define MO_CRYPTOHASH_FINAL(ctx, buf, len) pg_cryptohash_final(ctx, buf, len)
#endif

/* ProcessUtility_hook gained readOnlyTree in 14. */
#if PG_VERSION_NUM < 140000
#define MO_PROCESS_UTILITY_ARGS \
	PlannedStmt *pstmt, const char *queryString, ProcessUtilityContext context, \
	ParamListInfo params, QueryEnvironment *queryEnv, DestReceiver *dest, \
	QueryCompletion *qc
#define MO_PROCESS_UTILITY_CALL(fn) \
	fn(pstmt, queryString, context, params, queryEnv, dest, qc)
#else
#define MO_PROCESS_UTILITY_ARGS \
	PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define MO_PROCESS_UTILITY_CALL(fn) \
	fn(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc)
#endif

/* getObjectIdentity() and getObjectTypeDescription() gained missing_ok in 14. */
#if PG_VERSION_NUM < 140000
#define MO_OBJECT_IDENTITY(addr) getObjectIdentity(addr)
#define MO_OBJECT_TYPE(addr) getObjectTypeDescription(addr)
#else
#define MO_OBJECT_IDENTITY(addr) getObjectIdentity(addr, true)
#define MO_OBJECT_TYPE(addr) getObjectTypeDescription(addr, true)
#endif

/* String hash keys are asked for with HASH_STRINGS since 14; before, they were the default. */
#if PG_VERSION_NUM < 140000
#define HASH_STRINGS 0
#endif

/* A_Const holds a ValUnion and an isnull flag since 15, and Float nodes their own fval. */
#if PG_VERSION_NUM >= 150000
#define MO_ACONST_ISNULL(c) ((c)->isnull)
#define MO_FLOAT_TEXT(v) (castNode(Float, (v))->fval)
#else
#define MO_ACONST_ISNULL(c) IsA(&(c)->val, Null)
#define MO_FLOAT_TEXT(v) strVal(v)
#endif

/* MERGE and ALTER TABLE … SET ACCESS METHOD are new in 15. */
#if PG_VERSION_NUM >= 150000
#define MO_HAVE_MERGE
#define MO_HAVE_SET_ACCESS_METHOD
#endif

#endif							/* MIGRATE_OPS_COMPAT_H */
