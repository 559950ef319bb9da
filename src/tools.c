/*
 * tools.c — working with the deploy tools teams already use: Prisma,
 * Flyway, dbmate, golang-migrate and Sqitch (DESIGN §1 record-only mode,
 * with zero change to their pipeline).
 *
 * Recognition.  Each tool keeps its own ledger table; migrate_ops
 * recognises it by its shape (column names and types as the tool creates
 * it), in any schema and under any name, whether it existed before CREATE
 * EXTENSION (the install script looks for it) or the tool creates it later
 * (the DDL capture's ddl_command_end calls MoToolsDdlCommandEnd()).
 *
 * The trigger.  On a recognised table migrate_ops installs a trigger
 * (migrate_ops_tool, AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW, and for
 * golang-migrate migrate_ops_tool_truncate, BEFORE TRUNCATE) calling
 * migrate_ops.tool_ledger_trigger('<tool>').  The trigger depends on the
 * extension (DEPENDS ON EXTENSION), so DROP EXTENSION removes it, pg_dump
 * keeps it, and drift detection counts it as part of migrate_ops.  It
 * translates what the tool writes into the ledger's record-only mode
 * (ledger.c: MoToolBegin/MoToolEnd), with the tool's name as the source,
 * its checksum and timing; it never makes the tool's statement fail: all
 * of its work runs in a subtransaction, and an error becomes a WARNING.
 *
 * Versions are "<tool>:<the tool's own version>" ("prisma:20260101_init",
 * "flyway:1.2", "sqitch:<project>:<change>"), with the ledger table in
 * brackets when it is not at the tool's default place
 * ("prisma[tenant_a]:20260101_init", "dbmate[public.app_migrations]:1").
 *
 * Attribution.  Prisma inserts its row before running a migration and
 * golang-migrate sets its dirty flag: that opens the migration in the
 * session, and the DDL that follows carries its version.  Flyway and dbmate
 * write their row after the DDL: the row claims the session's out-of-band
 * DDL since the tool's previous ledger write (MoCaptureClaim), in the same
 * transaction or, for migrations run outside one, in the session's earlier
 * transactions.  Sqitch runs its scripts through psql, another session:
 * its row claims that session's DDL too (MoCaptureClaimOthers).
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "migrate_ops.h"

PG_FUNCTION_INFO_V1(migrate_ops_tool_ledger_trigger);
PG_FUNCTION_INFO_V1(migrate_ops_tool_ledgers);
PG_FUNCTION_INFO_V1(migrate_ops_tool_ledgers_install);
PG_FUNCTION_INFO_V1(migrate_ops_sync);

/* migrate_ops.track_tools: recognise and record deploy tools' ledgers. */
bool		mo_track_tools = true;

#define TOOL_TRIGGER			"migrate_ops_tool"
#define TOOL_TRUNCATE_TRIGGER	"migrate_ops_tool_truncate"

/* ---- the tools and the shapes of their ledger tables ---- */

typedef enum ToolKind
{
	TOOL_PRISMA,
	TOOL_FLYWAY,
	TOOL_DBMATE,
	TOOL_GOLANG_MIGRATE,
	TOOL_SQITCH,
	NUM_TOOLS
} ToolKind;

/* Column type classes: what each tool's DDL creates, and what hand-made copies use. */
#define CT_TEXT		't'			/* varchar, text, char */
#define CT_TIME		'T'			/* timestamp, timestamptz */
#define CT_INT4		'i'
#define CT_INT8		'b'
#define CT_BOOL		'B'
#define CT_TEXTS	'a'			/* text[], varchar[] */

/* One column of a tool's ledger table. */
typedef struct ToolColumn
{
	const char *name;
	char		type;
} ToolColumn;

/* Prisma's _prisma_migrations (schema engine, create_migrations_table). */
static const ToolColumn prisma_columns[] = {
	{"id", CT_TEXT}, {"checksum", CT_TEXT}, {"finished_at", CT_TIME},
	{"migration_name", CT_TEXT}, {"logs", CT_TEXT}, {"rolled_back_at", CT_TIME},
	{"started_at", CT_TIME}, {"applied_steps_count", CT_INT4}, {NULL, 0}
};

/* Flyway's flyway_schema_history (createMetaDataTable.sql for PostgreSQL). */
static const ToolColumn flyway_columns[] = {
	{"installed_rank", CT_INT4}, {"version", CT_TEXT}, {"description", CT_TEXT},
	{"type", CT_TEXT}, {"script", CT_TEXT}, {"checksum", CT_INT4},
	{"installed_by", CT_TEXT}, {"installed_on", CT_TIME}, {"execution_time", CT_INT4},
	{"success", CT_BOOL}, {NULL, 0}
};

/* dbmate's schema_migrations: (version varchar(128) primary key). */
static const ToolColumn dbmate_columns[] = {
	{"version", CT_TEXT}, {NULL, 0}
};

/* golang-migrate's schema_migrations: (version bigint not null primary key, dirty boolean not null). */
static const ToolColumn golang_columns[] = {
	{"version", CT_INT8}, {"dirty", CT_BOOL}, {NULL, 0}
};

/* Sqitch's registry table events (App/Sqitch/Engine/pg.sql). */
static const ToolColumn sqitch_columns[] = {
	{"event", CT_TEXT}, {"change_id", CT_TEXT}, {"change", CT_TEXT}, {"project", CT_TEXT},
	{"note", CT_TEXT}, {"requires", CT_TEXTS}, {"conflicts", CT_TEXTS}, {"tags", CT_TEXTS},
	{"committed_at", CT_TIME}, {"committer_name", CT_TEXT}, {"committer_email", CT_TEXT},
	{"planned_at", CT_TIME}, {"planner_name", CT_TEXT}, {"planner_email", CT_TEXT}, {NULL, 0}
};

/* A tool: its name, where its ledger is by default, and the ledger's shape. */
typedef struct ToolShape
{
	const char *name;
	const char *schema;			/* default place of the ledger table */
	const char *table;
	const ToolColumn *columns;
	bool		exact;			/* no other column allowed (the short shapes) */
	const char *key;			/* column that must be the primary key, or NULL */
} ToolShape;

static const ToolShape tools[NUM_TOOLS] = {
	{"prisma", "public", "_prisma_migrations", prisma_columns, false, NULL},
	{"flyway", "public", "flyway_schema_history", flyway_columns, false, NULL},
	{"dbmate", "public", "schema_migrations", dbmate_columns, true, "version"},
	{"golang-migrate", "public", "schema_migrations", golang_columns, true, "version"},
	{"sqitch", "sqitch", "events", sqitch_columns, false, NULL},
};

/* The tool named name, or -1. */
static int
ToolByName(const char *name)
{
	for (int k = 0; k < NUM_TOOLS; k++)
		if (strcmp(tools[k].name, name) == 0)
			return k;
	return -1;
}

/* The type class of a column type (domains by their base type), or 0. */
static char
TypeClass(Oid type)
{
	switch (getBaseType(type))
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return CT_TEXT;
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return CT_TIME;
		case INT4OID:
			return CT_INT4;
		case INT8OID:
			return CT_INT8;
		case BOOLOID:
			return CT_BOOL;
		case TEXTARRAYOID:
		case VARCHARARRAYOID:
			return CT_TEXTS;
		default:
			return 0;
	}
}

