#include "outbox.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "config.h"
#include "contact.h"
#include "http_client.h"
#include "log.h"
#include "metrics.h"
#include "privacy.h"
#include "provider.h"
#include "schedule.h"
#include "smstext.h"
#include "store.h"
#include "writer.h"

/* The queue (outbound.channel) of the alerts.url sender's rows.  The
 * column is NOT NULL and names a queue, not only an SMS channel; "@"
 * cannot start a configured channel's name. */
#define WEBHOOK_QUEUE "@alerts"
/* Rows claimed per channel in one unit: bounds one claim's work. */
#define PICK_MAX 32
/* Look at the table at least this often. */
#define IDLE_SECONDS 30.0
/* How often to ask whether another process (hotlinectl) changed the
 * database: a change it makes is acted on within this. */
#define WATCH_SECONDS 1
/* A channel without a rate limit gets this many tokens a turn, so the
 * count stays finite. */
#define UNLIMITED_TOKENS (PICK_MAX * 4)
/* After a store error, a channel (or the alert sweep) waits this long. */
#define STORE_BACKOFF_SECONDS 1.0
/* Urgent tasks whose alerts are queued in one unit. */
#define ALERTS_MAX 16
/* A provider drops a repeated key for a day (eSMS: 24 h); resend an
 * ambiguous send only well inside that. */
#define RESEND_WINDOW_SECONDS (20 * 3600.0)
/* A Retry-After beyond this is a provider's mistake, not a plan. */
#define RETRY_AFTER_MAX 86400

struct chan;

/* A due row, copied out of the store's cursor, and what became of it. */
struct pick {
	struct store_outbox_row row;
	char *strings;            /* one allocation behind row's strings */
	enum { PICK_SEND, PICK_BLOCK, PICK_DEFER, PICK_EXPIRE } verdict;
	const char *reason;       /* static (contact_decide) */
	double at;
	bool applied;             /* the claim unit changed the row: only
	                             then is it sent (or logged) */
};

/* A request being built, and the storage it points into. */
struct out_req {
	struct http_client_request req;
	struct send_http http;    /* a provider's; cleared after sending */
	const char *headers[PROVIDER_SEND_HEADERS + 2];
	char header[256];
};

/*
 * A sender: what a queue's row becomes on the network, and what the
 * answer means.  Every queue has one: a configured channel's provider,
 * or the alerts.url webhook.  Claims, retries, backoff, recovery and
 * rates are the same for all; only these two differ.  Static tables, so
 * a send in flight may keep one across a config reload.
 */
struct sender {
	/* p's request into r: 0; 1 when no network is needed (the row is
	 * delivered where it stands: console); -1 with why when the row
	 * cannot be sent at all (it fails). */
	int (*build)(const struct chan *chan, const struct pick *p,
	    const char *text, const struct smstext_segments *seg,
	    struct out_req *r, char *why, size_t whylen);
	/* An answer with a status below 500 that is not a plain "try again"
	 * (408, 429): *ans.  chan is NULL when a reload removed it. */
	void (*parse)(const struct chan *chan, long status, const char *body,
	    size_t body_len, struct send_answer *ans);
};

/* One queue of rows and its sender. */
struct chan {
	struct outbox *ob;
	char name[64];
	const struct sender *sender;
	const struct config_channel *channel;   /* the provider sender's */
	bool local;               /* nothing leaves (console) */
	bool idempotent;          /* the receiver drops a repeated key */
	double rate;              /* messages a second; 0: no limit */
	size_t in_flight;
	double tokens;
	double refilled_at;       /* monotonic seconds */
	double retry_at;          /* monotonic: after a store error */
	bool recovered;           /* rows left mid-send settled */
	bool recovering;          /* that unit is in flight */
	bool claiming;            /* a claim unit is in flight: the loop's
	                             connection cannot see it, so the rows
	                             are not read again until its done */
};

struct outbox {
	struct event_base *base;
	const struct config *cfg;
	struct store *store;      /* the loop's: reads only */
	struct writer *writer;
	struct http_client *http;
	struct event *timer;
	struct event *watch;      /* other writers, every WATCH_SECONDS */
	int64_t data_version;     /* of the loop's connection */
	uint64_t seen_commits;    /* writer_commits at the last watch */
	int64_t writer_version;   /* data_version on the writer's side */
	bool writer_version_known;
	bool probing;
	bool alerting;            /* an alert sweep's unit is in flight */
	double alerts_retry_at;   /* monotonic: after a store error */
	bool escalating;          /* an escalation sweep's unit is in flight */
	double escalate_at;       /* wall clock: the next escalation sweep;
	                             0: at the next turn */
	double waiting_since;     /* monotonic: rows waiting since, with no
	                             send succeeding since; 0: none seen
	                             waiting (outbox_stalled) */
	struct chan *chans;
	size_t nchans;
	size_t in_flight;
	bool stopping;
};

/* One request in flight; owned by the outbox until its answer. */
struct send {
	struct outbox *ob;
	const struct sender *sender;
	int64_t id;
	char chan[64];
	char caller[PRIVACY_PSEUDONYM_SIZE + 1];
	bool idempotent;
	int attempts;             /* including this one */
	double created;           /* when the row was queued */
	unsigned segments;
	const char *encoding;
};

static double
monotonic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
random01(void)
{
	return (double)arc4random() / 4294967296.0;
}

static void
chan_refill(struct chan *chan, double now)
{
	/* A burst of one second's worth, at least one message. */
	double burst = chan->rate < 1.0 ? 1.0 : chan->rate;

	if (chan->rate <= 0) {
		chan->tokens = UNLIMITED_TOKENS;
		chan->refilled_at = now;
		return;
	}
	chan->tokens += (now - chan->refilled_at) * chan->rate;
	if (chan->tokens > burst)
		chan->tokens = burst;
	chan->refilled_at = now;
}

static struct chan *
chan_find(struct outbox *ob, const char *name)
{
	for (size_t i = 0; i < ob->nchans; i++)
		if (strcmp(ob->chans[i].name, name) == 0)
			return &ob->chans[i];
	return NULL;
}

static void
arm(struct outbox *ob, double seconds)
{
	struct timeval tv;

	if (ob->stopping)
		return;
	if (seconds <= 0) {
		event_active(ob->timer, EV_TIMEOUT, 0);
		return;
	}
	if (seconds < 0.01)
		seconds = 0.01;
	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	evtimer_add(ob->timer, &tv);
}

void
outbox_kick(struct outbox *ob)
{
	if (ob != NULL && !ob->stopping)
		event_active(ob->timer, EV_TIMEOUT, 0);
}

static void
log_row(enum log_level level, const char *event, const char *chan,
    const char *caller, int64_t id, int attempts, const char *k1,
    const char *v1, const char *k2, const char *v2)
{
	char idbuf[24], attbuf[16];

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	snprintf(attbuf, sizeof(attbuf), "%d", attempts);
	log_event(level, event, "channel", chan, "caller",
	    caller && caller[0] ? caller : "-", "out_id", idbuf, "attempt",
	    attbuf, k1, v1, k2, v2, NULL);
}

static void
log_store_failed(const char *op, const char *chan, int64_t id)
{
	char idbuf[24];

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	log_event(LOG_ERROR, "store.failed", "op", op, "channel", chan,
	    "out_id", id > 0 ? idbuf : "-", NULL);
}

