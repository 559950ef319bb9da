/*
 * worker.c — the background worker (DESIGN §5).
 *
 * One launcher per cluster (registered from _PG_init when preloaded) starts
 * one worker per database that has the extension.  It finds them by itself:
 * at start it probes every connectable, non-template database (a worker that
 * finds no extension exits at once and the database is not probed again
 * until asked), and afterwards it only acts when told: CREATE / ALTER / DROP
 * EXTENSION and CREATE DATABASE ask for a recheck at commit (object access
 * hook), a worker's exit sets its latch, SIGHUP re-reads the settings.
 *
 * A database worker delivers the outbox (woken at commit by the backend that
 * queued rows: no polling while idle), runs migrate_ops.scan() every
 * migrate_ops.scan_interval, and prunes rows older than
 * migrate_ops.retention.  Every database access is a short transaction of
 * its own; HTTP runs with no transaction open.
 *
 * DROP DATABASE, ALTER DATABASE RENAME / SET TABLESPACE and CREATE DATABASE
 * ... TEMPLATE need the database to themselves: a ProcessUtility hook stops
 * that database's worker first and lets the launcher restart it afterwards.
 *
 * State shared by all of them lives in one shared memory segment; without
 * shared_preload_libraries there is none, and worker_status() says so.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/backend_status.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "migrate_ops.h"

PG_FUNCTION_INFO_V1(migrate_ops_worker_status);

PGDLLEXPORT void MoLauncherMain(Datum arg);
PGDLLEXPORT void MoWorkerMain(Datum arg);

/* ---- settings ---- */

/* Databases the worker serves ("" = every database with the extension). */
char	   *mo_databases = NULL;

/* Seconds between two drift scans (0 = no scans). */
int			mo_scan_interval = 6 * 3600;

/* lock_timeout of a scan (ms). */
int			mo_scan_lock_timeout = 1000;

/* Age (s) after which delivered/dead outbox rows, events, DDL log and scans are pruned (0 = never). */
int			mo_retention = 30 * 24 * 3600;

/* ---- shared state ---- */

#define MO_MAX_REQUESTS		32
#define MO_MAX_PAUSES		16
#define MO_ERROR_LEN		256

/* Rows deleted per retention transaction, and time spent pruning per round. */
#define MO_PRUNE_BATCH		1000
#define MO_PRUNE_BUDGET_MS	2000

/* While requests are in flight, the worker looks at its timers at least this often (ms). */
#define MO_POLL_MS			100

/* A due scan or pruning waits at most this long (ms) for the requests in flight. */
#define MO_QUIESCE_MS		1000

/* Worker restart delays after an unexpected exit: 1 s doubling to 60 s. */
#define MO_RESTART_MIN_MS	1000
#define MO_RESTART_MAX_MS	60000
/* Retry after a failed start (no free background worker slot). */
#define MO_START_RETRY_MS	10000

typedef enum MoSlotState
{
	MO_SLOT_FREE = 0,
	MO_SLOT_STARTING,			/* registered by the launcher, not attached yet */
	MO_SLOT_RUNNING,			/* the worker is attached */
	MO_SLOT_EXITED				/* the worker ended (see exit_reason) */
} MoSlotState;

typedef enum MoExitReason
{
	MO_EXIT_UNEXPECTED = 0,		/* error, crash or pg_terminate_backend: restart */
	MO_EXIT_ABSENT,				/* no (current) migrate_ops in the database */
	MO_EXIT_STOPPED				/* asked to stop (paused database, excluded) */
} MoExitReason;

/* One database's worker, and what worker_status() shows about it. */
typedef struct MoWorkerSlot
{
	Oid			dboid;
	MoSlotState state;
	MoExitReason exit_reason;
	uint32		generation;		/* bumped at every start; a stale worker exits */
	int			pid;
	Latch	   *latch;
	pg_atomic_uint32 wake;		/* outbox rows were committed */
	pg_atomic_uint32 recheck;	/* the extension may have been dropped */
	pg_atomic_uint32 stop;		/* exit now */
	TimestampTz started_at;
	TimestampTz restart_at;		/* when state is EXITED (unexpected) */
	TimestampTz last_scan_at;
	TimestampTz last_delivery_at;
	TimestampTz last_error_at;
	int64		delivered;
	int64		backlog;
	int64		dead;
	int			failures;		/* unexpected exits in a row */
	char		last_drift_state[32];
	char		last_error[MO_ERROR_LEN];
} MoWorkerSlot;

/* A database some backend needs without our worker (DROP DATABASE, ...). */
typedef struct MoPause
{
	Oid			dboid;
	int			pid;
} MoPause;

typedef struct MoShared
{
	LWLock	   *lock;
	int			launcher_pid;
	Latch	   *launcher_latch;
	int			nrequests;
	Oid			requests[MO_MAX_REQUESTS];	/* databases to (re)check */
	bool		rescan_all;		/* requests overflowed */
	MoPause		pauses[MO_MAX_PAUSES];
	int			nslots;
	MoWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} MoShared;

static MoShared *mo_shared = NULL;

#ifdef MO_HAVE_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static object_access_hook_type prev_object_access_hook = NULL;

/* Slots: one per possible background worker. */
static int
SlotCount(void)
{
	return Max(max_worker_processes, 1);
}

/* Bytes of shared memory the module needs. */
static Size
SharedSize(void)
{
	return add_size(offsetof(MoShared, slots), mul_size(sizeof(MoWorkerSlot), SlotCount()));
}

/* shmem_request_hook: reserves our shared memory and lock. */
static void
WorkerShmemRequest(void)
{
#ifdef MO_HAVE_SHMEM_REQUEST_HOOK
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(SharedSize());
	RequestNamedLWLockTranche("migrate_ops", 1);
}

/* shmem_startup_hook: creates (or attaches to) the shared state. */
static void
WorkerShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	mo_shared = ShmemInitStruct("migrate_ops", SharedSize(), &found);
	if (!found)
	{
		memset(mo_shared, 0, SharedSize());
		mo_shared->lock = &(GetNamedLWLockTranche("migrate_ops"))->lock;
		mo_shared->nslots = SlotCount();
		for (int i = 0; i < mo_shared->nslots; i++)
		{
			pg_atomic_init_u32(&mo_shared->slots[i].wake, 0);
			pg_atomic_init_u32(&mo_shared->slots[i].recheck, 0);
			pg_atomic_init_u32(&mo_shared->slots[i].stop, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* The slot serving dboid (any state but free), or NULL.  Lock held. */
static MoWorkerSlot *
FindSlot(Oid dboid)
{
	for (int i = 0; i < mo_shared->nslots; i++)
		if (mo_shared->slots[i].state != MO_SLOT_FREE && mo_shared->slots[i].dboid == dboid)
			return &mo_shared->slots[i];
	return NULL;
}

/* True while some live backend needs dboid without our worker.  Lock held. */
static bool
IsPaused(Oid dboid)
{
	for (int i = 0; i < MO_MAX_PAUSES; i++)
		if (mo_shared->pauses[i].dboid == dboid && mo_shared->pauses[i].pid != 0)
			return true;
	return false;
}

/* Asks the launcher to (re)check dboid (InvalidOid: every database).  Lock held exclusively. */
static void
AddRequest(Oid dboid)
{
	if (!OidIsValid(dboid) || mo_shared->nrequests >= MO_MAX_REQUESTS)
		mo_shared->rescan_all = true;
	else
		mo_shared->requests[mo_shared->nrequests++] = dboid;
	if (mo_shared->launcher_latch)
		SetLatch(mo_shared->launcher_latch);
}

/* Copies an error message into a slot (truncated). */
static void
SetSlotError(MoWorkerSlot *slot, const char *message)
{
	strlcpy(slot->last_error, message ? message : "unknown error", MO_ERROR_LEN);
	slot->last_error_at = GetCurrentTimestamp();
}

/* ---- wake-ups at commit (every backend) ---- */

/* This transaction queued outbox rows: wake the database's worker at commit. */
static bool wake_at_commit = false;

/* This transaction created, altered or dropped an extension. */
static bool recheck_at_commit = false;

/* A database this transaction created (CREATE DATABASE). */
static Oid	created_db_at_commit = InvalidOid;

/* Asks for the current database's worker to be woken when this transaction commits. */
void
MoWakeWorkerAtCommit(void)
{
	wake_at_commit = true;
}

/* Wakes dboid's worker now (rows are committed). */
static void
WakeWorker(Oid dboid)
{
	MoWorkerSlot *slot;

	LWLockAcquire(mo_shared->lock, LW_SHARED);
	slot = FindSlot(dboid);
	if (slot)
	{
		pg_atomic_write_u32(&slot->wake, 1);
		if (slot->latch)
			SetLatch(slot->latch);
	}
	LWLockRelease(mo_shared->lock);
}

/*
 * At COMMIT, wakes the worker for rows this transaction queued (as pg_net
 * does: a rolled-back transaction wakes nobody, a batch wakes it once) and
 * tells the launcher about extension and database changes.
 */
static void
WorkerXactCallback(XactEvent event, void *arg)
{
	(void) arg;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (mo_shared != NULL)
			{
				if (wake_at_commit)
					WakeWorker(MyDatabaseId);
				if (recheck_at_commit || OidIsValid(created_db_at_commit))
				{
					LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
					if (recheck_at_commit)
						AddRequest(MyDatabaseId);
					if (OidIsValid(created_db_at_commit))
						AddRequest(created_db_at_commit);
					LWLockRelease(mo_shared->lock);
				}
			}
			wake_at_commit = recheck_at_commit = false;
			created_db_at_commit = InvalidOid;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* a prepared transaction's rows are woken for by COMMIT PREPARED (utility hook) */
			wake_at_commit = recheck_at_commit = false;
			created_db_at_commit = InvalidOid;
			break;
		default:
			break;
	}
}

/* object_access_hook: notes extension changes and new databases for the launcher. */
static void
WorkerObjectAccess(ObjectAccessType access, Oid classId, Oid objectId, int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (classId == ExtensionRelationId &&
		(access == OAT_POST_CREATE || access == OAT_DROP || access == OAT_POST_ALTER))
		recheck_at_commit = true;
	else if (classId == DatabaseRelationId && access == OAT_POST_CREATE)
		created_db_at_commit = objectId;
}

/* ---- pausing a database's worker (DROP DATABASE and friends) ---- */

/*
 * Stops dboid's worker and keeps the launcher from restarting it until
 * ResumeWorker(); waits up to 10 s for it to leave the database.
 */
static void
PauseWorker(Oid dboid)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 10000);
	MoWorkerSlot *slot;

	LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < MO_MAX_PAUSES; i++)
	{
		if (mo_shared->pauses[i].pid == 0)
		{
			mo_shared->pauses[i].dboid = dboid;
			mo_shared->pauses[i].pid = MyProcPid;
			break;
		}
	}
	slot = FindSlot(dboid);
	if (slot)
	{
		pg_atomic_write_u32(&slot->stop, 1);
		if (slot->latch)
			SetLatch(slot->latch);
	}
	LWLockRelease(mo_shared->lock);

	for (;;)
	{
		bool		active;

		LWLockAcquire(mo_shared->lock, LW_SHARED);
		slot = FindSlot(dboid);
		active = slot && (slot->state == MO_SLOT_RUNNING || slot->state == MO_SLOT_STARTING);
		LWLockRelease(mo_shared->lock);
		if (!active || GetCurrentTimestamp() >= deadline)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Ends this backend's pause of dboid; the launcher restarts the worker if the database still exists. */
static void
ResumeWorker(Oid dboid)
{
	LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < MO_MAX_PAUSES; i++)
		if (mo_shared->pauses[i].dboid == dboid && mo_shared->pauses[i].pid == MyProcPid)
			mo_shared->pauses[i].dboid = mo_shared->pauses[i].pid = 0;
	AddRequest(dboid);
	LWLockRelease(mo_shared->lock);
}

