/*
 * writer: the one way anything changes the database.
 *
 * A handler submits a unit of work: a function that makes its writes,
 * and the reads that must see them, against a store, and a completion
 * that runs afterwards on the event loop.  Units are run on the writer's
 * own thread and connection, as many as have queued in one transaction
 * and one fsync (group commit); a completion runs only once its batch is
 * durable, so a reply sent from it promises nothing that a crash could
 * take back.  The loop never waits for the disk: it reads on its own
 * connection (WAL readers are not blocked by the writer), and hands every
 * write here.
 *
 * The contract does not depend on SQLite: a unit sees only store.h, and
 * a backend behind a network (PostgreSQL) runs the same units on its own
 * connection in the same batches, completing when COMMIT returns.
 *
 * Threads: work runs on the writer thread and may touch only the store
 * it is given and its own arg (and log_event, which is thread-safe);
 * done runs on the loop thread.  Between submit and done the loop must
 * leave arg alone.
 */
#ifndef HOTLINE_WRITER_H
#define HOTLINE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store;
struct writer;

/* The writer thread: make this unit's writes.  -1 undoes them (and only
 * them); the unit's result is then WRITER_FAILED. */
typedef int (*writer_work_cb)(struct store *store, void *arg);

enum writer_result {
	WRITER_COMMITTED,         /* work returned 0 and its batch is
	                             durable */
	WRITER_FAILED,            /* work returned -1, or the batch could not
	                             be committed: nothing of it is stored */
};

/* The loop thread, once, after the batch. */
typedef void (*writer_done_cb)(enum writer_result result, void *arg);

/*
 * Open a second connection to the database at path (already created and
 * migrated, its key store too) and start the thread.  max_batch caps the
 * units from writer_submit in one transaction (the background's share
 * comes on top); 1 turns grouping off (benchmarks): one unit a batch,
 * the oldest of either lane.  base is borrowed and
 * must outlive the writer.  The caller owns the result (writer_free).
 */
struct store_keys;
/* keys: the key store and master key the writer's connection seals
 * with (store_open), borrowed for the call. */
struct writer *writer_new(struct event_base *base, const char *path,
    const struct store_keys *keys, size_t max_batch, char *err,
    size_t errlen);

/* Run every unit already submitted, their completions too, then stop
 * the thread and free.  NULL is a no-op. */
void writer_free(struct writer *writer);

/* Queue a unit someone is waiting for (a webhook's reply, a counsellor's
 * request).  done may be NULL.  Neither runs inside this call.  -1 when
 * out of memory: nothing will run. */
int writer_submit(struct writer *writer, writer_work_cb work,
    writer_done_cb done, void *arg);

/*
 * Queue the daemon's own work (processing stored messages, the outbox's
 * claims and results, purges, lease expiry), which nobody is waiting on.
 * It yields to units from writer_submit: a batch holding any of those
 * gives the background WRITER_BACKGROUND_SHARE percent of the time they
 * took (and at least one unit, so it is never starved), so a flood of
 * webhooks is acknowledged first and its follow-up work runs as the
 * writer has room.  It never runs before a writer_submit unit queued
 * before it: a completion here comes after the completions of everything
 * submitted earlier.
 */
int writer_submit_background(struct writer *writer, writer_work_cb work,
    writer_done_cb done, void *arg);

#define WRITER_BACKGROUND_SHARE 25

/* Units submitted whose completion has not run yet. */
size_t writer_pending(const struct writer *writer);

/* Batches committed since start (tests count them through the debug
 * log line store.committed, which says how many units each held). */
uint64_t writer_commits(const struct writer *writer);

#endif