/* ------------------------------------------------------------------ */
/* Results: each a unit of the writer; nothing waits for it            */

/* A send's result on its way to the store. */
struct outcome {
	struct outbox *ob;
	int64_t id;
	char chan[64];
	struct store_outbox_change c;
	char reason[256];
	char ref[128];
};

static int
outcome_work(struct store *st, void *arg)
{
	struct outcome *o = arg;
	bool applied;

	return store_outbox_update(st, o->id, &o->c, &applied);
}

static void
outcome_done(enum writer_result result, void *arg)
{
	struct outcome *o = arg;

	if (result != WRITER_COMMITTED)
		/* The row stays `sending`; the next start settles it. */
		log_store_failed("outbox_update", o->chan, o->id);
	/* A retry is pending again: the pump plans its turn. */
	outbox_kick(o->ob);
	free(o);
}

/* A result's word for the counters (the other changes are not
 * results of a send). */
static void
count_result(const char *chan, enum store_outbox_op op)
{
	switch (op) {
	case STORE_OUTBOX_SENT:
		metrics_send(chan, METRICS_SEND_SENT);
		break;
	case STORE_OUTBOX_DELIVERED:
		metrics_send(chan, METRICS_SEND_DELIVERED);
		break;
	case STORE_OUTBOX_FAILED:
		metrics_send(chan, METRICS_SEND_FAILED);
		break;
	case STORE_OUTBOX_UNKNOWN:
		metrics_send(chan, METRICS_SEND_UNKNOWN);
		break;
	case STORE_OUTBOX_RETRY:
		metrics_send(chan, METRICS_SEND_RETRY);
		break;
	case STORE_OUTBOX_BLOCK:
		metrics_send(chan, METRICS_SEND_BLOCKED);
		break;
	case STORE_OUTBOX_EXPIRE:
		metrics_send(chan, METRICS_SEND_EXPIRED);
		break;
	case STORE_OUTBOX_CLAIM:
	case STORE_OUTBOX_DEFER:
		break;
	}
}

/* Log event (with at most two more fields) for s's row, and store
 * change c through the writer.  The line comes first, as the answer
 * does: whoever sees the row changed finds it in the log (a failure to
 * store it is logged after it, store.failed). */
static void
record(struct outbox *ob, const struct send *s,
    const struct store_outbox_change *c, enum log_level level,
    const char *event, const char *k1, const char *v1, const char *k2,
    const char *v2)
{
	struct outcome *o = calloc(1, sizeof(*o));

	/* For the health check (outbox_stalled): a send that succeeded,
	 * or one more that did not while rows wait. */
	if (c->op == STORE_OUTBOX_SENT || c->op == STORE_OUTBOX_DELIVERED)
		ob->waiting_since = 0;
	else if (ob->waiting_since == 0)
		ob->waiting_since = monotonic_now();
	log_row(level, event, s->chan, s->caller, s->id, s->attempts, k1, v1,
	    k2, v2);
	count_result(s->chan, c->op);
	if (o == NULL) {
		log_store_failed("outbox_update", s->chan, s->id);
		return;
	}
	o->ob = ob;
	o->id = s->id;
	snprintf(o->chan, sizeof(o->chan), "%s", s->chan);
	o->c = *c;
	if (c->reason != NULL) {
		snprintf(o->reason, sizeof(o->reason), "%s", c->reason);
		o->c.reason = o->reason;
	}
	if (c->provider_ref != NULL) {
		snprintf(o->ref, sizeof(o->ref), "%s", c->provider_ref);
		o->c.provider_ref = o->ref;
	}
	/* encoding is one of two static strings. */
	if (writer_submit_background(ob->writer, outcome_work, outcome_done,
	    o) < 0) {
		log_store_failed("outbox_update", s->chan, s->id);
		free(o);
	}
}

/* A failed try: again later, or given up. */
static void
retry_or_fail(struct outbox *ob, struct send *s, const char *reason,
    long retry_after)
{
	struct store_outbox_change c = { .reason = reason };
	char why[192], delay[32];

	if ((unsigned)s->attempts >= ob->cfg->outbox_max_attempts) {
		snprintf(why, sizeof(why), "gave up after %d attempts: %s",
		    s->attempts, reason);
		c.op = STORE_OUTBOX_FAILED;
		c.reason = why;
		record(ob, s, &c, LOG_WARN, "outbox.failed", "reason", why,
		    NULL, NULL);
		return;
	}
	if (retry_after > RETRY_AFTER_MAX)
		retry_after = RETRY_AFTER_MAX;
	c.op = STORE_OUTBOX_RETRY;
	c.at = wall_now() + schedule_backoff((unsigned)s->attempts,
	    ob->cfg->outbox_max_delay, random01(), retry_after);
	snprintf(delay, sizeof(delay), "%.3f", c.at - wall_now());
	record(ob, s, &c, LOG_INFO, "outbox.retry", "reason", reason, "delay",
	    delay);
}

/* The request may have reached the caller's phone. */
static void
ambiguous(struct outbox *ob, struct send *s, const char *reason)
{
	struct store_outbox_change c = { .op = STORE_OUTBOX_UNKNOWN,
	    .reason = reason };

	if (s->idempotent && wall_now() - s->created < RESEND_WINDOW_SECONDS) {
		/* The receiver drops a repeated key: resending is safe. */
		retry_or_fail(ob, s, reason, -1);
		return;
	}
	record(ob, s, &c, LOG_WARN, "outbox.unknown", "reason", reason, NULL,
	    NULL);
}

static void
send_done(const struct http_client_response *resp, void *arg)
{
	struct send *s = arg;
	struct outbox *ob = s->ob;
	struct chan *chan = chan_find(ob, s->chan);
	struct send_answer ans = { .verdict = SEND_UNKNOWN };
	struct store_outbox_change c = { 0 };
	char why[192], status[16];

	ob->in_flight--;
	if (chan != NULL && chan->in_flight > 0)
		chan->in_flight--;
	if (resp->result == HTTP_CLIENT_CANCELLED) {
		/* Shutting down: the row stays `sending` for the next start. */
		free(s);
		return;
	}
	snprintf(status, sizeof(status), "%ld", resp->status);
	switch (resp->result) {
	case HTTP_CLIENT_NOT_SENT:
		snprintf(why, sizeof(why), "not sent: %s", resp->error);
		retry_or_fail(ob, s, why, -1);
		goto out;
	case HTTP_CLIENT_AMBIGUOUS:
		snprintf(why, sizeof(why), "no answer: %s", resp->error);
		ambiguous(ob, s, why);
		goto out;
	default:
		break;
	}
	/* Not taken: throttled, overloaded, failed, or timed out before
	 * reading us.  A gateway's 502 or 504 may hide a backend that took
	 * the message: that is ambiguous. */
	if (resp->status == 429 || resp->status == 408 ||
	    resp->status == 500 || resp->status == 503) {
		snprintf(why, sizeof(why), "HTTP %ld", resp->status);
		retry_or_fail(ob, s, why, resp->retry_after);
		goto out;
	}
	if (resp->status >= 500) {
		snprintf(why, sizeof(why), "HTTP %ld from a gateway",
		    resp->status);
		ambiguous(ob, s, why);
		goto out;
	}
	s->sender->parse(chan, resp->status, resp->body, resp->body_len,
	    &ans);
	switch (ans.verdict) {
	case SEND_ACCEPTED:
		c.op = STORE_OUTBOX_SENT;
		c.provider_ref = ans.provider_ref;
		c.segments = s->segments;
		c.encoding = s->encoding;
		record(ob, s, &c, LOG_INFO, "outbox.sent", "status", status,
		    "segments", s->segments == 1 ? "1" : s->segments == 2 ?
		    "2" : "3+");
		break;
	case SEND_RETRY:
		retry_or_fail(ob, s, ans.reason[0] ? ans.reason : "throttled",
		    resp->retry_after);
		break;
	case SEND_REJECTED:
		c.op = STORE_OUTBOX_FAILED;
		c.reason = ans.reason[0] ? ans.reason : "refused";
		record(ob, s, &c, LOG_WARN, "outbox.failed", "status", status,
		    "reason", c.reason);
		break;
	case SEND_UNKNOWN:
		if (ans.reason[0] != '\0')
			snprintf(why, sizeof(why), "HTTP %ld: %s", resp->status,
			    ans.reason);
		else
			snprintf(why, sizeof(why), "unreadable answer (HTTP "
			    "%ld)", resp->status);
		ambiguous(ob, s, why);
		break;
	}
out:
	free(s);
	outbox_kick(ob);
}

