/*
 * store_inbound: inbound SMS (whole, and the parts of a concatenated one),
 * the SMS conversation state, and opt-outs.
 */
#include "store.h"
#include "store_private.h"
#include "seal.h"

#include <inttypes.h>

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
	    "last_error = 'opted_out', updated_at = " NOW " WHERE caller = ?1 "
	    "AND status = 'pending' AND purpose != 'opt_out_confirmation'" },
	/* A retried webhook hits the unique key and inserts nothing: no
	 * RETURNING row is how a duplicate is told apart.  Number and body
	 * come sealed; the caller's open task is found by pseudonym. */
	{ STMT_INBOUND_INSERT, "INSERT INTO inbound(channel, "
	    "provider_msg_id, caller, msisdn, body, received_at, stored_at, "
	    "task_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, " NOW ", (SELECT id "
	    "FROM tasks WHERE caller = ?3 AND status != 'closed')) "
	    "ON CONFLICT(channel, provider_msg_id) DO NOTHING RETURNING id" },
	/* A part is kept, but never processed on its own. */
	{ STMT_INBOUND_PART_INSERT, "INSERT INTO inbound(channel, "
	    "provider_msg_id, caller, msisdn, body, received_at, stored_at, "
	    "processed_at, concat_ref, concat_part, concat_total) VALUES (?1, "
	    "?2, ?3, ?4, ?5, ?6, " NOW ", " NOW ", ?7, ?8, ?9) "
	    "ON CONFLICT(channel, provider_msg_id) DO NOTHING RETURNING id" },
	/* The parts not yet joined, one row per part number (a part
	 * repeated under another id counts once: the first), in order.
	 * Their bodies are sealed, so the joining is done in C. */
	{ STMT_INBOUND_PARTS, "SELECT min(id), concat_part, body, "
	    "received_at FROM inbound WHERE channel = ?1 AND caller = ?2 AND "
	    "concat_ref = ?3 AND joined_id IS NULL GROUP BY concat_part "
	    "ORDER BY concat_part" },
	/* The whole message, under an id of its own (phones reuse
	 * references, so a part joins once). */
	{ STMT_INBOUND_JOIN, "INSERT INTO inbound(channel, provider_msg_id, "
	    "caller, msisdn, body, received_at, stored_at, task_id) VALUES ("
	    "?1, ?2, ?3, ?4, ?5, ?6, " NOW ", (SELECT id FROM tasks WHERE "
	    "caller = ?3 AND status != 'closed')) ON CONFLICT(channel, "
	    "provider_msg_id) DO NOTHING RETURNING id" },
	{ STMT_INBOUND_JOINED, "UPDATE inbound SET joined_id = ?4 WHERE "
	    "channel = ?1 AND caller = ?3 AND concat_ref = ?2 AND joined_id IS "
	    "NULL" },
	{ STMT_INBOUND_UNPROCESSED, "SELECT id, channel, caller, msisdn, "
	    "body, COALESCE(task_id, 0) FROM inbound WHERE processed_at IS "
	    "NULL ORDER BY id LIMIT ?1" },
	{ STMT_INBOUND_PROCESSED, "UPDATE inbound SET processed_at = " NOW
	    " WHERE id = ?1" },
	/* Counted up to a cap: a flood of thousands costs no more to check
	 * than the threshold it crosses. */
	{ STMT_INBOUND_RECENT, "SELECT count(*) FROM (SELECT 1 FROM inbound "
	    "WHERE caller = ?1 AND stored_at > strftime('%Y-%m-%dT%H:%M:%SZ', "
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
	/* Opt-outs are kept by pseudonym only: no number. */
	{ STMT_OPTOUT_GET, "SELECT confirmation_sent FROM optouts WHERE "
	    "caller = ?1" },
	{ STMT_OPTOUT_SET, "INSERT INTO optouts(caller, opted_out_at) "
	    "VALUES (?1, " NOW ") ON CONFLICT(caller) DO NOTHING" },
	{ STMT_OPTOUT_CLEAR, "DELETE FROM optouts WHERE caller = ?1" },
	{ STMT_OPTOUT_CONFIRMED, "UPDATE optouts SET confirmation_sent = 1 "
	    "WHERE caller = ?1" },
	/* Parts of a concatenated SMS are shown joined, once; a
	 * verification word (flag 4, STORE_INBOUND_REDACTED) never. */
	{ STMT_CALLER_MESSAGES, "SELECT 'in', body, stored_at, NULL, id "
	    "FROM inbound WHERE caller = ?1 AND concat_ref IS NULL AND "
	    "flags & 4 = 0 UNION ALL "
	    "SELECT 'out', body, created_at, status, id FROM outbound WHERE "
	    "caller = ?1 ORDER BY 3, 1, 5" },
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
		sqlite3_bind_text(s, 6, m->received_at ? m->received_at : "",
		    -1, SQLITE_TRANSIENT);
		/* The body may be empty, never NULL. */
		if (db_bind_sealed(st, s, 4, m->caller, m->msisdn) < 0 ||
		    db_bind_sealed(st, s, 5, m->caller, m->body ? m->body :
		    "") < 0) {
			sqlite3_clear_bindings(s);
			snprintf(err, errlen, "cannot seal an inbound message");
			db_rollback(st);
			return -1;
		}
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

/* The parts of m's message not yet joined, opened and concatenated in
 * part order, when all m->concat_total are in: *joined malloc'd (for
 * seal_free), else NULL.  *first the lowest row id, *received the
 * earliest received_at. */
static int
inbound_gather(struct store *st, const struct store_inbound *m,
    char **joined, int64_t *first, char *received, size_t rlen)
{
	sqlite3_stmt *s = st->stmt[STMT_INBOUND_PARTS];
	char *text = NULL, *body;
	size_t len = 0, blen;
	unsigned count = 0;
	int rc;

	*joined = NULL;
	*first = 0;
	received[0] = '\0';
	db_bind_text(s, 1, m->channel);
	db_bind_text(s, 2, m->caller);
	db_bind_text(s, 3, m->concat_ref);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		const char *at = db_column_str(s, 3);
		char *grown;

		/* A part sealed under a key since destroyed (the caller
		 * was erased between parts) is no part: never an error that
		 * would refuse the webhook again and again. */
		if ((body = db_column_open(st, s, 2, m->caller)) == NULL)
			continue;
		blen = strlen(body);
		if ((grown = realloc(text, len + blen + 1)) == NULL) {
			seal_free(body, blen);
			rc = SQLITE_NOMEM;
			break;
		}
		text = grown;
		memcpy(text + len, body, blen + 1);
		len += blen;
		seal_free(body, blen);
		if (*first == 0 || id < *first)
			*first = id;
		if (at != NULL && (received[0] == '\0' ||
		    strcmp(at, received) < 0))
			snprintf(received, rlen, "%s", at);
		count++;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE || count != m->concat_total) {
		if (text != NULL)
			seal_free(text, len);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	if (text == NULL && (text = strdup("")) == NULL)
		return -1;
	*joined = text;
	return 0;
}

/* A part: its own row, then the joined message if it was the last. */
static int
inbound_part(struct store *st, const struct store_inbound *m, bool *inserted)
{
	sqlite3_stmt *s = st->stmt[STMT_INBOUND_PART_INSERT];
	char pid[64], received[64], *joined;
	int64_t id, first;
	bool done;
	int rc;

	db_bind_text(s, 1, m->channel);
	db_bind_text(s, 2, m->provider_msg_id);
	db_bind_text(s, 3, m->caller);
	sqlite3_bind_text(s, 6, m->received_at ? m->received_at : "", -1,
	    SQLITE_TRANSIENT);
	db_bind_text(s, 7, m->concat_ref);
	sqlite3_bind_int(s, 8, (int)m->concat_part);
	sqlite3_bind_int(s, 9, (int)m->concat_total);
	if (db_bind_sealed(st, s, 4, m->caller, m->msisdn) < 0 ||
	    db_bind_sealed(st, s, 5, m->caller, m->body ? m->body : "") < 0) {
		sqlite3_clear_bindings(s);
		return -1;
	}
	if (db_step_id(s, &id, inserted) < 0)
		return -1;
	if (!*inserted)
		return 0;
	if (inbound_gather(st, m, &joined, &first, received,
	    sizeof(received)) < 0)
		return -1;
	if (joined == NULL)
		return 0;
	snprintf(pid, sizeof(pid), "joined:%" PRId64, first);
	s = st->stmt[STMT_INBOUND_JOIN];
	db_bind_text(s, 1, m->channel);
	db_bind_text(s, 2, pid);
	db_bind_text(s, 3, m->caller);
	sqlite3_bind_text(s, 6, received, -1, SQLITE_TRANSIENT);
	rc = db_bind_sealed(st, s, 4, m->caller, m->msisdn) < 0 ||
	    db_bind_sealed(st, s, 5, m->caller, joined) < 0 ? -1 : 0;
	seal_free(joined, 0);
	if (rc < 0) {
		sqlite3_clear_bindings(s);
		return -1;
	}
	if (db_step_id(s, &id, &done) < 0)
		return -1;
	if (!done)
		return 0;
	s = st->stmt[STMT_INBOUND_JOINED];
	db_bind_text(s, 1, m->channel);
	db_bind_text(s, 2, m->concat_ref);
	db_bind_text(s, 3, m->caller);
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
			.task_id = sqlite3_column_int64(s, 5),
		};
		/* An erased caller's message: NULL number and body. */
		char *msisdn = db_column_open(st, s, 3, m.caller);
		char *body = db_column_open(st, s, 4, m.caller);

		m.msisdn = msisdn;
		m.body = body;
		ret = cb(&m, arg);
		seal_free(msisdn, 0);
		seal_free(body, 0);
		if (ret != 0)
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
store_inbound_recent(struct store *st, const char *caller, unsigned seconds,
    int64_t cap, int64_t *count)
{
	sqlite3_stmt *s = st->stmt[STMT_INBOUND_RECENT];

	db_bind_text(s, 1, caller);
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

	sms_session_id(sid, sizeof(sid), caller);
	db_bind_text(s, 1, channel);
	db_bind_text(s, 2, sid);
	sqlite3_bind_int(s, 3, (int)idle);
	/* A state that does not open (the caller erased) is no state: the
	 * conversation starts over. */
	return db_first_opened(st, s, caller, state);
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
	db_bind_text(s, 5, node);
	sqlite3_bind_int(s, 7, ended);
	if (db_bind_sealed(st, s, 4, caller, msisdn) < 0 ||
	    db_bind_sealed(st, s, 6, caller, state) < 0) {
		sqlite3_clear_bindings(s);
		return -1;
	}
	return db_step_done(st, s);
}

int
store_optout_get(struct store *st, const char *caller, bool *opted_out,
    bool *confirmed)
{
	sqlite3_stmt *s = st->stmt[STMT_OPTOUT_GET];
	int64_t sent = 0;

	db_bind_text(s, 1, caller);
	if (db_step_id(s, &sent, opted_out) < 0)
		return -1;
	*confirmed = *opted_out && sent != 0;
	return 0;
}

int
store_optout_set(struct store *st, const char *caller, bool opted_out)
{
	sqlite3_stmt *s = st->stmt[opted_out ? STMT_OPTOUT_SET :
	    STMT_OPTOUT_CLEAR];

	db_bind_text(s, 1, caller);
	if (db_step_done(st, s) < 0)
		return -1;
	if (!opted_out)
		return 0;
	db_bind_text(st->stmt[STMT_OUTBOUND_CANCEL], 1, caller);
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
store_optout_confirmed(struct store *st, const char *caller)
{
	db_bind_text(st->stmt[STMT_OPTOUT_CONFIRMED], 1, caller);
	return db_step_done(st, st->stmt[STMT_OPTOUT_CONFIRMED]);
}

int
store_caller_messages(struct store *st, const char *caller,
    store_message_cb cb, void *arg)
{
	sqlite3_stmt *s = st->stmt[STMT_CALLER_MESSAGES];
	int rc, ret = 0;

	/* Erased rows all hold "": they are nobody's history. */
	if (caller == NULL || caller[0] == '\0')
		return 0;
	db_bind_text(s, 1, caller);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		/* An erased caller's text reads as "". */
		char *text = db_column_open(st, s, 1, caller);

		ret = cb(db_column_str(s, 0), text ? text : "",
		    db_column_str(s, 2), db_column_str(s, 3), arg);
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
