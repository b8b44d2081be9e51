/*
 * store: all state, in one SQLite file.  The only module that includes
 * sqlite3.h; all SQL lives here, as prepared statements.
 *
 * WAL, synchronous=FULL (a commit survives power loss before we answer
 * 2xx), busy_timeout, foreign keys on.  Every write runs in BEGIN
 * IMMEDIATE on the daemon's single connection.  The schema is migrated in
 * PRAGMA user_version steps; a database from a newer hotlined is refused.
 *
 * Strings passed in are borrowed for the call.  Strings handed to a
 * callback are borrowed until the callback returns.
 */
#ifndef HOTLINE_STORE_H
#define HOTLINE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION 13

struct store;

enum store_open_mode {
	STORE_OPEN_CREATE,        /* the daemon: create and migrate */
	STORE_OPEN_EXISTING,      /* tools: an existing database at exactly
	                             this schema version, or nothing */
};

/*
 * Encryption at rest.  Every phone number, message body, note and menu
 * state is stored sealed (seal.h) under a data key of its caller's own;
 * callers of this interface pass and receive clear strings.  Data keys
 * live in a separate SQLite file, the key store, wrapped under one
 * key-encryption key (KEK) that is itself stored wrapped under the
 * master key (privacy.data_key).  Destroying a caller's data key
 * (store_caller_key_destroy) makes every copy of their data unreadable,
 * backups of the main database included: those never hold the key
 * store.  A value whose key is gone reads as NULL ("erased").
 *
 * A new data key is committed to the key store before the main
 * transaction whose rows it sealed (one more fsync, only in a batch
 * that created or destroyed keys).
 */
#define STORE_KEY_SIZE 32

struct store_keys {
	const char *path;         /* the key store file */
	const unsigned char *master;  /* STORE_KEY_SIZE bytes, borrowed for
	                             the call (not kept: the unwrapped KEK
	                             is) */
};

/*
 * Open the database at path.  keys NULL: a connection that neither seals
 * nor opens (tools that touch no caller's data: tokens, stats, backup);
 * a write that needs sealing fails and a sealed value reads as NULL.
 * With keys, the key store is created beside a database that has none
 * yet (STORE_OPEN_CREATE only), and refused when it is missing, another
 * database's, or wrapped under another master key.  On the first open
 * with keys after the migration to encryption, values stored in clear
 * are sealed, in one transaction.  NULL with a reason in err on
 * failure.  The caller owns the result (store_close).
 */
struct store *store_open(const char *path, enum store_open_mode mode,
    const struct store_keys *keys, char *err, size_t errlen);
void store_close(struct store *store);

/* Destroy caller's data key (crypto-shredding), inside the open
 * transaction or batch (committed to the key store before it) or on its
 * own: everything sealed for caller, in this database and in every copy
 * of it, no longer opens.  0 (also when there was no key), or -1. */
int store_caller_key_destroy(struct store *store, const char *caller);

/* Does caller have a data key (is their data readable)?  0 or -1. */
int store_caller_key_exists(struct store *store, const char *caller,
    bool *exists);

/* The key store beside a database: "<database>.keys" into out. */
int store_key_store_default(const char *database, char *out, size_t len);

/*
 * hotlinectl rekey: rewrap the key store's KEK under new_master in one
 * key-store transaction, after checking that old_master is the one it
 * is wrapped under; the old master then opens nothing.  Safe while the
 * daemon runs: its connections hold the KEK, not the master, so they go
 * on sealing and opening; they read the master again only when they
 * next start.  *changed false (and 0) when the key store already was
 * under new_master (an interrupted rekey being finished).  Key ids into
 * old_id and new_id (SEAL_KEY_ID_SIZE, 17 bytes each).
 */
int store_rekey(const char *key_store, const unsigned char *old_master,
    const unsigned char *new_master, bool *changed, char *old_id,
    char *new_id, char *err, size_t errlen);

/* The key id (17 bytes) the key store at path is wrapped under, and how
 * many data keys it holds.  0, or -1 with why in err. */
int store_key_store_info(const char *key_store, char *master_id,
    int64_t *keys, char *err, size_t errlen);

/*
 * The writer's batch (writer.h): one transaction, one fsync, around many
 * units of work.  Each unit runs in a savepoint of its own, so a unit
 * that fails is undone alone.  Inside a batch every store function that
 * would open a transaction of its own (store_txn_begin too) opens a
 * savepoint instead, so it can be called from a unit unchanged.
 */
int store_batch_begin(struct store *store, char *err, size_t errlen);
/* The durable commit.  -1: nothing of the batch is stored. */
int store_batch_commit(struct store *store, char *err, size_t errlen);
void store_batch_rollback(struct store *store);
int store_unit_begin(struct store *store);
/* keep false: undo the unit's writes. */
void store_unit_end(struct store *store, bool keep);

/* From now on this connection only reads: the daemon's loop makes every
 * change through the writer (writer.h), and a write slipped onto the
 * loop's connection fails instead of waiting for the disk there. */
int store_read_only(struct store *store, char *err, size_t errlen);

/* PRAGMA user_version of the open database. */
int store_schema_version(struct store *store);

/* A number that changes when another connection (hotlinectl) commits,
 * and only then: cheap, no disk read.  0, or -1 on error. */
int store_data_version(struct store *store, int64_t *version);

/* Prove the database takes a durable write (readyz).  0 or -1. */
int store_ping_write(struct store *store, char *err, size_t errlen);