/* The database a utility statement needs to itself (no other session), or InvalidOid. */
static Oid
DatabaseNeedingExclusiveAccess(Node *stmt)
{
	ListCell   *lc;

	switch (nodeTag(stmt))
	{
		case T_DropdbStmt:
			return get_database_oid(((DropdbStmt *) stmt)->dbname, true);
		case T_RenameStmt:
			if (((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
				return get_database_oid(((RenameStmt *) stmt)->subname, true);
			break;
		case T_AlterDatabaseStmt:
			foreach(lc, ((AlterDatabaseStmt *) stmt)->options)
				if (strcmp(((DefElem *) lfirst(lc))->defname, "tablespace") == 0)
					return get_database_oid(((AlterDatabaseStmt *) stmt)->dbname, true);
			break;
		case T_CreatedbStmt:
			foreach(lc, ((CreatedbStmt *) stmt)->options)
			{
				DefElem    *def = (DefElem *) lfirst(lc);

				if (strcmp(def->defname, "template") == 0 && def->arg != NULL)
					return get_database_oid(defGetString(def), true);
			}
			break;
		default:
			break;
	}
	return InvalidOid;
}

/*
 * ProcessUtility hook: a statement that needs a database to itself first
 * stops that database's worker (PostgreSQL would otherwise wait for it and
 * fail with "database is being accessed by other users"); COMMIT PREPARED
 * wakes the worker for rows the prepared transaction queued.
 */
static void
WorkerProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					 ProcessUtilityContext context, ParamListInfo params,
					 QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	volatile Oid dboid = InvalidOid;
	bool		commit_prepared;

	commit_prepared = IsA(stmt, TransactionStmt) &&
		((TransactionStmt *) stmt)->kind == TRANS_STMT_COMMIT_PREPARED;
	if (mo_shared != NULL)
		dboid = DatabaseNeedingExclusiveAccess(stmt);
	/* only for a caller who may do it: nobody else gets to stop a database's worker */
	if (OidIsValid(dboid) && !superuser() && !MO_DATABASE_OWNERCHECK(dboid, GetUserId()))
		dboid = InvalidOid;

	if (OidIsValid(dboid))
	{
		PauseWorker(dboid);
		PG_TRY();
		{
			if (prev_ProcessUtility)
				prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
			else
				standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
		}
		PG_CATCH();
		{
			ResumeWorker(dboid);
			PG_RE_THROW();
		}
		PG_END_TRY();
		ResumeWorker(dboid);
	}
	else if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);

	if (commit_prepared && mo_shared != NULL)
		WakeWorker(MyDatabaseId);
}

/* True when dboid's worker is attached and running (for health checks). */
bool
MoWorkerIsRunning(Oid dboid)
{
	MoWorkerSlot *slot;
	bool		running;

	if (mo_shared == NULL)
		return false;
	LWLockAcquire(mo_shared->lock, LW_SHARED);
	slot = FindSlot(dboid);
	running = slot && slot->state == MO_SLOT_RUNNING && slot->pid != 0;
	LWLockRelease(mo_shared->lock);
	return running;
}

/* ---- the launcher ---- */

/* The launcher's view of one database. */
typedef struct MoDb
{
	Oid			dboid;
	char		name[NAMEDATALEN];
	bool		eligible;		/* exists, connectable, not a template, listed */
	bool		absent;			/* probed: no migrate_ops; not probed again until asked */
	bool		requested;		/* a recheck was asked for */
	bool		warned;			/* "no free background worker slot" was logged */
	BackgroundWorkerHandle *handle;
} MoDb;

static List *launcher_dbs = NIL;
static MemoryContext LauncherContext = NULL;

/* True when name is in migrate_ops.databases (or the setting is empty); also for health() (gates.c). */
bool
MoWorkerServesDatabase(const char *name)
{
	char	   *copy;
	List	   *names;
	ListCell   *lc;
	bool		listed = false;

	if (mo_databases == NULL || mo_databases[0] == '\0')
		return true;
	copy = pstrdup(mo_databases);
	if (!SplitIdentifierString(copy, ',', &names))
		return false;
	foreach(lc, names)
		if (strcmp((char *) lfirst(lc), name) == 0)
			listed = true;
	list_free(names);
	pfree(copy);
	return listed;
}

/* GUC check hook: migrate_ops.databases is a list of names. */
static bool
CheckDatabases(char **newval, void **extra, GucSource source)
{
	char	   *copy;
	List	   *names;
	bool		ok;

	(void) extra;
	(void) source;
	if (*newval == NULL)
		return true;
	copy = pstrdup(*newval);
	ok = SplitIdentifierString(copy, ',', &names);
	if (!ok)
		GUC_check_errdetail("List syntax is invalid.");
	list_free(names);
	pfree(copy);
	return ok;
}

/* The launcher's entry for dboid, or NULL. */
static MoDb *
LauncherDb(Oid dboid)
{
	ListCell   *lc;

	foreach(lc, launcher_dbs)
		if (((MoDb *) lfirst(lc))->dboid == dboid)
			return (MoDb *) lfirst(lc);
	return NULL;
}

/* Re-reads pg_database: new databases are added, vanished or excluded ones become ineligible. */
static void
RefreshDatabases(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	ListCell   *lc;

	foreach(lc, launcher_dbs)
		((MoDb *) lfirst(lc))->eligible = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database d = (Form_pg_database) GETSTRUCT(tup);
		MoDb	   *db;

		/* templates are never served: CREATE DATABASE copies them and needs them idle */
		if (!d->datallowconn || d->datistemplate || d->datconnlimit == -2)
			continue;
		if (!MoWorkerServesDatabase(NameStr(d->datname)))
			continue;
		db = LauncherDb(d->oid);
		if (db == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(LauncherContext);

			db = palloc0(sizeof(MoDb));
			db->dboid = d->oid;
			launcher_dbs = lappend(launcher_dbs, db);
			MemoryContextSwitchTo(old);
		}
		strlcpy(db->name, NameStr(d->datname), NAMEDATALEN);
		db->eligible = true;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	pgstat_report_stat(false);
}

/* Registers a worker for db in a slot; false when no slot or no background worker is free. */
static bool
StartWorker(MoDb *db)
{
	BackgroundWorker w;
	MoWorkerSlot *slot;
	uint32		generation;
	int			idx = -1;
	bool		ok;

	LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
	slot = FindSlot(db->dboid);
	if (slot == NULL)
	{
		for (int i = 0; i < mo_shared->nslots; i++)
			if (mo_shared->slots[i].state == MO_SLOT_FREE)
			{
				slot = &mo_shared->slots[i];
				memset(slot->last_drift_state, 0, sizeof(slot->last_drift_state));
				slot->last_error[0] = '\0';
				slot->last_scan_at = slot->last_delivery_at = slot->last_error_at = 0;
				slot->delivered = slot->backlog = slot->dead = 0;
				slot->failures = 0;
				break;
			}
	}
	if (slot == NULL)
	{
		LWLockRelease(mo_shared->lock);
		return false;
	}
	idx = slot - mo_shared->slots;
	slot->dboid = db->dboid;
	slot->state = MO_SLOT_STARTING;
	slot->exit_reason = MO_EXIT_UNEXPECTED;
	slot->generation++;
	slot->pid = 0;
	slot->latch = NULL;
	slot->restart_at = 0;
	pg_atomic_write_u32(&slot->wake, 1);
	pg_atomic_write_u32(&slot->recheck, 0);
	pg_atomic_write_u32(&slot->stop, 0);
	generation = slot->generation;
	LWLockRelease(mo_shared->lock);

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher restarts it */
	strlcpy(w.bgw_library_name, MO_EXTENSION_NAME, BGW_MAXLEN);
	strlcpy(w.bgw_function_name, "MoWorkerMain", BGW_MAXLEN);
	snprintf(w.bgw_name, BGW_MAXLEN, "migrate_ops worker for database \"%s\"", db->name);
	strlcpy(w.bgw_type, "migrate_ops worker", BGW_MAXLEN);
	w.bgw_main_arg = Int32GetDatum(idx);
	memcpy(w.bgw_extra, &generation, sizeof(generation));
	w.bgw_notify_pid = MyProcPid;

	if (db->handle)
		pfree(db->handle);
	db->handle = NULL;
	{
		MemoryContext old = MemoryContextSwitchTo(LauncherContext);

		ok = RegisterDynamicBackgroundWorker(&w, &db->handle);
		MemoryContextSwitchTo(old);
	}
	if (!ok)
	{
		LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
		slot->state = MO_SLOT_EXITED;
		slot->exit_reason = MO_EXIT_UNEXPECTED;
		slot->restart_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), MO_START_RETRY_MS);
		SetSlotError(slot, "could not start the worker: no free background worker slot "
					 "(raise max_worker_processes)");
		LWLockRelease(mo_shared->lock);
		if (!db->warned)
			ereport(WARNING,
					(errmsg("migrate_ops: could not start a worker for database \"%s\": no free background worker slot",
							db->name),
					 errhint("Raise max_worker_processes: migrate_ops needs one per database that has the extension, plus its launcher.")));
		db->warned = true;
	}
	else
		db->warned = false;
	return ok;
}

