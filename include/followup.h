/*
 * followup: what the hotline tells a caller after a counsellor's
 * outcome.  Called only by queue_complete (queue.h), so the API and
 * hotlinectl follow up the same way.
 */
#ifndef HOTLINE_FOLLOWUP_H
#define HOTLINE_FOLLOWUP_H

#include <stdint.h>

struct config;
struct store;

/*
 * After a no_answer: a caller who said texting is safe is queued the
 * discreet missed_call template in their language; the outbox sends it
 * inside their contact window, and not at all after an opt-out.  0 when
 * queued or not wanted, -1 when the store failed.
 */
int followup_missed_call(struct store *store, const struct config *config,
    int64_t task_id);

#endif
