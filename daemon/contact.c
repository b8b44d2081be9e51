#include "contact.h"

#include <string.h>

#include "config.h"
#include "schedule.h"

enum contact_kind
contact_kind_of(enum store_purpose purpose)
{
	switch (purpose) {
	case STORE_PURPOSE_ALERT:
		return CONTACT_ALERT;
	case STORE_PURPOSE_OPT_OUT_CONFIRMATION:
		return CONTACT_OPT_OUT_CONFIRMATION;
	case STORE_PURPOSE_REPLY:
	case STORE_PURPOSE_KEYWORD_REPLY:
		return CONTACT_CONVERSATION;
	case STORE_PURPOSE_MESSAGE:
		return CONTACT_MESSAGE;
	case STORE_PURPOSE_MISSED_CALL:
	case STORE_PURPOSE_OTHER:
		break;
	}
	return CONTACT_FOLLOWUP;
}

const char *
contact_refusal(enum contact_kind kind, bool opted_out,
    enum store_answer safe_to_sms, bool do_not_contact)
{
	/* Whatever else holds: after a counsellor found contact unsafe,
	 * the caller's phone stays silent (the one opt-out confirmation
	 * aside: only their own STOP asks for it, and writing lifts the
	 * mark anyway) until they make contact themselves. */
	if (do_not_contact && kind != CONTACT_ALERT &&
	    kind != CONTACT_OPT_OUT_CONFIRMATION)
		return "do_not_contact";
	switch (kind) {
	case CONTACT_ALERT:
		/* A counsellor on call who texted STOP is not paged. */
		return opted_out ? "opted_out" : NULL;
	case CONTACT_OPT_OUT_CONFIRMATION:
		/* The one text that goes to a number that said STOP. */
		return NULL;
	case CONTACT_CONVERSATION:
	case CONTACT_MESSAGE:
		break;
	case CONTACT_FOLLOWUP:
		/* Unasked, so only with their yes: a phone someone else
		 * may read must not light up because we called. */
		if (!opted_out && safe_to_sms != STORE_ANSWER_NO &&
		    safe_to_sms != STORE_ANSWER_YES)
			return "no_consent";
		break;
	}
	if (opted_out)
		return "opted_out";
	if (safe_to_sms == STORE_ANSWER_NO)
		return "unsafe_to_text";
	return NULL;
}

void
contact_decide(const struct contact_facts *f, const struct contact_rules *r,
    time_t now, struct contact_decision *out)
{
	bool known = f->last_contact > 0;
	double since = (double)now - f->last_contact;
	time_t open;

	out->verdict = CONTACT_SEND;
	out->reason = NULL;
	out->at = 0;
	if ((out->reason = contact_refusal(f->kind, f->opted_out,
	    f->safe_to_sms, f->do_not_contact)) != NULL) {
		out->verdict = CONTACT_BLOCK;
		return;
	}
	/* An alert pages a counsellor at once, whatever the hour. */
	if (f->kind == CONTACT_ALERT)
		return;
	/* Once the caller's session has gone idle their next text starts
	 * over: a page answering where they were would only confuse. */
	if (f->expires && known && since > (double)r->idle_seconds) {
		out->verdict = CONTACT_EXPIRE;
		out->reason = "the caller went idle before it could be sent";
		return;
	}
	/* An answer while the caller is writing goes at once; anything
	 * else waits for the window they chose. */
	if ((f->kind == CONTACT_CONVERSATION ||
	    f->kind == CONTACT_OPT_OUT_CONFIRMATION) && known &&
	    since <= (double)r->conversation_seconds)
		return;
	if (f->window == NULL)
		return;
	if ((open = schedule_window_next(f->window->start_min,
	    f->window->end_min, now)) > now) {
		out->verdict = CONTACT_DEFER;
		out->reason = "waiting for the caller's contact window";
		out->at = open;
	}
}