/* Frees dboid's slot (the worker has exited).  Lock held exclusively. */
static void
FreeSlot(MoWorkerSlot *slot)
{
	slot->state = MO_SLOT_FREE;
	slot->dboid = InvalidOid;
	slot->pid = 0;
	slot->latch = NULL;
}

/*
 * Brings the workers in line with the databases: starts probes and workers,
 * schedules restarts, stops workers of databases that are gone or excluded.
 * Returns the milliseconds until it needs to run again (-1: only when woken).
 */
static long
Reconcile(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long		timeout = -1;
	ListCell   *lc;
	List	   *to_start = NIL;

	LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);

	/* pauses of backends that died without ending them */
	for (int i = 0; i < MO_MAX_PAUSES; i++)
		if (mo_shared->pauses[i].pid != 0 && BackendPidGetProc(mo_shared->pauses[i].pid) == NULL)
			mo_shared->pauses[i].dboid = mo_shared->pauses[i].pid = 0;

	/* slots of databases we no longer serve */
	for (int i = 0; i < mo_shared->nslots; i++)
	{
		MoWorkerSlot *slot = &mo_shared->slots[i];
		MoDb	   *db;

		if (slot->state == MO_SLOT_FREE)
			continue;
		db = LauncherDb(slot->dboid);
		if (db != NULL && db->eligible)
			continue;
		if (slot->state == MO_SLOT_EXITED)
			FreeSlot(slot);
		else
		{
			pg_atomic_write_u32(&slot->stop, 1);
			if (slot->latch)
				SetLatch(slot->latch);
		}
	}

	foreach(lc, launcher_dbs)
	{
		MoDb	   *db = (MoDb *) lfirst(lc);
		MoWorkerSlot *slot;

		if (!db->eligible)
			continue;
		slot = FindSlot(db->dboid);

		/* a worker that was registered but ended before attaching */
		if (slot && slot->state == MO_SLOT_STARTING && db->handle)
		{
			pid_t		pid;

			if (GetBackgroundWorkerPid(db->handle, &pid) == BGWH_STOPPED)
			{
				slot->state = MO_SLOT_EXITED;
				slot->exit_reason = MO_EXIT_UNEXPECTED;
			}
		}

		if (slot && slot->state == MO_SLOT_EXITED && slot->exit_reason == MO_EXIT_ABSENT)
		{
			FreeSlot(slot);
			slot = NULL;
			db->absent = true;
		}
		if (db->requested)
		{
			db->requested = false;
			db->absent = false;
			if (slot && slot->state == MO_SLOT_RUNNING)
			{
				pg_atomic_write_u32(&slot->recheck, 1);
				if (slot->latch)
					SetLatch(slot->latch);
			}
			else if (slot && slot->state == MO_SLOT_EXITED)
				slot->restart_at = now;
		}
		if (IsPaused(db->dboid))
		{
			timeout = 1000;		/* watch the pausing backend */
			continue;
		}
		if (slot == NULL)
		{
			if (!db->absent)
				to_start = lappend(to_start, db);
		}
		else if (slot->state == MO_SLOT_EXITED)
		{
			if (slot->exit_reason == MO_EXIT_UNEXPECTED && slot->restart_at == 0)
			{
				int			delay = MO_RESTART_MIN_MS << Min(slot->failures, 6);

				/* a worker that ran for a minute was healthy: start the count again */
				if (TimestampDifferenceExceeds(slot->started_at, now, 60000))
				{
					slot->failures = 0;
					delay = MO_RESTART_MIN_MS;
				}
				slot->failures++;
				slot->restart_at = TimestampTzPlusMilliseconds(now, Min(delay, MO_RESTART_MAX_MS));
			}
			if (slot->exit_reason == MO_EXIT_STOPPED || slot->restart_at <= now)
				to_start = lappend(to_start, db);
			else
			{
				long		ms = TimestampDifferenceMilliseconds(now, slot->restart_at) + 1;

				timeout = (timeout < 0) ? ms : Min(timeout, ms);
			}
		}
	}
	LWLockRelease(mo_shared->lock);

	foreach(lc, to_start)
	{
		if (!StartWorker((MoDb *) lfirst(lc)))
			timeout = (timeout < 0) ? MO_START_RETRY_MS : Min(timeout, MO_START_RETRY_MS);
	}
	list_free(to_start);

	/* forget databases that are gone and have no slot left */
	foreach(lc, launcher_dbs)
	{
		MoDb	   *db = (MoDb *) lfirst(lc);
		bool		has_slot;

		if (db->eligible)
			continue;
		LWLockAcquire(mo_shared->lock, LW_SHARED);
		has_slot = FindSlot(db->dboid) != NULL;
		LWLockRelease(mo_shared->lock);
		if (!has_slot)
		{
			if (db->handle)
				pfree(db->handle);
			launcher_dbs = foreach_delete_current(launcher_dbs, lc);
			pfree(db);
		}
	}
	return timeout;
}

/* Launcher exit: clears its registration. */
static void
LauncherDetach(int code, Datum arg)
{
	(void) code;
	(void) arg;
	LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
	if (mo_shared->launcher_pid == MyProcPid)
	{
		mo_shared->launcher_pid = 0;
		mo_shared->launcher_latch = NULL;
	}
	LWLockRelease(mo_shared->lock);
}

/* Main of the launcher: one per cluster, starts and restarts database workers. */
void
MoLauncherMain(Datum arg)
{
	(void) arg;
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* no database: the launcher reads only the shared catalog pg_database */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("migrate_ops launcher");
	LauncherContext = AllocSetContextCreate(TopMemoryContext, "migrate_ops launcher",
											ALLOCSET_DEFAULT_SIZES);

	LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
	mo_shared->launcher_pid = MyProcPid;
	mo_shared->launcher_latch = MyLatch;
	mo_shared->rescan_all = false;
	mo_shared->nrequests = 0;
	/* a previous launcher's registrations that never attached will exit (generation) */
	for (int i = 0; i < mo_shared->nslots; i++)
	{
		MoWorkerSlot *slot = &mo_shared->slots[i];

		if (slot->state == MO_SLOT_STARTING)
		{
			slot->generation++;
			slot->state = MO_SLOT_EXITED;
			slot->exit_reason = MO_EXIT_STOPPED;
		}
	}
	LWLockRelease(mo_shared->lock);
	before_shmem_exit(LauncherDetach, (Datum) 0);

	ereport(LOG, (errmsg("migrate_ops launcher started")));
	RefreshDatabases();

	for (;;)
	{
		bool		refresh = false;
		long		timeout;
		int			rc;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			refresh = true;
		}

		LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
		if (mo_shared->rescan_all || mo_shared->nrequests > 0)
			refresh = true;
		LWLockRelease(mo_shared->lock);
		if (refresh)
			RefreshDatabases();

		/* take the requests after the refresh, so a new database has its entry */
		LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
		for (int i = 0; i < mo_shared->nrequests; i++)
		{
			MoDb	   *db = LauncherDb(mo_shared->requests[i]);

			if (db)
				db->requested = true;
		}
		if (mo_shared->rescan_all)
		{
			ListCell   *lc;

			foreach(lc, launcher_dbs)
				((MoDb *) lfirst(lc))->requested = true;
		}
		mo_shared->nrequests = 0;
		mo_shared->rescan_all = false;
		LWLockRelease(mo_shared->lock);

		timeout = Reconcile();

		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (timeout >= 0 ? WL_TIMEOUT : 0),
					   timeout, PG_WAIT_EXTENSION);
		(void) rc;
		ResetLatch(MyLatch);
	}
}

