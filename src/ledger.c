/*
 * ledger.c — the migration ledger (DESIGN §1).
 *
 * apply() and rollback() are procedures.  Called outside a transaction block
 * they commit a "running" row first, run the script in a subtransaction as
 * the calling role, and on failure commit the "failed" row before re-raising
 * the original error.  Called inside a transaction block they are atomic
 * with the caller.  One deploy at a time per database: an advisory lock,
 * held at session level across the procedure's commits (so it dies with the
 * backend) or at transaction level in the atomic case.
 *
 * The script runs as the caller.  Ledger rows are written as the extension's
 * owner (MoBecomeOwner), so a deploy role needs EXECUTE on these functions
 * and no write privilege on the ledger tables.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "migrate_ops.h"

PG_FUNCTION_INFO_V1(migrate_ops_checksum);
PG_FUNCTION_INFO_V1(migrate_ops_apply);
PG_FUNCTION_INFO_V1(migrate_ops_rollback);
PG_FUNCTION_INFO_V1(migrate_ops_start);
PG_FUNCTION_INFO_V1(migrate_ops_finish);
PG_FUNCTION_INFO_V1(migrate_ops_fail);
PG_FUNCTION_INFO_V1(migrate_ops_resolve);
PG_FUNCTION_INFO_V1(migrate_ops_baseline);
PG_FUNCTION_INFO_V1(migrate_ops_status);

/* ---- session state ---- */

/*
 * Version of the migration running in this session, for DDL attribution:
 * set for the duration of apply()/rollback(), or from start() to
 * finish()/fail() (record-only mode).
 */
static char *session_version = NULL;

/* True while a record-only migration opened by start() is open. */
static bool session_recording = false;

/* This session holds the deploy lock at session level. */
static bool session_lock_held = false;

/* The session-level lock was taken by start() (not by a running apply()). */
static bool lock_for_recording = false;

/*
 * The tool whose ledger opened the session's record-only migration
 * (tools.c: Prisma's row before it runs, golang-migrate's dirty flag), or
 * NULL for start(); and whether it is running a migration's rollback.
 */
static char *session_tool = NULL;
static bool session_tool_rollback = false;

/*
 * start(), finish() and fail() change the session's recording state; each
 * change is logged with the subtransaction that made it, so an abort puts
 * the state back exactly as the ledger rows roll back.
 */
typedef struct RecordingUndo
{
	SubTransactionId subid;
	char	   *prev_version;	/* the open migration before the change, or NULL */
	char	   *prev_tool;		/* and the tool that opened it, or NULL */
	bool		prev_rollback;
} RecordingUndo;

static List *recording_undo = NIL;

/*
 * The schema as start() found it, so that finish() records the changes the
 * tool made (drift.c).  Kept in TopMemoryContext while a record-only
 * migration is open; freed when a transaction ends with none open.
 */
static MoCatalogState *recording_before = NULL;
static char *recording_before_version = NULL;

/* Returns the version of the migration running in this session, or NULL. */
const char *
MoCurrentMigration(void)
{
	return session_version;
}

/* Sets (or with NULL clears) the session's running migration. */
static void
SetSessionVersion(const char *version)
{
	if (session_version)
		pfree(session_version);
	session_version = version ? MemoryContextStrdup(TopMemoryContext, version) : NULL;
}

/* Sets (or with NULL clears) the tool that opened the session's migration. */
static void
SetSessionTool(const char *tool, bool rollback)
{
	if (session_tool)
		pfree(session_tool);
	session_tool = tool ? MemoryContextStrdup(TopMemoryContext, tool) : NULL;
	session_tool_rollback = tool ? rollback : false;
}

/*
 * Opens (version) or closes (NULL) the record-only migration, undoably;
 * tool is the deploy tool that opened it (NULL for start()).
 */
static void
SetRecordingTool(const char *version, const char *tool, bool rollback)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	RecordingUndo *undo = palloc(sizeof(RecordingUndo));

	undo->subid = GetCurrentSubTransactionId();
	undo->prev_version = session_recording ? pstrdup(session_version) : NULL;
	undo->prev_tool = session_recording && session_tool ? pstrdup(session_tool) : NULL;
	undo->prev_rollback = session_tool_rollback;
	recording_undo = lappend(recording_undo, undo);
	MemoryContextSwitchTo(old);

	SetSessionVersion(version);
	SetSessionTool(version ? tool : NULL, rollback);
	session_recording = (version != NULL);
}

/* Opens (version) or closes (NULL) the record-only migration of start(), undoably. */
static void
SetRecording(const char *version)
{
	SetRecordingTool(version, NULL, false);
}

/* Undoes the recording changes made in subtransaction subid (any, if invalid). */
static void
UndoRecording(SubTransactionId subid)
{
	while (recording_undo != NIL)
	{
		RecordingUndo *undo = (RecordingUndo *) llast(recording_undo);

		if (subid != InvalidSubTransactionId && undo->subid != subid)
			break;
		SetSessionVersion(undo->prev_version);
		SetSessionTool(undo->prev_tool, undo->prev_rollback);
		session_recording = (undo->prev_version != NULL);
		if (undo->prev_version)
			pfree(undo->prev_version);
		if (undo->prev_tool)
			pfree(undo->prev_tool);
		pfree(undo);
		recording_undo = list_delete_last(recording_undo);
	}
}

/* ---- the deploy lock ---- */

/* The advisory lock tag shared by every deploy in this database. */
static void
DeployLockTag(LOCKTAG *tag)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, MO_LOCK_CLASS, MO_LOCK_DEPLOY, 2);
}

/*
 * Describes the process, other than this one, that holds the deploy lock (a
 * sentence for an error detail), or returns NULL when none does.  SPI
 * connected, as the owner.  Also used by preflight() (gates.c).
 */
char *
MoDeployLockHolder(void)
{
	MoArgs		args = {0};

	MoArgInt4(&args, MO_LOCK_CLASS);
	MoArgInt4(&args, MO_LOCK_DEPLOY);
	MoSpiExec("SELECT l.pid, m.version, pg_catalog.to_char(m.started_at, 'YYYY-MM-DD HH24:MI:SS TZ')"
			  "  FROM pg_catalog.pg_locks l"
			  "  LEFT JOIN migrate_ops.migrations m"
			  "    ON m.backend_pid OPERATOR(pg_catalog.=) l.pid"
			  "   AND m.state OPERATOR(pg_catalog.=) 'running'"
			  " WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory'"
			  "   AND l.database OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database"
			  "        WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())"
			  "   AND l.classid OPERATOR(pg_catalog.=) $1::pg_catalog.oid"
			  "   AND l.objid OPERATOR(pg_catalog.=) $2::pg_catalog.oid"
			  "   AND l.objsubid OPERATOR(pg_catalog.=) 2 AND l.granted"
			  "   AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()"
			  " LIMIT 1", &args);
	if (SPI_processed == 0)
		return NULL;
	if (MoSpiGetText(0, 2) == NULL)
		return psprintf("Process %s holds the deploy lock.", MoSpiGetText(0, 1));
	return psprintf("Process %s holds the deploy lock, running migration \"%s\" since %s.",
					MoSpiGetText(0, 1), MoSpiGetText(0, 2), MoSpiGetText(0, 3));
}

/*
 * Takes the deploy lock, waiting up to migrate_ops.lock_wait for another
 * deploy to finish; then fails naming the holder.  sessionLock chooses a
 * session-level lock (kept across the procedure's commits) or a
 * transaction-level one.  SPI must be connected.
 */
static void
DeployLockAcquire(bool sessionLock)
{
	LOCKTAG		tag;
	TimestampTz start = GetCurrentTimestamp();
	long		delay_ms = 5;

	if (sessionLock && session_lock_held)
		return;					/* already ours: never count it twice */
	DeployLockTag(&tag);
	for (;;)
	{
		if (LockAcquire(&tag, ExclusiveLock, sessionLock, true) != LOCKACQUIRE_NOT_AVAIL)
			break;
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), mo_lock_wait))
		{
			MoOwnerState owner;
			char	   *holder;

			MoBecomeOwner(&owner);
			holder = MoDeployLockHolder();
			MoRestoreUser(&owner);
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("another deploy is running in database \"%s\"",
							get_database_name(MyDatabaseId)),
					 errdetail("%s", holder ? holder :
							   "The process holding the deploy lock has just released it."),
					 errhint("Wait for it to finish and retry, or raise migrate_ops.lock_wait (now %d ms).",
							 mo_lock_wait)));
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 delay_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		delay_ms = Min(delay_ms * 2, 100);
	}
	if (sessionLock)
		session_lock_held = true;
}

