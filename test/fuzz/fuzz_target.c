/*
 * fuzz_target.c — libFuzzer inside a real backend (test/fuzz/run.sh).
 *
 * Not part of the extension: test/fuzz/run.sh copies it into a fuzz build
 * of migrate_ops (clang -fsanitize=fuzzer-no-link,address, libFuzzer linked
 * in) and creates migrate_ops_fuzz(mode, args) by hand in a throwaway
 * database.  That function hands the backend to LLVMFuzzerRunDriver(); each
 * input runs inside an internal subtransaction that is always rolled back,
 * and an ERROR is an ordinary outcome (bad input gets a clean error): only
 * crashes, sanitizer reports and a backend that exits are findings.
 *
 *   lint      the script is parsed (MoParseScript: raw_parser, statement
 *             splitting, lines, command tags), classified
 *             (MoNonTransactionalReason) and linted (MoLint's walk of every
 *             parse tree, its catalog lookups and rewrite decisions).
 *   catalog   the same, then the script's DDL statements (a fixed list of
 *             kinds: CREATE/ALTER/COMMENT/GRANT ..., never a query, a DO
 *             block or a CALL) run as the calling role, an unprivileged one,
 *             in its own schema, each in a subtransaction (one the server
 *             refuses is skipped), and the catalog normaliser reads what they
 *             made (MoCatalogCaptureExt with definitions, drift_sql detail
 *             and drop SQL, and a comparison with the empty schema): the
 *             normaliser on every definition the server accepts.
 *
 * libFuzzer ends the process when its time is up (exit(0), which runs the
 * backend's exit callbacks); the caller's connection is closed then.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "nodes/parsenodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "storage/ipc.h"
#include "utils/resowner.h"

#include "migrate_ops.h"

PG_FUNCTION_INFO_V1(migrate_ops_fuzz);

extern int	LLVMFuzzerRunDriver(int *argc, char ***argv,
								int (*UserCb) (const uint8 *data, size_t size));

/*
 * The coverage counters and PC table of this library (SanitizerCoverage's
 * sections).  Their registration by the library's constructor can run before
 * libFuzzer's own static initialisers, which then forget it: registered again
 * before the run (libFuzzer ignores a module it already has).
 */
extern void __sanitizer_cov_8bit_counters_init(uint8 *start, uint8 *stop);
extern void __sanitizer_cov_pcs_init(const uintptr_t *start, const uintptr_t *stop);
extern uint8 __start___sancov_cntrs[] __attribute__((weak, visibility("hidden")));
extern uint8 __stop___sancov_cntrs[] __attribute__((weak, visibility("hidden")));
extern const uintptr_t __start___sancov_pcs[] __attribute__((weak, visibility("hidden")));
extern const uintptr_t __stop___sancov_pcs[] __attribute__((weak, visibility("hidden")));

/* What each input goes through. */
typedef enum FuzzMode
{
	FUZZ_LINT,
	FUZZ_CATALOG
} FuzzMode;

static FuzzMode fuzz_mode = FUZZ_LINT;
static MemoryContext fuzz_cxt = NULL;
static const char *fuzz_schema = NULL;
static MoCatalogState *empty_state = NULL;

/* Outcomes, logged at exit (test/fuzz/run.sh checks that inputs get through). */
static int64 n_clean = 0;
static int64 n_errors = 0;
static char *first_error = NULL;

/* on_proc_exit callback: how the inputs ended. */
static void
ReportOutcomes(int code, Datum arg)
{
	(void) code;
	(void) arg;
	elog(LOG, "migrate_ops fuzz outcomes: " INT64_FORMAT " ran through, " INT64_FORMAT " ended in an ERROR (first: %s)",
		 n_clean, n_errors, first_error ? first_error : "none");
}

/* Counts differences (the comparison's callback). */
static void
CountDifference(void *arg, const MoCatalogObject *expected, const MoCatalogObject *actual)
{
	(void) expected;
	(void) actual;
	(*(int *) arg)++;
}

/* True for the statement kinds catalog mode runs: DDL that makes or changes objects, nothing that executes a query. */
static bool
Runnable(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_CreateStmt:
		case T_IndexStmt:
		case T_ViewStmt:
		case T_CreateDomainStmt:
		case T_AlterDomainStmt:
		case T_CreateEnumStmt:
		case T_AlterEnumStmt:
		case T_CompositeTypeStmt:
		case T_CreateRangeStmt:
		case T_CreateSeqStmt:
		case T_AlterSeqStmt:
		case T_AlterTableStmt:
		case T_CommentStmt:
		case T_CreatePolicyStmt:
		case T_AlterPolicyStmt:
		case T_CreateFunctionStmt:
		case T_CreateTrigStmt:
		case T_RuleStmt:
		case T_GrantStmt:
		case T_RenameStmt:
		case T_DropStmt:
		case T_DefineStmt:
		case T_AlterOwnerStmt:
			return true;
		default:
			return false;
	}
}

/* Parses and lints a script (both modes). */
static List *
FuzzLint(const char *script)
{
	List	   *statements = MoParseScript(script, "the fuzz input");
	ListCell   *lc;

	foreach(lc, statements)
		(void) MoNonTransactionalReason(((MoStatement *) lfirst(lc))->raw->stmt);
	(void) MoLint(statements);
	return statements;
}

