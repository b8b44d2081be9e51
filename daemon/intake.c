#include "intake.h"

#include "menu.h"
#include "store.h"

static enum store_answer
store_answer_of(enum menu_answer a)
{
	switch (a) {
	case MENU_UNANSWERED:
		return STORE_ANSWER_UNKNOWN;
	case MENU_NO:
		return STORE_ANSWER_NO;
	case MENU_YES:
		return STORE_ANSWER_YES;
	}
	return STORE_ANSWER_UNKNOWN;
}

void
intake_task_request(const struct menu_state *st, const char *channel,
    const char *caller, const char *msisdn, struct store_task_request *out)
{
	*out = (struct store_task_request){
		.channel = channel,
		.caller = caller,
		.msisdn = msisdn,
		.language = st->answers.language,
		.topic = st->answers.topic,
		.preferred_time = st->answers.preferred_time,
		.safe_to_call = store_answer_of(st->answers.safe_to_call),
		.safe_to_sms = store_answer_of(st->answers.safe_to_sms),
		.urgent = st->answers.priority == MENU_PRIORITY_URGENT,
		.verification = st->answers.verification,
	};
}
