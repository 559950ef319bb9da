/*
 * migrate_ops.h — declarations shared by the extension's modules.
 */
#ifndef MIGRATE_OPS_H
#define MIGRATE_OPS_H

#include "postgres.h"

#include "compat.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "nodes/pg_list.h"
#include "storage/lockdefs.h"
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
extern int	MoSpiExec(const char *sql, MoArgs *args);
extern char *MoSpiGetText(int row, int col);

extern char *MoSha256Hex(const char *data, size_t len);
extern int	MoVersionCompare(const char *a, const char *b);
extern void MoCheckVersion(const char *version);
extern char *MoRequiredTextArg(FunctionCallInfo fcinfo, int argno, const char *argname);
extern char *MoOptionalTextArg(FunctionCallInfo fcinfo, int argno);
extern char *MoCurrentRoleName(void);
extern char *MoJsonQuote(const char *value);

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

/* ---- events.c ---- */
#define MO_MAX_EVENT_LEN	64
#define MO_MAX_PAYLOAD_LEN	(1024 * 1024)
extern void MoCheckEventName(const char *event);
extern int64 MoEmitEvent(const char *event, const char *payload_json);

/* ---- ledger.c ---- */
extern void LedgerInit(void);
extern const char *MoCurrentMigration(void);
extern PGDLLEXPORT Datum migrate_ops_checksum(PG_FUNCTION_ARGS);
extern char *MoDeployLockHolder(void);
extern int	MoReadExpected(Jsonb *expected, char ***versions, char ***checksums);

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