/* ---- the database worker ---- */

static MoWorkerSlot *my_slot = NULL;
static MemoryContext WorkerContext = NULL;
static MemoryContext DeliveryContext = NULL;
static MemoryContext LoopContext = NULL;

/* Loop state; static because the error handler longjmps into the loop. */
static bool deliver_now = true;
static TimestampTz next_retry = 0;	/* earliest pending row not yet due (0: none) */
static TimestampTz next_scan = 0;
static TimestampTz next_prune = 0;
static TimestampTz last_prune = 0;
static TimestampTz scan_base = 0;	/* last scan (or start): next_scan = scan_base + interval */
static TimestampTz last_counts = 0;
static TimestampTz next_backup_check = 0;	/* when the newest backup goes stale (0: none) */
static bool backup_check_now = true;	/* at start, on a wake and after a scan */
static bool activity = true;	/* something happened since the last pruning */
static TimestampTz quiesce_start = 0;	/* since when a scan or pruning waits for requests */

/* Worker exit: leaves the slot (with the exit reason already set) and wakes the launcher. */
static void
WorkerDetach(int code, Datum arg)
{
	(void) code;
	(void) arg;
	if (my_slot == NULL)
		return;
	LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
	if (my_slot->pid == MyProcPid)
	{
		my_slot->pid = 0;
		my_slot->latch = NULL;
		my_slot->state = MO_SLOT_EXITED;
		my_slot->restart_at = 0;
	}
	if (mo_shared->launcher_latch)
		SetLatch(mo_shared->launcher_latch);
	LWLockRelease(mo_shared->lock);
}

/* Ends the worker with a reason the launcher acts on. */
static void
WorkerExit(MoExitReason reason, const char *why)
{
	LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
	my_slot->exit_reason = reason;
	LWLockRelease(mo_shared->lock);
	if (why)
		ereport(LOG, (errmsg("migrate_ops worker for database %u exiting: %s", MyDatabaseId, why)));
	proc_exit(0);
}

/* Starts one short transaction of the worker, SPI connected, with a snapshot. */
static void
BeginWork(const char *activity_text)
{
	Oid			ext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();

	/*
	 * A share lock on the extension first, as on any object a transaction
	 * uses: DROP EXTENSION (which locks it before its tables) then waits
	 * for this short transaction instead of deadlocking with it on the
	 * tables (and failing the user's DROP).
	 */
	ext = get_extension_oid(MO_EXTENSION_NAME, true);
	if (OidIsValid(ext))
		LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity_text);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* Commits the transaction begun by BeginWork. */
static void
EndWork(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* True when migrate_ops with an outbox is installed here (transaction open). */
static bool
ExtensionReady(void)
{
	Oid			nsp;

	if (!OidIsValid(get_extension_oid(MO_EXTENSION_NAME, true)))
		return false;
	nsp = get_namespace_oid(MO_SCHEMA, true);
	return OidIsValid(nsp) && OidIsValid(get_relname_relid("outbox", nsp));
}

/* Exits (ABSENT) when the extension is gone from this database. */
static void
CheckExtensionStillThere(void)
{
	bool		ready;

	BeginWork("migrate_ops: checking the extension");
	ready = ExtensionReady();
	EndWork();
	if (!ready)
		WorkerExit(MO_EXIT_ABSENT, "the extension was dropped");
}

/* Next retry time from a timestamptz datum (0 when null). */
static TimestampTz
OptionalTimestamp(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetTimestampTz(d);
}

/*
 * Refreshes the worker's idea of the outbox.  After a claim that drained
 * what was due: when the next not-yet-due delivery is due (rows due now
 * that wait for a connection of their channel are claimed when one of its
 * requests finishes; an index range scan past now()).  The backlog and dead
 * counts worker_status() shows for other databases are counted at most once
 * a second, and whenever nothing is in flight (idle): counting every
 * pending row each time outcomes are recorded made a large backlog drain in
 * quadratic time.  SPI connected.
 */
static void
RefreshOutboxState(bool drained, bool idle)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		counts = idle || TimestampDifferenceExceeds(last_counts, now, 1000);
	MoArgs		args = {0};
	bool		isnull;
	int64		backlog;
	int64		dead;

	if (!drained && !counts)
		return;
	MoArgBool(&args, drained);
	MoArgBool(&args, counts);
	MoSpiExec("SELECT CASE WHEN $1 THEN"
			  "         (SELECT o.next_attempt_at FROM migrate_ops.outbox o"
			  "            LEFT JOIN migrate_ops.channels c ON c.name OPERATOR(pg_catalog.=) o.channel"
			  "           WHERE o.state OPERATOR(pg_catalog.=) 'pending' AND c.enabled IS NOT FALSE"
			  /* not what is due now (claimed, or waiting for a connection of its channel) */
			  "             AND o.next_attempt_at OPERATOR(pg_catalog.>) pg_catalog.now()"
			  "             AND o.claimed_by IS DISTINCT FROM pg_catalog.pg_backend_pid()"
			  "           ORDER BY o.next_attempt_at LIMIT 1) END,"
			  "       CASE WHEN $2 THEN (SELECT pg_catalog.count(*) FROM migrate_ops.outbox"
			  "         WHERE state OPERATOR(pg_catalog.=) 'pending') END,"
			  "       CASE WHEN $2 THEN (SELECT pg_catalog.count(*) FROM migrate_ops.outbox"
			  "         WHERE state OPERATOR(pg_catalog.=) 'dead') END", &args);
	if (drained)
		next_retry = OptionalTimestamp(0, 1);
	if (!counts)
		return;
	backlog = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	dead = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
	my_slot->backlog = backlog;
	my_slot->dead = dead;
	LWLockRelease(mo_shared->lock);
	last_counts = now;
}

/* Delay before the next attempt: exponential with equal jitter, at least Retry-After. */
static double
RetryDelayMs(int attempts, long retry_after)
{
	double		d = (double) mo_retry_delay * pow(2.0, Min(attempts - 1, 30));

	d = Min(d, (double) mo_retry_max_delay);
	d = d / 2.0 + MO_RANDOM_DOUBLE() * d / 2.0;
	if (retry_after > 0)
		d = Max(d, retry_after * 1000.0);
	return Min(d, (double) mo_retry_max_delay);
}

/* Builds a one-dimensional array from datums. */
static Datum
MakeArray(Datum *values, bool *nulls, int n, Oid type)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, type, typlen, typbyval, typalign));
}

/*
 * One claimed delivery, from its claim to the recording of its outcome: its
 * request and everything it needs live in a memory context of its own,
 * deleted when the outcome is recorded.
 */
typedef struct MoDelivery
{
	dlist_node	node;
	TimestampTz done_at;		/* when its outcome became known (0: not yet) */
	MoRequest	req;
} MoDelivery;

/* Claimed deliveries, in claim order: waiting for a connection, in flight, or done and not recorded. */
static dlist_head deliveries = DLIST_STATIC_INIT(deliveries);
static int	ndeliveries = 0;

/* The worker lost track of its claims (an error): release them before the next claim. */
static bool release_claims = false;

/* The last claim got less than it asked for: what is due is claimed (see RefreshOutboxState). */
static bool last_claim_drained = true;

/* Done deliveries are recorded at the latest this long after they finished (ms). */
#define MO_RECORD_DELAY_MS	100

/* Claimed deliveries of one channel, by state. */
typedef struct MoChannelTally
{
	const char *channel;
	int			held;			/* claimed, not recorded */
	int			running;		/* in flight */
	int			claimed;		/* claimed by this round's claim */
} MoChannelTally;

/* The tallies of every channel with claimed deliveries (in LoopContext). */
typedef struct MoTallies
{
	MoChannelTally *items;
	int			n;
	int			size;
} MoTallies;

/* Frees a delivery (its request's context). */
static void
FreeDelivery(MoDelivery *d)
{
	dlist_delete(&d->node);
	ndeliveries--;
	MemoryContextDelete(d->req.cxt);
}

/* Forgets every claimed delivery (after an error); their rows are released at the next claim. */
static void
DropDeliveries(void)
{
	dlist_mutable_iter iter;

	MoHttpReset();
	dlist_foreach_modify(iter, &deliveries)
		FreeDelivery(dlist_container(MoDelivery, node, iter.cur));
	release_claims = true;
}

/* The tally of a channel, added when new. */
static MoChannelTally *
TallyOf(MoTallies *tallies, const char *channel)
{
	for (int i = 0; i < tallies->n; i++)
		if (strcmp(tallies->items[i].channel, channel) == 0)
			return &tallies->items[i];
	if (tallies->n == tallies->size)
	{
		tallies->size *= 2;
		tallies->items = repalloc(tallies->items, sizeof(MoChannelTally) * tallies->size);
	}
	memset(&tallies->items[tallies->n], 0, sizeof(MoChannelTally));
	tallies->items[tallies->n].channel = channel;
	return &tallies->items[tallies->n++];
}

/* Counts the claimed deliveries per channel (in the current memory context). */
static void
TallyDeliveries(MoTallies *tallies)
{
	dlist_iter	iter;

	tallies->n = 0;
	tallies->size = 8;
	tallies->items = palloc(sizeof(MoChannelTally) * tallies->size);
	dlist_foreach(iter, &deliveries)
	{
		MoRequest  *req = &dlist_container(MoDelivery, node, iter.cur)->req;
		MoChannelTally *t = TallyOf(tallies, req->channel);

		t->held++;
		if (req->started && !req->done)
			t->running++;
	}
}

