/*
 * outbox.c — notification channels and the transactional outbox (DESIGN §4).
 *
 * An event is fanned out when it is emitted, in the emitting transaction:
 * one migrate_ops.outbox row per enabled webhook/slack channel whose event
 * filter matches, and pg_notify('migrate_ops', envelope) when a notify
 * channel matches.  So a rolled-back deploy sends nothing and a committed one
 * is never lost.  At commit the database's worker is woken (worker.c) and
 * delivers the rows over HTTP (http.c) with no transaction open.
 *
 * Channels are managed with add_channel(), alter_channel() and
 * drop_channel(); a trigger validates every write to migrate_ops.channels,
 * a superuser's direct INSERT or UPDATE included.
 */
#include "postgres.h"

#include <limits.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "migrate_ops.h"

PG_FUNCTION_INFO_V1(migrate_ops_channels_check);
PG_FUNCTION_INFO_V1(migrate_ops_add_channel);
PG_FUNCTION_INFO_V1(migrate_ops_alter_channel);
PG_FUNCTION_INFO_V1(migrate_ops_drop_channel);
PG_FUNCTION_INFO_V1(migrate_ops_redeliver);
PG_FUNCTION_INFO_V1(migrate_ops_outbox_wake);
PG_FUNCTION_INFO_V1(migrate_ops_channels_changed);

/* URL prefixes webhook and slack channels may point to ("" = any http(s)). */
char	   *mo_allowed_urls = NULL;

/* Attempts before a delivery is dead. */
int			mo_max_attempts = 10;

/* First retry delay (ms); doubles with each attempt, with jitter. */
int			mo_retry_delay = 1000;

/* Longest retry delay (ms). */
int			mo_retry_max_delay = 3600 * 1000;

/* libcurl connect timeout (ms). */
int			mo_connect_timeout = 5000;

/* libcurl total timeout per request (ms). */
int			mo_request_timeout = 10000;

/* Deliveries claimed (and held in memory) per batch. */
int			mo_batch_size = 100;

/* Concurrent HTTP connections of one worker. */
int			mo_max_connections = 8;

/* GUC check hook: every allow-list entry must be an http(s) URL. */
static bool
CheckAllowedUrls(char **newval, void **extra, GucSource source)
{
	char	   *copy;
	char	   *tok;
	char	   *save = NULL;

	(void) extra;
	(void) source;
	if (*newval == NULL || **newval == '\0')
		return true;
	copy = pstrdup(*newval);
	for (tok = strtok_r(copy, ", \t\n", &save); tok; tok = strtok_r(NULL, ", \t\n", &save))
	{
		if (!MoIsHttpUrl(tok))
		{
			GUC_check_errdetail("\"%s\" is not an http or https URL.", tok);
			pfree(copy);
			return false;
		}
	}
	pfree(copy);
	return true;
}

