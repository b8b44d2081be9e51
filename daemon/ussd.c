#include "ussd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "http.h"
#include "intake.h"
#include "log.h"
#include "menu.h"
#include "metrics.h"
#include "outbox.h"
#include "phone.h"
#include "privacy.h"
#include "provider.h"
#include "smstext.h"
#include "store.h"
#include "webhook.h"
#include "writer.h"

/*
 * The resume offer this session began with, if any.  A session that
 * began with it keeps it in its stored state (and is marked offered:
 * only such a session's hops read their state back), so every later hop
 * (and a retry) replays the same way; a new session's first hop (an empty
 * path) is offered the caller's latest session when it dropped without
 * END, filed no task and is recent (store_ussd_resumable).  Found by
 * pseudonym only: another phone never sees it.  On a read error the
 * caller starts fresh, which loses nothing they were promised.
 */
static bool
resume_base(struct app *app, const struct config_channel *ch,
    const struct ussd_request *u, const char *caller,
    struct menu_state *base)
{
	const struct config *cfg = app->config;
	struct menu_state at;
	char *state = NULL;
	bool has = false;

	if (!menu_offers_resume(cfg->menu))
		return false;
	if (store_ussd_session_state(app->store, ch->name, u->session_id,
	    caller, &state) < 0)
		goto fail;
	if (state != NULL) {
		menu_state_load(state, &at, base, &has);
		free(state);
		return has;
	}
	if (u->text[0] != '\0' || cfg->ussd_resume_seconds == 0)
		return false;
	if (store_ussd_resumable(app->store, ch->name, u->session_id, caller,
	    cfg->ussd_resume_seconds, &state) < 0)
		goto fail;
	/* A dropped session that was itself showing the offer stored the
	 * state it offered: offered again, never stacked. */
	has = state != NULL && menu_state_load(state, base, NULL, NULL) &&
	    menu_resumable(cfg->menu, base);
	free(state);
	return has;
fail:
	log_event(LOG_ERROR, "store.failed", "op", "ussd_resume", "channel",
	    ch->name, "caller", caller, "error", "cannot read the caller's "
	    "last session", NULL);
	return false;
}

static const char *
resume_name(enum menu_resume how)
{
	switch (how) {
	case MENU_RESUME_NONE:
		return "none";
	case MENU_RESUME_OFFERED:
		return "offered";
	case MENU_RESUME_CONTINUED:
		return "continued";
	case MENU_RESUME_RESTARTED:
		return "restarted";
	}
	return "none";
}

/* A hop waiting for its commit: everything the store and the reply need,
 * copied, since a reload may replace the config meanwhile. */
struct hop_pending {
	struct http_request *req;
	struct app *app;
	char channel[64];
	char session_id[sizeof(((struct ussd_request *)0)->session_id)];
	char caller[PRIVACY_PSEUDONYM_SIZE];
	char e164[PHONE_E164_SIZE];
	struct menu_state st;
	char *state;              /* st as stored (menu_state_dump) */
	enum menu_resume resume;
	bool resume_answered;     /* this hop answered the offer */
	bool first;               /* the session's first hop */
	bool end;
	struct store_task_request task;
	struct store_ussd_hop hop;
	/* From the writer thread: */
	enum store_result status;
	struct store_hop_result res;
	char why[256];
	struct provider_reply reply;
};

static void
pending_free(struct hop_pending *p)
{
	if (p != NULL)
		free(p->state);
	free(p);
}

/* Writer thread. */
static int
hop_work(struct store *st, void *arg)
{
	struct hop_pending *p = arg;

	p->status = store_ussd_hop(st, &p->hop, &p->res, p->why,
	    sizeof(p->why));
	return p->status == STORE_RESULT_OK ? 0 : -1;
}

/* The page leaves only now: an END that says a counsellor will call is
 * durable before the caller reads it. */
static void
hop_done(enum writer_result result, void *arg)
{
	struct hop_pending *p = arg;
	struct http_request *req = p->req;
	char id[24];

	if (result != WRITER_COMMITTED && p->status == STORE_RESULT_CONFLICT) {
		webhook_refuse(req, "ussd.refused", p->channel,
		    PROVIDER_BAD_REQUEST, "sessionId is already in use by "
		    "another phoneNumber");
		goto out;
	}
	if (result != WRITER_COMMITTED) {
		metrics_webhook(METRICS_KIND_USSD, p->channel,
		    METRICS_WEBHOOK_UNAVAILABLE);
		log_event(LOG_ERROR, "store.failed", "req",
		    http_request_id(req), "op", "ussd_hop", "error",
		    p->status == STORE_RESULT_ERROR ? p->why : "batch not committed",
		    NULL);
		/* The caller must never be told a request was taken when it
		 * was not: the aggregator ends the session on a 5xx. */
		http_add_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "unavailable", "could not store "
		    "the session; retry");
		goto out;
	}
	metrics_webhook(METRICS_KIND_USSD, p->channel, METRICS_WEBHOOK_STORED);
	metrics_ussd_hop(p->channel, p->first, p->end);
	log_event(LOG_INFO, "ussd.hop", "req", http_request_id(req),
	    "channel", p->channel, "caller", p->caller, "node", p->st.node,
	    "invalid", p->st.invalid ? "true" : "false",
	    "end", p->end ? "true" : "false", NULL);
	if (p->res.change != STORE_TASK_NONE) {
		snprintf(id, sizeof(id), "%lld", (long long)p->res.task_id);
		if (p->res.change == STORE_TASK_CREATED)
			metrics_task_created(p->channel, p->task.urgent);
		log_event(LOG_INFO, p->res.change == STORE_TASK_CREATED ?
		    "task.created" : "task.updated", "req",
		    http_request_id(req), "task", id, "channel", p->channel,
		    "caller", p->caller, "priority", p->task.urgent ?
		    "urgent" : "normal", NULL);
		/* An urgent request is announced from the outbox. */
		if (p->task.urgent)
			outbox_kick(p->app->outbox);
	}
	if ((p->resume == MENU_RESUME_OFFERED && p->first) ||
	    p->resume_answered)
		log_event(LOG_INFO, "ussd.resume", "req", http_request_id(req),
		    "channel", p->channel, "caller", p->caller, "resume",
		    resume_name(p->resume), NULL);
	http_reply(req, 200, p->reply.content_type, p->reply.body,
	    strlen(p->reply.body));
