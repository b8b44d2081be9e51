#include "conversation.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "intake.h"
#include "log.h"
#include "menu.h"
#include "metrics.h"
#include "store.h"

#define BATCH_MAX 128
#define PAGE_SIZE 4096

/* A message copied out of the store's cursor before any write. */
struct pending {
	int64_t id;
	char channel[64];
	char caller[16];
	char msisdn[20];
	char *body;
	int64_t task_id;
};

struct collect {
	struct pending *items;
	size_t count;
	size_t cap;
	bool failed;
};

static int
collect_cb(const struct store_unprocessed *m, void *arg)
{
	struct collect *c = arg;
	struct pending *p;

	if (c->count == c->cap)
		return 1;
	p = &c->items[c->count];
	snprintf(p->channel, sizeof(p->channel), "%s", m->channel);
	snprintf(p->caller, sizeof(p->caller), "%s", m->caller);
	/* "" when the caller was erased before it was processed. */
	snprintf(p->msisdn, sizeof(p->msisdn), "%s", m->msisdn ? m->msisdn :
	    "");
	p->id = m->id;
	p->task_id = m->task_id;
	if ((p->body = strdup(m->body ? m->body : "")) == NULL) {
		c->failed = true;
		return 1;
	}
	c->count++;
	return 0;
}

static const char *
keyword_name(enum menu_keyword k)
{
	switch (k) {
	case MENU_KEYWORD_NONE:
		return "none";
	case MENU_KEYWORD_OPT_OUT:
		return "opt_out";
	case MENU_KEYWORD_OPT_IN:
		return "opt_in";
	case MENU_KEYWORD_RESTART:
		return "restart";
	case MENU_KEYWORD_URGENT:
		return "urgent";
	}
	return "none";
}

/* A flooding sender's automatic replies per sms.auto_reply_interval, of
 * each purpose: one menu page ("reply"), and one answer to a keyword
 * ("keyword_reply": a survivor who texts START or MENU after a burst
 * must hear back, but one who repeats HELP cannot jump the queue all
 * day). */
#define FLOOD_REPLIES 1

/* Queue a reply in lane; with cap set (the sender floods), dropped when
 * cap replies of the same purpose went to them in the interval already.
 * cap 0: always queued (a confirmation that changed their state). */
static int
queue_reply(struct store *st, const struct config *cfg,
    const struct pending *p, unsigned cap, const char *text,
    enum store_purpose purpose, enum store_lane lane)
{
	int64_t replies = 0;

	if (text == NULL || *text == '\0')
		return 0;
	if (cap > 0) {
		if (store_outbound_recent(st, p->caller, purpose,
		    cfg->sms_reply_interval, &replies) < 0)
			return -1;
		if (replies >= (int64_t)cap) {
			log_event(LOG_INFO, "sms.reply_limited", "channel",
			    p->channel, "caller", p->caller, NULL);
			return 0;
		}
	}
	return store_outbound_queue(st, lane, p->channel, p->msisdn,
	    p->caller, text, purpose, p->id, p->task_id, NULL);
}

static int
save_task(struct store *st, const struct pending *p,
    const struct menu_state *ms)
{
	struct store_task_request req;
	enum store_task_change change;
	int64_t id;
	char ids[24];

	intake_task_request(ms, p->channel, p->caller, p->msisdn, &req);
	if (store_task_save(st, &req, &id, &change) < 0)
		return -1;
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	if (change == STORE_TASK_CREATED)
		metrics_task_created(p->channel, req.urgent);
	log_event(LOG_INFO, change == STORE_TASK_CREATED ? "task.created" :
	    "task.updated", "task", ids, "channel", p->channel, "caller",
	    p->caller, "priority", req.urgent ? "urgent" : "normal", NULL);
	return 0;
}

