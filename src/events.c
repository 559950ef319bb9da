/*
 * events.c — events (DESIGN §4).
 *
 * Every event (migration.applied, drift.detected, ddl.out_of_band, a team's
 * own via notify()) is written to migrate_ops.events inside the transaction
 * that causes it: a rolled-back deploy leaves no event, a committed one is
 * never lost.  The same statement fans the event out to the channels
 * (outbox.c); the worker delivers after commit (worker.c, http.c).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/jsonb.h"

#include "migrate_ops.h"

PG_FUNCTION_INFO_V1(migrate_ops_notify);

/* Prefixes of the events migrate_ops emits itself; notify() may not forge them. */
static const char *const reserved_prefixes[] = {
	"migration.", "drift.", "ddl.", "preflight.", "backup.", "migrate_ops.", NULL
};

/* True for lower-case dotted words of letters, digits and '_', two or more. */
bool
MoValidEventName(const char *p)
{
	int			words = 0;

	for (;;)
	{
		if (!(*p >= 'a' && *p <= 'z'))
			return false;		/* a word starts with a letter */
		while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
			p++;
		words++;
		if (*p == '\0')
			return words >= 2;
		if (*p++ != '.')
			return false;
	}
}

/* Validates an event name ("deploy.verified"), at most MO_MAX_EVENT_LEN bytes. */
void
MoCheckEventName(const char *event)
{
	if (strlen(event) > MO_MAX_EVENT_LEN || !MoValidEventName(event))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid event name \"%s\"", event),
				 errdetail("An event name is two or more lower-case words separated by dots, at most %d bytes.",
						   MO_MAX_EVENT_LEN),
				 errhint("For example 'deploy.verified'.")));
}

/*
 * Records an event in the current transaction and fans it out to the
 * channels whose filter matches (outbox.c): outbox rows for webhook and
 * slack channels, NOTIFY for notify channels.  payload is a JSON object
 * (NULL = {}).  Works with or without SPI already connected; the rows are
 * written as the extension's owner.  Returns the event's id (0 when the
 * installed schema predates events).
 */
int64
MoEmitEventJsonb(const char *event, Jsonb *payload)
{
	Oid			events = MoRelid(MO_REL_EVENTS);

	/* A 0.1.0 schema (library upgraded, ALTER EXTENSION not yet run) has no events. */
	if (!OidIsValid(events))
	{
		elog(DEBUG1, "migrate_ops: no events table, event \"%s\" not recorded", event);
		return 0;
	}
	if (payload == NULL)
		payload = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	return MoOutboxEnqueue(events, event, payload, MoCurrentRoleName());
}

/* MoEmitEventJsonb() with the payload as JSON text (an object). */
int64
MoEmitEvent(const char *event, const char *payload_json)
{
	return MoEmitEventJsonb(event, payload_json ?
							DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(payload_json))) :
							NULL);
}

/*
 * migrate_ops.notify(event text, payload jsonb) → bigint
 * A team's own event, delivered like migrate_ops' own; returns its id.
 */
Datum
migrate_ops_notify(PG_FUNCTION_ARGS)
{
	char	   *event = MoRequiredTextArg(fcinfo, 0, "event");
	Jsonb	   *payload = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	char	   *json;

	MoCheckEventName(event);
	for (int i = 0; reserved_prefixes[i]; i++)
		if (strncmp(event, reserved_prefixes[i], strlen(reserved_prefixes[i])) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event name \"%s\" is reserved for migrate_ops", event),
					 errdetail("Events under \"%s\" are emitted by migrate_ops itself.",
							   reserved_prefixes[i]),
					 errhint("Use a prefix of your own, such as 'deploy.' or your team's name.")));
	if (payload && !(JB_ROOT_IS_OBJECT(payload) && !JB_ROOT_IS_SCALAR(payload)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event payload must be a JSON object")));
	json = payload ? JsonbToCString(NULL, &payload->root, VARSIZE(payload)) : NULL;
	if (json && strlen(json) > MO_MAX_PAYLOAD_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("event payload is too large"),
				 errdetail("The payload has %zu bytes; the limit is %d.", strlen(json), MO_MAX_PAYLOAD_LEN)));

	PG_RETURN_INT64(MoEmitEventJsonb(event, payload));
}
