/*
 * migrate_ops.h — declarations shared by the extension's modules.
 */
#ifndef MIGRATE_OPS_H
#define MIGRATE_OPS_H

#include "postgres.h"

#include "compat.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "nodes/pg_list.h"
#include "storage/lockdefs.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#ifndef MO_VERSION
#define MO_VERSION "unknown"
#endif

#define MO_EXTENSION_NAME	"migrate_ops"
#define MO_SCHEMA			"migrate_ops"

/* Longest version string the ledger accepts (bytes). */
#define MO_MAX_VERSION_LEN	255

/*
 * SQLSTATEs of our own, class "MO" (documented in the README).  Standard
 * codes are used wherever one fits; these cover what no standard code says.
 */
#define ERRCODE_MO_MIGRATION_CHANGED	MAKE_SQLSTATE('M','O','0','0','1')
#define ERRCODE_MO_PREFLIGHT_BLOCKED	MAKE_SQLSTATE('M','O','0','0','2')

/*
 * The deploy lock: an advisory lock (the same tag as
 * pg_advisory_lock(19791, 1)), so a DBA finds it in pg_locks with
 * classid = 19791, objid = 1, objsubid = 2.
 */
#define MO_LOCK_CLASS		19791	/* 'M' << 8 | 'O' */
#define MO_LOCK_DEPLOY		1
#define MO_LOCK_SNAPSHOT	2	/* serialises snapshot writes (transaction-level) */
#define MO_LOCK_SCAN		3	/* serialises scan() and accept_drift() (transaction-level) */
#define MO_LOCK_WORKER		4	/* held by a database's background worker for its life (session-level) */

/* ---- GUCs (migrate_ops.c) ---- */
extern int	mo_lock_timeout;
extern int	mo_statement_timeout;
extern int	mo_lock_wait;
extern int	mo_max_script_size;

/* ---- util.c ---- */

/* State saved while running as the extension's owner (see MoBecomeOwner). */
typedef struct MoOwnerState
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} MoOwnerState;

extern Oid	MoExtensionOwner(void);
extern void MoBecomeOwner(MoOwnerState *state);
extern void MoBecomeRole(Oid role, MoOwnerState *state);
extern bool MoRoleMayRecord(Oid role);
extern void MoRestoreUser(MoOwnerState *state);

/* Positional parameters for SPI_execute_with_args. */
#define MO_MAX_ARGS 32
typedef struct MoArgs
{
	int			n;
	Oid			types[MO_MAX_ARGS];
	Datum		values[MO_MAX_ARGS];
	char		nulls[MO_MAX_ARGS];
} MoArgs;

extern void MoArgText(MoArgs *args, const char *value);
extern void MoArgInt4(MoArgs *args, int32 value);
extern void MoArgInt8(MoArgs *args, int64 value);
extern void MoArgBool(MoArgs *args, bool value);
extern void MoArgTimestamptz(MoArgs *args, TimestampTz value, bool isnull);
extern void MoArgJsonb(MoArgs *args, const char *json);
extern void MoArgJsonbValue(MoArgs *args, Jsonb *value);
extern int	MoSpiExec(const char *sql, MoArgs *args);
extern int	MoSpiExecPlan(SPIPlanPtr *plan, const char *sql, MoArgs *args);
extern char *MoSpiGetText(int row, int col);

extern char *MoSha256Hex(const char *data, size_t len);
extern int	MoVersionCompare(const char *a, const char *b);
extern void MoCheckVersion(const char *version);
extern char *MoRequiredTextArg(FunctionCallInfo fcinfo, int argno, const char *argname);
extern char *MoOptionalTextArg(FunctionCallInfo fcinfo, int argno);
extern char *MoCurrentRoleName(void);
extern char *MoJsonQuote(const char *value);

/* Our tables written row by row without SQL (MoRelid, MoRowWriter). */
typedef enum MoRel
{
	MO_REL_DDL_LOG,
	MO_REL_DDL_LOG_SEQ,
	MO_REL_EVENTS,
	MO_REL_EVENTS_SEQ,
	MO_NUM_RELS
} MoRel;

extern Oid	MoRelid(MoRel rel);

