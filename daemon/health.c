#include "health.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include <event2/event.h>
#include <jansson.h>

#include "app.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "outbox.h"
#include "store.h"
#include "writer.h"

/* What makes /readyz answer 503. */
enum health_cond {
	HEALTH_DATABASE,          /* the database does not take a write */
	HEALTH_DISK,              /* free disk under health.min_free_mb */
	HEALTH_OUTBOX,            /* rows wait, no send has succeeded for
	                             health.outbox_stall_seconds */
};
#define HEALTH_CONDS 3

struct health {
	struct app *app;
	struct event *timer;      /* the periodic check */
	bool bad[HEALTH_CONDS];   /* what the last check found */
	bool pinging;             /* its database probe is in flight */
};

void
health_healthz_cb(struct http_request *req, void *arg)
{
	static const char ok[] = "{\"status\":\"ok\"}";

	(void)arg;
	http_reply(req, 200, "application/json", ok, sizeof(ok) - 1);
}

static const char *const health_names[HEALTH_CONDS] = {
	[HEALTH_DATABASE] = "database_not_writable",
	[HEALTH_DISK] = "disk_low",
	[HEALTH_OUTBOX] = "outbox_stalled",
};

/* The conditions checked on the loop (disk, outbox): each one found is
 * marked in bad[] with a sentence for an operator in why[]. */
static void
check_loop(struct app *app, bool bad[HEALTH_CONDS],
    char why[HEALTH_CONDS][256])
{
	const struct config *cfg = app->config;
	char dir[4096];
	const char *slash = strrchr(cfg->database, '/');
	struct statvfs sv;
	double stalled;

	/* statvfs on the directory: the file may not exist yet, and the
	 * WAL and journal grow beside it. */
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == cfg->database)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s",
		    (int)(slash - cfg->database), cfg->database);
	if (cfg->health_min_free_mb > 0 && statvfs(dir, &sv) == 0) {
		unsigned long long mb = (unsigned long long)sv.f_bavail *
		    sv.f_frsize / (1024 * 1024);

		if (mb < cfg->health_min_free_mb) {
			bad[HEALTH_DISK] = true;
			snprintf(why[HEALTH_DISK], sizeof(why[HEALTH_DISK]),
			    "%llu MB free under the database, below "
			    "health.min_free_mb (%u); free space on that "
			    "filesystem or move the database", mb,
			    cfg->health_min_free_mb);
		}
	}
	if (cfg->health_outbox_stall > 0 &&
	    outbox_stalled(app->outbox, &stalled) == 0 &&
	    stalled >= cfg->health_outbox_stall) {
		bad[HEALTH_OUTBOX] = true;
		snprintf(why[HEALTH_OUTBOX], sizeof(why[HEALTH_OUTBOX]),
		    "texts have waited %.0f s with no send succeeding "
		    "(health.outbox_stall_seconds %u); check the "
		    "aggregator's status, credentials and the network "
		    "(outbox.retry and outbox.failed in the log)", stalled,
		    cfg->health_outbox_stall);
	}
}

/* Writer thread: prove the database takes a durable write. */
static int
ping_work(struct store *st, void *arg)
{
	char why[256];

	(void)arg;
	if (store_ping_write(st, why, sizeof(why)) < 0) {
		log_event(LOG_ERROR, "store.not_writable", "error", why, NULL);
		return -1;
	}
	return 0;
}

/* A /readyz request: what the loop found, waiting for the database's
 * answer. */
struct readyz {
	struct http_request *req;
	bool bad[HEALTH_CONDS];
	char why[HEALTH_CONDS][256];
};

