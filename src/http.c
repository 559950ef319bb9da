/*
 * http.c — webhook and Slack delivery over libcurl (DESIGN §4).
 *
 * URLs are parsed by libcurl's own URL API: only http and https, with a
 * host; the allow-list compares scheme, host, port and path segments, never
 * raw string prefixes.  Bodies are signed with PostgreSQL's HMAC-SHA256
 * (pg_hmac).  A batch is sent with the libcurl multi interface by the
 * database worker, with no transaction open; the multi handle (and with it
 * libcurl's connection cache) lives as long as the worker.
 */
#include "postgres.h"

#include <curl/curl.h>

#include "common/hmac.h"
#include "common/sha2.h"
#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/wait_event.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "migrate_ops.h"

/* Longest URL a channel may have (bytes). */
#define MO_MAX_URL_LEN		2048

/* Response bytes kept for the error message of a failed delivery. */
#define MO_RESPONSE_KEEP	300

/* A URL split by libcurl; fixed buffers, so nothing is palloc'd while libcurl memory is held. */
typedef struct MoUrlParts
{
	char		scheme[16];
	char		host[MO_MAX_URL_LEN + 1];
	char		port[16];
	char		path[MO_MAX_URL_LEN + 1];
} MoUrlParts;

/* Copies one part of h into buf (empty when absent) and frees libcurl's copy. */
static bool
UrlPart(CURLU *h, CURLUPart what, unsigned int flags, char *buf, size_t size)
{
	char	   *part = NULL;
	CURLUcode	rc = curl_url_get(h, what, &part, flags);
	bool		ok = true;

	buf[0] = '\0';
	if (rc == CURLUE_OK && part != NULL)
	{
		if (strlen(part) >= size)
			ok = false;
		else
			strcpy(buf, part);
	}
	curl_free(part);
	return ok;
}

/*
 * Parses an absolute URL with libcurl.  Returns CURLUE_OK, or the libcurl
 * error code (CURLUE_MALFORMED_INPUT for a URL too long or a part too big).
 */
static CURLUcode
ParseUrl(const char *url, MoUrlParts *parts)
{
	CURLU	   *h;
	CURLUcode	rc;

	if (strlen(url) > MO_MAX_URL_LEN)
		return CURLUE_MALFORMED_INPUT;
	h = curl_url();
	if (h == NULL)
		return CURLUE_OUT_OF_MEMORY;
	rc = curl_url_set(h, CURLUPART_URL, url, 0);
	if (rc == CURLUE_OK &&
		!(UrlPart(h, CURLUPART_SCHEME, 0, parts->scheme, sizeof(parts->scheme)) &&
		  UrlPart(h, CURLUPART_HOST, 0, parts->host, sizeof(parts->host)) &&
		  UrlPart(h, CURLUPART_PORT, CURLU_DEFAULT_PORT, parts->port, sizeof(parts->port)) &&
		  UrlPart(h, CURLUPART_PATH, 0, parts->path, sizeof(parts->path))))
		rc = CURLUE_MALFORMED_INPUT;
	curl_url_cleanup(h);
	if (rc == CURLUE_OK && parts->path[0] == '\0')
		strcpy(parts->path, "/");
	return rc;
}

/*
 * True when url is written as an absolute http(s) URL: "http://" or
 * "https://" and a host right after it, no white space or control
 * character anywhere.  libcurl is lenient ("http:///x" and "http:/x" are
 * host x to it); the channel's CHECK constraint and the worker must agree
 * on what a URL is, so the written form is checked too.
 */
static bool
HttpUrlWritten(const char *url)
{
	const char *p;

	if (pg_strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (pg_strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return false;
	if (*p == '\0' || strchr("/?#@", *p) != NULL)
		return false;
	for (p = url; *p; p++)
		if ((unsigned char) *p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* True when url is an absolute http or https URL with a host. */
static bool
IsHttpUrl(const char *url, MoUrlParts *parts)
{
	if (ParseUrl(url, parts) != CURLUE_OK)
		return false;
	return (pg_strcasecmp(parts->scheme, "http") == 0 || pg_strcasecmp(parts->scheme, "https") == 0) &&
		parts->host[0] != '\0' && HttpUrlWritten(url);
}

/* Raises 22023 unless url is an http(s) URL libcurl can parse. */
void
MoCheckChannelUrl(const char *url)
{
	MoUrlParts *parts = palloc(sizeof(MoUrlParts));
	CURLUcode	rc = ParseUrl(url, parts);

	if (rc == CURLUE_UNSUPPORTED_SCHEME)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("only http and https URLs are allowed"),
				 errhint("Webhook and Slack channels deliver with an HTTP POST.")));
	if (rc != CURLUE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid channel URL"),
				 errdetail("%s", strlen(url) > MO_MAX_URL_LEN
						   ? psprintf("A URL has at most %d bytes.", MO_MAX_URL_LEN)
						   : psprintf("libcurl: %s.", curl_url_strerror(rc)))));
	if (!IsHttpUrl(url, parts))
	{
		if (pg_strcasecmp(parts->scheme, "http") == 0 || pg_strcasecmp(parts->scheme, "https") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid channel URL"),
					 errdetail("An http(s) URL is written scheme://host[:port][/path], with no white space or control character.")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("only http and https URLs are allowed"),
				 errdetail("The URL's scheme is \"%s\"%s.", parts->scheme,
						   parts->host[0] == '\0' ? " and it has no host" : ""),
				 errhint("Webhook and Slack channels deliver with an HTTP POST.")));
	}
	pfree(parts);
}

