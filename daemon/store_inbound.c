/*
 * store_inbound: inbound SMS (whole, and the parts of a concatenated one),
 * the SMS conversation state, and opt-outs.
 */
#include "store.h"
#include "store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

const struct store_sql store_inbound_sql[] = {
	/* An opt-out stops what was queued before it too. */
	/* The caller wrote or dialled: they made contact themselves, so a
	 * counsellor's "unsafe" no longer stands (their answers still do). */
	{ STMT_UNSAFE_CLEAR, "DELETE FROM unsafe_callers WHERE caller = ?1 "
	    "RETURNING task_id" },
	{ STMT_OUTBOUND_CANCEL, "UPDATE outbound SET status = 'failed', "
	    "last_error = 'opted_out', updated_at = " NOW " WHERE msisdn = ?1 "
	    "AND status = 'pending' AND purpose != 'opt_out_confirmation'" },
	/* A retried webhook hits the unique key and inserts nothing: no
	 * RETURNING row is how a duplicate is told apart. */
	{ STMT_INBOUND_INSERT, "INSERT INTO inbound(channel, "
	    "provider_msg_id, caller, msisdn, body, received_at, stored_at, "
	    "task_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, " NOW ", (SELECT id "
	    "FROM tasks WHERE msisdn = ?4 AND status != 'closed')) "
	    "ON CONFLICT(channel, provider_msg_id) DO NOTHING RETURNING id" },
	/* A part is kept, but never processed on its own. */
	{ STMT_INBOUND_PART_INSERT, "INSERT INTO inbound(channel, "
	    "provider_msg_id, caller, msisdn, body, received_at, stored_at, "
	    "processed_at, concat_ref, concat_part, concat_total) VALUES (?1, "
	    "?2, ?3, ?4, ?5, ?6, " NOW ", " NOW ", ?7, ?8, ?9) "
	    "ON CONFLICT(channel, provider_msg_id) DO NOTHING RETURNING id" },
	/* Once every part not yet joined is in, the whole message, in part
	 * order, under an id of its own (phones reuse references, so a part
	 * joins once).  A part repeated under another id counts once.
	 * (SQLite 3.40 has no ORDER BY inside group_concat; it concatenates
	 * in the subquery's order, which the test with reversed parts
	 * checks.) */
	{ STMT_INBOUND_JOIN, "INSERT INTO inbound(channel, provider_msg_id, "
	    "caller, msisdn, body, received_at, stored_at, task_id) "
	    "SELECT ?1, 'joined:' || min(id), ?4, ?3, group_concat(body, ''), "
	    "min(received_at), " NOW ", (SELECT id FROM tasks WHERE msisdn = "
	    "?3 AND status != 'closed') FROM (SELECT min(id) AS id, "
	    "concat_part, body, received_at FROM inbound WHERE channel = ?1 "
	    "AND msisdn = ?3 AND concat_ref = ?2 AND joined_id IS NULL GROUP "
	    "BY concat_part ORDER BY concat_part) HAVING count(*) = ?5 "
	    "ON CONFLICT(channel, provider_msg_id) DO NOTHING RETURNING id" },
	{ STMT_INBOUND_JOINED, "UPDATE inbound SET joined_id = ?4 WHERE "
	    "channel = ?1 AND msisdn = ?3 AND concat_ref = ?2 AND joined_id IS "
	    "NULL" },
	{ STMT_INBOUND_UNPROCESSED, "SELECT id, channel, caller, msisdn, "
	    "body, COALESCE(task_id, 0) FROM inbound WHERE processed_at IS "
	    "NULL ORDER BY id LIMIT ?1" },
	{ STMT_INBOUND_PROCESSED, "UPDATE inbound SET processed_at = " NOW
	    " WHERE id = ?1" },
	/* Counted up to a cap: a flood of thousands costs no more to check
	 * than the threshold it crosses. */
	{ STMT_INBOUND_RECENT, "SELECT count(*) FROM (SELECT 1 FROM inbound "
	    "WHERE msisdn = ?1 AND stored_at > strftime('%Y-%m-%dT%H:%M:%SZ', "
	    "'now', '-' || ?2 || ' seconds') AND concat_ref IS NULL LIMIT "
	    "?3)" },
	{ STMT_INBOUND_FLAG, "UPDATE inbound SET flags = flags | ?2 WHERE "
	    "id = ?1" },
	{ STMT_INBOUND_REDACT, "UPDATE inbound SET body = '', flags = "
	    "flags | ?2 WHERE id = ?1" },
	{ STMT_SMS_SESSION_GET, "SELECT state FROM sessions WHERE "
	    "channel = ?1 AND session_id = ?2 AND ended_at IS NULL AND "
	    "updated_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-' || ?3 "
	    "|| ' seconds')" },
	/* One SMS session row per caller and channel, reused: the id is
	 * derived from the pseudonym, never the number. */
	{ STMT_SMS_SESSION_PUT, "INSERT INTO sessions(channel, session_id, "
	    "kind, caller, msisdn, node, state, created_at, updated_at, "
	    "ended_at) VALUES (?1, ?2, 'sms', ?3, ?4, ?5, ?6, " NOW ", " NOW
	    ", CASE WHEN ?7 THEN " NOW " END) ON CONFLICT(channel, "
	    "session_id) DO UPDATE SET hops = hops + 1, node = excluded.node, "
	    "state = excluded.state, updated_at = excluded.updated_at, "
	    "ended_at = excluded.ended_at" },
	/* By the number, or by the pseudonym alone once the caller was
	 * erased (store_caller_erase). */
	{ STMT_OPTOUT_GET, "SELECT max(confirmation_sent) FROM optouts WHERE "
	    "msisdn IN (?1, ?2) HAVING count(*) > 0" },
	{ STMT_OPTOUT_SET, "INSERT INTO optouts(msisdn, caller, "
	    "opted_out_at) VALUES (?1, ?2, " NOW ") ON CONFLICT(msisdn) DO "
	    "NOTHING" },
	{ STMT_OPTOUT_CLEAR, "DELETE FROM optouts WHERE msisdn IN (?1, ?2)" },
	{ STMT_OPTOUT_CONFIRMED, "UPDATE optouts SET confirmation_sent = 1 "
	    "WHERE msisdn IN (?1, ?2)" },
	/* Parts of a concatenated SMS are shown joined, once; a
	 * verification word (flag 4, STORE_INBOUND_REDACTED) never. */
	{ STMT_CALLER_MESSAGES, "SELECT 'in', body, stored_at, NULL, id "
	    "FROM inbound WHERE msisdn = ?1 AND concat_ref IS NULL AND "
	    "flags & 4 = 0 UNION ALL "
	    "SELECT 'out', body, created_at, status, id FROM outbound WHERE "
	    "msisdn = ?1 ORDER BY 3, 1, 5" },
	{ STMT_COUNT_, NULL },
};

