/*
 * api: the counsellors' JSON API (docs/api.md): bearer tokens and
 * roles, the callback queue with leases, what a counsellor may see of a
 * caller (the number only with the task's lease, each showing audited),
 * texting the caller through the outbox, statistics and the audit trail.
 */
#ifndef HOTLINE_API_H
#define HOTLINE_API_H

#include <stdbool.h>

#include "auth.h"

struct app;
struct http_request;
struct http_server;

/* Route /v1/callbacks…, /v1/stats and /v1/audit to handlers sharing
 * app (borrowed).  0, or -1 when out of memory. */
int api_routes(struct http_server *server, struct app *app);

/* Does req carry a live token of role min or higher (*role set)?  Else
 * false, with req answered (401, 403, 429 or 503) and counted. */
bool api_authenticate(struct http_request *req, struct app *app,
    enum auth_role min, enum auth_role *role);

#endif
