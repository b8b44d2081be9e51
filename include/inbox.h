/*
 * inbox: group commit for inbound messages.
 *
 * A webhook's message is submitted with a callback and not answered yet.
 * Messages submitted in the same turn of the event loop (up to a batch
 * limit) are stored in one transaction and one fsync, and only then is
 * each callback told its outcome, in submission order, so that the HTTP
 * layer can answer 2xx for exactly what is durable.
 */
#ifndef HOTLINE_INBOX_H
#define HOTLINE_INBOX_H

#include <stddef.h>

struct event_base;
struct store;
struct store_inbound;
struct inbox;

enum inbox_result {
	INBOX_STORED,             /* committed now */
	INBOX_DUPLICATE,          /* already stored earlier: nothing new */
	INBOX_FAILED,             /* not stored; the sender should retry */
};

typedef void (*inbox_done_cb)(enum inbox_result result, void *arg);

/*
 * max_batch 1 turns grouping off (one commit per message), for
 * benchmarks.  The store and base are borrowed and must outlive the
 * inbox.  NULL on failure.
 */
struct inbox *inbox_new(struct event_base *base, struct store *store,
    size_t max_batch);
/* Flushes what is pending, then frees.  NULL is a no-op. */
void inbox_free(struct inbox *inbox);

/* Queue a copy of msg; cb(result, arg) runs exactly once, after the
 * commit, never from inside this call (though a full batch commits here
 * and runs the callbacks of earlier messages).  -1 when out of memory
 * (cb will not run). */
int inbox_submit(struct inbox *inbox, const struct store_inbound *msg,
    inbox_done_cb cb, void *arg);

/* Run cb(arg) after every commit that stored a new message, once its
 * requests are answered (the conversation picks the messages up). */
void inbox_on_commit(struct inbox *inbox, void (*cb)(void *arg),
    void *arg);

/* Commit what is pending now (shutdown). */
void inbox_flush(struct inbox *inbox);

/* Messages submitted and not yet committed. */
size_t inbox_pending(const struct inbox *inbox);

#endif
