#include "sms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "http.h"
#include "inbox.h"
#include "log.h"
#include "metrics.h"
#include "phone.h"
#include "privacy.h"
#include "provider.h"
#include "store.h"
#include "webhook.h"
#include "writer.h"

/* A request waiting for its commit. */
struct sms_pending {
	struct http_request *req;
	struct app *app;
	const struct provider *provider;
	char id[128];                 /* the provider's message id */
	char channel[64];
	char caller[PRIVACY_PSEUDONYM_SIZE];
	size_t text_len;
};

static enum metrics_webhook_result
webhook_result(enum inbox_result r)
{
	switch (r) {
	case INBOX_STORED:
		return METRICS_WEBHOOK_STORED;
	case INBOX_DUPLICATE:
		return METRICS_WEBHOOK_DUPLICATE;
	case INBOX_FAILED:
		break;
	}
	return METRICS_WEBHOOK_UNAVAILABLE;
}

static void
stored_cb(enum inbox_result result, void *arg)
{
	struct sms_pending *p = arg;
	struct provider_reply reply;
	char len[24];

	snprintf(len, sizeof(len), "%zu", p->text_len);
	metrics_webhook(METRICS_KIND_SMS, p->channel, webhook_result(result));
	switch (result) {
	case INBOX_STORED:
	case INBOX_DUPLICATE:
		log_event(LOG_INFO, result == INBOX_STORED ? "sms.stored" :
		    "sms.duplicate", "req", http_request_id(p->req), "channel",
		    p->channel, "caller", p->caller, NULL);
		log_event(LOG_DEBUG, "sms.text", "req", http_request_id(p->req),
		    "bytes", len, NULL);
		if (p->provider->sms_ack(&reply) < 0) {
			http_reply(p->req, 200, "text/plain", "", 0);
			break;
		}
		http_reply(p->req, 200, reply.content_type, reply.body,
		    strlen(reply.body));
		break;
	case INBOX_FAILED:
		/* Never 2xx for what is not stored; the aggregator retries. */
		http_add_header(p->req, "Retry-After", "5");
		http_reply_error(p->req, 503, "unavailable", "the message "
		    "could not be stored; retry");
		break;
	}
	free(p);
}

void
sms_inbound_cb(struct http_request *req, void *arg)
{
	struct app *app = arg;
	const struct config *cfg = app->config;
	const char *name = http_request_param(req, "channel");
	const struct config_channel *ch = config_channel_find(cfg, name);
	struct provider_input in;
	struct sms_message *m = NULL;
	struct sms_pending *p = NULL;
	struct store_inbound row;
	enum provider_verdict v;
	char e164[PHONE_E164_SIZE], why[256];

	if (ch == NULL) {
		http_reply_error(req, 404, "unknown_channel", "no channel of "
		    "that name in the configuration");
		return;
	}
	if (ch->provider->sms_parse == NULL) {
		http_reply_error(req, 404, "no_sms", "this channel's provider "
		    "does not carry SMS");
		return;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (p = calloc(1, sizeof(*p))) == NULL) {
		free(m);
		http_add_header(req, "Retry-After", "5");
		http_reply_error(req, 503, "unavailable", "out of memory; "
		    "retry");
		return;
	}
	webhook_input(req, &in);
	if ((v = ch->provider->verify(ch, &in, why, sizeof(why))) !=
	    PROVIDER_OK ||
	    (v = ch->provider->sms_parse(ch, &in, m, why, sizeof(why))) !=
	    PROVIDER_OK) {
		webhook_refuse(req, "sms.refused", ch->name, v, why);
		goto done;
	}
	if (m->concat_total > 1 && (m->concat_ref[0] == '\0' ||
	    m->concat_part < 1 || m->concat_part > m->concat_total ||
	    m->concat_total > 255)) {
		webhook_refuse(req, "sms.refused", ch->name,
		    PROVIDER_BAD_REQUEST, "inconsistent concatenation fields "
		    "(reference, part, total)");
		goto done;
	}
	if (phone_normalize(m->from, ch->default_country, e164,
	    sizeof(e164)) < 0) {
		webhook_refuse(req, "sms.refused", ch->name,
		    PROVIDER_BAD_REQUEST, "the sender is not a phone number");
		goto done;
	}
	p->req = req;
	p->app = app;
	p->provider = ch->provider;
	snprintf(p->id, sizeof(p->id), "%s", m->id);
	p->text_len = strlen(m->text);
	snprintf(p->channel, sizeof(p->channel), "%s", ch->name);
	if (privacy_pseudonym(cfg->pseudonym_key, cfg->pseudonym_key_len,
	    e164, p->caller) < 0) {
		http_reply_error(req, 500, "internal", "cannot derive caller "
		    "pseudonym");
		goto done;
	}
	row = (struct store_inbound){
		.channel = ch->name,
		.provider_msg_id = m->id,
		.caller = p->caller,
		.msisdn = e164,
		.body = m->text,
		.received_at = m->received_at,
		.concat_ref = m->concat_ref,
		.concat_part = m->concat_part,
		.concat_total = m->concat_total,
	};
	if (inbox_submit(app->inbox, &row, stored_cb, p) < 0) {
		http_add_header(req, "Retry-After", "5");
		http_reply_error(req, 503, "unavailable", "out of memory; "
		    "retry");
		goto done;
	}
	p = NULL;	/* stored_cb owns it now */
done:
	free(p);
	free(m);
}