/*
 * Takes the deploy lock at session level if it is free, without waiting
 * (for a deploy tool's migration, which must never be held up or failed by
 * migrate_ops); returns whether this session holds it now.
 */
static bool
DeployLockTry(void)
{
	LOCKTAG		tag;

	if (session_lock_held)
		return true;
	DeployLockTag(&tag);
	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		return false;
	session_lock_held = true;
	return true;
}

/* Releases the session-level deploy lock, if this session holds it. */
static void
DeployLockReleaseSession(void)
{
	LOCKTAG		tag;

	if (!session_lock_held)
		return;
	DeployLockTag(&tag);
	LockRelease(&tag, ExclusiveLock, true);
	session_lock_held = false;
}

/* Frees the schema captured by start(). */
static void
RecordingBeforeFree(void)
{
	MoCatalogFree(recording_before);
	recording_before = NULL;
	if (recording_before_version)
		pfree(recording_before_version);
	recording_before_version = NULL;
}

/* At the end of a top-level transaction: keep the lock (and the captured schema) only while recording. */
static void
RecordingXactEnd(void)
{
	list_free_deep(recording_undo);
	recording_undo = NIL;
	if (!session_recording && recording_before)
		RecordingBeforeFree();
	if (lock_for_recording && !session_recording)
	{
		DeployLockReleaseSession();
		lock_for_recording = false;
	}
}

/*
 * start() takes effect only if its transaction commits, and finish()/fail()
 * release the deploy lock only when theirs commits.
 */
static void
LedgerXactCallback(XactEvent event, void *arg)
{
	(void) arg;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			RecordingXactEnd();
			break;
		case XACT_EVENT_ABORT:
			UndoRecording(InvalidSubTransactionId);
			RecordingXactEnd();
			break;
		default:
			break;
	}
}

/* The subtransaction counterpart of LedgerXactCallback. */
static void
LedgerSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	(void) arg;
	switch (event)
	{
		case SUBXACT_EVENT_COMMIT_SUB:
			foreach(lc, recording_undo)
			{
				RecordingUndo *undo = (RecordingUndo *) lfirst(lc);

				if (undo->subid == mySubid)
					undo->subid = parentSubid;
			}
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			UndoRecording(mySubid);
			break;
		default:
			break;
	}
}

/* Registers the ledger's transaction callbacks (from _PG_init). */
void
LedgerInit(void)
{
	RegisterXactCallback(LedgerXactCallback, NULL);
	RegisterSubXactCallback(LedgerSubXactCallback, NULL);
}

/* ---- ledger rows (all called as the owner, SPI connected) ---- */

/* A ledger row as far as the deploy logic needs it. */
typedef struct LedgerRow
{
	bool		found;
	char	   *state;
	char	   *checksum;
	char	   *down_script;
	char	   *backend_pid;
} LedgerRow;

/* Reads (and row-locks) the ledger row of version. */
static void
LedgerFetch(const char *version, LedgerRow *row)
{
	MoArgs		args = {0};

	MoArgText(&args, version);
	MoSpiExec("SELECT state, checksum, down_script, backend_pid"
			  "  FROM migrate_ops.migrations"
			  " WHERE version OPERATOR(pg_catalog.=) $1 FOR UPDATE", &args);
	memset(row, 0, sizeof(*row));
	if (SPI_processed == 0)
		return;
	row->found = true;
	row->state = MoSpiGetText(0, 1);
	row->checksum = MoSpiGetText(0, 2);
	row->down_script = MoSpiGetText(0, 3);
	row->backend_pid = MoSpiGetText(0, 4);
}

/* Appends a row to migration_history. */
static void
LedgerHistory(const char *version, const char *action, const char *old_state,
			  const char *new_state, const char *role, const char *detail)
{
	MoArgs		args = {0};

	MoArgText(&args, version);
	MoArgText(&args, action);
	MoArgText(&args, old_state);
	MoArgText(&args, new_state);
	MoArgText(&args, role);
	MoArgText(&args, detail);
	MoSpiExec("INSERT INTO migrate_ops.migration_history"
			  " (version, action, old_state, new_state, performed_by, detail)"
			  " VALUES ($1, $2, $3, $4, $5, $6)", &args);
}

static void LedgerEmitError(const char *event, const char *version, const char *action,
							const char *sqlstate, const char *message, const char *detail,
							const char *hint);

/*
 * Emits a migration.* event whose payload is the ledger row of version
 * (as it is now in this transaction), plus the action that caused it.
 */
static void
LedgerEmit(const char *event, const char *version, const char *action, ErrorData *edata)
{
	LedgerEmitError(event, version, action,
					edata ? unpack_sql_state(edata->sqlerrcode) : NULL,
					edata ? edata->message : NULL,
					edata ? edata->detail : NULL,
					edata ? edata->hint : NULL);
}

/*
 * LedgerEmit() with the error given by its parts (message NULL: the row's
 * own error, if any).
 */
static void
LedgerEmitError(const char *event, const char *version, const char *action,
				const char *sqlstate, const char *message, const char *detail, const char *hint)
{
	MoArgs		args = {0};
	char	   *json;

	MoArgText(&args, version);
	MoArgText(&args, action);
	MoArgText(&args, sqlstate);
	MoArgText(&args, message);
	MoArgText(&args, detail);
	MoArgText(&args, hint);
	MoSpiExec("SELECT pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object("
			  "  'version', version, 'action', $2, 'state', state, 'description', description,"
			  "  'source', source, 'checksum', checksum, 'applied_by', applied_by,"
			  "  'application_name', application_name, 'client_addr', client_addr,"
			  "  'started_at', started_at, 'finished_at', finished_at,"
			  "  'duration_ms', pg_catalog.round(EXTRACT(epoch FROM duration) OPERATOR(pg_catalog.*) 1000),"
			  "  'attempts', attempts, 'resolution_reason', resolution_reason,"
			  "  'fingerprint_before', fingerprint_before, 'fingerprint_after', fingerprint_after,"
			  "  'change_count', pg_catalog.jsonb_array_length(changes),"
			  "  'error', CASE WHEN $4 IS NOT NULL THEN pg_catalog.jsonb_build_object("
			  "      'sqlstate', $3, 'message', $4, 'detail', $5, 'hint', $6)"
			  "    WHEN error_message IS NOT NULL THEN pg_catalog.jsonb_build_object("
			  "      'sqlstate', error_sqlstate, 'message', error_message,"
			  "      'detail', error_detail, 'hint', error_hint) END))::text"
			  "  FROM migrate_ops.migrations WHERE version OPERATOR(pg_catalog.=) $1", &args);
	if (SPI_processed != 1)
		return;
	json = MoSpiGetText(0, 1);
	(void) MoEmitEvent(event, json);
}

/*
 * Marks failed every "running" row whose backend no longer exists (same pid
 * and start time), so a deploy killed mid-way never stays "running", and
 * emits migration.failed for each.
 */
static void
LedgerReapInterrupted(void)
{
	/* Read backend status afresh, not as cached earlier in this transaction. */
	pgstat_clear_backend_activity_snapshot();

	MoSpiExec("WITH gone AS ("
			  "  SELECT m.version FROM migrate_ops.migrations m"
			  "   WHERE m.state OPERATOR(pg_catalog.=) 'running'"
			  "     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_get_activity(m.backend_pid) a"
			  "                      WHERE a.backend_start OPERATOR(pg_catalog.=) m.backend_start)"
			  "   FOR UPDATE OF m SKIP LOCKED),"
			  " upd AS ("
			  "  UPDATE migrate_ops.migrations m"
			  "     SET state = 'failed', finished_at = pg_catalog.clock_timestamp(),"
			  "         duration = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) m.started_at,"
			  "         error_message = 'interrupted: the session running this migration ended before it finished',"
			  "         error_detail = pg_catalog.format('Process %s, which started the migration, no longer exists.', m.backend_pid)"
			  "    FROM gone WHERE m.version OPERATOR(pg_catalog.=) gone.version"
			  "  RETURNING m.version, m.backend_pid)"
			  " INSERT INTO migrate_ops.migration_history"
			  "   (version, action, old_state, new_state, performed_by, detail)"
			  " SELECT version, 'interrupted', 'running', 'failed', CURRENT_USER,"
			  "        pg_catalog.format('process %s ended while the migration was running', backend_pid)"
			  "   FROM upd RETURNING version", NULL);
	if (SPI_processed > 0)
	{
		int			n = (int) SPI_processed;
		char	  **versions = palloc(sizeof(char *) * n);

		for (int i = 0; i < n; i++)
			versions[i] = MoSpiGetText(i, 1);
		for (int i = 0; i < n; i++)
			LedgerEmit("migration.failed", versions[i], "interrupted", NULL);
	}
}