/*
 * Results: a function that can only succeed or fail returns 0 or -1; one
 * whose change can be refused returns enum store_result.
 */
enum store_result {
	STORE_RESULT_OK,
	STORE_RESULT_NOT_FOUND,
	STORE_RESULT_CONFLICT,    /* held by another, closed, a name
	                             already in use, a session id of
	                             another caller */
	STORE_RESULT_ERROR,
};

/* A callback task's life; stored by name ("pending", …). */
enum store_task_status {
	STORE_TASK_PENDING,
	STORE_TASK_CLAIMED,
	STORE_TASK_CLOSED,
};
#define STORE_TASK_STATUS_COUNT 3

/* What a counsellor's call came to, and the queue's own "unreached" (no
 * answer, and no attempt left); stored by name. */
enum store_outcome {
	STORE_OUTCOME_REACHED,
	STORE_OUTCOME_NO_ANSWER,
	STORE_OUTCOME_WRONG_NUMBER,
	STORE_OUTCOME_UNSAFE,     /* texting (or calling) is not safe */
	STORE_OUTCOME_UNREACHED,
	STORE_OUTCOME_ERASED,     /* closed because the caller was erased
	                             (store_caller_erase); never given */
};
#define STORE_OUTCOME_COUNT 6

/* An outbound text's life (see the outbox below); stored by name. */
enum store_outbound_status {
	STORE_OUTBOUND_PENDING,
	STORE_OUTBOUND_SENDING,
	STORE_OUTBOUND_SENT,
	STORE_OUTBOUND_DELIVERED,
	STORE_OUTBOUND_FAILED,
	STORE_OUTBOUND_UNKNOWN,
	STORE_OUTBOUND_EXPIRED,
};
#define STORE_OUTBOUND_STATUS_COUNT 7

/* Their names as stored and shown ("pending", "no_answer", …; static). */
const char *store_task_status_name(enum store_task_status status);
const char *store_outcome_name(enum store_outcome outcome);
const char *store_outbound_status_name(enum store_outbound_status status);
/* A stored outcome's name: 0, or -1 when none matches. */
int store_outcome_parse(const char *name, enum store_outcome *outcome);

/* Yes / no / not asked, as the menu collected it. */
enum store_answer {
	STORE_ANSWER_UNKNOWN,
	STORE_ANSWER_NO,
	STORE_ANSWER_YES,
};

/* What a finished request asks for; NULL strings: not answered. */
struct store_task_request {
	const char *channel;
	const char *caller;       /* pseudonym */
	const char *msisdn;       /* E.164 */
	const char *language;
	const char *topic;
	const char *preferred_time;
	enum store_answer safe_to_call;
	enum store_answer safe_to_sms;
	bool urgent;
	/* The caller's verification word (NULL or "": none chosen; an
	 * open task keeps the word it has).  A clear string: the store
	 * keeps it as it keeps numbers. */
	const char *verification;
};

/* One USSD hop.  task non-NULL when this hop finished the request. */
struct store_ussd_hop {
	const char *channel;
	const char *session_id;
	const char *caller;
	const char *msisdn;
	const char *node;         /* where the caller now is */
	const char *state;        /* the menu state (menu_state_dump), kept
	                             so a dropped session can be resumed;
	                             NULL: none */
	bool offered;             /* state holds the resume offer the
	                             session began with: its hops read it
	                             back (store_ussd_session_state) */
	bool first;               /* the session's first hop: only it
	                             stores the number and counts as the
	                             caller making contact */
	bool ended;
	const struct store_task_request *task;
};

enum store_task_change {
	STORE_TASK_NONE,          /* no task asked for, or already recorded */
	STORE_TASK_CREATED,
	STORE_TASK_UPDATED,       /* the caller's open task took the answers */
};

struct store_hop_result {
	int64_t task_id;          /* 0 when the session has no task */
	enum store_task_change change;
};


/*
 * Record a hop in one transaction: the session row, and when the hop
 * finishes a request, the caller's one open task (created, or updated with
 * the new answers and raised to urgent if asked) plus an audit row.  A
 * retried final hop finds the session's task already recorded and changes
 * nothing (STORE_TASK_NONE, task_id set).
 */
enum store_result store_ussd_hop(struct store *store,
    const struct store_ussd_hop *hop, struct store_hop_result *result,
    char *err, size_t errlen);

/*
 * USSD resume.  Sessions are found by the caller's pseudonym, never by
 * number.  *state is a malloc'd copy the caller frees, NULL when there
 * is none.
 */
/* The state of session_id on channel if it is a USSD session of caller
 * (a session id another caller opened gives NULL). */
int store_ussd_session_state(struct store *store, const char *channel,
    const char *session_id, const char *caller, char **state);
/* The state of caller's latest session of any kind, when it is a USSD
 * session on channel other than session_id that ended without END,
 * filed no task and changed within the last `seconds`. */
int store_ussd_resumable(struct store *store, const char *channel,
    const char *session_id, const char *caller, unsigned seconds,
    char **state);

/* One inbound message to store; strings borrowed for the call. */
struct store_inbound {
	const char *channel;
	const char *provider_msg_id;  /* unique per channel */
	const char *caller;           /* pseudonym */
	const char *msisdn;           /* E.164 */
	const char *body;
	const char *received_at;      /* as the provider said; may be "" */
	/* A part of a concatenated SMS (concat_total 0: whole).  Parts are
	 * kept as rows of their own; when the last one arrives the joined
	 * message is stored too, and only it is processed. */
	const char *concat_ref;
	unsigned concat_part;
	unsigned concat_total;
};

