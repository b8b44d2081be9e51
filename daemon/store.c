#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "privacy.h"

#define BUSY_TIMEOUT_MS 5000
#define NOW "strftime('%Y-%m-%dT%H:%M:%SZ','now')"
/* The outbox schedules to the millisecond (a first retry comes after
 * about a second). */
#define NOW_MS "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

/*
 * Migrations: entry i takes the schema from user_version i to i + 1.
 * Append only; never edit a step that has shipped.
 */
static const char *const migrations[] = {
	/* 0 -> 1: the foundation. */
	"CREATE TABLE tasks ("
	"  id INTEGER PRIMARY KEY,"
	"  status TEXT NOT NULL DEFAULT 'pending'"
	"    CHECK (status IN ('pending','claimed','closed')),"
	"  priority TEXT NOT NULL DEFAULT 'normal'"
	"    CHECK (priority IN ('urgent','normal')),"
	"  caller TEXT NOT NULL,"
	"  msisdn TEXT NOT NULL,"
	"  channel TEXT NOT NULL,"
	"  language TEXT,"
	"  topic TEXT,"
	"  safe_to_call INTEGER CHECK (safe_to_call IN (0,1)),"
	"  safe_to_sms INTEGER CHECK (safe_to_sms IN (0,1)),"
	"  preferred_time TEXT,"
	"  created_at TEXT NOT NULL,"
	"  updated_at TEXT NOT NULL,"
	"  claimed_by TEXT,"
	"  lease_expires_at TEXT,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  retry_at TEXT,"
	"  outcome TEXT,"
	"  closed_at TEXT"
	");"
	/* One open task per caller: a second request updates the first. */
	"CREATE UNIQUE INDEX tasks_one_open_per_caller ON tasks(msisdn)"
	"  WHERE status != 'closed';"
	"CREATE INDEX tasks_queue ON tasks(status, priority, created_at);"
	"CREATE TABLE task_notes ("
	"  id INTEGER PRIMARY KEY,"
	"  task_id INTEGER NOT NULL REFERENCES tasks(id),"
	"  author TEXT NOT NULL,"
	"  text TEXT NOT NULL,"
	"  created_at TEXT NOT NULL"
	");"
	"CREATE INDEX task_notes_task ON task_notes(task_id);"
	"CREATE TABLE sessions ("
	"  id INTEGER PRIMARY KEY,"
	"  channel TEXT NOT NULL,"
	"  session_id TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('ussd','sms')),"
	"  caller TEXT NOT NULL,"
	"  msisdn TEXT NOT NULL,"
	"  node TEXT NOT NULL,"
	"  hops INTEGER NOT NULL DEFAULT 1,"
	"  task_id INTEGER REFERENCES tasks(id),"
	"  created_at TEXT NOT NULL,"
	"  updated_at TEXT NOT NULL,"
	"  ended_at TEXT,"
	"  UNIQUE (channel, session_id)"
	");"
	"CREATE TABLE inbound ("
	"  id INTEGER PRIMARY KEY,"
	"  channel TEXT NOT NULL,"
	"  provider_msg_id TEXT NOT NULL,"
	"  caller TEXT NOT NULL,"
	"  msisdn TEXT NOT NULL,"
	"  body TEXT NOT NULL,"
	"  received_at TEXT NOT NULL,"
	"  stored_at TEXT NOT NULL,"
	"  task_id INTEGER REFERENCES tasks(id),"
	"  flags INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE (channel, provider_msg_id)"
	");"
	"CREATE INDEX inbound_msisdn ON inbound(msisdn, id);"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY,"
	"  at TEXT NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  task_id INTEGER,"
	"  detail TEXT"
	");"
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL"
	");",
	/* 1 -> 2: the SMS conversation, opt-outs, the outbox's table. */
	"ALTER TABLE inbound ADD COLUMN processed_at TEXT;"
	"ALTER TABLE inbound ADD COLUMN concat_ref TEXT;"
	"ALTER TABLE inbound ADD COLUMN concat_part INTEGER;"
	"ALTER TABLE inbound ADD COLUMN concat_total INTEGER;"
	"ALTER TABLE inbound ADD COLUMN joined_id INTEGER;"
	"CREATE INDEX inbound_concat ON inbound(channel, msisdn, concat_ref)"
	"  WHERE concat_ref IS NOT NULL;"
	"CREATE INDEX inbound_recent ON inbound(msisdn, stored_at);"
	"CREATE INDEX inbound_unprocessed ON inbound(id)"
	"  WHERE processed_at IS NULL;"
	"ALTER TABLE sessions ADD COLUMN state TEXT;"
	"CREATE TABLE optouts ("
	"  msisdn TEXT PRIMARY KEY,"
	"  caller TEXT NOT NULL,"
	"  opted_out_at TEXT NOT NULL,"
	"  confirmation_sent INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE outbound ("
	"  id INTEGER PRIMARY KEY,"
	"  channel TEXT NOT NULL,"
	"  msisdn TEXT NOT NULL,"
	"  caller TEXT NOT NULL,"
	"  body TEXT NOT NULL,"
	"  purpose TEXT NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN"
	"    ('pending','sending','sent','delivered','failed','unknown')),"
	"  inbound_id INTEGER UNIQUE REFERENCES inbound(id),"
	"  provider_ref TEXT,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_attempt_at TEXT,"
	"  last_error TEXT,"
	"  created_at TEXT NOT NULL,"
	"  updated_at TEXT NOT NULL"
	");"
	"CREATE INDEX outbound_msisdn ON outbound(msisdn, created_at);"
	"CREATE INDEX outbound_due ON outbound(status, next_attempt_at);"
	"CREATE UNIQUE INDEX outbound_ref ON outbound(channel, provider_ref)"
	"  WHERE provider_ref IS NOT NULL;"
	/* Reports are kept even when no outbound row names the reference
	 * yet: a report can overtake the send's own answer. */
	"CREATE TABLE delivery_reports ("
	"  id INTEGER PRIMARY KEY,"
	"  channel TEXT NOT NULL,"
	"  provider_ref TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('sent','delivered',"
	"    'failed')),"
	"  reason TEXT,"
	"  received_at TEXT NOT NULL,"
	"  UNIQUE (channel, provider_ref, status)"
	");",
	/* 2 -> 3: the outbox sends.  send_key is our idempotency key for a
	 * row, the same on every attempt, so a report can name a send whose
	 * answer never came; alerted_at marks urgent tasks whose alerts are
	 * queued. */
	/* Nothing sent rows before: a page queued weeks ago must not
	 * reach a phone someone else may read now. */
	"UPDATE outbound SET status = 'failed', last_error = 'queued "
	"before the outbox existed' WHERE status = 'pending';"
	"ALTER TABLE outbound ADD COLUMN send_key TEXT;"
	"UPDATE outbound SET send_key = lower(hex(randomblob(8)));"
	"CREATE UNIQUE INDEX outbound_send_key ON outbound(send_key);"
	"ALTER TABLE outbound ADD COLUMN task_id INTEGER REFERENCES tasks(id);"
	"ALTER TABLE outbound ADD COLUMN segments INTEGER;"
	"ALTER TABLE outbound ADD COLUMN encoding TEXT;"
	"ALTER TABLE outbound ADD COLUMN sent_at TEXT;"
	"CREATE INDEX outbound_channel_due ON outbound(channel, status,"
	"  next_attempt_at);"
	"ALTER TABLE delivery_reports ADD COLUMN send_key TEXT;"
	"CREATE INDEX delivery_reports_key ON delivery_reports(channel,"
	"  send_key) WHERE send_key IS NOT NULL;"
	"ALTER TABLE tasks ADD COLUMN alerted_at TEXT;"
	"UPDATE tasks SET alerted_at = updated_at;"
	"CREATE INDEX tasks_msisdn ON tasks(msisdn, id);"
	"CREATE INDEX sessions_msisdn ON sessions(msisdn, updated_at);",
	/* 3 -> 4: the counsellors' API: tokens (hashes only), the first
	 * call's time for statistics. */
	"CREATE TABLE tokens ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  role TEXT NOT NULL CHECK (role IN ('counsellor','supervisor',"
	"    'admin')),"
	"  hash TEXT NOT NULL UNIQUE,"
	"  created_at TEXT NOT NULL,"
	"  revoked_at TEXT"
	");"
	"CREATE UNIQUE INDEX tokens_live_name ON tokens(name)"
	"  WHERE revoked_at IS NULL;"
	"ALTER TABLE tasks ADD COLUMN first_completed_at TEXT;"
	"CREATE INDEX audit_action ON audit(action, at);"
	"CREATE INDEX outbound_caller ON outbound(msisdn, id);"
	"CREATE INDEX tasks_alert_due ON tasks(id) WHERE priority = 'urgent' "
	"AND alerted_at IS NULL;",
	/* 4 -> 5 (outbox lanes): a reply queued before lanes may be a
	 * first reply or a confirmation, which must never expire, so it
	 * goes with first replies.  Each row's lane (enum store_lane: the
	 * higher leaves first) and turn (how many of its caller's texts in
	 * that lane were waiting when it was queued: callers take turns),
	 * and the status `expired` for a page the caller would get too
	 * late.  SQLite cannot change a CHECK, so the table is rebuilt
	 * (nothing references it). */
	"CREATE TABLE outbound_v5 ("
	"  id INTEGER PRIMARY KEY,"
	"  channel TEXT NOT NULL,"
	"  msisdn TEXT NOT NULL,"
	"  caller TEXT NOT NULL,"
	"  body TEXT NOT NULL,"
	"  purpose TEXT NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN"
	"    ('pending','sending','sent','delivered','failed','unknown',"
	"    'expired')),"
	"  inbound_id INTEGER UNIQUE REFERENCES inbound(id),"
	"  provider_ref TEXT,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_attempt_at TEXT,"
	"  last_error TEXT,"
	"  created_at TEXT NOT NULL,"
	"  updated_at TEXT NOT NULL,"
	"  send_key TEXT,"
	"  task_id INTEGER REFERENCES tasks(id),"
	"  segments INTEGER,"
	"  encoding TEXT,"
	"  sent_at TEXT,"
	/* A row queued by hand, without a lane: last, never expired. */
	"  lane INTEGER NOT NULL DEFAULT 5 CHECK (lane BETWEEN 0 AND 5),"
	"  turn INTEGER NOT NULL DEFAULT 0"
	");"
	"INSERT INTO outbound_v5 SELECT id, channel, msisdn, caller, body, "
	"purpose, status, inbound_id, provider_ref, attempts, "
	"next_attempt_at, last_error, created_at, updated_at, send_key, "
	"task_id, segments, encoding, sent_at, CASE purpose WHEN 'alert' "
	"THEN 0 WHEN 'opt_out_confirmation' THEN 1 WHEN 'reply' THEN 2 "
	"WHEN 'message' THEN 4 ELSE 5 END, 0 FROM outbound;"
	"DROP TABLE outbound;"
	"ALTER TABLE outbound_v5 RENAME TO outbound;"
	"CREATE INDEX outbound_msisdn ON outbound(msisdn, created_at);"
	"CREATE INDEX outbound_due ON outbound(status, next_attempt_at);"
	"CREATE UNIQUE INDEX outbound_ref ON outbound(channel, provider_ref)"
	"  WHERE provider_ref IS NOT NULL;"
	"CREATE UNIQUE INDEX outbound_send_key ON outbound(send_key);"
	"CREATE INDEX outbound_channel_due ON outbound(channel, status,"
	"  next_attempt_at);"
	"CREATE INDEX outbound_caller ON outbound(msisdn, id);"
	"CREATE INDEX outbound_lane_due ON outbound(channel, lane, turn,"
	"  next_attempt_at) WHERE status = 'pending';",
	/* 5 -> 6: a receipt whose status the provider does not document is
	 * kept as `unknown` (answered 200, so the provider stops retrying);
	 * the table is rebuilt for the CHECK. */
	"CREATE TABLE delivery_reports_v6 ("
	"  id INTEGER PRIMARY KEY,"
	"  channel TEXT NOT NULL,"
	"  provider_ref TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('sent','delivered',"
	"    'failed','unknown')),"
	"  reason TEXT,"
	"  received_at TEXT NOT NULL,"
	"  send_key TEXT,"
	"  UNIQUE (channel, provider_ref, status)"
	");"
	"INSERT INTO delivery_reports_v6 SELECT id, channel, provider_ref, "
	"status, reason, received_at, send_key FROM delivery_reports;"
	"DROP TABLE delivery_reports;"
	"ALTER TABLE delivery_reports_v6 RENAME TO delivery_reports;"
	"CREATE INDEX delivery_reports_key ON delivery_reports(channel,"
	"  send_key) WHERE send_key IS NOT NULL;",
};

