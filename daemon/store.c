/*
 * store: opening, migrating and closing the database, transactions and
 * the writer's batches, and the helpers the domain files share
 * (store_private.h).  The SQL of each domain lives in its own file:
 * store_task.c, store_inbound.c, store_outbox.c, store_queue.c,
 * store_token.c, store_audit.c, store_purge.c.
 */
#include "store.h"
#include "store_private.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
	/* 7 -> 8: a token of role metrics (a Prometheus scraper's), which
	 * the old CHECK refused. */
	"CREATE TABLE tokens_v8 ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  role TEXT NOT NULL CHECK (role IN ('metrics','counsellor',"
	"    'supervisor','admin')),"
	"  hash TEXT NOT NULL UNIQUE,"
	"  created_at TEXT NOT NULL,"
	"  revoked_at TEXT"
	");"
	"INSERT INTO tokens_v8 SELECT id, name, role, hash, created_at, "
	"revoked_at FROM tokens;"
	"DROP TABLE tokens;"
	"ALTER TABLE tokens_v8 RENAME TO tokens;"
	"CREATE UNIQUE INDEX tokens_live_name ON tokens(name)"
	"  WHERE revoked_at IS NULL;",
	/* 8 -> 9 (resume, unsafe): a USSD caller's latest session is found
	 * by pseudonym, never by number, for the resume offer.  Callers a
	 * counsellor found unsafe to contact (outcome unsafe), by
	 * pseudonym, until they make contact again; their pending texts
	 * are found by pseudonym too. */
	"CREATE INDEX IF NOT EXISTS sessions_caller ON sessions(caller, "
	"updated_at);"
	"CREATE TABLE IF NOT EXISTS unsafe_callers ("
	"  caller TEXT PRIMARY KEY,"
	"  task_id INTEGER,"
	"  since TEXT NOT NULL"
	");"
	"CREATE INDEX IF NOT EXISTS outbound_caller_pending ON "
	"outbound(caller) WHERE status = 'pending';",
	/* 9 -> 10 (verification word): the word a caller chose for the
	 * counsellor who calls back to say; NULL when none was chosen.
	 * Read only by store_task_verification, never with a task's other
	 * columns, so no list can carry it. */
	"ALTER TABLE tasks ADD COLUMN verification TEXT;",
	/* 10 -> 11 (retention and erasure): what the retention purge deletes
	 * (messages, sessions, delivery reports) is first counted here, per
	 * UTC day, channel, kind and status, so the statistics of past days
	 * stay as they were; indexes to find a purge's rows by age and one
	 * caller's rows by pseudonym (erasure).  optouts.msisdn may now
	 * hold a pseudonym: an erased caller's opt-out, kept without the
	 * number.  Repeatable (IF NOT EXISTS), as the last step must be. */
	"CREATE TABLE IF NOT EXISTS stats_daily ("
	"  day TEXT NOT NULL,"
	"  channel TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  status TEXT NOT NULL DEFAULT '',"
	"  count INTEGER NOT NULL,"
	"  PRIMARY KEY (day, channel, kind, status)"
	") WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS tasks_closed ON tasks(closed_at)"
	"  WHERE status = 'closed';"
	"CREATE INDEX IF NOT EXISTS inbound_stored ON inbound(stored_at);"
	"CREATE INDEX IF NOT EXISTS outbound_created ON outbound(created_at);"
	"CREATE INDEX IF NOT EXISTS sessions_updated ON sessions(updated_at);"
	"CREATE INDEX IF NOT EXISTS delivery_reports_received ON"
	"  delivery_reports(received_at);"
	"CREATE INDEX IF NOT EXISTS audit_at ON audit(at);"
	"CREATE INDEX IF NOT EXISTS tasks_caller ON tasks(caller);"
	"CREATE INDEX IF NOT EXISTS inbound_caller ON inbound(caller);"
	"CREATE INDEX IF NOT EXISTS outbound_pseudonym ON outbound(caller);"
	"CREATE INDEX IF NOT EXISTS optouts_caller ON optouts(caller);",
	/* 11 -> 12 (crypt): numbers, texts, notes and menu state are sealed
	 * (store_keys.c), so nothing can be looked up by them any more:
	 * every lookup by number becomes one by the caller's keyed
	 * pseudonym.  Indexes on msisdn go (an index on a sealed column is
	 * useless and would only keep another copy), caller indexes take
	 * their place; one open task per caller by pseudonym; opt-outs are
	 * kept by pseudonym alone (the table is rebuilt without its number).
	 * The values already stored are sealed in C after this step, when
	 * the store is opened with its keys.  Repeatable (IF EXISTS, the
	 * rebuild reads only caller), like the steps before it. */
	"DROP INDEX IF EXISTS tasks_one_open_per_caller;"
	"CREATE UNIQUE INDEX tasks_one_open_per_caller ON tasks(caller)"
	"  WHERE status != 'closed';"
	"DROP INDEX IF EXISTS tasks_msisdn;"
	"DROP INDEX IF EXISTS tasks_caller;"
	"CREATE INDEX tasks_caller ON tasks(caller, id);"
	"DROP INDEX IF EXISTS sessions_msisdn;"
	"DROP INDEX IF EXISTS sessions_caller;"
	"CREATE INDEX sessions_caller ON sessions(caller, updated_at);"
	"DROP INDEX IF EXISTS inbound_msisdn;"
	"DROP INDEX IF EXISTS inbound_caller;"
	"DROP INDEX IF EXISTS inbound_recent;"
	"DROP INDEX IF EXISTS inbound_concat;"
	"CREATE INDEX inbound_caller ON inbound(caller, id);"
	"CREATE INDEX inbound_recent ON inbound(caller, stored_at);"
	"CREATE INDEX inbound_concat ON inbound(channel, caller, concat_ref)"
	"  WHERE concat_ref IS NOT NULL;"
	"DROP INDEX IF EXISTS outbound_msisdn;"
	"DROP INDEX IF EXISTS outbound_caller;"
	"DROP INDEX IF EXISTS outbound_pseudonym;"
	"CREATE INDEX outbound_caller ON outbound(caller, created_at);"
	"CREATE TABLE optouts_v9 ("
	"  caller TEXT PRIMARY KEY,"
	"  opted_out_at TEXT NOT NULL,"
	"  confirmation_sent INTEGER NOT NULL DEFAULT 0"
	");"
	"INSERT INTO optouts_v9 SELECT caller, min(opted_out_at), "
	"max(confirmation_sent) FROM optouts GROUP BY caller;"
	"DROP TABLE optouts;"
	"ALTER TABLE optouts_v9 RENAME TO optouts;",
	/* 12 -> 13: a USSD session that began with a resume offer says so,
	 * so that only its hops read their sealed state back (every other
	 * hop replays its path from the request alone).  Sessions open at
	 * the upgrade are marked as if they had: they read it as before. */
	"ALTER TABLE sessions ADD COLUMN offered INTEGER NOT NULL DEFAULT 0;"
	"UPDATE sessions SET offered = 1 WHERE kind = 'ussd' AND "
	"ended_at IS NULL;",
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

