/*
 * gates.c — deploy gates, the backup registry, preflight, health (DESIGN §7).
 *
 * migrate_ops.environment says what a database is.  preflight() turns the
 * runbook's pre-deployment checklist into rows (check, ok, severity,
 * detail); apply() runs the same checks before it records a migration as
 * running: in production a failing check of severity "error" refuses the
 * deploy (MO002) and emits preflight.blocked, in staging failing checks are
 * WARNINGs, in development apply() runs none.  Destructive migrations (a lint
 * finding of severity "error") need migrate_ops.required_approvals
 * approvals, bound to the script's checksum, by roles other than the one
 * that applies them.  record_backup() keeps the registry the "recent backup"
 * check reads; health() and ready() answer a monitoring probe cheaply.
 *
 * Every function runs as the caller; bookkeeping reads and writes are made
 * as the extension's owner (MoBecomeOwner), so roles need EXECUTE only.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "migrate_ops.h"

PG_FUNCTION_INFO_V1(migrate_ops_approve);
PG_FUNCTION_INFO_V1(migrate_ops_record_backup);
PG_FUNCTION_INFO_V1(migrate_ops_check_backups);
PG_FUNCTION_INFO_V1(migrate_ops_preflight);
PG_FUNCTION_INFO_V1(migrate_ops_health);
PG_FUNCTION_INFO_V1(migrate_ops_ready);

/* Longest note of an approval, label and location of a backup (bytes). */
#define MAX_NOTE_LEN		4096
#define MAX_LABEL_LEN		255
#define MAX_LOCATION_LEN	4096

/* How far in the future a backup's taken_at may be (clock skew), in ms. */
#define TAKEN_AT_SKEW_MS	60000

/* A delivery due this long ago and still pending means the outbox is stuck (s). */
#define OUTBOX_OVERDUE_S	300

/* Items named in one check's detail before "and N more". */
#define DETAIL_ITEMS		5

/* ---- settings ---- */

/* What this database is: development, staging or production. */
int			mo_environment = MO_ENV_DEVELOPMENT;

/* Approvals a destructive migration needs in production. */
int			mo_required_approvals = 1;

/* Age (s) after which the newest backup is stale; 0: no backup required. */
int			mo_backup_max_age = 24 * 3600;

/* The library was loaded by shared_preload_libraries (the worker runs). */
static bool gates_preloaded = false;

static const struct config_enum_entry environment_options[] = {
	{"development", MO_ENV_DEVELOPMENT, false},
	{"staging", MO_ENV_STAGING, false},
	{"production", MO_ENV_PRODUCTION, false},
	{NULL, 0, false}
};

/* Defines the gates' settings (from _PG_init). */
void
GatesInit(void)
{
	gates_preloaded = process_shared_preload_libraries_in_progress;

	DefineCustomEnumVariable("migrate_ops.environment",
							 "What this database is: development, staging or production.",
							 "In production apply() refuses a deploy when a blocking preflight "
							 "check fails; in staging it warns; in development it checks nothing.",
							 &mo_environment,
							 MO_ENV_DEVELOPMENT, environment_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("migrate_ops.required_approvals",
							"Approvals a migration with an error-severity lint finding needs in production.",
							"Approvals by the role that applies the migration do not count.",
							&mo_required_approvals,
							1, 0, 100,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate_ops.backup_max_age",
							"Age after which the newest recorded backup is stale.",
							"0 requires no backup.",
							&mo_backup_max_age,
							24 * 3600, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
}

/* The name of an environment setting. */
const char *
MoEnvironmentName(int environment)
{
	for (int i = 0; environment_options[i].name; i++)
		if (environment_options[i].val == environment)
			return environment_options[i].name;
	return "unknown";
}

/* ---- helpers ---- */

/* True when this database's migrate_ops schema has the gates' tables (0.2.0 or later). */
static bool
GatesAvailable(void)
{
	Oid			nsp = get_namespace_oid(MO_SCHEMA, true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("backups", nsp)) &&
		OidIsValid(get_relname_relid("approvals", nsp));
}

/* True when relation name exists in the migrate_ops schema (a feature is installed). */
static bool
MoTableExists(const char *name)
{
	Oid			nsp = get_namespace_oid(MO_SCHEMA, true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid(name, nsp));
}

/* An age in seconds for people: "45 s", "12 min", "30 h 5 min", "3 d 4 h". */
static char *
FormatAge(double seconds)
{
	long		s = seconds > 0 ? (long) floor(seconds) : 0;

	if (s < 120)
		return psprintf("%ld s", s);
	if (s < 2 * 3600)
		return psprintf("%ld min", s / 60);
	if (s < 48 * 3600)
		return (s / 60) % 60 ? psprintf("%ld h %ld min", s / 3600, (s / 60) % 60)
			: psprintf("%ld h", s / 3600);
	return (s / 3600) % 24 ? psprintf("%ld d %ld h", s / 86400, (s / 3600) % 24)
		: psprintf("%ld d", s / 86400);
}

/* Column col (1-based) of row as int64 (0 for NULL). */
static int64
SpiInt64(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* Column col (1-based) of row as an oid (InvalidOid for NULL). */
static Oid
SpiOid(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/* Column col (1-based) of row as double (NAN for NULL). */
static double
SpiFloat8(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? NAN : DatumGetFloat8(d);
}

/* Column col (1-based) of row as bool (false for NULL). */
static bool
SpiBool(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return !isnull && DatumGetBool(d);
}

/* Adds "item" to a list being written, up to DETAIL_ITEMS; counts the rest. */
static void
ListItem(StringInfo buf, int *n, const char *item)
{
	if (*n < DETAIL_ITEMS)
		appendStringInfo(buf, "%s%s", *n ? ", " : "", item);
	(*n)++;
}

/* Ends a list written with ListItem: "and N more". */
static void
ListEnd(StringInfo buf, int n)
{
	if (n > DETAIL_ITEMS)
		appendStringInfo(buf, " and %d more", n - DETAIL_ITEMS);
}

/* A query text for a detail: one line, at most 120 characters. */
static char *
OneLineQuery(const char *query)
{
	StringInfoData buf;
	int			chars = 0;

	if (query == NULL)
		return pstrdup("");
	initStringInfo(&buf);
	for (const char *p = query; *p && chars < 120; chars++)
	{
		int			len = pg_mblen(p);

		if (*p == '\n' || *p == '\r' || *p == '\t')
		{
			if (buf.len > 0 && buf.data[buf.len - 1] != ' ')
				appendStringInfoChar(&buf, ' ');
		}
		else
			appendBinaryStringInfo(&buf, p, len);
		p += len;
		if (chars == 119 && *p)
			appendStringInfoString(&buf, "...");
	}
	return buf.data;
}

/* qsort comparator for versions (char *), natural order. */
static int
VersionCmp(const void *a, const void *b)
{
	return MoVersionCompare(*(char *const *) a, *(char *const *) b);
}

/*
 * SQL condition: the backend that started ledger row m is still alive (same
 * pid and start time), as the ledger's reaper decides it.
 */
#define BACKEND_ALIVE(m) \
	"EXISTS (SELECT 1 FROM pg_catalog.pg_stat_get_activity(" m ".backend_pid) a" \
	" WHERE a.backend_start OPERATOR(pg_catalog.=) " m ".backend_start)"

/* The highest version recorded by baseline(), or NULL (SPI connected, as the owner). */
static char *
BaselineVersion(void)
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

/*
 * The environment and backup_max_age as the database sets them now.  A
 * session uses its own settings.  The worker read its settings when it
 * started, so it reads ALTER DATABASE / ALTER ROLE ALL settings afresh
 * (pg_db_role_setting): a database switched to production is watched
 * without a restart.  SPI connected.
 */
static void
DatabaseGateSettings(int *environment, int *max_age)
{
	MoArgs		args = {0};

	*environment = mo_environment;
	*max_age = mo_backup_max_age;
	if (!IsBackgroundWorker)
		return;

	MoArgInt8(&args, (int64) MyDatabaseId);
	MoSpiExec("SELECT s FROM pg_catalog.pg_db_role_setting d, pg_catalog.unnest(d.setconfig) s"
			  " WHERE d.setrole OPERATOR(pg_catalog.=) 0"
			  "   AND d.setdatabase OPERATOR(pg_catalog.=) ANY (ARRAY[0, $1::pg_catalog.oid])"
			  " ORDER BY d.setdatabase", &args);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *setting = MoSpiGetText(i, 1);
		char	   *eq = strchr(setting, '=');
		int			value;

		if (eq == NULL)
			continue;
		*eq = '\0';
		if (pg_strcasecmp(setting, "migrate_ops.environment") == 0)
		{
			for (int e = 0; environment_options[e].name; e++)
				if (pg_strcasecmp(eq + 1, environment_options[e].name) == 0)
					*environment = environment_options[e].val;
		}
		else if (pg_strcasecmp(setting, "migrate_ops.backup_max_age") == 0 &&
				 parse_int(eq + 1, &value, GUC_UNIT_S, NULL) && value >= 0)
			*max_age = value;
	}
}

/* ---- approve() ---- */

/*
 * migrate_ops.approve(version, checksum, note) → bigint
 * Records that the calling role approves this migration with this checksum.
 */
Datum
migrate_ops_approve(PG_FUNCTION_ARGS)
{
	char	   *version = MoRequiredTextArg(fcinfo, 0, "version");
	char	   *checksum = MoRequiredTextArg(fcinfo, 1, "checksum");
	char	   *note = MoOptionalTextArg(fcinfo, 2);
	char	   *role = MoCurrentRoleName();
	MoOwnerState owner;
	MoArgs		args = {0};
	int64		id;

	MoCheckVersion(version);
	for (char *p = checksum; *p; p++)
		*p = pg_ascii_tolower((unsigned char) *p);
	if (strlen(checksum) != 64 || strspn(checksum, "0123456789abcdef") != 64)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid checksum \"%s\"", checksum),
				 errdetail("An approval is for the 64 hexadecimal digits migrate_ops.checksum(script) returns."),
				 errhint("Approve what will run: SELECT migrate_ops.approve(%s, migrate_ops.checksum(script), note).",
						 quote_literal_cstr(version))));
	if (note && strlen(note) > MAX_NOTE_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("note is too long"),
				 errdetail("A note is at most %d bytes; this one has %zu.", MAX_NOTE_LEN, strlen(note))));

	SPI_connect();
	MoBecomeOwner(&owner);
	MoArgText(&args, version);
	MoSpiExec("SELECT state FROM migrate_ops.migrations"
			  " WHERE version OPERATOR(pg_catalog.=) $1"
			  "   AND state OPERATOR(pg_catalog.=) ANY ('{applied,baselined}')", &args);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration \"%s\" is already %s", version, MoSpiGetText(0, 1)),
				 errhint("An approval is for a migration that has not run yet; write a new migration to change it.")));

	MoArgText(&args, checksum);
	MoArgText(&args, role);
	MoArgText(&args, note);
	MoSpiExec("INSERT INTO migrate_ops.approvals (version, checksum, approved_by, note)"
			  " VALUES ($1, $2, $3, $4)"
			  " ON CONFLICT (version, checksum, approved_by) DO NOTHING RETURNING id", &args);
	if (SPI_processed == 1)
		id = SpiInt64(0, 1);
	else
	{
		MoSpiExec("SELECT id, pg_catalog.to_char(approved_at, 'YYYY-MM-DD HH24:MI:SS TZ')"
				  "  FROM migrate_ops.approvals"
				  " WHERE version OPERATOR(pg_catalog.=) $1 AND checksum OPERATOR(pg_catalog.=) $2"
				  "   AND approved_by OPERATOR(pg_catalog.=) $3", &args);
		id = SpiInt64(0, 1);
		ereport(NOTICE,
				(errmsg("%s already approved migration \"%s\" with this checksum", role, version),
				 errdetail("Approval %lld was recorded at %s; it is kept as it was, note included.",
						   (long long) id, MoSpiGetText(0, 2))));
	}
	MoRestoreUser(&owner);
	SPI_finish();
	PG_RETURN_INT64(id);
}

