/*
 * store_private: what the store_*.c files share, and nothing else includes.
 *
 * Each domain file defines its statements (store_<domain>_sql, ended by
 * STMT_COUNT_); store_open prepares them all, so a statement that does
 * not fit the schema stops the daemon at start, not at first use.
 */
#ifndef HOTLINE_STORE_PRIVATE_H
#define HOTLINE_STORE_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store.h"

#define BUSY_TIMEOUT_MS 5000
/* The time as strftime('%Y-%m-%dT%H:%M:%SZ','now') writes it, from
 * db_register_now's function: SQLite's own strftime parses its format
 * and converts a Julian day at every call, a few of them in every write
 * a hop makes. */
#define NOW "hotline_now(0)"
/* The outbox schedules to the millisecond (a first retry comes after
 * about a second): as strftime('%Y-%m-%dT%H:%M:%fZ','now'). */
#define NOW_MS "hotline_now(1)"

/* The columns task_from_row reads, in its order. */
#define TASK_COLUMNS \
	"id, status, priority, caller, msisdn, channel, language, topic, " \
	"safe_to_call, safe_to_sms, preferred_time, created_at, updated_at, " \
	"claimed_by, attempts, lease_expires_at, retry_at, outcome, " \
	"closed_at, CASE priority WHEN 'urgent' THEN 0 ELSE 1 END, " \
	"EXISTS (SELECT 1 FROM unsafe_callers u WHERE u.caller = " \
	"tasks.caller)"
/* Who may act on a claimed task: its holder while the lease lives, or
 * a privileged actor (?2 actor, ?3 privileged). */
#define MAY_ACT "(?3 OR (status = 'claimed' AND claimed_by = ?2 AND " \
	"lease_expires_at > " NOW "))"