/* Defines the delivery settings. */
void
OutboxInit(void)
{
	DefineCustomStringVariable("migrate_ops.allowed_urls",
							   "URL prefixes webhook and slack channels may deliver to.",
							   "Comma-separated http(s) URLs; a channel URL must have the same scheme, "
							   "host and port and a path under one of them.  Empty allows any http(s) URL.",
							   &mo_allowed_urls,
							   "",
							   PGC_SUSET, 0,
							   CheckAllowedUrls, NULL, NULL);

	DefineCustomIntVariable("migrate_ops.max_attempts",
							"Delivery attempts before an outbox row is dead.",
							NULL,
							&mo_max_attempts,
							10, 1, 1000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate_ops.retry_delay",
							"Delay before the first retry of a failed delivery; it doubles with each attempt.",
							NULL,
							&mo_retry_delay,
							1000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate_ops.retry_max_delay",
							"Longest delay between two attempts of a delivery.",
							NULL,
							&mo_retry_max_delay,
							3600 * 1000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate_ops.connect_timeout",
							"Connect timeout of a webhook or Slack request.",
							NULL,
							&mo_connect_timeout,
							5000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate_ops.request_timeout",
							"Total timeout of a webhook or Slack request.",
							NULL,
							&mo_request_timeout,
							10000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate_ops.batch_size",
							"Outbox rows the worker claims and sends at a time.",
							NULL,
							&mo_batch_size,
							100, 1, 10000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate_ops.max_connections",
							"Concurrent HTTP connections of one database worker.",
							NULL,
							&mo_max_connections,
							8, 1, 256,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
}

/* ---- channels ---- */

/* True for '*', an event name, or an event-name prefix followed by ".*". */
static bool
ValidEventPattern(const char *p)
{
	size_t		len = strlen(p);
	bool		ok;
	char	   *probe;

	if (strcmp(p, "*") == 0)
		return true;
	if (len > MO_MAX_EVENT_LEN)
		return false;
	if (len <= 2 || strcmp(p + len - 2, ".*") != 0)
		return MoValidEventName(p);
	/* "migration.*": the words before ".*" must start a valid event name */
	probe = psprintf("%.*s.x", (int) (len - 2), p);
	ok = MoValidEventName(probe);
	pfree(probe);
	return ok;
}

/* Checks a channel's event filter: a non-empty array of valid patterns. */
static void
CheckEventPatterns(ArrayType *patterns)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(patterns) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a channel's event filter must be a one-dimensional array")));
	deconstruct_array(patterns, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a channel's event filter must not be empty"),
				 errhint("Use '{*}' for every event.")));
	for (int i = 0; i < n; i++)
	{
		char	   *p;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a channel's event filter must not contain NULL")));
		p = TextDatumGetCString(elems[i]);
		if (!ValidEventPattern(p))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid event pattern \"%s\"", p),
					 errdetail("A pattern is '*', an event name such as 'migration.failed', "
							   "or a prefix followed by '.*' such as 'migration.*'.")));
	}
}

/* Text value of column name in tuple (NULL when SQL NULL). */
static char *
TupleText(HeapTuple tuple, TupleDesc desc, const char *name)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, SPI_fnumber(desc, name), desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * Validates one channel row: the rules for every write, whoever makes it.
 * url_changed says whether the allow-list applies (a new or changed URL).
 */
static void
ValidateChannel(const char *name, const char *kind, const char *url,
				ArrayType *events, const char *secret, bool url_changed)
{
	if (name == NULL || kind == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("channel name and kind must not be null")));
	if (strlen(name) == 0 || strlen(name) > 63 || !(name[0] >= 'a' && name[0] <= 'z') ||
		strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_.-") != strlen(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid channel name \"%s\"", name),
				 errdetail("A channel name starts with a lower-case letter and has at most 63 "
						   "lower-case letters, digits, '_', '.' and '-'.")));
	if (strcmp(kind, "webhook") != 0 && strcmp(kind, "slack") != 0 && strcmp(kind, "notify") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid channel kind \"%s\"", kind),
				 errhint("The kinds are 'webhook', 'slack' and 'notify'.")));
	if (strcmp(kind, "notify") == 0)
	{
		if (url != NULL || secret != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a notify channel has no URL or secret"),
					 errdetail("Notify channels deliver with pg_notify('%s', ...) to sessions that LISTEN.",
							   MO_NOTIFY_CHANNEL)));
	}
	else
	{
		if (url == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a %s channel needs a URL", kind)));
		MoCheckChannelUrl(url);
		if (url_changed && !MoUrlAllowed(url, mo_allowed_urls))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("URL is not in migrate_ops.allowed_urls"),
					 errdetail("Allowed destinations: %s.", mo_allowed_urls),
					 errhint("A superuser can extend migrate_ops.allowed_urls.")));
	}
	if (secret != NULL && secret[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a channel secret must not be empty"),
				 errhint("Use NULL for an unsigned channel.")));
	if (events == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a channel's event filter must not be null")));
	CheckEventPatterns(events);
}