/* True when url is an http(s) URL (for the allow-list's own syntax check). */
bool
MoIsHttpUrl(const char *url)
{
	MoUrlParts *parts = palloc(sizeof(MoUrlParts));
	bool		ok = IsHttpUrl(url, parts);

	pfree(parts);
	return ok;
}

/* True when path is prefix, or lies under it at a segment boundary. */
static bool
PathUnder(const char *path, const char *prefix)
{
	size_t		len = strlen(prefix);

	if (strncmp(path, prefix, len) != 0)
		return false;
	return prefix[len - 1] == '/' || path[len] == '\0' || path[len] == '/';
}

/*
 * True when url may be delivered to under allow_list (comma- or
 * space-separated http(s) URL prefixes): same scheme, host (case-insensitive)
 * and port as one entry, and a path under that entry's path.  An empty list
 * allows every http(s) URL.
 */
bool
MoUrlAllowed(const char *url, const char *allow_list)
{
	MoUrlParts *target = palloc(sizeof(MoUrlParts));
	MoUrlParts *entry = palloc(sizeof(MoUrlParts));
	char	   *copy;
	char	   *tok;
	char	   *save = NULL;
	bool		allowed = false;

	if (!IsHttpUrl(url, target))
		return false;
	if (allow_list == NULL || allow_list[0] == '\0')
		return true;
	copy = pstrdup(allow_list);
	for (tok = strtok_r(copy, ", \t\n", &save); tok && !allowed; tok = strtok_r(NULL, ", \t\n", &save))
	{
		if (!IsHttpUrl(tok, entry))
			continue;
		allowed = pg_strcasecmp(entry->scheme, target->scheme) == 0 &&
			pg_strcasecmp(entry->host, target->host) == 0 &&
			strcmp(entry->port, target->port) == 0 &&
			PathUnder(target->path, entry->path);
	}
	pfree(copy);
	pfree(target);
	pfree(entry);
	return allowed;
}

