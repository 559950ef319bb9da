/*
 * drift.c — fingerprints, snapshots, drift reports, drift SQL and scans
 * (DESIGN §2).
 *
 * Snapshots are stored as versions of objects: a row of
 * migrate_ops.snapshot_objects holds one definition of one object and the
 * range of snapshots it belongs to [valid_from, valid_to), so a snapshot
 * after a migration writes only what the migration changed.  The objects of
 * snapshot S are the rows with valid_from <= S and (valid_to IS NULL or
 * valid_to > S); the latest snapshot's are the rows with valid_to IS NULL.
 *
 * Reading functions (fingerprint, drift, drift_sql) read the extension's
 * tables as the extension owner, like the ledger, so a monitoring role needs
 * EXECUTE only; writing functions (snapshot, accept_drift, scan) write as
 * the owner.  Snapshot writes are serialised by a transaction-level advisory
 * lock, so a new snapshot is always computed against the one before it.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "migrate_ops.h"

PG_FUNCTION_INFO_V1(migrate_ops_fingerprint);
PG_FUNCTION_INFO_V1(migrate_ops_snapshot);
PG_FUNCTION_INFO_V1(migrate_ops_drift);
PG_FUNCTION_INFO_V1(migrate_ops_drift_sql);
PG_FUNCTION_INFO_V1(migrate_ops_accept_drift);
PG_FUNCTION_INFO_V1(migrate_ops_scan);

/* Track privileges (owners and grants) as objects. */
bool		mo_track_privileges = true;

/* Track comments as objects. */
bool		mo_track_comments = true;

/* Deparse every signed object and check the hashes signatures would lend. */
bool		mo_verify_signatures = false;

/* Differences listed by name in event payloads and scan rows. */
#define SUMMARY_OBJECTS 20

/* Rows per INSERT/UPDATE when a snapshot is written. */
#define WRITE_BATCH 2000

/* Longest label or reason accepted (bytes). */
#define MAX_NOTE_LEN 10000

/* Defines the drift GUCs (from _PG_init). */
void
DriftInit(void)
{
	DefineCustomBoolVariable("migrate_ops.track_privileges",
							 "Track owners and privileges (GRANT/REVOKE) in fingerprints and drift reports.",
							 NULL,
							 &mo_track_privileges,
							 true, PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("migrate_ops.track_comments",
							 "Track comments (COMMENT ON) in fingerprints and drift reports.",
							 NULL,
							 &mo_track_comments,
							 true, PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("migrate_ops.verify_signatures",
							 "Deparse every object a catalog signature vouches for and fail on any difference (diagnostic).",
							 "Catalog reads normally reuse the stored hash of a constraint, index, view, trigger or "
							 "policy whose catalog signature is unchanged; this setting runs the deparser anyway and "
							 "raises an error if the definition differs.",
							 &mo_verify_signatures,
							 false, PGC_SUSET, GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
}

/* ---------------------------------------------------------------- helpers */

/* True when the drift tables exist (a 0.1.0 schema has none). */
static bool
DriftTablesExist(void)
{
	Oid			nsp = get_namespace_oid(MO_SCHEMA, true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("snapshot_objects", nsp));
}

/* Adds a parameter of any type to args. */
static void
ArgDatum(MoArgs *args, Oid type, Datum value, bool isnull)
{
	if (args->n >= MO_MAX_ARGS)
		elog(ERROR, "too many SPI parameters");
	args->types[args->n] = type;
	args->values[args->n] = value;
	args->nulls[args->n] = isnull ? 'n' : ' ';
	args->n++;
}

/* A text[] datum of n strings (NULL entries become NULLs). */
static Datum
TextArrayDatum(char **values, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * (n + 1));
	bool	   *nulls = palloc(sizeof(bool) * (n + 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		nulls[i] = (values[i] == NULL);
		elems[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(values[i]);
	}
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, TEXTOID, -1, false,
											  TYPALIGN_INT));
}

/* A bytea datum of 32 bytes (a hash or a signature). */
static bytea *
BytesDatum(const uint8 *bytes)
{
	bytea	   *b = palloc(VARHDRSZ + 32);

	SET_VARSIZE(b, VARHDRSZ + 32);
	memcpy(VARDATA(b), bytes, 32);
	return b;
}

/* A bytea[] datum of n values (nulls[i]: NULL). */
static Datum
ByteaArrayDatum(Datum *values, bool *nulls, int n)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};

	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, BYTEAOID, -1, false,
											  TYPALIGN_INT));
}

/*
 * Appends "-- text" lines: every line of text commented (a carriage return
 * ends an SQL comment too, so it starts a new commented line as well).
 */
static void
AppendCommentLines(StringInfo buf, const char *prefix, const char *text)
{
	appendStringInfoString(buf, "-- ");
	appendStringInfoString(buf, prefix);
	for (const char *p = text; p && *p; p++)
	{
		if (*p == '\n' || *p == '\r')
			appendStringInfoString(buf, "\n--   ");
		else
			appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '\n');
}

/* Text of one line: newlines shown as \n (for one-line comments). */
static char *
OneLine(const char *text)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (const char *p = text; *p; p++)
	{
		if (*p == '\n')
			appendStringInfoString(&buf, "\\n");
		else if (*p == '\r')
			appendStringInfoString(&buf, "\\r");
		else
			appendStringInfoChar(&buf, *p);
	}
	return buf.data;
}

/* ---------------------------------------------------------------- filter */

/*
 * The filter every fingerprint and report uses: the track_* settings and
 * the patterns of migrate_ops.drift_ignore (read as the owner).  SPI
 * connected.
 */
MoCatalogFilter *
MoDriftFilter(void)
{
	MoOwnerState owner;
	int			n = 0;
	int		   *kinds;
	char	  **patterns;

	if (!DriftTablesExist())
		return MoCatalogFilterGet(mo_track_privileges, mo_track_comments, 0, NULL, NULL);

	MoBecomeOwner(&owner);
	MoSpiExec("SELECT kind, pattern FROM migrate_ops.drift_ignore ORDER BY id", NULL);
	MoRestoreUser(&owner);
	kinds = palloc(sizeof(int) * (SPI_processed + 1));
	patterns = palloc(sizeof(char *) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *kind = MoSpiGetText(i, 1);

		kinds[n] = kind ? MoKindFromName(kind) : -1;
		if (kind && kinds[n] < 0)
			continue;			/* a kind this version does not know */
		patterns[n++] = MoSpiGetText(i, 2);
	}
	return MoCatalogFilterGet(mo_track_privileges, mo_track_comments, n, kinds, patterns);
}

/* ---------------------------------------------------------------- stored snapshots */

static int64 LatestSnapshot(char **fingerprint);

/* The number of a column of a relation, which must exist. */
static AttrNumber
ColumnNumber(Relation rel, const char *name)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), name);

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "migrate_ops: column %s.%s is missing", RelationGetRelationName(rel), name);
	return attnum;
}

/* A text column of a tuple as a C string into buf (truncated), or false for NULL. */
static bool
ShortText(Datum *values, bool *nulls, AttrNumber attnum, char *buf, int size)
{
	text	   *t;
	int			len;

	if (nulls[attnum - 1])
		return false;
	t = DatumGetTextPP(values[attnum - 1]);
	len = Min((int) VARSIZE_ANY_EXHDR(t), size - 1);
	memcpy(buf, VARDATA_ANY(t), len);
	buf[len] = '\0';
	return true;
}

/* The last kind name looked up, and its MoKind. */
typedef struct KindCache
{
	char		name[NAMEDATALEN * 2];
	int			kind;
} KindCache;

/* MoKindFromName(), remembering the last name (a snapshot's rows come kind by kind). */
static int
CachedKind(const char *name, KindCache *cache)
{
	if (cache->kind != -2 && strcmp(cache->name, name) == 0)
		return cache->kind;
	strlcpy(cache->name, name, sizeof(cache->name));
	cache->kind = MoKindFromName(name);
	return cache->kind;
}

/*
 * How many objects snapshot snapshot_id (0: the latest) holds, as recorded
 * with it, or 0: a hint to size the state loading it.  SPI connected.
 */
static int
StoredCountHint(int64 snapshot_id)
{
	MoArgs		args = {0};
	bool		isnull;
	Datum		count;

	MoArgInt8(&args, snapshot_id);
	MoSpiExec("SELECT object_count FROM migrate_ops.snapshots"
			  " WHERE $1 OPERATOR(pg_catalog.=) 0 OR id OPERATOR(pg_catalog.=) $1"
			  " ORDER BY id DESC LIMIT 1", &args);
	if (SPI_processed == 0)
		return 0;
	count = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : Max(DatumGetInt32(count), 0);
}

/*
 * Loads the objects of snapshot snapshot_id (0: the current rows, i.e. the
 * latest snapshot) as identities, hashes and signatures, leaving out what
 * filter excludes.  The table is read straight, not through a query: a
 * hundred thousand rows through SPI cost twice as much.  SPI connected.
 */
static MoCatalogState *
LoadStored(int64 snapshot_id, const MoCatalogFilter *filter)
{
	MoCatalogState *state = MoCatalogStateCreate();
	Relation	rel = table_open(get_relname_relid("snapshot_objects", get_namespace_oid(MO_SCHEMA, false)),
								 AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	AttrNumber	a_kind = ColumnNumber(rel, "kind");
	AttrNumber	a_identity = ColumnNumber(rel, "identity");
	AttrNumber	a_parent_kind = ColumnNumber(rel, "parent_kind");
	AttrNumber	a_parent = ColumnNumber(rel, "parent");
	AttrNumber	a_hash = ColumnNumber(rel, "hash");
	AttrNumber	a_from = ColumnNumber(rel, "valid_from");
	AttrNumber	a_to = ColumnNumber(rel, "valid_to");
	AttrNumber	a_sig = ColumnNumber(rel, "signature");
	bool		patterns = filter && filter->npatterns > 0;
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "migrate_ops snapshot row",
												 ALLOCSET_DEFAULT_SIZES);
	TableScanDesc scan;
	HeapTuple	tuple;
	uint64		rows = 0;
	KindCache	kind_cache = {.kind = -2};
	KindCache	parent_kind_cache = {.kind = -2};
	int			hint;

	/* sized once: growing it by doubling copies it and faults in twice the memory */
	hint = StoredCountHint(snapshot_id);
	if (hint > 0)
		MoCatalogStateReserve(state, hint + 1024);
	else if (rel->rd_rel->reltuples > 0)
		MoCatalogStateReserve(state, (int) Min(rel->rd_rel->reltuples, 10000000.0));

	/* this transaction's own writes included, like a query */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		MemoryContext old;
		char		name[NAMEDATALEN * 2];
		char	   *identity;
		bytea	   *hash;
		int			kind;
		int			parent_kind = -1;
		MoCatalogObject *obj;

		if ((++rows & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		heap_deform_tuple(tuple, desc, values, nulls);
		if (snapshot_id == 0 ? !nulls[a_to - 1] :
			(DatumGetInt64(values[a_from - 1]) > snapshot_id ||
			 (!nulls[a_to - 1] && DatumGetInt64(values[a_to - 1]) <= snapshot_id)))
			continue;
		if (!ShortText(values, nulls, a_kind, name, sizeof(name)) || nulls[a_identity - 1] || nulls[a_hash - 1])
			continue;
		kind = CachedKind(name, &kind_cache);
		hash = DatumGetByteaPP(values[a_hash - 1]);
		if (kind < 0 || VARSIZE_ANY_EXHDR(hash) != 32)
			continue;			/* a kind this version does not know */
		if (ShortText(values, nulls, a_parent_kind, name, sizeof(name)))
			parent_kind = CachedKind(name, &parent_kind_cache);
		if (filter && (patterns || kind == MO_KIND_PRIVILEGE || kind == MO_KIND_COMMENT))
		{
			bool		ignored;

			old = MemoryContextSwitchTo(rowcxt);
			identity = TextDatumGetCString(values[a_identity - 1]);
			ignored = MoCatalogIgnored(filter, kind, identity, parent_kind,
									   patterns && !nulls[a_parent - 1] ? TextDatumGetCString(values[a_parent - 1]) : NULL);
			MemoryContextSwitchTo(old);
			MemoryContextReset(rowcxt);
			if (ignored)
				continue;
		}
		{
			/* the identity goes straight from the tuple into the state */
			text	   *t = DatumGetTextPP(values[a_identity - 1]);

			obj = MoCatalogStateAddN(state, kind, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t),
									 parent_kind < 0 ? 0 : parent_kind, (const uint8 *) VARDATA_ANY(hash));
			if ((Pointer) t != DatumGetPointer(values[a_identity - 1]))
				pfree(t);
		}
		if (!nulls[a_sig - 1])
		{
			bytea	   *sig = DatumGetByteaPP(values[a_sig - 1]);

			if (VARSIZE_ANY_EXHDR(sig) == 32)
			{
				memcpy(obj->sig, VARDATA_ANY(sig), 32);
				obj->has_sig = true;
			}
		}
	}
	table_endscan(scan);
	PopActiveSnapshot();
	table_close(rel, AccessShareLock);
	MemoryContextDelete(rowcxt);
	MoCatalogStateFinish(state);
	return state;
}

