/* purge: the retention purge and the erasure of one caller, over a real
 * SQLite file: a table of rows just inside and just outside each window,
 * with open tasks, live leases and texts in flight that must survive;
 * a dry run that changes nothing and counts what the real run does;
 * statistics unchanged; no erased text left in the file's bytes. */
#define _GNU_SOURCE           /* memmem */
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

#include <sqlite3.h>

#include "store.h"
#include "db_fixture.h"
#include "keys_fixture.h"

#define DAYS 90
#define AUDIT_DAYS 365
/* A text no other row holds: found in the file, or not. */
#define SECRET "zebra-umbrella-4417"

static char dir[PATH_MAX];
static char dbpath[PATH_MAX + 16];
static struct store *st;
static time_t now;

static int
setup(void **state)
{
	char err[512];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/hotline-test-purge-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/purge.db", dir);
	st = store_open(dbpath, STORE_OPEN_CREATE, fixture_keys(dbpath), err,
	    sizeof(err));
	if (st == NULL)
		print_error("store_open: %s\n", err);
	assert_non_null(st);
	now = time(NULL);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
exec_sql(const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		print_error("%s\n", msg ? msg : "?");
	assert_null(msg);
	sqlite3_close(db);
}

static long long
query_int(const char *sql)
{
	return fixture_query_int(dbpath, sql);
}

/* Every row of every table, as text: what a dry run must not change. */
static char *
dump(void)
{
	static const char *const tables[] = { "tasks", "task_notes",
	    "inbound", "outbound", "sessions", "delivery_reports", "audit",
	    "optouts", "stats_daily" };
	char *out = NULL, sql[128];
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	sqlite3 *db;

	assert_non_null(f);
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		sqlite3_stmt *s;

		snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY 1, 2",
		    tables[t]);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL),
		    SQLITE_OK);
		while (sqlite3_step(s) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(s); c++) {
				const unsigned char *v = sqlite3_column_text(s,
				    c);

				fprintf(f, "%s|", v ? (const char *)v : "NULL");
			}
			fputc('\n', f);
		}
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	fclose(f);
	return out;
}

/* A time `offset` seconds from `days` before now, as the store writes
 * times. */
