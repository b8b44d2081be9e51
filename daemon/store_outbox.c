/*
 * store_outbox: outbound texts, their lanes and their life (claim, result,
 * retry, expiry), delivery reports, and the alerts queued for urgent
 * tasks.
 */
#include "store.h"
#include "store_private.h"
#include "seal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

/* When a pending urgent task was last announced, or the retry it waited
 * for came due. */
#define LAST_TOLD "max(alerted_at, COALESCE(escalated_at, ''), " \
	"COALESCE(retry_at, ''))"
#define ESCALATION_DUE "priority = 'urgent' AND status = 'pending' AND " \
	"alerted_at IS NOT NULL AND " LAST_TOLD " <= strftime(" \
	"'%Y-%m-%dT%H:%M:%SZ', 'now', '-' || ?1 || ' seconds')"

const struct store_sql store_outbox_sql[] = {
	/* The turn counts the caller's own waiting rows, through the
	 * index on caller: left to choose, SQLite walks the lane's whole
	 * backlog (outbound_lane_due), and a campaign day's inserts slow
	 * down with every row queued.  Number and body come sealed. */
	{ STMT_OUTBOUND_ADD, "INSERT INTO outbound(channel, msisdn, caller, "
	    "body, purpose, inbound_id, task_id, send_key, next_attempt_at, "
	    "created_at, updated_at, lane, turn) VALUES (?1, ?2, ?3, ?4, ?5, "
	    "NULLIF(?6, 0), COALESCE(NULLIF(?7, 0), (SELECT id FROM tasks "
	    "WHERE caller = ?3 AND status != 'closed')), "
	    "lower(hex(randomblob(8))), " NOW_MS ", " NOW ", " NOW ", ?8, "
	    "(SELECT count(*) FROM outbound INDEXED BY outbound_caller WHERE "
	    "caller = ?3 AND channel = ?1 AND lane = ?8 AND status = "
	    "'pending')) ON "
	    "CONFLICT(inbound_id) DO NOTHING RETURNING id" },
	{ STMT_DLR_INSERT, "INSERT INTO delivery_reports(channel, "
	    "provider_ref, status, reason, received_at, send_key) VALUES (?1, "
	    "?2, ?3, ?4, " NOW ", NULLIF(?5, '')) ON CONFLICT DO NOTHING" },
	/* Status only moves forward (sent < delivered, failed final): a
	 * late 'sent' never undoes 'delivered'.  A report naming our key
	 * resolves a send whose answer never came ('unknown') and gives it
	 * the provider's reference. */
	{ STMT_DLR_APPLY, "UPDATE outbound SET status = ?3, last_error = "
	    "CASE WHEN ?3 = 'failed' THEN ?4 ELSE last_error END, "
	    "provider_ref = COALESCE(provider_ref, ?2), "
	    "updated_at = " NOW " WHERE channel = ?1 AND (provider_ref = ?2 "
	    "OR (?5 != '' AND send_key = ?5)) "
	    "AND CASE status WHEN 'delivered' THEN 3 WHEN 'failed' THEN 3 "
	    "WHEN 'sent' THEN 2 ELSE 1 END < CASE ?3 WHEN 'sent' THEN 2 "
	    "ELSE 3 END RETURNING id" },
	/* What the send-time checks need, with each due row: the caller's
	 * opt-out, their latest task's answers, when they last wrote or
	 * dialled, and the message a V-COM MT answers.  Texting is unsafe
	 * when the caller's latest answer to that question said so, even
	 * on an older task.  By lane, then turn: a caller's tenth queued
	 * text waits for everyone's first.  The index walks the rows in
	 * that order, so a backlog of thousands is never sorted. */
	{ STMT_OUTBOX_DUE, "SELECT o.id, o.msisdn, o.caller, o.body, "
	    "o.purpose, o.send_key, o.attempts, COALESCE(o.task_id, 0), "
	    "EXISTS (SELECT 1 FROM optouts WHERE caller = o.caller), "
	    "(SELECT safe_to_sms FROM tasks WHERE caller = o.caller AND "
	    "safe_to_sms IS NOT NULL ORDER BY id DESC LIMIT 1), "
	    "t.preferred_time, "
	    "(julianday(max(COALESCE((SELECT max(stored_at) FROM inbound "
	    "WHERE caller = o.caller), ''), COALESCE((SELECT max(updated_at) "
	    "FROM sessions WHERE caller = o.caller), ''))) - 2440587.5) * "
	    "86400.0, mo.provider_msg_id, mo.body, "
	    "(julianday(o.created_at) - 2440587.5) * 86400.0, o.lane, "
	    "EXISTS (SELECT 1 FROM unsafe_callers WHERE caller = o.caller), "
	    "mo.caller "
	    "FROM (SELECT id FROM outbound INDEXED BY outbound_lane_due WHERE "
	    "channel = ?1 AND status = 'pending' AND next_attempt_at <= "
	    NOW_MS " ORDER BY lane, turn, next_attempt_at, id LIMIT ?2) AS "
	    "due JOIN outbound o ON o.id = due.id LEFT JOIN tasks t ON t.id = "
	    "(SELECT id FROM tasks WHERE caller = o.caller ORDER BY "
	    "status != 'closed' DESC, id DESC LIMIT 1) LEFT JOIN inbound mo "
	    "ON mo.id = COALESCE(o.inbound_id, (SELECT max(id) FROM inbound WHERE "
	    "channel = o.channel AND caller = o.caller AND concat_ref IS "
	    "NULL)) ORDER BY o.lane, o.turn, o.next_attempt_at, o.id" },
	{ STMT_OUTBOX_NEXT_DUE, "SELECT (julianday(min(next_attempt_at)) - "
	    "2440587.5) * 86400.0 FROM outbound WHERE channel = ?1 AND "
	    "status = 'pending'" },
	{ STMT_OUTBOX_CLAIM, "UPDATE outbound SET status = 'sending', "
	    "attempts = attempts + 1, updated_at = " NOW " WHERE id = ?1 AND "
	    "status = 'pending'" },
	/* A report may have overtaken the answer and moved the row on
	 * already: then only the reference is recorded. */
	{ STMT_OUTBOX_SENT, "UPDATE outbound SET status = CASE WHEN status "
	    "IN ('sending', 'unknown') THEN 'sent' ELSE status END, "
	    "provider_ref = COALESCE(provider_ref, NULLIF(?2, '')), "
	    "segments = ?3, encoding = ?4, sent_at = " NOW ", last_error = "
	    "NULL, updated_at = " NOW " WHERE id = ?1 RETURNING channel, "
	    "COALESCE(provider_ref, ''), send_key" },
	/* Reports that came before the send's answer, applied now. */
	{ STMT_OUTBOX_EARLY_DLR, "UPDATE outbound SET status = r.status, "
	    "last_error = CASE WHEN r.status = 'failed' THEN r.reason ELSE "
	    "last_error END FROM (SELECT status, reason FROM delivery_reports "
	    "WHERE channel = ?2 AND ((?3 != '' AND provider_ref = ?3) OR "
	    "send_key = ?4) ORDER BY status IN ('sent', 'unknown'), id LIMIT "
	    "1) AS r WHERE outbound.id = ?1 AND outbound.status = 'sent' AND "
	    "r.status IN ('delivered', 'failed')" },
	{ STMT_OUTBOX_DELIVERED, "UPDATE outbound SET status = 'delivered', "
	    "segments = ?2, encoding = ?3, sent_at = " NOW ", provider_ref = "
	    "'local:' || send_key, updated_at = " NOW " WHERE id = ?1 AND "
	    "status = 'sending'" },
	{ STMT_OUTBOX_FAILED, "UPDATE outbound SET status = 'failed', "
	    "last_error = ?2, updated_at = " NOW " WHERE id = ?1 AND status = "
	    "'sending'" },
	{ STMT_OUTBOX_UNKNOWN, "UPDATE outbound SET status = 'unknown', "
	    "last_error = ?2, updated_at = " NOW " WHERE id = ?1 AND status = "
	    "'sending'" },
	{ STMT_OUTBOX_RETRY, "UPDATE outbound SET status = 'pending', "
	    "last_error = ?2, next_attempt_at = strftime('%Y-%m-%dT%H:%M:%fZ', "
	    "?3, 'unixepoch'), updated_at = " NOW " WHERE id = ?1 AND status = "
	    "'sending'" },
	/* Waiting for the caller's contact window is not an attempt. */
	{ STMT_OUTBOX_DEFER, "UPDATE outbound SET last_error = ?2, "
	    "next_attempt_at = strftime('%Y-%m-%dT%H:%M:%fZ', ?3, "
	    "'unixepoch'), updated_at = " NOW " WHERE id = ?1 AND status = "
	    "'pending'" },
	{ STMT_OUTBOX_BLOCK, "UPDATE outbound SET status = 'failed', "
	    "last_error = ?2, updated_at = " NOW " WHERE id = ?1 AND status = "
	    "'pending'" },
	{ STMT_OUTBOX_EXPIRE, "UPDATE outbound SET status = 'expired', "
	    "last_error = ?2, updated_at = " NOW " WHERE id = ?1 AND status = "
	    "'pending'" },
	/* Rows a stopped daemon left mid-send.  Where a resend cannot reach
	 * the caller twice (the provider drops a repeated key, for a day)
	 * they are sent again; elsewhere they wait for a report naming their
	 * key. */
	{ STMT_OUTBOX_RECOVER, "UPDATE outbound SET status = CASE WHEN ?2 "
	    "AND created_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now', "
	    "'-20 hours') THEN 'pending' ELSE 'unknown' END, last_error = "
	    "'interrupted mid-send', next_attempt_at = " NOW_MS ", "
	    "updated_at = " NOW " WHERE channel = ?1 AND status = 'sending'" },
	/* With the rows the retention purge counted and deleted. */
	{ STMT_OUTBOX_COUNT, "SELECT (SELECT count(*) FROM outbound WHERE "
	    "status = ?1) + (SELECT COALESCE(sum(count), 0) FROM stats_daily "
	    "WHERE kind = 'outbound' AND status = ?1)" },
	{ STMT_ALERTS_DUE, "SELECT id, created_at FROM tasks WHERE "
	    "priority = 'urgent' AND alerted_at IS NULL ORDER BY id LIMIT ?1" },
	{ STMT_CALLER_UNSAFE, "SELECT COALESCE((SELECT safe_to_sms = 0 FROM "
	    "tasks WHERE caller = ?1 AND safe_to_sms IS NOT NULL ORDER BY id "
	    "DESC LIMIT 1), 0)" },
	/* Outcome unsafe: the caller, by pseudonym, until they write or
	 * dial again (STMT_UNSAFE_CLEAR, in the inbound and USSD paths). */
	{ STMT_UNSAFE_SET, "INSERT INTO unsafe_callers(caller, task_id, since) "
	    "VALUES (?1, NULLIF(?2, 0), " NOW ") ON CONFLICT(caller) DO UPDATE "
	    "SET task_id = excluded.task_id, since = excluded.since" },
	/* Everything still waiting for the caller, whatever it is for;
	 * what is already being sent cannot be called back. */
	{ STMT_OUTBOUND_CANCEL_CALLER, "UPDATE outbound SET status = 'failed', "
	    "last_error = ?2, updated_at = " NOW " WHERE caller = ?1 AND "
	    "status = 'pending' AND purpose != 'alert' RETURNING id" },
	{ STMT_OUTBOUND_RECENT, "SELECT count(*) FROM outbound WHERE "
	    "caller = ?1 AND purpose = ?2 AND created_at > strftime("
	    "'%Y-%m-%dT%H:%M:%SZ', 'now', '-' || ?3 || ' seconds')" },
	/* A claim handed back: the attempt it counted was never made. */
	{ STMT_OUTBOX_RELEASE, "UPDATE outbound SET status = 'pending', "
	    "attempts = max(attempts - 1, 0), updated_at = " NOW " WHERE "
	    "id = ?1 AND status = 'sending'" },
	{ STMT_ALERT_MARK, "UPDATE tasks SET alerted_at = " NOW " WHERE "
	    "id = ?1 AND alerted_at IS NULL" },
	/* Escalation (ESCALATION_DUE: ?1 seconds).  retry_at and the
	 * announcements share one format, so they compare as text. */
	{ STMT_ESCALATIONS_DUE, "SELECT id, escalations FROM tasks WHERE "
	    ESCALATION_DUE " ORDER BY id LIMIT ?2" },
	{ STMT_ESCALATION_NEXT, "SELECT COALESCE((julianday(min(" LAST_TOLD
	    ")) - 2440587.5) * 86400.0 + ?1, 0) FROM tasks WHERE priority = "
	    "'urgent' AND status = 'pending' AND alerted_at IS NOT NULL" },
	{ STMT_ESCALATION_MARK, "UPDATE tasks SET escalated_at = " NOW ", "
	    "escalations = escalations + 1 WHERE id = ?2 AND escalations = ?3 "
	    "AND " ESCALATION_DUE },
	{ STMT_OUTBOX_WAITING, "SELECT EXISTS (SELECT 1 FROM outbound WHERE "
	    "status = 'sending') OR EXISTS (SELECT 1 FROM outbound WHERE "
	    "status = 'pending' AND (next_attempt_at <= " NOW_MS " OR "
	    "attempts > 0))" },
	{ STMT_COUNT_, NULL },
};

