/* http: requests whose client went away, and addresses of proxies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "http.h"
#include "log.h"

struct fixture {
	struct event_base *base;
	struct http_server *http;
	struct http_request *held;    /* a request answered later */
	FILE *devnull;
};

/* A handler that answers later, as group commit does. */
static void
later_cb(struct http_request *req, void *arg)
{
	struct fixture *fx = arg;

	fx->held = req;
}

static int
setup(void **state)
{
	struct http_limits limits = {
		.max_body = 1024,
		.timeout_seconds = 5,
		.deadline_seconds = 5,
		.max_connections = 16,
		.max_connections_per_peer = 16,
	};
	struct fixture *fx = calloc(1, sizeof(*fx));
	char err[256];

	assert_non_null(fx);
	assert_non_null(fx->devnull = fopen("/dev/null", "w"));
	log_init(fx->devnull, LOG_DEBUG);
	assert_non_null(fx->base = event_base_new());
	assert_non_null(fx->http = http_server_new(fx->base, &limits));
	assert_int_equal(http_server_route(fx->http, "/later", HTTP_GET,
	    later_cb, fx), 0);
	assert_int_equal(http_server_listen(fx->http, "127.0.0.1", 0, err,
	    sizeof(err)), 0);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	http_server_free(fx->http);
	event_base_free(fx->base);
	log_init(stderr, LOG_INFO);
	fclose(fx->devnull);
	free(fx);
	return 0;
}

static int
client_connect(struct fixture *fx)
{
	struct sockaddr_in sin = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(http_server_port(fx->http));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	return fd;
}

/* Run the loop for about `ms` milliseconds. */
static void
spin(struct fixture *fx, int ms)
{
	struct timeval tv = { 0, ms * 1000 };

	event_base_loopexit(fx->base, &tv);
	event_base_dispatch(fx->base);
}

static void
reply_to_a_client_gone_is_safe_and_not_waited_for(void **state)
{
	struct fixture *fx = *state;
	static const char get[] = "GET /later HTTP/1.1\r\nHost: x\r\n\r\n";
	struct linger lg = { 1, 0 };
	int fd = client_connect(fx);

	assert_int_equal(write(fd, get, sizeof(get) - 1),
	    (ssize_t)(sizeof(get) - 1));
	for (int i = 0; i < 50 && fx->held == NULL; i++)
		spin(fx, 10);
	assert_non_null(fx->held);
	assert_int_equal(http_server_inflight(fx->http), 1);

	/* The client resets while its request is being handled (evhttp
	 * does not read then, so it learns of it when the reply fails). */
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg,
	    sizeof(lg)), 0);
	close(fd);
	spin(fx, 20);
	http_reply(fx->held, 200, "text/plain", "late", 4);
	fx->held = NULL;
	for (int i = 0; i < 50 && http_server_inflight(fx->http) > 0; i++)
		spin(fx, 10);
	/* Nothing is left to wait for at shutdown. */
	assert_int_equal(http_server_inflight(fx->http), 0);
}

static void
held_request_is_freed_with_the_server(void **state)
{
	struct fixture *fx = *state;
	static const char get[] = "GET /later HTTP/1.1\r\nHost: x\r\n\r\n";
	int fd = client_connect(fx);

	assert_int_equal(write(fd, get, sizeof(get) - 1),
	    (ssize_t)(sizeof(get) - 1));
	for (int i = 0; i < 50 && fx->held == NULL; i++)
		spin(fx, 10);
	assert_non_null(fx->held);
	/* The server goes first (shutdown), the handler answers after. */
	http_server_free(fx->http);
	fx->http = NULL;
	http_reply(fx->held, 200, "text/plain", "late", 4);
	fx->held = NULL;
	close(fd);
}

static void
addresses_and_cidrs(void **state)
{
	(void)state;
	assert_true(http_address_valid("127.0.0.1"));
	assert_true(http_address_valid("10.0.0.0/8"));
	assert_true(http_address_valid("0.0.0.0/0"));
	assert_true(http_address_valid("::1"));
	assert_true(http_address_valid("fd00::/8"));
	assert_true(http_address_valid("2001:db8::/128"));
	assert_false(http_address_valid(""));
	assert_false(http_address_valid("nginx"));
	assert_false(http_address_valid("10.0.0.0/33"));
	assert_false(http_address_valid("fd00::/129"));
	assert_false(http_address_valid("10.0.0.0/"));
	assert_false(http_address_valid("10.0.0.0/-1"));
	assert_false(http_address_valid("10.0.0.0/8/8"));
	assert_false(http_address_valid("/8"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    reply_to_a_client_gone_is_safe_and_not_waited_for, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    held_request_is_freed_with_the_server, setup, teardown),
		cmocka_unit_test(addresses_and_cidrs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
