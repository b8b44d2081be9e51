/*
 * metrics: the daemon's counters and GET /metrics in Prometheus's text
 * exposition format (version 0.0.4).
 *
 * The counters live here, in fixed tables: a label is a channel name
 * (from the config: [a-z0-9_-], at most 32), a route pattern (a literal
 * from the routing table), or one word of a fixed set below; never a
 * number, a pseudonym or any text that came from outside.  Counting is
 * a relaxed atomic add into a slot found by a short scan, without
 * allocation, and without a lock once a name has its slot (a new name
 * takes one, once), so any thread may count (the writer thread counts
 * its commits and the SMS conversation's tasks).  The counters
 * are process-wide, like the log: one daemon, one set.
 *
 * Queue depth, the oldest pending task and the outbox's rows are not
 * counted: they are read from the store (the loop's read-only
 * connection) when Prometheus scrapes.
 *
 * Access: from loopback (unless metrics.allow_loopback is false, and
 * never through a proxy on this host, which makes every request
 * loopback), else with a bearer token of role metrics or higher.
 */
#ifndef HOTLINE_METRICS_H
#define HOTLINE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#ifndef HOTLINE_VERSION
#define HOTLINE_VERSION "0.1.0"
#endif

struct app;
struct http_server;

/* Channels and routes remembered; past these, counted as "other". */
#define METRICS_CHANNELS_MAX 32
#define METRICS_ROUTES_MAX 48

enum metrics_webhook_kind {
	METRICS_KIND_USSD,
	METRICS_KIND_SMS,
	METRICS_KIND_DLR,
};
#define METRICS_KIND_COUNT 3

/* What became of an aggregator's webhook. */
enum metrics_webhook_result {
	METRICS_WEBHOOK_STORED,
	METRICS_WEBHOOK_DUPLICATE,
	METRICS_WEBHOOK_REFUSED_BAD_REQUEST,  /* 400: malformed, inconsistent */
	METRICS_WEBHOOK_REFUSED_FORBIDDEN,    /* 403: signature, token, peer */
	METRICS_WEBHOOK_REFUSED_UNSUPPORTED,  /* 415 */
	METRICS_WEBHOOK_UNAVAILABLE,          /* 503: not stored, retried */
};
#define METRICS_WEBHOOK_RESULT_COUNT 6

/* What became of one outbound row's attempt (or of its claim). */
enum metrics_send_result {
	METRICS_SEND_SENT,        /* the provider took it */
	METRICS_SEND_DELIVERED,   /* delivered without a network (console) */
	METRICS_SEND_FAILED,      /* final */
	METRICS_SEND_UNKNOWN,     /* may have been sent: a report decides */
	METRICS_SEND_RETRY,       /* pending again, with backoff */
	METRICS_SEND_BLOCKED,     /* opted out, or unsafe to text */
	METRICS_SEND_EXPIRED,     /* a page the caller would get too late */
};
#define METRICS_SEND_RESULT_COUNT 7

enum metrics_dlr_outcome {
	METRICS_DLR_SENT,
	METRICS_DLR_DELIVERED,
	METRICS_DLR_FAILED,
	METRICS_DLR_UNKNOWN,      /* a status the provider does not document */
};
#define METRICS_DLR_OUTCOME_COUNT 4

/* Why a request to the API or /metrics was refused. */
enum metrics_auth_refusal {
	METRICS_AUTH_UNAUTHORIZED,    /* 401: no token, or not a live one */
	METRICS_AUTH_RATE_LIMITED,    /* 429: too many failures from there */
	METRICS_AUTH_FORBIDDEN,       /* 403: a live token of too low a role */
};
#define METRICS_AUTH_REFUSAL_COUNT 3

enum metrics_reveal_via {
	METRICS_REVEAL_CLAIM,     /* a claim shows the number */
	METRICS_REVEAL_SHOW,      /* GET /v1/callbacks/{id} to the holder */
};
#define METRICS_REVEAL_VIA_COUNT 2

/* Zero every counter and remember the process's start (unix time).
 * Call once, before any thread counts (and in tests, between cases). */
void metrics_reset(double start_time);

/* The counting calls.  Strings are borrowed for the call; channel is a
 * configured channel's name (NULL counts nothing), pattern a route
 * literal (NULL: no route matched). */
void metrics_http_request(const char *pattern, int status);
void metrics_webhook(enum metrics_webhook_kind kind, const char *channel,
    enum metrics_webhook_result result);
void metrics_ussd_hop(const char *channel, bool first, bool end);
void metrics_task_created(const char *channel, bool urgent);
void metrics_send(const char *channel, enum metrics_send_result result);
void metrics_dlr(const char *channel, enum metrics_dlr_outcome outcome);
void metrics_auth_refused(enum metrics_auth_refusal why);
void metrics_reveal(enum metrics_reveal_via via);
/* The writer thread: a batch of units committed in seconds, or one
 * that failed to begin or commit. */
void metrics_commit(size_t units, double seconds);
void metrics_commit_failed(void);

#define METRICS_LANE_COUNT (STORE_LANE_FOLLOWUP + 1)
#define METRICS_DUE_SCAN_MAX 1000

/* What is read from the store at scrape time. */
struct metrics_queue {
	/* Open tasks: [0] pending, [1] claimed; [.][0] urgent, [.][1]
	 * normal. */
	int64_t tasks[2][2];
	/* Seconds the oldest pending task of each priority has waited
	 * (0: none): [0] urgent, [1] normal. */
	int64_t oldest_pending[2];
	/* Outbound rows by status (enum store_outbound_status). */
	int64_t outbox[STORE_OUTBOUND_STATUS_COUNT];
	/* Pending rows already due, by lane (enum store_lane), counted up
	 * to METRICS_DUE_SCAN_MAX a channel. */
	int64_t outbox_due[METRICS_LANE_COUNT];
	bool ok;                  /* false: the store could not be read */
};

/* The exposition of every counter and of q (NULL: none read), into a
 * malloc'd, NUL-terminated text the caller frees; *len its length.
 * NULL when out of memory. */
char *metrics_render(const struct metrics_queue *q, size_t *len);

/* Read q from the loop's store (app->store) and app->config's
 * channels.  0, or -1 (q->ok false) when a read failed. */
int metrics_queue_read(struct app *app, struct metrics_queue *q);

/* Route GET /metrics to its handler, sharing app (borrowed).  0, or -1
 * when out of memory. */
int metrics_routes(struct http_server *server, struct app *app);

#endif
