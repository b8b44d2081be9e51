/* store: schema migrations, durability settings, one open task per
 * caller, idempotent hops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "db_fixture.h"
#include "keys_fixture.h"

static char dir[PATH_MAX];
static char dbpath[PATH_MAX + 16];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/hotline-test-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct store *
fresh(const char *name)
{
	char err[512];
	struct store *st;

	snprintf(dbpath, sizeof(dbpath), "%s/%s", dir, name);
	st = store_open(dbpath, STORE_OPEN_CREATE,
	    fixture_keys(dbpath), err, sizeof(err));
	if (st == NULL)
		print_error("store_open: %s\n", err);
	assert_non_null(st);
	return st;
}

/* Read one value with a separate connection, as an operator would. */
static long long
query_int(const char *sql)
{
	return fixture_query_int(dbpath, sql);
}

static void
query_text(const char *sql, char *out, size_t outlen)
{
	sqlite3 *db;
	sqlite3_stmt *s;

	out[0] = '\0';
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL),
	    SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		snprintf(out, outlen, "%s", sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static void
new_database_is_migrated_to_latest_in_wal(void **state)
{
	struct store *st = fresh("new.db");
	char mode[16];

	(void)state;
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	query_text("PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	assert_int_equal(query_int("SELECT count(*) FROM sqlite_master "
	    "WHERE name IN ('tasks','sessions','inbound','audit',"
	    "'task_notes')"), 5);
	store_close(st);
	/* Reopening an up-to-date database changes nothing. */
	st = fresh("new.db");
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_close(st);
}

/* Step 9 undone: the msisdn indexes back, opt-outs by number, and the
 * stored values not yet sealed (and the steps after it). */
#define UNDO_TO_8 \
	/* 12 -> 13 */ \
	"ALTER TABLE sessions DROP COLUMN offered;" \
	"DROP INDEX tasks_one_open_per_caller;" \
	"CREATE UNIQUE INDEX tasks_one_open_per_caller ON tasks(msisdn)" \
	"  WHERE status != 'closed';" \
	"DROP INDEX tasks_caller;" \
	"CREATE INDEX tasks_msisdn ON tasks(msisdn, id);" \
	"DROP INDEX sessions_caller;" \
	"CREATE INDEX sessions_msisdn ON sessions(msisdn, updated_at);" \
	"DROP INDEX inbound_caller; DROP INDEX inbound_recent;" \
	"DROP INDEX inbound_concat;" \
	"CREATE INDEX inbound_msisdn ON inbound(msisdn, id);" \
	"CREATE INDEX inbound_recent ON inbound(msisdn, stored_at);" \
	"CREATE INDEX inbound_concat ON inbound(channel, msisdn, concat_ref)" \
	"  WHERE concat_ref IS NOT NULL;" \
	"DROP INDEX outbound_caller;" \
	"CREATE INDEX outbound_msisdn ON outbound(msisdn, created_at);" \
	"CREATE INDEX outbound_caller ON outbound(msisdn, id);" \
	"DROP TABLE optouts;" \
	"CREATE TABLE optouts (msisdn TEXT PRIMARY KEY, caller TEXT NOT NULL," \
	"  opted_out_at TEXT NOT NULL, confirmation_sent INTEGER NOT NULL" \
	"  DEFAULT 0);" \
	"DELETE FROM meta WHERE key = 'values_sealed';" \
	/* 10 -> 11 (retention; its caller indexes went with 11 -> 12) */ \
	"DROP TABLE stats_daily; DROP INDEX tasks_closed;" \
	"DROP INDEX inbound_stored; DROP INDEX outbound_created;" \
	"DROP INDEX sessions_updated; DROP INDEX delivery_reports_received;" \
	"DROP INDEX audit_at;" \
	/* 9 -> 10 (the word; 8 -> 9 is repeatable) */ \
	"ALTER TABLE tasks DROP COLUMN verification;" \
	"PRAGMA user_version = 8;"

/* Does the file at path, or its -wal, hold needle anywhere? */
static bool
file_holds(const char *path, const char *needle)
{
	char p[PATH_MAX + 64];
	size_t n = strlen(needle);
	bool found = false;

	for (int side = 0; side < 2 && !found; side++) {
		FILE *f;
		char *buf;
		long len;

		snprintf(p, sizeof(p), "%s%s", path, side ? "-wal" : "");
		if ((f = fopen(p, "rb")) == NULL)
			continue;
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		fseek(f, 0, SEEK_SET);
		assert_non_null(buf = malloc((size_t)len + 1));
		assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
		fclose(f);
		for (long i = 0; i + (long)n <= len && !found; i++)
			found = memcmp(buf + i, needle, n) == 0;
		free(buf);
	}
	return found;
}