/*
 * Records the outcomes of the done deliveries in the open transaction and
 * frees them.  Counts the sent ones in *nsent and the latest delivery time
 * in *last_sent, and keeps the last failure in *failure (in LoopContext: it
 * outlives the transaction).
 */
static void
RecordOutcomes(int *nsent, TimestampTz *last_sent, char **failure)
{
	dlist_iter	iter;
	dlist_mutable_iter miter;
	int			m = 0;
	int			n = ndeliveries;
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum	   *states = palloc(sizeof(Datum) * n);
	Datum	   *statuses = palloc(sizeof(Datum) * n);
	Datum	   *errors = palloc(sizeof(Datum) * n);
	Datum	   *delays = palloc(sizeof(Datum) * n);
	Datum	   *finished = palloc(sizeof(Datum) * n);
	bool	   *nonulls = palloc0(sizeof(bool) * n);
	bool	   *statusnulls = palloc0(sizeof(bool) * n);
	bool	   *errornulls = palloc0(sizeof(bool) * n);
	MoArgs		rargs = {0};

	dlist_foreach(iter, &deliveries)
	{
		MoRequest  *req = &dlist_container(MoDelivery, node, iter.cur)->req;
		const char *state;
		double		delay = 0;

		if (!req->done)
			continue;
		if (req->ok)
		{
			state = "sent";
			(*nsent)++;
			*last_sent = Max(*last_sent, req->finished_at);
		}
		else if (req->permanent || req->attempts >= mo_max_attempts)
			state = "dead";
		else
		{
			state = "pending";
			delay = RetryDelayMs(req->attempts, req->retry_after);
		}
		if (!req->ok && req->error)
			*failure = MemoryContextStrdup(LoopContext,
										   psprintf("delivery to channel \"%s\" failed: %s",
													req->channel, req->error));
		ids[m] = Int64GetDatum(req->outbox_id);
		states[m] = CStringGetTextDatum(state);
		statuses[m] = Int32GetDatum(req->status);
		statusnulls[m] = (req->status == 0);
		errors[m] = req->error ? CStringGetTextDatum(req->error) : (Datum) 0;
		errornulls[m] = (req->error == NULL);
		delays[m] = Float8GetDatum(delay / 1000.0);
		finished[m] = TimestampTzGetDatum(req->finished_at ? req->finished_at : GetCurrentTimestamp());
		m++;
	}
	if (m == 0)
		return;

#define MO_ARRAY_ARG(vals, nls, type, arrtype) \
	do { rargs.types[rargs.n] = (arrtype); \
		 rargs.values[rargs.n] = MakeArray((vals), (nls), m, (type)); \
		 rargs.nulls[rargs.n++] = ' '; } while (0)
	MO_ARRAY_ARG(ids, nonulls, INT8OID, INT8ARRAYOID);
	MO_ARRAY_ARG(states, nonulls, TEXTOID, TEXTARRAYOID);
	MO_ARRAY_ARG(statuses, statusnulls, INT4OID, INT4ARRAYOID);
	MO_ARRAY_ARG(errors, errornulls, TEXTOID, TEXTARRAYOID);
	MO_ARRAY_ARG(delays, nonulls, FLOAT8OID, FLOAT8ARRAYOID);
	MO_ARRAY_ARG(finished, nonulls, TIMESTAMPTZOID, TIMESTAMPTZARRAYOID);
#undef MO_ARRAY_ARG
	MoSpiExec("UPDATE migrate_ops.outbox o"
			  "   SET state = r.state, last_status = r.status,"
			  "       last_error = CASE WHEN r.state OPERATOR(pg_catalog.=) 'sent'"
			  "                         THEN o.last_error ELSE r.error END,"
			  "       sent_at = CASE WHEN r.state OPERATOR(pg_catalog.=) 'sent' THEN r.finished END,"
			  "       next_attempt_at = r.finished OPERATOR(pg_catalog.+)"
			  "                         pg_catalog.make_interval(secs => r.delay),"
			  "       claimed_by = NULL"
			  "  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
			  "                  pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6))"
			  "       AS r(id, state, status, error, delay, finished)"
			  " WHERE o.id OPERATOR(pg_catalog.=) r.id", &rargs);

	dlist_foreach_modify(miter, &deliveries)
	{
		MoDelivery *d = dlist_container(MoDelivery, node, miter.cur);

		if (d->req.done)
			FreeDelivery(d);
	}
}

/*
 * Claims due deliveries in the open transaction: for each channel with
 * pending rows, up to migrate_ops.batch_size held at a time (counting those
 * already held, tallied in tallies[0..ntallies)).  Channels are enumerated
 * from the pending rows (a loose index scan), so a row whose channel is
 * gone is claimed too (and dies).  The claimed deliveries are appended to
 * the list, not started.  Returns true when some channel got all it asked
 * for (more may be due).
 */
static bool
ClaimDeliveries(MoTallies *tallies)
{
	MoArgs		args = {0};
	Datum	   *names = palloc(sizeof(Datum) * (tallies->n + 1));
	Datum	   *counts = palloc(sizeof(Datum) * (tallies->n + 1));
	bool	   *nonulls = palloc0(sizeof(bool) * (tallies->n + 1));
	int			n;
	int			nheld = tallies->n;
	bool		full = false;

	for (int i = 0; i < nheld; i++)
	{
		names[i] = CStringGetTextDatum(tallies->items[i].channel);
		counts[i] = Int32GetDatum(tallies->items[i].held);
	}
	MoArgInt4(&args, mo_batch_size);
	args.types[args.n] = TEXTARRAYOID;
	args.values[args.n] = MakeArray(names, nonulls, nheld, TEXTOID);
	args.nulls[args.n++] = ' ';
	args.types[args.n] = INT4ARRAYOID;
	args.values[args.n] = MakeArray(counts, nonulls, nheld, INT4OID);
	args.nulls[args.n++] = ' ';
	MoSpiExec("WITH RECURSIVE chans AS ("
			  "  (SELECT o.channel FROM migrate_ops.outbox o"
			  "    WHERE o.state OPERATOR(pg_catalog.=) 'pending' ORDER BY o.channel LIMIT 1)"
			  "  UNION ALL"
			  "  SELECT (SELECT o.channel FROM migrate_ops.outbox o"
			  "           WHERE o.state OPERATOR(pg_catalog.=) 'pending'"
			  "             AND o.channel OPERATOR(pg_catalog.>) chans.channel"
			  "           ORDER BY o.channel LIMIT 1)"
			  "    FROM chans WHERE chans.channel IS NOT NULL),"
			  " c AS ("
			  "  SELECT d.id, ch.kind, ch.url, ch.secret"
			  "    FROM chans"
			  "    LEFT JOIN migrate_ops.channels ch ON ch.name OPERATOR(pg_catalog.=) chans.channel"
			  "    LEFT JOIN ROWS FROM (pg_catalog.unnest($2::pg_catalog.text[]),"
			  "                         pg_catalog.unnest($3::pg_catalog.int4[])) AS b(channel, n)"
			  "           ON b.channel OPERATOR(pg_catalog.=) chans.channel"
			  "   CROSS JOIN LATERAL ("
			  "     SELECT o.id FROM migrate_ops.outbox o"
			  "      WHERE o.channel OPERATOR(pg_catalog.=) chans.channel"
			  "        AND o.state OPERATOR(pg_catalog.=) 'pending'"
			  "        AND ((o.claimed_by IS NULL AND o.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now())"
			  /* a claim by another process is stale (a restored dump, a pid from before a restart) */
			  "             OR o.claimed_by OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid())"
			  "      ORDER BY o.next_attempt_at, o.id"
			  "      LIMIT GREATEST($1 OPERATOR(pg_catalog.-) COALESCE(b.n, 0), 0)"
			  "      FOR UPDATE OF o SKIP LOCKED) d"
			  "   WHERE chans.channel IS NOT NULL AND ch.enabled IS NOT FALSE)"
			  /*
			   * next_attempt_at is left as it is: an update of attempts and
			   * claimed_by alone is a HOT update (no new index entries), and
			   * the worker never claims its own claims again (it releases them
			   * after an error; a new worker at start-up)
			   */
			  " UPDATE migrate_ops.outbox o"
			  "    SET attempts = o.attempts OPERATOR(pg_catalog.+) 1,"
			  "        claimed_by = pg_catalog.pg_backend_pid()"
			  /*
			   * the planner cannot know how few rows c has (its LIMIT depends
			   * on the join): without the ANY it joins c to a scan of the
			   * whole outbox, which made every claim of a large backlog cost
			   * a full scan (and a JIT compilation)
			   */
			  "   FROM c WHERE o.id OPERATOR(pg_catalog.=) c.id"
			  "    AND o.id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT c.id FROM c))"
			  " RETURNING o.id, o.event_id, o.channel, o.payload, o.attempts, c.kind, c.url, c.secret", &args);
	n = (int) SPI_processed;

	/* SPI's result lives in its own context: copy each delivery into a context of its own */
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext cxt = AllocSetContextCreate(DeliveryContext, "migrate_ops delivery",
												  ALLOCSET_SMALL_SIZES);
		MemoryContext old = MemoryContextSwitchTo(cxt);
		MoDelivery *d = palloc0(sizeof(MoDelivery));
		MoRequest  *req = &d->req;
		bool		isnull;
		Jsonb	   *payload = DatumGetJsonbP(SPI_getbinval(tup, desc, 4, &isnull));
		char	   *kind = SPI_getvalue(tup, desc, 6);
		char	   *secret = SPI_getvalue(tup, desc, 8);
		MoChannelTally *t;

		req->cxt = cxt;
		req->outbox_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		req->event_id = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		req->channel = SPI_getvalue(tup, desc, 3);
		req->attempts = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
		req->url = SPI_getvalue(tup, desc, 7);
		dlist_push_tail(&deliveries, &d->node);
		ndeliveries++;
		if (kind == NULL || req->url == NULL)
		{
			req->done = true;
			req->permanent = true;
			req->error = psprintf("channel \"%s\" no longer exists", req->channel);
		}
		else if (!MoUrlAllowed(req->url, mo_allowed_urls))
		{
			req->done = true;
			req->permanent = true;
			req->error = pstrdup("the channel's URL is not allowed by migrate_ops.allowed_urls");
		}
		else
		{
			if (strcmp(kind, "slack") == 0)
				req->body = MoSlackBody(payload);
			else
				req->body = JsonbToCString(NULL, &payload->root, VARSIZE(payload));
			if (secret)
				req->signature = psprintf("sha256=%s", MoHmacSha256Hex(secret, req->body, strlen(req->body)));
		}
		if (req->done)
			d->done_at = GetCurrentTimestamp();
		MemoryContextSwitchTo(old);

		t = TallyOf(tallies, req->channel);
		t->held++;
		t->claimed++;
	}
	for (int i = 0; i < tallies->n; i++)
		if (tallies->items[i].claimed > 0 && tallies->items[i].held >= mo_batch_size)
			full = true;
	return full;
}

