/* queue: the callback queue's rules over a real SQLite file: claim
 * order, leases, release, outcomes and backoff, reveals and their audit
 * rows, the reveal limit, and that a refusal writes nothing. */
#define _XOPEN_SOURCE 700     /* strptime */
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

#include "queue.h"
#include "store.h"
#include "db_fixture.h"
#include "keys_fixture.h"

static char dir[PATH_MAX];
static char dbpath[PATH_MAX + 16];
static struct store *st;

static const struct queue_actor lan = { "lan", false, 0 };
static const struct queue_actor minh = { "minh", false, 0 };
static const struct queue_actor sup = { "sup", true, 0 };
static const struct queue_claim lease = { .lease_seconds = 900 };
static const struct queue_claim shown = { .lease_seconds = 900,
	.reveal = "test" };

static int
setup(void **state)
{
	char err[512];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/hotline-test-queue-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/queue.db", dir);
	st = store_open(dbpath, STORE_OPEN_CREATE,
	    fixture_keys(dbpath), err, sizeof(err));
	if (st == NULL)
		print_error("store_open: %s\n", err);
	assert_non_null(st);
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

/* SQL on a second connection, as an operator (or the daemon's other
 * connection) would run it. */
static long long
query_int(const char *sql)
{
	return fixture_query_int(dbpath, sql);
}

static void
exec_sql(const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* A task for caller n (its own number), created `age` seconds ago. */
static int64_t
task(int n, bool urgent, int age)
{
	char caller[32], msisdn[32], sql[256];
	struct store_task_request r = {
		.channel = "console", .caller = caller, .msisdn = msisdn,
		.language = "vi", .topic = "counselling",
		.safe_to_call = STORE_ANSWER_YES,
		.safe_to_sms = STORE_ANSWER_YES, .urgent = urgent,
	};
	enum store_task_change change;
	int64_t id;

	snprintf(caller, sizeof(caller), "c_%04d", n);
	snprintf(msisdn, sizeof(msisdn), "+8490000%04d", n);
	assert_int_equal(store_task_save(st, &r, &id, &change), 0);
	assert_int_equal(change, STORE_TASK_CREATED);
	snprintf(sql, sizeof(sql), "UPDATE tasks SET created_at = strftime("
	    "'%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now', '-%d seconds') WHERE id = %lld",
	    age, (long long)id);
	exec_sql(sql);
	return id;
}

/* Each queue call in a batch of its own, as one writer unit. */
static void
begin(void)
{
	char err[256];

	assert_int_equal(store_batch_begin(st, err, sizeof(err)), 0);
}

static void
commit(void)
{
	char err[256];

	assert_int_equal(store_batch_commit(st, err, sizeof(err)), 0);
}

static enum queue_result
claim_next(const struct queue_actor *a, const struct queue_claim *c,
    struct queue_report *rep)
{
	enum queue_result r;

	begin();
	r = queue_claim_next(st, a, c, rep);
	commit();
	return r;
}

static enum queue_result
claim(int64_t id, const struct queue_actor *a, const struct queue_claim *c,
    struct queue_report *rep)
{
	enum queue_result r;

	begin();
	r = queue_claim(st, id, a, c, rep);
	commit();
	return r;
}

static enum queue_result
release(int64_t id, const struct queue_actor *a)
{
	struct queue_report rep;
	enum queue_result r;

	begin();
	r = queue_release(st, id, a, &rep);
	commit();
	return r;
}

static enum queue_result
complete(int64_t id, const struct queue_actor *a, enum store_outcome o,
    const char *retry_at, unsigned max_attempts, struct queue_report *rep)
{
	struct queue_completion c = {
		.outcome = o, .retry_at = retry_at,
		.max_attempts = max_attempts, .note = "a note",
	};
	enum queue_result r;

	begin();
	r = queue_complete(st, id, a, &c, rep);
	commit();
	return r;
}

static enum queue_result
reveal(int64_t id, const struct queue_actor *a, struct queue_report *rep)
{
	enum queue_result r;

	begin();
	r = queue_reveal(st, id, a, "test", rep);
	commit();
	return r;
}

static long long
audit_count(const char *action)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE action = "
	    "'%s'", action);
	return query_int(sql);
}