static int
process_one(struct store *st, const struct config *cfg,
    const struct pending *p)
{
	const struct config_channel *ch = config_channel_find(cfg, p->channel);
	/* A texter can type: a verification node takes a word. */
	struct menu_render_opts opts = { .max_octets = 0, .typed = true };
	const struct menu *menu = cfg->menu;
	enum menu_keyword kw;
	struct menu_state ms;
	bool opted_out, confirmed, fresh = false, ended = false, flood;
	int64_t recent = 0;
	char *saved = NULL, *dump;
	char page[PAGE_SIZE];
	int rc = -1;

	/* A channel removed by a reload, or a caller erased since the
	 * message came (nothing left to read): keep the row, do nothing. */
	if (ch == NULL || p->msisdn[0] == '\0')
		return store_inbound_mark_processed(st, p->id);
	opts.fold_vietnamese = ch->fold_vietnamese;
	kw = menu_match_keyword(menu, p->body);
	/* A flood is kept in full and flagged for counsellors; only the
	 * automatic replies to it are held back. */
	if (store_inbound_recent(st, p->caller, CONVERSATION_FLOOD_WINDOW,
	    CONVERSATION_FLOOD_MESSAGES + 1, &recent) < 0)
		goto out;
	flood = recent > CONVERSATION_FLOOD_MESSAGES;
	if (flood && store_inbound_flag(st, p->id, STORE_INBOUND_FLOOD) < 0)
		goto out;
	if (store_optout_get(st, p->caller, &opted_out, &confirmed) < 0 ||
	    store_sms_session_get(st, p->channel, p->caller,
	    cfg->sms_idle_seconds, &saved) < 0)
		goto out;
	/* A state the menu no longer knows (menu.json changed under a
	 * conversation) starts over rather than blocking the caller. */
	if (saved == NULL || !menu_state_load(saved, &ms, NULL, NULL) ||
	    menu_render(menu, &ms, &opts, page, sizeof(page)) < 0) {
		menu_start(menu, ch->language, &ms);
		fresh = true;
	}
	if (kw != MENU_KEYWORD_NONE)
		log_event(LOG_INFO, "sms.keyword", "channel", p->channel,
		    "caller", p->caller, "keyword", keyword_name(kw), NULL);

	switch (kw) {
	case MENU_KEYWORD_OPT_OUT:
		if (store_optout_set(st, p->caller, true) < 0)
			goto out;
		/* One confirmation, ever: a second STOP gets silence. */
		if (!confirmed && (queue_reply(st, cfg, p, 0,
		    menu_string(menu, "opted_out", &ms),
		    STORE_PURPOSE_OPT_OUT_CONFIRMATION,
		    STORE_LANE_CONFIRMATION) < 0 ||
		    store_optout_confirmed(st, p->caller) < 0))
			goto out;
		ended = true;
		break;
	case MENU_KEYWORD_OPT_IN:
		/* Coming back is always confirmed; a START from someone
		 * never opted out is a keyword like any other. */
		if (store_optout_set(st, p->caller, false) < 0 ||
		    queue_reply(st, cfg, p, opted_out || !flood ? 0 :
		    FLOOD_REPLIES, menu_string(menu, "opted_in", &ms),
		    STORE_PURPOSE_KEYWORD_REPLY, STORE_LANE_CONFIRMATION) < 0)
			goto out;
		ended = true;
		break;
	case MENU_KEYWORD_URGENT:
		/* Before any menu: the request is filed at once. */
		if (!menu_goto_urgent(menu, &ms))
			menu_start(menu, ch->language, &ms);
		ms.answers.priority = MENU_PRIORITY_URGENT;
		if (ms.answers.topic[0] == '\0')
			snprintf(ms.answers.topic, sizeof(ms.answers.topic),
			    "urgent");
		if (save_task(st, p, &ms) < 0)
			goto out;
		ended = true;
		break;
	case MENU_KEYWORD_RESTART:
		menu_start(menu, ms.answers.language[0] ?
		    ms.answers.language : ch->language, &ms);
		ended = false;
		break;
	case MENU_KEYWORD_NONE:
		/* A text from a caller with an open task was joined to it
		 * when stored, and counsellors read it there; the reply is
		 * still the one anyone gets, since silence would tell a
		 * second person on a shared phone that someone asked
		 * before. */
		if (!fresh) {
			/* An answer to the word's question is the word (a
			 * number names one; a typo is close to it): it is
			 * kept with the task, and its text nowhere. */
			if (menu_asks_verification(menu, &ms) &&
			    store_inbound_redact(st, p->id) < 0)
				goto out;
			menu_step(menu, &ms, p->body, &opts);
			if (menu_current_action(menu, &ms) ==
			    MENU_ACTION_CREATE_TASK &&
			    save_task(st, p, &ms) < 0)
				goto out;
		}
		ended = menu_ends(menu, &ms, &opts);
		break;
	}

	if (kw != MENU_KEYWORD_OPT_OUT && kw != MENU_KEYWORD_OPT_IN &&
	    !opted_out) {
		/* The answer to an urgent request goes with the alerts; the
		 * first page of a conversation (new, or started over) and
		 * its last (a request taken, or the end) acknowledge the
		 * caller and never expire; a page between them does. */
		enum store_lane lane = kw == MENU_KEYWORD_URGENT ?
		    STORE_LANE_URGENT : fresh || kw == MENU_KEYWORD_RESTART ||
		    ended ? STORE_LANE_FIRST_REPLY : STORE_LANE_REPLY;

		if (menu_render(menu, &ms, &opts, page, sizeof(page)) < 0 ||
		    queue_reply(st, cfg, p, flood ? FLOOD_REPLIES : 0, page,
		    kw == MENU_KEYWORD_RESTART ?
		    STORE_PURPOSE_KEYWORD_REPLY : STORE_PURPOSE_REPLY,
		    lane) < 0)
			goto out;
	}
	/* The word's place is the task: a finished conversation keeps no
	 * copy of it. */
	if (ended)
		ms.answers.verification[0] = '\0';
	if ((dump = menu_state_dump(&ms, NULL)) == NULL)
		goto out;
	rc = store_sms_session_put(st, p->channel, p->caller, p->msisdn,
	    ms.node, dump, ended);
	free(dump);
	if (rc == 0)
		rc = store_inbound_mark_processed(st, p->id);
out:
	free(saved);
	return rc;
}

