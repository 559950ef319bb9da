/*
 * capture.c — DDL capture and attribution (DESIGN §3).
 *
 * One C function, migrate_ops.ddl_capture(), is the extension-owned event
 * trigger for ddl_command_end, sql_drop and table_rewrite.  It records in
 * migrate_ops.ddl_log who (current_user, session_user, application_name,
 * client address, pid), what (command tag, object type, PostgreSQL's own
 * object identity, schema), when, the statement text (bounded by
 * migrate_ops.capture_statement_max) and the migration running in this
 * session (MoCurrentMigration(), NULL = out-of-band).
 *
 * Two steps, so that capture never makes a user's DDL fail and stays cheap:
 *
 *  - The event trigger only collects: it reads PostgreSQL's own event-trigger
 *    state (pg_event_trigger_ddl_commands() and friends, called directly) into
 *    rows kept in memory, tagged with the subtransaction that made them.
 *  - The rows are written in as few writes as still lets every reader see
 *    them: at commit (with the ddl.out_of_band event, in one write); in a
 *    transaction block, before the next top-level statement that is not DDL
 *    (so a migration file of 40 DDL statements, or a 300-statement DO block,
 *    is one write); when DDL run by a function inside a query ends; and
 *    before an attribution lookup or a claim.  Writing runs in an internal
 *    subtransaction: any error rolls back only that and becomes a WARNING;
 *    only a cancel (statement_timeout, pg_cancel_backend) is passed on, as the
 *    user asked for it.  Rows of a rolled-back savepoint are dropped with it.
 *    The rows and the event go straight into the tables (MoRowWriter), as
 *    their owner, without a query.
 *
 * The statement text and the acting role come from a ProcessUtility hook that
 * remembers, for each utility statement being run, its own text (not the
 * whole query string: a statement of a DO block, a multi-statement string or
 * a migration script is logged by itself) and the role running it.
 *
 * Out-of-band DDL emits one ddl.out_of_band event per transaction, just
 * before it commits, listing the transaction's out-of-band commands — so a
 * DO block of 300 statements is one event, and a rolled-back transaction none.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_language.h"
#include "catalog/pg_largeobject.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_tablespace.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "parser/analyze.h"
#include "miscadmin.h"
#include "parser/scansup.h"
#include "storage/lmgr.h"
#include "tcop/cmdtag.h"
#include "tcop/deparse_utility.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/xid8.h"

#include "migrate_ops.h"

PG_FUNCTION_INFO_V1(migrate_ops_ddl_capture);
PG_FUNCTION_INFO_V1(migrate_ops_ddl_log_append_only);
PG_FUNCTION_INFO_V1(migrate_ops_prune_ddl_log);

/* ---- settings ---- */

/* migrate_ops.capture_ddl: record DDL in migrate_ops.ddl_log. */
bool		mo_capture_ddl = true;

/* migrate_ops.capture_statement_max: bytes of statement text kept (0 = none). */
int			mo_capture_statement_max = 4096;

/* Largest value of capture_statement_max. */
#define MO_CAPTURE_STATEMENT_LIMIT	(1024 * 1024)

/* Commands whose text may carry credentials: their statement is not kept. */
static const CommandTag redacted_tags[] = {
	CMDTAG_CREATE_USER_MAPPING, CMDTAG_ALTER_USER_MAPPING,
	CMDTAG_CREATE_SERVER, CMDTAG_ALTER_SERVER,
	CMDTAG_CREATE_SUBSCRIPTION, CMDTAG_ALTER_SUBSCRIPTION
};

/* Rows (or bytes of them) collected before they are written even mid-statement. */
#define MO_PENDING_MAX_ROWS		1000
#define MO_PENDING_MAX_BYTES	(8 * 1024 * 1024)

/* Commands listed in the payload of a ddl.out_of_band event (the rest are counted). */
#define MO_OOB_LISTED	50

/* ---- session state ---- */

/*
 * One utility statement being executed, innermost first: its own text within
 * the query string and the role running it.  Frames live on the C stack of
 * CaptureProcessUtility().
 */
typedef struct CaptureFrame
{
	const char *query;			/* the query string it came from */
	int			location;		/* start of the statement, -1 = whole string */
	int			length;			/* its length, 0 = rest of the string */
	Oid			userid;			/* current_user while it runs */
	bool		no_search_path; /* search_path was empty (see CaptureIsRestore) */
	struct CaptureFrame *prev;
} CaptureFrame;

static CaptureFrame *current_frame = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static post_parse_analyze_hook_type prev_post_parse_analyze_hook = NULL;

/* True while capture itself runs (recursion guard). */
static bool capture_running = false;

/* Set by other modules around DDL of their own (MoCaptureSuspend). */
static bool capture_suspended = false;

/* The append-only guard lets DELETE through only inside MoDdlLogPrune(). */
static bool ddl_log_maintenance = false;

/* What every row collected by one event-trigger call shares. */
typedef struct CaptureCall
{
	const char *event;			/* ddl_command_end, sql_drop, table_rewrite */
	const char *tag;			/* the command's tag */
	char	   *role;
	char	   *session_role;
	char	   *application_name;
	char	   *migration;		/* NULL = out-of-band */
	char	   *statement;		/* NULL = not kept */
	bool		truncated;
	TimestampTz at;
} CaptureCall;

/* One ddl_log row collected and not yet written. */
typedef struct PendingRow
{
	SubTransactionId subid;		/* the subtransaction of the DDL */
	CaptureCall *call;
	char	   *command_tag;
	char	   *object_type;
	char	   *schema_name;
	char	   *object_identity;
	int			rewrite_reason; /* table_rewrite only, else -1 */
} PendingRow;

/* Rows waiting to be written, in DDL order, and their memory (per transaction). */
static List *pending = NIL;
static MemoryContext pending_cxt = NULL;

/*
 * The out-of-band rows this transaction wrote, for its ddl.out_of_band
 * event: one batch per write, tagged with the subtransaction that wrote it,
 * so that rows of a rolled-back savepoint are forgotten with it.  In
 * TopTransactionContext, in subtransaction order.
 */
typedef struct OobItem
{
	int64		log_id;
	const char *event;
	char	   *command_tag;
	char	   *object_type;
	char	   *object_identity;
	char	   *role;
} OobItem;

typedef struct OobBatch
{
	SubTransactionId subid;
	int64		nrows;
	int64		first_id;
	int64		last_id;
	TimestampTz first_at;
	char	   *role;
	char	   *session_role;
	char	   *application_name;
	char	   *client_addr;
	List	   *items;			/* OobItem *, MO_OOB_LISTED in all batches at most */
} OobBatch;

static List *oob_batches = NIL;
static int	oob_items_held = 0;

/*
 * Claims (MoCaptureClaim): a tool that records a migration after running
 * its DDL takes this session's out-of-band rows for it.  The ids claimed
 * in this transaction, tagged with the subtransaction that claimed them,
 * are left out of the transaction's ddl.out_of_band event.  In
 * TopTransactionContext, in subtransaction order.
 */
typedef struct ClaimedIds
{
	SubTransactionId subid;
	int			n;
	int64	   *ids;			/* sorted */
} ClaimedIds;

static List *claimed = NIL;

/*
 * The ddl_log ids this session wrote: the first and the last, and the
 * floor below which its rows can no longer be claimed (everything up to a
 * tool's previous ledger write, or up to a fence).
 */
static int64 session_first_log_id = 0;
static int64 session_last_log_id = 0;
static int64 claim_floor = 0;

/* Saved plans, prepared on first use. */
static SPIPlanPtr plan_attribution = NULL;

/* ---- the ProcessUtility hook: which statement, run by whom ---- */

static void CaptureFlush(void);

/*
 * Remembers the statement and role of each utility command while it runs;
 * when the outermost one ends inside a function, writes what its DDL
 * collected (see the comment at the end for the other cases).
 */
