/*
 * util.c — small helpers shared by every module: running as the extension's
 * owner, SPI parameters, SHA-256, version ordering and argument checks.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "parser/parse_relation.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "migrate_ops.h"

/*
 * Returns the role that owns the migrate_ops extension.
 *
 * Bookkeeping writes (ledger rows, logs, events) are made as this role, the
 * identity a SECURITY DEFINER function would run as (migrate_ops has none), so
 * that a deploy role needs EXECUTE on the API but no write privilege on the
 * ledger itself.
 */
Oid
MoExtensionOwner(void)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	Oid			owner = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname,
				BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum(MO_EXTENSION_NAME));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"%s\" is not installed in this database", MO_EXTENSION_NAME),
				 errhint("Run CREATE EXTENSION migrate_ops.")));
	return owner;
}

/*
 * Switches to the extension owner with search_path pinned to
 * pg_catalog, pg_temp — what fmgr does for a SECURITY DEFINER function with
 * SET search_path.  Always paired with MoRestoreUser(); an error in between
 * is undone by transaction abort like any function's SET clause.
 */
void
MoBecomeOwner(MoOwnerState *state)
{
	MoBecomeRole(MoExtensionOwner(), state);
}

/*
 * Switches to role (restricted, search_path pinned) like MoBecomeOwner():
 * how code that reads a user's table runs as that table's owner, as
 * PostgreSQL's own maintenance commands do, so that nothing the table's
 * owner defined (a view, a cast, a policy) ever runs with more privileges
 * than its owner has.  Always paired with MoRestoreUser().
 */
