/* http_client: curl's multi on the libevent loop, against an evhttp server
 * on the same base and raw sockets that misbehave (hang, hang up, refuse,
 * drop SYNs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http_client.h"

#define MAX_CONNS 64
#define DEADLINE_SECONDS 10

/* The last request the evhttp server saw. */
struct seen {
	int count;
	char method[16];
	char path[256];
	char body[256];
	size_t body_len;
	char auth[128];
	char custom[128];
	char content_type[128];
	bool expect;
	unsigned short peer_port;
};

/* What one callback delivered. */
struct result {
	int calls;
	enum http_client_result result;
	long status;
	char *body;
	size_t body_len;
	bool body_terminated;
	long retry_after;
	char error[256];
	size_t in_flight_in_cb;
};

enum raw_mode {
	RAW_HANG,	/* accept, never read or answer */
	RAW_CLOSE,	/* read the request, close without a word */
};

struct raw_conn {
	int fd;
	struct event *ev;
};

static struct {
	struct event_base *base;
	struct http_client *client;
	struct evhttp *http;
	unsigned short port;
	struct seen seen;

	int listen_fd[2];
	struct event *listen_ev[2];
	unsigned short raw_port[2];
	struct raw_conn conns[MAX_CONNS];
	int nconns;
	int accepted;
	int closed;

	int extra_fd[4];
	int nextra;

	bool in_send;
	bool cb_in_send;
	int done;
	bool expired;
} fx;

static void
record(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	const char *v, *m;
	char *addr = NULL;
	ev_uint16_t port = 0;
	size_t n;

	fx.seen.count++;
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		m = "GET";
		break;
	case EVHTTP_REQ_POST:
		m = "POST";
		break;
	case EVHTTP_REQ_PUT:
		m = "PUT";
		break;
	default:
		m = "OTHER";
		break;
	}
	snprintf(fx.seen.method, sizeof(fx.seen.method), "%s", m);
	snprintf(fx.seen.path, sizeof(fx.seen.path), "%s",
	    evhttp_request_get_uri(req));
	n = fx.seen.body_len = evbuffer_get_length(in);
	if (n >= sizeof(fx.seen.body))
		n = sizeof(fx.seen.body) - 1;
	evbuffer_copyout(in, fx.seen.body, n);
	fx.seen.body[n] = '\0';
	v = evhttp_find_header(h, "Authorization");
	snprintf(fx.seen.auth, sizeof(fx.seen.auth), "%s", v ? v : "");
	v = evhttp_find_header(h, "X-Custom");
	snprintf(fx.seen.custom, sizeof(fx.seen.custom), "%s", v ? v : "");
	v = evhttp_find_header(h, "Content-Type");
	snprintf(fx.seen.content_type, sizeof(fx.seen.content_type), "%s",
	    v ? v : "");
	fx.seen.expect = evhttp_find_header(h, "Expect") != NULL;
	evhttp_connection_get_peer(conn, &addr, &port);
	fx.seen.peer_port = port;
}

static void
http_date(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void
server_cb(struct evhttp_request *req, void *arg)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evbuffer_new();
	const char *uri = evhttp_request_get_uri(req);
	char date[64];

	(void)arg;
	record(req);
	if (strcmp(uri, "/echo") == 0 || strncmp(uri, "/echo?", 6) == 0) {
		evbuffer_add_printf(buf, "created");
		evhttp_send_reply(req, 201, "Created", buf);
	} else if (strcmp(uri, "/retry-delta") == 0) {
		evhttp_add_header(out, "Retry-After", "7");
		evhttp_send_reply(req, 429, "Too Many Requests", buf);
	} else if (strcmp(uri, "/retry-date") == 0) {
		http_date(time(NULL) + 120, date, sizeof(date));
		evhttp_add_header(out, "Retry-After", date);
		evhttp_send_reply(req, 503, "Service Unavailable", buf);
	} else if (strcmp(uri, "/retry-past") == 0) {
		http_date(time(NULL) - 3600, date, sizeof(date));
		evhttp_add_header(out, "Retry-After", date);
		evhttp_send_reply(req, 503, "Service Unavailable", buf);
	} else if (strcmp(uri, "/redirect") == 0) {
		evhttp_add_header(out, "Location", "/echo");
		evhttp_send_reply(req, 302, "Found", buf);
	} else if (strcmp(uri, "/big") == 0) {
		size_t i, n = HTTP_CLIENT_BODY_MAX + 100000;
		char *big = malloc(n);

		assert_non_null(big);
		for (i = 0; i < n; i++)
			big[i] = (char)('a' + i % 26);
		evbuffer_add(buf, big, n);
		free(big);
		evhttp_send_reply(req, 200, "OK", buf);
	} else if (strncmp(uri, "/n/", 3) == 0) {
		evbuffer_add_printf(buf, "n%s", uri + 3);
		evhttp_send_reply(req, 200, "OK", buf);
	} else {
		evbuffer_add_printf(buf, "ok");
		evhttp_send_reply(req, 200, "OK", buf);
	}
	evbuffer_free(buf);
}

