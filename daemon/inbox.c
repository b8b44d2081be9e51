#include "inbox.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "store.h"

/* A submitted message and the strings it points to, in one block. */
struct inbox_item {
	struct store_inbound msg;
	inbox_done_cb cb;
	void *arg;
	char *strings;
};

struct inbox {
	struct store *store;
	struct event *flush_ev;
	size_t max_batch;
	struct inbox_item *items;
	size_t count;
	/* Scratch for a flush, so a flush never allocates. */
	struct store_inbound *batch;
	enum store_inbound_result *results;
	struct inbox_item *running;	/* the batch whose callbacks run */
	void (*on_commit)(void *);
	void *on_commit_arg;
};

static void flush_cb(evutil_socket_t, short, void *);

struct inbox *
inbox_new(struct event_base *base, struct store *store, size_t max_batch)
{
	struct inbox *ib;

	if (max_batch == 0 || (ib = calloc(1, sizeof(*ib))) == NULL)
		return NULL;
	ib->store = store;
	ib->max_batch = max_batch;
	ib->items = calloc(max_batch, sizeof(*ib->items));
	ib->batch = calloc(max_batch, sizeof(*ib->batch));
	ib->results = calloc(max_batch, sizeof(*ib->results));
	ib->running = calloc(max_batch, sizeof(*ib->running));
	ib->flush_ev = event_new(base, -1, 0, flush_cb, ib);
	if (ib->items == NULL || ib->batch == NULL || ib->results == NULL ||
	    ib->running == NULL || ib->flush_ev == NULL) {
		inbox_free(ib);
		return NULL;
	}
	return ib;
}

void
inbox_free(struct inbox *ib)
{
	if (ib == NULL)
		return;
	inbox_flush(ib);
	if (ib->flush_ev)
		event_free(ib->flush_ev);
	free(ib->items);
	free(ib->batch);
	free(ib->results);
	free(ib->running);
	free(ib);
}

void
inbox_on_commit(struct inbox *ib, void (*cb)(void *), void *arg)
{
	ib->on_commit = cb;
	ib->on_commit_arg = arg;
}

size_t
inbox_pending(const struct inbox *ib)
{
	return ib->count;
}

static char *
pack(char **cursor, const char *s)
{
	char *start = *cursor;
	size_t n = strlen(s) + 1;

	memcpy(start, s, n);
	*cursor += n;
	return start;
}

void
inbox_flush(struct inbox *ib)
{
	size_t n = ib->count;
	char err[256];
	int rc;

	if (n == 0)
		return;
	event_del(ib->flush_ev);
	for (size_t i = 0; i < n; i++)
		ib->batch[i] = ib->items[i].msg;
	rc = store_inbound_batch(ib->store, ib->batch, n, ib->results, err,
	    sizeof(err));
	if (rc == 0) {
		char count[24];

		snprintf(count, sizeof(count), "%zu", n);
		log_event(LOG_DEBUG, "inbox.committed", "messages", count,
		    NULL);
	} else
		log_event(LOG_ERROR, "store.failed", "op", "inbound_batch",
		    "error", err, NULL);
	/* Moved off the queue before the callbacks run: a callback may
	 * submit again, and must find an empty queue, not this batch. */
	memcpy(ib->running, ib->items, n * sizeof(*ib->items));
	ib->count = 0;
	bool stored_new = false;
	for (size_t i = 0; i < n; i++) {
		struct inbox_item *it = &ib->running[i];
		enum inbox_result r = rc < 0 ? INBOX_FAILED :
		    ib->results[i] == STORE_INBOUND_NEW ? INBOX_STORED :
		    INBOX_DUPLICATE;

		stored_new |= r == INBOX_STORED;
		it->cb(r, it->arg);
		free(it->strings);
		it->strings = NULL;
	}
	if (stored_new && ib->on_commit != NULL)
		ib->on_commit(ib->on_commit_arg);
}

static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	inbox_flush(arg);
}

int
inbox_submit(struct inbox *ib, const struct store_inbound *msg,
    inbox_done_cb cb, void *arg)
{
	struct inbox_item *it;
	const char *received = msg->received_at ? msg->received_at : "";
	const char *ref = msg->concat_ref ? msg->concat_ref : "";
	size_t need = strlen(msg->channel) + strlen(msg->provider_msg_id) +
	    strlen(msg->caller) + strlen(msg->msisdn) + strlen(msg->body) +
	    strlen(received) + strlen(ref) + 7;
	char *cur;

	if (ib->count == ib->max_batch)
		inbox_flush(ib);
	it = &ib->items[ib->count];
	if ((it->strings = malloc(need)) == NULL)
		return -1;
	cur = it->strings;
	it->msg.channel = pack(&cur, msg->channel);
	it->msg.provider_msg_id = pack(&cur, msg->provider_msg_id);
	it->msg.caller = pack(&cur, msg->caller);
	it->msg.msisdn = pack(&cur, msg->msisdn);
	it->msg.body = pack(&cur, msg->body);
	it->msg.received_at = pack(&cur, received);
	it->msg.concat_ref = pack(&cur, ref);
	it->msg.concat_part = msg->concat_part;
	it->msg.concat_total = msg->concat_total;
	it->cb = cb;
	it->arg = arg;
	ib->count++;
	/*
	 * Commit once the loop has run every callback that is ready now:
	 * requests that arrived together share the fsync.  A full batch
	 * commits at the next submit or in that same turn.
	 */
	if (ib->count == 1)
		event_active(ib->flush_ev, 0, 0);
	return 0;
}