enum store_inbound_result {
	STORE_INBOUND_NEW,
	STORE_INBOUND_DUPLICATE,      /* same channel and id: nothing new */
};

/*
 * Store a batch in one transaction and one fsync (group commit): each
 * message is inserted unless its (channel, provider id) is already
 * there, and attached to its caller's open task if there is one.
 * results[i] says which.  All are committed, or none (-1).
 */
int store_inbound_batch(struct store *store,
    const struct store_inbound *msgs, size_t count,
    enum store_inbound_result *results, char *err, size_t errlen);

/*
 * The SMS conversation.  Stored messages are processed after their
 * commit, in batches, each batch in one transaction opened with
 * store_txn_begin: a crash between the two leaves rows unprocessed, and
 * the next sweep (at start-up too) takes them up again.
 */
int store_txn_begin(struct store *store, char *err, size_t errlen);
int store_txn_commit(struct store *store, char *err, size_t errlen);
void store_txn_rollback(struct store *store);
/* Inside a transaction: one message's work, undone alone on failure. */
int store_txn_savepoint(struct store *store);
int store_txn_release(struct store *store);
void store_txn_rollback_savepoint(struct store *store);

/* An inbound message waiting for processing; strings borrowed until the
 * callback returns. */
struct store_unprocessed {
	int64_t id;
	const char *channel;
	const char *caller;
	const char *msisdn;
	const char *body;
	int64_t task_id;          /* the caller's open task when stored, 0 */
};

typedef int (*store_unprocessed_cb)(const struct store_unprocessed *msg,
    void *arg);

/* Oldest first, at most limit; the callback may not write (collect,
 * then process).  -1 on error. */
int store_inbound_unprocessed(struct store *store, size_t limit,
    store_unprocessed_cb cb, void *arg, char *err, size_t errlen);

/* In a transaction: */
int store_inbound_mark_processed(struct store *store, int64_t id);
/* Flags on an inbound row, for counsellors. */
#define STORE_INBOUND_FLOOD 1     /* part of a flood from its sender */
#define STORE_INBOUND_FAILED 2    /* could not be processed; kept as is */
#define STORE_INBOUND_REDACTED 4  /* its text was a verification word:
                                     blanked, and left out of the
                                     caller's history */
int store_inbound_flag(struct store *store, int64_t id, int flags);
/* In a transaction: the message was the caller's verification word,
 * now kept with their task: blank its text and mark it
 * STORE_INBOUND_REDACTED, so the word lives in one place only. */
int store_inbound_redact(struct store *store, int64_t id);
/* Messages from caller (pseudonym) stored within the last `seconds`
 * (flood check), counted up to cap. */
int store_inbound_recent(struct store *store, const char *caller,
    unsigned seconds, int64_t cap, int64_t *count);
/* The SMS menu state of caller on channel if it changed within idle
 * seconds: *state is a malloc'd JSON text the caller frees, NULL when
 * there is none or it expired. */
int store_sms_session_get(struct store *store, const char *channel,
    const char *caller, unsigned idle, char **state);
int store_sms_session_put(struct store *store, const char *channel,
    const char *caller, const char *msisdn, const char *node,
    const char *state, bool ended);
/* The caller's one open task, created or updated (see store_ussd_hop). */
int store_task_save(struct store *store,
    const struct store_task_request *req, int64_t *task_id,
    enum store_task_change *change);
/* Opt-outs are kept by pseudonym, never by number (an erased caller's
 * too: erasure keeps it).  *opted_out, and
 * whether the one confirmation went out. */
int store_optout_get(struct store *store, const char *caller,
    bool *opted_out, bool *confirmed);
/* Opting out also fails every reply still pending for caller (all but
 * the confirmation), so nothing queued before it is sent. */
int store_optout_set(struct store *store, const char *caller,
    bool opted_out);
int store_optout_confirmed(struct store *store, const char *caller);
/*
 * The outbox's lanes: a due row of a higher lane (smaller number) always
 * leaves before any of a lower one.  Inside a lane callers take turns:
 * a row is queued with its turn, how many of its caller's rows in the
 * lane were still waiting, and leaves after every row of an earlier
 * turn; among equal turns the oldest first.
 */
enum store_lane {
	STORE_LANE_URGENT,        /* alerts to counsellors on call, and the
	                             answer to a caller's urgent request */
	STORE_LANE_CONFIRMATION,  /* of a keyword the caller sent: opt-out,
	                             opt-in */
	STORE_LANE_FIRST_REPLY,   /* the first answer to a new conversation */
	STORE_LANE_REPLY,         /* the next page of a conversation: expires
	                             when the caller has gone idle */
	STORE_LANE_COUNSELLOR,    /* a counsellor's text (the API) */
	STORE_LANE_FOLLOWUP,      /* missed-call and other follow-ups */
};

/* What an outbound text is for; stored by name ("reply", …). */
enum store_purpose {
	STORE_PURPOSE_ALERT,      /* to counsellors on call */
	STORE_PURPOSE_OPT_OUT_CONFIRMATION,  /* the one answer to STOP */
	STORE_PURPOSE_KEYWORD_REPLY,  /* the answer to START, MENU, … */
	STORE_PURPOSE_REPLY,      /* a page of the conversation */
	STORE_PURPOSE_MESSAGE,    /* a counsellor's text */
	STORE_PURPOSE_MISSED_CALL,/* after a call nobody answered */
	STORE_PURPOSE_OTHER,      /* read back: a name this build does not
	                             know; held to the strictest rule */
};