static void
CaptureProcessUtility(MO_PROCESS_UTILITY_ARGS)
{
	CaptureFrame frame;

	frame.query = queryString;
	frame.location = pstmt->stmt_location;
	frame.length = pstmt->stmt_len;
	frame.userid = GetUserId();
	frame.no_search_path = namespace_search_path && namespace_search_path[0] == '\0';
	frame.prev = current_frame;
	current_frame = &frame;
	PG_TRY();
	{
		if (prev_ProcessUtility)
			MO_PROCESS_UTILITY_CALL(prev_ProcessUtility);
		else
			MO_PROCESS_UTILITY_CALL(standard_ProcessUtility);
	}
	PG_FINALLY();
	{
		current_frame = frame.prev;
	}
	PG_END_TRY();

	/*
	 * DDL run by a function inside a query: what the function runs next may
	 * read the log, write now.  A top-level statement is written later, when
	 * it commits (with the ddl.out_of_band event, in one subtransaction) or,
	 * in a transaction block, before the next statement that is not DDL
	 * (CapturePostParseAnalyze): a migration file of 40 DDL statements in
	 * one transaction is one write, not 40 subtransactions, whose cost
	 * PostgreSQL makes grow with every relation the transaction touched.
	 */
	if (current_frame == NULL && pending != NIL && context != PROCESS_UTILITY_TOPLEVEL &&
		!IsAbortedTransactionBlockState())
		CaptureFlush();
}

/*
 * True when a top-level statement may read migrate_ops.ddl_log, so that the
 * DDL collected before it must be written first: anything but DDL (whose
 * event triggers only collect) and transaction control (COMMIT and PREPARE
 * TRANSACTION write what is pending; SAVEPOINT, RELEASE and ROLLBACK TO
 * move or drop it).  CREATE TABLE AS and REFRESH MATERIALIZED VIEW are DDL
 * that run a query.
 */
static bool
CaptureStatementReads(Query *query)
{
	Node	   *stmt = query->utilityStmt;

	if (query->commandType != CMD_UTILITY || stmt == NULL)
		return true;
	if (IsA(stmt, TransactionStmt))
		return false;
	if (IsA(stmt, CreateTableAsStmt) || IsA(stmt, RefreshMatViewStmt))
		return true;
	return !command_tag_event_trigger_ok(CreateCommandTag(stmt));
}

/*
 * Before a statement outside any utility command is planned and run (a
 * top-level statement, or one run by a function inside a query): writes the
 * DDL collected so far if the statement may read the log, so that it — and
 * everything after it in the transaction — sees every row, as if each DDL
 * command had written its own.  Runs after parse analysis, before the
 * statement takes the snapshot it runs with.  (A statement prepared before
 * the DDL and executed through the extended protocol without a new Parse
 * does not get here, so it may not see the rows; the next other statement
 * does.)
 */
static void
CapturePostParseAnalyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (prev_post_parse_analyze_hook)
		prev_post_parse_analyze_hook(pstate, query, jstate);
	if (pending != NIL && current_frame == NULL && !capture_running &&
		IsTransactionState() && !IsAbortedTransactionBlockState() && !IsInParallelMode() &&
		CaptureStatementReads(query))
		CaptureFlush();
}

/*
 * The text of the statement being captured, trimmed and clipped to
 * capture_statement_max bytes (on a character boundary), in the current
 * memory context.  Without a frame (the library was loaded by this very
 * statement) it is the whole query string.
 */
static char *
CaptureStatementText(bool *truncated)
{
	const char *query = current_frame ? current_frame->query : debug_query_string;
	int			total;
	int			start = 0;
	int			len;

	*truncated = false;
	if (query == NULL || mo_capture_statement_max <= 0)
		return NULL;
	total = strlen(query);
	len = total;
	if (current_frame && current_frame->location >= 0 && current_frame->location <= total)
	{
		start = current_frame->location;
		len = current_frame->length > 0 ? Min(current_frame->length, total - start) : total - start;
	}
	while (len > 0 && scanner_isspace(query[start]))
	{
		start++;
		len--;
	}
	while (len > 0 && (scanner_isspace(query[start + len - 1]) || query[start + len - 1] == ';'))
		len--;
	if (len > mo_capture_statement_max)
	{
		len = pg_mbcliplen(query + start, len, mo_capture_statement_max);
		*truncated = true;
	}
	return pnstrdup(query + start, len);
}

/* ---- deciding whether to capture ---- */

/*
 * True in a superuser's session that restores a dump: pg_restore (its
 * application_name), or a plain pg_dump script run by psql, recognised by
 * the settings every such script starts with (an empty search_path,
 * check_function_bodies and row_security off).  Re-creating a dump's
 * objects is not a schema change, and the dump brings its own log, whose
 * rows would collide with rows logged by the restore.  Only superusers, who
 * may switch capture off anyway, are trusted with this.
 */
static bool
CaptureIsRestore(void)
{
	return MoCaptureIsRestore(false);
}

/*
 * The test behind CaptureIsRestore(); with any_role, a session of any role
 * that looks like a restore counts (tools.c: a restore brings the tools'
 * ledger triggers and rows with it, so none are added or recorded; that
 * trust needs no superuser, as it only makes migrate_ops do less).
 */
bool
MoCaptureIsRestore(bool any_role)
{
	bool		pg_restore = application_name && strcmp(application_name, "pg_restore") == 0;
	/* (inside ddl_capture() search_path is its own: the statement's is in the frame) */
	bool		dump_script = !check_function_bodies && !row_security &&
		((current_frame && current_frame->no_search_path) ||
		 (!current_frame && namespace_search_path && namespace_search_path[0] == '\0'));

	return (pg_restore || dump_script) && (any_role || superuser_arg(GetSessionUserId()));
}

/*
 * False when this DDL is not to be logged: capture switched off, our own
 * work (recursion, another module's suspension), an extension script
 * running, binary upgrade, or a superuser restoring a dump.
 */
static bool
CaptureWanted(void)
{
	if (!mo_capture_ddl || capture_running || capture_suspended)
		return false;
	if (IsBinaryUpgrade || creating_extension)
		return false;
	if (CaptureIsRestore())
		return false;
	return true;
}

/* True when tag is a command whose text is not kept (it may hold a password). */
static bool
CaptureRedacted(CommandTag tag)
{
	for (size_t i = 0; i < lengthof(redacted_tags); i++)
		if (redacted_tags[i] == tag)
			return true;
	return false;
}

/* ---- collecting (in memory; see the file header) ---- */

/* Copies s into pending_cxt (NULL stays NULL). */
static char *
PendingStrdup(const char *s)
{
	return s ? MemoryContextStrdup(pending_cxt, s) : NULL;
}

/* Adds one row to be written. */
static void
PendingAdd(CaptureCall *call, const char *tag, const char *type, const char *schema,
		   const char *identity, int rewrite_reason)
{
	MemoryContext old = MemoryContextSwitchTo(pending_cxt);
	PendingRow *row = palloc(sizeof(PendingRow));

	row->subid = GetCurrentSubTransactionId();
	row->call = call;
	row->command_tag = pstrdup(tag);
	row->object_type = type ? pstrdup(type) : NULL;
	row->schema_name = schema ? pstrdup(schema) : NULL;
	row->object_identity = identity ? pstrdup(identity) : NULL;
	row->rewrite_reason = rewrite_reason;
	pending = lappend(pending, row);
	MemoryContextSwitchTo(old);
}

/*
 * Calls one of PostgreSQL's event-trigger set-returning functions directly
 * (no query, no plan) and returns its rows as a tuplestore with descriptor.
 */
static Tuplestorestate *
EventTriggerRows(Oid fnoid, ExprContext *econtext, TupleDesc *desc)
{
	FmgrInfo	flinfo;
	ReturnSetInfo rsinfo;

	LOCAL_FCINFO(fcinfo, 0);

	fmgr_info(fnoid, &flinfo);
	memset(&rsinfo, 0, sizeof(rsinfo));
	rsinfo.type = T_ReturnSetInfo;
	rsinfo.econtext = econtext;
	rsinfo.allowedModes = SFRM_Materialize;
	rsinfo.returnMode = SFRM_ValuePerCall;
	InitFunctionCallInfoData(*fcinfo, &flinfo, 0, InvalidOid, NULL, (Node *) &rsinfo);
	(void) FunctionCallInvoke(fcinfo);
	if (rsinfo.returnMode != SFRM_Materialize || rsinfo.setResult == NULL)
		return NULL;
	*desc = rsinfo.setDesc;
	return rsinfo.setResult;
}

/* Column col (0-based) of the slot as a C string, or NULL. */
static char *
SlotText(TupleTableSlot *slot, int col)
{
	if (slot->tts_isnull[col])
		return NULL;
	return TextDatumGetCString(slot->tts_values[col]);
}

/* Sub-objects already logged for the current command (columns, constraints, ...). */
typedef struct SeenObjects
{
	ObjectAddress addr[64];
	int			n;
} SeenObjects;

