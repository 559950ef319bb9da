/*
 * plan.c — plan(): the dry run of a migration script (DESIGN §6).
 *
 * The script runs for real, as the caller, with the migration's timeouts
 * (the same settings and per-statement runner as apply()), inside a
 * subtransaction that is always rolled back; each statement runs in a
 * subtransaction of its own inside it, so a failing statement is reported
 * and the statements before it are still measured.  After each statement
 * the backend's own entries in the shared lock table are read (the locks it
 * took, while still held) and the relfilenode of every relation it holds a
 * lock on is compared with the one before (a rewrite).  Then everything is
 * rolled back: schema, data, ledger rows, events, DDL log rows.  Sequence
 * advances are the one thing a rollback does not undo.
 *
 * Rows come back in one result with a section column: 'statement' (rows,
 * time), 'lock', 'rewrite', 'error', and 'change': the schema changes the
 * script makes, in drift()'s shape, from a catalog capture before the dry
 * run and one inside it just before the rollback.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "migrate_ops.h"

PG_FUNCTION_INFO_V1(migrate_ops_plan);

/* Longest statement text shown in a 'statement' row (bytes, then "..."). */
#define PLAN_TEXT_LEN 60

/* A relation that existed before the script ran. */
typedef struct PlanRel
{
	Oid			relid;			/* hash key */
	char		relkind;
	Oid			relfilenode;	/* as last seen */
	char	   *name;
	LOCKMASK	held;			/* modes this backend held after the last statement */
	LOCKMASK	now;			/* modes held now (while reading the lock table) */
	bool		locked;			/* in DryRun.locked */
} PlanRel;

/* One output row of plan(). */
typedef struct PlanRow
{
	const char *section;
	MoStatement *stmt;			/* NULL for rows of the whole script */
	const char *kind;
	char	   *object;
	char	   *detail;
	bool		has_rows;
	uint64		rows;
	double		ms;
	char	   *expected;
	char	   *actual;
} PlanRow;

/* State of one plan() run. */
typedef struct DryRun
{
	HTAB	   *rels;			/* PlanRel by relid */
	List	   *locked;			/* PlanRel* this backend holds a lock on */
	List	   *rows;			/* PlanRow* */
} DryRun;

/* What a relkind is called in plan()'s kind column. */
static const char *
RelkindName(char relkind)
{
	switch (relkind)
	{
		case RELKIND_RELATION:
			return "table";
		case RELKIND_PARTITIONED_TABLE:
			return "partitioned table";
		case RELKIND_INDEX:
			return "index";
		case RELKIND_PARTITIONED_INDEX:
			return "partitioned index";
		case RELKIND_SEQUENCE:
			return "sequence";
		case RELKIND_VIEW:
			return "view";
		case RELKIND_MATVIEW:
			return "materialized view";
		case RELKIND_FOREIGN_TABLE:
			return "foreign table";
		case RELKIND_TOASTVALUE:
			return "toast table";
		default:
			return "relation";
	}
}

/*
 * Relations the report covers: those of user schemas (not pg_catalog,
 * information_schema, TOAST, other sessions' temporary schemas, nor
 * migrate_ops' own bookkeeping).
 */
static bool
ReportedNamespace(Oid nsp, Oid own_schema)
{
	char	   *name;

	if (nsp == own_schema || IsCatalogNamespace(nsp) || IsToastNamespace(nsp) ||
		isOtherTempNamespace(nsp))
		return false;
	name = get_namespace_name(nsp);
	return name != NULL && strcmp(name, "information_schema") != 0;
}