/* The columns task_from_row reads, in its order. */
#define TASK_COLUMNS \
	"id, status, priority, caller, msisdn, channel, language, topic, " \
	"safe_to_call, safe_to_sms, preferred_time, created_at, updated_at, " \
	"claimed_by, attempts, lease_expires_at, retry_at, outcome, " \
	"closed_at, CASE priority WHEN 'urgent' THEN 0 ELSE 1 END"
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
	STMT_TASK_UPDATE_OPEN,
	STMT_TASK_INSERT,
	STMT_TASKS_OPEN,
	STMT_TASKS_COUNT,
	STMT_AUDIT_ADD,
	STMT_INBOUND_INSERT,
	STMT_INBOUND_PART_INSERT,
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
	STMT_ALERTS_DONE,
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
	STMT_QUEUE_STATUS,
	STMT_NOTE_ADD,
	STMT_TASK_GET,
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
	STMT_COUNT_
};

static const char *const stmt_sql[STMT_COUNT_] = {
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_SAVEPOINT] = "SAVEPOINT message",
	[STMT_SAVEPOINT_RELEASE] = "RELEASE message",
	[STMT_SAVEPOINT_ROLLBACK] = "ROLLBACK TO message",
	[STMT_NEST] = "SAVEPOINT nested",
	[STMT_NEST_RELEASE] = "RELEASE nested",
	[STMT_NEST_ROLLBACK] = "ROLLBACK TO nested",
	[STMT_UNIT] = "SAVEPOINT unit",
	[STMT_UNIT_RELEASE] = "RELEASE unit",
	[STMT_UNIT_ROLLBACK] = "ROLLBACK TO unit",
	/* An opt-out stops what was queued before it too. */
	[STMT_OUTBOUND_CANCEL] = "UPDATE outbound SET status = 'failed', "
	    "last_error = 'opted_out', updated_at = " NOW " WHERE msisdn = ?1 "
	    "AND status = 'pending' AND purpose != 'opt_out_confirmation'",
	[STMT_PING] = "INSERT INTO meta(key, value) VALUES ('ready_probe', "
	    NOW ") ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	/* A session id is bound to the caller who opened it: a hop naming
	 * the same session with another number updates nothing. */
	[STMT_SESSION_UPSERT] = "INSERT INTO sessions(channel, session_id, "
	    "kind, caller, msisdn, node, created_at, updated_at, ended_at) "
	    "VALUES (?1, ?2, 'ussd', ?3, ?4, ?5, " NOW ", " NOW ", "
	    "CASE WHEN ?6 THEN " NOW " END) "
	    "ON CONFLICT(channel, session_id) DO UPDATE SET "
	    "hops = hops + 1, node = excluded.node, updated_at = "
	    "excluded.updated_at, ended_at = COALESCE(ended_at, "
	    "excluded.ended_at) WHERE msisdn = excluded.msisdn "
	    "RETURNING id, COALESCE(task_id, 0)",
	[STMT_SESSION_SET_TASK] = "UPDATE sessions SET task_id = ?2 "
	    "WHERE id = ?1",
	[STMT_TASK_UPDATE_OPEN] = "UPDATE tasks SET "
	    "language = COALESCE(?2, language), "
	    "topic = COALESCE(?3, topic), "
	    "safe_to_call = COALESCE(?4, safe_to_call), "
	    "safe_to_sms = COALESCE(?5, safe_to_sms), "
	    "preferred_time = COALESCE(?6, preferred_time), "
	    "priority = CASE WHEN ?7 THEN 'urgent' ELSE priority END, "
	    "alerted_at = CASE WHEN ?7 AND priority != 'urgent' THEN NULL "
	    "ELSE alerted_at END, "
	    "updated_at = " NOW " "
	    "WHERE msisdn = ?1 AND status != 'closed' RETURNING id",
	[STMT_TASK_INSERT] = "INSERT INTO tasks(priority, caller, msisdn, "
	    "channel, language, topic, safe_to_call, safe_to_sms, "
	    "preferred_time, created_at, updated_at) VALUES ("
	    "CASE WHEN ?1 THEN 'urgent' ELSE 'normal' END, ?2, ?3, ?4, ?5, "
	    "?6, ?7, ?8, ?9, " NOW ", " NOW ") RETURNING id",
	[STMT_TASKS_OPEN] = "SELECT " TASK_COLUMNS " FROM tasks WHERE "
	    "status != 'closed' ORDER BY priority = 'urgent' DESC, created_at, "
	    "id",
	[STMT_TASKS_COUNT] = "SELECT count(*) FROM tasks WHERE status = ?1",
	[STMT_AUDIT_ADD] = "INSERT INTO audit(at, actor, action, task_id, "
	    "detail) VALUES (" NOW ", ?1, ?2, NULLIF(?3, 0), ?4)",
	/* A retried webhook hits the unique key and inserts nothing: no
	 * RETURNING row is how a duplicate is told apart. */
	[STMT_INBOUND_INSERT] = "INSERT INTO inbound(channel, "
	    "provider_msg_id, caller, msisdn, body, received_at, stored_at, "
	    "task_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, " NOW ", (SELECT id "
	    "FROM tasks WHERE msisdn = ?4 AND status != 'closed')) "
	    "ON CONFLICT(channel, provider_msg_id) DO NOTHING RETURNING id",
	/* A part is kept, but never processed on its own. */
	[STMT_INBOUND_PART_INSERT] = "INSERT INTO inbound(channel, "
	    "provider_msg_id, caller, msisdn, body, received_at, stored_at, "
	    "processed_at, concat_ref, concat_part, concat_total) VALUES (?1, "
	    "?2, ?3, ?4, ?5, ?6, " NOW ", " NOW ", ?7, ?8, ?9) "
	    "ON CONFLICT(channel, provider_msg_id) DO NOTHING RETURNING id",
	/* Once every part not yet joined is in, the whole message, in part
	 * order, under an id of its own (phones reuse references, so a part
	 * joins once).  A part repeated under another id counts once.
	 * (SQLite 3.40 has no ORDER BY inside group_concat; it concatenates
	 * in the subquery's order, which the test with reversed parts
	 * checks.) */
	[STMT_INBOUND_JOIN] = "INSERT INTO inbound(channel, provider_msg_id, "
	    "caller, msisdn, body, received_at, stored_at, task_id) "
	    "SELECT ?1, 'joined:' || min(id), ?4, ?3, group_concat(body, ''), "
	    "min(received_at), " NOW ", (SELECT id FROM tasks WHERE msisdn = "
	    "?3 AND status != 'closed') FROM (SELECT min(id) AS id, "
	    "concat_part, body, received_at FROM inbound WHERE channel = ?1 "
	    "AND msisdn = ?3 AND concat_ref = ?2 AND joined_id IS NULL GROUP "
	    "BY concat_part ORDER BY concat_part) HAVING count(*) = ?5 "
	    "ON CONFLICT(channel, provider_msg_id) DO NOTHING RETURNING id",
	[STMT_INBOUND_JOINED] = "UPDATE inbound SET joined_id = ?4 WHERE "
	    "channel = ?1 AND msisdn = ?3 AND concat_ref = ?2 AND joined_id IS "
	    "NULL",
	[STMT_INBOUND_UNPROCESSED] = "SELECT id, channel, caller, msisdn, "
	    "body, COALESCE(task_id, 0) FROM inbound WHERE processed_at IS "
	    "NULL ORDER BY id LIMIT ?1",
	[STMT_INBOUND_PROCESSED] = "UPDATE inbound SET processed_at = " NOW
	    " WHERE id = ?1",
	/* Counted up to a cap: a flood of thousands costs no more to check
	 * than the threshold it crosses. */
	[STMT_INBOUND_RECENT] = "SELECT count(*) FROM (SELECT 1 FROM inbound "
	    "WHERE msisdn = ?1 AND stored_at > strftime('%Y-%m-%dT%H:%M:%SZ', "
	    "'now', '-' || ?2 || ' seconds') AND concat_ref IS NULL LIMIT "
	    "?3)",
	[STMT_INBOUND_FLAG] = "UPDATE inbound SET flags = flags | ?2 WHERE "
	    "id = ?1",
	[STMT_SMS_SESSION_GET] = "SELECT state FROM sessions WHERE "
	    "channel = ?1 AND session_id = ?2 AND ended_at IS NULL AND "
	    "updated_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-' || ?3 "
	    "|| ' seconds')",
	/* One SMS session row per caller and channel, reused: the id is
	 * derived from the pseudonym, never the number. */
	[STMT_SMS_SESSION_PUT] = "INSERT INTO sessions(channel, session_id, "
	    "kind, caller, msisdn, node, state, created_at, updated_at, "
	    "ended_at) VALUES (?1, ?2, 'sms', ?3, ?4, ?5, ?6, " NOW ", " NOW
	    ", CASE WHEN ?7 THEN " NOW " END) ON CONFLICT(channel, "
	    "session_id) DO UPDATE SET hops = hops + 1, node = excluded.node, "
	    "state = excluded.state, updated_at = excluded.updated_at, "
	    "ended_at = excluded.ended_at",
	[STMT_OPTOUT_GET] = "SELECT confirmation_sent FROM optouts WHERE "
	    "msisdn = ?1",
	[STMT_OPTOUT_SET] = "INSERT INTO optouts(msisdn, caller, "
	    "opted_out_at) VALUES (?1, ?2, " NOW ") ON CONFLICT(msisdn) DO "
	    "NOTHING",
	[STMT_OPTOUT_CLEAR] = "DELETE FROM optouts WHERE msisdn = ?1",
	[STMT_OPTOUT_CONFIRMED] = "UPDATE optouts SET confirmation_sent = 1 "
	    "WHERE msisdn = ?1",
	/* The turn counts the caller's own waiting rows, through the
	 * index on msisdn: left to choose, SQLite walks the lane's whole
	 * backlog (outbound_lane_due), and a campaign day's inserts slow
	 * down with every row queued. */
	[STMT_OUTBOUND_ADD] = "INSERT INTO outbound(channel, msisdn, caller, "
	    "body, purpose, inbound_id, task_id, send_key, next_attempt_at, "
	    "created_at, updated_at, lane, turn) VALUES (?1, ?2, ?3, ?4, ?5, "
	    "NULLIF(?6, 0), COALESCE(NULLIF(?7, 0), (SELECT id FROM tasks "
	    "WHERE msisdn = ?2 AND status != 'closed')), "
	    "lower(hex(randomblob(8))), " NOW_MS ", " NOW ", " NOW ", ?8, "
	    "(SELECT count(*) FROM outbound INDEXED BY outbound_msisdn WHERE "
	    "msisdn = ?2 AND channel = ?1 AND lane = ?8 AND status = "
	    "'pending')) ON "
	    "CONFLICT(inbound_id) DO NOTHING RETURNING id",
	[STMT_DLR_INSERT] = "INSERT INTO delivery_reports(channel, "
	    "provider_ref, status, reason, received_at, send_key) VALUES (?1, "
	    "?2, ?3, ?4, " NOW ", NULLIF(?5, '')) ON CONFLICT DO NOTHING",
	/* Status only moves forward (sent < delivered, failed final): a
	 * late 'sent' never undoes 'delivered'.  A report naming our key
	 * resolves a send whose answer never came ('unknown') and gives it
	 * the provider's reference. */
	[STMT_DLR_APPLY] = "UPDATE outbound SET status = ?3, last_error = "
	    "CASE WHEN ?3 = 'failed' THEN ?4 ELSE last_error END, "
	    "provider_ref = COALESCE(provider_ref, ?2), "
	    "updated_at = " NOW " WHERE channel = ?1 AND (provider_ref = ?2 "
	    "OR (?5 != '' AND send_key = ?5)) "
	    "AND CASE status WHEN 'delivered' THEN 3 WHEN 'failed' THEN 3 "
	    "WHEN 'sent' THEN 2 ELSE 1 END < CASE ?3 WHEN 'sent' THEN 2 "
	    "ELSE 3 END RETURNING id",
	/* What the send-time checks need, with each due row: the caller's
	 * opt-out, their latest task's answers, when they last wrote or
	 * dialled, and the message a V-COM MT answers.  Texting is unsafe
	 * when the caller's latest answer to that question said so, even
	 * on an older task.  By lane, then turn: a caller's tenth queued
	 * text waits for everyone's first.  The index walks the rows in
	 * that order, so a backlog of thousands is never sorted. */
	[STMT_OUTBOX_DUE] = "SELECT o.id, o.msisdn, o.caller, o.body, "
	    "o.purpose, o.send_key, o.attempts, COALESCE(o.task_id, 0), "
	    "EXISTS (SELECT 1 FROM optouts WHERE msisdn = o.msisdn), "
	    "(SELECT safe_to_sms FROM tasks WHERE msisdn = o.msisdn AND "
	    "safe_to_sms IS NOT NULL ORDER BY id DESC LIMIT 1), "
	    "t.preferred_time, "
	    "(julianday(max(COALESCE((SELECT max(stored_at) FROM inbound "
	    "WHERE msisdn = o.msisdn), ''), COALESCE((SELECT max(updated_at) "
	    "FROM sessions WHERE msisdn = o.msisdn), ''))) - 2440587.5) * "
	    "86400.0, mo.provider_msg_id, mo.body, "
	    "(julianday(o.created_at) - 2440587.5) * 86400.0, o.lane "
	    "FROM (SELECT id FROM outbound INDEXED BY outbound_lane_due WHERE "
	    "channel = ?1 AND status = 'pending' AND next_attempt_at <= "
	    NOW_MS " ORDER BY lane, turn, next_attempt_at, id LIMIT ?2) AS "
	    "due JOIN outbound o ON o.id = due.id LEFT JOIN tasks t ON t.id = "
	    "(SELECT id FROM tasks WHERE msisdn = o.msisdn ORDER BY "
	    "status != 'closed' DESC, id DESC LIMIT 1) LEFT JOIN inbound mo "
	    "ON mo.id = COALESCE(o.inbound_id, (SELECT max(id) FROM inbound WHERE "
	    "channel = o.channel AND msisdn = o.msisdn AND concat_ref IS "
	    "NULL)) ORDER BY o.lane, o.turn, o.next_attempt_at, o.id",
	[STMT_OUTBOX_NEXT_DUE] = "SELECT (julianday(min(next_attempt_at)) - "
	    "2440587.5) * 86400.0 FROM outbound WHERE channel = ?1 AND "
	    "status = 'pending'",
	[STMT_OUTBOX_CLAIM] = "UPDATE outbound SET status = 'sending', "
	    "attempts = attempts + 1, updated_at = " NOW " WHERE id = ?1 AND "
	    "status = 'pending'",
	/* A report may have overtaken the answer and moved the row on
	 * already: then only the reference is recorded. */
	[STMT_OUTBOX_SENT] = "UPDATE outbound SET status = CASE WHEN status "
	    "IN ('sending', 'unknown') THEN 'sent' ELSE status END, "
	    "provider_ref = COALESCE(provider_ref, NULLIF(?2, '')), "
	    "segments = ?3, encoding = ?4, sent_at = " NOW ", last_error = "
	    "NULL, updated_at = " NOW " WHERE id = ?1 RETURNING channel, "
	    "COALESCE(provider_ref, ''), send_key",
	/* Reports that came before the send's answer, applied now. */
	[STMT_OUTBOX_EARLY_DLR] = "UPDATE outbound SET status = r.status, "
	    "last_error = CASE WHEN r.status = 'failed' THEN r.reason ELSE "
	    "last_error END FROM (SELECT status, reason FROM delivery_reports "
	    "WHERE channel = ?2 AND ((?3 != '' AND provider_ref = ?3) OR "
	    "send_key = ?4) ORDER BY status IN ('sent', 'unknown'), id LIMIT "
	    "1) AS r WHERE outbound.id = ?1 AND outbound.status = 'sent' AND "
	    "r.status IN ('delivered', 'failed')",
	[STMT_OUTBOX_DELIVERED] = "UPDATE outbound SET status = 'delivered', "
	    "segments = ?2, encoding = ?3, sent_at = " NOW ", provider_ref = "
	    "'local:' || send_key, updated_at = " NOW " WHERE id = ?1 AND "
	    "status = 'sending'",
	[STMT_OUTBOX_FAILED] = "UPDATE outbound SET status = 'failed', "
	    "last_error = ?2, updated_at = " NOW " WHERE id = ?1 AND status = "
	    "'sending'",
	[STMT_OUTBOX_UNKNOWN] = "UPDATE outbound SET status = 'unknown', "
	    "last_error = ?2, updated_at = " NOW " WHERE id = ?1 AND status = "
	    "'sending'",
	[STMT_OUTBOX_RETRY] = "UPDATE outbound SET status = 'pending', "
	    "last_error = ?2, next_attempt_at = strftime('%Y-%m-%dT%H:%M:%fZ', "
	    "?3, 'unixepoch'), updated_at = " NOW " WHERE id = ?1 AND status = "
	    "'sending'",
	/* Waiting for the caller's contact window is not an attempt. */
	[STMT_OUTBOX_DEFER] = "UPDATE outbound SET last_error = ?2, "
	    "next_attempt_at = strftime('%Y-%m-%dT%H:%M:%fZ', ?3, "
	    "'unixepoch'), updated_at = " NOW " WHERE id = ?1 AND status = "
	    "'pending'",
	[STMT_OUTBOX_BLOCK] = "UPDATE outbound SET status = 'failed', "
	    "last_error = ?2, updated_at = " NOW " WHERE id = ?1 AND status = "
	    "'pending'",
	[STMT_OUTBOX_EXPIRE] = "UPDATE outbound SET status = 'expired', "
	    "last_error = ?2, updated_at = " NOW " WHERE id = ?1 AND status = "
	    "'pending'",
	/* Rows a stopped daemon left mid-send.  Where a resend cannot reach
	 * the caller twice (the provider drops a repeated key, for a day)
	 * they are sent again; elsewhere they wait for a report naming their
	 * key. */
	[STMT_OUTBOX_RECOVER] = "UPDATE outbound SET status = CASE WHEN ?2 "
	    "AND created_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now', "
	    "'-20 hours') THEN 'pending' ELSE 'unknown' END, last_error = "
	    "'interrupted mid-send', next_attempt_at = " NOW_MS ", "
	    "updated_at = " NOW " WHERE channel = ?1 AND status = 'sending'",
	[STMT_OUTBOX_COUNT] = "SELECT count(*) FROM outbound WHERE status = "
	    "?1",
	[STMT_ALERTS_DUE] = "SELECT id, created_at FROM tasks WHERE "
	    "priority = 'urgent' AND alerted_at IS NULL ORDER BY id LIMIT ?1",
	[STMT_ALERTS_DONE] = "UPDATE tasks SET alerted_at = " NOW " WHERE "
	    "id = ?1",
	[STMT_TOKEN_ADD] = "INSERT INTO tokens(name, role, hash, created_at) "
	    "VALUES (?1, ?2, ?3, " NOW ") ON CONFLICT DO NOTHING",
	[STMT_TOKEN_REVOKE] = "UPDATE tokens SET revoked_at = " NOW " WHERE "
	    "name = ?1 AND revoked_at IS NULL",
	[STMT_TOKEN_FIND] = "SELECT name, role, hash FROM tokens WHERE "
	    "hash = ?1 AND revoked_at IS NULL",
	[STMT_TOKEN_LIST] = "SELECT name, role, created_at, revoked_at FROM "
	    "tokens ORDER BY revoked_at IS NOT NULL, name, id",
	/* One statement: the choice and the claim cannot be split by a
	 * second counsellor's request. */
	[STMT_QUEUE_CLAIM_NEXT] = "UPDATE tasks SET status = 'claimed', "
	    "claimed_by = ?1, lease_expires_at = strftime('%Y-%m-%dT%H:%M:%SZ',"
	    " 'now', '+' || ?2 || ' seconds'), updated_at = " NOW " WHERE id = "
	    "(SELECT id FROM tasks WHERE (status = 'pending' AND (retry_at IS "
	    "NULL OR retry_at <= " NOW ")) OR (status = 'claimed' AND "
	    "lease_expires_at <= " NOW ") ORDER BY priority = 'urgent' DESC, "
	    "created_at, id LIMIT 1) RETURNING id",
	/* A live lease is never taken over, not even by a supervisor (who
	 * may complete or release it instead). */
	[STMT_QUEUE_CLAIM] = "UPDATE tasks SET status = 'claimed', "
	    "claimed_by = ?2, lease_expires_at = strftime('%Y-%m-%dT%H:%M:%SZ',"
	    " 'now', '+' || ?3 || ' seconds'), updated_at = " NOW " WHERE id = "
	    "?1 AND (status = 'pending' OR (status = 'claimed' AND "
	    "(claimed_by = ?2 OR lease_expires_at <= " NOW ")))",
	[STMT_QUEUE_RELEASE] = "UPDATE tasks SET status = 'pending', "
	    "claimed_by = NULL, lease_expires_at = NULL, updated_at = " NOW
	    " WHERE id = ?1 AND status = 'claimed' AND " MAY_ACT,
	[STMT_QUEUE_CLOSE] = "UPDATE tasks SET status = 'closed', outcome = "
	    "?4, attempts = attempts + ?5, closed_at = " NOW ", "
	    "lease_expires_at = NULL, first_completed_at = COALESCE("
	    "first_completed_at, " NOW "), safe_to_sms = CASE WHEN ?4 = "
	    "'unsafe' THEN 0 ELSE safe_to_sms END, updated_at = " NOW
	    " WHERE id = ?1 AND status = 'claimed' AND " MAY_ACT,
	[STMT_QUEUE_RETRY] = "UPDATE tasks SET status = 'pending', "
	    "attempts = attempts + 1, retry_at = COALESCE(?4, strftime("
	    "'%Y-%m-%dT%H:%M:%SZ', 'now', '+' || (900 * (attempts + 1)) || "
	    "' seconds')), claimed_by = NULL, lease_expires_at = NULL, "
	    "first_completed_at = COALESCE(first_completed_at, " NOW "), "
	    "updated_at = " NOW " WHERE id = ?1 AND status = 'claimed' AND "
	    MAY_ACT " AND attempts + 1 < ?5",
	[STMT_QUEUE_EXPIRE] = "UPDATE tasks SET status = 'pending', "
	    "claimed_by = NULL, lease_expires_at = NULL, updated_at = " NOW
	    " WHERE id IN (SELECT id FROM tasks WHERE status = 'claimed' AND "
	    "lease_expires_at <= " NOW " LIMIT 64) RETURNING id",
	[STMT_QUEUE_HELD] = "SELECT id FROM tasks WHERE status = 'claimed' "
	    "AND claimed_by = ?1 AND lease_expires_at > " NOW " LIMIT 1",
	[STMT_CALLER_UNSAFE] = "SELECT COALESCE((SELECT safe_to_sms = 0 FROM "
	    "tasks WHERE msisdn = ?1 AND safe_to_sms IS NOT NULL ORDER BY id "
	    "DESC LIMIT 1), 0)",
	[STMT_QUEUE_MAY_ACT] = "SELECT 1 FROM tasks WHERE id = ?1 AND "
	    "status = 'claimed' AND " MAY_ACT,
	[STMT_QUEUE_STATUS] = "SELECT status FROM tasks WHERE id = ?1",
	[STMT_NOTE_ADD] = "INSERT INTO task_notes(task_id, author, text, "
	    "created_at) VALUES (?1, ?2, ?3, " NOW ") RETURNING id",
	[STMT_TASK_GET] = "SELECT " TASK_COLUMNS " FROM tasks WHERE id = ?1",
	/* Keyset paging in queue order: rows added later never shift a
	 * page already read. */
	[STMT_TASK_PAGE] = "SELECT " TASK_COLUMNS " FROM tasks WHERE "
	    "CASE ?1 WHEN 'all' THEN 1 WHEN 'open' THEN status != 'closed' "
	    "ELSE status = ?1 END AND (CASE priority WHEN 'urgent' THEN 0 "
	    "ELSE 1 END, created_at, id) > (?2, ?3, ?4) ORDER BY priority = "
	    "'urgent' DESC, created_at, id LIMIT ?5",
	[STMT_TASK_NOTES] = "SELECT id, author, text, created_at FROM "
	    "task_notes WHERE task_id = ?1 ORDER BY id",
	/* Parts of a concatenated SMS are shown joined, once. */
	[STMT_CALLER_MESSAGES] = "SELECT 'in', body, stored_at, NULL, id "
	    "FROM inbound WHERE msisdn = ?1 AND concat_ref IS NULL UNION ALL "
	    "SELECT 'out', body, created_at, status, id FROM outbound WHERE "
	    "msisdn = ?1 ORDER BY 3, 1, 5",
	[STMT_AUDIT_PAGE] = "SELECT id, at, actor, action, COALESCE(task_id, "
	    "0), detail FROM audit WHERE ?1 = 0 OR id < ?1 ORDER BY id DESC "
	    "LIMIT ?2",
	/* Per caller seen (shown or texted) by ?1 in the last ?2 seconds,
	 * the latest time: how many, whether ?3 is one, and when the
	 * earliest of them leaves the window. */
	[STMT_REVEALS_RECENT] = "SELECT count(*), COALESCE(max(caller = ?3), "
	    "0), COALESCE(CAST(strftime('%s', min(last)) AS INTEGER), 0) FROM "
	    "(SELECT t.caller AS caller, max(a.at) AS last FROM audit a JOIN "
	    "tasks t ON t.id = a.task_id WHERE a.action IN "
	    "('number.revealed', 'task.texted') AND a.at > strftime("
	    "'%Y-%m-%dT%H:%M:%SZ', 'now', printf('-%d seconds', ?2)) AND "
	    "a.actor = ?1 GROUP BY t.caller)",
	[STMT_AUDIT_RECENT] = "SELECT count(*) FROM audit WHERE action = ?2 "
	    "AND at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now', printf('-%d "
	    "seconds', ?3)) AND actor = ?1",
	[STMT_STAT_OPEN_URGENT] = "SELECT count(*) FROM tasks WHERE status != "
	    "'closed' AND priority = 'urgent'",
	[STMT_STAT_OPEN_NORMAL] = "SELECT count(*) FROM tasks WHERE status != "
	    "'closed' AND priority = 'normal'",
	[STMT_STAT_OLDEST_PENDING] = "SELECT COALESCE(CAST(strftime('%s', "
	    "'now') - strftime('%s', min(created_at)) AS INTEGER), -1) FROM "
	    "tasks WHERE status = 'pending'",
	[STMT_STAT_MEDIAN_FIRST_CALL] = "SELECT COALESCE((SELECT d FROM "
	    "(SELECT strftime('%s', first_completed_at) - strftime('%s', "
	    "created_at) AS d FROM tasks WHERE first_completed_at IS NOT NULL "
	    "ORDER BY d) LIMIT 1 OFFSET (SELECT (count(*) - 1) / 2 FROM tasks "
	    "WHERE first_completed_at IS NOT NULL)), -1)",
	[STMT_OUTCOMES_SINCE] = "SELECT count(*) FROM audit WHERE action = "
	    "'task.completed' AND detail = ?1 AND at >= strftime("
	    "'%Y-%m-%dT%H:%M:%SZ', ?2, 'unixepoch')",
	[STMT_OUTBOUND_RECENT] = "SELECT count(*) FROM outbound WHERE "
	    "msisdn = ?1 AND purpose = ?2 AND created_at > strftime("
	    "'%Y-%m-%dT%H:%M:%SZ', 'now', '-' || ?3 || ' seconds')",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[STMT_COUNT_];
	/* Inside the writer's batch a function's own transaction is a
	 * savepoint; nested counts the ones open. */
	bool batch;
	unsigned nested;
};