/* Starts the claimed deliveries that may start: up to migrate_ops.max_connections in flight per channel. */
static void
StartDeliveries(MoTallies *tallies)
{
	dlist_iter	iter;

	dlist_foreach(iter, &deliveries)
	{
		MoRequest  *req = &dlist_container(MoDelivery, node, iter.cur)->req;
		MoChannelTally *t;

		if (req->started || req->done)
			continue;
		t = TallyOf(tallies, req->channel);
		if (t->running >= mo_max_connections)
			continue;
		req->started = true;
		t->running++;
		MoHttpStart(req);
	}
}

/*
 * One round of delivery.  Notes the requests that finished; records their
 * outcomes and claims more due rows, in one short transaction, when asked
 * to claim (a commit woke the worker, a retry is due), when half a batch is
 * done, when nothing is left in flight, or when an outcome has waited
 * MO_RECORD_DELAY_MS; then starts, with no transaction open, what may
 * start.  Each channel has its own queue of at most migrate_ops.batch_size
 * claimed rows and migrate_ops.max_connections requests in flight, and the
 * requests of all channels run concurrently, so a receiver that hangs holds
 * up only its own channel.  While quiesce (a scan or pruning is due) nothing
 * is claimed or started.  Returns true when it claimed (or tried to).
 */
static bool
DeliveryStep(bool want_claim, bool quiesce)
{
	MoTallies	tallies;
	int			ndone = 0;
	int			nsent = 0;
	bool		more = false;
	bool		record;
	bool		claim;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz oldest = 0;
	TimestampTz last_sent = 0;
	char	   *failure = NULL;
	dlist_iter	iter;

	dlist_foreach(iter, &deliveries)
	{
		MoDelivery *d = dlist_container(MoDelivery, node, iter.cur);

		if (!d->req.done)
			continue;
		if (d->done_at == 0)
			d->done_at = now;
		if (oldest == 0 || d->done_at < oldest)
			oldest = d->done_at;
		ndone++;
	}
	record = ndone > 0 &&
		(ndone >= Max(mo_batch_size / 2, 1) || ndone == ndeliveries ||
		 TimestampDifferenceExceeds(oldest, now, MO_RECORD_DELAY_MS));
	claim = !quiesce && (want_claim || release_claims || record);

	if (record || claim)
	{
		BeginWork("migrate_ops: delivering");
		if (claim && release_claims)
		{
			/* rows an error made this worker lose track of: due again now */
			MoSpiExec("UPDATE migrate_ops.outbox SET claimed_by = NULL, next_attempt_at = pg_catalog.now()"
					  " WHERE state OPERATOR(pg_catalog.=) 'pending'"
					  "   AND claimed_by OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()", NULL);
			release_claims = false;
		}
		if (record)
			RecordOutcomes(&nsent, &last_sent, &failure);
		if (claim)
		{
			MemoryContext old = MemoryContextSwitchTo(LoopContext);

			TallyDeliveries(&tallies);
			MemoryContextSwitchTo(old);
			more = ClaimDeliveries(&tallies);
		}
		/*
		 * The backlog counts and the next retry are refreshed when outcomes
		 * are recorded or a claim found nothing, never on the way to a
		 * request (a claim of new rows goes straight to sending them).
		 */
		if (claim)
			last_claim_drained = !more;
		if (record || (claim && ndeliveries == 0))
			RefreshOutboxState(last_claim_drained, ndeliveries == 0);
		EndWork();
		MemoryContextSwitchTo(LoopContext);

		LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
		my_slot->delivered += nsent;
		if (last_sent)
			my_slot->last_delivery_at = last_sent;
		if (failure)
			SetSlotError(my_slot, failure);
		LWLockRelease(mo_shared->lock);
	}

	if (!quiesce && ndeliveries > 0)
	{
		TallyDeliveries(&tallies);
		StartDeliveries(&tallies);
	}
	return claim;
}

/* Runs migrate_ops.scan() (when this version of the schema has it) with a short lock_timeout. */
static void
RunScan(void)
{
	char		timeout[32];
	bool		have_scan;
	char	   *state = NULL;

	BeginWork("migrate_ops: drift scan");
	snprintf(timeout, sizeof(timeout), "%d", mo_scan_lock_timeout);
	(void) set_config_option("lock_timeout", timeout, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	MoSpiExec("SELECT pg_catalog.to_regprocedure('migrate_ops.scan()') IS NOT NULL", NULL);
	have_scan = strcmp(MoSpiGetText(0, 1), "t") == 0;
	if (have_scan)
	{
		MoArgs		args = {0};
		bool		isnull;
		Datum		id;

		MoSpiExec("SELECT migrate_ops.scan()", NULL);
		id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		/* the scan's row says whether the schema has drifted (its "status") */
		MoArgInt8(&args, isnull ? 0 : DatumGetInt64(id));
		MoSpiExec("SELECT pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.->>) 'status'"
				  "  FROM migrate_ops.scans s WHERE s.id OPERATOR(pg_catalog.=) $1", &args);
		state = SPI_processed > 0 ? MoSpiGetText(0, 1) : NULL;
		state = MemoryContextStrdup(WorkerContext, state ? state : "unknown");
	}
	EndWork();

	LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
	my_slot->last_scan_at = GetCurrentTimestamp();
	strlcpy(my_slot->last_drift_state, have_scan ? state : "no scan() in this version",
			sizeof(my_slot->last_drift_state));
	LWLockRelease(mo_shared->lock);
	if (state)
		pfree(state);
}

/*
 * Emits backup.stale once when the newest backup goes stale in production
 * (gates.c) and learns when that is due next.  An error does not repeat the
 * check before the next wake.
 */
static void
RunBackupCheck(void)
{
	TimestampTz next = 0;

	next_backup_check = 0;
	BeginWork("migrate_ops: backup check");
	(void) MoCheckBackups(&next);
	EndWork();
	next_backup_check = next;
}

/* A table retention prunes: rows older than the cutoff by a column, with an extra condition. */
typedef struct MoPruneTarget
{
	const char *table;
	const char *column;
	const char *condition;		/* extra SQL condition, or NULL */
} MoPruneTarget;

/* ddl_log is append-only for everyone else: it is pruned through MoDdlLogPrune(). */
static const MoPruneTarget prune_targets[] = {
	{"outbox", "created_at", "state OPERATOR(pg_catalog.<>) 'pending'"},
	{"events", "created_at", NULL},
	{"scans", "scanned_at", NULL},
	{"ddl_log", "logged_at", NULL},
};

/* Deletes one batch of target t older than cutoff (in a worker transaction); returns how many. */
static uint64
PruneBatch(const MoPruneTarget *t, TimestampTz cutoff)
{
	MoArgs		args = {0};

	if (strcmp(t->table, "ddl_log") == 0)
		return (uint64) MoDdlLogPrune(cutoff, MO_PRUNE_BATCH);

	MoArgTimestamptz(&args, cutoff, false);
	MoArgInt4(&args, MO_PRUNE_BATCH);
	MoSpiExec(psprintf("DELETE FROM migrate_ops.%s WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
					   " SELECT ctid FROM migrate_ops.%s WHERE %s OPERATOR(pg_catalog.<) $1%s%s"
					   " LIMIT $2))",
					   t->table, t->table, t->column,
					   t->condition ? " AND " : "", t->condition ? t->condition : ""),
			  &args);
	return SPI_processed;
}

/*
 * Deletes rows older than migrate_ops.retention in batches of
 * MO_PRUNE_BATCH, each its own short transaction with a short lock_timeout,
 * within a time budget (the rest waits for the next round).
 */
static void
RunRetention(void)
{
	TimestampTz start = GetCurrentTimestamp();
	TimestampTz cutoff = start - (TimestampTz) mo_retention * USECS_PER_SEC;
	int64		total = 0;

	for (int i = 0; i < (int) lengthof(prune_targets); i++)
	{
		const MoPruneTarget *t = &prune_targets[i];

		for (;;)
		{
			uint64		deleted;
			char		timeout[32];

			BeginWork("migrate_ops: pruning old rows");
			snprintf(timeout, sizeof(timeout), "%d", mo_scan_lock_timeout);
			(void) set_config_option("lock_timeout", timeout, PGC_SUSET, PGC_S_SESSION,
									 GUC_ACTION_LOCAL, true, 0, false);
			deleted = PruneBatch(t, cutoff);
			EndWork();
			total += deleted;
			if (deleted < MO_PRUNE_BATCH ||
				TimestampDifferenceExceeds(start, GetCurrentTimestamp(), MO_PRUNE_BUDGET_MS))
				break;
			CHECK_FOR_INTERRUPTS();
		}
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), MO_PRUNE_BUDGET_MS))
		{
			/* out of time: continue soon */
			next_prune = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
			activity = true;
			break;
		}
	}
	if (total > 0)
		ereport(DEBUG1, (errmsg("migrate_ops: pruned " INT64_FORMAT " rows older than %d s", total, mo_retention)));
}