/* The highest version recorded by baseline(), or NULL. */
static char *
LedgerBaselineVersion(void)
{
	char	   *best = NULL;

	MoSpiExec("SELECT version FROM migrate_ops.migrations"
			  " WHERE state OPERATOR(pg_catalog.=) 'baselined'"
			  "   AND source OPERATOR(pg_catalog.=) 'baseline'", NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *v = MoSpiGetText(i, 1);

		if (best == NULL || MoVersionCompare(v, best) > 0)
			best = v;
	}
	return best;
}

/* Inserts or resets the row of version to "running" for this session. */
static void
LedgerMarkRunning(const char *version, const char *description, const char *checksum,
				  const char *script, const char *down_script, const char *source,
				  const char *role)
{
	MoArgs		args = {0};

	MoArgText(&args, version);
	MoArgText(&args, description);
	MoArgText(&args, checksum);
	MoArgText(&args, script);
	MoArgText(&args, down_script);
	MoArgText(&args, source);
	MoArgText(&args, role);
	MoArgInt4(&args, MyProcPid);
	MoArgTimestamptz(&args, MyStartTimestamp, false);
	MoSpiExec("INSERT INTO migrate_ops.migrations AS m"
			  " (version, description, checksum, script, down_script, state, source, started_at,"
			  "  applied_by, application_name, client_addr, backend_pid, backend_start, attempts)"
			  " VALUES ($1, $2, $3, $4, $5, 'running', $6, pg_catalog.clock_timestamp(), $7,"
			  "  pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),"
			  "  $8, $9, 1)"
			  " ON CONFLICT (version) DO UPDATE SET"
			  "  description = COALESCE(EXCLUDED.description, m.description),"
			  "  checksum = EXCLUDED.checksum, script = EXCLUDED.script,"
			  "  down_script = EXCLUDED.down_script, state = 'running', source = EXCLUDED.source,"
			  "  started_at = EXCLUDED.started_at, finished_at = NULL, duration = NULL,"
			  "  applied_by = EXCLUDED.applied_by, application_name = EXCLUDED.application_name,"
			  "  client_addr = EXCLUDED.client_addr, backend_pid = EXCLUDED.backend_pid,"
			  "  backend_start = EXCLUDED.backend_start, attempts = m.attempts OPERATOR(pg_catalog.+) 1,"
			  "  error_sqlstate = NULL, error_message = NULL, error_detail = NULL,"
			  "  error_hint = NULL, error_context = NULL, fingerprint_before = NULL,"
			  "  fingerprint_after = NULL, changes = NULL, resolved_by = NULL,"
			  "  resolved_at = NULL, resolution_reason = NULL", &args);
}

/* Sets the final state of a running row (applied, or failed with an error). */
static void
LedgerMarkFinished(const char *version, const char *state, ErrorData *edata,
				   const char *message)
{
	MoArgs		args = {0};

	MoArgText(&args, version);
	MoArgText(&args, state);
	MoArgText(&args, edata ? unpack_sql_state(edata->sqlerrcode) : NULL);
	MoArgText(&args, edata ? edata->message : message);
	MoArgText(&args, edata ? edata->detail : NULL);
	MoArgText(&args, edata ? edata->hint : NULL);
	MoArgText(&args, edata ? edata->context : NULL);
	MoSpiExec("UPDATE migrate_ops.migrations"
			  "   SET state = $2, finished_at = pg_catalog.clock_timestamp(),"
			  "       duration = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) started_at,"
			  "       error_sqlstate = $3, error_message = $4, error_detail = $5,"
			  "       error_hint = $6, error_context = $7"
			  " WHERE version OPERATOR(pg_catalog.=) $1", &args);
}

/* Sets the state of an existing row (rollback, resolve). */
static void
LedgerSetState(const char *version, const char *state, const char *role, const char *reason)
{
	MoArgs		args = {0};

	MoArgText(&args, version);
	MoArgText(&args, state);
	MoArgText(&args, role);
	MoArgText(&args, reason);
	MoSpiExec("UPDATE migrate_ops.migrations"
			  "   SET state = $2, resolved_by = $3, resolved_at = pg_catalog.clock_timestamp(),"
			  "       resolution_reason = $4"
			  " WHERE version OPERATOR(pg_catalog.=) $1", &args);
}

/*
 * Stores the lint findings of the script a row runs (NULL for record-only
 * migrations).  A 0.1.0 schema (library upgraded, ALTER EXTENSION not yet
 * run) has no lint_findings column and stores nothing.
 */
static void
LedgerSetLintFindings(const char *version, const char *json)
{
	MoArgs		args = {0};

	if (!MoLintAvailable())
		return;
	MoArgText(&args, version);
	MoArgJsonb(&args, json);
	MoSpiExec("UPDATE migrate_ops.migrations SET lint_findings = $2"
			  " WHERE version OPERATOR(pg_catalog.=) $1", &args);
}

/* Errors out unless the migration with this checksum may be (re)started. */
static void
CheckChecksumUnchanged(const char *version, const LedgerRow *row, const char *checksum)
{
	if (row->checksum && checksum && strcmp(row->checksum, checksum) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_MO_MIGRATION_CHANGED),
				 errmsg("migration \"%s\" was changed after it was applied", version),
				 errdetail("Applied checksum: %s; new checksum: %s.", row->checksum, checksum),
				 errhint("Never edit an applied migration: write a new one.  If the edit is "
						 "cosmetic, mark the old one with migrate_ops.resolve().")));
}

/* ---- running a script ---- */

/* Error context for a failing statement: which migration, statement, line. */
typedef struct RunContext
{
	const char *what;
	MoStatement *stmt;
} RunContext;

/* Adds "migration "V", statement N, line L" to errors raised by a statement. */
static void
RunErrorCallback(void *arg)
{
	RunContext *ctx = (RunContext *) arg;

	if (ctx->stmt)
		errcontext("%s, statement %d (line %d)", ctx->what, ctx->stmt->number, ctx->stmt->line);
}

/* Arms migrate_ops.statement_timeout for one statement, keeping an earlier outer deadline. */
void
MoStatementTimerArm(MoStatementTimer *save)
{
	TimestampTz fin;

	save->armed = false;
	if (mo_statement_timeout <= 0)
		return;
	save->outer_active = get_timeout_active(STATEMENT_TIMEOUT);
	save->outer_fin = save->outer_active ? get_timeout_finish_time(STATEMENT_TIMEOUT) : 0;
	fin = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), mo_statement_timeout);
	if (save->outer_active && save->outer_fin <= fin)
		return;					/* the session's own deadline comes first */
	enable_timeout_at(STATEMENT_TIMEOUT, fin);
	save->armed = true;
}

/* Restores the session's statement timer after MoStatementTimerArm(). */
void
MoStatementTimerRestore(MoStatementTimer *save)
{
	if (!save->armed)
		return;
	disable_timeout(STATEMENT_TIMEOUT, false);
	if (save->outer_active)
		enable_timeout_at(STATEMENT_TIMEOUT, save->outer_fin);
	save->armed = false;
}

/*
 * Applies the migration's settings (migrate_ops.lock_timeout) until
 * MoMigrationSettingsEnd(); returns the GUC nest level to pass to it.
 */