/*
 * The latest snapshot's objects, to lend their hashes to a capture (see
 * catalog.c), with its id in *id; NULL when there is no snapshot or no
 * drift tables.  Reads as the owner; SPI connected.
 */
static MoCatalogState *
LatestReference(const MoCatalogFilter *filter, int64 *id)
{
	MoOwnerState owner;
	MoCatalogState *ref = NULL;

	*id = 0;
	if (!DriftTablesExist())
		return NULL;
	MoBecomeOwner(&owner);
	*id = LatestSnapshot(NULL);
	if (*id != 0)
		ref = LoadStored(0, filter);
	MoRestoreUser(&owner);
	return ref;
}

/* One difference: expected (stored) and actual (live) object, either may be NULL. */
typedef struct Pair
{
	MoCatalogObject *e;
	MoCatalogObject *a;
} Pair;

/* The differences between two states, in (kind, identity) order. */
typedef struct Pairs
{
	Pair	   *items;
	int			n;
	int			capacity;
	int			added;
	int			removed;
	int			changed;
} Pairs;

/* MoDiffCallback collecting Pairs. */
static void
PairCollect(void *arg, const MoCatalogObject *e, const MoCatalogObject *a)
{
	Pairs	   *p = (Pairs *) arg;

	if (p->n >= p->capacity)
	{
		p->capacity = p->capacity ? p->capacity * 2 : 64;
		p->items = p->items ? repalloc(p->items, sizeof(Pair) * p->capacity)
			: palloc(sizeof(Pair) * p->capacity);
	}
	p->items[p->n].e = (MoCatalogObject *) e;
	p->items[p->n].a = (MoCatalogObject *) a;
	p->n++;
	if (e == NULL)
		p->added++;
	else if (a == NULL)
		p->removed++;
	else
		p->changed++;
}

/* The change a pair stands for. */
static const char *
PairChange(const Pair *p)
{
	return p->e == NULL ? "added" : (p->a == NULL ? "removed" : "changed");
}

/* The object a pair is about (for kind and identity). */
static const MoCatalogObject *
PairObject(const Pair *p)
{
	return p->a ? p->a : p->e;
}

/*
 * Loads parent, definition, detail and creation-order hint of the given
 * stored objects of snapshot_id into expected (as the owner).  keys are
 * (kind, identity) pairs; unknown ones are skipped.
 */
static void
LoadStoredDefinitions(MoCatalogState *expected, int64 snapshot_id, int nkeys,
					  char **kinds, char **identities)
{
	for (int start = 0; start < nkeys; start += WRITE_BATCH)
	{
		int			n = Min(WRITE_BATCH, nkeys - start);
		MoArgs		args = {0};

		ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(kinds + start, n), false);
		ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(identities + start, n), false);
		MoArgInt8(&args, snapshot_id);
		MoSpiExec("SELECT o.kind, o.identity, o.parent, o.definition, o.detail::pg_catalog.text, o.ord"
				  "  FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[]))"
				  "       AS k(kind, identity)"
				  "  JOIN migrate_ops.snapshot_objects o"
				  "    ON o.kind OPERATOR(pg_catalog.=) k.kind AND o.identity OPERATOR(pg_catalog.=) k.identity"
				  " WHERE CASE WHEN $3 OPERATOR(pg_catalog.=) 0 THEN o.valid_to IS NULL"
				  "       ELSE o.valid_from OPERATOR(pg_catalog.<=) $3"
				  "        AND (o.valid_to IS NULL OR o.valid_to OPERATOR(pg_catalog.>) $3) END",
				  &args);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			int			kind = MoKindFromName(MoSpiGetText(i, 1));
			MoCatalogObject *obj = MoCatalogFind(expected, kind, MoSpiGetText(i, 2));
			MoCatalogExtra *x;
			char	   *ord = MoSpiGetText(i, 6);

			if (obj == NULL)
				continue;
			x = MemoryContextAllocZero(expected->cxt, sizeof(MoCatalogExtra));
			x->parent = MoSpiGetText(i, 3) ? MemoryContextStrdup(expected->cxt, MoSpiGetText(i, 3)) : NULL;
			x->definition = MemoryContextStrdup(expected->cxt, MoSpiGetText(i, 4));
			x->detail = MoSpiGetText(i, 5) ? MemoryContextStrdup(expected->cxt, MoSpiGetText(i, 5)) : NULL;
			x->ord = ord ? strtoi64(ord, NULL, 10) : 0;
			obj->x = x;
		}
	}
}

/* Loads the stored definitions of the expected side of every pair. */
static void
LoadPairDefinitions(MoCatalogState *expected, int64 snapshot_id, Pairs *pairs)
{
	char	  **kinds = palloc(sizeof(char *) * (pairs->n + 1));
	char	  **identities = palloc(sizeof(char *) * (pairs->n + 1));
	int			n = 0;

	for (int i = 0; i < pairs->n; i++)
	{
		if (pairs->items[i].e == NULL)
			continue;
		kinds[n] = (char *) MoKindNames[pairs->items[i].e->kind];
		identities[n++] = pairs->items[i].e->identity;
	}
	LoadStoredDefinitions(expected, snapshot_id, n, kinds, identities);
}

/* ---------------------------------------------------------------- writing snapshots */

/* What a snapshot write did. */
typedef struct SnapshotResult
{
	int64		id;				/* 0 when nothing was written */
	int64		previous_id;	/* the snapshot before it, 0 if none */
	char	   *fingerprint;
	MoCatalogState *stored;		/* the previous snapshot's objects */
	MoCatalogState *captured;	/* the catalog as stored now */
	Pairs		pairs;			/* what changed since the previous snapshot */
} SnapshotResult;

/* Takes the transaction-level lock serialising snapshot writes (or scans). */
static void
DriftLock(int which)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, MO_LOCK_CLASS, which, 2);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/* The latest snapshot's id (0 if none), with its fingerprint. As the owner. */
static int64
LatestSnapshot(char **fingerprint)
{
	bool		isnull;

	MoSpiExec("SELECT id, fingerprint FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1", NULL);
	if (SPI_processed == 0)
		return 0;
	if (fingerprint)
		*fingerprint = MoSpiGetText(0, 2);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Ends the stored versions of the objects that changed or disappeared (valid_to = id). */
static void
CloseVersions(int64 id, Pairs *pairs)
{
	char	  **kinds = palloc(sizeof(char *) * (WRITE_BATCH + 1));
	char	  **identities = palloc(sizeof(char *) * (WRITE_BATCH + 1));
	int			n = 0;

	for (int i = 0; i <= pairs->n; i++)
	{
		if (i < pairs->n && pairs->items[i].e != NULL)
		{
			kinds[n] = (char *) MoKindNames[pairs->items[i].e->kind];
			identities[n++] = pairs->items[i].e->identity;
		}
		if (n > 0 && (n == WRITE_BATCH || i == pairs->n))
		{
			MoArgs		args = {0};

			MoArgInt8(&args, id);
			ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(kinds, n), false);
			ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(identities, n), false);
			MoSpiExec("UPDATE migrate_ops.snapshot_objects o SET valid_to = $1"
					  "  FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[]))"
					  "       AS k(kind, identity)"
					  " WHERE o.valid_to IS NULL AND o.kind OPERATOR(pg_catalog.=) k.kind"
					  "   AND o.identity OPERATOR(pg_catalog.=) k.identity", &args);
			n = 0;
		}
	}
}

/* Stores the new versions of the objects that changed or appeared (valid_from = id). */
static void
InsertVersions(int64 id, Pairs *pairs)
{
	int			cap = WRITE_BATCH + 1;
	char	  **kinds = palloc(sizeof(char *) * cap);
	char	  **identities = palloc(sizeof(char *) * cap);
	char	  **parent_kinds = palloc(sizeof(char *) * cap);
	char	  **parents = palloc(sizeof(char *) * cap);
	char	  **definitions = palloc(sizeof(char *) * cap);
	char	  **details = palloc(sizeof(char *) * cap);
	Datum	   *hashes = palloc(sizeof(Datum) * cap);
	Datum	   *sigs = palloc(sizeof(Datum) * cap);
	bool	   *nosig = palloc(sizeof(bool) * cap);
	Datum	   *ords = palloc(sizeof(Datum) * cap);
	int			n = 0;

	for (int i = 0; i <= pairs->n; i++)
	{
		MoCatalogObject *a = i < pairs->n ? pairs->items[i].a : NULL;

		if (a != NULL)
		{
			bytea	   *h = palloc(VARHDRSZ + 32);

			SET_VARSIZE(h, VARHDRSZ + 32);
			memcpy(VARDATA(h), a->hash, 32);
			kinds[n] = (char *) MoKindNames[a->kind];
			identities[n] = a->identity;
			parents[n] = a->x ? a->x->parent : NULL;
			parent_kinds[n] = parents[n] ? (char *) MoKindNames[a->parent_kind] : NULL;
			definitions[n] = a->x && a->x->definition ? a->x->definition : "";
			details[n] = a->x ? a->x->detail : NULL;
			hashes[n] = PointerGetDatum(h);
			nosig[n] = !a->has_sig;
			sigs[n] = a->has_sig ? PointerGetDatum(BytesDatum(a->sig)) : (Datum) 0;
			ords[n] = Int64GetDatum(a->x ? a->x->ord : 0);
			n++;
		}
		if (n > 0 && (n == WRITE_BATCH || i == pairs->n))
		{
			MoArgs		args = {0};

			ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(kinds, n), false);
			ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(identities, n), false);
			ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(parent_kinds, n), false);
			ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(parents, n), false);
			ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(definitions, n), false);
			ArgDatum(&args, BYTEAARRAYOID,
					 PointerGetDatum(construct_array(hashes, n, BYTEAOID, -1, false, TYPALIGN_INT)), false);
			ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(details, n), false);
			ArgDatum(&args, INT8ARRAYOID,
					 PointerGetDatum(construct_array(ords, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
													 TYPALIGN_DOUBLE)), false);
			MoArgInt8(&args, id);
			ArgDatum(&args, BYTEAARRAYOID, ByteaArrayDatum(sigs, nosig, n), false);
			MoSpiExec("INSERT INTO migrate_ops.snapshot_objects"
					  " (kind, identity, parent_kind, parent, definition, hash, detail, ord, valid_from, signature)"
					  " SELECT k, i, pk, p, d, h, dt::pg_catalog.jsonb, o, $9, s"
					  "   FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[]),"
					  "        pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::pg_catalog.text[]),"
					  "        pg_catalog.unnest($5::pg_catalog.text[]), pg_catalog.unnest($6::pg_catalog.bytea[]),"
					  "        pg_catalog.unnest($7::pg_catalog.text[]), pg_catalog.unnest($8::pg_catalog.int8[]),"
					  "        pg_catalog.unnest($10::pg_catalog.bytea[]))"
					  "        AS u(k, i, pk, p, d, h, dt, o, s)", &args);
			n = 0;
		}
	}
}

/*
 * Stores the signatures of unchanged objects whose stored version has
 * another one (or none): after a dump/restore, a new PostgreSQL or
 * migrate_ops version, or when a signature's parts changed but the
 * definition did not.  Equal signatures mean equal definitions, so any
 * signature computed with a definition may stand for it.  Current rows
 * only; as the owner.
 */