static void
db_error(struct store *st, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(st->db));
}

static int
exec_sql(struct store *st, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : "sqlite error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
pragma_int(struct store *st, const char *sql, int *out)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
store_data_version(struct store *st, int64_t *version)
{
	int v;

	if (pragma_int(st, "PRAGMA data_version", &v) < 0)
		return -1;
	*version = v;
	return 0;
}

int
store_schema_version(struct store *st)
{
	int v = -1;

	if (pragma_int(st, "PRAGMA user_version", &v) < 0)
		return -1;
	return v;
}

static int
migrate(struct store *st, char *err, size_t errlen)
{
	const int latest = (int)(sizeof(migrations) / sizeof(migrations[0]));
	int version;
	char sql[64];

	if ((version = store_schema_version(st)) < 0) {
		db_error(st, "reading schema version", err, errlen);
		return -1;
	}
	if (version > latest) {
		snprintf(err, errlen, "database schema version %d is newer than "
		    "this hotlined understands (%d); run the newer hotlined or "
		    "restore a backup", version, latest);
		return -1;
	}
	for (; version < latest; version++) {
		char why[256];

		if (exec_sql(st, "BEGIN IMMEDIATE", why, sizeof(why)) < 0) {
			snprintf(err, errlen, "migration %d: %s", version + 1,
			    why);
			return -1;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		    version + 1);
		if (exec_sql(st, migrations[version], why, sizeof(why)) < 0 ||
		    exec_sql(st, sql, why, sizeof(why)) < 0 ||
		    exec_sql(st, "COMMIT", why, sizeof(why)) < 0) {
			snprintf(err, errlen, "migration %d: %s", version + 1,
			    why);
			exec_sql(st, "ROLLBACK", why, sizeof(why));
			return -1;
		}
	}
	return 0;
}

/* journal_mode answers with the mode now in force, which may not be the
 * one asked for (e.g. on a file system without shared memory). */
static int
set_wal(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int ok;

	if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s,
	    NULL) != SQLITE_OK) {
		db_error(st, "journal_mode", err, errlen);
		return -1;
	}
	ok = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) &&
	    strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
	sqlite3_finalize(s);
	if (!ok) {
		snprintf(err, errlen, "the database refused WAL mode (durable "
		    "acknowledgement depends on it); is it on a local file "
		    "system?");
		return -1;
	}
	return 0;
}

