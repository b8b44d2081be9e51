#include "ussd.h"

#include <stdatomic.h>
#include <stdint.h>
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
 * began with it keeps it in its stored state (and is marked offered, so
 * no other session's hop reads its state back), so every later hop (and
 * a retry) replays the same way; a new session's first hop (an empty
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

/*
 * A page that promises nothing (neither the session's first, which
 * claims its session id for this phone, nor an END) is sent as soon as
 * its write is queued: the caller does not wait for a disk flush to see
 * the next menu, and a crash before the commit loses only where the
 * session stood, which the next hop's path rebuilds.  Unless this many
 * writes are already waiting: then it waits for its commit like any
 * other, so a flood cannot queue writes faster than the disk takes them.
 */
#define EARLY_ANSWER_MAX_PENDING 256

enum { HOP_QUEUED, HOP_TAKEN, HOP_SUPERSEDED };

/* A hop waiting for its commit: everything the store and the reply need,
 * copied, since a reload may replace the config meanwhile. */
struct hop_pending {
	struct http_request *req; /* NULL once answered */
	char req_id[24];          /* for the log, after the answer */
	struct app *app;
	struct ussd_request u;    /* the request, parsed */
	bool early;               /* answered before its commit */
	/* HOP_QUEUED until the writer takes it (HOP_TAKEN), or a later hop
	 * of the session takes its place first (HOP_SUPERSEDED): then that
	 * one's write records this hop too, and this one writes nothing. */
	atomic_int claim;
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

/*
 * Callers with a hop answered early whose write has not committed: a new
 * session of theirs reads their last one (the resume offer) only after
 * those writes land.  Direct-mapped by pseudonym: a caller whose slot
 * another holds is simply not answered early.  Loop thread only.
 */
#define EARLY_CALLERS 1024

static struct early_caller {
	char caller[PRIVACY_PSEUDONYM_SIZE];
	unsigned writes;          /* 0: the slot is free */
	struct hop_pending *last; /* their latest early hop, until its
	                             completion */
} early_callers[EARLY_CALLERS];

static struct early_caller *
early_slot(const char *caller)
{
	uint32_t h = 2166136261u;   /* FNV-1a */

	for (const char *c = caller; *c != '\0'; c++)
		h = (h ^ (unsigned char)*c) * 16777619u;
	return &early_callers[h % EARLY_CALLERS];
}

/* Count one more early write, p's; false when the slot is another
 * caller's. */
static bool
early_add(struct hop_pending *p)
{
	struct early_caller *e = early_slot(p->caller);

	if (e->writes > 0 && strcmp(e->caller, p->caller) != 0)
		return false;
	snprintf(e->caller, sizeof(e->caller), "%s", p->caller);
	e->writes++;
	e->last = p;
	return true;
}

static void
early_done(struct hop_pending *p)
{
	struct early_caller *e = early_slot(p->caller);

	if (e->writes > 0 && strcmp(e->caller, p->caller) == 0)
		e->writes--;
	if (e->last == p)
		e->last = NULL;
}

/*
 * Under load a caller's next hop can come before the writer has taken
 * the last one's write (it was answered early): p's write then stands
 * for both, the state it stores being the later, and the earlier writes
 * nothing.  Returns the hops p's write records.
 */
static unsigned
supersede_queued(const struct hop_pending *p)
{
	struct early_caller *e = early_slot(p->caller);
	struct hop_pending *prev = e->last;
	int queued = HOP_QUEUED;

	if (e->writes == 0 || prev == NULL ||
	    strcmp(e->caller, p->caller) != 0 ||
	    strcmp(prev->channel, p->channel) != 0 ||
	    strcmp(prev->session_id, p->session_id) != 0 ||
	    !atomic_compare_exchange_strong(&prev->claim, &queued,
	    HOP_SUPERSEDED))
		return 1;
	return prev->hop.hops + 1;
}

static bool
early_pending(const char *caller)
{
	const struct early_caller *e = early_slot(caller);

	return e->writes > 0 && strcmp(e->caller, caller) == 0;
}

/* Writer thread. */
static int
hop_work(struct store *st, void *arg)
{
	struct hop_pending *p = arg;
	int queued = HOP_QUEUED;

	if (!atomic_compare_exchange_strong(&p->claim, &queued, HOP_TAKEN)) {
		p->status = STORE_RESULT_OK;
		return 0;
	}
	p->status = store_ussd_hop(st, &p->hop, &p->res, p->why,
	    sizeof(p->why));
	return p->status == STORE_RESULT_OK ? 0 : -1;
}

/* The hop's metrics and log line. */
static void
count_hop(const struct hop_pending *p)
{
	metrics_webhook(METRICS_KIND_USSD, p->channel, METRICS_WEBHOOK_STORED);
	metrics_ussd_hop(p->channel, p->first, p->end);
	log_event(LOG_INFO, "ussd.hop", "req", p->req_id,
	    "channel", p->channel, "caller", p->caller, "node", p->st.node,
	    "invalid", p->st.invalid ? "true" : "false",
	    "end", p->end ? "true" : "false", NULL);
}

/* The page (and what became of a resume offer). */
static void
answer(struct hop_pending *p)
{
	if ((p->resume == MENU_RESUME_OFFERED && p->first) ||
	    p->resume_answered)
		log_event(LOG_INFO, "ussd.resume", "req", p->req_id,
		    "channel", p->channel, "caller", p->caller, "resume",
		    resume_name(p->resume), NULL);
	http_reply(p->req, 200, p->reply.content_type, p->reply.body,
	    strlen(p->reply.body));
	p->req = NULL;
}

/* The page leaves only now, unless it left early (EARLY_ANSWER_MAX_
 * PENDING): an END that says a counsellor will call is durable before
 * the caller reads it. */
static void
hop_done(enum writer_result result, void *arg)
{
	struct hop_pending *p = arg;
	struct http_request *req = p->req;
	char id[24];

	if (p->early)
		early_done(p);
	if (req == NULL) {
		/* Answered already: a session id another phone holds is a
		 * refusal to log, not a broken disk. */
		if (result != WRITER_COMMITTED &&
		    p->status == STORE_RESULT_CONFLICT)
			log_event(LOG_WARN, "ussd.refused", "req", p->req_id,
			    "channel", p->channel, "reason", "sessionId is "
			    "already in use by another phoneNumber", NULL);
		else if (result != WRITER_COMMITTED)
			log_event(LOG_ERROR, "store.failed", "req", p->req_id,
			    "op", "ussd_hop", "error", p->status ==
			    STORE_RESULT_ERROR ? p->why : "batch not committed",
			    NULL);
		goto out;
	}
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
	count_hop(p);
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
	answer(p);
out:
	pending_free(p);
}

static void hop_replay(struct hop_pending *p);

static int
nothing(struct store *st, void *arg)
{
	(void)st;
	(void)arg;
	return 0;
}

/* The caller's earlier writes have landed (or failed: nothing newer can
 * come of them either way). */
static void
caught_up(enum writer_result result, void *arg)
{
	(void)result;
	hop_replay(arg);
}

void
ussd_hop_cb(struct http_request *req, void *arg)
{
	struct app *app = arg;
	const struct config *cfg = app->config;
	const char *name = http_request_param(req, "channel");
	const struct config_channel *ch = config_channel_find(cfg, name);
	struct provider_input in;
	struct hop_pending *p;
	enum provider_verdict v;
	char why[256];

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
	    (v = ch->provider->ussd_parse(&in, &p->u, why, sizeof(why))) !=
	    PROVIDER_OK) {
		webhook_refuse(req, "ussd.refused", ch->name, v, why);
		goto fail;
	}
	if (phone_normalize(p->u.phone, ch->default_country, p->e164,
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
	p->req = req;
	snprintf(p->req_id, sizeof(p->req_id), "%s", http_request_id(req));
	p->app = app;
	snprintf(p->channel, sizeof(p->channel), "%s", ch->name);
	snprintf(p->session_id, sizeof(p->session_id), "%s",
	    p->u.session_id);
	/* A new session may be offered the caller's last one: it reads it
	 * once what that session's last hops wrote has landed. */
	if (p->u.text[0] == '\0' && menu_offers_resume(cfg->menu) &&
	    early_pending(p->caller)) {
		if (writer_submit(app->writer, nothing, caught_up, p) < 0) {
			http_add_header(req, "Retry-After", "1");
			http_reply_error(req, 503, "unavailable", "out of "
			    "memory; retry");
			goto fail;
		}
		return;
	}
	hop_replay(p);
	return;
fail:
	pending_free(p);
}

/* Where the path leads, the page, and the write that records it. */
static void
hop_replay(struct hop_pending *p)
{
	struct app *app = p->app;
	const struct config *cfg = app->config;
	const struct config_channel *ch = config_channel_find(cfg,
	    p->channel);
	struct http_request *req = p->req;
	const struct ussd_request *u = &p->u;
	struct menu_render_opts opts = { .max_octets = SMSTEXT_USSD_OCTETS };
	struct menu_state base, kept, offered;
	bool has_base;
	char page[1024];

	/* A reload took the channel away while the hop waited. */
	if (ch == NULL || ch->provider->ussd_format == NULL) {
		http_add_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "unavailable", "the channel was "
		    "reconfigured; retry");
		goto fail;
	}
	opts.fold_vietnamese = ch->fold_vietnamese;
	has_base = resume_base(app, ch, u, p->caller, &base);
	if (menu_replay(cfg->menu, ch->language, has_base ? &base : NULL,
	    u->text, &opts, &p->st, &p->resume) < 0) {
		http_add_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "unavailable", "out of memory; "
		    "retry");
		goto fail;
	}
	p->end = menu_ends(cfg->menu, &p->st, &opts);
	p->first = u->text[0] == '\0';
	/* The answer to the offer is the path's only input. */
	p->resume_answered = (p->resume == MENU_RESUME_CONTINUED ||
	    p->resume == MENU_RESUME_RESTARTED) &&
	    strchr(u->text, '*') == NULL;
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
		log_event(LOG_ERROR, "ussd.render_failed", "req", p->req_id,
		    "channel", ch->name, "node", p->st.node, NULL);
		http_reply_error(req, 500, "internal", "menu page could not "
		    "be rendered");
		goto fail;
	}
	if (ch->provider->ussd_format(p->end, page, &p->reply) < 0) {
		http_reply_error(req, 500, "internal", "page too long to "
		    "frame");
		goto fail;
	}

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
	atomic_init(&p->claim, HOP_QUEUED);
	p->hop.hops = p->first ? 1 : supersede_queued(p);
	p->early = !p->first && !p->end && p->hop.task == NULL &&
	    writer_pending(app->writer) < EARLY_ANSWER_MAX_PENDING &&
	    early_add(p);
	if (writer_submit(app->writer, hop_work, hop_done, p) < 0) {
		if (p->early)
			early_done(p);
		http_add_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "unavailable", "out of memory; "
		    "retry");
		goto fail;
	}
	if (p->early) {
		count_hop(p);
		answer(p);
	}
	return;
fail:
	pending_free(p);
}
