/*
 * queue: the callback queue's rules, in one place, for the counsellors'
 * API and for hotlinectl alike: who may claim which task (urgent first,
 * then oldest; a live lease is never taken over; a counsellor holds one
 * task at a time), release, the outcomes and what each does to a task
 * (no_answer: back in the queue after a backoff, until the attempts run
 * out; unsafe: never text the caller), the missed-call follow-up, notes,
 * a counsellor's text to a caller, and showing a caller's number: every
 * showing leaves a number.revealed row (texting, task.texted), and a
 * token sees at most its hourly limit of distinct callers.
 *
 * The SQL stays in the store; what a change means is decided here.
 *
 * Threads and transactions: every function is synchronous over the
 * struct store * it is given and touches nothing else (log_event aside),
 * so the daemon calls them from a writer unit (writer.h) on the writer's
 * connection, and hotlinectl directly on its own.  A function that
 * writes needs a batch open on that store (store_batch_begin: a writer
 * unit is inside one; hotlinectl opens one per command) so its several
 * writes stand or fall together; without one it writes nothing and
 * returns QUEUE_ERROR.  A refusal (anything but QUEUE_OK) leaves the
 * database as it was, except QUEUE_LIMIT, which may record the first
 * refusal of the hour (security.reveal_limit: see struct queue_limit).
 *
 * Strings passed in are borrowed for the call; results are copied into
 * the caller's structs.
 */
#ifndef HOTLINE_QUEUE_H
#define HOTLINE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct config;

/* A caller's verification word, with its NUL (menu.h's
 * MENU_WORD_SIZE). */
#define QUEUE_WORD_SIZE 64

/* The window the reveal limit counts over. */
#define QUEUE_REVEAL_WINDOW_SECONDS 3600
/* no_answer without a time: the next try after this many seconds times
 * the attempts made so far (15 min, 30 min, …). */
#define QUEUE_BACKOFF_SECONDS 900

/* An outcome a counsellor may give (reached, no_answer, wrong_number,
 * unsafe; not unreached, which only the queue records, nor erased,
 * which only an erasure does): 0, or -1. */
int queue_outcome_parse(const char *name, enum store_outcome *outcome);

/* A task, copied out of the store.  Optional fields are "" when unset. */
struct queue_task {
	int64_t id;
	enum store_task_status status;
	bool urgent;
	bool has_outcome;         /* closed: outcome is set */
	enum store_outcome outcome;
	int attempts;
	enum store_answer safe_to_call;
	enum store_answer safe_to_sms;
	bool do_not_contact;      /* outcome unsafe, and the caller has not
	                             made contact since: text nothing */
	char caller[64];          /* pseudonym */
	char msisdn[40];
	char channel[64];
	char language[16];
	char topic[64];
	char preferred_time[32];
	char created_at[32];
	char updated_at[32];
	char claimed_by[72];
	char lease_expires_at[32];
	char retry_at[32];
	char closed_at[32];
};

enum queue_result {
	QUEUE_OK,
	QUEUE_EMPTY,              /* claim_next: nothing is due */
	QUEUE_NOT_FOUND,
	QUEUE_CONFLICT,           /* closed, not claimed, or held by another */
	QUEUE_BUSY,               /* the actor holds another task: held */
	QUEUE_LIMIT,              /* the reveal limit stands: limit */
	QUEUE_REFUSED,            /* a text that may not go: refusal */
	QUEUE_ERROR,
};

/* A read: QUEUE_OK, QUEUE_NOT_FOUND or QUEUE_ERROR. */
enum queue_result queue_task_get(struct store *store, int64_t id,
    struct queue_task *task);
/* A task the store handed a callback (a list), copied: 0. */
int queue_task_copy(const struct store_task *in, struct queue_task *out);

/* Who acts. */
struct queue_actor {
	const char *name;         /* a token's name, or "cli:USER" */
	bool privileged;          /* supervisors, admins, the operator: may
	                             act on a task another holds, are not
	                             held to one task at a time */
	unsigned reveal_limit;    /* distinct callers' numbers per window;
	                             0: none (the operator) */
};

/* Why the reveal limit refused. */
struct queue_limit {
	unsigned limit;
	int64_t seen;             /* distinct callers in the window */
	int64_t retry_after;      /* seconds until one leaves the window */
	bool first;               /* the first refusal in the window: a
	                             security.reveal_limit row was written
	                             with it; tell the counsellors on call */
};