static void
at(int days, int offset, char out[32])
{
	time_t t = now - (time_t)days * 86400 + offset;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Just outside the window (older than the cutoff), just inside. */
#define OUT(buf) at(DAYS, -1, buf)
#define IN(buf) at(DAYS, 1, buf)

static struct store_purge_policy
policy(bool dry_run, size_t cap)
{
	return (struct store_purge_policy){ .now = (double)now,
	    .retention_days = DAYS, .audit_days = AUDIT_DAYS, .cap = cap,
	    .dry_run = dry_run };
}

/*
 * The table: for each kind of row, one just outside the window that
 * goes, one just inside that stays, and those that stay whatever their
 * age.  Rows that must survive carry "keep" in a text column, rows that
 * must go "gone"; numbers +8490000NNNN.
 */
static void
populate(void)
{
	char out[32], in[32], old[32], sql[8192], aud_out[32], aud_in[32];
	char lease[32];

	OUT(out);
	IN(in);
	at(DAYS + 400, 0, old);
	at(AUDIT_DAYS, -1, aud_out);
	at(AUDIT_DAYS, 1, aud_in);
	at(0, 600, lease);
	snprintf(sql, sizeof(sql),
	    /* 1: closed just outside: anonymised.  2: closed just inside.
	     * 3: pending, ancient.  4: claimed under a live lease. */
	    "INSERT INTO tasks(id, status, caller, msisdn, channel, topic, "
	    "preferred_time, created_at, updated_at, outcome, closed_at, "
	    "first_completed_at, claimed_by, lease_expires_at) VALUES "
	    "(1, 'closed', 'c_000000000001', '+84900000001', 'console', "
	    "'counselling', 'evening', '%s', '%s', 'reached', '%s', '%s', "
	    "NULL, NULL),"
	    "(2, 'closed', 'c_000000000002', '+84900000002', 'console', "
	    "'counselling', 'keep', '%s', '%s', 'reached', '%s', '%s', NULL, "
	    "NULL),"
	    "(3, 'pending', 'c_000000000003', '+84900000003', 'console', "
	    "'legal', 'keep', '%s', '%s', NULL, NULL, NULL, NULL, NULL),"
	    "(4, 'claimed', 'c_000000000004', '+84900000004', 'console', "
	    "'legal', 'keep', '%s', '%s', NULL, NULL, NULL, 'lan', '%s');"
	    "INSERT INTO task_notes(task_id, author, text, created_at) VALUES "
	    "(1, 'lan', 'gone " SECRET "', '%s'), (1, 'lan', 'gone new', '%s'),"
	    "(2, 'lan', 'keep', '%s'), (3, 'lan', 'keep', '%s'),"
	    "(4, 'lan', 'keep', '%s');"
	    /* Messages: 10 just outside, 11 just inside, 12 unprocessed,
	     * 13 answered by a text kept (21), 14 of the pending task's
	     * caller, 15 a part of a message. */
	    "INSERT INTO inbound(id, channel, provider_msg_id, caller, msisdn, "
	    "body, received_at, stored_at, processed_at, concat_ref) VALUES "
	    "(10, 'console', 'm10', 'c_000000000001', '+84900000001', "
	    "'gone " SECRET "', '', '%s', '%s', NULL),"
	    "(11, 'console', 'm11', 'c_000000000001', '+84900000001', 'keep', "
	    "'', '%s', '%s', NULL),"
	    "(12, 'console', 'm12', 'c_000000000005', '+84900000005', 'keep', "
	    "'', '%s', NULL, NULL),"
	    "(13, 'console', 'm13', 'c_000000000005', '+84900000005', 'keep', "
	    "'', '%s', '%s', NULL),"
	    "(14, 'console', 'm14', 'c_000000000003', '+84900000003', 'keep', "
	    "'', '%s', '%s', NULL),"
	    "(15, 'console', 'm15', 'c_000000000005', '+84900000005', 'gone', "
	    "'', '%s', '%s', 'r1');"
	    /* Texts: 20 sent just outside, 21 sent just inside (answers
	     * 13), 22 pending, 23 sending, 24 to the claimed task's
	     * caller, 25 failed just outside, 26 unknown just outside. */
	    "INSERT INTO outbound(id, channel, msisdn, caller, body, purpose, "
	    "status, inbound_id, provider_ref, send_key, task_id, created_at, "
	    "updated_at) VALUES "
	    "(20, 'at', '+84900000001', 'c_000000000001', 'gone " SECRET "', "
	    "'reply', 'sent', 10, 'r20', 'k20', 1, '%s', '%s'),"
	    "(21, 'at', '+84900000005', 'c_000000000005', 'keep', 'reply', "
	    "'delivered', 13, 'r21', 'k21', NULL, '%s', '%s'),"
	    "(22, 'at', '+84900000005', 'c_000000000005', 'keep', 'reply', "
	    "'pending', NULL, NULL, 'k22', NULL, '%s', '%s'),"
	    "(23, 'at', '+84900000005', 'c_000000000005', 'keep', 'reply', "
	    "'sending', NULL, NULL, 'k23', NULL, '%s', '%s'),"
	    "(24, 'at', '+84900000004', 'c_000000000004', 'keep', 'message', "
	    "'sent', NULL, 'r24', 'k24', 4, '%s', '%s'),"
	    "(25, 'at', '+84900000006', 'c_000000000006', 'gone', 'reply', "
	    "'failed', NULL, NULL, 'k25', NULL, '%s', '%s'),"
	    "(26, 'at', '+84900000006', 'c_000000000006', 'gone', 'reply', "
	    "'unknown', NULL, NULL, 'k26', NULL, '%s', '%s');"
	    /* Sessions: 30 outside, 31 inside, 32 of the claimed task. */
	    "INSERT INTO sessions(id, channel, session_id, kind, caller, "
	    "msisdn, node, state, task_id, created_at, updated_at) VALUES "
	    "(30, 'console', 's30', 'ussd', 'c_000000000001', '+84900000001', "
	    "'n', 'gone', 1, '%s', '%s'),"
	    "(31, 'console', 's31', 'sms', 'c_000000000001', '+84900000001', "
	    "'n', 'keep', NULL, '%s', '%s'),"
	    "(32, 'console', 's32', 'ussd', 'c_000000000004', '+84900000004', "
	    "'n', 'keep', 4, '%s', '%s');"
	    /* Reports: 40 outside, 41 inside, 42 outside but for the text
	     * being sent (23), 43 outside for the unknown text that goes. */
	    "INSERT INTO delivery_reports(id, channel, provider_ref, status, "
	    "reason, received_at, send_key) VALUES "
	    "(40, 'at', 'r20', 'delivered', 'gone', '%s', NULL),"
	    "(41, 'at', 'r21', 'delivered', 'keep', '%s', NULL),"
	    "(42, 'at', 'x42', 'delivered', 'keep', '%s', 'k23'),"
	    "(43, 'at', 'x43', 'failed', 'gone', '%s', 'k26');"
	    /* Audit: 50 outside its window, 51 inside it (older than the
	     * retention window), 52 recent. */
	    "INSERT INTO audit(id, at, actor, action, task_id, detail) VALUES "
	    "(50, '%s', 'lan', 'task.claimed', 1, 'gone'),"
	    "(51, '%s', 'lan', 'task.claimed', 1, 'keep'),"
	    "(52, '%s', 'lan', 'task.claimed', 1, 'keep');",
	    old, out, out, out, in, in, in, in, old, old, old, old, lease,
	    old, in, old, old, old,
	    out, out, in, in, old, old, old, old, old, out, out,
	    out, out, in, in, old, old, old, old, old, old, out, out,
	    out, out,
	    out, out, in, in, old, old,
	    out, in, out, out,
	    aud_out, aud_in, in);
	exec_sql(sql);
}

static void
assert_counts(const struct store_purge_counts *c, const int64_t *want)
{
	for (int i = 0; i < STORE_PURGE_TABLE_COUNT; i++) {
		if (c->rows[i] != want[i])
			print_error("%s: %lld, want %lld\n",
			    store_purge_table_name((enum store_purge_table)i),
			    (long long)c->rows[i], (long long)want[i]);
		assert_int_equal(c->rows[i], want[i]);
	}
}

/* What the table above says goes, by enum store_purge_table. */
static const int64_t expected[STORE_PURGE_TABLE_COUNT] = {
	[STORE_PURGE_TASKS] = 1,
	[STORE_PURGE_NOTES] = 2,
	[STORE_PURGE_INBOUND] = 2,    /* 10 and the part 15 */
	[STORE_PURGE_OUTBOUND] = 3,   /* 20, 25, 26 */
	[STORE_PURGE_SESSIONS] = 1,
	[STORE_PURGE_DLR] = 2,        /* 40, 43 */
	[STORE_PURGE_AUDIT] = 1,
};

static void
outbox_counts(int64_t out[STORE_OUTBOUND_STATUS_COUNT])
{
	for (int i = 0; i < STORE_OUTBOUND_STATUS_COUNT; i++)
		assert_int_equal(store_outbox_count(st,
		    (enum store_outbound_status)i, &out[i]), 0);
}

static int
day_line(const char *day, const char *what, const char *key, int64_t value,
    void *arg)
{
	fprintf(arg, "%s %s %s %lld\n", day, what, key, (long long)value);
	return 0;
}

/* Every figure by day, as text. */
static char *
days(void)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	assert_int_equal(store_stats_days(st, "1970-01-01", day_line, f), 0);
	fclose(f);
	return out;
}