/* One of our tables open for direct inserts (see MoRowWriterOpen). */
typedef struct MoRowWriter
{
	struct RelationData *rel;
	struct EState *estate;
	struct ResultRelInfo *rri;
	struct TupleTableSlot *slot;
	MemoryContext rowcxt;
	MemoryContext outer;
	Oid			save_userid;
	int			save_sec_context;
} MoRowWriter;

extern void MoRowWriterOpen(MoRowWriter *w, Oid relid, const char *name);
extern AttrNumber MoRowWriterColumn(MoRowWriter *w, const char *column);
extern void MoRowWriterBegin(MoRowWriter *w);
extern void MoRowWriterSet(MoRowWriter *w, AttrNumber attno, Datum value, bool isnull);
extern void MoRowWriterSetText(MoRowWriter *w, AttrNumber attno, const char *value);
extern void MoRowWriterInsert(MoRowWriter *w);
extern void MoRowWriterClose(MoRowWriter *w);

/* Work for MoTrySubtransaction(). */
typedef void (*MoSubWork) (void *arg);
extern ErrorData *MoTrySubtransaction(MoSubWork work, void *arg);

/* ---- script.c ---- */

/* One statement of a migration script, as PostgreSQL's parser split it. */
typedef struct MoStatement
{
	int			number;			/* 1-based position in the script */
	int			line;			/* 1-based line of its first token */
	int			location;		/* byte offset of its first token */
	int			length;			/* bytes, without the terminating ';' */
	char	   *text;			/* the statement's own text */
	RawStmt    *raw;			/* the raw parse tree */
	const char *tag;			/* command tag, e.g. "CREATE TABLE" */
} MoStatement;

extern List *MoParseScript(const char *script, const char *what);
extern const char *MoNonTransactionalReason(Node *stmt);
extern void MoCheckRunnableInTransaction(List *statements, const char *what);
extern bool MoOptionOn(List *options, const char *name);

/* ---- events.c ---- */
#define MO_MAX_EVENT_LEN	64
#define MO_MAX_PAYLOAD_LEN	(1024 * 1024)
extern bool MoValidEventName(const char *event);
extern void MoCheckEventName(const char *event);
extern int64 MoEmitEvent(const char *event, const char *payload_json);
extern int64 MoEmitEventJsonb(const char *event, Jsonb *payload);

/* ---- outbox.c: channels, fan-out of events to the outbox, NOTIFY ---- */

/* Channel name used for pg_notify() by notify channels. */
#define MO_NOTIFY_CHANNEL	"migrate_ops"
/* Longest NOTIFY payload PostgreSQL accepts (BLCKSZ - NAMEDATALEN - 128, exclusive). */
#define MO_NOTIFY_MAX_PAYLOAD	(BLCKSZ - NAMEDATALEN - 128 - 1)

extern char *mo_allowed_urls;
extern int	mo_max_attempts;
extern int	mo_retry_delay;
extern int	mo_retry_max_delay;
extern int	mo_connect_timeout;
extern int	mo_request_timeout;
extern int	mo_batch_size;
extern int	mo_max_connections;

extern void OutboxInit(void);
extern int64 MoOutboxEnqueue(Oid events, const char *event, Jsonb *payload, const char *role);

/* ---- http.c: URLs, signatures, Slack bodies, libcurl delivery ---- */

/* One HTTP POST of a delivery, and its outcome. */
typedef struct MoRequest
{
	MemoryContext cxt;			/* where the request's strings and outcome live */
	int64		outbox_id;
	int64		event_id;
	char	   *channel;
	int			attempts;		/* including this one */
	char	   *url;
	char	   *body;
	char	   *signature;		/* "sha256=<hex>", or NULL */
	bool		started;		/* handed to MoHttpStart() */
	/* outcome */
	bool		done;			/* an outcome is known (sent or failed) */
	bool		ok;				/* 2xx */
	bool		permanent;		/* failed and must not be retried */
	int			status;			/* HTTP status, 0 when none */
	long		retry_after;	/* seconds from Retry-After, 0 when none */
	char	   *error;			/* failure description */
	TimestampTz finished_at;
} MoRequest;