struct store *
store_open(const char *path, enum store_open_mode open_mode, char *err,
    size_t errlen)
{
	struct store *st;
	char why[256];
	int mode = 0, flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

	if (open_mode == STORE_OPEN_CREATE)
		flags |= SQLITE_OPEN_CREATE;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
		if (open_mode == STORE_OPEN_EXISTING)
			snprintf(err, errlen, "%s: not a hotline database (no "
			    "such file); check --database or the config's "
			    "database", path);
		else
			snprintf(err, errlen, "cannot open database %s: %s",
			    path, st->db ? sqlite3_errmsg(st->db) :
			    "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	if (open_mode == STORE_OPEN_EXISTING) {
		int v = store_schema_version(st);

		/* A tool must not create an empty database at a mistyped path,
		 * nor migrate one under a running daemon of another version. */
		if (v != STORE_SCHEMA_VERSION) {
			snprintf(err, errlen, "%s: %s (schema version %d; this "
			    "tool works on version %d)", path, v <= 0 ?
			    "not a hotline database" : "schema version differs",
			    v, STORE_SCHEMA_VERSION);
			goto fail;
		}
	}
	if (sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS) != SQLITE_OK ||
	    set_wal(st, why, sizeof(why)) < 0 ||
	    exec_sql(st, "PRAGMA synchronous = FULL", why, sizeof(why)) < 0 ||
	    exec_sql(st, "PRAGMA foreign_keys = ON", why, sizeof(why)) < 0) {
		snprintf(err, errlen, "cannot set up database %s: %s", path,
		    why);
		goto fail;
	}
	if (pragma_int(st, "PRAGMA synchronous", &mode) < 0 || mode != 2) {
		snprintf(err, errlen, "database %s: synchronous=FULL refused",
		    path);
		goto fail;
	}
	if (migrate(st, err, errlen) < 0)
		goto fail;
	for (int i = 0; i < STMT_COUNT_; i++)
		if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->stmt[i], NULL) !=
		    SQLITE_OK) {
			db_error(st, "preparing statements", err, errlen);
			goto fail;
		}
	return st;