static const char *const purpose_names[] = {
	[STORE_PURPOSE_ALERT] = "alert",
	[STORE_PURPOSE_OPT_OUT_CONFIRMATION] = "opt_out_confirmation",
	[STORE_PURPOSE_KEYWORD_REPLY] = "keyword_reply",
	[STORE_PURPOSE_REPLY] = "reply",
	[STORE_PURPOSE_MESSAGE] = "message",
	[STORE_PURPOSE_MISSED_CALL] = "missed_call",
};

const char *
store_outbound_status_name(enum store_outbound_status status)
{
	static const char *const names[] = {
		[STORE_OUTBOUND_PENDING] = "pending",
		[STORE_OUTBOUND_SENDING] = "sending",
		[STORE_OUTBOUND_SENT] = "sent",
		[STORE_OUTBOUND_DELIVERED] = "delivered",
		[STORE_OUTBOUND_FAILED] = "failed",
		[STORE_OUTBOUND_UNKNOWN] = "unknown",
		[STORE_OUTBOUND_EXPIRED] = "expired",
	};

	return (unsigned)status < STORE_OUTBOUND_STATUS_COUNT ?
	    names[status] : "unknown";
}

const char *
store_purpose_name(enum store_purpose purpose)
{
	return (size_t)purpose < sizeof(purpose_names) /
	    sizeof(purpose_names[0]) ? purpose_names[purpose] : NULL;
}

