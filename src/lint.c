/*
 * lint.c — lint(): safety analysis of a migration script (DESIGN §6).
 *
 * The script is split and parsed by PostgreSQL's own parser (MoParseScript)
 * and each raw parse tree is walked here: which relations a statement locks
 * and in which mode (the modes PostgreSQL's documentation gives, taken from
 * the server itself where it exports them, e.g. AlterTableGetLockLevel), and
 * which rules of migrate_ops.lint_rules it breaks.  Whether a column change
 * rewrites the table is decided the way ALTER TABLE decides it: the
 * assignment coercion is built and simplified by the planner, then checked
 * for anything but a relabelling.  Whether a default is volatile is decided
 * by transforming it as a column default and asking the planner.
 *
 * "Existing" relations are those not created earlier in the same script: a
 * relation created in the migration is invisible to other sessions until it
 * commits, so locks on it block no one and rewriting it costs nothing.  The
 * catalog, when it knows the relation, gives its qualified name, its column
 * types and its constraints.
 *
 * Nothing here executes the script or takes a lock on a user relation.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parse_type.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "migrate_ops.h"

PG_FUNCTION_INFO_V1(migrate_ops_lint);
PG_FUNCTION_INFO_V1(migrate_ops_lint_rules_update);

/* Lock modes as PostgreSQL's documentation and LOCK TABLE spell them. */
static const char *const lock_mode_names[] = {
	NULL,
	"ACCESS SHARE",
	"ROW SHARE",
	"ROW EXCLUSIVE",
	"SHARE UPDATE EXCLUSIVE",
	"SHARE",
	"SHARE ROW EXCLUSIVE",
	"EXCLUSIVE",
	"ACCESS EXCLUSIVE"
};

/* Returns the documentation's name of a table lock mode, or NULL. */
const char *
MoLockModeName(LOCKMODE mode)
{
	if (mode < AccessShareLock || mode > AccessExclusiveLock)
		return NULL;
	return lock_mode_names[mode];
}

/* A rule as the team tuned it (migrate_ops.lint_rules). */
typedef struct RuleSetting
{
	char	   *id;
	char	   *severity;
	char	   *hint;
	bool		enabled;
} RuleSetting;

/*
 * What the script created earlier, by kind ('r' relation, 's' schema, 't'
 * type) and name: the hash key is the kind followed by the name (a
 * truncated identifier, so it fits), the entry the schemas it was created
 * in as written (NULL for an unqualified name).
 */
#define CREATED_KEY_LEN (NAMEDATALEN + 2)
typedef struct Created
{
	char		key[CREATED_KEY_LEN];
	List	   *schemas;
} Created;

/* A relation a statement names, resolved as far as the catalog allows. */
typedef struct LintRel
{
	char	   *name;			/* schema-qualified when the catalog knows it */
	Oid			relid;			/* InvalidOid when not in the catalog */
	bool		existing;		/* not created earlier in the script, not temporary */
} LintRel;

/* The strongest lock a statement takes on one relation. */
typedef struct StmtLock
{
	char	   *relation;
	LOCKMODE	mode;
	bool		existing;
} StmtLock;

/* State of one lint() run. */
typedef struct LintCtx
{
	MemoryContext cxt;			/* findings and script-long state live here */
	RuleSetting *rules;
	int			nrules;
	HTAB	   *created;		/* Created, in cxt */
	int			lock_timeout;	/* ms in effect for the next statement, 0 = none */
	MoStatement *st;			/* the statement being linted */
	List	   *locks;			/* StmtLock*, per statement */
	List	   *pending;		/* the statement's findings (MoLintFinding* in cxt) */
	List	   *findings;		/* every finding so far, in cxt */
} LintCtx;

static void LintStatement(LintCtx *ctx, Node *stmt);

/* ---- the rule catalog ---- */

/* True when this database's migrate_ops schema has lint (0.2.0 or later). */
bool
MoLintAvailable(void)
{
	Oid			nsp = get_namespace_oid(MO_SCHEMA, true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("lint_rules", nsp));
}

/* Reads migrate_ops.lint_rules (as the extension's owner) into ctx. */
static void
LoadRules(LintCtx *ctx)
{
	MoOwnerState owner;

	if (!MoLintAvailable())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migrate_ops.lint_rules does not exist"),
				 errhint("Run ALTER EXTENSION migrate_ops UPDATE.")));
	SPI_connect();
	MoBecomeOwner(&owner);
	MoSpiExec("SELECT id, severity, hint, enabled FROM migrate_ops.lint_rules", NULL);
	MoRestoreUser(&owner);
	ctx->nrules = (int) SPI_processed;
	ctx->rules = MemoryContextAllocZero(ctx->cxt, sizeof(RuleSetting) * (ctx->nrules + 1));
	for (int i = 0; i < ctx->nrules; i++)
	{
		char	   *enabled = MoSpiGetText(i, 4);

		ctx->rules[i].id = MemoryContextStrdup(ctx->cxt, MoSpiGetText(i, 1));
		ctx->rules[i].severity = MemoryContextStrdup(ctx->cxt, MoSpiGetText(i, 2));
		ctx->rules[i].hint = MemoryContextStrdup(ctx->cxt, MoSpiGetText(i, 3));
		ctx->rules[i].enabled = enabled != NULL && enabled[0] == 't';
	}
	SPI_finish();
}

/* The tuned setting of a rule, or NULL when the catalog lacks it. */
static RuleSetting *
FindRule(LintCtx *ctx, const char *id)
{
	for (int i = 0; i < ctx->nrules; i++)
		if (strcmp(ctx->rules[i].id, id) == 0)
			return &ctx->rules[i];
	return NULL;
}

/* Records a finding (below); the format is checked like printf's. */
static void
Finding(LintCtx *ctx, const char *id, const char *relation,
		const char *alternative, const char *fmt,...)
pg_attribute_printf(5, 6);

/*
 * Records a finding of rule id on the current statement, unless the rule is
 * disabled.  relation names what the lock is on (filled in when the
 * statement is done); alternative defaults to the rule's hint.
 */
static void
Finding(LintCtx *ctx, const char *id, const char *relation,
		const char *alternative, const char *fmt,...)
{
	RuleSetting *rule = FindRule(ctx, id);
	MemoryContext old;
	MoLintFinding *f;

	if (rule == NULL || !rule->enabled)
		return;

	old = MemoryContextSwitchTo(ctx->cxt);
	f = palloc0(sizeof(MoLintFinding));
	f->statement = ctx->st->number;
	f->line = ctx->st->line;
	f->command = ctx->st->tag;
	f->rule_id = rule->id;
	f->severity = rule->severity;
	f->relation = relation ? pstrdup(relation) : NULL;
	f->safe_alternative = pstrdup(alternative ? alternative : rule->hint);
	for (size_t len = 256;;)
	{
		va_list		args;
		size_t		needed;

		f->message = palloc(len);
		va_start(args, fmt);
		needed = pvsnprintf(f->message, len, fmt, args);
		va_end(args);
		if (needed < len)
			break;
		pfree(f->message);
		len = needed;
	}
	MemoryContextSwitchTo(old);

	ctx->pending = lappend(ctx->pending, f);
}

/* ---- names, and what the script created ---- */

/* Fills the hash key of a created object. */
static void
CreatedKey(char *key, char kind, const char *name)
{
	memset(key, 0, CREATED_KEY_LEN);
	key[0] = kind;
	strlcpy(key + 1, name, CREATED_KEY_LEN - 1);
}

/* Remembers that the script creates an object (kind 'r', 's' or 't'). */
static void
AddCreated(LintCtx *ctx, char kind, const char *schema, const char *name)
{
	MemoryContext old = MemoryContextSwitchTo(ctx->cxt);
	char		key[CREATED_KEY_LEN];
	Created    *c;
	bool		found;

	CreatedKey(key, kind, name);
	c = hash_search(ctx->created, key, HASH_ENTER, &found);
	if (!found)
		c->schemas = NIL;
	c->schemas = lappend(c->schemas, schema ? pstrdup(schema) : NULL);
	MemoryContextSwitchTo(old);
}

