#include "console.h"

#include <string.h>

#include "http.h"

/* The page runs its own script and styles and talks only to us; it
 * cannot be framed, and it sends no referrer. */
#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; " \
	"connect-src 'self'; img-src 'self'; base-uri 'none'; " \
	"form-action 'none'; frame-ancestors 'none'"

static void
serve(struct http_request *req, const char *name)
{
	const struct console_asset *a;

	for (a = console_assets; a->name != NULL; a++)
		if (strcmp(a->name, name) == 0)
			break;
	if (a->name == NULL) {
		http_reply_error(req, 404, "not_found", "no such file in the "
		    "console");
		return;
	}
	http_add_header(req, "Content-Security-Policy", CSP);
	http_add_header(req, "Referrer-Policy", "no-referrer");
	http_add_header(req, "X-Frame-Options", "DENY");
	http_reply(req, 200, a->content_type, (const char *)a->data, a->len);
}

static void
index_cb(struct http_request *req, void *arg)
{
	(void)arg;
	serve(req, "index.html");
}

static void
file_cb(struct http_request *req, void *arg)
{
	(void)arg;
	serve(req, http_request_param(req, "file"));
}

static void
redirect_cb(struct http_request *req, void *arg)
{
	(void)arg;
	http_add_header(req, "Location", "/console/");
	http_reply(req, 301, "text/plain", "", 0);
}

int
console_routes(struct http_server *srv)
{
	if (http_server_route(srv, "/console", HTTP_GET | HTTP_HEAD,
	    redirect_cb, NULL) < 0 ||
	    http_server_route(srv, "/console/", HTTP_GET | HTTP_HEAD,
	    index_cb, NULL) < 0 ||
	    http_server_route(srv, "/console/{file}", HTTP_GET | HTTP_HEAD,
	    file_cb, NULL) < 0)
		return -1;
	return 0;
}