static enum store_purpose
purpose_parse(const char *name)
{
	for (size_t i = 0; name != NULL &&
	    i < sizeof(purpose_names) / sizeof(purpose_names[0]); i++)
		if (strcmp(name, purpose_names[i]) == 0)
			return (enum store_purpose)i;
	return STORE_PURPOSE_OTHER;
}

int
store_outbound_add(struct store *st, const char *channel,
    const char *msisdn, const char *caller, const char *body,
    enum store_purpose purpose, int64_t inbound_id, int64_t task_id,
    int64_t *id)
{
	enum store_lane lane = STORE_LANE_FOLLOWUP;

	switch (purpose) {
	case STORE_PURPOSE_ALERT:
		lane = STORE_LANE_URGENT;
		break;
	case STORE_PURPOSE_OPT_OUT_CONFIRMATION:
	case STORE_PURPOSE_KEYWORD_REPLY:
		lane = STORE_LANE_CONFIRMATION;
		break;
	case STORE_PURPOSE_REPLY:
		lane = STORE_LANE_REPLY;
		break;
	case STORE_PURPOSE_MESSAGE:
		lane = STORE_LANE_COUNSELLOR;
		break;
	case STORE_PURPOSE_MISSED_CALL:
	case STORE_PURPOSE_OTHER:
		break;
	}
	return store_outbound_queue(st, lane, channel, msisdn, caller, body,
	    purpose, inbound_id, task_id, id);
}

