/*
 * queue: the callback queue's rules (claims, leases, outcomes, backoff,
 * follow-up, notes, texts, and who may see a caller's number), shared
 * by the API and hotlinectl.  The SQL is the store's.
 */
#include "queue.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "contact.h"
#include "followup.h"
#include "log.h"
#include "store.h"

int
queue_outcome_parse(const char *name, enum store_outcome *o)
{
	enum store_outcome v;

	/* unreached is the queue's, erased the erasure's. */
	if (store_outcome_parse(name, &v) < 0 ||
	    v == STORE_OUTCOME_UNREACHED || v == STORE_OUTCOME_ERASED)
		return -1;
	*o = v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reading a task                                                      */

int
queue_task_copy(const struct store_task *t, struct queue_task *q)
{
	memset(q, 0, sizeof(*q));
	q->id = t->id;
	q->status = t->status;
	q->urgent = t->urgent;
	q->has_outcome = t->has_outcome;
	q->outcome = t->outcome;
	q->attempts = t->attempts;
	q->safe_to_call = t->safe_to_call;
	q->safe_to_sms = t->safe_to_sms;
	q->do_not_contact = t->do_not_contact;
#define COPY(f) snprintf(q->f, sizeof(q->f), "%s", t->f ? t->f : "")
	COPY(caller);
	COPY(msisdn);
	COPY(channel);
	COPY(language);
	COPY(topic);
	COPY(preferred_time);
	COPY(created_at);
	COPY(updated_at);
	COPY(claimed_by);
	COPY(lease_expires_at);
	COPY(retry_at);
	COPY(closed_at);
#undef COPY
	return 0;
}

static int
copy_task_cb(const struct store_task *t, void *arg)
{
	return queue_task_copy(t, arg);
}

enum queue_result
queue_task_get(struct store *st, int64_t id, struct queue_task *task)
{
	switch (store_task_get(st, id, copy_task_cb, task)) {
	case STORE_RESULT_OK:
		return QUEUE_OK;
	case STORE_RESULT_NOT_FOUND:
		return QUEUE_NOT_FOUND;
	case STORE_RESULT_CONFLICT:
	case STORE_RESULT_ERROR:
		break;
	}
	return QUEUE_ERROR;
}

static enum queue_result
from_store(enum store_result r)
{
	switch (r) {
	case STORE_RESULT_OK:
		return QUEUE_OK;
	case STORE_RESULT_NOT_FOUND:
		return QUEUE_NOT_FOUND;
	case STORE_RESULT_CONFLICT:
		return QUEUE_CONFLICT;
	case STORE_RESULT_ERROR:
		break;
	}
	return QUEUE_ERROR;
}

/* ------------------------------------------------------------------ */
/* One change: a savepoint inside the caller's batch                   */

static int
change_begin(struct store *st)
{
	char why[256];

	/* Outside a batch the store's own functions would each commit
	 * alone, and a failure half-way would leave half a change. */
	if (!store_in_batch(st))
		return -1;
	return store_txn_begin(st, why, sizeof(why));
}

/* Keep the change when r says something was (or must be) recorded:
 * OK, and LIMIT's security row; undo anything else. */
static enum queue_result
change_end(struct store *st, enum queue_result r)
{
	char why[256];

	if (r == QUEUE_OK || r == QUEUE_LIMIT) {
		if (store_txn_commit(st, why, sizeof(why)) == 0)
			return r;
		r = QUEUE_ERROR;
	}
	store_txn_rollback(st);
	return r;
}

static void
report_clear(struct queue_report *report)
{
	memset(report, 0, sizeof(*report));
}

/* ------------------------------------------------------------------ */
/* The reveal limit                                                    */

/*
 * May actor see (or text) the number of `caller` (a pseudonym; NULL: a
 * task not chosen yet)?  A token sees at most its limit of distinct
 * callers in the window, counted from the audit trail, so releasing a
 * task refunds nothing and a restart forgets nothing; a caller it saw
 * within the window costs nothing more.  0 when it may; 1 when the limit
 * stands (limit filled in, and the first refusal in the window audited);
 * -1 on a store error.
 */
static int
limit_check(struct store *st, const struct queue_actor *actor,
    const char *caller, struct queue_limit *limit)
{
	struct store_reveals r;
	char detail[32];
	bool told;

	if (actor->reveal_limit == 0)
		return 0;
	if (store_reveals_recent(st, actor->name, caller,
	    QUEUE_REVEAL_WINDOW_SECONDS, &r) < 0)
		return -1;
	if (r.includes_caller || r.distinct < (int64_t)actor->reveal_limit)
		return 0;
	limit->limit = actor->reveal_limit;
	limit->seen = r.distinct;
	limit->retry_after = r.oldest + QUEUE_REVEAL_WINDOW_SECONDS -
	    (int64_t)time(NULL);
	if (limit->retry_after < 1)
		limit->retry_after = 1;
	if (store_audit_recent(st, actor->name, "security.reveal_limit",
	    QUEUE_REVEAL_WINDOW_SECONDS, &told) < 0)
		return -1;
	if (!told) {
		snprintf(detail, sizeof(detail), "limit=%u",
		    actor->reveal_limit);
		if (store_audit_add(st, actor->name, "security.reveal_limit", 0,
		    detail) < 0)
			return -1;
		limit->first = true;
	}
	return 1;
}

/* A counsellor works one task at a time: while they hold a live lease
 * they can take no other, so a stolen token cannot walk the queue for
 * its numbers.  The privileged are not held to it.  want: 0 for the
 * next. */
static enum queue_result
one_at_a_time(struct store *st, const struct queue_actor *actor,
    int64_t want, struct queue_report *report)
{
	int64_t held;

	if (actor->privileged)
		return QUEUE_OK;
	if (store_queue_held(st, actor->name, &held) < 0)
		return QUEUE_ERROR;
	if (held == 0 || held == want)
		return QUEUE_OK;
	report->held = held;
	return QUEUE_BUSY;
}

/* The number is about to be shown to actor: its trace first. */
static enum queue_result
revealed(struct store *st, const char *actor, int64_t id,
    const char *detail)
{
	return store_audit_add(st, actor, "number.revealed", id, detail) < 0 ?
	    QUEUE_ERROR : QUEUE_OK;
}

/*
 * The verification word, for the one who will call: only when actor
 * holds task id's live lease (the store's own test, as for acting on
 * the task), never because the actor is privileged.
 */
static enum queue_result
holder_word(struct store *st, int64_t id, const char *actor,
    struct queue_report *report)
{
	switch (store_queue_may_act(st, id, actor, false)) {
	case STORE_RESULT_OK:
		break;
	case STORE_RESULT_NOT_FOUND:
	case STORE_RESULT_CONFLICT:
		return QUEUE_OK;
	case STORE_RESULT_ERROR:
		return QUEUE_ERROR;
	}
	if (store_task_verification(st, id, report->verification,
	    sizeof(report->verification)) < 0)
		return QUEUE_ERROR;
	report->holder = true;
	return QUEUE_OK;
}

/* ------------------------------------------------------------------ */
/* Claims                                                              */

enum queue_result
queue_claim_next(struct store *st, const struct queue_actor *actor,
    const struct queue_claim *claim, struct queue_report *report)
{
	const char *holder = claim->holder ? claim->holder : actor->name;
	enum queue_result r;
	int64_t id;
	int lim;

	report_clear(report);
	if (change_begin(st) < 0)
		return QUEUE_ERROR;
	if ((r = one_at_a_time(st, actor, 0, report)) != QUEUE_OK)
		goto out;
	/* The next task is not known before it is claimed: at the limit,
	 * no claim. */
	if (claim->reveal != NULL &&
	    (lim = limit_check(st, actor, NULL, &report->limit)) != 0) {
		r = lim < 0 ? QUEUE_ERROR : QUEUE_LIMIT;
		goto out;
	}
	if (store_queue_claim_next(st, holder, claim->lease_seconds,
	    &id) < 0) {
		r = QUEUE_ERROR;
		goto out;
	}
	if (id == 0) {
		r = QUEUE_EMPTY;
		goto out;
	}
	if (claim->reveal != NULL &&
	    (r = revealed(st, actor->name, id, claim->reveal)) != QUEUE_OK)
		goto out;
	if (claim->reveal != NULL &&
	    (r = holder_word(st, id, actor->name, report)) != QUEUE_OK)
		goto out;
	r = queue_task_get(st, id, &report->task);
out:
	return change_end(st, r);
}

enum queue_result
queue_claim(struct store *st, int64_t id, const struct queue_actor *actor,
    const struct queue_claim *claim, struct queue_report *report)
{
	const char *holder = claim->holder ? claim->holder : actor->name;
	enum queue_result r;
	int lim;

	report_clear(report);
	if (change_begin(st) < 0)
		return QUEUE_ERROR;
	/* No such task is a 404 before it is anything else. */
	if ((r = queue_task_get(st, id, &report->task)) != QUEUE_OK ||
	    (r = one_at_a_time(st, actor, id, report)) != QUEUE_OK)
		goto out;
	if (claim->reveal != NULL && (lim = limit_check(st, actor,
	    report->task.caller, &report->limit)) != 0) {
		r = lim < 0 ? QUEUE_ERROR : QUEUE_LIMIT;
		goto out;
	}
	if ((r = from_store(store_queue_claim(st, id, holder,
	    claim->lease_seconds))) != QUEUE_OK)
		goto out;
	if (claim->reveal != NULL &&
	    (r = revealed(st, actor->name, id, claim->reveal)) != QUEUE_OK)
		goto out;
	if (claim->reveal != NULL &&
	    (r = holder_word(st, id, actor->name, report)) != QUEUE_OK)
		goto out;
	r = queue_task_get(st, id, &report->task);
out:
	return change_end(st, r);
}

enum queue_result
queue_release(struct store *st, int64_t id, const struct queue_actor *actor,
    struct queue_report *report)
{
	enum queue_result r;

	report_clear(report);
	if (change_begin(st) < 0)
		return QUEUE_ERROR;
	if ((r = from_store(store_queue_release(st, id, actor->name,
	    actor->privileged))) == QUEUE_OK)
		r = queue_task_get(st, id, &report->task);
	return change_end(st, r);
}

/* ------------------------------------------------------------------ */
/* Outcomes                                                            */

/* now + seconds, as the store writes times. */
static int
utc_after(int64_t seconds, char out[32])
{
	time_t t = time(NULL) + (time_t)seconds;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -1;
	return 0;
}

enum queue_result
queue_complete(struct store *st, int64_t id, const struct queue_actor *actor,
    const struct queue_completion *c, struct queue_report *report)
{
	struct queue_task before;
	enum store_outcome recorded = c->outcome;
	enum queue_result r;
	char backoff[32];
	int64_t note_id;

	report_clear(report);
	if (c->outcome == STORE_OUTCOME_UNREACHED ||
	    c->outcome == STORE_OUTCOME_ERASED)
		return QUEUE_ERROR;       /* never given */
	if (change_begin(st) < 0)
		return QUEUE_ERROR;
	if ((r = queue_task_get(st, id, &before)) != QUEUE_OK)
		goto out;
	/* Only a call that did not reach the caller counts as an attempt;
	 * the last one allowed closes the task as unreached. */
	if (c->outcome == STORE_OUTCOME_NO_ANSWER &&
	    (unsigned)before.attempts + 1 < c->max_attempts) {
		const char *at = c->retry_at;

		if (at == NULL) {
			if (utc_after((int64_t)QUEUE_BACKOFF_SECONDS *
			    (before.attempts + 1), backoff) < 0) {
				r = QUEUE_ERROR;
				goto out;
			}
			at = backoff;
		}
		r = from_store(store_queue_retry(st, id, actor->name,
		    actor->privileged, at));
	} else {
		struct store_queue_close close = {
			.count_attempt = c->outcome == STORE_OUTCOME_NO_ANSWER,
			.unsafe_to_text = c->outcome == STORE_OUTCOME_UNSAFE,
		};

		if (c->outcome == STORE_OUTCOME_NO_ANSWER)
			recorded = STORE_OUTCOME_UNREACHED;
		close.outcome = recorded;
		r = from_store(store_queue_close(st, id, actor->name,
		    actor->privileged, &close));
	}
	if (r != QUEUE_OK)
		goto out;
	/* Silence, at once: nothing still waiting leaves for them, and
	 * nothing new is queued until they make contact themselves. */
	if (c->outcome == STORE_OUTCOME_UNSAFE) {
		char ids[24], n[24];

		if (store_caller_unsafe_set(st, before.caller, id,
		    &report->cancelled) < 0) {
			r = QUEUE_ERROR;
			goto out;
		}
		snprintf(ids, sizeof(ids), "%lld", (long long)id);
		snprintf(n, sizeof(n), "%lld", (long long)report->cancelled);
		log_event(LOG_INFO, "caller.do_not_contact", "task", ids,
		    "caller", before.caller, "cancelled", n, NULL);
	}
	if (store_audit_add(st, actor->name, "task.completed", id,
	    store_outcome_name(recorded)) < 0 ||
	    (c->note != NULL && c->note[0] != '\0' &&
	    store_task_note_add(st, id, actor->name, c->note, &note_id) < 0)) {
		r = QUEUE_ERROR;
		goto out;
	}
	/* The caller is told we tried; a failure here is undone alone
	 * (its own savepoint) and does not take the outcome back. */
	if (c->outcome == STORE_OUTCOME_NO_ANSWER && c->config != NULL) {
		if (followup_missed_call(st, c->config, id) < 0)
			report->followup_failed = true;
		else
			report->followup_queued = true;
	}
	r = queue_task_get(st, id, &report->task);
out:
	return change_end(st, r);
}

enum queue_result
queue_note(struct store *st, int64_t id, const struct queue_actor *actor,
    const char *text, struct queue_report *report)
{
	enum queue_result r;

	report_clear(report);
	if (change_begin(st) < 0)
		return QUEUE_ERROR;
	r = from_store(store_queue_note(st, id, actor->name,
	    actor->privileged, text, &report->id));
	return change_end(st, r);
}

/* ------------------------------------------------------------------ */
/* Numbers                                                             */

/* Who may see task's number: its lease holder, and the privileged. */
static enum queue_result
may_see(struct store *st, int64_t id, const struct queue_actor *actor)
{
	if (actor->privileged)
		return QUEUE_OK;
	return from_store(store_queue_may_act(st, id, actor->name, false));
}

enum queue_result
queue_reveal(struct store *st, int64_t id, const struct queue_actor *actor,
    const char *detail, struct queue_report *report)
{
	enum queue_result r;
	int lim;

	report_clear(report);
	if (change_begin(st) < 0)
		return QUEUE_ERROR;
	if ((r = queue_task_get(st, id, &report->task)) != QUEUE_OK ||
	    (r = may_see(st, id, actor)) != QUEUE_OK)
		goto out;
	if ((lim = limit_check(st, actor, report->task.caller,
	    &report->limit)) != 0) {
		r = lim < 0 ? QUEUE_ERROR : QUEUE_LIMIT;
		goto out;
	}
	if ((r = revealed(st, actor->name, id, detail)) == QUEUE_OK)
		r = holder_word(st, id, actor->name, report);
out:
	return change_end(st, r);
}

int
queue_reveal_tasks(struct store *st, const char *actor, const int64_t *ids,
    size_t count, const char *detail)
{
	enum queue_result r = QUEUE_OK;

	if (change_begin(st) < 0)
		return -1;
	for (size_t i = 0; i < count && r == QUEUE_OK; i++)
		r = revealed(st, actor, ids[i], detail);
	return change_end(st, r) == QUEUE_OK ? 0 : -1;
}

enum queue_result
queue_text(struct store *st, int64_t id, const struct queue_actor *actor,
    const struct config *cfg, const char *text, struct queue_report *report)
{
	struct queue_task *t = &report->task;
	bool opted_out = false, confirmed, unsafe;
	enum queue_result r;
	int lim;

	report_clear(report);
	if (change_begin(st) < 0)
		return QUEUE_ERROR;
	if ((r = from_store(store_queue_may_act(st, id, actor->name,
	    actor->privileged))) != QUEUE_OK ||
	    (r = queue_task_get(st, id, t)) != QUEUE_OK)
		goto out;
	/* Texting a caller uses their number as seeing it does. */
	if ((lim = limit_check(st, actor, t->caller, &report->limit)) != 0) {
		r = lim < 0 ? QUEUE_ERROR : QUEUE_LIMIT;
		goto out;
	}
	if (store_optout_get(st, t->caller, &opted_out, &confirmed) < 0 ||
	    store_caller_unsafe_to_text(st, t->caller, &unsafe) < 0) {
		r = QUEUE_ERROR;
		goto out;
	}
	/* The caller's latest answer, on any task, as the outbox reads it;
	 * the outbox asks again when it sends. */
	if ((report->refusal = contact_refusal(CONTACT_MESSAGE, opted_out,
	    unsafe ? STORE_ANSWER_NO : STORE_ANSWER_UNKNOWN,
	    t->do_not_contact)) != NULL) {
		r = QUEUE_REFUSED;
		goto out;
	}
	if (config_channel_find(cfg, t->channel) == NULL) {
		report->refusal = "no_channel";
		r = QUEUE_REFUSED;
		goto out;
	}
	if (store_outbound_add(st, t->channel, t->msisdn, t->caller, text,
	    STORE_PURPOSE_MESSAGE, 0, id, &report->id) < 0 ||
	    store_audit_add(st, actor->name, "task.texted", id, NULL) < 0)
		r = QUEUE_ERROR;
out:
	return change_end(st, r);
}