out:
	pending_free(p);
}

void
ussd_hop_cb(struct http_request *req, void *arg)
{
	struct app *app = arg;
	const struct config *cfg = app->config;
	const char *name = http_request_param(req, "channel");
	const struct config_channel *ch = config_channel_find(cfg, name);
	struct provider_input in;
	struct ussd_request u;
	struct menu_render_opts opts = { .max_octets = SMSTEXT_USSD_OCTETS };
	struct hop_pending *p;
	enum provider_verdict v;
	struct menu_state base, kept, offered;
	bool has_base;
	char page[1024], why[256];

	if (ch == NULL) {
		http_reply_error(req, 404, "unknown_channel", "no channel of "
		    "that name in the configuration");
		return;
	}
	if (ch->provider->ussd_parse == NULL) {
		http_reply_error(req, 404, "no_ussd", "this channel's provider "
		    "does not carry USSD");
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		http_add_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "unavailable", "out of memory; "
		    "retry");
		return;
	}
	webhook_input(req, &in);

	if ((v = ch->provider->verify(ch, &in, why, sizeof(why))) !=
	    PROVIDER_OK ||
	    (v = ch->provider->ussd_parse(&in, &u, why, sizeof(why))) !=
	    PROVIDER_OK) {
		webhook_refuse(req, "ussd.refused", ch->name, v, why);
		goto fail;
	}
	if (phone_normalize(u.phone, ch->default_country, p->e164,
	    sizeof(p->e164)) < 0) {
		webhook_refuse(req, "ussd.refused", ch->name,
		    PROVIDER_BAD_REQUEST, "field phoneNumber is not a phone "
		    "number");
		goto fail;
	}
	if (privacy_pseudonym(cfg->pseudonym_key, cfg->pseudonym_key_len,
	    p->e164, p->caller) < 0) {
		http_reply_error(req, 500, "internal", "cannot derive caller "
		    "pseudonym");
		goto fail;
	}

	opts.fold_vietnamese = ch->fold_vietnamese;
	has_base = resume_base(app, ch, &u, p->caller, &base);
	if (menu_replay(cfg->menu, ch->language, has_base ? &base : NULL,
	    u.text, &opts, &p->st, &p->resume) < 0) {
		http_add_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "unavailable", "out of memory; "
		    "retry");
		goto fail;
	}
	p->end = menu_ends(cfg->menu, &p->st, &opts);
	p->first = u.text[0] == '\0';
	/* The answer to the offer is the path's only input. */
	p->resume_answered = (p->resume == MENU_RESUME_CONTINUED ||
	    p->resume == MENU_RESUME_RESTARTED) &&
	    strchr(u.text, '*') == NULL;
	/* While the offer shows, the session stands where the one it
	 * offers stood: dropping again keeps the same offer. */
	kept = p->resume == MENU_RESUME_OFFERED ? base : p->st;
	offered = base;
	/* The word's place is the task: an ended session keeps no copy. */
	if (p->end) {
		kept.answers.verification[0] = '\0';
		offered.answers.verification[0] = '\0';
	}
	if ((p->state = menu_state_dump(&kept, has_base ? &offered :
	    NULL)) == NULL) {
		http_add_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "unavailable", "out of memory; "
		    "retry");
		goto fail;
	}
	if (menu_render(cfg->menu, &p->st, &opts, page, sizeof(page)) < 0) {
		log_event(LOG_ERROR, "ussd.render_failed", "req",
		    http_request_id(req), "channel", ch->name, "node",
		    p->st.node, NULL);
		http_reply_error(req, 500, "internal", "menu page could not "
		    "be rendered");
		goto fail;
	}
	if (ch->provider->ussd_format(p->end, page, &p->reply) < 0) {
		http_reply_error(req, 500, "internal", "page too long to "
		    "frame");
		goto fail;
	}

	p->req = req;
	p->app = app;
	snprintf(p->channel, sizeof(p->channel), "%s", ch->name);
	snprintf(p->session_id, sizeof(p->session_id), "%s", u.session_id);
	intake_task_request(&p->st, p->channel, p->caller, p->e164, &p->task);
	p->hop = (struct store_ussd_hop){
		.channel = p->channel,
		.session_id = p->session_id,
		.caller = p->caller,
		.msisdn = p->e164,
		.node = p->st.node,
		.state = p->state,
		.offered = has_base,
		.first = p->first,
		.ended = p->end,
		.task = menu_current_action(cfg->menu, &p->st) ==
		    MENU_ACTION_CREATE_TASK ? &p->task : NULL,
	};
	p->status = STORE_RESULT_ERROR;
	snprintf(p->why, sizeof(p->why), "not run");
	if (writer_submit(app->writer, hop_work, hop_done, p) < 0) {
		http_add_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "unavailable", "out of memory; "
		    "retry");
		goto fail;
	}
	return;
fail:
	pending_free(p);
}