/* Adds a row for an object a command touched, once per command. */
static void
PendingAddObject(CaptureCall *call, SeenObjects *seen, const char *tag,
				 const ObjectAddress *addr, const char *schema)
{
	char	   *identity;

	for (int i = 0; i < seen->n; i++)
		if (seen->addr[i].classId == addr->classId &&
			seen->addr[i].objectId == addr->objectId &&
			seen->addr[i].objectSubId == addr->objectSubId)
			return;
	identity = MO_OBJECT_IDENTITY(addr);
	if (identity == NULL)
		return;					/* gone again within the same command */
	if (seen->n < (int) lengthof(seen->addr))
		seen->addr[seen->n++] = *addr;
	PendingAdd(call, tag, MO_OBJECT_TYPE(addr), schema, identity, -1);
}

/* True when addr is a column that still exists (not dropped). */
static bool
ColumnIsLive(const ObjectAddress *addr)
{
	HeapTuple	tuple;
	bool		live;

	tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(addr->objectId),
							Int16GetDatum(addr->objectSubId));
	if (!HeapTupleIsValid(tuple))
		return false;
	live = !((Form_pg_attribute) GETSTRUCT(tuple))->attisdropped;
	ReleaseSysCache(tuple);
	return live;
}

/*
 * The columns, constraints and indexes an ALTER TABLE added or changed, each
 * as its own row (so drift() attributes "public.orders.total" exactly).
 * Drops are left to sql_drop, which still knows their names.
 */
static void
CollectAlterTable(CaptureCall *call, const char *tag, CollectedCommand *cmd,
				  const char *schema)
{
	SeenObjects seen = {0};
	ListCell   *lc;

	foreach(lc, cmd->d.alterTable.subcmds)
	{
		CollectedATSubcmd *sub = (CollectedATSubcmd *) lfirst(lc);
		ObjectAddress *addr = &sub->address;

		if (!OidIsValid(addr->classId) || !OidIsValid(addr->objectId))
			continue;
		if (addr->classId == cmd->d.alterTable.classId &&
			addr->objectId == cmd->d.alterTable.objectId && addr->objectSubId == 0)
			continue;			/* the table itself: already logged */
		if (sub->parsetree && IsA(sub->parsetree, AlterTableCmd))
		{
			AlterTableType subtype = ((AlterTableCmd *) sub->parsetree)->subtype;

			if (subtype == AT_DropColumn || subtype == AT_DropConstraint)
				continue;
		}
		if (addr->classId == RelationRelationId && addr->objectSubId != 0 && !ColumnIsLive(addr))
			continue;
		PendingAddObject(call, &seen, tag, addr, schema);
	}
}

/* The catalog holding objects of a GRANT/REVOKE object type, or InvalidOid. */
static Oid
GrantObjectClass(ObjectType objtype)
{
	switch (objtype)
	{
		case OBJECT_TABLE:
		case OBJECT_SEQUENCE:
			return RelationRelationId;
		case OBJECT_FUNCTION:
		case OBJECT_PROCEDURE:
		case OBJECT_ROUTINE:
			return ProcedureRelationId;
		case OBJECT_SCHEMA:
			return NamespaceRelationId;
		case OBJECT_TYPE:
		case OBJECT_DOMAIN:
			return TypeRelationId;
		case OBJECT_LANGUAGE:
			return LanguageRelationId;
		case OBJECT_FDW:
			return ForeignDataWrapperRelationId;
		case OBJECT_FOREIGN_SERVER:
			return ForeignServerRelationId;
		case OBJECT_LARGEOBJECT:
			return LargeObjectRelationId;
		case OBJECT_DATABASE:
			return DatabaseRelationId;
		case OBJECT_TABLESPACE:
			return TableSpaceRelationId;
		default:
			return InvalidOid;
	}
}

/*
 * GRANT/REVOKE: PostgreSQL reports only the object kind; log one row per
 * object whose privileges changed, with its identity.  Returns false when
 * the objects are unknown (the caller then logs the command as reported).
 */
static bool
CollectGrant(CaptureCall *call, const char *tag, CollectedCommand *cmd)
{
	InternalGrant *istmt = cmd->d.grant.istmt;
	Oid			classId = GrantObjectClass(istmt->objtype);
	SeenObjects seen = {0};
	ListCell   *lc;

	if (!OidIsValid(classId) || istmt->objects == NIL)
		return false;
	foreach(lc, istmt->objects)
	{
		ObjectAddress addr;
		Oid			nsp = InvalidOid;

		ObjectAddressSet(addr, classId, lfirst_oid(lc));
		if (is_objectclass_supported(classId) &&
			get_object_attnum_namespace(classId) != InvalidAttrNumber)
			nsp = get_object_namespace(&addr);
		if (OidIsValid(nsp) && isAnyTempNamespace(nsp))
			continue;
		PendingAddObject(call, &seen, tag, &addr, OidIsValid(nsp) ? get_namespace_name(nsp) : NULL);
	}
	return true;
}

/*
 * ddl_command_end: one row per command PostgreSQL collected (temporary
 * objects and CREATE/ALTER EXTENSION migrate_ops itself left out), plus the
 * sub-objects of ALTER TABLE and the objects of GRANT/REVOKE.
 */
static void
CollectCommands(CaptureCall *call, ExprContext *econtext)
{
	TupleDesc	desc;
	Tuplestorestate *rows = EventTriggerRows(F_PG_EVENT_TRIGGER_DDL_COMMANDS, econtext, &desc);
	TupleTableSlot *slot;

	if (rows == NULL)
		return;
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	/* columns: classid, objid, objsubid, command_tag, object_type, schema_name, object_identity, in_extension, command */
	while (tuplestore_gettupleslot(rows, true, false, slot))
	{
		char	   *tag;
		char	   *type;
		char	   *schema;
		char	   *identity;
		CollectedCommand *cmd;

		slot_getallattrs(slot);
		if (!slot->tts_isnull[7] && DatumGetBool(slot->tts_values[7]))
			continue;			/* part of an extension script */
		tag = SlotText(slot, 3);
		type = SlotText(slot, 4);
		schema = SlotText(slot, 5);
		identity = SlotText(slot, 6);
		cmd = slot->tts_isnull[8] ? NULL : (CollectedCommand *) DatumGetPointer(slot->tts_values[8]);

		if (schema && strcmp(schema, "pg_temp") == 0)
			continue;			/* temporary objects are not schema changes */
		if (type && identity && strcmp(type, "extension") == 0 &&
			strcmp(identity, MO_EXTENSION_NAME) == 0)
			continue;			/* CREATE/ALTER EXTENSION migrate_ops itself */
		if (cmd && cmd->type == SCT_Grant && CollectGrant(call, tag, cmd))
			continue;
		PendingAdd(call, tag, type, schema, identity, -1);
		if (cmd && cmd->type == SCT_AlterTable)
			CollectAlterTable(call, tag, cmd, schema);
	}
	ExecDropSingleTupleTableSlot(slot);
	tuplestore_end(rows);
}

/*
 * sql_drop: what a DROP removed — the objects named in the command and those
 * dropped with them by CASCADE, not the internal parts that go with every
 * table (row type, TOAST table, implicit indexes and sequences), nor
 * temporary objects.  DROP EXTENSION logs the extension, not each of its
 * members (PostgreSQL reports those like objects dropped by CASCADE).
 */
static void
CollectDropped(CaptureCall *call, ExprContext *econtext)
{
	TupleDesc	desc;
	Tuplestorestate *rows = EventTriggerRows(F_PG_EVENT_TRIGGER_DROPPED_OBJECTS, econtext, &desc);
	TupleTableSlot *slot;
	bool		drop_extension = strcmp(call->tag, "DROP EXTENSION") == 0;

	if (rows == NULL)
		return;
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	/* columns: classid, objid, objsubid, original, normal, is_temporary, object_type, schema_name, object_name, object_identity, ... */
	while (tuplestore_gettupleslot(rows, true, false, slot))
	{
		bool		original;
		bool		normal;
		char	   *type;
		char	   *identity;

		slot_getallattrs(slot);
		original = DatumGetBool(slot->tts_values[3]);
		normal = DatumGetBool(slot->tts_values[4]);
		if (DatumGetBool(slot->tts_values[5]))
			continue;			/* temporary */
		if (!original && (!normal || drop_extension))
			continue;
		type = SlotText(slot, 6);
		identity = SlotText(slot, 9);
		if (type && identity && strcmp(type, "extension") == 0 &&
			strcmp(identity, MO_EXTENSION_NAME) == 0)
			continue;
		if (type && identity && strcmp(type, "rule") == 0 &&
			strncmp(identity, "\"_RETURN\" on ", 13) == 0)
			continue;			/* a view's own rule: the view is logged */
		PendingAdd(call, call->tag, type, SlotText(slot, 7), identity, -1);
	}
	ExecDropSingleTupleTableSlot(slot);
	tuplestore_end(rows);
}

