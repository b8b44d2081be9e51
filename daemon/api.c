#include "api.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "app.h"
#include "auth.h"
#include "config.h"
#include "form.h"
#include "http.h"
#include "log.h"
#include "menu.h"
#include "metrics.h"
#include "outbox.h"
#include "privacy.h"
#include "queue.h"
#include "rfc3339.h"
#include "smstext.h"
#include "store.h"
#include "writer.h"

/* A note or a text a counsellor writes. */
#define API_TEXT_MAX 4096
#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX 200

struct principal {
	char name[65];
	enum auth_role role;
	bool privileged;          /* supervisor or admin */
};

/* ------------------------------------------------------------------ */
/* Replies                                                             */

static void
reply_json(struct http_request *req, int status, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

	json_decref(doc);
	if (text == NULL) {
		http_reply_error(req, 500, "internal", "out of memory");
		return;
	}
	http_reply(req, status, "application/json", text, strlen(text));
	free(text);
}

static void
reply_store_error(struct http_request *req, const char *op)
{
	log_event(LOG_ERROR, "store.failed", "req", http_request_id(req),
	    "op", op, NULL);
	http_add_header(req, "Retry-After", "1");
	http_reply_error(req, 503, "unavailable", "the database refused the "
	    "change; nothing was changed, retry");
}

static void
utc_now(char *out, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ------------------------------------------------------------------ */
/* Who is asking                                                       */

static double
monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The request's token name and role, when the role is min or higher;
 * else false with the request answered and the refusal counted. */
static bool
signed_in(struct http_request *req, struct app *app, enum auth_role min,
    char *name, size_t namelen, enum auth_role *r)
{
	const char *peer = http_request_peer(req);
	const char *h = http_request_header(req, "Authorization");
	char hash[AUTH_HASH_SIZE], role[32], wait[16];
	unsigned retry_after;
	double now = monotonic();

	/* A valid token always passes: behind a proxy or a shared NAT
	 * every counsellor has one address, and 256 bits need no guessing
	 * limit; what the limit stops is an address trying token after
	 * token. */
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0 ||
	    !auth_token_well_formed(h + 7))
		goto refused;
	auth_token_hash(h + 7, hash);
	switch (store_token_find(app->store, hash, name, namelen, role,
	    sizeof(role))) {
	case STORE_RESULT_OK:
		*r = auth_role_parse(role);
		if (*r >= min)
			return true;
		if (*r == AUTH_NONE)
			break;
		/* A live token, for less than this (a scraper's): no
		 * guessing, so not limited. */
		metrics_auth_refused(METRICS_AUTH_FORBIDDEN);
		log_event(LOG_WARN, "api.forbidden", "req",
		    http_request_id(req), "role", auth_role_name(*r), NULL);
		http_reply_error(req, 403, "forbidden", "this token's role "
		    "may not do this; the counsellors' API needs a counsellor, "
		    "supervisor or admin token");
		return false;
	case STORE_RESULT_ERROR:
		reply_store_error(req, "token_find");
		return false;
	default:
		break;
	}
refused:
	if (auth_limiter_blocked(app->auth_limiter, peer, now,
	    &retry_after)) {
		metrics_auth_refused(METRICS_AUTH_RATE_LIMITED);
		snprintf(wait, sizeof(wait), "%u", retry_after);
		http_add_header(req, "Retry-After", wait);
		http_reply_error(req, 429, "too_many_attempts", "too many "
		    "failed sign-ins from this address; wait and retry");
		return false;
	}
	auth_limiter_failed(app->auth_limiter, peer, now);
	metrics_auth_refused(METRICS_AUTH_UNAUTHORIZED);
	log_event(LOG_WARN, "api.unauthorized", "req", http_request_id(req),
	    NULL);
	http_add_header(req, "WWW-Authenticate", "Bearer");
	http_reply_error(req, 401, "unauthorized", "send a valid token: "
	    "Authorization: Bearer hl_… (hotlinectl token add NAME --role "
	    "ROLE creates one)");
	return false;
}

bool
api_authenticate(struct http_request *req, struct app *app,
    enum auth_role min, enum auth_role *role)
{
	char name[65];

	return signed_in(req, app, min, name, sizeof(name), role);
}

/* The request's principal (a counsellor or higher), or false with the
 * request answered. */
static bool
authenticate(struct http_request *req, struct app *app, struct principal *p)
{
	if (!signed_in(req, app, AUTH_COUNSELLOR, p->name, sizeof(p->name),
	    &p->role))
		return false;
	p->privileged = p->role == AUTH_SUPERVISOR || p->role == AUTH_ADMIN;
	return true;
}

/* The {id} path segment, or 0 with a 404 sent. */
static int64_t
task_id_param(struct http_request *req)
{
	const char *s = http_request_param(req, "id");
	char *end;
	long long v;

	if (s == NULL || *s < '1' || *s > '9' || strlen(s) > 18)
		goto bad;
	v = strtoll(s, &end, 10);
	if (*end == '\0' && v > 0)
		return (int64_t)v;
bad:
	http_reply_error(req, 404, "not_found", "no such task: a task id is "
	    "a positive integer from GET /v1/callbacks");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Request bodies                                                      */

/* The body as a JSON object with only `allowed` keys; an empty body is
 * {}.  NULL with the request answered. */
static json_t *
body_object(struct http_request *req, const char *const *allowed)
{
	size_t len, i;
	const char *body = http_request_body(req, &len), *key;
	json_error_t jerr;
	json_t *doc, *v;
	char msg[160];

	if (body == NULL || len == 0)
		return json_object();
	/* The parser's message would quote the body: name the place only. */
	if ((doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL || !json_is_object(doc)) {
		json_decref(doc);
		snprintf(msg, sizeof(msg), "the body must be a JSON object "
		    "(malformed near line %d, column %d)", jerr.line,
		    jerr.column);
		http_reply_error(req, 400, "bad_json", msg);
		return NULL;
	}
	json_object_foreach(doc, key, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], key) == 0)
				break;
		if (allowed[i] == NULL) {
			/* Quoted up to 40 bytes, cut where a character
			 * starts: the answer must stay valid UTF-8. */
			size_t n = strlen(key) > 40 ? 40 : strlen(key);

			while (n > 0 && ((unsigned char)key[n] & 0xc0) == 0x80)
				n--;
			snprintf(msg, sizeof(msg), "unknown field \"%.*s\"",
			    (int)n, key);
			http_reply_error(req, 400, "bad_field", msg);
			json_decref(doc);
			return NULL;
		}
	}
	return doc;
}