/* "reply", … (static); NULL for STORE_PURPOSE_OTHER. */
const char *store_purpose_name(enum store_purpose purpose);

/* Queue an outbound text (the outbox sends it) in lane.  inbound_id (0:
 * none) ties a reply to what it answers, so a reprocessed message never
 * gets a second reply; task_id (0: the caller's open task, if any) ties
 * it to a callback task.  *id (when id is not NULL): the new row, 0 when
 * the reply was queued before. */
int store_outbound_queue(struct store *store, enum store_lane lane,
    const char *channel, const char *msisdn, const char *caller,
    const char *body, enum store_purpose purpose, int64_t inbound_id,
    int64_t task_id, int64_t *id);
/* The same in the lane purpose implies: an alert urgent, a confirmation
 * or keyword reply confirmation, a reply a conversation page, a message
 * a counsellor's, anything else a follow-up. */
int store_outbound_add(struct store *store, const char *channel,
    const char *msisdn, const char *caller, const char *body,
    enum store_purpose purpose, int64_t inbound_id, int64_t task_id,
    int64_t *id);

/* Automatic replies queued for caller within the last `seconds`. */
int store_outbound_recent(struct store *store, const char *caller,
    enum store_purpose purpose, unsigned seconds, int64_t *count);

/*
 * Record a delivery report ("sent", "delivered", "failed", or "unknown"
 * for a status the provider does not document, which settles the
 * outbound row as "sent": the provider holds it) for the
 * outbound message the provider calls ref, idempotently, in one
 * transaction.  The report is kept even when no outbound row carries ref
 * yet (it overtook the send's answer); *matched says whether one did.
 * send_key ("" when the report has none) is our key for the message: it
 * matches a row whose send's answer never came.  An outbound status only
 * moves forward.
 */
int store_dlr_record(struct store *store, const char *channel,
    const char *ref, const char *send_key, const char *status,
    const char *reason, bool *matched, char *err, size_t errlen);

/*
 * The outbox.  A row is pending until its next_attempt_at, then claimed
 * (sending, one more attempt, committed before any network call), then
 * sent / delivered / failed / unknown, or pending again for a retry; or,
 * never sent, expired (a page the caller would get too late).
 */

/* A due row with what the send-time checks need; strings borrowed until
 * the callback returns, NULL when unknown. */
struct store_outbox_row {
	int64_t id;
	const char *msisdn;
	const char *caller;
	const char *body;
	enum store_purpose purpose;
	const char *send_key;
	int attempts;             /* made so far */
	int64_t task_id;
	bool opted_out;
	enum store_answer safe_to_sms;    /* the caller's latest task */
	const char *preferred_time;       /* of that task */
	double last_contact;      /* unix time of the caller's last message
	                             or USSD hop; 0 when none */
	const char *reply_to;     /* provider id of the message this answers,
	                             else of the caller's latest on the
	                             channel */
	const char *reply_body;   /* that message's text */
	double created;           /* unix time the row was queued */
	enum store_lane lane;
	bool do_not_contact;      /* the caller is marked unsafe to contact */
};

typedef int (*store_outbox_cb)(const struct store_outbox_row *row,
    void *arg);

/* Pending rows of channel that are due, at most limit: by lane, then
 * turn, then oldest due first.  The callback may not write.  -1 on
 * error. */
int store_outbox_due(struct store *store, const char *channel, size_t limit,
    store_outbox_cb cb, void *arg, char *err, size_t errlen);

/* When channel's earliest pending row falls due (unix time,
 * fractional), or 0 when nothing is pending. */
int store_outbox_next_due(struct store *store, const char *channel,
    double *when);

enum store_outbox_op {
	STORE_OUTBOX_CLAIM,       /* pending -> sending, attempts + 1 */
	STORE_OUTBOX_SENT,        /* the provider took it: ref (or none) */
	STORE_OUTBOX_DELIVERED,   /* delivered without a network (console) */
	STORE_OUTBOX_FAILED,      /* final: reason */
	STORE_OUTBOX_UNKNOWN,     /* may have been sent: a report decides */
	STORE_OUTBOX_RETRY,       /* pending again at `at`: reason */
	STORE_OUTBOX_DEFER,       /* a pending row waits until `at` (a contact
	                             window): no attempt counted */
	STORE_OUTBOX_BLOCK,       /* a pending row that must not be sent
	                             (opt-out, unsafe): failed with reason */
	STORE_OUTBOX_EXPIRE,      /* a pending page too late to mean anything
	                             (the caller went idle): expired */
};

struct store_outbox_change {
	enum store_outbox_op op;
	const char *provider_ref; /* SENT; "" or NULL when none */
	const char *reason;       /* FAILED, UNKNOWN, RETRY, DEFER, BLOCK,
	                             EXPIRE */
	double at;                /* RETRY, DEFER: unix time */
	unsigned segments;        /* SENT, DELIVERED */
	const char *encoding;     /* SENT, DELIVERED: "gsm7" or "ucs2" */
};

