#include "http.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

/* Adopting evhttp's connections (see bev_new_cb) leans on how 2.1 wires
 * them; another series must be checked first. */
#if LIBEVENT_VERSION_NUMBER < 0x02010000 || \
    LIBEVENT_VERSION_NUMBER >= 0x02020000
#error "http.c adopts evhttp connections the libevent 2.1 way: check it"
#endif

#include <jansson.h>

#include "log.h"
#include "metrics.h"

#define MAX_ROUTES 64
#define MAX_PARAMS 4
#define MAX_SEGMENTS 8
#define MAX_HEADERS_SIZE (16 * 1024)
/* evhttp refuses bodies beyond this with its own (HTML) 413; below it,
 * and above limits.max_body, the router answers a JSON 413. */
#define TRANSPORT_BODY_FACTOR 4
/* Out of descriptors: stop accepting this long, then try again. */
#define ACCEPT_PAUSE_MS 250
/* A failure repeated by every client is logged once, then counted, and
 * the count logged once per this many seconds. */
#define LOG_INTERVAL_SECONDS 10

struct addr_range {
	int family;               /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix;
};

struct http_conn;
TAILQ_HEAD(http_request_list, http_request);

static void adopt_cb(evutil_socket_t, short, void *);

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
	struct evconnlistener *listener;  /* evhttp's, through bound */
	struct event *resume_ev;  /* accepting again after EMFILE */
	/* Connections evhttp accepted since the last adopt pass (their
	 * bufferevents), and the event that runs it. */
	struct bufferevent **pending;
	size_t npending, pending_cap;
	struct event *adopt_ev;
	struct http_limits limits;
	struct addr_range trusted[HTTP_MAX_TRUSTED_PROXIES];
	size_t ntrusted;
	struct route routes[MAX_ROUTES];
	size_t nroutes;
	/* Requests received whose reply has not been written out yet: a
	 * reply handed to evhttp is still only in a buffer, and freeing the
	 * server then would lose it.  A connection that closes takes its
	 * own out of the count. */
	size_t inflight;
	/* Open connections, indexed by descriptor (descriptors are small
	 * and dense). */
	struct http_conn **conns;
	size_t conns_len;
	size_t nconns;
	struct log_throttle accept_failed, refused_total, refused_peer,
	    deadline_hit;
	unsigned long long next_id;
	unsigned short port;
	bool stopped;
};

/* One accepted connection, from accept until evhttp closes it. */
struct http_conn {
	struct http_server *server;
	struct evhttp_connection *evcon;
	struct event *deadline;   /* whole next request must arrive by */
	struct http_request_list reqs;    /* dispatched, unanswered */
	size_t inflight;          /* counted in server->inflight */
	evutil_socket_t fd;
	bool trusted;             /* the peer is a trusted proxy */
	struct addr_range addr;   /* the peer; family 0 when unknown */
	char peer[INET6_ADDRSTRLEN];
};

struct http_param {
	const char *name;	/* from the pattern, "{name}" without braces */
	size_t namelen;
	char value[128];
};

struct http_request {
	struct http_server *server;
	/* NULL once evhttp freed it with its connection. */
	struct evhttp_request *ev;
	/* NULL once the connection closed: the reply goes nowhere. */
	struct http_conn *conn;
	TAILQ_ENTRY(http_request) entry;
	/* The route's pattern (a literal, outliving the server: a reply
	 * may come after the server is freed). */
	const char *pattern;
	struct http_param params[MAX_PARAMS];
	size_t nparams;
	char *body;
	size_t body_len;
	char peer[INET6_ADDRSTRLEN];     /* the TCP peer */
	char client[INET6_ADDRSTRLEN];   /* through trusted proxies */
	char id[20];
	enum evhttp_cmd_type cmd;
	struct timespec started;
};

static void
throttle_log(struct log_throttle *t, enum log_level level, const char *event,
    const char *k1, const char *v1, const char *k2, const char *v2)
{
	unsigned long summary;
	char n[24];

	if (!log_throttle_hit(t, LOG_INTERVAL_SECONDS, &summary))
		return;
	if (summary > 0) {
		char secs[16];

		snprintf(n, sizeof(n), "%lu", summary);
		snprintf(secs, sizeof(secs), "%d", LOG_INTERVAL_SECONDS);
		log_event(level, event, "count", n, "interval_seconds", secs,
		    NULL);
	}
	log_event(level, event, k1, v1, k2, v2, NULL);
}

