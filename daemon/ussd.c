#include "ussd.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "http.h"
#include "intake.h"
#include "log.h"
#include "menu.h"
#include "outbox.h"
#include "phone.h"
#include "privacy.h"
#include "provider.h"
#include "smstext.h"
#include "store.h"
#include "webhook.h"

/* Replay the caller's inputs ("1*2*1") from the start of the menu.  The
 * aggregator sends the whole path on every hop, so the page depends only
 * on it: a retried hop gets the same answer. */
static void
replay(const struct menu *menu, const struct config_channel *ch,
    const char *path, const struct menu_render_opts *opts,
    struct menu_state *st)
{
	char input[sizeof(((struct ussd_request *)0)->text)];
	const char *p = path;

	menu_start(menu, ch->language, st);
	if (*path == '\0')
		return;
	for (;;) {
		const char *star = strchr(p, '*');
		size_t n = star ? (size_t)(star - p) : strlen(p);

		memcpy(input, p, n);
		input[n] = '\0';
		if (menu_step(menu, st, input, opts) == MENU_STEP_FINISHED)
			return;
		if (star == NULL)
			return;
		p = star + 1;
	}
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
	struct menu_state st;
	struct store_task_request task;
	struct store_ussd_hop hop;
	struct store_hop_result res;
	struct provider_reply reply;
	enum provider_verdict v;
	char e164[PHONE_E164_SIZE], caller[PRIVACY_PSEUDONYM_SIZE];
	char page[1024], why[256], id[24];
	bool end;

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
	webhook_input(req, &in);

	if ((v = ch->provider->verify(ch, &in, why, sizeof(why))) !=
	    PROVIDER_OK ||
	    (v = ch->provider->ussd_parse(&in, &u, why, sizeof(why))) !=
	    PROVIDER_OK) {
		webhook_refuse(req, "ussd.refused", ch->name, v, why);
		return;
	}
	if (phone_normalize(u.phone, ch->default_country, e164,
	    sizeof(e164)) < 0) {
		webhook_refuse(req, "ussd.refused", ch->name,
		    PROVIDER_BAD_REQUEST, "field phoneNumber is not a phone "
		    "number");
		return;
	}
	if (privacy_pseudonym(cfg->pseudonym_key, cfg->pseudonym_key_len,
	    e164, caller) < 0) {
		http_reply_error(req, 500, "internal", "cannot derive caller "
		    "pseudonym");
		return;
	}

	opts.fold_vietnamese = ch->fold_vietnamese;
	replay(cfg->menu, ch, u.text, &opts, &st);
	end = menu_ends(cfg->menu, &st, &opts);
	if (menu_render(cfg->menu, &st, &opts, page, sizeof(page)) < 0) {
		log_event(LOG_ERROR, "ussd.render_failed", "req",
		    http_request_id(req), "channel", ch->name, "node", st.node,
		    NULL);
		http_reply_error(req, 500, "internal", "menu page could not "
		    "be rendered");
		return;
	}

	intake_task_request(&st, ch->name, caller, e164, &task);
	hop = (struct store_ussd_hop){
		.channel = ch->name,
		.session_id = u.session_id,
		.caller = caller,
		.msisdn = e164,
		.node = st.node,
		.ended = end,
		.task = menu_current_action(cfg->menu, &st) ==
		    MENU_ACTION_CREATE_TASK ? &task : NULL,
	};
	switch (store_ussd_hop(app->store, &hop, &res, why, sizeof(why))) {
	case STORE_OK:
		break;
	case STORE_CONFLICT:
		webhook_refuse(req, "ussd.refused", ch->name,
		    PROVIDER_BAD_REQUEST, "sessionId is already in use by "
		    "another phoneNumber");
		return;
	case STORE_ERROR:
		log_event(LOG_ERROR, "store.failed", "req",
		    http_request_id(req), "op", "ussd_hop", "error", why,
		    NULL);
		/* The caller must never be told a request was taken when it
		 * was not: the aggregator ends the session on a 5xx. */
		http_add_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "unavailable", "could not store "
		    "the session; retry");
		return;
	}

	log_event(LOG_INFO, "ussd.hop", "req", http_request_id(req),
	    "channel", ch->name, "caller", caller, "node", st.node,
	    "invalid", st.invalid ? "true" : "false",
	    "end", end ? "true" : "false", NULL);
	if (res.change != STORE_TASK_NONE) {
		snprintf(id, sizeof(id), "%lld", (long long)res.task_id);
		log_event(LOG_INFO, res.change == STORE_TASK_CREATED ?
		    "task.created" : "task.updated", "req",
		    http_request_id(req), "task", id, "channel", ch->name,
		    "caller", caller, "priority", task.urgent ? "urgent" :
		    "normal", NULL);
		/* An urgent request is announced from the outbox. */
		if (task.urgent)
			outbox_kick(app->outbox);
	}

	if (ch->provider->ussd_format(end, page, &reply) < 0) {
		http_reply_error(req, 500, "internal", "page too long to "
		    "frame");
		return;
	}
	http_reply(req, 200, reply.content_type, reply.body,
	    strlen(reply.body));
}