/* A text field: NULL when absent (and allowed to be); false with the
 * request answered when wrong. */
static bool
text_field(struct http_request *req, json_t *doc, const char *name,
    bool required, const char **out)
{
	json_t *v = json_object_get(doc, name);
	char msg[160];

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return true;
		snprintf(msg, sizeof(msg), "%s: missing (a string)", name);
	} else if (!json_is_string(v))
		snprintf(msg, sizeof(msg), "%s: must be a string", name);
	else if (json_string_length(v) == 0 && required)
		snprintf(msg, sizeof(msg), "%s: must not be empty", name);
	else if (json_string_length(v) > API_TEXT_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v))
		snprintf(msg, sizeof(msg), "%s: at most %d bytes, no NUL",
		    name, API_TEXT_MAX);
	else {
		*out = json_string_value(v);
		return true;
	}
	http_reply_error(req, 400, "bad_field", msg);
	return false;
}

/* ------------------------------------------------------------------ */
/* Tasks as JSON                                                       */

static json_t *
answer_json(enum store_answer a)
{
	return a == STORE_ANSWER_UNKNOWN ? json_null() :
	    json_boolean(a == STORE_ANSWER_YES);
}

static json_t *
str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* A task's optional field: "" is unset. */
static json_t *
opt_json(const char *s)
{
	return s[0] != '\0' ? json_string(s) : json_null();
}

/* What a list may show of a number: its last two digits. */
static json_t *
number_hint(const char *msisdn)
{
	char hint[16];
	size_t n = msisdn ? strlen(msisdn) : 0;

	if (n < 4)
		return json_null();
	snprintf(hint, sizeof(hint), "\xe2\x80\xa6%s", msisdn + n - 2);
	return json_string(hint);
}

static json_t *
task_json(const struct queue_task *t, bool with_number)
{
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o,"
	    " s:o, s:s, s:s, s:s, s:o, s:o, s:i, s:o, s:o}",
	    "id", (json_int_t)t->id, "status", store_task_status_name(t->status),
	    "priority", t->urgent ? "urgent" : "normal", "caller", t->caller,
	    "number_hint", number_hint(t->msisdn),
	    "language", opt_json(t->language),
	    "topic", opt_json(t->topic),
	    "safe_to_call", answer_json(t->safe_to_call),
	    "safe_to_sms", answer_json(t->safe_to_sms),
	    "preferred_time", opt_json(t->preferred_time),
	    "channel", t->channel, "created_at", t->created_at,
	    "updated_at", t->updated_at,
	    "claimed_by", opt_json(t->claimed_by),
	    "lease_expires_at", opt_json(t->lease_expires_at),
	    "attempts", t->attempts,
	    "retry_at", opt_json(t->retry_at),
	    "outcome", t->has_outcome ?
	    json_string(store_outcome_name(t->outcome)) : json_null());

	/* Shown to everyone who sees the task: nobody may text or call
	 * this caller until they make contact again themselves. */
	if (j != NULL)
		json_object_set_new(j, "do_not_contact",
		    json_boolean(t->do_not_contact));
	/* Purged or erased: no number, no caller. */
	if (j != NULL && t->caller[0] == '\0')
		json_object_set_new(j, "caller", json_null());
	if (j != NULL && with_number)
		json_object_set_new(j, "msisdn", t->msisdn[0] != '\0' ?
		    json_string(t->msisdn) : json_null());
	return j;
}

/* Reply with task t (the number only when with_number). */
static void
reply_task(struct http_request *req, int status, const struct queue_task *t,
    bool with_number)
{
	reply_json(req, status, task_json(t, with_number));
}

/*
 * The caller's verification word beside the number, for the lease
 * holder only (the queue says who that is: rep->holder); null when
 * the caller chose none.  Nobody else gets the key at all.
 */
static void
add_verification(json_t *j, const struct queue_report *rep)
{
	if (j == NULL || !rep->holder)
		return;
	json_object_set_new(j, "verification_word",
	    rep->verification[0] != '\0' ?
	    json_string(rep->verification) : json_null());
}

/* Does p hold task t's live lease, as the loop last read it?  Only to
 * spare the writer a unit that would refuse: queue_reveal decides. */
static bool
holds_lease(const struct principal *p, const struct queue_task *t)
{
	char now[32];

	utc_now(now, sizeof(now));
	return t->status == STORE_TASK_CLAIMED &&
	    strcmp(t->claimed_by, p->name) == 0 &&
	    strcmp(t->lease_expires_at, now) > 0;
}

/* Load task id into t; false with the request answered. */
static bool
load_task(struct http_request *req, struct app *app, int64_t id,
    struct queue_task *t)
{
	switch (queue_task_get(app->store, id, t)) {
	case QUEUE_OK:
		return true;
	case QUEUE_NOT_FOUND:
		http_reply_error(req, 404, "not_found", "no such task");
		return false;
	default:
		reply_store_error(req, "task_get");
		return false;
	}
}

/* ------------------------------------------------------------------ */
/* Writes: units for the writer                                        */

/*
 * A request whose change waits for the writer.  The handler fills it on
 * the loop (validated, authenticated, every string copied), the work
 * runs the queue rule on the writer's connection, and the done answers
 * on the loop once the batch is durable: a claim, an outcome, a note or
 * a queued text is promised only from there.
 */
struct api_unit {
	struct http_request *req;
	struct app *app;
	char name[65];
	struct queue_actor actor;     /* name points at name above */
	int64_t id;
	struct queue_claim claim;
	struct queue_completion completion;
	char retry_at[RFC3339_UTC_SIZE];
	char *text;                   /* owned: a note or a text */
	const struct config *config;  /* as at submit; valid until done */
	json_t *page;                 /* get: the task, without the number */
	/* From the writer thread: */
	enum queue_result r;
	struct queue_report rep;
};

static struct api_unit *
unit_new(struct http_request *req, struct app *app,
    const struct principal *p)
{
	struct api_unit *u = calloc(1, sizeof(*u));

	if (u == NULL) {
		http_add_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "unavailable", "out of memory; "
		    "retry");
		return NULL;
	}
	u->req = req;
	u->app = app;
	u->config = app->config;
	snprintf(u->name, sizeof(u->name), "%s", p->name);
	u->actor = (struct queue_actor){
		.name = u->name,
		.privileged = p->privileged,
		.reveal_limit = p->privileged ?
		    app->config->supervisor_max_reveals_per_hour :
		    app->config->max_reveals_per_hour,
	};
	u->r = QUEUE_ERROR;
	return u;
}

