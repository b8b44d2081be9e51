/*
 * The baseline for `make bench`: a bare libevent HTTP server that answers
 * every request with a fixed USSD page and does nothing else.  hotlined's
 * figures are printed as a ratio of this one's, on the same machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

static void
reply_cb(struct evhttp_request *req, void *arg)
{
	static const char page[] = "CON Chon ngon ngu / Choose language\n"
	    "1. Tieng Viet\n2. English";
	struct evbuffer *buf = evbuffer_new();

	(void)arg;
	if (buf == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add(buf, page, sizeof(page) - 1);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain");
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct evhttp *http;
	char *end;
	long port;

	if (argc != 2 || (port = strtol(argv[1], &end, 10)) <= 0 ||
	    port > 65535 || *end != '\0') {
		fprintf(stderr, "usage: bare PORT\n");
		return 2;
	}
	if ((base = event_base_new()) == NULL ||
	    (http = evhttp_new(base)) == NULL ||
	    evhttp_bind_socket(http, "127.0.0.1", (unsigned short)port) != 0) {
		fprintf(stderr, "bare: cannot listen on %ld\n", port);
		return 1;
	}
	evhttp_set_gencb(http, reply_cb, NULL);
	event_base_dispatch(base);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}
