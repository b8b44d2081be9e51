/*
 * metrics: counters any thread bumps without a lock, and GET /metrics,
 * which writes them, with the queue and outbox read from the store, in
 * Prometheus's text format.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "provider.h"
#include "store.h"

_Static_assert(METRICS_LANE_COUNT == 6, "a lane was added: name it below");

typedef atomic_uint_fast64_t counter;

/* Bump and read; relaxed: each counter is its own, and a scrape needs no
 * order between them. */
#define BUMP(c) atomic_fetch_add_explicit(&(c), 1, memory_order_relaxed)
#define ADD(c, n) atomic_fetch_add_explicit(&(c), (n), memory_order_relaxed)
#define LOAD(c) ((uint64_t)atomic_load_explicit(&(c), memory_order_relaxed))

/* The slot past the last remembered one: "other". */
#define OTHER_CHANNEL METRICS_CHANNELS_MAX
#define OTHER_ROUTE METRICS_ROUTES_MAX
#define NO_ROUTE (METRICS_ROUTES_MAX + 1)

/* HTTP statuses counted by code; any other is counted as "other". */
static const int http_codes[] = { 200, 201, 202, 204, 304, 400, 401, 403,
    404, 405, 409, 413, 415, 422, 429, 500, 502, 503, 504 };
#define NCODES (sizeof(http_codes) / sizeof(http_codes[0]))

/* Upper bounds of the histograms' buckets (+Inf is implicit). */
static const double batch_bounds[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256 };
static const double commit_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };
#define NBATCH (sizeof(batch_bounds) / sizeof(batch_bounds[0]))
#define NCOMMIT (sizeof(commit_bounds) / sizeof(commit_bounds[0]))

/*
 * Names are appended once and never change: a reader scans the first
 * `n` (acquire), whose names were written before n was stored (release).
 * Only adding takes the lock, so two threads never add one name twice.
 */
static struct {
	char chan[METRICS_CHANNELS_MAX][33];
	atomic_size_t nchan;
	const char *route[METRICS_ROUTES_MAX];
	atomic_size_t nroute;
	pthread_mutex_t lock;
} names = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Every counter; zeroed whole by metrics_reset. */
static struct {
	double start_time;
	counter http[METRICS_ROUTES_MAX + 2][NCODES + 1];
	counter webhook[METRICS_CHANNELS_MAX + 1][METRICS_KIND_COUNT]
	    [METRICS_WEBHOOK_RESULT_COUNT];
	counter hops[METRICS_CHANNELS_MAX + 1];
	counter sessions_started[METRICS_CHANNELS_MAX + 1];
	counter sessions_ended[METRICS_CHANNELS_MAX + 1];
	counter tasks[METRICS_CHANNELS_MAX + 1][2];
	counter sends[METRICS_CHANNELS_MAX + 1][METRICS_SEND_RESULT_COUNT];
	counter dlrs[METRICS_CHANNELS_MAX + 1][METRICS_DLR_OUTCOME_COUNT];
	counter auth[METRICS_AUTH_REFUSAL_COUNT];
	counter reveals[METRICS_REVEAL_VIA_COUNT];
	/* Histograms: each bucket counts only its own range (the last is
	 * past every bound); cumulated when written. */
	counter batch[NBATCH + 1];
	counter batch_sum;
	counter commit[NCOMMIT + 1];
	counter commit_sum_ns;
	counter commit_failed;
} m;

