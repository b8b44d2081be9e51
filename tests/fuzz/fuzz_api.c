/*
 * fuzz_api: the counsellors' JSON API (daemon/api.c) on any request.
 *
 * The handlers are reached the way the daemon reaches them, through
 * api_routes, but with http.c replaced by http_stub.c, which checks each
 * reply (http_stub.h).  The store is a real one in a scratch directory,
 * with an admin and a counsellor token and no tasks, so every request
 * body, query and {id} is parsed in full and then meets "no such task".
 *
 * Input (fuzz.h): header lines, a blank line, the body.  The harness's
 * lines: ":route" (a pattern of api_routes, default
 * "/v1/callbacks/{id}/complete"), ":method" (the route's), ":id" (the
 * {id} segment, "1"), ":query" (none), ":peer" (203.0.113.9), ":token"
 * ("admin", "counsellor" or "none": which valid token the request
 * carries unless it sends its own Authorization line).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "config.h"
#include "fuzz.h"
#include "http_stub.h"
#include "menu.h"
#include "store.h"

#ifndef FUZZ_MENU_PATH
#define FUZZ_MENU_PATH "config/menu.json"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64] = "/tmp/hotline-fuzz-api.XXXXXX", db[128];
static struct app app;
static struct config config;
static char admin[AUTH_TOKEN_SIZE + 8], counsellor[AUTH_TOKEN_SIZE + 8];

static void
cleanup(void)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	char path[160];

	store_close(app.store);
	auth_limiter_free(app.auth_limiter);
	menu_free(config.menu);
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", db, suffixes[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void
token_add(const char *name, const char *role, char *bearer, size_t len)
{
	char token[AUTH_TOKEN_SIZE], hash[AUTH_HASH_SIZE];

	if (auth_token_new(token) < 0)
		abort();
	auth_token_hash(token, hash);
	if (store_token_add(app.store, name, role, hash) != STORE_RESULT_OK)
		abort();
	snprintf(bearer, len, "Bearer %s", token);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char text[1 << 16];
	char err[4096];
	FILE *f;
	size_t n;

	(void)argc;
	(void)argv;
	fuzz_quiet_log();
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	snprintf(db, sizeof(db), "%s/hotline.db", dir);
	if ((app.store = store_open(db, STORE_OPEN_CREATE, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		abort();
	}
	atexit(cleanup);
	if ((f = fopen(FUZZ_MENU_PATH, "rb")) == NULL) {
		perror(FUZZ_MENU_PATH);
		abort();
	}
	n = fread(text, 1, sizeof(text), f);
	fclose(f);
	if ((config.menu = menu_parse(text, n, err, sizeof(err))) == NULL)
		abort();
	config.lease_seconds = 900;
	config.max_attempts = 5;
	app.config = &config;
	if ((app.auth_limiter = auth_limiter_new()) == NULL)
		abort();
	token_add("fuzz-admin", "admin", admin, sizeof(admin));
	token_add("fuzz-counsellor", "counsellor", counsellor,
	    sizeof(counsellor));
	if (api_routes(http_server_new(NULL, NULL), &app) < 0 ||
	    http_stub_nroutes == 0)
		abort();
	return 0;
}

static const struct http_stub_route *
route_find(const char *pattern)
{
	for (size_t i = 0; i < http_stub_nroutes; i++)
		if (strcmp(http_stub_routes[i].pattern, pattern) == 0)
			return &http_stub_routes[i];
	return NULL;
}

static enum http_method
method_parse(const char *s, unsigned route_methods)
{
	if (s == NULL)
		return route_methods & HTTP_GET ? HTTP_GET :
		    route_methods & HTTP_POST ? HTTP_POST : HTTP_OTHER;
	if (strcmp(s, "GET") == 0)
		return HTTP_GET;
	if (strcmp(s, "POST") == 0)
		return HTTP_POST;
	if (strcmp(s, "HEAD") == 0)
		return HTTP_HEAD;
	return HTTP_OTHER;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { [HTTP_GET] = "GET",
	    [HTTP_POST] = "POST", [HTTP_HEAD] = "HEAD",
	    [HTTP_OTHER] = "OTHER" };
	struct fuzz_request r;
	const struct http_stub_route *route;
	struct http_request req = { 0 };
	const char *pattern, *token, *v;

	fuzz_request_parse(&r, data, size);
	pattern = fuzz_request_get(&r, ":route");
	if ((route = route_find(pattern ? pattern :
	    "/v1/callbacks/{id}/complete")) == NULL)
		goto out;
	token = fuzz_request_get(&r, ":token");
	if (fuzz_request_get(&r, "Authorization") == NULL &&
	    r.count < FUZZ_MAX_HEADERS &&
	    (token == NULL || strcmp(token, "none") != 0)) {
		r.names[r.count] = "Authorization";
		r.values[r.count++] = token != NULL &&
		    strcmp(token, "counsellor") == 0 ? counsellor : admin;
	}
	req.method = method_parse(fuzz_request_get(&r, ":method"),
	    route->methods);
	/* The server answers 405 for a method the route does not take. */
	if ((req.method & route->methods) == 0 &&
	    !(req.method == HTTP_HEAD && (route->methods & HTTP_GET)))
		goto out;
	req.method_name = names[req.method];
	req.path = route->pattern;
	v = fuzz_request_get(&r, ":id");
	req.id = strstr(route->pattern, "{id}") ? (v ? v : "1") : NULL;
	req.query = fuzz_request_get(&r, ":query");
	req.headers = &r;
	req.body = r.body;
	req.body_len = r.body_len;
	v = fuzz_request_get(&r, ":peer");
	req.peer = v ? v : "203.0.113.9";
	req.data = data;
	req.size = size;
	route->cb(&req, route->arg);
	if (req.replies != 1)
		fuzz_fail("a request left unanswered");
out:
	fuzz_request_clear(&r);
	return 0;
}