/* True when the script created this object earlier (unqualified names match any schema). */
static bool
IsCreated(LintCtx *ctx, char kind, const char *schema, const char *name)
{
	char		key[CREATED_KEY_LEN];
	Created    *c;
	ListCell   *lc;

	CreatedKey(key, kind, name);
	c = hash_search(ctx->created, key, HASH_FIND, NULL);
	if (c == NULL)
		return false;
	foreach(lc, c->schemas)
	{
		const char *s = (const char *) lfirst(lc);

		if (s == NULL || schema == NULL || strcmp(s, schema) == 0)
			return true;
	}
	return false;
}

/* Splits a qualified name list into schema (or NULL) and object name; false if malformed. */
static bool
SplitName(List *names, char **schema, char **name)
{
	int			n = list_length(names);

	if (n < 1 || n > 3)
		return false;
	*name = strVal(llast(names));
	*schema = n >= 2 ? strVal(list_nth(names, n - 2)) : NULL;
	return true;
}

/* Resolves a relation the statement names; never fails. */
static LintRel *
ResolveRel(LintCtx *ctx, RangeVar *rv)
{
	LintRel    *r = palloc0(sizeof(LintRel));
	bool		created = IsCreated(ctx, 'r', rv->schemaname, rv->relname);

	if (!created && (rv->catalogname == NULL ||
					 strcmp(rv->catalogname, get_database_name(MyDatabaseId)) == 0))
		r->relid = RangeVarGetRelid(rv, NoLock, true);
	if (OidIsValid(r->relid))
		r->name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(r->relid)),
											 get_rel_name(r->relid));
	else
		r->name = quote_qualified_identifier(rv->schemaname, rv->relname);
	r->existing = !created && rv->relpersistence != RELPERSISTENCE_TEMP &&
		!(OidIsValid(r->relid) && isAnyTempNamespace(get_rel_namespace(r->relid)));
	return r;
}

/* Resolves a relation given as a qualified name list (DROP, COMMENT). */
static LintRel *
ResolveRelNames(LintCtx *ctx, List *names)
{
	char	   *schema;
	char	   *name;

	if (!SplitName(names, &schema, &name))
	{
		LintRel    *r = palloc0(sizeof(LintRel));

		r->name = NameListToString(names);
		r->existing = true;
		return r;
	}
	return ResolveRel(ctx, makeRangeVar(schema, name, -1));
}

/* The table an index belongs to, when the catalog knows the index; else the index. */
static LintRel *
IndexTable(LintRel *index)
{
	Oid			table;
	LintRel    *r;

	if (!OidIsValid(index->relid) || get_rel_relkind(index->relid) != RELKIND_INDEX ||
		!OidIsValid(table = IndexGetRelation(index->relid, true)))
		return index;
	r = palloc0(sizeof(LintRel));
	r->relid = table;
	r->name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(table)),
										 get_rel_name(table));
	r->existing = index->existing && !isAnyTempNamespace(get_rel_namespace(table));
	return r;
}

/* Records that the statement locks rel in mode (keeping the strongest). */
static void
NoteLock(LintCtx *ctx, LintRel *rel, LOCKMODE mode)
{
	ListCell   *lc;
	StmtLock   *l;

	foreach(lc, ctx->locks)
	{
		l = (StmtLock *) lfirst(lc);
		if (strcmp(l->relation, rel->name) == 0)
		{
			l->mode = Max(l->mode, mode);
			return;
		}
	}
	l = palloc(sizeof(StmtLock));
	l->relation = rel->name;
	l->mode = mode;
	l->existing = rel->existing;
	ctx->locks = lappend(ctx->locks, l);
}

/* ---- running a check that may raise an error ---- */

typedef void (*TryFn) (void *arg);

/*
 * Runs fn(arg) in a subtransaction; returns false (with the error's message
 * in *message) when it raised an error.  Used for catalog questions about
 * names the script may not have created yet; a cancel is never swallowed.
 */
static bool
LintTry(TryFn fn, void *arg, char **message)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			PG_RE_THROW();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		*message = edata->message;
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* ---- column changes ---- */

/* A default expression, and whether it is volatile. */
typedef struct DefaultCheck
{
	Node	   *raw;
	bool		is_volatile;
} DefaultCheck;

/* Transforms a column default as CREATE/ALTER TABLE would and checks its volatility. */
static void
CheckDefault(void *arg)
{
	DefaultCheck *dc = (DefaultCheck *) arg;
	ParseState *pstate = make_parsestate(NULL);
	Node	   *expr = transformExpr(pstate, copyObject(dc->raw), EXPR_KIND_COLUMN_DEFAULT);

	dc->is_volatile = contain_volatile_functions(expr);
	free_parsestate(pstate);
}

/* A column type, and whether it is a domain with constraints. */
typedef struct DomainCheck
{
	TypeName   *type;
	bool		constrained;
} DomainCheck;

/* Looks the type up and asks the type cache about domain constraints. */
static void
CheckDomain(void *arg)
{
	DomainCheck *dc = (DomainCheck *) arg;
	Oid			typid = LookupTypeNameOid(NULL, dc->type, true);

	dc->constrained = OidIsValid(typid) && get_typtype(typid) == TYPTYPE_DOMAIN &&
		DomainHasConstraints(typid);
}

/* True for the serial pseudo-types (their default is nextval(), volatile). */
static bool
IsSerialType(TypeName *type)
{
	const char *name;

	if (type == NULL || list_length(type->names) != 1 || type->pct_type || type->arrayBounds)
		return false;
	name = strVal(linitial(type->names));
	return strcmp(name, "serial") == 0 || strcmp(name, "serial4") == 0 ||
		strcmp(name, "bigserial") == 0 || strcmp(name, "serial8") == 0 ||
		strcmp(name, "smallserial") == 0 || strcmp(name, "serial2") == 0;
}

/* ALTER TABLE … ADD COLUMN on an existing table: rewrites, inline constraints. */
static void
LintAddColumn(LintCtx *ctx, LintRel *rel, ColumnDef *def)
{
	Node	   *default_expr = def->raw_default;
	bool		identity = false;
	bool		generated = false;
	bool		unique = false;
	const char *why = NULL;
	char	   *msg = NULL;
	ListCell   *lc;

	foreach(lc, def->constraints)
	{
		Constraint *c = lfirst_node(Constraint, lc);

		if (c->contype == CONSTR_DEFAULT)
			default_expr = c->raw_expr;
		else if (c->contype == CONSTR_IDENTITY)
			identity = true;
		else if (c->contype == CONSTR_GENERATED)
			generated = true;
		else if (c->contype == CONSTR_PRIMARY || c->contype == CONSTR_UNIQUE)
			unique = true;
	}
	if (!rel->existing)
		return;

	if (IsSerialType(def->typeName))
		why = "a serial column's default, nextval(), is volatile";
	else if (identity)
		why = "an identity column is filled from its sequence row by row";
	else if (generated)
		why = "a stored generated column is computed row by row";
	else if (default_expr)
	{
		DefaultCheck dc = {default_expr, false};

		if (!LintTry(CheckDefault, &dc, &msg))
			why = psprintf("its default could not be checked here (%s), so it is assumed volatile", msg);
		else if (dc.is_volatile)
			why = "its default is volatile, so every row needs its own value";
	}
	else
	{
		DomainCheck dc = {def->typeName, false};

		if (LintTry(CheckDomain, &dc, &msg) && dc.constrained)
			why = "its type is a domain with constraints, checked row by row";
	}
	if (why)
		Finding(ctx, "add_column_volatile_default", rel->name,
				"Add the column without a default (or with a constant one), set the default "
				"afterwards, and fill existing rows in batches.",
				"adding column %s to %s rewrites the whole table under an ACCESS EXCLUSIVE lock: %s",
				quote_identifier(def->colname), rel->name, why);
	if (unique)
		Finding(ctx, "add_unique_without_index", rel->name,
				"Add the column alone, then CREATE UNIQUE INDEX CONCURRENTLY and "
				"ALTER TABLE … ADD CONSTRAINT … UNIQUE USING INDEX.",
				"adding column %s to %s with an inline PRIMARY KEY or UNIQUE constraint builds "
				"its index under an ACCESS EXCLUSIVE lock",
				quote_identifier(def->colname), rel->name);
}

/* What ALTER COLUMN … TYPE does to a column, as ALTER TABLE would decide it. */
typedef struct TypeChange
{
	AttrNumber	attnum;
	Oid			oldtype;
	int32		oldtypmod;
	Oid			oldcoll;
	TypeName   *newname;
	Oid			newtype;
	int32		newtypmod;
	bool		castable;		/* an assignment cast exists */
	bool		rewrite;		/* the cast is more than a relabelling */
} TypeChange;