static void
RefreshSignatures(const MoCatalogState *stored, const MoCatalogState *captured)
{
	char	  **kinds = palloc(sizeof(char *) * (WRITE_BATCH + 1));
	char	  **identities = palloc(sizeof(char *) * (WRITE_BATCH + 1));
	Datum	   *sigs = palloc(sizeof(Datum) * (WRITE_BATCH + 1));
	bool	   *nulls = palloc0(sizeof(bool) * (WRITE_BATCH + 1));
	int			n = 0;
	int			i = 0,
				j = 0;

	for (;;)
	{
		const MoCatalogObject *e = i < stored->count ? &stored->objects[i] : NULL;
		const MoCatalogObject *a = j < captured->count ? &captured->objects[j] : NULL;
		int			c;

		if (e && a)
		{
			c = e->kind != a->kind ? (e->kind < a->kind ? -1 : 1) : strcmp(e->identity, a->identity);
			if (c < 0)
				i++;
			else if (c > 0)
				j++;
			else
			{
				if (a->has_sig && memcmp(e->hash, a->hash, 32) == 0 &&
					(!e->has_sig || memcmp(e->sig, a->sig, 32) != 0))
				{
					kinds[n] = (char *) MoKindNames[a->kind];
					identities[n] = a->identity;
					sigs[n++] = PointerGetDatum(BytesDatum(a->sig));
				}
				i++;
				j++;
			}
		}
		if (n > 0 && (n == WRITE_BATCH || e == NULL || a == NULL))
		{
			MoArgs		args = {0};

			ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(kinds, n), false);
			ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(identities, n), false);
			ArgDatum(&args, BYTEAARRAYOID, ByteaArrayDatum(sigs, nulls, n), false);
			MoSpiExec("UPDATE migrate_ops.snapshot_objects o SET signature = u.s"
					  "  FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[]),"
					  "       pg_catalog.unnest($3::pg_catalog.bytea[])) AS u(k, i, s)"
					  " WHERE o.valid_to IS NULL AND o.kind OPERATOR(pg_catalog.=) u.k"
					  "   AND o.identity OPERATOR(pg_catalog.=) u.i", &args);
			elog(DEBUG1, "migrate_ops: stored %d new signatures", n);
			n = 0;
		}
		if (e == NULL || a == NULL)
			break;
	}
}

/*
 * Writes a snapshot of the current catalog: ends the stored versions of
 * what changed or disappeared since the latest snapshot and stores the new
 * ones, then the snapshots row, taken by role (the caller).  As the owner,
 * SPI connected.  With skip_unchanged, nothing is written when nothing
 * changed (res->id = 0).  before, when given, is a capture of this
 * transaction whose reference may still be the latest snapshot (read again
 * otherwise).
 */
static void
SnapshotWrite(SnapshotResult *res, const char *label, const char *source, const char *reason,
			  const char *migration, const char *role, bool skip_unchanged,
			  const MoCatalogState *before)
{
	MoCatalogFilter *filter;
	MoArgs		args = {0};
	bool		isnull;

	memset(res, 0, sizeof(*res));
	DriftLock(MO_LOCK_SNAPSHOT);
	res->previous_id = LatestSnapshot(NULL);
	filter = MoDriftFilter();
	if (before && before->reference && before->reference_id == res->previous_id)
		res->stored = before->reference;	/* read before the migration, nothing written since */
	else
		res->stored = LoadStored(0, NULL);
	res->captured = MoCatalogCaptureExt(MO_CAPTURE_DETAIL, NIL, filter, res->stored);
	res->fingerprint = MoCatalogFingerprint(res->captured);
	(void) MoCatalogCompare(res->stored, res->captured, PairCollect, &res->pairs);
	if (skip_unchanged && res->pairs.n == 0 && res->previous_id != 0)
		return;

	MoSpiExec("SELECT pg_catalog.nextval('migrate_ops.snapshots_id_seq')", NULL);
	res->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	CloseVersions(res->id, &res->pairs);
	InsertVersions(res->id, &res->pairs);
	RefreshSignatures(res->stored, res->captured);

	MoArgInt8(&args, res->id);
	MoArgText(&args, label);
	MoArgText(&args, source);
	MoArgText(&args, migration);
	MoArgText(&args, reason);
	MoArgText(&args, res->fingerprint);
	MoArgInt4(&args, res->captured->count);
	MoArgInt4(&args, res->pairs.added);
	MoArgInt4(&args, res->pairs.removed);
	MoArgInt4(&args, res->pairs.changed);
	MoArgBool(&args, mo_track_privileges);
	MoArgBool(&args, mo_track_comments);
	MoArgText(&args, role);
	MoSpiExec("INSERT INTO migrate_ops.snapshots"
			  " (id, label, source, migration, reason, fingerprint, object_count, added, removed,"
			  "  changed, track_privileges, track_comments, taken_by)"
			  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)", &args);
}

/* ---------------------------------------------------------------- computing drift */

/* The drift of the live catalog against a snapshot. */
typedef struct Drift
{
	int64		snapshot_id;
	char	   *expected_fingerprint;
	char	   *label;
	char	   *taken_at;
	MoCatalogState *expected;
	MoCatalogState *actual;
	Pairs		pairs;
} Drift;

/*
 * Finds the baseline: the given snapshot, or the latest one.  Returns false
 * when there is no snapshot at all (and none was asked for).  As the owner.
 */
static bool
ResolveSnapshot(Drift *d, bool given, int64 id)
{
	MoArgs		args = {0};
	bool		isnull;

	MoArgInt8(&args, given ? id : 0);
	MoArgBool(&args, given);
	MoSpiExec("SELECT id, fingerprint, label,"
			  "       pg_catalog.to_char(taken_at, 'YYYY-MM-DD HH24:MI:SS TZ')"
			  "  FROM migrate_ops.snapshots"
			  " WHERE NOT $2 OR id OPERATOR(pg_catalog.=) $1"
			  " ORDER BY id DESC LIMIT 1", &args);
	if (SPI_processed == 0)
	{
		if (given)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("snapshot %lld does not exist", (long long) id),
					 errhint("SELECT id, label, taken_at FROM migrate_ops.snapshots lists the snapshots.")));
		return false;
	}
	d->snapshot_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	d->expected_fingerprint = MoSpiGetText(0, 2);
	d->label = MoSpiGetText(0, 3);
	d->taken_at = MoSpiGetText(0, 4);
	return true;
}

/* The error for a drift question asked before any snapshot exists. */
static void
NoBaselineError(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("there is no drift baseline yet"),
			 errdetail("No snapshot has been taken in this database."),
			 errhint("Take one with migrate_ops.snapshot(), migrate_ops.baseline() or "
					 "migrate_ops.accept_drift(), or apply a migration.")));
}

/*
 * Compares the live catalog with the resolved snapshot: both sides filtered
 * alike, expected definitions loaded for every difference.  As the owner.
 */
static void
ComputeDrift(Drift *d, int capture_flags)
{
	MoCatalogFilter *filter = MoDriftFilter();
	TimestampTz start = GetCurrentTimestamp();

	d->expected = LoadStored(d->snapshot_id, filter);
	elog(DEBUG1, "migrate_ops: loaded %d objects of snapshot %lld in %ld ms", d->expected->count,
		 (long long) d->snapshot_id, TimestampDifferenceMilliseconds(start, GetCurrentTimestamp()));
	d->actual = MoCatalogCaptureExt(capture_flags, NIL, filter, d->expected);
	(void) MoCatalogCompare(d->expected, d->actual, PairCollect, &d->pairs);
	LoadPairDefinitions(d->expected, d->snapshot_id, &d->pairs);
	elog(DEBUG1, "migrate_ops: drift against snapshot %lld: %d differences in %ld ms; "
		 "states %zu bytes, backend memory %zu bytes of which catalog caches %zu bytes",
		 (long long) d->snapshot_id, d->pairs.n, TimestampDifferenceMilliseconds(start, GetCurrentTimestamp()),
		 MemoryContextMemAllocated(d->expected->cxt, true) + MemoryContextMemAllocated(d->actual->cxt, true),
		 MemoryContextMemAllocated(TopMemoryContext, true),
		 CacheMemoryContext ? MemoryContextMemAllocated(CacheMemoryContext, true) : 0);
}

/* Reads drift()'s/drift_sql()'s snapshot argument and computes the drift (SPI connected). */
static void
DriftFromArgs(FunctionCallInfo fcinfo, Drift *d, int capture_flags)
{
	MoOwnerState owner;
	bool		given = !PG_ARGISNULL(0);

	memset(d, 0, sizeof(*d));
	MoBecomeOwner(&owner);
	if (!ResolveSnapshot(d, given, given ? PG_GETARG_INT64(0) : 0))
		NoBaselineError();
	ComputeDrift(d, capture_flags);
	MoRestoreUser(&owner);
}

/*
 * Appends the summary of a set of differences to a JSON object being built
 * (no braces): counts by change and by kind, and the first objects.
 */
static void
AppendSummaryJson(StringInfo buf, Pairs *pairs)
{
	int			by_kind[MO_NUM_KINDS] = {0};
	bool		first = true;

	appendStringInfo(buf, "\"count\": %d, \"added\": %d, \"removed\": %d, \"changed\": %d, \"by_kind\": {",
					 pairs->n, pairs->added, pairs->removed, pairs->changed);
	for (int i = 0; i < pairs->n; i++)
		by_kind[PairObject(&pairs->items[i])->kind]++;
	for (int k = 0; k < MO_NUM_KINDS; k++)
	{
		if (by_kind[k] == 0)
			continue;
		appendStringInfo(buf, "%s%s: %d", first ? "" : ", ", MoJsonQuote(MoKindNames[k]), by_kind[k]);
		first = false;
	}
	appendStringInfoString(buf, "}, \"objects\": [");
	for (int i = 0; i < pairs->n && i < SUMMARY_OBJECTS; i++)
	{
		const MoCatalogObject *o = PairObject(&pairs->items[i]);

		appendStringInfo(buf, "%s{\"kind\": %s, \"identity\": %s, \"change\": \"%s\"}",
						 i ? ", " : "", MoJsonQuote(MoKindNames[o->kind]),
						 MoJsonQuote(o->identity), PairChange(&pairs->items[i]));
	}
	appendStringInfo(buf, "], \"truncated\": %s", pairs->n > SUMMARY_OBJECTS ? "true" : "false");
}

/* ---------------------------------------------------------------- drift() */

/* One row of drift(). */
typedef struct DriftRow
{
	const char *kind;
	const char *identity;
	const char *parent;
	const char *change;
	const char *expected;
	const char *actual;
	/* attribution, from the DDL log */
	char	   *changed_by;
	TimestampTz changed_at;
	bool		changed_at_null;
	char	   *application_name;
	char	   *migration;
} DriftRow;

/*
 * The object a comment or privilege row is about: its identity is
 * "<kind> <object identity>" (e.g. "column public.orders.note").
 */
static const char *
DriftTargetIdentity(const char *identity)
{
	size_t		best = 0;

	for (int k = 0; k < MO_NUM_KINDS; k++)
	{
		size_t		len = strlen(MoKindNames[k]);

		if (len > best && strncmp(identity, MoKindNames[k], len) == 0 && identity[len] == ' ')
			best = len;
	}
	return best ? identity + best + 1 : identity;
}

/*
 * ATTRIBUTION HOOK: the one place where a drift row learns who changed the
 * object, when, from which application and under which migration: the
 * latest row of the DDL log (DESIGN §3) for its identity, falling back to
 * row->parent (the table of a column, constraint, index, trigger or
 * policy).  A comment is attributed to the last COMMENT on its object, a
 * privilege to the last GRANT or REVOKE (else to the object's last change,
 * such as an owner change).  No row in the log: the four columns stay NULL.
 */
static void
DriftAttribute(DriftRow *row)
{
	static const char *const comment_tags[] = {"COMMENT", NULL};
	static const char *const privilege_tags[] = {"GRANT", "REVOKE", NULL};
	MoAttribution a;
	bool		found;

	row->changed_by = NULL;
	row->changed_at = 0;
	row->changed_at_null = true;
	row->application_name = NULL;
	row->migration = NULL;

	if (strcmp(row->kind, MoKindNames[MO_KIND_COMMENT]) == 0)
		found = MoDdlAttributionFor(DriftTargetIdentity(row->identity), row->parent,
									comment_tags, &a);
	else if (strcmp(row->kind, MoKindNames[MO_KIND_PRIVILEGE]) == 0)
		found = MoDdlAttributionFor(DriftTargetIdentity(row->identity), row->parent,
									privilege_tags, &a) ||
			MoDdlAttribution(DriftTargetIdentity(row->identity), NULL, &a);
	else
		found = MoDdlAttribution(row->identity, row->parent, &a);
	if (!found)
		return;
	row->changed_by = a.role;
	row->changed_at = a.logged_at;
	row->changed_at_null = false;
	row->application_name = a.application_name;
	row->migration = a.migration;
}