struct first_body {
	char body[64];
};

static int
first_body_cb(const struct store_unprocessed *m, void *arg)
{
	struct first_body *f = arg;

	snprintf(f->body, sizeof(f->body), "%s", m->body ? m->body : "(null)");
	return 1;
}

/* A version 1 database (rebuilt here by undoing steps 3 and 2) migrates
 * to the latest with its rows intact. */
static void
version_1_database_migrates_keeping_its_rows(void **state)
{
	struct store *st = fresh("v1.db");
	sqlite3 *db;

	(void)state;
	store_close(st);
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, UNDO_TO_8
	    "INSERT INTO inbound(channel, provider_msg_id, caller, msisdn, "
	    "body, received_at, stored_at) VALUES ('c','m','c_1','+84912345678',"
	    "'body','','t');"
	    "DROP INDEX tasks_escalation;"
	    "ALTER TABLE tasks DROP COLUMN escalated_at;"
	    "ALTER TABLE tasks DROP COLUMN escalations;"
	    "DROP TABLE tokens; DROP INDEX audit_action;"
	    "DROP INDEX tasks_alert_due;"
	    "ALTER TABLE tasks DROP COLUMN first_completed_at;"
	    "DROP INDEX tasks_msisdn; DROP INDEX sessions_msisdn;"
	    "ALTER TABLE tasks DROP COLUMN alerted_at;"
	    "DROP INDEX inbound_unprocessed;"
	    "DROP INDEX inbound_concat;"
	    "DROP INDEX inbound_recent;"
	    "ALTER TABLE inbound DROP COLUMN processed_at;"
	    "ALTER TABLE inbound DROP COLUMN concat_ref;"
	    "ALTER TABLE inbound DROP COLUMN concat_part;"
	    "ALTER TABLE inbound DROP COLUMN concat_total;"
	    "ALTER TABLE inbound DROP COLUMN joined_id;"
	    "ALTER TABLE sessions DROP COLUMN state;"
	    "DROP TABLE optouts; DROP TABLE outbound;"
	    "DROP TABLE delivery_reports;"
	    "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(query_int("PRAGMA user_version"), 1);

	st = fresh("v1.db");
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	/* Stored in clear before encryption, sealed by the upgrade, and
	 * read back clear through the store. */
	assert_int_equal(query_int("SELECT count(*) FROM inbound WHERE "
	    "processed_at IS NULL AND body LIKE 's1.%' AND msisdn LIKE "
	    "'s1.%'"), 1);
	{
		struct first_body f = { "" };
		char err[256];

		assert_int_equal(store_inbound_unprocessed(st, 1,
		    first_body_cb, &f, err, sizeof(err)), 1);
		assert_string_equal(f.body, "body");
	}
	/* And the clear number is gone from the file and its WAL, not
	 * only from the rows. */
	assert_false(file_holds(dbpath, "84912345678"));
	assert_int_equal(query_int("SELECT count(*) FROM outbound"), 0);
	store_close(st);
}

/* A version 2 outbox row gets its send key, and old urgent tasks do not
 * alert again after the upgrade. */