/*
 * Mirrors tablecmds.c's ATColumnChangeRequiresRewrite(): after the planner
 * simplified the coercion, anything but the column itself under
 * relabellings (and timestamp <-> timestamptz when the time zone is UTC)
 * needs the table rewritten.
 */
static bool
ChangeRequiresRewrite(Node *expr, AttrNumber attnum)
{
	for (;;)
	{
		if (IsA(expr, Var) && ((Var *) expr)->varattno == attnum)
			return false;
		else if (IsA(expr, RelabelType))
			expr = (Node *) ((RelabelType *) expr)->arg;
		else if (IsA(expr, CoerceToDomain))
		{
			CoerceToDomain *d = (CoerceToDomain *) expr;

			if (DomainHasConstraints(d->resulttype))
				return true;
			expr = (Node *) d->arg;
		}
		else if (IsA(expr, FuncExpr))
		{
			FuncExpr   *f = (FuncExpr *) expr;

			if ((f->funcid == F_TIMESTAMPTZ_TIMESTAMP || f->funcid == F_TIMESTAMP_TIMESTAMPTZ) &&
				!TimestampTimestampTzRequiresRewrite())
				expr = linitial(f->args);
			else
				return true;
		}
		else
			return true;
	}
}

/* check_functions_in_node() callback: a function that is not built into PostgreSQL. */
static bool
IsUserFunction(Oid funcid, void *context)
{
	(void) context;
	return funcid >= FirstNormalObjectId;
}

/* expression_tree_walker() callback of ContainsUserFunction(). */
static bool
ContainsUserFunctionWalker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, IsUserFunction, context))
		return true;
	return expression_tree_walker(node, ContainsUserFunctionWalker, context);
}

/*
 * True when expr calls a function (or operator) that is not built in.  The
 * planner's constant folding executes immutable functions: lint() never
 * folds an expression that could run a function a table's owner wrote (it
 * would run as whoever lints, who may be a superuser).
 */
static bool
ContainsUserFunction(Node *expr)
{
	return ContainsUserFunctionWalker(expr, NULL);
}