/* True when the table has the shape of tool t's ledger. */
static bool
ShapeMatches(Relation rel, const ToolShape *t)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			live = 0;
	int			wanted = 0;

	for (int a = 0; a < desc->natts; a++)
		if (!TupleDescAttr(desc, a)->attisdropped)
			live++;
	for (const ToolColumn *c = t->columns; c->name; c++)
	{
		bool		found = false;

		wanted++;
		for (int a = 0; a < desc->natts && !found; a++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, a);

			if (!att->attisdropped && strcmp(NameStr(att->attname), c->name) == 0)
			{
				if (TypeClass(att->atttypid) != c->type)
					return false;
				found = true;
			}
		}
		if (!found)
			return false;
	}
	if (t->exact && live != wanted)
		return false;
	if (t->key)
	{
		Bitmapset  *pk = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
		int			attno = SPI_fnumber(desc, t->key);

		if (attno <= 0 || bms_num_members(pk) != 1 ||
			!bms_is_member(attno - FirstLowInvalidHeapAttributeNumber, pk))
			return false;
	}
	return true;
}

/* True for schemas no tool ledger is looked for in. */
static bool
IgnoredNamespace(Oid nsp)
{
	char	   *name;

	if (IsCatalogNamespace(nsp) || IsToastNamespace(nsp) || isAnyTempNamespace(nsp))
		return true;
	name = get_namespace_name(nsp);
	return name == NULL || strcmp(name, MO_SCHEMA) == 0 || strcmp(name, "information_schema") == 0;
}

/* The tool whose ledger table relid is (by its shape), or -1. */
static int
ToolRecognise(Oid relid)
{
	Relation	rel = try_relation_open(relid, AccessShareLock);
	int			kind = -1;

	if (rel == NULL)
		return -1;
	if (rel->rd_rel->relkind == RELKIND_RELATION && !IgnoredNamespace(RelationGetNamespace(rel)))
	{
		for (int k = 0; k < NUM_TOOLS && kind < 0; k++)
			if (ShapeMatches(rel, &tools[k]))
				kind = k;
	}
	relation_close(rel, AccessShareLock);
	return kind;
}

/* The owner of relation relid (InvalidOid if it is gone). */
static Oid
RelOwner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner = InvalidOid;

	if (HeapTupleIsValid(tup))
	{
		owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
		ReleaseSysCache(tup);
	}
	return owner;
}

/* The OID of migrate_ops.tool_ledger_trigger(), or InvalidOid. */
static Oid
ToolTriggerFunction(void)
{
	return LookupFuncName(list_make2(makeString(MO_SCHEMA), makeString("tool_ledger_trigger")),
						  0, NULL, true);
}

/*
 * Whether relid has the migrate_ops_tool trigger (calling migrate_ops' own
 * function: a trigger of that name a table's owner made does not count);
 * *enabled says if it fires.
 */
static bool
HasToolTrigger(Oid relid, bool *enabled)
{
	Relation	rel = try_relation_open(relid, AccessShareLock);
	bool		found = false;

	if (enabled)
		*enabled = false;
	if (rel == NULL)
		return false;
	if (rel->trigdesc)
	{
		for (int i = 0; i < rel->trigdesc->numtriggers && !found; i++)
		{
			Trigger    *tg = &rel->trigdesc->triggers[i];

			if (strcmp(tg->tgname, TOOL_TRIGGER) == 0 && tg->tgfoid == ToolTriggerFunction())
			{
				found = true;
				if (enabled)
					*enabled = tg->tgenabled != TRIGGER_DISABLED;
			}
		}
	}
	relation_close(rel, AccessShareLock);
	return found;
}

/* ---- version names ---- */

/*
 * The prefix of the versions recorded from a ledger: "<tool>:" at the
 * tool's default place, "<tool>[<schema>]:" for the default table name in
 * another schema, else "<tool>[<schema>.<table>]:".
 */
static char *
LedgerPrefix(int kind, const char *schema, const char *table)
{
	const ToolShape *t = &tools[kind];

	if (strcmp(table, t->table) == 0)
		return strcmp(schema, t->schema) == 0 ? psprintf("%s:", t->name) :
			psprintf("%s[%s]:", t->name, schema);
	return psprintf("%s[%s.%s]:", t->name, schema, table);
}

/*
 * Length of the ledger prefix of version if source is a deploy tool and the
 * version has that tool's prefix ("prisma:" or "prisma[...]:"), else 0.
 */
int
MoToolVersionPrefixLen(const char *version, const char *source)
{
	size_t		n;
	const char *end;

	if (version == NULL || source == NULL || ToolByName(source) < 0)
		return 0;
	n = strlen(source);
	if (strncmp(version, source, n) != 0)
		return 0;
	if (version[n] == ':')
		return (int) n + 1;
	if (version[n] == '[' && (end = strstr(version + n, "]:")) != NULL)
		return (int) (end - version) + 2;
	return 0;
}

/* ---- running protected: the tool's statement never fails because of us ---- */

typedef void (*ToolWork) (void *arg);

/*
 * Runs work in an internal subtransaction.  On error only that is rolled
 * back and a WARNING says what could not be done (in_tool: during a tool's
 * statement, which goes on); a cancel is re-raised.  Returns whether it
 * succeeded.
 */
static bool
ToolProtectedExt(ToolWork work, void *arg, const char *what, bool in_tool)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

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
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;

		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		if (in_tool)
			ereport(WARNING,
					(errmsg("migrate_ops could not %s: %s (SQLSTATE %s)",
							what, edata->message, unpack_sql_state(edata->sqlerrcode)),
					 errdetail("The tool's own statement is not affected."),
					 errhint("Once the cause is fixed, migrate_ops.sync() records the versions migrate_ops missed.")));
		else
			ereport(WARNING,
					(errmsg("migrate_ops could not %s: %s (SQLSTATE %s)",
							what, edata->message, unpack_sql_state(edata->sqlerrcode))));
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* ToolProtectedExt() during a tool's statement. */
static bool
ToolProtected(ToolWork work, void *arg, const char *what)
{
	return ToolProtectedExt(work, arg, what, true);
}

/* ---- installing the trigger ---- */

/* Makes the trigger name of relid depend on the extension (DEPENDS ON EXTENSION). */
static void
TriggerDependsOnExtension(Oid relid, const char *name)
{
	ObjectAddress trig;
	ObjectAddress ext;

	ObjectAddressSet(trig, TriggerRelationId, get_trigger_oid(relid, name, false));
	ObjectAddressSet(ext, ExtensionRelationId, get_extension_oid(MO_EXTENSION_NAME, false));
	recordDependencyOn(&trig, &ext, DEPENDENCY_AUTO_EXTENSION);
}

/* What ToolInstallTrigger() works on. */
typedef struct InstallArg
{
	Oid			relid;
	int			kind;
} InstallArg;

/*
 * Installs the triggers of tool kind on its ledger table, as the extension's
 * owner, with capture suspended (migrate_ops' own DDL is not a schema
 * change of the team's).
 */
static void
ToolInstallTrigger(void *arg)
{
	InstallArg *ia = (InstallArg *) arg;
	char	   *schema = get_namespace_name(get_rel_namespace(ia->relid));
	char	   *table = get_rel_name(ia->relid);
	char	   *qual = quote_qualified_identifier(schema, table);
	const char *tool = quote_literal_cstr(tools[ia->kind].name);
	bool		suspended = MoCaptureSuspend(true);
	MoOwnerState owner;

	/* capture resumes even when this fails (the rest of the transaction is logged) */
	PG_TRY();
	{
		SPI_connect();
		MoBecomeOwner(&owner);
		MoSpiExec(psprintf("CREATE TRIGGER " TOOL_TRIGGER " AFTER INSERT OR UPDATE OR DELETE ON %s"
						   " FOR EACH ROW EXECUTE FUNCTION migrate_ops.tool_ledger_trigger(%s)",
						   qual, tool), NULL);
		TriggerDependsOnExtension(ia->relid, TOOL_TRIGGER);
		if (ia->kind == TOOL_GOLANG_MIGRATE)
		{
			MoSpiExec(psprintf("CREATE TRIGGER " TOOL_TRUNCATE_TRIGGER " BEFORE TRUNCATE ON %s"
							   " FOR EACH STATEMENT EXECUTE FUNCTION migrate_ops.tool_ledger_trigger(%s)",
							   qual, tool), NULL);
			TriggerDependsOnExtension(ia->relid, TOOL_TRUNCATE_TRIGGER);
		}
		CommandCounterIncrement();
		MoRestoreUser(&owner);
		SPI_finish();
	}
	PG_FINALLY();
	{
		(void) MoCaptureSuspend(suspended);
	}
	PG_END_TRY();
	ereport(NOTICE,
			(errmsg("migrate_ops records the migrations %s writes to %s",
					tools[ia->kind].name, qual)));
}

