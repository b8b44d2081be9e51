/*
 * store_task: USSD sessions, callback tasks as the caller asked for them,
 * and reading tasks back (lists, one task, notes, statistics).
 */
#include "store.h"
#include "store_private.h"
#include "seal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

const struct store_sql store_task_sql[] = {
	/* A session id is bound to the caller who opened it: a hop naming
	 * the same session with another number updates nothing. */
	{ STMT_SESSION_UPSERT, "INSERT INTO sessions(channel, session_id, "
	    "kind, caller, msisdn, node, created_at, updated_at, ended_at, "
	    "state, offered) VALUES (?1, ?2, 'ussd', ?3, ?4, ?5, " NOW ", "
	    NOW ", CASE WHEN ?6 THEN " NOW " END, ?7, ?8) "
	    "ON CONFLICT(channel, session_id) DO UPDATE SET "
	    "hops = hops + 1, node = excluded.node, state = excluded.state, "
	    "offered = excluded.offered, updated_at = "
	    "excluded.updated_at, ended_at = COALESCE(ended_at, "
	    "excluded.ended_at) WHERE caller = excluded.caller "
	    "RETURNING id, COALESCE(task_id, 0)" },
	{ STMT_SESSION_SET_TASK, "UPDATE sessions SET task_id = ?2 "
	    "WHERE id = ?1" },
	{ STMT_USSD_SESSION_STATE, "SELECT state FROM sessions WHERE "
	    "channel = ?1 AND session_id = ?2 AND caller = ?3 AND kind = "
	    "'ussd' AND offered" },
	/* Only the caller's latest session counts: a request filed, or an
	 * END, in any session since (SMS too) closes the offer. */
	{ STMT_USSD_RESUMABLE, "SELECT state FROM (SELECT * FROM sessions "
	    "WHERE caller = ?3 ORDER BY updated_at DESC, id DESC LIMIT 1) "
	    "WHERE kind = 'ussd' AND channel = ?1 AND session_id != ?2 AND "
	    "ended_at IS NULL AND task_id IS NULL AND updated_at > strftime("
	    "'%Y-%m-%dT%H:%M:%SZ', 'now', '-' || ?4 || ' seconds')" },
	{ STMT_TASK_UPDATE_OPEN, "UPDATE tasks SET "
	    "language = COALESCE(?2, language), "
	    "topic = COALESCE(?3, topic), "
	    "safe_to_call = COALESCE(?4, safe_to_call), "
	    "safe_to_sms = COALESCE(?5, safe_to_sms), "
	    "preferred_time = COALESCE(?6, preferred_time), "
	    "verification = COALESCE(?8, verification), "
	    "priority = CASE WHEN ?7 THEN 'urgent' ELSE priority END, "
	    "alerted_at = CASE WHEN ?7 AND priority != 'urgent' THEN NULL "
	    "ELSE alerted_at END, "
	    "updated_at = " NOW " "
	    "WHERE caller = ?1 AND status != 'closed' RETURNING id" },
	{ STMT_TASK_INSERT, "INSERT INTO tasks(priority, caller, msisdn, "
	    "channel, language, topic, safe_to_call, safe_to_sms, "
	    "preferred_time, verification, created_at, updated_at) VALUES ("
	    "CASE WHEN ?1 THEN 'urgent' ELSE 'normal' END, ?2, ?3, ?4, ?5, "
	    "?6, ?7, ?8, ?9, ?10, " NOW ", " NOW ") RETURNING id" },
	{ STMT_TASKS_OPEN, "SELECT " TASK_COLUMNS " FROM tasks WHERE "
	    "status != 'closed' ORDER BY priority = 'urgent' DESC, created_at, "
	    "id" },
	{ STMT_TASKS_COUNT, "SELECT count(*) FROM tasks WHERE status = ?1" },
	{ STMT_TASK_GET, "SELECT " TASK_COLUMNS " FROM tasks WHERE id = ?1" },
	{ STMT_TASK_VERIFICATION, "SELECT COALESCE(verification, ''), "
	    "caller FROM tasks WHERE id = ?1" },
	/* Keyset paging in queue order: rows added later never shift a
	 * page already read. */
	{ STMT_TASK_PAGE, "SELECT " TASK_COLUMNS " FROM tasks WHERE "
	    "CASE ?1 WHEN 'all' THEN 1 WHEN 'open' THEN status != 'closed' "
	    "ELSE status = ?1 END AND (CASE priority WHEN 'urgent' THEN 0 "
	    "ELSE 1 END, created_at, id) > (?2, ?3, ?4) ORDER BY priority = "
	    "'urgent' DESC, created_at, id LIMIT ?5" },
	{ STMT_TASK_NOTES, "SELECT n.id, n.author, n.text, n.created_at, "
	    "t.caller FROM task_notes n JOIN tasks t ON t.id = n.task_id "
	    "WHERE n.task_id = ?1 ORDER BY n.id" },
	{ STMT_TASK_CALLER, "SELECT caller FROM tasks WHERE id = ?1" },
	{ STMT_STAT_OPEN_URGENT, "SELECT count(*) FROM tasks WHERE status != "
	    "'closed' AND priority = 'urgent'" },
	{ STMT_STAT_OPEN_NORMAL, "SELECT count(*) FROM tasks WHERE status != "
	    "'closed' AND priority = 'normal'" },
	{ STMT_STAT_OLDEST_PENDING, "SELECT COALESCE(CAST(strftime('%s', "
	    "'now') - strftime('%s', min(created_at)) AS INTEGER), -1) FROM "
	    "tasks WHERE status = 'pending'" },
	{ STMT_STAT_MEDIAN_FIRST_CALL, "SELECT COALESCE((SELECT d FROM "
	    "(SELECT strftime('%s', first_completed_at) - strftime('%s', "
	    "created_at) AS d FROM tasks WHERE first_completed_at IS NOT NULL "
	    "ORDER BY d) LIMIT 1 OFFSET (SELECT (count(*) - 1) / 2 FROM tasks "
	    "WHERE first_completed_at IS NOT NULL)), -1)" },
	/* An erasure writes one caller.erased row, not one per task: its
	 * tasks are counted by their closing time. */
	{ STMT_OUTCOMES_SINCE, "SELECT CASE ?1 WHEN 'erased' THEN (SELECT "
	    "count(*) FROM tasks WHERE status = 'closed' AND outcome = "
	    "'erased' AND closed_at >= strftime('%Y-%m-%dT%H:%M:%SZ', ?2, "
	    "'unixepoch')) ELSE (SELECT count(*) FROM audit WHERE action = "
	    "'task.completed' AND detail = ?1 AND at >= strftime("
	    "'%Y-%m-%dT%H:%M:%SZ', ?2, 'unixepoch')) END" },
	{ STMT_COUNT_, NULL },
};