/* ---- the backup registry ---- */

/*
 * migrate_ops.record_backup(label, location, size_bytes, taken_at) → bigint
 * Records a backup taken by a tool outside the database.
 */
Datum
migrate_ops_record_backup(PG_FUNCTION_ARGS)
{
	char	   *label = MoRequiredTextArg(fcinfo, 0, "label");
	char	   *location = MoRequiredTextArg(fcinfo, 1, "location");
	char	   *role = MoCurrentRoleName();
	int64		size_bytes;
	TimestampTz taken_at;
	TimestampTz latest = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), TAKEN_AT_SKEW_MS);
	MoOwnerState owner;
	MoArgs		args = {0};
	int64		id;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("size_bytes must not be null")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("taken_at must not be null"),
				 errhint("Leave it out to record a backup taken now.")));
	size_bytes = PG_GETARG_INT64(2);
	taken_at = PG_GETARG_TIMESTAMPTZ(3);

	if (label[0] == '\0' || strlen(label) > MAX_LABEL_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label must be between 1 and %d bytes", MAX_LABEL_LEN)));
	if (location[0] == '\0' || strlen(location) > MAX_LOCATION_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("location must be between 1 and %d bytes", MAX_LOCATION_LEN)));
	if (size_bytes <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("size_bytes must be positive"),
				 errdetail("The size given is %lld.", (long long) size_bytes),
				 errhint("Pass the size of the backup in bytes, as the backup tool reports it.")));
	if (TIMESTAMP_NOT_FINITE(taken_at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("taken_at must be a finite time")));
	if (taken_at > latest)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("taken_at is in the future"),
				 errdetail("taken_at is %s; the server's clock says %s.",
						   pstrdup(timestamptz_to_str(taken_at)),
						   pstrdup(timestamptz_to_str(GetCurrentTimestamp()))),
				 errhint("Pass the time the backup was taken as a timestamptz (with its time zone); "
						 "a minute of clock skew is tolerated.")));

	SPI_connect();
	MoBecomeOwner(&owner);
	MoArgText(&args, label);
	MoArgText(&args, location);
	MoArgInt8(&args, size_bytes);
	MoArgTimestamptz(&args, taken_at, false);
	MoArgText(&args, role);
	MoSpiExec("INSERT INTO migrate_ops.backups (label, location, size_bytes, taken_at, recorded_by)"
			  " VALUES ($1, $2, $3, $4, $5) RETURNING id", &args);
	id = SpiInt64(0, 1);
	MoRestoreUser(&owner);
	SPI_finish();
	/* the worker learns when this backup goes stale */
	MoWakeWorkerAtCommit();
	PG_RETURN_INT64(id);
}

/* See migrate_ops.h. */
int64
MoCheckBackups(TimestampTz *next_check)
{
	MoOwnerState owner;
	MoArgs		args = {0};
	int			environment;
	int			max_age;
	char	   *payload = NULL;
	int64		event = 0;

	*next_check = 0;
	if (!GatesAvailable())
		return 0;

	SPI_connect();
	MoBecomeOwner(&owner);
	DatabaseGateSettings(&environment, &max_age);
	if (environment == MO_ENV_PRODUCTION && max_age > 0)
	{
		MoArgInt4(&args, max_age);
		MoSpiExec("SELECT id, stale_notified_at IS NOT NULL,"
				  "       (taken_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => $1))"
				  "         OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp(),"
				  "       taken_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => $1)"
				  "  FROM migrate_ops.backups ORDER BY taken_at DESC, id DESC LIMIT 1", &args);
		if (SPI_processed == 1 && !SpiBool(0, 3))
		{
			bool		isnull;

			*next_check = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
															SPI_tuptable->tupdesc, 4, &isnull));
		}
		else if (SPI_processed == 1 && !SpiBool(0, 2))
		{
			/* only the session that marks it emits: once per stale backup */
			MoArgInt8(&args, SpiInt64(0, 1));
			MoArgText(&args, get_database_name(MyDatabaseId));
			MoSpiExec("UPDATE migrate_ops.backups"
					  "   SET stale_notified_at = pg_catalog.clock_timestamp()"
					  " WHERE id OPERATOR(pg_catalog.=) $2 AND stale_notified_at IS NULL"
					  " RETURNING pg_catalog.jsonb_build_object("
					  "   'database', $3, 'environment', 'production', 'backup_id', id,"
					  "   'label', label, 'location', location, 'size_bytes', size_bytes,"
					  "   'taken_at', taken_at, 'recorded_by', recorded_by,"
					  "   'age_seconds', pg_catalog.floor(EXTRACT(epoch FROM"
					  "       pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) taken_at)),"
					  "   'max_age_seconds', $1)::text", &args);
			if (SPI_processed == 1)
				payload = MoSpiGetText(0, 1);
		}
	}
	MoRestoreUser(&owner);
	if (payload)
		event = MoEmitEvent("backup.stale", payload);
	SPI_finish();
	return event;
}