/* table_rewrite: the table, with PostgreSQL's reason bits, unless it is temporary. */
static void
CollectRewrite(CaptureCall *call)
{
	Oid			relid;
	int			reason;
	ObjectAddress addr;
	char	   *identity;

	LOCAL_FCINFO(fcinfo, 0);

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	relid = DatumGetObjectId(pg_event_trigger_table_rewrite_oid(fcinfo));
	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	reason = DatumGetInt32(pg_event_trigger_table_rewrite_reason(fcinfo));
	if (!OidIsValid(relid) || get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		return;
	ObjectAddressSet(addr, RelationRelationId, relid);
	identity = MO_OBJECT_IDENTITY(&addr);
	if (identity == NULL)
		return;
	PendingAdd(call, call->tag, MO_OBJECT_TYPE(&addr),
			   get_namespace_name(get_rel_namespace(relid)), identity, reason);
}

/*
 * migrate_ops.ddl_capture() → event_trigger
 * The event trigger behind migrate_ops_ddl_command_end, migrate_ops_sql_drop
 * and migrate_ops_table_rewrite: collects the rows to log (see the file
 * header for why this part cannot fail the DDL, and when they are written).
 */
/* Collects the rows one event-trigger call logs (see migrate_ops_ddl_capture()). */
static void
CaptureCollect(EventTriggerData *trigdata)
{
	CaptureCall *call;
	MemoryContext old;
	ExprContext *econtext;
	Oid			roleid;

	if (pending_cxt == NULL)
		pending_cxt = AllocSetContextCreate(TopTransactionContext, "migrate_ops capture",
											ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(pending_cxt);
	call = palloc0(sizeof(CaptureCall));
	call->event = trigdata->event;
	call->tag = GetCommandTagName(trigdata->tag);
	/* The role running the statement, as the hook saw it (a DDL's own code may switch roles). */
	roleid = current_frame ? current_frame->userid : GetUserId();
	call->role = GetUserNameFromId(roleid, true);
	if (call->role == NULL)
		call->role = psprintf("oid %u", roleid);
	call->session_role = GetUserNameFromId(GetSessionUserId(), true);
	if (call->session_role == NULL)
		call->session_role = psprintf("oid %u", GetSessionUserId());
	call->application_name = PendingStrdup(application_name);
	call->migration = PendingStrdup(MoCurrentMigration());
	if (!CaptureRedacted(trigdata->tag))
		call->statement = CaptureStatementText(&call->truncated);
	call->at = GetCurrentTimestamp();
	MemoryContextSwitchTo(old);

	capture_running = true;
	econtext = CreateStandaloneExprContext();
	PG_TRY();
	{
		if (strcmp(trigdata->event, "ddl_command_end") == 0)
			CollectCommands(call, econtext);
		else if (strcmp(trigdata->event, "sql_drop") == 0)
			CollectDropped(call, econtext);
		else if (strcmp(trigdata->event, "table_rewrite") == 0)
			CollectRewrite(call);
	}
	PG_FINALLY();
	{
		capture_running = false;
	}
	PG_END_TRY();
	FreeExprContext(econtext, true);

	/* A statement with very many DDL commands (a long DO block) writes as it goes. */
	if (list_length(pending) >= MO_PENDING_MAX_ROWS ||
		MemoryContextMemAllocated(pending_cxt, false) >= MO_PENDING_MAX_BYTES)
		CaptureFlush();
}

/*
 * True when this ddl_command_end may concern a deploy tool's ledger table
 * (tools.c): a table created or altered, or an index created, outside
 * extension scripts, binary upgrade and restores, and not by migrate_ops
 * itself.  Independent of migrate_ops.capture_ddl.
 */
static bool
ToolsHookWanted(EventTriggerData *trigdata)
{
	if (strcmp(trigdata->event, "ddl_command_end") != 0)
		return false;
	if (trigdata->tag != CMDTAG_CREATE_TABLE && trigdata->tag != CMDTAG_ALTER_TABLE &&
		trigdata->tag != CMDTAG_CREATE_INDEX)
		return false;
	if (!mo_track_tools || capture_running || capture_suspended || IsBinaryUpgrade || creating_extension)
		return false;
	return !MoCaptureIsRestore(true);
}

/*
 * The tables the current ddl_command_end created or changed (an index
 * counts as its table), each once; only inside the event trigger.
 */
static List *
DdlCommandRelations(void)
{
	ExprContext *econtext = CreateStandaloneExprContext();
	TupleDesc	desc;
	Tuplestorestate *rows = EventTriggerRows(F_PG_EVENT_TRIGGER_DDL_COMMANDS, econtext, &desc);
	TupleTableSlot *slot;
	List	   *relids = NIL;

	if (rows != NULL)
	{
		slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
		while (tuplestore_gettupleslot(rows, true, false, slot))
		{
			Oid			relid;

			slot_getallattrs(slot);
			if (DatumGetObjectId(slot->tts_values[0]) != RelationRelationId ||
				(!slot->tts_isnull[7] && DatumGetBool(slot->tts_values[7])))
				continue;
			relid = DatumGetObjectId(slot->tts_values[1]);
			if (get_rel_relkind(relid) == RELKIND_INDEX)
				relid = IndexGetRelation(relid, true);
			if (OidIsValid(relid))
				relids = list_append_unique_oid(relids, relid);
		}
		ExecDropSingleTupleTableSlot(slot);
		tuplestore_end(rows);
	}
	FreeExprContext(econtext, true);
	return relids;
}

/*
 * migrate_ops.ddl_capture() → event_trigger
 * The event trigger behind migrate_ops_ddl_command_end, migrate_ops_sql_drop
 * and migrate_ops_table_rewrite: collects the rows to log (see the file
 * header for why this part cannot fail the DDL, and when they are written),
 * then lets tools.c see tables a deploy tool may have created for its
 * ledger.
 */
Datum
migrate_ops_ddl_capture(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("migrate_ops.ddl_capture() can only be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (CaptureWanted())
		CaptureCollect(trigdata);
	if (ToolsHookWanted(trigdata))
		MoToolsDdlCommandEnd(DdlCommandRelations());
	PG_RETURN_VOID();
}

/* ---- writing (in a subtransaction) ---- */

/* What CaptureProtected() runs: the pending rows, the event, or both at once. */
typedef enum CaptureWork
{
	CAPTURE_FLUSH,
	CAPTURE_EVENT,
	CAPTURE_FLUSH_AND_EVENT
} CaptureWork;

/* Prepares (once per backend) and returns a saved plan, always generic. */
static SPIPlanPtr
CapturePlan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types)
{
	if (*slot == NULL)
	{
		/* Re-planning per DDL command would cost more than the insert. */
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "migrate_ops: SPI_prepare failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), sql);
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "migrate_ops: SPI_keepplan failed");
		*slot = plan;
	}
	return *slot;
}

/* Runs a saved plan; any failure is an error. */
static void
CaptureExec(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only)
{
	int			rc = SPI_execute_plan(plan, values, nulls, read_only, 0);

	if (rc < 0)
		elog(ERROR, "migrate_ops: SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/* This session's client address (inet_client_addr()), looked up once; NULL for a Unix socket. */
static Datum
ClientAddr(bool *isnull)
{
	static bool known = false;
	static bool addr_null = true;
	static Datum addr = (Datum) 0;

	if (!known)
	{
		LOCAL_FCINFO(fcinfo, 0);
		Datum		d;

		InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
		d = inet_client_addr(fcinfo);
		addr_null = fcinfo->isnull;
		if (!addr_null)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			addr = datumCopy(d, false, -1);
			MemoryContextSwitchTo(old);
		}
		known = true;
	}
	*isnull = addr_null;
	return addr;
}

/*
 * Takes RowExclusiveLock on one of our tables without waiting: the DDL being
 * logged must not queue behind maintenance that locks the table (VACUUM
 * FULL, LOCK TABLE, CLUSTER); the write fails instead, with a WARNING.
 */
static void
CaptureLockTable(Oid relid, const char *name)
{
	if (!ConditionalLockRelationOid(relid, RowExclusiveLock))
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("%s is locked by another session", name),
				 errdetail("Capture does not wait for it, so that DDL is never held up by maintenance of the log.")));
}