/* Installs the triggers on relid (protected; in_tool: for a tool's DDL); returns whether it worked. */
static bool
ToolTrack(Oid relid, int kind, bool in_tool)
{
	InstallArg	ia = {relid, kind};
	char	   *what = psprintf("track the %s ledger %s", tools[kind].name,
							   quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
														  get_rel_name(relid)));

	return ToolProtectedExt(ToolInstallTrigger, &ia, what, in_tool);
}

/* Sets a claim fence (see MoCaptureClaim). */
static void
ToolFence(void *arg)
{
	TimestampTz at;

	(void) arg;
	(void) MoCaptureClaim(NULL, &at);
}

/*
 * Called by the DDL capture at ddl_command_end of CREATE TABLE, ALTER TABLE
 * and CREATE INDEX with the tables concerned: a table that now has the
 * shape of a tool's ledger gets its trigger.  The DDL of a tool's ledger
 * table (its creation, its keys and indexes) is its own set-up, not part of
 * a migration: it is fenced off from the claims of the next ledger write.
 */
void
MoToolsDdlCommandEnd(List *relids)
{
	bool		fence = false;
	ListCell   *lc;

	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		int			kind;

		if (HasToolTrigger(relid, NULL))
		{
			fence = true;
			continue;
		}
		kind = ToolRecognise(relid);
		if (kind >= 0 && ToolTrack(relid, kind, true))
			fence = true;
	}
	if (fence)
		(void) ToolProtected(ToolFence, NULL, "fence the DDL of a tool's ledger table");
}

/* ---- the tool's failure, seen by the session ---- */

/*
 * A transaction that aborts while a tool has a migration open in the
 * session (golang-migrate between its dirty and clean flags) is that
 * migration failing; golang-migrate writes nothing more.  The first ERROR
 * is kept (emit_log_hook) and the failure recorded by the session's next
 * transaction, before it commits (golang-migrate's unlock), or by the next
 * ledger call once the session is gone.
 */
static bool tool_abort_seen = false;
static char *tool_error_sqlstate = NULL;
static char *tool_error_message = NULL;
static emit_log_hook_type prev_emit_log_hook = NULL;

/* Forgets the failure seen, if any. */
static void
ToolFailureReset(void)
{
	tool_abort_seen = false;
	if (tool_error_sqlstate)
		pfree(tool_error_sqlstate);
	if (tool_error_message)
		pfree(tool_error_message);
	tool_error_sqlstate = NULL;
	tool_error_message = NULL;
}