/* HMAC-SHA256 of data keyed with key, as 64 lower-case hex digits (pg_hmac). */
char *
MoHmacSha256Hex(const char *key, const char *data, size_t len)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);

	if (ctx == NULL ||
		pg_hmac_init(ctx, (const uint8 *) key, strlen(key)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_hmac_final(ctx, digest, sizeof(digest)) < 0)
	{
		const char *why = ctx ? MO_HMAC_ERROR(ctx) : "out of memory";

		pg_hmac_free(ctx);
		elog(ERROR, "could not compute HMAC-SHA256: %s", why);
	}
	pg_hmac_free(ctx);
	hex_encode((const char *) digest, PG_SHA256_DIGEST_LENGTH, hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	return hex;
}

/* ---- Slack ---- */

/* A JSON value as display text (strings unquoted), or NULL for null/absent. */
static char *
JsonText(JsonbValue *v)
{
	if (v == NULL)
		return NULL;
	switch (v->type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvBinary:
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
		default:
			return NULL;
	}
}

/* Member key of a JSON object container as text, or NULL. */
static char *
JsonField(JsonbContainer *obj, const char *key)
{
	if (obj == NULL)
		return NULL;
	return JsonText(getKeyJsonValueFromContainer(obj, key, strlen(key), NULL));
}

/* Appends text escaped for Slack mrkdwn (&, <, >), cut at max bytes with "…". */
static void
AppendSlackText(StringInfo buf, const char *text, int max)
{
	int			len = strlen(text);
	int			cut = len > max ? pg_mbcliplen(text, len, max) : len;

	for (int i = 0; i < cut; i++)
	{
		switch (text[i])
		{
			case '&':
				appendStringInfoString(buf, "&amp;");
				break;
			case '<':
				appendStringInfoString(buf, "&lt;");
				break;
			case '>':
				appendStringInfoString(buf, "&gt;");
				break;
			default:
				appendStringInfoChar(buf, text[i]);
		}
	}
	if (cut < len)
		appendStringInfoString(buf, "…");
}

/* The one-line summary of an event: what happened, where, which version, who. */
static char *
SlackHeadline(const char *event, const char *database, JsonbContainer *payload, const char *role)
{
	StringInfoData buf;
	char	   *version = JsonField(payload, "version");
	char	   *who = JsonField(payload, "applied_by");
	const char *emoji = ":bell:";
	const char *what = NULL;

	if (who == NULL)
		who = JsonField(payload, "role");
	if (who == NULL)
		who = (char *) role;

	if (strcmp(event, "migration.started") == 0)
		emoji = ":arrow_forward:", what = "started";
	else if (strcmp(event, "migration.applied") == 0)
		emoji = ":white_check_mark:", what = "applied";
	else if (strcmp(event, "migration.failed") == 0)
		emoji = ":x:", what = "failed";
	else if (strcmp(event, "migration.rolled_back") == 0)
		emoji = ":leftwards_arrow_with_hook:", what = "rolled back";

	initStringInfo(&buf);
	if (what != NULL)
	{
		char	   *ms = JsonField(payload, "duration_ms");

		appendStringInfo(&buf, "%s Migration `", emoji);
		AppendSlackText(&buf, version ? version : "?", 200);
		appendStringInfo(&buf, "` %s on *", what);
		AppendSlackText(&buf, database, 100);
		appendStringInfoChar(&buf, '*');
		if (ms && strcmp(event, "migration.applied") == 0)
		{
			double		d = strtod(ms, NULL);

			if (d < 1000)
				appendStringInfo(&buf, " in %.0f ms", d);
			else
				appendStringInfo(&buf, " in %.1f s", d / 1000.0);
		}
	}
	else
	{
		if (strcmp(event, "drift.detected") == 0)
			emoji = ":warning:", what = "Schema drift detected";
		else if (strcmp(event, "drift.resolved") == 0)
			emoji = ":white_check_mark:", what = "Schema drift resolved";
		else if (strcmp(event, "drift.accepted") == 0)
			emoji = ":memo:", what = "Schema drift accepted as the new baseline";
		else if (strcmp(event, "ddl.out_of_band") == 0)
			emoji = ":eyes:", what = "DDL outside a migration";
		else if (strcmp(event, "preflight.blocked") == 0)
			emoji = ":no_entry:", what = "Deploy blocked by preflight";
		else if (strcmp(event, "backup.stale") == 0)
			emoji = ":hourglass:", what = "Backup is stale";
		if (what)
			appendStringInfo(&buf, "%s %s on *", emoji, what);
		else
		{
			appendStringInfo(&buf, "%s `", emoji);
			AppendSlackText(&buf, event, 64);
			appendStringInfoString(&buf, "` on *");
		}
		AppendSlackText(&buf, database, 100);
		appendStringInfoChar(&buf, '*');
		if (version)
		{
			appendStringInfoString(&buf, " (migration `");
			AppendSlackText(&buf, version, 200);
			appendStringInfoString(&buf, "`)");
		}
	}
	if (who)
	{
		appendStringInfoString(&buf, " by ");
		AppendSlackText(&buf, who, 100);
	}
	return buf.data;
}

/* Appends field number n (0-based) of the Slack "fields" section; text is scratch space. */
static void
AppendSlackField(StringInfo out, StringInfo text, const char *key, const char *val, int n)
{
	appendStringInfoString(out, n == 0 ? ", {\"type\": \"section\", \"fields\": [" : ", ");
	resetStringInfo(text);
	appendStringInfoChar(text, '*');
	AppendSlackText(text, key, 60);
	appendStringInfoString(text, "*\n");
	AppendSlackText(text, val, 150);
	appendStringInfoString(out, "{\"type\": \"mrkdwn\", \"text\": ");
	escape_json(out, text->data);
	appendStringInfoChar(out, '}');
}

/*
 * Appends up to five lines "• what `identity` how" for the array key of the
 * payload (drift's "objects", DDL capture's "commands"), and "…" for more.
 */
static void
AppendSlackList(StringInfo text, JsonbContainer *payload, const char *key)
{
	static const char *const parts[] = {
		"command_tag", "kind", "object_type", "identity", "object_identity", "change", "role", NULL
	};
	JsonbValue *arr = getKeyJsonValueFromContainer(payload, key, strlen(key), NULL);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n = 0;

	if (arr == NULL || arr->type != jbvBinary || !JsonContainerIsArray(arr->val.binary.data))
		return;
	it = JsonbIteratorInit(arr->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM || v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			continue;
		if (n++ == 5)
		{
			appendStringInfoString(text, "\n…");
			break;
		}
		appendStringInfoString(text, "\n•");
		for (int i = 0; parts[i]; i++)
		{
			char	   *val = JsonField(v.val.binary.data, parts[i]);
			bool		ident = strstr(parts[i], "identity") != NULL;

			if (val == NULL)
				continue;
			appendStringInfoString(text, ident ? " `" : " ");
			AppendSlackText(text, val, 120);
			if (ident)
				appendStringInfoChar(text, '`');
		}
	}
}

/*
 * The Slack message for an event envelope: "text" (the headline, shown in
 * notifications) and "blocks": the headline, the error of a failure, up to
 * ten payload fields, and a context line.  No links.
 */
char *
MoSlackBody(Jsonb *envelope)
{
	JsonbContainer *root = &envelope->root;
	char	   *event = JsonField(root, "event");
	char	   *database = JsonField(root, "database");
	char	   *id = JsonField(root, "id");
	char	   *at = JsonField(root, "occurred_at");
	char	   *role = JsonField(root, "role");
	JsonbValue *pv = getKeyJsonValueFromContainer(root, "payload", strlen("payload"), NULL);
	JsonbContainer *payload = (pv && pv->type == jbvBinary) ? pv->val.binary.data : NULL;
	char	   *headline;
	StringInfoData text;
	StringInfoData out;
	int			nfields = 0;

	if (event == NULL)
		event = "event";
	if (database == NULL)
		database = "?";
	headline = SlackHeadline(event, database, payload, role);

	initStringInfo(&out);
	appendStringInfoString(&out, "{\"text\": ");
	escape_json(&out, headline);
	appendStringInfoString(&out, ", \"blocks\": [{\"type\": \"section\", \"text\": {\"type\": \"mrkdwn\", \"text\": ");
	initStringInfo(&text);
	appendStringInfoString(&text, headline);
	if (payload)
	{
		JsonbValue *err = getKeyJsonValueFromContainer(payload, "error", strlen("error"), NULL);
		char	   *msg = NULL;

		if (err && err->type == jbvBinary)
			msg = JsonField(err->val.binary.data, "message");
		else
			msg = JsonText(err);
		if (msg)
		{
			appendStringInfoString(&text, "\n> ");
			AppendSlackText(&text, msg, 500);
		}
		AppendSlackList(&text, payload, "objects");		/* drift.*: what changed */
		AppendSlackList(&text, payload, "commands");	/* ddl.out_of_band: which DDL */
	}
	escape_json(&out, text.data);
	appendStringInfoString(&out, "}}");

	/* up to ten payload fields, scalars only, the telling ones first */
	if (payload && JsonContainerIsObject(payload))
	{
		static const char *const preferred[] = {
			"version", "state", "description", "applied_by", "duration_ms", "count",
			"added", "removed", "changed", "reason", "accepted_by", "role", "application_name", NULL
		};
		JsonbIterator *it;
		JsonbValue	k;
		JsonbValue	v;
		JsonbIteratorToken tok;

		for (int i = 0; preferred[i] && nfields < 10; i++)
		{
			char	   *val = JsonText(getKeyJsonValueFromContainer(payload, preferred[i],
																	strlen(preferred[i]), NULL));

			if (val)
				AppendSlackField(&out, &text, preferred[i], val, nfields++);
		}
		it = JsonbIteratorInit(payload);
		while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		{
			char	   *key;
			char	   *val;
			bool		done = false;

			if (tok != WJB_KEY)
				continue;
			tok = JsonbIteratorNext(&it, &v, true);
			if (nfields >= 10 || v.type == jbvBinary || (val = JsonText(&v)) == NULL)
				continue;
			key = pnstrdup(k.val.string.val, k.val.string.len);
			for (int i = 0; preferred[i]; i++)
				done |= (strcmp(key, preferred[i]) == 0);
			if (!done)
				AppendSlackField(&out, &text, key, val, nfields++);
		}
		if (nfields > 0)
			appendStringInfoString(&out, "]}");
	}

	resetStringInfo(&text);
	appendStringInfo(&text, "migrate_ops · `%s` · event %s · %s", event, id ? id : "?", at ? at : "");
	appendStringInfoString(&out, ", {\"type\": \"context\", \"elements\": [{\"type\": \"mrkdwn\", \"text\": ");
	escape_json(&out, text.data);
	appendStringInfoString(&out, "}]}]}");
	return out.data;
}

/* ---- delivery ---- */

/* Redirects a delivery follows at most. */
#define MO_MAX_REDIRECTS	3

/* libcurl state of one request in flight; freed by ReleaseTransfer. */
typedef struct MoTransfer
{
	dlist_node	node;			/* in the transfers list */
	CURL	   *easy;
	struct curl_slist *headers;
	MoRequest  *req;
	char	   *url;			/* where it is sent now (after redirects) */
	int			redirects;		/* redirects followed so far */
	char		errbuf[CURL_ERROR_SIZE];
	char		response[MO_RESPONSE_KEEP + 1];
	size_t		response_len;
} MoTransfer;

/* The worker's multi handle (connection cache); NULL until first use. */
static CURLM *multi = NULL;

/* Transfers in flight (in TopMemoryContext), for cleanup after an error. */
static dlist_head transfers = DLIST_STATIC_INIT(transfers);
static int	ntransfers = 0;

/* A socket libcurl wants watched, and for what (CURL_POLL_IN, _OUT or _INOUT). */
typedef struct MoSocket
{
	curl_socket_t fd;
	int			what;
} MoSocket;

/*
 * The sockets of the multi handle, kept by WatchSocket(); malloc'd, since a
 * libcurl callback must not raise an error.
 */
static MoSocket *sockets = NULL;
static int	nsockets = 0;
static int	maxsockets = 0;

/* libcurl socket callback: records what to wait for on fd, or forgets it. */
static int
WatchSocket(CURL *easy, curl_socket_t fd, int what, void *clientp, void *socketp)
{
	int			i;

	(void) easy;
	(void) clientp;
	(void) socketp;
	for (i = 0; i < nsockets; i++)
		if (sockets[i].fd == fd)
			break;
	if (what == CURL_POLL_REMOVE)
	{
		if (i < nsockets)
			sockets[i] = sockets[--nsockets];
		return 0;
	}
	if (i == nsockets)
	{
		if (nsockets == maxsockets)
		{
			int			grown_max = Max(16, maxsockets * 2);
			MoSocket   *grown = realloc(sockets, sizeof(MoSocket) * grown_max);

			if (grown == NULL)
				return -1;		/* libcurl fails the transfer */
			sockets = grown;
			maxsockets = grown_max;
		}
		sockets[nsockets].fd = fd;
		nsockets++;
	}
	sockets[i].what = what;
	return 0;
}

/* libcurl write callback: keeps the first bytes of the response for error messages. */
static size_t
KeepResponse(char *data, size_t size, size_t nmemb, void *userdata)
{
	MoTransfer *t = (MoTransfer *) userdata;
	size_t		n = size * nmemb;
	size_t		room = MO_RESPONSE_KEEP - t->response_len;
	size_t		take = n < room ? n : room;

	memcpy(t->response + t->response_len, data, take);
	t->response_len += take;
	t->response[t->response_len] = '\0';
	return n;
}

/* Removes a transfer from the multi handle and the list, and frees it and what libcurl allocated for it. */
static void
ReleaseTransfer(MoTransfer *t)
{
	if (t->easy)
	{
		if (multi)
			curl_multi_remove_handle(multi, t->easy);
		curl_easy_cleanup(t->easy);
		t->easy = NULL;
	}
	if (t->headers)
	{
		curl_slist_free_all(t->headers);
		t->headers = NULL;
	}
	dlist_delete(&t->node);
	ntransfers--;
	pfree(t);
}

/* Initialises libcurl once for the worker process (before any other thread could exist). */
void
MoHttpInit(void)
{
	CURLcode	rc = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (rc != CURLE_OK)
		elog(ERROR, "could not initialise libcurl: %s", curl_easy_strerror(rc));
}

/*
 * Abandons every transfer in flight (their requests keep done = false) and
 * releases the multi handle (after an error in the worker, or at exit).
 * Safe to call at any time.
 */
void
MoHttpReset(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &transfers)
		ReleaseTransfer(dlist_container(MoTransfer, node, iter.cur));
	if (multi)
	{
		curl_multi_cleanup(multi);
		multi = NULL;
	}
	nsockets = 0;
}