/* Apply one change; each is its own transaction unless one is open
 * (store_txn_begin).  A result op on a row a report has moved on changes
 * nothing but the reference.  *applied says whether the row changed. */
int store_outbox_update(struct store *store, int64_t id,
    const struct store_outbox_change *change, bool *applied);

/* At start-up: rows of channel left `sending` by a stopped daemon become
 * pending again when resend is true (the provider drops a repeated key),
 * else unknown.  *count says how many. */
int store_outbox_recover(struct store *store, const char *channel,
    bool resend, int64_t *count);

/* Hand back a claim whose request never left (the daemon is stopping, or
 * its channel was removed): `sending` -> pending, the attempt uncounted.
 * *applied says whether the row was still `sending`. */
int store_outbox_release(struct store *store, int64_t id, bool *applied);
/* Mark an urgent task's alerts queued, only if they were not: *applied
 * false means another unit queued them first (queue nothing then). */
int store_alert_mark(struct store *store, int64_t task_id, bool *applied);

/* Outbound rows with status (for stats), counting those the retention
 * purge has removed since (their counts are kept: store_purge). */
int store_outbox_count(struct store *store,
    enum store_outbound_status status, int64_t *count);

/* Urgent tasks whose alerts are not yet queued, oldest first.  The
 * callback may not write: collect, then store_alert_mark each task and
 * queue its alerts in the same transaction. */
typedef int (*store_alert_cb)(int64_t task_id, const char *created_at,
    void *arg);
int store_alerts_due(struct store *store, size_t limit, store_alert_cb cb,
    void *arg);

/*
 * Escalation: an urgent task still pending (unclaimed, and not waiting
 * for a counsellor's planned retry) is due when its last announcement
 * (its alert, its last escalation, or the retry time it waited for) is
 * at least `after` seconds old.
 */
typedef int (*store_escalation_cb)(int64_t task_id, int escalations,
    void *arg);
/* Due tasks, oldest first, at most limit, with how many times each was
 * escalated so far.  The callback may not write.  -1 on error. */
int store_escalations_due(struct store *store, unsigned after,
    size_t limit, store_escalation_cb cb, void *arg);
/* When the next pending urgent task falls due (unix time), 0 when there
 * is none. */
int store_escalation_next(struct store *store, unsigned after,
    double *when);
/* Record one more escalation of task_id, only if it is still due and was
 * escalated `escalations` times (nobody claimed it or escalated it
 * meanwhile): *applied false means queue nothing. */
int store_escalation_mark(struct store *store, int64_t task_id,
    unsigned after, int escalations, bool *applied);

/* Are outbound rows waiting to be sent: due now, being sent, or waiting
 * for a retry after a failed attempt (not those deferred to a contact
 * window before any attempt)?  For the health check. */
int store_outbox_waiting(struct store *store, bool *waiting);

/* A callback task as stored; strings borrowed, NULL when unset. */
struct store_task {
	int64_t id;
	enum store_task_status status;
	bool urgent;
	const char *caller;
	const char *msisdn;
	const char *channel;
	const char *language;
	const char *topic;
	enum store_answer safe_to_call;
	enum store_answer safe_to_sms;
	const char *preferred_time;
	const char *created_at;
	const char *updated_at;
	const char *claimed_by;
	int attempts;
	const char *lease_expires_at;
	const char *retry_at;
	bool has_outcome;         /* closed with an outcome */
	enum store_outcome outcome;
	const char *closed_at;
	int priority_rank;        /* 0 urgent, 1 normal: the list order */
	bool do_not_contact;      /* the caller is marked unsafe to contact
	                             (store_caller_unsafe_set) */
};

typedef int (*store_task_cb)(const struct store_task *task, void *arg);

/* Open tasks (pending or claimed), urgent first, then oldest.  Stops and
 * returns the callback's value when it is non-zero; -1 on error.  With
 * numbers false, msisdn stays NULL: a caller that only counts tasks
 * opens no number. */
int store_tasks_open_foreach(struct store *store, bool numbers,
    store_task_cb cb, void *arg, char *err, size_t errlen);

/* Count tasks with the given status into *count. */
int store_tasks_count(struct store *store, enum store_task_status status,
    int64_t *count, char *err, size_t errlen);

/* One audit row, inside an open transaction (or on its own). */
int store_audit_add(struct store *store, const char *actor,
    const char *action, int64_t task_id, const char *detail);

/* Callers whose numbers one actor saw or texted in a rolling window. */
struct store_reveals {
	int64_t distinct;         /* callers (pseudonyms) seen */
	bool includes_caller;     /* the caller asked about is one of them */
	int64_t oldest;           /* unix time of the earliest caller's
	                             latest sighting; 0: none */
};

/* From the audit trail (number.revealed, task.texted) of the last
 * `seconds`: how many distinct callers `actor` saw, and whether `caller`
 * (a pseudonym; NULL: none) is among them.  0, or -1 on error. */
int store_reveals_recent(struct store *store, const char *actor,
    const char *caller, unsigned seconds, struct store_reveals *out);

/* Did `actor` write an audit row `action` in the last `seconds`? */
int store_audit_recent(struct store *store, const char *actor,
    const char *action, unsigned seconds, bool *found);

/*
 * Counsellor API tokens.  Only a hash of a token is stored (the caller
 * hashes); a name is unique among tokens not revoked.
 */
enum store_result store_token_add(struct store *store, const char *name,
    const char *role, const char *hash);