/* Keeps the first ERROR raised while a tool's migration is open. */
static void
ToolsEmitLogHook(ErrorData *edata)
{
	if (edata->elevel == ERROR && tool_error_message == NULL && MoToolOpen(NULL, NULL, NULL))
	{
		tool_error_sqlstate = MemoryContextStrdup(TopMemoryContext, unpack_sql_state(edata->sqlerrcode));
		tool_error_message = MemoryContextStrdup(TopMemoryContext,
												 edata->message ? edata->message : "error");
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/* A tool's ledger table as the trigger sees it. */
typedef struct ToolRow
{
	int			kind;
	Oid			relid;
	char	   *schema;
	char	   *table;
	char	   *qual;			/* quoted schema.table */
	char	   *ledger;			/* schema.table, for messages */
	char	   *prefix;			/* of the versions recorded from it */
	TriggerData *td;
	TupleDesc	desc;
	HeapTuple	oldtup;			/* UPDATE, DELETE */
	HeapTuple	newtup;			/* INSERT, UPDATE */
} ToolRow;

/* A MoToolRun for version (without its prefix) of row r's ledger. */
static MoToolRun
ToolRunFor(ToolRow *r, const char *version)
{
	MoToolRun	run = {0};

	run.source = tools[r->kind].name;
	run.ledger = r->ledger;
	run.version = psprintf("%s%s", r->prefix, version);
	return run;
}

/* Records the failure of the tool's open migration, seen earlier in the session. */
static void
ToolSettleFailure(void *arg)
{
	const char *source;
	const char *version;
	bool		rollback;
	MoToolRun	run = {0};

	(void) arg;
	if (!MoToolOpen(&source, &version, &rollback))
		return;
	run.source = pstrdup(source);
	run.version = pstrdup(version);
	run.error_sqlstate = tool_error_sqlstate ? pstrdup(tool_error_sqlstate) : NULL;
	run.message = tool_error_message ? pstrdup(tool_error_message) :
		"the migration's transaction was rolled back";
	(void) MoToolEnd(&run, "failed");
}

/*
 * If the open migration's transaction aborted earlier: record it failed now
 * (Prisma records its failures itself: its logs column says why).
 */
static void
ToolSettle(void)
{
	const char *source;

	if (!tool_abort_seen)
		return;
	if (MoToolOpen(&source, NULL, NULL))
	{
		if (strcmp(source, "prisma") == 0)
			return;
		(void) ToolProtected(ToolSettleFailure, NULL, "record the failed migration");
	}
	ToolFailureReset();
}

/* ---- golang-migrate: the version before TRUNCATE, per transaction ---- */

/* What a golang-migrate ledger held when this transaction truncated it. */
typedef struct GmPrev
{
	Oid			relid;
	bool		has_row;
	int64		version;
	bool		dirty;
} GmPrev;

static List *gm_prev = NIL;		/* GmPrev *, in TopTransactionContext */

/* The row the ledger relid held before this transaction's TRUNCATE, if seen. */
static GmPrev *
GmPrevFind(Oid relid)
{
	ListCell   *lc;

	foreach(lc, gm_prev)
		if (((GmPrev *) lfirst(lc))->relid == relid)
			return (GmPrev *) lfirst(lc);
	return NULL;
}

/* ---- reading the tool's row ---- */

/* Column name of tup as text, or NULL (SQL NULL or no such column). */
static char *
Col(ToolRow *r, HeapTuple tup, const char *name)
{
	int			fno = SPI_fnumber(r->desc, name);

	if (tup == NULL || fno <= 0)
		return NULL;
	return SPI_getvalue(tup, r->desc, fno);
}

/* Column name of tup as a Datum (*isnull for SQL NULL or no such column). */
static Datum
ColDatum(ToolRow *r, HeapTuple tup, const char *name, bool *isnull)
{
	int			fno = SPI_fnumber(r->desc, name);

	*isnull = true;
	if (tup == NULL || fno <= 0)
		return (Datum) 0;
	return SPI_getbinval(tup, r->desc, fno, isnull);
}

/* Column name of tup as a timestamptz (a timestamp in the session's time zone), or 0. */
static TimestampTz
ColTime(ToolRow *r, HeapTuple tup, const char *name)
{
	bool		isnull;
	Datum		d = ColDatum(r, tup, name, &isnull);
	int			fno = SPI_fnumber(r->desc, name);

	if (isnull)
		return 0;
	if (getBaseType(SPI_gettypeid(r->desc, fno)) == TIMESTAMPOID)
		d = DirectFunctionCall1(timestamp_timestamptz, d);
	return DatumGetTimestampTz(d);
}

/* True when text columns differ (NULL and a value differ). */
static bool
TextChanged(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/*
 * Claims the session's unclaimed DDL for run: the first claimed DDL's time
 * becomes its start, and having claimed some, the tool ran it now.
 */
static int64
ToolClaim(MoToolRun *run)
{
	TimestampTz first_at;
	int64		n = MoCaptureClaim(run->version, &first_at);

	if (n > 0 && (run->started_at == 0 || first_at < run->started_at))
		run->started_at = first_at;
	if (n > 0)
		run->ran = true;
	return n;
}

/* The fence of a tool's ledger write that claims nothing. */
static void
ToolWriteFence(void)
{
	TimestampTz at;

	(void) MoCaptureClaim(NULL, &at);
}

/* Opens the tool's migration in the session (a failure seen before is the previous one's). */
static void
ToolBegin(MoToolRun *run, bool rollback)
{
	ToolSettle();
	ToolFailureReset();
	ToolWriteFence();
	(void) MoToolBegin(run, rollback);
}

/* ---- Prisma ---- */

/*
 * Prisma (migrate deploy, migrate dev, migrate resolve): inserts its row
 * (finished_at NULL) before running a migration, sets finished_at after
 * it, or logs on failure; resolve --rolled-back sets rolled_back_at;
 * resolve --applied inserts a finished row.
 */
static void
HandlePrisma(ToolRow *r)
{
	HeapTuple	tup = r->newtup ? r->newtup : r->oldtup;
	char	   *name = Col(r, tup, "migration_name");
	MoToolRun	run;

	if (name == NULL)
		return;
	run = ToolRunFor(r, name);
	run.checksum = Col(r, tup, "checksum");
	run.started_at = ColTime(r, tup, "started_at");

	if (TRIGGER_FIRED_BY_INSERT(r->td->tg_event))
	{
		if (Col(r, tup, "rolled_back_at") != NULL)
			return;
		if (Col(r, tup, "finished_at") != NULL)
		{
			/* migrate resolve --applied: the migration counts as applied */
			(void) ToolClaim(&run);
			run.finished_at = ColTime(r, tup, "finished_at");
			(void) MoToolEnd(&run, "applied");
			return;
		}
		ToolBegin(&run, false);
	}
	else if (TRIGGER_FIRED_BY_UPDATE(r->td->tg_event))
	{
		char	   *old_logs = Col(r, r->oldtup, "logs");
		char	   *new_logs = Col(r, r->newtup, "logs");

		if (Col(r, r->oldtup, "rolled_back_at") == NULL && Col(r, r->newtup, "rolled_back_at") != NULL)
		{
			ToolWriteFence();
			run.message = psprintf("marked rolled back in %s (prisma migrate resolve --rolled-back)", r->ledger);
			(void) MoToolEnd(&run, "rolled_back");
		}
		else if (Col(r, r->oldtup, "finished_at") == NULL && Col(r, r->newtup, "finished_at") != NULL)
		{
			run.finished_at = ColTime(r, r->newtup, "finished_at");
			(void) MoToolEnd(&run, "applied");
			ToolWriteFence();
		}
		else if (Col(r, r->newtup, "finished_at") == NULL && Col(r, r->newtup, "rolled_back_at") == NULL &&
				 new_logs != NULL && new_logs[0] != '\0' && TextChanged(old_logs, new_logs) &&
				 !TextChanged(Col(r, r->oldtup, "applied_steps_count"), Col(r, r->newtup, "applied_steps_count")))
		{
			/* record_failed_step: the script failed, logs says why */
			run.message = new_logs;
			run.error_sqlstate = tool_error_sqlstate ? pstrdup(tool_error_sqlstate) : NULL;
			ToolFailureReset();
			(void) MoToolEnd(&run, "failed");
			ToolWriteFence();
		}
		else if (TextChanged(Col(r, r->oldtup, "checksum"), run.checksum))
			MoToolChecksumChanged(&run);
	}
}

/* ---- Flyway ---- */

/*
 * Flyway (migrate, baseline, repair, undo): inserts its row after running a
 * migration, in the migration's transaction (or after it, for a migration
 * that does not run in one); success false records a failure of a
 * migration run outside a transaction.  repair updates checksums.
 */
static void
HandleFlyway(ToolRow *r)
{
	HeapTuple	tup = r->newtup;
	char	   *version;
	char	   *type;
	char	   *key;
	bool		isnull;
	MoToolRun	run;

	if (TRIGGER_FIRED_BY_DELETE(r->td->tg_event))
		return;					/* repair removing failed rows */
	version = Col(r, tup, "version");
	type = Col(r, tup, "type");
	if (type == NULL)
		return;
	/* repeatable migrations have no version: their script names them; the schema marker its description */
	key = version ? version : strcmp(type, "SCHEMA") == 0 ? Col(r, tup, "description") : Col(r, tup, "script");
	if (key == NULL)
		return;
	run = ToolRunFor(r, key);
	run.description = Col(r, tup, "description");
	run.checksum = Col(r, tup, "checksum");
	run.repeatable = version == NULL && strcmp(type, "SCHEMA") != 0;

	if (TRIGGER_FIRED_BY_UPDATE(r->td->tg_event))
	{
		if (TextChanged(Col(r, r->oldtup, "checksum"), run.checksum))
			MoToolChecksumChanged(&run);
		return;
	}

	/* the row is written as the migration ends: execution_time says when it started */
	run.finished_at = GetCurrentTimestamp();
	{
		int32		ms = DatumGetInt32(ColDatum(r, tup, "execution_time", &isnull));

		run.started_at = isnull ? run.finished_at : run.finished_at - (TimestampTz) ms * 1000;
	}
	if (strcmp(type, "BASELINE") == 0)
	{
		ToolWriteFence();
		(void) MoToolEnd(&run, "baselined");
	}
	else if (strcmp(type, "DELETE") == 0 || strncmp(type, "UNDO_", 5) == 0)
	{
		(void) ToolClaim(&run);
		run.message = strcmp(type, "DELETE") == 0 ? "marked deleted by flyway repair" : "undone by flyway undo";
		(void) MoToolEnd(&run, "rolled_back");
	}
	else
	{
		bool		success = DatumGetBool(ColDatum(r, tup, "success", &isnull));

		(void) ToolClaim(&run);
		if (!isnull && success)
			(void) MoToolEnd(&run, "applied");
		else
		{
			run.message = "Flyway recorded the migration as failed";
			run.error_sqlstate = tool_error_sqlstate ? pstrdup(tool_error_sqlstate) : NULL;
			(void) MoToolEnd(&run, "failed");
		}
	}
}

/* ---- dbmate ---- */

/*
 * dbmate (up, migrate, rollback): inserts the version after running the
 * migration, in its transaction (or after it, with transaction:false);
 * rollback deletes it after running the down migration.
 */
static void
HandleDbmate(ToolRow *r)
{
	HeapTuple	tup = r->newtup ? r->newtup : r->oldtup;
	char	   *version = Col(r, tup, "version");
	MoToolRun	run;

	if (version == NULL || TRIGGER_FIRED_BY_UPDATE(r->td->tg_event))
		return;
	run = ToolRunFor(r, version);
	run.started_at = GetCurrentTransactionStartTimestamp();
	(void) ToolClaim(&run);
	if (TRIGGER_FIRED_BY_INSERT(r->td->tg_event))
		(void) MoToolEnd(&run, "applied");
	else
	{
		run.message = "dbmate rollback";
		(void) MoToolEnd(&run, "rolled_back");
	}
}

/* ---- golang-migrate ---- */

/* The highest version of ledger r migrate_ops records as applied, or -1. */
static int64
GolangHighestApplied(ToolRow *r)
{
	MoOwnerState owner;
	MoArgs		args = {0};
	int64		best = -1;
	int			plen = strlen(r->prefix);

	MoArgText(&args, r->prefix);
	SPI_connect();
	MoBecomeOwner(&owner);
	MoSpiExec("SELECT version FROM migrate_ops.migrations"
			  " WHERE source OPERATOR(pg_catalog.=) 'golang-migrate'"
			  "   AND state OPERATOR(pg_catalog.=) ANY ('{applied,baselined}')"
			  "   AND pg_catalog.starts_with(version, $1)", &args);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *v = MoSpiGetText(i, 1) + plen;
		char	   *end;
		long long	n = strtoll(v, &end, 10);

		if (*end == '\0' && end != v && n > best)
			best = n;
	}
	MoRestoreUser(&owner);
	SPI_finish();
	return best;
}

/* The state migrate_ops records for version, or NULL. */
static char *
LedgerStateOf(const char *version)
{
	MoOwnerState owner;
	MoArgs		args = {0};
	char	   *state = NULL;
	MemoryContext cxt = CurrentMemoryContext;

	MoArgText(&args, version);
	SPI_connect();
	MoBecomeOwner(&owner);
	MoSpiExec("SELECT state FROM migrate_ops.migrations WHERE version OPERATOR(pg_catalog.=) $1", &args);
	if (SPI_processed > 0)
		state = MemoryContextStrdup(cxt, MoSpiGetText(0, 1));
	MoRestoreUser(&owner);
	SPI_finish();
	return state;
}

/* Ends the golang-migrate migration this session has open on ledger r, if any; returns whether it did. */
static bool
GolangCloseOpen(ToolRow *r)
{
	const char *source;
	const char *version;
	bool		rollback;
	MoToolRun	run = {0};

	if (!MoToolOpen(&source, &version, &rollback) || strcmp(source, "golang-migrate") != 0 ||
		strncmp(version, r->prefix, strlen(r->prefix)) != 0)
		return false;
	run.source = tools[r->kind].name;
	run.ledger = r->ledger;
	run.version = pstrdup(version);
	(void) MoToolEnd(&run, rollback ? "rolled_back" : "applied");
	ToolWriteFence();
	return true;
}

/*
 * golang-migrate (up, down, goto, force): one row, the current version.
 * SetVersion(v, dirty) is TRUNCATE then INSERT (v, dirty) in a transaction
 * (no INSERT for version -1 clean).  Up to v: (v, true), the script, (v,
 * false).  Down from p to v: (v, true), p's down script, (v, false).  A
 * failing script leaves the dirty row and ends golang-migrate's work.
 * force v: (v, false) alone.
 */
static void
HandleGolangMigrate(ToolRow *r)
{
	bool		isnull;
	int64		v;
	bool		dirty;
	MoToolRun	run;

	if (TRIGGER_FIRED_BY_TRUNCATE(r->td->tg_event))
	{
		/* remember the version before, and end the migration a clean SetVersion() ends */
		MoOwnerState owner;
		GmPrev	   *prev = GmPrevFind(r->relid);

		if (prev == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

			prev = palloc0(sizeof(GmPrev));
			prev->relid = r->relid;
			gm_prev = lappend(gm_prev, prev);
			MemoryContextSwitchTo(old);
		}
		SPI_connect();
		MoBecomeRole(r->td->tg_relation->rd_rel->relowner, &owner);
		MoSpiExec(psprintf("SELECT version, dirty FROM ONLY %s LIMIT 1", r->qual), NULL);
		prev->has_row = SPI_processed > 0;
		if (prev->has_row)
		{
			prev->version = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			prev->dirty = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		}
		MoRestoreUser(&owner);
		SPI_finish();
		ToolSettle();
		(void) GolangCloseOpen(r);
		return;
	}
	if (!TRIGGER_FIRED_BY_INSERT(r->td->tg_event))
		return;

	v = DatumGetInt64(ColDatum(r, r->newtup, "version", &isnull));
	if (isnull)
		return;
	dirty = DatumGetBool(ColDatum(r, r->newtup, "dirty", &isnull));
	ToolSettle();
	if (dirty)
	{
		GmPrev	   *prev = GmPrevFind(r->relid);
		bool		has_prev;
		int64		prev_version;

		if (prev)
		{
			has_prev = prev->has_row && prev->version >= 0;
			prev_version = prev->version;
		}
		else
		{
			prev_version = GolangHighestApplied(r);
			has_prev = prev_version >= 0;
		}
		if (v < 0 || (has_prev && v < prev_version))
		{
			/* down: the migration at prev_version is being rolled back */
			if (!has_prev)
				return;
			run = ToolRunFor(r, psprintf(INT64_FORMAT, prev_version));
			ToolBegin(&run, true);
		}
		else
		{
			run = ToolRunFor(r, psprintf(INT64_FORMAT, v));
			ToolBegin(&run, false);
		}
		return;
	}

	/* clean */
	if (GolangCloseOpen(r) || v < 0)
		return;
	run = ToolRunFor(r, psprintf(INT64_FORMAT, v));
	{
		char	   *state = LedgerStateOf(run.version);

		if (state && (strcmp(state, "applied") == 0 || strcmp(state, "baselined") == 0))
			return;				/* the version golang-migrate is at, known already */
		/* force: the version counts as applied (it ran here, or was fixed by hand) */
		run.message = "golang-migrate force";
		if (ToolClaim(&run) > 0 || state != NULL)
			(void) MoToolEnd(&run, "applied");
		else
			(void) MoToolEnd(&run, "baselined");
	}
}

/* ---- Sqitch ---- */

/*
 * Sqitch's changes table beside its events table evid: a plain table of the
 * same owner with text change_id and script_hash columns, or InvalidOid.
 * Anything else (a view, other types, another owner) is not read: what its
 * owner defined must not run when migrate_ops reads it.
 */
static Oid
SqitchChanges(Oid evid)
{
	Oid			changes = get_relname_relid("changes", get_rel_namespace(evid));
	Relation	rel;
	bool		ok;

	if (!OidIsValid(changes) || (rel = try_relation_open(changes, AccessShareLock)) == NULL)
		return InvalidOid;
	ok = rel->rd_rel->relkind == RELKIND_RELATION &&
		rel->rd_rel->relowner == RelOwner(evid);
	for (int i = 0; ok && i < 2; i++)
	{
		int			fno = SPI_fnumber(RelationGetDescr(rel), i == 0 ? "change_id" : "script_hash");

		ok = fno > 0 && TypeClass(TupleDescAttr(RelationGetDescr(rel), fno - 1)->atttypid) == CT_TEXT;
	}
	relation_close(rel, AccessShareLock);
	return ok ? changes : InvalidOid;
}

/* The script_hash Sqitch keeps for change_id in the changes table beside events, or NULL. */
static char *
SqitchScriptHash(ToolRow *r, const char *change_id)
{
	MoOwnerState owner;
	MoArgs		args = {0};
	Oid			changes = SqitchChanges(r->relid);
	char	   *hash = NULL;
	MemoryContext cxt = CurrentMemoryContext;

	if (!OidIsValid(changes) || change_id == NULL)
		return NULL;
	MoArgText(&args, change_id);
	SPI_connect();
	MoBecomeRole(RelOwner(changes), &owner);
	MoSpiExec(psprintf("SELECT script_hash::pg_catalog.text FROM ONLY %s"
					   " WHERE change_id::pg_catalog.text OPERATOR(pg_catalog.=) $1",
					   quote_qualified_identifier(r->schema, "changes")), &args);
	if (SPI_processed > 0 && MoSpiGetText(0, 1))
		hash = MemoryContextStrdup(cxt, MoSpiGetText(0, 1));
	MoRestoreUser(&owner);
	SPI_finish();
	return hash;
}

/*
 * Sqitch (deploy, revert): opens a transaction on its registry connection,
 * runs the change's script with psql (another session), then, still in its
 * transaction, records it: a deploy, revert or fail event.  The script's DDL
 * is claimed from the psql session (MoCaptureClaimOthers): the same login
 * role and client address, since this transaction began.
 */
static void
HandleSqitch(ToolRow *r)
{
	HeapTuple	tup = r->newtup;
	char	   *event;
	char	   *project;
	char	   *change;
	TimestampTz since = GetCurrentTransactionStartTimestamp();
	TimestampTz first_at;
	MoToolRun	run;

	if (!TRIGGER_FIRED_BY_INSERT(r->td->tg_event))
		return;
	event = Col(r, tup, "event");
	project = Col(r, tup, "project");
	change = Col(r, tup, "change");
	if (event == NULL || project == NULL || change == NULL || strcmp(event, "merge") == 0)
		return;
	run = ToolRunFor(r, psprintf("%s:%s", project, change));
	run.description = Col(r, tup, "note");
	if (run.description && run.description[0] == '\0')
		run.description = NULL;
	run.started_at = since;
	run.repeatable = true;		/* a reworked change deploys again with a new script */
	(void) ToolClaim(&run);
	if (MoCaptureClaimOthers(run.version, since, &first_at) > 0)
	{
		run.ran = true;
		if (first_at < run.started_at)
			run.started_at = first_at;
	}

	if (strcmp(event, "deploy") == 0)
	{
		run.checksum = SqitchScriptHash(r, Col(r, tup, "change_id"));
		(void) MoToolEnd(&run, "applied");
	}
	else if (strcmp(event, "revert") == 0)
	{
		run.message = "sqitch revert";
		(void) MoToolEnd(&run, "rolled_back");
	}
	else if (strcmp(event, "fail") == 0)
	{
		run.message = "sqitch deploy failed (the deploy script's error is in Sqitch's output)";
		(void) MoToolEnd(&run, "failed");
	}
}

/* ---- the trigger ---- */

/* Runs the handler of the row's tool (inside ToolProtected). */
static void
ToolHandleRow(void *arg)
{
	ToolRow    *r = (ToolRow *) arg;

	switch (r->kind)
	{
		case TOOL_PRISMA:
			HandlePrisma(r);
			break;
		case TOOL_FLYWAY:
			HandleFlyway(r);
			break;
		case TOOL_DBMATE:
			HandleDbmate(r);
			break;
		case TOOL_GOLANG_MIGRATE:
			HandleGolangMigrate(r);
			break;
		case TOOL_SQITCH:
			HandleSqitch(r);
			break;
	}
}

/* The tool ledger this transaction warned about last (ToolWriterTrusted). */
static Oid	untrusted_warned = InvalidOid;

/*
 * Whether what the current role writes to a tool's ledger rel may be
 * recorded: the role and the table's owner may both record migrations
 * (MoRoleMayRecord).  Otherwise a role that can create a table could forge
 * ledger rows, move the drift baseline and make ready() false with a
 * look-alike of a tool's table.  Says so in a WARNING, once per transaction
 * and table; the tool's statement goes on.
 */
static bool
ToolWriterTrusted(Relation rel, int kind)
{
	Oid			writer = GetUserId();
	Oid			owner = rel->rd_rel->relowner;
	Oid			untrusted;

	if (MoRoleMayRecord(writer) && (owner == writer || MoRoleMayRecord(owner)))
		return true;
	if (untrusted_warned == RelationGetRelid(rel))
		return false;
	untrusted_warned = RelationGetRelid(rel);
	untrusted = MoRoleMayRecord(writer) ? owner : writer;
	ereport(WARNING,
			(errmsg("migrate_ops does not record what %s writes to %s",
					tools[kind].name,
					quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											   RelationGetRelationName(rel))),
			 errdetail("Role \"%s\", %s, may not record migrations (EXECUTE on migrate_ops.start()).",
					   GetUserNameFromId(untrusted, false),
					   untrusted == owner ? "the table's owner" : "which writes the tool's ledger"),
			 errhint("Grant the deploy tool's role what recording a migration by hand needs "
					 "(GRANT EXECUTE ON FUNCTION migrate_ops.start(text, text, text) or the "
					 "migrate_deploy role of the README), then SELECT * FROM migrate_ops.sync().")));
	return false;
}

/*
 * migrate_ops.tool_ledger_trigger() → trigger
 * The trigger migrate_ops installs on a deploy tool's ledger table (its
 * argument names the tool): records what the tool writes in the ledger.
 * Never makes the tool's statement fail.
 */
Datum
migrate_ops_tool_ledger_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	ToolRow		r = {0};
	int			kind;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("migrate_ops.tool_ledger_trigger() can only be called as a trigger")));
	td = (TriggerData *) fcinfo->context;
	kind = td->tg_trigger->tgnargs == 1 ? ToolByName(td->tg_trigger->tgargs[0]) : -1;
	if (kind < 0 ||
		(TRIGGER_FIRED_BY_TRUNCATE(td->tg_event) ?
		 !(TRIGGER_FIRED_BEFORE(td->tg_event) && kind == TOOL_GOLANG_MIGRATE) :
		 !(TRIGGER_FIRED_AFTER(td->tg_event) && TRIGGER_FIRED_FOR_ROW(td->tg_event))))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("migrate_ops.tool_ledger_trigger() is not installed as migrate_ops installs it"),
				 errdetail("It runs AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW with the name of a deploy tool as its argument (golang-migrate also BEFORE TRUNCATE)."),
				 errhint("Let migrate_ops install it: SELECT * FROM migrate_ops.sync().")));
	if (!mo_track_tools || MoCaptureIsRestore(true))
		return PointerGetDatum(NULL);
	if (!ToolWriterTrusted(td->tg_relation, kind))
		return PointerGetDatum(NULL);

	r.kind = kind;
	r.td = td;
	r.relid = RelationGetRelid(td->tg_relation);
	r.schema = get_namespace_name(RelationGetNamespace(td->tg_relation));
	r.table = pstrdup(RelationGetRelationName(td->tg_relation));
	r.qual = quote_qualified_identifier(r.schema, r.table);
	r.ledger = psprintf("%s.%s", r.schema, r.table);
	r.prefix = LedgerPrefix(kind, r.schema, r.table);
	r.desc = RelationGetDescr(td->tg_relation);
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		r.newtup = td->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		r.oldtup = td->tg_trigtuple;
		r.newtup = td->tg_newtuple;
	}
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		r.oldtup = td->tg_trigtuple;

	(void) ToolProtected(ToolHandleRow, &r,
						 psprintf("record what %s wrote to %s", tools[kind].name, r.ledger));
	return PointerGetDatum(NULL);
}