/*
 * migrate_ops.drift(snapshot bigint) → setof (kind, identity, change,
 * expected, actual, changed_by, changed_at, application_name, migration)
 * Differences between the live catalog and a snapshot (default: the latest).
 */
Datum
migrate_ops_drift(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Drift		d;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	DriftFromArgs(fcinfo, &d, MO_CAPTURE_DIFF);

	for (int i = 0; i < d.pairs.n; i++)
	{
		Pair	   *p = &d.pairs.items[i];
		const MoCatalogObject *o = PairObject(p);
		DriftRow	row = {0};
		Datum		values[9];
		bool		nulls[9] = {0};

		row.kind = MoKindNames[o->kind];
		row.identity = o->identity;
		row.parent = (p->a && p->a->x) ? p->a->x->parent : (p->e && p->e->x ? p->e->x->parent : NULL);
		row.change = PairChange(p);
		row.expected = p->e && p->e->x ? p->e->x->definition : NULL;
		row.actual = p->a && p->a->x ? p->a->x->definition : NULL;
		DriftAttribute(&row);

		values[0] = CStringGetTextDatum(row.kind);
		values[1] = CStringGetTextDatum(row.identity);
		values[2] = CStringGetTextDatum(row.change);
		nulls[3] = row.expected == NULL;
		values[3] = row.expected ? CStringGetTextDatum(row.expected) : (Datum) 0;
		nulls[4] = row.actual == NULL;
		values[4] = row.actual ? CStringGetTextDatum(row.actual) : (Datum) 0;
		nulls[5] = row.changed_by == NULL;
		values[5] = row.changed_by ? CStringGetTextDatum(row.changed_by) : (Datum) 0;
		nulls[6] = row.changed_at_null;
		values[6] = TimestampTzGetDatum(row.changed_at);
		nulls[7] = row.application_name == NULL;
		values[7] = row.application_name ? CStringGetTextDatum(row.application_name) : (Datum) 0;
		nulls[8] = row.migration == NULL;
		values[8] = row.migration ? CStringGetTextDatum(row.migration) : (Datum) 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

/* ---------------------------------------------------------------- drift_sql() */

/* Order of drops (phase 1) by kind: dependents first. */
static const int drop_rank[MO_NUM_KINDS] = {
	[MO_KIND_COMMENT] = 1,[MO_KIND_PRIVILEGE] = 1,[MO_KIND_EVENT_TRIGGER] = 2,
	[MO_KIND_POLICY] = 3,[MO_KIND_TRIGGER] = 4,[MO_KIND_VIEW] = 5,[MO_KIND_MATVIEW] = 5,
	[MO_KIND_CONSTRAINT] = 6,[MO_KIND_INDEX] = 7,[MO_KIND_COLUMN] = 8,[MO_KIND_TABLE] = 9,
	[MO_KIND_FOREIGN_TABLE] = 9,[MO_KIND_SEQUENCE] = 10,[MO_KIND_AGGREGATE] = 11,
	[MO_KIND_FUNCTION] = 12,[MO_KIND_PROCEDURE] = 12,[MO_KIND_COMPOSITE_TYPE] = 13,
	[MO_KIND_TYPE] = 13,[MO_KIND_DOMAIN] = 14,[MO_KIND_ENUM] = 15,[MO_KIND_EXTENSION] = 16,
	[MO_KIND_SCHEMA] = 17,
};

/* Order of creations and repairs (phase 2) by kind: dependencies first. */
static const int create_rank[MO_NUM_KINDS] = {
	[MO_KIND_SCHEMA] = 1,[MO_KIND_EXTENSION] = 2,[MO_KIND_ENUM] = 3,[MO_KIND_TYPE] = 4,
	[MO_KIND_DOMAIN] = 5,[MO_KIND_COMPOSITE_TYPE] = 6,[MO_KIND_FUNCTION] = 7,
	[MO_KIND_PROCEDURE] = 7,[MO_KIND_AGGREGATE] = 8,[MO_KIND_SEQUENCE] = 9,[MO_KIND_TABLE] = 10,
	[MO_KIND_FOREIGN_TABLE] = 10,[MO_KIND_COLUMN] = 11,[MO_KIND_VIEW] = 12,[MO_KIND_MATVIEW] = 12,
	[MO_KIND_CONSTRAINT] = 13,[MO_KIND_INDEX] = 14,[MO_KIND_TRIGGER] = 15,[MO_KIND_POLICY] = 16,
	[MO_KIND_EVENT_TRIGGER] = 17,[MO_KIND_COMMENT] = 18,[MO_KIND_PRIVILEGE] = 19,
};

/* One block of the generated script. */
typedef struct Stmt
{
	int			phase;			/* 1 drops, 2 creations and repairs */
	int			rank;
	int64		ord;
	int			seq;
	char	   *text;			/* comment line(s) and statement(s) */
} Stmt;

/* The script being generated. */
typedef struct Script
{
	List	   *stmts;
	int			seq;
	Drift	   *drift;
	List	   *lost_columns;	/* removed columns (MoCatalogObject *): cannot come back */
} Script;

/*
 * qsort comparator for Stmt pointers: phase, rank, then what belongs to a
 * parent table before what is inherited from it (dropping or creating the
 * parent's object does the children's), then creation order (reversed for
 * drops), then sequence.
 */
static int
StmtCompare(const void *a, const void *b)
{
	const Stmt *sa = *(const Stmt *const *) a;
	const Stmt *sb = *(const Stmt *const *) b;
	bool		ia = (sa->ord & MO_ORD_INHERITED) != 0;
	bool		ib = (sb->ord & MO_ORD_INHERITED) != 0;
	int64		oa = sa->ord & ~MO_ORD_INHERITED;
	int64		ob = sb->ord & ~MO_ORD_INHERITED;

	if (sa->phase != sb->phase)
		return sa->phase < sb->phase ? -1 : 1;
	if (sa->rank != sb->rank)
		return sa->rank < sb->rank ? -1 : 1;
	if (ia != ib)
		return ia ? 1 : -1;
	if (oa != ob)
		return (oa < ob) == (sa->phase == 2) ? -1 : 1;
	return sa->seq < sb->seq ? -1 : (sa->seq > sb->seq ? 1 : 0);
}

/* Adds a block: a "-- kind identity: note" line, then SQL (may be NULL) ending in ';'. */
static void
ScriptAdd(Script *s, int phase, int kind, int64 ord, const char *identity, const char *note,
		  const char *sql)
{
	Stmt	   *st = palloc0(sizeof(Stmt));
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "-- %s %s: %s\n", MoKindNames[kind], OneLine(identity), note);
	if (sql)
		appendStringInfo(&buf, "%s;\n", sql);
	st->phase = phase;
	st->rank = phase == 1 ? drop_rank[kind] : create_rank[kind];
	st->ord = ord;
	st->seq = s->seq++;
	st->text = buf.data;
	s->stmts = lappend(s->stmts, st);
}

/* Adds a "-- cannot restore" block showing what the object was. */
static void
ScriptCannot(Script *s, int kind, const char *identity, const char *why, const char *definition)
{
	Stmt	   *st = palloc0(sizeof(Stmt));
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "-- %s %s: cannot restore: %s\n", MoKindNames[kind], OneLine(identity), OneLine(why));
	if (definition)
		AppendCommentLines(&buf, "it was: ", definition);
	st->phase = 2;
	st->rank = create_rank[kind];
	st->seq = s->seq++;
	st->text = buf.data;
	s->stmts = lappend(s->stmts, st);
}