int
store_outbound_queue(struct store *st, enum store_lane lane,
    const char *channel, const char *msisdn, const char *caller,
    const char *body, enum store_purpose purpose, int64_t inbound_id,
    int64_t task_id, int64_t *id)
{
	sqlite3_stmt *s = st->stmt[STMT_OUTBOUND_ADD];

	if (store_purpose_name(purpose) == NULL)
		return -1;
	int64_t row = 0;
	bool found;
	int rc;

	db_bind_text(s, 1, channel);
	db_bind_text(s, 3, caller);
	db_bind_text(s, 5, store_purpose_name(purpose));
	if (db_bind_sealed(st, s, 2, caller, msisdn) < 0 ||
	    db_bind_sealed(st, s, 4, caller, body ? body : "") < 0) {
		sqlite3_clear_bindings(s);
		return -1;
	}
	sqlite3_bind_int64(s, 6, inbound_id);
	sqlite3_bind_int64(s, 7, task_id);
	sqlite3_bind_int(s, 8, (int)lane);
	rc = db_step_id(s, &row, &found);
	if (id != NULL)
		*id = found ? row : 0;
	return rc;
}

int
store_outbound_recent(struct store *st, const char *caller,
    enum store_purpose purpose, unsigned seconds, int64_t *count)
{
	sqlite3_stmt *s = st->stmt[STMT_OUTBOUND_RECENT];

