/*
 * store_queue: the counsellors' callback queue: claims and leases,
 * release, completion, notes.
 */
#include "store.h"
#include "store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

const struct store_sql store_queue_sql[] = {
	/* One statement: the choice and the claim cannot be split by a
	 * second counsellor's request. */
	{ STMT_QUEUE_CLAIM_NEXT, "UPDATE tasks SET status = 'claimed', "
	    "claimed_by = ?1, lease_expires_at = strftime('%Y-%m-%dT%H:%M:%SZ',"
	    " 'now', '+' || ?2 || ' seconds'), updated_at = " NOW " WHERE id = "
	    "(SELECT id FROM tasks WHERE (status = 'pending' AND (retry_at IS "
	    "NULL OR retry_at <= " NOW ")) OR (status = 'claimed' AND "
	    "lease_expires_at <= " NOW ") ORDER BY priority = 'urgent' DESC, "
	    "created_at, id LIMIT 1) RETURNING id" },
	/* A live lease is never taken over, not even by a supervisor (who
	 * may complete or release it instead). */
	{ STMT_QUEUE_CLAIM, "UPDATE tasks SET status = 'claimed', "
	    "claimed_by = ?2, lease_expires_at = strftime('%Y-%m-%dT%H:%M:%SZ',"
	    " 'now', '+' || ?3 || ' seconds'), updated_at = " NOW " WHERE id = "
	    "?1 AND (status = 'pending' OR (status = 'claimed' AND "
	    "(claimed_by = ?2 OR lease_expires_at <= " NOW ")))" },
	{ STMT_QUEUE_RELEASE, "UPDATE tasks SET status = 'pending', "
	    "claimed_by = NULL, lease_expires_at = NULL, updated_at = " NOW
	    " WHERE id = ?1 AND status = 'claimed' AND " MAY_ACT },
	/* What an outcome does to a task is queue.c's to decide; these
	 * apply the decision. */
	{ STMT_QUEUE_CLOSE, "UPDATE tasks SET status = 'closed', outcome = "
	    "?4, attempts = attempts + ?5, closed_at = " NOW ", "
	    "lease_expires_at = NULL, first_completed_at = COALESCE("
	    "first_completed_at, " NOW "), safe_to_sms = CASE WHEN ?6 THEN 0 "
	    "ELSE safe_to_sms END, updated_at = " NOW " WHERE id = ?1 AND "
	    "status = 'claimed' AND " MAY_ACT },
	{ STMT_QUEUE_RETRY, "UPDATE tasks SET status = 'pending', attempts = "
	    "attempts + 1, retry_at = ?4, claimed_by = NULL, lease_expires_at "
	    "= NULL, first_completed_at = COALESCE(first_completed_at, " NOW
	    "), updated_at = " NOW " WHERE id = ?1 AND status = 'claimed' AND "
	    MAY_ACT },
	{ STMT_QUEUE_EXPIRE, "UPDATE tasks SET status = 'pending', "
	    "claimed_by = NULL, lease_expires_at = NULL, updated_at = " NOW
	    " WHERE id IN (SELECT id FROM tasks WHERE status = 'claimed' AND "
	    "lease_expires_at <= " NOW " LIMIT 64) RETURNING id" },
	{ STMT_QUEUE_HELD, "SELECT id FROM tasks WHERE status = 'claimed' "
	    "AND claimed_by = ?1 AND lease_expires_at > " NOW " LIMIT 1" },
	{ STMT_QUEUE_MAY_ACT, "SELECT 1 FROM tasks WHERE id = ?1 AND "
	    "status = 'claimed' AND " MAY_ACT },
	{ STMT_QUEUE_STATUS, "SELECT status FROM tasks WHERE id = ?1" },
	{ STMT_NOTE_ADD, "INSERT INTO task_notes(task_id, author, text, "
	    "created_at) VALUES (?1, ?2, ?3, " NOW ") RETURNING id" },
	{ STMT_COUNT_, NULL },
};

/* Why an UPDATE guarded by MAY_ACT changed nothing: no such task, or
 * one the actor may not touch (CONFLICT). */