extern void MoCheckChannelUrl(const char *url);
extern bool MoIsHttpUrl(const char *url);
extern bool MoUrlAllowed(const char *url, const char *allow_list);
extern char *MoHmacSha256Hex(const char *key, const char *data, size_t len);
extern char *MoSlackBody(Jsonb *envelope);
extern void MoHttpStart(MoRequest *req);
extern int	MoHttpRun(long timeout_ms);
extern int	MoHttpInFlight(void);
extern void MoHttpInit(void);
extern void MoHttpReset(void);

/* ---- worker.c: launcher, database workers, scans, retention ---- */
extern char *mo_databases;
extern int	mo_scan_interval;
extern int	mo_scan_lock_timeout;
extern int	mo_retention;

extern void WorkerInit(void);
extern void MoWakeWorkerAtCommit(void);
extern bool MoWorkerIsRunning(Oid dboid);
extern bool MoWorkerServesDatabase(const char *name);

/* ---- ledger.c ---- */
extern void LedgerInit(void);
extern const char *MoCurrentMigration(void);
extern PGDLLEXPORT Datum migrate_ops_checksum(PG_FUNCTION_ARGS);
extern char *MoDeployLockHolder(void);
extern char *MoBaselineVersion(void);
extern int	MoReadExpected(Jsonb *expected, char ***versions, char ***checksums);

/*
 * What another tool's ledger says about one version (tools.c records it
 * through MoToolBegin/MoToolEnd; the ledger row's source is the tool).
 */
typedef struct MoToolRun
{
	const char *source;			/* "prisma", "flyway", "dbmate", "golang-migrate", "sqitch" */
	const char *version;		/* as migrate_ops records it, e.g. "prisma:20260101_init" */
	const char *ledger;			/* the tool's table, e.g. "public._prisma_migrations" */
	const char *checksum;		/* the tool's checksum, or NULL */
	const char *description;
	TimestampTz started_at;		/* 0 = now */
	TimestampTz finished_at;	/* 0 = now */
	const char *error_sqlstate; /* a failure: SQLSTATE if known */
	const char *message;		/* a failure's message; a rollback's reason */
	bool		repeatable;		/* a new checksum is a new run, not an edit (Flyway R__, Sqitch rework) */
	bool		ran;			/* the tool ran it just now (its DDL was claimed): a known version runs again */
	bool		sync;			/* sync(): only record what the ledger does not know, no event */
	bool		no_snapshot;	/* do not move the drift baseline (sync() takes one at most) */
} MoToolRun;

extern bool MoToolBegin(const MoToolRun *run, bool rollback);
extern bool MoToolEnd(const MoToolRun *run, const char *state);
extern void MoToolChecksumChanged(const MoToolRun *run);
extern bool MoToolOpen(const char **source, const char **version, bool *rollback);

/* ---- catalog.c: whole-database introspection (DESIGN §2) ---- */

/*
 * Object kinds.  Kept in name order: the fingerprint sorts objects by kind
 * name, then identity, so the order of this enum is part of no format.
 */
typedef enum MoKind
{
	MO_KIND_AGGREGATE,
	MO_KIND_COLUMN,
	MO_KIND_COMMENT,
	MO_KIND_COMPOSITE_TYPE,
	MO_KIND_CONSTRAINT,
	MO_KIND_DOMAIN,
	MO_KIND_ENUM,
	MO_KIND_EVENT_TRIGGER,
	MO_KIND_EXTENSION,
	MO_KIND_FOREIGN_TABLE,
	MO_KIND_FUNCTION,
	MO_KIND_INDEX,
	MO_KIND_MATVIEW,
	MO_KIND_POLICY,
	MO_KIND_PRIVILEGE,
	MO_KIND_PROCEDURE,
	MO_KIND_SCHEMA,
	MO_KIND_SEQUENCE,
	MO_KIND_TABLE,
	MO_KIND_TRIGGER,
	MO_KIND_TYPE,
	MO_KIND_VIEW,
	MO_NUM_KINDS
} MoKind;

/* Kind names as drift() reports them ("table", "materialized view", ...). */
extern const char *const MoKindNames[MO_NUM_KINDS];
extern int	MoKindFromName(const char *name);

/* What only some objects carry: definitions are kept where they are needed. */
typedef struct MoCatalogExtra
{
	char	   *parent;			/* identity of the top-level object it belongs to */
	char	   *definition;		/* normalised definition (SQL text) */
	char	   *detail;			/* JSON fields drift_sql() needs (some kinds), or NULL */
	char	   *drop;			/* SQL removing it (live objects, on request), or NULL */
	int64		ord;			/* creation-order hint for drift_sql(), never hashed */
} MoCatalogExtra;