/* ------------------------------------------------------------------ */
/* Senders                                                             */

/* "t=UNIX,v1=HEX" over t "." body, as the json provider signs. */
static void
alert_signature(const char *secret, time_t t, const char *body, char *out,
    size_t outlen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1], *signed_text;
	size_t len = strlen(body) + 32;

	hex[0] = '\0';
	if ((signed_text = malloc(len)) != NULL) {
		snprintf(signed_text, len, "%lld.%s", (long long)t, body);
		if (HMAC(EVP_sha256(), secret, (int)strlen(secret),
		    (const unsigned char *)signed_text, strlen(signed_text),
		    mac, &maclen) == NULL)
			maclen = 0;
		free(signed_text);
	}
	for (unsigned int i = 0; i < maclen; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	snprintf(out, outlen, "X-Hotline-Signature: t=%lld,v1=%s",
	    (long long)t, hex);
}

/* The first word of the message a V-COM MT answers: its command code. */
static void
first_word(const char *s, char *out, size_t outlen)
{
	size_t n = 0;

	while (s != NULL && isspace((unsigned char)*s))
		s++;
	while (s != NULL && *s != '\0' && !isspace((unsigned char)*s) &&
	    n + 1 < outlen)
		out[n++] = *s++;
	out[n] = '\0';
}

/* A configured channel: its provider's send API. */
static int
provider_build(const struct chan *chan, const struct pick *p,
    const char *text, const struct smstext_segments *seg,
    struct out_req *r, char *why, size_t whylen)
{
	const struct config_channel *ch = chan->channel;
	const struct provider *prov = ch->provider;
	char keyword[64];
	size_t i;
	struct send_request sr = {
		.channel = ch->name,
		.to = p->row.msisdn,
		.text = text,
		.unicode = seg->encoding == SMSTEXT_UCS2,
		.send_key = p->row.send_key,
		.reply_to = p->row.reply_to,
		.reply_keyword = keyword,
		.now = time(NULL),
	};

	if (prov->send_build == NULL)
		return 1;               /* console: the log is the network */
	first_word(p->row.reply_body, keyword, sizeof(keyword));
	if (prov->send_build(ch, &sr, &r->http, why, whylen) < 0)
		return -1;
	for (i = 0; i < r->http.nheaders; i++)
		r->headers[i] = r->http.headers[i];
	if (r->http.content_type != NULL) {
		snprintf(r->header, sizeof(r->header), "Content-Type: %s",
		    r->http.content_type);
		r->headers[i++] = r->header;
	}
	r->req.url = r->http.url;
	r->req.headers = r->headers;
	r->req.nheaders = i;
	r->req.body = r->http.body;
	r->req.body_len = r->http.body_len;
	r->req.userpwd = r->http.userpwd[0] ? r->http.userpwd : NULL;
	return 0;
}

static void
provider_parse(const struct chan *chan, long status, const char *body,
    size_t body_len, struct send_answer *ans)
{
	/* A channel a reload removed cannot read its answer: unknown. */
	if (chan != NULL && status >= 200)
		chan->channel->provider->send_parse(chan->channel, status, body,
		    body_len, ans);
}

/* alerts.url: the row's body is the signed JSON document. */
static int
webhook_build(const struct chan *chan, const struct pick *p,
    const char *text, const struct smstext_segments *seg,
    struct out_req *r, char *why, size_t whylen)
{
	const struct config *cfg = chan->ob->cfg;

	(void)text;
	(void)seg;
	if (cfg->alert_url == NULL || cfg->alert_secret == NULL) {
		snprintf(why, whylen, "alerts.url is no longer configured");
		return -1;
	}
	alert_signature(cfg->alert_secret, time(NULL), p->row.body, r->header,
	    sizeof(r->header));
	r->headers[0] = "Content-Type: application/json";
	r->headers[1] = r->header;
	r->req.url = cfg->alert_url;
	r->req.headers = r->headers;
	r->req.nheaders = 2;
	r->req.body = p->row.body;
	r->req.body_len = strlen(p->row.body);
	return 0;
}

static void
webhook_parse(const struct chan *chan, long status, const char *body,
    size_t body_len, struct send_answer *ans)
{
	(void)chan;
	(void)body;
	(void)body_len;
	/* One receiver of ours: any 2xx took it. */
	ans->verdict = status >= 200 && status < 300 ? SEND_ACCEPTED :
	    SEND_REJECTED;
	snprintf(ans->reason, sizeof(ans->reason), "HTTP %ld", status);
}

static const struct sender provider_sender = {
	.build = provider_build,
	.parse = provider_parse,
};

static const struct sender webhook_sender = {
	.build = webhook_build,
	.parse = webhook_parse,
};

/* A queue per configured channel and one for alerts.url, keeping the
 * state of those that remain. */