/*
 * Runs one DDL statement in a subtransaction of its own: a statement the
 * server refuses is skipped, and the normaliser still reads what the others
 * made.
 */
static void
RunStatement(const char *sql)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		(void) SPI_execute(sql, false, 0);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
}

/* Runs the script's DDL and reads the catalog it made (catalog mode). */
static void
FuzzCatalog(const char *script)
{
	List	   *statements = FuzzLint(script);
	ListCell   *lc;
	MoCatalogState *state;
	int			differences = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	foreach(lc, statements)
	{
		MoStatement *st = (MoStatement *) lfirst(lc);

		if (Runnable(st->raw->stmt))
			RunStatement(st->text);
	}
	state = MoCatalogCaptureExt(MO_CAPTURE_DEFINITIONS | MO_CAPTURE_DETAIL | MO_CAPTURE_DROP,
								list_make1(pstrdup(fuzz_schema)), NULL, NULL);
	(void) MoCatalogCompare(empty_state, state, CountDifference, &differences);
	MoCatalogFree(state);
	SPI_finish();
}

/* libFuzzer's callback: one input, in a subtransaction that is always rolled back. */
static int
FuzzOne(const uint8 *data, size_t size)
{
	MemoryContext old = MemoryContextSwitchTo(fuzz_cxt);
	ResourceOwner owner = CurrentResourceOwner;
	char	   *script = palloc(size + 1);

	memcpy(script, data, size);
	script[size] = '\0';
	/* what a text argument can hold: no NUL, valid in the database encoding */
	if (strlen(script) != size || !pg_verifymbstr(script, (int) size, true))
	{
		MemoryContextSwitchTo(old);
		MemoryContextReset(fuzz_cxt);
		return -1;				/* not worth keeping in the corpus */
	}

#ifdef MO_FUZZ_SELFTEST
	/* FUZZ_SELFTEST=1 test/fuzz/run.sh: a planted overflow, to show a finding is caught */
	if (strstr(script, "fuzz-selftest") != NULL)
	{
		char	   *heap = malloc(8);
		volatile char c = heap[size % 64 + 8];

		(void) c;
		free(heap);
	}
#endif
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(fuzz_cxt);
	PG_TRY();
	{
		if (fuzz_mode == FUZZ_CATALOG)
			FuzzCatalog(script);
		else
			(void) FuzzLint(script);
		RollbackAndReleaseCurrentSubTransaction();
		n_clean++;
	}
	PG_CATCH();
	{
		/* an ERROR is a clean outcome: forget it and roll back */
		MemoryContextSwitchTo(fuzz_cxt);
		if (first_error == NULL)
		{
			ErrorData  *edata = CopyErrorData();

			first_error = MemoryContextStrdup(TopMemoryContext, edata->message);
		}
		n_errors++;
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	CurrentResourceOwner = owner;
	MemoryContextReset(fuzz_cxt);
	return 0;
}

/*
 * migrate_ops_fuzz(mode text, args text[]) → void: runs libFuzzer with args
 * (its command-line flags and corpus directories) on the inputs of mode
 * 'lint' or 'catalog'.  Catalog mode creates its objects in the current
 * schema (current_schema()).  Does not return: libFuzzer exits the backend
 * when it is done.
 */
Datum
migrate_ops_fuzz(PG_FUNCTION_ARGS)
{
	char	   *mode = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			argc;
	char	  **argv;

	if (strcmp(mode, "lint") == 0)
		fuzz_mode = FUZZ_LINT;
	else if (strcmp(mode, "catalog") == 0)
		fuzz_mode = FUZZ_CATALOG;
	else
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("unknown fuzz mode \"%s\"", mode)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	argv = MemoryContextAllocZero(TopMemoryContext, sizeof(char *) * (n + 2));
	argv[0] = MemoryContextStrdup(TopMemoryContext, "migrate_ops_fuzz");
	for (int i = 0; i < n; i++)
		argv[i + 1] = MemoryContextStrdup(TopMemoryContext, nulls[i] ? "" : TextDatumGetCString(elems[i]));
	argc = n + 1;

	fuzz_cxt = AllocSetContextCreate(TopMemoryContext, "migrate_ops fuzz input", ALLOCSET_DEFAULT_SIZES);
	on_proc_exit(ReportOutcomes, (Datum) 0);
	if (fuzz_mode == FUZZ_CATALOG)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		SPI_execute("SELECT pg_catalog.current_schema()", true, 1);
		fuzz_schema = MemoryContextStrdup(TopMemoryContext, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		MemoryContextSwitchTo(TopMemoryContext);
		empty_state = MoCatalogCaptureExt(0, list_make1(pstrdup(fuzz_schema)), NULL, NULL);
		SPI_finish();
		MemoryContextSwitchTo(old);
	}
	if (__start___sancov_cntrs && __stop___sancov_cntrs > __start___sancov_cntrs)
	{
		__sanitizer_cov_8bit_counters_init(__start___sancov_cntrs, __stop___sancov_cntrs);
		__sanitizer_cov_pcs_init(__start___sancov_pcs, __stop___sancov_pcs);
	}
	PG_RETURN_INT32(LLVMFuzzerRunDriver(&argc, &argv, FuzzOne));
}