static int
store_task_upsert(struct store *st, const struct store_task_request *t,
    int64_t *id, enum store_task_change *change)
{
	sqlite3_stmt *s = st->stmt[STMT_TASK_UPDATE_OPEN];
	/* No word chosen (NULL or ""): the one chosen before stays. */
	const char *word = t->verification != NULL &&
	    t->verification[0] != '\0' ? t->verification : NULL;
	bool found;

	db_bind_text(s, 1, t->caller);
	db_bind_text(s, 2, t->language);
	db_bind_text(s, 3, t->topic);
	db_bind_answer(s, 4, t->safe_to_call);
	db_bind_answer(s, 5, t->safe_to_sms);
	db_bind_text(s, 6, t->preferred_time);
	sqlite3_bind_int(s, 7, t->urgent);
	if (db_bind_sealed(st, s, 8, t->caller, word) < 0) {
		sqlite3_clear_bindings(s);
		return -1;
	}
	if (db_step_id(s, id, &found) < 0)
		return -1;
	if (found) {
		*change = STORE_TASK_UPDATED;
		return 0;
	}
	s = st->stmt[STMT_TASK_INSERT];
	sqlite3_bind_int(s, 1, t->urgent);
	db_bind_text(s, 2, t->caller);
	if (db_bind_sealed(st, s, 3, t->caller, t->msisdn) < 0) {
		sqlite3_clear_bindings(s);
		return -1;
	}
	db_bind_text(s, 4, t->channel);
	db_bind_text(s, 5, t->language);
	db_bind_text(s, 6, t->topic);
	db_bind_answer(s, 7, t->safe_to_call);
	db_bind_answer(s, 8, t->safe_to_sms);
	db_bind_text(s, 9, t->preferred_time);
	if (db_bind_sealed(st, s, 10, t->caller, word) < 0) {
		sqlite3_clear_bindings(s);
		return -1;
	}
	if (db_step_id(s, id, &found) < 0 || !found)
		return -1;
	*change = STORE_TASK_CREATED;
	return 0;
}