static void
unit_free(struct api_unit *u)
{
	if (u == NULL)
		return;
	free(u->text);
	json_decref(u->page);
	free(u);
}

/* Hand u to the writer; on failure the request is answered and u
 * freed. */
static void
unit_submit(struct api_unit *u, writer_work_cb work, writer_done_cb done)
{
	if (writer_submit(u->app->writer, work, done, u) == 0)
		return;
	http_add_header(u->req, "Retry-After", "1");
	http_reply_error(u->req, 503, "unavailable", "out of memory; retry");
	unit_free(u);
}

/* A work's return: only a store error undoes the unit (a refusal wrote
 * nothing, or only what must stay: the reveal limit's security row). */
static int
unit_status(const struct api_unit *u)
{
	return u->r == QUEUE_ERROR ? -1 : 0;
}

/* The reveal limit stood.  The first refusal in the window was audited
 * by the unit; only then is it logged and the counsellors on call
 * told, so a thief's loop raises one alarm, not one per try. */
static void
limit_reached(struct api_unit *u)
{
	char limit[16];

	if (!u->rep.limit.first)
		return;
	snprintf(limit, sizeof(limit), "%u", u->rep.limit.limit);
	log_event(LOG_WARN, "security.reveal_limit", "req",
	    http_request_id(u->req), "token", u->name, "limit", limit, NULL);
	if (outbox_alert_security(u->app->outbox, "reveal_limit",
	    u->name) < 0)
		log_event(LOG_ERROR, "store.failed", "req",
		    http_request_id(u->req), "op", "reveal_limit_alert", NULL);
}

/* Answer a unit whose change did not happen; true when it answered.
 * A batch that did not commit is a 503, whatever the unit found. */
static bool
reply_unless_done(enum writer_result result, struct api_unit *u,
    const char *op)
{
	struct http_request *req = u->req;
	char msg[320], wait[24];

	if (result != WRITER_COMMITTED) {
		reply_store_error(req, op);
		return true;
	}
	switch (u->r) {
	case QUEUE_OK:
		return false;
	case QUEUE_EMPTY:
		http_reply(req, 204, "application/json", "", 0);
		break;
	case QUEUE_NOT_FOUND:
		http_reply_error(req, 404, "not_found", "no such task");
		break;
	case QUEUE_CONFLICT:
		http_reply_error(req, 409, "conflict", "the task is closed, "
		    "not claimed, or held by another counsellor: claim it "
		    "first (POST /v1/callbacks/ID/claim or /next)");
		break;
	case QUEUE_BUSY:
		snprintf(msg, sizeof(msg), "you hold task %" PRId64 ": "
		    "complete or release it before taking another",
		    u->rep.held);
		http_reply_error(req, 409, "conflict", msg);
		break;
	case QUEUE_LIMIT:
		limit_reached(u);
		snprintf(wait, sizeof(wait), "%" PRId64,
		    u->rep.limit.retry_after);
		http_add_header(req, "Retry-After", wait);
		snprintf(msg, sizeof(msg), "this token has seen the numbers of "
		    "%" PRId64 " callers in the last hour, its limit "
		    "(queue.%s): work the tasks already seen, or try again in "
		    "%" PRId64 " minutes; supervisors were told",
		    u->rep.limit.seen, u->actor.privileged ?
		    "supervisor_max_reveals_per_hour" : "max_reveals_per_hour",
		    (u->rep.limit.retry_after + 59) / 60);
		http_reply_error(req, 429, "reveal_limit", msg);
		break;
	case QUEUE_REFUSED:
		if (strcmp(u->rep.refusal, "no_channel") == 0)
			http_reply_error(req, 409, "conflict", "the task's "
			    "channel is no longer configured; nothing can be "
			    "sent on it");
		else if (strcmp(u->rep.refusal, "do_not_contact") == 0)
			http_reply_error(req, 409, u->rep.refusal, "a "
			    "counsellor recorded that contacting this caller "
			    "is unsafe; nothing is sent until they write or "
			    "dial again themselves");
		else
			http_reply_error(req, 409, u->rep.refusal,
			    strcmp(u->rep.refusal, "opted_out") == 0 ?
			    "the caller opted out of texts (STOP); call "
			    "instead if it is safe" :
			    "the caller said texting them is not safe");
		break;
	case QUEUE_ERROR:
		reply_store_error(req, op);
		break;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* GET /v1/callbacks                                                   */

struct page {
	json_t *tasks;
	size_t limit;
	struct store_task_cursor last;
	bool more;
};

static int
page_task(const struct store_task *t, void *arg)
{
	struct page *pg = arg;
	struct queue_task qt;
	json_t *j;

	if (json_array_size(pg->tasks) == pg->limit) {
		pg->more = true;
		return 1;
	}
	if (queue_task_copy(t, &qt) < 0 || (j = task_json(&qt, false)) == NULL)
		return -1;
	json_array_append_new(pg->tasks, j);
	pg->last.rank = t->priority_rank;
	snprintf(pg->last.created_at, sizeof(pg->last.created_at), "%s",
	    t->created_at);
	pg->last.id = t->id;
	return 0;
}

/* A cursor is opaque to clients: the position, hex-encoded. */
static void
cursor_encode(const struct store_task_cursor *c, char *out, size_t len)
{
	char plain[96];
	size_t n, i;

	n = (size_t)snprintf(plain, sizeof(plain), "%d|%s|%" PRId64,
	    c->rank, c->created_at, c->id);
	for (i = 0; i < n && 2 * i + 2 < len; i++)
		snprintf(out + 2 * i, 3, "%02x", (unsigned char)plain[i]);
}

static bool
cursor_decode(const char *s, struct store_task_cursor *c)
{
	char plain[96], *bar1, *bar2, *end;
	size_t n = strlen(s), i;
	int hi, lo;
	long long id;

	if (n == 0 || n % 2 != 0 || n / 2 >= sizeof(plain))
		return false;
	for (i = 0; i < n / 2; i++) {
		if ((hi = form_hex_digit(s[2 * i])) < 0 ||
		    (lo = form_hex_digit(s[2 * i + 1])) < 0)
			return false;
		plain[i] = (char)(hi << 4 | lo);
	}
	plain[n / 2] = '\0';
	if ((bar1 = strchr(plain, '|')) == NULL ||
	    (bar2 = strchr(bar1 + 1, '|')) == NULL)
		return false;
	*bar1 = *bar2 = '\0';
	if (strcmp(plain, "0") != 0 && strcmp(plain, "1") != 0)
		return false;
	c->rank = plain[0] - '0';
	if (strlen(bar1 + 1) >= sizeof(c->created_at))
		return false;
	snprintf(c->created_at, sizeof(c->created_at), "%s", bar1 + 1);
	id = strtoll(bar2 + 1, &end, 10);
	if (*end != '\0' || id <= 0)
		return false;
	c->id = id;
	return true;
}

static void
list_cb(struct http_request *req, void *arg)
{
	/* The API's words for the store's filters. */
	static const struct {
		const char *name;
		enum store_task_filter filter;
	} statuses[] = {
		{ "pending", STORE_TASKS_PENDING },
		{ "claimed", STORE_TASKS_CLAIMED },
		{ "closed", STORE_TASKS_CLOSED },
		{ "open", STORE_TASKS_OPEN },
		{ "all", STORE_TASKS_ALL },
	};
	enum store_task_filter filter = STORE_TASKS_OPEN;
	struct app *app = arg;
	struct principal p;
	struct form q;
	struct page pg = { .limit = LIST_LIMIT_DEFAULT };
	struct store_task_cursor after;
	const char *query = http_request_query(req), *v;
	char why[128], next[200] = "";
	bool have_cursor = false;
	size_t i;

	if (!authenticate(req, app, &p))
		return;
	if (form_parse(&q, query ? query : "", query ? strlen(query) : 0,
	    why, sizeof(why)) < 0) {
		http_reply_error(req, 400, "bad_field", why);
		return;
	}
	if ((v = form_get(&q, "status")) != NULL) {
		for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]) &&
		    strcmp(statuses[i].name, v) != 0; i++)
			;
		if (i == sizeof(statuses) / sizeof(statuses[0])) {
			form_clear(&q);
			http_reply_error(req, 400, "bad_field", "status: one "
			    "of pending, claimed, closed, open, all");
			return;
		}
		filter = statuses[i].filter;
	}
	if ((v = form_get(&q, "limit")) != NULL) {
		char *end;
		long n = strtol(v, &end, 10);

		if (*v == '\0' || *end != '\0' || n < 1 ||
		    n > LIST_LIMIT_MAX) {
			form_clear(&q);
			http_reply_error(req, 400, "bad_field", "limit: an "
			    "integer from 1 to 200");
			return;
		}
		pg.limit = (size_t)n;
	}
	if ((v = form_get(&q, "cursor")) != NULL) {
		if (!cursor_decode(v, &after)) {
			form_clear(&q);
			http_reply_error(req, 400, "bad_field", "cursor: pass "
			    "back next_cursor from the previous page");
			return;
		}
		have_cursor = true;
	}
	form_clear(&q);
	if ((pg.tasks = json_array()) == NULL ||
	    store_task_page(app->store, filter, have_cursor ? &after : NULL,
	    pg.limit + 1, page_task, &pg) < 0) {
		json_decref(pg.tasks);
		reply_store_error(req, "task_page");
		return;
	}
	if (pg.more)
		cursor_encode(&pg.last, next, sizeof(next));
	reply_json(req, 200, json_pack("{s:o, s:o}", "tasks", pg.tasks,
	    "next_cursor", next[0] ? json_string(next) : json_null()));
}