/* How often retention runs at most (ms): never more than hourly, at least every retention period. */
static long
PruneEveryMs(void)
{
	return Min((long) mo_retention * 1000L, 3600L * 1000L);
}

/*
 * Start-up in the database: checks the extension, takes the one-worker
 * lock, and marks deliveries a previous run left in flight (crash, kill,
 * restart) as interrupted and due now: they are sent again, with the same
 * Idempotency-Key.
 */
static void
WorkerStartup(void)
{
	LOCKTAG		tag;
	bool		ready;
	uint64		interrupted = 0;
	TimestampTz last_scan = 0;

	BeginWork("migrate_ops: starting");
	ready = ExtensionReady();
	if (ready)
	{
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, MO_LOCK_CLASS, MO_LOCK_WORKER, 2);
		if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("another migrate_ops worker is running in this database")));
		MoSpiExec("UPDATE migrate_ops.outbox"
				  "   SET claimed_by = NULL, next_attempt_at = pg_catalog.now(),"
				  "       last_error = 'interrupted: the worker stopped while this delivery was in flight'"
				  " WHERE state OPERATOR(pg_catalog.=) 'pending' AND claimed_by IS NOT NULL", NULL);
		interrupted = SPI_processed;

		/* scans continue on schedule across restarts: from the last one recorded */
		MoSpiExec("SELECT pg_catalog.max(scanned_at) FROM migrate_ops.scans", NULL);
		last_scan = OptionalTimestamp(0, 1);
	}
	EndWork();
	if (last_scan != 0)
	{
		LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
		my_slot->last_scan_at = last_scan;
		LWLockRelease(mo_shared->lock);
	}
	if (!ready)
		WorkerExit(MO_EXIT_ABSENT, NULL);
	if (interrupted > 0)
		ereport(LOG,
				(errmsg("migrate_ops: " UINT64_FORMAT " deliveries interrupted by the previous worker will be sent again",
						interrupted)));
}

/* Recomputes the next scan time from the last scan (or the start) and the interval. */
static void
ScheduleScan(void)
{
	next_scan = mo_scan_interval > 0
		? TimestampTzPlusMilliseconds(scan_base, (int64) mo_scan_interval * 1000)
		: 0;
}

/* Records an error the worker recovered from, for worker_status(). */
static void
RecordWorkerError(ErrorData *edata)
{
	LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
	SetSlotError(my_slot, edata->message);
	LWLockRelease(mo_shared->lock);
}

