/*
 * intake: a finished walk through the menu, USSD or SMS, as the callback
 * task it asks for.  The one place menu answers become task fields.
 */
#ifndef HOTLINE_INTAKE_H
#define HOTLINE_INTAKE_H

struct menu_state;
struct store_task_request;

/* Fill out from state's answers.  Strings are borrowed: out is valid
 * while state, channel, caller and msisdn are. */
void intake_task_request(const struct menu_state *state,
    const char *channel, const char *caller, const char *msisdn,
    struct store_task_request *out);

#endif