/* "ADDR" or "ADDR/PREFIX", IPv4 or IPv6; an IPv4-mapped IPv6 address
 * (how a dual-stack socket shows an IPv4 peer) is taken as IPv4. */
static bool
range_parse(const char *s, struct addr_range *r)
{
	char buf[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max, prefix = 0;

	memset(r, 0, sizeof(*r));
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, r->addr) == 1) {
		r->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, r->addr) == 1) {
		r->family = AF_INET6;
		max = 128;
	} else
		return false;
	r->prefix = max;
	if (slash != NULL) {
		s = slash + 1;
		if (*s == '\0' || strlen(s) > 3)
			return false;
		for (; *s; s++) {
			if (*s < '0' || *s > '9')
				return false;
			prefix = prefix * 10 + (unsigned)(*s - '0');
		}
		if (prefix > max)
			return false;
		r->prefix = prefix;
	}
	/* A mapped range covering only mapped addresses is the IPv4 range
	 * it maps, as peers are compared. */
	if (r->family == AF_INET6 && r->prefix >= 96 &&
	    IN6_IS_ADDR_V4MAPPED((struct in6_addr *)r->addr)) {
		memmove(r->addr, r->addr + 12, 4);
		memset(r->addr + 4, 0, 12);
		r->family = AF_INET;
		r->prefix -= 96;
	}
	return true;
}

static bool
range_contains(const struct addr_range *r, const struct addr_range *a)
{
	unsigned full = r->prefix / 8, rem = r->prefix % 8;
	unsigned char mask;

	if (r->family != a->family || memcmp(r->addr, a->addr, full) != 0)
		return false;
	if (rem == 0)
		return true;
	mask = (unsigned char)(0xffu << (8 - rem));
	return (r->addr[full] & mask) == (a->addr[full] & mask);
}

bool
http_address_valid(const char *s)
{
	struct addr_range r;

	return range_parse(s, &r);
}

static bool
addr_trusted(const struct http_server *srv, const struct addr_range *a)
{
	for (size_t i = 0; i < srv->ntrusted; i++)
		if (range_contains(&srv->trusted[i], a))
			return true;
	return false;
}

/* Text form of a parsed address; IPv4 for mapped ones. */
static void
range_format(const struct addr_range *a, char *out, size_t len)
{
	if (inet_ntop(a->family, a->addr, out, (socklen_t)len) == NULL)
		snprintf(out, len, "-");
}

/*
 * evhttp accepts connections itself (libevent 2.1 has no public way to
 * hand it one), and makes each one's bufferevent here.  The connection
 * is adopted (counted, limited, given a deadline) right after, once the
 * listener's callback has returned: see adopt_cb.
 */
static struct bufferevent *
bev_new_cb(struct event_base *base, void *arg)
{
	struct http_server *srv = arg;
	struct bufferevent *bev;

	if (srv->npending == srv->pending_cap) {
		size_t cap = srv->pending_cap ? srv->pending_cap * 2 : 16;
		struct bufferevent **p = realloc(srv->pending,
		    cap * sizeof(*p));

		/* NULL: evhttp makes its own, which goes unadopted and
		 * is refused at its first request. */
		if (p == NULL)
			return NULL;
		srv->pending = p;
		srv->pending_cap = cap;
	}
	if ((bev = bufferevent_socket_new(base, -1, 0)) == NULL)
		return NULL;
	/* Held until adopted: should evhttp free the connection first
	 * (it failed to set it up), the bufferevent is still ours to look
	 * at, its callbacks cleared. */
	bufferevent_incref(bev);
	srv->pending[srv->npending++] = bev;
	event_active(srv->adopt_ev, EV_TIMEOUT, 0);
	return bev;
}

