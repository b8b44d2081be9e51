/*
 * The outbox's loopback sink for `make bench`: a bare libevent HTTP
 * server that takes every POST as the generic json provider's receiver
 * would (daemon/provider_json.c: 200 {"id": "..."}), counts it, and does
 * nothing else, so that the daemon, not the sink, is what limits the
 * sends.  It checks no signature (an HMAC of a short body costs
 * microseconds; the Python fake aggregator, which checks, is the slower
 * sink this one replaces in the bench).
 *
 * GET /stats answers {"requests": N, "first": T, "last": T}: the POSTs
 * taken and the CLOCK_MONOTONIC seconds (Python's time.monotonic) of the
 * first and the last, so the bench times a send run by the sink's clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

struct sink {
	unsigned long long requests;
	double first, last;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
reply(struct evhttp_request *req, int status, const char *body)
{
	struct evbuffer *buf = evbuffer_new();

	if (buf == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add(buf, body, strlen(body));
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_send_reply(req, status, status == 200 ? "OK" : "Bad", buf);
	evbuffer_free(buf);
}

static void
request_cb(struct evhttp_request *req, void *arg)
{
	struct sink *s = arg;
	char body[96];

	if (evhttp_request_get_command(req) == EVHTTP_REQ_GET) {
		snprintf(body, sizeof(body), "{\"requests\":%llu,\"first\":%.6f,"
		    "\"last\":%.6f}", s->requests, s->first, s->last);
		reply(req, 200, body);
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		reply(req, 405, "{\"error\":{\"code\":\"method\"}}");
		return;
	}
	s->last = now();
	if (s->requests++ == 0)
		s->first = s->last;
	snprintf(body, sizeof(body), "{\"id\":\"sink-%llu\"}", s->requests);
	reply(req, 200, body);
}

int
main(int argc, char **argv)
{
	struct sink s = { 0, 0, 0 };
	struct event_base *base;
	struct evhttp *http;
	char *end;
	long port;

	if (argc != 2 || (port = strtol(argv[1], &end, 10)) <= 0 ||
	    port > 65535 || *end != '\0') {
		fprintf(stderr, "usage: sink PORT\n");
		return 2;
	}
	if ((base = event_base_new()) == NULL ||
	    (http = evhttp_new(base)) == NULL ||
	    evhttp_bind_socket(http, "127.0.0.1", (unsigned short)port) != 0) {
		fprintf(stderr, "sink: cannot listen on %ld\n", port);
		return 1;
	}
	evhttp_set_gencb(http, request_cb, &s);
	event_base_dispatch(base);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}