/*
 * migrate_ops.check_backups() → bigint
 * What the worker runs: emits backup.stale once per stale newest backup in
 * production; returns the event's id, or NULL.
 */
Datum
migrate_ops_check_backups(PG_FUNCTION_ARGS)
{
	TimestampTz next_check;
	int64		event = MoCheckBackups(&next_check);

	(void) fcinfo;
	if (event == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(event);
}

/* ---- the checks ---- */

/* A check's outcome: not evaluated (missing input) is SQL NULL. */
#define CHECK_FAILED		0
#define CHECK_OK			1
#define CHECK_SKIPPED		(-1)

/* One row of preflight(). */
typedef struct Check
{
	const char *name;
	const char *severity;		/* "error" blocks apply() in production */
	int			ok;				/* CHECK_OK, CHECK_FAILED or CHECK_SKIPPED */
	char	   *detail;
} Check;

/* What the checks are about, and what they found. */
typedef struct Preflight
{
	MemoryContext cxt;			/* where checks live (outlives SPI) */
	const char *version;		/* or NULL */
	const char *checksum;		/* of the script, or NULL */
	const char *script_from;	/* NULL (no script), "given" or "ledger" */
	const char *lint_json;		/* the script's lint findings, or NULL when unknown */
	Datum		lint_jsonb;		/* lint_json parsed (PreflightFindings), or 0 */
	const char *role;			/* the role that applies (the caller) */
	bool		in_apply;		/* the gate inside apply() */
	int			nexpected;		/* the repository's list, if given */
	char	  **expected;
	bool		have_expected;
	List	   *checks;			/* Check * */
} Preflight;

/* Appends a check (detail copied into pf->cxt). */
static void
AddCheck(Preflight *pf, const char *name, const char *severity, int ok, const char *detail)
{
	MemoryContext old = MemoryContextSwitchTo(pf->cxt);
	Check	   *c = palloc(sizeof(Check));

	c->name = name;
	c->severity = severity;
	c->ok = ok;
	c->detail = pstrdup(detail);
	pf->checks = lappend(pf->checks, c);
	MemoryContextSwitchTo(old);
}

/* environment: what this database is and what apply() does about failing checks. */
static void
CheckEnvironment(Preflight *pf)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s: database \"%s\"", MoEnvironmentName(mo_environment),
					 get_database_name(MyDatabaseId));
	if (cluster_name && cluster_name[0])
		appendStringInfo(&buf, " of cluster \"%s\"", cluster_name);
	switch (mo_environment)
	{
		case MO_ENV_PRODUCTION:
			appendStringInfoString(&buf, "; apply() refuses a deploy when a check of severity error fails");
			break;
		case MO_ENV_STAGING:
			appendStringInfoString(&buf, "; apply() warns about failing checks and proceeds");
			break;
		default:
			appendStringInfoString(&buf, "; apply() runs no checks");
			break;
	}
	AddCheck(pf, "environment", "info", CHECK_OK, buf.data);
}

/* migration: the version's own state, and what apply() would do with it. */
static void
CheckMigration(Preflight *pf)
{
	MoArgs		args = {0};
	char	   *state;
	char	   *baseline;

	if (pf->version == NULL)
	{
		AddCheck(pf, "migration", "error", CHECK_SKIPPED, "not evaluated: no version given");
		return;
	}
	MoArgText(&args, pf->version);
	MoSpiExec("SELECT m.state, m.checksum, m.backend_pid, m.attempts,"
			  "       m.state OPERATOR(pg_catalog.=) 'running' AND NOT " BACKEND_ALIVE("m")
			  "  FROM migrate_ops.migrations m WHERE m.version OPERATOR(pg_catalog.=) $1", &args);
	if (SPI_processed == 0)
	{
		baseline = BaselineVersion();
		if (baseline && MoVersionCompare(pf->version, baseline) <= 0)
			AddCheck(pf, "migration", "error", CHECK_OK,
					 psprintf("covered by baseline \"%s\": apply() skips it", baseline));
		else
			AddCheck(pf, "migration", "error", CHECK_OK, "not in the ledger yet: apply() runs it");
		return;
	}
	state = MoSpiGetText(0, 1);
	if (strcmp(state, "applied") == 0 || strcmp(state, "baselined") == 0)
	{
		char	   *applied = MoSpiGetText(0, 2);

		if (pf->checksum && applied && strcmp(pf->checksum, applied) != 0)
			AddCheck(pf, "migration", "error", CHECK_FAILED,
					 psprintf("already %s with checksum %s, this script's is %s: apply() refuses "
							  "an edited migration (MO001)", state, applied, pf->checksum));
		else
			AddCheck(pf, "migration", "error", CHECK_OK,
					 psprintf("already %s: apply() skips it", state));
	}
	else if (strcmp(state, "running") == 0 && !SpiBool(0, 5))
		AddCheck(pf, "migration", "error", CHECK_FAILED,
				 psprintf("running in process %s", MoSpiGetText(0, 3)));
	else if (strcmp(state, "running") == 0)
		AddCheck(pf, "migration", "error", CHECK_OK,
				 psprintf("interrupted (process %s ended while it ran): apply() runs it again",
						  MoSpiGetText(0, 3)));
	else
		AddCheck(pf, "migration", "error", CHECK_OK,
				 psprintf("%s after %s attempt%s: apply() runs it again",
						  strcmp(state, "failed") == 0 ? "failed" : "rolled back",
						  MoSpiGetText(0, 4), strcmp(MoSpiGetText(0, 4), "1") == 0 ? "" : "s"));
}

/* deploy_lock: no other session holds the deploy lock. */
static void
CheckDeployLock(Preflight *pf)
{
	char	   *holder = MoDeployLockHolder();

	if (holder == NULL)
		AddCheck(pf, "deploy_lock", "error", CHECK_OK, "no other deploy is running");
	else
		AddCheck(pf, "deploy_lock", "error", CHECK_FAILED, holder);
}

/* failed_migrations: no failed (or interrupted) migration waits to be resolved. */
static void
CheckFailed(Preflight *pf)
{
	MoArgs		args = {0};
	StringInfoData buf;
	char	  **versions;
	int			n;
	int			listed = 0;

	MoArgText(&args, pf->version);
	MoSpiExec("SELECT m.version, CASE WHEN m.state OPERATOR(pg_catalog.=) 'running'"
			  "         THEN 'interrupted' ELSE COALESCE(m.error_sqlstate OPERATOR(pg_catalog.||) ': ', '')"
			  "           OPERATOR(pg_catalog.||) COALESCE(m.error_message, 'failed') END"
			  "  FROM migrate_ops.migrations m"
			  " WHERE (m.state OPERATOR(pg_catalog.=) 'failed'"
			  "        OR (m.state OPERATOR(pg_catalog.=) 'running' AND NOT " BACKEND_ALIVE("m") "))"
			  "   AND m.version IS DISTINCT FROM $1", &args);
	n = (int) SPI_processed;
	if (n == 0)
	{
		AddCheck(pf, "failed_migrations", "error", CHECK_OK,
				 pf->version ? "no other migration is failed" : "no migration is failed");
		return;
	}
	versions = palloc(sizeof(char *) * n);
	for (int i = 0; i < n; i++)
		versions[i] = psprintf("%s\t%s", MoSpiGetText(i, 1), MoSpiGetText(i, 2));
	qsort(versions, n, sizeof(char *), VersionCmp);
	initStringInfo(&buf);
	appendStringInfo(&buf, "%d failed migration%s pending resolution: ", n, n == 1 ? "" : "s");
	for (int i = 0; i < n; i++)
	{
		char	   *tab = strchr(versions[i], '\t');

		*tab = '\0';
		ListItem(&buf, &listed, psprintf("\"%s\" (%s)", versions[i], OneLineQuery(tab + 1)));
	}
	ListEnd(&buf, listed);
	appendStringInfoString(&buf, "; retry or fix them, or mark them with migrate_ops.resolve()");
	AddCheck(pf, "failed_migrations", "error", CHECK_FAILED, buf.data);
}