enum store_result store_token_revoke(struct store *store, const char *name);
/* The live token with this hash: name and role copied out. */
enum store_result store_token_find(struct store *store, const char *hash,
    char *name, size_t namelen, char *role, size_t rolelen);
typedef int (*store_token_cb)(const char *name, const char *role,
    const char *created_at, const char *revoked_at, void *arg);
int store_token_list(struct store *store, store_token_cb cb, void *arg);

/*
 * The callback queue.  `actor` is the token's name; `privileged` lets a
 * supervisor act on a task another holds.  Each call is one transaction.
 */

/* Claim the most urgent, then oldest, task that is pending and due, or
 * claimed with an expired lease.  *task_id 0 when there is none. */
int store_queue_claim_next(struct store *store, const char *actor,
    unsigned lease_seconds, int64_t *task_id);
/* Tasks whose lease ran out go back to pending (an audit row each), at
 * most 64 a call; *count says how many. */
int store_queue_expire_leases(struct store *store, int64_t *count);
/* Claim task id; CONFLICT when it is closed or another holds a live
 * lease (nobody takes a lease over). */
enum store_result store_queue_claim(struct store *store, int64_t id,
    const char *actor, unsigned lease_seconds);
/* The task actor holds a live lease on, or 0. */
int store_queue_held(struct store *store, const char *actor,
    int64_t *task_id);
/*
 * Do not contact.  A counsellor's outcome `unsafe` marks the caller (by
 * pseudonym) and cancels every text still pending for them (failed,
 * "do_not_contact"; alerts to counsellors aside), in the caller's
 * transaction; *cancelled says how many.  Nothing is texted to them
 * while the mark stands (contact.h), and it stands until they write or
 * dial again themselves: store_inbound_batch (a new message) and
 * store_ussd_hop call store_caller_contacted, which lifts it with a
 * caller.contacted audit row (actor `via`, detail the pseudonym).
 */
int store_caller_unsafe_set(struct store *store, const char *caller,
    int64_t task_id, int64_t *cancelled);
int store_caller_contacted(struct store *store, const char *caller,
    const char *via);

/* Did the caller's latest answer say texting is unsafe (on any of
 * their tasks, as the outbox decides)? */
int store_caller_unsafe_to_text(struct store *store, const char *caller,
    bool *unsafe);
enum store_result store_queue_release(struct store *store, int64_t id,
    const char *actor, bool privileged);

enum store_result store_queue_note(struct store *store, int64_t id,
    const char *actor, bool privileged, const char *text,
    int64_t *note_id);
/* May actor act on task id (hold its live lease, or privileged)? */
enum store_result store_queue_may_act(struct store *store, int64_t id,
    const char *actor, bool privileged);

/* One task, or STORE_RESULT_NOT_FOUND. */
enum store_result store_task_get(struct store *store, int64_t id,
    store_task_cb cb, void *arg);

/* Task id's verification word into out ("" when none was chosen):
 * the one way to read it, for the queue to show the lease holder
 * (queue_reveal, queue_claim).  0; -1 on error or no such task. */
int store_task_verification(struct store *store, int64_t id, char *out,
    size_t outlen);

/* Which tasks a page lists. */
enum store_task_filter {
	STORE_TASKS_OPEN,         /* pending or claimed */
	STORE_TASKS_ALL,
	STORE_TASKS_PENDING,
	STORE_TASKS_CLAIMED,
	STORE_TASKS_CLOSED,
};

/* A page of tasks in queue order after (rank, created_at, id) (rank -1:
 * from the start). */
struct store_task_cursor {
	int rank;
	char created_at[32];
	int64_t id;
};
int store_task_page(struct store *store, enum store_task_filter filter,
    const struct store_task_cursor *after, size_t limit, store_task_cb cb,
    void *arg);

typedef int (*store_note_cb)(int64_t id, const char *author,
    const char *text, const char *created_at, void *arg);
int store_task_notes(struct store *store, int64_t task_id, store_note_cb cb,
    void *arg);

/* The caller's (pseudonym's) texts and ours, oldest first: direction
 * "in" or "out", status NULL for "in"; an erased caller's text is "".
 * A text redacted as a verification word (STORE_INBOUND_REDACTED) is
 * left out. */
typedef int (*store_message_cb)(const char *direction, const char *text,
    const char *at, const char *status, void *arg);
int store_caller_messages(struct store *store, const char *caller,
    store_message_cb cb, void *arg);

/* Audit entries newest first, below id `before` (0: from the newest). */
typedef int (*store_audit_cb)(int64_t id, const char *at,
    const char *actor, const char *action, int64_t task_id,
    const char *detail, void *arg);
int store_audit_page(struct store *store, int64_t before, size_t limit,
    store_audit_cb cb, void *arg);

/* A count from a fixed set of statistics queries. */
enum store_stat {
	STORE_STAT_OPEN_URGENT,
	STORE_STAT_OPEN_NORMAL,
	STORE_STAT_OLDEST_PENDING_SECONDS,    /* -1: none */
	STORE_STAT_MEDIAN_FIRST_CALL_SECONDS, /* -1: none */
};
int store_stat(struct store *store, enum store_stat which, int64_t *value);
/* Tasks closed or attempted today (local day starting at the unix time
 * day_start) with outcome. */
int store_outcomes_since(struct store *store, enum store_outcome outcome,
    double day_start, int64_t *count);