/* Records every reported relation as it is before the script runs. */
static void
SnapshotRelations(DryRun *ps)
{
	HASHCTL		info = {0};
	Relation	pg_class;
	TableScanDesc scan;
	HeapTuple	tup;
	Oid			own_schema = get_namespace_oid(MO_SCHEMA, true);
	Oid			last_nsp = InvalidOid;
	bool		last_ok = false;

	info.keysize = sizeof(Oid);
	info.entrysize = sizeof(PlanRel);
	info.hcxt = CurrentMemoryContext;
	ps->rels = hash_create("migrate_ops plan relations", 1024, &info,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	pg_class = table_open(RelationRelationId, AccessShareLock);
	scan = table_beginscan_catalog(pg_class, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_class c = (Form_pg_class) GETSTRUCT(tup);
		PlanRel    *rel;
		bool		found;

		if (c->relnamespace != last_nsp)
		{
			last_nsp = c->relnamespace;
			last_ok = ReportedNamespace(last_nsp, own_schema);
		}
		if (!last_ok)
			continue;
		rel = hash_search(ps->rels, &c->oid, HASH_ENTER, &found);
		rel->relkind = c->relkind;
		rel->relfilenode = c->relfilenode;
		rel->name = quote_qualified_identifier(get_namespace_name(c->relnamespace),
											   NameStr(c->relname));
		rel->held = 0;
		rel->now = 0;
		rel->locked = false;
	}
	table_endscan(scan);
	table_close(pg_class, AccessShareLock);
}

/* Appends an output row. */
static PlanRow *
AddRow(DryRun *ps, const char *section, MoStatement *stmt)
{
	PlanRow    *row = palloc0(sizeof(PlanRow));

	row->section = section;
	row->stmt = stmt;
	ps->rows = lappend(ps->rows, row);
	return row;
}

/* Order of rows within a statement: tables before indexes and others, then by name. */
static int
RowOrder(const ListCell *a, const ListCell *b)
{
	PlanRow    *ra = (PlanRow *) lfirst(a);
	PlanRow    *rb = (PlanRow *) lfirst(b);
	bool		ta = strcmp(ra->kind, "table") == 0;
	bool		tb = strcmp(rb->kind, "table") == 0;

	if (ta != tb)
		return ta ? -1 : 1;
	if (strcmp(ra->kind, rb->kind) != 0)
		return strcmp(ra->kind, rb->kind);
	return strcmp(ra->object, rb->object);
}

/* Appends rows to the result in RowOrder. */
static void
AddSorted(DryRun *ps, List *rows)
{
	list_sort(rows, RowOrder);
	ps->rows = list_concat(ps->rows, rows);
	list_free(rows);
}

/*
 * The strongest of the modes in fresh that blocks something the modes in
 * held do not already block (by the lock method's conflict table), or
 * NoLock: a mode taken under a stronger one the migration already holds
 * makes no other session wait that was not waiting already.
 */
static LOCKMODE
AddedMode(LOCKMASK fresh, LOCKMASK held, const LOCKMASK *conflicts)
{
	LOCKMASK	blocked = 0;

	for (LOCKMODE m = AccessShareLock; m <= AccessExclusiveLock; m++)
		if (held & LOCKBIT_ON(m))
			blocked |= conflicts[m];
	for (LOCKMODE m = AccessExclusiveLock; m >= AccessShareLock; m--)
		if ((fresh & LOCKBIT_ON(m)) && (conflicts[m] & ~blocked) != 0)
			return m;
	return NoLock;
}

/*
 * Reads this backend's relation locks from the shared lock table.  With
 * stmt, reports for each pre-existing relation the strongest mode the
 * statement took that makes other sessions wait more than the locks the
 * script already held; without, only records what is held already.
 */
static void
ReadLocks(DryRun *ps, MoStatement *stmt)
{
	LockData   *data = GetLockStatusData();
	const LOCKMASK *conflicts = NULL;
	List	   *touched = NIL;
	List	   *rows = NIL;
	ListCell   *lc;

	for (int i = 0; i < data->nelements; i++)
	{
		LockInstanceData *inst = &data->locks[i];
		Oid			relid;
		PlanRel    *rel;

		if (inst->pid != MyProcPid || inst->locktag.locktag_type != LOCKTAG_RELATION ||
			inst->locktag.locktag_field1 != MyDatabaseId || inst->holdMask == 0)
			continue;
		relid = inst->locktag.locktag_field2;
		rel = hash_search(ps->rels, &relid, HASH_FIND, NULL);
		if (rel == NULL)
			continue;
		if (conflicts == NULL)
			conflicts = GetLockTagsMethodTable(&inst->locktag)->conflictTab;
		if (rel->now == 0)
			touched = lappend(touched, rel);
		rel->now |= inst->holdMask;
	}

	foreach(lc, touched)
	{
		PlanRel    *rel = (PlanRel *) lfirst(lc);
		LOCKMODE	added = AddedMode(rel->now & ~rel->held, rel->held, conflicts);

		if (stmt != NULL && added != NoLock)
		{
			PlanRow    *row = palloc0(sizeof(PlanRow));

			row->section = "lock";
			row->stmt = stmt;
			row->kind = RelkindName(rel->relkind);
			row->object = rel->name;
			row->detail = pstrdup(MoLockModeName(added));
			rows = lappend(rows, row);
		}
		rel->held |= rel->now;
		rel->now = 0;
		if (!rel->locked)
		{
			rel->locked = true;
			ps->locked = lappend(ps->locked, rel);
		}
	}
	AddSorted(ps, rows);
	list_free(touched);
	pfree(data->locks);
	pfree(data);
}

/* Reports the tables and materialized views whose storage the statement replaced. */
static void
CheckRewrites(DryRun *ps, MoStatement *stmt)
{
	ListCell   *lc;
	List	   *rows = NIL;

	foreach(lc, ps->locked)
	{
		PlanRel    *rel = (PlanRel *) lfirst(lc);
		HeapTuple	tup;
		Oid			filenode;
		PlanRow    *row;

		if (rel->relkind != RELKIND_RELATION && rel->relkind != RELKIND_MATVIEW)
			continue;
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(rel->relid));
		if (!HeapTupleIsValid(tup))
			continue;			/* dropped: not a rewrite */
		filenode = ((Form_pg_class) GETSTRUCT(tup))->relfilenode;
		ReleaseSysCache(tup);
		if (filenode == rel->relfilenode)
			continue;
		row = palloc0(sizeof(PlanRow));
		row->section = "rewrite";
		row->stmt = stmt;
		row->kind = RelkindName(rel->relkind);
		row->object = rel->name;
		row->detail = psprintf("relfilenode %u -> %u", rel->relfilenode, filenode);
		rows = lappend(rows, row);
		rel->relfilenode = filenode;
	}
	AddSorted(ps, rows);
}

