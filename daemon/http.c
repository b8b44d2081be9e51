#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <jansson.h>

#include "log.h"

#define MAX_ROUTES 64
#define MAX_PARAMS 4
#define MAX_SEGMENTS 8
#define MAX_HEADERS_SIZE (16 * 1024)
/* evhttp refuses bodies beyond this with its own (HTML) 413; below it,
 * and above limits.max_body, the router answers a JSON 413. */
#define TRANSPORT_BODY_FACTOR 4

struct route {
	const char *pattern;
	unsigned methods;
	http_handler_cb cb;
	void *arg;
};

struct http_server {
	struct event_base *base;
	struct evhttp *evhttp;
	struct evhttp_bound_socket *bound;
	struct http_limits limits;
	struct route routes[MAX_ROUTES];
	size_t nroutes;
	/* Requests received whose reply has not been written out yet: a
	 * reply handed to evhttp is still only in a buffer, and freeing the
	 * server then would lose it. */
	size_t inflight;
	unsigned long long next_id;
	unsigned short port;
};

struct http_param {
	const char *name;	/* from the pattern, "{name}" without braces */
	size_t namelen;
	char value[128];
};

struct http_request {
	struct http_server *server;
	struct evhttp_request *ev;
	const struct route *route;
	struct http_param params[MAX_PARAMS];
	size_t nparams;
	char *body;
	size_t body_len;
	char peer[64];
	char id[20];
	struct timespec started;
};

struct http_server *
http_server_new(struct event_base *base, const struct http_limits *limits)
{
	struct http_server *srv;

	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return NULL;
	srv->base = base;
	srv->limits = *limits;
	if ((srv->evhttp = evhttp_new(base)) == NULL) {
		free(srv);
		return NULL;
	}
	evhttp_set_max_body_size(srv->evhttp,
	    (ev_ssize_t)(limits->max_body * TRANSPORT_BODY_FACTOR));
	evhttp_set_max_headers_size(srv->evhttp, MAX_HEADERS_SIZE);
	evhttp_set_timeout(srv->evhttp, limits->timeout_seconds);
	/* Let every method reach the router so that 405 is ours, in JSON. */
	evhttp_set_allowed_methods(srv->evhttp, EVHTTP_REQ_GET |
	    EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	return srv;
}

void
http_server_free(struct http_server *srv)
{
	if (srv == NULL)
		return;
	evhttp_free(srv->evhttp);
	free(srv);
}

int
http_server_route(struct http_server *srv, const char *pattern,
    unsigned methods, http_handler_cb cb, void *arg)
{
	if (srv->nroutes == MAX_ROUTES)
		return -1;
	srv->routes[srv->nroutes++] = (struct route){ pattern, methods, cb,
	    arg };
	return 0;
}

unsigned short
http_server_port(const struct http_server *srv)
{
	return srv->port;
}

size_t
http_server_inflight(const struct http_server *srv)
{
	return srv->inflight;
}

void
http_server_stop_accepting(struct http_server *srv)
{
	if (srv->bound != NULL) {
		evhttp_del_accept_socket(srv->evhttp, srv->bound);
		srv->bound = NULL;
	}
}

/* Match path against pattern, filling params; true on a match. */
static bool
route_match(const char *pattern, const char *path, struct http_request *req)
{
	const char *p = pattern, *s = path;

	req->nparams = 0;
	while (*p && *s) {
		if (*p != '/' || *s != '/')
			return false;
		p++;
		s++;
		const char *pe = strchr(p, '/'), *se = strchr(s, '/');
		size_t plen = pe ? (size_t)(pe - p) : strlen(p);
		size_t slen = se ? (size_t)(se - s) : strlen(s);

		if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
			struct http_param *prm;

			if (slen == 0 || req->nparams == MAX_PARAMS ||
			    slen >= sizeof(prm->value) ||
			    memchr(s, '%', slen) != NULL)
				return false;
			prm = &req->params[req->nparams++];
			prm->name = p + 1;
			prm->namelen = plen - 2;
			memcpy(prm->value, s, slen);
			prm->value[slen] = '\0';
		} else if (plen != slen || memcmp(p, s, plen) != 0)
			return false;
		p += plen;
		s += slen;
	}
	return *p == '\0' && *s == '\0';
}