/* ---- finding every ledger: tool_ledgers(), sync(), the install script ---- */

/* A recognised ledger table. */
typedef struct FoundLedger
{
	Oid			relid;
	int			kind;
	bool		tracked;		/* has the trigger */
	bool		enabled;		/* ... and it fires */
} FoundLedger;

/*
 * Every table in the database with the shape of a tool's ledger (not a
 * member of an extension), in schema and name order.  Candidates come from one catalog query; their shapes are
 * checked on the relation cache.
 */
static List *
FindLedgers(void)
{
	MoOwnerState owner;
	List	   *found = NIL;
	Oid		   *relids;
	int			n;

	SPI_connect();
	MoBecomeOwner(&owner);
	MoSpiExec("SELECT c.oid FROM pg_catalog.pg_class c"
			  "  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
			  " WHERE c.relkind OPERATOR(pg_catalog.=) 'r'"
			  "   AND n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema," MO_SCHEMA "}')"
			  "   AND n.nspname::pg_catalog.text OPERATOR(pg_catalog.!~) '^pg_(toast|temp)'"
			  "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e"
			  "        WHERE e.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
			  "          AND e.objid OPERATOR(pg_catalog.=) c.oid AND e.deptype OPERATOR(pg_catalog.=) 'e')"
			  "   AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a"
			  "        WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0"
			  "          AND NOT a.attisdropped"
			  "          AND a.attname OPERATOR(pg_catalog.=) ANY ('{migration_name,installed_rank,version,change_id}'))"
			  " ORDER BY n.nspname, c.relname", NULL);
	n = (int) SPI_processed;
	relids = palloc(sizeof(Oid) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		relids[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	MoRestoreUser(&owner);
	SPI_finish();

	for (int i = 0; i < n; i++)
	{
		int			kind = ToolRecognise(relids[i]);

		if (kind >= 0)
		{
			FoundLedger *f = palloc0(sizeof(FoundLedger));

			f->relid = relids[i];
			f->kind = kind;
			f->tracked = HasToolTrigger(relids[i], &f->enabled);
			found = lappend(found, f);
		}
	}
	return found;
}

/* Installs the trigger on every recognised ledger that has none; returns how many. */
static int
TrackAll(List *ledgers)
{
	int			n = 0;
	ListCell   *lc;

	foreach(lc, ledgers)
	{
		FoundLedger *f = (FoundLedger *) lfirst(lc);

		if (!f->tracked && ToolTrack(f->relid, f->kind, false))
		{
			f->tracked = f->enabled = true;
			n++;
		}
	}
	return n;
}

/*
 * migrate_ops.tool_ledgers() → setof (tool, ledger, version_prefix, tracked)
 * Every table recognised as a deploy tool's ledger, and whether migrate_ops
 * records what the tool writes to it (its trigger is there and enabled).
 */
Datum
migrate_ops_tool_ledgers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, FindLedgers())
	{
		FoundLedger *f = (FoundLedger *) lfirst(lc);
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(tools[f->kind].name);
		values[1] = ObjectIdGetDatum(f->relid);
		values[2] = CStringGetTextDatum(LedgerPrefix(f->kind, get_namespace_name(get_rel_namespace(f->relid)),
													 get_rel_name(f->relid)));
		values[3] = BoolGetDatum(f->tracked && f->enabled && mo_track_tools &&
								 MoRoleMayRecord(RelOwner(f->relid)));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * migrate_ops.tool_ledgers_install() → integer
 * For the install script only (created and dropped by it): tracks the
 * ledgers that exist before CREATE EXTENSION.
 */
Datum
migrate_ops_tool_ledgers_install(PG_FUNCTION_ARGS)
{
	(void) fcinfo;
	if (!mo_track_tools)
		PG_RETURN_INT32(0);
	PG_RETURN_INT32(TrackAll(FindLedgers()));
}

/* One version read from a tool's ledger by sync(). */
typedef struct SyncRow
{
	char	   *version;		/* the tool's own */
	char	   *state;			/* baselined, failed, rolled_back */
	char	   *checksum;
	char	   *description;
	char	   *message;
	TimestampTz started_at;
	TimestampTz finished_at;
} SyncRow;

/*
 * The query sync() reads a ledger with: one row per version with the state
 * the tool gives it (its latest record), columns version, state, checksum,
 * description, message, started_at, finished_at; in the tool's order.
 */
static char *
SyncQuery(const FoundLedger *f, const char *qual)
{
	switch (f->kind)
	{
		case TOOL_PRISMA:
			return psprintf("SELECT * FROM (SELECT DISTINCT ON (migration_name) migration_name::pg_catalog.text,"
							"  CASE WHEN finished_at IS NOT NULL AND rolled_back_at IS NULL THEN 'baselined'"
							"       WHEN rolled_back_at IS NOT NULL THEN 'rolled_back' ELSE 'failed' END,"
							"  checksum::pg_catalog.text, NULL::pg_catalog.text,"
							"  pg_catalog.left(logs, 4000), started_at::pg_catalog.timestamptz,"
							"  COALESCE(finished_at, rolled_back_at, started_at)::pg_catalog.timestamptz"
							"  FROM ONLY %s ORDER BY migration_name,"
							"  (finished_at IS NOT NULL AND rolled_back_at IS NULL) DESC, started_at DESC) x"
							" ORDER BY 6, 1", qual);
		case TOOL_FLYWAY:
			return psprintf("SELECT k, CASE WHEN type OPERATOR(pg_catalog.=) 'BASELINE' THEN 'baselined'"
							"  WHEN type OPERATOR(pg_catalog.=) 'DELETE' OR type::pg_catalog.text OPERATOR(pg_catalog.~~) 'UNDO\\_%%' THEN 'rolled_back'"
							"  WHEN success THEN 'baselined' ELSE 'failed' END,"
							"  checksum::pg_catalog.text, description::pg_catalog.text,"
							"  CASE WHEN NOT success THEN 'Flyway recorded the migration as failed' END,"
							"  installed_on::pg_catalog.timestamptz, installed_on::pg_catalog.timestamptz"
							"  FROM (SELECT DISTINCT ON (k) *"
							"    FROM (SELECT COALESCE(version, CASE WHEN type OPERATOR(pg_catalog.=) 'SCHEMA'"
							"                 THEN description ELSE script END)::pg_catalog.text AS k, *"
							"          FROM ONLY %s) y ORDER BY k, installed_rank DESC) x"
							" WHERE k IS NOT NULL ORDER BY installed_rank", qual);
		case TOOL_DBMATE:
			return psprintf("SELECT version::pg_catalog.text, 'baselined', NULL::pg_catalog.text,"
							"  NULL::pg_catalog.text, NULL::pg_catalog.text, NULL::pg_catalog.timestamptz,"
							"  NULL::pg_catalog.timestamptz FROM ONLY %s ORDER BY 1", qual);
		case TOOL_GOLANG_MIGRATE:
			return psprintf("SELECT version::pg_catalog.text, CASE WHEN dirty THEN 'failed' ELSE 'baselined' END,"
							"  NULL::pg_catalog.text, NULL::pg_catalog.text,"
							"  CASE WHEN dirty THEN 'golang-migrate left the version dirty' END,"
							"  NULL::pg_catalog.timestamptz, NULL::pg_catalog.timestamptz"
							"  FROM ONLY %s WHERE version OPERATOR(pg_catalog.>=) 0", qual);
		case TOOL_SQITCH:
			{
				Oid			nsp = get_rel_namespace(f->relid);
				bool		hashes = OidIsValid(SqitchChanges(f->relid));

				return psprintf("SELECT project OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) change,"
								"  CASE event WHEN 'deploy' THEN 'baselined' WHEN 'revert' THEN 'rolled_back'"
								"  ELSE 'failed' END, %s, NULLIF(note, ''),"
								"  CASE WHEN event OPERATOR(pg_catalog.=) 'fail' THEN 'sqitch deploy failed' END,"
								"  committed_at::pg_catalog.timestamptz, committed_at::pg_catalog.timestamptz"
								"  FROM (SELECT DISTINCT ON (project, change) * FROM ONLY %s"
								"        WHERE event OPERATOR(pg_catalog.<>) 'merge'"
								"        ORDER BY project, change, committed_at DESC) e"
								" ORDER BY committed_at",
								hashes ? psprintf("(SELECT c.script_hash::pg_catalog.text FROM ONLY %s c"
												  "  WHERE c.change_id OPERATOR(pg_catalog.=) e.change_id)",
												  quote_qualified_identifier(get_namespace_name(nsp), "changes")) :
								"NULL::pg_catalog.text", qual);
			}
	}
	return NULL;
}

/* Reads the versions of one ledger (as the table's owner). */
static List *
SyncRead(const FoundLedger *f, const char *qual)
{
	MoOwnerState owner;
	List	   *rows = NIL;
	MemoryContext cxt = CurrentMemoryContext;

	SPI_connect();
	MoBecomeRole(RelOwner(f->relid), &owner);
	MoSpiExec(SyncQuery(f, qual), NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		SyncRow    *s = palloc0(sizeof(SyncRow));
		bool		isnull;
		Datum		d;

		s->version = pstrdup(MoSpiGetText(i, 1));
		s->state = pstrdup(MoSpiGetText(i, 2));
		s->checksum = MoSpiGetText(i, 3) ? pstrdup(MoSpiGetText(i, 3)) : NULL;
		s->description = MoSpiGetText(i, 4) ? pstrdup(MoSpiGetText(i, 4)) : NULL;
		s->message = MoSpiGetText(i, 5) ? pstrdup(MoSpiGetText(i, 5)) : NULL;
		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 6, &isnull);
		s->started_at = isnull ? 0 : DatumGetTimestampTz(d);
		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 7, &isnull);
		s->finished_at = isnull ? 0 : DatumGetTimestampTz(d);
		rows = lappend(rows, s);
		MemoryContextSwitchTo(old);
	}
	MoRestoreUser(&owner);
	SPI_finish();
	return rows;
}