/*
 * The queue module's changes to a claimed task, guarded like the rest
 * (the holder with a live lease, or privileged): NOT_FOUND, CONFLICT
 * (closed, not claimed, or held by another), or ERROR.  What an outcome
 * means (which one closes, the backoff, the attempts) is queue.c's to
 * decide; these only apply it.  No audit row: the caller writes it in
 * the same transaction.
 */
struct store_queue_close {
	enum store_outcome outcome;   /* as recorded (not no_answer) */
	bool count_attempt;       /* attempts + 1 */
	bool unsafe_to_text;      /* the caller must not be texted */
};
enum store_result store_queue_close(struct store *store, int64_t id,
    const char *actor, bool privileged, const struct store_queue_close *c);
/* Pending again, one more attempt, not due before retry_at (UTC,
 * "YYYY-MM-DDTHH:MM:SSZ"). */
enum store_result store_queue_retry(struct store *store, int64_t id,
    const char *actor, bool privileged, const char *retry_at);

/* A note on task id, with no check and no audit row (an outcome's
 * note is part of its task.completed).  *note_id: the new row. */
int store_task_note_add(struct store *store, int64_t task_id,
    const char *author, const char *text, int64_t *note_id);

/* Is a batch open (store_batch_begin)?  Functions that make several
 * writes which must stand or fall together rely on one. */
bool store_in_batch(const struct store *store);

/*
 * Retention (retention.h runs it): what is older than the retention
 * window goes, and anonymous counts stay.
 *
 *   tasks       closed before the cutoff: kept for statistics (day,
 *               channel, language, topic, priority, answers, outcome,
 *               attempts, time to first call) with the number, the
 *               pseudonym and the preferred time cleared
 *   task_notes  of those tasks: deleted
 *   outbound    queued before the cutoff and settled (not pending or
 *               sending): counted into stats_daily, deleted
 *   inbound     stored before the cutoff and processed: counted,
 *               deleted (a row a kept outbound row answers stays)
 *   sessions    last active before the cutoff: counted, deleted
 *   delivery_reports  received before the cutoff, unless a row still
 *               waiting for its answer (pending, sending, unknown)
 *               could match it: counted, deleted
 *   audit       older than the audit window: deleted
 *
 * Nothing of a caller who has an open task (pending or claimed, held or
 * not) goes: not the task, not their messages, sessions or texts.  No
 * outbound row that is pending or sending is touched, so the outbox's
 * rules (never a blind resend) hold.  Opt-outs are kept: they are the
 * caller's standing wish.
 */
enum store_purge_table {
	STORE_PURGE_TASKS,        /* anonymised */
	STORE_PURGE_NOTES,
	STORE_PURGE_INBOUND,
	STORE_PURGE_OUTBOUND,
	STORE_PURGE_SESSIONS,
	STORE_PURGE_DLR,
	STORE_PURGE_AUDIT,
};
#define STORE_PURGE_TABLE_COUNT 7

/* The table's name, as printed and logged ("tasks", …; static). */
const char *store_purge_table_name(enum store_purge_table table);

struct store_purge_policy {
	double now;               /* unix time the windows end at */
	unsigned retention_days;  /* privacy.retention_days */
	unsigned audit_days;      /* privacy.audit_retention_days */
	/* Rows of each table changed in one call, at most; 0: no cap.  A
	 * capped call says `more`, and the next call goes on. */
	size_t cap;
	bool dry_run;             /* count only: nothing is changed */
};

struct store_purge_counts {
	int64_t rows[STORE_PURGE_TABLE_COUNT];
	bool more;                /* a table had more than cap rows due */
	int64_t keys;             /* callers' data keys destroyed (not in a
	                             dry run: those are decided as rows go) */
};

/*
 * One purge step, in one transaction (a savepoint inside a batch): the
 * rows of each table past its window, counted into counts (added to
 * what it holds), and unless dry_run, counted into stats_daily and
 * deleted or cleared.  A caller the step left with nothing sealed
 * anywhere loses their data key (store_caller_key_destroy), so their
 * rows in earlier backups become unreadable too.  0, or -1 with why in
 * err and nothing changed.
 */
int store_purge(struct store *store, const struct store_purge_policy *policy,
    struct store_purge_counts *counts, char *err, size_t errlen);

/*
 * Give the pages freed by a purge or an erasure back to the file system
 * (PRAGMA incremental_vacuum; secure_delete has zeroed them already).
 * Works inside a transaction too.  *pages: how many.  0 or -1.
 */
int store_reclaim(struct store *store, int64_t *pages, char *err,
    size_t errlen);

/*
 * Fold the WAL into the database file and truncate it, so no old page
 * image of erased rows stays in the -wal (hotlinectl after a purge or an
 * erasure).  Outside any transaction.  *complete false when a reader
 * held it back (the daemon's next checkpoint finishes it).  0 or -1.
 */
int store_checkpoint(struct store *store, bool *complete, char *err,
    size_t errlen);

/*
 * A database made before incremental vacuum was on (auto_vacuum NONE)
 * is switched over with one VACUUM (a new database has it from its first
 * table).  *switched says whether this call did it, so the daemon can
 * log it once.  The daemon's own connection, at start, before any other
 * work.  0 or -1.
 */
int store_auto_vacuum_enable(struct store *store, bool *switched,
    char *err, size_t errlen);