enum store_result
store_ussd_hop(struct store *st, const struct store_ussd_hop *hop,
    struct store_hop_result *res, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[STMT_SESSION_UPSERT];
	int64_t session_row = 0;
	char actor[64];
	int rc;

	res->task_id = 0;
	res->change = STORE_TASK_NONE;
	if (db_begin(st, err, errlen) < 0)
		return STORE_RESULT_ERROR;

	db_bind_text(s, 1, hop->channel);
	db_bind_text(s, 2, hop->session_id);
	db_bind_text(s, 3, hop->caller);
	db_bind_text(s, 5, hop->node);
	sqlite3_bind_int(s, 6, hop->ended);
	sqlite3_bind_int(s, 8, hop->offered);
	/* The number and the menu's answers so far are sealed.  The number
	 * is only ever inserted: a later hop's copy would be sealed for
	 * nothing (a session first stored by a later hop, its first lost,
	 * keeps none; the task has its own). */
	if (!hop->first)
		sqlite3_bind_text(s, 4, "", 0, SQLITE_STATIC);
	rc = (hop->first &&
	    db_bind_sealed(st, s, 4, hop->caller, hop->msisdn) < 0) ||
	    db_bind_sealed(st, s, 7, hop->caller, hop->state) < 0 ?
	    SQLITE_ERROR : sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		session_row = sqlite3_column_int64(s, 0);
		res->task_id = sqlite3_column_int64(s, 1);
		rc = sqlite3_step(s);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE) {
		db_error(st, "recording session", err, errlen);
		goto fail;
	}
	if (session_row == 0) {
		db_rollback(st);
		snprintf(err, errlen, "session id already belongs to another "
		    "caller");
		return STORE_RESULT_CONFLICT;
	}
	snprintf(actor, sizeof(actor), "ussd:%s", hop->channel);
	if (hop->first && store_caller_contacted(st, hop->caller, actor) < 0) {
		db_error(st, "clearing do-not-contact", err, errlen);
		goto fail;
	}

	if (hop->task != NULL && res->task_id == 0) {
		if (store_task_upsert(st, hop->task, &res->task_id, &res->change) <
		    0) {
			db_error(st, "recording task", err, errlen);
			goto fail;
		}
		s = st->stmt[STMT_SESSION_SET_TASK];
		sqlite3_bind_int64(s, 1, session_row);
		sqlite3_bind_int64(s, 2, res->task_id);
		if (db_step_done(st, s) < 0 ||
		    store_audit_write(st, actor, res->change == STORE_TASK_CREATED ?
		    "task.created" : "task.updated", res->task_id,
		    hop->task->urgent ? "urgent" : NULL) < 0) {
			db_error(st, "linking task", err, errlen);
			goto fail;
		}
	}
	if (db_commit(st, err, errlen) < 0) {
		res->change = STORE_TASK_NONE;
		return STORE_RESULT_ERROR;
	}
	return STORE_RESULT_OK;
fail:
	db_rollback(st);
	res->change = STORE_TASK_NONE;
	return STORE_RESULT_ERROR;
}

int
store_ussd_session_state(struct store *st, const char *channel,
    const char *session_id, const char *caller, char **state)
{
	sqlite3_stmt *s = st->stmt[STMT_USSD_SESSION_STATE];

	db_bind_text(s, 1, channel);
	db_bind_text(s, 2, session_id);
	db_bind_text(s, 3, caller);
	return db_first_opened(st, s, caller, state);
}

int
store_ussd_resumable(struct store *st, const char *channel,
    const char *session_id, const char *caller, unsigned seconds,
    char **state)
{
	sqlite3_stmt *s = st->stmt[STMT_USSD_RESUMABLE];

	db_bind_text(s, 1, channel);
	db_bind_text(s, 2, session_id);
	db_bind_text(s, 3, caller);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)seconds);
	return db_first_opened(st, s, caller, state);
}