static long long
changes_total(void)
{
	return query_int("SELECT (SELECT count(*) FROM audit) + (SELECT "
	    "count(*) FROM task_notes) + (SELECT count(*) FROM outbound) + "
	    "(SELECT total(length(status) + attempts + length(COALESCE("
	    "claimed_by, '')) + length(COALESCE(retry_at, ''))) FROM tasks)");
}

static time_t
parse_utc(const char *s)
{
	struct tm tm = { 0 };

	assert_non_null(strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm));
	return timegm(&tm);
}

/* ------------------------------------------------------------------ */

static void
outcome_names_round_trip_and_unreached_is_never_given(void **state)
{
	static const char *const given[] = { "reached", "no_answer",
	    "wrong_number", "unsafe" };
	static const char *const refused[] = { "unreached", "erased",
	    "REACHED", "", "done", "reached ", NULL };
	enum store_outcome o;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(queue_outcome_parse(given[i], &o), 0);
		assert_string_equal(store_outcome_name(o), given[i]);
	}
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(queue_outcome_parse(refused[i], &o), -1);
	assert_int_equal(queue_outcome_parse(refused[6], &o), -1);
	assert_string_equal(store_outcome_name(STORE_OUTCOME_ERASED), "erased");
	assert_string_equal(store_outcome_name(STORE_OUTCOME_UNREACHED), "unreached");
}

static void
claim_next_takes_urgent_first_then_oldest(void **state)
{
	struct queue_report rep;
	int64_t newer, older, urgent;

	(void)state;
	newer = task(1, false, 60);
	older = task(2, false, 600);
	urgent = task(3, true, 10);
	/* The privileged hold no single task, so one actor walks it. */
	assert_int_equal(claim_next(&sup, &lease, &rep), QUEUE_OK);
	assert_int_equal(rep.task.id, urgent);
	assert_int_equal(rep.task.status, STORE_TASK_CLAIMED);
	assert_string_equal(rep.task.claimed_by, "sup");
	assert_int_equal(claim_next(&sup, &lease, &rep), QUEUE_OK);
	assert_int_equal(rep.task.id, older);
	assert_int_equal(claim_next(&sup, &lease, &rep), QUEUE_OK);
	assert_int_equal(rep.task.id, newer);
	assert_int_equal(claim_next(&sup, &lease, &rep), QUEUE_EMPTY);
	assert_int_equal(audit_count("task.claimed"), 3);
	/* Not shown, not audited as shown. */
	assert_int_equal(audit_count("number.revealed"), 0);
}

static void
a_live_lease_is_never_taken_over(void **state)
{
	struct queue_report rep;
	int64_t a, b;
	long long before;

	(void)state;
	a = task(1, false, 60);
	b = task(2, false, 30);
	assert_int_equal(claim(a, &lan, &lease, &rep), QUEUE_OK);
	before = changes_total();
	assert_int_equal(claim(a, &minh, &lease, &rep), QUEUE_CONFLICT);
	assert_int_equal(claim(a, &sup, &lease, &rep), QUEUE_CONFLICT);
	/* A counsellor holds one task at a time. */
	assert_int_equal(claim(b, &lan, &lease, &rep), QUEUE_BUSY);
	assert_int_equal(rep.held, a);
	assert_int_equal(claim_next(&lan, &lease, &rep), QUEUE_BUSY);
	assert_int_equal(claim(999, &lan, &lease, &rep), QUEUE_NOT_FOUND);
	assert_int_equal(changes_total(), before);
	/* Claiming one's own task again is no conflict. */
	assert_int_equal(claim(a, &lan, &lease, &rep), QUEUE_OK);
	/* An expired lease may be taken. */
	exec_sql("UPDATE tasks SET lease_expires_at = '2000-01-01T00:00:00Z'");
	assert_int_equal(claim(a, &minh, &lease, &rep), QUEUE_OK);
	assert_string_equal(rep.task.claimed_by, "minh");
}