int
MoMigrationSettingsBegin(void)
{
	int			nestlevel = NewGUCNestLevel();

	if (mo_lock_timeout > 0)
	{
		char		buf[32];

		snprintf(buf, sizeof(buf), "%d", mo_lock_timeout);
		(void) set_config_option("lock_timeout", buf, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	return nestlevel;
}

/* Restores the settings MoMigrationSettingsBegin() changed. */
void
MoMigrationSettingsEnd(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/*
 * Runs one statement of a script as the current (calling) role, SPI
 * connected, under migrate_ops.statement_timeout; errors carry "what,
 * statement N (line L)" context.  Returns the rows it processed.  timer is
 * restored by the caller on error.
 */
uint64
MoRunStatement(const char *what, MoStatement *stmt, MoStatementTimer *timer)
{
	ErrorContextCallback errcallback;
	RunContext	ctx = {what, stmt};
	int			rc;

	errcallback.callback = RunErrorCallback;
	errcallback.arg = &ctx;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	MoStatementTimerArm(timer);
	rc = SPI_execute(stmt->text, false, 0);
	MoStatementTimerRestore(timer);
	if (rc < 0)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	SPI_freetuptable(SPI_tuptable);

	error_context_stack = errcallback.previous;
	return SPI_processed;
}

/*
 * Runs the statements of a script, as the current (calling) role, with the
 * migration's lock and statement timeouts.  timer is restored by the caller
 * on error.
 */
static void
RunStatements(const char *what, List *statements, MoStatementTimer *timer)
{
	ListCell   *lc;
	int			nestlevel = MoMigrationSettingsBegin();

	foreach(lc, statements)
	{
		(void) MoRunStatement(what, (MoStatement *) lfirst(lc), timer);
		CHECK_FOR_INTERRUPTS();
	}
	MoMigrationSettingsEnd(nestlevel);
}

/* What a deploy (apply or rollback) is about to do. */
typedef struct Deploy
{
	bool		rollback;		/* running the down script */
	bool		nonatomic;		/* called by CALL outside a transaction block */
	const char *version;
	const char *description;
	const char *checksum;
	const char *script;			/* the script that runs */
	const char *down_script;
	const char *role;
	char	   *what;			/* "migration \"V\"" for messages */
	List	   *statements;
	MoCatalogState *before;		/* the schema before the script ran (apply) */
	char	   *lint_json;		/* lint() findings of the script (JSON array) */
} Deploy;

/*
 * Checks the ledger and the deploy gates, and records the start of an
 * apply().  Returns false when there is nothing to do (already applied, or
 * covered by the baseline).  Runs as the owner; owner is what DeployRun
 * saved with MoBecomeOwner (a gate refusing a non-atomic deploy restores it
 * before committing its event).
 */
static bool
ApplyBegin(Deploy *d, MoOwnerState *owner)
{
	LedgerRow	row;
	char	   *baseline;

	LedgerFetch(d->version, &row);
	if (row.found && (strcmp(row.state, "applied") == 0 || strcmp(row.state, "baselined") == 0))
	{
		CheckChecksumUnchanged(d->version, &row, d->checksum);
		ereport(NOTICE,
				(errmsg("migration \"%s\" is already %s, skipping", d->version, row.state)));
		return false;
	}
	if (row.found && strcmp(row.state, "running") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" is already running", d->version),
				 errdetail("Process %s started it.", row.backend_pid ? row.backend_pid : "?")));
	if (!row.found && (baseline = LedgerBaselineVersion()) != NULL &&
		MoVersionCompare(d->version, baseline) <= 0)
	{
		ereport(NOTICE,
				(errmsg("migration \"%s\" is covered by baseline \"%s\", skipping",
						d->version, baseline)));
		return false;
	}

	/*
	 * Deploy gates (gates.c): in production a failing blocking preflight
	 * check refuses the deploy here, before the running row (MO002).
	 */
	MoGatesCheckApply(d->version, d->checksum, d->lint_json, d->role, d->nonatomic, owner);

	LedgerMarkRunning(d->version, d->description, d->checksum, d->script,
					  d->down_script, "apply", d->role);
	LedgerSetLintFindings(d->version, d->lint_json);
	LedgerHistory(d->version, "apply", row.found ? row.state : NULL, "running", d->role, NULL);
	LedgerEmit("migration.started", d->version, "apply", NULL);
	return true;
}

/* Checks that version may be rolled back, and loads its down script. */
static void
RollbackBegin(Deploy *d)
{
	LedgerRow	row;
	StringInfoData later;

	LedgerFetch(d->version, &row);
	if (!row.found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("migration \"%s\" does not exist", d->version)));
	if (strcmp(row.state, "applied") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" cannot be rolled back because it is %s", d->version, row.state),
				 errhint("Only applied migrations can be rolled back.")));
	if (row.down_script == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" has no down script", d->version),
				 errhint("Pass down_script to migrate_ops.apply(), or write a new migration that reverts it.")));

	/* Refuse while a later version is still applied. */
	initStringInfo(&later);
	MoSpiExec("SELECT version FROM migrate_ops.migrations"
			  " WHERE state OPERATOR(pg_catalog.=) ANY ('{applied,running}')", NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *v = MoSpiGetText(i, 1);

		if (MoVersionCompare(v, d->version) > 0)
			appendStringInfo(&later, "%s\"%s\"", later.len ? ", " : "", v);
	}
	if (later.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" cannot be rolled back while later migrations are applied",
						d->version),
				 errdetail("Still applied: %s.", later.data),
				 errhint("Roll back the later migrations first, newest first.")));

	d->script = row.down_script;
	d->statements = MoParseScript(d->script, d->what);
	MoCheckRunnableInTransaction(d->statements, d->what);
}

/* Records success (inside the deploy's subtransaction). */
static void
DeploySucceeded(Deploy *d)
{
	if (d->rollback)
	{
		LedgerSetState(d->version, "rolled_back", d->role, "rollback()");
		MoLedgerRecordAfter(d->version, NULL, "rollback", d->role, 0);
		LedgerHistory(d->version, "rollback", "applied", "rolled_back", d->role, NULL);
		LedgerEmit("migration.rolled_back", d->version, "rollback", NULL);
	}
	else
	{
		LedgerMarkFinished(d->version, "applied", NULL, NULL);
		MoLedgerRecordAfter(d->version, d->before, "apply", d->role,
							MO_RECORD_FINGERPRINT | MO_RECORD_CHANGES);
		LedgerHistory(d->version, "apply", "running", "applied", d->role, NULL);
		LedgerEmit("migration.applied", d->version, "apply", NULL);
	}
}

/* Records failure (after the subtransaction rolled back, before the commit). */
static void
DeployFailed(Deploy *d, ErrorData *edata)
{
	char	   *detail = psprintf("%s: %s", unpack_sql_state(edata->sqlerrcode), edata->message);

	if (d->rollback)
	{
		LedgerHistory(d->version, "rollback", "applied", "applied", d->role, detail);
		LedgerEmit("migration.failed", d->version, "rollback", edata);
	}
	else
	{
		LedgerMarkFinished(d->version, "failed", edata, NULL);
		LedgerHistory(d->version, "apply", "running", "failed", d->role, detail);
		LedgerEmit("migration.failed", d->version, "apply", NULL);
	}
}

/*
 * The body of apply() and rollback() once the deploy lock is held: check,
 * record the start, run the script, record the outcome.  In the non-atomic
 * case a failure is committed to the ledger and the original error is
 * re-raised.
 */
static void
DeployRun(Deploy *d)
{
	MoOwnerState owner;
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner resowner;
	ErrorData  *volatile edata = NULL;
	MoStatementTimer timer = {0};

	MoBecomeOwner(&owner);
	LedgerReapInterrupted();
	if (d->rollback)
		RollbackBegin(d);
	else if (!ApplyBegin(d, &owner))
	{
		MoRestoreUser(&owner);
		return;
	}
	else
		d->before = MoLedgerCaptureBefore(d->version);
	MoRestoreUser(&owner);

	/* Let other sessions see the migration running before it runs. */
	if (d->nonatomic && !d->rollback)
		SPI_commit();

	SetSessionVersion(d->version);
	resowner = CurrentResourceOwner;	/* the transaction's, after any commit */
	if (d->nonatomic)
	{
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(cxt);
	}
	PG_TRY();
	{
		RunStatements(d->what, d->statements, &timer);

		MoBecomeOwner(&owner);
		DeploySucceeded(d);
		MoRestoreUser(&owner);

		if (d->nonatomic)
		{
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(cxt);
			CurrentResourceOwner = resowner;
		}
	}
	PG_CATCH();
	{
		MoStatementTimerRestore(&timer);
		SetSessionVersion(NULL);
		if (!d->nonatomic)
			PG_RE_THROW();

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = resowner;
	}
	PG_END_TRY();
	SetSessionVersion(NULL);

	if (edata != NULL)
	{
		MoBecomeOwner(&owner);
		DeployFailed(d, edata);
		MoRestoreUser(&owner);
		SPI_commit();
		ReThrowError(edata);
	}
}

/* Shared entry of apply() and rollback(): arguments, lock, run. */
static void
DeployEntry(FunctionCallInfo fcinfo, Deploy *d)
{
	d->nonatomic = fcinfo->context && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
	d->role = MoCurrentRoleName();
	d->what = psprintf("%smigration \"%s\"", d->rollback ? "rollback of " : "", d->version);

	if (session_version != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" is already running in this session", session_version),
				 errhint("Finish it with migrate_ops.finish() or migrate_ops.fail() first.")));

	SPI_connect_ext(d->nonatomic ? SPI_OPT_NONATOMIC : 0);
	DeployLockAcquire(d->nonatomic);
	PG_TRY();
	{
		DeployRun(d);
	}
	PG_FINALLY();
	{
		if (d->nonatomic)
			DeployLockReleaseSession();
		SetSessionVersion(NULL);
	}
	PG_END_TRY();
	SPI_finish();
}

