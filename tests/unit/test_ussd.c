/* ussd: a hop through the real handler, HTTP server and store, in one
 * process, with the log captured: the caller appears by pseudonym only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "app.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "privacy.h"
#include "store.h"
#include "ussd.h"
#include "writer.h"

#define NUMBER "+84912345678"

struct fixture {
	char dir[PATH_MAX];
	struct app app;
	char *logbuf;
	size_t loglen;
	FILE *logmem;
	int status;
	char body[2048];
};

static int
setup(void **state)
{
	struct http_limits limits = { 64 * 1024, 5 };
	struct fixture *fx = calloc(1, sizeof(*fx));
	char path[PATH_MAX + 32], cwd[PATH_MAX], err[4096];
	struct store_keys keys;
	FILE *f;

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/hotline-test-ussd-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(path, sizeof(path), "%s/key", fx->dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("unit-test-pseudonym-key-0123456789", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/data.key", fx->dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/hotlined.json", fx->dir);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "{\"listen\": \"127.0.0.1:0\", \"database\": \"%s/db\", "
	    "\"menu\": \"%s/config/menu.json\", \"log\": {\"level\": "
	    "\"debug\"}, \"development\": true, "
	    "\"channels\": [{\"name\": \"console\", "
	    "\"provider\": \"console\"}], \"privacy\": {\"pseudonym_key\": "
	    "{\"file\": \"key\"}, \"data_key\": {\"file\": \"data.key\"}}}",
	    fx->dir, cwd);
	fclose(f);

	fx->app.config = config_load(path, NULL, err, sizeof(err));
	if (fx->app.config == NULL)
		print_error("%s\n", err);
	assert_non_null(fx->app.config);
	keys.path = fx->app.config->key_store;
	keys.master = fx->app.config->data_key;
	assert_non_null(fx->app.store = store_open(fx->app.config->database,
	    STORE_OPEN_CREATE, &keys, err, sizeof(err)));
	assert_non_null(fx->app.base = event_base_new());
	assert_non_null(fx->app.writer = writer_new(fx->app.base,
	    fx->app.config->database, &keys, 64, err, sizeof(err)));
	assert_non_null(fx->app.http = http_server_new(fx->app.base,
	    &limits));
	assert_int_equal(http_server_route(fx->app.http, "/v1/ussd/{channel}",
	    HTTP_POST, ussd_hop_cb, &fx->app), 0);
	assert_int_equal(http_server_listen(fx->app.http, "127.0.0.1", 0, err,
	    sizeof(err)), 0);
	assert_non_null(fx->logmem = open_memstream(&fx->logbuf,
	    &fx->loglen));
	log_init(fx->logmem, LOG_DEBUG);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[PATH_MAX + 16];

	log_init(stderr, LOG_INFO);
	fclose(fx->logmem);
	free(fx->logbuf);
	writer_free(fx->app.writer);
	http_server_free(fx->app.http);
	event_base_free(fx->app.base);
	store_close(fx->app.store);
	config_free(fx->app.config);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static void
response_cb(struct evhttp_request *req, void *arg)
{
	struct fixture *fx = arg;
	struct evbuffer *in;
	size_t n;

	fx->status = req ? evhttp_request_get_response_code(req) : -1;
	fx->body[0] = '\0';
	if (req != NULL) {
		in = evhttp_request_get_input_buffer(req);
		n = evbuffer_get_length(in);
		if (n >= sizeof(fx->body))
			n = sizeof(fx->body) - 1;
		evbuffer_copyout(in, fx->body, n);
		fx->body[n] = '\0';
	}
	event_base_loopexit(fx->app.base, NULL);
}

/* POST one hop over a real socket and run the loop until the answer. */
static void
hop(struct fixture *fx, const char *text)
{
	struct evhttp_connection *conn;
	struct evhttp_request *req;
	char body[256];

	conn = evhttp_connection_base_new(fx->app.base, NULL, "127.0.0.1",
	    http_server_port(fx->app.http));
	assert_non_null(conn);
	assert_non_null(req = evhttp_request_new(response_cb, fx));
	snprintf(body, sizeof(body), "sessionId=unit-1&serviceCode=%%2A1567"
	    "%%23&phoneNumber=%%2B84912345678&networkCode=45204&text=%s",
	    text);
	evbuffer_add(evhttp_request_get_output_buffer(req), body,
	    strlen(body));
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/x-www-form-urlencoded");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
	    "127.0.0.1");
	assert_int_equal(evhttp_make_request(conn, req, EVHTTP_REQ_POST,
	    "/v1/ussd/console"), 0);
	assert_int_equal(event_base_dispatch(fx->app.base), 0);
	evhttp_connection_free(conn);
}

static void
logged_hops_name_the_caller_by_pseudonym_only(void **state)
{
	struct fixture *fx = *state;
	char caller[PRIVACY_PSEUDONYM_SIZE];
	static const char *const forms[] = { NUMBER, "84912345678",
	    "0912345678", "912345678", "%2B849" };

	hop(fx, "");
	assert_int_equal(fx->status, 200);
	assert_true(strncmp(fx->body, "CON ", 4) == 0);
	hop(fx, "1%2A2");	/* Vietnamese, urgent: files a task */
	assert_int_equal(fx->status, 200);
	assert_true(strncmp(fx->body, "END ", 4) == 0);
	fflush(fx->logmem);

	assert_int_equal(privacy_pseudonym(fx->app.config->pseudonym_key,
	    fx->app.config->pseudonym_key_len, NUMBER, caller), 0);
	assert_non_null(strstr(fx->logbuf, "event=ussd.hop"));
	assert_non_null(strstr(fx->logbuf, "event=task.created"));
	assert_non_null(strstr(fx->logbuf, caller));
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		if (strstr(fx->logbuf, forms[i]) != NULL) {
			print_error("the log holds a form of the number\n");
			fail();
		}
	/* Nor the caller's input path, nor the page text. */
	assert_null(strstr(fx->logbuf, "text="));
	assert_null(strstr(fx->logbuf, "Khan cap"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    logged_hops_name_the_caller_by_pseudonym_only, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