static enum store_result
why_unchanged(struct store *st, int64_t id)
{
	sqlite3_stmt *s = st->stmt[STMT_QUEUE_STATUS];
	int rc;

	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc == SQLITE_ROW)
		return STORE_RESULT_CONFLICT;
	return rc == SQLITE_DONE ? STORE_RESULT_NOT_FOUND :
	    STORE_RESULT_ERROR;
}

/* Run a one-statement change guarded by MAY_ACT in its own
 * transaction, with an audit row when it changed something. */
static enum store_result
guarded(struct store *st, sqlite3_stmt *s, int64_t id, const char *actor,
    const char *action, const char *detail)
{
	char why[256];
	enum store_result r = STORE_RESULT_OK;

	if (db_begin(st, why, sizeof(why)) < 0) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		return STORE_RESULT_ERROR;
	}
	if (db_step_done(st, s) < 0)
		r = STORE_RESULT_ERROR;
	else if (sqlite3_changes(st->db) == 0)
		r = why_unchanged(st, id);
	else if (store_audit_write(st, actor, action, id, detail) < 0)
		r = STORE_RESULT_ERROR;
	if (r == STORE_RESULT_ERROR || db_commit(st, why, sizeof(why)) < 0) {
		db_rollback(st);
		return STORE_RESULT_ERROR;
	}
	return r;
}

int
store_queue_claim_next(struct store *st, const char *actor,
    unsigned lease_seconds, int64_t *task_id)
{
	sqlite3_stmt *s = st->stmt[STMT_QUEUE_CLAIM_NEXT];
	char why[256];
	bool found;

	*task_id = 0;
	if (db_begin(st, why, sizeof(why)) < 0)
		return -1;
	db_bind_text(s, 1, actor);
	sqlite3_bind_int(s, 2, (int)lease_seconds);
	if (db_step_id(s, task_id, &found) < 0 ||
	    (found && store_audit_write(st, actor, "task.claimed", *task_id,
	    NULL) < 0)) {
		db_rollback(st);
		*task_id = 0;
		return -1;
	}
	if (!found)
		*task_id = 0;
	return db_commit(st, why, sizeof(why));
}

enum store_result
store_queue_claim(struct store *st, int64_t id, const char *actor,
    unsigned lease_seconds)
{
	sqlite3_stmt *s = st->stmt[STMT_QUEUE_CLAIM];

	sqlite3_bind_int64(s, 1, id);
	db_bind_text(s, 2, actor);
	sqlite3_bind_int(s, 3, (int)lease_seconds);
	return guarded(st, s, id, actor, "task.claimed", NULL);
}

enum store_result
store_queue_release(struct store *st, int64_t id, const char *actor,
    bool privileged)
{
	sqlite3_stmt *s = st->stmt[STMT_QUEUE_RELEASE];

	sqlite3_bind_int64(s, 1, id);
	db_bind_text(s, 2, actor);
	sqlite3_bind_int(s, 3, privileged);
	return guarded(st, s, id, actor, "task.released", NULL);
}

/* The caller of task id into out (a pseudonym), "" when no such task. */
static int
task_caller(struct store *st, int64_t id, char *out, size_t len)
{
	sqlite3_stmt *s = st->stmt[STMT_TASK_CALLER];
	int rc;

	out[0] = '\0';
	sqlite3_bind_int64(s, 1, id);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		snprintf(out, len, "%s", db_column_str(s, 0));
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* A note is sealed for the task's caller: erasing them erases it. */
static int
note_add(struct store *st, int64_t id, const char *actor, const char *text,
    int64_t *note_id)
{
	sqlite3_stmt *s = st->stmt[STMT_NOTE_ADD];
	char caller[64];
	bool found;

	if (task_caller(st, id, caller, sizeof(caller)) < 0 ||
	    caller[0] == '\0')
		return -1;
	sqlite3_bind_int64(s, 1, id);
	db_bind_text(s, 2, actor);
	if (db_bind_sealed(st, s, 3, caller, text ? text : "") < 0) {
		sqlite3_clear_bindings(s);
		return -1;
	}
	return db_step_id(s, note_id, &found) < 0 || !found ? -1 : 0;
}

enum store_result
store_queue_may_act(struct store *st, int64_t id, const char *actor,
    bool privileged)
{
	sqlite3_stmt *s = st->stmt[STMT_QUEUE_MAY_ACT];
	int rc;

	sqlite3_bind_int64(s, 1, id);
	db_bind_text(s, 2, actor);
	sqlite3_bind_int(s, 3, privileged);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc == SQLITE_ROW)
		return STORE_RESULT_OK;
	if (rc != SQLITE_DONE)
		return STORE_RESULT_ERROR;
	return why_unchanged(st, id);
}