static void
version_2_outbound_rows_get_send_keys(void **state)
{
	struct store *st = fresh("v2.db");
	sqlite3 *db;

	(void)state;
	store_close(st);
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, UNDO_TO_8
	    "DROP INDEX tasks_escalation;"
	    "ALTER TABLE tasks DROP COLUMN escalated_at;"
	    "ALTER TABLE tasks DROP COLUMN escalations;"
	    "DROP TABLE tokens; DROP INDEX audit_action;"
	    "DROP INDEX tasks_alert_due; DROP INDEX outbound_caller;"
	    "ALTER TABLE tasks DROP COLUMN first_completed_at;"
	    "DROP INDEX tasks_msisdn; DROP INDEX sessions_msisdn;"
	    "DROP INDEX outbound_send_key; DROP INDEX outbound_channel_due;"
	    "DROP INDEX delivery_reports_key;"
	    "ALTER TABLE tasks DROP COLUMN alerted_at;"
	    "ALTER TABLE outbound DROP COLUMN send_key;"
	    "ALTER TABLE outbound DROP COLUMN task_id;"
	    "ALTER TABLE outbound DROP COLUMN segments;"
	    "ALTER TABLE outbound DROP COLUMN encoding;"
	    "ALTER TABLE outbound DROP COLUMN sent_at;"
	    "ALTER TABLE delivery_reports DROP COLUMN send_key;"
	    "INSERT INTO tasks(priority, caller, msisdn, channel, created_at, "
	    "updated_at) VALUES ('urgent', 'c_1', '+84912345678', 'c', 't', "
	    "'t');"
	    "INSERT INTO outbound(channel, msisdn, caller, body, purpose, "
	    "created_at, updated_at) VALUES ('c', '+84912345678', 'c_1', 'x', "
	    "'reply', 't', 't'), ('c', '+84912345678', 'c_1', 'y', 'reply', "
	    "'t', 't');"
	    "PRAGMA user_version = 2;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	st = fresh("v2.db");
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	assert_int_equal(query_int("SELECT count(DISTINCT send_key) FROM "
	    "outbound WHERE length(send_key) = 16"), 2);
	assert_int_equal(query_int("SELECT count(*) FROM tasks WHERE "
	    "alerted_at IS NULL"), 0);
	/* Nothing sent them then; nothing sends them weeks late now. */
	assert_int_equal(query_int("SELECT count(*) FROM outbound WHERE "
	    "status = 'failed' AND last_error LIKE 'queued before%'"), 2);
	store_close(st);
}

/* Version 12: a USSD session open at the upgrade may have begun with a
 * resume offer (its sealed state would say): its hops keep reading the
 * state back.  Ended sessions and SMS conversations are not marked. */
static void
version_12_open_ussd_sessions_are_marked_offered(void **state)
{
	struct store *st = fresh("v12.db");
	sqlite3 *db;

	(void)state;
	store_close(st);
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	    "ALTER TABLE sessions DROP COLUMN offered;"
	    "INSERT INTO sessions(channel, session_id, kind, caller, msisdn, "
	    "node, created_at, updated_at, ended_at) VALUES "
	    "('c', 'open', 'ussd', 'c_1', '', 'topic', 't', 't', NULL), "
	    "('c', 'ended', 'ussd', 'c_1', '', 'done', 't', 't', 't'), "
	    "('c', 'sms', 'sms', 'c_1', '', 'topic', 't', 't', NULL);"
	    "PRAGMA user_version = 12;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	st = fresh("v12.db");
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	assert_int_equal(query_int("SELECT offered FROM sessions WHERE "
	    "session_id = 'open'"), 1);
	assert_int_equal(query_int("SELECT count(*) FROM sessions WHERE "
	    "offered"), 1);
	store_close(st);
}

/* The store writes the time as SQLite's strftime('...', 'now') did
 * (its own function since): UTC to the second, and to the millisecond
 * where the outbox schedules, within a moment of SQLite's clock. */
static void
times_are_written_as_strftime_wrote_them(void **state)
{
	struct store *st = fresh("now.db");

	(void)state;
	assert_int_equal(store_audit_add(st, "tester", "test.now", 0, NULL),
	    0);
	assert_int_equal(store_outbound_add(st, "ch", "+84912345678", "c_1",
	    "now", STORE_PURPOSE_REPLY, 0, 0, NULL), 0);
	assert_int_equal(query_int("SELECT count(*) FROM audit WHERE "
	    "action = 'test.now' AND at GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-"
	    "[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z' AND "
	    "abs(julianday(at) - julianday('now')) * 86400 < 5"), 1);
	assert_int_equal(query_int("SELECT count(*) FROM outbound WHERE "
	    "length(created_at) = 20 AND next_attempt_at GLOB "
	    "'[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:"
	    "[0-6][0-9].[0-9][0-9][0-9]Z' AND substr(next_attempt_at, 1, 16) = "
	    "substr(created_at, 1, 16) AND abs(julianday(next_attempt_at) - "
	    "julianday('now')) * 86400 < 5"), 1);
	store_close(st);
}

struct find_body {
	const char *body;
	int64_t id;
};

static int
find_body_cb(const struct store_outbox_row *row, void *arg)
{
	struct find_body *f = arg;

	if (row->body != NULL && strcmp(row->body, f->body) == 0)
		f->id = row->id;
	return 0;
}

/* Bodies are sealed: found among the due rows, opened by the store. */
static int64_t
outbound_id_by_body(struct store *st, const char *body)
{
	struct find_body f = { body, -1 };
	char err[256];

	assert_int_equal(store_outbox_due(st, "ch", 100, find_body_cb, &f,
	    err, sizeof(err)), 0);
	return f.id;
}

