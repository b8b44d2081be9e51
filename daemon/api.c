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
#include "contact.h"
#include "followup.h"
#include "form.h"
#include "http.h"
#include "log.h"
#include "menu.h"
#include "outbox.h"
#include "rfc3339.h"
#include "smstext.h"
#include "store.h"

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

/* The request's principal, or false with the request answered. */
static bool
authenticate(struct http_request *req, struct app *app, struct principal *p)
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
	switch (store_token_find(app->store, hash, p->name, sizeof(p->name),
	    role, sizeof(role))) {
	case STORE_RESULT_OK:
		p->role = auth_role_parse(role);
		p->privileged = p->role == AUTH_SUPERVISOR ||
		    p->role == AUTH_ADMIN;
		if (p->role != AUTH_NONE)
			return true;
		break;
	case STORE_RESULT_ERROR:
		reply_store_error(req, "token_find");
		return false;
	default:
		break;
	}
refused:
	if (auth_limiter_blocked(app->auth_limiter, peer, now,
	    &retry_after)) {
		snprintf(wait, sizeof(wait), "%u", retry_after);
		http_add_header(req, "Retry-After", wait);
		http_reply_error(req, 429, "too_many_attempts", "too many "
		    "failed sign-ins from this address; wait and retry");
		return false;
	}
	auth_limiter_failed(app->auth_limiter, peer, now);
	log_event(LOG_WARN, "api.unauthorized", "req", http_request_id(req),
	    NULL);
	http_add_header(req, "WWW-Authenticate", "Bearer");
	http_reply_error(req, 401, "unauthorized", "send a valid token: "
	    "Authorization: Bearer hl_… (hotlinectl token add NAME --role "
	    "ROLE creates one)");
	return false;
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
task_json(const struct store_task *t, bool with_number)
{
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o,"
	    " s:o, s:s, s:s, s:s, s:o, s:o, s:i, s:o, s:o}",
	    "id", (json_int_t)t->id, "status", t->status,
	    "priority", t->priority, "caller", t->caller,
	    "number_hint", number_hint(t->msisdn),
	    "language", str_or_null(t->language),
	    "topic", str_or_null(t->topic),
	    "safe_to_call", answer_json(t->safe_to_call),
	    "safe_to_sms", answer_json(t->safe_to_sms),
	    "preferred_time", str_or_null(t->preferred_time),
	    "channel", t->channel, "created_at", t->created_at,
	    "updated_at", t->updated_at,
	    "claimed_by", str_or_null(t->claimed_by),
	    "lease_expires_at", str_or_null(t->lease_expires_at),
	    "attempts", t->attempts,
	    "retry_at", str_or_null(t->retry_at),
	    "outcome", str_or_null(t->outcome));

	if (j != NULL && with_number)
		json_object_set_new(j, "msisdn", json_string(t->msisdn));
	return j;
}

/* A task copied out of the store's cursor. */
struct task_copy {
	json_t *plain;            /* without the number */
	char msisdn[40];
	char channel[64];
	char caller[32];
	char status[16];
	char claimed_by[65];
	char lease_expires_at[32];
	char language[16];
	char topic[64];
	char preferred_time[32];
	enum store_answer safe_to_call;
	enum store_answer safe_to_sms;
};

static int
copy_task(const struct store_task *t, void *arg)
{
	struct task_copy *c = arg;

#define COPY(f) snprintf(c->f, sizeof(c->f), "%s", t->f ? t->f : "")
	COPY(msisdn);
	COPY(channel);
	COPY(caller);
	COPY(status);
	COPY(claimed_by);
	COPY(lease_expires_at);
	COPY(language);
	COPY(topic);
	COPY(preferred_time);
#undef COPY
	c->safe_to_call = t->safe_to_call;
	c->safe_to_sms = t->safe_to_sms;
	c->plain = task_json(t, false);
	return c->plain == NULL ? -1 : 0;
}

/* Does p hold task c's live lease? */
static bool
holds_lease(const struct principal *p, const struct task_copy *c)
{
	char now[32];

	utc_now(now, sizeof(now));
	return strcmp(c->status, "claimed") == 0 &&
	    strcmp(c->claimed_by, p->name) == 0 &&
	    strcmp(c->lease_expires_at, now) > 0;
}

/* Add the number to c's JSON, audited first: nothing is shown when the
 * audit row cannot be written.  false with the request answered. */