/* drift: the catalog matches the drift baseline (drift() is empty). */
static void
CheckDrift(Preflight *pf)
{
	StringInfoData buf;
	int			n;
	int			listed = 0;
	char	   *snapshot;

	if (!MoTableExists("snapshots"))
	{
		AddCheck(pf, "drift", "error", CHECK_OK,
				 "not checked: drift detection is not installed in this database");
		return;
	}
	MoSpiExec("SELECT id, pg_catalog.to_char(taken_at, 'YYYY-MM-DD HH24:MI:SS TZ')"
			  "  FROM migrate_ops.snapshots ORDER BY id DESC LIMIT 1", NULL);
	if (SPI_processed == 0)
	{
		AddCheck(pf, "drift", "error", CHECK_OK,
				 "no drift baseline yet (no snapshot): nothing to compare with");
		return;
	}
	snapshot = psprintf("snapshot %s of %s", MoSpiGetText(0, 1), MoSpiGetText(0, 2));
	MoSpiExec("SELECT kind, identity, change FROM migrate_ops.drift()", NULL);
	n = (int) SPI_processed;
	if (n == 0)
	{
		AddCheck(pf, "drift", "error", CHECK_OK, psprintf("the catalog matches %s", snapshot));
		return;
	}
	initStringInfo(&buf);
	appendStringInfo(&buf, "%d object%s differ%s from %s: ", n, n == 1 ? "" : "s",
					 n == 1 ? "s" : "", snapshot);
	for (int i = 0; i < n; i++)
		ListItem(&buf, &listed, psprintf("%s %s %s", MoSpiGetText(i, 1), MoSpiGetText(i, 2),
										 MoSpiGetText(i, 3)));
	ListEnd(&buf, listed);
	appendStringInfoString(&buf, "; see migrate_ops.drift(), then repair it or migrate_ops.accept_drift()");
	AddCheck(pf, "drift", "error", CHECK_FAILED, buf.data);
}

/* backup: the newest recorded backup is younger than migrate_ops.backup_max_age. */
static void
CheckBackup(Preflight *pf)
{
	MoArgs		args = {0};
	double		age;

	if (mo_backup_max_age == 0)
	{
		AddCheck(pf, "backup", "error", CHECK_OK, "not required (migrate_ops.backup_max_age = 0)");
		return;
	}
	MoArgInt4(&args, mo_backup_max_age);
	MoSpiExec("SELECT label, pg_catalog.to_char(taken_at, 'YYYY-MM-DD HH24:MI:SS TZ'),"
			  "       EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) taken_at)::float8"
			  "  FROM migrate_ops.backups ORDER BY taken_at DESC, id DESC LIMIT 1", &args);
	if (SPI_processed == 0)
	{
		AddCheck(pf, "backup", "error", CHECK_FAILED,
				 "no backup recorded; take one and record it with migrate_ops.record_backup()");
		return;
	}
	age = SpiFloat8(0, 3);
	AddCheck(pf, "backup", "error", age < mo_backup_max_age ? CHECK_OK : CHECK_FAILED,
			 psprintf("newest backup \"%s\" taken %s, %s ago (migrate_ops.backup_max_age: %s)%s",
					  MoSpiGetText(0, 1), MoSpiGetText(0, 2), FormatAge(age),
					  FormatAge(mo_backup_max_age),
					  age < mo_backup_max_age ? "" :
					  "; take a backup and record it with migrate_ops.record_backup()"));
}

/*
 * Sets the next SPI parameter to the lint findings as jsonb, parsed once
 * per preflight, and in a scratch context: the parser's working memory for
 * the findings of 20,000 statements is many times their size.
 */
static void
ArgFindings(MoArgs *args, Preflight *pf)
{
	if (pf->lint_jsonb == (Datum) 0)
	{
		MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "migrate_ops lint findings",
													  ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(scratch);
		Datum		parsed = DirectFunctionCall1(jsonb_in, CStringGetDatum(pf->lint_json));

		MemoryContextSwitchTo(pf->cxt);
		pf->lint_jsonb = PointerGetDatum(PG_DETOAST_DATUM_COPY(parsed));
		MemoryContextSwitchTo(old);
		MemoryContextDelete(scratch);
	}
	args->types[args->n] = JSONBOID;
	args->values[args->n] = pf->lint_jsonb;
	args->nulls[args->n++] = ' ';
}

/* approvals: a script with error-severity lint findings has enough approvals. */
static void
CheckApprovals(Preflight *pf)
{
	MoArgs		args = {0};
	StringInfoData buf;
	bool		lint_unknown = (pf->lint_json == NULL);
	int			listed = 0;
	int			valid = 0;
	int			self = 0;
	int			voided = 0;
	StringInfoData approvers;

	if (pf->script_from == NULL)
	{
		AddCheck(pf, "approvals", "error", CHECK_SKIPPED,
				 "not evaluated: no script given (approvals bind to its checksum)");
		return;
	}
	initStringInfo(&buf);
	if (!lint_unknown)
	{
		ArgFindings(&args, pf);
		MoSpiExec("SELECT f->>'rule_id', f->>'statement'"
				  "  FROM pg_catalog.jsonb_array_elements($1) f"
				  " WHERE f->>'severity' OPERATOR(pg_catalog.=) 'error'", &args);
		if (SPI_processed == 0)
		{
			AddCheck(pf, "approvals", "error", CHECK_OK,
					 "no lint finding of severity error: no approval needed");
			return;
		}
		appendStringInfoString(&buf, "lint errors: ");
		for (uint64 i = 0; i < SPI_processed; i++)
			ListItem(&buf, &listed, psprintf("%s (statement %s)", MoSpiGetText(i, 1), MoSpiGetText(i, 2)));
		ListEnd(&buf, listed);
	}
	else
		appendStringInfoString(&buf, "the lint analysis did not run, so the script counts as destructive");

	if (mo_required_approvals == 0)
	{
		appendStringInfoString(&buf, "; no approval required (migrate_ops.required_approvals = 0)");
		AddCheck(pf, "approvals", "error", CHECK_OK, buf.data);
		return;
	}
	if (pf->version == NULL)
	{
		appendStringInfoString(&buf, "; not evaluated: no version given (approvals are for a version)");
		AddCheck(pf, "approvals", "error", CHECK_SKIPPED, buf.data);
		return;
	}

	args.n = 0;
	MoArgText(&args, pf->version);
	MoArgText(&args, pf->checksum);
	MoArgText(&args, pf->role);
	MoSpiExec("SELECT approved_by, checksum OPERATOR(pg_catalog.=) $2,"
			  "       approved_by OPERATOR(pg_catalog.=) $3"
			  "  FROM migrate_ops.approvals WHERE version OPERATOR(pg_catalog.=) $1"
			  " ORDER BY approved_at, id", &args);
	initStringInfo(&approvers);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		if (!SpiBool(i, 2))
			voided++;
		else if (SpiBool(i, 3))
			self++;
		else
			appendStringInfo(&approvers, "%s%s", valid++ ? ", " : "", MoSpiGetText(i, 1));
	}
	appendStringInfo(&buf, "; approvals: %d of %d required", valid, mo_required_approvals);
	if (valid > 0)
		appendStringInfo(&buf, " (%s)", approvers.data);
	if (self > 0)
		appendStringInfo(&buf, "; not counted: the approval by %s, the role that applies", pf->role);
	if (voided > 0)
		appendStringInfo(&buf, "; void: %d approval%s of another checksum (the migration was edited since)",
						 voided, voided == 1 ? "" : "s");
	if (valid < mo_required_approvals)
		appendStringInfo(&buf, "; another role approves with SELECT migrate_ops.approve(%s, %s, 'note')",
						 quote_literal_cstr(pf->version), quote_literal_cstr(pf->checksum));
	AddCheck(pf, "approvals", "error", valid >= mo_required_approvals ? CHECK_OK : CHECK_FAILED, buf.data);
}

/* A table lock mode from its pg_locks name ("AccessShareLock"), or NoLock. */
static LOCKMODE
LockModeFromLocksName(const char *name)
{
	for (LOCKMODE m = AccessShareLock; m <= MaxLockMode; m++)
		if (strcmp(GetLockmodeName(DEFAULT_LOCKMETHOD, m), name) == 0)
			return m;
	return NoLock;
}

/* A table lock mode from lint's name ("ACCESS EXCLUSIVE"), or NoLock. */
static LOCKMODE
LockModeFromLintName(const char *name)
{
	for (LOCKMODE m = AccessShareLock; m <= MaxLockMode; m++)
		if (strcmp(MoLockModeName(m), name) == 0)
			return m;
	return NoLock;
}

/*
 * locks: no other session holds, or waits for, a lock that conflicts with
 * one the script takes on an existing relation (the locks lint reports).
 */
