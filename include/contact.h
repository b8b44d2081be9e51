/*
 * contact: may a text go to a caller now, and if not, why and until
 * when.  The one owner of that rule: the outbox asks on every attempt,
 * the API before it queues a counsellor's text, follow-up before it
 * queues a missed-call text.
 *
 * Pure: facts in, a decision out; no store, no clock (now is given).
 * The contact window is read in the process's time zone (the hotline's),
 * as schedule_window_next reads it.
 */
#ifndef HOTLINE_CONTACT_H
#define HOTLINE_CONTACT_H

#include <stdbool.h>
#include <time.h>

#include "store.h"

struct config_window;

/* What a text is, as far as the rule cares. */
enum contact_kind {
	CONTACT_ALERT,            /* to a counsellor on call */
	CONTACT_OPT_OUT_CONFIRMATION,  /* the one answer to STOP */
	CONTACT_CONVERSATION,     /* a reply to what the caller just sent */
	CONTACT_MESSAGE,          /* a counsellor's text */
	CONTACT_FOLLOWUP,         /* sent unasked: the missed-call text */
};

/* The kind of an outbound row's purpose; one this build does not know
 * is a follow-up, the strictest. */
enum contact_kind contact_kind_of(enum store_purpose purpose);

struct contact_facts {
	enum contact_kind kind;
	bool opted_out;           /* the number sent STOP */
	enum store_answer safe_to_sms;  /* the caller's latest answer */
	/* A counsellor found contact unsafe (outcome unsafe) and the caller
	 * has not written or dialled since. */
	bool do_not_contact;
	/* A page between a conversation's first and last: late, it would
	 * only confuse (and reach a phone someone else may hold by now). */
	bool expires;
	double last_contact;      /* unix time of their last text or hop;
	                             0: none known */
	const struct config_window *window;  /* NULL: any time */
};

struct contact_rules {
	unsigned idle_seconds;         /* sms.session_idle_seconds */
	unsigned conversation_seconds; /* outbox.conversation_seconds */
};

enum contact_verdict {
	CONTACT_SEND,             /* now */
	CONTACT_BLOCK,            /* never: reason says why */
	CONTACT_DEFER,            /* not before `at` */
	CONTACT_EXPIRE,           /* too late to be of use: drop it */
};

struct contact_decision {
	enum contact_verdict verdict;
	const char *reason;       /* static: "do_not_contact", "opted_out",
	                             "unsafe_to_text", "no_consent", or
	                             words; NULL on SEND */
	time_t at;                /* DEFER: when the window opens */
};

/*
 * May a text of this kind be queued at all?  NULL when it may, else the
 * reason code (the BLOCK reasons of contact_decide).  Queueing code asks
 * this so it can refuse at once; the outbox asks contact_decide again at
 * send time, since the answers may change meanwhile.
 */
const char *contact_refusal(enum contact_kind kind, bool opted_out,
    enum store_answer safe_to_sms, bool do_not_contact);

/* The send-time decision: refusal, then expiry, then the conversation
 * (a reply within conversation_seconds goes at once), then the window. */
void contact_decide(const struct contact_facts *facts,
    const struct contact_rules *rules, time_t now,
    struct contact_decision *out);

#endif