	db_bind_text(s, 1, caller);
	db_bind_text(s, 2, store_purpose_name(purpose));
	sqlite3_bind_int(s, 3, (int)seconds);
	return db_count(s, count);
}

int
store_dlr_record(struct store *st, const char *channel, const char *ref,
    const char *send_key, const char *status, const char *reason,
    bool *matched, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int64_t id;

	*matched = false;
	if (send_key == NULL)
		send_key = "";
	if (db_begin(st, err, errlen) < 0)
		return -1;
	s = st->stmt[STMT_DLR_INSERT];
	db_bind_text(s, 1, channel);
	db_bind_text(s, 2, ref);
	db_bind_text(s, 3, status);
	db_bind_text(s, 4, reason);
	db_bind_text(s, 5, send_key);
	if (db_step_done(st, s) < 0)
		goto fail;
	s = st->stmt[STMT_DLR_APPLY];
	db_bind_text(s, 1, channel);
	db_bind_text(s, 2, ref);
	/* A receipt naming our message, whatever its word, shows the
	 * provider holds it: for the row, that is all "sent" says. */
	db_bind_text(s, 3, strcmp(status, "unknown") == 0 ? "sent" : status);
	db_bind_text(s, 4, reason);
	db_bind_text(s, 5, send_key);
	if (db_step_id(s, &id, matched) < 0)
		goto fail;
	return db_commit(st, err, errlen);
fail:
	db_error(st, "recording delivery report", err, errlen);
	db_rollback(st);
	return -1;
}

int
store_outbox_due(struct store *st, const char *channel, size_t limit,
    store_outbox_cb cb, void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[STMT_OUTBOX_DUE];
	int rc, ret = 0;

	db_bind_text(s, 1, channel);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_outbox_row r = {
			.id = sqlite3_column_int64(s, 0),
			.caller = (const char *)sqlite3_column_text(s, 2),
			.purpose = purpose_parse((const char *)
			    sqlite3_column_text(s, 4)),
			.send_key = (const char *)sqlite3_column_text(s, 5),
			.attempts = sqlite3_column_int(s, 6),
			.task_id = sqlite3_column_int64(s, 7),
			.opted_out = sqlite3_column_int(s, 8) != 0,
			.safe_to_sms = db_column_answer(s, 9),
			.preferred_time = (const char *)sqlite3_column_text(s,
			    10),
			.last_contact = sqlite3_column_double(s, 11),
			.reply_to = (const char *)sqlite3_column_text(s, 12),
			.created = sqlite3_column_double(s, 14),
			.lane = (enum store_lane)sqlite3_column_int(s, 15),
			.do_not_contact = sqlite3_column_int(s, 16) != 0,
		};
		/* Opened for the send; NULL when the caller was erased
		 * (the outbox then fails the row). */
		char *msisdn = db_column_open(st, s, 1, r.caller);
		char *body = db_column_open(st, s, 3, r.caller);
		char *reply_body = db_column_open(st, s, 13,
		    db_column_str(s, 17));

		r.msisdn = msisdn;
		r.body = body;
		r.reply_body = reply_body;
		ret = cb(&r, arg);
		seal_free(msisdn, 0);
		seal_free(body, 0);
		seal_free(reply_body, 0);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		db_error(st, "reading the outbox", err, errlen);
		ret = -1;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}

