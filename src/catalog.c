/*
 * catalog.c — whole-database catalog introspection for drift detection
 * (DESIGN §2).
 *
 * The catalog is read in a handful of whole-database queries (one per
 * family of objects: schemas, relations, columns, constraints, indexes,
 * triggers, policies, routines, types, extensions, event triggers), never
 * per object and never through information_schema.  Every definition is
 * normalised by PostgreSQL's own deparsers (pg_get_indexdef,
 * pg_get_constraintdef, pg_get_viewdef, pg_get_functiondef, pg_get_expr,
 * format_type, ...) with the settings that change their output pinned, and
 * hashed with SHA-256.  Identity is by name, never by OID, in PostgreSQL's
 * object-identity format, so a dump/restore or a replica gives the same
 * fingerprint.
 *
 * Rows are fetched through a cursor in batches and each row is turned into
 * an object in a per-row memory context that is reset after it; only the
 * identity, the hash and (where a comparison needs it) the definition are
 * kept.
 */
#include "postgres.h"

#include <sys/resource.h>

#include "access/htup_details.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "regex/regex.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "migrate_ops.h"

/* Kind names, indexed by MoKind (in name order). */
const char *const MoKindNames[MO_NUM_KINDS] = {
	"aggregate",
	"column",
	"comment",
	"composite type",
	"constraint",
	"domain",
	"enum",
	"event trigger",
	"extension",
	"foreign table",
	"function",
	"index",
	"materialized view",
	"policy",
	"privilege",
	"procedure",
	"schema",
	"sequence",
	"table",
	"trigger",
	"type",
	"view",
};

/* Returns the MoKind named name, or -1 (MoKindNames is sorted). */
int
MoKindFromName(const char *name)
{
	int			lo = 0,
				hi = MO_NUM_KINDS - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = strcmp(MoKindNames[mid], name);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* ---------------------------------------------------------------- states */

/* Bytes per block of a state's string arena. */
#define ARENA_BLOCK		(64 * 1024)

/* A state with its bump allocator for strings (no per-string header). */
typedef struct StateImpl
{
	MoCatalogState pub;
	int			capacity;
	char	   *arena;
	size_t		arena_left;
} StateImpl;

/* Creates an empty state in a new child of CurrentMemoryContext. */
MoCatalogState *
MoCatalogStateCreate(void)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "migrate_ops catalog state",
											  ALLOCSET_DEFAULT_SIZES);
	StateImpl  *st = MemoryContextAllocZero(cxt, sizeof(StateImpl));

	st->pub.cxt = cxt;
	st->capacity = 1024;
	st->pub.objects = MemoryContextAlloc(cxt, sizeof(MoCatalogObject) * st->capacity);
	return &st->pub;
}

/* Copies a string into the state (NULL stays NULL). */
static char *
StateStrdup(MoCatalogState *state, const char *s)
{
	StateImpl  *st = (StateImpl *) state;
	size_t		len;
	char	   *p;

	if (s == NULL)
		return NULL;
	len = strlen(s) + 1;
	if (len > ARENA_BLOCK / 8)
		return MemoryContextStrdup(state->cxt, s);
	if (len > st->arena_left)
	{
		st->arena = MemoryContextAlloc(state->cxt, ARENA_BLOCK);
		st->arena_left = ARENA_BLOCK;
	}
	p = st->arena;
	memcpy(p, s, len);
	st->arena += len;
	st->arena_left -= len;
	return p;
}

/* Appends an object and returns it (identity copied, no extra). */
static MoCatalogObject *
StateAppend(MoCatalogState *state, int kind, const char *identity, int parent_kind,
			const uint8 *hash)
{
	StateImpl  *st = (StateImpl *) state;
	MoCatalogObject *obj;

	if (state->count >= st->capacity)
	{
		st->capacity *= 2;
		state->objects = repalloc(state->objects, sizeof(MoCatalogObject) * st->capacity);
	}
	obj = &state->objects[state->count++];
	obj->identity = StateStrdup(state, identity);
	obj->x = NULL;
	obj->kind = (uint8) kind;
	obj->parent_kind = (uint8) parent_kind;
	memcpy(obj->hash, hash, sizeof(obj->hash));
	return obj;
}

/* Adds an object known by identity and hash only (plus its parent), e.g. from a snapshot. */
void
MoCatalogStateAdd(MoCatalogState *state, int kind, const char *identity,
				  int parent_kind, const char *parent, const uint8 *hash)
{
	MoCatalogObject *obj = StateAppend(state, kind, identity, parent_kind, hash);

	if (parent)
	{
		obj->x = MemoryContextAllocZero(state->cxt, sizeof(MoCatalogExtra));
		obj->x->parent = StateStrdup(state, parent);
	}
}

/* qsort comparator: kind, then identity (byte order), then hash. */
static int
ObjectCompare(const void *a, const void *b)
{
	const MoCatalogObject *oa = (const MoCatalogObject *) a;
	const MoCatalogObject *ob = (const MoCatalogObject *) b;
	int			c;

	if (oa->kind != ob->kind)
		return oa->kind < ob->kind ? -1 : 1;
	c = strcmp(oa->identity, ob->identity);
	if (c != 0)
		return c;
	return memcmp(oa->hash, ob->hash, sizeof(oa->hash));
}

/*
 * Sorts the objects and computes the fingerprint: SHA-256 over, for every
 * object in (kind name, identity) order, the kind name, a NUL byte, the
 * identity, a NUL byte and the 32-byte SHA-256 of its definition.
 */
void
MoCatalogStateFinish(MoCatalogState *state)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	pg_cryptohash_ctx *ctx;

	if (state->count > 1)
		qsort(state->objects, state->count, sizeof(MoCatalogObject), ObjectCompare);

	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not initialise SHA-256");
	for (int i = 0; i < state->count; i++)
	{
		MoCatalogObject *obj = &state->objects[i];
		const char *kind = MoKindNames[obj->kind];

		if (pg_cryptohash_update(ctx, (const uint8 *) kind, strlen(kind) + 1) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) obj->identity, strlen(obj->identity) + 1) < 0 ||
			pg_cryptohash_update(ctx, obj->hash, sizeof(obj->hash)) < 0)
			elog(ERROR, "could not compute SHA-256");
	}
	if (MO_CRYPTOHASH_FINAL(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256");
	pg_cryptohash_free(ctx);
	hex_encode((const char *) digest, sizeof(digest), state->fingerprint);
	state->fingerprint[64] = '\0';
}

/* Finds an object by kind and identity in a finished state, or NULL. */
MoCatalogObject *
MoCatalogFind(const MoCatalogState *state, int kind, const char *identity)
{
	int			lo = 0,
				hi;

	if (state == NULL)
		return NULL;
	hi = state->count - 1;
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		MoCatalogObject *obj = &state->objects[mid];
		int			c = (obj->kind != kind) ? (obj->kind < kind ? -1 : 1) : strcmp(obj->identity, identity);

		if (c == 0)
			return obj;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* Frees a state and everything in it. */
void
MoCatalogFree(MoCatalogState *state)
{
	if (state)
		MemoryContextDelete(state->cxt);
}

/*
 * Walks two finished states in step and calls cb for every difference:
 * (expected, NULL) removed, (NULL, actual) added, both: changed.  Returns
 * the number of differences.
 */
int
MoCatalogCompare(const MoCatalogState *expected, const MoCatalogState *actual,
				 MoDiffCallback cb, void *arg)
{
	int			i = 0,
				j = 0,
				n = 0;
	int			ne = expected ? expected->count : 0;
	int			na = actual ? actual->count : 0;

	while (i < ne || j < na)
	{
		MoCatalogObject *e = i < ne ? &expected->objects[i] : NULL;
		MoCatalogObject *a = j < na ? &actual->objects[j] : NULL;
		int			c;

		if (e == NULL)
			c = 1;
		else if (a == NULL)
			c = -1;
		else if (e->kind != a->kind)
			c = e->kind < a->kind ? -1 : 1;
		else
			c = strcmp(e->identity, a->identity);

		if (c < 0)
		{
			cb(arg, e, NULL);
			n++;
			i++;
		}
		else if (c > 0)
		{
			cb(arg, NULL, a);
			n++;
			j++;
		}
		else
		{
			if (memcmp(e->hash, a->hash, sizeof(e->hash)) != 0)
			{
				cb(arg, e, a);
				n++;
			}
			i++;
			j++;
		}
	}
	return n;
}

/* ---------------------------------------------------------------- filters */

/* The compiled drift_ignore patterns, kept for the session while they stay the same. */
typedef struct PatternCache
{
	int			n;
	int		   *kinds;
	char	  **texts;
	regex_t   **compiled;		/* malloc'd by the regex library; freed with pg_regfree */
	MoCatalogFilter filter;
} PatternCache;

static PatternCache pattern_cache;

/* Frees the compiled patterns of the cache. */
static void
PatternCacheClear(void)
{
	for (int i = 0; i < pattern_cache.n; i++)
	{
		pg_regfree(pattern_cache.compiled[i]);
		pfree(pattern_cache.compiled[i]);
		pfree(pattern_cache.texts[i]);
	}
	if (pattern_cache.kinds)
	{
		pfree(pattern_cache.kinds);
		pfree(pattern_cache.texts);
		pfree(pattern_cache.compiled);
	}
	memset(&pattern_cache, 0, sizeof(pattern_cache));
}

/* Compiles one pattern (an advanced regular expression, as ~ uses) in TopMemoryContext. */
static regex_t *
PatternCompile(const char *text)
{
	int			len = strlen(text);
	pg_wchar   *wide = palloc((len + 1) * sizeof(pg_wchar));
	int			wlen = pg_mb2wchar_with_len(text, wide, len);
	regex_t    *re = MemoryContextAlloc(TopMemoryContext, sizeof(regex_t));
	int			rc = pg_regcomp(re, wide, wlen, REG_ADVANCED, DEFAULT_COLLATION_OID);

	pfree(wide);
	if (rc != REG_OKAY)
	{
		char		msg[256];

		pg_regerror(rc, re, msg, sizeof(msg));
		pfree(re);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
				 errmsg("invalid drift_ignore pattern \"%s\": %s", text, msg)));
	}
	return re;
}

/*
 * Returns the filter for these settings and patterns (kinds[i] is a MoKind
 * or -1 for any kind).  Patterns are compiled once per session while the
 * list stays the same.
 */