enum store_result
store_queue_note(struct store *st, int64_t id, const char *actor,
    bool privileged, const char *text, int64_t *note_id)
{
	char why[256];
	enum store_result r;

	if (db_begin(st, why, sizeof(why)) < 0)
		return STORE_RESULT_ERROR;
	if ((r = store_queue_may_act(st, id, actor, privileged)) ==
	    STORE_RESULT_OK && (note_add(st, id, actor, text, note_id) < 0 ||
	    store_audit_write(st, actor, "task.noted", id, NULL) < 0))
		r = STORE_RESULT_ERROR;
	if (r != STORE_RESULT_OK || db_commit(st, why, sizeof(why)) < 0) {
		db_rollback(st);
		return r == STORE_RESULT_OK ? STORE_RESULT_ERROR : r;
	}
	return r;
}

int
store_queue_expire_leases(struct store *st, int64_t *count)
{
	sqlite3_stmt *s = st->stmt[STMT_QUEUE_EXPIRE];
	int64_t ids[64];
	size_t n = 0;
	char why[256];
	int rc;

	*count = 0;
	if (db_begin(st, why, sizeof(why)) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (n < sizeof(ids) / sizeof(ids[0]))
			ids[n++] = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	/* Audited after the statement is done with its rows. */
	for (size_t i = 0; rc == SQLITE_DONE && i < n; i++)
		if (store_audit_write(st, "daemon", "task.lease_expired", ids[i],
		    NULL) < 0)
			rc = SQLITE_ERROR;
	if (rc != SQLITE_DONE || db_commit(st, why, sizeof(why)) < 0) {
		db_rollback(st);
		return -1;
	}
	*count = (int64_t)n;
	return 0;
}

int
store_queue_held(struct store *st, const char *actor, int64_t *task_id)
{
	sqlite3_stmt *s = st->stmt[STMT_QUEUE_HELD];
	bool found;

	db_bind_text(s, 1, actor);
	if (db_step_id(s, task_id, &found) < 0)
		return -1;
	if (!found)
		*task_id = 0;
	return 0;
}

/* Run a guarded change to task id: OK, or why it changed nothing. */
static enum store_result
step_guarded(struct store *st, sqlite3_stmt *s, int64_t id)
{
	if (db_step_done(st, s) < 0)
		return STORE_RESULT_ERROR;
	return sqlite3_changes(st->db) > 0 ? STORE_RESULT_OK :
	    why_unchanged(st, id);
}

enum store_result
store_queue_close(struct store *st, int64_t id, const char *actor,
    bool privileged, const struct store_queue_close *c)
{
	sqlite3_stmt *s = st->stmt[STMT_QUEUE_CLOSE];

	sqlite3_bind_int64(s, 1, id);
	db_bind_text(s, 2, actor);
	sqlite3_bind_int(s, 3, privileged);
	db_bind_text(s, 4, store_outcome_name(c->outcome));
	sqlite3_bind_int(s, 5, c->count_attempt);
	sqlite3_bind_int(s, 6, c->unsafe_to_text);
	return step_guarded(st, s, id);
}

enum store_result
store_queue_retry(struct store *st, int64_t id, const char *actor,
    bool privileged, const char *retry_at)
{
	sqlite3_stmt *s = st->stmt[STMT_QUEUE_RETRY];

	sqlite3_bind_int64(s, 1, id);
	db_bind_text(s, 2, actor);
	sqlite3_bind_int(s, 3, privileged);
	db_bind_text(s, 4, retry_at);
	return step_guarded(st, s, id);
}

int
store_task_note_add(struct store *st, int64_t task_id, const char *author,
    const char *text, int64_t *note_id)
{
	return note_add(st, task_id, author, text, note_id);
}