/* The columns of migrate_ops.ddl_log the capture fills, in LogColumn order. */
static const char *const log_columns[] = {
	"id", "logged_at", "event", "command_tag", "object_type", "schema_name",
	"object_identity", "rewrite_reason", "role", "session_role", "application_name",
	"client_addr", "backend_pid", "txid", "migration", "statement", "statement_truncated"
};

typedef enum LogColumn
{
	COL_ID, COL_LOGGED_AT, COL_EVENT, COL_COMMAND_TAG, COL_OBJECT_TYPE, COL_SCHEMA_NAME,
	COL_OBJECT_IDENTITY, COL_REWRITE_REASON, COL_ROLE, COL_SESSION_ROLE, COL_APPLICATION_NAME,
	COL_CLIENT_ADDR, COL_BACKEND_PID, COL_TXID, COL_MIGRATION, COL_STATEMENT,
	COL_STATEMENT_TRUNCATED, NUM_LOG_COLUMNS
} LogColumn;

/*
 * Writes the pending rows to migrate_ops.ddl_log (in the subtransaction, as
 * the log's owner: MoRowWriter) and returns the out-of-band ones as a batch
 * (in TopTransactionContext) for the ddl.out_of_band event, or NULL.  Every
 * column is given (the id drawn from the table's sequence), so no default
 * is evaluated.
 */
static OobBatch *
WritePending(void)
{
	Oid			relid = MoRelid(MO_REL_DDL_LOG);
	Oid			seq = MoRelid(MO_REL_DDL_LOG_SEQ);
	MoRowWriter w;
	AttrNumber	attno[NUM_LOG_COLUMNS];
	bool		addr_null;
	Datum		addr = ClientAddr(&addr_null);
	OobBatch   *batch = NULL;
	ListCell   *lc;

	if (!OidIsValid(relid) || !OidIsValid(seq))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("migrate_ops.ddl_log or its sequence does not exist")));
	CaptureLockTable(relid, "migrate_ops.ddl_log");
	MoRowWriterOpen(&w, relid, "migrate_ops.ddl_log");
	for (int c = 0; c < NUM_LOG_COLUMNS; c++)
		attno[c] = MoRowWriterColumn(&w, log_columns[c]);

	foreach(lc, pending)
	{
		PendingRow *row = (PendingRow *) lfirst(lc);
		CaptureCall *call = row->call;
		int64		id = nextval_internal(seq, false);

		if (session_first_log_id == 0)
			session_first_log_id = id;
		session_last_log_id = id;

		MoRowWriterBegin(&w);
		MoRowWriterSet(&w, attno[COL_ID], Int64GetDatum(id), false);
		MoRowWriterSet(&w, attno[COL_LOGGED_AT], TimestampTzGetDatum(call->at), false);
		MoRowWriterSetText(&w, attno[COL_EVENT], call->event);
		MoRowWriterSetText(&w, attno[COL_COMMAND_TAG], row->command_tag);
		MoRowWriterSetText(&w, attno[COL_OBJECT_TYPE], row->object_type);
		MoRowWriterSetText(&w, attno[COL_SCHEMA_NAME], row->schema_name);
		MoRowWriterSetText(&w, attno[COL_OBJECT_IDENTITY], row->object_identity);
		MoRowWriterSet(&w, attno[COL_REWRITE_REASON], Int32GetDatum(row->rewrite_reason),
					   row->rewrite_reason < 0);
		MoRowWriterSetText(&w, attno[COL_ROLE], call->role);
		MoRowWriterSetText(&w, attno[COL_SESSION_ROLE], call->session_role);
		MoRowWriterSetText(&w, attno[COL_APPLICATION_NAME], call->application_name);
		MoRowWriterSet(&w, attno[COL_CLIENT_ADDR], addr, addr_null);
		MoRowWriterSet(&w, attno[COL_BACKEND_PID], Int32GetDatum(MyProcPid), false);
		MoRowWriterSet(&w, attno[COL_TXID], FullTransactionIdGetDatum(GetTopFullTransactionId()), false);
		MoRowWriterSetText(&w, attno[COL_MIGRATION], call->migration);
		MoRowWriterSetText(&w, attno[COL_STATEMENT], call->statement);
		MoRowWriterSet(&w, attno[COL_STATEMENT_TRUNCATED], BoolGetDatum(call->truncated), false);
		MoRowWriterInsert(&w);

		if (call->migration != NULL)
			continue;
		if (batch == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

			batch = palloc0(sizeof(OobBatch));
			batch->first_id = id;
			batch->first_at = call->at;
			batch->role = pstrdup(call->role);
			batch->session_role = pstrdup(call->session_role);
			batch->application_name = call->application_name ? pstrdup(call->application_name) : NULL;
			batch->client_addr = addr_null ? NULL :
				DatumGetCString(DirectFunctionCall1(inet_out, addr));
			MemoryContextSwitchTo(old);
		}
		batch->nrows++;
		batch->last_id = id;
		if (oob_items_held + list_length(batch->items) < MO_OOB_LISTED)
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
			OobItem    *item = palloc(sizeof(OobItem));

			item->log_id = id;
			item->event = call->event;
			item->command_tag = pstrdup(row->command_tag);
			item->object_type = row->object_type ? pstrdup(row->object_type) : NULL;
			item->object_identity = row->object_identity ? pstrdup(row->object_identity) : NULL;
			item->role = pstrdup(call->role);
			batch->items = lappend(batch->items, item);
			MemoryContextSwitchTo(old);
		}
	}
	MoRowWriterClose(&w);
	return batch;
}

static void CaptureEmitOutOfBand(List *batches);

/* What CaptureProtected() runs in its subtransaction, and how far it got. */
typedef struct CaptureRun
{
	CaptureWork work;
	CaptureWork step;			/* the step running */
	OobBatch   *written;		/* the out-of-band batch written */
} CaptureRun;

static void
CaptureRunWork(void *arg)
{
	CaptureRun *run = (CaptureRun *) arg;

	if (run->work != CAPTURE_EVENT && pending != NIL)
		run->written = WritePending();
	if (run->work != CAPTURE_FLUSH)
	{
		List	   *all = oob_batches;

		run->step = CAPTURE_EVENT;
		if (run->written)
			all = lappend(list_copy(all), run->written);
		if (all != NIL)
			CaptureEmitOutOfBand(all);	/* by the role that commits */
	}
}

/*
 * Runs capture work that writes — the pending rows, the ddl.out_of_band
 * event, or both — in one internal subtransaction (MoTrySubtransaction).
 * On error the subtransaction, and only it, is rolled back, a WARNING says
 * why, and *failed tells which step failed; a cancel is re-raised.  Returns
 * whether it succeeded; *batch is the out-of-band batch written.
 */
static bool
CaptureProtected(CaptureWork work, const char *what, OobBatch **batch, CaptureWork *failed)
{
	CaptureRun	run = {work, work == CAPTURE_EVENT ? CAPTURE_EVENT : CAPTURE_FLUSH, NULL};
	ErrorData  *edata = MoTrySubtransaction(CaptureRunWork, &run);

	if (edata == NULL)
	{
		*batch = run.written;
		return true;
	}
	if (run.step == CAPTURE_EVENT)
		ereport(WARNING,
				(errmsg("migrate_ops could not record the ddl.out_of_band event: %s (SQLSTATE %s)",
						edata->message, unpack_sql_state(edata->sqlerrcode)),
				 errdetail("The transaction is not affected.")));
	else
		ereport(WARNING,
				(errmsg("migrate_ops could not record %s in migrate_ops.ddl_log: %s (SQLSTATE %s)",
						what, edata->message, unpack_sql_state(edata->sqlerrcode)),
				 errdetail("The DDL itself is not affected; it is missing from the DDL log.")));
	FreeErrorData(edata);
	*failed = run.step;
	*batch = NULL;
	return false;
}