int
store_task_save(struct store *st, const struct store_task_request *req,
    int64_t *task_id, enum store_task_change *change)
{
	char actor[64];

	if (store_task_upsert(st, req, task_id, change) < 0)
		return -1;
	snprintf(actor, sizeof(actor), "sms:%s", req->channel);
	return store_audit_write(st, actor, *change == STORE_TASK_CREATED ?
	    "task.created" : "task.updated", *task_id, req->urgent ?
	    "urgent" : NULL);
}

static char *store_task_from_row(struct store *st, sqlite3_stmt *s,
    struct store_task *t, bool number);

int
store_tasks_open_foreach(struct store *st, bool numbers, store_task_cb cb,
    void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[STMT_TASKS_OPEN];
	int rc, ret = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_task t;
		char *msisdn = store_task_from_row(st, s, &t, numbers);

		ret = cb(&t, arg);
		seal_free(msisdn, 0);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		db_error(st, "listing tasks", err, errlen);
		ret = -1;
	}
	sqlite3_reset(s);
	return ret;
}

static const char *const status_names[] = {
	[STORE_TASK_PENDING] = "pending",
	[STORE_TASK_CLAIMED] = "claimed",
	[STORE_TASK_CLOSED] = "closed",
};

static const char *const outcome_names[] = {
	[STORE_OUTCOME_REACHED] = "reached",
	[STORE_OUTCOME_NO_ANSWER] = "no_answer",
	[STORE_OUTCOME_WRONG_NUMBER] = "wrong_number",
	[STORE_OUTCOME_UNSAFE] = "unsafe",
	[STORE_OUTCOME_UNREACHED] = "unreached",
	[STORE_OUTCOME_ERASED] = "erased",
};

const char *
store_task_status_name(enum store_task_status status)
{
	return (unsigned)status < STORE_TASK_STATUS_COUNT ?
	    status_names[status] : "unknown";
}

const char *
store_outcome_name(enum store_outcome outcome)
{
	return (unsigned)outcome < STORE_OUTCOME_COUNT ?
	    outcome_names[outcome] : "unknown";
}

int
store_outcome_parse(const char *name, enum store_outcome *outcome)
{
	for (int i = 0; name != NULL && i < STORE_OUTCOME_COUNT; i++)
		if (strcmp(name, outcome_names[i]) == 0) {
			*outcome = (enum store_outcome)i;
			return 0;
		}
	return -1;
}

