#include "followup.h"

#include <stdio.h>

#include "config.h"
#include "contact.h"
#include "store.h"

struct task_contact {
	char channel[64];
	char msisdn[40];
	char caller[32];
	char language[16];
	enum store_answer safe_to_sms;
	bool do_not_contact;
};

static int
contact_cb(const struct store_task *t, void *arg)
{
	struct task_contact *c = arg;

	snprintf(c->channel, sizeof(c->channel), "%s", t->channel);
	snprintf(c->msisdn, sizeof(c->msisdn), "%s", t->msisdn ? t->msisdn :
	    "");
	snprintf(c->caller, sizeof(c->caller), "%s", t->caller);
	snprintf(c->language, sizeof(c->language), "%s",
	    t->language ? t->language : "");
	c->safe_to_sms = t->safe_to_sms;
	c->do_not_contact = t->do_not_contact;
	return 0;
}

int
followup_missed_call(struct store *st, const struct config *cfg,
    int64_t task_id)
{
	struct task_contact c = { .safe_to_sms = STORE_ANSWER_UNKNOWN };
	const char *text;

	switch (store_task_get(st, task_id, contact_cb, &c)) {
	case STORE_RESULT_OK:
		break;
	case STORE_RESULT_NOT_FOUND:
		return 0;
	default:
		return -1;
	}
	/* Their opt-out is the outbox's to check when it sends. */
	/* No number: the caller was erased. */
	if (c.msisdn[0] == '\0' ||
	    contact_refusal(CONTACT_FOLLOWUP, false, c.safe_to_sms,
	    c.do_not_contact) != NULL ||
	    config_channel_find(cfg, c.channel) == NULL ||
	    (text = config_template(cfg, "missed_call",
	    c.language[0] ? c.language : NULL)) == NULL)
		return 0;
	return store_outbound_queue(st, STORE_LANE_FOLLOWUP, c.channel,
	    c.msisdn, c.caller, text, STORE_PURPOSE_MISSED_CALL, 0, task_id,
	    NULL);
}
