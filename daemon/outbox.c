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
#include "privacy.h"
#include "provider.h"
#include "schedule.h"
#include "smstext.h"
#include "store.h"

/* The pseudo-channel that carries alerts.url POSTs. */
#define ALERT_CHANNEL "@alerts"
/* Rows looked at per channel per turn: bounds one turn's work. */
#define PICK_MAX 32
/* Look at the table at least this often. */
#define IDLE_SECONDS 30.0
/* How often to ask whether another process (hotlinectl) changed the
 * database: a change it makes is acted on within this. */
#define WATCH_SECONDS 1
/* Batches per channel in one turn of the loop: USSD hops wait meanwhile. */
#define BATCHES_PER_TURN 4
/* A provider drops a repeated key for a day (eSMS: 24 h); resend an
 * ambiguous send only well inside that. */
#define RESEND_WINDOW_SECONDS (20 * 3600.0)
/* A Retry-After beyond this is a provider's mistake, not a plan. */
#define RETRY_AFTER_MAX 86400

struct chan {
	struct outbox *ob;
	char name[64];
	const struct config_channel *channel;   /* NULL for ALERT_CHANNEL */
	size_t in_flight;
	double tokens;
	double refilled_at;       /* monotonic seconds */
	bool recovered;           /* rows left mid-send settled */
};

struct outbox {
	struct event_base *base;
	const struct config *cfg;
	struct store *store;
	struct http_client *http;
	struct event *timer;
	struct event *watch;      /* other writers, every WATCH_SECONDS */
	int64_t data_version;
	struct chan *chans;
	size_t nchans;
	size_t in_flight;
	bool stopping;
};

/* One request in flight; owned by the outbox until its answer. */
struct send {
	struct outbox *ob;
	int64_t id;
	char chan[64];
	char caller[PRIVACY_PSEUDONYM_SIZE + 1];
	const struct provider *provider;        /* NULL: ALERT_CHANNEL */
	int attempts;             /* including this one */
	double created;           /* when the row was queued */
	unsigned segments;
	const char *encoding;
};

/* A due row, copied out of the store's cursor. */
struct pick {
	struct store_outbox_row row;
	char *strings;            /* one allocation behind row's strings */
	enum { PICK_SEND, PICK_BLOCK, PICK_DEFER, PICK_EXPIRE } verdict;
	const char *reason;
	double at;
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

/* Messages a second, 0 for no limit (the channel's provider's default
 * unless the channel sets rate_limit_per_second). */
static double
chan_rate(const struct chan *chan)
{
	if (chan->channel == NULL)
		return 10.0;            /* alerts.url: one receiver of ours */
	if (chan->channel->rate_limit_per_second <= 0)
		return 0.0;
	return chan->channel->rate_limit_per_second;
}

static void
chan_refill(struct chan *chan, double now)
{
	double rate = chan_rate(chan);
	/* A burst of one second's worth, at least one message. */
	double burst = rate < 1.0 ? 1.0 : rate;

	if (rate <= 0) {
		/* No limit: a turn's worth, so the count stays finite. */
		chan->tokens = PICK_MAX * BATCHES_PER_TURN;
		chan->refilled_at = now;
		return;
	}

	chan->tokens += (now - chan->refilled_at) * rate;
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

/* A chan per cfg channel, keeping counters of those that remain. */
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
			l->channel = &cfg->channels[i];
			snprintf(l->name, sizeof(l->name), "%s",
			    cfg->channels[i].name);
		} else
			snprintf(l->name, sizeof(l->name), "%s", ALERT_CHANNEL);
		l->ob = ob;
		l->tokens = 1.0;
		l->refilled_at = now;
		if ((old = chan_find(ob, l->name)) != NULL) {
			l->in_flight = old->in_flight;
			l->tokens = old->tokens;
			l->refilled_at = old->refilled_at;
			l->recovered = old->recovered;
		}
	}
	free(ob->chans);
	ob->chans = chans;
	ob->nchans = n;
	return 0;
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

/* ------------------------------------------------------------------ */
/* Answers                                                             */