int
store_tasks_count(struct store *st, enum store_task_status status,
    int64_t *count, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[STMT_TASKS_COUNT];
	bool found;

	db_bind_text(s, 1, store_task_status_name(status));
	if (db_step_id(s, count, &found) < 0 || !found) {
		db_error(st, "counting tasks", err, errlen);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Counsellor API: the queue                                           */

/* A task row, its number opened unless number is false: the opened
 * copy is returned for seal_free once the callback is done with t (NULL
 * when erased or not asked for). */
static char *
store_task_from_row(struct store *st, sqlite3_stmt *s, struct store_task *t,
    bool number)
{
	char *msisdn;

	*t = (struct store_task){
		.id = sqlite3_column_int64(s, 0),
		.urgent = strcmp(db_column_str(s, 2), "urgent") == 0,
		.caller = db_column_str(s, 3),
		.channel = db_column_str(s, 5),
		.language = db_column_str(s, 6),
		.topic = db_column_str(s, 7),
		.safe_to_call = db_column_answer(s, 8),
		.safe_to_sms = db_column_answer(s, 9),
		.preferred_time = db_column_str(s, 10),
		.created_at = db_column_str(s, 11),
		.updated_at = db_column_str(s, 12),
		.claimed_by = db_column_str(s, 13),
		.attempts = sqlite3_column_int(s, 14),
		.lease_expires_at = db_column_str(s, 15),
		.retry_at = db_column_str(s, 16),
		.closed_at = db_column_str(s, 18),
		.priority_rank = sqlite3_column_int(s, 19),
		.do_not_contact = sqlite3_column_int(s, 20) != 0,
	};
	/* The schema's CHECK allows only these. */
	for (int i = 0; i < STORE_TASK_STATUS_COUNT; i++)
		if (strcmp(db_column_str(s, 1), status_names[i]) == 0)
			t->status = (enum store_task_status)i;
	t->has_outcome = store_outcome_parse(db_column_str(s, 17),
	    &t->outcome) == 0;
	msisdn = number ? db_column_open(st, s, 4, t->caller) : NULL;
	t->msisdn = msisdn;
	return msisdn;
}

enum store_result
store_task_get(struct store *st, int64_t id, store_task_cb cb, void *arg)
{
	sqlite3_stmt *s = st->stmt[STMT_TASK_GET];
	enum store_result r = STORE_RESULT_NOT_FOUND;
	struct store_task t;
	int rc;

	sqlite3_bind_int64(s, 1, id);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		char *msisdn = store_task_from_row(st, s, &t, true);

		r = cb(&t, arg) == 0 ? STORE_RESULT_OK : STORE_RESULT_ERROR;
		seal_free(msisdn, 0);
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? r : STORE_RESULT_ERROR;
}

int
store_task_verification(struct store *st, int64_t id, char *out,
    size_t outlen)
{
	sqlite3_stmt *s = st->stmt[STMT_TASK_VERIFICATION];
	int rc, ret = -1;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	sqlite3_bind_int64(s, 1, id);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		/* Sealed for the task's caller; none (or erased): "". */
		char *w = db_column_open(st, s, 0, db_column_str(s, 1));

		/* A word that does not fit is not shown cut: a counsellor
		 * saying half a word would alarm the caller. */
		if (w == NULL)
			ret = 0;
		else if (strlen(w) < outlen) {
			memcpy(out, w, strlen(w) + 1);
			ret = 0;
		}
		seal_free(w, 0);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}

int
store_task_page(struct store *st, enum store_task_filter filter,
    const struct store_task_cursor *after, size_t limit, store_task_cb cb,
    void *arg)
{
	sqlite3_stmt *s = st->stmt[STMT_TASK_PAGE];
	struct store_task t;
	int rc, ret = 0;

	static const char *const filter_names[] = {
		[STORE_TASKS_OPEN] = "open",
		[STORE_TASKS_ALL] = "all",
		[STORE_TASKS_PENDING] = "pending",
		[STORE_TASKS_CLAIMED] = "claimed",
		[STORE_TASKS_CLOSED] = "closed",
	};

	db_bind_text(s, 1, filter_names[filter]);
	sqlite3_bind_int(s, 2, after ? after->rank : -1);
	sqlite3_bind_text(s, 3, after ? after->created_at : "", -1,
	    SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 4, after ? after->id : 0);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		char *msisdn = store_task_from_row(st, s, &t, true);

		ret = cb(&t, arg);
		seal_free(msisdn, 0);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -1;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}

int
store_task_notes(struct store *st, int64_t task_id, store_note_cb cb,
    void *arg)
{
	sqlite3_stmt *s = st->stmt[STMT_TASK_NOTES];
	int rc, ret = 0;

	sqlite3_bind_int64(s, 1, task_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		/* An erased caller's note reads as "". */
		char *text = db_column_open(st, s, 2, db_column_str(s, 4));

		ret = cb(sqlite3_column_int64(s, 0), db_column_str(s, 1),
		    text ? text : "", db_column_str(s, 3), arg);
		seal_free(text, 0);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -1;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}

int
store_stat(struct store *st, enum store_stat which, int64_t *value)
{
	static const enum stmt stat_stmt[] = {
		[STORE_STAT_OPEN_URGENT] = STMT_STAT_OPEN_URGENT,
		[STORE_STAT_OPEN_NORMAL] = STMT_STAT_OPEN_NORMAL,
		[STORE_STAT_OLDEST_PENDING_SECONDS] = STMT_STAT_OLDEST_PENDING,
		[STORE_STAT_MEDIAN_FIRST_CALL_SECONDS] =
		    STMT_STAT_MEDIAN_FIRST_CALL,
	};

	return db_count(st->stmt[stat_stmt[which]], value);
}

int
store_outcomes_since(struct store *st, enum store_outcome outcome,
    double day_start, int64_t *count)
{
	sqlite3_stmt *s = st->stmt[STMT_OUTCOMES_SINCE];

	db_bind_text(s, 1, store_outcome_name(outcome));
	sqlite3_bind_double(s, 2, day_start);
	return db_count(s, count);
}