/* Resolves the new type and builds the coercion ALTER TABLE would use. */
static void
CheckTypeChange(void *arg)
{
	TypeChange *tc = (TypeChange *) arg;
	Var		   *var;
	Node	   *expr;

	typenameTypeIdAndMod(NULL, tc->newname, &tc->newtype, &tc->newtypmod);
	var = makeVar(1, tc->attnum, tc->oldtype, tc->oldtypmod, tc->oldcoll, 0);
	expr = coerce_to_target_type(NULL, (Node *) var, tc->oldtype, tc->newtype, tc->newtypmod,
								 COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
	tc->castable = expr != NULL;
	if (expr && ContainsUserFunction(expr))
		tc->rewrite = true;		/* a cast function of its own: never run, assumed to rewrite */
	else if (expr)
	{
		expr = (Node *) expression_planner((Expr *) expr);
		tc->rewrite = ChangeRequiresRewrite(expr, tc->attnum);
	}
}

/* Integer digits a numeric must hold to take every value of an integer type. */
static int
IntegerDigits(Oid type)
{
	switch (type)
	{
		case INT2OID:
			return 5;
		case INT4OID:
			return 10;
		case INT8OID:
			return 19;
		default:
			return -1;
	}
}

/*
 * True when every value of (oldtype, oldtypmod) survives the change to
 * (newtype, newtypmod) unchanged: the same type with a looser modifier, a
 * known widening (int2 → int4 → int8 → numeric, float4 → float8, date →
 * timestamp, …), or any type to text.  Everything else may round, truncate
 * or reject values.
 */
static bool
TypeChangeKeepsValues(Oid oldtype, int32 oldtypmod, Oid newtype, int32 newtypmod)
{
	oldtype = getBaseTypeAndTypmod(oldtype, &oldtypmod);
	newtype = getBaseTypeAndTypmod(newtype, &newtypmod);

	if (newtype == TEXTOID || (newtype == VARCHAROID && newtypmod < 0))
		return true;
	if (oldtype == newtype)
	{
		if (newtypmod < 0 || newtypmod == oldtypmod)
			return true;
		if (oldtypmod < 0)
			return false;
		switch (newtype)
		{
			case VARCHAROID:
			case BPCHAROID:
			case VARBITOID:
			case TIMESTAMPOID:
			case TIMESTAMPTZOID:
			case TIMEOID:
			case TIMETZOID:
				return newtypmod >= oldtypmod;
			case NUMERICOID:
				{
					int			op = ((oldtypmod - VARHDRSZ) >> 16) & 0xffff;
					int			os = (((oldtypmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024;
					int			np = ((newtypmod - VARHDRSZ) >> 16) & 0xffff;
					int			ns = (((newtypmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024;

					return ns >= os && np - ns >= op - os;
				}
			default:
				return false;
		}
	}
	if (newtype == NUMERICOID && IntegerDigits(oldtype) > 0)
		return newtypmod < 0 ||
			((((newtypmod - VARHDRSZ) >> 16) & 0xffff) -
			 ((((newtypmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024)) >= IntegerDigits(oldtype);
	switch (oldtype)
	{
		case INT2OID:
			return newtype == INT4OID || newtype == INT8OID || newtype == FLOAT4OID ||
				newtype == FLOAT8OID;
		case INT4OID:
			return newtype == INT8OID || newtype == FLOAT8OID;
		case FLOAT4OID:
			return newtype == FLOAT8OID || (newtype == NUMERICOID && newtypmod < 0);
		case DATEOID:
			return newtype == TIMESTAMPOID || newtype == TIMESTAMPTZOID;
		case TIMESTAMPOID:
			return newtype == TIMESTAMPTZOID;
		case CIDROID:
			return newtype == INETOID;
		default:
			return false;
	}
}

/* ALTER TABLE … ALTER COLUMN … TYPE: rewrite and data loss. */
static void
LintAlterColumnType(LintCtx *ctx, LintRel *rel, AlterTableCmd *cmd)
{
	ColumnDef  *def = castNode(ColumnDef, cmd->def);
	TypeChange	tc = {0};
	const char *col = quote_identifier(cmd->name);
	char	   *msg = NULL;
	char	   *from;
	char	   *to;
	const char *alt = "Add a new column of the new type, fill it in batches (a trigger keeps it "
		"current), then switch the application over and drop the old column.";

	if (!rel->existing)
		return;
	if (OidIsValid(rel->relid))
		tc.attnum = get_attnum(rel->relid, cmd->name);
	if (tc.attnum == InvalidAttrNumber)
	{
		Finding(ctx, "alter_column_type_rewrite", rel->name, alt,
				"changing the type of column %s of %s may rewrite the whole table under an "
				"ACCESS EXCLUSIVE lock (the column is not in this database, so whether the "
				"change is binary-coercible cannot be checked)", col, rel->name);
		return;
	}
	get_atttypetypmodcoll(rel->relid, tc.attnum, &tc.oldtype, &tc.oldtypmod, &tc.oldcoll);
	tc.newname = def->typeName;
	if (!LintTry(CheckTypeChange, &tc, &msg))
	{
		Finding(ctx, "alter_column_type_rewrite", rel->name, alt,
				"changing the type of column %s of %s may rewrite the whole table under an "
				"ACCESS EXCLUSIVE lock (the new type could not be checked: %s)", col, rel->name, msg);
		return;
	}
	from = format_type_with_typemod(tc.oldtype, tc.oldtypmod);
	to = format_type_with_typemod(tc.newtype, tc.newtypmod);

	if (!TypeChangeKeepsValues(tc.oldtype, tc.oldtypmod, tc.newtype, tc.newtypmod))
		Finding(ctx, "alter_column_type_lossy", rel->name, alt,
				"changing column %s of %s from %s to %s can lose data: values that do not fit "
				"are rounded, truncated or rejected", col, rel->name, from, to);

	if (def->raw_default != NULL)
		Finding(ctx, "alter_column_type_rewrite", rel->name, alt,
				"changing column %s of %s from %s to %s with USING rewrites the whole table "
				"and its indexes under an ACCESS EXCLUSIVE lock", col, rel->name, from, to);
	else if (!tc.castable)
		Finding(ctx, "alter_column_type_rewrite", rel->name, alt,
				"there is no automatic conversion of column %s of %s from %s to %s: the "
				"statement fails without USING, and with it rewrites the whole table",
				col, rel->name, from, to);
	else if (tc.rewrite)
		Finding(ctx, "alter_column_type_rewrite", rel->name, alt,
				"changing column %s of %s from %s to %s is not binary-coercible: it rewrites "
				"the whole table and its indexes under an ACCESS EXCLUSIVE lock",
				col, rel->name, from, to);
}

/*
 * True when a validated CHECK constraint of relid proves the column NOT
 * NULL, so SET NOT NULL skips its scan (PostgreSQL 12+), decided by the
 * planner's own predicate prover as ALTER TABLE does.
 */
static bool
NotNullImpliedByCheck(Oid relid, AttrNumber attnum)
{
	Relation	conrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	List	   *checks = NIL;
	NullTest   *nt;
	Oid			typid;
	int32		typmod;
	Oid			coll;

	conrel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(conrel, ConstraintRelidTypidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);
		bool		isnull;
		Datum		bin;
		Node	   *expr;

		if (con->contype != CONSTRAINT_CHECK || !con->convalidated)
			continue;
		bin = heap_getattr(tup, Anum_pg_constraint_conbin, RelationGetDescr(conrel), &isnull);
		if (isnull)
			continue;
		expr = stringToNode(TextDatumGetCString(bin));
		if (!ContainsUserFunction(expr))
			expr = eval_const_expressions(NULL, expr);
		expr = (Node *) canonicalize_qual((Expr *) expr, true);
		checks = list_concat(checks, make_ands_implicit((Expr *) expr));
	}
	systable_endscan(scan);
	table_close(conrel, AccessShareLock);
	if (checks == NIL)
		return false;

	get_atttypetypmodcoll(relid, attnum, &typid, &typmod, &coll);
	nt = makeNode(NullTest);
	nt->arg = (Expr *) makeVar(1, attnum, typid, typmod, coll, 0);
	nt->nulltesttype = IS_NOT_NULL;
	nt->argisrow = false;
	nt->location = -1;
	return predicate_implied_by(list_make1(nt), checks, false);
}

/* ALTER TABLE … ALTER COLUMN … SET NOT NULL: a full scan unless a CHECK proves it. */
static void
LintSetNotNull(LintCtx *ctx, LintRel *rel, const char *column)
{
	AttrNumber	attnum = InvalidAttrNumber;

	if (!rel->existing)
		return;
	if (OidIsValid(rel->relid))
		attnum = get_attnum(rel->relid, column);
	if (attnum != InvalidAttrNumber)
	{
		HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(rel->relid),
										  Int16GetDatum(attnum));
		bool		notnull = false;

		if (HeapTupleIsValid(tup))
		{
			notnull = ((Form_pg_attribute) GETSTRUCT(tup))->attnotnull;
			ReleaseSysCache(tup);
		}
		if (notnull || NotNullImpliedByCheck(rel->relid, attnum))
			return;
	}
	Finding(ctx, "set_not_null", rel->name,
			psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID; then, in a "
					 "later migration, VALIDATE CONSTRAINT (SHARE UPDATE EXCLUSIVE), SET NOT NULL "
					 "(no scan: the valid CHECK proves it) and drop the CHECK.",
					 rel->name, quote_identifier(psprintf("%s_not_null", column)),
					 quote_identifier(column)),
			"SET NOT NULL on column %s of %s scans the whole table under an ACCESS EXCLUSIVE lock",
			quote_identifier(column), rel->name);
}

/* ALTER TABLE … ADD CONSTRAINT: validation scans and index builds. */
static void
LintAddConstraint(LintCtx *ctx, LintRel *rel, Constraint *c)
{
	switch (c->contype)
	{
		case CONSTR_FOREIGN:
			{
				LintRel    *pk = ResolveRel(ctx, c->pktable);

				NoteLock(ctx, pk, ShareRowExclusiveLock);
				if (rel->existing && !c->skip_validation)
					Finding(ctx, "add_foreign_key_without_not_valid", rel->name,
							"Add the foreign key with NOT VALID (a brief lock), then VALIDATE "
							"CONSTRAINT in a later statement or migration (SHARE UPDATE EXCLUSIVE: "
							"reads and writes go on).",
							"adding a foreign key to %s validates every row while holding SHARE ROW "
							"EXCLUSIVE locks on %s and %s, blocking their writes",
							rel->name, rel->name, pk->name);
				break;
			}
		case CONSTR_CHECK:
			if (rel->existing && !c->skip_validation)
				Finding(ctx, "add_check_without_not_valid", rel->name,
						"Add the CHECK constraint with NOT VALID, then VALIDATE CONSTRAINT in a "
						"later statement or migration (SHARE UPDATE EXCLUSIVE).",
						"adding a CHECK constraint to %s scans the whole table under an ACCESS "
						"EXCLUSIVE lock", rel->name);
			break;
		case CONSTR_PRIMARY:
		case CONSTR_UNIQUE:
			if (rel->existing && c->indexname == NULL)
				Finding(ctx, "add_unique_without_index", rel->name,
						"CREATE UNIQUE INDEX CONCURRENTLY in a migration of its own, then ALTER "
						"TABLE … ADD CONSTRAINT … USING INDEX (a brief lock).",
						"adding a %s constraint to %s builds its index under an ACCESS EXCLUSIVE "
						"lock", c->contype == CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE", rel->name);
			break;
		default:
			break;
	}
}

/* ALTER TABLE (and ALTER INDEX, VIEW, …): the lock, then each subcommand. */
static void
LintAlterTable(LintCtx *ctx, AlterTableStmt *stmt)
{
	LintRel    *rel = ResolveRel(ctx, stmt->relation);
	ListCell   *lc;

	NoteLock(ctx, rel, AlterTableGetLockLevel(stmt->cmds));
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		switch (cmd->subtype)
		{
			case AT_AddColumn:
				LintAddColumn(ctx, rel, castNode(ColumnDef, cmd->def));
				break;
			case AT_AlterColumnType:
				LintAlterColumnType(ctx, rel, cmd);
				break;
			case AT_SetNotNull:
				LintSetNotNull(ctx, rel, cmd->name);
				break;
			case AT_DropNotNull:
				if (rel->existing)
					Finding(ctx, "drop_not_null", rel->name, NULL,
							"column %s of %s becomes nullable: code reading it must expect NULL",
							quote_identifier(cmd->name), rel->name);
				break;
			case AT_DropColumn:
				if (rel->existing)
					Finding(ctx, "drop_column", rel->name, NULL,
							"dropping column %s of %s deletes its data, and breaks every query "
							"that still names it", quote_identifier(cmd->name), rel->name);
				break;
			case AT_AddConstraint:
				LintAddConstraint(ctx, rel, castNode(Constraint, cmd->def));
				break;
			case AT_DetachPartition:
				{
					PartitionCmd *pc = castNode(PartitionCmd, cmd->def);

					NoteLock(ctx, ResolveRel(ctx, pc->name),
							 pc->concurrent ? ShareUpdateExclusiveLock : AccessExclusiveLock);
					if (!pc->concurrent && rel->existing)
						Finding(ctx, "detach_partition_not_concurrently", rel->name, NULL,
								"detaching partition %s from %s takes an ACCESS EXCLUSIVE lock on "
								"the partitioned table", ResolveRel(ctx, pc->name)->name, rel->name);
					break;
				}
			case AT_AttachPartition:
				NoteLock(ctx, ResolveRel(ctx, castNode(PartitionCmd, cmd->def)->name),
						 AccessExclusiveLock);
				break;
			case AT_SetLogged:
			case AT_SetUnLogged:
				if (rel->existing)
					Finding(ctx, "set_logged_unlogged", rel->name, NULL,
							"SET %s rewrites %s and its indexes under an ACCESS EXCLUSIVE lock",
							cmd->subtype == AT_SetLogged ? "LOGGED" : "UNLOGGED", rel->name);
				break;
			case AT_SetTableSpace:
#ifdef MO_HAVE_SET_ACCESS_METHOD
			case AT_SetAccessMethod:
#endif
				if (rel->existing)
					Finding(ctx, "set_tablespace", rel->name, NULL,
							"%s copies %s to new storage under an ACCESS EXCLUSIVE lock",
							cmd->subtype == AT_SetTableSpace ? "SET TABLESPACE" : "SET ACCESS METHOD",
							rel->name);
				break;
			default:
				break;
		}
	}
}

/* ---- other statements ---- */

/* True when a DefElem list (REINDEX, VACUUM, CLUSTER options) turns name on. */
static bool
OptionOn(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, name) == 0)
			return opt->arg == NULL || defGetBoolean(opt);
	}
	return false;
}

/* DROP …: data loss for tables, columns' types and schemas; index locks. */
static void
LintDrop(LintCtx *ctx, DropStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		Node	   *obj = (Node *) lfirst(lc);

		switch (stmt->removeType)
		{
			case OBJECT_TABLE:
			case OBJECT_VIEW:
			case OBJECT_MATVIEW:
			case OBJECT_SEQUENCE:
			case OBJECT_FOREIGN_TABLE:
				{
					LintRel    *rel = ResolveRelNames(ctx, (List *) obj);

					NoteLock(ctx, rel, AccessExclusiveLock);
					if (stmt->removeType == OBJECT_TABLE && rel->existing)
						Finding(ctx, "drop_table", rel->name, NULL,
								"DROP TABLE %s deletes the table and every row in it%s", rel->name,
								stmt->behavior == DROP_CASCADE ? ", and with CASCADE every view and "
								"foreign key that depends on it" : "");
					break;
				}
			case OBJECT_INDEX:
				{
					LintRel    *index = ResolveRelNames(ctx, (List *) obj);
					LintRel    *table = IndexTable(index);

					NoteLock(ctx, table, stmt->concurrent ? ShareUpdateExclusiveLock : AccessExclusiveLock);
					if (!stmt->concurrent && index->existing && table->existing)
						Finding(ctx, "drop_index_not_concurrently", table->name,
								psprintf("DROP INDEX CONCURRENTLY %s, in a migration of its own run "
										 "outside a transaction (psql, then migrate_ops.start()/finish()).",
										 index->name),
								"DROP INDEX %s takes an ACCESS EXCLUSIVE lock on %s, blocking reads "
								"and writes until every running query on it finishes",
								index->name, table->name);
					break;
				}
			case OBJECT_SCHEMA:
				{
					char	   *schema = strVal(obj);

					if (!IsCreated(ctx, 's', NULL, schema))
						Finding(ctx, "drop_schema", NULL, NULL,
								"DROP SCHEMA %s deletes the schema%s", quote_identifier(schema),
								stmt->behavior == DROP_CASCADE ?
								" and, with CASCADE, every table in it with all its rows" :
								" (it fails unless it is empty)");
					break;
				}
			case OBJECT_TYPE:
			case OBJECT_DOMAIN:
				{
					TypeName   *type = castNode(TypeName, obj);
					char	   *schema;
					char	   *name;

					if (SplitName(type->names, &schema, &name) && IsCreated(ctx, 't', schema, name))
						break;
					Finding(ctx, "drop_type", NULL, NULL,
							"DROP %s %s deletes the type%s",
							stmt->removeType == OBJECT_TYPE ? "TYPE" : "DOMAIN", TypeNameToString(type),
							stmt->behavior == DROP_CASCADE ?
							" and, with CASCADE, every column of that type with its data" :
							" (it fails while a column uses it)");
					break;
				}
			case OBJECT_TRIGGER:
			case OBJECT_RULE:
			case OBJECT_POLICY:
				{
					List	   *names = (List *) obj;

					if (list_length(names) >= 2)
						NoteLock(ctx, ResolveRelNames(ctx, list_truncate(list_copy(names),
																		 list_length(names) - 1)),
								 AccessExclusiveLock);
					break;
				}
			default:
				break;
		}
	}
}

/* UPDATE/DELETE without WHERE, and the ROW EXCLUSIVE lock of any DML. */
static void
LintDml(LintCtx *ctx, RangeVar *relation, bool has_where, const char *rule, WithClause *with)
{
	LintRel    *rel = ResolveRel(ctx, relation);

	NoteLock(ctx, rel, RowExclusiveLock);
	if (rule != NULL && !has_where && rel->existing)
	{
		bool		is_delete = strcmp(rule, "delete_without_where") == 0;

		Finding(ctx, rule, rel->name,
				is_delete ? "Add a WHERE clause; to empty the table on purpose use TRUNCATE "
				"(and say so); delete large sets in batches." :
				"Add a WHERE clause; update large tables in batches of a few thousand rows.",
				"%s without WHERE %s every row of %s", is_delete ? "DELETE" : "UPDATE",
				is_delete ? "deletes" : "changes", rel->name);
	}
	if (with != NULL)
	{
		ListCell   *lc;

		foreach(lc, with->ctes)
			LintStatement(ctx, lfirst_node(CommonTableExpr, lc)->ctequery);
	}
}

/* SET lock_timeout / RESET: the timeout in effect for the following statements. */
static void
TrackLockTimeout(LintCtx *ctx, VariableSetStmt *stmt)
{
	const char *value = NULL;
	int			ms;

	if (stmt->kind == VAR_RESET_ALL)
		value = GetConfigOptionResetString("lock_timeout");
	else if (stmt->name == NULL || strcmp(stmt->name, "lock_timeout") != 0)
		return;
	else if (stmt->kind == VAR_SET_DEFAULT || stmt->kind == VAR_RESET)
		value = GetConfigOptionResetString("lock_timeout");
	else if (stmt->kind == VAR_SET_VALUE && list_length(stmt->args) == 1 &&
			 IsA(linitial(stmt->args), A_Const))
	{
		A_Const    *c = (A_Const *) linitial(stmt->args);

		if (MO_ACONST_ISNULL(c))
			return;
		if (IsA(&c->val, Integer))
		{
			ctx->lock_timeout = intVal(&c->val);
			return;
		}
		if (IsA(&c->val, String) || IsA(&c->val, Float))
			value = IsA(&c->val, String) ? strVal(&c->val) : MO_FLOAT_TEXT(&c->val);
	}
	if (value != NULL && parse_int(value, &ms, GUC_UNIT_MS, NULL))
		ctx->lock_timeout = ms;
}

/* The lock_timeout apply() runs a script with: migrate_ops.lock_timeout, else the session's. */
static int
InitialLockTimeout(void)
{
	return mo_lock_timeout > 0 ? mo_lock_timeout : LockTimeout;
}

/* Records what CREATE … statements create, and the locks they take on others. */
static void
LintCreate(LintCtx *ctx, Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_CreateStmt:
			{
				CreateStmt *cs = (CreateStmt *) stmt;
				ListCell   *lc;

				foreach(lc, cs->inhRelations)
					NoteLock(ctx, ResolveRel(ctx, lfirst_node(RangeVar, lc)),
							 cs->partbound ? AccessExclusiveLock : ShareUpdateExclusiveLock);
				foreach(lc, cs->tableElts)
				{
					Node	   *elt = (Node *) lfirst(lc);
					List	   *cons = NIL;
					ListCell   *lc2;

					if (IsA(elt, ColumnDef))
						cons = ((ColumnDef *) elt)->constraints;
					else if (IsA(elt, Constraint))
						cons = list_make1(elt);
					foreach(lc2, cons)
					{
						Constraint *c = lfirst_node(Constraint, lc2);

						if (c->contype == CONSTR_FOREIGN && c->pktable)
							NoteLock(ctx, ResolveRel(ctx, c->pktable), ShareRowExclusiveLock);
					}
				}
				foreach(lc, cs->constraints)
				{
					Constraint *c = lfirst_node(Constraint, lc);

					if (c->contype == CONSTR_FOREIGN && c->pktable)
						NoteLock(ctx, ResolveRel(ctx, c->pktable), ShareRowExclusiveLock);
				}
				AddCreated(ctx, 'r', cs->relation->schemaname, cs->relation->relname);
				break;
			}
		case T_CreateTableAsStmt:
			{
				RangeVar   *rv = ((CreateTableAsStmt *) stmt)->into->rel;

				AddCreated(ctx, 'r', rv->schemaname, rv->relname);
				break;
			}
		case T_ViewStmt:
			{
				ViewStmt   *vs = (ViewStmt *) stmt;
				LintRel    *rel = ResolveRel(ctx, vs->view);

				if (vs->replace && OidIsValid(rel->relid))
					NoteLock(ctx, rel, AccessExclusiveLock);
				else
					AddCreated(ctx, 'r', vs->view->schemaname, vs->view->relname);
				break;
			}
		case T_CreateSeqStmt:
			{
				RangeVar   *rv = ((CreateSeqStmt *) stmt)->sequence;

				AddCreated(ctx, 'r', rv->schemaname, rv->relname);
				break;
			}
		case T_CreateSchemaStmt:
			if (((CreateSchemaStmt *) stmt)->schemaname)
				AddCreated(ctx, 's', NULL, ((CreateSchemaStmt *) stmt)->schemaname);
			break;
		case T_CompositeTypeStmt:
			{
				RangeVar   *rv = ((CompositeTypeStmt *) stmt)->typevar;

				AddCreated(ctx, 't', rv->schemaname, rv->relname);
				break;
			}
		case T_CreateEnumStmt:
		case T_CreateRangeStmt:
		case T_CreateDomainStmt:
		case T_DefineStmt:
			{
				List	   *names = NIL;
				char	   *schema;
				char	   *name;

				if (IsA(stmt, CreateEnumStmt))
					names = ((CreateEnumStmt *) stmt)->typeName;
				else if (IsA(stmt, CreateRangeStmt))
					names = ((CreateRangeStmt *) stmt)->typeName;
				else if (IsA(stmt, CreateDomainStmt))
					names = ((CreateDomainStmt *) stmt)->domainname;
				else if (((DefineStmt *) stmt)->kind == OBJECT_TYPE)
					names = ((DefineStmt *) stmt)->defnames;
				if (names != NIL && SplitName(names, &schema, &name))
					AddCreated(ctx, 't', schema, name);
				break;
			}
		default:
			break;
	}
}

/* Lints one statement (or a data-modifying CTE of one). */
static void
LintStatement(LintCtx *ctx, Node *stmt)
{
	ListCell   *lc;

	check_stack_depth();
	switch (nodeTag(stmt))
	{
		case T_AlterTableStmt:
			LintAlterTable(ctx, (AlterTableStmt *) stmt);
			break;
		case T_IndexStmt:
			{
				IndexStmt  *is = (IndexStmt *) stmt;
				LintRel    *rel = ResolveRel(ctx, is->relation);

				NoteLock(ctx, rel, is->concurrent ? ShareUpdateExclusiveLock : ShareLock);
				if (!is->concurrent && rel->existing)
					Finding(ctx, "create_index_not_concurrently", rel->name,
							"CREATE INDEX CONCURRENTLY, in a migration of its own run outside a "
							"transaction (psql, then migrate_ops.start()/finish()); check "
							"pg_index.indisvalid afterwards.",
							"CREATE INDEX on %s holds a SHARE lock while it builds, blocking every "
							"INSERT, UPDATE and DELETE on the table", rel->name);
				if (is->idxname)
					AddCreated(ctx, 'r', is->relation->schemaname, is->idxname);
				break;
			}
		case T_DropStmt:
			LintDrop(ctx, (DropStmt *) stmt);
			break;
		case T_ReindexStmt:
			{
				ReindexStmt *rs = (ReindexStmt *) stmt;
				bool		concurrently = OptionOn(rs->params, "concurrently");
				LintRel    *rel = NULL;

				if (rs->relation && rs->kind == REINDEX_OBJECT_INDEX)
					rel = IndexTable(ResolveRel(ctx, rs->relation));
				else if (rs->relation)
					rel = ResolveRel(ctx, rs->relation);
				if (rel)
					NoteLock(ctx, rel, concurrently ? ShareUpdateExclusiveLock : ShareLock);
				if (!concurrently && (rel == NULL || rel->existing))
					Finding(ctx, "reindex_not_concurrently", rel ? rel->name : NULL,
							"REINDEX … CONCURRENTLY, in a migration of its own run outside a "
							"transaction.",
							"REINDEX %s blocks writes to %s while it rebuilds, and reads that use "
							"the index being rebuilt (ACCESS EXCLUSIVE on it)",
							rs->kind == REINDEX_OBJECT_INDEX ? "INDEX" : "TABLE",
							rel ? rel->name : "every table it covers");
				break;
			}
		case T_RenameStmt:
			{
				RenameStmt *rs = (RenameStmt *) stmt;
				LintRel    *rel;

				if (rs->relation == NULL)
					break;
				rel = ResolveRel(ctx, rs->relation);
				switch (rs->renameType)
				{
					case OBJECT_TABLE:
					case OBJECT_VIEW:
					case OBJECT_MATVIEW:
					case OBJECT_FOREIGN_TABLE:
						NoteLock(ctx, rel, AccessExclusiveLock);
						if (rel->existing)
							Finding(ctx, "rename_table", rel->name,
									psprintf("Keep the old name working while the application moves: "
											 "rename, then CREATE VIEW %s AS SELECT * FROM the new "
											 "name; drop the view once nothing uses it.", rel->name),
									"renaming %s to %s breaks every running application query "
									"that still uses the old name", rel->name,
									quote_identifier(rs->newname));
						break;
					case OBJECT_COLUMN:
						NoteLock(ctx, rel, AccessExclusiveLock);
						if (rel->existing)
							Finding(ctx, "rename_column", rel->name,
									"Add the new column, write both, backfill, move readers, then "
									"drop the old column (expand and contract).",
									"renaming column %s of %s to %s breaks every running "
									"application query that still uses the old name",
									quote_identifier(rs->subname), rel->name,
									quote_identifier(rs->newname));
						break;
					case OBJECT_INDEX:
						NoteLock(ctx, rel, ShareUpdateExclusiveLock);
						break;
					case OBJECT_SEQUENCE:
					case OBJECT_TABCONSTRAINT:
					case OBJECT_TRIGGER:
					case OBJECT_RULE:
					case OBJECT_POLICY:
						NoteLock(ctx, rel, AccessExclusiveLock);
						break;
					default:
						break;
				}
				break;
			}
		case T_TruncateStmt:
			foreach(lc, ((TruncateStmt *) stmt)->relations)
			{
				LintRel    *rel = ResolveRel(ctx, lfirst_node(RangeVar, lc));

				NoteLock(ctx, rel, AccessExclusiveLock);
				if (rel->existing)
					Finding(ctx, "truncate", rel->name, NULL,
							"TRUNCATE %s deletes every row of the table", rel->name);
			}
			break;
		case T_DeleteStmt:
			LintDml(ctx, ((DeleteStmt *) stmt)->relation, ((DeleteStmt *) stmt)->whereClause != NULL,
					"delete_without_where", ((DeleteStmt *) stmt)->withClause);
			break;
		case T_UpdateStmt:
			LintDml(ctx, ((UpdateStmt *) stmt)->relation, ((UpdateStmt *) stmt)->whereClause != NULL,
					"update_without_where", ((UpdateStmt *) stmt)->withClause);
			break;
		case T_InsertStmt:
			LintDml(ctx, ((InsertStmt *) stmt)->relation, true, NULL, ((InsertStmt *) stmt)->withClause);
			break;
#ifdef MO_HAVE_MERGE
		case T_MergeStmt:
			LintDml(ctx, ((MergeStmt *) stmt)->relation, true, NULL, ((MergeStmt *) stmt)->withClause);
			break;
#endif
		case T_SelectStmt:
			if (((SelectStmt *) stmt)->withClause)
				foreach(lc, ((SelectStmt *) stmt)->withClause->ctes)
					LintStatement(ctx, lfirst_node(CommonTableExpr, lc)->ctequery);
			break;
		case T_VacuumStmt:
			{
				VacuumStmt *vs = (VacuumStmt *) stmt;
				bool		full = vs->is_vacuumcmd && OptionOn(vs->options, "full");

				foreach(lc, vs->rels)
				{
					VacuumRelation *vr = lfirst_node(VacuumRelation, lc);
					LintRel    *rel;

					if (vr->relation == NULL)
						continue;
					rel = ResolveRel(ctx, vr->relation);
					NoteLock(ctx, rel, full ? AccessExclusiveLock : ShareUpdateExclusiveLock);
					if (full && rel->existing)
						Finding(ctx, "vacuum_full", rel->name, NULL,
								"VACUUM FULL rewrites %s and its indexes under an ACCESS EXCLUSIVE "
								"lock", rel->name);
				}
				if (full && vs->rels == NIL)
					Finding(ctx, "vacuum_full", NULL, NULL,
							"VACUUM FULL rewrites every table of the database, each under an "
							"ACCESS EXCLUSIVE lock");
				break;
			}
		case T_ClusterStmt:
			{
				ClusterStmt *cs = (ClusterStmt *) stmt;
				LintRel    *rel = cs->relation ? ResolveRel(ctx, cs->relation) : NULL;

				if (rel)
					NoteLock(ctx, rel, AccessExclusiveLock);
				if (rel == NULL || rel->existing)
					Finding(ctx, "cluster", rel ? rel->name : NULL, NULL,
							"CLUSTER rewrites %s and its indexes under an ACCESS EXCLUSIVE lock",
							rel ? rel->name : "every previously clustered table");
				break;
			}
		case T_CreateTrigStmt:
			NoteLock(ctx, ResolveRel(ctx, ((CreateTrigStmt *) stmt)->relation), ShareRowExclusiveLock);
			break;
		case T_CreatePolicyStmt:
			NoteLock(ctx, ResolveRel(ctx, ((CreatePolicyStmt *) stmt)->table), AccessExclusiveLock);
			break;
		case T_AlterPolicyStmt:
			NoteLock(ctx, ResolveRel(ctx, ((AlterPolicyStmt *) stmt)->table), AccessExclusiveLock);
			break;
		case T_RuleStmt:
			NoteLock(ctx, ResolveRel(ctx, ((RuleStmt *) stmt)->relation), AccessExclusiveLock);
			break;
		case T_LockStmt:
			foreach(lc, ((LockStmt *) stmt)->relations)
				NoteLock(ctx, ResolveRel(ctx, lfirst_node(RangeVar, lc)), ((LockStmt *) stmt)->mode);
			break;
		case T_RefreshMatViewStmt:
			NoteLock(ctx, ResolveRel(ctx, ((RefreshMatViewStmt *) stmt)->relation),
					 ((RefreshMatViewStmt *) stmt)->concurrent ? ExclusiveLock : AccessExclusiveLock);
			break;
		case T_CommentStmt:
			{
				CommentStmt *cs = (CommentStmt *) stmt;

				if (cs->objtype == OBJECT_TABLE || cs->objtype == OBJECT_VIEW ||
					cs->objtype == OBJECT_MATVIEW || cs->objtype == OBJECT_FOREIGN_TABLE ||
					cs->objtype == OBJECT_SEQUENCE || cs->objtype == OBJECT_INDEX)
					NoteLock(ctx, ResolveRelNames(ctx, castNode(List, cs->object)),
							 ShareUpdateExclusiveLock);
				else if (cs->objtype == OBJECT_COLUMN && list_length(castNode(List, cs->object)) >= 2)
				{
					List	   *names = list_copy(castNode(List, cs->object));

					NoteLock(ctx, ResolveRelNames(ctx, list_truncate(names, list_length(names) - 1)),
							 ShareUpdateExclusiveLock);
				}
				break;
			}
		case T_AlterEnumStmt:
			{
				AlterEnumStmt *es = (AlterEnumStmt *) stmt;

				if (es->oldVal == NULL && es->newValNeighbor == NULL)
					Finding(ctx, "enum_add_value_unordered", NULL,
							psprintf("ALTER TYPE %s ADD VALUE %s BEFORE|AFTER an existing label, if "
									 "the order matters to ORDER BY and comparisons.",
									 NameListToString(es->typeName), quote_literal_cstr(es->newVal)),
							"label %s is added at the end of the sort order of enum %s; it cannot be "
							"used until the migration's transaction commits",
							quote_literal_cstr(es->newVal), NameListToString(es->typeName));
				break;
			}
		default:
			LintCreate(ctx, stmt);
			break;
	}
}

/* What other sessions cannot do on a relation locked in mode. */
static const char *
LockEffect(LOCKMODE mode)
{
	switch (mode)
	{
		case AccessExclusiveLock:
			return "every other query on it waits, reads included";
		case ExclusiveLock:
			return "only reads go on";
		case ShareRowExclusiveLock:
		case ShareLock:
			return "reads go on, INSERT, UPDATE and DELETE wait";
		case ShareUpdateExclusiveLock:
			return "reads and writes go on; DDL, VACUUM and ANALYZE wait";
		default:
			return "ordinary reads and writes go on";
	}
}

/*
 * After the rules of a statement: attach its locks to its findings, check
 * lock_timeout before an ACCESS EXCLUSIVE lock on an existing relation, and
 * report the other locks it takes on existing relations (stronger than ROW
 * EXCLUSIVE) as takes_lock.
 */
static void
FinishStatement(LintCtx *ctx)
{
	ListCell   *lc;
	ListCell   *lc2;

	foreach(lc, ctx->locks)
	{
		StmtLock   *l = (StmtLock *) lfirst(lc);

		if (!l->existing || l->mode != AccessExclusiveLock || ctx->lock_timeout > 0)
			continue;
		Finding(ctx, "lock_timeout_missing", l->relation,
				"SET lock_timeout = '5s' (or set migrate_ops.lock_timeout, which apply() uses) "
				"before the statement, and retry the migration if it times out.",
				"waiting for the ACCESS EXCLUSIVE lock on %s has no lock_timeout: while it waits "
				"behind a long query, every other query on %s queues behind it",
				l->relation, l->relation);
	}
	foreach(lc, ctx->locks)
	{
		StmtLock   *l = (StmtLock *) lfirst(lc);
		bool		covered = false;

		if (!l->existing || l->mode <= RowExclusiveLock)
			continue;
		foreach(lc2, ctx->pending)
		{
			MoLintFinding *f = (MoLintFinding *) lfirst(lc2);

			if (f->relation && strcmp(f->relation, l->relation) == 0)
				covered = true;
		}
		if (!covered)
			Finding(ctx, "takes_lock", l->relation, "Nothing to change; keep the migration short.",
					"locks %s in %s mode until the migration commits: %s", l->relation,
					MoLockModeName(l->mode), LockEffect(l->mode));
	}

	foreach(lc, ctx->pending)
	{
		MoLintFinding *f = (MoLintFinding *) lfirst(lc);

		if (f->relation == NULL)
			continue;
		foreach(lc2, ctx->locks)
		{
			StmtLock   *l = (StmtLock *) lfirst(lc2);

			if (strcmp(f->relation, l->relation) == 0)
				f->lock_mode = MoLockModeName(l->mode);
		}
	}

	{
		MemoryContext old = MemoryContextSwitchTo(ctx->cxt);

		ctx->findings = list_concat(ctx->findings, ctx->pending);
		MemoryContextSwitchTo(old);
	}
}

/*
 * Lints a parsed script (MoParseScript) and returns its findings
 * (MoLintFinding*), in statement order, with the rules as the team tuned
 * them in migrate_ops.lint_rules.  Runs as the caller; names resolve through
 * the caller's search_path.
 */
List *
MoLint(List *statements)
{
	LintCtx		ctx = {0};
	MemoryContext work;
	ListCell   *lc;

	ctx.cxt = CurrentMemoryContext;
	{
		HASHCTL		info = {0};

		info.keysize = CREATED_KEY_LEN;
		info.entrysize = sizeof(Created);
		info.hcxt = ctx.cxt;
		ctx.created = hash_create("migrate_ops lint created", 64, &info,
								  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	LoadRules(&ctx);
	ctx.lock_timeout = InitialLockTimeout();
	work = AllocSetContextCreate(CurrentMemoryContext, "migrate_ops lint", ALLOCSET_DEFAULT_SIZES);

	foreach(lc, statements)
	{
		MoStatement *st = (MoStatement *) lfirst(lc);
		MemoryContext old = MemoryContextSwitchTo(work);
		const char *reason = MoNonTransactionalReason(st->raw->stmt);

		ctx.st = st;
		ctx.locks = NIL;
		ctx.pending = NIL;
		if (IsA(st->raw->stmt, TransactionStmt))
			Finding(&ctx, "transaction_control", NULL, NULL,
					"%s inside a migration: apply() runs the whole script in one transaction "
					"and refuses it", st->tag);
		else if (reason != NULL)
			Finding(&ctx, "non_transactional", NULL, NULL,
					"%s; apply() runs the whole script in one transaction and refuses it", reason);
		LintStatement(&ctx, st->raw->stmt);
		FinishStatement(&ctx);
		if (IsA(st->raw->stmt, VariableSetStmt))
			TrackLockTimeout(&ctx, (VariableSetStmt *) st->raw->stmt);

		MemoryContextSwitchTo(old);
		MemoryContextReset(work);
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextDelete(work);
	return ctx.findings;
}

/* True when a finding of this severity is among findings. */
bool
MoLintHasSeverity(List *findings, const char *severity)
{
	ListCell   *lc;

	foreach(lc, findings)
		if (strcmp(((MoLintFinding *) lfirst(lc))->severity, severity) == 0)
			return true;
	return false;
}

/* Appends "key": value (a JSON string or null) to buf. */
static void
JsonField(StringInfo buf, const char *key, const char *value, bool first)
{
	if (!first)
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
	if (value == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, value);
}

/* The findings as a JSON array of objects, lint()'s columns as keys. */
char *
MoLintFindingsJson(List *findings)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	foreach(lc, findings)
	{
		MoLintFinding *f = (MoLintFinding *) lfirst(lc);

		if (buf.len > 1)
			appendStringInfoString(&buf, ", ");
		appendStringInfo(&buf, "{\"statement\": %d, \"line\": %d", f->statement, f->line);
		JsonField(&buf, "command", f->command, false);
		JsonField(&buf, "rule_id", f->rule_id, false);
		JsonField(&buf, "severity", f->severity, false);
		JsonField(&buf, "lock_mode", f->lock_mode, false);
		JsonField(&buf, "relation", f->relation, false);
		JsonField(&buf, "message", f->message, false);
		JsonField(&buf, "safe_alternative", f->safe_alternative, false);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

/*
 * The findings apply() stores with a migration (JSON), or NULL on a 0.1.0
 * schema.  A failure of the analysis itself never stops a deploy: it is a
 * WARNING and nothing is stored.
 */
char *
MoLintForLedger(List *statements)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *volatile json = NULL;

	if (!MoLintAvailable())
		return NULL;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		json = MoLintFindingsJson(MoLint(statements));
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			PG_RE_THROW();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		ereport(WARNING,
				(errmsg("lint of the migration failed, its findings are not stored: %s", edata->message)));
		json = NULL;
	}
	PG_END_TRY();
	return json;
}

/*
 * migrate_ops.lint(script) → setof (statement, line, command, rule_id,
 * severity, lock_mode, relation, message, safe_alternative)
 */
Datum
migrate_ops_lint(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *script = MoRequiredTextArg(fcinfo, 0, "script");
	List	   *findings;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	findings = MoLint(MoParseScript(script, "the script"));
	foreach(lc, findings)
	{
		MoLintFinding *f = (MoLintFinding *) lfirst(lc);
		Datum		values[9];
		bool		nulls[9] = {0};

		values[0] = Int32GetDatum(f->statement);
		values[1] = Int32GetDatum(f->line);
		values[2] = CStringGetTextDatum(f->command);
		values[3] = CStringGetTextDatum(f->rule_id);
		values[4] = CStringGetTextDatum(f->severity);
		if (f->lock_mode)
			values[5] = CStringGetTextDatum(f->lock_mode);
		else
			nulls[5] = true;
		if (f->relation)
			values[6] = CStringGetTextDatum(f->relation);
		else
			nulls[6] = true;
		values[7] = CStringGetTextDatum(f->message);
		values[8] = CStringGetTextDatum(f->safe_alternative);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Text of column name of tup (NULL for SQL NULL). */
static char *
ColumnText(HeapTuple tup, TupleDesc desc, const char *name)
{
	int			attno = SPI_fnumber(desc, name);

	if (attno <= 0)
		elog(ERROR, "migrate_ops.lint_rules has no column \"%s\"", name);
	return SPI_getvalue(tup, desc, attno);
}

/* True when two nullable strings are equal. */
static bool
SameText(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * INSTEAD OF UPDATE trigger of the migrate_ops.lint_rules view: a team tunes
 * a rule's severity, enabled and note; the change is kept in
 * migrate_ops.lint_rule_overrides (written as the extension's owner, with
 * who and when).  NULL severity or enabled means the shipped default; an
 * override that says nothing the default does not is removed.
 */
Datum
migrate_ops_lint_rules_update(PG_FUNCTION_ARGS)
{
	TriggerData *trig = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	oldtup;
	HeapTuple	newtup;
	char	   *id;
	char	   *severity;
	char	   *enabled;
	char	   *note;
	char	   *default_severity;
	char	   *default_enabled;
	MoOwnerState owner;
	MoArgs		args = {0};
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int			cols[2];

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_UPDATE(trig->tg_event) ||
		!TRIGGER_FIRED_INSTEAD(trig->tg_event) || !TRIGGER_FIRED_FOR_ROW(trig->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("migrate_ops.lint_rules_update() must be an INSTEAD OF UPDATE row trigger")));
	desc = trig->tg_relation->rd_att;
	oldtup = trig->tg_trigtuple;
	newtup = trig->tg_newtuple;

	for (int i = 0; i < desc->natts; i++)
	{
		const char *name = NameStr(TupleDescAttr(desc, i)->attname);

		if (TupleDescAttr(desc, i)->attisdropped || strcmp(name, "severity") == 0 ||
			strcmp(name, "enabled") == 0 || strcmp(name, "note") == 0)
			continue;
		if (!SameText(SPI_getvalue(oldtup, desc, i + 1), SPI_getvalue(newtup, desc, i + 1)))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot change column \"%s\" of migrate_ops.lint_rules", name),
					 errdetail("A team tunes a rule's severity, enabled and note; the rest is the rule "
							   "as migrate_ops ships it.")));
	}

	id = ColumnText(oldtup, desc, "id");
	default_severity = ColumnText(oldtup, desc, "default_severity");
	default_enabled = ColumnText(oldtup, desc, "default_enabled");
	severity = ColumnText(newtup, desc, "severity");
	enabled = ColumnText(newtup, desc, "enabled");
	note = ColumnText(newtup, desc, "note");
	if (severity && strcmp(severity, "error") != 0 && strcmp(severity, "warning") != 0 &&
		strcmp(severity, "info") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid severity \"%s\" for lint rule \"%s\"", severity, id),
				 errhint("A severity is 'error', 'warning' or 'info'; NULL restores the default.")));

	/* Keep only what differs from the shipped rule. */
	if (severity && strcmp(severity, default_severity) == 0)
		severity = NULL;
	if (enabled && strcmp(enabled, default_enabled) == 0)
		enabled = NULL;

	MoArgText(&args, id);
	MoArgText(&args, severity);
	if (enabled)
		MoArgBool(&args, enabled[0] == 't');
	else
	{
		MoArgBool(&args, false);
		args.nulls[args.n - 1] = 'n';
	}
	MoArgText(&args, note);
	MoArgText(&args, MoCurrentRoleName());

	SPI_connect();
	MoBecomeOwner(&owner);
	if (severity == NULL && enabled == NULL && note == NULL)
	{
		args.n = 1;				/* just the id */
		MoSpiExec("DELETE FROM migrate_ops.lint_rule_overrides WHERE id OPERATOR(pg_catalog.=) $1",
				  &args);
	}
	else
		MoSpiExec("INSERT INTO migrate_ops.lint_rule_overrides AS o"
				  " (id, severity, enabled, note, changed_by, changed_at)"
				  " VALUES ($1, $2, $3, $4, $5, pg_catalog.clock_timestamp())"
				  " ON CONFLICT (id) DO UPDATE SET severity = EXCLUDED.severity,"
				  "  enabled = EXCLUDED.enabled, note = EXCLUDED.note,"
				  "  changed_by = EXCLUDED.changed_by, changed_at = EXCLUDED.changed_at", &args);
	MoRestoreUser(&owner);
	SPI_finish();

	/* RETURNING shows the rule as it is now. */
	cols[0] = SPI_fnumber(desc, "severity");
	cols[1] = SPI_fnumber(desc, "enabled");
	values[0] = CStringGetTextDatum(severity ? severity : default_severity);
	values[1] = BoolGetDatum((enabled ? enabled : default_enabled)[0] == 't');
	return PointerGetDatum(heap_modify_tuple_by_cols(newtup, desc, 2, cols, values, nulls));
}
