/*
 * http_stub: a stand-in for http.c (the only module that touches
 * evhttp) for fuzz_api: the handlers api_routes registers are called
 * directly with a request built from the fuzz input, and every reply is
 * checked: exactly one per request; a 4xx (never a 5xx) for bad input;
 * JSON bodies that parse; error codes in snake_case and messages in valid
 * UTF-8 that quote no run of 8 digits from req->data (unless it is
 * also in req->allowed).
 */
#ifndef HOTLINE_FUZZ_HTTP_STUB_H
#define HOTLINE_FUZZ_HTTP_STUB_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct fuzz_request;

struct http_request {
	enum http_method method;
	const char *method_name;
	const char *path;
	const char *id;           /* the {id} path segment, or NULL */
	const char *channel;      /* the {channel} path segment, or NULL */
	const char *query;        /* or NULL */
	const struct fuzz_request *headers;
	const char *body;
	size_t body_len;
	const char *peer;
	const uint8_t *data;      /* what no error message may quote
	                             digits of */
	size_t size;
	const uint8_t *allowed;   /* ... unless they are also in this */
	size_t allowed_size;
	int replies;
	int status;
	char reply[2048];         /* the body answered (cut to fit) */
};

#define HTTP_STUB_ROUTES 32

struct http_stub_route {
	const char *pattern;
	unsigned methods;
	http_handler_cb cb;
	void *arg;
};

/* What http_server_route recorded. */
extern struct http_stub_route http_stub_routes[HTTP_STUB_ROUTES];
extern size_t http_stub_nroutes;

#endif
