#include "inbox.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "store.h"
#include "writer.h"

/* A submitted message and the strings it points to, in one block. */
struct inbox_item {
	struct inbox *inbox;
	struct store_inbound msg;
	enum store_inbound_result stored;
	inbox_done_cb cb;
	void *arg;
	char strings[];
};

struct inbox {
	struct writer *writer;
	struct event *commit_ev;  /* runs on_commit after the replies */
	void (*on_commit)(void *);
	void *on_commit_arg;
};

static void
commit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct inbox *ib = arg;

	(void)fd;
	(void)what;
	if (ib->on_commit != NULL)
		ib->on_commit(ib->on_commit_arg);
}

struct inbox *
inbox_new(struct event_base *base, struct writer *writer)
{
	struct inbox *ib;

	if ((ib = calloc(1, sizeof(*ib))) == NULL)
		return NULL;
	ib->writer = writer;
	/* Lower priority is not available on a default base: an event made
	 * active during a turn runs after the ones already active, which
	 * is after the completions that made it so. */
	if ((ib->commit_ev = event_new(base, -1, 0, commit_cb, ib)) == NULL) {
		free(ib);
		return NULL;
	}
	return ib;
}

void
inbox_free(struct inbox *ib)
{
	if (ib == NULL)
		return;
	event_free(ib->commit_ev);
	free(ib);
}

void
inbox_on_commit(struct inbox *ib, void (*cb)(void *), void *arg)
{
	ib->on_commit = cb;
	ib->on_commit_arg = arg;
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

/* Writer thread. */
static int
store_work(struct store *st, void *arg)
{
	struct inbox_item *it = arg;
	char err[256];

	if (store_inbound_batch(st, &it->msg, 1, &it->stored, err,
	    sizeof(err)) < 0) {
		log_event(LOG_ERROR, "store.failed", "op", "inbound", "error",
		    err, NULL);
		return -1;
	}
	return 0;
}

static void
stored_cb(enum writer_result result, void *arg)
{
	struct inbox_item *it = arg;
	struct inbox *ib = it->inbox;
	enum inbox_result r = result != WRITER_COMMITTED ? INBOX_FAILED :
	    it->stored == STORE_INBOUND_NEW ? INBOX_STORED : INBOX_DUPLICATE;

	it->cb(r, it->arg);
	free(it);
	if (r == INBOX_STORED)
		event_active(ib->commit_ev, 0, 0);
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

	if ((it = malloc(sizeof(*it) + need)) == NULL)
		return -1;
	cur = it->strings;
	it->inbox = ib;
	it->msg.channel = pack(&cur, msg->channel);
	it->msg.provider_msg_id = pack(&cur, msg->provider_msg_id);
	it->msg.caller = pack(&cur, msg->caller);
	it->msg.msisdn = pack(&cur, msg->msisdn);
	it->msg.body = pack(&cur, msg->body);
	it->msg.received_at = pack(&cur, received);
	it->msg.concat_ref = pack(&cur, ref);
	it->msg.concat_part = msg->concat_part;
	it->msg.concat_total = msg->concat_total;
	it->stored = STORE_INBOUND_DUPLICATE;
	it->cb = cb;
	it->arg = arg;
	if (writer_submit(ib->writer, store_work, stored_cb, it) < 0) {
		free(it);
		return -1;
	}
	return 0;
}
