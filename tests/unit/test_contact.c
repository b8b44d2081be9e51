/*
 * contact: the rule for whether a text may go to a caller now, as a
 * table.  Times are fixed instants in UTC; the window is read in the
 * process's zone, set to UTC here so the table means what it says.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "config.h"
#include "contact.h"

#define NROWS(a) (sizeof(a) / sizeof((a)[0]))

/* 2026-12-03 12:00:00 UTC */
#define NOON ((time_t)1796299200)
#define MIN 60

static const struct config_window morning = { .start_min = 7 * 60,
    .end_min = 11 * 60 };
static const struct config_window all_day = { .start_min = 0,
    .end_min = 24 * 60 };
static const struct contact_rules rules = { .idle_seconds = 1800,
    .conversation_seconds = 300 };

#define Y STORE_ANSWER_YES
#define N STORE_ANSWER_NO
#define U STORE_ANSWER_UNKNOWN

static const struct {
	const char *name;
	enum contact_kind kind;
	bool opted_out;
	enum store_answer safe;
	bool expires;
	long ago;                 /* seconds since their last text; -1:
	                             none known */
	const struct config_window *window;
	enum contact_verdict want;
	const char *reason;       /* BLOCK: the code */
	time_t at;                /* DEFER: when */
	bool dnc;                 /* outcome unsafe, no contact since */
} cases[] = {
	{ "alert at night", CONTACT_ALERT, false, U, false, -1, &morning,
	  CONTACT_SEND, NULL, 0 },
	{ "alert to an on-call number that said STOP", CONTACT_ALERT,
	  true, U, false, -1, NULL, CONTACT_BLOCK, "opted_out", 0 },
	{ "alert even where unsafe is recorded", CONTACT_ALERT, false, N,
	  false, -1, NULL, CONTACT_SEND, NULL, 0 },
	{ "STOP's answer to an opted-out number", CONTACT_OPT_OUT_CONFIRMATION,
	  true, N, false, 10, &morning, CONTACT_SEND, NULL, 0 },
	{ "STOP's answer, late, waits for the window",
	  CONTACT_OPT_OUT_CONFIRMATION, true, U, false, 3600, &morning,
	  CONTACT_DEFER, NULL, NOON + 19 * 3600 },
	{ "reply while they write", CONTACT_CONVERSATION, false, U, true, 10,
	  &morning, CONTACT_SEND, NULL, 0 },
	{ "reply to an opted-out number", CONTACT_CONVERSATION, true, U,
	  false, 10, NULL, CONTACT_BLOCK, "opted_out", 0 },
	{ "reply where texting is unsafe", CONTACT_CONVERSATION, false, N,
	  false, 10, NULL, CONTACT_BLOCK, "unsafe_to_text", 0 },
	{ "a page after they went idle", CONTACT_CONVERSATION, false, U,
	  true, 31 * MIN, NULL, CONTACT_EXPIRE, NULL, 0 },
	{ "an acknowledgement after they went idle", CONTACT_CONVERSATION,
	  false, U, false, 31 * MIN, NULL, CONTACT_SEND, NULL, 0 },
	{ "a late reply waits for the window", CONTACT_CONVERSATION, false,
	  U, false, 10 * MIN, &morning, CONTACT_DEFER, NULL,
	  NOON + 19 * 3600 },
	{ "counsellor's text inside the window", CONTACT_MESSAGE, false, Y,
	  false, -1, &all_day, CONTACT_SEND, NULL, 0 },
	{ "counsellor's text waits for the morning", CONTACT_MESSAGE, false,
	  U, false, 10, &morning, CONTACT_DEFER, NULL, NOON + 19 * 3600 },
	{ "counsellor's text to an unsafe number", CONTACT_MESSAGE, false,
	  N, false, -1, NULL, CONTACT_BLOCK, "unsafe_to_text", 0 },
	{ "missed-call text with their yes", CONTACT_FOLLOWUP, false, Y,
	  false, -1, NULL, CONTACT_SEND, NULL, 0 },
	{ "missed-call text never asked", CONTACT_FOLLOWUP, false, U, false,
	  -1, NULL, CONTACT_BLOCK, "no_consent", 0 },
	{ "missed-call text, said unsafe", CONTACT_FOLLOWUP, false, N,
	  false, -1, NULL, CONTACT_BLOCK, "unsafe_to_text", 0 },
	{ "missed-call text after STOP", CONTACT_FOLLOWUP, true, Y, false,
	  -1, NULL, CONTACT_BLOCK, "opted_out", 0 },
	/* A counsellor recorded unsafe: silence, whatever they answered. */
	{ "missed-call text to a do-not-contact caller", CONTACT_FOLLOWUP,
	  false, Y, false, -1, NULL, CONTACT_BLOCK, "do_not_contact", 0,
	  true },
	{ "counsellor's text to a do-not-contact caller", CONTACT_MESSAGE,
	  false, Y, false, -1, &all_day, CONTACT_BLOCK, "do_not_contact", 0,
	  true },
	{ "a reply queued before the caller was marked", CONTACT_CONVERSATION,
	  false, Y, true, 10, NULL, CONTACT_BLOCK, "do_not_contact", 0,
	  true },
	{ "do-not-contact before an opt-out", CONTACT_FOLLOWUP, true, N,
	  false, -1, NULL, CONTACT_BLOCK, "do_not_contact", 0, true },
	{ "an alert is to a counsellor, not the caller", CONTACT_ALERT,
	  false, U, false, -1, NULL, CONTACT_SEND, NULL, 0, true },
	{ "STOP's own answer still goes", CONTACT_OPT_OUT_CONFIRMATION, true,
	  U, false, 10, NULL, CONTACT_SEND, NULL, 0, true },
};