/* Keeps a written out-of-band batch for the transaction's event (merging with the last one). */
static void
KeepBatch(OobBatch *batch)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	OobBatch   *tail = oob_batches ? (OobBatch *) llast(oob_batches) : NULL;

	oob_items_held += list_length(batch->items);
	if (tail && tail->subid == GetCurrentSubTransactionId())
	{
		/* same subtransaction: one batch, so a long transaction keeps a short list */
		tail->nrows += batch->nrows;
		tail->last_id = batch->last_id;
		tail->items = list_concat(tail->items, batch->items);
	}
	else
	{
		batch->subid = GetCurrentSubTransactionId();
		oob_batches = lappend(oob_batches, batch);
	}
	MemoryContextSwitchTo(old);
}

/* Describes the pending rows for a WARNING: "CREATE TABLE and 3 more DDL rows". */
static char *
PendingWhat(void)
{
	PendingRow *first = (PendingRow *) linitial(pending);

	if (list_length(pending) == 1)
		return pstrdup(first->command_tag);
	return psprintf("%s and %d more DDL rows", first->command_tag, list_length(pending) - 1);
}

/*
 * Writes the pending rows (protected), keeps their out-of-band batch for the
 * commit's event, and forgets them — written or not.  With do_event (at
 * pre-commit), also emits the transaction's ddl.out_of_band event in the same
 * subtransaction; if only the event fails, the rows are written without it.
 */
static void
CaptureWrite(bool do_event)
{
	char	   *what;
	OobBatch   *volatile batch = NULL;
	bool		snapshot = !ActiveSnapshotSet();

	if (capture_running || (pending == NIL && (!do_event || oob_batches == NIL)))
		return;
	if (!OidIsValid(MoRelid(MO_REL_DDL_LOG)))
	{
		/* DROP EXTENSION migrate_ops ran since: nothing left to write to */
		pending = NIL;
		if (pending_cxt)
			MemoryContextReset(pending_cxt);
		return;
	}
	what = pending != NIL ? PendingWhat() : NULL;

	capture_running = true;
	if (snapshot)
		PushActiveSnapshot(GetTransactionSnapshot());	/* e.g. at pre-commit */
	PG_TRY();
	{
		OobBatch   *b = NULL;
		CaptureWork failed = CAPTURE_FLUSH;

		if (!do_event)
			(void) CaptureProtected(CAPTURE_FLUSH, what, &b, &failed);
		else if (!CaptureProtected(pending != NIL ? CAPTURE_FLUSH_AND_EVENT : CAPTURE_EVENT,
								   what, &b, &failed))
		{
			if (failed == CAPTURE_EVENT && pending != NIL)
				(void) CaptureProtected(CAPTURE_FLUSH, what, &b, &failed);
			else if (failed == CAPTURE_FLUSH && oob_batches != NIL)
				(void) CaptureProtected(CAPTURE_EVENT, NULL, &b, &failed);
		}
		batch = b;
	}
	PG_FINALLY();
	{
		capture_running = false;
		pending = NIL;
		if (pending_cxt)
			MemoryContextReset(pending_cxt);
	}
	PG_END_TRY();
	if (snapshot)
		PopActiveSnapshot();

	if (batch && !do_event)
		KeepBatch(batch);
	if (what)
		pfree(what);
}

/* Writes what this session's DDL collected so far (protected). */
static void
CaptureFlush(void)
{
	CaptureWrite(false);
}

/* ---- ddl.out_of_band ---- */

/*
 * The ddl.out_of_band payload is built as jsonb directly (pushJsonbValue),
 * not printed as JSON text and parsed again: it is written at the commit
 * of every out-of-band DDL transaction.
 */

/* Pushes a string value (or JSON null) of a jsonb being built. */
static void
JbPush(JsonbParseState **state, JsonbIteratorToken token, const char *value)
{
	JsonbValue	v;

	if (value == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) value;
		v.val.string.len = strlen(value);
	}
	(void) pushJsonbValue(state, token, &v);
}

/* Adds "key": value-as-string (or null) to the jsonb object being built. */
static void
JbField(JsonbParseState **state, const char *key, const char *value)
{
	JbPush(state, WJB_KEY, key);
	JbPush(state, WJB_VALUE, value);
}

/* Adds "key": number to the jsonb object being built. */
static void
JbFieldInt(JsonbParseState **state, const char *key, int64 value)
{
	JsonbValue	v;

	JbPush(state, WJB_KEY, key);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(value);
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

/* True when ddl_log row id was claimed by a tool in this transaction. */
static bool
IsClaimed(int64 id)
{
	ListCell   *lc;

	foreach(lc, claimed)
	{
		ClaimedIds *c = (ClaimedIds *) lfirst(lc);
		int			lo = 0,
					hi = c->n - 1;

		while (lo <= hi)
		{
			int			mid = (lo + hi) / 2;

			if (c->ids[mid] == id)
				return true;
			if (c->ids[mid] < id)
				lo = mid + 1;
			else
				hi = mid - 1;
		}
	}
	return false;
}

/* How many of the ids in [first, last] were claimed in this transaction. */
static int64
ClaimedBetween(int64 first, int64 last)
{
	int64		n = 0;
	ListCell   *lc;

	foreach(lc, claimed)
	{
		ClaimedIds *c = (ClaimedIds *) lfirst(lc);

		for (int i = 0; i < c->n; i++)
			if (c->ids[i] >= first && c->ids[i] <= last)
				n++;
	}
	return n;
}

/*
 * Emits one ddl.out_of_band event for this transaction's out-of-band DDL
 * (SPI connected, in the subtransaction): who and from where (as of the
 * first command), how many log rows, and the first MO_OOB_LISTED of them.
 * Rows a tool claimed for its migration (MoCaptureClaim) are not
 * out-of-band any more: they are left out, and with none left, so is the
 * event.
 */
static void
CaptureEmitOutOfBand(List *batches)
{
	OobBatch   *first = NULL;
	JsonbParseState *state = NULL;
	Jsonb	   *payload;
	int64		count = 0;
	int64		last_id = 0;
	int			listed = 0;
	Oid			events;
	ListCell   *lc;

	foreach(lc, batches)
	{
		OobBatch   *b = (OobBatch *) lfirst(lc);
		int64		left = b->nrows - (claimed ? ClaimedBetween(b->first_id, b->last_id) : 0);

		if (left <= 0)
			continue;
		if (first == NULL)
			first = b;
		count += left;
		last_id = b->last_id;
	}
	if (first == NULL)
		return;					/* every row was claimed by a tool's migration */

	events = MoRelid(MO_REL_EVENTS);
	if (!OidIsValid(events))
		return;					/* the extension was dropped in this transaction */
	CaptureLockTable(events, "migrate_ops.events");

	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	JbField(&state, "txid", psprintf(UINT64_FORMAT, U64FromFullTransactionId(GetTopFullTransactionId())));
	JbField(&state, "role", first->role);
	JbField(&state, "session_role", first->session_role);
	JbField(&state, "application_name", first->application_name);
	JbField(&state, "client_addr", first->client_addr);
	JbFieldInt(&state, "backend_pid", MyProcPid);
	JbField(&state, "first_at", JsonEncodeDateTime(NULL, TimestampTzGetDatum(first->first_at),
												  TIMESTAMPTZOID, NULL));
	JbFieldInt(&state, "count", count);
	JbFieldInt(&state, "first_log_id", first->first_id);
	JbFieldInt(&state, "last_log_id", last_id);
	JbPush(&state, WJB_KEY, "commands");
	(void) pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	foreach(lc, batches)
	{
		OobBatch   *b = (OobBatch *) lfirst(lc);
		ListCell   *ic;

		foreach(ic, b->items)
		{
			OobItem    *it = (OobItem *) lfirst(ic);

			if (claimed && IsClaimed(it->log_id))
				continue;
			if (listed++ >= MO_OOB_LISTED)
				break;
			(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
			JbFieldInt(&state, "log_id", it->log_id);
			JbField(&state, "event", it->event);
			JbField(&state, "command_tag", it->command_tag);
			JbField(&state, "object_type", it->object_type);
			JbField(&state, "object_identity", it->object_identity);
			JbField(&state, "role", it->role);
			(void) pushJsonbValue(&state, WJB_END_OBJECT, NULL);
		}
	}
	(void) pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	payload = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));

	(void) MoEmitEventJsonb("ddl.out_of_band", payload);	/* CaptureWrite() brought a snapshot */
}

/*
 * Before a transaction commits (or is prepared): write what is still
 * pending and emit its ddl.out_of_band event.  At its end: forget the
 * session's per-transaction capture state.
 */