/* Parses a detail (JSON text) into jsonb, or NULL. */
static Jsonb *
DetailParse(const char *json)
{
	if (json == NULL)
		return NULL;
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

/* A detail's string (or boolean, as "true"/"false") field, or NULL. */
static char *
DetailStr(Jsonb *jb, const char *key)
{
	JsonbValue	v;

	if (jb == NULL || getKeyJsonValueFromContainer(&jb->root, key, strlen(key), &v) == NULL)
		return NULL;
	if (v.type == jbvString)
		return pnstrdup(v.val.string.val, v.val.string.len);
	if (v.type == jbvBool)
		return pstrdup(v.val.boolean ? "true" : "false");
	return NULL;
}

/* A detail's boolean field (false when absent). */
static bool
DetailBool(Jsonb *jb, const char *key)
{
	char	   *s = DetailStr(jb, key);

	return s && strcmp(s, "true") == 0;
}

/* A detail's array of strings, as a List of char * (NIL when absent). */
static List *
DetailArray(Jsonb *jb, const char *key)
{
	JsonbValue	v;
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	List	   *out = NIL;

	if (jb == NULL || getKeyJsonValueFromContainer(&jb->root, key, strlen(key), &v) == NULL ||
		v.type != jbvBinary)
		return NIL;
	it = JsonbIteratorInit(v.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
		if (tok == WJB_ELEM && elem.type == jbvString)
			out = lappend(out, pnstrdup(elem.val.string.val, elem.val.string.len));
	return out;
}

/* True when two optional strings differ. */
static bool
Differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/* True when list holds the string s. */
static bool
ListHasString(List *list, const char *s)
{
	ListCell   *lc;

	foreach(lc, list)
		if (strcmp((char *) lfirst(lc), s) == 0)
		return true;
	return false;
}

/* Appends one statement (no trailing ';') to a repair being assembled. */
static void
RepairAdd(StringInfo buf, const char *fmt,...) pg_attribute_printf(2, 3);

/* See above. */
static void
RepairAdd(StringInfo buf, const char *fmt,...)
{
	va_list		ap;

	if (buf->len > 0)
		appendStringInfoString(buf, ";\n");
	for (;;)
	{
		int			needed;

		va_start(ap, fmt);
		needed = appendStringInfoVA(buf, fmt, ap);
		va_end(ap);
		if (needed == 0)
			break;
		enlargeStringInfo(buf, needed);
	}
}

/* Repairs a changed table: the properties ALTER TABLE can set back; the rest is a comment. */
static void
RepairTable(Script *s, const MoCatalogObject *e, const MoCatalogObject *a)
{
	Jsonb	   *je = DetailParse(e->x->detail);
	Jsonb	   *ja = DetailParse(a->x->detail);
	const char *id = e->identity;
	StringInfoData sql;
	StringInfoData cannot;

	initStringInfo(&sql);
	initStringInfo(&cannot);
	if (je == NULL || ja == NULL)
	{
		ScriptCannot(s, e->kind, id, "its stored definition has no details", e->x->definition);
		return;
	}
	if (Differs(DetailStr(je, "persistence"), DetailStr(ja, "persistence")))
		RepairAdd(&sql, "ALTER TABLE %s SET %s", id,
				  strcmp(DetailStr(je, "persistence"), "u") == 0 ? "UNLOGGED" : "LOGGED");
	{
		List	   *eo = DetailArray(je, "reloptions");
		List	   *ao = DetailArray(ja, "reloptions");
		StringInfoData keys;
		ListCell   *lc;
		bool		same = list_length(eo) == list_length(ao);

		for (int i = 0; same && i < list_length(eo); i++)
			same = strcmp(list_nth(eo, i), list_nth(ao, i)) == 0;
		if (!same)
		{
			initStringInfo(&keys);
			foreach(lc, ao)
			{
				char	   *opt = pstrdup(lfirst(lc));
				char	   *eq = strchr(opt, '=');

				if (eq)
					*eq = '\0';
				appendStringInfo(&keys, "%s%s", keys.len ? ", " : "", opt);
			}
			if (keys.len)
				RepairAdd(&sql, "ALTER TABLE %s RESET (%s)", id, keys.data);
			if (eo != NIL)
			{
				resetStringInfo(&keys);
				foreach(lc, eo)
					appendStringInfo(&keys, "%s%s", keys.len ? ", " : "", (char *) lfirst(lc));
				RepairAdd(&sql, "ALTER TABLE %s SET (%s)", id, keys.data);
			}
		}
	}
	if (DetailBool(je, "rls") != DetailBool(ja, "rls"))
		RepairAdd(&sql, "ALTER TABLE %s %s ROW LEVEL SECURITY", id,
				  DetailBool(je, "rls") ? "ENABLE" : "DISABLE");
	if (DetailBool(je, "force_rls") != DetailBool(ja, "force_rls"))
		RepairAdd(&sql, "ALTER TABLE %s %s ROW LEVEL SECURITY", id,
				  DetailBool(je, "force_rls") ? "FORCE" : "NO FORCE");
	if (Differs(DetailStr(je, "replica_identity"), DetailStr(ja, "replica_identity")) ||
		Differs(DetailStr(je, "replica_index"), DetailStr(ja, "replica_index")))
	{
		char	   *ri = DetailStr(je, "replica_identity");

		if (ri && ri[0] == 'i')
			RepairAdd(&sql, "ALTER TABLE %s REPLICA IDENTITY USING INDEX %s", id,
					  DetailStr(je, "replica_index"));
		else
			RepairAdd(&sql, "ALTER TABLE %s REPLICA IDENTITY %s", id,
					  ri && ri[0] == 'f' ? "FULL" : (ri && ri[0] == 'n' ? "NOTHING" : "DEFAULT"));
	}
	if (Differs(DetailStr(je, "partition_of"), DetailStr(ja, "partition_of")) ||
		Differs(DetailStr(je, "bound"), DetailStr(ja, "bound")))
	{
		if (DetailStr(ja, "partition_of"))
			RepairAdd(&sql, "ALTER TABLE %s DETACH PARTITION %s", DetailStr(ja, "partition_of"), id);
		if (DetailStr(je, "partition_of"))
			RepairAdd(&sql, "ALTER TABLE %s ATTACH PARTITION %s %s", DetailStr(je, "partition_of"), id,
					  DetailStr(je, "bound"));
	}
	if (Differs(DetailStr(je, "tablespace"), DetailStr(ja, "tablespace")))
		RepairAdd(&sql, "ALTER TABLE %s SET TABLESPACE %s", id,
				  DetailStr(je, "tablespace") ? DetailStr(je, "tablespace") : "pg_default");
	if (Differs(DetailStr(je, "inherits"), DetailStr(ja, "inherits")))
		appendStringInfoString(&cannot, "its parents (INHERITS) changed; ");
	if (Differs(DetailStr(je, "partition_by"), DetailStr(ja, "partition_by")))
		appendStringInfoString(&cannot, "its partitioning changed; ");
	if (Differs(DetailStr(je, "of"), DetailStr(ja, "of")))
		appendStringInfoString(&cannot, "its type (OF) changed; ");
	if (Differs(DetailStr(je, "access_method"), DetailStr(ja, "access_method")))
		appendStringInfoString(&cannot, "its access method changed; ");

	if (sql.len > 0)
		ScriptAdd(s, 2, e->kind, 0, id, "changed", sql.data);
	if (cannot.len > 0 || sql.len == 0)
		ScriptCannot(s, e->kind, id, cannot.len ? cannot.data : "the change is not one ALTER TABLE can undo",
					 e->x->definition);
}

/* Repairs a changed column: default, NOT NULL, identity and (reviewed) type. */
static void
RepairColumn(Script *s, const MoCatalogObject *e, const MoCatalogObject *a)
{
	Jsonb	   *je = DetailParse(e->x->detail);
	Jsonb	   *ja = DetailParse(a->x->detail);
	const char *table = e->x->parent;
	const char *col;
	char	   *alter;
	StringInfoData sql;
	char	   *eid,
			   *aid,
			   *etype,
			   *ecoll,
			   *edef,
			   *adef;
	bool		type_changed;

	if (je == NULL || ja == NULL || table == NULL || strlen(e->identity) <= strlen(table) + 1)
	{
		ScriptCannot(s, e->kind, e->identity, "its stored definition has no details", e->x->definition);
		return;
	}
	if (Differs(DetailStr(je, "generated"), DetailStr(ja, "generated")))
	{
		ScriptCannot(s, e->kind, e->identity,
					 "its generation expression changed; drop and re-add the column", e->x->definition);
		return;
	}
	col = e->identity + strlen(table) + 1;
	alter = psprintf("ALTER TABLE %s ALTER COLUMN %s", table, col);
	initStringInfo(&sql);
	eid = DetailStr(je, "identity");
	aid = DetailStr(ja, "identity");
	etype = DetailStr(je, "type");
	ecoll = DetailStr(je, "collation");
	edef = DetailStr(je, "default");
	adef = DetailStr(ja, "default");
	type_changed = Differs(etype, DetailStr(ja, "type")) || Differs(ecoll, DetailStr(ja, "collation"));

	if (aid && aid[0] && (eid == NULL || eid[0] == '\0'))
		RepairAdd(&sql, "%s DROP IDENTITY", alter);
	if (adef && (edef == NULL || type_changed))
		RepairAdd(&sql, "%s DROP DEFAULT", alter);
	if (type_changed)
	{
		if (sql.len > 0)
			appendStringInfoString(&sql, ";\n");
		appendStringInfoString(&sql, "-- review: changing the type back rewrites the table and fails or "
							   "loses data when a value does not fit\n");
		appendStringInfo(&sql, "%s TYPE %s COLLATE %s USING %s::%s", alter, etype,
						 ecoll ? ecoll : "pg_catalog.\"default\"", col, etype);
	}
	if (DetailBool(je, "not_null") != DetailBool(ja, "not_null"))
		RepairAdd(&sql, "%s %s NOT NULL", alter, DetailBool(je, "not_null") ? "SET" : "DROP");
	if (edef && (Differs(edef, adef) || type_changed))
		RepairAdd(&sql, "%s SET DEFAULT %s", alter, edef);
	if (eid && eid[0] && Differs(eid, aid))
	{
		const char *how = eid[0] == 'a' ? "ALWAYS" : "BY DEFAULT";

		if (aid && aid[0])
			RepairAdd(&sql, "%s SET GENERATED %s", alter, how);
		else
			RepairAdd(&sql, "%s ADD GENERATED %s AS IDENTITY", alter, how);
	}
	if (sql.len == 0)
		ScriptCannot(s, e->kind, e->identity, "the change is not one ALTER COLUMN can undo", e->x->definition);
	else
		ScriptAdd(s, 2, e->kind, 0, e->identity, "changed", sql.data);
}

/* Repairs a changed sequence with ALTER SEQUENCE. */
static void
RepairSequence(Script *s, const MoCatalogObject *e, const MoCatalogObject *a)
{
	Jsonb	   *je = DetailParse(e->x->detail);
	Jsonb	   *ja = DetailParse(a->x->detail);
	StringInfoData sql;

	initStringInfo(&sql);
	if (je == NULL || ja == NULL)
	{
		ScriptCannot(s, e->kind, e->identity, "its stored definition has no details", e->x->definition);
		return;
	}
	if (Differs(DetailStr(je, "options"), DetailStr(ja, "options")))
		RepairAdd(&sql, "ALTER SEQUENCE %s %s", e->identity, DetailStr(je, "options"));
	if (strncmp(e->x->definition, "CREATE UNLOGGED", 15) != strncmp(a->x->definition, "CREATE UNLOGGED", 15))
		RepairAdd(&sql, "ALTER SEQUENCE %s SET %s", e->identity,
				  strncmp(e->x->definition, "CREATE UNLOGGED", 15) == 0 ? "UNLOGGED" : "LOGGED");
	if (Differs(DetailStr(je, "owned_by"), DetailStr(ja, "owned_by")))
		RepairAdd(&sql, "ALTER SEQUENCE %s OWNED BY %s", e->identity,
				  DetailStr(je, "owned_by") ? DetailStr(je, "owned_by") : "NONE");
	if (sql.len == 0)
		ScriptCannot(s, e->kind, e->identity, "the change is not one ALTER SEQUENCE can undo", e->x->definition);
	else
		ScriptAdd(s, 2, e->kind, 0, e->identity, "changed", sql.data);
}

/* Repairs a changed enum: adds back missing labels in place; added labels cannot be removed. */
static void
RepairEnum(Script *s, const MoCatalogObject *e, const MoCatalogObject *a)
{
	List	   *el = DetailArray(DetailParse(e->x->detail), "labels");
	List	   *current = DetailArray(DetailParse(a->x->detail), "labels");
	List	   *actual = list_copy(current);
	StringInfoData sql;
	StringInfoData cannot;
	ListCell   *lc;
	List	   *common_e = NIL;
	List	   *common_a = NIL;

	initStringInfo(&sql);
	initStringInfo(&cannot);
	foreach(lc, actual)
		if (!ListHasString(el, lfirst(lc)))
		appendStringInfo(&cannot, "label %s was added and PostgreSQL cannot remove an enum label; ",
						 quote_literal_cstr(lfirst(lc)));
	for (int i = 0; i < list_length(el); i++)
	{
		char	   *label = list_nth(el, i);
		char	   *before = NULL;
		char	   *after = NULL;

		if (ListHasString(current, label))
			continue;
		for (int j = i + 1; j < list_length(el) && !before; j++)
			if (ListHasString(current, list_nth(el, j)))
				before = list_nth(el, j);
		for (int j = i - 1; j >= 0 && !before && !after; j--)
			if (ListHasString(current, list_nth(el, j)))
				after = list_nth(el, j);
		if (before)
			RepairAdd(&sql, "ALTER TYPE %s ADD VALUE %s BEFORE %s", e->identity,
					  quote_literal_cstr(label), quote_literal_cstr(before));
		else if (after)
			RepairAdd(&sql, "ALTER TYPE %s ADD VALUE %s AFTER %s", e->identity,
					  quote_literal_cstr(label), quote_literal_cstr(after));
		else
			RepairAdd(&sql, "ALTER TYPE %s ADD VALUE %s", e->identity, quote_literal_cstr(label));
		current = lappend(current, label);
	}
	/* Labels both sides have must be in the same order. */
	foreach(lc, el)
		if (ListHasString(actual, lfirst(lc)))
		common_e = lappend(common_e, lfirst(lc));
	foreach(lc, actual)
		if (ListHasString(el, lfirst(lc)))
		common_a = lappend(common_a, lfirst(lc));
	for (int i = 0; i < list_length(common_e); i++)
		if (strcmp(list_nth(common_e, i), list_nth(common_a, i)) != 0)
		{
			appendStringInfoString(&cannot, "the order of its labels changed; ");
			break;
		}
	if (sql.len > 0)
		ScriptAdd(s, 2, e->kind, 0, e->identity, "changed", sql.data);
	if (cannot.len > 0)
		ScriptCannot(s, e->kind, e->identity, cannot.data, e->x->definition);
}

/* Repairs a changed domain: default and NOT NULL; a new base type is a comment. */
static void
RepairDomain(Script *s, const MoCatalogObject *e, const MoCatalogObject *a)
{
	Jsonb	   *je = DetailParse(e->x->detail);
	Jsonb	   *ja = DetailParse(a->x->detail);
	StringInfoData sql;

	initStringInfo(&sql);
	if (je == NULL || ja == NULL ||
		Differs(DetailStr(je, "type"), DetailStr(ja, "type")) ||
		Differs(DetailStr(je, "collation"), DetailStr(ja, "collation")))
	{
		ScriptCannot(s, e->kind, e->identity, "its base type or collation changed", e->x->definition);
		return;
	}
	if (Differs(DetailStr(je, "default"), DetailStr(ja, "default")))
	{
		if (DetailStr(je, "default"))
			RepairAdd(&sql, "ALTER DOMAIN %s SET DEFAULT %s", e->identity, DetailStr(je, "default"));
		else
			RepairAdd(&sql, "ALTER DOMAIN %s DROP DEFAULT", e->identity);
	}
	if (DetailBool(je, "not_null") != DetailBool(ja, "not_null"))
		RepairAdd(&sql, "ALTER DOMAIN %s %s NOT NULL", e->identity,
				  DetailBool(je, "not_null") ? "SET" : "DROP");
	ScriptAdd(s, 2, e->kind, 0, e->identity, "changed", sql.len ? sql.data : NULL);
}

/* Repairs a changed extension: its version and schema. */
static void
RepairExtension(Script *s, const MoCatalogObject *e, const MoCatalogObject *a)
{
	Jsonb	   *je = DetailParse(e->x->detail);
	Jsonb	   *ja = DetailParse(a->x->detail);
	StringInfoData sql;

	initStringInfo(&sql);
	if (Differs(DetailStr(je, "schema"), DetailStr(ja, "schema")) && DetailStr(je, "schema"))
		RepairAdd(&sql, "ALTER EXTENSION %s SET SCHEMA %s", e->identity, DetailStr(je, "schema"));
	if (Differs(DetailStr(je, "version"), DetailStr(ja, "version")) && DetailStr(je, "version"))
		RepairAdd(&sql, "ALTER EXTENSION %s UPDATE TO %s", e->identity,
				  quote_literal_cstr(DetailStr(je, "version")));
	if (sql.len == 0)
		ScriptCannot(s, e->kind, e->identity, "the change is not one ALTER EXTENSION can undo", e->x->definition);
	else
		ScriptAdd(s, 2, e->kind, 0, e->identity, "changed", sql.data);
}

/*
 * How GRANT names the object of a privilege identity ("table public.t" →
 * "TABLE public.t"); NULL for column privileges, which need no reset.
 */
static char *
PrivilegeTarget(const char *identity)
{
	int			best = -1;
	size_t		bestlen = 0;

	for (int k = 0; k < MO_NUM_KINDS; k++)
	{
		size_t		len = strlen(MoKindNames[k]);

		if (len > bestlen && strncmp(identity, MoKindNames[k], len) == 0 && identity[len] == ' ')
		{
			best = k;
			bestlen = len;
		}
	}
	if (best < 0 || best == MO_KIND_COLUMN)
		return NULL;
	switch (best)
	{
		case MO_KIND_SEQUENCE:
			return psprintf("SEQUENCE %s", identity + bestlen + 1);
		case MO_KIND_FUNCTION:
		case MO_KIND_AGGREGATE:
			return psprintf("FUNCTION %s", identity + bestlen + 1);
		case MO_KIND_PROCEDURE:
			return psprintf("PROCEDURE %s", identity + bestlen + 1);
		case MO_KIND_ENUM:
		case MO_KIND_COMPOSITE_TYPE:
		case MO_KIND_TYPE:
			return psprintf("TYPE %s", identity + bestlen + 1);
		case MO_KIND_DOMAIN:
			return psprintf("DOMAIN %s", identity + bestlen + 1);
		case MO_KIND_SCHEMA:
			return psprintf("SCHEMA %s", identity + bestlen + 1);
		default:
			return psprintf("TABLE %s", identity + bestlen + 1);
	}
}

/*
 * The SQL restoring stored privileges: revoke what the object has now
 * (actual_drop, or everything a freshly created object starts with), then
 * the stored owner and grants.
 */
static char *
PrivilegeRestore(const char *identity, const char *definition, const char *actual_drop)
{
	char	   *target = PrivilegeTarget(identity);

	if (actual_drop)
		return psprintf("%s;\n%s", actual_drop, definition);
	if (target)
		return psprintf("REVOKE ALL ON %s FROM PUBLIC, CURRENT_USER CASCADE;\n%s", target, definition);
	return pstrdup(definition);
}

/*
 * The SQL creating a stored object.  An index or constraint inherited from
 * a parent table is usually created again by its parent's (created before
 * it), so it is created only when still missing.
 */
static char *
CreateSql(const MoCatalogObject *e)
{
	const char *def = e->x->definition;

	if (!(e->x->ord & MO_ORD_INHERITED))
		return (char *) def;
	if (e->kind == MO_KIND_INDEX)
	{
		const char *prefix = strncmp(def, "CREATE UNIQUE INDEX ", 20) == 0 ? "CREATE UNIQUE INDEX " :
		(strncmp(def, "CREATE INDEX ", 13) == 0 ? "CREATE INDEX " : NULL);

		if (prefix)
			return psprintf("%sIF NOT EXISTS %s", prefix, def + strlen(prefix));
	}
	else if (e->kind == MO_KIND_CONSTRAINT && e->x->parent &&
			 strlen(e->identity) > strlen(e->x->parent) + 4)
	{
		char	   *name = pnstrdup(e->identity, strlen(e->identity) - strlen(e->x->parent) - 4);
		char	   *body = psprintf("BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_constraint"
									" WHERE conrelid = %s::pg_catalog.regclass"
									" AND pg_catalog.quote_ident(conname) = %s) THEN EXECUTE %s; END IF; END",
									quote_literal_cstr(e->x->parent), quote_literal_cstr(name),
									quote_literal_cstr(def));

		return psprintf("-- inherited from a parent table: only when its own did not bring it back\nDO %s",
						quote_literal_cstr(body));
	}
	return (char *) def;
}

/* True when kind is dropped and created again to undo a change. */
static bool
RecreatedKind(int kind)
{
	switch (kind)
	{
		case MO_KIND_CONSTRAINT:
		case MO_KIND_INDEX:
		case MO_KIND_TRIGGER:
		case MO_KIND_POLICY:
		case MO_KIND_EVENT_TRIGGER:
		case MO_KIND_VIEW:
		case MO_KIND_MATVIEW:
		case MO_KIND_AGGREGATE:
		case MO_KIND_COMPOSITE_TYPE:
		case MO_KIND_TYPE:
			return true;
		default:
			return false;
	}
}

/* True when the object's top-level parent was added since the snapshot (so dropping it covers the object). */
static bool
ParentAdded(Drift *d, const MoCatalogObject *a)
{
	const char *parent = a->x ? a->x->parent : NULL;

	if (parent == NULL ||
		(strcmp(parent, a->identity) == 0 && a->kind != MO_KIND_COMMENT && a->kind != MO_KIND_PRIVILEGE))
		return false;
	return MoCatalogFind(d->expected, a->parent_kind, parent) == NULL &&
		MoCatalogFind(d->actual, a->parent_kind, parent) != NULL;
}

/* True when the object's top-level parent is a table that was dropped (nothing to restore into). */
static bool
ParentGone(Drift *d, const MoCatalogObject *e)
{
	const char *parent = e->x ? e->x->parent : NULL;

	if (parent == NULL || (e->parent_kind != MO_KIND_TABLE && e->parent_kind != MO_KIND_FOREIGN_TABLE))
		return false;
	if (strcmp(parent, e->identity) == 0 && e->kind != MO_KIND_COMMENT && e->kind != MO_KIND_PRIVILEGE)
		return false;
	return MoCatalogFind(d->actual, e->parent_kind, parent) == NULL;
}

/* True when a definition uses the (quoted) name as a whole identifier. */
static bool
MentionsIdentifier(const char *definition, const char *name)
{
	size_t		len = strlen(name);

	for (const char *p = strstr(definition, name); p; p = strstr(p + 1, name))
	{
		char		before = p > definition ? p[-1] : ' ';
		char		after = p[len];

		if (name[0] == '"' ||
			(!(isalnum((unsigned char) before) || before == '_' || before == '$' || (before & 0x80)) &&
			 !(isalnum((unsigned char) after) || after == '_' || after == '$' || (after & 0x80))))
			return true;
	}
	return false;
}

/*
 * The removed column of the same table that a removed object uses (so it
 * cannot come back either), or NULL.  Comments and grants of the column
 * itself count as using it.
 */
static const MoCatalogObject *
UsesLostColumn(Script *s, const MoCatalogObject *e)
{
	ListCell   *lc;

	foreach(lc, s->lost_columns)
	{
		const MoCatalogObject *col = lfirst(lc);
		const char *table = col->x->parent;

		if ((e->kind == MO_KIND_COMMENT || e->kind == MO_KIND_PRIVILEGE) &&
			strncmp(e->identity, "column ", 7) == 0 && strcmp(e->identity + 7, col->identity) == 0)
			return col;
		if ((e->kind == MO_KIND_INDEX || e->kind == MO_KIND_CONSTRAINT || e->kind == MO_KIND_TRIGGER ||
			 e->kind == MO_KIND_POLICY) && e->x->parent && table && strcmp(e->x->parent, table) == 0 &&
			MentionsIdentifier(e->x->definition, col->identity + strlen(table) + 1))
			return col;
	}
	return NULL;
}

/* Adds the blocks undoing one difference; records objects dropped to be created again. */
static void
ScriptPair(Script *s, Pair *p, List **recreated)
{
	Drift	   *d = s->drift;
	MoCatalogObject *e = p->e;
	MoCatalogObject *a = p->a;

	if (e == NULL)
	{
		if (ParentAdded(d, a))
			return;
		if (a->kind == MO_KIND_COLUMN)
			ScriptAdd(s, 1, a->kind, a->x->ord, a->identity, "added (dropping it drops its data)", a->x->drop);
		else
			ScriptAdd(s, 1, a->kind, a->x->ord, a->identity, "added", a->x->drop);
		return;
	}
	if (e->x == NULL)
		return;					/* not in the snapshot any more (cannot happen) */
	if (a == NULL)
	{
		const MoCatalogObject *lost;

		if (ParentGone(d, e))
			return;
		if ((lost = UsesLostColumn(s, e)) != NULL)
		{
			if (e->kind != MO_KIND_COMMENT && e->kind != MO_KIND_PRIVILEGE)
				ScriptCannot(s, e->kind, e->identity,
							 psprintf("it uses column %s, which was dropped", lost->identity), e->x->definition);
			return;
		}
		if (e->kind == MO_KIND_TABLE || e->kind == MO_KIND_FOREIGN_TABLE)
			ScriptCannot(s, e->kind, e->identity,
						 "it was dropped and its data with it; restore it from a backup", e->x->definition);
		else if (e->kind == MO_KIND_COLUMN)
			ScriptCannot(s, e->kind, e->identity,
						 "it was dropped and its data with it; restore it from a backup", e->x->definition);
		else if (e->kind == MO_KIND_PRIVILEGE)
			ScriptAdd(s, 2, e->kind, e->x->ord, e->identity, "removed",
					  PrivilegeRestore(e->identity, e->x->definition, NULL));
		else
			ScriptAdd(s, 2, e->kind, e->x->ord, e->identity, "removed", CreateSql(e));
		return;
	}

	/* changed */
	switch (e->kind)
	{
		case MO_KIND_TABLE:
		case MO_KIND_FOREIGN_TABLE:
			RepairTable(s, e, a);
			break;
		case MO_KIND_COLUMN:
			RepairColumn(s, e, a);
			break;
		case MO_KIND_SEQUENCE:
			RepairSequence(s, e, a);
			break;
		case MO_KIND_ENUM:
			RepairEnum(s, e, a);
			break;
		case MO_KIND_DOMAIN:
			RepairDomain(s, e, a);
			break;
		case MO_KIND_EXTENSION:
			RepairExtension(s, e, a);
			break;
		case MO_KIND_FUNCTION:
		case MO_KIND_PROCEDURE:
		case MO_KIND_COMMENT:
			ScriptAdd(s, 2, e->kind, e->x->ord, e->identity, "changed", e->x->definition);
			break;
		case MO_KIND_PRIVILEGE:
			ScriptAdd(s, 2, e->kind, 0, e->identity, "changed",
					  PrivilegeRestore(e->identity, e->x->definition, a->x->drop));
			break;
		default:
			if (RecreatedKind(e->kind))
			{
				ScriptAdd(s, 1, a->kind, a->x->ord, a->identity, "changed, dropped to be created again",
						  a->x->drop);
				ScriptAdd(s, 2, e->kind, e->x->ord, e->identity, "changed, created as it was",
						  CreateSql(e));
				*recreated = lappend(*recreated, e);
			}
			else
				ScriptCannot(s, e->kind, e->identity, "the change cannot be undone automatically",
							 e->x->definition);
			break;
	}
}

/*
 * Views that use a view dropped to be created again, and foreign keys that
 * use a key dropped to be created again, must be dropped before it and
 * created again after it.  Finds them in the live catalog (transitively for
 * views) and adds them, from their stored definitions.  Returns recreated
 * with them appended.
 */
static List *
ScriptExpand(Script *s, List *recreated)
{
	Drift	   *d = s->drift;
	char	  **views = palloc(sizeof(char *) * (list_length(recreated) + 1));
	char	  **keys = palloc(sizeof(char *) * (list_length(recreated) + 1));
	char	  **tables = palloc(sizeof(char *) * (list_length(recreated) + 1));
	int			nv = 0,
				nk = 0;
	ListCell   *lc;
	MoArgs		args = {0};
	int			n;
	char	  **kinds;
	char	  **identities;
	List	   *found = NIL;

	foreach(lc, recreated)
	{
		MoCatalogObject *e = lfirst(lc);

		if (e->kind == MO_KIND_VIEW || e->kind == MO_KIND_MATVIEW)
			views[nv++] = e->identity;
		else if (e->kind == MO_KIND_CONSTRAINT && e->x->parent &&
				 strlen(e->identity) > strlen(e->x->parent) + 4)
		{
			keys[nk] = pnstrdup(e->identity, strlen(e->identity) - strlen(e->x->parent) - 4);
			tables[nk++] = e->x->parent;
		}
	}
	if (nv == 0 && nk == 0)
		return recreated;

	ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(views, nv), false);
	ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(keys, nk), false);
	ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(tables, nk), false);
	MoSpiExec("WITH RECURSIVE used(oid) AS ("
			  "  SELECT pg_catalog.to_regclass(v) FROM pg_catalog.unnest($1::pg_catalog.text[]) v),"
			  " deps(oid) AS ("
			  "  SELECT r.ev_class FROM used"
			  "    JOIN pg_catalog.pg_depend dp ON dp.refobjid OPERATOR(pg_catalog.=) used.oid"
			  "     AND dp.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
			  "     AND dp.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
			  "    JOIN pg_catalog.pg_rewrite r ON r.oid OPERATOR(pg_catalog.=) dp.objid"
			  "   WHERE r.ev_class OPERATOR(pg_catalog.<>) used.oid"
			  "  UNION"
			  "  SELECT r.ev_class FROM deps"
			  "    JOIN pg_catalog.pg_depend dp ON dp.refobjid OPERATOR(pg_catalog.=) deps.oid"
			  "     AND dp.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
			  "     AND dp.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
			  "    JOIN pg_catalog.pg_rewrite r ON r.oid OPERATOR(pg_catalog.=) dp.objid"
			  "   WHERE r.ev_class OPERATOR(pg_catalog.<>) deps.oid)"
			  " SELECT CASE c.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END,"
			  "        pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.'"
			  "          OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname)"
			  "   FROM deps JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) deps.oid"
			  "   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
			  " UNION ALL"
			  " SELECT 'constraint', pg_catalog.quote_ident(fk.conname) OPERATOR(pg_catalog.||) ' on '"
			  "          OPERATOR(pg_catalog.||) pg_catalog.quote_ident(fn.nspname) OPERATOR(pg_catalog.||) '.'"
			  "          OPERATOR(pg_catalog.||) pg_catalog.quote_ident(fc.relname)"
			  "   FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[]))"
			  "        AS k(name, tbl)"
			  "   JOIN pg_catalog.pg_constraint pk ON pk.conrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(k.tbl)"
			  "    AND pg_catalog.quote_ident(pk.conname) OPERATOR(pg_catalog.=) k.name"
			  "   JOIN pg_catalog.pg_constraint fk ON fk.conindid OPERATOR(pg_catalog.=) pk.conindid"
			  "    AND fk.contype OPERATOR(pg_catalog.=) 'f'"
			  "   JOIN pg_catalog.pg_class fc ON fc.oid OPERATOR(pg_catalog.=) fk.conrelid"
			  "   JOIN pg_catalog.pg_namespace fn ON fn.oid OPERATOR(pg_catalog.=) fc.relnamespace"
			  "  WHERE pk.contype OPERATOR(pg_catalog.=) ANY ('{p,u}'::pg_catalog.char[])", &args);
	n = (int) SPI_processed;
	kinds = palloc(sizeof(char *) * (n + 1));
	identities = palloc(sizeof(char *) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		int			kind = MoKindFromName(MoSpiGetText(i, 1));
		char	   *identity = MoSpiGetText(i, 2);
		MoCatalogObject *e = MoCatalogFind(d->expected, kind, identity);
		MoCatalogObject *a = MoCatalogFind(d->actual, kind, identity);

		if (e == NULL || a == NULL || memcmp(e->hash, a->hash, 32) != 0 || e->x != NULL)
			continue;			/* added, changed or already handled: a difference itself */
		found = lappend(found, e);
	}
	if (found == NIL)
		return recreated;
	n = 0;
	foreach(lc, found)
	{
		MoCatalogObject *e = lfirst(lc);

		kinds[n] = (char *) MoKindNames[e->kind];
		identities[n++] = e->identity;
	}
	{
		MoOwnerState owner;

		MoBecomeOwner(&owner);
		LoadStoredDefinitions(d->expected, d->snapshot_id, n, kinds, identities);
		MoRestoreUser(&owner);
	}
	foreach(lc, found)
	{
		MoCatalogObject *e = lfirst(lc);
		char	   *drop;

		if (e->x == NULL)
			continue;
		if (e->kind == MO_KIND_CONSTRAINT)
			drop = psprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %.*s", e->x->parent,
							(int) (strlen(e->identity) - strlen(e->x->parent) - 4), e->identity);
		else
			drop = psprintf("DROP %s IF EXISTS %s",
							e->kind == MO_KIND_VIEW ? "VIEW" : "MATERIALIZED VIEW", e->identity);
		ScriptAdd(s, 1, e->kind, e->x->ord, e->identity, "depends on an object created again, dropped", drop);
		ScriptAdd(s, 2, e->kind, e->x->ord, e->identity, "created again after what it depends on",
				  CreateSql(e));
		recreated = lappend(recreated, e);
	}
	return recreated;
}