struct http_server *
http_server_new(struct event_base *base, const struct http_limits *limits)
{
	struct http_server *srv;

	if (limits->ntrusted_proxies > HTTP_MAX_TRUSTED_PROXIES)
		return NULL;
	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return NULL;
	srv->base = base;
	srv->limits = *limits;
	srv->limits.trusted_proxies = NULL;
	if (srv->limits.max_connections == 0)
		srv->limits.max_connections = SIZE_MAX;
	if (srv->limits.max_connections_per_peer == 0)
		srv->limits.max_connections_per_peer = SIZE_MAX;
	for (size_t i = 0; i < limits->ntrusted_proxies; i++)
		if (!range_parse(limits->trusted_proxies[i],
		    &srv->trusted[srv->ntrusted++])) {
			free(srv);
			return NULL;
		}
	if ((srv->evhttp = evhttp_new(base)) == NULL ||
	    (srv->adopt_ev = event_new(base, -1, 0, adopt_cb, srv)) ==
	    NULL) {
		if (srv->evhttp != NULL)
			evhttp_free(srv->evhttp);
		free(srv);
		return NULL;
	}
	evhttp_set_max_body_size(srv->evhttp,
	    (ev_ssize_t)(limits->max_body * TRANSPORT_BODY_FACTOR));
	evhttp_set_max_headers_size(srv->evhttp, MAX_HEADERS_SIZE);
	evhttp_set_timeout(srv->evhttp, limits->timeout_seconds);
	evhttp_set_bevcb(srv->evhttp, bev_new_cb, srv);
	/* Let every method reach the router so that 405 is ours, in JSON. */
	evhttp_set_allowed_methods(srv->evhttp, EVHTTP_REQ_GET |
	    EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	return srv;
}

/* The connection's record goes; its unanswered requests stay with their
 * handlers, whose replies then go nowhere. */
static void
conn_forget(struct http_conn *c)
{
	struct http_server *srv = c->server;
	struct http_request *req;

	srv->inflight -= c->inflight;
	while ((req = TAILQ_FIRST(&c->reqs)) != NULL) {
		TAILQ_REMOVE(&c->reqs, req, entry);
		req->conn = NULL;
		/* Still on the connection: evhttp frees it with it.  Taken
		 * off (the client went away while it was being handled):
		 * evhttp left it to us. */
		if (req->ev != NULL &&
		    evhttp_request_get_connection(req->ev) == c->evcon)
			req->ev = NULL;
	}
	if ((size_t)c->fd < srv->conns_len && srv->conns[c->fd] == c)
		srv->conns[c->fd] = NULL;
	srv->nconns--;
	event_free(c->deadline);
	free(c);
}

/* evhttp is closing the connection, for whatever reason. */
static void
conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	conn_forget(arg);
}

/* The whole request did not arrive in time. */
static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;

	(void)fd;
	(void)what;
	throttle_log(&c->server->deadline_hit, LOG_INFO,
	    "http.request_deadline", "peer", c->peer, NULL, NULL);
	/* Frees c through conn_closed_cb. */
	evhttp_connection_free(c->evcon);
}

/* false (logged) when the timer could not be set: the connection would
 * have no deadline. */
static bool
deadline_arm(struct http_conn *c)
{
	struct timeval tv = { c->server->limits.deadline_seconds, 0 };

	if (tv.tv_sec > 0 && evtimer_add(c->deadline, &tv) < 0) {
		log_event(LOG_ERROR, "http.deadline_failed", "peer", c->peer,
		    NULL);
		return false;
	}
	return true;
}

static size_t
peer_connections(const struct http_server *srv, const struct addr_range *a)
{
	/* An IPv6 host is given a /64 of its own: counting each address
	 * apart would give it 2^64 allowances. */
	size_t same = a->family == AF_INET6 ? 8 : 4, n = 0;

	for (size_t i = 0; i < srv->conns_len; i++) {
		const struct http_conn *c = srv->conns[i];

		if (c != NULL && c->addr.family == a->family &&
		    memcmp(c->addr.addr, a->addr, same) == 0)
			n++;
	}
	return n;
}

static int
conns_reserve(struct http_server *srv, evutil_socket_t fd)
{
	size_t want = (size_t)fd + 1, len = srv->conns_len;
	struct http_conn **p;

	if (want <= len)
		return 0;
	while (len < want)
		len = len ? len * 2 : 64;
	if ((p = realloc(srv->conns, len * sizeof(*p))) == NULL)
		return -1;
	memset(p + srv->conns_len, 0, (len - srv->conns_len) * sizeof(*p));
	srv->conns = p;
	srv->conns_len = len;
	return 0;
}

/* The peer's address, IPv4 for a mapped IPv6 one. */
static bool
peer_of(evutil_socket_t fd, struct addr_range *a)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	memset(a, 0, sizeof(*a));
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return false;
	if (ss.ss_family == AF_INET) {
		a->family = AF_INET;
		memcpy(a->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		a->family = AF_INET6;
		memcpy(a->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a->addr)) {
			memmove(a->addr, a->addr + 12, 4);
			memset(a->addr + 4, 0, 12);
			a->family = AF_INET;
		}
	} else
		return false;
	a->prefix = a->family == AF_INET ? 32 : 128;
	return true;
}