static void
raw_read_close_cb(evutil_socket_t fd, short what, void *arg)
{
	struct raw_conn *c = arg;
	char buf[4096];
	ssize_t n;
	bool got = false;

	(void)what;
	/* Read all there is, so the close is a FIN rather than a reset. */
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		got = true;
	if (!got && n < 0 && errno == EAGAIN)
		return;
	event_free(c->ev);
	c->ev = NULL;
	close(c->fd);
	c->fd = -1;
	fx.closed++;
}

static void
raw_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	enum raw_mode mode = (enum raw_mode)(intptr_t)arg;
	struct raw_conn *c;
	int s;

	(void)what;
	if ((s = accept(fd, NULL, NULL)) < 0)
		return;
	assert_int_equal(evutil_make_socket_nonblocking(s), 0);
	assert_true(fx.nconns < MAX_CONNS);
	c = &fx.conns[fx.nconns++];
	c->fd = s;
	c->ev = NULL;
	fx.accepted++;
	if (mode == RAW_CLOSE) {
		c->ev = event_new(fx.base, s, EV_READ | EV_PERSIST,
		    raw_read_close_cb, c);
		assert_non_null(c->ev);
		assert_int_equal(event_add(c->ev, NULL), 0);
	}
}

/* A loopback socket bound to a free port; listening with backlog if
 * backlog >= 0. */
static int
loopback_socket(int backlog, unsigned short *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	if (backlog >= 0)
		assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static int
setup(void **state)
{
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char err[256];
	int i;

	(void)state;
	memset(&fx, 0, sizeof(fx));
	fx.base = event_base_new();
	assert_non_null(fx.base);
	fx.client = http_client_new(fx.base, err, sizeof(err));
	assert_non_null(fx.client);

	fx.http = evhttp_new(fx.base);
	assert_non_null(fx.http);
	evhttp_set_gencb(fx.http, server_cb, NULL);
	bound = evhttp_bind_socket_with_handle(fx.http, "127.0.0.1", 0);
	assert_non_null(bound);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bound),
	    (struct sockaddr *)&sin, &len), 0);
	fx.port = ntohs(sin.sin_port);

	for (i = 0; i < 2; i++) {
		fx.listen_fd[i] = loopback_socket(16, &fx.raw_port[i]);
		fx.listen_ev[i] = event_new(fx.base, fx.listen_fd[i],
		    EV_READ | EV_PERSIST, raw_accept_cb,
		    (void *)(intptr_t)(i == 0 ? RAW_HANG : RAW_CLOSE));
		assert_non_null(fx.listen_ev[i]);
		assert_int_equal(event_add(fx.listen_ev[i], NULL), 0);
	}
	return 0;
}

static int
teardown(void **state)
{
	int i;

	(void)state;
	http_client_free(fx.client);
	evhttp_free(fx.http);
	for (i = 0; i < fx.nconns; i++) {
		if (fx.conns[i].ev != NULL)
			event_free(fx.conns[i].ev);
		if (fx.conns[i].fd >= 0)
			close(fx.conns[i].fd);
	}
	for (i = 0; i < 2; i++) {
		event_free(fx.listen_ev[i]);
		close(fx.listen_fd[i]);
	}
	for (i = 0; i < fx.nextra; i++)
		close(fx.extra_fd[i]);
	event_base_free(fx.base);
	return 0;
}