static bool
reveal(struct http_request *req, struct app *app, const struct principal *p,
    int64_t id, struct task_copy *c)
{
	char why[256];

	/* A HEAD answer carries no body: nothing shown, nothing audited. */
	if (http_request_method(req) == HTTP_HEAD)
		return true;
	if (store_audit_tasks(app->store, p->name, "number.revealed", &id, 1,
	    "api", why, sizeof(why)) < 0) {
		reply_store_error(req, "audit");
		return false;
	}
	json_object_set_new(c->plain, "msisdn", json_string(c->msisdn));
	return true;
}

/* The rolling window of the reveal limit. */
#define REVEAL_WINDOW_SECONDS 3600

/* The first refusal in an hour is audited, logged and sent to the
 * counsellors on call; later ones only answered. */
static void
reveal_limit_reached(struct http_request *req, struct app *app,
    const struct principal *p, unsigned limit)
{
	char why[256], detail[32];
	bool told;

	if (store_audit_recent(app->store, p->name, "security.reveal_limit",
	    REVEAL_WINDOW_SECONDS, &told) < 0) {
		log_event(LOG_ERROR, "store.failed", "req",
		    http_request_id(req), "op", "audit_recent", NULL);
		return;
	}
	if (told)
		return;
	snprintf(detail, sizeof(detail), "limit=%u", limit);
	if (store_txn_begin(app->store, why, sizeof(why)) < 0 ||
	    store_audit_add(app->store, p->name, "security.reveal_limit", 0,
	    detail) < 0 ||
	    outbox_alert_security(app->outbox, "reveal_limit", p->name) < 0 ||
	    store_txn_commit(app->store, why, sizeof(why)) < 0) {
		store_txn_rollback(app->store);
		log_event(LOG_ERROR, "store.failed", "req",
		    http_request_id(req), "op", "reveal_limit_alert", NULL);
	}
	log_event(LOG_WARN, "security.reveal_limit", "req",
	    http_request_id(req), "token", p->name, "limit", detail + 6,
	    NULL);
}

/*
 * May p see (or text) the number of `caller` (a pseudonym; NULL: a task
 * not chosen yet)?  A token sees at most its hourly limit of distinct
 * callers, counted from the audit trail, so releasing a task refunds
 * nothing and a restart forgets nothing; a caller it saw within the hour
 * costs nothing more.  0 when it may, 1 when the limit stands (*r and
 * *limit filled in), -1 on a store error.
 */
static int
reveal_check(struct app *app, const struct principal *p, const char *caller,
    struct store_reveals *r, unsigned *limit)
{
	*limit = p->privileged ?
	    app->config->supervisor_max_reveals_per_hour :
	    app->config->max_reveals_per_hour;
	if (store_reveals_recent(app->store, p->name, caller,
	    REVEAL_WINDOW_SECONDS, r) < 0)
		return -1;
	return r->includes_caller || r->distinct < (int64_t)*limit ? 0 : 1;
}

/* reveal_check, with the request answered (429, or 503) when false. */
static bool
reveal_allowed(struct http_request *req, struct app *app,
    const struct principal *p, const char *caller)
{
	struct store_reveals r;
	unsigned limit;
	char msg[320], wait[24];
	int64_t left;

	switch (reveal_check(app, p, caller, &r, &limit)) {
	case 0:
		return true;
	case 1:
		break;
	default:
		reply_store_error(req, "reveals_recent");
		return false;
	}
	reveal_limit_reached(req, app, p, limit);
	left = r.oldest + REVEAL_WINDOW_SECONDS - (int64_t)time(NULL);
	if (left < 1)
		left = 1;
	snprintf(wait, sizeof(wait), "%" PRId64, left);
	http_add_header(req, "Retry-After", wait);
	snprintf(msg, sizeof(msg), "this token has seen the numbers of %"
	    PRId64 " callers in the last hour, its limit (queue.%s): work "
	    "the tasks already seen, or try again in %" PRId64 " minutes; "
	    "supervisors were told", r.distinct, p->privileged ?
	    "supervisor_max_reveals_per_hour" : "max_reveals_per_hour",
	    (left + 59) / 60);
	http_reply_error(req, 429, "reveal_limit", msg);
	return false;
}