/* One connection evhttp just accepted: within the limits it is counted
 * and given its deadline; beyond them it is closed at once. */
static void
adopt(struct http_server *srv, struct bufferevent *bev)
{
	struct evhttp_connection *evcon;
	struct addr_range a;
	struct http_conn *c = NULL;
	char peer[INET6_ADDRSTRLEN] = "-";
	void *cbarg = NULL;
	evutil_socket_t fd;
	bool known, trusted;

	/* evhttp's connection is its bufferevent's callback argument. */
	bufferevent_getcb(bev, NULL, NULL, NULL, &cbarg);
	if ((evcon = cbarg) == NULL ||
	    evhttp_connection_get_bufferevent(evcon) != bev)
		return;
	fd = bufferevent_getfd(bev);
	known = fd >= 0 && peer_of(fd, &a);
	if (known)
		range_format(&a, peer, sizeof(peer));
	trusted = known && addr_trusted(srv, &a);

	if (fd < 0) {
		evhttp_connection_free(evcon);
		return;
	}
	if (srv->nconns >= srv->limits.max_connections) {
		throttle_log(&srv->refused_total, LOG_WARN,
		    "http.connection_refused", "reason", "max_connections",
		    "peer", peer);
		evhttp_connection_free(evcon);
		return;
	}
	if (!trusted && known && peer_connections(srv, &a) >=
	    srv->limits.max_connections_per_peer) {
		throttle_log(&srv->refused_peer, LOG_WARN,
		    "http.connection_refused", "reason",
		    "max_connections_per_peer", "peer", peer);
		evhttp_connection_free(evcon);
		return;
	}
	if (conns_reserve(srv, fd) < 0 ||
	    (c = calloc(1, sizeof(*c))) == NULL ||
	    (c->deadline = evtimer_new(srv->base, deadline_cb, c)) == NULL) {
		free(c);
		evhttp_connection_free(evcon);
		return;
	}
	/* A record left behind means evhttp closed a connection without
	 * saying so, freeing its requests too: they are not looked at,
	 * only cut loose.  Its descriptor is now this one's. */
	if (srv->conns[fd] != NULL) {
		struct http_request *req;

		log_event(LOG_ERROR, "http.stale_connection", "peer",
		    srv->conns[fd]->peer, NULL);
		TAILQ_FOREACH(req, &srv->conns[fd]->reqs, entry)
			req->ev = NULL;
		conn_forget(srv->conns[fd]);
	}
	c->server = srv;
	c->evcon = evcon;
	c->fd = fd;
	c->trusted = trusted;
	if (known)
		c->addr = a;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	TAILQ_INIT(&c->reqs);
	srv->conns[fd] = c;
	srv->nconns++;
	evhttp_connection_set_closecb(evcon, conn_closed_cb, c);
	/* No deadline, no connection: frees c through conn_closed_cb. */
	if (!deadline_arm(c))
		evhttp_connection_free(evcon);
}

/* Runs after the listener's callback, before any of the new
 * connections can have been read from (they are only now registered
 * with the loop). */
static void
adopt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *srv = arg;
	size_t n = srv->npending;

	(void)fd;
	(void)what;
	srv->npending = 0;
	for (size_t i = 0; i < n; i++) {
		adopt(srv, srv->pending[i]);
		bufferevent_decref(srv->pending[i]);
	}
}

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *srv = arg;

	(void)fd;
	(void)what;
	if (srv->listener != NULL && !srv->stopped &&
	    evconnlistener_enable(srv->listener) < 0) {
		struct timeval pause = { 0, ACCEPT_PAUSE_MS * 1000 };

		/* Try again later; with no timer either, nothing can. */
		if (evtimer_add(srv->resume_ev, &pause) < 0)
			log_event(LOG_ERROR, "http.listener_stopped", NULL);
	}
}

/*
 * The listener's callback argument is evhttp's (evhttp_bind_listener
 * sets it), so its error callback finds the server here.  A process has
 * one server, a test a few.
 */
#define MAX_SERVERS 8
static struct http_server *servers[MAX_SERVERS];

static struct http_server *
server_of(const struct evhttp *evhttp)
{
	for (size_t i = 0; i < MAX_SERVERS; i++)
		if (servers[i] != NULL && servers[i]->evhttp == evhttp)
			return servers[i];
	return NULL;
}