/* The first line of a statement, shortened for a 'statement' row. */
static char *
ShortText(const char *text)
{
	int			len = strcspn(text, "\r\n");
	int			clip = pg_mbcliplen(text, len, PLAN_TEXT_LEN);

	if (clip < len || text[len] != '\0')
		return psprintf("%.*s...", clip, text);
	return pstrdup(text);
}

/*
 * Runs one statement in a subtransaction of its own and records what it
 * did; on error records the error, rolls the statement back and returns
 * false.
 */
static bool
PlanStatement(DryRun *ps, MoStatement *stmt, MoStatementTimer *timer)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;
	instr_time	start;
	instr_time	duration;
	volatile uint64 rows = 0;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	INSTR_TIME_SET_CURRENT(start);
	PG_TRY();
	{
		rows = MoRunStatement("the script", stmt, timer);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		PlanRow    *row;

		MoStatementTimerRestore(timer);
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;

		row = AddRow(ps, "error", stmt);
		row->kind = unpack_sql_state(edata->sqlerrcode);
		row->detail = edata->detail ? psprintf("%s\nDETAIL: %s", edata->message, edata->detail)
			: pstrdup(edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	if (!ok)
		return false;

	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	{
		PlanRow    *row = AddRow(ps, "statement", stmt);

		row->detail = ShortText(stmt->text);
		row->has_rows = true;
		row->rows = rows;
		row->ms = INSTR_TIME_GET_MILLISEC(duration);
	}
	ReadLocks(ps, stmt);
	CheckRewrites(ps, stmt);
	return true;
}

/* Sets text column i from value, or NULL. */
static void
SetText(Datum *values, bool *nulls, int i, const char *value)
{
	if (value == NULL)
		nulls[i] = true;
	else
		values[i] = CStringGetTextDatum(value);
}

/*
 * migrate_ops.plan(script) → setof (section, statement, line, command, kind,
 * object, detail, rows, ms, expected, actual)
 */
Datum
migrate_ops_plan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *script = MoRequiredTextArg(fcinfo, 0, "script");
	MemoryContext cxt;
	ResourceOwner owner;
	List	   *statements;
	DryRun	ps = {0};
	MoStatementTimer timer = {0};
	ListCell   *lc;
	int			nestlevel;
	MoCatalogState *before;
	MoCatalogState *after;

	InitMaterializedSRF(fcinfo, 0);
	statements = MoParseScript(script, "the script");
	MoCheckRunnableInTransaction(statements, "plan()");

	cxt = CurrentMemoryContext;
	SPI_connect();
	MemoryContextSwitchTo(cxt);
	SnapshotRelations(&ps);
	before = MoCatalogCapture();

	/*
	 * The dry run: a subtransaction that is always rolled back.  An error
	 * escaping from here (not a statement's: those are rows) aborts it with
	 * the caller's transaction or subtransaction.
	 */
	owner = CurrentResourceOwner;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	nestlevel = MoMigrationSettingsBegin();
	ReadLocks(&ps, NULL);
	foreach(lc, statements)
	{
		if (!PlanStatement(&ps, (MoStatement *) lfirst(lc), &timer))
			break;
		CHECK_FOR_INTERRUPTS();
	}
	MoMigrationSettingsEnd(nestlevel);
	after = MoCatalogCapture();	/* in cxt: it outlives the rollback */
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	SPI_finish();
	MemoryContextSwitchTo(cxt);

	foreach(lc, MoCatalogDiff(before, after))
	{
		MoDriftRow *change = (MoDriftRow *) lfirst(lc);
		PlanRow    *row = AddRow(&ps, "change", NULL);

		row->kind = change->kind;
		row->object = change->identity;
		row->detail = (char *) change->change;
		row->expected = change->expected;
		row->actual = change->actual;
	}

	foreach(lc, ps.rows)
	{
		PlanRow    *row = (PlanRow *) lfirst(lc);
		Datum		values[11] = {0};
		bool		nulls[11] = {0};

		values[0] = CStringGetTextDatum(row->section);
		if (row->stmt)
		{
			values[1] = Int32GetDatum(row->stmt->number);
			values[2] = Int32GetDatum(row->stmt->line);
			values[3] = CStringGetTextDatum(row->stmt->tag);
		}
		else
			nulls[1] = nulls[2] = nulls[3] = true;
		SetText(values, nulls, 4, row->kind);
		SetText(values, nulls, 5, row->object);
		SetText(values, nulls, 6, row->detail);
		if (row->has_rows)
		{
			values[7] = Int64GetDatum((int64) row->rows);
			values[8] = DirectFunctionCall3(numeric_in,
											CStringGetDatum(psprintf("%.3f", row->ms)),
											ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		}
		else
			nulls[7] = nulls[8] = true;
		SetText(values, nulls, 9, row->expected);
		SetText(values, nulls, 10, row->actual);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