enum stmt {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_PING,
	STMT_SESSION_UPSERT,
	STMT_SESSION_SET_TASK,
	STMT_USSD_SESSION_STATE,
	STMT_USSD_RESUMABLE,
	STMT_TASK_UPDATE_OPEN,
	STMT_TASK_INSERT,
	STMT_TASKS_OPEN,
	STMT_TASKS_COUNT,
	STMT_AUDIT_ADD,
	STMT_INBOUND_INSERT,
	STMT_INBOUND_PART_INSERT,
	STMT_INBOUND_PARTS,
	STMT_INBOUND_JOIN,
	STMT_INBOUND_JOINED,
	STMT_SAVEPOINT,
	STMT_SAVEPOINT_RELEASE,
	STMT_SAVEPOINT_ROLLBACK,
	STMT_NEST,
	STMT_NEST_RELEASE,
	STMT_NEST_ROLLBACK,
	STMT_UNIT,
	STMT_UNIT_RELEASE,
	STMT_UNIT_ROLLBACK,
	STMT_OUTBOUND_CANCEL,
	STMT_INBOUND_UNPROCESSED,
	STMT_INBOUND_PROCESSED,
	STMT_INBOUND_RECENT,
	STMT_INBOUND_FLAG,
	STMT_INBOUND_REDACT,
	STMT_SMS_SESSION_GET,
	STMT_SMS_SESSION_PUT,
	STMT_OPTOUT_GET,
	STMT_OPTOUT_SET,
	STMT_OPTOUT_CLEAR,
	STMT_OPTOUT_CONFIRMED,
	STMT_OUTBOUND_ADD,
	STMT_OUTBOUND_RECENT,
	STMT_DLR_INSERT,
	STMT_DLR_APPLY,
	STMT_OUTBOX_DUE,
	STMT_OUTBOX_NEXT_DUE,
	STMT_OUTBOX_CLAIM,
	STMT_OUTBOX_SENT,
	STMT_OUTBOX_EARLY_DLR,
	STMT_OUTBOX_DELIVERED,
	STMT_OUTBOX_FAILED,
	STMT_OUTBOX_UNKNOWN,
	STMT_OUTBOX_RETRY,
	STMT_OUTBOX_DEFER,
	STMT_OUTBOX_BLOCK,
	STMT_OUTBOX_EXPIRE,
	STMT_OUTBOX_RECOVER,
	STMT_OUTBOX_COUNT,
	STMT_ALERTS_DUE,
	STMT_OUTBOX_RELEASE,
	STMT_ALERT_MARK,
	STMT_ESCALATIONS_DUE,
	STMT_ESCALATION_NEXT,
	STMT_ESCALATION_MARK,
	STMT_OUTBOX_WAITING,
	STMT_TOKEN_ADD,
	STMT_TOKEN_REVOKE,
	STMT_TOKEN_FIND,
	STMT_TOKEN_LIST,
	STMT_QUEUE_CLAIM_NEXT,
	STMT_QUEUE_CLAIM,
	STMT_QUEUE_RELEASE,
	STMT_QUEUE_CLOSE,
	STMT_QUEUE_RETRY,
	STMT_QUEUE_MAY_ACT,
	STMT_QUEUE_EXPIRE,
	STMT_QUEUE_HELD,
	STMT_CALLER_UNSAFE,
	STMT_UNSAFE_SET,
	STMT_UNSAFE_CLEAR,
	STMT_OUTBOUND_CANCEL_CALLER,
	STMT_QUEUE_STATUS,
	STMT_NOTE_ADD,
	STMT_TASK_CALLER,
	STMT_TASK_GET,
	STMT_TASK_VERIFICATION,
	STMT_TASK_PAGE,
	STMT_TASK_NOTES,
	STMT_CALLER_MESSAGES,
	STMT_AUDIT_PAGE,
	STMT_REVEALS_RECENT,
	STMT_AUDIT_RECENT,
	STMT_STAT_OPEN_URGENT,
	STMT_STAT_OPEN_NORMAL,
	STMT_STAT_OLDEST_PENDING,
	STMT_STAT_MEDIAN_FIRST_CALL,
	STMT_OUTCOMES_SINCE,
	/* store_purge.c: per table, the id that bounds a capped step, the
	 * count, the counts kept (stats_daily) and the change. */
	STMT_PURGE_TASKS_BOUND,
	STMT_PURGE_TASKS_COUNT,
	STMT_PURGE_TASKS_DO,
	STMT_PURGE_NOTES_BOUND,
	STMT_PURGE_NOTES_COUNT,
	STMT_PURGE_NOTES_DO,
	STMT_PURGE_OUTBOUND_BOUND,
	STMT_PURGE_OUTBOUND_COUNT,
	STMT_PURGE_OUTBOUND_KEEP,
	STMT_PURGE_OUTBOUND_DO,
	STMT_PURGE_INBOUND_BOUND,
	STMT_PURGE_INBOUND_COUNT,
	STMT_PURGE_INBOUND_COUNT_DRY,
	STMT_PURGE_INBOUND_KEEP,
	STMT_PURGE_INBOUND_DO,
	STMT_PURGE_SESSIONS_BOUND,
	STMT_PURGE_SESSIONS_COUNT,
	STMT_PURGE_SESSIONS_KEEP,
	STMT_PURGE_SESSIONS_DO,
	STMT_PURGE_DLR_BOUND,
	STMT_PURGE_DLR_COUNT,
	STMT_PURGE_DLR_KEEP,
	STMT_PURGE_DLR_DO,
	STMT_PURGE_AUDIT_BOUND,
	STMT_PURGE_AUDIT_COUNT,
	STMT_PURGE_AUDIT_DO,
	STMT_PURGE_TASKS_CALLERS,
	STMT_PURGE_OUTBOUND_CALLERS,
	STMT_PURGE_INBOUND_CALLERS,
	STMT_PURGE_SESSIONS_CALLERS,
	STMT_PURGE_CALLER_KEPT,
	STMT_ERASE_WAS,
	STMT_ERASE_LEASES,
	STMT_ERASE_CLOSE,
	STMT_ERASE_NOTES,
	STMT_ERASE_OUT_CANCEL,
	STMT_ERASE_OUT_CLEAR,
	STMT_ERASE_OUT_FLIGHT,
	STMT_ERASE_INBOUND,
	STMT_ERASE_SESSIONS,
	STMT_ERASE_OPTOUTS,
	STMT_ERASE_TASKS,
	STMT_STATS_DAYS,
	STMT_COUNT_
};

struct store_sql {
	enum stmt id;
	const char *sql;
};

extern const struct store_sql store_core_sql[];
extern const struct store_sql store_task_sql[];
extern const struct store_sql store_inbound_sql[];
extern const struct store_sql store_outbox_sql[];
extern const struct store_sql store_queue_sql[];
extern const struct store_sql store_token_sql[];
extern const struct store_sql store_audit_sql[];
extern const struct store_sql store_purge_sql[];

/* The key store, as one connection sees it (store_keys.c). */
/*
 * Data keys the writer opened, so a caller's later values cost no
 * key-store lookup and no unwrap.  Used only inside a batch, kept from
 * one batch to the next while nobody else changed the key store: each
 * batch starts by asking SQLite (PRAGMA data_version) whether another
 * connection committed to it since, and forgets everything if so, so
 * what another process destroyed is seen by the next batch, as it would
 * be by a lookup made a moment earlier.  A batch that fails forgets
 * everything too (keys it made may not exist).  Direct-mapped: a
 * collision only costs a lookup.
 */