static void
CaptureXactCallback(XactEvent event, void *arg)
{
	(void) arg;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			CaptureWrite(true);
			oob_batches = NIL;	/* their memory goes with the transaction */
			oob_items_held = 0;
			claimed = NIL;
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			pending = NIL;
			pending_cxt = NULL; /* deleted with TopTransactionContext */
			oob_batches = NIL;
			oob_items_held = 0;
			claimed = NIL;
			capture_suspended = false;
			break;
		default:
			break;
	}
}

/* The per-transaction lists whose entries follow their subtransaction. */
typedef enum SubXactList
{
	SUBXACT_PENDING,			/* pending: PendingRow */
	SUBXACT_BATCHES,			/* oob_batches: OobBatch */
	SUBXACT_CLAIMED				/* claimed: ClaimedIds */
} SubXactList;

/*
 * A savepoint's rows (pending or written, or claimed) follow it: to its parent when it is
 * released, away when it is rolled back.  Both lists are in subtransaction
 * order, so the entries of mySubid (and its finished children) are the tail.
 */
static List *
SubXactTail(List *list, SubXactList kind, SubXactEvent event,
			SubTransactionId mySubid, SubTransactionId parentSubid)
{
	int			keep;

	for (keep = list_length(list); keep > 0; keep--)
	{
		void	   *entry = list_nth(list, keep - 1);
		SubTransactionId *subid = kind == SUBXACT_PENDING ? &((PendingRow *) entry)->subid :
		kind == SUBXACT_BATCHES ? &((OobBatch *) entry)->subid :
		&((ClaimedIds *) entry)->subid;

		if (*subid < mySubid)
			break;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			*subid = parentSubid;
		else if (kind == SUBXACT_BATCHES)
			oob_items_held -= list_length(((OobBatch *) entry)->items);
	}
	if (event == SUBXACT_EVENT_ABORT_SUB)
		list = list_truncate(list, keep);
	return list;
}

/* Subtransaction end: see SubXactTail(). */
static void
CaptureSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	(void) arg;
	if (event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB)
		return;
	pending = SubXactTail(pending, SUBXACT_PENDING, event, mySubid, parentSubid);
	oob_batches = SubXactTail(oob_batches, SUBXACT_BATCHES, event, mySubid, parentSubid);
	claimed = SubXactTail(claimed, SUBXACT_CLAIMED, event, mySubid, parentSubid);
}

/* ---- append-only guard and maintenance ---- */

/*
 * migrate_ops.ddl_log_append_only() → trigger
 * Refuses UPDATE, DELETE and TRUNCATE of migrate_ops.ddl_log, whoever asks,
 * except the extension's own retention pruning.
 */
Datum
migrate_ops_ddl_log_append_only(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *what;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("migrate_ops.ddl_log_append_only() can only be called as a trigger")));
	if (ddl_log_maintenance)
		return PointerGetDatum(NULL);

	what = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? "UPDATE" :
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ? "DELETE" :
		TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) ? "TRUNCATE" : "this command";
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("migrate_ops.ddl_log is append-only"),
			 errdetail("%s of the DDL log is not allowed, for any role.", what),
			 errhint("Old rows are removed only by migrate_ops' own retention pruning.")));
	return PointerGetDatum(NULL);	/* keep compiler quiet */
}

/*
 * Retention (for the background worker): deletes up to limit (0 = all) of
 * the oldest ddl_log rows logged before older_than, as the extension's owner
 * and past the append-only guard; returns how many.  SPI need not be
 * connected.
 */
int64
MoDdlLogPrune(TimestampTz older_than, int limit)
{
	MoOwnerState owner;
	MoArgs		args = {0};
	int64		n = 0;

	MoArgTimestamptz(&args, older_than, false);
	MoArgInt4(&args, limit > 0 ? limit : PG_INT32_MAX);
	SPI_connect();
	MoBecomeOwner(&owner);
	ddl_log_maintenance = true;
	PG_TRY();
	{
		MoSpiExec("DELETE FROM migrate_ops.ddl_log WHERE id OPERATOR(pg_catalog.=) ANY (ARRAY("
				  " SELECT id FROM migrate_ops.ddl_log WHERE logged_at OPERATOR(pg_catalog.<) $1"
				  " ORDER BY id LIMIT $2))", &args);
		n = (int64) SPI_processed;
	}
	PG_FINALLY();
	{
		ddl_log_maintenance = false;
	}
	PG_END_TRY();
	MoRestoreUser(&owner);
	SPI_finish();
	return n;
}

/* ---- claims: DDL a tool ran before it recorded its migration (tools.c) ---- */

/*
 * After a claiming UPDATE (its rows in SPI_tuptable: id, logged_at, by id):
 * the earliest logged_at, and with own, the ids of this transaction's
 * out-of-band rows, kept for its event.
 */
static void
ClaimRemember(bool own, TimestampTz *first_at)
{
	int64		lowest_batch = PG_INT64_MAX;
	ClaimedIds *c = NULL;
	ListCell   *lc;

	foreach(lc, oob_batches)
		lowest_batch = Min(lowest_batch, ((OobBatch *) lfirst(lc))->first_id);
	if (own && lowest_batch != PG_INT64_MAX)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		c = palloc(sizeof(ClaimedIds));
		c->subid = GetCurrentSubTransactionId();
		c->n = 0;
		c->ids = palloc(sizeof(int64) * SPI_processed);
		MemoryContextSwitchTo(old);
	}
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		TimestampTz at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));

		if (*first_at == 0 || at < *first_at)
			*first_at = at;
		if (c && id >= lowest_batch)
			c->ids[c->n++] = id;	/* a row of this transaction's event (ids come sorted) */
	}
	if (c && c->n > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		claimed = lappend(claimed, c);
		MemoryContextSwitchTo(old);
	}
	else if (c)
	{
		pfree(c->ids);
		pfree(c);
	}
}

/*
 * Runs a claiming UPDATE of ddl_log (the query sets migration = $1 and
 * returns id, logged_at), as the log's owner past the append-only guard.
 * With own (rows of this session), remembers the ids it claimed in this
 * transaction, so that they leave its ddl.out_of_band event; returns how many rows it claimed and the
 * earliest logged_at in *first_at (0 if none).
 */
static int64
ClaimExec(const char *sql, MoArgs *args, bool own, TimestampTz *first_at)
{
	MoOwnerState owner;
	volatile int64 n = 0;

	*first_at = 0;
	SPI_connect();
	MoBecomeOwner(&owner);
	ddl_log_maintenance = true;
	PG_TRY();
	{
		MoSpiExec(sql, args);
		n = (int64) SPI_processed;
	}
	PG_FINALLY();
	{
		ddl_log_maintenance = false;
	}
	PG_END_TRY();
	MoRestoreUser(&owner);
	if (n > 0)
		ClaimRemember(own, first_at);
	SPI_finish();
	return n;
}

/*
 * Attributes this session's unclaimed out-of-band DDL to version: every row
 * it logged since the previous claim (or fence), in this transaction or in
 * earlier ones, with no migration.  For tools that run a migration's DDL
 * first and record the migration afterwards (Flyway, dbmate): the DDL of
 * the transaction that records it, or, when the tool ran it outside a
 * transaction, the earlier transactions of the session.  The rows of this
 * transaction leave its ddl.out_of_band event; an event already committed
 * stays sent.  With version NULL only sets a fence: what this session
 * logged so far can no longer be claimed (a tool's own set-up, the DDL
 * inside a migration that is already attributed).  Returns the number of
 * rows claimed and the earliest logged_at in *first_at (0 if none).
 * Follows the (sub)transaction like the rows it changes.
 */
int64
MoCaptureClaim(const char *version, TimestampTz *first_at)
{
	MoArgs		args = {0};
	int64		floor_id;
	int64		n;

	*first_at = 0;
	CaptureFlush();				/* this session's DDL so far is in the log */
	floor_id = Max(claim_floor, session_first_log_id - 1);
	if (version == NULL || session_last_log_id <= floor_id ||
		!OidIsValid(MoRelid(MO_REL_DDL_LOG)))
	{
		claim_floor = session_last_log_id;
		return 0;
	}
	MoArgText(&args, version);
	MoArgInt8(&args, floor_id);
	MoArgInt8(&args, session_last_log_id);
	MoArgInt4(&args, MyProcPid);
	n = ClaimExec("WITH c AS (UPDATE migrate_ops.ddl_log SET migration = $1"
				  "  WHERE id OPERATOR(pg_catalog.>) $2 AND id OPERATOR(pg_catalog.<=) $3"
				  "    AND backend_pid OPERATOR(pg_catalog.=) $4 AND migration IS NULL"
				  "  RETURNING id, logged_at)"
				  " SELECT id, logged_at FROM c ORDER BY id", &args, true, first_at);
	claim_floor = session_last_log_id;
	return n;
}