/*
 * Objects dropped and created again lose what hangs on them (comments,
 * grants; for a view or materialized view also its indexes, triggers,
 * rules of its columns): re-applies the stored ones that are not
 * differences themselves.
 */
static void
ScriptDependents(Script *s, List *recreated)
{
	Drift	   *d = s->drift;
	int			n = list_length(recreated);
	char	  **parents = palloc(sizeof(char *) * (n + 1));
	char	  **own = palloc(sizeof(char *) * (2 * n + 1));
	int			np = 0,
				no = 0;
	ListCell   *lc;
	MoArgs		args = {0};
	MoOwnerState owner;
	MoCatalogFilter *filter = MoDriftFilter();

	if (n == 0)
		return;
	foreach(lc, recreated)
	{
		MoCatalogObject *e = lfirst(lc);

		if (e->kind == MO_KIND_VIEW || e->kind == MO_KIND_MATVIEW)
			parents[np++] = e->identity;
		own[no++] = psprintf("%s %s", MoKindNames[e->kind], e->identity);
	}
	ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(parents, np), false);
	ArgDatum(&args, TEXTARRAYOID, TextArrayDatum(own, no), false);
	MoArgInt8(&args, d->snapshot_id);
	MoBecomeOwner(&owner);
	MoSpiExec("SELECT kind, identity, parent_kind, parent, definition, ord"
			  "  FROM migrate_ops.snapshot_objects"
			  " WHERE valid_from OPERATOR(pg_catalog.<=) $3"
			  "   AND (valid_to IS NULL OR valid_to OPERATOR(pg_catalog.>) $3)"
			  "   AND (parent OPERATOR(pg_catalog.=) ANY ($1) OR identity OPERATOR(pg_catalog.=) ANY ($2))"
			  "   AND kind <> ALL ('{view,materialized view}'::pg_catalog.text[])", &args);
	MoRestoreUser(&owner);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		int			kind = MoKindFromName(MoSpiGetText(i, 1));
		char	   *identity = MoSpiGetText(i, 2);
		char	   *pk = MoSpiGetText(i, 3);
		MoCatalogObject *e;
		MoCatalogObject *a;
		char	   *ord = MoSpiGetText(i, 6);

		if (kind < 0 || MoCatalogIgnored(filter, kind, identity, pk ? MoKindFromName(pk) : -1,
										 MoSpiGetText(i, 4)))
			continue;
		e = MoCatalogFind(d->expected, kind, identity);
		a = MoCatalogFind(d->actual, kind, identity);
		if (e == NULL || a == NULL || memcmp(e->hash, a->hash, 32) != 0)
			continue;			/* a difference itself: handled on its own */
		ScriptAdd(s, 2, kind, ord ? strtoi64(ord, NULL, 10) : 0, identity, "created again with its parent",
				  kind == MO_KIND_PRIVILEGE ?
				  PrivilegeRestore(identity, MoSpiGetText(i, 5), NULL) : MoSpiGetText(i, 5));
	}
}