static void
ping_done(enum writer_result result, void *arg)
{
	static const char ok[] = "{\"status\":\"ready\"}";
	struct readyz *rz = arg;
	json_t *doc = NULL, *reasons;
	char message[1024] = "";
	char *text = NULL;
	size_t used = 0;

	if (result != WRITER_COMMITTED) {
		rz->bad[HEALTH_DATABASE] = true;
		snprintf(rz->why[HEALTH_DATABASE],
		    sizeof(rz->why[HEALTH_DATABASE]), "the database does not "
		    "take writes; check disk space and permissions");
	}
	if ((reasons = json_array()) == NULL)
		goto oom;
	for (int c = 0; c < HEALTH_CONDS; c++) {
		if (!rz->bad[c])
			continue;
		if (json_array_append_new(reasons,
		    json_string(health_names[c])) < 0)
			goto oom;
		used += (size_t)snprintf(message + used, sizeof(message) -
		    used, "%s%s: %s", used ? ". " : "", health_names[c],
		    rz->why[c]);
		if (used >= sizeof(message))
			used = sizeof(message) - 1;
	}
	if (json_array_size(reasons) == 0) {
		json_decref(reasons);
		http_reply(rz->req, 200, "application/json", ok,
		    sizeof(ok) - 1);
		free(rz);
		return;
	}
	/* http_reply_error's document, with the reasons as names too. */
	doc = json_pack("{s:{s:s, s:s, s:o}}", "error", "code", "not_ready",
	    "message", message, "reasons", reasons);
	if (doc == NULL || (text = json_dumps(doc, JSON_COMPACT)) == NULL)
		goto oom;
	http_reply(rz->req, 503, "application/json", text, strlen(text));
	free(text);
	json_decref(doc);
	free(rz);
	return;
oom:
	json_decref(doc);
	http_reply_error(rz->req, 503, "not_ready", "out of memory");
	free(rz);
}

void
health_readyz_cb(struct http_request *req, void *arg)
{
	struct health *h = arg;
	struct app *app = h->app;
	struct readyz *rz = calloc(1, sizeof(*rz));

	if (rz == NULL) {
		http_reply_error(req, 503, "not_ready", "out of memory");
		return;
	}
	rz->req = req;
	check_loop(app, rz->bad, rz->why);
	if (writer_submit(app->writer, ping_work, ping_done, rz) < 0) {
		http_reply_error(req, 503, "not_ready", "out of memory");
		free(rz);
	}
}

/* One condition's state after a check: a warning every interval while
 * it lasts, one line when it ends. */
static void
note(struct health *h, enum health_cond c, bool bad, const char *why)
{
	if (bad)
		log_event(LOG_WARN, "health.degraded", "reason",
		    health_names[c], "fix", why, NULL);
	else if (h->bad[c])
		log_event(LOG_INFO, "health.recovered", "reason",
		    health_names[c], NULL);
	h->bad[c] = bad;
}

static void
probe_done(enum writer_result result, void *arg)
{
	struct health *h = arg;

	h->pinging = false;
	note(h, HEALTH_DATABASE, result != WRITER_COMMITTED,
	    "the database does not take writes; check disk space and "
	    "permissions");
}

static void
check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct health *h = arg;
	struct timeval tv = { (time_t)h->app->config->health_interval, 0 };
	bool bad[HEALTH_CONDS] = { false };
	char why[HEALTH_CONDS][256];

	(void)fd;
	(void)what;
	check_loop(h->app, bad, why);
	note(h, HEALTH_DISK, bad[HEALTH_DISK], why[HEALTH_DISK]);
	note(h, HEALTH_OUTBOX, bad[HEALTH_OUTBOX], why[HEALTH_OUTBOX]);
	/* One probe at a time: a writer stuck behind a lock is one
	 * condition, not a pile of units. */
	if (!h->pinging) {
		if (writer_submit(h->app->writer, ping_work, probe_done,
		    h) == 0)
			h->pinging = true;
	}
	/* Re-armed from the current config: a reload may change it. */
	evtimer_add(h->timer, &tv);
}

struct health *
health_new(struct app *app)
{
	struct health *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->app = app;
	if ((h->timer = evtimer_new(app->base, check_cb, h)) == NULL) {
		free(h);
		return NULL;
	}
	return h;
}

void
health_free(struct health *h)
{
	if (h == NULL)
		return;
	event_free(h->timer);
	free(h);
}

int
health_start(struct health *h)
{
	struct timeval tv = { (time_t)h->app->config->health_interval, 0 };

	return evtimer_add(h->timer, &tv);
}

void
health_degraded(const struct health *h, char *out, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return;
	out[0] = '\0';
	for (int c = 0; c < HEALTH_CONDS && used < len; c++)
		if (h->bad[c])
			used += (size_t)snprintf(out + used, len - used,
			    "%s%s", used ? ", " : "", health_names[c]);
}
