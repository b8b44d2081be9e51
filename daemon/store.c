/*
 * store: opening, migrating and closing the database, transactions and
 * the writer's batches, and the helpers the domain files share
 * (store_private.h).  The SQL of each domain lives in its own file:
 * store_task.c, store_inbound.c, store_outbox.c, store_queue.c,
 * store_token.c, store_audit.c.
 */
#include "store.h"
#include "store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

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
	/* 6 -> 7: escalation.  When an unclaimed urgent task was last
	 * announced again and how many times, so a restart neither repeats
	 * an escalation early nor forgets the count. */
	"ALTER TABLE tasks ADD COLUMN escalated_at TEXT;"
	"ALTER TABLE tasks ADD COLUMN escalations INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX tasks_escalation ON tasks(id) WHERE priority = "
	"'urgent' AND status = 'pending';",
};

const struct store_sql store_core_sql[] = {
	{ STMT_BEGIN, "BEGIN IMMEDIATE" },
	{ STMT_COMMIT, "COMMIT" },
	{ STMT_ROLLBACK, "ROLLBACK" },
	{ STMT_SAVEPOINT, "SAVEPOINT message" },
	{ STMT_SAVEPOINT_RELEASE, "RELEASE message" },
	{ STMT_SAVEPOINT_ROLLBACK, "ROLLBACK TO message" },
	{ STMT_NEST, "SAVEPOINT nested" },
	{ STMT_NEST_RELEASE, "RELEASE nested" },
	{ STMT_NEST_ROLLBACK, "ROLLBACK TO nested" },
	{ STMT_UNIT, "SAVEPOINT unit" },
	{ STMT_UNIT_RELEASE, "RELEASE unit" },
	{ STMT_UNIT_ROLLBACK, "ROLLBACK TO unit" },
	{ STMT_PING, "INSERT INTO meta(key, value) VALUES ('ready_probe', "
	    NOW ") ON CONFLICT(key) DO UPDATE SET value = excluded.value" },
	{ STMT_COUNT_, NULL },
};


void
db_error(struct store *st, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(st->db));
}