/*
 * Trigger on migrate_ops.channels (BEFORE INSERT OR UPDATE): validates the
 * new row and stamps updated_at.
 */
Datum
migrate_ops_channels_check(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	newtuple;
	char	   *url;
	char	   *old_url = NULL;
	bool		isnull;
	Datum		events;
	int			attnum;
	Datum		now;
	bool		nowisnull = false;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ||
		RelationGetRelid(trigdata->tg_relation) !=
		get_relname_relid("channels", get_namespace_oid(MO_SCHEMA, false)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("migrate_ops.channels_check() must be a BEFORE INSERT OR UPDATE row trigger on migrate_ops.channels")));

	desc = trigdata->tg_relation->rd_att;
	newtuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		old_url = TupleText(trigdata->tg_trigtuple, desc, "url");
	url = TupleText(newtuple, desc, "url");
	events = heap_getattr(newtuple, SPI_fnumber(desc, "events"), desc, &isnull);

	ValidateChannel(TupleText(newtuple, desc, "name"),
					TupleText(newtuple, desc, "kind"),
					url,
					isnull ? NULL : DatumGetArrayTypeP(events),
					TupleText(newtuple, desc, "secret"),
					url != NULL && (old_url == NULL || strcmp(url, old_url) != 0));

	attnum = SPI_fnumber(desc, "updated_at");
	now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	newtuple = heap_modify_tuple_by_cols(newtuple, desc, 1, &attnum, &now, &nowisnull);
	return PointerGetDatum(newtuple);
}

/*
 * Error context callback of add_channel() and alter_channel(): an error
 * they raise is logged without the statement (log_min_error_statement),
 * whose text holds the channel's URL and secret.
 */
static void
HideStatementCallback(void *arg)
{
	(void) arg;
	errhidestmt(true);
}

/* Raises 42704 unless the channel exists (SPI connected, as the owner). */
static void
RequireChannel(const char *name)
{
	MoArgs		args = {0};

	MoArgText(&args, name);
	MoSpiExec("SELECT 1 FROM migrate_ops.channels WHERE name OPERATOR(pg_catalog.=) $1", &args);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("channel \"%s\" does not exist", name)));
}

/*
 * migrate_ops.add_channel(name, kind, url, events, secret, enabled) → void
 * Adds a channel; written as the extension owner, validated by the trigger.
 */
Datum
migrate_ops_add_channel(PG_FUNCTION_ARGS)
{
	ErrorContextCallback hide = {error_context_stack, HideStatementCallback, NULL};
	char	   *name;
	char	   *kind;
	char	   *url;
	char	   *secret;
	char	   *role = MoCurrentRoleName();
	MoOwnerState owner;
	MoArgs		args = {0};

	error_context_stack = &hide;
	name = MoRequiredTextArg(fcinfo, 0, "name");
	kind = MoRequiredTextArg(fcinfo, 1, "kind");
	url = MoOptionalTextArg(fcinfo, 2);
	secret = MoOptionalTextArg(fcinfo, 4);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("events must not be null"),
				 errhint("Use '{*}' for every event.")));
	if (PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("enabled must not be null")));
	/* validated here for a clean error; the trigger applies the same rules */
	ValidateChannel(name, kind, url, PG_GETARG_ARRAYTYPE_P(3), secret, true);

	SPI_connect();
	MoBecomeOwner(&owner);
	MoArgText(&args, name);
	MoSpiExec("SELECT 1 FROM migrate_ops.channels WHERE name OPERATOR(pg_catalog.=) $1", &args);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("channel \"%s\" already exists", name),
				 errhint("Use migrate_ops.alter_channel() to change it.")));
	MoArgText(&args, kind);
	MoArgText(&args, url);
	args.types[args.n] = TEXTARRAYOID;
	args.values[args.n] = PG_GETARG_DATUM(3);
	args.nulls[args.n++] = ' ';
	MoArgText(&args, secret);
	MoArgBool(&args, PG_GETARG_BOOL(5));
	MoArgText(&args, role);
	MoSpiExec("INSERT INTO migrate_ops.channels (name, kind, url, events, secret, enabled, created_by)"
			  " VALUES ($1, $2, $3, $4, $5, $6, $7)", &args);
	MoRestoreUser(&owner);
	SPI_finish();
	error_context_stack = hide.previous;
	PG_RETURN_VOID();
}

