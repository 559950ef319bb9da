/*
 * script.c — migration scripts as PostgreSQL's own parser sees them.
 *
 * A script is split into statements by raw_parser(), never by looking for
 * semicolons, so dollar quotes, comments and string literals are handled
 * exactly as the server handles them.  Each statement keeps its text, its
 * line number and its raw parse tree for the runner, lint() and plan().
 */
#include "postgres.h"

#include "commands/defrem.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "parser/scanner.h"
#include "tcop/utility.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "migrate_ops.h"

/*
 * Returns the offset, within text[0..len), of the first token (skipping
 * white space and comments) using the server's own scanner.
 */
static int
FirstTokenOffset(const char *text, int len)
{
	core_yyscan_t scanner;
	core_yy_extra_type yyextra;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc = 0;
	char	   *copy = pnstrdup(text, len);

	scanner = scanner_init(copy, &yyextra, &ScanKeywords, ScanKeywordTokens);
	if (core_yylex(&yylval, &yylloc, scanner) == 0)
		yylloc = 0;
	scanner_finish(scanner);
	pfree(copy);
	return yylloc;
}

/* Counts newlines in text[from..to). */
static int
CountLines(const char *text, int from, int to)
{
	int			n = 0;

	for (int i = from; i < to; i++)
		if (text[i] == '\n')
			n++;
	return n;
}

/* What a parse error is reported against. */
typedef struct ParseErrorArg
{
	const char *script;
	const char *what;
} ParseErrorArg;

/*
 * Turns the parser's cursor position (relative to the script, not to the
 * CALL or SELECT that passed it) into "line N" context and an internal
 * query holding just the failing line, so psql points at the right place.
 */
static void
ParseErrorCallback(void *arg)
{
	ParseErrorArg *a = (ParseErrorArg *) arg;
	int			pos = geterrposition();
	const char *p = a->script;
	const char *line_start = p;
	const char *line_end;
	int			line = 1;
	int			column = 1;

	if (pos <= 0)
		return;
	for (int chars = 1; chars < pos && *p; chars++)
	{
		if (*p == '\n')
		{
			line++;
			line_start = p + 1;
			column = 0;
		}
		column++;
		p += pg_mblen(p);
	}
	line_end = strchr(line_start, '\n');
	if (line_end == NULL)
		line_end = line_start + strlen(line_start);

	errposition(0);
	internalerrposition(column);
	internalerrquery(pnstrdup(line_start, line_end - line_start));
	errcontext("%s, line %d", a->what, line);
}

/*
 * Parses script and returns a List of MoStatement, in order.  what names the
 * script in errors ("migration \"5\"").  Syntax errors are raised as the
 * server raises them (SQLSTATE 42601, with the position in the script).
 */
List *
MoParseScript(const char *script, const char *what)
{
	size_t		size = strlen(script);
	List	   *raws;
	List	   *result = NIL;
	ListCell   *lc;
	int			number = 0;
	int			line = 1;
	int			line_offset = 0;
	MemoryContext scancxt;

	if (size > (size_t) mo_max_script_size * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is too large", what),
				 errdetail("The script has %zu bytes; migrate_ops.max_script_size allows %d kB.",
						   size, mo_max_script_size),
				 errhint("Split the script, raise migrate_ops.max_script_size, or run it with "
						 "your own tool and record it with migrate_ops.start() and migrate_ops.finish().")));

	{
		ParseErrorArg arg = {script, what};
		ErrorContextCallback errcallback;

		errcallback.callback = ParseErrorCallback;
		errcallback.arg = &arg;
		errcallback.previous = error_context_stack;
		error_context_stack = &errcallback;
		raws = MO_RAW_PARSE(script);
		error_context_stack = errcallback.previous;
	}

	/*
	 * The scanner leaves a little memory behind at each use (scanner_finish
	 * frees only large buffers): a context reset per statement keeps a
	 * script of a million statements from costing gigabytes.
	 */
	scancxt = AllocSetContextCreate(CurrentMemoryContext, "migrate_ops first token",
									ALLOCSET_SMALL_SIZES);
	foreach(lc, raws)
	{
		RawStmt    *raw = lfirst_node(RawStmt, lc);
		MoStatement *st = palloc0(sizeof(MoStatement));
		int			loc = raw->stmt_location;
		int			len = raw->stmt_len > 0 ? raw->stmt_len : (int) size - loc;
		MemoryContext old = MemoryContextSwitchTo(scancxt);
		int			skip = FirstTokenOffset(script + loc, len);

		MemoryContextSwitchTo(old);
		MemoryContextReset(scancxt);

		st->number = ++number;
		st->location = loc + skip;
		st->length = len - skip;
		line += CountLines(script, line_offset, st->location);
		line_offset = st->location;
		st->line = line;
		st->text = pnstrdup(script + st->location, st->length);
		st->raw = raw;
		st->tag = GetCommandTagName(CreateCommandTag(raw->stmt));
		result = lappend(result, st);
	}
	MemoryContextDelete(scancxt);
	return result;
}