static int
chans_build(struct outbox *ob, const struct config *cfg)
{
	size_t n = cfg->nchannels + 1, i;
	struct chan *chans = calloc(n, sizeof(*chans)), *old;
	double now = monotonic_now();

	if (chans == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		struct chan *l = &chans[i];

		if (i < cfg->nchannels) {
			const struct config_channel *ch = &cfg->channels[i];

			l->sender = &provider_sender;
			l->channel = ch;
			l->local = ch->provider->send_build == NULL;
			l->idempotent = ch->provider->send_idempotent;
			l->rate = ch->rate_limit_per_second > 0 ?
			    ch->rate_limit_per_second : 0.0;
			snprintf(l->name, sizeof(l->name), "%s", ch->name);
		} else {
			l->sender = &webhook_sender;
			/* Its key is the alert's id: a resend repeats it. */
			l->idempotent = true;
			l->rate = 10.0;
			snprintf(l->name, sizeof(l->name), "%s", WEBHOOK_QUEUE);
		}
		l->ob = ob;
		l->tokens = 1.0;
		l->refilled_at = now;
		if ((old = chan_find(ob, l->name)) != NULL) {
			l->in_flight = old->in_flight;
			l->tokens = old->tokens;
			l->refilled_at = old->refilled_at;
			l->retry_at = old->retry_at;
			l->recovered = old->recovered;
			l->recovering = old->recovering;
			l->claiming = old->claiming;
		}
	}
	free(ob->chans);
	ob->chans = chans;
	ob->nchans = n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Sending                                                             */

/* A claimed row (durably `sending`): its request leaves now. */
static void
send_start(struct outbox *ob, struct chan *chan, const struct pick *p)
{
	struct store_outbox_change c = { 0 };
	struct smstext_segments seg = { .segments = 1 };
	struct out_req r = { 0 };
	struct send one = { 0 }, *s;
	char why[256];
	char *folded = NULL;
	const char *text = p->row.body;
	int rc;

	if (chan->channel != NULL && chan->channel->fold_vietnamese &&
	    (folded = smstext_fold_vietnamese(text)) != NULL)
		text = folded;
	if (smstext_segments(text, &seg) < 0)
		seg.segments = 0;

	one.ob = ob;
	one.sender = chan->sender;
	one.id = p->row.id;
	one.idempotent = chan->idempotent;
	one.attempts = p->row.attempts + 1;
	one.created = p->row.created;
	one.segments = seg.segments;
	one.encoding = seg.encoding == SMSTEXT_UCS2 ? "ucs2" : "gsm7";
	snprintf(one.chan, sizeof(one.chan), "%s", chan->name);
	snprintf(one.caller, sizeof(one.caller), "%s",
	    p->row.caller ? p->row.caller : "");

	rc = chan->sender->build(chan, p, text, &seg, &r, why, sizeof(why));
	if (rc == 1) {
		c.op = STORE_OUTBOX_DELIVERED;
		c.segments = one.segments;
		c.encoding = one.encoding;
		record(ob, &one, &c, LOG_INFO, "outbox.delivered", "encoding",
		    one.encoding, NULL, NULL);
		goto out;
	}
	if (rc < 0) {
		c.op = STORE_OUTBOX_FAILED;
		c.reason = why;
		record(ob, &one, &c, LOG_WARN, "outbox.failed", "reason", why,
		    NULL, NULL);
		goto out;
	}
	if ((s = malloc(sizeof(*s))) == NULL) {
		retry_or_fail(ob, &one, "out of memory", -1);
		goto out;
	}
	*s = one;
	r.req.method = "POST";
	/* Connections are reused only where a duplicate is dropped. */
	r.req.fresh_connection = !chan->idempotent;
	r.req.connect_timeout_ms = (long)ob->cfg->outbox_connect_timeout *
	    1000;
	r.req.timeout_ms = (long)ob->cfg->outbox_timeout * 1000;
	if (http_client_send(ob->http, &r.req, send_done, s, why,
	    sizeof(why)) < 0) {
		retry_or_fail(ob, s, why, -1);
		free(s);
		goto out;
	}
	chan->in_flight++;
	ob->in_flight++;
	log_row(LOG_DEBUG, "outbox.sending", s->chan, s->caller, s->id,
	    s->attempts, "encoding", s->encoding, NULL, NULL);
out:
	provider_send_http_clear(&r.http);
	free(folded);
}

/* ------------------------------------------------------------------ */
/* Claims                                                              */

/* A channel's due rows, judged on the loop, claimed (or deferred,
 * blocked, expired) by one unit of the writer; requests leave from its
 * done, once the claim is durable. */
struct claim {
	struct outbox *ob;
	char chan[64];
	size_t count;
	struct pick picks[PICK_MAX];
};

/* Claims handed back unsent. */
struct release {
	struct outbox *ob;
	char chan[64];
	size_t count;
	int64_t ids[PICK_MAX];
};

static void
claim_free(struct claim *cl)
{
	for (size_t i = 0; i < cl->count; i++)
		free(cl->picks[i].strings);
	free(cl);
}

static char *
dup_or_null(const char *s, char **cursor)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = *cursor;
	strcpy(d, s);
	*cursor += strlen(s) + 1;
	return d;
}

static int
collect_row(const struct store_outbox_row *r, void *arg)
{
	struct claim *cl = arg;
	struct pick *p = &cl->picks[cl->count];
	const char *f[] = { r->msisdn, r->caller, r->body, r->send_key,
	    r->preferred_time, r->reply_to, r->reply_body };
	size_t need = 0, i;
	char *cur;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		need += f[i] ? strlen(f[i]) + 1 : 0;
	if ((p->strings = cur = malloc(need + 1)) == NULL)
		return -1;
	p->row = *r;
	p->row.msisdn = dup_or_null(r->msisdn, &cur);
	p->row.caller = dup_or_null(r->caller, &cur);
	p->row.body = dup_or_null(r->body, &cur);
	p->row.send_key = dup_or_null(r->send_key, &cur);
	p->row.preferred_time = dup_or_null(r->preferred_time, &cur);
	p->row.reply_to = dup_or_null(r->reply_to, &cur);
	p->row.reply_body = dup_or_null(r->reply_body, &cur);
	cl->count++;
	return 0;
}

/* The send-time checks, on every attempt: contact's rule. */
static void
judge(const struct outbox *ob, struct pick *p, time_t now)
{
	const struct contact_facts facts = {
		.kind = contact_kind_of(p->row.purpose),
		.opted_out = p->row.opted_out,
		.safe_to_sms = p->row.safe_to_sms,
		.do_not_contact = p->row.do_not_contact,
		/* A page tried before may have reached the phone: it is
		 * retried as it is, never written off as "expired". */
		.expires = p->row.lane == STORE_LANE_REPLY &&
		    p->row.attempts == 0,
		.last_contact = p->row.last_contact,
		.window = config_window_for(ob->cfg, p->row.preferred_time),
	};
	const struct contact_rules rules = {
		.idle_seconds = ob->cfg->sms_idle_seconds,
		.conversation_seconds = ob->cfg->outbox_conversation,
	};
	struct contact_decision d;

	/* Sealed under a key since destroyed (the caller was erased):
	 * there is no number to send to, and no text. */
	if (p->row.msisdn == NULL || p->row.body == NULL) {
		p->reason = "erased";
		p->verdict = PICK_BLOCK;
		return;
	}
	contact_decide(&facts, &rules, now, &d);
	p->reason = d.reason;
	switch (d.verdict) {
	case CONTACT_SEND:
		p->verdict = PICK_SEND;
		break;
	case CONTACT_BLOCK:
		p->verdict = PICK_BLOCK;
		break;
	case CONTACT_DEFER:
		p->verdict = PICK_DEFER;
		p->at = (double)d.at;
		break;
	case CONTACT_EXPIRE:
		p->verdict = PICK_EXPIRE;
		break;
	}
}

/* The writer thread.  Every statement moves only a row still `pending`:
 * a row someone else moved meanwhile (hotlinectl, an opt-out, a claim
 * the loop could not see yet) is left alone and not applied. */
static int
claim_work(struct store *st, void *arg)
{
	struct claim *cl = arg;

	for (size_t i = 0; i < cl->count; i++) {
		struct pick *p = &cl->picks[i];
		struct store_outbox_change c = { .reason = p->reason,
		    .at = p->at };

		switch (p->verdict) {
		case PICK_SEND:
			c.op = STORE_OUTBOX_CLAIM;
			break;
		case PICK_BLOCK:
			c.op = STORE_OUTBOX_BLOCK;
			break;
		case PICK_DEFER:
			c.op = STORE_OUTBOX_DEFER;
			break;
		case PICK_EXPIRE:
			c.op = STORE_OUTBOX_EXPIRE;
			break;
		}
		if (store_outbox_update(st, p->row.id, &c, &p->applied) < 0)
			return -1;
	}
	return 0;
}