/*
 * migrate_ops.alter_channel(name, url, events, secret, enabled) → void
 * NULL leaves a setting as it is; secret '' removes the secret.
 */
Datum
migrate_ops_alter_channel(PG_FUNCTION_ARGS)
{
	ErrorContextCallback hide = {error_context_stack, HideStatementCallback, NULL};
	char	   *name;
	char	   *new_url;
	char	   *new_secret;
	MoOwnerState owner;
	MoArgs		args = {0};
	bool		isnull;
	char	   *kind;
	char	   *url;
	char	   *secret;
	ArrayType  *events;

	error_context_stack = &hide;
	name = MoRequiredTextArg(fcinfo, 0, "name");
	new_url = MoOptionalTextArg(fcinfo, 1);
	new_secret = MoOptionalTextArg(fcinfo, 3);
	SPI_connect();
	MoBecomeOwner(&owner);
	RequireChannel(name);
	MoArgText(&args, name);

	/* the channel as it would become, validated here for a clean error (the trigger checks again) */
	MoSpiExec("SELECT kind, url, events, secret FROM migrate_ops.channels"
			  " WHERE name OPERATOR(pg_catalog.=) $1", &args);
	kind = MoSpiGetText(0, 1);
	url = MoSpiGetText(0, 2);
	events = PG_ARGISNULL(2) ? DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull))
		: PG_GETARG_ARRAYTYPE_P(2);
	secret = MoSpiGetText(0, 4);
	if (new_secret)
		secret = new_secret[0] ? new_secret : NULL;
	ValidateChannel(name, kind, new_url ? new_url : url, events, secret,
					new_url != NULL && (url == NULL || strcmp(new_url, url) != 0));

	MoArgText(&args, MoOptionalTextArg(fcinfo, 1));
	args.types[args.n] = TEXTARRAYOID;
	args.values[args.n] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	args.nulls[args.n++] = PG_ARGISNULL(2) ? 'n' : ' ';
	MoArgText(&args, MoOptionalTextArg(fcinfo, 3));
	args.types[args.n] = BOOLOID;
	args.values[args.n] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	args.nulls[args.n++] = PG_ARGISNULL(4) ? 'n' : ' ';
	MoSpiExec("UPDATE migrate_ops.channels"
			  "   SET url = COALESCE($2, url), events = COALESCE($3, events),"
			  "       secret = CASE WHEN $4 IS NULL THEN secret"
			  "                     WHEN $4 OPERATOR(pg_catalog.=) '' THEN NULL ELSE $4 END,"
			  "       enabled = COALESCE($5, enabled)"
			  " WHERE name OPERATOR(pg_catalog.=) $1", &args);
	MoRestoreUser(&owner);
	SPI_finish();
	error_context_stack = hide.previous;

	/* a re-enabled channel or a fixed URL: pending rows may be deliverable now */
	MoWakeWorkerAtCommit();
	PG_RETURN_VOID();
}

/*
 * migrate_ops.drop_channel(name) → bigint
 * Removes a channel and its pending deliveries (sent and dead rows stay as
 * history); returns the number of pending deliveries discarded.
 */
Datum
migrate_ops_drop_channel(PG_FUNCTION_ARGS)
{
	char	   *name = MoRequiredTextArg(fcinfo, 0, "name");
	MoOwnerState owner;
	MoArgs		args = {0};
	int64		discarded;

	SPI_connect();
	MoBecomeOwner(&owner);
	RequireChannel(name);
	MoArgText(&args, name);
	MoSpiExec("DELETE FROM migrate_ops.outbox"
			  " WHERE channel OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) 'pending'", &args);
	discarded = (int64) SPI_processed;
	MoSpiExec("DELETE FROM migrate_ops.channels WHERE name OPERATOR(pg_catalog.=) $1", &args);
	MoRestoreUser(&owner);
	SPI_finish();
	PG_RETURN_INT64(discarded);
}