static const char *const kind_names[METRICS_KIND_COUNT] = {
	[METRICS_KIND_USSD] = "ussd",
	[METRICS_KIND_SMS] = "sms",
	[METRICS_KIND_DLR] = "dlr",
};
static const char *const webhook_names[METRICS_WEBHOOK_RESULT_COUNT] = {
	[METRICS_WEBHOOK_STORED] = "stored",
	[METRICS_WEBHOOK_DUPLICATE] = "duplicate",
	[METRICS_WEBHOOK_REFUSED_BAD_REQUEST] = "refused_bad_request",
	[METRICS_WEBHOOK_REFUSED_FORBIDDEN] = "refused_forbidden",
	[METRICS_WEBHOOK_REFUSED_UNSUPPORTED] = "refused_unsupported_media",
	[METRICS_WEBHOOK_UNAVAILABLE] = "unavailable",
};
static const char *const send_names[METRICS_SEND_RESULT_COUNT] = {
	[METRICS_SEND_SENT] = "sent",
	[METRICS_SEND_DELIVERED] = "delivered",
	[METRICS_SEND_FAILED] = "failed",
	[METRICS_SEND_UNKNOWN] = "unknown",
	[METRICS_SEND_RETRY] = "retry",
	[METRICS_SEND_BLOCKED] = "blocked",
	[METRICS_SEND_EXPIRED] = "expired",
};
static const char *const dlr_names[METRICS_DLR_OUTCOME_COUNT] = {
	[METRICS_DLR_SENT] = "sent",
	[METRICS_DLR_DELIVERED] = "delivered",
	[METRICS_DLR_FAILED] = "failed",
	[METRICS_DLR_UNKNOWN] = "unknown",
};
static const char *const auth_names[METRICS_AUTH_REFUSAL_COUNT] = {
	[METRICS_AUTH_UNAUTHORIZED] = "unauthorized",
	[METRICS_AUTH_RATE_LIMITED] = "rate_limited",
	[METRICS_AUTH_FORBIDDEN] = "forbidden",
};
static const char *const reveal_names[METRICS_REVEAL_VIA_COUNT] = {
	[METRICS_REVEAL_CLAIM] = "claim",
	[METRICS_REVEAL_SHOW] = "show",
};
static const char *const lane_names[METRICS_LANE_COUNT] = {
	[STORE_LANE_URGENT] = "urgent",
	[STORE_LANE_CONFIRMATION] = "confirmation",
	[STORE_LANE_FIRST_REPLY] = "first_reply",
	[STORE_LANE_REPLY] = "reply",
	[STORE_LANE_COUNSELLOR] = "counsellor",
	[STORE_LANE_FOLLOWUP] = "followup",
};

void
metrics_reset(double start_time)
{
	/* Before any thread counts (or, in tests, between cases). */
	memset(&m, 0, sizeof(m));
	m.start_time = start_time;
	pthread_mutex_lock(&names.lock);
	atomic_store(&names.nchan, 0);
	atomic_store(&names.nroute, 0);
	pthread_mutex_unlock(&names.lock);
}

/* A channel's slot: its own, a new one, or OTHER_CHANNEL when the table
 * is full. */
static size_t
chan_slot(const char *name)
{
	size_t n = atomic_load_explicit(&names.nchan, memory_order_acquire);

	for (size_t i = 0; i < n; i++)
		if (strcmp(names.chan[i], name) == 0)
			return i;
	pthread_mutex_lock(&names.lock);
	n = atomic_load_explicit(&names.nchan, memory_order_relaxed);
	for (size_t i = 0; i < n; i++)
		if (strcmp(names.chan[i], name) == 0) {
			pthread_mutex_unlock(&names.lock);
			return i;
		}
	if (n == METRICS_CHANNELS_MAX || strlen(name) >=
	    sizeof(names.chan[0])) {
		pthread_mutex_unlock(&names.lock);
		return OTHER_CHANNEL;
	}
	memcpy(names.chan[n], name, strlen(name) + 1);
	atomic_store_explicit(&names.nchan, n + 1, memory_order_release);
	pthread_mutex_unlock(&names.lock);
	return n;
}