int
db_raw_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
db_exec(struct store *st, const char *sql, char *err, size_t errlen)
{
	return db_raw_exec(st->db, sql, err, errlen);
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
	store_queue_sql, store_token_sql, store_audit_sql, store_purge_sql,
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
store_open(const char *path, enum store_open_mode open_mode,
    const struct store_keys *keys, char *err, size_t errlen)
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
	if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK ||
	    db_register_now(st->db) < 0) {
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
	/* Freed pages can be given back (store_reclaim): for a new
	 * database this must come before its first table, and before WAL
	 * mode; an existing one keeps its mode until a VACUUM
	 * (store_auto_vacuum_enable). */
	if (open_mode == STORE_OPEN_CREATE &&
	    db_exec(st, "PRAGMA auto_vacuum = INCREMENTAL", why,
	    sizeof(why)) < 0) {
		snprintf(err, errlen, "cannot set up database %s: %s", path,
		    why);
		goto fail;
	}
	/* Deleted and overwritten content is zeroed, not left in free
	 * space for someone holding a copy of the file to read. */
	if (sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS) != SQLITE_OK ||
	    db_exec(st, "PRAGMA secure_delete = ON", why, sizeof(why)) < 0 ||
	    set_wal(st, why, sizeof(why)) < 0 ||
	    db_exec(st, "PRAGMA synchronous = FULL", why, sizeof(why)) < 0 ||
	    db_exec(st, "PRAGMA foreign_keys = ON", why, sizeof(why)) < 0 ||
	    db_exec(st, "PRAGMA temp_store = MEMORY", why, sizeof(why)) < 0) {
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
	if (keys_open(st, open_mode, keys, err, errlen) < 0 ||
	    keys_seal_existing(st, err, errlen) < 0)
		goto fail;
	return st;
fail:
	store_close(st);
	return NULL;
}