static int
group_setup(void **state)
{
	char err[256];

	(void)state;
	/* The requests go to loopback; a proxy in the environment must not
	 * get in the way. */
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	return http_client_global_init(err, sizeof(err));
}

static int
group_teardown(void **state)
{
	(void)state;
	http_client_global_cleanup();
	return 0;
}

static void
record_cb(const struct http_client_response *resp, void *arg)
{
	struct result *r = arg;

	r->calls++;
	r->result = resp->result;
	r->status = resp->status;
	r->retry_after = resp->retry_after;
	r->body_len = resp->body_len;
	r->body_terminated = resp->body[resp->body_len] == '\0';
	free(r->body);
	r->body = malloc(resp->body_len + 1);
	assert_non_null(r->body);
	memcpy(r->body, resp->body, resp->body_len + 1);
	snprintf(r->error, sizeof(r->error), "%s",
	    resp->error ? resp->error : "(null)");
	r->in_flight_in_cb = http_client_in_flight(fx.client);
	if (fx.in_send)
		fx.cb_in_send = true;
	fx.done++;
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	fx.expired = true;
}

/* Run the loop until *counter reaches target; fail after a deadline. */
static void
run_until(const int *counter, int target)
{
	struct timeval tv = { DEADLINE_SECONDS, 0 };
	struct event *deadline;

	deadline = evtimer_new(fx.base, deadline_cb, NULL);
	assert_non_null(deadline);
	assert_int_equal(evtimer_add(deadline, &tv), 0);
	fx.expired = false;
	while (*counter < target && !fx.expired)
		assert_true(event_base_loop(fx.base, EVLOOP_ONCE) >= 0);
	event_free(deadline);
	assert_false(fx.expired);
}

static int
send_with(const struct http_client_request *req, struct result *res)
{
	char err[256];
	int rc;

	fx.in_send = true;
	rc = http_client_send(fx.client, req, record_cb, res, err,
	    sizeof(err));
	fx.in_send = false;
	if (rc != 0)
		print_message("http_client_send: %s\n", err);
	return rc;
}

static void
url(char *buf, size_t len, unsigned short port, const char *path)
{
	snprintf(buf, len, "http://127.0.0.1:%u%s", port, path);
}

static int
get(unsigned short port, const char *path, long timeout_ms,
    struct result *res)
{
	char u[256];
	struct http_client_request req = {
		.url = u,
		.method = "GET",
		.connect_timeout_ms = 2000,
		.timeout_ms = timeout_ms,
	};

	url(u, sizeof(u), port, path);
	return send_with(&req, res);
}

static void
post_reaches_server_with_body_headers_and_basic_auth(void **state)
{
	const char *headers[] = {
		"Content-Type: application/json",
		"X-Custom: hello",
	};
	const char body[] = "{\"to\":\"x\"}";
	char u[256];
	struct http_client_request req = {
		.url = u,
		.method = "POST",
		.headers = headers,
		.nheaders = 2,
		.body = body,
		.body_len = sizeof(body) - 1,
		.userpwd = "user:pw",
		.connect_timeout_ms = 2000,
		.timeout_ms = 5000,
	};
	struct result res = { 0 };

	(void)state;
	url(u, sizeof(u), fx.port, "/echo");
	assert_int_equal(send_with(&req, &res), 0);
	assert_int_equal(http_client_in_flight(fx.client), 1);
	assert_int_equal(res.calls, 0);
	run_until(&res.calls, 1);

	assert_int_equal(fx.seen.count, 1);
	assert_string_equal(fx.seen.method, "POST");
	assert_string_equal(fx.seen.path, "/echo");
	assert_string_equal(fx.seen.body, body);
	assert_string_equal(fx.seen.custom, "hello");
	assert_string_equal(fx.seen.content_type, "application/json");
	/* base64("user:pw") */
	assert_string_equal(fx.seen.auth, "Basic dXNlcjpwdw==");
	assert_false(fx.seen.expect);

	assert_int_equal(res.calls, 1);
	assert_int_equal(res.result, HTTP_CLIENT_RESPONSE);
	assert_int_equal(res.status, 201);
	assert_int_equal(res.body_len, 7);
	assert_string_equal(res.body, "created");
	assert_true(res.body_terminated);
	assert_int_equal(res.retry_after, -1);
	assert_int_equal(res.in_flight_in_cb, 0);
	assert_int_equal(http_client_in_flight(fx.client), 0);
	free(res.body);
}