static void
apply(struct outbox *ob, int64_t id, const struct store_outbox_change *c)
{
	bool applied;

	if (store_outbox_update(ob->store, id, c, &applied) < 0) {
		char idbuf[24];

		/* The row stays `sending`; the next start settles it. */
		snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
		log_event(LOG_ERROR, "store.failed", "op", "outbox_update",
		    "out_id", idbuf, NULL);
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
		apply(ob, s->id, &c);
		log_row(LOG_WARN, "outbox.failed", s->chan, s->caller, s->id,
		    s->attempts, "reason", why, NULL, NULL);
		return;
	}
	if (retry_after > RETRY_AFTER_MAX)
		retry_after = RETRY_AFTER_MAX;
	c.op = STORE_OUTBOX_RETRY;
	c.at = wall_now() + schedule_backoff((unsigned)s->attempts,
	    ob->cfg->outbox_max_delay, random01(), retry_after);
	snprintf(delay, sizeof(delay), "%.3f", c.at - wall_now());
	apply(ob, s->id, &c);
	log_row(LOG_INFO, "outbox.retry", s->chan, s->caller, s->id,
	    s->attempts, "reason", reason, "delay", delay);
}

/* The request may have reached the caller's phone. */
static void
ambiguous(struct outbox *ob, struct send *s, const char *reason)
{
	struct store_outbox_change c = { .op = STORE_OUTBOX_UNKNOWN,
	    .reason = reason };

	if ((s->provider == NULL || s->provider->send_idempotent) &&
	    wall_now() - s->created < RESEND_WINDOW_SECONDS) {
		/* The receiver drops a repeated key: resending is safe. */
		retry_or_fail(ob, s, reason, -1);
		return;
	}
	apply(ob, s->id, &c);
	log_row(LOG_WARN, "outbox.unknown", s->chan, s->caller, s->id,
	    s->attempts, "reason", reason, NULL, NULL);
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
	if (s->provider == NULL) {
		/* An alert receiver: any 2xx took it. */
		ans.verdict = resp->status >= 200 && resp->status < 300 ?
		    SEND_ACCEPTED : SEND_REJECTED;
		snprintf(ans.reason, sizeof(ans.reason), "HTTP %ld",
		    resp->status);
	} else if (resp->status >= 200 && resp->status < 500) {
		const struct config_channel *ch = chan ? chan->channel : NULL;

		if (ch != NULL)
			s->provider->send_parse(ch, resp->status, resp->body,
			    resp->body_len, &ans);
	}
	switch (ans.verdict) {
	case SEND_ACCEPTED:
		c.op = STORE_OUTBOX_SENT;
		c.provider_ref = ans.provider_ref;
		c.segments = s->segments;
		c.encoding = s->encoding;
		apply(ob, s->id, &c);
		log_row(LOG_INFO, "outbox.sent", s->chan, s->caller, s->id,
		    s->attempts, "status", status, "segments",
		    s->segments == 1 ? "1" : s->segments == 2 ? "2" : "3+");
		break;
	case SEND_RETRY:
		retry_or_fail(ob, s, ans.reason[0] ? ans.reason : "throttled",
		    resp->retry_after);
		break;
	case SEND_REJECTED:
		c.op = STORE_OUTBOX_FAILED;
		c.reason = ans.reason[0] ? ans.reason : "refused";
		apply(ob, s->id, &c);
		log_row(LOG_WARN, "outbox.failed", s->chan, s->caller, s->id,
		    s->attempts, "status", status, "reason", c.reason);
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
/* Sending                                                             */

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

static void
send_start(struct outbox *ob, struct chan *chan, const struct pick *p)
{
	const struct config_channel *ch = chan->channel;
	const struct provider *prov = ch ? ch->provider : NULL;
	struct store_outbox_change c = { 0 };
	struct smstext_segments seg = { .segments = 1 };
	struct send_http http = { 0 };
	struct http_client_request req = { 0 };
	const char *headers[PROVIDER_SEND_HEADERS + 1];
	char why[256], keyword[64], sig[256];
	char *folded = NULL;
	const char *text = p->row.body;
	struct send *s;
	size_t i;

	if (ch != NULL && ch->fold_vietnamese &&
	    (folded = smstext_fold_vietnamese(text)) != NULL)
		text = folded;
	if (smstext_segments(text, &seg) < 0)
		seg.segments = 0;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto not_sent;
	s->ob = ob;
	s->id = p->row.id;
	s->provider = prov;
	s->attempts = p->row.attempts + 1;
	s->created = p->row.created;
	s->segments = seg.segments;
	s->encoding = seg.encoding == SMSTEXT_UCS2 ? "ucs2" : "gsm7";
	snprintf(s->chan, sizeof(s->chan), "%s", chan->name);
	snprintf(s->caller, sizeof(s->caller), "%s",
	    p->row.caller ? p->row.caller : "");

	if (ch != NULL && prov->send_build == NULL) {
		/* console: the log and the database are the network. */
		c.op = STORE_OUTBOX_DELIVERED;
		c.segments = s->segments;
		c.encoding = s->encoding;
		apply(ob, s->id, &c);
		log_row(LOG_INFO, "outbox.delivered", s->chan, s->caller, s->id,
		    s->attempts, "encoding", s->encoding, NULL, NULL);
		free(s);
		free(folded);
		return;
	}

	if (ch != NULL) {
		struct send_request sr = {
			.channel = ch->name,
			.to = p->row.msisdn,
			.text = text,
			.unicode = seg.encoding == SMSTEXT_UCS2,
			.send_key = p->row.send_key,
			.reply_to = p->row.reply_to,
			.reply_keyword = keyword,
			.now = time(NULL),
		};

		first_word(p->row.reply_body, keyword, sizeof(keyword));
		if (prov->send_build(ch, &sr, &http, why, sizeof(why)) < 0) {
			c.op = STORE_OUTBOX_FAILED;
			c.reason = why;
			apply(ob, s->id, &c);
			log_row(LOG_WARN, "outbox.failed", s->chan, s->caller,
			    s->id, s->attempts, "reason", why, NULL, NULL);
			goto done;
		}
		for (i = 0; i < http.nheaders; i++)
			headers[i] = http.headers[i];
		if (http.content_type != NULL) {
			snprintf(sig, sizeof(sig), "Content-Type: %s",
			    http.content_type);
			headers[i++] = sig;
		}
		req.url = http.url;
		req.headers = headers;
		req.nheaders = i;
		req.body = http.body;
		req.body_len = http.body_len;
		req.userpwd = http.userpwd[0] ? http.userpwd : NULL;
	} else {
		if (ob->cfg->alert_url == NULL ||
		    ob->cfg->alert_secret == NULL) {
			c.op = STORE_OUTBOX_FAILED;
			c.reason = "alerts.url is no longer configured";
			apply(ob, s->id, &c);
			goto done;
		}
		alert_signature(ob->cfg->alert_secret, time(NULL), p->row.body,
		    sig, sizeof(sig));
		headers[0] = "Content-Type: application/json";
		headers[1] = sig;
		req.url = ob->cfg->alert_url;
		req.headers = headers;
		req.nheaders = 2;
		req.body = p->row.body;
		req.body_len = strlen(p->row.body);
	}
	req.method = "POST";
	/* Connections are reused only where a duplicate is dropped. */
	req.fresh_connection = prov != NULL && !prov->send_idempotent;
	req.connect_timeout_ms = (long)ob->cfg->outbox_connect_timeout * 1000;
	req.timeout_ms = (long)ob->cfg->outbox_timeout * 1000;
	if (http_client_send(ob->http, &req, send_done, s, why,
	    sizeof(why)) < 0) {
		retry_or_fail(ob, s, why, -1);
		goto done;
	}
	chan->in_flight++;
	ob->in_flight++;
	log_row(LOG_DEBUG, "outbox.sending", s->chan, s->caller, s->id,
	    s->attempts, "encoding", s->encoding, NULL, NULL);
	provider_send_http_clear(&http);
	free(folded);
	return;
done:
	provider_send_http_clear(&http);
	free(folded);
	free(s);
	return;
not_sent:
	free(folded);
	c.op = STORE_OUTBOX_RETRY;
	c.reason = "out of memory";
	c.at = wall_now() + 1;
	apply(ob, p->row.id, &c);
}

/* ------------------------------------------------------------------ */
/* Choosing what to send                                               */

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

struct collect {
	struct pick *picks;
	size_t count;
	bool failed;
};

static int
collect_row(const struct store_outbox_row *r, void *arg)
{
	struct collect *col = arg;
	struct pick *p = &col->picks[col->count];
	const char *f[] = { r->msisdn, r->caller, r->body, r->purpose,
	    r->send_key, r->preferred_time, r->reply_to, r->reply_body };
	size_t need = 0, i;
	char *cur;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		need += f[i] ? strlen(f[i]) + 1 : 0;
	if ((p->strings = cur = malloc(need + 1)) == NULL) {
		col->failed = true;
		return 1;
	}
	p->row = *r;
	p->row.msisdn = dup_or_null(r->msisdn, &cur);
	p->row.caller = dup_or_null(r->caller, &cur);
	p->row.body = dup_or_null(r->body, &cur);
	p->row.purpose = dup_or_null(r->purpose, &cur);
	p->row.send_key = dup_or_null(r->send_key, &cur);
	p->row.preferred_time = dup_or_null(r->preferred_time, &cur);
	p->row.reply_to = dup_or_null(r->reply_to, &cur);
	p->row.reply_body = dup_or_null(r->reply_body, &cur);
	col->count++;
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

/* One batch of a channel's due rows: judged, claimed in one transaction,
 * then sent.  Returns how many rows were looked at, -1 on error. */
static int
chan_batch(struct outbox *ob, struct chan *chan, size_t want)
{
	struct pick picks[PICK_MAX];
	struct collect col = { .picks = picks };
	struct store_outbox_change c = { 0 };
	char err[256];
	time_t now = time(NULL);
	bool applied, ok = true;
	size_t i;

	if (want > PICK_MAX)
		want = PICK_MAX;
	if (store_outbox_due(ob->store, chan->name, want, collect_row, &col,
	    err, sizeof(err)) < 0 || col.failed) {
		log_event(LOG_ERROR, "store.failed", "op", "outbox_due",
		    "error", col.failed ? "out of memory" : err, NULL);
		ok = false;
		goto out;
	}
	if (col.count == 0)
		goto out;
	for (i = 0; i < col.count; i++)
		judge(ob, &picks[i], now);

	/* Claims are committed before anything leaves. */
	if (store_txn_begin(ob->store, err, sizeof(err)) < 0) {
		ok = false;
		goto out;
	}
	for (i = 0; i < col.count && ok; i++) {
		struct pick *p = &picks[i];

		c = (struct store_outbox_change){ .reason = p->reason,
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
		if (store_outbox_update(ob->store, p->row.id, &c,
		    &applied) < 0)
			ok = false;
		else if (!applied) {
			p->verdict = PICK_DEFER;   /* taken meanwhile: skip */
			p->reason = NULL;
		}
	}
	if (!ok || store_txn_commit(ob->store, err, sizeof(err)) < 0) {
		store_txn_rollback(ob->store);
		log_event(LOG_ERROR, "store.failed", "op", "outbox_claim",
		    NULL);
		ok = false;
		goto out;
	}
	for (i = 0; i < col.count; i++) {
		struct pick *p = &picks[i];

		if (p->verdict == PICK_BLOCK)
			log_row(LOG_INFO, "outbox.blocked", chan->name,
			    p->row.caller, p->row.id, p->row.attempts,
			    "reason", p->reason, NULL, NULL);
		else if (p->verdict == PICK_EXPIRE)
			log_row(LOG_INFO, "outbox.expired", chan->name,
			    p->row.caller, p->row.id, p->row.attempts,
			    "reason", "caller_idle", NULL, NULL);
		else if (p->verdict == PICK_DEFER && p->reason != NULL)
			log_row(LOG_INFO, "outbox.deferred", chan->name,
			    p->row.caller, p->row.id, p->row.attempts,
			    "reason", "contact_window", NULL, NULL);
		else if (p->verdict == PICK_SEND) {
			chan->tokens -= 1.0;
			send_start(ob, chan, p);
		}
	}
out:
	for (i = 0; i < col.count; i++)
		free(picks[i].strings);
	return ok ? (int)col.count : -1;
}

/* ------------------------------------------------------------------ */
/* Alerts                                                              */

struct alert_ids {
	int64_t ids[16];
	size_t count;
};

static int
collect_alert(int64_t task_id, const char *created_at, void *arg)
{
	struct alert_ids *a = arg;

	(void)created_at;
	a->ids[a->count++] = task_id;
	return 0;
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

/* Queue `text` to every alerts.sms number and `js` (owned, consumed) to
 * alerts.url, inside the caller's transaction. */
static int
alert_rows(struct outbox *ob, const char *text, json_t *js, int64_t task_id)
{
	const struct config *cfg = ob->cfg;
	char pseud[PRIVACY_PSEUDONYM_SIZE], *body = NULL;
	int rc = 0;

	for (size_t i = 0; i < cfg->nalert_sms && rc == 0; i++) {
		if (privacy_pseudonym(cfg->pseudonym_key,
		    cfg->pseudonym_key_len, cfg->alert_sms[i], pseud) < 0)
			rc = -1;
		else
			rc = store_outbound_queue(ob->store,
			    STORE_LANE_URGENT, alert_channel(cfg),
			    cfg->alert_sms[i], pseud, text, "alert", 0,
			    task_id, NULL);
	}
	if (rc == 0 && cfg->alert_url != NULL) {
		if (js == NULL ||
		    (body = json_dumps(js, JSON_COMPACT)) == NULL)
			rc = -1;
		else
			/* No number and no caller: "-" in their place. */
			rc = store_outbound_queue(ob->store,
			    STORE_LANE_URGENT, ALERT_CHANNEL, "-", "-", body,
			    "alert", 0, task_id, NULL);
	}
	free(body);
	json_decref(js);
	return rc;
}

static int
alert_queue(struct outbox *ob, int64_t task_id)
{
	const struct config *cfg = ob->cfg;
	char link[512] = "", text[640], task[24], id[32];

	if (cfg->alert_link != NULL)
		snprintf(link, sizeof(link), "%s#task-%" PRId64,
		    cfg->alert_link, task_id);
	snprintf(task, sizeof(task), "%" PRId64, task_id);
	alert_text(cfg, "urgent_alert", task, "", link, text, sizeof(text));
	/* The receiver's idempotency key: a resend repeats it. */
	snprintf(id, sizeof(id), "urgent-%" PRId64, task_id);
	if (alert_rows(ob, text, json_pack("{s:s, s:s, s:I, s:s, s:s}", "id",
	    id, "event", "urgent_request", "task_id", (json_int_t)task_id,
	    "priority", "urgent", "link", link), task_id) < 0)
		return -1;
	return store_alert_done(ob->store, task_id);
}

int
outbox_alert_security(struct outbox *ob, const char *event,
    const char *token)
{
	const struct config *cfg = ob->cfg;
	char text[640], id[160];
	time_t now = time(NULL);

	alert_text(cfg, "security_alert", "", token, cfg->alert_link ?
	    cfg->alert_link : "", text, sizeof(text));
	/* One event per token and hour: a resend repeats the key. */
	snprintf(id, sizeof(id), "%s-%s-%lld", event, token,
	    (long long)(now / 3600));
	if (alert_rows(ob, text, json_pack("{s:s, s:s, s:s}", "id", id,
	    "event", event, "token", token), 0) < 0)
		return -1;
	outbox_kick(ob);
	return 0;
}

static void
alerts_sweep(struct outbox *ob)
{
	struct alert_ids a = { .count = 0 };
	char err[256], id[24];

	if (store_alerts_due(ob->store, 16, collect_alert, &a) < 0) {
		log_event(LOG_ERROR, "store.failed", "op", "alerts_due", NULL);
		return;
	}
	for (size_t i = 0; i < a.count; i++) {
		snprintf(id, sizeof(id), "%" PRId64, a.ids[i]);
		err[0] = '\0';
		if (store_txn_begin(ob->store, err, sizeof(err)) < 0 ||
		    alert_queue(ob, a.ids[i]) < 0 ||
		    store_txn_commit(ob->store, err, sizeof(err)) < 0) {
			store_txn_rollback(ob->store);
			log_event(LOG_ERROR, "store.failed", "op",
			    "alert_queue", "task", id, "error", err[0] ? err :
			    "queueing the alert rows", NULL);
			return;
		}
		log_event(LOG_WARN, "alert.queued", "task", id, "sms",
		    ob->cfg->nalert_sms > 0 ? "yes" : "no", "url",
		    ob->cfg->alert_url ? "yes" : "no", NULL);
	}
}

/* ------------------------------------------------------------------ */
/* The pump                                                            */

/* Settle rows a stopped daemon left mid-send on channel l; false on a
 * store error (tried again next turn). */
static bool
chan_recover(struct chan *l)
{
	struct outbox *ob = l->ob;
	bool resend = l->channel == NULL ||
	    l->channel->provider->send_idempotent ||
	    l->channel->provider->send_build == NULL;
	char count[24];
	int64_t n;

	if (store_outbox_recover(ob->store, l->name, resend, &n) < 0) {
		log_event(LOG_ERROR, "store.failed", "op", "outbox_recover",
		    "channel", l->name, NULL);
		return false;
	}
	if (n > 0) {
		snprintf(count, sizeof(count), "%" PRId64, n);
		log_event(LOG_WARN, "outbox.recovered", "channel", l->name,
		    "rows", count, NULL);
	}
	l->recovered = true;
	return true;
}

/*
 * One channel's turn: send what is due within its in-flight cap and
 * rate, a bounded number of batches.  Returns seconds until the channel
 * wants another turn; one at its cap is woken by an answer instead.
 */
static double
chan_turn(struct chan *l, double now)
{
	struct outbox *ob = l->ob;
	size_t cap = ob->cfg->outbox_max_in_flight;
	double due;
	int batches = 0, n = 0;

	if (!l->recovered && !chan_recover(l))
		return 1.0;
	chan_refill(l, now);
	while (l->in_flight < cap && l->tokens >= 1.0 &&
	    batches++ < BATCHES_PER_TURN) {
		/* A channel without a network (console) holds nothing in
		 * flight: a whole batch at once. */
		size_t want = l->channel != NULL &&
		    l->channel->provider->send_build == NULL ? PICK_MAX :
		    cap - l->in_flight;

		if ((double)want > l->tokens)
			want = (size_t)l->tokens;
		if ((n = chan_batch(ob, l, want)) <= 0)
			break;
	}
	if (n < 0)
		return 1.0;             /* the store failed: back off */
	if (l->in_flight >= cap)
		return IDLE_SECONDS;
	if (n > 0 && batches > BATCHES_PER_TURN)
		return 0.0;             /* more due: after other events */
	if (store_outbox_next_due(ob->store, l->name, &due) < 0)
		return 1.0;
	if (due <= 0)
		return IDLE_SECONDS;
	due -= wall_now();
	if (l->tokens < 1.0) {
		double wait = (1.0 - l->tokens) / chan_rate(l);

		if (due < wait)
			due = wait;
	}
	return due;
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
	alerts_sweep(ob);
	for (size_t i = 0; i < ob->nchans; i++)
		if ((wait = chan_turn(&ob->chans[i], now)) < next)
			next = wait;
	arm(ob, next);
}

/* ------------------------------------------------------------------ */
/* Lifetime                                                            */

/* hotlinectl writes the database behind the daemon's back (a follow-up
 * queued by `complete`, a task closed): a commit of another connection
 * changes SQLite's data_version, and the outbox looks again. */
static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct outbox *ob = arg;
	int64_t v;

	(void)fd;
	(void)what;
	if (store_data_version(ob->store, &v) < 0 || v == ob->data_version)
		return;
	ob->data_version = v;
	outbox_kick(ob);
}

struct outbox *
outbox_new(struct event_base *base, const struct config *cfg,
    struct store *store, struct http_client *client)
{
	struct outbox *ob = calloc(1, sizeof(*ob));

	if (ob == NULL)
		return NULL;
	ob->base = base;
	ob->cfg = cfg;
	ob->store = store;
	ob->http = client;
	if ((ob->timer = evtimer_new(base, pump, ob)) == NULL ||
	    (ob->watch = event_new(base, -1, EV_PERSIST, watch_cb,
	    ob)) == NULL || chans_build(ob, cfg) < 0 ||
	    store_data_version(store, &ob->data_version) < 0 ||
	    event_add(ob->watch, &(struct timeval){ WATCH_SECONDS, 0 }) <
	    0) {
		outbox_free(ob);
		return NULL;
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