/* In ord: the object is inherited from a parent table (partition, INHERITS). */
#define MO_ORD_INHERITED	(INT64CONST(1) << 40)

/*
 * One tracked object.  identity is PostgreSQL's object-identity format
 * (pg_identify_object), built from names: "public.orders",
 * "public.orders.total", "orders_pkey on public.orders", "public.f(integer)";
 * comments and privileges are "<kind> <identity>", e.g. "table public.orders".
 */
typedef struct MoCatalogObject
{
	char	   *identity;
	MoCatalogExtra *x;			/* NULL for an object known to be unchanged */
	uint8		kind;			/* MoKind */
	uint8		parent_kind;	/* MoKind of x->parent */
	bool		has_sig;		/* sig is set */
	uint8		hash[32];		/* SHA-256 of the definition */
	uint8		sig[32];		/* catalog signature (see catalog.c), when signed_ */
} MoCatalogObject;

/* A set of objects (the live catalog or a stored snapshot), sorted by kind and identity. */
typedef struct MoCatalogState
{
	MemoryContext cxt;			/* owns the state and everything in it */
	MoCatalogObject *objects;
	int			count;
	char		fingerprint[65];	/* hex SHA-256 over every (kind, identity, hash), once
									 * MoCatalogFingerprint() computed it ("" before) */
	struct MoCatalogState *reference;	/* the stored snapshot it was read against, or NULL */
	int64		reference_id;	/* and that snapshot's id */
	/* captured with MO_CAPTURE_DIFF: the objects left out, equal to diff_ref's */
	const struct MoCatalogState *diff_ref;
	uint8	   *diff_equal;		/* per object of diff_ref: the capture has it unchanged */
} MoCatalogState;

/* What is left out: the switchable kinds and the drift_ignore patterns. */
typedef struct MoCatalogFilter
{
	bool		privileges;		/* migrate_ops.track_privileges */
	bool		comments;		/* migrate_ops.track_comments */
	int			npatterns;
	int		   *pattern_kinds;	/* MoKind, or -1 for any kind */
	void	  **patterns;		/* compiled regular expressions (regex_t *) */
} MoCatalogFilter;

/* Flags of MoCatalogCaptureExt(). */
#define MO_CAPTURE_DEFINITIONS	0x01	/* keep every object's definition */
#define MO_CAPTURE_DETAIL		0x02	/* build detail for kept objects */
#define MO_CAPTURE_DROP			0x04	/* build drop SQL for kept objects */
#define MO_CAPTURE_DIFF			0x08	/* keep only what differs from ref (see below) */

/*
 * Reads the catalog in a few whole-database passes and returns its tracked
 * objects, allocated in a new child of CurrentMemoryContext.  schemas (a
 * List of names, NIL for the default set) restricts the schemas; filter may
 * be NULL (everything tracked).  Definitions are kept for every object
 * with MO_CAPTURE_DEFINITIONS, else only for objects that are not in ref
 * with the same hash (all a comparison needs); with neither, only
 * identities and hashes are kept.  An object of ref with the same kind,
 * identity and catalog signature (constraints, indexes, views, triggers,
 * policies) lends its hash, so the deparser runs only for what may have
 * changed (never with MO_CAPTURE_DEFINITIONS).  Runs as the current user
 * with search_path and output settings pinned, so the result never depends
 * on the session.  With MO_CAPTURE_DIFF (and ref), an object equal to ref's
 * (same kind, identity and hash) is not kept but marked in diff_equal:
 * MoCatalogCompare() against ref and MoCatalogFingerprint() give what the
 * whole capture would; MoCatalogFind() and the objects array see only
 * what differs.  For comparisons and fingerprints, never to write a
 * snapshot.
 */
extern MoCatalogState *MoCatalogCaptureExt(int flags, List *schemas,
										   const MoCatalogFilter *filter,
										   const MoCatalogState *ref);
extern bool MoCatalogIgnored(const MoCatalogFilter *filter, int kind, const char *identity,
							 int parent_kind, const char *parent);