/* Column col of outbound row id, as text. */
static void
outbound_text(int64_t id, const char *col, char *out, size_t len)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT %s FROM outbound WHERE id = %lld",
	    col, (long long)id);
	query_text(sql, out, len);
}

static int
count_due(const struct store_outbox_row *row, void *arg)
{
	(void)row;
	(*(int *)arg)++;
	return 0;
}

/* The outbox's path through the states, reports that overtake the
 * send's answer, and a report naming our key resolving an unknown. */
static void
outbox_rows_move_through_their_states(void **state)
{
	struct store *st = fresh("outbox.db");
	struct store_outbox_change c = { 0 };
	char err[256], text[64], key[64];
	bool applied, matched;
	int64_t a, b, n;
	int due = 0;

	(void)state;
	assert_int_equal(store_outbound_add(st, "ch", "+84912345678", "c_1",
	    "first", STORE_PURPOSE_REPLY, 0, 0, NULL), 0);
	assert_int_equal(store_outbound_add(st, "ch", "+84912345678", "c_1",
	    "second", STORE_PURPOSE_REPLY, 0, 0, NULL), 0);
	a = outbound_id_by_body(st, "first");
	b = outbound_id_by_body(st, "second");
	assert_int_equal(store_outbox_due(st, "ch", 10, count_due, &due, err,
	    sizeof(err)), 0);
	assert_int_equal(due, 2);
	due = 0;
	assert_int_equal(store_outbox_due(st, "other", 10, count_due, &due,
	    err, sizeof(err)), 0);
	assert_int_equal(due, 0);

	/* Claimed once only. */
	c.op = STORE_OUTBOX_CLAIM;
	assert_int_equal(store_outbox_update(st, a, &c, &applied), 0);
	assert_true(applied);
	assert_int_equal(store_outbox_update(st, a, &c, &applied), 0);
	assert_false(applied);
	outbound_text(a, "attempts", text, sizeof(text));
	assert_string_equal(text, "1");

	/* A report overtakes the answer: applied when the answer comes. */
	assert_int_equal(store_dlr_record(st, "ch", "REF-A", "", "delivered",
	    "", &matched, err, sizeof(err)), 0);
	assert_false(matched);
	c = (struct store_outbox_change){ .op = STORE_OUTBOX_SENT,
	    .provider_ref = "REF-A", .segments = 2, .encoding = "gsm7" };
	assert_int_equal(store_outbox_update(st, a, &c, &applied), 0);
	assert_true(applied);
	outbound_text(a, "status || ' ' || segments", text, sizeof(text));
	assert_string_equal(text, "delivered 2");

	/* An ambiguous send: unknown until a report names our key. */
	c = (struct store_outbox_change){ .op = STORE_OUTBOX_CLAIM };
	assert_int_equal(store_outbox_update(st, b, &c, &applied), 0);
	c = (struct store_outbox_change){ .op = STORE_OUTBOX_UNKNOWN,
	    .reason = "timeout" };
	assert_int_equal(store_outbox_update(st, b, &c, &applied), 0);
	assert_true(applied);
	outbound_text(b, "send_key", key, sizeof(key));
	assert_int_equal(strlen(key), 16);
	assert_int_equal(store_dlr_record(st, "ch", "REF-B", key, "sent", "",
	    &matched, err, sizeof(err)), 0);
	assert_true(matched);
	outbound_text(b, "status || ' ' || provider_ref", text, sizeof(text));
	assert_string_equal(text, "sent REF-B");

	/* A retry is pending again, not due before its time. */
	assert_int_equal(store_outbound_add(st, "ch", "+84912345678", "c_1",
	    "third", STORE_PURPOSE_REPLY, 0, 0, NULL), 0);
	a = outbound_id_by_body(st, "third");
	c = (struct store_outbox_change){ .op = STORE_OUTBOX_CLAIM };
	assert_int_equal(store_outbox_update(st, a, &c, &applied), 0);
	c = (struct store_outbox_change){ .op = STORE_OUTBOX_RETRY,
	    .reason = "HTTP 503", .at = (double)time(NULL) + 3600 };
	assert_int_equal(store_outbox_update(st, a, &c, &applied), 0);
	assert_true(applied);
	due = 0;
	assert_int_equal(store_outbox_due(st, "ch", 10, count_due, &due, err,
	    sizeof(err)), 0);
	assert_int_equal(due, 0);

	/* Left mid-send: unknown, or pending when a resend is safe. */
	assert_int_equal(store_outbound_add(st, "ch", "+84912345678", "c_1",
	    "fourth", STORE_PURPOSE_REPLY, 0, 0, NULL), 0);
	a = outbound_id_by_body(st, "fourth");
	c = (struct store_outbox_change){ .op = STORE_OUTBOX_CLAIM };
	assert_int_equal(store_outbox_update(st, a, &c, &applied), 0);
	assert_int_equal(store_outbox_recover(st, "ch", false, &n), 0);
	assert_int_equal(n, 1);
	outbound_text(a, "status", text, sizeof(text));
	assert_string_equal(text, "unknown");
	store_close(st);
}