/* What sync() records for one ledger. */
typedef struct SyncArg
{
	const FoundLedger *ledger;
	ReturnSetInfo *rsinfo;
	int			recorded;
} SyncArg;

/* One version for SyncVersion(). */
typedef struct EndArg
{
	MoToolRun  *run;
	const char *state;
	bool		done;
} EndArg;

/* MoToolEnd() of one version read by sync() (inside ToolProtectedExt). */
static void
SyncVersion(void *arg)
{
	EndArg	   *ea = (EndArg *) arg;

	ea->done = MoToolEnd(ea->run, ea->state);
}

/*
 * Records the versions of one ledger the ledger does not know yet (inside
 * ToolProtectedExt); a version that cannot be recorded is skipped with a
 * WARNING.
 */
static void
SyncLedger(void *arg)
{
	SyncArg    *sa = (SyncArg *) arg;
	EndArg		ea;
	const FoundLedger *f = sa->ledger;
	char	   *schema = get_namespace_name(get_rel_namespace(f->relid));
	char	   *table = get_rel_name(f->relid);
	char	   *prefix = LedgerPrefix(f->kind, schema, table);
	char	   *ledger = psprintf("%s.%s", schema, table);
	ListCell   *lc;

	foreach(lc, SyncRead(f, quote_qualified_identifier(schema, table)))
	{
		SyncRow    *s = (SyncRow *) lfirst(lc);
		MoToolRun	run = {0};

		run.source = tools[f->kind].name;
		run.ledger = ledger;
		run.version = psprintf("%s%s", prefix, s->version);
		run.checksum = s->checksum;
		run.description = s->description;
		run.message = s->message;
		run.started_at = s->started_at;
		run.finished_at = s->finished_at;
		run.sync = true;
		run.no_snapshot = true;
		ea.run = &run;
		ea.state = s->state;
		ea.done = false;
		if (ToolProtectedExt(SyncVersion, &ea, psprintf("record %s", run.version), false) && ea.done)
		{
			Datum		values[4];
			bool		nulls[4] = {false, false, false, false};

			values[0] = CStringGetTextDatum(run.source);
			values[1] = ObjectIdGetDatum(f->relid);
			values[2] = CStringGetTextDatum(run.version);
			values[3] = CStringGetTextDatum(s->state);
			tuplestore_putvalues(sa->rsinfo->setResult, sa->rsinfo->setDesc, values, nulls);
			sa->recorded++;
		}
	}
}