static void
other_method_is_sent_as_is_with_its_body(void **state)
{
	char u[256];
	struct http_client_request req = {
		.url = u,
		.method = "PUT",
		.body = "a=1",
		.body_len = 3,
		.connect_timeout_ms = 2000,
		.timeout_ms = 5000,
	};
	struct result res = { 0 };

	(void)state;
	url(u, sizeof(u), fx.port, "/plain");
	assert_int_equal(send_with(&req, &res), 0);
	run_until(&res.calls, 1);
	assert_string_equal(fx.seen.method, "PUT");
	assert_string_equal(fx.seen.body, "a=1");
	assert_string_equal(fx.seen.auth, "");
	assert_int_equal(res.status, 200);
	free(res.body);
}

static void
large_post_waits_for_no_100_continue(void **state)
{
	/* curl asks for 100 Continue above 1 MiB unless told not to. */
	size_t n = 1536 * 1024;
	char u[256], *body;
	struct http_client_request req = {
		.url = u,
		.method = "POST",
		.connect_timeout_ms = 2000,
		.timeout_ms = 5000,
	};
	struct result res = { 0 };

	(void)state;
	body = malloc(n);
	assert_non_null(body);
	memset(body, 'b', n);
	req.body = body;
	req.body_len = n;
	url(u, sizeof(u), fx.port, "/echo");
	assert_int_equal(send_with(&req, &res), 0);
	/* The body was copied: the caller's buffer may go at once. */
	free(body);
	run_until(&res.calls, 1);
	assert_int_equal(res.status, 201);
	assert_int_equal(fx.seen.body_len, n);
	assert_false(fx.seen.expect);
	free(res.body);
}

static void
retry_after_in_seconds_is_returned(void **state)
{
	struct result res = { 0 };

	(void)state;
	assert_int_equal(get(fx.port, "/retry-delta", 5000, &res), 0);
	run_until(&res.calls, 1);
	assert_int_equal(res.result, HTTP_CLIENT_RESPONSE);
	assert_int_equal(res.status, 429);
	assert_int_equal(res.retry_after, 7);
	assert_int_equal(res.body_len, 0);
	assert_string_equal(res.body, "");
	free(res.body);
}

static void
retry_after_http_date_becomes_seconds_from_now(void **state)
{
	struct result res = { 0 };

	(void)state;
	assert_int_equal(get(fx.port, "/retry-date", 5000, &res), 0);
	run_until(&res.calls, 1);
	assert_int_equal(res.status, 503);
	/* The server said now + 120 s. */
	assert_in_range(res.retry_after, 110, 120);
	free(res.body);
}

static void
retry_after_date_in_the_past_is_zero(void **state)
{
	struct result res = { 0 };

	(void)state;
	assert_int_equal(get(fx.port, "/retry-past", 5000, &res), 0);
	run_until(&res.calls, 1);
	assert_int_equal(res.status, 503);
	assert_int_equal(res.retry_after, 0);
	free(res.body);
}

static void
no_retry_after_is_minus_one(void **state)
{
	struct result res = { 0 };

	(void)state;
	assert_int_equal(get(fx.port, "/plain", 5000, &res), 0);
	run_until(&res.calls, 1);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "ok");
	assert_int_equal(res.retry_after, -1);
	free(res.body);
}

static void
refused_connection_is_not_sent(void **state)
{
	struct result res = { 0 };
	unsigned short port;

	(void)state;
	/* Bound but not listening: the port stays ours, and refuses. */
	fx.extra_fd[fx.nextra++] = loopback_socket(-1, &port);
	assert_int_equal(get(port, "/x?secret=hunter2&to=15550001", 5000,
	    &res), 0);
	run_until(&res.calls, 1);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.result, HTTP_CLIENT_NOT_SENT);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.body_len, 0);
	assert_string_equal(res.body, "");
	assert_int_equal(res.retry_after, -1);
	assert_true(strlen(res.error) > 0);
	assert_null(strstr(res.error, "hunter2"));
	assert_null(strstr(res.error, "15550001"));
	free(res.body);
}