static void
only_the_holder_or_the_privileged_release(void **state)
{
	struct queue_report rep;
	int64_t a;
	long long before;

	(void)state;
	a = task(1, false, 60);
	assert_int_equal(release(a, &lan), QUEUE_CONFLICT);  /* pending */
	assert_int_equal(claim(a, &lan, &lease, &rep), QUEUE_OK);
	before = changes_total();
	assert_int_equal(release(a, &minh), QUEUE_CONFLICT);
	assert_int_equal(release(999, &minh), QUEUE_NOT_FOUND);
	assert_int_equal(changes_total(), before);
	assert_int_equal(release(a, &lan), QUEUE_OK);
	assert_int_equal(query_int("SELECT count(*) FROM tasks WHERE status "
	    "= 'pending' AND claimed_by IS NULL"), 1);
	assert_int_equal(claim(a, &lan, &lease, &rep), QUEUE_OK);
	assert_int_equal(release(a, &sup), QUEUE_OK);
	assert_int_equal(audit_count("task.released"), 2);
}

static void
outcomes_close_the_task_and_unsafe_stops_texts(void **state)
{
	struct queue_report rep;
	int64_t a, b, c;

	(void)state;
	a = task(1, false, 60);
	b = task(2, false, 50);
	c = task(3, false, 40);
	/* Only a claimed task takes an outcome. */
	assert_int_equal(complete(a, &sup, STORE_OUTCOME_REACHED, NULL, 5, &rep),
	    QUEUE_CONFLICT);
	assert_int_equal(complete(999, &sup, STORE_OUTCOME_REACHED, NULL, 5, &rep),
	    QUEUE_NOT_FOUND);
	assert_int_equal(claim(a, &lan, &lease, &rep), QUEUE_OK);
	assert_int_equal(complete(a, &minh, STORE_OUTCOME_REACHED, NULL, 5, &rep),
	    QUEUE_CONFLICT);
	assert_int_equal(audit_count("task.completed"), 0);
	assert_int_equal(complete(a, &lan, STORE_OUTCOME_REACHED, NULL, 5, &rep),
	    QUEUE_OK);
	assert_int_equal(rep.task.status, STORE_TASK_CLOSED);
	assert_true(rep.task.has_outcome);
	assert_int_equal(rep.task.outcome, STORE_OUTCOME_REACHED);
	assert_int_equal(rep.task.attempts, 0);     /* reached: no retry */
	assert_int_equal(complete(a, &lan, STORE_OUTCOME_REACHED, NULL, 5, &rep),
	    QUEUE_CONFLICT);                         /* closed */

	assert_int_equal(claim(b, &minh, &lease, &rep), QUEUE_OK);
	assert_int_equal(complete(b, &sup, STORE_OUTCOME_UNSAFE, NULL, 5, &rep),
	    QUEUE_OK);                               /* over minh's claim */
	assert_int_equal(rep.task.outcome, STORE_OUTCOME_UNSAFE);
	assert_int_equal(rep.task.safe_to_sms, STORE_ANSWER_NO);

	assert_int_equal(claim(c, &lan, &lease, &rep), QUEUE_OK);
	assert_int_equal(complete(c, &lan, STORE_OUTCOME_WRONG_NUMBER, NULL, 5, &rep),
	    QUEUE_OK);
	assert_int_equal(rep.task.outcome, STORE_OUTCOME_WRONG_NUMBER);
	assert_int_equal(rep.task.safe_to_sms, STORE_ANSWER_YES);
	/* One completed row and one note per outcome recorded. */
	assert_int_equal(audit_count("task.completed"), 3);
	assert_int_equal(query_int("SELECT count(*) FROM task_notes"), 3);
	assert_int_equal(audit_count("task.noted"), 0);
}