static int
release_work(struct store *st, void *arg)
{
	struct release *rel = arg;
	bool applied;

	for (size_t i = 0; i < rel->count; i++)
		if (store_outbox_release(st, rel->ids[i], &applied) < 0)
			return -1;
	return 0;
}

static void
release_done(enum writer_result result, void *arg)
{
	struct release *rel = arg;
	char count[24];

	snprintf(count, sizeof(count), "%zu", rel->count);
	if (result != WRITER_COMMITTED)
		/* Left `sending`: the next start settles them. */
		log_store_failed("outbox_release", rel->chan, 0);
	else
		log_event(LOG_DEBUG, "outbox.released", "channel", rel->chan,
		    "rows", count, NULL);
	free(rel);
}

static void
claim_done(enum writer_result result, void *arg)
{
	struct claim *cl = arg;
	struct outbox *ob = cl->ob;
	struct chan *chan = chan_find(ob, cl->chan);
	struct release *rel = NULL;

	if (chan != NULL)
		chan->claiming = false;
	if (result != WRITER_COMMITTED) {
		log_store_failed("outbox_claim", cl->chan, 0);
		if (chan != NULL)
			chan->retry_at = monotonic_now() +
			    STORE_BACKOFF_SECONDS;
		goto out;
	}
	for (size_t i = 0; i < cl->count; i++) {
		struct pick *p = &cl->picks[i];

		if (!p->applied) {
			/* Moved on meanwhile: not ours to send. */
			if (p->verdict == PICK_SEND && chan != NULL)
				chan->tokens += 1.0;
			continue;
		}
		switch (p->verdict) {
		case PICK_BLOCK:
			count_result(cl->chan, STORE_OUTBOX_BLOCK);
			log_row(LOG_INFO, "outbox.blocked", cl->chan,
			    p->row.caller, p->row.id, p->row.attempts,
			    "reason", p->reason, NULL, NULL);
			break;
		case PICK_EXPIRE:
			count_result(cl->chan, STORE_OUTBOX_EXPIRE);
			log_row(LOG_INFO, "outbox.expired", cl->chan,
			    p->row.caller, p->row.id, p->row.attempts,
			    "reason", "caller_idle", NULL, NULL);
			break;
		case PICK_DEFER:
			log_row(LOG_INFO, "outbox.deferred", cl->chan,
			    p->row.caller, p->row.id, p->row.attempts,
			    "reason", "contact_window", NULL, NULL);
			break;
		case PICK_SEND:
			if (chan != NULL && !ob->stopping) {
				send_start(ob, chan, p);
				break;
			}
			/* Stopping, or a reload removed the channel: the
			 * request never leaves, so the claim is handed back
			 * rather than left for the next start to write off
			 * as unknown. */
			if (rel == NULL && (rel = calloc(1,
			    sizeof(*rel))) != NULL) {
				rel->ob = ob;
				snprintf(rel->chan, sizeof(rel->chan), "%s",
				    cl->chan);
			}
			if (rel != NULL)
				rel->ids[rel->count++] = p->row.id;
			break;
		}
	}
	if (rel != NULL && writer_submit_background(ob->writer, release_work,
	    release_done, rel) < 0) {
		log_store_failed("outbox_release", cl->chan, 0);
		free(rel);
	}
out:
	claim_free(cl);
	/* More may be due. */
	outbox_kick(ob);
}

/* Read up to want of chan's due rows, judge them and submit their
 * claim.  Rows claimed, 0 when none is due, -1 on an error. */
static int
chan_claim(struct outbox *ob, struct chan *chan, size_t want)
{
	struct claim *cl = calloc(1, sizeof(*cl));
	char err[256];
	time_t now = time(NULL);
	size_t sends = 0, i;
	int rc;

	if (cl == NULL)
		return -1;
	cl->ob = ob;
	snprintf(cl->chan, sizeof(cl->chan), "%s", chan->name);
	err[0] = '\0';
	if ((rc = store_outbox_due(ob->store, chan->name, want, collect_row,
	    cl, err, sizeof(err))) != 0) {
		log_event(LOG_ERROR, "store.failed", "op", "outbox_due",
		    "channel", chan->name, "error", rc > 0 || err[0] ==
		    '\0' ? "out of memory" : err, NULL);
		claim_free(cl);
		return -1;
	}
	if (cl->count == 0) {
		claim_free(cl);
		return 0;
	}
	for (i = 0; i < cl->count; i++) {
		judge(ob, &cl->picks[i], now);
		sends += cl->picks[i].verdict == PICK_SEND;
	}
	rc = (int)cl->count;
	if (writer_submit_background(ob->writer, claim_work, claim_done,
	    cl) < 0) {
		claim_free(cl);
		return -1;
	}
	chan->claiming = true;
	chan->tokens -= (double)sends;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Recovery                                                            */

/* Rows a stopped daemon left mid-send on one channel, settled through
 * the writer before that channel claims anything. */
struct recover {
	struct outbox *ob;
	char chan[64];
	bool resend;
	int64_t count;
};

static int
recover_work(struct store *st, void *arg)
{
	struct recover *r = arg;

	return store_outbox_recover(st, r->chan, r->resend, &r->count);
}

static void
recover_done(enum writer_result result, void *arg)
{
	struct recover *r = arg;
	struct chan *chan = chan_find(r->ob, r->chan);
	char count[24];

	if (result != WRITER_COMMITTED) {
		log_event(LOG_ERROR, "store.failed", "op", "outbox_recover",
		    "channel", r->chan, NULL);
		if (chan != NULL) {
			chan->recovering = false;
			chan->retry_at = monotonic_now() +
			    STORE_BACKOFF_SECONDS;
		}
	} else {
		if (r->count > 0) {
			snprintf(count, sizeof(count), "%" PRId64, r->count);
			log_event(LOG_WARN, "outbox.recovered", "channel",
			    r->chan, "rows", count, NULL);
		}
		if (chan != NULL) {
			chan->recovering = false;
			chan->recovered = true;
		}
	}
	outbox_kick(r->ob);
	free(r);
}

static int
chan_recover(struct chan *l)
{
	struct recover *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -1;
	r->ob = l->ob;
	snprintf(r->chan, sizeof(r->chan), "%s", l->name);
	/* Sent again only where a resend cannot reach anyone twice. */
	r->resend = l->idempotent || l->local;
	if (writer_submit_background(l->ob->writer, recover_work,
	    recover_done, r) < 0) {
		free(r);
		return -1;
	}
	l->recovering = true;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Alerts                                                              */

/* One alert to queue: alerts.sms texts and the alerts.url document. */
struct alert_item {
	int64_t task_id;          /* 0: a security event */
	int escalations;          /* ALERT_ESCALATION: how many before */
	bool skipped;             /* already queued by another unit */
	char text[640];
	char *json;               /* owned; NULL without alerts.url */
};

enum alert_kind {
	ALERT_SECURITY,           /* outbox_alert_security */
	ALERT_SWEEP,              /* the urgent-task sweep's */
	ALERT_ESCALATION,         /* the escalation sweep's */
};

struct alert_unit {
	struct outbox *ob;
	/* Captured at submit: valid until done (writer.h). */
	const struct config *cfg;
	enum alert_kind kind;
	/* Who is texted, borrowed from cfg: alerts.sms, and for an
	 * escalation the supervisors not already among them. */
	const char **to;
	/* Their pseudonyms, made on the loop: the work touches nothing
	 * but the store. */
	char (*pseud)[PRIVACY_PSEUDONYM_SIZE];
	size_t nto;
	size_t count;
	struct alert_item items[ALERTS_MAX];
};

static void
alert_unit_free(struct alert_unit *a)
{
	for (size_t i = 0; i < a->count; i++)
		free(a->items[i].json);
	free(a->to);
	free(a->pseud);
	free(a);
}

static bool
listed(char *const *list, size_t n, const char *number)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], number) == 0)
			return true;
	return false;
}

