/* http_stub: see http_stub.h. */
#include "http_stub.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"

struct http_stub_route http_stub_routes[HTTP_STUB_ROUTES];
size_t http_stub_nroutes;

struct http_server {
	int unused;
};

struct http_server *
http_server_new(struct event_base *base, const struct http_limits *limits)
{
	static struct http_server server;

	(void)base;
	(void)limits;
	return &server;
}

void
http_server_free(struct http_server *server)
{
	(void)server;
}

int
http_server_route(struct http_server *server, const char *pattern,
    unsigned methods, http_handler_cb cb, void *arg)
{
	(void)server;
	if (http_stub_nroutes == HTTP_STUB_ROUTES)
		return -1;
	http_stub_routes[http_stub_nroutes++] = (struct http_stub_route){
		pattern, methods, cb, arg };
	return 0;
}

int
http_server_listen(struct http_server *server, const char *host,
    unsigned short port, char *err, size_t errlen)
{
	(void)server;
	(void)host;
	(void)port;
	snprintf(err, errlen, "the fuzz stub does not listen");
	return -1;
}

unsigned short
http_server_port(const struct http_server *server)
{
	(void)server;
	return 0;
}

void
http_server_stop_accepting(struct http_server *server)
{
	(void)server;
}

size_t
http_server_inflight(const struct http_server *server)
{
	(void)server;
	return 0;
}

enum http_method
http_request_method(const struct http_request *req)
{
	return req->method;
}

const char *
http_request_method_name(const struct http_request *req)
{
	return req->method_name;
}

const char *
http_request_path(const struct http_request *req)
{
	return req->path;
}

const char *
http_request_param(const struct http_request *req, const char *name)
{
	if (strcmp(name, "id") == 0)
		return req->id;
	if (strcmp(name, "channel") == 0)
		return req->channel;
	return NULL;
}

const char *
http_request_query(const struct http_request *req)
{
	return req->query;
}

const char *
http_request_header(const struct http_request *req, const char *name)
{
	return fuzz_request_header(req->headers, name);
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

/* No proxy in front of the fuzzer: the TCP peer is the client. */
const char *
http_request_tcp_peer(const struct http_request *req)
{
	return req->peer;
}

bool
http_request_forwarded(const struct http_request *req)
{
	static const char *const names[] = { "Via", "Forwarded",
	    "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
	    "X-Real-IP", "X-Client-IP", "True-Client-IP",
	    "CF-Connecting-IP", NULL };

	for (size_t i = 0; names[i] != NULL; i++)
		if (http_request_header(req, names[i]) != NULL)
			return true;
	return false;
}

/* config.c checks trusted_proxies with it: the same rule, loosely. */
bool
http_address_valid(const char *s)
{
	char buf[64], *slash;
	unsigned char addr[16];

	if (strlen(s) >= sizeof(buf))
		return false;
	memcpy(buf, s, strlen(s) + 1);
	if ((slash = strchr(buf, '/')) != NULL) {
		if (slash[1] == '\0' || strspn(slash + 1, "0123456789") !=
		    strlen(slash + 1) || strlen(slash + 1) > 3)
			return false;
		*slash = '\0';
	}
	return inet_pton(AF_INET, buf, addr) == 1 ||
	    inet_pton(AF_INET6, buf, addr) == 1;
}

const char *
http_request_id(const struct http_request *req)
{
	(void)req;
	return "fuzz";
}

static void
replied(struct http_request *req, int status)
{
	if (req->replies++ != 0)
		fuzz_fail("a request answered twice");
	req->status = status;
	if (status < 200 || status > 599)
		fuzz_fail("a reply status outside 200..599");
	if (status >= 500) {
		fprintf(stderr, "fuzz: status %d\n", status);
		fuzz_fail("a request answered 5xx (bad input must get a "
		    "4xx)");
	}
}

void
http_reply(struct http_request *req, int status, const char *content_type,
    const char *body, size_t len)
{
	json_error_t jerr;
	json_t *doc;

	replied(req, status);
	if (getenv("FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "%d %s: %.*s\n", status,
		    content_type ? content_type : "-", (int)len, body);
	snprintf(req->reply, sizeof(req->reply), "%.*s", (int)len, body);
	if (status == 204) {
		if (len != 0)
			fuzz_fail("a 204 reply with a body");
		return;
	}
	if (content_type != NULL &&
	    strcmp(content_type, "application/json") == 0) {
		if ((doc = json_loadb(body, len, 0, &jerr)) == NULL)
			fuzz_fail("a JSON reply that does not parse");
		json_decref(doc);
	}
}

void
http_reply_error(struct http_request *req, int status, const char *code,
    const char *message)
{
	replied(req, status);
	if (getenv("FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "%d %s: %s\n", status, code, message);
	if (status < 400)
		fuzz_fail("an error reply with a status below 400");
	if (code[0] == '\0' || strspn(code, "abcdefghijklmnopqrstuvwxyz_") !=
	    strlen(code))
		fuzz_fail("an error code not in snake_case");
	if (!fuzz_utf8_valid(message, strlen(message)))
		fuzz_fail("an error message not valid UTF-8");
	if (fuzz_quotes_digits_except(message, req->data, req->size, 8,
	    req->allowed, req->allowed_size))
		fuzz_fail("an error message quotes digits of the input");
}

void
http_add_header(struct http_request *req, const char *name,
    const char *value)
{
	(void)req;
	if (strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL)
		fuzz_fail("a response header with CR, LF or ':' in it");
}