/*
 * migrate_ops.drift_sql(snapshot bigint) → text
 * A script, for a human to review, that brings the catalog back to the snapshot.
 */
Datum
migrate_ops_drift_sql(PG_FUNCTION_ARGS)
{
	MemoryContext fcxt = CurrentMemoryContext;
	Drift		d;
	Script		s = {0};
	List	   *recreated = NIL;
	StringInfoData out;
	Stmt	  **stmts;
	int			n;
	ListCell   *lc;
	text	   *result;

	SPI_connect();
	DriftFromArgs(fcinfo, &d, MO_CAPTURE_DETAIL | MO_CAPTURE_DROP);
	s.drift = &d;
	for (int i = 0; i < d.pairs.n; i++)
	{
		Pair	   *p = &d.pairs.items[i];

		if (p->a == NULL && p->e->kind == MO_KIND_COLUMN && p->e->x && p->e->x->parent &&
			!ParentGone(&d, p->e))
			s.lost_columns = lappend(s.lost_columns, p->e);
	}
	for (int i = 0; i < d.pairs.n; i++)
		ScriptPair(&s, &d.pairs.items[i], &recreated);
	recreated = ScriptExpand(&s, recreated);
	ScriptDependents(&s, recreated);

	initStringInfo(&out);
	appendStringInfo(&out, "-- migrate_ops drift_sql: bring database %s back to snapshot %lld",
					 OneLine(quote_identifier(get_database_name(MyDatabaseId))), (long long) d.snapshot_id);
	if (d.label)
		appendStringInfo(&out, " (%s)", OneLine(d.label));
	appendStringInfo(&out, ", taken %s.\n", d.taken_at);
	appendStringInfo(&out, "-- Expected fingerprint %s, actual %s.\n", d.expected_fingerprint,
					 MoCatalogFingerprint(d.actual));
	if (d.pairs.n == 0)
	{
		appendStringInfoString(&out, "-- No drift: nothing to do.\n");
	}
	else
	{
		appendStringInfo(&out, "-- %d difference%s (%d added, %d removed, %d changed).  Review every statement,\n"
						 "-- then run the script in one transaction (psql -1 -f).\n",
						 d.pairs.n, d.pairs.n == 1 ? "" : "s", d.pairs.added, d.pairs.removed, d.pairs.changed);
		appendStringInfoString(&out, "SET check_function_bodies = false;\n");

		n = list_length(s.stmts);
		stmts = palloc(sizeof(Stmt *) * (n + 1));
		n = 0;
		foreach(lc, s.stmts)
			stmts[n++] = lfirst(lc);
		qsort(stmts, n, sizeof(Stmt *), StmtCompare);
		for (int i = 0; i < n; i++)
		{
			if (i == 0 || stmts[i]->phase != stmts[i - 1]->phase)
				appendStringInfo(&out, "\n-- ==== %s ====\n", stmts[i]->phase == 1 ?
								 "1. drop what was added or is created again" :
								 "2. restore what was removed or changed");
			appendStringInfo(&out, "\n%s", stmts[i]->text);
		}
	}
	result = (text *) MemoryContextAlloc(fcxt, VARHDRSZ + out.len);
	SET_VARSIZE(result, VARHDRSZ + out.len);
	memcpy(VARDATA(result), out.data, out.len);
	SPI_finish();
	PG_RETURN_TEXT_P(result);
}

/* ---------------------------------------------------------------- fingerprint(), snapshot() */

/*
 * migrate_ops.fingerprint(schemas text[]) → text
 * SHA-256 (hex) of the normalised definitions of every tracked object.
 */
Datum
migrate_ops_fingerprint(PG_FUNCTION_ARGS)
{
	MemoryContext fcxt = CurrentMemoryContext;
	List	   *schemas = NIL;
	MoCatalogFilter *filter;
	MoCatalogState *ref;
	int64		ref_id;
	MoCatalogState *state;
	char	   *fingerprint;

	if (!PG_ARGISNULL(0))
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("schemas must not be empty"),
					 errhint("Pass NULL for every tracked schema.")));
		for (int i = 0; i < n; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("schemas must not contain NULL")));
			schemas = lappend(schemas, TextDatumGetCString(elems[i]));
		}
	}
	SPI_connect();
	filter = MoDriftFilter();
	ref = LatestReference(filter, &ref_id);
	state = MoCatalogCaptureExt(MO_CAPTURE_DIFF, schemas, filter, ref);
	fingerprint = MemoryContextStrdup(fcxt, MoCatalogFingerprint(state));
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(fingerprint));
}