MoCatalogFilter *
MoCatalogFilterGet(bool privileges, bool comments, int n, const int *kinds, char **texts)
{
	bool		same = (n == pattern_cache.n);

	for (int i = 0; same && i < n; i++)
		same = kinds[i] == pattern_cache.kinds[i] && strcmp(texts[i], pattern_cache.texts[i]) == 0;
	if (!same)
	{
		regex_t   **compiled = MemoryContextAllocZero(TopMemoryContext, sizeof(regex_t *) * (n + 1));
		int			done = 0;

		PG_TRY();
		{
			for (; done < n; done++)
				compiled[done] = PatternCompile(texts[done]);
		}
		PG_CATCH();
		{
			for (int i = 0; i < done; i++)
			{
				pg_regfree(compiled[i]);
				pfree(compiled[i]);
			}
			pfree(compiled);
			PG_RE_THROW();
		}
		PG_END_TRY();

		PatternCacheClear();
		pattern_cache.n = n;
		pattern_cache.compiled = compiled;
		pattern_cache.kinds = MemoryContextAlloc(TopMemoryContext, sizeof(int) * (n + 1));
		pattern_cache.texts = MemoryContextAlloc(TopMemoryContext, sizeof(char *) * (n + 1));
		for (int i = 0; i < n; i++)
		{
			pattern_cache.kinds[i] = kinds[i];
			pattern_cache.texts[i] = MemoryContextStrdup(TopMemoryContext, texts[i]);
		}
	}
	pattern_cache.filter.privileges = privileges;
	pattern_cache.filter.comments = comments;
	pattern_cache.filter.npatterns = pattern_cache.n;
	pattern_cache.filter.pattern_kinds = pattern_cache.kinds;
	pattern_cache.filter.patterns = (void **) pattern_cache.compiled;
	return &pattern_cache.filter;
}

/* True when one of the filter's patterns for kind matches identity. */
static bool
PatternMatches(const MoCatalogFilter *filter, int kind, const char *identity)
{
	pg_wchar   *wide = NULL;
	int			wlen = 0;
	bool		hit = false;

	for (int i = 0; i < filter->npatterns && !hit; i++)
	{
		if (filter->pattern_kinds[i] >= 0 && filter->pattern_kinds[i] != kind)
			continue;
		if (wide == NULL)
		{
			int			len = strlen(identity);

			wide = palloc((len + 1) * sizeof(pg_wchar));
			wlen = pg_mb2wchar_with_len(identity, wide, len);
		}
		hit = pg_regexec((regex_t *) filter->patterns[i], wide, wlen, 0, NULL, 0, NULL, 0) == REG_OKAY;
	}
	if (wide)
		pfree(wide);
	return hit;
}

/*
 * True when the object is left out: its kind is switched off, or a pattern
 * matches it or the top-level object it belongs to.
 */
bool
MoCatalogIgnored(const MoCatalogFilter *filter, int kind, const char *identity,
				 int parent_kind, const char *parent)
{
	if (filter == NULL)
		return false;
	if ((kind == MO_KIND_PRIVILEGE && !filter->privileges) ||
		(kind == MO_KIND_COMMENT && !filter->comments))
		return true;
	if (filter->npatterns == 0)
		return false;
	if (PatternMatches(filter, kind, identity))
		return true;
	return parent != NULL && parent_kind >= 0 && strcmp(parent, identity) != 0 &&
		PatternMatches(filter, parent_kind, parent);
}

/* ---------------------------------------------------------------- capture */

/* Most columns a catalog query returns. */
#define MAX_QUERY_COLUMNS 40

/* A capture in progress. */
typedef struct Capture
{
	MoCatalogState *state;
	const MoCatalogFilter *filter;
	const MoCatalogState *ref;
	int			flags;
	MemoryContext rowcxt;		/* reset after every row */
	pg_cryptohash_ctx *sha;
	Datum		namespaces;		/* oid[] of the tracked schemas */
	bool		all;			/* the default set (no schema list) */
	HeapTuple	tuple;			/* the row being turned into objects */
	TupleDesc	tupdesc;
	Datum		values[MAX_QUERY_COLUMNS];	/* its columns, deformed once */
	bool		isnull[MAX_QUERY_COLUMNS];
	MemoryContext querycxt;		/* reset after every query */
	HTAB	   *types;			/* ColumnTypeName() cache, in querycxt */
	HTAB	   *defaults;		/* DefaultExpr() cache, in querycxt */
	Oid			last_relid;		/* the relation of the previous row (columns) */
	char	   *last_parent;	/* and its identity, in querycxt */
} Capture;

/* Drop SQL is built only when asked for (drift_sql). */
#define WANT_DROP(cap) (((cap)->flags & MO_CAPTURE_DROP) != 0)

/* Detail is built only when asked for (snapshots, drift_sql). */
#define WANT_DETAIL(cap) (((cap)->flags & MO_CAPTURE_DETAIL) != 0)

/* Makes tuple the current row, deforming it once. */
static void
SetRow(Capture *cap, HeapTuple tuple, TupleDesc tupdesc)
{
	if (tupdesc->natts > MAX_QUERY_COLUMNS)
		elog(ERROR, "catalog query returns too many columns");
	cap->tuple = tuple;
	cap->tupdesc = tupdesc;
	heap_deform_tuple(tuple, tupdesc, cap->values, cap->isnull);
}

/* Column col (1-based) of the current row as a string, or NULL. */
static char *
Str(Capture *cap, int col)
{
	if (cap->isnull[col - 1])
		return NULL;
	switch (TupleDescAttr(cap->tupdesc, col - 1)->atttypid)
	{
		case TEXTOID:
			return TextDatumGetCString(cap->values[col - 1]);
		case NAMEOID:
			return NameStr(*DatumGetName(cap->values[col - 1]));
		default:
			return SPI_getvalue(cap->tuple, cap->tupdesc, col);
	}
}

/* Column col of the current row as a boolean (NULL is false). */
static bool
Bool(Capture *cap, int col)
{
	return !cap->isnull[col - 1] && DatumGetBool(cap->values[col - 1]);
}

/* Column col of the current row as a "char" ('\0' for NULL). */
static char
Char(Capture *cap, int col)
{
	return cap->isnull[col - 1] ? '\0' : DatumGetChar(cap->values[col - 1]);
}

/* Column col of the current row as an oid (InvalidOid for NULL). */
static Oid
OidCol(Capture *cap, int col)
{
	return cap->isnull[col - 1] ? InvalidOid : DatumGetObjectId(cap->values[col - 1]);
}

/* Column col of the current row, a text[], as a palloc'd array of strings; *n its length. */
static char **
TextArray(Capture *cap, int col, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	*n = 0;
	if (cap->isnull[col - 1])
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(cap->values[col - 1]), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, n);
	out = palloc(sizeof(char *) * (*n + 1));
	for (int i = 0; i < *n; i++)
		out[i] = nulls[i] ? pstrdup("") : TextDatumGetCString(elems[i]);
	return out;
}

/* "schema.name", each part quoted as needed. */
static char *
Qual(const char *nsp, const char *name)
{
	return psprintf("%s.%s", quote_identifier(nsp), quote_identifier(name));
}

/* Strips trailing white space and semicolons (deparsers differ on them). */
static char *
TrimStatement(char *s)
{
	int			len = s ? strlen(s) : 0;

	while (len > 0 && (isspace((unsigned char) s[len - 1]) || s[len - 1] == ';'))
		s[--len] = '\0';
	return s;
}

/*
 * Records one object: unless the filter leaves it out, hashes its
 * definition and keeps what the capture's purpose needs.
 */
static void
Emit(Capture *cap, int kind, const char *identity, int parent_kind, const char *parent,
	 const char *definition, const char *detail, const char *drop, int64 ord)
{
	uint8		hash[PG_SHA256_DIGEST_LENGTH];
	MoCatalogObject *obj;
	bool		keep;

	if (MoCatalogIgnored(cap->filter, kind, identity, parent_kind, parent))
		return;
	if (pg_cryptohash_init(cap->sha) < 0 ||
		pg_cryptohash_update(cap->sha, (const uint8 *) definition, strlen(definition)) < 0 ||
		MO_CRYPTOHASH_FINAL(cap->sha, hash, sizeof(hash)) < 0)
		elog(ERROR, "could not compute SHA-256");

	keep = (cap->flags & MO_CAPTURE_DEFINITIONS) != 0;
	if (!keep && cap->ref)
	{
		MoCatalogObject *old = MoCatalogFind(cap->ref, kind, identity);

		keep = (old == NULL || memcmp(old->hash, hash, sizeof(hash)) != 0);
	}

	obj = StateAppend(cap->state, kind, identity, parent ? parent_kind : 0, hash);
	if (keep)
	{
		MoCatalogExtra *x = MemoryContextAllocZero(cap->state->cxt, sizeof(MoCatalogExtra));

		x->parent = StateStrdup(cap->state, parent);
		x->definition = StateStrdup(cap->state, definition);
		if (cap->flags & MO_CAPTURE_DETAIL)
			x->detail = StateStrdup(cap->state, detail);
		if (cap->flags & MO_CAPTURE_DROP)
			x->drop = StateStrdup(cap->state, drop);
		x->ord = ord;
		obj->x = x;
	}
}

/*
 * Records the comment on an object (target_sql is how COMMENT ON names it,
 * e.g. "TABLE public.t"); root is the top-level object it belongs to.
 */
static void
EmitComment(Capture *cap, int target_kind, const char *target_identity, const char *target_sql,
			int root_kind, const char *root, const char *description)
{
	if (description == NULL || (cap->filter && !cap->filter->comments))
		return;
	if (MoCatalogIgnored(cap->filter, target_kind, target_identity, root_kind, root))
		return;
	Emit(cap, MO_KIND_COMMENT,
		 psprintf("%s %s", MoKindNames[target_kind], target_identity),
		 root_kind, root,
		 psprintf("COMMENT ON %s IS %s", target_sql, quote_literal_cstr(description)),
		 NULL,
		 psprintf("COMMENT ON %s IS NULL", target_sql),
		 0);
}

/* Privilege names by bit number of AclMode. */
static const char *const privilege_names[] = {
	"INSERT", "SELECT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER",
	"EXECUTE", "USAGE", "CREATE", "TEMPORARY", "CONNECT", "SET", "ALTER SYSTEM",
	"MAINTAIN"
};

/* One grantee's privileges, merged over grantors. */
typedef struct Grant
{
	char	   *grantee;		/* quoted role name, or PUBLIC */
	AclMode		privs;
	AclMode		goptions;
} Grant;

/* qsort comparator for Grant by grantee. */
static int
GrantCompare(const void *a, const void *b)
{
	return strcmp(((const Grant *) a)->grantee, ((const Grant *) b)->grantee);
}

