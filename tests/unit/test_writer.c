/* writer: units queued together share one commit; a failing unit is
 * undone alone; completions run in order, after the commit, on the
 * thread that runs the loop; writer_free runs what was submitted; the
 * background lane yields to waiting units, is never starved by them and
 * never overtakes one submitted before it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "store.h"
#include "keys_fixture.h"
#include "writer.h"

#define UNITS 50

static char dir[PATH_MAX];
static char dbpath[PATH_MAX + 16];

struct fixture {
	struct event_base *base;
	struct store *store;      /* creates and migrates, as the daemon */
	struct writer *writer;
};

/* One unit: writes an audit row as `actor`, or fails after writing. */
struct probe {
	char actor[32];
	bool fail;
	sem_t *started;           /* work posts it when set */
	sem_t *hold;              /* work waits for it when set */
	enum writer_result result;
	int done_order;           /* 1-based; 0: done not run */
	long long visible_at_done;/* rows of actor another connection saw */
	pthread_t work_thread;
};

static int done_count;

static long long
count_rows(const char *actor)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	long long n = -1;

	assert_int_equal(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM audit "
	    "WHERE actor = ?1", -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_text(s, 1, actor, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

static int
probe_work(struct store *st, void *arg)
{
	struct probe *p = arg;

	p->work_thread = pthread_self();
	if (p->started != NULL)
		sem_post(p->started);
	if (p->hold != NULL)
		sem_wait(p->hold);
	if (store_audit_add(st, p->actor, "test.unit", 0, NULL) < 0)
		return -1;
	return p->fail ? -1 : 0;
}

static void
probe_done(enum writer_result result, void *arg)
{
	struct probe *p = arg;

	p->result = result;
	p->done_order = ++done_count;
	p->visible_at_done = count_rows(p->actor);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512];

	snprintf(dir, sizeof(dir), "/tmp/hotline-test-writer-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/w.db", dir);
	assert_non_null(f);
	f->store = store_open(dbpath, STORE_OPEN_CREATE, fixture_keys(dbpath),
	    err, sizeof(err));
	assert_non_null(f->store);
	assert_non_null(f->base = event_base_new());
	f->writer = writer_new(f->base, dbpath, fixture_keys(dbpath), 256,
	    err, sizeof(err));
	if (f->writer == NULL)
		print_error("writer_new: %s\n", err);
	assert_non_null(f->writer);
	done_count = 0;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_MAX + 16];

	writer_free(f->writer);
	store_close(f->store);
	event_base_free(f->base);
	free(f);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
run_until_idle(struct fixture *f)
{
	while (writer_pending(f->writer) > 0)
		event_base_loop(f->base, EVLOOP_ONCE);
}

/* The first unit holds the writer busy while the others queue; they must
 * then go in one transaction. */
static void
test_queued_units_share_one_commit(void **state)
{
	struct fixture *f = *state;
	static struct probe p[UNITS + 1];
	sem_t started, hold;

	memset(p, 0, sizeof(p));
	sem_init(&started, 0, 0);
	sem_init(&hold, 0, 0);
	snprintf(p[0].actor, sizeof(p[0].actor), "first");
	p[0].started = &started;
	p[0].hold = &hold;
	assert_int_equal(writer_submit(f->writer, probe_work, probe_done,
	    &p[0]), 0);
	sem_wait(&started);
	for (int i = 1; i <= UNITS; i++) {
		snprintf(p[i].actor, sizeof(p[i].actor), "unit-%d", i);
		assert_int_equal(writer_submit(f->writer, probe_work,
		    probe_done, &p[i]), 0);
	}
	assert_int_equal(done_count, 0);	/* never inside submit */
	sem_post(&hold);
	run_until_idle(f);
	assert_int_equal(writer_commits(f->writer), 2);
	for (int i = 0; i <= UNITS; i++) {
		assert_int_equal(p[i].result, WRITER_COMMITTED);
		assert_int_equal(p[i].done_order, i + 1);
		/* Durable and visible to another connection before done. */
		assert_int_equal(p[i].visible_at_done, 1);
		assert_false(pthread_equal(p[i].work_thread, pthread_self()));
	}
	sem_destroy(&started);
	sem_destroy(&hold);
}

static void
test_a_failing_unit_is_undone_alone(void **state)
{
	struct fixture *f = *state;
	static struct probe p[4];
	sem_t hold;

	memset(p, 0, sizeof(p));
	sem_init(&hold, 0, 0);
	snprintf(p[0].actor, sizeof(p[0].actor), "holder");
	p[0].hold = &hold;
	snprintf(p[1].actor, sizeof(p[1].actor), "before");
	snprintf(p[2].actor, sizeof(p[2].actor), "failing");
	p[2].fail = true;
	snprintf(p[3].actor, sizeof(p[3].actor), "after");
	for (int i = 0; i < 4; i++)
		assert_int_equal(writer_submit(f->writer, probe_work,
		    probe_done, &p[i]), 0);
	sem_post(&hold);
	run_until_idle(f);
	assert_int_equal(p[1].result, WRITER_COMMITTED);
	assert_int_equal(p[2].result, WRITER_FAILED);
	assert_int_equal(p[3].result, WRITER_COMMITTED);
	assert_int_equal(count_rows("before"), 1);
	assert_int_equal(count_rows("failing"), 0);
	assert_int_equal(count_rows("after"), 1);
	sem_destroy(&hold);
}

/* A store function with its own transaction runs inside a unit as a
 * savepoint: its refusal undoes its own writes and nothing else. */
struct hop_unit {
	struct store_ussd_hop hop;
	enum store_result status;
	struct store_hop_result res;
};

static int
hop_work(struct store *st, void *arg)
{
	struct hop_unit *u = arg;
	char err[256];

	u->status = store_ussd_hop(st, &u->hop, &u->res, err, sizeof(err));
	return u->status == STORE_RESULT_OK ? 0 : -1;
}

static void
test_store_transactions_nest_inside_a_unit(void **state)
{
	struct fixture *f = *state;
	struct store_task_request task = {
		.channel = "console", .caller = "c_0123456789ab",
		.msisdn = "+84900000001", .language = "en", .topic = "legal",
	};
	struct hop_unit a = { .hop = { .channel = "console",
	    .session_id = "s1", .caller = "c_0123456789ab",
	    .msisdn = "+84900000001", .node = "done", .ended = true,
	    .task = &task } };
	/* The same session id from another caller: refused. */
	struct hop_unit b = { .hop = { .channel = "console",
	    .session_id = "s1", .caller = "c_ba9876543210",
	    .msisdn = "+84900000002", .node = "done", .ended = true,
	    .task = &task } };

	assert_int_equal(writer_submit(f->writer, hop_work, NULL, &a), 0);
	assert_int_equal(writer_submit(f->writer, hop_work, NULL, &b), 0);
	run_until_idle(f);
	assert_int_equal(a.status, STORE_RESULT_OK);
	assert_int_equal(a.res.change, STORE_TASK_CREATED);
	assert_int_equal(b.status, STORE_RESULT_CONFLICT);
	int64_t n = -1;
	char err[256];

	/* The loop's own connection reads what the writer committed. */
	assert_int_equal(store_tasks_count(f->store, STORE_TASK_PENDING, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 1);
}

static void
test_free_runs_what_was_submitted(void **state)
{
	struct fixture *f = *state;
	static struct probe p[8];

	memset(p, 0, sizeof(p));
	for (int i = 0; i < 8; i++) {
		snprintf(p[i].actor, sizeof(p[i].actor), "late-%d", i);
		assert_int_equal(writer_submit(f->writer, probe_work,
		    probe_done, &p[i]), 0);
	}
	writer_free(f->writer);
	f->writer = NULL;
	for (int i = 0; i < 8; i++) {
		assert_int_equal(p[i].done_order, i + 1);
		assert_int_equal(p[i].result, WRITER_COMMITTED);
		assert_int_equal(count_rows(p[i].actor), 1);
	}
}

/* p holds the writer from inside its work until hold is posted: every
 * unit submitted meanwhile queues.  Returns once the writer is in it. */
static void
hold_writer(struct fixture *f, struct probe *p, const char *actor,
    bool background, sem_t *started, sem_t *hold)
{
	sem_init(started, 0, 0);
	sem_init(hold, 0, 0);
	snprintf(p->actor, sizeof(p->actor), "%s", actor);
	p->started = started;
	p->hold = hold;
	assert_int_equal((background ? writer_submit_background :
	    writer_submit)(f->writer, probe_work, probe_done, p), 0);
	sem_wait(started);
}

/* Submit p[from..to] in one lane, each writing as "<prefix>-<i>". */
static void
submit_range(struct fixture *f, struct probe *p, int from, int to,
    bool background, const char *prefix)
{
	for (int i = from; i <= to; i++) {
		snprintf(p[i].actor, sizeof(p[i].actor), "%s-%d", prefix, i);
		assert_int_equal((background ? writer_submit_background :
		    writer_submit)(f->writer, probe_work, probe_done, &p[i]),
		    0);
	}
}

/* Units someone waits for go first: queued behind a flood of background
 * work, they join the batch running and complete before the rest of
 * the flood. */
static void
test_background_yields_to_waiting_units(void **state)
{
	struct fixture *f = *state;
	static struct probe p[1 + UNITS + 5];
	sem_t started, hold;
	int waiting_last = 0, background_before = 0;

	memset(p, 0, sizeof(p));
	/* A background unit holds the writer: its batch ends when the
	 * first waiting unit arrives. */
	hold_writer(f, &p[0], "holder", true, &started, &hold);
	submit_range(f, p, 1, UNITS, true, "bg");
	submit_range(f, p, UNITS + 1, UNITS + 5, false, "waiting");
	sem_post(&hold);
	run_until_idle(f);
	for (int i = UNITS + 1; i <= UNITS + 5; i++) {
		assert_int_equal(p[i].result, WRITER_COMMITTED);
		if (p[i].done_order > waiting_last)
			waiting_last = p[i].done_order;
	}
	/* The holder, then the five: nothing of the flood before them.
	 * They arrived while the holder ran and joined its batch (one
	 * commit to wait for, not two); the flood took one more. */
	assert_int_equal(waiting_last, 6);
	assert_int_equal(writer_commits(f->writer), 2);
	for (int i = 1; i <= UNITS; i++) {
		assert_int_equal(p[i].result, WRITER_COMMITTED);
		assert_int_equal(count_rows(p[i].actor), 1);
		if (p[i].done_order < waiting_last)
			background_before++;
		/* In submission order among themselves. */
		if (i > 1)
			assert_true(p[i].done_order > p[i - 1].done_order);
	}
	assert_int_equal(background_before, 0);
	sem_destroy(&started);
	sem_destroy(&hold);
}

/* Never starved: a batch of waiting units takes at least one background
 * unit along, even a full one. */
static void
test_background_is_never_starved(void **state)
{
	struct fixture *f = *state;
	static struct probe p[1 + 1 + 600];
	sem_t started, hold;

	memset(p, 0, sizeof(p));
	hold_writer(f, &p[0], "holder", true, &started, &hold);
	submit_range(f, p, 1, 1, true, "bg");
	/* More than two batches (256) of waiting units: the first 256 join
	 * the holder's batch as they arrived while it ran. */
	submit_range(f, p, 2, 601, false, "waiting");
	sem_post(&hold);
	run_until_idle(f);
	assert_int_equal(p[1].result, WRITER_COMMITTED);
	/* In the next full batch, after its 256 waiting units, before the
	 * rest: not after the whole flood. */
	assert_int_equal(p[1].done_order, 1 + 256 + 256 + 1);
	assert_int_equal(writer_commits(f->writer), 3);
	sem_destroy(&started);
	sem_destroy(&hold);
}

/* A background unit waits for every waiting unit submitted before it,
 * even when those fill more than one batch: what it does may depend on
 * them (a retired configuration is freed by one, after the units that
 * still read it). */
static void
test_background_never_overtakes_earlier_waiting_units(void **state)
{
	struct fixture *f = *state;
	static struct probe p[6];
	const char *names[] = { "holder", "w1", "w2", "bg-early", "w3",
	    "bg-late" };
	const bool background[] = { false, false, false, true, false, true };
	/* Batches of two: [holder] [w1 w2 bg-early] [w3 bg-late]. */
	const int expected[] = { 1, 2, 3, 4, 5, 6 };
	sem_t started, hold;
	char err[512];

	writer_free(f->writer);
	f->writer = writer_new(f->base, dbpath, fixture_keys(dbpath), 2, err,
	    sizeof(err));
	assert_non_null(f->writer);
	memset(p, 0, sizeof(p));
	sem_init(&started, 0, 0);
	sem_init(&hold, 0, 0);
	p[0].started = &started;
	p[0].hold = &hold;
	for (int i = 0; i < 6; i++) {
		snprintf(p[i].actor, sizeof(p[i].actor), "%s", names[i]);
		assert_int_equal((background[i] ? writer_submit_background :
		    writer_submit)(f->writer, probe_work, probe_done, &p[i]), 0);
		if (i == 0)
			sem_wait(&started);
	}
	sem_post(&hold);
	run_until_idle(f);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(p[i].result, WRITER_COMMITTED);
		assert_int_equal(p[i].done_order, expected[i]);
	}
	assert_int_equal(writer_commits(f->writer), 3);
	sem_destroy(&started);
	sem_destroy(&hold);
}

/* Grouping off (max_batch 1, a benchmark's baseline): one unit a
 * commit, in submission order whatever the lane. */
static void
test_grouping_off_runs_one_unit_a_batch_in_order(void **state)
{
	struct fixture *f = *state;
	static struct probe p[5];
	sem_t started, hold;
	char err[512];

	writer_free(f->writer);
	f->writer = writer_new(f->base, dbpath, fixture_keys(dbpath), 1, err,
	    sizeof(err));
	assert_non_null(f->writer);
	memset(p, 0, sizeof(p));
	hold_writer(f, &p[0], "holder", false, &started, &hold);
	submit_range(f, p, 1, 1, true, "bg");
	submit_range(f, p, 2, 2, false, "waiting");
	submit_range(f, p, 3, 4, true, "bg");
	sem_post(&hold);
	run_until_idle(f);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(p[i].result, WRITER_COMMITTED);
		assert_int_equal(p[i].done_order, i + 1);
	}
	assert_int_equal(writer_commits(f->writer), 5);
	sem_destroy(&started);
	sem_destroy(&hold);
}

/* Nobody waiting: background units queued while one runs join its
 * batch, one commit for all. */
static void
test_background_alone_shares_one_commit(void **state)
{
	struct fixture *f = *state;
	static struct probe p[1 + UNITS];
	sem_t started, hold;

	memset(p, 0, sizeof(p));
	hold_writer(f, &p[0], "first", true, &started, &hold);
	submit_range(f, p, 1, UNITS, true, "bg");
	sem_post(&hold);
	run_until_idle(f);
	assert_int_equal(writer_commits(f->writer), 1);
	for (int i = 0; i <= UNITS; i++) {
		assert_int_equal(p[i].result, WRITER_COMMITTED);
		assert_int_equal(p[i].done_order, i + 1);
		assert_int_equal(p[i].visible_at_done, 1);
	}
	sem_destroy(&started);
	sem_destroy(&hold);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_queued_units_share_one_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_failing_unit_is_undone_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_store_transactions_nest_inside_a_unit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_free_runs_what_was_submitted, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_background_yields_to_waiting_units, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_background_is_never_starved, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_background_never_overtakes_earlier_waiting_units,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_background_alone_shares_one_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_grouping_off_runs_one_unit_a_batch_in_order, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