/* Number of requests in flight. */
int
MoHttpInFlight(void)
{
	return ntransfers;
}

/* Appends a header line to list; on failure frees the list and returns NULL. */
static struct curl_slist *
AddHeader(struct curl_slist *list, const char *line)
{
	struct curl_slist *next = curl_slist_append(list, line);

	if (next == NULL)
		curl_slist_free_all(list);
	return next;
}

/* Sets up the easy handle of one POST; false when libcurl could not. */
static bool
PrepareTransfer(MoTransfer *t)
{
	MoRequest  *req = t->req;
	char		line[128];
	CURL	   *e = curl_easy_init();

	t->easy = e;
	if (e == NULL)
		return false;
	t->headers = AddHeader(NULL, "Content-Type: application/json");
	snprintf(line, sizeof(line), "Idempotency-Key: " INT64_FORMAT, req->event_id);
	if (t->headers)
		t->headers = AddHeader(t->headers, line);
	if (t->headers && req->signature)
	{
		snprintf(line, sizeof(line), "X-Migrate-Ops-Signature: %s", req->signature);
		t->headers = AddHeader(t->headers, line);
	}
	/* no "Expect: 100-continue" round trip for larger bodies */
	if (t->headers)
		t->headers = AddHeader(t->headers, "Expect:");
	if (t->headers == NULL)
		return false;

	t->url = req->url;
	if (curl_easy_setopt(e, CURLOPT_URL, req->url) != CURLE_OK ||
		curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
		curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK)
		return false;
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(req->body));
	curl_easy_setopt(e, CURLOPT_USERAGENT, "migrate_ops/" MO_VERSION);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long) mo_connect_timeout);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) mo_request_timeout);
	/* redirects are followed by FinishTransfer(), which checks each one first */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, KeepResponse);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	return true;
}