/* Appends "SELECT, UPDATE" (or "SELECT (c), UPDATE (c)") for the bits of mask. */
static void
AppendPrivilegeList(StringInfo buf, AclMode mask, const char *column)
{
	bool		first = true;

	for (int bit = 0; bit < (int) lengthof(privilege_names); bit++)
	{
		if (!(mask & ((AclMode) 1 << bit)))
			continue;
		appendStringInfo(buf, "%s%s", first ? "" : ", ", privilege_names[bit]);
		if (column)
			appendStringInfo(buf, " (%s)", column);
		first = false;
	}
}

/*
 * Records the privileges of an object: its owner (owner_sql is the ALTER
 * command naming it, NULL for columns) and every grant of its ACL, the
 * default ACL when it has none.  grant_target is how GRANT names it;
 * column is the quoted column name for column privileges.
 */
static void
EmitPrivileges(Capture *cap, int target_kind, const char *target_identity,
			   const char *grant_target, const char *owner_sql, Oid owner,
			   int aclcol, ObjectType objtype, const char *column,
			   int root_kind, const char *root)
{
	Acl		   *acl;
	AclItem    *items;
	int			nitems;
	Grant	   *grants;
	int			ngrants = 0;
	StringInfoData def;
	StringInfoData drop;

	if (cap->filter && !cap->filter->privileges)
		return;
	if (MoCatalogIgnored(cap->filter, target_kind, target_identity, root_kind, root))
		return;
	if (cap->isnull[aclcol - 1] && column)
		return;					/* a column without privileges of its own */
	acl = cap->isnull[aclcol - 1] ? acldefault(objtype, owner) : DatumGetAclP(cap->values[aclcol - 1]);
	items = ACL_DAT(acl);
	nitems = ACL_NUM(acl);
	if (nitems == 0 && column)
		return;

	grants = palloc0(sizeof(Grant) * (nitems + 1));
	for (int i = 0; i < nitems; i++)
	{
		Oid			grantee = items[i].ai_grantee;
		char	   *name;
		int			g;

		if (grantee == ACL_ID_PUBLIC)
			name = "PUBLIC";
		else
		{
			char	   *role = GetUserNameFromId(grantee, true);

			name = role ? (char *) quote_identifier(role) : psprintf("\"%u\"", grantee);
		}
		for (g = 0; g < ngrants; g++)
			if (strcmp(grants[g].grantee, name) == 0)
				break;
		if (g == ngrants)
			grants[ngrants++].grantee = name;
		grants[g].privs |= ACLITEM_GET_PRIVS(items[i]);
		grants[g].goptions |= ACLITEM_GET_GOPTIONS(items[i]);
	}
	qsort(grants, ngrants, sizeof(Grant), GrantCompare);

	initStringInfo(&def);
	initStringInfo(&drop);
	if (owner_sql)
	{
		char	   *role = GetUserNameFromId(owner, true);

		appendStringInfo(&def, "%s OWNER TO %s", owner_sql,
						 role ? quote_identifier(role) : psprintf("\"%u\"", owner));
	}
	for (int g = 0; g < ngrants; g++)
	{
		AclMode		plain = grants[g].privs & ~grants[g].goptions;

		if (plain)
		{
			appendStringInfoString(&def, def.len ? ";\nGRANT " : "GRANT ");
			AppendPrivilegeList(&def, plain, column);
			appendStringInfo(&def, " ON %s TO %s", grant_target, grants[g].grantee);
		}
		if (grants[g].goptions)
		{
			appendStringInfoString(&def, def.len ? ";\nGRANT " : "GRANT ");
			AppendPrivilegeList(&def, grants[g].goptions, column);
			appendStringInfo(&def, " ON %s TO %s WITH GRANT OPTION", grant_target, grants[g].grantee);
		}
		appendStringInfo(&drop, "%s%s", drop.len ? ", " : "", grants[g].grantee);
	}
	if (drop.len > 0)
	{
		char	   *grantees = pstrdup(drop.data);

		resetStringInfo(&drop);
		appendStringInfo(&drop, "REVOKE ALL%s%s%s ON %s FROM %s CASCADE",
						 column ? " (" : "", column ? column : "", column ? ")" : "",
						 grant_target, grantees);
	}
	else
		appendStringInfoString(&drop, "SELECT 1");	/* nothing to revoke */

	/* a table's grants are restored before its columns' (REVOKE ALL on it revokes theirs) */
	Emit(cap, MO_KIND_PRIVILEGE,
		 psprintf("%s %s", MoKindNames[target_kind], target_identity),
		 root_kind, root, def.data, NULL, drop.data, column ? 1 : 0);
}

/* ---- small JSON builder for detail ---- */

/* Starts a key of a JSON object being built in buf. */
static void
JsonKey(StringInfo buf, const char *key)
{
	appendStringInfoString(buf, buf->len > 1 ? "," : "");
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
}

/* Adds "key": "value" (or null). */
static void
JsonStr(StringInfo buf, const char *key, const char *value)
{
	JsonKey(buf, key);
	if (value)
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

/* Adds "key": true|false. */
static void
JsonBool(StringInfo buf, const char *key, bool value)
{
	JsonKey(buf, key);
	appendStringInfoString(buf, value ? "true" : "false");
}

/* Adds "key": ["a", "b"] (or null). */
static void
JsonStrArray(StringInfo buf, const char *key, char **values, int n, bool isnull)
{
	JsonKey(buf, key);
	if (isnull)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	appendStringInfoChar(buf, '[');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		escape_json(buf, values[i]);
	}
	appendStringInfoChar(buf, ']');
}

/* Appends "a, b, c". */
static void
AppendJoined(StringInfo buf, char **values, int n, const char *sep)
{
	for (int i = 0; i < n; i++)
		appendStringInfo(buf, "%s%s", i > 0 ? sep : "", values[i]);
}

/* ---- the queries ---- */

/* Extension membership test for an object of catalog cls with oid expression oidexpr. */
#define NOT_MEMBER(cls, oidexpr) \
	" NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend mbr" \
	"  WHERE mbr.classid = '" cls "'::pg_catalog.regclass AND mbr.objid = " oidexpr \
	"    AND mbr.deptype = 'e')"

/* Description join for an object of catalog cls. */
#define DESCRIPTION(alias, cls, oidexpr, subid) \
	" LEFT JOIN pg_catalog.pg_description " alias " ON " alias ".classoid = '" cls "'::pg_catalog.regclass" \
	"  AND " alias ".objoid = " oidexpr " AND " alias ".objsubid = " subid

/*
 * Tracked schemas.  The search_path is pinned to pg_catalog while the
 * capture runs, so unqualified operators can only be pg_catalog's.
 */
static const char *const q_namespaces =
"SELECT n.oid, n.nspname, n.nspowner, n.nspacl, d.description,"
NOT_MEMBER("pg_catalog.pg_namespace", "n.oid")
"  FROM pg_catalog.pg_namespace n"
DESCRIPTION("d", "pg_catalog.pg_namespace", "n.oid", "0")
" WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"
"   AND n.nspname <> '" MO_SCHEMA "'";

/* Relations: tables, partitioned tables, views, materialized views, sequences, foreign tables. */
static const char *const q_relations =
"WITH inh AS ("
"  SELECT i.inhrelid, pg_catalog.string_agg(pg_catalog.quote_ident(pn.nspname) || '.' ||"
"         pg_catalog.quote_ident(p.relname), ', ' ORDER BY i.inhseqno) AS parents"
"    FROM pg_catalog.pg_inherits i"
"    JOIN pg_catalog.pg_class p ON p.oid = i.inhparent"
"    JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace"
"   WHERE p.relkind IN ('r', 'p', 'f')"
"   GROUP BY i.inhrelid)"
"SELECT c.oid, c.relkind, n.nspname, c.relname, c.relpersistence, c.relispartition,"	/* 1-6 */
"       c.relrowsecurity, c.relforcerowsecurity, c.relreplident,"	/* 7-9 */
"       CASE WHEN c.reloptions IS NOT NULL THEN ARRAY(SELECT o FROM pg_catalog.unnest(c.reloptions) o"
"            ORDER BY o COLLATE \"C\") END,"	/* 10 */
"       CASE WHEN c.relkind IN ('r', 'm') AND am.amname <> 'heap' THEN am.amname END,"	/* 11 */
"       ts.spcname,"				/* 12 */
"       CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,"	/* 13 */
"       inh.parents,"			/* 14 */
"       CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END,"	/* 15 */
"       CASE WHEN c.reloftype <> 0 THEN pg_catalog.format_type(c.reloftype, NULL) END,"	/* 16 */
"       CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END,"	/* 17 */
"       CASE WHEN c.relkind = 'S' THEN pg_catalog.format_type(s.seqtypid, NULL) END,"	/* 18 */
"       s.seqincrement, s.seqmin, s.seqmax, s.seqstart, s.seqcache, s.seqcycle,"	/* 19-24 */
"       CASE WHEN c.relkind = 'S' THEN (SELECT pg_catalog.quote_ident(obn.nspname) || '.' ||"
"            pg_catalog.quote_ident(obc.relname) || '.' || pg_catalog.quote_ident(oba.attname)"
"            FROM pg_catalog.pg_depend ob"
"            JOIN pg_catalog.pg_class obc ON obc.oid = ob.refobjid"
"            JOIN pg_catalog.pg_namespace obn ON obn.oid = obc.relnamespace"
"            JOIN pg_catalog.pg_attribute oba ON oba.attrelid = ob.refobjid AND oba.attnum = ob.refobjsubid"
"           WHERE ob.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND ob.objid = c.oid"
"             AND ob.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
"             AND ob.refobjsubid > 0 AND ob.deptype = 'a' LIMIT 1) END,"	/* 25 */
"       srv.srvname,"			/* 26 */
"       CASE WHEN ft.ftoptions IS NOT NULL THEN ARRAY(SELECT o FROM pg_catalog.unnest(ft.ftoptions) o"
"            ORDER BY o COLLATE \"C\") END,"	/* 27 */
"       CASE WHEN c.relreplident = 'i' THEN (SELECT ri.relname FROM pg_catalog.pg_index x"
"            JOIN pg_catalog.pg_class ri ON ri.oid = x.indexrelid"
"           WHERE x.indrelid = c.oid AND x.indisreplident LIMIT 1) END,"	/* 28 */
"       c.relowner, c.relacl, d.description"	/* 29-31 */
"  FROM pg_catalog.pg_class c"
"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
"  LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam"
"  LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = c.reltablespace"
"  LEFT JOIN inh ON inh.inhrelid = c.oid"
"  LEFT JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid"
"  LEFT JOIN pg_catalog.pg_foreign_table ft ON ft.ftrelid = c.oid"
"  LEFT JOIN pg_catalog.pg_foreign_server srv ON srv.oid = ft.ftserver"
DESCRIPTION("d", "pg_catalog.pg_class", "c.oid", "0")
" WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
"   AND c.relnamespace = ANY ($1) AND" NOT_MEMBER("pg_catalog.pg_class", "c.oid")
"   AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend e"
"        WHERE e.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND e.objid = c.oid"
"          AND e.deptype = 'i'))";