/* ------------------------------------------------------------------ */
/* Claims                                                              */

static int
claim_next_work(struct store *st, void *arg)
{
	struct api_unit *u = arg;

	u->r = queue_claim_next(st, &u->actor, &u->claim, &u->rep);
	return unit_status(u);
}

static int
claim_work(struct store *st, void *arg)
{
	struct api_unit *u = arg;

	u->r = queue_claim(st, u->id, &u->actor, &u->claim, &u->rep);
	return unit_status(u);
}

/* The claim, and the number.revealed row of the number it carries, are
 * durable: only now does the number leave. */
static void
claim_done(enum writer_result result, void *arg)
{
	struct api_unit *u = arg;
	json_t *page;
	char task[24];

	if (!reply_unless_done(result, u, "claim")) {
		snprintf(task, sizeof(task), "%" PRId64, u->rep.task.id);
		log_event(LOG_INFO, "task.claimed", "req",
		    http_request_id(u->req), "task", task, "by", u->name,
		    NULL);
		metrics_reveal(METRICS_REVEAL_CLAIM);
		page = task_json(&u->rep.task, true);
		add_verification(page, &u->rep);
		reply_json(u->req, 200, page);
	}
	unit_free(u);
}

/* A claim shows the number: its lease, its limit and its audit row are
 * queue_claim's. */
static void
claim_submit(struct http_request *req, struct app *app,
    const struct principal *p, int64_t id)
{
	struct api_unit *u;

	if ((u = unit_new(req, app, p)) == NULL)
		return;
	u->id = id;
	u->claim = (struct queue_claim){
		.lease_seconds = app->config->lease_seconds,
		.reveal = "api",
	};
	unit_submit(u, id == 0 ? claim_next_work : claim_work, claim_done);
}

static void
next_cb(struct http_request *req, void *arg)
{
	static const char *const none[] = { NULL };
	struct app *app = arg;
	struct principal p;
	json_t *doc;

	if (!authenticate(req, app, &p) ||
	    (doc = body_object(req, none)) == NULL)
		return;
	json_decref(doc);
	claim_submit(req, app, &p, 0);
}

static void
claim_cb(struct http_request *req, void *arg)
{
	struct app *app = arg;
	struct principal p;
	int64_t id;

	if (!authenticate(req, app, &p) || (id = task_id_param(req)) == 0)
		return;
	claim_submit(req, app, &p, id);
}

/* ------------------------------------------------------------------ */
/* Release, outcomes, notes                                            */

static int
release_work(struct store *st, void *arg)
{
	struct api_unit *u = arg;

	u->r = queue_release(st, u->id, &u->actor, &u->rep);
	return unit_status(u);
}

/* Release and complete answer with the task as it is now, without the
 * number. */
static void
task_done(enum writer_result result, void *arg)
{
	struct api_unit *u = arg;

	if (!reply_unless_done(result, u, "release"))
		reply_task(u->req, 200, &u->rep.task, false);
	unit_free(u);
}

static void
release_cb(struct http_request *req, void *arg)
{
	struct app *app = arg;
	struct principal p;
	struct api_unit *u;
	int64_t id;

	if (!authenticate(req, app, &p) || (id = task_id_param(req)) == 0 ||
	    (u = unit_new(req, app, &p)) == NULL)
		return;
	u->id = id;
	unit_submit(u, release_work, task_done);
}