/*
 * CALL migrate_ops.apply(version, script, down_script, description)
 * Runs a migration inside the server, as the calling role.
 */
Datum
migrate_ops_apply(PG_FUNCTION_ARGS)
{
	Deploy		d = {0};

	d.version = MoRequiredTextArg(fcinfo, 0, "version");
	d.script = MoRequiredTextArg(fcinfo, 1, "script");
	d.down_script = MoOptionalTextArg(fcinfo, 2);
	d.description = MoOptionalTextArg(fcinfo, 3);
	MoCheckVersion(d.version);

	/* Validate the whole script (size, syntax, transaction safety) before anything runs. */
	d.what = psprintf("migration \"%s\"", d.version);
	d.statements = MoParseScript(d.script, d.what);
	MoCheckRunnableInTransaction(d.statements, d.what);
	if (d.down_script)
		MoCheckRunnableInTransaction(MoParseScript(d.down_script, "the down script"),
									 psprintf("the down script of migration \"%s\"", d.version));
	d.checksum = TextDatumGetCString(DirectFunctionCall1(migrate_ops_checksum,
														 PG_GETARG_DATUM(1)));

	/* Lint it as the caller (their search_path resolves its names); stored with the row. */
	d.lint_json = MoLintForLedger(d.statements);

	DeployEntry(fcinfo, &d);
	PG_RETURN_VOID();
}

/*
 * CALL migrate_ops.rollback(version)
 * Runs the stored down script of an applied migration and marks it rolled back.
 */
Datum
migrate_ops_rollback(PG_FUNCTION_ARGS)
{
	Deploy		d = {0};

	d.rollback = true;
	d.version = MoRequiredTextArg(fcinfo, 0, "version");
	MoCheckVersion(d.version);
	DeployEntry(fcinfo, &d);
	PG_RETURN_VOID();
}

/*
 * migrate_ops.checksum(script) → text
 * SHA-256 (hex) of the script with CRLF normalised to LF and trailing newlines ignored.
 */
Datum
migrate_ops_checksum(PG_FUNCTION_ARGS)
{
	text	   *script = PG_GETARG_TEXT_PP(0);
	const char *src = VARDATA_ANY(script);
	size_t		len = VARSIZE_ANY_EXHDR(script);
	char	   *buf = palloc(len + 1);
	size_t		n = 0;
	char	   *hex;

	for (size_t i = 0; i < len; i++)
	{
		if (src[i] == '\r' && i + 1 < len && src[i + 1] == '\n')
			continue;
		buf[n++] = src[i];
	}
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	hex = MoSha256Hex(buf, n);
	pfree(buf);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}

/*
 * migrate_ops.start(version, checksum, description)
 * Opens a record-only migration run by another tool in this session.
 */
Datum
migrate_ops_start(PG_FUNCTION_ARGS)
{
	char	   *version = MoRequiredTextArg(fcinfo, 0, "version");
	char	   *checksum = MoOptionalTextArg(fcinfo, 1);
	char	   *description = MoOptionalTextArg(fcinfo, 2);
	char	   *role = MoCurrentRoleName();
	MoOwnerState owner;
	LedgerRow	row;

	MoCheckVersion(version);
	if (checksum && (strlen(checksum) == 0 || strlen(checksum) > 1024))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("checksum must be between 1 and 1024 bytes"),
				 errhint("Pass NULL when the tool has no checksum.")));
	if (session_version != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" is already running in this session", session_version),
				 errhint("Finish it with migrate_ops.finish() or migrate_ops.fail() first.")));

	SPI_connect();
	DeployLockAcquire(true);
	PG_TRY();
	{
		MoBecomeOwner(&owner);
		LedgerReapInterrupted();
		LedgerFetch(version, &row);
		if (row.found && (strcmp(row.state, "applied") == 0 || strcmp(row.state, "baselined") == 0))
		{
			CheckChecksumUnchanged(version, &row, checksum);
			ereport(NOTICE,
					(errmsg("migration \"%s\" is already %s, nothing to record", version, row.state)));
			MoRestoreUser(&owner);
			if (!lock_for_recording)
				DeployLockReleaseSession();
		}
		else
		{
			if (row.found && strcmp(row.state, "running") == 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("migration \"%s\" is already running", version),
						 errdetail("Process %s started it.", row.backend_pid ? row.backend_pid : "?")));
			LedgerMarkRunning(version, description, checksum, NULL, NULL, "record", role);
			LedgerSetLintFindings(version, NULL);
			RecordingBeforeFree();
			recording_before = MoLedgerCaptureBefore(version);
			if (recording_before)
			{
				MemoryContextSetParent(recording_before->cxt, TopMemoryContext);
				recording_before_version = MemoryContextStrdup(TopMemoryContext, version);
			}
			LedgerHistory(version, "start", row.found ? row.state : NULL, "running", role, NULL);
			LedgerEmit("migration.started", version, "record", NULL);
			MoRestoreUser(&owner);

			SetRecording(version);
			lock_for_recording = true;
		}
	}
	PG_CATCH();
	{
		if (!lock_for_recording)
			DeployLockReleaseSession();
		PG_RE_THROW();
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_VOID();
}

/* Shared by finish() and fail(): closes this session's record-only migration. */
static void
EndRecorded(const char *version, const char *state, const char *message)
{
	char	   *role = MoCurrentRoleName();
	MoOwnerState owner;
	LedgerRow	row;

	MoCheckVersion(version);
	SPI_connect();
	MoBecomeOwner(&owner);
	if (!session_recording || strcmp(session_version, version) != 0)
	{
		LedgerFetch(version, &row);
		if (!row.found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("migration \"%s\" does not exist", version),
					 errhint("Call migrate_ops.start() before running the migration.")));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" was not started in this session", version),
				 errdetail("Its state is %s.", row.state),
				 errhint("Call migrate_ops.start(), run the migration and call %s in one session.",
						 strcmp(state, "applied") == 0 ? "migrate_ops.finish()" : "migrate_ops.fail()")));
	}
	LedgerMarkFinished(version, state, NULL, message);
	if (strcmp(state, "applied") == 0)
		MoLedgerRecordAfter(version,
							recording_before_version && strcmp(recording_before_version, version) == 0 ?
							recording_before : NULL,
							"finish", role, MO_RECORD_FINGERPRINT | MO_RECORD_CHANGES);
	LedgerHistory(version, strcmp(state, "applied") == 0 ? "finish" : "fail",
				  "running", state, role, message);
	LedgerEmit(strcmp(state, "applied") == 0 ? "migration.applied" : "migration.failed",
			   version, "record", NULL);
	MoRestoreUser(&owner);
	SPI_finish();
	SetRecording(NULL);
}

/* migrate_ops.finish(version): the tool's migration succeeded. */
Datum
migrate_ops_finish(PG_FUNCTION_ARGS)
{
	EndRecorded(MoRequiredTextArg(fcinfo, 0, "version"), "applied", NULL);
	PG_RETURN_VOID();
}

/* migrate_ops.fail(version, message): the tool's migration failed. */
Datum
migrate_ops_fail(PG_FUNCTION_ARGS)
{
	char	   *version = MoRequiredTextArg(fcinfo, 0, "version");
	char	   *message = MoOptionalTextArg(fcinfo, 1);

	EndRecorded(version, "failed", message ? message : "marked failed with migrate_ops.fail()");
	PG_RETURN_VOID();
}

/*
 * migrate_ops.resolve(version, state, reason)
 * Marks a failed migration applied or rolled back by hand, recording who and why.
 */
Datum
migrate_ops_resolve(PG_FUNCTION_ARGS)
{
	char	   *version = MoRequiredTextArg(fcinfo, 0, "version");
	char	   *state = MoRequiredTextArg(fcinfo, 1, "state");
	char	   *reason = MoRequiredTextArg(fcinfo, 2, "reason");
	char	   *role = MoCurrentRoleName();
	MoOwnerState owner;
	LedgerRow	row;

	MoCheckVersion(version);
	if (strcmp(state, "applied") != 0 && strcmp(state, "rolled_back") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid state \"%s\"", state),
				 errhint("A migration is resolved as 'applied' or 'rolled_back'.")));
	if (reason[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reason must not be empty"),
				 errhint("Say why, for whoever reads the ledger next.")));

	SPI_connect();
	MoBecomeOwner(&owner);
	LedgerReapInterrupted();
	LedgerFetch(version, &row);
	if (!row.found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("migration \"%s\" does not exist", version)));
	if (strcmp(row.state, "failed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" is %s, not failed", version, row.state),
				 errhint("Only failed migrations are resolved by hand.")));
	LedgerSetState(version, state, role, reason);
	LedgerHistory(version, "resolve", row.state, state, role, reason);
	LedgerEmit(strcmp(state, "applied") == 0 ? "migration.applied" : "migration.rolled_back",
			   version, "resolve", NULL);
	MoRestoreUser(&owner);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * migrate_ops.baseline(version, description)
 * Adopts an existing database: everything up to version counts as applied.
 */