/* An empty unit for ob's current config; NULL when out of memory. */
static struct alert_unit *
alert_unit_new(struct outbox *ob, enum alert_kind kind)
{
	const struct config *cfg = ob->cfg;
	struct alert_unit *a = calloc(1, sizeof(*a));
	size_t max = cfg->nalert_sms;

	if (a == NULL)
		return NULL;
	a->ob = ob;
	a->cfg = cfg;
	a->kind = kind;
	if (kind == ALERT_ESCALATION)
		max += cfg->nalert_supervisors;
	if (max > 0 && ((a->to = calloc(max, sizeof(*a->to))) == NULL ||
	    (a->pseud = calloc(max, sizeof(*a->pseud))) == NULL))
		goto fail;
	for (size_t n = 0; n < cfg->nalert_sms; n++)
		a->to[a->nto++] = cfg->alert_sms[n];
	/* A supervisor also on call gets one text, not two. */
	for (size_t n = 0; kind == ALERT_ESCALATION &&
	    n < cfg->nalert_supervisors; n++)
		if (!listed(cfg->alert_sms, cfg->nalert_sms,
		    cfg->alert_supervisors[n]) &&
		    !listed(cfg->alert_supervisors, n,
		    cfg->alert_supervisors[n]))
			a->to[a->nto++] = cfg->alert_supervisors[n];
	for (size_t n = 0; n < a->nto; n++)
		if (privacy_pseudonym(cfg->pseudonym_key,
		    cfg->pseudonym_key_len, a->to[n], a->pseud[n]) < 0)
			goto fail;
	return a;
fail:
	alert_unit_free(a);
	return NULL;
}

static const char *
alert_channel(const struct config *cfg)
{
	if (cfg->alert_channel != NULL)
		return cfg->alert_channel;
	for (size_t i = 0; i < cfg->nchannels; i++)
		if (cfg->channels[i].provider->send_build != NULL)
			return cfg->channels[i].name;
	return cfg->channels[0].name;
}

/* Render an alert template: {task}, {token} and {link} only. */
static void
alert_text(const struct config *cfg, const char *template, const char *task,
    const char *token, const char *link, char *out, size_t outlen)
{
	const char *t = config_template(cfg, template, NULL);
	size_t used = 0;

	for (; t != NULL && *t != '\0' && used + 1 < outlen; t++) {
		const char *sub = NULL;

		if (strncmp(t, "{task}", 6) == 0)
			sub = task, t += 5;
		else if (strncmp(t, "{token}", 7) == 0)
			sub = token, t += 6;
		else if (strncmp(t, "{link}", 6) == 0)
			sub = link, t += 5;
		if (sub == NULL) {
			out[used++] = *t;
			continue;
		}
		used += (size_t)snprintf(out + used, outlen - used, "%s", sub);
		if (used >= outlen)
			used = outlen - 1;
	}
	out[used] = '\0';
	/* An empty {link} leaves a trailing space. */
	while (used > 0 && out[used - 1] == ' ')
		out[--used] = '\0';
}

/* The alerts.url document (js consumed) into item, when there is a
 * receiver.  -1 when out of memory. */
static int
alert_json(const struct config *cfg, struct alert_item *item, json_t *js)
{
	int rc = 0;

	if (cfg->alert_url != NULL &&
	    (js == NULL || (item->json = json_dumps(js, JSON_COMPACT)) ==
	    NULL))
		rc = -1;
	json_decref(js);
	return rc;
}

/* The writer thread: each item's rows, in the urgent lane of the queue
 * of their sender: the alerts channel for alerts.sms, the webhook's for
 * alerts.url. */
static int
alert_work(struct store *st, void *arg)
{
	struct alert_unit *a = arg;
	const struct config *cfg = a->cfg;
	bool applied;

	for (size_t i = 0; i < a->count; i++) {
		struct alert_item *it = &a->items[i];

		/* Marked only if still due: a task claimed, or escalated
		 * by another unit, since the loop read it is left alone. */
		if (a->kind == ALERT_ESCALATION) {
			if (store_escalation_mark(st, it->task_id,
			    cfg->alert_escalate_after, it->escalations,
			    &applied) < 0)
				return -1;
		} else if (it->task_id != 0) {
			if (store_alert_mark(st, it->task_id, &applied) < 0)
				return -1;
		} else
			applied = true;
		if (!applied) {
			it->skipped = true;
			continue;
		}
		for (size_t n = 0; n < a->nto; n++)
			if (store_outbound_queue(st, STORE_LANE_URGENT,
			    alert_channel(cfg), a->to[n], a->pseud[n],
			    it->text, STORE_PURPOSE_ALERT, 0, it->task_id,
			    NULL) < 0)
				return -1;
		/* No number and no caller: "-" in their place. */
		if (it->json != NULL && store_outbound_queue(st,
		    STORE_LANE_URGENT, WEBHOOK_QUEUE, "-", "-", it->json,
		    STORE_PURPOSE_ALERT, 0, it->task_id, NULL) < 0)
			return -1;
	}
	return 0;
}

static void
alert_done(enum writer_result result, void *arg)
{
	struct alert_unit *a = arg;
	struct outbox *ob = a->ob;
	char id[24], times[16], texts[24];

	if (a->kind == ALERT_SWEEP)
		ob->alerting = false;
	if (a->kind == ALERT_ESCALATION) {
		ob->escalating = false;
		/* More may be due (a full unit), or the next is planned. */
		ob->escalate_at = 0;
	}
	if (result != WRITER_COMMITTED) {
		log_event(LOG_ERROR, "store.failed", "op", "alert_queue",
		    "error", "queueing the alert rows", NULL);
		if (a->kind == ALERT_SWEEP)
			ob->alerts_retry_at = monotonic_now() +
			    STORE_BACKOFF_SECONDS;
		if (a->kind == ALERT_ESCALATION)
			ob->escalate_at = wall_now() + STORE_BACKOFF_SECONDS;
	} else
		for (size_t i = 0; i < a->count; i++) {
			if (a->items[i].task_id == 0 || a->items[i].skipped)
				continue;
			snprintf(id, sizeof(id), "%" PRId64,
			    a->items[i].task_id);
			if (a->kind == ALERT_ESCALATION) {
				snprintf(times, sizeof(times), "%d",
				    a->items[i].escalations + 1);
				snprintf(texts, sizeof(texts), "%zu", a->nto);
				log_event(LOG_WARN, "task.escalated", "task",
				    id, "times", times, "texts", texts, "url",
				    a->cfg->alert_url ? "yes" : "no", NULL);
				continue;
			}
			log_event(LOG_WARN, "alert.queued", "task", id, "sms",
			    a->cfg->nalert_sms > 0 ? "yes" : "no", "url",
			    a->cfg->alert_url ? "yes" : "no", NULL);
		}
	alert_unit_free(a);
	outbox_kick(ob);
}