/*
 * Statistics by day (UTC), the same before and after a purge: tasks by
 * the day they were created (how many, by channel, topic and priority;
 * the median seconds to their first call), outcomes by the day tasks
 * closed, and texts in and out and sessions by day, counting the rows
 * the purge deleted (stats_daily).  One callback per figure, newest day
 * first: what is "tasks", "channel", "topic", "priority", "outcome",
 * "first_call_median", "texts_in", "texts_out" or "sessions"; key the
 * channel, topic ("none" when unset), priority, outcome or session kind,
 * "" for the others.  Days from `since` ("YYYY-MM-DD") on.  0, the
 * callback's non-zero value, or -1.
 */
typedef int (*store_day_cb)(const char *day, const char *what,
    const char *key, int64_t value, void *arg);
int store_stats_days(struct store *store, const char *since,
    store_day_cb cb, void *arg);

/*
 * Erasure of one caller on request, in one transaction: their open
 * tasks closed as `erased` (a live lease ended with it), their pending
 * texts failed with reason `erased` (the outbox never sends a failed
 * row; a row being sent at this moment is left to its result and counted
 * in in_flight), their numbers, message bodies, notes, menu answers and
 * session state cleared in every table, an opt-out kept under the
 * pseudonym alone, their data key destroyed (store_caller_key_destroy),
 * and one audit row (action caller.erased, detail the pseudonym).
 */
struct store_erase_counts {
	int64_t tasks_closed;     /* open tasks closed as erased */
	int64_t leases_ended;     /* of those, held under a live lease */
	int64_t tasks;            /* every task of the caller, cleared */
	int64_t notes;            /* notes deleted */
	int64_t inbound;          /* messages cleared */
	int64_t outbound_cancelled;   /* pending texts, never to be sent */
	int64_t outbound;         /* other texts cleared */
	int64_t sessions;         /* USSD and SMS sessions cleared */
	int64_t optouts;          /* opt-outs kept under the pseudonym */
	int64_t in_flight;        /* texts being sent now, left as they are:
	                             erase again once they settle */
};

/*
 * caller: a pseudonym (c_ and 12 hex digits); actor: who erases, for the
 * audit row.  OK with counts; OK with every count 0 when the caller was
 * erased before (nothing is written: the audit row stays the one);
 * NOT_FOUND when nothing is held under that pseudonym and it was never
 * erased; ERROR.
 */
enum store_result store_caller_erase(struct store *store, const char *caller,
    const char *actor, struct store_erase_counts *counts);

/*
 * Destroy the caller's data key, so whatever of theirs is sealed under
 * it, here or in any backup, can no longer be read.  Inside the
 * erasure's transaction.  0 or -1.
 */
int store_caller_key_destroy(struct store *store, const char *caller);

/*
 * Backups (hotlinectl backup / restore).  These work on files beside the
 * database, never on the daemon's own connections.
 */
struct store_copy_info {
	int64_t bytes;            /* the copy's size on disk */
	int schema_version;       /* its PRAGMA user_version */
	/* stored_at of its newest inbound message ("YYYY-MM-DDTHH:MM:SSZ"),
	 * "" when it holds none: a time, never a number or text. */
	char newest_inbound[32];
};

/*
 * A consistent copy of the open database st at dest, safe while the
 * daemon runs: SQLite's online backup API reads one snapshot (a read
 * transaction, which in WAL mode never blocks the daemon's writer) in
 * chunks, into a temporary file (mode 0600) in dest's directory; the
 * copy must pass integrity_check, is made a single self-contained file
 * (journal_mode=DELETE), fsynced, and renamed into place, and the
 * directory fsynced.  An existing dest is refused unless force.  0 with
 * info filled, or -1 with a reason in err and nothing left behind.
 */
int store_backup(struct store *st, const char *dest, bool force,
    struct store_copy_info *info, char *err, size_t errlen);

/* Is the file at path a sound hotline database this build can run
 * (integrity_check passes, the hotline tables are there, the schema
 * version is this build's or an older one the daemon migrates)?  Opened
 * read-only, nothing written.  0 with info, or -1 with why in err. */
int store_restore_check(const char *path, struct store_copy_info *info,
    char *err, size_t errlen);

/* Does another process have the database at db open (a running
 * hotlined holds SQLite's shared lock on it for as long as it runs)?
 * 0: no one (or no such file); 1: held, *pid the holder when known
 * (else 0); -1: cannot tell, why in err. */
int store_holder(const char *db, long *pid, char *err, size_t errlen);

struct store_restore_report {
	struct store_copy_info copy;  /* what was put in place */
	int migrated_from;        /* the copy's version when it was older
	                             (migrated before the swap), else 0 */
	char kept[4096];          /* where the previous database went,
	                             "" when there was none */
	bool kept_wal;            /* its -wal went with it (as kept-wal) */
	bool removed_shm;         /* its -shm (an index only) was removed */
};

/*
 * Replace the database at db with the backup at src, with the daemon
 * stopped: refused while any process holds db.  src is checked as
 * store_restore_check does and copied to a temporary file beside db; an
 * older copy is migrated there, so a failing migration replaces
 * nothing; the copy is checked, fsynced, then the old -shm is removed,
 * the old database and its -wal are renamed to <db>.before-restore-<UTC
 * time> (and its -wal), the copy renamed to db and the directory
 * fsynced.  0 with rep filled, or -1 with why in err and db untouched.
 */
int store_restore(const char *db, const char *src,
    struct store_restore_report *rep, char *err, size_t errlen);

#endif