/* Replace srv by as in the table; false when srv is not there. */
static bool
server_register(struct http_server *srv, struct http_server *as)
{
	for (size_t i = 0; i < MAX_SERVERS; i++)
		if (servers[i] == srv) {
			servers[i] = as;
			return true;
		}
	return false;
}

/* accept() failed for a reason other than a client giving up: most
 * often no descriptor is left.  Retrying at once would spin (the
 * listening socket stays readable), so accepting pauses. */
static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct http_server *srv = server_of(arg);
	struct timeval pause = { 0, ACCEPT_PAUSE_MS * 1000 };
	int err = EVUTIL_SOCKET_ERROR();

	if (srv == NULL)
		return;
	throttle_log(&srv->accept_failed, LOG_ERROR, "http.accept_failed",
	    "error", evutil_socket_error_to_string(err), NULL, NULL);
	/* Paused only if it can be resumed: a listener left disabled
	 * would take the hotline down for good. */
	if (evtimer_add(srv->resume_ev, &pause) == 0)
		evconnlistener_disable(lev);
}

void
http_server_free(struct http_server *srv)
{
	if (srv == NULL)
		return;
	(void)server_register(srv, NULL);
	if (srv->resume_ev != NULL)
		event_free(srv->resume_ev);
	/* Closes the listener and every connection, and so forgets each
	 * record. */
	evhttp_free(srv->evhttp);
	if (srv->adopt_ev != NULL)
		event_free(srv->adopt_ev);
	for (size_t i = 0; i < srv->npending; i++)
		bufferevent_decref(srv->pending[i]);
	free(srv->pending);
	free(srv->conns);
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
	srv->stopped = true;
	if (srv->bound != NULL) {
		evhttp_del_accept_socket(srv->evhttp, srv->bound);
		srv->bound = NULL;
		srv->listener = NULL;
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
method_of(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
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
	return method_of(req->cmd);
}

const char *
http_request_method_name(const struct http_request *req)
{
	switch (req->cmd) {
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
	const struct evhttp_uri *uri = req->ev ?
	    evhttp_request_get_evhttp_uri(req->ev) : NULL;
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
	const struct evhttp_uri *uri = req->ev ?
	    evhttp_request_get_evhttp_uri(req->ev) : NULL;

	return uri ? evhttp_uri_get_query(uri) : NULL;
}

const char *
http_request_header(const struct http_request *req, const char *name)
{
	if (req->ev == NULL)
		return NULL;
	return evhttp_find_header(evhttp_request_get_input_headers(req->ev),
	    name);
}

bool
http_request_forwarded(const struct http_request *req)
{
	static const char *const names[] = { "Via", "Forwarded",
	    "X-Real-IP", "X-Client-IP", "True-Client-IP", "CF-Connecting-IP",
	    NULL };
	const struct evkeyval *kv;

	if (req->ev == NULL)
		return false;
	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req->ev), next) {
		if (strncasecmp(kv->key, "X-Forwarded-", 12) == 0)
			return true;
		for (size_t i = 0; names[i] != NULL; i++)
			if (strcasecmp(kv->key, names[i]) == 0)
				return true;
	}
	return false;
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
	return req->client;
}

const char *
http_request_tcp_peer(const struct http_request *req)
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
	if (req->ev != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req->ev),
		    name, value);
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
	metrics_http_request(req->pattern, status);
	log_event(status >= 500 ? LOG_WARN : LOG_INFO, "http.request",
	    "req", req->id, "method", http_request_method_name(req),
	    "route", req->pattern ? req->pattern : "-",
	    "status", st, "ms", ms, NULL);
}

/* evhttp calls this once the reply is written out (not when it is
 * queued), which is when shutdown may stop waiting for it; the
 * connection then waits for its next request, against the deadline.
 * A connection that closes first is never called back here: it takes
 * its requests out of the count as it goes (conn_forget). */
static void
reply_written_cb(struct evhttp_request *ev, void *arg)
{
	struct http_conn *c = arg;

	(void)ev;
	c->inflight--;
	c->server->inflight--;
	deadline_arm(c);
}