static int
collect_alert(int64_t task_id, const char *created_at, void *arg)
{
	struct alert_unit *a = arg;

	(void)created_at;
	a->items[a->count++].task_id = task_id;
	return 0;
}

static int
alert_urgent_item(const struct config *cfg, struct alert_item *it)
{
	char link[512] = "", task[24], id[32];

	if (cfg->alert_link != NULL)
		snprintf(link, sizeof(link), "%s#task-%" PRId64,
		    cfg->alert_link, it->task_id);
	snprintf(task, sizeof(task), "%" PRId64, it->task_id);
	alert_text(cfg, "urgent_alert", task, "", link, it->text,
	    sizeof(it->text));
	/* The receiver's idempotency key: a resend repeats it. */
	snprintf(id, sizeof(id), "urgent-%" PRId64, it->task_id);
	return alert_json(cfg, it, json_pack("{s:s, s:s, s:I, s:s, s:s}",
	    "id", id, "event", "urgent_request", "task_id",
	    (json_int_t)it->task_id, "priority", "urgent", "link", link));
}

/* Urgent tasks not yet alerted: their alerts in one unit.  One sweep at
 * a time, since this connection cannot see a unit in flight. */
static void
alerts_sweep(struct outbox *ob, double now)
{
	struct alert_unit *a;

	if (ob->alerting || now < ob->alerts_retry_at)
		return;
	if ((a = alert_unit_new(ob, ALERT_SWEEP)) == NULL)
		return;
	if (store_alerts_due(ob->store, ALERTS_MAX, collect_alert, a) < 0) {
		log_event(LOG_ERROR, "store.failed", "op", "alerts_due", NULL);
		goto fail;
	}
	if (a->count == 0) {
		alert_unit_free(a);
		return;
	}
	for (size_t i = 0; i < a->count; i++)
		if (alert_urgent_item(ob->cfg, &a->items[i]) < 0) {
			log_event(LOG_ERROR, "store.failed", "op",
			    "alert_queue", "error", "out of memory", NULL);
			goto fail;
		}
	if (writer_submit_background(ob->writer, alert_work, alert_done, a) < 0)
		goto fail;
	ob->alerting = true;
	return;
fail:
	ob->alerts_retry_at = now + STORE_BACKOFF_SECONDS;
	alert_unit_free(a);
}

static int
collect_escalation(int64_t task_id, int escalations, void *arg)
{
	struct alert_unit *a = arg;

	a->items[a->count].task_id = task_id;
	a->items[a->count++].escalations = escalations;
	return 0;
}

static int
alert_escalation_item(const struct config *cfg, struct alert_item *it)
{
	char link[512] = "", task[24], id[64];

	if (cfg->alert_link != NULL)
		snprintf(link, sizeof(link), "%s#task-%" PRId64,
		    cfg->alert_link, it->task_id);
	snprintf(task, sizeof(task), "%" PRId64, it->task_id);
	alert_text(cfg, "urgent_escalation", task, "", link, it->text,
	    sizeof(it->text));
	/* One key per escalation: a resend repeats it, the next one is
	 * news. */
	snprintf(id, sizeof(id), "escalation-%" PRId64 "-%d", it->task_id,
	    it->escalations + 1);
	return alert_json(cfg, it, json_pack("{s:s, s:s, s:I, s:s, s:s, s:i}",
	    "id", id, "event", "urgent_escalation", "task_id",
	    (json_int_t)it->task_id, "priority", "urgent", "link", link,
	    "escalations", it->escalations + 1));
}

/*
 * Urgent tasks still unclaimed alerts.escalate_after_seconds after they
 * were last announced: announced again, in one unit.  The table is read
 * when the earliest one falls due (and at least once an interval, for a
 * task another process handed back), never at every turn of the pump.
 */
static void
escalate_sweep(struct outbox *ob)
{
	const struct config *cfg = ob->cfg;
	unsigned after = cfg->alert_escalate_after;
	double now = wall_now(), next;
	struct alert_unit *a;

	if (after == 0 || ob->escalating || now < ob->escalate_at ||
	    (cfg->nalert_sms + cfg->nalert_supervisors == 0 &&
	    cfg->alert_url == NULL))
		return;
	if ((a = alert_unit_new(ob, ALERT_ESCALATION)) == NULL) {
		ob->escalate_at = now + STORE_BACKOFF_SECONDS;
		return;
	}
	if (store_escalations_due(ob->store, after, ALERTS_MAX,
	    collect_escalation, a) < 0) {
		log_event(LOG_ERROR, "store.failed", "op", "escalations_due",
		    NULL);
		goto fail;
	}
	if (a->count == 0) {
		alert_unit_free(a);
		if (store_escalation_next(ob->store, after, &next) < 0)
			next = 0;
		/* A second late rather than early (the store counts whole
		 * seconds), and never sooner than a second from now. */
		next += 1.0;
		if (next < now + 1.0)
			next = now + 1.0;
		ob->escalate_at = next < now + after ? next : now + after;
		return;
	}
	for (size_t i = 0; i < a->count; i++)
		if (alert_escalation_item(cfg, &a->items[i]) < 0) {
			log_event(LOG_ERROR, "store.failed", "op",
			    "alert_queue", "error", "out of memory", NULL);
			goto fail;
		}
	if (writer_submit_background(ob->writer, alert_work, alert_done, a) < 0)
		goto fail;
	ob->escalating = true;
	return;
fail:
	ob->escalate_at = now + STORE_BACKOFF_SECONDS;
	alert_unit_free(a);
}