/*
 * migrate_ops.redeliver(channel DEFAULT NULL) → bigint
 * Makes dead deliveries (of one channel, or all) pending again, with a
 * fresh attempt count; returns how many.
 */
Datum
migrate_ops_redeliver(PG_FUNCTION_ARGS)
{
	char	   *channel = MoOptionalTextArg(fcinfo, 0);
	MoOwnerState owner;
	MoArgs		args = {0};
	int64		n;

	SPI_connect();
	MoBecomeOwner(&owner);
	if (channel)
		RequireChannel(channel);
	MoArgText(&args, channel);
	MoSpiExec("UPDATE migrate_ops.outbox"
			  "   SET state = 'pending', attempts = 0, next_attempt_at = pg_catalog.now(), claimed_by = NULL"
			  " WHERE state OPERATOR(pg_catalog.=) 'dead'"
			  "   AND ($1 IS NULL OR channel OPERATOR(pg_catalog.=) $1)", &args);
	n = (int64) SPI_processed;
	MoRestoreUser(&owner);
	SPI_finish();
	if (n > 0)
		MoWakeWorkerAtCommit();
	PG_RETURN_INT64(n);
}

/*
 * Trigger on migrate_ops.outbox (AFTER INSERT, per statement): wakes the
 * database's worker at commit whichever way rows arrived.
 */
Datum
migrate_ops_outbox_wake(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("migrate_ops.outbox_wake() can only be called as a trigger")));
	MoWakeWorkerAtCommit();
	return PointerGetDatum(NULL);
}

/*
 * Trigger on migrate_ops.channels (AFTER, FOR EACH STATEMENT, any change):
 * sends a relcache invalidation of the table, so every session's channel
 * cache (below) is reloaded before its next event.
 */
Datum
migrate_ops_channels_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		RelationGetRelid(trigdata->tg_relation) !=
		get_relname_relid("channels", get_namespace_oid(MO_SCHEMA, false)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("migrate_ops.channels_changed() must be a statement trigger on migrate_ops.channels")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

/* ---- the channel cache ---- */

/*
 * The enabled channels of this database, as each session last read them:
 * most events match no channel, and this lets them skip the fan-out query.
 * A change to migrate_ops.channels invalidates it in every session (the
 * channels_changed trigger sends a relcache invalidation, processed at the
 * latest when the next event is emitted).
 */
typedef struct CachedChannel
{
	bool		notify;			/* kind 'notify' (else webhook or slack) */
	List	   *patterns;		/* char *, the channel's event filter */
} CachedChannel;

static List *channel_cache = NIL;
static bool channel_cache_valid = false;
static Oid	channel_cache_relid = InvalidOid;
static MemoryContext channel_cache_cxt = NULL;

/* Relcache callback: a change to migrate_ops.channels (or to everything). */
static void
ChannelCacheInvalidate(Datum arg, Oid relid)
{
	(void) arg;
	if (relid == InvalidOid || relid == channel_cache_relid)
		channel_cache_valid = false;
}

/* Reads the enabled channels into the cache (as the owner, through SPI of its own). */
static void
ChannelCacheLoad(void)
{
	MemoryContext old;
	MoOwnerState owner;

	if (channel_cache_cxt == NULL)
	{
		channel_cache_cxt = AllocSetContextCreate(CacheMemoryContext, "migrate_ops channel cache",
												  ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(ChannelCacheInvalidate, (Datum) 0);
	}
	MemoryContextReset(channel_cache_cxt);
	channel_cache = NIL;
	channel_cache_valid = true;	/* before reading: an invalidation during the read wins */
	channel_cache_relid = get_relname_relid("channels", get_namespace_oid(MO_SCHEMA, false));

	SPI_connect();
	MoBecomeOwner(&owner);
	MoSpiExec("SELECT kind OPERATOR(pg_catalog.=) 'notify', events FROM migrate_ops.channels WHERE enabled", NULL);
	old = MemoryContextSwitchTo(channel_cache_cxt);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		CachedChannel *ch = palloc0(sizeof(CachedChannel));
		bool		isnull;
		Datum		events;

		ch->notify = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		events = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			n;

			deconstruct_array(DatumGetArrayTypeP(events), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &nulls, &n);
			for (int j = 0; j < n; j++)
				if (!nulls[j])
					ch->patterns = lappend(ch->patterns, TextDatumGetCString(elems[j]));
		}
		channel_cache = lappend(channel_cache, ch);
	}
	MemoryContextSwitchTo(old);
	MoRestoreUser(&owner);
	SPI_finish();
}