fail:
	store_close(st);
	return NULL;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	for (int i = 0; i < STMT_COUNT_; i++)
		sqlite3_finalize(st->stmt[i]);
	/* sqlite3_close (not _v2): every statement is finalized above. */
	if (st->db != NULL)
		sqlite3_close(st->db);
	free(st);
}

/* Run a statement with no result rows; it is reset either way. */
static int
step_done(struct store *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	(void)st;
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
begin(struct store *st, char *err, size_t errlen)
{
	if (st->batch) {
		if (step_done(st, st->stmt[STMT_NEST]) < 0) {
			db_error(st, "savepoint", err, errlen);
			return -1;
		}
		st->nested++;
		return 0;
	}
	if (step_done(st, st->stmt[STMT_BEGIN]) < 0) {
		db_error(st, "begin", err, errlen);
		return -1;
	}
	return 0;
}

static void rollback(struct store *st);

static int
commit(struct store *st, char *err, size_t errlen)
{
	if (st->batch) {
		if (step_done(st, st->stmt[STMT_NEST_RELEASE]) < 0) {
			db_error(st, "release", err, errlen);
			rollback(st);
			return -1;
		}
		st->nested--;
		return 0;
	}
	if (step_done(st, st->stmt[STMT_COMMIT]) < 0) {
		db_error(st, "commit", err, errlen);
		step_done(st, st->stmt[STMT_ROLLBACK]);
		return -1;
	}
	return 0;
}

static void
rollback(struct store *st)
{
	if (st->batch) {
		if (st->nested > 0) {
			/* ROLLBACK TO keeps the savepoint open; release it. */
			step_done(st, st->stmt[STMT_NEST_ROLLBACK]);
			step_done(st, st->stmt[STMT_NEST_RELEASE]);
			st->nested--;
		}
		return;
	}
	if (!sqlite3_get_autocommit(st->db))
		step_done(st, st->stmt[STMT_ROLLBACK]);
}

int
store_batch_begin(struct store *st, char *err, size_t errlen)
{
	if (st->batch) {
		snprintf(err, errlen, "a batch is already open");
		return -1;
	}
	if (step_done(st, st->stmt[STMT_BEGIN]) < 0) {
		db_error(st, "begin", err, errlen);
		return -1;
	}
	st->batch = true;
	st->nested = 0;
	return 0;
}

int
store_batch_commit(struct store *st, char *err, size_t errlen)
{
	st->batch = false;
	if (step_done(st, st->stmt[STMT_COMMIT]) < 0) {
		db_error(st, "commit", err, errlen);
		step_done(st, st->stmt[STMT_ROLLBACK]);
		return -1;
	}
	return 0;
}

void
store_batch_rollback(struct store *st)
{
	st->batch = false;
	if (!sqlite3_get_autocommit(st->db))
		step_done(st, st->stmt[STMT_ROLLBACK]);
}

int
store_unit_begin(struct store *st)
{
	st->nested = 0;
	return step_done(st, st->stmt[STMT_UNIT]);
}

void
store_unit_end(struct store *st, bool keep)
{
	/* A unit that left savepoints of its own open is undone whole:
	 * its writes were not finished. */
	if (keep && st->nested == 0 &&
	    step_done(st, st->stmt[STMT_UNIT_RELEASE]) == 0)
		return;
	step_done(st, st->stmt[STMT_UNIT_ROLLBACK]);
	step_done(st, st->stmt[STMT_UNIT_RELEASE]);
	st->nested = 0;
}

int
store_ping_write(struct store *st, char *err, size_t errlen)
{
	if (begin(st, err, errlen) < 0)
		return -1;
	if (step_done(st, st->stmt[STMT_PING]) < 0) {
		db_error(st, "write probe", err, errlen);
		rollback(st);
		return -1;
	}
	return commit(st, err, errlen);
}

static void
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL || *v == '\0')
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

static void
bind_answer(sqlite3_stmt *s, int i, enum store_answer a)
{
	switch (a) {
	case STORE_ANSWER_UNKNOWN:
		sqlite3_bind_null(s, i);
		break;
	case STORE_ANSWER_NO:
		sqlite3_bind_int(s, i, 0);
		break;
	case STORE_ANSWER_YES:
		sqlite3_bind_int(s, i, 1);
		break;
	}
}

static enum store_answer
column_answer(sqlite3_stmt *s, int i)
{
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return STORE_ANSWER_UNKNOWN;
	return sqlite3_column_int(s, i) ? STORE_ANSWER_YES : STORE_ANSWER_NO;
}