static void
no_answer_backs_off_then_closes_unreached(void **state)
{
	struct queue_report rep;
	time_t due;
	int64_t a;

	(void)state;
	a = task(1, false, 60);
	/* Backoff: 900 s after the first miss, 1800 s after the second. */
	for (int attempt = 1; attempt <= 2; attempt++) {
		assert_int_equal(claim(a, &lan, &lease, &rep), QUEUE_OK);
		assert_int_equal(complete(a, &lan, STORE_OUTCOME_NO_ANSWER, NULL, 4,
		    &rep), QUEUE_OK);
		assert_int_equal(rep.task.status, STORE_TASK_PENDING);
		assert_int_equal(rep.task.attempts, attempt);
		assert_false(rep.task.has_outcome);
		assert_string_equal(rep.task.claimed_by, "");
		due = parse_utc(rep.task.retry_at);
		assert_true(labs((long)(due - time(NULL)) -
		    QUEUE_BACKOFF_SECONDS * attempt) <= 5);
		/* Not due: claim_next passes it by. */
		assert_int_equal(claim_next(&lan, &lease, &rep), QUEUE_EMPTY);
	}
	/* A time given is kept as given. */
	assert_int_equal(claim(a, &lan, &lease, &rep), QUEUE_OK);
	assert_int_equal(complete(a, &lan, STORE_OUTCOME_NO_ANSWER,
	    "2000-01-01T00:00:00Z", 4, &rep), QUEUE_OK);
	assert_string_equal(rep.task.retry_at, "2000-01-01T00:00:00Z");
	assert_int_equal(rep.task.attempts, 3);
	/* Due at once; the fourth miss is the last of max_attempts 4. */
	assert_int_equal(claim_next(&lan, &lease, &rep), QUEUE_OK);
	assert_int_equal(rep.task.id, a);
	assert_int_equal(complete(a, &lan, STORE_OUTCOME_NO_ANSWER, NULL, 4, &rep),
	    QUEUE_OK);
	assert_int_equal(rep.task.status, STORE_TASK_CLOSED);
	assert_int_equal(rep.task.outcome, STORE_OUTCOME_UNREACHED);
	assert_int_equal(rep.task.attempts, 4);
	assert_int_equal(query_int("SELECT count(*) FROM audit WHERE action "
	    "= 'task.completed' AND detail = 'unreached'"), 1);
	assert_int_equal(query_int("SELECT count(*) FROM audit WHERE action "
	    "= 'task.completed' AND detail = 'no_answer'"), 3);
	/* No config given: no follow-up text. */
	assert_int_equal(query_int("SELECT count(*) FROM outbound"), 0);
}

static void
a_number_shown_leaves_one_audit_row_first(void **state)
{
	struct queue_report rep;
	int64_t a, b;
	long long before;

	(void)state;
	a = task(1, false, 60);
	b = task(2, false, 30);
	assert_int_equal(claim_next(&lan, &shown, &rep), QUEUE_OK);
	assert_int_equal(rep.task.id, a);
	assert_string_equal(rep.task.msisdn, "+84900000001");
	assert_int_equal(query_int("SELECT count(*) FROM audit WHERE action = "
	    "'number.revealed' AND actor = 'lan' AND task_id = 1 AND detail "
	    "= 'test'"), 1);
	/* The holder may see it again, each time audited. */
	assert_int_equal(reveal(a, &lan, &rep), QUEUE_OK);
	assert_int_equal(audit_count("number.revealed"), 2);
	/* Another counsellor may not, and nothing is written. */
	before = changes_total();
	assert_int_equal(reveal(a, &minh, &rep), QUEUE_CONFLICT);
	assert_int_equal(reveal(b, &minh, &rep), QUEUE_CONFLICT);
	assert_int_equal(reveal(999, &minh, &rep), QUEUE_NOT_FOUND);
	assert_int_equal(changes_total(), before);
	/* A supervisor may see any, pending or not. */
	assert_int_equal(reveal(b, &sup, &rep), QUEUE_OK);
	assert_int_equal(audit_count("number.revealed"), 3);
	/* The operator's listing: one row per task, all at once. */
	begin();
	assert_int_equal(queue_reveal_tasks(st, "cli:op", (int64_t[]){ a, b },
	    2, "hotlinectl queue"), 0);
	commit();
	assert_int_equal(query_int("SELECT count(*) FROM audit WHERE action = "
	    "'number.revealed' AND actor = 'cli:op'"), 2);
}