static void
connect_timeout_before_anything_is_sent_is_not_sent(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct result res = { 0 };
	unsigned short port;
	char u[256];
	struct http_client_request req = {
		.url = u,
		.method = "POST",
		.body = "x",
		.body_len = 1,
		.connect_timeout_ms = 300,
		.timeout_ms = 5000,
	};
	int lfd, filler;

	(void)state;
	/* A listener whose accept queue is full drops further SYNs, so the
	 * connect can only time out. */
	lfd = loopback_socket(0, &port);
	fx.extra_fd[fx.nextra++] = lfd;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(filler >= 0);
	fx.extra_fd[fx.nextra++] = filler;
	assert_int_equal(connect(filler, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);

	url(u, sizeof(u), port, "/never");
	assert_int_equal(send_with(&req, &res), 0);
	run_until(&res.calls, 1);
	assert_int_equal(res.result, HTTP_CLIENT_NOT_SENT);
	assert_int_equal(res.status, 0);
	assert_true(strlen(res.error) > 0);
	free(res.body);
}

static void
server_that_never_answers_is_ambiguous(void **state)
{
	struct result res = { 0 };
	struct timespec t0, t1;
	double elapsed;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(get(fx.raw_port[RAW_HANG], "/x", 300, &res), 0);
	run_until(&res.calls, 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	elapsed = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_int_equal(fx.accepted, 1);
	assert_int_equal(res.result, HTTP_CLIENT_AMBIGUOUS);
	assert_int_equal(res.status, 0);
	assert_true(strlen(res.error) > 0);
	assert_true(elapsed >= 0.25 && elapsed < 3.0);
	assert_int_equal(http_client_in_flight(fx.client), 0);
	free(res.body);
}

static void
server_that_hangs_up_after_the_request_is_ambiguous(void **state)
{
	char u[256];
	struct http_client_request req = {
		.url = u,
		.method = "POST",
		.body = "text=hi",
		.body_len = 7,
		.connect_timeout_ms = 2000,
		.timeout_ms = 5000,
	};
	struct result res = { 0 };

	(void)state;
	url(u, sizeof(u), fx.raw_port[RAW_CLOSE], "/x");
	assert_int_equal(send_with(&req, &res), 0);
	run_until(&res.calls, 1);
	assert_int_equal(fx.closed, 1);
	assert_int_equal(res.result, HTTP_CLIENT_AMBIGUOUS);
	assert_int_equal(res.status, 0);
	assert_true(strlen(res.error) > 0);
	assert_null(strstr(res.error, "text=hi"));
	free(res.body);
}

static void
redirect_is_not_followed(void **state)
{
	struct result res = { 0 };

	(void)state;
	assert_int_equal(get(fx.port, "/redirect", 5000, &res), 0);
	run_until(&res.calls, 1);
	assert_int_equal(res.result, HTTP_CLIENT_RESPONSE);
	assert_int_equal(res.status, 302);
	/* Give a followed redirect the chance to show up. */
	assert_int_equal(get(fx.port, "/plain", 5000, &res), 0);
	run_until(&res.calls, 2);
	assert_int_equal(fx.seen.count, 2);
	assert_string_equal(fx.seen.path, "/plain");
	free(res.body);
}

static void
large_body_is_truncated_to_the_limit(void **state)
{
	struct result res = { 0 };
	size_t i;

	(void)state;
	assert_int_equal(get(fx.port, "/big", 5000, &res), 0);
	run_until(&res.calls, 1);
	assert_int_equal(res.result, HTTP_CLIENT_RESPONSE);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.body_len, HTTP_CLIENT_BODY_MAX);
	assert_true(res.body_terminated);
	for (i = 0; i < res.body_len; i++)
		if (res.body[i] != (char)('a' + i % 26))
			fail_msg("body differs at byte %zu", i);
	free(res.body);
}

static void
concurrent_requests_each_complete_once(void **state)
{
	struct result res[20];
	char path[32], want[32];
	int i;

	(void)state;
	memset(res, 0, sizeof(res));
	for (i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "/n/%d", i);
		assert_int_equal(get(fx.port, path, 5000, &res[i]), 0);
	}
	assert_int_equal(http_client_in_flight(fx.client), 20);
	run_until(&fx.done, 20);
	assert_int_equal(fx.done, 20);
	assert_int_equal(fx.seen.count, 20);
	for (i = 0; i < 20; i++) {
		snprintf(want, sizeof(want), "n%d", i);
		assert_int_equal(res[i].calls, 1);
		assert_int_equal(res[i].status, 200);
		assert_string_equal(res[i].body, want);
		free(res[i].body);
	}
	assert_int_equal(http_client_in_flight(fx.client), 0);
	assert_false(fx.cb_in_send);
}