void
http_reply(struct http_request *req, int status, const char *content_type,
    const char *body, size_t len)
{
	struct evkeyvalq *h;
	struct evbuffer *buf;
	char clen[24];

	if (req->conn == NULL) {
		/* The client went away: there is no one to answer, and the
		 * request is out of the in-flight count already.  evhttp
		 * left its request to us, unless it freed it with the
		 * connection. */
		if (req->ev != NULL)
			evhttp_request_free(req->ev);
		access_log(req, status);
		free(req->body);
		free(req);
		return;
	}
	TAILQ_REMOVE(&req->conn->reqs, req, entry);
	h = evhttp_request_get_output_headers(req->ev);
	evhttp_add_header(h, "Content-Type", content_type);
	/* Replies may name callers: nothing caches them. */
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Request-Id", req->id);
	evhttp_request_set_on_complete_cb(req->ev, reply_written_cb,
	    req->conn);
	if (req->cmd == EVHTTP_REQ_HEAD) {
		/* evhttp would send the body after a HEAD reply, where the
		 * client reads it as the start of the next response. */
		snprintf(clen, sizeof(clen), "%zu", len);
		evhttp_add_header(h, "Content-Length", clen);
		evhttp_send_reply(req->ev, status, NULL, NULL);
	} else if ((buf = evhttp_request_get_output_buffer(req->ev)) ==
	    NULL || evbuffer_add(buf, body, len) != 0) {
		evhttp_send_error(req->ev, 500, NULL);
		status = 500;
	} else
		evhttp_send_reply(req->ev, status, NULL, NULL);
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

/* Why the request's length is ambiguous, or NULL.  A proxy in front
 * and evhttp could read such a request differently (evhttp believes the
 * first of two Content-Lengths, and reads what follows as the next
 * request): it is refused, whatever evhttp made of it. */
static const char *
framing_problem(struct evhttp_request *ev)
{
	/* RFC 9110 token characters: a name with anything else (a space
	 * before the colon, say) is one evhttp would file under a name no
	 * check here matches, and so frame the request differently. */
	static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	const struct evkeyval *kv;
	const char *te = NULL, *cl = NULL;
	size_t ncl = 0, nte = 0;
	bool body_read;

	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(ev), next) {
		if (kv->key[0] == '\0' ||
		    strspn(kv->key, tchar) != strlen(kv->key))
			return "a header name may hold only token "
			    "characters (no spaces before the colon)";
		if (strcasecmp(kv->key, "Content-Length") == 0) {
			size_t n = strlen(kv->value);

			ncl++;
			cl = kv->value;
			if (n == 0 || n > 18 ||
			    strspn(kv->value, "0123456789") != n)
				return "Content-Length must be one unsigned "
				    "decimal number";
		} else if (strcasecmp(kv->key, "Transfer-Encoding") == 0) {
			nte++;
			te = kv->value;
		}
	}
	if (ncl > 1)
		return "send one Content-Length header, not several";
	if (ncl > 0 && nte > 0)
		return "send Content-Length or Transfer-Encoding, not both";
	if (nte > 1 || (te != NULL && strcasecmp(te, "chunked") != 0))
		return "the only Transfer-Encoding accepted is one "
		    "\"chunked\"";
	/* evhttp reads a body only for these methods; after any other, the
	 * bytes of a body would be read as the next request. */
	switch (evhttp_request_get_command(ev)) {
	case EVHTTP_REQ_POST:
	case EVHTTP_REQ_PUT:
	case EVHTTP_REQ_PATCH:
		body_read = true;
		break;
	default:
		body_read = false;
		break;
	}
	if (!body_read && (te != NULL ||
	    (cl != NULL && strspn(cl, "0") != strlen(cl))))
		return "only POST, PUT and PATCH requests may carry a body";
	return NULL;
}

/* One X-Forwarded-For entry ("addr", "addr:port", "[v6]:port"), trimmed;
 * false when it is not an address. */