/*
 * Response text fit for an error message: on one line, and cut before the
 * first byte that is not valid in the database encoding (a binary or
 * truncated answer must not make recording the outcome fail).
 */
static char *
ResponseSnippet(MoTransfer *t)
{
	char	   *s = pnstrdup(t->response, t->response_len);
	int			valid = pg_encoding_verifymbstr(GetDatabaseEncoding(), s, strlen(s));

	s[valid] = '\0';
	for (char *p = s; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			*p = ' ';
	return s;
}

/*
 * A URL as "scheme://host[:port]", for messages: never its path, query or
 * credentials, which may carry a token (Slack's hooks.slack.com/services/…).
 */
static char *
UrlOrigin(const char *url)
{
	MoUrlParts *parts = palloc(sizeof(MoUrlParts));
	char	   *origin;

	if (ParseUrl(url, parts) != CURLUE_OK)
		origin = pstrdup("an invalid URL");
	else if (parts->host[0] == '\0')
		origin = psprintf("%s:", parts->scheme);
	else
	{
		CURLU	   *h = curl_url();
		char	   *port = NULL;
		bool		explicit_port;

		/* the port only when the URL names one */
		explicit_port = h && curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
			curl_url_get(h, CURLUPART_PORT, &port, 0) == CURLUE_OK && port != NULL;
		curl_free(port);
		curl_url_cleanup(h);
		origin = psprintf("%s://%s%s%s", parts->scheme, parts->host,
						  explicit_port ? ":" : "", explicit_port ? parts->port : "");
	}
	pfree(parts);
	return origin;
}

/*
 * Why a redirect of t to target must not be followed, or NULL: it leaves
 * http(s), changes the scheme (https never falls back to http, nor http
 * turns into https behind the allow-list's back), leaves
 * migrate_ops.allowed_urls, or is one too many.
 */
static const char *
RedirectRefusal(MoTransfer *t, const char *target)
{
	MoUrlParts *from = palloc(sizeof(MoUrlParts));
	MoUrlParts *to = palloc(sizeof(MoUrlParts));
	const char *why = NULL;

	if (t->redirects >= MO_MAX_REDIRECTS)
		why = psprintf("more than %d redirects", MO_MAX_REDIRECTS);
	else if (!IsHttpUrl(target, to))
		why = "not an http or https URL";
	else if (!IsHttpUrl(t->url, from) || pg_strcasecmp(from->scheme, to->scheme) != 0)
		why = "a redirect may not change the scheme";
	else if (!MoUrlAllowed(target, mo_allowed_urls))
		why = "not in migrate_ops.allowed_urls";
	pfree(from);
	pfree(to);
	return why;
}

/*
 * Records the outcome of a finished transfer in its request (in the current
 * memory context); or, for a redirect that may be followed, points the
 * transfer at its target and returns true (the caller sends it again).
 */
static bool
FinishTransferIn(MoTransfer *t, CURLcode rc)
{
	MoRequest  *req = t->req;
	long		status = 0;
	curl_off_t	retry_after = 0;

	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	if (rc == CURLE_OK && status >= 300 && status < 400)
	{
		char	   *location = NULL;
		const char *why = NULL;

		curl_easy_getinfo(t->easy, CURLINFO_REDIRECT_URL, &location);
		if (location != NULL && (why = RedirectRefusal(t, location)) == NULL)
		{
			t->url = pstrdup(location);
			t->redirects++;
			return true;
		}
		req->done = true;
		req->finished_at = GetCurrentTimestamp();
		req->status = (int) status;
		req->ok = false;
		req->permanent = true;
		req->error = location == NULL
			? psprintf("HTTP %ld: a redirect without a Location", status)
			: psprintf("HTTP %ld: redirect to %s refused: %s", status, UrlOrigin(location), why);
		return false;
	}

	req->done = true;
	req->finished_at = GetCurrentTimestamp();
	req->status = (int) status;
	if (rc != CURLE_OK)
	{
		req->ok = false;
		req->permanent = (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT ||
						  rc == CURLE_TOO_MANY_REDIRECTS);
		req->error = psprintf("%s%s%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc),
							  t->redirects > 0 ? " (after a redirect to " : "",
							  t->redirects > 0 ? psprintf("%s)", UrlOrigin(t->url)) : "");
		return false;
	}
	req->ok = (status >= 200 && status < 300);
	if (req->ok)
		return false;
	if (curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0)
		req->retry_after = (long) retry_after;
	req->permanent = (status >= 400 && status < 500 && status != 408 && status != 429);
	req->error = psprintf("HTTP %ld%s%s", status, t->response_len ? ": " : "", ResponseSnippet(t));
	return false;
}

/* Sends transfer t again, to t->url (a redirect); false when libcurl could not. */
static bool
RestartTransfer(MoTransfer *t)
{
	curl_multi_remove_handle(multi, t->easy);
	t->errbuf[0] = '\0';
	t->response_len = 0;
	t->response[0] = '\0';
	return curl_easy_setopt(t->easy, CURLOPT_URL, t->url) == CURLE_OK &&
		curl_multi_add_handle(multi, t->easy) == CURLM_OK;
}

/*
 * FinishTransferIn() in the request's memory context (the worker's loop
 * context is reset while a request is in flight): its outcome, and the URL
 * of a redirect, live as long as the request.
 */
static bool
FinishTransfer(MoTransfer *t, CURLcode rc)
{
	MemoryContext old = MemoryContextSwitchTo(t->req->cxt);
	bool		again = FinishTransferIn(t, rc);

	MemoryContextSwitchTo(old);
	return again;
}

/* Marks req done with an error of libcurl's set-up. */
static void
SetupFailed(MoRequest *req)
{
	req->done = true;
	req->finished_at = GetCurrentTimestamp();
	req->error = MemoryContextStrdup(req->cxt, "libcurl could not set up the request");
}

/*
 * Starts the HTTP POST of req on the worker's multi handle; it runs while
 * MoHttpRun() is called, concurrently with the others in flight, and its
 * outcome is filled in when it finishes.  req (and its strings) must stay
 * allocated until then or until MoHttpReset().  Redirects are followed one
 * by one, each checked first (RedirectRefusal): at most 3, same scheme,
 * inside migrate_ops.allowed_urls.  A request libcurl cannot set up is done
 * at once.
 */
void
MoHttpStart(MoRequest *req)
{
	MoTransfer *t;

	if (multi == NULL)
	{
		multi = curl_multi_init();
		if (multi == NULL)
			elog(ERROR, "could not initialise libcurl");
		curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, WatchSocket);
	}
	/* concurrency is the worker's business (per channel); keep the connections it uses alive */
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) Max(mo_batch_size, mo_max_connections));

	t = MemoryContextAllocZero(TopMemoryContext, sizeof(MoTransfer));
	t->req = req;
	dlist_push_tail(&transfers, &t->node);
	ntransfers++;
	if (!PrepareTransfer(t) || curl_multi_add_handle(multi, t->easy) != CURLM_OK)
	{
		ReleaseTransfer(t);
		SetupFailed(req);
	}
}

