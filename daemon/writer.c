#include "writer.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "metrics.h"
#include "store.h"

struct unit {
	writer_work_cb work;
	writer_done_cb done;
	void *arg;
	enum writer_result result;
	uint64_t seq;             /* submission order, both lanes */
	struct unit *next;
};

/* A FIFO of units. */
struct unit_list {
	struct unit *head;
	struct unit *tail;
};

struct writer {
	struct store *store;      /* used by the thread only */
	struct event *wake_ev;
	int wake_fd;              /* eventfd: the thread tells the loop */
	size_t max_batch;
	pthread_t thread;
	bool thread_started;

	pthread_mutex_t lock;
	pthread_cond_t work_ready;
	/* Under lock: */
	struct unit_list queued;  /* writer_submit, not yet taken */
	struct unit_list background;/* writer_submit_background, ditto */
	uint64_t seq;             /* the last unit's */
	struct unit_list finished;/* committed or failed, done not yet run */
	bool stopping;

	size_t pending;           /* loop thread only */
	atomic_uint_fast64_t commits;
};

static void
list_push(struct unit_list *l, struct unit *u)
{
	u->next = NULL;
	if (l->tail != NULL)
		l->tail->next = u;
	else
		l->head = u;
	l->tail = u;
}

static void
list_append(struct unit_list *l, struct unit_list *more)
{
	if (more->head == NULL)
		return;
	if (l->tail != NULL)
		l->tail->next = more->head;
	else
		l->head = more->head;
	l->tail = more->tail;
	more->head = more->tail = NULL;
}

/* Take at most max units off the front of l, none submitted after
 * before_seq. */
static struct unit_list
list_take(struct unit_list *l, size_t max, uint64_t before_seq)
{
	struct unit_list out = { NULL, NULL };
	size_t n = 0;

	while (n < max && l->head != NULL && l->head->seq < before_seq) {
		struct unit *u = l->head;

		l->head = u->next;
		if (l->head == NULL)
			l->tail = NULL;
		list_push(&out, u);
		n++;
	}
	return out;
}

static uint64_t
now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Under lock, grouping off: the oldest unit of either lane, alone. */
static struct unit_list
take_oldest(struct writer *w)
{
	if (w->queued.head != NULL && (w->background.head == NULL ||
	    w->queued.head->seq < w->background.head->seq))
		return list_take(&w->queued, 1, UINT64_MAX);
	return list_take(&w->background, 1, UINT64_MAX);
}

/* Under lock: the background unit that may run next, if any: none
 * overtakes a waiting unit queued before it. */
static struct unit *
take_background(struct writer *w)
{
	struct unit_list one = list_take(&w->background, 1,
	    w->queued.head != NULL ? w->queued.head->seq : UINT64_MAX);

	return one.head;
}

static void
run_unit(struct writer *w, struct unit *u, bool open)
{
	u->result = WRITER_FAILED;
	if (!open || store_unit_begin(w->store) < 0)
		return;
	bool ok = u->work(w->store, u->arg) == 0;

	store_unit_end(w->store, ok);
	if (ok)
		u->result = WRITER_COMMITTED;
}

/*
 * On the writer thread: one transaction for the whole batch, a savepoint
 * for each unit.  batch holds the units taken first: the waiting ones
 * (maybe none), or with grouping off the one oldest unit.  Background
 * units are taken as the batch runs: while any waiting unit is in it,
 * for WRITER_BACKGROUND_SHARE percent of the time those took (at least
 * one unit, so the background is never starved), else up to max_batch
 * of them or until waiting units arrive, which then join the batch.
 * Completions run in the batch's order.  False when the transaction
 * could not even begin (another process held the lock past the busy
 * timeout).
 */
static bool
run_batch(struct writer *w, struct unit_list *batch)
{
	char err[256], count[24];
	size_t n = 0, waiting = 0;
	bool open = store_batch_begin(w->store, err, sizeof(err)) == 0;
	uint64_t t0 = now_ns(), spent, budget;
	struct unit *u;

	if (!open)
		log_event(LOG_ERROR, "store.failed", "op", "batch_begin",
		    "error", err, NULL);
	for (u = batch->head; u != NULL; u = u->next, waiting++)
		run_unit(w, u, open);
	n = waiting;
	spent = now_ns() - t0;
	budget = spent / 100 * WRITER_BACKGROUND_SHARE;
	t0 = now_ns();
	for (size_t ran = 0; open && w->max_batch > 1; ran++) {
		if (waiting > 0 ? ran > 0 && now_ns() - t0 >= budget :
		    ran >= w->max_batch)
			break;
		struct unit_list late = { NULL, NULL };

		pthread_mutex_lock(&w->lock);
		/* Units someone waits for arrived: they join this batch and
		 * end it, so they wait for one commit, not this one and then
		 * their own. */
		if (waiting == 0 && ran > 0 && w->queued.head != NULL) {
			late = list_take(&w->queued, w->max_batch, UINT64_MAX);
			u = NULL;
		} else
			u = take_background(w);
		pthread_mutex_unlock(&w->lock);
		for (struct unit *l = late.head; l != NULL; l = l->next, n++)
			run_unit(w, l, open);
		list_append(batch, &late);
		if (u == NULL)
			break;
		run_unit(w, u, open);
		list_push(batch, u);
		n++;
	}
	if (!open) {
		metrics_commit_failed();
		return false;
	}
	t0 = now_ns();
	if (store_batch_commit(w->store, err, sizeof(err)) < 0) {
		metrics_commit_failed();
		log_event(LOG_ERROR, "store.failed", "op", "batch_commit",
		    "error", err, NULL);
		for (u = batch->head; u != NULL; u = u->next)
			u->result = WRITER_FAILED;
		return true;
	}
	metrics_commit(n, (double)(now_ns() - t0) / 1e9);
	atomic_fetch_add(&w->commits, 1);
	snprintf(count, sizeof(count), "%zu", n);
	log_event(LOG_DEBUG, "store.committed", "units", count, NULL);
	return true;
}

