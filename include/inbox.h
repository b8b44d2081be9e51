/*
 * inbox: inbound messages, stored durably before they are answered.
 *
 * A webhook's message is submitted with a callback and not answered yet.
 * It is a unit of the writer (writer.h): stored with whatever else has
 * queued, in one transaction and one fsync, and only then is the
 * callback told its outcome, in submission order, so that the HTTP layer
 * can answer 2xx for exactly what is durable.
 */
#ifndef HOTLINE_INBOX_H
#define HOTLINE_INBOX_H

#include <stddef.h>

struct event_base;
struct store_inbound;
struct inbox;
struct writer;

enum inbox_result {
	INBOX_STORED,             /* committed now */
	INBOX_DUPLICATE,          /* already stored earlier: nothing new */
	INBOX_FAILED,             /* not stored; the sender should retry */
};

typedef void (*inbox_done_cb)(enum inbox_result result, void *arg);

/* The writer and base are borrowed and must outlive the inbox.  NULL on
 * failure. */
struct inbox *inbox_new(struct event_base *base, struct writer *writer);
/* Free it once nothing is pending (writer_free runs what is).  NULL is
 * a no-op. */
void inbox_free(struct inbox *inbox);

/* Queue a copy of msg; cb(result, arg) runs exactly once, on the loop
 * after the commit, never from inside this call.  -1 when out of memory
 * (cb will not run). */
int inbox_submit(struct inbox *inbox, const struct store_inbound *msg,
    inbox_done_cb cb, void *arg);

/* Run cb(arg) after commits that stored a new message, once their
 * requests are answered (the conversation picks the messages up); once
 * per loop turn at most. */
void inbox_on_commit(struct inbox *inbox, void (*cb)(void *arg),
    void *arg);


#endif