/* Validates a free-text note (label, reason): at most MAX_NOTE_LEN bytes. */
static void
CheckNote(const char *what, const char *note)
{
	if (note && strlen(note) > MAX_NOTE_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", what),
				 errdetail("It has %zu bytes; the limit is %d.", strlen(note), MAX_NOTE_LEN)));
}

/* See migrate_ops.h. */
int64
MoSnapshotTake(const char *label)
{
	MoOwnerState owner;
	SnapshotResult res;

	char	   *role = MoCurrentRoleName();

	CheckNote("label", label);
	SPI_connect();
	MoBecomeOwner(&owner);
	SnapshotWrite(&res, label, "snapshot", NULL, NULL, role, false, NULL);
	MoRestoreUser(&owner);
	SPI_finish();
	return res.id;
}

/*
 * migrate_ops.snapshot(label text) → bigint
 * Stores the current catalog as a snapshot, the new drift baseline.
 */
Datum
migrate_ops_snapshot(PG_FUNCTION_ARGS)
{
	char	   *label = MoOptionalTextArg(fcinfo, 0);

	if (label && label[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label must not be empty"),
				 errhint("Pass NULL for a snapshot without a label.")));
	PG_RETURN_INT64(MoSnapshotTake(label));
}

/* See migrate_ops.h. */
char *
MoFingerprintNow(void)
{
	MemoryContext caller = CurrentMemoryContext;
	MoCatalogFilter *filter;
	MoCatalogState *ref;
	int64		ref_id;
	MoCatalogState *state;
	char	   *fingerprint;

	SPI_connect();
	filter = MoDriftFilter();
	ref = LatestReference(filter, &ref_id);
	state = MoCatalogCaptureExt(MO_CAPTURE_DIFF, NIL, filter, ref);
	fingerprint = MemoryContextStrdup(caller, MoCatalogFingerprint(state));
	SPI_finish();
	return fingerprint;
}

/* ---------------------------------------------------------------- scans and accepting drift */

/* Records a scan row made by role (as the owner) and returns its id. */
static int64
ScanRecord(int64 snapshot_id, const char *status, const char *fingerprint,
		   const char *expected_fingerprint, Pairs *pairs, TimestampTz started, const char *event,
		   const char *role)
{
	MoArgs		args = {0};
	StringInfoData objects;
	bool		isnull;

	initStringInfo(&objects);
	appendStringInfoChar(&objects, '[');
	for (int i = 0; pairs && i < pairs->n && i < SUMMARY_OBJECTS; i++)
	{
		const MoCatalogObject *o = PairObject(&pairs->items[i]);

		appendStringInfo(&objects, "%s{\"kind\": %s, \"identity\": %s, \"change\": \"%s\"}",
						 i ? ", " : "", MoJsonQuote(MoKindNames[o->kind]),
						 MoJsonQuote(o->identity), PairChange(&pairs->items[i]));
	}
	appendStringInfoChar(&objects, ']');

	if (snapshot_id)
		MoArgInt8(&args, snapshot_id);
	else
		ArgDatum(&args, INT8OID, (Datum) 0, true);
	MoArgText(&args, status);
	MoArgText(&args, fingerprint);
	MoArgText(&args, expected_fingerprint);
	MoArgInt4(&args, pairs ? pairs->added : 0);
	MoArgInt4(&args, pairs ? pairs->removed : 0);
	MoArgInt4(&args, pairs ? pairs->changed : 0);
	MoArgJsonb(&args, objects.data);
	MoArgTimestamptz(&args, started, false);
	MoArgText(&args, event);
	MoArgText(&args, role);
	MoSpiExec("INSERT INTO migrate_ops.scans"
			  " (snapshot_id, status, fingerprint, expected_fingerprint, added, removed, changed,"
			  "  objects, duration, event, scanned_by)"
			  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
			  "  pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) $9, $10, $11) RETURNING id", &args);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * migrate_ops.scan() → bigint
 * Computes drift against the latest snapshot, records it in migrate_ops.scans
 * and emits drift.detected / drift.resolved when the state changed since the
 * previous scan.  Returns the scan's id.
 */
Datum
migrate_ops_scan(PG_FUNCTION_ARGS)
{
	TimestampTz started = GetCurrentTimestamp();
	char	   *role = MoCurrentRoleName();
	MoOwnerState owner;
	Drift		d = {0};
	const char *status;
	const char *event = NULL;
	char	   *prev_status = NULL;
	char	   *prev_fingerprint = NULL;
	char	   *prev_snapshot = NULL;
	char	   *prev_id = NULL;
	int64		id;
	StringInfoData payload;

	(void) fcinfo;
	SPI_connect();
	MoBecomeOwner(&owner);
	DriftLock(MO_LOCK_SCAN);
	MoSpiExec("SELECT id, status, fingerprint, snapshot_id FROM migrate_ops.scans ORDER BY id DESC LIMIT 1", NULL);
	if (SPI_processed > 0)
	{
		prev_id = MoSpiGetText(0, 1);
		prev_status = MoSpiGetText(0, 2);
		prev_fingerprint = MoSpiGetText(0, 3);
		prev_snapshot = MoSpiGetText(0, 4);
	}

	if (!ResolveSnapshot(&d, false, 0))
	{
		MoCatalogState *state = MoCatalogCaptureExt(0, NIL, MoDriftFilter(), NULL);

		id = ScanRecord(0, "no_baseline", MoCatalogFingerprint(state), NULL, NULL, started, NULL, role);
		MoRestoreUser(&owner);
		SPI_finish();
		PG_RETURN_INT64(id);
	}
	ComputeDrift(&d, MO_CAPTURE_DIFF);
	status = d.pairs.n > 0 ? "drift" : "clean";
	if (d.pairs.n > 0 &&
		(prev_status == NULL || strcmp(prev_status, "drift") != 0 ||
		 Differs(prev_fingerprint, MoCatalogFingerprint(d.actual)) ||
		 Differs(prev_snapshot, psprintf("%lld", (long long) d.snapshot_id))))
		event = "drift.detected";
	else if (d.pairs.n == 0 && prev_status && strcmp(prev_status, "drift") == 0)
		event = "drift.resolved";

	id = ScanRecord(d.snapshot_id, status, MoCatalogFingerprint(d.actual), d.expected_fingerprint,
					&d.pairs, started, event, role);
	MoRestoreUser(&owner);

	if (event)
	{
		initStringInfo(&payload);
		appendStringInfo(&payload, "{\"scan_id\": %lld, \"snapshot_id\": %lld, \"database\": %s, "
						 "\"fingerprint\": \"%s\", \"expected_fingerprint\": \"%s\", ",
						 (long long) id, (long long) d.snapshot_id,
						 MoJsonQuote(get_database_name(MyDatabaseId)), MoCatalogFingerprint(d.actual),
						 d.expected_fingerprint);
		if (strcmp(event, "drift.resolved") == 0)
			appendStringInfo(&payload, "\"previous_scan_id\": %s}", prev_id);
		else
		{
			AppendSummaryJson(&payload, &d.pairs);
			appendStringInfoChar(&payload, '}');
		}
		(void) MoEmitEvent(event, payload.data);
	}
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * migrate_ops.accept_drift(reason text) → bigint
 * The current catalog becomes the baseline (a new snapshot), recorded with
 * who and why; returns the snapshot's id.
 */
Datum
migrate_ops_accept_drift(PG_FUNCTION_ARGS)
{
	TimestampTz started = GetCurrentTimestamp();
	char	   *reason = MoRequiredTextArg(fcinfo, 0, "reason");
	char	   *role = MoCurrentRoleName();
	MoOwnerState owner;
	SnapshotResult res;
	StringInfoData payload;
	char	   *previous_fingerprint = NULL;

	if (reason[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reason must not be empty"),
				 errhint("Say why the drift is accepted, for whoever reads the history next.")));
	CheckNote("reason", reason);

	SPI_connect();
	MoBecomeOwner(&owner);
	DriftLock(MO_LOCK_SCAN);
	SnapshotWrite(&res, NULL, "accept_drift", reason, NULL, role, true, NULL);
	if (res.id == 0)
	{
		MoRestoreUser(&owner);
		SPI_finish();
		ereport(NOTICE,
				(errmsg("there is no drift to accept"),
				 errdetail("The catalog matches snapshot %lld.", (long long) res.previous_id)));
		PG_RETURN_INT64(res.previous_id);
	}
	if (res.previous_id)
	{
		MoArgs		args = {0};

		MoArgInt8(&args, res.previous_id);
		MoSpiExec("SELECT fingerprint FROM migrate_ops.snapshots WHERE id OPERATOR(pg_catalog.=) $1", &args);
		if (SPI_processed > 0)
			previous_fingerprint = MoSpiGetText(0, 1);
	}
	(void) ScanRecord(res.id, "clean", res.fingerprint, res.fingerprint, NULL, started, "drift.accepted", role);
	MoRestoreUser(&owner);

	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"snapshot_id\": %lld, \"previous_snapshot_id\": %s, \"database\": %s, "
					 "\"reason\": %s, \"accepted_by\": %s, \"fingerprint\": \"%s\", "
					 "\"previous_fingerprint\": %s, ",
					 (long long) res.id,
					 res.previous_id ? psprintf("%lld", (long long) res.previous_id) : "null",
					 MoJsonQuote(get_database_name(MyDatabaseId)), MoJsonQuote(reason),
					 MoJsonQuote(role), res.fingerprint, MoJsonQuote(previous_fingerprint));
	AppendSummaryJson(&payload, &res.pairs);
	appendStringInfoChar(&payload, '}');
	(void) MoEmitEvent("drift.accepted", payload.data);
	SPI_finish();
	PG_RETURN_INT64(res.id);
}

/* ---------------------------------------------------------------- the ledger's hooks */

/* See migrate_ops.h. */
MoCatalogState *
MoLedgerCaptureBefore(const char *version)
{
	MoCatalogState *before;
	MoCatalogFilter *filter;
	MoCatalogState *ref;
	int64		ref_id;
	MoArgs		args = {0};

	if (!DriftTablesExist())
		return NULL;
	filter = MoDriftFilter();
	ref = LatestReference(NULL, &ref_id);	/* unfiltered: the snapshot write after may use it */
	before = MoCatalogCaptureExt(0, NIL, filter, ref);
	if (ref)
	{
		/* kept with the capture, for MoLedgerRecordAfter() */
		MemoryContextSetParent(ref->cxt, before->cxt);
		before->reference = ref;
		before->reference_id = ref_id;
	}
	MoArgText(&args, version);
	MoArgText(&args, MoCatalogFingerprint(before));
	MoSpiExec("UPDATE migrate_ops.migrations SET fingerprint_before = $2"
			  " WHERE version OPERATOR(pg_catalog.=) $1", &args);
	return before;
}

/* See migrate_ops.h. */
void
MoLedgerRecordAfter(const char *version, MoCatalogState *before, const char *source,
					const char *role, int what)
{
	SnapshotResult res;
	MoArgs		args = {0};
	StringInfoData changes;

	if (!DriftTablesExist())
		return;
	SnapshotWrite(&res, NULL, source, NULL, version, role, false, before);
	if (version == NULL || what == 0)
		return;

	initStringInfo(&changes);
	if (what & MO_RECORD_CHANGES)
	{
		Pairs		diff = {0};
		Pairs	   *p = &res.pairs;

		if (before)
		{
			(void) MoCatalogCompare(before, res.captured, PairCollect, &diff);
			p = &diff;
		}
		appendStringInfoChar(&changes, '[');
		for (int i = 0; i < p->n; i++)
		{
			const MoCatalogObject *o = PairObject(&p->items[i]);

			appendStringInfo(&changes, "%s{\"kind\": %s, \"identity\": %s, \"change\": \"%s\"}",
							 i ? ", " : "", MoJsonQuote(MoKindNames[o->kind]),
							 MoJsonQuote(o->identity), PairChange(&p->items[i]));
		}
		appendStringInfoChar(&changes, ']');
	}
	MoArgText(&args, version);
	MoArgText(&args, res.fingerprint);
	MoArgJsonb(&args, changes.len ? changes.data : NULL);
	MoArgBool(&args, (what & MO_RECORD_CHANGES) != 0);
	MoSpiExec("UPDATE migrate_ops.migrations"
			  "   SET fingerprint_after = $2,"
			  "       changes = CASE WHEN $4 THEN $3 ELSE changes END"
			  " WHERE version OPERATOR(pg_catalog.=) $1", &args);
}