struct bodies {
	char text[256];
};

static int
collect_body(const struct store_outbox_row *row, void *arg)
{
	struct bodies *b = arg;
	size_t used = strlen(b->text);

	snprintf(b->text + used, sizeof(b->text) - used, "%s%s",
	    used ? " " : "", row->body);
	return 0;
}

/* Due rows leave by lane, then by turn (a caller's second queued text
 * after everyone's first), then oldest first; a page can expire. */
static void
outbox_due_goes_by_lane_then_turn(void **state)
{
	struct store *st = fresh("lanes.db");
	struct store_outbox_change c = { .op = STORE_OUTBOX_EXPIRE,
	    .reason = "idle" };
	struct bodies b = { "" };
	char err[256];
	bool applied;
	int64_t n;

	(void)state;
	assert_int_equal(store_outbound_add(st, "ch", "+84900000009", "c_9",
	    "missed", STORE_PURPOSE_MISSED_CALL, 0, 0, NULL), 0);
	assert_int_equal(store_outbound_add(st, "ch", "+84900000008", "c_8",
	    "message", STORE_PURPOSE_MESSAGE, 0, 0, NULL), 0);
	assert_int_equal(store_outbound_add(st, "ch", "+84900000001", "c_1",
	    "f1", STORE_PURPOSE_REPLY, 0, 0, NULL), 0);
	assert_int_equal(store_outbound_add(st, "ch", "+84900000001", "c_1",
	    "f2", STORE_PURPOSE_REPLY, 0, 0, NULL), 0);
	assert_int_equal(store_outbound_add(st, "ch", "+84900000001", "c_1",
	    "f3", STORE_PURPOSE_REPLY, 0, 0, NULL), 0);
	assert_int_equal(store_outbound_add(st, "ch", "+84900000002", "c_2",
	    "other", STORE_PURPOSE_REPLY, 0, 0, NULL), 0);
	assert_int_equal(store_outbound_queue(st, STORE_LANE_FIRST_REPLY,
	    "ch", "+84900000003", "c_3", "first", STORE_PURPOSE_REPLY, 0, 0, NULL), 0);
	assert_int_equal(store_outbound_add(st, "ch", "+84900000004", "c_4",
	    "stop", STORE_PURPOSE_OPT_OUT_CONFIRMATION, 0, 0, NULL), 0);
	assert_int_equal(store_outbound_add(st, "ch", "+84900000005", "c_5",
	    "alert", STORE_PURPOSE_ALERT, 0, 0, NULL), 0);
	assert_int_equal(store_outbox_due(st, "ch", 20, collect_body, &b, err,
	    sizeof(err)), 0);
	assert_string_equal(b.text, "alert stop first f1 other f2 f3 message "
	    "missed");
	b.text[0] = '\0';
	assert_int_equal(store_outbox_due(st, "ch", 2, collect_body, &b, err,
	    sizeof(err)), 0);
	assert_string_equal(b.text, "alert stop");

	/* A pending page expires once, and is counted. */
	n = outbound_id_by_body(st, "f3");
	assert_int_equal(store_outbox_update(st, n, &c, &applied), 0);
	assert_true(applied);
	assert_int_equal(store_outbox_update(st, n, &c, &applied), 0);
	assert_false(applied);
	assert_int_equal(store_outbox_count(st, STORE_OUTBOUND_EXPIRED, &n), 0);
	assert_int_equal(n, 1);
	store_close(st);
}

static void
database_from_newer_schema_is_refused(void **state)
{
	char err[512];
	sqlite3 *db;

	(void)state;
	snprintf(dbpath, sizeof(dbpath), "%s/newer.db", dir);
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(store_open(dbpath, STORE_OPEN_CREATE,
	    fixture_keys(dbpath), err, sizeof(err)));
	assert_non_null(strstr(err, "schema version 99 is newer"));
}