static void
sequential_requests_reuse_the_connection(void **state)
{
	struct result res = { 0 };
	unsigned short first;

	(void)state;
	assert_int_equal(get(fx.port, "/plain", 5000, &res), 0);
	run_until(&res.calls, 1);
	first = fx.seen.peer_port;
	assert_true(first != 0);
	assert_int_equal(get(fx.port, "/plain", 5000, &res), 0);
	run_until(&res.calls, 2);
	assert_int_equal(fx.seen.count, 2);
	assert_int_equal(fx.seen.peer_port, first);
	free(res.body);
}

static void
free_with_a_request_in_flight_cancels_it_once(void **state)
{
	struct result hanging = { 0 }, unstarted = { 0 };

	(void)state;
	assert_int_equal(get(fx.raw_port[RAW_HANG], "/x", 10000, &hanging),
	    0);
	run_until(&fx.accepted, 1);
	assert_int_equal(get(fx.port, "/plain", 10000, &unstarted), 0);
	assert_int_equal(http_client_in_flight(fx.client), 2);
	assert_int_equal(hanging.calls, 0);

	http_client_free(fx.client);
	fx.client = NULL;
	assert_int_equal(hanging.calls, 1);
	assert_int_equal(hanging.result, HTTP_CLIENT_CANCELLED);
	assert_int_equal(hanging.status, 0);
	assert_int_equal(unstarted.calls, 1);
	assert_int_equal(unstarted.result, HTTP_CLIENT_CANCELLED);
	/* Nothing is left to fire later. */
	event_base_loop(fx.base, EVLOOP_NONBLOCK);
	assert_int_equal(hanging.calls, 1);
	assert_int_equal(unstarted.calls, 1);
	free(hanging.body);
	free(unstarted.body);
}

static void
callback_never_runs_inside_send(void **state)
{
	struct result bad = { 0 }, good = { 0 };
	struct http_client_request req = {
		.url = "gopher://127.0.0.1/x",
		.method = "GET",
		.connect_timeout_ms = 1000,
		.timeout_ms = 1000,
	};

	(void)state;
	/* Fails at once inside curl, yet must be answered from the loop. */
	assert_int_equal(send_with(&req, &bad), 0);
	assert_int_equal(bad.calls, 0);
	assert_int_equal(get(fx.port, "/plain", 5000, &good), 0);
	assert_int_equal(good.calls, 0);
	run_until(&fx.done, 2);
	assert_false(fx.cb_in_send);
	assert_int_equal(bad.calls, 1);
	assert_int_equal(bad.result, HTTP_CLIENT_NOT_SENT);
	assert_int_equal(good.calls, 1);
	assert_int_equal(good.status, 200);
	free(bad.body);
	free(good.body);
}

static void
invalid_request_is_refused_without_a_callback(void **state)
{
	const char *headers[] = { "X-Custom: a\r\nX-Injected: b" };
	char u[256], err[256];
	struct http_client_request req = {
		.url = u,
		.method = "POST",
		.headers = headers,
		.nheaders = 1,
		.body = "x",
		.body_len = 1,
		.connect_timeout_ms = 1000,
		.timeout_ms = 1000,
	};
	struct result res = { 0 };

	(void)state;
	url(u, sizeof(u), fx.port, "/echo");
	err[0] = '\0';
	assert_int_equal(http_client_send(fx.client, &req, record_cb, &res,
	    err, sizeof(err)), -1);
	assert_true(strlen(err) > 0);
	req.nheaders = 0;
	req.method = "GET\r\nX: y";
	assert_int_equal(http_client_send(fx.client, &req, record_cb, &res,
	    err, sizeof(err)), -1);
	assert_int_equal(http_client_in_flight(fx.client), 0);
	event_base_loop(fx.base, EVLOOP_NONBLOCK);
	assert_int_equal(res.calls, 0);
	assert_int_equal(fx.seen.count, 0);
}