static bool
xff_entry(const char *s, size_t n, struct addr_range *a)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *colon;

	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(buf) || memchr(s, '/', n) != NULL)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');

		if (close == NULL)
			return false;
		*close = '\0';
		return range_parse(buf + 1, a);
	}
	/* IPv4 with a port: one colon. */
	if ((colon = strchr(buf, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL)
		buf[colon - buf] = '\0';
	return range_parse(buf, a);
}

/* The client behind trusted proxies: walking X-Forwarded-For from the
 * right (the entry our own proxy added), the first address that is not
 * a trusted proxy.  Entries left of it are whatever the client wrote and
 * are not believed.  An entry that is not an address stops the walk at
 * the last one that was. */
static void
client_resolve(struct http_request *req)
{
	const struct evkeyvalq *h;
	const struct evkeyval *kv;
	struct addr_range a;

	snprintf(req->client, sizeof(req->client), "%s", req->peer);
	if (!req->conn->trusted)
		return;
	h = evhttp_request_get_input_headers(req->ev);
	TAILQ_FOREACH_REVERSE(kv, h, evkeyvalq, next) {
		const char *v = kv->value;
		size_t end = strlen(v), start;

		if (strcasecmp(kv->key, "X-Forwarded-For") != 0)
			continue;
		for (;;) {
			for (start = end; start > 0 && v[start - 1] != ',';)
				start--;
			if (!xff_entry(v + start, end - start, &a))
				return;
			range_format(&a, req->client, sizeof(req->client));
			if (!addr_trusted(req->server, &a))
				return;
			if (start == 0)
				break;
			end = start - 1;
		}
	}
}

/* Our record of the connection a request came on, or NULL. */
static struct http_conn *
conn_of(struct http_server *srv, struct evhttp_request *ev)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(ev);
	struct bufferevent *bev;
	evutil_socket_t fd;

	if (evcon == NULL ||
	    (bev = evhttp_connection_get_bufferevent(evcon)) == NULL ||
	    (fd = bufferevent_getfd(bev)) < 0 ||
	    (size_t)fd >= srv->conns_len || srv->conns[fd] == NULL ||
	    srv->conns[fd]->evcon != evcon)
		return NULL;
	return srv->conns[fd];
}

static void
dispatch_cb(struct evhttp_request *ev, void *arg)
{
	struct http_server *srv = arg;
	struct http_request *req;
	struct http_conn *c;
	struct evbuffer *in;
	const char *path, *why;
	unsigned allowed = 0;
	bool path_known = false;

	if ((c = conn_of(srv, ev)) == NULL ||
	    (req = calloc(1, sizeof(*req))) == NULL) {
		evhttp_send_error(ev, 503, NULL);
		return;
	}
	/* The request is in: the deadline is for receiving it. */
	event_del(c->deadline);
	req->server = srv;
	req->ev = ev;
	req->conn = c;
	req->cmd = evhttp_request_get_command(ev);
	TAILQ_INSERT_TAIL(&c->reqs, req, entry);
	c->inflight++;
	srv->inflight++;
	clock_gettime(CLOCK_MONOTONIC, &req->started);
	snprintf(req->id, sizeof(req->id), "%llx", ++srv->next_id);
	snprintf(req->peer, sizeof(req->peer), "%s", c->peer);
	client_resolve(req);

	if ((why = framing_problem(ev)) != NULL) {
		/* Whatever follows on this connection may be a request
		 * smuggled in the body: it is not read. */
		http_add_header(req, "Connection", "close");
		http_reply_error(req, 400, "ambiguous_length", why);
		return;
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
		if (r->methods & method_of(req->cmd) ||
		    (method_of(req->cmd) == HTTP_HEAD &&
		    r->methods & HTTP_GET)) {
			req->pattern = r->pattern;
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
	struct addrinfo hints = { 0 }, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char service[8];
	int rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%u", port);
	if ((rc = getaddrinfo(host, service, &hints, &ai)) != 0) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s", host, port,
		    gai_strerror(rc));
		return -1;
	}
	/* Our own listener, for its error callback: without one,
	 * libevent logs every failed accept() and retries at once. */
	srv->listener = evconnlistener_new_bind(srv->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
	    -1, ai->ai_addr, (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (srv->listener == NULL) {
		snprintf(err, errlen, "cannot listen on %s:%u (address in use, "
		    "or not an address of this machine)", host, port);
		return -1;
	}
	if (!server_register(NULL, srv) ||
	    (srv->resume_ev = evtimer_new(srv->base, resume_cb, srv)) ==
	    NULL ||
	    (srv->bound = evhttp_bind_listener(srv->evhttp, srv->listener)) ==
	    NULL) {
		evconnlistener_free(srv->listener);
		srv->listener = NULL;
		snprintf(err, errlen, "cannot listen on %s:%u: out of memory",
		    host, port);
		return -1;
	}
	evconnlistener_set_error_cb(srv->listener, accept_error_cb);
	evhttp_set_gencb(srv->evhttp, dispatch_cb, srv);
	if (getsockname(evconnlistener_get_fd(srv->listener),
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
