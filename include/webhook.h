/*
 * webhook: what the aggregator-facing routes share between the HTTP
 * server and the provider adapters.
 */
#ifndef HOTLINE_WEBHOOK_H
#define HOTLINE_WEBHOOK_H

#include <stdbool.h>

struct http_request;
struct provider_input;
enum provider_verdict;

/* Describe req to an adapter: method, path, query, body, the client's
 * address (through trusted proxies), headers, whether a proxy forwarded
 * it (any proxy header), and the clock.  Everything borrowed from
 * req. */
void webhook_input(struct http_request *req, struct provider_input *in);

/* Answer an adapter's refusal (400/403/415) with a JSON error and log
 * the reason, which adapters write without numbers or text.  A failed
 * authentication (403) is logged once per channel and source address and
 * interval; the rest are counted into one `webhook.auth_failures` line
 * (a bounded table: a flood from many addresses cannot grow it). */
void webhook_refuse(struct http_request *req, const char *event,
    const char *channel, enum provider_verdict verdict, const char *why);

/* Log the counts of intervals that have ended (all: every count, at
 * shutdown).  Called from a periodic timer. */
void webhook_auth_flush(bool all);

#endif