/* A retry in the past means now; beyond a month, a task forgotten. */
static bool
retry_in_range(const char *utc)
{
	char limit[32];
	time_t t = time(NULL);
	struct tm tm;

	t += 30 * 86400;
	gmtime_r(&t, &tm);
	strftime(limit, sizeof(limit), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return strcmp(utc, limit) <= 0;
}

static int
complete_work(struct store *st, void *arg)
{
	struct api_unit *u = arg;

	u->r = queue_complete(st, u->id, &u->actor, &u->completion, &u->rep);
	return unit_status(u);
}

static void
complete_done(enum writer_result result, void *arg)
{
	struct api_unit *u = arg;
	struct http_request *req = u->req;

	if (reply_unless_done(result, u, "complete"))
		goto out;
	log_event(LOG_INFO, "task.completed", "req", http_request_id(req),
	    "outcome", store_outcome_name(u->completion.outcome), "by",
	    u->name, NULL);
	if (u->rep.followup_failed)
		log_event(LOG_ERROR, "store.failed", "req",
		    http_request_id(req), "op", "missed_call", NULL);
	if (u->rep.followup_queued)
		outbox_kick(u->app->outbox);
	reply_task(req, 200, &u->rep.task, false);
out:
	unit_free(u);
}

static void
complete_cb(struct http_request *req, void *arg)
{
	static const char *const fields[] = { "outcome", "note", "retry_at",
	    NULL };
	struct app *app = arg;
	struct principal p;
	struct api_unit *u = NULL;
	enum store_outcome outcome;
	const char *name, *note, *retry;
	char retry_utc[RFC3339_UTC_SIZE];
	json_t *doc;
	int64_t id;

	if (!authenticate(req, app, &p) || (id = task_id_param(req)) == 0 ||
	    (doc = body_object(req, fields)) == NULL)
		return;
	if (!text_field(req, doc, "outcome", true, &name) ||
	    !text_field(req, doc, "note", false, &note) ||
	    !text_field(req, doc, "retry_at", false, &retry))
		goto out;
	if (queue_outcome_parse(name, &outcome) < 0) {
		http_reply_error(req, 400, "bad_field", "outcome: one of "
		    "reached, no_answer, wrong_number, unsafe");
		goto out;
	}
	if (retry != NULL && (outcome != STORE_OUTCOME_NO_ANSWER ||
	    !rfc3339_to_utc(retry, retry_utc))) {
		http_reply_error(req, 400, "bad_field", "retry_at: an RFC 3339 "
		    "time (\"2026-11-29T10:00:00Z\"), only with no_answer");
		goto out;
	}
	if (retry != NULL && !retry_in_range(retry_utc)) {
		http_reply_error(req, 400, "bad_field", "retry_at: at most 30 "
		    "days ahead");
		goto out;
	}
	if ((u = unit_new(req, app, &p)) == NULL)
		goto out;
	if (note != NULL && (u->text = strdup(note)) == NULL) {
		unit_free(u);
		http_reply_error(req, 500, "internal", "out of memory");
		goto out;
	}
	u->id = id;
	if (retry != NULL)
		memcpy(u->retry_at, retry_utc, sizeof(u->retry_at));
	u->completion = (struct queue_completion){
		.outcome = outcome,
		.note = u->text,
		.retry_at = retry != NULL ? u->retry_at : NULL,
		.max_attempts = app->config->max_attempts,
		.config = app->config,
	};
	unit_submit(u, complete_work, complete_done);
out:
	json_decref(doc);
}

static int
note_work(struct store *st, void *arg)
{
	struct api_unit *u = arg;

	u->r = queue_note(st, u->id, &u->actor, u->text, &u->rep);
	return unit_status(u);
}

static void
note_done(enum writer_result result, void *arg)
{
	struct api_unit *u = arg;
	char now[32];

	if (!reply_unless_done(result, u, "note")) {
		utc_now(now, sizeof(now));
		reply_json(u->req, 201, json_pack("{s:I, s:s, s:s, s:s}", "id",
		    (json_int_t)u->rep.id, "author", u->name, "text", u->text,
		    "created_at", now));
	}
	unit_free(u);
}

/* The body's "text" copied into a new unit; NULL with the request
 * answered. */
static struct api_unit *
text_unit(struct http_request *req, struct app *app,
    const struct principal *p, int64_t id)
{
	static const char *const fields[] = { "text", NULL };
	struct api_unit *u = NULL;
	const char *text;
	json_t *doc;

	if ((doc = body_object(req, fields)) == NULL)
		return NULL;
	if (!text_field(req, doc, "text", true, &text) ||
	    (u = unit_new(req, app, p)) == NULL)
		goto out;
	if ((u->text = strdup(text)) == NULL) {
		unit_free(u);
		u = NULL;
		http_reply_error(req, 500, "internal", "out of memory");
		goto out;
	}
	u->id = id;
out:
	json_decref(doc);
	return u;
}

static void
notes_cb(struct http_request *req, void *arg)
{
	struct app *app = arg;
	struct principal p;
	struct api_unit *u;
	int64_t id;

	if (!authenticate(req, app, &p) || (id = task_id_param(req)) == 0 ||
	    (u = text_unit(req, app, &p, id)) == NULL)
		return;
	unit_submit(u, note_work, note_done);
}

static int
text_work(struct store *st, void *arg)
{
	struct api_unit *u = arg;

	u->r = queue_text(st, u->id, &u->actor, u->config, u->text, &u->rep);
	return unit_status(u);
}

/* The text is queued and its task.texted row durable: the outbox may
 * look, and the counsellor be told it waits. */
static void
text_done(enum writer_result result, void *arg)
{
	struct api_unit *u = arg;

	if (!reply_unless_done(result, u, "message")) {
		outbox_kick(u->app->outbox);
		log_event(LOG_INFO, "task.texted", "req",
		    http_request_id(u->req), "caller", u->rep.task.caller,
		    "by", u->name, NULL);
		reply_json(u->req, 202, json_pack("{s:I, s:s}", "id",
		    (json_int_t)u->rep.id, "status", "pending"));
	}
	unit_free(u);
}

static void
messages_cb(struct http_request *req, void *arg)
{
	struct app *app = arg;
	struct principal p;
	struct api_unit *u;
	int64_t id;

	if (!authenticate(req, app, &p) || (id = task_id_param(req)) == 0 ||
	    (u = text_unit(req, app, &p, id)) == NULL)
		return;
	unit_submit(u, text_work, text_done);
}

/* ------------------------------------------------------------------ */
/* GET /v1/callbacks/{id}                                              */

static int
note_json(int64_t id, const char *author, const char *text,
    const char *created_at, void *arg)
{
	return json_array_append_new(arg, json_pack("{s:I, s:s, s:s, s:s}",
	    "id", (json_int_t)id, "author", author, "text", text,
	    "created_at", created_at));
}

static int
message_json(const char *direction, const char *text, const char *at,
    const char *status, void *arg)
{
	json_t *m = json_pack("{s:s, s:s, s:s}", "direction", direction,
	    "text", text, "at", at);

	if (m != NULL && status != NULL)
		json_object_set_new(m, "status", json_string(status));
	return json_array_append_new(arg, m);
}

static void
add_answer(json_t *answers, const struct menu *menu, const char *field,
    const char *value, const char *lang)
{
	const char *question, *label;

	if (value != NULL && value[0] != '\0' &&
	    menu_describe(menu, field, value, lang, &question, &label))
		json_array_append_new(answers, json_pack("{s:s, s:s, s:s}",
		    "field", field, "question", question, "answer", label));
}

static const char *
answer_value(enum store_answer a)
{
	switch (a) {
	case STORE_ANSWER_UNKNOWN:
		return NULL;
	case STORE_ANSWER_NO:
		return "false";
	case STORE_ANSWER_YES:
		return "true";
	}
	return NULL;
}

static int
reveal_work(struct store *st, void *arg)
{
	struct api_unit *u = arg;

	u->r = queue_reveal(st, u->id, &u->actor, "api", &u->rep);
	return unit_status(u);
}

/* The page leaves with the number only once its number.revealed row is
 * durable; past the limit, or no longer the holder, without it. */
static void
reveal_done(enum writer_result result, void *arg)
{
	struct api_unit *u = arg;

	if (result != WRITER_COMMITTED || u->r == QUEUE_ERROR) {
		reply_store_error(u->req, "reveal");
		goto out;
	}
	switch (u->r) {
	case QUEUE_OK:
		json_object_set_new(u->page, "msisdn",
		    u->rep.task.msisdn[0] ? json_string(u->rep.task.msisdn) :
		    json_null());
		add_verification(u->page, &u->rep);
		metrics_reveal(METRICS_REVEAL_SHOW);
		break;
	case QUEUE_LIMIT:
		limit_reached(u);
		json_object_set_new(u->page, "msisdn_withheld",
		    json_string("reveal_limit"));
		break;
	case QUEUE_EMPTY:
	case QUEUE_NOT_FOUND:
	case QUEUE_CONFLICT:
	case QUEUE_BUSY:
	case QUEUE_REFUSED:
	case QUEUE_ERROR:
		break;
	}
	reply_json(u->req, 200, u->page);
	u->page = NULL;
out:
	unit_free(u);
}

static void
get_cb(struct http_request *req, void *arg)
{
	struct app *app = arg;
	struct principal p;
	struct queue_task t;
	struct api_unit *u;
	struct form q;
	const char *query = http_request_query(req), *lang = NULL;
	json_t *page = NULL, *notes = json_array(), *msgs = json_array();
	json_t *answers = json_array();
	char why[128];
	int64_t id;

	if (!authenticate(req, app, &p) || (id = task_id_param(req)) == 0)
		goto fail;
	if (form_parse(&q, query ? query : "", query ? strlen(query) : 0,
	    why, sizeof(why)) < 0) {
		http_reply_error(req, 400, "bad_field", why);
		goto fail;
	}
	lang = form_get(&q, "lang");
	if (lang != NULL && !menu_has_language(app->config->menu, lang)) {
		form_clear(&q);
		http_reply_error(req, 400, "bad_field", "lang: a language of "
		    "the menu (vi, en)");
		goto fail;
	}
	if (!load_task(req, app, id, &t)) {
		form_clear(&q);
		goto fail;
	}
	add_answer(answers, app->config->menu, "language", t.language, lang);
	add_answer(answers, app->config->menu, "topic", t.topic, lang);
	add_answer(answers, app->config->menu, "safe_to_call",
	    answer_value(t.safe_to_call), lang);
	add_answer(answers, app->config->menu, "preferred_time",
	    t.preferred_time, lang);
	add_answer(answers, app->config->menu, "safe_to_sms",
	    answer_value(t.safe_to_sms), lang);
	form_clear(&q);
	if ((page = task_json(&t, false)) == NULL ||
	    store_task_notes(app->store, id, note_json, notes) < 0 ||
	    store_caller_messages(app->store, t.caller, message_json,
	    msgs) < 0) {
		reply_store_error(req, "task_detail");
		goto fail;
	}
	json_object_set_new(page, "notes", notes);
	json_object_set_new(page, "messages", msgs);
	json_object_set_new(page, "answers", answers);
	notes = msgs = answers = NULL;
	/* The number: to the lease holder and to supervisors, within the
	 * limit (free for a holder who claimed through the API, whose
	 * claim counted; not for a lease hotlinectl gave), audited.  Past
	 * the limit the task is still shown, without the number.  A HEAD
	 * answer carries no body: nothing shown, nothing audited. */
	if ((!holds_lease(&p, &t) && !p.privileged) ||
	    http_request_method(req) == HTTP_HEAD || t.msisdn[0] == '\0') {
		reply_json(req, 200, page);
		return;
	}
	if ((u = unit_new(req, app, &p)) == NULL)
		goto fail;
	u->id = id;
	u->page = page;
	unit_submit(u, reveal_work, reveal_done);
	return;
fail:
	json_decref(page);
	json_decref(notes);
	json_decref(msgs);
	json_decref(answers);
}

/* ------------------------------------------------------------------ */
/* GET /v1/stats, GET /v1/audit                                        */

/* Midnight today in the hotline's zone (the process's TZ), unix time. */
static double
local_day_start(void)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	return (double)mktime(&tm);
}