/* Each completion starts the next request from inside its callback. */
struct chain {
	struct result res;
	int remaining;
	int send_failures;
};

static void
chain_cb(const struct http_client_response *resp, void *arg)
{
	struct chain *c = arg;
	char u[256], err[256];
	struct http_client_request req = {
		.url = u,
		.method = "GET",
		.connect_timeout_ms = 2000,
		.timeout_ms = 5000,
	};

	record_cb(resp, &c->res);
	if (--c->remaining == 0)
		return;
	url(u, sizeof(u), fx.port, "/plain");
	if (http_client_send(fx.client, &req, chain_cb, c, err,
	    sizeof(err)) != 0)
		c->send_failures++;
}

static void
callback_may_send_the_next_request(void **state)
{
	struct chain c = { .remaining = 3 };
	char u[256], err[256];
	struct http_client_request req = {
		.url = u,
		.method = "GET",
		.connect_timeout_ms = 2000,
		.timeout_ms = 5000,
	};

	(void)state;
	url(u, sizeof(u), fx.port, "/plain");
	assert_int_equal(http_client_send(fx.client, &req, chain_cb, &c, err,
	    sizeof(err)), 0);
	run_until(&c.res.calls, 3);
	assert_int_equal(c.send_failures, 0);
	assert_int_equal(fx.seen.count, 3);
	assert_int_equal(c.res.status, 200);
	assert_int_equal(http_client_in_flight(fx.client), 0);
	free(c.res.body);
}

/* A completion that shuts the client down with another request pending. */
static void
freeing_cb(const struct http_client_response *resp, void *arg)
{
	record_cb(resp, arg);
	http_client_free(fx.client);
	fx.client = NULL;
}

static void
callback_may_free_the_client(void **state)
{
	struct result hanging = { 0 }, freer = { 0 };
	char u[256], err[256];
	struct http_client_request req = {
		.url = u,
		.method = "GET",
		.connect_timeout_ms = 2000,
		.timeout_ms = 5000,
	};

	(void)state;
	assert_int_equal(get(fx.raw_port[RAW_HANG], "/x", 10000, &hanging),
	    0);
	run_until(&fx.accepted, 1);
	url(u, sizeof(u), fx.port, "/plain");
	assert_int_equal(http_client_send(fx.client, &req, freeing_cb,
	    &freer, err, sizeof(err)), 0);
	run_until(&freer.calls, 1);
	assert_null(fx.client);
	assert_int_equal(freer.result, HTTP_CLIENT_RESPONSE);
	assert_int_equal(freer.status, 200);
	assert_int_equal(hanging.calls, 1);
	assert_int_equal(hanging.result, HTTP_CLIENT_CANCELLED);
	free(hanging.body);
	free(freer.body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(post_reaches_server_with_body_headers_and_basic_auth),
		T(other_method_is_sent_as_is_with_its_body),
		T(large_post_waits_for_no_100_continue),
		T(retry_after_in_seconds_is_returned),
		T(retry_after_http_date_becomes_seconds_from_now),
		T(retry_after_date_in_the_past_is_zero),
		T(no_retry_after_is_minus_one),
		T(refused_connection_is_not_sent),
		T(connect_timeout_before_anything_is_sent_is_not_sent),
		T(server_that_never_answers_is_ambiguous),
		T(server_that_hangs_up_after_the_request_is_ambiguous),
		T(redirect_is_not_followed),
		T(large_body_is_truncated_to_the_limit),
		T(concurrent_requests_each_complete_once),
		T(sequential_requests_reuse_the_connection),
		T(free_with_a_request_in_flight_cancels_it_once),
		T(callback_never_runs_inside_send),
		T(invalid_request_is_refused_without_a_callback),
		T(callback_may_send_the_next_request),
		T(callback_may_free_the_client),
#undef T
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
