/*
 * retention: the daemon's periodic purge (see retention.h), and the
 * policy it shares with hotlinectl purge.
 */
#include "retention.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "app.h"
#include "config.h"
#include "log.h"
#include "writer.h"

struct retention {
	struct app *app;
	struct event *timer;
	/* One purge at a time: its policy (fixed when it starts, so every
	 * step cuts at the same time), what it did so far, and from the
	 * writer, the last step's result. */
	struct store_purge_policy policy;
	struct store_purge_counts total;
	struct store_purge_counts step;
	int64_t pages;            /* given back to the file system */
	int64_t step_pages;
	unsigned steps;
	char error[256];
};

void
retention_policy(const struct config *cfg, double now, bool dry_run,
    size_t cap, struct store_purge_policy *out)
{
	*out = (struct store_purge_policy){
		.now = now,
		.retention_days = cfg->retention_days,
		.audit_days = cfg->audit_retention_days,
		.cap = cap,
		.dry_run = dry_run,
	};
}

void
retention_counts_format(const struct store_purge_counts *c, char *out,
    size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < STORE_PURGE_TABLE_COUNT && used < len; i++) {
		int n = snprintf(out + used, len - used, "%s%s=%lld",
		    i ? " " : "",
		    store_purge_table_name((enum store_purge_table)i),
		    (long long)c->rows[i]);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static void
arm(struct retention *r, unsigned seconds)
{
	struct timeval tv = { (time_t)seconds, 0 };

	if (evtimer_add(r->timer, &tv) < 0)
		log_event(LOG_ERROR, "retention.failed", "error", "cannot arm "
		    "the purge timer", NULL);
}

/* Writer thread: one capped step, then the freed pages back. */
static int
step_work(struct store *st, void *arg)
{
	struct retention *r = arg;
	int64_t changed = 0;

	r->step_pages = 0;
	if (store_purge(st, &r->policy, &r->step, r->error,
	    sizeof(r->error)) < 0)
		return -1;
	for (int i = 0; i < STORE_PURGE_TABLE_COUNT; i++)
		changed += r->step.rows[i];
	if (changed > 0 && store_reclaim(st, &r->step_pages, r->error,
	    sizeof(r->error)) < 0)
		return -1;
	return 0;
}

static void
step_done(enum writer_result result, void *arg)
{
	struct retention *r = arg;
	char counts[512], pages[24], steps[16], keys[24];

	if (result != WRITER_COMMITTED) {
		log_event(LOG_ERROR, "retention.failed", "error",
		    r->error[0] ? r->error : "the batch was not committed",
		    NULL);
		memset(&r->total, 0, sizeof(r->total));
		r->steps = 0;
		r->pages = 0;
		arm(r, r->app->config->purge_interval);
		return;
	}
	for (int i = 0; i < STORE_PURGE_TABLE_COUNT; i++)
		r->total.rows[i] += r->step.rows[i];
	r->total.keys += r->step.keys;
	r->pages += r->step_pages;
	r->steps++;
	if (r->step.more) {
		/* Through the loop: whatever else waits for the writer goes
		 * between two steps.  (After the loop has stopped, the timer
		 * never fires.) */
		event_active(r->timer, EV_TIMEOUT, 0);
		return;
	}
	retention_counts_format(&r->total, counts, sizeof(counts));
	snprintf(pages, sizeof(pages), "%lld", (long long)r->pages);
	snprintf(steps, sizeof(steps), "%u", r->steps);
	snprintf(keys, sizeof(keys), "%lld", (long long)r->total.keys);
	log_event(LOG_INFO, "retention.purged", "counts", counts,
	    "keys_destroyed", keys, "pages_freed", pages, "steps", steps,
	    NULL);
	memset(&r->total, 0, sizeof(r->total));
	r->steps = 0;
	r->pages = 0;
	arm(r, r->app->config->purge_interval);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct retention *r = arg;

	(void)fd;
	(void)what;
	/* A new purge takes the config of now; a step goes on with its
	 * purge's. */
	if (r->steps == 0)
		retention_policy(r->app->config, (double)time(NULL), false,
		    RETENTION_STEP_ROWS, &r->policy);
	memset(&r->step, 0, sizeof(r->step));
	r->error[0] = '\0';
	if (writer_submit_background(r->app->writer, step_work, step_done,
	    r) < 0) {
		log_event(LOG_ERROR, "retention.failed", "error",
		    "out of memory", NULL);
		arm(r, r->app->config->purge_interval);
	}
}

struct retention *
retention_new(struct app *app)
{
	struct retention *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->app = app;
	if ((r->timer = evtimer_new(app->base, timer_cb, r)) == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

int
retention_start(struct retention *r)
{
	unsigned first = r->app->config->purge_interval;
	struct timeval tv;

	if (first > RETENTION_FIRST_SECONDS)
		first = RETENTION_FIRST_SECONDS;
	tv = (struct timeval){ (time_t)first, 0 };
	return evtimer_add(r->timer, &tv);
}

void
retention_free(struct retention *r)
{
	if (r == NULL)
		return;
	event_free(r->timer);
	free(r);
}