/* Columns of tables (and, for their comments and privileges, of views and composite types). */
static const char *const q_columns =
"SELECT c.relkind, n.nspname, c.relname, a.attname,"	/* 1-4 */
"       a.atttypid, a.attnotnull, ad.adbin,"	/* 5-7: format_type, pg_get_expr in C */
"       a.attidentity, a.attgenerated,"	/* 8-9 */
"       CASE WHEN a.attcollation <> t.typcollation THEN pg_catalog.quote_ident(cn.nspname) || '.' ||"
"            pg_catalog.quote_ident(co.collname) END,"	/* 10 */
"       a.attacl, d.description, a.attinhcount > 0, a.attrelid, a.atttypmod"	/* 11-15 */
"  FROM pg_catalog.pg_class c"
"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
/* the tracked relations' attributes through the index, not every attribute of the database */
"  CROSS JOIN LATERAL (SELECT * FROM pg_catalog.pg_attribute a"
"        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped OFFSET 0) a"
"  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
"  LEFT JOIN pg_catalog.pg_attrdef ad ON a.atthasdef AND ad.adrelid = a.attrelid AND ad.adnum = a.attnum"
"  LEFT JOIN pg_catalog.pg_collation co ON a.attcollation <> t.typcollation AND co.oid = a.attcollation"
"  LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace"
DESCRIPTION("d", "pg_catalog.pg_class", "a.attrelid", "a.attnum")
" WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'c')"
"   AND c.relnamespace = ANY ($1) AND" NOT_MEMBER("pg_catalog.pg_class", "c.oid")
"   AND (c.relkind <> 'c' OR" NOT_MEMBER("pg_catalog.pg_type", "c.reltype") ")"
"   AND (c.relkind IN ('r', 'p', 'f') OR a.attacl IS NOT NULL OR d.description IS NOT NULL)";

/*
 * Constraints of tables and domains (constraint triggers are triggers).
 * Inherited ones count on each table, like columns, for the same reason.
 */
static const char *const q_constraints =
"SELECT k.contype, k.conname,"	/* 1-2 */
"       CASE WHEN k.conrelid <> 0 THEN pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname)"
"            ELSE pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.typname) END,"	/* 3 */
"       CASE WHEN k.conrelid <> 0 THEN c.relkind ELSE 'd' END,"	/* 4 */
"       pg_catalog.pg_get_constraintdef(k.oid), d.description,"	/* 5-6 */
"       k.coninhcount > 0 OR k.conparentid <> 0"	/* 7 */
"  FROM pg_catalog.pg_constraint k"
"  LEFT JOIN pg_catalog.pg_class c ON c.oid = k.conrelid"
"  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
"  LEFT JOIN pg_catalog.pg_type t ON t.oid = k.contypid"
"  LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace"
DESCRIPTION("d", "pg_catalog.pg_constraint", "k.oid", "0")
" WHERE k.contype <> 't'"
"   AND ((k.conrelid <> 0 AND c.relnamespace = ANY ($1)"
"         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint pk"	/* a foreign key's clones for */
"              WHERE pk.oid = k.conparentid AND pk.conrelid = k.conrelid)"	/* referenced partitions */
"         AND c.relkind IN ('r', 'p', 'f') AND" NOT_MEMBER("pg_catalog.pg_class", "c.oid") ")"
"     OR (k.contypid <> 0 AND t.typnamespace = ANY ($1) AND" NOT_MEMBER("pg_catalog.pg_type", "t.oid") "))";

/* Indexes that do not implement a constraint (partitions of another index included). */
static const char *const q_indexes =
"SELECT n.nspname, ic.relname, tc.relname, tc.relkind,"	/* 1-4 */
"       pg_catalog.pg_get_indexdef(i.indexrelid), ts.spcname, d.description, ic.relispartition"	/* 5-8 */
"  FROM pg_catalog.pg_index i"
"  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid"
"  JOIN pg_catalog.pg_class tc ON tc.oid = i.indrelid"
"  JOIN pg_catalog.pg_namespace n ON n.oid = tc.relnamespace"
"  LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = ic.reltablespace"
DESCRIPTION("d", "pg_catalog.pg_class", "ic.oid", "0")
" WHERE tc.relnamespace = ANY ($1) AND tc.relkind IN ('r', 'p', 'm')"
"   AND" NOT_MEMBER("pg_catalog.pg_class", "tc.oid")
"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x"
"        WHERE x.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND x.objid = i.indexrelid"
"          AND x.refclassid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND x.deptype = 'i')";

/*
 * User triggers (not internal, not clones on partitions, not those that
 * belong to an extension through DEPENDS ON EXTENSION, such as the
 * triggers migrate_ops puts on deploy tools' ledger tables).
 */
static const char *const q_triggers =
"SELECT tg.tgname, n.nspname, c.relname, c.relkind,"	/* 1-4 */
"       pg_catalog.pg_get_triggerdef(tg.oid), tg.tgenabled, d.description"	/* 5-7 */
"  FROM pg_catalog.pg_trigger tg"
"  JOIN pg_catalog.pg_class c ON c.oid = tg.tgrelid"
"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
DESCRIPTION("d", "pg_catalog.pg_trigger", "tg.oid", "0")
" WHERE NOT tg.tgisinternal AND tg.tgparentid = 0"
"   AND c.relnamespace = ANY ($1) AND" NOT_MEMBER("pg_catalog.pg_class", "c.oid")
"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend xd"
"        WHERE xd.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass AND xd.objid = tg.oid"
"          AND xd.deptype = 'x')";

/* Row-level security policies. */
static const char *const q_policies =
"SELECT p.polname, n.nspname, c.relname, c.relkind, p.polcmd, p.polpermissive,"	/* 1-6 */
"       ARRAY(SELECT x FROM (SELECT CASE WHEN r = 0 THEN 'PUBLIC'"
"               ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r)) END AS x"
"               FROM pg_catalog.unnest(p.polroles) r) roles ORDER BY x COLLATE \"C\"),"	/* 7 */
"       pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid),"	/* 8-9 */
"       d.description"			/* 10 */
"  FROM pg_catalog.pg_policy p"
"  JOIN pg_catalog.pg_class c ON c.oid = p.polrelid"
"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
DESCRIPTION("d", "pg_catalog.pg_policy", "p.oid", "0")
" WHERE c.relnamespace = ANY ($1) AND" NOT_MEMBER("pg_catalog.pg_class", "c.oid");

/* Functions, procedures and aggregates. */
static const char *const q_routines =
"SELECT p.oid, p.prokind,"		/* 1-2 */
"       (pg_catalog.pg_identify_object('pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, 0)).identity,"	/* 3 */
"       CASE WHEN p.prokind <> 'a' THEN pg_catalog.pg_get_functiondef(p.oid) END,"	/* 4 */
"       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname) || '(' ||"
"         pg_catalog.pg_get_function_arguments(p.oid) || ')',"	/* 5 */
"       CASE WHEN p.prokind = 'a' THEN pg_catalog.concat_ws(', ',"
"         'SFUNC = ' || ag.aggtransfn::pg_catalog.regproc::pg_catalog.text,"
"         'STYPE = ' || pg_catalog.format_type(ag.aggtranstype, NULL),"
"         CASE WHEN ag.aggtransspace <> 0 THEN 'SSPACE = ' || ag.aggtransspace END,"
"         CASE WHEN ag.aggfinalfn <> 0 THEN 'FINALFUNC = ' || ag.aggfinalfn::pg_catalog.regproc::pg_catalog.text END,"
"         CASE WHEN ag.aggfinalextra THEN 'FINALFUNC_EXTRA' END,"
"         CASE WHEN ag.aggcombinefn <> 0 THEN 'COMBINEFUNC = ' || ag.aggcombinefn::pg_catalog.regproc::pg_catalog.text END,"
"         CASE WHEN ag.aggserialfn <> 0 THEN 'SERIALFUNC = ' || ag.aggserialfn::pg_catalog.regproc::pg_catalog.text END,"
"         CASE WHEN ag.aggdeserialfn <> 0 THEN 'DESERIALFUNC = ' || ag.aggdeserialfn::pg_catalog.regproc::pg_catalog.text END,"
"         CASE WHEN ag.agginitval IS NOT NULL THEN 'INITCOND = ' || pg_catalog.quote_literal(ag.agginitval) END,"
"         CASE WHEN ag.aggmtransfn <> 0 THEN 'MSFUNC = ' || ag.aggmtransfn::pg_catalog.regproc::pg_catalog.text END,"
"         CASE WHEN ag.aggminvtransfn <> 0 THEN 'MINVFUNC = ' || ag.aggminvtransfn::pg_catalog.regproc::pg_catalog.text END,"
"         CASE WHEN ag.aggmtranstype <> 0 THEN 'MSTYPE = ' || pg_catalog.format_type(ag.aggmtranstype, NULL) END,"
"         CASE WHEN ag.aggmfinalfn <> 0 THEN 'MFINALFUNC = ' || ag.aggmfinalfn::pg_catalog.regproc::pg_catalog.text END,"
"         CASE WHEN ag.aggminitval IS NOT NULL THEN 'MINITCOND = ' || pg_catalog.quote_literal(ag.aggminitval) END,"
"         CASE WHEN ag.aggsortop <> 0 THEN 'SORTOP = ' || ag.aggsortop::pg_catalog.regoperator::pg_catalog.text END,"
"         CASE p.proparallel WHEN 's' THEN 'PARALLEL = SAFE' WHEN 'r' THEN 'PARALLEL = RESTRICTED' END,"
"         CASE WHEN ag.aggkind = 'h' THEN 'HYPOTHETICAL' END) END,"	/* 6 */
"       p.proowner, p.proacl, d.description"	/* 7-9 */
"  FROM pg_catalog.pg_proc p"
"  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
"  LEFT JOIN pg_catalog.pg_aggregate ag ON ag.aggfnoid = p.oid"
DESCRIPTION("d", "pg_catalog.pg_proc", "p.oid", "0")
" WHERE p.pronamespace = ANY ($1) AND" NOT_MEMBER("pg_catalog.pg_proc", "p.oid")
"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend i"	/* e.g. a range type's constructors */
"        WHERE i.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND i.objid = p.oid"
"          AND i.deptype = 'i')";