static void
CheckLocks(Preflight *pf)
{
	MoArgs		args = {0};
	int			nrel;
	Oid		   *relids;
	LOCKMODE   *needed;
	char	  **relnames;
	Datum	   *oid_datums;
	StringInfoData buf;
	int			listed = 0;

	if (pf->script_from == NULL)
	{
		AddCheck(pf, "locks", "error", CHECK_SKIPPED, "not evaluated: no script given");
		return;
	}
	if (pf->lint_json == NULL)
	{
		AddCheck(pf, "locks", "error", CHECK_SKIPPED,
				 "not evaluated: the lint analysis, which finds the locks the script takes, did not run");
		return;
	}

	/* the relations the script locks beyond ROW EXCLUSIVE, with the strongest mode */
	ArgFindings(&args, pf);
	MoSpiExec("SELECT pg_catalog.to_regclass(f->>'relation')::pg_catalog.oid, f->>'lock_mode'"
			  "  FROM pg_catalog.jsonb_array_elements($1) f"
			  " WHERE f->>'relation' IS NOT NULL AND f->>'lock_mode' IS NOT NULL"
			  "   AND pg_catalog.array_length(pg_catalog.parse_ident(f->>'relation'), 1)"
			  "       OPERATOR(pg_catalog.=) 2"	/* resolved by lint: schema-qualified */
			  "   AND pg_catalog.to_regclass(f->>'relation') IS NOT NULL", &args);
	relids = palloc(sizeof(Oid) * (SPI_processed + 1));
	needed = palloc(sizeof(LOCKMODE) * (SPI_processed + 1));
	relnames = palloc(sizeof(char *) * (SPI_processed + 1));
	oid_datums = palloc(sizeof(Datum) * (SPI_processed + 1));
	nrel = 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Oid			relid = SpiOid(i, 1);
		LOCKMODE	mode = LockModeFromLintName(MoSpiGetText(i, 2));
		int			j;

		if (mode == NoLock)
			continue;
		for (j = 0; j < nrel && relids[j] != relid; j++)
			;
		if (j == nrel)
		{
			relids[nrel] = relid;
			needed[nrel] = mode;
			oid_datums[nrel] = ObjectIdGetDatum(relid);
			nrel++;
		}
		else
			needed[j] = Max(needed[j], mode);
	}
	if (nrel == 0)
	{
		AddCheck(pf, "locks", "error", CHECK_OK,
				 "the script takes no lock stronger than ROW EXCLUSIVE on an existing relation");
		return;
	}
	for (int j = 0; j < nrel; j++)
	{
		char	   *rel = get_rel_name(relids[j]);

		relnames[j] = rel ? quote_qualified_identifier(get_namespace_name(get_rel_namespace(relids[j])), rel)
			: psprintf("%u", relids[j]);
	}

	/* other sessions' locks on them, with what the caller may see of their queries */
	args.n = 0;
	args.types[0] = OIDARRAYOID;
	args.values[0] = PointerGetDatum(construct_array(oid_datums, nrel, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	args.nulls[0] = ' ';
	args.n = 1;
	MoArgText(&args, pf->role);
	MoSpiExec("SELECT l.relation, l.mode, l.granted, l.pid, a.usename, a.state, a.backend_type,"
			  "       EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-)"
			  "         COALESCE(a.xact_start, a.query_start, a.backend_start))::float8,"
			  "       CASE WHEN a.pid IS NULL THEN NULL"
			  "            WHEN pg_catalog.pg_has_role($2::pg_catalog.name, 'pg_read_all_stats', 'USAGE')"
			  "              OR (a.usesysid IS NOT NULL"
			  "                  AND pg_catalog.pg_has_role($2::pg_catalog.name, a.usesysid, 'USAGE'))"
			  "            THEN a.query ELSE '<insufficient privilege>' END,"
			  "       l.virtualtransaction"
			  "  FROM pg_catalog.pg_locks l"
			  "  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid"
			  " WHERE l.locktype OPERATOR(pg_catalog.=) 'relation'"
			  "   AND l.database OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database"
			  "        WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())"
			  "   AND l.relation OPERATOR(pg_catalog.=) ANY ($1)"
			  "   AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()"
			  " ORDER BY l.pid, l.relation", &args);

	initStringInfo(&buf);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Oid			relid = SpiOid(i, 1);
		LOCKMODE	held = LockModeFromLocksName(MoSpiGetText(i, 2));
		bool		granted = SpiBool(i, 3);
		char	   *pid = MoSpiGetText(i, 4);
		char	   *user = MoSpiGetText(i, 5);
		char	   *state = MoSpiGetText(i, 6);
		char	   *backend_type = MoSpiGetText(i, 7);
		double		age = SpiFloat8(i, 8);
		char	   *query = MoSpiGetText(i, 9);
		StringInfoData who;
		int			j;

		for (j = 0; j < nrel && relids[j] != relid; j++)
			;
		if (j == nrel || held == NoLock || !DoLockModesConflict(held, needed[j]))
			continue;
		/* an ordinary autovacuum cancels itself for a conflicting lock; one against wraparound does not */
		if (backend_type && strcmp(backend_type, "autovacuum worker") == 0 &&
			(query == NULL || strstr(query, "(to prevent wraparound)") == NULL))
			continue;

		initStringInfo(&who);
		if (pid == NULL)
			appendStringInfo(&who, "a prepared transaction (%s)", MoSpiGetText(i, 10));
		else
		{
			appendStringInfo(&who, "pid %s (", pid);
			if (user)
				appendStringInfo(&who, "%s, ", user);
			if (backend_type && strcmp(backend_type, "client backend") != 0)
				appendStringInfo(&who, "%s, ", backend_type);
			appendStringInfo(&who, "%s", state ? state : "no state");
			if (!isnan(age))
				appendStringInfo(&who, ", transaction open %s", FormatAge(age));
			appendStringInfoChar(&who, ')');
		}
		ListItem(&buf, &listed,
				 psprintf("%s %s %s on %s (%s the script's %s)%s%s",
						  who.data, granted ? "holds" : "waits for", MoLockModeName(held),
						  relnames[j], granted ? "blocks" : "queued ahead of",
						  MoLockModeName(needed[j]),
						  query ? ": " : "", query ? OneLineQuery(query) : ""));
	}
	if (listed == 0)
	{
		StringInfoData rels;
		int			nlisted = 0;

		initStringInfo(&rels);
		for (int j = 0; j < nrel; j++)
			ListItem(&rels, &nlisted, psprintf("%s (%s)", relnames[j], MoLockModeName(needed[j])));
		ListEnd(&rels, nlisted);
		AddCheck(pf, "locks", "error", CHECK_OK,
				 psprintf("no other session holds a conflicting lock on %s", rels.data));
		return;
	}
	ListEnd(&buf, listed);
	AddCheck(pf, "locks", "error", CHECK_FAILED, buf.data);
}

/* True when version is in the repository's list given to preflight(). */
static bool
InExpected(Preflight *pf, const char *version)
{
	for (int e = 0; e < pf->nexpected; e++)
		if (strcmp(pf->expected[e], version) == 0)
			return true;
	return false;
}

/*
 * ordering: no earlier version is unapplied (failed or running in the
 * ledger; pending, or rolled back, in the repository's list) and no later
 * one is applied.  A rolled-back version the repository does not list was
 * reverted on purpose and does not count.
 */