static int
db_exec(struct store *st, const char *sql, char *err, size_t errlen)
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

		if (db_exec(st, "BEGIN IMMEDIATE", why, sizeof(why)) < 0) {
			snprintf(err, errlen, "migration %d: %s", version + 1,
			    why);
			return -1;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		    version + 1);
		if (db_exec(st, migrations[version], why, sizeof(why)) < 0 ||
		    db_exec(st, sql, why, sizeof(why)) < 0 ||
		    db_exec(st, "COMMIT", why, sizeof(why)) < 0) {
			snprintf(err, errlen, "migration %d: %s", version + 1,
			    why);
			db_exec(st, "ROLLBACK", why, sizeof(why));
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

static const struct store_sql *const domains[] = {
	store_core_sql, store_task_sql, store_inbound_sql, store_outbox_sql,
	store_queue_sql, store_token_sql, store_audit_sql,
};

/* Every statement of every domain, each exactly once. */
static int
prepare_all(struct store *st, char *err, size_t errlen)
{
	for (size_t d = 0; d < sizeof(domains) / sizeof(domains[0]); d++)
		for (const struct store_sql *q = domains[d]; q->sql != NULL;
		    q++) {
			if (st->stmt[q->id] != NULL) {
				snprintf(err, errlen, "statement %d defined "
				    "twice", (int)q->id);
				return -1;
			}
			if (sqlite3_prepare_v3(st->db, q->sql, -1,
			    SQLITE_PREPARE_PERSISTENT, &st->stmt[q->id],
			    NULL) != SQLITE_OK) {
				db_error(st, "preparing statements", err,
				    errlen);
				return -1;
			}
		}
	for (int i = 0; i < STMT_COUNT_; i++)
		if (st->stmt[i] == NULL) {
			snprintf(err, errlen, "statement %d has no SQL", i);
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
	    db_exec(st, "PRAGMA synchronous = FULL", why, sizeof(why)) < 0 ||
	    db_exec(st, "PRAGMA foreign_keys = ON", why, sizeof(why)) < 0) {
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
	if (prepare_all(st, err, errlen) < 0)
		goto fail;
	return st;
fail:
	store_close(st);
	return NULL;
}

bool
store_in_batch(const struct store *st)
{
	return st->batch;
}

int
store_read_only(struct store *st, char *err, size_t errlen)
{
	return db_exec(st, "PRAGMA query_only = ON", err, errlen);
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
int
db_step_done(struct store *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	(void)st;
	return rc == SQLITE_DONE ? 0 : -1;
}

int
db_begin(struct store *st, char *err, size_t errlen)
{
	if (st->batch) {
		if (db_step_done(st, st->stmt[STMT_NEST]) < 0) {
			db_error(st, "savepoint", err, errlen);
			return -1;
		}
		st->nested++;
		return 0;
	}
	if (db_step_done(st, st->stmt[STMT_BEGIN]) < 0) {
		db_error(st, "begin", err, errlen);
		return -1;
	}
	return 0;
}

int
db_commit(struct store *st, char *err, size_t errlen)
{
	if (st->batch) {
		if (db_step_done(st, st->stmt[STMT_NEST_RELEASE]) < 0) {
			db_error(st, "release", err, errlen);
			db_rollback(st);
			return -1;
		}
		st->nested--;
		return 0;
	}
	if (db_step_done(st, st->stmt[STMT_COMMIT]) < 0) {
		db_error(st, "commit", err, errlen);
		db_step_done(st, st->stmt[STMT_ROLLBACK]);
		return -1;
	}
	return 0;
}

void
db_rollback(struct store *st)
{
	if (st->batch) {
		if (st->nested > 0) {
			/* ROLLBACK TO keeps the savepoint open; release it. */
			db_step_done(st, st->stmt[STMT_NEST_ROLLBACK]);
			db_step_done(st, st->stmt[STMT_NEST_RELEASE]);
			st->nested--;
		}
		return;
	}
	if (!sqlite3_get_autocommit(st->db))
		db_step_done(st, st->stmt[STMT_ROLLBACK]);
}

int
store_batch_begin(struct store *st, char *err, size_t errlen)
{
	if (st->batch) {
		snprintf(err, errlen, "a batch is already open");
		return -1;
	}
	if (db_step_done(st, st->stmt[STMT_BEGIN]) < 0) {
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
	if (db_step_done(st, st->stmt[STMT_COMMIT]) < 0) {
		db_error(st, "commit", err, errlen);
		db_step_done(st, st->stmt[STMT_ROLLBACK]);
		return -1;
	}
	return 0;
}

void
store_batch_rollback(struct store *st)
{
	st->batch = false;
	if (!sqlite3_get_autocommit(st->db))
		db_step_done(st, st->stmt[STMT_ROLLBACK]);
}

int
store_unit_begin(struct store *st)
{
	st->nested = 0;
	return db_step_done(st, st->stmt[STMT_UNIT]);
}

void
store_unit_end(struct store *st, bool keep)
{
	/* A unit that left savepoints of its own open is undone whole:
	 * its writes were not finished. */
	if (keep && st->nested == 0 &&
	    db_step_done(st, st->stmt[STMT_UNIT_RELEASE]) == 0)
		return;
	db_step_done(st, st->stmt[STMT_UNIT_ROLLBACK]);
	db_step_done(st, st->stmt[STMT_UNIT_RELEASE]);
	st->nested = 0;
}

int
store_ping_write(struct store *st, char *err, size_t errlen)
{
	if (db_begin(st, err, errlen) < 0)
		return -1;
	if (db_step_done(st, st->stmt[STMT_PING]) < 0) {
		db_error(st, "write probe", err, errlen);
		db_rollback(st);
		return -1;
	}
	return db_commit(st, err, errlen);
}

void
db_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL || *v == '\0')
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

void
db_bind_answer(sqlite3_stmt *s, int i, enum store_answer a)
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

enum store_answer
db_column_answer(sqlite3_stmt *s, int i)
{
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return STORE_ANSWER_UNKNOWN;
	return sqlite3_column_int(s, i) ? STORE_ANSWER_YES : STORE_ANSWER_NO;
}

/* Step a statement that returns one integer row (RETURNING id). */
int
db_step_id(sqlite3_stmt *s, int64_t *id, bool *found)
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

int
store_txn_begin(struct store *st, char *err, size_t errlen)
{
	return db_begin(st, err, errlen);
}

int
store_txn_savepoint(struct store *st)
{
	return db_step_done(st, st->stmt[STMT_SAVEPOINT]);
}

int
store_txn_release(struct store *st)
{
	return db_step_done(st, st->stmt[STMT_SAVEPOINT_RELEASE]);
}

void
store_txn_rollback_savepoint(struct store *st)
{
	/* ROLLBACK TO keeps the savepoint open; release it too. */
	db_step_done(st, st->stmt[STMT_SAVEPOINT_ROLLBACK]);
	db_step_done(st, st->stmt[STMT_SAVEPOINT_RELEASE]);
}

int
store_txn_commit(struct store *st, char *err, size_t errlen)
{
	return db_commit(st, err, errlen);
}

void
store_txn_rollback(struct store *st)
{
	db_rollback(st);
}

int
db_count(sqlite3_stmt *s, int64_t *count)
{
	bool found;

	return db_step_id(s, count, &found) < 0 || !found ? -1 : 0;
}

/* Step an UPDATE, noting whether it changed a row. */
int
db_step_changed(struct store *st, sqlite3_stmt *s, bool *applied)
{
	int rc = db_step_done(st, s);

	*applied = rc == 0 && sqlite3_changes(st->db) > 0;
	return rc;
}

const char *
db_column_str(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}
