/*
 * migrate_ops.c — module entry point and the ledger's settings.
 *
 * The library works both when preloaded (shared_preload_libraries, which
 * also starts the background worker) and when only loaded on first use by
 * CREATE EXTENSION / a function call.
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "migrate_ops.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Lock timeout applied to a migration's statements (ms, 0 = keep the session's). */
int			mo_lock_timeout = 10000;

/* Statement timeout applied to each statement of a migration (ms, 0 = keep the session's). */
int			mo_statement_timeout = 0;

/* How long apply()/start() wait for another deploy to finish (ms). */
int			mo_lock_wait = 10000;

/* Largest script apply(), rollback() and lint() accept (kB). */
int			mo_max_script_size = 16 * 1024;

/* Defines the ledger's GUCs. */
static void
DefineLedgerGucs(void)
{
	DefineCustomIntVariable("migrate_ops.lock_timeout",
							"Lock timeout applied to each statement of a migration.",
							"A migration that waits longer than this for a lock fails "
							"instead of queueing every other session behind it. "
							"0 keeps the session's own lock_timeout.",
							&mo_lock_timeout,
							10000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate_ops.statement_timeout",
							"Statement timeout applied to each statement of a migration.",
							"0 keeps the session's own statement_timeout.",
							&mo_statement_timeout,
							0, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate_ops.lock_wait",
							"How long a deploy waits for another deploy in the same database to finish.",
							"After this, apply() and start() fail naming the process that holds the deploy lock.",
							&mo_lock_wait,
							10000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate_ops.max_script_size",
							"Largest migration script accepted by apply(), rollback(), lint() and plan().",
							NULL,
							&mo_max_script_size,
							16 * 1024, 1, MaxAllocSize / 1024 / 4,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
}

/* Module load: settings, callbacks, and (when preloaded) the worker. */
void
_PG_init(void)
{
	/* Nothing to set up while pg_upgrade runs the server in binary-upgrade mode. */
	if (IsBinaryUpgrade)
		return;

	DefineLedgerGucs();
	LedgerInit();
	DriftInit();
	CaptureInit();
	OutboxInit();
	WorkerInit();
	GatesInit();
	ToolsInit();

	MarkGUCPrefixReserved("migrate_ops");
}