static void
CheckOrdering(Preflight *pf)
{
	StringInfoData buf;
	StringInfoData earlier;
	StringInfoData later;
	int			nearlier = 0;
	int			nlater = 0;
	char	   *baseline;
	int			n;
	char	  **rows;
	char	  **unapplied;			/* "version\tlabel", sorted before listing */
	int			nunapplied = 0;

	if (pf->version == NULL)
	{
		AddCheck(pf, "ordering", "warning", CHECK_SKIPPED, "not evaluated: no version given");
		return;
	}
	baseline = BaselineVersion();
	MoSpiExec("SELECT m.version, CASE WHEN m.state OPERATOR(pg_catalog.=) 'running' AND NOT "
			  BACKEND_ALIVE("m") " THEN 'failed' ELSE m.state END"
			  "  FROM migrate_ops.migrations m"
			  " WHERE m.state OPERATOR(pg_catalog.<>) 'baselined'"
			  /* a deploy tool's versions ("prisma:...") are another sequence (tools.c) */
			  "   AND m.source OPERATOR(pg_catalog.<>) ALL ('{prisma,flyway,dbmate,golang-migrate,sqitch}')", NULL);
	n = (int) SPI_processed;
	rows = palloc(sizeof(char *) * (n + 1));
	for (int i = 0; i < n; i++)
		rows[i] = psprintf("%s\t%s", MoSpiGetText(i, 1), MoSpiGetText(i, 2));
	qsort(rows, n, sizeof(char *), VersionCmp);

	initStringInfo(&earlier);
	initStringInfo(&later);
	unapplied = palloc(sizeof(char *) * (n + pf->nexpected + 1));
	for (int i = 0; i < n; i++)
	{
		char	   *state = strchr(rows[i], '\t');
		int			cmp;

		*state++ = '\0';
		cmp = MoVersionCompare(rows[i], pf->version);
		if (cmp < 0 && (strcmp(state, "failed") == 0 || strcmp(state, "running") == 0 ||
						(strcmp(state, "rolled_back") == 0 && InExpected(pf, rows[i]))))
			unapplied[nunapplied++] = psprintf("%s\t%s", rows[i],
											   strcmp(state, "rolled_back") == 0 ? "rolled back" : state);
		else if (cmp > 0 && strcmp(state, "applied") == 0)
			ListItem(&later, &nlater, psprintf("\"%s\"", rows[i]));
	}
	/* the repository's versions the ledger does not know, before this one */
	if (pf->have_expected)
	{
		qsort(pf->expected, pf->nexpected, sizeof(char *), VersionCmp);
		for (int e = 0; e < pf->nexpected; e++)
		{
			char	   *key = pf->expected[e];
			bool		known = false;

			if (MoVersionCompare(key, pf->version) >= 0)
				break;
			if (e > 0 && strcmp(key, pf->expected[e - 1]) == 0)
				continue;		/* listed twice */
			if (baseline && MoVersionCompare(key, baseline) <= 0)
				continue;
			for (int i = 0; i < n && !known; i++)
				known = strcmp(rows[i], key) == 0;
			if (!known)
				unapplied[nunapplied++] = psprintf("%s\tpending", key);
		}
	}
	qsort(unapplied, nunapplied, sizeof(char *), VersionCmp);
	for (int i = 0; i < nunapplied; i++)
	{
		char	   *label = strchr(unapplied[i], '\t');

		*label++ = '\0';
		ListItem(&earlier, &nearlier, psprintf("\"%s\" (%s)", unapplied[i], label));
	}
	ListEnd(&earlier, nearlier);
	ListEnd(&later, nlater);

	initStringInfo(&buf);
	if (nearlier == 0 && nlater == 0)
		appendStringInfo(&buf, "in order: no earlier version is unapplied and no later one is applied");
	if (nearlier > 0)
		appendStringInfo(&buf, "earlier version%s not applied: %s", nearlier == 1 ? "" : "s", earlier.data);
	if (nlater > 0)
		appendStringInfo(&buf, "%slater version%s already applied: %s (this one would run out of order)",
						 nearlier ? "; " : "", nlater == 1 ? "" : "s", later.data);
	if (!pf->have_expected)
		appendStringInfoString(&buf, " (no repository list given: only versions the ledger knows)");
	AddCheck(pf, "ordering", "warning", nearlier == 0 && nlater == 0 ? CHECK_OK : CHECK_FAILED, buf.data);
}

/*
 * Runs the checks (SPI connected, as the owner).  preflight() runs them all;
 * the gate inside apply() leaves out those apply() decides by itself
 * (environment, the migration's own state, the deploy lock it holds).
 */
static void
RunChecks(Preflight *pf)
{
	pgstat_clear_backend_activity_snapshot();
	if (!pf->in_apply)
	{
		CheckEnvironment(pf);
		CheckMigration(pf);
		CheckDeployLock(pf);
	}
	CheckFailed(pf);
	CheckDrift(pf);
	CheckBackup(pf);
	CheckApprovals(pf);
	CheckLocks(pf);
	CheckOrdering(pf);
}

/* ---- the gate inside apply() ---- */

/* See migrate_ops.h. */
void
MoGatesCheckApply(const char *version, const char *checksum, const char *lint_json,
				  const char *role, bool nonatomic, MoOwnerState *owner)
{
	Preflight	pf = {0};
	ListCell   *lc;
	StringInfoData blocked_names;
	StringInfoData blocked_detail;
	StringInfoData warn_names;
	StringInfoData warn_detail;
	StringInfoData payload;
	int			nblocked = 0;
	int			nwarn = 0;
	bool		production = (mo_environment == MO_ENV_PRODUCTION);

	if (mo_environment == MO_ENV_DEVELOPMENT)
		return;
	if (!GatesAvailable())
	{
		ereport(WARNING,
				(errmsg("deploy gates are not installed in this database, migration \"%s\" is not checked",
						version),
				 errhint("Run ALTER EXTENSION migrate_ops UPDATE.")));
		return;
	}

	pf.cxt = CurrentMemoryContext;
	pf.version = version;
	pf.checksum = checksum;
	pf.script_from = "given";
	pf.lint_json = lint_json;
	pf.role = role;
	pf.in_apply = true;
	SPI_connect();
	RunChecks(&pf);
	SPI_finish();

	initStringInfo(&blocked_names);
	initStringInfo(&blocked_detail);
	initStringInfo(&warn_names);
	initStringInfo(&warn_detail);
	foreach(lc, pf.checks)
	{
		Check	   *c = (Check *) lfirst(lc);

		if (c->ok != CHECK_FAILED)
			continue;
		if (production && strcmp(c->severity, "error") == 0)
		{
			appendStringInfo(&blocked_names, "%s%s", nblocked ? ", " : "", c->name);
			appendStringInfo(&blocked_detail, "%s%s: %s", nblocked ? "\n" : "", c->name, c->detail);
			nblocked++;
		}
		else
		{
			appendStringInfo(&warn_names, "%s%s", nwarn ? ", " : "", c->name);
			appendStringInfo(&warn_detail, "%s%s: %s", nwarn ? "\n" : "", c->name, c->detail);
			nwarn++;
		}
	}
	if (nwarn > 0)
		ereport(WARNING,
				(errmsg("migration \"%s\": %d preflight check%s failed in %s: %s",
						version, nwarn, nwarn == 1 ? "" : "s",
						MoEnvironmentName(mo_environment), warn_names.data),
				 errdetail_internal("%s", warn_detail.data),
				 nblocked == 0 ? errhint("The deploy proceeds; in production the checks of severity error refuse it.") : 0));
	if (nblocked == 0)
		return;

	/* refused: tell the team (committed first outside a transaction block), then raise */
	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"version\": %s, \"checksum\": %s, \"environment\": \"production\", "
					 "\"database\": %s, \"role\": %s, \"checks\": [",
					 MoJsonQuote(version), MoJsonQuote(checksum),
					 MoJsonQuote(get_database_name(MyDatabaseId)), MoJsonQuote(role));
	nblocked = 0;
	foreach(lc, pf.checks)
	{
		Check	   *c = (Check *) lfirst(lc);

		if (c->ok != CHECK_FAILED)
			continue;
		appendStringInfo(&payload, "%s{\"check\": %s, \"severity\": %s, \"detail\": %s}",
						 nblocked++ ? ", " : "", MoJsonQuote(c->name), MoJsonQuote(c->severity),
						 MoJsonQuote(c->detail));
	}
	appendStringInfoString(&payload, "]}");

	MoRestoreUser(owner);
	(void) MoEmitEvent("preflight.blocked", payload.data);
	if (nonatomic)
		SPI_commit();
	ereport(ERROR,
			(errcode(ERRCODE_MO_PREFLIGHT_BLOCKED),
			 errmsg("deploy of migration \"%s\" refused in production: %s",
					version, blocked_names.data),
			 errdetail_internal("%s", blocked_detail.data),
			 errhint("Fix what the checks say and deploy again; SELECT * FROM migrate_ops.preflight(version, script) "
					 "shows every check.")));
}

/* ---- preflight() ---- */

/*
 * The script the ledger stored for version (apply()), or NULL for a
 * record-only migration; an unknown version is an error.
 */
static char *
StoredScript(const char *version)
{
	MoOwnerState owner;
	MoArgs		args = {0};
	MemoryContext cxt = CurrentMemoryContext;
	char	   *script = NULL;

	SPI_connect();
	MoBecomeOwner(&owner);
	MoArgText(&args, version);
	MoSpiExec("SELECT script FROM migrate_ops.migrations WHERE version OPERATOR(pg_catalog.=) $1", &args);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("migration \"%s\" does not exist", version),
				 errhint("Pass the script as well: migrate_ops.preflight(version, script).")));
	if (MoSpiGetText(0, 1))
		script = MemoryContextStrdup(cxt, MoSpiGetText(0, 1));
	MoRestoreUser(&owner);
	SPI_finish();
	return script;
}