/* Load task id into c; false with the request answered. */
static bool
load_task(struct http_request *req, struct app *app, int64_t id,
    struct task_copy *c)
{
	memset(c, 0, sizeof(*c));
	switch (store_task_get(app->store, id, copy_task, c)) {
	case STORE_RESULT_OK:
		return true;
	case STORE_RESULT_NOT_FOUND:
		http_reply_error(req, 404, "not_found", "no such task");
		return false;
	default:
		json_decref(c->plain);
		reply_store_error(req, "task_get");
		return false;
	}
}

/* Answer a queue change that did not happen. */
static void
reply_refused(struct http_request *req, enum store_result r, const char *op)
{
	switch (r) {
	case STORE_RESULT_NOT_FOUND:
		http_reply_error(req, 404, "not_found", "no such task");
		break;
	case STORE_RESULT_CONFLICT:
		http_reply_error(req, 409, "conflict", "the task is closed, "
		    "not claimed, or held by another counsellor: claim it "
		    "first (POST /v1/callbacks/ID/claim or /next)");
		break;
	default:
		reply_store_error(req, op);
		break;
	}
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
	json_t *j;

	if (json_array_size(pg->tasks) == pg->limit) {
		pg->more = true;
		return 1;
	}
	if ((j = task_json(t, false)) == NULL)
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
	static const char *const statuses[] = { "pending", "claimed",
	    "closed", "open", "all", NULL };
	struct app *app = arg;
	struct principal p;
	struct form q;
	struct page pg = { .limit = LIST_LIMIT_DEFAULT };
	struct store_task_cursor after;
	const char *query = http_request_query(req), *status = "open", *v;
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
		for (i = 0; statuses[i] && strcmp(statuses[i], v) != 0; i++)
			;
		if (statuses[i] == NULL) {
			form_clear(&q);
			http_reply_error(req, 400, "bad_field", "status: one "
			    "of pending, claimed, closed, open, all");
			return;
		}
		status = statuses[i];
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
	    store_task_page(app->store, status, have_cursor ? &after : NULL,
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

static void
reply_claimed(struct http_request *req, struct app *app,
    const struct principal *p, int64_t id)
{
	struct task_copy c;
	char task[24];

	if (!load_task(req, app, id, &c))
		return;
	if (!reveal(req, app, p, id, &c)) {
		/* Not shown, so not theirs: a claim nobody saw would hide
		 * the task until its lease ran out. */
		store_queue_release(app->store, id, p->name, false);
		json_decref(c.plain);
		return;
	}
	snprintf(task, sizeof(task), "%" PRId64, id);
	log_event(LOG_INFO, "task.claimed", "req", http_request_id(req),
	    "task", task, "by", p->name, NULL);
	reply_json(req, 200, c.plain);
}

/*
 * A counsellor works one task at a time: while they hold a live lease
 * they can take no other, so a stolen token cannot walk the queue for
 * its numbers.  Supervisors are not held to it.  true when p may take
 * task `want` (0: the next); false with the request answered.
 */
static bool
may_take(struct http_request *req, struct app *app,
    const struct principal *p, int64_t want)
{
	int64_t held;
	char msg[160];

	if (p->privileged)
		return true;
	/* No such task is a 404 before it is anything else. */
	if (want != 0) {
		struct task_copy c;

		if (!load_task(req, app, want, &c))
			return false;
		json_decref(c.plain);
	}
	if (store_queue_held(app->store, p->name, &held) < 0) {
		reply_store_error(req, "queue_held");
		return false;
	}
	if (held == 0 || held == want)
		return true;
	snprintf(msg, sizeof(msg), "you hold task %" PRId64 ": complete or "
	    "release it before taking another", held);
	http_reply_error(req, 409, "conflict", msg);
	return false;
}

static void
next_cb(struct http_request *req, void *arg)
{
	static const char *const none[] = { NULL };
	struct app *app = arg;
	struct principal p;
	json_t *doc;
	int64_t id;

	if (!authenticate(req, app, &p) ||
	    (doc = body_object(req, none)) == NULL)
		return;
	json_decref(doc);
	/* The next task is not known before it is claimed: at the limit,
	 * no claim. */
	if (!may_take(req, app, &p, 0) ||
	    !reveal_allowed(req, app, &p, NULL))
		return;
	if (store_queue_claim_next(app->store, p.name,
	    app->config->lease_seconds, &id) < 0) {
		reply_store_error(req, "claim_next");
		return;
	}
	if (id == 0) {
		http_reply(req, 204, "application/json", "", 0);
		return;
	}
	reply_claimed(req, app, &p, id);
}

static void
claim_cb(struct http_request *req, void *arg)
{
	struct app *app = arg;
	struct principal p;
	struct task_copy c;
	enum store_result r;
	int64_t id;
	bool allowed;

	if (!authenticate(req, app, &p) || (id = task_id_param(req)) == 0 ||
	    !may_take(req, app, &p, id) || !load_task(req, app, id, &c))
		return;
	allowed = reveal_allowed(req, app, &p, c.caller);
	json_decref(c.plain);
	if (!allowed)
		return;
	r = store_queue_claim(app->store, id, p.name,
	    app->config->lease_seconds);
	if (r != STORE_RESULT_OK) {
		reply_refused(req, r, "claim");
		return;
	}
	reply_claimed(req, app, &p, id);
}

/* Answer with the task as it is now, without the number. */
static void
reply_task(struct http_request *req, struct app *app, int64_t id,
    int status)
{
	struct task_copy c;

	if (load_task(req, app, id, &c))
		reply_json(req, status, c.plain);
}

static void
release_cb(struct http_request *req, void *arg)
{
	struct app *app = arg;
	struct principal p;
	enum store_result r;
	int64_t id;

	if (!authenticate(req, app, &p) || (id = task_id_param(req)) == 0)
		return;
	if ((r = store_queue_release(app->store, id, p.name,
	    p.privileged)) != STORE_RESULT_OK) {
		reply_refused(req, r, "release");
		return;
	}
	reply_task(req, app, id, 200);
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

static void
complete_cb(struct http_request *req, void *arg)
{
	static const char *const fields[] = { "outcome", "note", "retry_at",
	    NULL };
	static const char *const outcomes[] = { "reached", "no_answer",
	    "wrong_number", "unsafe", NULL };
	struct app *app = arg;
	struct principal p;
	struct store_completion c = { 0 };
	const char *outcome, *retry;
	char retry_utc[RFC3339_UTC_SIZE];
	enum store_result r;
	json_t *doc;
	int64_t id;
	size_t i;

	if (!authenticate(req, app, &p) || (id = task_id_param(req)) == 0 ||
	    (doc = body_object(req, fields)) == NULL)
		return;
	if (!text_field(req, doc, "outcome", true, &outcome) ||
	    !text_field(req, doc, "note", false, &c.note) ||
	    !text_field(req, doc, "retry_at", false, &retry))
		goto out;
	for (i = 0; outcomes[i] && strcmp(outcomes[i], outcome) != 0; i++)
		;
	if (outcomes[i] == NULL) {
		http_reply_error(req, 400, "bad_field", "outcome: one of "
		    "reached, no_answer, wrong_number, unsafe");
		goto out;
	}
	if (retry != NULL && (strcmp(outcome, "no_answer") != 0 ||
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
	c.outcome = outcomes[i];
	c.retry_at = retry ? retry_utc : NULL;
	c.max_attempts = app->config->max_attempts;
	if ((r = store_queue_complete(app->store, id, p.name, p.privileged,
	    &c)) != STORE_RESULT_OK) {
		reply_refused(req, r, "complete");
		goto out;
	}
	log_event(LOG_INFO, "task.completed", "req", http_request_id(req),
	    "outcome", c.outcome, "by", p.name, NULL);
	if (strcmp(c.outcome, "no_answer") == 0) {
		if (followup_missed_call(app->store, app->config, id) < 0)
			log_event(LOG_ERROR, "store.failed", "req",
			    http_request_id(req), "op", "missed_call", NULL);
		outbox_kick(app->outbox);
	}
	reply_task(req, app, id, 200);
out:
	json_decref(doc);
}

static void
notes_cb(struct http_request *req, void *arg)
{
	static const char *const fields[] = { "text", NULL };
	struct app *app = arg;
	struct principal p;
	const char *text;
	char now[32];
	enum store_result r;
	int64_t id, note_id = 0;
	json_t *doc;

	if (!authenticate(req, app, &p) || (id = task_id_param(req)) == 0 ||
	    (doc = body_object(req, fields)) == NULL)
		return;
	if (!text_field(req, doc, "text", true, &text))
		goto out;
	if ((r = store_queue_note(app->store, id, p.name, p.privileged, text,
	    &note_id)) != STORE_RESULT_OK) {
		reply_refused(req, r, "note");
		goto out;
	}
	utc_now(now, sizeof(now));
	reply_json(req, 201, json_pack("{s:I, s:s, s:s, s:s}", "id",
	    (json_int_t)note_id, "author", p.name, "text", text,
	    "created_at", now));
out:
	json_decref(doc);
}

static void
messages_cb(struct http_request *req, void *arg)
{
	static const char *const fields[] = { "text", NULL };
	struct app *app = arg;
	struct principal p;
	struct task_copy c = { 0 };
	const char *text, *refusal;
	bool opted_out = false, confirmed, unsafe;
	enum store_result r;
	int64_t id, out_id = 0;
	json_t *doc;
	char why[256];

	if (!authenticate(req, app, &p) || (id = task_id_param(req)) == 0 ||
	    (doc = body_object(req, fields)) == NULL)
		return;
	if (!text_field(req, doc, "text", true, &text))
		goto out;
	if ((r = store_queue_may_act(app->store, id, p.name,
	    p.privileged)) != STORE_RESULT_OK) {
		reply_refused(req, r, "may_act");
		goto out;
	}
	/* Texting a caller uses their number as seeing it does. */
	if (!load_task(req, app, id, &c) ||
	    !reveal_allowed(req, app, &p, c.caller))
		goto out;
	if (store_optout_get(app->store, c.msisdn, &opted_out,
	    &confirmed) < 0 ||
	    store_caller_unsafe_to_text(app->store, c.msisdn, &unsafe) < 0) {
		reply_store_error(req, "contact_facts");
		goto out;
	}
	/* The caller's latest answer, on any task, as the outbox reads it;
	 * the outbox asks again when it sends. */
	if ((refusal = contact_refusal(CONTACT_MESSAGE, opted_out, unsafe ?
	    STORE_ANSWER_NO : STORE_ANSWER_UNKNOWN)) != NULL) {
		http_reply_error(req, 409, refusal,
		    strcmp(refusal, "opted_out") == 0 ? "the caller opted out "
		    "of texts (STOP); call instead if it is safe" :
		    "the caller said texting them is not safe");
		goto out;
	}
	if (config_channel_find(app->config, c.channel) == NULL) {
		http_reply_error(req, 409, "conflict", "the task's channel is "
		    "no longer configured; nothing can be sent on it");
		goto out;
	}
	if (store_txn_begin(app->store, why, sizeof(why)) < 0 ||
	    store_outbound_add(app->store, c.channel, c.msisdn, c.caller,
	    text, "message", 0, id, &out_id) < 0 ||
	    store_audit_add(app->store, p.name, "task.texted", id, NULL) < 0 ||
	    store_txn_commit(app->store, why, sizeof(why)) < 0) {
		store_txn_rollback(app->store);
		reply_store_error(req, "message");
		goto out;
	}
	outbox_kick(app->outbox);
	log_event(LOG_INFO, "task.texted", "req", http_request_id(req),
	    "caller", c.caller, "by", p.name, NULL);
	reply_json(req, 202, json_pack("{s:I, s:s}", "id", (json_int_t)out_id,
	    "status", "pending"));
out:
	json_decref(c.plain);
	json_decref(doc);
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

static void
get_cb(struct http_request *req, void *arg)
{
	struct app *app = arg;
	struct principal p;
	struct task_copy c;
	struct form q;
	const char *query = http_request_query(req), *lang = NULL;
	json_t *notes = json_array(), *msgs = json_array();
	json_t *answers = json_array();
	char why[128];
	int64_t id;
	bool holder;

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
	if (!load_task(req, app, id, &c)) {
		form_clear(&q);
		goto fail;
	}
	add_answer(answers, app->config->menu, "language", c.language, lang);
	add_answer(answers, app->config->menu, "topic", c.topic, lang);
	add_answer(answers, app->config->menu, "safe_to_call",
	    c.safe_to_call == STORE_ANSWER_UNKNOWN ? NULL :
	    c.safe_to_call == STORE_ANSWER_YES ? "true" : "false", lang);
	add_answer(answers, app->config->menu, "preferred_time",
	    c.preferred_time, lang);
	add_answer(answers, app->config->menu, "safe_to_sms",
	    c.safe_to_sms == STORE_ANSWER_UNKNOWN ? NULL :
	    c.safe_to_sms == STORE_ANSWER_YES ? "true" : "false", lang);
	form_clear(&q);
	if (store_task_notes(app->store, id, note_json, notes) < 0 ||
	    store_caller_messages(app->store, c.msisdn, message_json,
	    msgs) < 0) {
		json_decref(c.plain);
		reply_store_error(req, "task_detail");
		goto fail;
	}
	/* The number: to the lease holder and to supervisors, within the
	 * limit (free for a holder who claimed through the API, whose
	 * claim counted; not for a lease hotlinectl gave), audited.  Past
	 * the limit the task is still shown, without the number. */
	holder = holds_lease(&p, &c);
	if ((holder || p.privileged) &&
	    http_request_method(req) != HTTP_HEAD) {
		struct store_reveals r;
		unsigned limit;

		switch (reveal_check(app, &p, c.caller, &r, &limit)) {
		case 0:
			if (!reveal(req, app, &p, id, &c)) {
				json_decref(c.plain);
				goto fail;
			}
			break;
		case 1:
			reveal_limit_reached(req, app, &p, limit);
			json_object_set_new(c.plain, "msisdn_withheld",
			    json_string("reveal_limit"));
			break;
		default:
			json_decref(c.plain);
			reply_store_error(req, "reveals_recent");
			goto fail;
		}
	}
	json_object_set_new(c.plain, "notes", notes);
	json_object_set_new(c.plain, "messages", msgs);
	json_object_set_new(c.plain, "answers", answers);
	reply_json(req, 200, c.plain);
	return;
fail:
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

static void
stats_cb(struct http_request *req, void *arg)
{
	static const char *const task_statuses[] = { "pending", "claimed",
	    "closed", NULL };
	static const char *const outcomes[] = { "reached", "no_answer",
	    "wrong_number", "unsafe", "unreached", NULL };
	static const char *const out_statuses[] = { "pending", "sending",
	    "sent", "delivered", "failed", "unknown", "expired", NULL };
	struct app *app = arg;
	struct principal p;
	json_t *tasks = json_object(), *today = json_object();
	json_t *outbox = json_object();
	int64_t n, urgent, normal, oldest, median;
	double day = local_day_start();
	char why[128];
	size_t i;

	if (!authenticate(req, app, &p))
		goto fail;
	for (i = 0; task_statuses[i]; i++) {
		if (store_tasks_count(app->store, task_statuses[i], &n, why,
		    sizeof(why)) < 0)
			goto store;
		json_object_set_new(tasks, task_statuses[i], json_integer(n));
	}
	for (i = 0; outcomes[i]; i++) {
		if (store_outcomes_since(app->store, outcomes[i], day, &n) < 0)
			goto store;
		json_object_set_new(today, outcomes[i], json_integer(n));
	}
	for (i = 0; out_statuses[i]; i++) {
		if (store_outbox_count(app->store, out_statuses[i], &n) < 0)
			goto store;
		json_object_set_new(outbox, out_statuses[i], json_integer(n));
	}
	if (store_stat(app->store, STORE_STAT_OPEN_URGENT, &urgent) < 0 ||
	    store_stat(app->store, STORE_STAT_OPEN_NORMAL, &normal) < 0 ||
	    store_stat(app->store, STORE_STAT_OLDEST_PENDING_SECONDS,
	    &oldest) < 0 ||
	    store_stat(app->store, STORE_STAT_MEDIAN_FIRST_CALL_SECONDS,
	    &median) < 0)
		goto store;
	reply_json(req, 200, json_pack("{s:o, s:{s:I, s:I}, s:o, s:o, s:o, "
	    "s:o}", "tasks", tasks, "open_by_priority", "urgent",
	    (json_int_t)urgent, "normal", (json_int_t)normal,
	    "oldest_pending_seconds", oldest < 0 ? json_null() :
	    json_integer(oldest), "outcomes_today", today,
	    "median_seconds_to_first_call", median < 0 ? json_null() :
	    json_integer(median), "outbox", outbox));
	return;
store:
	reply_store_error(req, "stats");
fail:
	json_decref(tasks);
	json_decref(today);
	json_decref(outbox);
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
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (http_server_route(srv, routes[i].pattern, routes[i].methods,
		    routes[i].cb, app) < 0)
			return -1;
	return 0;
}