/* Enum, domain, composite and range types. */
static const char *const q_types =
"SELECT t.typtype, n.nspname, t.typname, t.typowner, t.typacl, d.description,"	/* 1-6 */
"       CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT e.enumlabel::pg_catalog.text FROM pg_catalog.pg_enum e"
"            WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END,"	/* 7 */
"       CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END,"	/* 8 */
"       t.typnotnull,"			/* 9 */
"       CASE WHEN t.typdefaultbin IS NOT NULL THEN pg_catalog.pg_get_expr(t.typdefaultbin, 0) END,"	/* 10 */
"       CASE WHEN t.typtype = 'd' AND t.typcollation <> bt.typcollation THEN"
"            (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)"
"               FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace"
"              WHERE co.oid = t.typcollation) END,"	/* 11 */
"       CASE WHEN t.typtype = 'c' THEN (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname) || ' ' ||"
"            pg_catalog.format_type(a.atttypid, a.atttypmod) ||"
"            CASE WHEN a.attcollation <> at.typcollation THEN ' COLLATE ' ||"
"              (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)"
"                 FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace"
"                WHERE co.oid = a.attcollation) ELSE '' END, ', ' ORDER BY a.attnum)"
"            FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type at ON at.oid = a.atttypid"
"           WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END,"	/* 12 */
"       CASE WHEN t.typtype = 'r' THEN pg_catalog.concat_ws(', ',"
"         'SUBTYPE = ' || pg_catalog.format_type(r.rngsubtype, NULL),"
"         (SELECT 'SUBTYPE_OPCLASS = ' || pg_catalog.quote_ident(ocn.nspname) || '.' || pg_catalog.quote_ident(oc.opcname)"
"            FROM pg_catalog.pg_opclass oc JOIN pg_catalog.pg_namespace ocn ON ocn.oid = oc.opcnamespace"
"           WHERE oc.oid = r.rngsubopc AND NOT oc.opcdefault),"
"         (SELECT 'COLLATION = ' || pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)"
"            FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace"
"           WHERE co.oid = r.rngcollation AND r.rngcollation <> st.typcollation),"
"         CASE WHEN r.rngcanonical <> 0 THEN 'CANONICAL = ' || r.rngcanonical::pg_catalog.regproc::pg_catalog.text END,"
"         CASE WHEN r.rngsubdiff <> 0 THEN 'SUBTYPE_DIFF = ' || r.rngsubdiff::pg_catalog.regproc::pg_catalog.text END,"
"         'MULTIRANGE_TYPE_NAME = ' || pg_catalog.format_type(r.rngmultitypid, NULL)) END"	/* 13 */
"  FROM pg_catalog.pg_type t"
"  JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace"
"  LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype"
"  LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid"
"  LEFT JOIN pg_catalog.pg_type st ON st.oid = r.rngsubtype"
DESCRIPTION("d", "pg_catalog.pg_type", "t.oid", "0")
" WHERE t.typnamespace = ANY ($1)"
"   AND (t.typtype IN ('e', 'd', 'r')"
"        OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c"
"             WHERE c.oid = t.typrelid AND c.relkind = 'c'"
"               AND" NOT_MEMBER("pg_catalog.pg_class", "c.oid") ")))"
"   AND" NOT_MEMBER("pg_catalog.pg_type", "t.oid");

/* Extensions (all of them for the default set; else those in the listed schemas). */
static const char *const q_extensions =
"SELECT e.extname, e.extversion, n.nspname"
"  FROM pg_catalog.pg_extension e"
"  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace"
" WHERE e.extname <> '" MO_EXTENSION_NAME "' AND ($2 OR e.extnamespace = ANY ($1))";

/* Event triggers (database-wide: only for the default set). */
static const char *const q_event_triggers =
"SELECT e.evtname, e.evtevent, e.evtfoid::pg_catalog.regproc::pg_catalog.text, e.evtenabled,"
"       ARRAY(SELECT x FROM pg_catalog.unnest(e.evttags) x ORDER BY x COLLATE \"C\"),"
"       e.evttags IS NULL, d.description"
"  FROM pg_catalog.pg_event_trigger e"
DESCRIPTION("d", "pg_catalog.pg_event_trigger", "e.oid", "0")
" WHERE $2 AND" NOT_MEMBER("pg_catalog.pg_event_trigger", "e.oid");

/* ---- row handlers ---- */

/* MoKind of a relation by relkind. */
static int
RelationKind(char relkind)
{
	switch (relkind)
	{
		case 'v':
			return MO_KIND_VIEW;
		case 'm':
			return MO_KIND_MATVIEW;
		case 'S':
			return MO_KIND_SEQUENCE;
		case 'f':
			return MO_KIND_FOREIGN_TABLE;
		case 'c':
			return MO_KIND_COMPOSITE_TYPE;
		default:
			return MO_KIND_TABLE;
	}
}

/* The SQL keyword naming an object of kind (COMMENT ON / ALTER ... OWNER TO). */
static const char *
KindKeyword(int kind)
{
	switch (kind)
	{
		case MO_KIND_VIEW:
			return "VIEW";
		case MO_KIND_MATVIEW:
			return "MATERIALIZED VIEW";
		case MO_KIND_SEQUENCE:
			return "SEQUENCE";
		case MO_KIND_FOREIGN_TABLE:
			return "FOREIGN TABLE";
		case MO_KIND_FUNCTION:
			return "FUNCTION";
		case MO_KIND_PROCEDURE:
			return "PROCEDURE";
		case MO_KIND_AGGREGATE:
			return "AGGREGATE";
		case MO_KIND_DOMAIN:
			return "DOMAIN";
		case MO_KIND_ENUM:
		case MO_KIND_COMPOSITE_TYPE:
		case MO_KIND_TYPE:
			return "TYPE";
		case MO_KIND_SCHEMA:
			return "SCHEMA";
		case MO_KIND_INDEX:
			return "INDEX";
		case MO_KIND_EVENT_TRIGGER:
			return "EVENT TRIGGER";
		case MO_KIND_EXTENSION:
			return "EXTENSION";
		default:
			return "TABLE";
	}
}

/* A row of q_namespaces: the schema itself, its comment and privileges. */
static void
HandleNamespace(Capture *cap)
{
	char	   *identity = (char *) quote_identifier(Str(cap, 2));
	char	   *target = psprintf("SCHEMA %s", identity);

	if (!Bool(cap, 6))
		return;					/* created by an extension: counts as the extension */
	Emit(cap, MO_KIND_SCHEMA, identity, -1, NULL,
		 psprintf("CREATE SCHEMA %s", identity), NULL,
		 WANT_DROP(cap) ? psprintf("DROP SCHEMA IF EXISTS %s", identity) : NULL, 0);
	EmitComment(cap, MO_KIND_SCHEMA, identity, target, MO_KIND_SCHEMA, identity, Str(cap, 5));
	EmitPrivileges(cap, MO_KIND_SCHEMA, identity, target, psprintf("ALTER %s", target), OidCol(cap, 3), 4,
				   OBJECT_SCHEMA, NULL, MO_KIND_SCHEMA, identity);
}

/* A row of q_relations. */
static void
HandleRelation(Capture *cap)
{
	char		relkind = Char(cap, 2);
	int			kind = RelationKind(relkind);
	char	   *identity = Qual(Str(cap, 3), Str(cap, 4));
	char		persistence = Char(cap, 5);
	bool		ispartition = Bool(cap, 6);
	int			nopts;
	char	  **opts = TextArray(cap, 10, &nopts);
	char	   *am = Str(cap, 11);
	char	   *tablespace = Str(cap, 12);
	char	   *partkey = Str(cap, 13);
	char	   *parents = Str(cap, 14);
	char	   *bound = Str(cap, 15);
	char	   *oftype = Str(cap, 16);
	char	   *keyword = (char *) KindKeyword(kind);
	StringInfoData def;
	StringInfoData detail;
	char	   *drop;
	int64		ord = 0;

	initStringInfo(&def);
	initStringInfo(&detail);
	appendStringInfoChar(&detail, '{');
	drop = WANT_DROP(cap) ? psprintf("DROP %s IF EXISTS %s", keyword, identity) : NULL;

	if (kind == MO_KIND_TABLE || kind == MO_KIND_FOREIGN_TABLE)
	{
		char		replident = Char(cap, 9);
		char	   *server = Str(cap, 26);
		int			nfopts;
		char	  **fopts = TextArray(cap, 27, &nfopts);

		appendStringInfo(&def, "CREATE %s%s %s",
						 persistence == 'u' ? "UNLOGGED " : "", keyword, identity);
		if (ispartition)
			appendStringInfo(&def, " PARTITION OF %s %s", parents ? parents : "?", bound ? bound : "");
		else if (oftype)
			appendStringInfo(&def, " OF %s", oftype);
		else
			appendStringInfoString(&def, " (...)");
		if (!ispartition && parents)
			appendStringInfo(&def, " INHERITS (%s)", parents);
		if (partkey)
			appendStringInfo(&def, " PARTITION BY %s", partkey);
		if (server)
			appendStringInfo(&def, " SERVER %s", quote_identifier(server));
		if (nfopts > 0)
		{
			appendStringInfoString(&def, " OPTIONS (");
			for (int i = 0; i < nfopts; i++)
			{
				char	   *eq = strchr(fopts[i], '=');

				if (eq)
					*eq = '\0';
				appendStringInfo(&def, "%s%s %s", i ? ", " : "", quote_identifier(fopts[i]),
								 quote_literal_cstr(eq ? eq + 1 : ""));
			}
			appendStringInfoChar(&def, ')');
		}
		if (am)
			appendStringInfo(&def, " USING %s", quote_identifier(am));
		if (nopts > 0)
		{
			appendStringInfoString(&def, " WITH (");
			AppendJoined(&def, opts, nopts, ", ");
			appendStringInfoChar(&def, ')');
		}
		if (tablespace)
			appendStringInfo(&def, " TABLESPACE %s", quote_identifier(tablespace));
		if (Bool(cap, 7))
			appendStringInfo(&def, ";\nALTER TABLE %s ENABLE ROW LEVEL SECURITY", identity);
		if (Bool(cap, 8))
			appendStringInfo(&def, ";\nALTER TABLE %s FORCE ROW LEVEL SECURITY", identity);
		if (replident == 'f')
			appendStringInfo(&def, ";\nALTER TABLE %s REPLICA IDENTITY FULL", identity);
		else if (replident == 'n')
			appendStringInfo(&def, ";\nALTER TABLE %s REPLICA IDENTITY NOTHING", identity);
		else if (replident == 'i')
			appendStringInfo(&def, ";\nALTER TABLE %s REPLICA IDENTITY USING INDEX %s", identity,
							 quote_identifier(Str(cap, 28) ? Str(cap, 28) : "?"));

		if (cap->flags & MO_CAPTURE_DETAIL)
		{
			char		rs[2] = {replident, '\0'};
			char		ps[2] = {persistence, '\0'};

			JsonStr(&detail, "persistence", ps);
			JsonStrArray(&detail, "reloptions", opts, nopts, false);
			JsonBool(&detail, "rls", Bool(cap, 7));
			JsonBool(&detail, "force_rls", Bool(cap, 8));
			JsonStr(&detail, "replica_identity", rs);
			JsonStr(&detail, "replica_index", Str(cap, 28) ? quote_identifier(Str(cap, 28)) : NULL);
			JsonStr(&detail, "partition_of", ispartition ? parents : NULL);
			JsonStr(&detail, "bound", bound);
			JsonStr(&detail, "inherits", ispartition ? NULL : parents);
			JsonStr(&detail, "partition_by", partkey);
			JsonStr(&detail, "of", oftype);
			JsonStr(&detail, "access_method", am);
			JsonStr(&detail, "tablespace", tablespace ? quote_identifier(tablespace) : NULL);
		}
	}
	else if (kind == MO_KIND_VIEW || kind == MO_KIND_MATVIEW)
	{
		appendStringInfo(&def, "CREATE %s %s", keyword, identity);
		if (am)
			appendStringInfo(&def, " USING %s", quote_identifier(am));
		if (nopts > 0)
		{
			appendStringInfoString(&def, " WITH (");
			AppendJoined(&def, opts, nopts, ", ");
			appendStringInfoChar(&def, ')');
		}
		if (tablespace)
			appendStringInfo(&def, " TABLESPACE %s", quote_identifier(tablespace));
		appendStringInfo(&def, " AS\n%s", TrimStatement(Str(cap, 17)));
		ord = (int64) OidCol(cap, 1);
	}
	else if (kind == MO_KIND_SEQUENCE)
	{
		char	   *owned = Str(cap, 25);
		char	   *options = psprintf("AS %s INCREMENT BY %s MINVALUE %s MAXVALUE %s START WITH %s CACHE %s %s",
									   Str(cap, 18), Str(cap, 19), Str(cap, 20), Str(cap, 21),
									   Str(cap, 22), Str(cap, 23), Bool(cap, 24) ? "CYCLE" : "NO CYCLE");

		appendStringInfo(&def, "CREATE %sSEQUENCE %s %s",
						 persistence == 'u' ? "UNLOGGED " : "", identity, options);
		if (owned)
			appendStringInfo(&def, ";\nALTER SEQUENCE %s OWNED BY %s", identity, owned);
		if (cap->flags & MO_CAPTURE_DETAIL)
		{
			JsonStr(&detail, "options", options);
			JsonStr(&detail, "owned_by", owned);
		}
	}
	appendStringInfoChar(&detail, '}');

	Emit(cap, kind, identity, -1, NULL, def.data,
		 detail.len > 2 ? detail.data : NULL, drop, ord);
	if (!cap->isnull[30])
		EmitComment(cap, kind, identity, psprintf("%s %s", keyword, identity),
					kind, identity, Str(cap, 31));
	EmitPrivileges(cap, kind, identity,
				   psprintf("%s %s", kind == MO_KIND_SEQUENCE ? "SEQUENCE" : "TABLE", identity),
				   psprintf("ALTER %s %s", keyword, identity),
				   OidCol(cap, 29), 30,
				   kind == MO_KIND_SEQUENCE ? OBJECT_SEQUENCE : OBJECT_TABLE,
				   NULL, kind, identity);
}

