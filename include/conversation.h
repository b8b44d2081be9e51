/*
 * conversation: what a stored SMS sets in motion.  The menu drives SMS
 * as it drives USSD (each reply is the next page, the caller answers
 * with a number), with keywords first: opt-out, opt-in, restart,
 * urgent.  A text from a caller with an open task joins that task (for
 * counsellors) and is answered as anyone's is: no reply reveals that
 * the number asked before.  Replies are queued as outbound rows for the
 * outbox;
 * nothing is queued for a caller who opted out but the one
 * confirmation, and a flood gets at most one automatic reply per
 * interval (the messages themselves are all kept); the confirmation of
 * a keyword the caller sent (opt-out, opt-in, restart) always goes.
 * Each reply is queued in its outbox lane (enum store_lane).
 *
 * Messages are processed after their commit, in batches of one
 * transaction each; a message is marked processed in the same
 * transaction as its effects, so a crash leaves it for the next pass
 * and a replayed webhook (never stored twice) never acts twice.
 */
#ifndef HOTLINE_CONVERSATION_H
#define HOTLINE_CONVERSATION_H

#include <stddef.h>

struct config;
struct store;

/* More messages than this from one sender within the window: a flood.
 * (The idle time after which the next text starts over, and the interval
 * between automatic replies to a flood, come from the config's "sms".) */
#define CONVERSATION_FLOOD_MESSAGES 10
#define CONVERSATION_FLOOD_WINDOW 60

/* Process up to `limit` stored, unprocessed messages in one transaction.
 * Returns how many were processed, or -1 with a reason in err (nothing
 * of the batch is kept; the messages stay for the next pass). */
int conversation_process(struct store *store, const struct config *config,
    size_t limit, char *err, size_t errlen);

#endif