/* Collects the transfers libcurl finished and fills in their requests' outcomes; returns how many. */
static int
CollectFinished(void)
{
	CURLMsg    *msg;
	int			queued;
	int			finished = 0;

	while ((msg = curl_multi_info_read(multi, &queued)) != NULL)
	{
		MoTransfer *t = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
		if (FinishTransfer(t, msg->data.result))
		{
			/* a redirect to follow: the same transfer goes on (libcurl's timer starts it) */
			if (RestartTransfer(t))
				continue;
			t->req->done = true;
			t->req->finished_at = GetCurrentTimestamp();
			t->req->error = MemoryContextStrdup(t->req->cxt, "libcurl could not follow the redirect");
		}
		ReleaseTransfer(t);
		finished++;
	}
	return finished;
}

/*
 * Runs what libcurl has to do for one socket that is ready (fd, with
 * CURL_CSELECT_* bits), or, with CURL_SOCKET_TIMEOUT, for its timers
 * (transfers just added, timeouts, retries of a connection).
 */
static void
SocketAction(curl_socket_t fd, int mask)
{
	int			running = 0;
	CURLMcode	mc = curl_multi_socket_action(multi, fd, mask, &running);

	if (mc != CURLM_OK)
		elog(ERROR, "libcurl multi interface failed: %s", curl_multi_strerror(mc));
}