#define KEYS_CACHE_SLOTS 4096
struct keys_cache_slot {
	char caller[32];          /* "" when empty */
	unsigned char key[STORE_KEY_SIZE];
};

struct store_keyring {
	sqlite3 *db;              /* NULL: no keys (store_open's keys NULL) */
	sqlite3_stmt *get, *put, *del, *begin, *commit, *rollback;
	unsigned char kek[STORE_KEY_SIZE];
	char kek_id[17];
	bool read_only;
	bool txn;                 /* a key-store transaction is open, to be
	                             committed just before the main one */
	bool destroyed;           /* keys were destroyed in it */
	struct keys_cache_slot *cache; /* NULL until the first batch */
	bool caching;             /* a batch is open: cache in use */
	sqlite3_stmt *version;    /* PRAGMA data_version */
	int64_t cache_version;    /* its answer when the cache was valid */
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[STMT_COUNT_];
	/* Inside the writer's batch a function's own transaction is a
	 * savepoint; nested counts the ones open. */
	bool batch;
	unsigned nested;
	struct store_keyring keys;
};

/* Give connection db the SQL function NOW and NOW_MS call: before any
 * statement using them is prepared.  -1 when out of memory. */
int
db_register_now(sqlite3 *db);

/* Helpers of store.c.  Statements are reset (and their bindings
 * cleared) by the step functions whichever way they end. */
void
db_error(struct store *st, const char *what, char *err, size_t errlen);

int
db_step_done(struct store *st, sqlite3_stmt *s);
/* sql run on db (any connection, the key store's too); why into err. */
int
db_raw_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

int
db_begin(struct store *st, char *err, size_t errlen);

int
db_commit(struct store *st, char *err, size_t errlen);

void
db_rollback(struct store *st);

void
db_bind_text(sqlite3_stmt *s, int i, const char *v);

void
db_bind_answer(sqlite3_stmt *s, int i, enum store_answer a);

enum store_answer
db_column_answer(sqlite3_stmt *s, int i);

int
db_step_id(sqlite3_stmt *s, int64_t *id, bool *found);

int
db_count(sqlite3_stmt *s, int64_t *count);

int
db_step_changed(struct store *st, sqlite3_stmt *s, bool *applied);

const char *
db_column_str(sqlite3_stmt *s, int i);

int
store_audit_write(struct store *st, const char *actor, const char *action,
    int64_t task_id, const char *detail);

/*
 * Sealing (store_keys.c).  Values are sealed for their caller on the way
 * in and opened on the way out; SQL compares only callers (pseudonyms),
 * never a number or a text.  Every column that holds a caller's number
 * or words is bound with db_bind_sealed and read with db_column_open,
 * and listed in store_keys.c's clear_columns (tasks.verification, the
 * verification word, belongs there too once it exists).
 */
int
keys_open(struct store *st, enum store_open_mode mode,
    const struct store_keys *keys, char *err, size_t errlen);
void
keys_close(struct store *st);
int
keys_read_only(struct store *st, char *err, size_t errlen);
/* Before the main COMMIT: the key store's transaction, if one is open.
 * -1: it was rolled back (and the main one must be too). */
int
keys_commit(struct store *st, char *err, size_t errlen);
void
keys_rollback(struct store *st);
/* The key cache: in use from a batch's start to its end; kept after a
 * batch that committed (keep), wiped after one that did not.  Start may
 * fail quietly: then nothing is kept. */
void
keys_cache_start(struct store *st);
void
keys_cache_stop(struct store *st, bool keep);
/* Bind plain, sealed for caller, at i (NULL binds NULL).  -1 when it
 * cannot be sealed (no key store, a read-only connection, an error). */
int
db_bind_sealed(struct store *st, sqlite3_stmt *s, int i, const char *caller,
    const char *plain);
/* Seal plain for caller: malloc'd (free), or NULL. */
char *
db_seal(struct store *st, const char *caller, const char *plain);
/* Column i of s opened for caller: malloc'd, for seal_free; NULL when
 * the column is NULL, the caller's key is gone (erased), or it does not
 * open.  A value stored before encryption (no seal prefix) comes back as
 * it is. */
char *
db_column_open(struct store *st, sqlite3_stmt *s, int i, const char *caller);
/* Step s (bound) once: its first row's column 0 opened for caller into
 * *out (malloc'd; NULL when there is no row or it does not open), s
 * reset.  0, or -1 on a database error. */
int
db_first_opened(struct store *st, sqlite3_stmt *s, const char *caller,
    char **out);
char *
db_open_text(struct store *st, const char *caller, const char *sealed);
/* Seal every value still stored in clear (a database from before
 * encryption), in one transaction. */
int
keys_seal_existing(struct store *st, char *err, size_t errlen);

#endif