int
outbox_alert_security(struct outbox *ob, const char *event,
    const char *token)
{
	const struct config *cfg;
	struct alert_unit *a;
	struct alert_item *it;
	char id[160];
	time_t now = time(NULL);

	if (ob == NULL)		/* no outbox (a test harness): no one to tell */
		return 0;
	cfg = ob->cfg;
	if ((a = alert_unit_new(ob, ALERT_SECURITY)) == NULL)
		return -1;
	a->count = 1;
	it = &a->items[0];
	alert_text(cfg, "security_alert", "", token, cfg->alert_link ?
	    cfg->alert_link : "", it->text, sizeof(it->text));
	/* One event per token and hour: a resend repeats the key. */
	snprintf(id, sizeof(id), "%s-%s-%lld", event, token,
	    (long long)(now / 3600));
	if (alert_json(cfg, it, json_pack("{s:s, s:s, s:s}", "id", id,
	    "event", event, "token", token)) < 0 ||
	    writer_submit_background(ob->writer, alert_work, alert_done,
	    a) < 0) {
		alert_unit_free(a);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The pump                                                            */

/*
 * One channel's turn: claim what is due within its in-flight cap and
 * rate.  Returns seconds until the channel wants another turn; one with
 * a unit in flight or at its cap is woken by that unit's done or an
 * answer instead.
 */
static double
chan_turn(struct chan *l, double now)
{
	struct outbox *ob = l->ob;
	size_t cap = ob->cfg->outbox_max_in_flight, want;
	double due;
	int n;

	if (l->claiming || l->recovering)
		return IDLE_SECONDS;
	if (now < l->retry_at)
		return l->retry_at - now;
	if (!l->recovered) {
		if (chan_recover(l) < 0)
			return STORE_BACKOFF_SECONDS;
		return IDLE_SECONDS;
	}
	chan_refill(l, now);
	if (l->in_flight >= cap)
		return IDLE_SECONDS;
	if (l->tokens < 1.0)
		return (1.0 - l->tokens) / l->rate;
	/* A channel without a network (console) holds nothing in flight:
	 * a whole batch at once. */
	want = l->local ? PICK_MAX : cap - l->in_flight;
	if ((double)want > l->tokens)
		want = (size_t)l->tokens;
	if (want > PICK_MAX)
		want = PICK_MAX;
	if ((n = chan_claim(ob, l, want)) < 0) {
		l->retry_at = now + STORE_BACKOFF_SECONDS;
		return STORE_BACKOFF_SECONDS;
	}
	if (n > 0)
		return IDLE_SECONDS;
	if (store_outbox_next_due(ob->store, l->name, &due) < 0)
		return STORE_BACKOFF_SECONDS;
	if (due <= 0)
		return IDLE_SECONDS;
	return due - wall_now();
}

static void
pump(evutil_socket_t fd, short what, void *arg)
{
	struct outbox *ob = arg;
	double next = IDLE_SECONDS, now = monotonic_now(), wait;

	(void)fd;
	(void)what;
	if (ob->stopping)
		return;
	alerts_sweep(ob, now);
	if (ob->alerts_retry_at > now && ob->alerts_retry_at - now < next)
		next = ob->alerts_retry_at - now;
	escalate_sweep(ob);
	if (!ob->escalating && ob->escalate_at > 0 &&
	    ob->escalate_at - wall_now() < next)
		next = ob->escalate_at - wall_now();
	for (size_t i = 0; i < ob->nchans; i++)
		if ((wait = chan_turn(&ob->chans[i], now)) < next)
			next = wait;
	arm(ob, next);
}

/* ------------------------------------------------------------------ */
/* Other writers                                                       */

/*
 * hotlinectl writes the database behind the daemon's back (a follow-up
 * queued by `complete`, a task closed): a commit of another connection
 * changes SQLite's data_version, and the outbox looks again.  Our own
 * writer is another connection too, and commits all the time: a change
 * seen while it committed is checked on the writer's connection, whose
 * data_version moves only for commits other than its own.
 */
struct probe {
	struct outbox *ob;
	int64_t version;
};

static int
probe_work(struct store *st, void *arg)
{
	struct probe *p = arg;

	return store_data_version(st, &p->version);
}

static void
probe_done(enum writer_result result, void *arg)
{
	struct probe *p = arg;
	struct outbox *ob = p->ob;

	ob->probing = false;
	/* The first probe has nothing to compare with: look, to be sure. */
	if (result != WRITER_COMMITTED || !ob->writer_version_known ||
	    p->version != ob->writer_version)
		outbox_kick(ob);
	if (result == WRITER_COMMITTED) {
		ob->writer_version = p->version;
		ob->writer_version_known = true;
	}
	free(p);
}

static void
probe(struct outbox *ob)
{
	struct probe *p;

	if (ob->probing || (p = calloc(1, sizeof(*p))) == NULL)
		return;
	p->ob = ob;
	if (writer_submit_background(ob->writer, probe_work, probe_done,
	    p) < 0) {
		free(p);
		return;
	}
	ob->probing = true;
}

static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct outbox *ob = arg;
	/* Read before the version: a commit of ours in between makes an
	 * extra look, never a missed one. */
	uint64_t commits = writer_commits(ob->writer);
	int64_t v;

	(void)fd;
	(void)what;
	if (store_data_version(ob->store, &v) < 0)
		return;
	if (v == ob->data_version) {
		ob->seen_commits = commits;
		return;
	}
	ob->data_version = v;
	if (commits == ob->seen_commits) {
		outbox_kick(ob);        /* not us: someone else */
		return;
	}
	ob->seen_commits = commits;
	probe(ob);
}

/* ------------------------------------------------------------------ */
/* Lifetime                                                            */

struct outbox *
outbox_new(struct event_base *base, const struct config *cfg,
    struct store *store, struct writer *writer, struct http_client *client)
{
	struct outbox *ob = calloc(1, sizeof(*ob));
	int64_t sending;

	if (ob == NULL)
		return NULL;
	ob->base = base;
	ob->cfg = cfg;
	ob->store = store;
	ob->writer = writer;
	ob->http = client;
	ob->seen_commits = writer_commits(writer);
	if ((ob->timer = evtimer_new(base, pump, ob)) == NULL ||
	    (ob->watch = event_new(base, -1, EV_PERSIST, watch_cb,
	    ob)) == NULL || chans_build(ob, cfg) < 0 ||
	    store_data_version(store, &ob->data_version) < 0 ||
	    event_add(ob->watch, &(struct timeval){ WATCH_SECONDS, 0 }) <
	    0) {
		outbox_free(ob);
		return NULL;
	}
	/* Rows the last run left mid-send are settled now, not at the
	 * first turn, so the writer runs these units while the daemon is
	 * still starting; after a clean stop there are none, and no unit
	 * (nothing then waits behind them for a lock another process took
	 * as we started).  Nothing else claims rows, so none can appear
	 * meanwhile.  A channel whose unit cannot be submitted tries again
	 * on its turn. */
	if (store_outbox_count(store, STORE_OUTBOUND_SENDING, &sending) < 0)
		sending = -1;
	for (size_t i = 0; i < ob->nchans; i++) {
		if (sending == 0)
			ob->chans[i].recovered = true;
		else
			(void)chan_recover(&ob->chans[i]);
	}
	return ob;
}

void
outbox_free(struct outbox *ob)
{
	if (ob == NULL)
		return;
	if (ob->timer != NULL)
		event_free(ob->timer);
	if (ob->watch != NULL)
		event_free(ob->watch);
	free(ob->chans);
	free(ob);
}

int
outbox_set_config(struct outbox *ob, const struct config *cfg)
{
	if (chans_build(ob, cfg) < 0)
		return -1;
	ob->cfg = cfg;
	/* escalate_after_seconds may have changed. */
	ob->escalate_at = 0;
	outbox_kick(ob);
	return 0;
}

void
outbox_stop(struct outbox *ob)
{
	ob->stopping = true;
	evtimer_del(ob->timer);
	event_del(ob->watch);
}

size_t
outbox_in_flight(const struct outbox *ob)
{
	return ob->in_flight;
}

int
outbox_stalled(struct outbox *ob, double *seconds)
{
	double now = monotonic_now();
	bool waiting;

	*seconds = 0;
	if (store_outbox_waiting(ob->store, &waiting) < 0)
		return -1;
	if (!waiting) {
		ob->waiting_since = 0;
		return 0;
	}
	/* Waiting, though no attempt has failed since the last success
	 * (a send hanging, a pump that claims nothing): from now. */
	if (ob->waiting_since == 0)
		ob->waiting_since = now;
	*seconds = now - ob->waiting_since;
	return 0;
}