void
MoBecomeRole(Oid role, MoOwnerState *state)
{
	GetUserIdAndSecContext(&state->save_userid, &state->save_sec_context);
	SetUserIdAndSecContext(role,
						   state->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	state->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/* Returns to the caller's identity and settings after MoBecomeOwner(). */
void
MoRestoreUser(MoOwnerState *state)
{
	AtEOXact_GUC(true, state->save_nestlevel);
	SetUserIdAndSecContext(state->save_userid, state->save_sec_context);
}

/*
 * True when role may record migrations: it has EXECUTE on
 * migrate_ops.start(text, text, text), the privilege of record-only mode
 * (superusers have it).  Recording what a deploy tool writes to its ledger
 * asks the same of the role that writes it and of the table's owner.
 */
bool
MoRoleMayRecord(Oid role)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Oid			start;

	if (superuser_arg(role))
		return true;
	start = LookupFuncName(list_make2(makeString(MO_SCHEMA), makeString("start")),
						   3, argtypes, true);
	return OidIsValid(start) && MO_PROC_ACLCHECK(start, role, ACL_EXECUTE) == ACLCHECK_OK;
}

/* Appends one parameter slot, checking the fixed bound. */
static int
MoArgSlot(MoArgs *args)
{
	if (args->n >= MO_MAX_ARGS)
		elog(ERROR, "too many SPI parameters");
	args->nulls[args->n] = ' ';
	return args->n++;
}

/* Adds a text parameter; NULL becomes SQL NULL. */
void
MoArgText(MoArgs *args, const char *value)
{
	int			i = MoArgSlot(args);

	args->types[i] = TEXTOID;
	if (value == NULL)
	{
		args->values[i] = (Datum) 0;
		args->nulls[i] = 'n';
	}
	else
		args->values[i] = CStringGetTextDatum(value);
}

/* Adds an int4 parameter. */
void
MoArgInt4(MoArgs *args, int32 value)
{
	int			i = MoArgSlot(args);

	args->types[i] = INT4OID;
	args->values[i] = Int32GetDatum(value);
}

/* Adds an int8 parameter. */
void
MoArgInt8(MoArgs *args, int64 value)
{
	int			i = MoArgSlot(args);

	args->types[i] = INT8OID;
	args->values[i] = Int64GetDatum(value);
}

/* Adds a boolean parameter. */
void
MoArgBool(MoArgs *args, bool value)
{
	int			i = MoArgSlot(args);

	args->types[i] = BOOLOID;
	args->values[i] = BoolGetDatum(value);
}

/* Adds a timestamptz parameter. */
void
MoArgTimestamptz(MoArgs *args, TimestampTz value, bool isnull)
{
	int			i = MoArgSlot(args);

	args->types[i] = TIMESTAMPTZOID;
	args->values[i] = TimestampTzGetDatum(value);
	if (isnull)
		args->nulls[i] = 'n';
}

/* Adds a jsonb parameter from its text form; NULL becomes SQL NULL. */
void
MoArgJsonb(MoArgs *args, const char *json)
{
	int			i = MoArgSlot(args);

	args->types[i] = JSONBOID;
	if (json == NULL)
	{
		args->values[i] = (Datum) 0;
		args->nulls[i] = 'n';
	}
	else
		args->values[i] = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

/* Appends a jsonb parameter given as a value (NULL = SQL NULL). */
void
MoArgJsonbValue(MoArgs *args, Jsonb *value)
{
	int			i = MoArgSlot(args);

	args->types[i] = JSONBOID;
	args->values[i] = PointerGetDatum(value);
	args->nulls[i] = value ? ' ' : 'n';
}

/*
 * Runs one SQL statement through SPI with positional parameters and returns
 * the SPI result code; any failure is an error.  Never read-only, so that
 * SPI takes a fresh snapshot even in a procedure between commits.
 */
int
MoSpiExec(const char *sql, MoArgs *args)
{
	int			rc;

	if (args && args->n > 0)
		rc = SPI_execute_with_args(sql, args->n, args->types, args->values,
								   args->nulls, false, 0);
	else
		rc = SPI_execute(sql, false, 0);
	if (rc < 0)
		elog(ERROR, "migrate_ops: SPI failed (%s) for: %s",
			 SPI_result_code_string(rc), sql);
	return rc;
}

/*
 * Like MoSpiExec(), for a statement run often: prepared once per backend as
 * a generic plan kept in *plan, then executed with args (whose types must be
 * the same at every call).
 */
int
MoSpiExecPlan(SPIPlanPtr *plan, const char *sql, MoArgs *args)
{
	int			rc;

	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare_cursor(sql, args ? args->n : 0, args ? args->types : NULL,
										   CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL)
			elog(ERROR, "migrate_ops: SPI_prepare failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), sql);
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "migrate_ops: SPI_keepplan failed for: %s", sql);
		*plan = p;
	}
	rc = SPI_execute_plan(*plan, args ? args->values : NULL, args ? args->nulls : NULL, false, 0);
	if (rc < 0)
		elog(ERROR, "migrate_ops: SPI failed (%s) for: %s",
			 SPI_result_code_string(rc), sql);
	return rc;
}

/* Returns column col (1-based) of result row row as text, or NULL. */
char *
MoSpiGetText(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/* SHA-256 of data as 64 lower-case hex digits, using PostgreSQL's own implementation. */
char *
MoSha256Hex(const char *data, size_t len)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		MO_CRYPTOHASH_FINAL(ctx, digest, sizeof(digest)) < 0)
	{
		pg_cryptohash_free(ctx);
		elog(ERROR, "could not compute SHA-256 digest");
	}
	pg_cryptohash_free(ctx);

	hex_encode((const char *) digest, PG_SHA256_DIGEST_LENGTH, hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	return hex;
}

/*
 * Natural ordering of versions: runs of digits compare as numbers, anything
 * else byte by byte, so "2" < "10" and "1.9" < "1.10".  Ties (leading zeros)
 * fall back to plain byte order to keep the order total.
 */
int
MoVersionCompare(const char *a, const char *b)
{
	const char *pa = a;
	const char *pb = b;

	while (*pa && *pb)
	{
		if (isdigit((unsigned char) *pa) && isdigit((unsigned char) *pb))
		{
			const char *sa,
					   *sb;
			size_t		la,
						lb;
			int			c;

			while (*pa == '0' && isdigit((unsigned char) pa[1]))
				pa++;
			while (*pb == '0' && isdigit((unsigned char) pb[1]))
				pb++;
			for (sa = pa; isdigit((unsigned char) *pa); pa++)
				;
			for (sb = pb; isdigit((unsigned char) *pb); pb++)
				;
			la = pa - sa;
			lb = pb - sb;
			if (la != lb)
				return la < lb ? -1 : 1;
			c = memcmp(sa, sb, la);
			if (c != 0)
				return c < 0 ? -1 : 1;
		}
		else
		{
			if (*pa != *pb)
				return (unsigned char) *pa < (unsigned char) *pb ? -1 : 1;
			pa++;
			pb++;
		}
	}
	if (*pa)
		return 1;
	if (*pb)
		return -1;
	return strcmp(a, b) < 0 ? -1 : (strcmp(a, b) > 0 ? 1 : 0);
}

/*
 * Validates a migration version: not empty, at most MO_MAX_VERSION_LEN
 * bytes, no control characters, no leading or trailing white space.
 */
void
MoCheckVersion(const char *version)
{
	size_t		len = strlen(version);
	const unsigned char *p;

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("migration version must not be empty")));
	if (len > MO_MAX_VERSION_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("migration version is too long"),
				 errdetail("A version is at most %d bytes; this one has %zu.",
						   MO_MAX_VERSION_LEN, len)));
	for (p = (const unsigned char *) version; *p; p++)
	{
		if (*p < 0x20 || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("migration version must not contain control characters"),
					 errdetail("Byte %d of the version is 0x%02x.",
							   (int) (p - (const unsigned char *) version) + 1, *p)));
	}
	if (isspace((unsigned char) version[0]) || isspace((unsigned char) version[len - 1]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("migration version \"%s\" has leading or trailing white space", version),
				 errhint("Trim the version; \"%s\" and \" %s\" would otherwise be different migrations.",
						 version, version)));
}

