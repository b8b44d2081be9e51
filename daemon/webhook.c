#include "webhook.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "provider.h"

static const char *
header_of(const void *ctx, const char *name)
{
	return http_request_header(ctx, name);
}

void
webhook_input(struct http_request *req, struct provider_input *in)
{
	*in = (struct provider_input){
		.method = http_request_method_name(req),
		.path = http_request_path(req),
		.query = http_request_query(req),
		.content_type = http_request_header(req, "Content-Type"),
		.peer = http_request_peer(req),
		.forwarded = http_request_forwarded(req),
		.header = header_of,
		.header_ctx = req,
		.now = time(NULL),
	};
	in->body = http_request_body(req, &in->body_len);
}

static int
status_of(enum provider_verdict v)
{
	switch (v) {
	case PROVIDER_OK:
		return 200;
	case PROVIDER_BAD_REQUEST:
		return 400;
	case PROVIDER_FORBIDDEN:
		return 403;
	case PROVIDER_UNSUPPORTED:
		return 415;
	}
	return 400;
}

static const char *
code_of(enum provider_verdict v)
{
	switch (v) {
	case PROVIDER_OK:
		return "ok";
	case PROVIDER_BAD_REQUEST:
		return "bad_request";
	case PROVIDER_FORBIDDEN:
		return "forbidden";
	case PROVIDER_UNSUPPORTED:
		return "unsupported_media_type";
	}
	return "bad_request";
}

/*
 * Failed authentications, per channel and source.  Someone guessing a
 * token sends thousands: each is answered, but only the first of an
 * interval is logged, and the rest as a count.  The table is small and
 * fixed; when it is full the oldest entry is summarised and reused.
 * Module state, because the whole process shares one log.
 */
#define AUTH_SLOTS 64
#define AUTH_INTERVAL_SECONDS 60

struct auth_slot {
	char channel[64];
	char source[48];
	struct log_throttle throttle;     /* not running: a free slot */
};

static struct auth_slot auth_slots[AUTH_SLOTS];

static void
auth_summary(const struct auth_slot *s, unsigned long count)
{
	char n[24], secs[16];

	if (count == 0)
		return;
	snprintf(n, sizeof(n), "%lu", count);
	snprintf(secs, sizeof(secs), "%d", AUTH_INTERVAL_SECONDS);
	log_event(LOG_WARN, "webhook.auth_failures", "channel", s->channel,
	    "source", s->source, "count", n, "interval_seconds", secs, NULL);
}

/* True when this failure is only counted; false when it is the first
 * of its interval, to be logged in full. */
static bool
auth_failure_counted(const char *channel, const char *source)
{
	struct auth_slot *s, *oldest = &auth_slots[0];
	unsigned long summary;

	for (size_t i = 0; i < AUTH_SLOTS; i++) {
		s = &auth_slots[i];
		if (s->throttle.since != 0 &&
		    strcmp(s->channel, channel) == 0 &&
		    strcmp(s->source, source) == 0) {
			if (!log_throttle_hit(&s->throttle,
			    AUTH_INTERVAL_SECONDS, &summary))
				return true;
			auth_summary(s, summary);
			return false;
		}
		if (oldest->throttle.since != 0 &&
		    (s->throttle.since == 0 ||
		    s->throttle.since < oldest->throttle.since))
			oldest = s;
	}
	if (log_throttle_end(&oldest->throttle, AUTH_INTERVAL_SECONDS, true,
	    &summary))
		auth_summary(oldest, summary);
	snprintf(oldest->channel, sizeof(oldest->channel), "%s", channel);
	snprintf(oldest->source, sizeof(oldest->source), "%s", source);
	log_throttle_hit(&oldest->throttle, AUTH_INTERVAL_SECONDS, &summary);
	return false;
}

void
webhook_auth_flush(bool all)
{
	unsigned long summary;

	for (size_t i = 0; i < AUTH_SLOTS; i++)
		if (log_throttle_end(&auth_slots[i].throttle,
		    AUTH_INTERVAL_SECONDS, all, &summary))
			auth_summary(&auth_slots[i], summary);
}

/* The counters' words for a refusal: the kind from the event's module
 * ("ussd.refused", "sms.refused", "dlr.refused"), the result from the
 * verdict's class. */
static enum metrics_webhook_kind
kind_of(const char *event)
{
	if (strncmp(event, "ussd.", 5) == 0)
		return METRICS_KIND_USSD;
	return strncmp(event, "dlr.", 4) == 0 ? METRICS_KIND_DLR :
	    METRICS_KIND_SMS;
}

static enum metrics_webhook_result
refusal_of(enum provider_verdict v)
{
	switch (v) {
	case PROVIDER_FORBIDDEN:
		return METRICS_WEBHOOK_REFUSED_FORBIDDEN;
	case PROVIDER_UNSUPPORTED:
		return METRICS_WEBHOOK_REFUSED_UNSUPPORTED;
	case PROVIDER_OK:
	case PROVIDER_BAD_REQUEST:
		break;
	}
	return METRICS_WEBHOOK_REFUSED_BAD_REQUEST;
}

void
webhook_refuse(struct http_request *req, const char *event,
    const char *channel, enum provider_verdict v, const char *why)
{
	const char *source = http_request_peer(req);

	metrics_webhook(kind_of(event), channel, refusal_of(v));

	if (v != PROVIDER_FORBIDDEN)
		log_event(LOG_WARN, event, "req", http_request_id(req),
		    "channel", channel, "reason", why, NULL);
	else if (!auth_failure_counted(channel, source))
		log_event(LOG_WARN, event, "req", http_request_id(req),
		    "channel", channel, "source", source, "reason", why,
		    "note", "further failures from this source are counted "
		    "into webhook.auth_failures", NULL);
	http_reply_error(req, status_of(v), code_of(v), why);
}