/* Takes the first drift baseline if there is none yet (after sync() adopted a database). */
static void
SyncFirstSnapshot(void)
{
	MoOwnerState owner;
	bool		none;

	if (!OidIsValid(get_relname_relid("snapshots", get_namespace_oid(MO_SCHEMA, false))))
		return;
	SPI_connect();
	MoBecomeOwner(&owner);
	MoSpiExec("SELECT 1 FROM migrate_ops.snapshots LIMIT 1", NULL);
	none = SPI_processed == 0;
	MoRestoreUser(&owner);
	SPI_finish();
	if (none)
		(void) MoSnapshotTake("sync");
}

/*
 * migrate_ops.sync() → setof (tool, ledger, version, state)
 * Re-reads every recognised tool ledger: tracks the ledgers that are not
 * tracked yet, and records the versions the ledger does not know (a
 * database where the tool ran before migrate_ops was installed) — applied
 * ones as baselined, failed ones as failed, rolled-back ones as
 * rolled_back — with the tool as source; returns what it recorded.
 * Idempotent: a second call records nothing.
 */
Datum
migrate_ops_sync(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *ledgers;
	int			recorded = 0;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	ledgers = FindLedgers();
	if (mo_track_tools)
		(void) TrackAll(ledgers);
	foreach(lc, ledgers)
	{
		FoundLedger *f = (FoundLedger *) lfirst(lc);
		SyncArg		sa = {f, rsinfo, 0};
		char	   *what = psprintf("read the %s ledger %s", tools[f->kind].name,
								   quote_qualified_identifier(get_namespace_name(get_rel_namespace(f->relid)),
															  get_rel_name(f->relid)));

		if (!MoRoleMayRecord(RelOwner(f->relid)))
		{
			ereport(WARNING,
					(errmsg("migrate_ops.sync() skips the %s ledger %s",
							tools[f->kind].name,
							quote_qualified_identifier(get_namespace_name(get_rel_namespace(f->relid)),
													   get_rel_name(f->relid))),
					 errdetail("Its owner, role \"%s\", may not record migrations (EXECUTE on migrate_ops.start()).",
							   GetUserNameFromId(RelOwner(f->relid), false))));
			continue;
		}
		if (ToolProtectedExt(SyncLedger, &sa, what, false))
			recorded += sa.recorded;
	}
	if (recorded > 0)
		SyncFirstSnapshot();
	return (Datum) 0;
}