/* Returns argument argno as a C string; NULL is an error naming the argument. */
char *
MoRequiredTextArg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", argname)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* Returns argument argno as a C string, or NULL when it is SQL NULL. */
char *
MoOptionalTextArg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* Name of the role the caller is acting as (current_user). */
char *
MoCurrentRoleName(void)
{
	return GetUserNameFromId(GetUserId(), false);
}

/* Returns value as a JSON string literal ("null" for NULL). */
char *
MoJsonQuote(const char *value)
{
	StringInfoData buf;

	if (value == NULL)
		return pstrdup("null");
	initStringInfo(&buf);
	escape_json(&buf, value);
	return buf.data;
}

#if PG_VERSION_NUM < 150000
/*
 * InitMaterializedSRF() for PostgreSQL 14: checks that the caller accepts a
 * materialized set and gives it a tuplestore with the expected descriptor.
 */
void
MoInitMaterializedSRF(FunctionCallInfo fcinfo, int flags)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	TupleDesc	tupdesc;

	(void) flags;
	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	MemoryContextSwitchTo(old);
}
#endif

/*
 * Runs work(arg) in an internal subtransaction of its own.  Returns NULL
 * when it succeeded; when it raised an error, rolls back that
 * subtransaction (and only it) and returns a copy of the error, allocated in
 * the caller's memory context, for the caller to report and free.  A cancel
 * (statement timeout, pg_cancel_backend) is re-raised, never returned.  The
 * caller's memory context and resource owner are current again on return.
 */
ErrorData *
MoTrySubtransaction(MoSubWork work, void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		work(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_END_TRY();
	if (edata != NULL && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(edata);
	return edata;
}

/* ---- our tables, written row by row ---- */

/* Names of the MoRel tables in MO_SCHEMA, and their OIDs once looked up. */
static const char *const mo_rel_names[MO_NUM_RELS] = {
	"ddl_log", "ddl_log_id_seq", "events", "events_id_seq"
};
static Oid	mo_rel_oids[MO_NUM_RELS];
static bool mo_rel_callbacks = false;

/* Relcache callback: one of the tables changed or went (or everything did). */
static void
MoRelInvalidate(Datum arg, Oid relid)
{
	(void) arg;
	for (int i = 0; i < MO_NUM_RELS; i++)
		if (relid == InvalidOid || relid == mo_rel_oids[i])
			mo_rel_oids[i] = InvalidOid;
}

/* Syscache callback on pg_namespace: the schema was renamed or dropped. */
static void
MoRelInvalidateAll(Datum arg, int cacheid, uint32 hashvalue)
{
	(void) cacheid;
	(void) hashvalue;
	MoRelInvalidate(arg, InvalidOid);
}

/*
 * The OID of one of the tables (or sequences) that DDL capture and events
 * write for every transaction, InvalidOid when it does not exist (the
 * extension is not installed, or an older schema lacks it).  Looked up by
 * name once and kept until an invalidation of the relation or of any
 * schema says otherwise: a lookup per DDL transaction showed in profiles.
 */
Oid
MoRelid(MoRel rel)
{
	if (!mo_rel_callbacks)
	{
		CacheRegisterRelcacheCallback(MoRelInvalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, MoRelInvalidateAll, (Datum) 0);
		mo_rel_callbacks = true;
	}
	if (!OidIsValid(mo_rel_oids[rel]))
	{
		Oid			nsp = get_namespace_oid(MO_SCHEMA, true);

		mo_rel_oids[rel] = OidIsValid(nsp) ? get_relname_relid(mo_rel_names[rel], nsp) : InvalidOid;
	}
	return mo_rel_oids[rel];
}

/*
 * Opens one of our tables (name for messages) to insert prepared rows
 * without parsing, planning or running a query per row: the rows go through
 * ExecSimpleRelationInsert(), the executor's entry point for a prepared row
 * (logical replication's apply uses it), so constraints, indexes and
 * triggers are handled as for an INSERT.  Writes run as the table's owner
 * in a restricted security context, as MoBecomeOwner() would; nothing is
 * looked up by name on this path, so there is no search_path to pin.  An
 * error before MoRowWriterClose() is undone by the (sub)transaction's abort.
 *
 * The caller has taken RowExclusiveLock already when it must not wait
 * (capture); otherwise it is taken here.
 */
void
MoRowWriterOpen(MoRowWriter *w, Oid relid, const char *name)
{
	RangeTblEntry *rte;

	w->rel = try_table_open(relid, RowExclusiveLock);
	if (w->rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("%s does not exist", name)));
	GetUserIdAndSecContext(&w->save_userid, &w->save_sec_context);
	SetUserIdAndSecContext(w->rel->rd_rel->relowner,
						   w->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);

	w->estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = w->rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
#if PG_VERSION_NUM >= 160000
	{
		List	   *perminfos = NIL;

		addRTEPermissionInfo(&perminfos, rte);
		ExecInitRangeTable(w->estate, list_make1(rte), perminfos);
	}
#else
	ExecInitRangeTable(w->estate, list_make1(rte));
#endif
	w->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(w->rri, w->rel, 1, NULL, 0);
	w->estate->es_opened_result_relations = list_make1(w->rri);
	w->estate->es_output_cid = GetCurrentCommandId(true);
	ExecOpenIndices(w->rri, false);
	w->slot = ExecInitExtraTupleSlot(w->estate, RelationGetDescr(w->rel), &TTSOpsVirtual);
	AfterTriggerBeginQuery();
	w->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "migrate_ops row",
									  ALLOCSET_SMALL_SIZES);
	w->outer = NULL;
}