Datum
migrate_ops_baseline(PG_FUNCTION_ARGS)
{
	char	   *version = MoRequiredTextArg(fcinfo, 0, "version");
	char	   *description = MoOptionalTextArg(fcinfo, 1);
	char	   *role = MoCurrentRoleName();
	MoOwnerState owner;
	LedgerRow	row;
	MoArgs		args = {0};

	MoCheckVersion(version);
	SPI_connect();
	DeployLockAcquire(false);
	MoBecomeOwner(&owner);
	LedgerReapInterrupted();
	LedgerFetch(version, &row);
	if (row.found)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("migration \"%s\" is already in the ledger", version),
				 errdetail("Its state is %s.", row.state),
				 errhint("baseline() adopts versions the ledger does not know yet.")));

	MoArgText(&args, version);
	MoArgText(&args, description ? description : "baseline");
	MoArgText(&args, role);
	MoSpiExec("INSERT INTO migrate_ops.migrations"
			  " (version, description, state, source, started_at, finished_at, duration,"
			  "  applied_by, application_name, client_addr)"
			  " VALUES ($1, $2, 'baselined', 'baseline', pg_catalog.clock_timestamp(),"
			  "  pg_catalog.clock_timestamp(), '0'::pg_catalog.interval, $3,"
			  "  pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr())",
			  &args);
	LedgerHistory(version, "baseline", NULL, "baselined", role, description);
	MoLedgerRecordAfter(version, NULL, "baseline", role, MO_RECORD_FINGERPRINT);
	MoRestoreUser(&owner);
	SPI_finish();
	PG_RETURN_VOID();
}

/* ---- recording what another deploy tool ran (tools.c) ---- */

/* True when both checksums are known and differ. */
static bool
ChecksumsDiffer(const char *a, const char *b)
{
	return a && b && strcmp(a, b) != 0;
}

/* History detail of a tool's record: "prisma, public._prisma_migrations[: message]". */
static char *
ToolDetail(const MoToolRun *run, const char *message)
{
	return psprintf("%s%s%s%s%s", run->source, run->ledger ? ", " : "", run->ledger ? run->ledger : "",
					message ? ": " : "", message ? message : "");
}

/*
 * Inserts or overwrites the row of a tool's version in a final state
 * (a migration the tool recorded after running it, or sync()).
 */
static void
LedgerToolUpsert(const MoToolRun *run, const char *state, const char *role)
{
	TimestampTz finished = run->finished_at ? run->finished_at : GetCurrentTimestamp();
	TimestampTz started = run->started_at ? Min(run->started_at, finished) : finished;
	bool		failed = strcmp(state, "failed") == 0;
	MoArgs		args = {0};

	MoArgText(&args, run->version);
	MoArgText(&args, run->description);
	MoArgText(&args, run->checksum);
	MoArgText(&args, state);
	MoArgText(&args, run->source);
	MoArgTimestamptz(&args, started, false);
	MoArgTimestamptz(&args, finished, false);
	MoArgText(&args, role);
	MoArgInt4(&args, MyProcPid);
	MoArgTimestamptz(&args, MyStartTimestamp, false);
	MoArgText(&args, failed ? run->error_sqlstate : NULL);
	MoArgText(&args, failed ? (run->message ? run->message : "failed") : NULL);
	MoSpiExec("INSERT INTO migrate_ops.migrations AS m"
			  " (version, description, checksum, state, source, started_at, finished_at, duration,"
			  "  applied_by, application_name, client_addr, backend_pid, backend_start, attempts,"
			  "  error_sqlstate, error_message)"
			  " VALUES ($1, $2, $3, $4, $5, $6, $7, $7 OPERATOR(pg_catalog.-) $6, $8,"
			  "  pg_catalog.current_setting('application_name'), pg_catalog.inet_client_addr(),"
			  "  $9, $10, 1, $11, $12)"
			  " ON CONFLICT (version) DO UPDATE SET"
			  "  description = COALESCE(EXCLUDED.description, m.description),"
			  "  checksum = EXCLUDED.checksum, script = NULL, down_script = NULL,"
			  "  state = EXCLUDED.state, source = EXCLUDED.source,"
			  "  started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,"
			  "  duration = EXCLUDED.duration, applied_by = EXCLUDED.applied_by,"
			  "  application_name = EXCLUDED.application_name, client_addr = EXCLUDED.client_addr,"
			  "  backend_pid = EXCLUDED.backend_pid, backend_start = EXCLUDED.backend_start,"
			  "  attempts = m.attempts OPERATOR(pg_catalog.+) 1,"
			  "  error_sqlstate = EXCLUDED.error_sqlstate, error_message = EXCLUDED.error_message,"
			  "  error_detail = NULL, error_hint = NULL, error_context = NULL,"
			  "  fingerprint_before = NULL, fingerprint_after = NULL, changes = NULL,"
			  "  resolved_by = NULL, resolved_at = NULL, resolution_reason = NULL", &args);
}

/*
 * A tool changed the checksum of a version it had applied (Flyway repair,
 * a hand-edited _prisma_migrations): the ledger keeps the checksum that ran
 * (so status() given the repository's checksums reports checksum_mismatch),
 * records the new one in the history and warns.  As the owner, SPI connected.
 */
static void
LedgerToolChecksumFlag(const MoToolRun *run, const LedgerRow *row, const char *role)
{
	LedgerHistory(run->version, "checksum_changed", row->state, row->state, role,
				  ToolDetail(run, psprintf("checksum %s -> %s", row->checksum, run->checksum)));
	ereport(WARNING,
			(errmsg("%s changed the checksum of migration \"%s\" after it was applied",
					run->source, run->version),
			 errdetail("It was applied with checksum %s; %s now says %s.",
					   row->checksum, run->ledger ? run->ledger : run->source, run->checksum),
			 errhint("migrate_ops keeps the checksum that was applied: status() given the "
					 "repository's checksums reports checksum_mismatch.  Never edit an applied "
					 "migration: write a new one.")));
}

/*
 * The deploy tool is about to run version (Prisma inserts its row first,
 * golang-migrate sets its dirty flag): opens it in this session like
 * start(), so that the DDL that follows, in this transaction or later ones,
 * is attributed to it — or, with rollback, opens the rollback of an applied
 * version (golang-migrate down).  A version the ledger has as applied is run
 * again: the tool is the authority on what it runs (after a reset of its
 * database, say).  Never waits for, nor fails on, another deploy: the
 * deploy lock is taken only if it is free.  Returns whether the migration is
 * open now.  SPI need not be connected.
 */
bool
MoToolBegin(const MoToolRun *run, bool rollback)
{
	char	   *role = MoCurrentRoleName();
	MoOwnerState owner;
	LedgerRow	row;
	bool		opened = false;

	MoCheckVersion(run->version);
	if (session_version != NULL)
	{
		MoToolRun	prev = {0};

		if (session_tool && session_tool_rollback == rollback &&
			strcmp(session_version, run->version) == 0)
			return true;		/* open already */
		if (!session_recording || session_tool == NULL)
		{
			ereport(WARNING,
					(errmsg("migrate_ops does not track %s migration \"%s\" as running",
							run->source, run->version),
					 errdetail("Migration \"%s\" is open in this session.", session_version)));
			return false;
		}
		/* the tool moved on without closing the previous one */
		prev.source = pstrdup(session_tool);
		prev.version = pstrdup(session_version);
		prev.ledger = run->ledger;
		prev.message = psprintf("%s started migration \"%s\" before finishing this one",
								run->source, run->version);
		(void) MoToolEnd(&prev, "failed");
	}

	SPI_connect();
	MoBecomeOwner(&owner);
	LedgerReapInterrupted();
	LedgerFetch(run->version, &row);
	if (rollback)
		opened = row.found && (strcmp(row.state, "applied") == 0 || strcmp(row.state, "baselined") == 0);
	else if (row.found && strcmp(row.state, "running") == 0)
		ereport(WARNING,
				(errmsg("migrate_ops does not track %s migration \"%s\" as running here",
						run->source, run->version),
				 errdetail("Process %s is running it.", row.backend_pid ? row.backend_pid : "?")));
	else
	{
		LedgerMarkRunning(run->version, run->description, run->checksum, NULL, NULL, run->source, role);
		LedgerSetLintFindings(run->version, NULL);
		RecordingBeforeFree();
		recording_before = MoLedgerCaptureBefore(run->version);
		if (recording_before)
		{
			MemoryContextSetParent(recording_before->cxt, TopMemoryContext);
			recording_before_version = MemoryContextStrdup(TopMemoryContext, run->version);
		}
		/* an applied version the tool runs again (its database was reset): a new attempt */
		LedgerHistory(run->version, "start", row.found ? row.state : NULL, "running", role,
					  ToolDetail(run, NULL));
		LedgerEmit("migration.started", run->version, "record", NULL);
		opened = true;
	}
	MoRestoreUser(&owner);
	SPI_finish();

	if (opened)
	{
		SetRecordingTool(run->version, run->source, rollback);
		if (DeployLockTry())
			lock_for_recording = true;
		else
			ereport(WARNING,
					(errmsg("another deploy holds the deploy lock of database \"%s\"",
							get_database_name(MyDatabaseId)),
					 errdetail("%s migration \"%s\" runs anyway: migrate_ops never holds up a deploy tool.",
							   run->source, run->version)));
	}
	return opened;
}