extern MoCatalogState *MoCatalogStateCreate(void);
extern void MoCatalogStateReserve(MoCatalogState *state, int n);
extern MoCatalogObject *MoCatalogStateAdd(MoCatalogState *state, int kind, const char *identity,
										   int parent_kind, const char *parent, const uint8 *hash);
extern MoCatalogObject *MoCatalogStateAddN(MoCatalogState *state, int kind, const char *identity,
											size_t len, int parent_kind, const uint8 *hash);
extern void MoCatalogStateFinish(MoCatalogState *state);
extern MoCatalogObject *MoCatalogFind(const MoCatalogState *state, int kind, const char *identity);
extern char *MoCatalogFingerprint(MoCatalogState *state);
extern void MoCatalogFree(MoCatalogState *state);
extern MoCatalogFilter *MoCatalogFilterGet(bool privileges, bool comments, int n,
										   const int *kinds, char **patterns);

/*
 * Walks two states in step and calls cb for every difference: (expected,
 * NULL) removed, (NULL, actual) added, both: changed.  Returns the count.
 */
typedef void (*MoDiffCallback) (void *arg, const MoCatalogObject *expected,
								const MoCatalogObject *actual);
extern int	MoCatalogCompare(const MoCatalogState *expected, const MoCatalogState *actual,
							 MoDiffCallback cb, void *arg);

/*
 * One difference between two catalog states, in drift()'s shape: kind,
 * identity, the top-level object it belongs to, change ("added",
 * "removed", "changed"), expected and actual definitions (NULL when absent).
 */
typedef struct MoDriftRow
{
	const char *kind;
	char	   *identity;
	char	   *parent;
	const char *change;
	char	   *expected;
	char	   *actual;
} MoDriftRow;

/*
 * Captures the current catalog with every definition (e.g. for plan()), with
 * the default filter, in a new child of CurrentMemoryContext (free it with
 * MoCatalogFree).  Works with or without SPI connected.  To keep a capture
 * made inside a subtransaction that is rolled back, call it in a context
 * that outlives the subtransaction.
 */
extern MoCatalogState *MoCatalogCapture(void);

/* The differences from before to after (both from MoCatalogCapture()), a List of MoDriftRow *. */
extern List *MoCatalogDiff(MoCatalogState *before, MoCatalogState *after);

/* Check every lent hash against the deparser (migrate_ops.verify_signatures). */
extern bool mo_verify_signatures;

/* ---- drift.c: fingerprints, snapshots, drift (DESIGN §2) ---- */
extern bool mo_track_privileges;
extern bool mo_track_comments;
extern void DriftInit(void);

/* Current fingerprint (hex SHA-256) of the default tracked set, palloc'd. */
extern char *MoFingerprintNow(void);

/*
 * Stores a snapshot of the current catalog and returns its id; it becomes
 * the drift baseline.  Writes as the extension owner; works with or
 * without SPI connected.
 */
extern int64 MoSnapshotTake(const char *label);

/* The default filter: GUCs and migrate_ops.drift_ignore (SPI connected). */
extern MoCatalogFilter *MoDriftFilter(void);

/*
 * Ledger hooks (SPI connected, as the extension owner).  Before a
 * migration: capture the schema (in CurrentMemoryContext) and record
 * fingerprint_before.  After a recorded change: record fingerprint_after and
 * the changes (against before, or the last snapshot when before is NULL)
 * when version is given, and take the snapshot that moves the baseline
 * (recorded as taken by role, the caller).
 * Both do nothing on a schema without the drift tables (0.1.0).
 */
#define MO_RECORD_FINGERPRINT	0x01	/* set the ledger row's fingerprint_after */
#define MO_RECORD_CHANGES		0x02	/* and its changes */
extern MoCatalogState *MoLedgerCaptureBefore(const char *version);
extern void MoLedgerRecordAfter(const char *version, MoCatalogState *before,
								const char *source, const char *role, int what);

/*
 * Running a script's statements the way apply() does (also used by plan()):
 * as the calling role, SPI connected, with migrate_ops.lock_timeout for the
 * script and migrate_ops.statement_timeout for each statement.
 */
typedef struct MoStatementTimer
{
	bool		armed;
	bool		outer_active;
	TimestampTz outer_fin;
} MoStatementTimer;