/*
 * What the checks need of lint()'s findings: the errors (approvals) and the
 * locks on relations (locks), without their messages; a script of 20,000
 * statements has as many findings.
 */
static List *
GateFindings(List *findings)
{
	List	   *kept = NIL;
	ListCell   *lc;

	foreach(lc, findings)
	{
		MoLintFinding *f = (MoLintFinding *) lfirst(lc);
		MoLintFinding *k;

		if (strcmp(f->severity, "error") != 0 && (f->relation == NULL || f->lock_mode == NULL))
			continue;
		k = palloc(sizeof(MoLintFinding));
		*k = *f;
		k->command = NULL;
		k->message = NULL;
		k->safe_alternative = NULL;
		kept = lappend(kept, k);
	}
	return kept;
}

/*
 * migrate_ops.preflight(version, script, expected) → setof (check, ok,
 * severity, detail)
 * The pre-deployment checklist; checks that need a missing argument are
 * reported with ok NULL.
 */
Datum
migrate_ops_preflight(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Preflight	pf = {0};
	MoOwnerState owner;
	char	   *script;
	Jsonb	   *expected = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	ListCell   *lc;

	pf.cxt = CurrentMemoryContext;
	pf.version = MoOptionalTextArg(fcinfo, 0);
	script = MoOptionalTextArg(fcinfo, 1);
	pf.role = MoCurrentRoleName();
	if (pf.version)
		MoCheckVersion(pf.version);
	InitMaterializedSRF(fcinfo, 0);

	if (script)
		pf.script_from = "given";
	else if (pf.version && (script = StoredScript(pf.version)) != NULL)
		pf.script_from = "ledger";
	if (script)
	{
		/*
		 * Parsed and linted as the caller (names resolve through their
		 * search_path), in a context of its own: only the checksum and what
		 * the checks need of the findings outlive it.
		 */
		MemoryContext lintcxt = AllocSetContextCreate(CurrentMemoryContext, "migrate_ops preflight lint",
													  ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(lintcxt);
		List	   *statements = MoParseScript(script, "the script");
		char	   *findings = MoLintAvailable() ? MoLintFindingsJson(GateFindings(MoLint(statements))) : NULL;

		MemoryContextSwitchTo(old);
		pf.checksum = TextDatumGetCString(DirectFunctionCall1(migrate_ops_checksum,
															  CStringGetTextDatum(script)));
		pf.lint_json = findings ? pstrdup(findings) : NULL;
		MemoryContextDelete(lintcxt);
	}

	SPI_connect();
	if (expected)
	{
		char	  **checksums;

		pf.nexpected = MoReadExpected(expected, &pf.expected, &checksums);
		pf.have_expected = true;
	}
	MoBecomeOwner(&owner);
	RunChecks(&pf);
	MoRestoreUser(&owner);
	SPI_finish();

	foreach(lc, pf.checks)
	{
		Check	   *c = (Check *) lfirst(lc);
		Datum		values[4];
		bool		nulls[4] = {0};

		values[0] = CStringGetTextDatum(c->name);
		values[1] = BoolGetDatum(c->ok == CHECK_OK);
		nulls[1] = (c->ok == CHECK_SKIPPED);
		values[2] = CStringGetTextDatum(c->severity);
		if (pf.script_from && strcmp(pf.script_from, "ledger") == 0 &&
			(strcmp(c->name, "approvals") == 0 || strcmp(c->name, "locks") == 0))
			values[3] = CStringGetTextDatum(psprintf("%s (the script stored in the ledger)", c->detail));
		else
			values[3] = CStringGetTextDatum(c->detail);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---- health() and ready() ---- */

/* What health() reports (counts are -1 when unknown). */
typedef struct Health
{
	int64		failed;
	int64		running;
	int64		pending;		/* -1 without the repository's list */
	int64		drift;			/* -1: no scan, or the baseline moved since */
	char	   *last_scan_at;	/* JSON string, or NULL */
	double		last_scan_age;	/* NAN without a scan */
	bool		worker_expected;	/* preloaded, and migrate_ops.databases lists this one */
	bool		worker_alive;
	int64		backlog;		/* -1 without an outbox */
	int64		dead;
	int64		overdue;
	char	   *backup_at;		/* JSON string, or NULL */
	double		backup_age;		/* NAN without a backup */
	bool		backup_stale;
	bool		ready;
	StringInfoData reasons;		/* JSON array elements: why not ready */
} Health;

/* The health query's kept plan, and the shape of the schema it was made for. */
static SPIPlanPtr health_plan = NULL;
static int	health_shape = -1;

/* Adds a reason why the database is not ready. */
static void
NotReady(Health *h, const char *reason)
{
	appendStringInfo(&h->reasons, "%s%s", h->ready ? "" : ", ", MoJsonQuote(reason));
	h->ready = false;
}

/*
 * Prepares (and keeps for the session) the health query for a schema of
 * this shape: bit 1, drift's scans and snapshots; bit 2, the outbox.
 */
static SPIPlanPtr
HealthPlan(int shape)
{
	StringInfoData sql;
	SPIPlanPtr	plan;

	initStringInfo(&sql);
	appendStringInfoString(&sql,
						   "SELECT m.failed, m.running, s.status, s.drift, s.at, s.age, s.current,"
						   "       o.backlog, o.dead, o.overdue, b.at, b.age"
						   "  FROM (SELECT pg_catalog.count(*) FILTER (WHERE NOT alive) AS failed,"
						   "               pg_catalog.count(*) FILTER (WHERE alive) AS running"
						   "          FROM (SELECT m.state OPERATOR(pg_catalog.=) 'running' AND "
						   BACKEND_ALIVE("m") " AS alive"
						   "                  FROM migrate_ops.migrations m"
						   "                 WHERE m.state OPERATOR(pg_catalog.=) ANY ('{failed,running}')) x) m");
	if (shape & 1)
		appendStringInfoString(&sql,
							   " LEFT JOIN LATERAL (SELECT s.status,"
							   "       s.added OPERATOR(pg_catalog.+) s.removed OPERATOR(pg_catalog.+) s.changed AS drift,"
							   "       pg_catalog.to_jsonb(s.scanned_at)::text AS at,"
							   "       EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) s.scanned_at)::float8 AS age,"
							   "       s.snapshot_id IS NOT DISTINCT FROM (SELECT pg_catalog.max(id) FROM migrate_ops.snapshots) AS current"
							   "  FROM migrate_ops.scans s ORDER BY s.id DESC LIMIT 1) s ON true");
	else
		appendStringInfoString(&sql,
							   " CROSS JOIN (SELECT NULL::text AS status, NULL::integer AS drift, NULL::text AS at,"
							   "                    NULL::float8 AS age, NULL::boolean AS current) s");
	if (shape & 2)
		appendStringInfo(&sql,
						 " CROSS JOIN (SELECT (SELECT pg_catalog.count(*) FROM migrate_ops.outbox"
						 "                      WHERE state OPERATOR(pg_catalog.=) 'pending') AS backlog,"
						 "                    (SELECT pg_catalog.count(*) FROM migrate_ops.outbox"
						 "                      WHERE state OPERATOR(pg_catalog.=) 'dead') AS dead,"
						 "                    (SELECT pg_catalog.count(*) FROM migrate_ops.outbox"
						 "                      WHERE state OPERATOR(pg_catalog.=) 'pending'"
						 "                        AND next_attempt_at OPERATOR(pg_catalog.<) (pg_catalog.clock_timestamp()"
						 "                            OPERATOR(pg_catalog.-) '%d s'::pg_catalog.interval)) AS overdue) o",
						 OUTBOX_OVERDUE_S);
	else
		appendStringInfoString(&sql,
							   " CROSS JOIN (SELECT NULL::bigint AS backlog, NULL::bigint AS dead, NULL::bigint AS overdue) o");
	appendStringInfoString(&sql,
						   " LEFT JOIN LATERAL (SELECT pg_catalog.to_jsonb(taken_at)::text AS at,"
						   "       EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) taken_at)::float8 AS age"
						   "  FROM migrate_ops.backups ORDER BY taken_at DESC, id DESC LIMIT 1) b ON true");
	plan = SPI_prepare(sql.data, 0, NULL);
	if (plan == NULL || SPI_keepplan(plan) != 0)
		elog(ERROR, "migrate_ops: could not prepare the health query: %s",
			 SPI_result_code_string(SPI_result));
	pfree(sql.data);
	return plan;
}

/*
 * Reads the state health() and ready() report: a few index-backed queries
 * as the owner, nothing written.  expected may be NULL.
 */
static void
HealthCompute(Health *h, Jsonb *expected)
{
	MoOwnerState owner;
	MemoryContext outer = CurrentMemoryContext;
	char	  **versions = NULL;
	char	  **checksums;
	int			nexpected = 0;
	bool		isnull;
	int			shape;

	memset(h, 0, sizeof(*h));
	h->pending = h->drift = h->backlog = h->dead = h->overdue = -1;
	h->last_scan_age = h->backup_age = NAN;
	h->ready = true;
	initStringInfo(&h->reasons);

	SPI_connect();
	if (expected)
		nexpected = MoReadExpected(expected, &versions, &checksums);
	pgstat_clear_backend_activity_snapshot();
	MoBecomeOwner(&owner);

	/*
	 * One statement, index lookups only: the ledger's failed and running
	 * rows, the latest scan, the outbox's pending and dead rows (partial
	 * indexes: never a scan of the sent ones), the newest backup.  A part
	 * whose table this schema does not have (an older version) reads NULL.
	 * Its plan is kept for the session (planning would cost more than
	 * running it), and made again when the schema's shape changes.
	 */
	shape = (MoTableExists("scans") && MoTableExists("snapshots") ? 1 : 0) |
		(MoTableExists("outbox") ? 2 : 0);
	if (health_plan == NULL || health_shape != shape)
	{
		if (health_plan != NULL)
			SPI_freeplan(health_plan);
		health_plan = NULL;
		health_plan = HealthPlan(shape);
		health_shape = shape;
	}
	if (SPI_execute_plan(health_plan, NULL, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "migrate_ops: the health query failed");
	h->failed = SpiInt64(0, 1);
	h->running = SpiInt64(0, 2);
	if (MoSpiGetText(0, 3) != NULL)
	{
		h->last_scan_at = MemoryContextStrdup(outer, MoSpiGetText(0, 5));
		h->last_scan_age = SpiFloat8(0, 6);
		if (strcmp(MoSpiGetText(0, 3), "no_baseline") != 0 && SpiBool(0, 7))
			h->drift = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
	}
	if (MoSpiGetText(0, 8) != NULL)
	{
		h->backlog = SpiInt64(0, 8);
		h->dead = SpiInt64(0, 9);
		h->overdue = SpiInt64(0, 10);
	}
	if (MoSpiGetText(0, 11) != NULL)
	{
		h->backup_at = MemoryContextStrdup(outer, MoSpiGetText(0, 11));
		h->backup_age = SpiFloat8(0, 12);
	}
	h->backup_stale = mo_backup_max_age > 0 &&
		(isnan(h->backup_age) || h->backup_age >= mo_backup_max_age);

	if (expected)
	{
		char	   *baseline = BaselineVersion();
		ArrayType  *arr;
		Datum	   *elems = palloc(sizeof(Datum) * (nexpected + 1));
		MoArgs		args = {0};

		for (int i = 0; i < nexpected; i++)
			elems[i] = CStringGetTextDatum(versions[i]);
		arr = construct_array(elems, nexpected, TEXTOID, -1, false, TYPALIGN_INT);
		args.types[0] = TEXTARRAYOID;
		args.values[0] = PointerGetDatum(arr);
		args.nulls[0] = ' ';
		args.n = 1;
		MoSpiExec("SELECT DISTINCT e FROM pg_catalog.unnest($1) e"
				  " WHERE NOT EXISTS (SELECT 1 FROM migrate_ops.migrations m"
				  "   WHERE m.version OPERATOR(pg_catalog.=) e"
				  "     AND m.state OPERATOR(pg_catalog.=) ANY ('{applied,baselined}'))", &args);
		h->pending = 0;
		for (uint64 i = 0; i < SPI_processed; i++)
			if (baseline == NULL || MoVersionCompare(MoSpiGetText(i, 1), baseline) > 0)
				h->pending++;
	}

	h->worker_expected = gates_preloaded && MoWorkerServesDatabase(get_database_name(MyDatabaseId));
	if (gates_preloaded)
		h->worker_alive = MoWorkerIsRunning(MyDatabaseId);

	MoRestoreUser(&owner);

	if (h->failed > 0)
		NotReady(h, psprintf("%lld failed migration%s", (long long) h->failed, h->failed == 1 ? "" : "s"));
	if (h->running > 0)
		NotReady(h, psprintf("%lld migration%s running", (long long) h->running, h->running == 1 ? "" : "s"));
	if (h->pending > 0)
		NotReady(h, psprintf("%lld pending migration%s", (long long) h->pending, h->pending == 1 ? "" : "s"));
	if (h->drift > 0)
		NotReady(h, psprintf("drift: %lld object%s differ%s from the baseline", (long long) h->drift,
							 h->drift == 1 ? "" : "s", h->drift == 1 ? "s" : ""));
	if (h->worker_expected && !h->worker_alive)
		NotReady(h, "the background worker is not running");
	if (h->worker_expected && h->overdue > 0)
		NotReady(h, psprintf("%lld notification%s overdue by more than %d s", (long long) h->overdue,
							 h->overdue == 1 ? "" : "s", OUTBOX_OVERDUE_S));

	SPI_finish();
}

/* Appends "key": value for an int64 count that may be unknown (-1: null). */
static void
JsonCount(StringInfo buf, const char *key, int64 value)
{
	if (value < 0)
		appendStringInfo(buf, ", \"%s\": null", key);
	else
		appendStringInfo(buf, ", \"%s\": %lld", key, (long long) value);
}

/* Appends "key": seconds (whole) or null. */
static void
JsonAge(StringInfo buf, const char *key, double seconds)
{
	if (isnan(seconds))
		appendStringInfo(buf, ", \"%s\": null", key);
	else
		appendStringInfo(buf, ", \"%s\": %ld", key, (long) floor(Max(seconds, 0)));
}

/*
 * migrate_ops.health(expected jsonb) → jsonb
 * The state a monitoring probe needs, cheaply: readiness and why, failed and
 * running migrations, pending ones (given the repository's list), drift as
 * of the last scan, worker, outbox, newest backup, environment.
 */
Datum
migrate_ops_health(PG_FUNCTION_ARGS)
{
	Jsonb	   *expected = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	Health		h;
	StringInfoData buf;
	char	   *scan_at;
	char	   *backup_at;

	HealthCompute(&h, expected);
	scan_at = h.last_scan_at;
	backup_at = h.backup_at;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"ready\": %s, \"not_ready\": [%s], \"environment\": \"%s\", \"database\": %s",
					 h.ready ? "true" : "false", h.reasons.data, MoEnvironmentName(mo_environment),
					 MoJsonQuote(get_database_name(MyDatabaseId)));
	JsonCount(&buf, "failed", h.failed);
	JsonCount(&buf, "running", h.running);
	JsonCount(&buf, "pending", h.pending);
	JsonCount(&buf, "drift", h.drift);
	appendStringInfo(&buf, ", \"last_scan_at\": %s", scan_at ? scan_at : "null");
	JsonAge(&buf, "last_scan_age_seconds", h.last_scan_age);
	appendStringInfo(&buf, ", \"preloaded\": %s, \"worker_alive\": %s",
					 gates_preloaded ? "true" : "false",
					 h.worker_expected ? (h.worker_alive ? "true" : "false") : "null");
	JsonCount(&buf, "outbox_backlog", h.backlog);
	JsonCount(&buf, "outbox_dead", h.dead);
	JsonCount(&buf, "outbox_overdue", h.overdue);
	appendStringInfo(&buf, ", \"newest_backup_at\": %s", backup_at ? backup_at : "null");
	JsonAge(&buf, "newest_backup_age_seconds", h.backup_age);
	appendStringInfo(&buf, ", \"backup_max_age_seconds\": %d, \"backup_stale\": %s}",
					 mo_backup_max_age, h.backup_stale ? "true" : "false");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/*
 * migrate_ops.ready(expected jsonb) → boolean
 * True when no migration is failed, running or (given the list) pending, the
 * last scan found no drift, and, when preloaded, the worker runs and
 * delivers.
 */
Datum
migrate_ops_ready(PG_FUNCTION_ARGS)
{
	Jsonb	   *expected = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	Health		h;

	HealthCompute(&h, expected);
	PG_RETURN_BOOL(h.ready);
}