/* Step a statement that returns one integer row (RETURNING id). */
static int
step_id(sqlite3_stmt *s, int64_t *id, bool *found)
{
	int rc = sqlite3_step(s);

	*found = rc == SQLITE_ROW;
	if (*found) {
		*id = sqlite3_column_int64(s, 0);
		rc = sqlite3_step(s);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
task_upsert(struct store *st, const struct store_task_request *t,
    int64_t *id, enum store_task_change *change)
{
	sqlite3_stmt *s = st->stmt[STMT_TASK_UPDATE_OPEN];
	bool found;

	bind_text(s, 1, t->msisdn);
	bind_text(s, 2, t->language);
	bind_text(s, 3, t->topic);
	bind_answer(s, 4, t->safe_to_call);
	bind_answer(s, 5, t->safe_to_sms);
	bind_text(s, 6, t->preferred_time);
	sqlite3_bind_int(s, 7, t->urgent);
	if (step_id(s, id, &found) < 0)
		return -1;
	if (found) {
		*change = STORE_TASK_UPDATED;
		return 0;
	}
	s = st->stmt[STMT_TASK_INSERT];
	sqlite3_bind_int(s, 1, t->urgent);
	bind_text(s, 2, t->caller);
	bind_text(s, 3, t->msisdn);
	bind_text(s, 4, t->channel);
	bind_text(s, 5, t->language);
	bind_text(s, 6, t->topic);
	bind_answer(s, 7, t->safe_to_call);
	bind_answer(s, 8, t->safe_to_sms);
	bind_text(s, 9, t->preferred_time);
	if (step_id(s, id, &found) < 0 || !found)
		return -1;
	*change = STORE_TASK_CREATED;
	return 0;
}

static int
audit_add(struct store *st, const char *actor, const char *action,
    int64_t task_id, const char *detail)
{
	sqlite3_stmt *s = st->stmt[STMT_AUDIT_ADD];

	bind_text(s, 1, actor);
	bind_text(s, 2, action);
	sqlite3_bind_int64(s, 3, task_id);
	bind_text(s, 4, detail);
	return step_done(st, s);
}

enum store_status
store_ussd_hop(struct store *st, const struct store_ussd_hop *hop,
    struct store_hop_result *res, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[STMT_SESSION_UPSERT];
	int64_t session_row = 0;
	char actor[64];
	int rc;

	res->task_id = 0;
	res->change = STORE_TASK_NONE;
	if (begin(st, err, errlen) < 0)
		return STORE_ERROR;

	bind_text(s, 1, hop->channel);
	bind_text(s, 2, hop->session_id);
	bind_text(s, 3, hop->caller);
	bind_text(s, 4, hop->msisdn);
	bind_text(s, 5, hop->node);
	sqlite3_bind_int(s, 6, hop->ended);
	rc = sqlite3_step(s);
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
		rollback(st);
		snprintf(err, errlen, "session id already belongs to another "
		    "caller");
		return STORE_CONFLICT;
	}

	if (hop->task != NULL && res->task_id == 0) {
		if (task_upsert(st, hop->task, &res->task_id, &res->change) <
		    0) {
			db_error(st, "recording task", err, errlen);
			goto fail;
		}
		s = st->stmt[STMT_SESSION_SET_TASK];
		sqlite3_bind_int64(s, 1, session_row);
		sqlite3_bind_int64(s, 2, res->task_id);
		snprintf(actor, sizeof(actor), "ussd:%s", hop->channel);
		if (step_done(st, s) < 0 ||
		    audit_add(st, actor, res->change == STORE_TASK_CREATED ?
		    "task.created" : "task.updated", res->task_id,
		    hop->task->urgent ? "urgent" : NULL) < 0) {
			db_error(st, "linking task", err, errlen);
			goto fail;
		}
	}
	if (commit(st, err, errlen) < 0) {
		res->change = STORE_TASK_NONE;
		return STORE_ERROR;
	}
	return STORE_OK;
fail:
	rollback(st);
	res->change = STORE_TASK_NONE;
	return STORE_ERROR;
}

static int inbound_part(struct store *, const struct store_inbound *, bool *);

int
store_inbound_batch(struct store *st, const struct store_inbound *msgs,
    size_t count, enum store_inbound_result *results, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = st->stmt[STMT_INBOUND_INSERT];

	if (begin(st, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		const struct store_inbound *m = &msgs[i];
		int64_t id;
		bool inserted;

		if (m->concat_total > 1) {
			if (inbound_part(st, m, &inserted) < 0) {
				db_error(st, "storing message part", err,
				    errlen);
				rollback(st);
				return -1;
			}
			results[i] = inserted ? STORE_INBOUND_NEW :
			    STORE_INBOUND_DUPLICATE;
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
		if (step_id(s, &id, &inserted) < 0) {
			db_error(st, "storing inbound message", err, errlen);
			rollback(st);
			return -1;
		}
		results[i] = inserted ? STORE_INBOUND_NEW :
		    STORE_INBOUND_DUPLICATE;
	}
	return commit(st, err, errlen);
}

/* A part: its own row, then the joined message if it was the last. */
static int
inbound_part(struct store *st, const struct store_inbound *m, bool *inserted)
{
	sqlite3_stmt *s = st->stmt[STMT_INBOUND_PART_INSERT];
	int64_t id;
	bool joined;

	bind_text(s, 1, m->channel);
	bind_text(s, 2, m->provider_msg_id);
	bind_text(s, 3, m->caller);
	bind_text(s, 4, m->msisdn);
	sqlite3_bind_text(s, 5, m->body, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 6, m->received_at ? m->received_at : "", -1,
	    SQLITE_TRANSIENT);
	bind_text(s, 7, m->concat_ref);
	sqlite3_bind_int(s, 8, (int)m->concat_part);
	sqlite3_bind_int(s, 9, (int)m->concat_total);
	if (step_id(s, &id, inserted) < 0)
		return -1;
	if (!*inserted)
		return 0;
	s = st->stmt[STMT_INBOUND_JOIN];
	bind_text(s, 1, m->channel);
	bind_text(s, 2, m->concat_ref);
	bind_text(s, 3, m->msisdn);
	bind_text(s, 4, m->caller);
	sqlite3_bind_int(s, 5, (int)m->concat_total);
	if (step_id(s, &id, &joined) < 0)
		return -1;
	if (!joined)
		return 0;
	s = st->stmt[STMT_INBOUND_JOINED];
	bind_text(s, 1, m->channel);
	bind_text(s, 2, m->concat_ref);
	bind_text(s, 3, m->msisdn);
	sqlite3_bind_int64(s, 4, id);
	return step_done(st, s);
}

int
store_txn_begin(struct store *st, char *err, size_t errlen)
{
	return begin(st, err, errlen);
}

int
store_txn_savepoint(struct store *st)
{
	return step_done(st, st->stmt[STMT_SAVEPOINT]);
}

int
store_txn_release(struct store *st)
{
	return step_done(st, st->stmt[STMT_SAVEPOINT_RELEASE]);
}

void
store_txn_rollback_savepoint(struct store *st)
{
	/* ROLLBACK TO keeps the savepoint open; release it too. */
	step_done(st, st->stmt[STMT_SAVEPOINT_ROLLBACK]);
	step_done(st, st->stmt[STMT_SAVEPOINT_RELEASE]);
}

int
store_txn_commit(struct store *st, char *err, size_t errlen)
{
	return commit(st, err, errlen);
}

void
store_txn_rollback(struct store *st)
{
	rollback(st);
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
	return step_done(st, st->stmt[STMT_INBOUND_PROCESSED]);
}

static int
count_query(sqlite3_stmt *s, int64_t *count)
{
	bool found;

	return step_id(s, count, &found) < 0 || !found ? -1 : 0;
}

int
store_inbound_recent(struct store *st, const char *msisdn, unsigned seconds,
    int64_t cap, int64_t *count)
{
	sqlite3_stmt *s = st->stmt[STMT_INBOUND_RECENT];

	bind_text(s, 1, msisdn);
	sqlite3_bind_int(s, 2, (int)seconds);
	sqlite3_bind_int64(s, 3, cap);
	return count_query(s, count);
}

int
store_inbound_flag(struct store *st, int64_t id, int flags)
{
	sqlite3_bind_int64(st->stmt[STMT_INBOUND_FLAG], 1, id);
	sqlite3_bind_int(st->stmt[STMT_INBOUND_FLAG], 2, flags);
	return step_done(st, st->stmt[STMT_INBOUND_FLAG]);
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
	bind_text(s, 1, channel);
	bind_text(s, 2, sid);
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
	bind_text(s, 1, channel);
	bind_text(s, 2, sid);
	bind_text(s, 3, caller);
	bind_text(s, 4, msisdn);
	bind_text(s, 5, node);
	bind_text(s, 6, state);
	sqlite3_bind_int(s, 7, ended);
	return step_done(st, s);
}

int
store_task_save(struct store *st, const struct store_task_request *req,
    int64_t *task_id, enum store_task_change *change)
{
	char actor[64];

	if (task_upsert(st, req, task_id, change) < 0)
		return -1;
	snprintf(actor, sizeof(actor), "sms:%s", req->channel);
	return audit_add(st, actor, *change == STORE_TASK_CREATED ?
	    "task.created" : "task.updated", *task_id, req->urgent ?
	    "urgent" : NULL);
}

int
store_optout_get(struct store *st, const char *msisdn, bool *opted_out,
    bool *confirmed)
{
	sqlite3_stmt *s = st->stmt[STMT_OPTOUT_GET];
	int64_t sent = 0;

	bind_text(s, 1, msisdn);
	if (step_id(s, &sent, opted_out) < 0)
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

	bind_text(s, 1, msisdn);
	if (opted_out)
		bind_text(s, 2, caller);
	if (step_done(st, s) < 0)
		return -1;
	if (!opted_out)
		return 0;
	bind_text(st->stmt[STMT_OUTBOUND_CANCEL], 1, msisdn);
	return step_done(st, st->stmt[STMT_OUTBOUND_CANCEL]);
}

int
store_optout_confirmed(struct store *st, const char *msisdn)
{
	bind_text(st->stmt[STMT_OPTOUT_CONFIRMED], 1, msisdn);
	return step_done(st, st->stmt[STMT_OPTOUT_CONFIRMED]);
}

int
store_outbound_add(struct store *st, const char *channel,
    const char *msisdn, const char *caller, const char *body,
    const char *purpose, int64_t inbound_id, int64_t task_id, int64_t *id)
{
	enum store_lane lane = STORE_LANE_FOLLOWUP;

	if (strcmp(purpose, "alert") == 0)
		lane = STORE_LANE_URGENT;
	else if (strcmp(purpose, "opt_out_confirmation") == 0 ||
	    strcmp(purpose, "keyword_reply") == 0)
		lane = STORE_LANE_CONFIRMATION;
	else if (strcmp(purpose, "reply") == 0)
		lane = STORE_LANE_REPLY;
	else if (strcmp(purpose, "message") == 0)
		lane = STORE_LANE_COUNSELLOR;
	return store_outbound_queue(st, lane, channel, msisdn, caller, body,
	    purpose, inbound_id, task_id, id);
}

int
store_outbound_queue(struct store *st, enum store_lane lane,
    const char *channel, const char *msisdn, const char *caller,
    const char *body, const char *purpose, int64_t inbound_id,
    int64_t task_id, int64_t *id)
{
	sqlite3_stmt *s = st->stmt[STMT_OUTBOUND_ADD];
	int64_t row = 0;
	bool found;
	int rc;

	bind_text(s, 1, channel);
	bind_text(s, 2, msisdn);
	bind_text(s, 3, caller);
	sqlite3_bind_text(s, 4, body, -1, SQLITE_TRANSIENT);
	bind_text(s, 5, purpose);
	sqlite3_bind_int64(s, 6, inbound_id);
	sqlite3_bind_int64(s, 7, task_id);
	sqlite3_bind_int(s, 8, (int)lane);
	rc = step_id(s, &row, &found);
	if (id != NULL)
		*id = found ? row : 0;
	return rc;
}

int
store_outbound_recent(struct store *st, const char *msisdn,
    const char *purpose, unsigned seconds, int64_t *count)
{
	sqlite3_stmt *s = st->stmt[STMT_OUTBOUND_RECENT];

	bind_text(s, 1, msisdn);
	bind_text(s, 2, purpose);
	sqlite3_bind_int(s, 3, (int)seconds);
	return count_query(s, count);
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
	if (begin(st, err, errlen) < 0)
		return -1;
	s = st->stmt[STMT_DLR_INSERT];
	bind_text(s, 1, channel);
	bind_text(s, 2, ref);
	bind_text(s, 3, status);
	bind_text(s, 4, reason);
	bind_text(s, 5, send_key);
	if (step_done(st, s) < 0)
		goto fail;
	s = st->stmt[STMT_DLR_APPLY];
	bind_text(s, 1, channel);
	bind_text(s, 2, ref);
	/* A receipt naming our message, whatever its word, shows the
	 * provider holds it: for the row, that is all "sent" says. */
	bind_text(s, 3, strcmp(status, "unknown") == 0 ? "sent" : status);
	bind_text(s, 4, reason);
	bind_text(s, 5, send_key);
	if (step_id(s, &id, matched) < 0)
		goto fail;
	return commit(st, err, errlen);
fail:
	db_error(st, "recording delivery report", err, errlen);
	rollback(st);
	return -1;
}

int
store_outbox_due(struct store *st, const char *channel, size_t limit,
    store_outbox_cb cb, void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[STMT_OUTBOX_DUE];
	int rc, ret = 0;

	bind_text(s, 1, channel);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_outbox_row r = {
			.id = sqlite3_column_int64(s, 0),
			.msisdn = (const char *)sqlite3_column_text(s, 1),
			.caller = (const char *)sqlite3_column_text(s, 2),
			.body = (const char *)sqlite3_column_text(s, 3),
			.purpose = (const char *)sqlite3_column_text(s, 4),
			.send_key = (const char *)sqlite3_column_text(s, 5),
			.attempts = sqlite3_column_int(s, 6),
			.task_id = sqlite3_column_int64(s, 7),
			.opted_out = sqlite3_column_int(s, 8) != 0,
			.safe_to_sms = column_answer(s, 9),
			.preferred_time = (const char *)sqlite3_column_text(s,
			    10),
			.last_contact = sqlite3_column_double(s, 11),
			.reply_to = (const char *)sqlite3_column_text(s, 12),
			.reply_body = (const char *)sqlite3_column_text(s, 13),
			.created = sqlite3_column_double(s, 14),
			.lane = (enum store_lane)sqlite3_column_int(s, 15),
		};

		if ((ret = cb(&r, arg)) != 0)
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

	bind_text(s, 1, channel);
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

/* Step an UPDATE, noting whether it changed a row. */
static int
step_changed(struct store *st, sqlite3_stmt *s, bool *applied)
{
	int rc = step_done(st, s);

	*applied = rc == 0 && sqlite3_changes(st->db) > 0;
	return rc;
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
	bind_text(s, 2, c->provider_ref ? c->provider_ref : "");
	sqlite3_bind_int(s, 3, (int)c->segments);
	bind_text(s, 4, c->encoding);
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
	bind_text(s, 2, channel);
	bind_text(s, 3, ref);
	bind_text(s, 4, key);
	return step_done(st, s);
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
	if (own && begin(st, why, sizeof(why)) < 0)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	switch (c->op) {
	case STORE_OUTBOX_CLAIM:
		rc = step_changed(st, s, applied);
		break;
	case STORE_OUTBOX_SENT:
		rc = outbox_sent(st, id, c, applied);
		break;
	case STORE_OUTBOX_DELIVERED:
		sqlite3_bind_int(s, 2, (int)c->segments);
		bind_text(s, 3, c->encoding);
		rc = step_changed(st, s, applied);
		break;
	case STORE_OUTBOX_RETRY:
	case STORE_OUTBOX_DEFER:
		sqlite3_bind_double(s, 3, c->at);
		/* FALLTHROUGH */
	default:
		bind_text(s, 2, c->reason);
		rc = step_changed(st, s, applied);
		break;
	}
	if (!own)
		return rc;
	if (rc < 0) {
		rollback(st);
		return -1;
	}
	return commit(st, why, sizeof(why));
}

int
store_outbox_recover(struct store *st, const char *channel, bool resend,
    int64_t *count)
{
	sqlite3_stmt *s = st->stmt[STMT_OUTBOX_RECOVER];
	int rc;

	bind_text(s, 1, channel);
	sqlite3_bind_int(s, 2, resend);
	rc = step_done(st, s);
	*count = rc == 0 ? sqlite3_changes(st->db) : 0;
	return rc;
}

int
store_outbox_count(struct store *st, const char *status, int64_t *count)
{
	sqlite3_stmt *s = st->stmt[STMT_OUTBOX_COUNT];

	bind_text(s, 1, status);
	return count_query(s, count);
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
store_alert_done(struct store *st, int64_t task_id)
{
	sqlite3_stmt *s = st->stmt[STMT_ALERTS_DONE];

	sqlite3_bind_int64(s, 1, task_id);
	return step_done(st, s);
}

static const char *
column_str(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

int
store_tasks_open_foreach(struct store *st, store_task_cb cb, void *arg,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[STMT_TASKS_OPEN];
	int rc, ret = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_task t = {
			.id = sqlite3_column_int64(s, 0),
			.status = column_str(s, 1),
			.priority = column_str(s, 2),
			.caller = column_str(s, 3),
			.msisdn = column_str(s, 4),
			.channel = column_str(s, 5),
			.language = column_str(s, 6),
			.topic = column_str(s, 7),
			.safe_to_call = column_answer(s, 8),
			.safe_to_sms = column_answer(s, 9),
			.preferred_time = column_str(s, 10),
			.created_at = column_str(s, 11),
			.updated_at = column_str(s, 12),
			.claimed_by = column_str(s, 13),
			.attempts = sqlite3_column_int(s, 14),
		};

		if ((ret = cb(&t, arg)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		db_error(st, "listing tasks", err, errlen);
		ret = -1;
	}
	sqlite3_reset(s);
	return ret;
}

int
store_tasks_count(struct store *st, const char *status, int64_t *count,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[STMT_TASKS_COUNT];
	bool found;

	bind_text(s, 1, status);
	if (step_id(s, count, &found) < 0 || !found) {
		db_error(st, "counting tasks", err, errlen);
		return -1;
	}
	return 0;
}

int
store_audit_tasks(struct store *st, const char *actor, const char *action,
    const int64_t *ids, size_t count, const char *detail, char *err,
    size_t errlen)
{
	if (begin(st, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < count; i++)
		if (audit_add(st, actor, action, ids[i], detail) < 0) {
			db_error(st, "audit", err, errlen);
			rollback(st);
			return -1;
		}
	return commit(st, err, errlen);
}

/* ------------------------------------------------------------------ */
/* Counsellor API: tokens                                              */

enum store_result
store_token_add(struct store *st, const char *name, const char *role,
    const char *hash)
{
	sqlite3_stmt *s = st->stmt[STMT_TOKEN_ADD];

	bind_text(s, 1, name);
	bind_text(s, 2, role);
	bind_text(s, 3, hash);
	if (step_done(st, s) < 0)
		return STORE_RESULT_ERROR;
	return sqlite3_changes(st->db) > 0 ? STORE_RESULT_OK :
	    STORE_RESULT_CONFLICT;
}

enum store_result
store_token_revoke(struct store *st, const char *name)
{
	sqlite3_stmt *s = st->stmt[STMT_TOKEN_REVOKE];

	bind_text(s, 1, name);
	if (step_done(st, s) < 0)
		return STORE_RESULT_ERROR;
	return sqlite3_changes(st->db) > 0 ? STORE_RESULT_OK :
	    STORE_RESULT_NOT_FOUND;
}

enum store_result
store_token_find(struct store *st, const char *hash, char *name,
    size_t namelen, char *role, size_t rolelen)
{
	sqlite3_stmt *s = st->stmt[STMT_TOKEN_FIND];
	enum store_result r = STORE_RESULT_NOT_FOUND;
	int rc;

	bind_text(s, 1, hash);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(s, 2);

		/* Found by its index; compared again in constant time. */
		if (h != NULL && privacy_equal(hash, h)) {
			snprintf(name, namelen, "%s",
			    (const char *)sqlite3_column_text(s, 0));
			snprintf(role, rolelen, "%s",
			    (const char *)sqlite3_column_text(s, 1));
			r = STORE_RESULT_OK;
		}
		rc = sqlite3_step(s);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? r : STORE_RESULT_ERROR;
}

int
store_token_list(struct store *st, store_token_cb cb, void *arg)
{
	sqlite3_stmt *s = st->stmt[STMT_TOKEN_LIST];
	int rc, ret = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = cb(column_str(s, 0), column_str(s, 1),
		    column_str(s, 2), column_str(s, 3), arg)) != 0)
			break;
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -1;
	sqlite3_reset(s);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Counsellor API: the queue                                           */

static void
task_from_row(sqlite3_stmt *s, struct store_task *t)
{
	*t = (struct store_task){
		.id = sqlite3_column_int64(s, 0),
		.status = column_str(s, 1),
		.priority = column_str(s, 2),
		.caller = column_str(s, 3),
		.msisdn = column_str(s, 4),
		.channel = column_str(s, 5),
		.language = column_str(s, 6),
		.topic = column_str(s, 7),
		.safe_to_call = column_answer(s, 8),
		.safe_to_sms = column_answer(s, 9),
		.preferred_time = column_str(s, 10),
		.created_at = column_str(s, 11),
		.updated_at = column_str(s, 12),
		.claimed_by = column_str(s, 13),
		.attempts = sqlite3_column_int(s, 14),
		.lease_expires_at = column_str(s, 15),
		.retry_at = column_str(s, 16),
		.outcome = column_str(s, 17),
		.closed_at = column_str(s, 18),
		.priority_rank = sqlite3_column_int(s, 19),
	};
}

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

	if (begin(st, why, sizeof(why)) < 0) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		return STORE_RESULT_ERROR;
	}
	if (step_done(st, s) < 0)
		r = STORE_RESULT_ERROR;
	else if (sqlite3_changes(st->db) == 0)
		r = why_unchanged(st, id);
	else if (audit_add(st, actor, action, id, detail) < 0)
		r = STORE_RESULT_ERROR;
	if (r == STORE_RESULT_ERROR || commit(st, why, sizeof(why)) < 0) {
		rollback(st);
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
	if (begin(st, why, sizeof(why)) < 0)
		return -1;
	bind_text(s, 1, actor);
	sqlite3_bind_int(s, 2, (int)lease_seconds);
	if (step_id(s, task_id, &found) < 0 ||
	    (found && audit_add(st, actor, "task.claimed", *task_id,
	    NULL) < 0)) {
		rollback(st);
		*task_id = 0;
		return -1;
	}
	if (!found)
		*task_id = 0;
	return commit(st, why, sizeof(why));
}

enum store_result
store_queue_claim(struct store *st, int64_t id, const char *actor,
    unsigned lease_seconds)
{
	sqlite3_stmt *s = st->stmt[STMT_QUEUE_CLAIM];

	sqlite3_bind_int64(s, 1, id);
	bind_text(s, 2, actor);
	sqlite3_bind_int(s, 3, (int)lease_seconds);
	return guarded(st, s, id, actor, "task.claimed", NULL);
}

enum store_result
store_queue_release(struct store *st, int64_t id, const char *actor,
    bool privileged)
{
	sqlite3_stmt *s = st->stmt[STMT_QUEUE_RELEASE];

	sqlite3_bind_int64(s, 1, id);
	bind_text(s, 2, actor);
	sqlite3_bind_int(s, 3, privileged);
	return guarded(st, s, id, actor, "task.released", NULL);
}

static int
note_add(struct store *st, int64_t id, const char *actor, const char *text,
    int64_t *note_id)
{
	sqlite3_stmt *s = st->stmt[STMT_NOTE_ADD];
	bool found;

	sqlite3_bind_int64(s, 1, id);
	bind_text(s, 2, actor);
	sqlite3_bind_text(s, 3, text, -1, SQLITE_TRANSIENT);
	return step_id(s, note_id, &found) < 0 || !found ? -1 : 0;
}

enum store_result
store_queue_complete(struct store *st, int64_t id, const char *actor,
    bool privileged, const struct store_completion *c)
{
	sqlite3_stmt *s;
	const char *recorded = c->outcome;
	char why[256];
	int64_t note_id;
	enum store_result r = STORE_RESULT_OK;

	if (begin(st, why, sizeof(why)) < 0)
		return STORE_RESULT_ERROR;
	if (strcmp(c->outcome, "no_answer") == 0) {
		/* Tried again later, until the attempts run out. */
		s = st->stmt[STMT_QUEUE_RETRY];
		sqlite3_bind_int64(s, 1, id);
		bind_text(s, 2, actor);
		sqlite3_bind_int(s, 3, privileged);
		bind_text(s, 4, c->retry_at);
		sqlite3_bind_int(s, 5, (int)c->max_attempts);
		if (step_done(st, s) < 0) {
			r = STORE_RESULT_ERROR;
			goto out;
		}
		if (sqlite3_changes(st->db) > 0)
			goto done;
		recorded = "unreached";
	}
	s = st->stmt[STMT_QUEUE_CLOSE];
	sqlite3_bind_int64(s, 1, id);
	bind_text(s, 2, actor);
	sqlite3_bind_int(s, 3, privileged);
	bind_text(s, 4, recorded);
	sqlite3_bind_int(s, 5, recorded != c->outcome);
	if (step_done(st, s) < 0) {
		r = STORE_RESULT_ERROR;
		goto out;
	}
	if (sqlite3_changes(st->db) == 0) {
		r = why_unchanged(st, id);
		goto out;
	}
done:
	if (audit_add(st, actor, "task.completed", id, recorded) < 0 ||
	    (c->note != NULL && c->note[0] != '\0' &&
	    note_add(st, id, actor, c->note, &note_id) < 0))
		r = STORE_RESULT_ERROR;
out:
	if (r != STORE_RESULT_OK || commit(st, why, sizeof(why)) < 0) {
		rollback(st);
		return r == STORE_RESULT_OK ? STORE_RESULT_ERROR : r;
	}
	return r;
}

enum store_result
store_queue_may_act(struct store *st, int64_t id, const char *actor,
    bool privileged)
{
	sqlite3_stmt *s = st->stmt[STMT_QUEUE_MAY_ACT];
	int rc;

	sqlite3_bind_int64(s, 1, id);
	bind_text(s, 2, actor);
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

	if (begin(st, why, sizeof(why)) < 0)
		return STORE_RESULT_ERROR;
	if ((r = store_queue_may_act(st, id, actor, privileged)) ==
	    STORE_RESULT_OK && (note_add(st, id, actor, text, note_id) < 0 ||
	    audit_add(st, actor, "task.noted", id, NULL) < 0))
		r = STORE_RESULT_ERROR;
	if (r != STORE_RESULT_OK || commit(st, why, sizeof(why)) < 0) {
		rollback(st);
		return r == STORE_RESULT_OK ? STORE_RESULT_ERROR : r;
	}
	return r;
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
		task_from_row(s, &t);
		r = cb(&t, arg) == 0 ? STORE_RESULT_OK : STORE_RESULT_ERROR;
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? r : STORE_RESULT_ERROR;
}

int
store_task_page(struct store *st, const char *status,
    const struct store_task_cursor *after, size_t limit, store_task_cb cb,
    void *arg)
{
	sqlite3_stmt *s = st->stmt[STMT_TASK_PAGE];
	struct store_task t;
	int rc, ret = 0;

	bind_text(s, 1, status);
	sqlite3_bind_int(s, 2, after ? after->rank : -1);
	sqlite3_bind_text(s, 3, after ? after->created_at : "", -1,
	    SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 4, after ? after->id : 0);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		task_from_row(s, &t);
		if ((ret = cb(&t, arg)) != 0)
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
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = cb(sqlite3_column_int64(s, 0), column_str(s, 1),
		    column_str(s, 2), column_str(s, 3), arg)) != 0)
			break;
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -1;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}

int
store_caller_messages(struct store *st, const char *msisdn,
    store_message_cb cb, void *arg)
{
	sqlite3_stmt *s = st->stmt[STMT_CALLER_MESSAGES];
	int rc, ret = 0;

	bind_text(s, 1, msisdn);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = cb(column_str(s, 0), column_str(s, 1),
		    column_str(s, 2), column_str(s, 3), arg)) != 0)
			break;
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -1;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}

int
store_audit_page(struct store *st, int64_t before, size_t limit,
    store_audit_cb cb, void *arg)
{
	sqlite3_stmt *s = st->stmt[STMT_AUDIT_PAGE];
	int rc, ret = 0;

	sqlite3_bind_int64(s, 1, before);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = cb(sqlite3_column_int64(s, 0), column_str(s, 1),
		    column_str(s, 2), column_str(s, 3),
		    sqlite3_column_int64(s, 4), column_str(s, 5), arg)) != 0)
			break;
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

	return count_query(st->stmt[stat_stmt[which]], value);
}