/* Runs libcurl's timers when they are due (curl_multi_timeout() says 0). */
static void
RunDueTimers(void)
{
	long		ms = -1;

	if (curl_multi_timeout(multi, &ms) == CURLM_OK && ms == 0)
		SocketAction(CURL_SOCKET_TIMEOUT, 0);
}

/*
 * Waits on a WaitEventSet of the latch, postmaster death and the sockets
 * libcurl watches, for at most timeout_ms; returns the number of events
 * stored in events (at most nevents, which counts them all).
 */
static int
WaitOnSockets(long timeout_ms, WaitEvent *events, int nevents)
{
	volatile long wait_ms = timeout_ms;
	volatile int nready = 0;
	WaitEventSet *set = CreateWaitEventSet(CurrentMemoryContext, nevents);

	PG_TRY();
	{
		AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		for (int i = 0; i < nsockets; i++)
		{
			uint32		wanted = 0;

			if (sockets[i].what & CURL_POLL_IN)
				wanted |= WL_SOCKET_READABLE;
			if (sockets[i].what & CURL_POLL_OUT)
				wanted |= WL_SOCKET_WRITEABLE;
			if (wanted != 0)
				AddWaitEventToSet(set, wanted, sockets[i].fd, NULL, NULL);
		}
		nready = WaitEventSetWait(set, wait_ms, events, nevents, PG_WAIT_EXTENSION);
	}
	PG_FINALLY();
	{
		/* closes its epoll descriptor, also after an error */
		FreeWaitEventSet(set);
	}
	PG_END_TRY();
	return nready;
}