static void
the_reveal_limit_counts_distinct_callers_and_alerts_once(void **state)
{
	const struct queue_actor thief = { "thief", false, 2 };
	struct queue_report rep;
	int64_t ids[4];
	long long before;

	(void)state;
	for (int i = 0; i < 4; i++)
		ids[i] = task(i + 1, false, 100 - i);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(claim(ids[i], &thief, &shown, &rep),
		    QUEUE_OK);
		assert_int_equal(release(ids[i], &thief), QUEUE_OK);
	}
	/* Releasing refunded nothing: the third caller is refused, with no
	 * claim, and the first refusal is recorded once. */
	assert_int_equal(claim(ids[2], &thief, &shown, &rep), QUEUE_LIMIT);
	assert_int_equal(rep.limit.limit, 2);
	assert_int_equal(rep.limit.seen, 2);
	assert_true(rep.limit.first);
	assert_true(rep.limit.retry_after > 0 &&
	    rep.limit.retry_after <= QUEUE_REVEAL_WINDOW_SECONDS);
	assert_int_equal(audit_count("security.reveal_limit"), 1);
	before = changes_total();
	assert_int_equal(claim_next(&thief, &shown, &rep), QUEUE_LIMIT);
	assert_false(rep.limit.first);
	assert_int_equal(claim(ids[3], &thief, &shown, &rep), QUEUE_LIMIT);
	assert_int_equal(changes_total(), before);
	assert_int_equal(query_int("SELECT count(*) FROM tasks WHERE status = "
	    "'claimed'"), 0);
	/* A caller already seen costs nothing more. */
	assert_int_equal(claim(ids[0], &thief, &shown, &rep), QUEUE_OK);
	/* A claim that shows nothing counts nothing (hotlinectl complete
	 * claiming a pending task first). */
	assert_int_equal(release(ids[0], &thief), QUEUE_OK);
	assert_int_equal(claim(ids[3], &thief, &lease, &rep), QUEUE_OK);
	/* Holding it does not let the number past the limit. */
	assert_int_equal(reveal(ids[3], &thief, &rep), QUEUE_LIMIT);
}

static void
outside_a_batch_nothing_is_written(void **state)
{
	struct queue_report rep;
	int64_t a;
	long long before;

	(void)state;
	a = task(1, false, 60);
	before = changes_total();
	assert_int_equal(queue_claim(st, a, &lan, &shown, &rep), QUEUE_ERROR);
	assert_int_equal(queue_claim_next(st, &lan, &shown, &rep),
	    QUEUE_ERROR);
	assert_int_equal(queue_reveal_tasks(st, "cli:op", &a, 1, "x"), -1);
	assert_int_equal(changes_total(), before);
	/* Reads need none. */
	assert_int_equal(queue_task_get(st, a, &rep.task), QUEUE_OK);
	assert_int_equal(rep.task.status, STORE_TASK_PENDING);
	assert_string_equal(rep.task.caller, "c_0001");
	assert_int_equal(queue_task_get(st, 999, &rep.task), QUEUE_NOT_FOUND);
}

/* A unit that fails after a queue change undoes that change, as the
 * writer does with a work that returns -1. */
static void
a_failed_unit_undoes_its_claim(void **state)
{
	struct queue_report rep;
	char err[256];
	int64_t a;

	(void)state;
	a = task(1, false, 60);
	begin();
	assert_int_equal(store_unit_begin(st), 0);
	assert_int_equal(queue_claim(st, a, &lan, &shown, &rep), QUEUE_OK);
	store_unit_end(st, false);
	assert_int_equal(store_batch_commit(st, err, sizeof(err)), 0);
	assert_int_equal(query_int("SELECT count(*) FROM tasks WHERE status "
	    "= 'claimed'"), 0);
	assert_int_equal(audit_count("number.revealed"), 0);
	assert_int_equal(audit_count("task.claimed"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    outcome_names_round_trip_and_unreached_is_never_given),
		cmocka_unit_test_setup_teardown(
		    claim_next_takes_urgent_first_then_oldest, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    a_live_lease_is_never_taken_over, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    only_the_holder_or_the_privileged_release, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    outcomes_close_the_task_and_unsafe_stops_texts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    no_answer_backs_off_then_closes_unreached, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    a_number_shown_leaves_one_audit_row_first, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    the_reveal_limit_counts_distinct_callers_and_alerts_once,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    outside_a_batch_nothing_is_written, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    a_failed_unit_undoes_its_claim, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