/* The figures of one day (UTC), newest first, as store_stats_days hands
 * them over: every row of a day comes together. */
struct days_json {
	json_t *days;
	json_t *cur;
	char day[16];
};

static int
day_json(const char *day, const char *what, const char *key, int64_t value,
    void *arg)
{
	static const struct {
		const char *what, *field;
	} maps[] = {
		{ "channel", "by_channel" }, { "topic", "by_topic" },
		{ "priority", "by_priority" }, { "outcome", "outcomes" },
		{ "sessions", "sessions" },
	};
	struct days_json *d = arg;

	if (d->cur == NULL || strcmp(d->day, day) != 0) {
		d->cur = json_pack("{s:s, s:i, s:{}, s:{}, s:{}, s:{}, s:n, "
		    "s:i, s:i, s:{}}", "day", day, "tasks", 0, "by_channel",
		    "by_topic", "by_priority", "outcomes",
		    "median_seconds_to_first_call", "texts_in", 0, "texts_out",
		    0, "sessions");
		if (d->cur == NULL || json_array_append_new(d->days,
		    d->cur) < 0)
			return -1;
		snprintf(d->day, sizeof(d->day), "%s", day);
	}
	if (strcmp(what, "first_call_median") == 0)
		what = "median_seconds_to_first_call";
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		if (strcmp(what, maps[i].what) == 0)
			return json_object_set_new(json_object_get(d->cur,
			    maps[i].field), key, json_integer(value));
	return json_object_set_new(d->cur, what, json_integer(value));
}