static void
decisions_follow_the_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NROWS(cases); i++) {
		const struct contact_facts f = {
			.kind = cases[i].kind,
			.opted_out = cases[i].opted_out,
			.safe_to_sms = cases[i].safe,
			.do_not_contact = cases[i].dnc,
			.expires = cases[i].expires,
			.last_contact = cases[i].ago < 0 ? 0 :
			    (double)(NOON - cases[i].ago),
			.window = cases[i].window,
		};
		struct contact_decision d;

		contact_decide(&f, &rules, NOON, &d);
		if (d.verdict != cases[i].want ||
		    (cases[i].want == CONTACT_BLOCK &&
		    strcmp(d.reason, cases[i].reason) != 0) ||
		    (cases[i].want == CONTACT_DEFER && d.at != cases[i].at) ||
		    (cases[i].want == CONTACT_SEND && d.reason != NULL)) {
			print_error("case \"%s\": verdict %d reason %s at "
			    "%lld\n", cases[i].name, d.verdict,
			    d.reason ? d.reason : "-", (long long)d.at);
			fail();
		}
		/* Whatever contact_decide blocks, contact_refusal refuses,
		 * and only that. */
		assert_int_equal(contact_refusal(f.kind, f.opted_out,
		    f.safe_to_sms, f.do_not_contact) != NULL,
		    d.verdict == CONTACT_BLOCK);
	}
}

static void
purposes_map_to_kinds(void **state)
{
	(void)state;
	assert_int_equal(contact_kind_of(STORE_PURPOSE_ALERT), CONTACT_ALERT);
	assert_int_equal(contact_kind_of(STORE_PURPOSE_OPT_OUT_CONFIRMATION),
	    CONTACT_OPT_OUT_CONFIRMATION);
	assert_int_equal(contact_kind_of(STORE_PURPOSE_REPLY),
	    CONTACT_CONVERSATION);
	assert_int_equal(contact_kind_of(STORE_PURPOSE_KEYWORD_REPLY),
	    CONTACT_CONVERSATION);
	assert_int_equal(contact_kind_of(STORE_PURPOSE_MESSAGE),
	    CONTACT_MESSAGE);
	/* Anything else is held to the strictest rule. */
	assert_int_equal(contact_kind_of(STORE_PURPOSE_MISSED_CALL),
	    CONTACT_FOLLOWUP);
	assert_int_equal(contact_kind_of(STORE_PURPOSE_OTHER),
	    CONTACT_FOLLOWUP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decisions_follow_the_table),
		cmocka_unit_test(purposes_map_to_kinds),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