extern int	MoMigrationSettingsBegin(void);
extern void MoMigrationSettingsEnd(int nestlevel);
extern void MoStatementTimerArm(MoStatementTimer *timer);
extern void MoStatementTimerRestore(MoStatementTimer *timer);
extern uint64 MoRunStatement(const char *what, MoStatement *stmt, MoStatementTimer *timer);

/* ---- lint.c ---- */

/* One finding of lint(): a rule that fired on a statement. */
typedef struct MoLintFinding
{
	int			statement;		/* MoStatement.number */
	int			line;			/* MoStatement.line */
	const char *command;		/* command tag */
	const char *rule_id;		/* migrate_ops.lint_rules.id */
	const char *severity;		/* "error", "warning" or "info", as tuned */
	const char *lock_mode;		/* e.g. "ACCESS EXCLUSIVE", or NULL */
	char	   *relation;		/* what the lock is on, or NULL */
	char	   *message;
	char	   *safe_alternative;
} MoLintFinding;

extern List *MoLint(List *statements);
extern char *MoLintFindingsJson(List *findings);
extern bool MoLintHasSeverity(List *findings, const char *severity);
extern bool MoLintAvailable(void);
extern char *MoLintForLedger(List *statements);
extern const char *MoLockModeName(LOCKMODE mode);

/* ---- capture.c (DESIGN §3) ---- */
extern bool mo_capture_ddl;
extern int	mo_capture_statement_max;
extern void CaptureInit(void);

/* Who last changed an object, from migrate_ops.ddl_log (see MoDdlAttribution). */
typedef struct MoAttribution
{
	int64		log_id;			/* ddl_log.id of the matching row */
	TimestampTz logged_at;
	char	   *role;			/* current_user of the change */
	char	   *application_name;	/* NULL when unknown */
	char	   *migration;		/* NULL = out-of-band */
	char	   *command_tag;	/* e.g. "ALTER TABLE" */
	bool		by_parent;		/* matched through parent_identity */
} MoAttribution;

extern bool MoDdlAttribution(const char *identity, const char *parent_identity,
							 MoAttribution *out);
extern bool MoDdlAttributionFor(const char *identity, const char *parent_identity,
								const char *const *tags, MoAttribution *out);
extern bool MoCaptureSuspend(bool suspend);
extern int64 MoDdlLogPrune(TimestampTz older_than, int limit);
extern bool MoCaptureIsRestore(bool any_role);
extern int64 MoCaptureClaim(const char *version, TimestampTz *first_at);
extern int64 MoCaptureClaimOthers(const char *version, TimestampTz since, TimestampTz *first_at);

/* ---- tools.c: Prisma, Flyway, dbmate, golang-migrate, Sqitch ---- */
extern bool mo_track_tools;
extern void ToolsInit(void);
extern void MoToolsDdlCommandEnd(List *relids);
extern int	MoToolVersionPrefixLen(const char *version, const char *source);

/* ---- gates.c: environment, approvals, backups, preflight, health ---- */

/* migrate_ops.environment */
typedef enum MoEnvironment
{
	MO_ENV_DEVELOPMENT,
	MO_ENV_STAGING,
	MO_ENV_PRODUCTION
} MoEnvironment;

extern int	mo_environment;
extern int	mo_required_approvals;
extern int	mo_backup_max_age;

extern void GatesInit(void);
extern const char *MoEnvironmentName(int environment);

/*
 * The gate inside apply() (called by the ledger as the owner, owner being
 * the caller's saved identity, before the running row): in staging and
 * production runs the preflight checks; in production a failing check of
 * severity "error" emits preflight.blocked (committed first when nonatomic)
 * and raises MO002.
 */
extern void MoGatesCheckApply(const char *version, const char *checksum,
							  const char *lint_json, const char *role,
							  bool nonatomic, MoOwnerState *owner);

/*
 * For the worker, each loop (in a transaction, SPI not required): emits
 * backup.stale once when the newest backup has become older than
 * migrate_ops.backup_max_age in production.  Returns the event id (0 when
 * none) and sets *next_check to when calling again is useful (0: only after
 * a new backup or a change of settings; the worker may still poll).
 */
extern int64 MoCheckBackups(TimestampTz *next_check);

#endif							/* MIGRATE_OPS_H */