/* A route pattern's slot (patterns are literals that outlive us). */
static size_t
route_slot(const char *pattern)
{
	size_t n;

	if (pattern == NULL)
		return NO_ROUTE;
	n = atomic_load_explicit(&names.nroute, memory_order_acquire);
	for (size_t i = 0; i < n; i++)
		if (names.route[i] == pattern ||
		    strcmp(names.route[i], pattern) == 0)
			return i;
	pthread_mutex_lock(&names.lock);
	n = atomic_load_explicit(&names.nroute, memory_order_relaxed);
	for (size_t i = 0; i < n; i++)
		if (strcmp(names.route[i], pattern) == 0) {
			pthread_mutex_unlock(&names.lock);
			return i;
		}
	if (n == METRICS_ROUTES_MAX) {
		pthread_mutex_unlock(&names.lock);
		return OTHER_ROUTE;
	}
	names.route[n] = pattern;
	atomic_store_explicit(&names.nroute, n + 1, memory_order_release);
	pthread_mutex_unlock(&names.lock);
	return n;
}

void
metrics_http_request(const char *pattern, int status)
{
	size_t c = NCODES;

	for (size_t i = 0; i < NCODES; i++)
		if (http_codes[i] == status)
			c = i;
	BUMP(m.http[route_slot(pattern)][c]);
}

void
metrics_webhook(enum metrics_webhook_kind kind, const char *channel,
    enum metrics_webhook_result result)
{
	if (channel != NULL)
		BUMP(m.webhook[chan_slot(channel)][kind][result]);
}

void
metrics_ussd_hop(const char *channel, bool first, bool end)
{
	size_t c;

	if (channel == NULL)
		return;
	c = chan_slot(channel);
	BUMP(m.hops[c]);
	if (first)
		BUMP(m.sessions_started[c]);
	if (end)
		BUMP(m.sessions_ended[c]);
}

void
metrics_task_created(const char *channel, bool urgent)
{
	if (channel != NULL)
		BUMP(m.tasks[chan_slot(channel)][urgent ? 0 : 1]);
}

void
metrics_send(const char *channel, enum metrics_send_result result)
{
	if (channel != NULL)
		BUMP(m.sends[chan_slot(channel)][result]);
}

void
metrics_dlr(const char *channel, enum metrics_dlr_outcome outcome)
{
	if (channel != NULL)
		BUMP(m.dlrs[chan_slot(channel)][outcome]);
}

void
metrics_auth_refused(enum metrics_auth_refusal why)
{
	BUMP(m.auth[why]);
}

void
metrics_reveal(enum metrics_reveal_via via)
{
	BUMP(m.reveals[via]);
}

void
metrics_commit(size_t units, double seconds)
{
	size_t b = 0;

	while (b < NBATCH && (double)units > batch_bounds[b])
		b++;
	BUMP(m.batch[b]);
	ADD(m.batch_sum, units);
	b = 0;
	while (b < NCOMMIT && seconds > commit_bounds[b])
		b++;
	BUMP(m.commit[b]);
	ADD(m.commit_sum_ns, (uint64_t)(seconds * 1e9));
}

void
metrics_commit_failed(void)
{
	BUMP(m.commit_failed);
}

/* ------------------------------------------------------------------ */
/* The exposition                                                      */