/*
 * Attributes to version the unclaimed out-of-band DDL that other sessions
 * of the same login role, from the same client address, committed since
 * since — for a tool that runs its scripts through another connection
 * (Sqitch runs psql) and records them while its own transaction, opened
 * before the script ran, is still open.  A heuristic: an unrelated session
 * of the same role and address in that interval is claimed too.  Returns
 * the number of rows claimed and the earliest logged_at in *first_at.
 */
int64
MoCaptureClaimOthers(const char *version, TimestampTz since, TimestampTz *first_at)
{
	MoArgs		args = {0};

	*first_at = 0;
	if (!OidIsValid(MoRelid(MO_REL_DDL_LOG)))
		return 0;
	MoArgText(&args, version);
	MoArgTimestamptz(&args, since, false);
	MoArgInt4(&args, MyProcPid);
	MoArgText(&args, GetUserNameFromId(GetSessionUserId(), false));
	/* the id bound lets the primary key skip what was logged before since */
	return ClaimExec("WITH c AS (UPDATE migrate_ops.ddl_log SET migration = $1"
					 "  WHERE id OPERATOR(pg_catalog.>) COALESCE((SELECT b.id FROM migrate_ops.ddl_log b"
					 "          WHERE b.logged_at OPERATOR(pg_catalog.<) $2 ORDER BY b.id DESC LIMIT 1), 0)"
					 "    AND logged_at OPERATOR(pg_catalog.>=) $2"
					 "    AND backend_pid OPERATOR(pg_catalog.<>) $3 AND migration IS NULL"
					 "    AND session_role OPERATOR(pg_catalog.=) $4"
					 "    AND client_addr IS NOT DISTINCT FROM pg_catalog.inet_client_addr()"
					 "  RETURNING id, logged_at)"
					 " SELECT id, logged_at FROM c ORDER BY id", &args, false, first_at);
}

/*
 * migrate_ops.prune_ddl_log(older_than interval) → bigint
 * Deletes the DDL log rows logged more than older_than ago (the sanctioned
 * way past the append-only guard, for installs without the worker's
 * retention); returns how many.
 */
Datum
migrate_ops_prune_ddl_log(PG_FUNCTION_ARGS)
{
	Interval   *older_than;
	Interval	zero = {0};
	TimestampTz cutoff;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("older_than must not be null")));
	older_than = PG_GETARG_INTERVAL_P(0);
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(older_than),
										  IntervalPGetDatum(&zero))) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative"),
				 errhint("Pass how old a row must be to go, such as '90 days'.")));
	/* an age reaching before the first timestamp: no row is that old (not an overflow) */
	if (((double) older_than->month * DAYS_PER_MONTH + older_than->day) * USECS_PER_DAY + older_than->time >=
		(double) (GetCurrentTimestamp() - MIN_TIMESTAMP) - USECS_PER_DAY)
		PG_RETURN_INT64(0);
	cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													 TimestampTzGetDatum(GetCurrentTimestamp()),
													 IntervalPGetDatum(older_than)));
	CaptureFlush();				/* rows of this session's DDL so far are rows like any other */
	PG_RETURN_INT64(MoDdlLogPrune(cutoff, 0));
}

/*
 * Suspends (true) or resumes (false) capture in this backend, for DDL the
 * extension runs for itself; returns the previous setting.  Reset at the end
 * of every transaction.
 */
bool
MoCaptureSuspend(bool suspend)
{
	bool		old = capture_suspended;

	capture_suspended = suspend;
	return old;
}

/* ---- attribution (for drift()) ---- */

/* Builds a text[] datum from a NULL-terminated list of strings. */
static Datum
TextArray(const char *const *items)
{
	ArrayBuildState *state = NULL;

	for (; *items; items++)
		state = accumArrayResult(state, CStringGetTextDatum(*items), false, TEXTOID,
								 CurrentMemoryContext);
	return makeArrayResult(state, CurrentMemoryContext);
}

/*
 * Looks up the latest ddl_log row of identity (with one of tags, when
 * given); strings are copied into cxt.
 */
static bool
AttributionLookup(const char *identity, const char *const *tags, MemoryContext cxt,
				  MoAttribution *out)
{
	Oid			types[2] = {TEXTOID, TEXTARRAYOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	SPIPlanPtr	plan;
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	char	   *s;

	values[0] = CStringGetTextDatum(identity);
	if (tags)
		values[1] = TextArray(tags);
	else
	{
		values[1] = (Datum) 0;
		nulls[1] = 'n';
	}
	plan = CapturePlan(&plan_attribution,
					   "SELECT id, logged_at, role, application_name, migration, command_tag"
					   "  FROM migrate_ops.ddl_log"
					   " WHERE object_identity OPERATOR(pg_catalog.=) $1"
					   "   AND ($2 IS NULL OR command_tag OPERATOR(pg_catalog.=) ANY ($2))"
					   " ORDER BY id DESC LIMIT 1", 2, types);
	CaptureExec(plan, values, nulls, true);
	if (SPI_processed == 0)
		return false;
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	out->log_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	out->logged_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 2, &isnull));
	s = SPI_getvalue(tuple, desc, 3);
	out->role = s ? MemoryContextStrdup(cxt, s) : NULL;
	s = SPI_getvalue(tuple, desc, 4);
	out->application_name = s ? MemoryContextStrdup(cxt, s) : NULL;
	s = SPI_getvalue(tuple, desc, 5);
	out->migration = s ? MemoryContextStrdup(cxt, s) : NULL;
	s = SPI_getvalue(tuple, desc, 6);
	out->command_tag = s ? MemoryContextStrdup(cxt, s) : NULL;
	return true;
}

/*
 * Who last changed an object: the latest ddl_log row whose object_identity
 * is identity, else (when parent_identity is given, e.g. the table of a
 * column, constraint, index, trigger or policy) the latest row of the
 * parent; with tags (NULL-terminated command tags, e.g. {"COMMENT", NULL}),
 * only rows of those commands.  Fills *out (strings in the caller's memory
 * context) and returns true when a row was found.  Reads the log as the
 * extension's owner, so the caller needs no privilege on it.
 */
bool
MoDdlAttributionFor(const char *identity, const char *parent_identity,
					const char *const *tags, MoAttribution *out)
{
	MemoryContext cxt = CurrentMemoryContext;
	MoOwnerState owner;
	bool		found = false;

	memset(out, 0, sizeof(*out));
	if (identity == NULL && parent_identity == NULL)
		return false;
	CaptureFlush();				/* this session's DDL so far */
	SPI_connect();
	MoBecomeOwner(&owner);
	if (identity)
		found = AttributionLookup(identity, tags, cxt, out);
	if (!found && parent_identity)
	{
		found = AttributionLookup(parent_identity, tags, cxt, out);
		out->by_parent = found;
	}
	MoRestoreUser(&owner);
	SPI_finish();
	return found;
}

/* MoDdlAttributionFor() of any command: who last changed the object (or its parent). */
bool
MoDdlAttribution(const char *identity, const char *parent_identity, MoAttribution *out)
{
	return MoDdlAttributionFor(identity, parent_identity, NULL, out);
}

/* ---- module setup ---- */

/* Defines the capture settings and installs the hook and callbacks (from _PG_init). */
void
CaptureInit(void)
{
	DefineCustomBoolVariable("migrate_ops.capture_ddl",
							 "Records DDL in migrate_ops.ddl_log.",
							 "Off: the event triggers record nothing (no ddl.out_of_band events either).",
							 &mo_capture_ddl,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("migrate_ops.capture_statement_max",
							"Bytes of each DDL statement's text kept in migrate_ops.ddl_log.",
							"Longer statements are cut (statement_truncated is set); 0 keeps no text.",
							&mo_capture_statement_max,
							4096, 0, MO_CAPTURE_STATEMENT_LIMIT,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = CaptureProcessUtility;
	prev_post_parse_analyze_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = CapturePostParseAnalyze;
	RegisterXactCallback(CaptureXactCallback, NULL);
	RegisterSubXactCallback(CaptureSubXactCallback, NULL);
}
