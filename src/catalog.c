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

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_am.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_description.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_index.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/tablespace.h"
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
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
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
	uint64	   *slots;			/* hash index of a finished state: the key's hash << 32 |
								 * object index + 1; 0 free */
	uint32		mask;			/* its size - 1 (a power of 2) */
	bool		index_tried;	/* StateBuildIndex() ran (slots stays NULL with duplicates) */
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

/* Makes room for n objects in a state (a hint: it grows as needed anyway). */
void
MoCatalogStateReserve(MoCatalogState *state, int n)
{
	StateImpl  *st = (StateImpl *) state;

	if (n > st->capacity && n < (int) (MaxAllocSize / sizeof(MoCatalogObject)))
	{
		st->capacity = n;
		state->objects = repalloc(state->objects, sizeof(MoCatalogObject) * st->capacity);
	}
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

/* Copies len bytes and a NUL into the state. */
static char *
StateStrndup(MoCatalogState *state, const char *s, size_t len)
{
	StateImpl  *st = (StateImpl *) state;
	char	   *p;

	if (len + 1 > ARENA_BLOCK / 8)
		p = MemoryContextAlloc(state->cxt, len + 1);
	else
	{
		if (len + 1 > st->arena_left)
		{
			st->arena = MemoryContextAlloc(state->cxt, ARENA_BLOCK);
			st->arena_left = ARENA_BLOCK;
		}
		p = st->arena;
		st->arena += len + 1;
		st->arena_left -= len + 1;
	}
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* Appends an object whose identity is len bytes at identity and returns it (no extra). */
static MoCatalogObject *
StateAppendN(MoCatalogState *state, int kind, const char *identity, size_t len, int parent_kind,
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
	obj->identity = StateStrndup(state, identity, len);
	obj->x = NULL;
	obj->kind = (uint8) kind;
	obj->parent_kind = (uint8) parent_kind;
	obj->has_sig = false;
	memcpy(obj->hash, hash, sizeof(obj->hash));
	return obj;
}

/* Appends an object and returns it (identity copied, no extra). */
static MoCatalogObject *
StateAppend(MoCatalogState *state, int kind, const char *identity, int parent_kind,
			const uint8 *hash)
{
	return StateAppendN(state, kind, identity, strlen(identity), parent_kind, hash);
}

/*
 * Adds an object known by identity and hash only (plus its parent), e.g.
 * from a snapshot, and returns it (the caller may set its signature).
 */
MoCatalogObject *
MoCatalogStateAdd(MoCatalogState *state, int kind, const char *identity,
				  int parent_kind, const char *parent, const uint8 *hash)
{
	MoCatalogObject *obj = StateAppend(state, kind, identity, parent_kind, hash);

	if (parent)
	{
		obj->x = MemoryContextAllocZero(state->cxt, sizeof(MoCatalogExtra));
		obj->x->parent = StateStrdup(state, parent);
	}
	return obj;
}

/* MoCatalogStateAdd() for an identity of len bytes (not NUL-terminated) and no parent. */
MoCatalogObject *
MoCatalogStateAddN(MoCatalogState *state, int kind, const char *identity, size_t len,
				   int parent_kind, const uint8 *hash)
{
	return StateAppendN(state, kind, identity, len, parent_kind, hash);
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
 * Sorts the objects.  The fingerprint is computed when it is first asked
 * for (MoCatalogFingerprint); a drift check never needs it.
 */
void
MoCatalogStateFinish(MoCatalogState *state)
{
	StateImpl  *st = (StateImpl *) state;

	if (st->slots)
		pfree(st->slots);
	st->slots = NULL;
	st->index_tried = false;
	if (state->count > 1)
		qsort(state->objects, state->count, sizeof(MoCatalogObject), ObjectCompare);
	state->fingerprint[0] = '\0';
}

/* Bytes of a finished state's fingerprint input gathered before each SHA-256 update. */
#define FINGERPRINT_CHUNK	(32 * 1024)

/*
 * The fingerprint of a finished state (hex, in the state): SHA-256 over, for
 * every object in (kind name, identity) order, the kind name, a NUL byte,
 * the identity, a NUL byte and the 32-byte SHA-256 of its definition.  The
 * input is handed to SHA-256 in chunks, which gives the same digest as one
 * update per part at a fraction of the calls.
 */
char *
MoCatalogFingerprint(MoCatalogState *state)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	pg_cryptohash_ctx *ctx;
	char	   *chunk;
	size_t		used = 0;

	const MoCatalogState *ref = state->diff_ref;
	int			i = 0,
				r = 0;

	if (state->fingerprint[0] != '\0')
		return state->fingerprint;
	chunk = palloc(FINGERPRINT_CHUNK);
	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not initialise SHA-256");
	for (;;)
	{
		const MoCatalogObject *obj;
		const char *kind;
		size_t		klen;
		size_t		ilen;

		/*
		 * A MO_CAPTURE_DIFF state: its objects merged with the ones of
		 * diff_ref it left out as equal, which is the whole capture in order
		 * (the two never have the same kind and identity).
		 */
		while (ref && r < ref->count && !state->diff_equal[r])
			r++;
		if (ref && r < ref->count &&
			(i >= state->count || ObjectCompare(&ref->objects[r], &state->objects[i]) < 0))
			obj = &ref->objects[r++];
		else if (i < state->count)
			obj = &state->objects[i++];
		else
			break;
		kind = MoKindNames[obj->kind];
		klen = strlen(kind) + 1;
		ilen = strlen(obj->identity) + 1;

		if (used + klen + ilen + sizeof(obj->hash) > FINGERPRINT_CHUNK)
		{
			if (pg_cryptohash_update(ctx, (const uint8 *) chunk, used) < 0)
				elog(ERROR, "could not compute SHA-256");
			used = 0;
		}
		if (klen + ilen + sizeof(obj->hash) > FINGERPRINT_CHUNK)
		{
			/* an identity longer than a chunk: straight through */
			if (pg_cryptohash_update(ctx, (const uint8 *) kind, klen) < 0 ||
				pg_cryptohash_update(ctx, (const uint8 *) obj->identity, ilen) < 0 ||
				pg_cryptohash_update(ctx, obj->hash, sizeof(obj->hash)) < 0)
				elog(ERROR, "could not compute SHA-256");
			continue;
		}
		memcpy(chunk + used, kind, klen);
		used += klen;
		memcpy(chunk + used, obj->identity, ilen);
		used += ilen;
		memcpy(chunk + used, obj->hash, sizeof(obj->hash));
		used += sizeof(obj->hash);
	}
	if ((used > 0 && pg_cryptohash_update(ctx, (const uint8 *) chunk, used) < 0) ||
		MO_CRYPTOHASH_FINAL(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256");
	pg_cryptohash_free(ctx);
	pfree(chunk);
	hex_encode((const char *) digest, sizeof(digest), state->fingerprint);
	state->fingerprint[64] = '\0';
	return state->fingerprint;
}

/* The hash index key of an object. */
static inline uint32
StateSlotHash(int kind, const char *identity)
{
	return hash_bytes((const unsigned char *) identity, strlen(identity)) ^ ((uint32) kind * 0x9E3779B1U);
}

/*
 * Builds the hash index of a finished state (in its context), so that
 * lookups cost one hash instead of a binary search: a capture looks up
 * every object it reads in its reference.  Idempotent.
 */
static void
StateBuildIndex(MoCatalogState *state)
{
	StateImpl  *st = (StateImpl *) state;
	uint32		size = 64;

	if (st->index_tried)
		return;
	st->index_tried = true;
	while (size < (uint32) state->count * 2 && size < (UINT32_C(1) << 30))
		size <<= 1;
	st->slots = MemoryContextAllocZero(state->cxt, sizeof(uint64) * size);
	st->mask = size - 1;
	for (int i = 0; i < state->count; i++)
	{
		const MoCatalogObject *obj = &state->objects[i];
		uint32		hash = StateSlotHash(obj->kind, obj->identity);
		uint32		h = hash & st->mask;

		while (st->slots[h] != 0)
		{
			const MoCatalogObject *other = &state->objects[(uint32) st->slots[h] - 1];

			if ((uint32) (st->slots[h] >> 32) == hash && other->kind == obj->kind &&
				strcmp(other->identity, obj->identity) == 0)
			{
				/* duplicates: lookups keep the binary search */
				pfree(st->slots);
				st->slots = NULL;
				return;
			}
			h = (h + 1) & st->mask;
		}
		st->slots[h] = ((uint64) hash << 32) | ((uint32) i + 1);
	}
}

/*
 * The index of an object of a finished state with this kind and identity,
 * or -1 (the hash index is built only for a state without duplicates).
 */
static int
StateLookup(const MoCatalogState *state, int kind, const char *identity)
{
	const StateImpl *st = (const StateImpl *) state;
	int			lo = 0,
				hi;

	if (state == NULL)
		return -1;
	if (st->slots != NULL)
	{
		uint32		hash = StateSlotHash(kind, identity);
		uint32		h = hash & st->mask;

		for (;;)
		{
			uint64		slot = st->slots[h];
			const MoCatalogObject *obj;

			if (slot == 0)
				return -1;
			obj = &state->objects[(uint32) slot - 1];
			if ((uint32) (slot >> 32) == hash && obj->kind == kind && strcmp(obj->identity, identity) == 0)
				return (int) (uint32) slot - 1;
			h = (h + 1) & st->mask;
		}
	}
	hi = state->count - 1;
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		MoCatalogObject *obj = &state->objects[mid];
		int			c = (obj->kind != kind) ? (obj->kind < kind ? -1 : 1) : strcmp(obj->identity, identity);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* Finds an object by kind and identity in a finished state, or NULL. */
MoCatalogObject *
MoCatalogFind(const MoCatalogState *state, int kind, const char *identity)
{
	int			i = StateLookup(state, kind, identity);

	return i < 0 ? NULL : &state->objects[i];
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
		MoCatalogObject *e;
		MoCatalogObject *a = j < na ? &actual->objects[j] : NULL;
		int			c;

		if (i < ne && actual && actual->diff_ref == expected && actual->diff_equal[i])
		{
			i++;				/* left out of actual as equal: no difference */
			continue;
		}
		e = i < ne ? &expected->objects[i] : NULL;

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

/* ---- OID maps ---- */

/*
 * An OID-keyed map for the capture's hot lookups (hundreds of thousands per
 * capture): open addressing on a power-of-2 array of keys, so that a
 * lookup is a multiply and, mostly, one cache line, where dynahash pays a
 * function call, segment and bucket indirections and a chain.  Entries
 * start with their Oid key, are zeroed when made and never move.
 */
typedef struct OidMap
{
	MemoryContext cxt;
	Size		entrysize;
	uint32		mask;
	uint32		count;
	Oid		   *keys;			/* InvalidOid: free */
	void	  **entries;
	char	   *chunk;			/* entries are carved from chunks */
	Size		chunk_left;
} OidMap;

/* Bytes of an OidMap's entry chunk. */
#define OIDMAP_CHUNK	(64 * 1024)

/* The slot an OID starts probing at. */
static inline uint32
OidMapSlot(const OidMap *m, Oid key)
{
	return (uint32) (((uint64) key * UINT64CONST(0x9E3779B97F4A7C15)) >> 32) & m->mask;
}

/* Creates an empty map in cxt for entries of entrysize bytes. */
static OidMap *
OidMapCreate(MemoryContext cxt, Size entrysize, uint32 expected)
{
	OidMap	   *m = MemoryContextAllocZero(cxt, sizeof(OidMap));
	uint32		size = 256;

	while (size < expected * 2 && size < (UINT32_C(1) << 30))
		size <<= 1;
	m->cxt = cxt;
	m->entrysize = MAXALIGN(entrysize);
	m->mask = size - 1;
	m->keys = MemoryContextAllocZero(cxt, sizeof(Oid) * size);
	m->entries = MemoryContextAlloc(cxt, sizeof(void *) * size);
	return m;
}

/* The entry of key, or NULL. */
static inline void *
OidMapFind(const OidMap *m, Oid key)
{
	uint32		h;

	if (key == InvalidOid)
		return NULL;
	for (h = OidMapSlot(m, key); m->keys[h] != InvalidOid; h = (h + 1) & m->mask)
		if (m->keys[h] == key)
			return m->entries[h];
	return NULL;
}

/* Doubles a map's arrays. */
static void
OidMapGrow(OidMap *m)
{
	uint32		oldsize = m->mask + 1;
	Oid		   *oldkeys = m->keys;
	void	  **oldentries = m->entries;

	m->mask = oldsize * 2 - 1;
	m->keys = MemoryContextAllocZero(m->cxt, sizeof(Oid) * (m->mask + 1));
	m->entries = MemoryContextAlloc(m->cxt, sizeof(void *) * (m->mask + 1));
	for (uint32 i = 0; i < oldsize; i++)
	{
		uint32		h;

		if (oldkeys[i] == InvalidOid)
			continue;
		for (h = OidMapSlot(m, oldkeys[i]); m->keys[h] != InvalidOid; h = (h + 1) & m->mask)
			;
		m->keys[h] = oldkeys[i];
		m->entries[h] = oldentries[i];
	}
	pfree(oldkeys);
	pfree(oldentries);
}

/* The entry of key, made (zeroed, key set) when missing; *found tells which (may be NULL). */
static void *
OidMapEnter(OidMap *m, Oid key, bool *found)
{
	uint32		h;
	void	   *entry;

	if (key == InvalidOid)
		elog(ERROR, "migrate_ops: invalid OID as a map key");
	for (h = OidMapSlot(m, key); m->keys[h] != InvalidOid; h = (h + 1) & m->mask)
		if (m->keys[h] == key)
		{
			if (found)
				*found = true;
			return m->entries[h];
		}
	if ((m->count + 1) * 2 > m->mask + 1)
	{
		OidMapGrow(m);
		for (h = OidMapSlot(m, key); m->keys[h] != InvalidOid; h = (h + 1) & m->mask)
			;
	}
	if (m->entrysize > m->chunk_left)
	{
		m->chunk = MemoryContextAlloc(m->cxt, Max(OIDMAP_CHUNK, m->entrysize));
		m->chunk_left = Max(OIDMAP_CHUNK, m->entrysize);
	}
	entry = m->chunk;
	m->chunk += m->entrysize;
	m->chunk_left -= m->entrysize;
	memset(entry, 0, m->entrysize);
	*(Oid *) entry = key;
	m->keys[h] = key;
	m->entries[h] = entry;
	m->count++;
	if (found)
		*found = false;
	return entry;
}

/* Iterates over a map: *pos starts at 0; NULL at the end. */
static void *
OidMapNext(const OidMap *m, uint32 *pos)
{
	while (*pos <= m->mask)
	{
		uint32		i = (*pos)++;

		if (m->keys[i] != InvalidOid)
			return m->entries[i];
	}
	return NULL;
}

/* The OIDs in an OidMap with Oid entries, as an oid[] (in CurrentMemoryContext). */
static Datum
OidMapArray(OidMap *m)
{
	uint32		pos = 0;
	Oid		   *oid;
	Datum	   *elems = palloc(sizeof(Datum) * (m->count + 1));
	int			n = 0;

	while ((oid = OidMapNext(m, &pos)) != NULL)
		elems[n++] = ObjectIdGetDatum(*oid);
	return PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
}

/* Most columns a catalog query returns. */
#define MAX_QUERY_COLUMNS 40

/* What an object references (pg_depend): parallel arrays. */
typedef struct DepList
{
	int			n;
	int			max;
	Oid		   *classids;
	Oid		   *objids;
	int32	   *subids;
} DepList;

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
	struct TypeNameEntry *last_type;	/* its last hit */
	HTAB	   *defaults;		/* DefaultExpr() cache, in querycxt */
	Oid			last_relid;		/* the relation of the previous row (columns) */
	char	   *last_parent;	/* and its identity, in querycxt */
	/* catalog signatures (see "signatures" below) */
	MemoryContext sigcxt;		/* lives as long as the capture */
	MemoryContext colcxt;		/* columns collected for relation digests */
	OidMap	   *rels;			/* RelDigest by relation OID, in sigcxt */
	struct RelDigest *last_rel;	/* the last one RelDigestCollect() used */
	HTAB	   *idents;			/* DepIdentity by object address, in sigcxt */
	HTAB	   *typeclasses;	/* TypeClassEntry by type OID, in sigcxt */
	char	   *enum_digest;	/* every enum's labels */
	char	   *role_digest;	/* every role's OID and name */
	char	   *opclass_digest; /* every operator class outside pg_catalog */
	pg_cryptohash_ctx *sigsha;
	OidMap	   *relations;		/* TrackedRelation by pg_class OID, in sigcxt */
	OidMap	   *sequences;		/* the sequences in the tracked schemas, not extension members */
	HTAB	   *domains;		/* TrackedRelation by pg_type OID, in sigcxt */
	Datum		composites;		/* oid[] of every pg_class row of relkind 'c', in sigcxt */
	const DepList *rowdeps;		/* the current row's dependencies (scanned rows) */
	/* ordering the capture by its reference instead of sorting it (CaptureFinish) */
	bool		by_ref;			/* every object was looked up in ref, no two found the same */
	int		   *refpos;			/* per captured object: the index of ref's object, or -1 */
	int			refpos_cap;
	uint8	   *refseen;		/* per object of ref: a captured object found it */
	bool		diff;			/* MO_CAPTURE_DIFF: objects equal to ref's are left out */
	bool		diff_failed;	/* an object was read twice: capture again without */
	uint8	   *diff_equal;		/* per object of ref: left out as equal (in the state) */
	int			finger;			/* the object of ref the last lookup found */
	struct DefMemo *memo;		/* DefinitionHash()'s remembered definitions, in sigcxt */
	int			nmemo;
	int			nsigned;		/* objects that got a signature */
	int			nlent;			/* of which took their hash from ref */
	int			ndeparsed;		/* objects of signed kinds that were deparsed */
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

/*
 * The concatenation of its arguments (up to a NULL), palloc'd: what
 * psprintf() gives for a format of only "%s", without parsing one (the
 * capture builds hundreds of thousands of identities).
 */
static char *
Concat(const char *first,...)
{
	va_list		args;
	size_t		len = 0;
	char	   *out;
	char	   *p;

	va_start(args, first);
	for (const char *a = first; a != NULL; a = va_arg(args, const char *))
		len += strlen(a);
	va_end(args);
	p = out = palloc(len + 1);
	va_start(args, first);
	for (const char *a = first; a != NULL; a = va_arg(args, const char *))
	{
		size_t		n = strlen(a);

		memcpy(p, a, n);
		p += n;
	}
	va_end(args);
	*p = '\0';
	return out;
}

/* "schema.name", each part quoted as needed. */
static char *
Qual(const char *nsp, const char *name)
{
	return Concat(quote_identifier(nsp), ".", quote_identifier(name), NULL);
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
 * The index of ref's object with this kind and identity, or -1.  Objects
 * are read table by table, and ref keeps a table's objects together in
 * sorted order, so the objects next to the last one found (or that one
 * again: a signed object is looked up twice) are tried before the hash
 * index; they are still in the CPU's caches.
 */
static int
CaptureLookup(Capture *cap, int kind, const char *identity)
{
	const MoCatalogState *ref = cap->ref;
	int			i;

	static const int near[] = {0, 1, 2, -1, 3, -2};

	for (int d = 0; d < (int) lengthof(near); d++)
	{
		i = cap->finger + near[d];
		if (i >= 0 && i < ref->count && ref->objects[i].kind == kind &&
			strcmp(ref->objects[i].identity, identity) == 0)
		{
			cap->finger = i;
			return i;
		}
	}
	i = StateLookup(ref, kind, identity);
	if (i >= 0)
		cap->finger = i;
	return i;
}

/* Longest definition DefinitionHash() remembers, and how many. */
#define MEMO_MAX_LEN	256
#define MEMO_MAX		4096
#define MEMO_SLOTS		8192	/* a power of 2, twice MEMO_MAX */

/* A definition and its SHA-256, remembered. */
typedef struct DefMemo
{
	uint32		h;				/* hash_bytes() of the definition */
	uint32		len;
	char	   *definition;		/* NULL: free slot */
	uint8		hash[PG_SHA256_DIGEST_LENGTH];
} DefMemo;

/*
 * The SHA-256 of a definition.  Short definitions repeat (most columns of a
 * database are "integer NOT NULL", "text", ...; the grants of most tables
 * read the same): up to MEMO_MAX distinct ones are remembered by their
 * exact text, so SHA-256 (whose OpenSSL context costs more to set up than
 * to run on a short text) runs once per distinct definition.
 */
static void
DefinitionHash(Capture *cap, const char *definition, uint8 *out)
{
	size_t		len = strlen(definition);
	uint32		h = 0;
	uint32		slot = 0;

	if (len <= MEMO_MAX_LEN)
	{
		if (cap->memo == NULL)
			cap->memo = MemoryContextAllocZero(cap->sigcxt, sizeof(DefMemo) * MEMO_SLOTS);
		h = hash_bytes((const unsigned char *) definition, (int) len);
		for (slot = h & (MEMO_SLOTS - 1); cap->memo[slot].definition != NULL; slot = (slot + 1) & (MEMO_SLOTS - 1))
		{
			DefMemo    *m = &cap->memo[slot];

			if (m->h == h && m->len == len && memcmp(m->definition, definition, len) == 0)
			{
				memcpy(out, m->hash, PG_SHA256_DIGEST_LENGTH);
				return;
			}
		}
	}
	if (pg_cryptohash_init(cap->sha) < 0 ||
		pg_cryptohash_update(cap->sha, (const uint8 *) definition, len) < 0 ||
		MO_CRYPTOHASH_FINAL(cap->sha, out, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute SHA-256");
	if (len <= MEMO_MAX_LEN && cap->nmemo < MEMO_MAX)
	{
		DefMemo    *m = &cap->memo[slot];

		m->h = h;
		m->len = (uint32) len;
		m->definition = MemoryContextStrdup(cap->sigcxt, definition);
		memcpy(m->hash, out, PG_SHA256_DIGEST_LENGTH);
		cap->nmemo++;
	}
}

/*
 * Records one object: unless the filter leaves it out, hashes its
 * definition and keeps what the capture's purpose needs.  For a signed
 * kind, sig is its signature (or NULL) and lender the object of ref that
 * lends its hash (see SigLender), in which case definition is NULL.
 */
static void
EmitSigned(Capture *cap, int kind, const char *identity, int parent_kind, const char *parent,
		   const char *definition, const char *detail, const char *drop, int64 ord,
		   const uint8 *sig, const MoCatalogObject *lender)
{
	uint8		hash[PG_SHA256_DIGEST_LENGTH];
	MoCatalogObject *obj;
	bool		keep;

	if (MoCatalogIgnored(cap->filter, kind, identity, parent_kind, parent))
		return;
	if (definition == NULL)
	{
		Assert(lender != NULL);
		memcpy(hash, lender->hash, sizeof(hash));
		cap->nlent++;
	}
	else
	{
		DefinitionHash(cap, definition, hash);
		if (lender && memcmp(lender->hash, hash, sizeof(hash)) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("catalog signature check failed for %s %s", MoKindNames[kind], identity),
					 errdetail("Its signature is unchanged but its definition is now: %s", definition),
					 errhint("This is a bug of migrate_ops: please report it.  A new snapshot stores "
							 "the definition again.")));
	}

	keep = (cap->flags & MO_CAPTURE_DEFINITIONS) != 0;
	if (!keep && cap->ref)
	{
		int			refi = CaptureLookup(cap, kind, identity);

		keep = (refi < 0 || memcmp(cap->ref->objects[refi].hash, hash, sizeof(hash)) != 0);
		if (cap->by_ref)
		{
			bool		twice = (refi >= 0 && cap->refseen[refi]);

			if (refi >= 0)
				cap->refseen[refi] = 1;
			if (twice)
			{
				/* read twice: sort instead, and capture again without MO_CAPTURE_DIFF */
				cap->by_ref = false;
				cap->diff_failed = cap->diff;
			}
			else if (cap->diff && !keep)
			{
				cap->diff_equal[refi] = 1;	/* equal to ref's: left out */
				return;
			}
		}
		if (cap->by_ref)
		{
			/* where it goes in the capture's order (CaptureFinish) */
			if (cap->state->count >= cap->refpos_cap)
			{
				cap->refpos_cap = Max(cap->refpos_cap * 2, cap->state->count + 1024);
				cap->refpos = repalloc(cap->refpos, sizeof(int) * cap->refpos_cap);
			}
			cap->refpos[cap->state->count] = refi;
		}
	}

	obj = StateAppend(cap->state, kind, identity, parent ? parent_kind : 0, hash);
	if (sig)
	{
		memcpy(obj->sig, sig, sizeof(obj->sig));
		obj->has_sig = true;
	}
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

/* Records one object of a kind without signature (see EmitSigned). */
static void
Emit(Capture *cap, int kind, const char *identity, int parent_kind, const char *parent,
	 const char *definition, const char *detail, const char *drop, int64 ord)
{
	EmitSigned(cap, kind, identity, parent_kind, parent, definition, detail, drop, ord, NULL, NULL);
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
		 Concat(MoKindNames[target_kind], " ", target_identity, NULL),
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
		if (WANT_DROP(cap))
			appendStringInfo(&drop, "%s%s", drop.len ? ", " : "", grants[g].grantee);
	}
	if (!WANT_DROP(cap))
		;						/* only drift_sql() uses it */
	else if (drop.len > 0)
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
		 Concat(MoKindNames[target_kind], " ", target_identity, NULL),
		 root_kind, root, def.data, NULL, WANT_DROP(cap) ? drop.data : NULL, column ? 1 : 0);
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

/* ---------------------------------------------------------------- signatures */

/*
 * A catalog signature stands for every input of a definition that only the
 * deparser would otherwise read: the definition with its deparsed part left
 * out, the object's own catalog row (node trees without their source
 * positions), the names of the relation it belongs to (identity, and every
 * column's number, name, type and collation), the same for every relation
 * it references, the identity of every other object it references (what
 * pg_depend records for its expressions: functions, operators, types,
 * collations, ...), the enum labels when it references a type, the role
 * names when it holds a regrole constant, and every operator class outside
 * pg_catalog (whether an operator class is the default one decides how a
 * definition prints it).  Names, never OIDs, so a dump/restore gives the
 * same signatures -- expressions that hold OIDs of user objects excepted:
 * their signatures change, which only costs a deparse.  The PostgreSQL
 * major version and migrate_ops' version are part of it, since the
 * deparsers' output and the definitions' format may change with them.
 *
 * Equal signatures mean equal definitions, so a capture with a reference
 * state takes the reference's hash for an object whose signature it
 * already has and runs the deparser only for the others.  An expression
 * holding a constant whose text comes from the catalog without a
 * dependency (an array of regclass, an aclitem, ...) gets no signature and
 * is always deparsed.  migrate_ops.verify_signatures deparses everything
 * and fails on any lent hash that differs.
 */

/* Bump when a signed kind's definition or its signature changes form. */
#define SIG_FORMAT "mo-sig-1"

/* One column collected for its relation's digest. */
typedef struct RelColumn
{
	int			attnum;
	char	   *text;			/* name, type, collation */
} RelColumn;

/* A relation's names, as signatures see them. */
typedef struct RelDigest
{
	Oid			relid;			/* key */
	bool		done;			/* digest is computed */
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *identity;		/* while collecting (colcxt) */
	int			ncols;
	int			maxcols;
	RelColumn  *cols;			/* while collecting (colcxt) */
} RelDigest;

/* The rendering of a referenced object (not a relation). */
typedef struct DepIdentity
{
	Oid			classid;		/* key: the object's address */
	Oid			objid;
	int32		subid;
	char	   *text;			/* NULL: it does not exist */
} DepIdentity;

/* What a constant of a type makes a signature depend on. */
#define TC_UNSIGNABLE	0x01	/* its text comes from the catalog untracked */
#define TC_ENUM			0x02	/* enum labels */
#define TC_ROLE			0x04	/* role names */
#define TC_REGDEP		0x08	/* a reg* constant: its object must be a dependency */

/* A cached TypeClass() result. */
typedef struct TypeClassEntry
{
	Oid			typid;			/* key */
	int			top;			/* as the constant's own type, or 0 nested */
	int			flags;
} TypeClassEntry;

/* A signature being built for the current row. */
typedef struct Sig
{
	StringInfoData buf;			/* everything hashed, parts separated */
	bool		ok;				/* false: no signature (always deparse) */
	bool		has_type;		/* references a type: enum labels count */
	bool		has_role;		/* holds a regrole constant: role names count */
	int			ndeps;
	Oid		   *depoids;		/* the referenced objects' OIDs */
} Sig;

/* Creates the signature caches of a capture (in CurrentMemoryContext, which outlives SPI). */
static void
SigCapturePrepare(Capture *cap)
{
	HASHCTL		ctl = {0};

	cap->sigcxt = AllocSetContextCreate(CurrentMemoryContext, "migrate_ops signatures",
										ALLOCSET_DEFAULT_SIZES);
	cap->colcxt = AllocSetContextCreate(cap->sigcxt, "migrate_ops relation columns",
										ALLOCSET_DEFAULT_SIZES);
	cap->rels = OidMapCreate(cap->sigcxt, sizeof(RelDigest), 1024);
	ctl.keysize = offsetof(DepIdentity, text);
	ctl.entrysize = sizeof(DepIdentity);
	ctl.hcxt = cap->sigcxt;
	cap->idents = hash_create("migrate_ops dependency identities", 256, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = offsetof(TypeClassEntry, flags);
	ctl.entrysize = sizeof(TypeClassEntry);
	ctl.hcxt = cap->sigcxt;
	cap->typeclasses = hash_create("migrate_ops constant types", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	cap->sigsha = pg_cryptohash_create(PG_SHA256);
	if (cap->sigsha == NULL)
		elog(ERROR, "could not create a SHA-256 context");
}

/* Reads the database-wide parts of signatures, once per capture (SPI connected, settings pinned). */
static void
SigCaptureReadGlobals(Capture *cap)
{
	MoSpiExec("SELECT (SELECT pg_catalog.string_agg(pg_catalog.format_type(e.enumtypid, NULL)"
			  "          || ' ' || pg_catalog.quote_literal(e.enumlabel), E'\\n'"
			  "          ORDER BY pg_catalog.format_type(e.enumtypid, NULL) COLLATE \"C\", e.enumsortorder)"
			  "          FROM pg_catalog.pg_enum e),"
			  "       (SELECT pg_catalog.string_agg(r.oid::pg_catalog.text || ' ' || pg_catalog.quote_ident(r.rolname),"
			  "          E'\\n' ORDER BY r.oid) FROM pg_catalog.pg_roles r),"
			  "       (SELECT pg_catalog.string_agg(x, E'\\n' ORDER BY x COLLATE \"C\") FROM"
			  "         (SELECT pg_catalog.concat_ws(' ', pg_catalog.quote_ident(n.nspname) || '.' ||"
			  "                 pg_catalog.quote_ident(o.opcname), a.amname, o.opcdefault,"
			  "                 pg_catalog.format_type(o.opcintype, NULL)) AS x"
			  "            FROM pg_catalog.pg_opclass o"
			  "            JOIN pg_catalog.pg_namespace n ON n.oid = o.opcnamespace"
			  "            JOIN pg_catalog.pg_am a ON a.oid = o.opcmethod"
			  "           WHERE n.nspname <> 'pg_catalog') oc)", NULL);
	cap->enum_digest = MemoryContextStrdup(cap->sigcxt, MoSpiGetText(0, 1) ? MoSpiGetText(0, 1) : "");
	cap->role_digest = MemoryContextStrdup(cap->sigcxt, MoSpiGetText(0, 2) ? MoSpiGetText(0, 2) : "");
	cap->opclass_digest = MemoryContextStrdup(cap->sigcxt, MoSpiGetText(0, 3) ? MoSpiGetText(0, 3) : "");
}

/* Frees the signature caches of a capture. */
static void
SigCaptureDone(Capture *cap)
{
	pg_cryptohash_free(cap->sigsha);
	MemoryContextDelete(cap->sigcxt);
}

/*
 * Collects a column (of a table, view, materialized view or composite
 * type) for its relation's digest, in the form RelDigestFallback() gives.
 */
static void
RelDigestCollect(Capture *cap, Oid relid, const char *identity, int attnum, const char *name,
				 const char *type, const char *collation)
{
	bool		found = true;
	RelDigest  *rd = cap->last_rel;

	if (rd == NULL || rd->relid != relid)	/* columns come relation by relation */
		rd = cap->last_rel = OidMapEnter(cap->rels, relid, &found);
	if (!found)
	{
		rd->done = false;
		rd->identity = MemoryContextStrdup(cap->colcxt, identity);
		rd->ncols = 0;
		rd->maxcols = 16;
		rd->cols = MemoryContextAlloc(cap->colcxt, sizeof(RelColumn) * rd->maxcols);
	}
	if (rd->ncols >= rd->maxcols)
	{
		rd->maxcols *= 2;
		rd->cols = repalloc(rd->cols, sizeof(RelColumn) * rd->maxcols);
	}
	rd->cols[rd->ncols].attnum = attnum;
	{
		MemoryContext old = MemoryContextSwitchTo(cap->colcxt);

		rd->cols[rd->ncols].text = Concat(name, "\x1f", type, "\x1f", collation ? collation : "", NULL);
		MemoryContextSwitchTo(old);
	}
	rd->ncols++;
}

/* qsort comparator for RelColumn by attnum. */
static int
RelColumnCompare(const void *a, const void *b)
{
	return ((const RelColumn *) a)->attnum - ((const RelColumn *) b)->attnum;
}

/* The digest of an identity and its columns (sorted by attnum). */
static void
RelDigestCompute(Capture *cap, const char *identity, RelColumn *cols, int ncols, uint8 *out)
{
	if (ncols > 1)
		qsort(cols, ncols, sizeof(RelColumn), RelColumnCompare);
	if (pg_cryptohash_init(cap->sigsha) < 0 ||
		pg_cryptohash_update(cap->sigsha, (const uint8 *) identity, strlen(identity) + 1) < 0)
		elog(ERROR, "could not compute SHA-256");
	for (int i = 0; i < ncols; i++)
	{
		char		num[16];
		int			len = pg_ltoa(cols[i].attnum, num);	/* as "%d" prints it */

		num[len] = '\x1f';
		num[len + 1] = '\0';
		if (pg_cryptohash_update(cap->sigsha, (const uint8 *) num, strlen(num)) < 0 ||
			pg_cryptohash_update(cap->sigsha, (const uint8 *) cols[i].text, strlen(cols[i].text) + 1) < 0)
			elog(ERROR, "could not compute SHA-256");
	}
	if (MO_CRYPTOHASH_FINAL(cap->sigsha, out, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute SHA-256");
}

/* Computes the digests of every relation whose columns were collected. */
static void
RelDigestFinishAll(Capture *cap)
{
	uint32		pos = 0;
	RelDigest  *rd;

	while ((rd = OidMapNext(cap->rels, &pos)) != NULL)
	{
		if (rd->done)
			continue;
		RelDigestCompute(cap, rd->identity, rd->cols, rd->ncols, rd->digest);
		rd->done = true;
		rd->cols = NULL;
		rd->identity = NULL;
	}
	MemoryContextReset(cap->colcxt);
	cap->last_rel = NULL;
}

/*
 * The digest of a relation whose columns the capture did not read (another
 * schema, a sequence, an index), from the system caches: the same form as
 * for the others.  False when it does not exist.
 */
static bool
RelDigestFallback(Capture *cap, Oid relid, uint8 *out)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class rel;
	char	   *nsp;
	char	   *identity;
	RelColumn  *cols;
	int			ncols = 0;

	if (!HeapTupleIsValid(tup))
		return false;
	rel = (Form_pg_class) GETSTRUCT(tup);
	nsp = get_namespace_name(rel->relnamespace);
	identity = Qual(nsp ? nsp : "?", NameStr(rel->relname));
	cols = palloc(sizeof(RelColumn) * (rel->relnatts + 1));
	for (int attnum = 1; attnum <= rel->relnatts; attnum++)
	{
		HeapTuple	atup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
		Form_pg_attribute att;
		char	   *collation = NULL;

		if (!HeapTupleIsValid(atup))
			continue;
		att = (Form_pg_attribute) GETSTRUCT(atup);
		if (!att->attisdropped)
		{
			if (att->attcollation != get_typcollation(att->atttypid))
			{
				HeapTuple	ctup = SearchSysCache1(COLLOID, ObjectIdGetDatum(att->attcollation));

				if (HeapTupleIsValid(ctup))
				{
					Form_pg_collation coll = (Form_pg_collation) GETSTRUCT(ctup);
					char	   *cnsp = get_namespace_name(coll->collnamespace);

					collation = Qual(cnsp ? cnsp : "?", NameStr(coll->collname));
					ReleaseSysCache(ctup);
				}
			}
			cols[ncols].attnum = attnum;
			cols[ncols].text = psprintf("%s\x1f%s\x1f%s", NameStr(att->attname),
										format_type_extended(att->atttypid, att->atttypmod,
															 FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_ALLOW_INVALID),
										collation ? collation : "");
			ncols++;
		}
		ReleaseSysCache(atup);
	}
	ReleaseSysCache(tup);
	RelDigestCompute(cap, identity, cols, ncols, out);
	return true;
}

/* A relation's digest (computed once per capture); false when it does not exist. */
static bool
RelDigestGet(Capture *cap, Oid relid, uint8 *out)
{
	RelDigest  *rd = OidMapFind(cap->rels, relid);

	if (rd == NULL)
	{
		uint8		digest[PG_SHA256_DIGEST_LENGTH];

		if (!RelDigestFallback(cap, relid, digest))
			return false;
		rd = OidMapEnter(cap->rels, relid, NULL);
		memcpy(rd->digest, digest, sizeof(digest));
		rd->done = true;
		rd->cols = NULL;
		rd->identity = NULL;
	}
	Assert(rd->done);
	memcpy(out, rd->digest, PG_SHA256_DIGEST_LENGTH);
	return true;
}

/*
 * What a constant of type typid (top: the constant's own type) makes a
 * signature depend on, TC_* flags.  Its text comes from the catalog for
 * enums (labels), roles, reg* types and aclitem; a reg* constant has a
 * dependency only as the constant's own type.
 */
static int
TypeClass(Capture *cap, Oid typid, bool top, int depth)
{
	TypeClassEntry key = {0};
	TypeClassEntry *entry;
	HeapTuple	tup;
	Form_pg_type typ;
	int			flags = 0;
	bool		found;

	if (depth > 8)
		return TC_UNSIGNABLE;
	key.typid = typid;
	key.top = top ? 1 : 0;
	entry = hash_search(cap->typeclasses, &key, HASH_FIND, &found);
	if (entry)
		return entry->flags;

	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	if (!HeapTupleIsValid(tup))
		return TC_UNSIGNABLE;
	typ = (Form_pg_type) GETSTRUCT(tup);
	switch (typ->typtype)
	{
		case TYPTYPE_ENUM:
			flags = TC_ENUM;
			break;
		case TYPTYPE_DOMAIN:
			flags = TypeClass(cap, typ->typbasetype, false, depth + 1);
			break;
		case TYPTYPE_RANGE:
			flags = TypeClass(cap, get_range_subtype(typid), false, depth + 1);
			break;
		case TYPTYPE_MULTIRANGE:
			flags = TypeClass(cap, get_multirange_range(typid), false, depth + 1);
			break;
		case TYPTYPE_COMPOSITE:
			{
				HeapTuple	rtup = SearchSysCache1(RELOID, ObjectIdGetDatum(typ->typrelid));
				int			natts = -1;

				if (HeapTupleIsValid(rtup))
				{
					natts = ((Form_pg_class) GETSTRUCT(rtup))->relnatts;
					ReleaseSysCache(rtup);
				}

				for (int attnum = 1; attnum <= natts; attnum++)
				{
					HeapTuple	atup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(typ->typrelid),
													   Int16GetDatum(attnum));

					if (!HeapTupleIsValid(atup))
						continue;
					if (!((Form_pg_attribute) GETSTRUCT(atup))->attisdropped)
						flags |= TypeClass(cap, ((Form_pg_attribute) GETSTRUCT(atup))->atttypid,
										   false, depth + 1);
					ReleaseSysCache(atup);
				}
				if (natts <= 0)
					flags = TC_UNSIGNABLE;
				break;
			}
		case TYPTYPE_BASE:
			if (IsTrueArrayType(typ))
			{
				flags = TypeClass(cap, typ->typelem, false, depth + 1);
				break;
			}
			switch (typ->typoutput)
			{
				case F_REGCLASSOUT:
				case F_REGPROCOUT:
				case F_REGPROCEDUREOUT:
				case F_REGOPEROUT:
				case F_REGOPERATOROUT:
				case F_REGTYPEOUT:
				case F_REGCONFIGOUT:
				case F_REGDICTIONARYOUT:
				case F_REGNAMESPACEOUT:
				case F_REGCOLLATIONOUT:
					flags = top ? TC_REGDEP : TC_UNSIGNABLE;
					break;
				case F_REGROLEOUT:
					flags = TC_ROLE;
					break;
				case F_ACLITEMOUT:
					flags = TC_UNSIGNABLE;
					break;
				default:
					flags = 0;
			}
			break;
		default:
			flags = TC_UNSIGNABLE;	/* pseudo-types */
	}
	ReleaseSysCache(tup);
	entry = hash_search(cap->typeclasses, &key, HASH_ENTER, &found);
	entry->flags = flags;
	return flags;
}

/* Starts the signature of an object (in the row context). */
static void
SigStart(Sig *sig, int kind, const char *identity)
{
	static char head[64];

	if (head[0] == '\0')
		snprintf(head, sizeof(head), "%s %s %d", SIG_FORMAT, MO_VERSION, PG_VERSION_NUM / 100);
	memset(sig, 0, sizeof(*sig));
	initStringInfo(&sig->buf);
	sig->ok = true;
	appendStringInfoString(&sig->buf, head);
	appendStringInfoChar(&sig->buf, '\0');
	appendStringInfoString(&sig->buf, MoKindNames[kind]);
	appendStringInfoChar(&sig->buf, '\0');
	appendStringInfoString(&sig->buf, identity);
	appendStringInfoChar(&sig->buf, '\0');
}

/* Adds a part (a tag and a text, which may be NULL). */
static void
SigText(Sig *sig, const char *tag, const char *text)
{
	appendStringInfoString(&sig->buf, tag);
	appendStringInfoChar(&sig->buf, text ? '=' : '~');
	if (text)
		appendBinaryStringInfo(&sig->buf, text, strlen(text));
	appendStringInfoChar(&sig->buf, '\0');
}

/* Adds the digest of the relation an object belongs to (or is). */
static void
SigOwn(Capture *cap, Sig *sig, Oid relid)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];

	if (!OidIsValid(relid))
		return;
	if (!RelDigestGet(cap, relid, digest))
	{
		sig->ok = false;
		return;
	}
	appendStringInfoString(&sig->buf, "own=");
	appendBinaryStringInfo(&sig->buf, (const char *) digest, sizeof(digest));
	appendStringInfoChar(&sig->buf, '\0');
}

/* qsort comparator for C strings. */
static int
CStringCompare(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static void SigDepList(Capture *cap, Sig *sig, const DepList *deps, Oid own);

/*
 * Adds what the object references, from three parallel arrays of the
 * current row at columns col, col + 1, col + 2 (refclassid, refobjid,
 * refobjsubid; NULL for none).  See SigDepList.
 */
static void
SigDeps(Capture *cap, Sig *sig, int col, Oid own)
{
	Datum	   *classids;
	Datum	   *objids;
	Datum	   *subids;
	bool	   *nulls;
	int			n,
				n2,
				n3;
	DepList		deps;

	if (cap->isnull[col - 1])
		return;
	deconstruct_array(DatumGetArrayTypeP(cap->values[col - 1]), OIDOID, sizeof(Oid), true,
					  TYPALIGN_INT, &classids, &nulls, &n);
	deconstruct_array(DatumGetArrayTypeP(cap->values[col]), OIDOID, sizeof(Oid), true,
					  TYPALIGN_INT, &objids, &nulls, &n2);
	deconstruct_array(DatumGetArrayTypeP(cap->values[col + 1]), INT4OID, sizeof(int32), true,
					  TYPALIGN_INT, &subids, &nulls, &n3);
	if (n2 != n || n3 != n)
		elog(ERROR, "dependency arrays of different lengths");
	deps.n = deps.max = n;
	deps.classids = palloc(sizeof(Oid) * (n + 1));
	deps.objids = palloc(sizeof(Oid) * (n + 1));
	deps.subids = palloc(sizeof(int32) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		deps.classids[i] = DatumGetObjectId(classids[i]);
		deps.objids[i] = DatumGetObjectId(objids[i]);
		deps.subids[i] = DatumGetInt32(subids[i]);
	}
	SigDepList(cap, sig, &deps, own);
}

/*
 * Adds what the object references (pg_depend): relations by their digest
 * (the relation own, already in, left out), other objects by their
 * identity; sorted, so their order (by OID) does not count.
 */
static void
SigDepList(Capture *cap, Sig *sig, const DepList *deps, Oid own)
{
	int			n = deps ? deps->n : 0;
	char	  **texts;
	int			ntexts = 0;

	texts = palloc(sizeof(char *) * (n + 1));
	sig->depoids = palloc(sizeof(Oid) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		Oid			classid = deps->classids[i];
		Oid			objid = deps->objids[i];
		int32		subid = deps->subids[i];

		sig->depoids[sig->ndeps++] = objid;
		if (classid == RelationRelationId)
		{
			uint8		digest[PG_SHA256_DIGEST_LENGTH];
			char		hex[2 * PG_SHA256_DIGEST_LENGTH + 1];

			if (objid == own)
				continue;
			if (!RelDigestGet(cap, objid, digest))
			{
				sig->ok = false;
				continue;
			}
			hex_encode((const char *) digest, sizeof(digest), hex);
			hex[2 * PG_SHA256_DIGEST_LENGTH] = '\0';
			texts[ntexts++] = Concat("rel ", hex, NULL);	/* "rel %s" */
		}
		else
		{
			DepIdentity key = {0};
			DepIdentity *entry;
			bool		found;

			key.classid = classid;
			key.objid = objid;
			key.subid = subid;
			entry = hash_search(cap->idents, &key, HASH_ENTER, &found);
			if (!found)
			{
				ObjectAddress addr;
				char	   *text;

				addr.classId = classid;
				addr.objectId = objid;
				addr.objectSubId = subid;
				text = getObjectIdentity(&addr, true);
				entry->text = text ? MemoryContextStrdup(cap->sigcxt, text) : NULL;
			}
			if (entry->text == NULL)
			{
				sig->ok = false;
				continue;
			}
			if (classid == TypeRelationId)
				sig->has_type = true;
			{
				char		digits[11];

				digits[pg_ultoa_n(classid, digits)] = '\0';
				texts[ntexts++] = Concat(digits, " ", entry->text, NULL);	/* "%u %s" */
			}
		}
	}
	if (ntexts > 1)
		qsort(texts, ntexts, sizeof(char *), CStringCompare);
	for (int i = 0; i < ntexts; i++)
		SigText(sig, "dep", texts[i]);
}

/*
 * The OID a reg* constant holds, from its text in a node tree (": constvalue
 * 4 [ b0 b1 ... ]", the Datum's bytes); false when it cannot be read.
 */
static bool
ConstOid(const char *p, Oid *oid)
{
	const char *v = strstr(p, ":constvalue ");
	const char *end = strchr(p, '}');
	Datum		value = 0;
	char	   *bytes = (char *) &value;
	char	   *q;

	if (v == NULL || (end && v > end))
		return false;
	v += strlen(":constvalue ");
	(void) strtol(v, &q, 10);
	while (*q == ' ')
		q++;
	if (*q != '[')
		return false;
	q++;
	for (int i = 0; i < (int) sizeof(Datum); i++)
	{
		char	   *next;
		long		b = strtol(q, &next, 10);

		if (next == q)
			return false;
		bytes[i] = (char) b;
		q = next;
	}
	*oid = DatumGetObjectId(value);
	return true;
}

/*
 * Adds a node tree (pg_node_tree text, or NULL) without its source
 * positions (":location", ":stmt_location", ":stmt_len": the parser's
 * offsets into the statement that created it, never read back), and
 * checks its constants: a constant whose text comes from the catalog
 * without a dependency leaves the object unsigned.  Call after SigDeps.
 */
static void
SigNode(Capture *cap, Sig *sig, const char *tag, const char *node)
{
	static const char *const positions[] = {" :location ", " :stmt_location ", " :stmt_len "};
	const char *p = node;
	const char *found[lengthof(positions)] = {NULL};	/* each one's next occurrence */
	bool		gone[lengthof(positions)] = {false};	/* no more of it */

	appendStringInfoString(&sig->buf, tag);
	appendStringInfoChar(&sig->buf, node ? '=' : '~');
	while (p && *p)
	{
		const char *next = NULL;
		int			which = -1;

		for (int i = 0; i < (int) lengthof(positions); i++)
		{
			const char *q;

			/* searched again only once passed: a long tree is read once per kind of field */
			if (!gone[i] && (found[i] == NULL || found[i] < p))
			{
				found[i] = strstr(p, positions[i]);
				gone[i] = (found[i] == NULL);
			}
			q = gone[i] ? NULL : found[i];
			if (q && (next == NULL || q < next))
			{
				next = q;
				which = i;
			}
		}
		if (next == NULL)
		{
			appendStringInfoString(&sig->buf, p);
			break;
		}
		appendBinaryStringInfo(&sig->buf, p, next - p);
		p = next + strlen(positions[which]);
		if (*p == '-')
			p++;
		while (isdigit((unsigned char) *p))
			p++;
	}
	appendStringInfoChar(&sig->buf, '\0');

	/* constants: "{CONST :consttype <oid> ... :constisnull <bool> ... :constvalue ...}" */
	for (p = node ? strstr(node, "{CONST :consttype ") : NULL; p; p = strstr(p + 1, "{CONST :consttype "))
	{
		Oid			typid = (Oid) strtoul(p + strlen("{CONST :consttype "), NULL, 10);
		int			flags = TypeClass(cap, typid, true, 0);
		const char *isnull = strstr(p, ":constisnull ");

		if (flags & TC_UNSIGNABLE)
			sig->ok = false;
		if (flags & TC_ENUM)
			sig->has_type = true;
		if (flags & TC_ROLE)
			sig->has_role = true;
		if ((flags & TC_REGDEP) && !(isnull && strncmp(isnull + strlen(":constisnull "), "true", 4) == 0))
		{
			Oid			oid;
			bool		listed = false;

			if (ConstOid(p, &oid))
				for (int i = 0; i < sig->ndeps && !listed; i++)
					listed = sig->depoids[i] == oid;
			if (!listed)
				sig->ok = false;	/* printed from the catalog, but no dependency */
		}
	}
}

/* Finishes a signature: false when the object has none. */
static bool
SigFinish(Capture *cap, Sig *sig, uint8 *out)
{
	if (!sig->ok)
		return false;
	if (sig->has_type)
		SigText(sig, "enums", cap->enum_digest);
	if (sig->has_role)
		SigText(sig, "roles", cap->role_digest);
	SigText(sig, "opclasses", cap->opclass_digest);
	if (pg_cryptohash_init(cap->sigsha) < 0 ||
		pg_cryptohash_update(cap->sigsha, (const uint8 *) sig->buf.data, sig->buf.len) < 0 ||
		MO_CRYPTOHASH_FINAL(cap->sigsha, out, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute SHA-256");
	return true;
}

/*
 * The object of ref whose hash can stand for this one: same kind, identity
 * and signature; NULL when there is none or when every definition is
 * wanted.  The caller deparses when there is none, or when
 * migrate_ops.verify_signatures is on (EmitSigned then checks the hash).
 */
static const MoCatalogObject *
SigLender(Capture *cap, int kind, const char *identity, const uint8 *sig)
{
	const MoCatalogObject *old;
	int			i;

	if (cap->ref == NULL || sig == NULL || (cap->flags & MO_CAPTURE_DEFINITIONS))
		return NULL;			/* every definition is wanted: nothing to lend */
	i = CaptureLookup(cap, kind, identity);
	old = i < 0 ? NULL : &cap->ref->objects[i];
	if (old == NULL || !old->has_sig || memcmp(old->sig, sig, sizeof(old->sig)) != 0)
		return NULL;
	return old;
}

/*
 * Finishes sig into sigv (*has: the object has a signature, counted) and
 * returns the stored object that can lend its hash, or NULL: the caller
 * then deparses (see SigLender).
 */
static const MoCatalogObject *
SigSettle(Capture *cap, Sig *sig, int kind, const char *identity, uint8 *sigv, bool *has)
{
	*has = SigFinish(cap, sig, sigv);
	if (!*has)
		return NULL;
	cap->nsigned++;
	return SigLender(cap, kind, identity, sigv);
}

/*
 * Calls a deparser taking one OID (pg_get_constraintdef, pg_get_indexdef,
 * pg_get_viewdef, pg_get_triggerdef) and returns its text, or NULL when the
 * object is gone.
 */
static char *
Deparse(PGFunction fn, Oid oid)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(oid);
	fcinfo->args[0].isnull = false;
	result = fn(fcinfo);
	if (fcinfo->isnull)
		return NULL;
	return TextDatumGetCString(result);
}

/* pg_get_expr(expr, relid) of a node tree (text), or NULL. */
static char *
DeparseExpr(Datum expr, Oid relid)
{
	LOCAL_FCINFO(fcinfo, 2);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 2, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = expr;
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = ObjectIdGetDatum(relid);
	fcinfo->args[1].isnull = false;
	result = pg_get_expr(fcinfo);
	if (fcinfo->isnull)
		return NULL;
	return TextDatumGetCString(result);
}

/* ---- the queries ---- */

/* Extension membership test for an object of catalog cls with oid expression oidexpr. */
/*
 * An extension's members are pg_depend rows of deptype 'e' referring to the
 * extension (recordDependencyOnCurrentExtension() records no other): read
 * through pg_depend's reference index once per query (a hashed subplan)
 * instead of a scan of every dependency of the catalog.
 */
#define NOT_MEMBER(cls, oidexpr) \
	" " oidexpr " NOT IN (SELECT mbr.objid FROM pg_catalog.pg_depend mbr" \
	"  WHERE mbr.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass" \
	"    AND mbr.classid = '" cls "'::pg_catalog.regclass AND mbr.deptype = 'e')"

/*
 * What the objects of catalog cls (rows dx of catalog, for which ownexpr is
 * the relation they belong to and filter holds) reference (pg_depend),
 * the relation they belong to left out, as three parallel arrays per
 * object: refclassid, refobjid, refobjsubid.
 */
#define DEPENDENCIES(alias, cls, oidexpr, catalog, ownexpr, filter) \
	" LEFT JOIN (SELECT dd.objid, pg_catalog.array_agg(dd.refclassid) AS rc," \
	"       pg_catalog.array_agg(dd.refobjid) AS ro, pg_catalog.array_agg(dd.refobjsubid) AS rs" \
	"  FROM pg_catalog.pg_depend dd JOIN " catalog " dx ON dx.oid = dd.objid AND " filter \
	" WHERE dd.classid = '" cls "'::pg_catalog.regclass" \
	"   AND NOT (dd.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND dd.refobjid = " ownexpr ")" \
	" GROUP BY dd.objid) " alias " ON " alias ".objid = " oidexpr

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
"       rw.ev_action::pg_catalog.text,"	/* 17: pg_get_viewdef in C */
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
"       c.relowner, c.relacl, d.description,"	/* 29-31 */
"       ROW(rw.ev_type, rw.ev_enabled, rw.is_instead)::pg_catalog.text, rw.ev_qual::pg_catalog.text,"	/* 32-33 */
"       dep.rc, dep.ro, dep.rs"	/* 34-36: the rule's dependencies */
"  FROM pg_catalog.pg_class c"
"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
"  LEFT JOIN pg_catalog.pg_rewrite rw ON c.relkind IN ('v', 'm') AND rw.ev_class = c.oid"
"   AND rw.rulename = '_RETURN'"
"  LEFT JOIN LATERAL (SELECT pg_catalog.array_agg(dd.refclassid) AS rc,"	/* per rule: see q_relations' $3 */
"       pg_catalog.array_agg(dd.refobjid) AS ro, pg_catalog.array_agg(dd.refobjsubid) AS rs"
"  FROM pg_catalog.pg_depend dd"
" WHERE dd.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND dd.objid = rw.oid"
"   AND NOT (dd.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND dd.refobjid = rw.ev_class)) dep ON true"
"  LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam"
"  LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = c.reltablespace"
"  LEFT JOIN inh ON inh.inhrelid = c.oid"
"  LEFT JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid"
"  LEFT JOIN pg_catalog.pg_foreign_table ft ON ft.ftrelid = c.oid"
"  LEFT JOIN pg_catalog.pg_foreign_server srv ON srv.oid = ft.ftserver"
DESCRIPTION("d", "pg_catalog.pg_class", "c.oid", "0")
" WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
"   AND c.relnamespace = ANY ($1) AND" NOT_MEMBER("pg_catalog.pg_class", "c.oid")
"   AND c.oid = ANY ($3)"	/* all but the plain tables: ScanPlainTables() */
"   AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend e"
"        WHERE e.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND e.objid = c.oid"
"          AND e.deptype = 'i'))";

/*
 * The tracked domains (for their constraints); the tracked relations are
 * read by LoadTrackedRelations() straight from pg_class.  Columns, constraints and indexes are read by
 * ScanColumns() and ScanConstraintsAndIndexes() straight from the catalog:
 * hundreds of thousands of rows through SQL joins cost more than
 * everything else together.
 */
static const char *const q_tracked_domains =
"SELECT t.oid, 'd', n.nspname, t.typname"
"  FROM pg_catalog.pg_type t"
"  JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace"
" WHERE t.typtype = 'd' AND t.typnamespace = ANY ($1) AND" NOT_MEMBER("pg_catalog.pg_type", "t.oid");

/*
 * The row ScanColumns() hands to HandleColumn() for one column, as a query
 * would return it: relkind, nspname, relname, attname, atttypid,
 * attnotnull, adbin, attidentity, attgenerated, collation (quoted, when
 * not the type's), attacl, description, inherited, attrelid, atttypmod,
 * attnum.
 */
#define COLUMN_ROW_NATTS 16
static const Oid column_row_types[COLUMN_ROW_NATTS] = {
	CHAROID, NAMEOID, NAMEOID, NAMEOID, OIDOID, BOOLOID, PG_NODE_TREEOID, CHAROID, CHAROID,
	TEXTOID, ACLITEMARRAYOID, TEXTOID, BOOLOID, OIDOID, INT4OID, INT2OID
};

/*
 * The row ScanConstraintsAndIndexes() hands to HandleConstraint() for a
 * constraint of a table or domain (constraint triggers are triggers;
 * inherited ones count on each table, like columns, for the same reason;
 * a foreign key's clones for referenced partitions do not count): contype,
 * conname, parent (quoted), relkind ('d': domain), oid, description,
 * inherited, conrelid, its row (for its signature), conbin, its index's
 * row (primary key, unique).  Its dependencies are cap->rowdeps.
 */
#define CONSTRAINT_ROW_NATTS 11
static const Oid constraint_row_types[CONSTRAINT_ROW_NATTS] = {
	CHAROID, NAMEOID, TEXTOID, CHAROID, OIDOID, TEXTOID, BOOLOID, OIDOID, TEXTOID, TEXTOID, TEXTOID
};

/*
 * The row it hands to HandleIndex() for an index that does not implement a
 * constraint (partitions of another index included) of a table or
 * materialized view: nspname, index name, table name, table relkind,
 * indexrelid, tablespace, description, relispartition, indrelid, its row
 * (for its signature), indexprs, indpred.  Its dependencies are
 * cap->rowdeps.
 */
#define INDEX_ROW_NATTS 12
static const Oid index_row_types[INDEX_ROW_NATTS] = {
	NAMEOID, NAMEOID, NAMEOID, CHAROID, OIDOID, NAMEOID, TEXTOID, BOOLOID, OIDOID, TEXTOID, TEXTOID, TEXTOID
};

/*
 * User triggers (not internal, not clones on partitions, not those that
 * belong to an extension through DEPENDS ON EXTENSION, such as the
 * triggers migrate_ops puts on deploy tools' ledger tables).
 */
static const char *const q_triggers =
"SELECT tg.tgname, n.nspname, c.relname, c.relkind,"	/* 1-4 */
"       tg.oid, tg.tgenabled, d.description, tg.tgrelid,"	/* 5-8: pg_get_triggerdef in C */
"       ROW(tg.tgtype, tg.tgisinternal, tg.tgdeferrable, tg.tginitdeferred, tg.tgnargs, tg.tgattr,"
"           tg.tgargs, tg.tgoldtable, tg.tgnewtable, tg.tgconstraint <> 0, tg.tgconstrrelid <> 0,"
"           tg.tgconstrindid <> 0)::pg_catalog.text,"	/* 9 */
"       tg.tgqual::pg_catalog.text, dep.rc, dep.ro, dep.rs"	/* 10-13 */
"  FROM pg_catalog.pg_trigger tg"
DEPENDENCIES("dep", "pg_catalog.pg_trigger", "tg.oid", "pg_catalog.pg_trigger", "dx.tgrelid", "NOT dx.tgisinternal")
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
"       p.polqual, p.polwithcheck,"	/* 8-9: pg_get_expr in C */
"       d.description, p.polrelid, dep.rc, dep.ro, dep.rs"	/* 10-14 */
"  FROM pg_catalog.pg_policy p"
DEPENDENCIES("dep", "pg_catalog.pg_policy", "p.oid", "pg_catalog.pg_policy", "dx.polrelid", "true")
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
/*
 * Every table's row type is a 'c' type: the pg_class rows of relkind 'c'
 * (LoadTrackedRelations reads them all) come as a list, hashed, instead of
 * from a scan of pg_class in the query.
 */
"        OR (t.typtype = 'c' AND t.typrelid = ANY ($3)"	/* every composite type's pg_class row */
"            AND" NOT_MEMBER("pg_catalog.pg_class", "t.typrelid") "))"
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
	bool		emitted = false;

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
		appendStringInfoString(&def, " AS\n");
		ord = (int64) OidCol(cap, 1);
		if (!MoCatalogIgnored(cap->filter, kind, identity, -1, NULL))
		{
			Sig			sig;
			uint8		sigv[PG_SHA256_DIGEST_LENGTH];
			bool		has;
			const MoCatalogObject *lender;

			SigStart(&sig, kind, identity);
			SigText(&sig, "def", def.data);
			SigText(&sig, "rule", Str(cap, 32));
			SigOwn(cap, &sig, OidCol(cap, 1));
			if (cap->rowdeps)	/* a plain view (ScanPlainTables) */
				SigDepList(cap, &sig, cap->rowdeps, OidCol(cap, 1));
			else
				SigDeps(cap, &sig, 34, OidCol(cap, 1));
			SigNode(cap, &sig, "action", Str(cap, 17));
			SigNode(cap, &sig, "qual", Str(cap, 33));
			lender = SigSettle(cap, &sig, kind, identity, sigv, &has);
			if (lender && !mo_verify_signatures)
				EmitSigned(cap, kind, identity, -1, NULL, NULL, NULL, drop, ord, sigv, lender);
			else
			{
				char	   *body = Deparse(pg_get_viewdef, OidCol(cap, 1));

				cap->ndeparsed++;
				if (body)
				{
					appendStringInfoString(&def, TrimStatement(body));
					EmitSigned(cap, kind, identity, -1, NULL, def.data, NULL, drop, ord,
							   has ? sigv : NULL, lender);
				}
			}
		}
		emitted = true;
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

	if (!emitted)
		Emit(cap, kind, identity, -1, NULL, def.data,
			 detail.len > 2 ? detail.data : NULL, drop, ord);
	if (!cap->isnull[30])
		EmitComment(cap, kind, identity, psprintf("%s %s", keyword, identity),
					kind, identity, Str(cap, 31));
	EmitPrivileges(cap, kind, identity,
				   Concat(kind == MO_KIND_SEQUENCE ? "SEQUENCE" : "TABLE", " ", identity, NULL),
				   Concat("ALTER ", keyword, " ", identity, NULL),
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

	if (cap->last_type && cap->last_type->typid == typid && cap->last_type->typmod == typmod)
		return cap->last_type->name;
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
	cap->last_type = entry;
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

/* A column's row (ScanColumns): the column (of a table), its comment and privileges; its relation's digest. */
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
	identity = Concat(parent, ".", column, NULL);
	RelDigestCollect(cap, OidCol(cap, 14), parent, DatumGetInt16(cap->values[15]), Str(cap, 4),
					 ColumnTypeName(cap, OidCol(cap, 5), DatumGetInt32(cap->values[14])), Str(cap, 10));

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

/* A constraint's row (ScanConstraintsAndIndexes). */
static void
HandleConstraint(Capture *cap)
{
	char		contype = Char(cap, 1);
	char	   *name = (char *) quote_identifier(Str(cap, 2));
	char	   *parent = Str(cap, 3);
	char		relkind = Char(cap, 4);
	bool		domain = (relkind == 'd');
	int			parent_kind = domain ? MO_KIND_DOMAIN : RelationKind(relkind);
	char	   *identity = Concat(name, " on ", parent, NULL);
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
	if (!MoCatalogIgnored(cap->filter, MO_KIND_CONSTRAINT, identity, parent_kind, parent))
	{
		char	   *prefix = Concat("ALTER ", alter, " ", parent, " ADD CONSTRAINT ", name, " ", NULL);
		char	   *drop = WANT_DROP(cap) ?
			psprintf("ALTER %s %s DROP CONSTRAINT IF EXISTS %s", alter, parent, name) : NULL;
		Sig			sig;
		uint8		sigv[PG_SHA256_DIGEST_LENGTH];
		bool		has;
		const MoCatalogObject *lender;

		SigStart(&sig, MO_KIND_CONSTRAINT, identity);
		SigText(&sig, "def", prefix);
		SigText(&sig, "row", Str(cap, 9));
		SigText(&sig, "index", Str(cap, 11));
		SigOwn(cap, &sig, OidCol(cap, 8));
		SigDepList(cap, &sig, cap->rowdeps, OidCol(cap, 8));
		SigNode(cap, &sig, "expr", Str(cap, 10));
		if (contype == 'x')
			sig.ok = false;		/* its operator classes are its index's dependencies */
		lender = SigSettle(cap, &sig, MO_KIND_CONSTRAINT, identity, sigv, &has);
		if (lender && !mo_verify_signatures)
			EmitSigned(cap, MO_KIND_CONSTRAINT, identity, parent_kind, parent, NULL, NULL, drop, ord,
					   sigv, lender);
		else
		{
			char	   *body = Deparse(pg_get_constraintdef, OidCol(cap, 5));

			cap->ndeparsed++;
			if (body)
				EmitSigned(cap, MO_KIND_CONSTRAINT, identity, parent_kind, parent,
						   psprintf("%s%s", prefix, body), NULL, drop, ord, has ? sigv : NULL, lender);
		}
	}
	if (!cap->isnull[5])
		EmitComment(cap, MO_KIND_CONSTRAINT, identity,
				psprintf("CONSTRAINT %s ON %s%s", name, domain ? "DOMAIN " : "", parent),
				parent_kind, parent, Str(cap, 6));
}

/* An index's row (ScanConstraintsAndIndexes). */
static void
HandleIndex(Capture *cap)
{
	char	   *nsp = Str(cap, 1);
	char	   *name = Str(cap, 2);
	char	   *identity = Qual(nsp, name);
	char	   *parent = Qual(nsp, Str(cap, 3));
	int			parent_kind = RelationKind(Char(cap, 4));
	char	   *tablespace = Str(cap, 6);
	char	   *drop = WANT_DROP(cap) ? psprintf("DROP INDEX IF EXISTS %s", identity) : NULL;
	int64		ord = Bool(cap, 8) ? MO_ORD_INHERITED : 0;
	Sig			sig;
	uint8		sigv[PG_SHA256_DIGEST_LENGTH];
	bool		has;
	const MoCatalogObject *lender;

	if (MoCatalogIgnored(cap->filter, MO_KIND_INDEX, identity, parent_kind, parent))
		return;					/* and so is its comment */
	SigStart(&sig, MO_KIND_INDEX, identity);
	SigText(&sig, "tablespace", tablespace);
	SigText(&sig, "row", Str(cap, 10));
	SigOwn(cap, &sig, OidCol(cap, 9));
	SigDepList(cap, &sig, cap->rowdeps, OidCol(cap, 9));
	SigNode(cap, &sig, "exprs", Str(cap, 11));
	SigNode(cap, &sig, "pred", Str(cap, 12));
	lender = SigSettle(cap, &sig, MO_KIND_INDEX, identity, sigv, &has);
	if (lender && !mo_verify_signatures)
		EmitSigned(cap, MO_KIND_INDEX, identity, parent_kind, parent, NULL, NULL, drop, ord, sigv, lender);
	else
	{
		char	   *def = Deparse(pg_get_indexdef, OidCol(cap, 5));

		cap->ndeparsed++;
		if (def == NULL)
			return;				/* dropped while being read */

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
		EmitSigned(cap, MO_KIND_INDEX, identity, parent_kind, parent, def, NULL, drop, ord,
				   has ? sigv : NULL, lender);
	}
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
	char	   *drop = psprintf("DROP TRIGGER IF EXISTS %s ON %s", name, parent);
	char		enabled_text[2] = {enabled, '\0'};
	Sig			sig;
	uint8		sigv[PG_SHA256_DIGEST_LENGTH];
	bool		has;
	const MoCatalogObject *lender;

	if (MoCatalogIgnored(cap->filter, MO_KIND_TRIGGER, identity, parent_kind, parent))
		return;					/* and so is its comment */
	SigStart(&sig, MO_KIND_TRIGGER, identity);
	SigText(&sig, "enabled", enabled_text);
	SigText(&sig, "row", Str(cap, 9));
	SigOwn(cap, &sig, OidCol(cap, 8));
	SigDeps(cap, &sig, 11, OidCol(cap, 8));
	SigNode(cap, &sig, "qual", Str(cap, 10));
	lender = SigSettle(cap, &sig, MO_KIND_TRIGGER, identity, sigv, &has);
	if (lender && !mo_verify_signatures)
		EmitSigned(cap, MO_KIND_TRIGGER, identity, parent_kind, parent, NULL, NULL, drop, 0, sigv, lender);
	else
	{
		char	   *def = Deparse(pg_get_triggerdef, OidCol(cap, 5));

		cap->ndeparsed++;
		if (def == NULL)
			return;				/* dropped while being read */
		if (enabled == 'D')
			def = psprintf("%s;\nALTER TABLE %s DISABLE TRIGGER %s", def, parent, name);
		else if (enabled == 'R')
			def = psprintf("%s;\nALTER TABLE %s ENABLE REPLICA TRIGGER %s", def, parent, name);
		else if (enabled == 'A')
			def = psprintf("%s;\nALTER TABLE %s ENABLE ALWAYS TRIGGER %s", def, parent, name);
		EmitSigned(cap, MO_KIND_TRIGGER, identity, parent_kind, parent, def, NULL, drop, 0,
				   has ? sigv : NULL, lender);
	}
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
	char	   *qual = NULL;
	char	   *check = NULL;
	char	   *drop = psprintf("DROP POLICY IF EXISTS %s ON %s", name, parent);
	StringInfoData def;
	Sig			sig;
	uint8		sigv[PG_SHA256_DIGEST_LENGTH];
	bool		has;
	const MoCatalogObject *lender;

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
	if (MoCatalogIgnored(cap->filter, MO_KIND_POLICY, identity, parent_kind, parent))
		return;					/* and so is its comment */
	initStringInfo(&def);
	appendStringInfo(&def, "CREATE POLICY %s ON %s AS %s FOR %s TO ", name, parent,
					 Bool(cap, 6) ? "PERMISSIVE" : "RESTRICTIVE", cmd);
	AppendJoined(&def, roles, nroles, ", ");
	SigStart(&sig, MO_KIND_POLICY, identity);
	SigText(&sig, "def", def.data);
	SigOwn(cap, &sig, OidCol(cap, 11));
	SigDeps(cap, &sig, 12, OidCol(cap, 11));
	SigNode(cap, &sig, "qual", Str(cap, 8));
	SigNode(cap, &sig, "check", Str(cap, 9));
	lender = SigSettle(cap, &sig, MO_KIND_POLICY, identity, sigv, &has);
	if (lender && !mo_verify_signatures)
		EmitSigned(cap, MO_KIND_POLICY, identity, parent_kind, parent, NULL, NULL, drop, 0, sigv, lender);
	else
	{
		cap->ndeparsed++;
		if (!cap->isnull[7])
			qual = DeparseExpr(cap->values[7], OidCol(cap, 11));
		if (!cap->isnull[8])
			check = DeparseExpr(cap->values[8], OidCol(cap, 11));
		if (qual)
			appendStringInfo(&def, " USING (%s)", qual);
		if (check)
			appendStringInfo(&def, " WITH CHECK (%s)", check);
		EmitSigned(cap, MO_KIND_POLICY, identity, parent_kind, parent, def.data, NULL, drop, 0,
				   has ? sigv : NULL, lender);
	}
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

/*
 * Runs one catalog query through a cursor, handing each row to handler in
 * the row context.  Its parameters: $1 the tracked schemas, $2 whether they
 * are the default set, $3 (relations only) the relations it may read (see
 * CaptureRelations).
 */
static void
RunQueryExt(Capture *cap, const char *what, const char *sql, void (*handler) (Capture *),
			Datum oids)
{
	Oid			types[3] = {OIDARRAYOID, BOOLOID, OIDARRAYOID};
	Datum		values[3] = {cap->namespaces, BoolGetDatum(cap->all), oids};
	Portal		portal;
	TimestampTz start = GetCurrentTimestamp();
	double		cpu = CpuSeconds();
	uint64		rows = 0;
	int			objects = cap->state->count;

	/* read-only: the capture's snapshot, which the deparsers see too */
	portal = SPI_cursor_open_with_args(NULL, sql, oids ? 3 : 2, types, values, NULL, true, 0);
	for (;;)
	{
		SPITupleTable *batch;
		uint64		n;

		SPI_cursor_fetch(portal, true, FETCH_BATCH);
		batch = SPI_tuptable;	/* a deparser may run SPI queries of its own */
		n = SPI_processed;
		if (n == 0)
			break;
		for (uint64 i = 0; i < n; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(cap->rowcxt);

			SetRow(cap, batch->vals[i], batch->tupdesc);
			handler(cap);
			MemoryContextSwitchTo(old);
			MemoryContextReset(cap->rowcxt);
		}
		rows += n;
		SPI_freetuptable(batch);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	MemoryContextReset(cap->querycxt);
	cap->last_parent = NULL;
	cap->types = NULL;
	cap->last_type = NULL;
	cap->defaults = NULL;
	elog(DEBUG1, "migrate_ops: catalog %s: %llu rows, %d objects, %ld ms (%.0f ms CPU)", what,
		 (unsigned long long) rows, cap->state->count - objects,
		 (long) (TimestampDifferenceMilliseconds(start, GetCurrentTimestamp())),
		 (CpuSeconds() - cpu) * 1000);
}

/* RunQueryExt() of a query with the two usual parameters. */
static void
RunQuery(Capture *cap, const char *what, const char *sql, void (*handler) (Capture *))
{
	RunQueryExt(cap, what, sql, handler, (Datum) 0);
}

/* Creates a hash table in the query context. */
static HTAB *
QueryHash(Capture *cap, const char *name, Size keysize, Size entrysize)
{
	HASHCTL		ctl = {0};

	ctl.keysize = keysize;
	ctl.entrysize = entrysize;
	ctl.hcxt = cap->querycxt;
	return hash_create(name, 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* A tracked relation (pg_class) or domain (pg_type), from q_tracked_relations. */
typedef struct TrackedRelation
{
	Oid			oid;			/* key */
	char		relkind;		/* 'd' for a domain */
	NameData	nspname;
	NameData	relname;
	char	   *identity;		/* "schema.name", quoted */
} TrackedRelation;

/*
 * Reads the tracked relations and domains into cap->relations and
 * cap->domains (in sigcxt).  The relations whose columns, constraints and
 * indexes are read (tables; and for their columns' comments, privileges and
 * signatures views, materialized views and composite types) come straight
 * from pg_class with the capture's snapshot: those of kind r, p, f, v, m and
 * c in the tracked schemas that are no extension's members (nor, for a
 * composite type, is its type); an extension's members are the pg_depend
 * rows of deptype 'e' referring to it, as NOT_MEMBER reads them.
 */
static void
LoadTrackedRelations(Capture *cap)
{
	Oid			types[1] = {OIDARRAYOID};
	Datum		args[1] = {cap->namespaces};
	HASHCTL		ctl = {0};
	MemoryContext old;
	Snapshot	snapshot = GetActiveSnapshot();
	OidMap	   *class_members = OidMapCreate(cap->querycxt, sizeof(Oid), 64);
	OidMap	   *type_members = OidMapCreate(cap->querycxt, sizeof(Oid), 64);
	OidMap	   *composites = OidMapCreate(cap->querycxt, sizeof(Oid), 64);
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	Oid			last_nsp = InvalidOid;
	int			last_n = -1;
	Datum	   *nspdatums;
	int			nnsp;
	NameData   *nspnames;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(TrackedRelation);
	ctl.hcxt = cap->sigcxt;
	cap->relations = OidMapCreate(cap->sigcxt, sizeof(TrackedRelation), 1024);
	cap->sequences = OidMapCreate(cap->sigcxt, sizeof(Oid), 64);
	cap->domains = hash_create("migrate_ops tracked domains", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/* the tracked schemas' names, as the capture's snapshot has them */
	deconstruct_array(DatumGetArrayTypeP(cap->namespaces), OIDOID, sizeof(Oid), true, TYPALIGN_INT,
					  &nspdatums, NULL, &nnsp);
	nspnames = palloc0(sizeof(NameData) * (nnsp + 1));
	rel = table_open(NamespaceRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_namespace nsp = (Form_pg_namespace) GETSTRUCT(tup);

		for (int i = 0; i < nnsp; i++)
			if (DatumGetObjectId(nspdatums[i]) == nsp->oid)
				namestrcpy(&nspnames[i], NameStr(nsp->nspname));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	/* extension members, through pg_depend's reference index */
	rel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ExtensionRelationId));
	scan = systable_beginscan(rel, DependReferenceIndexId, true, snapshot, 1, &key);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

		if (d->deptype != DEPENDENCY_EXTENSION || d->refclassid != ExtensionRelationId)
			continue;
		if (d->classid == RelationRelationId)
			(void) OidMapEnter(class_members, d->objid, NULL);
		else if (d->classid == TypeRelationId)
			(void) OidMapEnter(type_members, d->objid, NULL);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	old = MemoryContextSwitchTo(cap->sigcxt);
	rel = table_open(RelationRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_class cls = (Form_pg_class) GETSTRUCT(tup);
		TrackedRelation *tr;

		if (cls->relkind == RELKIND_COMPOSITE_TYPE)
			(void) OidMapEnter(composites, cls->oid, NULL);	/* tracked or not (q_types) */
		if (cls->relkind != RELKIND_RELATION && cls->relkind != RELKIND_PARTITIONED_TABLE &&
			cls->relkind != RELKIND_FOREIGN_TABLE && cls->relkind != RELKIND_VIEW &&
			cls->relkind != RELKIND_MATVIEW && cls->relkind != RELKIND_COMPOSITE_TYPE &&
			cls->relkind != RELKIND_SEQUENCE)
			continue;
		if (cls->relnamespace != last_nsp)
		{
			last_nsp = cls->relnamespace;
			last_n = -1;
			for (int i = 0; i < nnsp && last_n < 0; i++)
				if (DatumGetObjectId(nspdatums[i]) == last_nsp && NameStr(nspnames[i])[0] != '\0')
					last_n = i;
		}
		if (last_n < 0)
			continue;			/* not a tracked schema (or gone) */
		if (OidMapFind(class_members, cls->oid) != NULL ||
			(cls->relkind == RELKIND_COMPOSITE_TYPE && OidMapFind(type_members, cls->reltype) != NULL))
			continue;
		if (cls->relkind == RELKIND_SEQUENCE)
		{
			/* not a tracked relation (no columns...): only for ScanPlainTables */
			(void) OidMapEnter(cap->sequences, cls->oid, NULL);
			continue;
		}
		tr = OidMapEnter(cap->relations, cls->oid, NULL);
		tr->relkind = cls->relkind;
		tr->nspname = nspnames[last_n];
		namestrcpy(&tr->relname, NameStr(cls->relname));
		tr->identity = Qual(NameStr(tr->nspname), NameStr(tr->relname));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	cap->composites = OidMapArray(composites);
	MemoryContextSwitchTo(old);

	if (SPI_execute_with_args(q_tracked_domains, 1, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "migrate_ops: catalog query failed");
	old = MemoryContextSwitchTo(cap->sigcxt);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Datum		v[4];
		bool		n[4];
		TrackedRelation *tr;
		Oid			oid;

		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, v, n);
		oid = DatumGetObjectId(v[0]);
		tr = hash_search(cap->domains, &oid, HASH_ENTER, NULL);
		tr->relkind = 'd';
		namestrcpy(&tr->nspname, NameStr(*DatumGetName(v[2])));
		namestrcpy(&tr->relname, NameStr(*DatumGetName(v[3])));
		tr->identity = Qual(NameStr(tr->nspname), NameStr(tr->relname));
	}
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	MemoryContextReset(cap->querycxt);
}

/* The tracked relation with this OID, or NULL. */
static TrackedRelation *
FindRelation(Capture *cap, Oid relid)
{
	return OidMapFind(cap->relations, relid);
}

/* Appends a reference to a DepList (in CurrentMemoryContext). */
static void
DepListAdd(DepList *deps, Oid classid, Oid objid, int32 subid)
{
	if (deps->n >= deps->max)
	{
		deps->max = deps->max ? deps->max * 2 : 4;
		if (deps->classids == NULL)
		{
			deps->classids = palloc(sizeof(Oid) * deps->max);
			deps->objids = palloc(sizeof(Oid) * deps->max);
			deps->subids = palloc(sizeof(int32) * deps->max);
		}
		else
		{
			deps->classids = repalloc(deps->classids, sizeof(Oid) * deps->max);
			deps->objids = repalloc(deps->objids, sizeof(Oid) * deps->max);
			deps->subids = repalloc(deps->subids, sizeof(int32) * deps->max);
		}
	}
	deps->classids[deps->n] = classid;
	deps->objids[deps->n] = objid;
	deps->subids[deps->n] = subid;
	deps->n++;
}

/* Appends an integer in decimal, as appendStringInfo's %d would (without its format parsing). */
static inline void
AppendInt(StringInfo buf, int32 value)
{
	char		digits[12];

	appendBinaryStringInfo(buf, digits, pg_ltoa(value, digits));
}

/* Appends " %d". */
static inline void
AppendSpaceInt(StringInfo buf, int32 value)
{
	appendStringInfoChar(buf, ' ');
	AppendInt(buf, value);
}

/* Appends " %c". */
static inline void
AppendSpaceChar(StringInfo buf, char value)
{
	appendStringInfoChar(buf, ' ');
	appendStringInfoChar(buf, value);
}

/* Appends an OID in decimal, as %u would. */
static inline void
AppendOid(StringInfo buf, Oid value)
{
	char		digits[11];

	appendBinaryStringInfo(buf, digits, pg_ultoa_n(value, digits));
}

/* Appends the elements of a one-dimensional int2 or oid array (or vector), or "~" for NULL. */
static void
AppendIntArray(StringInfo buf, Datum value, bool isnull)
{
	ArrayType  *arr;
	int			n;

	appendStringInfoChar(buf, ' ');
	if (isnull)
	{
		appendStringInfoChar(buf, '~');
		return;
	}
	arr = DatumGetArrayTypeP(value);
	n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	if (ARR_NDIM(arr) > 1 || ARR_HASNULL(arr) ||
		(ARR_ELEMTYPE(arr) != INT2OID && ARR_ELEMTYPE(arr) != OIDOID))
	{
		appendStringInfoString(buf, OidOutputFunctionCall(F_ARRAY_OUT, value));
		return;
	}
	appendStringInfoChar(buf, '[');
	for (int i = 0; i < n; i++)
	{
		if (i)
			appendStringInfoChar(buf, ',');
		if (ARR_ELEMTYPE(arr) == INT2OID)
			AppendInt(buf, ((int16 *) ARR_DATA_PTR(arr))[i]);
		else
			AppendOid(buf, ((Oid *) ARR_DATA_PTR(arr))[i]);
	}
	appendStringInfoChar(buf, ']');
}

/* Appends a column of a deformed catalog tuple that is an int2 or oid array (or vector). */
static void
AppendIntColumn(StringInfo buf, const Datum *values, const bool *nulls, int attnum)
{
	AppendIntArray(buf, values[attnum - 1], nulls[attnum - 1]);
}

/* A column of a catalog tuple as a copied text datum (pg_node_tree, text), or 0 for NULL. */
static Datum
CopyTextColumn(HeapTuple tup, int attnum, TupleDesc desc)
{
	bool		isnull;
	Datum		value = heap_getattr(tup, attnum, desc, &isnull);

	return isnull ? (Datum) 0 : PointerGetDatum(PG_DETOAST_DATUM_COPY(value));
}

/* A constraint being read. */
typedef struct ConstraintEntry
{
	Oid			oid;			/* key */
	Oid			conrelid;
	Oid			conparentid;
	bool		tracked;
	DepList		deps;
	Datum		description;	/* text, or 0 */
} ConstraintEntry;

/* An index being read. */
typedef struct IndexEntry
{
	Oid			oid;			/* key: indexrelid */
	Oid			indrelid;
	bool		implements;		/* implements a constraint: it counts as the constraint */
	bool		known;			/* its pg_class row was read */
	NameData	relname;
	bool		relispartition;
	NameData	spcname;		/* empty: the database's default tablespace */
	char	   *row;			/* for signatures: its pg_index and pg_class fields */
	Datum		indexprs;		/* text, or 0 */
	Datum		indpred;
	DepList		deps;
	Datum		description;
} IndexEntry;

/*
 * Constraints and indexes of the tracked tables, materialized views and
 * domains, read straight from pg_index, pg_class, pg_constraint, pg_depend
 * and pg_description with the capture's snapshot, each handed to
 * HandleConstraint() or HandleIndex() as the row a query would give
 * (CONSTRAINT_ROW_NATTS, INDEX_ROW_NATTS), its dependencies in
 * cap->rowdeps.  The same objects as reading them through SQL: an index
 * that implements a constraint (pg_depend, internal) counts as the
 * constraint, a foreign key cloned for a referenced partition does not
 * count.
 */
static void
ScanConstraintsAndIndexes(Capture *cap)
{
	TimestampTz start = GetCurrentTimestamp();
	double		cpu = CpuSeconds();
	Snapshot	snapshot = GetActiveSnapshot();
	MemoryContext old = MemoryContextSwitchTo(cap->querycxt);
	OidMap	   *constraints = OidMapCreate(cap->querycxt, sizeof(ConstraintEntry), 1024);
	OidMap	   *indexes = OidMapCreate(cap->querycxt, sizeof(IndexEntry), 1024);
	TupleDesc	crow = CreateTemplateTupleDesc(CONSTRAINT_ROW_NATTS);
	TupleDesc	irow = CreateTemplateTupleDesc(INDEX_ROW_NATTS);
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	uint32		pos = 0;
	IndexEntry *ie;
	uint64		nconstraints = 0,
				nindexes = 0;
	int			objects = cap->state->count;
	StringInfoData buf;
	Datum		ivalues[Natts_pg_index];
	bool		inulls[Natts_pg_index];
	Datum		cvalues[Natts_pg_constraint];
	bool		cnulls[Natts_pg_constraint];
	Oid			last_am = InvalidOid;
	char	   *last_amname = NULL;

	for (int i = 0; i < CONSTRAINT_ROW_NATTS; i++)
		TupleDescInitEntry(crow, i + 1, NULL, constraint_row_types[i], -1, 0);
	for (int i = 0; i < INDEX_ROW_NATTS; i++)
		TupleDescInitEntry(irow, i + 1, NULL, index_row_types[i], -1, 0);
	initStringInfo(&buf);

	/* indexes of the tracked relations (their own, and those of primary keys and unique constraints) */
	rel = table_open(IndexRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_index ind = (Form_pg_index) GETSTRUCT(tup);
		TupleDesc	desc = RelationGetDescr(rel);

		if (FindRelation(cap, ind->indrelid) == NULL)
			continue;
		ie = OidMapEnter(indexes, ind->indexrelid, NULL);
		memset(((char *) ie) + sizeof(Oid), 0, sizeof(IndexEntry) - sizeof(Oid));
		ie->indrelid = ind->indrelid;
		heap_deform_tuple(tup, desc, ivalues, inulls);	/* once, not once per column */
		resetStringInfo(&buf);
		/* "%d %d %d %d %d %d %d" of these, without the format parsing */
		AppendInt(&buf, ind->indnatts);
		appendStringInfoChar(&buf, ' ');
		AppendInt(&buf, ind->indnkeyatts);
		appendStringInfoChar(&buf, ' ');
		AppendInt(&buf, ind->indisunique);
		appendStringInfoChar(&buf, ' ');
#if PG_VERSION_NUM >= 150000
		AppendInt(&buf, ind->indnullsnotdistinct);
#else
		AppendInt(&buf, 0);
#endif
		appendStringInfoChar(&buf, ' ');
		AppendInt(&buf, ind->indisprimary);
		appendStringInfoChar(&buf, ' ');
		AppendInt(&buf, ind->indisexclusion);
		appendStringInfoChar(&buf, ' ');
		AppendInt(&buf, ind->indimmediate);
		AppendIntColumn(&buf, ivalues, inulls, Anum_pg_index_indkey);
		AppendIntColumn(&buf, ivalues, inulls, Anum_pg_index_indcollation);
		AppendIntColumn(&buf, ivalues, inulls, Anum_pg_index_indclass);
		AppendIntColumn(&buf, ivalues, inulls, Anum_pg_index_indoption);
		ie->row = pstrdup(buf.data);
		ie->indexprs = inulls[Anum_pg_index_indexprs - 1] ? (Datum) 0 :
			PointerGetDatum(PG_DETOAST_DATUM_COPY(ivalues[Anum_pg_index_indexprs - 1]));
		ie->indpred = inulls[Anum_pg_index_indpred - 1] ? (Datum) 0 :
			PointerGetDatum(PG_DETOAST_DATUM_COPY(ivalues[Anum_pg_index_indpred - 1]));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	/* their pg_class rows: name, access method, options, tablespace */
	rel = table_open(RelationRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_class cls = (Form_pg_class) GETSTRUCT(tup);
		bool		isnull;
		Datum		options;
		char	   *amname;
		char	   *spcname = NULL;

		if (cls->relkind != RELKIND_INDEX && cls->relkind != RELKIND_PARTITIONED_INDEX)
			continue;
		ie = OidMapFind(indexes, cls->oid);
		if (ie == NULL)
			continue;
		ie->known = true;
		namestrcpy(&ie->relname, NameStr(cls->relname));
		ie->relispartition = cls->relispartition;
		if (OidIsValid(cls->reltablespace))
			spcname = get_tablespace_name(cls->reltablespace);
		namestrcpy(&ie->spcname, spcname ? spcname : "");
		if (cls->relam != last_am)	/* indexes share a handful of access methods */
		{
			last_am = cls->relam;
			last_amname = get_am_name(cls->relam);
		}
		amname = last_amname;
		options = heap_getattr(tup, Anum_pg_class_reloptions, RelationGetDescr(rel), &isnull);
		resetStringInfo(&buf);
		appendStringInfo(&buf, "%s %s %s", ie->row, amname ? amname : "?",
						 isnull ? "~" : OidOutputFunctionCall(F_ARRAY_OUT, options));
		appendStringInfo(&buf, " %s", spcname ? spcname : "~");
		ie->row = pstrdup(buf.data);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	/* constraints of the tracked tables and domains */
	rel = table_open(ConstraintRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);
		ConstraintEntry *ce = OidMapEnter(constraints, con->oid, NULL);

		memset(((char *) ce) + sizeof(Oid), 0, sizeof(ConstraintEntry) - sizeof(Oid));
		ce->conrelid = con->conrelid;
		ce->conparentid = con->conparentid;
		if (con->contype == CONSTRAINT_TRIGGER)
			continue;
		if (OidIsValid(con->conrelid))
		{
			TrackedRelation *tr = FindRelation(cap, con->conrelid);

			ce->tracked = tr && (tr->relkind == RELKIND_RELATION || tr->relkind == RELKIND_PARTITIONED_TABLE ||
								 tr->relkind == RELKIND_FOREIGN_TABLE);
		}
		else if (OidIsValid(con->contypid))
			ce->tracked = hash_search(cap->domains, &con->contypid, HASH_FIND, NULL) != NULL;
	}
	systable_endscan(scan);

	/* a foreign key's clones for referenced partitions (same table as their parent) do not count */
	{
		uint32		cpos = 0;
		ConstraintEntry *ce;

		while ((ce = OidMapNext(constraints, &cpos)) != NULL)
		{
			ConstraintEntry *parent;

			if (!OidIsValid(ce->conparentid) || !ce->tracked)
				continue;
			parent = OidMapFind(constraints, ce->conparentid);
			if (parent && parent->conrelid == ce->conrelid)
				ce->tracked = false;
		}
	}

	/* what they reference; which indexes implement a constraint */
	{
		Relation	dep = table_open(DependRelationId, AccessShareLock);
		ConstraintEntry *last_ce = NULL;
		Oid			last_rel = InvalidOid;
		IndexEntry *last_ie = NULL;

		scan = systable_beginscan(dep, InvalidOid, false, snapshot, 0, NULL);
		while ((tup = systable_getnext(scan)) != NULL)
		{
			Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

			if (d->classid == ConstraintRelationId)
			{
				ConstraintEntry *ce;

				if (last_ce == NULL || last_ce->oid != d->objid)	/* an object's rows come together */
					last_ce = OidMapFind(constraints, d->objid);
				ce = last_ce;

				if (ce && ce->tracked &&
					!(d->refclassid == RelationRelationId && d->refobjid == ce->conrelid))
					DepListAdd(&ce->deps, d->refclassid, d->refobjid, d->refobjsubid);
			}
			else if (d->classid == RelationRelationId)
			{
				if (d->objid != last_rel)
				{
					last_rel = d->objid;
					last_ie = OidMapFind(indexes, d->objid);
				}
				ie = last_ie;
				if (ie == NULL)
					continue;
				if (d->refclassid == ConstraintRelationId && d->deptype == DEPENDENCY_INTERNAL)
					ie->implements = true;
				if (!(d->refclassid == RelationRelationId && d->refobjid == ie->indrelid))
					DepListAdd(&ie->deps, d->refclassid, d->refobjid, d->refobjsubid);
			}
		}
		systable_endscan(scan);
		table_close(dep, AccessShareLock);
	}

	/* their comments */
	{
		Relation	descr = table_open(DescriptionRelationId, AccessShareLock);

		scan = systable_beginscan(descr, InvalidOid, false, snapshot, 0, NULL);
		while ((tup = systable_getnext(scan)) != NULL)
		{
			Form_pg_description d = (Form_pg_description) GETSTRUCT(tup);

			if (d->objsubid != 0)
				continue;
			if (d->classoid == ConstraintRelationId)
			{
				ConstraintEntry *ce = OidMapFind(constraints, d->objoid);

				if (ce && ce->tracked)
					ce->description = CopyTextColumn(tup, Anum_pg_description_description,
													  RelationGetDescr(descr));
			}
			else if (d->classoid == RelationRelationId)
			{
				ie = OidMapFind(indexes, d->objoid);
				if (ie)
					ie->description = CopyTextColumn(tup, Anum_pg_description_description,
													 RelationGetDescr(descr));
			}
		}
		systable_endscan(scan);
		table_close(descr, AccessShareLock);
	}
	MemoryContextSwitchTo(old);

	/* the constraints */
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);
		ConstraintEntry *ce = OidMapFind(constraints, con->oid);
		TupleDesc	desc = RelationGetDescr(rel);
		TrackedRelation *parent;
		MemoryContext rowold;
		StringInfoData row;

		if (ce == NULL || !ce->tracked)
			continue;
		parent = OidIsValid(con->conrelid) ? FindRelation(cap, con->conrelid) :
			hash_search(cap->domains, &con->contypid, HASH_FIND, NULL);
		if (parent == NULL)
			continue;
		rowold = MemoryContextSwitchTo(cap->rowcxt);
		cap->tuple = NULL;
		cap->tupdesc = crow;
		memset(cap->isnull, 0, sizeof(bool) * CONSTRAINT_ROW_NATTS);
		cap->values[0] = CharGetDatum(con->contype);
		cap->values[1] = NameGetDatum(&con->conname);
		cap->values[2] = CStringGetTextDatum(parent->identity);
		cap->values[3] = CharGetDatum(parent->relkind);
		cap->values[4] = ObjectIdGetDatum(con->oid);
		cap->isnull[5] = (ce->description == (Datum) 0);
		cap->values[5] = ce->description;
		cap->values[6] = BoolGetDatum(con->coninhcount > 0 || OidIsValid(con->conparentid));
		cap->values[7] = ObjectIdGetDatum(con->conrelid);

		/* the row of its signature: everything but OIDs, which its dependencies name */
		heap_deform_tuple(tup, desc, cvalues, cnulls);	/* once, not once per column */
		initStringInfo(&row);
		/* "%c %d %d %d %d %d %d %c %c %c" of these, without the format parsing */
		appendStringInfoChar(&row, con->contype);
		AppendSpaceInt(&row, con->condeferrable);
		AppendSpaceInt(&row, con->condeferred);
		AppendSpaceInt(&row, con->convalidated);
		AppendSpaceInt(&row, con->conislocal);
		AppendSpaceInt(&row, con->coninhcount);
		AppendSpaceInt(&row, con->connoinherit);
		AppendSpaceChar(&row, con->confupdtype);
		AppendSpaceChar(&row, con->confdeltype);
		AppendSpaceChar(&row, con->confmatchtype);
		AppendIntColumn(&row, cvalues, cnulls, Anum_pg_constraint_conkey);
		AppendIntColumn(&row, cvalues, cnulls, Anum_pg_constraint_confkey);
#if PG_VERSION_NUM >= 150000
		AppendIntColumn(&row, cvalues, cnulls, Anum_pg_constraint_confdelsetcols);
#endif
		AppendIntColumn(&row, cvalues, cnulls, Anum_pg_constraint_conpfeqop);
		AppendIntColumn(&row, cvalues, cnulls, Anum_pg_constraint_conppeqop);
		AppendIntColumn(&row, cvalues, cnulls, Anum_pg_constraint_conffeqop);
		AppendIntColumn(&row, cvalues, cnulls, Anum_pg_constraint_conexclop);
		cap->values[8] = CStringGetTextDatum(row.data);
		cap->isnull[9] = cnulls[Anum_pg_constraint_conbin - 1];
		cap->values[9] = cvalues[Anum_pg_constraint_conbin - 1];
		cap->isnull[10] = true;
		if ((con->contype == CONSTRAINT_PRIMARY || con->contype == CONSTRAINT_UNIQUE) &&
			OidIsValid(con->conindid))
		{
			IndexEntry *ci = OidMapFind(indexes, con->conindid);

			cap->isnull[10] = false;
			cap->values[10] = CStringGetTextDatum(ci && ci->known ? ci->row : "?");
		}
		cap->rowdeps = &ce->deps;
		HandleConstraint(cap);
		cap->rowdeps = NULL;
		MemoryContextSwitchTo(rowold);
		MemoryContextReset(cap->rowcxt);
		if ((++nconstraints & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	/* the indexes that do not implement a constraint, of tables and materialized views */
	while ((ie = OidMapNext(indexes, &pos)) != NULL)
	{
		TrackedRelation *table = FindRelation(cap, ie->indrelid);
		MemoryContext rowold;

		if (ie->implements || !ie->known || table == NULL ||
			(table->relkind != RELKIND_RELATION && table->relkind != RELKIND_PARTITIONED_TABLE &&
			 table->relkind != RELKIND_MATVIEW))
			continue;
		rowold = MemoryContextSwitchTo(cap->rowcxt);
		cap->tuple = NULL;
		cap->tupdesc = irow;
		memset(cap->isnull, 0, sizeof(bool) * INDEX_ROW_NATTS);
		cap->values[0] = NameGetDatum(&table->nspname);
		cap->values[1] = NameGetDatum(&ie->relname);
		cap->values[2] = NameGetDatum(&table->relname);
		cap->values[3] = CharGetDatum(table->relkind);
		cap->values[4] = ObjectIdGetDatum(ie->oid);
		cap->isnull[5] = (NameStr(ie->spcname)[0] == '\0');
		cap->values[5] = NameGetDatum(&ie->spcname);
		cap->isnull[6] = (ie->description == (Datum) 0);
		cap->values[6] = ie->description;
		cap->values[7] = BoolGetDatum(ie->relispartition);
		cap->values[8] = ObjectIdGetDatum(ie->indrelid);
		cap->values[9] = CStringGetTextDatum(psprintf("%s %c", ie->row, table->relkind));
		cap->isnull[10] = (ie->indexprs == (Datum) 0);
		cap->values[10] = ie->indexprs;
		cap->isnull[11] = (ie->indpred == (Datum) 0);
		cap->values[11] = ie->indpred;
		cap->rowdeps = &ie->deps;
		HandleIndex(cap);
		cap->rowdeps = NULL;
		MemoryContextSwitchTo(rowold);
		MemoryContextReset(cap->rowcxt);
		if ((++nindexes & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}

	MemoryContextReset(cap->querycxt);
	elog(DEBUG1, "migrate_ops: catalog constraints and indexes: %llu + %llu rows, %d objects, %ld ms (%.0f ms CPU)",
		 (unsigned long long) nconstraints, (unsigned long long) nindexes, cap->state->count - objects,
		 (long) (TimestampDifferenceMilliseconds(start, GetCurrentTimestamp())),
		 (CpuSeconds() - cpu) * 1000);
}

/* A column's default expression or comment, by relation and column number. */
typedef struct ColumnExtra
{
	Oid			relid;			/* key: relation and column */
	int32		attnum;
	Datum		value;			/* text (pg_node_tree), in querycxt */
} ColumnExtra;

/* A type's collation (type cache), or a collation's quoted name (collation cache; 0: none). */
typedef struct CollationEntry
{
	Oid			oid;			/* key */
	Oid			typcollation;
	Datum		name;
} CollationEntry;


/* The defaults or comments of one relation's columns, by column number (ScanColumnExtras). */
typedef struct RelExtras
{
	Oid			relid;			/* key */
	int			max;			/* values has max + 1 entries */
	Datum	   *values;			/* text (pg_node_tree), in querycxt; 0: none */
} RelExtras;

/*
 * Reads the defaults or comments of the tracked relations' columns (text),
 * by relation (columns come relation by relation) and column number: one
 * map lookup per relation instead of one hash lookup per column.
 */
static OidMap *
ScanColumnExtras(Capture *cap, Oid catalog, Snapshot snapshot)
{
	OidMap	   *map = OidMapCreate(cap->querycxt, sizeof(RelExtras), 1024);
	Relation	rel = table_open(catalog, AccessShareLock);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	HeapTuple	tup;

	while ((tup = systable_getnext(scan)) != NULL)
	{
		Oid			relid;
		int			attnum;
		RelExtras  *entry;
		Datum		value;
		bool		isnull;
		bool		found;

		if (catalog == AttrDefaultRelationId)
		{
			Form_pg_attrdef ad = (Form_pg_attrdef) GETSTRUCT(tup);

			relid = ad->adrelid;
			attnum = ad->adnum;
			value = heap_getattr(tup, Anum_pg_attrdef_adbin, RelationGetDescr(rel), &isnull);
		}
		else
		{
			Form_pg_description d = (Form_pg_description) GETSTRUCT(tup);

			if (d->classoid != RelationRelationId || d->objsubid <= 0)
				continue;
			relid = d->objoid;
			attnum = d->objsubid;
			value = heap_getattr(tup, Anum_pg_description_description, RelationGetDescr(rel), &isnull);
		}
		if (isnull || attnum <= 0 || FindRelation(cap, relid) == NULL)
			continue;
		entry = OidMapEnter(map, relid, &found);
		if (attnum > entry->max)
		{
			int			max = Max(attnum, Max(entry->max * 2, 16));

			entry->values = entry->values ?
				repalloc(entry->values, sizeof(Datum) * (max + 1)) : palloc(sizeof(Datum) * (max + 1));
			memset(entry->values + (found ? entry->max + 1 : 0), 0,
				   sizeof(Datum) * (max - (found ? entry->max : -1)));
			entry->max = max;
		}
		entry->values[attnum] = PointerGetDatum(PG_DETOAST_DATUM_COPY(value));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return map;
}

/* The value ScanColumnExtras() read for column attnum of re (NULL: none), or 0. */
static inline Datum
ColumnExtraValue(const RelExtras *re, int attnum)
{
	return (re && attnum <= re->max) ? re->values[attnum] : (Datum) 0;
}

/*
 * The collation column of a column's row: NULL when it is its type's, else
 * the collation's quoted name (as quote_ident(nspname) || '.' ||
 * quote_ident(collname)), NULL when there is no such collation.
 */
static bool
ColumnCollation(Capture *cap, OidMap *typcache, HTAB *collcache, Oid typid, Oid collid, Datum *out)
{
	CollationEntry *t;
	CollationEntry *c;
	bool		found;

	if (!OidIsValid(collid))
		return false;			/* a type without collation (or the same lookup finds none) */
	t = OidMapEnter(typcache, typid, &found);
	if (!found)
	{
		t->typcollation = get_typcollation(typid);
		t->name = (Datum) 0;
	}
	if (collid == t->typcollation)
		return false;
	c = hash_search(collcache, &collid, HASH_ENTER, &found);
	if (!found)
	{
		HeapTuple	ctup = SearchSysCache1(COLLOID, ObjectIdGetDatum(collid));

		c->typcollation = InvalidOid;
		c->name = (Datum) 0;
		if (HeapTupleIsValid(ctup))
		{
			Form_pg_collation coll = (Form_pg_collation) GETSTRUCT(ctup);
			char	   *nsp = get_namespace_name(coll->collnamespace);
			MemoryContext old = MemoryContextSwitchTo(cap->querycxt);

			if (nsp)
				c->name = CStringGetTextDatum(Qual(nsp, NameStr(coll->collname)));
			MemoryContextSwitchTo(old);
			ReleaseSysCache(ctup);
		}
	}
	if (c->name == (Datum) 0)
		return false;
	*out = c->name;
	return true;
}

/*
 * The columns: every column of the tracked relations (LoadTrackedRelations),
 * read from pg_attribute (with pg_attrdef and pg_description) with the
 * capture's snapshot, each handed to HandleColumn() as the row of
 * COLUMN_ROW_NATTS values a query would give.
 */
static void
ScanColumns(Capture *cap)
{
	TimestampTz start = GetCurrentTimestamp();
	double		cpu = CpuSeconds();
	Snapshot	snapshot = GetActiveSnapshot();
	MemoryContext old = MemoryContextSwitchTo(cap->querycxt);
	OidMap	   *typcolls = OidMapCreate(cap->querycxt, sizeof(CollationEntry), 64);
	HTAB	   *collations = QueryHash(cap, "migrate_ops collations", sizeof(Oid), sizeof(CollationEntry));
	OidMap	   *defaults;
	OidMap	   *comments;
	RelExtras  *last_defaults = NULL;
	RelExtras  *last_comments = NULL;
	TupleDesc	rowdesc = CreateTemplateTupleDesc(COLUMN_ROW_NATTS);
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	uint64		rows = 0;
	int			objects = cap->state->count;
	Oid			last_relid = InvalidOid;
	TrackedRelation *last_cr = NULL;

	for (int i = 0; i < COLUMN_ROW_NATTS; i++)
		TupleDescInitEntry(rowdesc, i + 1, NULL, column_row_types[i], -1, 0);
	defaults = ScanColumnExtras(cap, AttrDefaultRelationId, snapshot);
	comments = ScanColumnExtras(cap, DescriptionRelationId, snapshot);
	MemoryContextSwitchTo(old);

	rel = table_open(AttributeRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_attribute att = (Form_pg_attribute) GETSTRUCT(tup);
		TrackedRelation *cr;
		Datum		extra;
		MemoryContext rowold;

		if (att->attnum <= 0 || att->attisdropped)
			continue;
		if (att->attrelid != last_relid)	/* a relation's columns come together */
		{
			last_relid = att->attrelid;
			last_cr = FindRelation(cap, att->attrelid);
			last_defaults = last_cr ? OidMapFind(defaults, att->attrelid) : NULL;
			last_comments = last_cr ? OidMapFind(comments, att->attrelid) : NULL;
		}
		cr = last_cr;
		if (cr == NULL)
			continue;

		rowold = MemoryContextSwitchTo(cap->rowcxt);
		cap->tuple = NULL;
		cap->tupdesc = rowdesc;
		memset(cap->isnull, 0, sizeof(bool) * COLUMN_ROW_NATTS);
		cap->values[0] = CharGetDatum(cr->relkind);
		cap->values[1] = NameGetDatum(&cr->nspname);
		cap->values[2] = NameGetDatum(&cr->relname);
		cap->values[3] = NameGetDatum(&att->attname);
		cap->values[4] = ObjectIdGetDatum(att->atttypid);
		cap->values[5] = BoolGetDatum(att->attnotnull);
		extra = att->atthasdef ? ColumnExtraValue(last_defaults, att->attnum) : (Datum) 0;
		cap->isnull[6] = (extra == (Datum) 0);
		cap->values[6] = extra;
		cap->values[7] = CharGetDatum(att->attidentity);
		cap->values[8] = CharGetDatum(att->attgenerated);
		cap->isnull[9] = !ColumnCollation(cap, typcolls, collations, att->atttypid, att->attcollation, &cap->values[9]);
		cap->values[10] = heap_getattr(tup, Anum_pg_attribute_attacl, RelationGetDescr(rel), &cap->isnull[10]);
		extra = ColumnExtraValue(last_comments, att->attnum);
		cap->isnull[11] = (extra == (Datum) 0);
		cap->values[11] = extra;
		cap->values[12] = BoolGetDatum(att->attinhcount > 0);
		cap->values[13] = ObjectIdGetDatum(att->attrelid);
		cap->values[14] = Int32GetDatum(att->atttypmod);
		cap->values[15] = Int16GetDatum(att->attnum);
		HandleColumn(cap);
		MemoryContextSwitchTo(rowold);
		MemoryContextReset(cap->rowcxt);
		if ((++rows & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	MemoryContextReset(cap->querycxt);
	cap->last_parent = NULL;
	cap->types = NULL;
	cap->last_type = NULL;
	cap->defaults = NULL;
	elog(DEBUG1, "migrate_ops: catalog columns: %llu rows, %d objects, %ld ms (%.0f ms CPU)",
		 (unsigned long long) rows, cap->state->count - objects,
		 (long) (TimestampDifferenceMilliseconds(start, GetCurrentTimestamp())),
		 (CpuSeconds() - cpu) * 1000);
}

/*
 * Plain tables are most of a database's relations: a tracked ordinary table
 * that is not a partition, inherits from nothing, is not typed, has the
 * heap access method, the default tablespace, no options, no foreign table
 * row and no replica identity index.  q_relations would give such a table
 * NULL in every column but these, all read from its pg_class row (and its
 * comment): ScanPlainTables() hands the same row to HandleRelation()
 * without the query's joins.  Every other tracked relation of a kind the
 * query reads (sequences included) is handed to the query, which reads only
 * the relations it is given ($3), so each relation is read exactly once,
 * the same way as before.  The untracked ones the query would not read:
 * its schema and extension conditions are LoadTrackedRelations' (checked
 * with verify_signatures).
 */
#define RELATION_ROW_NATTS 36

/* The types of q_relations' columns that a plain table's row sets; the others are NULL. */
static Oid
RelationRowType(int col)
{
	switch (col)
	{
		case 1:
		case 29:
			return OIDOID;
		case 2:
		case 5:
		case 9:
			return CHAROID;
		case 3:
		case 4:
			return NAMEOID;
		case 6:
		case 7:
		case 8:
			return BOOLOID;
		case 30:
			return ACLITEMARRAYOID;
		default:
			return TEXTOID;
	}
}

/* An ASCII letter or digit (charout prints it as it is, record_out does not quote it). */
static inline bool
AsciiAlnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* A plain view waiting for its rule (ScanPlainTables). */
typedef struct PlainView
{
	Oid			oid;			/* key */
	TrackedRelation *tr;
	char		relpersistence;
	bool		relrowsecurity;
	bool		relforcerowsecurity;
	char		relreplident;
	Oid			relowner;
	Datum		relacl;			/* aclitem[] copy, or 0 for NULL */
	bool		done;
} PlainView;

/* A rule's dependencies (ScanPlainTables). */
typedef struct RuleDeps
{
	Oid			oid;			/* key: the rule */
	DepList		deps;
} RuleDeps;

/* Sets the columns of q_relations' row that a plain table or view has, the others NULL. */
static void
PlainRow(Capture *c, TupleDesc rowdesc, Oid oid, char relkind, TrackedRelation *tr,
		 char persistence, bool rls, bool force_rls, char replident, Oid owner,
		 Datum acl, bool aclnull, ColumnExtra *comment)
{
	c->tuple = NULL;
	c->tupdesc = rowdesc;
	for (int i = 0; i < RELATION_ROW_NATTS; i++)
		c->isnull[i] = true;
	c->isnull[0] = c->isnull[1] = c->isnull[2] = c->isnull[3] = c->isnull[4] = false;
	c->isnull[5] = c->isnull[6] = c->isnull[7] = c->isnull[8] = false;
	c->values[0] = ObjectIdGetDatum(oid);
	c->values[1] = CharGetDatum(relkind);
	c->values[2] = NameGetDatum(&tr->nspname);
	c->values[3] = NameGetDatum(&tr->relname);
	c->values[4] = CharGetDatum(persistence);
	c->values[5] = BoolGetDatum(false);
	c->values[6] = BoolGetDatum(rls);
	c->values[7] = BoolGetDatum(force_rls);
	c->values[8] = CharGetDatum(replident);
	c->isnull[28] = false;
	c->values[28] = ObjectIdGetDatum(owner);
	c->isnull[29] = aclnull;
	c->values[29] = aclnull ? (Datum) 0 : acl;
	c->isnull[30] = (comment == NULL);
	c->values[30] = comment ? comment->value : (Datum) 0;
}

/* Enters into map the OID in column attnum of every row of catalog. */
static void
MapCatalogOids(Oid catalog, AttrNumber attnum, OidMap *map, Snapshot snapshot)
{
	Relation	rel = table_open(catalog, AccessShareLock);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	HeapTuple	tup;

	while ((tup = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		oid = heap_getattr(tup, attnum, RelationGetDescr(rel), &isnull);

		if (!isnull)
			(void) OidMapEnter(map, DatumGetObjectId(oid), NULL);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * Reads the plain tables and views (see above) from the catalog and hands
 * them to HandleRelation(), into cap and, when verify is not NULL, into
 * verify as well; every other tracked relation of a kind q_relations reads
 * goes into *others, the plain ones into *plain, the untracked ones into
 * *untracked.  Maps in CurrentMemoryContext.
 */
static void
ScanPlainTables(Capture *cap, Capture *verify, OidMap *others, OidMap *plain, OidMap *untracked)
{
	Snapshot	snapshot = GetActiveSnapshot();
	OidMap	   *complex = OidMapCreate(CurrentMemoryContext, sizeof(Oid), 64);
	OidMap	   *comments = OidMapCreate(CurrentMemoryContext, sizeof(ColumnExtra), 64);
	OidMap	   *views = OidMapCreate(CurrentMemoryContext, sizeof(PlainView), 64);
	OidMap	   *ruledeps = OidMapCreate(CurrentMemoryContext, sizeof(RuleDeps), 64);
	TupleDesc	rowdesc = CreateTemplateTupleDesc(RELATION_ROW_NATTS);
	bool		heap_named = false;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	ScanKeyData key;
	uint64		rows = 0;
	uint32		pos = 0;
	PlainView  *pv;

	for (int i = 0; i < RELATION_ROW_NATTS; i++)
		TupleDescInitEntry(rowdesc, i + 1, NULL, RelationRowType(i + 1), -1, 0);

	/* the query prints an access method unless its name is heap */
	rel = table_open(AccessMethodRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_am am = (Form_pg_am) GETSTRUCT(tup);

		if (am->oid == HEAP_TABLE_AM_OID)
			heap_named = (strcmp(NameStr(am->amname), "heap") == 0);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	/* inheritance children and foreign table rows: the query's */
	MapCatalogOids(InheritsRelationId, Anum_pg_inherits_inhrelid, complex, snapshot);
	MapCatalogOids(ForeignTableRelationId, Anum_pg_foreign_table_ftrelid, complex, snapshot);

	/* the comments on tracked ordinary tables and views */
	rel = table_open(DescriptionRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_description d = (Form_pg_description) GETSTRUCT(tup);
		TrackedRelation *tr;
		ColumnExtra *ce;
		bool		found;

		if (d->classoid != RelationRelationId || d->objsubid != 0)
			continue;
		tr = FindRelation(cap, d->objoid);
		if (tr == NULL || (tr->relkind != RELKIND_RELATION && tr->relkind != RELKIND_VIEW))
			continue;
		ce = OidMapEnter(comments, d->objoid, &found);
		if (found)
			elog(ERROR, "migrate_ops: two comments on relation %u", d->objoid);
		ce->value = CopyTextColumn(tup, Anum_pg_description_description, RelationGetDescr(rel));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	rel = table_open(RelationRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_class cls = (Form_pg_class) GETSTRUCT(tup);
		TrackedRelation *tr;
		ColumnExtra *comment;
		bool		isnull;
		Datum		acl;
		MemoryContext rowold;

		if (cls->relkind != RELKIND_RELATION && cls->relkind != RELKIND_PARTITIONED_TABLE &&
			cls->relkind != RELKIND_VIEW && cls->relkind != RELKIND_MATVIEW &&
			cls->relkind != RELKIND_SEQUENCE && cls->relkind != RELKIND_FOREIGN_TABLE)
			continue;			/* kinds q_relations never reads */
		tr = cls->relkind == RELKIND_SEQUENCE ? NULL : FindRelation(cap, cls->oid);
		if (cls->relkind == RELKIND_SEQUENCE ? OidMapFind(cap->sequences, cls->oid) == NULL : tr == NULL)
		{
			/*
			 * Not tracked: the query's conditions (schema, extension
			 * membership) are LoadTrackedRelations', so it would not read
			 * it; with verify_signatures it is given them to check that.
			 */
			(void) OidMapEnter(untracked, cls->oid, NULL);
			continue;
		}
		(void) heap_getattr(tup, Anum_pg_class_reloptions, RelationGetDescr(rel), &isnull);
		if (tr == NULL || tr->relkind != cls->relkind || !isnull ||
			(cls->relkind != RELKIND_RELATION && cls->relkind != RELKIND_VIEW) ||
			cls->relispartition || OidIsValid(cls->reloftype) || OidIsValid(cls->reltablespace) ||
			OidMapFind(complex, cls->oid) != NULL ||
			(cls->relkind == RELKIND_RELATION &&
			 (cls->relam != HEAP_TABLE_AM_OID || !heap_named ||
			  (cls->relreplident != REPLICA_IDENTITY_DEFAULT && cls->relreplident != REPLICA_IDENTITY_FULL &&
			   cls->relreplident != REPLICA_IDENTITY_NOTHING))))
		{
			(void) OidMapEnter(others, cls->oid, NULL);
			continue;
		}
		acl = heap_getattr(tup, Anum_pg_class_relacl, RelationGetDescr(rel), &isnull);
		if (cls->relkind == RELKIND_VIEW)
		{
			/* handled with its rule, below */
			pv = OidMapEnter(views, cls->oid, NULL);
			pv->tr = tr;
			pv->relpersistence = cls->relpersistence;
			pv->relrowsecurity = cls->relrowsecurity;
			pv->relforcerowsecurity = cls->relforcerowsecurity;
			pv->relreplident = cls->relreplident;
			pv->relowner = cls->relowner;
			pv->relacl = isnull ? (Datum) 0 : PointerGetDatum(PG_DETOAST_DATUM_COPY(acl));
			continue;
		}
		(void) OidMapEnter(plain, cls->oid, NULL);
		comment = OidMapFind(comments, cls->oid);

		for (Capture *c = cap; c != NULL; c = (c == cap ? verify : NULL))
		{
			rowold = MemoryContextSwitchTo(c->rowcxt);
			PlainRow(c, rowdesc, cls->oid, cls->relkind, tr, cls->relpersistence, cls->relrowsecurity,
					 cls->relforcerowsecurity, cls->relreplident, cls->relowner, acl, isnull, comment);
			HandleRelation(c);
			MemoryContextSwitchTo(rowold);
			MemoryContextReset(c->rowcxt);
		}
		if ((++rows & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (views->count > 0)
	{
		/* what the rules reference */
		rel = table_open(DependRelationId, AccessShareLock);
		ScanKeyInit(&key, Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(RewriteRelationId));
		scan = systable_beginscan(rel, DependDependerIndexId, true, snapshot, 1, &key);
		while ((tup = systable_getnext(scan)) != NULL)
		{
			Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);
			RuleDeps   *rd;

			if (d->classid != RewriteRelationId)
				continue;
			rd = OidMapEnter(ruledeps, d->objid, NULL);
			DepListAdd(&rd->deps, d->refclassid, d->refobjid, d->refobjsubid);
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);

		/* the views, with their rules */
		rel = table_open(RewriteRelationId, AccessShareLock);
		scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
		while ((tup = systable_getnext(scan)) != NULL)
		{
			Form_pg_rewrite rw = (Form_pg_rewrite) GETSTRUCT(tup);
			TupleDesc	desc = RelationGetDescr(rel);
			RuleDeps   *rd;
			DepList		deps = {0};
			char		rulerow[16];

			if (strcmp(NameStr(rw->rulename), "_RETURN") != 0)
				continue;
			pv = OidMapFind(views, rw->ev_class);
			if (pv == NULL || pv->done)
				continue;
			/* ROW(ev_type, ev_enabled, is_instead)::text, which quotes nothing alphanumeric */
			if (!AsciiAlnum(rw->ev_type) || !AsciiAlnum(rw->ev_enabled))
				continue;		/* the query's */
			snprintf(rulerow, sizeof(rulerow), "(%c,%c,%c)", rw->ev_type, rw->ev_enabled,
					 rw->is_instead ? 't' : 'f');
			pv->done = true;
			(void) OidMapEnter(plain, pv->oid, NULL);

			/* the rule's dependencies but its view, as the query gives them */
			rd = OidMapFind(ruledeps, rw->oid);
			for (int i = 0; rd && i < rd->deps.n; i++)
				if (!(rd->deps.classids[i] == RelationRelationId && rd->deps.objids[i] == rw->ev_class))
					DepListAdd(&deps, rd->deps.classids[i], rd->deps.objids[i], rd->deps.subids[i]);

			for (Capture *c = cap; c != NULL; c = (c == cap ? verify : NULL))
			{
				MemoryContext rowold = MemoryContextSwitchTo(c->rowcxt);

				PlainRow(c, rowdesc, pv->oid, RELKIND_VIEW, pv->tr, pv->relpersistence, pv->relrowsecurity,
						 pv->relforcerowsecurity, pv->relreplident, pv->relowner, pv->relacl,
						 pv->relacl == (Datum) 0, OidMapFind(comments, pv->oid));
				c->values[16] = heap_getattr(tup, Anum_pg_rewrite_ev_action, desc, &c->isnull[16]);
				c->isnull[31] = false;
				c->values[31] = CStringGetTextDatum(rulerow);
				c->values[32] = heap_getattr(tup, Anum_pg_rewrite_ev_qual, desc, &c->isnull[32]);
				c->rowdeps = &deps;
				HandleRelation(c);
				c->rowdeps = NULL;
				MemoryContextSwitchTo(rowold);
				MemoryContextReset(c->rowcxt);
			}
			if (deps.classids)
			{
				pfree(deps.classids);
				pfree(deps.objids);
				pfree(deps.subids);
			}
			if ((++rows & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);

		/* a view without its rule: the query's */
		while ((pv = OidMapNext(views, &pos)) != NULL)
			if (!pv->done)
				(void) OidMapEnter(others, pv->oid, NULL);
	}
}

/* Fails unless two captures of the same relations hold the same objects. */
static void
VerifyPlainTables(MoCatalogState *scanned, MoCatalogState *queried)
{
	const char *what = NULL;

	MoCatalogStateFinish(scanned);
	MoCatalogStateFinish(queried);
	if (scanned->count != queried->count)
		what = psprintf("%d objects instead of %d", scanned->count, queried->count);
	for (int i = 0; what == NULL && i < scanned->count; i++)
	{
		MoCatalogObject *x = &scanned->objects[i];
		MoCatalogObject *y = &queried->objects[i];

#define MO_STR_DIFFERS(a, b) (((a) == NULL) != ((b) == NULL) || ((a) && strcmp((a), (b)) != 0))
		if (x->kind != y->kind || strcmp(x->identity, y->identity) != 0 ||
			memcmp(x->hash, y->hash, sizeof(x->hash)) != 0 || (x->x == NULL) != (y->x == NULL) ||
			x->has_sig != y->has_sig || (x->has_sig && memcmp(x->sig, y->sig, sizeof(x->sig)) != 0) ||
			(x->x && (MO_STR_DIFFERS(x->x->definition, y->x->definition) ||
					  MO_STR_DIFFERS(x->x->detail, y->x->detail) ||
					  MO_STR_DIFFERS(x->x->drop, y->x->drop) ||
					  MO_STR_DIFFERS(x->x->parent, y->x->parent) ||
					  x->x->ord != y->x->ord)))
			what = psprintf("%s %s", MoKindNames[x->kind], x->identity);
#undef MO_STR_DIFFERS
	}
	if (what)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("capture shortcut check failed: %s", what),
				 errdetail("Reading plain tables from pg_class gave another result than the relations query."),
				 errhint("This is a bug of migrate_ops: please report it.")));
}

/*
 * The relations: plain tables from pg_class (ScanPlainTables), the others
 * through q_relations.  With migrate_ops.verify_signatures, the plain
 * tables also go through the query, and both must give the same objects.
 */
static void
CaptureRelations(Capture *cap)
{
	TimestampTz start = GetCurrentTimestamp();
	double		cpu = CpuSeconds();
	int			objects = cap->state->count;
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "migrate_ops plain tables",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	OidMap	   *others = OidMapCreate(cxt, sizeof(Oid), 64);
	OidMap	   *plain = OidMapCreate(cxt, sizeof(Oid), 1024);
	OidMap	   *untracked = OidMapCreate(cxt, sizeof(Oid), 256);
	Capture		scanned;
	Capture		queried;
	Datum		others_array;
	Datum		plain_array;

	if (mo_verify_signatures)
	{
		/* whole objects, nothing looked up in ref or left out */
		scanned = *cap;
		scanned.state = MoCatalogStateCreate();
		scanned.ref = NULL;
		scanned.by_ref = scanned.diff = false;
		scanned.flags = cap->flags | MO_CAPTURE_DEFINITIONS | MO_CAPTURE_DETAIL | MO_CAPTURE_DROP;
		scanned.flags &= ~MO_CAPTURE_DIFF;
		scanned.memo = NULL;
		scanned.nmemo = 0;
		queried = scanned;
		queried.state = MoCatalogStateCreate();
	}
	MemoryContextSwitchTo(old);
	ScanPlainTables(cap, mo_verify_signatures ? &scanned : NULL, others, plain, untracked);
	MemoryContextSwitchTo(cxt);
	others_array = OidMapArray(others);
	plain_array = OidMapArray(plain);
	MemoryContextSwitchTo(old);
	elog(DEBUG1, "migrate_ops: catalog plain tables: %u tables, %d objects, %ld ms (%.0f ms CPU)",
		 plain->count, cap->state->count - objects,
		 (long) (TimestampDifferenceMilliseconds(start, GetCurrentTimestamp())),
		 (CpuSeconds() - cpu) * 1000);
	if (others->count > 0)		/* else it has nothing to read */
		RunQueryExt(cap, "relations", q_relations, HandleRelation, others_array);
	if (mo_verify_signatures)
	{
		/* an empty list reads nothing: the query is run anyway, so that it is checked */
		RunQueryExt(&queried, "plain tables again", q_relations, HandleRelation, plain_array);
		/* and the untracked relations give nothing */
		MemoryContextSwitchTo(cxt);
		plain_array = OidMapArray(untracked);
		MemoryContextSwitchTo(old);
		RunQueryExt(&queried, "untracked relations", q_relations, HandleRelation, plain_array);
		VerifyPlainTables(scanned.state, queried.state);
		MoCatalogFree(scanned.state);
		MoCatalogFree(queried.state);
	}
	MemoryContextDelete(cxt);
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
		{"work_mem", "32MB"},	/* hashing catalogs beats looking them up row by row */
		{"max_parallel_workers_per_gather", "0"},	/* starting a worker costs more than the scan */
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

/* An object read by a capture but not in its reference, and where it goes among ref's. */
typedef struct Added
{
	int			pos;			/* the first object of ref that sorts after it */
	int			index;			/* in the capture */
	const MoCatalogObject *obj;
} Added;

/* qsort comparator for Added: position in ref, then the objects' own order. */
static int
AddedCompare(const void *a, const void *b)
{
	const Added *x = (const Added *) a;
	const Added *y = (const Added *) b;

	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return ObjectCompare(x->obj, y->obj);
}

/* The index of the first object of a finished state sorting after (kind, identity). */
static int
StateUpperBound(const MoCatalogState *state, int kind, const char *identity)
{
	int			lo = 0,
				hi = state->count;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		const MoCatalogObject *obj = &state->objects[mid];
		int			c = (obj->kind != kind) ? (obj->kind < kind ? -1 : 1) : strcmp(obj->identity, identity);

		if (c <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Finishes a capture's state.  When every object was looked up in the
 * reference (a sorted state without duplicates) and no two found the same
 * one, the objects are put in order by where their reference objects are,
 * and only those the reference does not have are sorted (and placed by
 * binary search): the same order MoCatalogStateFinish()'s sort gives, in
 * linear time.  Otherwise it sorts.
 */
static void
CaptureFinish(Capture *cap)
{
	MoCatalogState *state = cap->state;
	const MoCatalogState *ref = cap->ref;
	int			n = state->count;
	int		   *byref;
	Added	   *added;
	int			nadded = 0;
	int		   *from;
	int			out = 0;
	int			next = 0;

	if (!cap->by_ref || n <= 1)
	{
		MoCatalogStateFinish(state);
		return;
	}
	byref = palloc(sizeof(int) * (ref->count + 1));
	for (int i = 0; i < ref->count; i++)
		byref[i] = -1;
	added = palloc(sizeof(Added) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		if (cap->refpos[i] >= 0)
			byref[cap->refpos[i]] = i;
		else
		{
			added[nadded].obj = &state->objects[i];
			added[nadded].index = i;
			added[nadded].pos = StateUpperBound(ref, state->objects[i].kind, state->objects[i].identity);
			nadded++;
		}
	}
	if (nadded > 1)
		qsort(added, nadded, sizeof(Added), AddedCompare);

	/* from[k]: the object that goes to position k */
	from = palloc(sizeof(int) * (n + 1));
	for (int r = 0; r <= ref->count; r++)
	{
		while (next < nadded && added[next].pos == r)
			from[out++] = added[next++].index;
		if (r < ref->count && byref[r] >= 0)
			from[out++] = byref[r];
	}
	if (out != n)
		elog(ERROR, "migrate_ops: capture order lost objects (%d of %d)", out, n);

	/* permuted in place, cycle by cycle (no second array of objects to fault in) */
	for (int k = 0; k < n; k++)
	{
		MoCatalogObject tmp;
		int			j = k;

		if (from[k] < 0 || from[k] == k)
			continue;
		tmp = state->objects[k];
		while (from[j] != k)
		{
			int			src = from[j];

			state->objects[j] = state->objects[src];
			from[j] = -1;
			j = src;
		}
		state->objects[j] = tmp;
		from[j] = -1;
	}
	state->fingerprint[0] = '\0';
	pfree(from);
	pfree(byref);
	pfree(added);

	/* migrate_ops.verify_signatures: the order is the one the sort gives */
	if (mo_verify_signatures)
		for (int k = 1; k < n; k++)
			if (ObjectCompare(&state->objects[k - 1], &state->objects[k]) > 0)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("capture order check failed at %s %s", MoKindNames[state->objects[k].kind],
								state->objects[k].identity),
						 errhint("This is a bug of migrate_ops: please report it.")));
}

/* A difference as VerifyDiffCapture() compares them. */
typedef struct DiffItem
{
	const MoCatalogObject *e;
	const MoCatalogObject *a;
} DiffItem;

/* Collects the differences of MoCatalogCompare() into a List of DiffItem. */
static void
DiffItemCollect(void *arg, const MoCatalogObject *e, const MoCatalogObject *a)
{
	List	  **items = (List **) arg;
	DiffItem   *item = palloc(sizeof(DiffItem));

	item->e = e;
	item->a = a;
	*items = lappend(*items, item);
}

/*
 * migrate_ops.verify_signatures for MO_CAPTURE_DIFF: captures again, keeping
 * every object, and fails unless both give the same differences from ref
 * (kind, identity, change, hashes) and the same fingerprint.
 */
static void
VerifyDiffCapture(MoCatalogState *diff, int flags, List *schemas, const MoCatalogFilter *filter,
				  const MoCatalogState *ref)
{
	MoCatalogState *full = MoCatalogCaptureExt(flags & ~MO_CAPTURE_DIFF, schemas, filter, ref);
	List	   *d1 = NIL;
	List	   *d2 = NIL;
	const char *what = NULL;

	(void) MoCatalogCompare(ref, diff, DiffItemCollect, &d1);
	(void) MoCatalogCompare(ref, full, DiffItemCollect, &d2);
	if (list_length(d1) != list_length(d2))
		what = "the number of differences";
	for (int i = 0; what == NULL && i < list_length(d1); i++)
	{
		DiffItem   *x = list_nth(d1, i);
		DiffItem   *y = list_nth(d2, i);

		if ((x->e == NULL) != (y->e == NULL) || (x->a == NULL) != (y->a == NULL) ||
			(x->e && x->e != y->e) ||
			(x->a && (x->a->kind != y->a->kind || strcmp(x->a->identity, y->a->identity) != 0 ||
					  memcmp(x->a->hash, y->a->hash, sizeof(x->a->hash)) != 0)))
			what = psprintf("%s %s", MoKindNames[(x->a ? x->a : x->e)->kind], (x->a ? x->a : x->e)->identity);
	}
	if (what == NULL && strcmp(MoCatalogFingerprint(diff), MoCatalogFingerprint(full)) != 0)
		what = "the fingerprint";
	if (what)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("capture shortcut check failed: %s", what),
				 errdetail("Comparing only what differs from the snapshot gave another result than comparing every object."),
				 errhint("This is a bug of migrate_ops: please report it.")));
	list_free_deep(d1);
	list_free_deep(d2);
	MoCatalogFree(full);
}

/* See migrate_ops.h. */
MoCatalogState *
MoCatalogCaptureExt(int flags, List *schemas, const MoCatalogFilter *filter,
					const MoCatalogState *ref)
{
	Capture		cap = {0};
	int			nest;

	cap.state = MoCatalogStateCreate();
	if (ref && !(flags & MO_CAPTURE_DIFF))
		MoCatalogStateReserve(cap.state, ref->count + ref->count / 16 + 1024);
	cap.filter = filter;
	cap.ref = ref;
	cap.flags = flags;
	if (ref && !(flags & MO_CAPTURE_DEFINITIONS))
	{
		/* lookups in ref by hash; the capture ordered by ref when it can be */
		StateBuildIndex((MoCatalogState *) ref);
		cap.by_ref = ((const StateImpl *) ref)->slots != NULL;
		if (cap.by_ref)
		{
			cap.diff = (flags & MO_CAPTURE_DIFF) != 0;
			cap.refpos_cap = cap.diff ? 1024 : ref->count + ref->count / 16 + 1024;
			cap.refpos = palloc(sizeof(int) * cap.refpos_cap);
			cap.refseen = palloc0(ref->count + 1);
			if (cap.diff)
				cap.diff_equal = MemoryContextAllocZero(cap.state->cxt, ref->count + 1);
		}
	}
	cap.all = (schemas == NIL);
	cap.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "migrate_ops catalog row",
									   ALLOCSET_DEFAULT_SIZES);
	cap.querycxt = AllocSetContextCreate(CurrentMemoryContext, "migrate_ops catalog query",
										 ALLOCSET_DEFAULT_SIZES);
	cap.sha = pg_cryptohash_create(PG_SHA256);
	if (cap.sha == NULL)
		elog(ERROR, "could not create a SHA-256 context");
	SigCapturePrepare(&cap);

	nest = PinOutputSettings();
	SPI_connect();

	/*
	 * One snapshot for every query, pushed, so that the deparsers called on
	 * their rows (which read the catalog with their own read-only queries)
	 * see what the queries see, this transaction's own changes included.
	 */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	SigCaptureReadGlobals(&cap);
	CaptureNamespaces(&cap, schemas);
	LoadTrackedRelations(&cap);
	ScanColumns(&cap);
	RelDigestFinishAll(&cap);	/* the names signatures use */
	CaptureRelations(&cap);
	ScanConstraintsAndIndexes(&cap);
	RunQuery(&cap, "triggers", q_triggers, HandleTrigger);
	RunQuery(&cap, "policies", q_policies, HandlePolicy);
	RunQuery(&cap, "routines", q_routines, HandleRoutine);
	RunQueryExt(&cap, "types", q_types, HandleType, cap.composites);
	RunQuery(&cap, "extensions", q_extensions, HandleExtension);
	RunQuery(&cap, "event triggers", q_event_triggers, HandleEventTrigger);
	PopActiveSnapshot();
	SPI_finish();
	AtEOXact_GUC(true, nest);

	pg_cryptohash_free(cap.sha);
	SigCaptureDone(&cap);
	MemoryContextDelete(cap.rowcxt);
	MemoryContextDelete(cap.querycxt);
	if (cap.refpos)
	{
		pfree(cap.refseen);
		cap.refseen = NULL;
	}
	if (cap.diff_failed)
	{
		pfree(cap.refpos);
		MoCatalogFree(cap.state);
		return MoCatalogCaptureExt(flags & ~MO_CAPTURE_DIFF, schemas, filter, ref);
	}
	CaptureFinish(&cap);
	if (cap.refpos)
		pfree(cap.refpos);
	if (cap.diff)
	{
		cap.state->diff_ref = ref;
		cap.state->diff_equal = cap.diff_equal;
		if (mo_verify_signatures)
			VerifyDiffCapture(cap.state, flags, schemas, filter, ref);
	}
	elog(DEBUG1, "migrate_ops: captured %d catalog objects in %zu bytes; %d signed, %d lent their hash, %d deparsed",
		 cap.state->count, MemoryContextMemAllocated(cap.state->cxt, true),
		 cap.nsigned, cap.nlent, cap.ndeparsed);
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