static void *
writer_thread(void *arg)
{
	struct writer *w = arg;
	uint64_t one = 1;

	for (;;) {
		struct unit_list batch;

		pthread_mutex_lock(&w->lock);
		while (w->queued.head == NULL && w->background.head == NULL &&
		    !w->stopping)
			pthread_cond_wait(&w->work_ready, &w->lock);
		if (w->queued.head == NULL && w->background.head == NULL) {
			pthread_mutex_unlock(&w->lock);
			return NULL;
		}
		batch = w->max_batch == 1 ? take_oldest(w) :
		    list_take(&w->queued, w->max_batch, UINT64_MAX);
		pthread_mutex_unlock(&w->lock);

		bool began = run_batch(w, &batch);

		pthread_mutex_lock(&w->lock);
		/* What queued while this batch waited for the lock would only
		 * wait as long again: it fails now (its senders are told to
		 * retry), rather than after a busy timeout of its own. */
		if (!began) {
			list_append(&batch, &w->queued);
			list_append(&batch, &w->background);
		}
		list_append(&w->finished, &batch);
		pthread_mutex_unlock(&w->lock);
		/* Cannot fail but for an overflowing counter, which the loop's
		 * read resets long before. */
		(void)!write(w->wake_fd, &one, sizeof(one));
	}
}

/* On the loop: run the completions of finished batches, in order. */
static void
run_finished(struct writer *w)
{
	struct unit_list done;
	uint64_t count;

	(void)!read(w->wake_fd, &count, sizeof(count));
	pthread_mutex_lock(&w->lock);
	done = w->finished;
	w->finished.head = w->finished.tail = NULL;
	pthread_mutex_unlock(&w->lock);
	while (done.head != NULL) {
		struct unit *u = done.head;

		done.head = u->next;
		w->pending--;
		if (u->done != NULL)
			u->done(u->result, u->arg);
		free(u);
	}
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_finished(arg);
}

struct writer *
writer_new(struct event_base *base, const char *path,
    const struct store_keys *keys, size_t max_batch, char *err,
    size_t errlen)
{
	struct writer *w;

	if (max_batch == 0 || (w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->max_batch = max_batch;
	w->wake_fd = -1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->work_ready, NULL);
	atomic_init(&w->commits, 0);
	if ((w->store = store_open(path, STORE_OPEN_EXISTING, keys, err,
	    errlen)) == NULL)
		goto fail;
	if ((w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    (w->wake_ev = event_new(base, w->wake_fd, EV_READ | EV_PERSIST,
	    wake_cb, w)) == NULL || event_add(w->wake_ev, NULL) < 0) {
		snprintf(err, errlen, "writer: cannot set up its wake-up: %s",
		    strerror(errno));
		goto fail;
	}
	if (pthread_create(&w->thread, NULL, writer_thread, w) != 0) {
		snprintf(err, errlen, "writer: cannot start its thread");
		goto fail;
	}
	w->thread_started = true;
	return w;
fail:
	writer_free(w);
	return NULL;
}

void
writer_free(struct writer *w)
{
	if (w == NULL)
		return;
	if (w->thread_started) {
		/* A completion may submit more: wait until nothing is left. */
		while (w->pending > 0) {
			struct pollfd pfd = { .fd = w->wake_fd,
			    .events = POLLIN };

			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				break;
			run_finished(w);
		}
		pthread_mutex_lock(&w->lock);
		w->stopping = true;
		pthread_cond_signal(&w->work_ready);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
	}
	if (w->wake_ev != NULL)
		event_free(w->wake_ev);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	store_close(w->store);
	pthread_cond_destroy(&w->work_ready);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static int
submit(struct writer *w, bool background, writer_work_cb work,
    writer_done_cb done, void *arg)
{
	struct unit *u = malloc(sizeof(*u));

	if (u == NULL)
		return -1;
	u->work = work;
	u->done = done;
	u->arg = arg;
	u->result = WRITER_FAILED;
	w->pending++;
	pthread_mutex_lock(&w->lock);
	u->seq = ++w->seq;
	list_push(background ? &w->background : &w->queued, u);
	pthread_cond_signal(&w->work_ready);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int
writer_submit(struct writer *w, writer_work_cb work, writer_done_cb done,
    void *arg)
{
	return submit(w, false, work, done, arg);
}

int
writer_submit_background(struct writer *w, writer_work_cb work,
    writer_done_cb done, void *arg)
{
	return submit(w, true, work, done, arg);
}

size_t
writer_pending(const struct writer *w)
{
	return w->pending;
}

uint64_t
writer_commits(const struct writer *w)
{
	return atomic_load(&((struct writer *)w)->commits);
}