/* Whether an event filter pattern ('*', 'a.b', 'a.*') matches event. */
static bool
PatternMatches(const char *pattern, const char *event)
{
	size_t		len = strlen(pattern);

	if (strcmp(pattern, "*") == 0 || strcmp(pattern, event) == 0)
		return true;
	return len >= 2 && strcmp(pattern + len - 2, ".*") == 0 &&
		strncmp(event, pattern, len - 1) == 0;
}

/* Which kinds of enabled channels match event, from the cache. */
static void
ChannelsMatching(const char *event, bool *queue, bool *notify)
{
	ListCell   *lc;

	AcceptInvalidationMessages();	/* see channels committed since the last event */
	if (!channel_cache_valid)
		ChannelCacheLoad();
	*queue = *notify = false;
	foreach(lc, channel_cache)
	{
		CachedChannel *ch = (CachedChannel *) lfirst(lc);
		ListCell   *lp;

		foreach(lp, ch->patterns)
		{
			if (PatternMatches((char *) lfirst(lp), event))
			{
				if (ch->notify)
					*notify = true;
				else
					*queue = true;
				break;
			}
		}
	}
}

/* ---- fan-out ---- */

/*
 * Queues NOTIFY of an event envelope on the migrate_ops channel, delivered
 * by PostgreSQL at commit.  An envelope over NOTIFY's limit is sent without
 * its payload and with "truncated": true (the event row has it all).
 */
static void
NotifyEnvelope(const char *envelope, int64 id, const char *event, Jsonb *jenv)
{
	StringInfoData buf;
	JsonbValue *v;

	if (strlen(envelope) <= MO_NOTIFY_MAX_PAYLOAD)
	{
		Async_Notify(MO_NOTIFY_CHANNEL, envelope);
		return;
	}
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"id\": " INT64_FORMAT ", \"event\": ", id);
	escape_json(&buf, event);
	appendStringInfoString(&buf, ", \"database\": ");
	escape_json(&buf, get_database_name(MyDatabaseId));
	v = getKeyJsonValueFromContainer(&jenv->root, "occurred_at", strlen("occurred_at"), NULL);
	if (v && v->type == jbvString)
	{
		appendStringInfoString(&buf, ", \"occurred_at\": ");
		escape_json(&buf, pnstrdup(v->val.string.val, v->val.string.len));
	}
	appendStringInfo(&buf, ", \"truncated\": true, \"size\": %zu}", strlen(envelope));
	Async_Notify(MO_NOTIFY_CHANNEL, buf.data);
}

/*
 * The events row alone, for an event no channel wants (the common case:
 * ddl.out_of_band at the commit of every out-of-band DDL transaction):
 * written directly (MoRowWriter), without a query.  Returns its id.
 */