int
store_auto_vacuum_enable(struct store *st, bool *switched, char *err,
    size_t errlen)
{
	int mode = -1;

	*switched = false;
	if (pragma_int(st, "PRAGMA auto_vacuum", &mode) < 0) {
		db_error(st, "auto_vacuum", err, errlen);
		return -1;
	}
	if (mode == 2)            /* incremental */
		return 0;
	/* The mode is written by the VACUUM that rebuilds the file; it
	 * takes the write lock for as long as it runs, once. */
	if (db_exec(st, "PRAGMA auto_vacuum = INCREMENTAL", err, errlen) < 0 ||
	    db_exec(st, "VACUUM", err, errlen) < 0)
		return -1;
	if (pragma_int(st, "PRAGMA auto_vacuum", &mode) < 0 || mode != 2) {
		snprintf(err, errlen, "auto_vacuum stayed %d after VACUUM", mode);
		return -1;
	}
	*switched = true;
	return 0;
}

bool
store_in_batch(const struct store *st)
{
	return st->batch;
}

int
store_read_only(struct store *st, char *err, size_t errlen)
{
	if (keys_read_only(st, err, errlen) < 0)
		return -1;
	return db_exec(st, "PRAGMA query_only = ON", err, errlen);
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	keys_close(st);
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

/* hotline_now(ms): the UTC time of now, to the second, or the
 * millisecond when ms is true; the date part is formatted once a second
 * per thread. */
static void
sql_now(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	static _Thread_local time_t formatted = (time_t)-1;
	static _Thread_local char second[24];
	struct timespec now;
	char text[48];
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec != formatted) {
		if (gmtime_r(&now.tv_sec, &tm) == NULL ||
		    strftime(second, sizeof(second), "%Y-%m-%dT%H:%M:%S",
		    &tm) == 0) {
			sqlite3_result_error(ctx, "cannot format the time", -1);
			return;
		}
		formatted = now.tv_sec;
	}
	if (argc == 1 && sqlite3_value_int(argv[0]))
		snprintf(text, sizeof(text), "%s.%03dZ", second,
		    (int)(now.tv_nsec / 1000000));
	else
		snprintf(text, sizeof(text), "%sZ", second);
	sqlite3_result_text(ctx, text, -1, SQLITE_TRANSIENT);
}