static const char *
dlr_status_name(enum dlr_status s)
{
	switch (s) {
	case DLR_SENT:
		return "sent";
	case DLR_DELIVERED:
		return "delivered";
	case DLR_FAILED:
		return "failed";
	case DLR_UNKNOWN:
		/* Kept as reported; the store settles the outbound row as
		 * sent (the provider holds the message). */
		return "unknown";
	}
	return "failed";
}

static enum metrics_dlr_outcome
dlr_outcome(enum dlr_status s)
{
	switch (s) {
	case DLR_SENT:
		return METRICS_DLR_SENT;
	case DLR_DELIVERED:
		return METRICS_DLR_DELIVERED;
	case DLR_FAILED:
		return METRICS_DLR_FAILED;
	case DLR_UNKNOWN:
		break;
	}
	return METRICS_DLR_UNKNOWN;
}

/* Distinct undocumented statuses already logged: each is logged once
 * per process, so a provider that starts sending a new word all day
 * fills neither the log nor memory.  Past the bound, no more are
 * named. */
#define DLR_UNKNOWN_LOGGED_MAX 16

static bool
dlr_unknown_first(const char *channel, const char *code)
{
	static char seen[DLR_UNKNOWN_LOGGED_MAX][64 + PROVIDER_CODE_MAX + 2];
	static size_t nseen;
	char key[sizeof(seen[0])];

	snprintf(key, sizeof(key), "%s %s", channel, code);
	for (size_t i = 0; i < nseen; i++)
		if (strcmp(seen[i], key) == 0)
			return false;
	if (nseen == DLR_UNKNOWN_LOGGED_MAX)
		return false;
	memcpy(seen[nseen++], key, sizeof(key));
	return true;
}

/* A delivery report waiting for its commit. */
struct dlr_pending {
	struct http_request *req;
	const struct provider *provider;
	char channel[64];
	struct dlr_report r;
	bool matched;
	char why[256];
};

/* Writer thread. */
static int
dlr_work(struct store *st, void *arg)
{
	struct dlr_pending *p = arg;

	return store_dlr_record(st, p->channel, p->r.provider_ref,
	    p->r.send_key, dlr_status_name(p->r.status), p->r.reason,
	    &p->matched, p->why, sizeof(p->why));
}

static void
dlr_done(enum writer_result result, void *arg)
{
	struct dlr_pending *p = arg;
	struct http_request *req = p->req;
	struct provider_reply reply;

	metrics_webhook(METRICS_KIND_DLR, p->channel, result ==
	    WRITER_COMMITTED ? METRICS_WEBHOOK_STORED :
	    METRICS_WEBHOOK_UNAVAILABLE);
	if (result != WRITER_COMMITTED) {
		log_event(LOG_ERROR, "store.failed", "req",
		    http_request_id(req), "op", "dlr", "error", p->why[0] ?
		    p->why : "batch not committed", NULL);
		http_add_header(req, "Retry-After", "5");
		http_reply_error(req, 503, "unavailable", "the report could "
		    "not be stored; retry");
		goto out;
	}
	metrics_dlr(p->channel, dlr_outcome(p->r.status));
	log_event(LOG_INFO, "dlr.recorded", "req", http_request_id(req),
	    "channel", p->channel, "status", dlr_status_name(p->r.status),
	    "matched", p->matched ? "true" : "false", NULL);
	if (p->provider->sms_ack == NULL || p->provider->sms_ack(&reply) < 0)
		http_reply(req, 200, "text/plain", "OK", 2);
	else
		http_reply(req, 200, reply.content_type, reply.body,
		    strlen(reply.body));
out:
	free(p);
}

void
sms_dlr_cb(struct http_request *req, void *arg)
{
	struct app *app = arg;
	const char *name = http_request_param(req, "channel");
	const struct config_channel *ch = config_channel_find(app->config,
	    name);
	struct provider_input in;
	struct dlr_pending *p;
	enum provider_verdict v;
	char why[256];

	if (ch == NULL) {
		http_reply_error(req, 404, "unknown_channel", "no channel of "
		    "that name in the configuration");
		return;
	}
	if (ch->provider->dlr_parse == NULL) {
		http_reply_error(req, 404, "no_dlr", "this channel's provider "
		    "sends no delivery reports here");
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		http_add_header(req, "Retry-After", "5");
		http_reply_error(req, 503, "unavailable", "out of memory; "
		    "retry");
		return;
	}
	webhook_input(req, &in);
	if ((v = (ch->provider->dlr_verify ? ch->provider->dlr_verify :
	    ch->provider->verify)(ch, &in, why, sizeof(why))) != PROVIDER_OK ||
	    (v = ch->provider->dlr_parse(ch, &in, &p->r, why, sizeof(why))) !=
	    PROVIDER_OK) {
		webhook_refuse(req, "dlr.refused", ch->name, v, why);
		free(p);
		return;
	}
	if (p->r.status == DLR_UNKNOWN) {
		if (dlr_unknown_first(ch->name, p->r.status_code))
			log_event(LOG_WARN, "dlr.unknown_status", "req",
			    http_request_id(req), "channel", ch->name,
			    "status", p->r.status_code[0] ? p->r.status_code :
			    "(not a code)", NULL);
		snprintf(p->r.reason, sizeof(p->r.reason), "unknown status%s%s",
		    p->r.status_code[0] ? " " : "", p->r.status_code);
	}
	p->req = req;
	p->provider = ch->provider;
	snprintf(p->channel, sizeof(p->channel), "%s", ch->name);
	if (writer_submit(app->writer, dlr_work, dlr_done, p) < 0) {
		free(p);
		http_add_header(req, "Retry-After", "5");
		http_reply_error(req, 503, "unavailable", "out of memory; "
		    "retry");
	}
}