/* ?days=N: the last N days (UTC, today included), or NULL with none
 * asked for; false with the request answered when N is wrong. */
static bool
stats_days(struct http_request *req, struct app *app, json_t **out)
{
	const char *query = http_request_query(req), *v;
	struct days_json d = { 0 };
	char why[128], since[16], *end;
	struct form q;
	time_t t;
	struct tm tm;
	long n;

	*out = NULL;
	if (form_parse(&q, query ? query : "", query ? strlen(query) : 0,
	    why, sizeof(why)) < 0) {
		http_reply_error(req, 400, "bad_field", why);
		return false;
	}
	if ((v = form_get(&q, "days")) == NULL) {
		form_clear(&q);
		return true;
	}
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || n < 1 || n > 3660) {
		form_clear(&q);
		http_reply_error(req, 400, "bad_field", "days: an integer from "
		    "1 to 3660");
		return false;
	}
	form_clear(&q);
	t = time(NULL) - (time_t)(n - 1) * 86400;
	gmtime_r(&t, &tm);
	strftime(since, sizeof(since), "%Y-%m-%d", &tm);
	if ((d.days = json_array()) == NULL ||
	    store_stats_days(app->store, since, day_json, &d) != 0) {
		json_decref(d.days);
		reply_store_error(req, "stats_days");
		return false;
	}
	*out = d.days;
	return true;
}

static void
stats_cb(struct http_request *req, void *arg)
{
	struct app *app = arg;
	struct principal p;
	json_t *tasks = json_object(), *today = json_object();
	json_t *outbox = json_object(), *days = NULL, *doc;
	int64_t n, urgent, normal, oldest, median;
	double day = local_day_start();
	char why[128];
	size_t i;

	if (!authenticate(req, app, &p) || !stats_days(req, app, &days))
		goto fail;
	for (i = 0; i < STORE_TASK_STATUS_COUNT; i++) {
		if (store_tasks_count(app->store, (enum store_task_status)i,
		    &n, why, sizeof(why)) < 0)
			goto store;
		json_object_set_new(tasks, store_task_status_name(
		    (enum store_task_status)i), json_integer(n));
	}
	for (i = 0; i < STORE_OUTCOME_COUNT; i++) {
		if (store_outcomes_since(app->store, (enum store_outcome)i, day,
		    &n) < 0)
			goto store;
		json_object_set_new(today, store_outcome_name(
		    (enum store_outcome)i), json_integer(n));
	}
	for (i = 0; i < STORE_OUTBOUND_STATUS_COUNT; i++) {
		if (store_outbox_count(app->store,
		    (enum store_outbound_status)i, &n) < 0)
			goto store;
		json_object_set_new(outbox, store_outbound_status_name(
		    (enum store_outbound_status)i), json_integer(n));
	}
	if (store_stat(app->store, STORE_STAT_OPEN_URGENT, &urgent) < 0 ||
	    store_stat(app->store, STORE_STAT_OPEN_NORMAL, &normal) < 0 ||
	    store_stat(app->store, STORE_STAT_OLDEST_PENDING_SECONDS,
	    &oldest) < 0 ||
	    store_stat(app->store, STORE_STAT_MEDIAN_FIRST_CALL_SECONDS,
	    &median) < 0)
		goto store;
	doc = json_pack("{s:o, s:{s:I, s:I}, s:o, s:o, s:o, s:o}", "tasks",
	    tasks, "open_by_priority", "urgent", (json_int_t)urgent, "normal",
	    (json_int_t)normal, "oldest_pending_seconds", oldest < 0 ?
	    json_null() : json_integer(oldest), "outcomes_today", today,
	    "median_seconds_to_first_call", median < 0 ? json_null() :
	    json_integer(median), "outbox", outbox);
	if (doc != NULL && days != NULL)
		json_object_set_new(doc, "days", days);
	else
		json_decref(days);
	reply_json(req, 200, doc);
	return;
store:
	reply_store_error(req, "stats");
fail:
	json_decref(tasks);
	json_decref(today);
	json_decref(outbox);
	json_decref(days);
}

static int
audit_json(int64_t id, const char *at, const char *actor,
    const char *action, int64_t task_id, const char *detail, void *arg)
{
	return json_array_append_new(arg, json_pack("{s:I, s:s, s:s, s:s, "
	    "s:o, s:o}", "id", (json_int_t)id, "at", at, "actor", actor,
	    "action", action, "task_id", task_id ?
	    json_integer(task_id) : json_null(), "detail",
	    str_or_null(detail)));
}