/* True when a DefElem list (REINDEX, VACUUM options) contains name. */
static bool
HasOption(List *options, const char *name)
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

/*
 * If stmt cannot run inside a transaction block (or inside apply() at all),
 * returns why; otherwise NULL.  Mirrors the server's PreventInTransactionBlock
 * callers for the statements a migration can contain.
 */
const char *
MoNonTransactionalReason(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_TransactionStmt:
			return "transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT) is managed by migrate_ops";
		case T_VacuumStmt:
			if (((VacuumStmt *) stmt)->is_vacuumcmd)
				return "VACUUM cannot run inside a transaction block";
			return NULL;
		case T_IndexStmt:
			if (((IndexStmt *) stmt)->concurrent)
				return "CREATE INDEX CONCURRENTLY cannot run inside a transaction block";
			return NULL;
		case T_ReindexStmt:
			{
				ReindexStmt *r = (ReindexStmt *) stmt;

				if (HasOption(r->params, "concurrently"))
					return "REINDEX CONCURRENTLY cannot run inside a transaction block";
				if (r->kind == REINDEX_OBJECT_SCHEMA || r->kind == REINDEX_OBJECT_SYSTEM ||
					r->kind == REINDEX_OBJECT_DATABASE)
					return "REINDEX SCHEMA, SYSTEM and DATABASE cannot run inside a transaction block";
				return NULL;
			}
		case T_DropStmt:
			if (((DropStmt *) stmt)->concurrent)
				return "DROP INDEX CONCURRENTLY cannot run inside a transaction block";
			return NULL;
		case T_AlterTableStmt:
			{
				ListCell   *lc;

				foreach(lc, ((AlterTableStmt *) stmt)->cmds)
				{
					AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

					if (cmd->subtype == AT_DetachPartition &&
						((PartitionCmd *) cmd->def)->concurrent)
						return "DETACH PARTITION CONCURRENTLY cannot run inside a transaction block";
				}
				return NULL;
			}
		case T_ClusterStmt:
			if (((ClusterStmt *) stmt)->relation == NULL)
				return "CLUSTER without a table name cannot run inside a transaction block";
			return NULL;
		case T_CreatedbStmt:
		case T_DropdbStmt:
			return "CREATE DATABASE and DROP DATABASE cannot run inside a transaction block";
		case T_CreateTableSpaceStmt:
		case T_DropTableSpaceStmt:
			return "CREATE TABLESPACE and DROP TABLESPACE cannot run inside a transaction block";
		case T_AlterSystemStmt:
			return "ALTER SYSTEM cannot run inside a transaction block";
		case T_CopyStmt:
			{
				CopyStmt   *c = (CopyStmt *) stmt;

				if (c->filename == NULL)
					return c->is_from ? "COPY FROM STDIN needs a client to send the data"
						: "COPY TO STDOUT needs a client to read the data";
				return NULL;
			}
		default:
			return NULL;
	}
}

/*
 * Raises a clear error, before anything runs, when a statement of the
 * script cannot run inside the transaction migrate_ops runs it in.
 */
void
MoCheckRunnableInTransaction(List *statements, const char *what)
{
	ListCell   *lc;

	foreach(lc, statements)
	{
		MoStatement *st = (MoStatement *) lfirst(lc);
		const char *reason = MoNonTransactionalReason(st->raw->stmt);

		if (reason == NULL)
			continue;
		ereport(ERROR,
				(errcode(IsA(st->raw->stmt, TransactionStmt)
						 ? ERRCODE_INVALID_TRANSACTION_TERMINATION
						 : ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run statement %d (line %d, %s) in a transaction",
						what, st->number, st->line, st->tag),
				 errdetail("%s; migrate_ops runs a migration atomically, so nothing was run.", reason),
				 errhint("Run this migration with psql or your deploy tool and record it with "
						 "migrate_ops.start() and migrate_ops.finish(), or move the statement "
						 "into a migration of its own run that way.")));
	}
}