/*
 * Sleeps until one of the sockets libcurl watches is ready (it tells which,
 * and for what, through WatchSocket()), libcurl's next timer is due, the
 * process latch is set (a commit woke the worker; it is not reset here) or
 * timeout_ms passes, on a WaitEventSet, as every PostgreSQL process waits;
 * then lets libcurl act on the sockets that are ready.  The set is built
 * for each wait, so a descriptor libcurl closed is never left in it, and
 * any descriptor number works (curl_multi_fdset() cannot report those at
 * or above FD_SETSIZE).
 */
static void
WaitForActivity(long timeout_ms)
{
	long		curl_timeout = -1;
	int			nevents = nsockets + 2;
	WaitEvent  *events;
	int			nready;

	if (curl_multi_timeout(multi, &curl_timeout) == CURLM_OK && curl_timeout >= 0)
		timeout_ms = Min(timeout_ms, curl_timeout);
	if (timeout_ms <= 0)
		return;
	events = palloc(sizeof(WaitEvent) * nevents);
	nready = WaitOnSockets(timeout_ms, events, nevents);
	for (int i = 0; i < nready; i++)
	{
		int			mask = 0;

		if (events[i].events & WL_SOCKET_READABLE)
			mask |= CURL_CSELECT_IN;
		if (events[i].events & WL_SOCKET_WRITEABLE)
			mask |= CURL_CSELECT_OUT;
		if (mask != 0)
			SocketAction(events[i].fd, mask);
	}
	pfree(events);
}

/*
 * Drives the transfers in flight: fills in the outcome of each request that
 * finished, and when none did, waits up to timeout_ms for one of them to
 * make progress or for the latch (which it does not reset), then tries
 * again.  Returns how many finished.  No transaction may be open.
 */
int
MoHttpRun(long timeout_ms)
{
	int			finished;

	if (multi == NULL || ntransfers == 0)
		return 0;
	RunDueTimers();
	finished = CollectFinished();
	if (finished > 0 || ntransfers == 0 || timeout_ms <= 0)
		return finished;
	WaitForActivity(timeout_ms);
	RunDueTimers();
	return CollectFinished();
}