/* ---- module setup ---- */

/* Before commit: a failure seen earlier in the session is recorded. */
static void
ToolsXactCallback(XactEvent event, void *arg)
{
	(void) arg;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (tool_abort_seen)
			{
				bool		snapshot = !ActiveSnapshotSet();

				if (snapshot)
					PushActiveSnapshot(GetTransactionSnapshot());
				ToolSettle();
				if (snapshot)
					PopActiveSnapshot();
			}
			break;
		case XACT_EVENT_ABORT:
			if (MoToolOpen(NULL, NULL, NULL))
				tool_abort_seen = true;
			gm_prev = NIL;		/* its memory goes with the transaction */
			untrusted_warned = InvalidOid;
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			gm_prev = NIL;
			untrusted_warned = InvalidOid;
			break;
		default:
			break;
	}
}

/* Defines migrate_ops.track_tools and installs the callbacks (from _PG_init). */
void
ToolsInit(void)
{
	DefineCustomBoolVariable("migrate_ops.track_tools",
							 "Recognises the ledgers of Prisma, Flyway, dbmate, golang-migrate and Sqitch and records their migrations.",
							 "Off: no ledger table is tracked when a tool creates it, and the tracked ones record nothing.",
							 &mo_track_tools,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = ToolsEmitLogHook;
	RegisterXactCallback(ToolsXactCallback, NULL);
}