struct buf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void
put(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n;
		char *p = realloc(b->p, cap);

		if (p == NULL) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

/* A label value as the format wants it: \ " and newline escaped.  Ours
 * are channel names and route patterns, which need none; escaped all
 * the same, so a later label cannot break the text. */
static const char *
esc(const char *s, char *out, size_t outlen)
{
	size_t n = 0;

	for (; *s != '\0' && n + 3 < outlen; s++) {
		if (*s == '\\' || *s == '"') {
			out[n++] = '\\';
			out[n++] = *s;
		} else if (*s == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else
			out[n++] = *s;
	}
	out[n] = '\0';
	return out;
}

static void
family(struct buf *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The channels with a slot, then "other" when it counted anything. */
static size_t
chans_known(void)
{
	return atomic_load_explicit(&names.nchan, memory_order_acquire);
}

static const char *
chan_label(size_t i, char *out, size_t outlen)
{
	return i == OTHER_CHANNEL ? "other" : esc(names.chan[i], out, outlen);
}

static size_t
chan_next(size_t i, size_t n)
{
	if (i == OTHER_CHANNEL)
		return OTHER_CHANNEL + 1;
	return i + 1 < n ? i + 1 : OTHER_CHANNEL;
}

/* Walk the known channels and, when `other` is non-zero, the overflow. */
#define FOR_CHANNELS(i, other)                                           \
	for (size_t n_ = chans_known(), i = n_ > 0 ? 0 : OTHER_CHANNEL;  \
	    i <= OTHER_CHANNEL; i = chan_next(i, n_))                    \
		if (i < n_ || (other))

static uint64_t
sum(const counter *c, size_t n)
{
	uint64_t t = 0;

	for (size_t i = 0; i < n; i++)
		t += LOAD(c[i]);
	return t;
}

static void
render_http(struct buf *b)
{
	size_t n = atomic_load_explicit(&names.nroute, memory_order_acquire);
	char esc_route[160], code[8];

	family(b, "hotline_http_requests_total", "counter", "HTTP requests "
	    "answered, by route pattern and status code.");
	for (size_t r = 0; r < METRICS_ROUTES_MAX + 2; r++) {
		const char *route;

		if (r < n)
			route = esc(names.route[r], esc_route,
			    sizeof(esc_route));
		else if (r == OTHER_ROUTE)
			route = "other";
		else if (r == NO_ROUTE)
			route = "unmatched";
		else
			continue;
		for (size_t c = 0; c <= NCODES; c++) {
			uint64_t v = LOAD(m.http[r][c]);

			/* Only what happened: routes times codes is large. */
			if (v == 0)
				continue;
			if (c < NCODES)
				snprintf(code, sizeof(code), "%d",
				    http_codes[c]);
			else
				snprintf(code, sizeof(code), "other");
			put(b, "hotline_http_requests_total{route=\"%s\","
			    "code=\"%s\"} %llu\n", route, code,
			    (unsigned long long)v);
		}
	}
}

static void
render_channels(struct buf *b)
{
	char ch[80];

	family(b, "hotline_webhooks_total", "counter", "Aggregator webhooks "
	    "(USSD hops, inbound SMS, delivery reports) by channel, kind and "
	    "result.");
	FOR_CHANNELS(i, sum(&m.webhook[OTHER_CHANNEL][0][0],
	    METRICS_KIND_COUNT * METRICS_WEBHOOK_RESULT_COUNT))
		for (size_t k = 0; k < METRICS_KIND_COUNT; k++)
			for (size_t r = 0; r < METRICS_WEBHOOK_RESULT_COUNT;
			    r++)
				put(b, "hotline_webhooks_total{channel=\"%s\","
				    "kind=\"%s\",result=\"%s\"} %llu\n",
				    chan_label(i, ch, sizeof(ch)),
				    kind_names[k], webhook_names[r],
				    (unsigned long long)LOAD(
				    m.webhook[i][k][r]));

	family(b, "hotline_ussd_hops_total", "counter", "USSD hops stored, "
	    "by channel.");
	FOR_CHANNELS(i, LOAD(m.hops[OTHER_CHANNEL]))
		put(b, "hotline_ussd_hops_total{channel=\"%s\"} %llu\n",
		    chan_label(i, ch, sizeof(ch)),
		    (unsigned long long)LOAD(m.hops[i]));
	family(b, "hotline_ussd_sessions_started_total", "counter", "USSD "
	    "sessions begun (a session's first hop), by channel.");
	FOR_CHANNELS(i, LOAD(m.sessions_started[OTHER_CHANNEL]))
		put(b, "hotline_ussd_sessions_started_total{channel=\"%s\"} "
		    "%llu\n", chan_label(i, ch, sizeof(ch)),
		    (unsigned long long)LOAD(m.sessions_started[i]));
	family(b, "hotline_ussd_sessions_ended_total", "counter", "USSD "
	    "sessions the menu ended, by channel.");
	FOR_CHANNELS(i, LOAD(m.sessions_ended[OTHER_CHANNEL]))
		put(b, "hotline_ussd_sessions_ended_total{channel=\"%s\"} "
		    "%llu\n", chan_label(i, ch, sizeof(ch)),
		    (unsigned long long)LOAD(m.sessions_ended[i]));

	family(b, "hotline_tasks_created_total", "counter", "Callback tasks "
	    "created, by channel and priority.");
	FOR_CHANNELS(i, sum(m.tasks[OTHER_CHANNEL], 2))
		for (size_t p = 0; p < 2; p++)
			put(b, "hotline_tasks_created_total{channel=\"%s\","
			    "priority=\"%s\"} %llu\n",
			    chan_label(i, ch, sizeof(ch)),
			    p == 0 ? "urgent" : "normal",
			    (unsigned long long)LOAD(m.tasks[i][p]));

	family(b, "hotline_sends_total", "counter", "Outbound texts' "
	    "attempts and claims, by channel (or @alerts) and result.");
	FOR_CHANNELS(i, sum(m.sends[OTHER_CHANNEL],
	    METRICS_SEND_RESULT_COUNT))
		for (size_t r = 0; r < METRICS_SEND_RESULT_COUNT; r++)
			put(b, "hotline_sends_total{channel=\"%s\","
			    "result=\"%s\"} %llu\n",
			    chan_label(i, ch, sizeof(ch)), send_names[r],
			    (unsigned long long)LOAD(m.sends[i][r]));

	family(b, "hotline_delivery_reports_total", "counter", "Delivery "
	    "reports stored, by channel and outcome.");
	FOR_CHANNELS(i, sum(m.dlrs[OTHER_CHANNEL],
	    METRICS_DLR_OUTCOME_COUNT))
		for (size_t r = 0; r < METRICS_DLR_OUTCOME_COUNT; r++)
			put(b, "hotline_delivery_reports_total{channel=\"%s\","
			    "outcome=\"%s\"} %llu\n",
			    chan_label(i, ch, sizeof(ch)), dlr_names[r],
			    (unsigned long long)LOAD(m.dlrs[i][r]));
}

static void
render_histogram(struct buf *b, const char *name, const double *bounds,
    size_t nbounds, const counter *buckets, double total)
{
	uint64_t cum = 0;

	for (size_t i = 0; i < nbounds; i++) {
		cum += LOAD(buckets[i]);
		put(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
		    (unsigned long long)cum);
	}
	cum += LOAD(buckets[nbounds]);
	put(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	    (unsigned long long)cum);
	put(b, "%s_sum %.9g\n", name, total);
	put(b, "%s_count %llu\n", name, (unsigned long long)cum);
}

static void
render_queue(struct buf *b, const struct metrics_queue *q)
{
	static const char *const prio[2] = { "urgent", "normal" };

	family(b, "hotline_store_read_ok", "gauge", "1 when this scrape read "
	    "the queue and outbox from the database, else 0 (and they are "
	    "left out).");
	put(b, "hotline_store_read_ok %d\n", q != NULL && q->ok);
	if (q == NULL || !q->ok)
		return;
	family(b, "hotline_queue_tasks", "gauge", "Open callback tasks, by "
	    "status and priority.");
	for (size_t s = 0; s < 2; s++)
		for (size_t p = 0; p < 2; p++)
			put(b, "hotline_queue_tasks{status=\"%s\","
			    "priority=\"%s\"} %lld\n", s == 0 ? "pending" :
			    "claimed", prio[p], (long long)q->tasks[s][p]);
	family(b, "hotline_queue_oldest_pending_seconds", "gauge", "How long "
	    "the oldest pending, due task of each priority has waited since "
	    "it was created (0: none).");
	for (size_t p = 0; p < 2; p++)
		put(b, "hotline_queue_oldest_pending_seconds{priority=\"%s\"} "
		    "%lld\n", prio[p], (long long)q->oldest_pending[p]);
	family(b, "hotline_outbox_rows", "gauge", "Outbound texts in the "
	    "database, by status.");
	for (size_t s = 0; s < STORE_OUTBOUND_STATUS_COUNT; s++)
		put(b, "hotline_outbox_rows{status=\"%s\"} %lld\n",
		    store_outbound_status_name(
		    (enum store_outbound_status)s), (long long)q->outbox[s]);
	family(b, "hotline_outbox_due_rows", "gauge", "Pending outbound texts "
	    "already due and not yet sent, by lane (counted up to 1000 a "
	    "channel).");
	for (size_t l = 0; l < METRICS_LANE_COUNT; l++)
		put(b, "hotline_outbox_due_rows{lane=\"%s\"} %lld\n",
		    lane_names[l], (long long)q->outbox_due[l]);
}

char *
metrics_render(const struct metrics_queue *q, size_t *len)
{
	struct buf b = { .cap = 16384 };

	if ((b.p = malloc(b.cap)) == NULL)
		return NULL;
	b.p[0] = '\0';
	family(&b, "hotline_build_info", "gauge", "The daemon's version and "
	    "its database schema version; always 1.");
	put(&b, "hotline_build_info{version=\"%s\",schema_version=\"%d\"} 1\n",
	    HOTLINE_VERSION, STORE_SCHEMA_VERSION);
	family(&b, "process_start_time_seconds", "gauge", "Start time of the "
	    "process since the Unix epoch, in seconds.");
	put(&b, "process_start_time_seconds %.3f\n", m.start_time);

	render_http(&b);
	render_channels(&b);

	family(&b, "hotline_auth_refusals_total", "counter", "Requests to the "
	    "API or /metrics refused for their credentials, by reason.");
	for (size_t i = 0; i < METRICS_AUTH_REFUSAL_COUNT; i++)
		put(&b, "hotline_auth_refusals_total{reason=\"%s\"} %llu\n",
		    auth_names[i], (unsigned long long)LOAD(m.auth[i]));
	family(&b, "hotline_number_reveals_total", "counter", "Callers' "
	    "numbers shown to counsellors through the API (each audited as "
	    "number.revealed), by how.");
	for (size_t i = 0; i < METRICS_REVEAL_VIA_COUNT; i++)
		put(&b, "hotline_number_reveals_total{via=\"%s\"} %llu\n",
		    reveal_names[i], (unsigned long long)LOAD(m.reveals[i]));

	family(&b, "hotline_writer_batch_units", "histogram", "Units of work "
	    "in each committed batch (group commit).");
	render_histogram(&b, "hotline_writer_batch_units", batch_bounds,
	    NBATCH, m.batch, (double)LOAD(m.batch_sum));
	family(&b, "hotline_writer_commit_seconds", "histogram", "Time to "
	    "commit each batch (the fsync), in seconds.");
	render_histogram(&b, "hotline_writer_commit_seconds", commit_bounds,
	    NCOMMIT, m.commit, (double)LOAD(m.commit_sum_ns) / 1e9);
	family(&b, "hotline_writer_batches_failed_total", "counter", "Batches "
	    "that could not begin or commit (every unit in them failed).");
	put(&b, "hotline_writer_batches_failed_total %llu\n",
	    (unsigned long long)LOAD(m.commit_failed));

	render_queue(&b, q);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/* ------------------------------------------------------------------ */
/* Reading the queue and the outbox                                    */

/* "2026-11-29T10:00:00Z" (as stored) to unix time; -1 if it is not. */
static time_t
stored_time(const char *s)
{
	static const int at[] = { 0, 5, 8, 11, 14, 17 };
	static const int width[] = { 4, 2, 2, 2, 2, 2 };
	int v[6];
	struct tm tm = { 0 };

	if (s == NULL || strlen(s) < 19)
		return -1;
	for (size_t i = 0; i < 6; i++) {
		v[i] = 0;
		for (int j = 0; j < width[i]; j++) {
			char c = s[at[i] + j];

			if (c < '0' || c > '9')
				return -1;
			v[i] = v[i] * 10 + (c - '0');
		}
	}
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	return timegm(&tm);
}

struct task_walk {
	struct metrics_queue *q;
	time_t now;
	size_t seen;
};

/* Open tasks are few (a hotline's queue, not its history), but a
 * scrape reads at most this many. */
#define TASK_SCAN_MAX 100000

static int
count_task(const struct store_task *t, void *arg)
{
	struct task_walk *w = arg;
	int p = t->urgent ? 0 : 1;
	time_t created, retry;

	if (++w->seen > TASK_SCAN_MAX)
		return 1;
	if (t->status == STORE_TASK_CLAIMED) {
		w->q->tasks[1][p]++;
		return 0;
	}
	if (t->status != STORE_TASK_PENDING)
		return 0;
	w->q->tasks[0][p]++;
	/* A task put off until a later try is not waiting for anyone. */
	if (t->retry_at != NULL && (retry = stored_time(t->retry_at)) > w->now)
		return 0;
	if ((created = stored_time(t->created_at)) >= 0 &&
	    w->now - created > w->q->oldest_pending[p])
		w->q->oldest_pending[p] = w->now - created;
	return 0;
}

static int
count_due(const struct store_outbox_row *r, void *arg)
{
	struct metrics_queue *q = arg;

	if ((size_t)r->lane < METRICS_LANE_COUNT)
		q->outbox_due[r->lane]++;
	return 0;
}

int
metrics_queue_read(struct app *app, struct metrics_queue *q)
{
	const struct config *cfg = app->config;
	struct task_walk w = { .q = q, .now = time(NULL) };
	char err[256];

	memset(q, 0, sizeof(*q));
	/* Counts only: no number is opened for a scrape. */
	if (store_tasks_open_foreach(app->store, false, count_task, &w, err,
	    sizeof(err)) < 0)
		goto fail;
	for (size_t s = 0; s < STORE_OUTBOUND_STATUS_COUNT; s++)
		if (store_outbox_count(app->store,
		    (enum store_outbound_status)s, &q->outbox[s]) < 0)
			goto fail;
	for (size_t i = 0; i < cfg->nchannels; i++) {
		/* A channel that has counted nothing yet is shown at 0. */
		chan_slot(cfg->channels[i].name);
		if (store_outbox_due(app->store, cfg->channels[i].name,
		    METRICS_DUE_SCAN_MAX, count_due, q, err, sizeof(err)) < 0)
			goto fail;
	}
	q->ok = true;
	return 0;
fail:
	log_event(LOG_ERROR, "store.failed", "op", "metrics", NULL);
	q->ok = false;
	return -1;
}

/* ------------------------------------------------------------------ */
/* GET /metrics                                                        */

/* Straight from this host, not through a proxy on it (which would make
 * every client look local). */
static bool
local_request(struct http_request *req)
{
	return provider_peer_is_loopback(http_request_tcp_peer(req)) &&
	    !http_request_forwarded(req);
}

static void
metrics_cb(struct http_request *req, void *arg)
{
	struct app *app = arg;
	struct metrics_queue q;
	enum auth_role role;
	size_t len;
	char *text;

	if (!(app->config->metrics_allow_loopback && local_request(req)) &&
	    !api_authenticate(req, app, AUTH_METRICS, &role))
		return;
	metrics_queue_read(app, &q);
	if ((text = metrics_render(&q, &len)) == NULL) {
		http_reply_error(req, 503, "unavailable", "out of memory; "
		    "retry");
		return;
	}
	http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text,
	    len);
	free(text);
}

int
metrics_routes(struct http_server *srv, struct app *app)
{
	return http_server_route(srv, "/metrics", HTTP_GET, metrics_cb, app);
}