/*
 * The deploy tool's ledger says version ended in state: "applied",
 * "failed", "rolled_back" or "baselined".  Closes the migration this
 * session opened for it (MoToolBegin), or records the outcome at once for
 * tools that write their row after running the migration (Flyway, dbmate,
 * Sqitch).  Applied and rolled-back migrations move the drift baseline
 * (unless run->no_snapshot) and, like failures, emit their migration.*
 * event (not for sync()).  An applied version the ledger knows already is
 * left alone unless the tool ran it again (run->ran) or it is repeatable
 * with a new checksum; a new checksum without a new run is flagged.
 * Returns whether it recorded anything.  SPI need not be connected.
 */
bool
MoToolEnd(const MoToolRun *run, const char *state)
{
	char	   *role = MoCurrentRoleName();
	bool		applied = strcmp(state, "applied") == 0;
	bool		failed = strcmp(state, "failed") == 0;
	bool		rolled_back = strcmp(state, "rolled_back") == 0;
	bool		open = session_recording && session_tool != NULL &&
		strcmp(session_version, run->version) == 0;
	bool		open_rollback = open && session_tool_rollback;
	bool		known;
	bool		done = true;
	char	   *detail = ToolDetail(run, run->message);
	MoOwnerState owner;
	LedgerRow	row;

	MoCheckVersion(run->version);
	SPI_connect();
	MoBecomeOwner(&owner);
	LedgerReapInterrupted();
	LedgerFetch(run->version, &row);
	known = row.found && (strcmp(row.state, "applied") == 0 || strcmp(row.state, "baselined") == 0);

	if (open_rollback)
	{
		/* golang-migrate down: the rollback ends */
		if (!failed && known)
		{
			LedgerSetState(run->version, "rolled_back", role,
						   run->message ? run->message : psprintf("rolled back by %s", run->source));
			if (!run->no_snapshot)
				MoLedgerRecordAfter(run->version, NULL, "rollback", role, 0);
			LedgerHistory(run->version, "rollback", row.state, "rolled_back", role, detail);
			LedgerEmit("migration.rolled_back", run->version, "record", NULL);
		}
		else
		{
			LedgerHistory(run->version, "rollback", row.found ? row.state : NULL,
						  row.found ? row.state : NULL, role, detail);
			LedgerEmitError("migration.failed", run->version, "record", run->error_sqlstate,
							run->message ? run->message : "the rollback failed", NULL, NULL);
		}
	}
	else if (open && (applied || failed))
	{
		/* the migration this session opened ends */
		LedgerMarkFinished(run->version, state, NULL,
						   failed ? (run->message ? run->message : psprintf("%s recorded the migration as failed", run->source)) : NULL);
		if (failed && run->error_sqlstate)
		{
			MoArgs		args = {0};

			MoArgText(&args, run->version);
			MoArgText(&args, run->error_sqlstate);
			MoSpiExec("UPDATE migrate_ops.migrations SET error_sqlstate = $2"
					  " WHERE version OPERATOR(pg_catalog.=) $1", &args);
		}
		if (applied)
			MoLedgerRecordAfter(run->version,
								recording_before_version && strcmp(recording_before_version, run->version) == 0 ?
								recording_before : NULL,
								"finish", role, MO_RECORD_FINGERPRINT | MO_RECORD_CHANGES);
		LedgerHistory(run->version, applied ? "finish" : "fail", "running", state, role, detail);
		LedgerEmit(applied ? "migration.applied" : "migration.failed", run->version, "record", NULL);
	}
	else if (run->sync && row.found)
		done = false;			/* sync() records only what the ledger does not know */
	else if (applied || strcmp(state, "baselined") == 0)
	{
		if (known && !run->ran && ChecksumsDiffer(row.checksum, run->checksum) && !run->repeatable)
		{
			LedgerToolChecksumFlag(run, &row, role);
			done = false;
		}
		else if (known && !run->ran && !ChecksumsDiffer(row.checksum, run->checksum))
			done = false;		/* known already */
		else
		{
			LedgerToolUpsert(run, state, role);
			if (!run->no_snapshot)
				MoLedgerRecordAfter(run->version, NULL, applied ? "finish" : "baseline", role,
									applied ? MO_RECORD_FINGERPRINT | MO_RECORD_CHANGES : MO_RECORD_FINGERPRINT);
			LedgerHistory(run->version, run->sync ? "sync" : (applied ? "record" : "baseline"),
						  row.found ? row.state : NULL, state, role, detail);
			if (applied && !run->sync)
				LedgerEmit("migration.applied", run->version, "record", NULL);
		}
	}
	else if (failed)
	{
		if (known)
		{
			/* a new attempt at an applied version failed: it stays applied */
			LedgerHistory(run->version, "fail", row.state, row.state, role, detail);
			LedgerEmitError("migration.failed", run->version, "record", run->error_sqlstate,
							run->message ? run->message : "failed", NULL, NULL);
		}
		else
		{
			LedgerToolUpsert(run, state, role);
			LedgerHistory(run->version, run->sync ? "sync" : "fail", row.found ? row.state : NULL,
						  state, role, detail);
			if (!run->sync)
				LedgerEmit("migration.failed", run->version, "record", NULL);
		}
	}
	else if (rolled_back)
	{
		if (row.found && strcmp(row.state, "rolled_back") == 0)
			done = false;
		else
		{
			if (row.found)
				LedgerSetState(run->version, "rolled_back", role,
							   run->message ? run->message : psprintf("rolled back by %s", run->source));
			else
				LedgerToolUpsert(run, state, role);
			if (!run->no_snapshot)
				MoLedgerRecordAfter(run->version, NULL, "rollback", role, 0);
			LedgerHistory(run->version, run->sync ? "sync" : "rollback", row.found ? row.state : NULL,
						  "rolled_back", role, detail);
			if (!run->sync)
				LedgerEmit("migration.rolled_back", run->version, "record", NULL);
		}
	}
	else
		elog(ERROR, "unknown tool state \"%s\"", state);
	MoRestoreUser(&owner);
	SPI_finish();

	if (open)
		SetRecordingTool(NULL, NULL, false);
	return done;
}

/*
 * The deploy tool changed the checksum it keeps for version (run->checksum
 * is the new one): flagged if migrate_ops recorded the version as applied
 * with another checksum.
 */
void
MoToolChecksumChanged(const MoToolRun *run)
{
	char	   *role = MoCurrentRoleName();
	MoOwnerState owner;
	LedgerRow	row;

	MoCheckVersion(run->version);
	SPI_connect();
	MoBecomeOwner(&owner);
	LedgerFetch(run->version, &row);
	if (row.found && (strcmp(row.state, "applied") == 0 || strcmp(row.state, "baselined") == 0) &&
		ChecksumsDiffer(row.checksum, run->checksum))
		LedgerToolChecksumFlag(run, &row, role);
	MoRestoreUser(&owner);
	SPI_finish();
}

/*
 * Whether a deploy tool opened this session's migration (MoToolBegin);
 * if so, which tool, version, and whether it is a rollback.
 */