int
db_register_now(sqlite3 *db)
{
	return sqlite3_create_function_v2(db, "hotline_now", 1, SQLITE_UTF8 |
	    SQLITE_INNOCUOUS, NULL, sql_now, NULL, NULL, NULL) == SQLITE_OK ?
	    0 : -1;
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
	/* The data keys this transaction made are durable before any row
	 * sealed with them. */
	if (keys_commit(st, err, errlen) < 0) {
		db_step_done(st, st->stmt[STMT_ROLLBACK]);
		return -1;
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
	keys_rollback(st);
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
	/* Outside a batch, db_begin/commit/rollback are the real thing. */
	if (db_begin(st, err, errlen) < 0)
		return -1;
	st->batch = true;
	st->nested = 0;
	keys_cache_start(st);
	return 0;
}

int
store_batch_commit(struct store *st, char *err, size_t errlen)
{
	int rc;

	st->batch = false;
	rc = db_commit(st, err, errlen);
	keys_cache_stop(st, rc == 0);
	return rc;
}

void
store_batch_rollback(struct store *st)
{
	st->batch = false;
	db_rollback(st);
	keys_cache_stop(st, false);
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

/* ------------------------------------------------------------------ */
/* Backup and restore                                                  */

/* Pages per backup step: small enough that each step is brief, large
 * enough that a big database is not copied a page at a time. */
#define BACKUP_CHUNK_PAGES 256
/* A step that finds the source busy or locked waits this long and tries
 * again, for at most BACKUP_BUSY_MS in all. */
#define BACKUP_RETRY_MS 10
#define BACKUP_BUSY_MS 30000

/* SQLite's lock bytes in a database file (os_unix.c): PENDING, RESERVED
 * and the SHARED range after them.  Any lock there is a connection. */
#define SQLITE_LOCK_START 0x40000000L
#define SQLITE_LOCK_LEN 512

static void
sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
	    .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The directory holding path, into dir. */
static int
dir_of(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');
	int n;

	if (slash == NULL)
		n = snprintf(dir, len, ".");
	else if (slash == path)
		n = snprintf(dir, len, "/");
	else
		n = snprintf(dir, len, "%.*s", (int)(slash - path), path);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int
fsync_path(const char *path, bool directory, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC |
	    (directory ? O_DIRECTORY : 0));

	if (fd < 0 || fsync(fd) < 0) {
		snprintf(err, errlen, "cannot sync %s: %s", path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* A new empty file, mode 0600, named from tmpl (…XXXXXX, rewritten). */
static int
make_temp(char *tmpl, char *err, size_t errlen)
{
	int fd = mkstemp(tmpl);

	if (fd < 0) {
		snprintf(err, errlen, "cannot create a file like %s: %s", tmpl,
		    strerror(errno));
		return -1;
	}
	/* mkstemp makes it 0600 already; say so in one place.  The fd is
	 * closed before SQLite opens the file: closing a descriptor of a
	 * file drops every POSIX lock this process holds on it. */
	if (fchmod(fd, 0600) < 0) {
		snprintf(err, errlen, "cannot set the mode of %s: %s", tmpl,
		    strerror(errno));
		close(fd);
		unlink(tmpl);
		return -1;
	}
	close(fd);
	return 0;
}

/* Remove a temporary database and whatever SQLite left beside it. */
static void
remove_temp(const char *path)
{
	char side[PATH_MAX + 16];

	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-journal", path);
	unlink(side);
}

/* The first column of sql's first row as text, into out ("" if none). */
static int
raw_text(sqlite3 *db, const char *sql, char *out, size_t len)
{
	sqlite3_stmt *s;
	int rc;

	out[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
		snprintf(out, len, "%s", (const char *)sqlite3_column_text(s,
		    0));
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* PRAGMA integrity_check: "ok", or its first complaint (which names
 * pages, tables and indexes, never a row's values). */
static int
check_integrity(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	char first[256];

	if (raw_text(db, "PRAGMA integrity_check", first, sizeof(first)) <
	    0) {
		snprintf(err, errlen, "%s: damaged, integrity_check failed: "
		    "%s", what, sqlite3_errmsg(db));
		return -1;
	}
	if (strcmp(first, "ok") != 0) {
		snprintf(err, errlen, "%s: integrity_check failed: %s", what,
		    first);
		return -1;
	}
	return 0;
}

/* The copy's version and newest inbound time.  stored_at is written by
 * the store as a UTC time; anything else there is not printed. */
static int
read_info(sqlite3 *db, struct store_copy_info *info)
{
	char v[32];

	info->newest_inbound[0] = '\0';
	if (raw_text(db, "PRAGMA user_version", v, sizeof(v)) < 0)
		return -1;
	info->schema_version = (int)strtol(v, NULL, 10);
	if (raw_text(db, "SELECT max(stored_at) FROM inbound",
	    info->newest_inbound, sizeof(info->newest_inbound)) < 0)
		return -1;
	if (strspn(info->newest_inbound, "0123456789-:.TZ") !=
	    strlen(info->newest_inbound))
		info->newest_inbound[0] = '\0';
	return 0;
}

/*
 * Copy every page of src's main database into dst, a chunk per step.
 * A busy or locked source waits a moment and goes on: in WAL mode that
 * is rare (a checkpoint or recovery in another process), and the
 * daemon's writer is never made to wait for us.
 */
static int
copy_pages(sqlite3 *dst, sqlite3 *src, char *err, size_t errlen)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	int rc, waited = 0;

	if (b == NULL) {
		snprintf(err, errlen, "backup: %s", sqlite3_errmsg(dst));
		return -1;
	}
	for (;;) {
		rc = sqlite3_backup_step(b, BACKUP_CHUNK_PAGES);
		if (rc == SQLITE_DONE)
			break;
		if (rc == SQLITE_OK)
			continue;
		if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
			if (waited >= BACKUP_BUSY_MS)
				break;
			sleep_ms(BACKUP_RETRY_MS);
			waited += BACKUP_RETRY_MS;
			continue;
		}
		break;
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "backup: %s%s", sqlite3_errstr(rc),
		    waited >= BACKUP_BUSY_MS ? " (busy for too long)" : "");
		sqlite3_backup_finish(b);
		return -1;
	}
	if ((rc = sqlite3_backup_finish(b)) != SQLITE_OK) {
		snprintf(err, errlen, "backup: %s", sqlite3_errstr(rc));
		return -1;
	}
	return 0;
}

/*
 * The copy at path made final: checked, one self-contained file
 * (journal_mode=DELETE folds and removes any -wal), its info read, and
 * fsynced.  The copy is not yet at its name.
 */
static int
seal_copy(const char *path, const char *what, struct store_copy_info *info,
    char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	char mode[16];
	struct stat sb;
	int rc = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot open the copy: %s", what,
		    db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	if (check_integrity(db, what, err, errlen) < 0)
		goto out;
	if (raw_text(db, "PRAGMA journal_mode = DELETE", mode,
	    sizeof(mode)) < 0 || strcmp(mode, "delete") != 0) {
		snprintf(err, errlen, "%s: the copy would not leave WAL mode: "
		    "%s", what, sqlite3_errmsg(db));
		goto out;
	}
	if (read_info(db, info) < 0) {
		snprintf(err, errlen, "%s: cannot read the copy: %s", what,
		    sqlite3_errmsg(db));
		goto out;
	}
	rc = 0;
out:
	if (db != NULL && sqlite3_close(db) != SQLITE_OK && rc == 0) {
		snprintf(err, errlen, "%s: cannot close the copy", what);
		rc = -1;
	}
	if (rc == 0 && (fsync_path(path, false, err, errlen) < 0 ||
	    stat(path, &sb) < 0))
		rc = -1;
	if (rc == 0)
		info->bytes = (int64_t)sb.st_size;
	return rc;
}

int
store_backup(struct store *st, const char *dest, bool force,
    struct store_copy_info *info, char *err, size_t errlen)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 96], why[512];
	const char *base = strrchr(dest, '/') ? strrchr(dest, '/') + 1 : dest;
	const char *live = sqlite3_db_filename(st->db, "main");
	sqlite3 *dst = NULL;
	struct stat sd, sl;
	bool in_txn = false;
	int rc = -1;

	memset(info, 0, sizeof(*info));
	if (*base == '\0' || dir_of(dest, dir, sizeof(dir)) < 0) {
		snprintf(err, errlen, "%s: not a file name", dest);
		return -1;
	}
	if (lstat(dest, &sd) == 0) {
		if (!force) {
			snprintf(err, errlen, "%s exists; give --force to "
			    "replace it", dest);
			return -1;
		}
		if (!S_ISREG(sd.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a regular "
			    "file", dest);
			return -1;
		}
		if (live != NULL && stat(live, &sl) == 0 &&
		    sl.st_dev == sd.st_dev && sl.st_ino == sd.st_ino) {
			snprintf(err, errlen, "%s is the live database", dest);
			return -1;
		}
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", dest, strerror(errno));
		return -1;
	}
	if (snprintf(tmp, sizeof(tmp), "%s/.%.64s.tmp-XXXXXX", dir, base) >=
	    (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: name too long", dest);
		return -1;
	}
	if (make_temp(tmp, err, errlen) < 0)
		return -1;
	if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", tmp,
		    dst ? sqlite3_errmsg(dst) : "out of memory");
		goto out;
	}
	/*
	 * One read transaction around the whole copy: every step reads the
	 * same snapshot, so writes the daemon commits meanwhile neither
	 * restart the copy nor tear it, and (WAL) the writer goes on.
	 */
	if (db_raw_exec(st->db, "BEGIN", why, sizeof(why)) < 0) {
		snprintf(err, errlen, "cannot read the database: %s", why);
		goto out;
	}
	in_txn = true;
	if (db_raw_exec(st->db, "SELECT count(*) FROM sqlite_master", why,
	    sizeof(why)) < 0) {
		snprintf(err, errlen, "cannot read the database: %s", why);
		goto out;
	}
	if (copy_pages(dst, st->db, err, errlen) < 0)
		goto out;
	db_raw_exec(st->db, "COMMIT", why, sizeof(why));
	in_txn = false;
	if (sqlite3_close(dst) != SQLITE_OK) {
		snprintf(err, errlen, "cannot close %s", tmp);
		goto out;
	}
	dst = NULL;
	if (seal_copy(tmp, "backup", info, err, errlen) < 0)
		goto out;
	/* link() refuses an existing name, so a file that appeared at
	 * dest meanwhile is not replaced either. */
	if (force ? rename(tmp, dest) < 0 : link(tmp, dest) < 0) {
		snprintf(err, errlen, "cannot put the copy at %s: %s", dest,
		    errno == EEXIST ? "it exists; give --force to replace it" :
		    strerror(errno));
		goto out;
	}
	if (!force)
		unlink(tmp);
	if (fsync_path(dir, true, err, errlen) < 0)
		return -1;      /* the copy is there, only not yet durable */
	return 0;
out:
	if (in_txn)
		db_raw_exec(st->db, "ROLLBACK", why, sizeof(why));
	if (dst != NULL)
		sqlite3_close(dst);
	remove_temp(tmp);
	return rc;
}

/* Open a file as a database, read-only, and say whether it is a hotline
 * database this build can run. */
static int
open_hotline_copy(const char *path, sqlite3 **out, int *version,
    char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	char v[32], n[32];
	struct stat sb;

	*out = NULL;
	if (stat(path, &sb) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    db ? sqlite3_errmsg(db) : "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(db, 1);
	if (raw_text(db, "PRAGMA user_version", v, sizeof(v)) < 0) {
		snprintf(err, errlen, "%s: not a hotline database (%s)", path,
		    sqlite3_errmsg(db));
		goto fail;
	}
	if (check_integrity(db, path, err, errlen) < 0)
		goto fail;
	*version = (int)strtol(v, NULL, 10);
	/* The tables the first schema made: a SQLite file without them is
	 * some other program's. */
	if (raw_text(db, "SELECT count(*) FROM sqlite_master WHERE type = "
	    "'table' AND name IN ('tasks', 'sessions', 'inbound', 'audit', "
	    "'meta')", n, sizeof(n)) < 0 || strcmp(n, "5") != 0 ||
	    *version < 1) {
		snprintf(err, errlen, "%s: not a hotline database (no hotline "
		    "tables, or schema version %d)", path, *version);
		goto fail;
	}
	if (*version > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: schema version %d is newer than "
		    "this build's (%d); restore it with the hotline that made "
		    "it", path, *version, STORE_SCHEMA_VERSION);
		goto fail;
	}
	*out = db;
	return 0;
fail:
	sqlite3_close(db);
	return -1;
}

int
store_restore_check(const char *path, struct store_copy_info *info,
    char *err, size_t errlen)
{
	sqlite3 *db;
	struct stat sb;
	int version;

	memset(info, 0, sizeof(*info));
	if (open_hotline_copy(path, &db, &version, err, errlen) < 0)
		return -1;
	if (read_info(db, info) < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path,
		    sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	sqlite3_close(db);
	if (stat(path, &sb) == 0)
		info->bytes = (int64_t)sb.st_size;
	return 0;
}

/* Is any lock held on fd's range by another process?  1 (with its pid),
 * 0, or -1. */
static int
lock_held(int fd, off_t start, off_t len, long *pid)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
	    .l_start = start, .l_len = len };

	if (fcntl(fd, F_GETLK, &fl) < 0)
		return -1;
	if (fl.l_type == F_UNLCK)
		return 0;
	*pid = (long)fl.l_pid;
	return 1;
}

/*
 * A running hotlined keeps SQLite's shared lock on the database file
 * for as long as its connections are open (WAL), and a read lock on the
 * -shm file; F_GETLK asks the kernel who holds them without taking
 * anything, and works whatever state the database is in.
 */
int
store_holder(const char *db, long *pid, char *err, size_t errlen)
{
	static const char *const suffixes[] = { "", "-shm" };
	char path[PATH_MAX + 8];

	*pid = 0;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		int fd, held;

		snprintf(path, sizeof(path), "%s%s", db, suffixes[i]);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			if (errno == ENOENT)
				continue;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
		held = i == 0 ? lock_held(fd, SQLITE_LOCK_START,
		    SQLITE_LOCK_LEN, pid) : lock_held(fd, 0, 0, pid);
		if (held < 0)
			snprintf(err, errlen, "%s: cannot query locks: %s",
			    path, strerror(errno));
		close(fd);
		if (held != 0)
			return held;
	}
	return 0;
}

