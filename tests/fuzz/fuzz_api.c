/*
 * fuzz_api: the counsellors' JSON API (daemon/api.c) on any request.
 *
 * The handlers are reached the way the daemon reaches them, through
 * api_routes, but with http.c replaced by http_stub.c, which checks each
 * reply (http_stub.h).  The store is a real one in a scratch directory
 * (on /dev/shm when there is one) with the daemon's writer in front of
 * it, the config the real loader's (one
 * console channel, the shipped menu), with an admin and a counsellor
 * token.  Before each request the harness makes sure one pending task
 * exists (releasing it if a request claimed it, saving a new one if a
 * request closed it), and claims it for the token the request carries
 * (":claimed: no", "admin" or "counsellor" to choose), so every input
 * meets the same state: the {id} defaults to that task's.
 *
 * Input (fuzz.h): header lines, a blank line, the body.  The harness's
 * lines: ":route" (a pattern of api_routes, default
 * "/v1/callbacks/{id}/complete"), ":method" (the route's), ":id" (the
 * {id} segment, the pending task's), ":query" (none), ":peer"
 * (203.0.113.9), ":token" ("admin", "counsellor" or "none": which valid
 * token the request carries unless it sends its own Authorization
 * line), ":claimed" (above).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "config.h"
#include "fuzz.h"
#include "http_stub.h"
#include "store.h"
#include "writer.h"

#ifndef FUZZ_MENU_PATH
#define FUZZ_MENU_PATH "config/menu.json"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256], db[300], cfgpath[320], keypath[320];
static struct app app;
static char admin[AUTH_TOKEN_SIZE + 8], counsellor[AUTH_TOKEN_SIZE + 8];
static const struct store_task_request task = {
	.channel = "console",
	.caller = "c_fuzz",
	.msisdn = "+84901234567",
	.language = "vi",
	.topic = "counselling",
	.preferred_time = "evening",
	.safe_to_call = STORE_ANSWER_YES,
	.safe_to_sms = STORE_ANSWER_YES,
};

/* Before the scratch directory goes (atexit runs it first). */
static void
cleanup(void)
{
	writer_free(app.writer);
	store_close(app.store);
	auth_limiter_free(app.auth_limiter);
	config_free(app.config);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL || fputs(text, f) < 0 ||
	    fclose(f) != 0) {
		perror(path);
		abort();
	}
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
	struct config_overrides ov = { 0 };
	struct store_keys keys;
	char err[4096], json[1024];

	(void)argc;
	(void)argv;
	fuzz_quiet_log();
	fuzz_scratch_dir("api", dir, sizeof(dir));
	snprintf(db, sizeof(db), "%s/hotline.db", dir);
	snprintf(cfgpath, sizeof(cfgpath), "%s/hotlined.json", dir);
	snprintf(keypath, sizeof(keypath), "%s/pseudonym.key", dir);
	write_file(keypath, "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff\n");
	snprintf(keypath, sizeof(keypath), "%s/data.key", dir);
	write_file(keypath, "ffeeddccbbaa99887766554433221100"
	    "ffeeddccbbaa99887766554433221100\n");
	snprintf(json, sizeof(json), "{\"listen\": \"127.0.0.1:0\", "
	    "\"development\": true, "
	    "\"database\": \"%s\", \"menu\": \"%s\", "
	    "\"channels\": [{\"name\": \"console\", "
	    "\"provider\": \"console\"}], \"privacy\": "
	    "{\"pseudonym_key\": {\"file\": \"pseudonym.key\"}, "
	    "\"data_key\": {\"file\": \"data.key\"}}}", db, FUZZ_MENU_PATH);
	write_file(cfgpath, json);
	if ((app.config = config_load(cfgpath, &ov, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "config_load: %s\n", err);
		abort();
	}
	keys.path = app.config->key_store;
	keys.master = app.config->data_key;
	if ((app.store = store_open(db, STORE_OPEN_CREATE, &keys, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		abort();
	}
	/* The API's writes go through the writer, as in the daemon; the
	 * harness's own set-up writes on the store directly. */
	if ((app.base = event_base_new()) == NULL ||
	    (app.writer = writer_new(app.base, db, &keys, 64, err,
	    sizeof(err))) ==
	    NULL)
		abort();
	atexit(cleanup);
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

/* The one pending task every request meets; its id.  Saved again only
 * when a request closed it (an update would add an audit row a run). */
static int64_t
task_pending(void)
{
	static const char *const actors[] = { "fuzz-admin",
	    "fuzz-counsellor" };
	static int64_t id;
	enum store_task_change change;
	int64_t held = 0, pending = 0;
	char why[128];

	for (size_t i = 0; i < 2; i++)
		if (store_queue_held(app.store, actors[i], &held) == 0 &&
		    held != 0 && store_queue_release(app.store, held,
		    actors[i], false) != STORE_RESULT_OK)
			abort();
	if (store_tasks_count(app.store, STORE_TASK_PENDING, &pending, why,
	    sizeof(why)) < 0)
		abort();
	if (pending == 0 && (store_task_save(app.store, &task, &id,
	    &change) < 0 || id == 0))
		abort();
	return id;
}

static void
append(char **out, size_t *len, const char *s, size_t n)
{
	if ((*out = realloc(*out, *len + n + 1)) == NULL)
		abort();
	memcpy(*out + *len, s, n);
	(*out)[*len + n] = '\n';
	*len += n + 1;
}

/* The string values of a JSON value, and the names of its members, each
 * followed by a newline, appended to out and keys. */
static void
json_strings(json_t *v, char **out, size_t *len, char **keys,
    size_t *keys_len)
{
	const char *key;
	json_t *e;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		append(out, len, json_string_value(v), json_string_length(v));
		break;
	case JSON_OBJECT:
		json_object_foreach(v, key, e) {
			append(keys, keys_len, key, strlen(key));
			json_strings(e, out, len, keys, keys_len);
		}
		break;
	case JSON_ARRAY:
		json_array_foreach(v, i, e)
			json_strings(e, out, len, keys, keys_len);
		break;
	default:
		break;
	}
}

/*
 * What a reply must never quote digits of: the text a counsellor sends
 * (notes and messages may hold a caller's number), i.e. the body's JSON
 * string values, or the whole body when it is not JSON.  The names of
 * unknown fields are quoted on purpose ("unknown field \"x\"").
 */
static char *
sensitive(const char *body, size_t len, size_t *outlen, char **keys,
    size_t *keys_len)
{
	json_t *doc = json_loadb(body, len, 0, NULL);
	char *out = NULL;

	*outlen = *keys_len = 0;
	*keys = NULL;
	if (doc == NULL) {
		if ((out = malloc(len + 1)) == NULL)
			abort();
		memcpy(out, body, len);
		*outlen = len;
		return out;
	}
	json_strings(doc, &out, outlen, keys, keys_len);
	json_decref(doc);
	return out;
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
	char idbuf[24], *quoted, *keys;
	size_t quoted_len, keys_len;
	int64_t pending;

	fuzz_request_parse(&r, data, size);
	pattern = fuzz_request_get(&r, ":route");
	if ((route = route_find(pattern ? pattern :
	    "/v1/callbacks/{id}/complete")) == NULL)
		goto out;
	pending = task_pending();
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)pending);
	token = fuzz_request_get(&r, ":token");
	/* Held by whoever asks, unless the input says otherwise. */
	if ((v = fuzz_request_get(&r, ":claimed")) == NULL)
		v = token != NULL && strcmp(token, "counsellor") == 0 ?
		    "counsellor" : "admin";
	if (strcmp(v, "admin") == 0 || strcmp(v, "counsellor") == 0)
		(void)store_queue_claim(app.store, pending, v[0] == 'a' ?
		    "fuzz-admin" : "fuzz-counsellor", 900);
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
	if (v == NULL)
		v = idbuf;
	req.id = strstr(route->pattern, "{id}") ? v : NULL;
	req.query = fuzz_request_get(&r, ":query");
	req.headers = &r;
	req.body = r.body;
	req.body_len = r.body_len;
	v = fuzz_request_get(&r, ":peer");
	req.peer = v ? v : "203.0.113.9";
	quoted = sensitive(r.body, r.body_len, &quoted_len, &keys, &keys_len);
	req.data = (const uint8_t *)quoted;
	req.size = quoted_len;
	req.allowed = (const uint8_t *)keys;
	req.allowed_size = keys_len;
	route->cb(&req, route->arg);
	/* A write is answered when the writer commits. */
	while (req.replies == 0 && writer_pending(app.writer) > 0)
		event_base_loop(app.base, EVLOOP_ONCE);
	free(quoted);
	free(keys);
	if (getenv("FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "%s %s: %d\n", req.method_name, req.path,
		    req.status);
	if (req.replies != 1)
		fuzz_fail("a request left unanswered");
out:
	fuzz_request_clear(&r);
	return 0;
}