bool
MoToolOpen(const char **source, const char **version, bool *rollback)
{
	if (!session_recording || session_tool == NULL)
		return false;
	if (source)
		*source = session_tool;
	if (version)
		*version = session_version;
	if (rollback)
		*rollback = session_tool_rollback;
	return true;
}

/* ---- status() ---- */

/* One version as status() reports it. */
typedef struct StatusRow
{
	char	   *values[11];		/* output columns as text, NULL = SQL NULL */
} StatusRow;

#define ST_VERSION 0
#define ST_STATE 1
#define ST_DESCRIPTION 2
#define ST_CHECKSUM 3
#define ST_EXPECTED 4
#define ST_SOURCE 5
#define ST_APPLIED_BY 6
#define ST_STARTED 7
#define ST_FINISHED 8
#define ST_DURATION 9
#define ST_ERROR 10

/* qsort comparator: natural version order. */
static int
StatusRowCompare(const void *a, const void *b)
{
	const StatusRow *ra = *(const StatusRow *const *) a;
	const StatusRow *rb = *(const StatusRow *const *) b;

	return MoVersionCompare(ra->values[ST_VERSION], rb->values[ST_VERSION]);
}

/*
 * Whether the repository's list speaks for a ledger row: always for the
 * versions of apply() and start(); for a deploy tool's version (e.g.
 * "prisma:20260101_init") only when the list holds a version of the same
 * tool ledger ("prisma:..."), so that checking one tool's repository does
 * not report every other tool's versions missing from it.
 */
static bool
StatusInScope(StatusRow *row, char **versions, int n)
{
	const char *v = row->values[ST_VERSION];
	int			len = MoToolVersionPrefixLen(v, row->values[ST_SOURCE]);

	if (len == 0)
		return true;
	for (int i = 0; i < n; i++)
		if (strncmp(versions[i], v, len) == 0)
			return true;
	return false;
}

/*
 * Reads the repository's list given to status(): a JSON array of objects
 * with a "version" string and an optional "checksum" string.  Fills
 * versions[]/checksums[] (SPI connected); errors say which element is wrong.
 * Also used by preflight(), health() and ready() (gates.c).
 */
int
MoReadExpected(Jsonb *expected, char ***versions, char ***checksums)
{
	MoArgs		args = {0};
	int			n;

	if (!JB_ROOT_IS_ARRAY(expected) || JB_ROOT_IS_SCALAR(expected))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expected must be a JSON array"),
				 errhint("Pass [{\"version\": \"1\", \"checksum\": \"...\"}, ...].")));

	args.n = 1;
	args.types[0] = JSONBOID;
	args.values[0] = JsonbPGetDatum(expected);
	args.nulls[0] = ' ';
	MoSpiExec("SELECT pg_catalog.jsonb_typeof(e), pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'version'),"
			  "       e OPERATOR(pg_catalog.->>) 'version',"
			  "       pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'checksum'),"
			  "       e OPERATOR(pg_catalog.->>) 'checksum'"
			  "  FROM pg_catalog.jsonb_array_elements($1) WITH ORDINALITY AS x(e, n)"
			  " ORDER BY n", &args);

	n = (int) SPI_processed;
	*versions = palloc0(sizeof(char *) * (n + 1));
	*checksums = palloc0(sizeof(char *) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		char	   *etype = MoSpiGetText(i, 1);
		char	   *vtype = MoSpiGetText(i, 2);
		char	   *ctype = MoSpiGetText(i, 4);

		if (strcmp(etype, "object") != 0 || vtype == NULL || strcmp(vtype, "string") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("element %d of expected has no \"version\" string", i + 1),
					 errhint("Each element is an object like {\"version\": \"1\", \"checksum\": \"...\"}.")));
		if (ctype != NULL && strcmp(ctype, "string") != 0 && strcmp(ctype, "null") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("element %d of expected has a \"checksum\" that is not a string", i + 1)));
		(*versions)[i] = MoSpiGetText(i, 3);
		(*checksums)[i] = MoSpiGetText(i, 5);
		MoCheckVersion((*versions)[i]);
	}
	return n;
}

/*
 * migrate_ops.status(expected jsonb) → setof rows
 * One row per version with its state; given the repository's list it also
 * reports pending, checksum_mismatch and missing_from_repo.
 */
Datum
migrate_ops_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *expected = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	MoOwnerState owner;
	char	  **exp_versions = NULL;
	char	  **exp_checksums = NULL;
	int			n_expected = 0;
	StatusRow **rows;
	int			nrows = 0;
	int			nledger;
	char	   *baseline = NULL;
	AttInMetadata *attinmeta;
	MemoryContext oldcxt;

	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	if (expected)
		n_expected = MoReadExpected(expected, &exp_versions, &exp_checksums);

	MoBecomeOwner(&owner);
	LedgerReapInterrupted();
	MoSpiExec("SELECT version, state, description, checksum, source, applied_by,"
			  "       started_at, finished_at, duration, error_message"
			  "  FROM migrate_ops.migrations", NULL);
	MoRestoreUser(&owner);

	nledger = (int) SPI_processed;
	rows = palloc0(sizeof(StatusRow *) * (nledger + n_expected + 1));
	for (int i = 0; i < nledger; i++)
	{
		StatusRow  *r = palloc0(sizeof(StatusRow));

		r->values[ST_VERSION] = MoSpiGetText(i, 1);
		r->values[ST_STATE] = MoSpiGetText(i, 2);
		r->values[ST_DESCRIPTION] = MoSpiGetText(i, 3);
		r->values[ST_CHECKSUM] = MoSpiGetText(i, 4);
		r->values[ST_SOURCE] = MoSpiGetText(i, 5);
		r->values[ST_APPLIED_BY] = MoSpiGetText(i, 6);
		r->values[ST_STARTED] = MoSpiGetText(i, 7);
		r->values[ST_FINISHED] = MoSpiGetText(i, 8);
		r->values[ST_DURATION] = MoSpiGetText(i, 9);
		r->values[ST_ERROR] = MoSpiGetText(i, 10);
		rows[nrows++] = r;
		if (strcmp(r->values[ST_STATE], "baselined") == 0 &&
			strcmp(r->values[ST_SOURCE], "baseline") == 0 &&
			(baseline == NULL || MoVersionCompare(r->values[ST_VERSION], baseline) > 0))
			baseline = r->values[ST_VERSION];
	}
	qsort(rows, nrows, sizeof(StatusRow *), StatusRowCompare);

	if (expected)
	{
		bool	   *in_repo = palloc0(sizeof(bool) * (nledger + 1));

		for (int e = 0; e < n_expected; e++)
		{
			StatusRow	key;
			StatusRow  *keyp = &key;
			StatusRow **hit;

			for (int j = 0; j < e; j++)
				if (strcmp(exp_versions[j], exp_versions[e]) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("version \"%s\" appears more than once in expected", exp_versions[e])));

			key.values[ST_VERSION] = exp_versions[e];
			hit = bsearch(&keyp, rows, nledger, sizeof(StatusRow *), StatusRowCompare);
			if (hit)
			{
				StatusRow  *r = *hit;

				in_repo[hit - rows] = true;
				r->values[ST_EXPECTED] = exp_checksums[e];
				if (strcmp(r->values[ST_STATE], "applied") == 0 && exp_checksums[e] &&
					r->values[ST_CHECKSUM] && strcmp(exp_checksums[e], r->values[ST_CHECKSUM]) != 0)
					r->values[ST_STATE] = "checksum_mismatch";
			}
			else
			{
				StatusRow  *r = palloc0(sizeof(StatusRow));

				r->values[ST_VERSION] = exp_versions[e];
				r->values[ST_EXPECTED] = exp_checksums[e];
				if (baseline && MoVersionCompare(exp_versions[e], baseline) <= 0)
				{
					r->values[ST_STATE] = "baselined";
					r->values[ST_SOURCE] = "baseline";
				}
				else
					r->values[ST_STATE] = "pending";
				rows[nrows++] = r;
			}
		}
		for (int i = 0; i < nledger; i++)
			if (!in_repo[i] && strcmp(rows[i]->values[ST_STATE], "applied") == 0 &&
				StatusInScope(rows[i], exp_versions, n_expected))
				rows[i]->values[ST_STATE] = "missing_from_repo";
		qsort(rows, nrows, sizeof(StatusRow *), StatusRowCompare);
	}

	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	attinmeta = TupleDescGetAttInMetadata(rsinfo->setDesc);
	MemoryContextSwitchTo(oldcxt);
	for (int i = 0; i < nrows; i++)
		tuplestore_puttuple(rsinfo->setResult, BuildTupleFromCStrings(attinmeta, rows[i]->values));

	SPI_finish();
	return (Datum) 0;
}