/* The attribute number of column in the writer's table; an error if it has none. */
AttrNumber
MoRowWriterColumn(MoRowWriter *w, const char *column)
{
	TupleDesc	desc = RelationGetDescr(w->rel);

	for (int a = 0; a < desc->natts; a++)
		if (!TupleDescAttr(desc, a)->attisdropped &&
			strcmp(NameStr(TupleDescAttr(desc, a)->attname), column) == 0)
			return a + 1;
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("column \"%s\" of %s.%s does not exist", column, MO_SCHEMA,
					RelationGetRelationName(w->rel)),
			 errhint("Reinstall the extension: ALTER EXTENSION migrate_ops UPDATE.")));
	return InvalidAttrNumber;	/* keep the compiler quiet */
}

/*
 * Starts a row, every column NULL, and makes the row's memory context
 * current (what the caller allocates for the row is freed after it is
 * inserted).
 */
void
MoRowWriterBegin(MoRowWriter *w)
{
	TupleTableSlot *slot = w->slot;

	ExecClearTuple(slot);
	for (int a = 0; a < slot->tts_tupleDescriptor->natts; a++)
	{
		slot->tts_values[a] = (Datum) 0;
		slot->tts_isnull[a] = true;
	}
	w->outer = MemoryContextSwitchTo(w->rowcxt);
}

/* Sets column attno of the row being built. */
void
MoRowWriterSet(MoRowWriter *w, AttrNumber attno, Datum value, bool isnull)
{
	w->slot->tts_values[attno - 1] = value;
	w->slot->tts_isnull[attno - 1] = isnull;
}

/* Sets text column attno of the row being built (NULL stays NULL). */
void
MoRowWriterSetText(MoRowWriter *w, AttrNumber attno, const char *value)
{
	MoRowWriterSet(w, attno, value ? CStringGetTextDatum(value) : (Datum) 0, value == NULL);
}

/* Inserts the row built since MoRowWriterBegin() and frees its memory. */
void
MoRowWriterInsert(MoRowWriter *w)
{
	ExecStoreVirtualTuple(w->slot);
	ExecSimpleRelationInsert(w->rri, w->estate, w->slot);
	ExecClearTuple(w->slot);
	MemoryContextSwitchTo(w->outer);
	MemoryContextReset(w->rowcxt);
	ResetPerTupleExprContext(w->estate);
}

/* Ends the inserts: fires queued AFTER triggers, closes the table, and makes them visible. */
void
MoRowWriterClose(MoRowWriter *w)
{
	MemoryContextDelete(w->rowcxt);
	AfterTriggerEndQuery(w->estate);
	ExecCloseIndices(w->rri);
	ExecResetTupleTable(w->estate->es_tupleTable, false);
	FreeExecutorState(w->estate);
	SetUserIdAndSecContext(w->save_userid, w->save_sec_context);
	table_close(w->rel, NoLock);
	CommandCounterIncrement();
}