static void
inbound_is_unique_per_channel_and_provider_id(void **state)
{
	struct store *st = fresh("unique.db");
	sqlite3 *db;
	int rc;

	(void)state;
	store_close(st);
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO inbound(channel, "
	    "provider_msg_id, caller, msisdn, body, received_at, stored_at) "
	    "VALUES ('a','m1','c','+1','b','t','t')", NULL, NULL, NULL),
	    SQLITE_OK);
	rc = sqlite3_exec(db, "INSERT INTO inbound(channel, provider_msg_id, "
	    "caller, msisdn, body, received_at, stored_at) VALUES ('a','m1',"
	    "'c','+1','b','t','t')", NULL, NULL, NULL);
	assert_int_equal(rc, SQLITE_CONSTRAINT);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO inbound(channel, "
	    "provider_msg_id, caller, msisdn, body, received_at, stored_at) "
	    "VALUES ('b','m1','c','+1','b','t','t')", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
}

/* A pseudonym per number (the store looks callers up by it). */
static const char *
caller_of(const char *msisdn)
{
	static char ring[16][32];
	static unsigned next;
	char *c = ring[next++ % 16];

	snprintf(c, sizeof(ring[0]), "c_%s", msisdn + 1);
	return c;
}

static struct store_task_request
request(const char *msisdn, bool urgent)
{
	return (struct store_task_request){
		.channel = "console", .caller = caller_of(msisdn),
		.msisdn = msisdn, .language = "vi", .topic = "counselling",
		.preferred_time = "evening", .safe_to_call = STORE_ANSWER_YES,
		.safe_to_sms = STORE_ANSWER_NO, .urgent = urgent,
	};
}

static enum store_result
hop(struct store *st, const char *session, const char *msisdn,
    const struct store_task_request *task, struct store_hop_result *res)
{
	char err[512];
	struct store_ussd_hop h = {
		.channel = "console", .session_id = session,
		.caller = caller_of(msisdn), .msisdn = msisdn,
		.node = task ? "done" : "need", .ended = task != NULL,
		.task = task,
	};

	return store_ussd_hop(st, &h, res, err, sizeof(err));
}

static void
finished_request_creates_one_task_and_audit_row(void **state)
{
	struct store *st = fresh("task.db");
	struct store_task_request t = request("+84912345678", false);
	struct store_hop_result r;

	(void)state;
	assert_int_equal(hop(st, "s1", "+84912345678", NULL, &r), STORE_RESULT_OK);
	assert_int_equal(r.change, STORE_TASK_NONE);
	assert_int_equal(r.task_id, 0);
	assert_int_equal(hop(st, "s1", "+84912345678", &t, &r), STORE_RESULT_OK);
	assert_int_equal(r.change, STORE_TASK_CREATED);
	assert_true(r.task_id > 0);
	assert_int_equal(query_int("SELECT count(*) FROM tasks"), 1);
	assert_int_equal(query_int("SELECT hops FROM sessions"), 2);
	assert_int_equal(query_int("SELECT safe_to_sms FROM tasks"), 0);
	assert_int_equal(query_int("SELECT count(*) FROM audit WHERE action ="
	    " 'task.created'"), 1);

	/* The aggregator retries the final hop: nothing new. */
	assert_int_equal(hop(st, "s1", "+84912345678", &t, &r), STORE_RESULT_OK);
	assert_int_equal(r.change, STORE_TASK_NONE);
	assert_int_equal(query_int("SELECT count(*) FROM tasks"), 1);
	assert_int_equal(query_int("SELECT count(*) FROM audit"), 1);
	store_close(st);
}

static void
second_request_updates_the_open_task_and_urgent_raises_it(void **state)
{
	struct store *st = fresh("again.db");
	struct store_task_request t = request("+84912345678", false);
	struct store_task_request u = request("+84912345678", true);
	struct store_hop_result r1, r2;
	char prio[16];

	(void)state;
	assert_int_equal(hop(st, "s1", "+84912345678", &t, &r1), STORE_RESULT_OK);
	u.topic = "urgent";
	u.preferred_time = NULL;
	assert_int_equal(hop(st, "s2", "+84912345678", &u, &r2), STORE_RESULT_OK);
	assert_int_equal(r2.change, STORE_TASK_UPDATED);
	assert_int_equal(r2.task_id, r1.task_id);
	assert_int_equal(query_int("SELECT count(*) FROM tasks"), 1);
	query_text("SELECT priority FROM tasks", prio, sizeof(prio));
	assert_string_equal(prio, "urgent");
	/* Unanswered fields keep the earlier answers. */
	query_text("SELECT preferred_time FROM tasks", prio, sizeof(prio));
	assert_string_equal(prio, "evening");

	/* A normal request afterwards never lowers the priority. */
	assert_int_equal(hop(st, "s3", "+84912345678", &t, &r2), STORE_RESULT_OK);
	query_text("SELECT priority FROM tasks", prio, sizeof(prio));
	assert_string_equal(prio, "urgent");

	/* Another caller gets their own task. */
	t.msisdn = "+84987654321";
	t.caller = caller_of(t.msisdn);
	assert_int_equal(hop(st, "s4", "+84987654321", &t, &r2), STORE_RESULT_OK);
	assert_int_equal(r2.change, STORE_TASK_CREATED);
	assert_int_equal(query_int("SELECT count(*) FROM tasks"), 2);
	store_close(st);
}