/* Main of a database worker. */
void
MoWorkerMain(Datum arg)
{
	int			idx = DatumGetInt32(arg);
	uint32		generation;
	Oid			dboid;
	sigjmp_buf	local_sigjmp_buf;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	memcpy(&generation, MyBgworkerEntry->bgw_extra, sizeof(generation));
	LWLockAcquire(mo_shared->lock, LW_EXCLUSIVE);
	if (idx < 0 || idx >= mo_shared->nslots ||
		mo_shared->slots[idx].generation != generation ||
		mo_shared->slots[idx].state != MO_SLOT_STARTING)
	{
		LWLockRelease(mo_shared->lock);
		proc_exit(0);			/* a stale registration */
	}
	my_slot = &mo_shared->slots[idx];
	my_slot->pid = MyProcPid;
	my_slot->latch = MyLatch;
	my_slot->state = MO_SLOT_RUNNING;
	my_slot->exit_reason = MO_EXIT_UNEXPECTED;
	my_slot->started_at = GetCurrentTimestamp();
	dboid = my_slot->dboid;
	LWLockRelease(mo_shared->lock);
	before_shmem_exit(WorkerDetach, (Datum) 0);

	if (pg_atomic_read_u32(&my_slot->stop))
		WorkerExit(MO_EXIT_STOPPED, NULL);
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	if (pg_atomic_read_u32(&my_slot->stop))
		WorkerExit(MO_EXIT_STOPPED, NULL);

	SetConfigOption("application_name", "migrate_ops worker", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION);
	/* the worker's statements are small: compiling them costs more than it saves */
	SetConfigOption("jit", "off", PGC_USERSET, PGC_S_SESSION);
	pgstat_report_appname("migrate_ops worker");

	MoHttpInit();
	WorkerContext = AllocSetContextCreate(TopMemoryContext, "migrate_ops worker", ALLOCSET_DEFAULT_SIZES);
	DeliveryContext = AllocSetContextCreate(WorkerContext, "migrate_ops deliveries", ALLOCSET_SMALL_SIZES);
	LoopContext = AllocSetContextCreate(WorkerContext, "migrate_ops loop", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(WorkerContext);

	WorkerStartup();
	scan_base = GetCurrentTimestamp();
	if (my_slot->last_scan_at != 0 && my_slot->last_scan_at < scan_base)
		scan_base = my_slot->last_scan_at;
	ScheduleScan();
	next_prune = GetCurrentTimestamp();
	ereport(LOG, (errmsg("migrate_ops worker started")));

	/*
	 * Errors (a failed scan, a lost connection to nothing, a bug) are logged,
	 * recorded for worker_status() and the loop goes on after a pause, as
	 * PostgreSQL's own auxiliary processes do.
	 */
	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		ErrorData  *edata;

		HOLD_INTERRUPTS();
		error_context_stack = NULL;
		EmitErrorReport();
		MemoryContextSwitchTo(WorkerContext);
		edata = CopyErrorData();
		AbortOutOfAnyTransaction();
		LWLockReleaseAll();
		DropDeliveries();
		pgstat_report_activity(STATE_IDLE, NULL);
		FlushErrorState();
		RecordWorkerError(edata);
		FreeErrorData(edata);
		RESUME_INTERRUPTS();

		/* do not spin on a persistent error; retry deliveries after the pause */
		(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000, PG_WAIT_EXTENSION);
		deliver_now = true;
	}
	PG_exception_stack = &local_sigjmp_buf;

	for (;;)
	{
		TimestampTz now;
		long		timeout = -1;
		bool		scan_due;
		bool		prune_due;
		bool		quiesce;
		bool		quiet;

		/* transactions end in TopMemoryContext: keep loop garbage in a context reset here */
		MemoryContextSwitchTo(LoopContext);
		MemoryContextReset(LoopContext);
		CHECK_FOR_INTERRUPTS();
		if (pg_atomic_read_u32(&my_slot->stop))
			WorkerExit(MO_EXIT_STOPPED, NULL);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			ScheduleScan();
			/* a shorter retention takes effect now, not at the old period's end */
			next_prune = Min(next_prune, TimestampTzPlusMilliseconds(last_prune, PruneEveryMs()));
		}
		if (pg_atomic_exchange_u32(&my_slot->recheck, 0))
			CheckExtensionStillThere();
		if (pg_atomic_exchange_u32(&my_slot->wake, 0))
			deliver_now = backup_check_now = true;

		now = GetCurrentTimestamp();
		if (next_retry != 0 && next_retry <= now)
		{
			next_retry = 0;		/* learnt again when a claim drains what is due */
			deliver_now = true;
		}

		/*
		 * A scan or pruning that is due first lets the requests in flight
		 * finish (they make no progress while it runs), with no new claims
		 * meanwhile, for at most MO_QUIESCE_MS: requests still running then
		 * are slow ones, and a receiver that hangs must not hold up the
		 * scan, nor the other channels for long.
		 */
		scan_due = next_scan != 0 && next_scan <= now;
		prune_due = mo_retention > 0 && activity && next_prune <= now;
		quiesce = scan_due || prune_due;
		if (!quiesce)
			quiesce_start = 0;
		else if (quiesce_start == 0)
			quiesce_start = now;
		quiet = MoHttpInFlight() == 0 ||
			(quiesce && TimestampDifferenceExceeds(quiesce_start, now, MO_QUIESCE_MS));
		if (deliver_now || ndeliveries > 0)
			activity = true;
		if (DeliveryStep(deliver_now, quiesce))
			deliver_now = false;

		now = GetCurrentTimestamp();
		if (scan_due && quiet)
		{
			scan_base = now;
			ScheduleScan();
			activity = true;
			RunScan();
			backup_check_now = true;
		}

		now = GetCurrentTimestamp();
		if (backup_check_now || (next_backup_check != 0 && next_backup_check <= now))
		{
			backup_check_now = false;
			RunBackupCheck();
		}

		now = GetCurrentTimestamp();
		if (prune_due && quiet)
		{
			activity = false;
			last_prune = now;
			next_prune = TimestampTzPlusMilliseconds(now, PruneEveryMs());
			RunRetention();
		}

		/*
		 * Requests in flight: drive them, waiting on their sockets and the
		 * latch (a commit wakes the worker at once), and at least every
		 * MO_POLL_MS for the timers above.
		 */
		if (MoHttpInFlight() > 0)
		{
			if (MyLatch->is_set)
			{
				ResetLatch(MyLatch);
				continue;
			}
			(void) MoHttpRun(MO_POLL_MS);
			continue;
		}
		/* claimed deliveries waiting for the next round (to start, or to be recorded) */
		if (ndeliveries > 0)
			continue;

		/* sleep until woken, or the next retry, scan, stale backup or pruning (only after activity) */
		now = GetCurrentTimestamp();
		if (next_retry != 0)
			timeout = Max(TimestampDifferenceMilliseconds(now, next_retry), 1);
		if (next_scan != 0)
		{
			long		ms = Max(TimestampDifferenceMilliseconds(now, next_scan), 1);

			timeout = timeout < 0 ? ms : Min(timeout, ms);
		}
		if (next_backup_check != 0)
		{
			long		ms = Max(TimestampDifferenceMilliseconds(now, next_backup_check), 1);

			timeout = timeout < 0 ? ms : Min(timeout, ms);
		}
		if (activity && mo_retention > 0)
		{
			long		ms = Max(TimestampDifferenceMilliseconds(now, next_prune), 1);

			timeout = timeout < 0 ? ms : Min(timeout, ms);
		}
		pgstat_report_stat(true);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (timeout >= 0 ? WL_TIMEOUT : 0),
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---- worker_status() ---- */

/* A database name as a Datum of type name. */
static Datum
DatabaseNameDatum(const char *datname)
{
	Name		n = (Name) palloc0(NAMEDATALEN);

	namestrcpy(n, datname);
	return NameGetDatum(n);
}

/* The state name worker_status() shows for a slot. */
static const char *
SlotStateName(MoWorkerSlot *slot, bool paused)
{
	switch (slot->state)
	{
		case MO_SLOT_STARTING:
			return "starting";
		case MO_SLOT_RUNNING:
			return "running";
		case MO_SLOT_EXITED:
			if (paused)
				return "paused";
			return slot->exit_reason == MO_EXIT_UNEXPECTED ? "restarting" : "stopped";
		default:
			return "free";
	}
}

/*
 * migrate_ops.worker_status() → one row per database the worker serves
 * (and always one for the current database).  backlog and dead are counted
 * live for the current database, as last counted by the worker for others.
 * Without shared_preload_libraries there is no worker, and the row says so.
 */
Datum
migrate_ops_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MoWorkerSlot *copy = NULL;
	bool	   *paused = NULL;
	int			nslots = 0;
	int			launcher_pid = 0;
	bool		have_current = false;
	int64		live_backlog = -1;
	int64		live_dead = -1;

	InitMaterializedSRF(fcinfo, 0);

	/* live counts for this database */
	{
		MoOwnerState owner;
		Oid			nsp = get_namespace_oid(MO_SCHEMA, true);

		if (OidIsValid(nsp) && OidIsValid(get_relname_relid("outbox", nsp)))
		{
			bool		isnull;

			SPI_connect();
			MoBecomeOwner(&owner);
			MoSpiExec("SELECT (SELECT pg_catalog.count(*) FROM migrate_ops.outbox"
					  "         WHERE state OPERATOR(pg_catalog.=) 'pending'),"
					  "       (SELECT pg_catalog.count(*) FROM migrate_ops.outbox"
					  "         WHERE state OPERATOR(pg_catalog.=) 'dead')", NULL);
			live_backlog = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			live_dead = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
			MoRestoreUser(&owner);
			SPI_finish();
		}
	}

	if (mo_shared != NULL)
	{
		LWLockAcquire(mo_shared->lock, LW_SHARED);
		nslots = mo_shared->nslots;
		copy = palloc(sizeof(MoWorkerSlot) * nslots);
		paused = palloc(sizeof(bool) * nslots);
		memcpy(copy, mo_shared->slots, sizeof(MoWorkerSlot) * nslots);
		for (int i = 0; i < nslots; i++)
			paused[i] = IsPaused(copy[i].dboid);
		launcher_pid = mo_shared->launcher_pid;
		LWLockRelease(mo_shared->lock);
	}

	for (int i = 0; i < nslots; i++)
	{
		MoWorkerSlot *s = &copy[i];
		Datum		values[12];
		bool		nulls[12];
		char	   *datname;
		bool		current = (s->dboid == MyDatabaseId);

		if (s->state == MO_SLOT_FREE || (datname = get_database_name(s->dboid)) == NULL)
			continue;
		memset(nulls, 0, sizeof(nulls));
		values[0] = DatabaseNameDatum(datname);
		values[1] = CStringGetTextDatum(SlotStateName(s, paused[i]));
		values[2] = Int32GetDatum(s->pid);
		nulls[2] = (s->pid == 0);
		values[3] = TimestampTzGetDatum(s->started_at);
		nulls[3] = (s->started_at == 0);
		values[4] = TimestampTzGetDatum(s->last_scan_at);
		nulls[4] = (s->last_scan_at == 0);
		values[5] = CStringGetTextDatum(s->last_drift_state);
		nulls[5] = (s->last_drift_state[0] == '\0');
		values[6] = TimestampTzGetDatum(s->last_delivery_at);
		nulls[6] = (s->last_delivery_at == 0);
		values[7] = Int64GetDatum(s->delivered);
		values[8] = Int64GetDatum(current && live_backlog >= 0 ? live_backlog : s->backlog);
		values[9] = Int64GetDatum(current && live_dead >= 0 ? live_dead : s->dead);
		values[10] = CStringGetTextDatum(s->last_error);
		nulls[10] = (s->last_error[0] == '\0');
		values[11] = TimestampTzGetDatum(s->last_error_at);
		nulls[11] = (s->last_error_at == 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		have_current |= current;
	}

	if (!have_current)
	{
		Datum		values[12];
		bool		nulls[12];
		const char *why;
		char	   *datname = get_database_name(MyDatabaseId);

		if (mo_shared == NULL)
			why = "migrate_ops is not in shared_preload_libraries: no background worker runs "
				"(every SQL function works; notifications are queued but not delivered)";
		else if (launcher_pid == 0)
			why = "the migrate_ops launcher is not running";
		else if (!MoWorkerServesDatabase(datname))
			why = "this database is not in migrate_ops.databases";
		else
			why = "no worker serves this database yet";
		memset(nulls, 1, sizeof(nulls));
		values[0] = DatabaseNameDatum(datname);
		nulls[0] = false;
		values[1] = CStringGetTextDatum(mo_shared == NULL ? "not preloaded" : "not running");
		nulls[1] = false;
		values[7] = Int64GetDatum(0);
		nulls[7] = false;
		if (live_backlog >= 0)
		{
			values[8] = Int64GetDatum(live_backlog);
			values[9] = Int64GetDatum(live_dead);
			nulls[8] = nulls[9] = false;
		}
		values[10] = CStringGetTextDatum(why);
		nulls[10] = false;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---- module set-up ---- */

/* Defines the worker's settings. */
static void
DefineWorkerGucs(void)
{
	DefineCustomStringVariable("migrate_ops.databases",
							   "Databases the migrate_ops worker serves.",
							   "Comma-separated database names; empty serves every database "
							   "where the extension is installed.",
							   &mo_databases,
							   "",
							   PGC_SIGHUP, GUC_LIST_INPUT,
							   CheckDatabases, NULL, NULL);

	DefineCustomIntVariable("migrate_ops.scan_interval",
							"Time between two drift scans by the worker.",
							"0 disables periodic scans.",
							&mo_scan_interval,
							6 * 3600, 0, INT_MAX / 1000,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate_ops.scan_lock_timeout",
							"lock_timeout of the worker's scans and pruning, so they never hold up DDL.",
							NULL,
							&mo_scan_lock_timeout,
							1000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate_ops.retention",
							"Age after which delivered and dead outbox rows, events, the DDL log and scans are pruned.",
							"0 keeps everything.",
							&mo_retention,
							30 * 24 * 3600, 0, INT_MAX / 1000,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
}

/*
 * Module set-up: settings and the commit callback always; shared memory,
 * hooks and the launcher only when loaded by shared_preload_libraries.
 */
void
WorkerInit(void)
{
	BackgroundWorker w;

	DefineWorkerGucs();
	RegisterXactCallback(WorkerXactCallback, NULL);

	if (!process_shared_preload_libraries_in_progress)
		return;

#ifdef MO_HAVE_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = WorkerShmemRequest;
#else
	WorkerShmemRequest();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = WorkerShmemStartup;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = WorkerProcessUtility;
	prev_object_access_hook = object_access_hook;
	object_access_hook = WorkerObjectAccess;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = 5;
	strlcpy(w.bgw_library_name, MO_EXTENSION_NAME, BGW_MAXLEN);
	strlcpy(w.bgw_function_name, "MoLauncherMain", BGW_MAXLEN);
	strlcpy(w.bgw_name, "migrate_ops launcher", BGW_MAXLEN);
	strlcpy(w.bgw_type, "migrate_ops launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&w);
}