/* What a call found, beside its result. */
struct queue_report {
	struct queue_task task;   /* OK: the task after the change */
	int64_t held;             /* BUSY */
	struct queue_limit limit; /* LIMIT */
	const char *refusal;      /* REFUSED: "do_not_contact", "opted_out",
	                             "unsafe_to_text" or "no_channel"
	                             (static) */
	int64_t id;               /* a note's or a queued text's row */
	bool followup_queued;     /* complete: the missed-call text */
	bool followup_failed;     /* complete: it could not be queued; the
	                             outcome stands */
	int64_t cancelled;        /* complete unsafe: pending texts
	                             cancelled */
	/*
	 * The caller's verification word goes with the number to the one
	 * who will call: holder is true when the number is shown (a claim
	 * with claim->reveal, or queue_reveal) and the actor holds the
	 * task's live lease (not when a claim gives the lease to another,
	 * claim->holder), and only then is verification filled in (""
	 * when the caller chose none).  A supervisor shown a number they
	 * do not hold gets no word.
	 */
	bool holder;
	char verification[QUEUE_WORD_SIZE];
};

struct queue_claim {
	unsigned lease_seconds;
	const char *holder;       /* who gets the lease; NULL: the actor
	                             (hotlinectl next --as NAME) */
	const char *reveal;       /* the claim shows the actor the number:
	                             the detail of its number.revealed row,
	                             and the limit is checked before claiming
	                             (for claim_next: as for a new caller);
	                             NULL: nothing shown, nothing counted */
};

/* The most urgent, then oldest, task that is pending and due or whose
 * lease ran out: OK, EMPTY, BUSY, LIMIT or ERROR. */
enum queue_result queue_claim_next(struct store *store,
    const struct queue_actor *actor, const struct queue_claim *claim,
    struct queue_report *report);
/* Task id: OK, NOT_FOUND, BUSY, LIMIT, CONFLICT (closed, or another
 * holds a live lease: nobody takes one over) or ERROR. */
enum queue_result queue_claim(struct store *store, int64_t id,
    const struct queue_actor *actor, const struct queue_claim *claim,
    struct queue_report *report);
/* Back to pending: the holder, or privileged.  OK, NOT_FOUND, CONFLICT,
 * ERROR. */
enum queue_result queue_release(struct store *store, int64_t id,
    const struct queue_actor *actor, struct queue_report *report);

struct queue_completion {
	enum store_outcome outcome;   /* not unreached, not erased */
	const char *note;             /* NULL or "": none */
	const char *retry_at;         /* no_answer: "YYYY-MM-DDTHH:MM:SSZ";
	                                 NULL: the backoff */
	unsigned max_attempts;        /* queue.max_attempts */
	const struct config *config;  /* for the missed-call text (borrowed;
	                                 NULL: none) */
};

/*
 * Record a call on a claimed task (the holder, or privileged): one
 * attempt more; no_answer puts it back in the queue at retry_at (or
 * after the backoff) while attempts remain, else closes it unreached,
 * and queues the missed-call text for a caller who said texting is
 * safe; unsafe marks the caller do-not-contact and cancels every text
 * still pending for them (store_caller_unsafe_set; report->cancelled).
 * A task.completed row and the note with it.  OK, NOT_FOUND, CONFLICT, ERROR.
 */
enum queue_result queue_complete(struct store *store, int64_t id,
    const struct queue_actor *actor, const struct queue_completion *c,
    struct queue_report *report);

/* A note on a claimed task (the holder, or privileged); its id in
 * report->id.  OK, NOT_FOUND, CONFLICT, ERROR. */
enum queue_result queue_note(struct store *store, int64_t id,
    const struct queue_actor *actor, const char *text,
    struct queue_report *report);

/*
 * Show the actor task id's number: allowed to its lease holder and to
 * the privileged, within the reveal limit (a caller already seen in the
 * window costs nothing more).  OK with the number.revealed row written
 * (detail borrowed) and report->task filled in, and for the lease
 * holder the verification word (report->holder); CONFLICT when the
 * actor may not see it; LIMIT; NOT_FOUND; ERROR.
 */
enum queue_result queue_reveal(struct store *store, int64_t id,
    const struct queue_actor *actor, const char *detail,
    struct queue_report *report);

/* The number.revealed rows for numbers the operator is about to be
 * shown (hotlinectl queue): one per task, all or none.  0 or -1. */
int queue_reveal_tasks(struct store *store, const char *actor,
    const int64_t *ids, size_t count, const char *detail);

/*
 * Queue a counsellor's text to task id's caller (the holder, or
 * privileged): it uses their number as seeing it does, so within the
 * reveal limit; never to a caller who opted out or said texting is
 * unsafe, nor on a channel no longer configured (config borrowed).  The
 * outbound row and a task.texted row; its id in report->id.  OK,
 * NOT_FOUND, CONFLICT, LIMIT, REFUSED, ERROR.
 */
enum queue_result queue_text(struct store *store, int64_t id,
    const struct queue_actor *actor, const struct config *config,
    const char *text, struct queue_report *report);

#endif