static enum http_method
method_of(struct evhttp_request *ev)
{
	switch (evhttp_request_get_command(ev)) {
	case EVHTTP_REQ_GET:
		return HTTP_GET;
	case EVHTTP_REQ_POST:
		return HTTP_POST;
	case EVHTTP_REQ_HEAD:
		return HTTP_HEAD;
	default:
		return HTTP_OTHER;
	}
}

enum http_method
http_request_method(const struct http_request *req)
{
	return method_of(req->ev);
}

const char *
http_request_method_name(const struct http_request *req)
{
	switch (evhttp_request_get_command(req->ev)) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	default:
		return "OTHER";
	}
}

const char *
http_request_path(const struct http_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req->ev);
	const char *p = uri ? evhttp_uri_get_path(uri) : NULL;

	return p && *p ? p : "/";
}

const char *
http_request_param(const struct http_request *req, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < req->nparams; i++)
		if (req->params[i].namelen == n &&
		    memcmp(req->params[i].name, name, n) == 0)
			return req->params[i].value;
	return NULL;
}

const char *
http_request_query(const struct http_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req->ev);

	return uri ? evhttp_uri_get_query(uri) : NULL;
}

const char *
http_request_header(const struct http_request *req, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(req->ev),
	    name);
}

const char *
http_request_body(const struct http_request *req, size_t *len)
{
	*len = req->body_len;
	return req->body;
}

const char *
http_request_peer(const struct http_request *req)
{
	return req->peer;
}

const char *
http_request_id(const struct http_request *req)
{
	return req->id;
}

void
http_add_header(struct http_request *req, const char *name,
    const char *value)
{
	evhttp_add_header(evhttp_request_get_output_headers(req->ev), name,
	    value);
}

static void
access_log(struct http_request *req, int status)
{
	struct timespec now;
	char st[8], ms[32];
	long long us;

	clock_gettime(CLOCK_MONOTONIC, &now);
	us = (now.tv_sec - req->started.tv_sec) * 1000000LL +
	    (now.tv_nsec - req->started.tv_nsec) / 1000;
	snprintf(st, sizeof(st), "%d", status);
	snprintf(ms, sizeof(ms), "%lld.%03lld", us / 1000, us % 1000);
	log_event(status >= 500 ? LOG_WARN : LOG_INFO, "http.request",
	    "req", req->id, "method", http_request_method_name(req),
	    "route", req->route ? req->route->pattern : "-",
	    "status", st, "ms", ms, NULL);
}

/* evhttp calls this once the reply is written out (not when it is
 * queued), which is when shutdown may stop waiting for it. */
static void
reply_written_cb(struct evhttp_request *ev, void *arg)
{
	struct http_server *srv = arg;

	(void)ev;
	srv->inflight--;
}

void
http_reply(struct http_request *req, int status, const char *content_type,
    const char *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req->ev);
	struct evbuffer *buf = evbuffer_new();
	char clen[24];

	evhttp_add_header(h, "Content-Type", content_type);
	/* Replies may name callers: nothing caches them. */
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Request-Id", req->id);
	evhttp_request_set_on_complete_cb(req->ev, reply_written_cb,
	    req->server);
	if (buf == NULL || evbuffer_add(buf, body, len) != 0) {
		evhttp_send_error(req->ev, 500, NULL);
		status = 500;
	} else if (method_of(req->ev) == HTTP_HEAD) {
		/* evhttp would send the body after a HEAD reply, where the
		 * client reads it as the start of the next response. */
		snprintf(clen, sizeof(clen), "%zu", len);
		evhttp_add_header(h, "Content-Length", clen);
		evhttp_send_reply(req->ev, status, NULL, NULL);
	} else
		evhttp_send_reply(req->ev, status, NULL, buf);
	if (buf)
		evbuffer_free(buf);
	access_log(req, status);
	free(req->body);
	free(req);
}

