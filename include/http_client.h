/*
 * http_client: outbound HTTP through libcurl.  The only module that
 * includes curl.h.  For now it owns libcurl's global state and checks,
 * at start-up, what the outbox will rely on: asynchronous DNS, so that
 * name resolution never blocks the event loop.
 */
#ifndef HOTLINE_HTTP_CLIENT_H
#define HOTLINE_HTTP_CLIENT_H

#include <stddef.h>

/* Once, before any other thread exists.  0, or -1 with a reason. */
int http_client_global_init(char *err, size_t errlen);
void http_client_global_cleanup(void);

#endif