int
conversation_process(struct store *st, const struct config *cfg,
    size_t limit, char *err, size_t errlen)
{
	struct pending items[BATCH_MAX];
	struct collect c = { .items = items, .cap = limit < BATCH_MAX ?
	    limit : BATCH_MAX };
	int rc = -1;

	if (store_inbound_unprocessed(st, c.cap, collect_cb, &c, err,
	    errlen) < 0 || c.failed) {
		if (c.failed)
			snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (c.count == 0) {
		rc = 0;
		goto out;
	}
	if (store_txn_begin(st, err, errlen) < 0)
		goto out;
	for (size_t i = 0; i < c.count; i++) {
		char id[24];

		if (store_txn_savepoint(st) < 0) {
			snprintf(err, errlen, "cannot open a savepoint");
			store_txn_rollback(st);
			goto out;
		}
		if (process_one(st, cfg, &items[i]) == 0) {
			if (store_txn_release(st) < 0) {
				snprintf(err, errlen, "cannot release a "
				    "savepoint");
				store_txn_rollback(st);
				goto out;
			}
			continue;
		}
		/* One message that cannot be processed must not hold up the
		 * others (an urgent one among them): it is kept, flagged for
		 * counsellors, and not tried again. */
		store_txn_rollback_savepoint(st);
		snprintf(id, sizeof(id), "%lld", (long long)items[i].id);
		log_event(LOG_ERROR, "conversation.message_failed", "inbound",
		    id, "channel", items[i].channel, "caller", items[i].caller,
		    NULL);
		if (store_inbound_flag(st, items[i].id,
		    STORE_INBOUND_FAILED) < 0 ||
		    store_inbound_mark_processed(st, items[i].id) < 0) {
			snprintf(err, errlen, "cannot set message %s aside",
			    id);
			store_txn_rollback(st);
			goto out;
		}
	}
	if (store_txn_commit(st, err, errlen) < 0)
		goto out;
	rc = (int)c.count;
out:
	for (size_t i = 0; i < c.count; i++)
		free(items[i].body);
	return rc;
}