static void
audit_cb(struct http_request *req, void *arg)
{
	struct app *app = arg;
	struct principal p;
	struct form q;
	const char *query = http_request_query(req), *v;
	json_t *entries;
	long long before = 0;
	long limit = LIST_LIMIT_DEFAULT;
	char why[128], *end, next[32] = "";
	size_t n;

	if (!authenticate(req, app, &p))
		return;
	if (!p.privileged) {
		http_reply_error(req, 403, "forbidden", "the audit trail is "
		    "for supervisors");
		return;
	}
	if (form_parse(&q, query ? query : "", query ? strlen(query) : 0,
	    why, sizeof(why)) < 0) {
		http_reply_error(req, 400, "bad_field", why);
		return;
	}
	if ((v = form_get(&q, "limit")) != NULL &&
	    ((limit = strtol(v, &end, 10)) < 1 || limit > LIST_LIMIT_MAX ||
	    *end != '\0' || *v == '\0')) {
		form_clear(&q);
		http_reply_error(req, 400, "bad_field", "limit: an integer "
		    "from 1 to 200");
		return;
	}
	if ((v = form_get(&q, "cursor")) != NULL &&
	    ((before = strtoll(v, &end, 10)) < 1 || *end != '\0' ||
	    *v == '\0')) {
		form_clear(&q);
		http_reply_error(req, 400, "bad_field", "cursor: pass back "
		    "next_cursor from the previous page");
		return;
	}
	form_clear(&q);
	if ((entries = json_array()) == NULL ||
	    store_audit_page(app->store, before, (size_t)limit, audit_json,
	    entries) < 0) {
		json_decref(entries);
		reply_store_error(req, "audit_page");
		return;
	}
	if ((n = json_array_size(entries)) == (size_t)limit)
		snprintf(next, sizeof(next), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(json_array_get(entries,
		    n - 1), "id")));
	reply_json(req, 200, json_pack("{s:o, s:o}", "entries", entries,
	    "next_cursor", next[0] ? json_string(next) : json_null()));
}

/* ------------------------------------------------------------------ */
/* POST /v1/callers/{caller}/erase                                     */

struct erase_unit {
	struct http_request *req;
	char caller[PRIVACY_PSEUDONYM_SIZE];
	char actor[65];
	/* From the writer thread: */
	enum store_result r;
	struct store_erase_counts counts;
};

static int
erase_work(struct store *st, void *arg)
{
	struct erase_unit *u = arg;

	char why[128];
	int64_t pages;

	u->r = store_caller_erase(st, u->caller, u->actor, &u->counts);
	if (u->r == STORE_RESULT_ERROR)
		return -1;
	/* The pages the notes freed go back to the file system (zeroed
	 * already: secure_delete); a failure here undoes nothing. */
	if (u->r == STORE_RESULT_OK && u->counts.notes > 0)
		(void)store_reclaim(st, &pages, why, sizeof(why));
	return 0;
}

/* Counts only: what was erased is gone, and the pseudonym is the one
 * the supervisor gave. */
static void
erase_done(enum writer_result result, void *arg)
{
	struct erase_unit *u = arg;
	const struct store_erase_counts *c = &u->counts;
	char n[24];

	if (result != WRITER_COMMITTED || u->r == STORE_RESULT_ERROR ||
	    u->r == STORE_RESULT_CONFLICT) {
		reply_store_error(u->req, "erase");
		goto out;
	}
	if (u->r == STORE_RESULT_NOT_FOUND) {
		http_reply_error(u->req, 404, "not_found", "nothing is held "
		    "under this caller: the pseudonym is unknown, or its data "
		    "was already purged by retention");
		goto out;
	}
	snprintf(n, sizeof(n), "%lld", (long long)(c->tasks + c->notes +
	    c->inbound + c->outbound_cancelled + c->outbound + c->sessions +
	    c->optouts));
	log_event(LOG_INFO, "caller.erased", "req", http_request_id(u->req),
	    "caller", u->caller, "by", u->actor, "rows", n, NULL);
	reply_json(u->req, 200, json_pack("{s:s, s:{s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:I}, s:I}", "caller", u->caller, "erased",
	    "tasks_closed", (json_int_t)c->tasks_closed,
	    "leases_ended", (json_int_t)c->leases_ended,
	    "tasks", (json_int_t)c->tasks,
	    "notes", (json_int_t)c->notes,
	    "inbound", (json_int_t)c->inbound,
	    "outbound_cancelled", (json_int_t)c->outbound_cancelled,
	    "outbound", (json_int_t)c->outbound,
	    "sessions", (json_int_t)c->sessions,
	    "optouts_kept", (json_int_t)c->optouts,
	    "in_flight", (json_int_t)c->in_flight));
out:
	free(u);
}

static void
erase_cb(struct http_request *req, void *arg)
{
	static const char *const none[] = { NULL };
	struct app *app = arg;
	struct principal p;
	struct erase_unit *u;
	const char *caller = http_request_param(req, "caller");
	json_t *doc;

	if (!authenticate(req, app, &p))
		return;
	if (!p.privileged) {
		metrics_auth_refused(METRICS_AUTH_FORBIDDEN);
		log_event(LOG_WARN, "api.forbidden", "req",
		    http_request_id(req), "role", auth_role_name(p.role), NULL);
		http_reply_error(req, 403, "forbidden", "erasing a caller is "
		    "for supervisors and admins");
		return;
	}
	if (!privacy_pseudonym_valid(caller)) {
		http_reply_error(req, 400, "bad_caller", "a caller is named by "
		    "its pseudonym: c_ and 12 lowercase hex digits, as the "
		    "task's \"caller\" shows it (hotlinectl erase --number "
		    "takes a number)");
		return;
	}
	if ((doc = body_object(req, none)) == NULL)
		return;
	json_decref(doc);
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		http_add_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "unavailable", "out of memory; "
		    "retry");
		return;
	}
	u->req = req;
	u->r = STORE_RESULT_ERROR;
	snprintf(u->caller, sizeof(u->caller), "%s", caller);
	snprintf(u->actor, sizeof(u->actor), "%s", p.name);
	if (writer_submit(app->writer, erase_work, erase_done, u) < 0) {
		free(u);
		http_add_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "unavailable", "out of memory; "
		    "retry");
	}
}

int
api_routes(struct http_server *srv, struct app *app)
{
	static const struct {
		const char *pattern;
		unsigned methods;
		http_handler_cb cb;
	} routes[] = {
		{ "/v1/callbacks", HTTP_GET, list_cb },
		{ "/v1/callbacks/next", HTTP_POST, next_cb },
		{ "/v1/callbacks/{id}", HTTP_GET, get_cb },
		{ "/v1/callbacks/{id}/claim", HTTP_POST, claim_cb },
		{ "/v1/callbacks/{id}/release", HTTP_POST, release_cb },
		{ "/v1/callbacks/{id}/complete", HTTP_POST, complete_cb },
		{ "/v1/callbacks/{id}/notes", HTTP_POST, notes_cb },
		{ "/v1/callbacks/{id}/messages", HTTP_POST, messages_cb },
		{ "/v1/stats", HTTP_GET, stats_cb },
		{ "/v1/audit", HTTP_GET, audit_cb },
		{ "/v1/callers/{caller}/erase", HTTP_POST, erase_cb },
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (http_server_route(srv, routes[i].pattern, routes[i].methods,
		    routes[i].cb, app) < 0)
			return -1;
	return 0;
}