void
http_reply_error(struct http_request *req, int status, const char *code,
    const char *message)
{
	json_t *doc = json_pack("{s:{s:s,s:s}}", "error", "code", code,
	    "message", message);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

	if (text == NULL) {
		static const char oom[] = "{\"error\":{\"code\":\"internal\","
		    "\"message\":\"out of memory\"}}";

		http_reply(req, 500, "application/json", oom, sizeof(oom) - 1);
	} else
		http_reply(req, status, "application/json", text,
		    strlen(text));
	free(text);
	json_decref(doc);
}

static void
reply_405(struct http_request *req, unsigned methods)
{
	char allow[32] = "";

	snprintf(allow, sizeof(allow), "%s%s%s",
	    methods & HTTP_GET ? "GET, HEAD" : "",
	    (methods & HTTP_GET) && (methods & HTTP_POST) ? ", " : "",
	    methods & HTTP_POST ? "POST" : "");
	http_add_header(req, "Allow", allow);
	char msg[96];

	snprintf(msg, sizeof(msg), "method %s not allowed here; use %s",
	    http_request_method_name(req), allow);
	http_reply_error(req, 405, "method_not_allowed", msg);
}

static void
dispatch_cb(struct evhttp_request *ev, void *arg)
{
	struct http_server *srv = arg;
	struct http_request *req;
	struct evhttp_connection *conn;
	struct evbuffer *in;
	const char *path;
	char *addr = NULL;
	ev_uint16_t port = 0;
	unsigned allowed = 0;
	bool path_known = false;

	if ((req = calloc(1, sizeof(*req))) == NULL) {
		evhttp_send_error(ev, 503, NULL);
		return;
	}
	req->server = srv;
	req->ev = ev;
	clock_gettime(CLOCK_MONOTONIC, &req->started);
	snprintf(req->id, sizeof(req->id), "%llx", ++srv->next_id);
	srv->inflight++;
	if ((conn = evhttp_request_get_connection(ev)) != NULL) {
		evhttp_connection_get_peer(conn, &addr, &port);
		snprintf(req->peer, sizeof(req->peer), "%s", addr ? addr : "");
	}

	in = evhttp_request_get_input_buffer(ev);
	req->body_len = evbuffer_get_length(in);
	if (req->body_len > srv->limits.max_body) {
		char msg[96];

		snprintf(msg, sizeof(msg), "request body is larger than %zu "
		    "bytes", srv->limits.max_body);
		http_reply_error(req, 413, "body_too_large", msg);
		return;
	}
	if ((req->body = malloc(req->body_len + 1)) == NULL ||
	    evbuffer_copyout(in, req->body, req->body_len) !=
	    (ev_ssize_t)req->body_len) {
		http_reply_error(req, 503, "unavailable", "out of memory; "
		    "retry later");
		return;
	}
	req->body[req->body_len] = '\0';

	path = http_request_path(req);
	for (size_t i = 0; i < srv->nroutes; i++) {
		const struct route *r = &srv->routes[i];

		if (!route_match(r->pattern, path, req))
			continue;
		path_known = true;
		allowed |= r->methods;
		if (r->methods & method_of(ev) ||
		    (method_of(ev) == HTTP_HEAD && r->methods & HTTP_GET)) {
			req->route = r;
			r->cb(req, r->arg);
			return;
		}
	}
	req->nparams = 0;
	if (path_known)
		reply_405(req, allowed);
	else
		http_reply_error(req, 404, "not_found", "no such route; see "
		    "the README for the routes this daemon serves");
}

int
http_server_listen(struct http_server *srv, const char *host,
    unsigned short port, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	srv->bound = evhttp_bind_socket_with_handle(srv->evhttp, host, port);
	if (srv->bound == NULL) {
		snprintf(err, errlen, "cannot listen on %s:%u (address in use, "
		    "or not an address of this machine)", host, port);
		return -1;
	}
	evhttp_set_gencb(srv->evhttp, dispatch_cb, srv);
	if (getsockname(evhttp_bound_socket_get_fd(srv->bound),
	    (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			srv->port =
			    ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			srv->port =
			    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return 0;
}