static void
purge_takes_exactly_what_is_past_the_window(void **state)
{
	struct store_purge_policy dry = policy(true, 0), real = policy(false,
	    0);
	struct store_purge_counts c = { 0 }, d = { 0 };
	int64_t before[STORE_OUTBOUND_STATUS_COUNT];
	int64_t after[STORE_OUTBOUND_STATUS_COUNT];
	char err[256], *a, *b;

	char *days_before, *days_after;

	(void)state;
	populate();
	outbox_counts(before);
	days_before = days();
	assert_non_null(strstr(days_before, " texts_in  "));
	assert_non_null(strstr(days_before, " outcome reached 2"));

	/* The dry run counts and changes nothing. */
	a = dump();
	assert_int_equal(store_purge(st, &dry, &d, err, sizeof(err)), 0);
	b = dump();
	assert_string_equal(a, b);
	free(a);
	free(b);
	assert_counts(&d, expected);

	assert_int_equal(store_purge(st, &real, &c, err, sizeof(err)), 0);
	assert_false(c.more);
	assert_counts(&c, expected);

	/* Each row that must stay is there, each that must go is gone. */
	assert_int_equal(query_int("SELECT count(*) FROM tasks"), 4);
	assert_int_equal(query_int("SELECT count(*) FROM tasks WHERE id = 1 "
	    "AND msisdn = '' AND caller = '' AND preferred_time IS NULL AND "
	    "topic = 'counselling' AND outcome = 'reached' AND "
	    "first_completed_at IS NOT NULL"), 1);
	assert_int_equal(query_int("SELECT count(*) FROM tasks WHERE id > 1 "
	    "AND msisdn != '' AND preferred_time = 'keep'"), 3);
	assert_int_equal(query_int("SELECT count(*) FROM task_notes WHERE "
	    "text = 'keep'"), 3);
	assert_int_equal(query_int("SELECT count(*) FROM task_notes"), 3);
	assert_int_equal(query_int("SELECT count(*) FROM inbound WHERE id IN "
	    "(11, 12, 13, 14)"), 4);
	assert_int_equal(query_int("SELECT count(*) FROM inbound"), 4);
	assert_int_equal(query_int("SELECT count(*) FROM outbound WHERE id IN "
	    "(21, 22, 23, 24)"), 4);
	assert_int_equal(query_int("SELECT count(*) FROM outbound"), 4);
	assert_int_equal(query_int("SELECT count(*) FROM outbound WHERE id = "
	    "23 AND status = 'sending'"), 1);
	assert_int_equal(query_int("SELECT count(*) FROM sessions WHERE id IN "
	    "(31, 32)"), 2);
	assert_int_equal(query_int("SELECT count(*) FROM sessions"), 2);
	assert_int_equal(query_int("SELECT count(*) FROM delivery_reports "
	    "WHERE reason = 'keep'"), 2);
	assert_int_equal(query_int("SELECT count(*) FROM delivery_reports"), 2);
	assert_int_equal(query_int("SELECT count(*) FROM audit WHERE detail = "
	    "'keep'"), 2);
	assert_int_equal(query_int("SELECT count(*) FROM audit"), 2);

	/* The counts of what went are kept: the statistics do not move. */
	outbox_counts(after);
	for (int i = 0; i < STORE_OUTBOUND_STATUS_COUNT; i++)
		assert_int_equal(before[i], after[i]);
	days_after = days();
	assert_string_equal(days_before, days_after);
	free(days_before);
	free(days_after);
	assert_int_equal(query_int("SELECT sum(count) FROM stats_daily WHERE "
	    "kind = 'inbound'"), 1);            /* the part is not a text */
	assert_int_equal(query_int("SELECT sum(count) FROM stats_daily WHERE "
	    "kind = 'ussd_session'"), 1);
	assert_int_equal(query_int("SELECT sum(count) FROM stats_daily WHERE "
	    "kind = 'delivery_report'"), 2);

	/* A second run finds nothing. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_purge(st, &real, &c, err, sizeof(err)), 0);
	assert_counts(&c, (int64_t[STORE_PURGE_TABLE_COUNT]){ 0 });
}

/* Capped steps take the same rows as one uncapped run, and say when
 * more is due. */
static void
capped_steps_add_up_to_the_dry_run(void **state)
{
	struct store_purge_policy dry = policy(true, 0), step = policy(false,
	    1);
	struct store_purge_counts c = { 0 }, d = { 0 };
	char err[256];
	int steps = 0;

	(void)state;
	populate();
	assert_int_equal(store_purge(st, &dry, &d, err, sizeof(err)), 0);
	do {
		c.more = false;
		assert_int_equal(store_purge(st, &step, &c, err, sizeof(err)),
		    0);
		steps++;
		assert_true(steps < 10);
	} while (c.more);
	assert_true(steps > 1);
	assert_counts(&c, d.rows);
	assert_counts(&c, expected);
}

/* After the purge and the reclaim, the secret text is nowhere in the
 * database file's bytes. */
static void
purged_text_leaves_the_file(void **state)
{
	struct store_purge_policy real = policy(false, 0);
	struct store_purge_counts c = { 0 };
	char err[256], *buf;
	int64_t pages;
	bool complete;
	size_t n;
	FILE *f;

	(void)state;
	assert_int_equal(query_int("PRAGMA auto_vacuum"), 2);
	populate();
	/* Enough of it to fill pages that the purge frees whole. */
	exec_sql("WITH RECURSIVE n(i) AS (SELECT 100 UNION ALL SELECT i + 1 "
	    "FROM n WHERE i < 400) INSERT INTO inbound(id, channel, "
	    "provider_msg_id, caller, msisdn, body, received_at, stored_at, "
	    "processed_at) SELECT i, 'console', 'b' || i, 'c_000000000009', "
	    "'+84900000009', '" SECRET "' || printf('%0400d', i), '', "
	    "'2000-01-01T00:00:00Z', '2000-01-01T00:00:00Z' FROM n");
	assert_int_equal(store_purge(st, &real, &c, err, sizeof(err)), 0);
	assert_int_equal(store_reclaim(st, &pages, err, sizeof(err)), 0);
	assert_true(pages > 0);
	assert_int_equal(query_int("PRAGMA freelist_count"), 0);
	assert_int_equal(store_checkpoint(st, &complete, err, sizeof(err)),
	    0);
	assert_true(complete);

	assert_non_null(f = fopen(dbpath, "rb"));
	assert_non_null(buf = malloc(64 << 20));
	n = fread(buf, 1, 64 << 20, f);
	fclose(f);
	assert_true(n > 0);
	assert_null(memmem(buf, n, SECRET, strlen(SECRET)));
	free(buf);
}

/* ------------------------------------------------------------------ */
/* Erasure                                                             */

static void
erase_population(void)
{
	char lease[32], sql[4096];

	at(0, 600, lease);
	snprintf(sql, sizeof(sql),
	    "INSERT INTO tasks(id, status, caller, msisdn, channel, "
	    "preferred_time, created_at, updated_at, claimed_by, "
	    "lease_expires_at, outcome, closed_at) VALUES "
	    "(1, 'claimed', 'c_00000000000a', '+84911111111', 'console', "
	    "'evening', 't', 't', 'lan', '%s', NULL, NULL),"
	    "(2, 'closed', 'c_00000000000a', '+84911111111', 'console', "
	    "'evening', 't', 't', NULL, NULL, 'reached', 't'),"
	    "(3, 'pending', 'c_00000000000b', '+84922222222', 'console', "
	    "'evening', 't', 't', NULL, NULL, NULL, NULL);"
	    "INSERT INTO task_notes(task_id, author, text, created_at) VALUES "
	    "(1, 'lan', '" SECRET "', 't'), (2, 'lan', 'x', 't'), "
	    "(3, 'lan', 'other', 't');"
	    "INSERT INTO inbound(id, channel, provider_msg_id, caller, msisdn, "
	    "body, received_at, stored_at, processed_at) VALUES "
	    "(10, 'console', 'm10', 'c_00000000000a', '+84911111111', '"
	    SECRET "', '', 't', NULL),"
	    "(11, 'console', 'm11', 'c_00000000000b', '+84922222222', 'other', "
	    "'', 't', 't');"
	    "INSERT INTO outbound(id, channel, msisdn, caller, body, purpose, "
	    "status, send_key, created_at, updated_at) VALUES "
	    "(20, 'at', '+84911111111', 'c_00000000000a', 'p', 'reply', "
	    "'pending', 'k20', 't', 't'),"
	    "(21, 'at', '+84911111111', 'c_00000000000a', 's', 'reply', "
	    "'sending', 'k21', 't', 't'),"
	    "(22, 'at', '+84911111111', 'c_00000000000a', 'd', 'reply', "
	    "'delivered', 'k22', 't', 't'),"
	    "(23, 'at', '+84922222222', 'c_00000000000b', 'other', 'reply', "
	    "'pending', 'k23', 't', 't');"
	    "INSERT INTO sessions(channel, session_id, kind, caller, msisdn, "
	    "node, state, created_at, updated_at) VALUES "
	    "('console', 'sms:c_00000000000a', 'sms', 'c_00000000000a', "
	    "'+84911111111', 'n', '{\"a\":1}', 't', 't'),"
	    "('console', 'sms:c_00000000000b', 'sms', 'c_00000000000b', "
	    "'+84922222222', 'n', '{}', 't', 't');"
	    "INSERT INTO optouts(caller, opted_out_at, confirmation_sent) "
	    "VALUES ('c_00000000000a', 't', 1);", lease);
	exec_sql(sql);
}

static void
erase_clears_one_caller_and_keeps_the_opt_out(void **state)
{
	struct store_erase_counts c;
	bool opted_out, confirmed;

	(void)state;
	erase_population();
	assert_int_equal(store_caller_erase(st, "c_00000000000a", "sup", &c),
	    STORE_RESULT_OK);
	assert_int_equal(c.tasks_closed, 1);
	assert_int_equal(c.leases_ended, 1);
	assert_int_equal(c.tasks, 2);
	assert_int_equal(c.notes, 2);
	assert_int_equal(c.inbound, 1);
	assert_int_equal(c.outbound_cancelled, 1);
	assert_int_equal(c.outbound, 1);
	assert_int_equal(c.sessions, 1);
	assert_int_equal(c.optouts, 1);
	assert_int_equal(c.in_flight, 1);

	assert_int_equal(query_int("SELECT count(*) FROM tasks WHERE id = 1 "
	    "AND status = 'closed' AND outcome = 'erased' AND "
	    "lease_expires_at IS NULL AND msisdn = '' AND caller = '' AND "
	    "preferred_time IS NULL"), 1);
	assert_int_equal(query_int("SELECT count(*) FROM tasks WHERE id = 2 "
	    "AND outcome = 'reached' AND msisdn = ''"), 1);
	/* The pending text never goes; the one being sent is left to its
	 * result; the body and number of every other are gone. */
	assert_int_equal(query_int("SELECT count(*) FROM outbound WHERE id = "
	    "20 AND status = 'failed' AND last_error = 'erased' AND body = ''"),
	    1);
	assert_int_equal(query_int("SELECT count(*) FROM outbound WHERE id = "
	    "21 AND status = 'sending' AND body = 's'"), 1);
	assert_int_equal(query_int("SELECT count(*) FROM outbound WHERE id = "
	    "22 AND status = 'delivered' AND body = '' AND msisdn = ''"), 1);
	assert_int_equal(query_int("SELECT count(*) FROM inbound WHERE id = "
	    "10 AND body = '' AND msisdn = '' AND processed_at IS NOT NULL"),
	    1);
	assert_int_equal(query_int("SELECT count(*) FROM sessions WHERE "
	    "msisdn = '' AND state IS NULL AND session_id NOT LIKE "
	    "'%c_00000000000a%'"), 1);
	/* Still opted out, known only by the pseudonym. */
	assert_int_equal(query_int("SELECT count(*) FROM optouts WHERE caller "
	    "= 'c_00000000000a'"), 1);
	assert_int_equal(store_optout_get(st, "c_00000000000a", &opted_out,
	    &confirmed), 0);
	assert_true(opted_out);
	assert_true(confirmed);
	/* One audit row, naming the pseudonym and who. */
	assert_int_equal(query_int("SELECT count(*) FROM audit WHERE action = "
	    "'caller.erased' AND actor = 'sup' AND detail = 'c_00000000000a' "
	    "AND task_id IS NULL"), 1);
	assert_int_equal(query_int("SELECT count(*) FROM audit"), 1);
	/* The other caller is untouched. */
	assert_int_equal(query_int("SELECT count(*) FROM tasks WHERE id = 3 "
	    "AND status = 'pending' AND msisdn = '+84922222222'"), 1);
	assert_int_equal(query_int("SELECT count(*) FROM outbound WHERE id = "
	    "23 AND status = 'pending' AND body = 'other'"), 1);
	assert_int_equal(query_int("SELECT count(*) FROM task_notes WHERE "
	    "text = 'other'"), 1);
	assert_int_equal(query_int("SELECT count(*) FROM inbound WHERE body = "
	    "'other'"), 1);
	assert_int_equal(query_int("SELECT count(*) FROM sessions WHERE "
	    "state = '{}'"), 1);

	/* Twice: nothing more, no second audit row. */
	assert_int_equal(store_caller_erase(st, "c_00000000000a", "sup", &c),
	    STORE_RESULT_OK);
	assert_int_equal(c.tasks + c.notes + c.inbound + c.outbound +
	    c.outbound_cancelled + c.sessions + c.tasks_closed, 0);
	assert_int_equal(c.optouts, 1);   /* still kept */
	assert_int_equal(query_int("SELECT count(*) FROM audit"), 1);
	/* Never known: not found. */
	assert_int_equal(store_caller_erase(st, "c_0000000000ff", "sup", &c),
	    STORE_RESULT_NOT_FOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    purge_takes_exactly_what_is_past_the_window, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    capped_steps_add_up_to_the_dry_run, setup, teardown),
		cmocka_unit_test_setup_teardown(purged_text_leaves_the_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    erase_clears_one_caller_and_keeps_the_opt_out, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