int
store_outbox_next_due(struct store *st, const char *channel, double *when)
{
	sqlite3_stmt *s = st->stmt[STMT_OUTBOX_NEXT_DUE];
	int rc;

	db_bind_text(s, 1, channel);
	rc = sqlite3_step(s);

	*when = 0;
	if (rc == SQLITE_ROW) {
		*when = sqlite3_column_double(s, 0);
		rc = sqlite3_step(s);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
outbox_sent(struct store *st, int64_t id,
    const struct store_outbox_change *c, bool *applied)
{
	sqlite3_stmt *s = st->stmt[STMT_OUTBOX_SENT];
	char channel[128], ref[128], key[64];
	int rc;

	*applied = false;
	sqlite3_bind_int64(s, 1, id);
	db_bind_text(s, 2, c->provider_ref ? c->provider_ref : "");
	sqlite3_bind_int(s, 3, (int)c->segments);
	db_bind_text(s, 4, c->encoding);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*applied = true;
		snprintf(channel, sizeof(channel), "%s",
		    (const char *)sqlite3_column_text(s, 0));
		snprintf(ref, sizeof(ref), "%s",
		    (const char *)sqlite3_column_text(s, 1));
		snprintf(key, sizeof(key), "%s",
		    (const char *)sqlite3_column_text(s, 2));
		rc = sqlite3_step(s);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE)
		return -1;
	if (!*applied)
		return 0;
	s = st->stmt[STMT_OUTBOX_EARLY_DLR];
	sqlite3_bind_int64(s, 1, id);
	db_bind_text(s, 2, channel);
	db_bind_text(s, 3, ref);
	db_bind_text(s, 4, key);
	return db_step_done(st, s);
}

int
store_outbox_update(struct store *st, int64_t id,
    const struct store_outbox_change *c, bool *applied)
{
	static const enum stmt op_stmt[] = {
		[STORE_OUTBOX_CLAIM] = STMT_OUTBOX_CLAIM,
		[STORE_OUTBOX_SENT] = STMT_OUTBOX_SENT,
		[STORE_OUTBOX_DELIVERED] = STMT_OUTBOX_DELIVERED,
		[STORE_OUTBOX_FAILED] = STMT_OUTBOX_FAILED,
		[STORE_OUTBOX_UNKNOWN] = STMT_OUTBOX_UNKNOWN,
		[STORE_OUTBOX_RETRY] = STMT_OUTBOX_RETRY,
		[STORE_OUTBOX_DEFER] = STMT_OUTBOX_DEFER,
		[STORE_OUTBOX_BLOCK] = STMT_OUTBOX_BLOCK,
		[STORE_OUTBOX_EXPIRE] = STMT_OUTBOX_EXPIRE,
	};
	bool own = sqlite3_get_autocommit(st->db) != 0;
	char why[256];
	sqlite3_stmt *s = st->stmt[op_stmt[c->op]];
	int rc;

	*applied = false;
	/* SENT is two statements that must land together. */
	if (own && db_begin(st, why, sizeof(why)) < 0)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	switch (c->op) {
	case STORE_OUTBOX_CLAIM:
		rc = db_step_changed(st, s, applied);
		break;
	case STORE_OUTBOX_SENT:
		rc = outbox_sent(st, id, c, applied);
		break;
	case STORE_OUTBOX_DELIVERED:
		sqlite3_bind_int(s, 2, (int)c->segments);
		db_bind_text(s, 3, c->encoding);
		rc = db_step_changed(st, s, applied);
		break;
	case STORE_OUTBOX_RETRY:
	case STORE_OUTBOX_DEFER:
		sqlite3_bind_double(s, 3, c->at);
		/* FALLTHROUGH */
	default:
		db_bind_text(s, 2, c->reason);
		rc = db_step_changed(st, s, applied);
		break;
	}
	if (!own)
		return rc;
	if (rc < 0) {
		db_rollback(st);
		return -1;
	}
	return db_commit(st, why, sizeof(why));
}

int
store_outbox_recover(struct store *st, const char *channel, bool resend,
    int64_t *count)
{
	sqlite3_stmt *s = st->stmt[STMT_OUTBOX_RECOVER];
	int rc;

	db_bind_text(s, 1, channel);
	sqlite3_bind_int(s, 2, resend);
	rc = db_step_done(st, s);
	*count = rc == 0 ? sqlite3_changes(st->db) : 0;
	return rc;
}

int
store_outbox_count(struct store *st, enum store_outbound_status status,
    int64_t *count)
{
	sqlite3_stmt *s = st->stmt[STMT_OUTBOX_COUNT];

	db_bind_text(s, 1, store_outbound_status_name(status));
	return db_count(s, count);
}

int
store_alerts_due(struct store *st, size_t limit, store_alert_cb cb,
    void *arg)
{
	sqlite3_stmt *s = st->stmt[STMT_ALERTS_DUE];
	int rc, ret = 0;

	sqlite3_bind_int64(s, 1, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = cb(sqlite3_column_int64(s, 0),
		    (const char *)sqlite3_column_text(s, 1), arg)) != 0)
			break;
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -1;
	sqlite3_reset(s);
	return ret;
}