static int64
EventInsert(Oid events, const char *event, Jsonb *payload, const char *role)
{
	Oid			seq = MoRelid(MO_REL_EVENTS_SEQ);
	MoRowWriter w;
	int64		id;

	if (!OidIsValid(seq))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("migrate_ops.events_id_seq does not exist")));
	MoRowWriterOpen(&w, events, "migrate_ops.events");
	id = nextval_internal(seq, false);
	MoRowWriterBegin(&w);
	MoRowWriterSet(&w, MoRowWriterColumn(&w, "id"), Int64GetDatum(id), false);
	MoRowWriterSetText(&w, MoRowWriterColumn(&w, "event"), event);
	MoRowWriterSet(&w, MoRowWriterColumn(&w, "payload"), PointerGetDatum(payload), false);
	MoRowWriterSet(&w, MoRowWriterColumn(&w, "created_at"),
				   TimestampTzGetDatum(GetCurrentTimestamp()), false);	/* clock_timestamp() */
	MoRowWriterSetText(&w, MoRowWriterColumn(&w, "created_by"), role);
	MoRowWriterInsert(&w);
	MoRowWriterClose(&w);
	return id;
}

/*
 * Records an event and fans it out: the events row, one outbox row per
 * matching enabled webhook/slack channel, and the envelope for NOTIFY when
 * a notify channel matches — one statement, run as the extension owner.
 * An event no channel wants is its row alone, written directly.  Works
 * with or without SPI connected.  Returns the event's id.
 */
int64
MoOutboxEnqueue(Oid events, const char *event, Jsonb *payload, const char *role)
{
	static SPIPlanPtr plan = NULL;
	MoOwnerState owner;
	MoArgs		args = {0};
	bool		any_queue;
	bool		any_notify;
	bool		isnull;
	int64		id;
	int64		queued;
	Datum		envelope;

	/* No channel wants it (the common case): the event row alone. */
	ChannelsMatching(event, &any_queue, &any_notify);
	if (!any_queue && !any_notify)
		return EventInsert(events, event, payload, role);

	MoArgText(&args, event);
	MoArgJsonbValue(&args, payload);
	MoArgText(&args, role);
	SPI_connect();
	MoBecomeOwner(&owner);
	MoSpiExecPlan(&plan, "WITH e AS ("
			  "  INSERT INTO migrate_ops.events (event, payload, created_by) VALUES ($1, $2, $3)"
			  "  RETURNING id, pg_catalog.jsonb_build_object('id', id, 'event', event,"
			  "    'database', pg_catalog.current_database(), 'occurred_at', created_at,"
			  "    'role', created_by, 'payload', payload) AS envelope),"
			  " ch AS ("
			  "  SELECT c.name, c.kind FROM migrate_ops.channels c"
			  "   WHERE c.enabled AND EXISTS (SELECT FROM pg_catalog.unnest(c.events) AS p(p)"
			  "     WHERE p.p OPERATOR(pg_catalog.=) '*' OR p.p OPERATOR(pg_catalog.=) $1"
			  "        OR (pg_catalog.\"right\"(p.p, 2) OPERATOR(pg_catalog.=) '.*'"
			  "            AND pg_catalog.starts_with($1, pg_catalog.\"left\"(p.p, -1))))),"
			  " ins AS ("
			  "  INSERT INTO migrate_ops.outbox (event_id, event, channel, payload)"
			  "  SELECT e.id, $1, ch.name, e.envelope FROM e, ch"
			  "   WHERE ch.kind OPERATOR(pg_catalog.<>) 'notify' RETURNING 1)"
			  " SELECT e.id, (SELECT pg_catalog.count(*) FROM ins),"
			  "        CASE WHEN EXISTS (SELECT FROM ch WHERE ch.kind OPERATOR(pg_catalog.=) 'notify')"
			  "             THEN e.envelope END"
			  "   FROM e", &args);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	queued = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	envelope = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	if (!isnull)
	{
		Jsonb	   *jenv = DatumGetJsonbP(envelope);

		NotifyEnvelope(JsonbToCString(NULL, &jenv->root, VARSIZE(jenv)), id, event, jenv);
	}
	MoRestoreUser(&owner);
	SPI_finish();
	if (queued > 0)
		MoWakeWorkerAtCommit();
	return id;
}