static void
session_of_another_caller_is_a_conflict(void **state)
{
	struct store *st = fresh("conflict.db");
	struct store_hop_result r;

	(void)state;
	assert_int_equal(hop(st, "s1", "+84912345678", NULL, &r), STORE_RESULT_OK);
	assert_int_equal(hop(st, "s1", "+84900000000", NULL, &r),
	    STORE_RESULT_CONFLICT);
	assert_int_equal(query_int("SELECT hops FROM sessions"), 1);
	/* The store is usable afterwards (no transaction left open). */
	assert_int_equal(hop(st, "s2", "+84900000000", NULL, &r), STORE_RESULT_OK);
	store_close(st);
}

static int
collect_cb(const struct store_task *t, void *arg)
{
	char *order = arg;
	size_t n = strlen(order);

	order[n] = t->urgent ? 'u' : 'n';
	order[n + 1] = '\0';
	return 0;
}

static void
open_tasks_list_urgent_first_then_oldest(void **state)
{
	struct store *st = fresh("order.db");
	struct store_task_request a = request("+84911111111", false);
	struct store_task_request b = request("+84922222222", true);
	struct store_task_request c = request("+84933333333", false);
	struct store_hop_result r;
	char order[8] = "", err[256];
	int64_t n;

	(void)state;
	assert_int_equal(hop(st, "a", a.msisdn, &a, &r), STORE_RESULT_OK);
	assert_int_equal(hop(st, "b", b.msisdn, &b, &r), STORE_RESULT_OK);
	assert_int_equal(hop(st, "c", c.msisdn, &c, &r), STORE_RESULT_OK);
	assert_int_equal(store_tasks_open_foreach(st, true, collect_cb, order,
	    err, sizeof(err)), 0);
	assert_string_equal(order, "unn");
	assert_int_equal(store_tasks_count(st, STORE_TASK_PENDING, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_int_equal(store_ping_write(st, err, sizeof(err)), 0);
	store_close(st);
}

static void
tools_open_only_an_existing_database_at_this_version(void **state)
{
	struct store *st;
	char err[512];
	sqlite3 *db;

	(void)state;
	snprintf(dbpath, sizeof(dbpath), "%s/typo.db", dir);
	assert_null(store_open(dbpath, STORE_OPEN_EXISTING,
	    fixture_keys(dbpath), err, sizeof(err)));
	assert_int_equal(access(dbpath, F_OK), -1);	/* nothing created */

	/* An empty SQLite file is not a hotline database. */
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(store_open(dbpath, STORE_OPEN_EXISTING,
	    fixture_keys(dbpath), err, sizeof(err)));
	assert_non_null(strstr(err, "not a hotline database"));

	st = fresh("tool.db");
	store_close(st);
	st = store_open(dbpath, STORE_OPEN_EXISTING,
	    fixture_keys(dbpath), err, sizeof(err));
	assert_non_null(st);
	store_close(st);
}

static void
concatenated_parts_are_joined_once_in_order(void **state)
{
	struct store *st = fresh("concat.db");
	struct store_inbound parts[4];
	enum store_inbound_result r[4];
	static const char *const ids[] = { "p3", "p1", "p1-retry", "p2" };
	static const unsigned nums[] = { 3, 1, 1, 2 };
	static const char *const bodies[] = { "c\xc3\xb4.", "T\xc3\xb4i ",
	    "T\xc3\xb4i ", "c\xe1\xba\xa7n gi\xc3\xbap " };
	char err[256], body[128];

	(void)state;
	for (size_t i = 0; i < 4; i++)
		parts[i] = (struct store_inbound){ .channel = "vonage",
		    .provider_msg_id = ids[i], .caller = "c_000000000000",
		    .msisdn = "+84912345678", .body = bodies[i],
		    .received_at = "", .concat_ref = "ref-7",
		    .concat_part = nums[i], .concat_total = 3 };
	/* Parts 3 and 1 (and a retry of 1 under another id): not whole. */
	assert_int_equal(store_inbound_batch(st, parts, 3, r, err,
	    sizeof(err)), 0);
	assert_int_equal(query_int("SELECT count(*) FROM inbound WHERE "
	    "provider_msg_id LIKE 'joined:%'"), 0);
	assert_int_equal(query_int("SELECT count(*) FROM inbound WHERE "
	    "processed_at IS NULL"), 0);
	/* The last part completes it: one joined row, parts in order. */
	assert_int_equal(store_inbound_batch(st, &parts[3], 1, r, err,
	    sizeof(err)), 0);
	assert_int_equal(r[0], STORE_INBOUND_NEW);
	{
		struct first_body f = { "" };

		assert_int_equal(store_inbound_unprocessed(st, 1,
		    first_body_cb, &f, err, sizeof(err)), 1);
		snprintf(body, sizeof(body), "%s", f.body);
	}
	assert_string_equal(body, "T\xc3\xb4i c\xe1\xba\xa7n gi\xc3\xbap "
	    "c\xc3\xb4.");
	assert_int_equal(query_int("SELECT count(*) FROM inbound WHERE "
	    "processed_at IS NULL"), 1);
	/* A retried last part changes nothing. */
	assert_int_equal(store_inbound_batch(st, &parts[3], 1, r, err,
	    sizeof(err)), 0);
	assert_int_equal(r[0], STORE_INBOUND_DUPLICATE);
	assert_int_equal(query_int("SELECT count(*) FROM inbound WHERE "
	    "provider_msg_id LIKE 'joined:%'"), 1);

	/* Phones reuse references: a second long text under ref-7 is a
	 * message of its own, joined from its own parts. */
	static const char *const ids2[] = { "q2", "q1", "q3" };
	static const unsigned nums2[] = { 2, 1, 3 };
	static const char *const bodies2[] = { "B", "A", "C" };
	for (size_t i = 0; i < 3; i++) {
		parts[i].provider_msg_id = ids2[i];
		parts[i].concat_part = nums2[i];
		parts[i].body = bodies2[i];
	}
	assert_int_equal(store_inbound_batch(st, parts, 3, r, err,
	    sizeof(err)), 0);
	assert_int_equal(query_int("SELECT count(*) FROM inbound WHERE "
	    "provider_msg_id LIKE 'joined:%'"), 2);
	/* The first joined message, processed, leaves the second. */
	assert_int_equal(store_inbound_mark_processed(st, query_int(
	    "SELECT min(id) FROM inbound WHERE provider_msg_id LIKE "
	    "'joined:%'")), 0);
	{
		struct first_body f = { "" };

		assert_int_equal(store_inbound_unprocessed(st, 1,
		    first_body_cb, &f, err, sizeof(err)), 1);
		snprintf(body, sizeof(body), "%s", f.body);
	}
	assert_string_equal(body, "ABC");
	store_close(st);
}

static void
unwritable_database_is_reported(void **state)
{
	char err[512];

	(void)state;
	assert_null(store_open("/nonexistent-dir/x.db", STORE_OPEN_CREATE,
	    NULL, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "cannot open database"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(new_database_is_migrated_to_latest_in_wal),
		cmocka_unit_test(version_1_database_migrates_keeping_its_rows),
		cmocka_unit_test(version_2_outbound_rows_get_send_keys),
		cmocka_unit_test(
		    version_12_open_ussd_sessions_are_marked_offered),
		cmocka_unit_test(times_are_written_as_strftime_wrote_them),
		cmocka_unit_test(outbox_rows_move_through_their_states),
		cmocka_unit_test(outbox_due_goes_by_lane_then_turn),
		cmocka_unit_test(database_from_newer_schema_is_refused),
		cmocka_unit_test(inbound_is_unique_per_channel_and_provider_id),
		cmocka_unit_test(finished_request_creates_one_task_and_audit_row),
		cmocka_unit_test(second_request_updates_the_open_task_and_urgent_raises_it),
		cmocka_unit_test(session_of_another_caller_is_a_conflict),
		cmocka_unit_test(open_tasks_list_urgent_first_then_oldest),
		cmocka_unit_test(tools_open_only_an_existing_database_at_this_version),
		cmocka_unit_test(concatenated_parts_are_joined_once_in_order),
		cmocka_unit_test(unwritable_database_is_reported),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