static int inbound_part(struct store *, const struct store_inbound *, bool *);

/* A new message (a retry is not one) is the caller making contact. */
static int
contacted(struct store *st, const struct store_inbound *m)
{
	char via[80];

	snprintf(via, sizeof(via), "sms:%s", m->channel);
	return store_caller_contacted(st, m->caller, via);
}

int
store_inbound_batch(struct store *st, const struct store_inbound *msgs,
    size_t count, enum store_inbound_result *results, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = st->stmt[STMT_INBOUND_INSERT];

	if (db_begin(st, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		const struct store_inbound *m = &msgs[i];
		int64_t id;
		bool inserted;

		if (m->concat_total > 1) {
			if (inbound_part(st, m, &inserted) < 0) {
				db_error(st, "storing message part", err,
				    errlen);
				db_rollback(st);
				return -1;
			}
			results[i] = inserted ? STORE_INBOUND_NEW :
			    STORE_INBOUND_DUPLICATE;
			if (inserted && contacted(st, m) < 0) {
				db_error(st, "clearing do-not-contact", err,
				    errlen);
				db_rollback(st);
				return -1;
			}
			continue;
		}
		sqlite3_bind_text(s, 1, m->channel, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 2, m->provider_msg_id, -1,
		    SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 3, m->caller, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 4, m->msisdn, -1, SQLITE_TRANSIENT);
		/* The body may be empty, never NULL. */
		sqlite3_bind_text(s, 5, m->body, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 6, m->received_at ? m->received_at : "",
		    -1, SQLITE_TRANSIENT);
		if (db_step_id(s, &id, &inserted) < 0) {
			db_error(st, "storing inbound message", err, errlen);
			db_rollback(st);
			return -1;
		}
		results[i] = inserted ? STORE_INBOUND_NEW :
		    STORE_INBOUND_DUPLICATE;
		if (inserted && contacted(st, m) < 0) {
			db_error(st, "clearing do-not-contact", err, errlen);
			db_rollback(st);
			return -1;
		}
	}
	return db_commit(st, err, errlen);
}

/* A part: its own row, then the joined message if it was the last. */
static int
inbound_part(struct store *st, const struct store_inbound *m, bool *inserted)
{
	sqlite3_stmt *s = st->stmt[STMT_INBOUND_PART_INSERT];
	int64_t id;
	bool joined;

	db_bind_text(s, 1, m->channel);
	db_bind_text(s, 2, m->provider_msg_id);
	db_bind_text(s, 3, m->caller);
	db_bind_text(s, 4, m->msisdn);
	sqlite3_bind_text(s, 5, m->body, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 6, m->received_at ? m->received_at : "", -1,
	    SQLITE_TRANSIENT);
	db_bind_text(s, 7, m->concat_ref);
	sqlite3_bind_int(s, 8, (int)m->concat_part);
	sqlite3_bind_int(s, 9, (int)m->concat_total);
	if (db_step_id(s, &id, inserted) < 0)
		return -1;
	if (!*inserted)
		return 0;
	s = st->stmt[STMT_INBOUND_JOIN];
	db_bind_text(s, 1, m->channel);
	db_bind_text(s, 2, m->concat_ref);
	db_bind_text(s, 3, m->msisdn);
	db_bind_text(s, 4, m->caller);
	sqlite3_bind_int(s, 5, (int)m->concat_total);
	if (db_step_id(s, &id, &joined) < 0)
		return -1;
	if (!joined)
		return 0;
	s = st->stmt[STMT_INBOUND_JOINED];
	db_bind_text(s, 1, m->channel);
	db_bind_text(s, 2, m->concat_ref);
	db_bind_text(s, 3, m->msisdn);
	sqlite3_bind_int64(s, 4, id);
	return db_step_done(st, s);
}

int
store_inbound_unprocessed(struct store *st, size_t limit,
    store_unprocessed_cb cb, void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[STMT_INBOUND_UNPROCESSED];
	int rc, ret = 0;

	sqlite3_bind_int64(s, 1, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_unprocessed m = {
			.id = sqlite3_column_int64(s, 0),
			.channel = (const char *)sqlite3_column_text(s, 1),
			.caller = (const char *)sqlite3_column_text(s, 2),
			.msisdn = (const char *)sqlite3_column_text(s, 3),
			.body = (const char *)sqlite3_column_text(s, 4),
			.task_id = sqlite3_column_int64(s, 5),
		};

		if ((ret = cb(&m, arg)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		db_error(st, "reading unprocessed messages", err, errlen);
		ret = -1;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}

int
store_inbound_mark_processed(struct store *st, int64_t id)
{
	sqlite3_bind_int64(st->stmt[STMT_INBOUND_PROCESSED], 1, id);
	return db_step_done(st, st->stmt[STMT_INBOUND_PROCESSED]);
}

int
store_inbound_recent(struct store *st, const char *msisdn, unsigned seconds,
    int64_t cap, int64_t *count)
{
	sqlite3_stmt *s = st->stmt[STMT_INBOUND_RECENT];

	db_bind_text(s, 1, msisdn);
	sqlite3_bind_int(s, 2, (int)seconds);
	sqlite3_bind_int64(s, 3, cap);
	return db_count(s, count);
}

int
store_inbound_flag(struct store *st, int64_t id, int flags)
{
	sqlite3_bind_int64(st->stmt[STMT_INBOUND_FLAG], 1, id);
	sqlite3_bind_int(st->stmt[STMT_INBOUND_FLAG], 2, flags);
	return db_step_done(st, st->stmt[STMT_INBOUND_FLAG]);
}

int
store_inbound_redact(struct store *st, int64_t id)
{
	sqlite3_bind_int64(st->stmt[STMT_INBOUND_REDACT], 1, id);
	sqlite3_bind_int(st->stmt[STMT_INBOUND_REDACT], 2,
	    STORE_INBOUND_REDACTED);
	return db_step_done(st, st->stmt[STMT_INBOUND_REDACT]);
}

static void
sms_session_id(char *out, size_t outlen, const char *caller)
{
	snprintf(out, outlen, "sms:%s", caller);
}

int
store_sms_session_get(struct store *st, const char *channel,
    const char *caller, unsigned idle, char **state)
{
	sqlite3_stmt *s = st->stmt[STMT_SMS_SESSION_GET];
	char sid[64];
	int rc;

	*state = NULL;
	sms_session_id(sid, sizeof(sid), caller);
	db_bind_text(s, 1, channel);
	db_bind_text(s, 2, sid);
	sqlite3_bind_int(s, 3, (int)idle);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL &&
	    (*state = strdup((const char *)sqlite3_column_text(s, 0))) ==
	    NULL)
		rc = SQLITE_NOMEM;
	else if (rc == SQLITE_ROW)
		rc = SQLITE_DONE;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
store_sms_session_put(struct store *st, const char *channel,
    const char *caller, const char *msisdn, const char *node,
    const char *state, bool ended)
{
	sqlite3_stmt *s = st->stmt[STMT_SMS_SESSION_PUT];
	char sid[64];

	sms_session_id(sid, sizeof(sid), caller);
	db_bind_text(s, 1, channel);
	db_bind_text(s, 2, sid);
	db_bind_text(s, 3, caller);
	db_bind_text(s, 4, msisdn);
	db_bind_text(s, 5, node);
	db_bind_text(s, 6, state);
	sqlite3_bind_int(s, 7, ended);
	return db_step_done(st, s);
}

int
store_optout_get(struct store *st, const char *msisdn, const char *caller,
    bool *opted_out, bool *confirmed)
{
	sqlite3_stmt *s = st->stmt[STMT_OPTOUT_GET];
	int64_t sent = 0;

	db_bind_text(s, 1, msisdn);
	db_bind_text(s, 2, caller);
	if (db_step_id(s, &sent, opted_out) < 0)
		return -1;
	*confirmed = *opted_out && sent != 0;
	return 0;
}

int
store_optout_set(struct store *st, const char *msisdn, const char *caller,
    bool opted_out)
{
	sqlite3_stmt *s = st->stmt[opted_out ? STMT_OPTOUT_SET :
	    STMT_OPTOUT_CLEAR];

	db_bind_text(s, 1, msisdn);
	db_bind_text(s, 2, caller);
	if (db_step_done(st, s) < 0)
		return -1;
	if (!opted_out)
		return 0;
	db_bind_text(st->stmt[STMT_OUTBOUND_CANCEL], 1, msisdn);
	return db_step_done(st, st->stmt[STMT_OUTBOUND_CANCEL]);
}

int
store_caller_contacted(struct store *st, const char *caller, const char *via)
{
	sqlite3_stmt *s = st->stmt[STMT_UNSAFE_CLEAR];
	int64_t task_id = 0;
	bool found;

	db_bind_text(s, 1, caller);
	if (db_step_id(s, &task_id, &found) < 0)
		return -1;
	/* Supervisors can see when and how a do-not-contact mark went; the
	 * row names the pseudonym only. */
	return found ? store_audit_write(st, via, "caller.contacted",
	    task_id, caller) : 0;
}

int
store_optout_confirmed(struct store *st, const char *msisdn,
    const char *caller)
{
	db_bind_text(st->stmt[STMT_OPTOUT_CONFIRMED], 1, msisdn);
	db_bind_text(st->stmt[STMT_OPTOUT_CONFIRMED], 2, caller);
	return db_step_done(st, st->stmt[STMT_OPTOUT_CONFIRMED]);
}

int
store_caller_messages(struct store *st, const char *msisdn,
    store_message_cb cb, void *arg)
{
	sqlite3_stmt *s = st->stmt[STMT_CALLER_MESSAGES];
	int rc, ret = 0;

	/* Erased rows all hold "": they are nobody's history. */
	if (msisdn == NULL || msisdn[0] == '\0')
		return 0;
	db_bind_text(s, 1, msisdn);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = cb(db_column_str(s, 0), db_column_str(s, 1),
		    db_column_str(s, 2), db_column_str(s, 3), arg)) != 0)
			break;
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -1;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}