int
store_caller_unsafe_to_text(struct store *st, const char *caller,
    bool *unsafe)
{
	sqlite3_stmt *s = st->stmt[STMT_CALLER_UNSAFE];
	int64_t v = 0;

	db_bind_text(s, 1, caller);
	if (db_count(s, &v) < 0)
		return -1;
	*unsafe = v != 0;
	return 0;
}

int
store_caller_unsafe_set(struct store *st, const char *caller,
    int64_t task_id, int64_t *cancelled)
{
	sqlite3_stmt *s = st->stmt[STMT_UNSAFE_SET];
	int rc;

	*cancelled = 0;
	db_bind_text(s, 1, caller);
	sqlite3_bind_int64(s, 2, task_id);
	if (db_step_done(st, s) < 0)
		return -1;
	s = st->stmt[STMT_OUTBOUND_CANCEL_CALLER];
	db_bind_text(s, 1, caller);
	db_bind_text(s, 2, "do_not_contact");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		(*cancelled)++;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
store_outbox_release(struct store *st, int64_t id, bool *applied)
{
	sqlite3_stmt *s = st->stmt[STMT_OUTBOX_RELEASE];

	sqlite3_bind_int64(s, 1, id);
	return db_step_changed(st, s, applied);
}

int
store_alert_mark(struct store *st, int64_t task_id, bool *applied)
{
	sqlite3_stmt *s = st->stmt[STMT_ALERT_MARK];

	sqlite3_bind_int64(s, 1, task_id);
	return db_step_changed(st, s, applied);
}

int
store_escalations_due(struct store *st, unsigned after, size_t limit,
    store_escalation_cb cb, void *arg)
{
	sqlite3_stmt *s = st->stmt[STMT_ESCALATIONS_DUE];
	int rc, ret = 0;

	sqlite3_bind_int64(s, 1, (sqlite3_int64)after);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = cb(sqlite3_column_int64(s, 0),
		    sqlite3_column_int(s, 1), arg)) != 0)
			break;
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -1;
	sqlite3_reset(s);
	return ret;
}

int
store_escalation_next(struct store *st, unsigned after, double *when)
{
	sqlite3_stmt *s = st->stmt[STMT_ESCALATION_NEXT];
	int rc;

	sqlite3_bind_int64(s, 1, (sqlite3_int64)after);
	rc = sqlite3_step(s);
	*when = rc == SQLITE_ROW ? sqlite3_column_double(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
store_escalation_mark(struct store *st, int64_t task_id, unsigned after,
    int escalations, bool *applied)
{
	sqlite3_stmt *s = st->stmt[STMT_ESCALATION_MARK];

	sqlite3_bind_int64(s, 1, (sqlite3_int64)after);
	sqlite3_bind_int64(s, 2, task_id);
	sqlite3_bind_int(s, 3, escalations);
	return db_step_changed(st, s, applied);
}

int
store_outbox_waiting(struct store *st, bool *waiting)
{
	int64_t v = 0;

	if (db_count(st->stmt[STMT_OUTBOX_WAITING], &v) < 0)
		return -1;
	*waiting = v != 0;
	return 0;
}