int
store_outcomes_since(struct store *st, const char *outcome,
    double day_start, int64_t *count)
{
	sqlite3_stmt *s = st->stmt[STMT_OUTCOMES_SINCE];

	bind_text(s, 1, outcome);
	sqlite3_bind_double(s, 2, day_start);
	return count_query(s, count);
}

int
store_audit_add(struct store *st, const char *actor, const char *action,
    int64_t task_id, const char *detail)
{
	return audit_add(st, actor, action, task_id, detail);
}

int
store_reveals_recent(struct store *st, const char *actor, const char *caller,
    unsigned seconds, struct store_reveals *out)
{
	sqlite3_stmt *s = st->stmt[STMT_REVEALS_RECENT];
	int rc;

	memset(out, 0, sizeof(*out));
	bind_text(s, 1, actor);
	sqlite3_bind_int64(s, 2, seconds);
	bind_text(s, 3, caller);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		out->distinct = sqlite3_column_int64(s, 0);
		out->includes_caller = sqlite3_column_int(s, 1) != 0;
		out->oldest = sqlite3_column_int64(s, 2);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
store_audit_recent(struct store *st, const char *actor, const char *action,
    unsigned seconds, bool *found)
{
	sqlite3_stmt *s = st->stmt[STMT_AUDIT_RECENT];
	int64_t n;
	bool row;

	bind_text(s, 1, actor);
	bind_text(s, 2, action);
	sqlite3_bind_int64(s, 3, seconds);
	if (step_id(s, &n, &row) < 0 || !row)
		return -1;
	*found = n > 0;
	return 0;
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
	if (begin(st, why, sizeof(why)) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (n < sizeof(ids) / sizeof(ids[0]))
			ids[n++] = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	/* Audited after the statement is done with its rows. */
	for (size_t i = 0; rc == SQLITE_DONE && i < n; i++)
		if (audit_add(st, "daemon", "task.lease_expired", ids[i],
		    NULL) < 0)
			rc = SQLITE_ERROR;
	if (rc != SQLITE_DONE || commit(st, why, sizeof(why)) < 0) {
		rollback(st);
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

	bind_text(s, 1, actor);
	if (step_id(s, task_id, &found) < 0)
		return -1;
	if (!found)
		*task_id = 0;
	return 0;
}

int
store_caller_unsafe_to_text(struct store *st, const char *msisdn,
    bool *unsafe)
{
	sqlite3_stmt *s = st->stmt[STMT_CALLER_UNSAFE];
	int64_t v = 0;

	bind_text(s, 1, msisdn);
	if (count_query(s, &v) < 0)
		return -1;
	*unsafe = v != 0;
	return 0;
}

/* --- queue (wp-api) --- */

/*
 * What an outcome does to a task is decided in queue.c; these apply the
 * decision, guarded by MAY_ACT as every queue change is.  Prepared per
 * call rather than in stmt_sql: the block stays at the end of the file
 * until the store is split by domain, and outcomes come at a
 * counsellor's pace, not on a hot path.
 */
static sqlite3_stmt *
queue_prepare(struct store *st, const char *sql, int64_t id,
    const char *actor, bool privileged)
{
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int64(s, 1, id);
	bind_text(s, 2, actor);
	sqlite3_bind_int(s, 3, privileged);
	return s;
}

/* Run and finalize s: OK, or why it changed nothing. */
static enum store_result
queue_step_guarded(struct store *st, sqlite3_stmt *s, int64_t id)
{
	enum store_result r = STORE_RESULT_OK;

	if (sqlite3_step(s) != SQLITE_DONE)
		r = STORE_RESULT_ERROR;
	else if (sqlite3_changes(st->db) == 0)
		r = why_unchanged(st, id);
	sqlite3_finalize(s);
	return r;
}

enum store_result
store_queue_close(struct store *st, int64_t id, const char *actor,
    bool privileged, const struct store_queue_close *c)
{
	sqlite3_stmt *s = queue_prepare(st, "UPDATE tasks SET status = "
	    "'closed', outcome = ?4, attempts = attempts + ?5, closed_at = "
	    NOW ", lease_expires_at = NULL, first_completed_at = COALESCE("
	    "first_completed_at, " NOW "), safe_to_sms = CASE WHEN ?6 THEN 0 "
	    "ELSE safe_to_sms END, updated_at = " NOW " WHERE id = ?1 AND "
	    "status = 'claimed' AND " MAY_ACT, id, actor, privileged);

	if (s == NULL)
		return STORE_RESULT_ERROR;
	bind_text(s, 4, c->outcome);
	sqlite3_bind_int(s, 5, c->count_attempt);
	sqlite3_bind_int(s, 6, c->unsafe_to_text);
	return queue_step_guarded(st, s, id);
}

enum store_result
store_queue_retry(struct store *st, int64_t id, const char *actor,
    bool privileged, const char *retry_at)
{
	sqlite3_stmt *s = queue_prepare(st, "UPDATE tasks SET status = "
	    "'pending', attempts = attempts + 1, retry_at = ?4, claimed_by = "
	    "NULL, lease_expires_at = NULL, first_completed_at = COALESCE("
	    "first_completed_at, " NOW "), updated_at = " NOW " WHERE id = ?1 "
	    "AND status = 'claimed' AND " MAY_ACT, id, actor, privileged);

	if (s == NULL)
		return STORE_RESULT_ERROR;
	bind_text(s, 4, retry_at);
	return queue_step_guarded(st, s, id);
}

int
store_task_note_add(struct store *st, int64_t task_id, const char *author,
    const char *text, int64_t *note_id)
{
	return note_add(st, task_id, author, text, note_id);
}

bool
store_in_batch(const struct store *st)
{
	return st->batch;
}