/* Does path exist?  1, 0, or -1 (with errno). */
static int
exists(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

/* <db>.before-restore-<UTC time>, a name not yet taken. */
static int
kept_name(const char *db, char *out, size_t len, char *err, size_t errlen)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0) {
		snprintf(err, errlen, "cannot read the clock");
		return -1;
	}
	for (int i = 0; i < 100; i++) {
		int n = i == 0 ?
		    snprintf(out, len, "%s.before-restore-%s", db, stamp) :
		    snprintf(out, len, "%s.before-restore-%s.%d", db, stamp, i);
		char wal[PATH_MAX + 16];

		if (n < 0 || (size_t)n >= len) {
			snprintf(err, errlen, "%s: name too long", db);
			return -1;
		}
		snprintf(wal, sizeof(wal), "%s-wal", out);
		if (exists(out) == 0 && exists(wal) == 0)
			return 0;
	}
	snprintf(err, errlen, "no free name for the previous database beside "
	    "%s", db);
	return -1;
}

int
store_restore(const char *db, const char *src,
    struct store_restore_report *rep, char *err, size_t errlen)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 32], side[PATH_MAX + 16];
	char kept_wal[sizeof(rep->kept) + 8];
	sqlite3 *in = NULL, *dst = NULL;
	long pid;
	int version, held, rc = -1;

	memset(rep, 0, sizeof(*rep));
	if (dir_of(db, dir, sizeof(dir)) < 0) {
		snprintf(err, errlen, "%s: not a file name", db);
		return -1;
	}
	if ((held = store_holder(db, &pid, err, errlen)) < 0)
		return -1;
	if (held > 0) {
		if (pid > 0)
			snprintf(err, errlen, "%s is in use by process %ld (is "
			    "hotlined running? stop it first, e.g. systemctl "
			    "stop hotlined)", db, pid);
		else
			snprintf(err, errlen, "%s is in use by another process "
			    "(is hotlined running? stop it first)", db);
		return -1;
	}
	if (open_hotline_copy(src, &in, &version, err, errlen) < 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.restore-XXXXXX", db);
	if (make_temp(tmp, err, errlen) < 0) {
		sqlite3_close(in);
		return -1;
	}
	if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", tmp,
		    dst ? sqlite3_errmsg(dst) : "out of memory");
		goto out;
	}
	if (copy_pages(dst, in, err, errlen) < 0)
		goto out;
	sqlite3_close(in);
	in = NULL;
	if (sqlite3_close(dst) != SQLITE_OK) {
		snprintf(err, errlen, "cannot close %s", tmp);
		goto out;
	}
	dst = NULL;
	/* An older copy is brought to this build's schema here, by the
	 * daemon's own migrations, before anything is replaced. */
	if (version < STORE_SCHEMA_VERSION) {
		char why[512];
		struct store *st = store_open(tmp, STORE_OPEN_CREATE, NULL, why,
		    sizeof(why));

		if (st == NULL) {
			snprintf(err, errlen, "migrating the copy from version "
			    "%d: %s", version, why);
			goto out;
		}
		store_close(st);
		rep->migrated_from = version;
	}
	if (seal_copy(tmp, "restore", &rep->copy, err, errlen) < 0)
		goto out;

	/*
	 * The swap.  The old -shm is only an index of its WAL, safe to
	 * remove with no process attached, and must go before another
	 * database appears under its name; the -wal may hold committed
	 * transactions, so it moves with the old database (SQLite pairs
	 * <kept> with <kept>-wal when the kept file is opened).  It moves
	 * first: a -wal left beside the restored file would be replayed
	 * onto it.
	 */
	if (exists(db) == 1 && kept_name(db, rep->kept, sizeof(rep->kept),
	    err, errlen) < 0)
		goto out;
	snprintf(side, sizeof(side), "%s-shm", db);
	if (unlink(side) == 0)
		rep->removed_shm = true;
	else if (errno != ENOENT) {
		snprintf(err, errlen, "cannot remove %s: %s", side,
		    strerror(errno));
		goto out;
	}
	snprintf(side, sizeof(side), "%s-wal", db);
	if (exists(side) == 1) {
		if (rep->kept[0] == '\0' && kept_name(db, rep->kept,
		    sizeof(rep->kept), err, errlen) < 0)
			goto out;
		snprintf(kept_wal, sizeof(kept_wal), "%s-wal", rep->kept);
		if (rename(side, kept_wal) < 0) {
			snprintf(err, errlen, "cannot move %s aside: %s", side,
			    strerror(errno));
			goto out;
		}
		rep->kept_wal = true;
	}
	/* A hot rollback journal (not ours: the daemon runs WAL) would be
	 * replayed onto the new file as well; it goes with the old one. */
	snprintf(side, sizeof(side), "%s-journal", db);
	if (exists(side) == 1) {
		snprintf(kept_wal, sizeof(kept_wal), "%s-journal", rep->kept);
		if (rep->kept[0] == '\0' || rename(side, kept_wal) < 0) {
			snprintf(err, errlen, "cannot move %s aside", side);
			goto out;
		}
	}
	if (exists(db) == 1 && rename(db, rep->kept) < 0) {
		snprintf(err, errlen, "cannot move %s aside: %s", db,
		    strerror(errno));
		goto out;
	}
	if (rename(tmp, db) < 0) {
		snprintf(err, errlen, "cannot put the copy at %s: %s (the "
		    "previous database is %s)", db, strerror(errno),
		    rep->kept[0] ? rep->kept : "gone");
		goto out;
	}
	if (fsync_path(dir, true, err, errlen) < 0)
		return -1;
	return 0;
out:
	sqlite3_close(in);
	sqlite3_close(dst);
	remove_temp(tmp);
	return rc;
}
