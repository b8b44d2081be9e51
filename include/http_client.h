/*
 * http_client: outbound HTTP through libcurl's multi interface, driven by
 * the libevent loop (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION mapped to
 * events, curl_multi_socket_action on readiness).  The only module that
 * includes curl.h.
 *
 * No call blocks the loop: name resolution is asynchronous (checked at
 * start-up), there is no thread per request, and connections are kept
 * and reused per host by the one multi handle.  Every request starts at
 * once: the client queues nothing and caps nothing, so whoever sends
 * limits their own concurrency (and knows a started request has left).
 * Redirects are never followed; only http and https are spoken (the
 * config allows plain http for loopback addresses only).
 */
#ifndef HOTLINE_HTTP_CLIENT_H
#define HOTLINE_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct http_client;

/* Once, before any other thread exists.  0, or -1 with a reason. */
int http_client_global_init(char *err, size_t errlen);
void http_client_global_cleanup(void);

/* A client on base.  NULL with a reason.  The caller owns it. */
struct http_client *http_client_new(struct event_base *base, char *err,
    size_t errlen);
/* Abort what is in flight (each callback runs once, with
 * HTTP_CLIENT_CANCELLED) and free.  NULL is a no-op. */
void http_client_free(struct http_client *client);

/* One request; every pointer is borrowed for the call only (the client
 * copies what it keeps). */
struct http_client_request {
	const char *url;
	const char *method;             /* "POST", "GET" */
	const char *const *headers;     /* "Name: value" lines */
	size_t nheaders;
	const char *body;               /* may be NULL for GET */
	size_t body_len;
	const char *userpwd;            /* "user:password" for HTTP Basic,
	                                   or NULL */
	long connect_timeout_ms;
	long timeout_ms;                /* the whole exchange */
	/* A new connection, not kept afterwards.  libcurl quietly resends
	 * a request whose reused connection dies before an answer; where a
	 * resend could reach a phone twice, that must not happen. */
	bool fresh_connection;
};

enum http_client_result {
	HTTP_CLIENT_RESPONSE,     /* an HTTP status arrived (any status) */
	HTTP_CLIENT_NOT_SENT,     /* failed before the request left: DNS,
	                             refused, TLS handshake; safe to retry */
	HTTP_CLIENT_AMBIGUOUS,    /* failed after the request may have been
	                             sent: timeout, reset, truncated answer */
	HTTP_CLIENT_CANCELLED,    /* http_client_free while in flight */
};

/* What came back; everything borrowed until the callback returns. */
struct http_client_response {
	enum http_client_result result;
	long status;              /* HTTP status, 0 unless RESPONSE */
	const char *body;         /* NUL-terminated; "" when none */
	size_t body_len;          /* at most HTTP_CLIENT_BODY_MAX (the rest
	                             is dropped) */
	long retry_after;         /* Retry-After in seconds (delta or
	                             HTTP-date), -1 when absent */
	const char *error;        /* curl's words when not RESPONSE */
};

#define HTTP_CLIENT_BODY_MAX (64 * 1024)

typedef void (*http_client_cb)(const struct http_client_response *resp,
    void *arg);

/*
 * Start a request; cb runs exactly once, later, from the loop (never from
 * inside this call).  0, or -1 with a reason (then cb never runs).
 */
int http_client_send(struct http_client *client,
    const struct http_client_request *req, http_client_cb cb, void *arg,
    char *err, size_t errlen);

/* Requests started and not yet answered. */
size_t http_client_in_flight(const struct http_client *client);

#endif