/* A cached format_type() result. */
typedef struct TypeNameEntry
{
	Oid			typid;			/* key: type and typmod */
	int32		typmod;
	char	   *name;
} TypeNameEntry;

/* A cached deparsed column default. */
typedef struct DefaultEntry
{
	uint32		hash;			/* key: hash of the node tree's text */
	List	   *items;			/* (node tree text, deparsed) pairs with that hash */
} DefaultEntry;

/*
 * format_type(atttypid, atttypmod) of the current column, computed once per
 * type and typmod in a query (thousands of columns share a handful).
 */
static char *
ColumnTypeName(Capture *cap, Oid typid, int32 typmod)
{
	TypeNameEntry key;
	TypeNameEntry *entry;
	bool		found;

	if (cap->types == NULL)
	{
		HASHCTL		ctl = {0};

		ctl.keysize = offsetof(TypeNameEntry, name);
		ctl.entrysize = sizeof(TypeNameEntry);
		ctl.hcxt = cap->querycxt;
		cap->types = hash_create("migrate_ops type names", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.typid = typid;
	key.typmod = typmod;
	entry = hash_search(cap->types, &key, HASH_ENTER, &found);
	if (!found)
		entry->name = MemoryContextStrdup(cap->querycxt,
										  format_type_extended(typid, typmod,
															   FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_ALLOW_INVALID));
	return entry->name;
}

/*
 * pg_get_expr() of the current column's default (column 7, relation
 * column 14), or NULL.  A default is never about a column, so its text is
 * computed once per distinct node tree in a query; a generation expression
 * is deparsed with its table.
 */
static char *
DefaultExpr(Capture *cap, bool generated)
{
	text	   *adbin;
	uint32		hash;
	DefaultEntry *entry;
	bool		found;
	ListCell   *lc;
	char	   *deparsed;

	if (cap->isnull[6])
		return NULL;
	adbin = DatumGetTextPP(cap->values[6]);
	if (generated)
		return TextDatumGetCString(DirectFunctionCall2(pg_get_expr, PointerGetDatum(adbin),
													   cap->values[13]));
	if (cap->defaults == NULL)
	{
		HASHCTL		ctl = {0};

		ctl.keysize = sizeof(uint32);
		ctl.entrysize = sizeof(DefaultEntry);
		ctl.hcxt = cap->querycxt;
		cap->defaults = hash_create("migrate_ops column defaults", 64, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	hash = hash_bytes((const unsigned char *) VARDATA_ANY(adbin), VARSIZE_ANY_EXHDR(adbin));
	entry = hash_search(cap->defaults, &hash, HASH_ENTER, &found);
	if (!found)
		entry->items = NIL;
	for (lc = list_head(entry->items); lc != NULL; lc = lnext(entry->items, lnext(entry->items, lc)))
	{
		text	   *key = (text *) lfirst(lc);

		if (VARSIZE_ANY_EXHDR(key) == VARSIZE_ANY_EXHDR(adbin) &&
			memcmp(VARDATA_ANY(key), VARDATA_ANY(adbin), VARSIZE_ANY_EXHDR(adbin)) == 0)
			return (char *) lfirst(lnext(entry->items, lc));
	}
	deparsed = TextDatumGetCString(DirectFunctionCall2(pg_get_expr, PointerGetDatum(adbin),
													   ObjectIdGetDatum(InvalidOid)));
	{
		MemoryContext old = MemoryContextSwitchTo(cap->querycxt);

		entry->items = lappend(entry->items, DatumGetPointer(datumCopy(PointerGetDatum(adbin), false, -1)));
		entry->items = lappend(entry->items, pstrdup(deparsed));
		MemoryContextSwitchTo(old);
	}
	return deparsed;
}

/* A row of q_columns: the column (of a table), its comment and privileges. */
static void
HandleColumn(Capture *cap)
{
	char		relkind = Char(cap, 1);
	int			parent_kind = RelationKind(relkind);
	char	   *parent;
	char	   *column = (char *) quote_identifier(Str(cap, 4));
	char	   *identity;

	/* rows come table by table: the table's identity is built once */
	if (OidCol(cap, 14) != cap->last_relid || cap->last_parent == NULL)
	{
		cap->last_relid = OidCol(cap, 14);
		cap->last_parent = MemoryContextStrdup(cap->querycxt, Qual(Str(cap, 2), Str(cap, 3)));
	}
	parent = cap->last_parent;
	identity = psprintf("%s.%s", parent, column);

	/*
	 * Every column of a table counts, inherited or not: pg_dump re-creates
	 * partitions as tables that are attached afterwards, which makes their
	 * columns local, so attislocal is no part of a column's identity.
	 */
	if (relkind == 'r' || relkind == 'p' || relkind == 'f')
	{
		char		identityc = Char(cap, 8);
		char		generated = Char(cap, 9);
		char	   *type = ColumnTypeName(cap, OidCol(cap, 5), DatumGetInt32(cap->values[14]));
		bool		notnull = Bool(cap, 6);
		char	   *defexpr = DefaultExpr(cap, generated == 's');
		char	   *collation = Str(cap, 10);
		StringInfoData def;
		StringInfoData detail;

		initStringInfo(&def);
		appendStringInfoString(&def, type);
		if (collation)
			appendStringInfo(&def, " COLLATE %s", collation);
		if (generated == 's')
			appendStringInfo(&def, " GENERATED ALWAYS AS (%s) STORED", defexpr ? defexpr : "");
		else if (defexpr)
			appendStringInfo(&def, " DEFAULT %s", defexpr);
		if (identityc == 'a')
			appendStringInfoString(&def, " GENERATED ALWAYS AS IDENTITY");
		else if (identityc == 'd')
			appendStringInfoString(&def, " GENERATED BY DEFAULT AS IDENTITY");
		if (notnull)
			appendStringInfoString(&def, " NOT NULL");

		detail.len = 0;
		if (WANT_DETAIL(cap))
		{
			char		ids[2] = {identityc, '\0'};

			initStringInfo(&detail);
			appendStringInfoChar(&detail, '{');
			JsonStr(&detail, "type", type);
			JsonStr(&detail, "collation", collation);
			JsonBool(&detail, "not_null", notnull);
			JsonStr(&detail, "default", generated == 's' ? NULL : defexpr);
			JsonStr(&detail, "identity", ids);
			JsonStr(&detail, "generated", generated == 's' ? defexpr : NULL);
			appendStringInfoChar(&detail, '}');
		}
		Emit(cap, MO_KIND_COLUMN, identity, parent_kind, parent, def.data,
			 detail.len ? detail.data : NULL,
			 WANT_DROP(cap) ? psprintf("ALTER %s %s DROP COLUMN IF EXISTS %s",
									   relkind == 'f' ? "FOREIGN TABLE" : "TABLE", parent, column) : NULL,
			 Bool(cap, 13) ? MO_ORD_INHERITED : 0);
	}
	if (!cap->isnull[11])
		EmitComment(cap, MO_KIND_COLUMN, identity, psprintf("COLUMN %s", identity),
					parent_kind, parent, Str(cap, 12));
	if (relkind != 'c' && !cap->isnull[10])
		EmitPrivileges(cap, MO_KIND_COLUMN, identity, psprintf("TABLE %s", parent), NULL,
					   InvalidOid, 11, OBJECT_COLUMN, column, parent_kind, parent);
}

/* A row of q_constraints. */
static void
HandleConstraint(Capture *cap)
{
	char		contype = Char(cap, 1);
	char	   *name = (char *) quote_identifier(Str(cap, 2));
	char	   *parent = Str(cap, 3);
	char		relkind = Char(cap, 4);
	bool		domain = (relkind == 'd');
	int			parent_kind = domain ? MO_KIND_DOMAIN : RelationKind(relkind);
	char	   *identity = psprintf("%s on %s", name, parent);
	const char *alter = domain ? "DOMAIN" : (relkind == 'f' ? "FOREIGN TABLE" : "TABLE");
	int64		ord;

	switch (contype)
	{
		case 'p':
			ord = 1;
			break;
		case 'u':
			ord = 2;
			break;
		case 'x':
			ord = 3;
			break;
		case 'f':
			ord = 5;
			break;
		default:
			ord = 4;
			break;
	}
	if (Bool(cap, 7))
		ord |= MO_ORD_INHERITED;
	Emit(cap, MO_KIND_CONSTRAINT, identity, parent_kind, parent,
		 psprintf("ALTER %s %s ADD CONSTRAINT %s %s", alter, parent, name, Str(cap, 5)),
		 NULL,
		 WANT_DROP(cap) ? psprintf("ALTER %s %s DROP CONSTRAINT IF EXISTS %s", alter, parent, name) : NULL,
		 ord);
	if (!cap->isnull[5])
		EmitComment(cap, MO_KIND_CONSTRAINT, identity,
				psprintf("CONSTRAINT %s ON %s%s", name, domain ? "DOMAIN " : "", parent),
				parent_kind, parent, Str(cap, 6));
}

/* A row of q_indexes. */
static void
HandleIndex(Capture *cap)
{
	char	   *nsp = Str(cap, 1);
	char	   *name = Str(cap, 2);
	char	   *identity = Qual(nsp, name);
	char	   *parent = Qual(nsp, Str(cap, 3));
	int			parent_kind = RelationKind(Char(cap, 4));
	char	   *def = Str(cap, 5);
	char	   *tablespace = Str(cap, 6);

	/*
	 * An index of a partitioned table prints as "ON ONLY parent"; created
	 * that way it would stay invalid, so the definition says "ON parent".
	 */
	if (Char(cap, 4) == 'p')
	{
		char	   *prefix = psprintf(" INDEX %s ON ONLY ", quote_identifier(name));
		char	   *at = strstr(def, prefix);

		if (at)
		{
			size_t		keep = (at - def) + strlen(prefix) - strlen("ONLY ");

			def = psprintf("%.*s%s", (int) keep, def, at + strlen(prefix));
		}
	}
	if (tablespace)
		def = psprintf("%s TABLESPACE %s", def, quote_identifier(tablespace));
	Emit(cap, MO_KIND_INDEX, identity, parent_kind, parent, def, NULL,
		 WANT_DROP(cap) ? psprintf("DROP INDEX IF EXISTS %s", identity) : NULL,
		 Bool(cap, 8) ? MO_ORD_INHERITED : 0);
	if (!cap->isnull[6])
		EmitComment(cap, MO_KIND_INDEX, identity, psprintf("INDEX %s", identity),
				parent_kind, parent, Str(cap, 7));
}

/* A row of q_triggers. */
static void
HandleTrigger(Capture *cap)
{
	char	   *name = (char *) quote_identifier(Str(cap, 1));
	char	   *parent = Qual(Str(cap, 2), Str(cap, 3));
	int			parent_kind = RelationKind(Char(cap, 4));
	char	   *identity = psprintf("%s on %s", name, parent);
	char		enabled = Char(cap, 6);
	char	   *def = Str(cap, 5);

	if (enabled == 'D')
		def = psprintf("%s;\nALTER TABLE %s DISABLE TRIGGER %s", def, parent, name);
	else if (enabled == 'R')
		def = psprintf("%s;\nALTER TABLE %s ENABLE REPLICA TRIGGER %s", def, parent, name);
	else if (enabled == 'A')
		def = psprintf("%s;\nALTER TABLE %s ENABLE ALWAYS TRIGGER %s", def, parent, name);
	Emit(cap, MO_KIND_TRIGGER, identity, parent_kind, parent, def, NULL,
		 psprintf("DROP TRIGGER IF EXISTS %s ON %s", name, parent), 0);
	EmitComment(cap, MO_KIND_TRIGGER, identity, psprintf("TRIGGER %s ON %s", name, parent),
				parent_kind, parent, Str(cap, 7));
}

/* A row of q_policies. */
static void
HandlePolicy(Capture *cap)
{
	char	   *name = (char *) quote_identifier(Str(cap, 1));
	char	   *parent = Qual(Str(cap, 2), Str(cap, 3));
	int			parent_kind = RelationKind(Char(cap, 4));
	char	   *identity = psprintf("%s on %s", name, parent);
	const char *cmd;
	int			nroles;
	char	  **roles = TextArray(cap, 7, &nroles);
	char	   *qual = Str(cap, 8);
	char	   *check = Str(cap, 9);
	StringInfoData def;

	switch (Char(cap, 5))
	{
		case 'r':
			cmd = "SELECT";
			break;
		case 'a':
			cmd = "INSERT";
			break;
		case 'w':
			cmd = "UPDATE";
			break;
		case 'd':
			cmd = "DELETE";
			break;
		default:
			cmd = "ALL";
			break;
	}
	initStringInfo(&def);
	appendStringInfo(&def, "CREATE POLICY %s ON %s AS %s FOR %s TO ", name, parent,
					 Bool(cap, 6) ? "PERMISSIVE" : "RESTRICTIVE", cmd);
	AppendJoined(&def, roles, nroles, ", ");
	if (qual)
		appendStringInfo(&def, " USING (%s)", qual);
	if (check)
		appendStringInfo(&def, " WITH CHECK (%s)", check);
	Emit(cap, MO_KIND_POLICY, identity, parent_kind, parent, def.data, NULL,
		 psprintf("DROP POLICY IF EXISTS %s ON %s", name, parent), 0);
	EmitComment(cap, MO_KIND_POLICY, identity, psprintf("POLICY %s ON %s", name, parent),
				parent_kind, parent, Str(cap, 10));
}

/* A row of q_routines: function, procedure or aggregate. */
static void
HandleRoutine(Capture *cap)
{
	char		prokind = Char(cap, 2);
	int			kind = prokind == 'p' ? MO_KIND_PROCEDURE :
		(prokind == 'a' ? MO_KIND_AGGREGATE : MO_KIND_FUNCTION);
	char	   *identity = Str(cap, 3);
	char	   *signature = Str(cap, 5);
	char	   *def;
	char	   *named;			/* how DROP/COMMENT/ALTER name it */

	if (kind == MO_KIND_AGGREGATE)
	{
		def = psprintf("CREATE AGGREGATE %s (%s)", signature, Str(cap, 6));
		named = signature;
	}
	else
	{
		def = TrimStatement(Str(cap, 4));
		named = identity;
	}
	Emit(cap, kind, identity, -1, NULL, def, NULL,
		 psprintf("DROP %s IF EXISTS %s", KindKeyword(kind), named), (int64) OidCol(cap, 1));
	EmitComment(cap, kind, identity, psprintf("%s %s", KindKeyword(kind), named),
				kind, identity, Str(cap, 9));
	EmitPrivileges(cap, kind, identity,
				   psprintf("%s %s", kind == MO_KIND_PROCEDURE ? "PROCEDURE" : "FUNCTION", identity),
				   psprintf("ALTER %s %s", KindKeyword(kind), named),
				   OidCol(cap, 7), 8, OBJECT_FUNCTION, NULL, kind, identity);
}

/* A row of q_types: enum, domain, composite or range type. */
static void
HandleType(Capture *cap)
{
	char		typtype = Char(cap, 1);
	int			kind;
	char	   *identity = Qual(Str(cap, 2), Str(cap, 3));
	StringInfoData def;
	StringInfoData detail;

	initStringInfo(&def);
	initStringInfo(&detail);
	appendStringInfoChar(&detail, '{');
	switch (typtype)
	{
		case 'e':
			{
				int			n;
				char	  **labels = TextArray(cap, 7, &n);

				kind = MO_KIND_ENUM;
				appendStringInfo(&def, "CREATE TYPE %s AS ENUM (", identity);
				for (int i = 0; i < n; i++)
					appendStringInfo(&def, "%s%s", i ? ", " : "", quote_literal_cstr(labels[i]));
				appendStringInfoChar(&def, ')');
				JsonStrArray(&detail, "labels", labels, n, false);
				break;
			}
		case 'd':
			{
				char	   *base = Str(cap, 8);
				char	   *collation = Str(cap, 11);
				char	   *defexpr = Str(cap, 10);
				bool		notnull = Bool(cap, 9);

				kind = MO_KIND_DOMAIN;
				appendStringInfo(&def, "CREATE DOMAIN %s AS %s", identity, base);
				if (collation)
					appendStringInfo(&def, " COLLATE %s", collation);
				if (defexpr)
					appendStringInfo(&def, " DEFAULT %s", defexpr);
				if (notnull)
					appendStringInfoString(&def, " NOT NULL");
				JsonStr(&detail, "type", base);
				JsonStr(&detail, "collation", collation);
				JsonStr(&detail, "default", defexpr);
				JsonBool(&detail, "not_null", notnull);
				break;
			}
		case 'c':
			kind = MO_KIND_COMPOSITE_TYPE;
			appendStringInfo(&def, "CREATE TYPE %s AS (%s)", identity, Str(cap, 12) ? Str(cap, 12) : "");
			break;
		default:
			kind = MO_KIND_TYPE;
			appendStringInfo(&def, "CREATE TYPE %s AS RANGE (%s)", identity, Str(cap, 13));
			break;
	}
	appendStringInfoChar(&detail, '}');
	Emit(cap, kind, identity, -1, NULL, def.data,
		 (cap->flags & MO_CAPTURE_DETAIL) && detail.len > 2 ? detail.data : NULL,
		 psprintf("DROP %s IF EXISTS %s", KindKeyword(kind), identity), 0);
	EmitComment(cap, kind, identity, psprintf("%s %s", KindKeyword(kind), identity),
				kind, identity, Str(cap, 6));
	EmitPrivileges(cap, kind, identity, psprintf("%s %s", KindKeyword(kind), identity),
				   psprintf("ALTER %s %s", KindKeyword(kind), identity),
				   OidCol(cap, 4), 5, OBJECT_TYPE, NULL, kind, identity);
}

/* A row of q_extensions: the extension stands for every object it owns. */
static void
HandleExtension(Capture *cap)
{
	char	   *identity = (char *) quote_identifier(Str(cap, 1));
	char	   *version = Str(cap, 2);
	char	   *schema = (char *) quote_identifier(Str(cap, 3));
	StringInfoData detail;

	initStringInfo(&detail);
	appendStringInfoChar(&detail, '{');
	JsonStr(&detail, "schema", schema);
	JsonStr(&detail, "version", version);
	appendStringInfoChar(&detail, '}');
	Emit(cap, MO_KIND_EXTENSION, identity, -1, NULL,
		 psprintf("CREATE EXTENSION %s WITH SCHEMA %s VERSION %s", identity, schema,
				  quote_literal_cstr(version)),
		 detail.data, psprintf("DROP EXTENSION IF EXISTS %s", identity), 0);
}

/* A row of q_event_triggers. */
static void
HandleEventTrigger(Capture *cap)
{
	char	   *identity = (char *) quote_identifier(Str(cap, 1));
	char		enabled = Char(cap, 4);
	StringInfoData def;

	initStringInfo(&def);
	appendStringInfo(&def, "CREATE EVENT TRIGGER %s ON %s", identity, quote_identifier(Str(cap, 2)));
	if (!Bool(cap, 6))
	{
		int			n;
		char	  **tags = TextArray(cap, 5, &n);

		appendStringInfoString(&def, " WHEN TAG IN (");
		for (int i = 0; i < n; i++)
			appendStringInfo(&def, "%s%s", i ? ", " : "", quote_literal_cstr(tags[i]));
		appendStringInfoChar(&def, ')');
	}
	appendStringInfo(&def, " EXECUTE FUNCTION %s()", Str(cap, 3));
	if (enabled == 'D')
		appendStringInfo(&def, ";\nALTER EVENT TRIGGER %s DISABLE", identity);
	else if (enabled == 'R')
		appendStringInfo(&def, ";\nALTER EVENT TRIGGER %s ENABLE REPLICA", identity);
	else if (enabled == 'A')
		appendStringInfo(&def, ";\nALTER EVENT TRIGGER %s ENABLE ALWAYS", identity);
	Emit(cap, MO_KIND_EVENT_TRIGGER, identity, -1, NULL, def.data, NULL,
		 psprintf("DROP EVENT TRIGGER IF EXISTS %s", identity), 0);
	EmitComment(cap, MO_KIND_EVENT_TRIGGER, identity, psprintf("EVENT TRIGGER %s", identity),
				MO_KIND_EVENT_TRIGGER, identity, Str(cap, 7));
}

/* CPU time (user + system) used by this backend so far, in seconds. */
static double
CpuSeconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Rows fetched from a cursor per round trip. */
#define FETCH_BATCH 1000

/* Runs one catalog query through a cursor, handing each row to handler in the row context. */
static void
RunQuery(Capture *cap, const char *what, const char *sql, void (*handler) (Capture *))
{
	Oid			types[2] = {OIDARRAYOID, BOOLOID};
	Datum		values[2] = {cap->namespaces, BoolGetDatum(cap->all)};
	Portal		portal;
	TimestampTz start = GetCurrentTimestamp();
	double		cpu = CpuSeconds();
	uint64		rows = 0;
	int			objects = cap->state->count;

	portal = SPI_cursor_open_with_args(NULL, sql, 2, types, values, NULL, false, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, FETCH_BATCH);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(cap->rowcxt);

			SetRow(cap, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
			handler(cap);
			MemoryContextSwitchTo(old);
			MemoryContextReset(cap->rowcxt);
		}
		rows += SPI_processed;
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	MemoryContextReset(cap->querycxt);
	cap->last_parent = NULL;
	cap->types = NULL;
	cap->defaults = NULL;
	elog(DEBUG1, "migrate_ops: catalog %s: %llu rows, %d objects, %ld ms (%.0f ms CPU)", what,
		 (unsigned long long) rows, cap->state->count - objects,
		 (long) (TimestampDifferenceMilliseconds(start, GetCurrentTimestamp())),
		 (CpuSeconds() - cpu) * 1000);
}

/*
 * Pins every setting that changes how the deparsers print a definition
 * (search_path decides what gets schema-qualified; the others how
 * constants print), so a definition never depends on the session; and
 * turns JIT off, which only slows these queries down.
 * Returns the GUC nest level to restore.
 */
static int
PinOutputSettings(void)
{
	static const char *const settings[][2] = {
		{"search_path", "pg_catalog"},
		{"quote_all_identifiers", "off"},
		{"DateStyle", "ISO, MDY"},
		{"IntervalStyle", "postgres"},
		{"extra_float_digits", "3"},
		{"TimeZone", "UTC"},
		{"bytea_output", "hex"},
		{"standard_conforming_strings", "on"},
		{"lc_monetary", "C"},
		{"jit", "off"},			/* compiling these short catalog queries costs more than it saves */
	};
	int			nest = NewGUCNestLevel();

	for (int i = 0; i < (int) lengthof(settings); i++)
		(void) set_config_option(settings[i][0], settings[i][1], PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/*
 * Resolves the tracked schemas: the default set, or the listed names, each
 * of which must exist and be trackable.  Emits the schema objects.
 */
static void
CaptureNamespaces(Capture *cap, List *schemas)
{
	int			n;
	Datum	   *oids;
	int			count = 0;
	ListCell   *lc;

	MoSpiExec(q_namespaces, NULL);
	n = (int) SPI_processed;
	oids = palloc(sizeof(Datum) * (n + 1));

	foreach(lc, schemas)
	{
		const char *name = (const char *) lfirst(lc);
		bool		found = false;

		for (int i = 0; i < n && !found; i++)
			found = strcmp(MoSpiGetText(i, 2), name) == 0;
		if (found)
			continue;
		if (strcmp(name, MO_SCHEMA) == 0 || strcmp(name, "information_schema") == 0 ||
			strncmp(name, "pg_", 3) == 0)
		{
			bool		exists = SearchSysCacheExists1(NAMESPACENAME, CStringGetDatum(name));

			if (exists)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("schema \"%s\" is never tracked", name),
						 errdetail("pg_catalog, information_schema, pg_toast, temporary schemas and "
								   "migrate_ops itself are left out of fingerprints.")));
		}
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_SCHEMA),
				 errmsg("schema \"%s\" does not exist", name)));
	}

	for (int i = 0; i < n; i++)
	{
		MemoryContext old;
		bool		wanted = (schemas == NIL);
		bool		isnull;

		foreach(lc, schemas)
			if (strcmp((const char *) lfirst(lc), MoSpiGetText(i, 2)) == 0)
				wanted = true;
		if (!wanted)
			continue;
		oids[count++] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		old = MemoryContextSwitchTo(cap->rowcxt);
		SetRow(cap, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
		HandleNamespace(cap);
		MemoryContextSwitchTo(old);
		MemoryContextReset(cap->rowcxt);
	}
	cap->namespaces = PointerGetDatum(construct_array(oids, count, OIDOID, sizeof(Oid), true,
													  TYPALIGN_INT));
}

/* See migrate_ops.h. */
MoCatalogState *
MoCatalogCaptureExt(int flags, List *schemas, const MoCatalogFilter *filter,
					const MoCatalogState *ref)
{
	Capture		cap = {0};
	int			nest;

	cap.state = MoCatalogStateCreate();
	cap.filter = filter;
	cap.ref = ref;
	cap.flags = flags;
	cap.all = (schemas == NIL);
	cap.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "migrate_ops catalog row",
									   ALLOCSET_DEFAULT_SIZES);
	cap.querycxt = AllocSetContextCreate(CurrentMemoryContext, "migrate_ops catalog query",
										 ALLOCSET_DEFAULT_SIZES);
	cap.sha = pg_cryptohash_create(PG_SHA256);
	if (cap.sha == NULL)
		elog(ERROR, "could not create a SHA-256 context");

	nest = PinOutputSettings();
	SPI_connect();
	CaptureNamespaces(&cap, schemas);
	RunQuery(&cap, "relations", q_relations, HandleRelation);
	RunQuery(&cap, "columns", q_columns, HandleColumn);
	RunQuery(&cap, "constraints", q_constraints, HandleConstraint);
	RunQuery(&cap, "indexes", q_indexes, HandleIndex);
	RunQuery(&cap, "triggers", q_triggers, HandleTrigger);
	RunQuery(&cap, "policies", q_policies, HandlePolicy);
	RunQuery(&cap, "routines", q_routines, HandleRoutine);
	RunQuery(&cap, "types", q_types, HandleType);
	RunQuery(&cap, "extensions", q_extensions, HandleExtension);
	RunQuery(&cap, "event triggers", q_event_triggers, HandleEventTrigger);
	SPI_finish();
	AtEOXact_GUC(true, nest);

	pg_cryptohash_free(cap.sha);
	MemoryContextDelete(cap.rowcxt);
	MemoryContextDelete(cap.querycxt);
	MoCatalogStateFinish(cap.state);
	elog(DEBUG1, "migrate_ops: captured %d catalog objects in %zu bytes",
		 cap.state->count, MemoryContextMemAllocated(cap.state->cxt, true));
	return cap.state;
}

/* See migrate_ops.h. */
MoCatalogState *
MoCatalogCapture(void)
{
	MemoryContext caller = CurrentMemoryContext;
	MoCatalogFilter *filter;
	MoCatalogState *state;

	SPI_connect();
	filter = MoDriftFilter();
	MemoryContextSwitchTo(caller);	/* the state outlives this SPI connection */
	state = MoCatalogCaptureExt(MO_CAPTURE_DEFINITIONS, NIL, filter, NULL);
	SPI_finish();
	return state;
}

/* Collects MoDriftRows for MoCatalogDiff(). */
static void
DiffCollect(void *arg, const MoCatalogObject *e, const MoCatalogObject *a)
{
	List	  **rows = (List **) arg;
	MoDriftRow *row = palloc0(sizeof(MoDriftRow));
	const MoCatalogObject *any = a ? a : e;

	row->kind = MoKindNames[any->kind];
	row->identity = pstrdup(any->identity);
	row->parent = any->x && any->x->parent ? pstrdup(any->x->parent) : NULL;
	row->change = e == NULL ? "added" : (a == NULL ? "removed" : "changed");
	row->expected = e && e->x && e->x->definition ? pstrdup(e->x->definition) : NULL;
	row->actual = a && a->x && a->x->definition ? pstrdup(a->x->definition) : NULL;
	*rows = lappend(*rows, row);
}

/* See migrate_ops.h. */
List *
MoCatalogDiff(MoCatalogState *before, MoCatalogState *after)
{
	List	   *rows = NIL;

	(void) MoCatalogCompare(before, after, DiffCollect, &rows);
	return rows;
}
