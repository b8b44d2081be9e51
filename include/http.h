/*
 * http: the HTTP server.  The only module that touches evhttp.
 *
 * A routing table of patterns ("/v1/ussd/{channel}") with allowed
 * methods; 404 and 405 (with Allow) answered here as JSON errors; a body
 * limit answered 413 before any handler runs; one access-log line per
 * request (method, route, status, time; never the query string, which may
 * carry a token).
 *
 * Hostile clients: connections are accepted here, not by evhttp, so that
 * they can be counted (in all and per peer) and each given a deadline for
 * its whole request; a request whose length is ambiguous (two
 * Content-Lengths, a signed or non-numeric one, Content-Length with
 * Transfer-Encoding) is answered 400 and its connection closed; running
 * out of file descriptors pauses accepting instead of spinning.
 *
 * A handler receives a struct http_request and must answer it exactly
 * once with http_reply*, now or later from the loop (deferred replies for
 * group commit).  The request is freed by the reply.
 */
#ifndef HOTLINE_HTTP_H
#define HOTLINE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct http_server;
struct http_request;

enum http_method {
	HTTP_GET = 1 << 0,
	HTTP_POST = 1 << 1,
	HTTP_HEAD = 1 << 2,
	HTTP_OTHER = 1 << 3,
};

typedef void (*http_handler_cb)(struct http_request *req, void *arg);

struct http_limits {
	size_t max_body;          /* larger bodies: 413 JSON error */
	int timeout_seconds;      /* between two bytes; idle keep-alive */
	/* A request's headers and body must all arrive within this many
	 * seconds of the connection waiting for it: a client that trickles
	 * a byte at a time does not extend it.  0: none. */
	int deadline_seconds;
	/* Connections open at once, in all and from one TCP peer (a trusted
	 * proxy counts only towards the total).  Over either, a new
	 * connection is closed as soon as it is accepted.  0: no limit. */
	size_t max_connections;
	size_t max_connections_per_peer;
	/* Addresses / CIDRs whose X-Forwarded-For is believed (copied). */
	char *const *trusted_proxies;
	size_t ntrusted_proxies;
};

/* The most entries http.trusted_proxies may list. */
#define HTTP_MAX_TRUSTED_PROXIES 32

/* Is s an IPv4 or IPv6 address, or a CIDR of either ("10.0.0.0/8")? */
bool http_address_valid(const char *s);

/* Caller owns the server (http_server_free).  NULL on failure (also
 * when a trusted proxy is not http_address_valid). */
struct http_server *http_server_new(struct event_base *base,
    const struct http_limits *limits);
/* Frees the server; open connections are closed, unanswered requests
 * dropped.  NULL is a no-op. */
void http_server_free(struct http_server *server);

/* pattern segments are literal or "{name}"; pattern is borrowed and must
 * outlive the server (use literals). */
int http_server_route(struct http_server *server, const char *pattern,
    unsigned methods, http_handler_cb cb, void *arg);

/* Bind and listen.  port 0 picks a free one (see http_server_port). */
int http_server_listen(struct http_server *server, const char *host,
    unsigned short port, char *err, size_t errlen);
unsigned short http_server_port(const struct http_server *server);

/* Stop accepting connections; in-flight requests go on. */
void http_server_stop_accepting(struct http_server *server);

/* Requests received and not yet answered (or answered and not yet
 * written out), on connections still open.  A client that went away
 * after its reply was handed over leaves nothing to wait for; one that
 * goes while its request is still being handled is noticed only when
 * the reply is written (evhttp reads nothing from the connection
 * meanwhile), so a deferred reply keeps it counted until then. */
size_t http_server_inflight(const struct http_server *server);

/* Request accessors; strings are borrowed from the request. */
enum http_method http_request_method(const struct http_request *req);
const char *http_request_method_name(const struct http_request *req);
const char *http_request_path(const struct http_request *req);
const char *http_request_param(const struct http_request *req,
    const char *name);
const char *http_request_query(const struct http_request *req);
const char *http_request_header(const struct http_request *req,
    const char *name);
/* The body, NUL-terminated (it may also contain NULs: use *len). */
const char *http_request_body(const struct http_request *req, size_t *len);
/* The client's address: the TCP peer, or, when the peer is a trusted
 * proxy, the rightmost X-Forwarded-For entry that is not one. */
const char *http_request_peer(const struct http_request *req);
/* The address of the other end of the TCP connection itself. */
const char *http_request_tcp_peer(const struct http_request *req);
/* Did the request come through a proxy?  True when it carries any header
 * a proxy adds: Via, Forwarded, X-Forwarded-*, X-Real-IP, X-Client-IP,
 * True-Client-IP, CF-Connecting-IP. */
bool http_request_forwarded(const struct http_request *req);
const char *http_request_id(const struct http_request *req);

/* Answer and free the request.  body is copied. */
void http_reply(struct http_request *req, int status,
    const char *content_type, const char *body, size_t len);
/* {"error": {"code": code, "message": message}} */
void http_reply_error(struct http_request *req, int status,
    const char *code, const char *message);
/* Add a response header before replying. */
void http_add_header(struct http_request *req, const char *name,
    const char *value);

#endif
