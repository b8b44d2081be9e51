/*
 * console: the counsellors' web page (the files in console/), built
 * into the daemon and served at /console/ with a strict
 * Content-Security-Policy.
 */
#ifndef HOTLINE_CONSOLE_H
#define HOTLINE_CONSOLE_H

#include <stddef.h>

struct http_server;

/* One embedded file; the table ends with a NULL name.  Generated at
 * build time from console/ by tools/embed_console.py. */
struct console_asset {
	const char *name;         /* "index.html" */
	const char *content_type;
	const unsigned char *data;
	size_t len;
};
extern const struct console_asset console_assets[];

/* Route /console and /console/{file}.  0, or -1 when out of memory. */
int console_routes(struct http_server *server);

#endif
