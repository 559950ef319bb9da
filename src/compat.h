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

/* shmem_request_hook appeared in 15; before, _PG_init requested shared memory itself. */
#if PG_VERSION_NUM >= 150000
#define MO_HAVE_SHMEM_REQUEST_HOOK 1
#endif

/* pg_hmac (common/hmac.h, webhook signatures), like pg_cryptohash (util.c),
 * and the ProcessUtility hook's readOnlyTree argument exist since 14. */
#if PG_VERSION_NUM < 140000
#error "migrate_ops needs PostgreSQL 14 or later (pg_cryptohash, pg_hmac)"
#endif

/* The per-class ownercheck functions became object_ownercheck() in 16. */
#if PG_VERSION_NUM >= 160000
#define MO_DATABASE_OWNERCHECK(dboid, roleid) object_ownercheck(DatabaseRelationId, dboid, roleid)
#else
#define MO_DATABASE_OWNERCHECK(dboid, roleid) pg_database_ownercheck(dboid, roleid)
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
